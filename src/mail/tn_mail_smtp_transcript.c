
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_smtp.h>


/*
 * The SMTP transcript (smtp_transcript, smtp_transcript_networks): a
 * record of what a session said, both sides, one line per item:
 *
 *   2026/11/27 17:04:05 *12 127.0.0.1 C: MAIL FROM:<a@b> SIZE=12
 *   2026/11/27 17:04:05 *12 127.0.0.1 S: 250 2.1.0 Ok
 *   2026/11/27 17:04:05 *12 127.0.0.1 T: TLS TLSv1.3 TLS_AES_256_GCM_SHA384
 *   2026/11/27 17:04:06 *12 127.0.0.1 R: closed: messages=1
 *
 * C: a line the client sent, S: a reply line, T: TLS, R: what became of
 * the session (the listener, message sizes, AUTH results, the end).
 *
 * Secrets: the initial response of AUTH, and every line read while a
 * SASL response is expected (TN_SMTP_SASL_STATES), are written as
 * "****".  That is decided by the state the line was read in and by the
 * command code, never by what the line looks like, so a malformed, too
 * long or pipelined response is masked all the same; the bytes of a line
 * that failed to parse are never written at all.  Message text is never
 * recorded, only its size.  Every byte outside printable ASCII is
 * escaped (\xHH), and a line longer than TN_MAIL_SMTP_TRANSCRIPT_TEXT
 * octets is cut with a marker.
 *
 * Writes: the lines of a session collect in a buffer of its own
 * (c->pool) and go to the O_APPEND file in one write() per flush: after
 * each round of replies, when the buffer is full, and at the end.  So
 * the lines of sessions and workers never mix within a line, and the
 * event loop waits for nobody but the file system, as with the error
 * log.  A failed write is logged once per session and the session goes
 * on.  The file is one of the cycle's open files: the master opens it,
 * "tern -s reopen" (SIGUSR1) reopens it.
 */


/* the session's buffer: a whole number of lines, written at once */
#define TN_MAIL_SMTP_TRANSCRIPT_SIZE   4096
/* the octets of one item recorded; 4 times that when all escaped */
#define TN_MAIL_SMTP_TRANSCRIPT_TEXT   512
/* the client address text kept in a line */
#define TN_MAIL_SMTP_TRANSCRIPT_ADDR   64

#define TN_MAIL_SMTP_TRANSCRIPT_MASK   "****"


struct tn_mail_smtp_transcript_s {
    tn_open_file_t         *file;
    u_char                 *start;
    u_char                 *last;
    u_char                 *end;
    /* a write() failed: logged once */
    unsigned                failed:1;
};


static void tn_mail_smtp_transcript_add(tn_mail_session_t *s, u_char tag,
    u_char *text, size_t len);
static void tn_mail_smtp_transcript_auth_line(tn_mail_session_t *s);


/*
 * Called once per session, before anything is said: records the session
 * when its server has smtp_transcript and the client is in
 * smtp_transcript_networks (all clients without it).  A failed
 * allocation only leaves the session unrecorded.
 */
void
tn_mail_smtp_transcript_start(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_session_t     *sctx;
    tn_mail_smtp_srv_conf_t    *sscf;
    tn_mail_smtp_transcript_t  *tr;

    sctx = s->data;
    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    if (sscf->transcript == NULL) {
        return;
    }

    if (sscf->transcript_networks
        && !tn_mail_smtp_networks_match(sscf->transcript_networks,
                                        c->sockaddr))
    {
        return;
    }

    tr = tn_palloc(c->pool, sizeof(tn_mail_smtp_transcript_t));
    if (tr == NULL) {
        return;
    }

    tr->start = tn_pnalloc(c->pool, TN_MAIL_SMTP_TRANSCRIPT_SIZE);
    if (tr->start == NULL) {
        return;
    }

    tr->file = sscf->transcript;
    tr->last = tr->start;
    tr->end = tr->start + TN_MAIL_SMTP_TRANSCRIPT_SIZE;
    tr->failed = 0;

    sctx->transcript = tr;

    tn_mail_smtp_transcript_event(s, 'R', "connected to %V%s", s->addr_text,
                                  s->ssl ? " (ssl)" : "");
}


/*
 * The line tn_mail_smtp_process() just read, rc being what the parser
 * said of it; sctx->state is still the state it was read in.
 */
