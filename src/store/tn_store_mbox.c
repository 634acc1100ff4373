
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_mbox.h>


/*
 * The messages of a mailbox for IMAP (tn_store_imap.h): SELECT, the
 * changes since a MODSEQ, STORE and EXPUNGE (COPY, MOVE, APPEND, the
 * message file and the quota are in tn_store_mbox_copy.c).
 *
 * The index holds the flags; the file names in cur/ follow them after
 * each commit (best effort: a file is found by its base name whatever
 * its flags say).  A message's file is looked for as cur/<base>:2,<flags
 * in the index>, then new/<base>, then by a scan of both directories.
 */


void  (*tn_store_changed)(int64_t user_id);


/* a message whose file gets new flags in its name after the commit */
typedef struct {
    u_char              *base;
    size_t               len;
    uint32_t             old;
    uint32_t             flags;
} tn_store_reflag_t;


static tn_int_t tn_store_imsgs_read(sqlite3_stmt *stmt, tn_pool_t *pool,
    tn_uint_t recent, tn_store_imsg_t **msgs, tn_uint_t *n);
static tn_store_imsg_t *tn_store_imsg_find(tn_store_imsg_t *msgs,
    tn_uint_t n, uint32_t uid);
static void tn_store_imsg_row(sqlite3_stmt *stmt, tn_store_imsg_t *m);
static tn_int_t tn_store_open_load(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_uint_t readonly, tn_store_mbox_t *mb);
static void tn_store_open_recent(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_store_mbox_t *mb);
static void tn_store_reflag(tn_store_md_t *md, tn_store_reflag_t *r);
static tn_int_t tn_store_store_tx(tn_store_db_t *db, int64_t id,
    uint32_t *uids, tn_uint_t n, tn_store_flag_op_t *op, tn_pool_t *pool,
    tn_array_t *out, tn_array_t *failed, tn_array_t *renames,
    const char **reason, tn_log_t *log);
static tn_int_t tn_store_store_one(tn_store_db_t *db, int64_t id,
    uint32_t uid, tn_store_flag_op_t *op, uint64_t kwmask,
    tn_store_mbox_row_t *mr, tn_pool_t *pool, tn_array_t *out,
    tn_array_t *failed, tn_array_t *renames, tn_log_t *log);


static const char  tn_store_by_id_sql[] =
    "SELECT name, dir, uidvalidity, uidnext, highestmodseq,"
    " expunged_modseq, subscribed, special FROM mailboxes WHERE id = ?1";

static const char  tn_store_kw_sql[] =
    "SELECT idx, name FROM keywords WHERE mailbox_id = ?1 ORDER BY idx";

static const char  tn_store_kw_add_sql[] =
    "INSERT OR REPLACE INTO keywords (mailbox_id, idx, name)"
    " VALUES (?1, ?2, ?3)";

static const char  tn_store_msgs_sql[] =
    "SELECT uid, flags, keywords, modseq, vsize, internaldate, in_new,"
    " filename FROM messages WHERE mailbox_id = ?1 ORDER BY uid";

static const char  tn_store_changed_sql[] =
    "SELECT uid, flags, keywords, modseq, vsize, internaldate, in_new"
    " FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid";

static const char  tn_store_expunged_since_sql[] =
    "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2"
    " ORDER BY uid";

static const char  tn_store_not_new_sql[] =
    "UPDATE messages SET in_new = 0 WHERE mailbox_id = ?1 AND uid = ?2";

static const char  tn_store_msg_sql[] =
    "SELECT uid, flags, keywords, modseq, vsize, internaldate, in_new,"
    " filename FROM messages WHERE mailbox_id = ?1 AND uid = ?2";

static const char  tn_store_flags_sql[] =
    "UPDATE messages SET flags = ?1, keywords = ?2, modseq = ?3"
    " WHERE mailbox_id = ?4 AND uid = ?5";

static const char  tn_store_deleted_sql[] =
    "SELECT uid FROM messages WHERE mailbox_id = ?1"
    " AND instr(flags, 'T') > 0 ORDER BY uid";


void
tn_store_notify(tn_store_user_t *u)
{
    void  (*changed)(int64_t user_id);

    changed = tn_store_changed;

    if (changed) {
        changed(u->id);
    }
}


/*
 * Rows and keywords.
 */

