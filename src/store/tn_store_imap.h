
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_STORE_IMAP_H_INCLUDED_
#define _TN_STORE_IMAP_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 * The mailboxes of a user, for IMAP (and the POP3 view of INBOX).
 *
 * Names.  A mailbox name here is the IMAP name in UTF-8 (the IMAP layer
 * converts modified UTF-7 for clients that did not enable UTF-8), with
 * "/" as the hierarchy separator: "INBOX", "Sent", "Work/2026".  "INBOX"
 * is case-insensitive and always exists; other names are compared as
 * bytes.  A valid name is 1..TN_STORE_MBOX_NAME_MAX octets of well-formed
 * UTF-8 without C0/C1 controls or DEL, has no empty component (no
 * leading, trailing or double "/"), no component "." or "..", and no
 * component longer than TN_STORE_MBOX_COMPONENT_MAX; and at most
 * TN_STORE_MBOX_DEPTH_MAX components.  "INBOX/x" is allowed (a child of
 * INBOX).
 *
 * On disk INBOX is the Maildir itself; mailbox "A/B" is the Maildir++
 * folder "<maildir>/.A.B" (tmp, new, cur) whose name is the modified
 * UTF-7 (RFC 3501 5.1.3) of the IMAP name with "/" written as "." and a
 * "." inside a component written as "&AC4-", so that Dovecot, mutt and
 * backup tools see the usual layout.  A folder that another tool made
 * (a ".Name" directory with cur/) is picked up by tn_store_mbox_list();
 * one whose name does not decode is skipped with a warning.
 *
 * The index.db of the user (schema version 3) has, beside the mailboxes
 * and messages tables of version 1:
 *   mailboxes: + dir TEXT (the folder name on disk, "" for INBOX),
 *                subscribed INTEGER, special INTEGER (TN_STORE_SPECIAL_*)
 *   msg_keys, msg_cache, msg_header: the header cache (tn_store_cache_t)
 *                of a message, keyed by (mailbox_id << 32) | uid: the
 *                search and sort fields, ENVELOPE/BODY/BODYSTRUCTURE,
 *                and the raw header; no rows until filled, removed with
 *                the message (version 2 kept them in the messages rows,
 *                which made every scan of messages walk the headers)
 *   expunged (mailbox_id, uid, modseq): what left each mailbox, for
 *                tn_store_mbox_changes() (rows older than 30 days or
 *                beyond the 100,000 newest of a mailbox are pruned)
 *   keywords (mailbox_id, idx, name): the keyword names of a mailbox
 * A version 1 or 2 file is migrated in place when opened.
 *
 * Flags.  The system flags are bits (TN_STORE_F_*); keywords are bits of
 * a per-mailbox table of up to TN_STORE_KEYWORDS_MAX names ("$Junk",
 * "$Forwarded", ...; atoms, compared case-insensitively, kept as first
 * given).  The index holds the flags; the Maildir file name carries the
 * system flags too (":2,DFRST" of maildir(5): Draft, Flagged, Replied =
 * \Answered, Seen, Trashed = \Deleted), updated by rename after the index
 * commit (best effort: a failed rename is logged, the index stays right).
 * A file found without an index row takes its flags from its name.
 *
 * MODSEQ (RFC 7162).  Each mailbox has highestmodseq; every change to a
 * message (new, flags changed, expunged) takes highestmodseq + 1 within
 * the transaction that makes it, so a reader that saw modseq M and asks
 * for changes since M sees each later change exactly once.
 *
 * Change notices.  After every commit that changes a mailbox of user u
 * (delivery, APPEND, STORE, COPY, MOVE, EXPUNGE, POP3 deletions, a sync
 * that found files added or removed by another tool, CREATE, DELETE,
 * RENAME) the store calls tn_store_changed(u->id) when it is set (the
 * IMAP module sets it in each worker; see tn_mail_imap_notify.c).  It
 * must be cheap and thread-safe: it runs in thread-pool threads.
 *
 * Every function here is BLOCKING and runs in the thread pool or the
 * command line, like the rest of tn_store.h.  Results: TN_OK; TN_DECLINED
 * (a refusal the client should hear: the detail is in *reason, a static
 * string, when the function has a reason argument); TN_ERROR (store
 * failure, logged; errno-like detail in the err out fields where given).
 */


