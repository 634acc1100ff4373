
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>

#include <openssl/sha.h>


/*
 * The per-user index and its reconciliation with the Maildir, which is
 * the truth (SECURITY-CHECKLIST R2), for INBOX and each folder: a sync
 * adds files the index lacks (each with a MODSEQ of its own and the
 * flags of its name) and moves rows whose file is gone to expunged; a
 * rebuild (tn_store_rebuild.c) makes the index again, keeping UIDs when
 * it can and otherwise moving to a greater UIDVALIDITY.  A UID is never
 * given out twice under one UIDVALIDITY: uidnext only grows, inside
 * BEGIN IMMEDIATE transactions.
 *
 * Names found on disk are data: only regular files owned by the owner of
 * the Maildir count (no symlinks, devices or planted hard links to other
 * users' files), every open is relative to a directory fd with
 * O_NOFOLLOW, and S= / W= in names are never trusted for sizes.
 */


static tn_int_t tn_store_md_open_dirs(tn_store_md_t *md);
static tn_int_t tn_store_md_scan_dir(tn_store_md_t *md, tn_uint_t cur);
static void tn_store_md_ignored(tn_store_md_t *md, tn_uint_t cur,
    const char *name);
static int tn_store_file_cmp(const void *one, const void *two);
static int tn_store_file_age_cmp(const void *one, const void *two);
static void tn_store_md_clean_tmp(tn_store_md_t *md);
static int tn_store_sync(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mailbox_t *mb);
static tn_uint_t tn_store_sync_needed(tn_store_md_t *md, tn_array_t *rows,
    uint32_t uidnext_a);
static int tn_store_sync_update(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_store_row_t *r, tn_store_file_t *f);
static tn_int_t tn_store_mailbox_fill(tn_store_md_t *md,
    tn_store_mailbox_t *mb, tn_array_t *rows);
static void tn_store_uidl(u_char *name, size_t len, char *uidl);
static void tn_store_uidl_hex(u_char *name, size_t len, char *uidl);
static void tn_store_uidl_unique(tn_store_mailbox_t *mb, tn_pool_t *pool);
static int tn_store_uidl_cmp(const void *one, const void *two);


static const char  tn_store_rows_sql[] =
    "SELECT uid, filename, size, vsize, internaldate, in_new FROM messages"
    " WHERE mailbox_id = ?1 ORDER BY uid";

static const char  tn_store_row_new_sql[] =
    "UPDATE messages SET in_new = ?1 WHERE mailbox_id = ?2 AND uid = ?3";

static const char  tn_store_mbox_row_sql[] =
    "SELECT uidvalidity, uidnext, highestmodseq FROM mailboxes"
    " WHERE id = ?1 AND dir = ?2";

static const char  tn_store_row_update_sql[] =
    "UPDATE messages SET size = ?1, vsize = ?2 WHERE mailbox_id = ?3"
    " AND uid = ?4";

static const char  tn_store_row_insert_sql[] =
    "INSERT INTO messages (mailbox_id, uid, filename, size, vsize,"
    " internaldate, flags, modseq, in_new)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

static const char  tn_store_inbox_find_sql[] =
    "SELECT id, uidvalidity, uidnext, highestmodseq FROM mailboxes"
    " WHERE name = 'INBOX'";


tn_store_db_t *
tn_store_index_open(tn_store_conf_t *conf, tn_store_user_t *u, tn_log_t *log)
{
    int             rc;
    struct stat     sb;
    tn_store_db_t  *db;
    char            path[PATH_MAX + sizeof("/index.db")];

    *tn_sprintf((u_char *) path, "%s/index.db", u->maildir) = '\0';

    if (stat(path, &sb) == -1 && errno == TN_ENOENT) {
        rc = SQLITE_CANTOPEN;

    } else {
        db = tn_store_db_get(path, TN_STORE_DB_INDEX, 0, &rc, log);
        if (db) {
            return db;
        }
    }

    /*
     * Lost (ENOENT) or damaged: make it again from the Maildir.  A
     * Maildir that does not exist fails the rebuild too, so no index is
     * ever created for a deleted user.
     */

    if (!tn_store_db_corrupt(rc) && (rc & 0xff) != SQLITE_CANTOPEN) {
        return NULL;
    }

    tn_log_error(TN_LOG_WARN, log, 0,
                 "store: index \"%s\" is %s, rebuilding it", path,
                 tn_store_db_corrupt(rc) ? "damaged" : "missing");

    if (tn_store_index_rebuild(conf, u, log) != TN_OK) {
        return NULL;
    }

    return tn_store_db_get(path, TN_STORE_DB_INDEX, 0, &rc, log);
}


