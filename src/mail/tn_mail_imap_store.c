
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>
#include <tn_mail_imap_fetch.h>


/*
 * STORE and UID STORE (RFC 3501 6.4.6, RFC 7162 UNCHANGEDSINCE), and the
 * \Seen flag a FETCH of a body section sets.
 */


typedef struct {
    tn_mail_imap_task_t         base;
    uint32_t                   *uids;      /* in pool */
    tn_uint_t                   nuids;
    tn_store_flag_op_t          op;        /* kw in pool */
    unsigned                    keywords:1; /* read the keyword table */
    /* out */
    tn_store_imsg_t            *out;
    tn_uint_t                   nout;
    uint32_t                   *failed;
    tn_uint_t                   nfailed;
    tn_store_changes_t          changes;   /* the keyword table */
    const char                 *reason;
    tn_int_t                    rc;
} tn_mail_imap_store_task_t;


/* STORE, in the command pool */
typedef struct {
    uint32_t                   *uids;
    tn_uint_t                   nuids;
    unsigned                    silent:1;
    unsigned                    unchanged:1;  /* UNCHANGEDSINCE given */
    unsigned                    fetch:1;      /* \Seen of a FETCH */
} tn_mail_imap_store_t;


static tn_int_t tn_mail_imap_store_parse(tn_mail_imap_session_t *is,
    tn_mail_imap_store_t *st, tn_store_flag_op_t *op);
static void tn_mail_imap_store_handler(void *data, tn_log_t *log);
static void tn_mail_imap_store_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_imap_store_view(tn_mail_imap_session_t *is,
    tn_mail_imap_store_task_t *t);
static tn_int_t tn_mail_imap_store_respond(tn_mail_imap_session_t *is,
    tn_mail_imap_store_t *st, tn_mail_imap_store_task_t *t);
static tn_int_t tn_mail_imap_store_modified(tn_mail_imap_session_t *is,
    uint32_t *uids, tn_uint_t n);


/*
 * STORE, UID STORE: "set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] flags",
 * the flags a list or flags separated by spaces (RFC 3501 store-att-flags).
 */

tn_int_t
tn_mail_imap_store(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_int_t               rc;
    tn_store_flag_op_t     op;
    tn_mail_imap_store_t  *st;

    st = tn_pcalloc(is->cmd_pool, sizeof(tn_mail_imap_store_t));
    if (st == NULL) {
        return TN_ERROR;
    }

    tn_memzero(&op, sizeof(tn_store_flag_op_t));

    rc = tn_mail_imap_store_parse(is, st, &op);

    if (rc != TN_OK) {
        /* TN_DONE: the tagged BAD is written */
        return (rc == TN_DONE) ? TN_OK : rc;
    }

    if (is->readonly) {
        return tn_mail_imap_tagged(is, "NO", "Mailbox is open read-only");
    }

    rc = tn_mail_imap_seqset_uids(is, is->cmd_pool, &is->parse.args->value,
                                  is->parse.uid, &st->uids, &st->nuids);

    if (rc == TN_DECLINED) {
        return tn_mail_imap_tagged(is, "BAD",
                                   "Invalid message sequence number");
    }

    if (rc != TN_OK) {
        return tn_mail_imap_tagged(is, "BAD", "Invalid sequence set");
    }

    if (st->unchanged && tn_mail_imap_condstore(is) != TN_OK) {
        return TN_ERROR;
    }

    if (st->nuids == 0) {
        return tn_mail_imap_tagged(is, "OK", "Store completed");
    }

    if (st->unchanged && op.unchangedsince == 0) {
        /* RFC 7162 3.1.3: fails for every message (the store takes 0
           as "no condition") */
        return tn_mail_imap_store_modified(is, st->uids, st->nuids);
    }

    is->cmd_ctx = st;

    return tn_mail_imap_store_post(s, is, st->uids, st->nuids, &op);
}


/* the arguments after the set: TN_OK, TN_DONE (BAD written), TN_ERROR */

