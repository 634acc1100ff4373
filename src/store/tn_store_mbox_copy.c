
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_mbox.h>
#include <tn_mail_imap_msg.h>


/*
 * COPY, MOVE and APPEND (new files linked or copied into tmp/, renamed
 * into cur/ with their flags, synced, then the rows), the message file
 * and its header cache, and the quota.
 */


/* one message of a COPY */
typedef struct {
    uint32_t             uid;
    uint32_t             newuid;
    uint32_t             flags;
    uint64_t             keywords;
    off_t                size;
    u_char               name[NAME_MAX + 1];   /* in the target's cur/ */
    size_t               base_len;
} tn_store_copy_t;


static tn_int_t tn_store_link_in(tn_store_conf_t *conf, tn_store_md_t *md,
    tn_fd_t srcdir, const char *srcname, const char *srcpath, off_t size,
    off_t vsize, uint32_t flags, u_char *name, size_t *base_len,
    tn_log_t *log);
static tn_int_t tn_store_copy_files(tn_store_conf_t *conf,
    tn_store_md_t *smd, tn_store_md_t *tmd, tn_store_db_t *db, int64_t id,
    uint32_t *uids, tn_uint_t n, tn_array_t *copies, tn_log_t *log);
static tn_int_t tn_store_copy_tx(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_store_md_t *tmd, tn_store_db_t *db, int64_t id, tn_uint_t move,
    tn_array_t *copies, tn_pool_t *pool, tn_store_mbox_row_t *tmr,
    const char **reason, tn_log_t *log);
static void tn_store_unlink_new(tn_store_md_t *md, tn_array_t *copies);
static tn_int_t tn_store_append_tx(tn_store_conf_t *conf,
    tn_store_user_t *u, tn_store_md_t *md, tn_store_db_t *db, int64_t id,
    tn_store_append_t *a, tn_store_copy_t *c, tn_store_cache_t *cache,
    tn_pool_t *pool, const char **reason, tn_log_t *log);
static tn_int_t tn_store_cache_copy(tn_store_db_t *db, int64_t to,
    int64_t from, tn_log_t *log);
static tn_int_t tn_store_cache_table(tn_store_db_t *db, tn_uint_t t,
    int64_t id, uint32_t *uids, tn_uint_t n, tn_uint_t cols,
    tn_pool_t *pool, tn_store_cache_t *caches, u_char *found,
    tn_log_t *log);
static void tn_store_cache_row(sqlite3_stmt *stmt, tn_uint_t t,
    tn_pool_t *pool, tn_store_cache_t *c);
static void tn_store_cache_str(sqlite3_stmt *stmt, int col, tn_pool_t *pool,
    tn_str_t *s);
static tn_int_t tn_store_cache_make(tn_store_db_t *db, int64_t id,
    uint32_t uid, const char *path, tn_pool_t *pool, tn_store_cache_t *c,
    tn_log_t *log);
static tn_int_t tn_store_messages_run(tn_store_db_t *db, int64_t id,
    uint32_t *uids, tn_uint_t n, tn_uint_t cols, tn_pool_t *pool,
    tn_store_cache_t *caches, u_char *found, tn_log_t *log);


static const char  tn_store_copy_src_sql[] =
    "SELECT filename, flags, keywords, size, vsize FROM messages"
    " WHERE mailbox_id = ?1 AND uid = ?2";

static const char  tn_store_copy_sql[] =
    "INSERT INTO messages (mailbox_id, uid, filename, size, vsize,"
    " internaldate, flags, keywords, modseq, in_new)"
    " SELECT ?1, ?2, ?3, size, vsize, internaldate, flags, ?4, ?5, 0"
    " FROM messages WHERE mailbox_id = ?6 AND uid = ?7";

static const char  tn_store_append_sql[] =
    "INSERT INTO messages (mailbox_id, uid, filename, size, vsize,"
    " internaldate, flags, keywords, modseq, in_new)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)";

static const char  tn_store_path_sql[] =
    "SELECT m.filename, m.flags, b.dir"
    " FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
    " WHERE m.mailbox_id = ?1 AND m.uid = ?2";

/*
 * The header cache of schema 3 (see tn_store_db.c): three tables keyed
 * by TN_STORE_CACHE_KEY(mailbox id, uid), and a batch reads only those
 * that hold a column it wants.  Within a table the columns not wanted
 * (?3, the TN_STORE_COL_* bits) are NULL and not read from the row.
 */
#define TN_STORE_CACHE_KEY(id, uid)                                          \
    ((int64_t) (((uint64_t) (id) << 32) | (uint32_t) (uid)))

#define TN_STORE_COL_KEYS                                                    \
    (TN_STORE_COL_FROM|TN_STORE_COL_TO|TN_STORE_COL_CC|TN_STORE_COL_BCC     \
     |TN_STORE_COL_SUBJECT|TN_STORE_COL_SORT_FROM|TN_STORE_COL_SORT_TO     \
     |TN_STORE_COL_SORT_CC|TN_STORE_COL_SORT_SUBJECT|TN_STORE_COL_DATE)
#define TN_STORE_COL_PARTS                                                   \
    (TN_STORE_COL_ENVELOPE|TN_STORE_COL_BODYSTRUCTURE|TN_STORE_COL_BODY)

#define TN_STORE_CACHE_TABLES   3