tn_int_t
tn_store_md_open(tn_store_md_t *md, tn_store_conf_t *conf,
    tn_store_user_t *u, const char *dir, tn_log_t *log)
{
    tn_int_t  rc;

    tn_memzero(md, sizeof(tn_store_md_t));

    md->conf = conf;
    md->u = u;
    md->log = log;
    md->dir = dir;
    md->fds[0] = TN_INVALID_FILE;
    md->fds[1] = TN_INVALID_FILE;
    md->fds[2] = TN_INVALID_FILE;
    md->fds[3] = TN_INVALID_FILE;
    md->fds[TN_STORE_MD_ROOT] = TN_INVALID_FILE;

    *tn_sprintf((u_char *) md->index, "%s/index.db", u->maildir) = '\0';

    /*
     * Every caller checked dir already (it comes from a checked mailbox
     * name or from the index); this is where paths are built, so once
     * more: one component ".x", no "/", not "..".
     */

    if (dir[0] != '\0'
        && tn_store_folder_dir_safe((u_char *) dir, strlen(dir)) != TN_OK)
    {
        tn_log_error(TN_LOG_ERR, log, 0, "store: invalid folder name \"%s\"",
                     dir);
        return TN_DECLINED;
    }

    if (strlen(u->maildir) + 1 + strlen(dir) >= PATH_MAX) {
        tn_log_error(TN_LOG_ERR, log, 0, "store: folder path too long: %s/%s",
                     u->maildir, dir);
        return TN_ERROR;
    }

    *tn_sprintf((u_char *) md->path, "%s%s%s", u->maildir, dir[0] ? "/" : "",
                dir) = '\0';

    rc = tn_store_md_open_dirs(md);
    if (rc != TN_OK) {
        if (rc == TN_ERROR) {
            tn_log_error(TN_LOG_ERR, log, tn_errno,
                         "store: opening the Maildir \"%s\" failed",
                         md->path);
        }

        tn_store_close_fds(md->fds, 5);
        return rc;
    }

    md->pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);
    if (md->pool == NULL) {
        tn_store_close_fds(md->fds, 5);
        return TN_ERROR;
    }

    md->files = tn_array_create(md->pool, 64, sizeof(tn_store_file_t));
    if (md->files == NULL) {
        tn_store_md_close(md);
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_int_t
tn_store_md_open_dirs(tn_store_md_t *md)
{
    tn_fd_t     root;
    tn_uint_t   i;

    static const char  *names[] = { "tmp", "new", "cur" };

    if (tn_store_maildir_open(md->u, &md->fds[TN_STORE_MD_ROOT], NULL, NULL,
                              NULL, &md->st)
        != TN_OK)
    {
        return TN_ERROR;
    }

    root = md->fds[TN_STORE_MD_ROOT];

    if (md->dir[0] == '\0') {
        md->fds[0] = dup(root);

    } else {
        md->fds[0] = openat(root, md->dir,
                            O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);

        if (md->fds[0] == -1 && errno == TN_ENOENT) {
            return TN_DECLINED;
        }
    }

    if (md->fds[0] == -1) {
        return TN_ERROR;
    }

    for (i = 0; i < 3; i++) {
        md->fds[1 + i] = openat(md->fds[0], names[i],
                                O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (md->fds[1 + i] == -1) {
            return (md->dir[0] && errno == TN_ENOENT) ? TN_DECLINED
                                                      : TN_ERROR;
        }
    }

    return TN_OK;
}


void
tn_store_md_close(tn_store_md_t *md)
{
    tn_store_close_fds(md->fds, 5);

    if (md->pool) {
        tn_destroy_pool(md->pool);
        md->pool = NULL;
    }
}


tn_int_t
tn_store_md_scan(tn_store_md_t *md)
{
    tn_uint_t         i;
    tn_store_file_t  *f;

    md->files->nelts = 0;
    md->scanned = 1;

    /*
     * new/ before cur/: a file another process moves from new/ to cur/
     * while we read is then seen at least once.
     */
    if (tn_store_md_scan_dir(md, 0) != TN_OK
        || tn_store_md_scan_dir(md, 1) != TN_OK)
    {
        return TN_ERROR;
    }

    f = md->files->elts;

    qsort(f, md->files->nelts, sizeof(tn_store_file_t), tn_store_file_cmp);

    /* the first of equal base names (cur/ sorts first) is the message */

    for (i = 1; i < md->files->nelts; i++) {
        if (f[i].base_len == f[i - 1].base_len
            && tn_memcmp(f[i].name, f[i - 1].name, f[i].base_len) == 0)
        {
            f[i].dup = 1;
            tn_log_error(TN_LOG_WARN, md->log, 0,
                         "store: \"%s/%s/%s\" duplicates another message, "
                         "ignored", md->path, f[i].cur ? "cur" : "new",
                         f[i].name);
        }
    }

    return TN_OK;
}


static tn_int_t
tn_store_md_scan_dir(tn_store_md_t *md, tn_uint_t cur)
{
    DIR              *dir;
    size_t            len;
    tn_fd_t           fd, dfd;
    struct stat       sb;
    struct dirent    *de;
    tn_store_file_t  *f;

    dfd = md->fds[2 + cur];

    fd = openat(dfd, ".", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    if (fd == -1 || (dir = fdopendir(fd)) == NULL) {
        tn_log_error(TN_LOG_ERR, md->log, tn_errno,
                     "store: opendir(\"%s/%s\") failed", md->path,
                     cur ? "cur" : "new");
        if (fd != -1) {
            close(fd);
        }
        return TN_ERROR;
    }

    for ( ;; ) {
        errno = 0;

        de = readdir(dir);

        if (de == NULL) {
            if (errno) {
                tn_log_error(TN_LOG_ERR, md->log, tn_errno,
                             "store: readdir(\"%s\") failed", md->path);
                closedir(dir);
                return TN_ERROR;
            }

            break;
        }

        len = strlen(de->d_name);

        /* ".", "..", and dot files, which are never messages */
        if (tn_store_name_safe((u_char *) de->d_name, len) != TN_OK) {
            continue;
        }

        /*
         * No stat() here: a sync of 10,000 messages would spend most of
         * its time in them.  The type comes with the name (file systems
         * that do not give it are asked); the owner, size and time of a
         * file are looked at by tn_store_md_vsizes() when the index does
         * not know the name (a file it knows was checked when indexed).
         */

        sb.st_size = 0;
        sb.st_mtim.tv_sec = 0;
        sb.st_mtim.tv_nsec = 0;

        if (de->d_type == DT_UNKNOWN) {
            if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
                continue;
            }

            if (!S_ISREG(sb.st_mode) || sb.st_uid != md->st.st_uid) {
                tn_store_md_ignored(md, cur, de->d_name);
                continue;
            }

        } else if (de->d_type != DT_REG) {
            tn_store_md_ignored(md, cur, de->d_name);
            continue;
        }

        f = tn_array_push(md->files);
        if (f == NULL) {
            closedir(dir);
            return TN_ERROR;
        }

        tn_memzero(f, sizeof(tn_store_file_t));

        f->name = tn_pnalloc(md->pool, len + 1);
        if (f->name == NULL) {
            closedir(dir);
            return TN_ERROR;
        }

        tn_memcpy(f->name, de->d_name, len + 1);
        f->len = len;
        f->base_len = tn_store_base_len(f->name, len);
        f->cur = cur;
        f->size = sb.st_size;
        f->vsize = -1;
        f->mtime = sb.st_mtim.tv_sec;
        f->mtime_ns = sb.st_mtim.tv_nsec;
    }

    closedir(dir);

    return TN_OK;
}


static void
tn_store_md_ignored(tn_store_md_t *md, tn_uint_t cur, const char *name)
{
    tn_log_error(TN_LOG_WARN, md->log, 0,
                 "store: \"%s/%s/%s\" is not a regular file of the "
                 "Maildir's owner, ignored", md->path, cur ? "cur" : "new",
                 name);
}


static int
tn_store_file_cmp(const void *one, const void *two)
{
    int                     rc;
    const tn_store_file_t  *a, *b;

    a = one;
    b = two;

    rc = memcmp(a->name, b->name, tn_min(a->base_len, b->base_len));

    if (rc != 0) {
        return rc;
    }

    if (a->base_len != b->base_len) {
        return (a->base_len < b->base_len) ? -1 : 1;
    }

    /* cur/ first */
    return (int) b->cur - (int) a->cur;
}


static int
tn_store_file_age_cmp(const void *one, const void *two)
{
    const tn_store_file_t  *a, *b;

    a = *(const tn_store_file_t **) one;
    b = *(const tn_store_file_t **) two;

    /* the order of arrival, as far as the file system knows it */

    if (a->mtime != b->mtime) {
        return (a->mtime < b->mtime) ? -1 : 1;
    }

    if (a->mtime_ns != b->mtime_ns) {
        return (a->mtime_ns < b->mtime_ns) ? -1 : 1;
    }

    return tn_store_file_cmp(a, b);
}


tn_store_file_t *
tn_store_md_find(tn_store_md_t *md, u_char *name, size_t len)
{
    int               rc;
    tn_uint_t         lo, hi, mid;
    tn_store_file_t  *f, *files;

    files = md->files->elts;
    lo = 0;
    hi = md->files->nelts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        f = &files[mid];

        rc = memcmp(f->name, name, tn_min(f->base_len, len));

        if (rc == 0 && f->base_len != len) {
            rc = (f->base_len < len) ? -1 : 1;
        }

        if (rc == 0) {
            /* the first of the group is the one in use */
            while (mid > 0 && files[mid - 1].base_len == len
                   && memcmp(files[mid - 1].name, name, len) == 0)
            {
                mid--;
            }

            return &files[mid];
        }

        if (rc < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


static void
tn_store_md_clean_tmp(tn_store_md_t *md)
{
    DIR            *dir;
    time_t          now, t;
    tn_fd_t         fd;
    struct stat     sb;
    struct dirent  *de;

    fd = openat(md->fds[1], ".", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    if (fd == -1 || (dir = fdopendir(fd)) == NULL) {
        if (fd != -1) {
            close(fd);
        }
        return;
    }

    now = time(NULL);

    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }

        if (fstatat(md->fds[1], de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1
            || S_ISDIR(sb.st_mode))
        {
            continue;
        }

        /* maildir(5): not accessed for 36 hours (nor written to) */
        t = tn_max(sb.st_atime, sb.st_mtime);

        if (now - t > TN_STORE_TMP_MAX_AGE) {
            if (unlinkat(md->fds[1], de->d_name, 0) == 0) {
                tn_log_error(TN_LOG_INFO, md->log, 0,
                             "store: removed stale \"%s/tmp/%s\"",
                             md->path, de->d_name);
            }
        }
    }

    closedir(dir);
}


tn_int_t
tn_store_file_vsize(tn_fd_t dirfd, const char *name, struct stat *sb,
    off_t *vsize, tn_log_t *log)
{
    off_t     bare;
    u_char   *p, *last, prev;
    ssize_t   n;
    tn_fd_t   fd;
    u_char    buf[65536];

    fd = openat(dirfd, name, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY
                             |O_CLOEXEC);
    if (fd == -1) {
        if (errno == TN_ENOENT || errno == ELOOP) {
            return TN_DECLINED;
        }

        tn_log_error(TN_LOG_ERR, log, tn_errno, "store: open(\"%s\") failed",
                     name);
        return TN_ERROR;
    }

    if (fstat(fd, sb) == -1 || !S_ISREG(sb->st_mode)) {
        close(fd);
        return TN_DECLINED;
    }

    /* vsize: the size with every bare LF counted as CRLF */

    bare = 0;
    prev = '\0';

    for ( ;; ) {
        n = tn_read_fd(fd, buf, sizeof(buf));

        if (n == 0) {
            break;
        }

        if (n == -1) {
            tn_log_error(TN_LOG_ERR, log, tn_errno,
                         "store: read(\"%s\") failed", name);
            close(fd);
            return TN_ERROR;
        }

        last = buf + n;

        for (p = buf; p < last; p++) {
            if (*p == LF && prev != CR) {
                bare++;
            }

            prev = *p;
        }
    }

    close(fd);

    *vsize = sb->st_size + bare;

    return TN_OK;
}


tn_int_t
tn_store_md_vsizes(tn_store_md_t *md, tn_uint_t all)
{
    tn_int_t          rc;
    tn_uint_t         i;
    struct stat       sb;
    tn_store_file_t  *f;

    f = md->files->elts;

    for (i = 0; i < md->files->nelts; i++) {
        if (f[i].dup || (f[i].vsize != -1 && !all)) {
            continue;
        }

        rc = tn_store_file_vsize(md->fds[2 + f[i].cur], (char *) f[i].name,
                                 &sb, &f[i].vsize, md->log);

        if (rc == TN_ERROR) {
            return TN_ERROR;
        }

        if (rc == TN_DECLINED) {
            f[i].gone = 1;
            continue;
        }

        if (sb.st_uid != md->st.st_uid) {
            tn_store_md_ignored(md, f[i].cur, (char *) f[i].name);
            f[i].gone = 1;
            continue;
        }

        f[i].size = sb.st_size;
        f[i].mtime = sb.st_mtim.tv_sec;
        f[i].mtime_ns = sb.st_mtim.tv_nsec;
    }

    return TN_OK;
}


int
tn_store_inbox_find(tn_store_db_t *db, tn_store_mbox_row_t *mr,
    tn_log_t *log)
{
    int            rc;
    sqlite3_stmt  *stmt;

    mr->id = 0;

    stmt = tn_store_db_stmt(db, tn_store_inbox_find_sql, log);
    if (stmt == NULL) {
        return SQLITE_ERROR;
    }

    rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW) {
        mr->id = sqlite3_column_int64(stmt, 0);
        mr->uidvalidity = (uint32_t) sqlite3_column_int64(stmt, 1);
        mr->uidnext = (uint32_t) sqlite3_column_int64(stmt, 2);
        mr->highestmodseq = sqlite3_column_int64(stmt, 3);
        rc = SQLITE_OK;

    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }

    sqlite3_reset(stmt);

    return rc;
}


int
tn_store_rows_read(tn_store_db_t *db, tn_store_md_t *md, int64_t mbox,
    tn_array_t **rows)
{
    int              rc;
    int64_t          uid;
    size_t           len;
    const u_char    *name;
    sqlite3_stmt    *stmt;
    tn_store_row_t  *r;

    *rows = tn_array_create(md->pool, 64, sizeof(tn_store_row_t));
    if (*rows == NULL) {
        return SQLITE_NOMEM;
    }

    if (mbox == 0) {
        return SQLITE_OK;
    }

    stmt = tn_store_db_stmt(db, tn_store_rows_sql, md->log);
    if (stmt == NULL) {
        return SQLITE_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, mbox);

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        uid = sqlite3_column_int64(stmt, 0);
        name = sqlite3_column_text(stmt, 1);
        len = sqlite3_column_bytes(stmt, 1);

        if (uid < 1 || uid >= UINT32_MAX || name == NULL) {
            rc = SQLITE_CORRUPT;
            break;
        }

        r = tn_array_push(*rows);
        if (r == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }

        tn_memzero(r, sizeof(tn_store_row_t));

        r->filename = tn_pnalloc(md->pool, len + 1);
        if (r->filename == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }

        tn_memcpy(r->filename, name, len);
        r->filename[len] = '\0';
        r->len = len;
        r->uid = (uint32_t) uid;
        r->size = sqlite3_column_int64(stmt, 2);
        r->vsize = sqlite3_column_int64(stmt, 3);
        r->internaldate = sqlite3_column_int64(stmt, 4);
        r->in_new = sqlite3_column_int(stmt, 5) ? 1 : 0;
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, md->log, rc, "reading the index");
        return rc;
    }

    return SQLITE_OK;
}


void
tn_store_rows_match(tn_store_md_t *md, tn_array_t *rows)
{
    tn_uint_t        i;
    tn_store_row_t  *r;

    r = rows->elts;

    for (i = 0; i < rows->nelts; i++) {
        /* a name that is not a plain file name never matches a file */
        r[i].file = NULL;

        if (tn_store_name_safe(r[i].filename, r[i].len) == TN_OK) {
            r[i].file = tn_store_md_find(md, r[i].filename, r[i].len);
        }
    }
}


tn_int_t
tn_store_mailbox_load(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_store_mailbox_t *mb, tn_log_t *log)
{
    int             rc;
    tn_uint_t       try;
    tn_store_md_t   md;
    tn_store_db_t  *db;

    tn_memzero(mb, sizeof(tn_store_mailbox_t));

    if (tn_store_md_open(&md, conf, u, "", log) != TN_OK) {
        return TN_ERROR;
    }

    tn_store_md_clean_tmp(&md);

    for (try = 0; try < 2; try++) {
        db = tn_store_index_open(conf, u, log);
        if (db == NULL) {
            break;
        }

        rc = tn_store_sync(&md, db, mb);

        if (rc == SQLITE_OK) {
            tn_store_md_close(&md);
            return TN_OK;
        }

        if (!tn_store_db_corrupt(rc) || try == 1) {
            break;
        }

        tn_store_db_close(db);

        if (tn_store_index_rebuild(conf, u, log) != TN_OK) {
            break;
        }
    }

    tn_store_md_close(&md);
    tn_store_mailbox_free(mb);

    return TN_ERROR;
}


void
tn_store_mailbox_free(tn_store_mailbox_t *mb)
{
    if (mb->pool) {
        tn_destroy_pool(mb->pool);
    }

    tn_memzero(mb, sizeof(tn_store_mailbox_t));
}


static int
tn_store_sync(tn_store_md_t *md, tn_store_db_t *db, tn_store_mailbox_t *mb)
{
    int                   rc;
    tn_array_t           *rows;
    tn_store_mbox_row_t   mr;

    mr.id = 0;

    rc = tn_store_sync_rows(md, db, &mr, &rows);
    if (rc != SQLITE_OK) {
        return rc;
    }

    mb->uidvalidity = mr.uidvalidity;
    mb->uidnext = mr.uidnext;

    if (tn_store_mailbox_fill(md, mb, rows) != TN_OK) {
        return SQLITE_NOMEM;
    }

    return SQLITE_OK;
}


int
tn_store_mbox_row_read(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr)
{
    int            rc;
    int64_t        next;
    sqlite3_stmt  *stmt;

    if (md->dir[0] == '\0') {
        if (tn_store_inbox_get(db, md->fds[TN_STORE_MD_ROOT], mr, &rc,
                               md->log)
            != TN_OK)
        {
            return (rc == SQLITE_OK) ? SQLITE_ERROR : rc;
        }

        return SQLITE_OK;
    }

    stmt = tn_store_db_stmt(db, tn_store_mbox_row_sql, md->log);
    if (stmt == NULL) {
        return SQLITE_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, mr->id);
    sqlite3_bind_text(stmt, 2, md->dir, -1, SQLITE_STATIC);

    rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW) {
        mr->uidvalidity = (uint32_t) sqlite3_column_int64(stmt, 0);
        next = sqlite3_column_int64(stmt, 1);
        mr->highestmodseq = sqlite3_column_int64(stmt, 2);
        mr->uidnext = (next < 1 || next > UINT32_MAX) ? UINT32_MAX
                                                      : (uint32_t) next;
        rc = SQLITE_OK;

    } else if (rc == SQLITE_DONE) {
        /* deleted or renamed meanwhile */
        rc = SQLITE_NOTFOUND;

    } else {
        tn_store_db_log(db, md->log, rc, "reading a mailbox");
    }

    sqlite3_reset(stmt);

    return rc;
}


