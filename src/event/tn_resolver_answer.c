
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_resolver_private.h>

#include <ares.h>


/*
 * The resolver's names and answers: the name a lookup asks for, the
 * parsing of what c-ares returns (A, AAAA, MX, TXT, PTR) into the
 * resolver's scratch pool, within the caps below, and the copying of an
 * answer, as one block, into a cache node or a context's pool.
 */


/* the most records kept from one answer; the rest are dropped */
#define TN_RESOLVER_MAX_RECORDS    64
/* the most TXT bytes (all records joined) kept from one answer */
#define TN_RESOLVER_MAX_TXT        65536
/* a presentation-form name, without the trailing dot */
#define TN_RESOLVER_MAX_NAME       255

/* a sockaddr_in6 rounded up: the slot for each address in an answer */
#define TN_RESOLVER_SOCKADDR_SIZE                                            \
    tn_align(sizeof(struct sockaddr_in6), sizeof(void *))


static int tn_resolver_parse_addrs(tn_pool_t *pool, int family,
    u_char *abuf, int alen, tn_resolver_answer_t *a);
static int tn_resolver_parse_mx(tn_pool_t *pool, u_char *abuf, int alen,
    tn_resolver_answer_t *a);
static int tn_resolver_parse_txt(tn_pool_t *pool, u_char *abuf, int alen,
    tn_resolver_answer_t *a);
static int tn_resolver_parse_ptr(tn_pool_t *pool, u_char *abuf, int alen,
    tn_resolver_answer_t *a);
static tn_int_t tn_resolver_add_addr(tn_pool_t *pool, tn_addr_t *addr,
    int family, void *data);
static tn_int_t tn_resolver_copy_name(tn_pool_t *pool, tn_str_t *dst,
    char *src);
static uint32_t tn_resolver_answer_ttl(u_char *abuf, size_t alen);
static u_char *tn_resolver_skip_name(u_char *p, u_char *last);

static u_char *tn_resolver_copy_str(u_char *p, tn_str_t *dst, tn_str_t *src);
static ssize_t tn_resolver_qname(tn_str_t *name, u_char *dst,
    tn_uint_t any);


tn_int_t
tn_resolver_status(int status)
{
    switch (status) {

    case ARES_SUCCESS:
        return TN_OK;

    case ARES_ENODATA:
        return TN_RESOLVE_NODATA;

    case ARES_ENOTFOUND:
        return TN_RESOLVE_NXDOMAIN;

    case ARES_EFORMERR:
    case ARES_EBADRESP:
    case ARES_EBADNAME:
        return TN_RESOLVE_FORMERR;

    case ARES_ESERVFAIL:
    case ARES_ECONNREFUSED:
        /* every try was refused: the servers are not working */
        return TN_RESOLVE_SERVFAIL;

    case ARES_ENOTIMP:
        return TN_RESOLVE_NOTIMP;

    case ARES_EREFUSED:
        return TN_RESOLVE_REFUSED;

    case ARES_ETIMEOUT:
        return TN_RESOLVE_TIMEDOUT;

    default:
        return TN_RESOLVE_ERROR;
    }
}


/*
 * Writes the lowercased name without a final dot to dst and returns its
 * length.  Only host-name bytes (letters, digits, "-", "_") in labels of
 * 1 to 63: c-ares would read "\" as an escape, and a name from a peer
 * must not become another name.
 */

ssize_t
tn_resolver_make_name(tn_str_t *name, u_char *dst)
{
    return tn_resolver_qname(name, dst, 0);
}


/*
 * The same for a name that is not a host name (an SPF target): any
 * printable ASCII byte or SP but the backslash, which c-ares would read
 * as an escape; "." only between labels of 1 to 63 bytes.
 */

ssize_t
tn_resolver_make_any_name(tn_str_t *name, u_char *dst)
{
    return tn_resolver_qname(name, dst, 1);
}


