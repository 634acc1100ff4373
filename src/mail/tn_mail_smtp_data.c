
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_smtp.h>


/*
 * DATA and BDAT (see tn_mail_smtp_handler.c): the Received header, the
 * message text streamed into the spool file by tn_mail_smtp_data_handler,
 * the checks of the message as a whole and the group commit.
 *
 * BDAT (RFC 3030): each chunk is read by the same handler, exactly
 * chunk_left octets; the next chunk's command line comes after them.  A
 * chunk refused for its state (no transaction, or a transaction that
 * failed) is still read, and dropped, so that its octets never run as
 * commands; a BDAT whose size cannot be read ends the session for the
 * same reason, and so does a chunk that would make the message larger
 * than smtp_max_message_size (reading it only to drop it could take
 * forever).
 */


static tn_int_t tn_mail_smtp_message_start(tn_mail_session_t *s,
    tn_connection_t *c, tn_uint_t bdat);
static tn_int_t tn_mail_smtp_received(tn_mail_session_t *s,
    tn_connection_t *c);
static tn_int_t tn_mail_smtp_bdat_args(tn_mail_session_t *s, off_t *size,
    tn_uint_t *last);
static void tn_mail_smtp_data_handler(tn_event_t *rev);
static tn_int_t tn_mail_smtp_data_consume(tn_mail_session_t *s,
    tn_connection_t *c);
static tn_int_t tn_mail_smtp_chunk_consume(tn_mail_session_t *s,
    tn_connection_t *c);
static void tn_mail_smtp_chunk_end(tn_mail_session_t *s,
    tn_connection_t *c);
static tn_int_t tn_mail_smtp_spool_text(tn_mail_session_t *s,
    tn_connection_t *c);
