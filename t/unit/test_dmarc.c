
/*
 * Copyright (C) The Tern developers
 */


/*
 * modules/dmarc/tn_mail_dmarc_engine.c: the organisational domain with
 * the test vectors of publicsuffix.org (tests/test_psl.txt, the
 * checkPublicSuffix() cases: listed, unlisted, wildcard, exception and
 * IDN names) against the installed list and a small list of our own,
 * the policy record parser (tags, defaults, RFC 7489 6.6.3 for invalid
 * p= with and without rua=), rua= URIs with "!size", domain
 * normalisation, identifier alignment and the policy evaluation with
 * pct= sampling.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_dmarc.h>


#define TN_TEST_PSL  "/usr/share/publicsuffix/public_suffix_list.dat"


static tn_uint_t  tn_test_n;
static tn_uint_t  tn_test_failed;
static tn_log_t   tn_test_log;
static tn_open_file_t  tn_test_file;


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

    printf("%s %u - ", cond ? "ok" : "not ok", (unsigned) tn_test_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


/* the organisational domain of name, "" when name is a public suffix */
static const char *
tn_test_org(tn_dmarc_psl_t *psl, const char *name)
{
    u_char           buf[TN_DMARC_DOMAIN_MAX + 1];
    tn_int_t         n;
    tn_str_t         org;
    static u_char    out[TN_DMARC_DOMAIN_MAX + 1];

    n = tn_dmarc_domain_norm(buf, (u_char *) name, strlen(name));
    if (n == TN_ERROR) {
        return "(invalid)";
    }

    if (tn_dmarc_org_domain(psl, buf, n, &org) != TN_OK) {
        return "";
    }

    tn_memcpy(out, org.data, org.len);
    out[org.len] = '\0';

    return (char *) out;
}


/* publicsuffix.org tests/test_psl.txt, checkPublicSuffix() */
static const char  *tn_test_psl_vectors[][2] = {
    /* mixed case, a leading dot is no domain */
    { "COM", "" },
    { "example.COM", "example.com" },
    { "WwW.example.COM", "example.com" },
    /* unlisted TLD */
    { "example", "" },
    { "example.example", "example.example" },
    { "b.example.example", "example.example" },
    { "a.b.example.example", "example.example" },
    /* a TLD with only one rule, listed in the PRIVATE section */
    { "biz", "" },
    { "domain.biz", "domain.biz" },
    { "b.domain.biz", "domain.biz" },
    { "uk.com", "" },
    { "example.uk.com", "example.uk.com" },
    { "b.example.uk.com", "example.uk.com" },
    { "test.ac", "test.ac" },
    /* TLD with only one (wildcard) rule */
    { "mm", "" },
    { "c.mm", "" },
    { "b.c.mm", "b.c.mm" },
    { "a.b.c.mm", "b.c.mm" },
    /* more complex TLD */
    { "jp", "" },
    { "test.jp", "test.jp" },
    { "www.test.jp", "test.jp" },
    { "ac.jp", "" },
    { "test.ac.jp", "test.ac.jp" },
    { "www.test.ac.jp", "test.ac.jp" },
    { "kyoto.jp", "" },
    { "test.kyoto.jp", "test.kyoto.jp" },
    { "ide.kyoto.jp", "" },
    { "b.ide.kyoto.jp", "b.ide.kyoto.jp" },
    { "a.b.ide.kyoto.jp", "b.ide.kyoto.jp" },
    { "c.kobe.jp", "" },
    { "b.c.kobe.jp", "b.c.kobe.jp" },
    { "a.b.c.kobe.jp", "b.c.kobe.jp" },
    { "city.kobe.jp", "city.kobe.jp" },
    { "www.city.kobe.jp", "city.kobe.jp" },
    /* TLD with a wildcard rule and exceptions */
    { "ck", "" },
    { "test.ck", "" },
    { "b.test.ck", "b.test.ck" },
    { "a.b.test.ck", "b.test.ck" },
    { "www.ck", "www.ck" },
    { "www.www.ck", "www.ck" },
    /* US K12 */
    { "us", "" },
    { "test.us", "test.us" },
    { "www.test.us", "test.us" },
    { "ak.us", "" },
    { "test.ak.us", "test.ak.us" },
    { "www.test.ak.us", "test.ak.us" },
    { "k12.ak.us", "" },
    { "test.k12.ak.us", "test.k12.ak.us" },
    { "www.test.k12.ak.us", "test.k12.ak.us" },
    /* IDN labels (the list has U-labels, we compare A-labels) */
    { "\xe9\xa3\x9f\xe7\x8b\xae.com.cn", "xn--85x722f.com.cn" },
    { "\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn",
      "xn--85x722f.xn--55qx5d.cn" },
    { "www.\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn",
      "xn--85x722f.xn--55qx5d.cn" },
    { "shishi.\xe5\x85\xac\xe5\x8f\xb8.cn", "shishi.xn--55qx5d.cn" },
    { "\xe5\x85\xac\xe5\x8f\xb8.cn", "" },
    { "\xe9\xa3\x9f\xe7\x8b\xae.\xe4\xb8\xad\xe5\x9b\xbd",
      "xn--85x722f.xn--fiqs8s" },
    { "www.\xe9\xa3\x9f\xe7\x8b\xae.\xe4\xb8\xad\xe5\x9b\xbd",
      "xn--85x722f.xn--fiqs8s" },
    { "shishi.\xe4\xb8\xad\xe5\x9b\xbd", "shishi.xn--fiqs8s" },
    { "\xe4\xb8\xad\xe5\x9b\xbd", "" },
    /* the same as A-labels */
    { "xn--85x722f.com.cn", "xn--85x722f.com.cn" },
    { "xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn" },
    { "www.xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn" },
    { "shishi.xn--55qx5d.cn", "shishi.xn--55qx5d.cn" },
    { "xn--55qx5d.cn", "" },
    { "xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s" },
    { "www.xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s" },
    { "shishi.xn--fiqs8s", "shishi.xn--fiqs8s" },
    { "xn--fiqs8s", "" },
    { NULL, NULL }
};


