
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail_out.h>
#include <tn_mail_out_mxcache.h>

#include <sys/random.h>


/*
 * Where outbound mail goes.
 *
 * The configuration: "connection NAME { ... }" blocks (parsed here with
 * a custom handler of the parser, as nginx parses "types { }"), "route"
 * lines, and the check at the end of the outbound block that no route
 * or backup names a connection that is not there, that backups do not
 * go round in a cycle and that nothing is defined twice.  The
 * configuration is the only place connections live, so a config that
 * removed or renamed a connection still named elsewhere is refused by
 * "tern -t" and by a reload (which keeps the old one).
 *
 * The resolution: a route's connection (its host's addresses, then its
 * backups') or direct MX.  All lookups go through the worker's resolver
 * in parallel: the MX records first, then AAAA and A of every host at
 * once.  The handler runs from a posted event, once.  Everything lives
 * in rs->pool; the lookups in flight are canceled by
 * tn_mail_out_resolve_free().  Direct MX answers are kept in the MX
 * cache (tn_mail_out_mxcache.c), shared by the workers.
 */


#define TN_MAIL_OUT_CONN_NAME_MAX   64
#define TN_MAIL_OUT_RESOLVE_POOL    4096
/* a backup chain is cut there; the check refuses cycles anyway */
#define TN_MAIL_OUT_CHAIN_MAX       TN_MAIL_OUT_MAX_TARGETS
#define TN_MAIL_OUT_ERROR_LEN       512

/* lookups of a host: AAAA (asked only with "ipv6 on") and A */
#define TN_MAIL_OUT_LOOKUP_AAAA     0
#define TN_MAIL_OUT_LOOKUP_A        1


typedef struct tn_mail_out_rctx_s  tn_mail_out_rctx_t;
typedef struct tn_mail_out_host_s  tn_mail_out_host_t;


typedef struct {
    tn_mail_out_host_t     *host;
    tn_resolver_ctx_t      *ctx;          /* in flight, or NULL */
    tn_int_t                state;        /* TN_OK or TN_RESOLVE_* */
    tn_uint_t               naddrs;
    tn_addr_t              *addrs;        /* in rs->pool, port 0 */
    unsigned                asked:1;
} tn_mail_out_lookup_t;


/* an MX host, the domain itself (no MX) or a connection's host */
struct tn_mail_out_host_s {
    tn_mail_out_rctx_t     *rctx;
    tn_str_t                name;
    tn_uint_t               preference;
    tn_mail_out_conn_t     *conn;         /* NULL: MX */
    tn_mail_out_lookup_t    lookups[2];
};


/* rs->priv */
struct tn_mail_out_rctx_s {
    tn_mail_out_resolve_t  *rs;
    tn_str_t                domain;       /* A-label, lower case */
    tn_resolver_t          *resolver;
    tn_event_t              event;        /* runs rs->handler */
    tn_resolver_ctx_t      *mx;           /* the MX lookup in flight */
    tn_mail_out_host_t     *hosts;
    tn_uint_t               nhosts;
    tn_uint_t               pending;      /* address lookups in flight */
    uint32_t                ttl;          /* the smallest of the answers */
    in_port_t               mx_port;      /* 25, but for tests */
    unsigned                ipv6:1;
    unsigned                implicit:1;   /* no MX: the domain itself */
    unsigned                finished:1;
};


static char *tn_mail_out_conn_directive(tn_conf_t *cf, tn_command_t *dummy,
    void *conf);
static char *tn_mail_out_conn_host(tn_conf_t *cf, tn_mail_out_conn_t *conn,
    tn_str_t *value);
static char *tn_mail_out_conn_tls(tn_conf_t *cf, tn_mail_out_conn_t *conn,
    tn_str_t *value);
static char *tn_mail_out_conn_auth(tn_conf_t *cf, tn_mail_out_conn_t *conn,
    tn_str_t *value);
static void tn_mail_out_zero_secret(void *data);
static tn_uint_t tn_mail_out_conn_name_ok(tn_str_t *name);
static tn_mail_out_conn_t *tn_mail_out_conn_find(tn_mail_out_conf_t *ocf,
    tn_str_t *name);
static char *tn_mail_out_check_conns(tn_conf_t *cf,
    tn_mail_out_conf_t *ocf);
static char *tn_mail_out_check_routes(tn_conf_t *cf,
    tn_mail_out_conf_t *ocf);
static const char *tn_mail_out_route_type(tn_uint_t type);
static tn_uint_t tn_mail_out_domain_eq(tn_str_t *a, tn_str_t *b);

static tn_uint_t tn_mail_out_name_ok(u_char *name, size_t len);
static tn_int_t tn_mail_out_domain(tn_pool_t *pool, tn_str_t *src,
    tn_str_t *dst);
static tn_uint_t tn_mail_out_literal(tn_str_t *name, tn_sockaddr_t *sa,
    socklen_t *socklen);
static tn_uint_t tn_mail_out_mx_is_null(tn_resolver_mx_t *mx, tn_uint_t n);
static void tn_mail_out_mx_order(tn_uint_t *prefs, tn_uint_t n,
    tn_uint_t *order);
static tn_uint_t tn_mail_out_random(tn_uint_t n);

static void tn_mail_out_resolve_conns(tn_mail_out_rctx_t *rctx,
    tn_mail_out_conn_t *conn);
static void tn_mail_out_resolve_mx(tn_mail_out_rctx_t *rctx);
static void tn_mail_out_mx_handler(tn_resolver_ctx_t *ctx);
static tn_int_t tn_mail_out_mx_hosts(tn_mail_out_rctx_t *rctx,
    tn_resolver_ctx_t *ctx);
static void tn_mail_out_hosts_start(tn_mail_out_rctx_t *rctx);
static void tn_mail_out_lookup_start(tn_mail_out_rctx_t *rctx,
    tn_mail_out_lookup_t *lk, tn_uint_t type);
static void tn_mail_out_lookup_handler(tn_resolver_ctx_t *ctx);
static void tn_mail_out_hosts_done(tn_mail_out_rctx_t *rctx);
static tn_uint_t tn_mail_out_pick(tn_mail_out_host_t *host, tn_uint_t ipv6,
    tn_uint_t max, tn_addr_t **out);
static void tn_mail_out_conns_done(tn_mail_out_rctx_t *rctx);
static void tn_mail_out_mx_done(tn_mail_out_rctx_t *rctx);
static void tn_mail_out_negative(tn_mail_out_rctx_t *rctx, tn_uint_t state,
    uint32_t ttl);
static void tn_mail_out_from_answer(tn_mail_out_rctx_t *rctx,
    tn_mail_out_mxanswer_t *ans);
static tn_int_t tn_mail_out_add_target(tn_mail_out_rctx_t *rctx,
    tn_str_t *host, struct sockaddr *sa, socklen_t socklen,
    tn_uint_t preference, tn_mail_out_conn_t *conn);
static void tn_mail_out_finish(tn_mail_out_rctx_t *rctx, tn_uint_t result,
    const char *status, const char *fmt, ...);
static void tn_mail_out_resolve_handler(tn_event_t *ev);


static uint64_t  tn_mail_out_rand_state;
static tn_pid_t  tn_mail_out_rand_pid;


/* ---- the configuration ---- */

/* "connection NAME { ... }" in outbound { }; conf is the outbound conf */