static void tn_mail_smtp_spool_write(tn_mail_smtp_tx_t *tx, tn_log_t *log);
static void tn_mail_smtp_data_end(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_smtp_data_check(tn_mail_session_t *s,
    tn_connection_t *c);
static tn_int_t tn_mail_smtp_msg_envelope(tn_mail_session_t *s,
    tn_mail_smtp_tx_t *tx);
static void tn_mail_smtp_checked(tn_mail_msg_t *msg);
static tn_int_t tn_mail_smtp_data_deliver(tn_mail_session_t *s,
    tn_connection_t *c, tn_uint_t junk);
static tn_int_t tn_mail_smtp_edits(tn_mail_smtp_tx_t *tx,
    tn_store_edit_t **edits, tn_uint_t *nedits);
static void tn_mail_smtp_delivered(tn_mail_session_t *s,
    tn_store_delivery_t *d);


tn_int_t
tn_mail_smtp_data(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_int_t                  rc;
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_session_t   *sctx;

    sctx = s->data;
    tx = sctx->tx;

    if (sctx->state != tn_smtp_state_rcpt) {
        tn_mail_smtp_error(s, tx->rcpts_seen
                              ? "554 5.5.1 No valid recipients"
                              : "503 5.5.1 Bad sequence of commands");
        return TN_OK;
    }

    if (s->parse.nargs) {
        tn_mail_smtp_error(s, "501 5.5.4 Syntax: DATA");
        return TN_OK;
    }

    rc = tn_mail_smtp_message_start(s, c, 0);
    if (rc != TN_OK) {
        return (rc == TN_DECLINED) ? TN_OK : TN_ERROR;
    }

    tn_mail_smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");

    tn_mail_smtp_enter_state(s, tn_smtp_state_data);

    c->log->action = "reading message data";
    c->read->handler = tn_mail_smtp_data_handler;

    /* the data may be in s->buffer already; the event is edge-triggered */
    tn_post_event(c->read, &tn_posted_events);

    return TN_AGAIN;
}


tn_int_t
tn_mail_smtp_bdat(tn_mail_session_t *s, tn_connection_t *c)
{
    off_t                     size;
    tn_int_t                  rc;
    tn_uint_t                 last;
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;

    sctx = s->data;
    tx = sctx->tx;
    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    if (tn_mail_smtp_bdat_args(s, &size, &last) != TN_OK) {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "client sent BDAT without a valid size");
        tn_mail_smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST], "
                           "closing the connection");
        s->quit = 1;
        tn_mail_smtp_enter_state(s, tn_smtp_state_quit);
        return TN_AGAIN;
    }

    sctx->chunk = 1;
    sctx->chunk_left = size;
    sctx->chunk_last = last;
    sctx->chunk_skip = 0;
    sctx->chunk_state = sctx->state;

    if (sctx->state == tn_smtp_state_rcpt
        || sctx->state == tn_smtp_state_bdat)
    {
        if (sscf->max_message_size
            && size > sscf->max_message_size - tx->chunked)
        {
            tn_log_error(TN_LOG_INFO, c->log, 0,
                         "message %s rejected: BDAT beyond %O bytes",
                         tx->id, sscf->max_message_size);
            tn_mail_smtp_reply(s, "552 5.3.4 Message too big, closing "
                               "the connection");
            sctx->chunk = 0;
            s->quit = 1;
            tn_mail_smtp_enter_state(s, tn_smtp_state_quit);
            return TN_AGAIN;
        }

        if (sctx->state == tn_smtp_state_rcpt) {
            rc = tn_mail_smtp_message_start(s, c, 1);

            if (rc == TN_ERROR) {
                sctx->chunk = 0;
                return TN_ERROR;
            }

            if (rc == TN_DECLINED) {
                /* replied later, once the chunk is read */
                sctx->chunk_reply = NULL;
                sctx->chunk_skip = 1;
                tn_mail_smtp_tx_reset(s);
                sctx->chunk_state = tn_smtp_state_idle;
            }
        }

        if (!sctx->chunk_skip) {
            tx->chunked += size;
        }

    } else {
        /* the octets are read all the same, then refused */
        sctx->chunk_skip = 1;
        sctx->chunk_reply = (sctx->state == tn_smtp_state_mail
                             && tx && tx->rcpts_seen)
                            ? "554 5.5.1 No valid recipients"
                            : "503 5.5.1 Bad sequence of commands";

        if (sscf->max_message_size && size > sscf->max_message_size) {
            tn_mail_smtp_error(s, "%s, closing the connection",
                               sctx->chunk_reply);
            sctx->chunk = 0;
            s->quit = 1;
            tn_mail_smtp_enter_state(s, tn_smtp_state_quit);
            return TN_AGAIN;
        }
    }

    tn_mail_smtp_enter_state(s, tn_smtp_state_data);

    c->log->action = "reading message data";
    c->read->handler = tn_mail_smtp_data_handler;

    tn_post_event(c->read, &tn_posted_events);

    return TN_AGAIN;
}


/* "BDAT" SP chunk-size [ SP "LAST" ] (RFC 3030 2) */
static tn_int_t
tn_mail_smtp_bdat_args(tn_mail_session_t *s, off_t *size, tn_uint_t *last)
{
    u_char    *sp;
    tn_str_t   arg, num;

    if (s->parse.nargs == 0) {
        return TN_ERROR;
    }

    arg = s->parse.args[0];

    num = arg;
    sp = tn_strlchr(arg.data, arg.data + arg.len, ' ');

    if (sp) {
        num.len = sp - arg.data;
    }

    if (tn_smtp_param_size(&num, size) != TN_OK) {
        return TN_ERROR;
    }

    *last = 0;

    if (sp == NULL) {
        return TN_OK;
    }

    sp++;

    if (arg.data + arg.len - sp != 4
        || tn_strncasecmp(sp, (u_char *) "LAST", 4) != 0)
    {
        return TN_ERROR;
    }

    *last = 1;

    return TN_OK;
}


/*
 * The spool file, the Received header and the parser of a message sent
 * with DATA or BDAT: TN_OK, TN_DECLINED (no spool file: replied) or
 * TN_ERROR.
 */
