
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include "tn_mail_out.h"
#include "tn_mail_out_client.h"

#include <openssl/x509v3.h>


/*
 * The outbound SMTP client (RFC 5321 with PIPELINING, SIZE, 8BITMIME,
 * SMTPUTF8, CHUNKING, DSN, STARTTLS, AUTH, ENHANCEDSTATUSCODES): one job
 * is one connection that carries job->msgs, to the first of job->targets
 * that lets us in.
 *
 * Events: tn_mail_out_read_handler reads replies, tn_mail_out_write_
 * handler writes commands (tn_mail_out_flush) or the message text
 * (tn_mail_out_send_data).  Protocol: ctx->state changes only in
 * tn_mail_out_enter_state(); each complete reply goes to the handler of
 * the state (tn_mail_out_reply()).  Bytes: tn_mail_out_client_parse.c.
 *
 * Replies are matched to commands by counting: every command queued adds
 * one to ctx->pending, every reply takes one; nothing is parsed while no
 * reply is due, and bytes right behind the last reply due are a protocol
 * error.  Inside a transaction the commands are MAIL, the RCPTs, then
 * DATA, in that order, so the n-th reply of the envelope belongs to the
 * n-th command (RFC 2920 3.1: replies come in order).
 *
 * Failures: before the first MAIL of a connection any failure moves on
 * to the next target; after it, what is not decided becomes DEFER and
 * the job ends (no duplicates through another target).  The handler
 * always runs from a posted event, never from tn_mail_out_deliver().
 *
 * Return codes of the internal functions: TN_OK (go on reading replies),
 * TN_AGAIN (stop reading: the next step waits for an event) and TN_DONE
 * (the connection is gone, or another one took its place: the caller
 * returns at once without touching c).
 */


/* Debian's ca-certificates bundle, for "tls verify" */
#define TN_MAIL_OUT_CA_FILE       "/etc/ssl/certs/ca-certificates.crt"

/* TLS 1.2 suites offered; 1.3 has its own (all AEAD) */
#define TN_MAIL_OUT_CIPHERS                                                  \
    "ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES:RSA+AESGCM:RSA+AES"

/* the CA store of the client context, as ex_data of the SSL_CTX */
typedef struct {
    tn_uint_t               ca_loaded;
} tn_mail_out_ssl_conf_t;


