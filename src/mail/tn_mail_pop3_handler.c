
/*
 * Copyright (C) The Tern developers
 */


/*
 * The POP3 server: RFC 1939, the extensions of RFC 2449 (CAPA, response
 * codes, PIPELINING), SASL PLAIN of RFC 5034 and STLS of RFC 2595.
 *
 * AUTHORIZATION takes USER/PASS or AUTH PLAIN, only under TLS unless
 * pop3_auth_plaintext is on.  A good login takes an exclusive flock() on
 * <maildir>/pop3.lock (a second session gets -ERR [IN-USE]) and loads the
 * maildrop in the thread pool; TRANSACTION then works on that view.  DELE
 * only marks: the files are removed in UPDATE, after QUIT, and "+OK" is
 * sent only when that is durable.  A session that ends any other way
 * removes nothing.
 *
 * RETR and TOP stream the message file: 64 KiB are read at a time (on the
 * event loop: a local disk read of that size is accepted there for now)
 * and turned into dot-stuffed CRLF lines by tn_mail_pop3_out() as
 * tn_mail_send() asks for more, so no message is ever held whole.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_pop3.h>


typedef tn_int_t (*tn_mail_pop3_handler_pt)(tn_mail_session_t *s,
    tn_connection_t *c);


/* one row of the command table */
typedef struct {
    tn_uint_t                  command;     /* TN_POP3_* */
    tn_uint_t                  states;      /* tn_pop3_bit() of each */
    tn_uint_t                  min_args;
    tn_uint_t                  max_args;
    tn_mail_pop3_handler_pt    handler;
} tn_mail_pop3_command_t;


/* the thread-pool jobs */
typedef struct {
    tn_mail_task_ctx_t         base;
    tn_store_conf_t           *conf;
    tn_store_user_t            user;
    tn_store_mailbox_t         mb;
    tn_int_t                   rc;
} tn_mail_pop3_load_t;


typedef struct {
    tn_mail_task_ctx_t         base;
    tn_store_conf_t           *conf;
    tn_store_user_t            user;
    tn_uint_t                  n;
    tn_int_t                   rc;
    uint32_t                   uids[1];
} tn_mail_pop3_expunge_t;


/* RETR/TOP of a file an IMAP session moved or renamed: its path now */
typedef struct {
    tn_mail_task_ctx_t         base;
    tn_store_conf_t           *conf;
    tn_store_user_t            user;
    uint32_t                   uid;
    tn_uint_t                  n;
    tn_uint_t                  command;
    tn_int_t                   lines;
    tn_int_t                   rc;
    char                       path[PATH_MAX];
} tn_mail_pop3_locate_t;


#define tn_pop3_bit(state)     (1 << (state))

#define TN_POP3_AUTH_STATES                                                  \
    (tn_pop3_bit(tn_pop3_state_auth) | tn_pop3_bit(tn_pop3_state_user))
#define TN_POP3_TRANS_STATES   tn_pop3_bit(tn_pop3_state_transaction)
#define TN_POP3_ANY_STATE      (TN_POP3_AUTH_STATES | TN_POP3_TRANS_STATES)

/* TOP takes at most this many body lines (an unsigned 32-bit count) */
#define TN_POP3_MAX_TOP_LINES  4294967295U


static void tn_mail_pop3_read_handler(tn_event_t *rev);
static tn_uint_t tn_mail_pop3_busy(tn_mail_session_t *s);
static tn_int_t tn_mail_pop3_dispatch(tn_mail_session_t *s,
    tn_connection_t *c, tn_int_t rc);
static void tn_mail_pop3_enter_state(tn_mail_session_t *s,
    tn_mail_pop3_state_e state);
static tn_int_t tn_mail_pop3_error(tn_mail_session_t *s, const char *text);
static void tn_mail_pop3_reply(tn_mail_session_t *s, const char *fmt, ...);
static void tn_mail_pop3_cleanup(void *data);

