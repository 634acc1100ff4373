
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_OUT_H_INCLUDED_
#define _TN_MAIL_OUT_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_store.h>
#include <tn_store_queue.h>


/*
 * Outbound delivery (issue 5): the queue runner (tn_mail_out_queue.c),
 * where mail goes (tn_mail_out_route.c: connections, routes, MX, the MX
 * cache), the SMTP client (tn_mail_out_client.c) and delivery status
 * notifications (tn_mail_out_dsn.c).  Configuration: the top-level
 * "outbound { }" block (tn_mail_out_module.c).
 */


/* the directives inside outbound { } and inside its connection { } */
#define TN_MAIL_OUT_CONF           0x08000000
#define TN_MAIL_OUT_CONN_CONF      0x10000000


/* TLS policy of a destination */
#define TN_MAIL_OUT_TLS_NONE       0   /* never STARTTLS */
#define TN_MAIL_OUT_TLS_MAY        1   /* STARTTLS when offered */
#define TN_MAIL_OUT_TLS_REQUIRE    2   /* STARTTLS or defer, any cert */
#define TN_MAIL_OUT_TLS_VERIFY     3   /* STARTTLS, a verified cert */


/* ---- the configuration: tn_mail_out_module.c ---- */

typedef struct tn_mail_out_conn_s  tn_mail_out_conn_t;

/* "route sender_domain|recipient_domain D CONN|direct;", "route default" */
#define TN_MAIL_OUT_ROUTE_SENDER     1
#define TN_MAIL_OUT_ROUTE_RECIPIENT  2
#define TN_MAIL_OUT_ROUTE_DEFAULT    3

typedef struct {
    tn_uint_t               type;          /* TN_MAIL_OUT_ROUTE_* */
    tn_str_t                domain;        /* A-label, lower case */
    tn_str_t                conn_name;
    tn_mail_out_conn_t     *conn;          /* NULL: direct MX */
    u_char                 *file;          /* where it is configured */
    tn_uint_t               line;
} tn_mail_out_route_t;

typedef struct {
    tn_str_t                helo_name;     /* default: the host name */
    tn_msec_t               retry_min;     /* "retry 5m 4h;" */
    tn_msec_t               retry_max;
    time_t                  max_lifetime;  /* 5d */
    time_t                  delay_warning; /* 4h; 0: none */
    tn_uint_t               destination_concurrency;  /* per worker */
    tn_uint_t               messages_per_connection;
    tn_msec_t               connect_timeout;
    tn_msec_t               command_timeout;
    tn_msec_t               data_timeout;
    tn_uint_t               tls;           /* TN_MAIL_OUT_TLS_*, for MX */
    tn_flag_t               ipv6;          /* also AAAA (default on) */
    in_port_t               mx_port;       /* direct MX: 25 (tests) */
    off_t                   bounce_return_limit;
    tn_array_t             *conns;         /* tn_mail_out_conn_t */
    tn_array_t             *routes;        /* tn_mail_out_route_t */
    tn_ssl_t               *ssl;           /* the client context */
} tn_mail_out_conf_t;

/*
 * The outbound { } block, its defaults when there is none (mail is then
 * delivered direct to MX); NULL before the configuration is read.
 */
tn_mail_out_conf_t *tn_mail_out_get_conf(tn_cycle_t *cycle);


/* ---- the queue runner: tn_mail_out_queue.c ---- */

/* the worker's part of the queue: its shards, watched and delivered */
tn_int_t tn_mail_out_init_process(tn_cycle_t *cycle);
void tn_mail_out_exit_process(tn_cycle_t *cycle);

/* the delay before try n + 1 (n >= 1): retry_min doubled, up to max */
tn_msec_t tn_mail_out_retry_delay(tn_mail_out_conf_t *ocf, tn_uint_t tries);

/*
 * When a queued message needs attention next (unix time): a pending
 * recipient now, a deferred one at its next try, its delay warning or
 * its expiry; (time_t) -1 when none (held, or every recipient is done).
 */
time_t tn_mail_out_next_due(tn_mail_out_conf_t *ocf,
    tn_store_queue_env_t *env, time_t now);


/* ---- where mail goes: tn_mail_out_route.c ---- */

/*
 * Directive handlers for tn_mail_out_module.c: "connection NAME { host
 * H; port N; tls none|may|require|verify|implicit; auth USER PASS;
 * backup NAME; }" (the block's own directives are route.c's), "route
 * ...;", and the check at the end of the block: every backup and route
 * names a connection that exists, no connection is its own backup
 * through a chain, no two connections share a name.
 */