static tn_int_t
tn_mail_imap_store_parse(tn_mail_imap_session_t *is, tn_mail_imap_store_t *st,
    tn_store_flag_op_t *op)
{
    u_char              *v;
    size_t               len;
    tn_uint_t            i;
    tn_mail_imap_arg_t  *arg, *set, list;

    set = is->parse.args;

    if (set == NULL || set->next == NULL
        || (set->type != TN_MAIL_IMAP_ARG_ATOM
            && set->type != TN_MAIL_IMAP_ARG_NUMBER))
    {
        return tn_mail_imap_fetch_bad(is, "Invalid arguments");
    }

    arg = set->next;

    if (arg->type == TN_MAIL_IMAP_ARG_LIST) {
        /* RFC 7162 3.1.3 */

        if (arg->nelts != 2
            || arg->list->type != TN_MAIL_IMAP_ARG_ATOM
            || arg->list->value.len != 14
            || tn_strncasecmp(arg->list->value.data,
                              (u_char *) "UNCHANGEDSINCE", 14) != 0
            || arg->list->next->type != TN_MAIL_IMAP_ARG_NUMBER
            || arg->list->next->number > (uint64_t) INT64_MAX)
        {
            return tn_mail_imap_fetch_bad(is, "Invalid store modifier");
        }

        op->unchangedsince = arg->list->next->number;
        st->unchanged = 1;
        arg = arg->next;
    }

    if (arg == NULL || arg->next == NULL
        || arg->type != TN_MAIL_IMAP_ARG_ATOM)
    {
        return tn_mail_imap_fetch_bad(is, "Invalid arguments");
    }

    v = arg->value.data;
    len = arg->value.len;

    if (len && (v[0] == '+' || v[0] == '-')) {
        op->op = (v[0] == '+') ? TN_STORE_FLAGS_ADD : TN_STORE_FLAGS_REMOVE;
        v++;
        len--;

    } else {
        op->op = TN_STORE_FLAGS_SET;
    }

    if (len == 12 && tn_strncasecmp(v, (u_char *) "FLAGS.SILENT", 12) == 0) {
        st->silent = 1;

    } else if (!(len == 5 && tn_strncasecmp(v, (u_char *) "FLAGS", 5) == 0))
    {
        return tn_mail_imap_fetch_bad(is, "Invalid store item");
    }

    arg = arg->next;

    if (arg->type != TN_MAIL_IMAP_ARG_LIST) {
        /* flags without parentheses: a list of the rest */

        tn_memzero(&list, sizeof(tn_mail_imap_arg_t));
        list.type = TN_MAIL_IMAP_ARG_LIST;
        list.list = arg;

        for (i = 0; arg; arg = arg->next) {
            i++;
        }

        list.nelts = i;
        arg = &list;

    } else if (arg->next) {
        return tn_mail_imap_fetch_bad(is, "Invalid arguments");
    }

    if (tn_mail_imap_flags_parse(is->cmd_pool, arg, &op->flags, &op->kw,
                                 &op->nkw)
        != TN_OK)
    {
        return tn_mail_imap_fetch_bad(is, "Invalid flags");
    }

    return TN_OK;
}


/*
 * The STORE task, for STORE and for the \Seen of a FETCH (is->cmd_ctx
 * says which: a tn_mail_imap_fetch_t when is->parse.command is FETCH).
 */

tn_int_t
tn_mail_imap_store_post(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    uint32_t *uids, tn_uint_t n, tn_store_flag_op_t *op)
{
    tn_uint_t                   i;
    tn_pool_t                  *pool;
    tn_thread_task_t           *task;
    tn_mail_imap_store_task_t  *t;

    task = tn_mail_imap_task_alloc(s, sizeof(tn_mail_imap_store_task_t),
                                   TN_DEFAULT_POOL_SIZE,
                                   tn_mail_imap_store_handler,
                                   tn_mail_imap_store_done);
    if (task == NULL) {
        return TN_ERROR;
    }

    t = task->ctx;
    pool = t->base.pool;
    t->op = *op;
    t->nuids = n;

    t->uids = tn_palloc(pool, n * sizeof(uint32_t));
    if (t->uids == NULL) {
        goto failed;
    }

    tn_memcpy(t->uids, uids, n * sizeof(uint32_t));

    if (op->nkw) {
        t->op.kw = tn_palloc(pool, op->nkw * sizeof(tn_str_t));
        if (t->op.kw == NULL) {
            goto failed;
        }

        for (i = 0; i < op->nkw; i++) {
            t->op.kw[i].len = op->kw[i].len;
            t->op.kw[i].data = tn_pstrdup(pool, &op->kw[i]);
            if (t->op.kw[i].data == NULL) {
                goto failed;
            }
        }

        t->keywords = 1;
    }

    return tn_mail_imap_task_post(s, task);

failed:

    tn_mail_imap_task_free(s, task);

    return TN_ERROR;
}