int
tn_store_sync_rows(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_array_t **rows)
{
    int               rc;
    uint32_t          uidnext_a;
    tn_uint_t         i;
    tn_store_row_t   *r;

    /*
     * Phase A, without the write lock: read the rows, then the
     * directories, then the files the index does not know (or whose size
     * changed), which may take long.  The rows come first: a row older
     * than uidnext_a was committed before the scan began, so its file,
     * if not seen, is really gone.
     */

    rc = tn_store_db_exec(db, "BEGIN", md->log);
    if (rc != SQLITE_OK) {
        tn_store_db_log(db, md->log, rc, "BEGIN");
        return rc;
    }

    if (md->dir[0] == '\0') {
        rc = tn_store_inbox_find(db, mr, md->log);

    } else {
        rc = tn_store_mbox_row_read(md, db, mr);
    }

    if (rc == SQLITE_OK) {
        rc = tn_store_rows_read(db, md, mr->id, rows);
    }

    tn_store_db_rollback(db, md->log);

    if (rc != SQLITE_OK) {
        return rc;
    }

    uidnext_a = mr->id ? mr->uidnext : 1;

    if (tn_store_md_scan(md) != TN_OK) {
        return SQLITE_IOERR;
    }

    tn_store_rows_match(md, *rows);

    r = (*rows)->elts;

    /*
     * A file the index knows keeps its indexed size (Maildir files do
     * not change; tn_store_index_rebuild() measures every file again):
     * only the others are opened, measured and checked.
     */

    for (i = 0; i < (*rows)->nelts; i++) {
        if (r[i].file && !r[i].file->dup) {
            r[i].file->uid = r[i].uid;
            r[i].file->size = r[i].size;
            r[i].file->vsize = r[i].vsize;
            r[i].file->mtime = r[i].internaldate;
        }
    }

    if (tn_store_md_vsizes(md, 0) != TN_OK) {
        return SQLITE_IOERR;
    }

    if (mr->id && !tn_store_sync_needed(md, *rows, uidnext_a)) {
        /* the usual SELECT: the index agrees, no write lock is taken */
        return SQLITE_OK;
    }

    /* phase B: under BEGIN IMMEDIATE, against the rows as they are now */

    rc = tn_store_db_begin(db, md->log);
    if (rc != SQLITE_OK) {
        return rc;
    }

    rc = tn_store_mbox_row_read(md, db, mr);
    if (rc != SQLITE_OK) {
        goto failed;
    }

    rc = tn_store_rows_read(db, md, mr->id, rows);
    if (rc != SQLITE_OK) {
        goto failed;
    }

    tn_store_rows_match(md, *rows);

    rc = tn_store_sync_apply(md, db, mr, *rows, uidnext_a);
    if (rc != SQLITE_OK) {
        goto failed;
    }

    rc = tn_store_db_commit(db, md->log);
    if (rc != SQLITE_OK) {
        return rc;
    }

    if (md->changed) {
        tn_store_notify(md->u);
    }

    return SQLITE_OK;

failed:

    tn_store_db_rollback(db, md->log);
    return rc;
}


