
/*
 * Copyright (C) The Tern developers
 */


/*
 * Change notices across workers, and the sync of a session's view.
 *
 * The master maps, once for its whole life (reloads keep it), a table of
 * TN_MAIL_IMAP_NOTIFY_SLOTS 32-bit generation counters shared by every
 * worker.  After each commit that changes a mailbox of user u, the
 * store calls tn_store_changed(u), which adds one, atomically, to the
 * counter of hash(u) -- in whatever process and thread the change was
 * made: SMTP delivery, POP3, another IMAP session.  Users that share a
 * slot only cost each other a spurious sync.
 *
 * Each worker keeps the list of its sessions that have a mailbox
 * selected, and while the list is not empty a timer looks, every
 * TN_MAIL_IMAP_NOTIFY_PERIOD ms, whether the counter of each session's
 * user moved since the session last synced.  If it did, is->notice is
 * set: an idling session is synced at once (its client hears of the
 * change within a period), the others before the tagged line of their
 * next command (tn_mail_imap_finish() in the handler).
 *
 * A sync asks the store what changed since the view's MODSEQ
 * (tn_store_mbox_changes(), index only) and turns it into untagged
 * EXISTS, FETCH and EXPUNGE responses.
 *
 * IDLE (RFC 2177) is here, and the view helpers the command files
 * share: uids and sequence sets, flag lists, and freeing the view, and
 * the thread-pool tasks of the commands (tn_mail_imap_task_alloc()).
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>
#include <tn_mail_imap_search_key.h>

#include <sys/mman.h>


/* 256 KiB, pages touched only for the slots of users that change */
#define TN_MAIL_IMAP_NOTIFY_SLOTS     65536
#define TN_MAIL_IMAP_NOTIFY_PERIOD    200


typedef struct {
    tn_mail_imap_task_t        base;
    uint64_t                   since;
    tn_store_changes_t         changes;
    tn_int_t                   rc;
    tn_uint_t                  expunge;
    void                     (*done)(tn_mail_session_t *s, tn_int_t rc);
} tn_mail_imap_sync_t;


static void tn_mail_imap_notify_changed(int64_t user_id);
static tn_uint_t tn_mail_imap_notify_slot(int64_t user_id);
static void tn_mail_imap_notify_handler(tn_event_t *ev);
static void tn_mail_imap_sync_handler(void *data, tn_log_t *log);
static void tn_mail_imap_sync_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_imap_sync_apply(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_store_changes_t *c, uint64_t since,
    tn_uint_t expunge);
static tn_int_t tn_mail_imap_sync_keywords(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_store_changes_t *c);
static tn_int_t tn_mail_imap_sync_gone(tn_mail_imap_session_t *is,
    uint32_t *uids, tn_uint_t n, tn_uint_t expunge);
static tn_int_t tn_mail_imap_sync_fetch(tn_mail_imap_session_t *is,
    tn_uint_t k);
static tn_int_t tn_mail_imap_view_push(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_store_imsg_t *m);
static tn_int_t tn_mail_imap_vanished_now(tn_mail_imap_session_t *is,
    u_char *gone, tn_uint_t count);
static tn_int_t tn_mail_imap_expunge_now(tn_mail_imap_session_t *is,
    uint32_t *uids, tn_uint_t n);
static tn_uint_t tn_mail_imap_is_pending(tn_mail_imap_session_t *is,
    uint32_t uid);
static tn_uint_t tn_mail_imap_uid_lower(tn_mail_imap_session_t *is,
    uint32_t uid);
static void tn_mail_imap_idle_stop(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static void tn_mail_imap_task_cancel(tn_thread_task_t *task);
static tn_int_t tn_mail_imap_write_flag_names(tn_mail_imap_session_t *is,
    tn_uint_t any);


/* the master's mapping, inherited by every worker; never unmapped */
static volatile uint32_t  *tn_mail_imap_generations;

/* the worker's sessions with a mailbox selected, and the timer */
static tn_queue_t          tn_mail_imap_selected;
static tn_event_t          tn_mail_imap_notify_event;
static tn_uint_t           tn_mail_imap_notify_ready;

/* idling sessions of this worker (imap_max_idle_sessions) */
static tn_uint_t           tn_mail_imap_nidle;


tn_int_t
tn_mail_imap_notify_init_module(tn_cycle_t *cycle)
{
    void    *p;
    size_t   size;

    if (tn_process == TN_PROCESS_CLI || tn_mail_imap_generations != NULL) {
        return TN_OK;
    }

    if (tn_get_conf(cycle->conf_ctx, tn_mail_module) == NULL) {
        return TN_OK;
    }

    size = TN_MAIL_IMAP_NOTIFY_SLOTS * sizeof(uint32_t);

    p = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS,
             -1, 0);

    if (p == MAP_FAILED) {
        tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                     "mmap(MAP_SHARED|MAP_ANONYMOUS, %uz) failed for the "
                     "IMAP change notices", size);
        return TN_ERROR;
    }

    tn_mail_imap_generations = p;

    return TN_OK;
}