#define TN_STORE_MBOX_NAME_MAX        512
#define TN_STORE_MBOX_COMPONENT_MAX   200
#define TN_STORE_MBOX_DEPTH_MAX       16
/* mailboxes of one user */
#define TN_STORE_MBOX_MAX             2000
#define TN_STORE_KEYWORDS_MAX         64
#define TN_STORE_KEYWORD_LEN_MAX      100

/* system flags */
#define TN_STORE_F_SEEN               0x01
#define TN_STORE_F_ANSWERED           0x02
#define TN_STORE_F_FLAGGED            0x04
#define TN_STORE_F_DELETED            0x08
#define TN_STORE_F_DRAFT              0x10
/* not stored: the message was in new/ when this session opened it */
#define TN_STORE_F_RECENT             0x20

/* SPECIAL-USE (RFC 6154) */
#define TN_STORE_SPECIAL_NONE         0
#define TN_STORE_SPECIAL_SENT         1
#define TN_STORE_SPECIAL_DRAFTS       2
#define TN_STORE_SPECIAL_TRASH        3
#define TN_STORE_SPECIAL_JUNK         4
#define TN_STORE_SPECIAL_ARCHIVE      5

/* flag operations of tn_store_mbox_store() */
#define TN_STORE_FLAGS_SET            0
#define TN_STORE_FLAGS_ADD            1
#define TN_STORE_FLAGS_REMOVE         2


/* set by the IMAP module in each worker; NULL in the command line */
extern void (*tn_store_changed)(int64_t user_id);


/* a mailbox as LIST and STATUS see it */
typedef struct {
    int64_t           id;            /* 0: a \Noselect parent only */
    tn_str_t          name;          /* UTF-8 IMAP name, NUL-terminated */
    uint32_t          uidvalidity;
    uint32_t          uidnext;
    uint64_t          highestmodseq;
    /* counts, filled when asked for (TN_STORE_LIST_STATUS) */
    uint32_t          messages;
    uint32_t          unseen;        /* without \Seen */
    uint32_t          recent;        /* files in new/ */
    uint32_t          deleted;       /* with \Deleted */
    uint64_t          size;          /* sum of vsize (STATUS SIZE) */
    tn_uint_t         special;       /* TN_STORE_SPECIAL_* */
    unsigned          subscribed:1;
    unsigned          children:1;    /* another mailbox is under it */
    unsigned          noselect:1;    /* id 0: exists only as a parent */
    /* id 0: only subscribed (LSUB, LIST (SUBSCRIBED): \NonExistent) */
    unsigned          nonexistent:1;
} tn_store_mbox_info_t;

#define TN_STORE_LIST_STATUS          0x01

/*
 * Every mailbox of u, INBOX first and then by name (bytewise), with the
 * parents that have no folder of their own as noselect entries.  The
 * folder list is synced with the directory first (folders made or
 * removed by other tools).  For a user whose index has never had them,
 * the special-use mailboxes Sent, Drafts, Trash, Junk and Archive are
 * created first (once: a user who deletes one does not get it back).
 * *out is an array of tn_store_mbox_info_t in pool.  With
 * TN_STORE_LIST_STATUS the counts are filled from the index (no Maildir
 * scan; INBOX's new files are not looked for).
 */
tn_int_t tn_store_mbox_list(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_pool_t *pool, tn_uint_t flags, tn_array_t **out, tn_log_t *log);

/*
 * One mailbox's info with counts (STATUS); the Maildir of that mailbox is
 * synced first, like tn_store_mbox_open() without moving new/ to cur/.
 * TN_DECLINED: no such mailbox.
 */
tn_int_t tn_store_mbox_status(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_pool_t *pool, tn_store_mbox_info_t *info,
    const char **reason, tn_log_t *log);

/*
 * CREATE: makes the folder (tmp, new, cur, mode 0700, fsynced) and its
 * row with a fresh UIDVALIDITY (never one given out before in this
 * Maildir, see tn_store_index_rebuild()).  special: TN_STORE_SPECIAL_*
 * (CREATE-SPECIAL-USE).  A trailing "/" in name is ignored (RFC 3501).
 * TN_DECLINED with *reason: invalid name, exists already (INBOX too),
 * TN_STORE_MBOX_MAX reached.
 */
