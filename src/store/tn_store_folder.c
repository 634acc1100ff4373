
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_folder.h>


/*
 * The folders of a user (tn_store_imap.h): their rows, the folder list
 * kept in step with the directory (folders made or removed by other
 * tools), the special-use folders, LIST and STATUS.  Names are in
 * tn_store_folder_name.c, CREATE, DELETE, RENAME and subscriptions in
 * tn_store_folder_ops.c.
 *
 * A mailbox row with dir NULL is a subscription to a name that has no
 * folder.  INBOX's special column carries TN_STORE_DEFAULTS_MADE once
 * the special-use folders were made for the user.
 */


#define TN_STORE_DEFAULTS_MADE   0x100


/* a folder found in the Maildir */
typedef struct {
    tn_str_t             dir;
    tn_str_t             name;
    unsigned             indexed:1;    /* it has its row */
} tn_store_fdisk_t;


/*
 * The folders whose names do not decode that were warned about: LIST
 * syncs the folder list every time, and one such folder gives one
 * warning per process (then debug lines), not one per LIST.  A ring of
 * hashes bounds the memory; a folder pushed out by TN_STORE_BAD_SEEN
 * newer ones is warned about again.  Thread-pool threads share it.
 */

#define TN_STORE_BAD_SEEN        256

static pthread_mutex_t  tn_store_bad_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint64_t         tn_store_bad_seen[TN_STORE_BAD_SEEN];
static tn_uint_t        tn_store_bad_next;


static tn_int_t tn_store_folders_scan(tn_store_user_t *u, tn_pool_t *pool,
    tn_array_t *disk, tn_log_t *log);
static int tn_store_fdisk_cmp(const void *one, const void *two);
static tn_uint_t tn_store_bad_first(tn_store_user_t *u, const char *dir);
static void tn_store_counts_read(sqlite3_stmt *stmt, int first,
    tn_store_mbox_info_t *info);
static tn_int_t tn_store_folders_diff(tn_store_user_t *u, tn_store_db_t *db,
    tn_array_t *disk, tn_uint_t apply, tn_log_t *log);
static tn_int_t tn_store_folder_add(tn_store_user_t *u, tn_store_db_t *db,
    tn_store_fdisk_t *fd, tn_log_t *log);
static tn_int_t tn_store_folders_defaults(tn_store_conf_t *conf,
    tn_store_user_t *u, tn_store_db_t *db, tn_log_t *log);
static tn_int_t tn_store_list_build(tn_pool_t *pool, tn_array_t *rows,
    tn_array_t **out);
static tn_int_t tn_store_list_parents(tn_array_t *list, tn_pool_t *pool);
static int tn_store_info_cmp(const void *one, const void *two);
static int tn_store_info_name_cmp(const void *one, const void *two);
static tn_store_mbox_info_t *tn_store_list_find(tn_store_mbox_info_t *list,
    tn_uint_t n, u_char *name, size_t len);
static tn_int_t tn_store_list_counts(tn_store_db_t *db, tn_array_t *list,
    tn_log_t *log);


static const char  tn_store_find_sql[] =
    "SELECT id, dir, uidvalidity, uidnext, highestmodseq, subscribed,"
    " special FROM mailboxes WHERE name = ?1";

static const char  tn_store_all_sql[] =
    "SELECT id, name, dir, uidvalidity, uidnext, highestmodseq, subscribed,"
    " special FROM mailboxes ORDER BY name";

static const char  tn_store_folder_insert_sql[] =
    "INSERT INTO mailboxes (name, uidvalidity, uidnext, highestmodseq, dir,"
    " subscribed, special, expunged_modseq) VALUES (?1, ?2, 1, 1, ?3, 0, ?4,"
    " 0)";

static const char  tn_store_folder_revive_sql[] =
    "UPDATE mailboxes SET dir = ?2, uidvalidity = ?3, uidnext = 1,"
    " highestmodseq = 1, expunged_modseq = 0, special = ?4 WHERE id = ?1";

static const char  tn_store_msgs_drop_sql[] =
    "DELETE FROM messages WHERE mailbox_id = ?1";

static const char  tn_store_kw_drop_sql[] =
    "DELETE FROM keywords WHERE mailbox_id = ?1";

static const char  tn_store_exp_drop_sql[] =
    "DELETE FROM expunged WHERE mailbox_id = ?1";