static tn_int_t tn_mail_out_init_job(tn_mail_out_ctx_t *ctx);
static void tn_mail_out_file_cleanup(void *data);
static void tn_mail_out_helo_name(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_connect(tn_mail_out_ctx_t *ctx);
static void tn_mail_out_attach(tn_mail_out_ctx_t *ctx, tn_connection_t *c);
static tn_int_t tn_mail_out_peer(tn_mail_out_ctx_t *ctx,
    tn_mail_out_target_t *t);
static void tn_mail_out_connect_handler(tn_event_t *wev);
static tn_int_t tn_mail_out_connected(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_start_greeting(tn_mail_out_ctx_t *ctx);
static void tn_mail_out_block_reading(tn_event_t *rev);
static void tn_mail_out_read_handler(tn_event_t *rev);
static void tn_mail_out_write_handler(tn_event_t *wev);
static tn_int_t tn_mail_out_read(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_reply_line(tn_mail_out_ctx_t *ctx);

static tn_int_t tn_mail_out_reply(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_greeting(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_ehlo(tn_mail_out_ctx_t *ctx, tn_uint_t helo);
static tn_int_t tn_mail_out_ehlo_reply(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_ready(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_starttls_reply(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_tls_start(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_tls_verify(tn_mail_out_ctx_t *ctx, SSL *ssl);
static void tn_mail_out_tls_handler(tn_connection_t *c);
static tn_int_t tn_mail_out_tls_done(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_auth(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_auth_line(tn_mail_out_ctx_t *ctx,
    const char *prefix, tn_str_t *s1, tn_str_t *s2);
static tn_int_t tn_mail_out_auth_reply(tn_mail_out_ctx_t *ctx);

static tn_int_t tn_mail_out_timeout(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_refused(tn_mail_out_ctx_t *ctx,
    const char *cmd);
static void tn_mail_out_done_handler(tn_event_t *ev);
static void tn_mail_out_close(tn_mail_out_ctx_t *ctx, tn_uint_t quit);
static void tn_mail_out_set_all(tn_mail_out_ctx_t *ctx,
    tn_mail_out_err_t *err);

static const char *tn_mail_out_cmd_name(tn_mail_out_ctx_t *ctx);
static const char *tn_mail_out_action(tn_mail_out_ctx_t *ctx);
static u_char *tn_mail_out_log_error(tn_log_t *log, u_char *buf,
    size_t len);


#if (TN_DEBUG)

static char  *tn_mail_out_state_names[] = {
    "connect", "tls_wrapper", "greeting", "ehlo", "helo", "starttls", "tls",
    "auth", "auth_user", "auth_pass", "envelope", "data", "dot", "bdat",
    "rset", "quit", "done"
};

#endif


/* the job */


tn_int_t
tn_mail_out_deliver(tn_mail_out_job_t *job)
{
    tn_pool_t          *pool;
    tn_mail_out_ctx_t  *ctx;

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, job->log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    ctx = tn_pcalloc(pool, sizeof(tn_mail_out_ctx_t));
    if (ctx == NULL) {
        tn_destroy_pool(pool);
        return TN_ERROR;
    }

    ctx->job = job;
    ctx->pool = pool;
    ctx->fd = TN_INVALID_FILE;

    /* the log of this job: the caller's, with the remote side appended */

    ctx->log = *job->log;
    ctx->log.handler = tn_mail_out_log_error;
    ctx->log.data = ctx;
    ctx->log.action = NULL;

    /* the state names the action: see tn_mail_out_log_error() */

    if (tn_mail_out_init_job(ctx) != TN_OK) {
        tn_destroy_pool(pool);
        return TN_ERROR;
    }

    tn_mail_out_helo_name(ctx);

    job->priv = ctx;

    tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.4.1",
                      "no mail exchanger to connect to");

    (void) tn_mail_out_connect(ctx);

    return TN_OK;
}


static tn_int_t
tn_mail_out_init_job(tn_mail_out_ctx_t *ctx)
{
    tn_uint_t             i;
    tn_queue_t           *q;
    tn_pool_cleanup_t    *cln;
    tn_mail_out_job_t    *job;
    tn_mail_out_msg_t    *msg;
    tn_mail_out_result_t *res;

    job = ctx->job;

    ctx->done.handler = tn_mail_out_done_handler;
    ctx->done.data = ctx;
    ctx->done.log = &ctx->log;

    for (q = tn_queue_head(&job->msgs);
         q != tn_queue_sentinel(&job->msgs);
         q = tn_queue_next(q))
    {
        msg = tn_queue_data(q, tn_mail_out_msg_t, queue);
        ctx->max_rcpts = tn_max(ctx->max_rcpts, msg->nrcpts);
    }

    ctx->sendable = tn_pcalloc(ctx->pool, ctx->max_rcpts + 1);
    ctx->in = tn_create_temp_buf(ctx->pool, TN_MAIL_OUT_IN_SIZE);
    ctx->out = tn_create_temp_buf(ctx->pool, TN_MAIL_OUT_OUT_SIZE);

    if (ctx->sendable == NULL || ctx->in == NULL || ctx->out == NULL) {
        return TN_ERROR;
    }

    /* the message file, if a job ends while one is open */

    cln = tn_pool_cleanup_add(ctx->pool, 0);
    if (cln == NULL) {
        return TN_ERROR;
    }

    cln->handler = tn_mail_out_file_cleanup;
    cln->data = ctx;

    /*
     * Every result starts undecided; only now, as a failure above must
     * leave the caller's results as they were.
     */

    for (q = tn_queue_head(&job->msgs);
         q != tn_queue_sentinel(&job->msgs);
         q = tn_queue_next(q))
    {
        msg = tn_queue_data(q, tn_mail_out_msg_t, queue);

        for (i = 0; i < msg->nrcpts; i++) {
            res = &msg->results[i];

            tn_memzero(res, sizeof(tn_mail_out_result_t));
            res->status = TN_MAIL_OUT_UNSET;
        }
    }

    return TN_OK;
}


/*
 * Our name for EHLO, from the configuration: a space, a control or an
 * 8-bit byte in it would make another command or a bad one.
 */

static void
tn_mail_out_helo_name(tn_mail_out_ctx_t *ctx)
{
    size_t     i, n;
    tn_str_t  *helo;

    helo = &ctx->job->helo;
    n = tn_min(helo->len, sizeof(ctx->helo) - 1);

    for (i = 0; i < n; i++) {
        ctx->helo[i] = (helo->data[i] > 0x20 && helo->data[i] < 0x7f)
                       ? (char) helo->data[i] : '-';
    }

    if (n == 0) {
        tn_memcpy(ctx->helo, "localhost", sizeof("localhost"));
        return;
    }

    ctx->helo[n] = '\0';
}


static void
tn_mail_out_file_cleanup(void *data)
{
    tn_mail_out_ctx_t  *ctx = data;

    tn_mail_out_close_file(ctx);
}


void
tn_mail_out_abort(tn_mail_out_job_t *job)
{
    tn_mail_out_ctx_t  *ctx;

    ctx = job->priv;

    if (ctx == NULL) {
        return;
    }

    if (ctx->done.posted) {
        tn_delete_posted_event(&ctx->done);
    }

    tn_mail_out_close(ctx, 0);

    tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.3.2",
                      "delivery stopped: the worker is exiting");

    tn_mail_out_set_all(ctx, &ctx->error);

    job->priv = NULL;

    tn_destroy_pool(ctx->pool);
}


/* connections */


/*
 * Tries the targets from ctx->target on until one connects or is being
 * connected to; when none is left the job ends with the last error.
 */

static tn_int_t
tn_mail_out_connect(tn_mail_out_ctx_t *ctx)
{
    tn_int_t               rc;
    tn_err_t               err;
    tn_pool_t             *pool;
    tn_connection_t       *c;
    tn_mail_out_job_t     *job;
    tn_mail_out_target_t  *t;
    tn_peer_connection_t   pc;

    job = ctx->job;

    for ( /* void */ ; ctx->target < job->ntargets; ctx->target++) {

        t = &job->targets[ctx->target];

        /* a backup connection's targets bring their own settings */

        if (t->conn) {
            job->tls = t->conn->tls;
            job->implicit_tls = t->conn->implicit_tls;
            job->auth_user = t->conn->auth_user;
            job->auth_pass = t->conn->auth_pass;
        }

        if (tn_mail_out_peer(ctx, t) != TN_OK) {
            continue;
        }

        tn_mail_out_enter_state(ctx, tn_out_state_connect);

        pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, &ctx->log);
        if (pool == NULL) {
            break;
        }

        tn_memzero(&pc, sizeof(tn_peer_connection_t));

        pc.sockaddr = t->addr.sockaddr;
        pc.socklen = t->addr.socklen;
        pc.name = &ctx->peer_port;
        pc.log = &ctx->log;

        rc = tn_event_connect_peer(&pc);
        err = tn_socket_errno;

        if (rc == TN_ERROR) {
            tn_destroy_pool(pool);

            tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.3.0",
                              "cannot connect to %V: out of resources",
                              &ctx->peer_port);
            break;
        }

        if (rc == TN_DECLINED) {
            tn_destroy_pool(pool);

            tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.4.1",
                              "connect to %V: %s", &ctx->peer_port,
                              err ? strerror(err) : "connection failed");

            tn_mail_out_log(ctx, "%s", ctx->error.text);
            ctx->no_tls = 0;
            continue;
        }

        c = pc.connection;
        c->pool = pool;

        tn_mail_out_attach(ctx, c);

        if (rc == TN_AGAIN) {
            tn_event_add_timer(c->write, job->connect_timeout);
            return TN_AGAIN;
        }

        return tn_mail_out_connected(ctx);
    }

    return tn_mail_out_finish(ctx);
}


/* a new connection: the session starts afresh */

static void
tn_mail_out_attach(tn_mail_out_ctx_t *ctx, tn_connection_t *c)
{
    c->data = ctx;
    c->log_error = TN_ERROR_INFO;

    ctx->connection = c;
    ctx->log.connection = c->number;
    ctx->started = 0;
    ctx->pending = 0;
    ctx->secret = 0;
    ctx->rset = 0;
    ctx->q = NULL;
    ctx->msg = NULL;

    tn_buf_reset(ctx->in);
    tn_buf_reset(ctx->out);
    tn_mail_out_reply_init(&ctx->reply);
    tn_memzero(&ctx->ext, sizeof(tn_mail_out_ext_t));

    c->read->handler = tn_mail_out_block_reading;
    c->write->handler = tn_mail_out_connect_handler;
}


/* ctx->peer "host[ip]", ctx->peer_port "host[ip]:port", ctx->host */

static tn_int_t
tn_mail_out_peer(tn_mail_out_ctx_t *ctx, tn_mail_out_target_t *t)
{
    u_char     *p, *last;
    size_t      n;
    in_port_t   port;
    u_char      ip[TN_SOCKADDR_STRLEN];

    if (t->addr.sockaddr == NULL
        || (t->addr.sockaddr->sa_family != AF_INET
            && t->addr.sockaddr->sa_family != AF_INET6))
    {
        tn_log_error(TN_LOG_ERR, &ctx->log, 0,
                     "outbound target %ui has no IP address", ctx->target);
        return TN_ERROR;
    }

    (void) tn_mail_out_printable((u_char *) ctx->host, sizeof(ctx->host),
                                 t->host.data, t->host.len);

    n = tn_sock_ntop(t->addr.sockaddr, t->addr.socklen, ip, sizeof(ip), 0);
    port = tn_inet_get_port(t->addr.sockaddr);

    p = ctx->peer_buf;
    last = p + sizeof(ctx->peer_buf);

    p = tn_slprintf(p, last, "%s[%*s]", ctx->host[0] ? ctx->host : "unknown",
                    n, ip);

    ctx->peer.data = ctx->peer_buf;
    ctx->peer.len = p - ctx->peer_buf;

    p = tn_slprintf(p, last, ":%ud", (unsigned int) port);

    /* the same bytes, with the port */

    ctx->peer_port.data = ctx->peer_buf;
    ctx->peer_port.len = p - ctx->peer_buf;

    return TN_OK;
}


static void
tn_mail_out_connect_handler(tn_event_t *wev)
{
    int                 err;
    socklen_t           len;
    tn_connection_t    *c;
    tn_mail_out_ctx_t  *ctx;

    c = wev->data;
    ctx = c->data;

    if (wev->timedout) {
        tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.4.1",
                          "connect to %V: Connection timed out",
                          &ctx->peer_port);
        tn_mail_out_log(ctx, "%s", ctx->error.text);

        c->timedout = 1;
        (void) tn_mail_out_failed(ctx, 0);
        return;
    }

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = tn_socket_errno;
    }

    if (err) {
        tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.4.1",
                          "connect to %V: %s", &ctx->peer_port,
                          strerror(err));
        tn_mail_out_log(ctx, "%s", ctx->error.text);

        c->error = 1;
        (void) tn_mail_out_failed(ctx, 0);
        return;
    }

    (void) tn_mail_out_connected(ctx);
}


static tn_int_t
tn_mail_out_connected(tn_mail_out_ctx_t *ctx)
{
    tn_connection_t  *c;

    c = ctx->connection;

    if (c->write->timer_set) {
        tn_event_del_timer(c->write);
    }

    tn_mail_out_log(ctx, "connect to %V: connected%s",
                    &ctx->peer_port,
                    (ctx->job->implicit_tls && ctx->job->ssl) ? ", TLS next"
                                                              : "");

    /* commands are small and the replies are waited for */

    if (tn_tcp_nodelay(c->fd) == 0) {
        c->tcp_nodelay = 1;
    }

    c->read->handler = tn_mail_out_read_handler;
    c->write->handler = tn_mail_out_write_handler;

    if (ctx->job->implicit_tls) {
        if (ctx->job->ssl == NULL) {
            tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.7.5",
                              "cannot connect to %V with TLS: no TLS "
                              "context", &ctx->peer_port);
            return tn_mail_out_failed(ctx, 0);
        }

        tn_mail_out_enter_state(ctx, tn_out_state_tls_wrapper);

        return tn_mail_out_tls_start(ctx);
    }

    return tn_mail_out_start_greeting(ctx);
}


static tn_int_t
tn_mail_out_start_greeting(tn_mail_out_ctx_t *ctx)
{
    tn_mail_out_enter_state(ctx, tn_out_state_greeting);

    ctx->pending = 1;
    tn_mail_out_wait(ctx, ctx->job->command_timeout);

    /* the greeting may be there already: its edge was used up */

    return tn_mail_out_read(ctx);
}


static void
tn_mail_out_block_reading(tn_event_t *rev)
{
    /* before the connection is up: read later, in order */
}


static void
tn_mail_out_read_handler(tn_event_t *rev)
{
    tn_connection_t    *c;
    tn_mail_out_ctx_t  *ctx;

    c = rev->data;
    ctx = c->data;

    if (rev->timedout) {
        c->timedout = 1;
        (void) tn_mail_out_timeout(ctx);
        return;
    }

    (void) tn_mail_out_read(ctx);
}


static void
tn_mail_out_write_handler(tn_event_t *wev)
{
    tn_int_t            rc;
    tn_connection_t    *c;
    tn_mail_out_ctx_t  *ctx;

    c = wev->data;
    ctx = c->data;

    if (wev->timedout) {
        c->timedout = 1;
        (void) tn_mail_out_timeout(ctx);
        return;
    }

    if (ctx->state == tn_out_state_data || ctx->state == tn_out_state_bdat) {
        rc = tn_mail_out_send_data(ctx);

    } else {
        rc = tn_mail_out_flush(ctx);
    }

    if (rc == TN_OK) {
        (void) tn_mail_out_read(ctx);
    }
}


/*
 * Reads and runs complete replies while some are expected.  Bytes that
 * come when none is expected wait in the socket and are parsed once a
 * command is out (a reply cannot come before its command); bytes read
 * together with the last reply due are refused (tn_mail_out_reply_line).
 */

static tn_int_t
tn_mail_out_read(tn_mail_out_ctx_t *ctx)
{
    ssize_t               n;
    tn_int_t              rc;
    tn_buf_t             *b;
    tn_connection_t      *c;
    tn_mail_out_reply_t  *r;

    c = ctx->connection;
    b = ctx->in;
    r = &ctx->reply;

    while (ctx->pending) {

        rc = tn_mail_out_parse_reply(r, b);

        if (rc == TN_OK) {
            rc = tn_mail_out_reply_line(ctx);

            if (rc != TN_OK) {
                return rc;
            }

            continue;
        }

        if (rc != TN_AGAIN) {
            return tn_mail_out_protocol(ctx, r->error);
        }

        if (b->pos == b->last) {
            tn_buf_reset(b);

        } else if ((size_t) (b->end - b->last) < TN_MAIL_OUT_REPLY_LINE_MAX) {
            tn_buf_compact(b);
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n > 0) {
            b->last += n;
            continue;
        }

        if (n == TN_AGAIN) {
            if (tn_handle_read_event(c->read, 0) != TN_OK) {
                return tn_mail_out_lost(ctx);
            }

            return TN_OK;
        }

        return tn_mail_out_lost(ctx);
    }

    return TN_OK;
}


/* a line of a reply was parsed; at the end of the reply, its handler */

static tn_int_t
tn_mail_out_reply_line(tn_mail_out_ctx_t *ctx)
{
    tn_int_t              rc;
    tn_uint_t             junk;
    tn_connection_t      *c;
    tn_mail_out_reply_t  *r;

    c = ctx->connection;
    r = &ctx->reply;

    if (ctx->state == tn_out_state_ehlo && r->lines > 1) {
        tn_mail_out_ehlo_line(&ctx->ext, r->line.data, r->line.len);
    }

    if (!r->last) {
        return TN_OK;
    }

    tn_log_debug2(TN_LOG_DEBUG_MAIL, &ctx->log, 0, "smtp out reply: \"%*s\"",
                  r->text_len, r->text);

    ctx->pending--;

    if (ctx->pending) {
        tn_event_add_timer(c->read, ctx->reply_timeout);

    } else if (c->read->timer_set) {
        tn_event_del_timer(c->read);
    }

    /*
     * Bytes behind the last reply due are no reply to anything (an
     * honest server waits for the next command); they are refused once
     * this reply has had its effect.
     */

    junk = (ctx->pending == 0 && ctx->in->pos != ctx->in->last);

    rc = tn_mail_out_reply(ctx);

    if (rc == TN_DONE) {
        return rc;
    }

    if (junk) {
        return tn_mail_out_protocol(ctx, "data from the server where no "
                                         "reply was due");
    }

    return rc;
}


/*
 * Writes ctx->out, adding pipelined commands as room allows.  TN_OK: all
 * is out; TN_AGAIN: the socket is full; TN_DONE: see above.
 */

tn_int_t
tn_mail_out_flush(tn_mail_out_ctx_t *ctx)
{
    ssize_t           n;
    tn_buf_t         *b;
    tn_connection_t  *c;

    c = ctx->connection;
    b = ctx->out;

    for ( ;; ) {

        if (ctx->state == tn_out_state_envelope) {
            tn_mail_out_generate(ctx);
        }

        if (b->pos == b->last) {
            break;
        }

        n = c->send(c, b->pos, b->last - b->pos);

        if (n > 0) {
            b->pos += n;

            if (b->pos == b->last) {
                if (ctx->secret) {
                    /* the credentials are out: nothing of them stays */
                    tn_explicit_memzero(b->start, b->end - b->start);
                    ctx->secret = 0;
                }

                tn_buf_reset(b);
            }

            continue;
        }

        if (n == TN_AGAIN) {
            tn_event_add_timer(c->write, ctx->job->command_timeout);

            if (tn_handle_write_event(c->write, 0) != TN_OK) {
                return tn_mail_out_lost(ctx);
            }

            return TN_AGAIN;
        }

        return tn_mail_out_lost(ctx);
    }

    if (c->write->timer_set) {
        tn_event_del_timer(c->write);
    }

    if (ctx->state == tn_out_state_quit) {
        return tn_mail_out_finish(ctx);
    }

    /* a reply may sit in the socket without a new edge to tell */

    if (ctx->pending && c->read->ready) {
        tn_post_event(c->read, &tn_posted_events);
    }

    return TN_OK;
}


/* queues one command line (fmt without CRLF) that expects a reply */

tn_int_t
tn_mail_out_command(tn_mail_out_ctx_t *ctx, const char *fmt, ...)
{
    u_char    *p;
    va_list    args;
    tn_buf_t  *b;

    b = ctx->out;

    /*
     * Commands wait in ctx->out only while replies are due: no room means
     * replies came for commands not yet sent (TN_MAIL_OUT_AHEAD).
     */

    if ((size_t) (b->end - b->last) < TN_MAIL_OUT_CMD_MAX) {
        return TN_ERROR;
    }

    va_start(args, fmt);
    p = tn_vslprintf(b->last, b->end - 2, fmt, args);
    va_end(args);

    tn_log_debug2(TN_LOG_DEBUG_MAIL, &ctx->log, 0, "smtp out command: \"%*s\"",
                  (size_t) (p - b->last), b->last);

    *p++ = CR;
    *p++ = LF;
    b->last = p;

    ctx->pending++;
    tn_mail_out_wait(ctx, ctx->job->command_timeout);

    return TN_OK;
}


/* the deadline of the next reply */

void
tn_mail_out_wait(tn_mail_out_ctx_t *ctx, tn_msec_t timeout)
{
    ctx->reply_timeout = timeout;
    tn_event_add_timer(ctx->connection->read, timeout);
}


void
tn_mail_out_enter_state(tn_mail_out_ctx_t *ctx, tn_mail_out_state_e state)
{
    tn_log_debug2(TN_LOG_DEBUG_MAIL, &ctx->log, 0, "smtp out state: %s -> %s",
                  tn_mail_out_state_names[ctx->state],
                  tn_mail_out_state_names[state]);

    ctx->state = state;
}


/*
 * An info line of the client's own: its text says what happened, so the
 * log handler adds no "while ..." (lines of the TLS layer or of recv()
 * and send() get it).
 */

void
tn_mail_out_log(tn_mail_out_ctx_t *ctx, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    text[TN_MAX_ERROR_STR];

    if (ctx->log.log_level < TN_LOG_INFO) {
        return;
    }

    va_start(args, fmt);
    p = tn_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    ctx->plain_log = 1;

    tn_log_error(TN_LOG_INFO, &ctx->log, 0, "%*s", (size_t) (p - text), text);

    ctx->plain_log = 0;
}


/* the session up to the first MAIL */


static tn_int_t
tn_mail_out_reply(tn_mail_out_ctx_t *ctx)
{
    if (ctx->reply.code == 421 && ctx->state != tn_out_state_greeting) {
        /* the server is closing the connection, whatever we said */
        tn_mail_out_error_reply(ctx, &ctx->error, tn_mail_out_cmd_name(ctx));
        ctx->error.status = TN_MAIL_OUT_DEFER;

        tn_mail_out_log(ctx, "%s", ctx->error.text);

        return tn_mail_out_failed(ctx, 0);
    }

    switch (ctx->state) {

    case tn_out_state_greeting:
        return tn_mail_out_greeting(ctx);

    case tn_out_state_ehlo:
    case tn_out_state_helo:
        return tn_mail_out_ehlo_reply(ctx);

    case tn_out_state_starttls:
        return tn_mail_out_starttls_reply(ctx);

    case tn_out_state_auth:
    case tn_out_state_auth_user:
    case tn_out_state_auth_pass:
        return tn_mail_out_auth_reply(ctx);

    case tn_out_state_envelope:
        return tn_mail_out_envelope_reply(ctx);

    case tn_out_state_dot:
        return tn_mail_out_dot_reply(ctx);

    case tn_out_state_bdat:
        return tn_mail_out_bdat_reply(ctx);

    case tn_out_state_rset:
        return tn_mail_out_rset_reply(ctx);

    default:
        return tn_mail_out_protocol(ctx, "unexpected reply");
    }
}


static tn_int_t
tn_mail_out_greeting(tn_mail_out_ctx_t *ctx)
{
    if (tn_mail_out_class(ctx) != 2) {
        return tn_mail_out_refused(ctx, NULL);
    }

    return tn_mail_out_ehlo(ctx, 0);
}


static tn_int_t
tn_mail_out_ehlo(tn_mail_out_ctx_t *ctx, tn_uint_t helo)
{
    tn_memzero(&ctx->ext, sizeof(tn_mail_out_ext_t));

    tn_mail_out_enter_state(ctx, helo ? tn_out_state_helo
                                      : tn_out_state_ehlo);

    if (tn_mail_out_command(ctx, "%s %s", helo ? "HELO" : "EHLO", ctx->helo)
        != TN_OK)
    {
        return tn_mail_out_protocol(ctx, TN_MAIL_OUT_AHEAD);
    }

    return tn_mail_out_flush(ctx) == TN_DONE ? TN_DONE : TN_OK;
}


static tn_int_t
tn_mail_out_ehlo_reply(tn_mail_out_ctx_t *ctx)
{
    tn_uint_t  class;

    class = tn_mail_out_class(ctx);

    if (class == 2) {
        ctx->ext.esmtp = (ctx->state == tn_out_state_ehlo);

        tn_log_debug6(TN_LOG_DEBUG_MAIL, &ctx->log, 0,
                      "smtp out ext: pipelining:%d size:%O 8bit:%d "
                      "utf8:%d chunking:%d dsn:%d",
                      ctx->ext.pipelining, ctx->ext.max_size,
                      ctx->ext.eightbitmime, ctx->ext.smtputf8,
                      ctx->ext.chunking, ctx->ext.dsn);

        return tn_mail_out_ready(ctx);
    }

    /* RFC 5321 4.1.4: an old server may know HELO only */

    if (class == 5 && ctx->state == tn_out_state_ehlo) {
        return tn_mail_out_ehlo(ctx, 1);
    }

    return tn_mail_out_refused(ctx, ctx->state == tn_out_state_ehlo ? "EHLO"
                                                                    : "HELO");
}


/*
 * After EHLO (or HELO): STARTTLS as the policy wants, then AUTH when the
 * job has credentials, then the messages.
 */

static tn_int_t
tn_mail_out_ready(tn_mail_out_ctx_t *ctx)
{
    tn_connection_t    *c;
    tn_mail_out_job_t  *job;

    c = ctx->connection;
    job = ctx->job;

    if (c->ssl == NULL && !ctx->no_tls && job->tls != TN_MAIL_OUT_TLS_NONE) {

        if (ctx->ext.starttls && job->ssl) {
            tn_mail_out_enter_state(ctx, tn_out_state_starttls);

            if (tn_mail_out_command(ctx, "STARTTLS") != TN_OK) {
                return tn_mail_out_protocol(ctx, TN_MAIL_OUT_AHEAD);
            }

            return tn_mail_out_flush(ctx) == TN_DONE ? TN_DONE : TN_OK;
        }

        if (job->tls >= TN_MAIL_OUT_TLS_REQUIRE) {
            tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.7.5",
                              "TLS is required, but was not offered by "
                              "host %V", &ctx->peer);
            tn_mail_out_log(ctx, "%s", ctx->error.text);

            return tn_mail_out_failed(ctx, 1);
        }
    }

    if (job->auth_user.len) {
        return tn_mail_out_auth(ctx);
    }

    return tn_mail_out_next_message(ctx);
}


static tn_int_t
tn_mail_out_starttls_reply(tn_mail_out_ctx_t *ctx)
{
    tn_buf_t  *b;

    if (tn_mail_out_class(ctx) != 2) {

        if (ctx->job->tls >= TN_MAIL_OUT_TLS_REQUIRE) {
            return tn_mail_out_refused(ctx, "STARTTLS");
        }

        /* opportunistic: on without TLS */

        tn_mail_out_log(ctx,
                        "%V refused STARTTLS: %*s; going on without TLS",
                        &ctx->peer, ctx->reply.text_len, ctx->reply.text);

        ctx->no_tls = 1;

        return tn_mail_out_ready(ctx);
    }

    /*
     * Nothing may follow the reply in the clear: it would be read as
     * a reply under TLS (response injection, "NO STARTTLS" 2021).
     */

    b = ctx->in;

    if (b->pos != b->last) {
        return tn_mail_out_protocol(ctx, "plain text after the STARTTLS "
                                         "reply");
    }

    tn_buf_reset(b);
    tn_mail_out_reply_init(&ctx->reply);

    tn_mail_out_enter_state(ctx, tn_out_state_tls);

    return tn_mail_out_tls_start(ctx);
}


static tn_int_t
tn_mail_out_tls_start(tn_mail_out_ctx_t *ctx)
{
    SSL                *ssl;
    tn_int_t            rc;
    tn_connection_t    *c;

    c = ctx->connection;

    if (tn_ssl_create_connection(ctx->job->ssl, c, TN_SSL_CLIENT) != TN_OK) {
        tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.7.5",
                          "cannot start TLS with %V", &ctx->peer);
        return tn_mail_out_failed(ctx, 0);
    }

    ssl = c->ssl->connection;

    if (tn_mail_out_tls_verify(ctx, ssl) != TN_OK) {
        return tn_mail_out_failed(ctx, 0);
    }

    rc = tn_ssl_handshake(c);

    if (rc == TN_AGAIN) {
        tn_event_add_timer(c->read, ctx->job->command_timeout);
        c->ssl->handler = tn_mail_out_tls_handler;
        return TN_AGAIN;
    }

    return tn_mail_out_tls_done(ctx);
}


/*
 * SNI is always the target's host name (not an address); "verify" adds
 * the certificate check against the CA store and that name (or address).
 */

static tn_int_t
tn_mail_out_tls_verify(tn_mail_out_ctx_t *ctx, SSL *ssl)
{
    char                    *name;
    size_t                   len;
    tn_uint_t                is_ip;
    struct in6_addr          in6;
    tn_mail_out_ssl_conf_t  *scf;
    char                     buf[256];

    /* "[2001:db8::1]" is an address; "mx.example.com." a name */

    name = ctx->host;
    len = strlen(name);

    if (len > 2 && name[0] == '[' && name[len - 1] == ']') {
        len -= 2;
        tn_memcpy(buf, name + 1, len);
        buf[len] = '\0';
        name = buf;

    } else if (len > 1 && name[len - 1] == '.') {
        len--;
        tn_memcpy(buf, name, len);
        buf[len] = '\0';
        name = buf;
    }

    is_ip = (len == 0
             || tn_inet_addr((u_char *) name, len) != INADDR_NONE
             || tn_inet6_addr((u_char *) name, len, in6.s6_addr) == TN_OK);

    if (!is_ip && SSL_set_tlsext_host_name(ssl, name) == 0) {
        tn_ssl_error(TN_LOG_ERR, &ctx->log, 0,
                     "SSL_set_tlsext_host_name(\"%s\") failed", name);
    }

    if (ctx->job->tls != TN_MAIL_OUT_TLS_VERIFY) {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
        return TN_OK;
    }

    scf = SSL_CTX_get_ex_data(ctx->job->ssl->ctx, tn_ssl_server_conf_index);

    if (scf == NULL || !scf->ca_loaded) {
        tn_log_error(TN_LOG_ERR, &ctx->log, 0,
                     "cannot verify the certificate of %V: no CA store "
                     "(\"" TN_MAIL_OUT_CA_FILE "\" was not loaded)",
                     &ctx->peer);

        tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.7.5",
                          "cannot verify the certificate of %V: no CA "
                          "store", &ctx->peer);
        return TN_ERROR;
    }

    SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);

    if (len == 0
        || (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                  : SSL_set1_host(ssl, name))
           == 0)
    {
        tn_ssl_error(TN_LOG_ERR, &ctx->log, 0,
                     "cannot set the name \"%s\" to verify", name);

        tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.7.5",
                          "cannot verify the certificate of %V: invalid "
                          "name", &ctx->peer);
        return TN_ERROR;
    }

    return TN_OK;
}


