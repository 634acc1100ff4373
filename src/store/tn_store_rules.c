
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>


/*
 * Local delivery rules: recipient expansion (users, aliases, catch-all,
 * plus-addressing, forwarding), may-send-as, quotas and their admin
 * functions.  Every SQL statement is a constant with bound parameters.
 */


/* lookups per expansion: bounds the work a hostile alias graph causes */
#define TN_STORE_RULES_VISITS   (10 * TN_STORE_RULES_MAX)

#define TN_STORE_RULES_ESC      (4 * 320 + 1)


typedef char  tn_store_rules_addr_t[TN_STORE_ADDR_MAX];

typedef struct {
    tn_uint_t               n;
    tn_uint_t               nalloc;
    tn_store_rules_addr_t  *elts;          /* malloc'd */
} tn_store_rules_list_t;

typedef struct {
    tn_store_conf_t        *conf;
    tn_store_db_t          *db;
    tn_log_t               *log;
    tn_store_rcpt_t        *r;
    tn_uint_t               nlocal_alloc;
    tn_store_rules_list_t   remote;
    tn_store_rules_list_t   seen;          /* addresses expanded */
    const char             *chain[TN_STORE_RULES_DEPTH + 1];
    tn_uint_t               visits;
    unsigned                forward:1;     /* follow users' forward_to */
} tn_store_rules_ctx_t;


static tn_int_t tn_store_rules_expand(tn_store_rules_ctx_t *ctx,
    u_char *addr, size_t len, tn_uint_t depth);
static tn_int_t tn_store_rules_local(tn_store_rules_ctx_t *ctx,
    tn_store_addr_t *a, tn_uint_t depth);
static tn_int_t tn_store_rules_stop(tn_store_rules_ctx_t *ctx,
    tn_store_addr_t *a, tn_uint_t depth);
static tn_int_t tn_store_rules_try(tn_store_rules_ctx_t *ctx,
    tn_store_addr_t *a, tn_uint_t depth);
static tn_int_t tn_store_rules_user(tn_store_rules_ctx_t *ctx,
    tn_store_addr_t *a, tn_uint_t depth);
static tn_int_t tn_store_rules_forward(tn_store_rules_ctx_t *ctx,
    char *list, tn_uint_t depth);
static tn_int_t tn_store_rules_alias(tn_store_rules_ctx_t *ctx,
    const char *key, tn_uint_t depth);
static tn_int_t tn_store_rules_targets(tn_store_rules_ctx_t *ctx,
    const char *key, tn_store_rules_list_t *t);
static tn_int_t tn_store_rules_add_local(tn_store_rules_ctx_t *ctx,
    tn_store_addr_t *a, int64_t id);
static tn_int_t tn_store_rules_add_remote(tn_store_rules_ctx_t *ctx,
    tn_store_addr_t *a);
static tn_int_t tn_store_rules_full(tn_store_rules_ctx_t *ctx);
static tn_int_t tn_store_rules_list_add(tn_store_rules_list_t *l,
    const char *s);
static tn_int_t tn_store_rules_list_has(tn_store_rules_list_t *l,
    const char *s);
static tn_int_t tn_store_rules_domain(tn_store_db_t *db, u_char *domain,
    size_t len, int64_t *id, tn_log_t *log);
static tn_int_t tn_store_rules_strip(tn_store_conf_t *conf,
    tn_store_addr_t *a, tn_store_addr_t *s);
static tn_int_t tn_store_rules_sendas_alias(tn_store_conf_t *conf,
    tn_store_db_t *db, tn_store_user_t *u, tn_store_addr_t *a,
    tn_log_t *log);
static tn_int_t tn_store_rules_key(tn_store_db_t *db, u_char *addr,
    size_t len, char *key, int64_t *domain_id, tn_log_t *log);
static tn_int_t tn_store_rules_insert(tn_store_db_t *db, const char *key,
    int64_t domain_id, u_char **targets, tn_uint_t n, tn_log_t *log);
static tn_int_t tn_store_rules_exec(tn_store_db_t *db, const char *sql,
    const char *text1, const char *text2, int64_t num, tn_log_t *log);
static tn_store_db_t *tn_store_rules_db(tn_store_conf_t *conf,
    tn_log_t *log);
static const char *tn_store_rules_escape(u_char *buf, u_char *s,
    size_t len);


static const char  tn_store_rules_domain_sql[] =
    "SELECT id FROM domains WHERE name = ?1";

static const char  tn_store_rules_user_sql[] =
    "SELECT id, disabled, forward_to, forward_keep FROM users"
    " WHERE address = ?1";

static const char  tn_store_rules_targets_sql[] =
    "SELECT target FROM aliases WHERE address = ?1 ORDER BY id";

static const char  tn_store_rules_sendas_sql[] =
    "SELECT count(*), min(send_as) FROM aliases WHERE address = ?1";

static const char  tn_store_rules_alias_add_sql[] =
    "INSERT OR IGNORE INTO aliases (domain_id, address, target, send_as,"
    " created) VALUES (?1, ?2, ?3, (SELECT coalesce(max(send_as), 0)"
    " FROM aliases WHERE address = ?2), ?4)";