static tn_int_t
tn_mail_smtp_message_start(tn_mail_session_t *s, tn_connection_t *c,
    tn_uint_t bdat)
{
    tn_store_conf_t          *conf;
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;

    sctx = s->data;
    tx = sctx->tx;
    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);

    tx->fd = tn_store_spool_create(conf, tx->spool_path, c->log);

    if (tx->fd == TN_INVALID_FILE) {
        tn_log_error(TN_LOG_CRIT, c->log, tn_errno,
                     "cannot create a spool file in \"%V\"",
                     &conf->spool_dir);
        tn_mail_smtp_reply(s, tn_errno == ENOSPC
                              ? "452 4.3.1 Insufficient system storage"
                              : "451 4.3.0 Error: queue file write error");
        return TN_DECLINED;
    }

    tx->spool_owned = 1;

    tx->spool_buf = tn_create_temp_buf(tx->pool, TN_MAIL_SMTP_SPOOL_CHUNK);
    if (tx->spool_buf == NULL) {
        return TN_ERROR;
    }

    tn_mail_data_parse_init(&tx->dp, sscf->max_message_size, bdat);

    return tn_mail_smtp_received(s, c);
}


/*
 * The trace header (RFC 5321 4.4, RFC 3848), with LF line ends as stored:
 *   Received: from HELO (PTR [IP])
 *           by SERVER (Tern) with ESMTPSA id QUEUEID
 *           (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)
 *           (authenticated as user@domain)
 *           for <rcpt>; DATE
 * With SMTPUTF8 the protocol is UTF8SMTP[S][A] (RFC 6531 3.7.3).
 * Every part is safe in a header: the HELO argument was checked, the
 * PTR name was confirmed by the resolver, the login is the store's
 * address, the recipient passed the path parser (no 8-bit, no controls).
 */
static tn_int_t
tn_mail_smtp_received(tn_mail_session_t *s, tn_connection_t *c)
{
    u_char                   *p, *last;
    tn_buf_t                 *b;
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_core_srv_conf_t  *cscf;
    u_char                    date[64];

    sctx = s->data;
    tx = sctx->tx;
    b = tx->spool_buf;
    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    last = b->end;

    p = tn_slprintf(b->last, last, "Received: from %V (%V [%s%V])\n"
                    "\tby %V (Tern) with %s%s%s id %s",
                    &sctx->helo, &s->host,
                    c->sockaddr->sa_family == AF_INET6 ? "IPv6:" : "",
                    &c->addr_text, &cscf->server_name,
                    tx->smtputf8 ? "UTF8SMTP"
                                 : (sctx->esmtp ? "ESMTP" : "SMTP"),
                    sctx->esmtp && s->ssl ? "S" : "",
                    sctx->esmtp && tn_mail_smtp_authenticated(s) ? "A" : "",
                    tx->id);

    if (s->ssl && c->ssl) {
        p = tn_slprintf(p, last, "\n\t(using %s with cipher %s)",
                        tn_ssl_get_protocol(c), tn_ssl_get_cipher_name(c));
    }

    if (tn_mail_smtp_authenticated(s)) {
        p = tn_slprintf(p, last, "\n\t(authenticated as %s)",
                        s->user->address);
    }

    if (tx->rcpts_ok == 1) {
        p = tn_slprintf(p, last, "\n\tfor <%V>", &tx->first_rcpt);
    }

    *tn_rfc5322_time(date, tn_time()) = '\0';

    p = tn_slprintf(p, last, "; %s\n", date);

    if (p == last) {
        return TN_ERROR;
    }

    tx->header_size = p - b->last;
    tx->header_lines = 0;

    for ( /* void */ ; b->last < p; b->last++) {
        if (*b->last == '\n') {
            tx->header_lines++;
        }
    }

    return TN_OK;
}


