
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>

#include <crypt.h>


/*
 * Accounts: domains and users in tern.db, password hashes, address
 * checks.  Every SQL statement is a constant with bound parameters.
 */


#define TN_STORE_ESCAPED_LEN   (4 * 320 + 1)


static tn_store_db_t *tn_store_accounts(tn_store_conf_t *conf,
    tn_log_t *log);
static const char *tn_store_escape(u_char *buf, u_char *s, size_t len);
static tn_int_t tn_store_password_ok(u_char *pw, size_t len);
static const char *tn_store_dummy_hash(tn_store_conf_t *conf);
static tn_int_t tn_store_dir_check(u_char *path, tn_log_t *log);
static tn_int_t tn_store_maildir_create(tn_store_conf_t *conf,
    tn_store_addr_t *a, tn_store_user_t *u, tn_log_t *log);
static void tn_store_maildir_destroy(tn_store_user_t *u);
static void tn_store_give(tn_fd_t dirfd, const char *name,
    struct stat *owner);
static tn_int_t tn_store_maildir_retire(tn_store_user_t *u, char *path,
    tn_log_t *log);
static tn_int_t tn_store_list(tn_store_db_t *db, sqlite3_stmt *stmt,
    tn_store_list_pt cb, void *data, tn_log_t *log);


/* RFC 5322 atext, except '/' which cannot be part of a directory name */
static const u_char  tn_store_atext[] =
    "!#$%&'*+-=?^_`{|}~";

static pthread_mutex_t  tn_store_dummy_mutex = PTHREAD_MUTEX_INITIALIZER;
static char             tn_store_dummy[TN_STORE_HASH_LEN];
static tn_uint_t        tn_store_dummy_scheme = (tn_uint_t) -1;
static tn_uint_t        tn_store_dummy_cost;


static const char  tn_store_lookup_sql[] =
    "SELECT d.id, u.id, u.disabled FROM domains d"
    " LEFT JOIN users u ON u.domain_id = d.id AND u.address = ?1"
    " WHERE d.name = ?2";

static const char  tn_store_auth_sql[] =
    "SELECT id, password_hash, disabled FROM users WHERE address = ?1";

static const char  tn_store_domain_id_sql[] =
    "SELECT id FROM domains WHERE name = ?1";

static const char  tn_store_domain_add_sql[] =
    "INSERT INTO domains (name, created) VALUES (?1, ?2)";

/* aliases count too: their rows refer to the domain */
static const char  tn_store_domain_users_sql[] =
    "SELECT (SELECT count(*) FROM users WHERE domain_id = ?1)"
    " + (SELECT count(*) FROM aliases WHERE domain_id = ?1)";

static const char  tn_store_domain_del_sql[] =
    "DELETE FROM domains WHERE id = ?1";

static const char  tn_store_domain_list_sql[] =
    "SELECT name FROM domains ORDER BY name";

static const char  tn_store_user_add_sql[] =
    "INSERT INTO users (domain_id, localpart, address, password_hash,"
    " created) VALUES (?1, ?2, ?3, ?4, ?5)";

static const char  tn_store_user_id_sql[] =
    "SELECT id FROM users WHERE address = ?1";

static const char  tn_store_user_del_sql[] =
    "DELETE FROM users WHERE id = ?1";

static const char  tn_store_user_passwd_sql[] =
    "UPDATE users SET password_hash = ?1 WHERE address = ?2";

static const char  tn_store_user_list_sql[] =
    "SELECT address FROM users ORDER BY address";

static const char  tn_store_user_list_domain_sql[] =
    "SELECT address FROM users WHERE domain_id = ?1 ORDER BY address";


