
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
 * FETCH and STORE (and UID FETCH, UID STORE).
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


#define TN_IMAP_FI_FLAGS           1
#define TN_IMAP_FI_UID             2
#define TN_IMAP_FI_INTERNALDATE    3
#define TN_IMAP_FI_SIZE            4
#define TN_IMAP_FI_MODSEQ          5
/* from the cache */
#define TN_IMAP_FI_ENVELOPE        6
#define TN_IMAP_FI_BODY            7
#define TN_IMAP_FI_BODYSTRUCTURE   8
/* sections: from the cache or the file */
#define TN_IMAP_FI_SECTION         9

#define TN_IMAP_INT64_LEN          (sizeof("-9223372036854775808") - 1)

/* messages of one batch at most */
#define TN_IMAP_FETCH_BATCH        512
/* a message file larger than this in its CRLF form is not fetched */
#define TN_IMAP_FETCH_MAX_LOAD     ((off_t) 1024 * 1024 * 1024)


typedef struct {
    tn_uint_t                   type;      /* TN_IMAP_FI_* */
    tn_uint_t                   cost;      /* TN_MAIL_IMAP_SCOST_* */
    tn_str_t                    name;      /* in the response */
    tn_mail_imap_section_t      sec;
} tn_mail_imap_fitem_t;


/* the command, in the command pool: is->cmd_ctx */
typedef struct {
    tn_mail_imap_fitem_t       *items;
    tn_uint_t                   nitems;
    tn_uint_t                   items_size;
    uint32_t                   *uids;      /* the set, ascending */
    tn_uint_t                   nuids;
    tn_uint_t                   next;      /* in uids */
    tn_uint_t                   next_item; /* of the message at next */
    tn_uint_t                   batch_end; /* after the batch out */
    uint32_t                   *seen;      /* \Seen was set: uids */
    tn_uint_t                   nseen;
    uint64_t                    changedsince;
    tn_uint_t                   cost;      /* the highest item cost */
    tn_mail_out_more_pt         more;      /* the session's, see flush */
    unsigned                    flags:1;   /* FLAGS asked for */
    unsigned                    uid:1;
    unsigned                    idate:1;
    unsigned                    size:1;
    unsigned                    modseq:1;
    unsigned                    set_seen:1;
    unsigned                    unknown_cte:1;
} tn_mail_imap_fetch_t;


/* one message of a batch: its response so far (the view part) */
typedef struct {
    uint32_t                    uid;
    tn_str_t                    head;      /* "* 5 FETCH (UID 9" */
    tn_uint_t                   nitems;    /* items in head */
    tn_uint_t                   idx;       /* in the command's uids */
} tn_mail_imap_fmsg_t;


typedef struct {
    tn_mail_task_ctx_t          base;
    tn_store_conf_t            *conf;
    tn_store_user_t             user;
    int64_t                     mbox_id;
    tn_pool_t                  *pool;      /* items, msgs; the task's */
    tn_mail_imap_fitem_t       *items;
    tn_uint_t                   nitems;
    tn_uint_t                   cost;
    tn_mail_imap_fmsg_t        *msgs;
    tn_uint_t                   nmsgs;
    tn_uint_t                   start_item; /* of msgs[0] */
    /* out */
    u_char                     *out;       /* malloc'd */
    size_t                      out_len;
    size_t                      out_size;
    tn_uint_t                   done;      /* messages handled */
    tn_uint_t                   next_item; /* of msgs[done] begun */
    tn_int_t                    rc;        /* TN_DECLINED: UNKNOWN-CTE */
} tn_mail_imap_fetch_task_t;


/* what the task has of one message */
typedef struct {
    tn_store_cache_t            cache;
    tn_str_t                    msg;       /* the file, once read */
    tn_pool_t                  *pool;      /* reset after the message */
    tn_log_t                   *log;
    char                        path[PATH_MAX];
} tn_mail_imap_fctx_t;


