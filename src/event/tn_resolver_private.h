
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_RESOLVER_PRIVATE_H_INCLUDED_
#define _TN_RESOLVER_PRIVATE_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


/*
 * What tn_resolver.c and tn_resolver_answer.c share.  Only those two
 * include this header; everyone else uses tn_resolver.h.
 */


/* the longest name asked for, without the trailing dot */
#define TN_RESOLVER_MAX_QNAME      253


/* an answer: the fields a context shows, kept in one place */
typedef struct {
    tn_int_t                state;
    uint32_t                ttl;

    tn_uint_t               naddrs;
    tn_addr_t              *addrs;

    tn_uint_t               nmx;
    tn_resolver_mx_t       *mx;

    tn_uint_t               ntxt;
    tn_str_t               *txt;

    tn_uint_t               nnames;
    tn_str_t               *names;
} tn_resolver_answer_t;


/* a c-ares status as TN_OK or a TN_RESOLVE_* error */
tn_int_t tn_resolver_status(int status);

/*
 * The name to ask for, written to dst (TN_RESOLVER_MAX_QNAME bytes, no
 * NUL): its length, or TN_ERROR for a name that may not be asked.
 */
ssize_t tn_resolver_make_name(tn_str_t *name, u_char *dst);
ssize_t tn_resolver_make_ptr(tn_str_t *addr, u_char *dst);
/* as tn_resolver_make_name(), any printable ASCII or SP but backslash */
ssize_t tn_resolver_make_any_name(tn_str_t *name, u_char *dst);

/* parses an answer of c-ares into a, allocating from pool */
tn_int_t tn_resolver_parse(tn_pool_t *pool, tn_uint_t type, u_char *abuf,
    int alen, tn_resolver_answer_t *a);

/* copying an answer as one block of tn_resolver_answer_size() bytes */
size_t tn_resolver_answer_size(tn_resolver_answer_t *a);
void tn_resolver_answer_copy(tn_resolver_answer_t *dst,
    tn_resolver_answer_t *src, u_char *p);
void tn_resolver_set_answer(tn_resolver_ctx_t *ctx, tn_resolver_answer_t *a,
    uint32_t ttl);


#endif /* _TN_RESOLVER_PRIVATE_H_INCLUDED_ */