tn_int_t
tn_store_init(tn_store_conf_t *conf, tn_log_t *log)
{
    int             rc;
    tn_store_db_t  *db;

    if (tn_store_dir_check(conf->mail_root.data, log) != TN_OK
        || tn_store_dir_check(conf->spool_dir.data, log) != TN_OK)
    {
        return TN_ERROR;
    }

    db = tn_store_db_get((char *) conf->db_path.data, TN_STORE_DB_ACCOUNTS,
                         TN_STORE_DB_CREATE, &rc, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    /* no connection may survive into fork()ed workers */
    tn_store_db_close(db);

    return TN_OK;
}


static tn_int_t
tn_store_dir_check(u_char *path, tn_log_t *log)
{
    struct stat  sb;
    u_char       buf[PATH_MAX];

    if (tn_strlen(path) >= PATH_MAX) {
        tn_log_error(TN_LOG_EMERG, log, 0, "store: path too long: %s", path);
        return TN_ERROR;
    }

    /* tn_create_full_path() writes into its argument */
    (void) tn_cpystrn(buf, path, PATH_MAX);

    if (tn_create_full_path(buf, 0700) != TN_OK) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno,
                     "store: mkdir(\"%s\") failed", path);
        return TN_ERROR;
    }

    if (stat((char *) path, &sb) == -1) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno,
                     "store: stat(\"%s\") failed", path);
        return TN_ERROR;
    }

    if (!S_ISDIR(sb.st_mode)) {
        tn_log_error(TN_LOG_EMERG, log, 0, "store: \"%s\" is not a directory",
                     path);
        return TN_ERROR;
    }

    /* another local user must not plant or swap files in our folders */
    if (sb.st_mode & (S_IWGRP|S_IWOTH)) {
        tn_log_error(TN_LOG_EMERG, log, 0,
                     "store: \"%s\" is group or world writable", path);
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_store_db_t *
tn_store_accounts(tn_store_conf_t *conf, tn_log_t *log)
{
    int  rc;

    return tn_store_db_get((char *) conf->db_path.data, TN_STORE_DB_ACCOUNTS,
                           TN_STORE_DB_CREATE, &rc, log);
}


tn_int_t
tn_store_domain_valid(u_char *p, size_t len)
{
    size_t   i, label;
    u_char   ch;

    if (len == 0 || len > TN_STORE_DOMAIN_MAX) {
        return TN_ERROR;
    }

    label = 0;

    for (i = 0; i < len; i++) {
        ch = p[i];

        if (ch == '.') {
            if (label == 0 || p[i - 1] == '-') {
                return TN_ERROR;
            }

            label = 0;
            continue;
        }

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '-'))
        {
            return TN_ERROR;
        }

        if (ch == '-' && label == 0) {
            return TN_ERROR;
        }

        if (++label > 63) {
            return TN_ERROR;
        }
    }

    /* no empty last label (a trailing dot) and no trailing '-' */
    if (label == 0 || p[len - 1] == '-') {
        return TN_ERROR;
    }

    return TN_OK;
}


tn_int_t
tn_store_domain_norm(u_char *dst, u_char *name, size_t len)
{
    tn_int_t  n;

    n = tn_idna_to_ascii(dst, TN_STORE_DOMAIN_MAX, name, len);

    if (n == TN_ERROR || tn_store_domain_valid(dst, n) != TN_OK) {
        dst[0] = '\0';
        return TN_ERROR;
    }

    dst[n] = '\0';

    return n;
}


/*
 * The local part becomes a directory name (mail/<domain>/<local>), so
 * what passes here must be safe there: no '/', no NUL, no control
 * character (C0, DEL and, in UTF-8, C1), and no leading '.' (so neither
 * "." nor ".." nor a Maildir++ folder name).  UTF-8 is decoded, never
 * looked at byte by byte: its multi-byte sequences hold no ASCII byte,
 * and overlong forms (such as C0 AF for '/') are refused.
 */

void
tn_store_addr_parse(u_char *addr, size_t len, tn_store_addr_t *a)
{
    size_t     i;
    u_char    *at, *p, ch;
    tn_int_t   n;

    tn_memzero(a, sizeof(tn_store_addr_t));

    at = NULL;

    for (i = len; i > 0; i--) {
        if (addr[i - 1] == '@') {
            at = &addr[i - 1];
            break;
        }
    }

    if (at == NULL) {
        return;
    }

    n = tn_store_domain_norm(a->domain, at + 1, addr + len - (at + 1));

    if (n != TN_ERROR) {
        a->domain_len = n;
        a->domain_ok = 1;
    }

    a->local_len = at - addr;

    if (a->local_len == 0 || a->local_len > TN_STORE_LOCAL_MAX
        || a->local_len + 1 + a->domain_len > TN_STORE_ADDRESS_MAX
        || addr[0] == '.' || addr[a->local_len - 1] == '.')
    {
        a->local_len = 0;
        return;
    }

    p = addr;

    while (p < at) {
        ch = *p;

        if (ch >= 0x80) {
            /* RFC 6531: kept as given, neither folded nor normalised */

            if (!tn_utf8_non_ascii(tn_utf8_decode(&p, at - p))) {
                a->local_len = 0;
                return;
            }

            continue;
        }

        p++;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9'))
        {
            continue;
        }

        if (ch == '.') {
            /* not the last byte (checked above): *p is the next one */
            if (*p == '.') {
                a->local_len = 0;
                return;
            }

            continue;
        }

        /* NUL, controls, '/', '@', '"', '\\' ... */
        if (ch == '\0' || tn_strchr(tn_store_atext, ch) == NULL) {
            a->local_len = 0;
            return;
        }
    }

    tn_strlow(a->local, addr, a->local_len);
    a->local_ok = 1;

    if (a->domain_ok) {
        a->address_len = tn_sprintf(a->address, "%s@%s", a->local, a->domain)
                         - a->address;
        a->address[a->address_len] = '\0';
    }
}