typedef struct {
    tn_mail_task_ctx_t          base;
    tn_store_conf_t            *conf;
    tn_store_user_t             user;
    int64_t                     mbox_id;
    tn_pool_t                  *pool;
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


static tn_int_t tn_mail_imap_fetch_bad(tn_mail_imap_session_t *is,
    const char *text);
static tn_int_t tn_mail_imap_fetch_parse(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg);
static tn_int_t tn_mail_imap_fetch_item(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg);
static tn_mail_imap_fitem_t *tn_mail_imap_fetch_add(
    tn_mail_imap_session_t *is, tn_mail_imap_fetch_t *f, tn_uint_t type,
    const char *name);
static tn_int_t tn_mail_imap_fetch_section(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg);
static tn_int_t tn_mail_imap_fetch_modifiers(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg);
static tn_int_t tn_mail_imap_fetch_start(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_fetch_batch(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
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
static void tn_mail_imap_fetch_handler(void *data, tn_log_t *log);
static tn_int_t tn_mail_imap_fetch_message(tn_mail_imap_fetch_task_t *t,
    tn_mail_imap_fmsg_t *m, tn_uint_t start, tn_pool_t *pool, tn_log_t *log);
static tn_int_t tn_mail_imap_fetch_value(tn_mail_imap_fctx_t *fc,
    tn_mail_imap_fitem_t *it, tn_str_t *data, tn_uint_t *binary);
static tn_int_t tn_mail_imap_fetch_gone(tn_mail_imap_fetch_task_t *t,
    tn_uint_t start);
static tn_int_t tn_mail_imap_fetch_data(tn_mail_imap_fetch_task_t *t,
    tn_mail_imap_fitem_t *it, tn_str_t *data, tn_uint_t literal8);
static u_char *tn_mail_imap_fetch_reserve(tn_mail_imap_fetch_task_t *t,
    size_t n);
static void tn_mail_imap_fetch_cancel(tn_thread_task_t *task);
static void tn_mail_imap_fetch_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_imap_fetch_flush(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_fetch_more(tn_mail_session_t *s);
static void tn_mail_imap_fetch_yield_handler(void *data, tn_log_t *log);
static void tn_mail_imap_fetch_yield_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_imap_fetch_finish(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_uint_t tn_mail_imap_uid_in(uint32_t *uids, tn_uint_t n,
    uint32_t uid);

static tn_int_t tn_mail_imap_store_parse(tn_mail_imap_session_t *is,
    tn_mail_imap_store_t *st, tn_store_flag_op_t *op);
static tn_int_t tn_mail_imap_store_post(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, uint32_t *uids, tn_uint_t n,
    tn_store_flag_op_t *op);
static void tn_mail_imap_store_handler(void *data, tn_log_t *log);
static void tn_mail_imap_store_cancel(tn_thread_task_t *task);
static void tn_mail_imap_store_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_imap_store_view(tn_mail_imap_session_t *is,
    tn_mail_imap_store_task_t *t);
static tn_int_t tn_mail_imap_store_respond(tn_mail_imap_session_t *is,
    tn_mail_imap_store_t *st, tn_mail_imap_store_task_t *t);
static tn_int_t tn_mail_imap_store_modified(tn_mail_imap_session_t *is,
    uint32_t *uids, tn_uint_t n);
static tn_int_t tn_mail_imap_fetch_condstore(tn_mail_imap_session_t *is);


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

    return tn_mail_imap_fetch_start(s, is);
}


/* a bad FETCH argument: the tagged BAD is written, TN_DONE */

static tn_int_t
tn_mail_imap_fetch_bad(tn_mail_imap_session_t *is, const char *text)
{
    (void) tn_mail_imap_tagged(is, "BAD", "%s", text);

    return TN_DONE;
}


/* the items and the modifiers; TN_OK, TN_DONE (BAD written), TN_ERROR */

static tn_int_t
tn_mail_imap_fetch_parse(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg)
{
    tn_int_t             rc;
    tn_str_t            *v;
    tn_mail_imap_arg_t  *a;

    f->items_size = (arg->type == TN_MAIL_IMAP_ARG_LIST) ? arg->nelts : 2;

    f->items = tn_palloc(is->cmd_pool,
                         f->items_size * sizeof(tn_mail_imap_fitem_t));
    if (f->items == NULL) {
        return TN_ERROR;
    }

    if (is->parse.uid) {
        f->uid = 1;
    }

    v = &arg->value;

#define tn_fetch_macro(lit)                                                  \
    (arg->type == TN_MAIL_IMAP_ARG_ATOM && !arg->section                     \
     && v->len == sizeof(lit) - 1                                            \
     && tn_strncasecmp(v->data, (u_char *) lit, sizeof(lit) - 1) == 0)

    /* the macros of RFC 3501 6.4.5, alone only */

    if (tn_fetch_macro("ALL") || tn_fetch_macro("FAST")
        || tn_fetch_macro("FULL"))
    {
        f->flags = 1;
        f->idate = 1;
        f->size = 1;

        if (!tn_fetch_macro("FAST")
            && tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_ENVELOPE, "ENVELOPE")
               == NULL)
        {
            return TN_ERROR;
        }

        if (tn_fetch_macro("FULL")
            && tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_BODY, "BODY") == NULL)
        {
            return TN_ERROR;
        }

        goto modifiers;
    }

#undef tn_fetch_macro

    if (arg->type == TN_MAIL_IMAP_ARG_LIST) {
        if (arg->list == NULL) {
            return tn_mail_imap_fetch_bad(is, "Empty fetch item list");
        }

        for (a = arg->list; a; a = a->next) {
            rc = tn_mail_imap_fetch_item(is, f, a);
            if (rc != TN_OK) {
                return rc;
            }
        }

    } else {
        rc = tn_mail_imap_fetch_item(is, f, arg);
        if (rc != TN_OK) {
            return rc;
        }
    }

modifiers:

    if (arg->next) {
        if (arg->next->type != TN_MAIL_IMAP_ARG_LIST
            || arg->next->next != NULL)
        {
            return tn_mail_imap_fetch_bad(is, "Invalid arguments");
        }

        rc = tn_mail_imap_fetch_modifiers(is, f, arg->next);
        if (rc != TN_OK) {
            return rc;
        }
    }

    if (f->modseq && tn_mail_imap_fetch_condstore(is) != TN_OK) {
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_int_t
tn_mail_imap_fetch_item(tn_mail_imap_session_t *is, tn_mail_imap_fetch_t *f,
    tn_mail_imap_arg_t *arg)
{
    tn_str_t              *v;
    tn_mail_imap_fitem_t  *it;

    if (arg->type != TN_MAIL_IMAP_ARG_ATOM) {
        return tn_mail_imap_fetch_bad(is, "Invalid fetch item");
    }

    if (arg->section) {
        return tn_mail_imap_fetch_section(is, f, arg);
    }

    v = &arg->value;

#define tn_fetch_is(lit)                                                     \
    (v->len == sizeof(lit) - 1                                               \
     && tn_strncasecmp(v->data, (u_char *) lit, sizeof(lit) - 1) == 0)

    if (tn_fetch_is("FLAGS")) {
        f->flags = 1;
        return TN_OK;
    }

    if (tn_fetch_is("UID")) {
        f->uid = 1;
        return TN_OK;
    }

    if (tn_fetch_is("INTERNALDATE")) {
        f->idate = 1;
        return TN_OK;
    }

    if (tn_fetch_is("RFC822.SIZE")) {
        f->size = 1;
        return TN_OK;
    }

    if (tn_fetch_is("MODSEQ")) {
        f->modseq = 1;
        return TN_OK;
    }

    it = NULL;

    if (tn_fetch_is("ENVELOPE")) {
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_ENVELOPE, "ENVELOPE");

    } else if (tn_fetch_is("BODY")) {
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_BODY, "BODY");

    } else if (tn_fetch_is("BODYSTRUCTURE")) {
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_BODYSTRUCTURE,
                                    "BODYSTRUCTURE");

    } else if (tn_fetch_is("RFC822")) {
        /* BODY[] */
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_SECTION, "RFC822");
        if (it) {
            it->sec.item = TN_MAIL_IMAP_FETCH_BODY;
            it->sec.text = TN_MAIL_IMAP_SECTION_ALL;
            it->cost = TN_MAIL_IMAP_SCOST_FILE;
            f->set_seen = 1;
        }

    } else if (tn_fetch_is("RFC822.HEADER")) {
        /* BODY.PEEK[HEADER] */
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_SECTION,
                                    "RFC822.HEADER");
        if (it) {
            it->sec.item = TN_MAIL_IMAP_FETCH_BODY;
            it->sec.text = TN_MAIL_IMAP_SECTION_HEADER;
            it->sec.peek = 1;
        }

    } else if (tn_fetch_is("RFC822.TEXT")) {
        /* BODY[TEXT] */
        it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_SECTION,
                                    "RFC822.TEXT");
        if (it) {
            it->sec.item = TN_MAIL_IMAP_FETCH_BODY;
            it->sec.text = TN_MAIL_IMAP_SECTION_TEXT;
            it->cost = TN_MAIL_IMAP_SCOST_FILE;
            f->set_seen = 1;
        }

    } else {
        return tn_mail_imap_fetch_bad(is, "Unknown fetch item");
    }