static const char  tn_store_unfolder_sql[] =
    "UPDATE mailboxes SET dir = NULL, uidvalidity = 0, uidnext = 0,"
    " highestmodseq = 0, special = 0 WHERE id = ?1";

static const char  tn_store_row_drop_sql[] =
    "DELETE FROM mailboxes WHERE id = ?1";

static const char  tn_store_special_sql[] =
    "UPDATE mailboxes SET special = ?2 WHERE id = ?1";

static const char  tn_store_defaults_sql[] =
    "UPDATE mailboxes SET special = special | 256 WHERE name = 'INBOX'";

static const char  tn_store_counts_sql[] =
    "SELECT count(*), coalesce(sum(instr(flags, 'S') = 0), 0),"
    " coalesce(sum(in_new), 0), coalesce(sum(instr(flags, 'T') > 0), 0),"
    " coalesce(sum(vsize), 0) FROM messages WHERE mailbox_id = ?1";

static const char  tn_store_all_counts_sql[] =
    "SELECT mailbox_id, count(*), sum(instr(flags, 'S') = 0), sum(in_new),"
    " sum(instr(flags, 'T') > 0), sum(vsize) FROM messages"
    " GROUP BY mailbox_id";

static const struct {
    const char  *name;
    tn_uint_t    special;
} tn_store_defaults[] = {
    { "Sent", TN_STORE_SPECIAL_SENT },
    { "Drafts", TN_STORE_SPECIAL_DRAFTS },
    { "Trash", TN_STORE_SPECIAL_TRASH },
    { "Junk", TN_STORE_SPECIAL_JUNK },
    { "Archive", TN_STORE_SPECIAL_ARCHIVE }
};


/*
 * Rows.
 */

tn_int_t
tn_store_mbox_find(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_store_db_t *db, tn_str_t *name, tn_store_mbox_ref_t *ref,
    const char **reason, tn_log_t *log)
{
    tn_int_t  rc;

    tn_memzero(ref, sizeof(tn_store_mbox_ref_t));

    if (tn_store_mbox_name(name, 0, ref, reason) != TN_OK) {
        return TN_DECLINED;
    }

    rc = tn_store_find_row(db, ref, log);

    if (rc == TN_DECLINED && ref->dir[0] != '\0') {
        /* made by another tool, or lost with an index rebuilt anew */

        if (tn_store_folders_sync(conf, u, db, log) != TN_OK) {
            return TN_ERROR;
        }

        rc = tn_store_find_row(db, ref, log);
    }

    if (rc == TN_DECLINED && ref->dir[0] == '\0') {
        /* INBOX always exists; its row is made by the first sync */
        ref->folder = 1;
        return TN_OK;
    }

    if (rc == TN_OK && !ref->folder) {
        rc = TN_DECLINED;
    }

    if (rc == TN_DECLINED) {
        *reason = "no such mailbox";
    }

    return rc;
}


/* the row of ref->name: TN_OK (ref filled), TN_DECLINED, TN_ERROR */

tn_int_t
tn_store_find_row(tn_store_db_t *db, tn_store_mbox_ref_t *ref,
    tn_log_t *log)
{
    int            rc;
    size_t         len;
    const u_char  *dir;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, tn_store_find_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, (char *) ref->name, ref->name_len,
                      SQLITE_STATIC);

    rc = sqlite3_step(stmt);

    if (rc != SQLITE_ROW) {
        sqlite3_reset(stmt);

        if (rc == SQLITE_DONE) {
            return TN_DECLINED;
        }

        tn_store_db_log(db, log, rc, "reading a mailbox");
        return TN_ERROR;
    }

    ref->id = sqlite3_column_int64(stmt, 0);
    dir = sqlite3_column_text(stmt, 1);
    len = sqlite3_column_bytes(stmt, 1);
    ref->uidvalidity = (uint32_t) sqlite3_column_int64(stmt, 2);
    ref->uidnext = (uint32_t) sqlite3_column_int64(stmt, 3);
    ref->highestmodseq = sqlite3_column_int64(stmt, 4);
    ref->subscribed = sqlite3_column_int(stmt, 5) ? 1 : 0;
    /* with the private bits: the caller masks */
    ref->special = sqlite3_column_int(stmt, 6);
    ref->folder = (dir != NULL);

    /* the row's own dir wins over the computed one (they agree) */
    if (dir && (len == 0 || tn_store_folder_dir_safe(dir, len) == TN_OK)) {
        *tn_cpymem(ref->dir, dir, len) = '\0';

    } else if (dir) {
        ref->folder = 0;
    }

    sqlite3_reset(stmt);

    return TN_OK;
}


