
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>


/*
 * SQLite connections are per thread: a connection is never shared, so
 * it is opened with SQLITE_OPEN_NOMUTEX.  Each thread keeps the last few
 * it used, keyed by path, because opening index.db on every delivery
 * costs more than the delivery's own statements.
 */
typedef struct {
    pid_t                 pid;
    tn_uint_t             clock;
    tn_store_db_t        *dbs[TN_STORE_DB_CACHE];
} tn_store_db_cache_t;


static tn_store_db_cache_t *tn_store_db_cache_get(void);
static void tn_store_db_cache_key_init(void);
static void tn_store_db_cache_free(void *data);
static tn_store_db_t *tn_store_db_open(const char *path, tn_uint_t kind,
    tn_uint_t flags, int *src, tn_log_t *log);
static int tn_store_db_schema(tn_store_db_t *db, tn_log_t *log);
static int tn_store_db_migrate(tn_store_db_t *db, const char *schema,
    int version, int want, tn_log_t *log);
static void tn_store_db_reuse(tn_store_db_t *db);
static void tn_store_db_free(tn_store_db_t *db);


static pthread_key_t                 tn_store_db_key;
static pthread_once_t                tn_store_db_once = PTHREAD_ONCE_INIT;
static __thread tn_store_db_cache_t *tn_store_db_cache;


static const char  tn_store_accounts_schema[] =
    "CREATE TABLE IF NOT EXISTS domains ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS users ("
    " id INTEGER PRIMARY KEY,"
    " domain_id INTEGER NOT NULL REFERENCES domains(id),"
    " localpart TEXT NOT NULL COLLATE NOCASE,"
    " address TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " password_hash TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS users_domain ON users (domain_id);"
    "PRAGMA user_version = 1;";

/*
 * tn_store_accounts_migrations[v] takes tern.db from version v to v + 1;
 * a new file gets the version 1 schema above and then each of them, so
 * new and migrated files are the same.
 */
static const char  tn_store_accounts_v2[] =
    "ALTER TABLE users ADD COLUMN forward_to TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE users ADD COLUMN forward_keep INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN quota_bytes INTEGER NOT NULL DEFAULT 0;"
    /* one row per (address, target); address "@domain" is a catch-all */
    "CREATE TABLE aliases ("
    " id INTEGER PRIMARY KEY,"
    " domain_id INTEGER NOT NULL REFERENCES domains(id),"
    " address TEXT NOT NULL COLLATE NOCASE,"
    " target TEXT NOT NULL COLLATE NOCASE,"
    " send_as INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL,"
    " UNIQUE (address, target));"
    "CREATE INDEX aliases_domain ON aliases (domain_id);"
    "PRAGMA user_version = 2;";

static const char  *tn_store_accounts_migrations[] = {
    NULL,                                   /* 0: the schema itself */
    tn_store_accounts_v2                    /* 1 -> 2 */
};

static const char  tn_store_index_schema[] =
    "CREATE TABLE IF NOT EXISTS mailboxes ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " uidvalidity INTEGER NOT NULL,"
    " uidnext INTEGER NOT NULL,"
    " highestmodseq INTEGER NOT NULL DEFAULT 1);"
    "CREATE TABLE IF NOT EXISTS messages ("
    " mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),"
    " uid INTEGER NOT NULL,"
    " filename TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " vsize INTEGER NOT NULL,"
    " internaldate INTEGER NOT NULL,"
    " flags TEXT NOT NULL DEFAULT '',"
    " modseq INTEGER NOT NULL DEFAULT 1,"
    " PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_filename"
    " ON messages (mailbox_id, filename);"
    "PRAGMA user_version = 1;";

/*
 * Version 2: the mailboxes of IMAP (tn_store_imap.h).  mailboxes.dir is
 * the folder on disk ("" for INBOX, NULL for a name that is only
 * subscribed); expunged_modseq is the highest MODSEQ whose expunges are
 * no longer all in expunged (pruned, or from before version 2).
 * messages.flags keeps the maildir(5) letters of the system flags;
 * keywords is the bit set over the keywords table of the mailbox;
 * in_new says the file is in new/ (\Recent to the next SELECT); cached
 * says the header cache columns are filled (bit 1: the header was too
 * large to keep).
 */
