
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_THREAD_POOL_H_INCLUDED_
#define _TN_THREAD_POOL_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


/*
 * The per-worker pool of threads for blocking work (fsync, SQLite,
 * password hashing).  A task's handler runs in a pool thread and must not
 * touch event-loop state; when it returns, task->event.handler runs in the
 * event loop with task->event.data set by the poster.
 *
 * Ownership: a task and its ctx belong to the poster until the completion
 * handler runs.  A session that closes while its task is out must not
 * free the task: it clears its pointer in ctx, and the completion handler
 * sees that and frees the task (tn_thread_task_free).
 */
struct tn_thread_task_s {
    tn_thread_task_t    *next;
    tn_uint_t            id;
    void                *ctx;
    void               (*handler)(void *data, tn_log_t *log);
    tn_event_t           event;
    tn_log_t            *log;
};


/* task and a ctx of size bytes, both zeroed, from malloc() */
tn_thread_task_t *tn_thread_task_alloc(size_t size, tn_log_t *log);
void tn_thread_task_free(tn_thread_task_t *task);

/* TN_OK, or TN_ERROR when the queue is full or the pool is down */
tn_int_t tn_thread_task_post(tn_thread_task_t *task);

/* tasks queued and running, for status output */
tn_uint_t tn_thread_pool_queued(void);


extern tn_module_t  tn_thread_pool_module;


#endif /* _TN_THREAD_POOL_H_INCLUDED_ */
