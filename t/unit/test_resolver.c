
/*
 * Copyright (C) The Tern developers
 */


/*
 * The resolver against a small DNS server run in a thread of this test
 * (UDP and TCP on 127.0.0.1, an ephemeral port): the "resolver" and
 * "resolver_timeout" directives through the real configuration parser,
 * then lookups through the real epoll loop of a worker: every type, the
 * cache (a second lookup sends no packet), NXDOMAIN, NODATA, SERVFAIL,
 * the timeout, truncation to TCP, the record cap, cancellation and many
 * lookups at once.
 *
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>

#include <poll.h>


#define TN_TEST_TTL          300
#define TN_TEST_MAX_CLIENTS  8
#define TN_TEST_MAX_KEYS     128
#define TN_TEST_CONCURRENT   20


typedef struct {
    char                 key[300];
    tn_uint_t            n;
} tn_test_count_t;


typedef struct {
    int                  udp;
    int                  tcp;
    int                  stop[2];
    int                  clients[TN_TEST_MAX_CLIENTS];
    in_port_t            port;
    pthread_t            thread;
    pthread_mutex_t      mutex;
    tn_test_count_t      counts[TN_TEST_MAX_KEYS];
} tn_test_dns_t;


typedef struct {
    tn_uint_t            called;
    tn_uint_t            sync;        /* called inside tn_resolve_name() */
} tn_test_result_t;


static tn_uint_t         tn_test_n;
static tn_uint_t         tn_test_failed;

static tn_test_dns_t     tn_test_dns;
/* a static: tn_cycle points at it while a configuration is read */
static tn_cycle_t        tn_test_init_cycle;
static char              tn_test_dir[] = "/tmp/tn-test-resolver.XXXXXX";
static char              tn_test_log_name[PATH_MAX];
static tn_log_t         *tn_test_log;
static tn_event_t        tn_test_tick;
static tn_uint_t         tn_test_in_resolve;


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


/* the DNS server */

static tn_uint_t
tn_test_dns_count(const char *key, tn_uint_t add)
{
    tn_uint_t         i, n;
    tn_test_count_t  *c;

    pthread_mutex_lock(&tn_test_dns.mutex);

    n = 0;

    for (i = 0; i < TN_TEST_MAX_KEYS; i++) {
        c = &tn_test_dns.counts[i];

        if (c->key[0] == '\0' && add) {
            snprintf(c->key, sizeof(c->key), "%s", key);
        }

        if (strcmp(c->key, key) == 0) {
            c->n += add;
            n = c->n;
            break;
        }
    }

    pthread_mutex_unlock(&tn_test_dns.mutex);

    return n;
}


