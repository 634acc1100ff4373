
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>
#include <tn_mail_imap_search_key.h>


/*
 * COPY, MOVE (RFC 6851), EXPUNGE, UID EXPUNGE (RFC 4315), CLOSE and
 * UNSELECT (RFC 3691).  Each runs one store call in a task.  What the
 * client is told of the messages removed (EXPUNGE, or VANISHED once
 * QRESYNC is enabled) is removed from the view at the same time, so that
 * is->msgs always matches the sequence numbers the client knows; the
 * next sync does not tell them again.
 */


#define TN_IMAP_COPY_COPY       1
#define TN_IMAP_COPY_MOVE       2
#define TN_IMAP_COPY_EXPUNGE    3
#define TN_IMAP_COPY_CLOSE      4


typedef struct {
    tn_mail_imap_task_t         base;
    tn_uint_t                   op;        /* TN_IMAP_COPY_* */
    uint32_t                   *uids;      /* NULL: EXPUNGE of all */
    tn_uint_t                   nuids;
    tn_str_t                    to;        /* COPY, MOVE */
    /* out */
    uint32_t                   *src;       /* COPY, MOVE */
    uint32_t                   *dst;
    tn_uint_t                   nout;
    uint32_t                   *expunged;  /* EXPUNGE, CLOSE */
    tn_uint_t                   nexpunged;
    uint32_t                    uidvalidity;
    const char                 *reason;
    tn_int_t                    rc;
} tn_mail_imap_copy_task_t;


static tn_int_t tn_mail_imap_copy_post(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_uint_t op, uint32_t *uids, tn_uint_t n,
    tn_str_t *to);
static void tn_mail_imap_copy_handler(void *data, tn_log_t *log);
static void tn_mail_imap_copy_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_imap_copy_result(tn_mail_imap_session_t *is,
    tn_mail_imap_copy_task_t *t);
static tn_int_t tn_mail_imap_copyuid(tn_mail_imap_session_t *is,
    tn_mail_imap_copy_task_t *t, tn_str_t *code);
static tn_int_t tn_mail_imap_expunged(tn_mail_imap_session_t *is,
    uint32_t *uids, tn_uint_t n);
static tn_int_t tn_mail_imap_unselect(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);


/* COPY, MOVE, UID COPY, UID MOVE: "set mailbox" */

tn_int_t
tn_mail_imap_copy(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_int_t             rc;
    tn_uint_t            n, move;
    uint32_t            *uids;
    tn_str_t             name;
    tn_mail_imap_arg_t  *set;

    set = is->parse.args;
    move = (is->parse.command == TN_MAIL_IMAP_MOVE);

    if (set == NULL || set->next == NULL || set->next->next
        || (set->type != TN_MAIL_IMAP_ARG_ATOM
            && set->type != TN_MAIL_IMAP_ARG_NUMBER))
    {
        return tn_mail_imap_tagged(is, "BAD", "Invalid arguments");
    }

    if (tn_mail_imap_mbox_name_in(is, set->next, &name) != TN_OK) {
        return tn_mail_imap_tagged(is, "BAD", "Invalid mailbox name");
    }

    rc = tn_mail_imap_seqset_uids(is, is->cmd_pool, &set->value,
                                  is->parse.uid, &uids, &n);

    if (rc == TN_DECLINED) {
        return tn_mail_imap_tagged(is, "BAD",
                                   "Invalid message sequence number");
    }

    if (rc != TN_OK) {
        return tn_mail_imap_tagged(is, "BAD", "Invalid sequence set");
    }

    if (move && is->readonly) {
        return tn_mail_imap_tagged(is, "NO", "Mailbox is open read-only");
    }

    if (n == 0) {
        return tn_mail_imap_tagged(is, "OK", "No messages %s",
                                   move ? "moved" : "copied");
    }

    return tn_mail_imap_copy_post(s, is,
                                  move ? TN_IMAP_COPY_MOVE : TN_IMAP_COPY_COPY,
                                  uids, n, &name);
}


/* EXPUNGE, UID EXPUNGE set */

tn_int_t
tn_mail_imap_expunge(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_int_t             rc;
    tn_uint_t            n;
    uint32_t            *uids;
    tn_mail_imap_arg_t  *set;

    set = is->parse.args;

    if (is->parse.uid) {
        if (set == NULL || set->next
            || (set->type != TN_MAIL_IMAP_ARG_ATOM
                && set->type != TN_MAIL_IMAP_ARG_NUMBER))
        {
            return tn_mail_imap_tagged(is, "BAD", "Invalid arguments");
        }

        rc = tn_mail_imap_seqset_uids(is, is->cmd_pool, &set->value, 1,
                                      &uids, &n);

        if (rc != TN_OK) {
            return tn_mail_imap_tagged(is, "BAD", "Invalid uid set");
        }

    } else {
        if (set) {
            return tn_mail_imap_tagged(is, "BAD", "Invalid arguments");
        }

        uids = NULL;
        n = 0;
    }

    if (is->readonly) {
        return tn_mail_imap_tagged(is, "NO", "Mailbox is open read-only");
    }

    if (uids && n == 0) {
        return tn_mail_imap_tagged(is, "OK", "Expunge completed");
    }

    return tn_mail_imap_copy_post(s, is, TN_IMAP_COPY_EXPUNGE, uids, n,
                                  NULL);
}


