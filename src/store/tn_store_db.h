
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_STORE_DB_H_INCLUDED_
#define _TN_STORE_DB_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_imap.h>

#include <sqlite3.h>


/*
 * Internal to src/store: SQLite connections, address checks and Maildir
 * helpers shared by the store's files.
 */


#define TN_STORE_DB_ACCOUNTS    1            /* tern.db */
#define TN_STORE_DB_INDEX       2            /* <maildir>/index.db */

#define TN_STORE_DB_CREATE      0x01         /* create the file if missing */

#define TN_STORE_DB_STMTS       64
#define TN_STORE_DB_CACHE       8            /* connections per thread */

/* PRAGMA user_version of each kind of database */
/* 2: aliases; users.forward_to, forward_keep, quota_bytes */
#define TN_STORE_ACCOUNTS_VERSION  2
/* 2: folders, flags, keywords, expunged, the header cache (IMAP) */
/* 3: the header cache in msg_keys, msg_cache, msg_header */
#define TN_STORE_INDEX_VERSION     3

#define TN_STORE_INBOX          "INBOX"

/* maildir(5): tmp/ files not touched for 36 hours are garbage */
#define TN_STORE_TMP_MAX_AGE    (36 * 60 * 60)


typedef struct {
    const char          *sql;
    sqlite3_stmt        *stmt;
} tn_store_db_stmt_t;


/*
 * A connection owned by one thread.  It stays in the thread's cache
 * between calls; the cache checks the file's inode on every use, so a
 * database replaced by a rebuild or removed by "user del" is reopened.
 */
typedef struct {
    sqlite3             *db;
    char                 path[PATH_MAX];
    dev_t                dev;
    ino_t                ino;
    tn_uint_t            kind;
    tn_uint_t            used;               /* LRU clock */
    tn_uint_t            nstmts;
    tn_store_db_stmt_t   stmts[TN_STORE_DB_STMTS];
} tn_store_db_t;


/*
 * An address split and checked.  The parts are NUL-terminated copies with
 * their ASCII letters lowercased; the domain is in its A-label form
 * (tn_store_domain_norm()) and a UTF-8 local part keeps its non-ASCII
 * bytes as given.  domain_ok and local_ok say whether each part is
 * valid; address is set only when both are.
 */
typedef struct {
    u_char               local[TN_STORE_LOCAL_MAX + 1];
    u_char               domain[TN_STORE_DOMAIN_MAX + 1];
    u_char               address[TN_STORE_ADDRESS_MAX + 1];
    size_t               local_len;
    size_t               domain_len;
    size_t               address_len;
    unsigned             local_ok:1;
    unsigned             domain_ok:1;
} tn_store_addr_t;


/*
 * Returns this thread's connection to path, opening it (WAL, busy
 * timeout, synchronous=FULL, schema checked or created) if needed.  NULL
 * on failure, logged, with the SQLite code in *src (SQLITE_CORRUPT and
 * SQLITE_NOTADB mean a damaged file; SQLITE_CANTOPEN with errno ENOENT a
 * missing one when TN_STORE_DB_CREATE is not given).  The connection must
 * not be handed to another thread.
 */
tn_store_db_t *tn_store_db_get(const char *path, tn_uint_t kind,
    tn_uint_t flags, int *src, tn_log_t *log);
/* closes a connection and drops it from the cache */
void tn_store_db_close(tn_store_db_t *db);
/* closes this thread's cached connection to path, if any */
void tn_store_db_forget(const char *path);
/* closes all of this thread's connections (checkpointing their WAL) */
void tn_store_db_close_all(void);

/*
 * A cached prepared statement for sql (which must be a string constant:
 * the cache is keyed by the pointer), reset and with no bindings.  The
 * caller calls sqlite3_reset() when done with it.  NULL on error.
 */
sqlite3_stmt *tn_store_db_stmt(tn_store_db_t *db, const char *sql,
    tn_log_t *log);