tn_int_t
tn_mail_imap_notify_init_process(tn_cycle_t *cycle)
{
    tn_event_t  *ev;

    if (tn_process != TN_PROCESS_WORKER && tn_process != TN_PROCESS_SINGLE) {
        return TN_OK;
    }

    if (tn_mail_imap_generations == NULL) {
        return TN_OK;
    }

    tn_store_changed = tn_mail_imap_notify_changed;

    tn_queue_init(&tn_mail_imap_selected);

    ev = &tn_mail_imap_notify_event;
    tn_memzero(ev, sizeof(tn_event_t));

    ev->handler = tn_mail_imap_notify_handler;
    ev->log = cycle->log;
    ev->data = ev;
    /* a graceful stop does not wait for this timer */
    ev->cancelable = 1;

    tn_mail_imap_notify_ready = 1;

    return TN_OK;
}


/* any thread of any process: cheap, lock-free */

static void
tn_mail_imap_notify_changed(int64_t user_id)
{
    (void) __sync_fetch_and_add(
               &tn_mail_imap_generations[tn_mail_imap_notify_slot(user_id)],
               1);
}


static tn_uint_t
tn_mail_imap_notify_slot(int64_t user_id)
{
    uint64_t  h;

    /* Fibonacci hashing: consecutive ids land far apart */
    h = (uint64_t) user_id * 0x9E3779B97F4A7C15ULL;

    return (tn_uint_t) (h >> 48) & (TN_MAIL_IMAP_NOTIFY_SLOTS - 1);
}


uint32_t
tn_mail_imap_notify_generation(tn_mail_session_t *s)
{
    if (tn_mail_imap_generations == NULL || s->user == NULL) {
        return 0;
    }

    return tn_mail_imap_generations[tn_mail_imap_notify_slot(s->user->id)];
}


void
tn_mail_imap_notify_select(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    if (!tn_mail_imap_notify_ready || is->selected_in) {
        return;
    }

    tn_queue_insert_tail(&tn_mail_imap_selected, &is->selected_link);
    is->selected_in = 1;

    if (!tn_mail_imap_notify_event.timer_set) {
        tn_event_add_timer(&tn_mail_imap_notify_event,
                           TN_MAIL_IMAP_NOTIFY_PERIOD);
    }
}


void
tn_mail_imap_notify_unselect(tn_mail_session_t *s,
    tn_mail_imap_session_t *is)
{
    if (!is->selected_in) {
        return;
    }

    tn_queue_remove(&is->selected_link);
    is->selected_in = 0;

    /* the timer stops by itself once the list is empty */
}


static void
tn_mail_imap_notify_handler(tn_event_t *ev)
{
    uint32_t                 g;
    tn_queue_t              *q, *next;
    tn_mail_session_t       *s;
    tn_mail_imap_session_t  *is;

    ev->timedout = 0;

    for (q = tn_queue_head(&tn_mail_imap_selected);
         q != tn_queue_sentinel(&tn_mail_imap_selected);
         q = next)
    {
        next = tn_queue_next(q);

        is = tn_queue_data(q, tn_mail_imap_session_t, selected_link);
        s = is->session;

        g = tn_mail_imap_notify_generation(s);

        if (g == is->generation) {
            continue;
        }

        is->notice = 1;

        if (is->idling && !s->task && !is->syncing && !is->bye) {
            is->notice = 0;

            if (tn_mail_imap_sync(s, is, 1, tn_mail_imap_idle_synced)
                != TN_OK)
            {
                is->notice = 1;
            }
        }
    }

    if (!tn_queue_empty(&tn_mail_imap_selected)) {
        tn_event_add_timer(ev, TN_MAIL_IMAP_NOTIFY_PERIOD);
    }
}


/*
 * IDLE (RFC 2177).  The continuation goes out, then the session waits
 * for DONE; the change notices of tn_mail_imap_notify.c sync an idling
 * session at once, so the client hears of new mail within a notice
 * period.  The input buffer is given back while nothing is buffered.
 */

tn_int_t
tn_mail_imap_idle(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_mail_imap_srv_conf_t  *iscf;

    iscf = tn_mail_get_module_srv_conf(s, tn_mail_imap_module);

    if (iscf->max_idle && tn_mail_imap_nidle >= iscf->max_idle) {
        return tn_mail_imap_tagged(is, "NO", "[LIMIT] Too many idle "
                                   "sessions, use NOOP");
    }

    if (tn_mail_imap_printf(is, "+ idling" CRLF) != TN_OK) {
        return TN_ERROR;
    }

    is->idling = 1;
    is->idle_counted = 1;
    tn_mail_imap_nidle++;

    /* with its tag kept apart, the command pool can go while idling */
    is->idle_tag.data = tn_alloc(is->parse.tag.len + 1,
                                 s->connection->log);
    if (is->idle_tag.data) {
        tn_memcpy(is->idle_tag.data, is->parse.tag.data,
                  is->parse.tag.len);
        is->idle_tag.len = is->parse.tag.len;
    }

    s->connection->log->action = "idling";

    /* what changed before IDLE is told now */
    if (is->state == tn_imap_state_selected && is->notice) {
        is->notice = 0;

        if (tn_mail_imap_sync(s, is, 1, tn_mail_imap_idle_synced) != TN_OK)
        {
            is->notice = 1;
        }
    }

    return TN_AGAIN;
}