tn_int_t tn_store_mbox_create(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_uint_t special, const char **reason, tn_log_t *log);

/*
 * DELETE: removes the folder and every message in it (files unlinked,
 * folder removed, row and its messages removed).  Mailboxes under it
 * stay (the name then lists as a \Noselect parent).  TN_DECLINED: INBOX,
 * no such mailbox, invalid name.
 */
tn_int_t tn_store_mbox_delete(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, const char **reason, tn_log_t *log);

/*
 * RENAME: the mailbox and every mailbox under it get the new name (their
 * folders renamed on disk, UIDVALIDITY and UIDs kept).  RENAME of INBOX
 * (RFC 3501 6.3.5) creates the new mailbox and moves every message of
 * INBOX into it (new UIDs there); INBOX stays, empty; its children are
 * not moved.  TN_DECLINED: no such mailbox, the new name exists or is
 * invalid, or is under the old one.
 */
tn_int_t tn_store_mbox_rename(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *from, tn_str_t *to, const char **reason, tn_log_t *log);

/*
 * SUBSCRIBE (on 1) / UNSUBSCRIBE (on 0).  RFC 3501 lets a client
 * subscribe to a name that does not exist: such names are kept in the
 * index too (a row without a folder, listed only by LSUB and LIST
 * (SUBSCRIBED) with \NonExistent).  TN_DECLINED: invalid name; for
 * UNSUBSCRIBE, not subscribed.
 */
tn_int_t tn_store_mbox_subscribe(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_uint_t on, const char **reason, tn_log_t *log);


/* one message of an open mailbox */
typedef struct {
    uint32_t          uid;
    uint32_t          flags;         /* TN_STORE_F_* */
    uint64_t          keywords;      /* bit i: mb->keywords[i] */
    uint64_t          modseq;
    uint64_t          vsize;         /* RFC822.SIZE: CRLF line ends */
    time_t            internaldate;
} tn_store_imsg_t;

typedef struct {
    tn_store_mbox_info_t  info;      /* counts filled */
    tn_uint_t         nmsgs;
    tn_store_imsg_t  *msgs;          /* sorted by uid */
    tn_uint_t         nkeywords;
    tn_str_t          keywords[TN_STORE_KEYWORDS_MAX];
    tn_pool_t        *pool;          /* made by open; everything is here */
} tn_store_mbox_t;

/*
 * SELECT (readonly 0) and EXAMINE (readonly 1): syncs the folder with
 * its Maildir (files in new/ or cur/ without a row get UIDs in the order
 * of their names, rows whose file is gone become expunged, like
 * tn_store_mailbox_load() does for INBOX), then loads it.  When not
 * readonly, the files found in new/ are moved to cur/ and flagged
 * TN_STORE_F_RECENT in this result only.  TN_DECLINED: no such mailbox
 * (or a \Noselect parent).  Free with tn_store_mbox_free().
 */
tn_int_t tn_store_mbox_open(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_uint_t readonly, tn_store_mbox_t *mb,
    const char **reason, tn_log_t *log);
void tn_store_mbox_free(tn_store_mbox_t *mb);


/* what changed in a mailbox since a MODSEQ */
typedef struct {
    uint32_t          uidvalidity;   /* changed: the mailbox was replaced */
    uint32_t          uidnext;
    uint64_t          highestmodseq;
    tn_uint_t         nchanged;      /* new and changed rows, by uid */
    tn_store_imsg_t  *changed;
    tn_uint_t         nexpunged;     /* uids, ascending */
    uint32_t         *expunged;
    tn_uint_t         nkeywords;     /* the keyword table now */
    tn_str_t          keywords[TN_STORE_KEYWORDS_MAX];
    unsigned          gone:1;        /* the mailbox was deleted/renamed */
    unsigned          pruned:1;      /* the expunged log did not reach
                                        back to since: all rows given */
} tn_store_changes_t;

/*
 * The rows of mailbox id with modseq > since, and the uids expunged
 * after since, from the index only (cheap: no Maildir scan).  When the
 * expunged table no longer reaches back to since (pruned), every uid of
 * the mailbox is returned in changed and the caller compares
 * (c->nexpunged is then 0, c->pruned is set and the caller finds what
 * is missing).  All in pool.  TN_OK, TN_ERROR.
 */