tn_int_t
tn_store_rows_all(tn_store_db_t *db, tn_pool_t *pool, tn_array_t **out,
    tn_log_t *log)
{
    int               rc;
    size_t            len;
    const u_char     *p;
    sqlite3_stmt     *stmt;
    tn_store_frow_t  *r;

    *out = tn_array_create(pool, 16, sizeof(tn_store_frow_t));
    if (*out == NULL) {
        return TN_ERROR;
    }

    stmt = tn_store_db_stmt(db, tn_store_all_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        r = tn_array_push(*out);
        if (r == NULL) {
            sqlite3_reset(stmt);
            return TN_ERROR;
        }

        tn_memzero(r, sizeof(tn_store_frow_t));

        r->id = sqlite3_column_int64(stmt, 0);

        p = sqlite3_column_text(stmt, 1);
        len = sqlite3_column_bytes(stmt, 1);

        r->name.data = tn_pnalloc(pool, len + 1);
        if (r->name.data == NULL || p == NULL) {
            sqlite3_reset(stmt);
            return TN_ERROR;
        }

        *tn_cpymem(r->name.data, p, len) = '\0';
        r->name.len = len;

        p = sqlite3_column_text(stmt, 2);
        len = sqlite3_column_bytes(stmt, 2);

        /*
         * index.db lives in the Maildir, writable by its owner: a dir
         * that is not one folder name counts as no folder, as in
         * tn_store_find_row(), before any path is made of it
         */

        if (p && (len == 0 || tn_store_folder_dir_safe(p, len) == TN_OK)) {
            r->dir.data = tn_pnalloc(pool, len + 1);
            if (r->dir.data == NULL) {
                sqlite3_reset(stmt);
                return TN_ERROR;
            }

            *tn_cpymem(r->dir.data, p, len) = '\0';
            r->dir.len = len;
        }

        r->uidvalidity = (uint32_t) sqlite3_column_int64(stmt, 3);
        r->uidnext = (uint32_t) sqlite3_column_int64(stmt, 4);
        r->highestmodseq = sqlite3_column_int64(stmt, 5);
        r->subscribed = sqlite3_column_int(stmt, 6) ? 1 : 0;
        r->special = sqlite3_column_int(stmt, 7);
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "reading the mailboxes");
        return TN_ERROR;
    }

    return TN_OK;
}


tn_int_t
tn_store_db_run(tn_store_db_t *db, const char *sql, int64_t id,
    tn_log_t *log)
{
    return (tn_store_db_run2(db, sql, id, 0, "updating the mailboxes", log)
            == SQLITE_OK) ? TN_OK : TN_ERROR;
}


/* the columns of tn_store_counts_sql from first on */

static void
tn_store_counts_read(sqlite3_stmt *stmt, int first,
    tn_store_mbox_info_t *info)
{
    info->messages = (uint32_t) sqlite3_column_int64(stmt, first);
    info->unseen = (uint32_t) sqlite3_column_int64(stmt, first + 1);
    info->recent = (uint32_t) sqlite3_column_int64(stmt, first + 2);
    info->deleted = (uint32_t) sqlite3_column_int64(stmt, first + 3);
    info->size = sqlite3_column_int64(stmt, first + 4);
}


tn_int_t
tn_store_mbox_counts(tn_store_db_t *db, int64_t id,
    tn_store_mbox_info_t *info, tn_log_t *log)
{
    int            rc;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, tn_store_counts_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, id);

    rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW) {
        tn_store_counts_read(stmt, 0, info);
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_ROW) {
        tn_store_db_log(db, log, rc, "counting messages");
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * The folder list and the directory: folders made by other tools get a
 * row (with a new UIDVALIDITY), rows whose folder is gone lose it.
 */

tn_int_t
tn_store_folders_sync(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_store_db_t *db, tn_log_t *log)
{
    tn_int_t     rc;
    tn_pool_t   *pool;
    tn_array_t  *disk;

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    rc = TN_ERROR;

    disk = tn_array_create(pool, 16, sizeof(tn_store_fdisk_t));
    if (disk == NULL || tn_store_folders_scan(u, pool, disk, log) != TN_OK) {
        goto done;
    }

    qsort(disk->elts, disk->nelts, sizeof(tn_store_fdisk_t),
          tn_store_fdisk_cmp);

    /* a look without the lock first: usually nothing differs */

    rc = tn_store_folders_diff(u, db, disk, 0, log);
    if (rc == TN_ERROR || rc == 0) {
        goto done;
    }

    rc = TN_ERROR;

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        goto done;
    }

    /*
     * The directory again, now under the lock: CREATE, DELETE and RENAME
     * change folders only while they hold it, so what is applied is never
     * the half of one of them (a folder renamed but not its row yet).
     */

    disk->nelts = 0;

    if (tn_store_folders_scan(u, pool, disk, log) != TN_OK) {
        tn_store_db_rollback(db, log);
        goto done;
    }

    qsort(disk->elts, disk->nelts, sizeof(tn_store_fdisk_t),
          tn_store_fdisk_cmp);

    if (tn_store_folders_diff(u, db, disk, 1, log) == TN_ERROR) {
        tn_store_db_rollback(db, log);
        goto done;
    }

    if (tn_store_db_commit(db, log) != SQLITE_OK) {
        goto done;
    }

    tn_store_notify(u);
    rc = TN_OK;

done:

    tn_destroy_pool(pool);

    return (rc == TN_ERROR) ? TN_ERROR : TN_OK;
}