static const char  tn_store_keys_sql[] =
    "SELECT id,"
    " CASE WHEN ?3 & 16 THEN from_ END,"
    " CASE WHEN ?3 & 32 THEN to_ END,"
    " CASE WHEN ?3 & 64 THEN cc END,"
    " CASE WHEN ?3 & 128 THEN bcc END,"
    " CASE WHEN ?3 & 256 THEN subject END,"
    " CASE WHEN ?3 & 512 THEN sort_from END,"
    " CASE WHEN ?3 & 1024 THEN sort_to END,"
    " CASE WHEN ?3 & 2048 THEN sort_cc END,"
    " CASE WHEN ?3 & 4096 THEN sort_subject END,"
    " CASE WHEN ?3 & 8192 THEN sent_date END,"
    " CASE WHEN ?3 & 8192 THEN sent_tz ELSE 0 END"
    " FROM msg_keys WHERE id BETWEEN ?1 AND ?2";

static const char  tn_store_parts_sql[] =
    "SELECT id,"
    " CASE WHEN ?3 & 2 THEN envelope END,"
    " CASE WHEN ?3 & 4 THEN bodystructure END,"
    " CASE WHEN ?3 & 8 THEN body END"
    " FROM msg_cache WHERE id BETWEEN ?1 AND ?2";

static const char  tn_store_header_sql[] =
    "SELECT id, cached, CASE WHEN ?3 & 1 THEN header END"
    " FROM msg_header WHERE id BETWEEN ?1 AND ?2";

/* uids further apart than this start a new run (and statement) */
#define TN_STORE_RUN_GAP  32

/*
 * Writing a cache: the parameters of tn_store_cache_bind() (?1 cached,
 * ?2 header, ?3 envelope, ..., ?16 sent_tz), ?17 the key.
 */
static const char  tn_store_keys_put_sql[] =
    "INSERT OR REPLACE INTO msg_keys (id, from_, to_, cc, bcc, subject,"
    " sort_from, sort_to, sort_cc, sort_subject, sent_date, sent_tz)"
    " VALUES (?17, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

static const char  tn_store_parts_put_sql[] =
    "INSERT OR REPLACE INTO msg_cache (id, envelope, bodystructure, body)"
    " VALUES (?17, ?3, ?4, ?5)";

static const char  tn_store_header_put_sql[] =
    "INSERT OR REPLACE INTO msg_header (id, cached, header)"
    " VALUES (?17, ?1, ?2)";

/* a COPY's cache: ?1 the new key, ?2 the source's */
static const char  tn_store_keys_copy_sql[] =
    "INSERT OR REPLACE INTO msg_keys SELECT ?1, from_, to_, cc, bcc,"
    " subject, sort_from, sort_to, sort_cc, sort_subject, sent_date, sent_tz"
    " FROM msg_keys WHERE id = ?2";

static const char  tn_store_parts_copy_sql[] =
    "INSERT OR REPLACE INTO msg_cache SELECT ?1, envelope, bodystructure,"
    " body FROM msg_cache WHERE id = ?2";

static const char  tn_store_header_copy_sql[] =
    "INSERT OR REPLACE INTO msg_header SELECT ?1, cached, header"
    " FROM msg_header WHERE id = ?2";

static const char  tn_store_usage_sql[] =
    "SELECT coalesce(sum(size), 0), count(*) FROM messages";


/*
 * COPY, MOVE.
 */

tn_int_t
tn_store_mbox_copy(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint32_t *uids, tn_uint_t n, tn_str_t *to, tn_uint_t move,
    tn_pool_t *pool, uint32_t **src, uint32_t **dst, tn_uint_t *nout,
    uint32_t *uidvalidity, const char **reason, tn_log_t *log)
{
    tn_int_t              ret;
    tn_uint_t             i;
    tn_array_t           *copies;
    tn_store_md_t         smd, tmd;
    tn_store_db_t        *db;
    tn_store_copy_t      *c;
    tn_store_mbox_ref_t   sref, tref;
    tn_store_mbox_row_t   tmr, smr;
    u_char              **names;

    *nout = 0;

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    ret = tn_store_mbox_by_id(db, id, &sref, NULL, log);
    if (ret != TN_OK) {
        *reason = "the mailbox was deleted";
        return ret;
    }

    ret = tn_store_mbox_find(conf, u, db, to, &tref, reason, log);
    if (ret != TN_OK) {
        return ret;
    }

    ret = tn_store_md_open(&smd, conf, u, sref.dir, log);
    if (ret != TN_OK) {
        *reason = "the mailbox was deleted";
        return ret;
    }

    ret = tn_store_md_open(&tmd, conf, u, tref.dir, log);
    if (ret != TN_OK) {
        tn_store_md_close(&smd);
        *reason = "no such mailbox";
        return ret;
    }

    copies = tn_array_create(pool, n ? n : 1, sizeof(tn_store_copy_t));

    ret = TN_ERROR;

    if (copies == NULL
        || tn_store_copy_files(conf, &smd, &tmd, db, id, uids, n, copies, log)
           != TN_OK)
    {
        tn_store_unlink_new(&tmd, copies);
        goto done;
    }

    tmr.id = tref.id;

    ret = tn_store_copy_tx(conf, u, &tmd, db, id, move, copies, pool, &tmr,
                           reason, log);
    if (ret != TN_OK) {
        tn_store_unlink_new(&tmd, copies);
        goto done;
    }

    *uidvalidity = tmr.uidvalidity;
    *nout = copies->nelts;
    *src = tn_palloc(pool, (copies->nelts + 1) * sizeof(uint32_t));
    *dst = tn_palloc(pool, (copies->nelts + 1) * sizeof(uint32_t));
    names = tn_pcalloc(smd.pool, (copies->nelts + 1) * sizeof(u_char *));

    if (*src == NULL || *dst == NULL || names == NULL) {
        ret = TN_ERROR;
        goto done;
    }

    c = copies->elts;

    for (i = 0; i < copies->nelts; i++) {
        (*src)[i] = c[i].uid;
        (*dst)[i] = c[i].newuid;
    }

    if (move && copies->nelts) {
        /* RFC 6851: the copies are durable; now the originals go */
        smr.id = id;
        ret = tn_store_expunge_uids(&smd, db, &smr, *src, copies->nelts,
                                    names, 0);
    }

done:

    tn_store_md_close(&smd);
    tn_store_md_close(&tmd);

    return ret;
}


