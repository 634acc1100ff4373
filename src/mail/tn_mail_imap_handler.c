
/*
 * Copyright (C) The Tern developers
 */


/*
 * The IMAP session: the input loop over tn_mail_imap_parse_command(),
 * the command table and dispatch, the output, and the commands of any
 * state (CAPABILITY, NOOP, LOGOUT, ID, ENABLE, NAMESPACE, CHECK; IDLE is
 * in tn_mail_imap_notify.c) and STARTTLS (LOGIN and AUTHENTICATE are in
 * tn_mail_imap_auth.c).
 *
 * Input.  The input buffer (imap_client_buffer) only bounds one read:
 * the parser copies what it keeps into the per-command pool, and all of
 * the buffer is consumed when it asks for more.  Between commands, with
 * nothing buffered, the buffer and the command pool are given back, so
 * an idle session holds little more than its state and its connection.
 * Two inputs are lines read without the parser: the response to an
 * AUTHENTICATE challenge and the DONE that ends IDLE.
 *
 * Output.  Responses go into is->out (malloc'ed, grown as needed); the
 * tagged line is kept apart in is->tagged until the command is over, so
 * that the untagged responses of a sync come before it.  What is in
 * is->out is handed to tn_mail_send() in one piece (s->out) and
 * tn_mail_imap_out_more() hands what was added meanwhile.  Commands run
 * one at a time: the next one is parsed once the previous one's output
 * is sent.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>


/* a command's output is sent while it runs once this much is buffered */
#define TN_MAIL_IMAP_STREAM_OUTPUT   (64 * 1024)
/* a non-synchronizing literal too large to be worth skipping */
#define TN_MAIL_IMAP_SKIP_MAX        (256 * 1024 * 1024)
/* the command pool, made for each command read */
#define TN_MAIL_IMAP_POOL_SIZE       2048
/* the idle time allowed before a login, when imap_timeout is longer */
#define TN_MAIL_IMAP_LOGIN_TIMEOUT   60000


typedef struct {
    tn_uint_t                  command;     /* TN_MAIL_IMAP_* */
    tn_uint_t                  states;      /* tn_imap_bit() of each */
    tn_uint_t                  min_args;
    tn_uint_t                  max_args;
    tn_mail_imap_cmd_pt        handler;
} tn_mail_imap_command_t;


/* what the session's pool cleanup needs */
typedef struct {
    tn_mail_session_t         *session;
    tn_log_t                  *log;
} tn_mail_imap_cleanup_t;


#define TN_IMAP_ANY                                                          \
    (tn_imap_bit(tn_imap_state_nonauth) | tn_imap_bit(tn_imap_state_auth)    \
     | tn_imap_bit(tn_imap_state_selected))
#define TN_IMAP_NONAUTH        tn_imap_bit(tn_imap_state_nonauth)
#define TN_IMAP_AUTH                                                         \
    (tn_imap_bit(tn_imap_state_auth) | tn_imap_bit(tn_imap_state_selected))
#define TN_IMAP_SELECTED       tn_imap_bit(tn_imap_state_selected)
#define TN_IMAP_MANY           TN_MAIL_IMAP_MAX_ARGS


static tn_int_t tn_mail_imap_session_setup(tn_mail_session_t *s,
    tn_connection_t *c, tn_mail_imap_session_t *is);
