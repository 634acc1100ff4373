
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>


/*
 * Rebuilding index.db from the Maildir (tn_store_index_rebuild()): a
 * readable index keeps its UIDVALIDITY, its UIDs and what only it knows
 * (flags, keywords, the header cache), in INBOX and in every folder; a
 * lost or damaged one is made anew with a greater UIDVALIDITY, and the
 * folders are picked up again by the next LIST.
 */


static tn_int_t tn_store_rebuild(tn_store_md_t *md);
static tn_int_t tn_store_rebuild_keep(tn_store_md_t *md, tn_store_db_t *db,
    uint32_t *old);
static tn_int_t tn_store_rebuild_new(tn_store_md_t *md, uint32_t old);
static tn_int_t tn_store_rebuild_check(tn_array_t *rows,
    tn_store_mbox_row_t *mr);
static tn_int_t tn_store_rebuild_folders(tn_store_md_t *md,
    tn_store_db_t *db);
static tn_int_t tn_store_rebuild_folder(tn_store_md_t *parent,
    tn_store_db_t *db, int64_t id, const char *dir);


static const char  tn_store_inbox_new_sql[] =
    "INSERT INTO mailboxes (name, uidvalidity, uidnext, highestmodseq, dir,"
    " subscribed) VALUES ('INBOX', ?1, 1, 1, '', 1)";

static const char  tn_store_folders_sql[] =
    "SELECT id, dir FROM mailboxes WHERE dir IS NOT NULL AND dir != ''";


tn_int_t
tn_store_index_rebuild(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_log_t *log)
{
    tn_int_t       rc;
    tn_store_md_t  md;

    if (tn_store_md_open(&md, conf, u, "", log) != TN_OK) {
        return TN_ERROR;
    }

    rc = tn_store_rebuild(&md);

    tn_store_md_close(&md);

    return rc;
}


static tn_int_t
tn_store_rebuild(tn_store_md_t *md)
{
    int             rc;
    tn_int_t        ret;
    uint32_t        old;
    sqlite3_stmt   *stmt;
    tn_store_db_t  *db;
    const u_char   *text;

    if (tn_store_md_scan(md) != TN_OK || tn_store_md_vsizes(md, 1) != TN_OK)
    {
        return TN_ERROR;
    }

    old = 0;
    db = NULL;

    /* a fresh connection: a cached one may hold pages of a damaged file */
    tn_store_db_forget(md->index);

    if (access(md->index, F_OK) == 0) {
        db = tn_store_db_get(md->index, TN_STORE_DB_INDEX, 0, &rc, md->log);
    }

    if (db) {
        stmt = NULL;

        rc = sqlite3_prepare_v2(db->db, "PRAGMA quick_check", -1, &stmt,
                                NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(stmt);
        }

        text = (rc == SQLITE_ROW) ? sqlite3_column_text(stmt, 0) : NULL;

        ret = (text && tn_strcmp(text, "ok") == 0) ? TN_OK : TN_DECLINED;

        sqlite3_finalize(stmt);

        if (ret == TN_OK) {
            ret = tn_store_rebuild_keep(md, db, &old);

            if (ret != TN_DECLINED) {
                return ret;
            }
        }

        tn_log_error(TN_LOG_WARN, md->log, 0,
                     "store: index \"%s\" is inconsistent, "
                     "a new UIDVALIDITY follows", md->index);

        tn_store_db_close(db);
    }

    return tn_store_rebuild_new(md, old);
}


/*
 * The old index is readable: it keeps its UIDVALIDITY, and each file
 * keeps its UID.  TN_DECLINED when it is inconsistent after all, with
 * *old set to its UIDVALIDITY when that could be read.
 */

