
/*
 * Copyright (C) The Tern developers
 */


/*
 * The DKIM engine (modules/dkim/tn_mail_dkim*.c): the tag-list parser,
 * signature fields and key records, both canonicalisations (the example
 * of RFC 6376 3.4.6 among others, every body fed whole, byte by byte
 * and in random pieces), l=, header selection with oversigning, and
 * signing checked by verifying, RSA and Ed25519.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_dkim.h>
#include <openssl/curve25519.h>
#include <openssl/rsa.h>
#include <openssl/bn.h>
#include <openssl/mem.h>
#include <openssl/x509.h>


static tn_uint_t   tn_test_n;
static tn_uint_t   tn_test_failed;
static uint64_t    tn_test_seed = 88172645463325252ULL;
static tn_log_t    tn_test_log;
static tn_pool_t  *tn_test_pool;


static void
tn_test_ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
        printf("not ");
    }

    printf("ok %u - ", (unsigned) tn_test_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
    fflush(stdout);
}


static size_t
tn_test_rand(size_t n)
{
    tn_test_seed ^= tn_test_seed << 13;
    tn_test_seed ^= tn_test_seed >> 7;
    tn_test_seed ^= tn_test_seed << 17;

    return (size_t) (tn_test_seed % n);
}


/* text for a test name: line ends and tabs escaped */
static char *
tn_test_esc(const char *s)
{
    char        *p;
    static char  buf[4][256];
    static int   k;

    p = buf[k = (k + 1) % 4];

    for ( ; *s && p < buf[k] + 250; s++) {
        if (*s == '\n' || *s == '\r' || *s == '\t') {
            *p++ = '\\';
            *p++ = (*s == '\n') ? 'n' : (*s == '\r') ? 'r' : 't';

        } else {
            *p++ = *s;
        }
    }

    *p = '\0';

    return buf[k];
}


/* tag lists: input, tags expected (-1: invalid), a tag and its value */
static struct {
    const char  *in;
    int          n;
    const char  *name;
    const char  *value;
} tn_test_tags[] = {
    { "v=1; a=rsa-sha256", 2, "a", "rsa-sha256" },
    { "v=1;a=x;", 2, "a", "x" },
    { " v = 1 ; a = b c ", 2, "a", "b c" },
    { "v=1;   ", 1, "v", "1" },
    { "", 0, NULL, NULL },
    { "a_b1=x", 1, "a_b1", "x" },
    { "p=", 1, "p", "" },
    { "p=abc\n def", 1, "p", "abc\n def" },
    { "p=abc\r\n\tdef ;", 1, "p", "abc\r\n\tdef" },
    { "v=1\n", 1, "v", "1" },
    { "x=a:b/c@d", 1, "x", "a:b/c@d" },
    { "v=1; v=2", -1, NULL, NULL },
    { "v=1; =x", -1, NULL, NULL },
    { "1v=x", -1, NULL, NULL },
    { "v", -1, NULL, NULL },
    { "v=1;; a=2", -1, NULL, NULL },
    { "v=a;b", -1, NULL, NULL },
    { "p=abc\ndef", -1, NULL, NULL },
    { "v=\x80", -1, NULL, NULL },
    { "v=a\0b", -1, NULL, NULL },
    { "v-x=1", -1, NULL, NULL },
    { "v=1;\n\n a=2", -1, NULL, NULL },
    { NULL, 0, NULL, NULL }
};