#undef tn_fetch_is

    if (it == NULL) {
        return TN_ERROR;
    }

    if (it->cost > f->cost) {
        f->cost = it->cost;
    }

    return TN_OK;
}


static tn_mail_imap_fitem_t *
tn_mail_imap_fetch_add(tn_mail_imap_session_t *is, tn_mail_imap_fetch_t *f,
    tn_uint_t type, const char *name)
{
    tn_mail_imap_fitem_t  *it;

    if (f->nitems == f->items_size) {
        return NULL;
    }

    it = &f->items[f->nitems++];
    tn_memzero(it, sizeof(tn_mail_imap_fitem_t));

    it->type = type;
    it->name.data = (u_char *) name;
    it->name.len = tn_strlen(name);
    it->cost = TN_MAIL_IMAP_SCOST_CACHE;

    if (it->cost > f->cost) {
        f->cost = it->cost;
    }

    return it;
}


/*
 * BODY[...]<...>, BODY.PEEK[...], BINARY[...], BINARY.PEEK[...],
 * BINARY.SIZE[...].  The response names the section as the client
 * wrote it, without ".PEEK", and the partial by its origin only.
 */

static tn_int_t
tn_mail_imap_fetch_section(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg)
{
    u_char                  *lb, *rb, *p, *q;
    tn_mail_imap_fitem_t    *it;
    tn_mail_imap_section_t   sec;

    if (tn_mail_imap_parse_section(&arg->value, &sec) != TN_OK) {
        return tn_mail_imap_fetch_bad(is, "Invalid fetch section");
    }

    lb = tn_strlchr(arg->value.data, arg->value.data + arg->value.len, '[');

    for (rb = arg->value.data + arg->value.len - 1; rb > lb; rb--) {
        if (*rb == ']') {
            break;
        }
    }

    if (lb == NULL || rb == lb) {
        return tn_mail_imap_fetch_bad(is, "Invalid fetch section");
    }

    it = tn_mail_imap_fetch_add(is, f, TN_IMAP_FI_SECTION, "");
    if (it == NULL) {
        return tn_mail_imap_fetch_bad(is, "Too many fetch items");
    }

    it->sec = sec;

    /* "BINARY.SIZE" + "[" + section + "]" + "<4294967295>" */

    it->name.data = tn_pnalloc(is->cmd_pool, (rb - lb) + 32);
    if (it->name.data == NULL) {
        return TN_ERROR;
    }

    switch (sec.item) {
    case TN_MAIL_IMAP_FETCH_BINARY:
        p = tn_cpymem(it->name.data, "BINARY", 6);
        break;
    case TN_MAIL_IMAP_FETCH_BINARY_SIZE:
        p = tn_cpymem(it->name.data, "BINARY.SIZE", 11);
        break;
    default:
        p = tn_cpymem(it->name.data, "BODY", 4);
        break;
    }

    /* the section keywords in upper case, the field names as sent */

    for (q = lb; q <= rb; q++) {
        if (*q == '(') {
            p = tn_cpymem(p, q, rb - q + 1);
            break;
        }

        *p++ = tn_toupper(*q);
    }

    if (sec.partial) {
        p = tn_sprintf(p, "<%uD>", sec.offset);
    }

    it->name.len = p - it->name.data;

    /* the header of the whole message is in the cache */

    if (sec.item == TN_MAIL_IMAP_FETCH_BODY && sec.nparts == 0
        && (sec.text == TN_MAIL_IMAP_SECTION_HEADER
            || sec.text == TN_MAIL_IMAP_SECTION_FIELDS
            || sec.text == TN_MAIL_IMAP_SECTION_FIELDS_NOT))
    {
        it->cost = TN_MAIL_IMAP_SCOST_CACHE;

    } else {
        it->cost = TN_MAIL_IMAP_SCOST_FILE;
    }

    if (it->cost > f->cost) {
        f->cost = it->cost;
    }

    if (!sec.peek && sec.item != TN_MAIL_IMAP_FETCH_BINARY_SIZE) {
        f->set_seen = 1;
    }

    return TN_OK;
}


