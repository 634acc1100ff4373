
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_imap_msg.h>
#include <tn_mail_imap_search_eval.h>


/*
 * SEARCH keys against one message (see tn_mail_imap_search_eval.h).
 * Internal dates compare by their UTC day (the zone FETCH INTERNALDATE
 * shows), Date: fields by the day as written in their own zone (RFC
 * 3501 6.4.4: "disregarding time and timezone").
 */


static tn_int_t tn_mail_imap_seval_key(tn_mail_imap_seval_t *ev,
    tn_mail_imap_skey_t *key);
static tn_int_t tn_mail_imap_seval_leaf(tn_mail_imap_seval_t *ev,
    tn_mail_imap_skey_t *key);
static tn_int_t tn_mail_imap_seval_cached(tn_mail_imap_seval_t *ev,
    tn_mail_imap_skey_t *key);
static tn_int_t tn_mail_imap_seval_load(tn_mail_imap_seval_t *ev);
static tn_int_t tn_mail_imap_seval_header(tn_mail_imap_seval_t *ev,
    tn_mail_imap_skey_t *key);
static tn_int_t tn_mail_imap_seval_text(tn_mail_imap_seval_t *ev,
    tn_uint_t body);
static tn_int_t tn_mail_imap_seval_file(tn_mail_imap_seval_t *ev,
    tn_str_t *msg);
static tn_uint_t tn_mail_imap_seval_uid_in(uint32_t *uids, tn_uint_t n,
    uint32_t uid);
static tn_uint_t tn_mail_imap_seval_has(tn_str_t *hay, tn_str_t *needle);


void
tn_mail_imap_seval_start(tn_mail_imap_seval_t *ev, tn_store_imsg_t *m,
    tn_store_cache_t *cache)
{
    ev->m = m;
    ev->cached = 0;
    ev->texted = 0;
    ev->fheadered = 0;
    ev->gone = 0;
    ev->header.len = 0;
    ev->header.data = NULL;
    ev->text.len = 0;
    ev->fheader.len = 0;

    if (cache) {
        ev->cache = *cache;
        ev->cached = 1;
        ev->header = cache->header;
    }
}


tn_int_t
tn_mail_imap_seval_match(tn_mail_imap_seval_t *ev, tn_mail_imap_skey_t *root)
{
    tn_int_t  rc;

    rc = tn_mail_imap_seval_key(ev, root);

    /* OR may let a message through after one side found it expunged */

    if (rc == 1 && ev->gone) {
        return 0;
    }

    return rc;
}


time_t
tn_mail_imap_seval_day(time_t t)
{
    return (t >= 0) ? t / 86400 : -((-t + 86399) / 86400);
}


/*
 * 1: the message matches, 0: it does not, TN_ERROR.  A message found
 * expunged when its cache or file is read sets ev->gone and matches
 * nothing.
 */

static tn_int_t
tn_mail_imap_seval_key(tn_mail_imap_seval_t *ev, tn_mail_imap_skey_t *key)
{
    tn_int_t              rc;
    tn_mail_imap_skey_t  *k;

    switch (key->type) {

    case TN_MAIL_IMAP_SKEY_AND:

        for (k = key->child; k; k = k->next) {
            rc = tn_mail_imap_seval_key(ev, k);
            if (rc != 1) {
                return rc;
            }
        }

        return 1;

    case TN_MAIL_IMAP_SKEY_OR:

        rc = tn_mail_imap_seval_key(ev, key->child);
        if (rc != 0) {
            return rc;
        }

        return tn_mail_imap_seval_key(ev, key->child->next);

    case TN_MAIL_IMAP_SKEY_NOT:

        rc = tn_mail_imap_seval_key(ev, key->child);
        if (rc == TN_ERROR) {
            return rc;
        }

        return ev->gone ? 0 : !rc;

    default:
        rc = tn_mail_imap_seval_leaf(ev, key);
        break;
    }

    if (rc == 1 || rc == 0 || rc == TN_ERROR) {
        return rc;
    }

    /* TN_DECLINED: expunged meanwhile */

    ev->gone = 1;

    return 0;
}


