
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_smtp.h>


/*
 * DATA (see tn_mail_smtp_handler.c): the Received header, the message
 * text streamed into the spool file by tn_mail_smtp_data_handler, the
 * checks of the message as a whole and the group commit.
 */


static tn_int_t tn_mail_smtp_received(tn_mail_session_t *s,
    tn_connection_t *c);
static void tn_mail_smtp_data_handler(tn_event_t *rev);
static tn_int_t tn_mail_smtp_data_consume(tn_mail_session_t *s,
    tn_connection_t *c);
static tn_int_t tn_mail_smtp_spool_write(tn_mail_smtp_tx_t *tx);
static void tn_mail_smtp_data_end(tn_mail_session_t *s, tn_connection_t *c);
static tn_int_t tn_mail_smtp_data_check(tn_mail_session_t *s,
    tn_connection_t *c);
static void tn_mail_smtp_delivered(tn_mail_session_t *s,
    tn_store_delivery_t *d);


tn_int_t
tn_mail_smtp_data(tn_mail_session_t *s, tn_connection_t *c)
{
    tn_store_conf_t          *conf;
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_srv_conf_t  *sscf;

    sctx = s->data;
    tx = sctx->tx;
    sscf = tn_mail_get_module_srv_conf(s, tn_mail_smtp_module);

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

    conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);

    tx->fd = tn_store_spool_create(conf, tx->spool_path, c->log);

    if (tx->fd == TN_INVALID_FILE) {
        tn_log_error(TN_LOG_CRIT, c->log, tn_errno,
                     "cannot create a spool file in \"%V\"",
                     &conf->spool_dir);
        tn_mail_smtp_reply(s, tn_errno == ENOSPC
                              ? "452 4.3.1 Insufficient system storage"
                              : "451 4.3.0 Error: queue file write error");
        return TN_OK;
    }

    tx->spool_owned = 1;

    tx->spool_buf = tn_create_temp_buf(tx->pool, TN_MAIL_SMTP_SPOOL_CHUNK);
    if (tx->spool_buf == NULL) {
        return TN_ERROR;
    }

    tn_mail_data_parse_init(&tx->dp, sscf->max_message_size, 0);

    if (tn_mail_smtp_received(s, c) != TN_OK) {
        return TN_ERROR;
    }

    tn_mail_smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");

    tn_mail_smtp_enter_state(s, tn_smtp_state_data);

    c->log->action = "reading message data";
    c->read->handler = tn_mail_smtp_data_handler;

    /* the data may be in s->buffer already; the event is edge-triggered */
    tn_post_event(c->read, &tn_posted_events);

    return TN_AGAIN;
}


/*
 * The trace header (RFC 5321 4.4, RFC 3848), with LF line ends as stored:
 *   Received: from HELO (PTR [IP])
 *           by SERVER (Tern) with ESMTPSA id QUEUEID
 *           (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)
 *           (authenticated as user@domain)
 *           for <rcpt>; DATE
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
                    sctx->esmtp ? "ESMTP" : "SMTP",
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
    tn_mail_smtp_srv_conf_t  *sscf;

    c = rev->data;
    s = c->data;

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

        if (b->pos < b->last) {
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
    u_char                  *p;
    tn_int_t                 rc;
    tn_mail_smtp_tx_t       *tx;
    tn_mail_smtp_session_t  *sctx;

    sctx = s->data;
    tx = sctx->tx;

    p = tx->spool_buf->last;

    rc = tn_mail_data_parse(&tx->dp, s->buffer, tx->spool_buf);

    /* loop detection: the Received headers of the message */
    tn_mail_smtp_count_hops(tx, p, tx->spool_buf->last);

    if (rc == TN_DONE || tx->spool_buf->last == tx->spool_buf->end) {
        if (tn_mail_smtp_spool_write(tx) != TN_OK) {
            tn_log_error(TN_LOG_CRIT, c->log, tx->write_err,
                         "write() to \"%s\" failed", tx->spool_path);
        }
    }

    if (rc != TN_DONE) {
        return TN_OK;
    }

    if (c->read->timer_set) {
        tn_event_del_timer(c->read);
    }

    tn_mail_smtp_data_end(s, c);

    return TN_DONE;
}


/* writes spool_buf to the spool file; after a failure only discards */
static tn_int_t
tn_mail_smtp_spool_write(tn_mail_smtp_tx_t *tx)
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
            break;
        }

        b->pos += n;
    }

    b->pos = b->start;
    b->last = b->start;

    return tx->write_err ? TN_ERROR : TN_OK;
}


static void
tn_mail_smtp_data_end(tn_mail_session_t *s, tn_connection_t *c)
{
    off_t                     size, vsize;
    tn_store_queue_env_t     *env;
    tn_mail_smtp_tx_t        *tx;
    tn_mail_smtp_session_t   *sctx;
    tn_mail_smtp_delivery_t  *item;

    sctx = s->data;
    tx = sctx->tx;

    c->read->handler = tn_mail_smtp_read_handler;
    tn_mail_parse_reset(&s->parse);

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

    /* each line of the Received header is a CRLF on the wire */

    size = tx->header_size + tx->dp.size;
    vsize = tx->dp.vsize + tx->header_size + tx->header_lines;

    env = NULL;

    if (tx->nremote) {
        env = tn_mail_smtp_queue_env(s, tx);
        if (env == NULL) {
            tn_mail_smtp_reply(s, "451 4.3.0 Error: queue file write error");
            goto next;
        }
    }

    item = tn_mail_smtp_deliver(s, tx->spool_path, size, vsize, tx->rcpts,
                                tx->nrcpts, env, tn_mail_smtp_delivered);
    if (item == NULL) {
        if (env) {
            tn_free(env);
        }

        tn_mail_smtp_reply(s, "451 4.3.0 Error: queue file write error");
        goto next;
    }

    /* the batch unlinks the spool file now */
    tx->spool_owned = 0;

    sctx->delivery = item;

    tn_mail_smtp_enter_state(s, tn_smtp_state_deliver);

    c->log->action = "delivering a message";

    return;

next:

    tn_mail_smtp_tx_reset(s);
    tn_mail_smtp_enter_state(s, tn_smtp_state_idle);
    tn_mail_smtp_process(s, c);
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
