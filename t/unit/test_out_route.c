
/*
 * Copyright (C) The Tern developers
 */


/*
 * Where outbound mail goes (src/mail/tn_mail_out_route.c) and the MX
 * cache (src/mail/tn_mail_out_mxcache.c), both included here:
 *
 *   - "connection" and "route" through the real configuration parser
 *     in a test "outbound" block, and the checks at its end (dangling
 *     and cyclic backups, duplicates; no password in any message);
 *   - route precedence; MX order and the shuffle of equal preferences;
 *     null MX and address literals;
 *   - the MX cache file: store, lookup, expiry, replacement, clear,
 *     list, a slot held by a dead writer, a corrupted slot, the CLI;
 *   - tn_mail_out_resolve() in a worker's event loop against a small
 *     DNS server run in a thread of this test (UDP on 127.0.0.1): MX
 *     hosts with AAAA and A, no MX, NXDOMAIN, null MX, SERVFAIL, CNAME,
 *     address MX hosts, the host cap, a connection and its backup, the
 *     cache, cancellation.
 *
 * The outbound configuration comes from tn_test_get_conf(), not from
 * the outbound module, so that the test can change it.
 */


#define tn_mail_out_get_conf  tn_test_get_conf

#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail_out.h>

#include <poll.h>

#include "../../src/mail/tn_mail_out_mxcache.c"
#include "../../src/mail/tn_mail_out_route.c"


#define TN_TEST_TTL       300
#define TN_TEST_SERVFAIL  0xffff
#define TN_TEST_EXISTS    0xfffe
#define TN_TEST_CNAME     5


typedef struct {
    const char          *name;
    tn_uint_t            type;
    uint32_t             ttl;
    const char          *data;
} tn_test_rr_t;


typedef struct {
    int                  udp;
    int                  stop[2];
    in_port_t            port;
    pthread_t            thread;
} tn_test_dns_t;


static tn_uint_t         tn_test_n;
static tn_uint_t         tn_test_failed;

static tn_test_dns_t     tn_test_dns;
static tn_cycle_t        tn_test_init_cycle;
static char              tn_test_dir[] = "/tmp/tn-test-out-route.XXXXXX";
static char              tn_test_log_name[PATH_MAX];
static tn_log_t         *tn_test_log;
static tn_event_t        tn_test_tick;

/* what tn_mail_out_get_conf() returns to the code under test */
static tn_mail_out_conf_t  *tn_test_ocf;
static tn_mail_out_conf_t   tn_test_conf_parsed;
static tn_pool_t           *tn_test_conf_pool;

static tn_mail_out_resolve_t  tn_test_rs;
static tn_uint_t              tn_test_called;
static tn_uint_t              tn_test_in_resolve;
static tn_uint_t              tn_test_sync;


static tn_test_rr_t  tn_test_zone[] = {
    { "mx.test", TN_RESOLVE_MX, TN_TEST_TTL, "10 a.mx.test" },
    { "mx.test", TN_RESOLVE_MX, TN_TEST_TTL, "20 d.mx.test" },
    { "mx.test", TN_RESOLVE_MX, TN_TEST_TTL, "10 b.mx.test" },
    { "mx.test", TN_RESOLVE_MX, TN_TEST_TTL, "10 c.mx.test" },
    { "a.mx.test", TN_RESOLVE_A, TN_TEST_TTL, "192.0.2.1" },
    { "a.mx.test", TN_RESOLVE_AAAA, TN_TEST_TTL, "2001:db8::1" },
    { "b.mx.test", TN_RESOLVE_A, TN_TEST_TTL, "192.0.2.2" },
    { "c.mx.test", TN_RESOLVE_A, 200, "192.0.2.3" },
    { "d.mx.test", TN_RESOLVE_A, TN_TEST_TTL, "192.0.2.4" },
    { "d.mx.test", TN_RESOLVE_A, TN_TEST_TTL, "192.0.2.5" },
    { "d.mx.test", TN_RESOLVE_A, TN_TEST_TTL, "192.0.2.6" },

    { "null.test", TN_RESOLVE_MX, 600, "0 ." },
    { "nullpref.test", TN_RESOLVE_MX, 600, "10 ." },
    { "nomx.test", TN_RESOLVE_A, TN_TEST_TTL, "192.0.2.50" },
    { "none.test", TN_TEST_EXISTS, 0, NULL },
    { "servfail.test", TN_TEST_SERVFAIL, 0, NULL },

    { "lit.test", TN_RESOLVE_MX, TN_TEST_TTL, "10 192.0.2.9" },
    { "lit.test", TN_RESOLVE_MX, TN_TEST_TTL, "20 ok.lit.test" },
    { "ok.lit.test", TN_RESOLVE_A, TN_TEST_TTL, "192.0.2.10" },

    { "cname.test", TN_RESOLVE_MX, TN_TEST_TTL, "10 alias.cname.test" },
    { "alias.cname.test", TN_TEST_CNAME, TN_TEST_TTL, "real.cname.test" },
    { "real.cname.test", TN_RESOLVE_A, TN_TEST_TTL, "192.0.2.20" },

    { "badmx.test", TN_RESOLVE_MX, TN_TEST_TTL, "10 gone.badmx.test" },

    { "partial.test", TN_RESOLVE_MX, TN_TEST_TTL, "10 sf.partial.test" },
    { "partial.test", TN_RESOLVE_MX, TN_TEST_TTL, "20 ok.partial.test" },
    { "sf.partial.test", TN_TEST_SERVFAIL, 0, NULL },
    { "ok.partial.test", TN_RESOLVE_A, TN_TEST_TTL, "192.0.2.30" },

    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "11 h11.many.test" },
    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "10 h10.many.test" },
    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "9 h9.many.test" },
    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "8 h8.many.test" },
    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "7 h7.many.test" },
    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "6 h6.many.test" },
    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "5 h5.many.test" },
    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "4 h4.many.test" },
    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "3 h3.many.test" },
    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "2 h2.many.test" },
    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "1 h1.many.test" },
    { "many.test", TN_RESOLVE_MX, TN_TEST_TTL, "0 h0.many.test" },

    { "relay.test", TN_RESOLVE_A, TN_TEST_TTL, "192.0.2.100" },
    { "relay.test", TN_RESOLVE_AAAA, TN_TEST_TTL, "2001:db8::100" },

    { NULL, 0, 0, NULL }
};


static void
tn_test_ok(int cond, const char *name)
{
    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
    }

    printf("%s %d - %s\n", cond ? "ok" : "not ok", (int) tn_test_n, name);
    fflush(stdout);
}


tn_mail_out_conf_t *
tn_test_get_conf(tn_cycle_t *cycle)
{
    return tn_test_ocf;
}


/* ---- the DNS server ---- */

static u_char *
tn_test_dns_name(u_char *p, const char *name)
{
    const char  *dot;
    size_t       len;

    while (*name && strcmp(name, ".") != 0) {
        dot = strchr(name, '.');
        len = dot ? (size_t) (dot - name) : strlen(name);

        *p++ = (u_char) len;
        memcpy(p, name, len);
        p += len;

        name += len;
        if (*name == '.') {
            name++;
        }
    }

    *p++ = 0;

    return p;
}


static u_char *
tn_test_dns_rr(u_char *p, tn_test_rr_t *rr)
{
    u_char    *rd, *len;
    unsigned   pref;
    char       host[256];

    p = tn_test_dns_name(p, rr->name);

    *p++ = 0;
    *p++ = (u_char) rr->type;
    *p++ = 0;
    *p++ = 1;
    *p++ = (u_char) (rr->ttl >> 24);
    *p++ = (u_char) (rr->ttl >> 16);
    *p++ = (u_char) (rr->ttl >> 8);
    *p++ = (u_char) rr->ttl;

    len = p;
    p += 2;
    rd = p;

    switch (rr->type) {

    case TN_RESOLVE_A:
        (void) inet_pton(AF_INET, rr->data, p);
        p += 4;
        break;

    case TN_RESOLVE_AAAA:
        (void) inet_pton(AF_INET6, rr->data, p);
        p += 16;
        break;

    case TN_RESOLVE_MX:
        (void) sscanf(rr->data, "%u %255s", &pref, host);
        *p++ = (u_char) (pref >> 8);
        *p++ = (u_char) pref;
        p = tn_test_dns_name(p, host);
        break;

    default: /* CNAME */
        p = tn_test_dns_name(p, rr->data);
    }

    len[0] = (u_char) ((p - rd) >> 8);
    len[1] = (u_char) (p - rd);

    return p;
}


