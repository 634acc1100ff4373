
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>


/*
 * Expunges (tn_store_expunge() for POP3, tn_store_expunge_uids() for
 * IMAP): the files unlinked and their directories fsynced first, then
 * the rows moved to the expunged log (with a MODSEQ each), and the log
 * pruned.  Split from tn_store_index.c, whose sync uses the log too.
 */


static tn_int_t tn_store_expunge_names(tn_store_md_t *md, tn_store_db_t *db,
    int64_t mbox, uint32_t *uids, tn_uint_t n, u_char **names,
    uint32_t *flags, tn_uint_t deleted);
static tn_int_t tn_store_expunge_files(tn_store_md_t *md, u_char **names,
    uint32_t *flags, tn_uint_t n);
static tn_int_t tn_store_unlink_cur(tn_store_md_t *md, u_char *base,
    size_t len, uint32_t flags);
static tn_int_t tn_store_expunge_rows(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, uint32_t *uids, tn_uint_t n, u_char **names);


static const char  tn_store_expunged_sql[] =
    "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq, time)"
    " VALUES (?1, ?2, ?3, ?4)";

/* what to prune: 30 days old, or beyond the 100,000 newest */
static const char  tn_store_prune_find_sql[] =
    "SELECT max(modseq) FROM (SELECT modseq FROM expunged"
    " WHERE mailbox_id = ?1 AND time < ?2 UNION ALL"
    " SELECT modseq FROM (SELECT modseq FROM expunged WHERE mailbox_id = ?1"
    " ORDER BY modseq DESC LIMIT -1 OFFSET 100000))";

static const char  tn_store_prune_sql[] =
    "DELETE FROM expunged WHERE mailbox_id = ?1 AND modseq <= ?2";

static const char  tn_store_prune_mark_sql[] =
    "UPDATE mailboxes SET expunged_modseq = max(expunged_modseq, ?2)"
    " WHERE id = ?1";

static const char  tn_store_row_delete_sql[] =
    "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2";

static const char  tn_store_filename_sql[] =
    "SELECT filename, flags FROM messages WHERE mailbox_id = ?1"
    " AND uid = ?2";


int
tn_store_expunged_add(tn_store_db_t *db, tn_store_mbox_row_t *mr,
    uint32_t uid, tn_log_t *log)
{
    int            rc;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, tn_store_row_delete_sql, log);
    if (stmt == NULL) {
        return SQLITE_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, mr->id);
    sqlite3_bind_int64(stmt, 2, uid);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "removing a row");
        return rc;
    }

    if (sqlite3_changes(db->db) == 0) {
        return SQLITE_OK;
    }

    stmt = tn_store_db_stmt(db, tn_store_expunged_sql, log);
    if (stmt == NULL) {
        return SQLITE_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, mr->id);
    sqlite3_bind_int64(stmt, 2, uid);
    sqlite3_bind_int64(stmt, 3, ++mr->highestmodseq);
    sqlite3_bind_int64(stmt, 4, time(NULL));

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "recording an expunge");
        return rc;
    }

    return SQLITE_OK;
}


/*
 * Drops the expunged rows of a mailbox that are older than 30 days or
 * beyond the 100,000 newest, and remembers up to which MODSEQ the table
 * is no longer complete (tn_store_mbox_changes() then answers with the
 * full list).
 */

int
tn_store_expunged_prune(tn_store_db_t *db, tn_store_mbox_row_t *mr,
    tn_log_t *log)
{
    int            rc;
    int64_t        cut;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, tn_store_prune_find_sql, log);
    if (stmt == NULL) {
        return SQLITE_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, mr->id);
    sqlite3_bind_int64(stmt, 2, time(NULL) - 30 * 86400);

    rc = sqlite3_step(stmt);
    cut = (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
          ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);

    if (rc != SQLITE_ROW) {
        tn_store_db_log(db, log, rc, "reading expunges");
        return rc;
    }

    if (cut == 0) {
        return SQLITE_OK;
    }

    rc = tn_store_db_run2(db, tn_store_prune_sql, mr->id, cut,
                          "pruning expunges", log);
    if (rc != SQLITE_OK) {
        return rc;
    }

    return tn_store_db_run2(db, tn_store_prune_mark_sql, mr->id, cut,
                            "pruning expunges", log);
}


