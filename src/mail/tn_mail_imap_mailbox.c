
/*
 * Copyright (C) The Tern developers
 */


/*
 * The mailbox commands of IMAP: SELECT, EXAMINE, CREATE, DELETE, RENAME,
 * SUBSCRIBE, UNSUBSCRIBE, APPEND, GETQUOTA, GETQUOTAROOT (LIST, LSUB and
 * STATUS are in tn_mail_imap_list.c), and the mailbox names the other
 * command files share.
 *
 * Each command checks its arguments on the event loop and then runs one
 * store call in the thread pool.  The task copies what it needs out of
 * the command pool into a pool of its own, which also takes the results:
 * a session that closes while the task is out loses nothing the thread
 * still uses (the cancel callback frees the task's pool).
 *
 * APPEND streams the message literal into a spool file as it arrives,
 * CRLF turned into LF as delivery stores it; the store then moves the
 * file into the mailbox.  A message over imap_max_append is refused by
 * the parser before any octet of it is read.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>
#include <tn_mail_imap_mbox.h>
#include <tn_mail_imap_qresync.h>


/* the spool writes of APPEND */
#define TN_MAIL_IMAP_SPOOL_CHUNK      8192


static void tn_mail_imap_mbox_handler(void *data, tn_log_t *log);
static void tn_mail_imap_mbox_release(tn_thread_task_t *task);
static void tn_mail_imap_select_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_imap_select_qresync(tn_mail_imap_session_t *is,
    tn_mail_imap_arg_t *a);
static tn_int_t tn_mail_imap_select_resync(tn_mail_imap_session_t *is,
    tn_mail_imap_mbox_task_t *t);
static tn_int_t tn_mail_imap_select_view(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_mail_imap_mbox_task_t *t);
static tn_int_t tn_mail_imap_select_responses(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_pool_t *pool);
static tn_int_t tn_mail_imap_mbox_simple(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_str_t *name, tn_str_t *name2,
    tn_uint_t flag);
static void tn_mail_imap_simple_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static void tn_mail_imap_append_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_imap_append_args(tn_mail_imap_session_t *is,
    tn_mail_imap_arg_t *arg, tn_mail_imap_arg_t *stop, uint32_t *flags,
    tn_str_t **kw, tn_uint_t *nkw, time_t *date);
static tn_int_t tn_mail_imap_append_write(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, u_char *data, size_t len);
static tn_int_t tn_mail_imap_append_out(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, u_char *o, size_t size);
static void tn_mail_imap_append_abort(tn_mail_imap_session_t *is);
static void tn_mail_imap_quota_done(tn_mail_session_t *s,
    tn_thread_task_t *task);


tn_str_t  tn_mail_imap_special_names[] = {
    tn_null_string,
    tn_string("\\Sent"),
    tn_string("\\Drafts"),
    tn_string("\\Trash"),
    tn_string("\\Junk"),
    tn_string("\\Archive")
};


/* names */

tn_int_t
tn_mail_imap_mbox_name_in(tn_mail_imap_session_t *is,
    tn_mail_imap_arg_t *arg, tn_str_t *name)
{
    tn_str_t  v;

    if (arg == NULL || tn_mail_imap_arg_astring(arg, &v) != TN_OK) {
        return TN_ERROR;
    }

    if (is->utf8) {
        *name = v;

    } else if (tn_mail_imap_utf7_decode(is->cmd_pool, &v, name) != TN_OK) {
        return TN_ERROR;
    }

    /* INBOX is case-insensitive, and so is the INBOX of its children */
    if (name->len >= 5
        && tn_strncasecmp(name->data, (u_char *) "INBOX", 5) == 0
        && (name->len == 5 || name->data[5] == '/'))
    {
        tn_memcpy(name->data, "INBOX", 5);
    }

    return TN_OK;
}


tn_int_t
tn_mail_imap_mbox_name_out(tn_mail_imap_session_t *is, tn_pool_t *pool,
    tn_str_t *name, tn_str_t *out)
{
    if (is->utf8) {
        *out = *name;
        return TN_OK;
    }

    return tn_mail_imap_utf7_encode(pool, name, out);
}


/* a mailbox name as an IMAP string */

tn_int_t
tn_mail_imap_write_name(tn_mail_imap_session_t *is, tn_pool_t *pool,
    tn_str_t *name)
{
    u_char    *p, *q;
    size_t     len;
    tn_str_t   out;

    if (tn_mail_imap_mbox_name_out(is, pool, name, &out) != TN_OK) {
        return TN_ERROR;
    }

    len = tn_mail_imap_astring_len(&out, is->utf8);

    p = tn_pnalloc(pool, len);
    if (p == NULL) {
        return TN_ERROR;
    }

    q = tn_mail_imap_astring(p, &out, is->utf8);

    return tn_mail_imap_write(is, p, q - p);
}


/* tasks */

tn_mail_imap_mbox_task_t *
tn_mail_imap_mbox_task(tn_mail_session_t *s,
    void (*done)(tn_mail_session_t *s, tn_thread_task_t *task),
    tn_str_t *name)
{
    tn_thread_task_t          *task;
    tn_mail_imap_session_t    *is;
    tn_mail_imap_mbox_task_t  *t;

    is = s->data;

    task = tn_mail_imap_task_alloc(s, sizeof(tn_mail_imap_mbox_task_t),
                                   4096, tn_mail_imap_mbox_handler, done);
    if (task == NULL) {
        return NULL;
    }

    t = task->ctx;
    t->base.release = tn_mail_imap_mbox_release;
    t->command = is->command;

    if (name) {
        t->name.data = tn_pstrdup(t->base.pool, name);
        if (t->name.data == NULL) {
            tn_mail_imap_task_free(s, task);
            return NULL;
        }

        t->name.len = name->len;
        t->name.data[name->len] = '\0';
    }

    return t;
}