/* links (or copies) the files into the target's cur/, then syncs it */

static tn_int_t
tn_store_copy_files(tn_store_conf_t *conf, tn_store_md_t *smd,
    tn_store_md_t *tmd, tn_store_db_t *db, int64_t id, uint32_t *uids,
    tn_uint_t n, tn_array_t *copies, tn_log_t *log)
{
    int               rc;
    u_char           *base;
    size_t            len;
    off_t             vsize;
    tn_uint_t         i, cur;
    sqlite3_stmt     *stmt;
    tn_store_copy_t  *c;
    u_char            name[NAME_MAX + 1];

    for (i = 0; i < n; i++) {
        stmt = tn_store_db_stmt(db, tn_store_copy_src_sql, log);
        if (stmt == NULL) {
            return TN_ERROR;
        }

        sqlite3_bind_int64(stmt, 1, id);
        sqlite3_bind_int64(stmt, 2, uids[i]);

        rc = sqlite3_step(stmt);

        if (rc != SQLITE_ROW) {
            sqlite3_reset(stmt);

            if (rc == SQLITE_DONE) {
                continue;
            }

            tn_store_db_log(db, log, rc, "reading a message");
            return TN_ERROR;
        }

        c = tn_array_push(copies);
        if (c == NULL) {
            sqlite3_reset(stmt);
            return TN_ERROR;
        }

        tn_memzero(c, sizeof(tn_store_copy_t));

        len = sqlite3_column_bytes(stmt, 0);
        base = tn_pnalloc(smd->pool, len + 1);

        if (base == NULL || sqlite3_column_text(stmt, 0) == NULL) {
            sqlite3_reset(stmt);
            copies->nelts--;
            return TN_ERROR;
        }

        *tn_cpymem(base, sqlite3_column_text(stmt, 0), len) = '\0';

        c->uid = uids[i];
        c->flags = tn_store_flags_parse(sqlite3_column_text(stmt, 1),
                                        sqlite3_column_bytes(stmt, 1));
        c->keywords = (uint64_t) sqlite3_column_int64(stmt, 2);
        c->size = sqlite3_column_int64(stmt, 3);
        vsize = sqlite3_column_int64(stmt, 4);

        sqlite3_reset(stmt);

        /* a message expunged meanwhile is skipped */

        if (tn_store_locate(smd, base, len, c->flags, name, &cur) != TN_OK) {
            copies->nelts--;
            continue;
        }

        if (tn_store_link_in(conf, tmd, smd->fds[2 + cur], (char *) name,
                             NULL, c->size, vsize, c->flags, c->name,
                             &c->base_len, log)
            != TN_OK)
        {
            copies->nelts--;

            if (errno == TN_ENOENT) {
                continue;
            }

            return TN_ERROR;
        }
    }

    if (copies->nelts
        && (tn_store_fsync_fd(tmd->fds[3]) != TN_OK
            || tn_store_fsync_fd(tmd->fds[1]) != TN_OK))
    {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: fsync(\"%s/cur\") failed", tmd->path);
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * A new file in md's tmp/ (a hard link of srcname in srcdir, or of
 * srcpath; a synced copy across file systems), renamed into cur/ with
 * its flags.  name gets the name in cur/, *base_len its base.  TN_ERROR
 * with errno set (ENOENT: the source is gone).
 */

static tn_int_t
tn_store_link_in(tn_store_conf_t *conf, tn_store_md_t *md, tn_fd_t srcdir,
    const char *srcname, const char *srcpath, off_t size, off_t vsize,
    uint32_t flags, u_char *name, size_t *base_len, tn_log_t *log)
{
    int        rc;
    u_char    *p;
    size_t     len;
    tn_fd_t    fd;
    tn_err_t   err;
    tn_uint_t  try;
    u_char     tmp[NAME_MAX + 1];

    for (try = 0; try < 10; try++) {
        len = tn_store_make_name(conf, tmp, size, vsize);

        rc = srcpath ? linkat(AT_FDCWD, srcpath, md->fds[1], (char *) tmp, 0)
                     : linkat(srcdir, srcname, md->fds[1], (char *) tmp, 0);

        if (rc == 0) {
            break;
        }

        if (errno == TN_EEXIST) {
            continue;
        }

        if (errno != TN_EXDEV && errno != TN_EPERM && errno != EMLINK) {
            goto failed;
        }

        fd = srcpath ? open(srcpath, O_RDONLY|O_NOFOLLOW|O_CLOEXEC)
                     : openat(srcdir, srcname, O_RDONLY|O_NOFOLLOW|O_CLOEXEC);
        if (fd == -1) {
            goto failed;
        }

        rc = tn_store_copy_synced(fd, md->fds[1], (char *) tmp, size);
        err = errno;
        close(fd);
        errno = err;

        if (rc == TN_OK) {
            break;
        }

        if (errno != TN_EEXIST) {
            goto failed;
        }
    }

    if (try == 10 || len + 4 + TN_STORE_FLAGS_LEN > NAME_MAX) {
        errno = TN_EEXIST;
        goto failed;
    }

    p = tn_cpymem(name, tmp, len);
    p = tn_cpymem(p, ":2,", 3);
    (void) tn_store_flags_letters(p, flags);

    if (renameat(md->fds[1], (char *) tmp, md->fds[3], (char *) name) == -1) {
        err = errno;
        (void) unlinkat(md->fds[1], (char *) tmp, 0);
        errno = err;
        goto failed;
    }

    *base_len = len;

    return TN_OK;

failed:

    err = errno;

    if (err != TN_ENOENT) {
        tn_log_error(TN_LOG_ERR, log, err,
                     "store: adding a message to \"%s\" failed", md->path);
    }

    errno = err;

    return TN_ERROR;
}


static tn_int_t
tn_store_copy_tx(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_store_md_t *tmd, tn_store_db_t *db, int64_t id, tn_uint_t move,
    tn_array_t *copies, tn_pool_t *pool, tn_store_mbox_row_t *tmr,
    const char **reason, tn_log_t *log)
{
    int               rc;
    off_t             total;
    tn_int_t          ret, idx;
    uint64_t          kw;
    tn_uint_t         i, b, nskw, ntkw;
    sqlite3_stmt     *stmt;
    tn_store_copy_t  *c;
    tn_str_t          skw[TN_STORE_KEYWORDS_MAX], tkw[TN_STORE_KEYWORDS_MAX];

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        return TN_ERROR;
    }

    ret = TN_ERROR;
    c = copies->elts;

    rc = tn_store_mbox_row_read(tmd, db, tmr);
    if (rc != SQLITE_OK) {
        *reason = "no such mailbox";
        ret = (rc == SQLITE_NOTFOUND) ? TN_DECLINED : TN_ERROR;
        goto failed;
    }

    for (total = 0, i = 0; i < copies->nelts; i++) {
        total += c[i].size;
    }

    /* a MOVE adds nothing to what the user holds */
    if (!move && copies->nelts) {
        ret = tn_store_quota_tx(conf, db, u, total, log);
        if (ret != TN_OK) {
            *reason = "over quota";
            goto failed;
        }

        ret = TN_ERROR;
    }

    if (tn_store_kw_load(db, id, pool, skw, &nskw, log) != TN_OK
        || tn_store_kw_load(db, tmr->id, pool, tkw, &ntkw, log) != TN_OK)
    {
        goto failed;
    }

    for (i = 0; i < copies->nelts; i++) {

        /* keywords by name; one the target has no room for is dropped */

        for (kw = 0, b = 0; b < nskw; b++) {
            if (!(c[i].keywords & ((uint64_t) 1 << b))) {
                continue;
            }

            idx = tn_store_kw_index(db, tmr->id, pool, tkw, &ntkw, &skw[b], 1,
                                    log);
            if (idx == TN_ERROR) {
                goto failed;
            }

            if (idx >= 0) {
                kw |= (uint64_t) 1 << idx;
            }
        }

        if (tmr->uidnext == UINT32_MAX) {
            goto failed;
        }

        c[i].newuid = tmr->uidnext++;

        stmt = tn_store_db_stmt(db, tn_store_copy_sql, log);
        if (stmt == NULL) {
            goto failed;
        }

        sqlite3_bind_int64(stmt, 1, tmr->id);
        sqlite3_bind_int64(stmt, 2, c[i].newuid);
        sqlite3_bind_text(stmt, 3, (char *) c[i].name, c[i].base_len,
                          SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, (int64_t) kw);
        sqlite3_bind_int64(stmt, 5, ++tmr->highestmodseq);
        sqlite3_bind_int64(stmt, 6, id);
        sqlite3_bind_int64(stmt, 7, c[i].uid);

        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);

        if (rc != SQLITE_DONE) {
            tn_store_db_log(db, log, rc, "copying a message");
            goto failed;
        }

        if (tn_store_cache_copy(db, TN_STORE_CACHE_KEY(tmr->id, c[i].newuid),
                                TN_STORE_CACHE_KEY(id, c[i].uid), log)
            != TN_OK)
        {
            goto failed;
        }
    }

    return tn_store_mbox_commit(db, tmr, u, log);