static tn_int_t
tn_mail_imap_seval_leaf(tn_mail_imap_seval_t *ev, tn_mail_imap_skey_t *key)
{
    tn_store_imsg_t  *m;

    m = ev->m;

    switch (key->type) {

    case TN_MAIL_IMAP_SKEY_ALL:
        return 1;

    case TN_MAIL_IMAP_SKEY_SEQSET:
    case TN_MAIL_IMAP_SKEY_UID:
        return tn_mail_imap_seval_uid_in(key->uids, key->nuids, m->uid);

    case TN_MAIL_IMAP_SKEY_FLAG:
        return ((m->flags & key->num) != 0) ^ key->neg;

    case TN_MAIL_IMAP_SKEY_NEW:
        return (m->flags & (TN_STORE_F_RECENT|TN_STORE_F_SEEN))
               == TN_STORE_F_RECENT;

    case TN_MAIL_IMAP_SKEY_KEYWORD:
        return ((m->keywords & key->num) != 0) ^ key->neg;

    case TN_MAIL_IMAP_SKEY_LARGER:
        return m->vsize > key->num;

    case TN_MAIL_IMAP_SKEY_SMALLER:
        return m->vsize < key->num;

    case TN_MAIL_IMAP_SKEY_MODSEQ:
        return m->modseq >= key->num;

    case TN_MAIL_IMAP_SKEY_BEFORE:
        return tn_mail_imap_seval_day(m->internaldate) < key->day;

    case TN_MAIL_IMAP_SKEY_ON:
        return tn_mail_imap_seval_day(m->internaldate) == key->day;

    case TN_MAIL_IMAP_SKEY_SINCE:
        return tn_mail_imap_seval_day(m->internaldate) >= key->day;

    default:
        return tn_mail_imap_seval_cached(ev, key);
    }
}


/* the keys of the header cache and of the file */

static tn_int_t
tn_mail_imap_seval_cached(tn_mail_imap_seval_t *ev, tn_mail_imap_skey_t *key)
{
    time_t     day;
    tn_int_t   rc;
    tn_str_t  *hay;

    rc = tn_mail_imap_seval_load(ev);
    if (rc != TN_OK) {
        return rc;
    }

    switch (key->type) {

    case TN_MAIL_IMAP_SKEY_SENTBEFORE:
    case TN_MAIL_IMAP_SKEY_SENTON:
    case TN_MAIL_IMAP_SKEY_SENTSINCE:

        if (ev->cache.date == -1) {
            return 0;
        }

        /* the date as written, disregarding time and zone */
        day = tn_mail_imap_seval_day(ev->cache.date
                                     + (time_t) ev->cache.date_tz * 60);

        if (key->type == TN_MAIL_IMAP_SKEY_SENTBEFORE) {
            return day < key->day;
        }

        if (key->type == TN_MAIL_IMAP_SKEY_SENTON) {
            return day == key->day;
        }

        return day >= key->day;

    case TN_MAIL_IMAP_SKEY_FROM:
        hay = &ev->cache.from;
        break;

    case TN_MAIL_IMAP_SKEY_TO:
        hay = &ev->cache.to;
        break;

    case TN_MAIL_IMAP_SKEY_CC:
        hay = &ev->cache.cc;
        break;

    case TN_MAIL_IMAP_SKEY_BCC:
        hay = &ev->cache.bcc;
        break;

    case TN_MAIL_IMAP_SKEY_SUBJECT:
        hay = &ev->cache.subject;
        break;

    case TN_MAIL_IMAP_SKEY_HEADER:
        return tn_mail_imap_seval_header(ev, key);

    case TN_MAIL_IMAP_SKEY_BODY:
    case TN_MAIL_IMAP_SKEY_TEXT:

        rc = tn_mail_imap_seval_text(ev, key->type == TN_MAIL_IMAP_SKEY_BODY);
        if (rc != TN_OK) {
            return rc;
        }

        if (tn_mail_imap_seval_has(&ev->text, &key->str)) {
            return 1;
        }

        if (key->type == TN_MAIL_IMAP_SKEY_BODY) {
            return 0;
        }

        /* TEXT: the header too, raw and decoded */

        if (tn_mail_imap_seval_has(&ev->fheader, &key->str)
            || tn_mail_imap_seval_has(&ev->cache.subject, &key->str)
            || tn_mail_imap_seval_has(&ev->cache.from, &key->str)
            || tn_mail_imap_seval_has(&ev->cache.to, &key->str)
            || tn_mail_imap_seval_has(&ev->cache.cc, &key->str))
        {
            return 1;
        }

        return 0;

    default:
        return 0;
    }

    return tn_mail_imap_seval_has(hay, &key->str);
}


/* the header cache of ev->m, once per message: TN_OK, TN_DECLINED */

