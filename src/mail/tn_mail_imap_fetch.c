
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>
#include <tn_mail_imap_fetch.h>
#include <tn_mail_imap_qresync.h>


/*
 * FETCH and UID FETCH (the files of FETCH and STORE: see
 * tn_mail_imap_fetch.h).
 *
 * FETCH items come from three places: the session's view (FLAGS, UID,
 * INTERNALDATE, RFC822.SIZE, MODSEQ), the header cache of the index
 * (ENVELOPE, BODY, BODYSTRUCTURE, HEADER and HEADER.FIELDS of the whole
 * message) and the message file (every other section).  A FETCH of view
 * items only is written in the event loop; otherwise the event loop
 * renders the view part of each response of a batch, and a thread-pool
 * task adds the rest, message by message, until the batch's output
 * passes TN_MAIL_IMAP_BATCH_OUTPUT (one message at least); the output
 * is sent, then the next batch goes out.  A message expunged meanwhile
 * (its index row or its file is gone) is skipped without a response
 * (RFC 2180 4.1.1: the tagged OK still comes); its EXPUNGE comes with
 * the next sync.
 *
 * A body section fetched without PEEK in a read-write mailbox sets \Seen
 * first (one STORE for all the messages of the command that lack it);
 * the responses of those messages then include FLAGS.
 */


/* the task of UID FETCH (... VANISHED) */
typedef struct {
    tn_mail_imap_task_t         base;
    uint64_t                    since;
    tn_int_t                    rc;
    tn_store_changes_t          changes;
} tn_mail_imap_changes_t;