static const char  tn_store_rules_alias_del_sql[] =
    "DELETE FROM aliases WHERE address = ?1";

static const char  tn_store_rules_alias_del1_sql[] =
    "DELETE FROM aliases WHERE address = ?1 AND target = ?2";

static const char  tn_store_rules_alias_sendas_sql[] =
    "UPDATE aliases SET send_as = ?3 WHERE address = ?1";

static const char  tn_store_rules_alias_list_sql[] =
    "SELECT address || ' ' || target"
    " || CASE send_as WHEN 0 THEN '' ELSE ' send-as' END"
    " FROM aliases ORDER BY address, id";

static const char  tn_store_rules_alias_list_domain_sql[] =
    "SELECT address || ' ' || target"
    " || CASE send_as WHEN 0 THEN '' ELSE ' send-as' END"
    " FROM aliases WHERE domain_id = ?3 ORDER BY address, id";

static const char  tn_store_rules_forward_sql[] =
    "UPDATE users SET forward_to = ?1, forward_keep = ?3"
    " WHERE address = ?2";

static const char  tn_store_rules_quota_set_sql[] =
    "UPDATE users SET quota_bytes = ?3 WHERE address = ?1";

static const char  tn_store_rules_quota_sql[] =
    "SELECT quota_bytes FROM users WHERE id = ?1";

/* every mailbox of the user counts (IMAP folders too) */
static const char  tn_store_rules_used_sql[] =
    "SELECT coalesce(sum(size), 0) FROM messages";


tn_int_t
tn_store_rcpt_resolve(tn_store_conf_t *conf, u_char *addr, size_t len,
    tn_store_rcpt_t *r, tn_log_t *log)
{
    int64_t               id;
    tn_int_t              rc;
    tn_store_addr_t       a;
    tn_store_rules_ctx_t  ctx;

    tn_memzero(r, sizeof(tn_store_rcpt_t));

    tn_store_addr_parse(addr, len, &a);

    if (!a.domain_ok) {
        return TN_DONE;
    }

    tn_memzero(&ctx, sizeof(tn_store_rules_ctx_t));
    ctx.conf = conf;
    ctx.log = log;
    ctx.r = r;
    ctx.forward = 1;

    ctx.db = tn_store_rules_db(conf, log);
    if (ctx.db == NULL) {
        return TN_ERROR;
    }

    rc = tn_store_rules_domain(ctx.db, a.domain, a.domain_len, &id, log);
    if (rc != TN_OK) {
        return (rc == TN_DECLINED) ? TN_DONE : TN_ERROR;
    }

    if (!a.local_ok) {
        return TN_DECLINED;
    }

    rc = tn_store_rules_local(&ctx, &a, 0);

    free(ctx.seen.elts);

    /* r owns the remote list now */
    r->nremote = ctx.remote.n;
    r->remote = ctx.remote.elts;

    if (rc == TN_OK) {
        if (r->nlocal + r->nremote > 0) {
            return TN_OK;
        }

        tn_log_error(TN_LOG_INFO, log, 0,
                     "store: no recipient for \"%s\"", a.address);
        rc = TN_DECLINED;
    }

    tn_store_rcpt_free(r);

    return rc;
}


void
tn_store_rcpt_free(tn_store_rcpt_t *r)
{
    free(r->local);
    free(r->remote);

    tn_memzero(r, sizeof(tn_store_rcpt_t));
}


/* a target of an alias or a forward: a local address or a remote one */

static tn_int_t
tn_store_rules_expand(tn_store_rules_ctx_t *ctx, u_char *addr, size_t len,
    tn_uint_t depth)
{
    int64_t          id;
    tn_int_t         rc;
    tn_store_addr_t  a;
    u_char           esc[TN_STORE_RULES_ESC];

    tn_store_addr_parse(addr, len, &a);

    if (!a.domain_ok || !a.local_ok) {
        tn_log_error(TN_LOG_INFO, ctx->log, 0,
                     "store: invalid target \"%s\" skipped",
                     tn_store_rules_escape(esc, addr, len));
        return TN_OK;
    }

    rc = tn_store_rules_domain(ctx->db, a.domain, a.domain_len, &id,
                               ctx->log);

    if (rc == TN_DECLINED) {
        return tn_store_rules_add_remote(ctx, &a);
    }

    if (rc != TN_OK) {
        return TN_ERROR;
    }

    return tn_store_rules_local(ctx, &a, depth);
}


/* an address of a local domain: TN_OK (maybe nobody) or TN_ERROR */

