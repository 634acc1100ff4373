
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_folder.h>


/*
 * CREATE, DELETE, SUBSCRIBE and RENAME of folders.
 */


/* one folder of a RENAME */
typedef struct {
    int64_t              id;
    char                *olddir;
    tn_store_mbox_ref_t  to;
    int64_t              drop;         /* a subscription-only row in the
                                          way, or 0 */
    unsigned             renamed:1;
} tn_store_rename_t;


static tn_int_t tn_store_folder_mkdir(tn_store_user_t *u, char *dir,
    tn_log_t *log);
static void tn_store_folder_remove(tn_store_user_t *u, const char *dir);
static tn_int_t tn_store_rename_inbox(tn_store_conf_t *conf,
    tn_store_user_t *u, tn_store_db_t *db, tn_store_mbox_ref_t *from,
    tn_str_t *to, const char **reason, tn_log_t *log);
static void tn_store_rmtree(tn_fd_t parent, const char *name,
    tn_uint_t depth);
static tn_int_t tn_store_rename_tree(tn_store_user_t *u, tn_store_db_t *db,
    tn_store_mbox_ref_t *from, tn_store_mbox_ref_t *to, const char **reason,
    tn_log_t *log);
static tn_int_t tn_store_rename_rows(tn_store_db_t *db, tn_array_t *moves,
    tn_log_t *log);


static const char  tn_store_row_drop_sql[] =
    "DELETE FROM mailboxes WHERE id = ?1";

static const char  tn_store_nfolders_sql[] =
    "SELECT count(*) FROM mailboxes WHERE dir IS NOT NULL";

static const char  tn_store_subscribe_sql[] =
    "UPDATE mailboxes SET subscribed = ?2 WHERE id = ?1";

static const char  tn_store_sub_insert_sql[] =
    "INSERT INTO mailboxes (name, uidvalidity, uidnext, highestmodseq, dir,"
    " subscribed) VALUES (?1, 0, 0, 0, NULL, 1)";

/*
 * A renamed mailbox gets a new id (its rows follow): a session that has
 * it selected finds it gone (tn_store_mbox_changes()).
 */
static const char  tn_store_rename_sql[] =
    "INSERT INTO mailboxes (name, uidvalidity, uidnext, highestmodseq, dir,"
    " subscribed, special, expunged_modseq) SELECT ?2, uidvalidity, uidnext,"
    " highestmodseq, ?3, max(subscribed, ?4), special, expunged_modseq"
    " FROM mailboxes WHERE id = ?1";

static const char  tn_store_move_msgs_sql[] =
    "UPDATE messages SET mailbox_id = ?2 WHERE mailbox_id = ?1";

static const char  tn_store_move_kw_sql[] =
    "UPDATE keywords SET mailbox_id = ?2 WHERE mailbox_id = ?1";

static const char  tn_store_move_exp_sql[] =
    "UPDATE expunged SET mailbox_id = ?2 WHERE mailbox_id = ?1";

static const char  tn_store_inbox_uids_sql[] =
    "SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid";


/*
 * CREATE.
 */