char *
tn_mail_out_connection_block(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_mail_out_conf_t *ocf = conf;

    char                *rv;
    tn_str_t            *value;
    tn_conf_t            pcf;
    tn_mail_out_conn_t  *conn;

    value = cf->args->elts;

    if (!tn_mail_out_conn_name_ok(&value[1])) {
        return "has an invalid name: up to 64 letters, digits, \".\", "
               "\"-\", \"_\", and not \"direct\"";
    }

    conn = tn_array_push(ocf->conns);
    if (conn == NULL) {
        return TN_CONF_ERROR;
    }

    tn_memzero(conn, sizeof(tn_mail_out_conn_t));

    conn->name = value[1];
    conn->tls = TN_CONF_UNSET_UINT;

    if (cf->conf_file) {
        conn->file = cf->conf_file->name.data;
        conn->line = cf->conf_file->line;
    }

    /* no other connection is pushed while the block is read */

    pcf = *cf;
    cf->handler = tn_mail_out_conn_directive;
    cf->handler_conf = conn;

    rv = tn_conf_parse(cf, NULL);

    *cf = pcf;

    if (rv != TN_CONF_OK) {
        return rv;
    }

    if (conn->host.len == 0) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "no \"host\" in connection \"%V\"", &conn->name);
        return TN_CONF_ERROR;
    }

    if (conn->tls == TN_CONF_UNSET_UINT) {
        conn->tls = TN_MAIL_OUT_TLS_MAY;
    }

    if (conn->port == 0) {
        conn->port = conn->implicit_tls ? 465 : 25;
    }

    return TN_CONF_OK;
}


/*
 * One line inside connection { }.  Messages name the directive, never
 * its arguments: "auth" holds a password.
 */

static char *
tn_mail_out_conn_directive(tn_conf_t *cf, tn_command_t *dummy, void *conf)
{
    tn_mail_out_conn_t  *conn = conf;

    tn_int_t    n;
    tn_str_t   *value, *name;
    tn_uint_t   nargs, dup;

    value = cf->args->elts;
    name = &value[0];
    nargs = cf->args->nelts - 1;

    if (name->len == 4 && tn_strncmp(name->data, "host", 4) == 0) {
        n = 1;
        dup = (conn->host.data != NULL);

    } else if (name->len == 4 && tn_strncmp(name->data, "port", 4) == 0) {
        n = 1;
        dup = (conn->port != 0);

    } else if (name->len == 3 && tn_strncmp(name->data, "tls", 3) == 0) {
        n = 1;
        dup = (conn->tls != TN_CONF_UNSET_UINT);

    } else if (name->len == 4 && tn_strncmp(name->data, "auth", 4) == 0) {
        n = 2;
        dup = (conn->auth_user.data != NULL);

    } else if (name->len == 6 && tn_strncmp(name->data, "backup", 6) == 0) {
        n = 1;
        dup = (conn->backup_name.data != NULL);

    } else {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "unknown directive \"%V\" in connection \"%V\"",
                          name, &conn->name);
        return TN_CONF_ERROR;
    }

    if ((tn_uint_t) n != nargs) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "invalid number of arguments in \"%V\" of "
                          "connection \"%V\"", name, &conn->name);
        return TN_CONF_ERROR;
    }

    if (dup) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "\"%V\" is duplicate in connection \"%V\"",
                          name, &conn->name);
        return TN_CONF_ERROR;
    }

    switch (name->data[0]) {

    case 'h':
        return tn_mail_out_conn_host(cf, conn, &value[1]);

    case 'p':
        n = tn_atoi(value[1].data, value[1].len);

        if (n < 1 || n > 65535) {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                              "invalid port \"%V\" in connection \"%V\"",
                              &value[1], &conn->name);
            return TN_CONF_ERROR;
        }

        conn->port = (in_port_t) n;
        return TN_CONF_OK;

    case 't':
        return tn_mail_out_conn_tls(cf, conn, &value[1]);

    case 'a':
        return tn_mail_out_conn_auth(cf, conn, &value[1]);

    default: /* 'b' */

        if (!tn_mail_out_conn_name_ok(&value[1])) {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                              "invalid backup name in connection \"%V\"",
                              &conn->name);
            return TN_CONF_ERROR;
        }

        conn->backup_name = value[1];
        return TN_CONF_OK;
    }
}


/* a host name (IDNA allowed), or an IPv4 or IPv6 address ("[::1]" too) */

static char *
tn_mail_out_conn_host(tn_conf_t *cf, tn_mail_out_conn_t *conn,
    tn_str_t *value)
{
    tn_str_t       host;
    socklen_t      len;
    tn_sockaddr_t  sa;

    host = *value;

    if (host.len > 2 && host.data[0] == '[' && host.data[host.len - 1] == ']')
    {
        host.data++;
        host.len -= 2;

        if (!tn_mail_out_literal(&host, &sa, &len)) {
            goto invalid;
        }
    }

    if (tn_mail_out_literal(&host, &sa, &len)) {
        conn->host = host;
        return TN_CONF_OK;
    }

    if (tn_mail_out_domain(cf->pool, &host, &conn->host) == TN_OK) {
        return TN_CONF_OK;
    }

invalid:

    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                      "invalid host \"%V\" in connection \"%V\"", value,
                      &conn->name);

    return TN_CONF_ERROR;
}


static char *
tn_mail_out_conn_tls(tn_conf_t *cf, tn_mail_out_conn_t *conn,
    tn_str_t *value)
{
    tn_uint_t  i;

    static struct {
        tn_str_t   name;
        tn_uint_t  tls;
        tn_uint_t  implicit;
    }  modes[] = {
        { tn_string("none"), TN_MAIL_OUT_TLS_NONE, 0 },
        { tn_string("may"), TN_MAIL_OUT_TLS_MAY, 0 },
        { tn_string("require"), TN_MAIL_OUT_TLS_REQUIRE, 0 },
        { tn_string("verify"), TN_MAIL_OUT_TLS_VERIFY, 0 },
        /* TLS from the start: required; certificate as with "require" */
        { tn_string("implicit"), TN_MAIL_OUT_TLS_REQUIRE, 1 },
    };

    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (value->len == modes[i].name.len
            && tn_strncmp(value->data, modes[i].name.data, value->len) == 0)
        {
            conn->tls = modes[i].tls;
            conn->implicit_tls = modes[i].implicit;
            return TN_CONF_OK;
        }
    }

    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                      "invalid \"tls\" in connection \"%V\": none, may, "
                      "require, verify or implicit", &conn->name);

    return TN_CONF_ERROR;
}


static char *
tn_mail_out_conn_auth(tn_conf_t *cf, tn_mail_out_conn_t *conn,
    tn_str_t *value)
{
    u_char              ch;
    size_t              i;
    tn_str_t           *secret;
    tn_pool_cleanup_t  *cln;

    if (value[0].len == 0 || value[1].len == 0) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "empty \"auth\" user or password in connection "
                          "\"%V\"", &conn->name);
        return TN_CONF_ERROR;
    }

    /* they are sent in AUTH PLAIN: no NUL, CR or LF */

    for (i = 0; i < value[0].len + value[1].len; i++) {
        ch = (i < value[0].len) ? value[0].data[i]
                                : value[1].data[i - value[0].len];

        if (ch == '\0' || ch == '\r' || ch == '\n') {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                              "invalid character in \"auth\" of "
                              "connection \"%V\"", &conn->name);
            return TN_CONF_ERROR;
        }
    }

    /* the password is zeroed when the configuration goes */

    cln = tn_pool_cleanup_add(cf->pool, sizeof(tn_str_t));
    if (cln == NULL) {
        return TN_CONF_ERROR;
    }

    secret = cln->data;
    *secret = value[1];

    cln->handler = tn_mail_out_zero_secret;

    conn->auth_user = value[0];
    conn->auth_pass = value[1];

    return TN_CONF_OK;
}