/* runs SQL without results; SQLite result code */
int tn_store_db_exec(tn_store_db_t *db, const char *sql, tn_log_t *log);
/* BEGIN IMMEDIATE, COMMIT, ROLLBACK; SQLite result codes */
int tn_store_db_begin(tn_store_db_t *db, tn_log_t *log);
int tn_store_db_commit(tn_store_db_t *db, tn_log_t *log);
void tn_store_db_rollback(tn_store_db_t *db, tn_log_t *log);
/* logs "what failed (code): message, db: path" at ERR */
void tn_store_db_log(tn_store_db_t *db, tn_log_t *log, int rc,
    const char *what);
/* an errno for an SQLite result code: ENOSPC for SQLITE_FULL, else EIO */
tn_err_t tn_store_db_errno(int rc);
#define tn_store_db_corrupt(rc)                                              \
    (((rc) & 0xff) == SQLITE_CORRUPT || ((rc) & 0xff) == SQLITE_NOTADB)


/* splits and checks addr; never fails, see the flags */
void tn_store_addr_parse(u_char *addr, size_t len, tn_store_addr_t *a);
/* LDH labels of 1..63, 1..255 octets in all, ASCII only: TN_OK/TN_ERROR */
tn_int_t tn_store_domain_valid(u_char *p, size_t len);
/*
 * A domain (U-labels or A-labels, any case) in the form the store keeps:
 * tn_idna_to_ascii() into dst (TN_STORE_DOMAIN_MAX + 1 bytes), which must
 * then pass tn_store_domain_valid().  Returns the length (dst is
 * NUL-terminated) or TN_ERROR.
 */
tn_int_t tn_store_domain_norm(u_char *dst, u_char *name, size_t len);
/* mail_root/<domain>/<local> into u->maildir; TN_ERROR if too long */
tn_int_t tn_store_maildir_path(tn_store_conf_t *conf, tn_store_addr_t *a,
    tn_store_user_t *u);

/*
 * The Maildir of u: O_DIRECTORY|O_NOFOLLOW descriptors of the Maildir and
 * of its tmp/, new/ and cur/ (any of the out pointers may be NULL), and
 * the owner of the Maildir.  TN_OK or TN_ERROR with errno set (not
 * logged).  The caller closes what it got.
 */
tn_int_t tn_store_maildir_open(tn_store_user_t *u, tn_fd_t *dirfd,
    tn_fd_t *tmpfd, tn_fd_t *newfd, tn_fd_t *curfd, struct stat *st);
void tn_store_close_fds(tn_fd_t *fds, tn_uint_t n);

/*
 * A new UIDVALIDITY for the Maildir at dirfd: greater than old, than any
 * recorded in a "tern-uidvalidity.<hex>" file there, and at least now.
 * Records it (file created, directory synced).  0 on failure (logged).
 */
uint32_t tn_store_uidvalidity_new(tn_fd_t dirfd, uint32_t old,
    tn_log_t *log);

/*
 * The INBOX row of an index, created (with a new UIDVALIDITY) if missing.
 * Call inside a write transaction.  TN_OK or TN_ERROR (logged); *src gets
 * the SQLite code of a failure.
 */
typedef struct {
    int64_t              id;
    uint32_t             uidvalidity;
    uint32_t             uidnext;
    int64_t              highestmodseq;
} tn_store_mbox_row_t;

tn_int_t tn_store_inbox_get(tn_store_db_t *db, tn_fd_t dirfd,
    tn_store_mbox_row_t *mr, int *src, tn_log_t *log);
tn_int_t tn_store_inbox_put(tn_store_db_t *db, tn_store_mbox_row_t *mr,
    int *src, tn_log_t *log);

/*
 * The end of a write transaction that changed mailbox mr->id: the row
 * written back (tn_store_inbox_put()), COMMIT, tn_store_notify(u).  On
 * failure the transaction is rolled back.  TN_OK or TN_ERROR (logged).
 */
tn_int_t tn_store_mbox_commit(tn_store_db_t *db, tn_store_mbox_row_t *mr,
    tn_store_user_t *u, tn_log_t *log);

/*
 * Runs sql, which returns no rows, with ?1 = a and ?2 = b (when sql has
 * a ?2).  SQLite codes; a failure is logged as what.
 */