static tn_int_t tn_mail_imap_fetch_start(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_fetch_vanished(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static void tn_mail_imap_fetch_changes(void *data, tn_log_t *log);
static void tn_mail_imap_fetch_vanished_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static u_char *tn_mail_imap_fetch_head(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, u_char *p, tn_uint_t i, tn_uint_t *nitems);
static size_t tn_mail_imap_fetch_head_len(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_uint_t i);
static tn_uint_t tn_mail_imap_fetch_wants(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_uint_t i);
static tn_int_t tn_mail_imap_fetch_view(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_fetch_post(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static void tn_mail_imap_fetch_release(tn_thread_task_t *task);
static void tn_mail_imap_fetch_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_imap_fetch_flush(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static void tn_mail_imap_fetch_sent(tn_mail_session_t *s);
static tn_int_t tn_mail_imap_fetch_finish(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);


/* FETCH, UID FETCH: "set items [modifiers]" */

tn_int_t
tn_mail_imap_fetch(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_int_t               rc;
    tn_mail_imap_arg_t    *arg;
    tn_mail_imap_fetch_t  *f;

    arg = is->parse.args;

    if (arg == NULL || arg->next == NULL
        || (arg->type != TN_MAIL_IMAP_ARG_ATOM
            && arg->type != TN_MAIL_IMAP_ARG_NUMBER))
    {
        return tn_mail_imap_tagged(is, "BAD", "Invalid arguments");
    }

    f = tn_pcalloc(is->cmd_pool, sizeof(tn_mail_imap_fetch_t));
    if (f == NULL) {
        return TN_ERROR;
    }

    rc = tn_mail_imap_seqset_uids(is, is->cmd_pool, &arg->value,
                                  is->parse.uid, &f->uids, &f->nuids);

    if (rc == TN_DECLINED) {
        return tn_mail_imap_tagged(is, "BAD",
                                   "Invalid message sequence number");
    }

    if (rc != TN_OK) {
        return tn_mail_imap_tagged(is, "BAD", "Invalid sequence set");
    }

    rc = tn_mail_imap_fetch_parse(is, f, arg->next);

    if (rc == TN_DONE) {
        return TN_OK;
    }

    if (rc != TN_OK) {
        return rc;
    }

    is->cmd_ctx = f;
    is->nfetch++;

    if (f->vanished) {
        /* RFC 7162 3.2.6: UID FETCH with CHANGEDSINCE, QRESYNC enabled */
        if (!is->parse.uid || !f->changed || !is->qresync) {
            is->cmd_ctx = NULL;
            return tn_mail_imap_tagged(is, "BAD", "VANISHED needs UID "
                                       "FETCH, CHANGEDSINCE and QRESYNC");
        }

        f->set = arg->value;

        return tn_mail_imap_fetch_vanished(s, is);
    }

    return tn_mail_imap_fetch_start(s, is);
}


/* VANISHED: the expunged uids since CHANGEDSINCE, from the store */

static tn_int_t
tn_mail_imap_fetch_vanished(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_thread_task_t          *task;
    tn_mail_imap_fetch_t      *f;
    tn_mail_imap_changes_t    *t;

    f = is->cmd_ctx;

    task = tn_mail_imap_task_alloc(s, sizeof(tn_mail_imap_changes_t), 4096,
                                   tn_mail_imap_fetch_changes,
                                   tn_mail_imap_fetch_vanished_done);
    if (task == NULL) {
        is->cmd_ctx = NULL;
        return tn_mail_imap_unavailable(is);
    }

    t = task->ctx;
    t->since = f->changedsince;

    if (tn_mail_imap_task_post(s, task) != TN_AGAIN) {
        is->cmd_ctx = NULL;
        return tn_mail_imap_unavailable(is);
    }

    return TN_AGAIN;
}


static void
tn_mail_imap_fetch_changes(void *data, tn_log_t *log)
{
    tn_mail_imap_task_t     *b;
    tn_mail_imap_changes_t  *t = data;

    b = &t->base;

    t->rc = tn_store_mbox_changes(b->conf, &b->user, b->mbox_id, t->since,
                                  b->pool, &t->changes, log);
}


static void
tn_mail_imap_fetch_vanished_done(tn_mail_session_t *s,
    tn_thread_task_t *task)
{
    tn_int_t                  rc;
    tn_uint_t                 n;
    tn_mail_imap_fetch_t     *f;
    tn_mail_imap_changes_t   *t;
    tn_mail_imap_session_t   *is;
    tn_mail_imap_qr_range_t  *r;

    is = s->data;
    f = is->cmd_ctx;
    t = task->ctx;

    if (t->rc != TN_OK) {
        /* what the view lacks of the set is told instead */
        tn_memzero(&t->changes, sizeof(tn_store_changes_t));
        t->changes.pruned = 1;
    }

    rc = tn_mail_imap_qr_ranges(t->base.pool, &f->set,
                                is->uidnext > 1 ? is->uidnext - 1 : 1,
                                &r, &n);

    if (rc == TN_OK) {
        rc = tn_mail_imap_qr_vanished(is, &t->changes, r, n);
    }

    tn_mail_imap_task_free(s, task);

    if (rc != TN_OK) {
        is->cmd_ctx = NULL;
        tn_mail_imap_command_done(s, TN_ERROR);
        return;
    }

    rc = tn_mail_imap_fetch_start(s, is);

    if (rc != TN_AGAIN) {
        tn_mail_imap_command_done(s, rc);
    }
}


/* \Seen first when the command sets it, then the batches */

static tn_int_t
tn_mail_imap_fetch_start(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_int_t               n;
    tn_uint_t              i, k;
    uint32_t              *uids;
    tn_store_flag_op_t     op;
    tn_mail_imap_fetch_t  *f;

    f = is->cmd_ctx;

    if (f->set_seen && !is->readonly && f->nuids) {
        uids = tn_palloc(is->cmd_pool, f->nuids * sizeof(uint32_t));
        if (uids == NULL) {
            return TN_ERROR;
        }

        for (k = 0, i = 0; i < f->nuids; i++) {
            n = tn_mail_imap_uid_index(is, f->uids[i]);

            if (n >= 0 && !(is->msgs[n].flags & TN_STORE_F_SEEN)
                && (f->changedsince == 0
                    || is->msgs[n].modseq > f->changedsince))
            {
                uids[k++] = f->uids[i];
            }
        }

        if (k) {
            f->seen = uids;
            f->nseen = k;

            tn_memzero(&op, sizeof(tn_store_flag_op_t));
            op.op = TN_STORE_FLAGS_ADD;
            op.flags = TN_STORE_F_SEEN;

            return tn_mail_imap_store_post(s, is, uids, k, &op);
        }
    }

    return tn_mail_imap_fetch_batch(s, is);
}


/* the next batch, or the end of the command */

tn_int_t
tn_mail_imap_fetch_batch(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_mail_imap_fetch_t  *f;

    f = is->cmd_ctx;

    if (f->next == f->nuids) {
        return tn_mail_imap_fetch_finish(s, is);
    }

    if (f->cost == TN_MAIL_IMAP_SCOST_VIEW) {
        return tn_mail_imap_fetch_view(s, is);
    }

    return tn_mail_imap_fetch_post(s, is);
}


static tn_int_t
tn_mail_imap_fetch_finish(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_mail_imap_fetch_t  *f;

    f = is->cmd_ctx;
    is->cmd_ctx = NULL;

    if (f->unknown_cte) {
        return tn_mail_imap_tagged(is, "NO", "[UNKNOWN-CTE] Can't decode "
                                   "a part's Content-Transfer-Encoding");
    }

    return tn_mail_imap_tagged(is, "OK", "Fetch completed");
}


/* the message at f->uids[i] is to be answered (CHANGEDSINCE) */

static tn_uint_t
tn_mail_imap_fetch_wants(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_uint_t i)
{
    tn_int_t  n;

    n = tn_mail_imap_uid_index(is, f->uids[i]);

    if (n < 0) {
        return 0;
    }

    return f->changedsince == 0 || is->msgs[n].modseq > f->changedsince;
}


static size_t
tn_mail_imap_fetch_head_len(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_uint_t i)
{
    tn_int_t  n;

    n = tn_mail_imap_uid_index(is, f->uids[i]);

    return sizeof("* 4294967295 FETCH (UID 4294967295 INTERNALDATE \"\" "
                  "RFC822.SIZE 18446744073709551615 "
                  "MODSEQ (18446744073709551615) FLAGS ") - 1
           + TN_MAIL_IMAP_DATE_TIME_LEN
           + tn_mail_imap_flags_len(is, &is->msgs[n]);
}


/* "* 5 FETCH (" and the view items of the message at f->uids[i] */

static u_char *
tn_mail_imap_fetch_head(tn_mail_imap_session_t *is, tn_mail_imap_fetch_t *f,
    u_char *p, tn_uint_t i, tn_uint_t *nitems)
{
    tn_int_t          n;
    tn_uint_t         k, flags;
    tn_store_imsg_t  *m;

    n = tn_mail_imap_uid_index(is, f->uids[i]);
    m = &is->msgs[n];

    p = tn_sprintf(p, "* %i FETCH (", n + 1);
    k = 0;

    if (f->uid) {
        p = tn_sprintf(p, "UID %uD", m->uid);
        k++;
    }

    flags = f->flags
            || (f->nseen && tn_mail_imap_uid_in(f->seen, f->nseen, m->uid));

    if (flags) {
        if (k++) {
            *p++ = ' ';
        }

        p = tn_cpymem(p, "FLAGS ", 6);
        p = tn_mail_imap_flags(is, p, m);
    }

    if (f->idate) {
        if (k++) {
            *p++ = ' ';
        }

        p = tn_cpymem(p, "INTERNALDATE \"", 14);
        p = tn_mail_imap_date_time(p, m->internaldate, 0);
        *p++ = '"';
    }

    if (f->size) {
        if (k++) {
            *p++ = ' ';
        }

        p = tn_sprintf(p, "RFC822.SIZE %uL", m->vsize);
    }

    if (f->modseq || (flags && is->condstore)) {
        if (k++) {
            *p++ = ' ';
        }

        p = tn_sprintf(p, "MODSEQ (%uL)", m->modseq);
    }

    *nitems = k;

    return p;
}


/* a FETCH of view items only: written here, in batches of output */

static tn_int_t
tn_mail_imap_fetch_view(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    u_char                *p;
    size_t                 size, len;
    tn_uint_t              k;
    tn_mail_imap_fetch_t  *f;
    u_char                 buf[1024];

    f = is->cmd_ctx;
    len = 0;

    while (f->next < f->nuids && len < TN_MAIL_IMAP_BATCH_OUTPUT) {

        if (!tn_mail_imap_fetch_wants(is, f, f->next)) {
            f->next++;
            continue;
        }

        size = tn_mail_imap_fetch_head_len(is, f, f->next) + 3;

        p = (size <= sizeof(buf)) ? buf : tn_pnalloc(is->cmd_pool, size);
        if (p == NULL) {
            return TN_ERROR;
        }

        size = tn_mail_imap_fetch_head(is, f, p, f->next, &k) - p;
        p[size++] = ')';
        p[size++] = CR;
        p[size++] = LF;

        if (tn_mail_imap_write(is, p, size) != TN_OK) {
            return TN_ERROR;
        }

        len += size;
        f->next++;
    }

    if (f->next == f->nuids) {
        return tn_mail_imap_fetch_finish(s, is);
    }

    return tn_mail_imap_fetch_flush(s, is);
}


/* the next batch to the thread pool */

static tn_int_t
tn_mail_imap_fetch_post(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    u_char                     *p;
    size_t                      size;
    tn_uint_t                   i, n;
    tn_pool_t                  *pool;
    tn_thread_task_t           *task;
    tn_mail_imap_fmsg_t        *m;
    tn_mail_imap_fetch_t       *f;
    tn_mail_imap_fetch_task_t  *t;

    f = is->cmd_ctx;

    while (f->next < f->nuids && !tn_mail_imap_fetch_wants(is, f, f->next)) {
        f->next++;
    }

    if (f->next == f->nuids) {
        return tn_mail_imap_fetch_finish(s, is);
    }

    task = tn_mail_imap_task_alloc(s, sizeof(tn_mail_imap_fetch_task_t),
                                   TN_DEFAULT_POOL_SIZE,
                                   tn_mail_imap_fetch_handler,
                                   tn_mail_imap_fetch_done);
    if (task == NULL) {
        return TN_ERROR;
    }

    t = task->ctx;
    t->base.release = tn_mail_imap_fetch_release;
    pool = t->base.pool;
    t->cost = f->cost;
    t->start_item = f->next_item;

    /* the items, copied: the task must not see the command pool */

    t->nitems = f->nitems;
    t->items = tn_palloc(pool, f->nitems * sizeof(tn_mail_imap_fitem_t));
    if (t->items == NULL) {
        goto failed;
    }

    for (i = 0; i < f->nitems; i++) {
        t->items[i] = f->items[i];

        t->items[i].name.data = tn_pstrdup(pool, &f->items[i].name);
        if (t->items[i].name.data == NULL) {
            goto failed;
        }

        if (f->items[i].sec.fields.len) {
            t->items[i].sec.fields.data = tn_pstrdup(pool,
                                                     &f->items[i].sec.fields);
            if (t->items[i].sec.fields.data == NULL) {
                goto failed;
            }
        }
    }

    n = tn_min(f->nuids - f->next, TN_IMAP_FETCH_BATCH);

    t->msgs = tn_palloc(pool, n * sizeof(tn_mail_imap_fmsg_t));
    if (t->msgs == NULL) {
        goto failed;
    }

    for (i = f->next; i < f->nuids && t->nmsgs < n; i++) {

        if (!tn_mail_imap_fetch_wants(is, f, i)) {
            continue;
        }

        m = &t->msgs[t->nmsgs++];
        m->uid = f->uids[i];
        m->idx = i;

        size = tn_mail_imap_fetch_head_len(is, f, i);

        p = tn_pnalloc(pool, size);
        if (p == NULL) {
            goto failed;
        }

        m->head.data = p;
        m->head.len = tn_mail_imap_fetch_head(is, f, p, i, &m->nitems) - p;
    }

    f->batch_end = i;

    return tn_mail_imap_task_post(s, task);

failed:

    tn_mail_imap_task_free(s, task);

    return TN_ERROR;
}


/* the output of the task, malloc'ed */

static void
tn_mail_imap_fetch_release(tn_thread_task_t *task)
{
    tn_mail_imap_fetch_task_t  *t;

    t = task->ctx;

    tn_free(t->out);
    t->out = NULL;
}


static void
tn_mail_imap_fetch_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_int_t                    rc;
    tn_mail_imap_fetch_t       *f;
    tn_mail_imap_session_t     *is;
    tn_mail_imap_fetch_task_t  *t;

    is = s->data;
    f = is->cmd_ctx;
    t = task->ctx;

    rc = TN_OK;

    if (t->out_len && tn_mail_imap_write(is, t->out, t->out_len) != TN_OK) {
        rc = TN_ERROR;
    }

    if (t->rc == TN_DECLINED) {
        f->unknown_cte = 1;
        f->next = f->nuids;

    } else if (t->rc != TN_OK) {
        rc = TN_ERROR;

    } else if (t->done == t->nmsgs) {
        f->next = f->batch_end;
        f->next_item = 0;

    } else {
        f->next = t->msgs[t->done].idx;
        f->next_item = t->next_item;
    }

    tn_mail_imap_task_free(s, task);

    if (rc == TN_ERROR) {
        is->cmd_ctx = NULL;
        tn_mail_imap_tagged(is, "NO", "[SERVERBUG] Fetch failed");
        tn_mail_imap_command_done(s, TN_OK);
        return;
    }

    if (f->next == f->nuids) {
        rc = tn_mail_imap_fetch_finish(s, is);

    } else {
        rc = tn_mail_imap_fetch_flush(s, is);
    }

    if (rc != TN_AGAIN) {
        tn_mail_imap_command_done(s, rc);
    }
}


/*
 * After a batch: the next one at once while less than a batch of output
 * waits to be sent, else once the output is sent.
 */

static tn_int_t
tn_mail_imap_fetch_flush(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    if (tn_mail_imap_flush(s, is, tn_mail_imap_fetch_sent) == TN_AGAIN) {
        return TN_AGAIN;
    }

    return tn_mail_imap_fetch_batch(s, is);
}


static void
tn_mail_imap_fetch_sent(tn_mail_session_t *s)
{
    tn_int_t  rc;

    rc = tn_mail_imap_fetch_batch(s, s->data);

    if (rc != TN_AGAIN) {
        tn_mail_imap_command_done(s, rc);
    }
}

