
/*
 * Copyright (C) The Tern developers
 */


/*
 * Unit tests of the pure parts of SPF (modules/spf/tn_spf_parse.c): record
 * selection, the record parser on good and bad records (RFC 7208 4.6, 5,
 * 6, 12), each record also cut at every length, macro expansion with the
 * examples of RFC 7208 7.4 and the transformers, escapes and errors of
 * section 7, target names (the 253-byte truncation), CIDR matching and
 * client addresses.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_spf.h>


static tn_uint_t   tests;
static tn_uint_t   failed;
static tn_log_t    test_log;
static tn_open_file_t  test_file;


static void ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %u - ", cond ? "" : "not ", (unsigned) tests);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


typedef struct {
    const char  *record;
    tn_int_t     rc;           /* TN_OK or TN_ERROR */
    tn_uint_t    nterms;
} test_record_t;


static test_record_t  records[] = {
    { "v=spf1", TN_OK, 0 },
    { "v=spf1 ", TN_OK, 0 },
    { "v=spf1  -all  ", TN_OK, 1 },
    { "V=SpF1 ~all", TN_OK, 1 },
    { "v=spf1 a mx ptr -all", TN_OK, 4 },
    { "v=spf1 a:mail.example.com/24//64 -all", TN_OK, 2 },
    { "v=spf1 a//0 mx/0 -all", TN_OK, 3 },
    { "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ?all", TN_OK, 3 },
    { "v=spf1 include:_spf.example.com exists:%{i}.x.example.com -all",
      TN_OK, 3 },
    { "v=spf1 redirect=_spf.example.com", TN_OK, 0 },
    { "v=spf1 -all exp=explain.%{d}", TN_OK, 1 },
    { "v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all", TN_OK, 2 },
    { "v=spf1 a:foo:bar/baz.example.com", TN_OK, 1 },
    { "v=spf1 a:%{H}.bar -all", TN_OK, 2 },
    { "v=spf1 a:xn--zckzah.example.xn--zckzah", TN_OK, 1 },
    { "v=spf1 default=deny", TN_OK, 0 },
    { "v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all",
      TN_OK, 2 },

    { "v=spf10", TN_ERROR, 0 },
    { "spf1 -all", TN_ERROR, 0 },
    { "v=spf1 -all moo", TN_ERROR, 0 },
    { "v=spf1 -all.", TN_ERROR, 0 },
    { "v=spf1 -all:foo", TN_ERROR, 0 },
    { "v=spf1 -all/8", TN_ERROR, 0 },
    { "v=spf1 moo.cow/far_out=man:dog/cat -all", TN_ERROR, 0 },
    { "v=spf1 moo.cow:far_out=man:dog/cat -all", TN_ERROR, 0 },
    { "v=spf1 redirect:example.com", TN_ERROR, 0 },
    { "v=spf1 redirect=a.example.com redirect=b.example.com", TN_ERROR, 0 },
    { "v=spf1 exp=a.example.com exp=b.example.com", TN_ERROR, 0 },
    { "v=spf1 exp= -all", TN_ERROR, 0 },
    { "v=spf1 redirect=", TN_ERROR, 0 },
    { "v=spf1 =foo", TN_ERROR, 0 },
    { "v=spf1 a:foo-bar -all", TN_ERROR, 0 },
    { "v=spf1 a:museum", TN_ERROR, 0 },
    { "v=spf1 a:museum.", TN_ERROR, 0 },
    { "v=spf1 a:abc.123", TN_ERROR, 0 },
    { "v=spf1 a:111.222.33.44", TN_ERROR, 0 },
    { "v=spf1 a:example.-com", TN_ERROR, 0 },
    { "v=spf1 a:", TN_ERROR, 0 },
    { "v=spf1 a/33", TN_ERROR, 0 },
    { "v=spf1 a//129", TN_ERROR, 0 },
    { "v=spf1 a/24/64", TN_ERROR, 0 },
    { "v=spf1 a/032", TN_ERROR, 0 },
    { "v=spf1 mx:", TN_ERROR, 0 },
    { "v=spf1 ptr/0", TN_ERROR, 0 },
    { "v=spf1 ptr:", TN_ERROR, 0 },
    { "v=spf1 include", TN_ERROR, 0 },
    { "v=spf1 include:", TN_ERROR, 0 },
    { "v=spf1 include:example.com/24", TN_ERROR, 0 },
    { "v=spf1 exists", TN_ERROR, 0 },
    { "v=spf1 exists:example.com/24", TN_ERROR, 0 },
    { "v=spf1 ip4", TN_ERROR, 0 },
    { "v=spf1 ip4:", TN_ERROR, 0 },
    { "v=spf1 ip4:1.2.3.4/33", TN_ERROR, 0 },
    { "v=spf1 ip4:1.2.3.4/032", TN_ERROR, 0 },
    { "v=spf1 ip4:1.2.3.4//32", TN_ERROR, 0 },
    { "v=spf1 ip4:1.2.3.4:8080", TN_ERROR, 0 },
    { "v=spf1 ip4:1.2.3", TN_ERROR, 0 },
    { "v=spf1 ip4:1.2.3.4/", TN_ERROR, 0 },
    { "v=spf1 ip6", TN_ERROR, 0 },
    { "v=spf1 ip6::1/129", TN_ERROR, 0 },
    { "v=spf1 ip6:1.2.3.4", TN_ERROR, 0 },
    { "v=spf1 1.2.3.4", TN_ERROR, 0 },
    { "v=spf1 +", TN_ERROR, 0 },
    { "v=spf1 a:%{x}.example.com", TN_ERROR, 0 },
    { "v=spf1 a:%{d0}.example.com", TN_ERROR, 0 },
    { "v=spf1 a:%{c}.example.com", TN_ERROR, 0 },
    { "v=spf1 a:%{r}.example.com", TN_ERROR, 0 },
    { "v=spf1 a:%{t}.example.com", TN_ERROR, 0 },
    { "v=spf1 a:%{d.example.com", TN_ERROR, 0 },
    { "v=spf1 a:foo%.example.com", TN_ERROR, 0 },
    { "v=spf1 a:example.com%", TN_ERROR, 0 },
    { "v=spf1 a:%{d}%", TN_ERROR, 0 },
    { "v=spf1 x=%", TN_ERROR, 0 },
    { NULL, 0, 0 }
};


