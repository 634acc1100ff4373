
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_dkim.h>
#include <openssl/err.h>
#include <openssl/rsa.h>


static size_t tn_dkim_fws(u_char *p, u_char *last);
static tn_int_t tn_dkim_parse_sig_tags(tn_pool_t *pool, tn_dkim_sig_t *sig,
    tn_dkim_tag_t *tags, tn_uint_t n, const char **err);
static tn_int_t tn_dkim_parse_h(tn_dkim_sig_t *sig, tn_str_t *v,
    const char **err);
static tn_int_t tn_dkim_parse_auid(tn_dkim_sig_t *sig, tn_str_t *v,
    const char **err);
static tn_int_t tn_dkim_parse_number(tn_str_t *v, off_t max, off_t *n);
static tn_int_t tn_dkim_list_has(tn_str_t *v, const char *word);
static tn_int_t tn_dkim_lower(tn_pool_t *pool, tn_str_t *src, tn_str_t *dst);
static void tn_dkim_pkey_free(void *data);
static tn_int_t tn_dkim_parse_pubkey(tn_pool_t *pool, tn_dkim_key_t *key,
    tn_str_t *p, const char **err);


#define tn_dkim_wsp(c)      ((c) == ' ' || (c) == '\t')
/* RFC 6376 3.2 VALCHAR: %x21-3A / %x3C-7E */
#define tn_dkim_valchar(c)  ((c) >= 0x21 && (c) <= 0x7e && (c) != ';')
#define tn_dkim_alpha(c)    (((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'z')
#define tn_dkim_digit(c)    ((c) >= '0' && (c) <= '9')

/* t= and x= above this are this (year 36812) */
#define TN_DKIM_TIME_MAX    ((off_t) 1 << 40)


/*
 * FWS (RFC 5322 3.2.2) at p: WSP, or a line end (LF or CRLF) followed by
 * WSP.  A line end at the very end of the input counts too (a field's
 * own).  Returns the bytes it spans; 0 when there is none.
 */
static size_t
tn_dkim_fws(u_char *p, u_char *last)
{
    u_char  *s;

    s = p;

    while (p < last) {

        if (tn_dkim_wsp(*p)) {
            p++;
            continue;
        }

        if (*p == '\r' && p + 1 < last && p[1] == '\n') {
            if (p + 2 == last || (p + 2 < last && tn_dkim_wsp(p[2]))) {
                p += 2;
                continue;
            }
            break;
        }

        if (*p == '\n' && (p + 1 == last || tn_dkim_wsp(p[1]))) {
            p++;
            continue;
        }

        break;
    }

    return p - s;
}


/*
 * tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
 * tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 * tag-name  =  ALPHA *ALNUMPUNC
 * tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
 */
tn_int_t
tn_dkim_parse_tags(u_char *p, size_t len, tn_dkim_tag_t *tags,
    tn_uint_t max, tn_uint_t *ntags, const char **err)
{
    u_char         *last, *name, *vend;
    size_t          n;
    tn_uint_t       i, k;
    tn_dkim_tag_t  *t;

    last = p + len;
    k = 0;

    for ( ;; ) {
        p += tn_dkim_fws(p, last);

        if (p == last) {
            /* the end, after a ";" or an empty list */
            break;
        }

        name = p;

        if (!tn_dkim_alpha(*p)) {
            *err = "bad tag name";
            return TN_ERROR;
        }

        while (p < last
               && (tn_dkim_alpha(*p) || tn_dkim_digit(*p) || *p == '_'))
        {
            p++;
        }

        n = p - name;

        p += tn_dkim_fws(p, last);

        if (p == last || *p != '=') {
            *err = "tag without \"=\"";
            return TN_ERROR;
        }

        if (k == max) {
            *err = "too many tags";
            return TN_ERROR;
        }

        for (i = 0; i < k; i++) {
            if (tags[i].name.len == n
                && tn_memcmp(tags[i].name.data, name, n) == 0)
            {
                *err = "duplicate tag";
                return TN_ERROR;
            }
        }

        t = &tags[k++];
        t->name.data = name;
        t->name.len = n;

        p++;
        t->start = p;

        p += tn_dkim_fws(p, last);

        t->value.data = p;
        vend = p;

        while (p < last && *p != ';') {

            if (tn_dkim_valchar(*p)) {
                p++;
                vend = p;
                continue;
            }

            n = tn_dkim_fws(p, last);

            if (n == 0) {
                *err = "invalid character in a tag value";
                return TN_ERROR;
            }

            p += n;
        }

        t->value.len = vend - t->value.data;
        t->end = p;

        if (p == last) {
            break;
        }

        /* ";" */
        p++;
    }

    *ntags = k;

    return TN_OK;
}


