
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


typedef struct {
    tn_uint_t            threads;
    tn_uint_t            max_queue;
} tn_thread_pool_conf_t;


typedef struct {
    tn_thread_task_t    *first;
    tn_thread_task_t   **last;
} tn_thread_pool_queue_t;

#define tn_thread_pool_queue_init(q)                                         \
    (q)->first = NULL;                                                       \
    (q)->last = &(q)->first


/* one pool per worker process */
typedef struct {
    pthread_mutex_t          mtx;
    pthread_cond_t           cond;

    tn_thread_pool_queue_t   queue;      /* waiting for a thread */
    tn_thread_pool_queue_t   done;       /* waiting for the event loop */

    tn_uint_t                waiting;    /* tasks in queue */
    tn_uint_t                outstanding; /* posted and not completed */
    tn_uint_t                max_queue;
    tn_uint_t                nthreads;
    pthread_t               *tids;

    tn_connection_t         *notify;     /* the eventfd in the loop */
    int                      eventfd;

    tn_log_t                *log;
    unsigned                 exiting:1;
} tn_thread_pool_t;


static void *tn_thread_pool_create_conf(tn_cycle_t *cycle);
static char *tn_thread_pool_init_conf(tn_cycle_t *cycle, void *conf);
static tn_int_t tn_thread_pool_init_worker(tn_cycle_t *cycle);
static void tn_thread_pool_exit_worker(tn_cycle_t *cycle);
static void *tn_thread_pool_cycle(void *data);
static void tn_thread_pool_handler(tn_event_t *ev);


static tn_thread_pool_t  tn_thread_pool;
static tn_uint_t         tn_thread_task_id;