/* the answer to the query q of n bytes in r; 0: none */

static size_t
tn_test_dns_reply(u_char *q, size_t n, u_char *r)
{
    u_char        *p, *last, *a;
    char           name[256], addr[32];
    const char    *qname;
    size_t         len, nlen;
    unsigned       type, ancount, rcode, exists, i;
    tn_test_rr_t  *rr, many;

    if (n < 12 + 5) {
        return 0;
    }

    last = q + n;
    p = q + 12;
    nlen = 0;

    while (p < last && *p) {
        len = *p++;

        if (p + len >= last || nlen + len + 1 >= sizeof(name)) {
            return 0;
        }

        if (nlen) {
            name[nlen++] = '.';
        }

        for (i = 0; i < len; i++) {
            name[nlen++] = (char) tolower(p[i]);
        }

        p += len;
    }

    name[nlen] = '\0';

    if (last - p < 5) {
        return 0;
    }

    p++;
    type = (p[0] << 8) | p[1];
    p += 4;

    memcpy(r, q, p - q);
    r[2] = 0x80 | (q[2] & 0x01);
    r[3] = 0x80;
    r[4] = 0;
    r[5] = 1;
    memset(r + 6, 0, 6);

    a = r + (p - q);
    ancount = 0;
    rcode = 0;
    exists = 0;
    qname = name;

    for (rr = tn_test_zone; rr->name; rr++) {
        if (strcmp(rr->name, qname) != 0) {
            continue;
        }

        exists = 1;

        if (rr->type == TN_TEST_SERVFAIL) {
            rcode = 2;
            break;
        }

        if (rr->type == TN_TEST_CNAME && type != TN_TEST_CNAME) {
            a = tn_test_dns_rr(a, rr);
            ancount++;
            qname = rr->data;
            rr = tn_test_zone - 1;
            continue;
        }

        if (rr->type == type) {
            a = tn_test_dns_rr(a, rr);
            ancount++;
        }
    }

    /* h0.many.test ... h11.many.test: 10.0.0.N */

    if (sscanf(name, "h%u.many.test", &i) == 1) {
        exists = 1;

        if (type == TN_RESOLVE_A) {
            snprintf(addr, sizeof(addr), "10.0.0.%u", i);
            many.name = name;
            many.type = TN_RESOLVE_A;
            many.ttl = TN_TEST_TTL;
            many.data = addr;
            a = tn_test_dns_rr(a, &many);
            ancount++;
        }
    }

    if (!exists) {
        rcode = 3;
    }

    r[3] |= (u_char) rcode;
    r[6] = (u_char) (ancount >> 8);
    r[7] = (u_char) ancount;

    return a - r;
}


static void *
tn_test_dns_thread(void *data)
{
    ssize_t             n;
    size_t              len;
    socklen_t           slen;
    struct pollfd       fds[2];
    struct sockaddr_in  sin;
    u_char              q[2048], r[4096];

    for ( ;; ) {
        fds[0].fd = tn_test_dns.stop[0];
        fds[0].events = POLLIN;
        fds[1].fd = tn_test_dns.udp;
        fds[1].events = POLLIN;

        if (poll(fds, 2, -1) == -1) {
            continue;
        }

        if (fds[0].revents) {
            break;
        }

        if (!(fds[1].revents & POLLIN)) {
            continue;
        }

        slen = sizeof(sin);
        n = recvfrom(tn_test_dns.udp, q, sizeof(q), 0,
                     (struct sockaddr *) &sin, &slen);

        if (n > 0) {
            len = tn_test_dns_reply(q, n, r);

            if (len) {
                (void) sendto(tn_test_dns.udp, r, len, 0,
                              (struct sockaddr *) &sin, slen);
            }
        }
    }

    return NULL;
}


