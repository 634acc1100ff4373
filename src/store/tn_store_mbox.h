
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_STORE_MBOX_H_INCLUDED_
#define _TN_STORE_MBOX_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>


/*
 * Internal to tn_store_mbox.c (SELECT, changes, STORE, EXPUNGE) and
 * tn_store_mbox_copy.c (COPY, MOVE, APPEND, the message file, quota).
 */


/*
 * The row of mailbox id into ref (and its expunged_modseq, if asked).
 * TN_OK; TN_DECLINED: no such mailbox, or no folder; TN_ERROR.
 */
tn_int_t tn_store_mbox_by_id(tn_store_db_t *db, int64_t id,
    tn_store_mbox_ref_t *ref, uint64_t *expunged_modseq, tn_log_t *log);

/* the keyword table of mailbox id into kw (n of them, names in pool) */
tn_int_t tn_store_kw_load(tn_store_db_t *db, int64_t id, tn_pool_t *pool,
    tn_str_t *kw, tn_uint_t *n, tn_log_t *log);
/*
 * The index of keyword name in the table kw (n of them) of mailbox id;
 * add: a new name is added (inside a write transaction).  TN_DECLINED:
 * not there (add 0), or the table is full; TN_ERROR.
 */
tn_int_t tn_store_kw_index(tn_store_db_t *db, int64_t id, tn_pool_t *pool,
    tn_str_t *kw, tn_uint_t *n, tn_str_t *name, tn_uint_t add,
    tn_log_t *log);
/*
 * The bit set of names (add: new names are added).  TN_DECLINED with
 * *reason: an invalid name, or no room in the table.
 */
tn_int_t tn_store_kw_mask(tn_store_db_t *db, int64_t id, tn_pool_t *pool,
    tn_str_t *kw, tn_uint_t *n, tn_str_t *names, tn_uint_t nnames,
    tn_uint_t add, uint64_t *mask, const char **reason, tn_log_t *log);

/*
 * The file of a message of the open folder md: cur/<base>:2,<flags>,
 * new/<base>, or found by a scan.  name gets its name (NAME_MAX + 1),
 * *cur where it is.  TN_DECLINED: no file.
 */
tn_int_t tn_store_locate(tn_store_md_t *md, u_char *base, size_t len,
    uint32_t flags, u_char *name, tn_uint_t *cur);


#endif /* _TN_STORE_MBOX_H_INCLUDED_ */