/* a list of our own: the shapes do not depend on the installed list */
static const char  tn_test_mini_psl[] =
    "// ===BEGIN ICANN DOMAINS===\n"
    "com\n"
    "co.uk\n"
    "uk\n"
    "*.wild.test\n"
    "!keep.wild.test\n"
    "  test   // a comment after the rule\r\n"
    "\xe5\x85\xac\xe5\x8f\xb8.cn\n"
    "// ===END ICANN DOMAINS===\n"
    "// ===BEGIN PRIVATE DOMAINS===\n"
    "blogspot.com\n"
    "// ===END PRIVATE DOMAINS===\n";

static const char  *tn_test_mini_vectors[][2] = {
    { "example.com", "example.com" },
    { "a.b.example.com", "example.com" },
    { "x.blogspot.com", "x.blogspot.com" },
    { "blogspot.com", "" },
    { "mail.example.co.uk", "example.co.uk" },
    { "co.uk", "" },
    { "a.b.wild.test", "a.b.wild.test" },
    { "b.wild.test", "" },
    { "keep.wild.test", "keep.wild.test" },
    { "x.keep.wild.test", "keep.wild.test" },
    { "wild.test", "wild.test" },
    { "x.y.test", "y.test" },
    { "a.xn--55qx5d.cn", "a.xn--55qx5d.cn" },
    { "example.", "" },
    { "Example.COM.", "example.com" },
    { "unknown.zz", "unknown.zz" },
    { NULL, NULL }
};