/*
 * Whether tn_store_sync_apply() would change anything, judged from the
 * first read: a file without a row, a row whose file is gone (and that
 * is older than the scan), or a file that left new/.
 */

static tn_uint_t
tn_store_sync_needed(tn_store_md_t *md, tn_array_t *rows,
    uint32_t uidnext_a)
{
    tn_uint_t         i;
    tn_store_row_t   *r;
    tn_store_file_t  *f;

    r = rows->elts;

    for (i = 0; i < rows->nelts; i++) {
        f = r[i].file;

        if (f && !f->dup && !f->gone) {
            if (r[i].in_new != (f->cur == 0)) {
                return 1;
            }

            continue;
        }

        if (f != NULL || r[i].uid < uidnext_a) {
            return 1;
        }
    }

    f = md->files->elts;

    for (i = 0; i < md->files->nelts; i++) {
        if (!f[i].dup && !f[i].gone && f[i].uid == 0) {
            return 1;
        }
    }

    return 0;
}


int
tn_store_sync_apply(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_array_t *rows, uint32_t uidnext_a)
{
    int               rc;
    tn_uint_t         i, expunged;
    tn_store_row_t   *r;
    tn_store_file_t  *f;

    expunged = 0;
    r = rows->elts;

    for (i = 0; i < rows->nelts; i++) {
        f = r[i].file;

        if (f && !f->dup && !f->gone && !f->matched) {
            f->matched = 1;

            rc = tn_store_sync_update(md, db, mr, &r[i], f);
            if (rc != SQLITE_OK) {
                return rc;
            }

            continue;
        }

        /*
         * No file for the row.  A row younger than our scan (a delivery
         * that finished meanwhile) stays; an older one lost its file.
         */

        if (f == NULL && r[i].uid >= uidnext_a) {
            continue;
        }

        rc = tn_store_expunged_add(db, mr, r[i].uid, md->log);
        if (rc != SQLITE_OK) {
            return rc;
        }

        r[i].deleted = 1;
        expunged = 1;
    }

    rc = tn_store_insert_files(md, db, mr, 0);
    if (rc != SQLITE_OK) {
        return rc;
    }

    if (expunged) {
        md->changed = 1;

        rc = tn_store_expunged_prune(db, mr, md->log);
        if (rc != SQLITE_OK) {
            return rc;
        }
    }

    if (md->changed && tn_store_inbox_put(db, mr, &rc, md->log) != TN_OK) {
        return rc;
    }

    return SQLITE_OK;
}