tn_int_t
tn_store_mbox_create(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_uint_t special, const char **reason, tn_log_t *log)
{
    int                   rc;
    tn_int_t              ret;
    sqlite3_stmt         *stmt;
    tn_store_db_t        *db;
    tn_store_mbox_ref_t   ref;

    tn_memzero(&ref, sizeof(tn_store_mbox_ref_t));

    if (tn_store_mbox_name(name, 1, &ref, reason) != TN_OK) {
        return TN_DECLINED;
    }

    *reason = "mailbox exists already";

    if (ref.dir[0] == '\0') {
        return TN_DECLINED;
    }

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    ret = tn_store_find_row(db, &ref, log);

    if (ret != TN_DECLINED && (ret == TN_ERROR || ref.folder)) {
        return ret == TN_ERROR ? TN_ERROR : TN_DECLINED;
    }

    stmt = tn_store_db_stmt(db, tn_store_nfolders_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    rc = sqlite3_step(stmt);
    ret = (rc == SQLITE_ROW && sqlite3_column_int64(stmt, 0)
                               >= TN_STORE_MBOX_MAX);
    sqlite3_reset(stmt);

    if (ret) {
        *reason = "too many mailboxes";
        return TN_DECLINED;
    }

    /*
     * The folder is made under the write lock, like every change to the
     * folder list: a folder list sync (which scans under it too) never
     * sees the folder without its row.
     */

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        return TN_ERROR;
    }

    ret = tn_store_folder_mkdir(u, ref.dir, log);

    if (ret != TN_OK) {
        tn_store_db_rollback(db, log);

        if (ret == TN_DECLINED) {
            /* a folder of that name that the index does not know yet */
            (void) tn_store_folders_sync(conf, u, db, log);
        }

        return ret;
    }

    ref.id = 0;

    if (tn_store_find_row(db, &ref, log) == TN_ERROR
        || tn_store_create_row(u, db, &ref, special, log) != TN_OK)
    {
        tn_store_db_rollback(db, log);
        goto failed;
    }

    if (tn_store_db_commit(db, log) != SQLITE_OK) {
        goto failed;
    }

    tn_store_notify(u);

    return TN_OK;

failed:

    tn_store_folder_remove(u, ref.dir);

    return TN_ERROR;
}


/* mkdir of the folder, its tmp/, new/, cur/: TN_DECLINED if it exists */

static tn_int_t
tn_store_folder_mkdir(tn_store_user_t *u, char *dir, tn_log_t *log)
{
    tn_fd_t       root, fd, f;
    tn_uint_t     i;
    struct stat   st;

    static const char  *names[] = { "tmp", "new", "cur" };

    if (tn_store_maildir_open(u, &root, NULL, NULL, NULL, &st) != TN_OK) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: opening the Maildir \"%s\" failed", u->maildir);
        return TN_ERROR;
    }

    if (mkdirat(root, dir, 0700) == -1) {
        if (errno == TN_EEXIST) {
            close(root);
            return TN_DECLINED;
        }

        goto failed;
    }

    fd = openat(root, dir, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
    if (fd == -1) {
        goto failed;
    }

    for (i = 0; i < 3; i++) {
        if (mkdirat(fd, names[i], 0700) == -1) {
            close(fd);
            goto failed;
        }
    }

    /* Maildir++: the mark of a folder, for delivery agents' quotas */
    f = openat(fd, "maildirfolder", O_CREAT|O_WRONLY|O_NOFOLLOW|O_CLOEXEC,
               0600);
    if (f != -1) {
        close(f);
    }

    if (geteuid() == 0 && st.st_uid != 0) {
        (void) fchown(fd, st.st_uid, st.st_gid);

        for (i = 0; i < 3; i++) {
            (void) fchownat(fd, names[i], st.st_uid, st.st_gid,
                            AT_SYMLINK_NOFOLLOW);
        }

        (void) fchownat(fd, "maildirfolder", st.st_uid, st.st_gid,
                        AT_SYMLINK_NOFOLLOW);
    }

    if (tn_store_fsync_fd(fd) != TN_OK || tn_store_fsync_fd(root) != TN_OK) {
        close(fd);
        goto failed;
    }

    close(fd);
    close(root);

    return TN_OK;

failed:

    tn_log_error(TN_LOG_ERR, log, tn_errno,
                 "store: making the folder \"%s/%s\" failed", u->maildir,
                 dir);

    tn_store_folder_rmtree(root, dir);
    close(root);

    return TN_ERROR;
}


static void
tn_store_folder_remove(tn_store_user_t *u, const char *dir)
{
    tn_fd_t  root;

    if (tn_store_maildir_open(u, &root, NULL, NULL, NULL, NULL) == TN_OK) {
        tn_store_folder_rmtree(root, dir);
        close(root);
    }
}


/* rm -r of name in parent, without following symlinks */

void
tn_store_folder_rmtree(tn_fd_t parent, const char *name)
{
    tn_store_rmtree(parent, name, 0);
}