/* CLOSE (expunges silently when read-write) and UNSELECT */

tn_int_t
tn_mail_imap_close(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    if (is->parse.args) {
        return tn_mail_imap_tagged(is, "BAD", "Invalid arguments");
    }

    if (is->parse.command == TN_MAIL_IMAP_CLOSE && !is->readonly) {
        return tn_mail_imap_copy_post(s, is, TN_IMAP_COPY_CLOSE, NULL, 0,
                                      NULL);
    }

    return tn_mail_imap_unselect(s, is);
}


static tn_int_t
tn_mail_imap_unselect(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_mail_imap_view_free(is);
    is->state = tn_imap_state_auth;

    return tn_mail_imap_tagged(is, "OK", "%s completed",
                               (is->parse.command == TN_MAIL_IMAP_CLOSE)
                               ? "Close" : "Unselect");
}


static tn_int_t
tn_mail_imap_copy_post(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_uint_t op, uint32_t *uids, tn_uint_t n, tn_str_t *to)
{
    tn_pool_t                 *pool;
    tn_thread_task_t          *task;
    tn_mail_imap_copy_task_t  *t;

    task = tn_mail_imap_task_alloc(s, sizeof(tn_mail_imap_copy_task_t),
                                   TN_DEFAULT_POOL_SIZE,
                                   tn_mail_imap_copy_handler,
                                   tn_mail_imap_copy_done);
    if (task == NULL) {
        return TN_ERROR;
    }

    t = task->ctx;
    pool = t->base.pool;
    t->op = op;
    t->nuids = n;

    if (uids) {
        t->uids = tn_palloc(pool, (n + 1) * sizeof(uint32_t));
        if (t->uids == NULL) {
            goto failed;
        }

        tn_memcpy(t->uids, uids, n * sizeof(uint32_t));
    }

    if (to) {
        t->to.len = to->len;
        t->to.data = tn_pstrdup(pool, to);
        if (t->to.data == NULL) {
            goto failed;
        }
    }

    return tn_mail_imap_task_post(s, task);

failed:

    tn_mail_imap_task_free(s, task);

    return TN_ERROR;
}


static void
tn_mail_imap_copy_handler(void *data, tn_log_t *log)
{
    tn_mail_imap_task_t       *b;
    tn_mail_imap_copy_task_t  *t = data;

    b = &t->base;

    switch (t->op) {

    case TN_IMAP_COPY_COPY:
    case TN_IMAP_COPY_MOVE:
        t->rc = tn_store_mbox_copy(b->conf, &b->user, b->mbox_id, t->uids,
                                   t->nuids, &t->to,
                                   t->op == TN_IMAP_COPY_MOVE, b->pool,
                                   &t->src, &t->dst, &t->nout,
                                   &t->uidvalidity, &t->reason, log);
        break;

    default: /* EXPUNGE, CLOSE */
        t->rc = tn_store_mbox_expunge(b->conf, &b->user, b->mbox_id,
                                      t->uids, t->nuids, b->pool,
                                      &t->expunged, &t->nexpunged, log);
        break;
    }
}


static void
tn_mail_imap_copy_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_int_t                   rc;
    tn_mail_imap_session_t    *is;
    tn_mail_imap_copy_task_t  *t;

    is = s->data;
    t = task->ctx;

    rc = tn_mail_imap_copy_result(is, t);

    if (rc == TN_OK && t->op == TN_IMAP_COPY_CLOSE) {
        rc = tn_mail_imap_unselect(s, is);
    }

    tn_mail_imap_task_free(s, task);

    tn_mail_imap_command_done(s, rc);
}


/* the responses of the store call; TN_OK or TN_ERROR */