tn_int_t
tn_mail_imap_idle_line(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_str_t *line)
{
    tn_mail_imap_idle_stop(s, is);

    if (line->len == 4
        && tn_strncasecmp(line->data, (u_char *) "DONE", 4) == 0)
    {
        return tn_mail_imap_tagged(is, "OK", "IDLE terminated");
    }

    s->errors++;
    tn_log_error(TN_LOG_INFO, s->connection->log, 0,
                 "client sent no DONE in IDLE");

    return tn_mail_imap_tagged(is, "BAD", "Expected DONE");
}


static void
tn_mail_imap_idle_stop(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    is->idling = 0;

    tn_mail_imap_idle_release(is);

    s->connection->log->action = (is->state == tn_imap_state_selected)
                                 ? "in selected state"
                                 : "in authenticated state";
}


/* the session no longer counts as idling (IDLE over, or closed) */

void
tn_mail_imap_idle_release(tn_mail_imap_session_t *is)
{
    if (is->idle_counted) {
        is->idle_counted = 0;
        tn_mail_imap_nidle--;
    }
}


tn_int_t
tn_mail_imap_sync(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_uint_t expunge, void (*done)(tn_mail_session_t *s, tn_int_t rc))
{
    tn_thread_task_t     *task;
    tn_mail_imap_sync_t  *t;

    if (s->task || is->syncing || is->state != tn_imap_state_selected) {
        return TN_ERROR;
    }

    task = tn_mail_imap_task_alloc(s, sizeof(tn_mail_imap_sync_t), 4096,
                                   tn_mail_imap_sync_handler,
                                   tn_mail_imap_sync_done);
    if (task == NULL) {
        return TN_ERROR;
    }

    t = task->ctx;
    t->since = is->modseq;
    t->expunge = expunge;
    t->done = done;

    /* what changes from now on is seen by the next sync */
    is->generation = tn_mail_imap_notify_generation(s);

    if (tn_mail_imap_task_post(s, task) != TN_AGAIN) {
        return TN_ERROR;
    }

    is->syncing = 1;

    return TN_OK;
}


static void
tn_mail_imap_sync_handler(void *data, tn_log_t *log)
{
    tn_mail_imap_sync_t  *t = data;

    t->rc = tn_store_mbox_changes(t->base.conf, &t->base.user,
                                  t->base.mbox_id, t->since, t->base.pool,
                                  &t->changes, log);
}


static void
tn_mail_imap_sync_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_int_t                  rc;
    tn_mail_imap_sync_t      *t;
    tn_mail_imap_session_t   *is;
    void                    (*done)(tn_mail_session_t *s, tn_int_t rc);

    is = s->data;
    t = task->ctx;
    done = t->done;

    is->syncing = 0;

    rc = TN_OK;

    if (t->rc != TN_OK) {
        /* the view stays; a later notice tries again */
        tn_log_error(TN_LOG_ERR, s->connection->log, 0,
                     "the sync of the selected mailbox failed");

    } else if (is->state == tn_imap_state_selected
               && is->mbox_id == t->base.mbox_id)
    {
        rc = tn_mail_imap_sync_apply(s, is, &t->changes, t->since,
                                     t->expunge);
    }

    tn_mail_imap_task_free(s, task);

    done(s, rc);
}