/* (CHANGEDSINCE n) of RFC 7162 3.1.4; VANISHED is not supported */

static tn_int_t
tn_mail_imap_fetch_modifiers(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg)
{
    tn_mail_imap_arg_t  *a;

    for (a = arg->list; a; a = a->next) {

        if (a->type == TN_MAIL_IMAP_ARG_ATOM
            && a->value.len == 12
            && tn_strncasecmp(a->value.data, (u_char *) "CHANGEDSINCE", 12)
               == 0
            && a->next && a->next->type == TN_MAIL_IMAP_ARG_NUMBER
            && a->next->number <= (uint64_t) INT64_MAX)
        {
            a = a->next;
            f->changedsince = a->number;
            f->modseq = 1;
            continue;
        }

        return tn_mail_imap_fetch_bad(is, "Invalid fetch modifier");
    }

    return TN_OK;
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

static tn_int_t
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

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, s->connection->log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    task = tn_mail_task_alloc(s, sizeof(tn_mail_imap_fetch_task_t),
                              tn_mail_imap_fetch_handler,
                              tn_mail_imap_fetch_done);
    if (task == NULL) {
        tn_destroy_pool(pool);
        return TN_ERROR;
    }

    t = task->ctx;
    t->base.cancel = tn_mail_imap_fetch_cancel;
    t->conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);
    t->user = *s->user;
    t->mbox_id = is->mbox_id;
    t->pool = pool;
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

    if (tn_mail_task_post(s, task) != TN_OK) {
        goto failed;
    }

    return TN_AGAIN;