static tn_int_t
tn_store_folders_scan(tn_store_user_t *u, tn_pool_t *pool, tn_array_t *disk,
    tn_log_t *log)
{
    DIR                  *d;
    size_t                len;
    tn_fd_t               root, fd;
    struct stat           st, sb;
    struct dirent        *de;
    tn_store_fdisk_t     *f;
    tn_store_mbox_ref_t   ref;
    const char           *reason;
    char                  cur[NAME_MAX + 8];

    if (tn_store_maildir_open(u, &root, NULL, NULL, NULL, &st) != TN_OK) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: opening the Maildir \"%s\" failed", u->maildir);
        return TN_ERROR;
    }

    fd = openat(root, ".", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    d = (fd == -1) ? NULL : fdopendir(fd);

    if (d == NULL) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: opendir(\"%s\") failed", u->maildir);
        if (fd != -1) {
            close(fd);
        }
        close(root);
        return TN_ERROR;
    }

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);

        if (tn_strncmp(de->d_name, TN_STORE_DELETING,
                       sizeof(TN_STORE_DELETING) - 1) == 0)
        {
            /* what a DELETE that crashed left behind */
            tn_store_folder_rmtree(root, de->d_name);
            continue;
        }

        if (tn_store_folder_dir_safe((u_char *) de->d_name, len) != TN_OK) {
            continue;
        }

        *tn_sprintf((u_char *) cur, "%s/cur", de->d_name) = '\0';

        if (fstatat(root, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1
            || !S_ISDIR(sb.st_mode) || sb.st_uid != st.st_uid
            || fstatat(root, cur, &sb, AT_SYMLINK_NOFOLLOW) == -1
            || !S_ISDIR(sb.st_mode))
        {
            continue;
        }

        f = tn_array_push(disk);
        if (f == NULL) {
            break;
        }

        f->indexed = 0;
        f->dir.len = len;
        f->dir.data = tn_pnalloc(pool, len + 1);
        f->name.data = tn_pnalloc(pool, TN_STORE_MBOX_NAME_MAX + 1);

        if (f->dir.data == NULL || f->name.data == NULL) {
            break;
        }

        tn_memcpy(f->dir.data, de->d_name, len + 1);

        if (tn_store_folder_name(f->dir.data, len, f->name.data,
                                 &f->name.len)
            != TN_OK
            || tn_store_mbox_name(&f->name, 0, &ref, &reason) != TN_OK
            || strcmp(ref.dir, de->d_name) != 0)
        {
            if (tn_store_bad_first(u, de->d_name)) {
                tn_log_error(TN_LOG_WARN, log, 0,
                             "store: folder \"%s/%s\" has a name that is "
                             "not a mailbox name, skipped", u->maildir,
                             de->d_name);

            } else {
                tn_log_debug(TN_LOG_DEBUG_STORE, log, 0,
                             "store: folder \"%s/%s\" skipped again",
                             u->maildir, de->d_name);
            }

            disk->nelts--;
            continue;
        }
    }

    closedir(d);
    close(root);

    return TN_OK;
}


/* 1 the first time this process meets the folder dir of u, else 0 */