tn_int_t
tn_store_mbox_by_id(tn_store_db_t *db, int64_t id, tn_store_mbox_ref_t *ref,
    uint64_t *expunged_modseq, tn_log_t *log)
{
    int            rc;
    size_t         len;
    const u_char  *p;
    sqlite3_stmt  *stmt;

    tn_memzero(ref, sizeof(tn_store_mbox_ref_t));

    stmt = tn_store_db_stmt(db, tn_store_by_id_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, id);

    rc = sqlite3_step(stmt);

    if (rc != SQLITE_ROW) {
        sqlite3_reset(stmt);

        if (rc == SQLITE_DONE) {
            return TN_DECLINED;
        }

        tn_store_db_log(db, log, rc, "reading a mailbox");
        return TN_ERROR;
    }

    ref->id = id;

    p = sqlite3_column_text(stmt, 0);
    len = sqlite3_column_bytes(stmt, 0);

    if (p && len <= TN_STORE_MBOX_NAME_MAX) {
        *tn_cpymem(ref->name, p, len) = '\0';
        ref->name_len = len;
    }

    p = sqlite3_column_text(stmt, 1);
    len = sqlite3_column_bytes(stmt, 1);

    ref->folder = (p != NULL
                   && (len == 0 || tn_store_folder_dir_safe(p, len) == TN_OK));

    if (ref->folder) {
        *tn_cpymem(ref->dir, p, len) = '\0';
    }

    ref->uidvalidity = (uint32_t) sqlite3_column_int64(stmt, 2);
    ref->uidnext = (uint32_t) sqlite3_column_int64(stmt, 3);
    ref->highestmodseq = sqlite3_column_int64(stmt, 4);

    if (expunged_modseq) {
        *expunged_modseq = sqlite3_column_int64(stmt, 5);
    }

    ref->subscribed = sqlite3_column_int(stmt, 6) ? 1 : 0;
    ref->special = sqlite3_column_int(stmt, 7) & 0xff;

    sqlite3_reset(stmt);

    return ref->folder ? TN_OK : TN_DECLINED;
}


tn_int_t
tn_store_kw_load(tn_store_db_t *db, int64_t id, tn_pool_t *pool,
    tn_str_t *kw, tn_uint_t *n, tn_log_t *log)
{
    int            rc;
    size_t         len;
    int64_t        idx;
    const u_char  *p;
    sqlite3_stmt  *stmt;

    *n = 0;

    stmt = tn_store_db_stmt(db, tn_store_kw_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, id);

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        idx = sqlite3_column_int64(stmt, 0);
        p = sqlite3_column_text(stmt, 1);
        len = sqlite3_column_bytes(stmt, 1);

        /* the table is dense: idx 0, 1, 2... */
        if (idx != (int64_t) *n || idx >= TN_STORE_KEYWORDS_MAX || p == NULL)
        {
            break;
        }

        kw[*n].data = tn_pnalloc(pool, len + 1);
        if (kw[*n].data == NULL) {
            sqlite3_reset(stmt);
            return TN_ERROR;
        }

        *tn_cpymem(kw[*n].data, p, len) = '\0';
        kw[*n].len = len;
        (*n)++;
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        tn_store_db_log(db, log, rc, "reading keywords");
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * The index of keyword name in the table kw (n of them) of mailbox id;
 * add: a new name is added (inside a write transaction).  TN_DECLINED:
 * not there (add 0), or the table is full; TN_ERROR.
 */

tn_int_t
tn_store_kw_index(tn_store_db_t *db, int64_t id, tn_pool_t *pool,
    tn_str_t *kw, tn_uint_t *n, tn_str_t *name, tn_uint_t add,
    tn_log_t *log)
{
    int            rc;
    tn_uint_t      i;
    sqlite3_stmt  *stmt;

    for (i = 0; i < *n; i++) {
        if (kw[i].len == name->len
            && tn_strncasecmp(kw[i].data, name->data, name->len) == 0)
        {
            return i;
        }
    }

    if (!add || *n == TN_STORE_KEYWORDS_MAX) {
        return TN_DECLINED;
    }

    stmt = tn_store_db_stmt(db, tn_store_kw_add_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, *n);
    sqlite3_bind_text(stmt, 3, (char *) name->data, name->len,
                      SQLITE_STATIC);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "adding a keyword");
        return TN_ERROR;
    }

    kw[*n].data = tn_pnalloc(pool, name->len + 1);
    if (kw[*n].data == NULL) {
        return TN_ERROR;
    }

    *tn_cpymem(kw[*n].data, name->data, name->len) = '\0';
    kw[*n].len = name->len;

    return (*n)++;
}