static void
tn_mail_imap_store_handler(void *data, tn_log_t *log)
{
    tn_mail_imap_task_t        *b;
    tn_mail_imap_store_task_t  *t = data;

    b = &t->base;

    t->rc = tn_store_mbox_store(b->conf, &b->user, b->mbox_id, t->uids,
                                t->nuids, &t->op, b->pool, &t->out,
                                &t->nout, &t->failed, &t->nfailed,
                                &t->reason, log);

    if (t->rc == TN_OK && t->keywords) {
        if (tn_store_mbox_changes(b->conf, &b->user, b->mbox_id,
                                  (uint64_t) INT64_MAX, b->pool, &t->changes,
                                  log)
            != TN_OK)
        {
            t->keywords = 0;
        }
    }
}


static void
tn_mail_imap_store_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_int_t                    rc;
    tn_mail_imap_store_t       *st;
    tn_mail_imap_session_t     *is;
    tn_mail_imap_store_task_t  *t;

    is = s->data;
    t = task->ctx;

    if (t->rc == TN_OK) {
        rc = tn_mail_imap_store_view(is, t);

    } else {
        rc = t->rc;
    }

    if (is->parse.command == TN_MAIL_IMAP_FETCH) {

        if (rc == TN_OK) {
            rc = tn_mail_imap_fetch_batch(s, is);

        } else {
            /* \Seen could not be set: the fetch goes on without it */
            ((tn_mail_imap_fetch_t *) is->cmd_ctx)->nseen = 0;
            rc = tn_mail_imap_fetch_batch(s, is);
        }

        goto done;
    }

    st = is->cmd_ctx;
    is->cmd_ctx = NULL;

    if (rc == TN_DECLINED) {
        rc = tn_mail_imap_tagged(is, "NO", "%s",
                                 t->reason ? t->reason : "Store failed");
        goto done;
    }

    if (rc != TN_OK) {
        rc = tn_mail_imap_tagged(is, "NO", "[SERVERBUG] Store failed");
        goto done;
    }

    rc = tn_mail_imap_store_respond(is, st, t);

done:

    tn_mail_imap_task_free(s, task);

    if (rc != TN_AGAIN) {
        tn_mail_imap_command_done(s, rc);
    }
}


/* the rows after the STORE into the view, new keywords included */

static tn_int_t
tn_mail_imap_store_view(tn_mail_imap_session_t *is,
    tn_mail_imap_store_task_t *t)
{
    tn_int_t          n;
    tn_uint_t         i, nkw;
    tn_store_imsg_t  *m, *row;

    nkw = is->nkeywords;

    if (t->keywords
        && tn_mail_imap_view_keywords(is, t->changes.keywords,
                                      t->changes.nkeywords,
                                      is->session->connection->log)
           != TN_OK)
    {
        return TN_ERROR;
    }

    for (i = 0; i < t->nout; i++) {
        row = &t->out[i];

        n = tn_mail_imap_uid_index(is, row->uid);
        if (n < 0) {
            continue;
        }

        m = &is->msgs[n];

        m->flags = (row->flags & ~TN_STORE_F_RECENT)
                   | (m->flags & TN_STORE_F_RECENT);
        m->keywords = row->keywords;
        m->modseq = row->modseq;
    }

    if (is->nkeywords > nkw) {
        /* RFC 3501 7.2.6: the new flags of the mailbox */
        return tn_mail_imap_flag_lines(is);
    }

    return TN_OK;
}


/* the untagged FETCH responses of a STORE and its tagged line */

