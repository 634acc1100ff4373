
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_dkim.h>
#include <openssl/err.h>
#include <openssl/rsa.h>


/* RFC 6376 3.5 recommends 78 */
#define TN_DKIM_FOLD   78


static void tn_dkim_body_emit(tn_dkim_body_t *b, u_char *p, size_t n);
static void tn_dkim_body_lines(tn_dkim_body_t *b);
static tn_int_t tn_dkim_same_name(tn_str_t *field, tn_str_t *name);
static u_char *tn_dkim_fold(u_char *p, size_t *col, u_char *s,
    size_t len);


#define tn_dkim_wsp(c)      ((c) == ' ' || (c) == '\t')


void
tn_dkim_field_name(tn_str_t *field, tn_str_t *name)
{
    u_char  *p, *last;

    p = field->data;
    last = p + field->len;

    while (p < last && *p != ':') {
        p++;
    }

    while (p > field->data && tn_dkim_wsp(p[-1])) {
        p--;
    }

    name->data = field->data;
    name->len = p - field->data;
}


u_char *
tn_dkim_canon_header(u_char *dst, tn_str_t *field, tn_uint_t canon,
    size_t b_start, size_t b_end, tn_uint_t strip)
{
    u_char    *p, c;
    size_t     i, len;
    tn_uint_t  wsp, value;

    p = field->data;
    len = field->len;

    if (strip) {
        /* the signature field: without its line end */
        if (len && p[len - 1] == '\n') {
            len--;
        }

        if (len && p[len - 1] == '\r') {
            len--;
        }
    }

    if (canon == TN_DKIM_SIMPLE) {

        for (i = 0; i < len; i++) {
            if (i >= b_start && i < b_end) {
                continue;
            }

            if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) {
                *dst++ = '\r';
            }

            *dst++ = p[i];
        }

        return dst;
    }

    /* relaxed: the name in lower case, WSP before the colon dropped */

    for (i = 0; i < len && p[i] != ':'; i++) {
        if (!tn_dkim_wsp(p[i])) {
            *dst++ = tn_tolower(p[i]);
        }
    }

    *dst++ = ':';

    /* unfolded, WSP runs as one SP, none at either end */

    wsp = 0;
    value = 0;

    for (i++; i < len; i++) {
        if (i >= b_start && i < b_end) {
            continue;
        }

        c = p[i];

        /* unfolding: line ends go, a CR alone stays */

        if (c == '\n' || (c == '\r' && i + 1 < len && p[i + 1] == '\n')) {
            continue;
        }

        if (tn_dkim_wsp(c)) {
            wsp = value;
            continue;
        }

        if (wsp) {
            *dst++ = ' ';
            wsp = 0;
        }

        *dst++ = c;
        value = 1;
    }

    if (!strip) {
        *dst++ = '\r';
        *dst++ = '\n';
    }

    return dst;
}


void
tn_dkim_body_init(tn_dkim_body_t *b, tn_uint_t canon, off_t limit)
{
    tn_memzero(b, offsetof(tn_dkim_body_t, sha));

    b->canon = canon;
    b->limit = limit;

    SHA256_Init(&b->sha);
    b->nout = 0;
}


/* hashes n canonical bytes, up to the limit, and counts all of them */
static void
tn_dkim_body_emit(tn_dkim_body_t *b, u_char *p, size_t n)
{
    off_t   allow;
    size_t  k;

    allow = n;

    if (b->limit >= 0) {
        allow = b->limit - b->length;

        if (allow < 0) {
            allow = 0;
        }

        if ((off_t) n < allow) {
            allow = n;
        }
    }

    b->length += n;

    while (allow > 0) {
        k = sizeof(b->out) - b->nout;

        if ((off_t) k > allow) {
            k = allow;
        }

        tn_memcpy(b->out + b->nout, p, k);
        b->nout += k;
        p += k;
        allow -= k;

        if (b->nout == sizeof(b->out)) {
            SHA256_Update(&b->sha, b->out, b->nout);
            b->nout = 0;
        }
    }
}