tn_int_t
tn_store_kw_mask(tn_store_db_t *db, int64_t id, tn_pool_t *pool,
    tn_str_t *kw, tn_uint_t *n, tn_str_t *names, tn_uint_t nnames,
    tn_uint_t add, uint64_t *mask, const char **reason, tn_log_t *log)
{
    tn_int_t   idx;
    tn_uint_t  i;

    *mask = 0;

    for (i = 0; i < nnames; i++) {
        if (names[i].len == 0 || names[i].len > TN_STORE_KEYWORD_LEN_MAX) {
            *reason = "invalid keyword";
            return TN_DECLINED;
        }

        idx = tn_store_kw_index(db, id, pool, kw, n, &names[i], add, log);

        if (idx == TN_ERROR) {
            return TN_ERROR;
        }

        if (idx == TN_DECLINED) {
            if (add) {
                *reason = "too many keywords";
                return TN_DECLINED;
            }

            continue;
        }

        *mask |= (uint64_t) 1 << idx;
    }

    return TN_OK;
}


static void
tn_store_imsg_row(sqlite3_stmt *stmt, tn_store_imsg_t *m)
{
    m->uid = (uint32_t) sqlite3_column_int64(stmt, 0);
    m->flags = tn_store_flags_parse(sqlite3_column_text(stmt, 1),
                                    sqlite3_column_bytes(stmt, 1));
    m->keywords = (uint64_t) sqlite3_column_int64(stmt, 2);
    m->modseq = sqlite3_column_int64(stmt, 3);
    m->vsize = sqlite3_column_int64(stmt, 4);
    m->internaldate = sqlite3_column_int64(stmt, 5);
}


static tn_int_t
tn_store_imsgs_read(sqlite3_stmt *stmt, tn_pool_t *pool, tn_uint_t recent,
    tn_store_imsg_t **msgs, tn_uint_t *n)
{
    int               rc;
    tn_array_t       *a;
    tn_store_imsg_t  *m;

    a = tn_array_create(pool, 64, sizeof(tn_store_imsg_t));
    if (a == NULL) {
        return TN_ERROR;
    }

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        m = tn_array_push(a);
        if (m == NULL) {
            return TN_ERROR;
        }

        tn_store_imsg_row(stmt, m);

        /* EXAMINE: what is in new/ is \Recent and stays there */
        if (recent && sqlite3_column_int(stmt, 6)) {
            m->flags |= TN_STORE_F_RECENT;
        }
    }

    if (rc != SQLITE_DONE) {
        return TN_ERROR;
    }

    *msgs = a->elts;
    *n = a->nelts;

    return TN_OK;
}


/*
 * SELECT, EXAMINE, and STATUS.
 */

tn_int_t
tn_store_mbox_sync(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_store_db_t **dbp, tn_store_mbox_ref_t *ref,
    tn_store_md_t *md, tn_store_mbox_row_t *mr, const char **reason,
    tn_log_t *log)
{
    int             rc;
    tn_int_t        ret;
    tn_array_t     *rows;
    tn_store_db_t  *db;

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    *dbp = db;

    ret = tn_store_mbox_find(conf, u, db, name, ref, reason, log);
    if (ret != TN_OK) {
        return ret;
    }

    ret = tn_store_md_open(md, conf, u, ref->dir, log);
    if (ret != TN_OK) {
        *reason = "no such mailbox";
        return ret;
    }

    mr->id = ref->id;

    rc = tn_store_sync_rows(md, db, mr, &rows);

    if (rc != SQLITE_OK) {
        tn_store_md_close(md);
        *reason = "no such mailbox";
        return (rc == SQLITE_NOTFOUND) ? TN_DECLINED : TN_ERROR;
    }

    return TN_OK;
}


tn_int_t
tn_store_info_set(tn_store_mbox_info_t *info, tn_store_mbox_ref_t *ref,
    tn_pool_t *pool)
{
    info->name.data = tn_pnalloc(pool, ref->name_len + 1);
    if (info->name.data == NULL) {
        return TN_ERROR;
    }

    *tn_cpymem(info->name.data, ref->name, ref->name_len) = '\0';
    info->name.len = ref->name_len;
    info->special = ref->special & 0xff;
    info->subscribed = ref->subscribed;

    return TN_OK;
}