static int
tn_test_dns_start(void)
{
    socklen_t           slen;
    struct sockaddr_in  sin;

    tn_test_dns.udp = socket(AF_INET, SOCK_DGRAM, 0);
    if (tn_test_dns.udp == -1) {
        return -1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    slen = sizeof(sin);

    if (bind(tn_test_dns.udp, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || getsockname(tn_test_dns.udp, (struct sockaddr *) &sin, &slen)
           != 0
        || pipe(tn_test_dns.stop) == -1)
    {
        return -1;
    }

    tn_test_dns.port = ntohs(sin.sin_port);

    return pthread_create(&tn_test_dns.thread, NULL, tn_test_dns_thread,
                          NULL);
}


static void
tn_test_dns_stop(void)
{
    (void) write(tn_test_dns.stop[1], "x", 1);
    pthread_join(tn_test_dns.thread, NULL);

    close(tn_test_dns.udp);
    close(tn_test_dns.stop[0]);
    close(tn_test_dns.stop[1]);
}


/* ---- the log ---- */

static void
tn_test_log_clear(void)
{
    if (truncate(tn_test_log_name, 0) == -1) {
        tn_test_ok(0, "truncate the log");
    }
}


static int
tn_test_log_has(const char *text)
{
    FILE    *f;
    char     buf[65536];
    size_t   n;

    f = fopen(tn_test_log_name, "r");
    if (f == NULL) {
        return 0;
    }

    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';

    return strstr(buf, text) != NULL;
}


/* ---- the configuration ---- */

static char *tn_test_outbound(tn_conf_t *cf, tn_command_t *cmd, void *conf);


static tn_command_t  tn_test_commands[] = {

    { tn_string("outbound"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_BLOCK|TN_CONF_NOARGS,
      tn_test_outbound, 0, 0, NULL },

    { tn_string("connection"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_BLOCK|TN_CONF_TAKE1,
      tn_mail_out_connection_block, 0, 0, NULL },

    { tn_string("route"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE23,
      tn_mail_out_route_directive, 0, 0, NULL },

      tn_null_command
};


static tn_module_t  tn_test_module = {
    TN_MODULE_V1, "tn_test_module", NULL, tn_test_commands,
    TN_CORE_MODULE, NULL, NULL, NULL, NULL, TN_MODULE_V1_PADDING
};

static tn_module_t  *tn_test_modules[] = { &tn_test_module, NULL };


/* as tn_mail_out_module.c does: the block, then the check */

static char *
tn_test_outbound(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char       *rv;
    tn_conf_t   pcf;

    pcf = *cf;
    cf->cmd_type = TN_MAIL_OUT_CONF;

    rv = tn_conf_parse(cf, NULL);

    *cf = pcf;

    if (rv != TN_CONF_OK) {
        return rv;
    }

    return tn_mail_out_routes_check(cf, conf);
}


/* parses text as tern.conf into tn_test_conf_parsed; NULL: it is good */

static char *
tn_test_parse(const char *text)
{
    FILE        *f;
    char        *rv;
    void        *ctx[1];
    tn_str_t     file;
    tn_conf_t    cf;
    tn_cycle_t   cycle;
    char         path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/route.conf", tn_test_dir);

    f = fopen(path, "w");
    if (f == NULL) {
        return "fopen";
    }

    fputs(text, f);
    fclose(f);

    tn_test_log_clear();

    if (tn_test_conf_pool) {
        tn_destroy_pool(tn_test_conf_pool);
    }

    tn_test_conf_pool = tn_create_pool(4096, tn_test_log);

    tn_memzero(&tn_test_conf_parsed, sizeof(tn_mail_out_conf_t));
    tn_test_conf_parsed.ipv6 = 1;
    tn_test_conf_parsed.conns = tn_array_create(tn_test_conf_pool, 2,
                                                sizeof(tn_mail_out_conn_t));
    tn_test_conf_parsed.routes = tn_array_create(tn_test_conf_pool, 2,
                                                 sizeof(tn_mail_out_route_t));

    ctx[0] = &tn_test_conf_parsed;
    tn_test_module.index = 0;

    tn_memzero(&cycle, sizeof(tn_cycle_t));
    cycle.pool = tn_test_conf_pool;
    cycle.log = tn_test_log;
    cycle.modules = tn_test_modules;
    cycle.conf_prefix.data = (u_char *) tn_test_dir;
    cycle.conf_prefix.len = strlen(tn_test_dir);
    cycle.prefix = cycle.conf_prefix;

    tn_memzero(&cf, sizeof(tn_conf_t));
    cf.args = tn_array_create(tn_test_conf_pool, 10, sizeof(tn_str_t));
    cf.cycle = &cycle;
    cf.pool = tn_test_conf_pool;
    cf.temp_pool = tn_test_conf_pool;
    cf.log = tn_test_log;
    cf.ctx = ctx;
    cf.module_type = TN_CORE_MODULE;
    cf.cmd_type = TN_MAIN_CONF;

    file.data = (u_char *) path;
    file.len = strlen(path);

    rv = tn_conf_parse(&cf, &file);

    return (rv == TN_CONF_OK) ? NULL : "error";
}


static void
tn_test_conf_error(const char *text, const char *error, const char *name)
{
    char  *rv;

    rv = tn_test_parse(text);

    tn_test_ok(rv != NULL && tn_test_log_has(error), name);

    if (rv == NULL || !tn_test_log_has(error)) {
        printf("# expected \"%s\"\n", error);
    }
}


static int
tn_test_str_is(tn_str_t *s, const char *text)
{
    return s->len == strlen(text) && memcmp(s->data, text, s->len) == 0;
}


static void
tn_test_conf(void)
{
    char                 *rv;
    tn_mail_out_conn_t   *conns;
    tn_mail_out_route_t  *routes;

    rv = tn_test_parse(
        "outbound {\n"
        "    connection relay {\n"
        "        host Relay.TEST;\n"
        "        port 2525;\n"
        "        tls require;\n"
        "        auth user s3cret-pw;\n"
        "        backup fallback;\n"
        "    }\n"
        "    connection fallback { host [192.0.2.101]; tls implicit; }\n"
        "    connection v6 { host 2001:db8::25; }\n"
        "    connection idn { host b\xc3\xbc" "cher.test; backup fallback; }\n"
        "    route sender_domain Sender.Test relay;\n"
        "    route recipient_domain rcpt.test. fallback;\n"
        "    route recipient_domain direct.test direct;\n"
        "    route sender_domain m\xc3\xbc" "ller.test idn;\n"
        "    route default v6;\n"
        "}\n");

    tn_test_ok(rv == NULL, "conf: connections, backups and routes");

    if (rv) {
        return;
    }

    conns = tn_test_conf_parsed.conns->elts;
    routes = tn_test_conf_parsed.routes->elts;

    tn_test_ok(tn_test_conf_parsed.conns->nelts == 4
               && tn_test_conf_parsed.routes->nelts == 5,
               "conf: four connections, five routes");

    tn_test_ok(tn_test_str_is(&conns[0].host, "relay.test")
               && conns[0].port == 2525
               && conns[0].tls == TN_MAIL_OUT_TLS_REQUIRE
               && !conns[0].implicit_tls
               && tn_test_str_is(&conns[0].auth_user, "user")
               && tn_test_str_is(&conns[0].auth_pass, "s3cret-pw")
               && conns[0].backup == &conns[1]
               && conns[0].line == 2,
               "conf: relay: host lowercased, port, tls, auth, backup");

    tn_test_ok(tn_test_str_is(&conns[1].host, "192.0.2.101")
               && conns[1].port == 465 && conns[1].implicit_tls
               && conns[1].tls == TN_MAIL_OUT_TLS_REQUIRE
               && conns[1].backup == NULL,
               "conf: tls implicit: port 465, TLS required");

    tn_test_ok(tn_test_str_is(&conns[2].host, "2001:db8::25")
               && conns[2].port == 25 && conns[2].tls == TN_MAIL_OUT_TLS_MAY
               && conns[2].auth_user.len == 0,
               "conf: defaults: port 25, tls may, no auth");

    tn_test_ok(tn_test_str_is(&conns[3].host, "xn--bcher-kva.test"),
               "conf: a U-label host becomes its A-label");

    tn_test_ok(routes[0].type == TN_MAIL_OUT_ROUTE_SENDER
               && tn_test_str_is(&routes[0].domain, "sender.test")
               && routes[0].conn == &conns[0]
               && routes[1].type == TN_MAIL_OUT_ROUTE_RECIPIENT
               && tn_test_str_is(&routes[1].domain, "rcpt.test")
               && routes[1].conn == &conns[1]
               && routes[2].conn == NULL && routes[2].conn_name.len == 0
               && tn_test_str_is(&routes[3].domain, "xn--mller-kva.test")
               && routes[3].conn == &conns[3]
               && routes[4].type == TN_MAIL_OUT_ROUTE_DEFAULT
               && routes[4].conn == &conns[2],
               "conf: routes: domains as A-labels, connections found");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host a.test; backup b; }\n"
        "}\n",
        "connection \"b\" named as backup of \"a\" does not exist in "
        "/tmp/tn-test-out-route.", "conf: a dangling backup");

    tn_test_ok(tn_test_log_has("route.conf:2"),
               "conf: the dangling backup's file:line");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host a.test; backup b; }\n"
        "    connection b { host b.test; backup a; }\n"
        "}\n",
        "backup connections form a cycle: a -> b -> a in ",
        "conf: a -> b -> a");

    tn_test_conf_error(
        "outbound {\n"
        "    connection c { host c.test; }\n"
        "    connection a { host a.test; backup b; }\n"
        "    connection b { host b.test; backup d; }\n"
        "    connection d { host d.test; backup b; }\n"
        "}\n",
        "backup connections form a cycle: b -> d -> b in ",
        "conf: a chain into a cycle");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host a.test; backup a; }\n"
        "}\n",
        "backup connections form a cycle: a -> a in ",
        "conf: its own backup");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host a.test; }\n"
        "    connection a { host b.test; }\n"
        "}\n",
        "duplicate connection \"a\" in ", "conf: a duplicate connection");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host a.test; }\n"
        "    route default a;\n"
        "    route default direct;\n"
        "}\n",
        "duplicate \"route default\" in ", "conf: two default routes");

    tn_test_conf_error(
        "outbound {\n"
        "    route recipient_domain x.test direct;\n"
        "    route recipient_domain X.test. direct;\n"
        "}\n",
        "duplicate \"route recipient_domain x.test\" in ",
        "conf: a duplicate route");

    rv = tn_test_parse(
        "outbound {\n"
        "    route recipient_domain x.test direct;\n"
        "    route sender_domain x.test direct;\n"
        "}\n");

    tn_test_ok(rv == NULL, "conf: one domain, two kinds of route");

    tn_test_conf_error(
        "outbound {\n"
        "    route sender_domain x.test gone;\n"
        "}\n",
        "connection \"gone\" named in \"route sender_domain x.test\" does "
        "not exist in ", "conf: a route to no connection");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { port 25; }\n"
        "}\n",
        "no \"host\" in connection \"a\"", "conf: no host");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host a.test; hots b.test; }\n"
        "}\n",
        "unknown directive \"hots\" in connection \"a\"",
        "conf: an unknown directive");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host a.test; tls always; }\n"
        "}\n",
        "invalid \"tls\" in connection \"a\"", "conf: a bad tls");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host a.test; port 70000; }\n"
        "}\n",
        "invalid port \"70000\"", "conf: a bad port");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host a..test; }\n"
        "}\n",
        "invalid host \"a..test\"", "conf: a bad host");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host [a.test]; }\n"
        "}\n",
        "invalid host \"[a.test]\"", "conf: brackets without an address");

    tn_test_conf_error(
        "outbound {\n"
        "    connection direct { host a.test; }\n"
        "}\n",
        "\"connection\" directive has an invalid name",
        "conf: \"direct\" is no connection name");

    tn_test_conf_error(
        "outbound {\n"
        "    route somewhere x.test direct;\n"
        "}\n",
        "\"route\" directive takes", "conf: an unknown route type");

    tn_test_conf_error(
        "outbound {\n"
        "    route default x.test direct;\n"
        "}\n",
        "\"route\" directive takes", "conf: default takes no domain");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a {\n"
        "        host a.test;\n"
        "        auth user pw-one-XYZ;\n"
        "        auth user pw-two-XYZ;\n"
        "    }\n"
        "}\n",
        "\"auth\" is duplicate in connection \"a\"", "conf: auth twice");

    tn_test_ok(!tn_test_log_has("XYZ"), "conf: no password in the log");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host a.test; auth only-a-pw-QWE; }\n"
        "}\n",
        "invalid number of arguments in \"auth\"", "conf: auth alone");

    tn_test_ok(!tn_test_log_has("QWE"),
               "conf: no password in the log, argument count");

    tn_test_conf_error(
        "outbound {\n"
        "    connection a { host a.test; backup b; auth u pw-ASD; }\n"
        "}\n",
        "named as backup of \"a\" does not exist",
        "conf: dangling backup of a connection with auth");

    tn_test_ok(!tn_test_log_has("ASD"),
               "conf: no password in the log, check at the end");
}


