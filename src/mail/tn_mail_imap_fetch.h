
/*
 * Copyright (C) The Tern developers
 */


/*
 * FETCH and STORE, private to their files:
 *
 *   tn_mail_imap_fetch.c       the FETCH command, its batches, the view
 *                              items, the output
 *   tn_mail_imap_fetch_item.c  the FETCH items and modifiers (parsing)
 *   tn_mail_imap_fetch_task.c  the thread-pool side: the cache and file
 *                              items of the messages of a batch
 *   tn_mail_imap_store.c       STORE, and the \Seen a FETCH sets
 */


#ifndef _TN_MAIL_IMAP_FETCH_H_INCLUDED_
#define _TN_MAIL_IMAP_FETCH_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>
#include <tn_mail_imap_search_key.h>


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
    unsigned                    flags:1;   /* FLAGS asked for */
    unsigned                    uid:1;
    unsigned                    idate:1;
    unsigned                    size:1;
    unsigned                    modseq:1;
    unsigned                    set_seen:1;
    unsigned                    unknown_cte:1;
    /* UID FETCH (CHANGEDSINCE m VANISHED) of QRESYNC */
    unsigned                    changed:1; /* CHANGEDSINCE given */
    unsigned                    vanished:1;
    tn_str_t                    set;       /* the uid set as sent */
} tn_mail_imap_fetch_t;


/* one message of a batch: its response so far (the view part) */
typedef struct {
    uint32_t                    uid;
    tn_str_t                    head;      /* "* 5 FETCH (UID 9" */
    tn_uint_t                   nitems;    /* items in head */
    tn_uint_t                   idx;       /* in the command's uids */
} tn_mail_imap_fmsg_t;


typedef struct {
    tn_mail_imap_task_t         base;      /* pool: items, msgs */
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


/* tn_mail_imap_fetch.c */
/* the next batch, or the end of the command: TN_OK, TN_AGAIN, TN_ERROR */
tn_int_t tn_mail_imap_fetch_batch(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);

/* tn_mail_imap_fetch_item.c */
/* the items and the modifiers; TN_OK, TN_DONE (BAD written), TN_ERROR */
tn_int_t tn_mail_imap_fetch_parse(tn_mail_imap_session_t *is,
    tn_mail_imap_fetch_t *f, tn_mail_imap_arg_t *arg);
/* a bad FETCH or STORE argument: the tagged BAD is written, TN_DONE */
tn_int_t tn_mail_imap_fetch_bad(tn_mail_imap_session_t *is,
    const char *text);

/* tn_mail_imap_fetch_task.c: the handler of the batch's task */
void tn_mail_imap_fetch_handler(void *data, tn_log_t *log);

/* tn_mail_imap_store.c */
/*
 * The STORE task, for STORE and for the \Seen of a FETCH (is->cmd_ctx
 * says which: a tn_mail_imap_fetch_t when is->parse.command is FETCH);
 * TN_AGAIN or TN_ERROR.
 */
tn_int_t tn_mail_imap_store_post(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, uint32_t *uids, tn_uint_t n,
    tn_store_flag_op_t *op);


#endif /* _TN_MAIL_IMAP_FETCH_H_INCLUDED_ */
