
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_store.h>
#include <tn_store_queue.h>
#include <tn_store_rules.h>
#include <tn_mail_out.h>

#include <sys/inotify.h>


/*
 * The queue runner: each worker delivers its shards of the queue (shard
 * s belongs to worker s % worker_processes), so no two workers of a
 * generation deliver the same message; across generations (a reload) and
 * against the admin commands the delivery lock (flock of <id>.msg, held
 * from reading the envelope to writing it back) keeps it so.
 *
 * In memory each message is an item: its id and when it is due.  A due
 * item is loaded (the lock, the envelope: in the thread pool), its due
 * recipients are grouped by destination (sender domain, recipient domain
 * and Delivered-To marker) into parts; a destination resolves where its
 * mail goes (tn_mail_out_resolve()) and runs up to
 * destination_concurrency connections, each carrying up to
 * messages_per_connection parts (tn_mail_out_deliver()).  When all parts
 * of an item are back, the item is saved (thread pool): recipient states,
 * tries and next tries, delivery status notices (bounces, delay warnings,
 * "relayed"), then the envelope is rewritten or the message removed, and
 * the lock dropped.
 *
 * New and changed envelopes are seen through inotify on the shards (a
 * rename of <id>.env: SMTP queued a message, or an admin command or this
 * worker rewrote it); an overflow of inotify's queue, and every
 * TN_MAIL_OUT_RESCAN, rescans the shards.
 */


#define TN_MAIL_OUT_BUCKETS      4096
/*
 * a message whose lock is held elsewhere (an admin command rewriting it,
 * an older worker finishing it) is tried again after this
 */
#define TN_MAIL_OUT_BUSY_DELAY   500
/* a full rescan of the worker's shards, and the orphan cleanup */
#define TN_MAIL_OUT_RESCAN       600000
/* a destination's resolved targets are kept this long at most */
#define TN_MAIL_OUT_DEST_TTL     60000

#define TN_MAIL_OUT_IDLE         0     /* waiting for its due time */
#define TN_MAIL_OUT_LOADING      1     /* the load task runs */
#define TN_MAIL_OUT_ACTIVE       2     /* parts out for delivery */
#define TN_MAIL_OUT_SAVING       3     /* the save task runs */


typedef struct tn_mail_out_item_s  tn_mail_out_item_t;
typedef struct tn_mail_out_dest_s  tn_mail_out_dest_t;
typedef struct tn_mail_out_part_s  tn_mail_out_part_t;


struct tn_mail_out_item_s {
    tn_queue_t                 bucket;
    tn_event_t                 timer;        /* due */
    char                       id[TN_STORE_QUEUE_ID_LEN];
    tn_uint_t                  state;
    unsigned                   gone:1;       /* removed while busy */
    /* the inode of the .env this worker wrote last (not a change) */
    ino_t                      self_ino;

    /* while loaded */
    tn_store_queue_env_t       env;
    tn_fd_t                    lock;
    char                       msg_path[PATH_MAX];
    tn_uint_t                  nparts;       /* out for delivery */
    tn_mail_out_result_t      *results;      /* env.nrcpts */
    u_char                    *attempted;    /* env.nrcpts flags */
    time_t                     now;          /* of the load */
};


struct tn_mail_out_dest_s {
    tn_queue_t                 bucket;
    tn_str_t                   key;          /* sender domain NUL domain */
    tn_str_t                   domain;
    tn_str_t                   sender_domain;
    tn_queue_t                 pending;      /* parts */
    tn_uint_t                  active;       /* connections */
    tn_mail_out_resolve_t     *rs;           /* a lookup in flight */
    tn_mail_out_resolve_t     *resolved;     /* its answer, until expires */
    tn_msec_t                  expires;
};


struct tn_mail_out_part_s {
    tn_queue_t                 queue;        /* in dest->pending */
    tn_mail_out_item_t        *item;
    tn_mail_out_dest_t        *dest;
    tn_mail_out_msg_t          msg;
};


/* what a connection carries: the job and its parts */
typedef struct {
    tn_mail_out_job_t          job;
    tn_mail_out_dest_t        *dest;
    tn_uint_t                  nparts;
    tn_mail_out_part_t        *parts[1];     /* nparts */
} tn_mail_out_conn_job_t;


/* the load and save tasks */
typedef struct {
    tn_mail_out_item_t        *item;
    tn_store_conf_t           *scf;
    tn_mail_out_conf_t        *ocf;
    tn_int_t                   rc;           /* of the lock or the read */
    tn_uint_t                  hold;
    time_t                     due;
    ino_t                      ino;
    tn_str_t                   reporting_mta;
    tn_mail_out_dsn_rcpt_t    *notices;      /* save: env.nrcpts */
} tn_mail_out_task_t;


/* the startup scan and rescans */
typedef struct {
    char                       id[TN_STORE_QUEUE_ID_LEN];
    time_t                     due;
    tn_uint_t                  hold;
} tn_mail_out_found_t;

typedef struct {
    tn_store_conf_t           *scf;
    tn_mail_out_conf_t        *ocf;
    tn_uint_t                  shards;       /* bit mask of ours */
    tn_uint_t                  cleanup;
    time_t                     now;
    tn_uint_t                  nfound;
    tn_uint_t                  nalloc;
    tn_mail_out_found_t       *found;        /* malloc()ed */
} tn_mail_out_scan_t;


typedef struct {
    tn_cycle_t                *cycle;
    tn_store_conf_t           *scf;
    tn_mail_out_conf_t        *ocf;
    tn_log_t                  *log;
    tn_uint_t                  shards;       /* bit mask of ours */
    tn_queue_t                 items[TN_MAIL_OUT_BUCKETS];
    tn_queue_t                 dests[TN_MAIL_OUT_BUCKETS];
    tn_uint_t                  nitems;
    tn_connection_t           *inotify;
    int                        wd[TN_STORE_QUEUE_SHARDS];
    tn_event_t                 rescan;
    unsigned                   scanning:1;
    unsigned                   rescan_again:1;
    unsigned                   stopped:1;
} tn_mail_out_runner_t;


static tn_uint_t tn_mail_out_hash(u_char *p, size_t len);
static tn_mail_out_item_t *tn_mail_out_item_find(const char *id);
static tn_mail_out_item_t *tn_mail_out_item_add(const char *id);
static void tn_mail_out_item_free(tn_mail_out_item_t *item);
static void tn_mail_out_item_schedule(tn_mail_out_item_t *item, time_t due);
static void tn_mail_out_item_due(tn_event_t *ev);
static void tn_mail_out_item_touch(const char *id, tn_uint_t removed);

static void tn_mail_out_load_thread(void *data, tn_log_t *log);
static void tn_mail_out_load_done(tn_event_t *ev);
static tn_int_t tn_mail_out_split(tn_mail_out_item_t *item);
static tn_int_t tn_mail_out_part_add(tn_mail_out_item_t *item,
    tn_uint_t *rcpts, tn_uint_t n, const char *via);
static void tn_mail_out_part_done(tn_mail_out_part_t *part);

static tn_mail_out_dest_t *tn_mail_out_dest_get(tn_str_t *sender_domain,
    tn_str_t *domain);