static void
tn_test_tag_list(void)
{
    size_t          len;
    tn_str_t       *v;
    tn_uint_t       i, n;
    tn_int_t        rc;
    const char     *err, *in;
    tn_dkim_tag_t   tags[8];

    for (i = 0; tn_test_tags[i].in; i++) {
        in = tn_test_tags[i].in;
        len = strlen(in);

        if (strcmp(in, "v=a") == 0) {
            len = 5;        /* with its NUL */
        }

        err = NULL;
        rc = tn_dkim_parse_tags((u_char *) in, len, tags, 8, &n, &err);

        if (tn_test_tags[i].n < 0) {
            tn_test_ok(rc == TN_ERROR && err != NULL,
                       "tag list \"%s\" is invalid (%s)", tn_test_esc(in),
                       err ? err : "-");
            continue;
        }

        tn_test_ok(rc == TN_OK && n == (tn_uint_t) tn_test_tags[i].n,
                   "tag list \"%s\": %d tags", tn_test_esc(in),
                   tn_test_tags[i].n);

        if (tn_test_tags[i].name) {
            v = tn_dkim_tag(tags, n, tn_test_tags[i].name);
            tn_test_ok(v != NULL
                       && v->len == strlen(tn_test_tags[i].value)
                       && memcmp(v->data, tn_test_tags[i].value, v->len)
                          == 0,
                       "tag list \"%s\": %s=\"%s\"", tn_test_esc(in),
                       tn_test_tags[i].name,
                       tn_test_esc(tn_test_tags[i].value));
        }
    }

    /* too many tags */
    rc = tn_dkim_parse_tags((u_char *) "a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8;i=9",
                            35, tags, 8, &n, &err);
    tn_test_ok(rc == TN_ERROR, "tag list: more tags than room is invalid");
}


static tn_str_t
tn_test_hex(u_char *md)
{
    tn_str_t  s;

    s.data = tn_pnalloc(tn_test_pool, 65);
    s.len = tn_hex_dump(s.data, md, 32) - s.data;
    s.data[s.len] = '\0';

    return s;
}


/*
 * Hashes body with canon and limit fed in mode (0 whole, 1 byte by byte,
 * 2.. random pieces) and compares with the SHA-256 of the expected text.
 */
static void
tn_test_body(const char *body, tn_uint_t canon, off_t limit,
    const char *expect)
{
    off_t           length;

    u_char          md[32], want[32];
    size_t          len, pos, n, hashed;
    tn_uint_t       mode, ok;
    tn_dkim_body_t  b;

    len = strlen(body);
    hashed = strlen(expect);
    length = hashed;

    if (limit >= 0 && (size_t) limit < hashed) {
        hashed = limit;
    }

    SHA256((u_char *) expect, hashed, want);

    ok = 1;

    for (mode = 0; mode < 6; mode++) {
        tn_dkim_body_init(&b, canon, limit);

        for (pos = 0; pos < len; pos += n) {
            n = (mode == 0) ? len
                : (mode == 1) ? 1 : 1 + tn_test_rand(len - pos);

            tn_dkim_body_update(&b, (u_char *) body + pos, n);
        }

        tn_dkim_body_final(&b, md);

        if (memcmp(md, want, 32) != 0 || b.length != length) {
            ok = 0;
            printf("# mode %u: %s length %d\n", (unsigned) mode,
                   tn_test_hex(md).data, (int) b.length);
        }
    }

    tn_test_ok(ok, "body %s \"%s\" l=%d", canon ? "relaxed" : "simple",
               tn_test_esc(body), (int) limit);
}


static void
tn_test_header(const char *field, tn_uint_t canon, const char *expect)
{
    u_char    buf[256], *last;
    tn_str_t  f;

    f.data = (u_char *) field;
    f.len = strlen(field);

    last = tn_dkim_canon_header(buf, &f, canon, 0, 0, 0);

    tn_test_ok((size_t) (last - buf) == strlen(expect)
               && memcmp(buf, expect, last - buf) == 0,
               "header %s \"%s\"", canon ? "relaxed" : "simple",
               tn_test_esc(field));
}


