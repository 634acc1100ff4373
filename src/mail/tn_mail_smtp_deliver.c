
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_smtp.h>


/*
 * Group commit of incoming messages.  Messages whose DATA is over wait in
 * a per-worker list; while no batch is in flight, one thread task takes
 * all of them (up to TN_MAIL_SMTP_BATCH_MAX) and runs tn_store_deliver(),
 * which shares the fsyncs of folders and one index transaction per user
 * among them.  When the task is back, each waiting session gets its
 * reply, and what queued up meanwhile goes out as the next batch.  So a
 * busy worker has one batch on disk and the next one filling up.
 *
 * The items are malloc()ed, not taken from a session pool: a session may
 * close while its message is in a batch.  It then only clears
 * item->session; the batch still completes the delivery (the client
 * never saw a 250, which is allowed) and frees the item.
 */


typedef struct {
    tn_store_conf_t            *conf;
    tn_uint_t                   n;
    tn_store_delivery_t        *d[TN_MAIL_SMTP_BATCH_MAX];
    tn_mail_smtp_delivery_t    *items[TN_MAIL_SMTP_BATCH_MAX];
} tn_mail_smtp_batch_t;


static tn_int_t tn_mail_smtp_batch_post(tn_log_t *log);
static void tn_mail_smtp_batch_thread(void *data, tn_log_t *log);
static void tn_mail_smtp_batch_done(tn_event_t *ev);
static void tn_mail_smtp_item_finish(tn_mail_smtp_delivery_t *item);


/* the waiting items of this worker, and whether a batch is out */
static tn_queue_t  tn_mail_smtp_pending;
static tn_uint_t   tn_mail_smtp_pending_init;
static tn_uint_t   tn_mail_smtp_in_flight;


tn_mail_smtp_delivery_t *
tn_mail_smtp_deliver(tn_mail_session_t *s, char *spool_path, off_t size,
    off_t vsize, tn_store_user_t *rcpts, tn_uint_t nrcpts,
    tn_store_queue_env_t *queue, tn_mail_smtp_delivered_pt done,
    tn_store_edit_t *edits, tn_uint_t nedits, tn_uint_t junk)
{
    u_char                   *p;
    size_t                    len;
    tn_log_t                 *log;
    tn_uint_t                 i;
    tn_mail_smtp_delivery_t  *item;

    log = tn_cycle->log;

    if (!tn_mail_smtp_pending_init) {
        tn_queue_init(&tn_mail_smtp_pending);
        tn_mail_smtp_pending_init = 1;
    }

    len = sizeof(tn_mail_smtp_delivery_t)
          + nrcpts * (sizeof(tn_store_user_t) + sizeof(uint32_t));

    /* the edits and their data follow, aligned after the uids */
    len = tn_align(len, sizeof(off_t)) + nedits * sizeof(tn_store_edit_t);

    for (i = 0; i < nedits; i++) {
        len += edits[i].size;
    }

    item = tn_alloc(len, s->connection->log);
    if (item == NULL) {
        return NULL;
    }

    tn_memzero(item, sizeof(tn_mail_smtp_delivery_t));

    item->session = s;
    item->done = done;
    item->log = log;

    (void) tn_cpystrn((u_char *) item->d.spool_path, (u_char *) spool_path,
                      PATH_MAX);
    item->d.size = size;
    item->d.vsize = vsize;
    item->d.internaldate = tn_time();
    item->d.nrcpts = nrcpts;
    item->d.rcpts = (tn_store_user_t *) (item + 1);
    item->d.uids = (uint32_t *) (item->d.rcpts + nrcpts);
    item->d.rc = TN_ERROR;
    item->d.queue = queue;

    /* no local recipients: rcpts may be NULL (remote ones only) */
    if (nrcpts) {
        tn_memcpy(item->d.rcpts, rcpts, nrcpts * sizeof(tn_store_user_t));
    }

    item->d.junk = junk ? 1 : 0;

    if (nedits) {
        item->d.edits = (tn_store_edit_t *)
            tn_align_ptr(item->d.uids + nrcpts, sizeof(off_t));
        item->d.nedits = nedits;

        p = (u_char *) (item->d.edits + nedits);

        for (i = 0; i < nedits; i++) {
            item->d.edits[i] = edits[i];

            if (edits[i].size) {
                item->d.edits[i].data = p;
                p = tn_cpymem(p, edits[i].data, edits[i].size);
            }
        }
    }

    tn_queue_insert_tail(&tn_mail_smtp_pending, &item->queue);

    if (!tn_mail_smtp_in_flight) {
        /* a failure answers the queued items (this one too) later */
        (void) tn_mail_smtp_batch_post(log);
    }

    return item;
}