/*
 * A folder is three levels deep (folder, cur/, files); what the owner of
 * the Maildir nested deeper than TN_STORE_RMTREE_DEPTH stays (with the
 * directories above it) rather than costing a thread's stack and fds.
 */

#define TN_STORE_RMTREE_DEPTH   8

static void
tn_store_rmtree(tn_fd_t parent, const char *name, tn_uint_t depth)
{
    DIR            *d;
    tn_fd_t         fd;
    struct stat     sb;
    struct dirent  *de;

    if (depth > TN_STORE_RMTREE_DEPTH) {
        return;
    }

    fd = openat(parent, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
    if (fd == -1) {
        (void) unlinkat(parent, name, 0);
        return;
    }

    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }

    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }

        if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0
            && S_ISDIR(sb.st_mode))
        {
            tn_store_rmtree(fd, de->d_name, depth + 1);
            continue;
        }

        (void) unlinkat(fd, de->d_name, 0);
    }

    closedir(d);

    (void) unlinkat(parent, name, AT_REMOVEDIR);
}


/*
 * DELETE.
 */

tn_int_t
tn_store_mbox_delete(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, const char **reason, tn_log_t *log)
{
    tn_int_t              ret;
    tn_fd_t               root;
    tn_store_db_t        *db;
    tn_store_frow_t       r;
    tn_store_mbox_ref_t   ref, now;
    char                  gone[64];

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    ret = tn_store_mbox_find(conf, u, db, name, &ref, reason, log);
    if (ret != TN_OK) {
        return ret;
    }

    if (ref.dir[0] == '\0') {
        *reason = "INBOX cannot be deleted";
        return TN_DECLINED;
    }

    if (tn_store_maildir_open(u, &root, NULL, NULL, NULL, NULL) != TN_OK) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: opening the Maildir \"%s\" failed", u->maildir);
        return TN_ERROR;
    }

    /*
     * Under the write lock (see tn_store_folders_sync()): out of sight at
     * once (a name no folder scan looks at), then the rows; the files
     * after the commit.  A crash leaves a "tern-deleting." directory
     * (removed by the next folder scan) and no mailbox.
     */

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        close(root);
        return TN_ERROR;
    }

    /* the row again under the lock: a RENAME or DELETE may have come */

    now = ref;
    ret = tn_store_find_row(db, &now, log);

    if (ret != TN_OK || !now.folder || now.id != ref.id
        || strcmp(now.dir, ref.dir) != 0)
    {
        tn_store_db_rollback(db, log);
        close(root);
        *reason = "no such mailbox";
        return (ret == TN_ERROR) ? TN_ERROR : TN_DECLINED;
    }

    *tn_sprintf((u_char *) gone, TN_STORE_DELETING "%L.%T", ref.id,
                time(NULL)) = '\0';

    if (renameat(root, ref.dir, root, gone) == -1 && errno != TN_ENOENT) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: rename(\"%s/%s\") failed", u->maildir, ref.dir);
        tn_store_db_rollback(db, log);
        close(root);
        return TN_ERROR;
    }

    (void) tn_store_fsync_fd(root);

    tn_memzero(&r, sizeof(tn_store_frow_t));
    r.id = ref.id;
    r.subscribed = ref.subscribed;

    ret = TN_ERROR;

    if (tn_store_folder_drop(db, &r, log) == TN_OK) {
        if (tn_store_db_commit(db, log) == SQLITE_OK) {
            ret = TN_OK;
        }

    } else {
        tn_store_db_rollback(db, log);
    }

    /* on failure the next LIST drops the row of the folder that is gone */

    if (ret == TN_OK) {
        tn_store_notify(u);
    }

    tn_store_folder_rmtree(root, gone);
    close(root);

    return ret;
}


/*
 * SUBSCRIBE, UNSUBSCRIBE.
 */

