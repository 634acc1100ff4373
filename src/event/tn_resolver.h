
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_RESOLVER_H_INCLUDED_
#define _TN_RESOLVER_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


#define TN_RESOLVE_A         1
#define TN_RESOLVE_PTR       12
#define TN_RESOLVE_MX        15
#define TN_RESOLVE_TXT       16
#define TN_RESOLVE_AAAA      28

/* ctx->state: TN_OK (0) or one of these */
#define TN_RESOLVE_FORMERR   1
#define TN_RESOLVE_SERVFAIL  2
#define TN_RESOLVE_NXDOMAIN  3
#define TN_RESOLVE_NOTIMP    4
#define TN_RESOLVE_REFUSED   5
#define TN_RESOLVE_NODATA    6     /* the name exists without this type */
#define TN_RESOLVE_TIMEDOUT  110   /* no answer within resolver_timeout */
#define TN_RESOLVE_ERROR     111   /* a local failure (memory, sockets) */

/* answers kept per name and type; the least recently used go first */
#define TN_RESOLVER_CACHE_MAX    10000
/* the longest a name may be cached, whatever its TTL */
/* "resolver system;" reads the name servers from here */
#define TN_RESOLVER_SYSTEM_CONF  "/etc/resolv.conf"
#define TN_RESOLVER_MAX_TTL      3600
/* how long a failure (NXDOMAIN, NODATA) is cached */
#define TN_RESOLVER_NEG_TTL      30


typedef struct tn_resolver_s      tn_resolver_t;
typedef struct tn_resolver_ctx_s  tn_resolver_ctx_t;

typedef void (*tn_resolver_handler_pt)(tn_resolver_ctx_t *ctx);


typedef struct {
    tn_uint_t            preference;
    tn_str_t             host;
} tn_resolver_mx_t;


struct tn_resolver_ctx_s {
    tn_resolver_t       *resolver;

    /* set by the caller */
    tn_str_t             name;       /* PTR: the address in text form */
    tn_uint_t            type;
    tn_resolver_handler_pt  handler;
    void                *data;

    /* set when handler runs */
    tn_int_t             state;
    uint32_t             ttl;

    tn_uint_t            naddrs;     /* A and AAAA */
    tn_addr_t           *addrs;

    tn_uint_t            nmx;        /* MX, sorted by preference */
    tn_resolver_mx_t    *mx;

    tn_uint_t            ntxt;       /* TXT: each record's strings joined */
    tn_str_t            *txt;

    tn_uint_t            nnames;     /* PTR */
    tn_str_t            *names;

    /* private */
    tn_pool_t           *pool;       /* holds the answer */
    tn_queue_t           queue;
    /* posted for an answer (from the cache too); the deadline timer */
    tn_event_t          *event;
    void                *query;      /* the c-ares query in flight */
    unsigned             pending:1;  /* started, handler not yet called */
    unsigned             done:1;     /* the handler was called */

    /*
     * Set by the caller: the name may hold any printable ASCII byte or
     * space but the backslash (SPF targets are macro expansions, RFC 7208
     * 7.3), not only host-name bytes.
     */
    unsigned             any_name:1;
};


/*
 * The worker's resolver, from the "resolver" directive, or NULL when
 * none is configured.
 */
tn_resolver_t *tn_resolver_get(tn_cycle_t *cycle);

/* a new context from the resolver's free list; NULL on failure */
tn_resolver_ctx_t *tn_resolve_start(tn_resolver_t *r);

/*
 * Starts the lookup.  The handler is always called later from the event
 * loop, never from inside this call, exactly once, unless
 * tn_resolve_done() runs first.  TN_OK or TN_ERROR (no handler call;
 * ctx->state is TN_RESOLVE_FORMERR for a name that is not a host name
 * or, for PTR, not an address, else TN_RESOLVE_ERROR).  A context
 * serves one lookup.
 */
tn_int_t tn_resolve_name(tn_resolver_ctx_t *ctx);

/*
 * Releases the context.  Called from the handler when done with the
 * answer, or before it to cancel: the handler then never runs.
 */
void tn_resolve_done(tn_resolver_ctx_t *ctx);

char *tn_resolver_strerror(tn_int_t err);

/*
 * An admin command that needs DNS ("tern spf", "tern dmarc report"):
 * sets up the event loop and the resolver of the configuration in the
 * command's own process (no listening sockets are taken on), so that
 * lookups run with tn_process_events_and_timers().  Returns the
 * resolver, or NULL when none is configured or the setup failed (said
 * on stderr).  tn_resolver_cli_stop() releases what the setup made, as
 * a worker's exit would; it may be called after a failed start.
 */
tn_resolver_t *tn_resolver_cli_start(tn_cycle_t *cycle);
void tn_resolver_cli_stop(tn_cycle_t *cycle);


extern tn_module_t  tn_resolver_module;


#endif /* _TN_RESOLVER_H_INCLUDED_ */