static tn_int_t
tn_mail_imap_sync_apply(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_store_changes_t *c, uint64_t since, tn_uint_t expunge)
{
    uint32_t         *gone;
    tn_int_t          k;
    tn_uint_t         i, n, full, added, recent;
    tn_store_imsg_t  *r, *m;

    if (c->gone || (c->uidvalidity && c->uidvalidity != is->uidvalidity)) {
        /* RFC 3501 7.1.5: the mailbox is no longer there */
        tn_log_error(TN_LOG_INFO, s->connection->log, 0,
                     "the selected mailbox was deleted or renamed");
        is->bye = 1;
        return tn_mail_imap_printf(is, "* BYE [UNAVAILABLE] The selected "
                                   "mailbox was deleted or renamed" CRLF);
    }

    if (c->nkeywords > is->nkeywords
        && tn_mail_imap_sync_keywords(s, is, c) != TN_OK)
    {
        return TN_ERROR;
    }

    /*
     * The expunged table no longer reaches back to since: changed has
     * every message, and what the view has beyond it is gone.
     */
    full = 0;

    for (i = 0; i < c->nchanged; i++) {
        if (c->changed[i].modseq <= since) {
            full = 1;
            break;
        }
    }

    if (full) {
        gone = tn_alloc((is->nmsgs + 1) * sizeof(uint32_t),
                        s->connection->log);
        if (gone == NULL) {
            return TN_ERROR;
        }

        n = 0;
        k = 0;

        for (i = 0; i < is->nmsgs; i++) {
            /* both are ascending by uid */
            while ((tn_uint_t) k < c->nchanged
                   && c->changed[k].uid < is->msgs[i].uid)
            {
                k++;
            }

            if ((tn_uint_t) k == c->nchanged
                || c->changed[k].uid != is->msgs[i].uid)
            {
                gone[n++] = is->msgs[i].uid;
            }
        }

        if (tn_mail_imap_sync_gone(is, gone, n, expunge) != TN_OK) {
            tn_free(gone);
            return TN_ERROR;
        }

        tn_free(gone);

    } else if (c->nexpunged
               && tn_mail_imap_sync_gone(is, c->expunged, c->nexpunged,
                                         expunge)
                  != TN_OK)
    {
        return TN_ERROR;
    }

    added = 0;

    for (i = 0; i < c->nchanged; i++) {
        r = &c->changed[i];

        k = tn_mail_imap_uid_index(is, r->uid);

        if (k >= 0) {
            m = &is->msgs[k];

            if ((m->flags & ~TN_STORE_F_RECENT) == r->flags
                && m->keywords == r->keywords
                && (!is->condstore || m->modseq == r->modseq))
            {
                m->modseq = r->modseq;
                continue;
            }

            m->flags = r->flags | (m->flags & TN_STORE_F_RECENT);
            m->keywords = r->keywords;
            m->modseq = r->modseq;

            if (!tn_mail_imap_is_pending(is, r->uid)
                && tn_mail_imap_sync_fetch(is, k) != TN_OK)
            {
                return TN_ERROR;
            }

            continue;
        }

        if (is->nmsgs && r->uid <= is->msgs[is->nmsgs - 1].uid) {
            /* not in the view and not new: expunged meanwhile */
            continue;
        }

        if (tn_mail_imap_view_push(s, is, r) != TN_OK) {
            return TN_ERROR;
        }

        added++;
    }

    if (added) {
        if (tn_mail_imap_printf(is, "* %ui EXISTS" CRLF, is->nmsgs)
            != TN_OK)
        {
            return TN_ERROR;
        }

        if (!is->rev2) {
            recent = 0;

            for (i = 0; i < is->nmsgs; i++) {
                if (is->msgs[i].flags & TN_STORE_F_RECENT) {
                    recent++;
                }
            }

            if (tn_mail_imap_printf(is, "* %ui RECENT" CRLF, recent)
                != TN_OK)
            {
                return TN_ERROR;
            }
        }
    }

    if (c->uidnext > is->uidnext) {
        is->uidnext = c->uidnext;
    }

    if (c->highestmodseq > is->modseq) {
        is->modseq = c->highestmodseq;
    }

    return TN_OK;
}


/* new keywords: FLAGS and PERMANENTFLAGS again (RFC 3501 7.2.6) */

static tn_int_t
tn_mail_imap_sync_keywords(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_store_changes_t *c)
{
    if (tn_mail_imap_view_keywords(is, c->keywords, c->nkeywords,
                                   s->connection->log)
        != TN_OK)
    {
        return TN_ERROR;
    }

    return tn_mail_imap_flag_lines(is);
}


/* messages gone from the mailbox: told now, or kept for later */

static tn_int_t
tn_mail_imap_sync_gone(tn_mail_imap_session_t *is, uint32_t *uids,
    tn_uint_t n, tn_uint_t expunge)
{
    uint32_t   *p;
    tn_uint_t   i, size;

    if (expunge) {
        return tn_mail_imap_expunge_now(is, uids, n);
    }

    for (i = 0; i < n; i++) {
        if (tn_mail_imap_uid_index(is, uids[i]) < 0
            || tn_mail_imap_is_pending(is, uids[i]))
        {
            continue;
        }

        size = is->npending + 1;

        p = realloc(is->pending, size * sizeof(uint32_t));
        if (p == NULL) {
            return TN_ERROR;
        }

        is->pending = p;
        is->pending[is->npending++] = uids[i];
    }

    return TN_OK;
}


static tn_uint_t
tn_mail_imap_is_pending(tn_mail_imap_session_t *is, uint32_t uid)
{
    tn_uint_t  i;

    for (i = 0; i < is->npending; i++) {
        if (is->pending[i] == uid) {
            return 1;
        }
    }

    return 0;
}


tn_int_t
tn_mail_imap_flush_expunges(tn_mail_imap_session_t *is)
{
    tn_int_t   rc;
    uint32_t  *p;
    tn_uint_t  n;

    if (is->npending == 0) {
        return TN_OK;
    }

    p = is->pending;
    n = is->npending;

    is->pending = NULL;
    is->npending = 0;

    rc = tn_mail_imap_expunge_now(is, p, n);

    tn_free(p);

    return rc;
}