tn_int_t
tn_store_expunge(tn_store_conf_t *conf, tn_store_user_t *u, uint32_t *uids,
    tn_uint_t n, tn_log_t *log)
{
    int                   rc;
    tn_int_t              ret;
    tn_store_md_t         md;
    tn_store_db_t        *db;
    tn_store_mbox_row_t   mr;
    u_char              **names;

    if (n == 0) {
        return TN_OK;
    }

    if (tn_store_md_open(&md, conf, u, "", log) != TN_OK) {
        return TN_ERROR;
    }

    ret = TN_ERROR;

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        goto done;
    }

    names = tn_pcalloc(md.pool, n * sizeof(u_char *));
    if (names == NULL) {
        goto done;
    }

    rc = tn_store_inbox_find(db, &mr, log);
    if (rc != SQLITE_OK || mr.id == 0) {
        ret = (rc == SQLITE_OK) ? TN_OK : TN_ERROR;
        goto done;
    }

    ret = tn_store_expunge_uids(&md, db, &mr, uids, n, names, 0);

done:

    tn_store_md_close(&md);

    return ret;
}


tn_int_t
tn_store_expunge_uids(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, uint32_t *uids, tn_uint_t n, u_char **names,
    tn_uint_t deleted)
{
    int        rc;
    tn_int_t   ret;
    uint32_t  *flags;

    /*
     * All of it in one write transaction (BEGIN IMMEDIATE): what goes is
     * decided under the lock (a row expunged meanwhile is skipped, and
     * with deleted so is one whose \Deleted a STORE took away before we
     * got the lock: a STORE now waits for our commit), then the files
     * are unlinked and their directories fsynced, then the rows go and
     * the commit makes it so.  A crash or a failed commit after an
     * unlink leaves a row without its file, which the next sync (SELECT,
     * STATUS, a POP3 login) records as expunged; a file is never left
     * without its row, and uidnext is not touched.
     */

    flags = tn_pcalloc(md->pool, (n + 1) * sizeof(uint32_t));
    if (flags == NULL) {
        return TN_ERROR;
    }

    if (tn_store_db_begin(db, md->log) != SQLITE_OK) {
        return TN_ERROR;
    }

    /* re-read under the lock: a delivery may have moved uidnext */

    rc = tn_store_mbox_row_read(md, db, mr);

    if (rc != SQLITE_OK
        || tn_store_expunge_names(md, db, mr->id, uids, n, names, flags,
                                  deleted)
           != TN_OK)
    {
        tn_store_db_rollback(db, md->log);
        tn_memzero(names, n * sizeof(u_char *));

        /* the mailbox is gone: nothing of it is left to expunge */
        return (rc == SQLITE_NOTFOUND) ? TN_OK : TN_ERROR;
    }

    ret = tn_store_expunge_files(md, names, flags, n);

    if (tn_store_expunge_rows(md, db, mr, uids, n, names) != TN_OK) {
        ret = TN_ERROR;
    }

    return ret;
}


static tn_int_t
tn_store_expunge_names(tn_store_md_t *md, tn_store_db_t *db, int64_t mbox,
    uint32_t *uids, tn_uint_t n, u_char **names, uint32_t *flags,
    tn_uint_t deleted)
{
    size_t          len;
    tn_int_t        ret;
    tn_uint_t       i;
    const u_char   *name;
    sqlite3_stmt   *stmt;

    for (i = 0; i < n; i++) {
        names[i] = NULL;

        ret = tn_store_msg_step(db, tn_store_filename_sql, mbox, uids[i],
                                &stmt, md->log);

        if (ret == TN_DECLINED) {
            /* a UID that is not there is not expunged twice */
            continue;
        }

        if (ret != TN_OK) {
            return TN_ERROR;
        }

        flags[i] = tn_store_flags_parse(sqlite3_column_text(stmt, 1),
                                        sqlite3_column_bytes(stmt, 1));

        if (deleted && !(flags[i] & TN_STORE_F_DELETED)) {
            /* un-\Deleted since the caller looked: it stays */
            sqlite3_reset(stmt);
            continue;
        }

        name = sqlite3_column_text(stmt, 0);
        len = sqlite3_column_bytes(stmt, 0);

        names[i] = tn_pnalloc(md->pool, len + 1);
        if (names[i] == NULL || name == NULL) {
            names[i] = NULL;
            sqlite3_reset(stmt);
            return TN_ERROR;
        }

        tn_memcpy(names[i], name, len);
        names[i][len] = '\0';

        sqlite3_reset(stmt);
    }

    return TN_OK;
}