failed:

    tn_mail_task_free(s, task);
    tn_destroy_pool(pool);

    return TN_ERROR;
}


/* in a pool thread: the responses of the batch */

static void
tn_mail_imap_fetch_handler(void *data, tn_log_t *log)
{
    tn_int_t                    rc;
    tn_uint_t                   i, start;
    tn_pool_t                  *pool;
    tn_mail_imap_fetch_task_t  *t = data;

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        t->rc = TN_ERROR;
        return;
    }

    t->rc = TN_OK;
    start = t->start_item;

    for (i = 0; i < t->nmsgs; i++) {

        rc = tn_mail_imap_fetch_message(t, &t->msgs[i], start, pool, log);

        tn_reset_pool(pool);

        if (rc == TN_AGAIN) {
            /* stopped inside the message: the next batch goes on */
            break;
        }

        if (rc == TN_ERROR || rc == TN_DECLINED) {
            t->rc = rc;
            break;
        }

        t->done = i + 1;
        start = 0;

        if (t->out_len >= TN_MAIL_IMAP_BATCH_OUTPUT) {
            break;
        }
    }

    tn_destroy_pool(pool);
}


/*
 * One message's response into t->out, from its item start (0: the
 * whole response; else the head and the items before start were sent
 * by the batch before).  TN_OK: done, also when the message was
 * expunged meanwhile (nothing is written; or, when its response was
 * begun, NIL for the rest); TN_AGAIN: stopped after an item with a
 * batch of output, t->next_item set; TN_DECLINED: a BINARY section
 * can't be decoded; TN_ERROR.
 */

static tn_int_t
tn_mail_imap_fetch_message(tn_mail_imap_fetch_task_t *t,
    tn_mail_imap_fmsg_t *m, tn_uint_t start, tn_pool_t *pool, tn_log_t *log)
{
    u_char                *p;
    size_t                 begin;
    tn_int_t               rc;
    tn_str_t               data;
    tn_uint_t              i, k, want, binary;
    tn_mail_imap_fctx_t    fc;
    tn_mail_imap_fitem_t  *it;

    want = TN_STORE_WANT_CACHE;

    for (i = start; i < t->nitems; i++) {
        if (t->items[i].type == TN_IMAP_FI_SECTION) {
            want |= TN_STORE_WANT_PATH;
        }
    }

    tn_memzero(&fc.cache, sizeof(tn_store_cache_t));
    fc.msg.len = 0;
    fc.msg.data = NULL;
    fc.pool = pool;
    fc.log = log;

    rc = tn_store_mbox_message(t->conf, &t->user, t->mbox_id, m->uid, want,
                               fc.path, pool, &fc.cache, log);

    if (rc == TN_DECLINED) {
        /* expunged meanwhile */
        return tn_mail_imap_fetch_gone(t, start);
    }

    if (rc != TN_OK) {
        return TN_ERROR;
    }

    begin = t->out_len;

    if (start == 0) {
        p = tn_mail_imap_fetch_reserve(t, m->head.len);
        if (p == NULL) {
            return TN_ERROR;
        }

        tn_memcpy(p, m->head.data, m->head.len);
        t->out_len += m->head.len;
        k = m->nitems;

    } else {
        k = 1;
    }

    for (i = start; i < t->nitems; i++) {
        it = &t->items[i];

        binary = 0;

        rc = tn_mail_imap_fetch_value(&fc, it, &data, &binary);

        if (rc == TN_DONE || rc == TN_DECLINED) {
            /* expunged meanwhile, or a BINARY that can't be decoded */

            t->out_len = begin;

            if (tn_mail_imap_fetch_gone(t, start) != TN_OK) {
                return TN_ERROR;
            }

            return (rc == TN_DONE) ? TN_OK : TN_DECLINED;
        }

        if (rc != TN_OK) {
            return TN_ERROR;
        }

        p = tn_mail_imap_fetch_reserve(t, it->name.len + 2);
        if (p == NULL) {
            return TN_ERROR;
        }

        if (k++) {
            *p++ = ' ';
            t->out_len++;
        }

        p = tn_cpymem(p, it->name.data, it->name.len);
        *p++ = ' ';
        t->out_len += it->name.len + 1;

        if (tn_mail_imap_fetch_data(t, it, &data, binary) != TN_OK) {
            return TN_ERROR;
        }

        if (i + 1 < t->nitems && t->out_len >= TN_MAIL_IMAP_BATCH_OUTPUT) {
            /* a message of many large sections goes out in pieces */
            t->next_item = i + 1;
            return TN_AGAIN;
        }
    }

    p = tn_mail_imap_fetch_reserve(t, 3);
    if (p == NULL) {
        return TN_ERROR;
    }

    *p++ = ')'; *p++ = CR; *p = LF;
    t->out_len += 3;

    return TN_OK;
}