static void
tn_mail_imap_mbox_handler(void *data, tn_log_t *log)
{
    tn_mail_imap_task_t       *b;
    tn_mail_imap_mbox_task_t  *t = data;

    b = &t->base;

    switch (t->command) {

    case TN_MAIL_IMAP_SELECT:
    case TN_MAIL_IMAP_EXAMINE:
        t->rc = tn_store_mbox_open(b->conf, &b->user, &t->name, t->flag,
                                   &t->mb, &t->reason, log);

        if (t->rc == TN_OK && t->qresync
            && t->mb.info.uidvalidity == t->qr_uidvalidity)
        {
            t->qr_rc = tn_store_mbox_changes(b->conf, &b->user,
                                             t->mb.info.id, t->qr_modseq,
                                             b->pool, &t->changes, log);
        }

        break;

    case TN_MAIL_IMAP_CREATE:
        t->rc = tn_store_mbox_create(b->conf, &b->user, &t->name, t->flag,
                                     &t->reason, log);
        break;

    case TN_MAIL_IMAP_DELETE:
        t->rc = tn_store_mbox_delete(b->conf, &b->user, &t->name,
                                     &t->reason, log);
        break;

    case TN_MAIL_IMAP_RENAME:
        t->rc = tn_store_mbox_rename(b->conf, &b->user, &t->name, &t->name2,
                                     &t->reason, log);
        break;

    case TN_MAIL_IMAP_SUBSCRIBE:
    case TN_MAIL_IMAP_UNSUBSCRIBE:
        t->rc = tn_store_mbox_subscribe(b->conf, &b->user, &t->name,
                                        t->command
                                        == TN_MAIL_IMAP_SUBSCRIBE,
                                        &t->reason, log);
        break;

    case TN_MAIL_IMAP_LIST:
    case TN_MAIL_IMAP_LSUB:
        tn_mail_imap_list_select(t, log);
        break;

    case TN_MAIL_IMAP_STATUS:
        t->rc = tn_store_mbox_status(b->conf, &b->user, &t->name, b->pool,
                                     &t->info, &t->reason, log);
        break;

    case TN_MAIL_IMAP_APPEND:
        t->rc = tn_store_mbox_append(b->conf, &b->user, &t->name, t->append,
                                     &t->reason, log);
        break;

    case TN_MAIL_IMAP_GETQUOTA:
    case TN_MAIL_IMAP_GETQUOTAROOT:
        t->rc = tn_store_mbox_quota(b->conf, &b->user, &t->limit, &t->used,
                                    &t->count, log);
        break;

    default:
        t->rc = TN_ERROR;
    }
}


/* the loaded mailbox (once the view took it, or the session closed) */

static void
tn_mail_imap_mbox_release(tn_thread_task_t *task)
{
    tn_mail_imap_mbox_task_t  *t;

    t = task->ctx;

    tn_store_mbox_free(&t->mb);

    if (t->append) {
        tn_free(t->append);
        t->append = NULL;
    }
}


/* posts the task of t; TN_AGAIN, or TN_OK with the tagged NO written */

tn_int_t
tn_mail_imap_mbox_start(tn_mail_session_t *s, tn_mail_imap_mbox_task_t *t)
{
    tn_thread_task_t        *task;
    tn_mail_imap_session_t  *is;

    is = s->data;
    task = t->base.task;

    if (tn_mail_imap_task_post(s, task) != TN_AGAIN) {
        return tn_mail_imap_unavailable(is);
    }

    return TN_AGAIN;
}


/*
 * The store refused or failed (t->rc): the tagged NO, the task freed,
 * the command done: 1; else 0.
 */

tn_uint_t
tn_mail_imap_mbox_failed(tn_mail_session_t *s, tn_thread_task_t *task,
    const char *nonexistent)
{
    tn_mail_imap_mbox_task_t  *t;

    t = task->ctx;

    if (t->rc == TN_OK) {
        return 0;
    }

    (void) tn_mail_imap_refused(s->data, t->rc, t->reason, nonexistent);
    tn_mail_imap_task_free(s, task);
    tn_mail_imap_command_done(s, TN_OK);

    return 1;
}


/* a store refusal or failure as a tagged NO with a response code */

tn_int_t
tn_mail_imap_refused(tn_mail_imap_session_t *is, tn_int_t rc,
    const char *reason, const char *nonexistent)
{
    tn_uint_t    i;
    const char  *code;

    /* the store's reasons (static strings) by what they say */
    static struct {
        const char  *text;
        const char  *code;
    }  codes[] = {
        { "exists", "[ALREADYEXISTS] " },
        { "quota", "[OVERQUOTA] " },
        { "too many", "[LIMIT] " },
        { "inbox", "[CANNOT] " },
        { "invalid", "[CANNOT] " },
        { "cannot", "[CANNOT] " },
        { "too long", "[CANNOT] " },
        { "not subscribed", "" }
    };

    if (rc != TN_DECLINED || reason == NULL) {
        return tn_mail_imap_tagged(is, "NO", "[SERVERBUG] Internal error, "
                                   "try again later");
    }

    code = "";

    if (strcasestr(reason, "no such") != NULL
        || strcasestr(reason, "was deleted") != NULL)
    {
        code = nonexistent;

    } else {
        for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
            if (strcasestr(reason, codes[i].text) != NULL) {
                code = codes[i].code;
                break;
            }
        }
    }

    return tn_mail_imap_tagged(is, "NO", "%s%s", code, reason);
}