static void
tn_mail_out_zero_secret(void *data)
{
    tn_str_t  *secret = data;

    tn_explicit_memzero(secret->data, secret->len);
}


static tn_uint_t
tn_mail_out_conn_name_ok(tn_str_t *name)
{
    size_t  i;
    u_char  ch;

    if (name->len == 0 || name->len > TN_MAIL_OUT_CONN_NAME_MAX
        || (name->len == 6 && tn_strncmp(name->data, "direct", 6) == 0))
    {
        return 0;
    }

    for (i = 0; i < name->len; i++) {
        ch = name->data[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9')
              || ch == '.' || ch == '-' || ch == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * "route sender_domain|recipient_domain DOMAIN CONN|direct;"
 * "route default CONN|direct;"
 */

char *
tn_mail_out_route_directive(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_mail_out_conf_t *ocf = conf;

    tn_str_t             *value, *target;
    tn_uint_t             type;
    tn_mail_out_route_t  *route;

    value = cf->args->elts;

    if (value[1].len == 13
        && tn_strncmp(value[1].data, "sender_domain", 13) == 0)
    {
        type = TN_MAIL_OUT_ROUTE_SENDER;

    } else if (value[1].len == 16
               && tn_strncmp(value[1].data, "recipient_domain", 16) == 0)
    {
        type = TN_MAIL_OUT_ROUTE_RECIPIENT;

    } else if (value[1].len == 7
               && tn_strncmp(value[1].data, "default", 7) == 0)
    {
        type = TN_MAIL_OUT_ROUTE_DEFAULT;

    } else {
        return "takes \"sender_domain\", \"recipient_domain\" or "
               "\"default\"";
    }

    if (cf->args->nelts != ((type == TN_MAIL_OUT_ROUTE_DEFAULT) ? 3 : 4)) {
        return "takes \"sender_domain|recipient_domain DOMAIN CONNECTION\" "
               "or \"default CONNECTION\"";
    }

    route = tn_array_push(ocf->routes);
    if (route == NULL) {
        return TN_CONF_ERROR;
    }

    tn_memzero(route, sizeof(tn_mail_out_route_t));

    route->type = type;

    if (cf->conf_file) {
        route->file = cf->conf_file->name.data;
        route->line = cf->conf_file->line;
    }

    target = &value[cf->args->nelts - 1];

    if (type != TN_MAIL_OUT_ROUTE_DEFAULT
        && tn_mail_out_domain(cf->pool, &value[2], &route->domain) != TN_OK)
    {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "invalid domain \"%V\" in \"route\"", &value[2]);
        return TN_CONF_ERROR;
    }

    if (target->len == 6 && tn_strncmp(target->data, "direct", 6) == 0) {
        return TN_CONF_OK;
    }

    if (!tn_mail_out_conn_name_ok(target)) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "invalid connection name \"%V\" in \"route\"",
                          target);
        return TN_CONF_ERROR;
    }

    route->conn_name = *target;

    return TN_CONF_OK;
}


static tn_mail_out_conn_t *
tn_mail_out_conn_find(tn_mail_out_conf_t *ocf, tn_str_t *name)
{
    tn_uint_t            i;
    tn_mail_out_conn_t  *conns;

    conns = ocf->conns->elts;

    for (i = 0; i < ocf->conns->nelts; i++) {
        if (conns[i].name.len == name->len
            && tn_strncmp(conns[i].name.data, name->data, name->len) == 0)
        {
            return &conns[i];
        }
    }

    return NULL;
}


/*
 * The end of the outbound block.  Errors name the file and line of the
 * directive in question themselves: this may run after the parse.
 */

char *
tn_mail_out_routes_check(tn_conf_t *cf, tn_mail_out_conf_t *ocf)
{
    if (ocf->conns == NULL || ocf->routes == NULL) {
        return TN_CONF_OK;
    }

    if (tn_mail_out_check_conns(cf, ocf) != TN_CONF_OK) {
        return TN_CONF_ERROR;
    }

    return tn_mail_out_check_routes(cf, ocf);
}