static tn_uint_t
tn_store_bad_first(tn_store_user_t *u, const char *dir)
{
    u_char     *p;
    uint64_t    h;
    tn_uint_t   i, first;

    /* FNV-1a of "<maildir>/<dir>" */

    h = 0xcbf29ce484222325ULL;

    for (p = (u_char *) u->maildir; *p; p++) {
        h = (h ^ *p) * 0x100000001b3ULL;
    }

    h = (h ^ '/') * 0x100000001b3ULL;

    for (p = (u_char *) dir; *p; p++) {
        h = (h ^ *p) * 0x100000001b3ULL;
    }

    h |= 1;     /* 0 marks a free slot */

    first = 1;

    (void) pthread_mutex_lock(&tn_store_bad_mutex);

    for (i = 0; i < TN_STORE_BAD_SEEN; i++) {
        if (tn_store_bad_seen[i] == h) {
            first = 0;
            break;
        }
    }

    if (first) {
        tn_store_bad_seen[tn_store_bad_next++ % TN_STORE_BAD_SEEN] = h;
    }

    (void) pthread_mutex_unlock(&tn_store_bad_mutex);

    return first;
}


static int
tn_store_fdisk_cmp(const void *one, const void *two)
{
    const tn_store_fdisk_t  *a, *b;

    a = one;
    b = two;

    return strcmp((char *) a->dir.data, (char *) b->dir.data);
}


/*
 * Compares the folders on disk with the rows; apply: makes the rows
 * follow (inside a write transaction).  Returns the number of
 * differences, or TN_ERROR.
 */

static tn_int_t
tn_store_folders_diff(tn_store_user_t *u, tn_store_db_t *db,
    tn_array_t *disk, tn_uint_t apply, tn_log_t *log)
{
    tn_int_t           n;
    tn_uint_t          i;
    tn_pool_t         *pool;
    tn_array_t        *rows;
    tn_store_frow_t   *r;
    tn_store_fdisk_t  *f, key;

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    n = TN_ERROR;

    if (tn_store_rows_all(db, pool, &rows, log) != TN_OK) {
        goto done;
    }

    n = 0;
    f = disk->elts;
    r = rows->elts;

    for (i = 0; i < disk->nelts; i++) {
        f[i].indexed = 0;
    }

    /* rows whose folder is gone */

    for (i = 0; i < rows->nelts; i++) {
        if (r[i].dir.data == NULL || r[i].dir.len == 0) {
            continue;
        }

        key.dir = r[i].dir;

        f = bsearch(&key, disk->elts, disk->nelts, sizeof(tn_store_fdisk_t),
                    tn_store_fdisk_cmp);

        if (f) {
            f->indexed = 1;
            continue;
        }

        n++;

        if (apply && tn_store_folder_drop(db, &r[i], log) != TN_OK) {
            n = TN_ERROR;
            goto done;
        }
    }

    /* folders without a row */

    f = disk->elts;

    for (i = 0; i < disk->nelts; i++) {
        if (f[i].indexed) {
            continue;
        }

        n++;

        if (apply && tn_store_folder_add(u, db, &f[i], log) != TN_OK) {
            n = TN_ERROR;
            goto done;
        }
    }

done:

    tn_destroy_pool(pool);

    return n;
}


static tn_int_t
tn_store_folder_add(tn_store_user_t *u, tn_store_db_t *db,
    tn_store_fdisk_t *fd, tn_log_t *log)
{
    tn_int_t             rc;
    tn_store_mbox_ref_t  ref;

    tn_memzero(&ref, sizeof(tn_store_mbox_ref_t));

    tn_memcpy(ref.name, fd->name.data, fd->name.len);
    ref.name[fd->name.len] = '\0';
    ref.name_len = fd->name.len;

    rc = tn_store_find_row(db, &ref, log);
    if (rc == TN_ERROR) {
        return TN_ERROR;
    }

    if (rc == TN_OK && ref.folder) {
        /* the name has another folder already: cannot happen */
        return TN_OK;
    }

    tn_memcpy(ref.dir, fd->dir.data, fd->dir.len + 1);

    tn_log_error(TN_LOG_INFO, log, 0, "store: folder \"%s/%s\" indexed",
                 u->maildir, ref.dir);

    return tn_store_create_row(u, db, &ref, TN_STORE_SPECIAL_NONE, log);
}