tn_int_t tn_store_mbox_changes(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint64_t since, tn_pool_t *pool, tn_store_changes_t *c,
    tn_log_t *log);

/*
 * STORE: for each of uids (ascending, n of them) that is in the mailbox,
 * applies op (TN_STORE_FLAGS_*) with flags and the keywords names
 * (nkw of them; new names are added to the keyword table; more than
 * TN_STORE_KEYWORDS_MAX gives TN_DECLINED "too many keywords" and
 * changes nothing).  unchangedsince (CONDSTORE; 0: none): a message
 * whose modseq is above it is not changed and its uid goes into
 * *failed.  A message whose flags do not change keeps its modseq.  out
 * gets, for every uid found (changed or not, failed or not), its row as
 * it is after the call; *nout its count.  One transaction.
 */
typedef struct {
    tn_uint_t         op;
    uint32_t          flags;
    tn_str_t         *kw;
    tn_uint_t         nkw;
    uint64_t          unchangedsince;
} tn_store_flag_op_t;

tn_int_t tn_store_mbox_store(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint32_t *uids, tn_uint_t n, tn_store_flag_op_t *op,
    tn_pool_t *pool, tn_store_imsg_t **out, tn_uint_t *nout,
    uint32_t **failed, tn_uint_t *nfailed, const char **reason,
    tn_log_t *log);

/*
 * EXPUNGE: removes the messages of mailbox id that have \Deleted and
 * whose uid is in uids (uids NULL: all of them), like tn_store_expunge():
 * files unlinked, directories fsynced, rows moved to expunged with a new
 * modseq.  *out gets the uids removed (ascending) and *nout their count.
 */
tn_int_t tn_store_mbox_expunge(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint32_t *uids, tn_uint_t n, tn_pool_t *pool,
    uint32_t **out, tn_uint_t *nout, tn_log_t *log);

/*
 * COPY and MOVE (move 1) of uids (ascending) of mailbox id into the
 * mailbox called to.  Copies are hard links (a copy and fsync across
 * devices) into to's tmp/ then cur/, with the same flags and keywords
 * (by name) and internal date, and new UIDs there in the order of uids;
 * the header cache is copied too.  MOVE then expunges the sources in the
 * same way as tn_store_mbox_expunge() (RFC 6851: the copies are durable
 * first).  Uids not in the mailbox are skipped.  *src and *dst get the pairs
 * (COPYUID), *nout their count, *uidvalidity that of to.  TN_DECLINED:
 * no such mailbox to (the IMAP layer answers [TRYCREATE]), or the quota
 * would be passed ("over quota": [OVERQUOTA]).
 */
tn_int_t tn_store_mbox_copy(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint32_t *uids, tn_uint_t n, tn_str_t *to, tn_uint_t move,
    tn_pool_t *pool, uint32_t **src, uint32_t **dst, tn_uint_t *nout,
    uint32_t *uidvalidity, const char **reason, tn_log_t *log);

/*
 * APPEND: a message the IMAP session spooled (tn_store_spool_create(),
 * written with LF line ends as delivery does, closed, not synced) goes
 * into the mailbox called name like a delivery: fsync, link into tmp/,
 * rename into cur/ (an APPENDed message is not \Recent), fsync the
 * directories, then the row with the flags, keywords and internal date
 * given, and the header cache.  The spool file is always unlinked.
 * TN_DECLINED with *reason: no such mailbox ([TRYCREATE]), over quota
 * ([OVERQUOTA]), too many keywords.  TN_ERROR: err says why (ENOSPC).
 */
typedef struct {
    char              spool_path[PATH_MAX];
    uint64_t          size;          /* on disk */
    uint64_t          vsize;         /* with CRLF line ends */
    time_t            internaldate;
    uint32_t          flags;
    tn_str_t         *kw;
    tn_uint_t         nkw;
    /* out */
    uint32_t          uid;
    uint32_t          uidvalidity;
    tn_err_t          err;
} tn_store_append_t;

tn_int_t tn_store_mbox_append(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_store_append_t *a, const char **reason,
    tn_log_t *log);


/*
 * The header cache of one message (tn_mail_imap_msg.h makes it from the
 * message file).  Strings are in pool; a string of len 0 means absent.
 */