tn_int_t
tn_store_mbox_subscribe(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_uint_t on, const char **reason, tn_log_t *log)
{
    int                   rc;
    tn_int_t              ret;
    const char           *sql;
    sqlite3_stmt         *stmt;
    tn_store_db_t        *db;
    tn_store_mbox_ref_t   ref;

    tn_memzero(&ref, sizeof(tn_store_mbox_ref_t));

    if (tn_store_mbox_name(name, 0, &ref, reason) != TN_OK) {
        return TN_DECLINED;
    }

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    if (ref.dir[0] == '\0' && tn_store_inbox_ensure(u, db, log) != TN_OK) {
        return TN_ERROR;
    }

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        return TN_ERROR;
    }

    ret = tn_store_find_row(db, &ref, log);
    if (ret == TN_ERROR) {
        goto failed;
    }

    if (!on && (ret == TN_DECLINED || !ref.subscribed)) {
        tn_store_db_rollback(db, log);
        *reason = "not subscribed";
        return TN_DECLINED;
    }

    if (ret == TN_DECLINED) {
        sql = tn_store_sub_insert_sql;

    } else if (!on && !ref.folder) {
        sql = tn_store_row_drop_sql;

    } else {
        sql = tn_store_subscribe_sql;
    }

    stmt = tn_store_db_stmt(db, sql, log);
    if (stmt == NULL) {
        goto failed;
    }

    if (ret == TN_DECLINED) {
        sqlite3_bind_text(stmt, 1, (char *) ref.name, ref.name_len,
                          SQLITE_STATIC);

    } else {
        sqlite3_bind_int64(stmt, 1, ref.id);

        if (sql == tn_store_subscribe_sql) {
            sqlite3_bind_int(stmt, 2, on ? 1 : 0);
        }
    }

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "updating a subscription");
        goto failed;
    }

    return (tn_store_db_commit(db, log) == SQLITE_OK) ? TN_OK : TN_ERROR;

failed:

    tn_store_db_rollback(db, log);
    return TN_ERROR;
}


tn_int_t
tn_store_mbox_rename(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *from, tn_str_t *to, const char **reason, tn_log_t *log)
{
    tn_int_t              ret;
    tn_store_db_t        *db;
    tn_store_mbox_ref_t   fref, tref;

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    tn_memzero(&fref, sizeof(tn_store_mbox_ref_t));

    if (tn_store_mbox_name(from, 0, &fref, reason) != TN_OK) {
        return TN_DECLINED;
    }

    /*
     * A name without a folder of its own may still be a \Noselect
     * parent: its inferiors are renamed (RFC 3501 6.3.5), and if there
     * are none, tn_store_rename_tree() says there is no such mailbox.
     */

    ret = tn_store_mbox_find(conf, u, db, from, &fref, reason, log);
    if (ret == TN_ERROR) {
        return ret;
    }

    tn_memzero(&tref, sizeof(tn_store_mbox_ref_t));

    if (tn_store_mbox_name(to, 0, &tref, reason) != TN_OK) {
        return TN_DECLINED;
    }

    *reason = "mailbox exists already";

    ret = tn_store_find_row(db, &tref, log);

    if (ret == TN_ERROR) {
        return TN_ERROR;
    }

    if (tref.dir[0] == '\0' || (ret == TN_OK && tref.folder)) {
        return TN_DECLINED;
    }

    if (fref.dir[0] == '\0') {
        return tn_store_rename_inbox(conf, u, db, &fref, to, reason, log);
    }

    if (tref.name_len > fref.name_len
        && tn_memcmp(tref.name, fref.name, fref.name_len) == 0
        && tref.name[fref.name_len] == '/')
    {
        *reason = "cannot rename a mailbox under itself";
        return TN_DECLINED;
    }

    return tn_store_rename_tree(u, db, &fref, &tref, reason, log);
}


/*
 * RFC 3501 6.3.5: RENAME of INBOX moves its messages into a new mailbox
 * and leaves INBOX empty.
 */