/* SELECT and EXAMINE */

tn_int_t
tn_mail_imap_select(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_str_t                   name;
    tn_uint_t                  condstore;
    tn_mail_imap_arg_t        *arg, *a, *qr;
    tn_mail_imap_mbox_task_t  *t;

    arg = is->parse.args;

    if (tn_mail_imap_mbox_name_in(is, arg, &name) != TN_OK) {
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid mailbox name");
    }

    condstore = 0;
    qr = NULL;

    if (arg->next) {
        if (arg->next->type != TN_MAIL_IMAP_ARG_LIST) {
            s->errors++;
            return tn_mail_imap_tagged(is, "BAD", "Invalid SELECT "
                                       "parameters");
        }

        for (a = arg->next->list; a; a = a->next) {
            if (a->type == TN_MAIL_IMAP_ARG_ATOM && a->value.len == 9
                && tn_strncasecmp(a->value.data, (u_char *) "CONDSTORE", 9)
                   == 0)
            {
                condstore = 1;
                continue;
            }

            if (a->type == TN_MAIL_IMAP_ARG_ATOM && a->value.len == 7
                && tn_strncasecmp(a->value.data, (u_char *) "QRESYNC", 7)
                   == 0
                && qr == NULL)
            {
                /* RFC 7162 3.2.5: only once ENABLE QRESYNC was done */
                if (!is->qresync) {
                    s->errors++;
                    return tn_mail_imap_tagged(is, "BAD", "QRESYNC is not "
                                               "enabled");
                }

                a = a->next;

                if (tn_mail_imap_select_qresync(is, a) != TN_OK) {
                    s->errors++;
                    return tn_mail_imap_tagged(is, "BAD", "Invalid QRESYNC "
                                               "parameter");
                }

                qr = a;
                continue;
            }

            s->errors++;
            return tn_mail_imap_tagged(is, "BAD", "Unknown SELECT "
                                       "parameter");
        }
    }

    if (is->state == tn_imap_state_selected) {
        /* RFC 3501 6.3.1: the selected mailbox is closed first */
        tn_mail_imap_view_free(is);
        is->state = tn_imap_state_auth;

        if (is->rev2 || is->condstore) {
            if (tn_mail_imap_printf(is, "* OK [CLOSED] Previous mailbox "
                                    "closed" CRLF)
                != TN_OK)
            {
                return TN_ERROR;
            }
        }
    }

    if (condstore) {
        is->condstore = 1;
    }

    t = tn_mail_imap_mbox_task(s, tn_mail_imap_select_done, &name);
    if (t == NULL) {
        return tn_mail_imap_unavailable(is);
    }

    t->flag = (is->command == TN_MAIL_IMAP_EXAMINE);
    t->generation = tn_mail_imap_notify_generation(s);

    if (qr) {
        a = qr->list;
        t->qresync = 1;
        t->qr_uidvalidity = (uint32_t) a->number;
        t->qr_modseq = a->next->number;
        a = a->next->next;

        if (a && a->type != TN_MAIL_IMAP_ARG_LIST) {
            t->qr_known.data = tn_pstrdup(t->base.pool, &a->value);
            if (t->qr_known.data == NULL) {
                tn_mail_imap_task_free(s, t->base.task);
                return tn_mail_imap_unavailable(is);
            }

            t->qr_known.len = a->value.len;
        }
    }

    return tn_mail_imap_mbox_start(s, t);
}


/*
 * The list after QRESYNC: (uidvalidity modseq [known-uids
 * [(seq-match-data)]]) or (uidvalidity modseq (seq-match-data)).  The
 * seq-match-data is checked and not used: without it the VANISHED
 * (EARLIER) response may only be longer (RFC 7162 3.2.5.2).
 */

static tn_int_t
tn_mail_imap_select_qresync(tn_mail_imap_session_t *is,
    tn_mail_imap_arg_t *a)
{
    tn_uint_t                 n;
    tn_mail_imap_arg_t       *v, *m;
    tn_mail_imap_qr_range_t  *r;

    if (a == NULL || a->type != TN_MAIL_IMAP_ARG_LIST) {
        return TN_ERROR;
    }

    v = a->list;

    /* uidvalidity: nz-number; modseq: mod-sequence-value */
    if (v == NULL || v->type != TN_MAIL_IMAP_ARG_NUMBER
        || v->number == 0 || v->number > 0xffffffff
        || v->next == NULL || v->next->type != TN_MAIL_IMAP_ARG_NUMBER
        || v->next->number > (uint64_t) INT64_MAX)
    {
        return TN_ERROR;
    }

    v = v->next->next;

    if (v == NULL) {
        return TN_OK;
    }

    if (v->type != TN_MAIL_IMAP_ARG_LIST) {
        if ((v->type != TN_MAIL_IMAP_ARG_ATOM
             && v->type != TN_MAIL_IMAP_ARG_NUMBER)
            || tn_mail_imap_qr_ranges(is->cmd_pool, &v->value, 0xffffffff,
                                      &r, &n)
               != TN_OK)
        {
            return TN_ERROR;
        }

        v = v->next;

        if (v == NULL) {
            return TN_OK;
        }
    }

    /* (known-sequence-set known-uid-set) */
    if (v->type != TN_MAIL_IMAP_ARG_LIST || v->next != NULL) {
        return TN_ERROR;
    }

    m = v->list;

    if (m == NULL || m->next == NULL || m->next->next != NULL
        || m->type == TN_MAIL_IMAP_ARG_LIST
        || m->next->type == TN_MAIL_IMAP_ARG_LIST
        || tn_mail_imap_qr_ranges(is->cmd_pool, &m->value, 0xffffffff, &r,
                                  &n)
           != TN_OK
        || tn_mail_imap_qr_ranges(is->cmd_pool, &m->next->value, 0xffffffff,
                                  &r, &n)
           != TN_OK)
    {
        return TN_ERROR;
    }

    return TN_OK;
}


