
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


static tn_int_t tn_parse_inet6_url(tn_url_t *u, u_char *p, u_char *last);
static tn_int_t tn_parse_url_port(tn_url_t *u, u_char *p, u_char *last);
static void tn_url_set_inet(tn_url_t *u, in_addr_t addr);
static void tn_url_set_inet6(tn_url_t *u, u_char *addr);


size_t
tn_sock_ntop(struct sockaddr *sa, socklen_t socklen, u_char *text,
    size_t len, tn_uint_t port)
{
    u_char               *p, *path;
    size_t                n, max;
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;
    struct sockaddr_un   *saun;
    u_char                addr[TN_INET6_ADDRSTRLEN + 1];

    switch (sa->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        p = (u_char *) &sin->sin_addr;

        if (port) {
            p = tn_snprintf(text, len, "%ud.%ud.%ud.%ud:%ud",
                            p[0], p[1], p[2], p[3],
                            (unsigned int) ntohs(sin->sin_port));
        } else {
            p = tn_snprintf(text, len, "%ud.%ud.%ud.%ud",
                            p[0], p[1], p[2], p[3]);
        }

        return (size_t) (p - text);

    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;

        n = tn_inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));

        if (port) {
            p = tn_snprintf(text, len, "[%*s]:%ud", n, addr,
                            (unsigned int) ntohs(sin6->sin6_port));
        } else {
            p = tn_snprintf(text, len, "%*s", n, addr);
        }

        return (size_t) (p - text);

    case AF_UNIX:
        saun = (struct sockaddr_un *) sa;
        path = (u_char *) saun->sun_path;

        /* an unnamed socket may have no sun_path at all */

        n = 0;

        if (socklen > (socklen_t) offsetof(struct sockaddr_un, sun_path)) {
            max = socklen - offsetof(struct sockaddr_un, sun_path);
            max = tn_min(max, sizeof(saun->sun_path));

            while (n < max && path[n] != '\0') {
                n++;
            }
        }

        p = tn_snprintf(text, len, "unix:%*s", n, path);

        return (size_t) (p - text);

    default:
        return 0;
    }
}


size_t
tn_inet_ntop(int family, void *addr, u_char *text, size_t len)
{
    u_char  *p;
    char     buf[INET6_ADDRSTRLEN];

    switch (family) {

    case AF_INET:
        p = addr;

        return (size_t) (tn_snprintf(text, len, "%ud.%ud.%ud.%ud",
                                     p[0], p[1], p[2], p[3])
                         - text);

    case AF_INET6:
        if (inet_ntop(AF_INET6, addr, buf, sizeof(buf)) == NULL) {
            return 0;
        }

        return (size_t) (tn_snprintf(text, len, "%s", buf) - text);

    default:
        return 0;
    }
}


/*
 * A dotted quad: four decimal octets of one to three digits, no leading
 * zeros (they would read as octal to some other parsers), each <= 255.
 */

in_addr_t
tn_inet_addr(u_char *text, size_t len)
{
    u_char      *p, *last, c;
    uint32_t     addr;
    tn_uint_t    octet, digits, n;

    addr = 0;
    octet = 0;
    digits = 0;
    n = 0;
    last = text + len;

    for (p = text; p < last; p++) {
        c = *p;

        if (c >= '0' && c <= '9') {
            if (digits == 1 && octet == 0) {
                return INADDR_NONE;
            }

            octet = octet * 10 + (c - '0');

            if (octet > 255) {
                return INADDR_NONE;
            }

            digits++;
            continue;
        }

        if (c == '.' && digits && n < 3) {
            addr = (addr << 8) + (uint32_t) octet;
            octet = 0;
            digits = 0;
            n++;
            continue;
        }

        return INADDR_NONE;
    }

    if (n != 3 || digits == 0) {
        return INADDR_NONE;
    }

    addr = (addr << 8) + (uint32_t) octet;

    return htonl(addr);
}


