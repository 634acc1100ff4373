/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * Unit tests of src/core/tn_inet.c: tn_parse_url() on every form the
 * listen and resolver directives take and on invalid ones, the address
 * parsers, and the text forms of socket addresses.
 */


#include <tn_config.h>
#include <tn_core.h>

#include <tn_string.c>
#include <tn_inet.c>


static tn_uint_t   tn_test_n;
static tn_uint_t   tn_test_failed;


static void tn_test_ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
tn_test_ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
    }

    printf("%sok %u - ", cond ? "" : "not ", (unsigned) tn_test_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


/* tn_string.c refers to the pool allocator; nothing here calls it */

void *
tn_pnalloc(tn_pool_t *pool, size_t size)
{
    (void) pool;
    (void) size;

    return NULL;
}


typedef struct {
    const char   *url;
    in_port_t     default_port;
    int           family;        /* 0: the parse fails */
    const char   *host;          /* or the error text */
    in_port_t     port;
    unsigned      wildcard;
    unsigned      no_port;
    const char   *text;          /* tn_sock_ntop() with the port */
} tn_test_url_t;


static void
tn_test_parse_url(void)
{
    u_char          buf[TN_SOCKADDR_STRLEN], *p;
    size_t          n;
    tn_int_t        rc;
    tn_url_t        u;
    tn_uint_t       i;
    tn_test_url_t  *t;

    static tn_test_url_t  cases[] = {
        { "2525", 0, AF_INET, "", 2525, 1, 0, "0.0.0.0:2525" },
        { "*:25", 0, AF_INET, "", 25, 1, 0, "0.0.0.0:25" },
        { "*", 25, AF_INET, "", 25, 1, 1, "0.0.0.0:25" },
        { "127.0.0.1:2525", 0, AF_INET, "127.0.0.1", 2525, 0, 0,
          "127.0.0.1:2525" },
        { "0.0.0.0:25", 0, AF_INET, "0.0.0.0", 25, 1, 0, "0.0.0.0:25" },
        { "10.1.2.3:65535", 0, AF_INET, "10.1.2.3", 65535, 0, 0,
          "10.1.2.3:65535" },
        { "127.0.0.1", 53, AF_INET, "127.0.0.1", 53, 0, 1,
          "127.0.0.1:53" },
        { "1", 0, AF_INET, "", 1, 1, 0, "0.0.0.0:1" },
        { "[::1]:2525", 0, AF_INET6, "[::1]", 2525, 0, 0, "[::1]:2525" },
        { "[::]:25", 0, AF_INET6, "[::]", 25, 1, 0, "[::]:25" },
        { "[::1]", 53, AF_INET6, "[::1]", 53, 0, 1, "[::1]:53" },
        { "::1", 53, AF_INET6, "::1", 53, 0, 1, "[::1]:53" },
        { "[2001:DB8::1]:25", 0, AF_INET6, "[2001:DB8::1]", 25, 0, 0,
          "[2001:db8::1]:25" },
        { "[::ffff:1.2.3.4]:25", 0, AF_INET6, "[::ffff:1.2.3.4]", 25, 0, 0,
          "[::ffff:1.2.3.4]:25" },

        { "", 25, 0, "no address", 0, 0, 0, NULL },
        { "0", 0, 0, "invalid port", 0, 0, 0, NULL },
        { "65536", 0, 0, "invalid port", 0, 0, 0, NULL },
        { "99999999999999999999", 0, 0, "invalid port", 0, 0, 0, NULL },
        { "*:0", 0, 0, "invalid port", 0, 0, 0, NULL },
        { "127.0.0.1:", 0, 0, "invalid port", 0, 0, 0, NULL },
        { "127.0.0.1:0", 0, 0, "invalid port", 0, 0, 0, NULL },
        { "127.0.0.1:x", 0, 0, "invalid port", 0, 0, 0, NULL },
        { "127.0.0.1:-1", 0, 0, "invalid port", 0, 0, 0, NULL },
        { "127.0.0.1: 25", 0, 0, "invalid port", 0, 0, 0, NULL },
        { "127.0.0.1", 0, 0, "no port", 0, 0, 0, NULL },
        { "*", 0, 0, "no port", 0, 0, 0, NULL },
        { ":25", 0, 0, "no address", 0, 0, 0, NULL },
        { "localhost:25", 0, 0, "invalid IP address", 0, 0, 0, NULL },
        { "mail.example.test", 25, 0, "invalid IP address", 0, 0, 0, NULL },
        { "1.2.3:25", 0, 0, "invalid IP address", 0, 0, 0, NULL },
        { "1.2.3.4.5:25", 0, 0, "invalid IP address", 0, 0, 0, NULL },
        { "256.1.1.1:25", 0, 0, "invalid IP address", 0, 0, 0, NULL },
        { "01.2.3.4:25", 0, 0, "invalid IP address", 0, 0, 0, NULL },
        { "1..3.4:25", 0, 0, "invalid IP address", 0, 0, 0, NULL },
        { "1.2.3.4:25:26", 0, 0, "invalid IPv6 address", 0, 0, 0, NULL },
        { "[::1", 25, 0, "invalid IPv6 address", 0, 0, 0, NULL },
        { "[zz::1]:25", 0, 0, "invalid IPv6 address", 0, 0, 0, NULL },
        { "[1.2.3.4]:25", 0, 0, "invalid IPv6 address", 0, 0, 0, NULL },
        { "[]:25", 0, 0, "invalid IPv6 address", 0, 0, 0, NULL },
        { "[::1]x", 25, 0, "invalid port", 0, 0, 0, NULL },
        { "[::1]:", 25, 0, "invalid port", 0, 0, 0, NULL },
        { "[::1]:99999", 0, 0, "invalid port", 0, 0, 0, NULL },
        { "[::1]", 0, 0, "no port", 0, 0, 0, NULL },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t = &cases[i];

        tn_memset(&u, 0x5a, sizeof(tn_url_t));
        u.url.data = (u_char *) t->url;
        u.url.len = strlen(t->url);
        u.default_port = t->default_port;

        rc = tn_parse_url(NULL, &u);

        if (t->family == 0) {
            tn_test_ok(rc == TN_ERROR && u.err
                       && strcmp(u.err, t->host) == 0,
                       "\"%s\" fails with \"%s\" (\"%s\")", t->url, t->host,
                       u.err ? u.err : "");
            continue;
        }

        n = 0;

        if (rc == TN_OK) {
            n = tn_sock_ntop(&u.sockaddr.sockaddr, u.socklen, buf,
                             sizeof(buf), 1);
        }

        p = (u_char *) t->text;

        tn_test_ok(rc == TN_OK
                   && u.err == NULL
                   && u.sockaddr.sockaddr.sa_family == t->family
                   && u.socklen == (t->family == AF_INET
                                    ? sizeof(struct sockaddr_in)
                                    : sizeof(struct sockaddr_in6))
                   && u.host.len == strlen(t->host)
                   && memcmp(u.host.data, t->host, u.host.len) == 0
                   && u.port == t->port
                   && tn_inet_get_port(&u.sockaddr.sockaddr) == t->port
                   && u.wildcard == t->wildcard
                   && u.no_port == t->no_port
                   && n == strlen(t->text)
                   && memcmp(buf, p, n) == 0,
                   "\"%s\" is %s", t->url, t->text);
    }
}


typedef struct {
    const char   *text;
    const char   *addr;          /* NULL: invalid */
} tn_test_addr_t;


static void
tn_test_addrs(void)
{
    u_char           in6[16], buf[TN_INET6_ADDRSTRLEN];
    size_t           n;
    tn_int_t         rc;
    in_addr_t        in;
    tn_uint_t        i;
    tn_test_addr_t  *t;

    static tn_test_addr_t  v4[] = {
        { "1.2.3.4", "\x01\x02\x03\x04" },
        { "0.0.0.0", "\x00\x00\x00\x00" },
        { "192.168.100.200", "\xc0\xa8\x64\xc8" },
        { "10.0.0.255", "\x0a\x00\x00\xff" },
        { "", NULL },
        { "1.2.3", NULL },
        { "1.2.3.", NULL },
        { ".1.2.3", NULL },
        { "1.2.3.4.", NULL },
        { "1..2.3", NULL },
        { "1.2.3.256", NULL },
        { "1.2.3.1000", NULL },
        { "1.2.3.04", NULL },
        { "1.2.3.a", NULL },
        { "1.2.3.4 ", NULL },
        { "-1.2.3.4", NULL },
    };

    static tn_test_addr_t  v6[] = {
        { "::1", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" },
        { "::", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0" },
        { "2001:db8::ff00:42:8329",
          "\x20\x01\x0d\xb8\0\0\0\0\0\0\xff\x00\x00\x42\x83\x29" },
        { "::ffff:192.0.2.1",
          "\0\0\0\0\0\0\0\0\0\0\xff\xff\xc0\x00\x02\x01" },
        { "", NULL },
        { ":", NULL },
        { "1:2:3:4:5:6:7:8:9", NULL },
        { "::1::", NULL },
        { "12345::", NULL },
        { "g::1", NULL },
        { "[::1]", NULL },
        { "0000:0000:0000:0000:0000:0000:0000:0000:0", NULL },
        { "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:1", NULL },
    };

    for (i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
        t = &v4[i];

        in = tn_inet_addr((u_char *) t->text, strlen(t->text));

        if (t->addr == NULL) {
            tn_test_ok(in == INADDR_NONE, "inet_addr rejects \"%s\"",
                       t->text);

        } else {
            tn_test_ok(memcmp(&in, t->addr, 4) == 0, "inet_addr \"%s\"",
                       t->text);
        }
    }

    for (i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
        t = &v6[i];

        rc = tn_inet6_addr((u_char *) t->text, strlen(t->text), in6);

        if (t->addr == NULL) {
            tn_test_ok(rc == TN_ERROR, "inet6_addr rejects \"%s\"", t->text);

        } else {
            tn_test_ok(rc == TN_OK && memcmp(in6, t->addr, 16) == 0,
                       "inet6_addr \"%s\"", t->text);
        }
    }

    tn_test_ok(tn_inet6_addr((u_char *) "::1\0garbage", 11, in6) == TN_ERROR,
               "inet6_addr rejects an embedded NUL");

    tn_test_ok(tn_inet6_addr((u_char *) "::1", 2, in6) == TN_OK
               && memcmp(in6, v6[1].addr, 16) == 0,
               "inet6_addr honours the length");

    n = tn_inet_ntop(AF_INET, (void *) "\xc0\xa8\x00\x01", buf, sizeof(buf));
    tn_test_ok(n == 11 && memcmp(buf, "192.168.0.1", n) == 0, "inet_ntop v4");

    n = tn_inet_ntop(AF_INET6, (void *) v6[2].addr, buf, sizeof(buf));
    tn_test_ok(n == 22 && memcmp(buf, "2001:db8::ff00:42:8329", n) == 0,
               "inet_ntop v6");

    n = tn_inet_ntop(AF_INET, (void *) "\xc0\xa8\x00\x01", buf, 5);
    tn_test_ok(n == 5 && memcmp(buf, "192.1", n) == 0, "inet_ntop truncates");

    n = tn_inet_ntop(AF_UNIX, (void *) "", buf, sizeof(buf));
    tn_test_ok(n == 0, "inet_ntop of another family");
}


static void
tn_test_sockaddrs(void)
{
    u_char                buf[TN_SOCKADDR_STRLEN + 128];
    size_t                n;
    tn_sockaddr_t         a, b;
    struct sockaddr_un   *saun;
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;

    tn_memzero(&a, sizeof(a));
    sin = &a.sockaddr_in;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(25);
    tn_memcpy(&sin->sin_addr, "\x7f\x00\x00\x01", 4);

    n = tn_sock_ntop(&a.sockaddr, sizeof(*sin), buf, sizeof(buf), 0);
    tn_test_ok(n == 9 && memcmp(buf, "127.0.0.1", n) == 0,
               "sock_ntop v4 without the port");

    n = tn_sock_ntop(&a.sockaddr, sizeof(*sin), buf, sizeof(buf), 1);
    tn_test_ok(n == 12 && memcmp(buf, "127.0.0.1:25", n) == 0,
               "sock_ntop v4 with the port");

    n = tn_sock_ntop(&a.sockaddr, sizeof(*sin), buf, 4, 1);
    tn_test_ok(n == 4 && memcmp(buf, "127.", n) == 0, "sock_ntop truncates");

    tn_inet_set_port(&a.sockaddr, 2525);
    tn_test_ok(tn_inet_get_port(&a.sockaddr) == 2525
               && sin->sin_port == htons(2525), "set_port v4");

    b = a;
    tn_test_ok(tn_cmp_sockaddr(&a.sockaddr, sizeof(*sin),
                               &b.sockaddr, sizeof(*sin), 1) == TN_OK,
               "cmp_sockaddr equal");

    tn_inet_set_port(&b.sockaddr, 25);
    tn_test_ok(tn_cmp_sockaddr(&a.sockaddr, sizeof(*sin),
                               &b.sockaddr, sizeof(*sin), 1) == TN_DECLINED
               && tn_cmp_sockaddr(&a.sockaddr, sizeof(*sin),
                                  &b.sockaddr, sizeof(*sin), 0) == TN_OK,
               "cmp_sockaddr and the port");

    tn_memzero(&b, sizeof(b));
    sin6 = &b.sockaddr_in6;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr.s6_addr[15] = 1;
    tn_inet_set_port(&b.sockaddr, 587);

    n = tn_sock_ntop(&b.sockaddr, sizeof(*sin6), buf, sizeof(buf), 0);
    tn_test_ok(n == 3 && memcmp(buf, "::1", n) == 0,
               "sock_ntop v6 without the port");

    n = tn_sock_ntop(&b.sockaddr, sizeof(*sin6), buf, sizeof(buf), 1);
    tn_test_ok(n == 9 && memcmp(buf, "[::1]:587", n) == 0,
               "sock_ntop v6 with the port");

    tn_test_ok(tn_inet_get_port(&b.sockaddr) == 587, "get_port v6");

    tn_test_ok(tn_cmp_sockaddr(&a.sockaddr, sizeof(*sin),
                               &b.sockaddr, sizeof(*sin6), 0) == TN_DECLINED,
               "cmp_sockaddr of two families");

    tn_memzero(&a, sizeof(a));
    saun = &a.sockaddr_un;
    saun->sun_family = AF_UNIX;
    strcpy(saun->sun_path, "/tmp/tern.sock");

    n = tn_sock_ntop(&a.sockaddr,
                     offsetof(struct sockaddr_un, sun_path) + 15,
                     buf, sizeof(buf), 1);
    tn_test_ok(n == 19 && memcmp(buf, "unix:/tmp/tern.sock", n) == 0,
               "sock_ntop unix");

    n = tn_sock_ntop(&a.sockaddr, sizeof(sa_family_t), buf, sizeof(buf), 1);
    tn_test_ok(n == 5 && memcmp(buf, "unix:", n) == 0,
               "sock_ntop of an unnamed unix socket");

    /* a full sun_path without a NUL stays within the structure */
    tn_memset(saun->sun_path, 'a', sizeof(saun->sun_path));
    n = tn_sock_ntop(&a.sockaddr, sizeof(struct sockaddr_un), buf,
                     sizeof(buf), 1);
    tn_test_ok(n == 5 + sizeof(saun->sun_path), "sock_ntop of a full path");

    tn_test_ok(tn_inet_get_port(&a.sockaddr) == 0, "get_port unix");

    a.sockaddr.sa_family = AF_UNSPEC;
    tn_test_ok(tn_sock_ntop(&a.sockaddr, sizeof(a), buf, sizeof(buf), 1)
               == 0, "sock_ntop of an unknown family");
}


int
main(void)
{
    /* every line reaches prove even if a case crashes */
    setvbuf(stdout, NULL, _IOLBF, 0);

    tn_test_parse_url();
    tn_test_addrs();
    tn_test_sockaddrs();

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