static void
tn_mail_out_tls_handler(tn_connection_t *c)
{
    (void) tn_mail_out_tls_done(c->data);
}


static tn_int_t
tn_mail_out_tls_done(tn_mail_out_ctx_t *ctx)
{
    long                v;
    const char         *reason;
    tn_connection_t    *c;
    tn_mail_out_job_t  *job;

    c = ctx->connection;
    job = ctx->job;

    if (c->read->timer_set) {
        tn_event_del_timer(c->read);
    }

    c->read->handler = tn_mail_out_read_handler;
    c->write->handler = tn_mail_out_write_handler;

    if (!c->ssl->handshaked) {
        reason = c->timedout ? "timed out" : "handshake failure";

        v = SSL_get_verify_result(c->ssl->connection);

        if (job->tls == TN_MAIL_OUT_TLS_VERIFY && v != X509_V_OK) {
            reason = X509_verify_cert_error_string(v);
        }

        tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.7.5",
                          "cannot start TLS with %V: %s", &ctx->peer,
                          reason);
        tn_mail_out_log(ctx, "%s", ctx->error.text);

        /*
         * "tls may": once more to the same target without TLS, as a
         * server that cannot do our TLS (1.2 and up) is better reached
         * in the clear than never; "require" and "verify" do not.
         */

        if (job->tls == TN_MAIL_OUT_TLS_MAY && !job->implicit_tls) {
            ctx->tls_retry = 1;
        }

        return tn_mail_out_failed(ctx, 0);
    }

    tn_mail_out_log(ctx,
                    "%s TLS connection established to %V: %s with cipher %s",
                    job->tls == TN_MAIL_OUT_TLS_VERIFY ? "Verified"
                                                       : "Unverified",
                    &ctx->peer_port, tn_ssl_get_protocol(c),
                    tn_ssl_get_cipher_name(c));

    if (ctx->state == tn_out_state_tls_wrapper) {
        return tn_mail_out_start_greeting(ctx);
    }

    /* RFC 3207 4.2: what the server said before TLS is forgotten */

    return tn_mail_out_ehlo(ctx, 0);
}