static void
tn_test_precedence(void)
{
    tn_str_t              d, s;
    tn_mail_out_route_t  *r;

    if (tn_test_parse(
            "outbound {\n"
            "    connection s { host s.test; }\n"
            "    connection r { host r.test; }\n"
            "    connection d { host d.test; }\n"
            "    route default d;\n"
            "    route recipient_domain rcpt.test r;\n"
            "    route sender_domain snd.test s;\n"
            "    route recipient_domain mx.test direct;\n"
            "}\n")
        != NULL)
    {
        tn_test_ok(0, "route: configuration");
        return;
    }

    tn_str_set(&d, "rcpt.test");
    tn_str_set(&s, "snd.test");

    r = tn_mail_out_route_find(&tn_test_conf_parsed, &d, &s);
    tn_test_ok(r && r->conn && tn_test_str_is(&r->conn->name, "s"),
               "route: the sender's route before the recipient's");

    tn_str_set(&s, "other.test");
    r = tn_mail_out_route_find(&tn_test_conf_parsed, &d, &s);
    tn_test_ok(r && r->conn && tn_test_str_is(&r->conn->name, "r"),
               "route: the recipient's route before the default");

    tn_str_set(&d, "RCPT.Test.");
    r = tn_mail_out_route_find(&tn_test_conf_parsed, &d, NULL);
    tn_test_ok(r && r->conn && tn_test_str_is(&r->conn->name, "r"),
               "route: case and a final dot do not matter");

    tn_str_set(&d, "elsewhere.test");
    r = tn_mail_out_route_find(&tn_test_conf_parsed, &d, &s);
    tn_test_ok(r && r->conn && tn_test_str_is(&r->conn->name, "d"),
               "route: the default");

    tn_str_set(&d, "mx.test");
    r = tn_mail_out_route_find(&tn_test_conf_parsed, &d, &s);
    tn_test_ok(r && r->conn == NULL,
               "route: \"direct\" before the default");

    tn_str_set(&d, "sub.rcpt.test");
    r = tn_mail_out_route_find(&tn_test_conf_parsed, &d, NULL);
    tn_test_ok(r && r->conn && tn_test_str_is(&r->conn->name, "d"),
               "route: domains match exactly, not their subdomains");

    (void) tn_test_parse("outbound { route recipient_domain x.test direct; "
                         "}\n");

    tn_str_set(&d, "y.test");
    tn_test_ok(tn_mail_out_route_find(&tn_test_conf_parsed, &d, NULL) == NULL,
               "route: none applies: direct");
}


/* ---- MX order, null MX, addresses ---- */

static void
tn_test_order(void)
{
    tn_uint_t         i, k, perm, seen[6], last_ok, sorted_ok;
    tn_uint_t         order[TN_MAIL_OUT_MX_HOSTS];
    tn_resolver_mx_t  mx[2];
    tn_str_t          name;
    tn_sockaddr_t     sa;
    socklen_t         len;

    static tn_uint_t  prefs[] = { 10, 20, 10, 10 };
    static tn_uint_t  distinct[] = { 30, 10, 20, 5, 40 };

    memset(seen, 0, sizeof(seen));
    last_ok = 1;

    for (i = 0; i < 600; i++) {
        tn_mail_out_mx_order(prefs, 4, order);

        /* indexes 0, 2, 3 (preference 10) in some order, then 1 */

        if (order[3] != 1) {
            last_ok = 0;
        }

        perm = (order[0] == 0) ? (order[1] == 2 ? 0 : 1)
             : (order[0] == 2) ? (order[1] == 0 ? 2 : 3)
             : (order[1] == 0 ? 4 : 5);

        seen[perm]++;
    }

    for (k = 0, i = 0; i < 6; i++) {
        if (seen[i]) {
            k++;
        }
    }

    tn_test_ok(last_ok, "order: the higher preference always last");
    tn_test_ok(k == 6, "order: every order of equal preferences appears");

    sorted_ok = 1;

    for (i = 0; i < 100; i++) {
        tn_mail_out_mx_order(distinct, 5, order);

        if (order[0] != 3 || order[1] != 1 || order[2] != 2 || order[3] != 0
            || order[4] != 4)
        {
            sorted_ok = 0;
        }
    }

    tn_test_ok(sorted_ok, "order: different preferences never reorder");

    tn_str_set(&mx[0].host, "");
    mx[0].preference = 0;
    tn_test_ok(tn_mail_out_mx_is_null(mx, 1), "null MX: \"0 .\"");

    tn_str_set(&mx[0].host, ".");
    tn_test_ok(tn_mail_out_mx_is_null(mx, 1), "null MX: a name \".\"");

    mx[0].preference = 10;
    tn_test_ok(!tn_mail_out_mx_is_null(mx, 1),
               "null MX: not with preference 10");

    mx[0].preference = 0;
    tn_str_set(&mx[1].host, "mx.test");
    mx[1].preference = 10;
    tn_test_ok(!tn_mail_out_mx_is_null(mx, 2),
               "null MX: not among other records");

    tn_str_set(&mx[0].host, "mx.test");
    tn_test_ok(!tn_mail_out_mx_is_null(mx, 1), "null MX: not a host");

    tn_str_set(&name, "192.0.2.1");
    tn_test_ok(tn_mail_out_literal(&name, &sa, &len)
               && sa.sockaddr.sa_family == AF_INET,
               "literal: IPv4");

    tn_str_set(&name, "[IPv6:2001:db8::1]");
    tn_test_ok(tn_mail_out_literal(&name, &sa, &len)
               && sa.sockaddr.sa_family == AF_INET6
               && len == sizeof(struct sockaddr_in6),
               "literal: [IPv6:...]");

    tn_str_set(&name, "192.0.2.1.example.test");
    tn_test_ok(!tn_mail_out_literal(&name, &sa, &len),
               "literal: a name of digits is a name");
}


/* ---- the MX cache ---- */

static void
tn_test_answer(tn_mail_out_mxanswer_t *ans, const char *domain,
    tn_uint_t state, time_t expire, tn_uint_t nhosts)
{
    tn_uint_t              i;
    tn_mail_out_mxhost_t  *h;

    tn_memzero(ans, sizeof(tn_mail_out_mxanswer_t));

    ans->domain_len = strlen(domain);
    memcpy(ans->domain, domain, ans->domain_len);
    ans->state = state;
    ans->flags = TN_MAIL_OUT_MXCACHE_IPV6;
    ans->expire = expire;

    for (i = 0; i < nhosts; i++) {
        h = &ans->hosts[i];

        h->len = snprintf((char *) h->name, sizeof(h->name), "mx%u.%s",
                          (unsigned) i, domain);
        h->preference = 10 * (i / 2);

        h->addrs[0].sockaddr_in.sin_family = AF_INET;
        h->addrs[0].sockaddr_in.sin_addr.s_addr = htonl(0xc0000200 + i);
        h->socklens[0] = sizeof(struct sockaddr_in);

        h->addrs[1].sockaddr_in6.sin6_family = AF_INET6;
        (void) inet_pton(AF_INET6, "2001:db8::5",
                         &h->addrs[1].sockaddr_in6.sin6_addr);
        h->socklens[1] = sizeof(struct sockaddr_in6);

        h->naddrs = 2;
    }

    ans->nhosts = nhosts;
}


static tn_int_t
tn_test_list(tn_mail_out_mxcache_t *mc, const char *domain, char *out,
    size_t size)
{
    int       fd;
    ssize_t   n;
    tn_int_t  rc;
    char      path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/list.out", tn_test_dir);

    fd = open(path, O_RDWR|O_CREAT|O_TRUNC, 0600);
    if (fd == -1) {
        return TN_ERROR;
    }

    rc = tn_mail_out_mxcache_list(mc, (u_char *) domain,
                                  domain ? strlen(domain) : 0, 1000, fd);

    n = pread(fd, out, size - 1, 0);
    out[n > 0 ? n : 0] = '\0';

    close(fd);
    unlink(path);

    return rc;
}


/* runs "tern mx ..." with its output in out */