static u_char *
tn_test_dns_name(u_char *p, const char *name)
{
    const char  *dot;
    size_t       len;

    while (*name) {
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


/* an answer record named by a pointer to the question */

static u_char *
tn_test_dns_rr(u_char *p, unsigned type, uint32_t ttl, u_char *rdata,
    size_t len)
{
    *p++ = 0xc0;
    *p++ = 12;
    *p++ = (u_char) (type >> 8);
    *p++ = (u_char) type;
    *p++ = 0;
    *p++ = 1;
    *p++ = (u_char) (ttl >> 24);
    *p++ = (u_char) (ttl >> 16);
    *p++ = (u_char) (ttl >> 8);
    *p++ = (u_char) ttl;
    *p++ = (u_char) (len >> 8);
    *p++ = (u_char) len;

    memcpy(p, rdata, len);

    return p + len;
}


static u_char *
tn_test_dns_txt(u_char *p, const char *s, size_t len)
{
    *p++ = (u_char) len;
    memcpy(p, s, len);

    return p + len;
}


static u_char *
tn_test_dns_a(u_char *p, uint32_t ttl, unsigned a, unsigned b, unsigned c,
    unsigned d)
{
    u_char  rd[4];

    rd[0] = (u_char) a;
    rd[1] = (u_char) b;
    rd[2] = (u_char) c;
    rd[3] = (u_char) d;

    return tn_test_dns_rr(p, TN_RESOLVE_A, ttl, rd, 4);
}


/*
 * The zone.  Returns the answer's length, or 0 for no answer at all.
 * Answers too big for UDP are only truncated there (TC, no records).
 */

static size_t
tn_test_dns_reply(u_char *q, size_t n, u_char *r, int tcp)
{
    u_char    *p, *a, *rd, *last;
    char       name[256], key[300];
    size_t     len, nlen;
    unsigned   type, ancount, rcode, i, x;
    u_char     rdata[2048];

    static const char  *ptr6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
                               ".0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";

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

    snprintf(key, sizeof(key), "%u %s", type, name);
    tn_test_dns_count(key, 1);

    if (strcmp(name, "timeout.test") == 0) {
        return 0;
    }

    /* the header and the question; no EDNS in the answer */

    memcpy(r, q, p - q);
    r[2] = 0x80 | (q[2] & 0x01);
    r[3] = 0x80;
    r[4] = 0;
    r[5] = 1;
    memset(r + 6, 0, 6);

    a = r + (p - q);
    ancount = 0;
    rcode = 0;

    if (strcmp(name, "a.test") == 0) {

        if (type == TN_RESOLVE_A) {
            a = tn_test_dns_a(a, TN_TEST_TTL, 192, 0, 2, 1);
            a = tn_test_dns_a(a, 600, 192, 0, 2, 2);
            ancount = 2;

        } else if (type == TN_RESOLVE_AAAA) {
            memset(rdata, 0, 16);
            rdata[0] = 0x20;
            rdata[1] = 0x01;
            rdata[2] = 0x0d;
            rdata[3] = 0xb8;
            rdata[15] = 1;
            a = tn_test_dns_rr(a, TN_RESOLVE_AAAA, TN_TEST_TTL, rdata, 16);
            ancount = 1;
        }

    } else if (strcmp(name, "a2.test") == 0 && type == TN_RESOLVE_A) {
        a = tn_test_dns_a(a, TN_TEST_TTL, 192, 0, 2, 3);
        ancount = 1;

    } else if (strcmp(name, "ttl0.test") == 0 && type == TN_RESOLVE_A) {
        a = tn_test_dns_a(a, 0, 192, 0, 2, 9);
        ancount = 1;

    } else if (strcmp(name, "mx.test") == 0 && type == TN_RESOLVE_MX) {
        rdata[0] = 0;
        rdata[1] = 20;
        rd = tn_test_dns_name(rdata + 2, "mx2.test");
        a = tn_test_dns_rr(a, TN_RESOLVE_MX, TN_TEST_TTL, rdata, rd - rdata);

        rdata[1] = 10;
        rd = tn_test_dns_name(rdata + 2, "mx1.test");
        a = tn_test_dns_rr(a, TN_RESOLVE_MX, 120, rdata, rd - rdata);
        ancount = 2;

    } else if (strcmp(name, "txt.test") == 0 && type == TN_RESOLVE_TXT) {
        rd = tn_test_dns_txt(rdata, "v=spf1 ", 7);
        rd = tn_test_dns_txt(rd, "-all", 4);
        a = tn_test_dns_rr(a, TN_RESOLVE_TXT, TN_TEST_TTL, rdata, rd - rdata);

        rd = tn_test_dns_txt(rdata, "hello", 5);
        a = tn_test_dns_rr(a, TN_RESOLVE_TXT, TN_TEST_TTL, rdata, rd - rdata);
        ancount = 2;

    } else if (strcmp(name, "1.2.0.192.in-addr.arpa") == 0
               && type == TN_RESOLVE_PTR)
    {
        rd = tn_test_dns_name(rdata, "host.test");
        a = tn_test_dns_rr(a, TN_RESOLVE_PTR, TN_TEST_TTL, rdata, rd - rdata);
        ancount = 1;

    } else if (strcmp(name, ptr6) == 0 && type == TN_RESOLVE_PTR) {
        rd = tn_test_dns_name(rdata, "host6.test");
        a = tn_test_dns_rr(a, TN_RESOLVE_PTR, TN_TEST_TTL, rdata, rd - rdata);
        ancount = 1;

    } else if (strcmp(name, "nodata.test") == 0) {
        /* NOERROR without records */

    } else if (strcmp(name, "servfail.test") == 0) {
        rcode = 2;

    } else if (strcmp(name, "big.test") == 0 && type == TN_RESOLVE_TXT) {

        if (!tcp) {
            r[2] |= 0x02;

        } else {
            /* 2000 bytes in 8 strings, "short", 300 bytes in 2 strings */

            memset(rdata, 'x', sizeof(rdata));
            rd = rdata;
            for (i = 0; i < 8; i++) {
                *rd = 250;
                rd += 251;
            }
            a = tn_test_dns_rr(a, TN_RESOLVE_TXT, TN_TEST_TTL, rdata,
                               rd - rdata);

            rd = tn_test_dns_txt(rdata, "short", 5);
            a = tn_test_dns_rr(a, TN_RESOLVE_TXT, TN_TEST_TTL, rdata,
                               rd - rdata);

            memset(rdata, 'y', sizeof(rdata));
            rdata[0] = 150;
            rdata[151] = 150;
            a = tn_test_dns_rr(a, TN_RESOLVE_TXT, TN_TEST_TTL, rdata, 302);
            ancount = 3;
        }

    } else if (strcmp(name, "many.test") == 0 && type == TN_RESOLVE_A) {

        if (!tcp) {
            r[2] |= 0x02;

        } else {
            for (i = 0; i < 100; i++) {
                a = tn_test_dns_a(a, TN_TEST_TTL, 10, 1, 0, i);
            }
            ancount = 100;
        }

    } else if (sscanf(name, "n%u.test", &x) == 1 && x < 256
               && type == TN_RESOLVE_A)
    {
        a = tn_test_dns_a(a, TN_TEST_TTL, 10, 0, 0, x);
        ancount = 1;

    } else if (strcmp(name, "nx.test") == 0
               || strcmp(name, "a.test") != 0)
    {
        rcode = 3;
    }

    r[3] |= (u_char) rcode;
    r[6] = (u_char) (ancount >> 8);
    r[7] = (u_char) ancount;

    return a - r;
}


static void
tn_test_dns_tcp_client(int i)
{
    int      fd;
    ssize_t  n;
    size_t   len, got;
    u_char   q[2048], r[16384];

    fd = tn_test_dns.clients[i];

    n = read(fd, q, 2);

    if (n == 2) {
        len = (q[0] << 8) | q[1];

        for (got = 0; got < len && len <= sizeof(q); got += n) {
            n = read(fd, q + got, len - got);
            if (n <= 0) {
                break;
            }
        }

        if (got == len && len <= sizeof(q)) {
            len = tn_test_dns_reply(q, len, r + 2, 1);

            if (len) {
                r[0] = (u_char) (len >> 8);
                r[1] = (u_char) len;

                if (write(fd, r, len + 2) == (ssize_t) (len + 2)) {
                    return;
                }
            }
        }
    }

    close(fd);
    tn_test_dns.clients[i] = -1;
}


static void *
tn_test_dns_thread(void *data)
{
    int                 i, k, fd, nfds;
    ssize_t             n;
    size_t              len;
    socklen_t           slen;
    struct pollfd       fds[3 + TN_TEST_MAX_CLIENTS];
    struct sockaddr_in  sin;
    u_char              q[2048], r[2048];

    for ( ;; ) {
        fds[0].fd = tn_test_dns.stop[0];
        fds[1].fd = tn_test_dns.udp;
        fds[2].fd = tn_test_dns.tcp;
        nfds = 3;

        for (i = 0; i < TN_TEST_MAX_CLIENTS; i++) {
            if (tn_test_dns.clients[i] != -1) {
                fds[nfds++].fd = tn_test_dns.clients[i];
            }
        }

        for (i = 0; i < nfds; i++) {
            fds[i].events = POLLIN;
            fds[i].revents = 0;
        }

        if (poll(fds, nfds, -1) == -1) {
            continue;
        }

        if (fds[0].revents) {
            break;
        }

        if (fds[1].revents & POLLIN) {
            slen = sizeof(sin);
            n = recvfrom(tn_test_dns.udp, q, sizeof(q), 0,
                         (struct sockaddr *) &sin, &slen);

            if (n > 0) {
                len = tn_test_dns_reply(q, n, r, 0);

                if (len) {
                    (void) sendto(tn_test_dns.udp, r, len, 0,
                                  (struct sockaddr *) &sin, slen);
                }
            }
        }

        if (fds[2].revents & POLLIN) {
            fd = accept(tn_test_dns.tcp, NULL, NULL);

            for (i = 0; fd != -1 && i < TN_TEST_MAX_CLIENTS; i++) {
                if (tn_test_dns.clients[i] == -1) {
                    tn_test_dns.clients[i] = fd;
                    fd = -1;
                }
            }

            if (fd != -1) {
                close(fd);
            }
        }

        for (k = 3; k < nfds; k++) {
            if (fds[k].revents == 0) {
                continue;
            }

            for (i = 0; i < TN_TEST_MAX_CLIENTS; i++) {
                if (tn_test_dns.clients[i] == fds[k].fd) {
                    tn_test_dns_tcp_client(i);
                    break;
                }
            }
        }
    }

    return NULL;
}


static int
tn_test_dns_start(void)
{
    int                 i, one;
    socklen_t           slen;
    struct sockaddr_in  sin;

    pthread_mutex_init(&tn_test_dns.mutex, NULL);

    for (i = 0; i < TN_TEST_MAX_CLIENTS; i++) {
        tn_test_dns.clients[i] = -1;
    }

    /* an ephemeral UDP port, then TCP on the same number */

    for (i = 0; i < 20; i++) {
        tn_test_dns.udp = socket(AF_INET, SOCK_DGRAM, 0);
        tn_test_dns.tcp = socket(AF_INET, SOCK_STREAM, 0);

        if (tn_test_dns.udp == -1 || tn_test_dns.tcp == -1) {
            return -1;
        }

        one = 1;
        (void) setsockopt(tn_test_dns.tcp, SOL_SOCKET, SO_REUSEADDR, &one,
                          sizeof(int));

        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

        slen = sizeof(sin);

        if (bind(tn_test_dns.udp, (struct sockaddr *) &sin, sizeof(sin))
            == 0
            && getsockname(tn_test_dns.udp, (struct sockaddr *) &sin, &slen)
               == 0
            && bind(tn_test_dns.tcp, (struct sockaddr *) &sin, sizeof(sin))
               == 0
            && listen(tn_test_dns.tcp, 16) == 0)
        {
            tn_test_dns.port = ntohs(sin.sin_port);
            break;
        }

        close(tn_test_dns.udp);
        close(tn_test_dns.tcp);
        tn_test_dns.port = 0;
    }

    if (tn_test_dns.port == 0 || pipe(tn_test_dns.stop) == -1) {
        return -1;
    }

    return pthread_create(&tn_test_dns.thread, NULL, tn_test_dns_thread,
                          NULL);
}


static void
tn_test_dns_stop(void)
{
    int  i;

    (void) write(tn_test_dns.stop[1], "x", 1);
    pthread_join(tn_test_dns.thread, NULL);

    close(tn_test_dns.udp);
    close(tn_test_dns.tcp);
    close(tn_test_dns.stop[0]);
    close(tn_test_dns.stop[1]);

    for (i = 0; i < TN_TEST_MAX_CLIENTS; i++) {
        if (tn_test_dns.clients[i] != -1) {
            close(tn_test_dns.clients[i]);
        }
    }

    pthread_mutex_destroy(&tn_test_dns.mutex);
}


/* the configuration */

static tn_cycle_t *
tn_test_cycle(const char *text, tn_cycle_t *init_cycle)
{
    FILE  *f;
    char   conf[PATH_MAX];

    snprintf(conf, sizeof(conf), "%s/tern.conf", tn_test_dir);

    f = fopen(conf, "w");
    if (f == NULL) {
        return NULL;
    }

    fputs(text, f);
    fclose(f);

    tn_memzero(init_cycle, sizeof(tn_cycle_t));
    init_cycle->log = tn_test_log;
    tn_cycle = init_cycle;

    init_cycle->pool = tn_create_pool(1024, tn_test_log);
    if (init_cycle->pool == NULL) {
        return NULL;
    }

    init_cycle->prefix.data = (u_char *) tn_test_dir;
    init_cycle->prefix.len = strlen(tn_test_dir);
    init_cycle->conf_prefix = init_cycle->prefix;
    init_cycle->conf_file.data = tn_pnalloc(init_cycle->pool,
                                            strlen(conf) + 1);
    if (init_cycle->conf_file.data == NULL) {
        return NULL;
    }
    init_cycle->conf_file.len = strlen(conf);
    tn_memcpy(init_cycle->conf_file.data, conf, strlen(conf) + 1);

    /* parsed and checked, nothing opened */
    tn_test_config = 1;
    tn_quiet_mode = 1;

    return tn_init_cycle(init_cycle);
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


static void
tn_test_conf_error(const char *text, const char *error, const char *name)
{
    tn_cycle_t  *cycle;

    if (truncate(tn_test_log_name, 0) == -1) {
        tn_test_ok(0, "truncate log");
    }

    cycle = tn_test_cycle(text, &tn_test_init_cycle);

    tn_test_ok(cycle == NULL && tn_test_log_has(error), name);

    if (cycle) {
        tn_destroy_pool(cycle->pool);
    }

    tn_destroy_pool(tn_test_init_cycle.pool);
}


static void
tn_test_conf_good(const char *text, const char *name)
{
    tn_cycle_t  *cycle;

    cycle = tn_test_cycle(text, &tn_test_init_cycle);

    tn_test_ok(cycle != NULL, name);

    if (cycle) {
        tn_destroy_pool(cycle->pool);
    }

    tn_destroy_pool(tn_test_init_cycle.pool);
}


static void
tn_test_conf(void)
{
    tn_test_conf_good("events { worker_connections 16; }\n"
                      "resolver 127.0.0.1:5353 [::1]:53 10.0.0.1 ::2;\n"
                      "resolver_timeout 2500ms;\n",
                      "conf: four addresses of each form");

    tn_test_conf_good("events { worker_connections 16; }\n",
                      "conf: no resolver");

    tn_test_conf_error("events {}\nresolver 127.0.0.1:0;\n",
                       "invalid address \"127.0.0.1:0\" in \"resolver\"",
                       "conf: port 0");
    tn_test_conf_error("events {}\nresolver 127.0.0.1:65536;\n",
                       "in \"resolver\" directive", "conf: port 65536");
    tn_test_conf_error("events {}\nresolver 1.2.3;\n",
                       "in \"resolver\" directive", "conf: short IPv4");
    tn_test_conf_error("events {}\nresolver ns.example.com;\n",
                       "in \"resolver\" directive", "conf: a host name");
    tn_test_conf_error("events {}\nresolver [::1;\n",
                       "in \"resolver\" directive", "conf: unclosed [");
    tn_test_conf_error("events {}\nresolver [::1]x;\n",
                       "in \"resolver\" directive", "conf: junk after ]");
    tn_test_conf_error("events {}\nresolver 127.0.0.1:;\n",
                       "in \"resolver\" directive", "conf: empty port");
    tn_test_conf_error("events {}\nresolver 127.0.0.1;\n"
                       "resolver 127.0.0.2;\n",
                       "is duplicate", "conf: duplicate");
    tn_test_conf_error("events {}\nresolver;\n",
                       "resolver", "conf: no address");
    tn_test_conf_error("events {}\nresolver_timeout 0;\n",
                       "resolver_timeout", "conf: timeout 0");
    tn_test_conf_error("events {}\nresolver_timeout 1x;\n",
                       "resolver_timeout", "conf: timeout syntax");
}


/* lookups */

static void
tn_test_tick_handler(tn_event_t *ev)
{
    /* only wakes the loop up */
}


static void
tn_test_handler(tn_resolver_ctx_t *ctx)
{
    tn_test_result_t  *res = ctx->data;

    res->called++;

    if (tn_test_in_resolve) {
        res->sync++;
    }
}


/* the usual shape: release the context in the handler, chain the next */

static tn_test_result_t  tn_test_chained;

static void
tn_test_chain_handler(tn_resolver_ctx_t *ctx)
{
    tn_resolver_t     *r;
    tn_test_result_t  *res = ctx->data;

    res->called++;

    r = ctx->resolver;
    tn_resolve_done(ctx);

    ctx = tn_resolve_start(r);
    if (ctx == NULL) {
        return;
    }

    ctx->name.data = (u_char *) "n99.test";
    ctx->name.len = sizeof("n99.test") - 1;
    ctx->type = TN_RESOLVE_A;
    ctx->handler = tn_test_handler;
    ctx->data = &tn_test_chained;

    if (tn_resolve_name(ctx) != TN_OK) {
        tn_resolve_done(ctx);
    }
}


/* runs the loop until *called or ms pass */

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


static tn_resolver_ctx_t *
tn_test_lookup(tn_uint_t type, const char *name, tn_test_result_t *res,
    tn_int_t *rc)
{
    tn_resolver_ctx_t  *ctx;

    tn_memzero(res, sizeof(tn_test_result_t));

    ctx = tn_resolve_start(tn_resolver_get((tn_cycle_t *) tn_cycle));
    if (ctx == NULL) {
        *rc = TN_ERROR;
        return NULL;
    }

    ctx->name.data = (u_char *) name;
    ctx->name.len = strlen(name);
    ctx->type = type;
    ctx->handler = tn_test_handler;
    ctx->data = res;

    tn_test_in_resolve = 1;
    *rc = tn_resolve_name(ctx);
    tn_test_in_resolve = 0;

    return ctx;
}


/* a lookup run to its end; the context is left to the caller */

static tn_resolver_ctx_t *
tn_test_resolve(tn_uint_t type, const char *name, tn_test_result_t *res)
{
    tn_int_t            rc;
    tn_resolver_ctx_t  *ctx;

    ctx = tn_test_lookup(type, name, res, &rc);

    if (ctx == NULL || rc != TN_OK) {
        if (ctx) {
            tn_resolve_done(ctx);
        }

        return NULL;
    }

    tn_test_run(&res->called, 5000);

    return ctx;
}


static tn_uint_t
tn_test_packets(unsigned type, const char *name)
{
    char  key[300];

    snprintf(key, sizeof(key), "%u %s", type, name);

    return tn_test_dns_count(key, 0);
}


static int
tn_test_str_is(tn_str_t *s, const char *text)
{
    return s->len == strlen(text) && memcmp(s->data, text, s->len) == 0
           && s->data[s->len] == '\0';
}


static void
tn_test_a(void)
{
    tn_test_result_t     res;
    tn_resolver_ctx_t   *ctx;
    struct sockaddr_in  *sin;

    ctx = tn_test_resolve(TN_RESOLVE_A, "a.test", &res);

    tn_test_ok(ctx && res.called == 1 && res.sync == 0
               && ctx->state == TN_OK && ctx->naddrs == 2,
               "A: two addresses");

    if (ctx && ctx->naddrs == 2) {
        sin = (struct sockaddr_in *) ctx->addrs[0].sockaddr;

        tn_test_ok(tn_test_str_is(&ctx->addrs[0].name, "192.0.2.1")
                   && tn_test_str_is(&ctx->addrs[1].name, "192.0.2.2")
                   && sin->sin_family == AF_INET
                   && ctx->addrs[0].socklen == sizeof(struct sockaddr_in)
                   && sin->sin_addr.s_addr == htonl(0xc0000201),
                   "A: addresses");

        tn_test_ok(ctx->ttl == TN_TEST_TTL, "A: the smallest TTL");
    }

    if (ctx) {
        tn_resolve_done(ctx);
    }

    tn_test_ok(tn_test_packets(TN_RESOLVE_A, "a.test") == 1, "A: one packet");

    ctx = tn_test_resolve(TN_RESOLVE_A, "a.test", &res);

    tn_test_ok(ctx && res.called == 1 && res.sync == 0
               && ctx->state == TN_OK && ctx->naddrs == 2
               && tn_test_str_is(&ctx->addrs[1].name, "192.0.2.2")
               && ctx->ttl > 0 && ctx->ttl <= TN_TEST_TTL,
               "A: from the cache, handler from the loop");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_A, "A.Test.", &res);

    tn_test_ok(ctx && ctx->state == TN_OK && ctx->naddrs == 2,
               "A: name case and final dot");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    tn_test_ok(tn_test_packets(TN_RESOLVE_A, "a.test") == 1,
               "A: cached, no new packet");

    ctx = tn_test_resolve(TN_RESOLVE_AAAA, "a.test", &res);

    tn_test_ok(ctx && ctx->state == TN_OK && ctx->naddrs == 1
               && tn_test_str_is(&ctx->addrs[0].name, "2001:db8::1")
               && ctx->addrs[0].sockaddr->sa_family == AF_INET6
               && ctx->addrs[0].socklen == sizeof(struct sockaddr_in6),
               "AAAA");

    if (ctx) {
        tn_resolve_done(ctx);
    }
}


static void
tn_test_mx_txt_ptr(void)
{
    tn_test_result_t    res;
    tn_resolver_ctx_t  *ctx;

    ctx = tn_test_resolve(TN_RESOLVE_MX, "mx.test", &res);

    tn_test_ok(ctx && ctx->state == TN_OK && ctx->nmx == 2
               && ctx->mx[0].preference == 10
               && tn_test_str_is(&ctx->mx[0].host, "mx1.test")
               && ctx->mx[1].preference == 20
               && tn_test_str_is(&ctx->mx[1].host, "mx2.test")
               && ctx->ttl == 120,
               "MX: sorted by preference, smallest TTL");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_TXT, "txt.test", &res);

    tn_test_ok(ctx && ctx->state == TN_OK && ctx->ntxt == 2
               && tn_test_str_is(&ctx->txt[0], "v=spf1 -all")
               && tn_test_str_is(&ctx->txt[1], "hello"),
               "TXT: strings of a record joined");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_PTR, "192.0.2.1", &res);

    tn_test_ok(ctx && ctx->state == TN_OK && ctx->nnames == 1
               && tn_test_str_is(&ctx->names[0], "host.test"),
               "PTR: IPv4");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_PTR, "::ffff:192.0.2.1", &res);

    tn_test_ok(ctx && ctx->state == TN_OK && ctx->nnames == 1
               && tn_test_packets(TN_RESOLVE_PTR, "1.2.0.192.in-addr.arpa")
                  == 1,
               "PTR: IPv4-mapped IPv6 is the IPv4 name, cached");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_PTR, "2001:db8::1", &res);

    tn_test_ok(ctx && ctx->state == TN_OK && ctx->nnames == 1
               && tn_test_str_is(&ctx->names[0], "host6.test"),
               "PTR: IPv6 nibbles");

    if (ctx) {
        tn_resolve_done(ctx);
    }
}


