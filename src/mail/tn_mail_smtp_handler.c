
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_smtp.h>


/*
 * The SMTP server state machine (RFC 5321, with PIPELINING, SIZE,
 * 8BITMIME, ENHANCEDSTATUSCODES and STARTTLS).
 *
 * Events: tn_mail_smtp_read_handler reads and runs commands, and
 * tn_mail_smtp_data_handler (tn_mail_smtp_data.c) streams DATA into the
 * spool file.  MAIL, RCPT and the recipient lookup are in
 * tn_mail_smtp_envelope.c, AUTH in tn_mail_smtp_auth.c.  Protocol:
 * sctx->state changes only in tn_mail_smtp_enter_state(); commands come
 * from tn_mail_smtp_commands[], which says in which states each is
 * allowed.  Bytes: tn_mail_parse.c.
 *
 * Replies are collected in sctx->out, so that the replies to a group of
 * pipelined commands go out in one write; s->out is always the unsent
 * tail of that buffer.  Commands run one after another until the input
 * is used up, or one of them waits: a recipient lookup in the thread
 * pool, the group commit of a message, the TLS handshake.  The input
 * left in s->buffer then waits too, and no more is read until the wait
 * is over.
 */


typedef tn_int_t (*tn_mail_smtp_cmd_pt)(tn_mail_session_t *s,
    tn_connection_t *c);

/*
 * A command handler appends its reply and returns TN_OK (go on with the
 * next command), TN_AGAIN (stop: the session waits for something, or
 * goes into DATA, STARTTLS or QUIT) or TN_ERROR (an internal failure).
 */
typedef struct {
    tn_str_t                name;
    tn_uint_t               code;
    tn_uint_t               states;        /* TN_SMTP_STATE_BIT()s */
    tn_mail_smtp_cmd_pt     handler;
} tn_mail_smtp_cmd_t;


static void tn_mail_smtp_resolve_ptr(tn_mail_session_t *s,
    tn_connection_t *c);
static void tn_mail_smtp_ptr_handler(tn_resolver_ctx_t *ctx);
static void tn_mail_smtp_addr_handler(tn_resolver_ctx_t *ctx);
static void tn_mail_smtp_greeting(tn_mail_session_t *s, tn_connection_t *c);
static void tn_mail_smtp_block_reading(tn_event_t *rev);
static tn_int_t tn_mail_smtp_run(tn_mail_session_t *s, tn_connection_t *c,
    tn_int_t rc);
static tn_int_t tn_mail_smtp_dispatch(tn_mail_session_t *s,
    tn_connection_t *c);
static tn_int_t tn_mail_smtp_count_command(tn_mail_session_t *s,
    tn_connection_t *c);
static void tn_mail_smtp_session_cleanup(void *data);
static void tn_mail_smtp_session_expired(tn_event_t *ev);