static tn_int_t
tn_mail_imap_store_respond(tn_mail_imap_session_t *is,
    tn_mail_imap_store_t *st, tn_mail_imap_store_task_t *t)
{
    u_char           *p, *line;
    tn_int_t          n;
    tn_uint_t         i, failed;
    tn_store_imsg_t  *m;
    u_char            buf[128];

    for (i = 0; i < t->nout; i++) {
        n = tn_mail_imap_uid_index(is, t->out[i].uid);
        if (n < 0) {
            continue;
        }

        m = &is->msgs[n];

        failed = t->nfailed
                 && tn_mail_imap_uid_in(t->failed, t->nfailed, m->uid);

        if (failed) {
            /* not changed: told by MODIFIED (RFC 7162 3.1.3) */
            continue;
        }

        if (st->silent) {
            /*
             * RFC 7162 3.2: with CONDSTORE the new MODSEQ of a changed
             * message is sent even for .SILENT
             */

            if (!is->condstore) {
                continue;
            }

            p = tn_sprintf(buf, "* %i FETCH (", n + 1);

            if (is->parse.uid) {
                p = tn_sprintf(p, "UID %uD ", m->uid);
            }

            p = tn_sprintf(p, "MODSEQ (%uL))" CRLF, m->modseq);

            if (tn_mail_imap_write(is, buf, p - buf) != TN_OK) {
                return TN_ERROR;
            }

            continue;
        }

        line = tn_pnalloc(is->cmd_pool, 128 + tn_mail_imap_flags_len(is, m));
        if (line == NULL) {
            return TN_ERROR;
        }

        p = tn_sprintf(line, "* %i FETCH (", n + 1);

        if (is->parse.uid) {
            p = tn_sprintf(p, "UID %uD ", m->uid);
        }

        p = tn_cpymem(p, "FLAGS ", 6);
        p = tn_mail_imap_flags(is, p, m);

        if (is->condstore) {
            p = tn_sprintf(p, " MODSEQ (%uL)", m->modseq);
        }

        *p++ = ')'; *p++ = CR; *p++ = LF;

        if (tn_mail_imap_write(is, line, p - line) != TN_OK) {
            return TN_ERROR;
        }
    }

    if (t->nfailed) {
        return tn_mail_imap_store_modified(is, t->failed, t->nfailed);
    }

    return tn_mail_imap_tagged(is, "OK", "Store completed");
}


/* OK [MODIFIED set]: uids, or their sequence numbers for STORE */

static tn_int_t
tn_mail_imap_store_modified(tn_mail_imap_session_t *is, uint32_t *uids,
    tn_uint_t n)
{
    u_char     *p, *set;
    tn_int_t    k;
    tn_uint_t   i, j;
    uint32_t   *nums;
    tn_str_t    text;

    nums = uids;

    if (!is->parse.uid) {
        nums = tn_palloc(is->cmd_pool, n * sizeof(uint32_t));
        if (nums == NULL) {
            return TN_ERROR;
        }

        for (i = 0, j = 0; i < n; i++) {
            k = tn_mail_imap_uid_index(is, uids[i]);

            if (k >= 0) {
                nums[j++] = (uint32_t) k + 1;
            }
        }

        n = j;
    }

    set = tn_pnalloc(is->cmd_pool, tn_mail_imap_numset_len(n));
    if (set == NULL) {
        return TN_ERROR;
    }

    p = tn_mail_imap_numset(set, nums, n);

    text.data = set;
    text.len = p - set;

    if (text.len + 64 > sizeof(is->tagged)) {
        /* too long for the tagged line: told as an untagged OK */

        if (tn_mail_imap_write(is, (u_char *) "* OK [MODIFIED ", 15)
            != TN_OK
            || tn_mail_imap_write(is, text.data, text.len) != TN_OK
            || tn_mail_imap_write(is, (u_char *) "] Conditional STORE "
                                  "failed" CRLF, 28) != TN_OK)
        {
            return TN_ERROR;
        }

        return tn_mail_imap_tagged(is, "OK", "Conditional STORE failed");
    }

    return tn_mail_imap_tagged(is, "OK", "[MODIFIED %V] Conditional STORE "
                               "failed", &text);
}