char *tn_mail_out_connection_block(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
char *tn_mail_out_route_directive(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
char *tn_mail_out_routes_check(tn_conf_t *cf, tn_mail_out_conf_t *ocf);

/* "connection NAME { ... }" in outbound { } */
struct tn_mail_out_conn_s {
    tn_str_t                name;
    tn_str_t                host;          /* a host name or an address */
    in_port_t               port;          /* default 25 */
    tn_uint_t               tls;           /* TN_MAIL_OUT_TLS_* */
    tn_uint_t               implicit_tls;  /* "tls implicit": port 465 */
    tn_str_t                auth_user;     /* empty: no AUTH */
    tn_str_t                auth_pass;
    tn_str_t                backup_name;   /* empty: none */
    tn_mail_out_conn_t     *backup;        /* resolved at the end of conf */
    u_char                 *file;          /* where it is configured */
    tn_uint_t               line;
};

/* one address to try, in order */
typedef struct {
    tn_str_t                host;          /* the MX or smarthost name */
    tn_addr_t               addr;          /* sockaddr with the port */
    tn_uint_t               preference;    /* MX preference, 0 otherwise */
    /*
     * the connection whose host this is (a backup's targets follow the
     * route's: port, TLS and AUTH are this one's), or NULL: an MX
     */
    tn_mail_out_conn_t     *conn;
} tn_mail_out_target_t;

/* TN_MAIL_OUT_RESOLVE_* results */
#define TN_MAIL_OUT_RESOLVE_OK       0     /* targets found */
#define TN_MAIL_OUT_RESOLVE_DEFER    1     /* temporary: DNS failed */
#define TN_MAIL_OUT_RESOLVE_FAIL     2     /* permanent: NULL MX, NXDOMAIN */

typedef struct tn_mail_out_resolve_s  tn_mail_out_resolve_t;

typedef void (*tn_mail_out_resolve_pt)(tn_mail_out_resolve_t *rs);

struct tn_mail_out_resolve_s {
    /* set by the caller */
    tn_str_t                domain;        /* the recipient domain (A-label) */
    tn_str_t                sender_domain; /* for the sender routes */
    tn_mail_out_resolve_pt  handler;
    void                   *data;
    tn_log_t               *log;

    /* set when handler runs (it runs once, from the event loop) */
    tn_uint_t               result;        /* TN_MAIL_OUT_RESOLVE_* */
    tn_str_t                error;         /* for the log and the DSN */
    tn_str_t                status;        /* "5.1.10", "4.4.3", ... */
    tn_mail_out_conn_t     *conn;          /* the route taken, or NULL: MX */
    tn_uint_t               ntargets;
    tn_mail_out_target_t   *targets;       /* tried in this order */

    /* private */
    tn_pool_t              *pool;          /* targets live here */
    void                   *priv;
};

/*
 * Where mail for rs->domain from rs->sender_domain goes: a route's
 * connection (its host's addresses, then its backup's after them), or
 * direct MX: MX records sorted by preference with equal preferences
 * shuffled, each host's AAAA and A addresses (per outbound "ipv6"),
 * the domain's own A/AAAA when it has no MX (RFC 5321 5.1), a NULL MX
 * (RFC 7505) or NXDOMAIN being permanent.  Answers may come from the MX
 * cache.  TN_OK (the handler will run) or TN_ERROR.  tn_mail_out_
 * resolve_free() releases rs->pool (also to cancel before the handler).
 */
tn_int_t tn_mail_out_resolve(tn_mail_out_resolve_t *rs);
void tn_mail_out_resolve_free(tn_mail_out_resolve_t *rs);


/* ---- the SMTP client: tn_mail_out_client.c ---- */

/* the result of one recipient */
#define TN_MAIL_OUT_OK             0   /* accepted by the remote side */
#define TN_MAIL_OUT_DEFER          1   /* try again later */
#define TN_MAIL_OUT_FAIL           2   /* permanent: bounce */

typedef struct {
    tn_uint_t               status;        /* TN_MAIL_OUT_OK/DEFER/FAIL */
    /* RFC 3463 code, "2.0.0", "4.4.1", "5.1.1" */
    char                    dsn[16];
    /*
     * "host.example[192.0.2.1] said: 550 5.1.1 <x@y> unknown (in reply
     * to RCPT TO)" or "connect to ...: Connection refused"; printable
     * ASCII, no CR/LF
     */
    char                    text[TN_STORE_QUEUE_ERROR_MAX];
    char                    remote_mta[256];  /* host name, or "" */
    /* accepted by a server that did not offer DSN (NOTIFY=SUCCESS) */
    unsigned                relayed:1;
} tn_mail_out_result_t;

/* one message of a delivery job, for some of its recipients */
typedef struct {
    tn_queue_t              queue;         /* in the job's msgs */
    char                   *path;          /* the .msg file, LF line ends */
    off_t                   size;          /* its bytes */
    tn_store_queue_env_t   *env;           /* sender, DSN data, flags */
    tn_uint_t               nrcpts;
    tn_uint_t              *rcpts;         /* indexes into env->rcpts */
    tn_mail_out_result_t   *results;       /* nrcpts, filled by the client */
    /* "" or the via marker: "Delivered-To: <it>" goes first */
    char                   *delivered_to;
    void                   *data;          /* the caller's */
} tn_mail_out_msg_t;

typedef struct tn_mail_out_job_s  tn_mail_out_job_t;

typedef void (*tn_mail_out_job_pt)(tn_mail_out_job_t *job);

struct tn_mail_out_job_s {
    /*
     * set by the caller; a target whose conn is set uses that
     * connection's tls, implicit_tls and auth instead (a backup's own)
     */
    tn_str_t                helo;          /* our name in EHLO */
    tn_uint_t               ntargets;      /* tried in order */
    tn_mail_out_target_t   *targets;
    tn_uint_t               tls;           /* TN_MAIL_OUT_TLS_* */
    tn_uint_t               implicit_tls;
    tn_str_t                auth_user;     /* empty: no AUTH */
    tn_str_t                auth_pass;
    tn_ssl_t               *ssl;           /* the client TLS context */
    tn_msec_t               connect_timeout;
    tn_msec_t               command_timeout;  /* each reply */
    tn_msec_t               data_timeout;     /* the reply to the end */
    tn_queue_t              msgs;          /* tn_mail_out_msg_t, in order */
    tn_mail_out_job_pt      handler;       /* every result is set */
    void                   *data;
    tn_log_t               *log;

    /* private */
    void                   *priv;
};

/*
 * Delivers job->msgs over one connection to the first target that
 * answers (the next ones when a target cannot be reached or greets with
 * 4xx/5xx), then QUIT; every result of every message is set when the
 * handler runs (from the event loop, once).  TN_OK or TN_ERROR (nothing
 * started, no handler call).  tn_mail_out_abort() stops a job (worker
 * exit): every unset result becomes DEFER, no handler call.
 */
tn_int_t tn_mail_out_deliver(tn_mail_out_job_t *job);
void tn_mail_out_abort(tn_mail_out_job_t *job);

/*
 * The client TLS context of the outbound block (ocf->ssl, allocated in
 * cf->pool): TLS 1.2+, the system's CA store for "verify"; called once
 * at the end of the outbound { } block.  TN_CONF_OK or an error string.
 */
char *tn_mail_out_client_ssl(tn_conf_t *cf, tn_mail_out_conf_t *ocf);


/* ---- delivery status notifications: tn_mail_out_dsn.c ---- */

#define TN_MAIL_OUT_DSN_FAILED     1
#define TN_MAIL_OUT_DSN_DELAYED    2
#define TN_MAIL_OUT_DSN_DELIVERED  3
#define TN_MAIL_OUT_DSN_RELAYED    4

/* one recipient of a notice */
typedef struct {
    tn_store_queue_rcpt_t  *rcpt;          /* address, ORCPT, NOTIFY */
    tn_uint_t               action;        /* TN_MAIL_OUT_DSN_* */
    const char             *status;        /* "5.1.1" */
    const char             *diagnostic;    /* the remote reply, or "" */
    const char             *remote_mta;    /* or "" */
    time_t                  last_attempt;  /* 0: none */
    time_t                  retry_until;   /* delayed: the expiry */
} tn_mail_out_dsn_rcpt_t;

typedef struct {
    tn_str_t                reporting_mta; /* our name */
    tn_store_queue_env_t   *env;           /* the original envelope */
    const char             *msg_path;      /* the original message */
    tn_uint_t               nrcpts;
    tn_mail_out_dsn_rcpt_t *rcpts;
    off_t                   return_limit;  /* RET absent: full up to it */
    time_t                  now;
    /* out: the notice has 8-bit text: queue it with BODY=8BITMIME */
    unsigned                body_8bit:1;
} tn_mail_out_dsn_t;

/*
 * Whether a recipient with NOTIFY flags notify (0: none given) asks for
 * a notice of this action (RFC 3461 4.1): none given means FAILURE (and
 * DELAY); NEVER means none.
 */
tn_uint_t tn_mail_out_dsn_wanted(tn_uint_t notify, tn_uint_t action);

/*
 * Writes the notice (RFC 3464 multipart/report to env->sender, from
 * MAILER-DAEMON@reporting_mta) to fd with LF line ends, as the store
 * keeps messages.  The env->sender must not be empty (no notice for <>).
 * BLOCKING (reads the original message): run it in the thread pool.
 * TN_OK or TN_ERROR (errno set).
 */
tn_int_t tn_mail_out_dsn_write(tn_fd_t fd, tn_mail_out_dsn_t *dsn,
    tn_log_t *log);


#endif /* _TN_MAIL_OUT_H_INCLUDED_ */