static void
tn_test_canon(void)
{
    /* RFC 6376 3.4.6, with LF line ends as the checks get them */

    tn_test_header("A: X\n", TN_DKIM_RELAXED, "a:X\r\n");
    tn_test_header("B : Y\t\n\tZ  \n", TN_DKIM_RELAXED, "b:Y Z\r\n");
    tn_test_header("A: X\n", TN_DKIM_SIMPLE, "A: X\r\n");
    tn_test_header("B : Y\t\n\tZ  \n", TN_DKIM_SIMPLE, "B : Y\t\r\n\tZ  \r\n");
    tn_test_body(" C \nD \t E\n\n\n", TN_DKIM_RELAXED, -1, " C\r\nD E\r\n");
    tn_test_body(" C \nD \t E\n\n\n", TN_DKIM_SIMPLE, -1,
                 " C \r\nD \t E\r\n");

    tn_test_header("Subject:\n\tfoo   bar\n", TN_DKIM_RELAXED,
                   "subject:foo bar\r\n");
    tn_test_header("SUBJECT :  \n", TN_DKIM_RELAXED, "subject:\r\n");
    tn_test_header("X: a\rb \r\n", TN_DKIM_RELAXED, "x:a\rb\r\n");
    tn_test_header("X: a\r\n b\r\n", TN_DKIM_SIMPLE, "X: a\r\n b\r\n");

    /* empty bodies: RFC 6376 3.4.3 and 3.4.4 */
    tn_test_body("", TN_DKIM_SIMPLE, -1, "\r\n");
    tn_test_body("", TN_DKIM_RELAXED, -1, "");
    tn_test_body("\n\n\n", TN_DKIM_SIMPLE, -1, "\r\n");
    tn_test_body(" \n\t\n", TN_DKIM_RELAXED, -1, "");

    /* inner empty lines stay, trailing ones go */
    tn_test_body("a\n\n\nb\n\n", TN_DKIM_SIMPLE, -1, "a\r\n\r\n\r\nb\r\n");
    tn_test_body("a  \t b \n \t \nc\n", TN_DKIM_RELAXED, -1,
                 "a b\r\n\r\nc\r\n");
    tn_test_body("  lead\n", TN_DKIM_RELAXED, -1, " lead\r\n");

    /* a last line without its line end */
    tn_test_body("abc", TN_DKIM_SIMPLE, -1, "abc\r\n");
    tn_test_body("abc  ", TN_DKIM_RELAXED, -1, "abc\r\n");

    /* l= counts canonical bytes */
    tn_test_body("hello\nworld\n", TN_DKIM_SIMPLE, 7, "hello\r\nworld\r\n");
    tn_test_body("hello\nworld\n", TN_DKIM_SIMPLE, 0, "hello\r\nworld\r\n");
    tn_test_body("hello\n\n\n", TN_DKIM_SIMPLE, 100, "hello\r\n");
}


static const char  tn_test_sig[] =
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed; d=Example.COM;\n"
    "\ts=sel1; i=joe@mail.example.com; h=From : To:subject;\n"
    "\tl=123; t=1000; x=2000; q=dns/txt;\n"
    "\tbh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\n"
    "\tb=dGVzdA==\n";


static void
tn_test_sig_fields(void)
{
    u_char         buf[1024], *last;
    tn_str_t       f;
    tn_int_t       rc;
    const char    *err;
    tn_dkim_sig_t  sig;

    f.data = (u_char *) tn_test_sig;
    f.len = sizeof(tn_test_sig) - 1;

    rc = tn_dkim_parse_sig(tn_test_pool, &f, &sig, &err);

    tn_test_ok(rc == TN_OK, "signature parsed");
    tn_test_ok(sig.alg == TN_DKIM_RSA_SHA256
               && sig.hcanon == TN_DKIM_RELAXED
               && sig.bcanon == TN_DKIM_SIMPLE,
               "signature: a=, c=relaxed means relaxed/simple");
    tn_test_ok(sig.domain.len == 11
               && memcmp(sig.domain.data, "example.com", 11) == 0
               && sig.selector.len == 4
               && sig.auid_domain.len == 16,
               "signature: d= in lower case, s=, i=");
    tn_test_ok(sig.nh == 3 && sig.h[0].len == 4 && sig.h[1].len == 2
               && memcmp(sig.h[2].data, "subject", 7) == 0,
               "signature: h= with FWS around a colon");
    tn_test_ok(sig.length == 123 && sig.timestamp == 1000
               && sig.expire == 2000,
               "signature: l=, t=, x=");
    tn_test_ok(sig.b.len == 4 && memcmp(sig.b.data, "test", 4) == 0
               && sig.b_text.len == 8,
               "signature: b= decoded");

    last = tn_dkim_canon_header(buf, &f, TN_DKIM_SIMPLE, sig.b_start,
                                sig.b_end, 1);
    tn_test_ok(last - buf > 10 && memcmp(last - 6, ";\r\n\tb=", 6) == 0,
               "signature: simple, without its b= value and line end");

    last = tn_dkim_canon_header(buf, &f, TN_DKIM_RELAXED, sig.b_start,
                                sig.b_end, 1);
    tn_test_ok(memcmp(buf, "dkim-signature:v=1; a=rsa-sha256;", 33) == 0
               && memcmp(last - 5, "=; b=", 5) == 0,
               "signature: relaxed, without its b= value and line end");
}