static tn_int_t
tn_store_rules_local(tn_store_rules_ctx_t *ctx, tn_store_addr_t *a,
    tn_uint_t depth)
{
    tn_int_t         rc;
    tn_uint_t        i;
    tn_store_addr_t  s;
    char             key[TN_STORE_DOMAIN_MAX + 2];

    if (++ctx->visits > TN_STORE_RULES_VISITS) {
        tn_log_error(TN_LOG_ERR, ctx->log, 0,
                     "store: expanding \"%s\" took more than %d lookups",
                     ctx->chain[0], TN_STORE_RULES_VISITS);
        return TN_ERROR;
    }

    if (depth > TN_STORE_RULES_DEPTH) {
        return tn_store_rules_stop(ctx, a, depth);
    }

    for (i = 0; i < depth; i++) {
        if (strcmp(ctx->chain[i], (char *) a->address) == 0) {
            return tn_store_rules_stop(ctx, a, depth);
        }
    }

    /* reached before by another branch: its targets are in already */

    if (tn_store_rules_list_has(&ctx->seen, (char *) a->address)) {
        return TN_OK;
    }

    if (tn_store_rules_list_add(&ctx->seen, (char *) a->address) != TN_OK) {
        return TN_ERROR;
    }

    ctx->chain[depth] = (char *) a->address;

    rc = tn_store_rules_try(ctx, a, depth);

    if (rc == TN_DECLINED && tn_store_rules_strip(ctx->conf, a, &s) == TN_OK) {
        rc = tn_store_rules_try(ctx, &s, depth);
    }

    if (rc == TN_DECLINED) {
        *tn_sprintf((u_char *) key, "@%s", a->domain) = '\0';
        rc = tn_store_rules_alias(ctx, key, depth);
    }

    if (rc == TN_DECLINED) {
        if (depth > 0) {
            tn_log_error(TN_LOG_INFO, ctx->log, 0,
                         "store: no recipient \"%s\" (a target of \"%s\")",
                         a->address, ctx->chain[depth - 1]);
        }

        return TN_OK;
    }

    return rc;
}


/* a loop or too deep: the branch ends here; a user keeps the message */

static tn_int_t
tn_store_rules_stop(tn_store_rules_ctx_t *ctx, tn_store_addr_t *a,
    tn_uint_t depth)
{
    tn_uint_t  forward;
    tn_int_t   rc;

    if (depth > TN_STORE_RULES_DEPTH) {
        tn_log_error(TN_LOG_INFO, ctx->log, 0,
                     "store: aliases of \"%s\" nest deeper than %d at \"%s\"",
                     ctx->chain[0], TN_STORE_RULES_DEPTH, a->address);

    } else {
        tn_log_error(TN_LOG_INFO, ctx->log, 0,
                     "store: alias or forward loop of \"%s\" at \"%s\"",
                     ctx->chain[0], a->address);
    }

    forward = ctx->forward;
    ctx->forward = 0;

    rc = tn_store_rules_user(ctx, a, depth);

    ctx->forward = forward;

    return (rc == TN_DECLINED) ? TN_OK : rc;
}


/* TN_OK: a user or an alias; TN_DECLINED: neither; TN_ERROR */

static tn_int_t
tn_store_rules_try(tn_store_rules_ctx_t *ctx, tn_store_addr_t *a,
    tn_uint_t depth)
{
    tn_int_t  rc;

    rc = tn_store_rules_user(ctx, a, depth);

    if (rc != TN_DECLINED) {
        return rc;
    }

    return tn_store_rules_alias(ctx, (char *) a->address, depth);
}


static tn_int_t
tn_store_rules_user(tn_store_rules_ctx_t *ctx, tn_store_addr_t *a,
    tn_uint_t depth)
{
    int            rc;
    char          *list;
    int64_t        id;
    tn_int_t       ret;
    tn_uint_t      disabled, keep;
    const char    *fwd;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(ctx->db, tn_store_rules_user_sql, ctx->log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, (char *) a->address, a->address_len,
                      SQLITE_STATIC);

    rc = sqlite3_step(stmt);

    if (rc != SQLITE_ROW) {
        sqlite3_reset(stmt);

        if (rc == SQLITE_DONE) {
            return TN_DECLINED;
        }

        tn_store_db_log(ctx->db, ctx->log, rc, "user lookup");
        return TN_ERROR;
    }

    id = sqlite3_column_int64(stmt, 0);
    disabled = sqlite3_column_int(stmt, 1);
    fwd = (const char *) sqlite3_column_text(stmt, 2);
    keep = sqlite3_column_int(stmt, 3);

    if (disabled) {
        sqlite3_reset(stmt);
        tn_log_error(TN_LOG_INFO, ctx->log, 0,
                     "store: the user \"%s\" is disabled", a->address);
        return TN_OK;
    }

    if (!ctx->forward || fwd == NULL || fwd[0] == '\0') {
        sqlite3_reset(stmt);
        return tn_store_rules_add_local(ctx, a, id);
    }

    /* the statement is needed again by the recursion: copy the list */

    list = strdup(fwd);
    sqlite3_reset(stmt);

    if (list == NULL) {
        tn_log_error(TN_LOG_CRIT, ctx->log, tn_errno,
                     "store: strdup() failed");
        return TN_ERROR;
    }

    ret = keep ? tn_store_rules_add_local(ctx, a, id) : TN_OK;

    if (ret == TN_OK) {
        ret = tn_store_rules_forward(ctx, list, depth);
    }

    free(list);

    return ret;
}