static void
tn_test_psl(tn_pool_t *pool)
{
    tn_uint_t        i;
    const char      *got;
    tn_dmarc_psl_t  *psl;

    psl = tn_dmarc_psl_parse(pool, (u_char *) tn_test_mini_psl,
                             sizeof(tn_test_mini_psl) - 1, &tn_test_log);

    tn_test_ok(psl != NULL && tn_dmarc_psl_rules(psl) == 8,
               "mini list: 8 rules (%u)",
               psl ? (unsigned) tn_dmarc_psl_rules(psl) : 0);

    for (i = 0; psl && tn_test_mini_vectors[i][0]; i++) {
        got = tn_test_org(psl, tn_test_mini_vectors[i][0]);
        tn_test_ok(strcmp(got, tn_test_mini_vectors[i][1]) == 0,
                   "mini list: org of \"%s\" is \"%s\" (\"%s\")",
                   tn_test_mini_vectors[i][0], tn_test_mini_vectors[i][1],
                   got);
    }

    psl = tn_dmarc_psl_parse(pool, (u_char *) "// nothing\n", 11,
                             &tn_test_log);
    tn_test_ok(psl == NULL, "a list without rules is refused");

    psl = tn_dmarc_psl_load(pool, "/nonexistent/psl.dat", &tn_test_log);
    tn_test_ok(psl == NULL, "a missing list file is refused");

    if (access(TN_TEST_PSL, R_OK) != 0) {
        printf("# %s is missing: the publicsuffix.org vectors are "
               "skipped\n", TN_TEST_PSL);
        return;
    }

    psl = tn_dmarc_psl_load(pool, TN_TEST_PSL, &tn_test_log);

    tn_test_ok(psl != NULL && tn_dmarc_psl_rules(psl) > 5000,
               "the installed list loads (%u rules)",
               psl ? (unsigned) tn_dmarc_psl_rules(psl) : 0);

    for (i = 0; psl && tn_test_psl_vectors[i][0]; i++) {
        got = tn_test_org(psl, tn_test_psl_vectors[i][0]);
        tn_test_ok(strcmp(got, tn_test_psl_vectors[i][1]) == 0,
                   "psl: org of \"%s\" is \"%s\" (\"%s\")",
                   tn_test_psl_vectors[i][0], tn_test_psl_vectors[i][1],
                   got);
    }
}


typedef struct {
    const char  *txt;
    tn_int_t     rc;
    tn_uint_t    p;
    tn_uint_t    sp;
    tn_uint_t    adkim;
    tn_uint_t    aspf;
    tn_uint_t    pct;
    const char  *rua;
} tn_test_record_t;