/*
 * AUTH only under TLS: credentials never go out in the clear.  PLAIN
 * with an initial response (RFC 4954), LOGIN otherwise.
 */

static tn_int_t
tn_mail_out_auth(tn_mail_out_ctx_t *ctx)
{
    tn_mail_out_job_t  *job;

    job = ctx->job;

    if (ctx->connection->ssl == NULL) {
        tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.7.0",
                          "refusing to send AUTH credentials to %V without "
                          "TLS: AUTH needs TLS", &ctx->peer);
        tn_mail_out_log(ctx, "%s", ctx->error.text);
        return tn_mail_out_failed(ctx, 1);
    }

    if (!ctx->ext.auth_plain && !ctx->ext.auth_login) {
        tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.7.0",
                          "host %V offers no AUTH mechanism we use "
                          "(PLAIN, LOGIN)", &ctx->peer);
        tn_mail_out_log(ctx, "%s", ctx->error.text);
        return tn_mail_out_failed(ctx, 1);
    }

    tn_mail_out_enter_state(ctx, tn_out_state_auth);

    if (ctx->ext.auth_plain) {
        return tn_mail_out_auth_line(ctx, "AUTH PLAIN ", &job->auth_user,
                                     &job->auth_pass);
    }

    if (tn_mail_out_command(ctx, "AUTH LOGIN") != TN_OK) {
        return tn_mail_out_protocol(ctx, TN_MAIL_OUT_AHEAD);
    }

    return tn_mail_out_flush(ctx) == TN_DONE ? TN_DONE : TN_OK;
}