static tn_int_t tn_mail_smtp_helo(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_smtp_rset(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_smtp_noop(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_smtp_quit(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_smtp_vrfy(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_smtp_help(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_smtp_starttls(tn_mail_session_t *s,
    tn_connection_t *c);
static tn_int_t tn_mail_smtp_starttls_send(tn_mail_session_t *s);
static void tn_mail_smtp_starttls_done(tn_mail_session_t *s,
    tn_connection_t *c);

static void tn_mail_smtp_tx_cleanup(void *data);
static void tn_mail_smtp_queue_id(u_char *id);
static void tn_mail_smtp_tls_info(tn_mail_session_t *s,
    tn_connection_t *c);


#define TN_SMTP_CMD_STATES                                                   \
    (TN_SMTP_STATE_BIT(tn_smtp_state_greeted)                                \
     |TN_SMTP_STATE_BIT(tn_smtp_state_idle)                                  \
     |TN_SMTP_STATE_BIT(tn_smtp_state_mail)                                  \
     |TN_SMTP_STATE_BIT(tn_smtp_state_rcpt))

#define TN_SMTP_TX_STATES                                                    \
    (TN_SMTP_STATE_BIT(tn_smtp_state_mail)                                   \
     |TN_SMTP_STATE_BIT(tn_smtp_state_rcpt))

/* the states in which input is read: commands or SASL responses */
#define TN_SMTP_READ_STATES                                                  \
    (TN_SMTP_CMD_STATES|TN_SMTP_SASL_STATES                                  \
     |TN_SMTP_STATE_BIT(tn_smtp_state_bdat))


static tn_mail_smtp_cmd_t  tn_mail_smtp_commands[] = {

    { tn_string("HELO"), TN_SMTP_HELO, TN_SMTP_CMD_STATES,
      tn_mail_smtp_helo },

    { tn_string("EHLO"), TN_SMTP_EHLO, TN_SMTP_CMD_STATES,
      tn_mail_smtp_helo },

    { tn_string("MAIL"), TN_SMTP_MAIL,
      TN_SMTP_STATE_BIT(tn_smtp_state_idle),
      tn_mail_smtp_mail },

    { tn_string("RCPT"), TN_SMTP_RCPT, TN_SMTP_TX_STATES,
      tn_mail_smtp_rcpt },

    { tn_string("DATA"), TN_SMTP_DATA, TN_SMTP_TX_STATES,
      tn_mail_smtp_data },

    /*
     * In every command state: a BDAT refused by its state still has its
     * chunk, which is read and dropped; the handler checks the state.
     */
    { tn_string("BDAT"), TN_SMTP_BDAT,
      TN_SMTP_CMD_STATES|TN_SMTP_STATE_BIT(tn_smtp_state_bdat),
      tn_mail_smtp_bdat },

    { tn_string("RSET"), TN_SMTP_RSET,
      TN_SMTP_CMD_STATES|TN_SMTP_STATE_BIT(tn_smtp_state_bdat),
      tn_mail_smtp_rset },

    { tn_string("NOOP"), TN_SMTP_NOOP,
      TN_SMTP_CMD_STATES|TN_SMTP_STATE_BIT(tn_smtp_state_bdat),
      tn_mail_smtp_noop },

    { tn_string("QUIT"), TN_SMTP_QUIT,
      TN_SMTP_CMD_STATES|TN_SMTP_STATE_BIT(tn_smtp_state_bdat),
      tn_mail_smtp_quit },

    { tn_string("VRFY"), TN_SMTP_VRFY, TN_SMTP_CMD_STATES,
      tn_mail_smtp_vrfy },

    { tn_string("HELP"), TN_SMTP_HELP, TN_SMTP_CMD_STATES,
      tn_mail_smtp_help },

    /* RFC 3207 4.2: not inside a transaction */
    { tn_string("STARTTLS"), TN_SMTP_STARTTLS,
      TN_SMTP_STATE_BIT(tn_smtp_state_greeted)
      |TN_SMTP_STATE_BIT(tn_smtp_state_idle),
      tn_mail_smtp_starttls },

    /*
     * In any command state: without smtp_auth it is an unknown command;
     * the handler answers 503 outside the idle state itself.
     */
    { tn_string("AUTH"), TN_SMTP_AUTH, TN_SMTP_CMD_STATES,
      tn_mail_smtp_auth },

    /* Not offered here: EXPN.  It is answered like any unknown command. */

    { tn_null_string, 0, 0, NULL }
};


#if (TN_DEBUG)

static char  *tn_mail_smtp_state_names[] = {
    "connect", "greeted", "idle", "mail", "rcpt", "data", "deliver",
    "starttls", "quit", "auth_plain", "auth_user", "auth_pass", "auth",
    "bdat", "check"
};

#endif


/* the session */

void
tn_mail_smtp_init_session(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_pool_cleanup_t        *cln;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;

    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    sctx = tn_pcalloc(c->pool, sizeof(tn_mail_smtp_session_t));
    if (sctx == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    s->data = sctx;
    sctx->state = tn_smtp_state_connect;

    tn_mail_smtp_transcript_start(s, c);

    /* implicit TLS is up already */
    tn_mail_smtp_tls_info(s, c);

    if (s->buffer == NULL) {
        s->buffer = tn_create_temp_buf(c->pool,
                                       sscf->auth == TN_MAIL_SMTP_AUTH_OFF
                                       ? sscf->client_buffer_size
                                       : tn_max(sscf->client_buffer_size,
                                               TN_MAIL_SMTP_AUTH_LINE_MAX));
        if (s->buffer == NULL) {
            tn_mail_close_connection(c);
            return;
        }
    }

    sctx->out = tn_create_temp_buf(c->pool, TN_MAIL_SMTP_OUT_SIZE);
    if (sctx->out == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    tn_mail_parse_reset(&s->parse);
    s->parse.max_line = s->buffer->end - s->buffer->start;

    cln = tn_pool_cleanup_add(c->pool, 0);
    if (cln == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    cln->handler = tn_mail_smtp_session_cleanup;
    cln->data = s;

    if (sscf->session_timeout) {
        sctx->session_timer.handler = tn_mail_smtp_session_expired;
        sctx->session_timer.data = c;
        sctx->session_timer.log = c->log;
        /* it does not keep an exiting worker (the read timer does) */
        sctx->session_timer.cancelable = 1;
        tn_event_add_timer(&sctx->session_timer, sscf->session_timeout);
    }

    tn_str_set(&s->host, "unknown");

    /* nothing is read before the greeting */
    c->read->handler = tn_mail_smtp_block_reading;

    tn_mail_smtp_resolve_ptr(s, c);
}


/*
 * The client's name for the Received header: a PTR lookup, then a
 * lookup of that name, which must give the client's address back
 * (forward-confirmed reverse DNS).  The greeting waits for both; the
 * resolver's own timeout (resolver_timeout) bounds the wait.
 */
static void
tn_mail_smtp_resolve_ptr(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_resolver_t            *r;
    tn_resolver_ctx_t        *ctx;

    r = tn_resolver_get((tn_cycle_t *) tn_cycle);

    if (r == NULL
        || (c->sockaddr->sa_family != AF_INET
            && c->sockaddr->sa_family != AF_INET6))
    {
        tn_mail_smtp_greeting(s, c);
        return;
    }

    ctx = tn_resolve_start(r);
    if (ctx == NULL) {
        tn_mail_smtp_greeting(s, c);
        return;
    }

    ctx->name = c->addr_text;
    ctx->type = TN_RESOLVE_PTR;
    ctx->handler = tn_mail_smtp_ptr_handler;
    ctx->data = s;

    if (tn_resolve_name(ctx) != TN_OK) {
        tn_resolve_done(ctx);
        tn_mail_smtp_greeting(s, c);
        return;
    }

    s->resolver_ctx = ctx;
    c->log->action = "resolving the client's address";
}


static void
tn_mail_smtp_ptr_handler(tn_resolver_ctx_t *ctx)
{
    tn_str_t                 *name;
    tn_resolver_t            *r;
    tn_connection_t          *c;
    tn_mail_session_t        *s;
    tn_mail_smtp_session_t   *sctx;

    s = ctx->data;
    c = s->connection;
    sctx = s->data;

    s->resolver_ctx = NULL;

    if (ctx->state != TN_OK || ctx->nnames == 0) {
        tn_log_debug1(TN_LOG_DEBUG_MAIL, c->log, 0,
                      "smtp PTR lookup failed: %i", ctx->state);
        tn_resolve_done(ctx);
        tn_mail_smtp_greeting(s, c);
        return;
    }

    name = &ctx->names[0];

    sctx->ptr_name.data = tn_pnalloc(c->pool, name->len);
    if (sctx->ptr_name.data == NULL) {
        tn_resolve_done(ctx);
        tn_mail_smtp_greeting(s, c);
        return;
    }

    tn_memcpy(sctx->ptr_name.data, name->data, name->len);
    sctx->ptr_name.len = name->len;

    /* the same resolver for the forward lookup */

    r = ctx->resolver;

    tn_resolve_done(ctx);

    ctx = tn_resolve_start(r);

    if (ctx == NULL) {
        tn_mail_smtp_greeting(s, c);
        return;
    }

    ctx->name = sctx->ptr_name;
    ctx->type = c->sockaddr->sa_family == AF_INET6 ? TN_RESOLVE_AAAA
                                                   : TN_RESOLVE_A;
    ctx->handler = tn_mail_smtp_addr_handler;
    ctx->data = s;

    if (tn_resolve_name(ctx) != TN_OK) {
        tn_resolve_done(ctx);
        tn_mail_smtp_greeting(s, c);
        return;
    }

    s->resolver_ctx = ctx;
}


static void
tn_mail_smtp_addr_handler(tn_resolver_ctx_t *ctx)
{
    tn_uint_t                 i;
    tn_connection_t          *c;
    tn_mail_session_t        *s;
    tn_mail_smtp_session_t   *sctx;

    s = ctx->data;
    c = s->connection;
    sctx = s->data;

    s->resolver_ctx = NULL;

    if (ctx->state == TN_OK) {
        for (i = 0; i < ctx->naddrs; i++) {
            if (tn_cmp_sockaddr(ctx->addrs[i].sockaddr,
                                ctx->addrs[i].socklen,
                                c->sockaddr, c->socklen, 0)
                == TN_OK)
            {
                s->host = sctx->ptr_name;
                break;
            }
        }
    }

    if (s->host.data != sctx->ptr_name.data) {
        tn_log_debug1(TN_LOG_DEBUG_MAIL, c->log, 0,
                      "smtp PTR name \"%V\" not confirmed",
                      &sctx->ptr_name);
    }

    tn_resolve_done(ctx);

    tn_mail_smtp_greeting(s, c);
}


static void
tn_mail_smtp_greeting(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_core_srv_conf_t  *cscf;

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    tn_mail_smtp_reply(s, "220 %V ESMTP Tern", &cscf->server_name);

    tn_mail_smtp_enter_state(s, tn_smtp_state_greeted);

    c->read->handler = tn_mail_smtp_read_handler;

    tn_mail_smtp_process(s, c);
}


/*
 * Before the greeting, and while the session waits: the bytes stay in
 * the socket; they are read when the wait is over.
 */
static void
tn_mail_smtp_block_reading(tn_event_t *rev)
{
    tn_connection_t  *c;

    c = rev->data;

    if (c->close) {
        tn_mail_smtp_goodbye(c->data, c, 1, "421 4.3.2 %V Service "
                             "shutting down");
        return;
    }
}


void
tn_mail_smtp_read_handler(tn_event_t *rev)
{
    tn_connection_t          *c;
    tn_mail_session_t        *s;
    tn_mail_smtp_session_t   *sctx;

    c = rev->data;
    s = c->data;
    sctx = s->data;

    if (rev->timedout) {
        rev->timedout = 0;

        tn_log_error(TN_LOG_INFO, c->log, TN_ETIMEDOUT, "client timed out");

        c->timedout = 1;

        tn_mail_smtp_goodbye(s, c, 0, "421 4.4.2 %V Error: timeout "
                             "exceeded");
        return;
    }

    if (c->close) {
        tn_mail_smtp_goodbye(s, c, 1, "421 4.3.2 %V Service shutting down");
        return;
    }

    if (s->task || sctx->delivery
        || !(TN_SMTP_READ_STATES & TN_SMTP_STATE_BIT(sctx->state)))
    {
        /* waiting: the input is read when the wait is over */
        return;
    }

    tn_mail_smtp_process(s, c);
}


/*
 * Runs the commands in the input, pipelined ones in order, until the
 * input is used up or a command has to wait; then sends the replies.
 */
void
tn_mail_smtp_process(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_int_t                  rc;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;

    sctx = s->data;
    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    if (sctx->expired) {
        tn_mail_smtp_goodbye(s, c, 0, "421 4.4.2 %V Error: session time "
                             "limit exceeded");
        return;
    }

    c->log->action = "reading command";

    for ( ;; ) {

        if (!(TN_SMTP_READ_STATES & TN_SMTP_STATE_BIT(sctx->state))) {
            break;
        }

        if (tn_buf_free_size(sctx->out) < TN_MAIL_SMTP_OUT_RESERVE
            && s->out.len)
        {
            /* tn_mail_send() calls the read handler when all is out */
            s->blocked = 1;
            break;
        }

        /*
         * NULL: the limit is checked below, once the reply to the bad
         * line is queued; the core's errmsg would replace s->out, losing
         * the replies before it and leaving s->out pointing at a static
         * string while more replies were appended to it.
         */
        rc = tn_mail_read_command(s, c,
                                  (TN_SMTP_SASL_STATES
                                   & TN_SMTP_STATE_BIT(sctx->state))
                                  ? tn_mail_parse_line
                                  : tn_mail_smtp_parse_command,
                                  NULL);

        if (rc == TN_ERROR) {
            /* closed */
            return;
        }

        if (rc == TN_AGAIN) {
            /*
             * smtp_timeout is a deadline for the next whole command, not
             * for each read: it is armed once a command is over, and a
             * line (or a TLS record) that trickles in byte by byte does
             * not move it (slowloris).
             */
            if (!c->read->timer_set || !sctx->deadline) {
                tn_event_add_timer(c->read, sscf->timeout);
                sctx->deadline = 1;
            }

            break;
        }

        sctx->deadline = 0;

        if (tn_mail_smtp_run(s, c, rc) != TN_OK) {
            break;
        }
    }

    if (c->read->timer_set && sctx->state != tn_smtp_state_data
        && (s->task || sctx->delivery))
    {
        tn_event_del_timer(c->read);
    }

    /* the round is over: its lines go out with its replies */
    tn_mail_smtp_transcript_flush(s);

    tn_mail_send(c->write);
}


/*
 * Answers the line tn_mail_smtp_process() read (rc is what the parser
 * said of it).  TN_OK: go on with the next line; TN_AGAIN: stop, the
 * command waits for something or the session ends.
 */
static tn_int_t
tn_mail_smtp_run(tn_mail_session_t *s, tn_connection_t *c, tn_int_t rc)
{
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;
    tn_mail_core_srv_conf_t  *cscf;

    sctx = s->data;
    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    /* before AUTH zeroes its base64 in the buffer; masked by state */
    tn_mail_smtp_transcript_client(s, rc);

    /*
     * With smtp_auth the buffer takes an AUTH line of 12288 octets; other
     * commands still have smtp_client_buffer as their limit.
     */
    if (rc == TN_OK && s->parse.command != TN_SMTP_AUTH
        && !(TN_SMTP_SASL_STATES & TN_SMTP_STATE_BIT(sctx->state))
        && (size_t) (s->buffer->pos - s->parse.cmd.data)
           > sscf->client_buffer_size)
    {
        s->errors++;
        rc = TN_MAIL_PARSE_LINE_TOO_LONG;
    }

    if (TN_SMTP_SASL_STATES & TN_SMTP_STATE_BIT(sctx->state)) {
        rc = tn_mail_smtp_auth_response(s, c, rc);

    } else if (rc == TN_MAIL_PARSE_INVALID_COMMAND) {
        tn_mail_smtp_reply(s, "500 5.5.2 Bad command line");

    } else if (rc == TN_MAIL_PARSE_LINE_TOO_LONG) {
        tn_mail_smtp_reply(s, "500 5.5.2 Line too long");

    } else {
        rc = tn_mail_smtp_dispatch(s, c);

        if (rc == TN_ERROR) {
            cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

            tn_mail_smtp_reply(s, "%V",
                               &cscf->protocol->internal_server_error);
            /* the text has its CRLF already */
            sctx->out->last -= 2;
            s->out.len -= 2;

            s->quit = 1;
            tn_mail_smtp_enter_state(s, tn_smtp_state_quit);
            return TN_AGAIN;
        }
    }

    tn_mail_parse_reset(&s->parse);

    if (s->errors >= sscf->max_errors && !s->quit) {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "client sent too many bad commands");

        tn_mail_smtp_reply(s, "421 4.7.0 Too many errors");
        s->quit = 1;
        tn_mail_smtp_enter_state(s, tn_smtp_state_quit);
        return TN_AGAIN;
    }

    return (rc == TN_AGAIN || s->quit) ? TN_AGAIN : TN_OK;
}


static tn_int_t
tn_mail_smtp_dispatch(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_cmd_t      *cmd;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    for (cmd = tn_mail_smtp_commands; cmd->handler; cmd++) {
        if (cmd->code == s->parse.command) {
            break;
        }
    }

    if (cmd->handler == NULL) {
        return tn_mail_smtp_unknown(s, c);
    }

    if (tn_mail_smtp_count_command(s, c) != TN_OK) {
        return TN_AGAIN;
    }

    tn_log_debug2(TN_LOG_DEBUG_MAIL, c->log, 0, "smtp command %V in %s",
                  &cmd->name, tn_mail_smtp_state_names[sctx->state]);

    if (!(cmd->states & TN_SMTP_STATE_BIT(sctx->state))) {

        if (cmd->code == TN_SMTP_DATA && sctx->state == tn_smtp_state_mail
            && sctx->tx && sctx->tx->rcpts_seen)
        {
            tn_mail_smtp_error(s, "554 5.5.1 No valid recipients");
            return TN_OK;
        }

        tn_mail_smtp_error(s, "503 5.5.1 Bad sequence of commands");
        return TN_OK;
    }

    return cmd->handler(s, c);
}


/*
 * smtp_max_commands_before_mail: commands that are not part of a
 * transaction (MAIL starts the count again).  TN_DECLINED: too many, the
 * session ends (replied).
 */
static tn_int_t
tn_mail_smtp_count_command(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;

    sctx = s->data;
    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    switch (s->parse.command) {

    case TN_SMTP_MAIL:
        sctx->commands = 0;
        return TN_OK;

    case TN_SMTP_RCPT:
    case TN_SMTP_DATA:
    case TN_SMTP_BDAT:
    case TN_SMTP_QUIT:
        return TN_OK;
    }

    if (sscf->max_commands == 0 || ++sctx->commands <= sscf->max_commands) {
        return TN_OK;
    }

    tn_log_error(TN_LOG_INFO, c->log, 0,
                 "client sent too many commands without a transaction");

    tn_mail_smtp_reply(s, "421 4.7.0 Too many commands without a "
                       "transaction");
    s->quit = 1;
    tn_mail_smtp_enter_state(s, tn_smtp_state_quit);

    return TN_DECLINED;
}


void
tn_mail_smtp_enter_state(tn_mail_session_t *s, tn_mail_smtp_state_e state)
{
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    tn_log_debug2(TN_LOG_DEBUG_MAIL, s->connection->log, 0,
                  "smtp state: %s -> %s",
                  tn_mail_smtp_state_names[sctx->state],
                  tn_mail_smtp_state_names[state]);

    sctx->state = state;
}


/* appends one reply line (fmt without CRLF) to the output */
void
tn_mail_smtp_reply(tn_mail_session_t *s, const char *fmt, ...)
{
    u_char                  *p;
    va_list                  args;
    tn_buf_t                *b;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;
    b = sctx->out;

    if (s->out.len == 0) {
        b->pos = b->start;
        b->last = b->start;
        s->out.data = b->start;
    }

    if (b->end - b->last < 3) {
        /* cannot happen: a round stops while the reserve is left */
        tn_log_error(TN_LOG_ALERT, s->connection->log, 0,
                     "smtp reply buffer full");
        return;
    }

    va_start(args, fmt);
    p = tn_vslprintf(b->last, b->end - 2, fmt, args);
    va_end(args);

    tn_mail_smtp_transcript_reply(s, b->last, p);

    *p++ = CR;
    *p++ = LF;

    s->out.len += p - b->last;
    b->last = p;
}


/* a reply to a bad command, which counts towards smtp_max_errors */
void
tn_mail_smtp_error(tn_mail_session_t *s, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    text[256];

    va_start(args, fmt);
    p = tn_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    s->errors++;

    tn_mail_smtp_reply(s, "%*s", (size_t) (p - text), text);
}


/*
 * The last reply, "421 ... %V ..." (the server name), then close: after
 * it is sent, or at once when now is set (worker_shutdown_timeout
 * passed: the worker is exiting and waits for nobody).  In the middle of
 * STARTTLS, or when the last reply is already out, it only closes.
 */
void
tn_mail_smtp_goodbye(tn_mail_session_t *s, tn_connection_t *c,
    tn_uint_t now, const char *fmt)
{
    tn_mail_smtp_session_t   *sctx;
    tn_mail_core_srv_conf_t  *cscf;

    sctx = s->data;
    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    if (sctx == NULL || sctx->state == tn_smtp_state_quit
        || sctx->state == tn_smtp_state_starttls)
    {
        tn_mail_close_connection(c);
        return;
    }

    tn_mail_smtp_reply(s, fmt, &cscf->server_name);

    s->quit = 1;
    tn_mail_smtp_enter_state(s, tn_smtp_state_quit);

    /* nothing is read any more; a DATA handler must not run again */
    c->read->handler = tn_mail_smtp_read_handler;

    if (!now) {
        tn_mail_send(c->write);
        return;
    }

    /* one try, whatever the socket takes */
    (void) c->send(c, s->out.data, s->out.len);

    tn_mail_close_connection(c);
}


/* c->pool cleanup: the session is closing */
static void
tn_mail_smtp_session_cleanup(void *data)
{
    tn_mail_session_t *s = data;

    tn_connection_t          *c;
    tn_mail_smtp_session_t   *sctx;

    c = s->connection;
    sctx = s->data;

    if (sctx->session_timer.timer_set) {
        tn_event_del_timer(&sctx->session_timer);
    }

    /* the last line; the 421 of a goodbye is in it already */
    tn_mail_smtp_transcript_close(s);

    if (sctx->delivery) {
        /* the batch finishes the delivery without us */
        sctx->delivery->session = NULL;
        sctx->delivery = NULL;
    }

    tn_mail_smtp_tx_reset(s);

    if (sctx->state == tn_smtp_state_connect && sctx->helo.len == 0
        && sctx->messages == 0)
    {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "smtp session closed before the greeting");
        return;
    }

    c->log->action = NULL;

    /* c->ssl is gone by now: the TLS data were kept at the handshake */
    tn_log_error(TN_LOG_INFO, c->log, 0,
                 "smtp session closed: helo=%V, messages=%ui, tls=%V",
                 &sctx->helo, sctx->messages, &sctx->tls);
}


/*
 * smtp_session_timeout: a session waiting for a command ends now; one
 * busy with a message, a lookup or a handshake ends when that is over
 * (tn_mail_smtp_process() sees sctx->expired).
 */
static void
tn_mail_smtp_session_expired(tn_event_t *ev)
{
    tn_connection_t         *c;
    tn_mail_session_t       *s;
    tn_mail_smtp_session_t  *sctx;

    c = ev->data;
    s = c->data;
    sctx = s->data;

    tn_log_error(TN_LOG_INFO, c->log, 0, "smtp session time limit exceeded");

    sctx->expired = 1;

    if (s->task || sctx->delivery || s->quit
        || !(TN_SMTP_READ_STATES & TN_SMTP_STATE_BIT(sctx->state)))
    {
        return;
    }

    tn_mail_smtp_process(s, c);
}


/* the commands */

static tn_int_t
tn_mail_smtp_helo(tn_mail_session_t *s, tn_connection_t *c)
{
    u_char                   *p, *last;
    tn_str_t                 *arg;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;
    tn_mail_core_srv_conf_t  *cscf;

    sctx = s->data;
    arg = &s->parse.args[0];

    if (s->parse.nargs == 0 || arg->len == 0
        || arg->len > TN_MAIL_SMTP_HELO_MAX)
    {
        tn_mail_smtp_error(s, "501 5.5.4 Syntax: %s hostname",
                           s->parse.command == TN_SMTP_EHLO ? "EHLO"
                                                            : "HELO");
        return TN_OK;
    }

    /* it goes into the Received header: one printable word */

    for (p = arg->data, last = p + arg->len; p < last; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '(' || *p == ')'
            || *p == '\\')
        {
            tn_mail_smtp_error(s, "501 5.5.4 Invalid domain name");
            return TN_OK;
        }
    }

    tn_memcpy(sctx->helo_buf, arg->data, arg->len);
    sctx->helo.data = sctx->helo_buf;
    sctx->helo.len = arg->len;

    tn_mail_smtp_tx_reset(s);

    sctx->esmtp = (s->parse.command == TN_SMTP_EHLO);

    tn_mail_smtp_enter_state(s, tn_smtp_state_idle);

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    if (!sctx->esmtp) {
        tn_mail_smtp_reply(s, "250 %V", &cscf->server_name);
        return TN_OK;
    }

    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    tn_mail_smtp_reply(s, "250-%V", &cscf->server_name);
    tn_mail_smtp_reply(s, "250-PIPELINING");
    tn_mail_smtp_reply(s, "250-SIZE %O", sscf->max_message_size);
    tn_mail_smtp_reply(s, "250-8BITMIME");
    tn_mail_smtp_reply(s, "250-SMTPUTF8");
    tn_mail_smtp_reply(s, "250-CHUNKING");
    tn_mail_smtp_reply(s, "250-DSN");

    if (tn_mail_smtp_auth_offered(s)) {
        tn_mail_smtp_reply(s, "250-AUTH PLAIN LOGIN");
    }

    /* RFC 3207 4.2: never offered again once TLS runs */
    if (tn_mail_tls_available(s) && !s->ssl) {
        tn_mail_smtp_reply(s, "250-STARTTLS");
    }

    tn_mail_smtp_reply(s, "250 ENHANCEDSTATUSCODES");

    return TN_OK;
}


static tn_int_t
tn_mail_smtp_rset(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    tn_mail_smtp_tx_reset(s);

    if (sctx->state != tn_smtp_state_greeted) {
        tn_mail_smtp_enter_state(s, tn_smtp_state_idle);
    }

    tn_mail_smtp_reply(s, "250 2.0.0 Ok");

    return TN_OK;
}


static tn_int_t
tn_mail_smtp_noop(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_reply(s, "250 2.0.0 Ok");

    return TN_OK;
}


static tn_int_t
tn_mail_smtp_quit(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_reply(s, "221 2.0.0 Bye");

    s->quit = 1;
    tn_mail_smtp_enter_state(s, tn_smtp_state_quit);

    return TN_AGAIN;
}


static tn_int_t
tn_mail_smtp_vrfy(tn_mail_session_t *s, tn_connection_t *c)
{
    u_char                   *p;
    const char               *err;
    tn_str_t                  arg;
    tn_smtp_path_t            path;
    tn_mail_smtp_srv_conf_t  *sscf;
    u_char                    buf[TN_SMTP_PATH_MAX + 8];

    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    if (s->parse.nargs == 0) {
        tn_mail_smtp_error(s, "501 5.5.4 Syntax: VRFY address");
        return TN_OK;
    }

    if (!sscf->vrfy) {
        tn_mail_smtp_reply(s, "252 2.1.5 Cannot VRFY user, but will accept "
                           "message and attempt delivery");
        return TN_OK;
    }

    /* "VRFY <u@d>" or "VRFY u@d": the RCPT path parser checks it */

    arg = s->parse.args[0];

    if (arg.len > TN_SMTP_PATH_MAX) {
        tn_mail_smtp_error(s, "501 5.1.3 Bad recipient address syntax");
        return TN_OK;
    }

    p = tn_cpymem(buf, "TO:", 3);

    if (arg.data[0] != '<') {
        *p++ = '<';
        p = tn_cpymem(p, arg.data, arg.len);
        *p++ = '>';

    } else {
        p = tn_cpymem(p, arg.data, arg.len);
    }

    arg.data = buf;
    arg.len = p - buf;

    if (tn_mail_smtp_parse_path(&arg, 1, &path, &err) != TN_OK
        || path.nparams)
    {
        tn_mail_smtp_error(s, "501 5.1.3 Bad recipient address syntax");
        return TN_OK;
    }

    /* RFC 6531 3.7.4.2: a UTF-8 answer only to "VRFY ... SMTPUTF8" */
    if (path.utf8) {
        tn_mail_smtp_reply(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
        return TN_OK;
    }

    return tn_mail_smtp_lookup(s, c, &path, 1);
}


static tn_int_t
tn_mail_smtp_help(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA "
                       "BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH");

    return TN_OK;
}


static tn_int_t
tn_mail_smtp_starttls(tn_mail_session_t *s, tn_connection_t *c)
{
    if (s->ssl) {
        tn_mail_smtp_error(s, "554 5.5.1 Error: TLS already active");
        return TN_OK;
    }

    if (!tn_mail_tls_available(s)) {
        tn_mail_smtp_reply(s, "454 4.7.0 TLS not available");
        return TN_OK;
    }

    if (s->parse.nargs) {
        tn_mail_smtp_error(s, "501 5.5.4 Syntax: STARTTLS");
        return TN_OK;
    }

    tn_mail_smtp_reply(s, "220 2.0.0 Ready to start TLS");

    tn_mail_smtp_enter_state(s, tn_smtp_state_starttls);

    /* the handshake starts once the 220 (and what was before it) is out */
    s->out_more = tn_mail_smtp_starttls_send;

    return TN_AGAIN;
}


/* s->out_more: the 220 is sent */
static tn_int_t
tn_mail_smtp_starttls_send(tn_mail_session_t *s)
{
    tn_connection_t  *c;

    c = s->connection;

    s->out_more = NULL;

    if (c->read->timer_set) {
        tn_event_del_timer(c->read);
    }

    c->read->handler = tn_mail_smtp_block_reading;

    /* it empties s->buffer: nothing sent in the clear runs under TLS */
    tn_mail_starttls(s, c, tn_mail_smtp_starttls_done);

    /* the session may be closed by now */
    return TN_DONE;
}


/* RFC 3207 4.2: everything learnt before TLS is forgotten, EHLO too */
static void
tn_mail_smtp_starttls_done(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    tn_mail_smtp_tx_reset(s);

    sctx->helo.len = 0;
    sctx->esmtp = 0;

    /* a login in the clear (smtp_auth_plaintext) is forgotten as well */
    tn_mail_smtp_auth_reset(s);

    tn_mail_smtp_tls_info(s, c);

    s->out.len = 0;
    s->errors = 0;

    tn_mail_smtp_enter_state(s, tn_smtp_state_greeted);

    c->read->handler = tn_mail_smtp_read_handler;

    tn_mail_smtp_process(s, c);
}


tn_int_t
tn_mail_smtp_unknown(tn_mail_session_t *s, tn_connection_t *c)
{
    u_char  buf[4 * TN_MAIL_MAX_VERB];
    u_char *p;

    p = tn_escape_log(buf, s->parse.cmd.data,
                      tn_min(s->parse.cmd.len, (size_t) TN_MAIL_MAX_VERB));

    tn_log_error(TN_LOG_INFO, c->log, 0, "client sent unknown command "
                 "\"%*s\"", (size_t) (p - buf), buf);

    tn_mail_smtp_error(s, "500 5.5.1 Unknown command");

    return TN_OK;
}


/* the transaction */

tn_mail_smtp_tx_t *
tn_mail_smtp_tx_create(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_pool_t               *pool;
    tn_pool_cleanup_t       *cln;
    tn_mail_smtp_tx_t       *tx;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    tn_mail_smtp_tx_reset(s);

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, c->log);
    if (pool == NULL) {
        return NULL;
    }

    tx = tn_pcalloc(pool, sizeof(tn_mail_smtp_tx_t));
    if (tx == NULL) {
        tn_destroy_pool(pool);
        return NULL;
    }

    tx->pool = pool;
    tx->fd = TN_INVALID_FILE;

    cln = tn_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        tn_destroy_pool(pool);
        return NULL;
    }

    cln->handler = tn_mail_smtp_tx_cleanup;
    cln->data = tx;

    tn_mail_smtp_queue_id(tx->id);

    sctx->tx = tx;

    return tx;
}


void
tn_mail_smtp_tx_reset(tn_mail_session_t *s)
{
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    if (sctx->tx) {
        tn_destroy_pool(sctx->tx->pool);
        sctx->tx = NULL;
    }
}


/* a message not handed to the batcher leaves nothing in the spool */
static void
tn_mail_smtp_tx_cleanup(void *data)
{
    tn_mail_smtp_tx_t *tx = data;

    /* the checks first: a waiting end() is cancelled, nothing calls back */
    if (tx->msg) {
        tn_mail_msg_cleanup(tx->msg);
        tx->msg = NULL;
    }

    if (tx->fd != TN_INVALID_FILE) {
        (void) close(tx->fd);
        tx->fd = TN_INVALID_FILE;
    }

    if (tx->spool_owned) {
        if (unlink(tx->spool_path) == -1) {
            tn_log_error(TN_LOG_CRIT, tx->pool->log, tn_errno,
                         "unlink(\"%s\") failed", tx->spool_path);
        }

        tx->spool_owned = 0;
    }
}


/*
 * 16 characters of base32: 7 of the time, 5 of the pid, 4 of a counter,
 * so unique per host as long as a worker takes fewer than 2^20 ids a
 * second.
 */
static void
tn_mail_smtp_queue_id(u_char *id)
{
    int               i;
    uint64_t          v;
    static uint32_t   counter;
    static u_char     digits[] = "0123456789ABCDEFGHJKLMNPQRSTVWXZ";

    v = (uint64_t) tn_time();
    for (i = 6; i >= 0; i--) {
        id[i] = digits[v & 31];
        v >>= 5;
    }

    v = (uint64_t) tn_pid;
    for (i = 11; i >= 7; i--) {
        id[i] = digits[v & 31];
        v >>= 5;
    }

    v = counter++;
    for (i = 15; i >= 12; i--) {
        id[i] = digits[v & 31];
        v >>= 5;
    }

    id[TN_MAIL_SMTP_QUEUE_ID_LEN] = '\0';
}


/* sctx->tls for the log lines: "none" or "TLSv1.3/TLS_AES_256_GCM_SHA384" */
static void
tn_mail_smtp_tls_info(tn_mail_session_t *s, tn_connection_t *c)
{
    u_char                  *p;
    tn_mail_smtp_session_t  *sctx;
    u_char                   buf[128];

    sctx = s->data;

    if (c->ssl == NULL || !c->ssl->handshaked) {
        tn_str_set(&sctx->tls, "none");
        return;
    }

    p = tn_slprintf(buf, buf + sizeof(buf), "%s/%s", tn_ssl_get_protocol(c),
                    tn_ssl_get_cipher_name(c));

    tn_mail_smtp_transcript_event(s, 'T', "TLS %s %s",
                                  tn_ssl_get_protocol(c),
                                  tn_ssl_get_cipher_name(c));

    sctx->tls.data = tn_pnalloc(c->pool, p - buf);
    if (sctx->tls.data == NULL) {
        tn_str_set(&sctx->tls, "unknown");
        return;
    }

    sctx->tls.len = tn_cpymem(sctx->tls.data, buf, p - buf) - sctx->tls.data;
}
