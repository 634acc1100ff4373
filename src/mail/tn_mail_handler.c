
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>


static void tn_mail_init_session(tn_connection_t *c);
static void tn_mail_ssl_init_connection(tn_ssl_t *ssl, tn_connection_t *c);
static void tn_mail_ssl_handshake_handler(tn_connection_t *c);
static void tn_mail_starttls_handshake_handler(tn_connection_t *c);
static void tn_mail_task_handler(tn_event_t *ev);


void
tn_mail_init_connection(tn_connection_t *c)
{
    tn_mail_session_t        *s;
    tn_mail_log_ctx_t        *ctx;
    tn_mail_addr_conf_t      *addr_conf;
    tn_mail_core_srv_conf_t  *cscf;

    addr_conf = c->listening->servers;

    s = tn_pcalloc(c->pool, sizeof(tn_mail_session_t));
    if (s == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    s->signature = TN_MAIL_MODULE;

    s->main_conf = addr_conf->ctx->main_conf;
    s->srv_conf = addr_conf->ctx->srv_conf;
    s->addr_conf = addr_conf;
    s->addr_text = &addr_conf->addr_text;

    c->data = s;
    s->connection = c;

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    s->protocol = cscf->protocol->type;

    tn_log_error(TN_LOG_INFO, c->log, 0, "*%ui client %V connected to %V",
                 (tn_uint_t) c->number, &c->addr_text, s->addr_text);

    ctx = tn_palloc(c->pool, sizeof(tn_mail_log_ctx_t));
    if (ctx == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    ctx->client = &c->addr_text;
    ctx->session = s;

    c->log->connection = c->number;
    c->log->handler = tn_mail_log_error;
    c->log->data = ctx;
    c->log->action = "sending client greeting line";

    c->log_error = TN_ERROR_INFO;

    /* the limits come before anything costs: TLS, DNS, the greeting */
    if (tn_mail_limit_connection(s, c) != TN_OK) {
        return;
    }

    /*
     * Replies are written whole, one send() each; Nagle's algorithm would
     * hold the last small one of a pipelined batch until the client's
     * delayed ACK (40 ms).
     */
    if (c->sockaddr->sa_family != AF_UNIX) {
        if (tn_tcp_nodelay(c->fd) == -1) {
            tn_connection_error(c, tn_socket_errno,
                                "setsockopt(TCP_NODELAY) failed");
        } else {
            c->tcp_nodelay = 1;
        }
    }

    if (addr_conf->ssl) {
        c->log->action = "SSL handshaking";

        tn_mail_ssl_init_connection(&cscf->ssl, c);
        return;
    }

    tn_mail_init_session(c);
}


tn_uint_t
tn_mail_tls_available(tn_mail_session_t *s)
{
    tn_mail_core_srv_conf_t  *cscf;

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    return cscf->ssl_enable == 1;
}


static void
tn_mail_ssl_init_connection(tn_ssl_t *ssl, tn_connection_t *c)
{
    tn_mail_session_t        *s;
    tn_mail_core_srv_conf_t  *cscf;

    if (tn_ssl_create_connection(ssl, c, 0) != TN_OK) {
        tn_mail_close_connection(c);
        return;
    }

    if (tn_ssl_handshake(c) == TN_AGAIN) {
        s = c->data;

        cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

        tn_event_add_timer(c->read, cscf->handshake_timeout);

        c->ssl->handler = tn_mail_ssl_handshake_handler;

        return;
    }

    tn_mail_ssl_handshake_handler(c);
}


static void
tn_mail_ssl_handshake_handler(tn_connection_t *c)
{
    tn_mail_session_t  *s;

    if (c->ssl && c->ssl->handshaked) {

        s = c->data;
        s->ssl = 1;

        if (c->read->timer_set) {
            tn_event_del_timer(c->read);
        }

        tn_mail_init_session(c);
        return;
    }

    tn_mail_close_connection(c);
}


static void
tn_mail_init_session(tn_connection_t *c)
{
    tn_mail_session_t        *s;
    tn_mail_core_srv_conf_t  *cscf;

    s = c->data;

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    c->write->handler = tn_mail_send;

    cscf->protocol->init_session(s, c);
}


/* set by tn_mail_starttls() for the handshake's end */
typedef struct {
    tn_mail_init_session_pt  done;
} tn_mail_starttls_ctx_t;


void
tn_mail_starttls(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_init_session_pt done)
{
    tn_mail_starttls_ctx_t   *ctx;
    tn_mail_core_srv_conf_t  *cscf;

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    /*
     * Whatever the client sent after the STARTTLS line was sent in the
     * clear and must never be read as a command under TLS.
     */
    s->buffer->pos = s->buffer->start;
    s->buffer->last = s->buffer->start;
    tn_mail_parse_reset(&s->parse);

    ctx = tn_palloc(c->pool, sizeof(tn_mail_starttls_ctx_t));
    if (ctx == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    ctx->done = done;
    s->starttls_ctx = ctx;

    c->log->action = "in starttls state";

    if (tn_ssl_create_connection(&cscf->ssl, c, 0) != TN_OK) {
        tn_mail_close_connection(c);
        return;
    }

    if (tn_ssl_handshake(c) == TN_AGAIN) {
        tn_event_add_timer(c->read, cscf->handshake_timeout);
        c->ssl->handler = tn_mail_starttls_handshake_handler;
        return;
    }

    tn_mail_starttls_handshake_handler(c);
}


static void
tn_mail_starttls_handshake_handler(tn_connection_t *c)
{
    tn_mail_session_t       *s;
    tn_mail_starttls_ctx_t  *ctx;

    s = c->data;

    if (c->ssl == NULL || !c->ssl->handshaked) {
        tn_mail_close_connection(c);
        return;
    }

    if (c->read->timer_set) {
        tn_event_del_timer(c->read);
    }

    s->ssl = 1;
    s->starttls = 1;

    ctx = s->starttls_ctx;

    c->write->handler = tn_mail_send;

    ctx->done(s, c);
}


void
tn_mail_send(tn_event_t *wev)
{
    ssize_t                   n;
    tn_int_t                  rc;
    tn_connection_t          *c;
    tn_mail_session_t        *s;
    tn_mail_core_srv_conf_t  *cscf;

    c = wev->data;
    s = c->data;

    if (wev->timedout) {
        tn_log_error(TN_LOG_INFO, c->log, TN_ETIMEDOUT, "client timed out");
        c->timedout = 1;
        tn_mail_close_connection(c);
        return;
    }

    for ( ;; ) {

        while (s->out.len) {
            n = c->send(c, s->out.data, s->out.len);

            if (n > 0) {
                s->out.data += n;
                s->out.len -= n;
                continue;
            }

            if (n == TN_ERROR) {
                tn_mail_close_connection(c);
                return;
            }

            /* n == TN_AGAIN */

            cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

            tn_event_add_timer(c->write, cscf->timeout);

            return;
        }

        if (s->out_more == NULL) {
            break;
        }

        rc = s->out_more(s);

        if (rc == TN_ERROR) {
            tn_mail_close_connection(c);
            return;
        }

        if (rc == TN_DONE) {
            /* the producer closed the session */
            return;
        }

        if (s->out.len == 0 && s->out_more) {
            /* the producer waits for something else */
            return;
        }
    }

    if (wev->timer_set) {
        tn_event_del_timer(wev);
    }

    if (s->quit) {
        tn_mail_close_connection(c);
        return;
    }

    if (s->blocked) {
        s->blocked = 0;
        c->read->handler(c->read);
    }
}


tn_int_t
tn_mail_read_command(tn_mail_session_t *s, tn_connection_t *c,
    tn_int_t (*parse)(tn_mail_parse_t *p, tn_buf_t *b), tn_str_t *errmsg)
{
    ssize_t                   n;
    tn_int_t                  rc;
    tn_buf_t                 *b;
    tn_mail_core_srv_conf_t  *cscf;

    b = s->buffer;

    for ( ;; ) {

        rc = parse(&s->parse, b);

        if (rc != TN_AGAIN) {
            break;
        }

        if (b->last == b->end) {

            if (b->pos > b->start) {
                /* make room: the partial line moves to the start */
                tn_buf_compact(b);
                s->parse.line_start = b->pos;
                continue;
            }

            /* the line does not fit: skip it up to its end */
            tn_mail_parse_overflow(&s->parse, b);
            continue;
        }

        if (c->read->eof || c->read->error) {
            tn_mail_close_connection(c);
            return TN_ERROR;
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n == TN_ERROR || n == 0) {
            tn_mail_close_connection(c);
            return TN_ERROR;
        }

        if (n > 0) {
            b->last += n;
            continue;
        }

        /* n == TN_AGAIN */

        if (tn_handle_read_event(c->read, 0) != TN_OK) {
            tn_mail_close_connection(c);
            return TN_ERROR;
        }

        return TN_AGAIN;
    }

    if (rc == TN_MAIL_PARSE_INVALID_COMMAND
        || rc == TN_MAIL_PARSE_LINE_TOO_LONG)
    {
        s->errors++;

        cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

        tn_log_error(TN_LOG_INFO, c->log, 0, "client sent %s",
                     rc == TN_MAIL_PARSE_LINE_TOO_LONG
                     ? "too long command line" : "invalid command");

        if (errmsg != NULL && s->errors >= cscf->max_errors) {
            tn_log_error(TN_LOG_INFO, c->log, 0,
                         "client sent too many invalid commands");

            s->out = *errmsg;
            s->quit = 1;
            tn_mail_send(c->write);

            return TN_ERROR;
        }
    }

    return rc;
}


void
tn_mail_close_connection(tn_connection_t *c)
{
    tn_pool_t          *pool;
    tn_mail_session_t  *s;

    s = c->data;

    if (s && s->signature == TN_MAIL_MODULE) {

        /* work still in the thread pool must not find the session */
        if (s->task) {
            ((tn_mail_task_ctx_t *) s->task->ctx)->session = NULL;
            s->task = NULL;
        }

        if (s->resolver_ctx) {
            tn_resolve_done(s->resolver_ctx);
            s->resolver_ctx = NULL;
        }

        /*
         * Before the socket is closed: a client that saw the close may
         * connect again at once and must find its place free.
         */
        tn_mail_limit_release(s);

        s->signature = 0;
    }

    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        (void) tn_ssl_shutdown(c);
    }

    c->destroyed = 1;

    pool = c->pool;

    tn_close_connection(c);

    tn_destroy_pool(pool);
}


u_char *
tn_mail_log_error(tn_log_t *log, u_char *buf, size_t len)
{
    u_char             *p;
    tn_mail_session_t  *s;
    tn_mail_log_ctx_t  *ctx;

    if (log->action) {
        p = tn_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    ctx = log->data;

    p = tn_snprintf(buf, len, ", client: %V", ctx->client);
    len -= p - buf;
    buf = p;

    s = ctx->session;

    if (s == NULL) {
        return p;
    }

    p = tn_snprintf(buf, len, "%s, server: %V",
                    s->starttls ? " using starttls" : "",
                    s->addr_text);
    len -= p - buf;
    buf = p;

    if (s->login.len) {
        p = tn_snprintf(buf, len, ", login: \"%V\"", &s->login);
    }

    return p;
}


tn_thread_task_t *
tn_mail_task_alloc(tn_mail_session_t *s, size_t size,
    void (*handler)(void *ctx, tn_log_t *log),
    void (*done)(tn_mail_session_t *s, tn_thread_task_t *task))
{
    tn_thread_task_t    *task;
    tn_mail_task_ctx_t  *ctx;

    if (size < sizeof(tn_mail_task_ctx_t)) {
        size = sizeof(tn_mail_task_ctx_t);
    }

    task = tn_thread_task_alloc(size, s->connection->log);
    if (task == NULL) {
        return NULL;
    }

    ctx = task->ctx;

    ctx->session = s;
    ctx->log = tn_cycle->log;
    ctx->done = done;

    task->handler = handler;
    task->event.handler = tn_mail_task_handler;
    task->event.data = task;
    task->event.log = tn_cycle->log;

    return task;
}


tn_int_t
tn_mail_task_post(tn_mail_session_t *s, tn_thread_task_t *task)
{
    if (s->task) {
        tn_log_error(TN_LOG_ALERT, s->connection->log, 0,
                     "a session task is already in flight");
        return TN_ERROR;
    }

    if (tn_thread_task_post(task) != TN_OK) {
        return TN_ERROR;
    }

    s->task = task;

    return TN_OK;
}


void
tn_mail_task_free(tn_mail_session_t *s, tn_thread_task_t *task)
{
    if (s && s->task == task) {
        s->task = NULL;
    }

    tn_thread_task_free(task);
}


static void
tn_mail_task_handler(tn_event_t *ev)
{
    tn_thread_task_t    *task;
    tn_mail_session_t   *s;
    tn_mail_task_ctx_t  *ctx;

    task = ev->data;
    ctx = task->ctx;
    s = ctx->session;

    if (s == NULL) {
        /* the session closed while the work was out */
        if (ctx->cancel) {
            ctx->cancel(task);
        }

        tn_thread_task_free(task);
        return;
    }

    s->task = NULL;

    ctx->done(s, task);
}