static tn_int_t
tn_mail_imap_copy_result(tn_mail_imap_session_t *is,
    tn_mail_imap_copy_task_t *t)
{
    tn_str_t     code;
    const char  *what;

    what = (t->op == TN_IMAP_COPY_COPY) ? "Copy"
           : (t->op == TN_IMAP_COPY_MOVE) ? "Move" : "Expunge";

    if (t->rc == TN_DECLINED && t->op <= TN_IMAP_COPY_MOVE) {
        if (t->reason && tn_strstr(t->reason, "quota")) {
            return tn_mail_imap_tagged(is, "NO", "[OVERQUOTA] %s",
                                       t->reason);
        }

        return tn_mail_imap_tagged(is, "NO", "[TRYCREATE] %s",
                                   t->reason ? t->reason
                                             : "No such mailbox");
    }

    if (t->rc != TN_OK) {
        if (t->op == TN_IMAP_COPY_CLOSE) {
            /* the mailbox is closed all the same */
            return TN_OK;
        }

        return tn_mail_imap_tagged(is, "NO", "[SERVERBUG] %s failed", what);
    }

    switch (t->op) {

    case TN_IMAP_COPY_COPY:

        if (t->nout == 0) {
            return tn_mail_imap_tagged(is, "OK", "No messages copied");
        }

        if (tn_mail_imap_copyuid(is, t, &code) != TN_OK) {
            return TN_ERROR;
        }

        if (code.len + 32 < sizeof(is->tagged)) {
            return tn_mail_imap_tagged(is, "OK", "[%V] Copy completed",
                                       &code);
        }

        /* too long for the tagged line: told untagged, as MOVE does */

        if (tn_mail_imap_write(is, (u_char *) "* OK [", 6) != TN_OK
            || tn_mail_imap_write(is, code.data, code.len) != TN_OK
            || tn_mail_imap_write(is, (u_char *) "] Copied" CRLF, 10)
               != TN_OK)
        {
            return TN_ERROR;
        }

        return tn_mail_imap_tagged(is, "OK", "Copy completed");

    case TN_IMAP_COPY_MOVE:

        if (t->nout) {
            /* RFC 6851 4.3: COPYUID in an untagged OK, before the
               expunges */

            if (tn_mail_imap_copyuid(is, t, &code) != TN_OK
                || tn_mail_imap_write(is, (u_char *) "* OK [", 6) != TN_OK
                || tn_mail_imap_write(is, code.data, code.len) != TN_OK
                || tn_mail_imap_write(is, (u_char *) "] Moved" CRLF, 9)
                   != TN_OK
                || tn_mail_imap_expunged(is, t->src, t->nout) != TN_OK)
            {
                return TN_ERROR;
            }
        }

        return tn_mail_imap_tagged(is, "OK", "Move completed");

    case TN_IMAP_COPY_EXPUNGE:

        if (tn_mail_imap_expunged(is, t->expunged, t->nexpunged) != TN_OK) {
            return TN_ERROR;
        }

        return tn_mail_imap_tagged(is, "OK", "Expunge completed");

    default: /* CLOSE: silent */
        is->nexpunge += t->nexpunged;
        return TN_OK;
    }
}


/* "COPYUID uidvalidity src dst" (RFC 4315), in the command pool */

static tn_int_t
tn_mail_imap_copyuid(tn_mail_imap_session_t *is, tn_mail_imap_copy_task_t *t,
    tn_str_t *code)
{
    u_char  *p;

    p = tn_pnalloc(is->cmd_pool, 2 * tn_mail_imap_numset_len(t->nout) + 32);
    if (p == NULL) {
        return TN_ERROR;
    }

    code->data = p;

    p = tn_sprintf(p, "COPYUID %uD ", t->uidvalidity);
    p = tn_mail_imap_numset(p, t->src, t->nout);
    *p++ = ' ';
    p = tn_mail_imap_numset(p, t->dst, t->nout);

    code->len = p - code->data;

    return TN_OK;
}


/*
 * The messages removed (uids ascending) leave the view: "* n EXPUNGE"
 * for each, numbered as the client sees them after the previous ones,
 * or one "* VANISHED set" with QRESYNC (RFC 7162 3.2.10).
 */

static tn_int_t
tn_mail_imap_expunged(tn_mail_imap_session_t *is, uint32_t *uids,
    tn_uint_t n)
{
    u_char     *p;
    uint32_t   *vanished;
    tn_uint_t   i, j, removed;

    if (n == 0 || is->nmsgs == 0) {
        return TN_OK;
    }

    vanished = NULL;

    if (is->qresync) {
        vanished = tn_palloc(is->cmd_pool, n * sizeof(uint32_t));
        if (vanished == NULL) {
            return TN_ERROR;
        }
    }

    removed = 0;
    j = 0;

    for (i = 0; i < is->nmsgs; i++) {

        while (j < n && uids[j] < is->msgs[i].uid) {
            j++;
        }

        if (j < n && uids[j] == is->msgs[i].uid) {

            if (vanished) {
                vanished[removed] = uids[j];

            } else if (tn_mail_imap_printf(is, "* %ui EXPUNGE" CRLF,
                                           i - removed + 1)
                       != TN_OK)
            {
                return TN_ERROR;
            }

            removed++;
            continue;
        }

        if (removed) {
            is->msgs[i - removed] = is->msgs[i];
        }
    }

    is->nmsgs -= removed;
    is->nexpunge += removed;

    if (vanished && removed) {
        p = tn_pnalloc(is->cmd_pool, tn_mail_imap_numset_len(removed) + 16);
        if (p == NULL) {
            return TN_ERROR;
        }

        if (tn_mail_imap_write(is, (u_char *) "* VANISHED ", 11) != TN_OK
            || tn_mail_imap_write(is, p,
                                  tn_mail_imap_numset(p, vanished, removed)
                                  - p)
               != TN_OK
            || tn_mail_imap_write(is, (u_char *) CRLF, 2) != TN_OK)
        {
            return TN_ERROR;
        }
    }

    return TN_OK;
}