tn_int_t
tn_store_folder_drop(tn_store_db_t *db, tn_store_frow_t *r, tn_log_t *log)
{
    if (tn_store_db_run(db, tn_store_msgs_drop_sql, r->id, log) != TN_OK
        || tn_store_db_run(db, tn_store_kw_drop_sql, r->id, log) != TN_OK
        || tn_store_db_run(db, tn_store_exp_drop_sql, r->id, log) != TN_OK)
    {
        return TN_ERROR;
    }

    /* a subscription outlives its folder (RFC 3501 6.3.4) */

    return tn_store_db_run(db, r->subscribed ? tn_store_unfolder_sql
                                             : tn_store_row_drop_sql,
                           r->id, log);
}


/*
 * A row for the folder ref->dir called ref->name (a subscription-only
 * row of that name gets the folder), with a new UIDVALIDITY.  Inside a
 * write transaction.
 */

tn_int_t
tn_store_create_row(tn_store_user_t *u, tn_store_db_t *db,
    tn_store_mbox_ref_t *ref, tn_uint_t special, tn_log_t *log)
{
    int            rc;
    tn_fd_t        root;
    uint32_t       uidvalidity;
    sqlite3_stmt  *stmt;

    if (tn_store_maildir_open(u, &root, NULL, NULL, NULL, NULL) != TN_OK) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: opening the Maildir \"%s\" failed", u->maildir);
        return TN_ERROR;
    }

    /* one counter for the whole Maildir: never a value given out before */
    uidvalidity = tn_store_uidvalidity_new(root, 0, log);

    close(root);

    if (uidvalidity == 0) {
        return TN_ERROR;
    }

    if (ref->id) {
        /*
         * A subscription row gets its folder back.  It starts empty:
         * rows left with it (an index.db edited by hand) would keep
         * UIDs at or above the uidnext of 1 the new UIDVALIDITY starts
         * at; their files are taken in anew by the next sync.
         */

        if (tn_store_db_run(db, tn_store_msgs_drop_sql, ref->id, log)
            != TN_OK
            || tn_store_db_run(db, tn_store_kw_drop_sql, ref->id, log)
               != TN_OK
            || tn_store_db_run(db, tn_store_exp_drop_sql, ref->id, log)
               != TN_OK)
        {
            return TN_ERROR;
        }

        stmt = tn_store_db_stmt(db, tn_store_folder_revive_sql, log);
        if (stmt == NULL) {
            return TN_ERROR;
        }

        sqlite3_bind_int64(stmt, 1, ref->id);
        sqlite3_bind_text(stmt, 2, ref->dir, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, uidvalidity);
        sqlite3_bind_int64(stmt, 4, special);

    } else {
        stmt = tn_store_db_stmt(db, tn_store_folder_insert_sql, log);
        if (stmt == NULL) {
            return TN_ERROR;
        }

        sqlite3_bind_text(stmt, 1, (char *) ref->name, ref->name_len,
                          SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, uidvalidity);
        sqlite3_bind_text(stmt, 3, ref->dir, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, special);
    }

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "adding a mailbox");
        return TN_ERROR;
    }

    if (ref->id == 0) {
        ref->id = sqlite3_last_insert_rowid(db->db);
    }

    ref->folder = 1;
    ref->uidvalidity = uidvalidity;
    ref->uidnext = 1;
    ref->highestmodseq = 1;

    return TN_OK;
}


tn_int_t
tn_store_inbox_ensure(tn_store_user_t *u, tn_store_db_t *db, tn_log_t *log)
{
    int                   rc;
    tn_fd_t               root;
    tn_store_mbox_row_t   mr;

    if (tn_store_maildir_open(u, &root, NULL, NULL, NULL, NULL) != TN_OK) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: opening the Maildir \"%s\" failed", u->maildir);
        return TN_ERROR;
    }

    rc = tn_store_db_begin(db, log);

    if (rc == SQLITE_OK) {
        if (tn_store_inbox_get(db, root, &mr, &rc, log) == TN_OK) {
            rc = tn_store_db_commit(db, log);

        } else {
            tn_store_db_rollback(db, log);
        }
    }

    close(root);

    return (rc == SQLITE_OK) ? TN_OK : TN_ERROR;
}


/* the special-use folders, made once for each user */