static struct {
    const char  *field;
    const char  *err;      /* NULL: valid */
} tn_test_sigs[] = {
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a.b; s=s; h=from; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\n", NULL },
    { "dkim-signature : v=1; a=ed25519-sha256; d=a.b; s=s; h=to:From; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==;\n", NULL },
    { "DKIM-Signature: v=1; a=rsa-sha1; d=a.b; s=s; h=from; bh="
      "2jmj7l5rSw0yVb/vlWAYkK/YBwk=; b=dGVzdA==\n", NULL },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a.b; s=s; h=to; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\n",
      "h= does not include From" },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a.b; s=s; h=from; i=@c.d; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\n",
      "i= domain not within d=" },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a.b; s=s; h=from; i=@xa.b; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\n",
      "i= domain not within d=" },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a.b; s=s; h=from; d=a.b; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\n",
      "duplicate tag" },
    { "DKIM-Signature: v=1; a=rsa-md5; d=a.b; s=s; h=from; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\n",
      "unknown algorithm a=" },
    { "DKIM-Signature: v=2; a=rsa-sha256; d=a.b; s=s; h=from; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\n",
      "unknown version v=" },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a.b; s=s; h=from; bh="
      "dGVzdA==; b=dGVzdA==\n", "bad bh= value" },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a.b; s=s; h=from; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==; l=-1\n",
      "bad l= value" },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a.b; s=s; h=from; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==; t=5; x=4\n",
      "x= not after t=" },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a..b; s=s; h=from; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\n",
      "bad d= domain" },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=evil.example/x; s=s; h=from; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\n",
      "bad d= domain" },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a.b; s=s; h=from; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==; "
      "c=relaxed/fancy\n", "unknown canonicalization c=" },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a.b; s=s; h=from; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==; q=http\n",
      "q= without dns/txt" },
    { "DKIM-Signature: v=1; a=rsa-sha256; s=s; h=from; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\n",
      "no d= tag" },
    { "DKIM-Signature: v=1; a=rsa-sha256; d=a.b; s=s; h=from:; bh="
      "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA==\n",
      "bad h= list" },
    { NULL, NULL }
};


static void
tn_test_sig_cases(void)
{
    tn_str_t       f;
    tn_int_t       rc;
    tn_uint_t      i;
    const char    *err;
    tn_dkim_sig_t  sig;

    for (i = 0; tn_test_sigs[i].field; i++) {
        f.data = (u_char *) tn_test_sigs[i].field;
        f.len = strlen(tn_test_sigs[i].field);
        err = NULL;

        rc = tn_dkim_parse_sig(tn_test_pool, &f, &sig, &err);

        if (tn_test_sigs[i].err == NULL) {
            tn_test_ok(rc == TN_OK, "signature %u valid (%s)", (unsigned) i,
                       err ? err : "-");

        } else {
            tn_test_ok(rc == TN_DECLINED && err
                       && strcmp(err, tn_test_sigs[i].err) == 0,
                       "signature %u: %s (%s)", (unsigned) i,
                       tn_test_sigs[i].err, err ? err : "-");
        }
    }
}


/* the public key of pkey as a key record's p= (the keygen command's) */
static char *
tn_test_pubkey(EVP_PKEY *pkey)
{
    tn_str_t  p;
    u_char   *s;

    if (tn_dkim_public_key(tn_test_pool, pkey, &p) != TN_OK) {
        return "";
    }

    s = tn_pnalloc(tn_test_pool, p.len + 1);
    *tn_cpymem(s, p.data, p.len) = '\0';

    return (char *) s;
}


static tn_int_t
tn_test_key(const char *rec, tn_dkim_key_t *key, const char **err)
{
    *err = NULL;

    return tn_dkim_parse_key(tn_test_pool, (u_char *) rec, strlen(rec), key,
                             err);
}