static const tn_test_record_t  tn_test_records[] = {
    { "v=DMARC1; p=reject", TN_OK, 2, 2, 0, 0, 100, "" },
    { "v=DMARC1;p=none", TN_OK, 0, 0, 0, 0, 100, "" },
    { "v=DMARC1; p=quarantine; sp=none; adkim=s; aspf=s; pct=20",
      TN_OK, 1, 0, 1, 1, 20, "" },
    { "v=DMARC1 ; p = reject ; rua = mailto:a@b.example ; ",
      TN_OK, 2, 2, 0, 0, 100, "mailto:a@b.example" },
    { "v=DMARC1; P=Reject; ADKIM=S", TN_OK, 2, 2, 1, 0, 100, "" },
    { "v=DMARC1; p=reject; np=quarantine; psd=n; t=y; x=unknown",
      TN_OK, 2, 2, 0, 0, 100, "" },
    { "v=DMARC1; p=none; rua=mailto:r@x.example,mailto:s@y.example!10m",
      TN_OK, 0, 0, 0, 0, 100,
      "mailto:r@x.example,mailto:s@y.example!10m" },
    { "v=DMARC1; p=reject; pct=0", TN_OK, 2, 2, 0, 0, 0, "" },
    /* not DMARC records */
    { "v=spf1 -all", TN_DECLINED, 0, 0, 0, 0, 0, NULL },
    { "p=reject; v=DMARC1", TN_DECLINED, 0, 0, 0, 0, 0, NULL },
    { "v=DMARC2; p=reject", TN_DECLINED, 0, 0, 0, 0, 0, NULL },
    { "v=dmarc1; p=reject", TN_DECLINED, 0, 0, 0, 0, 0, NULL },
    { "", TN_DECLINED, 0, 0, 0, 0, 0, NULL },
    { "v", TN_DECLINED, 0, 0, 0, 0, 0, NULL },
    /* invalid: ignored (RFC 7489 6.6.3) */
    { "v=DMARC1", TN_ERROR, 0, 0, 0, 0, 0, NULL },
    { "v=DMARC1; p=block", TN_ERROR, 0, 0, 0, 0, 0, NULL },
    { "v=DMARC1; p=reject; sp=maybe", TN_ERROR, 0, 0, 0, 0, 0, NULL },
    { "v=DMARC1; p=reject; pct=101", TN_ERROR, 0, 0, 0, 0, 0, NULL },
    { "v=DMARC1; p=reject; pct=x", TN_ERROR, 0, 0, 0, 0, 0, NULL },
    { "v=DMARC1; p=reject; adkim=x", TN_ERROR, 0, 0, 0, 0, 0, NULL },
    { "v=DMARC1; p=reject; =x", TN_ERROR, 0, 0, 0, 0, 0, NULL },
    { "v=DMARC1; p=reject; rua", TN_ERROR, 0, 0, 0, 0, 0, NULL },
    /* no valid p= but a valid rua=: p=none */
    { "v=DMARC1; rua=mailto:d@x.example", TN_OK, 0, 0, 0, 0, 100,
      "mailto:d@x.example" },
    { "v=DMARC1; p=bogus; rua=https://x, mailto:d@x.example", TN_OK,
      0, 0, 0, 0, 100, "https://x, mailto:d@x.example" },
    { "v=DMARC1; p=bogus; rua=mailto:nodomain", TN_ERROR, 0, 0, 0, 0, 0,
      NULL },
    { NULL, 0, 0, 0, 0, 0, 0, NULL }
};


static void
tn_test_record(void)
{
    size_t                   i, k, len;
    tn_int_t                 rc, rc1;
    tn_dmarc_record_t        r;
    const tn_test_record_t  *t;
    u_char                   buf[256];

    for (i = 0; tn_test_records[i].txt; i++) {
        t = &tn_test_records[i];
        len = strlen(t->txt);

        rc = tn_dmarc_record_parse((u_char *) t->txt, len, &r);

        if (t->rc != TN_OK || rc != TN_OK) {
            tn_test_ok(rc == t->rc, "record \"%s\": rc %d (%d)", t->txt,
                       (int) t->rc, (int) rc);
            continue;
        }

        tn_test_ok(r.p == t->p && r.sp == t->sp && r.adkim == t->adkim
                   && r.aspf == t->aspf && r.pct == t->pct
                   && r.rua.len == strlen(t->rua)
                   && tn_memcmp(r.rua.data, t->rua, r.rua.len) == 0,
                   "record \"%s\": p=%u sp=%u adkim=%u aspf=%u pct=%u",
                   t->txt, (unsigned) r.p, (unsigned) r.sp,
                   (unsigned) r.adkim, (unsigned) r.aspf, (unsigned) r.pct);
    }

    /* every prefix of every record parses without reading past it */

    rc1 = TN_OK;

    for (i = 0; tn_test_records[i].txt; i++) {
        len = strlen(tn_test_records[i].txt);

        for (k = 0; k <= len; k++) {
            tn_memcpy(buf, tn_test_records[i].txt, k);
            rc = tn_dmarc_record_parse(buf, k, &r);

            if (rc != TN_OK && rc != TN_DECLINED && rc != TN_ERROR) {
                rc1 = TN_ERROR;
            }
        }
    }

    tn_test_ok(rc1 == TN_OK, "every prefix of the records parses");

    tn_test_ok(tn_dmarc_record_parse((u_char *) "v=DMARC1; p=none", 16, &r)
               == TN_OK && r.ri == 86400 && r.fo.len == 1
               && r.fo.data[0] == '0' && r.rua.len == 0 && !r.sp_set,
               "defaults: ri=86400, fo=0, sp=p");
}