static void
test_records(tn_pool_t *pool)
{
    size_t            len, cut;
    tn_int_t          rc;
    tn_str_t          err;
    tn_spf_record_t   rec;
    test_record_t    *r;
    u_char            buf[256];

    for (r = records; r->record; r++) {
        len = strlen(r->record);

        rc = tn_spf_parse_record(pool, (u_char *) r->record, len, &rec,
                                 &err);

        ok(rc == r->rc && (rc != TN_OK || rec.nterms == r->nterms),
           "record \"%s\": %s", r->record,
           rc == TN_OK ? "parsed" : (char *) err.data);

        /* every prefix, copied so that a read past the end shows in ASan */

        for (cut = 0; cut < len; cut++) {
            tn_memcpy(buf, r->record, cut);
            (void) tn_spf_parse_record(pool, buf, cut, &rec, &err);
        }
    }

    ok(1, "every prefix of every record parsed or refused");

    /* bytes a record may not hold */

    ok(tn_spf_parse_record(pool, (u_char *) "v=spf1 a:x.example.com\0", 23,
                           &rec, &err) == TN_ERROR, "a NUL is refused");
    ok(tn_spf_parse_record(pool, (u_char *) "v=spf1 \x80" "a -all", 14,
                           &rec, &err) == TN_ERROR, "8-bit is refused");
    ok(tn_spf_parse_record(pool, (u_char *) "v=spf1 a\r\nptr -all", 18,
                           &rec, &err) == TN_ERROR, "CR LF is refused");
    ok(tn_spf_parse_record(pool, (u_char *) "v=spf1 a\tptr", 12,
                           &rec, &err) == TN_ERROR, "HT is no separator");
}


