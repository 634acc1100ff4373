
/*
 * Copyright (C) The Tern developers
 */


/*
 * DKIM cost per message, built and run by t/bench/dkim_bench.sh against
 * the engine objects of objs/ (modules/dkim): for RSA-2048 and Ed25519,
 *
 *   verify   what a receiving worker does for one signed message: parse
 *            the DKIM-Signature field and the key record, hash the body
 *            (relaxed) in 16 KB pieces as DATA arrives, hash the header,
 *            check the signature;
 *   sign     what submission does: hash the body, make the field;
 *   raw      BoringSSL's own signature check alone (EVP_DigestVerify of
 *            a header-sized input), the limit verification can reach.
 *
 *     dkim_speed BODY_BYTES SECONDS
 *
 * prints one line per measurement: "NAME ops/s us/op".
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_dkim.h>
#include <openssl/curve25519.h>
#include <openssl/rsa.h>
#include <openssl/bn.h>


static tn_log_t  tn_bench_log;

static const char  *tn_bench_fields[] = {
    "From: Ann Example <ann@example.com>\n",
    "To: Bob Example <bob@example.org>\n",
    "Cc: team@example.org\n",
    "Subject: The quarterly figures, with the notes from Tuesday\n",
    "Date: Fri, 27 Nov 2026 10:00:00 +0000\n",
    "Message-ID: <20261127100000.12345@mail.example.com>\n",
    "MIME-Version: 1.0\n",
    "Content-Type: text/plain; charset=utf-8\n",
    "Content-Transfer-Encoding: 8bit\n",
};

#define TN_BENCH_NFIELDS  \
    (sizeof(tn_bench_fields) / sizeof(tn_bench_fields[0]))

static tn_dkim_sign_header_t  tn_bench_heads[] = {
    { tn_string("from"), 1 },
    { tn_string("to"), 0 },
    { tn_string("cc"), 0 },
    { tn_string("subject"), 0 },
    { tn_string("date"), 0 },
    { tn_string("message-id"), 0 },
    { tn_string("mime-version"), 0 },
    { tn_string("content-type"), 0 },
    { tn_string("content-transfer-encoding"), 0 },
};


static double
tn_bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
tn_bench_report(const char *name, unsigned long n, double secs)
{
    printf("%-24s %10.0f ops/s %10.1f us/op\n", name, n / secs,
           secs * 1e6 / n);
    fflush(stdout);
}


/* the key record of pkey: "v=DKIM1; k=...; p=..." */
static tn_str_t
tn_bench_record(tn_pool_t *pool, EVP_PKEY *pkey)
{
    tn_str_t  p, rec;

    rec.len = 0;

    if (tn_dkim_public_key(pool, pkey, &p) != TN_OK) {
        return rec;
    }

    rec.data = tn_pnalloc(pool, p.len + 64);
    rec.len = tn_sprintf(rec.data, "v=DKIM1; k=%s; p=%V",
                         EVP_PKEY_id(pkey) == EVP_PKEY_ED25519
                         ? "ed25519" : "rsa", &p)
              - rec.data;

    return rec;
}


static void
tn_bench_body_hash(u_char *body, size_t len, u_char *bh)
{
    size_t          off, n;
    tn_dkim_body_t  b;

    tn_dkim_body_init(&b, TN_DKIM_RELAXED, -1);

    for (off = 0; off < len; off += n) {
        n = tn_min(len - off, 16384);
        tn_dkim_body_update(&b, body + off, n);
    }

    tn_dkim_body_final(&b, bh);
}


static tn_int_t
tn_bench_sign(tn_pool_t *pool, EVP_PKEY *pkey, tn_str_t *fields,
    u_char *body, size_t len, tn_str_t *out)
{
    u_char            bh[32];
    tn_dkim_signer_t  signer;

    tn_bench_body_hash(body, len, bh);

    tn_str_set(&signer.domain, "example.com");
    tn_str_set(&signer.selector, "s2026");
    signer.pkey = pkey;
    signer.alg = (EVP_PKEY_id(pkey) == EVP_PKEY_ED25519)
                 ? TN_DKIM_ED25519_SHA256 : TN_DKIM_RSA_SHA256;

    return tn_dkim_sign(pool, &signer, tn_bench_heads,
                        sizeof(tn_bench_heads) / sizeof(tn_bench_heads[0]),
                        fields, TN_BENCH_NFIELDS, bh, time(NULL), out);
}


/* one incoming message: TN_OK when it verified */
static tn_int_t
tn_bench_verify(tn_pool_t *pool, tn_str_t *sigfield, tn_str_t *rec,
    tn_str_t *fields, u_char *body, size_t len)
{
    u_char          bh[32], md[32];
    tn_uint_t       fail;
    const char     *err;
    tn_dkim_key_t   key;
    tn_dkim_sig_t   sig;

    if (tn_dkim_parse_sig(pool, sigfield, &sig, &err) != TN_OK) {
        return TN_ERROR;
    }

    tn_memzero(&key, sizeof(tn_dkim_key_t));

    if (tn_dkim_parse_key(pool, rec->data, rec->len, &key, &err) != TN_OK
        || tn_dkim_key_usable(&sig, &key, &fail, &err) != TN_OK)
    {
        return TN_ERROR;
    }

    tn_bench_body_hash(body, len, bh);

    if (memcmp(bh, sig.bh.data, 32) != 0) {
        return TN_ERROR;
    }

    if (tn_dkim_header_hash(pool, &sig, fields, TN_BENCH_NFIELDS + 1, md)
        != TN_OK)
    {
        return TN_ERROR;
    }

    return tn_dkim_verify_hash(&sig, &key, md, &err);
}