tn_str_t *
tn_dkim_tag(tn_dkim_tag_t *tags, tn_uint_t n, const char *name)
{
    size_t     len;
    tn_uint_t  i;

    len = tn_strlen(name);

    for (i = 0; i < n; i++) {
        if (tags[i].name.len == len
            && tn_memcmp(tags[i].name.data, name, len) == 0)
        {
            return &tags[i].value;
        }
    }

    return NULL;
}


tn_int_t
tn_dkim_parse_sig(tn_pool_t *pool, tn_str_t *field, tn_dkim_sig_t *sig,
    const char **err)
{
    u_char         *p, *last;
    tn_uint_t       n;
    tn_dkim_tag_t   tags[TN_DKIM_TAGS_MAX];

    tn_memzero(sig, sizeof(tn_dkim_sig_t));

    sig->field = *field;
    sig->length = -1;
    sig->timestamp = -1;
    sig->expire = -1;

    p = field->data;
    last = p + field->len;

    if (field->len < sizeof("DKIM-Signature:") - 1
        || tn_strncasecmp(p, (u_char *) "DKIM-Signature", 14) != 0)
    {
        *err = "not a DKIM-Signature field";
        return TN_DECLINED;
    }

    p += 14;

    while (p < last && tn_dkim_wsp(*p)) {
        p++;
    }

    if (p == last || *p != ':') {
        *err = "not a DKIM-Signature field";
        return TN_DECLINED;
    }

    p++;

    /* the field's own line end is not part of the value */

    if (last > p && last[-1] == '\n') {
        last--;

        if (last > p && last[-1] == '\r') {
            last--;
        }
    }

    if (tn_dkim_parse_tags(p, last - p, tags, TN_DKIM_TAGS_MAX, &n, err)
        != TN_OK)
    {
        return TN_DECLINED;
    }

    return tn_dkim_parse_sig_tags(pool, sig, tags, n, err);
}