static tn_int_t
tn_store_rebuild_keep(tn_store_md_t *md, tn_store_db_t *db, uint32_t *old)
{
    int                   rc;
    tn_array_t           *rows;
    tn_store_mbox_row_t   mr;

    if (tn_store_db_begin(db, md->log) != SQLITE_OK) {
        return TN_DECLINED;
    }

    rc = tn_store_inbox_find(db, &mr, md->log);

    if (rc != SQLITE_OK || mr.id == 0 || mr.uidvalidity == 0
        || mr.uidnext == 0)
    {
        goto inconsistent;
    }

    *old = mr.uidvalidity;

    rc = tn_store_rows_read(db, md, mr.id, &rows);
    if (rc != SQLITE_OK || tn_store_rebuild_check(rows, &mr) != TN_OK) {
        goto inconsistent;
    }

    /*
     * The rows with a file stay as they are (flags, keywords, cache),
     * the others go, and the files without a row get one.
     */

    tn_store_rows_match(md, rows);

    if (tn_store_sync_apply(md, db, &mr, rows, mr.uidnext) != SQLITE_OK) {
        tn_store_db_rollback(db, md->log);
        return TN_ERROR;
    }

    if (tn_store_db_commit(db, md->log) != SQLITE_OK) {
        return TN_ERROR;
    }

    tn_log_error(TN_LOG_NOTICE, md->log, 0,
                 "store: index \"%s\" rebuilt, UIDVALIDITY %uD kept",
                 md->index, mr.uidvalidity);

    if (tn_store_rebuild_folders(md, db) != TN_OK) {
        return TN_ERROR;
    }

    tn_store_notify(md->u);

    return TN_OK;

inconsistent:

    tn_store_db_rollback(db, md->log);
    return TN_DECLINED;
}


static tn_int_t
tn_store_rebuild_check(tn_array_t *rows, tn_store_mbox_row_t *mr)
{
    tn_uint_t        i;
    tn_store_row_t  *r;

    r = rows->elts;

    for (i = 0; i < rows->nelts; i++) {
        if (r[i].uid >= mr->uidnext) {
            return TN_DECLINED;
        }
    }

    return TN_OK;
}


/* the folders of a kept index: each like INBOX, its UIDs kept */