static int
tn_bench_key(EVP_PKEY *pkey, const char *name, u_char *body, size_t len,
    double secs)
{
    u_char         sig[512], msg[600];
    size_t         siglen;
    double         start, t;
    tn_str_t       fields[TN_BENCH_NFIELDS + 1], sigfield, rec;
    tn_uint_t      i;
    tn_pool_t     *pool, *tmp;
    EVP_MD_CTX    *ctx;
    unsigned long  n;
    char           label[64];

    pool = tn_create_pool(16384, &tn_bench_log);
    if (pool == NULL) {
        return 1;
    }

    for (i = 0; i < TN_BENCH_NFIELDS; i++) {
        fields[i + 1].data = (u_char *) tn_bench_fields[i];
        fields[i + 1].len = strlen(tn_bench_fields[i]);
    }

    /* sign */

    start = tn_bench_now();

    for (n = 0; (t = tn_bench_now() - start) < secs; n++) {
        tmp = tn_create_pool(4096, &tn_bench_log);
        if (tmp == NULL
            || tn_bench_sign(tmp, pkey, &fields[1], body, len, &sigfield)
               != TN_OK)
        {
            fprintf(stderr, "%s: signing failed\n", name);
            return 1;
        }

        tn_destroy_pool(tmp);
    }

    tn_snprintf((u_char *) label, sizeof(label), "%s sign%Z", name);
    tn_bench_report(label, n, t);

    /* verify: the signature field on top, as a receiver sees it */

    if (tn_bench_sign(pool, pkey, &fields[1], body, len, &sigfield)
        != TN_OK)
    {
        return 1;
    }

    fields[0] = sigfield;
    rec = tn_bench_record(pool, pkey);

    start = tn_bench_now();

    for (n = 0; (t = tn_bench_now() - start) < secs; n++) {
        tmp = tn_create_pool(4096, &tn_bench_log);
        if (tmp == NULL
            || tn_bench_verify(tmp, &sigfield, &rec, fields, body, len)
               != TN_OK)
        {
            fprintf(stderr, "%s: verification failed\n", name);
            return 1;
        }

        tn_destroy_pool(tmp);
    }

    tn_snprintf((u_char *) label, sizeof(label), "%s verify%Z", name);
    tn_bench_report(label, n, t);

    /* the library's raw check of a header-sized input */

    tn_memset(msg, 'h', sizeof(msg));

    ctx = EVP_MD_CTX_new();
    siglen = sizeof(sig);

    if (EVP_PKEY_id(pkey) == EVP_PKEY_ED25519) {
        EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey);
    } else {
        EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey);
    }

    if (EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg)) != 1) {
        fprintf(stderr, "%s: raw signing failed\n", name);
        return 1;
    }

    start = tn_bench_now();

    for (n = 0; (t = tn_bench_now() - start) < secs; n++) {
        EVP_MD_CTX_reset(ctx);

        if (EVP_PKEY_id(pkey) == EVP_PKEY_ED25519) {
            EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey);
        } else {
            EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey);
        }

        if (EVP_DigestVerify(ctx, sig, siglen, msg, sizeof(msg)) != 1) {
            fprintf(stderr, "%s: raw verification failed\n", name);
            return 1;
        }
    }

    tn_snprintf((u_char *) label, sizeof(label), "%s raw-verify%Z", name);
    tn_bench_report(label, n, t);

    EVP_MD_CTX_free(ctx);
    tn_destroy_pool(pool);

    return 0;
}


int
main(int argc, char **argv)
{
    u_char    *body;
    size_t     len, i;
    double     secs;
    RSA       *rsa;
    BIGNUM    *e;
    EVP_PKEY  *rkey, *ekey;
    uint8_t    pub[32], priv[64];

    if (argc != 3) {
        fprintf(stderr, "usage: dkim_speed BODY_BYTES SECONDS\n");
        return 2;
    }

    len = strtoul(argv[1], NULL, 10);
    secs = strtod(argv[2], NULL);

    tn_pagesize = getpagesize();
    tn_memzero(&tn_bench_log, sizeof(tn_log_t));

    /* text lines of 72 characters */
    body = malloc(len + 1);
    if (body == NULL) {
        return 1;
    }

    for (i = 0; i < len; i++) {
        body[i] = (i % 73 == 72) ? '\n' : "abcdefgh ijklmnop"[i % 17];
    }

    if (len) {
        body[len - 1] = '\n';
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

    if (tn_bench_key(rkey, "rsa-2048", body, len, secs) != 0
        || tn_bench_key(ekey, "ed25519", body, len, secs) != 0)
    {
        return 1;
    }

    EVP_PKEY_free(rkey);
    EVP_PKEY_free(ekey);
    free(body);

    return 0;
}