/*
 * The value of an item of the cache or the file (read once, at the first
 * section that needs it).  TN_OK; TN_DONE: the file is gone (expunged
 * meanwhile); TN_DECLINED: UNKNOWN-CTE; TN_ERROR.
 */

static tn_int_t
tn_mail_imap_fetch_value(tn_mail_imap_fctx_t *fc, tn_mail_imap_fitem_t *it,
    tn_str_t *data, tn_uint_t *binary)
{
    tn_int_t  rc;

    switch (it->type) {

    case TN_IMAP_FI_ENVELOPE:
        *data = fc->cache.envelope;
        return TN_OK;

    case TN_IMAP_FI_BODY:
        *data = fc->cache.body;
        return TN_OK;

    case TN_IMAP_FI_BODYSTRUCTURE:
        *data = fc->cache.bodystructure;
        return TN_OK;

    default: /* TN_IMAP_FI_SECTION */
        break;
    }

    if (it->cost == TN_MAIL_IMAP_SCOST_CACHE
        && !fc->cache.header_too_large && fc->cache.header.len)
    {
        if (it->sec.text == TN_MAIL_IMAP_SECTION_HEADER) {
            *data = fc->cache.header;
            return TN_OK;
        }

        return tn_mail_imap_msg_fields(fc->pool, &fc->cache.header,
                                       &it->sec.fields,
                                       it->sec.text
                                       == TN_MAIL_IMAP_SECTION_FIELDS_NOT,
                                       data);
    }

    if (fc->msg.data == NULL) {
        rc = tn_mail_imap_msg_load(fc->pool, fc->path,
                                   TN_IMAP_FETCH_MAX_LOAD, &fc->msg);

        if (rc == TN_ERROR && tn_errno == ENOENT) {
            return TN_DONE;
        }

        if (rc != TN_OK) {
            tn_log_error(TN_LOG_ERR, fc->log, tn_errno,
                         "fetch of \"%s\" failed", fc->path);
            return TN_ERROR;
        }
    }

    rc = tn_mail_imap_msg_section(fc->pool, &fc->msg, &it->sec, data,
                                  binary);

    return (rc == TN_OK || rc == TN_DECLINED) ? rc : TN_ERROR;
}


/*
 * A message expunged meanwhile: nothing when its response was not begun
 * (start 0), else the rest of its items as NIL (0 for BINARY.SIZE) and
 * the end of the response, which must be complete.
 */

static tn_int_t
tn_mail_imap_fetch_gone(tn_mail_imap_fetch_task_t *t, tn_uint_t start)
{
    u_char                *p;
    tn_uint_t              i;
    tn_mail_imap_fitem_t  *it;

    if (start == 0) {
        return TN_OK;
    }

    for (i = start; i < t->nitems; i++) {
        it = &t->items[i];

        p = tn_mail_imap_fetch_reserve(t, it->name.len + 8);
        if (p == NULL) {
            return TN_ERROR;
        }

        *p++ = ' ';
        p = tn_cpymem(p, it->name.data, it->name.len);

        if (it->type == TN_IMAP_FI_SECTION
            && it->sec.item == TN_MAIL_IMAP_FETCH_BINARY_SIZE)
        {
            p = tn_cpymem(p, " 0", 2);

        } else {
            p = tn_cpymem(p, " NIL", 4);
        }

        t->out_len = p - t->out;
    }

    p = tn_mail_imap_fetch_reserve(t, 3);
    if (p == NULL) {
        return TN_ERROR;
    }

    *p++ = ')'; *p++ = CR; *p = LF;
    t->out_len += 3;

    return TN_OK;
}


/* an item's value: a string from the cache as it is, a section as a
   literal (literal8 for BINARY with a NUL), BINARY.SIZE as a number */