static ssize_t
tn_resolver_qname(tn_str_t *name, u_char *dst, tn_uint_t any)
{
    u_char  ch;
    size_t  i, len, label;

    len = name->len;

    if (len && name->data[len - 1] == '.') {
        len--;
    }

    if (len == 0 || len > TN_RESOLVER_MAX_QNAME) {
        return TN_ERROR;
    }

    label = 0;

    for (i = 0; i < len; i++) {
        ch = name->data[i];

        if (ch == '.') {
            if (label == 0) {
                return TN_ERROR;
            }

            label = 0;
            dst[i] = ch;
            continue;
        }

        if (any ? (ch < 0x20 || ch > 0x7e || ch == '\\')
                : !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
                    || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
        {
            return TN_ERROR;
        }

        if (++label > 63) {
            return TN_ERROR;
        }

        dst[i] = tn_tolower(ch);
    }

    return len;
}


/* "192.0.2.1" -> "1.2.0.192.in-addr.arpa", "::1" -> "1.0...ip6.arpa" */

ssize_t
tn_resolver_make_ptr(tn_str_t *addr, u_char *dst)
{
    u_char          *p, *data;
    size_t           len;
    tn_int_t         i;
    tn_uint_t        b;
    struct in_addr   in4;
    struct in6_addr  in6;
    u_char           text[TN_INET6_ADDRSTRLEN + 1];

    static u_char    hex[] = "0123456789abcdef";

    data = addr->data;
    len = addr->len;

    if (len >= 2 && data[0] == '[' && data[len - 1] == ']') {
        data++;
        len -= 2;
    }

    if (len == 0 || len >= sizeof(text)) {
        return TN_ERROR;
    }

    tn_memcpy(text, data, len);
    text[len] = '\0';

    p = dst;

    if (inet_pton(AF_INET, (char *) text, &in4) == 1) {
        data = (u_char *) &in4.s_addr;

    } else if (inet_pton(AF_INET6, (char *) text, &in6) == 1) {

        if (!IN6_IS_ADDR_V4MAPPED(&in6)) {
            for (i = 15; i >= 0; i--) {
                *p++ = hex[in6.s6_addr[i] & 0xf];
                *p++ = '.';
                *p++ = hex[in6.s6_addr[i] >> 4];
                *p++ = '.';
            }

            p = tn_cpymem(p, "ip6.arpa", sizeof("ip6.arpa") - 1);

            return p - dst;
        }

        /* "::ffff:192.0.2.1" from a dual-stack socket is an IPv4 client */
        data = &in6.s6_addr[12];

    } else {
        return TN_ERROR;
    }

    for (i = 3; i >= 0; i--) {
        b = data[i];

        if (b >= 100) {
            *p++ = (u_char) ('0' + b / 100);
        }

        if (b >= 10) {
            *p++ = (u_char) ('0' + b / 10 % 10);
        }

        *p++ = (u_char) ('0' + b % 10);
        *p++ = '.';
    }

    p = tn_cpymem(p, "in-addr.arpa", sizeof("in-addr.arpa") - 1);

    return p - dst;
}


/*
 * Parses a NOERROR answer with records into a, in pool.
 * Returns TN_OK, TN_RESOLVE_NODATA when no record of the type is left,
 * or another TN_RESOLVE_* error.
 */

tn_int_t
tn_resolver_parse(tn_pool_t *pool, tn_uint_t type, u_char *abuf, int alen,
    tn_resolver_answer_t *a)
{
    int  status;

    switch (type) {

    case TN_RESOLVE_A:
        status = tn_resolver_parse_addrs(pool, AF_INET, abuf, alen, a);
        break;

    case TN_RESOLVE_AAAA:
        status = tn_resolver_parse_addrs(pool, AF_INET6, abuf, alen, a);
        break;

    case TN_RESOLVE_MX:
        status = tn_resolver_parse_mx(pool, abuf, alen, a);
        break;

    case TN_RESOLVE_TXT:
        status = tn_resolver_parse_txt(pool, abuf, alen, a);
        break;

    default: /* TN_RESOLVE_PTR */
        status = tn_resolver_parse_ptr(pool, abuf, alen, a);
        break;
    }

    if (status != ARES_SUCCESS) {
        tn_memzero(a, sizeof(tn_resolver_answer_t));
        return tn_resolver_status(status);
    }

    if (a->naddrs + a->nmx + a->ntxt + a->nnames == 0) {
        return TN_RESOLVE_NODATA;
    }

    if (a->ttl > TN_RESOLVER_MAX_TTL) {
        a->ttl = TN_RESOLVER_MAX_TTL;
    }

    return TN_OK;
}


/* A or AAAA, the TTL from c-ares: the smaller of a record's and CNAMEs' */

static int
tn_resolver_parse_addrs(tn_pool_t *pool, int family, u_char *abuf,
    int alen, tn_resolver_answer_t *a)
{
    int                   i, n, ttl, status;
    void                 *data;
    struct ares_addrttl   ttls[TN_RESOLVER_MAX_RECORDS];
    struct ares_addr6ttl  ttls6[TN_RESOLVER_MAX_RECORDS];

    n = TN_RESOLVER_MAX_RECORDS;

    if (family == AF_INET) {
        status = ares_parse_a_reply(abuf, alen, NULL, ttls, &n);

    } else {
        status = ares_parse_aaaa_reply(abuf, alen, NULL, ttls6, &n);
    }

    if (status != ARES_SUCCESS || n <= 0) {
        return status;
    }

    a->addrs = tn_palloc(pool, n * sizeof(tn_addr_t));
    if (a->addrs == NULL) {
        return ARES_ENOMEM;
    }

    a->ttl = TN_RESOLVER_MAX_TTL;

    for (i = 0; i < n; i++) {

        if (family == AF_INET) {
            data = &ttls[i].ipaddr;
            ttl = ttls[i].ttl;

        } else {
            data = &ttls6[i].ip6addr;
            ttl = ttls6[i].ttl;
        }

        if (tn_resolver_add_addr(pool, &a->addrs[i], family, data) != TN_OK)
        {
            return ARES_ENOMEM;
        }

        a->ttl = tn_min(a->ttl, (uint32_t) tn_max(ttl, 0));
    }

    a->naddrs = n;

    return ARES_SUCCESS;
}


static tn_int_t
tn_resolver_add_addr(tn_pool_t *pool, tn_addr_t *addr, int family,
    void *data)
{
    u_char               *text;
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;

    text = tn_pnalloc(pool, INET6_ADDRSTRLEN);
    if (text == NULL) {
        return TN_ERROR;
    }

    if (family == AF_INET) {
        sin = tn_pcalloc(pool, sizeof(struct sockaddr_in));
        if (sin == NULL) {
            return TN_ERROR;
        }

        sin->sin_family = AF_INET;
        tn_memcpy(&sin->sin_addr, data, sizeof(struct in_addr));

        addr->sockaddr = (struct sockaddr *) sin;
        addr->socklen = sizeof(struct sockaddr_in);

    } else {
        sin6 = tn_pcalloc(pool, sizeof(struct sockaddr_in6));
        if (sin6 == NULL) {
            return TN_ERROR;
        }

        sin6->sin6_family = AF_INET6;
        tn_memcpy(&sin6->sin6_addr, data, sizeof(struct in6_addr));

        addr->sockaddr = (struct sockaddr *) sin6;
        addr->socklen = sizeof(struct sockaddr_in6);
    }

    if (inet_ntop(family, data, (char *) text, INET6_ADDRSTRLEN) == NULL) {
        return TN_ERROR;
    }

    addr->name.data = text;
    addr->name.len = tn_strlen(text);

    return TN_OK;
}


static int
tn_resolver_parse_mx(tn_pool_t *pool, u_char *abuf, int alen,
    tn_resolver_answer_t *a)
{
    int                    status;
    tn_uint_t              i, j, n;
    tn_resolver_mx_t       mx;
    struct ares_mx_reply  *reply, *rp;

    status = ares_parse_mx_reply(abuf, alen, &reply);
    if (status != ARES_SUCCESS) {
        return status;
    }

    a->mx = tn_palloc(pool, TN_RESOLVER_MAX_RECORDS
                            * sizeof(tn_resolver_mx_t));
    if (a->mx == NULL) {
        ares_free_data(reply);
        return ARES_ENOMEM;
    }

    n = 0;

    for (rp = reply; rp && n < TN_RESOLVER_MAX_RECORDS; rp = rp->next) {

        if (tn_strlen(rp->host) > TN_RESOLVER_MAX_NAME) {
            continue;
        }

        a->mx[n].preference = rp->priority;

        /* "" for the null MX "." (RFC 7505) */
        if (tn_resolver_copy_name(pool, &a->mx[n].host, rp->host) != TN_OK) {
            ares_free_data(reply);
            return ARES_ENOMEM;
        }

        n++;
    }

    ares_free_data(reply);

    /* a stable insertion sort by preference: n is small */

    for (i = 1; i < n; i++) {
        mx = a->mx[i];

        for (j = i; j > 0 && a->mx[j - 1].preference > mx.preference; j--) {
            a->mx[j] = a->mx[j - 1];
        }

        a->mx[j] = mx;
    }

    a->nmx = n;
    a->ttl = tn_resolver_answer_ttl(abuf, alen);

    return ARES_SUCCESS;
}


/*
 * Each TXT record's strings joined into one; records beyond the
 * TN_RESOLVER_MAX_TXT bytes budget are dropped whole (a cut SPF record
 * would read as another policy).
 */

static int
tn_resolver_parse_txt(tn_pool_t *pool, u_char *abuf, int alen,
    tn_resolver_answer_t *a)
{
    int                   status;
    u_char               *p;
    size_t                len, total;
    tn_uint_t             n;
    struct ares_txt_ext  *reply, *rp, *next;

    status = ares_parse_txt_reply_ext(abuf, alen, &reply);
    if (status != ARES_SUCCESS) {
        return status;
    }

    a->txt = tn_palloc(pool, TN_RESOLVER_MAX_RECORDS * sizeof(tn_str_t));
    if (a->txt == NULL) {
        ares_free_data(reply);
        return ARES_ENOMEM;
    }

    n = 0;
    total = 0;

    for (rp = reply; rp && n < TN_RESOLVER_MAX_RECORDS; rp = next) {

        /* the record is rp and the chunks after it up to the next start */

        len = rp->length;

        for (next = rp->next; next && !next->record_start; next = next->next)
        {
            len += next->length;
        }

        if (total + len > TN_RESOLVER_MAX_TXT) {
            break;
        }

        p = tn_pnalloc(pool, len + 1);
        if (p == NULL) {
            ares_free_data(reply);
            return ARES_ENOMEM;
        }

        a->txt[n].data = p;
        a->txt[n].len = len;

        p = tn_cpymem(p, rp->txt, rp->length);

        for (rp = rp->next; rp != next; rp = rp->next) {
            p = tn_cpymem(p, rp->txt, rp->length);
        }

        *p = '\0';

        total += len;
        n++;
    }

    ares_free_data(reply);

    a->ntxt = n;
    a->ttl = tn_resolver_answer_ttl(abuf, alen);

    return ARES_SUCCESS;
}


static int
tn_resolver_parse_ptr(tn_pool_t *pool, u_char *abuf, int alen,
    tn_resolver_answer_t *a)
{
    int              status;
    char           **names;
    tn_uint_t        n;
    struct hostent  *he;

    status = ares_parse_ptr_reply(abuf, alen, NULL, 0, AF_INET, &he);
    if (status != ARES_SUCCESS) {
        return status;
    }

    a->names = tn_palloc(pool, TN_RESOLVER_MAX_RECORDS * sizeof(tn_str_t));
    if (a->names == NULL) {
        ares_free_hostent(he);
        return ARES_ENOMEM;
    }

    n = 0;

    /* c-ares 1.18 lists every PTR name as an alias, in answer order */

    for (names = he->h_aliases;
         names && *names && n < TN_RESOLVER_MAX_RECORDS;
         names++)
    {
        if (**names == '\0' || tn_strlen(*names) > TN_RESOLVER_MAX_NAME) {
            continue;
        }

        if (tn_resolver_copy_name(pool, &a->names[n], *names) != TN_OK) {
            ares_free_hostent(he);
            return ARES_ENOMEM;
        }

        n++;
    }

    if (n == 0 && he->h_name && *he->h_name
        && tn_strlen(he->h_name) <= TN_RESOLVER_MAX_NAME)
    {
        if (tn_resolver_copy_name(pool, &a->names[n], he->h_name) != TN_OK) {
            ares_free_hostent(he);
            return ARES_ENOMEM;
        }

        n++;
    }

    ares_free_hostent(he);

    a->nnames = n;
    a->ttl = tn_resolver_answer_ttl(abuf, alen);

    return ARES_SUCCESS;
}


static tn_int_t
tn_resolver_copy_name(tn_pool_t *pool, tn_str_t *dst, char *src)
{
    size_t  len;

    len = tn_strlen(src);

    dst->data = tn_pnalloc(pool, len + 1);
    if (dst->data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(dst->data, src, len + 1);
    dst->len = len;

    return TN_OK;
}


/*
 * The smallest TTL in the answer section (c-ares 1.18 gives TTLs only
 * for A and AAAA).  0, i.e. not cached, on anything malformed.
 */

static uint32_t
tn_resolver_answer_ttl(u_char *abuf, size_t alen)
{
    u_char     *p, *last;
    size_t      len;
    uint32_t    ttl, min;
    tn_uint_t   i, qdcount, ancount;

    if (alen < 12) {
        return 0;
    }

    qdcount = (abuf[4] << 8) | abuf[5];
    ancount = (abuf[6] << 8) | abuf[7];

    p = abuf + 12;
    last = abuf + alen;

    for (i = 0; i < qdcount; i++) {
        p = tn_resolver_skip_name(p, last);
        if (p == NULL || last - p < 4) {
            return 0;
        }

        p += 4;
    }

    min = TN_RESOLVER_MAX_TTL;

    for (i = 0; i < ancount; i++) {
        p = tn_resolver_skip_name(p, last);
        if (p == NULL || last - p < 10) {
            return 0;
        }

        ttl = ((uint32_t) p[4] << 24) | ((uint32_t) p[5] << 16)
              | ((uint32_t) p[6] << 8) | p[7];

        /* RFC 2181 8: a TTL with the top bit set counts as 0 */
        if (ttl & 0x80000000) {
            ttl = 0;
        }

        min = tn_min(min, ttl);

        len = (p[8] << 8) | p[9];
        p += 10;

        if ((size_t) (last - p) < len) {
            return 0;
        }

        p += len;
    }

    return min;
}


static u_char *
tn_resolver_skip_name(u_char *p, u_char *last)
{
    size_t  len;

    while (p < last) {
        len = *p;

        if (len == 0) {
            return p + 1;
        }

        if ((len & 0xc0) == 0xc0) {
            return (last - p >= 2) ? p + 2 : NULL;
        }

        if (len & 0xc0) {
            return NULL;
        }

        if ((size_t) (last - p) < len + 1) {
            return NULL;
        }

        p += len + 1;
    }

    return NULL;
}


/*
 * An answer is copied as one block: the arrays (sizes are multiples of
 * the pointer size), one sockaddr slot per address, then the strings,
 * each NUL-terminated.
 */

size_t
tn_resolver_answer_size(tn_resolver_answer_t *a)
{
    size_t     size;
    tn_uint_t  i;

    size = a->naddrs * (tn_align(sizeof(tn_addr_t), sizeof(void *))
                        + TN_RESOLVER_SOCKADDR_SIZE)
           + a->nmx * tn_align(sizeof(tn_resolver_mx_t), sizeof(void *))
           + (a->ntxt + a->nnames) * tn_align(sizeof(tn_str_t),
                                              sizeof(void *));

    for (i = 0; i < a->naddrs; i++) {
        size += a->addrs[i].name.len + 1;
    }

    for (i = 0; i < a->nmx; i++) {
        size += a->mx[i].host.len + 1;
    }

    for (i = 0; i < a->ntxt; i++) {
        size += a->txt[i].len + 1;
    }

    for (i = 0; i < a->nnames; i++) {
        size += a->names[i].len + 1;
    }

    return size;
}


static u_char *
tn_resolver_copy_str(u_char *p, tn_str_t *dst, tn_str_t *src)
{
    dst->len = src->len;
    dst->data = p;

    p = tn_cpymem(p, src->data, src->len);
    *p++ = '\0';

    return p;
}


void
tn_resolver_answer_copy(tn_resolver_answer_t *dst, tn_resolver_answer_t *src,
    u_char *p)
{
    u_char     *s;
    tn_uint_t   i;

    *dst = *src;

    dst->addrs = NULL;
    dst->mx = NULL;
    dst->txt = NULL;
    dst->names = NULL;

    if (src->naddrs) {
        dst->addrs = (tn_addr_t *) p;
        p += src->naddrs * tn_align(sizeof(tn_addr_t), sizeof(void *));
    }

    if (src->nmx) {
        dst->mx = (tn_resolver_mx_t *) p;
        p += src->nmx * tn_align(sizeof(tn_resolver_mx_t), sizeof(void *));
    }

    if (src->ntxt) {
        dst->txt = (tn_str_t *) p;
        p += src->ntxt * tn_align(sizeof(tn_str_t), sizeof(void *));
    }

    if (src->nnames) {
        dst->names = (tn_str_t *) p;
        p += src->nnames * tn_align(sizeof(tn_str_t), sizeof(void *));
    }

    s = p + src->naddrs * TN_RESOLVER_SOCKADDR_SIZE;

    for (i = 0; i < src->naddrs; i++) {
        tn_memzero(p, TN_RESOLVER_SOCKADDR_SIZE);
        tn_memcpy(p, src->addrs[i].sockaddr, src->addrs[i].socklen);

        dst->addrs[i].sockaddr = (struct sockaddr *) p;
        dst->addrs[i].socklen = src->addrs[i].socklen;
        p += TN_RESOLVER_SOCKADDR_SIZE;

        s = tn_resolver_copy_str(s, &dst->addrs[i].name, &src->addrs[i].name);
    }

    for (i = 0; i < src->nmx; i++) {
        dst->mx[i].preference = src->mx[i].preference;
        s = tn_resolver_copy_str(s, &dst->mx[i].host, &src->mx[i].host);
    }

    for (i = 0; i < src->ntxt; i++) {
        s = tn_resolver_copy_str(s, &dst->txt[i], &src->txt[i]);
    }

    for (i = 0; i < src->nnames; i++) {
        s = tn_resolver_copy_str(s, &dst->names[i], &src->names[i]);
    }
}


/* copies an answer into the context's pool; failure becomes an error */

void
tn_resolver_set_answer(tn_resolver_ctx_t *ctx, tn_resolver_answer_t *a,
    uint32_t ttl)
{
    u_char                *p;
    size_t                 size;
    tn_resolver_answer_t   copy;

    tn_memzero(&copy, sizeof(tn_resolver_answer_t));
    copy.state = a->state;

    size = tn_resolver_answer_size(a);

    if (size) {
        p = tn_palloc(ctx->pool, size);

        if (p == NULL) {
            copy.state = TN_RESOLVE_ERROR;

        } else {
            tn_resolver_answer_copy(&copy, a, p);
        }
    }

    ctx->state = copy.state;
    ctx->ttl = (copy.state == TN_RESOLVE_ERROR) ? 0 : ttl;

    ctx->naddrs = copy.naddrs;
    ctx->addrs = copy.addrs;
    ctx->nmx = copy.nmx;
    ctx->mx = copy.mx;
    ctx->ntxt = copy.ntxt;
    ctx->txt = copy.txt;
    ctx->nnames = copy.nnames;
    ctx->names = copy.names;
}