typedef struct {
    /*
     * The raw header block with CRLF line ends and the empty line that
     * ends it; empty (and header_too_large set) when it is longer than
     * TN_STORE_CACHE_HEADER_MAX: then HEADER sections read the file.
     */
    tn_str_t          header;
    tn_str_t          envelope;      /* IMAP ENVELOPE, "(...)" */
    tn_str_t          bodystructure; /* BODYSTRUCTURE with extensions */
    tn_str_t          body;          /* BODY: without extension data */
    /*
     * For SEARCH and SORT: RFC 2047 decoded, converted to UTF-8 and
     * folded with tn_mail_imap_fold(); addresses as "name <addr>" joined
     * by ", ".
     */
    tn_str_t          from;
    tn_str_t          to;
    tn_str_t          cc;
    tn_str_t          bcc;
    tn_str_t          subject;
    tn_str_t          sort_from;     /* RFC 5256: first mailbox, folded */
    tn_str_t          sort_to;
    tn_str_t          sort_cc;
    tn_str_t          sort_subject;  /* RFC 5256 base subject, folded */
    time_t            date;          /* Date: as UTC; -1: none/invalid */
    int32_t           date_tz;       /* its zone offset, minutes */
    unsigned          header_too_large:1;
} tn_store_cache_t;

#define TN_STORE_CACHE_HEADER_MAX     (64 * 1024)

/*
 * The message file of uid in mailbox id: its absolute path into path
 * (PATH_MAX) and its cache.  want: TN_STORE_WANT_* bits of what the
 * caller needs; when a wanted column is NULL in the index (a message
 * from before the cache, or one delivered by another tool), the file is
 * parsed, the cache stored (in the same call) and returned.  path may
 * be NULL.  TN_DECLINED: no such uid (expunged meanwhile).
 */
#define TN_STORE_WANT_PATH            0x01
#define TN_STORE_WANT_CACHE           0x02

tn_int_t tn_store_mbox_message(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint32_t uid, tn_uint_t want, char *path,
    tn_pool_t *pool, tn_store_cache_t *cache, tn_log_t *log);

/*
 * The header caches of many messages of mailbox id at once, for FETCH
 * and SEARCH batches: uids ascending (others are only read less well),
 * in one read transaction, one statement per run of close uids and per
 * cache table holding a wanted column.  cols: TN_STORE_COL_* bits of
 * the cache columns wanted; the others are left empty (date -1), and a
 * table none of them is in is not read: SEARCH FROM reads msg_keys only,
 * ENVELOPE msg_cache only.  found[i] is 1 when caches[i] came from the
 * index, 0 when uids[i] is not there or has no cache yet: then the
 * caller asks tn_store_mbox_message(), which fills the cache from the
 * file (or answers TN_DECLINED) as before.  TN_OK; TN_ERROR.
 */
#define TN_STORE_COL_HEADER           0x0001
#define TN_STORE_COL_ENVELOPE         0x0002
#define TN_STORE_COL_BODYSTRUCTURE    0x0004
#define TN_STORE_COL_BODY             0x0008
#define TN_STORE_COL_FROM             0x0010
#define TN_STORE_COL_TO               0x0020
#define TN_STORE_COL_CC               0x0040
#define TN_STORE_COL_BCC              0x0080
#define TN_STORE_COL_SUBJECT          0x0100
#define TN_STORE_COL_SORT_FROM        0x0200
#define TN_STORE_COL_SORT_TO          0x0400
#define TN_STORE_COL_SORT_CC          0x0800
#define TN_STORE_COL_SORT_SUBJECT     0x1000
#define TN_STORE_COL_DATE             0x2000   /* date and date_tz */
#define TN_STORE_COL_ALL              0x3fff

tn_int_t tn_store_mbox_messages(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint32_t *uids, tn_uint_t n, tn_uint_t cols,
    tn_pool_t *pool, tn_store_cache_t *caches, u_char *found,
    tn_log_t *log);

/*
 * The quota of u (RFC 9208 STORAGE, in bytes; 0: none) and what the
 * user's mailboxes hold now (the sum of the sizes on disk).
 */
tn_int_t tn_store_mbox_quota(tn_store_conf_t *conf, tn_store_user_t *u,
    uint64_t *limit, uint64_t *used, uint64_t *count, tn_log_t *log);


#endif /* _TN_STORE_IMAP_H_INCLUDED_ */