static char *
tn_mail_out_check_conns(tn_conf_t *cf, tn_mail_out_conf_t *ocf)
{
    u_char              *p, *last;
    tn_uint_t            i, j, n;
    tn_mail_out_conn_t  *conns, *c, *b;
    u_char               chain[512];

    conns = ocf->conns->elts;
    n = ocf->conns->nelts;

    for (i = 0; i < n; i++) {
        for (j = 0; j < i; j++) {
            if (conns[i].name.len == conns[j].name.len
                && tn_strncmp(conns[i].name.data, conns[j].name.data,
                              conns[i].name.len) == 0)
            {
                tn_log_error(TN_LOG_EMERG, cf->log, 0,
                             "duplicate connection \"%V\" in %s:%ui "
                             "(the first is in %s:%ui)", &conns[i].name,
                             conns[i].file, conns[i].line,
                             conns[j].file, conns[j].line);
                return TN_CONF_ERROR;
            }
        }
    }

    for (i = 0; i < n; i++) {
        c = &conns[i];
        c->backup = NULL;

        if (c->backup_name.len == 0) {
            continue;
        }

        c->backup = tn_mail_out_conn_find(ocf, &c->backup_name);

        if (c->backup == NULL) {
            tn_log_error(TN_LOG_EMERG, cf->log, 0,
                         "connection \"%V\" named as backup of \"%V\" does "
                         "not exist in %s:%ui", &c->backup_name, &c->name,
                         c->file, c->line);
            return TN_CONF_ERROR;
        }
    }

    /*
     * Each cycle holds a connection whose walk comes back to it; the walk
     * from the others ends within n steps.
     */

    for (i = 0; i < n; i++) {
        c = &conns[i];

        for (b = c->backup, j = 0; b && b != c && j < n; b = b->backup, j++) {
            /* void */
        }

        if (b != c) {
            continue;
        }

        p = chain;
        last = chain + sizeof(chain) - 4;

        p = tn_slprintf(p, last, "%V", &c->name);

        for (b = c->backup; /* void */; b = b->backup) {
            p = tn_slprintf(p, last, " -> %V", &b->name);

            if (b == c) {
                break;
            }
        }

        if (p == last) {
            p = tn_cpymem(p, "...", 3);
        }

        tn_log_error(TN_LOG_EMERG, cf->log, 0,
                     "backup connections form a cycle: %*s in %s:%ui",
                     (size_t) (p - chain), chain, c->file, c->line);
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


static char *
tn_mail_out_check_routes(tn_conf_t *cf, tn_mail_out_conf_t *ocf)
{
    tn_uint_t             i, j;
    tn_mail_out_route_t  *routes, *r;

    routes = ocf->routes->elts;

    for (i = 0; i < ocf->routes->nelts; i++) {
        r = &routes[i];
        r->conn = NULL;

        for (j = 0; j < i; j++) {
            if (routes[j].type != r->type
                || !tn_mail_out_domain_eq(&routes[j].domain, &r->domain))
            {
                continue;
            }

            if (r->type == TN_MAIL_OUT_ROUTE_DEFAULT) {
                tn_log_error(TN_LOG_EMERG, cf->log, 0,
                             "duplicate \"route default\" in %s:%ui "
                             "(the first is in %s:%ui)", r->file, r->line,
                             routes[j].file, routes[j].line);

            } else {
                tn_log_error(TN_LOG_EMERG, cf->log, 0,
                             "duplicate \"route %s %V\" in %s:%ui "
                             "(the first is in %s:%ui)",
                             tn_mail_out_route_type(r->type), &r->domain,
                             r->file, r->line,
                             routes[j].file, routes[j].line);
            }

            return TN_CONF_ERROR;
        }

        if (r->conn_name.len == 0) {
            /* direct */
            continue;
        }

        r->conn = tn_mail_out_conn_find(ocf, &r->conn_name);

        if (r->conn == NULL) {
            tn_log_error(TN_LOG_EMERG, cf->log, 0,
                         "connection \"%V\" named in \"route %s%s%V\" does "
                         "not exist in %s:%ui", &r->conn_name,
                         tn_mail_out_route_type(r->type),
                         r->domain.len ? " " : "", &r->domain,
                         r->file, r->line);
            return TN_CONF_ERROR;
        }
    }

    return TN_CONF_OK;
}


static const char *
tn_mail_out_route_type(tn_uint_t type)
{
    switch (type) {
    case TN_MAIL_OUT_ROUTE_SENDER:
        return "sender_domain";
    case TN_MAIL_OUT_ROUTE_RECIPIENT:
        return "recipient_domain";
    default:
        return "default";
    }
}


/* ---- the route ---- */

tn_mail_out_route_t *
tn_mail_out_route_find(tn_mail_out_conf_t *ocf, tn_str_t *domain,
    tn_str_t *sender_domain)
{
    tn_uint_t             i;
    tn_mail_out_route_t  *routes, *rcpt, *def;

    if (ocf == NULL || ocf->routes == NULL) {
        return NULL;
    }

    routes = ocf->routes->elts;
    rcpt = NULL;
    def = NULL;

    for (i = 0; i < ocf->routes->nelts; i++) {

        switch (routes[i].type) {

        case TN_MAIL_OUT_ROUTE_SENDER:
            if (sender_domain
                && tn_mail_out_domain_eq(&routes[i].domain, sender_domain))
            {
                return &routes[i];
            }
            break;

        case TN_MAIL_OUT_ROUTE_RECIPIENT:
            if (rcpt == NULL
                && tn_mail_out_domain_eq(&routes[i].domain, domain))
            {
                rcpt = &routes[i];
            }
            break;

        default:
            if (def == NULL) {
                def = &routes[i];
            }
        }
    }

    return rcpt ? rcpt : def;
}


/* case-insensitive, a final dot of b ignored; two empty names are equal */

static tn_uint_t
tn_mail_out_domain_eq(tn_str_t *a, tn_str_t *b)
{
    size_t  len;

    len = b->len;

    if (len && b->data[len - 1] == '.') {
        len--;
    }

    return a->len == len
           && (len == 0 || tn_strncasecmp(a->data, b->data, len) == 0);
}


/* ---- names, MX records and their order ---- */

/* what tn_resolve_name() will ask for, lower case */

static tn_uint_t
tn_mail_out_name_ok(u_char *name, size_t len)
{
    size_t  i;
    u_char  ch;

    if (len == 0 || len > TN_MAIL_OUT_MXCACHE_NAME) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        ch = name[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
              || ch == '-' || ch == '_'
              || (ch == '.' && i > 0 && name[i - 1] != '.')))
        {
            return 0;
        }
    }

    return 1;
}


/* src as an A-label, lower case, without a final dot, in pool */

static tn_int_t
tn_mail_out_domain(tn_pool_t *pool, tn_str_t *src, tn_str_t *dst)
{
    u_char    *p;
    size_t     len;
    tn_int_t   n;

    len = src->len;

    if (len && src->data[len - 1] == '.') {
        len--;
    }

    p = tn_pnalloc(pool, TN_MAIL_OUT_MXCACHE_NAME + 1);
    if (p == NULL) {
        return TN_ERROR;
    }

    n = tn_idna_to_ascii(p, TN_MAIL_OUT_MXCACHE_NAME, src->data, len);

    if (n == TN_ERROR || !tn_mail_out_name_ok(p, n)) {
        return TN_ERROR;
    }

    p[n] = '\0';

    dst->data = p;
    dst->len = n;

    return TN_OK;
}


/* an IPv4 or IPv6 address, "[...]" and "[IPv6:...]" too (port 0) */

static tn_uint_t
tn_mail_out_literal(tn_str_t *name, tn_sockaddr_t *sa, socklen_t *socklen)
{
    u_char  *p;
    size_t   len;
    char     text[TN_INET6_ADDRSTRLEN + 1];

    p = name->data;
    len = name->len;

    if (len && p[len - 1] == '.') {
        len--;
    }

    if (len > 2 && p[0] == '[' && p[len - 1] == ']') {
        p++;
        len -= 2;

        if (len > 5 && tn_strncasecmp(p, (u_char *) "IPv6:", 5) == 0) {
            p += 5;
            len -= 5;
        }
    }

    if (len == 0 || len > TN_INET6_ADDRSTRLEN) {
        return 0;
    }

    tn_memcpy(text, p, len);
    text[len] = '\0';

    tn_memzero(sa, sizeof(tn_sockaddr_t));

    if (inet_pton(AF_INET, text, &sa->sockaddr_in.sin_addr) == 1) {
        sa->sockaddr_in.sin_family = AF_INET;
        *socklen = sizeof(struct sockaddr_in);
        return 1;
    }

    if (inet_pton(AF_INET6, text, &sa->sockaddr_in6.sin6_addr) == 1) {
        sa->sockaddr_in6.sin6_family = AF_INET6;
        *socklen = sizeof(struct sockaddr_in6);
        return 1;
    }

    return 0;
}


/* RFC 7505: the one MX record, preference 0, exchange "." (no name) */

static tn_uint_t
tn_mail_out_mx_is_null(tn_resolver_mx_t *mx, tn_uint_t n)
{
    return n == 1 && mx[0].preference == 0
           && (mx[0].host.len == 0
               || (mx[0].host.len == 1 && mx[0].host.data[0] == '.'));
}


/*
 * order[] gets the indexes of prefs in preference order (a stable
 * sort), those of equal preference shuffled (RFC 5321 5.1).
 */

static void
tn_mail_out_mx_order(tn_uint_t *prefs, tn_uint_t n, tn_uint_t *order)
{
    tn_uint_t  i, j, k, t, x;

    for (i = 0; i < n; i++) {
        t = i;

        for (j = i; j > 0 && prefs[order[j - 1]] > prefs[t]; j--) {
            order[j] = order[j - 1];
        }

        order[j] = t;
    }

    for (i = 0; i < n; i = j) {

        for (j = i + 1; j < n && prefs[order[j]] == prefs[order[i]]; j++) {
            /* void */
        }

        /* Fisher-Yates over order[i .. j - 1] */

        for (k = j - 1; k > i; k--) {
            t = i + tn_mail_out_random(k - i + 1);

            if (t != k) {
                x = order[k];
                order[k] = order[t];
                order[t] = x;
            }
        }
    }
}


/* xorshift64*, seeded by getrandom() in each process */