static void tn_mail_imap_parse_setup(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static void tn_mail_imap_read_handler(tn_event_t *rev);
static void tn_mail_imap_flush_done(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_uint_t tn_mail_imap_busy(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_msec_t tn_mail_imap_timeout(tn_mail_session_t *s,
    tn_mail_imap_srv_conf_t *iscf);
static void tn_mail_imap_read(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_buffer_alloc(tn_mail_session_t *s);
static void tn_mail_imap_buffer_free(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static void tn_mail_imap_parse_forget(tn_mail_imap_parse_t *p);
static tn_int_t tn_mail_imap_recv(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_imap_result(tn_mail_session_t *s,
    tn_connection_t *c, tn_mail_imap_session_t *is, tn_int_t rc);
static tn_int_t tn_mail_imap_parse_failed(tn_mail_session_t *s,
    tn_connection_t *c, tn_mail_imap_session_t *is, tn_int_t rc);
static tn_int_t tn_mail_imap_line(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_run(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_refuse(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_mail_imap_command_t *cmd);
static tn_int_t tn_mail_imap_finish(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static void tn_mail_imap_finish_sync(tn_mail_session_t *s, tn_int_t rc);
static tn_int_t tn_mail_imap_finish_now(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_uint_t tn_mail_imap_expunge_ok(tn_mail_imap_session_t *is);
static void tn_mail_imap_end(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static void tn_mail_imap_count_error(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_send_now(tn_mail_session_t *s,
    tn_connection_t *c, tn_mail_imap_session_t *is);
static void tn_mail_imap_send_all(tn_mail_session_t *s,
    tn_mail_imap_session_t *is, tn_uint_t read);
static void tn_mail_imap_hand(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_out_more(tn_mail_session_t *s);
static tn_int_t tn_mail_imap_sent(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_grow(tn_mail_imap_session_t *is, size_t len);
static void tn_mail_imap_cleanup(void *data);

static tn_int_t tn_mail_imap_capability(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_noop(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_logout(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_starttls(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static void tn_mail_imap_starttls_done(tn_mail_session_t *s,
    tn_connection_t *c);
static tn_int_t tn_mail_imap_id(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_enable(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_namespace(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_check(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_unsupported(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);
static tn_int_t tn_mail_imap_setquota(tn_mail_session_t *s,
    tn_mail_imap_session_t *is);


static tn_mail_imap_command_t  tn_mail_imap_commands[] = {
    { TN_MAIL_IMAP_CAPABILITY, TN_IMAP_ANY, 0, 0, tn_mail_imap_capability },
    { TN_MAIL_IMAP_NOOP, TN_IMAP_ANY, 0, 0, tn_mail_imap_noop },
    { TN_MAIL_IMAP_LOGOUT, TN_IMAP_ANY, 0, 0, tn_mail_imap_logout },
    { TN_MAIL_IMAP_ID, TN_IMAP_ANY, 1, 1, tn_mail_imap_id },

    { TN_MAIL_IMAP_STARTTLS, TN_IMAP_NONAUTH, 0, 0, tn_mail_imap_starttls },
    { TN_MAIL_IMAP_LOGIN, TN_IMAP_NONAUTH, 2, 2, tn_mail_imap_login },
    { TN_MAIL_IMAP_AUTHENTICATE, TN_IMAP_NONAUTH, 1, 2,
      tn_mail_imap_authenticate },

    { TN_MAIL_IMAP_ENABLE, tn_imap_bit(tn_imap_state_auth), 1, TN_IMAP_MANY,
      tn_mail_imap_enable },
    { TN_MAIL_IMAP_NAMESPACE, TN_IMAP_AUTH, 0, 0, tn_mail_imap_namespace },
    { TN_MAIL_IMAP_IDLE, TN_IMAP_AUTH, 0, 0, tn_mail_imap_idle },
    { TN_MAIL_IMAP_SELECT, TN_IMAP_AUTH, 1, 2, tn_mail_imap_select },
    { TN_MAIL_IMAP_EXAMINE, TN_IMAP_AUTH, 1, 2, tn_mail_imap_select },
    { TN_MAIL_IMAP_CREATE, TN_IMAP_AUTH, 1, 2, tn_mail_imap_create },
    { TN_MAIL_IMAP_DELETE, TN_IMAP_AUTH, 1, 1, tn_mail_imap_delete },
    { TN_MAIL_IMAP_RENAME, TN_IMAP_AUTH, 2, 2, tn_mail_imap_rename },
    { TN_MAIL_IMAP_SUBSCRIBE, TN_IMAP_AUTH, 1, 1, tn_mail_imap_subscribe },
    { TN_MAIL_IMAP_UNSUBSCRIBE, TN_IMAP_AUTH, 1, 1, tn_mail_imap_subscribe },
    { TN_MAIL_IMAP_LIST, TN_IMAP_AUTH, 2, 5, tn_mail_imap_list },
    { TN_MAIL_IMAP_LSUB, TN_IMAP_AUTH, 2, 2, tn_mail_imap_list },
    { TN_MAIL_IMAP_STATUS, TN_IMAP_AUTH, 2, 2, tn_mail_imap_status },
    { TN_MAIL_IMAP_APPEND, TN_IMAP_AUTH, 2, 4, tn_mail_imap_append },
    { TN_MAIL_IMAP_GETQUOTA, TN_IMAP_AUTH, 1, 1, tn_mail_imap_quota },
    { TN_MAIL_IMAP_GETQUOTAROOT, TN_IMAP_AUTH, 1, 1, tn_mail_imap_quota },
    { TN_MAIL_IMAP_SETQUOTA, TN_IMAP_AUTH, 0, TN_IMAP_MANY,
      tn_mail_imap_setquota },

    { TN_MAIL_IMAP_CHECK, TN_IMAP_SELECTED, 0, 0, tn_mail_imap_check },
    { TN_MAIL_IMAP_CLOSE, TN_IMAP_SELECTED, 0, 0, tn_mail_imap_close },
    { TN_MAIL_IMAP_UNSELECT, TN_IMAP_SELECTED, 0, 0, tn_mail_imap_close },
    { TN_MAIL_IMAP_EXPUNGE, TN_IMAP_SELECTED, 0, 1, tn_mail_imap_expunge },
    { TN_MAIL_IMAP_SEARCH, TN_IMAP_SELECTED, 1, TN_IMAP_MANY,
      tn_mail_imap_search },
    { TN_MAIL_IMAP_SORT, TN_IMAP_SELECTED, 3, TN_IMAP_MANY,
      tn_mail_imap_sort },
    { TN_MAIL_IMAP_FETCH, TN_IMAP_SELECTED, 2, 3, tn_mail_imap_fetch },
    { TN_MAIL_IMAP_STORE, TN_IMAP_SELECTED, 3, TN_IMAP_MANY,
      tn_mail_imap_store },
    { TN_MAIL_IMAP_COPY, TN_IMAP_SELECTED, 2, 2, tn_mail_imap_copy },
    { TN_MAIL_IMAP_MOVE, TN_IMAP_SELECTED, 2, 2, tn_mail_imap_copy },

    { TN_MAIL_IMAP_THREAD, TN_IMAP_ANY, 0, TN_IMAP_MANY,
      tn_mail_imap_unsupported },
    { TN_MAIL_IMAP_ESEARCH, TN_IMAP_ANY, 0, TN_IMAP_MANY,
      tn_mail_imap_unsupported },
    { 0, 0, 0, 0, NULL }
};


#if (TN_DEBUG)
static const char  *tn_mail_imap_state_names[] = {
    "nonauth", "auth", "selected", "logout"
};
#endif


void
tn_mail_imap_init_session(tn_mail_session_t *s, tn_connection_t *c)
{
    u_char                  *p, *last;
    tn_pool_cleanup_t       *cln;
    tn_mail_imap_cleanup_t  *cl;
    tn_mail_imap_session_t  *is;

    is = tn_pcalloc(c->pool, sizeof(tn_mail_imap_session_t));
    if (is == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    is->session = s;
    is->spool_fd = TN_INVALID_FILE;
    tn_queue_init(&is->selected_link);
    s->data = is;

    cln = tn_pool_cleanup_add(c->pool, sizeof(tn_mail_imap_cleanup_t));
    if (cln == NULL) {
        tn_mail_close_connection(c);
        return;
    }

    cl = cln->data;
    cl->session = s;
    cl->log = c->log;
    cln->handler = tn_mail_imap_cleanup;

    if (tn_mail_imap_session_setup(s, c, is) != TN_OK) {
        tn_mail_close_connection(c);
        return;
    }

    if (tn_mail_imap_grow(is, 1024) != TN_OK) {
        tn_mail_close_connection(c);
        return;
    }

    p = is->out;
    last = is->out + is->out_size;

    p = tn_slprintf(p, last, "* OK [CAPABILITY ");
    p = tn_mail_imap_capabilities(s, is, p, last);
    p = tn_slprintf(p, last, "] Tern IMAP ready" CRLF);

    is->out_len = p - is->out;

    c->log->action = "in nonauth state";

    /* a client may have sent commands before the greeting: read after it */
    tn_mail_imap_send_all(s, is, 1);
}


/* the input buffer header, the command pool and the parser */

static tn_int_t
tn_mail_imap_session_setup(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_imap_session_t *is)
{
    tn_mail_imap_srv_conf_t  *iscf;

    iscf = tn_mail_get_module_srv_conf(s, tn_mail_imap_module);

    s->buffer = tn_pcalloc(c->pool, sizeof(tn_buf_t));
    if (s->buffer == NULL) {
        return TN_ERROR;
    }

    s->buffer->temporary = 1;

    tn_mail_imap_parse_setup(s, is);

    c->read->handler = tn_mail_imap_read_handler;
    tn_event_add_timer(c->read, tn_mail_imap_timeout(s, iscf));

    return TN_OK;
}


static void
tn_mail_imap_parse_setup(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_mail_imap_srv_conf_t  *iscf;

    iscf = tn_mail_get_module_srv_conf(s, tn_mail_imap_module);

    tn_mail_imap_parse_init(&is->parse, is->cmd_pool);

    is->parse.max_line = iscf->max_line;
    is->parse.max_literal = iscf->max_literal;
    is->parse.max_append = (uint64_t) iscf->max_append;
    is->parse.utf8 = is->utf8;
    is->parse.literal_minus = 0;
}


static void
tn_mail_imap_read_handler(tn_event_t *rev)
{
    tn_connection_t          *c;
    tn_mail_session_t        *s;
    tn_mail_imap_session_t   *is;
    tn_mail_imap_srv_conf_t  *iscf;

    c = rev->data;
    s = c->data;
    is = s->data;

    iscf = tn_mail_get_module_srv_conf(s, tn_mail_imap_module);

    if (c->close) {
        /* worker_shutdown_timeout passed */
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "closing the session: the worker is shutting down");

        if (!s->out.len && !s->out_more) {
            /* best effort, between responses only */
            (void) c->send(c, (u_char *) "* BYE [UNAVAILABLE] Server "
                           "shutting down" CRLF,
                           sizeof("* BYE [UNAVAILABLE] Server shutting "
                                  "down" CRLF) - 1);
        }

        tn_mail_close_connection(c);
        return;
    }

    if (rev->timedout) {
        rev->timedout = 0;

        if (tn_mail_imap_busy(s, is)) {
            /* sending or waiting for the store: not idle */
            tn_event_add_timer(rev, tn_mail_imap_timeout(s, iscf));

        } else {
            tn_log_error(TN_LOG_INFO, c->log, TN_ETIMEDOUT,
                         "client timed out");
            c->timedout = 1;

            /* best effort: the BYE is written once, without waiting */
            (void) c->send(c, (u_char *) "* BYE Autologout; idle for too "
                           "long" CRLF, sizeof("* BYE Autologout; idle for "
                           "too long" CRLF) - 1);
            tn_mail_close_connection(c);
            return;
        }
    }

    if (is->flush_sent && !s->out.len && !s->out_more) {
        /* tn_mail_send() sent what tn_mail_imap_flush() waited for */
        tn_mail_imap_flush_done(s, is);
        return;
    }

    if (tn_mail_imap_busy(s, is)) {
        s->blocked = 1;
        return;
    }

    tn_mail_imap_read(s, c, is);
}


/*
 * RFC 3501 5.4 asks for at least 30 minutes of autologout once logged
 * in; before the login a client that says nothing for a minute goes, so
 * that idle unauthenticated connections cost little.
 */

static tn_msec_t
tn_mail_imap_timeout(tn_mail_session_t *s, tn_mail_imap_srv_conf_t *iscf)
{
    tn_mail_imap_session_t  *is = s->data;

    if (is->state == tn_imap_state_nonauth
        && iscf->timeout > TN_MAIL_IMAP_LOGIN_TIMEOUT)
    {
        return TN_MAIL_IMAP_LOGIN_TIMEOUT;
    }

    return iscf->timeout;
}


/*
 * Busy: output in flight, a task out, or a command running that does
 * not read (IDLE and an AUTHENTICATE exchange read their lines).
 */

static tn_uint_t
tn_mail_imap_busy(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    return s->out.len || s->out_more || s->task || s->quit || is->syncing
           || is->bye || is->starttls_go
           || (is->command && !is->idling && !is->sasl);
}


/*
 * The input loop: parses and runs commands until the input is used up
 * (the read event is armed), a command waits for a task or the output
 * blocks (then tn_mail_send() calls the read handler again once it is
 * sent: s->blocked), or the session closed.
 */

static void
tn_mail_imap_read(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_imap_session_t *is)
{
    tn_int_t                  rc;
    tn_mail_imap_srv_conf_t  *iscf;

    iscf = tn_mail_get_module_srv_conf(s, tn_mail_imap_module);

    for ( ;; ) {

        if (tn_mail_imap_busy(s, is)) {
            /* a task or the output: tn_mail_send() reads on after it */
            s->blocked = 1;
            return;
        }

        if (s->buffer->start == NULL) {
            if (tn_mail_imap_buffer_alloc(s) != TN_OK) {
                tn_mail_close_connection(c);
                return;
            }
        }

        if (is->idling || is->sasl) {
            rc = tn_mail_imap_line(s, c, is);

        } else {
            if (is->cmd_pool == NULL) {
                is->cmd_pool = tn_create_pool(TN_MAIL_IMAP_POOL_SIZE,
                                              c->log);
                if (is->cmd_pool == NULL) {
                    tn_mail_close_connection(c);
                    return;
                }

                is->parse.pool = is->cmd_pool;
            }

            rc = tn_mail_imap_parse_command(&is->parse, s->buffer);

            if (rc == TN_AGAIN) {
                rc = tn_mail_imap_recv(s, c);

                if (rc == TN_OK) {
                    continue;
                }

            } else {
                rc = tn_mail_imap_result(s, c, is, rc);
            }
        }

        if (rc == TN_DONE) {
            /* the session was closed, or TLS starts */
            return;
        }

        if (rc == TN_ERROR) {
            tn_mail_close_connection(c);
            return;
        }

        if (rc == TN_AGAIN) {
            /* waiting for input, a task or the output */
            if (tn_mail_imap_parse_idle(&is->parse)
                && s->buffer->pos == s->buffer->last)
            {
                tn_mail_imap_buffer_free(s, is);
            }

            if (!s->task && !s->out.len) {
                tn_event_add_timer(c->read, tn_mail_imap_timeout(s, iscf));
            }

            return;
        }

        /* TN_OK: go on with the input */
    }
}


static tn_int_t
tn_mail_imap_buffer_alloc(tn_mail_session_t *s)
{
    u_char                   *p;
    tn_buf_t                 *b;
    tn_mail_imap_srv_conf_t  *iscf;

    iscf = tn_mail_get_module_srv_conf(s, tn_mail_imap_module);

    p = tn_alloc(iscf->client_buffer_size, s->connection->log);
    if (p == NULL) {
        return TN_ERROR;
    }

    b = s->buffer;
    b->start = p;
    b->pos = p;
    b->last = p;
    b->end = p + iscf->client_buffer_size;

    return TN_OK;
}


/* nothing buffered: the input buffer and the command pool go */

static void
tn_mail_imap_buffer_free(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_buf_t  *b;

    b = s->buffer;

    if (b->start) {
        tn_free(b->start);
        b->start = NULL;
        b->pos = NULL;
        b->last = NULL;
        b->end = NULL;
    }

    if (is->cmd_pool
        && (!is->command || (is->idling && is->idle_tag.data)))
    {
        tn_destroy_pool(is->cmd_pool);
        is->cmd_pool = NULL;
        is->parse.pool = NULL;
        tn_mail_imap_parse_forget(&is->parse);
    }
}


/*
 * Between commands the parser still points at the last command's
 * arguments until the next one begins: once the pool is reset or gone,
 * nothing may follow them (tn_mail_imap_parse_wipe() at close).
 */

static void
tn_mail_imap_parse_forget(tn_mail_imap_parse_t *p)
{
    p->args = NULL;
    p->nargs = 0;
    p->literal = NULL;
    p->list = NULL;
    p->last = NULL;
    p->tok = NULL;
    p->tok_len = 0;
    p->tok_size = 0;
    tn_str_null(&p->tag);
    tn_str_null(&p->name);
    tn_str_null(&p->data);
}


/*
 * Reads more input after the parser used up the buffer: TN_OK (there is
 * more), TN_AGAIN (the read event is armed), TN_ERROR (closed by the
 * peer or failed: the caller closes).
 */

static tn_int_t
tn_mail_imap_recv(tn_mail_session_t *s, tn_connection_t *c)
{
    ssize_t    n;
    tn_buf_t  *b;

    b = s->buffer;

    if (b->pos == b->last) {
        b->pos = b->start;
        b->last = b->start;
    }

    if (b->last == b->end) {
        /* only the line reader keeps input: it made room already */
        return TN_ERROR;
    }

    if (c->read->eof || c->read->error) {
        return TN_ERROR;
    }

    n = c->recv(c, b->last, b->end - b->last);

    if (n == TN_ERROR || n == 0) {
        return TN_ERROR;
    }

    if (n > 0) {
        b->last += n;
        return TN_OK;
    }

    if (tn_handle_read_event(c->read, 0) != TN_OK) {
        return TN_ERROR;
    }

    return TN_AGAIN;
}


/*
 * A result of the parser other than TN_AGAIN.  TN_OK: parse on;
 * TN_AGAIN: wait (a task or the output); TN_DONE: closed or TLS starts;
 * TN_ERROR: close.
 */

static tn_int_t
tn_mail_imap_result(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_imap_session_t *is, tn_int_t rc)
{
    tn_int_t  r;

    switch (rc) {

    case TN_OK:
        r = tn_mail_imap_run(s, c, is);

        if (r == TN_OK) {
            return tn_mail_imap_send_now(s, c, is);
        }

        if (r == TN_AGAIN && (is->idling || is->sasl)) {
            /* a continuation was written; the client's line is read */
            r = tn_mail_imap_send_now(s, c, is);
            return (r == TN_AGAIN) ? TN_AGAIN : r;
        }

        if (r == TN_AGAIN) {
            /* what is written so far goes out while the task runs */
            if (is->out_len > is->out_sent && !s->out.len && !s->out_more) {
                tn_mail_imap_hand(s, is);
                tn_post_event(c->write, &tn_posted_events);
            }
        }

        return r;

    case TN_MAIL_IMAP_LITERAL:

        if (is->parse.command == TN_MAIL_IMAP_APPEND
            && is->parse.literal_stream)
        {
            r = tn_mail_imap_append_literal(s, is, rc);

            if (r == TN_ERROR) {
                return TN_ERROR;
            }

            if (r == TN_DECLINED) {
                /* refused: the tagged line is written */
                tn_mail_imap_end(s, is);
                return tn_mail_imap_send_now(s, c, is);
            }

        } else if (is->parse.literal_sync) {
            if (tn_mail_imap_write(is, (u_char *) "+ Ready for literal data"
                                   CRLF, sizeof("+ Ready for literal data"
                                   CRLF) - 1)
                != TN_OK)
            {
                return TN_ERROR;
            }
        }

        if (is->parse.literal_sync) {
            return tn_mail_imap_send_now(s, c, is);
        }

        return TN_OK;

    case TN_MAIL_IMAP_LITERAL_DATA:
    case TN_MAIL_IMAP_LITERAL_END:

        r = tn_mail_imap_append_literal(s, is, rc);

        if (r == TN_ERROR) {
            return TN_ERROR;
        }

        if (r == TN_DECLINED) {
            tn_mail_imap_end(s, is);
            return tn_mail_imap_send_now(s, c, is);
        }

        return TN_OK;

    case TN_ERROR:
        return TN_ERROR;

    default:
        if (tn_mail_imap_parse_error(rc)) {
            return tn_mail_imap_parse_failed(s, c, is, rc);
        }

        tn_log_error(TN_LOG_ALERT, c->log, 0,
                     "imap parser returned %i", rc);
        return TN_ERROR;
    }
}


/* the parser refused the command: answer, and the parser skips the rest */

static tn_int_t
tn_mail_imap_parse_failed(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_imap_session_t *is, tn_int_t rc)
{
    tn_uint_t              fatal;
    tn_mail_imap_parse_t  *p;

    p = &is->parse;

    /* an APPEND that failed in the middle leaves no spool file */
    if (is->append) {
        (void) tn_mail_imap_append_literal(s, is, TN_ERROR);
    }

    tn_log_error(TN_LOG_INFO, c->log, 0, "client sent invalid command: %s",
                 p->err ? p->err : "unknown error");

    is->command = 0;
    fatal = 0;

    if (rc == TN_MAIL_IMAP_LITERAL_TOO_LARGE && p->literal_stream) {
        tn_mail_imap_tagged(is, "NO", "[TOOBIG] Message too large, the "
                            "limit is %O octets",
                            (off_t) is->parse.max_append);

    } else if (rc == TN_MAIL_IMAP_UNKNOWN_COMMAND) {
        tn_mail_imap_tagged(is, "BAD", "Unknown command");
        s->errors++;

    } else if (rc == TN_MAIL_IMAP_LINE_TOO_LONG) {
        /* RFC 9051 7.1.5: a line too long ends the session */
        tn_mail_imap_tagged(is, "BAD", "Line too long");
        fatal = 1;

    } else {
        tn_mail_imap_tagged(is, "BAD", "%s", p->err ? p->err
                                                    : "Invalid command");
        s->errors++;
    }

    if (rc == TN_MAIL_IMAP_LITERAL_TOO_LARGE && !p->literal_sync
        && p->literal_size > TN_MAIL_IMAP_SKIP_MAX)
    {
        tn_log_error(TN_LOG_INFO, c->log, 0, "client sent a "
                     "non-synchronizing literal of %uL octets",
                     p->literal_size);
        fatal = 1;
    }

    tn_mail_imap_end(s, is);

    if (fatal) {
        is->bye = 1;

        if (tn_mail_imap_printf(is, "* BYE Closing the connection" CRLF)
            != TN_OK)
        {
            return TN_ERROR;
        }

    } else {
        tn_mail_imap_count_error(s, is);
    }

    return tn_mail_imap_send_now(s, c, is);
}


/* too many bad commands: a BYE after the reply, and the session ends */

static void
tn_mail_imap_count_error(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_mail_core_srv_conf_t  *cscf;

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    if (s->errors >= cscf->max_errors && !is->bye) {
        tn_log_error(TN_LOG_INFO, s->connection->log, 0,
                     "client sent too many invalid commands");

        (void) tn_mail_imap_printf(is, "* BYE Too many invalid commands"
                                   CRLF);
        is->bye = 1;
    }
}


/*
 * A line read without the parser: the AUTHENTICATE response or the DONE
 * of IDLE.  It is kept in the input buffer until its LF is there.
 */

static tn_int_t
tn_mail_imap_line(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_imap_session_t *is)
{
    u_char    *p;
    size_t     max;
    tn_int_t   rc;
    tn_str_t   line;
    tn_buf_t  *b;

    b = s->buffer;

    for ( ;; ) {
        p = tn_strlchr(b->pos, b->last, LF);

        if (p != NULL) {
            break;
        }

        max = is->sasl ? TN_MAIL_IMAP_MAX_SASL : 64;

        if ((size_t) (b->last - b->pos) >= max) {
            tn_log_error(TN_LOG_INFO, c->log, 0, "client sent too long %s",
                         is->sasl ? "SASL response" : "line in IDLE");
            tn_explicit_memzero(b->pos, b->last - b->pos);
            b->pos = b->last;
            is->sasl = 0;
            is->bye = 1;
            (void) tn_mail_imap_tagged(is, "BAD", "Line too long");
            tn_mail_imap_end(s, is);
            (void) tn_mail_imap_printf(is, "* BYE Closing the connection"
                                       CRLF);
            return tn_mail_imap_send_now(s, c, is);
        }

        if (b->last == b->end) {
            tn_buf_compact(b);
        }

        rc = tn_mail_imap_recv(s, c);

        if (rc != TN_OK) {
            return rc;
        }
    }

    line.data = b->pos;
    line.len = p - b->pos;
    b->pos = p + 1;

    if (line.len && line.data[line.len - 1] == CR) {
        line.len--;
    }

    if (is->sasl) {
        rc = tn_mail_imap_sasl(s, is, &line);

        /* the response holds the password */
        tn_explicit_memzero(line.data, p + 1 - line.data);

    } else {
        rc = tn_mail_imap_idle_line(s, is, &line);
    }

    if (rc == TN_OK) {
        rc = tn_mail_imap_finish(s, is);

        if (rc == TN_OK) {
            return tn_mail_imap_send_now(s, c, is);
        }
    }

    return rc;
}


/* runs a parsed command */

static tn_int_t
tn_mail_imap_run(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_imap_session_t *is)
{
    tn_int_t                 rc;
    tn_mail_imap_parse_t    *p;
    tn_mail_imap_command_t  *cmd;

    p = &is->parse;

    for (cmd = tn_mail_imap_commands; cmd->handler; cmd++) {
        if (cmd->command == p->command) {
            break;
        }
    }

    is->command = p->command;
    is->command_uid = p->uid;
    is->tagged_len = 0;

    tn_log_debug2(TN_LOG_DEBUG_MAIL, c->log, 0, "imap command: \"%V\" in %s",
                  &p->name, tn_mail_imap_state_names[is->state]);

    if (cmd->handler == NULL) {
        s->errors++;
        rc = tn_mail_imap_tagged(is, "BAD", "Unknown command");

    } else if (!(cmd->states & tn_imap_bit(is->state))
               || p->nargs < cmd->min_args || p->nargs > cmd->max_args)
    {
        rc = tn_mail_imap_refuse(s, is, cmd);

    } else {
        rc = cmd->handler(s, is);
    }

    if (rc != TN_OK) {
        return rc;
    }

    return tn_mail_imap_finish(s, is);
}


/* a command in the wrong state or with a wrong number of arguments */

static tn_int_t
tn_mail_imap_refuse(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_mail_imap_command_t *cmd)
{
    s->errors++;

    if (cmd->command == TN_MAIL_IMAP_LOGIN
        || cmd->command == TN_MAIL_IMAP_AUTHENTICATE)
    {
        /* the arguments may hold a password: not kept in memory */
        tn_mail_imap_wipe_input(s, is);
        tn_mail_imap_parse_wipe(&is->parse);
    }

    if (!(cmd->states & tn_imap_bit(is->state))) {
        return tn_mail_imap_tagged(is, "BAD", "Command not valid in %s state",
                                   is->state == tn_imap_state_nonauth
                                   ? "not authenticated"
                                   : (is->state == tn_imap_state_auth
                                      ? "authenticated" : "selected"));
    }

    return tn_mail_imap_tagged(is, "BAD", "Invalid arguments");
}


/*
 * The command's tagged line is ready: a sync of the selected mailbox
 * first if it changed (TN_AGAIN: the sync task is out), the pending
 * expunges where allowed, then the tagged line (TN_OK).
 */

static tn_int_t
tn_mail_imap_finish(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    /*
     * A change committed before this command ended (another session's
     * STORE answered OK, a delivery answered 250) is told now, not at
     * the next tick of the notice timer: the check is a memory read.
     */
    if (is->state == tn_imap_state_selected
        && tn_mail_imap_notify_generation(s) != is->generation)
    {
        is->notice = 1;
    }

    if (is->state == tn_imap_state_selected && is->notice && !is->syncing
        && !is->bye && !s->quit)
    {
        is->notice = 0;

        if (tn_mail_imap_sync(s, is, tn_mail_imap_expunge_ok(is),
                              tn_mail_imap_finish_sync)
            == TN_OK)
        {
            return TN_AGAIN;
        }

        /* the view stays as it is; the next command tries again */
        is->notice = 1;
    }

    return tn_mail_imap_finish_now(s, is);
}


/* the pending expunges where allowed, then the tagged line */

static tn_int_t
tn_mail_imap_finish_now(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    if (tn_mail_imap_expunge_ok(is) && is->npending
        && is->state == tn_imap_state_selected)
    {
        if (tn_mail_imap_flush_expunges(is) != TN_OK) {
            return TN_ERROR;
        }
    }

    tn_mail_imap_end(s, is);
    tn_mail_imap_count_error(s, is);

    return TN_OK;
}


/* RFC 3501 7.4.1: no EXPUNGE during FETCH, STORE or SEARCH */

static tn_uint_t
tn_mail_imap_expunge_ok(tn_mail_imap_session_t *is)
{
    switch (is->command) {
    case TN_MAIL_IMAP_FETCH:
    case TN_MAIL_IMAP_STORE:
    case TN_MAIL_IMAP_SEARCH:
    case TN_MAIL_IMAP_SORT:
        return is->command_uid;
    default:
        return 1;
    }
}


static void
tn_mail_imap_finish_sync(tn_mail_session_t *s, tn_int_t rc)
{
    tn_mail_imap_session_t  *is;

    is = s->data;

    if (rc == TN_ERROR || tn_mail_imap_finish_now(s, is) != TN_OK) {
        tn_mail_close_connection(s->connection);
        return;
    }

    tn_mail_imap_send_all(s, is, 1);
}


/* the tagged line goes out; the command is over */

static void
tn_mail_imap_end(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_str_t  *tag;

    tag = is->idle_tag.data ? &is->idle_tag : &is->parse.tag;

    if (is->tagged_len) {
        if (tag->len) {
            (void) tn_mail_imap_write(is, tag->data, tag->len);
            (void) tn_mail_imap_write(is, (u_char *) " ", 1);

        } else {
            (void) tn_mail_imap_write(is, (u_char *) "* ", 2);
        }

        (void) tn_mail_imap_write(is, is->tagged, is->tagged_len);
        is->tagged_len = 0;
    }

    if (is->idle_tag.data) {
        tn_free(is->idle_tag.data);
        tn_str_null(&is->idle_tag);
    }

    is->command = 0;
    is->command_uid = 0;
    is->cmd_ctx = NULL;

    if (is->cmd_pool && tn_mail_imap_parse_idle(&is->parse)) {
        tn_reset_pool(is->cmd_pool);
        tn_mail_imap_parse_forget(&is->parse);
    }
}


void
tn_mail_imap_command_done(tn_mail_session_t *s, tn_int_t rc)
{
    tn_connection_t         *c;
    tn_mail_imap_session_t  *is;

    c = s->connection;
    is = s->data;

    if (rc == TN_ERROR) {
        tn_mail_close_connection(c);
        return;
    }

    rc = tn_mail_imap_finish(s, is);

    if (rc == TN_AGAIN) {
        return;
    }

    if (rc == TN_ERROR) {
        tn_mail_close_connection(c);
        return;
    }

    tn_mail_imap_send_all(s, is, 1);
}


/*
 * Sends the output from the input loop.  TN_OK: all sent, read on;
 * TN_AGAIN: the rest goes out with tn_mail_send(), which calls the read
 * handler when done; TN_DONE: the session was closed (LOGOUT, BYE) or
 * TLS starts; TN_ERROR: close.
 */

static tn_int_t
tn_mail_imap_send_now(tn_mail_session_t *s, tn_connection_t *c,
    tn_mail_imap_session_t *is)
{
    ssize_t                   n;
    tn_mail_core_srv_conf_t  *cscf;

    if (s->out.len || s->out_more) {
        /* the output of the command is already on its way */
        s->blocked = 1;
        return TN_AGAIN;
    }

    while (is->out_sent < is->out_len) {
        n = c->send(c, is->out + is->out_sent, is->out_len - is->out_sent);

        if (n > 0) {
            is->out_sent += n;
            continue;
        }

        if (n == TN_ERROR) {
            return TN_ERROR;
        }

        /* TN_AGAIN */

        s->blocked = 1;
        tn_mail_imap_hand(s, is);

        cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);
        tn_event_add_timer(c->write, cscf->timeout);

        return TN_AGAIN;
    }

    return tn_mail_imap_sent(s, is);
}


/*
 * From a callback in the event loop: the output goes, and when read is
 * set the input is read on once it is sent (tn_mail_send() calls the
 * read handler: s->blocked).
 */

static void
tn_mail_imap_send_all(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    tn_uint_t read)
{
    s->blocked = read;
    tn_mail_imap_hand(s, is);
    tn_mail_send(s->connection->write);
}


/* gives what is not sent yet of is->out to tn_mail_send() */

static void
tn_mail_imap_hand(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    if (s->out.len || is->out_sent >= is->out_len) {
        return;
    }

    s->out.data = is->out + is->out_sent;
    s->out.len = is->out_len - is->out_sent;
    is->out_sent = is->out_len;
    s->out_more = tn_mail_imap_out_more;
}


/* tn_mail_send() sent s->out: hand what was added, or end */

static tn_int_t
tn_mail_imap_out_more(tn_mail_session_t *s)
{
    tn_mail_imap_session_t  *is = s->data;

    if (is->out_sent < is->out_len) {
        tn_mail_imap_hand(s, is);
        return TN_OK;
    }

    s->out_more = NULL;

    return tn_mail_imap_sent(s, is);
}


/*
 * Everything is sent: the buffer is given back, and what waited for the
 * output happens (STARTTLS, LOGOUT, a BYE).  TN_OK or TN_DONE.
 */

static tn_int_t
tn_mail_imap_sent(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_connection_t  *c;

    c = s->connection;

    is->out_len = 0;
    is->out_sent = 0;

    if (is->out) {
        tn_free(is->out);
        is->out = NULL;
        is->out_size = 0;
    }

    if (is->bye || s->quit) {
        tn_mail_close_connection(c);
        return TN_DONE;
    }

    if (is->starttls_go) {
        is->starttls_go = 0;
        s->blocked = 0;

        if (s->buffer->start == NULL
            && tn_mail_imap_buffer_alloc(s) != TN_OK)
        {
            tn_mail_close_connection(c);
            return TN_DONE;
        }

        /* the input buffer is emptied: plaintext sent after STARTTLS */
        tn_mail_starttls(s, c, tn_mail_imap_starttls_done);
        return TN_DONE;
    }

    return TN_OK;
}


/*
 * A command waits for its output: tn_mail_send() calls the read handler
 * once all is sent (s->blocked), and the read handler calls
 * tn_mail_imap_flush_done() then, from the write event: never from
 * inside the command's own call.
 */

tn_int_t
tn_mail_imap_flush(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    void (*sent)(tn_mail_session_t *s))
{
    size_t  pending;

    pending = s->out.len + (is->out_len - is->out_sent);

    if (pending < TN_MAIL_IMAP_BATCH_OUTPUT) {
        return TN_OK;
    }

    if (!s->out.len && !s->out_more) {
        tn_mail_imap_hand(s, is);
        tn_post_event(s->connection->write, &tn_posted_events);
    }

    is->flush_sent = sent;
    s->blocked = 1;

    return TN_AGAIN;
}


static void
tn_mail_imap_flush_done(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    void  (*sent)(tn_mail_session_t *s);

    sent = is->flush_sent;
    is->flush_sent = NULL;

    sent(s);
}


/* room for len more bytes in is->out; what is sent may be dropped */

static tn_int_t
tn_mail_imap_grow(tn_mail_imap_session_t *is, size_t len)
{
    u_char             *p;
    size_t              keep, need, size;
    tn_uint_t           inflight;
    tn_mail_session_t  *s;

    if (is->out_size - is->out_len >= len) {
        return TN_OK;
    }

    s = is->session;

    /* the bytes before keep are sent */
    inflight = (s->out.len && s->out.data >= is->out
                && s->out.data <= is->out + is->out_len);

    keep = inflight ? (size_t) (s->out.data - is->out) : is->out_sent;
    need = is->out_len - keep + len;

    if (keep && is->out_size >= need) {
        /* room enough once the sent bytes go */
        tn_memmove(is->out, is->out + keep, is->out_len - keep);
        p = is->out;

    } else {
        size = is->out_size ? is->out_size : 1024;

        while (size < need) {
            size *= 2;
        }

        p = tn_alloc(size, s->connection->log);
        if (p == NULL) {
            return TN_ERROR;
        }

        if (is->out) {
            tn_memcpy(p, is->out + keep, is->out_len - keep);
            tn_free(is->out);
        }

        is->out_size = size;
    }

    if (inflight) {
        s->out.data = p + (s->out.data - is->out - keep);
    }

    is->out = p;
    is->out_len -= keep;
    is->out_sent -= keep;

    return TN_OK;
}


tn_int_t
tn_mail_imap_write(tn_mail_imap_session_t *is, u_char *data, size_t len)
{
    tn_mail_session_t  *s;

    if (tn_mail_imap_grow(is, len) != TN_OK) {
        return TN_ERROR;
    }

    tn_memcpy(is->out + is->out_len, data, len);
    is->out_len += len;

    s = is->session;

    /* a long response goes out while it is being made */
    if (is->command && is->out_len - is->out_sent
                       >= TN_MAIL_IMAP_STREAM_OUTPUT
        && !s->out.len && !s->out_more)
    {
        tn_mail_imap_hand(s, is);
        tn_post_event(s->connection->write, &tn_posted_events);
    }

    return TN_OK;
}


tn_int_t
tn_mail_imap_printf(tn_mail_imap_session_t *is, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    if (tn_mail_imap_grow(is, 4096) != TN_OK) {
        return TN_ERROR;
    }

    va_start(args, fmt);
    p = tn_vslprintf(is->out + is->out_len, is->out + is->out_len + 4096,
                     fmt, args);
    va_end(args);

    is->out_len = p - is->out;

    return TN_OK;
}


tn_int_t
tn_mail_imap_tagged(tn_mail_imap_session_t *is, const char *status,
    const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    p = is->tagged;
    last = is->tagged + sizeof(is->tagged) - 2;

    p = tn_slprintf(p, last, "%s ", status);

    va_start(args, fmt);
    p = tn_vslprintf(p, last, fmt, args);
    va_end(args);

    *p++ = CR;
    *p++ = LF;

    is->tagged_len = p - is->tagged;

    return TN_OK;
}


tn_int_t
tn_mail_imap_unavailable(tn_mail_imap_session_t *is)
{
    return tn_mail_imap_tagged(is, "NO", "[UNAVAILABLE] Internal error, "
                               "try again later");
}


/* the session ends: every resource and the summary line */

static void
tn_mail_imap_cleanup(void *data)
{
    tn_mail_imap_cleanup_t  *cl = data;

    tn_str_t                 dash = tn_string("-");
    tn_buf_t                *b;
    tn_mail_session_t       *s;
    tn_mail_imap_session_t  *is;

    s = cl->session;
    is = s->data;

    if (is == NULL) {
        return;
    }

    tn_mail_imap_idle_release(is);

    if (is->idle_tag.data) {
        tn_free(is->idle_tag.data);
        tn_str_null(&is->idle_tag);
    }

    if (is->append || is->spool_fd != TN_INVALID_FILE) {
        (void) tn_mail_imap_append_literal(s, is, TN_ERROR);
    }

    tn_mail_imap_notify_unselect(s, is);
    tn_mail_imap_view_free(is);

    if (is->saved) {
        tn_free(is->saved);
        is->saved = NULL;
        is->nsaved = 0;
    }

    if (is->out) {
        tn_free(is->out);
        is->out = NULL;
    }

    s->out.len = 0;

    b = s->buffer;

    if (b && b->start) {
        tn_explicit_memzero(b->start, b->end - b->start);
        tn_free(b->start);
        b->start = NULL;
        b->pos = NULL;
        b->last = NULL;
        b->end = NULL;
    }

    if (is->cmd_pool) {
        tn_mail_imap_parse_wipe(&is->parse);
        tn_destroy_pool(is->cmd_pool);
        is->cmd_pool = NULL;
    }

    tn_log_error(TN_LOG_INFO, cl->log, 0,
                 "imap session closed: user=%V, fetch=%ui, append=%ui, "
                 "expunge=%ui, tls=%s",
                 s->login.len ? &s->login : &dash, is->nfetch, is->nappend,
                 is->nexpunge,
                 s->ssl ? (s->starttls ? "starttls" : "yes") : "no");
}


u_char *
tn_mail_imap_capabilities(tn_mail_session_t *s, tn_mail_imap_session_t *is,
    u_char *p, u_char *last)
{
    tn_mail_imap_srv_conf_t  *iscf;

    iscf = tn_mail_get_module_srv_conf(s, tn_mail_imap_module);

    p = tn_slprintf(p, last, "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID "
                    "ENABLE IDLE");

    if (is->state == tn_imap_state_nonauth) {
        if (!s->ssl && tn_mail_tls_available(s)) {
            p = tn_slprintf(p, last, " STARTTLS");
        }

        if (tn_mail_imap_plaintext_ok(s)) {
            return tn_slprintf(p, last, " AUTH=PLAIN");
        }

        return tn_slprintf(p, last, " LOGINDISABLED");
    }

    return tn_slprintf(p, last, " NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN "
                       "LIST-EXTENDED LIST-STATUS SPECIAL-USE "
                       "CREATE-SPECIAL-USE CONDSTORE QRESYNC ESEARCH SEARCHRES "
                       "SORT QUOTA QUOTA=RES-STORAGE STATUS=SIZE "
                       "UTF8=ACCEPT BINARY APPENDLIMIT=%O",
                       iscf->max_append);
}


tn_uint_t
tn_mail_imap_plaintext_ok(tn_mail_session_t *s)
{
    tn_mail_imap_srv_conf_t  *iscf;

    iscf = tn_mail_get_module_srv_conf(s, tn_mail_imap_module);

    return s->ssl || iscf->auth_plaintext;
}


/* any state */

static tn_int_t
tn_mail_imap_capability(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    u_char  *p, buf[1024];

    p = tn_slprintf(buf, buf + sizeof(buf) - 2, "* CAPABILITY ");
    p = tn_mail_imap_capabilities(s, is, p, buf + sizeof(buf) - 2);
    *p++ = CR;
    *p++ = LF;

    if (tn_mail_imap_write(is, buf, p - buf) != TN_OK) {
        return TN_ERROR;
    }

    return tn_mail_imap_tagged(is, "OK", "Capability completed");
}


static tn_int_t
tn_mail_imap_noop(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    /* the sync of tn_mail_imap_finish() tells what changed */
    return tn_mail_imap_tagged(is, "OK", "NOOP completed");
}


static tn_int_t
tn_mail_imap_check(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    /* every change is durable when it is answered: nothing to do */
    return tn_mail_imap_tagged(is, "OK", "CHECK completed");
}


static tn_int_t
tn_mail_imap_logout(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    if (tn_mail_imap_printf(is, "* BYE Tern IMAP server logging out" CRLF)
        != TN_OK)
    {
        return TN_ERROR;
    }

    is->state = tn_imap_state_logout;
    s->quit = 1;

    return tn_mail_imap_tagged(is, "OK", "LOGOUT completed");
}


/* RFC 2971 */

static tn_int_t
tn_mail_imap_id(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    tn_mail_imap_arg_t  *arg;

    arg = is->parse.args;

    if (arg->type != TN_MAIL_IMAP_ARG_NIL
        && arg->type != TN_MAIL_IMAP_ARG_LIST)
    {
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "Invalid ID arguments");
    }

    if (tn_mail_imap_printf(is, "* ID (\"name\" \"Tern\")" CRLF) != TN_OK) {
        return TN_ERROR;
    }

    return tn_mail_imap_tagged(is, "OK", "ID completed");
}


/* RFC 5161; IMAP4rev2 (RFC 9051), UTF8=ACCEPT (RFC 6855), CONDSTORE,
   QRESYNC (RFC 7162) */

static tn_int_t
tn_mail_imap_enable(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    u_char              *p, buf[256];
    tn_str_t            *v;
    tn_mail_imap_arg_t  *arg;

    p = tn_cpymem(buf, "* ENABLED", 9);

    for (arg = is->parse.args; arg; arg = arg->next) {

        if (arg->type != TN_MAIL_IMAP_ARG_ATOM) {
            s->errors++;
            return tn_mail_imap_tagged(is, "BAD", "Invalid ENABLE "
                                       "arguments");
        }

        v = &arg->value;

        if (v->len == 9
            && tn_strncasecmp(v->data, (u_char *) "IMAP4rev2", 9) == 0)
        {
            if (!is->rev2) {
                is->rev2 = 1;
                is->utf8 = 1;
                p = tn_cpymem(p, " IMAP4rev2", 10);
            }

        } else if (v->len == 11
                   && tn_strncasecmp(v->data, (u_char *) "UTF8=ACCEPT", 11)
                      == 0)
        {
            if (!is->utf8 || !is->rev2) {
                is->utf8 = 1;
                p = tn_cpymem(p, " UTF8=ACCEPT", 12);
            }

        } else if (v->len == 9
                   && tn_strncasecmp(v->data, (u_char *) "CONDSTORE", 9)
                      == 0)
        {
            if (!is->condstore) {
                is->condstore = 1;
                p = tn_cpymem(p, " CONDSTORE", 10);
            }

        } else if (v->len == 7
                   && tn_strncasecmp(v->data, (u_char *) "QRESYNC", 7) == 0)
        {
            /* RFC 7162 3.2.3: QRESYNC implies CONDSTORE */
            if (!is->qresync) {
                is->qresync = 1;
                is->condstore = 1;
                p = tn_cpymem(p, " QRESYNC", 8);
            }
        }

        /* anything else is ignored (RFC 5161 3.1) */

        if (p > buf + sizeof(buf) - 32) {
            break;
        }
    }

    is->parse.utf8 = is->utf8;

    *p++ = CR;
    *p++ = LF;

    if (tn_mail_imap_write(is, buf, p - buf) != TN_OK) {
        return TN_ERROR;
    }

    return tn_mail_imap_tagged(is, "OK", "ENABLE completed");
}


static tn_int_t
tn_mail_imap_namespace(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    if (tn_mail_imap_printf(is, "* NAMESPACE ((\"\" \"/\")) NIL NIL" CRLF)
        != TN_OK)
    {
        return TN_ERROR;
    }

    return tn_mail_imap_tagged(is, "OK", "NAMESPACE completed");
}


static tn_int_t
tn_mail_imap_unsupported(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    s->errors++;
    return tn_mail_imap_tagged(is, "BAD", "Command not supported");
}


static tn_int_t
tn_mail_imap_setquota(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    /* RFC 9208 4.1.3: quotas are set by the administrator */
    return tn_mail_imap_tagged(is, "NO", "[NOPERM] Quotas are set by the "
                               "administrator");
}


/*
 * A sync made while idling (from the notice timer or the IDLE command):
 * its untagged responses go out at once.
 */

void
tn_mail_imap_idle_synced(tn_mail_session_t *s, tn_int_t rc)
{
    tn_connection_t         *c;
    tn_mail_imap_session_t  *is;

    c = s->connection;
    is = s->data;

    if (rc == TN_ERROR) {
        tn_mail_close_connection(c);
        return;
    }

    /* is->bye: the mailbox is gone, the BYE is written: no more input */
    tn_mail_imap_send_all(s, is, !is->bye);
}


/* not authenticated */

static tn_int_t
tn_mail_imap_starttls(tn_mail_session_t *s, tn_mail_imap_session_t *is)
{
    if (s->ssl) {
        s->errors++;
        return tn_mail_imap_tagged(is, "BAD", "TLS is already active");
    }

    if (!tn_mail_tls_available(s)) {
        return tn_mail_imap_tagged(is, "NO", "TLS is not available");
    }

    /* the handshake starts once the tagged line is sent */
    is->starttls_go = 1;

    return tn_mail_imap_tagged(is, "OK", "Begin TLS negotiation now");
}


/* TLS is up: start again from nothing (RFC 9051 6.2.1) */

static void
tn_mail_imap_starttls_done(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_imap_session_t   *is;
    tn_mail_imap_srv_conf_t  *iscf;

    is = s->data;

    iscf = tn_mail_get_module_srv_conf(s, tn_mail_imap_module);

    is->state = tn_imap_state_nonauth;
    is->rev2 = 0;
    is->utf8 = 0;
    is->condstore = 0;
    is->qresync = 0;

    if (is->cmd_pool) {
        tn_reset_pool(is->cmd_pool);
    }

    tn_mail_imap_parse_setup(s, is);

    c->read->handler = tn_mail_imap_read_handler;
    tn_event_add_timer(c->read, tn_mail_imap_timeout(s, iscf));

    /* records may already sit in the TLS layer: read now */
    tn_mail_imap_read_handler(c->read);
}