static void
test_terms(tn_pool_t *pool)
{
    tn_str_t          err;
    tn_spf_term_t    *t;
    tn_spf_record_t   rec;

    static u_char  r1[] = "v=spf1 -a:mail.example.com/24//64 ~mx//48 "
                          "?ip4:192.0.2.0/24 +ip6:2001:db8::/32 ptr "
                          "include:x.example.com redirect=y.example.com "
                          "exp=e.example.com";

    if (tn_spf_parse_record(pool, r1, sizeof(r1) - 1, &rec, &err) != TN_OK)
    {
        ok(0, "terms: record parsed");
        return;
    }

    t = rec.terms;

    ok(rec.nterms == 6, "terms: 6 mechanisms");
    ok(t[0].type == TN_SPF_A && t[0].qualifier == TN_SPF_FAIL
       && t[0].cidr4 == 24 && t[0].cidr6 == 64
       && t[0].spec.len == 16
       && tn_strncmp(t[0].spec.data, "mail.example.com", 16) == 0,
       "terms: -a:DOMAIN/24//64");
    ok(t[1].type == TN_SPF_MX && t[1].qualifier == TN_SPF_SOFTFAIL
       && t[1].cidr4 == 32 && t[1].cidr6 == 48 && t[1].spec.len == 0,
       "terms: ~mx//48");
    ok(t[2].type == TN_SPF_IP4 && t[2].qualifier == TN_SPF_NEUTRAL
       && t[2].cidr4 == 24 && t[2].addr[0] == 192 && t[2].addr[3] == 0,
       "terms: ?ip4:192.0.2.0/24");
    ok(t[3].type == TN_SPF_IP6 && t[3].qualifier == TN_SPF_PASS
       && t[3].cidr6 == 32 && t[3].addr[0] == 0x20 && t[3].addr[3] == 0xb8,
       "terms: +ip6:2001:db8::/32");
    ok(t[4].type == TN_SPF_PTR && t[4].qualifier == TN_SPF_PASS,
       "terms: ptr");
    ok(t[5].type == TN_SPF_INCLUDE && t[5].spec.len == 13,
       "terms: include");
    ok(rec.redirect.len == 13 && rec.exp.len == 13,
       "terms: redirect and exp");

    ok(tn_spf_is_record((u_char *) "v=spf1", 6)
       && tn_spf_is_record((u_char *) "V=SPF1 a", 8)
       && !tn_spf_is_record((u_char *) "v=spf10", 7)
       && !tn_spf_is_record((u_char *) "v=spf", 5)
       && !tn_spf_is_record((u_char *) "v=spf1\t", 7),
       "record selection");
}


typedef struct {
    const char  *macro;
    const char  *expect;     /* NULL: an error */
    tn_uint_t    exp;
} test_macro_t;


/* RFC 7208 7.4 */

static test_macro_t  macros4[] = {
    { "%{s}", "strong-bad@email.example.com", 0 },
    { "%{o}", "email.example.com", 0 },
    { "%{d}", "email.example.com", 0 },
    { "%{d4}", "email.example.com", 0 },
    { "%{d3}", "email.example.com", 0 },
    { "%{d2}", "example.com", 0 },
    { "%{d1}", "com", 0 },
    { "%{dr}", "com.example.email", 0 },
    { "%{d2r}", "example.email", 0 },
    { "%{l}", "strong-bad", 0 },
    { "%{l-}", "strong.bad", 0 },
    { "%{lr}", "strong-bad", 0 },
    { "%{lr-}", "bad.strong", 0 },
    { "%{l1r-}", "strong", 0 },
    { "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com", 0 },
    { "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com", 0 },
    { "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
      "bad.strong.lp.3.2.0.192.in-addr._spf.example.com", 0 },
    { "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
      "3.2.0.192.in-addr.strong.lp._spf.example.com", 0 },
    { "%{d2}.trusted-domains.example.net",
      "example.com.trusted-domains.example.net", 0 },

    /* section 7 beyond the examples */
    { "%%%_%-", "% %20", 0 },
    { "%{h}", "mx.example.org", 0 },
    { "%{H}", "mx.example.org", 0 },
    { "%{S}", "strong-bad%40email.example.com", 0 },
    { "%{l9999}", "strong-bad", 0 },
    { "%{d2.}", "example.com", 0 },
    { "%{s@}", NULL, 0 },
    { "%{sr@}", NULL, 0 },
    { "%{sr=-.}", "com.example.bad@email.strong", 0 },
    { "%{p}", "unknown", 0 },
    { "%{c}", "192.0.2.3", 1 },
    { "%{r}", "mx.example.net", 1 },
    { "%{t}", "1234567890", 1 },
    { "%{c}", NULL, 0 },
    { "%{d0}", NULL, 0 },
    { "%{q}", NULL, 0 },
    { "%{d", NULL, 0 },
    { "%", NULL, 0 },
    { "%x", NULL, 0 },
    { "a b", NULL, 0 },
    { "a b %{v}", "a b in-addr", 1 },
    { NULL, NULL, 0 }
};