static const char  tn_store_index_v2[] =
    "ALTER TABLE mailboxes ADD COLUMN dir TEXT;"
    "ALTER TABLE mailboxes ADD COLUMN subscribed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE mailboxes ADD COLUMN special INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE mailboxes ADD COLUMN expunged_modseq INTEGER NOT NULL"
    " DEFAULT 0;"
    "UPDATE mailboxes SET dir = '', subscribed = 1,"
    " expunged_modseq = highestmodseq WHERE name = 'INBOX';"
    "ALTER TABLE messages ADD COLUMN keywords INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN in_new INTEGER NOT NULL DEFAULT 0;"
    "UPDATE messages SET in_new = 1 WHERE flags = '';"
    "ALTER TABLE messages ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE messages ADD COLUMN header BLOB;"
    "ALTER TABLE messages ADD COLUMN envelope TEXT;"
    "ALTER TABLE messages ADD COLUMN bodystructure TEXT;"
    "ALTER TABLE messages ADD COLUMN body TEXT;"
    "ALTER TABLE messages ADD COLUMN from_ TEXT;"
    "ALTER TABLE messages ADD COLUMN to_ TEXT;"
    "ALTER TABLE messages ADD COLUMN cc TEXT;"
    "ALTER TABLE messages ADD COLUMN bcc TEXT;"
    "ALTER TABLE messages ADD COLUMN subject TEXT;"
    "ALTER TABLE messages ADD COLUMN sort_from TEXT;"
    "ALTER TABLE messages ADD COLUMN sort_to TEXT;"
    "ALTER TABLE messages ADD COLUMN sort_cc TEXT;"
    "ALTER TABLE messages ADD COLUMN sort_subject TEXT;"
    "ALTER TABLE messages ADD COLUMN sent_date INTEGER;"
    "ALTER TABLE messages ADD COLUMN sent_tz INTEGER;"
    "CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);"
    "CREATE TABLE expunged ("
    " mailbox_id INTEGER NOT NULL,"
    " uid INTEGER NOT NULL,"
    " modseq INTEGER NOT NULL,"
    " time INTEGER NOT NULL,"
    " PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
    "CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);"
    "CREATE TABLE keywords ("
    " mailbox_id INTEGER NOT NULL,"
    " idx INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " PRIMARY KEY (mailbox_id, idx)) WITHOUT ROWID;"
    "PRAGMA user_version = 2;";

/*
 * Version 3: the header cache leaves the messages rows, which every
 * SELECT, flag change and SEARCH walks, for three tables keyed by
 * (mailbox_id << 32) | uid: msg_keys (what SEARCH and SORT compare, a
 * few hundred bytes), msg_cache (ENVELOPE, BODY, BODYSTRUCTURE) and
 * msg_header (the raw header, up to 64 KB; cached has the bits of
 * messages.cached of version 2).  A message has all three rows or none.
 * Triggers keep them with their message (deleted with it, moved with
 * it by RENAME of INBOX).  messages keeps the version 2 cache columns
 * only as a way in: a row inserted with them filled (delivery, see
 * TN_STORE_CACHE_COLUMNS) has them moved into the three tables by
 * messages_cache_in and emptied, so that they are NULL at rest.  The
 * messages table is made again without the old cache data.
 */