/* the empty lines held back: they are not trailing after all */
static void
tn_dkim_body_lines(tn_dkim_body_t *b)
{
    while (b->pending) {
        tn_dkim_body_emit(b, (u_char *) "\r\n", 2);
        b->pending--;
    }
}


/*
 * The body comes in any pieces; the state between them is whether the
 * current line has content, a WSP run not yet hashed (relaxed), and the
 * count of empty lines held back, since trailing ones are not hashed.
 */
void
tn_dkim_body_update(tn_dkim_body_t *b, u_char *p, size_t len)
{
    u_char  *last, *s;

    last = p + len;

    while (p < last) {

        if (*p == '\n') {
            p++;
            b->wsp = 0;

            if (b->content) {
                tn_dkim_body_emit(b, (u_char *) "\r\n", 2);
                b->content = 0;

            } else {
                b->pending++;
            }

            continue;
        }

        if (b->canon == TN_DKIM_RELAXED && tn_dkim_wsp(*p)) {
            p++;
            b->wsp = 1;
            continue;
        }

        if (!b->content) {
            tn_dkim_body_lines(b);
            b->content = 1;
        }

        if (b->wsp) {
            tn_dkim_body_emit(b, (u_char *) " ", 1);
            b->wsp = 0;
        }

        s = p;

        if (b->canon == TN_DKIM_RELAXED) {
            while (p < last && *p != '\n' && !tn_dkim_wsp(*p)) {
                p++;
            }

        } else {
            while (p < last && *p != '\n') {
                p++;
            }
        }

        tn_dkim_body_emit(b, s, p - s);
    }
}


void
tn_dkim_body_final(tn_dkim_body_t *b, u_char *md)
{
    if (b->content) {
        /* a last line without its line end */
        tn_dkim_body_emit(b, (u_char *) "\r\n", 2);
        b->content = 0;
    }

    if (b->canon == TN_DKIM_SIMPLE && b->length == 0) {
        /* RFC 6376 3.4.3: an empty body is one CRLF */
        tn_dkim_body_emit(b, (u_char *) "\r\n", 2);
    }

    if (b->nout) {
        SHA256_Update(&b->sha, b->out, b->nout);
        b->nout = 0;
    }

    SHA256_Final(md, &b->sha);
}


static tn_int_t
tn_dkim_same_name(tn_str_t *field, tn_str_t *name)
{
    tn_str_t  n;

    tn_dkim_field_name(field, &n);

    return n.len == name->len
           && tn_strncasecmp(n.data, name->data, n.len) == 0;
}


tn_int_t
tn_dkim_header_hash(tn_pool_t *pool, tn_dkim_sig_t *sig, tn_str_t *fields,
    tn_uint_t nfields, u_char *md)
{
    u_char      *buf, *last;
    size_t       max;
    tn_int_t     f;
    tn_str_t    *names, *h;
    tn_uint_t    i, j, skip;
    SHA256_CTX   sha;

    /*
     * The names once: h= may list 128 names, each looked for among up to
     * TN_MAIL_CHECK_FIELDS_MAX fields, for each signature.
     */

    names = tn_palloc(pool, (nfields + 1) * sizeof(tn_str_t));
    if (names == NULL) {
        return TN_ERROR;
    }

    max = sig->field.len;

    for (i = 0; i < nfields; i++) {
        tn_dkim_field_name(&fields[i], &names[i]);

        if (fields[i].len > max) {
            max = fields[i].len;
        }
    }

    buf = tn_pnalloc(pool, 2 * max + 2);
    if (buf == NULL) {
        return TN_ERROR;
    }

    SHA256_Init(&sha);

    for (j = 0; j < sig->nh; j++) {
        h = &sig->h[j];

        /* the instances earlier mentions of this name took */

        skip = 0;

        for (i = 0; i < j; i++) {
            if (sig->h[i].len == h->len
                && tn_strncasecmp(sig->h[i].data, h->data, h->len) == 0)
            {
                skip++;
            }
        }

        for (f = (tn_int_t) nfields - 1; f >= 0; f--) {
            if (names[f].len != h->len
                || tn_strncasecmp(names[f].data, h->data, h->len) != 0)
            {
                continue;
            }

            if (skip == 0) {
                break;
            }

            skip--;
        }

        if (f < 0) {
            /* more mentions than fields: nothing (RFC 6376 5.4.2) */
            continue;
        }

        last = tn_dkim_canon_header(buf, &fields[f], sig->hcanon, 0, 0, 0);
        SHA256_Update(&sha, buf, last - buf);
    }

    last = tn_dkim_canon_header(buf, &sig->field, sig->hcanon, sig->b_start,
                                sig->b_end, 1);
    SHA256_Update(&sha, buf, last - buf);

    SHA256_Final(md, &sha);

    /* large ones go back at once (a header may have 256 KB) */
    tn_pfree(pool, buf);
    tn_pfree(pool, names);

    return TN_OK;
}