void
tn_mail_smtp_transcript_client(tn_mail_session_t *s, tn_int_t rc)
{
    u_char                  *p, *last;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    if (sctx->transcript == NULL) {
        return;
    }

    /* a SASL response: masked whatever it is, even when it is bad */
    if (TN_SMTP_SASL_STATES & TN_SMTP_STATE_BIT(sctx->state)) {
        tn_mail_smtp_transcript_add(s, 'C',
                                    (u_char *) TN_MAIL_SMTP_TRANSCRIPT_MASK,
                                    sizeof(TN_MAIL_SMTP_TRANSCRIPT_MASK) - 1);
        return;
    }

    /* the bytes of a bad line are gone, or partly: none are recorded */

    if (rc == TN_MAIL_PARSE_INVALID_COMMAND) {
        tn_mail_smtp_transcript_event(s, 'C', "[invalid command line]");
        return;
    }

    if (rc != TN_OK) {
        tn_mail_smtp_transcript_event(s, 'C', "[line too long]");
        return;
    }

    if (s->parse.command == TN_SMTP_AUTH) {
        tn_mail_smtp_transcript_auth_line(s);
        return;
    }

    /* the line as sent, without its CRLF */

    p = s->parse.cmd.data;
    last = s->buffer->pos;

    if (last - p >= 2 && last[-1] == LF && last[-2] == CR) {
        last -= 2;
    }

    tn_mail_smtp_transcript_add(s, 'C', p, last - p);
}


/*
 * "AUTH PLAIN ****": the verb, the mechanism when it is one we know (a
 * client that left it out may have put its credentials there), and a
 * mask for whatever follows it.
 */
static void
tn_mail_smtp_transcript_auth_line(tn_mail_session_t *s)
{
    u_char    *p, *last;
    tn_str_t   mech, known;

    mech = s->parse.args[0];
    last = mech.data + mech.len;

    p = tn_strlchr(mech.data, last, ' ');
    mech.len = (p ? p : last) - mech.data;

    if (mech.len == 0) {
        tn_str_set(&known, "");

    } else if (mech.len == 5
               && (tn_strncasecmp(mech.data, (u_char *) "PLAIN", 5) == 0
                   || tn_strncasecmp(mech.data, (u_char *) "LOGIN", 5) == 0))
    {
        known = mech;

    } else {
        tn_str_set(&known, TN_MAIL_SMTP_TRANSCRIPT_MASK);
    }

    /* the verb is letters only (the parser), at most TN_MAIL_MAX_VERB */

    tn_mail_smtp_transcript_event(s, 'C', "%V%s%V%s", &s->parse.cmd,
                                  known.len ? " " : "", &known,
                                  (p && p + 1 < last)
                                  ? " " TN_MAIL_SMTP_TRANSCRIPT_MASK : "");
}


/* a reply line, [p, last), with or without its CRLF */
void
tn_mail_smtp_transcript_reply(tn_mail_session_t *s, u_char *p, u_char *last)
{
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    if (sctx->transcript == NULL) {
        return;
    }

    while (last > p && (last[-1] == LF || last[-1] == CR)) {
        last--;
    }

    tn_mail_smtp_transcript_add(s, 'S', p, last - p);
}


/* a line of our own text: tag 'T' (TLS), 'R' (results) */
void
tn_mail_smtp_transcript_event(tn_mail_session_t *s, u_char tag,
    const char *fmt, ...)
{
    u_char                  *p;
    va_list                  args;
    tn_mail_smtp_session_t  *sctx;
    u_char                   text[TN_MAIL_SMTP_TRANSCRIPT_TEXT];

    sctx = s->data;

    if (sctx == NULL || sctx->transcript == NULL) {
        return;
    }

    va_start(args, fmt);
    p = tn_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    tn_mail_smtp_transcript_add(s, tag, text, p - text);
}


/*
 * Appends "TIME *N ADDR X: TEXT" and a LF, TEXT escaped and cut when
 * long.  A line always fits into an empty buffer: TEXT at most 4 times
 * TN_MAIL_SMTP_TRANSCRIPT_TEXT, plus the prefix and the marker.
 */
static void
tn_mail_smtp_transcript_add(tn_mail_session_t *s, u_char tag, u_char *text,
    size_t len)
{
    u_char                     *p;
    size_t                      n, cut, need;
    tn_str_t                    addr;
    tn_connection_t            *c;
    tn_mail_smtp_session_t     *sctx;
    tn_mail_smtp_transcript_t  *tr;

    c = s->connection;
    sctx = s->data;
    tr = sctx->transcript;

    n = tn_min(len, (size_t) TN_MAIL_SMTP_TRANSCRIPT_TEXT);
    cut = len - n;

    addr = c->addr_text;
    addr.len = tn_min(addr.len, (size_t) TN_MAIL_SMTP_TRANSCRIPT_ADDR);

    /* time, " *N ", address, " X: ", text, " [cut N octets]", LF */
    need = tn_cached_err_log_time.len + 2 + TN_INT_T_LEN + 1 + addr.len + 4
           + 4 * n + sizeof(" [cut  octets]") + TN_SIZE_T_LEN + 1;

    if ((size_t) (tr->end - tr->last) < need) {
        tn_mail_smtp_transcript_flush(s);
    }

    p = tn_cpymem(tr->last, tn_cached_err_log_time.data,
                  tn_cached_err_log_time.len);

    p = tn_slprintf(p, tr->end, " *%ui %V %c: ", (tn_uint_t) c->number,
                    &addr, (int) tag);

    p = tn_escape_log(p, text, n);

    if (cut) {
        p = tn_slprintf(p, tr->end, " [cut %uz octets]", cut);
    }

    *p++ = LF;

    tr->last = p;
}