static tn_int_t
tn_dkim_parse_sig_tags(tn_pool_t *pool, tn_dkim_sig_t *sig,
    tn_dkim_tag_t *tags, tn_uint_t n, const char **err)
{
    off_t       num;
    tn_str_t   *v, c;
    tn_uint_t   i;

    /* d=, s= and b= first: a result names them even when others fail */

    v = tn_dkim_tag(tags, n, "d");

    if (v == NULL || tn_dkim_name_valid(v) != TN_OK) {
        *err = v ? "bad d= domain" : "no d= tag";
        return TN_DECLINED;
    }

    if (tn_dkim_lower(pool, v, &sig->domain) != TN_OK) {
        return TN_ERROR;
    }

    v = tn_dkim_tag(tags, n, "s");

    if (v == NULL || tn_dkim_name_valid(v) != TN_OK) {
        *err = v ? "bad s= selector" : "no s= tag";
        return TN_DECLINED;
    }

    if (tn_dkim_lower(pool, v, &sig->selector) != TN_OK) {
        return TN_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (tags[i].name.len == 1 && tags[i].name.data[0] == 'b') {
            sig->b_start = tags[i].start - sig->field.data;
            sig->b_end = tags[i].end - sig->field.data;
            break;
        }
    }

    v = tn_dkim_tag(tags, n, "b");

    if (v == NULL) {
        *err = "no b= tag";
        return TN_DECLINED;
    }

    if (tn_dkim_decode_base64(pool, v, &sig->b, &sig->b_text) != TN_OK
        || sig->b.len == 0)
    {
        *err = "bad b= value";
        return TN_DECLINED;
    }

    v = tn_dkim_tag(tags, n, "v");

    if (v == NULL || v->len != 1 || v->data[0] != '1') {
        *err = v ? "unknown version v=" : "no v= tag";
        return TN_DECLINED;
    }

    v = tn_dkim_tag(tags, n, "a");

    if (v == NULL) {
        *err = "no a= tag";
        return TN_DECLINED;
    }

    if (v->len == 10 && tn_strncasecmp(v->data, (u_char *) "rsa-sha256", 10)
        == 0)
    {
        sig->alg = TN_DKIM_RSA_SHA256;

    } else if (v->len == 14
               && tn_strncasecmp(v->data, (u_char *) "ed25519-sha256", 14)
                  == 0)
    {
        sig->alg = TN_DKIM_ED25519_SHA256;

    } else if (v->len == 8
               && tn_strncasecmp(v->data, (u_char *) "rsa-sha1", 8) == 0)
    {
        sig->alg = TN_DKIM_RSA_SHA1;

    } else {
        *err = "unknown algorithm a=";
        return TN_DECLINED;
    }

    v = tn_dkim_tag(tags, n, "bh");

    if (v == NULL) {
        *err = "no bh= tag";
        return TN_DECLINED;
    }

    if (tn_dkim_decode_base64(pool, v, &sig->bh, NULL) != TN_OK
        || sig->bh.len != (sig->alg == TN_DKIM_RSA_SHA1 ? 20 : 32))
    {
        *err = "bad bh= value";
        return TN_DECLINED;
    }

    v = tn_dkim_tag(tags, n, "c");

    if (v != NULL) {
        c = *v;

        for (i = 0; i < 2; i++) {
            num = (c.len >= 7
                   && tn_strncasecmp(c.data, (u_char *) "relaxed", 7) == 0)
                  ? 7
                  : (c.len >= 6
                     && tn_strncasecmp(c.data, (u_char *) "simple", 6) == 0)
                    ? 6 : 0;

            if (num == 0) {
                *err = "unknown canonicalization c=";
                return TN_DECLINED;
            }

            if (i == 0) {
                sig->hcanon = (num == 7) ? TN_DKIM_RELAXED : TN_DKIM_SIMPLE;
            } else {
                sig->bcanon = (num == 7) ? TN_DKIM_RELAXED : TN_DKIM_SIMPLE;
            }

            c.data += num;
            c.len -= num;

            if (c.len == 0) {
                break;
            }

            if (i == 1 || c.data[0] != '/') {
                *err = "unknown canonicalization c=";
                return TN_DECLINED;
            }

            c.data++;
            c.len--;
        }
    }

    v = tn_dkim_tag(tags, n, "h");

    if (v == NULL) {
        *err = "no h= tag";
        return TN_DECLINED;
    }

    if (tn_dkim_parse_h(sig, v, err) != TN_OK) {
        return TN_DECLINED;
    }

    if (tn_dkim_parse_auid(sig, tn_dkim_tag(tags, n, "i"), err) != TN_OK) {
        return TN_DECLINED;
    }

    v = tn_dkim_tag(tags, n, "l");

    if (v != NULL && tn_dkim_parse_number(v, TN_MAX_OFF_T_VALUE, &sig->length)
                     != TN_OK)
    {
        *err = "bad l= value";
        return TN_DECLINED;
    }

    v = tn_dkim_tag(tags, n, "q");

    if (v != NULL && !tn_dkim_list_has(v, "dns/txt")) {
        *err = "q= without dns/txt";
        return TN_DECLINED;
    }

    v = tn_dkim_tag(tags, n, "t");

    if (v != NULL) {
        if (tn_dkim_parse_number(v, TN_DKIM_TIME_MAX, &num) != TN_OK) {
            *err = "bad t= value";
            return TN_DECLINED;
        }

        sig->timestamp = (time_t) num;
    }

    v = tn_dkim_tag(tags, n, "x");

    if (v != NULL) {
        if (tn_dkim_parse_number(v, TN_DKIM_TIME_MAX, &num) != TN_OK) {
            *err = "bad x= value";
            return TN_DECLINED;
        }

        sig->expire = (time_t) num;

        if (sig->timestamp != -1 && sig->expire <= sig->timestamp) {
            *err = "x= not after t=";
            return TN_DECLINED;
        }
    }

    return TN_OK;
}


