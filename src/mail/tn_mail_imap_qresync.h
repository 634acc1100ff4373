
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_IMAP_QRESYNC_H_INCLUDED_
#define _TN_MAIL_IMAP_QRESYNC_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>


/*
 * QRESYNC (RFC 7162 3.2), tn_mail_imap_qresync.c: the helpers SELECT
 * (QRESYNC ...) and UID FETCH (CHANGEDSINCE m VANISHED) share.
 */


/* a range of uids of a set, lo <= hi */
typedef struct {
    uint32_t                lo;
    uint32_t                hi;
} tn_mail_imap_qr_range_t;


/*
 * A uid set ("1:4,7,9:*"; "*" is star) to ranges in pool.  TN_OK, or
 * TN_ERROR: bad syntax (or out of memory).
 */
tn_int_t tn_mail_imap_qr_ranges(tn_pool_t *pool, tn_str_t *set,
    uint32_t star, tn_mail_imap_qr_range_t **r, tn_uint_t *n);
tn_uint_t tn_mail_imap_qr_in(tn_mail_imap_qr_range_t *r, tn_uint_t n,
    uint32_t uid);

/*
 * "* VANISHED (EARLIER) set" of the uids in ranges r (r NULL: all of
 * 1:uidnext-1) that are not in the view and are in c->expunged, or, when
 * c->pruned (the expunged log does not reach back far enough), all of
 * them that are not in the view.  Nothing when the set is empty.
 * TN_OK, TN_ERROR.
 */
tn_int_t tn_mail_imap_qr_vanished(tn_mail_imap_session_t *is,
    tn_store_changes_t *c, tn_mail_imap_qr_range_t *r, tn_uint_t n);

/*
 * "* n FETCH (UID u FLAGS (...) MODSEQ (m))" of each message of the
 * view with modseq > since whose uid is in r (r NULL: any).
 */
tn_int_t tn_mail_imap_qr_fetch(tn_mail_imap_session_t *is, uint64_t since,
    tn_mail_imap_qr_range_t *r, tn_uint_t n);


#endif /* _TN_MAIL_IMAP_QRESYNC_H_INCLUDED_ */