static void
tn_mail_smtp_data_handler(tn_event_t *rev)
{
    ssize_t                   n;
    size_t                    nread;
    tn_buf_t                 *b;
    tn_connection_t          *c;
    tn_mail_session_t        *s;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;

    c = rev->data;
    s = c->data;
    sctx = s->data;

    c->log->action = "reading message data";

    if (rev->timedout) {
        /* the spool file goes with the transaction */
        tn_log_error(TN_LOG_INFO, c->log, TN_ETIMEDOUT,
                     "client timed out in DATA");
        c->timedout = 1;
        tn_mail_close_connection(c);
        return;
    }

    if (c->close) {
        /* the spool file goes with the transaction, nothing is stored */
        tn_mail_smtp_goodbye(s, c, 1, "421 4.3.2 %V Service shutting down");
        return;
    }

    b = s->buffer;
    nread = 0;

    for ( ;; ) {

        /* "BDAT 0" has nothing to read */
        if (b->pos < b->last || (sctx->chunk && sctx->chunk_left == 0)) {
            if (tn_mail_smtp_data_consume(s, c) == TN_DONE) {
                return;
            }

            continue;
        }

        b->pos = b->start;
        b->last = b->start;

        if (nread >= TN_MAIL_SMTP_DATA_SLICE) {
            /* let the other connections have their turn */
            tn_post_event(rev, &tn_posted_events);
            return;
        }

        if (rev->eof || rev->error) {
            n = 0;

        } else {
            n = c->recv(c, b->last, b->end - b->last);
        }

        if (n == TN_AGAIN) {
            sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

            tn_event_add_timer(rev, sscf->timeout);

            if (tn_handle_read_event(rev, 0) != TN_OK) {
                tn_mail_close_connection(c);
            }

            return;
        }

        if (n == TN_ERROR || n == 0) {
            tn_log_error(TN_LOG_INFO, c->log, 0,
                         "client closed the connection in DATA, "
                         "nothing stored");
            tn_mail_close_connection(c);
            return;
        }

        b->last += n;
        nread += n;
    }
}


/*
 * Parses what s->buffer holds into the spool buffer, writing that out
 * when full.  TN_DONE: the message ended and tn_mail_smtp_data_end()
 * ran (the session may be gone).
 */
static tn_int_t
tn_mail_smtp_data_consume(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;

    if (sctx->chunk) {
        return tn_mail_smtp_chunk_consume(s, c);
    }

    if (tn_mail_smtp_spool_text(s, c) != TN_DONE) {
        return TN_OK;
    }

    if (c->read->timer_set) {
        tn_event_del_timer(c->read);
    }

    tn_mail_smtp_data_end(s, c);

    return TN_DONE;
}


/* the octets of a BDAT chunk in s->buffer; TN_DONE: the chunk is over */
static tn_int_t
tn_mail_smtp_chunk_consume(tn_mail_session_t *s, tn_connection_t *c)
{
    u_char                  *p, *last;
    size_t                   n;
    tn_buf_t                *b;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;
    b = s->buffer;

    n = b->last - b->pos;

    if ((off_t) n > sctx->chunk_left) {
        n = (size_t) sctx->chunk_left;
    }

    if (sctx->chunk_skip) {
        b->pos += n;
        sctx->chunk_left -= n;

    } else if (n) {
        /* the parser sees the chunk's octets only */
        last = b->last;
        b->last = b->pos + n;
        p = b->pos;

        (void) tn_mail_smtp_spool_text(s, c);

        sctx->chunk_left -= b->pos - p;
        b->last = last;
    }

    if (sctx->chunk_left) {
        return TN_OK;
    }

    if (c->read->timer_set) {
        tn_event_del_timer(c->read);
    }

    tn_mail_smtp_chunk_end(s, c);

    return TN_DONE;
}