/* a row whose file is there: the file's size and place (new/) win */

static int
tn_store_sync_update(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_store_row_t *r, tn_store_file_t *f)
{
    int            rc;
    sqlite3_stmt  *stmt;

    if (f->vsize != -1 && (f->size != r->size || f->vsize != r->vsize)) {

        /* the file changed since it was indexed (F3: trust the disk) */

        stmt = tn_store_db_stmt(db, tn_store_row_update_sql, md->log);
        if (stmt == NULL) {
            return SQLITE_ERROR;
        }

        sqlite3_bind_int64(stmt, 1, f->size);
        sqlite3_bind_int64(stmt, 2, f->vsize);
        sqlite3_bind_int64(stmt, 3, mr->id);
        sqlite3_bind_int64(stmt, 4, r->uid);

        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);

        if (rc != SQLITE_DONE) {
            tn_store_db_log(db, md->log, rc, "updating the index");
            return rc;
        }

        r->size = f->size;
        r->vsize = f->vsize;
    }

    if (r->in_new == (f->cur == 0)) {
        return SQLITE_OK;
    }

    stmt = tn_store_db_stmt(db, tn_store_row_new_sql, md->log);
    if (stmt == NULL) {
        return SQLITE_ERROR;
    }

    sqlite3_bind_int(stmt, 1, f->cur == 0);
    sqlite3_bind_int64(stmt, 2, mr->id);
    sqlite3_bind_int64(stmt, 3, r->uid);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, md->log, rc, "updating the index");
        return rc;
    }

    r->in_new = (f->cur == 0);

    return SQLITE_OK;
}