static void
tn_test_failures(void)
{
    tn_int_t            rc;
    tn_msec_t           start;
    tn_test_result_t    res;
    tn_resolver_ctx_t  *ctx;

    ctx = tn_test_resolve(TN_RESOLVE_A, "nx.test", &res);

    tn_test_ok(ctx && ctx->state == TN_RESOLVE_NXDOMAIN && ctx->naddrs == 0,
               "NXDOMAIN");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_A, "nx.test", &res);

    tn_test_ok(ctx && ctx->state == TN_RESOLVE_NXDOMAIN
               && tn_test_packets(TN_RESOLVE_A, "nx.test") == 1,
               "NXDOMAIN: cached");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_MX, "nodata.test", &res);

    tn_test_ok(ctx && ctx->state == TN_RESOLVE_NODATA && ctx->nmx == 0,
               "NODATA");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_MX, "nodata.test", &res);

    tn_test_ok(ctx && ctx->state == TN_RESOLVE_NODATA
               && tn_test_packets(TN_RESOLVE_MX, "nodata.test") == 1,
               "NODATA: cached");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_A, "servfail.test", &res);

    tn_test_ok(ctx && ctx->state == TN_RESOLVE_SERVFAIL, "SERVFAIL");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_A, "servfail.test", &res);

    tn_test_ok(ctx && ctx->state == TN_RESOLVE_SERVFAIL
               && tn_test_packets(TN_RESOLVE_A, "servfail.test") == 2,
               "SERVFAIL: not cached");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    tn_test_ok(tn_test_log_has("servfail.test"), "SERVFAIL: logged");

    tn_time_update();
    start = tn_current_msec;

    ctx = tn_test_resolve(TN_RESOLVE_A, "timeout.test", &res);

    tn_time_update();

    tn_test_ok(ctx && res.called == 1
               && ctx->state == TN_RESOLVE_TIMEDOUT
               && tn_current_msec - start >= 900
               && tn_current_msec - start < 2500,
               "timeout after resolver_timeout");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    tn_test_ok(tn_test_log_has("timeout.test") && tn_test_log_has("timed"),
               "timeout: logged");

    ctx = tn_test_lookup(TN_RESOLVE_A, "bad name", &res, &rc);

    tn_test_ok(ctx && rc == TN_ERROR && ctx->state == TN_RESOLVE_FORMERR,
               "a name with a space is refused");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_lookup(TN_RESOLVE_A, "a\\.test", &res, &rc);

    tn_test_ok(ctx && rc == TN_ERROR, "a name with an escape is refused");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_lookup(TN_RESOLVE_A, "a..test", &res, &rc);

    tn_test_ok(ctx && rc == TN_ERROR, "an empty label is refused");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_lookup(TN_RESOLVE_PTR, "not-an-address", &res, &rc);

    tn_test_ok(ctx && rc == TN_ERROR, "PTR of a non-address is refused");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    tn_test_run(NULL, 100);

    tn_test_ok(res.called == 0, "no handler for a refused name");
}