static tn_int_t
tn_store_folders_defaults(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_store_db_t *db, tn_log_t *log)
{
    tn_int_t              rc;
    tn_str_t              name;
    tn_uint_t             i;
    const char           *reason;
    tn_store_mbox_ref_t   ref;

    tn_memzero(&ref, sizeof(tn_store_mbox_ref_t));
    tn_memcpy(ref.name, "INBOX", sizeof("INBOX"));
    ref.name_len = 5;

    rc = tn_store_find_row(db, &ref, log);

    if (rc == TN_OK && (ref.special & TN_STORE_DEFAULTS_MADE)) {
        return TN_OK;
    }

    if (rc == TN_ERROR
        || (rc == TN_DECLINED && tn_store_inbox_ensure(u, db, log) != TN_OK))
    {
        return TN_ERROR;
    }

    for (i = 0; i < sizeof(tn_store_defaults) / sizeof(tn_store_defaults[0]);
         i++)
    {
        name.data = (u_char *) tn_store_defaults[i].name;
        name.len = strlen(tn_store_defaults[i].name);

        rc = tn_store_mbox_create(conf, u, &name,
                                  tn_store_defaults[i].special, &reason, log);

        if (rc == TN_ERROR) {
            return TN_ERROR;
        }

        if (rc == TN_OK) {
            continue;
        }

        /* there already (another tool made it): mark its use */

        if (tn_store_mbox_name(&name, 0, &ref, &reason) == TN_OK
            && tn_store_find_row(db, &ref, log) == TN_OK
            && ref.folder && (ref.special & 0xff) == TN_STORE_SPECIAL_NONE)
        {
            (void) tn_store_db_run2(db, tn_store_special_sql, ref.id,
                                    tn_store_defaults[i].special,
                                    "setting a special use", log);
        }
    }

    return tn_store_db_run(db, tn_store_defaults_sql, 0, log);
}


/*
 * LIST.
 */

tn_int_t
tn_store_mbox_list(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_pool_t *pool, tn_uint_t flags, tn_array_t **out, tn_log_t *log)
{
    tn_array_t     *rows;
    tn_store_db_t  *db;

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    if (tn_store_folders_sync(conf, u, db, log) != TN_OK
        || tn_store_folders_defaults(conf, u, db, log) != TN_OK
        || tn_store_rows_all(db, pool, &rows, log) != TN_OK
        || tn_store_list_build(pool, rows, out) != TN_OK)
    {
        return TN_ERROR;
    }

    if ((flags & TN_STORE_LIST_STATUS)
        && tn_store_list_counts(db, *out, log) != TN_OK)
    {
        return TN_ERROR;
    }

    qsort((*out)->elts, (*out)->nelts, sizeof(tn_store_mbox_info_t),
          tn_store_info_cmp);

    return TN_OK;
}


static tn_int_t
tn_store_list_build(tn_pool_t *pool, tn_array_t *rows, tn_array_t **out)
{
    tn_uint_t              i;
    tn_array_t            *list;
    tn_store_frow_t       *r;
    tn_store_mbox_info_t  *info;

    list = tn_array_create(pool, rows->nelts + 1,
                           sizeof(tn_store_mbox_info_t));
    if (list == NULL) {
        return TN_ERROR;
    }

    r = rows->elts;

    /* the rows come sorted by name, bytewise (BINARY collation) */

    for (i = 0; i < rows->nelts; i++) {
        info = tn_array_push(list);
        if (info == NULL) {
            return TN_ERROR;
        }

        tn_memzero(info, sizeof(tn_store_mbox_info_t));

        info->name = r[i].name;
        info->subscribed = r[i].subscribed;

        if (r[i].dir.data == NULL) {
            info->nonexistent = 1;
            continue;
        }

        info->id = r[i].id;
        info->uidvalidity = r[i].uidvalidity;
        info->uidnext = r[i].uidnext;
        info->highestmodseq = r[i].highestmodseq;
        info->special = r[i].special & 0xff;
    }

    if (tn_store_list_parents(list, pool) != TN_OK) {
        return TN_ERROR;
    }

    *out = list;

    return TN_OK;
}


/*
 * The parents without a folder of their own become \Noselect entries,
 * and every parent gets children set.  list is sorted by name.
 */