static void
tn_mail_imap_select_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_int_t                   rc;
    tn_mail_imap_session_t    *is;
    tn_mail_imap_mbox_task_t  *t;

    is = s->data;
    t = task->ctx;

    if (tn_mail_imap_mbox_failed(s, task, "[NONEXISTENT] ")) {
        return;
    }

    rc = tn_mail_imap_select_view(s, is, t);

    tn_store_mbox_free(&t->mb);

    if (rc == TN_OK) {
        rc = tn_mail_imap_select_responses(s, is, t->base.pool);
    }

    if (rc == TN_OK && t->qresync) {
        rc = tn_mail_imap_select_resync(is, t);
    }

    tn_mail_imap_task_free(s, task);

    if (rc != TN_OK) {
        tn_mail_imap_command_done(s, TN_ERROR);
        return;
    }

    (void) tn_mail_imap_tagged(is, "OK", "%s %s completed",
                               is->readonly ? "[READ-ONLY]" : "[READ-WRITE]",
                               is->command == TN_MAIL_IMAP_EXAMINE
                               ? "EXAMINE" : "SELECT");

    tn_mail_imap_command_done(s, TN_OK);
}


/*
 * SELECT (QRESYNC ...) with the uidvalidity the client knows (RFC 7162
 * 3.2.5): what vanished of the uids it knows and the FETCH of what
 * changed since its modseq; another uidvalidity: nothing.  A store
 * failure of the changes falls back to the pruned answer, which needs
 * only the view.
 */

static tn_int_t
tn_mail_imap_select_resync(tn_mail_imap_session_t *is,
    tn_mail_imap_mbox_task_t *t)
{
    tn_uint_t                 n;
    tn_mail_imap_qr_range_t  *r;

    if (is->uidvalidity != t->qr_uidvalidity) {
        return TN_OK;
    }

    if (t->qr_rc != TN_OK) {
        tn_memzero(&t->changes, sizeof(tn_store_changes_t));
        t->changes.pruned = 1;
    }

    r = NULL;
    n = 0;

    if (t->qr_known.len
        && tn_mail_imap_qr_ranges(t->base.pool, &t->qr_known, 0xffffffff,
                                  &r, &n)
           != TN_OK)
    {
        return TN_ERROR;
    }

    if (tn_mail_imap_qr_vanished(is, &t->changes, r, n) != TN_OK) {
        return TN_ERROR;
    }

    return tn_mail_imap_qr_fetch(is, t->qr_modseq, r, n);
}


/* the loaded mailbox becomes the session's view */