static void
tn_test_uris(void)
{
    u_char          *pos, *last;
    tn_int_t         rc;
    tn_dmarc_uri_t   u;
    const char      *list;

    list = " mailto:a@x.example , mailto:b@y.example!10m,"
           "https://r.example/x, mailto:broken, mailto:c@z.example!5,"
           "mailto:d@w.example!2g, nonsense, mailto:e@v.example!3q,,";
    pos = (u_char *) list;
    last = pos + strlen(list);

    rc = tn_dmarc_uri_next(&pos, last, &u);
    tn_test_ok(rc == TN_OK && u.address.len == 11
               && tn_memcmp(u.address.data, "a@x.example", 11) == 0
               && u.domain.len == 9 && u.max_size == 0,
               "rua: a plain mailto:");

    rc = tn_dmarc_uri_next(&pos, last, &u);
    tn_test_ok(rc == TN_OK && u.address.len == 11
               && u.max_size == 10 * 1024 * 1024, "rua: !10m");

    rc = tn_dmarc_uri_next(&pos, last, &u);
    tn_test_ok(rc == TN_DECLINED, "rua: https: is another scheme");

    rc = tn_dmarc_uri_next(&pos, last, &u);
    tn_test_ok(rc == TN_ERROR, "rua: mailto: without a domain");

    rc = tn_dmarc_uri_next(&pos, last, &u);
    tn_test_ok(rc == TN_OK && u.max_size == 5, "rua: !5 (bytes)");

    rc = tn_dmarc_uri_next(&pos, last, &u);
    tn_test_ok(rc == TN_OK && u.max_size == 2ULL * 1024 * 1024 * 1024,
               "rua: !2g");

    rc = tn_dmarc_uri_next(&pos, last, &u);
    tn_test_ok(rc == TN_ERROR, "rua: no scheme at all");

    rc = tn_dmarc_uri_next(&pos, last, &u);
    tn_test_ok(rc == TN_ERROR, "rua: a bad size unit");

    rc = tn_dmarc_uri_next(&pos, last, &u);
    tn_test_ok(rc == TN_DONE, "rua: the end (empty items skipped)");

    pos = (u_char *) "mailto:a@b@c.example";
    rc = tn_dmarc_uri_next(&pos, pos + 20, &u);
    tn_test_ok(rc == TN_ERROR, "rua: two @");

    pos = (u_char *) "mailto:a@b.example?subject=x";
    rc = tn_dmarc_uri_next(&pos, pos + 28, &u);
    tn_test_ok(rc == TN_ERROR, "rua: URI headers are refused");
}


static void
tn_test_norm(void)
{
    u_char    buf[TN_DMARC_DOMAIN_MAX + 1];
    tn_int_t  n;

    n = tn_dmarc_domain_norm(buf, (u_char *) "Mail.Example.COM.", 17);
    tn_test_ok(n == 16 && strcmp((char *) buf, "mail.example.com") == 0,
               "norm: lower case, the trailing dot goes");

    n = tn_dmarc_domain_norm(buf, (u_char *) "b\xc3\xbc" "cher.example",
                             15);
    tn_test_ok(n > 0 && strcmp((char *) buf, "xn--bcher-kva.example") == 0,
               "norm: U-labels become A-labels (%s)", buf);

    tn_test_ok(tn_dmarc_domain_norm(buf, (u_char *) "[192.0.2.1]", 11)
               == TN_ERROR, "norm: a literal is no domain");
    tn_test_ok(tn_dmarc_domain_norm(buf, (u_char *) "a..b", 4) == TN_ERROR,
               "norm: an empty label");
    tn_test_ok(tn_dmarc_domain_norm(buf, (u_char *) "a b.example", 11)
               == TN_ERROR, "norm: a space");
    tn_test_ok(tn_dmarc_domain_norm(buf, (u_char *) "a\0b.example", 11)
               == TN_ERROR, "norm: a NUL (no truncation)");
    tn_test_ok(tn_dmarc_domain_norm(buf, (u_char *) "", 0) == TN_ERROR,
               "norm: empty");
}