/* h= "from : to:subject": names with FWS around the colons */
static tn_int_t
tn_dkim_parse_h(tn_dkim_sig_t *sig, tn_str_t *v, const char **err)
{
    u_char     *p, *last, *s;
    tn_uint_t   from;

    p = v->data;
    last = p + v->len;
    from = 0;

    for ( ;; ) {
        p += tn_dkim_fws(p, last);
        s = p;

        /* ftext: printable US-ASCII except ":" */
        while (p < last && *p >= 0x21 && *p <= 0x7e && *p != ':') {
            p++;
        }

        if (p == s) {
            *err = "bad h= list";
            return TN_ERROR;
        }

        if (sig->nh == TN_DKIM_H_MAX) {
            *err = "too many names in h=";
            return TN_ERROR;
        }

        sig->h[sig->nh].data = s;
        sig->h[sig->nh].len = p - s;
        sig->nh++;

        if (p - s == 4 && tn_strncasecmp(s, (u_char *) "from", 4) == 0) {
            from = 1;
        }

        p += tn_dkim_fws(p, last);

        if (p == last) {
            break;
        }

        if (*p != ':') {
            *err = "bad h= list";
            return TN_ERROR;
        }

        p++;
    }

    if (!from) {
        *err = "h= does not include From";
        return TN_ERROR;
    }

    return TN_OK;
}


/* i= [local-part] "@" domain, the domain d= or a subdomain of it */
static tn_int_t
tn_dkim_parse_auid(tn_dkim_sig_t *sig, tn_str_t *v, const char **err)
{
    u_char    *at;
    size_t     dl;
    tn_str_t  *d;

    if (v == NULL) {
        sig->auid.len = sig->domain.len + 1;
        sig->auid.data = sig->domain.data - 1;
        sig->auid_domain = sig->domain;

        /* domain was copied with room for the "@" before it */
        sig->auid.data[0] = '@';
        return TN_OK;
    }

    at = tn_strlchr(v->data, v->data + v->len, '@');

    if (at == NULL) {
        *err = "i= without \"@\"";
        return TN_ERROR;
    }

    while (tn_strlchr(at + 1, v->data + v->len, '@')) {
        at = tn_strlchr(at + 1, v->data + v->len, '@');
    }

    sig->auid = *v;
    sig->auid_domain.data = at + 1;
    sig->auid_domain.len = v->data + v->len - (at + 1);

    d = &sig->auid_domain;
    dl = sig->domain.len;

    if (tn_dkim_name_valid(d) != TN_OK) {
        *err = "bad i= domain";
        return TN_ERROR;
    }

    if (d->len < dl
        || tn_strncasecmp(d->data + d->len - dl, sig->domain.data, dl) != 0
        || (d->len > dl && d->data[d->len - dl - 1] != '.'))
    {
        *err = "i= domain not within d=";
        return TN_ERROR;
    }

    return TN_OK;
}


/* 1*76DIGIT (RFC 6376 l=); a value above max is max */
static tn_int_t
tn_dkim_parse_number(tn_str_t *v, off_t max, off_t *n)
{
    size_t  i;
    off_t   r;

    if (v->len == 0 || v->len > 76) {
        return TN_ERROR;
    }

    r = 0;

    for (i = 0; i < v->len; i++) {
        if (!tn_dkim_digit(v->data[i])) {
            return TN_ERROR;
        }

        if (r > (max - (v->data[i] - '0')) / 10) {
            r = max;
            continue;
        }

        r = r * 10 + (v->data[i] - '0');
    }

    *n = r;

    return TN_OK;
}