/* "a@x.test,b@y.test": each is a target one level deeper */

static tn_int_t
tn_store_rules_forward(tn_store_rules_ctx_t *ctx, char *list,
    tn_uint_t depth)
{
    char      *p, *comma;
    tn_int_t   rc;

    for (p = list; *p; p = comma + 1) {
        comma = strchr(p, ',');

        if (comma == NULL) {
            comma = p + strlen(p) - 1;
            rc = tn_store_rules_expand(ctx, (u_char *) p, strlen(p),
                                       depth + 1);

        } else {
            rc = tn_store_rules_expand(ctx, (u_char *) p, comma - p,
                                       depth + 1);
        }

        if (rc != TN_OK) {
            return rc;
        }
    }

    return TN_OK;
}


/* the targets of an alias key: TN_OK, TN_DECLINED (no alias), TN_ERROR */

static tn_int_t
tn_store_rules_alias(tn_store_rules_ctx_t *ctx, const char *key,
    tn_uint_t depth)
{
    tn_int_t               rc;
    tn_uint_t              i;
    tn_store_rules_list_t  t;

    tn_memzero(&t, sizeof(tn_store_rules_list_t));

    rc = tn_store_rules_targets(ctx, key, &t);

    if (rc == TN_OK && t.n == 0) {
        rc = TN_DECLINED;
    }

    for (i = 0; rc == TN_OK && i < t.n; i++) {
        rc = tn_store_rules_expand(ctx, (u_char *) t.elts[i],
                                   strlen(t.elts[i]), depth + 1);
    }

    free(t.elts);

    return rc;
}


static tn_int_t
tn_store_rules_targets(tn_store_rules_ctx_t *ctx, const char *key,
    tn_store_rules_list_t *t)
{
    int            rc;
    const char    *target;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(ctx->db, tn_store_rules_targets_sql, ctx->log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        target = (const char *) sqlite3_column_text(stmt, 0);

        if (target == NULL || strlen(target) >= TN_STORE_ADDR_MAX) {
            continue;
        }

        if (t->n == TN_STORE_RULES_MAX) {
            sqlite3_reset(stmt);
            tn_log_error(TN_LOG_ERR, ctx->log, 0,
                         "store: the alias \"%s\" has more than %d targets",
                         key, TN_STORE_RULES_MAX);
            return TN_ERROR;
        }

        if (tn_store_rules_list_add(t, target) != TN_OK) {
            sqlite3_reset(stmt);
            return TN_ERROR;
        }
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(ctx->db, ctx->log, rc, "alias lookup");
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_int_t
tn_store_rules_add_local(tn_store_rules_ctx_t *ctx, tn_store_addr_t *a,
    int64_t id)
{
    size_t            n;
    tn_uint_t         i;
    tn_store_rcpt_t  *r;
    tn_store_user_t  *u;

    r = ctx->r;

    for (i = 0; i < r->nlocal; i++) {
        if (r->local[i].id == id) {
            return TN_OK;
        }
    }

    if (tn_store_rules_full(ctx) != TN_OK) {
        return TN_ERROR;
    }

    if (r->nlocal == ctx->nlocal_alloc) {
        n = ctx->nlocal_alloc ? 2 * ctx->nlocal_alloc : 4;

        u = realloc(r->local, n * sizeof(tn_store_user_t));
        if (u == NULL) {
            tn_log_error(TN_LOG_CRIT, ctx->log, tn_errno,
                         "store: realloc() failed");
            return TN_ERROR;
        }

        r->local = u;
        ctx->nlocal_alloc = n;
    }

    u = &r->local[r->nlocal];
    u->id = id;

    if (tn_store_maildir_path(ctx->conf, a, u) != TN_OK) {
        tn_log_error(TN_LOG_INFO, ctx->log, 0,
                     "store: the Maildir path of \"%s\" is too long",
                     a->address);
        return TN_OK;
    }

    r->nlocal++;

    return TN_OK;
}


static tn_int_t
tn_store_rules_add_remote(tn_store_rules_ctx_t *ctx, tn_store_addr_t *a)
{
    if (tn_store_rules_list_has(&ctx->remote, (char *) a->address)) {
        return TN_OK;
    }

    if (tn_store_rules_full(ctx) != TN_OK) {
        return TN_ERROR;
    }

    return tn_store_rules_list_add(&ctx->remote, (char *) a->address);
}


static tn_int_t
tn_store_rules_full(tn_store_rules_ctx_t *ctx)
{
    if (ctx->r->nlocal + ctx->remote.n < TN_STORE_RULES_MAX) {
        return TN_OK;
    }

    tn_log_error(TN_LOG_ERR, ctx->log, 0,
                 "store: \"%s\" expands to more than %d recipients",
                 ctx->chain[0], TN_STORE_RULES_MAX);

    return TN_ERROR;
}


static tn_int_t
tn_store_rules_list_add(tn_store_rules_list_t *l, const char *s)
{
    size_t                  n;
    tn_store_rules_addr_t  *elts;

    if (l->n == l->nalloc) {
        n = l->nalloc ? 2 * l->nalloc : 8;

        elts = realloc(l->elts, n * sizeof(tn_store_rules_addr_t));
        if (elts == NULL) {
            return TN_ERROR;
        }

        l->elts = elts;
        l->nalloc = n;
    }

    (void) tn_cpystrn((u_char *) l->elts[l->n++], (u_char *) s,
                      TN_STORE_ADDR_MAX);

    return TN_OK;
}


static tn_int_t
tn_store_rules_list_has(tn_store_rules_list_t *l, const char *s)
{
    tn_uint_t  i;

    for (i = 0; i < l->n; i++) {
        if (strcmp(l->elts[i], s) == 0) {
            return 1;
        }
    }

    return 0;
}


/* TN_OK (a local domain, *id set), TN_DECLINED (not local), TN_ERROR */

static tn_int_t
tn_store_rules_domain(tn_store_db_t *db, u_char *domain, size_t len,
    int64_t *id, tn_log_t *log)
{
    int            rc;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, tn_store_rules_domain_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, (char *) domain, len, SQLITE_STATIC);

    rc = sqlite3_step(stmt);
    *id = (rc == SQLITE_ROW) ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);

    if (rc == SQLITE_ROW) {
        return TN_OK;
    }

    if (rc == SQLITE_DONE) {
        return TN_DECLINED;
    }

    tn_store_db_log(db, log, rc, "domain lookup");

    return TN_ERROR;
}