static tn_int_t
tn_mail_imap_fetch_data(tn_mail_imap_fetch_task_t *t,
    tn_mail_imap_fitem_t *it, tn_str_t *data, tn_uint_t literal8)
{
    u_char    *p;
    tn_str_t   d;

    d = *data;

    if (it->type != TN_IMAP_FI_SECTION) {
        if (d.len == 0) {
            tn_str_set(&d, "NIL");
        }

        p = tn_mail_imap_fetch_reserve(t, d.len);
        if (p == NULL) {
            return TN_ERROR;
        }

        tn_memcpy(p, d.data, d.len);
        t->out_len += d.len;

        return TN_OK;
    }

    if (it->sec.item == TN_MAIL_IMAP_FETCH_BINARY_SIZE) {
        p = tn_mail_imap_fetch_reserve(t, TN_IMAP_INT64_LEN);
        if (p == NULL) {
            return TN_ERROR;
        }

        t->out_len += tn_sprintf(p, "%uz", d.len) - p;

        return TN_OK;
    }

    if (it->sec.partial) {
        if (it->sec.offset >= d.len) {
            d.len = 0;

        } else {
            d.data += it->sec.offset;
            d.len -= it->sec.offset;

            if (d.len > it->sec.count) {
                d.len = it->sec.count;
            }
        }
    }

    p = tn_mail_imap_fetch_reserve(t, d.len + TN_IMAP_INT64_LEN + 8);
    if (p == NULL) {
        return TN_ERROR;
    }

    if (literal8) {
        *p++ = '~';
        t->out_len++;
    }

    t->out_len += tn_sprintf(p, "{%uz}" CRLF, d.len) - p;
    p = t->out + t->out_len;

    tn_memcpy(p, d.data, d.len);
    t->out_len += d.len;

    return TN_OK;
}


/* room for n more bytes in t->out (malloc: no pool is safe to grow) */

static u_char *
tn_mail_imap_fetch_reserve(tn_mail_imap_fetch_task_t *t, size_t n)
{
    u_char  *p;
    size_t   size;

    if (t->out_size - t->out_len >= n) {
        return t->out + t->out_len;
    }

    size = tn_max(t->out_size * 2, 16384);

    while (size - t->out_len < n) {
        size *= 2;
    }

    p = realloc(t->out, size);
    if (p == NULL) {
        return NULL;
    }

    t->out = p;
    t->out_size = size;

    return p + t->out_len;
}


static void
tn_mail_imap_fetch_cancel(tn_thread_task_t *task)
{
    tn_mail_imap_fetch_task_t  *t;

    t = task->ctx;

    tn_free(t->out);
    tn_destroy_pool(t->pool);
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

    tn_mail_imap_fetch_cancel(task);
    tn_mail_task_free(s, task);

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
 * waits to be sent, else once the output in flight is sent.  The
 * session's output hook (s->out_more, set while its output is in
 * flight) is wrapped for that; the wrapper must not end the command
 * from inside tn_mail_send(), so it posts an empty task whose done
 * callback goes on from the event loop.
 */

static tn_int_t
tn_mail_imap_fetch_flush(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    size_t                 pending;
    tn_mail_imap_fetch_t  *f;

    f = is->cmd_ctx;

    pending = s->out.len + (is->out_len - is->out_sent);

    if (pending < TN_MAIL_IMAP_BATCH_OUTPUT || s->out_more == NULL) {
        return tn_mail_imap_fetch_batch(s, is);
    }

    f->more = s->out_more;
    s->out_more = tn_mail_imap_fetch_more;

    return TN_AGAIN;
}


static tn_int_t
tn_mail_imap_fetch_more(tn_mail_session_t *s)
{
    tn_int_t                 rc;
    tn_thread_task_t        *task;
    tn_mail_imap_fetch_t    *f;
    tn_mail_imap_session_t  *is;

    is = s->data;
    f = is->cmd_ctx;

    s->out_more = f->more;
    f->more = NULL;

    /* the session hands what was written meanwhile, or ends its send */

    rc = s->out_more(s);
    if (rc != TN_OK) {
        return rc;
    }

    task = tn_mail_task_alloc(s, sizeof(tn_mail_task_ctx_t),
                              tn_mail_imap_fetch_yield_handler,
                              tn_mail_imap_fetch_yield_done);
    if (task == NULL) {
        return TN_ERROR;
    }

    if (tn_mail_task_post(s, task) != TN_OK) {
        tn_mail_task_free(s, task);
        return TN_ERROR;
    }

    return TN_OK;
}


static void
tn_mail_imap_fetch_yield_handler(void *data, tn_log_t *log)
{
    /* nothing: the done callback runs in the event loop */
}


static void
tn_mail_imap_fetch_yield_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_int_t  rc;

    tn_mail_task_free(s, task);

    rc = tn_mail_imap_fetch_batch(s, s->data);

    if (rc != TN_AGAIN) {
        tn_mail_imap_command_done(s, rc);
    }
}


/* uid in uids (ascending) */