static tn_uint_t
tn_mail_out_random(tn_uint_t n)
{
    uint64_t  x;

    if (tn_mail_out_rand_state == 0 || tn_mail_out_rand_pid != tn_pid) {
        if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t) sizeof(x))
        {
            x = ((uint64_t) tn_pid << 32) ^ (uint64_t) time(NULL)
                ^ (uint64_t) (uintptr_t) &x;
        }

        tn_mail_out_rand_state = x ? x : 0x9e3779b97f4a7c15ULL;
        tn_mail_out_rand_pid = tn_pid;
    }

    x = tn_mail_out_rand_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    tn_mail_out_rand_state = x;

    return (tn_uint_t) ((x * 0x2545f4914f6cdd1dULL) >> 33) % n;
}


/* ---- the resolution ---- */

tn_int_t
tn_mail_out_resolve(tn_mail_out_resolve_t *rs)
{
    tn_str_t              sender, *sp;
    tn_pool_t            *pool;
    tn_mail_out_conf_t   *ocf;
    tn_mail_out_rctx_t   *rctx;
    tn_mail_out_route_t  *route;

    rs->result = TN_MAIL_OUT_RESOLVE_DEFER;
    tn_str_null(&rs->error);
    tn_str_null(&rs->status);
    rs->conn = NULL;
    rs->ntargets = 0;
    rs->targets = NULL;
    rs->pool = NULL;
    rs->priv = NULL;

    if (rs->handler == NULL || rs->domain.len == 0) {
        return TN_ERROR;
    }

    pool = tn_create_pool(TN_MAIL_OUT_RESOLVE_POOL, rs->log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    rctx = tn_pcalloc(pool, sizeof(tn_mail_out_rctx_t));
    if (rctx == NULL) {
        tn_destroy_pool(pool);
        return TN_ERROR;
    }

    rs->pool = pool;
    rs->priv = rctx;

    rctx->rs = rs;
    rctx->ttl = TN_MAIL_OUT_MXCACHE_MAX_TTL;
    rctx->event.data = rctx;
    rctx->event.handler = tn_mail_out_resolve_handler;
    rctx->event.log = rs->log;

    ocf = tn_mail_out_get_conf((tn_cycle_t *) tn_cycle);

    rctx->ipv6 = (ocf == NULL || ocf->ipv6 != 0);
    rctx->mx_port = (ocf && ocf->mx_port) ? ocf->mx_port : 25;

    if (tn_mail_out_domain(pool, &rs->domain, &rctx->domain) != TN_OK) {
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_FAIL, "5.1.2",
                           "Bad destination domain: not a valid host name");
        return TN_OK;
    }

    sp = NULL;

    if (rs->sender_domain.len
        && tn_mail_out_domain(pool, &rs->sender_domain, &sender) == TN_OK)
    {
        sp = &sender;
    }

    route = tn_mail_out_route_find(ocf, &rctx->domain, sp);

    if (route && route->conn) {
        tn_log_debug3(TN_LOG_DEBUG_MAIL, rs->log, 0,
                      "outbound: \"%V\" goes by connection \"%V\" (route "
                      "%s)", &rctx->domain, &route->conn->name,
                      tn_mail_out_route_type(route->type));

        rs->conn = route->conn;
        tn_mail_out_resolve_conns(rctx, route->conn);
        return TN_OK;
    }

    tn_mail_out_resolve_mx(rctx);

    return TN_OK;
}


void
tn_mail_out_resolve_free(tn_mail_out_resolve_t *rs)
{
    tn_uint_t            i, j;
    tn_mail_out_rctx_t  *rctx;

    if (rs->pool == NULL) {
        return;
    }

    rctx = rs->priv;

    if (rctx) {
        if (rctx->event.posted) {
            tn_delete_posted_event(&rctx->event);
        }

        if (rctx->mx) {
            tn_resolve_done(rctx->mx);
            rctx->mx = NULL;
        }

        for (i = 0; i < rctx->nhosts; i++) {
            for (j = 0; j < 2; j++) {
                if (rctx->hosts[i].lookups[j].ctx) {
                    tn_resolve_done(rctx->hosts[i].lookups[j].ctx);
                    rctx->hosts[i].lookups[j].ctx = NULL;
                }
            }
        }
    }

    tn_destroy_pool(rs->pool);

    rs->pool = NULL;
    rs->priv = NULL;
    rs->ntargets = 0;
    rs->targets = NULL;
    tn_str_null(&rs->error);
}


/* the connection's host, then its backup's, and so on */

static void
tn_mail_out_resolve_conns(tn_mail_out_rctx_t *rctx,
    tn_mail_out_conn_t *conn)
{
    tn_uint_t            n;
    tn_mail_out_conn_t  *c;
    tn_mail_out_host_t  *host;

    for (n = 0, c = conn; c && n < TN_MAIL_OUT_CHAIN_MAX; c = c->backup) {
        n++;
    }

    rctx->hosts = tn_pcalloc(rctx->rs->pool, n * sizeof(tn_mail_out_host_t));
    if (rctx->hosts == NULL) {
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.3.0",
                           "Out of memory");
        return;
    }

    for (c = conn; rctx->nhosts < n; c = c->backup) {
        host = &rctx->hosts[rctx->nhosts++];

        host->rctx = rctx;
        host->name = c->host;
        host->conn = c;
    }

    tn_mail_out_hosts_start(rctx);
}


static void
tn_mail_out_resolve_mx(tn_mail_out_rctx_t *rctx)
{
    tn_cycle_t              *cycle;
    tn_resolver_ctx_t       *ctx;
    tn_mail_out_resolve_t   *rs;
    tn_mail_out_mxcache_t   *mc;
    tn_mail_out_mxanswer_t  *ans;

    rs = rctx->rs;
    cycle = (tn_cycle_t *) tn_cycle;

    mc = tn_mail_out_mxcache_get(cycle);

    if (mc) {
        ans = tn_palloc(rs->pool, sizeof(tn_mail_out_mxanswer_t));
        if (ans == NULL) {
            tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.3.0",
                               "Out of memory");
            return;
        }

        /* an answer made without AAAA does not do for "ipv6 on" */

        if (tn_mail_out_mxcache_lookup(mc, rctx->domain.data,
                                       rctx->domain.len, tn_time(), ans)
            == TN_OK
            && (!rctx->ipv6 || ans->state != TN_MAIL_OUT_MXCACHE_HOSTS
                || (ans->flags & TN_MAIL_OUT_MXCACHE_IPV6)))
        {
            tn_log_debug1(TN_LOG_DEBUG_MAIL, rs->log, 0,
                          "outbound: MX cache hit \"%V\"", &rctx->domain);

            tn_mail_out_from_answer(rctx, ans);
            return;
        }
    }

    rctx->resolver = tn_resolver_get(cycle);

    ctx = tn_resolve_start(rctx->resolver);
    if (ctx == NULL) {
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.4.3",
                           rctx->resolver ? "DNS resolver failure"
                                          : "No DNS resolver is configured");
        return;
    }

    ctx->name = rctx->domain;
    ctx->type = TN_RESOLVE_MX;
    ctx->handler = tn_mail_out_mx_handler;
    ctx->data = rctx;

    if (tn_resolve_name(ctx) != TN_OK) {
        if (ctx->state == TN_RESOLVE_FORMERR) {
            tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_FAIL, "5.1.2",
                               "Bad destination domain: not a valid host "
                               "name");
        } else {
            tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.4.3",
                               "DNS resolver failure");
        }

        tn_resolve_done(ctx);
        return;
    }

    rctx->mx = ctx;
}