/*
 * Unlinks the files of names (in new/, else in cur/ with flags after
 * ':', first under the name the index's flags give) and syncs the
 * directories.  A name whose file could not be removed is set to NULL,
 * so that its row stays.
 */

static tn_int_t
tn_store_expunge_files(tn_store_md_t *md, u_char **names, uint32_t *flags,
    tn_uint_t n)
{
    size_t            len;
    tn_int_t          ret;
    tn_uint_t         i, scanned, synced[2];
    tn_store_file_t  *f;

    ret = TN_OK;
    scanned = 0;
    synced[0] = 0;
    synced[1] = 0;

    for (i = 0; i < n; i++) {
        if (names[i] == NULL) {
            continue;
        }

        len = tn_strlen(names[i]);

        if (tn_store_name_safe(names[i], len) != TN_OK) {
            /* never a name of ours: there is no file to remove */
            continue;
        }

        if (unlinkat(md->fds[2], (char *) names[i], 0) == 0) {
            synced[0] = 1;
            continue;
        }

        if (errno == TN_ENOENT
            && tn_store_unlink_cur(md, names[i], len, flags[i]) == TN_OK)
        {
            synced[1] = 1;
            continue;
        }

        if (errno == TN_ENOENT) {
            if (!scanned) {
                if (tn_store_md_scan(md) != TN_OK) {
                    names[i] = NULL;
                    ret = TN_ERROR;
                    continue;
                }

                scanned = 1;
            }

            f = tn_store_md_find(md, names[i], len);

            if (f == NULL || f->cur == 0) {
                /* gone already */
                continue;
            }

            if (unlinkat(md->fds[3], (char *) f->name, 0) == 0
                || errno == TN_ENOENT)
            {
                synced[1] = 1;
                continue;
            }
        }

        tn_log_error(TN_LOG_ERR, md->log, tn_errno,
                     "store: unlink(\"%s/.../%s\") failed", md->path,
                     names[i]);
        names[i] = NULL;
        ret = TN_ERROR;
    }

    for (i = 0; i < 2; i++) {
        if (synced[i] && tn_store_fsync_fd(md->fds[2 + i]) != TN_OK) {
            tn_log_error(TN_LOG_ERR, md->log, tn_errno,
                         "store: fsync(\"%s/%s\") failed", md->path,
                         i ? "cur" : "new");
            ret = TN_ERROR;
        }
    }

    return ret;
}


/* unlinks cur/<base>:2,<flags>: TN_OK, or TN_ERROR with errno set */

static tn_int_t
tn_store_unlink_cur(tn_store_md_t *md, u_char *base, size_t len,
    uint32_t flags)
{
    u_char  *p, name[NAME_MAX + 1];

    if (len + 4 + TN_STORE_FLAGS_LEN > NAME_MAX) {
        errno = TN_ENOENT;
        return TN_ERROR;
    }

    p = tn_cpymem(name, base, len);
    p = tn_cpymem(p, ":2,", 3);
    (void) tn_store_flags_letters(p, flags);

    return (unlinkat(md->fds[3], (char *) name, 0) == 0) ? TN_OK : TN_ERROR;
}


static tn_int_t
tn_store_expunge_rows(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, uint32_t *uids, tn_uint_t n, u_char **names)
{
    tn_uint_t  i, k;

    /* inside the transaction tn_store_expunge_uids() began */

    for (i = 0, k = 0; i < n; i++) {
        if (names[i] == NULL) {
            continue;
        }

        if (tn_store_expunged_add(db, mr, uids[i], md->log) != SQLITE_OK) {
            goto failed;
        }

        k++;
    }

    if (k == 0) {
        tn_store_db_rollback(db, md->log);
        return TN_OK;
    }

    if (tn_store_expunged_prune(db, mr, md->log) != SQLITE_OK) {
        goto failed;
    }

    return tn_store_mbox_commit(db, mr, md->u, md->log);

failed:

    tn_store_db_rollback(db, md->log);
    return TN_ERROR;
}