tn_int_t
tn_store_mbox_open(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_uint_t readonly, tn_store_mbox_t *mb,
    const char **reason, tn_log_t *log)
{
    tn_int_t              ret;
    tn_store_md_t         md;
    tn_store_db_t        *db;
    tn_store_mbox_row_t   mr;
    tn_store_mbox_ref_t   ref;

    tn_memzero(mb, sizeof(tn_store_mbox_t));

    ret = tn_store_mbox_sync(conf, u, name, &db, &ref, &md, &mr, reason,
                             log);
    if (ret != TN_OK) {
        return ret;
    }

    mb->pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);

    if (mb->pool == NULL
        || tn_store_open_load(&md, db, &mr, readonly, mb) != TN_OK)
    {
        tn_store_md_close(&md);
        tn_store_mbox_free(mb);
        return TN_ERROR;
    }

    if (!readonly) {
        tn_store_open_recent(&md, db, &mr, mb);
    }

    tn_store_md_close(&md);

    if (tn_store_info_set(&mb->info, &ref, mb->pool) != TN_OK) {
        tn_store_mbox_free(mb);
        return TN_ERROR;
    }

    return TN_OK;
}


/* the rows, the keywords and the mailbox row as one snapshot */

static tn_int_t
tn_store_open_load(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_uint_t readonly, tn_store_mbox_t *mb)
{
    int                    rc;
    tn_int_t               ret;
    tn_uint_t              i;
    sqlite3_stmt          *stmt;
    tn_store_imsg_t       *m;
    tn_store_mbox_info_t  *info;

    rc = tn_store_db_exec(db, "BEGIN", md->log);
    if (rc != SQLITE_OK) {
        tn_store_db_log(db, md->log, rc, "BEGIN");
        return TN_ERROR;
    }

    ret = TN_ERROR;

    if (tn_store_mbox_row_read(md, db, mr) != SQLITE_OK
        || tn_store_kw_load(db, mr->id, mb->pool, mb->keywords,
                            &mb->nkeywords, md->log)
           != TN_OK)
    {
        goto done;
    }

    stmt = tn_store_db_stmt(db, tn_store_msgs_sql, md->log);
    if (stmt == NULL) {
        goto done;
    }

    sqlite3_bind_int64(stmt, 1, mr->id);

    if (tn_store_imsgs_read(stmt, mb->pool, readonly, &mb->msgs, &mb->nmsgs)
        != TN_OK)
    {
        tn_store_db_log(db, md->log, sqlite3_errcode(db->db),
                        "reading the messages");
        sqlite3_reset(stmt);
        goto done;
    }

    sqlite3_reset(stmt);

    info = &mb->info;
    info->id = mr->id;
    info->uidvalidity = mr->uidvalidity;
    info->uidnext = mr->uidnext;
    info->highestmodseq = mr->highestmodseq;
    info->messages = mb->nmsgs;

    for (i = 0; i < mb->nmsgs; i++) {
        m = &mb->msgs[i];

        info->unseen += !(m->flags & TN_STORE_F_SEEN);
        info->recent += !!(m->flags & TN_STORE_F_RECENT);
        info->deleted += !!(m->flags & TN_STORE_F_DELETED);
        info->size += m->vsize;
    }

    ret = TN_OK;

done:

    tn_store_db_rollback(db, md->log);

    return ret;
}


/*
 * SELECT: the messages whose file is in new/ move to cur/ (with the
 * flags of the index in their names) and are \Recent to this session
 * only.  Another session that moved one first has it.
 */