/*
 * Gives the files that have no row new UIDs, oldest first, each with a
 * MODSEQ of its own and the flags of its name.  keep: the files' uid
 * fields are UIDs to keep (a rebuild); otherwise a file that had a row
 * at the first read and has none now was expunged meanwhile and is left
 * alone.  Updates mr (uidnext, highestmodseq) but not its row: the
 * caller writes it when md->changed is set.
 */

int
tn_store_insert_files(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_uint_t keep)
{
    int                rc;
    u_char            *p, letters[TN_STORE_FLAGS_LEN];
    uint32_t           uid, flags;
    tn_uint_t          i, n;
    struct stat        sb;
    sqlite3_stmt      *stmt;
    tn_store_file_t   *f, *t, **todo;

    f = md->files->elts;

    todo = tn_palloc(md->pool,
                     (md->files->nelts + 1) * sizeof(tn_store_file_t *));
    if (todo == NULL) {
        return SQLITE_NOMEM;
    }

    n = 0;

    for (i = 0; i < md->files->nelts; i++) {
        if (f[i].dup || f[i].gone || f[i].matched
            || (f[i].uid && !keep))
        {
            continue;
        }

        todo[n++] = &f[i];
    }

    qsort(todo, n, sizeof(tn_store_file_t *), tn_store_file_age_cmp);

    for (i = 0; i < n; i++) {
        t = todo[i];

        if (fstatat(md->fds[2 + t->cur], (char *) t->name, &sb,
                    AT_SYMLINK_NOFOLLOW)
            == -1 || !S_ISREG(sb.st_mode))
        {
            t->gone = 1;
            continue;
        }

        if (keep && t->uid) {
            uid = t->uid;

        } else {
            if (mr->uidnext == UINT32_MAX) {
                tn_log_error(TN_LOG_ALERT, md->log, 0,
                             "store: UIDs exhausted in \"%s\"", md->path);
                return SQLITE_FULL;
            }

            uid = mr->uidnext++;
        }

        /* the flags of a cur/ file: what follows ":2," */
        flags = 0;

        if (t->base_len + 3 <= t->len
            && tn_strncmp(t->name + t->base_len, ":2,", 3) == 0)
        {
            flags = tn_store_flags_parse(t->name + t->base_len + 3,
                                         t->len - t->base_len - 3);
        }

        p = tn_store_flags_letters(letters, flags);

        stmt = tn_store_db_stmt(db, tn_store_row_insert_sql, md->log);
        if (stmt == NULL) {
            return SQLITE_ERROR;
        }

        sqlite3_bind_int64(stmt, 1, mr->id);
        sqlite3_bind_int64(stmt, 2, uid);
        sqlite3_bind_text(stmt, 3, (char *) t->name, t->base_len,
                          SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, t->size);
        sqlite3_bind_int64(stmt, 5, t->vsize);
        sqlite3_bind_int64(stmt, 6, t->mtime);
        sqlite3_bind_text(stmt, 7, (char *) letters, p - letters,
                          SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 8, ++mr->highestmodseq);
        sqlite3_bind_int(stmt, 9, t->cur == 0);

        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);

        if (rc != SQLITE_DONE) {
            tn_store_db_log(db, md->log, rc, "adding a row");
            return rc;
        }

        t->uid = uid;
        t->matched = 1;
        t->inserted = 1;
        md->changed = 1;
    }

    return SQLITE_OK;
}