static int
tn_test_cli(tn_cycle_t *cycle, int argc, char **argv, char *out,
    size_t size)
{
    int      fd, saved, rc;
    ssize_t  n;
    char     path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/cli.out", tn_test_dir);

    fflush(stdout);

    fd = open(path, O_RDWR|O_CREAT|O_TRUNC, 0600);
    saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);

    rc = tn_mail_out_mxcache_cli(cycle, argc, argv);

    dup2(saved, STDOUT_FILENO);
    close(saved);

    n = pread(fd, out, size - 1, 0);
    out[n > 0 ? n : 0] = '\0';

    close(fd);
    unlink(path);

    return rc;
}


static void
tn_test_cache(void)
{
    int                          rc;
    char                         out[8192];
    char                        *argv[3];
    uint32_t                     seq;
    tn_str_t                     prefix;
    char                         name[32];
    tn_uint_t                    busy, n, k, set;
    tn_cycle_t                   cycle;
    tn_mail_out_mxcache_t       *mc, *mc2;
    tn_mail_out_mxanswer_t       ans, got;
    tn_mail_out_mxcache_slot_t  *slot;
    char                         path[PATH_MAX];

    prefix.data = (u_char *) tn_test_dir;
    prefix.len = strlen(tn_test_dir);

    errno = 0;
    mc = tn_mail_out_mxcache_open(&prefix, 0, (uid_t) -1, 0, tn_test_log);
    tn_test_ok(mc == NULL && errno == ENOENT,
               "cache: no file, not made: ENOENT");

    mc = tn_mail_out_mxcache_open(&prefix, 1, (uid_t) -1, 0, tn_test_log);
    tn_test_ok(mc != NULL, "cache: made");

    if (mc == NULL) {
        return;
    }

    mc2 = tn_mail_out_mxcache_open(&prefix, 0, (uid_t) -1, 0, tn_test_log);
    tn_test_ok(mc2 != NULL && mc2->secret == mc->secret,
               "cache: opened again, the same file");

    tn_test_answer(&ans, "one.test", TN_MAIL_OUT_MXCACHE_HOSTS, 1300, 3);

    tn_test_ok(tn_mail_out_mxcache_store(mc, &ans, 1000) == TN_OK,
               "cache: store");

    rc = (mc2 != NULL && tn_mail_out_mxcache_lookup(mc2, (u_char *) "one.test",
                                                     8, 1000, &got)
                         == TN_OK);

    tn_test_ok(rc && got.nhosts == 3 && got.expire == 1300
               && got.hosts[2].len == strlen("mx2.one.test")
               && memcmp(got.hosts[2].name, "mx2.one.test", 12) == 0
               && got.hosts[2].preference == 10
               && got.hosts[1].addrs[0].sockaddr_in.sin_addr.s_addr
                  == htonl(0xc0000201)
               && got.hosts[1].addrs[1].sockaddr.sa_family == AF_INET6
               && got.flags == TN_MAIL_OUT_MXCACHE_IPV6,
               "cache: found through another mapping, as stored");

    tn_test_ok(tn_mail_out_mxcache_lookup(mc, (u_char *) "one.test", 8, 1300,
                                          &got)
               == TN_DECLINED,
               "cache: expired at its time");

    tn_test_ok(tn_mail_out_mxcache_lookup(mc, (u_char *) "two.test", 8, 1000,
                                          &got)
               == TN_DECLINED,
               "cache: another domain is not there");

    tn_test_answer(&ans, "one.test", TN_MAIL_OUT_MXCACHE_NXDOMAIN, 1100, 0);
    (void) tn_mail_out_mxcache_store(mc, &ans, 1000);

    rc = tn_mail_out_mxcache_lookup(mc, (u_char *) "one.test", 8, 1000, &got);

    tn_test_ok(rc == TN_OK && got.state == TN_MAIL_OUT_MXCACHE_NXDOMAIN
               && got.nhosts == 0 && got.expire == 1100,
               "cache: replaced by a negative answer");

    tn_test_answer(&ans, "null.test", TN_MAIL_OUT_MXCACHE_NULLMX, 1200, 0);
    (void) tn_mail_out_mxcache_store(mc, &ans, 1000);

    tn_test_answer(&ans, "two.test", TN_MAIL_OUT_MXCACHE_HOSTS, 1050, 1);
    ans.flags |= TN_MAIL_OUT_MXCACHE_IMPLICIT;
    (void) tn_mail_out_mxcache_store(mc, &ans, 1000);

    rc = tn_test_list(mc, "one.test", out, sizeof(out));

    tn_test_ok(rc == 1 && strcmp(out, "one.test expires in 100s: NXDOMAIN\n")
                          == 0,
               "cache: list one domain");

    rc = tn_test_list(mc, NULL, out, sizeof(out));

    tn_test_ok(rc == 3 && strstr(out, "null.test expires in 200s: null MX\n")
               && strstr(out, "two.test expires in 50s, no MX\n"
                              "  0 mx0.two.test 192.0.2.0\n"
                              "  0 mx0.two.test 2001:db8::5\n"),
               "cache: list all");

    if (rc != 3) {
        printf("# %s", out);
    }

    /* a full set: the entry that expires first goes */

    set = tn_mail_out_mxcache_set(mc, (u_char *) "one.test", 8);

    for (n = 0, k = 0; n < 100000 && k < TN_MAIL_OUT_MXCACHE_WAYS; n++) {
        snprintf(name, sizeof(name), "f%u.test", (unsigned) n);

        if (tn_mail_out_mxcache_set(mc, (u_char *) name, strlen(name))
            == set)
        {
            tn_test_answer(&ans, name, TN_MAIL_OUT_MXCACHE_HOSTS, 2000 + n,
                           1);
            (void) tn_mail_out_mxcache_store(mc, &ans, 1000);
            k++;
        }
    }

    tn_test_ok(tn_mail_out_mxcache_lookup(mc, (u_char *) "one.test", 8, 1000,
                                          &got)
               == TN_DECLINED,
               "cache: a full set loses what expires first");

    /* a writer that died holding a slot */

    tn_test_answer(&ans, "stuck.test", TN_MAIL_OUT_MXCACHE_HOSTS, 5000, 1);
    (void) tn_mail_out_mxcache_store(mc, &ans, 1000);

    set = tn_mail_out_mxcache_set(mc, (u_char *) "stuck.test", 10);
    slot = NULL;
    seq = 0;

    for (n = 0; n < TN_MAIL_OUT_MXCACHE_WAYS; n++) {
        slot = tn_mail_out_mxcache_slot(mc, set + n);

        if (slot->data.domain_len == 10
            && memcmp(slot->data.domain, "stuck.test", 10) == 0)
        {
            break;
        }
    }

    tn_test_ok(slot != NULL
               && tn_mail_out_mxcache_lock(slot, 1000, &seq) == TN_OK,
               "cache: a writer takes the slot");

    tn_test_ok(tn_mail_out_mxcache_lookup(mc, (u_char *) "stuck.test", 10,
                                          1000, &got)
               == TN_DECLINED,
               "cache: readers miss a slot being written");

    tn_test_ok(tn_mail_out_mxcache_store(mc, &ans, 1005) == TN_BUSY,
               "cache: another writer does not wait for it");

    tn_test_ok(tn_mail_out_mxcache_store(mc, &ans, 1000 + 11) == TN_OK
               && tn_mail_out_mxcache_lookup(mc, (u_char *) "stuck.test", 10,
                                             1011, &got)
                  == TN_OK,
               "cache: a writer dead for 11s is overtaken");

    tn_mail_out_mxcache_unlock(slot, seq);

    tn_test_ok((__atomic_load_n(&slot->seq, __ATOMIC_SEQ_CST) & 1) == 0
               && tn_mail_out_mxcache_lookup(mc, (u_char *) "stuck.test", 10,
                                             1011, &got)
                  == TN_OK,
               "cache: the late unlock of the dead writer changes nothing");

    /* a torn or corrupted slot is a miss */

    slot->data.hosts[0].name[0] ^= 1;

    tn_test_ok(tn_mail_out_mxcache_lookup(mc, (u_char *) "stuck.test", 10,
                                          1011, &got)
               == TN_DECLINED,
               "cache: a bad checksum is a miss");

    /* clear */

    tn_test_answer(&ans, "keep.test", TN_MAIL_OUT_MXCACHE_HOSTS,
                   tn_time() + 300, 1);
    (void) tn_mail_out_mxcache_store(mc, &ans, tn_time());

    tn_test_answer(&ans, "null.test", TN_MAIL_OUT_MXCACHE_NULLMX, 1200, 0);
    (void) tn_mail_out_mxcache_store(mc, &ans, 1000);

    n = tn_mail_out_mxcache_clear(mc, (u_char *) "null.test", 9, 1000,
                                  &busy);

    tn_test_ok(n == 1 && busy == 0
               && tn_mail_out_mxcache_lookup(mc, (u_char *) "null.test", 9,
                                             1000, &got)
                  == TN_DECLINED
               && tn_mail_out_mxcache_lookup(mc, (u_char *) "keep.test", 9,
                                             1000, &got)
                  == TN_OK,
               "cache: clear one domain");

    /* the CLI */

    tn_memzero(&cycle, sizeof(tn_cycle_t));
    cycle.prefix = prefix;

    argv[0] = "mx";
    argv[1] = "list";
    argv[2] = "KEEP.test";

    rc = tn_test_cli(&cycle, 3, argv, out, sizeof(out));

    tn_test_ok(rc == 0 && strncmp(out, "keep.test expires in ", 21) == 0
               && strstr(out, "  0 mx0.keep.test 192.0.2.0\n"),
               "cli: mx list DOMAIN");

    argv[1] = "clear";
    rc = tn_test_cli(&cycle, 2, argv, out, sizeof(out));

    tn_test_ok(rc == 0 && strstr(out, " cleared\n") != NULL
               && out[0] != '0',
               "cli: mx clear");

    argv[1] = "list";
    rc = tn_test_cli(&cycle, 2, argv, out, sizeof(out));

    tn_test_ok(rc == 0 && out[0] == '\0', "cli: nothing left");

    argv[1] = "flush";
    rc = tn_test_cli(&cycle, 2, argv, out, sizeof(out));

    tn_test_ok(rc == 1, "cli: an unknown verb");

    argv[1] = "list";
    argv[2] = "bad..domain";
    rc = tn_test_cli(&cycle, 3, argv, out, sizeof(out));

    tn_test_ok(rc == 1, "cli: an invalid domain");

    tn_mail_out_mxcache_close(mc2);
    tn_mail_out_mxcache_close(mc);

    /* a file of another version is not used by the CLI, remade by us */

    snprintf(path, sizeof(path), "%s/queue/mxcache", tn_test_dir);
    (void) truncate(path, 100);

    mc = tn_mail_out_mxcache_open(&prefix, 0, (uid_t) -1, 0, tn_test_log);
    tn_test_ok(mc == NULL, "cache: a bad file is not opened");

    mc = tn_mail_out_mxcache_open(&prefix, 1, (uid_t) -1, 0, tn_test_log);
    tn_test_ok(mc != NULL, "cache: a bad file is made again");

    tn_mail_out_mxcache_close(mc);
}


