
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_OUT_MXCACHE_H_INCLUDED_
#define _TN_MAIL_OUT_MXCACHE_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_out.h>


/*
 * The MX cache (tn_mail_out_mxcache.c): where mail for a domain goes, as
 * tn_mail_out_resolve() found it, shared by every worker and readable by
 * "tern mx list|clear" while the server runs.  It is the file
 * PREFIX/queue/mxcache, mapped MAP_SHARED: a header, then
 * TN_MAIL_OUT_MXCACHE_SLOTS slots of 4 KiB.  A domain lives in one of
 * TN_MAIL_OUT_MXCACHE_WAYS slots chosen by a hash keyed with the file's
 * random secret; a full set loses the entry that expires first.
 *
 * An entry holds the MX hosts in preference order (not shuffled: the
 * shuffle of equal preferences is made on every use), each with at most
 * TN_MAIL_OUT_MX_HOST_ADDRS addresses, or a permanent negative answer
 * (NXDOMAIN, a null MX).  Its expiry is the smallest TTL of the records
 * it was made of, at most TN_MAIL_OUT_MXCACHE_MAX_TTL.
 *
 * Each slot is a seqlock: a writer makes the sequence odd with a
 * compare-and-swap, writes, and makes it even again; a reader copies the
 * slot and keeps the copy only if the sequence was even and unchanged,
 * and its checksum right.  A writer that died holding a slot is
 * overtaken after TN_MAIL_OUT_MXCACHE_STEAL seconds.  Readers never wait
 * and never see a torn entry: a busy slot is a miss.
 */


#define TN_MAIL_OUT_MXCACHE_SLOTS      1024
#define TN_MAIL_OUT_MXCACHE_WAYS       4
#define TN_MAIL_OUT_MXCACHE_MAX_TTL    3600
/* an entry made while some MX host lookups failed for now */
#define TN_MAIL_OUT_MXCACHE_PARTIAL_TTL  60
#define TN_MAIL_OUT_MXCACHE_STEAL      10

/* MX hosts used (and cached) per domain, addresses per MX host */
#define TN_MAIL_OUT_MX_HOSTS           10
#define TN_MAIL_OUT_MX_HOST_ADDRS      2
/* the most targets of one resolution, and addresses of one smarthost */
#define TN_MAIL_OUT_MAX_TARGETS        20
#define TN_MAIL_OUT_CONN_ADDRS         10

#define TN_MAIL_OUT_MXCACHE_NAME       255

/* tn_mail_out_mxanswer_t.state */
#define TN_MAIL_OUT_MXCACHE_HOSTS      1   /* the hosts below */
#define TN_MAIL_OUT_MXCACHE_NXDOMAIN   2   /* the domain does not exist */
#define TN_MAIL_OUT_MXCACHE_NULLMX     3   /* RFC 7505: no mail */

/* tn_mail_out_mxanswer_t.flags */
#define TN_MAIL_OUT_MXCACHE_IPV6       0x01  /* AAAA records were asked */
#define TN_MAIL_OUT_MXCACHE_IMPLICIT   0x02  /* no MX: the domain itself */


typedef struct {
    u_char                  name[TN_MAIL_OUT_MXCACHE_NAME + 1];
    size_t                  len;
    tn_uint_t               preference;
    tn_uint_t               naddrs;
    tn_sockaddr_t           addrs[TN_MAIL_OUT_MX_HOST_ADDRS];  /* port 0 */
    socklen_t               socklens[TN_MAIL_OUT_MX_HOST_ADDRS];
} tn_mail_out_mxhost_t;


/* a cache entry as the cache's users see it */
typedef struct {
    u_char                  domain[TN_MAIL_OUT_MXCACHE_NAME + 1];
    size_t                  domain_len;    /* A-label, lower case */
    tn_uint_t               state;         /* TN_MAIL_OUT_MXCACHE_* */
    tn_uint_t               flags;
    time_t                  expire;        /* wall clock */
    tn_uint_t               nhosts;
    tn_mail_out_mxhost_t    hosts[TN_MAIL_OUT_MX_HOSTS];  /* by preference */
} tn_mail_out_mxanswer_t;


typedef struct tn_mail_out_mxcache_s  tn_mail_out_mxcache_t;


/*
 * Opens (create: makes it when missing or invalid) PREFIX/queue/mxcache
 * and maps it; a made or opened file is given to user:group unless user
 * is (uid_t) -1.  NULL on failure, logged, except a missing file when
 * create is 0 (errno is ENOENT then, nothing logged).
 */
tn_mail_out_mxcache_t *tn_mail_out_mxcache_open(tn_str_t *prefix,
    tn_uint_t create, uid_t user, gid_t group, tn_log_t *log);
void tn_mail_out_mxcache_close(tn_mail_out_mxcache_t *mc);

/*
 * The master, before it forks (an init_module hook): makes the file with
 * the workers' owner and maps it for every process it forks.  A failure
 * is logged and is not fatal: without the file nothing is cached.
 * Nothing is done for "tern -t" and the admin commands.
 */
tn_int_t tn_mail_out_mxcache_init(tn_cycle_t *cycle);

/*
 * The process's cache: the master's mapping, else opened (made) now; NULL
 * when it cannot be had (tried again after a minute).
 */
tn_mail_out_mxcache_t *tn_mail_out_mxcache_get(tn_cycle_t *cycle);

/*
 * The entry of domain (A-label, lower case), not expired at now: TN_OK
 * and *ans filled, or TN_DECLINED.
 */
tn_int_t tn_mail_out_mxcache_lookup(tn_mail_out_mxcache_t *mc,
    u_char *domain, size_t len, time_t now, tn_mail_out_mxanswer_t *ans);

/*
 * Stores ans (ans->expire set by the caller), replacing the domain's
 * entry, else an empty or expired slot of its set, else the one that
 * expires first.  TN_OK, or TN_BUSY when the slot is being written.
 */
tn_int_t tn_mail_out_mxcache_store(tn_mail_out_mxcache_t *mc,
    tn_mail_out_mxanswer_t *ans, time_t now);

/*
 * Empties the entries of domain, or every slot when domain is NULL.
 * The number of entries removed; *busy counts slots left as they were
 * because a live writer held them.
 */
tn_uint_t tn_mail_out_mxcache_clear(tn_mail_out_mxcache_t *mc,
    u_char *domain, size_t len, time_t now, tn_uint_t *busy);

/*
 * Writes the entries not expired at now (of domain, or all with domain
 * NULL) to fd: "DOMAIN expires in Ns[: NXDOMAIN|: null MX|, no MX]",
 * then "  PREFERENCE HOST ADDRESS" per address.  The number of entries,
 * or TN_ERROR (a write failed).
 */
tn_int_t tn_mail_out_mxcache_list(tn_mail_out_mxcache_t *mc,
    u_char *domain, size_t len, time_t now, tn_fd_t fd);

/* "tern mx list|clear [DOMAIN]" (argv[0] is "mx"): the exit code */
int tn_mail_out_mxcache_cli(tn_cycle_t *cycle, int argc,
    char *const *argv);


/* ---- tn_mail_out_route.c ---- */

/*
 * The route mail for domain from sender_domain takes: a sender_domain
 * route, else a recipient_domain route, else "route default"; NULL when
 * none applies (direct MX).  A route's conn is NULL for "direct".
 */
tn_mail_out_route_t *tn_mail_out_route_find(tn_mail_out_conf_t *ocf,
    tn_str_t *domain, tn_str_t *sender_domain);


#endif /* _TN_MAIL_OUT_MXCACHE_H_INCLUDED_ */