failed:

    tn_store_db_rollback(db, log);
    return ret;
}


static void
tn_store_unlink_new(tn_store_md_t *md, tn_array_t *copies)
{
    tn_uint_t         i;
    tn_store_copy_t  *c;

    if (copies == NULL || copies->nelts == 0) {
        return;
    }

    c = copies->elts;

    for (i = 0; i < copies->nelts; i++) {
        (void) unlinkat(md->fds[3], (char *) c[i].name, 0);
    }

    (void) tn_store_fsync_fd(md->fds[3]);
}


/*
 * APPEND.
 */

tn_int_t
tn_store_mbox_append(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_str_t *name, tn_store_append_t *a, const char **reason,
    tn_log_t *log)
{
    tn_int_t              ret;
    tn_fd_t               fd;
    tn_pool_t            *pool;
    struct stat           sb;
    tn_store_md_t         md;
    tn_store_db_t        *db;
    tn_store_copy_t       c;
    tn_store_cache_t     *cache;
    tn_store_mbox_ref_t   ref;

    a->err = 0;
    md.pool = NULL;
    fd = TN_INVALID_FILE;
    ret = TN_ERROR;

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        goto done;
    }

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        goto done;
    }

    ret = tn_store_mbox_find(conf, u, db, name, &ref, reason, log);
    if (ret != TN_OK) {
        goto done;
    }

    ret = TN_ERROR;

    fd = open(a->spool_path, O_RDONLY|O_NOFOLLOW|O_CLOEXEC);

    if (fd == -1 || fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)
        || fsync(fd) == -1)
    {
        /* R5: a failed fsync() is never retried */
        a->err = tn_errno ? tn_errno : EIO;
        tn_log_error(TN_LOG_ERR, log, a->err,
                     "store: spool file \"%s\" is unusable", a->spool_path);
        goto done;
    }

    a->size = sb.st_size;

    cache = tn_pcalloc(pool, sizeof(tn_store_cache_t));
    if (cache && tn_mail_imap_msg_cache(pool, fd, cache, log) != TN_OK) {
        cache = NULL;
    }

    ret = tn_store_md_open(&md, conf, u, ref.dir, log);
    if (ret != TN_OK) {
        *reason = "no such mailbox";
        md.pool = NULL;
        goto done;
    }

    ret = TN_ERROR;
    tn_memzero(&c, sizeof(tn_store_copy_t));
    c.flags = a->flags & ~TN_STORE_F_RECENT;

    if (tn_store_link_in(conf, &md, TN_INVALID_FILE, NULL, a->spool_path,
                         a->size, a->vsize, c.flags, c.name, &c.base_len, log)
        != TN_OK)
    {
        a->err = tn_errno;
        goto done;
    }

    if (tn_store_fsync_fd(md.fds[3]) != TN_OK
        || tn_store_fsync_fd(md.fds[1]) != TN_OK)
    {
        a->err = tn_errno;
        tn_log_error(TN_LOG_ERR, log, a->err,
                     "store: fsync(\"%s/cur\") failed", md.path);
        (void) unlinkat(md.fds[3], (char *) c.name, 0);
        goto done;
    }

    ret = tn_store_append_tx(conf, u, &md, db, ref.id, a, &c, cache, pool,
                             reason, log);

    if (ret != TN_OK) {
        (void) unlinkat(md.fds[3], (char *) c.name, 0);
        (void) tn_store_fsync_fd(md.fds[3]);
    }

