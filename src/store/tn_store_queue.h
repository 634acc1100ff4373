
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_STORE_QUEUE_H_INCLUDED_
#define _TN_STORE_QUEUE_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>


/*
 * The durable outbound queue: PREFIX/queue/<shard>/, 16 shards named
 * "0".."f" (tn_store_queue_shard() of the id), each message as two files:
 *   <id>.msg  the message (a hard link of the spool file, or a copy),
 *   <id>.env  the envelope record; its appearance is the commit point.
 * A .msg (or a <id>.tmp) without its .env is garbage that
 * tn_store_queue_cleanup() removes once it is an hour old.
 *
 * The .env record (SECURITY-CHECKLIST R3, I2): "TERNQENV", a uint32
 * version, then fields of uint32 type, uint32 length and that many bytes
 * (big endian), then an END field whose 32 bytes are the SHA-256 of all
 * the bytes before them.  The reader rejects a short, truncated,
 * oversized or corrupted file, an unknown mandatory field, a duplicate,
 * and strings with NUL or control bytes; no client byte can make a
 * field or a record.  Types with the TN_STORE_QF_OPTIONAL bit may be
 * skipped by a reader that does not know them (room for later fields).
 *
 * All functions are BLOCKING (fsync) like the rest of the store.
 */


#define TN_QUEUE_NOTIFY_NEVER    0x01
#define TN_QUEUE_NOTIFY_SUCCESS  0x02
#define TN_QUEUE_NOTIFY_FAILURE  0x04
#define TN_QUEUE_NOTIFY_DELAY    0x08
#define TN_QUEUE_RET_FULL 1
#define TN_QUEUE_RET_HDRS 2

/* per-recipient state */
#define TN_QUEUE_PENDING         0
#define TN_QUEUE_DEFERRED        1
#define TN_QUEUE_DELIVERED       2
#define TN_QUEUE_BOUNCED         3

/* tn_store_queue_rcpt_t.flags */
#define TN_QUEUE_RCPT_WARNED     0x01   /* the delay DSN was sent */

#define TN_STORE_QUEUE_SHARDS    16
#define TN_STORE_QUEUE_RCPTS_MAX 10000
/*
 * A whole .env file.  10,000 recipients of 320-octet addresses with
 * 336-octet ORCPTs and 511-octet errors need about 12.6 MiB; the cap is
 * above that so that every envelope the limits allow can be written.
 */
#define TN_STORE_QUEUE_ENV_MAX   (16 * 1024 * 1024)
#define TN_STORE_QUEUE_ERROR_MAX 512
#define TN_STORE_QUEUE_ID_LEN    64
#define TN_STORE_QUEUE_ORPHAN_AGE 3600

#define TN_STORE_QF_OPTIONAL     0x80000000


typedef struct {
    char        address[TN_STORE_ADDR_MAX];   /* NUL-terminated, UTF-8 ok */
    char        orcpt[TN_STORE_ADDR_MAX + 16]; /* DSN ORCPT as given, or "" */
    tn_uint_t   notify;                       /* TN_QUEUE_NOTIFY_* or 0 */
    /*
     * the local address whose alias or forward made this recipient, or
     * "": delivery adds "Delivered-To: <it>" to this recipient's copy,
     * the loop marker SMTP checks (RFC 5321 6.3 loop detection)
     */
    char        delivered_to[TN_STORE_ADDR_MAX];

    /* delivery state (issue 5); tn_store_queue_add() ignores these */
    tn_uint_t   status;                       /* TN_QUEUE_PENDING... */
    tn_uint_t   tries;
    time_t      next_try;                     /* 0: now */
    tn_uint_t   flags;                        /* TN_QUEUE_RCPT_* */
    char        error[TN_STORE_QUEUE_ERROR_MAX]; /* the last one, or "" */
} tn_store_queue_rcpt_t;

struct tn_store_queue_env_s {
    char                    sender[TN_STORE_ADDR_MAX]; /* "" for <> */
    char                    auth_user[TN_STORE_ADDR_MAX]; /* "" if none */
    char                    envid[101];      /* DSN ENVID (xtext decoded) */
    tn_uint_t               ret;             /* 0 or TN_QUEUE_RET_* */
    unsigned                smtputf8:1;
    unsigned                body_8bit:1;
    unsigned                hold:1;          /* issue 5: held by the admin */
    time_t                  received;        /* 0: now, when added */
    tn_uint_t               nrcpts;
    tn_store_queue_rcpt_t  *rcpts;
    char                    id[TN_STORE_QUEUE_ID_LEN]; /* out: the queue id */
    off_t                   size;            /* out: the message bytes */
};


/*
 * Creates PREFIX/queue and its 16 shards (0700) if missing, and, when
 * user is not (uid_t) -1, gives them to user:group (a master started as
 * root, for workers that run as "user").  Refuses a group or world
 * writable queue.  tn_store_queue_add() also creates missing ones.
 * TN_OK or TN_ERROR (logged).
 */
tn_int_t tn_store_queue_init(tn_store_conf_t *conf, uid_t user, gid_t group,
    tn_log_t *log);