/* a colon-separated list (FWS allowed) has word, case-insensitively */
static tn_int_t
tn_dkim_list_has(tn_str_t *v, const char *word)
{
    u_char  *p, *last, *s, *e;
    size_t   len;

    len = tn_strlen(word);
    p = v->data;
    last = p + v->len;

    while (p <= last) {
        p += tn_dkim_fws(p, last);
        s = p;

        while (p < last && *p != ':') {
            p++;
        }

        e = p;

        while (e > s && (tn_dkim_wsp(e[-1]) || e[-1] == '\n'
                         || e[-1] == '\r'))
        {
            e--;
        }

        if ((size_t) (e - s) == len
            && tn_strncasecmp(s, (u_char *) word, len) == 0)
        {
            return 1;
        }

        p++;
    }

    return 0;
}


/*
 * A domain or selector: dot-separated labels of letters, digits, "-"
 * and "_", 1-63 bytes each, at most 253 in all.  No NUL, no other byte:
 * the name looked up is the name reported (checklist A3 (c)).
 */
tn_int_t
tn_dkim_name_valid(tn_str_t *v)
{
    size_t  i, label;
    u_char  c;

    if (v->len == 0 || v->len > 253) {
        return TN_ERROR;
    }

    label = 0;

    for (i = 0; i < v->len; i++) {
        c = v->data[i];

        if (c == '.') {
            if (label == 0) {
                return TN_ERROR;
            }

            label = 0;
            continue;
        }

        if (!tn_dkim_alpha(c) && !tn_dkim_digit(c) && c != '-' && c != '_') {
            return TN_ERROR;
        }

        if (++label > 63) {
            return TN_ERROR;
        }
    }

    return label ? TN_OK : TN_ERROR;
}


/* a lower-case copy, with one byte of room before it (for "@" d=) */
static tn_int_t
tn_dkim_lower(tn_pool_t *pool, tn_str_t *src, tn_str_t *dst)
{
    u_char  *p;

    p = tn_pnalloc(pool, src->len + 2);
    if (p == NULL) {
        return TN_ERROR;
    }

    p[0] = '@';
    tn_strlow(p + 1, src->data, src->len);
    p[src->len + 1] = '\0';

    dst->data = p + 1;
    dst->len = src->len;

    return TN_OK;
}


tn_int_t
tn_dkim_decode_base64(tn_pool_t *pool, tn_str_t *src, tn_str_t *dst,
    tn_str_t *text)
{
    u_char    *p, *q;
    size_t     i;
    tn_str_t   s;

    p = tn_pnalloc(pool, src->len + 1);
    if (p == NULL) {
        return TN_ERROR;
    }

    q = p;

    for (i = 0; i < src->len; i++) {
        if (src->data[i] == ' ' || src->data[i] == '\t'
            || src->data[i] == '\r' || src->data[i] == '\n')
        {
            continue;
        }

        *q++ = src->data[i];
    }

    s.data = p;
    s.len = q - p;

    if (text) {
        *text = s;
    }

    dst->data = tn_pnalloc(pool, tn_base64_decoded_length(s.len) + 1);
    if (dst->data == NULL) {
        return TN_ERROR;
    }

    if (s.len % 4 != 0 || tn_decode_base64(dst, &s) != TN_OK) {
        return TN_ERROR;
    }

    return TN_OK;
}


static void
tn_dkim_pkey_free(void *data)
{
    EVP_PKEY_free(data);
}


tn_int_t
tn_dkim_pkey_cleanup(tn_pool_t *pool, EVP_PKEY *pkey)
{
    tn_pool_cleanup_t  *cln;

    cln = tn_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        EVP_PKEY_free(pkey);
        return TN_ERROR;
    }

    cln->handler = tn_dkim_pkey_free;
    cln->data = pkey;

    return TN_OK;
}