static void
tn_test_tcp_and_limits(void)
{
    tn_uint_t           i;
    tn_test_result_t    res;
    tn_resolver_ctx_t  *ctx;

    ctx = tn_test_resolve(TN_RESOLVE_TXT, "big.test", &res);

    tn_test_ok(ctx && ctx->state == TN_OK && ctx->ntxt == 3
               && ctx->txt[0].len == 2000 && ctx->txt[0].data[1999] == 'x'
               && tn_test_str_is(&ctx->txt[1], "short")
               && ctx->txt[2].len == 300 && ctx->txt[2].data[299] == 'y',
               "TXT: truncated over UDP, whole over TCP");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_A, "many.test", &res);

    tn_test_ok(ctx && ctx->state == TN_OK && ctx->naddrs == 64,
               "A: 100 records capped at 64");

    if (ctx) {
        for (i = 0; i < ctx->naddrs; i++) {
            if (ctx->addrs[i].sockaddr->sa_family != AF_INET) {
                break;
            }
        }

        tn_test_ok(i == 64, "A: 64 good addresses");

        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_A, "ttl0.test", &res);

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_resolve(TN_RESOLVE_A, "ttl0.test", &res);

    tn_test_ok(ctx && ctx->state == TN_OK
               && tn_test_packets(TN_RESOLVE_A, "ttl0.test") == 2,
               "TTL 0 is not cached");

    if (ctx) {
        tn_resolve_done(ctx);
    }
}


