
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_H_INCLUDED_
#define _TN_MAIL_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_store.h>
#include <tn_mail_parse.h>


typedef struct {
    void                  **main_conf;
    void                  **srv_conf;
} tn_mail_conf_ctx_t;


/* one "listen" of a server{} block */
typedef struct {
    tn_sockaddr_t           sockaddr;
    socklen_t               socklen;
    tn_str_t                addr_text;

    /* server configuration context */
    tn_mail_conf_ctx_t     *ctx;

    unsigned                ssl:1;         /* implicit TLS */
    unsigned                wildcard:1;
    unsigned                ipv6only:1;
    int                     backlog;
} tn_mail_listen_t;


/* what a listening socket carries in ls->servers */
typedef struct {
    tn_mail_conf_ctx_t     *ctx;
    tn_str_t                addr_text;
    unsigned                ssl:1;
} tn_mail_addr_conf_t;


#define TN_MAIL_SMTP_PROTOCOL  0
#define TN_MAIL_POP3_PROTOCOL  1
#define TN_MAIL_IMAP_PROTOCOL  2


typedef struct tn_mail_protocol_s  tn_mail_protocol_t;


typedef struct {
    tn_mail_protocol_t     *protocol;

    tn_msec_t               timeout;       /* protocol idle timeout */

    tn_str_t                server_name;

    tn_uint_t               max_errors;
    tn_msec_t               auth_failure_delay;
    /* failed logins of a client address before it is blocked; 0: never */
    tn_uint_t               auth_block_after;
    time_t                  auth_block_time;

    /* TLS */
    tn_ssl_t                ssl;
    tn_flag_t               ssl_enable;    /* a certificate is set */
    tn_flag_t               ssl_deferred;  /* to be made at start (-t) */
    tn_str_t                certificate;
    tn_str_t                certificate_key;
    tn_flag_t               certificate_auto;
    time_t                  session_timeout;
    tn_msec_t               handshake_timeout;
    tn_array_t             *sni;           /* of tn_mail_sni_conf_t */

    u_char                 *file_name;
    tn_uint_t               line;

    tn_mail_conf_ctx_t     *ctx;

    /* connection limits (tn_mail_limit.c); 0: none */
    tn_uint_t               max_connections_per_ip;
    tn_uint_t               max_sessions;
    /* this worker's sessions of this server{} now (not configuration) */
    tn_uint_t               sessions;
} tn_mail_core_srv_conf_t;


typedef struct {
    tn_str_t                name;
    tn_str_t                certificate;
    tn_str_t                certificate_key;
} tn_mail_sni_conf_t;


typedef struct {
    tn_array_t              servers;       /* tn_mail_core_srv_conf_t * */
    tn_array_t              listen;        /* tn_mail_listen_t */
} tn_mail_core_main_conf_t;


typedef struct tn_mail_session_s  tn_mail_session_t;

typedef void (*tn_mail_init_session_pt)(tn_mail_session_t *s,
    tn_connection_t *c);
typedef void (*tn_mail_init_protocol_pt)(tn_event_t *rev);
/* called by tn_mail_send() when s->out is sent and s->out_more is set */
typedef tn_int_t (*tn_mail_out_more_pt)(tn_mail_session_t *s);


struct tn_mail_protocol_s {
    tn_str_t                    name;
    tn_uint_t                   type;

    /* greeting and per-session state; called once TLS (if any) is up */
    tn_mail_init_session_pt     init_session;

    /* the reply when the server fails ("421 4.3.2 ...", "-ERR ...") */
    tn_str_t                    internal_server_error;

    /*
     * The refusals sent right after accept when max_connections_per_ip
     * or max_sessions is reached, each a line with its CRLF.  They are
     * tn_sprintf() formats: one "%V" is replaced by server_name.
     */
    tn_str_t                    too_many_connections;
    tn_str_t                    too_many_sessions;
};


typedef struct {
    tn_mail_protocol_t         *protocol;

    void                       *(*create_main_conf)(tn_conf_t *cf);
    char                       *(*init_main_conf)(tn_conf_t *cf, void *conf);

    void                       *(*create_srv_conf)(tn_conf_t *cf);
    char                       *(*merge_srv_conf)(tn_conf_t *cf, void *prev,
                                                  void *conf);
} tn_mail_module_t;


#define TN_MAIL_MODULE         0x4C49414D     /* "MAIL" */

#define TN_MAIL_MAIN_CONF      0x02000000
#define TN_MAIL_SRV_CONF       0x04000000


#define TN_MAIL_MAIN_CONF_OFFSET  offsetof(tn_mail_conf_ctx_t, main_conf)
#define TN_MAIL_SRV_CONF_OFFSET   offsetof(tn_mail_conf_ctx_t, srv_conf)


