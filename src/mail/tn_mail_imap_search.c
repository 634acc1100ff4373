
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>
#include <tn_mail_imap_search_key.h>
#include <tn_mail_imap_search_eval.h>


/*
 * SEARCH, UID SEARCH, ESEARCH results (RFC 4731, RFC 9051), SEARCHRES
 * (RFC 5182), and SORT, UID SORT (RFC 5256).
 *
 * The keys are parsed into a tree (tn_mail_imap_search_key.c) in the
 * event loop, where sequence sets, "$", dates and keywords are resolved
 * against the view and strings are folded.  A tree of view keys only
 * (flags, sizes, internal dates, sets, MODSEQ) is evaluated at once; a
 * tree with header keys goes to one thread-pool task with a copy of the
 * view and of the tree, which reads each message's header cache from
 * the index (only for the messages the cheaper keys let through, see
 * tn_mail_imap_skey_order()), and the message file only for BODY and
 * TEXT.  A message expunged meanwhile does not match.  The evaluation
 * itself is tn_mail_imap_search_eval.c: here are its loaders, which call
 * the store and read the files.
 */


/* a message larger than this in its CRLF form is not searched by BODY */
#define TN_IMAP_SEARCH_MAX_LOAD  ((off_t) 256 * 1024 * 1024)


/* the command, in the command pool */
typedef struct {
    tn_mail_imap_search_t       sr;
    tn_uint_t                   sort;
    tn_uint_t                   cache;     /* SORT needs the cache */
} tn_mail_imap_search_cmd_t;


/* what the task's loaders need (tn_mail_imap_seval_t data) */
typedef struct {
    tn_store_conf_t            *conf;
    tn_store_user_t            *user;
    int64_t                     mbox_id;
    tn_log_t                   *log;
    tn_uint_t                   want;      /* TN_STORE_WANT_* */
    char                        path[PATH_MAX];
    /* the caches of a chunk of messages, read at once (NULL: each alone) */
    tn_store_cache_t           *caches;
    u_char                     *found;
    uint32_t                   *uids;
    tn_pool_t                  *chunk_pool;
    tn_uint_t                   cols;      /* TN_STORE_COL_* */
    tn_uint_t                   first;     /* the view index of caches[0] */
    tn_uint_t                   n;
    tn_uint_t                   idx;       /* of the message evaluated */
} tn_mail_imap_search_loader_t;


/* the header caches SEARCH and SORT read at once */
#define TN_IMAP_SEARCH_CHUNK  256


/* a SORT element */
typedef struct {
    uint32_t                    idx;       /* in the view */
    uint32_t                    pad;
    uint64_t                    size;
    time_t                      arrival;
    time_t                      date;
    tn_str_t                    str[4];    /* CC, FROM, SUBJECT, TO */
    tn_mail_imap_search_t      *sr;
} tn_mail_imap_sort_elt_t;


typedef struct {
    tn_mail_imap_task_t         base;
    tn_store_imsg_t            *msgs;      /* a copy of the view */
    tn_uint_t                   nmsgs;
    tn_mail_imap_skey_t        *root;      /* a copy of the tree */
    tn_mail_imap_search_t       sr;        /* SORT criteria */
    tn_uint_t                   sort;
    tn_uint_t                   cache;
    /* out */
    uint32_t                   *result;    /* view indexes */
    tn_uint_t                   nresult;
    tn_int_t                    rc;
} tn_mail_imap_search_task_t;


static tn_int_t tn_mail_imap_search_run(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_uint_t sort);
static tn_int_t tn_mail_imap_search_charset(tn_str_t *charset);
static tn_int_t tn_mail_imap_search_compile(tn_mail_imap_session_t *is,
    tn_mail_imap_skey_t *key);
static tn_mail_imap_skey_t *tn_mail_imap_search_copy(tn_pool_t *pool,
    tn_mail_imap_skey_t *key);