tn_int_t
tn_store_maildir_path(tn_store_conf_t *conf, tn_store_addr_t *a,
    tn_store_user_t *u)
{
    u_char  *p;

    if (conf->mail_root.len + a->domain_len + a->local_len + 3 > PATH_MAX) {
        return TN_ERROR;
    }

    p = tn_sprintf((u_char *) u->maildir, "%V/%s/%s", &conf->mail_root,
                   a->domain, a->local);
    *p = '\0';

    (void) tn_cpystrn((u_char *) u->address, a->address, sizeof(u->address));

    return TN_OK;
}


tn_int_t
tn_store_user_lookup(tn_store_conf_t *conf, u_char *addr, size_t len,
    tn_store_user_t *u, tn_log_t *log)
{
    int               rc;
    tn_int_t          ret;
    sqlite3_stmt     *stmt;
    tn_store_db_t    *db;
    tn_store_addr_t   a;

    tn_store_addr_parse(addr, len, &a);

    if (!a.domain_ok) {
        return TN_DONE;
    }

    db = tn_store_accounts(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    stmt = tn_store_db_stmt(db, tn_store_lookup_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    if (a.local_ok) {
        sqlite3_bind_text(stmt, 1, (char *) a.address, a.address_len,
                          SQLITE_STATIC);
    }

    sqlite3_bind_text(stmt, 2, (char *) a.domain, a.domain_len,
                      SQLITE_STATIC);

    rc = sqlite3_step(stmt);

    if (rc == SQLITE_DONE) {
        ret = TN_DONE;

    } else if (rc != SQLITE_ROW) {
        tn_store_db_log(db, log, rc, "user lookup");
        ret = TN_ERROR;

    } else if (sqlite3_column_type(stmt, 1) == SQLITE_NULL
               || sqlite3_column_int(stmt, 2) != 0)
    {
        ret = TN_DECLINED;

    } else {
        u->id = sqlite3_column_int64(stmt, 1);
        ret = (tn_store_maildir_path(conf, &a, u) == TN_OK) ? TN_OK
                                                             : TN_DECLINED;
    }

    sqlite3_reset(stmt);

    return ret;
}


tn_int_t
tn_store_auth(tn_store_conf_t *conf, u_char *addr, size_t len,
    u_char *passwd, size_t plen, tn_store_user_t *u, tn_log_t *log)
{
    int               rc;
    tn_int_t          ret;
    const char       *hash;
    sqlite3_stmt     *stmt;
    tn_store_db_t    *db;
    tn_store_addr_t   a;
    char              copy[TN_STORE_HASH_LEN];

    tn_store_addr_parse(addr, len, &a);

    copy[0] = '\0';

    if (a.local_ok && a.domain_ok) {
        db = tn_store_accounts(conf, log);
        if (db == NULL) {
            return TN_ERROR;
        }

        stmt = tn_store_db_stmt(db, tn_store_auth_sql, log);
        if (stmt == NULL) {
            return TN_ERROR;
        }

        sqlite3_bind_text(stmt, 1, (char *) a.address, a.address_len,
                          SQLITE_STATIC);

        rc = sqlite3_step(stmt);

        if (rc == SQLITE_ROW) {
            hash = (const char *) sqlite3_column_text(stmt, 1);

            if (hash && sqlite3_column_int(stmt, 2) == 0
                && strlen(hash) < sizeof(copy))
            {
                u->id = sqlite3_column_int64(stmt, 0);
                (void) tn_cpystrn((u_char *) copy, (u_char *) hash,
                                  sizeof(copy));
            }

        } else if (rc != SQLITE_DONE) {
            tn_store_db_log(db, log, rc, "user lookup for auth");
            sqlite3_reset(stmt);
            return TN_ERROR;
        }

        sqlite3_reset(stmt);
    }

    if (copy[0] == '\0') {
        /* unknown: spend the time a real check takes, then refuse */
        hash = tn_store_dummy_hash(conf);

        if (hash) {
            (void) tn_store_password_verify(passwd, plen, hash);
        }

        return TN_DECLINED;
    }

    ret = tn_store_password_verify(passwd, plen, copy);

    tn_explicit_memzero(copy, sizeof(copy));

    if (ret != TN_OK) {
        return TN_DECLINED;
    }

    if (tn_store_maildir_path(conf, &a, u) != TN_OK) {
        return TN_DECLINED;
    }

    return TN_OK;
}


static const char *
tn_store_dummy_hash(tn_store_conf_t *conf)
{
    const char  *hash;

    /*
     * One dummy hash per scheme and cost, made on first use; the lock is
     * held only to read or replace it.
     */

    hash = NULL;

    (void) pthread_mutex_lock(&tn_store_dummy_mutex);

    if (tn_store_dummy_scheme != conf->password_scheme
        || tn_store_dummy_cost != conf->password_cost)
    {
        if (tn_store_password_hash(conf, (u_char *) "tern-dummy", 10,
                                   tn_store_dummy, sizeof(tn_store_dummy))
            == TN_OK)
        {
            tn_store_dummy_scheme = conf->password_scheme;
            tn_store_dummy_cost = conf->password_cost;
        }
    }

    if (tn_store_dummy_scheme == conf->password_scheme) {
        hash = tn_store_dummy;
    }

    (void) pthread_mutex_unlock(&tn_store_dummy_mutex);

    return hash;
}


static tn_int_t
tn_store_password_ok(u_char *pw, size_t len)
{
    if (len == 0 || len > TN_STORE_PASSWORD_MAX
        || memchr(pw, '\0', len) != NULL)
    {
        return TN_ERROR;
    }

    return TN_OK;
}


tn_int_t
tn_store_password_hash(tn_store_conf_t *conf, u_char *pw, size_t len,
    char *out, size_t outlen)
{
    char                *h;
    size_t               n;
    tn_int_t             rc;
    const char          *prefix;
    struct crypt_data   *cd;
    char                 salt[CRYPT_GENSALT_OUTPUT_SIZE];
    char                 key[TN_STORE_PASSWORD_MAX + 1];

    if (tn_store_password_ok(pw, len) != TN_OK) {
        return TN_ERROR;
    }

    switch (conf->password_scheme) {

    case TN_STORE_PW_SHA512:
        prefix = "$6$";
        break;

    case TN_STORE_PW_BCRYPT:
        prefix = "$2b$";
        break;

    default:
        prefix = "$y$";
        break;
    }

    /* rbytes NULL: libxcrypt takes the salt from the kernel's CSPRNG */
    if (crypt_gensalt_rn(prefix, conf->password_cost, NULL, 0, salt,
                         sizeof(salt))
        == NULL)
    {
        return TN_ERROR;
    }

    /* 32 KB: too big for a thread's stack */
    cd = calloc(1, sizeof(struct crypt_data));
    if (cd == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(key, pw, len);
    key[len] = '\0';

    rc = TN_ERROR;

    h = crypt_rn(key, salt, cd, sizeof(struct crypt_data));

    if (h && h[0] != '*') {
        n = strlen(h);

        if (n < outlen) {
            tn_memcpy(out, h, n + 1);
            rc = TN_OK;
        }
    }

    tn_explicit_memzero(key, sizeof(key));
    tn_explicit_memzero(cd, sizeof(struct crypt_data));
    free(cd);

    return rc;
}


tn_int_t
tn_store_password_verify(u_char *pw, size_t len, const char *hash)
{
    char                *h;
    size_t               n;
    tn_int_t             rc;
    struct crypt_data   *cd;
    char                 key[TN_STORE_PASSWORD_MAX + 1];

    if (tn_store_password_ok(pw, len) != TN_OK
        || hash == NULL || hash[0] == '\0')
    {
        return TN_DECLINED;
    }

    cd = calloc(1, sizeof(struct crypt_data));
    if (cd == NULL) {
        return TN_DECLINED;
    }

    tn_memcpy(key, pw, len);
    key[len] = '\0';

    rc = TN_DECLINED;

    /* "!" or "*" (locked accounts) make crypt_rn() fail: no match */
    h = crypt_rn(key, hash, cd, sizeof(struct crypt_data));

    if (h && h[0] != '*') {
        n = strlen(hash);

        if (strlen(h) == n
            && tn_memcmp_const((u_char *) h, (u_char *) hash, n) == 0)
        {
            rc = TN_OK;
        }
    }

    tn_explicit_memzero(key, sizeof(key));
    tn_explicit_memzero(cd, sizeof(struct crypt_data));
    free(cd);

    return rc;
}


tn_int_t
tn_store_domain_add(tn_store_conf_t *conf, u_char *name, size_t len,
    tn_log_t *log)
{
    int             rc;
    sqlite3_stmt   *stmt;
    tn_store_db_t  *db;
    tn_int_t        n;
    u_char          domain[TN_STORE_DOMAIN_MAX + 1];
    u_char          esc[TN_STORE_ESCAPED_LEN];

    n = tn_store_domain_norm(domain, name, len);

    if (n == TN_ERROR) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: invalid domain \"%s\"",
                     tn_store_escape(esc, name, len));
        return TN_DECLINED;
    }

    db = tn_store_accounts(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    stmt = tn_store_db_stmt(db, tn_store_domain_add_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, (char *) domain, n, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, (sqlite3_int64) time(NULL));

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: domain \"%s\" exists",
                     domain);
        return TN_DECLINED;
    }

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "adding a domain");
        return TN_ERROR;
    }

    return TN_OK;
}