/*
 * A session.  Common state lives here; a protocol keeps its own state in
 * s->data (allocated from c->pool by its init_session).
 */
struct tn_mail_session_s {
    uint32_t                signature;         /* "MAIL" */

    tn_connection_t        *connection;

    /* the reply being sent; tn_mail_send() sends it and clears it */
    tn_str_t                out;
    /* called when out is sent, to produce more (POP3 RETR) */
    tn_mail_out_more_pt     out_more;

    /* input, smtp_client_buffer/pop3_client_buffer bytes */
    tn_buf_t               *buffer;

    void                  **main_conf;
    void                  **srv_conf;

    tn_mail_addr_conf_t    *addr_conf;

    void                   *data;              /* the protocol's state */

    tn_uint_t               protocol;
    tn_mail_parse_t         parse;

    tn_uint_t               errors;            /* bad commands so far */

    tn_str_t                login;             /* after a good login */
    tn_store_user_t        *user;              /* after a good login */

    /* the thread-pool task in flight, or NULL; see tn_mail_task_post() */
    tn_thread_task_t       *task;

    /* the PTR name of the client when it was confirmed, else empty */
    tn_str_t                host;
    tn_resolver_ctx_t      *resolver_ctx;

    /* the session's log line context */
    tn_str_t               *addr_text;

    void                   *starttls_ctx;

    unsigned                ssl:1;             /* the session runs TLS */
    unsigned                starttls:1;        /* STARTTLS/STLS done */
    unsigned                quit:1;            /* close after sending out */
    unsigned                blocked:1;         /* a reply waits for TLS */
    unsigned                waiting:1;         /* waiting for a task */

    /* what the session holds of the connection limits, or NULL */
    void                   *limit;
};


/* the log context of a session: ", client: ..., server: ..." */
typedef struct {
    tn_str_t               *client;
    tn_mail_session_t      *session;
} tn_mail_log_ctx_t;


#define tn_mail_get_module_ctx(s, module)     (s)->ctx[module.ctx_index]
#define tn_mail_get_module_main_conf(s, module)                              \
    (s)->main_conf[module.ctx_index]
#define tn_mail_get_module_srv_conf(s, module)                               \
    (s)->srv_conf[module.ctx_index]

#define tn_mail_conf_get_module_main_conf(cf, module)                        \
    ((tn_mail_conf_ctx_t *) cf->ctx)->main_conf[module.ctx_index]
#define tn_mail_conf_get_module_srv_conf(cf, module)                         \
    ((tn_mail_conf_ctx_t *) cf->ctx)->srv_conf[module.ctx_index]


/*
 * The accept handler of every mail listener: makes the session, starts
 * implicit TLS when the listener has "ssl", then calls the protocol's
 * init_session.
 */
void tn_mail_init_connection(tn_connection_t *c);

/*
 * Upgrades the session to TLS after the reply to STARTTLS/STLS is sent:
 * the input buffer is emptied first (CVE-2011-0411: pipelined plaintext
 * must never run as a command after the handshake), then the handshake
 * runs; when it completes, s->ssl and s->starttls are set and
 * done(s, c) is called; a failed handshake closes the session.
 */
void tn_mail_starttls(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_init_session_pt done);

/* a TLS context is configured for this session's server */
tn_uint_t tn_mail_tls_available(tn_mail_session_t *s);

/*
 * Sends s->out (and what s->out_more produces).  It is also a write
 * event handler.  On a write error or timeout the session is closed.
 * When s->quit is set and everything is sent, the session is closed.
 */
void tn_mail_send(tn_event_t *wev);

/*
 * Reads into s->buffer and runs parse(&s->parse, s->buffer).
 * Returns TN_OK (a command), TN_AGAIN (wait for more; the read event is
 * armed), TN_ERROR (the connection was closed: return at once),
 * TN_MAIL_PARSE_INVALID_COMMAND or TN_MAIL_PARSE_LINE_TOO_LONG (the
 * error was counted in s->errors; the caller replies; when s->errors
 * passed max_errors the caller gets TN_ERROR after the session was
 * closed with errmsg sent).  errmsg replaces s->out: a protocol that
 * queues replies behind s->out passes NULL and checks s->errors itself.
 */
tn_int_t tn_mail_read_command(tn_mail_session_t *s, tn_connection_t *c,
    tn_int_t (*parse)(tn_mail_parse_t *p, tn_buf_t *b), tn_str_t *errmsg);

/*
 * True when more input may be there without a new event: unparsed bytes
 * in s->buffer (pipelining), or a socket that filled the buffer and may
 * hold more (the loop is edge-triggered: no new event comes for it).
 */
#define tn_mail_pending_input(s)                                             \
    ((s)->buffer->pos < (s)->buffer->last || (s)->connection->read->ready)

