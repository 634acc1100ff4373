
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_SHM_COUNTER_H_INCLUDED_
#define _TN_SHM_COUNTER_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 * Counters shared by every process the master forks: a table of hash
 * buckets, one row of 16-bit counters per process slot (tn_processes[]),
 * in an anonymous MAP_SHARED mapping made by the master before it forks
 * and kept for the master's whole life, so workers of every reload
 * generation count in the same table.
 *
 * A process only changes its own row (tn_process_slot); the count of a
 * bucket is the sum of the rows of the slots in use.  When a process
 * dies, however it dies, the master zeroes its row before the slot is
 * given to another process (tn_shm_counter_clear_slot()), so counts held
 * by a worker killed with -9 do not outlive it.
 *
 * Different keys may share a bucket: that can only make a count too
 * high, never too low.  Pages of rows never used are never touched, so
 * they cost no memory.
 */


/* a process's counter of one bucket saturates there */
#define TN_SHM_COUNTER_MAX      65535


typedef struct tn_shm_counter_s  tn_shm_counter_t;


/*
 * The table called name, with "buckets" buckets (a power of two): the one
 * made before if there is one (a reload gets the same table), else a new
 * one, mapped now.  Only the master (or the process that will become
 * it) may call it, before it forks the processes that use the table.
 * Returns NULL (logged) on failure.
 */
tn_shm_counter_t *tn_shm_counter_get(const char *name, tn_uint_t buckets,
    tn_log_t *log);

/* the bucket of a key: a hash keyed with a random secret of the table */
tn_uint_t tn_shm_counter_bucket(tn_shm_counter_t *sc, const u_char *key,
    size_t len);

/*
 * Counts one more in a bucket for this process, unless that makes the
 * total above limit (0: no limit).  Returns
 *   TN_OK        counted; *total is the count with this one;
 *   TN_BUSY      not counted: the limit is reached; *total is the count
 *                that was already there;
 *   TN_DECLINED  not counted, no limit checked: this process's counter
 *                of the bucket is full, or the process has no slot.
 * Only what returned TN_OK must be released.  Two processes that race
 * for the last place may both be refused, never both let in.
 */
tn_int_t tn_shm_counter_acquire(tn_shm_counter_t *sc, tn_uint_t bucket,
    tn_uint_t limit, tn_uint_t *total);

/* undoes one TN_OK acquire of this process; TN_ERROR if none was held */
tn_int_t tn_shm_counter_release(tn_shm_counter_t *sc, tn_uint_t bucket);

/* the count of a bucket over every process */
tn_uint_t tn_shm_counter_total(tn_shm_counter_t *sc, tn_uint_t bucket);

/*
 * The master, once a child has exited and before its slot is reused:
 * zeroes the slot's row in every table.
 */
void tn_shm_counter_clear_slot(tn_int_t slot);


#endif /* _TN_SHM_COUNTER_H_INCLUDED_ */