static tn_int_t tn_mail_imap_search_fold(tn_pool_t *pool, tn_str_t *s);
static tn_int_t tn_mail_imap_search_view(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_search_post(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static void tn_mail_imap_search_handler(void *data, tn_log_t *log);
static void tn_mail_imap_search_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_uint_t tn_mail_imap_search_cols(tn_mail_imap_skey_t *key);
static void tn_mail_imap_search_chunk(tn_mail_imap_search_task_t *t,
    tn_mail_imap_search_loader_t *ld, tn_uint_t i);
static tn_int_t tn_mail_imap_search_load_cache(tn_mail_imap_seval_t *ev);
static tn_int_t tn_mail_imap_search_load_file(tn_mail_imap_seval_t *ev,
    tn_str_t *msg);
static tn_int_t tn_mail_imap_sort_build(tn_mail_imap_search_task_t *t,
    tn_log_t *log);
static int tn_mail_imap_sort_cmp(const void *one, const void *two);
static tn_int_t tn_mail_imap_search_respond(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, uint32_t *result, tn_uint_t n);
static tn_int_t tn_mail_imap_search_esearch(tn_mail_imap_session_t *is,
    tn_mail_imap_search_cmd_t *sc, uint32_t *nums, tn_uint_t n,
    tn_uint_t ret, uint64_t modseq, u_char *line);
static tn_int_t tn_mail_imap_search_save(tn_mail_imap_session_t *is,
    uint32_t *result, tn_uint_t n, tn_uint_t ret);


tn_int_t
tn_mail_imap_search(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    if (is->parse.command == TN_MAIL_IMAP_ESEARCH) {
        /* RFC 7377 multimailbox search is not offered */
        return tn_mail_imap_tagged(is, "BAD", "ESEARCH is not supported");
    }

    return tn_mail_imap_search_run(s, is, 0);
}


tn_int_t
tn_mail_imap_sort(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    return tn_mail_imap_search_run(s, is, 1);
}


static tn_int_t
tn_mail_imap_search_run(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_uint_t sort)
{
    tn_int_t                    rc;
    tn_uint_t                   i;
    tn_mail_imap_search_cmd_t  *sc;

    sc = tn_pcalloc(is->cmd_pool, sizeof(tn_mail_imap_search_cmd_t));
    if (sc == NULL) {
        return TN_ERROR;
    }

    sc->sort = sort;

    rc = tn_mail_imap_search_parse(is->cmd_pool, is->parse.args, sort,
                                   &sc->sr);

    if (rc == TN_DECLINED) {
        return TN_ERROR;
    }

    if (rc != TN_OK) {
        return tn_mail_imap_tagged(is, "BAD", "%s", sc->sr.err);
    }

    if (tn_mail_imap_search_charset(&sc->sr.charset) != TN_OK) {
        return tn_mail_imap_tagged(is, "NO", "[BADCHARSET (UTF-8 US-ASCII)] "
                                   "Unsupported charset");
    }

    rc = tn_mail_imap_search_compile(is, sc->sr.root);

    if (rc == TN_DECLINED) {
        return tn_mail_imap_tagged(is, "BAD", "Invalid search arguments");
    }

    if (rc != TN_OK) {
        return TN_ERROR;
    }

    if (sc->sr.modseq && tn_mail_imap_condstore(is) != TN_OK) {
        return TN_ERROR;
    }

    for (i = 0; i < sc->sr.nsort; i++) {
        if (sc->sr.sort[i].key != TN_MAIL_IMAP_SORT_ARRIVAL
            && sc->sr.sort[i].key != TN_MAIL_IMAP_SORT_SIZE)
        {
            sc->cache = 1;
        }
    }

    is->cmd_ctx = sc;

    if (is->nmsgs == 0) {
        return tn_mail_imap_search_respond(s, is, NULL, 0);
    }

    if (sc->sr.root->cost == TN_MAIL_IMAP_SCOST_VIEW && !sc->cache) {
        return tn_mail_imap_search_view(s, is);
    }

    return tn_mail_imap_search_post(s, is);
}


/* UTF-8 and its subset US-ASCII (RFC 3501 6.4.4, RFC 9051 6.4.4.1) */

static tn_int_t
tn_mail_imap_search_charset(tn_str_t *charset)
{
    if (charset->len == 0) {
        return TN_OK;
    }

    if ((charset->len == 5
         && tn_strncasecmp(charset->data, (u_char *) "UTF-8", 5) == 0)
        || (charset->len == 8
            && tn_strncasecmp(charset->data, (u_char *) "US-ASCII", 8) == 0))
    {
        return TN_OK;
    }

    return TN_ERROR;
}


/*
 * Resolves the tree against the view: sets to uids, dates to days,
 * keywords to bits, strings folded.  TN_DECLINED: a bad argument (BAD).
 */

static tn_int_t
tn_mail_imap_search_compile(tn_mail_imap_session_t *is,
    tn_mail_imap_skey_t *key)
{
    time_t                t;
    tn_int_t              rc;
    tn_uint_t             i;
    tn_mail_imap_skey_t  *k;

    switch (key->type) {

    case TN_MAIL_IMAP_SKEY_AND:
    case TN_MAIL_IMAP_SKEY_OR:
    case TN_MAIL_IMAP_SKEY_NOT:

        for (k = key->child; k; k = k->next) {
            rc = tn_mail_imap_search_compile(is, k);
            if (rc != TN_OK) {
                return rc;
            }
        }

        return TN_OK;

    case TN_MAIL_IMAP_SKEY_SEQSET:
    case TN_MAIL_IMAP_SKEY_UID:

        rc = tn_mail_imap_seqset_uids(is, is->cmd_pool, &key->str,
                                      key->type == TN_MAIL_IMAP_SKEY_UID,
                                      &key->uids, &key->nuids);

        if (rc == TN_DECLINED && is->nmsgs == 0) {
            /* "1:*" in an empty mailbox matches nothing */
            key->nuids = 0;
            return TN_OK;
        }

        return (rc == TN_OK) ? TN_OK : TN_DECLINED;

    case TN_MAIL_IMAP_SKEY_BEFORE:
    case TN_MAIL_IMAP_SKEY_ON:
    case TN_MAIL_IMAP_SKEY_SINCE:
    case TN_MAIL_IMAP_SKEY_SENTBEFORE:
    case TN_MAIL_IMAP_SKEY_SENTON:
    case TN_MAIL_IMAP_SKEY_SENTSINCE:

        if (tn_mail_imap_parse_date(&key->str, &t) != TN_OK) {
            return TN_DECLINED;
        }

        key->day = tn_mail_imap_seval_day(t);
        return TN_OK;

    case TN_MAIL_IMAP_SKEY_KEYWORD:

        /* an unknown keyword: no message has it */
        key->num = 0;

        for (i = 0; i < is->nkeywords; i++) {
            if (is->keywords[i].len == key->str.len
                && tn_strncasecmp(is->keywords[i].data, key->str.data,
                                  key->str.len) == 0)
            {
                key->num = (uint64_t) 1 << i;
                break;
            }
        }

        return TN_OK;

    case TN_MAIL_IMAP_SKEY_FROM:
    case TN_MAIL_IMAP_SKEY_TO:
    case TN_MAIL_IMAP_SKEY_CC:
    case TN_MAIL_IMAP_SKEY_BCC:
    case TN_MAIL_IMAP_SKEY_SUBJECT:
    case TN_MAIL_IMAP_SKEY_HEADER:
    case TN_MAIL_IMAP_SKEY_BODY:
    case TN_MAIL_IMAP_SKEY_TEXT:
        return tn_mail_imap_search_fold(is->cmd_pool, &key->str);

    default:
        return TN_OK;
    }
}


static tn_int_t
tn_mail_imap_search_fold(tn_pool_t *pool, tn_str_t *s)
{
    u_char  *p;

    if (s->len == 0) {
        return TN_OK;
    }

    p = tn_pnalloc(pool, 2 * s->len);
    if (p == NULL) {
        return TN_ERROR;
    }

    s->len = tn_mail_imap_fold(p, s->data, s->len);
    s->data = p;

    return TN_OK;
}


/* a copy of the tree in the task's pool */

static tn_mail_imap_skey_t *
tn_mail_imap_search_copy(tn_pool_t *pool, tn_mail_imap_skey_t *key)
{
    tn_mail_imap_skey_t  *k, *child, **last;

    k = tn_palloc(pool, sizeof(tn_mail_imap_skey_t));
    if (k == NULL) {
        return NULL;
    }

    *k = *key;
    k->next = NULL;
    k->child = NULL;

    if (key->str.len) {
        k->str.data = tn_pnalloc(pool, key->str.len);
        if (k->str.data == NULL) {
            return NULL;
        }

        tn_memcpy(k->str.data, key->str.data, key->str.len);
    }

    if (key->field.len) {
        k->field.data = tn_pnalloc(pool, key->field.len);
        if (k->field.data == NULL) {
            return NULL;
        }

        tn_memcpy(k->field.data, key->field.data, key->field.len);
    }

    if (key->nuids) {
        k->uids = tn_palloc(pool, key->nuids * sizeof(uint32_t));
        if (k->uids == NULL) {
            return NULL;
        }

        tn_memcpy(k->uids, key->uids, key->nuids * sizeof(uint32_t));
    }

    last = &k->child;

    for (child = key->child; child; child = child->next) {
        *last = tn_mail_imap_search_copy(pool, child);
        if (*last == NULL) {
            return NULL;
        }

        last = &(*last)->next;
    }

    return k;
}


/* a tree of view keys: evaluated here */

static tn_int_t
tn_mail_imap_search_view(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_int_t                    rc;
    tn_uint_t                   i, n;
    uint32_t                   *result;
    tn_mail_imap_seval_t        ev;
    tn_mail_imap_search_cmd_t  *sc;

    sc = is->cmd_ctx;

    result = tn_palloc(is->cmd_pool, is->nmsgs * sizeof(uint32_t));
    if (result == NULL) {
        return TN_ERROR;
    }

    tn_memzero(&ev, sizeof(tn_mail_imap_seval_t));
    n = 0;

    for (i = 0; i < is->nmsgs; i++) {
        tn_mail_imap_seval_start(&ev, &is->msgs[i], NULL);

        rc = tn_mail_imap_seval_match(&ev, sc->sr.root);

        if (rc == 1) {
            result[n++] = i;
        }
    }

    if (sc->sort) {
        tn_mail_imap_search_task_t  t;

        /* ARRIVAL and SIZE only: sorted here */

        tn_memzero(&t, sizeof(tn_mail_imap_search_task_t));
        t.base.pool = is->cmd_pool;
        t.msgs = is->msgs;
        t.nmsgs = is->nmsgs;
        t.sr = sc->sr;
        t.result = result;
        t.nresult = n;

        if (tn_mail_imap_sort_build(&t, s->connection->log) != TN_OK) {
            return TN_ERROR;
        }
    }

    return tn_mail_imap_search_respond(s, is, result, n);
}


static tn_int_t
tn_mail_imap_search_post(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_pool_t                   *pool;
    tn_thread_task_t            *task;
    tn_mail_imap_search_cmd_t   *sc;
    tn_mail_imap_search_task_t  *t;

    sc = is->cmd_ctx;

    task = tn_mail_imap_task_alloc(s, sizeof(tn_mail_imap_search_task_t),
                                   TN_DEFAULT_POOL_SIZE,
                                   tn_mail_imap_search_handler,
                                   tn_mail_imap_search_done);
    if (task == NULL) {
        return TN_ERROR;
    }

    t = task->ctx;
    pool = t->base.pool;
    t->sort = sc->sort;
    t->cache = sc->cache;
    t->sr = sc->sr;
    t->sr.root = NULL;
    t->nmsgs = is->nmsgs;

    t->msgs = tn_palloc(pool, is->nmsgs * sizeof(tn_store_imsg_t));
    if (t->msgs == NULL) {
        goto failed;
    }

    tn_memcpy(t->msgs, is->msgs, is->nmsgs * sizeof(tn_store_imsg_t));

    t->root = tn_mail_imap_search_copy(pool, sc->sr.root);
    if (t->root == NULL) {
        goto failed;
    }

    return tn_mail_imap_task_post(s, task);

failed:

    tn_mail_imap_task_free(s, task);

    return TN_ERROR;
}


static void
tn_mail_imap_search_handler(void *data, tn_log_t *log)
{
    tn_int_t                       rc;
    tn_uint_t                      i;
    tn_pool_t                     *pool;
    tn_mail_imap_seval_t          *ev;
    tn_mail_imap_search_task_t    *t = data;
    tn_mail_imap_search_loader_t  *ld;

    t->rc = TN_ERROR;

    t->result = tn_palloc(t->base.pool, t->nmsgs * sizeof(uint32_t));
    ev = tn_pcalloc(t->base.pool, sizeof(tn_mail_imap_seval_t));
    ld = tn_pcalloc(t->base.pool, sizeof(tn_mail_imap_search_loader_t));
    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);

    if (t->result == NULL || ev == NULL || ld == NULL || pool == NULL) {
        if (pool) {
            tn_destroy_pool(pool);
        }

        return;
    }

    ld->conf = t->base.conf;
    ld->user = &t->base.user;
    ld->mbox_id = t->base.mbox_id;
    ld->log = log;
    ld->want = TN_STORE_WANT_CACHE;

    if (t->root->cost == TN_MAIL_IMAP_SCOST_FILE) {
        ld->want |= TN_STORE_WANT_PATH;

    } else if (t->root->cost == TN_MAIL_IMAP_SCOST_CACHE) {
        /* the cache keys only: their columns, a chunk of messages at once */
        ld->cols = tn_mail_imap_search_cols(t->root);
        ld->caches = tn_palloc(t->base.pool, TN_IMAP_SEARCH_CHUNK
                                             * sizeof(tn_store_cache_t));
        ld->found = tn_pnalloc(t->base.pool, TN_IMAP_SEARCH_CHUNK);
        ld->uids = tn_palloc(t->base.pool,
                             TN_IMAP_SEARCH_CHUNK * sizeof(uint32_t));
        ld->chunk_pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);

        if (ld->caches == NULL || ld->found == NULL || ld->uids == NULL
            || ld->chunk_pool == NULL)
        {
            tn_destroy_pool(pool);

            if (ld->chunk_pool) {
                tn_destroy_pool(ld->chunk_pool);
            }

            return;
        }
    }

    ev->pool = pool;
    ev->load_cache = tn_mail_imap_search_load_cache;
    ev->load_file = tn_mail_imap_search_load_file;
    ev->data = ld;

    for (i = 0; i < t->nmsgs; i++) {
        ld->path[0] = '\0';
        ld->idx = i;

        if (ld->caches && i == ld->first + ld->n) {
            tn_mail_imap_search_chunk(t, ld, i);
        }

        tn_mail_imap_seval_start(ev, &t->msgs[i], NULL);

        rc = tn_mail_imap_seval_match(ev, t->root);

        tn_reset_pool(pool);

        if (rc == TN_ERROR) {
            tn_destroy_pool(pool);

            if (ld->chunk_pool) {
                tn_destroy_pool(ld->chunk_pool);
            }

            return;
        }

        if (rc == 1) {
            t->result[t->nresult++] = i;
        }
    }

    tn_destroy_pool(pool);

    if (ld->chunk_pool) {
        tn_destroy_pool(ld->chunk_pool);
    }

    if (t->sort && tn_mail_imap_sort_build(t, log) != TN_OK) {
        return;
    }

    t->rc = TN_OK;
}