static tn_int_t
tn_mail_imap_select_view(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_mail_imap_mbox_task_t *t)
{
    tn_log_t         *log;
    tn_store_mbox_t  *mb;

    mb = &t->mb;
    log = s->connection->log;

    is->nmsgs = 0;
    is->msgs_size = mb->nmsgs + 16;

    is->msgs = tn_alloc(is->msgs_size * sizeof(tn_store_imsg_t), log);
    if (is->msgs == NULL) {
        return TN_ERROR;
    }

    if (mb->nmsgs) {
        tn_memcpy(is->msgs, mb->msgs, mb->nmsgs * sizeof(tn_store_imsg_t));
    }

    is->nmsgs = mb->nmsgs;

    if (tn_mail_imap_view_keywords(is, mb->keywords, mb->nkeywords, log)
        != TN_OK)
    {
        return TN_ERROR;
    }

    is->mbox_name.data = tn_alloc(t->name.len + 1, log);
    if (is->mbox_name.data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(is->mbox_name.data, t->name.data, t->name.len + 1);
    is->mbox_name.len = t->name.len;

    is->mbox_id = mb->info.id;
    is->uidvalidity = mb->info.uidvalidity;
    is->uidnext = mb->info.uidnext;
    is->modseq = mb->info.highestmodseq;
    is->readonly = t->flag;
    is->notice = 0;
    is->generation = t->generation;

    is->state = tn_imap_state_selected;
    s->connection->log->action = "in selected state";

    tn_mail_imap_notify_select(s, is);

    return TN_OK;
}


static tn_int_t
tn_mail_imap_select_responses(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_pool_t *pool)
{
    tn_uint_t  i, recent, unseen;

    if (tn_mail_imap_flag_lines(is) != TN_OK
        || tn_mail_imap_printf(is, "* %ui EXISTS" CRLF, is->nmsgs) != TN_OK)
    {
        return TN_ERROR;
    }

    recent = 0;
    unseen = 0;

    for (i = 0; i < is->nmsgs; i++) {
        if (is->msgs[i].flags & TN_STORE_F_RECENT) {
            recent++;
        }

        if (unseen == 0 && !(is->msgs[i].flags & TN_STORE_F_SEEN)) {
            unseen = i + 1;
        }
    }

    if (!is->rev2) {
        if (tn_mail_imap_printf(is, "* %ui RECENT" CRLF, recent) != TN_OK) {
            return TN_ERROR;
        }

        if (unseen
            && tn_mail_imap_printf(is, "* OK [UNSEEN %ui] First unseen"
                                   CRLF, unseen)
               != TN_OK)
        {
            return TN_ERROR;
        }
    }

    if (tn_mail_imap_printf(is, "* OK [UIDVALIDITY %uD] UIDs valid" CRLF
                            "* OK [UIDNEXT %uD] Predicted next UID" CRLF
                            "* OK [HIGHESTMODSEQ %uL] Highest" CRLF,
                            is->uidvalidity, is->uidnext, is->modseq)
        != TN_OK)
    {
        return TN_ERROR;
    }

    if (is->rev2) {
        /* RFC 9051 6.3.2 */
        if (tn_mail_imap_write(is, (u_char *) "* LIST () \"/\" ", 14)
            != TN_OK
            || tn_mail_imap_write_name(is, pool, &is->mbox_name) != TN_OK
            || tn_mail_imap_write(is, (u_char *) CRLF, 2) != TN_OK)
        {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


/* CREATE [USE (...)] (RFC 6154 CREATE-SPECIAL-USE), DELETE, RENAME,
   SUBSCRIBE, UNSUBSCRIBE */

tn_int_t
tn_mail_imap_create(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_str_t             name;
    tn_uint_t            i, special;
    tn_mail_imap_arg_t  *arg, *a, *u;

    arg = is->parse.args;

    if (tn_mail_imap_mbox_name_in(is, arg, &name) != TN_OK) {
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid mailbox name");
    }

    special = TN_STORE_SPECIAL_NONE;

    if (arg->next) {
        a = arg->next;

        if (a->type != TN_MAIL_IMAP_ARG_LIST || a->nelts != 2
            || a->list->type != TN_MAIL_IMAP_ARG_ATOM
            || a->list->value.len != 3
            || tn_strncasecmp(a->list->value.data, (u_char *) "USE", 3) != 0
            || a->list->next->type != TN_MAIL_IMAP_ARG_LIST)
        {
            s->errors++;
            return tn_mail_imap_tagged(is, "BAD", "Invalid CREATE "
                                       "parameters");
        }

        for (u = a->list->next->list; u; u = u->next) {

            for (i = 1; i <= TN_STORE_SPECIAL_ARCHIVE; i++) {
                if (u->value.len == tn_mail_imap_special_names[i].len
                    && tn_strncasecmp(u->value.data,
                                      tn_mail_imap_special_names[i].data,
                                      u->value.len)
                       == 0)
                {
                    break;
                }
            }

            if (u->type != TN_MAIL_IMAP_ARG_ATOM
                || i > TN_STORE_SPECIAL_ARCHIVE
                || special != TN_STORE_SPECIAL_NONE)
            {
                return tn_mail_imap_tagged(is, "NO", "[USEATTR] Unsupported "
                                           "special-use attribute");
            }

            special = i;
        }
    }

    return tn_mail_imap_mbox_simple(s, is, &name, NULL, special);
}


/* DELETE, SUBSCRIBE, UNSUBSCRIBE: one mailbox name */

tn_int_t
tn_mail_imap_delete(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_str_t  name;

    if (tn_mail_imap_mbox_name_in(is, is->parse.args, &name) != TN_OK) {
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid mailbox name");
    }

    return tn_mail_imap_mbox_simple(s, is, &name, NULL, 0);
}


tn_int_t
tn_mail_imap_rename(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_str_t  from, to;

    if (tn_mail_imap_mbox_name_in(is, is->parse.args, &from) != TN_OK
        || tn_mail_imap_mbox_name_in(is, is->parse.args->next, &to)
           != TN_OK)
    {
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid mailbox name");
    }

    return tn_mail_imap_mbox_simple(s, is, &from, &to, 0);
}


tn_int_t
tn_mail_imap_subscribe(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    return tn_mail_imap_delete(s, is);
}


/* the task of CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE */

static tn_int_t
tn_mail_imap_mbox_simple(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_str_t *name, tn_str_t *name2, tn_uint_t flag)
{
    tn_mail_imap_mbox_task_t  *t;

    t = tn_mail_imap_mbox_task(s, tn_mail_imap_simple_done, name);
    if (t == NULL) {
        return tn_mail_imap_unavailable(is);
    }

    t->flag = flag;

    if (name2) {
        t->name2.len = name2->len;
        t->name2.data = tn_pstrdup(t->base.pool, name2);

        if (t->name2.data == NULL) {
            tn_mail_imap_task_free(s, t->base.task);
            return tn_mail_imap_unavailable(is);
        }
    }

    return tn_mail_imap_mbox_start(s, t);
}


/* CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE are over */

static void
tn_mail_imap_simple_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    const char                *what;
    tn_mail_imap_session_t    *is;
    tn_mail_imap_mbox_task_t  *t;

    is = s->data;
    t = task->ctx;

    switch (t->command) {
    case TN_MAIL_IMAP_CREATE:
        what = "CREATE";
        break;
    case TN_MAIL_IMAP_DELETE:
        what = "DELETE";
        break;
    case TN_MAIL_IMAP_RENAME:
        what = "RENAME";
        break;
    case TN_MAIL_IMAP_SUBSCRIBE:
        what = "SUBSCRIBE";
        break;
    default:
        what = "UNSUBSCRIBE";
    }

    if (tn_mail_imap_mbox_failed(s, task, "[NONEXISTENT] ")) {
        return;
    }

    /*
     * The selected mailbox was deleted or renamed by this session: the
     * view no longer has a mailbox behind it, so the session leaves it.
     */
    if ((t->command == TN_MAIL_IMAP_DELETE
         || t->command == TN_MAIL_IMAP_RENAME)
        && is->state == tn_imap_state_selected
        && is->mbox_name.len == t->name.len
        && tn_memcmp(is->mbox_name.data, t->name.data, t->name.len) == 0
        && !(t->command == TN_MAIL_IMAP_RENAME && t->name.len == 5
             && tn_memcmp(t->name.data, "INBOX", 5) == 0))
    {
        tn_mail_imap_view_free(is);
        is->state = tn_imap_state_auth;
        s->connection->log->action = "in authenticated state";

        if (tn_mail_imap_printf(is, "* OK [CLOSED] Mailbox closed" CRLF)
            != TN_OK)
        {
            tn_mail_imap_task_free(s, task);
            tn_mail_imap_command_done(s, TN_ERROR);
            return;
        }
    }

    tn_mail_imap_task_free(s, task);

    (void) tn_mail_imap_tagged(is, "OK", "%s completed", what);

    tn_mail_imap_command_done(s, TN_OK);
}


/*
 * APPEND mailbox [(flags)] [date-time] literal.  The literal is streamed
 * by tn_mail_imap_append_literal() as the parser reads it; this runs
 * once the command line is complete.
 */

tn_int_t
tn_mail_imap_append(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    time_t                     date;
    uint32_t                   flags;
    tn_str_t                   name, *kw, *k;
    tn_uint_t                  i, nkw;
    tn_mail_imap_arg_t        *arg, *last;
    tn_mail_imap_mbox_task_t  *t;

    arg = is->parse.args;

    for (last = arg; last->next; last = last->next) { /* void */ }

    if (is->append == NULL || is->spool_fd != TN_INVALID_FILE
        || last->type != TN_MAIL_IMAP_ARG_LITERAL || !last->stream)
    {
        tn_mail_imap_append_abort(is);
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid APPEND arguments");
    }

    if (tn_mail_imap_mbox_name_in(is, arg, &name) != TN_OK
        || tn_mail_imap_append_args(is, arg->next, last, &flags, &kw, &nkw,
                                    &date)
           != TN_OK)
    {
        tn_mail_imap_append_abort(is);
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid APPEND arguments");
    }

    t = tn_mail_imap_mbox_task(s, tn_mail_imap_append_done, &name);
    if (t == NULL) {
        tn_mail_imap_append_abort(is);
        return tn_mail_imap_unavailable(is);
    }

    /* the task owns the spool file from now on: the store unlinks it */
    t->append = is->append;
    is->append = NULL;

    t->append->flags = flags;
    t->append->internaldate = date;
    t->append->nkw = 0;
    t->append->kw = NULL;

    if (nkw) {
        k = tn_palloc(t->base.pool, nkw * sizeof(tn_str_t));
        if (k == NULL) {
            goto failed;
        }

        for (i = 0; i < nkw; i++) {
            k[i].len = kw[i].len;
            k[i].data = tn_pstrdup(t->base.pool, &kw[i]);
            if (k[i].data == NULL) {
                goto failed;
            }
        }

        t->append->kw = k;
        t->append->nkw = nkw;
    }

    return tn_mail_imap_mbox_start(s, t);

failed:

    (void) unlink(t->append->spool_path);
    tn_mail_imap_task_free(s, t->base.task);

    return tn_mail_imap_unavailable(is);
}


/* the optional flag list and date-time between the mailbox and stop */

static tn_int_t
tn_mail_imap_append_args(tn_mail_imap_session_t *is,
    tn_mail_imap_arg_t *arg, tn_mail_imap_arg_t *stop, uint32_t *flags,
    tn_str_t **kw, tn_uint_t *nkw, time_t *date)
{
    *flags = 0;
    *kw = NULL;
    *nkw = 0;
    *date = tn_time();

    if (arg != stop && arg && arg->type == TN_MAIL_IMAP_ARG_LIST) {
        if (tn_mail_imap_flags_parse(is->cmd_pool, arg, flags, kw, nkw)
            != TN_OK)
        {
            return TN_ERROR;
        }

        arg = arg->next;
    }

    if (arg != stop && arg && arg->type == TN_MAIL_IMAP_ARG_QUOTED) {
        if (tn_mail_imap_parse_date_time(&arg->value, date) != TN_OK) {
            return TN_ERROR;
        }

        arg = arg->next;
    }

    return (arg == stop) ? TN_OK : TN_ERROR;
}


static void
tn_mail_imap_append_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_mail_imap_session_t    *is;
    tn_mail_imap_mbox_task_t  *t;

    is = s->data;
    t = task->ctx;

    if (t->rc == TN_OK) {
        is->nappend++;

        (void) tn_mail_imap_tagged(is, "OK", "[APPENDUID %uD %uD] APPEND "
                                   "completed", t->append->uidvalidity,
                                   t->append->uid);

        if (is->state == tn_imap_state_selected
            && is->mbox_name.len == t->name.len
            && tn_memcmp(is->mbox_name.data, t->name.data, t->name.len) == 0)
        {
            /* RFC 3501 6.3.11: the new message is told at once */
            is->notice = 1;
        }

    } else if (t->rc == TN_DECLINED) {
        (void) tn_mail_imap_refused(is, t->rc, t->reason, "[TRYCREATE] ");

    } else if (t->append->err == TN_ENOSPC) {
        (void) tn_mail_imap_tagged(is, "NO", "[UNAVAILABLE] Not enough "
                                   "disk space, try again later");

    } else {
        (void) tn_mail_imap_refused(is, t->rc, t->reason, "");
    }

    tn_mail_imap_task_free(s, task);
    tn_mail_imap_command_done(s, TN_OK);
}


/*
 * The message literal of APPEND, from the dispatcher:
 *   TN_MAIL_IMAP_LITERAL       check what came before it, open the spool
 *                              file, send the continuation;
 *   TN_MAIL_IMAP_LITERAL_DATA  write it with CRLF as LF;
 *   TN_MAIL_IMAP_LITERAL_END   close the file;
 *   TN_ERROR                   (the command failed, the session closes)
 *                              the file goes.
 */

tn_int_t
tn_mail_imap_append_literal(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_int_t rc)
{
    time_t                 date;
    uint32_t               flags;
    tn_str_t               name, *kw;
    tn_uint_t              nkw;
    tn_mail_imap_arg_t    *arg;
    tn_mail_imap_parse_t  *p;

    p = &is->parse;

    switch (rc) {

    case TN_MAIL_IMAP_LITERAL:

        if (is->state == tn_imap_state_nonauth
            || is->state == tn_imap_state_logout)
        {
            tn_mail_imap_parse_refuse(p);
            s->errors++;
            return tn_mail_imap_tagged(is, "BAD", "Command not valid in "
                                       "not authenticated state")
                   == TN_OK ? TN_DECLINED : TN_ERROR;
        }

        if (is->append) {
            tn_mail_imap_parse_refuse(p);
            tn_mail_imap_append_abort(is);
            (void) tn_mail_imap_tagged(is, "NO", "[CANNOT] MULTIAPPEND is "
                                       "not supported");
            return TN_DECLINED;
        }

        arg = p->args;

        if (tn_mail_imap_mbox_name_in(is, arg, &name) != TN_OK
            || tn_mail_imap_append_args(is, arg->next, p->literal, &flags,
                                        &kw, &nkw, &date)
               != TN_OK)
        {
            tn_mail_imap_parse_refuse(p);
            s->errors++;
            (void) tn_mail_imap_tagged(is, "BAD", "Invalid APPEND "
                                       "arguments");
            return TN_DECLINED;
        }

        is->append = tn_calloc(sizeof(tn_store_append_t),
                               s->connection->log);
        if (is->append == NULL) {
            return TN_ERROR;
        }

        is->spool_fd = tn_store_spool_create(
                           tn_store_get_conf((tn_cycle_t *) tn_cycle),
                           is->append->spool_path, s->connection->log);

        if (is->spool_fd == TN_INVALID_FILE) {
            tn_log_error(TN_LOG_ERR, s->connection->log, tn_errno,
                         "the APPEND spool file could not be made");
            tn_free(is->append);
            is->append = NULL;
            tn_mail_imap_parse_refuse(p);
            (void) tn_mail_imap_tagged(is, "NO", "[UNAVAILABLE] Cannot "
                                       "store the message now");
            return TN_DECLINED;
        }

        is->spool_cr = 0;

        if (p->literal_sync
            && tn_mail_imap_write(is, (u_char *) "+ Ready for literal data"
                                  CRLF, sizeof("+ Ready for literal data"
                                  CRLF) - 1)
               != TN_OK)
        {
            return TN_ERROR;
        }

        return TN_OK;

    case TN_MAIL_IMAP_LITERAL_DATA:

        if (is->spool_fd == TN_INVALID_FILE) {
            return TN_OK;
        }

        if (tn_mail_imap_append_write(s, is, p->data.data, p->data.len)
            != TN_OK)
        {
            tn_mail_imap_parse_refuse(p);
            tn_mail_imap_append_abort(is);
            (void) tn_mail_imap_tagged(is, "NO", "[UNAVAILABLE] Cannot "
                                       "store the message now");
            return TN_DECLINED;
        }

        return TN_OK;

    case TN_MAIL_IMAP_LITERAL_END:

        if (is->spool_fd == TN_INVALID_FILE) {
            return TN_OK;
        }

        if (p->literal_nul && !p->literal_binary) {
            /* RFC 3501 9: a literal is CHAR8; only literal8 carries NUL */
            tn_log_error(TN_LOG_INFO, s->connection->log, 0,
                         "client sent a NUL in an APPEND literal");
            tn_mail_imap_parse_refuse(p);
            tn_mail_imap_append_abort(is);
            s->errors++;
            (void) tn_mail_imap_tagged(is, "BAD", "NUL in a literal: send "
                                       "the message as a literal8 (~{n})");
            return TN_DECLINED;
        }

        if (is->spool_cr) {
            /*
             * A CR at the very end stays as it is (written as data: it
             * would wait in is->spool_cr again).
             */
            is->spool_cr = 0;

            if (tn_mail_imap_append_out(s, is, (u_char *) "\r", 1)
                != TN_OK)
            {
                goto end_failed;
            }
        }

        if (close(is->spool_fd) == -1) {
            is->spool_fd = TN_INVALID_FILE;
            tn_log_error(TN_LOG_ERR, s->connection->log, tn_errno,
                         "close(\"%s\") failed", is->append->spool_path);
            goto end_failed;
        }

        is->spool_fd = TN_INVALID_FILE;

        return TN_OK;

    default:
        tn_mail_imap_append_abort(is);
        return TN_OK;
    }

end_failed:

    tn_mail_imap_parse_refuse(p);
    tn_mail_imap_append_abort(is);
    (void) tn_mail_imap_tagged(is, "NO", "[UNAVAILABLE] Cannot store the "
                               "message now");

    return TN_DECLINED;
}


/*
 * Writes literal octets with CRLF as LF (a CR at the end of a run waits
 * in is->spool_cr for the next octet).  vsize is the CRLF size: the
 * size on disk plus one for every LF written.
 */

static tn_int_t
tn_mail_imap_append_write(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    u_char *data, size_t len)
{
    u_char              *p, *last, *o, buf[TN_MAIL_IMAP_SPOOL_CHUNK + 2];
    size_t               size;
    tn_store_append_t   *a;

    a = is->append;
    p = data;
    last = data + len;

    while (p < last || is->spool_cr) {
        o = buf;

        while (p < last && o < buf + TN_MAIL_IMAP_SPOOL_CHUNK) {

            if (is->spool_cr) {
                is->spool_cr = 0;

                if (*p != LF) {
                    *o++ = CR;
                    continue;
                }
            }

            if (*p == CR) {
                is->spool_cr = 1;
                p++;
                continue;
            }

            if (*p == LF) {
                a->vsize++;
            }

            *o++ = *p++;
        }

        size = o - buf;

        if (size == 0) {
            break;
        }

        if (tn_mail_imap_append_out(s, is, buf, size) != TN_OK) {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


/* octets as they are into the spool file */

static tn_int_t
tn_mail_imap_append_out(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    u_char *o, size_t size)
{
    ssize_t             n;
    tn_store_append_t  *a;

    a = is->append;

    while (size) {
        n = write(is->spool_fd, o, size);

        if (n == -1) {
            if (tn_errno == TN_EINTR) {
                continue;
            }

            tn_log_error(TN_LOG_ERR, s->connection->log, tn_errno,
                         "write(\"%s\") failed", a->spool_path);
            return TN_ERROR;
        }

        o += n;
        size -= n;
        a->size += n;
        a->vsize += n;
    }

    return TN_OK;
}


/* the APPEND in progress is given up: the spool file goes */

static void
tn_mail_imap_append_abort(tn_mail_imap_session_t *is)
{
    if (is->spool_fd != TN_INVALID_FILE) {
        (void) close(is->spool_fd);
        is->spool_fd = TN_INVALID_FILE;
    }

    if (is->append) {
        if (is->append->spool_path[0]) {
            (void) unlink(is->append->spool_path);
        }

        tn_free(is->append);
        is->append = NULL;
    }

    is->spool_cr = 0;
}


/* GETQUOTA "" and GETQUOTAROOT mailbox (RFC 9208) */

tn_int_t
tn_mail_imap_quota(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_str_t                   name;
    tn_mail_imap_mbox_task_t  *t;

    if (is->command == TN_MAIL_IMAP_GETQUOTAROOT) {
        if (tn_mail_imap_mbox_name_in(is, is->parse.args, &name) != TN_OK) {
            s->errors++;
            return tn_mail_imap_tagged(is, "BAD", "Invalid mailbox name");
        }

    } else {
        if (tn_mail_imap_arg_astring(is->parse.args, &name) != TN_OK) {
            s->errors++;
            return tn_mail_imap_tagged(is, "BAD", "Invalid quota root");
        }

        if (name.len != 0) {
            return tn_mail_imap_tagged(is, "NO", "[NONEXISTENT] No such "
                                       "quota root");
        }
    }

    t = tn_mail_imap_mbox_task(s, tn_mail_imap_quota_done, &name);
    if (t == NULL) {
        return tn_mail_imap_unavailable(is);
    }

    return tn_mail_imap_mbox_start(s, t);
}


static void
tn_mail_imap_quota_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_int_t                   rc;
    tn_uint_t                  command;
    tn_mail_imap_session_t    *is;
    tn_mail_imap_mbox_task_t  *t;

    is = s->data;
    t = task->ctx;
    command = t->command;

    if (tn_mail_imap_mbox_failed(s, task, "")) {
        return;
    }

    rc = TN_OK;

    if (t->command == TN_MAIL_IMAP_GETQUOTAROOT) {
        if (tn_mail_imap_write(is, (u_char *) "* QUOTAROOT ", 12) != TN_OK
            || tn_mail_imap_write_name(is, t->base.pool, &t->name) != TN_OK
            || tn_mail_imap_printf(is, "%s" CRLF, t->limit ? " \"\"" : "")
               != TN_OK)
        {
            rc = TN_ERROR;
        }

    } else if (t->limit == 0) {
        tn_mail_imap_task_free(s, task);
        (void) tn_mail_imap_tagged(is, "NO", "[NONEXISTENT] No quota");
        tn_mail_imap_command_done(s, TN_OK);
        return;
    }

    /* STORAGE is in units of 1024 octets */
    if (rc == TN_OK && t->limit
        && tn_mail_imap_printf(is, "* QUOTA \"\" (STORAGE %uL %uL)" CRLF,
                               (t->used + 1023) / 1024, t->limit / 1024)
           != TN_OK)
    {
        rc = TN_ERROR;
    }

    tn_mail_imap_task_free(s, task);

    if (rc != TN_OK) {
        tn_mail_imap_command_done(s, TN_ERROR);
        return;
    }

    (void) tn_mail_imap_tagged(is, "OK", "%s completed",
                               command == TN_MAIL_IMAP_GETQUOTA
                               ? "GETQUOTA" : "GETQUOTAROOT");

    tn_mail_imap_command_done(s, TN_OK);
}