/* ---- resolution in a worker ---- */

static void
tn_test_tick_handler(tn_event_t *ev)
{
    /* only wakes the loop up */
}


static void
tn_test_run(tn_uint_t *called, tn_msec_t ms)
{
    tn_msec_t  end;

    tn_time_update();
    end = tn_current_msec + ms;

    while ((called == NULL || *called == 0)
           && (tn_msec_int_t) (end - tn_current_msec) > 0)
    {
        if (!tn_test_tick.timer_set) {
            tn_event_add_timer(&tn_test_tick, 20);
        }

        tn_process_events_and_timers((tn_cycle_t *) tn_cycle);
    }
}


static void
tn_test_handler(tn_mail_out_resolve_t *rs)
{
    tn_test_called++;

    if (tn_test_in_resolve) {
        tn_test_sync++;
    }
}


/* resolves domain; rs is tn_test_rs, its pool for the caller to free */

static tn_int_t
tn_test_resolve(const char *domain, const char *sender)
{
    tn_int_t  rc;

    tn_mail_out_resolve_free(&tn_test_rs);
    tn_memzero(&tn_test_rs, sizeof(tn_mail_out_resolve_t));

    tn_test_rs.domain.data = (u_char *) domain;
    tn_test_rs.domain.len = strlen(domain);

    if (sender) {
        tn_test_rs.sender_domain.data = (u_char *) sender;
        tn_test_rs.sender_domain.len = strlen(sender);
    }

    tn_test_rs.handler = tn_test_handler;
    tn_test_rs.log = tn_test_log;

    tn_test_called = 0;
    tn_test_sync = 0;

    tn_test_in_resolve = 1;
    rc = tn_mail_out_resolve(&tn_test_rs);
    tn_test_in_resolve = 0;

    if (rc != TN_OK) {
        return rc;
    }

    tn_test_run(&tn_test_called, 5000);

    return (tn_test_called == 1 && tn_test_sync == 0) ? TN_OK : TN_ERROR;
}


static int
tn_test_target(tn_uint_t i, const char *host, const char *addr,
    in_port_t port, tn_uint_t pref)
{
    tn_mail_out_target_t  *t;

    if (i >= tn_test_rs.ntargets) {
        return 0;
    }

    t = &tn_test_rs.targets[i];

    return tn_test_str_is(&t->host, host)
           && tn_test_str_is(&t->addr.name, addr)
           && tn_inet_get_port(t->addr.sockaddr) == port
           && t->preference == pref;
}


static int
tn_test_result(tn_uint_t result, const char *status)
{
    return tn_test_rs.result == result
           && tn_test_str_is(&tn_test_rs.status, status);
}