static void tn_mail_out_dest_run(tn_mail_out_dest_t *dest);
static void tn_mail_out_dest_resolved(tn_mail_out_resolve_t *rs);
static void tn_mail_out_dest_fail(tn_mail_out_dest_t *dest,
    tn_uint_t status, tn_str_t *dsn, tn_str_t *text);
static tn_int_t tn_mail_out_dest_connect(tn_mail_out_dest_t *dest);
static void tn_mail_out_job_done(tn_mail_out_job_t *job);
static void tn_mail_out_dest_release(tn_mail_out_dest_t *dest);

static void tn_mail_out_save(tn_mail_out_item_t *item);
static void tn_mail_out_save_thread(void *data, tn_log_t *log);
static void tn_mail_out_save_done(tn_event_t *ev);
static tn_uint_t tn_mail_out_apply(tn_mail_out_task_t *t, tn_log_t *log);
static void tn_mail_out_notify(tn_mail_out_task_t *t, tn_uint_t n,
    tn_log_t *log);
static tn_int_t tn_mail_out_inject(tn_store_conf_t *scf, char *path,
    const char *to, tn_uint_t body_8bit, tn_log_t *log);

static tn_int_t tn_mail_out_watch(tn_cycle_t *cycle);
static void tn_mail_out_inotify_handler(tn_event_t *ev);
static void tn_mail_out_rescan_handler(tn_event_t *ev);
static void tn_mail_out_scan_thread(void *data, tn_log_t *log);
static tn_int_t tn_mail_out_scan_found(void *data,
    tn_store_queue_env_t *env);
static void tn_mail_out_scan_done(tn_event_t *ev);


static tn_mail_out_runner_t  *tn_mail_out_runner;


/* the retry schedule */

tn_msec_t
tn_mail_out_retry_delay(tn_mail_out_conf_t *ocf, tn_uint_t tries)
{
    tn_msec_t  delay;

    delay = ocf->retry_min;

    while (tries-- > 1 && delay < ocf->retry_max) {
        delay *= 2;
    }

    return tn_min(delay, ocf->retry_max);
}


time_t
tn_mail_out_next_due(tn_mail_out_conf_t *ocf, tn_store_queue_env_t *env,
    time_t now)
{
    time_t                  due, t;
    tn_uint_t               i;
    tn_store_queue_rcpt_t  *r;

    if (env->hold) {
        return (time_t) -1;
    }

    due = (time_t) -1;

    for (i = 0; i < env->nrcpts; i++) {
        r = &env->rcpts[i];

        if (r->status == TN_QUEUE_PENDING) {
            return now;
        }

        if (r->status != TN_QUEUE_DEFERRED) {
            continue;
        }

        t = r->next_try;

        /* the expiry bounces it, the delay warning goes out once */

        t = tn_min(t, env->received + ocf->max_lifetime);

        if (ocf->delay_warning && !(r->flags & TN_QUEUE_RCPT_WARNED)
            && tn_mail_out_dsn_wanted(r->notify, TN_MAIL_OUT_DSN_DELAYED))
        {
            t = tn_min(t, env->received + ocf->delay_warning);
        }

        if (due == (time_t) -1 || t < due) {
            due = t;
        }
    }

    if (due != (time_t) -1 && due < now) {
        due = now;
    }

    return due;
}


/* the worker */

tn_int_t
tn_mail_out_init_process(tn_cycle_t *cycle)
{
    tn_uint_t              i, nworkers;
    tn_core_conf_t        *ccf;
    tn_mail_out_runner_t  *qr;

#if (TN_FUZZ)
    /*
     * The session fuzz harnesses run one session in a worker's loop and
     * judge every timer it leaves behind; the queue runner is not theirs
     * to test (t/outbound_*.t do), so it stays off in those builds.
     */
    return TN_OK;
#endif

    if (tn_process != TN_PROCESS_WORKER) {
        return TN_OK;
    }

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    nworkers = (ccf->worker_processes > 0) ? ccf->worker_processes : 1;

    qr = tn_pcalloc(cycle->pool, sizeof(tn_mail_out_runner_t));
    if (qr == NULL) {
        return TN_ERROR;
    }

    qr->cycle = cycle;
    qr->scf = tn_store_get_conf(cycle);
    qr->ocf = tn_mail_out_get_conf(cycle);
    qr->log = cycle->log;

    for (i = 0; i < TN_STORE_QUEUE_SHARDS; i++) {
        if (i % nworkers == tn_worker) {
            qr->shards |= (tn_uint_t) 1 << i;
        }

        qr->wd[i] = -1;
    }

    for (i = 0; i < TN_MAIL_OUT_BUCKETS; i++) {
        tn_queue_init(&qr->items[i]);
        tn_queue_init(&qr->dests[i]);
    }

    tn_mail_out_runner = qr;

    if (qr->shards == 0) {
        return TN_OK;
    }

    if (tn_mail_out_watch(cycle) != TN_OK) {
        return TN_ERROR;
    }

    /* the first scan: at once, from the event loop */

    qr->rescan.handler = tn_mail_out_rescan_handler;
    qr->rescan.log = cycle->log;
    qr->rescan.data = qr;
    qr->rescan.cancelable = 1;

    tn_event_add_timer(&qr->rescan, 1);

    return TN_OK;
}


void
tn_mail_out_exit_process(tn_cycle_t *cycle)
{
    tn_mail_out_runner_t  *qr;

    qr = tn_mail_out_runner;

    if (qr == NULL) {
        return;
    }

    /*
     * Deliveries still running are cut by the exit: their messages keep
     * the state of their last save (at least once, never lost).
     */
    qr->stopped = 1;
}


/* inotify on the worker's shards */

static tn_int_t
tn_mail_out_watch(tn_cycle_t *cycle)
{
    int                    fd;
    u_char                 path[PATH_MAX];
    tn_uint_t              i;
    tn_connection_t       *c;
    tn_mail_out_runner_t  *qr;

    qr = tn_mail_out_runner;

    fd = inotify_init1(IN_NONBLOCK|IN_CLOEXEC);
    if (fd == -1) {
        tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                     "inotify_init1() failed");
        return TN_ERROR;
    }

    for (i = 0; i < TN_STORE_QUEUE_SHARDS; i++) {
        if (!(qr->shards & ((tn_uint_t) 1 << i))) {
            continue;
        }

        *tn_slprintf(path, path + sizeof(path) - 1, "%V/queue/%xi",
                     &qr->scf->prefix, i) = '\0';

        qr->wd[i] = inotify_add_watch(fd, (char *) path,
                                      IN_MOVED_TO|IN_DELETE|IN_ONLYDIR);
        if (qr->wd[i] == -1) {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                         "inotify_add_watch(\"%s\") failed", path);
            (void) close(fd);
            return TN_ERROR;
        }
    }

    c = tn_get_connection(fd, cycle->log);
    if (c == NULL) {
        (void) close(fd);
        return TN_ERROR;
    }

    c->read->handler = tn_mail_out_inotify_handler;
    c->read->log = cycle->log;
    c->log = cycle->log;
    c->data = qr;

    if (tn_epoll_add_fd(c, EPOLLIN|EPOLLET) != TN_OK) {
        return TN_ERROR;
    }

    qr->inotify = c;

    return TN_OK;
}