done:

    if (md.pool) {
        tn_store_md_close(&md);
    }

    if (fd != TN_INVALID_FILE) {
        close(fd);
    }

    if (unlink(a->spool_path) == -1 && errno != TN_ENOENT) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: unlink(\"%s\") failed", a->spool_path);
    }

    if (pool) {
        tn_destroy_pool(pool);
    }

    return ret;
}


static tn_int_t
tn_store_append_tx(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_store_md_t *md, tn_store_db_t *db, int64_t id, tn_store_append_t *a,
    tn_store_copy_t *c, tn_store_cache_t *cache, tn_pool_t *pool,
    const char **reason, tn_log_t *log)
{
    int                   rc;
    u_char               *p, letters[TN_STORE_FLAGS_LEN];
    tn_int_t              ret;
    uint64_t              kw;
    tn_uint_t             nkw;
    sqlite3_stmt         *stmt;
    tn_store_mbox_row_t   mr;
    tn_str_t              kws[TN_STORE_KEYWORDS_MAX];

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        return TN_ERROR;
    }

    /* the row again under the lock (INBOX: made if missing) */

    mr.id = id;
    ret = TN_ERROR;

    rc = tn_store_mbox_row_read(md, db, &mr);
    if (rc != SQLITE_OK) {
        *reason = "no such mailbox";
        ret = (rc == SQLITE_NOTFOUND) ? TN_DECLINED : TN_ERROR;
        goto failed;
    }

    ret = tn_store_quota_tx(conf, db, u, a->size, log);
    if (ret != TN_OK) {
        *reason = "over quota";
        a->err = TN_EDQUOT;
        goto failed;
    }

    ret = tn_store_kw_load(db, mr.id, pool, kws, &nkw, log);

    if (ret == TN_OK) {
        ret = tn_store_kw_mask(db, mr.id, pool, kws, &nkw, a->kw, a->nkw, 1,
                               &kw, reason, log);
    }

    if (ret != TN_OK) {
        goto failed;
    }

    ret = TN_ERROR;

    if (mr.uidnext == UINT32_MAX) {
        goto failed;
    }

    stmt = tn_store_db_stmt(db, tn_store_append_sql, log);
    if (stmt == NULL) {
        goto failed;
    }

    p = tn_store_flags_letters(letters, c->flags);

    sqlite3_bind_int64(stmt, 1, mr.id);
    sqlite3_bind_int64(stmt, 2, mr.uidnext);
    sqlite3_bind_text(stmt, 3, (char *) c->name, c->base_len, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, a->size);
    sqlite3_bind_int64(stmt, 5, a->vsize);
    sqlite3_bind_int64(stmt, 6, a->internaldate ? a->internaldate
                                                : time(NULL));
    sqlite3_bind_text(stmt, 7, (char *) letters, p - letters, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 8, (int64_t) kw);
    sqlite3_bind_int64(stmt, 9, ++mr.highestmodseq);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc == SQLITE_DONE && cache) {
        rc = tn_store_cache_put(db, mr.id, mr.uidnext, cache, log);
    }

    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        tn_store_db_log(db, log, rc, "appending a message");
        a->err = tn_store_db_errno(rc);
        goto failed;
    }

    a->uid = mr.uidnext++;
    a->uidvalidity = mr.uidvalidity;

    if (tn_store_mbox_commit(db, &mr, u, log) != TN_OK) {
        a->err = EIO;
        return TN_ERROR;
    }

    return TN_OK;