/* a without its +tag into s: TN_OK, or TN_DECLINED when there is none */

static tn_int_t
tn_store_rules_strip(tn_store_conf_t *conf, tn_store_addr_t *a,
    tn_store_addr_t *s)
{
    size_t     i;
    tn_str_t  *d;
    u_char     buf[TN_STORE_ADDRESS_MAX + 1];

    d = &conf->recipient_delimiter;

    if (d->len == 0 || !a->local_ok || !a->domain_ok) {
        return TN_DECLINED;
    }

    for (i = 0; i < a->local_len; i++) {
        if (memchr(d->data, a->local[i], d->len) != NULL) {
            break;
        }
    }

    /* none, or at the start ("+x@d" is a name of its own) */
    if (i == 0 || i == a->local_len) {
        return TN_DECLINED;
    }

    tn_memcpy(buf, a->local, i);
    buf[i] = '@';
    tn_memcpy(buf + i + 1, a->domain, a->domain_len);

    tn_store_addr_parse(buf, i + 1 + a->domain_len, s);

    return (s->local_ok && s->domain_ok) ? TN_OK : TN_DECLINED;
}


tn_int_t
tn_store_may_send_as(tn_store_conf_t *conf, tn_store_user_t *u,
    u_char *addr, size_t len, tn_log_t *log)
{
    tn_int_t          rc, stripped;
    tn_store_db_t    *db;
    tn_store_addr_t   a, s;

    tn_store_addr_parse(addr, len, &a);

    if (!a.local_ok || !a.domain_ok) {
        return TN_DECLINED;
    }

    if (strcmp((char *) a.address, u->address) == 0) {
        return TN_OK;
    }

    stripped = (tn_store_rules_strip(conf, &a, &s) == TN_OK);

    if (stripped && strcmp((char *) s.address, u->address) == 0) {
        return TN_OK;
    }

    db = tn_store_rules_db(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    rc = tn_store_rules_sendas_alias(conf, db, u, &a, log);

    if (rc == TN_DONE && stripped) {
        rc = tn_store_rules_sendas_alias(conf, db, u, &s, log);
    }

    return (rc == TN_DONE) ? TN_DECLINED : rc;
}


/* TN_OK, TN_DECLINED, TN_DONE (a is no alias), TN_ERROR */

static tn_int_t
tn_store_rules_sendas_alias(tn_store_conf_t *conf, tn_store_db_t *db,
    tn_store_user_t *u, tn_store_addr_t *a, tn_log_t *log)
{
    int                   rc;
    int64_t               count, on;
    tn_int_t              ret;
    sqlite3_stmt         *stmt;
    tn_store_rcpt_t       r;
    tn_store_rules_ctx_t  ctx;

    stmt = tn_store_db_stmt(db, tn_store_rules_sendas_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, (char *) a->address, a->address_len,
                      SQLITE_STATIC);

    rc = sqlite3_step(stmt);
    count = (rc == SQLITE_ROW) ? sqlite3_column_int64(stmt, 0) : 0;
    on = (rc == SQLITE_ROW) ? sqlite3_column_int64(stmt, 1) : 0;
    sqlite3_reset(stmt);

    if (rc != SQLITE_ROW) {
        tn_store_db_log(db, log, rc, "alias lookup");
        return TN_ERROR;
    }

    if (count == 0) {
        return TN_DONE;
    }

    if (on == 0) {
        return TN_DECLINED;
    }

    /* it must lead to u alone; u's own forwarding does not matter */

    tn_memzero(&r, sizeof(tn_store_rcpt_t));
    tn_memzero(&ctx, sizeof(tn_store_rules_ctx_t));
    ctx.conf = conf;
    ctx.db = db;
    ctx.log = log;
    ctx.r = &r;

    ret = tn_store_rules_local(&ctx, a, 0);

    if (ret == TN_OK) {
        ret = (r.nlocal == 1 && ctx.remote.n == 0 && r.local[0].id == u->id)
              ? TN_OK : TN_DECLINED;
    }

    free(ctx.remote.elts);
    free(ctx.seen.elts);
    tn_store_rcpt_free(&r);

    return ret;
}


static tn_int_t
tn_store_rules_quota_get(tn_store_conf_t *conf, tn_store_user_t *u,
    off_t *quota, tn_log_t *log)
{
    int             rc;
    sqlite3_stmt   *stmt;
    tn_store_db_t  *db;

    db = tn_store_rules_db(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    stmt = tn_store_db_stmt(db, tn_store_rules_quota_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, u->id);

    rc = sqlite3_step(stmt);
    *quota = (rc == SQLITE_ROW) ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);

    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "reading a quota");
        return TN_ERROR;
    }

    /* a user deleted meanwhile has no quota: delivery decides */

    return TN_OK;
}