/* closes the session: the only place that frees it (c->pool last) */
void tn_mail_close_connection(tn_connection_t *c);

/* logs at INFO with the client's address */
#define tn_mail_log_info(c, ...)  tn_log_error(TN_LOG_INFO, (c)->log, 0,     \
                                               __VA_ARGS__)

u_char *tn_mail_log_error(tn_log_t *log, u_char *buf, size_t len);


/*
 * Blocking work for a session, run in the thread pool.  The task's ctx
 * starts with a tn_mail_task_ctx_t.  While it is out, s->task is set and
 * the session must not post another.  done(s) runs in the event loop
 * when the work is over — unless the session was closed meanwhile: then
 * ctx->cancel(task), when set, releases what the work produced, and the
 * task is freed without calling done.  done must free the task with
 * tn_mail_task_free() when it no longer needs the ctx.
 */
typedef struct {
    tn_mail_session_t      *session;
    tn_log_t               *log;         /* the cycle's log, for threads */
    void                  (*done)(tn_mail_session_t *s,
                                  tn_thread_task_t *task);
    void                  (*cancel)(tn_thread_task_t *task);
} tn_mail_task_ctx_t;

tn_thread_task_t *tn_mail_task_alloc(tn_mail_session_t *s, size_t size,
    void (*handler)(void *ctx, tn_log_t *log),
    void (*done)(tn_mail_session_t *s, tn_thread_task_t *task));
tn_int_t tn_mail_task_post(tn_mail_session_t *s, tn_thread_task_t *task);
void tn_mail_task_free(tn_mail_session_t *s, tn_thread_task_t *task);


/*
 * Login check, shared by POP3 (and SMTP AUTH, IMAP, webmail later):
 * hashing runs in the thread pool; a short-lived cache of good logins,
 * keyed by an HMAC of address and password with a per-worker secret,
 * skips the hash for clients that reconnect; failures are delayed per
 * client address (auth_failure_delay, doubling to 15 s) and counted.
 * done(s, rc) is called later, never from inside tn_mail_auth(), with
 * TN_OK (s->user and s->login set), TN_DECLINED (wrong; the delay has
 * already passed), TN_BUSY (not checked: the client address had more
 * than auth_block_after failures, the last one less than
 * auth_block_time ago) or TN_ERROR (store failure).  tn_mail_auth() returns
 * TN_OK when done will be called, TN_ERROR when it will not.  The
 * password buffer is zeroed before this returns.
 */
typedef void (*tn_mail_auth_done_pt)(tn_mail_session_t *s, tn_int_t rc);

tn_int_t tn_mail_auth(tn_mail_session_t *s, tn_str_t *login,
    tn_str_t *passwd, tn_mail_auth_done_pt done);

/*
 * The login phase (the lua module sets the hook in its workers; NULL:
 * none).  tn_mail_auth() calls hook(s, name, done) before the store
 * lookup, never with the password.  The hook returns TN_AGAIN (done will
 * be called later from the event loop, unless the session closes first:
 * the hook's owner sees to that), TN_DECLINED (no script for this
 * session: go on with name) or TN_ERROR (go on with name).  done(s, rc,
 * name): TN_OK, name is the login to check (a new one, or the one given
 * when the script kept it or failed); TN_DECLINED, the script refused
 * the login (name is the one given): it fails like a wrong password.
 * name is valid during the call to done only.
 */
typedef void (*tn_mail_login_done_pt)(tn_mail_session_t *s, tn_int_t rc,
    tn_str_t *name);
typedef tn_int_t (*tn_mail_login_hook_pt)(tn_mail_session_t *s,
    tn_str_t *name, tn_mail_login_done_pt done);

extern tn_mail_login_hook_pt  tn_mail_login_hook;


/*
 * Connection limits (tn_mail_limit.c).  tn_mail_limit_init_module()
 * maps, in the master and once for its whole life, the table that
 * counts connections per client address over every worker of every
 * generation.  tn_mail_limit_connection(), right after accept, counts
 * the session in (TN_OK) or sends the protocol's refusal and closes
 * (TN_DONE: return at once).  tn_mail_limit_release() gives back what
 * the session holds; it runs once, from tn_mail_close_connection()
 * before the socket is closed, or else when c->pool is destroyed.
 */
tn_int_t tn_mail_limit_init_module(tn_cycle_t *cycle);
tn_int_t tn_mail_limit_connection(tn_mail_session_t *s, tn_connection_t *c);
void tn_mail_limit_release(tn_mail_session_t *s);


extern tn_uint_t    tn_mail_max_module;
extern tn_module_t  tn_mail_core_module;
extern tn_module_t  tn_mail_module;


#endif /* _TN_MAIL_H_INCLUDED_ */
