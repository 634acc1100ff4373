
/*
 * Copyright (C) The Tern developers
 */


/*
 * QRESYNC (RFC 7162 3.2): the untagged VANISHED (EARLIER) and FETCH
 * responses with which SELECT (QRESYNC ...) and UID FETCH (CHANGEDSINCE
 * m VANISHED) tell a client what it missed.  The view of the mailbox
 * holds every message with its modseq, so the FETCH lines come from it;
 * the expunged uids come from tn_store_mbox_changes(), run in the
 * command's task.  A uid still in the view is never told as vanished,
 * even when the log says it went after the view was loaded: the sync
 * tells that one later.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>
#include <tn_mail_imap_qresync.h>


/* the VANISHED line under construction: ranges merged as they come */
typedef struct {
    tn_mail_imap_session_t  *is;
    uint32_t                 lo;
    uint32_t                 hi;
    unsigned                 have:1;
    unsigned                 started:1;
} tn_mail_imap_qr_out_t;


static tn_int_t tn_mail_imap_qr_put(tn_mail_imap_qr_out_t *o);
static tn_int_t tn_mail_imap_qr_add(tn_mail_imap_qr_out_t *o, uint32_t lo,
    uint32_t hi);
static tn_int_t tn_mail_imap_qr_gaps(tn_mail_imap_qr_out_t *o,
    uint32_t lo, uint32_t hi);
static u_char *tn_mail_imap_qr_number(u_char *p, u_char *last,
    uint32_t star, uint32_t *n);


/* uid sets */

tn_int_t
tn_mail_imap_qr_ranges(tn_pool_t *pool, tn_str_t *set, uint32_t star,
    tn_mail_imap_qr_range_t **r, tn_uint_t *n)
{
    u_char                   *p, *last;
    uint32_t                  a, b;
    tn_uint_t                 i, count;
    tn_mail_imap_qr_range_t  *ranges;

    if (set->len == 0) {
        return TN_ERROR;
    }

    count = 1;

    for (i = 0; i < set->len; i++) {
        if (set->data[i] == ',') {
            count++;
        }
    }

    ranges = tn_palloc(pool, count * sizeof(tn_mail_imap_qr_range_t));
    if (ranges == NULL) {
        return TN_ERROR;
    }

    p = set->data;
    last = p + set->len;
    i = 0;

    for ( ;; ) {
        p = tn_mail_imap_qr_number(p, last, star, &a);
        if (p == NULL) {
            return TN_ERROR;
        }

        b = a;

        if (p < last && *p == ':') {
            p = tn_mail_imap_qr_number(p + 1, last, star, &b);
            if (p == NULL) {
                return TN_ERROR;
            }
        }

        ranges[i].lo = a < b ? a : b;
        ranges[i].hi = a < b ? b : a;
        i++;

        if (p == last) {
            break;
        }

        if (*p != ',' || i == count) {
            return TN_ERROR;
        }

        p++;
    }

    *r = ranges;
    *n = i;

    return TN_OK;
}


/* a nz-number or "*" */

static u_char *
tn_mail_imap_qr_number(u_char *p, u_char *last, uint32_t star, uint32_t *n)
{
    uint64_t  v;

    if (p < last && *p == '*') {
        *n = star;
        return p + 1;
    }

    if (p == last || *p < '1' || *p > '9') {
        return NULL;
    }

    v = 0;

    while (p < last && *p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');

        if (v > 0xffffffff) {
            return NULL;
        }
    }

    *n = (uint32_t) v;

    return p;
}


tn_uint_t
tn_mail_imap_qr_in(tn_mail_imap_qr_range_t *r, tn_uint_t n, uint32_t uid)
{
    tn_uint_t  i;

    for (i = 0; i < n; i++) {
        if (uid >= r[i].lo && uid <= r[i].hi) {
            return 1;
        }
    }

    return 0;
}


/* VANISHED (EARLIER) */