static void
tn_test_cancel_and_many(void)
{
    tn_int_t            rc;
    tn_uint_t           i, n;
    tn_test_result_t    res, many[TN_TEST_CONCURRENT];
    tn_resolver_ctx_t  *ctx, *ctxs[TN_TEST_CONCURRENT];
    char                names[TN_TEST_CONCURRENT][32];

    ctx = tn_test_lookup(TN_RESOLVE_A, "a2.test", &res, &rc);

    tn_test_ok(ctx && rc == TN_OK, "cancel: started");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    /* the answer arrives for a context that is gone */
    tn_test_run(NULL, 300);

    tn_test_ok(res.called == 0
               && tn_test_packets(TN_RESOLVE_A, "a2.test") == 1,
               "cancel: the handler is not called");

    ctx = tn_test_resolve(TN_RESOLVE_A, "a2.test", &res);

    tn_test_ok(ctx && ctx->state == TN_OK
               && tn_test_packets(TN_RESOLVE_A, "a2.test") == 1,
               "cancel: the answer was still cached");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    ctx = tn_test_lookup(TN_RESOLVE_A, "a.test", &res, &rc);

    if (ctx) {
        tn_resolve_done(ctx);
    }

    tn_test_run(NULL, 50);

    tn_test_ok(res.called == 0, "cancel: a posted cache hit");

    for (i = 0; i < TN_TEST_CONCURRENT; i++) {
        snprintf(names[i], sizeof(names[i]), "n%u.test", (unsigned) i + 1);
        ctxs[i] = tn_test_lookup(TN_RESOLVE_A, names[i], &many[i], &rc);

        if (ctxs[i] && rc != TN_OK) {
            tn_resolve_done(ctxs[i]);
            ctxs[i] = NULL;
        }
    }

    tn_time_update();

    for (i = 0; i < 500; i++) {
        for (n = 0; n < TN_TEST_CONCURRENT; n++) {
            if (ctxs[n] && many[n].called == 0) {
                break;
            }
        }

        if (n == TN_TEST_CONCURRENT) {
            break;
        }

        tn_test_run(&many[n].called, 5000);
    }

    for (n = 0, i = 0; i < TN_TEST_CONCURRENT; i++) {
        if (ctxs[i] && many[i].called == 1 && ctxs[i]->state == TN_OK
            && ctxs[i]->naddrs == 1
            && ((struct sockaddr_in *) ctxs[i]->addrs[0].sockaddr)
                   ->sin_addr.s_addr == htonl(0x0a000000 + i + 1))
        {
            n++;
        }

        if (ctxs[i]) {
            tn_resolve_done(ctxs[i]);
        }
    }

    tn_test_ok(n == TN_TEST_CONCURRENT, "20 lookups at once");

    ctx = tn_test_lookup(TN_RESOLVE_MX, "mx.test", &res, &rc);

    if (ctx && rc == TN_OK) {
        ctx->handler = tn_test_chain_handler;
        tn_test_run(&tn_test_chained.called, 5000);

    } else if (ctx) {
        tn_resolve_done(ctx);
    }

    tn_test_ok(res.called == 1 && tn_test_chained.called == 1,
               "a lookup chained from a handler that released its context");
}


