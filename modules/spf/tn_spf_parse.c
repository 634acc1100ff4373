
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_spf.h>


/*
 * The pure parts of SPF: the record parser (RFC 7208 4.6, 5, 6, 12),
 * macro-strings (section 7), CIDR matching.  Nothing here queries DNS or
 * keeps state, so the unit tests and the fuzzer drive it directly.
 *
 * Records come from DNS and are hostile: every byte is checked, lengths
 * are counted, never assumed, and an expansion has a fixed bound.
 */


#define tn_spf_alpha(c)  (((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'z')
#define tn_spf_digit(c)  ((c) >= '0' && (c) <= '9')
#define tn_spf_alnum(c)  (tn_spf_alpha(c) || tn_spf_digit(c))
/* delimiter = "." / "-" / "+" / "," / "/" / "_" / "=" */
#define tn_spf_delimiter(c)                                                   \
    ((c) == '.' || (c) == '-' || (c) == '+' || (c) == ',' || (c) == '/'      \
     || (c) == '_' || (c) == '=')
/* macro-literal, and the SP an explanation may hold */
#define tn_spf_visible(c)  ((c) >= 0x21 && (c) <= 0x7e)


typedef struct {
    const char             *name;
    size_t                  len;
    tn_uint_t               type;
} tn_spf_mech_name_t;


static tn_int_t tn_spf_parse_term(u_char *p, size_t len,
    tn_spf_record_t *rec, tn_array_t *terms, tn_str_t *err);
static tn_int_t tn_spf_parse_modifier(u_char *p, size_t len, size_t nlen,
    tn_spf_record_t *rec, tn_str_t *err);
static tn_int_t tn_spf_parse_mechanism(u_char *p, size_t len,
    tn_spf_term_t *t, tn_str_t *err);
static tn_int_t tn_spf_parse_cidr(u_char *p, size_t *len, tn_uint_t max,
    tn_uint_t dual, tn_uint_t *bits);
static ssize_t tn_spf_macro_scan(u_char *p, size_t len, tn_uint_t exp);
static tn_uint_t tn_spf_valid_toplabel(u_char *p, size_t len);
static u_char *tn_spf_macro_value(tn_spf_macro_t *m, u_char letter,
    u_char *buf, size_t *len);
static u_char *tn_spf_transform(u_char *dst, u_char *last, u_char *v,
    size_t vlen, tn_uint_t keep, tn_uint_t reverse, u_char *delims,
    size_t ndelims, tn_uint_t escape);


static tn_spf_mech_name_t  tn_spf_mech_names[] = {
    { "all", 3, TN_SPF_ALL },
    { "include", 7, TN_SPF_INCLUDE },
    { "a", 1, TN_SPF_A },
    { "mx", 2, TN_SPF_MX },
    { "ptr", 3, TN_SPF_PTR },
    { "ip4", 3, TN_SPF_IP4 },
    { "ip6", 3, TN_SPF_IP6 },
    { "exists", 6, TN_SPF_EXISTS },
    { NULL, 0, 0 }
};


tn_uint_t
tn_spf_is_record(u_char *p, size_t len)
{
    if (len < 6 || tn_strncasecmp(p, (u_char *) "v=spf1", 6) != 0) {
        return 0;
    }

    return len == 6 || p[6] == ' ';
}


tn_int_t
tn_spf_parse_record(tn_pool_t *pool, u_char *p, size_t len,
    tn_spf_record_t *rec, tn_str_t *err)
{
    size_t       i, start;
    tn_int_t     rc;
    tn_array_t  *terms;

    tn_memzero(rec, sizeof(tn_spf_record_t));
    tn_str_set(err, "");

    if (!tn_spf_is_record(p, len)) {
        tn_str_set(err, "not an SPF record");
        return TN_ERROR;
    }

    terms = tn_array_create(pool, 8, sizeof(tn_spf_term_t));
    if (terms == NULL) {
        return TN_ABORT;
    }

    /* record = version terms *SP; terms = *( 1*SP ( directive / modifier ) ) */

    i = 6;

    while (i < len) {

        while (i < len && p[i] == ' ') {
            i++;
        }

        if (i == len) {
            break;
        }

        start = i;

        while (i < len && p[i] != ' ') {
            if (!tn_spf_visible(p[i])) {
                tn_str_set(err, "a byte that is not printable ASCII");
                return TN_ERROR;
            }
            i++;
        }

        rc = tn_spf_parse_term(p + start, i - start, rec, terms, err);
        if (rc != TN_OK) {
            return rc;
        }
    }

    rec->terms = terms->elts;
    rec->nterms = terms->nelts;

    return TN_OK;
}