/*
 * "* n EXPUNGE" for each uid still in the view, from the highest
 * sequence number down so that no number moves under the next one, then
 * the view is compacted once.
 */

static tn_int_t
tn_mail_imap_expunge_now(tn_mail_imap_session_t *is, uint32_t *uids,
    tn_uint_t n)
{
    u_char     *gone;
    tn_int_t    k;
    tn_uint_t   i, j, count;

    if (n == 0 || is->nmsgs == 0) {
        return TN_OK;
    }

    gone = tn_calloc(is->nmsgs, is->session->connection->log);
    if (gone == NULL) {
        return TN_ERROR;
    }

    count = 0;

    for (i = 0; i < n; i++) {
        k = tn_mail_imap_uid_index(is, uids[i]);

        if (k >= 0 && !gone[k]) {
            gone[k] = 1;
            count++;
        }
    }

    if (is->qresync) {
        if (count && tn_mail_imap_vanished_now(is, gone, count) != TN_OK) {
            tn_free(gone);
            return TN_ERROR;
        }

    } else {
        for (i = is->nmsgs; i > 0; i--) {
            if (gone[i - 1]
                && tn_mail_imap_printf(is, "* %ui EXPUNGE" CRLF, i)
                   != TN_OK)
            {
                tn_free(gone);
                return TN_ERROR;
            }
        }
    }

    if (count) {
        for (i = 0, j = 0; i < is->nmsgs; i++) {
            if (!gone[i]) {
                is->msgs[j++] = is->msgs[i];
            }
        }

        is->nmsgs = j;
    }

    tn_free(gone);

    return TN_OK;
}


/* with QRESYNC: one "* VANISHED set" of the messages marked in gone */

static tn_int_t
tn_mail_imap_vanished_now(tn_mail_imap_session_t *is, u_char *gone,
    tn_uint_t count)
{
    u_char     *buf, *p;
    uint32_t   *uids;
    tn_int_t    rc;
    tn_uint_t   i, k;
    tn_log_t   *log;

    log = is->session->connection->log;

    uids = tn_alloc(count * sizeof(uint32_t), log);
    if (uids == NULL) {
        return TN_ERROR;
    }

    buf = tn_alloc(tn_mail_imap_numset_len(count) + 16, log);
    if (buf == NULL) {
        tn_free(uids);
        return TN_ERROR;
    }

    for (i = 0, k = 0; i < is->nmsgs; i++) {
        if (gone[i]) {
            uids[k++] = is->msgs[i].uid;
        }
    }

    p = tn_cpymem(buf, "* VANISHED ", 11);
    p = tn_mail_imap_numset(p, uids, k);
    *p++ = CR;
    *p++ = LF;

    rc = tn_mail_imap_write(is, buf, p - buf);

    tn_free(buf);
    tn_free(uids);

    return rc;
}


/* "* n FETCH (UID u FLAGS (...) [MODSEQ (m)])" */

static tn_int_t
tn_mail_imap_sync_fetch(tn_mail_imap_session_t *is, tn_uint_t k)
{
    u_char           *buf, *p;
    size_t            len;
    tn_int_t          rc;
    tn_store_imsg_t  *m;

    m = &is->msgs[k];

    len = tn_mail_imap_flags_len(is, m) + 128;

    buf = tn_alloc(len, is->session->connection->log);
    if (buf == NULL) {
        return TN_ERROR;
    }

    p = tn_sprintf(buf, "* %ui FETCH (UID %uD FLAGS ", k + 1, m->uid);
    p = tn_mail_imap_flags(is, p, m);

    if (is->condstore) {
        p = tn_sprintf(p, " MODSEQ (%uL)", m->modseq);
    }

    *p++ = ')';
    *p++ = CR;
    *p++ = LF;

    rc = tn_mail_imap_write(is, buf, p - buf);

    tn_free(buf);

    return rc;
}


static tn_int_t
tn_mail_imap_view_push(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_store_imsg_t *m)
{
    size_t            size;
    tn_store_imsg_t  *p;

    if (is->nmsgs == is->msgs_size) {
        size = is->msgs_size ? is->msgs_size * 2 : 16;

        p = tn_alloc(size * sizeof(tn_store_imsg_t), s->connection->log);
        if (p == NULL) {
            return TN_ERROR;
        }

        if (is->nmsgs) {
            tn_memcpy(p, is->msgs, is->nmsgs * sizeof(tn_store_imsg_t));
        }

        if (is->msgs) {
            tn_free(is->msgs);
        }

        is->msgs = p;
        is->msgs_size = size;
    }

    is->msgs[is->nmsgs] = *m;
    is->msgs[is->nmsgs].flags &= ~TN_STORE_F_RECENT;
    is->nmsgs++;

    return TN_OK;
}


/* the index of uid in the view, or -1 */