static void
tn_mail_imap_search_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_int_t                     rc;
    tn_mail_imap_session_t      *is;
    tn_mail_imap_search_task_t  *t;

    is = s->data;
    t = task->ctx;

    if (t->rc == TN_OK) {
        rc = tn_mail_imap_search_respond(s, is, t->result, t->nresult);

    } else {
        is->cmd_ctx = NULL;
        rc = tn_mail_imap_tagged(is, "NO", "[SERVERBUG] Search failed");
    }

    tn_mail_imap_task_free(s, task);

    tn_mail_imap_command_done(s, rc);
}


/* the cache columns the keys of a tree of cache cost read */

static tn_uint_t
tn_mail_imap_search_cols(tn_mail_imap_skey_t *key)
{
    tn_uint_t  cols;

    cols = 0;

    for ( /* void */ ; key; key = key->next) {

        switch (key->type) {

        case TN_MAIL_IMAP_SKEY_AND:
        case TN_MAIL_IMAP_SKEY_OR:
        case TN_MAIL_IMAP_SKEY_NOT:
            cols |= tn_mail_imap_search_cols(key->child);
            break;

        case TN_MAIL_IMAP_SKEY_SENTBEFORE:
        case TN_MAIL_IMAP_SKEY_SENTON:
        case TN_MAIL_IMAP_SKEY_SENTSINCE:
            cols |= TN_STORE_COL_DATE;
            break;

        case TN_MAIL_IMAP_SKEY_FROM:
            cols |= TN_STORE_COL_FROM;
            break;

        case TN_MAIL_IMAP_SKEY_TO:
            cols |= TN_STORE_COL_TO;
            break;

        case TN_MAIL_IMAP_SKEY_CC:
            cols |= TN_STORE_COL_CC;
            break;

        case TN_MAIL_IMAP_SKEY_BCC:
            cols |= TN_STORE_COL_BCC;
            break;

        case TN_MAIL_IMAP_SKEY_SUBJECT:
            cols |= TN_STORE_COL_SUBJECT;
            break;

        case TN_MAIL_IMAP_SKEY_HEADER:
            cols |= TN_STORE_COL_HEADER;
            break;

        case TN_MAIL_IMAP_SKEY_BODY:
        case TN_MAIL_IMAP_SKEY_TEXT:
            /* of file cost: not read by chunks, but be complete */
            cols |= TN_STORE_COL_ALL;
            break;

        default:
            break;
        }
    }

    return cols;
}