/*
 * Queues the message file at path for env->rcpts (1..10,000): fills
 * env->id (unique across workers, processes and restarts: time, pid, a
 * counter and 32 random bits; [0-9A-Za-z.] only), env->size and, if 0,
 * env->received.  fd is the message file open for reading and already
 * fsync()ed, or TN_INVALID_FILE to have it opened and fsync()ed here.
 * Order: <id>.tmp written and fsync()ed, the message linked (copied and
 * fsync()ed across file systems) to <id>.msg, the shard fsync()ed,
 * <id>.tmp renamed to <id>.env, the shard fsync()ed again.  Every new
 * recipient is written as pending.
 *   TN_OK        durable;
 *   TN_DECLINED  the envelope is not acceptable (no or too many
 *                recipients, a string with NUL or control bytes or
 *                without its NUL, a bad RET or NOTIFY); errno EINVAL;
 *   TN_ERROR     failed (logged), nothing left behind; errno says why
 *                (ENOSPC: 452 4.3.1).
 * A failed fsync() fails the call and is never retried (R5).
 */
tn_int_t tn_store_queue_add(tn_store_conf_t *conf, const char *path,
    tn_fd_t fd, tn_store_queue_env_t *env, tn_log_t *log);

/*
 * Reads <id>.env back into env: env->rcpts is malloc()ed (free it with
 * tn_store_queue_env_free()); env->size is the size of <id>.msg, which
 * must exist.  TN_OK; TN_DECLINED: no such id (or an invalid one);
 * TN_ERROR: unreadable or invalid record, or the message file is
 * missing or has another size than recorded (logged).
 */
tn_int_t tn_store_queue_read(tn_store_conf_t *conf, const char *id,
    tn_store_queue_env_t *env, tn_log_t *log);
void tn_store_queue_env_free(tn_store_queue_env_t *env);

/*
 * Rewrites <id>.env (env->id) with env's fields and recipient states:
 * a new temporary record, fsync(), rename() over the old one, fsync() of
 * the shard.  For the delivery side; one writer per id at a time (the
 * worker that owns the shard).  TN_OK, TN_DECLINED (invalid env or
 * no such id) or TN_ERROR (the old record stays).
 */
tn_int_t tn_store_queue_update(tn_store_conf_t *conf,
    tn_store_queue_env_t *env, tn_log_t *log);

/*
 * Removes a queued message: <id>.env first (so it is gone at once), then
 * <id>.msg, then fsync() of the shard.  TN_OK, TN_DECLINED (no such id),
 * TN_ERROR.
 */
tn_int_t tn_store_queue_remove(tn_store_conf_t *conf, const char *id,
    tn_log_t *log);

/*
 * Lists the queue sorted by id (that is, by time of queueing): cb gets
 * each readable envelope (rcpts freed after the call) and may stop the
 * walk by returning anything but TN_OK, which is then returned.  Records
 * that cannot be read are logged and skipped; .msg and .tmp files
 * without a .env are skipped.  TN_OK, TN_ERROR, or the callback's code.
 */
typedef tn_int_t (*tn_store_queue_list_pt)(void *data,
    tn_store_queue_env_t *env);

tn_int_t tn_store_queue_list(tn_store_conf_t *conf,
    tn_store_queue_list_pt cb, void *data, tn_log_t *log);
/* the same for one shard, 0..15 (a worker's part of the queue) */
tn_int_t tn_store_queue_list_shard(tn_store_conf_t *conf, tn_uint_t shard,
    tn_store_queue_list_pt cb, void *data, tn_log_t *log);

/*
 * Removes <id>.msg files without an <id>.env and <id>.tmp files whose
 * mtime and ctime are older than max_age seconds (the scan passes
 * TN_STORE_QUEUE_ORPHAN_AGE: the age keeps an add in progress safe).
 * Returns the number removed, or TN_ERROR.
 */
tn_int_t tn_store_queue_cleanup(tn_store_conf_t *conf, time_t max_age,
    tn_log_t *log);

/*
 * The delivery lock of a queued message: flock(LOCK_EX) on its <id>.msg.
 * The worker that delivers a message holds it from reading the envelope
 * to writing it back; the admin commands hold it while they change or
 * remove a message, so neither overwrites the other.  wait: how many
 * seconds to keep trying (0: once; more sleeps in 100 ms steps, for the
 * CLI: a worker passes 0).  TN_OK with *fd the open, locked file
 * (tn_store_queue_unlock() closes it), and the .env was still there
 * once locked: read it again now; TN_BUSY: someone else holds it;
 * TN_DECLINED: no such message (or removed while we waited); TN_ERROR.
 */
tn_int_t tn_store_queue_lock(tn_store_conf_t *conf, const char *id,
    tn_uint_t wait, tn_fd_t *fd, tn_log_t *log);
void tn_store_queue_unlock(tn_fd_t fd);

/* the shard of an id, 0..15: FNV-1a of the id, low 4 bits */
tn_uint_t tn_store_queue_shard(const char *id);

/*
 * Writes the path of <id>.msg (ext "msg") or <id>.env (ext "env") into
 * path[PATH_MAX].  TN_OK, or TN_DECLINED for an invalid id.
 */
tn_int_t tn_store_queue_path(tn_store_conf_t *conf, const char *id,
    const char *ext, char *path);


#endif /* _TN_STORE_QUEUE_H_INCLUDED_ */