static tn_int_t
tn_spf_parse_term(u_char *p, size_t len, tn_spf_record_t *rec,
    tn_array_t *terms, tn_str_t *err)
{
    size_t          n;
    tn_spf_term_t  *t;

    /* name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ), then "=" */

    if (tn_spf_alpha(p[0])) {
        for (n = 1; n < len; n++) {
            if (!(tn_spf_alnum(p[n]) || p[n] == '-' || p[n] == '_'
                  || p[n] == '.'))
            {
                break;
            }
        }

        if (n < len && p[n] == '=') {
            return tn_spf_parse_modifier(p, len, n, rec, err);
        }
    }

    t = tn_array_push(terms);
    if (t == NULL) {
        return TN_ABORT;
    }

    return tn_spf_parse_mechanism(p, len, t, err);
}


static tn_int_t
tn_spf_parse_modifier(u_char *p, size_t len, size_t nlen,
    tn_spf_record_t *rec, tn_str_t *err)
{
    u_char    *v;
    size_t     vlen;
    tn_str_t  *dst;

    v = p + nlen + 1;
    vlen = len - nlen - 1;

    if (nlen == 8 && tn_strncasecmp(p, (u_char *) "redirect", 8) == 0) {
        dst = &rec->redirect;

    } else if (nlen == 3 && tn_strncasecmp(p, (u_char *) "exp", 3) == 0) {
        dst = &rec->exp;

    } else {
        /* unknown modifiers are ignored, but must be well formed */
        if (tn_spf_check_macro_string(v, vlen, 0) != TN_OK) {
            tn_str_set(err, "a bad macro in a modifier");
            return TN_ERROR;
        }

        return TN_OK;
    }

    if (dst->data) {
        tn_str_set(err, "a modifier given twice");
        return TN_ERROR;
    }

    if (tn_spf_check_domain_spec(v, vlen) != TN_OK) {
        tn_str_set(err, "a bad domain in a modifier");
        return TN_ERROR;
    }

    dst->data = v;
    dst->len = vlen;

    return TN_OK;
}


/*
 * directive = [ qualifier ] mechanism; the arguments follow the name
 * after ":" (a domain-spec or an address) and "/" (CIDR lengths).
 */