uint32_t
tn_store_flags_parse(const u_char *p, size_t len)
{
    size_t    i;
    uint32_t  flags;

    flags = 0;

    /* maildir(5) letters; Dovecot's keyword letters a-z are not ours */

    for (i = 0; i < len; i++) {
        switch (p[i]) {
        case 'D':
            flags |= TN_STORE_F_DRAFT;
            break;
        case 'F':
            flags |= TN_STORE_F_FLAGGED;
            break;
        case 'R':
            flags |= TN_STORE_F_ANSWERED;
            break;
        case 'S':
            flags |= TN_STORE_F_SEEN;
            break;
        case 'T':
            flags |= TN_STORE_F_DELETED;
            break;
        }
    }

    return flags;
}


u_char *
tn_store_flags_letters(u_char *dst, uint32_t flags)
{
    /* in ASCII order, as maildir(5) wants them */

    if (flags & TN_STORE_F_DRAFT) {
        *dst++ = 'D';
    }

    if (flags & TN_STORE_F_FLAGGED) {
        *dst++ = 'F';
    }

    if (flags & TN_STORE_F_ANSWERED) {
        *dst++ = 'R';
    }

    if (flags & TN_STORE_F_SEEN) {
        *dst++ = 'S';
    }

    if (flags & TN_STORE_F_DELETED) {
        *dst++ = 'T';
    }

    *dst = '\0';

    return dst;
}


static int
tn_store_msg_cmp(const void *one, const void *two)
{
    const tn_store_msg_t  *a, *b;

    a = one;
    b = two;

    return (a->uid < b->uid) ? -1 : (a->uid > b->uid);
}