tn_int_t
tn_dkim_parse_key(tn_pool_t *pool, u_char *p, size_t len,
    tn_dkim_key_t *key, const char **err)
{
    tn_str_t       *v;
    tn_uint_t       n;
    tn_dkim_tag_t   tags[TN_DKIM_TAGS_MAX];

    tn_memzero(key, sizeof(tn_dkim_key_t));

    if (tn_dkim_parse_tags(p, len, tags, TN_DKIM_TAGS_MAX, &n, err)
        != TN_OK)
    {
        return TN_DECLINED;
    }

    /* v= is optional, but when present the first tag (RFC 6376 3.6.1) */

    v = tn_dkim_tag(tags, n, "v");

    if (v != NULL
        && (v != &tags[0].value || v->len != 5
            || tn_strncmp(v->data, "DKIM1", 5) != 0))
    {
        *err = "bad key record version";
        return TN_DECLINED;
    }

    v = tn_dkim_tag(tags, n, "h");
    key->sha256 = (v == NULL || tn_dkim_list_has(v, "sha256"));

    v = tn_dkim_tag(tags, n, "k");

    if (v == NULL || (v->len == 3 && tn_strncmp(v->data, "rsa", 3) == 0)) {
        key->type = TN_DKIM_KEY_RSA;

    } else if (v->len == 7 && tn_strncmp(v->data, "ed25519", 7) == 0) {
        key->type = TN_DKIM_KEY_ED25519;

    } else {
        *err = "unknown key type k=";
        return TN_DECLINED;
    }

    v = tn_dkim_tag(tags, n, "s");

    if (v != NULL && !tn_dkim_list_has(v, "*")
        && !tn_dkim_list_has(v, "email"))
    {
        *err = "key not for email (s=)";
        return TN_DECLINED;
    }

    v = tn_dkim_tag(tags, n, "t");

    if (v != NULL) {
        key->testing = tn_dkim_list_has(v, "y");
        key->strict = tn_dkim_list_has(v, "s");
    }

    v = tn_dkim_tag(tags, n, "p");

    if (v == NULL) {
        *err = "key record without p=";
        return TN_DECLINED;
    }

    return tn_dkim_parse_pubkey(pool, key, v, err);
}


static tn_int_t
tn_dkim_parse_pubkey(tn_pool_t *pool, tn_dkim_key_t *key, tn_str_t *p,
    const char **err)
{
    RSA            *rsa;
    tn_str_t        der;
    EVP_PKEY       *pkey;
    const uint8_t  *d;

    if (tn_dkim_decode_base64(pool, p, &der, NULL) != TN_OK) {
        *err = "bad key p= value";
        return TN_DECLINED;
    }

    if (der.len == 0) {
        key->revoked = 1;
        return TN_OK;
    }

    if (key->type == TN_DKIM_KEY_ED25519) {

        /* RFC 8463 4: the bare 32-byte public key */

        if (der.len != 32) {
            *err = "bad Ed25519 key";
            return TN_DECLINED;
        }

        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
                                           der.data, der.len);
        if (pkey == NULL) {
            *err = "bad Ed25519 key";
            return TN_DECLINED;
        }

    } else {

        /* SubjectPublicKeyInfo; some publish a bare RSAPublicKey */

        d = der.data;
        pkey = d2i_PUBKEY(NULL, &d, der.len);

        if (pkey == NULL || d != der.data + der.len) {
            EVP_PKEY_free(pkey);

            pkey = NULL;
            rsa = RSA_public_key_from_bytes(der.data, der.len);

            if (rsa != NULL) {
                pkey = EVP_PKEY_new();

                if (pkey == NULL || !EVP_PKEY_assign_RSA(pkey, rsa)) {
                    EVP_PKEY_free(pkey);
                    RSA_free(rsa);
                    pkey = NULL;
                }
            }
        }

        ERR_clear_error();

        if (pkey == NULL || EVP_PKEY_id(pkey) != EVP_PKEY_RSA) {
            EVP_PKEY_free(pkey);
            *err = "bad RSA key";
            return TN_DECLINED;
        }

        key->bits = EVP_PKEY_bits(pkey);
    }

    ERR_clear_error();

    if (tn_dkim_pkey_cleanup(pool, pkey) != TN_OK) {
        return TN_ERROR;
    }

    key->pkey = pkey;

    return TN_OK;
}