static tn_command_t  tn_thread_pool_commands[] = {

    { tn_string("thread_pool_threads"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      0,
      offsetof(tn_thread_pool_conf_t, threads),
      NULL },

    { tn_string("thread_pool_max_queue"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      0,
      offsetof(tn_thread_pool_conf_t, max_queue),
      NULL },

      tn_null_command
};


static tn_core_module_t  tn_thread_pool_module_ctx = {
    tn_string("thread_pool"),
    tn_thread_pool_create_conf,
    tn_thread_pool_init_conf
};


tn_module_t  tn_thread_pool_module = {
    TN_MODULE_V1,
    "tn_thread_pool_module",
    &tn_thread_pool_module_ctx,
    tn_thread_pool_commands,
    TN_CORE_MODULE,
    NULL,
    tn_thread_pool_init_worker,
    tn_thread_pool_exit_worker,
    NULL,
    TN_MODULE_V1_PADDING
};


tn_thread_task_t *
tn_thread_task_alloc(size_t size, tn_log_t *log)
{
    tn_thread_task_t  *task;

    task = tn_calloc(sizeof(tn_thread_task_t) + size, log);
    if (task == NULL) {
        return NULL;
    }

    task->ctx = task + 1;

    return task;
}


void
tn_thread_task_free(tn_thread_task_t *task)
{
    tn_free(task);
}


tn_int_t
tn_thread_task_post(tn_thread_task_t *task)
{
    tn_thread_pool_t  *tp;

    tp = &tn_thread_pool;

    if (task->event.active) {
        tn_log_error(TN_LOG_ALERT, tp->log, 0,
                     "task #%ui already active", task->id);
        return TN_ERROR;
    }

    if (tp->tids == NULL) {
        tn_log_error(TN_LOG_ALERT, tp->log, 0, "thread pool is not running");
        return TN_ERROR;
    }

    if (pthread_mutex_lock(&tp->mtx) != 0) {
        return TN_ERROR;
    }

    if (tp->waiting >= tp->max_queue) {
        (void) pthread_mutex_unlock(&tp->mtx);

        tn_log_error(TN_LOG_ERR, tp->log, 0,
                     "thread pool queue overflow: %ui tasks waiting",
                     tp->waiting);
        return TN_ERROR;
    }

    task->event.active = 1;

    task->id = tn_thread_task_id++;
    task->next = NULL;

    *tp->queue.last = task;
    tp->queue.last = &task->next;

    tp->waiting++;
    tp->outstanding++;

    (void) pthread_cond_signal(&tp->cond);

    (void) pthread_mutex_unlock(&tp->mtx);

    return TN_OK;
}


tn_uint_t
tn_thread_pool_queued(void)
{
    return tn_thread_pool.outstanding;
}


static void *
tn_thread_pool_cycle(void *data)
{
    tn_thread_pool_t *tp = data;

    uint64_t           one;
    sigset_t           set;
    tn_thread_task_t  *task;

    /* signals go to the event loop thread only */
    sigfillset(&set);
    (void) pthread_sigmask(SIG_BLOCK, &set, NULL);

    for ( ;; ) {
        if (pthread_mutex_lock(&tp->mtx) != 0) {
            return NULL;
        }

        while (tp->queue.first == NULL && !tp->exiting) {
            (void) pthread_cond_wait(&tp->cond, &tp->mtx);
        }

        task = tp->queue.first;

        if (task == NULL) {
            /* exiting with nothing left to do */
            (void) pthread_mutex_unlock(&tp->mtx);
            return NULL;
        }

        tp->waiting--;
        tp->queue.first = task->next;

        if (tp->queue.first == NULL) {
            tp->queue.last = &tp->queue.first;
        }

        (void) pthread_mutex_unlock(&tp->mtx);

        task->handler(task->ctx, tp->log);

        task->next = NULL;

        (void) pthread_mutex_lock(&tp->mtx);

        *tp->done.last = task;
        tp->done.last = &task->next;

        (void) pthread_mutex_unlock(&tp->mtx);

        one = 1;
        if (write(tp->eventfd, &one, sizeof(uint64_t)) != sizeof(uint64_t)) {
            tn_log_error(TN_LOG_ALERT, tp->log, tn_errno,
                         "write() to eventfd %d failed", tp->eventfd);
        }
    }
}


static void
tn_thread_pool_handler(tn_event_t *ev)
{
    uint64_t            n;
    tn_event_t         *event;
    tn_thread_pool_t   *tp;
    tn_thread_task_t   *task;

    tp = &tn_thread_pool;

    /* drain the counter; the loop is edge-triggered */
    while (read(tp->eventfd, &n, sizeof(uint64_t)) == sizeof(uint64_t)) {
        /* void */
    }

    ev->ready = 0;

    (void) pthread_mutex_lock(&tp->mtx);

    task = tp->done.first;
    tn_thread_pool_queue_init(&tp->done);

    (void) pthread_mutex_unlock(&tp->mtx);

    while (task) {
        event = &task->event;
        task = task->next;

        tp->outstanding--;

        event->active = 0;

        event->handler(event);
    }
}


static tn_int_t
tn_thread_pool_init_worker(tn_cycle_t *cycle)
{
    int                     err;
    tn_uint_t               n;
    tn_thread_pool_t       *tp;
    tn_connection_t        *c;
    tn_thread_pool_conf_t  *tcf;

    /* the workers and the housekeeper */
    if (tn_process != TN_PROCESS_WORKER && tn_process != TN_PROCESS_HELPER) {
        return TN_OK;
    }

    tcf = (tn_thread_pool_conf_t *) tn_get_conf(cycle->conf_ctx,
                                                tn_thread_pool_module);
    tp = &tn_thread_pool;

    tn_memzero(tp, sizeof(tn_thread_pool_t));

    tp->log = cycle->log;
    tp->max_queue = tcf->max_queue;

    tn_thread_pool_queue_init(&tp->queue);
    tn_thread_pool_queue_init(&tp->done);

    if (pthread_mutex_init(&tp->mtx, NULL) != 0
        || pthread_cond_init(&tp->cond, NULL) != 0)
    {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "thread pool mutex/cond init failed");
        return TN_ERROR;
    }

    tp->eventfd = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);
    if (tp->eventfd == -1) {
        tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno, "eventfd() failed");
        return TN_ERROR;
    }

    c = tn_get_connection(tp->eventfd, cycle->log);
    if (c == NULL) {
        return TN_ERROR;
    }

    c->read->handler = tn_thread_pool_handler;
    c->read->log = cycle->log;
    c->log = cycle->log;
    tp->notify = c;

    if (tn_epoll_add_fd(c, EPOLLIN|EPOLLET) != TN_OK) {
        return TN_ERROR;
    }

    tp->tids = tn_calloc(sizeof(pthread_t) * tcf->threads, cycle->log);
    if (tp->tids == NULL) {
        return TN_ERROR;
    }

    for (n = 0; n < tcf->threads; n++) {
        err = pthread_create(&tp->tids[n], NULL, tn_thread_pool_cycle, tp);
        if (err) {
            tn_log_error(TN_LOG_ALERT, cycle->log, err,
                         "pthread_create() failed");
            return TN_ERROR;
        }

        tp->nthreads++;
    }

    return TN_OK;
}


/* runs the queued tasks to the end: they may be deliveries */
static void
tn_thread_pool_exit_worker(tn_cycle_t *cycle)
{
    tn_uint_t          n;
    tn_thread_pool_t  *tp;

    tp = &tn_thread_pool;

    if (tp->tids == NULL) {
        return;
    }

    (void) pthread_mutex_lock(&tp->mtx);
    tp->exiting = 1;
    (void) pthread_cond_broadcast(&tp->cond);
    (void) pthread_mutex_unlock(&tp->mtx);

    for (n = 0; n < tp->nthreads; n++) {
        (void) pthread_join(tp->tids[n], NULL);
    }

    tn_free(tp->tids);
    tp->tids = NULL;
}


static void *
tn_thread_pool_create_conf(tn_cycle_t *cycle)
{
    tn_thread_pool_conf_t  *tcf;

    tcf = tn_pcalloc(cycle->pool, sizeof(tn_thread_pool_conf_t));
    if (tcf == NULL) {
        return NULL;
    }

    tcf->threads = TN_CONF_UNSET_UINT;
    tcf->max_queue = TN_CONF_UNSET_UINT;

    return tcf;
}


static char *
tn_thread_pool_init_conf(tn_cycle_t *cycle, void *conf)
{
    tn_thread_pool_conf_t *tcf = conf;

    tn_conf_init_uint_value(tcf->threads, 4);
    tn_conf_init_uint_value(tcf->max_queue, 65536);

    if (tcf->threads == 0 || tcf->threads > 256) {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "thread_pool_threads must be between 1 and 256");
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}