static void
tn_test_resolve_mx(void)
{
    tn_uint_t                i, first[3], second, v6;
    tn_int_t                 rc;
    tn_mail_out_mxcache_t   *mc;
    tn_mail_out_mxanswer_t   got;

    rc = tn_test_resolve("mx.test", NULL);

    tn_test_ok(rc == TN_OK && tn_test_result(TN_MAIL_OUT_RESOLVE_OK, "2.0.0")
               && tn_test_rs.conn == NULL && tn_test_rs.ntargets == 6,
               "mx: six targets, the handler from the loop, once");

    /* a's AAAA then A, b, c in some order; then d's first two addresses */

    for (i = 0; i < tn_test_rs.ntargets; i++) {
        printf("# %s %s %u\n", tn_test_rs.targets[i].host.data,
               tn_test_rs.targets[i].addr.name.data,
               (unsigned) tn_test_rs.targets[i].preference);
    }

    tn_test_ok(tn_test_target(4, "d.mx.test", "192.0.2.4", 25, 20)
               && tn_test_target(5, "d.mx.test", "192.0.2.5", 25, 20),
               "mx: the preference 20 host last, two of its addresses");

    for (i = 0, v6 = 0; i < 4; i++) {
        if (tn_test_target(i, "a.mx.test", "2001:db8::1", 25, 10)) {
            v6 = tn_test_target(i + 1, "a.mx.test", "192.0.2.1", 25, 10);
        }
    }

    tn_test_ok(v6, "mx: AAAA first, then A, same host");

    mc = tn_mail_out_mxcache_get((tn_cycle_t *) tn_cycle);

    tn_test_ok(mc
               && tn_mail_out_mxcache_lookup(mc, (u_char *) "mx.test", 7,
                                             tn_time(), &got)
                  == TN_OK
               && got.nhosts == 4
               && memcmp(got.hosts[0].name, "a.mx.test", 9) == 0
               && memcmp(got.hosts[3].name, "d.mx.test", 9) == 0
               && got.expire > tn_time() + 190
               && got.expire <= tn_time() + 200,
               "mx: cached unshuffled, for the smallest TTL");

    /* from the cache: the three of preference 10 come first each in turn */

    first[0] = first[1] = first[2] = 0;
    second = 1;

    for (i = 0; i < 60; i++) {
        if (tn_test_resolve("mx.test", NULL) != TN_OK
            || tn_test_rs.ntargets != 6)
        {
            second = 0;
            break;
        }

        switch (tn_test_rs.targets[0].host.data[0]) {
        case 'a':
            first[0]++;
            break;
        case 'b':
            first[1]++;
            break;
        case 'c':
            first[2]++;
            break;
        default:
            second = 0;
        }

        if (tn_test_rs.targets[5].host.data[0] != 'd') {
            second = 0;
        }
    }

    tn_test_ok(second && first[0] && first[1] && first[2],
               "mx: equal preferences shuffled on every use of the cache");

    tn_test_ocf->ipv6 = 0;

    rc = tn_test_resolve("mx.test", NULL);

    for (i = 0, v6 = 0; i < tn_test_rs.ntargets; i++) {
        if (tn_test_rs.targets[i].addr.sockaddr->sa_family == AF_INET6) {
            v6++;
        }
    }

    tn_test_ok(rc == TN_OK && tn_test_rs.ntargets == 5 && v6 == 0,
               "mx: ipv6 off: no AAAA target");

    tn_test_ocf->ipv6 = 1;

    rc = tn_test_resolve("MX.Test.", NULL);
    tn_test_ok(rc == TN_OK && tn_test_rs.ntargets == 6,
               "mx: case and a final dot");

    tn_test_ocf->mx_port = 2525;
    rc = tn_test_resolve("nomx.test", NULL);
    tn_test_ocf->mx_port = 0;

    tn_test_ok(rc == TN_OK
               && tn_test_target(0, "nomx.test", "192.0.2.50", 2525, 0),
               "mx: mx_port");

    rc = tn_test_resolve("nx.test", NULL);
    tn_test_ok(rc == TN_OK && tn_test_result(TN_MAIL_OUT_RESOLVE_FAIL, "5.1.2")
               && tn_test_rs.ntargets == 0
               && tn_test_rs.error.len
               && strstr((char *) tn_test_rs.error.data,
                         "Host or domain name not found"),
               "mx: NXDOMAIN: 5.1.2");

    tn_test_ok(tn_mail_out_mxcache_lookup(mc, (u_char *) "nx.test", 7,
                                          tn_time(), &got)
               == TN_OK
               && got.state == TN_MAIL_OUT_MXCACHE_NXDOMAIN,
               "mx: NXDOMAIN cached");

    rc = tn_test_resolve("null.test", NULL);
    tn_test_ok(rc == TN_OK
               && tn_test_result(TN_MAIL_OUT_RESOLVE_FAIL, "5.1.10"),
               "mx: null MX: 5.1.10");

    tn_test_ok(tn_mail_out_mxcache_lookup(mc, (u_char *) "null.test", 9,
                                          tn_time(), &got)
               == TN_OK
               && got.state == TN_MAIL_OUT_MXCACHE_NULLMX
               && got.expire > tn_time() + 590,
               "mx: null MX cached for its TTL");

    rc = tn_test_resolve("null.test", NULL);
    tn_test_ok(rc == TN_OK
               && tn_test_result(TN_MAIL_OUT_RESOLVE_FAIL, "5.1.10"),
               "mx: null MX from the cache");

    rc = tn_test_resolve("nullpref.test", NULL);
    tn_test_ok(rc == TN_OK
               && tn_test_result(TN_MAIL_OUT_RESOLVE_DEFER, "4.4.3"),
               "mx: \"10 .\" is no null MX and no host");

    rc = tn_test_resolve("nomx.test", NULL);
    tn_test_ok(rc == TN_OK && tn_test_result(TN_MAIL_OUT_RESOLVE_OK, "2.0.0")
               && tn_test_rs.ntargets == 1
               && tn_test_target(0, "nomx.test", "192.0.2.50", 25, 0),
               "mx: no MX: the domain's own address");

    tn_test_ok(tn_mail_out_mxcache_lookup(mc, (u_char *) "nomx.test", 9,
                                          tn_time(), &got)
               == TN_OK
               && (got.flags & TN_MAIL_OUT_MXCACHE_IMPLICIT),
               "mx: no MX: cached as such");

    rc = tn_test_resolve("none.test", NULL);
    tn_test_ok(rc == TN_OK
               && tn_test_result(TN_MAIL_OUT_RESOLVE_FAIL, "5.4.4"),
               "mx: no MX and no address: 5.4.4");

    rc = tn_test_resolve("servfail.test", NULL);
    tn_test_ok(rc == TN_OK
               && tn_test_result(TN_MAIL_OUT_RESOLVE_DEFER, "4.4.3")
               && tn_mail_out_mxcache_lookup(mc, (u_char *) "servfail.test",
                                             13, tn_time(), &got)
                  == TN_DECLINED,
               "mx: SERVFAIL: 4.4.3, not cached");

    tn_test_log_clear();

    rc = tn_test_resolve("lit.test", NULL);
    tn_test_ok(rc == TN_OK && tn_test_rs.ntargets == 1
               && tn_test_target(0, "ok.lit.test", "192.0.2.10", 25, 20)
               && tn_test_log_has("MX host \"192.0.2.9\" of \"lit.test\" is "
                                  "an address"),
               "mx: an address as MX host is skipped, logged");

    rc = tn_test_resolve("cname.test", NULL);
    tn_test_ok(rc == TN_OK && tn_test_rs.ntargets == 1
               && tn_test_target(0, "alias.cname.test", "192.0.2.20", 25, 10),
               "mx: an MX host that is a CNAME");

    rc = tn_test_resolve("badmx.test", NULL);
    tn_test_ok(rc == TN_OK
               && tn_test_result(TN_MAIL_OUT_RESOLVE_DEFER, "4.4.3"),
               "mx: no MX host resolves: 4.4.3");

    rc = tn_test_resolve("partial.test", NULL);
    tn_test_ok(rc == TN_OK && tn_test_rs.ntargets == 1
               && tn_test_target(0, "ok.partial.test", "192.0.2.30", 25, 20)
               && tn_mail_out_mxcache_lookup(mc, (u_char *) "partial.test",
                                             12, tn_time(), &got)
                  == TN_OK
               && got.expire <= tn_time() + TN_MAIL_OUT_MXCACHE_PARTIAL_TTL,
               "mx: a host failing for now is skipped, briefly cached");

    rc = tn_test_resolve("many.test", NULL);
    tn_test_ok(rc == TN_OK && tn_test_rs.ntargets == 10
               && tn_test_target(0, "h0.many.test", "10.0.0.0", 25, 0)
               && tn_test_target(9, "h9.many.test", "10.0.0.9", 25, 9),
               "mx: at most ten MX hosts, the best ones");

    /* an entry only the cache knows */

    tn_test_answer(&got, "cached.test", TN_MAIL_OUT_MXCACHE_HOSTS,
                   tn_time() + 100, 1);
    (void) tn_mail_out_mxcache_store(mc, &got, tn_time());

    rc = tn_test_resolve("cached.test", NULL);
    tn_test_ok(rc == TN_OK && tn_test_rs.ntargets == 2
               && tn_test_target(0, "mx0.cached.test", "192.0.2.0", 25, 0)
               && tn_test_target(1, "mx0.cached.test", "2001:db8::5", 25, 0),
               "mx: the cache is asked first");

    (void) tn_mail_out_mxcache_clear(mc, (u_char *) "cached.test", 11,
                                     tn_time(), &i);

    rc = tn_test_resolve("cached.test", NULL);
    tn_test_ok(rc == TN_OK
               && tn_test_result(TN_MAIL_OUT_RESOLVE_FAIL, "5.1.2"),
               "mx: cleared: asked again");

    rc = tn_test_resolve("bad..name", NULL);
    tn_test_ok(rc == TN_OK
               && tn_test_result(TN_MAIL_OUT_RESOLVE_FAIL, "5.1.2"),
               "mx: an invalid domain");
}


static void
tn_test_resolve_conns(void)
{
    tn_int_t  rc;

    if (tn_test_parse(
            "outbound {\n"
            "    connection relay {\n"
            "        host relay.test; port 2525; tls require;\n"
            "        auth user secret; backup fallback;\n"
            "    }\n"
            "    connection fallback { host 192.0.2.101; tls implicit; }\n"
            "    connection gone { host nx.test; backup fallback; }\n"
            "    connection nothing { host nx.test; }\n"
            "    route sender_domain sender.test relay;\n"
            "    route recipient_domain rcpt.test gone;\n"
            "    route recipient_domain lost.test nothing;\n"
            "    route recipient_domain mx.test direct;\n"
            "    route default fallback;\n"
            "}\n")
        != NULL)
    {
        tn_test_ok(0, "conn: configuration");
        return;
    }

    tn_test_ocf = &tn_test_conf_parsed;

    rc = tn_test_resolve("any.test", "Sender.Test");

    tn_test_ok(rc == TN_OK && tn_test_result(TN_MAIL_OUT_RESOLVE_OK, "2.0.0")
               && tn_test_rs.conn
               && tn_test_str_is(&tn_test_rs.conn->name, "relay")
               && tn_test_rs.ntargets == 3
               && tn_test_target(0, "relay.test", "2001:db8::100", 2525, 0)
               && tn_test_target(1, "relay.test", "192.0.2.100", 2525, 0)
               && tn_test_target(2, "192.0.2.101", "192.0.2.101", 465, 0)
               && tn_test_rs.targets[0].conn == tn_test_rs.conn
               && tn_test_rs.targets[2].conn
               && tn_test_str_is(&tn_test_rs.targets[2].conn->name,
                                 "fallback"),
               "conn: the sender's route, then the backup's targets");

    rc = tn_test_resolve("rcpt.test", NULL);

    tn_test_ok(rc == TN_OK && tn_test_result(TN_MAIL_OUT_RESOLVE_OK, "2.0.0")
               && tn_test_str_is(&tn_test_rs.conn->name, "gone")
               && tn_test_rs.ntargets == 1
               && tn_test_target(0, "192.0.2.101", "192.0.2.101", 465, 0),
               "conn: a host that does not resolve: its backup");

    rc = tn_test_resolve("lost.test", NULL);

    tn_test_ok(rc == TN_OK
               && tn_test_result(TN_MAIL_OUT_RESOLVE_DEFER, "4.4.3")
               && tn_test_rs.ntargets == 0,
               "conn: no address at all: 4.4.3");

    rc = tn_test_resolve("mx.test", "sender2.test");

    tn_test_ok(rc == TN_OK && tn_test_rs.conn == NULL
               && tn_test_rs.ntargets == 6,
               "conn: a \"direct\" route: MX");

    rc = tn_test_resolve("other.test", NULL);

    tn_test_ok(rc == TN_OK && tn_test_rs.conn
               && tn_test_str_is(&tn_test_rs.conn->name, "fallback")
               && tn_test_rs.ntargets == 1,
               "conn: the default route");
}