static void
tn_mail_out_inotify_handler(tn_event_t *ev)
{
    char                  *name, *dot;
    ssize_t                n;
    tn_connection_t       *c;
    tn_mail_out_runner_t  *qr;
    struct inotify_event  *ie;
    char                   id[TN_STORE_QUEUE_ID_LEN];
    u_char                 buf[8192]
                               __attribute__((aligned(__alignof__(
                                   struct inotify_event))));

    c = ev->data;
    qr = c->data;

    for ( ;; ) {
        n = read(c->fd, buf, sizeof(buf));

        if (n == -1) {
            if (tn_errno != EAGAIN) {
                tn_log_error(TN_LOG_ALERT, qr->log, tn_errno,
                             "read() of inotify failed");
            }

            break;
        }

        for (ie = (struct inotify_event *) buf;
             (u_char *) ie < buf + n;
             ie = (struct inotify_event *) ((u_char *) (ie + 1) + ie->len))
        {
            if (ie->mask & IN_Q_OVERFLOW) {
                tn_log_error(TN_LOG_WARN, qr->log, 0,
                             "queue: inotify overflow, rescanning");
                tn_mail_out_rescan_handler(&qr->rescan);
                continue;
            }

            if (ie->len == 0) {
                continue;
            }

            name = ie->name;
            dot = strrchr(name, '.');

            if (dot == NULL || strcmp(dot, ".env") != 0
                || (size_t) (dot - name) >= sizeof(id))
            {
                continue;
            }

            tn_memcpy(id, name, dot - name);
            id[dot - name] = '\0';

            tn_mail_out_item_touch(id, (ie->mask & IN_DELETE) ? 1 : 0);
        }
    }

    ev->ready = 0;
}


/* an envelope appeared, changed or went away */
static void
tn_mail_out_item_touch(const char *id, tn_uint_t removed)
{
    u_char                 path[PATH_MAX];
    struct stat            sb;
    tn_mail_out_item_t    *item;
    tn_mail_out_runner_t  *qr;

    qr = tn_mail_out_runner;

    item = tn_mail_out_item_find(id);

    if (removed) {
        if (item == NULL) {
            return;
        }

        if (item->state == TN_MAIL_OUT_IDLE) {
            tn_log_error(TN_LOG_INFO, qr->log, 0,
                         "queue: message %s was removed", id);
            tn_mail_out_item_free(item);

        } else {
            item->gone = 1;
        }

        return;
    }

    if (item == NULL) {
        if (qr->stopped) {
            return;
        }

        item = tn_mail_out_item_add(id);
        if (item == NULL) {
            return;
        }

        tn_mail_out_item_schedule(item, tn_time());
        return;
    }

    /*
     * Busy: the envelope is read again under the lock before it is used,
     * and nobody else may change it while this worker holds the lock, so
     * the news is this worker's own rewrite, or will be seen anyway.
     * Idle: our own last rewrite is not news either.
     */

    if (item->state != TN_MAIL_OUT_IDLE) {
        return;
    }

    if (tn_store_queue_path(qr->scf, id, "env", (char *) path) == TN_OK
        && stat((char *) path, &sb) == 0 && sb.st_ino == item->self_ino)
    {
        return;
    }

    tn_log_error(TN_LOG_NOTICE, qr->log, 0,
                 "queue: message %s was changed, looking at it again", id);

    tn_mail_out_item_schedule(item, tn_time());
}


/* the scans */

static void
tn_mail_out_rescan_handler(tn_event_t *ev)
{
    tn_thread_task_t      *task;
    tn_mail_out_scan_t    *scan;
    tn_mail_out_runner_t  *qr;
    static tn_uint_t       runs;

    qr = tn_mail_out_runner;

    if (qr->stopped || tn_exiting || tn_quit) {
        return;
    }

    if (qr->scanning) {
        qr->rescan_again = 1;
        return;
    }

    task = tn_thread_task_alloc(sizeof(tn_mail_out_scan_t), qr->log);
    if (task == NULL) {
        tn_event_add_timer(&qr->rescan, TN_MAIL_OUT_BUSY_DELAY);
        return;
    }

    scan = task->ctx;
    scan->scf = qr->scf;
    scan->ocf = qr->ocf;
    scan->shards = qr->shards;
    scan->now = tn_time();
    /* the owner of shard 0 removes orphans, not at the very start */
    scan->cleanup = (qr->shards & 1) && runs++ > 0;

    task->handler = tn_mail_out_scan_thread;
    task->event.handler = tn_mail_out_scan_done;
    task->event.data = task;
    task->event.log = qr->log;

    if (tn_thread_task_post(task) != TN_OK) {
        tn_thread_task_free(task);
        tn_event_add_timer(&qr->rescan, TN_MAIL_OUT_BUSY_DELAY);
        return;
    }

    qr->scanning = 1;
}


/* in a pool thread */
static void
tn_mail_out_scan_thread(void *data, tn_log_t *log)
{
    tn_mail_out_scan_t *scan = data;

    tn_uint_t  i;

    for (i = 0; i < TN_STORE_QUEUE_SHARDS; i++) {
        if (scan->shards & ((tn_uint_t) 1 << i)) {
            (void) tn_store_queue_list_shard(scan->scf, i,
                                             tn_mail_out_scan_found, scan,
                                             log);
        }
    }

    if (scan->cleanup) {
        (void) tn_store_queue_cleanup(scan->scf, TN_STORE_QUEUE_ORPHAN_AGE,
                                      log);
    }
}


static tn_int_t
tn_mail_out_scan_found(void *data, tn_store_queue_env_t *env)
{
    tn_mail_out_scan_t *scan = data;

    tn_uint_t             n;
    tn_mail_out_found_t  *f;

    if (scan->nfound == scan->nalloc) {
        n = scan->nalloc ? scan->nalloc * 2 : 64;

        f = realloc(scan->found, n * sizeof(tn_mail_out_found_t));
        if (f == NULL) {
            return TN_ERROR;
        }

        scan->found = f;
        scan->nalloc = n;
    }

    f = &scan->found[scan->nfound++];

    tn_cpystrn((u_char *) f->id, (u_char *) env->id, sizeof(f->id));
    f->hold = env->hold;
    f->due = tn_mail_out_next_due(scan->ocf, env, scan->now);

    return TN_OK;
}


static void
tn_mail_out_scan_done(tn_event_t *ev)
{
    tn_uint_t              i, n;
    tn_thread_task_t      *task;
    tn_mail_out_scan_t    *scan;
    tn_mail_out_item_t    *item;
    tn_mail_out_runner_t  *qr;

    task = ev->data;
    scan = task->ctx;
    qr = tn_mail_out_runner;

    qr->scanning = 0;
    n = 0;

    for (i = 0; i < scan->nfound; i++) {
        if (tn_mail_out_item_find(scan->found[i].id)) {
            /* known: its own state rules */
            continue;
        }

        item = tn_mail_out_item_add(scan->found[i].id);
        if (item == NULL) {
            break;
        }

        n++;

        if (scan->found[i].due != (time_t) -1) {
            tn_mail_out_item_schedule(item, scan->found[i].due);
        }
    }

    if (n) {
        tn_log_error(TN_LOG_INFO, qr->log, 0,
                     "queue: %ui messages found in shards %xi", n,
                     qr->shards);
    }

    free(scan->found);
    tn_thread_task_free(task);

    if (qr->stopped) {
        return;
    }

    tn_event_add_timer(&qr->rescan, qr->rescan_again ? 1
                                                      : TN_MAIL_OUT_RESCAN);
    qr->rescan_again = 0;
}