static void
tn_test_keys(EVP_PKEY *rsa, EVP_PKEY *ed)
{
    char           rec[2048];
    tn_int_t       rc;
    const char    *err;
    tn_dkim_key_t  key;

    snprintf(rec, sizeof(rec), "v=DKIM1; k=rsa; p=%s", tn_test_pubkey(rsa));
    rc = tn_test_key(rec, &key, &err);
    tn_test_ok(rc == TN_OK && key.type == TN_DKIM_KEY_RSA && key.bits == 2048
               && key.sha256 && !key.revoked && key.pkey,
               "key: RSA 2048");

    /* a key in TXT strings joined, with FWS in p= */
    snprintf(rec, sizeof(rec), "p=%.40s \t %s", tn_test_pubkey(rsa),
             tn_test_pubkey(rsa) + 40);
    rc = tn_test_key(rec, &key, &err);
    tn_test_ok(rc == TN_OK && key.bits == 2048, "key: p= with WSP in it");

    snprintf(rec, sizeof(rec), "v=DKIM1; k=ed25519; p=%s",
             tn_test_pubkey(ed));
    rc = tn_test_key(rec, &key, &err);
    tn_test_ok(rc == TN_OK && key.type == TN_DKIM_KEY_ED25519 && key.pkey,
               "key: Ed25519");

    rc = tn_test_key("v=DKIM1; k=ed25519; p=dGVzdA==", &key, &err);
    tn_test_ok(rc == TN_DECLINED, "key: Ed25519 of 4 bytes");

    rc = tn_test_key("v=DKIM1; p=", &key, &err);
    tn_test_ok(rc == TN_OK && key.revoked && key.pkey == NULL,
               "key: empty p= is revoked");

    snprintf(rec, sizeof(rec), "h=sha1; t=y:s; s=email:*; p=%s",
             tn_test_pubkey(rsa));
    rc = tn_test_key(rec, &key, &err);
    tn_test_ok(rc == TN_OK && !key.sha256 && key.testing && key.strict,
               "key: h=sha1, t=y:s");

    snprintf(rec, sizeof(rec), "h=sha1:sha256; p=%s", tn_test_pubkey(rsa));
    rc = tn_test_key(rec, &key, &err);
    tn_test_ok(rc == TN_OK && key.sha256, "key: h=sha1:sha256");

    snprintf(rec, sizeof(rec), "p=%s; v=DKIM1", tn_test_pubkey(rsa));
    rc = tn_test_key(rec, &key, &err);
    tn_test_ok(rc == TN_DECLINED, "key: v= not first (%s)", err);

    rc = tn_test_key("v=DKIM2; p=", &key, &err);
    tn_test_ok(rc == TN_DECLINED, "key: v=DKIM2 (%s)", err);

    rc = tn_test_key("k=dsa; p=", &key, &err);
    tn_test_ok(rc == TN_DECLINED, "key: k=dsa (%s)", err);

    rc = tn_test_key("s=web; p=", &key, &err);
    tn_test_ok(rc == TN_DECLINED, "key: s=web (%s)", err);

    rc = tn_test_key("v=DKIM1; k=rsa", &key, &err);
    tn_test_ok(rc == TN_DECLINED, "key: no p= (%s)", err);

    rc = tn_test_key("p=AAAA", &key, &err);
    tn_test_ok(rc == TN_DECLINED, "key: p= not a key (%s)", err);

    rc = tn_test_key("p=%%%", &key, &err);
    tn_test_ok(rc == TN_DECLINED, "key: p= not base64 (%s)", err);

    rc = tn_test_key("p=x; p=y", &key, &err);
    tn_test_ok(rc == TN_DECLINED, "key: p= twice (%s)", err);
}


static char  tn_test_msg[][80] = {
    "Received: from x\n",
    "From: Joe <joe@example.com>\n",
    "To: Ann <ann@example.net>,\n  Bob <bob@example.net>\n",
    "Subject:   Hello    there\n",
    "Date: Fri, 27 Nov 2026 23:00:00 +0000\n",
    "X-Unsigned: yes\n",
};


static tn_dkim_sign_header_t  tn_test_heads[] = {
    { tn_string("from"), 1 },
    { tn_string("to"), 1 },
    { tn_string("cc"), 0 },
    { tn_string("subject"), 0 },
    { tn_string("date"), 0 },
};