tn_int_t
tn_store_domain_del(tn_store_conf_t *conf, u_char *name, size_t len,
    tn_log_t *log)
{
    int             rc;
    int64_t         id, users;
    tn_int_t        ret;
    sqlite3_stmt   *stmt;
    tn_store_db_t  *db;
    tn_int_t        n;
    u_char          domain[TN_STORE_DOMAIN_MAX + 1];
    u_char          path[PATH_MAX];
    u_char          esc[TN_STORE_ESCAPED_LEN];

    n = tn_store_domain_norm(domain, name, len);

    if (n == TN_ERROR) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no domain \"%s\"",
                     tn_store_escape(esc, name, len));
        return TN_DECLINED;
    }

    /* from here on the name is its A-label form */
    len = n;

    db = tn_store_accounts(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        return TN_ERROR;
    }

    ret = TN_ERROR;

    stmt = tn_store_db_stmt(db, tn_store_domain_id_sql, log);
    if (stmt == NULL) {
        goto done;
    }

    sqlite3_bind_text(stmt, 1, (char *) domain, len, SQLITE_STATIC);

    rc = sqlite3_step(stmt);
    id = (rc == SQLITE_ROW) ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);

    if (rc == SQLITE_DONE) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no domain \"%s\"", domain);
        ret = TN_DECLINED;
        goto done;
    }

    if (rc != SQLITE_ROW) {
        tn_store_db_log(db, log, rc, "reading a domain");
        goto done;
    }

    stmt = tn_store_db_stmt(db, tn_store_domain_users_sql, log);
    if (stmt == NULL) {
        goto done;
    }

    sqlite3_bind_int64(stmt, 1, id);

    rc = sqlite3_step(stmt);
    users = (rc == SQLITE_ROW) ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_reset(stmt);

    if (users < 0) {
        tn_store_db_log(db, log, rc, "counting users");
        goto done;
    }

    if (users > 0) {
        tn_log_error(TN_LOG_INFO, log, 0,
                     "store: domain \"%s\" still has %L users or aliases",
                     domain, users);
        ret = TN_DECLINED;
        goto done;
    }

    stmt = tn_store_db_stmt(db, tn_store_domain_del_sql, log);
    if (stmt == NULL) {
        goto done;
    }

    sqlite3_bind_int64(stmt, 1, id);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "deleting a domain");
        goto done;
    }

    if (tn_store_db_commit(db, log) != SQLITE_OK) {
        return TN_ERROR;
    }

    /* the domain's mail directory goes too if nothing is left in it */
    if (conf->mail_root.len + len + 2 <= PATH_MAX) {
        *tn_sprintf(path, "%V/%s", &conf->mail_root, domain) = '\0';
        (void) rmdir((char *) path);
    }

    return TN_OK;