/* items */

static tn_uint_t
tn_mail_out_hash(u_char *p, size_t len)
{
    uint32_t  h;

    /* FNV-1a */

    h = 2166136261u;

    while (len--) {
        h = (h ^ *p++) * 16777619u;
    }

    return h % TN_MAIL_OUT_BUCKETS;
}


static tn_mail_out_item_t *
tn_mail_out_item_find(const char *id)
{
    tn_queue_t            *b, *q;
    tn_mail_out_item_t    *item;

    b = &tn_mail_out_runner->items[tn_mail_out_hash((u_char *) id,
                                                     strlen(id))];

    for (q = tn_queue_head(b); q != tn_queue_sentinel(b);
         q = tn_queue_next(q))
    {
        item = tn_queue_data(q, tn_mail_out_item_t, bucket);

        if (strcmp(item->id, id) == 0) {
            return item;
        }
    }

    return NULL;
}


static tn_mail_out_item_t *
tn_mail_out_item_add(const char *id)
{
    size_t                 len;
    tn_mail_out_item_t    *item;
    tn_mail_out_runner_t  *qr;

    qr = tn_mail_out_runner;
    len = strlen(id);

    if (len == 0 || len >= TN_STORE_QUEUE_ID_LEN) {
        return NULL;
    }

    item = tn_calloc(sizeof(tn_mail_out_item_t), qr->log);
    if (item == NULL) {
        return NULL;
    }

    tn_memcpy(item->id, id, len + 1);
    item->lock = TN_INVALID_FILE;

    item->timer.handler = tn_mail_out_item_due;
    item->timer.data = item;
    item->timer.log = qr->log;
    /* a waiting message does not keep an exiting worker */
    item->timer.cancelable = 1;

    tn_queue_insert_tail(&qr->items[tn_mail_out_hash((u_char *) id, len)],
                         &item->bucket);
    qr->nitems++;

    return item;
}


static void
tn_mail_out_item_free(tn_mail_out_item_t *item)
{
    if (item->timer.timer_set) {
        tn_event_del_timer(&item->timer);
    }

    if (item->lock != TN_INVALID_FILE) {
        tn_store_queue_unlock(item->lock);
    }

    tn_store_queue_env_free(&item->env);
    tn_free(item->results);
    tn_free(item->attempted);

    tn_queue_remove(&item->bucket);
    tn_mail_out_runner->nitems--;

    tn_free(item);
}


static void
tn_mail_out_item_schedule(tn_mail_out_item_t *item, time_t due)
{
    time_t     now;
    tn_msec_t  delay;

    if (item->timer.timer_set) {
        tn_event_del_timer(&item->timer);
    }

    if (due == (time_t) -1) {
        return;
    }

    now = tn_time();
    delay = (due > now) ? (tn_msec_t) (due - now) * 1000 : 1;

    tn_event_add_timer(&item->timer, delay);
}


/* the timer: load the message in the thread pool */
static void
tn_mail_out_item_due(tn_event_t *ev)
{
    tn_thread_task_t      *task;
    tn_mail_out_task_t    *t;
    tn_mail_out_item_t    *item;
    tn_mail_out_runner_t  *qr;

    item = ev->data;
    qr = tn_mail_out_runner;

    if (qr->stopped || tn_exiting || tn_quit
        || item->state != TN_MAIL_OUT_IDLE)
    {
        return;
    }

    task = tn_thread_task_alloc(sizeof(tn_mail_out_task_t), qr->log);
    if (task == NULL) {
        tn_event_add_timer(&item->timer, TN_MAIL_OUT_BUSY_DELAY);
        return;
    }

    t = task->ctx;
    t->item = item;
    t->scf = qr->scf;
    t->ocf = qr->ocf;

    item->now = tn_time();

    task->handler = tn_mail_out_load_thread;
    task->event.handler = tn_mail_out_load_done;
    task->event.data = task;
    task->event.log = qr->log;

    if (tn_thread_task_post(task) != TN_OK) {
        tn_thread_task_free(task);
        tn_event_add_timer(&item->timer, TN_MAIL_OUT_BUSY_DELAY);
        return;
    }

    item->state = TN_MAIL_OUT_LOADING;
}


/*
 * In a pool thread: the lock, the envelope, and the recipients that are
 * due (item->attempted); expired ones are bounced here.
 */
static void
tn_mail_out_load_thread(void *data, tn_log_t *log)
{
    tn_mail_out_task_t *t = data;

    tn_uint_t               i, n;
    tn_mail_out_item_t     *item;
    tn_store_queue_rcpt_t  *r;

    item = t->item;

    t->rc = tn_store_queue_lock(t->scf, item->id, 0, &item->lock, log);
    if (t->rc != TN_OK) {
        item->lock = TN_INVALID_FILE;
        return;
    }

    tn_store_queue_env_free(&item->env);
    tn_memzero(&item->env, sizeof(tn_store_queue_env_t));

    t->rc = tn_store_queue_read(t->scf, item->id, &item->env, log);

    if (t->rc == TN_OK
        && tn_store_queue_path(t->scf, item->id, "msg", item->msg_path)
           != TN_OK)
    {
        t->rc = TN_ERROR;
    }

    if (t->rc != TN_OK) {
        tn_store_queue_unlock(item->lock);
        item->lock = TN_INVALID_FILE;
        return;
    }

    n = item->env.nrcpts;

    tn_free(item->results);
    tn_free(item->attempted);

    item->results = calloc(n, sizeof(tn_mail_out_result_t));
    item->attempted = calloc(n, 1);

    if (item->results == NULL || item->attempted == NULL) {
        t->rc = TN_ERROR;
        tn_store_queue_unlock(item->lock);
        item->lock = TN_INVALID_FILE;
        return;
    }

    t->hold = item->env.hold;

    if (t->hold) {
        return;
    }

    for (i = 0; i < n; i++) {
        r = &item->env.rcpts[i];

        if (r->status == TN_QUEUE_PENDING
            || (r->status == TN_QUEUE_DEFERRED
                && (r->next_try <= item->now
                    || item->now >= item->env.received
                                    + t->ocf->max_lifetime)))
        {
            item->attempted[i] = 1;
        }
    }
}