static tn_int_t tn_mail_pop3_user(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_pass(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_auth(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_sasl(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_plain(tn_mail_session_t *s, tn_str_t *arg);
static tn_uint_t tn_mail_pop3_plaintext_ok(tn_mail_session_t *s);
static void tn_mail_pop3_auth_done(tn_mail_session_t *s, tn_int_t rc);
static tn_int_t tn_mail_pop3_lock(tn_mail_session_t *s, tn_connection_t *c);
static void tn_mail_pop3_load_cancel(tn_thread_task_t *task);
static void tn_mail_pop3_load_handler(void *data, tn_log_t *log);
static void tn_mail_pop3_load_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_pop3_capa(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_stls(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_stls_start(tn_mail_session_t *s);
static void tn_mail_pop3_stls_done(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_apop(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_noop(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_quit(tn_mail_session_t *s, tn_connection_t *c);

static tn_int_t tn_mail_pop3_stat(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_list(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_list_more(tn_mail_session_t *s);
static tn_int_t tn_mail_pop3_retr(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_dele(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_rset(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_pop3_msg(tn_mail_session_t *s, tn_str_t *arg,
    tn_uint_t *n);
static tn_int_t tn_mail_pop3_out_alloc(tn_mail_session_t *s,
    tn_uint_t file);
static tn_int_t tn_mail_pop3_open(tn_mail_session_t *s, tn_connection_t *c,
    tn_store_msg_t *m);
static tn_int_t tn_mail_pop3_retr_start(tn_mail_session_t *s,
    tn_uint_t n, tn_int_t lines, tn_uint_t command);
static tn_int_t tn_mail_pop3_locate(tn_mail_session_t *s, tn_uint_t n,
    tn_int_t lines);
static void tn_mail_pop3_locate_handler(void *data, tn_log_t *log);
static void tn_mail_pop3_locate_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_pop3_retr_more(tn_mail_session_t *s);
static tn_int_t tn_mail_pop3_release(tn_mail_session_t *s);
static void tn_mail_pop3_free_stream(tn_mail_pop3_session_t *ps);
static void tn_mail_pop3_expunge_handler(void *data, tn_log_t *log);
static void tn_mail_pop3_expunge_done(tn_mail_session_t *s,
    tn_thread_task_t *task);


static tn_str_t  tn_mail_pop3_greeting = tn_string("+OK Tern POP3 ready" CRLF);
static tn_str_t  tn_mail_pop3_too_many =
    tn_string("-ERR too many invalid commands" CRLF);
static tn_str_t  tn_mail_pop3_internal =
    tn_string("-ERR [SYS/TEMP] internal server error" CRLF);


static tn_mail_pop3_command_t  tn_mail_pop3_commands[] = {
    { TN_POP3_USER, TN_POP3_AUTH_STATES, 1, 1, tn_mail_pop3_user },
    { TN_POP3_PASS, tn_pop3_bit(tn_pop3_state_user), 1, 1,
      tn_mail_pop3_pass },
    { TN_POP3_AUTH, TN_POP3_AUTH_STATES, 0, 2, tn_mail_pop3_auth },
    { TN_POP3_APOP, TN_POP3_ANY_STATE, 0, 2, tn_mail_pop3_apop },
    { TN_POP3_CAPA, TN_POP3_ANY_STATE, 0, 0, tn_mail_pop3_capa },
    { TN_POP3_STLS, TN_POP3_AUTH_STATES, 0, 0, tn_mail_pop3_stls },
    { TN_POP3_STAT, TN_POP3_TRANS_STATES, 0, 0, tn_mail_pop3_stat },
    { TN_POP3_LIST, TN_POP3_TRANS_STATES, 0, 1, tn_mail_pop3_list },
    { TN_POP3_UIDL, TN_POP3_TRANS_STATES, 0, 1, tn_mail_pop3_list },
    { TN_POP3_TOP, TN_POP3_TRANS_STATES, 2, 2, tn_mail_pop3_retr },
    { TN_POP3_RETR, TN_POP3_TRANS_STATES, 1, 1, tn_mail_pop3_retr },
    { TN_POP3_DELE, TN_POP3_TRANS_STATES, 1, 1, tn_mail_pop3_dele },
    { TN_POP3_RSET, TN_POP3_TRANS_STATES, 0, 0, tn_mail_pop3_rset },
    { TN_POP3_NOOP, TN_POP3_ANY_STATE, 0, 0, tn_mail_pop3_noop },
    { TN_POP3_QUIT, TN_POP3_ANY_STATE, 0, 0, tn_mail_pop3_quit },
    { 0, 0, 0, 0, NULL }
};


#if (TN_DEBUG)
static const char  *tn_mail_pop3_state_names[] = {
    "auth", "user", "sasl", "login", "transaction", "update"
};
#endif


/* the session's per-protocol state, what the log line at close needs */
typedef struct {
    tn_mail_session_t         *session;
    tn_log_t                  *log;
} tn_mail_pop3_cleanup_t;


void
tn_mail_pop3_init_session(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_pool_cleanup_t        *cln;
    tn_mail_pop3_cleanup_t   *cl;
    tn_mail_pop3_session_t   *ps;
    tn_mail_pop3_srv_conf_t  *pscf;

    pscf = tn_mail_get_module_srv_conf(s, tn_mail_pop3_module);

    ps = tn_pcalloc(c->pool, sizeof(tn_mail_pop3_session_t));
    if (ps == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    ps->fd = TN_INVALID_FILE;
    ps->lock_fd = TN_INVALID_FILE;
    s->data = ps;

    cln = tn_pool_cleanup_add(c->pool, sizeof(tn_mail_pop3_cleanup_t));
    if (cln == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    cl = cln->data;
    cl->session = s;
    cl->log = c->log;
    cln->handler = tn_mail_pop3_cleanup;

    s->buffer = tn_create_temp_buf(c->pool, pscf->client_buffer_size);
    if (s->buffer == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    tn_mail_parse_reset(&s->parse);
    s->parse.max_line = TN_MAIL_POP3_MAX_LINE;

    c->log->action = "in auth state";
    c->read->handler = tn_mail_pop3_read_handler;
    tn_event_add_timer(c->read, pscf->timeout);

    /* a client may have sent commands before the greeting: read after it */
    s->blocked = 1;
    s->out = tn_mail_pop3_greeting;

    tn_mail_send(c->write);
}


/*
 * The read handler of every state.  One command at a time: its reply is
 * sent before the next is read; with more input buffered (pipelining),
 * s->blocked makes tn_mail_send() call this again when the reply is out.
 */

static void
tn_mail_pop3_read_handler(tn_event_t *rev)
{
    tn_int_t                  rc;
    tn_connection_t          *c;
    tn_mail_session_t        *s;
    tn_mail_pop3_session_t   *ps;
    tn_mail_pop3_srv_conf_t  *pscf;

    c = rev->data;
    s = c->data;
    ps = s->data;

    pscf = tn_mail_get_module_srv_conf(s, tn_mail_pop3_module);

    if (c->close) {
        /*
         * worker_shutdown_timeout passed.  Ending a session without QUIT
         * removes nothing (RFC 1939 section 6), so it is safe in any
         * state; work still in the thread pool is cancelled.
         */
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "closing the session: the worker is shutting down");
        tn_mail_close_connection(c);
        return;
    }

    if (rev->timedout) {
        rev->timedout = 0;

        if (!tn_mail_pop3_busy(s)) {
            tn_log_error(TN_LOG_INFO, c->log, TN_ETIMEDOUT,
                         "client timed out");
            c->timedout = 1;
            tn_mail_close_connection(c);
            return;
        }

        /* not idle: we are sending or waiting for the store */
        tn_event_add_timer(rev, pscf->timeout);
    }

    if (tn_mail_pop3_busy(s)) {
        s->blocked = 1;
        return;
    }

    c->log->action = (ps->state == tn_pop3_state_transaction)
                     ? "in transaction state" : "in auth state";

    rc = tn_mail_read_command(s, c, (ps->state == tn_pop3_state_sasl)
                                    ? tn_mail_parse_line
                                    : tn_mail_pop3_parse_command,
                              &tn_mail_pop3_too_many);

    if (rc == TN_AGAIN) {
        tn_event_add_timer(rev, pscf->timeout);
        return;
    }

    if (rc == TN_ERROR) {
        return;
    }

    tn_event_add_timer(rev, pscf->timeout);

    rc = tn_mail_pop3_dispatch(s, c, rc);

    if (tn_mail_pending_input(s)) {
        s->blocked = 1;
    }

    if (rc == TN_AGAIN) {
        /* the store or the login check answers later */
        return;
    }

    tn_mail_send(c->write);
}


static tn_uint_t
tn_mail_pop3_busy(tn_mail_session_t *s)
{
    tn_mail_pop3_session_t  *ps = s->data;

    return s->out.len || s->out_more || s->task
           || ps->state == tn_pop3_state_login
           || ps->state == tn_pop3_state_update;
}


/*
 * Runs one parsed line.  TN_OK: s->out holds the reply; TN_AGAIN: work
 * was started that replies by itself.  Bad commands count as errors, and
 * too many end the session (after the reply).
 */

static tn_int_t
tn_mail_pop3_dispatch(tn_mail_session_t *s, tn_connection_t *c, tn_int_t rc)
{
    tn_int_t                  r;
    tn_mail_pop3_command_t   *cmd;
    tn_mail_pop3_session_t   *ps;
    tn_mail_core_srv_conf_t  *cscf;

    ps = s->data;

    if (rc == TN_MAIL_PARSE_INVALID_COMMAND) {
        if (ps->state == tn_pop3_state_sasl) {
            tn_mail_pop3_enter_state(s, tn_pop3_state_auth);
        }
        tn_mail_pop3_reply(s, "-ERR invalid command");
        return TN_OK;
    }

    if (rc == TN_MAIL_PARSE_LINE_TOO_LONG) {
        if (ps->state == tn_pop3_state_sasl) {
            tn_mail_pop3_enter_state(s, tn_pop3_state_auth);
        }
        tn_mail_pop3_reply(s, "-ERR line too long");
        return TN_OK;
    }

    if (ps->state == tn_pop3_state_sasl) {
        r = tn_mail_pop3_sasl(s, c);
        goto done;
    }

    for (cmd = tn_mail_pop3_commands; cmd->handler; cmd++) {
        if (cmd->command == s->parse.command) {
            break;
        }
    }

    if (cmd->handler == NULL) {
        r = tn_mail_pop3_error(s, "-ERR unknown command");

    } else if (!(cmd->states & tn_pop3_bit(ps->state))) {
        r = tn_mail_pop3_error(s, "-ERR command not valid in this state");

    } else if (s->parse.nargs < cmd->min_args
               || s->parse.nargs > cmd->max_args)
    {
        r = tn_mail_pop3_error(s, "-ERR invalid arguments");

    } else {
        r = cmd->handler(s, c);
    }

done:

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    if (r == TN_OK && s->errors >= cscf->max_errors) {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "client sent too many invalid commands");
        tn_mail_pop3_free_stream(ps);
        s->out_more = NULL;
        s->out = tn_mail_pop3_too_many;
        s->quit = 1;
    }

    return r;
}


static void
tn_mail_pop3_enter_state(tn_mail_session_t *s, tn_mail_pop3_state_e state)
{
    tn_mail_pop3_session_t  *ps = s->data;

    tn_log_debug2(TN_LOG_DEBUG_MAIL, s->connection->log, 0,
                  "pop3 state: %s -> %s",
                  tn_mail_pop3_state_names[ps->state],
                  tn_mail_pop3_state_names[state]);

    ps->state = state;

    s->parse.max_line = (state == tn_pop3_state_sasl)
                        ? tn_min(TN_MAIL_POP3_MAX_SASL,
                                 (size_t) (s->buffer->end - s->buffer->start))
                        : TN_MAIL_POP3_MAX_LINE;

    if (state == tn_pop3_state_auth) {
        tn_explicit_memzero(ps->user_buf, sizeof(ps->user_buf));
        ps->user.len = 0;
    }
}


/* a refused command: counted as an error */

static tn_int_t
tn_mail_pop3_error(tn_mail_session_t *s, const char *text)
{
    s->errors++;
    tn_mail_pop3_reply(s, "%s", text);

    return TN_OK;
}


/* formats one reply line (CRLF added) into ps->reply and points out at it */

static void
tn_mail_pop3_reply(tn_mail_session_t *s, const char *fmt, ...)
{
    u_char                  *p;
    va_list                  args;
    tn_mail_pop3_session_t  *ps = s->data;

    va_start(args, fmt);
    p = tn_vslprintf(ps->reply, ps->reply + sizeof(ps->reply) - 2, fmt,
                     args);
    va_end(args);

    *p++ = CR;
    *p++ = LF;

    s->out.data = ps->reply;
    s->out.len = p - ps->reply;
}


/* the session ends: files, memory and the summary line */

static void
tn_mail_pop3_cleanup(void *data)
{
    tn_mail_pop3_cleanup_t  *cl = data;

    tn_str_t                 dash = tn_string("-");
    tn_mail_session_t       *s;
    tn_mail_pop3_session_t  *ps;

    s = cl->session;
    ps = s->data;

    if (ps == NULL) {
        return;
    }

    tn_mail_pop3_free_stream(ps);

    if (ps->mb) {
        tn_store_mailbox_free(ps->mb);
        ps->mb = NULL;
    }

    if (ps->lock_fd != TN_INVALID_FILE) {
        /* closing the last descriptor releases the flock() */
        (void) close(ps->lock_fd);
        ps->lock_fd = TN_INVALID_FILE;
    }

    tn_log_error(TN_LOG_INFO, cl->log, 0,
                 "pop3 session closed: user=%V, retr=%ui, dele=%ui, tls=%s",
                 s->login.len ? &s->login : &dash, ps->nretr, ps->ndele,
                 s->ssl ? (s->starttls ? "stls" : "yes") : "no");
}


/* AUTHORIZATION */

static tn_int_t
tn_mail_pop3_user(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_str_t                *arg;
    tn_mail_pop3_session_t  *ps = s->data;

    if (!tn_mail_pop3_plaintext_ok(s)) {
        tn_mail_pop3_reply(s, "-ERR [AUTH] Plaintext authentication "
                              "disallowed without TLS");
        return TN_OK;
    }

    arg = &s->parse.args[0];

    if (arg->len > sizeof(ps->user_buf)) {
        return tn_mail_pop3_error(s, "-ERR invalid user name");
    }

    tn_memcpy(ps->user_buf, arg->data, arg->len);
    ps->user.data = ps->user_buf;
    ps->user.len = arg->len;

    tn_mail_pop3_enter_state(s, tn_pop3_state_user);
    tn_mail_pop3_reply(s, "+OK");

    return TN_OK;
}


static tn_int_t
tn_mail_pop3_pass(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_str_t                 pass;
    tn_mail_pop3_session_t  *ps = s->data;

    /* the password stays in the input buffer, which tn_mail_auth zeroes */
    pass = s->parse.args[0];

    tn_mail_pop3_enter_state(s, tn_pop3_state_login);

    if (tn_mail_auth(s, &ps->user, &pass, tn_mail_pop3_auth_done) != TN_OK) {
        tn_mail_pop3_enter_state(s, tn_pop3_state_auth);
        s->out = tn_mail_pop3_internal;
        return TN_OK;
    }

    return TN_AGAIN;
}


static tn_int_t
tn_mail_pop3_auth(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_str_t  *args;

    args = s->parse.args;

    if (s->parse.nargs == 0) {
        /* RFC 5034 leaves it open; list the mechanisms as Dovecot does */
        tn_str_set(&s->out, "+OK" CRLF "PLAIN" CRLF "." CRLF);
        return TN_OK;
    }

    if (args[0].len != 5 || tn_strncasecmp(args[0].data, (u_char *) "PLAIN", 5)
                            != 0)
    {
        return tn_mail_pop3_error(s, "-ERR unsupported authentication "
                                     "mechanism");
    }

    if (!tn_mail_pop3_plaintext_ok(s)) {
        tn_mail_pop3_reply(s, "-ERR [AUTH] Plaintext authentication "
                              "disallowed without TLS");
        return TN_OK;
    }

    if (s->parse.nargs == 2) {
        return tn_mail_pop3_plain(s, &args[1]);
    }

    tn_mail_pop3_enter_state(s, tn_pop3_state_sasl);
    tn_str_set(&s->out, "+ " CRLF);

    return TN_OK;
}


/* the response line after "+ " */

static tn_int_t
tn_mail_pop3_sasl(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_str_t  *line;

    line = &s->parse.args[0];

    if (line->len == 1 && line->data[0] == '*') {
        tn_mail_pop3_enter_state(s, tn_pop3_state_auth);
        tn_mail_pop3_reply(s, "-ERR authentication cancelled");
        return TN_OK;
    }

    return tn_mail_pop3_plain(s, line);
}


static tn_int_t
tn_mail_pop3_plain(tn_mail_session_t *s, tn_str_t *arg)
{
    u_char    buf[tn_base64_decoded_length(TN_MAIL_POP3_MAX_SASL)];
    tn_int_t  rc;
    tn_str_t  user, pass;

    if (arg->len > TN_MAIL_POP3_MAX_SASL
        || tn_mail_auth_plain(arg, buf, &user, &pass) != TN_OK)
    {
        tn_explicit_memzero(arg->data, arg->len);
        tn_explicit_memzero(buf, sizeof(buf));
        tn_mail_pop3_enter_state(s, tn_pop3_state_auth);
        return tn_mail_pop3_error(s, "-ERR [AUTH] invalid SASL PLAIN "
                                     "response");
    }

    /* the base64 of the password must not linger in the input buffer */
    tn_explicit_memzero(arg->data, arg->len);

    tn_mail_pop3_enter_state(s, tn_pop3_state_login);

    rc = tn_mail_auth(s, &user, &pass, tn_mail_pop3_auth_done);

    tn_explicit_memzero(buf, sizeof(buf));

    if (rc != TN_OK) {
        tn_mail_pop3_enter_state(s, tn_pop3_state_auth);
        s->out = tn_mail_pop3_internal;
        return TN_OK;
    }

    return TN_AGAIN;
}


static tn_uint_t
tn_mail_pop3_plaintext_ok(tn_mail_session_t *s)
{
    tn_mail_pop3_srv_conf_t  *pscf;

    pscf = tn_mail_get_module_srv_conf(s, tn_mail_pop3_module);

    return s->ssl || pscf->auth_plaintext;
}


/* tn_mail_auth() answered: lock the maildrop and load it */

static void
tn_mail_pop3_auth_done(tn_mail_session_t *s, tn_int_t rc)
{
    tn_connection_t      *c;
    tn_thread_task_t     *task;
    tn_mail_pop3_load_t  *t;

    c = s->connection;

    if (rc == TN_DECLINED) {
        tn_mail_pop3_enter_state(s, tn_pop3_state_auth);
        tn_mail_pop3_reply(s, "-ERR [AUTH] Authentication failed");
        goto send;
    }

    if (rc == TN_BUSY) {
        /* the client's address is blocked after too many failures */
        tn_mail_pop3_enter_state(s, tn_pop3_state_auth);
        tn_mail_pop3_reply(s, "-ERR [SYS/TEMP] Too many failed logins, "
                              "try later");
        goto send;
    }

    if (rc != TN_OK) {
        tn_mail_pop3_enter_state(s, tn_pop3_state_auth);
        s->out = tn_mail_pop3_internal;
        goto send;
    }

    rc = tn_mail_pop3_lock(s, c);

    if (rc != TN_OK) {
        if (rc == TN_BUSY) {
            tn_mail_pop3_reply(s, "-ERR [IN-USE] Mailbox is locked by "
                                  "another POP3 session");
        } else {
            s->out = tn_mail_pop3_internal;
        }

        s->quit = 1;
        goto send;
    }

    task = tn_mail_task_alloc(s, sizeof(tn_mail_pop3_load_t),
                              tn_mail_pop3_load_handler,
                              tn_mail_pop3_load_done);
    if (task == NULL) {
        goto failed;
    }

    t = task->ctx;
    t->base.cancel = tn_mail_pop3_load_cancel;
    t->conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);
    t->user = *s->user;

    if (tn_mail_task_post(s, task) != TN_OK) {
        tn_mail_task_free(s, task);
        goto failed;
    }

    return;

failed:

    s->out = tn_mail_pop3_internal;
    s->quit = 1;

send:

    tn_mail_send(c->write);
}


/*
 * One POP3 session a maildrop (RFC 1939 section 8): flock() without
 * waiting, so a cheap open() and lock on the event loop.  TN_OK, TN_BUSY
 * (another session has it) or TN_ERROR.
 */

static tn_int_t
tn_mail_pop3_lock(tn_mail_session_t *s, tn_connection_t *c)
{
    u_char                  *p, path[PATH_MAX];
    tn_err_t                 err;
    tn_mail_pop3_session_t  *ps = s->data;

    p = tn_snprintf(path, sizeof(path) - 1, "%s/pop3.lock",
                    s->user->maildir);
    *p = '\0';

    if (p == path + sizeof(path) - 1) {
        return TN_ERROR;
    }

    ps->lock_fd = open((char *) path,
                       O_RDWR|O_CREAT|O_NOFOLLOW|O_CLOEXEC, 0600);

    if (ps->lock_fd == TN_INVALID_FILE) {
        tn_log_error(TN_LOG_ERR, c->log, tn_errno,
                     "open(\"%s\") failed", path);
        return TN_ERROR;
    }

    if (flock(ps->lock_fd, LOCK_EX|LOCK_NB) == 0) {
        return TN_OK;
    }

    err = tn_errno;

    if (err == EWOULDBLOCK) {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "maildrop is locked by another POP3 session");
    } else {
        tn_log_error(TN_LOG_ERR, c->log, err,
                     "flock(\"%s\") failed", path);
    }

    (void) close(ps->lock_fd);
    ps->lock_fd = TN_INVALID_FILE;

    return (err == EWOULDBLOCK) ? TN_BUSY : TN_ERROR;
}



/* the session closed while its mailbox was loading */
static void
tn_mail_pop3_load_cancel(tn_thread_task_t *task)
{
    tn_mail_pop3_load_t  *t;

    t = task->ctx;

    if (t->rc == TN_OK) {
        tn_store_mailbox_free(&t->mb);
    }
}

static void
tn_mail_pop3_load_handler(void *data, tn_log_t *log)
{
    tn_mail_pop3_load_t  *t = data;

    t->rc = tn_store_mailbox_load(t->conf, &t->user, &t->mb, log);
}


static void
tn_mail_pop3_load_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_uint_t                i;
    off_t                    size;
    tn_connection_t         *c;
    tn_mail_pop3_load_t     *t;
    tn_mail_pop3_session_t  *ps;

    c = s->connection;
    ps = s->data;
    t = task->ctx;

    if (t->rc != TN_OK) {
        tn_mail_task_free(s, task);
        goto failed;
    }

    ps->mb = tn_palloc(c->pool, sizeof(tn_store_mailbox_t));
    if (ps->mb == NULL) {
        tn_store_mailbox_free(&t->mb);
        tn_mail_task_free(s, task);
        goto failed;
    }

    *ps->mb = t->mb;
    tn_mail_task_free(s, task);

    ps->deleted = tn_pcalloc(c->pool, ps->mb->nmsgs + 1);
    if (ps->deleted == NULL) {
        goto failed;
    }

    size = 0;

    for (i = 0; i < ps->mb->nmsgs; i++) {
        size += ps->mb->msgs[i].vsize;
    }

    tn_log_error(TN_LOG_INFO, c->log, 0, "pop3 login: %ui messages",
                 ps->mb->nmsgs);

    tn_mail_pop3_enter_state(s, tn_pop3_state_transaction);
    tn_mail_pop3_reply(s, "+OK Logged in, %ui messages (%O octets)",
                       ps->mb->nmsgs, size);

    tn_mail_send(c->write);
    return;

failed:

    s->out = tn_mail_pop3_internal;
    s->quit = 1;

    tn_mail_send(c->write);
}


static tn_int_t
tn_mail_pop3_capa(tn_mail_session_t *s, tn_connection_t *c)
{
    u_char                  *p, *last;
    tn_uint_t                auth;
    tn_mail_pop3_session_t  *ps = s->data;

    auth = (ps->state != tn_pop3_state_transaction);

    p = ps->reply;
    last = ps->reply + sizeof(ps->reply);

    p = tn_slprintf(p, last, "+OK Capability list follows" CRLF
                             "TOP" CRLF "UIDL" CRLF "RESP-CODES" CRLF
                             "PIPELINING" CRLF "AUTH-RESP-CODE" CRLF);

    if (auth && tn_mail_pop3_plaintext_ok(s)) {
        p = tn_slprintf(p, last, "USER" CRLF "SASL PLAIN" CRLF);
    }

    if (auth && !s->ssl && tn_mail_tls_available(s)) {
        p = tn_slprintf(p, last, "STLS" CRLF);
    }

    p = tn_slprintf(p, last, "IMPLEMENTATION Tern" CRLF "." CRLF);

    s->out.data = ps->reply;
    s->out.len = p - ps->reply;

    return TN_OK;
}


static tn_int_t
tn_mail_pop3_stls(tn_mail_session_t *s, tn_connection_t *c)
{
    if (s->ssl) {
        return tn_mail_pop3_error(s, "-ERR TLS is already active");
    }

    if (!tn_mail_tls_available(s)) {
        return tn_mail_pop3_error(s, "-ERR TLS is not available");
    }

    /* the handshake starts once this reply is sent */

    tn_str_set(&s->out, "+OK Begin TLS negotiation" CRLF);
    s->out_more = tn_mail_pop3_stls_start;

    return TN_OK;
}


static tn_int_t
tn_mail_pop3_stls_start(tn_mail_session_t *s)
{
    s->out_more = NULL;
    s->blocked = 0;

    /* empties the input buffer: nothing pipelined after STLS is run */
    tn_mail_starttls(s, s->connection, tn_mail_pop3_stls_done);

    /* the session may be gone now */
    return TN_DONE;
}


/* TLS is up: start again from nothing (RFC 2595 section 4) */

static void
tn_mail_pop3_stls_done(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_pop3_srv_conf_t  *pscf;

    pscf = tn_mail_get_module_srv_conf(s, tn_mail_pop3_module);

    tn_mail_pop3_enter_state(s, tn_pop3_state_auth);

    c->read->handler = tn_mail_pop3_read_handler;
    tn_event_add_timer(c->read, pscf->timeout);

    /* records may already sit in the TLS layer: read now */
    tn_mail_pop3_read_handler(c->read);
}


static tn_int_t
tn_mail_pop3_apop(tn_mail_session_t *s, tn_connection_t *c)
{
    /* not offered: no timestamp in the greeting */
    return tn_mail_pop3_error(s, "-ERR unknown command");
}


static tn_int_t
tn_mail_pop3_noop(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_pop3_reply(s, "+OK");
    return TN_OK;
}


/* QUIT: in TRANSACTION, UPDATE removes the marked messages first */

static tn_int_t
tn_mail_pop3_quit(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_uint_t                i, n;
    tn_thread_task_t        *task;
    tn_mail_pop3_expunge_t  *t;
    tn_mail_pop3_session_t  *ps = s->data;

    if (ps->state != tn_pop3_state_transaction || ps->ndeleted == 0) {
        tn_mail_pop3_reply(s, "+OK Tern POP3 server signing off");
        s->quit = 1;
        return TN_OK;
    }

    /*
     * s->quit is set with the final reply only: tn_mail_send() may run
     * on any write event meanwhile and would close at once.
     */

    n = ps->ndeleted;

    task = tn_mail_task_alloc(s, sizeof(tn_mail_pop3_expunge_t)
                                 + n * sizeof(uint32_t),
                              tn_mail_pop3_expunge_handler,
                              tn_mail_pop3_expunge_done);
    if (task == NULL) {
        s->out = tn_mail_pop3_internal;
        s->quit = 1;
        return TN_OK;
    }

    /* base.cancel stays NULL: the expunge leaves nothing to release */
    t = task->ctx;
    t->conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);
    t->user = *s->user;

    for (i = 0; i < ps->mb->nmsgs; i++) {
        if (ps->deleted[i]) {
            t->uids[t->n++] = ps->mb->msgs[i].uid;
        }
    }

    if (tn_mail_task_post(s, task) != TN_OK) {
        tn_mail_task_free(s, task);
        s->out = tn_mail_pop3_internal;
        s->quit = 1;
        return TN_OK;
    }

    tn_mail_pop3_enter_state(s, tn_pop3_state_update);

    return TN_AGAIN;
}


static void
tn_mail_pop3_expunge_handler(void *data, tn_log_t *log)
{
    tn_mail_pop3_expunge_t  *t = data;

    t->rc = tn_store_expunge(t->conf, &t->user, t->uids, t->n, log);
}


static void
tn_mail_pop3_expunge_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_mail_pop3_expunge_t  *t;
    tn_mail_pop3_session_t  *ps = s->data;

    t = task->ctx;

    if (t->rc == TN_OK) {
        ps->ndele = t->n;
        tn_mail_pop3_reply(s, "+OK Tern POP3 server signing off "
                              "(%ui messages deleted)", t->n);

    } else {
        tn_mail_pop3_reply(s, "-ERR [SYS/TEMP] some deleted messages "
                              "were not removed");
    }

    tn_mail_task_free(s, task);

    s->quit = 1;
    tn_mail_send(s->connection->write);
}


/* TRANSACTION */

static tn_int_t
tn_mail_pop3_stat(tn_mail_session_t *s, tn_connection_t *c)
{
    off_t                    size;
    tn_uint_t                i, n;
    tn_mail_pop3_session_t  *ps = s->data;

    n = 0;
    size = 0;

    for (i = 0; i < ps->mb->nmsgs; i++) {
        if (!ps->deleted[i]) {
            n++;
            size += ps->mb->msgs[i].vsize;
        }
    }

    tn_mail_pop3_reply(s, "+OK %ui %O", n, size);

    return TN_OK;
}


/* LIST and UIDL, of one message or (multi-line) of all */

static tn_int_t
tn_mail_pop3_list(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_uint_t                n;
    tn_store_msg_t          *m;
    tn_mail_pop3_session_t  *ps = s->data;

    if (s->parse.nargs == 1) {
        if (tn_mail_pop3_msg(s, &s->parse.args[0], &n) != TN_OK) {
            return TN_OK;
        }

        m = &ps->mb->msgs[n - 1];

        if (s->parse.command == TN_POP3_LIST) {
            tn_mail_pop3_reply(s, "+OK %ui %O", n, m->vsize);
        } else {
            tn_mail_pop3_reply(s, "+OK %ui %s", n, m->uidl);
        }

        return TN_OK;
    }

    if (tn_mail_pop3_out_alloc(s, 0) != TN_OK) {
        s->out = tn_mail_pop3_internal;
        return TN_OK;
    }

    ps->list_cmd = s->parse.command;
    ps->list_next = 0;

    ps->out->last = tn_cpymem(ps->out->last, "+OK" CRLF, 5);

    (void) tn_mail_pop3_list_more(s);

    return TN_OK;
}


/* fills the output buffer with lines of LIST/UIDL, then the end line */

static tn_int_t
tn_mail_pop3_list_more(tn_mail_session_t *s)
{
    tn_buf_t                *b;
    tn_store_msg_t          *m;
    tn_mail_pop3_session_t  *ps = s->data;

    b = ps->out;

    if (s->out_more) {
        /* the previous chunk is sent */
        b->pos = b->start;
        b->last = b->start;
    }

    while (ps->list_next < ps->mb->nmsgs
           && tn_buf_free_size(b) >= 128)
    {
        m = &ps->mb->msgs[ps->list_next++];

        if (ps->deleted[ps->list_next - 1]) {
            continue;
        }

        if (ps->list_cmd == TN_POP3_LIST) {
            b->last = tn_sprintf(b->last, "%ui %O" CRLF,
                                 ps->list_next, m->vsize);
        } else {
            b->last = tn_sprintf(b->last, "%ui %s" CRLF,
                                 ps->list_next, m->uidl);
        }
    }

    if (ps->list_next == ps->mb->nmsgs) {
        b->last = tn_cpymem(b->last, "." CRLF, 3);
        s->out_more = tn_mail_pop3_release;

    } else {
        s->out_more = tn_mail_pop3_list_more;
    }

    s->out.data = b->pos;
    s->out.len = b->last - b->pos;

    return TN_OK;
}


/* RETR n, TOP n lines */

static tn_int_t
tn_mail_pop3_retr(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_int_t                 rc, lines;
    tn_uint_t                n;
    tn_store_msg_t          *m;
    tn_mail_pop3_session_t  *ps = s->data;

    if (tn_mail_pop3_msg(s, &s->parse.args[0], &n) != TN_OK) {
        return TN_OK;
    }

    lines = -1;

    if (s->parse.command == TN_POP3_TOP) {
        lines = tn_mail_parse_number(&s->parse.args[1],
                                     TN_POP3_MAX_TOP_LINES);
        if (lines == TN_ERROR) {
            tn_mail_pop3_reply(s, "-ERR invalid number of lines");
            return TN_OK;
        }
    }

    m = &ps->mb->msgs[n - 1];

    rc = tn_mail_pop3_open(s, c, m);

    if (rc == TN_DECLINED) {
        /* moved or renamed by IMAP since the login: ask the store */
        return tn_mail_pop3_locate(s, n, lines);
    }

    if (rc != TN_OK) {
        tn_mail_pop3_reply(s, "-ERR [SYS/TEMP] message %ui is not "
                              "available", n);
        return TN_OK;
    }

    return tn_mail_pop3_retr_start(s, n, lines, s->parse.command);
}


/* the file of message n is open in ps->fd: the reply starts */

static tn_int_t
tn_mail_pop3_retr_start(tn_mail_session_t *s, tn_uint_t n, tn_int_t lines,
    tn_uint_t command)
{
    tn_store_msg_t          *m;
    tn_mail_pop3_session_t  *ps = s->data;

    m = &ps->mb->msgs[n - 1];

    if (tn_mail_pop3_out_alloc(s, 1) != TN_OK) {
        tn_mail_pop3_free_stream(ps);
        s->out = tn_mail_pop3_internal;
        return TN_OK;
    }

    if (command == TN_POP3_RETR) {
        ps->nretr++;
    }

    tn_mail_pop3_out_init(&ps->po, (off_t) lines);

    ps->out->last = tn_sprintf(ps->out->last, "+OK %O octets" CRLF,
                               m->vsize);

    if (tn_mail_pop3_retr_more(s) != TN_OK) {
        /* nothing is sent yet: a plain error reply is still possible */
        tn_mail_pop3_free_stream(ps);
        s->out_more = NULL;
        tn_mail_pop3_reply(s, "-ERR [SYS/TEMP] message %ui is not "
                              "available", n);
    }

    return TN_OK;
}


/*
 * The file of message n is not where the login found it: an IMAP SELECT
 * moved it from new/ to cur/, or a flag change renamed it in cur/.  Its
 * name now depends on the flags in the index, so the store finds it in
 * the thread pool (no directory scan on the event loop).  TN_AGAIN: the
 * reply comes from tn_mail_pop3_locate_done(); TN_OK: s->out has it.
 */

static tn_int_t
tn_mail_pop3_locate(tn_mail_session_t *s, tn_uint_t n, tn_int_t lines)
{
    tn_thread_task_t        *task;
    tn_mail_pop3_locate_t   *t;
    tn_mail_pop3_session_t  *ps = s->data;

    task = tn_mail_task_alloc(s, sizeof(tn_mail_pop3_locate_t),
                              tn_mail_pop3_locate_handler,
                              tn_mail_pop3_locate_done);
    if (task == NULL) {
        s->out = tn_mail_pop3_internal;
        return TN_OK;
    }

    /* base.cancel stays NULL: the lookup leaves nothing to release */
    t = task->ctx;
    t->conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);
    t->user = *s->user;
    t->uid = ps->mb->msgs[n - 1].uid;
    t->n = n;
    t->command = s->parse.command;
    t->lines = lines;

    if (tn_mail_task_post(s, task) != TN_OK) {
        tn_mail_task_free(s, task);
        s->out = tn_mail_pop3_internal;
        return TN_OK;
    }

    return TN_AGAIN;
}


static void
tn_mail_pop3_locate_handler(void *data, tn_log_t *log)
{
    tn_mail_pop3_locate_t  *t = data;

    t->rc = tn_store_message_path(t->conf, &t->user, t->uid, t->path, log);
}


static void
tn_mail_pop3_locate_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    char                    *p;
    size_t                   len;
    tn_int_t                 rc;
    tn_connection_t         *c;
    tn_store_msg_t          *m;
    tn_mail_pop3_locate_t   *t;
    tn_mail_pop3_session_t  *ps = s->data;

    c = s->connection;
    t = task->ctx;
    m = &ps->mb->msgs[t->n - 1];
    rc = t->rc;

    if (rc == TN_OK) {
        /* the new path; the old buffer is reused when it fits */
        len = strlen(t->path);
        p = (len <= strlen(m->path)) ? m->path : tn_pnalloc(c->pool, len + 1);

        if (p == NULL) {
            rc = TN_ERROR;

        } else {
            tn_memcpy(p, t->path, len + 1);
            m->path = p;
            rc = tn_mail_pop3_open(s, c, m);
        }

    } else if (rc == TN_DECLINED) {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "pop3: message %ui (uid %ui) is gone", t->n,
                     (tn_uint_t) t->uid);
    }

    if (rc == TN_OK) {
        (void) tn_mail_pop3_retr_start(s, t->n, t->lines, t->command);

    } else {
        tn_mail_pop3_reply(s, "-ERR [SYS/TEMP] message %ui is not "
                              "available", t->n);
    }

    tn_mail_task_free(s, task);

    tn_mail_send(c->write);
}


/*
 * Opens a message of the maildrop into ps->fd.  The path comes from the
 * index, but the file may have been replaced since the login by another
 * program with access to the Maildir: a symlink is refused (O_NOFOLLOW),
 * and so is anything but a regular file -- O_NONBLOCK keeps the open() of
 * a FIFO from stopping the worker.  TN_OK; TN_DECLINED: no such file (not
 * logged: IMAP may have moved it); TN_ERROR (logged).
 */

static tn_int_t
tn_mail_pop3_open(tn_mail_session_t *s, tn_connection_t *c,
    tn_store_msg_t *m)
{
    struct stat              sb;
    tn_mail_pop3_session_t  *ps = s->data;

    ps->fd = open(m->path, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY
                           |O_CLOEXEC);

    if (ps->fd == TN_INVALID_FILE) {
        if (tn_errno == TN_ENOENT) {
            tn_log_debug1(TN_LOG_DEBUG_MAIL, c->log, tn_errno,
                          "open(\"%s\") failed", m->path);
            return TN_DECLINED;
        }

        tn_log_error(TN_LOG_ERR, c->log, tn_errno,
                     "open(\"%s\") failed", m->path);
        return TN_ERROR;
    }

    if (fstat(ps->fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
        tn_log_error(TN_LOG_ERR, c->log, 0,
                     "\"%s\" is not a regular file", m->path);
        (void) close(ps->fd);
        ps->fd = TN_INVALID_FILE;
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * The producer of RETR/TOP data for tn_mail_send(): reads the file in
 * chunks through tn_mail_pop3_out() until the output buffer is full,
 * then adds the end line at the end of the file or of the TOP lines.
 * The buffer keeps 8 bytes past b->end for that line.
 */

static tn_int_t
tn_mail_pop3_retr_more(tn_mail_session_t *s)
{
    ssize_t                  n;
    tn_int_t                 rc;
    tn_buf_t                *in, *out;
    tn_uint_t                eof;
    tn_mail_pop3_session_t  *ps = s->data;

    in = ps->in;
    out = ps->out;

    if (s->out_more) {
        out->pos = out->start;
        out->last = out->start;
    }

    eof = 0;
    rc = TN_AGAIN;

    for ( ;; ) {
        if (in->pos == in->last) {
            n = read(ps->fd, in->start, in->end - in->start);

            if (n == -1) {
                tn_log_error(TN_LOG_ERR, s->connection->log, tn_errno,
                             "read() of a message failed");
                return TN_ERROR;
            }

            if (n == 0) {
                eof = 1;
                break;
            }

            in->pos = in->start;
            in->last = in->start + n;
        }

        rc = tn_mail_pop3_out(&ps->po, in, out);

        if (rc == TN_DONE || in->pos < in->last) {
            /* the TOP lines are out, or the output buffer is full */
            break;
        }
    }

    if (rc == TN_DONE || eof) {
        if (eof && !ps->po.last_was_lf) {
            out->last = tn_cpymem(out->last, CRLF, 2);
        }

        out->last = tn_cpymem(out->last, "." CRLF, 3);

        (void) close(ps->fd);
        ps->fd = TN_INVALID_FILE;

        s->out_more = tn_mail_pop3_release;

    } else {
        s->out_more = tn_mail_pop3_retr_more;
    }

    s->out.data = out->pos;
    s->out.len = out->last - out->pos;

    return TN_OK;
}


/* the last chunk is sent: the buffers go */

static tn_int_t
tn_mail_pop3_release(tn_mail_session_t *s)
{
    tn_mail_pop3_free_stream(s->data);
    s->out_more = NULL;

    return TN_OK;
}


static tn_int_t
tn_mail_pop3_out_alloc(tn_mail_session_t *s, tn_uint_t file)
{
    u_char                  *p;
    tn_log_t                *log;
    tn_mail_pop3_session_t  *ps = s->data;

    log = s->connection->log;

    /* plain tn_buf_t headers and malloc()ed space, freed after the reply */

    ps->out = tn_alloc(sizeof(tn_buf_t) + TN_MAIL_POP3_OUT_SIZE + 8, log);
    if (ps->out == NULL) {
        return TN_ERROR;
    }

    tn_memzero(ps->out, sizeof(tn_buf_t));
    p = (u_char *) (ps->out + 1);
    ps->out->start = p;
    ps->out->pos = p;
    ps->out->last = p;
    ps->out->end = p + TN_MAIL_POP3_OUT_SIZE;

    if (!file) {
        return TN_OK;
    }

    ps->in = tn_alloc(sizeof(tn_buf_t) + TN_MAIL_POP3_FILE_CHUNK, log);
    if (ps->in == NULL) {
        return TN_ERROR;
    }

    tn_memzero(ps->in, sizeof(tn_buf_t));
    p = (u_char *) (ps->in + 1);
    ps->in->start = p;
    ps->in->pos = p;
    ps->in->last = p;
    ps->in->end = p + TN_MAIL_POP3_FILE_CHUNK;

    return TN_OK;
}


static void
tn_mail_pop3_free_stream(tn_mail_pop3_session_t *ps)
{
    if (ps->fd != TN_INVALID_FILE) {
        (void) close(ps->fd);
        ps->fd = TN_INVALID_FILE;
    }

    if (ps->in) {
        tn_free(ps->in);
        ps->in = NULL;
    }

    if (ps->out) {
        tn_free(ps->out);
        ps->out = NULL;
    }
}


static tn_int_t
tn_mail_pop3_dele(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_uint_t                n;
    tn_mail_pop3_session_t  *ps = s->data;

    if (tn_mail_pop3_msg(s, &s->parse.args[0], &n) != TN_OK) {
        return TN_OK;
    }

    ps->deleted[n - 1] = 1;
    ps->ndeleted++;
    ps->deleted_size += ps->mb->msgs[n - 1].vsize;

    tn_mail_pop3_reply(s, "+OK message %ui deleted", n);

    return TN_OK;
}


static tn_int_t
tn_mail_pop3_rset(tn_mail_session_t *s, tn_connection_t *c)
{
    off_t                    size;
    tn_uint_t                i;
    tn_mail_pop3_session_t  *ps = s->data;

    size = 0;

    for (i = 0; i < ps->mb->nmsgs; i++) {
        ps->deleted[i] = 0;
        size += ps->mb->msgs[i].vsize;
    }

    ps->ndeleted = 0;
    ps->deleted_size = 0;

    tn_mail_pop3_reply(s, "+OK maildrop has %ui messages (%O octets)",
                       ps->mb->nmsgs, size);

    return TN_OK;
}


/*
 * A message number argument: TN_OK and *n (1-based), or TN_ERROR with the
 * -ERR reply set and the error counted.
 */

static tn_int_t
tn_mail_pop3_msg(tn_mail_session_t *s, tn_str_t *arg, tn_uint_t *n)
{
    tn_int_t                 v;
    tn_mail_pop3_session_t  *ps = s->data;

    v = tn_mail_parse_number(arg, ps->mb->nmsgs);

    if (v == TN_ERROR || v == 0) {
        tn_mail_pop3_reply(s, "-ERR no such message");
        return TN_ERROR;
    }

    if (ps->deleted[v - 1]) {
        tn_mail_pop3_reply(s, "-ERR message %i already deleted", v);
        return TN_ERROR;
    }

    *n = (tn_uint_t) v;

    return TN_OK;
}