static tn_int_t
tn_spf_parse_mechanism(u_char *p, size_t len, tn_spf_term_t *t,
    tn_str_t *err)
{
    u_char               text[TN_INET6_ADDRSTRLEN + 1];
    size_t               n, rlen;
    tn_spf_mech_name_t  *mn;

    tn_memzero(t, sizeof(tn_spf_term_t));

    t->qualifier = TN_SPF_PASS;
    t->cidr4 = 32;
    t->cidr6 = 128;

    switch (p[0]) {
    case '+':
        t->qualifier = TN_SPF_PASS;
        p++; len--;
        break;
    case '-':
        t->qualifier = TN_SPF_FAIL;
        p++; len--;
        break;
    case '~':
        t->qualifier = TN_SPF_SOFTFAIL;
        p++; len--;
        break;
    case '?':
        t->qualifier = TN_SPF_NEUTRAL;
        p++; len--;
        break;
    }

    for (n = 0; n < len && tn_spf_alnum(p[n]); n++) { /* void */ }

    for (mn = tn_spf_mech_names; mn->name; mn++) {
        if (n == mn->len
            && tn_strncasecmp(p, (u_char *) mn->name, n) == 0)
        {
            break;
        }
    }

    if (mn->name == NULL) {
        tn_str_set(err, "an unknown mechanism");
        return TN_ERROR;
    }

    t->type = mn->type;
    p += n;
    rlen = len - n;

    switch (t->type) {

    case TN_SPF_ALL:
        if (rlen != 0) {
            tn_str_set(err, "arguments to \"all\"");
            return TN_ERROR;
        }
        return TN_OK;

    case TN_SPF_INCLUDE:
    case TN_SPF_EXISTS:
    case TN_SPF_PTR:
        if (rlen == 0 && t->type == TN_SPF_PTR) {
            return TN_OK;
        }
        break;

    case TN_SPF_A:
    case TN_SPF_MX:
        if (tn_spf_parse_cidr(p, &rlen, 128, 1, &t->cidr6) != TN_OK
            || tn_spf_parse_cidr(p, &rlen, 32, 0, &t->cidr4) != TN_OK)
        {
            tn_str_set(err, "a bad CIDR length");
            return TN_ERROR;
        }

        if (rlen == 0) {
            return TN_OK;
        }
        break;

    case TN_SPF_IP4:
    case TN_SPF_IP6:
        if (rlen < 2 || p[0] != ':') {
            tn_str_set(err, "an address is missing");
            return TN_ERROR;
        }

        p++;
        rlen--;

        if (t->type == TN_SPF_IP4) {
            if (tn_spf_parse_cidr(p, &rlen, 32, 0, &t->cidr4) != TN_OK) {
                tn_str_set(err, "a bad CIDR length");
                return TN_ERROR;
            }

        } else if (tn_spf_parse_cidr(p, &rlen, 128, 0, &t->cidr6) != TN_OK) {
            tn_str_set(err, "a bad CIDR length");
            return TN_ERROR;
        }

        if (rlen == 0 || rlen >= sizeof(text)) {
            tn_str_set(err, "a bad address");
            return TN_ERROR;
        }

        tn_memcpy(text, p, rlen);
        text[rlen] = '\0';

        if (inet_pton(t->type == TN_SPF_IP4 ? AF_INET : AF_INET6,
                      (char *) text, t->addr) != 1)
        {
            tn_str_set(err, "a bad address");
            return TN_ERROR;
        }

        return TN_OK;
    }

    /* ":" domain-spec, required but for ptr, a and mx */

    if (rlen < 2 || p[0] != ':') {
        tn_str_set(err, "a bad or missing domain");
        return TN_ERROR;
    }

    if (tn_spf_check_domain_spec(p + 1, rlen - 1) != TN_OK) {
        tn_str_set(err, "a bad domain");
        return TN_ERROR;
    }

    t->spec.data = p + 1;
    t->spec.len = rlen - 1;

    return TN_OK;
}


/*
 * Takes a CIDR length ("/N", or "//N" when dual) from the end of p[*len]
 * if there is one.  N is "0" or digits without a leading zero, at most
 * max.  TN_OK (with *len shortened when one was there) or TN_ERROR.
 */

static tn_int_t
tn_spf_parse_cidr(u_char *p, size_t *len, tn_uint_t max, tn_uint_t dual,
    tn_uint_t *bits)
{
    size_t     i, end;
    tn_uint_t  n;

    end = *len;

    for (i = end; i > 0 && tn_spf_digit(p[i - 1]); i--) { /* void */ }

    if (i == end || i == 0 || p[i - 1] != '/') {
        return TN_OK;
    }

    if (dual && (i < 2 || p[i - 2] != '/')) {
        return TN_OK;
    }

    if (end - i > 1 && p[i] == '0') {
        return TN_ERROR;
    }

    if (end - i > 3) {
        return TN_ERROR;
    }

    n = 0;

    for (/* void */; i < end; i++) {
        n = n * 10 + (p[i] - '0');
    }

    if (n > max) {
        return TN_ERROR;
    }

    *bits = n;

    i = end;
    while (tn_spf_digit(p[i - 1])) {
        i--;
    }

    *len = i - (dual ? 2 : 1);

    return TN_OK;
}


/*
 * domain-spec = macro-string domain-end
 * domain-end  = ( "." toplabel [ "." ] ) / macro-expand
 */

tn_int_t
tn_spf_check_domain_spec(u_char *p, size_t len)
{
    size_t   i;
    ssize_t  last;

    if (len == 0) {
        return TN_ERROR;
    }

    last = tn_spf_macro_scan(p, len, 0);

    if (last == TN_ERROR) {
        return TN_ERROR;
    }

    if ((size_t) last == len) {
        /* ends with a macro-expand */
        return TN_OK;
    }

    if (p[len - 1] == '.') {
        len--;
    }

    for (i = len; i > 0 && p[i - 1] != '.'; i--) { /* void */ }

    if (i == 0 || (ssize_t) i <= last) {
        return TN_ERROR;
    }

    return tn_spf_valid_toplabel(p + i, len - i) ? TN_OK : TN_ERROR;
}