failed:

    tn_store_db_rollback(db, log);
    return ret;
}


/*
 * The message file and its header cache.
 */

tn_int_t
tn_store_mbox_message(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint32_t uid, tn_uint_t want, char *path, tn_pool_t *pool,
    tn_store_cache_t *cache, tn_log_t *log)
{
    u_char         *base, *p, cached;
    size_t          len;
    uint32_t        flags;
    tn_int_t        ret;
    tn_uint_t       cur;
    sqlite3_stmt   *stmt;
    tn_store_md_t   md;
    tn_store_db_t  *db;
    u_char          name[NAME_MAX + 1];
    char            dir[NAME_MAX + 1], file[PATH_MAX];

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    ret = tn_store_msg_step(db, tn_store_path_sql, id, uid, &stmt, log);
    if (ret != TN_OK) {
        return ret;
    }

    len = sqlite3_column_bytes(stmt, 0);
    base = tn_pnalloc(pool, len + 1);
    p = (u_char *) sqlite3_column_text(stmt, 2);

    if (base == NULL || sqlite3_column_text(stmt, 0) == NULL || p == NULL
        || sqlite3_column_bytes(stmt, 2) > NAME_MAX)
    {
        sqlite3_reset(stmt);
        return (base == NULL) ? TN_ERROR : TN_DECLINED;
    }

    *tn_cpymem(base, sqlite3_column_text(stmt, 0), len) = '\0';
    *tn_cpymem(dir, p, sqlite3_column_bytes(stmt, 2)) = '\0';
    flags = tn_store_flags_parse(sqlite3_column_text(stmt, 1),
                                 sqlite3_column_bytes(stmt, 1));

    sqlite3_reset(stmt);

    cached = 0;

    if ((want & TN_STORE_WANT_CACHE)
        && tn_store_messages_run(db, id, &uid, 1, TN_STORE_COL_ALL, pool,
                                 cache, &cached, log)
           != TN_OK)
    {
        return TN_ERROR;
    }

    if (!(want & TN_STORE_WANT_PATH)
        && (cached || !(want & TN_STORE_WANT_CACHE)))
    {
        return TN_OK;
    }

    if (dir[0] && tn_store_folder_dir_safe((u_char *) dir, strlen(dir))
                  != TN_OK)
    {
        return TN_DECLINED;
    }

    ret = tn_store_md_open(&md, conf, u, dir, log);
    if (ret != TN_OK) {
        return ret;
    }

    ret = tn_store_locate(&md, base, len, flags, name, &cur);

    if (ret == TN_OK) {
        /* md.path is shorter than PATH_MAX, but with the name it may not be */
        p = tn_snprintf((u_char *) file, PATH_MAX - 1, "%s/%s/%s", md.path,
                        cur ? "cur" : "new", name);

        if (p == (u_char *) file + PATH_MAX - 1) {
            ret = TN_DECLINED;
        }

        *p = '\0';
    }

    tn_store_md_close(&md);

    if (ret != TN_OK) {
        return TN_DECLINED;
    }

    if ((want & TN_STORE_WANT_CACHE) && !cached) {
        ret = tn_store_cache_make(db, id, uid, file, pool, cache, log);
        if (ret != TN_OK) {
            return ret;
        }
    }

    if (path) {
        tn_memcpy(path, file, strlen(file) + 1);
    }

    return TN_OK;
}


tn_int_t
tn_store_mbox_messages(tn_store_conf_t *conf, tn_store_user_t *u,
    int64_t id, uint32_t *uids, tn_uint_t n, tn_uint_t cols,
    tn_pool_t *pool, tn_store_cache_t *caches, u_char *found,
    tn_log_t *log)
{
    tn_uint_t       i, j;
    tn_store_db_t  *db;

    tn_memzero(found, n);

    if (n == 0) {
        return TN_OK;
    }

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    /* one snapshot for every run and table */

    if (tn_store_db_exec(db, "BEGIN", log) != SQLITE_OK) {
        return TN_ERROR;
    }

    for (i = 0; i < n; i = j) {

        for (j = i + 1; j < n; j++) {
            if (uids[j] <= uids[j - 1]
                || uids[j] - uids[j - 1] > TN_STORE_RUN_GAP)
            {
                break;
            }
        }

        if (tn_store_messages_run(db, id, uids + i, j - i, cols, pool,
                                  caches + i, found + i, log)
            != TN_OK)
        {
            tn_store_db_rollback(db, log);
            return TN_ERROR;
        }
    }

    tn_store_db_rollback(db, log);

    return TN_OK;
}


/*
 * A run of ascending uids: each cache table holding a wanted column is
 * read in one statement; found[i] (0 on entry) becomes 1 when uids[i]
 * has its rows in every table read.
 */

static const tn_uint_t  tn_store_cache_cols[TN_STORE_CACHE_TABLES] = {
    TN_STORE_COL_KEYS, TN_STORE_COL_PARTS, TN_STORE_COL_HEADER
};

static const char  *tn_store_cache_sqls[TN_STORE_CACHE_TABLES] = {
    tn_store_keys_sql, tn_store_parts_sql, tn_store_header_sql
};


