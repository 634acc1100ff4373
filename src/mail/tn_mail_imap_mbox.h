
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_IMAP_MBOX_H_INCLUDED_
#define _TN_MAIL_IMAP_MBOX_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>


/*
 * Private to tn_mail_imap_mailbox.c and tn_mail_imap_list.c: the
 * thread-pool job of the mailbox commands and its helpers.
 */


/* LIST: a pattern longer than this is refused (the match is O(p * n)) */
#define TN_MAIL_IMAP_PATTERN_MAX      1024
#define TN_MAIL_IMAP_PATTERNS_MAX     32

/* list options, selection and return */
#define TN_IMAP_LIST_SUBSCRIBED       0x0001   /* selection SUBSCRIBED */
#define TN_IMAP_LIST_RECURSIVE        0x0002   /* RECURSIVEMATCH */
#define TN_IMAP_LIST_SPECIAL          0x0004   /* selection SPECIAL-USE */
#define TN_IMAP_LIST_RET_SUBSCRIBED   0x0010
#define TN_IMAP_LIST_RET_STATUS       0x0020
#define TN_IMAP_LIST_LSUB             0x0040
#define TN_IMAP_LIST_EXTENDED         0x0080

/* STATUS items */
#define TN_IMAP_STATUS_MESSAGES       0x0001
#define TN_IMAP_STATUS_UIDNEXT        0x0002
#define TN_IMAP_STATUS_UIDVALIDITY    0x0004
#define TN_IMAP_STATUS_UNSEEN         0x0008
#define TN_IMAP_STATUS_RECENT         0x0010
#define TN_IMAP_STATUS_SIZE           0x0020
#define TN_IMAP_STATUS_HIGHESTMODSEQ  0x0040
#define TN_IMAP_STATUS_DELETED        0x0080


/* one LIST result, chosen in the thread */
typedef struct {
    tn_store_mbox_info_t      *info;
    unsigned                   noselect:1;   /* LSUB: a parent only */
    unsigned                   childinfo:1;  /* a subscribed child */
} tn_mail_imap_listed_t;


/* the thread-pool job of every command here */
typedef struct {
    tn_mail_imap_task_t        base;
    tn_uint_t                  command;
    tn_str_t                   name;
    tn_str_t                   name2;
    tn_uint_t                  flag;
    tn_uint_t                  items;
    tn_int_t                   rc;
    const char                *reason;
    uint32_t                   generation;

    tn_store_mbox_t            mb;          /* SELECT, EXAMINE */

    /* LIST, LSUB */
    tn_str_t                   patterns[TN_MAIL_IMAP_PATTERNS_MAX];
    tn_uint_t                  npatterns;
    tn_array_t                *listed;      /* tn_mail_imap_listed_t */

    tn_store_mbox_info_t       info;        /* STATUS */

    uint64_t                   limit;       /* GETQUOTA */
    uint64_t                   used;
    uint64_t                   count;

    tn_store_append_t         *append;      /* APPEND, tn_alloc'ed */

    /* SELECT (QRESYNC (uidvalidity modseq [known-uids ...])) */
    unsigned                   qresync:1;
    uint32_t                   qr_uidvalidity;
    uint64_t                   qr_modseq;
    tn_str_t                   qr_known;    /* len 0: none */
    tn_int_t                   qr_rc;       /* of the changes */
    tn_store_changes_t         changes;
} tn_mail_imap_mbox_task_t;


/*
 * A task for the running command, with name (may be NULL) copied into
 * its own pool; NULL when out of memory.  tn_mail_imap_mbox_start()
 * posts it: TN_AGAIN, or TN_OK with a tagged NO written (the task is
 * freed).  tn_mail_imap_task_free() frees a task that is back (and the
 * append and the loaded mailbox it may hold).
 */
tn_mail_imap_mbox_task_t *tn_mail_imap_mbox_task(tn_mail_session_t *s,
    void (*done)(tn_mail_session_t *s, tn_thread_task_t *task),
    tn_str_t *name);
tn_int_t tn_mail_imap_mbox_start(tn_mail_session_t *s,
    tn_mail_imap_mbox_task_t *t);

/*
 * In a done callback: when the store refused or failed (t->rc), the
 * tagged NO (with nonexistent as the code of "no such mailbox"), the
 * task freed and the command done: 1; else 0.
 */
tn_uint_t tn_mail_imap_mbox_failed(tn_mail_session_t *s,
    tn_thread_task_t *task, const char *nonexistent);
/* a store refusal as a tagged NO with a response code; TN_OK */
tn_int_t tn_mail_imap_refused(tn_mail_imap_session_t *is, tn_int_t rc,
    const char *reason, const char *nonexistent);
/* a mailbox name as an IMAP string, in the client's encoding */
tn_int_t tn_mail_imap_write_name(tn_mail_imap_session_t *is,
    tn_pool_t *pool, tn_str_t *name);

/* tn_mail_imap_list.c: in the thread, the mailboxes LIST selects */
void tn_mail_imap_list_select(tn_mail_imap_mbox_task_t *t, tn_log_t *log);

/* "\Sent" ... by TN_STORE_SPECIAL_* */
extern tn_str_t  tn_mail_imap_special_names[];


#endif /* _TN_MAIL_IMAP_MBOX_H_INCLUDED_ */