static tn_uint_t
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

    if (st->unchanged && tn_mail_imap_fetch_condstore(is) != TN_OK) {
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

static tn_int_t
tn_mail_imap_store_post(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    uint32_t *uids, tn_uint_t n, tn_store_flag_op_t *op)
{
    tn_uint_t                   i;
    tn_pool_t                  *pool;
    tn_thread_task_t           *task;
    tn_mail_imap_store_task_t  *t;

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, s->connection->log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    task = tn_mail_task_alloc(s, sizeof(tn_mail_imap_store_task_t),
                              tn_mail_imap_store_handler,
                              tn_mail_imap_store_done);
    if (task == NULL) {
        tn_destroy_pool(pool);
        return TN_ERROR;
    }

    t = task->ctx;
    t->base.cancel = tn_mail_imap_store_cancel;
    t->conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);
    t->user = *s->user;
    t->mbox_id = is->mbox_id;
    t->pool = pool;
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

    if (tn_mail_task_post(s, task) != TN_OK) {
        goto failed;
    }

    return TN_AGAIN;

failed:

    tn_mail_task_free(s, task);
    tn_destroy_pool(pool);

    return TN_ERROR;
}


static void
tn_mail_imap_store_handler(void *data, tn_log_t *log)
{
    tn_mail_imap_store_task_t  *t = data;

    t->rc = tn_store_mbox_store(t->conf, &t->user, t->mbox_id, t->uids,
                                t->nuids, &t->op, t->pool, &t->out,
                                &t->nout, &t->failed, &t->nfailed,
                                &t->reason, log);

    if (t->rc == TN_OK && t->keywords) {
        if (tn_store_mbox_changes(t->conf, &t->user, t->mbox_id,
                                  (uint64_t) INT64_MAX, t->pool, &t->changes,
                                  log)
            != TN_OK)
        {
            t->keywords = 0;
        }
    }
}


static void
tn_mail_imap_store_cancel(tn_thread_task_t *task)
{
    tn_mail_imap_store_task_t  *t;

    t = task->ctx;

    tn_destroy_pool(t->pool);
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

    tn_mail_imap_store_cancel(task);
    tn_mail_task_free(s, task);

    if (rc != TN_AGAIN) {
        tn_mail_imap_command_done(s, rc);
    }
}


/* the rows after the STORE into the view, new keywords included */

static tn_int_t
tn_mail_imap_store_view(tn_mail_imap_session_t *is,
    tn_mail_imap_store_task_t *t)
{
    u_char           *p;
    tn_int_t          n;
    tn_uint_t         i, nkw;
    tn_store_imsg_t  *m, *row;

    nkw = is->nkeywords;

    if (t->keywords && t->changes.nkeywords > is->nkeywords) {

        for (i = is->nkeywords; i < t->changes.nkeywords; i++) {
            p = tn_alloc(t->changes.keywords[i].len + 1, tn_cycle->log);
            if (p == NULL) {
                return TN_ERROR;
            }

            tn_memcpy(p, t->changes.keywords[i].data,
                      t->changes.keywords[i].len);
            p[t->changes.keywords[i].len] = '\0';

            is->keywords[i].data = p;
            is->keywords[i].len = t->changes.keywords[i].len;
            is->nkeywords = i + 1;
        }
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

        if (tn_mail_imap_printf(is, "* FLAGS (\\Answered \\Flagged "
                                "\\Deleted \\Seen \\Draft") != TN_OK)
        {
            return TN_ERROR;
        }

        for (i = 0; i < is->nkeywords; i++) {
            if (tn_mail_imap_printf(is, " %V", &is->keywords[i]) != TN_OK) {
                return TN_ERROR;
            }
        }

        if (tn_mail_imap_printf(is, ")" CRLF "* OK [PERMANENTFLAGS "
                                "(\\Answered \\Flagged \\Deleted \\Seen "
                                "\\Draft") != TN_OK)
        {
            return TN_ERROR;
        }

        for (i = 0; i < is->nkeywords; i++) {
            if (tn_mail_imap_printf(is, " %V", &is->keywords[i]) != TN_OK) {
                return TN_ERROR;
            }
        }

        if (tn_mail_imap_printf(is, " \\*)] Flags permitted" CRLF)
            != TN_OK)
        {
            return TN_ERROR;
        }
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


/*
 * RFC 7162 3.1: the first CONDSTORE-enabling command of a session with a
 * mailbox selected tells HIGHESTMODSEQ: that of the view, which may be
 * ahead of its last sync point with the session's own changes.
 */

static tn_int_t
tn_mail_imap_fetch_condstore(tn_mail_imap_session_t *is)
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