/*
 * The caches of the messages from view index i on: those not found are
 * read one by one by the loader as before (and made when missing)
 */

static void
tn_mail_imap_search_chunk(tn_mail_imap_search_task_t *t,
    tn_mail_imap_search_loader_t *ld, tn_uint_t i)
{
    tn_uint_t  k, n;

    n = t->nmsgs - i;

    if (n > TN_IMAP_SEARCH_CHUNK) {
        n = TN_IMAP_SEARCH_CHUNK;
    }

    for (k = 0; k < n; k++) {
        ld->uids[k] = t->msgs[i + k].uid;
    }

    tn_reset_pool(ld->chunk_pool);

    ld->first = i;
    ld->n = n;

    if (tn_store_mbox_messages(ld->conf, ld->user, ld->mbox_id, ld->uids, n,
                               ld->cols, ld->chunk_pool, ld->caches,
                               ld->found, ld->log)
        != TN_OK)
    {
        tn_memzero(ld->found, n);
    }
}


/* the evaluator's loaders: the header cache of ev->m from the index */

static tn_int_t
tn_mail_imap_search_load_cache(tn_mail_imap_seval_t *ev)
{
    tn_uint_t                      k;
    tn_mail_imap_search_loader_t  *ld = ev->data;

    k = ld->idx - ld->first;

    if (ld->caches && ld->idx >= ld->first && k < ld->n && ld->found[k]) {
        ev->cache = ld->caches[k];
        return TN_OK;
    }

    return tn_store_mbox_message(ld->conf, ld->user, ld->mbox_id,
                                 ev->m->uid, ld->want, ld->path, ev->pool,
                                 &ev->cache, ld->log);
}


