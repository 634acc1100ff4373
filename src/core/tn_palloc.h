
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_PALLOC_H_INCLUDED_
#define _TN_PALLOC_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 * A pool frees everything at once.  Small allocations come from linked
 * blocks; allocations above max go to malloc() and are listed in large.
 * Cleanups run in reverse order of registration when the pool is
 * destroyed.
 */

#define TN_MAX_ALLOC_FROM_POOL  (tn_pagesize - 1)

#define TN_DEFAULT_POOL_SIZE    (16 * 1024)

#define TN_POOL_ALIGNMENT       16
#define TN_MIN_POOL_SIZE                                                     \
    tn_align((sizeof(tn_pool_t) + 2 * sizeof(tn_pool_large_t)),              \
              TN_POOL_ALIGNMENT)


typedef void (*tn_pool_cleanup_pt)(void *data);

typedef struct tn_pool_cleanup_s  tn_pool_cleanup_t;

struct tn_pool_cleanup_s {
    tn_pool_cleanup_pt   handler;
    void                *data;
    tn_pool_cleanup_t   *next;
};


typedef struct tn_pool_large_s  tn_pool_large_t;

struct tn_pool_large_s {
    tn_pool_large_t     *next;
    void                *alloc;
};


typedef struct {
    u_char              *last;
    u_char              *end;
    tn_pool_t           *next;
    tn_uint_t            failed;
} tn_pool_data_t;


struct tn_pool_s {
    tn_pool_data_t       d;
    size_t               max;
    tn_pool_t           *current;
    tn_pool_large_t     *large;
    tn_pool_cleanup_t   *cleanup;
    tn_log_t            *log;
};


typedef struct {
    tn_fd_t              fd;
    u_char              *name;
    tn_log_t            *log;
} tn_pool_cleanup_file_t;


tn_pool_t *tn_create_pool(size_t size, tn_log_t *log);
void tn_destroy_pool(tn_pool_t *pool);
/* frees large allocations and rewinds the blocks; cleanups are kept */
void tn_reset_pool(tn_pool_t *pool);

void *tn_palloc(tn_pool_t *pool, size_t size);
void *tn_pnalloc(tn_pool_t *pool, size_t size);
void *tn_pcalloc(tn_pool_t *pool, size_t size);
void *tn_pmemalign(tn_pool_t *pool, size_t size, size_t alignment);
tn_int_t tn_pfree(tn_pool_t *pool, void *p);

/* size bytes of data are allocated for the handler when size > 0 */
tn_pool_cleanup_t *tn_pool_cleanup_add(tn_pool_t *p, size_t size);
void tn_pool_cleanup_file(void *data);
void tn_pool_delete_file(void *data);


#endif /* _TN_PALLOC_H_INCLUDED_ */
