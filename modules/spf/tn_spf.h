
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_SPF_H_INCLUDED_
#define _TN_SPF_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_resolver.h>


/*
 * SPF (RFC 7208): check_host() as an asynchronous state machine over the
 * worker's resolver (tn_spf.c), and the pure parts it is made of, the
 * record parser and the macro expander (tn_spf_parse.c), which need no
 * DNS and are what the unit tests and the fuzzer drive.
 */


/* results, numbered as TN_MAIL_AUTH_* */
#define TN_SPF_NONE              0
#define TN_SPF_PASS              1
#define TN_SPF_FAIL              2
#define TN_SPF_SOFTFAIL          3
#define TN_SPF_NEUTRAL           4
#define TN_SPF_TEMPERROR         5
#define TN_SPF_PERMERROR         6

/* RFC 7208 4.6.4: terms that query DNS, and lookups that find nothing */
#define TN_SPF_MAX_DNS_TERMS     10
#define TN_SPF_MAX_VOID          2
/* MX names per "mx", PTR names looked at */
#define TN_SPF_MAX_NAMES         10
/* the whole check (RFC 7208 4.6.4: "at least 20 seconds") */
#define TN_SPF_TIMEOUT           20000
/* an expanded macro-string, at most (longer: permerror) */
#define TN_SPF_MAX_EXPAND        8192
/* the explanation kept, at most */
#define TN_SPF_MAX_EXPLANATION   512

/* term types */
#define TN_SPF_ALL               1
#define TN_SPF_INCLUDE           2
#define TN_SPF_A                 3
#define TN_SPF_MX                4
#define TN_SPF_PTR               5
#define TN_SPF_IP4               6
#define TN_SPF_IP6               7
#define TN_SPF_EXISTS            8


/* one mechanism of a record */
typedef struct {
    tn_uint_t               type;        /* TN_SPF_ALL ... */
    tn_uint_t               qualifier;   /* the result on a match */
    tn_str_t                spec;        /* domain-spec; len 0: none */
    tn_uint_t               cidr4;       /* 0..32 */
    tn_uint_t               cidr6;       /* 0..128 */
    u_char                  addr[16];    /* ip4 (4 bytes), ip6 */
} tn_spf_term_t;


typedef struct {
    tn_spf_term_t          *terms;
    tn_uint_t               nterms;
    tn_str_t                redirect;    /* data NULL: none */
    tn_str_t                exp;         /* data NULL: none */
} tn_spf_record_t;


/* what macros expand to (RFC 7208 7.3) */
typedef struct {
    tn_str_t                sender;      /* %{s}: local@domain */
    tn_str_t                local;       /* %{l} */
    tn_str_t                sender_domain;  /* %{o} */
    tn_str_t                domain;      /* %{d}: the current domain */
    tn_str_t                helo;        /* %{h} */
    tn_str_t                receiver;    /* %{r} */
    tn_str_t                validated;   /* %{p}; data NULL: "unknown" */
    time_t                  now;         /* %{t} */
    int                     family;      /* AF_INET (also mapped), AF_INET6 */
    u_char                  ip[16];
} tn_spf_macro_t;


/* tn_spf_parse.c: pure, no DNS */

/* a TXT string is an SPF record: "v=spf1" (any case), then SP or end */
tn_uint_t tn_spf_is_record(u_char *p, size_t len);

/*
 * Parses a whole record (starting "v=spf1") into rec, in pool.  TN_OK,
 * TN_ERROR (a syntax error: permerror; *err says where) or TN_ABORT (no
 * memory).
 */
tn_int_t tn_spf_parse_record(tn_pool_t *pool, u_char *p, size_t len,
    tn_spf_record_t *rec, tn_str_t *err);

/* a domain-spec (RFC 7208 7.1) is well formed: TN_OK or TN_ERROR */
tn_int_t tn_spf_check_domain_spec(u_char *p, size_t len);

/*
 * A macro-string is well formed; exp: of an explanation (letters c, r,
 * t and spaces allowed).  TN_OK or TN_ERROR.
 */
tn_int_t tn_spf_check_macro_string(u_char *p, size_t len, tn_uint_t exp);

/* the string holds %{p} (any case): the expansion needs PTR lookups */
tn_uint_t tn_spf_macro_uses_p(tn_str_t *s);

/*
 * Expands a checked macro-string into dst (at most TN_SPF_MAX_EXPAND
 * bytes).  Returns the length, or TN_ERROR when it is malformed or too
 * long.
 */
ssize_t tn_spf_expand(tn_spf_macro_t *m, tn_str_t *s, tn_uint_t exp,
    u_char *dst);

/*
 * A domain from an expansion as a name to look up: a final dot removed,
 * labels removed from the left while longer than 253 (RFC 7208 7.3).
 * TN_OK, or TN_DECLINED when it is no valid DNS name (an empty label, a
 * label over 63 bytes): it then names nothing.
 */
tn_int_t tn_spf_target_name(tn_str_t *name);

/* the first bits of a and b agree */
tn_uint_t tn_spf_cidr_match(u_char *a, u_char *b, tn_uint_t bits);

/*
 * The client address from text ("192.0.2.1", "2001:db8::1", an
 * IPv4-mapped IPv6 address is IPv4): TN_OK or TN_ERROR.
 */
tn_int_t tn_spf_parse_ip(u_char *p, size_t len, tn_spf_macro_t *m);

/*
 * The identity checked: a domain is usable (RFC 7208 4.3: a FQDN of
 * labels of 1 to 63 bytes, not an address literal).
 */
tn_uint_t tn_spf_valid_domain(tn_str_t *domain);

/* "pass", "fail", ... */
const char *tn_spf_result_name(tn_uint_t result);


/* tn_spf.c: check_host() */

typedef struct tn_spf_s  tn_spf_t;

typedef void (*tn_spf_handler_pt)(tn_spf_t *spf);

struct tn_spf_s {
    /* set by the caller (tn_spf_create() sets the rest) */
    tn_spf_handler_pt       handler;
    void                   *data;

    /* the outcome, once done */
    tn_uint_t               result;
    tn_str_t                domain;      /* the identity's domain */
    tn_str_t                explanation; /* of a fail, "" if none */
    tn_str_t                reason;      /* what decided, for logs */

    /* private */
    tn_pool_t              *pool;
    tn_log_t               *log;
    tn_resolver_t          *resolver;
    void                   *state;
};


/*
 * A check of ip for sender ("" for the null reverse path: then
 * postmaster@helo is checked) with the given HELO, in pool.  receiver is
 * our host name (%{r}).  NULL on failure (memory, a bad address).
 */
tn_spf_t *tn_spf_create(tn_pool_t *pool, tn_log_t *log, tn_resolver_t *r,
    tn_str_t *ip, tn_str_t *sender, tn_str_t *helo, tn_str_t *receiver);

/*
 * Starts the check.  TN_OK: it is over already (spf->result is set; the
 * handler is not called).  TN_AGAIN: the handler is called once, later,
 * from the event loop.  TN_ERROR: no memory.
 */
tn_int_t tn_spf_start(tn_spf_t *spf);

/* stops a check in progress: its handler is not called */
void tn_spf_cancel(tn_spf_t *spf);


#endif /* _TN_SPF_H_INCLUDED_ */