/*
 * toplabel = ( *alphanum ALPHA *alphanum )
 *            / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
 */

static tn_uint_t
tn_spf_valid_toplabel(u_char *p, size_t len)
{
    size_t     i;
    tn_uint_t  alpha, dash;

    if (len == 0 || len > 63) {
        return 0;
    }

    alpha = 0;
    dash = 0;

    for (i = 0; i < len; i++) {
        if (tn_spf_alpha(p[i])) {
            alpha = 1;

        } else if (p[i] == '-') {
            dash = 1;

        } else if (!tn_spf_digit(p[i])) {
            return 0;
        }
    }

    if (dash) {
        return p[0] != '-' && p[len - 1] != '-';
    }

    return alpha;
}


tn_int_t
tn_spf_check_macro_string(u_char *p, size_t len, tn_uint_t exp)
{
    return tn_spf_macro_scan(p, len, exp) == TN_ERROR ? TN_ERROR : TN_OK;
}


/*
 * Checks a macro-string; returns the offset just past the last
 * macro-expand (0 if none), or TN_ERROR.
 *
 * macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
 *                / "%%" / "%_" / "%-"
 */

static ssize_t
tn_spf_macro_scan(u_char *p, size_t len, tn_uint_t exp)
{
    u_char   c;
    size_t   i;
    ssize_t  last;

    last = 0;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c != '%') {
            if (!tn_spf_visible(c) && !(exp && c == ' ')) {
                return TN_ERROR;
            }
            continue;
        }

        if (++i == len) {
            return TN_ERROR;
        }

        c = p[i];

        if (c == '%' || c == '_' || c == '-') {
            last = i + 1;
            continue;
        }

        if (c != '{' || ++i == len) {
            return TN_ERROR;
        }

        switch (p[i] | 0x20) {
        case 's': case 'l': case 'o': case 'd':
        case 'i': case 'p': case 'h': case 'v':
            break;
        case 'c': case 'r': case 't':
            if (exp) {
                break;
            }
            /* fall through */
        default:
            return TN_ERROR;
        }

        /* transformers = *DIGIT [ "r" ]; a DIGIT is not 0 (7.3) */

        i++;

        if (i < len && tn_spf_digit(p[i])) {
            if (p[i] == '0') {
                return TN_ERROR;
            }
            while (i < len && tn_spf_digit(p[i])) {
                i++;
            }
        }

        if (i < len && (p[i] | 0x20) == 'r') {
            i++;
        }

        while (i < len && tn_spf_delimiter(p[i])) {
            i++;
        }

        if (i == len || p[i] != '}') {
            return TN_ERROR;
        }

        last = i + 1;
    }

    return last;
}


tn_uint_t
tn_spf_macro_uses_p(tn_str_t *s)
{
    size_t  i;

    for (i = 0; i + 2 < s->len; i++) {
        if (s->data[i] == '%') {
            if (s->data[i + 1] == '{' && (s->data[i + 2] | 0x20) == 'p') {
                return 1;
            }
            /* "%%{p}" is "%" and then "{p}" */
            i++;
        }
    }

    return 0;
}


ssize_t
tn_spf_expand(tn_spf_macro_t *m, tn_str_t *s, tn_uint_t exp, u_char *dst)
{
    u_char     *p, *last, *v, *delims, letter, c;
    size_t      i, vlen, ndelims;
    tn_uint_t   keep, reverse;
    u_char      buf[TN_INET6_ADDRSTRLEN * 2 + 64];

    if (tn_spf_macro_scan(s->data, s->len, exp) == TN_ERROR) {
        return TN_ERROR;
    }

    p = dst;
    last = dst + TN_SPF_MAX_EXPAND;

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (c != '%') {
            if (p == last) {
                return TN_ERROR;
            }
            *p++ = c;
            continue;
        }

        c = s->data[++i];

        if (c != '{') {
            if (last - p < 3) {
                return TN_ERROR;
            }

            if (c == '%') {
                *p++ = '%';
            } else if (c == '_') {
                *p++ = ' ';
            } else {
                p = tn_cpymem(p, "%20", 3);
            }

            continue;
        }

        letter = s->data[++i];
        i++;

        keep = 0;
        while (tn_spf_digit(s->data[i])) {
            if (keep < 1000) {
                keep = keep * 10 + (s->data[i] - '0');
            }
            i++;
        }

        reverse = 0;
        if ((s->data[i] | 0x20) == 'r') {
            reverse = 1;
            i++;
        }

        delims = s->data + i;
        for (ndelims = 0; s->data[i] != '}'; ndelims++, i++) { /* void */ }

        v = tn_spf_macro_value(m, (u_char) (letter | 0x20), buf, &vlen);

        p = tn_spf_transform(p, last, v, vlen, keep, reverse, delims,
                             ndelims, !(letter & 0x20));
        if (p == NULL) {
            return TN_ERROR;
        }
    }

    return p - dst;
}