static const char  tn_store_index_v3[] =
    "CREATE TABLE msg_keys ("
    " id INTEGER PRIMARY KEY,"
    " from_ TEXT, to_ TEXT, cc TEXT, bcc TEXT, subject TEXT,"
    " sort_from TEXT, sort_to TEXT, sort_cc TEXT, sort_subject TEXT,"
    " sent_date INTEGER, sent_tz INTEGER);"
    "CREATE TABLE msg_cache ("
    " id INTEGER PRIMARY KEY,"
    " envelope TEXT, bodystructure TEXT, body TEXT);"
    "CREATE TABLE msg_header ("
    " id INTEGER PRIMARY KEY,"
    " cached INTEGER NOT NULL,"
    " header BLOB);"
    "INSERT INTO msg_keys SELECT (mailbox_id << 32) | uid, from_, to_, cc,"
    " bcc, subject, sort_from, sort_to, sort_cc, sort_subject, sent_date,"
    " sent_tz FROM messages WHERE cached != 0;"
    "INSERT INTO msg_cache SELECT (mailbox_id << 32) | uid, envelope,"
    " bodystructure, body FROM messages WHERE cached != 0;"
    "INSERT INTO msg_header SELECT (mailbox_id << 32) | uid, cached, header"
    " FROM messages WHERE cached != 0;"
    "CREATE TABLE messages_v3 ("
    " mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),"
    " uid INTEGER NOT NULL,"
    " filename TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " vsize INTEGER NOT NULL,"
    " internaldate INTEGER NOT NULL,"
    " flags TEXT NOT NULL DEFAULT '',"
    " modseq INTEGER NOT NULL DEFAULT 1,"
    " keywords INTEGER NOT NULL DEFAULT 0,"
    " in_new INTEGER NOT NULL DEFAULT 0,"
    " cached INTEGER NOT NULL DEFAULT 0,"
    " header BLOB, envelope TEXT, bodystructure TEXT, body TEXT,"
    " from_ TEXT, to_ TEXT, cc TEXT, bcc TEXT, subject TEXT,"
    " sort_from TEXT, sort_to TEXT, sort_cc TEXT, sort_subject TEXT,"
    " sent_date INTEGER, sent_tz INTEGER,"
    " PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
    "INSERT INTO messages_v3 (mailbox_id, uid, filename, size, vsize,"
    " internaldate, flags, modseq, keywords, in_new)"
    " SELECT mailbox_id, uid, filename, size, vsize, internaldate, flags,"
    " modseq, keywords, in_new FROM messages;"
    "DROP TABLE messages;"
    "ALTER TABLE messages_v3 RENAME TO messages;"
    "CREATE UNIQUE INDEX messages_filename ON messages (mailbox_id, filename);"
    "CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);"
    "CREATE TRIGGER messages_cache_in AFTER INSERT ON messages"
    " WHEN NEW.cached != 0 BEGIN"
    " INSERT OR REPLACE INTO msg_keys VALUES ((NEW.mailbox_id << 32)"
    " | NEW.uid, NEW.from_, NEW.to_, NEW.cc, NEW.bcc, NEW.subject,"
    " NEW.sort_from, NEW.sort_to, NEW.sort_cc, NEW.sort_subject,"
    " NEW.sent_date, NEW.sent_tz);"
    " INSERT OR REPLACE INTO msg_cache VALUES ((NEW.mailbox_id << 32)"
    " | NEW.uid, NEW.envelope, NEW.bodystructure, NEW.body);"
    " INSERT OR REPLACE INTO msg_header VALUES ((NEW.mailbox_id << 32)"
    " | NEW.uid, NEW.cached, NEW.header);"
    " UPDATE messages SET cached = 0, header = NULL, envelope = NULL,"
    " bodystructure = NULL, body = NULL, from_ = NULL, to_ = NULL,"
    " cc = NULL, bcc = NULL, subject = NULL, sort_from = NULL,"
    " sort_to = NULL, sort_cc = NULL, sort_subject = NULL,"
    " sent_date = NULL, sent_tz = NULL"
    " WHERE mailbox_id = NEW.mailbox_id AND uid = NEW.uid;"
    " END;"
    "CREATE TRIGGER messages_cache_out AFTER DELETE ON messages BEGIN"
    " DELETE FROM msg_keys WHERE id = (OLD.mailbox_id << 32) | OLD.uid;"
    " DELETE FROM msg_cache WHERE id = (OLD.mailbox_id << 32) | OLD.uid;"
    " DELETE FROM msg_header WHERE id = (OLD.mailbox_id << 32) | OLD.uid;"
    " END;"
    "CREATE TRIGGER messages_cache_move AFTER UPDATE OF mailbox_id, uid"
    " ON messages BEGIN"
    " UPDATE OR REPLACE msg_keys SET id = (NEW.mailbox_id << 32) | NEW.uid"
    " WHERE id = (OLD.mailbox_id << 32) | OLD.uid;"
    " UPDATE OR REPLACE msg_cache SET id = (NEW.mailbox_id << 32) | NEW.uid"
    " WHERE id = (OLD.mailbox_id << 32) | OLD.uid;"
    " UPDATE OR REPLACE msg_header SET id = (NEW.mailbox_id << 32)"
    " | NEW.uid WHERE id = (OLD.mailbox_id << 32) | OLD.uid;"
    " END;"
    "PRAGMA user_version = 3;";

static const char  *tn_store_index_migrations[] = {
    NULL,                                   /* 0: the schema itself */
    tn_store_index_v2,                      /* 1 -> 2 */
    tn_store_index_v3                       /* 2 -> 3 */
};


tn_store_db_t *
tn_store_db_get(const char *path, tn_uint_t kind, tn_uint_t flags, int *src,
    tn_log_t *log)
{
    tn_uint_t             i, lru;
    struct stat           sb;
    tn_store_db_t        *db;
    tn_store_db_cache_t  *cache;

    *src = SQLITE_OK;

    cache = tn_store_db_cache_get();
    if (cache == NULL) {
        *src = SQLITE_NOMEM;
        tn_log_error(TN_LOG_CRIT, log, tn_errno,
                     "store: no memory for the connection cache");
        return NULL;
    }

    for (i = 0; i < TN_STORE_DB_CACHE; i++) {
        db = cache->dbs[i];

        if (db == NULL || db->kind != kind || strcmp(db->path, path) != 0) {
            continue;
        }

        if (stat(path, &sb) == 0
            && sb.st_dev == db->dev && sb.st_ino == db->ino)
        {
            tn_store_db_reuse(db);
            db->used = ++cache->clock;
            return db;
        }

        /* replaced or removed since: this connection is stale */
        tn_store_db_close(db);
        break;
    }

    lru = 0;

    for (i = 0; i < TN_STORE_DB_CACHE; i++) {
        if (cache->dbs[i] == NULL) {
            lru = i;
            break;
        }

        if (cache->dbs[i]->used < cache->dbs[lru]->used) {
            lru = i;
        }
    }

    if (cache->dbs[lru]) {
        tn_store_db_close(cache->dbs[lru]);
    }

    db = tn_store_db_open(path, kind, flags, src, log);
    if (db == NULL) {
        return NULL;
    }

    db->used = ++cache->clock;
    cache->dbs[lru] = db;

    return db;
}