tn_int_t
tn_inet6_addr(u_char *p, size_t len, u_char *addr)
{
    char  text[TN_INET6_ADDRSTRLEN + 1];

    /* inet_pton() wants a C string: copy, refusing embedded NULs */

    if (len == 0 || len > TN_INET6_ADDRSTRLEN || memchr(p, '\0', len)) {
        return TN_ERROR;
    }

    tn_memcpy(text, p, len);
    text[len] = '\0';

    if (inet_pton(AF_INET6, text, addr) != 1) {
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * The forms: "PORT", "*:PORT", "ADDR:PORT", "ADDR", "[IPv6]:PORT",
 * "[IPv6]" and a bare "IPv6"; ADDR is a dotted quad.  The port defaults
 * to u->default_port.  u->host points into u->url (empty for a wildcard
 * given as "*" or as a port alone), so the pool is not needed.
 */

tn_int_t
tn_parse_url(tn_pool_t *pool, tn_url_t *u)
{
    u_char     *p, *s, *last, *colon, *host;
    size_t      len;
    in_addr_t   in;
    u_char      in6[16];

    (void) pool;

    p = u->url.data;
    len = u->url.len;
    last = p + len;

    u->err = NULL;
    u->host.len = 0;
    u->host.data = p;
    u->port = 0;
    u->no_port = 0;
    u->wildcard = 0;

    if (len == 0) {
        u->err = "no address";
        return TN_ERROR;
    }

    if (p[0] == '[') {
        return tn_parse_inet6_url(u, p, last);
    }

    colon = NULL;

    for (s = p; s < last; s++) {
        if (*s == ':') {
            if (colon) {
                /* two colons: a bare IPv6 address, which takes no port */
                if (tn_inet6_addr(p, len, in6) != TN_OK) {
                    u->err = "invalid IPv6 address";
                    return TN_ERROR;
                }

                u->host.len = len;
                tn_url_set_inet6(u, in6);

                return tn_parse_url_port(u, last, last);
            }

            colon = s;
        }
    }

    if (colon == NULL) {

        for (s = p; s < last; s++) {
            if (*s < '0' || *s > '9') {
                break;
            }
        }

        if (s == last) {
            /* digits alone: a port */
            tn_url_set_inet(u, htonl(INADDR_ANY));
            return tn_parse_url_port(u, p, last);
        }

        colon = last;
    }

    host = p;
    len = (size_t) (colon - host);

    if (len == 1 && *host == '*') {
        tn_url_set_inet(u, htonl(INADDR_ANY));

    } else {
        in = tn_inet_addr(host, len);

        if (in == INADDR_NONE) {
            u->err = (len == 0) ? "no address" : "invalid IP address";
            return TN_ERROR;
        }

        u->host.len = len;
        tn_url_set_inet(u, in);
    }

    if (colon == last) {
        return tn_parse_url_port(u, last, last);
    }

    if (colon + 1 == last) {
        u->err = "invalid port";
        return TN_ERROR;
    }

    return tn_parse_url_port(u, colon + 1, last);
}


static tn_int_t
tn_parse_inet6_url(tn_url_t *u, u_char *p, u_char *last)
{
    u_char  *end;
    u_char   in6[16];

    end = tn_strlchr(p, last, ']');

    if (end == NULL) {
        u->err = "invalid IPv6 address";
        return TN_ERROR;
    }

    if (tn_inet6_addr(p + 1, (size_t) (end - p - 1), in6) != TN_OK) {
        u->err = "invalid IPv6 address";
        return TN_ERROR;
    }

    /* the host keeps its brackets, as in "[::1]:25" */
    u->host.len = (size_t) (end + 1 - p);
    tn_url_set_inet6(u, in6);

    end++;

    if (end == last) {
        return tn_parse_url_port(u, last, last);
    }

    if (*end != ':' || end + 1 == last) {
        u->err = "invalid port";
        return TN_ERROR;
    }

    return tn_parse_url_port(u, end + 1, last);
}


/* [p, last) is the port text; empty means "use the default port" */

static tn_int_t
tn_parse_url_port(tn_url_t *u, u_char *p, u_char *last)
{
    tn_int_t  port;

    if (p == last) {

        if (u->default_port == 0) {
            u->err = "no port";
            return TN_ERROR;
        }

        u->no_port = 1;
        port = u->default_port;

    } else {
        port = tn_atoi(p, (size_t) (last - p));

        if (port < 1 || port > 65535) {
            u->err = "invalid port";
            return TN_ERROR;
        }
    }

    u->port = (in_port_t) port;
    tn_inet_set_port(&u->sockaddr.sockaddr, u->port);

    return TN_OK;
}


static void
tn_url_set_inet(tn_url_t *u, in_addr_t addr)
{
    struct sockaddr_in  *sin;

    tn_memzero(&u->sockaddr, sizeof(tn_sockaddr_t));

    sin = &u->sockaddr.sockaddr_in;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = addr;

    u->socklen = sizeof(struct sockaddr_in);
    u->wildcard = (addr == htonl(INADDR_ANY));
}


static void
tn_url_set_inet6(tn_url_t *u, u_char *addr)
{
    struct sockaddr_in6  *sin6;

    tn_memzero(&u->sockaddr, sizeof(tn_sockaddr_t));

    sin6 = &u->sockaddr.sockaddr_in6;
    sin6->sin6_family = AF_INET6;
    tn_memcpy(sin6->sin6_addr.s6_addr, addr, 16);

    u->socklen = sizeof(struct sockaddr_in6);
    u->wildcard = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ? 1 : 0;
}


in_port_t
tn_inet_get_port(struct sockaddr *sa)
{
    switch (sa->sa_family) {

    case AF_INET:
        return ntohs(((struct sockaddr_in *) sa)->sin_port);

    case AF_INET6:
        return ntohs(((struct sockaddr_in6 *) sa)->sin6_port);

    default:
        return 0;
    }
}


void
tn_inet_set_port(struct sockaddr *sa, in_port_t port)
{
    switch (sa->sa_family) {

    case AF_INET:
        ((struct sockaddr_in *) sa)->sin_port = htons(port);
        break;

    case AF_INET6:
        ((struct sockaddr_in6 *) sa)->sin6_port = htons(port);
        break;

    default:
        break;
    }
}


/* TN_OK when the addresses (and the ports, if cmp_port) are equal */

tn_int_t
tn_cmp_sockaddr(struct sockaddr *sa1, socklen_t slen1,
    struct sockaddr *sa2, socklen_t slen2, tn_uint_t cmp_port)
{
    size_t                len;
    struct sockaddr_in   *sin1, *sin2;
    struct sockaddr_in6  *sin61, *sin62;
    struct sockaddr_un   *saun1, *saun2;

    if (sa1->sa_family != sa2->sa_family) {
        return TN_DECLINED;
    }

    switch (sa1->sa_family) {

    case AF_INET:
        sin1 = (struct sockaddr_in *) sa1;
        sin2 = (struct sockaddr_in *) sa2;

        if (cmp_port && sin1->sin_port != sin2->sin_port) {
            return TN_DECLINED;
        }

        if (sin1->sin_addr.s_addr != sin2->sin_addr.s_addr) {
            return TN_DECLINED;
        }

        return TN_OK;

    case AF_INET6:
        sin61 = (struct sockaddr_in6 *) sa1;
        sin62 = (struct sockaddr_in6 *) sa2;

        if (cmp_port && sin61->sin6_port != sin62->sin6_port) {
            return TN_DECLINED;
        }

        if (tn_memcmp(&sin61->sin6_addr, &sin62->sin6_addr, 16) != 0) {
            return TN_DECLINED;
        }

        return TN_OK;

    case AF_UNIX:
        saun1 = (struct sockaddr_un *) sa1;
        saun2 = (struct sockaddr_un *) sa2;

        if (slen1 != slen2
            || slen1 < (socklen_t) offsetof(struct sockaddr_un, sun_path))
        {
            return TN_DECLINED;
        }

        len = slen1 - offsetof(struct sockaddr_un, sun_path);
        len = tn_min(len, sizeof(saun1->sun_path));

        if (len && tn_memcmp(saun1->sun_path, saun2->sun_path, len) != 0) {
            return TN_DECLINED;
        }

        return TN_OK;

    default:
        return TN_DECLINED;
    }
}