int tn_store_db_run2(tn_store_db_t *db, const char *sql, int64_t a,
    int64_t b, const char *what, tn_log_t *log);

/*
 * Runs sql with ?1 = mailbox id and ?2 = uid.  TN_OK: *stmt is on the
 * message's row (the caller resets it); TN_DECLINED: no such message;
 * TN_ERROR (logged).
 */
tn_int_t tn_store_msg_step(tn_store_db_t *db, const char *sql, int64_t id,
    uint32_t uid, sqlite3_stmt **stmt, tn_log_t *log);

/*
 * Steps stmt (parameters bound) to its end, pushing column 0 of every
 * row onto a (of uint32_t), and resets it.  TN_OK or TN_ERROR (logged
 * as what).
 */
tn_int_t tn_store_uids_read(tn_store_db_t *db, sqlite3_stmt *stmt,
    tn_array_t *a, const char *what, tn_log_t *log);

/*
 * The index of a Maildir, created when missing (and, run as root, given
 * to the Maildir's owner).  A damaged index is rebuilt once.  NULL on
 * failure (logged).
 */
tn_store_db_t *tn_store_index_open(tn_store_conf_t *conf,
    tn_store_user_t *u, tn_log_t *log);

/*
 * The quota check of a delivery, made inside the index transaction of
 * the user (tn_store_rules.c): TN_OK when size more bytes fit in INBOX
 * (or there is no quota), TN_DECLINED when not, TN_ERROR (logged).
 */
tn_int_t tn_store_quota_tx(tn_store_conf_t *conf, tn_store_db_t *db,
    tn_store_user_t *u, off_t size, tn_log_t *log);
/* the quota of u in bytes (0: none), from tern.db */
tn_int_t tn_store_quota_get(tn_store_conf_t *conf, tn_store_user_t *u,
    off_t *quota, tn_log_t *log);

/* a file name that is safe to use relative to a directory fd */
tn_int_t tn_store_name_safe(const u_char *name, size_t len);

/* the length of a Maildir base name: up to ':' */
size_t tn_store_base_len(const u_char *name, size_t len);

/* sizes of the file at name in dirfd: TN_OK, TN_DECLINED (gone), TN_ERROR */
tn_int_t tn_store_file_vsize(tn_fd_t dirfd, const char *name,
    struct stat *sb, off_t *vsize, tn_log_t *log);

/* fsync() of a directory fd; TN_OK or TN_ERROR with errno set */
tn_int_t tn_store_fsync_fd(tn_fd_t fd);

/* writes text to fd: UTF-8 as it is, controls and other bytes as \xHH */
void tn_store_write_escaped(tn_fd_t fd, const char *prefix, u_char *s,
    size_t len, const char *suffix);


/* a synced copy of a file where a hard link cannot be made */
tn_int_t tn_store_copy_synced(tn_fd_t src, tn_fd_t dirfd, const char *name,
    off_t size);


/*
 * Folders and their sync with the index (tn_store_index.c), shared with
 * the IMAP store (tn_store_mbox.c, tn_store_folder.c).
 */

/* a file found in new/ or cur/ */
typedef struct {
    u_char              *name;         /* as on disk, NUL-terminated */
    size_t               len;
    size_t               base_len;     /* up to ':' */
    tn_uint_t            cur;          /* 0: new/, 1: cur/ */
    off_t                size;
    off_t                vsize;        /* -1: not known yet */
    time_t               mtime;
    long                 mtime_ns;     /* orders files of one second */
    uint32_t             uid;          /* its row at the first read */
    unsigned             dup:1;        /* same base name as another */
    unsigned             gone:1;       /* vanished while we looked */
    unsigned             matched:1;    /* has a row now */
    unsigned             inserted:1;   /* got its row from this sync */
} tn_store_file_t;

/* a row of the index */
typedef struct {
    uint32_t             uid;
    u_char              *filename;
    size_t               len;
    off_t                size;
    off_t                vsize;
    time_t               internaldate;
    tn_store_file_t     *file;
    unsigned             deleted:1;
    unsigned             in_new:1;
} tn_store_row_t;

