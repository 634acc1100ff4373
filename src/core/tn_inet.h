
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_INET_H_INCLUDED_
#define _TN_INET_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


#define TN_INET_ADDRSTRLEN   (sizeof("255.255.255.255") - 1)
#define TN_INET6_ADDRSTRLEN                                                  \
    (sizeof("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255") - 1)
#define TN_SOCKADDR_STRLEN   (sizeof("[]") - 1 + TN_INET6_ADDRSTRLEN         \
                              + sizeof(":65535") - 1)
#define TN_SOCKADDRLEN       sizeof(tn_sockaddr_t)


typedef union {
    struct sockaddr           sockaddr;
    struct sockaddr_in        sockaddr_in;
    struct sockaddr_in6       sockaddr_in6;
    struct sockaddr_un        sockaddr_un;
} tn_sockaddr_t;


typedef struct {
    struct sockaddr          *sockaddr;
    socklen_t                 socklen;
    tn_str_t                  name;
} tn_addr_t;


typedef struct {
    tn_str_t                  url;
    tn_str_t                  host;
    in_port_t                 port;
    in_port_t                 default_port;

    unsigned                  no_port:1;
    unsigned                  wildcard:1;

    socklen_t                 socklen;
    tn_sockaddr_t             sockaddr;

    char                     *err;
} tn_url_t;


/* "1.2.3.4", "[::1]" + port when port is set */
size_t tn_sock_ntop(struct sockaddr *sa, socklen_t socklen, u_char *text,
    size_t len, tn_uint_t port);
size_t tn_inet_ntop(int family, void *addr, u_char *text, size_t len);
in_addr_t tn_inet_addr(u_char *text, size_t len);
tn_int_t tn_inet6_addr(u_char *p, size_t len, u_char *addr);

/*
 * Parses "[ADDR:]PORT", "ADDR", "[IPv6]:PORT", "*:PORT" into u (numeric
 * addresses only: names are not resolved).  u->err is set on failure.
 * Without a port, u->default_port is used (an error if it is 0) and
 * u->no_port is set.  u->host points into u->url: "[::1]" keeps its
 * brackets, and it is empty for "*" or a port alone.
 */
tn_int_t tn_parse_url(tn_pool_t *pool, tn_url_t *u);

in_port_t tn_inet_get_port(struct sockaddr *sa);
void tn_inet_set_port(struct sockaddr *sa, in_port_t port);
/* TN_OK when equal (ports compared only if cmp_port), else TN_DECLINED */
tn_int_t tn_cmp_sockaddr(struct sockaddr *sa1, socklen_t slen1,
    struct sockaddr *sa2, socklen_t slen2, tn_uint_t cmp_port);


#endif /* _TN_INET_H_INCLUDED_ */