done:

    tn_store_db_rollback(db, log);
    return ret;
}


tn_int_t
tn_store_domain_list(tn_store_conf_t *conf, tn_store_list_pt cb, void *data,
    tn_log_t *log)
{
    sqlite3_stmt   *stmt;
    tn_store_db_t  *db;

    db = tn_store_accounts(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    stmt = tn_store_db_stmt(db, tn_store_domain_list_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    return tn_store_list(db, stmt, cb, data, log);
}


tn_int_t
tn_store_user_add(tn_store_conf_t *conf, u_char *addr, size_t len,
    u_char *pw, size_t pwlen, tn_log_t *log)
{
    int               rc;
    int64_t           domain_id;
    tn_int_t          ret;
    sqlite3_stmt     *stmt;
    tn_store_db_t    *db;
    tn_store_addr_t   a;
    tn_store_user_t   u;
    char              hash[TN_STORE_HASH_LEN];
    u_char            esc[TN_STORE_ESCAPED_LEN];

    tn_store_addr_parse(addr, len, &a);

    if (!a.local_ok || !a.domain_ok
        || tn_store_maildir_path(conf, &a, &u) != TN_OK)
    {
        tn_log_error(TN_LOG_INFO, log, 0, "store: invalid address \"%s\"",
                     tn_store_escape(esc, addr, len));
        return TN_DECLINED;
    }

    if (tn_store_password_ok(pw, pwlen) != TN_OK) {
        tn_log_error(TN_LOG_INFO, log, 0,
                     "store: the password must be 1 to %d bytes, no NUL",
                     TN_STORE_PASSWORD_MAX);
        return TN_DECLINED;
    }

    /* the slow part, before any lock is taken */
    if (tn_store_password_hash(conf, pw, pwlen, hash, sizeof(hash))
        != TN_OK)
    {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: hashing the password failed");
        return TN_ERROR;
    }

    db = tn_store_accounts(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        return TN_ERROR;
    }

    ret = TN_ERROR;

    stmt = tn_store_db_stmt(db, tn_store_domain_id_sql, log);
    if (stmt == NULL) {
        goto failed;
    }

    sqlite3_bind_text(stmt, 1, (char *) a.domain, a.domain_len,
                      SQLITE_STATIC);

    rc = sqlite3_step(stmt);
    domain_id = (rc == SQLITE_ROW) ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);

    if (rc == SQLITE_DONE) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no domain \"%s\"",
                     a.domain);
        ret = TN_DECLINED;
        goto failed;
    }

    if (rc != SQLITE_ROW) {
        tn_store_db_log(db, log, rc, "reading a domain");
        goto failed;
    }

    stmt = tn_store_db_stmt(db, tn_store_user_add_sql, log);
    if (stmt == NULL) {
        goto failed;
    }

    sqlite3_bind_int64(stmt, 1, domain_id);
    sqlite3_bind_text(stmt, 2, (char *) a.local, a.local_len, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, (char *) a.address, a.address_len,
                      SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, (sqlite3_int64) time(NULL));

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: user \"%s\" exists",
                     a.address);
        ret = TN_DECLINED;
        goto failed;
    }

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "adding a user");
        goto failed;
    }

    /* the Maildir is made inside the transaction: both or neither */

    ret = tn_store_maildir_create(conf, &a, &u, log);
    if (ret != TN_OK) {
        goto failed;
    }

    if (tn_store_db_commit(db, log) != SQLITE_OK) {
        tn_store_maildir_destroy(&u);
        tn_explicit_memzero(hash, sizeof(hash));
        return TN_ERROR;
    }

    tn_explicit_memzero(hash, sizeof(hash));

    return TN_OK;