tn_int_t
tn_dkim_key_usable(tn_dkim_sig_t *sig, tn_dkim_key_t *key, tn_uint_t *fail,
    const char **err)
{
    *fail = 0;

    if (sig->alg == TN_DKIM_RSA_SHA1) {
        *fail = 1;
        *err = "rsa-sha1 is not accepted (RFC 8301)";
        return TN_DECLINED;
    }

    if (key->revoked) {
        *err = "key revoked";
        return TN_DECLINED;
    }

    if ((sig->alg == TN_DKIM_RSA_SHA256) != (key->type == TN_DKIM_KEY_RSA)) {
        *err = "key type k= does not match a=";
        return TN_DECLINED;
    }

    if (!key->sha256) {
        *err = "key h= does not allow sha256";
        return TN_DECLINED;
    }

    if (key->strict
        && (sig->auid_domain.len != sig->domain.len
            || tn_strncasecmp(sig->auid_domain.data, sig->domain.data,
                              sig->domain.len) != 0))
    {
        *err = "key t=s and the i= domain is not d=";
        return TN_DECLINED;
    }

    if (key->type == TN_DKIM_KEY_RSA) {
        if (key->bits < TN_DKIM_RSA_MIN_BITS) {
            *fail = 1;
            *err = "RSA key shorter than 1024 bits";
            return TN_DECLINED;
        }

        if (key->bits > TN_DKIM_RSA_MAX_BITS) {
            *err = "RSA key longer than 4096 bits";
            return TN_DECLINED;
        }
    }

    return TN_OK;
}


/*
 * rsa-sha256 signs the SHA-256 of the canonical header as PKCS #1 v1.5
 * (with the DigestInfo); ed25519-sha256 signs those 32 bytes themselves
 * with PureEdDSA (RFC 8463 3).
 */
tn_int_t
tn_dkim_verify_hash(tn_dkim_sig_t *sig, tn_dkim_key_t *key, u_char *md,
    const char **err)
{
    int            ok;
    EVP_MD_CTX    *mctx;
    EVP_PKEY_CTX  *pctx;

    ok = 0;

    if (key->type == TN_DKIM_KEY_ED25519) {
        mctx = EVP_MD_CTX_new();

        if (mctx != NULL
            && EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, key->pkey) == 1)
        {
            ok = EVP_DigestVerify(mctx, sig->b.data, sig->b.len, md, 32);
        }

        EVP_MD_CTX_free(mctx);

    } else {
        pctx = EVP_PKEY_CTX_new(key->pkey, NULL);

        if (pctx != NULL
            && EVP_PKEY_verify_init(pctx) == 1
            && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1
            && EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) == 1)
        {
            ok = EVP_PKEY_verify(pctx, sig->b.data, sig->b.len, md, 32);
        }

        EVP_PKEY_CTX_free(pctx);
    }

    ERR_clear_error();

    if (ok != 1) {
        *err = "signature verification failed";
        return TN_DECLINED;
    }

    return TN_OK;
}


/* appends " s" to a field, on a new line when it does not fit */
static u_char *
tn_dkim_fold(u_char *p, size_t *col, u_char *s, size_t len)
{
    if (*col + 1 + len > TN_DKIM_FOLD) {
        *p++ = '\n';
        *col = 0;
    }

    *p++ = ' ';
    p = tn_cpymem(p, s, len);
    *col += 1 + len;

    return p;
}