static tn_int_t
tn_store_rename_inbox(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_store_db_t *db, tn_store_mbox_ref_t *from, tn_str_t *to,
    const char **reason, tn_log_t *log)
{
    int                   rc;
    tn_int_t              ret;
    uint32_t             *src, *dst, uidvalidity;
    tn_uint_t             n, nout;
    tn_pool_t            *pool;
    tn_array_t           *rows, *list;
    sqlite3_stmt         *stmt;
    tn_store_md_t         md;
    tn_store_mbox_row_t   mr;

    ret = tn_store_mbox_create(conf, u, to, TN_STORE_SPECIAL_NONE, reason,
                               log);
    if (ret != TN_OK) {
        return ret;
    }

    /* INBOX synced first: the files in new/ move too */

    if (tn_store_md_open(&md, conf, u, "", log) != TN_OK) {
        return TN_ERROR;
    }

    mr.id = 0;
    rc = tn_store_sync_rows(&md, db, &mr, &rows);

    tn_store_md_close(&md);

    if (rc != SQLITE_OK) {
        return TN_ERROR;
    }

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    ret = TN_ERROR;

    list = tn_array_create(pool, 64, sizeof(uint32_t));
    stmt = tn_store_db_stmt(db, tn_store_inbox_uids_sql, log);

    if (list == NULL || stmt == NULL) {
        goto done;
    }

    sqlite3_bind_int64(stmt, 1, mr.id);

    if (tn_store_uids_read(db, stmt, list, "reading INBOX", log) != TN_OK) {
        goto done;
    }

    n = list->nelts;

    if (n == 0) {
        ret = TN_OK;
        goto done;
    }

    ret = tn_store_mbox_copy(conf, u, mr.id, list->elts, n, to, 1, pool,
                             &src, &dst, &nout, &uidvalidity, reason, log);

done:

    tn_destroy_pool(pool);

    return ret;
}


static tn_int_t
tn_store_rename_tree(tn_store_user_t *u, tn_store_db_t *db,
    tn_store_mbox_ref_t *from, tn_store_mbox_ref_t *to, const char **reason,
    tn_log_t *log)
{
    int                  rc;
    size_t               len;
    tn_int_t             ret;
    tn_fd_t              root;
    tn_str_t             name;
    tn_uint_t            i, k;
    tn_pool_t           *pool;
    tn_array_t          *rows, *moves;
    tn_store_frow_t     *r;
    tn_store_rename_t   *t;
    u_char               buf[2 * TN_STORE_MBOX_NAME_MAX + 2];

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    ret = TN_ERROR;
    root = TN_INVALID_FILE;

    /*
     * The plan, the folders renamed and the rows, all under the write
     * lock: a folder list sync (which scans under it too) never sees a
     * folder renamed without its row.  A crash between the renames and
     * the commit leaves folders whose rows are gone, which the next sync
     * takes in with a new UIDVALIDITY (the messages are kept).
     */

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        tn_destroy_pool(pool);
        return TN_ERROR;
    }

    moves = tn_array_create(pool, 8, sizeof(tn_store_rename_t));
    if (moves == NULL || tn_store_rows_all(db, pool, &rows, log) != TN_OK) {
        goto done;
    }

    /* the mailbox and every folder under it, with their new names */

    r = rows->elts;

    for (i = 0; i < rows->nelts; i++) {
        len = from->name_len;

        if (r[i].dir.data == NULL || r[i].dir.len == 0
            || r[i].name.len < len
            || tn_memcmp(r[i].name.data, from->name, len) != 0
            || (r[i].name.len > len && r[i].name.data[len] != '/'))
        {
            continue;
        }

        t = tn_array_push(moves);
        if (t == NULL) {
            goto done;
        }

        tn_memzero(t, sizeof(tn_store_rename_t));
        t->id = r[i].id;
        t->olddir = (char *) r[i].dir.data;

        name.data = buf;
        name.len = tn_cpymem(tn_cpymem(buf, to->name, to->name_len),
                             r[i].name.data + len, r[i].name.len - len)
                   - buf;

        if (tn_store_mbox_name(&name, 0, &t->to, reason) != TN_OK) {
            ret = TN_DECLINED;
            goto done;
        }

        ret = tn_store_find_row(db, &t->to, log);

        if (ret == TN_ERROR || (ret == TN_OK && t->to.folder)) {
            *reason = "mailbox exists already";
            ret = (ret == TN_ERROR) ? TN_ERROR : TN_DECLINED;
            goto done;
        }

        t->drop = (ret == TN_OK) ? t->to.id : 0;
        ret = TN_ERROR;
    }

    if (moves->nelts == 0) {
        *reason = "no such mailbox";
        ret = TN_DECLINED;
        goto done;
    }

    if (tn_store_maildir_open(u, &root, NULL, NULL, NULL, NULL) != TN_OK) {
        goto done;
    }

    t = moves->elts;

    for (i = 0; i < moves->nelts; i++) {
        rc = renameat2(root, t[i].olddir, root, t[i].to.dir,
                       RENAME_NOREPLACE);

        if (rc == -1 && (errno == TN_EINVAL || errno == ENOSYS)) {
            rc = renameat(root, t[i].olddir, root, t[i].to.dir);
        }

        if (rc == -1) {
            tn_log_error(TN_LOG_ERR, log, tn_errno,
                         "store: rename(\"%s/%s\") failed", u->maildir,
                         t[i].olddir);
            goto undo;
        }

        t[i].renamed = 1;
    }

    (void) tn_store_fsync_fd(root);

    if (tn_store_rename_rows(db, moves, log) == TN_OK) {
        tn_store_notify(u);
        ret = TN_OK;
        goto done;
    }