failed:

    tn_store_db_rollback(db, log);
    tn_explicit_memzero(hash, sizeof(hash));

    return ret;
}


static tn_int_t
tn_store_maildir_create(tn_store_conf_t *conf, tn_store_addr_t *a,
    tn_store_user_t *u, tn_log_t *log)
{
    int                   rc;
    tn_fd_t               rootfd, domfd, fd;
    tn_uint_t             i;
    struct stat           owner;
    tn_store_db_t        *db;
    tn_store_mbox_row_t   mr;
    char                  path[PATH_MAX + sizeof("/index.db")];

    static const char  *subdirs[] = { "tmp", "new", "cur" };

    fd = -1;

    rootfd = open((char *) conf->mail_root.data,
                  O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    if (rootfd == -1 || fstat(rootfd, &owner) == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno, "store: open(\"%V\") failed",
                     &conf->mail_root);
        goto failed_root;
    }

    if (mkdirat(rootfd, (char *) a->domain, 0700) == 0) {
        tn_store_give(rootfd, (char *) a->domain, &owner);
        (void) tn_store_fsync_fd(rootfd);

    } else if (errno != TN_EEXIST) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: mkdir(\"%V/%s\") failed", &conf->mail_root,
                     a->domain);
        goto failed_root;
    }

    domfd = openat(rootfd, (char *) a->domain,
                   O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
    if (domfd == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: open(\"%V/%s\") failed", &conf->mail_root,
                     a->domain);
        goto failed_root;
    }

    close(rootfd);

    if (mkdirat(domfd, (char *) a->local, 0700) == -1) {
        if (errno == TN_EEXIST) {
            tn_log_error(TN_LOG_INFO, log, 0,
                         "store: \"%s\" exists; remove or rename it first",
                         u->maildir);
            close(domfd);
            return TN_DECLINED;
        }

        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: mkdir(\"%s\") failed", u->maildir);
        close(domfd);
        return TN_ERROR;
    }

    tn_store_give(domfd, (char *) a->local, &owner);

    fd = openat(domfd, (char *) a->local,
                O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
    if (fd == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno, "store: open(\"%s\") failed",
                     u->maildir);
        goto failed;
    }

    for (i = 0; i < 3; i++) {
        if (mkdirat(fd, subdirs[i], 0700) == -1) {
            tn_log_error(TN_LOG_ERR, log, tn_errno,
                         "store: mkdir(\"%s/%s\") failed", u->maildir,
                         subdirs[i]);
            goto failed;
        }

        tn_store_give(fd, subdirs[i], &owner);
    }

    /* index.db with INBOX, so that UIDVALIDITY is fixed from the start */

    *tn_sprintf((u_char *) path, "%s/index.db", u->maildir) = '\0';

    db = tn_store_db_get(path, TN_STORE_DB_INDEX, TN_STORE_DB_CREATE, &rc,
                         log);
    if (db == NULL) {
        goto failed;
    }

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        tn_store_db_close(db);
        goto failed;
    }

    if (tn_store_inbox_get(db, fd, &mr, &rc, log) != TN_OK
        || tn_store_db_commit(db, log) != SQLITE_OK)
    {
        tn_store_db_rollback(db, log);
        tn_store_db_close(db);
        goto failed;
    }

    tn_store_db_close(db);

    tn_store_give(fd, "index.db", &owner);

    if (tn_store_fsync_fd(fd) != TN_OK || tn_store_fsync_fd(domfd) != TN_OK) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: fsync(\"%s\") failed", u->maildir);
        goto failed;
    }

    close(fd);
    close(domfd);

    return TN_OK;

failed:

    if (fd != -1) {
        close(fd);
    }

    close(domfd);
    tn_store_maildir_destroy(u);

    return TN_ERROR;

failed_root:

    if (rootfd != -1) {
        close(rootfd);
    }

    return TN_ERROR;
}


