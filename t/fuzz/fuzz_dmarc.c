
/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for the DMARC engine (modules/dmarc/
 * tn_mail_dmarc_engine.c).
 *
 * Input: byte 0 picks what is fed (0 a policy record, 1 a rua= list,
 * 2 a domain for the organisational domain and the alignment); the rest
 * is the text, in a buffer of exactly its size (ASan sees an overread).
 * Checks:
 *   - records: TN_OK, TN_DECLINED or TN_ERROR; a parsed record has p,
 *     sp in range, pct <= 100, rua= and fo= inside the input; its rua=
 *     has a valid URI when p= was assumed;
 *   - rua lists: every URI inside the list, the walk ends, addresses
 *     have one '@' with text on each side;
 *   - domains: the org domain is a tail of the name, starts at a label,
 *     and a name is always aligned with itself and its org domain
 *     (relaxed), and with its org domain strictly only when equal.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_dmarc.h>


#define TN_FUZZ_MAX    (16 * 1024)


static tn_log_t         tn_fuzz_log;
static tn_dmarc_psl_t  *tn_fuzz_psl;


static const char  tn_fuzz_psl_text[] =
    "com\nco.uk\nuk\n*.ck\n!www.ck\n*.kobe.jp\n!city.kobe.jp\njp\n"
    "\xe5\x85\xac\xe5\x8f\xb8.cn\ncn\n// ===BEGIN PRIVATE DOMAINS===\n"
    "blogspot.com\n";


#define tn_fuzz_inside(s, p, len)                                            \
    ((s).len == 0 || ((s).data >= (p) && (s).data + (s).len <= (p) + (len)))


static void
tn_fuzz_record(u_char *p, size_t len)
{
    u_char             *pos;
    tn_int_t            rc;
    tn_uint_t           ok;
    tn_dmarc_uri_t      u;
    tn_dmarc_record_t   r;

    rc = tn_dmarc_record_parse(p, len, &r);

    if (rc != TN_OK && rc != TN_DECLINED && rc != TN_ERROR) {
        abort();
    }

    if (rc != TN_OK) {
        return;
    }

    if (r.p > TN_DMARC_POLICY_REJECT || r.sp > TN_DMARC_POLICY_REJECT
        || r.pct > 100 || r.adkim > 1 || r.aspf > 1
        || !tn_fuzz_inside(r.rua, p, len) || !tn_fuzz_inside(r.ruf, p, len))
    {
        abort();
    }

    if (r.p_assumed) {
        ok = 0;
        pos = r.rua.data;

        while ((rc = tn_dmarc_uri_next(&pos, r.rua.data + r.rua.len, &u))
               != TN_DONE)
        {
            if (rc == TN_OK) {
                ok = 1;
            }
        }

        if (!ok) {
            abort();
        }
    }
}


static void
tn_fuzz_rua(u_char *p, size_t len)
{
    u_char          *pos, *prev, *at;
    tn_int_t         rc;
    tn_uint_t        n;
    tn_dmarc_uri_t   u;

    pos = p;

    for (n = 0; n <= len + 1; n++) {
        prev = pos;
        rc = tn_dmarc_uri_next(&pos, p + len, &u);

        if (rc == TN_DONE) {
            return;
        }

        if (pos <= prev || pos > p + len || !tn_fuzz_inside(u.uri, p, len)) {
            abort();
        }

        if (rc != TN_OK) {
            continue;
        }

        at = memchr(u.address.data, '@', u.address.len);

        if (at == NULL || at == u.address.data
            || u.domain.data != at + 1 || u.domain.len == 0
            || memchr(at + 1, '@', u.domain.len) != NULL
            || !tn_fuzz_inside(u.address, p, len))
        {
            abort();
        }
    }

    /* the walk did not end */
    abort();
}


static void
tn_fuzz_domain(u_char *p, size_t len)
{
    u_char    buf[TN_DMARC_DOMAIN_MAX + 1];
    tn_int_t  n, rc;
    tn_str_t  d, org;

    n = tn_dmarc_domain_norm(buf, p, len);
    if (n == TN_ERROR) {
        return;
    }

    if ((size_t) n != strlen((char *) buf)) {
        abort();
    }

    rc = tn_dmarc_org_domain(tn_fuzz_psl, buf, n, &org);

    if (org.data < buf || org.data + org.len != buf + n
        || (org.data > buf && org.data[-1] != '.')
        || (rc == TN_DECLINED && org.len != (size_t) n))
    {
        abort();
    }

    d.data = buf;
    d.len = n;

    if (!tn_dmarc_aligned(tn_fuzz_psl, &d, &d, TN_DMARC_ALIGN_STRICT)
        || !tn_dmarc_aligned(tn_fuzz_psl, &d, &org, TN_DMARC_ALIGN_RELAXED)
        || tn_dmarc_aligned(tn_fuzz_psl, &d, &org, TN_DMARC_ALIGN_STRICT)
           != (org.len == d.len))
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *p;
    size_t      len;
    tn_pool_t  *pool;

    if (size < 1 || size > TN_FUZZ_MAX) {
        return 0;
    }

    if (tn_pagesize == 0) {
        tn_pagesize = getpagesize();
        tn_memzero(&tn_fuzz_log, sizeof(tn_log_t));

        pool = tn_create_pool(16384, &tn_fuzz_log);
        if (pool == NULL) {
            abort();
        }

        tn_fuzz_psl = tn_dmarc_psl_parse(pool, (u_char *) tn_fuzz_psl_text,
                                         sizeof(tn_fuzz_psl_text) - 1,
                                         &tn_fuzz_log);
        if (tn_fuzz_psl == NULL) {
            abort();
        }
    }

    len = size - 1;

    p = malloc(len ? len : 1);
    if (p == NULL) {
        return 0;
    }

    tn_memcpy(p, data + 1, len);

    switch (data[0] % 3) {
    case 0:
        tn_fuzz_record(p, len);
        break;
    case 1:
        tn_fuzz_rua(p, len);
        break;
    default:
        tn_fuzz_domain(p, len);
    }

    free(p);

    return 0;
}