/* a BDAT chunk was read: the reply, or the end of the message */
static void
tn_mail_smtp_chunk_end(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_tx_t       *tx;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;
    tx = sctx->tx;

    sctx->chunk = 0;

    c->read->handler = tn_mail_smtp_read_handler;
    tn_mail_parse_reset(&s->parse);

    if (sctx->chunk_skip) {
        if (sctx->chunk_reply) {
            tn_mail_smtp_error(s, "%s", sctx->chunk_reply);
        }

        tn_mail_smtp_enter_state(s, sctx->chunk_state);
        tn_mail_smtp_process(s, c);
        return;
    }

    if (sctx->chunk_last) {
        tn_mail_data_parse_finish(&tx->dp);
        tn_mail_smtp_spool_write(tx, c->log);

        tn_mail_smtp_data_end(s, c);
        return;
    }

    tn_mail_smtp_reply(s, "250 2.0.6 %O octets received", tx->chunked);

    tn_mail_smtp_enter_state(s, tn_smtp_state_bdat);
    tn_mail_smtp_process(s, c);
}


/*
 * Parses what s->buffer holds (up to its last) into the spool buffer, and
 * writes that out when it is full or the message ended; returns what the
 * parser said (TN_DONE: the end of DATA).
 */
static tn_int_t
tn_mail_smtp_spool_text(tn_mail_session_t *s, tn_connection_t *c)
{
    u_char                  *written;
    tn_int_t                 rc;
    tn_mail_smtp_tx_t       *tx;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;
    tx = sctx->tx;

    written = tx->spool_buf->last;

    rc = tn_mail_data_parse(&tx->dp, s->buffer, tx->spool_buf);

    /* loop detection: the Received and Delivered-To headers */
    tn_mail_smtp_scan_header(tx, written, tx->spool_buf->last);

    if (tx->msg) {
        /* a failed hook has set the verdict (451): read on */
        (void) tn_mail_msg_text(tx->msg, written,
                                tx->spool_buf->last - written);
    }

    if (rc == TN_DONE || tx->spool_buf->last == tx->spool_buf->end) {
        tn_mail_smtp_spool_write(tx, c->log);
    }

    return rc;
}


/*
 * Writes spool_buf to the spool file; after a failure (logged once, kept
 * in tx->write_err for the reply) it only discards.
 */
static void
tn_mail_smtp_spool_write(tn_mail_smtp_tx_t *tx, tn_log_t *log)
{
    ssize_t    n;
    tn_buf_t  *b;

    b = tx->spool_buf;

    while (b->pos < b->last && tx->write_err == 0) {
        n = write(tx->fd, b->pos, b->last - b->pos);

        if (n == -1) {
            if (tn_errno == EINTR) {
                continue;
            }

            tx->write_err = tn_errno;
            tn_log_error(TN_LOG_CRIT, log, tx->write_err,
                         "write() to \"%s\" failed", tx->spool_path);
            break;
        }

        b->pos += n;
    }

    b->pos = b->start;
    b->last = b->start;
}


static void
tn_mail_smtp_data_end(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_session_t   *sctx;

    sctx = s->data;
    tx = sctx->tx;

    c->read->handler = tn_mail_smtp_read_handler;
    tn_mail_parse_reset(&s->parse);

    /* the text itself is never recorded */
    tn_mail_smtp_transcript_event(s, 'R', "message data %O bytes",
                                  tx->dp.vsize);

    if (tn_mail_smtp_data_check(s, c) != TN_OK) {
        goto next;
    }

    if (tx->write_err == 0 && close(tx->fd) == -1) {
        tx->write_err = tn_errno;
        tn_log_error(TN_LOG_CRIT, c->log, tx->write_err,
                     "close(\"%s\") failed", tx->spool_path);
    }

    tx->fd = TN_INVALID_FILE;

    if (tx->write_err) {
        tn_mail_smtp_reply(s, tx->write_err == ENOSPC
                              ? "452 4.3.1 Insufficient system storage"
                              : "451 4.3.0 Error: queue file write error");
        goto next;
    }

    if (tx->msg) {
        /* the checks decide; the input waits in s->buffer meanwhile */
        tn_mail_smtp_enter_state(s, tn_smtp_state_check);
        c->log->action = "checking a message";

        tx->msg->spool_path = tx->spool_path;
        tx->msg->text_offset = tx->header_size;

        if (tn_mail_smtp_msg_envelope(s, tx) != TN_OK) {
            tn_mail_smtp_reply(s, "451 4.3.0 Error: queue file write error");
            goto next;
        }

        tn_mail_msg_end(tx->msg, tn_mail_smtp_checked, s);
        return;
    }

    if (tn_mail_smtp_data_deliver(s, c, 0) == TN_OK) {
        return;
    }

next:

    tn_mail_smtp_tx_reset(s);
    tn_mail_smtp_enter_state(s, tn_smtp_state_idle);
    tn_mail_smtp_process(s, c);
}


