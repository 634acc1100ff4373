
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_IMAP_SEARCH_EVAL_H_INCLUDED_
#define _TN_MAIL_IMAP_SEARCH_EVAL_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_imap.h>
#include <tn_mail_imap_search_key.h>


/*
 * The evaluation of a compiled search key tree (tn_mail_imap_search.c
 * resolved its sets, dates and keywords and folded its strings) against
 * one message (tn_mail_imap_search_eval.c).  Pure: the message's view
 * row is given, its header cache may be given or is asked for through
 * load_cache, and its file through load_file; the evaluator itself
 * makes no store or file call, so it runs in the event loop (view keys
 * only, no callbacks) as well as in a thread-pool task.
 *
 * Cheap keys go first (the parser orders AND and OR by cost), the cache
 * is asked for only when a key needs it and the file only for BODY, TEXT
 * and a HEADER key of a message whose header block was too large to be
 * cached.  The cache is asked for at most once per message (the file
 * once for BODY and TEXT, and once for HEADER keys).  A callback that
 * answers TN_DECLINED (the message was expunged meanwhile) makes the
 * message match nothing, under NOT too.
 */


typedef struct tn_mail_imap_seval_s  tn_mail_imap_seval_t;

/*
 * Fills ev->cache with the header cache of ev->m (strings in ev->pool).
 * TN_OK; TN_DECLINED: expunged meanwhile; TN_ERROR (logged).
 */
typedef tn_int_t (*tn_mail_imap_seval_cache_pt)(tn_mail_imap_seval_t *ev);

/*
 * The whole message file of ev->m in its CRLF form into *msg (in
 * ev->pool; called after load_cache answered TN_OK).  A message too large
 * to be searched gives TN_OK and an empty msg.  TN_DECLINED: expunged
 * meanwhile; TN_ERROR (logged).
 */
typedef tn_int_t (*tn_mail_imap_seval_file_pt)(tn_mail_imap_seval_t *ev,
    tn_str_t *msg);


struct tn_mail_imap_seval_s {
    /* set by the caller once; load_cache NULL: view keys only */
    tn_pool_t                    *pool;     /* the caller resets it */
    tn_mail_imap_seval_cache_pt   load_cache;
    tn_mail_imap_seval_file_pt    load_file;
    void                         *data;     /* for the callbacks */

    /* per message, set by tn_mail_imap_seval_start() */
    tn_store_imsg_t              *m;        /* the view row */
    tn_store_cache_t              cache;
    tn_str_t                      header;   /* the header block */
    tn_str_t                      text;     /* folded body text */
    tn_str_t                      fheader;  /* folded header block */
    unsigned                      cached:1;
    unsigned                      texted:1;
    unsigned                      fheadered:1;
    unsigned                      gone:1;   /* expunged meanwhile */
};


/*
 * Begins the evaluation of message m: cache is its header cache when the
 * caller has it already (copied), NULL when it is to be loaded when
 * needed.
 */
void tn_mail_imap_seval_start(tn_mail_imap_seval_t *ev, tn_store_imsg_t *m,
    tn_store_cache_t *cache);

/*
 * 1: the message matches the tree, 0: it does not (or ev->gone: it was
 * found expunged), TN_ERROR: out of memory or a callback failed (or
 * a key needed the cache and load_cache is NULL).
 */
tn_int_t tn_mail_imap_seval_match(tn_mail_imap_seval_t *ev,
    tn_mail_imap_skey_t *root);

/* days since the epoch of a UTC time, rounding down: for the date keys */
time_t tn_mail_imap_seval_day(time_t t);


#endif /* _TN_MAIL_IMAP_SEARCH_EVAL_H_INCLUDED_ */