/* writes the buffered lines: one write() to the O_APPEND file */
void
tn_mail_smtp_transcript_flush(tn_mail_session_t *s)
{
    size_t                      len;
    ssize_t                     n;
    tn_err_t                    err;
    tn_mail_smtp_session_t     *sctx;
    tn_mail_smtp_transcript_t  *tr;

    sctx = s->data;

    if (sctx == NULL || sctx->transcript == NULL) {
        return;
    }

    tr = sctx->transcript;

    len = tr->last - tr->start;

    if (len == 0) {
        return;
    }

    tr->last = tr->start;

    if (tr->file->fd == TN_INVALID_FILE) {
        return;
    }

    do {
        n = write(tr->file->fd, tr->start, len);
    } while (n == -1 && tn_errno == EINTR);

    if ((size_t) n == len) {
        return;
    }

    err = (n == -1) ? tn_errno : 0;

    if (!tr->failed) {
        tr->failed = 1;

        tn_log_error(TN_LOG_ERR, s->connection->log, err,
                     "write() of %uz bytes to the smtp transcript \"%V\" "
                     "failed (%z written)", len, &tr->file->name, n);
    }
}


/* the session ends: the last line, and everything goes out */
void
tn_mail_smtp_transcript_close(tn_mail_session_t *s)
{
    tn_connection_t         *c;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    if (sctx == NULL || sctx->transcript == NULL) {
        return;
    }

    c = s->connection;

    tn_mail_smtp_transcript_event(s, 'R', "closed: messages=%ui%s",
                                  sctx->messages,
                                  c->timedout ? ", timed out" : "");

    tn_mail_smtp_transcript_flush(s);

    /* nothing more is recorded, whatever runs later in the cleanup */
    sctx->transcript = NULL;
}


/* "smtp_transcript off | PATH;" */

char *
tn_mail_smtp_transcript_set(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_mail_smtp_srv_conf_t *sscf = conf;

    tn_str_t  *value;

    if (sscf->transcript != TN_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3
        && tn_strncmp(value[1].data, (u_char *) "off", 3) == 0)
    {
        sscf->transcript = NULL;
        return TN_CONF_OK;
    }

    if (value[1].len == 0) {
        return "needs a file name";
    }

    /* relative to the prefix; opened and reopened with the error log */
    sscf->transcript = tn_conf_open_file(cf->cycle, &value[1]);
    if (sscf->transcript == NULL) {
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


/*
 * The module's init hook, in the master: a master that runs as root made
 * the files as root; like a reopen does (tn_reopen_files), they are
 * given to "user", who writes them and may have to reopen them.
 */
tn_int_t
tn_mail_smtp_transcript_init_module(tn_cycle_t *cycle)
{
    tn_uint_t                   i;
    tn_core_conf_t             *ccf;
    tn_open_file_t             *file;
    tn_mail_conf_ctx_t         *ctx;
    tn_mail_smtp_srv_conf_t    *sscf;
    tn_mail_core_srv_conf_t   **cscfp;
    tn_mail_core_main_conf_t   *cmcf;

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    if (geteuid() != 0 || ccf->user == (uid_t) TN_CONF_UNSET_UINT
        || ccf->user == 0)
    {
        return TN_OK;
    }

    ctx = (tn_mail_conf_ctx_t *) tn_get_conf(cycle->conf_ctx, tn_mail_module);
    if (ctx == NULL) {
        return TN_OK;
    }

    cmcf = ctx->main_conf[tn_mail_core_module.ctx_index];
    cscfp = cmcf->servers.elts;

    for (i = 0; i < cmcf->servers.nelts; i++) {
        sscf = cscfp[i]->ctx->srv_conf[tn_mail_smtp_module.ctx_index];
        file = sscf->transcript;

        if (file == NULL || file->fd == TN_INVALID_FILE
            || file->fd == tn_stderr)
        {
            continue;
        }

        /* not fatal: the workers write through the inherited fd */
        if (fchown(file->fd, ccf->user, -1) == -1) {
            tn_log_error(TN_LOG_CRIT, cycle->log, tn_errno,
                         "chown(\"%V\", %d) failed", &file->name,
                         (int) ccf->user);
        }
    }

    return TN_OK;
}