/* the envelope and the session as the checks' end() may show them */
static tn_int_t
tn_mail_smtp_msg_envelope(tn_mail_session_t *s, tn_mail_smtp_tx_t *tx)
{
    tn_str_t       *r;
    tn_uint_t       i;
    tn_mail_msg_t  *msg;

    msg = tx->msg;

    msg->rcpts = tn_array_create(tx->pool, tx->nrcpts + tx->nremote + 1,
                                 sizeof(tn_str_t));
    if (msg->rcpts == NULL) {
        return TN_ERROR;
    }

    for (i = 0; i < tx->nrcpts + tx->nremote; i++) {
        r = tn_array_push(msg->rcpts);
        if (r == NULL) {
            return TN_ERROR;
        }

        if (i < tx->nrcpts) {
            r->data = (u_char *) tx->rcpts[i].address;
            r->len = tn_strlen(tx->rcpts[i].address);

        } else {
            *r = tx->remote[i - tx->nrcpts].addr;
        }
    }

    msg->login = s->login;
    msg->tls = s->ssl;

    return TN_OK;
}


/* the checks are over (from a posted event): their verdict */
static void
tn_mail_smtp_checked(tn_mail_msg_t *msg)
{
    tn_connection_t    *c;
    tn_mail_session_t  *s;
    tn_mail_smtp_tx_t  *tx;

    s = msg->data;
    c = s->connection;
    tx = ((tn_mail_smtp_session_t *) s->data)->tx;

    switch (msg->verdict) {

    case TN_MAIL_VERDICT_REJECT:
    case TN_MAIL_VERDICT_DEFER:
        if (msg->reply.len < 4) {
            /* a check set the verdict but no reply */
            if (msg->verdict == TN_MAIL_VERDICT_REJECT) {
                tn_str_set(&msg->reply, "550 5.7.1 Message rejected");

            } else {
                tn_str_set(&msg->reply, "451 4.3.0 Error: try again later");
            }
        }

        tn_log_error(TN_LOG_INFO, c->log, 0, "message %s rejected: %V",
                     tx->id, &msg->reply);
        tn_mail_smtp_reply(s, "%V", &msg->reply);
        break;

    case TN_MAIL_VERDICT_QUARANTINE:
        tn_log_error(TN_LOG_INFO, c->log, 0, "message %s quarantined: %V",
                     tx->id, &msg->reply);

        /* fall through */

    default:
        if (tn_mail_smtp_data_deliver(s, c,
                                      msg->verdict
                                      == TN_MAIL_VERDICT_QUARANTINE)
            == TN_OK)
        {
            return;
        }

        break;
    }

    tn_mail_smtp_tx_reset(s);
    tn_mail_smtp_enter_state(s, tn_smtp_state_idle);
    tn_mail_smtp_process(s, c);
}


/*
 * Hands the closed spool file to the group commit: TN_OK (the session
 * waits in tn_smtp_state_deliver) or TN_DECLINED (replied).
 */