/* a folder being synced: INBOX (dir "") or a Maildir++ folder */
typedef struct {
    tn_store_conf_t     *conf;
    tn_store_user_t     *u;
    tn_log_t            *log;
    tn_pool_t           *pool;
    tn_fd_t              fds[5];       /* the folder, tmp/, new/, cur/,
                                          and the Maildir */
    struct stat          st;           /* of the Maildir: its owner */
    tn_array_t          *files;        /* sorted by base name */
    char                 index[PATH_MAX + sizeof("/index.db")];
    char                 path[PATH_MAX];   /* of the folder */
    const char          *dir;          /* "" for INBOX, else ".Name" */
    unsigned             changed:1;    /* a commit changed the mailbox */
    unsigned             scanned:1;    /* files is the directory now */
} tn_store_md_t;

#define TN_STORE_MD_ROOT        4

/*
 * Opens the folder dir ("" for INBOX) of u.  TN_OK; TN_DECLINED: the
 * folder does not exist (not logged); TN_ERROR (logged).
 */
tn_int_t tn_store_md_open(tn_store_md_t *md, tn_store_conf_t *conf,
    tn_store_user_t *u, const char *dir, tn_log_t *log);
void tn_store_md_close(tn_store_md_t *md);
tn_int_t tn_store_md_scan(tn_store_md_t *md);
tn_store_file_t *tn_store_md_find(tn_store_md_t *md, u_char *name,
    size_t len);

/* the pieces of a sync, for tn_store_rebuild.c */
tn_int_t tn_store_md_vsizes(tn_store_md_t *md, tn_uint_t all);
/* the INBOX row without making it (mr->id 0: none); SQLite codes */
int tn_store_inbox_find(tn_store_db_t *db, tn_store_mbox_row_t *mr,
    tn_log_t *log);
int tn_store_rows_read(tn_store_db_t *db, tn_store_md_t *md, int64_t mbox,
    tn_array_t **rows);
void tn_store_rows_match(tn_store_md_t *md, tn_array_t *rows);
/* under BEGIN IMMEDIATE: rows and files made to agree; SQLite codes */
int tn_store_sync_apply(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_array_t *rows, uint32_t uidnext_a);
int tn_store_insert_files(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_uint_t keep);

/*
 * The row of mailbox mr->id (mr->id 0: INBOX, created if missing) into
 * mr.  SQLITE_OK; SQLITE_NOTFOUND: no such mailbox (or no folder).
 */
int tn_store_mbox_row_read(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr);

/*
 * Syncs the folder of md with mailbox mr->id (0: INBOX) and commits:
 * new files get rows (flags from their names, modseq), rows whose file
 * is gone go to expunged, in_new follows the files.  *rows gets the
 * rows as they were before the new files were added (with file set).
 * Calls tn_store_changed() when something changed.  SQLite codes.
 */
int tn_store_sync_rows(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_array_t **rows);

/*
 * Inside a write transaction: removes the row uid of mailbox mr->id and
 * records it in expunged with ++mr->highestmodseq (the caller writes mr
 * back with tn_store_inbox_put()).  SQLite codes.
 */
int tn_store_expunged_add(tn_store_db_t *db, tn_store_mbox_row_t *mr,
    uint32_t uid, tn_log_t *log);
/* the expunged log of mailbox mr->id cut to 30 days and 100,000 rows */
int tn_store_expunged_prune(tn_store_db_t *db, tn_store_mbox_row_t *mr,
    tn_log_t *log);

/*
 * Expunges uids of mailbox mr->id of the open folder md, in one write
 * transaction: names (and, with deleted, only the rows that still have
 * \Deleted), files (unlinked, directories synced), then the rows.
 * names: n pointers in md->pool; on return names[i] is NULL for each uid
 * not removed.
 */
tn_int_t tn_store_expunge_uids(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, uint32_t *uids, tn_uint_t n, u_char **names,
    tn_uint_t deleted);