void
tn_store_db_close(tn_store_db_t *db)
{
    tn_uint_t             i;
    tn_store_db_cache_t  *cache;

    cache = tn_store_db_cache;

    if (cache) {
        for (i = 0; i < TN_STORE_DB_CACHE; i++) {
            if (cache->dbs[i] == db) {
                cache->dbs[i] = NULL;
            }
        }
    }

    tn_store_db_free(db);
}


void
tn_store_db_forget(const char *path)
{
    tn_uint_t             i;
    tn_store_db_cache_t  *cache;

    cache = tn_store_db_cache_get();
    if (cache == NULL) {
        return;
    }

    for (i = 0; i < TN_STORE_DB_CACHE; i++) {
        if (cache->dbs[i] && strcmp(cache->dbs[i]->path, path) == 0) {
            tn_store_db_close(cache->dbs[i]);
        }
    }
}


void
tn_store_db_close_all(void)
{
    tn_uint_t             i;
    tn_store_db_cache_t  *cache;

    cache = tn_store_db_cache_get();
    if (cache == NULL) {
        return;
    }

    for (i = 0; i < TN_STORE_DB_CACHE; i++) {
        if (cache->dbs[i]) {
            tn_store_db_close(cache->dbs[i]);
        }
    }
}


sqlite3_stmt *
tn_store_db_stmt(tn_store_db_t *db, const char *sql, tn_log_t *log)
{
    int            rc;
    tn_uint_t      i;
    sqlite3_stmt  *stmt;

    for (i = 0; i < db->nstmts; i++) {
        if (db->stmts[i].sql == sql) {
            stmt = db->stmts[i].stmt;
            sqlite3_reset(stmt);
            sqlite3_clear_bindings(stmt);
            return stmt;
        }
    }

    if (db->nstmts == TN_STORE_DB_STMTS) {
        tn_log_error(TN_LOG_ALERT, log, 0,
                     "store: statement cache full, db: %s", db->path);
        return NULL;
    }

    rc = sqlite3_prepare_v3(db->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                            &stmt, NULL);
    if (rc != SQLITE_OK) {
        tn_store_db_log(db, log, rc, "sqlite3_prepare_v3()");
        return NULL;
    }

    db->stmts[db->nstmts].sql = sql;
    db->stmts[db->nstmts].stmt = stmt;
    db->nstmts++;

    return stmt;
}


int
tn_store_db_exec(tn_store_db_t *db, const char *sql, tn_log_t *log)
{
    return sqlite3_exec(db->db, sql, NULL, NULL, NULL);
}


int
tn_store_db_begin(tn_store_db_t *db, tn_log_t *log)
{
    int  rc;

    rc = tn_store_db_exec(db, "BEGIN IMMEDIATE", log);
    if (rc != SQLITE_OK) {
        tn_store_db_log(db, log, rc, "BEGIN IMMEDIATE");
    }

    return rc;
}


int
tn_store_db_commit(tn_store_db_t *db, tn_log_t *log)
{
    int  rc;

    rc = tn_store_db_exec(db, "COMMIT", log);
    if (rc != SQLITE_OK) {
        tn_store_db_log(db, log, rc, "COMMIT");
        tn_store_db_rollback(db, log);
    }

    return rc;
}


void
tn_store_db_rollback(tn_store_db_t *db, tn_log_t *log)
{
    sqlite3_stmt  *stmt;

    /* an active statement would keep the transaction's locks */
    for (stmt = sqlite3_next_stmt(db->db, NULL);
         stmt;
         stmt = sqlite3_next_stmt(db->db, stmt))
    {
        sqlite3_reset(stmt);
    }

    if (!sqlite3_get_autocommit(db->db)) {
        (void) tn_store_db_exec(db, "ROLLBACK", log);
    }
}


void
tn_store_db_log(tn_store_db_t *db, tn_log_t *log, int rc, const char *what)
{
    tn_log_error(TN_LOG_ERR, log, 0, "store: %s failed (%d: %s), db: %s",
                 what, rc, db ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc),
                 db ? db->path : "");
}


tn_err_t
tn_store_db_errno(int rc)
{
    switch (rc & 0xff) {

    case SQLITE_FULL:
        return TN_ENOSPC;

    case SQLITE_NOMEM:
        return TN_ENOMEM;

    case SQLITE_PERM:
    case SQLITE_READONLY:
        return TN_EACCES;

    default:
        return EIO;
    }
}