static tn_int_t
tn_mail_smtp_data_deliver(tn_mail_session_t *s, tn_connection_t *c,
    tn_uint_t junk)
{
    off_t                     size, vsize;
    tn_uint_t                 nedits;
    tn_store_edit_t          *edits;
    tn_store_queue_env_t     *env;
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_delivery_t  *item;

    sctx = s->data;
    tx = sctx->tx;

    /* each line of the Received header is a CRLF on the wire */

    size = tx->header_size + tx->dp.size;
    vsize = tx->dp.vsize + tx->header_size + tx->header_lines;

    if (tn_mail_smtp_edits(tx, &edits, &nedits) != TN_OK) {
        tn_mail_smtp_reply(s, "451 4.3.0 Error: queue file write error");
        return TN_DECLINED;
    }

    env = NULL;

    if (tx->nremote) {
        env = tn_mail_smtp_queue_env(s, tx);
        if (env == NULL) {
            tn_mail_smtp_reply(s, "451 4.3.0 Error: queue file write error");
            return TN_DECLINED;
        }
    }

    item = tn_mail_smtp_deliver(s, tx->spool_path, size, vsize, tx->rcpts,
                                tx->nrcpts, env, tn_mail_smtp_delivered,
                                edits, nedits, junk);
    if (item == NULL) {
        if (env) {
            tn_free(env);
        }

        tn_mail_smtp_reply(s, "451 4.3.0 Error: queue file write error");
        return TN_DECLINED;
    }

    /* the batch unlinks the spool file now */
    tx->spool_owned = 0;

    sctx->delivery = item;

    tn_mail_smtp_enter_state(s, tn_smtp_state_deliver);

    c->log->action = "delivering a message";

    return TN_OK;
}


/*
 * The checks' changes as spool file edits: their header fields in one
 * insert after our Received header, then the cuts (text offsets, so
 * after it too).
 */
static tn_int_t
tn_mail_smtp_edits(tn_mail_smtp_tx_t *tx, tn_store_edit_t **edits,
    tn_uint_t *nedits)
{
    u_char             *p;
    size_t              size;
    tn_uint_t           i, n;
    tn_str_t           *f;
    tn_store_edit_t    *e;
    tn_mail_msg_t      *msg;
    tn_mail_msg_cut_t  *cut;
    tn_mail_msg_edit_t *me;
    tn_uint_t           k, nme;
    off_t               end;

    *edits = NULL;
    *nedits = 0;

    msg = tx->msg;

    if (msg == NULL
        || (msg->add_fields->nelts == 0 && msg->cuts->nelts == 0
            && (msg->edits == NULL || msg->edits->nelts == 0)))
    {
        return TN_OK;
    }

    e = tn_pcalloc(tx->pool,
                   (msg->cuts->nelts + 1
                    + (msg->edits ? msg->edits->nelts : 0))
                   * sizeof(tn_store_edit_t));
    if (e == NULL) {
        return TN_ERROR;
    }

    n = 0;
    f = msg->add_fields->elts;

    if (msg->add_fields->nelts) {
        size = 0;

        for (i = 0; i < msg->add_fields->nelts; i++) {
            size += f[i].len;
        }

        p = tn_pnalloc(tx->pool, size);
        if (p == NULL) {
            return TN_ERROR;
        }

        e[0].offset = tx->header_size;
        e[0].data = p;
        e[0].size = size;

        for (i = 0; i < msg->add_fields->nelts; i++) {
            p = tn_cpymem(p, f[i].data, f[i].len);
        }

        for (p = e[0].data; p < e[0].data + size; p++) {
            if (*p == '\n') {
                e[0].data_lines++;
            }
        }

        n = 1;
    }

    /* the cuts and the mime phase's edits merged by offset */

    cut = msg->cuts->elts;
    me = msg->edits ? msg->edits->elts : NULL;
    nme = msg->edits ? msg->edits->nelts : 0;
    end = 0;

    for (i = 0, k = 0; i < msg->cuts->nelts || k < nme; /* void */) {

        /* the earlier first, an edit before a cut at the same offset */

        if (k < nme
            && (i == msg->cuts->nelts || me[k].offset <= cut[i].offset))
        {
            if (me[k].offset >= end) {
                e[n].offset = tx->header_size + me[k].offset;
                e[n].len = me[k].len;
                e[n].lines = me[k].lines;
                e[n].data = me[k].data;
                e[n].size = me[k].size;
                e[n].data_lines = me[k].data_lines;
                end = me[k].offset + me[k].len;
                n++;
            }

            k++;
            continue;
        }

        /* a cut inside an edit (a field the mime phase changed) is dropped */

        if (cut[i].offset >= end) {
            e[n].offset = tx->header_size + cut[i].offset;
            e[n].len = cut[i].len;
            e[n].lines = cut[i].lines;
            end = cut[i].offset + cut[i].len;
            n++;
        }

        i++;
    }

    *edits = e;
    *nedits = n;

    return TN_OK;
}