tn_int_t
tn_mail_imap_uid_index(tn_mail_imap_session_t *is, uint32_t uid)
{
    tn_uint_t  lo, hi, mid;

    lo = 0;
    hi = is->nmsgs;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (is->msgs[mid].uid == uid) {
            return (tn_int_t) mid;
        }

        if (is->msgs[mid].uid < uid) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return -1;
}


/* the first index whose uid is >= uid */

static tn_uint_t
tn_mail_imap_uid_lower(tn_mail_imap_session_t *is, uint32_t uid)
{
    tn_uint_t  lo, hi, mid;

    lo = 0;
    hi = is->nmsgs;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (is->msgs[mid].uid < uid) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return lo;
}


tn_int_t
tn_mail_imap_seqset_uids(tn_mail_imap_session_t *is, tn_pool_t *pool,
    tn_str_t *set, tn_uint_t uid, uint32_t **uids, tn_uint_t *n)
{
    size_t               off;
    int32_t             *diff, depth;
    uint32_t            *out, star;
    tn_int_t             rc, k;
    tn_uint_t            i, count, first, last, saved;
    tn_mail_imap_seq_t   r;

    if (tn_mail_imap_seqset_check(set) != TN_OK) {
        return TN_ERROR;
    }

    /*
     * Each range adds one at its first index and takes one away after
     * its last: the cost is the ranges plus the view, not their product
     * ("1:*,1:*,..." in a line of many KB over a large mailbox).
     */
    diff = tn_pcalloc(pool, (is->nmsgs + 1) * sizeof(int32_t));
    if (diff == NULL) {
        return TN_ERROR;
    }

    if (uid) {
        star = is->nmsgs ? is->msgs[is->nmsgs - 1].uid : 0;

    } else {
        star = (uint32_t) is->nmsgs;
    }

    off = 0;
    saved = 0;

    for ( ;; ) {
        rc = tn_mail_imap_seqset_next(set, &off, star, &r);

        if (rc == TN_DONE) {
            break;
        }

        if (rc != TN_OK) {
            return TN_ERROR;
        }

        if (r.saved) {
            /* "$": the uids of the last SEARCH ... RETURN (SAVE), once */
            if (saved++) {
                continue;
            }

            for (i = 0; i < is->nsaved; i++) {
                k = tn_mail_imap_uid_index(is, is->saved[i]);
                if (k >= 0) {
                    diff[k]++;
                    diff[k + 1]--;
                }
            }

            continue;
        }

        if (uid) {
            first = tn_mail_imap_uid_lower(is, r.first == 0 ? 1 : r.first);
            last = (r.last == TN_MAIL_IMAP_SEQ_MAX)
                   ? is->nmsgs : tn_mail_imap_uid_lower(is, r.last + 1);

        } else {
            if (r.first == 0 || r.last > is->nmsgs) {
                return TN_DECLINED;
            }

            first = r.first - 1;
            last = r.last;
        }

        if (first < last) {
            diff[first]++;
            diff[last]--;
        }
    }

    count = 0;
    depth = 0;

    for (i = 0; i < is->nmsgs; i++) {
        depth += diff[i];
        count += (depth > 0);
    }

    out = tn_palloc(pool, (count + 1) * sizeof(uint32_t));
    if (out == NULL) {
        return TN_ERROR;
    }

    count = 0;
    depth = 0;

    for (i = 0; i < is->nmsgs; i++) {
        depth += diff[i];

        if (depth > 0) {
            out[count++] = is->msgs[i].uid;
        }
    }

    *uids = out;
    *n = count;

    return TN_OK;
}


/* flags */

static tn_str_t  tn_mail_imap_system_flags[] = {
    tn_string("\\Seen"),
    tn_string("\\Answered"),
    tn_string("\\Flagged"),
    tn_string("\\Deleted"),
    tn_string("\\Draft"),
    tn_string("\\Recent")
};


size_t
tn_mail_imap_flags_len(tn_mail_imap_session_t *is, tn_store_imsg_t *m)
{
    size_t     len;
    tn_uint_t  i;

    len = 2;

    for (i = 0; i < 6; i++) {
        if (m->flags & (1 << i)) {
            len += tn_mail_imap_system_flags[i].len + 1;
        }
    }

    for (i = 0; i < is->nkeywords && i < 64; i++) {
        if (m->keywords & ((uint64_t) 1 << i)) {
            len += is->keywords[i].len + 1;
        }
    }

    return len;
}