static void
tn_store_open_recent(tn_store_md_t *md, tn_store_db_t *db,
    tn_store_mbox_row_t *mr, tn_store_mbox_t *mb)
{
    int               rc;
    u_char           *p;
    tn_uint_t         i, moved;
    sqlite3_stmt     *stmt;
    tn_store_imsg_t  *m;
    tn_store_file_t  *f;
    u_char            name[NAME_MAX + 1];

    f = md->files->elts;
    moved = 0;

    for (i = 0; i < md->files->nelts; i++) {
        if (f[i].cur || f[i].dup || f[i].gone || f[i].uid == 0) {
            continue;
        }

        m = tn_store_imsg_find(mb->msgs, mb->nmsgs, f[i].uid);

        if (m == NULL || f[i].base_len + 4 + TN_STORE_FLAGS_LEN > NAME_MAX) {
            continue;
        }

        p = tn_cpymem(name, f[i].name, f[i].base_len);
        p = tn_cpymem(p, ":2,", 3);
        (void) tn_store_flags_letters(p, m->flags);

        if (renameat(md->fds[2], (char *) f[i].name, md->fds[3],
                     (char *) name)
            == -1)
        {
            f[i].uid = 0;
            continue;
        }

        m->flags |= TN_STORE_F_RECENT;
        mb->info.recent++;
        moved++;
    }

    /* a lost update is put right by the next sync: the files moved */

    if (moved == 0 || tn_store_db_begin(db, md->log) != SQLITE_OK) {
        return;
    }

    for (i = 0; i < md->files->nelts; i++) {
        if (f[i].cur || f[i].dup || f[i].gone || f[i].uid == 0) {
            continue;
        }

        stmt = tn_store_db_stmt(db, tn_store_not_new_sql, md->log);
        if (stmt == NULL) {
            break;
        }

        sqlite3_bind_int64(stmt, 1, mr->id);
        sqlite3_bind_int64(stmt, 2, f[i].uid);

        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);

        if (rc != SQLITE_DONE) {
            tn_store_db_log(db, md->log, rc, "updating the index");
            tn_store_db_rollback(db, md->log);
            return;
        }
    }

    (void) tn_store_db_commit(db, md->log);
}


static tn_store_imsg_t *
tn_store_imsg_find(tn_store_imsg_t *msgs, tn_uint_t n, uint32_t uid)
{
    tn_uint_t  lo, hi, mid;

    lo = 0;
    hi = n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (msgs[mid].uid == uid) {
            return &msgs[mid];
        }

        if (msgs[mid].uid < uid) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


void
tn_store_mbox_free(tn_store_mbox_t *mb)
{
    if (mb->pool) {
        tn_destroy_pool(mb->pool);
    }

    tn_memzero(mb, sizeof(tn_store_mbox_t));
}


/*
 * The changes since a MODSEQ.
 */

tn_int_t
tn_store_mbox_changes(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint64_t since, tn_pool_t *pool, tn_store_changes_t *c,
    tn_log_t *log)
{
    int                   rc;
    tn_int_t              ret;
    uint64_t              pruned;
    tn_array_t           *a;
    sqlite3_stmt         *stmt;
    tn_store_db_t        *db;
    tn_store_mbox_ref_t   ref;

    tn_memzero(c, sizeof(tn_store_changes_t));

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    rc = tn_store_db_exec(db, "BEGIN", log);
    if (rc != SQLITE_OK) {
        tn_store_db_log(db, log, rc, "BEGIN");
        return TN_ERROR;
    }

    ret = tn_store_mbox_by_id(db, id, &ref, &pruned, log);

    if (ret != TN_OK) {
        c->gone = (ret == TN_DECLINED);
        ret = (ret == TN_DECLINED) ? TN_OK : TN_ERROR;
        goto done;
    }

    ret = TN_ERROR;

    c->uidvalidity = ref.uidvalidity;
    c->uidnext = ref.uidnext;
    c->highestmodseq = ref.highestmodseq;

    /* the expunges since then are not all known: every row is sent */
    if (since < pruned) {
        since = 0;
        c->pruned = 1;
    }

    if (tn_store_kw_load(db, id, pool, c->keywords, &c->nkeywords, log)
        != TN_OK)
    {
        goto done;
    }

    stmt = tn_store_db_stmt(db, tn_store_changed_sql, log);
    if (stmt == NULL) {
        goto done;
    }

    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, since);

    rc = tn_store_imsgs_read(stmt, pool, 0, &c->changed, &c->nchanged);
    sqlite3_reset(stmt);

    if (rc != TN_OK || since == 0) {
        ret = rc;
        goto done;
    }

    a = tn_array_create(pool, 16, sizeof(uint32_t));
    stmt = tn_store_db_stmt(db, tn_store_expunged_since_sql, log);

    if (a == NULL || stmt == NULL) {
        goto done;
    }

    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, since);

    if (tn_store_uids_read(db, stmt, a, "reading expunges", log) != TN_OK) {
        goto done;
    }

    c->expunged = a->elts;
    c->nexpunged = a->nelts;

    ret = TN_OK;