static tn_int_t
tn_store_rules_fits(tn_store_user_t *u, tn_store_db_t *db, off_t quota,
    off_t size, tn_log_t *log)
{
    int            rc;
    off_t          used;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, tn_store_rules_used_sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    rc = sqlite3_step(stmt);
    used = (rc == SQLITE_ROW) ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);

    if (rc != SQLITE_ROW) {
        tn_store_db_log(db, log, rc, "reading the mailbox size");
        return TN_ERROR;
    }

    if (used <= quota && size <= quota - used) {
        return TN_OK;
    }

    tn_log_error(TN_LOG_INFO, log, 0,
                 "store: \"%s\" is over quota: %O + %O > %O bytes",
                 u->address, used, size, quota);

    return TN_DECLINED;
}


tn_int_t
tn_store_quota_tx(tn_store_conf_t *conf, tn_store_db_t *db,
    tn_store_user_t *u, off_t size, tn_log_t *log)
{
    off_t  quota;

    if (tn_store_rules_quota_get(conf, u, &quota, log) != TN_OK) {
        return TN_ERROR;
    }

    if (quota <= 0) {
        return TN_OK;
    }

    /* inside BEGIN IMMEDIATE: the sum includes what this batch added */

    return tn_store_rules_fits(u, db, quota, size, log);
}


tn_int_t
tn_store_quota_get(tn_store_conf_t *conf, tn_store_user_t *u, off_t *quota,
    tn_log_t *log)
{
    return tn_store_rules_quota_get(conf, u, quota, log);
}


tn_int_t
tn_store_quota_check(tn_store_conf_t *conf, tn_store_user_t *u, off_t size,
    tn_log_t *log)
{
    off_t           quota;
    tn_store_db_t  *db;

    if (tn_store_rules_quota_get(conf, u, &quota, log) != TN_OK) {
        return TN_ERROR;
    }

    if (quota <= 0) {
        return TN_OK;
    }

    db = tn_store_index_open(conf, u, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    return tn_store_rules_fits(u, db, quota, tn_max(size, 1), log);
}


tn_int_t
tn_store_alias_add(tn_store_conf_t *conf, u_char *addr, size_t len,
    u_char **targets, tn_uint_t n, tn_log_t *log)
{
    int64_t          id;
    tn_int_t         rc;
    tn_uint_t        i;
    tn_store_db_t   *db;
    tn_store_addr_t  t;
    char             key[TN_STORE_ADDR_MAX];
    u_char           esc[TN_STORE_RULES_ESC];

    db = tn_store_rules_db(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    rc = tn_store_rules_key(db, addr, len, key, &id, log);
    if (rc != TN_OK) {
        return rc;
    }

    if (n == 0 || n > TN_STORE_RULES_MAX) {
        tn_log_error(TN_LOG_INFO, log, 0,
                     "store: an alias needs 1 to %d targets",
                     TN_STORE_RULES_MAX);
        return TN_DECLINED;
    }

    for (i = 0; i < n; i++) {
        tn_store_addr_parse(targets[i], tn_strlen(targets[i]), &t);

        if (!t.local_ok || !t.domain_ok) {
            tn_log_error(TN_LOG_INFO, log, 0, "store: invalid target \"%s\"",
                         tn_store_rules_escape(esc, targets[i],
                                               tn_strlen(targets[i])));
            return TN_DECLINED;
        }

        if (strcmp((char *) t.address, key) == 0) {
            tn_log_error(TN_LOG_INFO, log, 0,
                         "store: the alias \"%s\" cannot point at itself",
                         key);
            return TN_DECLINED;
        }
    }

    if (tn_store_db_begin(db, log) != SQLITE_OK) {
        return TN_ERROR;
    }

    if (tn_store_rules_insert(db, key, id, targets, n, log) != TN_OK) {
        tn_store_db_rollback(db, log);
        return TN_ERROR;
    }

    return (tn_store_db_commit(db, log) == SQLITE_OK) ? TN_OK : TN_ERROR;
}


static tn_int_t
tn_store_rules_insert(tn_store_db_t *db, const char *key, int64_t domain_id,
    u_char **targets, tn_uint_t n, tn_log_t *log)
{
    int              rc;
    tn_uint_t        i;
    sqlite3_stmt    *stmt;
    tn_store_addr_t  t;

    for (i = 0; i < n; i++) {
        tn_store_addr_parse(targets[i], tn_strlen(targets[i]), &t);

        stmt = tn_store_db_stmt(db, tn_store_rules_alias_add_sql, log);
        if (stmt == NULL) {
            return TN_ERROR;
        }

        sqlite3_bind_int64(stmt, 1, domain_id);
        sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, (char *) t.address, t.address_len,
                          SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, time(NULL));

        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);

        if (rc != SQLITE_DONE) {
            tn_store_db_log(db, log, rc, "adding an alias");
            return TN_ERROR;
        }
    }

    return TN_OK;
}