tn_int_t
tn_dkim_sign_prepare(tn_pool_t *pool, tn_dkim_signer_t *signer,
    tn_dkim_sign_header_t *heads, tn_uint_t nheads, tn_str_t *fields,
    tn_uint_t nfields, u_char *bh, time_t now, tn_dkim_signing_t *st)
{
    u_char         *p, *h, *buf, tmp[64];
    size_t          col, hlen, siglen, size;
    tn_str_t        src, dst;
    tn_uint_t       i, j, count;
    tn_dkim_sig_t  *sig;

    sig = tn_pcalloc(pool, sizeof(tn_dkim_sig_t));
    if (sig == NULL) {
        return TN_ERROR;
    }

    /* h=: every present instance of each name, and once more if asked */

    hlen = 0;

    for (i = 0; i < nheads; i++) {
        count = heads[i].oversign;

        for (j = 0; j < nfields; j++) {
            count += tn_dkim_same_name(&fields[j], &heads[i].name);
        }

        for (j = 0; j < count && sig->nh < TN_DKIM_H_MAX; j++) {
            sig->h[sig->nh++] = heads[i].name;
            hlen += heads[i].name.len + 1;
        }
    }

    h = tn_pnalloc(pool, hlen + 1);
    if (h == NULL) {
        return TN_ERROR;
    }

    p = h;

    for (i = 0; i < sig->nh; i++) {
        if (i) {
            *p++ = ':';
        }

        p = tn_cpymem(p, sig->h[i].data, sig->h[i].len);
    }

    hlen = p - h;

    siglen = EVP_PKEY_size(signer->pkey);
    size = 512 + signer->domain.len + signer->selector.len + hlen * 2
           + tn_base64_encoded_length(siglen) * 2;

    buf = tn_pnalloc(pool, size);
    if (buf == NULL) {
        return TN_ERROR;
    }

    p = tn_cpymem(buf, "DKIM-Signature: v=1;", 20);
    col = 20;

    p = tn_dkim_fold(p, &col, (u_char *) (signer->alg == TN_DKIM_RSA_SHA256
                                          ? "a=rsa-sha256;"
                                          : "a=ed25519-sha256;"),
                     signer->alg == TN_DKIM_RSA_SHA256 ? 13 : 17);
    p = tn_dkim_fold(p, &col, (u_char *) "c=relaxed/relaxed;", 18);

    src.data = tn_pnalloc(pool, signer->domain.len + signer->selector.len
                                + 4);
    if (src.data == NULL) {
        return TN_ERROR;
    }

    src.len = tn_sprintf(src.data, "d=%V;", &signer->domain) - src.data;
    p = tn_dkim_fold(p, &col, src.data, src.len);
    src.len = tn_sprintf(src.data, "s=%V;", &signer->selector) - src.data;
    p = tn_dkim_fold(p, &col, src.data, src.len);
    src.len = tn_sprintf(tmp, "t=%T;", now) - tmp;
    p = tn_dkim_fold(p, &col, tmp, src.len);

    /* h= is broken after a colon where a line is full */

    if (col + 4 > TN_DKIM_FOLD) {
        p = tn_cpymem(p, "\n", 1);
        col = 0;
    }

    p = tn_cpymem(p, " h=", 3);
    col += 3;

    for (i = 0; i < sig->nh; i++) {
        src.data = sig->h[i].data;
        src.len = sig->h[i].len;

        if (col + src.len + 1 > TN_DKIM_FOLD) {
            p = tn_cpymem(p, "\n ", 2);
            col = 1;
        }

        p = tn_cpymem(p, src.data, src.len);
        *p++ = (i + 1 < sig->nh) ? ':' : ';';
        col += src.len + 1;
    }

    src.data = bh;
    src.len = 32;
    dst.data = tmp;
    tn_encode_base64(&dst, &src);

    if (col + 5 + dst.len > TN_DKIM_FOLD) {
        p = tn_cpymem(p, "\n", 1);
        col = 0;
    }

    p = tn_cpymem(p, " bh=", 4);
    p = tn_cpymem(p, dst.data, dst.len);
    *p++ = ';';
    col += 5 + dst.len;

    if (col + 3 > TN_DKIM_FOLD) {
        p = tn_cpymem(p, "\n", 1);
        col = 0;
    }

    p = tn_cpymem(p, " b=", 3);
    col += 3;

    /* the header hash over the field so far: b= is empty in it */

    sig->hcanon = TN_DKIM_RELAXED;
    sig->field.data = buf;
    sig->field.len = p - buf;
    sig->b_start = sig->field.len;
    sig->b_end = sig->field.len;

    if (tn_dkim_header_hash(pool, sig, fields, nfields, st->md) != TN_OK) {
        return TN_ERROR;
    }

    st->field.data = buf;
    st->field.len = p - buf;
    st->col = col;

    return TN_OK;
}