/* system flags (TN_STORE_F_*) from maildir(5) letters, and back */
uint32_t tn_store_flags_parse(const u_char *p, size_t len);
u_char *tn_store_flags_letters(u_char *dst, uint32_t flags);
#define TN_STORE_FLAGS_LEN      8

/* a mailbox row found by name (tn_store_folder.c) */
typedef struct {
    int64_t              id;           /* 0: INBOX without a row yet */
    uint32_t             uidvalidity;
    uint32_t             uidnext;
    uint64_t             highestmodseq;
    tn_uint_t            special;
    unsigned             folder:1;     /* it has a folder (dir) */
    unsigned             subscribed:1;
    u_char               name[TN_STORE_MBOX_NAME_MAX + 1];
    size_t               name_len;
    char                 dir[NAME_MAX + 1];   /* "" for INBOX */
} tn_store_mbox_ref_t;

/*
 * Checks and normalizes name ("inbox" -> "INBOX") into ref->name and
 * finds its row; a name not in the index makes the folder list sync
 * with the directory once.  TN_OK: a mailbox with a folder; TN_DECLINED
 * (*reason): an invalid name or no such mailbox; TN_ERROR.
 */
tn_int_t tn_store_mbox_find(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_store_db_t *db, tn_str_t *name, tn_store_mbox_ref_t *ref,
    const char **reason, tn_log_t *log);

/*
 * What STATUS and SELECT begin with: the index opened into *db,
 * tn_store_mbox_find(), the folder opened into md, tn_store_sync_rows()
 * (mr filled).  TN_OK: md is open and the caller closes it; TN_DECLINED
 * with *reason, TN_ERROR (md closed).
 */
tn_int_t tn_store_mbox_sync(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_store_db_t **db, tn_store_mbox_ref_t *ref,
    tn_store_md_t *md, tn_store_mbox_row_t *mr, const char **reason,
    tn_log_t *log);
/* ref's name (copied into pool), special use and subscription into info */
tn_int_t tn_store_info_set(tn_store_mbox_info_t *info,
    tn_store_mbox_ref_t *ref, tn_pool_t *pool);

/* the counts of mailbox id (messages, unseen, recent, deleted, size) */
tn_int_t tn_store_mbox_counts(tn_store_db_t *db, int64_t id,
    tn_store_mbox_info_t *info, tn_log_t *log);

/* a folder's name on disk: ".x", no "/", not ".."; TN_OK or TN_ERROR */
tn_int_t tn_store_folder_dir_safe(const u_char *dir, size_t len);

/*
 * The header cache columns of messages and their parameters from ?n on
 * (16 of them); tn_store_cache_bind() binds c (NULL: "not cached").
 * Since schema 3 these columns are only a way in for an INSERT INTO
 * messages (delivery): a trigger moves what they hold into the cache
 * tables.  tn_store_cache_put() writes a cache there directly (inside
 * the caller's transaction; the message's row must exist; SQLite code,
 * not logged).
 */
#define TN_STORE_CACHE_COLUMNS                                               \
    "cached, header, envelope, bodystructure, body, from_, to_, cc, bcc,"    \
    " subject, sort_from, sort_to, sort_cc, sort_subject, sent_date, sent_tz"
#define TN_STORE_CACHE_PARAMS(n)                                             \
    "?" #n ", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
#define TN_STORE_CACHE_NCOLUMNS  16

void tn_store_cache_bind(sqlite3_stmt *stmt, int first, tn_store_cache_t *c);
int tn_store_cache_put(tn_store_db_t *db, int64_t id, uint32_t uid,
    tn_store_cache_t *c, tn_log_t *log);

/* calls tn_store_changed(u->id) when it is set */
void tn_store_notify(tn_store_user_t *u);

/*
 * A new unique Maildir base name "<sec>.M<usec>P<pid>Q<n>.<host>,S=,W="
 * into buf (NAME_MAX + 1 bytes); returns its length.
 */
size_t tn_store_make_name(tn_store_conf_t *conf, u_char *buf, off_t size,
    off_t vsize);


#endif /* _TN_STORE_DB_H_INCLUDED_ */
