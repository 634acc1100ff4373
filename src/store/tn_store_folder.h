
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_STORE_FOLDER_H_INCLUDED_
#define _TN_STORE_FOLDER_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>


/*
 * Internal to the folder files of the store: tn_store_folder_name.c
 * (names), tn_store_folder.c (rows, the folder list, LIST, STATUS) and
 * tn_store_folder_ops.c (CREATE, DELETE, SUBSCRIBE, RENAME).
 */


/* a mailboxes row */
typedef struct {
    int64_t              id;
    tn_str_t             name;
    tn_str_t             dir;          /* data NULL: no folder */
    uint32_t             uidvalidity;
    uint32_t             uidnext;
    uint64_t             highestmodseq;
    tn_uint_t            special;
    unsigned             subscribed:1;
} tn_store_frow_t;


/*
 * Checks name as tn_store_imap.h says (create: a trailing "/" is
 * dropped) into ref->name, "INBOX" in any case as "INBOX", and its
 * folder name into ref->dir.  TN_OK or TN_DECLINED with *reason.
 */
tn_int_t tn_store_mbox_name(tn_str_t *in, tn_uint_t create,
    tn_store_mbox_ref_t *ref, const char **reason);
/* the IMAP name of a folder name on disk (TN_OK), if it is one of ours */
tn_int_t tn_store_folder_name(u_char *dir, size_t len, u_char *name,
    size_t *nlen);

/* the row of ref->name: TN_OK (ref filled), TN_DECLINED, TN_ERROR */
tn_int_t tn_store_find_row(tn_store_db_t *db, tn_store_mbox_ref_t *ref,
    tn_log_t *log);
/* every mailboxes row, by name, as tn_store_frow_t in pool */
tn_int_t tn_store_rows_all(tn_store_db_t *db, tn_pool_t *pool,
    tn_array_t **out, tn_log_t *log);
/* runs sql with ?1 = id, no result rows */
tn_int_t tn_store_db_run(tn_store_db_t *db, const char *sql, int64_t id,
    tn_log_t *log);
/* the folder list made to follow the directory */
tn_int_t tn_store_folders_sync(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_store_db_t *db, tn_log_t *log);
/* in a write transaction: the folder's rows go (a subscription stays) */
tn_int_t tn_store_folder_drop(tn_store_db_t *db, tn_store_frow_t *r,
    tn_log_t *log);
/* in a write transaction: the row of a new folder, new UIDVALIDITY */
tn_int_t tn_store_create_row(tn_store_user_t *u, tn_store_db_t *db,
    tn_store_mbox_ref_t *ref, tn_uint_t special, tn_log_t *log);
/* rm -r of name in parent, without following symlinks */
void tn_store_folder_rmtree(tn_fd_t parent, const char *name);

/* what DELETE renames a folder to before it removes it */
#define TN_STORE_DELETING       "tern-deleting."

/* the INBOX row, made if missing */
tn_int_t tn_store_inbox_ensure(tn_store_user_t *u, tn_store_db_t *db,
    tn_log_t *log);


#endif /* _TN_STORE_FOLDER_H_INCLUDED_ */