static void
tn_mail_out_load_done(tn_event_t *ev)
{
    tn_thread_task_t      *task;
    tn_mail_out_task_t    *t;
    tn_mail_out_item_t    *item;
    tn_mail_out_runner_t  *qr;

    task = ev->data;
    t = task->ctx;
    item = t->item;
    qr = tn_mail_out_runner;

    item->state = TN_MAIL_OUT_IDLE;

    switch (t->rc) {

    case TN_OK:
        break;

    case TN_BUSY:
        /* another process (an older worker, an admin command) has it */
        tn_thread_task_free(task);
        tn_event_add_timer(&item->timer, TN_MAIL_OUT_BUSY_DELAY);
        return;

    case TN_DECLINED:
        tn_thread_task_free(task);
        tn_mail_out_item_free(item);
        return;

    default:
        tn_log_error(TN_LOG_ERR, qr->log, 0,
                     "queue: message %s cannot be read, trying again in "
                     "%M ms", item->id, qr->ocf->retry_min);
        tn_thread_task_free(task);
        tn_event_add_timer(&item->timer, qr->ocf->retry_min);
        return;
    }

    tn_thread_task_free(task);

    if (item->gone || qr->stopped) {
        tn_mail_out_item_free(item);
        return;
    }

    if (item->env.hold) {
        tn_log_error(TN_LOG_INFO, qr->log, 0,
                     "queue: message %s is on hold", item->id);
        tn_store_queue_unlock(item->lock);
        item->lock = TN_INVALID_FILE;
        return;
    }

    if (tn_mail_out_split(item) != TN_OK) {
        tn_log_error(TN_LOG_ERR, qr->log, 0,
                     "queue: message %s cannot be scheduled", item->id);
    }

    /* expired recipients are bounced by the save even with no parts */

    if (item->nparts == 0) {
        tn_mail_out_save(item);
    }
}


/*
 * The due recipients of a loaded message into parts, one per
 * destination and Delivered-To marker; an expired recipient is not
 * tried again but failed.
 */
static tn_int_t
tn_mail_out_split(tn_mail_out_item_t *item)
{
    u_char                 *at;
    tn_uint_t               i, j, n, *rcpts;
    tn_mail_out_runner_t   *qr;
    tn_store_queue_rcpt_t  *r, *o;
    tn_mail_out_result_t   *res;

    qr = tn_mail_out_runner;

    rcpts = tn_alloc(item->env.nrcpts * sizeof(tn_uint_t), qr->log);
    if (rcpts == NULL) {
        return TN_ERROR;
    }

    item->state = TN_MAIL_OUT_ACTIVE;

    for (i = 0; i < item->env.nrcpts; i++) {
        if (item->attempted[i] != 1) {
            continue;
        }

        r = &item->env.rcpts[i];

        if (item->now >= item->env.received + qr->ocf->max_lifetime) {
            res = &item->results[i];
            res->status = TN_MAIL_OUT_FAIL;
            tn_cpystrn((u_char *) res->dsn, (u_char *) "4.4.7",
                       sizeof(res->dsn));
            tn_snprintf((u_char *) res->text, sizeof(res->text) - 1,
                        "message expired in the queue%s%s%Z",
                        r->error[0] ? ": " : "", r->error);
            item->attempted[i] = 2;
            continue;
        }

        /* this one and the later ones for the same domain and marker */

        at = (u_char *) strrchr(r->address, '@');
        n = 0;

        for (j = i; j < item->env.nrcpts; j++) {
            o = &item->env.rcpts[j];

            if (item->attempted[j] != 1
                || strcmp(o->delivered_to, r->delivered_to) != 0)
            {
                continue;
            }

            if (at == NULL ? strchr(o->address, '@') != NULL
                : (strrchr(o->address, '@') == NULL
                   || strcasecmp(strrchr(o->address, '@'),
                                 (char *) at) != 0))
            {
                continue;
            }

            item->attempted[j] = 3;
            rcpts[n++] = j;
        }

        if (tn_mail_out_part_add(item, rcpts, n, r->delivered_to) != TN_OK) {
            tn_free(rcpts);
            return TN_ERROR;
        }
    }

    tn_free(rcpts);

    return TN_OK;
}


static tn_int_t
tn_mail_out_part_add(tn_mail_out_item_t *item, tn_uint_t *rcpts,
    tn_uint_t n, const char *via)
{
    char                 *at;
    tn_uint_t             i;
    tn_str_t              domain, sender_domain;
    tn_mail_out_part_t   *part;
    tn_mail_out_dest_t   *dest;
    tn_mail_out_result_t *res;

    part = tn_calloc(sizeof(tn_mail_out_part_t)
                     + n * sizeof(tn_uint_t) + strlen(via) + 1,
                     tn_mail_out_runner->log);
    if (part == NULL) {
        return TN_ERROR;
    }

    part->item = item;
    part->msg.path = item->msg_path;
    part->msg.size = item->env.size;
    part->msg.env = &item->env;
    part->msg.nrcpts = n;
    part->msg.rcpts = (tn_uint_t *) (part + 1);
    part->msg.delivered_to = (char *) (part->msg.rcpts + n);
    part->msg.data = part;

    tn_memcpy(part->msg.rcpts, rcpts, n * sizeof(tn_uint_t));
    strcpy(part->msg.delivered_to, via);

    part->msg.results = tn_alloc(n * sizeof(tn_mail_out_result_t),
                                 tn_mail_out_runner->log);
    if (part->msg.results == NULL) {
        tn_free(part);
        return TN_ERROR;
    }

    tn_memzero(part->msg.results, n * sizeof(tn_mail_out_result_t));

    for (i = 0; i < n; i++) {
        /* unset results are failures of the software: try again */
        res = &part->msg.results[i];
        res->status = TN_MAIL_OUT_DEFER;
        tn_cpystrn((u_char *) res->dsn, (u_char *) "4.3.0",
                   sizeof(res->dsn));
    }

    at = strrchr(item->env.rcpts[rcpts[0]].address, '@');
    domain.data = at ? (u_char *) at + 1 : (u_char *) "";
    domain.len = at ? tn_strlen(at + 1) : 0;

    at = strrchr(item->env.sender, '@');
    sender_domain.data = at ? (u_char *) at + 1 : (u_char *) "";
    sender_domain.len = at ? tn_strlen(at + 1) : 0;

    dest = tn_mail_out_dest_get(&sender_domain, &domain);
    if (dest == NULL) {
        tn_free(part->msg.results);
        tn_free(part);
        return TN_ERROR;
    }

    part->dest = dest;
    item->nparts++;

    tn_queue_insert_tail(&dest->pending, &part->queue);

    tn_mail_out_dest_run(dest);

    return TN_OK;
}


/* a part came back from delivery (or failed before it) */
static void
tn_mail_out_part_done(tn_mail_out_part_t *part)
{
    tn_uint_t            i;
    tn_mail_out_item_t  *item;

    item = part->item;

    for (i = 0; i < part->msg.nrcpts; i++) {
        item->results[part->msg.rcpts[i]] = part->msg.results[i];
        item->attempted[part->msg.rcpts[i]] = 2;
    }

    tn_free(part->msg.results);
    tn_free(part);

    if (--item->nparts == 0) {
        tn_mail_out_save(item);
    }
}


/* destinations */