tn_int_t
tn_store_alias_del(tn_store_conf_t *conf, u_char *addr, size_t len,
    u_char *target, tn_log_t *log)
{
    int64_t          id;
    tn_int_t         rc;
    tn_store_db_t   *db;
    tn_store_addr_t  t;
    char             key[TN_STORE_ADDR_MAX];

    db = tn_store_rules_db(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    rc = tn_store_rules_key(db, addr, len, key, &id, log);
    if (rc != TN_OK) {
        return rc;
    }

    if (target == NULL) {
        rc = tn_store_rules_exec(db, tn_store_rules_alias_del_sql, key, NULL,
                                 0, log);

    } else {
        tn_store_addr_parse(target, tn_strlen(target), &t);

        rc = tn_store_rules_exec(db, tn_store_rules_alias_del1_sql, key,
                                 (char *) t.address, 0, log);
    }

    if (rc == TN_DECLINED) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no such alias \"%s\"", key);
    }

    return rc;
}


tn_int_t
tn_store_alias_sendas(tn_store_conf_t *conf, u_char *addr, size_t len,
    tn_uint_t on, tn_log_t *log)
{
    int64_t         id;
    tn_int_t        rc;
    tn_store_db_t  *db;
    char            key[TN_STORE_ADDR_MAX];

    db = tn_store_rules_db(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    rc = tn_store_rules_key(db, addr, len, key, &id, log);
    if (rc != TN_OK) {
        return rc;
    }

    rc = tn_store_rules_exec(db, tn_store_rules_alias_sendas_sql, key, NULL,
                             on ? 1 : 0, log);

    if (rc == TN_DECLINED) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no such alias \"%s\"", key);
    }

    return rc;
}


tn_int_t
tn_store_alias_list(tn_store_conf_t *conf, u_char *domain, size_t len,
    tn_store_list_pt cb, void *data, tn_log_t *log)
{
    int             rc;
    int64_t         id;
    tn_int_t        ret, n;
    const char     *line;
    sqlite3_stmt   *stmt;
    tn_store_db_t  *db;
    u_char          name[TN_STORE_DOMAIN_MAX + 1];
    u_char          esc[TN_STORE_RULES_ESC];

    db = tn_store_rules_db(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    if (domain && len) {
        n = tn_store_domain_norm(name, domain, len);

        ret = (n == TN_ERROR) ? TN_DECLINED
                              : tn_store_rules_domain(db, name, n, &id, log);

        if (ret == TN_DECLINED) {
            tn_log_error(TN_LOG_INFO, log, 0, "store: no domain \"%s\"",
                         tn_store_rules_escape(esc, domain, len));
        }

        if (ret != TN_OK) {
            return ret;
        }

        stmt = tn_store_db_stmt(db, tn_store_rules_alias_list_domain_sql,
                                log);
        if (stmt) {
            sqlite3_bind_int64(stmt, 3, id);
        }

    } else {
        stmt = tn_store_db_stmt(db, tn_store_rules_alias_list_sql, log);
    }

    if (stmt == NULL) {
        return TN_ERROR;
    }

    ret = TN_OK;

    while (ret == TN_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        line = (const char *) sqlite3_column_text(stmt, 0);

        if (line) {
            ret = cb(data, line);
        }
    }

    sqlite3_reset(stmt);

    if (ret == TN_OK && rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "listing aliases");
        return TN_ERROR;
    }

    return ret;
}


