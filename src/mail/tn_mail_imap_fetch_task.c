
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
 * The thread-pool side of FETCH: the items of the messages of a batch
 * that come from the header cache or the message file, after the view
 * part the event loop wrote (tn_mail_imap_fmsg_t.head).
 */


/* what the task has of one message */
typedef struct {
    tn_store_cache_t            cache;
    tn_str_t                    msg;       /* the file, once read */
    tn_pool_t                  *pool;      /* reset after the message */
    tn_log_t                   *log;
    char                        path[PATH_MAX];
} tn_mail_imap_fctx_t;


static tn_store_cache_t *tn_mail_imap_fetch_caches(
    tn_mail_imap_fetch_task_t *t, tn_pool_t *pool, u_char **found,
    tn_log_t *log);
static tn_int_t tn_mail_imap_fetch_message(tn_mail_imap_fetch_task_t *t,
    tn_mail_imap_fmsg_t *m, tn_uint_t start, tn_store_cache_t *cache,
    tn_pool_t *pool, tn_log_t *log);
static tn_int_t tn_mail_imap_fetch_value(tn_mail_imap_fctx_t *fc,
    tn_mail_imap_fitem_t *it, tn_str_t *data, tn_uint_t *binary);
static tn_int_t tn_mail_imap_fetch_gone(tn_mail_imap_fetch_task_t *t,
    tn_uint_t start);
static tn_int_t tn_mail_imap_fetch_data(tn_mail_imap_fetch_task_t *t,
    tn_mail_imap_fitem_t *it, tn_str_t *data, tn_uint_t literal8);
static u_char *tn_mail_imap_fetch_reserve(tn_mail_imap_fetch_task_t *t,
    size_t n);


/* in a pool thread: the responses of the batch */

void
tn_mail_imap_fetch_handler(void *data, tn_log_t *log)
{
    u_char                     *found;
    tn_int_t                    rc;
    tn_uint_t                   i, start;
    tn_pool_t                  *pool, *bpool;
    tn_store_cache_t           *caches;
    tn_mail_imap_fetch_task_t  *t = data;

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);
    bpool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);

    if (pool == NULL || bpool == NULL) {
        if (pool) {
            tn_destroy_pool(pool);
        }

        if (bpool) {
            tn_destroy_pool(bpool);
        }

        t->rc = TN_ERROR;
        return;
    }

    t->rc = TN_OK;
    start = t->start_item;

    caches = tn_mail_imap_fetch_caches(t, bpool, &found, log);

    for (i = 0; i < t->nmsgs; i++) {

        rc = tn_mail_imap_fetch_message(t, &t->msgs[i], start,
                                        (caches && found[i]) ? &caches[i]
                                                             : NULL,
                                        pool, log);

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
    tn_destroy_pool(bpool);
}


/*
 * The header caches of the whole batch in one read of the index when
 * the items are cache items only (ENVELOPE, BODY, BODYSTRUCTURE), with
 * only their columns; NULL: each message reads its own (sections need
 * the file's path, or the batch read failed: the message's read says
 * so again).  A message without found[i] reads its own too.
 */

static tn_store_cache_t *
tn_mail_imap_fetch_caches(tn_mail_imap_fetch_task_t *t, tn_pool_t *pool,
    u_char **found, tn_log_t *log)
{
    uint32_t          *uids;
    tn_uint_t          i, cols;
    tn_store_cache_t  *caches;

    cols = 0;

    for (i = 0; i < t->nitems; i++) {

        switch (t->items[i].type) {

        case TN_IMAP_FI_ENVELOPE:
            cols |= TN_STORE_COL_ENVELOPE;
            break;

        case TN_IMAP_FI_BODY:
            cols |= TN_STORE_COL_BODY;
            break;

        case TN_IMAP_FI_BODYSTRUCTURE:
            cols |= TN_STORE_COL_BODYSTRUCTURE;
            break;

        case TN_IMAP_FI_SECTION:
            return NULL;

        default:
            break;
        }
    }

    if (t->nmsgs == 0) {
        return NULL;
    }

    uids = tn_palloc(pool, t->nmsgs * sizeof(uint32_t));
    caches = tn_palloc(pool, t->nmsgs * sizeof(tn_store_cache_t));
    *found = tn_pnalloc(pool, t->nmsgs);

    if (uids == NULL || caches == NULL || *found == NULL) {
        return NULL;
    }

    for (i = 0; i < t->nmsgs; i++) {
        uids[i] = t->msgs[i].uid;
    }

    if (tn_store_mbox_messages(t->base.conf, &t->base.user, t->base.mbox_id,
                               uids, t->nmsgs, cols, pool, caches, *found,
                               log)
        != TN_OK)
    {
        return NULL;
    }

    return caches;
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
    tn_mail_imap_fmsg_t *m, tn_uint_t start, tn_store_cache_t *cache,
    tn_pool_t *pool, tn_log_t *log)
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

    if (cache) {
        /* read with the batch's (no sections: no path is needed) */
        fc.cache = *cache;
        fc.path[0] = '\0';
        rc = TN_OK;

    } else {
        rc = tn_store_mbox_message(t->base.conf, &t->base.user,
                                   t->base.mbox_id, m->uid, want, fc.path,
                                   pool, &fc.cache, log);
    }

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