static tn_int_t
tn_mail_imap_seval_load(tn_mail_imap_seval_t *ev)
{
    tn_int_t  rc;

    if (ev->gone) {
        return TN_DECLINED;
    }

    if (ev->cached) {
        return TN_OK;
    }

    if (ev->load_cache == NULL) {
        /* evaluated in the event loop: view keys only */
        return TN_ERROR;
    }

    tn_memzero(&ev->cache, sizeof(tn_store_cache_t));

    rc = ev->load_cache(ev);
    if (rc != TN_OK) {
        return rc;
    }

    ev->cached = 1;
    ev->header = ev->cache.header;

    return TN_OK;
}


/* HEADER field string: "" matches a message that has the field */

static tn_int_t
tn_mail_imap_seval_header(tn_mail_imap_seval_t *ev, tn_mail_imap_skey_t *key)
{
    u_char    *p, *q, *last;
    tn_int_t   rc;
    tn_str_t   values, msg;

    if (ev->header.len == 0 && ev->cache.header_too_large) {
        rc = tn_mail_imap_seval_file(ev, &msg);
        if (rc != TN_OK) {
            return rc;
        }

        p = tn_strnstr(msg.data, "\r\n\r\n", msg.len);

        ev->header.data = msg.data;
        ev->header.len = p ? (size_t) (p + 4 - msg.data) : msg.len;
    }

    if (key->str.len) {
        if (tn_mail_imap_msg_header_values(ev->pool, &ev->header,
                                           &key->field, &values)
            != TN_OK)
        {
            return TN_ERROR;
        }

        return tn_mail_imap_seval_has(&values, &key->str);
    }

    /* a line that starts with the name, then optional WSP and ":" */

    p = ev->header.data;
    last = p + ev->header.len;

    while (p && p + key->field.len < last) {

        if (tn_strncasecmp(p, key->field.data, key->field.len) == 0) {

            for (q = p + key->field.len; q < last && (*q == ' ' || *q == '\t');
                 q++)
            {
                /* void */
            }

            if (q < last && *q == ':') {
                return 1;
            }
        }

        p = tn_strlchr(p, last, LF);

        if (p) {
            p++;
        }
    }

    return 0;
}


/* the folded body text (and the folded header for TEXT) */

static tn_int_t
tn_mail_imap_seval_text(tn_mail_imap_seval_t *ev, tn_uint_t body)
{
    u_char    *p;
    tn_int_t   rc;
    tn_str_t   msg;

    if (!ev->texted) {
        rc = tn_mail_imap_seval_file(ev, &msg);
        if (rc != TN_OK) {
            return rc;
        }

        if (tn_mail_imap_msg_text(ev->pool, &msg, &ev->text) != TN_OK) {
            return TN_ERROR;
        }

        if (ev->header.len == 0) {
            p = tn_strnstr(msg.data, "\r\n\r\n", msg.len);
            ev->header.data = msg.data;
            ev->header.len = p ? (size_t) (p + 4 - msg.data) : msg.len;
        }

        ev->texted = 1;
    }

    if (!body && !ev->fheadered) {
        ev->fheader.data = tn_pnalloc(ev->pool, 2 * ev->header.len + 1);
        if (ev->fheader.data == NULL) {
            return TN_ERROR;
        }

        ev->fheader.len = tn_mail_imap_fold(ev->fheader.data,
                                            ev->header.data,
                                            ev->header.len);
        ev->fheadered = 1;
    }

    return TN_OK;
}


/*
 * The message file: the cache first (it tells the caller where the
 * file is, and that the message is still there)
 */

static tn_int_t
tn_mail_imap_seval_file(tn_mail_imap_seval_t *ev, tn_str_t *msg)
{
    tn_int_t  rc;

    rc = tn_mail_imap_seval_load(ev);
    if (rc != TN_OK) {
        return rc;
    }

    if (ev->load_file == NULL) {
        return TN_ERROR;
    }

    return ev->load_file(ev, msg);
}


/*
 * uid in uids (ascending): tn_mail_imap_uid_in() of the session files,
 * copied so that this file and its unit test need no session
 */

static tn_uint_t
tn_mail_imap_seval_uid_in(uint32_t *uids, tn_uint_t n, uint32_t uid)
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


/* a substring test where the cache may hold absent (NULL) strings */

static tn_uint_t
tn_mail_imap_seval_has(tn_str_t *hay, tn_str_t *needle)
{
    if (needle->len == 0) {
        return 1;
    }

    if (hay->len == 0 || hay->data == NULL) {
        return 0;
    }

    return tn_mail_imap_contains(hay, needle);
}