/*
 * The signature itself: no pool, no log, so that it may run in a pool
 * thread (BoringSSL keys may be used by several threads at once).
 */
tn_int_t
tn_dkim_sign_hash(EVP_PKEY *pkey, tn_uint_t alg, u_char *md, u_char *sig,
    size_t *siglen)
{
    int            ok;
    EVP_MD_CTX    *mctx;
    EVP_PKEY_CTX  *pctx;

    ok = 0;

    if (alg == TN_DKIM_ED25519_SHA256) {
        mctx = EVP_MD_CTX_new();

        if (mctx != NULL
            && EVP_DigestSignInit(mctx, NULL, NULL, NULL, pkey) == 1)
        {
            ok = EVP_DigestSign(mctx, sig, siglen, md, 32);
        }

        EVP_MD_CTX_free(mctx);

    } else {
        pctx = EVP_PKEY_CTX_new(pkey, NULL);

        if (pctx != NULL
            && EVP_PKEY_sign_init(pctx) == 1
            && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1
            && EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) == 1)
        {
            ok = EVP_PKEY_sign(pctx, sig, siglen, md, 32);
        }

        EVP_PKEY_CTX_free(pctx);
    }

    ERR_clear_error();

    return (ok == 1) ? TN_OK : TN_ERROR;
}


tn_int_t
tn_dkim_sign_finish(tn_pool_t *pool, tn_dkim_signing_t *st, u_char *sig,
    size_t siglen, tn_str_t *out)
{
    u_char    *p, *h;
    size_t     col, hlen, n;
    tn_str_t   src, dst;

    src.data = sig;
    src.len = siglen;

    dst.data = tn_pnalloc(pool, tn_base64_encoded_length(src.len));
    if (dst.data == NULL) {
        return TN_ERROR;
    }

    tn_encode_base64(&dst, &src);

    /* b= last, broken anywhere: base64 ignores FWS */

    p = st->field.data + st->field.len;
    col = st->col;
    h = dst.data;
    hlen = dst.len;

    while (hlen) {
        if (col >= TN_DKIM_FOLD) {
            p = tn_cpymem(p, "\n ", 2);
            col = 1;
        }

        n = tn_min(TN_DKIM_FOLD - col, hlen);
        p = tn_cpymem(p, h, n);
        col += n;
        h += n;
        hlen -= n;
    }

    *p++ = '\n';

    out->data = st->field.data;
    out->len = p - st->field.data;

    return TN_OK;
}


tn_int_t
tn_dkim_sign(tn_pool_t *pool, tn_dkim_signer_t *signer,
    tn_dkim_sign_header_t *heads, tn_uint_t nheads, tn_str_t *fields,
    tn_uint_t nfields, u_char *bh, time_t now, tn_str_t *out)
{
    size_t              siglen;
    u_char              sig[TN_DKIM_SIG_MAX];
    tn_dkim_signing_t   st;

    siglen = sizeof(sig);

    if (tn_dkim_sign_prepare(pool, signer, heads, nheads, fields, nfields,
                             bh, now, &st)
        != TN_OK
        || tn_dkim_sign_hash(signer->pkey, signer->alg, st.md, sig, &siglen)
           != TN_OK)
    {
        return TN_ERROR;
    }

    return tn_dkim_sign_finish(pool, &st, sig, siglen, out);
}