static tn_int_t
tn_store_mailbox_fill(tn_store_md_t *md, tn_store_mailbox_t *mb,
    tn_array_t *rows)
{
    size_t            dlen, len;
    u_char           *name, *p;
    tn_uint_t         i, n, cur;
    struct stat       sb;
    tn_store_msg_t   *msg;
    tn_store_row_t   *r;
    tn_store_file_t  *f;

    mb->pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, md->log);
    if (mb->pool == NULL) {
        return TN_ERROR;
    }

    f = md->files->elts;
    r = rows->elts;

    mb->msgs = tn_palloc(mb->pool, (rows->nelts + md->files->nelts + 1)
                                   * sizeof(tn_store_msg_t));
    if (mb->msgs == NULL) {
        return TN_ERROR;
    }

    dlen = strlen(md->path);
    n = 0;

    /* rows that were there (and kept), then files given UIDs just now */

    for (i = 0; i < rows->nelts + md->files->nelts; i++) {
        msg = &mb->msgs[n];

        if (i < rows->nelts) {
            if (r[i].deleted) {
                continue;
            }

            if (r[i].file && !r[i].file->dup && !r[i].file->gone) {
                name = r[i].file->name;
                len = r[i].file->len;
                cur = r[i].file->cur;

            } else {
                /* delivered after our scan: it is in new/, or not shown */
                if (tn_store_name_safe(r[i].filename, r[i].len) != TN_OK
                    || fstatat(md->fds[2], (char *) r[i].filename, &sb,
                               AT_SYMLINK_NOFOLLOW) == -1
                    || !S_ISREG(sb.st_mode))
                {
                    continue;
                }

                name = r[i].filename;
                len = r[i].len;
                cur = 0;
            }

            msg->uid = r[i].uid;
            msg->size = r[i].size;
            msg->vsize = r[i].vsize;
            msg->internaldate = r[i].internaldate;

        } else {
            f = &((tn_store_file_t *) md->files->elts)[i - rows->nelts];

            /* only those inserted by this sync: rows cover the rest */
            if (!f->inserted) {
                continue;
            }

            name = f->name;
            len = f->len;
            cur = f->cur;

            msg->uid = f->uid;
            msg->size = f->size;
            msg->vsize = f->vsize;
            msg->internaldate = f->mtime;
        }

        msg->path = tn_pnalloc(mb->pool, dlen + sizeof("/new/") + len);
        if (msg->path == NULL) {
            return TN_ERROR;
        }

        p = tn_cpymem(msg->path, md->path, dlen);
        p = tn_cpymem(p, cur ? "/cur/" : "/new/", 5);
        p = tn_cpymem(p, name, len);
        *p = '\0';

        tn_store_uidl(name, tn_store_base_len(name, len), msg->uidl);

        n++;
    }

    qsort(mb->msgs, n, sizeof(tn_store_msg_t), tn_store_msg_cmp);

    mb->nmsgs = n;

    tn_store_uidl_unique(mb, md->pool);

    return TN_OK;
}


/*
 * RFC 1939 wants UIDLs unique in a maildrop.  Foreign names may differ
 * only in what follows ",S=": all but the lowest UID of such a group get
 * the digest of the whole base name instead.
 */

static void
tn_store_uidl_unique(tn_store_mailbox_t *mb, tn_pool_t *pool)
{
    char             *p;
    tn_uint_t         i;
    tn_store_msg_t  **sorted;

    if (mb->nmsgs < 2) {
        return;
    }

    sorted = tn_palloc(pool, mb->nmsgs * sizeof(tn_store_msg_t *));
    if (sorted == NULL) {
        return;
    }

    for (i = 0; i < mb->nmsgs; i++) {
        sorted[i] = &mb->msgs[i];
    }

    qsort(sorted, mb->nmsgs, sizeof(tn_store_msg_t *), tn_store_uidl_cmp);

    for (i = 1; i < mb->nmsgs; i++) {
        if (strcmp(sorted[i]->uidl, sorted[i - 1]->uidl) != 0) {
            continue;
        }

        /* sorted by UIDL, then UID: sorted[i] is not the lowest UID */

        p = strrchr(sorted[i]->path, '/') + 1;

        tn_store_uidl_hex((u_char *) p,
                          tn_store_base_len((u_char *) p, strlen(p)),
                          sorted[i]->uidl);
    }
}


static int
tn_store_uidl_cmp(const void *one, const void *two)
{
    int                    rc;
    const tn_store_msg_t  *a, *b;

    a = *(const tn_store_msg_t **) one;
    b = *(const tn_store_msg_t **) two;

    rc = strcmp(a->uidl, b->uidl);

    if (rc != 0) {
        return rc;
    }

    return (a->uid < b->uid) ? -1 : (a->uid > b->uid);
}


static void
tn_store_uidl(u_char *name, size_t len, char *uidl)
{
    size_t   i;
    u_char  *p;

    /* the base name before ",S=" / ",W=" (not part of Dovecot's either) */

    for (p = name; p + 3 <= name + len; p++) {
        if (p[0] == ',' && (p[1] == 'S' || p[1] == 'W') && p[2] == '=') {
            len = p - name;
            break;
        }
    }

    if (len >= 1 && len <= 70) {
        for (i = 0; i < len; i++) {
            if (name[i] < 0x21 || name[i] > 0x7e) {
                break;
            }
        }

        if (i == len) {
            tn_memcpy(uidl, name, len);
            uidl[len] = '\0';
            return;
        }
    }

    tn_store_uidl_hex(name, len, uidl);
}


static void
tn_store_uidl_hex(u_char *name, size_t len, char *uidl)
{
    u_char  md[SHA256_DIGEST_LENGTH];

    /* RFC 1939 7: 1..70 characters 0x21..0x7e; 64 hex digits fit */

    SHA256(name, len, md);

    *tn_hex_dump((u_char *) uidl, md, SHA256_DIGEST_LENGTH) = '\0';
}