u_char *
tn_mail_imap_flags(tn_mail_imap_session_t *is, u_char *dst,
    tn_store_imsg_t *m)
{
    u_char     *start;
    tn_uint_t   i;

    start = dst;
    *dst++ = '(';

    for (i = 0; i < 6; i++) {
        if (!(m->flags & (1 << i))) {
            continue;
        }

        if ((1 << i) == TN_STORE_F_RECENT && is->rev2) {
            /* IMAP4rev2 has no \Recent */
            continue;
        }

        if (dst > start + 1) {
            *dst++ = ' ';
        }

        dst = tn_cpymem(dst, tn_mail_imap_system_flags[i].data,
                        tn_mail_imap_system_flags[i].len);
    }

    for (i = 0; i < is->nkeywords && i < 64; i++) {
        if (!(m->keywords & ((uint64_t) 1 << i))) {
            continue;
        }

        if (dst > start + 1) {
            *dst++ = ' ';
        }

        dst = tn_cpymem(dst, is->keywords[i].data, is->keywords[i].len);
    }

    *dst++ = ')';

    return dst;
}


tn_int_t
tn_mail_imap_flags_parse(tn_pool_t *pool, tn_mail_imap_arg_t *arg,
    uint32_t *flags, tn_str_t **kw, tn_uint_t *nkw)
{
    tn_str_t            *v, *k;
    tn_uint_t            i, n;
    tn_mail_imap_arg_t  *a, *first;

    *flags = 0;
    *kw = NULL;
    *nkw = 0;

    if (arg->type == TN_MAIL_IMAP_ARG_LIST) {
        first = arg->list;
        n = arg->nelts;

    } else if (arg->type == TN_MAIL_IMAP_ARG_ATOM) {
        first = arg;
        n = 1;

    } else {
        return TN_ERROR;
    }

    if (n) {
        *kw = tn_palloc(pool, n * sizeof(tn_str_t));
        if (*kw == NULL) {
            return TN_ERROR;
        }
    }

    for (a = first; a && n; a = a->next, n--) {

        if (a->type != TN_MAIL_IMAP_ARG_ATOM || a->section) {
            return TN_ERROR;
        }

        v = &a->value;

        if (v->len && v->data[0] == '\\') {

            for (i = 0; i < 5; i++) {
                if (v->len == tn_mail_imap_system_flags[i].len
                    && tn_strncasecmp(v->data,
                                      tn_mail_imap_system_flags[i].data,
                                      v->len)
                       == 0)
                {
                    *flags |= 1 << i;
                    break;
                }
            }

            if (i == 5) {
                /* \Recent, an unknown system flag */
                return TN_ERROR;
            }

            continue;
        }

        if (v->len == 0 || v->len > TN_STORE_KEYWORD_LEN_MAX) {
            return TN_ERROR;
        }

        for (i = 0; i < v->len; i++) {
            /* atom chars but "]" (resp-specials), "%" and "*" */
            if (v->data[i] == ']' || v->data[i] == '%' || v->data[i] == '*')
            {
                return TN_ERROR;
            }
        }

        k = *kw;

        for (i = 0; i < *nkw; i++) {
            if (k[i].len == v->len
                && tn_strncasecmp(k[i].data, v->data, v->len) == 0)
            {
                break;
            }
        }

        if (i == *nkw) {
            k[(*nkw)++] = *v;
        }
    }

    return TN_OK;
}


/* "(\Answered ... keywords [\*])" */

static tn_int_t
tn_mail_imap_write_flag_names(tn_mail_imap_session_t *is, tn_uint_t any)
{
    tn_uint_t  i;

    if (tn_mail_imap_write(is, (u_char *) "(\\Answered \\Flagged \\Deleted "
                           "\\Seen \\Draft",
                           sizeof("(\\Answered \\Flagged \\Deleted "
                                  "\\Seen \\Draft") - 1)
        != TN_OK)
    {
        return TN_ERROR;
    }

    for (i = 0; i < is->nkeywords; i++) {
        if (tn_mail_imap_write(is, (u_char *) " ", 1) != TN_OK
            || tn_mail_imap_write(is, is->keywords[i].data,
                                  is->keywords[i].len)
               != TN_OK)
        {
            return TN_ERROR;
        }
    }

    if (any && is->nkeywords < TN_STORE_KEYWORDS_MAX) {
        if (tn_mail_imap_write(is, (u_char *) " \\*", 3) != TN_OK) {
            return TN_ERROR;
        }
    }

    return tn_mail_imap_write(is, (u_char *) ")", 1);
}



/*
 * The flags of the view: "* FLAGS (...)" and "* OK [PERMANENTFLAGS
 * (...)] ...", after SELECT and when new keywords come (RFC 3501 7.2.6).
 */

tn_int_t
tn_mail_imap_flag_lines(tn_mail_imap_session_t *is)
{
    if (tn_mail_imap_write(is, (u_char *) "* FLAGS ", 8) != TN_OK
        || tn_mail_imap_write_flag_names(is, 0) != TN_OK
        || tn_mail_imap_write(is, (u_char *) CRLF, 2) != TN_OK)
    {
        return TN_ERROR;
    }

    if (is->readonly) {
        return tn_mail_imap_printf(is, "* OK [PERMANENTFLAGS ()] Read-only "
                                   "mailbox" CRLF);
    }

    if (tn_mail_imap_write(is, (u_char *) "* OK [PERMANENTFLAGS ", 21)
        != TN_OK
        || tn_mail_imap_write_flag_names(is, 1) != TN_OK)
    {
        return TN_ERROR;
    }

    return tn_mail_imap_printf(is, "] Flags permitted" CRLF);
}