static u_char *
tn_spf_macro_value(tn_spf_macro_t *m, u_char letter, u_char *buf,
    size_t *len)
{
    u_char     *p;
    tn_uint_t   k;

    static u_char  hex[] = "0123456789abcdef";

    switch (letter) {

    case 's':
        *len = m->sender.len;
        return m->sender.data;

    case 'l':
        *len = m->local.len;
        return m->local.data;

    case 'o':
        *len = m->sender_domain.len;
        return m->sender_domain.data;

    case 'd':
        *len = m->domain.len;
        return m->domain.data;

    case 'h':
        *len = m->helo.len;
        return m->helo.data;

    case 'r':
        if (m->receiver.len == 0) {
            *len = sizeof("unknown") - 1;
            return (u_char *) "unknown";
        }
        *len = m->receiver.len;
        return m->receiver.data;

    case 'p':
        if (m->validated.data == NULL) {
            *len = sizeof("unknown") - 1;
            return (u_char *) "unknown";
        }
        *len = m->validated.len;
        return m->validated.data;

    case 'v':
        if (m->family == AF_INET) {
            *len = sizeof("in-addr") - 1;
            return (u_char *) "in-addr";
        }
        *len = sizeof("ip6") - 1;
        return (u_char *) "ip6";

    case 't':
        p = tn_sprintf(buf, "%T", m->now);
        *len = p - buf;
        return buf;

    case 'c':
        *len = tn_inet_ntop(m->family, m->ip, buf, TN_INET6_ADDRSTRLEN);
        return buf;

    default: /* 'i' */
        if (m->family == AF_INET) {
            p = tn_sprintf(buf, "%ud.%ud.%ud.%ud", m->ip[0], m->ip[1],
                           m->ip[2], m->ip[3]);
            *len = p - buf;
            return buf;
        }

        /* RFC 7208 7.3: nibbles, dot-separated, in order */
        p = buf;
        for (k = 0; k < 16; k++) {
            *p++ = hex[m->ip[k] >> 4];
            *p++ = '.';
            *p++ = hex[m->ip[k] & 0xf];
            *p++ = '.';
        }

        *len = p - buf - 1;
        return buf;
    }
}


/*
 * Splits v at the delimiters (default "."), reverses the parts if asked,
 * keeps the rightmost keep of them (0: all), joins them with ".", and
 * URL-escapes the result for an upper-case macro letter.
 */

static u_char *
tn_spf_transform(u_char *dst, u_char *last, u_char *v, size_t vlen,
    tn_uint_t keep, tn_uint_t reverse, u_char *delims, size_t ndelims,
    tn_uint_t escape)
{
    u_char     *p, *start, *end, *q, c;
    size_t      i, n;
    tn_uint_t   nparts, part, first;

    static u_char  hex[] = "0123456789ABCDEF";

    if (ndelims == 0) {
        delims = (u_char *) ".";
        ndelims = 1;
    }

#define tn_spf_is_delim(ch)  (tn_strlchr(delims, delims + ndelims, ch) != NULL)

    nparts = 1;
    for (i = 0; i < vlen; i++) {
        if (tn_spf_is_delim(v[i])) {
            nparts++;
        }
    }

    first = (keep && keep < nparts) ? nparts - keep : 0;

    p = dst;

    for (part = first; part < nparts; part++) {

        /* the part'th part in output order */

        n = reverse ? nparts - 1 - part : part;

        start = v;
        end = v + vlen;

        for (q = v, i = 0; q < v + vlen; q++) {
            if (tn_spf_is_delim(*q)) {
                if (i == n) {
                    end = q;
                    break;
                }
                i++;
                start = q + 1;
            }
        }

        if (part != first) {
            if (p == last) {
                return NULL;
            }
            *p++ = '.';
        }

        for (q = start; q < end; q++) {
            c = *q;

            if (escape && !(tn_spf_alnum(c) || c == '-' || c == '.'
                            || c == '_' || c == '~'))
            {
                if (last - p < 3) {
                    return NULL;
                }
                *p++ = '%';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 0xf];
                continue;
            }

            if (p == last) {
                return NULL;
            }
            *p++ = c;
        }
    }