static void
tn_test_sign(EVP_PKEY *pkey, tn_uint_t alg)
{
    u_char             bh[32], md[32], *p, *e;
    tn_str_t           fields[7], out;
    tn_int_t           rc;
    tn_uint_t          i, nf, longest;
    const char        *err, *name;
    tn_dkim_key_t      key;
    tn_dkim_sig_t      sig;
    tn_dkim_body_t     b;
    tn_dkim_signer_t   signer;

    name = (alg == TN_DKIM_RSA_SHA256) ? "rsa-sha256" : "ed25519-sha256";

    for (i = 0; i < 6; i++) {
        fields[i].data = (u_char *) tn_test_msg[i];
        fields[i].len = strlen(tn_test_msg[i]);
    }

    nf = 6;

    tn_dkim_body_init(&b, TN_DKIM_RELAXED, -1);
    tn_dkim_body_update(&b, (u_char *) "Hi  there\n\n", 11);
    tn_dkim_body_final(&b, bh);

    tn_str_set(&signer.domain, "example.com");
    tn_str_set(&signer.selector, "s2026");
    signer.pkey = pkey;
    signer.alg = alg;

    rc = tn_dkim_sign(tn_test_pool, &signer, tn_test_heads, 5, fields, nf,
                      bh, 1795820400, &out);
    tn_test_ok(rc == TN_OK, "%s: signed", name);

    longest = 0;

    for (p = out.data; p < out.data + out.len; p = e + 1) {
        e = memchr(p, '\n', out.data + out.len - p);
        longest = tn_max(longest, (tn_uint_t) (e - p));
    }

    tn_test_ok(longest <= 78 && out.data[out.len - 1] == '\n'
               && memmem(out.data, out.len, "\n\n", 2) == NULL,
               "%s: folded to 78 columns (%u)", name, (unsigned) longest);

    rc = tn_dkim_parse_sig(tn_test_pool, &out, &sig, &err);
    tn_test_ok(rc == TN_OK && sig.alg == alg && sig.hcanon == TN_DKIM_RELAXED
               && sig.bcanon == TN_DKIM_RELAXED && sig.timestamp == 1795820400
               && memcmp(sig.bh.data, bh, 32) == 0,
               "%s: the field parses", name);

    tn_test_ok(sig.nh == 6
               && sig.h[0].len == 4 && sig.h[1].len == 4
               && memcmp(sig.h[2].data, "to", 2) == 0
               && memcmp(sig.h[3].data, "to", 2) == 0
               && memcmp(sig.h[4].data, "subject", 7) == 0,
               "%s: h=from:from:to:to:subject:date (no cc)", name);

    /* the key itself, without a record */
    tn_memzero(&key, sizeof(tn_dkim_key_t));
    key.type = (alg == TN_DKIM_RSA_SHA256) ? TN_DKIM_KEY_RSA
                                           : TN_DKIM_KEY_ED25519;
    key.revoked = 0;
    key.pkey = pkey;
    key.sha256 = 1;
    key.bits = EVP_PKEY_bits(pkey);

    tn_dkim_header_hash(tn_test_pool, &sig, fields, nf, md);
    rc = tn_dkim_verify_hash(&sig, &key, md, &err);
    tn_test_ok(rc == TN_OK, "%s: verifies", name);

    /* more fields below the signed ones: a new From is caught */
    fields[nf].data = (u_char *) "From: evil@example.org\n";
    fields[nf].len = 23;

    tn_dkim_header_hash(tn_test_pool, &sig, fields, nf + 1, md);
    rc = tn_dkim_verify_hash(&sig, &key, md, &err);
    tn_test_ok(rc == TN_DECLINED, "%s: a From added fails (oversigned)",
               name);

    /* a field not signed may change, a signed one not */
    fields[5].data = (u_char *) "X-Unsigned: no\n";
    fields[5].len = 15;
    tn_dkim_header_hash(tn_test_pool, &sig, fields, nf, md);
    rc = tn_dkim_verify_hash(&sig, &key, md, &err);
    tn_test_ok(rc == TN_OK, "%s: an unsigned field changed verifies", name);

    fields[3].data = (u_char *) "Subject: Hello   there \n";
    fields[3].len = 24;
    tn_dkim_header_hash(tn_test_pool, &sig, fields, nf, md);
    rc = tn_dkim_verify_hash(&sig, &key, md, &err);
    tn_test_ok(rc == TN_OK, "%s: whitespace changed (relaxed) verifies",
               name);

    fields[3].data = (u_char *) "Subject: Hello here\n";
    fields[3].len = 20;
    tn_dkim_header_hash(tn_test_pool, &sig, fields, nf, md);
    rc = tn_dkim_verify_hash(&sig, &key, md, &err);
    tn_test_ok(rc == TN_DECLINED, "%s: a signed field changed fails", name);
}