static void
tn_mail_out_mx_handler(tn_resolver_ctx_t *ctx)
{
    tn_int_t              state;
    uint32_t              ttl;
    tn_mail_out_rctx_t   *rctx;
    tn_mail_out_host_t   *host;

    rctx = ctx->data;
    rctx->mx = NULL;

    state = ctx->state;
    ttl = ctx->ttl;

    tn_log_debug3(TN_LOG_DEBUG_MAIL, rctx->rs->log, 0,
                  "outbound: MX \"%V\": %s, %ui records", &rctx->domain,
                  tn_resolver_strerror(state), ctx->nmx);

    if (state == TN_OK && tn_mail_out_mx_is_null(ctx->mx, ctx->nmx)) {
        tn_resolve_done(ctx);

        tn_mail_out_negative(rctx, TN_MAIL_OUT_MXCACHE_NULLMX, ttl);
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_FAIL, "5.1.10",
                           "Domain %V does not accept mail (null MX, "
                           "RFC 7505)", &rctx->domain);
        return;
    }

    if (state == TN_OK) {
        rctx->ttl = tn_min(rctx->ttl, ttl);

        if (tn_mail_out_mx_hosts(rctx, ctx) != TN_OK) {
            tn_resolve_done(ctx);
            tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.3.0",
                               "Out of memory");
            return;
        }

        tn_resolve_done(ctx);

        if (rctx->nhosts == 0) {
            tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.4.3",
                               "No usable MX host for %V", &rctx->domain);
            return;
        }

        tn_mail_out_hosts_start(rctx);
        return;
    }

    tn_resolve_done(ctx);

    switch (state) {

    case TN_RESOLVE_NXDOMAIN:
        tn_mail_out_negative(rctx, TN_MAIL_OUT_MXCACHE_NXDOMAIN, ttl);
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_FAIL, "5.1.2",
                           "Host or domain name not found. Name service "
                           "error for name=%V type=MX: Host not found",
                           &rctx->domain);
        return;

    case TN_RESOLVE_NODATA:

        /* no MX: the domain itself, preference 0 (RFC 5321 5.1) */

        host = tn_pcalloc(rctx->rs->pool, sizeof(tn_mail_out_host_t));
        if (host == NULL) {
            tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.3.0",
                               "Out of memory");
            return;
        }

        host->rctx = rctx;
        host->name = rctx->domain;

        rctx->hosts = host;
        rctx->nhosts = 1;
        rctx->implicit = 1;

        tn_mail_out_hosts_start(rctx);
        return;

    default:
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.4.3",
                           "DNS MX lookup of %V failed: %s", &rctx->domain,
                           tn_resolver_strerror(state));
    }
}


/*
 * The MX records' hosts, in the resolver's order (by preference), at
 * most TN_MAIL_OUT_MX_HOSTS: without "." (only a lone one is a null MX),
 * addresses (RFC 7505 3, RFC 5321 5.1: an MX names a host), names that
 * cannot be asked for, and repeats.
 */

static tn_int_t
tn_mail_out_mx_hosts(tn_mail_out_rctx_t *rctx, tn_resolver_ctx_t *ctx)
{
    tn_str_t             name;
    tn_uint_t            i, j;
    socklen_t            len;
    tn_sockaddr_t        sa;
    tn_log_t            *log;
    tn_resolver_mx_t    *mx;
    tn_mail_out_host_t  *host;

    log = rctx->rs->log;

    rctx->hosts = tn_pcalloc(rctx->rs->pool,
                             TN_MAIL_OUT_MX_HOSTS * sizeof(tn_mail_out_host_t));
    if (rctx->hosts == NULL) {
        return TN_ERROR;
    }

    for (i = 0; i < ctx->nmx && rctx->nhosts < TN_MAIL_OUT_MX_HOSTS; i++) {
        mx = &ctx->mx[i];
        name = mx->host;

        if (name.len && name.data[name.len - 1] == '.') {
            name.len--;
        }

        if (name.len == 0) {
            tn_log_error(TN_LOG_INFO, log, 0,
                         "an MX record of \"%V\" names no host (\".\"): "
                         "skipped", &rctx->domain);
            continue;
        }

        if (tn_mail_out_literal(&name, &sa, &len)) {
            tn_log_error(TN_LOG_INFO, log, 0,
                         "MX host \"%V\" of \"%V\" is an address, not a "
                         "host name: skipped", &name, &rctx->domain);
            continue;
        }

        if (tn_mail_out_domain(rctx->rs->pool, &name, &name) != TN_OK) {
            tn_log_error(TN_LOG_INFO, log, 0,
                         "an MX host of \"%V\" is not a valid host name: "
                         "skipped", &rctx->domain);
            continue;
        }

        for (j = 0; j < rctx->nhosts; j++) {
            if (rctx->hosts[j].name.len == name.len
                && tn_memcmp(rctx->hosts[j].name.data, name.data, name.len)
                   == 0)
            {
                break;
            }
        }

        if (j < rctx->nhosts) {
            continue;
        }

        host = &rctx->hosts[rctx->nhosts++];

        host->rctx = rctx;
        host->name = name;
        host->preference = mx->preference;
    }

    return TN_OK;
}


/* AAAA (with "ipv6 on") and A of every host, all at once */

static void
tn_mail_out_hosts_start(tn_mail_out_rctx_t *rctx)
{
    tn_uint_t              i;
    socklen_t              len;
    tn_sockaddr_t          sa;
    tn_addr_t             *addr;
    tn_mail_out_host_t    *host;
    tn_mail_out_lookup_t  *lk;

    if (rctx->resolver == NULL) {
        rctx->resolver = tn_resolver_get((tn_cycle_t *) tn_cycle);
    }

    for (i = 0; i < rctx->nhosts; i++) {
        host = &rctx->hosts[i];

        host->lookups[0].host = host;
        host->lookups[1].host = host;

        lk = &host->lookups[TN_MAIL_OUT_LOOKUP_A];

        /* a connection's host may be an address: it is its own answer */

        if (host->conn && tn_mail_out_literal(&host->name, &sa, &len)) {
            addr = tn_pcalloc(rctx->rs->pool, sizeof(tn_addr_t) + len);
            if (addr == NULL) {
                lk->state = TN_RESOLVE_ERROR;
                continue;
            }

            addr->sockaddr = (struct sockaddr *) (addr + 1);
            addr->socklen = len;
            tn_memcpy(addr->sockaddr, &sa, len);

            lk->state = TN_OK;
            lk->naddrs = 1;
            lk->addrs = addr;
            continue;
        }

        if (rctx->ipv6) {
            tn_mail_out_lookup_start(rctx,
                                     &host->lookups[TN_MAIL_OUT_LOOKUP_AAAA],
                                     TN_RESOLVE_AAAA);
        }

        tn_mail_out_lookup_start(rctx, lk, TN_RESOLVE_A);
    }

    if (rctx->pending == 0) {
        tn_mail_out_hosts_done(rctx);
    }
}


static void
tn_mail_out_lookup_start(tn_mail_out_rctx_t *rctx, tn_mail_out_lookup_t *lk,
    tn_uint_t type)
{
    tn_resolver_ctx_t  *ctx;

    lk->asked = 1;

    ctx = tn_resolve_start(rctx->resolver);
    if (ctx == NULL) {
        lk->state = TN_RESOLVE_ERROR;
        return;
    }

    ctx->name = lk->host->name;
    ctx->type = type;
    ctx->handler = tn_mail_out_lookup_handler;
    ctx->data = lk;

    if (tn_resolve_name(ctx) != TN_OK) {
        lk->state = ctx->state;
        tn_resolve_done(ctx);
        return;
    }

    lk->ctx = ctx;
    rctx->pending++;
}