static test_macro_t  macros6[] = {
    { "%{ir}.%{v}._spf.%{d2}",
      "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
      ".ip6._spf.example.com", 0 },
    { "%{c}", "2001:db8::cb01", 1 },
    { "%{i2}", "0.1", 0 },
    { "%{I1r}", "2", 0 },
    { NULL, NULL, 0 }
};


static void
test_macro_table(tn_spf_macro_t *m, test_macro_t *tab, const char *what)
{
    ssize_t        n;
    tn_str_t       s;
    test_macro_t  *t;
    u_char         out[TN_SPF_MAX_EXPAND];

    for (t = tab; t->macro; t++) {
        s.data = (u_char *) t->macro;
        s.len = strlen(t->macro);

        n = tn_spf_expand(m, &s, t->exp, out);

        if (t->expect == NULL) {
            ok(n == TN_ERROR, "%s \"%s\" is an error", what, t->macro);
            continue;
        }

        ok(n == (ssize_t) strlen(t->expect)
           && tn_memcmp(out, t->expect, n) == 0,
           "%s \"%s\" -> \"%.*s\"", what, t->macro,
           n < 0 ? 0 : (int) n, n < 0 ? "" : (char *) out);
    }
}


static void
test_macros(void)
{
    ssize_t         n;
    size_t          i;
    tn_str_t        s, name;
    tn_spf_macro_t  m;
    u_char          out[TN_SPF_MAX_EXPAND];
    u_char          big[600];

    tn_memzero(&m, sizeof(tn_spf_macro_t));

    tn_str_set(&m.sender, "strong-bad@email.example.com");
    tn_str_set(&m.local, "strong-bad");
    tn_str_set(&m.sender_domain, "email.example.com");
    tn_str_set(&m.domain, "email.example.com");
    tn_str_set(&m.helo, "mx.example.org");
    tn_str_set(&m.receiver, "mx.example.net");
    m.now = 1234567890;

    ok(tn_spf_parse_ip((u_char *) "192.0.2.3", 9, &m) == TN_OK
       && m.family == AF_INET, "client 192.0.2.3");

    test_macro_table(&m, macros4, "IPv4");

    tn_str_set(&m.validated, "mx.example.com");
    s.data = (u_char *) "%{p}";
    s.len = 4;
    n = tn_spf_expand(&m, &s, 0, out);
    ok(n == 14 && tn_memcmp(out, "mx.example.com", 14) == 0,
       "%%{p} is the validated name");

    /* URL escaping (the suite's upper-macro case) */

    tn_str_set(&m.local, "~jack&jill=up-a_b3.c");
    s.data = (u_char *) "http://example.com/why.html?l=%{L}";
    s.len = strlen((char *) s.data);
    n = tn_spf_expand(&m, &s, 1, out);
    ok(n > 0 && tn_strncmp(out, "http://example.com/why.html?l="
                           "~jack%26jill%3Dup-a_b3.c", n) == 0,
       "upper-case macros are URL-escaped");

    /* an expansion past TN_SPF_MAX_EXPAND is an error, not a cut */

    for (i = 0; i < 300; i++) {
        big[2 * i] = '%';
        big[2 * i + 1] = '-';
    }
    tn_memcpy(big + 200, "%{s}", 4);
    s.data = big;
    s.len = 600;
    ok(tn_spf_expand(&m, &s, 0, out) > 0, "a long expansion fits");

    tn_memset(big, 'a', sizeof(big));
    for (i = 0; i + 4 <= sizeof(big); i += 4) {
        tn_memcpy(big + i, "%{S}", 4);
    }
    tn_str_set(&m.sender, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!@x.test");
    s.len = sizeof(big);
    ok(tn_spf_expand(&m, &s, 0, out) == TN_ERROR,
       "a too long expansion is an error");

    ok(tn_spf_macro_uses_p(&(tn_str_t) tn_string("x.%{p}"))
       && tn_spf_macro_uses_p(&(tn_str_t) tn_string("%{P2}"))
       && !tn_spf_macro_uses_p(&(tn_str_t) tn_string("%%{p}"))
       && !tn_spf_macro_uses_p(&(tn_str_t) tn_string("%{d}")),
       "%%{p} is found");

    tn_memzero(&m, sizeof(tn_spf_macro_t));
    tn_str_set(&m.sender, "strong-bad@email.example.com");
    tn_str_set(&m.domain, "email.example.com");

    ok(tn_spf_parse_ip((u_char *) "2001:db8::cb01", 14, &m) == TN_OK
       && m.family == AF_INET6, "client 2001:db8::cb01");

    test_macro_table(&m, macros6, "IPv6");

    /* target names */

    tn_memset(big, 'a', sizeof(big));
    for (i = 63; i < 300; i += 64) {
        big[i] = '.';
    }
    name.data = big;
    name.len = 300;
    ok(tn_spf_target_name(&name) == TN_OK && name.len <= 253
       && name.data == big + 64 && name.len == 236,
       "a long name loses labels on the left");

    name.data = (u_char *) "example.com.";
    name.len = 12;
    ok(tn_spf_target_name(&name) == TN_OK && name.len == 11,
       "a final dot is dropped");

    name.data = (u_char *) "mail.example...com";
    name.len = 18;
    ok(tn_spf_target_name(&name) == TN_DECLINED, "an empty label names "
       "nothing");

    tn_memset(big, 'b', 70);
    tn_memcpy(big + 70, ".example.com", 12);
    name.data = big;
    name.len = 82;
    ok(tn_spf_target_name(&name) == TN_DECLINED,
       "a label over 63 names nothing");
}


static void
test_addresses(void)
{
    tn_str_t        d;
    tn_spf_macro_t  m;
    u_char          a[16], b[16];

    ok(tn_spf_parse_ip((u_char *) "::ffff:1.2.3.4", 14, &m) == TN_OK
       && m.family == AF_INET && m.ip[0] == 1 && m.ip[3] == 4,
       "an IPv4-mapped client is IPv4");
    ok(tn_spf_parse_ip((u_char *) "[192.0.2.1]", 11, &m) == TN_OK
       && m.family == AF_INET, "a bracketed address");
    ok(tn_spf_parse_ip((u_char *) "1.2.3", 5, &m) == TN_ERROR
       && tn_spf_parse_ip((u_char *) "", 0, &m) == TN_ERROR,
       "bad addresses");

    tn_memzero(a, 16);
    tn_memzero(b, 16);
    a[0] = 192; a[1] = 0; a[2] = 2; a[3] = 1;
    b[0] = 192; b[1] = 0; b[2] = 2; b[3] = 200;

    ok(tn_spf_cidr_match(a, b, 24) && !tn_spf_cidr_match(a, b, 25)
       && tn_spf_cidr_match(a, b, 0) && !tn_spf_cidr_match(a, b, 32),
       "CIDR /24 /25 /0 /32");

    b[3] = 1;
    ok(tn_spf_cidr_match(a, b, 32), "CIDR /32 equal");

    a[15] = 0x81;
    b[15] = 0x80;
    ok(tn_spf_cidr_match(a, b, 127) && !tn_spf_cidr_match(a, b, 128),
       "CIDR /127 /128");

    a[0] = 0x80;
    b[0] = 0x00;
    ok(!tn_spf_cidr_match(a, b, 1) && tn_spf_cidr_match(a, b, 0),
       "CIDR /1");

    tn_str_set(&d, "mail.example.com");
    ok(tn_spf_valid_domain(&d), "identity mail.example.com");
    tn_str_set(&d, "A2345678");
    ok(!tn_spf_valid_domain(&d), "identity without a dot");
    tn_str_set(&d, "[1.2.3.5]");
    ok(!tn_spf_valid_domain(&d), "identity address literal");
    tn_str_set(&d, "a...example.com");
    ok(!tn_spf_valid_domain(&d), "identity with an empty label");

    ok(strcmp(tn_spf_result_name(TN_SPF_PERMERROR), "permerror") == 0
       && strcmp(tn_spf_result_name(TN_SPF_NONE), "none") == 0
       && strcmp(tn_spf_result_name(99), "permerror") == 0,
       "result names");
}


int
main(void)
{
    tn_pool_t  *pool;

    tn_pagesize = getpagesize();
    tn_time_init();
    tn_use_stderr = 0;

    test_file.fd = open("/dev/null", O_WRONLY);
    tn_memzero(&test_log, sizeof(tn_log_t));
    test_log.file = &test_file;
    test_log.log_level = TN_LOG_INFO;

    pool = tn_create_pool(4096, &test_log);
    if (pool == NULL) {
        printf("Bail out! pool\n");
        return 1;
    }

    test_records(pool);
    test_terms(pool);
    test_macros();
    test_addresses();

    tn_destroy_pool(pool);

    printf("1..%u\n", (unsigned) tests);

    return failed ? 1 : 0;
}