static tn_int_t
tn_store_messages_run(tn_store_db_t *db, int64_t id, uint32_t *uids,
    tn_uint_t n, tn_uint_t cols, tn_pool_t *pool, tn_store_cache_t *caches,
    u_char *found, tn_log_t *log)
{
    tn_uint_t  k, t, tables;

    for (k = 0; k < n; k++) {
        tn_memzero(&caches[k], sizeof(tn_store_cache_t));
        caches[k].date = -1;
    }

    tables = 0;

    for (t = 0; t < TN_STORE_CACHE_TABLES; t++) {

        /* no column wanted: whether there is a cache, from msg_keys */

        if (!(cols & tn_store_cache_cols[t])
            && (t > 0 || (cols & TN_STORE_COL_ALL)))
        {
            continue;
        }

        if (tn_store_cache_table(db, t, id, uids, n, cols, pool, caches,
                                 found, log)
            != TN_OK)
        {
            return TN_ERROR;
        }

        tables++;
    }

    for (k = 0; k < n; k++) {
        found[k] = (found[k] == tables);
    }

    return TN_OK;
}


static tn_int_t
tn_store_cache_table(tn_store_db_t *db, tn_uint_t t, int64_t id,
    uint32_t *uids, tn_uint_t n, tn_uint_t cols, tn_pool_t *pool,
    tn_store_cache_t *caches, u_char *found, tn_log_t *log)
{
    int            rc;
    uint32_t       uid;
    tn_uint_t      k;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, tn_store_cache_sqls[t], log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, TN_STORE_CACHE_KEY(id, uids[0]));
    sqlite3_bind_int64(stmt, 2, TN_STORE_CACHE_KEY(id, uids[n - 1]));
    sqlite3_bind_int64(stmt, 3, cols);

    k = 0;

    for ( ;; ) {
        rc = sqlite3_step(stmt);

        if (rc != SQLITE_ROW) {
            break;
        }

        uid = (uint32_t) sqlite3_column_int64(stmt, 0);

        while (k < n && uids[k] < uid) {
            k++;
        }

        if (k == n) {
            rc = SQLITE_DONE;
            break;
        }

        if (uids[k] != uid) {
            /* not asked for */
            continue;
        }

        tn_store_cache_row(stmt, t, pool, &caches[k]);
        found[k++]++;
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "reading the header caches");
        return TN_ERROR;
    }

    return TN_OK;
}


/* the columns of a row of table t (tn_store_cache_sqls) into c */

static void
tn_store_cache_row(sqlite3_stmt *stmt, tn_uint_t t, tn_pool_t *pool,
    tn_store_cache_t *c)
{
    int        i;
    tn_str_t  *s[9];

    switch (t) {

    case 0:
        s[0] = &c->from;
        s[1] = &c->to;
        s[2] = &c->cc;
        s[3] = &c->bcc;
        s[4] = &c->subject;
        s[5] = &c->sort_from;
        s[6] = &c->sort_to;
        s[7] = &c->sort_cc;
        s[8] = &c->sort_subject;

        for (i = 0; i < 9; i++) {
            tn_store_cache_str(stmt, 1 + i, pool, s[i]);
        }

        c->date = (sqlite3_column_type(stmt, 10) == SQLITE_NULL)
                  ? -1 : (time_t) sqlite3_column_int64(stmt, 10);
        c->date_tz = sqlite3_column_int(stmt, 11);
        break;

    case 1:
        tn_store_cache_str(stmt, 1, pool, &c->envelope);
        tn_store_cache_str(stmt, 2, pool, &c->bodystructure);
        tn_store_cache_str(stmt, 3, pool, &c->body);
        break;

    default:
        c->header_too_large = (sqlite3_column_int(stmt, 1) & 2) ? 1 : 0;
        tn_store_cache_str(stmt, 2, pool, &c->header);
        break;
    }
}


static void
tn_store_cache_str(sqlite3_stmt *stmt, int col, tn_pool_t *pool,
    tn_str_t *s)
{
    size_t       len;
    const void  *p;

    /* a BLOB (the header) or TEXT: the bytes as stored */
    p = sqlite3_column_blob(stmt, col);
    len = sqlite3_column_bytes(stmt, col);

    if (p == NULL || len == 0) {
        return;
    }

    /* NUL-terminated for the callers' convenience */
    s->data = tn_pnalloc(pool, len + 1);
    if (s->data == NULL) {
        return;
    }

    *tn_cpymem(s->data, p, len) = '\0';
    s->len = len;
}