static void
tn_mail_out_lookup_handler(tn_resolver_ctx_t *ctx)
{
    u_char                *p;
    tn_uint_t              i;
    tn_addr_t             *addrs;
    tn_mail_out_rctx_t    *rctx;
    tn_mail_out_lookup_t  *lk;

    lk = ctx->data;
    rctx = lk->host->rctx;

    lk->ctx = NULL;
    lk->state = ctx->state;

    if (ctx->state == TN_OK && ctx->naddrs == 0) {
        lk->state = TN_RESOLVE_NODATA;
    }

    /* the context's pool goes with it: the addresses are copied */

    if (lk->state == TN_OK) {
        addrs = tn_palloc(rctx->rs->pool, ctx->naddrs * sizeof(tn_addr_t));

        for (i = 0; addrs && i < ctx->naddrs; i++) {
            p = tn_palloc(rctx->rs->pool, ctx->addrs[i].socklen);
            if (p == NULL) {
                addrs = NULL;
                break;
            }

            tn_memcpy(p, ctx->addrs[i].sockaddr, ctx->addrs[i].socklen);

            addrs[i].sockaddr = (struct sockaddr *) p;
            addrs[i].socklen = ctx->addrs[i].socklen;
            tn_str_null(&addrs[i].name);
        }

        if (addrs) {
            lk->addrs = addrs;
            lk->naddrs = ctx->naddrs;
            rctx->ttl = tn_min(rctx->ttl, ctx->ttl);

        } else {
            lk->state = TN_RESOLVE_ERROR;
        }
    }

    tn_log_debug3(TN_LOG_DEBUG_MAIL, rctx->rs->log, 0,
                  "outbound: address of \"%V\": %s, %ui",
                  &lk->host->name, tn_resolver_strerror(lk->state),
                  lk->naddrs);

    tn_resolve_done(ctx);

    if (--rctx->pending == 0) {
        tn_mail_out_hosts_done(rctx);
    }
}


static void
tn_mail_out_hosts_done(tn_mail_out_rctx_t *rctx)
{
    if (rctx->rs->conn) {
        tn_mail_out_conns_done(rctx);

    } else {
        tn_mail_out_mx_done(rctx);
    }
}


/*
 * Up to max addresses of a host, AAAA first, interleaved with A, so that
 * an IPv6 path that does not work costs one try, not all of them.
 */

static tn_uint_t
tn_mail_out_pick(tn_mail_out_host_t *host, tn_uint_t ipv6, tn_uint_t max,
    tn_addr_t **out)
{
    tn_uint_t              n, i6, i4;
    tn_mail_out_lookup_t  *v6, *v4;

    v6 = &host->lookups[TN_MAIL_OUT_LOOKUP_AAAA];
    v4 = &host->lookups[TN_MAIL_OUT_LOOKUP_A];

    n = 0;
    i6 = 0;
    i4 = 0;

    while (n < max) {

        if (ipv6 && v6->state == TN_OK && i6 < v6->naddrs) {
            out[n++] = &v6->addrs[i6++];

            if (n == max) {
                break;
            }
        }

        if (v4->state == TN_OK && i4 < v4->naddrs) {
            out[n++] = &v4->addrs[i4++];

        } else if (!(ipv6 && v6->state == TN_OK && i6 < v6->naddrs)) {
            break;
        }
    }

    return n;
}


static void
tn_mail_out_conns_done(tn_mail_out_rctx_t *rctx)
{
    tn_uint_t            i, j, n;
    tn_addr_t           *addrs[TN_MAIL_OUT_CONN_ADDRS];
    tn_mail_out_host_t  *host;

    rctx->rs->targets = tn_palloc(rctx->rs->pool, TN_MAIL_OUT_MAX_TARGETS
                                              * sizeof(tn_mail_out_target_t));
    if (rctx->rs->targets == NULL) {
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.3.0",
                           "Out of memory");
        return;
    }

    for (i = 0; i < rctx->nhosts; i++) {
        host = &rctx->hosts[i];

        n = tn_mail_out_pick(host, 1, TN_MAIL_OUT_CONN_ADDRS, addrs);

        if (n == 0) {
            tn_log_error(TN_LOG_ERR, rctx->rs->log, 0,
                         "host \"%V\" of connection \"%V\" has no address",
                         &host->name, &host->conn->name);
        }

        for (j = 0; j < n; j++) {
            if (tn_mail_out_add_target(rctx, &host->name, addrs[j]->sockaddr,
                                       addrs[j]->socklen, 0, host->conn)
                != TN_OK)
            {
                break;
            }
        }
    }

    if (rctx->rs->ntargets == 0) {
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.4.3",
                           "No address found for the host of connection "
                           "\"%V\" or of its backups", &rctx->rs->conn->name);
        return;
    }

    tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_OK, "2.0.0", NULL);
}


/*
 * The MX hosts (or the domain itself) with their addresses: cached
 * unshuffled, then shuffled for this use.
 */

static void
tn_mail_out_mx_done(tn_mail_out_rctx_t *rctx)
{
    tn_uint_t                i, j, n, temporary;
    uint32_t                 ttl;
    tn_int_t                 state;
    tn_addr_t               *addrs[TN_MAIL_OUT_MX_HOST_ADDRS];
    tn_mail_out_host_t      *host;
    tn_mail_out_mxhost_t    *mh;
    tn_mail_out_mxcache_t   *mc;
    tn_mail_out_mxanswer_t  *ans;

    ans = tn_pcalloc(rctx->rs->pool, sizeof(tn_mail_out_mxanswer_t));
    if (ans == NULL) {
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.3.0",
                           "Out of memory");
        return;
    }

    tn_memcpy(ans->domain, rctx->domain.data, rctx->domain.len);
    ans->domain_len = rctx->domain.len;
    ans->state = TN_MAIL_OUT_MXCACHE_HOSTS;
    ans->flags = (rctx->ipv6 ? TN_MAIL_OUT_MXCACHE_IPV6 : 0)
                 | (rctx->implicit ? TN_MAIL_OUT_MXCACHE_IMPLICIT : 0);

    temporary = 0;

    for (i = 0; i < rctx->nhosts; i++) {
        host = &rctx->hosts[i];

        for (j = 0; j < 2; j++) {
            state = host->lookups[j].state;

            if (host->lookups[j].asked && state != TN_OK
                && state != TN_RESOLVE_NXDOMAIN
                && state != TN_RESOLVE_NODATA
                && state != TN_RESOLVE_FORMERR)
            {
                temporary = 1;
            }
        }

        n = tn_mail_out_pick(host, rctx->ipv6, TN_MAIL_OUT_MX_HOST_ADDRS,
                             addrs);
        if (n == 0) {
            continue;
        }

        mh = &ans->hosts[ans->nhosts++];

        tn_memcpy(mh->name, host->name.data, host->name.len);
        mh->len = host->name.len;
        mh->preference = host->preference;

        for (j = 0; j < n; j++) {
            tn_memcpy(&mh->addrs[j], addrs[j]->sockaddr, addrs[j]->socklen);
            mh->socklens[j] = addrs[j]->socklen;
        }

        mh->naddrs = n;
    }

    if (ans->nhosts == 0) {
        if (rctx->implicit && !temporary) {
            tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_FAIL, "5.4.4",
                               "Host or domain name not found. Name service "
                               "error for name=%V: no MX and no address "
                               "records", &rctx->domain);
            return;
        }

        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.4.3",
                           "No address found for any MX host of %V",
                           &rctx->domain);
        return;
    }

    ttl = rctx->ttl;

    if (temporary) {
        /* the hosts left out may be back soon */
        ttl = tn_min(ttl, TN_MAIL_OUT_MXCACHE_PARTIAL_TTL);
    }

    mc = tn_mail_out_mxcache_get((tn_cycle_t *) tn_cycle);

    if (mc && ttl > 0) {
        ans->expire = tn_time() + ttl;
        (void) tn_mail_out_mxcache_store(mc, ans, tn_time());
    }

    tn_mail_out_from_answer(rctx, ans);
}