static void
tn_test_worker(void)
{
    char                text[512];
    tn_int_t            rc;
    tn_uint_t           i;
    tn_cycle_t         *cycle;
    tn_test_result_t    res;
    tn_resolver_ctx_t  *ctx;

    /* the configuration tests left [emerg] lines */
    if (truncate(tn_test_log_name, 0) == -1) {
        tn_test_ok(0, "truncate log");
    }

    snprintf(text, sizeof(text),
             "events { worker_connections 64; }\n"
             "resolver 127.0.0.1:%u;\n"
             "resolver_timeout 1s;\n", (unsigned) tn_test_dns.port);

    cycle = tn_test_cycle(text, &tn_test_init_cycle);

    tn_test_ok(cycle != NULL, "worker: configuration");

    if (cycle == NULL) {
        return;
    }

    tn_destroy_pool(tn_test_init_cycle.pool);

    /* as a worker: the event loop, then the resolver */

    tn_test_config = 0;
    tn_cycle = cycle;
    tn_process = TN_PROCESS_WORKER;

    tn_test_ok(tn_resolver_get(cycle) == NULL, "no resolver before init");

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

    tn_test_ok(tn_resolver_get(cycle) != NULL, "worker: a resolver");

    tn_test_tick.handler = tn_test_tick_handler;
    tn_test_tick.log = tn_test_log;
    tn_test_tick.data = &tn_test_tick;

    tn_test_a();
    tn_test_mx_txt_ptr();
    tn_test_failures();
    tn_test_tcp_and_limits();
    tn_test_cancel_and_many();

    /* c-ares gives up on timeout.test; nothing may touch a freed context */
    tn_test_run(NULL, 1200);

    if (tn_test_tick.timer_set) {
        tn_event_del_timer(&tn_test_tick);
    }

    tn_test_ok(tn_event_no_timers_left() == TN_OK,
               "only cancelable timers left when idle");

    /* a lookup in flight at exit, released after it */
    ctx = tn_test_lookup(TN_RESOLVE_A, "timeout.test", &res, &rc);

    tn_resolver_module.exit_process(cycle);

    tn_test_ok(tn_resolver_get(cycle) == NULL, "exit: no resolver");

    if (ctx) {
        tn_resolve_done(ctx);
    }

    tn_test_ok(res.called == 0 && rc == TN_OK,
               "exit: a lookup in flight is dropped");

    tn_test_ok(!tn_test_log_has("[alert]") && !tn_test_log_has("[emerg]"),
               "no alerts in the log");
}


int
main(void)
{
    tn_time_init();

    tn_pid = tn_getpid();

    if (mkdtemp(tn_test_dir) == NULL) {
        printf("1..0 # SKIP mkdtemp failed\n");
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
                                 |TN_LOG_DEBUG_EVENT;
    }

    if (tn_preinit_modules() != TN_OK) {
        printf("1..0 # SKIP modules\n");
        return 0;
    }

    if (tn_test_dns_start() != 0) {
        printf("1..0 # SKIP cannot start the DNS server\n");
        return 0;
    }

    tn_test_conf();
    tn_test_worker();

    tn_test_dns_stop();

    printf("1..%d\n", (int) tn_test_n);

    if (tn_test_failed == 0) {
        (void) unlink(tn_test_log_name);
        (void) unlink(tn_test_dir);
        (void) rmdir(tn_test_dir);

    } else {
        printf("# the log: %s\n", tn_test_log_name);
    }

    return tn_test_failed ? 1 : 0;
}