static tn_mail_out_dest_t *
tn_mail_out_dest_get(tn_str_t *sender_domain, tn_str_t *domain)
{
    u_char                *p;
    size_t                 len;
    tn_uint_t              i;
    tn_queue_t            *b, *q;
    tn_mail_out_dest_t    *dest;
    u_char                 key[2 * TN_STORE_ADDR_MAX + 2];

    if (sender_domain->len >= TN_STORE_ADDR_MAX
        || domain->len >= TN_STORE_ADDR_MAX)
    {
        return NULL;
    }

    p = key;

    for (i = 0; i < sender_domain->len; i++) {
        *p++ = tn_tolower(sender_domain->data[i]);
    }

    *p++ = '\0';

    for (i = 0; i < domain->len; i++) {
        *p++ = tn_tolower(domain->data[i]);
    }

    len = p - key;

    b = &tn_mail_out_runner->dests[tn_mail_out_hash(key, len)];

    for (q = tn_queue_head(b); q != tn_queue_sentinel(b);
         q = tn_queue_next(q))
    {
        dest = tn_queue_data(q, tn_mail_out_dest_t, bucket);

        if (dest->key.len == len && tn_memcmp(dest->key.data, key, len) == 0)
        {
            return dest;
        }
    }

    dest = tn_calloc(sizeof(tn_mail_out_dest_t) + len,
                     tn_mail_out_runner->log);
    if (dest == NULL) {
        return NULL;
    }

    dest->key.data = (u_char *) (dest + 1);
    dest->key.len = len;
    tn_memcpy(dest->key.data, key, len);

    dest->sender_domain.data = dest->key.data;
    dest->sender_domain.len = sender_domain->len;
    dest->domain.data = dest->key.data + sender_domain->len + 1;
    dest->domain.len = domain->len;

    tn_queue_init(&dest->pending);
    tn_queue_insert_tail(b, &dest->bucket);

    return dest;
}


/* starts what a destination can start: a lookup, or connections */
static void
tn_mail_out_dest_run(tn_mail_out_dest_t *dest)
{
    tn_mail_out_resolve_t  *rs;
    tn_mail_out_runner_t   *qr;

    qr = tn_mail_out_runner;

    if (dest->rs || tn_queue_empty(&dest->pending)) {
        tn_mail_out_dest_release(dest);
        return;
    }

    if (dest->resolved && dest->expires <= tn_current_msec) {
        tn_mail_out_resolve_free(dest->resolved);
        tn_free(dest->resolved);
        dest->resolved = NULL;
    }

    if (dest->resolved == NULL) {
        rs = tn_calloc(sizeof(tn_mail_out_resolve_t), qr->log);
        if (rs == NULL) {
            tn_mail_out_dest_fail(dest, TN_MAIL_OUT_DEFER, NULL, NULL);
            tn_mail_out_dest_release(dest);
            return;
        }

        rs->domain = dest->domain;
        rs->sender_domain = dest->sender_domain;
        rs->handler = tn_mail_out_dest_resolved;
        rs->data = dest;
        rs->log = qr->log;

        dest->rs = rs;

        if (tn_mail_out_resolve(rs) != TN_OK) {
            dest->rs = NULL;
            tn_free(rs);
            tn_mail_out_dest_fail(dest, TN_MAIL_OUT_DEFER, NULL, NULL);
            tn_mail_out_dest_release(dest);
        }

        return;
    }

    while (dest->active < qr->ocf->destination_concurrency
           && !tn_queue_empty(&dest->pending))
    {
        if (tn_mail_out_dest_connect(dest) != TN_OK) {
            break;
        }
    }
}


static void
tn_mail_out_dest_resolved(tn_mail_out_resolve_t *rs)
{
    tn_mail_out_dest_t  *dest;

    dest = rs->data;
    dest->rs = NULL;

    if (rs->result != TN_MAIL_OUT_RESOLVE_OK) {
        tn_log_error(TN_LOG_INFO, tn_mail_out_runner->log, 0,
                     "queue: no way to \"%V\": %V", &dest->domain,
                     &rs->error);

        tn_mail_out_dest_fail(dest, rs->result == TN_MAIL_OUT_RESOLVE_FAIL
                                    ? TN_MAIL_OUT_FAIL : TN_MAIL_OUT_DEFER,
                              &rs->status, &rs->error);
        tn_mail_out_resolve_free(rs);
        tn_free(rs);
        tn_mail_out_dest_release(dest);
        return;
    }

    dest->resolved = rs;
    dest->expires = tn_current_msec + TN_MAIL_OUT_DEST_TTL;

    tn_mail_out_dest_run(dest);
}


/* every pending part of a destination gets this result */
static void
tn_mail_out_dest_fail(tn_mail_out_dest_t *dest, tn_uint_t status,
    tn_str_t *dsn, tn_str_t *text)
{
    tn_uint_t              i;
    tn_queue_t            *q;
    tn_mail_out_part_t    *part;
    tn_mail_out_result_t  *res;

    while (!tn_queue_empty(&dest->pending)) {
        q = tn_queue_head(&dest->pending);
        tn_queue_remove(q);

        part = tn_queue_data(q, tn_mail_out_part_t, queue);

        for (i = 0; i < part->msg.nrcpts; i++) {
            res = &part->msg.results[i];
            res->status = status;

            if (dsn && dsn->len) {
                tn_cpystrn((u_char *) res->dsn, dsn->data,
                           tn_min(dsn->len + 1, sizeof(res->dsn)));

            } else {
                tn_cpystrn((u_char *) res->dsn, (u_char *) "4.4.3",
                           sizeof(res->dsn));
            }

            if (text && text->len) {
                tn_cpystrn((u_char *) res->text, text->data,
                           tn_min(text->len + 1, sizeof(res->text)));

            } else {
                tn_cpystrn((u_char *) res->text,
                           (u_char *) "the destination could not be "
                           "looked up", sizeof(res->text));
            }
        }

        tn_mail_out_part_done(part);
    }
}


/* one connection with as many parts as it may carry */
static tn_int_t
tn_mail_out_dest_connect(tn_mail_out_dest_t *dest)
{
    tn_uint_t                n, max;
    tn_queue_t              *q;
    tn_mail_out_job_t       *job;
    tn_mail_out_part_t      *part;
    tn_mail_out_conn_t      *conn;
    tn_mail_out_conf_t      *ocf;
    tn_mail_out_runner_t    *qr;
    tn_mail_out_resolve_t   *rs;
    tn_mail_out_conn_job_t  *cj;

    qr = tn_mail_out_runner;
    ocf = qr->ocf;
    rs = dest->resolved;

    max = ocf->messages_per_connection;

    cj = tn_calloc(sizeof(tn_mail_out_conn_job_t)
                   + max * sizeof(tn_mail_out_part_t *), qr->log);
    if (cj == NULL) {
        return TN_ERROR;
    }

    job = &cj->job;
    cj->dest = dest;

    tn_queue_init(&job->msgs);

    for (n = 0; n < max && !tn_queue_empty(&dest->pending); n++) {
        q = tn_queue_head(&dest->pending);
        tn_queue_remove(q);

        part = tn_queue_data(q, tn_mail_out_part_t, queue);
        cj->parts[n] = part;

        tn_queue_insert_tail(&job->msgs, &part->msg.queue);
    }

    cj->nparts = n;

    conn = rs->conn;

    job->helo = ocf->helo_name;
    job->ntargets = rs->ntargets;
    job->targets = rs->targets;
    job->tls = conn ? conn->tls : ocf->tls;
    job->implicit_tls = conn ? conn->implicit_tls : 0;

    if (conn) {
        job->auth_user = conn->auth_user;
        job->auth_pass = conn->auth_pass;
    }

    job->ssl = ocf->ssl;
    job->connect_timeout = ocf->connect_timeout;
    job->command_timeout = ocf->command_timeout;
    job->data_timeout = ocf->data_timeout;
    job->handler = tn_mail_out_job_done;
    job->data = cj;
    job->log = qr->log;

    dest->active++;

    if (tn_mail_out_deliver(job) != TN_OK) {
        /* the parts go back as deferred; job_done counts active down */
        tn_mail_out_job_done(job);
        return TN_ERROR;
    }

    return TN_OK;
}