static tn_store_db_cache_t *
tn_store_db_cache_get(void)
{
    tn_store_db_cache_t  *cache;

    cache = tn_store_db_cache;

    if (cache && cache->pid != getpid()) {
        /*
         * Inherited across fork(): the parent owns those connections
         * (SQLite forbids using them in the child), so they are dropped
         * without being closed.
         */
        tn_memzero(cache, sizeof(tn_store_db_cache_t));
        cache->pid = getpid();
    }

    if (cache) {
        return cache;
    }

    if (pthread_once(&tn_store_db_once, tn_store_db_cache_key_init) != 0) {
        return NULL;
    }

    cache = calloc(1, sizeof(tn_store_db_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    cache->pid = getpid();

    /* the key's destructor closes the connections when the thread exits */
    (void) pthread_setspecific(tn_store_db_key, cache);

    tn_store_db_cache = cache;

    return cache;
}


static void
tn_store_db_cache_key_init(void)
{
    (void) pthread_key_create(&tn_store_db_key, tn_store_db_cache_free);
}


static void
tn_store_db_cache_free(void *data)
{
    tn_uint_t             i;
    tn_store_db_cache_t  *cache;

    cache = data;

    if (cache->pid == getpid()) {
        for (i = 0; i < TN_STORE_DB_CACHE; i++) {
            if (cache->dbs[i]) {
                tn_store_db_free(cache->dbs[i]);
            }
        }
    }

    if (tn_store_db_cache == cache) {
        tn_store_db_cache = NULL;
    }

    free(cache);
}


static tn_store_db_t *
tn_store_db_open(const char *path, tn_uint_t kind, tn_uint_t flags, int *src,
    tn_log_t *log)
{
    int             rc, oflags;
    tn_err_t        err;
    struct stat     sb;
    tn_store_db_t  *db;

    if (strlen(path) >= PATH_MAX) {
        *src = SQLITE_CANTOPEN;
        tn_log_error(TN_LOG_ERR, log, 0, "store: path too long: %s", path);
        return NULL;
    }

    db = calloc(1, sizeof(tn_store_db_t));
    if (db == NULL) {
        *src = SQLITE_NOMEM;
        tn_log_error(TN_LOG_CRIT, log, tn_errno, "store: calloc() failed");
        return NULL;
    }

    (void) tn_cpystrn((u_char *) db->path, (u_char *) path, PATH_MAX);
    db->kind = kind;

    oflags = SQLITE_OPEN_READWRITE|SQLITE_OPEN_NOMUTEX;

    if (flags & TN_STORE_DB_CREATE) {
        oflags |= SQLITE_OPEN_CREATE;
    }

#ifdef SQLITE_OPEN_NOFOLLOW
    oflags |= SQLITE_OPEN_NOFOLLOW;
#endif

    errno = 0;

    rc = sqlite3_open_v2(path, &db->db, oflags, NULL);

    if (rc != SQLITE_OK) {
        err = errno;
        *src = rc;

        if (!(err == TN_ENOENT && !(flags & TN_STORE_DB_CREATE))) {
            tn_log_error(TN_LOG_ERR, log, err,
                         "store: sqlite3_open_v2(\"%s\") failed (%d: %s)",
                         path, rc, db->db ? sqlite3_errmsg(db->db)
                                          : sqlite3_errstr(rc));
        }

        tn_store_db_free(db);
        errno = err;
        return NULL;
    }

    (void) sqlite3_extended_result_codes(db->db, 1);
    (void) sqlite3_busy_timeout(db->db, TN_STORE_BUSY_TIMEOUT);

    /*
     * synchronous=FULL: a commit here backs a 250 or an expunge the
     * client was told about.  trusted_schema=OFF: a tampered file cannot
     * make us run SQL functions from its schema.  mmap_size: FETCH and
     * SEARCH batches walk the rows' overflow pages (the header cache),
     * mapped they cost no read() and no copy into the small page cache.
     */
    rc = tn_store_db_exec(db, "PRAGMA journal_mode=WAL;"
                              "PRAGMA synchronous=FULL;"
                              "PRAGMA foreign_keys=ON;"
                              "PRAGMA trusted_schema=OFF;"
                              "PRAGMA mmap_size=268435456;", log);
    if (rc != SQLITE_OK) {
        *src = rc;
        tn_store_db_log(db, log, rc, "setting the pragmas");
        tn_store_db_free(db);
        return NULL;
    }

    rc = tn_store_db_schema(db, log);
    if (rc != SQLITE_OK) {
        *src = rc;
        tn_store_db_free(db);
        return NULL;
    }

    if (stat(path, &sb) == -1) {
        *src = SQLITE_CANTOPEN;
        tn_log_error(TN_LOG_ERR, log, tn_errno, "store: stat(\"%s\") failed",
                     path);
        tn_store_db_free(db);
        return NULL;
    }

    db->dev = sb.st_dev;
    db->ino = sb.st_ino;

    return db;
}


static int
tn_store_db_schema(tn_store_db_t *db, tn_log_t *log)
{
    int             rc, version, want, pass;
    const char     *schema;
    sqlite3_stmt   *stmt;

    if (db->kind == TN_STORE_DB_ACCOUNTS) {
        schema = tn_store_accounts_schema;
        want = TN_STORE_ACCOUNTS_VERSION;

    } else {
        schema = tn_store_index_schema;
        want = TN_STORE_INDEX_VERSION;
    }

    /* pass 0 reads without a lock; pass 1 again under BEGIN IMMEDIATE */

    for (pass = 0; pass < 2; pass++) {

        rc = sqlite3_prepare_v2(db->db, "PRAGMA user_version", -1, &stmt,
                                NULL);
        if (rc != SQLITE_OK) {
            tn_store_db_log(db, log, rc, "reading the schema version");
            goto failed;
        }

        rc = sqlite3_step(stmt);
        version = (rc == SQLITE_ROW) ? sqlite3_column_int(stmt, 0) : -1;
        sqlite3_finalize(stmt);

        if (version < 0) {
            tn_store_db_log(db, log, rc, "reading the schema version");
            goto failed;
        }

        if (version == want) {
            if (pass == 1) {
                return tn_store_db_commit(db, log);
            }

            return SQLITE_OK;
        }

        if (version > want) {
            tn_log_error(TN_LOG_ERR, log, 0,
                         "store: schema version %d of \"%s\" is newer than "
                         "this server's (%d)", version, db->path, want);
            rc = SQLITE_MISMATCH;
            goto failed;
        }

        if (pass == 0) {
            rc = tn_store_db_begin(db, log);
            if (rc != SQLITE_OK) {
                return rc;
            }
        }
    }

    /* version 0: a new file; then the migrations, in one transaction */

    rc = tn_store_db_migrate(db, schema, version, want, log);
    if (rc != SQLITE_OK) {
        goto failed;
    }

    return tn_store_db_commit(db, log);

failed:

    tn_store_db_rollback(db, log);
    return rc;
}


static int
tn_store_db_migrate(tn_store_db_t *db, const char *schema, int version,
    int want, tn_log_t *log)
{
    int           rc, fresh;
    const char  **migrations;

    fresh = 0;
    migrations = (db->kind == TN_STORE_DB_ACCOUNTS)
                 ? tn_store_accounts_migrations : tn_store_index_migrations;

    if (version == 0) {
        rc = tn_store_db_exec(db, schema, log);
        if (rc != SQLITE_OK) {
            tn_store_db_log(db, log, rc, "creating the schema");
            return rc;
        }

        version = 1;
        fresh = 1;
    }

    for ( /* void */ ; version < want; version++) {
        rc = tn_store_db_exec(db, migrations[version], log);
        if (rc != SQLITE_OK) {
            tn_store_db_log(db, log, rc, "migrating the schema");
            return rc;
        }

        if (!fresh) {
            tn_log_error(TN_LOG_NOTICE, log, 0,
                         "store: \"%s\" migrated to schema version %d",
                         db->path, version + 1);
        }
    }

    return SQLITE_OK;
}


static void
tn_store_db_reuse(tn_store_db_t *db)
{
    /*
     * A caller that failed half-way may have left a statement active or a
     * transaction open: neither may leak into the next use.
     */
    tn_store_db_rollback(db, NULL);
}


static void
tn_store_db_free(tn_store_db_t *db)
{
    tn_uint_t  i;

    for (i = 0; i < db->nstmts; i++) {
        sqlite3_finalize(db->stmts[i].stmt);
    }

    if (db->db) {
        (void) sqlite3_close_v2(db->db);
    }

    free(db);
}


uint32_t
tn_store_uidvalidity_new(tn_fd_t dirfd, uint32_t old, tn_log_t *log)
{
    DIR            *dir;
    tn_fd_t         fd;
    uint64_t        v, max, now;
    tn_int_t        n;
    struct dirent  *de;
    char            name[sizeof("tern-uidvalidity.ffffffff")];

    static const char  prefix[] = "tern-uidvalidity.";

    fd = openat(dirfd, ".", O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    if (fd == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: openat(\".\") of a Maildir failed");
        return 0;
    }

    dir = fdopendir(fd);
    if (dir == NULL) {
        tn_log_error(TN_LOG_ERR, log, tn_errno, "store: fdopendir() failed");
        close(fd);
        return 0;
    }

    max = 0;

    while ((de = readdir(dir)) != NULL) {
        if (strncmp(de->d_name, prefix, sizeof(prefix) - 1) != 0
            || strlen(de->d_name) != sizeof(prefix) - 1 + 8)
        {
            continue;
        }

        n = tn_hextoi((u_char *) de->d_name + sizeof(prefix) - 1, 8);

        if (n != TN_ERROR && (uint64_t) n > max) {
            max = n;
        }
    }

    now = (uint64_t) time(NULL);

    v = tn_max(now, max + 1);
    v = tn_max(v, (uint64_t) old + 1);

    if (v > UINT32_MAX) {
        tn_log_error(TN_LOG_ALERT, log, 0,
                     "store: UIDVALIDITY space exhausted");
        closedir(dir);
        return 0;
    }

    (void) tn_snprintf((u_char *) name, sizeof(name), "%s%08uxD%Z", prefix,
                       (uint32_t) v);

    fd = openat(dirfd, name, O_CREAT|O_WRONLY|O_NOFOLLOW|O_CLOEXEC, 0600);
    if (fd == -1 || close(fd) == -1 || tn_store_fsync_fd(dirfd) != TN_OK) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: recording UIDVALIDITY in \"%s\" failed", name);
        closedir(dir);
        return 0;
    }

    /* the older records are no longer needed */

    rewinddir(dir);

    while ((de = readdir(dir)) != NULL) {
        if (strncmp(de->d_name, prefix, sizeof(prefix) - 1) == 0
            && strcmp(de->d_name, name) != 0)
        {
            (void) unlinkat(dirfd, de->d_name, 0);
        }
    }

    closedir(dir);

    return (uint32_t) v;
}


static const char  tn_store_inbox_select_sql[] =
    "SELECT id, uidvalidity, uidnext, highestmodseq FROM mailboxes"
    " WHERE name = ?1";

static const char  tn_store_inbox_insert_sql[] =
    "INSERT INTO mailboxes (name, uidvalidity, uidnext, highestmodseq, dir,"
    " subscribed) VALUES (?1, ?2, 1, 1, '', 1)";

static const char  tn_store_inbox_update_sql[] =
    "UPDATE mailboxes SET uidnext = ?1, highestmodseq = ?2 WHERE id = ?3";


tn_int_t
tn_store_inbox_get(tn_store_db_t *db, tn_fd_t dirfd, tn_store_mbox_row_t *mr,
    int *src, tn_log_t *log)
{
    int            rc;
    int64_t        next;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, tn_store_inbox_select_sql, log);
    if (stmt == NULL) {
        *src = SQLITE_ERROR;
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, TN_STORE_INBOX, -1, SQLITE_STATIC);

    rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW) {
        mr->id = sqlite3_column_int64(stmt, 0);
        mr->uidvalidity = (uint32_t) sqlite3_column_int64(stmt, 1);
        next = sqlite3_column_int64(stmt, 2);
        mr->highestmodseq = sqlite3_column_int64(stmt, 3);
        sqlite3_reset(stmt);

        if (next < 1 || next > UINT32_MAX || mr->uidvalidity == 0) {
            tn_log_error(TN_LOG_ERR, log, 0,
                         "store: invalid INBOX row, db: %s", db->path);
            *src = SQLITE_CORRUPT;
            return TN_ERROR;
        }

        mr->uidnext = (uint32_t) next;
        return TN_OK;
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        *src = rc;
        tn_store_db_log(db, log, rc, "reading INBOX");
        return TN_ERROR;
    }

    mr->uidvalidity = tn_store_uidvalidity_new(dirfd, 0, log);
    if (mr->uidvalidity == 0) {
        *src = SQLITE_IOERR;
        return TN_ERROR;
    }

    stmt = tn_store_db_stmt(db, tn_store_inbox_insert_sql, log);
    if (stmt == NULL) {
        *src = SQLITE_ERROR;
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, TN_STORE_INBOX, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, mr->uidvalidity);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        *src = rc;
        tn_store_db_log(db, log, rc, "creating INBOX");
        return TN_ERROR;
    }

    mr->id = sqlite3_last_insert_rowid(db->db);
    mr->uidnext = 1;
    mr->highestmodseq = 1;

    return TN_OK;
}