#undef tn_spf_is_delim

    return p;
}


tn_int_t
tn_spf_target_name(tn_str_t *name)
{
    u_char  *p, *last, *dot;
    size_t   label;

    if (name->len && name->data[name->len - 1] == '.') {
        name->len--;
    }

    while (name->len > 253) {
        dot = tn_strlchr(name->data, name->data + name->len, '.');
        if (dot == NULL) {
            return TN_DECLINED;
        }
        name->len -= dot + 1 - name->data;
        name->data = dot + 1;
    }

    if (name->len == 0) {
        return TN_DECLINED;
    }

    label = 0;
    last = name->data + name->len;

    for (p = name->data; p < last; p++) {
        if (*p == '.') {
            if (label == 0) {
                return TN_DECLINED;
            }
            label = 0;
            continue;
        }

        if (++label > 63 || *p == '\\' || *p < 0x20 || *p > 0x7e) {
            return TN_DECLINED;
        }
    }

    return TN_OK;
}


tn_uint_t
tn_spf_cidr_match(u_char *a, u_char *b, tn_uint_t bits)
{
    tn_uint_t  n, mask;

    n = bits / 8;

    if (n && tn_memcmp(a, b, n) != 0) {
        return 0;
    }

    bits %= 8;

    if (bits == 0) {
        return 1;
    }

    mask = (0xff00 >> bits) & 0xff;

    return (a[n] & mask) == (b[n] & mask);
}


tn_int_t
tn_spf_parse_ip(u_char *p, size_t len, tn_spf_macro_t *m)
{
    u_char           text[TN_INET6_ADDRSTRLEN + 1];
    struct in6_addr  in6;

    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
        p++;
        len -= 2;
    }

    if (len == 0 || len >= sizeof(text)) {
        return TN_ERROR;
    }

    tn_memcpy(text, p, len);
    text[len] = '\0';

    tn_memzero(m->ip, 16);

    if (inet_pton(AF_INET, (char *) text, m->ip) == 1) {
        m->family = AF_INET;
        return TN_OK;
    }

    if (inet_pton(AF_INET6, (char *) text, &in6) != 1) {
        return TN_ERROR;
    }

    if (IN6_IS_ADDR_V4MAPPED(&in6)) {
        /* RFC 7208 5: an IPv4-mapped client is an IPv4 client */
        m->family = AF_INET;
        tn_memcpy(m->ip, &in6.s6_addr[12], 4);
        return TN_OK;
    }

    m->family = AF_INET6;
    tn_memcpy(m->ip, &in6.s6_addr, 16);

    return TN_OK;
}


tn_uint_t
tn_spf_valid_domain(tn_str_t *domain)
{
    u_char   *p, *last;
    size_t    label, len;
    tn_uint_t dots;

    len = domain->len;

    if (len && domain->data[len - 1] == '.') {
        len--;
    }

    if (len == 0 || len > 253 || domain->data[0] == '[') {
        return 0;
    }

    label = 0;
    dots = 0;
    last = domain->data + len;

    for (p = domain->data; p < last; p++) {
        if (*p == '.') {
            if (label == 0) {
                return 0;
            }
            label = 0;
            dots++;
            continue;
        }

        if (++label > 63 || !tn_spf_visible(*p)) {
            return 0;
        }
    }

    return dots > 0 && label > 0;
}


const char *
tn_spf_result_name(tn_uint_t result)
{
    static const char  *names[] = {
        "none", "pass", "fail", "softfail", "neutral", "temperror",
        "permerror"
    };

    if (result > TN_SPF_PERMERROR) {
        return "permerror";
    }

    return names[result];
}