tn_int_t
tn_mail_imap_qr_vanished(tn_mail_imap_session_t *is, tn_store_changes_t *c,
    tn_mail_imap_qr_range_t *r, tn_uint_t n)
{
    uint32_t               uid, top;
    tn_uint_t              i;
    tn_mail_imap_qr_out_t  o;

    tn_memzero(&o, sizeof(tn_mail_imap_qr_out_t));
    o.is = is;

    if (is->uidnext <= 1) {
        return TN_OK;
    }

    top = is->uidnext - 1;

    if (c->pruned) {
        if (r == NULL) {
            if (tn_mail_imap_qr_gaps(&o, 1, top) != TN_OK) {
                return TN_ERROR;
            }

        } else {
            for (i = 0; i < n; i++) {
                if (r[i].lo <= top
                    && tn_mail_imap_qr_gaps(&o, r[i].lo,
                                            r[i].hi < top ? r[i].hi : top)
                       != TN_OK)
                {
                    return TN_ERROR;
                }
            }
        }

    } else {
        for (i = 0; i < c->nexpunged; i++) {
            uid = c->expunged[i];

            if (uid <= top
                && (r == NULL || tn_mail_imap_qr_in(r, n, uid))
                && tn_mail_imap_uid_index(is, uid) < 0
                && tn_mail_imap_qr_add(&o, uid, uid) != TN_OK)
            {
                return TN_ERROR;
            }
        }
    }

    if (o.have && tn_mail_imap_qr_put(&o) != TN_OK) {
        return TN_ERROR;
    }

    if (o.started) {
        return tn_mail_imap_write(is, (u_char *) CRLF, 2);
    }

    return TN_OK;
}


/* the uids of lo:hi that the view lacks */

static tn_int_t
tn_mail_imap_qr_gaps(tn_mail_imap_qr_out_t *o, uint32_t lo, uint32_t hi)
{
    uint32_t                 uid, u;
    tn_uint_t                a, b, m;
    tn_mail_imap_session_t  *is;

    is = o->is;

    /* the first message of the view with a uid >= lo */
    a = 0;
    b = is->nmsgs;

    while (a < b) {
        m = a + (b - a) / 2;

        if (is->msgs[m].uid < lo) {
            a = m + 1;

        } else {
            b = m;
        }
    }

    uid = lo;

    for ( ;; ) {
        if (a == is->nmsgs || is->msgs[a].uid > hi) {
            return tn_mail_imap_qr_add(o, uid, hi);
        }

        u = is->msgs[a++].uid;

        if (u > uid && tn_mail_imap_qr_add(o, uid, u - 1) != TN_OK) {
            return TN_ERROR;
        }

        if (u == hi) {
            return TN_OK;
        }

        uid = u + 1;
    }
}


static tn_int_t
tn_mail_imap_qr_add(tn_mail_imap_qr_out_t *o, uint32_t lo, uint32_t hi)
{
    if (o->have && o->hi != 0xffffffff && lo <= o->hi + 1 && lo >= o->lo) {
        if (hi > o->hi) {
            o->hi = hi;
        }

        return TN_OK;
    }

    if (o->have && tn_mail_imap_qr_put(o) != TN_OK) {
        return TN_ERROR;
    }

    o->lo = lo;
    o->hi = hi;
    o->have = 1;

    return TN_OK;
}


static tn_int_t
tn_mail_imap_qr_put(tn_mail_imap_qr_out_t *o)
{
    const char  *sep;

    sep = o->started ? "," : "* VANISHED (EARLIER) ";
    o->started = 1;

    if (o->lo == o->hi) {
        return tn_mail_imap_printf(o->is, "%s%uD", sep, o->lo);
    }

    return tn_mail_imap_printf(o->is, "%s%uD:%uD", sep, o->lo, o->hi);
}


/* the FETCH lines of the messages changed since */

tn_int_t
tn_mail_imap_qr_fetch(tn_mail_imap_session_t *is, uint64_t since,
    tn_mail_imap_qr_range_t *r, tn_uint_t n)
{
    u_char           *buf, *p;
    size_t            len;
    tn_int_t          rc;
    tn_uint_t         i;
    tn_store_imsg_t  *m;

    for (i = 0; i < is->nmsgs; i++) {
        m = &is->msgs[i];

        if (m->modseq <= since
            || (r != NULL && !tn_mail_imap_qr_in(r, n, m->uid)))
        {
            continue;
        }

        len = sizeof("* 4294967295 FETCH (UID 4294967295 FLAGS  "
                     "MODSEQ (18446744073709551615))" CRLF)
              + tn_mail_imap_flags_len(is, m);

        buf = tn_pnalloc(is->cmd_pool, len);
        if (buf == NULL) {
            return TN_ERROR;
        }

        p = tn_sprintf(buf, "* %ui FETCH (UID %uD FLAGS ", i + 1, m->uid);
        p = tn_mail_imap_flags(is, p, m);
        p = tn_sprintf(p, " MODSEQ (%uL))" CRLF, m->modseq);

        rc = tn_mail_imap_write(is, buf, p - buf);

        if (rc != TN_OK) {
            return rc;
        }
    }

    return TN_OK;
}