tn_int_t
tn_store_inbox_put(tn_store_db_t *db, tn_store_mbox_row_t *mr, int *src,
    tn_log_t *log)
{
    int            rc;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, tn_store_inbox_update_sql, log);
    if (stmt == NULL) {
        *src = SQLITE_ERROR;
        return TN_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, mr->uidnext);
    sqlite3_bind_int64(stmt, 2, mr->highestmodseq);
    sqlite3_bind_int64(stmt, 3, mr->id);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        *src = rc;
        tn_store_db_log(db, log, rc, "updating INBOX");
        return TN_ERROR;
    }

    return TN_OK;
}


tn_int_t
tn_store_mbox_commit(tn_store_db_t *db, tn_store_mbox_row_t *mr,
    tn_store_user_t *u, tn_log_t *log)
{
    int  rc;

    if (tn_store_inbox_put(db, mr, &rc, log) != TN_OK
        || tn_store_db_commit(db, log) != SQLITE_OK)
    {
        tn_store_db_rollback(db, log);
        return TN_ERROR;
    }

    tn_store_notify(u);

    return TN_OK;
}


int
tn_store_db_run2(tn_store_db_t *db, const char *sql, int64_t a, int64_t b,
    const char *what, tn_log_t *log)
{
    int            rc;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, sql, log);
    if (stmt == NULL) {
        return SQLITE_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, a);

    if (sqlite3_bind_parameter_count(stmt) > 1) {
        sqlite3_bind_int64(stmt, 2, b);
    }

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, what);
        return rc;
    }

    return SQLITE_OK;
}