/*
 * prefix, then base64 of s1 (LOGIN) or of "\0" s1 "\0" s2 (PLAIN when
 * s2 is given).  The clear text and the line are zeroed once sent.
 */

static tn_int_t
tn_mail_out_auth_line(tn_mail_out_ctx_t *ctx, const char *prefix,
    tn_str_t *s1, tn_str_t *s2)
{
    u_char    *p;
    size_t     n, plen;
    tn_buf_t  *b;
    tn_str_t   src, dst;

    b = ctx->out;
    plen = strlen(prefix);

    n = (s2 != NULL) ? s1->len + s2->len + 2 : s1->len;

    if ((size_t) (b->end - b->last)
        < plen + tn_base64_encoded_length(n) + 2 + n)
    {
        tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.7.0",
                          "the AUTH credentials for %V are too long",
                          &ctx->peer);
        tn_log_error(TN_LOG_ERR, &ctx->log, 0, "%s", ctx->error.text);
        return tn_mail_out_failed(ctx, 1);
    }

    /* the clear text goes at the end of the buffer, the line before it */

    src.data = b->end - n;
    src.len = n;

    p = src.data;

    if (s2 != NULL) {
        *p++ = '\0';
        p = tn_cpymem(p, s1->data, s1->len);
        *p++ = '\0';
        tn_memcpy(p, s2->data, s2->len);

    } else {
        tn_memcpy(p, s1->data, s1->len);
    }

    p = tn_cpymem(b->last, prefix, plen);

    dst.data = p;
    tn_encode_base64(&dst, &src);

    tn_explicit_memzero(src.data, src.len);

    p += dst.len;
    *p++ = CR;
    *p++ = LF;
    b->last = p;

    ctx->secret = 1;
    ctx->pending++;
    tn_mail_out_wait(ctx, ctx->job->command_timeout);

    return tn_mail_out_flush(ctx) == TN_DONE ? TN_DONE : TN_OK;
}