static void
tn_test_usable(EVP_PKEY *rsa)
{
    tn_str_t       f;
    tn_uint_t      fail;
    const char    *err;
    tn_dkim_key_t  key;
    tn_dkim_sig_t  sig;

    f.data = (u_char *) tn_test_sig;
    f.len = sizeof(tn_test_sig) - 1;
    tn_dkim_parse_sig(tn_test_pool, &f, &sig, &err);

    tn_memzero(&key, sizeof(tn_dkim_key_t));
    key.type = TN_DKIM_KEY_RSA;
    key.sha256 = 1;
    key.bits = 2048;
    key.pkey = rsa;

    tn_test_ok(tn_dkim_key_usable(&sig, &key, &fail, &err) == TN_OK,
               "usable: RSA key for rsa-sha256");

    key.strict = 1;
    tn_test_ok(tn_dkim_key_usable(&sig, &key, &fail, &err) == TN_DECLINED
               && !fail,
               "usable: t=s with i= in a subdomain: permerror");
    key.strict = 0;

    key.bits = 512;
    tn_test_ok(tn_dkim_key_usable(&sig, &key, &fail, &err) == TN_DECLINED
               && fail,
               "usable: a 512-bit key fails");
    key.bits = 8192;
    tn_test_ok(tn_dkim_key_usable(&sig, &key, &fail, &err) == TN_DECLINED,
               "usable: an 8192-bit key is refused");
    key.bits = 2048;

    key.type = TN_DKIM_KEY_ED25519;
    tn_test_ok(tn_dkim_key_usable(&sig, &key, &fail, &err) == TN_DECLINED,
               "usable: k=ed25519 for rsa-sha256");
    key.type = TN_DKIM_KEY_RSA;

    key.sha256 = 0;
    tn_test_ok(tn_dkim_key_usable(&sig, &key, &fail, &err) == TN_DECLINED,
               "usable: h=sha1 for sha256");
    key.sha256 = 1;

    key.revoked = 1;
    tn_test_ok(tn_dkim_key_usable(&sig, &key, &fail, &err) == TN_DECLINED
               && strcmp(err, "key revoked") == 0,
               "usable: revoked");
    key.revoked = 0;

    sig.alg = TN_DKIM_RSA_SHA1;
    tn_test_ok(tn_dkim_key_usable(&sig, &key, &fail, &err) == TN_DECLINED
               && fail,
               "usable: rsa-sha1 fails");
}


int
main(void)
{
    RSA       *rsa;
    BIGNUM    *e;
    EVP_PKEY  *rkey, *ekey;
    uint8_t    pub[32], priv[64];

    tn_pagesize = getpagesize();
    tn_memzero(&tn_test_log, sizeof(tn_log_t));

    tn_test_pool = tn_create_pool(4096, &tn_test_log);
    if (tn_test_pool == NULL) {
        printf("Bail out! no memory\n");
        return 1;
    }

    rsa = RSA_new();
    e = BN_new();
    BN_set_word(e, RSA_F4);
    RSA_generate_key_ex(rsa, 2048, e, NULL);
    BN_free(e);
    rkey = EVP_PKEY_new();
    EVP_PKEY_assign_RSA(rkey, rsa);

    ED25519_keypair(pub, priv);
    ekey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);

    tn_test_tag_list();
    tn_test_canon();
    tn_test_sig_fields();
    tn_test_sig_cases();
    tn_test_keys(rkey, ekey);
    tn_test_usable(rkey);
    tn_test_sign(rkey, TN_DKIM_RSA_SHA256);
    tn_test_sign(ekey, TN_DKIM_ED25519_SHA256);

    EVP_PKEY_free(rkey);
    EVP_PKEY_free(ekey);
    tn_destroy_pool(tn_test_pool);

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