static tn_int_t
tn_store_rebuild_folders(tn_store_md_t *md, tn_store_db_t *db)
{
    int             rc;
    size_t          len;
    int64_t        *ids;
    tn_uint_t       i, n;
    sqlite3_stmt   *stmt;
    const u_char   *dir;
    u_char        **dirs;

    ids = tn_palloc(md->pool, TN_STORE_MBOX_MAX * sizeof(int64_t));
    dirs = tn_palloc(md->pool, TN_STORE_MBOX_MAX * sizeof(u_char *));
    if (ids == NULL || dirs == NULL) {
        return TN_ERROR;
    }

    stmt = tn_store_db_stmt(db, tn_store_folders_sql, md->log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    n = 0;

    while (n < TN_STORE_MBOX_MAX && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        dir = sqlite3_column_text(stmt, 1);
        len = sqlite3_column_bytes(stmt, 1);

        if (dir == NULL || tn_store_folder_dir_safe(dir, len) != TN_OK) {
            continue;
        }

        dirs[n] = tn_pnalloc(md->pool, len + 1);
        if (dirs[n] == NULL) {
            sqlite3_reset(stmt);
            return TN_ERROR;
        }

        *tn_cpymem(dirs[n], dir, len) = '\0';
        ids[n++] = sqlite3_column_int64(stmt, 0);
    }

    sqlite3_reset(stmt);

    for (i = 0; i < n; i++) {
        if (tn_store_rebuild_folder(md, db, ids[i], (char *) dirs[i])
            == TN_ERROR)
        {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


static tn_int_t
tn_store_rebuild_folder(tn_store_md_t *parent, tn_store_db_t *db,
    int64_t id, const char *dir)
{
    tn_int_t              rc;
    tn_array_t           *rows;
    tn_store_md_t         md;
    tn_store_mbox_row_t   mr;

    rc = tn_store_md_open(&md, parent->conf, parent->u, dir, parent->log);
    if (rc != TN_OK) {
        /* a folder that is gone: the next LIST drops its row */
        return (rc == TN_DECLINED) ? TN_OK : TN_ERROR;
    }

    rc = TN_ERROR;

    if (tn_store_md_scan(&md) != TN_OK || tn_store_md_vsizes(&md, 1) != TN_OK
        || tn_store_db_begin(db, md.log) != SQLITE_OK)
    {
        goto done;
    }

    mr.id = id;

    if (tn_store_mbox_row_read(&md, db, &mr) != SQLITE_OK
        || tn_store_rows_read(db, &md, id, &rows) != SQLITE_OK)
    {
        tn_store_db_rollback(db, md.log);
        goto done;
    }

    if (tn_store_rebuild_check(rows, &mr) != TN_OK) {
        tn_log_error(TN_LOG_WARN, md.log, 0,
                     "store: folder \"%s\" has UIDs beyond UIDNEXT, "
                     "left as it is", md.path);
        tn_store_db_rollback(db, md.log);
        rc = TN_DECLINED;
        goto done;
    }

    tn_store_rows_match(&md, rows);

    if (tn_store_sync_apply(&md, db, &mr, rows, mr.uidnext) != SQLITE_OK) {
        tn_store_db_rollback(db, md.log);
        goto done;
    }

    if (tn_store_db_commit(db, md.log) == SQLITE_OK) {
        rc = TN_OK;
    }

done:

    tn_store_md_close(&md);

    return rc;
}


static tn_int_t
tn_store_rebuild_new(tn_store_md_t *md, uint32_t old)
{
    int                   rc;
    tn_uint_t             i;
    sqlite3_stmt         *stmt;
    tn_store_db_t        *db;
    tn_store_file_t      *f;
    tn_store_mbox_row_t   mr;
    char                  aside[PATH_MAX + 64];
    char                  path[PATH_MAX + 64];

    static const char  *suffixes[] = { "", "-wal", "-shm" };

    /*
     * Keep the old file for inspection; its -wal must never be applied to
     * the new one, so it moves too, and the -shm goes.
     */

    tn_store_db_forget(md->index);

    for (i = 0; i < 3; i++) {
        *tn_sprintf((u_char *) path, "%s%s", md->index, suffixes[i]) = '\0';
        *tn_sprintf((u_char *) aside, "%s.broken-%T%s", md->index,
                    time(NULL), suffixes[i]) = '\0';

        if (i == 2) {
            rc = unlink(path);

        } else {
            rc = rename(path, aside);
        }

        if (rc == -1 && errno != TN_ENOENT) {
            tn_log_error(TN_LOG_ERR, md->log, tn_errno,
                         "store: moving \"%s\" aside failed", path);
            return TN_ERROR;
        }
    }

    db = tn_store_db_get(md->index, TN_STORE_DB_INDEX, TN_STORE_DB_CREATE,
                         &rc, md->log);
    if (db == NULL) {
        return TN_ERROR;
    }

    if (geteuid() == 0 && md->st.st_uid != 0) {
        (void) fchownat(md->fds[TN_STORE_MD_ROOT], "index.db", md->st.st_uid,
                        md->st.st_gid, AT_SYMLINK_NOFOLLOW);
    }

    if (tn_store_db_begin(db, md->log) != SQLITE_OK) {
        return TN_ERROR;
    }

    mr.uidvalidity = tn_store_uidvalidity_new(md->fds[TN_STORE_MD_ROOT], old,
                                              md->log);
    if (mr.uidvalidity == 0) {
        goto failed;
    }

    stmt = tn_store_db_stmt(db, tn_store_inbox_new_sql, md->log);
    if (stmt == NULL) {
        goto failed;
    }

    sqlite3_bind_int64(stmt, 1, mr.uidvalidity);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, md->log, rc, "creating INBOX");
        goto failed;
    }

    mr.id = sqlite3_last_insert_rowid(db->db);
    mr.uidnext = 1;
    mr.highestmodseq = 1;

    f = md->files->elts;

    for (i = 0; i < md->files->nelts; i++) {
        f[i].uid = 0;
        f[i].matched = 0;
    }

    if (tn_store_insert_files(md, db, &mr, 0) != SQLITE_OK
        || tn_store_inbox_put(db, &mr, &rc, md->log) != TN_OK)
    {
        goto failed;
    }

    if (tn_store_db_commit(db, md->log) != SQLITE_OK) {
        return TN_ERROR;
    }

    tn_log_error(TN_LOG_NOTICE, md->log, 0,
                 "store: index \"%s\" rebuilt with UIDVALIDITY %uD",
                 md->index, mr.uidvalidity);

    return TN_OK;

failed:

    tn_store_db_rollback(db, md->log);
    return TN_ERROR;
}