static void
tn_test_cancel(void)
{
    tn_uint_t  n;

    /* canceled with its lookups in flight */

    tn_mail_out_resolve_free(&tn_test_rs);
    tn_memzero(&tn_test_rs, sizeof(tn_mail_out_resolve_t));
    tn_str_set(&tn_test_rs.domain, "many.test");
    tn_test_rs.handler = tn_test_handler;
    tn_test_rs.log = tn_test_log;
    tn_test_called = 0;

    /* not cached: the cache is emptied first */
    (void) tn_mail_out_mxcache_clear(tn_mail_out_mxcache_get(
                                         (tn_cycle_t *) tn_cycle),
                                     NULL, 0, tn_time(), &n);

    tn_test_ok(tn_mail_out_resolve(&tn_test_rs) == TN_OK,
               "cancel: started");

    tn_mail_out_resolve_free(&tn_test_rs);
    tn_mail_out_resolve_free(&tn_test_rs);

    tn_test_run(NULL, 300);

    tn_test_ok(tn_test_called == 0 && tn_test_rs.pool == NULL,
               "cancel: in flight, no handler call");

    /* canceled with the handler posted (a cache hit) */

    tn_test_ok(tn_test_resolve("mx.test", NULL) == TN_OK,
               "cancel: mx.test cached");

    tn_mail_out_resolve_free(&tn_test_rs);

    tn_memzero(&tn_test_rs, sizeof(tn_mail_out_resolve_t));
    tn_str_set(&tn_test_rs.domain, "mx.test");
    tn_test_rs.handler = tn_test_handler;
    tn_test_rs.log = tn_test_log;
    tn_test_called = 0;

    (void) tn_mail_out_resolve(&tn_test_rs);
    tn_mail_out_resolve_free(&tn_test_rs);

    tn_test_run(NULL, 100);

    tn_test_ok(tn_test_called == 0, "cancel: posted, no handler call");

    /* the handler frees, as callers do */

    tn_test_ok(tn_test_resolve("nomx.test", NULL) == TN_OK
               && tn_test_rs.pool != NULL,
               "cancel: the pool is the caller's until freed");

    tn_mail_out_resolve_free(&tn_test_rs);
}


static void
tn_test_worker(void)
{
    char         text[512];
    tn_uint_t    i;
    tn_cycle_t  *cycle;
    FILE        *f;
    char         conf[PATH_MAX];

    snprintf(conf, sizeof(conf), "%s/tern.conf", tn_test_dir);
    snprintf(text, sizeof(text),
             "events { worker_connections 64; }\n"
             "resolver 127.0.0.1:%u;\n"
             "resolver_timeout 2s;\n", (unsigned) tn_test_dns.port);

    f = fopen(conf, "w");
    if (f == NULL) {
        tn_test_ok(0, "worker: configuration file");
        return;
    }

    fputs(text, f);
    fclose(f);

    tn_memzero(&tn_test_init_cycle, sizeof(tn_cycle_t));
    tn_test_init_cycle.log = tn_test_log;
    tn_test_init_cycle.pool = tn_create_pool(1024, tn_test_log);
    tn_test_init_cycle.prefix.data = (u_char *) tn_test_dir;
    tn_test_init_cycle.prefix.len = strlen(tn_test_dir);
    tn_test_init_cycle.conf_prefix = tn_test_init_cycle.prefix;
    tn_test_init_cycle.conf_file.data = (u_char *) conf;
    tn_test_init_cycle.conf_file.len = strlen(conf);
    tn_cycle = &tn_test_init_cycle;

    tn_test_config = 1;
    tn_quiet_mode = 1;

    cycle = tn_init_cycle(&tn_test_init_cycle);

    tn_test_ok(cycle != NULL, "worker: configuration");

    if (cycle == NULL) {
        return;
    }

    tn_test_config = 0;
    tn_cycle = cycle;
    tn_process = TN_PROCESS_WORKER;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i] == &tn_event_core_module
            || cycle->modules[i] == &tn_resolver_module)
        {
            if (cycle->modules[i]->init_process(cycle) != TN_OK) {
                tn_test_ok(0, "worker: init_process");
                return;
            }
        }
    }

    tn_test_tick.handler = tn_test_tick_handler;
    tn_test_tick.log = tn_test_log;
    tn_test_tick.data = &tn_test_tick;

    /* the master's cache file, made as tn_mail_out_mxcache_init() does */

    tn_test_ok(tn_mail_out_mxcache_get(cycle) != NULL, "worker: the cache");

    tn_test_ocf = &tn_test_conf_parsed;
    (void) tn_test_parse("outbound { }\n");

    tn_test_resolve_mx();
    tn_test_resolve_conns();
    tn_test_cancel();

    tn_mail_out_resolve_free(&tn_test_rs);

    tn_test_run(NULL, 100);

    if (tn_test_tick.timer_set) {
        tn_event_del_timer(&tn_test_tick);
    }

    tn_resolver_module.exit_process(cycle);
    tn_mail_out_mxcache_close(tn_mail_out_mxcache_get(cycle));

    tn_test_ok(!tn_test_log_has("[alert]") && !tn_test_log_has("[emerg]"),
               "no alerts in the log");
}


int
main(void)
{
    char  path[PATH_MAX];

    tn_time_init();

    tn_pid = tn_getpid();

    if (mkdtemp(tn_test_dir) == NULL) {
        printf("1..0 # SKIP mkdtemp failed\n");
        return 0;
    }

    snprintf(path, sizeof(path), "%s/queue", tn_test_dir);

    if (mkdir(path, 0700) == -1) {
        printf("1..0 # SKIP mkdir failed\n");
        return 0;
    }

    snprintf(tn_test_log_name, sizeof(tn_test_log_name), "%s/error.log",
             tn_test_dir);

    tn_test_log = tn_log_init(NULL, (u_char *) tn_test_log_name);
    if (tn_test_log == NULL || tn_os_init(tn_test_log) != TN_OK) {
        printf("1..0 # SKIP no log\n");
        return 0;
    }

    tn_test_log->log_level = TN_LOG_INFO;

    if (getenv("TERN_TEST_DEBUG")) {
        tn_test_log->log_level = TN_LOG_DEBUG|TN_LOG_DEBUG_DNS
                                 |TN_LOG_DEBUG_MAIL|TN_LOG_DEBUG_EVENT;
    }

    tn_test_conf();
    tn_test_precedence();
    tn_test_order();
    tn_test_cache();

    if (tn_preinit_modules() != TN_OK || tn_test_dns_start() != 0) {
        tn_test_ok(0, "modules and the DNS server");

    } else {
        tn_test_worker();
        tn_test_dns_stop();
    }

    if (tn_test_conf_pool) {
        tn_destroy_pool(tn_test_conf_pool);
    }

    printf("1..%d\n", (int) tn_test_n);

    if (tn_test_failed == 0) {
        snprintf(path, sizeof(path), "rm -rf '%s'", tn_test_dir);
        (void) system(path);

    } else {
        printf("# the log: %s\n", tn_test_log_name);
    }

    return tn_test_failed ? 1 : 0;
}