/* NXDOMAIN and null MX are kept for their TTL too */

static void
tn_mail_out_negative(tn_mail_out_rctx_t *rctx, tn_uint_t state,
    uint32_t ttl)
{
    tn_mail_out_mxcache_t   *mc;
    tn_mail_out_mxanswer_t  *ans;

    ttl = tn_min(ttl, TN_MAIL_OUT_MXCACHE_MAX_TTL);

    mc = tn_mail_out_mxcache_get((tn_cycle_t *) tn_cycle);

    if (mc == NULL || ttl == 0) {
        return;
    }

    ans = tn_pcalloc(rctx->rs->pool, sizeof(tn_mail_out_mxanswer_t));
    if (ans == NULL) {
        return;
    }

    tn_memcpy(ans->domain, rctx->domain.data, rctx->domain.len);
    ans->domain_len = rctx->domain.len;
    ans->state = state;
    ans->expire = tn_time() + ttl;

    (void) tn_mail_out_mxcache_store(mc, ans, tn_time());
}


/* the targets of an answer, fresh or cached, equal preferences shuffled */

static void
tn_mail_out_from_answer(tn_mail_out_rctx_t *rctx,
    tn_mail_out_mxanswer_t *ans)
{
    tn_str_t               name;
    tn_uint_t              i, j;
    tn_uint_t              prefs[TN_MAIL_OUT_MX_HOSTS];
    tn_uint_t              order[TN_MAIL_OUT_MX_HOSTS];
    tn_mail_out_mxhost_t  *mh;

    if (ans->state == TN_MAIL_OUT_MXCACHE_NXDOMAIN) {
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_FAIL, "5.1.2",
                           "Host or domain name not found. Name service "
                           "error for name=%V type=MX: Host not found",
                           &rctx->domain);
        return;
    }

    if (ans->state == TN_MAIL_OUT_MXCACHE_NULLMX) {
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_FAIL, "5.1.10",
                           "Domain %V does not accept mail (null MX, "
                           "RFC 7505)", &rctx->domain);
        return;
    }

    rctx->rs->targets = tn_palloc(rctx->rs->pool, TN_MAIL_OUT_MAX_TARGETS
                                              * sizeof(tn_mail_out_target_t));
    if (rctx->rs->targets == NULL) {
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.3.0",
                           "Out of memory");
        return;
    }

    for (i = 0; i < ans->nhosts; i++) {
        prefs[i] = ans->hosts[i].preference;
    }

    tn_mail_out_mx_order(prefs, ans->nhosts, order);

    for (i = 0; i < ans->nhosts; i++) {
        mh = &ans->hosts[order[i]];

        name.len = mh->len;
        name.data = mh->name;

        for (j = 0; j < mh->naddrs; j++) {

            if (mh->addrs[j].sockaddr.sa_family == AF_INET6 && !rctx->ipv6) {
                continue;
            }

            if (tn_mail_out_add_target(rctx, &name, &mh->addrs[j].sockaddr,
                                       mh->socklens[j], mh->preference, NULL)
                != TN_OK)
            {
                break;
            }
        }
    }

    if (rctx->rs->ntargets == 0) {
        tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_DEFER, "4.4.3",
                           "No address found for any MX host of %V",
                           &rctx->domain);
        return;
    }

    tn_mail_out_finish(rctx, TN_MAIL_OUT_RESOLVE_OK, "2.0.0", NULL);
}


/* copies the host name and the address (with the port) into rs->pool */

static tn_int_t
tn_mail_out_add_target(tn_mail_out_rctx_t *rctx, tn_str_t *host,
    struct sockaddr *sa, socklen_t socklen, tn_uint_t preference,
    tn_mail_out_conn_t *conn)
{
    u_char                 *p;
    size_t                  n;
    tn_mail_out_resolve_t  *rs;
    tn_mail_out_target_t   *t;

    rs = rctx->rs;

    if (rs->ntargets == TN_MAIL_OUT_MAX_TARGETS) {
        return TN_DECLINED;
    }

    p = tn_pnalloc(rs->pool, host->len + 1 + socklen + TN_SOCKADDR_STRLEN
                             + sizeof(void *));
    if (p == NULL) {
        return TN_ERROR;
    }

    t = &rs->targets[rs->ntargets];
    tn_memzero(t, sizeof(tn_mail_out_target_t));

    t->host.data = p;
    t->host.len = host->len;
    p = tn_cpymem(p, host->data, host->len);
    *p++ = '\0';

    p = tn_align_ptr(p, sizeof(void *));

    t->addr.sockaddr = (struct sockaddr *) p;
    t->addr.socklen = socklen;
    p = tn_cpymem(p, sa, socklen);

    tn_inet_set_port(t->addr.sockaddr, conn ? conn->port : rctx->mx_port);

    n = tn_sock_ntop(t->addr.sockaddr, socklen, p, TN_SOCKADDR_STRLEN - 1, 0);
    p[n] = '\0';

    t->addr.name.data = p;
    t->addr.name.len = n;

    t->preference = preference;
    t->conn = conn;

    rs->ntargets++;

    return TN_OK;
}


static void
tn_mail_out_finish(tn_mail_out_rctx_t *rctx, tn_uint_t result,
    const char *status, const char *fmt, ...)
{
    u_char                 *p, *last;
    va_list                 args;
    tn_mail_out_resolve_t  *rs;

    if (rctx->finished) {
        return;
    }

    rctx->finished = 1;

    rs = rctx->rs;

    rs->result = result;
    rs->status.data = (u_char *) status;
    rs->status.len = tn_strlen(status);

    if (result != TN_MAIL_OUT_RESOLVE_OK) {
        rs->ntargets = 0;
    }

    if (fmt) {
        p = tn_pnalloc(rs->pool, TN_MAIL_OUT_ERROR_LEN);

        if (p) {
            last = p + TN_MAIL_OUT_ERROR_LEN - 1;

            va_start(args, fmt);
            last = tn_vslprintf(p, last, fmt, args);
            va_end(args);

            *last = '\0';

            rs->error.data = p;
            rs->error.len = last - p;
        }
    }

    tn_log_debug4(TN_LOG_DEBUG_MAIL, rs->log, 0,
                  "outbound: resolved \"%V\": %ui %V, %ui targets",
                  &rctx->domain, result, &rs->status, rs->ntargets);

    tn_post_event(&rctx->event, &tn_posted_events);
}


static void
tn_mail_out_resolve_handler(tn_event_t *ev)
{
    tn_mail_out_rctx_t  *rctx;

    rctx = ev->data;

    /* the handler may free rs->pool, and rctx with it */

    rctx->rs->handler(rctx->rs);
}