static void
tn_mail_out_job_done(tn_mail_out_job_t *job)
{
    tn_uint_t                i;
    tn_mail_out_dest_t      *dest;
    tn_mail_out_conn_job_t  *cj;

    cj = job->data;
    dest = cj->dest;

    if (dest->active) {
        dest->active--;
    }

    for (i = 0; i < cj->nparts; i++) {
        tn_mail_out_part_done(cj->parts[i]);
    }

    tn_free(cj);

    tn_mail_out_dest_run(dest);
}


/*
 * A destination with nothing to do is forgotten (the MX cache and the
 * resolver's cache make the next lookup cheap).
 */
static void
tn_mail_out_dest_release(tn_mail_out_dest_t *dest)
{
    if (dest->rs || dest->active || !tn_queue_empty(&dest->pending)) {
        return;
    }

    if (dest->resolved) {
        tn_mail_out_resolve_free(dest->resolved);
        tn_free(dest->resolved);
    }

    tn_queue_remove(&dest->bucket);
    tn_free(dest);
}


/* the save */

static void
tn_mail_out_save(tn_mail_out_item_t *item)
{
    tn_thread_task_t      *task;
    tn_mail_out_task_t    *t;
    tn_mail_out_runner_t  *qr;

    qr = tn_mail_out_runner;

    item->state = TN_MAIL_OUT_SAVING;

    task = tn_thread_task_alloc(sizeof(tn_mail_out_task_t), qr->log);

    if (task != NULL) {
        t = task->ctx;
        t->item = item;
        t->scf = qr->scf;
        t->ocf = qr->ocf;
        t->reporting_mta = qr->ocf->helo_name;

        task->handler = tn_mail_out_save_thread;
        task->event.handler = tn_mail_out_save_done;
        task->event.data = task;
        task->event.log = qr->log;

        if (tn_thread_task_post(task) == TN_OK) {
            return;
        }

        tn_thread_task_free(task);
    }

    /* nothing recorded: the message is tried again as it was */

    tn_log_error(TN_LOG_ERR, qr->log, 0,
                 "queue: message %s: the results cannot be saved", item->id);

    tn_store_queue_unlock(item->lock);
    item->lock = TN_INVALID_FILE;
    item->state = TN_MAIL_OUT_IDLE;

    tn_event_add_timer(&item->timer, qr->ocf->retry_min);
}


/* in a pool thread */
static void
tn_mail_out_save_thread(void *data, tn_log_t *log)
{
    tn_mail_out_task_t *t = data;

    char                    path[PATH_MAX];
    tn_uint_t               i, n, done;
    struct stat             sb;
    tn_mail_out_item_t     *item;

    item = t->item;

    t->notices = calloc(item->env.nrcpts, sizeof(tn_mail_out_dsn_rcpt_t));
    if (t->notices == NULL) {
        t->rc = TN_ERROR;
        return;
    }

    n = tn_mail_out_apply(t, log);

    if (n && item->env.sender[0] != '\0') {
        tn_mail_out_notify(t, n, log);
    }

    done = 1;

    for (i = 0; i < item->env.nrcpts; i++) {
        if (item->env.rcpts[i].status == TN_QUEUE_PENDING
            || item->env.rcpts[i].status == TN_QUEUE_DEFERRED)
        {
            done = 0;
            break;
        }
    }

    if (done) {
        t->rc = tn_store_queue_remove(t->scf, item->id, log);
        t->due = (time_t) -1;

        if (t->rc == TN_OK) {
            tn_log_error(TN_LOG_INFO, log, 0,
                         "queue: message %s done, removed", item->id);
        }

    } else {
        t->rc = tn_store_queue_update(t->scf, &item->env, log);
        t->due = tn_mail_out_next_due(t->ocf, &item->env, time(NULL));

        if (t->rc == TN_OK
            && tn_store_queue_path(t->scf, item->id, "env", path) == TN_OK
            && stat(path, &sb) == 0)
        {
            t->ino = sb.st_ino;
        }
    }

    free(t->notices);
    t->notices = NULL;

    tn_store_queue_unlock(item->lock);
    item->lock = TN_INVALID_FILE;
}


/*
 * The results into the recipients' states; the notices each wants into
 * t->notices.  Returns how many notices.
 */
static tn_uint_t
tn_mail_out_apply(tn_mail_out_task_t *t, tn_log_t *log)
{
    time_t                   now;
    tn_uint_t                i, n, action;
    tn_msec_t                delay;
    tn_mail_out_item_t      *item;
    tn_mail_out_result_t    *res;
    tn_store_queue_rcpt_t   *r;
    tn_mail_out_dsn_rcpt_t  *dn;

    item = t->item;
    now = time(NULL);
    n = 0;

    for (i = 0; i < item->env.nrcpts; i++) {
        r = &item->env.rcpts[i];
        res = &item->results[i];
        action = 0;

        if (item->attempted[i] == 2) {

            switch (res->status) {

            case TN_MAIL_OUT_OK:
                r->status = TN_QUEUE_DELIVERED;
                r->error[0] = '\0';
                action = res->relayed ? TN_MAIL_OUT_DSN_RELAYED : 0;

                tn_log_error(TN_LOG_INFO, log, 0, "queue: message %s to "
                             "<%s>: delivered, %s", item->id, r->address,
                             res->text);
                break;

            case TN_MAIL_OUT_FAIL:
                r->status = TN_QUEUE_BOUNCED;
                tn_cpystrn((u_char *) r->error, (u_char *) res->text,
                           sizeof(r->error));
                action = TN_MAIL_OUT_DSN_FAILED;

                tn_log_error(TN_LOG_INFO, log, 0, "queue: message %s to "
                             "<%s>: bounced, %s (%s)", item->id, r->address,
                             res->text, res->dsn);
                break;

            default:
                r->status = TN_QUEUE_DEFERRED;
                r->tries++;
                delay = tn_mail_out_retry_delay(t->ocf, r->tries);
                r->next_try = now + (time_t) (delay / 1000);
                tn_cpystrn((u_char *) r->error, (u_char *) res->text,
                           sizeof(r->error));

                tn_log_error(TN_LOG_INFO, log, 0, "queue: message %s to "
                             "<%s>: deferred, %s (%s), try %ui in %M ms",
                             item->id, r->address, res->text, res->dsn,
                             r->tries + 1, delay);
                break;
            }
        }

        /* the delay warning, once */

        if (action == 0 && r->status == TN_QUEUE_DEFERRED
            && t->ocf->delay_warning
            && now >= item->env.received + t->ocf->delay_warning
            && !(r->flags & TN_QUEUE_RCPT_WARNED))
        {
            r->flags |= TN_QUEUE_RCPT_WARNED;
            action = TN_MAIL_OUT_DSN_DELAYED;
        }

        if (action == 0 || !tn_mail_out_dsn_wanted(r->notify, action)) {
            continue;
        }

        dn = &t->notices[n++];
        dn->rcpt = r;
        dn->action = action;
        dn->status = res->dsn[0] ? res->dsn
                                 : (action == TN_MAIL_OUT_DSN_DELAYED
                                    ? "4.0.0" : "2.0.0");
        dn->diagnostic = (action == TN_MAIL_OUT_DSN_DELAYED) ? r->error
                                                             : res->text;
        dn->remote_mta = res->remote_mta;
        dn->last_attempt = (item->attempted[i] == 2) ? now : 0;
        dn->retry_until = item->env.received + t->ocf->max_lifetime;
    }

    return n;
}