tn_int_t
tn_store_message_path(tn_store_conf_t *conf, tn_store_user_t *u,
    uint32_t uid, char *path, tn_log_t *log)
{
    int                   rc;
    tn_int_t              ret;
    tn_pool_t            *pool;
    tn_store_db_t        *db;
    tn_store_mbox_row_t   mr;

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    rc = tn_store_inbox_find(db, &mr, log);
    if (rc != SQLITE_OK || mr.id == 0) {
        return (rc == SQLITE_OK) ? TN_DECLINED : TN_ERROR;
    }

    pool = tn_create_pool(1024, log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    ret = tn_store_mbox_message(conf, u, mr.id, uid, TN_STORE_WANT_PATH,
                                path, pool, NULL, log);

    tn_destroy_pool(pool);

    return ret;
}


static tn_int_t
tn_store_cache_make(tn_store_db_t *db, int64_t id, uint32_t uid,
    const char *path, tn_pool_t *pool, tn_store_cache_t *c, tn_log_t *log)
{
    int            rc;
    tn_fd_t        fd;
    tn_int_t       ret;
    sqlite3_stmt  *stmt;

    fd = open(path, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY|O_CLOEXEC);
    if (fd == -1) {
        if (errno == TN_ENOENT) {
            return TN_DECLINED;
        }

        tn_log_error(TN_LOG_ERR, log, tn_errno, "store: open(\"%s\") failed",
                     path);
        return TN_ERROR;
    }

    tn_memzero(c, sizeof(tn_store_cache_t));

    ret = tn_mail_imap_msg_cache(pool, fd, c, log);

    close(fd);

    if (ret != TN_OK) {
        return TN_ERROR;
    }

    /*
     * Kept for the next FETCH; not a change of the message (no MODSEQ).
     * Only while the message is there: a cache row without its message
     * would never be removed.  A failure costs only the next FETCH.
     */

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        return TN_OK;
    }

    ret = tn_store_msg_step(db, tn_store_path_sql, id, uid, &stmt, log);

    if (ret == TN_OK) {
        sqlite3_reset(stmt);
        rc = tn_store_cache_put(db, id, uid, c, log);

        if (rc == SQLITE_OK) {
            (void) tn_store_db_commit(db, log);
            return TN_OK;
        }

        tn_store_db_log(db, log, rc, "storing the header cache");
    }

    tn_store_db_rollback(db, log);

    return TN_OK;
}


int
tn_store_cache_put(tn_store_db_t *db, int64_t id, uint32_t uid,
    tn_store_cache_t *c, tn_log_t *log)
{
    int            rc;
    tn_uint_t      t;
    sqlite3_stmt  *stmt;

    static const char  *sqls[TN_STORE_CACHE_TABLES] = {
        tn_store_keys_put_sql, tn_store_parts_put_sql,
        tn_store_header_put_sql
    };

    for (t = 0; t < TN_STORE_CACHE_TABLES; t++) {
        stmt = tn_store_db_stmt(db, sqls[t], log);
        if (stmt == NULL) {
            return SQLITE_ERROR;
        }

        tn_store_cache_bind(stmt, 1, c);
        sqlite3_bind_int64(stmt, 1 + TN_STORE_CACHE_NCOLUMNS,
                           TN_STORE_CACHE_KEY(id, uid));

        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);

        if (rc != SQLITE_DONE) {
            return rc;
        }
    }

    return SQLITE_OK;
}


static tn_int_t
tn_store_cache_copy(tn_store_db_t *db, int64_t to, int64_t from,
    tn_log_t *log)
{
    int            rc;
    tn_uint_t      t;
    sqlite3_stmt  *stmt;

    static const char  *sqls[TN_STORE_CACHE_TABLES] = {
        tn_store_keys_copy_sql, tn_store_parts_copy_sql,
        tn_store_header_copy_sql
    };

    for (t = 0; t < TN_STORE_CACHE_TABLES; t++) {
        stmt = tn_store_db_stmt(db, sqls[t], log);
        if (stmt == NULL) {
            return TN_ERROR;
        }

        sqlite3_bind_int64(stmt, 1, to);
        sqlite3_bind_int64(stmt, 2, from);

        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);

        if (rc != SQLITE_DONE) {
            tn_store_db_log(db, log, rc, "copying a header cache");
            return TN_ERROR;
        }
    }

    return TN_OK;
}


void
tn_store_cache_bind(sqlite3_stmt *stmt, int first, tn_store_cache_t *c)
{
    int        i;
    tn_str_t  *s[13];

    if (c == NULL) {
        sqlite3_bind_int(stmt, first, 0);
        return;
    }

    sqlite3_bind_int(stmt, first, 1 | (c->header_too_large ? 2 : 0));

    if (c->header.len) {
        sqlite3_bind_blob(stmt, first + 1, c->header.data, c->header.len,
                          SQLITE_STATIC);
    }

    s[0] = &c->envelope;
    s[1] = &c->bodystructure;
    s[2] = &c->body;
    s[3] = &c->from;
    s[4] = &c->to;
    s[5] = &c->cc;
    s[6] = &c->bcc;
    s[7] = &c->subject;
    s[8] = &c->sort_from;
    s[9] = &c->sort_to;
    s[10] = &c->sort_cc;
    s[11] = &c->sort_subject;

    for (i = 0; i < 12; i++) {
        if (s[i]->len) {
            sqlite3_bind_text(stmt, first + 2 + i, (char *) s[i]->data,
                              s[i]->len, SQLITE_STATIC);
        }
    }

    if (c->date != -1) {
        sqlite3_bind_int64(stmt, first + 14, c->date);
    }

    sqlite3_bind_int(stmt, first + 15, c->date_tz);
}


/*
 * QUOTA.
 */

tn_int_t
tn_store_mbox_quota(tn_store_conf_t *conf, tn_store_user_t *u,
    uint64_t *limit, uint64_t *used, uint64_t *count, tn_log_t *log)
{
    int             rc;
    off_t           quota;
    sqlite3_stmt   *stmt;
    tn_store_db_t  *db;

    if (tn_store_quota_get(conf, u, &quota, log) != TN_OK) {
        return TN_ERROR;
    }

    *limit = (quota > 0) ? (uint64_t) quota : 0;

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    stmt = tn_store_db_stmt(db, tn_store_usage_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW) {
        *used = sqlite3_column_int64(stmt, 0);
        *count = sqlite3_column_int64(stmt, 1);
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_ROW) {
        tn_store_db_log(db, log, rc, "reading the usage");
        return TN_ERROR;
    }

    return TN_OK;
}