tn_int_t
tn_store_user_forward(tn_store_conf_t *conf, u_char *addr, size_t len,
    u_char **targets, tn_uint_t n, tn_uint_t keep, tn_log_t *log)
{
    u_char           *list, *p;
    tn_int_t          rc;
    tn_uint_t         i;
    tn_store_db_t    *db;
    tn_store_addr_t   a, t;
    u_char            esc[TN_STORE_RULES_ESC];

    tn_store_addr_parse(addr, len, &a);

    if (!a.local_ok || !a.domain_ok || n > TN_STORE_RULES_MAX) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no user \"%s\"",
                     tn_store_rules_escape(esc, addr, len));
        return TN_DECLINED;
    }

    list = malloc(n * TN_STORE_ADDR_MAX + 1);
    if (list == NULL) {
        return TN_ERROR;
    }

    p = list;

    for (i = 0; i < n; i++) {
        tn_store_addr_parse(targets[i], tn_strlen(targets[i]), &t);

        if (!t.local_ok || !t.domain_ok
            || tn_strcmp(t.address, a.address) == 0)
        {
            tn_log_error(TN_LOG_INFO, log, 0,
                         "store: invalid forward target \"%s\"",
                         tn_store_rules_escape(esc, targets[i],
                                               tn_strlen(targets[i])));
            free(list);
            return TN_DECLINED;
        }

        p = tn_sprintf(p, "%s%s", i ? "," : "", t.address);
    }

    *p = '\0';

    db = tn_store_rules_db(conf, log);

    rc = db ? tn_store_rules_exec(db, tn_store_rules_forward_sql,
                                  (char *) list, (char *) a.address,
                                  n ? (keep ? 1 : 0) : 0, log)
            : TN_ERROR;

    free(list);

    if (rc == TN_DECLINED) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no user \"%s\"", a.address);
    }

    return rc;
}


tn_int_t
tn_store_user_quota(tn_store_conf_t *conf, u_char *addr, size_t len,
    off_t bytes, tn_log_t *log)
{
    tn_int_t         rc;
    tn_store_db_t   *db;
    tn_store_addr_t  a;
    u_char           esc[TN_STORE_RULES_ESC];

    tn_store_addr_parse(addr, len, &a);

    if (!a.local_ok || !a.domain_ok || bytes < 0) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no user \"%s\"",
                     tn_store_rules_escape(esc, addr, len));
        return TN_DECLINED;
    }

    db = tn_store_rules_db(conf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    rc = tn_store_rules_exec(db, tn_store_rules_quota_set_sql,
                             (char *) a.address, NULL, bytes, log);

    if (rc == TN_DECLINED) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: no user \"%s\"", a.address);
    }

    return rc;
}


/* an alias address ("local@domain" or "@domain") of a local domain */

static tn_int_t
tn_store_rules_key(tn_store_db_t *db, u_char *addr, size_t len, char *key,
    int64_t *domain_id, tn_log_t *log)
{
    tn_int_t         rc, n;
    tn_store_addr_t  a;
    u_char           esc[TN_STORE_RULES_ESC];

    tn_memzero(&a, sizeof(tn_store_addr_t));

    n = (len > 1 && addr[0] == '@')
        ? tn_store_domain_norm(a.domain, addr + 1, len - 1) : TN_ERROR;

    if (n != TN_ERROR) {
        /* a catch-all "@domain", the domain in its A-label form */
        a.domain_len = n;
        *tn_sprintf((u_char *) key, "@%s", a.domain) = '\0';

    } else {
        tn_store_addr_parse(addr, len, &a);

        if (!a.local_ok || !a.domain_ok) {
            tn_log_error(TN_LOG_INFO, log, 0,
                         "store: invalid alias address \"%s\"",
                         tn_store_rules_escape(esc, addr, len));
            return TN_DECLINED;
        }

        (void) tn_cpystrn((u_char *) key, a.address, TN_STORE_ADDR_MAX);
    }

    rc = tn_store_rules_domain(db, a.domain, a.domain_len, domain_id, log);

    if (rc == TN_DECLINED) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: \"%s\" is not a local "
                     "domain", a.domain);
    }

    return rc;
}


/*
 * Binds ?1 text1, ?2 text2 (if not NULL) and ?3 num, runs sql: TN_OK when
 * a row changed, TN_DECLINED when none did, TN_ERROR.
 */

static tn_int_t
tn_store_rules_exec(tn_store_db_t *db, const char *sql, const char *text1,
    const char *text2, int64_t num, tn_log_t *log)
{
    int            rc;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(db, sql, log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, text1, -1, SQLITE_STATIC);

    if (text2) {
        sqlite3_bind_text(stmt, 2, text2, -1, SQLITE_STATIC);
    }

    if (sqlite3_bind_parameter_count(stmt) >= 3) {
        sqlite3_bind_int64(stmt, 3, num);
    }

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(db, log, rc, "changing the rules");
        return TN_ERROR;
    }

    return (sqlite3_changes(db->db) > 0) ? TN_OK : TN_DECLINED;
}


static tn_store_db_t *
tn_store_rules_db(tn_store_conf_t *conf, tn_log_t *log)
{
    int  rc;

    return tn_store_db_get((char *) conf->db_path.data, TN_STORE_DB_ACCOUNTS,
                           TN_STORE_DB_CREATE, &rc, log);
}


static const char *
tn_store_rules_escape(u_char *buf, u_char *s, size_t len)
{
    /* user input in a log line: bounded, controls and 8-bit escaped */

    if (len > 320) {
        len = 320;
    }

    *tn_escape_log(buf, s, len) = '\0';

    return (const char *) buf;
}