static void
tn_store_maildir_destroy(tn_store_user_t *u)
{
    DIR            *dir;
    tn_fd_t         fd;
    struct dirent  *de;

    /* removes what tn_store_maildir_create() made, and nothing else */

    fd = open(u->maildir, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
    if (fd == -1) {
        return;
    }

    (void) unlinkat(fd, "index.db", 0);
    (void) unlinkat(fd, "index.db-wal", 0);
    (void) unlinkat(fd, "index.db-shm", 0);
    (void) unlinkat(fd, "tmp", AT_REMOVEDIR);
    (void) unlinkat(fd, "new", AT_REMOVEDIR);
    (void) unlinkat(fd, "cur", AT_REMOVEDIR);

    dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return;
    }

    while ((de = readdir(dir)) != NULL) {
        if (strncmp(de->d_name, "tern-uidvalidity.", 17) == 0) {
            (void) unlinkat(fd, de->d_name, 0);
        }
    }

    closedir(dir);

    (void) rmdir(u->maildir);
}


static void
tn_store_give(tn_fd_t dirfd, const char *name, struct stat *owner)
{
    /*
     * Run as root (the admin command), new files go to the owner of the
     * mail root, which is the user the workers run as.
     */
    if (geteuid() == 0 && owner->st_uid != 0) {
        (void) fchownat(dirfd, name, owner->st_uid, owner->st_gid,
                        AT_SYMLINK_NOFOLLOW);
    }
}


tn_int_t
tn_store_user_del(tn_store_conf_t *conf, u_char *addr, size_t len,
    tn_log_t *log)
{
    int               rc;
    int64_t           id;
    tn_int_t          ret;
    sqlite3_stmt     *stmt;
    tn_store_db_t    *db;
    tn_store_addr_t   a;
    tn_store_user_t   u;
    char              path[PATH_MAX + 64];
    u_char            esc[TN_STORE_ESCAPED_LEN];

    tn_store_addr_parse(addr, len, &a);

    if (!a.local_ok || !a.domain_ok
        || tn_store_maildir_path(conf, &a, &u) != TN_OK)
    {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no user \"%s\"",
                     tn_store_escape(esc, addr, len));
        return TN_DECLINED;
    }

    db = tn_store_accounts(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        return TN_ERROR;
    }

    ret = TN_ERROR;

    stmt = tn_store_db_stmt(db, tn_store_user_id_sql, log);
    if (stmt == NULL) {
        goto failed;
    }

    sqlite3_bind_text(stmt, 1, (char *) a.address, a.address_len,
                      SQLITE_STATIC);

    rc = sqlite3_step(stmt);
    id = (rc == SQLITE_ROW) ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);

    if (rc == SQLITE_DONE) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no user \"%s\"",
                     a.address);
        ret = TN_DECLINED;
        goto failed;
    }

    if (rc != SQLITE_ROW) {
        tn_store_db_log(db, log, rc, "reading a user");
        goto failed;
    }

    stmt = tn_store_db_stmt(db, tn_store_user_del_sql, log);
    if (stmt == NULL) {
        goto failed;
    }

    sqlite3_bind_int64(stmt, 1, id);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "deleting a user");
        goto failed;
    }

    /* the mail is kept aside, never under a name a new user could get */

    if (tn_store_maildir_retire(&u, path, log) != TN_OK) {
        goto failed;
    }

    if (tn_store_db_commit(db, log) != SQLITE_OK) {
        if (path[0]) {
            (void) rename(path, u.maildir);
        }

        return TN_ERROR;
    }

    *tn_sprintf((u_char *) path, "%s/index.db", u.maildir) = '\0';
    tn_store_db_forget(path);

    return TN_OK;

failed:

    tn_store_db_rollback(db, log);
    return ret;
}


/*
 * Renames the Maildir to <maildir>.deleted-<time>[-n]; path gets the new
 * name, or "" when the Maildir was already gone.
 */

static tn_int_t
tn_store_maildir_retire(tn_store_user_t *u, char *path, tn_log_t *log)
{
    tn_uint_t  n;
    time_t     now;

    now = time(NULL);

    for (n = 0; n <= 100; n++) {
        if (n == 0) {
            *tn_sprintf((u_char *) path, "%s.deleted-%T", u->maildir, now)
                = '\0';

        } else {
            *tn_sprintf((u_char *) path, "%s.deleted-%T-%ui", u->maildir,
                        now, n) = '\0';
        }

        if (renameat2(AT_FDCWD, u->maildir, AT_FDCWD, path, RENAME_NOREPLACE)
            == 0)
        {
            return TN_OK;
        }

        if (errno == TN_EINVAL || errno == ENOSYS) {
            /* no RENAME_NOREPLACE here: check, then rename */
            if (access(path, F_OK) == -1 && errno == TN_ENOENT
                && rename(u->maildir, path) == 0)
            {
                return TN_OK;
            }
        }

        if (errno == TN_ENOENT && access(u->maildir, F_OK) == -1) {
            tn_log_error(TN_LOG_INFO, log, 0,
                         "store: the Maildir \"%s\" was already gone",
                         u->maildir);
            path[0] = '\0';
            return TN_OK;
        }

        if (errno != TN_EEXIST && errno != ENOTEMPTY) {
            break;
        }
    }

    tn_log_error(TN_LOG_ERR, log, tn_errno,
                 "store: rename(\"%s\", \"%s\") failed", u->maildir, path);

    return TN_ERROR;
}