done:

    tn_store_db_rollback(db, log);

    return ret;
}


/*
 * STORE.
 */

tn_int_t
tn_store_mbox_store(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint32_t *uids, tn_uint_t n, tn_store_flag_op_t *op,
    tn_pool_t *pool, tn_store_imsg_t **out, tn_uint_t *nout,
    uint32_t **failed, tn_uint_t *nfailed, const char **reason,
    tn_log_t *log)
{
    tn_int_t              ret;
    tn_uint_t             i;
    tn_array_t           *a, *f, *renames;
    tn_store_md_t         md;
    tn_store_db_t        *db;
    tn_store_reflag_t    *r;
    tn_store_mbox_ref_t   ref;

    *nout = 0;
    *nfailed = 0;

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    a = tn_array_create(pool, n ? n : 1, sizeof(tn_store_imsg_t));
    f = tn_array_create(pool, 4, sizeof(uint32_t));
    renames = tn_array_create(pool, n ? n : 1, sizeof(tn_store_reflag_t));

    if (a == NULL || f == NULL || renames == NULL) {
        return TN_ERROR;
    }

    ret = tn_store_store_tx(db, id, uids, n, op, pool, a, f, renames, reason,
                            log);
    if (ret != TN_OK && ret != TN_DONE) {
        return ret;
    }

    *out = a->elts;
    *nout = a->nelts;
    *failed = f->elts;
    *nfailed = f->nelts;

    if (ret == TN_DONE) {
        /* nothing changed */
        return TN_OK;
    }

    tn_store_notify(u);

    if (renames->nelts == 0) {
        return TN_OK;
    }

    /* the names follow the flags: best effort, after the commit */

    if (tn_store_mbox_by_id(db, id, &ref, NULL, log) != TN_OK
        || tn_store_md_open(&md, conf, u, ref.dir, log) != TN_OK)
    {
        return TN_OK;
    }

    r = renames->elts;

    for (i = 0; i < renames->nelts; i++) {
        tn_store_reflag(&md, &r[i]);
    }

    tn_store_md_close(&md);

    return TN_OK;
}


/* one transaction; TN_DONE: nothing changed */

static tn_int_t
tn_store_store_tx(tn_store_db_t *db, int64_t id, uint32_t *uids,
    tn_uint_t n, tn_store_flag_op_t *op, tn_pool_t *pool, tn_array_t *out,
    tn_array_t *failed, tn_array_t *renames, const char **reason,
    tn_log_t *log)
{
    int                   rc;
    tn_int_t              ret;
    uint64_t              mask;
    tn_uint_t             i, nkw;
    tn_store_mbox_ref_t   ref;
    tn_store_mbox_row_t   mr;
    tn_str_t              kw[TN_STORE_KEYWORDS_MAX];

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        return TN_ERROR;
    }

    ret = tn_store_mbox_by_id(db, id, &ref, NULL, log);
    if (ret != TN_OK) {
        *reason = "no such mailbox";
        goto failed;
    }

    mr.id = id;
    mr.uidvalidity = ref.uidvalidity;
    mr.uidnext = ref.uidnext;
    mr.highestmodseq = ref.highestmodseq;

    ret = tn_store_kw_load(db, id, pool, kw, &nkw, log);

    if (ret == TN_OK) {
        ret = tn_store_kw_mask(db, id, pool, kw, &nkw, op->kw, op->nkw,
                               op->op != TN_STORE_FLAGS_REMOVE, &mask,
                               reason, log);
    }

    if (ret != TN_OK) {
        goto failed;
    }

    for (i = 0; i < n; i++) {
        ret = tn_store_store_one(db, id, uids[i], op, mask, &mr, pool, out,
                                 failed, renames, log);
        if (ret != TN_OK) {
            goto failed;
        }
    }

    if ((uint64_t) mr.highestmodseq != ref.highestmodseq
        && tn_store_inbox_put(db, &mr, &rc, log) != TN_OK)
    {
        ret = TN_ERROR;
        goto failed;
    }

    if (tn_store_db_commit(db, log) != SQLITE_OK) {
        return TN_ERROR;
    }

    return ((uint64_t) mr.highestmodseq == ref.highestmodseq) ? TN_DONE
                                                             : TN_OK;

failed:

    tn_store_db_rollback(db, log);
    return ret;
}