static tn_int_t
tn_mail_out_auth_reply(tn_mail_out_ctx_t *ctx)
{
    tn_uint_t           class;
    tn_mail_out_job_t  *job;

    job = ctx->job;
    class = tn_mail_out_class(ctx);

    if (class == 2 && ctx->state != tn_out_state_auth_user) {
        tn_mail_out_log(ctx, "authenticated to %V",
                        &ctx->peer);

        return tn_mail_out_next_message(ctx);
    }

    if (ctx->reply.code == 334 && ctx->ext.auth_login
        && !ctx->ext.auth_plain)
    {
        /* the challenges are "Username:" and "Password:" in any case */

        if (ctx->state == tn_out_state_auth) {
            tn_mail_out_enter_state(ctx, tn_out_state_auth_user);
            return tn_mail_out_auth_line(ctx, "", &job->auth_user, NULL);
        }

        if (ctx->state == tn_out_state_auth_user) {
            tn_mail_out_enter_state(ctx, tn_out_state_auth_pass);
            return tn_mail_out_auth_line(ctx, "", &job->auth_pass, NULL);
        }
    }

    if (class == 4 || class == 5) {
        tn_mail_out_error_reply(ctx, &ctx->error, "AUTH");
        ctx->error.status = TN_MAIL_OUT_DEFER;

        tn_mail_out_log(ctx,
                        "SASL authentication failed: %s", ctx->error.text);

        return tn_mail_out_failed(ctx, 1);
    }

    return tn_mail_out_protocol(ctx, "unexpected reply to AUTH");
}


/* failures */


static tn_int_t
tn_mail_out_timeout(tn_mail_out_ctx_t *ctx)
{
    if (ctx->state == tn_out_state_quit) {
        return tn_mail_out_finish(ctx);
    }

    tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.4.2",
                      "conversation with %V timed out while %s",
                      &ctx->peer, tn_mail_out_action(ctx));

    tn_mail_out_log(ctx, "%s", ctx->error.text);

    return tn_mail_out_failed(ctx, 0);
}