static tn_mail_auth_result_t
tn_test_result(const char *method, tn_uint_t result, const char *domain)
{
    tn_mail_auth_result_t  r;

    tn_memzero(&r, sizeof(tn_mail_auth_result_t));
    r.method = method;
    r.result = result;
    r.domain.data = (u_char *) domain;
    r.domain.len = strlen(domain);

    return r;
}


static void
tn_test_align(tn_pool_t *pool)
{
    tn_str_t                a, b;
    tn_dmarc_psl_t         *psl;
    tn_dmarc_eval_t         e;
    tn_dmarc_record_t       r;
    tn_mail_auth_result_t   res[4];

    psl = tn_dmarc_psl_parse(pool, (u_char *) tn_test_mini_psl,
                             sizeof(tn_test_mini_psl) - 1, &tn_test_log);
    if (psl == NULL) {
        tn_test_ok(0, "align: the list");
        return;
    }

#define STR(s, v)  (s).data = (u_char *) v; (s).len = strlen(v)

    STR(a, "example.com");
    STR(b, "mail.example.com");
    tn_test_ok(tn_dmarc_aligned(psl, &a, &b, TN_DMARC_ALIGN_RELAXED),
               "align: relaxed, a subdomain");
    tn_test_ok(!tn_dmarc_aligned(psl, &a, &b, TN_DMARC_ALIGN_STRICT),
               "align: strict, a subdomain is not");
    STR(b, "example.com");
    tn_test_ok(tn_dmarc_aligned(psl, &a, &b, TN_DMARC_ALIGN_STRICT),
               "align: strict, the same domain");
    STR(a, "a.example.co.uk");
    STR(b, "b.example.co.uk");
    tn_test_ok(tn_dmarc_aligned(psl, &a, &b, TN_DMARC_ALIGN_RELAXED),
               "align: relaxed, siblings under co.uk");
    STR(a, "example.co.uk");
    STR(b, "other.co.uk");
    tn_test_ok(!tn_dmarc_aligned(psl, &a, &b, TN_DMARC_ALIGN_RELAXED),
               "align: two registrations under co.uk are not");
    STR(a, "a.blogspot.com");
    STR(b, "b.blogspot.com");
    tn_test_ok(!tn_dmarc_aligned(psl, &a, &b, TN_DMARC_ALIGN_RELAXED),
               "align: private-section suffixes count");
    STR(a, "example.com");
    STR(b, "");
    tn_test_ok(!tn_dmarc_aligned(psl, &a, &b, TN_DMARC_ALIGN_RELAXED),
               "align: an empty identifier never aligns");

    /* evaluation */

    (void) tn_dmarc_record_parse((u_char *) "v=DMARC1; p=reject; sp=quarantine",
                                 33, &r);

    tn_memzero(&e, sizeof(tn_dmarc_eval_t));
    STR(e.from, "example.com");
    e.org = e.from;
    e.record = &r;

    res[0] = tn_test_result("spf", TN_MAIL_AUTH_FAIL, "example.com");
    tn_dmarc_evaluate(psl, &e, res, 1);
    tn_test_ok(!e.pass && e.disposition == TN_DMARC_POLICY_REJECT
               && e.policy == TN_DMARC_POLICY_REJECT,
               "eval: SPF fail, no DKIM: reject");

    res[0] = tn_test_result("spf", TN_MAIL_AUTH_PASS, "bounce.example.com");
    tn_dmarc_evaluate(psl, &e, res, 1);
    tn_test_ok(e.pass && e.spf_aligned && !e.dkim_aligned
               && e.disposition == TN_DMARC_POLICY_NONE,
               "eval: SPF pass, relaxed aligned: pass");

    r.aspf = TN_DMARC_ALIGN_STRICT;
    tn_dmarc_evaluate(psl, &e, res, 1);
    tn_test_ok(!e.pass, "eval: SPF pass of a subdomain, strict: fail");
    r.aspf = TN_DMARC_ALIGN_RELAXED;

    res[0] = tn_test_result("spf", TN_MAIL_AUTH_PASS, "other.example");
    tn_dmarc_evaluate(psl, &e, res, 1);
    tn_test_ok(!e.pass, "eval: SPF pass of another domain: fail");

    /* forwarded: SPF fails, an aligned DKIM signature passes */
    res[0] = tn_test_result("spf", TN_MAIL_AUTH_FAIL, "forwarder.example");
    res[1] = tn_test_result("dkim", TN_MAIL_AUTH_FAIL, "example.com");
    res[2] = tn_test_result("dkim", TN_MAIL_AUTH_PASS, "other.example");
    res[3] = tn_test_result("dkim", TN_MAIL_AUTH_PASS, "s.example.com");
    tn_dmarc_evaluate(psl, &e, res, 4);
    tn_test_ok(e.pass && e.dkim_aligned && !e.spf_aligned
               && e.dkim_domain.len == 13,
               "eval: any aligned DKIM pass passes");

    /* a mailing list broke the signature */
    res[3] = tn_test_result("dkim", TN_MAIL_AUTH_FAIL, "example.com");
    tn_dmarc_evaluate(psl, &e, res, 4);
    tn_test_ok(!e.pass && e.disposition == TN_DMARC_POLICY_REJECT,
               "eval: DKIM fail and SPF fail: fail");

    /* a result of another method is not SPF or DKIM */
    res[0] = tn_test_result("dmarc", TN_MAIL_AUTH_PASS, "example.com");
    tn_dmarc_evaluate(psl, &e, res, 1);
    tn_test_ok(!e.pass, "eval: only spf and dkim results count");

    /* the org domain's record: sp= */
    res[0] = tn_test_result("spf", TN_MAIL_AUTH_FAIL, "example.com");
    STR(e.from, "sub.example.com");
    STR(e.org, "example.com");
    e.at_org = 1;
    tn_dmarc_evaluate(psl, &e, res, 1);
    tn_test_ok(e.policy == TN_DMARC_POLICY_QUARANTINE
               && e.disposition == TN_DMARC_POLICY_QUARANTINE,
               "eval: the org domain's record applies sp=");

    /* pct= */
    e.at_org = 0;
    r.pct = 30;
    e.random = 29;
    tn_dmarc_evaluate(psl, &e, res, 1);
    tn_test_ok(e.disposition == TN_DMARC_POLICY_REJECT && !e.sampled_out,
               "eval: pct=30, sampled in");
    e.random = 30;
    tn_dmarc_evaluate(psl, &e, res, 1);
    tn_test_ok(e.disposition == TN_DMARC_POLICY_QUARANTINE && e.sampled_out,
               "eval: pct=30, sampled out: quarantine");
    r.p = TN_DMARC_POLICY_QUARANTINE;
    tn_dmarc_evaluate(psl, &e, res, 1);
    tn_test_ok(e.disposition == TN_DMARC_POLICY_NONE && e.sampled_out,
               "eval: pct=30, quarantine sampled out: none");
    r.pct = 0;
    e.random = 0;
    tn_dmarc_evaluate(psl, &e, res, 1);
    tn_test_ok(e.disposition == TN_DMARC_POLICY_NONE,
               "eval: pct=0: never applied");

#undef STR
}


int
main(void)
{
    tn_pool_t  *pool;

    tn_pagesize = getpagesize();
    tn_time_init();

    tn_test_file.fd = open("/dev/null", O_WRONLY|O_CLOEXEC);
    tn_memzero(&tn_test_log, sizeof(tn_log_t));
    tn_test_log.file = &tn_test_file;
    tn_test_log.log_level = TN_LOG_CRIT;

    pool = tn_create_pool(16384, &tn_test_log);
    if (pool == NULL) {
        printf("Bail out! pool\n");
        return 1;
    }

    tn_test_norm();
    tn_test_psl(pool);
    tn_test_record();
    tn_test_uris();
    tn_test_align(pool);

    tn_destroy_pool(pool);

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