tn_int_t
tn_store_user_passwd(tn_store_conf_t *conf, u_char *addr, size_t len,
    u_char *pw, size_t pwlen, tn_log_t *log)
{
    int               rc;
    sqlite3_stmt     *stmt;
    tn_store_db_t    *db;
    tn_store_addr_t   a;
    char              hash[TN_STORE_HASH_LEN];
    u_char            esc[TN_STORE_ESCAPED_LEN];

    tn_store_addr_parse(addr, len, &a);

    if (!a.local_ok || !a.domain_ok) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no user \"%s\"",
                     tn_store_escape(esc, addr, len));
        return TN_DECLINED;
    }

    if (tn_store_password_ok(pw, pwlen) != TN_OK) {
        tn_log_error(TN_LOG_INFO, log, 0,
                     "store: the password must be 1 to %d bytes, no NUL",
                     TN_STORE_PASSWORD_MAX);
        return TN_DECLINED;
    }

    if (tn_store_password_hash(conf, pw, pwlen, hash, sizeof(hash))
        != TN_OK)
    {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: hashing the password failed");
        return TN_ERROR;
    }

    db = tn_store_accounts(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    stmt = tn_store_db_stmt(db, tn_store_user_passwd_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, (char *) a.address, a.address_len,
                      SQLITE_STATIC);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    tn_explicit_memzero(hash, sizeof(hash));

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "changing a password");
        return TN_ERROR;
    }

    if (sqlite3_changes(db->db) == 0) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no user \"%s\"",
                     a.address);
        return TN_DECLINED;
    }

    return TN_OK;
}


tn_int_t
tn_store_user_list(tn_store_conf_t *conf, u_char *domain, size_t len,
    tn_store_list_pt cb, void *data, tn_log_t *log)
{
    int             rc;
    int64_t         id;
    tn_int_t        n;
    sqlite3_stmt   *stmt;
    tn_store_db_t  *db;
    u_char          name[TN_STORE_DOMAIN_MAX + 1];
    u_char          esc[TN_STORE_ESCAPED_LEN];

    db = tn_store_accounts(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    if (domain == NULL || len == 0) {
        stmt = tn_store_db_stmt(db, tn_store_user_list_sql, log);
        if (stmt == NULL) {
            return TN_ERROR;
        }

        return tn_store_list(db, stmt, cb, data, log);
    }

    n = tn_store_domain_norm(name, domain, len);

    if (n == TN_ERROR) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no domain \"%s\"",
                     tn_store_escape(esc, domain, len));
        return TN_DECLINED;
    }

    stmt = tn_store_db_stmt(db, tn_store_domain_id_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, (char *) name, n, SQLITE_STATIC);

    rc = sqlite3_step(stmt);
    id = (rc == SQLITE_ROW) ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);

    if (rc == SQLITE_DONE) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no domain \"%s\"",
                     tn_store_escape(esc, domain, len));
        return TN_DECLINED;
    }

    if (rc != SQLITE_ROW) {
        tn_store_db_log(db, log, rc, "reading a domain");
        return TN_ERROR;
    }

    stmt = tn_store_db_stmt(db, tn_store_user_list_domain_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, id);

    return tn_store_list(db, stmt, cb, data, log);
}


static tn_int_t
tn_store_list(tn_store_db_t *db, sqlite3_stmt *stmt, tn_store_list_pt cb,
    void *data, tn_log_t *log)
{
    int          rc;
    tn_int_t     ret;
    const char  *name;

    for ( ;; ) {
        rc = sqlite3_step(stmt);

        if (rc == SQLITE_DONE) {
            sqlite3_reset(stmt);
            return TN_OK;
        }

        if (rc != SQLITE_ROW) {
            tn_store_db_log(db, log, rc, "listing");
            sqlite3_reset(stmt);
            return TN_ERROR;
        }

        name = (const char *) sqlite3_column_text(stmt, 0);

        if (name == NULL) {
            continue;
        }

        ret = cb(data, name);

        if (ret != TN_OK) {
            sqlite3_reset(stmt);
            return ret;
        }
    }
}


static const char *
tn_store_escape(u_char *buf, u_char *s, size_t len)
{
    /* user input in a log line: bounded, controls and 8-bit escaped */

    if (len > 320) {
        len = 320;
    }

    *tn_escape_log(buf, s, len) = '\0';

    return (const char *) buf;
}