tn_int_t
tn_mail_out_lost(tn_mail_out_ctx_t *ctx)
{
    if (ctx->state == tn_out_state_quit) {
        return tn_mail_out_finish(ctx);
    }

    ctx->connection->error = 1;

    tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.4.2",
                      "lost connection with %V while %s",
                      &ctx->peer, tn_mail_out_action(ctx));

    tn_mail_out_log(ctx, "%s", ctx->error.text);

    return tn_mail_out_failed(ctx, 0);
}


tn_int_t
tn_mail_out_protocol(tn_mail_out_ctx_t *ctx, const char *what)
{
    tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.5.0",
                      "protocol error with %V while %s: %s",
                      &ctx->peer, tn_mail_out_action(ctx), what);

    tn_mail_out_log(ctx, "%s", ctx->error.text);

    return tn_mail_out_failed(ctx, 0);
}


/* a 4xx or 5xx to the greeting (cmd NULL), EHLO/HELO or STARTTLS */

static tn_int_t
tn_mail_out_refused(tn_mail_out_ctx_t *ctx, const char *cmd)
{
    tn_mail_out_reply_t  *r;

    r = &ctx->reply;

    if (cmd) {
        tn_mail_out_error_reply(ctx, &ctx->error, cmd);

    } else {
        tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER,
                          r->esc[0] ? r->esc : "4.0.0",
                          "host %V refused to talk to me: %*s",
                          &ctx->peer, r->text_len, r->text);
        ctx->error.remote = 1;
    }

    /* the next target may take it; if none does, it waits */
    ctx->error.status = TN_MAIL_OUT_DEFER;

    tn_mail_out_log(ctx, "%s", ctx->error.text);

    return tn_mail_out_failed(ctx, 1);
}


/*
 * This connection cannot go on (ctx->error says why).  Before the first
 * MAIL the next target is tried (or the same without TLS, once); after
 * it, whatever is not decided becomes DEFER and the job ends.
 */

tn_int_t
tn_mail_out_failed(tn_mail_out_ctx_t *ctx, tn_uint_t quit)
{
    if (ctx->started) {
        ctx->error.status = TN_MAIL_OUT_DEFER;
        tn_mail_out_set_all(ctx, &ctx->error);

        return tn_mail_out_finish(ctx);
    }

    tn_mail_out_close(ctx, quit);

    if (ctx->tls_retry) {
        ctx->tls_retry = 0;
        ctx->no_tls = 1;

    } else {
        ctx->target++;
        ctx->no_tls = 0;
    }

    (void) tn_mail_out_connect(ctx);

    return TN_DONE;
}


tn_int_t
tn_mail_out_finish(tn_mail_out_ctx_t *ctx)
{
    tn_mail_out_close(ctx, 0);
    tn_mail_out_close_file(ctx);

    tn_mail_out_enter_state(ctx, tn_out_state_done);

    tn_post_event(&ctx->done, &tn_posted_events);

    return TN_DONE;
}


static void
tn_mail_out_done_handler(tn_event_t *ev)
{
    tn_mail_out_ctx_t  *ctx;
    tn_mail_out_job_t  *job;

    ctx = ev->data;
    job = ctx->job;

    /* what no reply decided: the last error */

    ctx->error.status = TN_MAIL_OUT_DEFER;
    tn_mail_out_set_all(ctx, &ctx->error);

    job->priv = NULL;

    tn_destroy_pool(ctx->pool);

    job->handler(job);
}


static void
tn_mail_out_close(tn_mail_out_ctx_t *ctx, tn_uint_t quit)
{
    tn_pool_t        *pool;
    tn_connection_t  *c;

    c = ctx->connection;

    if (c == NULL) {
        return;
    }

    if (ctx->secret) {
        tn_explicit_memzero(ctx->out->start,
                            ctx->out->end - ctx->out->start);
        ctx->secret = 0;
    }

    /* a polite end after a refusal, if nothing else is on its way */

    if (quit && !c->timedout && !c->error && !c->read->eof
        && ctx->out->pos == ctx->out->last)
    {
        (void) c->send(c, (u_char *) "QUIT" CRLF, 6);
    }

    ctx->connection = NULL;
    pool = c->pool;

    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        (void) tn_ssl_shutdown(c);
    }

    tn_close_connection(c);
    tn_destroy_pool(pool);
}


void
tn_mail_out_close_file(tn_mail_out_ctx_t *ctx)
{
    if (ctx->fd != TN_INVALID_FILE) {
        (void) close(ctx->fd);
        ctx->fd = TN_INVALID_FILE;
    }
}


/* every result not decided (or accepted but not ended) gets err */

static void
tn_mail_out_set_all(tn_mail_out_ctx_t *ctx, tn_mail_out_err_t *err)
{
    tn_uint_t           i;
    tn_queue_t         *q;
    tn_mail_out_msg_t  *msg;

    for (q = tn_queue_head(&ctx->job->msgs);
         q != tn_queue_sentinel(&ctx->job->msgs);
         q = tn_queue_next(q))
    {
        msg = tn_queue_data(q, tn_mail_out_msg_t, queue);

        for (i = 0; i < msg->nrcpts; i++) {
            if (msg->results[i].status == TN_MAIL_OUT_UNSET
                || msg->results[i].status == TN_MAIL_OUT_ACCEPTED)
            {
                tn_mail_out_set_result(ctx, msg, i, err);
            }
        }
    }
}


/* results */


void
tn_mail_out_error(tn_mail_out_ctx_t *ctx, tn_mail_out_err_t *err,
    tn_uint_t status, const char *dsn, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    text[TN_STORE_QUEUE_ERROR_MAX];

    va_start(args, fmt);
    p = tn_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    (void) tn_mail_out_printable(err->text, sizeof(err->text), text,
                                 p - text);

    err->status = status;
    err->remote = 0;

    (void) tn_cpystrn((u_char *) err->dsn, (u_char *) dsn, sizeof(err->dsn));
}


/* "host[ip] said: 550 5.1.1 ... (in reply to RCPT TO command)" */

void
tn_mail_out_error_reply(tn_mail_out_ctx_t *ctx, tn_mail_out_err_t *err,
    const char *cmd)
{
    tn_uint_t             class;
    tn_mail_out_reply_t  *r;
    char                  dsn[TN_MAIL_OUT_ESC_MAX];

    r = &ctx->reply;
    class = r->code / 100;

    if (r->esc[0]) {
        tn_memcpy(dsn, r->esc, sizeof(dsn));

    } else {
        tn_memcpy(dsn, "0.0.0", 6);
        dsn[0] = (char) ('0' + class);
    }

    tn_mail_out_error(ctx, err,
                      class == 2 ? TN_MAIL_OUT_OK
                      : class == 5 ? TN_MAIL_OUT_FAIL : TN_MAIL_OUT_DEFER,
                      dsn, "%V said: %*s (in reply to %s command)",
                      &ctx->peer, r->text_len, r->text, cmd);

    err->remote = 1;
}