/* the message as a whole: TN_OK, or TN_DECLINED when refused (replied) */
static tn_int_t
tn_mail_smtp_data_check(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;

    sctx = s->data;
    tx = sctx->tx;
    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

    if (tx->dp.bare_lf || tx->dp.bare_cr || tx->dp.nul) {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "message %s rejected: bare %s in DATA", tx->id,
                     tx->dp.nul ? "NUL" : (tx->dp.bare_lf ? "LF" : "CR"));
        tn_mail_smtp_reply(s, "550 5.6.11 Bare CR or LF or NUL not allowed "
                           "in message");
        return TN_DECLINED;
    }

    if (tx->dp.too_big) {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "message %s rejected: larger than %O bytes", tx->id,
                     tx->dp.max_size);
        tn_mail_smtp_reply(s, "552 5.3.4 Message too big");
        return TN_DECLINED;
    }

    /* a copy of this message forwarded from here came back */
    if (tx->loop.len) {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "message %s rejected: forwarding loop for <%V>",
                     tx->id, &tx->loop);
        tn_mail_smtp_reply(s, "554 5.4.6 Mail forwarding loop for <%V>",
                           &tx->loop);
        return TN_DECLINED;
    }

    /* Postfix's hopcount_limit: mail loops end here */
    if (tx->hops >= sscf->max_hops) {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "message %s rejected: %ui Received headers", tx->id,
                     tx->hops);
        tn_mail_smtp_reply(s, "554 5.4.6 Too many hops");
        return TN_DECLINED;
    }

    return TN_OK;
}


static void
tn_mail_smtp_delivered(tn_mail_session_t *s, tn_store_delivery_t *d)
{
    tn_connection_t          *c;
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_session_t   *sctx;

    c = s->connection;
    sctx = s->data;
    tx = sctx->tx;

    sctx->delivery = NULL;

    if (d->rc == TN_OK) {
        sctx->messages++;

        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "queued as %s from=<%V> size=%O nrcpt=%ui tls=%V "
                     "client=%V remote=%ui outbound=%s auth=%V", tx->id,
                     &tx->from, d->size, d->nrcpts, &sctx->tls,
                     &c->addr_text, tx->nremote,
                     d->queue ? d->queue->id : "-", &s->login);

        tn_mail_smtp_reply(s, "250 2.0.0 Ok: queued as %s", tx->id);

    } else if (d->err == TN_EDQUOT) {
        tn_log_error(TN_LOG_INFO, c->log, 0,
                     "message %s not delivered: a mailbox is full", tx->id);

        tn_mail_smtp_quota_reply(s);

    } else {
        tn_log_error(TN_LOG_ERR, c->log, d->err,
                     "message %s not delivered", tx->id);

        tn_mail_smtp_reply(s, d->err == ENOSPC
                              ? "452 4.3.1 Insufficient system storage"
                              : "451 4.3.0 Error: queue file write error");
    }

    tn_mail_smtp_tx_reset(s);
    tn_mail_smtp_enter_state(s, tn_smtp_state_idle);

    tn_mail_smtp_process(s, c);
}