tn_int_t
tn_store_msg_step(tn_store_db_t *db, const char *sql, int64_t id,
    uint32_t uid, sqlite3_stmt **out, tn_log_t *log)
{
    int            rc;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, id);
    sqlite3_bind_int64(stmt, 2, uid);

    rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW) {
        *out = stmt;
        return TN_OK;
    }

    sqlite3_reset(stmt);

    if (rc == SQLITE_DONE) {
        return TN_DECLINED;
    }

    tn_store_db_log(db, log, rc, "reading a message");
    return TN_ERROR;
}


tn_int_t
tn_store_uids_read(tn_store_db_t *db, sqlite3_stmt *stmt, tn_array_t *a,
    const char *what, tn_log_t *log)
{
    int        rc;
    uint32_t  *uid;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        uid = tn_array_push(a);
        if (uid == NULL) {
            sqlite3_reset(stmt);
            return TN_ERROR;
        }

        *uid = (uint32_t) sqlite3_column_int64(stmt, 0);
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, what);
        return TN_ERROR;
    }

    return TN_OK;
}


tn_int_t
tn_store_maildir_open(tn_store_user_t *u, tn_fd_t *dirfd, tn_fd_t *tmpfd,
    tn_fd_t *newfd, tn_fd_t *curfd, struct stat *st)
{
    tn_fd_t       fd, *fds[3];
    tn_err_t      err;
    tn_uint_t     i;
    struct stat   sb;

    static const char  *names[] = { "tmp", "new", "cur" };

    fds[0] = tmpfd;
    fds[1] = newfd;
    fds[2] = curfd;

    for (i = 0; i < 3; i++) {
        if (fds[i]) {
            *fds[i] = TN_INVALID_FILE;
        }
    }

    fd = open(u->maildir, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
    if (fd == -1) {
        return TN_ERROR;
    }

    if (fstat(fd, st ? st : &sb) == -1) {
        goto failed;
    }

    for (i = 0; i < 3; i++) {
        if (fds[i] == NULL) {
            continue;
        }

        *fds[i] = openat(fd, names[i],
                         O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
        if (*fds[i] == -1) {
            goto failed;
        }
    }

    if (dirfd) {
        *dirfd = fd;

    } else {
        close(fd);
    }

    return TN_OK;

failed:

    err = errno;

    for (i = 0; i < 3; i++) {
        if (fds[i] && *fds[i] != TN_INVALID_FILE) {
            close(*fds[i]);
            *fds[i] = TN_INVALID_FILE;
        }
    }

    close(fd);
    errno = err;

    return TN_ERROR;
}


void
tn_store_close_fds(tn_fd_t *fds, tn_uint_t n)
{
    tn_uint_t  i;

    for (i = 0; i < n; i++) {
        if (fds[i] != TN_INVALID_FILE) {
            close(fds[i]);
            fds[i] = TN_INVALID_FILE;
        }
    }
}


tn_int_t
tn_store_name_safe(const u_char *name, size_t len)
{
    size_t  i;

    if (len == 0 || len > NAME_MAX || name[0] == '.') {
        return TN_ERROR;
    }

    for (i = 0; i < len; i++) {
        if (name[i] == '/' || name[i] == '\0') {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


size_t
tn_store_base_len(const u_char *name, size_t len)
{
    u_char  *p;

    p = memchr(name, ':', len);

    return p ? (size_t) (p - name) : len;
}


tn_int_t
tn_store_fsync_fd(tn_fd_t fd)
{
    if (fsync(fd) == -1) {
        /* some file systems cannot sync a directory; that is no failure */
        if (errno == EINVAL || errno == EROFS) {
            return TN_OK;
        }

        return TN_ERROR;
    }

    return TN_OK;
}


void
tn_store_write_escaped(tn_fd_t fd, const char *prefix, u_char *s, size_t len,
    const char *suffix)
{
    u_char  *p, *q, *buf, *end;
    size_t   size;

    size = strlen(prefix) + 4 * len + strlen(suffix);

    buf = malloc(size);
    if (buf == NULL) {
        return;
    }

    p = tn_cpymem(buf, prefix, strlen(prefix));

    /* well-formed UTF-8 (no C1 controls) is text; other bytes are \xHH */

    for (end = s + len; s < end; /* void */) {
        q = s;

        if (*s >= 0x80 && tn_utf8_non_ascii(tn_utf8_decode(&q, end - s))) {
            p = tn_cpymem(p, s, q - s);
            s = q;
            continue;
        }

        p = tn_escape_log(p, s, 1);
        s++;
    }

    p = tn_cpymem(p, suffix, strlen(suffix));

    (void) tn_write_fd(fd, buf, p - buf);

    free(buf);
}