void
tn_mail_out_set_result(tn_mail_out_ctx_t *ctx, tn_mail_out_msg_t *msg,
    tn_uint_t i, tn_mail_out_err_t *err)
{
    tn_uint_t              notify;
    tn_mail_out_result_t  *res;

    res = &msg->results[i];

    res->status = err->status;

    tn_memcpy(res->dsn, err->dsn, sizeof(res->dsn));
    res->dsn[sizeof(res->dsn) - 1] = '\0';

    /* the class says what happened: a 5xx that only delays is "4" */

    res->dsn[0] = (err->status == TN_MAIL_OUT_OK) ? '2'
                  : (err->status == TN_MAIL_OUT_FAIL) ? '5' : '4';

    (void) tn_cpystrn((u_char *) res->text, err->text, sizeof(res->text));

    if (err->remote) {
        (void) tn_cpystrn((u_char *) res->remote_mta, (u_char *) ctx->host,
                          sizeof(res->remote_mta));

    } else {
        res->remote_mta[0] = '\0';
    }

    notify = msg->env->rcpts[msg->rcpts[i]].notify;

    res->relayed = (err->status == TN_MAIL_OUT_OK && !ctx->ext.dsn
                    && (notify & TN_QUEUE_NOTIFY_SUCCESS));
}


/* the command a reply answers, for "(in reply to X command)" */

static const char *
tn_mail_out_cmd_name(tn_mail_out_ctx_t *ctx)
{
    switch (ctx->state) {

    case tn_out_state_ehlo:
        return "EHLO";

    case tn_out_state_helo:
        return "HELO";

    case tn_out_state_starttls:
        return "STARTTLS";

    case tn_out_state_auth:
    case tn_out_state_auth_user:
    case tn_out_state_auth_pass:
        return "AUTH";

    case tn_out_state_envelope:
        return ctx->replies == 0 ? "MAIL FROM"
               : ctx->replies <= ctx->rcpts_sent ? "RCPT TO" : "DATA";

    case tn_out_state_data:
    case tn_out_state_dot:
        return "end of DATA";

    case tn_out_state_bdat:
        return "BDAT";

    case tn_out_state_rset:
        return "RSET";

    default:
        return "the initial greeting";
    }
}


/* what the connection is doing, for errors and the log */

static const char *
tn_mail_out_action(tn_mail_out_ctx_t *ctx)
{
    switch (ctx->state) {

    case tn_out_state_connect:
        return "connecting";

    case tn_out_state_tls_wrapper:
    case tn_out_state_tls:
        return "performing the TLS handshake";

    case tn_out_state_greeting:
        return "receiving the initial server greeting";

    case tn_out_state_ehlo:
        return "performing the EHLO handshake";

    case tn_out_state_helo:
        return "performing the HELO handshake";

    case tn_out_state_starttls:
        return "sending STARTTLS";

    case tn_out_state_auth:
    case tn_out_state_auth_user:
    case tn_out_state_auth_pass:
        return "authenticating";

    case tn_out_state_envelope:
        return ctx->replies == 0 ? "sending MAIL FROM"
               : ctx->replies <= ctx->rcpts_sent ? "sending RCPT TO"
               : "sending DATA command";

    case tn_out_state_data:
        return "sending message body";

    case tn_out_state_bdat:
        if (!ctx->bdat_last) {
            return "sending message body";
        }

        /* fall through */

    case tn_out_state_dot:
        return "sending end of data -- message may be sent more than once";

    case tn_out_state_rset:
        return "sending RSET";

    case tn_out_state_quit:
        return "sending QUIT";

    default:
        return "delivering";
    }
}


static u_char *
tn_mail_out_log_error(tn_log_t *log, u_char *buf, size_t len)
{
    u_char             *p;
    tn_mail_out_ctx_t  *ctx;

    p = buf;
    ctx = log->data;

    if (!ctx->plain_log && ctx->state != tn_out_state_done) {
        p = tn_snprintf(buf, len, " while %s", tn_mail_out_action(ctx));
        len -= p - buf;
        buf = p;
    }

    if (ctx->peer_port.len) {
        p = tn_snprintf(buf, len, ", remote: %V", &ctx->peer_port);
    }

    return p;
}


/* the client TLS context */


char *
tn_mail_out_client_ssl(tn_conf_t *cf, tn_mail_out_conf_t *ocf)
{
    tn_ssl_t                *ssl;
    tn_uint_t                i, verify;
    tn_mail_out_conn_t      *conn;
    tn_mail_out_ssl_conf_t  *scf;

    ssl = tn_pcalloc(cf->pool, sizeof(tn_ssl_t));
    scf = tn_pcalloc(cf->pool, sizeof(tn_mail_out_ssl_conf_t));

    if (ssl == NULL || scf == NULL) {
        return TN_CONF_ERROR;
    }

    if (tn_ssl_create(cf, ssl, scf) != TN_OK) {
        return TN_CONF_ERROR;
    }

    /*
     * Opportunistic TLS to any MX: a few more TLS 1.2 suites than the
     * server side takes (CBC and RSA key exchange; still TLS 1.2+ and
     * the same curves), as encryption of any kind beats plain text.
     */

#if (defined OPENSSL_IS_BORINGSSL)
    if (SSL_CTX_set_strict_cipher_list(ssl->ctx, TN_MAIL_OUT_CIPHERS) == 0) {
#else
    if (SSL_CTX_set_cipher_list(ssl->ctx, TN_MAIL_OUT_CIPHERS) == 0) {
#endif
        tn_ssl_error(TN_LOG_EMERG, cf->log, 0,
                     "SSL_CTX_set_cipher_list(\"" TN_MAIL_OUT_CIPHERS
                     "\") failed");
        return TN_CONF_ERROR;
    }

    SSL_CTX_set_verify(ssl->ctx, SSL_VERIFY_NONE, NULL);

    /* the CA store only when some destination verifies certificates */

    verify = (ocf->tls == TN_MAIL_OUT_TLS_VERIFY);

    if (ocf->conns) {
        conn = ocf->conns->elts;

        for (i = 0; i < ocf->conns->nelts; i++) {
            if (conn[i].tls == TN_MAIL_OUT_TLS_VERIFY) {
                verify = 1;
            }
        }
    }

    if (verify) {
        if (access(TN_MAIL_OUT_CA_FILE, R_OK) != 0) {
            tn_log_error(TN_LOG_WARN, cf->log, tn_errno,
                         "outbound: no CA store \"" TN_MAIL_OUT_CA_FILE
                         "\" (install ca-certificates): \"tls verify\" "
                         "deliveries will be deferred");

        } else if (SSL_CTX_load_verify_locations(ssl->ctx,
                                                 TN_MAIL_OUT_CA_FILE, NULL)
                   == 0)
        {
            tn_ssl_error(TN_LOG_WARN, cf->log, 0,
                         "outbound: cannot load the CA store \""
                         TN_MAIL_OUT_CA_FILE "\": \"tls verify\" "
                         "deliveries will be deferred");

        } else {
            scf->ca_loaded = 1;
        }
    }

    ocf->ssl = ssl;

    return TN_CONF_OK;
}