/* uid in uids (ascending) */

tn_uint_t
tn_mail_imap_uid_in(uint32_t *uids, tn_uint_t n, uint32_t uid)
{
    tn_uint_t  lo, hi, mid;

    lo = 0;
    hi = n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (uids[mid] == uid) {
            return 1;
        }

        if (uids[mid] < uid) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return 0;
}


/*
 * RFC 7162 3.1: the first CONDSTORE-enabling command of a session with a
 * mailbox selected tells HIGHESTMODSEQ: that of the view, which may be
 * ahead of its last sync point with the session's own changes.
 */

tn_int_t
tn_mail_imap_condstore(tn_mail_imap_session_t *is)
{
    uint64_t   modseq;
    tn_uint_t  i;

    if (is->condstore) {
        return TN_OK;
    }

    is->condstore = 1;
    modseq = is->modseq;

    for (i = 0; i < is->nmsgs; i++) {
        if (is->msgs[i].modseq > modseq) {
            modseq = is->msgs[i].modseq;
        }
    }

    return tn_mail_imap_printf(is, "* OK [HIGHESTMODSEQ %uL] Highest" CRLF,
                               modseq);
}


/* the view */

tn_int_t
tn_mail_imap_view_keywords(tn_mail_imap_session_t *is, tn_str_t *kw,
    tn_uint_t n, tn_log_t *log)
{
    u_char     *p;
    tn_uint_t   i;

    for (i = is->nkeywords; i < n && i < TN_STORE_KEYWORDS_MAX; i++) {
        p = tn_alloc(kw[i].len + 1, log);
        if (p == NULL) {
            return TN_ERROR;
        }

        tn_memcpy(p, kw[i].data, kw[i].len);
        p[kw[i].len] = '\0';

        is->keywords[i].data = p;
        is->keywords[i].len = kw[i].len;
        is->nkeywords = i + 1;
    }

    return TN_OK;
}


void
tn_mail_imap_view_free(tn_mail_imap_session_t *is)
{
    tn_uint_t  i;

    tn_mail_imap_notify_unselect(is->session, is);

    if (is->msgs) {
        tn_free(is->msgs);
        is->msgs = NULL;
    }

    is->nmsgs = 0;
    is->msgs_size = 0;

    for (i = 0; i < is->nkeywords; i++) {
        if (is->keywords[i].data) {
            tn_free(is->keywords[i].data);
            is->keywords[i].data = NULL;
        }
    }

    is->nkeywords = 0;

    if (is->mbox_name.data) {
        tn_free(is->mbox_name.data);
        is->mbox_name.data = NULL;
        is->mbox_name.len = 0;
    }

    if (is->pending) {
        tn_free(is->pending);
        is->pending = NULL;
    }

    is->npending = 0;

    if (is->saved) {
        tn_free(is->saved);
        is->saved = NULL;
    }

    is->nsaved = 0;

    is->mbox_id = 0;
    is->readonly = 0;
    is->notice = 0;
}


/* the tasks of the commands */

tn_thread_task_t *
tn_mail_imap_task_alloc(tn_mail_session_t *s, size_t size, size_t pool_size,
    void (*handler)(void *data, tn_log_t *log),
    void (*done)(tn_mail_session_t *s, tn_thread_task_t *task))
{
    tn_pool_t               *pool;
    tn_thread_task_t        *task;
    tn_mail_imap_task_t     *t;
    tn_mail_imap_session_t  *is;

    is = s->data;

    pool = tn_create_pool(pool_size, s->connection->log);
    if (pool == NULL) {
        return NULL;
    }

    task = tn_mail_task_alloc(s, size, handler, done);
    if (task == NULL) {
        tn_destroy_pool(pool);
        return NULL;
    }

    t = task->ctx;
    t->ctx.cancel = tn_mail_imap_task_cancel;
    t->task = task;
    t->conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);
    t->user = *s->user;
    t->mbox_id = is->mbox_id;
    t->pool = pool;

    return task;
}


tn_int_t
tn_mail_imap_task_post(tn_mail_session_t *s, tn_thread_task_t *task)
{
    if (tn_mail_task_post(s, task) != TN_OK) {
        tn_mail_imap_task_free(s, task);
        return TN_ERROR;
    }

    return TN_AGAIN;
}


void
tn_mail_imap_task_free(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_mail_imap_task_cancel(task);
    tn_mail_task_free(s, task);
}


/* the session closed while the task was out, or the task is over */

static void
tn_mail_imap_task_cancel(tn_thread_task_t *task)
{
    tn_mail_imap_task_t  *t;

    t = task->ctx;

    if (t->release) {
        t->release(task);
        t->release = NULL;
    }

    if (t->pool) {
        tn_destroy_pool(t->pool);
        t->pool = NULL;
    }
}
