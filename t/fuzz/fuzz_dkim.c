
/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for the DKIM engine (modules/dkim/tn_mail_dkim*.c).
 *
 * Input: byte 0 picks what is fed (0 a tag list, 1 a DKIM-Signature
 * field, 2 a key record, 3 a body in simple, 4 in relaxed
 * canonicalisation, with an l= from byte 0's high bits); byte 1 seeds
 * the random splits; the rest is the text.  Checks:
 *   - tags: names and values inside the input, no "=" or ";" in a name;
 *   - signatures: what parses has d=, s=, b=, bh= set, b= inside the
 *     field, at most TN_DKIM_H_MAX names; its field canonicalised into a
 *     buffer of exactly the documented size (ASan sees an overrun), then
 *     a header hash over the input's lines as fields;
 *   - key records: a key is revoked or has a public key;
 *   - bodies: whole, byte by byte and random splits give the same hash
 *     and length; the l= hash equals the hash of the whole canonical
 *     text cut at l=.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_dkim.h>


#define TN_FUZZ_MAX    (64 * 1024)


static tn_log_t    tn_fuzz_log;
static uint64_t    tn_fuzz_seed;


static size_t
tn_fuzz_rand(size_t n)
{
    tn_fuzz_seed ^= tn_fuzz_seed << 13;
    tn_fuzz_seed ^= tn_fuzz_seed >> 7;
    tn_fuzz_seed ^= tn_fuzz_seed << 17;

    return (size_t) (tn_fuzz_seed % n);
}


static void
tn_fuzz_tags(u_char *p, size_t len)
{
    size_t          j;
    tn_uint_t       i, n;
    const char     *err;
    tn_dkim_tag_t   tags[TN_DKIM_TAGS_MAX];

    if (tn_dkim_parse_tags(p, len, tags, TN_DKIM_TAGS_MAX, &n, &err)
        != TN_OK)
    {
        if (err == NULL) {
            abort();
        }

        return;
    }

    for (i = 0; i < n; i++) {
        if (tags[i].name.len == 0
            || tags[i].name.data < p
            || tags[i].value.data + tags[i].value.len > p + len
            || tags[i].start > tags[i].value.data
            || tags[i].end < tags[i].value.data + tags[i].value.len)
        {
            abort();
        }

        for (j = 0; j < tags[i].name.len; j++) {
            if (tags[i].name.data[j] == '=' || tags[i].name.data[j] == ';') {
                abort();
            }
        }

        for (j = 0; j < tags[i].value.len; j++) {
            if (tags[i].value.data[j] == ';') {
                abort();
            }
        }
    }
}


static void
tn_fuzz_sig(tn_pool_t *pool, u_char *p, size_t len)
{
    u_char         *buf, *last, md[32], *s, *e;
    tn_str_t        field, fields[64];
    tn_int_t        rc;
    tn_uint_t       n;
    const char     *err;
    tn_dkim_sig_t   sig;

    field.data = p;
    field.len = len;

    rc = tn_dkim_parse_sig(pool, &field, &sig, &err);

    if (rc != TN_OK) {
        return;
    }

    if (sig.domain.len == 0 || sig.selector.len == 0 || sig.b.len == 0
        || sig.bh.len == 0 || sig.nh == 0 || sig.nh > TN_DKIM_H_MAX
        || sig.b_start > sig.b_end || sig.b_end > len
        || sig.auid_domain.len < sig.domain.len)
    {
        abort();
    }

    buf = malloc(2 * len + 2);
    if (buf == NULL) {
        return;
    }

    last = tn_dkim_canon_header(buf, &field, sig.hcanon, sig.b_start,
                                sig.b_end, 1);

    if ((size_t) (last - buf) > 2 * len + 2) {
        abort();
    }

    free(buf);

    /* the input's lines as the message's fields */

    n = 0;

    for (s = p; s < p + len && n < 64; s = e) {
        e = memchr(s, '\n', p + len - s);
        e = e ? e + 1 : p + len;
        fields[n].data = s;
        fields[n].len = e - s;
        n++;
    }

    if (tn_dkim_header_hash(pool, &sig, fields, n, md) != TN_OK) {
        abort();
    }
}


static void
tn_fuzz_key(tn_pool_t *pool, u_char *p, size_t len)
{
    tn_int_t        rc;
    const char     *err;
    tn_dkim_key_t   key;

    rc = tn_dkim_parse_key(pool, p, len, &key, &err);

    if (rc == TN_OK && !key.revoked && key.pkey == NULL) {
        abort();
    }
}


static void
tn_fuzz_body(u_char *p, size_t len, tn_uint_t canon, off_t limit)
{
    u_char          md[4][32];
    off_t           length[4];
    size_t          pos, n;
    tn_uint_t       mode;
    tn_dkim_body_t  b, cut;

    for (mode = 0; mode < 4; mode++) {
        tn_dkim_body_init(&b, canon, mode == 3 ? -1 : limit);

        for (pos = 0; pos < len; pos += n) {
            n = (mode == 0 || mode == 3) ? len
                : (mode == 1) ? 1 : 1 + tn_fuzz_rand(len - pos);

            tn_dkim_body_update(&b, p + pos, n);
        }

        tn_dkim_body_final(&b, md[mode]);
        length[mode] = b.length;
    }

    if (memcmp(md[0], md[1], 32) != 0 || memcmp(md[0], md[2], 32) != 0
        || length[0] != length[1] || length[0] != length[2]
        || length[0] != length[3])
    {
        abort();
    }

    if (limit >= length[0] && memcmp(md[0], md[3], 32) != 0) {
        abort();
    }

    /* hashing with a limit is hashing a prefix: check with a second pass */

    if (limit < length[0]) {
        tn_dkim_body_init(&cut, canon, limit + 1);
        tn_dkim_body_update(&cut, p, len);
        tn_dkim_body_final(&cut, md[3]);

        if (limit + 1 < length[0] && memcmp(md[0], md[3], 32) == 0) {
            abort();
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *p, ctl;
    size_t      len;
    tn_pool_t  *pool;

    if (size < 2 || size > TN_FUZZ_MAX) {
        return 0;
    }

    if (tn_pagesize == 0) {
        tn_pagesize = getpagesize();
        tn_memzero(&tn_fuzz_log, sizeof(tn_log_t));
    }

    ctl = data[0];
    tn_fuzz_seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t) data[1] << 32 ^ size;
    len = size - 2;

    /* a copy of exactly the input's size: ASan sees any overread */

    p = malloc(len ? len : 1);
    if (p == NULL) {
        return 0;
    }

    memcpy(p, data + 2, len);

    pool = tn_create_pool(4096, &tn_fuzz_log);
    if (pool == NULL) {
        free(p);
        return 0;
    }

    switch (ctl % 5) {

    case 0:
        tn_fuzz_tags(p, len);
        break;

    case 1:
        tn_fuzz_sig(pool, p, len);
        break;

    case 2:
        tn_fuzz_key(pool, p, len);
        break;

    default:
        tn_fuzz_body(p, len, (ctl % 5 == 3) ? TN_DKIM_SIMPLE
                                            : TN_DKIM_RELAXED,
                     (off_t) (ctl / 5) * 3);
        break;
    }

    tn_destroy_pool(pool);
    free(p);

    return 0;
}