static tn_int_t
tn_store_store_one(tn_store_db_t *db, int64_t id, uint32_t uid,
    tn_store_flag_op_t *op, uint64_t kwmask, tn_store_mbox_row_t *mr,
    tn_pool_t *pool, tn_array_t *out, tn_array_t *failed,
    tn_array_t *renames, tn_log_t *log)
{
    int                 rc;
    u_char             *p, letters[TN_STORE_FLAGS_LEN];
    size_t              len;
    uint32_t            flags, *fu, set;
    uint64_t            kw;
    sqlite3_stmt       *stmt;
    const u_char       *name;
    tn_store_imsg_t    *m;
    tn_store_reflag_t  *r;

    rc = tn_store_msg_step(db, tn_store_msg_sql, id, uid, &stmt, log);
    if (rc != TN_OK) {
        /* a uid not in the mailbox is skipped */
        return (rc == TN_DECLINED) ? TN_OK : TN_ERROR;
    }

    m = tn_array_push(out);
    if (m == NULL) {
        sqlite3_reset(stmt);
        return TN_ERROR;
    }

    tn_store_imsg_row(stmt, m);

    name = sqlite3_column_text(stmt, 7);
    len = sqlite3_column_bytes(stmt, 7);

    p = tn_pnalloc(pool, len + 1);
    if (p == NULL || name == NULL) {
        sqlite3_reset(stmt);
        return TN_ERROR;
    }

    *tn_cpymem(p, name, len) = '\0';

    sqlite3_reset(stmt);

    if (op->unchangedsince && m->modseq > op->unchangedsince) {
        fu = tn_array_push(failed);
        if (fu == NULL) {
            return TN_ERROR;
        }

        *fu = uid;
        return TN_OK;
    }

    set = op->flags & ~TN_STORE_F_RECENT;

    switch (op->op) {

    case TN_STORE_FLAGS_ADD:
        flags = m->flags | set;
        kw = m->keywords | kwmask;
        break;

    case TN_STORE_FLAGS_REMOVE:
        flags = m->flags & ~set;
        kw = m->keywords & ~kwmask;
        break;

    default:
        flags = set;
        kw = kwmask;
        break;
    }

    if (flags == m->flags && kw == m->keywords) {
        return TN_OK;
    }

    if (flags != m->flags) {
        r = tn_array_push(renames);
        if (r == NULL) {
            return TN_ERROR;
        }

        r->base = p;
        r->len = len;
        r->old = m->flags;
        r->flags = flags;
    }

    m->flags = flags;
    m->keywords = kw;
    m->modseq = ++mr->highestmodseq;

    stmt = tn_store_db_stmt(db, tn_store_flags_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    p = tn_store_flags_letters(letters, flags);

    sqlite3_bind_text(stmt, 1, (char *) letters, p - letters, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, (int64_t) kw);
    sqlite3_bind_int64(stmt, 3, m->modseq);
    sqlite3_bind_int64(stmt, 4, id);
    sqlite3_bind_int64(stmt, 5, uid);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "storing flags");
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * Finds the file of a message: cur/<base>:2,<flags>, new/<base>, or by
 * a scan.  name gets its name (NAME_MAX + 1), *cur where it is.
 * TN_DECLINED: no file.
 */

tn_int_t
tn_store_locate(tn_store_md_t *md, u_char *base, size_t len, uint32_t flags,
    u_char *name, tn_uint_t *cur)
{
    u_char           *p;
    struct stat       sb;
    tn_store_file_t  *f;
    u_char            canon[NAME_MAX + 1];

    if (tn_store_name_safe(base, len) != TN_OK
        || len + 4 + TN_STORE_FLAGS_LEN > NAME_MAX)
    {
        return TN_DECLINED;
    }

    p = tn_cpymem(name, base, len);
    p = tn_cpymem(p, ":2,", 3);
    (void) tn_store_flags_letters(p, flags);
    tn_memcpy(canon, name, NAME_MAX + 1);

    if (fstatat(md->fds[3], (char *) name, &sb, AT_SYMLINK_NOFOLLOW) == 0
        && S_ISREG(sb.st_mode))
    {
        *cur = 1;
        return TN_OK;
    }

    name[len] = '\0';

    if (fstatat(md->fds[2], (char *) name, &sb, AT_SYMLINK_NOFOLLOW) == 0
        && S_ISREG(sb.st_mode))
    {
        *cur = 0;
        return TN_OK;
    }

    if (!md->scanned && tn_store_md_scan(md) != TN_OK) {
        return TN_DECLINED;
    }

    f = tn_store_md_find(md, base, len);

    if (f == NULL || f->gone || f->len > NAME_MAX) {
        return TN_DECLINED;
    }

    tn_memcpy(name, f->name, f->len + 1);
    *cur = f->cur;

    /*
     * In cur/ under another name (flags in another order, other tools'
     * letters, a rename that failed): it gets the name the index says,
     * so that the next look finds it without a scan.
     */

    if (f->cur
        && renameat(md->fds[3], (char *) f->name, md->fds[3], (char *) canon)
           == 0)
    {
        tn_memcpy(name, canon, NAME_MAX + 1);
    }

    return TN_OK;
}


static void
tn_store_reflag(tn_store_md_t *md, tn_store_reflag_t *r)
{
    u_char     *p;
    tn_uint_t   cur;
    u_char      name[NAME_MAX + 1], to[NAME_MAX + 1];

    if (tn_store_locate(md, r->base, r->len, r->old, name, &cur) != TN_OK) {
        return;
    }

    /* the index holds the keywords: other tools' letters are not kept */

    p = tn_cpymem(to, r->base, r->len);
    p = tn_cpymem(p, ":2,", 3);
    (void) tn_store_flags_letters(p, r->flags);

    if (cur && strcmp((char *) name, (char *) to) == 0) {
        return;
    }

    if (renameat(md->fds[2 + cur], (char *) name, md->fds[3], (char *) to)
        == -1)
    {
        tn_log_error(TN_LOG_WARN, md->log, tn_errno,
                     "store: rename(\"%s/%s/%s\") failed, the index keeps "
                     "the flags", md->path, cur ? "cur" : "new", name);
    }
}


/*
 * EXPUNGE.
 */

tn_int_t
tn_store_mbox_expunge(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint32_t *uids, tn_uint_t n, tn_pool_t *pool,
    uint32_t **out, tn_uint_t *nout, tn_log_t *log)
{
    int                   rc;
    tn_int_t              ret;
    uint32_t              uid, *v;
    tn_uint_t             i, j, k;
    tn_array_t           *a;
    sqlite3_stmt         *stmt;
    tn_store_md_t         md;
    tn_store_db_t        *db;
    tn_store_mbox_ref_t   ref;
    tn_store_mbox_row_t   mr;
    u_char              **names;

    *nout = 0;

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    ret = tn_store_mbox_by_id(db, id, &ref, NULL, log);
    if (ret != TN_OK) {
        return (ret == TN_DECLINED) ? TN_OK : TN_ERROR;
    }

    a = tn_array_create(pool, 16, sizeof(uint32_t));
    stmt = tn_store_db_stmt(db, tn_store_deleted_sql, log);

    if (a == NULL || stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, id);

    /* the \Deleted ones, and of those the uids asked for (both sorted) */

    j = 0;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        uid = (uint32_t) sqlite3_column_int64(stmt, 0);

        if (uids) {
            while (j < n && uids[j] < uid) {
                j++;
            }

            if (j == n || uids[j] != uid) {
                continue;
            }
        }

        v = tn_array_push(a);
        if (v == NULL) {
            break;
        }

        *v = uid;
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "reading the messages");
        return TN_ERROR;
    }

    if (a->nelts == 0) {
        *out = a->elts;
        return TN_OK;
    }

    ret = tn_store_md_open(&md, conf, u, ref.dir, log);
    if (ret != TN_OK) {
        return (ret == TN_DECLINED) ? TN_OK : TN_ERROR;
    }

    names = tn_pcalloc(md.pool, a->nelts * sizeof(u_char *));
    if (names == NULL) {
        tn_store_md_close(&md);
        return TN_ERROR;
    }

    mr.id = id;

    /* a candidate list: what is still \Deleted is decided under the lock */

    ret = tn_store_expunge_uids(&md, db, &mr, a->elts, a->nelts, names, 1);

    v = a->elts;

    for (i = 0, k = 0; i < a->nelts; i++) {
        if (names[i]) {
            v[k++] = v[i];
        }
    }

    tn_store_md_close(&md);

    *out = v;
    *nout = k;

    return ret;
}