static tn_int_t
tn_store_list_parents(tn_array_t *list, tn_pool_t *pool)
{
    u_char                *p, *data;
    size_t                 len;
    tn_uint_t              i, j, n;
    tn_store_mbox_info_t  *info, *parent, *add;

    n = list->nelts;

    for (i = 0; i < n; i++) {
        info = &((tn_store_mbox_info_t *) list->elts)[i];

        if (info->nonexistent) {
            continue;
        }

        data = info->name.data;

        for (p = data + info->name.len; p > data; p--) {
            if (p[-1] != '/') {
                continue;
            }

            len = p - 1 - data;

            if (tn_store_list_find(list->elts, n, data, len)) {
                continue;
            }

            /* the same parent may be added twice: merged below */

            add = tn_array_push(list);
            if (add == NULL) {
                return TN_ERROR;
            }

            tn_memzero(add, sizeof(tn_store_mbox_info_t));
            add->noselect = 1;
            add->name.len = len;
            add->name.data = tn_pnalloc(pool, len + 1);
            if (add->name.data == NULL) {
                return TN_ERROR;
            }

            *tn_cpymem(add->name.data, data, len) = '\0';
        }
    }

    info = list->elts;

    qsort(info, list->nelts, sizeof(tn_store_mbox_info_t),
          tn_store_info_name_cmp);

    for (i = 1, j = 1; i < list->nelts; i++) {
        if (tn_store_info_name_cmp(&info[i], &info[j - 1]) != 0) {
            info[j++] = info[i];
        }
    }

    list->nelts = tn_min(j, list->nelts);

    for (i = 0; i < list->nelts; i++) {
        if (info[i].nonexistent) {
            continue;
        }

        data = info[i].name.data;

        for (p = data + info[i].name.len; p > data; p--) {
            if (p[-1] != '/') {
                continue;
            }

            parent = tn_store_list_find(info, list->nelts, data, p - 1 - data);

            if (parent) {
                parent->children = 1;

                if (parent->nonexistent) {
                    parent->nonexistent = 0;
                    parent->noselect = 1;
                }
            }
        }
    }

    return TN_OK;
}


static int
tn_store_info_name_cmp(const void *one, const void *two)
{
    int                          rc;
    const tn_store_mbox_info_t  *a, *b;

    a = one;
    b = two;

    rc = memcmp(a->name.data, b->name.data, tn_min(a->name.len, b->name.len));

    if (rc != 0) {
        return rc;
    }

    return (a->name.len > b->name.len) - (a->name.len < b->name.len);
}


static int
tn_store_info_cmp(const void *one, const void *two)
{
    tn_uint_t                    ai, bi;
    const tn_store_mbox_info_t  *a, *b;

    a = one;
    b = two;

    /* INBOX first */

    ai = (a->name.len == 5 && tn_strncmp(a->name.data, "INBOX", 5) == 0);
    bi = (b->name.len == 5 && tn_strncmp(b->name.data, "INBOX", 5) == 0);

    if (ai != bi) {
        return ai ? -1 : 1;
    }

    return tn_store_info_name_cmp(a, b);
}


static tn_store_mbox_info_t *
tn_store_list_find(tn_store_mbox_info_t *list, tn_uint_t n, u_char *name,
    size_t len)
{
    tn_store_mbox_info_t  key;

    key.name.data = name;
    key.name.len = len;

    return bsearch(&key, list, n, sizeof(tn_store_mbox_info_t),
                   tn_store_info_name_cmp);
}


static tn_int_t
tn_store_list_counts(tn_store_db_t *db, tn_array_t *list, tn_log_t *log)
{
    int                    rc;
    int64_t                id;
    tn_uint_t              i;
    sqlite3_stmt          *stmt;
    tn_store_mbox_info_t  *info;

    stmt = tn_store_db_stmt(db, tn_store_all_counts_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    info = list->elts;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        id = sqlite3_column_int64(stmt, 0);

        for (i = 0; i < list->nelts; i++) {
            if (info[i].id != id) {
                continue;
            }

            tn_store_counts_read(stmt, 1, &info[i]);
            break;
        }
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "counting messages");
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * STATUS.
 */

tn_int_t
tn_store_mbox_status(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_pool_t *pool, tn_store_mbox_info_t *info,
    const char **reason, tn_log_t *log)
{
    tn_int_t              ret;
    tn_store_md_t         md;
    tn_store_db_t        *db;
    tn_store_mbox_row_t   mr;
    tn_store_mbox_ref_t   ref;

    tn_memzero(info, sizeof(tn_store_mbox_info_t));

    /* synced like SELECT, without moving new/ to cur/ */

    ret = tn_store_mbox_sync(conf, u, name, &db, &ref, &md, &mr, reason,
                             log);
    if (ret != TN_OK) {
        return ret;
    }

    tn_store_md_close(&md);

    if (tn_store_info_set(info, &ref, pool) != TN_OK) {
        return TN_ERROR;
    }

    info->id = mr.id;
    info->uidvalidity = mr.uidvalidity;
    info->uidnext = mr.uidnext;
    info->highestmodseq = mr.highestmodseq;

    return tn_store_mbox_counts(db, mr.id, info, log);
}