/*
 * Takes the waiting items into one task.  When the task cannot be posted
 * the items fail with a 451 from a posted event, never from inside the
 * caller: the caller's session must not be answered (or closed) while it
 * is still in tn_mail_smtp_deliver().
 */
static tn_int_t
tn_mail_smtp_batch_post(tn_log_t *log)
{
    tn_queue_t               *q;
    tn_thread_task_t         *task;
    tn_mail_smtp_batch_t     *b;
    tn_mail_smtp_delivery_t  *item;

    task = tn_thread_task_alloc(sizeof(tn_mail_smtp_batch_t), log);
    if (task == NULL) {
        goto failed;
    }

    b = task->ctx;
    b->conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);

    while (!tn_queue_empty(&tn_mail_smtp_pending)
           && b->n < TN_MAIL_SMTP_BATCH_MAX)
    {
        q = tn_queue_head(&tn_mail_smtp_pending);
        tn_queue_remove(q);

        item = tn_queue_data(q, tn_mail_smtp_delivery_t, queue);

        b->items[b->n] = item;
        b->d[b->n] = &item->d;
        b->n++;
    }

    task->handler = tn_mail_smtp_batch_thread;
    task->event.handler = tn_mail_smtp_batch_done;
    task->event.data = task;
    task->event.log = log;

    if (tn_thread_task_post(task) != TN_OK) {
        /* the items go back, the failure is answered from the event */
        task->handler = NULL;
        tn_post_event(&task->event, &tn_posted_events);
        tn_mail_smtp_in_flight = 1;
        return TN_ERROR;
    }

    tn_log_debug1(TN_LOG_DEBUG_MAIL, log, 0,
                  "smtp delivery batch of %ui", b->n);

    tn_mail_smtp_in_flight = 1;

    return TN_OK;

failed:

    tn_log_error(TN_LOG_CRIT, log, 0, "smtp delivery batch failed");

    /* the items stay queued; the next message retries the batch */

    return TN_ERROR;
}


/* in a pool thread */
static void
tn_mail_smtp_batch_thread(void *data, tn_log_t *log)
{
    tn_mail_smtp_batch_t  *b = data;

    tn_store_deliver(b->conf, b->d, b->n, log);
}


static void
tn_mail_smtp_batch_done(tn_event_t *ev)
{
    tn_uint_t              i;
    tn_log_t              *log;
    tn_thread_task_t      *task;
    tn_mail_smtp_batch_t  *b;

    task = ev->data;
    b = task->ctx;
    log = ev->log;

    if (task->handler == NULL) {
        /* never ran: the spool files are still there */
        for (i = 0; i < b->n; i++) {
            b->d[i]->rc = TN_ERROR;
            b->d[i]->err = 0;

            if (unlink(b->d[i]->spool_path) == -1) {
                tn_log_error(TN_LOG_CRIT, log, tn_errno,
                             "unlink(\"%s\") failed", b->d[i]->spool_path);
            }
        }
    }

    tn_mail_smtp_in_flight = 0;

    /* the next batch first: the replies below may queue more */

    if (!tn_queue_empty(&tn_mail_smtp_pending)) {
        (void) tn_mail_smtp_batch_post(log);
    }

    for (i = 0; i < b->n; i++) {
        tn_mail_smtp_item_finish(b->items[i]);
    }

    tn_thread_task_free(task);
}


static void
tn_mail_smtp_item_finish(tn_mail_smtp_delivery_t *item)
{
    tn_mail_session_t  *s;

    s = item->session;

    if (s == NULL) {
        tn_log_error(TN_LOG_INFO, item->log, 0,
                     "smtp delivery of %s finished with %i after the "
                     "session closed", item->d.spool_path, item->d.rc);

    } else {
        item->done(s, &item->d);
    }

    if (item->d.queue) {
        tn_free(item->d.queue);
    }

    tn_free(item);
}