undo:

    for (k = 0; k < moves->nelts; k++) {
        if (t[k].renamed) {
            (void) renameat(root, t[k].to.dir, root, t[k].olddir);
        }
    }

done:

    /* nothing after a commit: the undone renames left the index alone */
    tn_store_db_rollback(db, log);

    if (root != TN_INVALID_FILE) {
        close(root);
    }

    tn_destroy_pool(pool);

    return ret;
}


/* inside the caller's write transaction; commits it on success */

static tn_int_t
tn_store_rename_rows(tn_store_db_t *db, tn_array_t *moves, tn_log_t *log)
{
    int                 rc;
    int64_t             id;
    tn_uint_t           i, sub;
    sqlite3_stmt       *stmt;
    tn_store_rename_t  *t;

    t = moves->elts;

    for (i = 0; i < moves->nelts; i++) {
        sub = 0;

        if (t[i].drop) {
            sub = t[i].to.subscribed;

            if (tn_store_db_run(db, tn_store_row_drop_sql, t[i].drop, log)
                != TN_OK)
            {
                goto failed;
            }
        }

        stmt = tn_store_db_stmt(db, tn_store_rename_sql, log);
        if (stmt == NULL) {
            goto failed;
        }

        sqlite3_bind_int64(stmt, 1, t[i].id);
        sqlite3_bind_text(stmt, 2, (char *) t[i].to.name, t[i].to.name_len,
                          SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, t[i].to.dir, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 4, sub);

        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);

        if (rc != SQLITE_DONE) {
            tn_store_db_log(db, log, rc, "renaming a mailbox");
            goto failed;
        }

        id = sqlite3_last_insert_rowid(db->db);

        /* ?1 the old row, ?2 the new one */

        if (tn_store_db_run2(db, tn_store_move_msgs_sql, t[i].id, id,
                             "renaming a mailbox", log) != SQLITE_OK
            || tn_store_db_run2(db, tn_store_move_kw_sql, t[i].id, id,
                                "renaming a mailbox", log) != SQLITE_OK
            || tn_store_db_run2(db, tn_store_move_exp_sql, t[i].id, id,
                                "renaming a mailbox", log) != SQLITE_OK
            || tn_store_db_run(db, tn_store_row_drop_sql, t[i].id, log)
               != TN_OK)
        {
            goto failed;
        }
    }

    return (tn_store_db_commit(db, log) == SQLITE_OK) ? TN_OK : TN_ERROR;

failed:

    /* the caller undoes the folder renames, then rolls back */
    return TN_ERROR;
}