/* the message file in its CRLF form */

static tn_int_t
tn_mail_imap_search_load_file(tn_mail_imap_seval_t *ev, tn_str_t *msg)
{
    tn_int_t                       rc;
    tn_store_cache_t               cache;
    tn_mail_imap_search_loader_t  *ld = ev->data;

    if (ld->path[0] == '\0') {
        /*
         * The cache was read without the path (a HEADER key and a header
         * too large for the cache): ask for it, and with it for the
         * messages that follow
         */

        ld->want |= TN_STORE_WANT_PATH;

        rc = tn_store_mbox_message(ld->conf, ld->user, ld->mbox_id,
                                   ev->m->uid, TN_STORE_WANT_PATH, ld->path,
                                   ev->pool, &cache, ld->log);
        if (rc != TN_OK) {
            return rc;
        }
    }

    rc = tn_mail_imap_msg_load(ev->pool, ld->path, TN_IMAP_SEARCH_MAX_LOAD,
                               msg);

    if (rc == TN_ERROR && tn_errno == ENOENT) {
        return TN_DECLINED;
    }

    if (rc == TN_DECLINED) {
        /* too large to search: no match */
        msg->len = 0;
        msg->data = (u_char *) "";
        return TN_OK;
    }

    if (rc != TN_OK) {
        tn_log_error(TN_LOG_ERR, ld->log, tn_errno,
                     "search of \"%s\" failed", ld->path);
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * SORT: the result (view indexes) ordered by the criteria, ties by
 * sequence number (RFC 5256 3).  Runs in the task, or in the event loop
 * for ARRIVAL and SIZE.
 */

static tn_int_t
tn_mail_imap_sort_build(tn_mail_imap_search_task_t *t, tn_log_t *log)
{
    u_char                   *found;
    uint32_t                 *uids;
    tn_int_t                  rc;
    tn_uint_t                 i, j, k, n;
    tn_store_imsg_t          *m;
    tn_store_cache_t          cache, *caches;
    tn_mail_imap_sort_elt_t  *elts, *e;

    elts = tn_palloc(t->base.pool,
                     t->nresult * sizeof(tn_mail_imap_sort_elt_t) + 1);
    caches = tn_palloc(t->base.pool,
                       TN_IMAP_SEARCH_CHUNK * sizeof(tn_store_cache_t));
    found = tn_pcalloc(t->base.pool, TN_IMAP_SEARCH_CHUNK);
    uids = tn_palloc(t->base.pool, TN_IMAP_SEARCH_CHUNK * sizeof(uint32_t));

    if (elts == NULL || caches == NULL || found == NULL || uids == NULL) {
        return TN_ERROR;
    }

    k = 0;
    n = 0;

    for (i = 0; i < t->nresult; i++) {
        e = &elts[i];
        tn_memzero(e, sizeof(tn_mail_imap_sort_elt_t));

        e->idx = t->result[i];
        e->sr = &t->sr;

        m = &t->msgs[e->idx];
        e->size = m->vsize;
        e->arrival = m->internaldate;
        e->date = m->internaldate;

        if (!t->cache) {
            continue;
        }

        if (i == k + n) {
            /* the sort columns of the next chunk of results at once */

            k = i;
            n = tn_min(t->nresult - i, TN_IMAP_SEARCH_CHUNK);

            for (j = 0; j < n; j++) {
                uids[j] = t->msgs[t->result[i + j]].uid;
            }

            if (tn_store_mbox_messages(t->base.conf, &t->base.user,
                                       t->base.mbox_id, uids, n,
                                       TN_STORE_COL_SORT_CC
                                       |TN_STORE_COL_SORT_FROM
                                       |TN_STORE_COL_SORT_SUBJECT
                                       |TN_STORE_COL_SORT_TO
                                       |TN_STORE_COL_DATE,
                                       t->base.pool, caches, found, log)
                != TN_OK)
            {
                tn_memzero(found, n);
            }
        }

        if (found[i - k]) {
            cache = caches[i - k];
            rc = TN_OK;

        } else {
            tn_memzero(&cache, sizeof(tn_store_cache_t));

            rc = tn_store_mbox_message(t->base.conf, &t->base.user,
                                       t->base.mbox_id, m->uid,
                                       TN_STORE_WANT_CACHE, NULL,
                                       t->base.pool, &cache, log);
        }

        if (rc == TN_ERROR) {
            return TN_ERROR;
        }

        if (rc == TN_DECLINED) {
            /* expunged meanwhile: sorts as empty */
            continue;
        }

        /*
         * The strings stay in the task's pool: a sort over many messages
         * keeps only these fields of the caches
         */

        e->str[0] = cache.sort_cc;
        e->str[1] = cache.sort_from;
        e->str[2] = cache.sort_subject;
        e->str[3] = cache.sort_to;

        if (cache.date != -1) {
            e->date = cache.date;
        }
    }

    tn_qsort(elts, t->nresult, sizeof(tn_mail_imap_sort_elt_t),
             tn_mail_imap_sort_cmp);

    for (i = 0; i < t->nresult; i++) {
        t->result[i] = elts[i].idx;
    }

    return TN_OK;
}


static int
tn_mail_imap_sort_cmp(const void *one, const void *two)
{
    tn_int_t                  r;
    tn_uint_t                 i, k;
    tn_mail_imap_search_t    *sr;
    tn_mail_imap_sort_elt_t  *a, *b;

    a = (tn_mail_imap_sort_elt_t *) one;
    b = (tn_mail_imap_sort_elt_t *) two;
    sr = a->sr;

    for (i = 0; i < sr->nsort; i++) {

        switch (sr->sort[i].key) {

        case TN_MAIL_IMAP_SORT_ARRIVAL:
            r = (a->arrival > b->arrival) - (a->arrival < b->arrival);
            break;

        case TN_MAIL_IMAP_SORT_DATE:
            r = (a->date > b->date) - (a->date < b->date);
            break;

        case TN_MAIL_IMAP_SORT_SIZE:
            r = (a->size > b->size) - (a->size < b->size);
            break;

        default:
            k = (sr->sort[i].key == TN_MAIL_IMAP_SORT_CC) ? 0
                : (sr->sort[i].key == TN_MAIL_IMAP_SORT_FROM) ? 1
                : (sr->sort[i].key == TN_MAIL_IMAP_SORT_SUBJECT) ? 2 : 3;

            r = tn_memn2cmp(a->str[k].data, b->str[k].data, a->str[k].len,
                            b->str[k].len);
            r = (r > 0) - (r < 0);
            break;
        }

        if (r) {
            return sr->sort[i].reverse ? -r : r;
        }
    }

    return (a->idx > b->idx) - (a->idx < b->idx);
}


/* the untagged response and the tagged line; result: view indexes */

static tn_int_t
tn_mail_imap_search_respond(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    uint32_t *result, tn_uint_t n)
{
    u_char                     *line, *p;
    uint64_t                    modseq;
    tn_uint_t                   i, ret, esearch;
    uint32_t                   *nums;
    tn_mail_imap_search_cmd_t  *sc;

    sc = is->cmd_ctx;
    is->cmd_ctx = NULL;

    nums = tn_palloc(is->cmd_pool, (n + 1) * sizeof(uint32_t));
    if (nums == NULL) {
        return TN_ERROR;
    }

    modseq = 0;

    for (i = 0; i < n; i++) {
        nums[i] = is->parse.uid ? is->msgs[result[i]].uid : result[i] + 1;

        if (is->msgs[result[i]].modseq > modseq) {
            modseq = is->msgs[result[i]].modseq;
        }
    }

    ret = sc->sr.ret;
    esearch = !sc->sort && (sc->sr.esearch || is->rev2);

    if (esearch && ret == 0) {
        ret = TN_MAIL_IMAP_SRET_ALL;
    }

    if (ret & TN_MAIL_IMAP_SRET_SAVE) {
        if (tn_mail_imap_search_save(is, result, n, ret) != TN_OK) {
            return TN_ERROR;
        }

        if (ret == TN_MAIL_IMAP_SRET_SAVE) {
            /* RFC 5182 2.1: SAVE alone returns no ESEARCH */
            return tn_mail_imap_tagged(is, "OK", "Search completed");
        }
    }

    line = tn_pnalloc(is->cmd_pool, tn_mail_imap_numset_len(n)
                                    + is->parse.tag.len + 256);
    if (line == NULL) {
        return TN_ERROR;
    }

    if (!esearch) {
        p = tn_cpymem(line, sc->sort ? "* SORT" : "* SEARCH", sc->sort ? 6 : 8);

        if (tn_mail_imap_write(is, line, p - line) != TN_OK) {
            return TN_ERROR;
        }

        /* in pieces: a long result is not built twice */

        for (i = 0; i < n; i++) {
            p = tn_sprintf(line, " %uD", nums[i]);

            if (tn_mail_imap_write(is, line, p - line) != TN_OK) {
                return TN_ERROR;
            }
        }

        p = line;

        if (sc->sr.modseq && n) {
            p = tn_sprintf(p, " (MODSEQ %uL)", modseq);
        }

        *p++ = CR; *p++ = LF;

        if (tn_mail_imap_write(is, line, p - line) != TN_OK) {
            return TN_ERROR;
        }

        return tn_mail_imap_tagged(is, "OK", sc->sort ? "Sort completed"
                                                      : "Search completed");
    }

    return tn_mail_imap_search_esearch(is, sc, nums, n, ret, modseq, line);
}


/* * ESEARCH (RFC 4731) into line, then the tagged line */

static tn_int_t
tn_mail_imap_search_esearch(tn_mail_imap_session_t *is,
    tn_mail_imap_search_cmd_t *sc, uint32_t *nums, tn_uint_t n,
    tn_uint_t ret, uint64_t modseq, u_char *line)
{
    u_char     *p;
    uint32_t    min, max;
    tn_uint_t   i;

    p = tn_sprintf(line, "* ESEARCH (TAG \"%V\")", &is->parse.tag);

    if (is->parse.uid) {
        p = tn_cpymem(p, " UID", 4);
    }

    if (n) {
        min = nums[0];
        max = nums[0];

        for (i = 1; i < n; i++) {
            min = tn_min(min, nums[i]);
            max = tn_max(max, nums[i]);
        }

        if (ret & TN_MAIL_IMAP_SRET_MIN) {
            p = tn_sprintf(p, " MIN %uD", min);
        }

        if (ret & TN_MAIL_IMAP_SRET_MAX) {
            p = tn_sprintf(p, " MAX %uD", max);
        }
    }

    if (ret & TN_MAIL_IMAP_SRET_COUNT) {
        p = tn_sprintf(p, " COUNT %ui", n);
    }

    if ((ret & TN_MAIL_IMAP_SRET_ALL) && n) {
        p = tn_cpymem(p, " ALL ", 5);
        p = tn_mail_imap_numset(p, nums, n);
    }

    if (sc->sr.modseq && n) {
        p = tn_sprintf(p, " MODSEQ %uL", modseq);
    }

    *p++ = CR; *p++ = LF;

    if (tn_mail_imap_write(is, line, p - line) != TN_OK) {
        return TN_ERROR;
    }

    return tn_mail_imap_tagged(is, "OK", "Search completed");
}


/* RFC 5182: the result as uids; with MIN and/or MAX only, those */

static tn_int_t
tn_mail_imap_search_save(tn_mail_imap_session_t *is, uint32_t *result,
    tn_uint_t n, tn_uint_t ret)
{
    tn_uint_t   i, k;
    uint32_t   *saved;

    saved = NULL;
    k = 0;

    if (n) {
        saved = tn_alloc(n * sizeof(uint32_t), tn_cycle->log);
        if (saved == NULL) {
            return TN_ERROR;
        }

        if ((ret & (TN_MAIL_IMAP_SRET_MIN|TN_MAIL_IMAP_SRET_MAX))
            && !(ret & (TN_MAIL_IMAP_SRET_ALL|TN_MAIL_IMAP_SRET_COUNT)))
        {
            /* the result is ascending */

            if (ret & TN_MAIL_IMAP_SRET_MIN) {
                saved[k++] = is->msgs[result[0]].uid;
            }

            if ((ret & TN_MAIL_IMAP_SRET_MAX) && (k == 0 || n > 1)) {
                saved[k++] = is->msgs[result[n - 1]].uid;
            }

        } else {
            for (i = 0; i < n; i++) {
                saved[k++] = is->msgs[result[i]].uid;
            }
        }
    }

    if (is->saved) {
        tn_free(is->saved);
    }

    is->saved = saved;
    is->nsaved = k;

    return TN_OK;
}