/* a notice to the sender of the message, through the normal delivery */
static void
tn_mail_out_notify(tn_mail_out_task_t *t, tn_uint_t n, tn_log_t *log)
{
    char                 path[PATH_MAX];
    tn_fd_t              fd;
    tn_mail_out_dsn_t    dsn;
    tn_mail_out_item_t  *item;

    item = t->item;

    fd = tn_store_spool_create(t->scf, path, log);
    if (fd == TN_INVALID_FILE) {
        tn_log_error(TN_LOG_CRIT, log, tn_errno,
                     "queue: message %s: no spool file for its notice",
                     item->id);
        return;
    }

    tn_memzero(&dsn, sizeof(tn_mail_out_dsn_t));
    dsn.reporting_mta = t->reporting_mta;
    dsn.env = &item->env;
    dsn.msg_path = item->msg_path;
    dsn.nrcpts = n;
    dsn.rcpts = t->notices;
    dsn.return_limit = t->ocf->bounce_return_limit;
    dsn.now = time(NULL);

    if (tn_mail_out_dsn_write(fd, &dsn, log) != TN_OK) {
        tn_log_error(TN_LOG_CRIT, log, tn_errno,
                     "queue: message %s: its notice cannot be written",
                     item->id);
        (void) close(fd);
        (void) unlink(path);
        return;
    }

    (void) close(fd);

    if (tn_mail_out_inject(t->scf, path, item->env.sender, dsn.body_8bit,
                           log)
        != TN_OK)
    {
        tn_log_error(TN_LOG_ERR, log, 0,
                     "queue: message %s: its notice to <%s> was not "
                     "delivered", item->id, item->env.sender);
        return;
    }

    tn_log_error(TN_LOG_INFO, log, 0, "queue: message %s: a notice of %ui "
                 "recipients sent to <%s>", item->id, n, item->env.sender);
}


/*
 * Delivers a notice (the spool file at path, which goes in any case) to
 * "to" as the SMTP server would: local users get it in their Maildir,
 * a remote address (or a remote target of an alias) through the queue,
 * from <> so that it never causes another notice.  BLOCKING.
 */
static tn_int_t
tn_mail_out_inject(tn_store_conf_t *scf, char *path, const char *to,
    tn_uint_t body_8bit, tn_log_t *log)
{
    u_char                *p;
    size_t                 len;
    ssize_t                n;
    tn_fd_t                fd;
    tn_int_t               rc;
    tn_uint_t              i, nremote;
    uint32_t              *uids;
    struct stat            sb;
    tn_store_rcpt_t        r;
    tn_store_delivery_t    d, *dp;
    tn_store_queue_env_t  *env;
    u_char                 buf[65536];

    tn_memzero(&d, sizeof(tn_store_delivery_t));
    tn_memzero(&r, sizeof(tn_store_rcpt_t));

    env = NULL;
    uids = NULL;
    len = strlen(to);

    rc = tn_store_rcpt_resolve(scf, (u_char *) to, len, &r, log);

    if (rc == TN_DECLINED || rc == TN_ERROR) {
        (void) unlink(path);
        return TN_ERROR;
    }

    nremote = (rc == TN_DONE) ? 1 : r.nremote;

    /* the sizes: bytes, and bytes with CRLF line ends */

    fd = open(path, O_RDONLY|O_CLOEXEC);
    if (fd == -1 || fstat(fd, &sb) == -1) {
        goto failed;
    }

    d.size = sb.st_size;
    d.vsize = sb.st_size;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (p = buf; p < buf + n; p++) {
            d.vsize += (*p == '\n');
        }
    }

    (void) close(fd);
    fd = -1;

    if (nremote) {
        env = calloc(1, sizeof(tn_store_queue_env_t)
                        + nremote * sizeof(tn_store_queue_rcpt_t));
        if (env == NULL) {
            goto failed;
        }

        env->rcpts = (tn_store_queue_rcpt_t *) (env + 1);
        env->nrcpts = nremote;
        env->body_8bit = body_8bit;

        for (p = (u_char *) to; *p; p++) {
            if (*p >= 0x80) {
                env->smtputf8 = 1;
            }
        }

        for (i = 0; i < nremote; i++) {
            tn_cpystrn((u_char *) env->rcpts[i].address,
                       rc == TN_DONE ? (u_char *) to
                                     : (u_char *) r.remote[i],
                       TN_STORE_ADDR_MAX);
            env->rcpts[i].notify = TN_QUEUE_NOTIFY_NEVER;
        }
    }

    uids = calloc(r.nlocal + 1, sizeof(uint32_t));
    if (uids == NULL) {
        goto failed;
    }

    tn_cpystrn((u_char *) d.spool_path, (u_char *) path,
               sizeof(d.spool_path));
    d.internaldate = time(NULL);
    d.nrcpts = (rc == TN_DONE) ? 0 : r.nlocal;
    d.rcpts = r.local;
    d.queue = env;
    d.uids = uids;

    dp = &d;
    tn_store_deliver(scf, &dp, 1, log);

    free(uids);
    free(env);
    tn_store_rcpt_free(&r);

    return d.rc;

failed:

    if (fd != -1) {
        (void) close(fd);
    }

    free(uids);
    free(env);
    tn_store_rcpt_free(&r);
    (void) unlink(path);

    return TN_ERROR;
}


static void
tn_mail_out_save_done(tn_event_t *ev)
{
    tn_thread_task_t      *task;
    tn_mail_out_task_t    *t;
    tn_mail_out_item_t    *item;
    tn_mail_out_runner_t  *qr;

    task = ev->data;
    t = task->ctx;
    item = t->item;
    qr = tn_mail_out_runner;

    item->state = TN_MAIL_OUT_IDLE;

    if (t->rc != TN_OK) {
        tn_log_error(TN_LOG_ERR, qr->log, 0,
                     "queue: message %s: the results were not saved, "
                     "trying again", item->id);
        tn_thread_task_free(task);
        tn_mail_out_item_schedule(item, tn_time() + qr->ocf->retry_min
                                                    / 1000);
        return;
    }

    item->self_ino = t->ino;

    if (t->due == (time_t) -1 || item->gone || qr->stopped) {
        tn_thread_task_free(task);
        tn_mail_out_item_free(item);
        return;
    }

    tn_store_queue_env_free(&item->env);
    tn_memzero(&item->env, sizeof(tn_store_queue_env_t));

    tn_mail_out_item_schedule(item, t->due);

    tn_thread_task_free(task);
}
