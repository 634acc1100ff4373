
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_idna.h>
#include "tn_mail_out.h"
#include "tn_mail_out_client.h"


/*
 * The transactions of the outbound SMTP client (see tn_mail_out_client.c
 * for the session and the return codes): for each message, the checks
 * that decide what can go to this server, the envelope (MAIL, RCPT,
 * DATA, pipelined when PIPELINING is offered), the text (DATA, or BDAT
 * with CHUNKING), the replies, and RSET after a failed transaction.
 */


static tn_int_t tn_mail_out_prepare(tn_mail_out_ctx_t *ctx);
static tn_uint_t tn_mail_out_check_addresses(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_address(u_char *dst, size_t size,
    const char *addr, tn_uint_t utf8, size_t *len);
static tn_int_t tn_mail_out_open(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_size(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_mail(tn_mail_out_ctx_t *ctx);
static u_char *tn_mail_out_mail_line(tn_mail_out_ctx_t *ctx, u_char *p);
static u_char *tn_mail_out_rcpt_line(tn_mail_out_ctx_t *ctx, u_char *p,
    tn_uint_t i);
static tn_uint_t tn_mail_out_next_sendable(tn_mail_out_ctx_t *ctx,
    tn_uint_t i);
static tn_int_t tn_mail_out_envelope_done(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_envelope_failed(tn_mail_out_ctx_t *ctx,
    tn_uint_t rset);
static tn_int_t tn_mail_out_data_reply(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_data_start(tn_mail_out_ctx_t *ctx,
    tn_uint_t bdat);
static tn_int_t tn_mail_out_write_data(tn_mail_out_ctx_t *ctx,
    size_t *turn);
static tn_int_t tn_mail_out_fill(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_bdat_chunk(tn_mail_out_ctx_t *ctx);
static void tn_mail_out_delivered_to(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_data_done(tn_mail_out_ctx_t *ctx);
static size_t tn_mail_out_delivered_to_len(tn_mail_out_msg_t *msg);
static void tn_mail_out_final(tn_mail_out_ctx_t *ctx, const char *cmd);
static tn_int_t tn_mail_out_end_message(tn_mail_out_ctx_t *ctx);
static tn_int_t tn_mail_out_quit(tn_mail_out_ctx_t *ctx);


tn_int_t
tn_mail_out_next_message(tn_mail_out_ctx_t *ctx)
{
    tn_queue_t         *q, *msgs;
    tn_mail_out_job_t  *job;

    job = ctx->job;
    msgs = &job->msgs;

    for ( ;; ) {
        q = (ctx->q == NULL) ? tn_queue_head(msgs) : tn_queue_next(ctx->q);

        if (q == tn_queue_sentinel(msgs)) {
            return tn_mail_out_quit(ctx);
        }

        ctx->q = q;
        ctx->msg = tn_queue_data(q, tn_mail_out_msg_t, queue);

        if (tn_mail_out_prepare(ctx) == TN_OK) {
            break;
        }

        /* nothing of this one is sent: its results are set */
        ctx->msg = NULL;
    }

    if (ctx->rset) {
        tn_mail_out_enter_state(ctx, tn_out_state_rset);

        if (tn_mail_out_command(ctx, "RSET") != TN_OK) {
            return tn_mail_out_protocol(ctx, TN_MAIL_OUT_AHEAD);
        }

        return tn_mail_out_flush(ctx) == TN_DONE ? TN_DONE : TN_OK;
    }

    return tn_mail_out_mail(ctx);
}


/*
 * What of the message can go to this server: the recipients left, the
 * address checks (SMTPUTF8), the file, the size (SIZE).  TN_OK, or
 * TN_DECLINED with every result of the message set.
 */

static tn_int_t
tn_mail_out_prepare(tn_mail_out_ctx_t *ctx)
{
    tn_uint_t           i;
    tn_mail_out_msg_t  *msg;
    tn_mail_out_err_t   err;

    msg = ctx->msg;

    for (i = 0; i < msg->nrcpts; i++) {
        ctx->sendable[i] = (msg->results[i].status == TN_MAIL_OUT_UNSET);
    }

    if (tn_mail_out_check_addresses(ctx) == 0) {
        return TN_DECLINED;
    }

    if (tn_mail_out_open(ctx) != TN_OK) {
        return TN_DECLINED;
    }

    if (ctx->ext.max_size && ctx->size > ctx->ext.max_size) {

        tn_mail_out_error(ctx, &err, TN_MAIL_OUT_FAIL, "5.3.4",
                          "message size %O exceeds size limit %O of server "
                          "%V", ctx->size, ctx->ext.max_size, &ctx->peer);

        for (i = 0; i < msg->nrcpts; i++) {
            if (ctx->sendable[i]) {
                tn_mail_out_set_result(ctx, msg, i, &err);
            }
        }

        tn_mail_out_log(ctx, "message %s: %s",
                        msg->env->id, err.text);

        tn_mail_out_close_file(ctx);

        return TN_DECLINED;
    }

    return TN_OK;
}


/*
 * SMTPUTF8 (RFC 6531): used when the server offers it and the message
 * asks for it or has a UTF-8 address.  Without it the domains go as
 * A-labels and an address whose local part is not ASCII cannot be sent:
 * "5.6.7" for it (or for all, if it is the sender); the rest of the
 * message goes as it is (a downgrade, as Postfix does).  Returns the
 * number of recipients left to send.
 */

static tn_uint_t
tn_mail_out_check_addresses(tn_mail_out_ctx_t *ctx)
{
    size_t                  len;
    tn_int_t                rc, sender;
    tn_uint_t               i, left, need;
    tn_mail_out_msg_t      *msg;
    tn_mail_out_err_t       err, bad;
    tn_store_queue_env_t   *env;
    u_char                  addr[TN_MAIL_OUT_CMD_MAX];

    msg = ctx->msg;
    env = msg->env;

    sender = tn_mail_out_address(addr, sizeof(addr), env->sender, 0, &len);
    need = (sender == TN_DECLINED);

    for (i = 0; i < msg->nrcpts && !need; i++) {
        if (ctx->sendable[i]
            && tn_mail_out_address(addr, sizeof(addr),
                                   env->rcpts[msg->rcpts[i]].address, 0,
                                   &len)
               == TN_DECLINED)
        {
            need = 1;
        }
    }

    ctx->utf8 = ctx->ext.smtputf8 && (env->smtputf8 || need);

    tn_mail_out_error(ctx, &err, TN_MAIL_OUT_FAIL, "5.6.7",
                      "SMTPUTF8 is required, but was not offered by host %V",
                      &ctx->peer);
    tn_mail_out_error(ctx, &bad, TN_MAIL_OUT_FAIL, "5.1.3",
                      "bad address syntax");

    if (ctx->utf8) {
        sender = tn_mail_out_address(addr, sizeof(addr), env->sender, 1,
                                     &len);
    }

    left = 0;

    for (i = 0; i < msg->nrcpts; i++) {

        if (!ctx->sendable[i]) {
            continue;
        }

        rc = (sender != TN_OK) ? sender
             : tn_mail_out_address(addr, sizeof(addr),
                                   env->rcpts[msg->rcpts[i]].address,
                                   ctx->utf8, &len);

        if (rc == TN_OK) {
            left++;
            continue;
        }

        tn_mail_out_set_result(ctx, msg, i, rc == TN_DECLINED ? &err : &bad);
        ctx->sendable[i] = 0;
    }

    if (left && env->smtputf8 && !ctx->utf8) {
        tn_mail_out_log(ctx,
                        "message %s: %V does not offer SMTPUTF8, sent without "
                        "it (ASCII addresses)", env->id, &ctx->peer);
    }

    return left;
}


/*
 * The address to send: as stored with SMTPUTF8, else its domain as
 * A-labels.  TN_OK with *len; TN_DECLINED: it needs SMTPUTF8; TN_ERROR:
 * a control byte (the store refuses them: never sent in any case).
 */

static tn_int_t
tn_mail_out_address(u_char *dst, size_t size, const char *addr,
    tn_uint_t utf8, size_t *len)
{
    u_char     *p, *at, *last;
    size_t      n;
    tn_int_t    rc;
    tn_uint_t   local8;

    /* the envelope's arrays: a NUL within TN_STORE_ADDR_MAX */

    n = strnlen(addr, TN_STORE_ADDR_MAX);
    p = (u_char *) addr;
    last = p + n;

    if (n == TN_STORE_ADDR_MAX || n >= size) {
        return TN_ERROR;
    }

    at = NULL;
    local8 = 0;

    for ( /* void */ ; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return TN_ERROR;
        }

        if (*p == '@') {
            at = p;
        }
    }

    for (p = (u_char *) addr; p < (at ? at : last); p++) {
        if (*p >= 0x80) {
            local8 = 1;
        }
    }

    if (utf8 || at == NULL) {
        if (local8 && !utf8) {
            return TN_DECLINED;
        }

        tn_memcpy(dst, addr, n);
        *len = n;
        return TN_OK;
    }

    if (local8) {
        return TN_DECLINED;
    }

    n = at + 1 - (u_char *) addr;
    p = tn_cpymem(dst, addr, n);

    rc = tn_idna_to_ascii(p, size - n, at + 1, last - at - 1);

    if (rc < 0) {
        /* not a domain that converts: only SMTPUTF8 can carry it */
        return TN_DECLINED;
    }

    *len = n + rc;

    return TN_OK;
}


static tn_int_t
tn_mail_out_open(tn_mail_out_ctx_t *ctx)
{
    tn_uint_t           i;
    tn_err_t            err;
    tn_mail_out_msg_t  *msg;
    tn_mail_out_err_t   e;
    struct stat         sb;

    msg = ctx->msg;

    ctx->fd = open(msg->path, O_RDONLY|O_CLOEXEC|O_NOFOLLOW);

    if (ctx->fd == TN_INVALID_FILE || fstat(ctx->fd, &sb) == -1) {
        err = tn_errno;

        tn_log_error(TN_LOG_ERR, &ctx->log, err, "cannot read \"%s\"",
                     msg->path);

        tn_mail_out_close_file(ctx);
        goto failed;
    }

    ctx->file_size = sb.st_size;
    ctx->size = 0;

    if (ctx->ext.size && tn_mail_out_size(ctx) != TN_OK) {
        tn_mail_out_close_file(ctx);
        goto failed;
    }

    return TN_OK;

failed:

    tn_mail_out_error(ctx, &e, TN_MAIL_OUT_DEFER, "4.3.0",
                      "cannot read the queued message");

    for (i = 0; i < msg->nrcpts; i++) {
        if (ctx->sendable[i]) {
            tn_mail_out_set_result(ctx, msg, i, &e);
        }
    }

    return TN_ERROR;
}


/*
 * The size for SIZE= (RFC 1870: the octets sent after 354 without the
 * stuffed dots and the end): the text as it will be sent, counted by a
 * pass of the encoder over the file.  Read on the event loop in 64 KiB
 * pieces, as the message itself is (see tn_mail_out_fill()).
 */

static tn_int_t
tn_mail_out_size(tn_mail_out_ctx_t *ctx)
{
    ssize_t                n;
    off_t                  off, size;
    tn_buf_t               in, out;
    tn_mail_out_encode_t   enc;
    u_char                 buf[8192];

    if (ctx->din == NULL) {
        ctx->din = tn_create_temp_buf(ctx->pool, TN_MAIL_OUT_DATA_SIZE);
        if (ctx->din == NULL) {
            return TN_ERROR;
        }
    }

    tn_mail_out_encode_init(&enc, 0);

    size = tn_mail_out_delivered_to_len(ctx->msg);

    if (size) {
        size += sizeof("Delivered-To: " CRLF) - 1;
    }

    in = *ctx->din;

    for (off = 0; off < ctx->file_size; off += n) {

        n = pread(ctx->fd, in.start, in.end - in.start, off);

        if (n == -1) {
            tn_log_error(TN_LOG_ERR, &ctx->log, tn_errno,
                         "pread(\"%s\") failed", ctx->msg->path);
            return TN_ERROR;
        }

        if (n == 0) {
            break;
        }

        in.pos = in.start;
        in.last = in.start + n;

        while (in.pos < in.last) {
            out.start = out.pos = out.last = buf;
            out.end = buf + sizeof(buf);

            tn_mail_out_encode(&enc, &in, &out);

            size += out.last - out.start;
        }
    }

    out.start = out.pos = out.last = buf;
    out.end = buf + sizeof(buf);

    tn_mail_out_encode_finish(&enc, &out);

    ctx->size = size + (out.last - out.start);

    return TN_OK;
}


static tn_int_t
tn_mail_out_mail(tn_mail_out_ctx_t *ctx)
{
    tn_mail_out_enter_state(ctx, tn_out_state_envelope);

    ctx->started = 1;
    ctx->rset = 0;

    ctx->cmd = TN_MAIL_OUT_CMD_MAIL;
    ctx->cmd_rcpt = tn_mail_out_next_sendable(ctx, 0);
    ctx->rcpts_sent = 0;
    ctx->replies = 0;
    ctx->reply_rcpt = ctx->cmd_rcpt;
    ctx->accepted = 0;
    ctx->mail_failed = 0;
    ctx->discard = 0;

    if (ctx->msg->env->body_8bit && !ctx->ext.eightbitmime
        && !ctx->warned_8bit)
    {
        ctx->warned_8bit = 1;

        tn_mail_out_log(ctx,
                        "%V does not offer 8BITMIME: 8-bit messages are sent "
                        "as they are", &ctx->peer);
    }

    return tn_mail_out_flush(ctx) == TN_DONE ? TN_DONE : TN_OK;
}


/*
 * Queues the envelope: MAIL, the RCPTs, and with PIPELINING (and no
 * CHUNKING) DATA, all as room allows; without PIPELINING one command
 * whenever no reply is due.  The replies are then read in the same order
 * (RFC 2920).
 */

void
tn_mail_out_generate(tn_mail_out_ctx_t *ctx)
{
    u_char    *p;
    tn_buf_t  *b;

    b = ctx->out;

    while (ctx->cmd != TN_MAIL_OUT_CMD_NONE
           && (size_t) (b->end - b->last) >= TN_MAIL_OUT_CMD_MAX
           && (ctx->ext.pipelining || ctx->pending == 0))
    {
        p = b->last;

        switch (ctx->cmd) {

        case TN_MAIL_OUT_CMD_MAIL:
            p = tn_mail_out_mail_line(ctx, p);
            ctx->cmd = TN_MAIL_OUT_CMD_RCPT;
            break;

        case TN_MAIL_OUT_CMD_RCPT:
            p = tn_mail_out_rcpt_line(ctx, p, ctx->cmd_rcpt);
            ctx->rcpts_sent++;

            ctx->cmd_rcpt = tn_mail_out_next_sendable(ctx,
                                                      ctx->cmd_rcpt + 1);

            if (ctx->cmd_rcpt == ctx->msg->nrcpts) {
                ctx->cmd = (ctx->ext.pipelining && !ctx->ext.chunking)
                           ? TN_MAIL_OUT_CMD_DATA : TN_MAIL_OUT_CMD_NONE;
            }

            break;

        default: /* TN_MAIL_OUT_CMD_DATA */
            p = tn_cpymem(p, "DATA", 4);
            ctx->cmd = TN_MAIL_OUT_CMD_NONE;
            break;
        }

        tn_log_debug2(TN_LOG_DEBUG_MAIL, &ctx->log, 0,
                      "smtp out command: \"%*s\"", (size_t) (p - b->last),
                      b->last);

        *p++ = CR;
        *p++ = LF;
        b->last = p;

        ctx->pending++;
        tn_mail_out_wait(ctx, ctx->job->command_timeout);
    }
}


static u_char *
tn_mail_out_mail_line(tn_mail_out_ctx_t *ctx, u_char *p)
{
    size_t                 len;
    tn_store_queue_env_t  *env;

    env = ctx->msg->env;

    p = tn_cpymem(p, "MAIL FROM:<", 11);

    /* checked by tn_mail_out_check_addresses(): it fits and converts */

    if (tn_mail_out_address(p, TN_STORE_ADDR_MAX * 2, env->sender, ctx->utf8,
                            &len)
        == TN_OK)
    {
        p += len;
    }

    *p++ = '>';

    if (ctx->ext.size) {
        p = tn_sprintf(p, " SIZE=%O", ctx->size);
    }

    if (env->body_8bit && ctx->ext.eightbitmime) {
        p = tn_cpymem(p, " BODY=8BITMIME", 14);
    }

    if (ctx->utf8) {
        p = tn_cpymem(p, " SMTPUTF8", 9);
    }

    if (ctx->ext.dsn) {
        if (env->ret == TN_QUEUE_RET_FULL) {
            p = tn_cpymem(p, " RET=FULL", 9);

        } else if (env->ret == TN_QUEUE_RET_HDRS) {
            p = tn_cpymem(p, " RET=HDRS", 9);
        }

        len = strnlen(env->envid, sizeof(env->envid) - 1);

        if (len) {
            p = tn_cpymem(p, " ENVID=", 7);
            p = tn_mail_out_xtext(p, (u_char *) env->envid, len);
        }
    }

    return p;
}


static u_char *
tn_mail_out_rcpt_line(tn_mail_out_ctx_t *ctx, u_char *p, tn_uint_t i)
{
    size_t                  len;
    tn_uint_t               notify;
    tn_store_queue_rcpt_t  *rcpt;

    rcpt = &ctx->msg->env->rcpts[ctx->msg->rcpts[i]];

    p = tn_cpymem(p, "RCPT TO:<", 9);

    if (tn_mail_out_address(p, TN_STORE_ADDR_MAX * 2, rcpt->address,
                            ctx->utf8, &len)
        == TN_OK)
    {
        p += len;
    }

    *p++ = '>';

    if (!ctx->ext.dsn) {
        return p;
    }

    notify = rcpt->notify & (TN_QUEUE_NOTIFY_NEVER|TN_QUEUE_NOTIFY_SUCCESS
                             |TN_QUEUE_NOTIFY_FAILURE|TN_QUEUE_NOTIFY_DELAY);

    if (notify & TN_QUEUE_NOTIFY_NEVER) {
        p = tn_cpymem(p, " NOTIFY=NEVER", 13);

    } else if (notify) {
        p = tn_cpymem(p, " NOTIFY=", 8);

        if (notify & TN_QUEUE_NOTIFY_SUCCESS) {
            p = tn_cpymem(p, "SUCCESS,", 8);
        }

        if (notify & TN_QUEUE_NOTIFY_FAILURE) {
            p = tn_cpymem(p, "FAILURE,", 8);
        }

        if (notify & TN_QUEUE_NOTIFY_DELAY) {
            p = tn_cpymem(p, "DELAY,", 6);
        }

        /* the last comma */
        p--;
    }

    len = strnlen(rcpt->orcpt, sizeof(rcpt->orcpt) - 1);

    if (len && tn_mail_out_orcpt_valid((u_char *) rcpt->orcpt, len)) {
        p = tn_cpymem(p, " ORCPT=", 7);
        p = tn_cpymem(p, rcpt->orcpt, len);
    }

    return p;
}


static tn_uint_t
tn_mail_out_next_sendable(tn_mail_out_ctx_t *ctx, tn_uint_t i)
{
    while (i < ctx->msg->nrcpts && !ctx->sendable[i]) {
        i++;
    }

    return i;
}


/*
 * One reply of the envelope: the n-th reply is MAIL's for n = 0, then
 * the RCPTs' in their order, then DATA's.
 */

tn_int_t
tn_mail_out_envelope_reply(tn_mail_out_ctx_t *ctx)
{
    tn_uint_t           k, class;
    tn_mail_out_msg_t  *msg;
    tn_mail_out_err_t   err;

    msg = ctx->msg;
    k = ctx->replies;
    class = tn_mail_out_class(ctx);

    if (k > ctx->rcpts_sent) {
        return tn_mail_out_data_reply(ctx);
    }

    if (class != 2 && class != 4 && class != 5) {
        return tn_mail_out_protocol(ctx, k ? "unexpected reply to RCPT"
                                           : "unexpected reply to MAIL");
    }

    ctx->replies++;

    if (k == 0) {
        if (class != 2) {
            ctx->mail_failed = 1;
            ctx->cmd = TN_MAIL_OUT_CMD_NONE;

            tn_mail_out_error_reply(ctx, &ctx->mail_error, "MAIL FROM");
        }

    } else {
        if (ctx->mail_failed) {
            tn_mail_out_set_result(ctx, msg, ctx->reply_rcpt,
                                   &ctx->mail_error);

        } else if (class == 2) {
            msg->results[ctx->reply_rcpt].status = TN_MAIL_OUT_ACCEPTED;
            ctx->accepted++;

        } else {
            tn_mail_out_error_reply(ctx, &err, "RCPT TO");
            tn_mail_out_set_result(ctx, msg, ctx->reply_rcpt, &err);
        }

        ctx->reply_rcpt = tn_mail_out_next_sendable(ctx, ctx->reply_rcpt + 1);
    }

    if (ctx->pending) {
        return TN_OK;
    }

    if (ctx->cmd != TN_MAIL_OUT_CMD_NONE) {
        /* without PIPELINING: the next command */
        return tn_mail_out_flush(ctx) == TN_DONE ? TN_DONE : TN_OK;
    }

    return tn_mail_out_envelope_done(ctx);
}


/* every reply of the envelope is in, and DATA was not pipelined */

static tn_int_t
tn_mail_out_envelope_done(tn_mail_out_ctx_t *ctx)
{
    if (ctx->mail_failed || ctx->accepted == 0) {
        return tn_mail_out_envelope_failed(ctx, 1);
    }

    if (ctx->ext.chunking) {
        return tn_mail_out_data_start(ctx, 1);
    }

    if (tn_mail_out_command(ctx, "DATA") != TN_OK) {
        return tn_mail_out_protocol(ctx, TN_MAIL_OUT_AHEAD);
    }

    return tn_mail_out_flush(ctx) == TN_DONE ? TN_DONE : TN_OK;
}


static tn_int_t
tn_mail_out_envelope_failed(tn_mail_out_ctx_t *ctx, tn_uint_t rset)
{
    tn_uint_t           i;
    tn_mail_out_msg_t  *msg;

    msg = ctx->msg;

    /* the RCPTs that MAIL's failure kept from being sent */

    for (i = 0; ctx->mail_failed && i < msg->nrcpts; i++) {
        if (ctx->sendable[i]
            && msg->results[i].status == TN_MAIL_OUT_UNSET)
        {
            tn_mail_out_set_result(ctx, msg, i, &ctx->mail_error);
        }
    }

    ctx->rset = rset;

    return tn_mail_out_end_message(ctx);
}


static tn_int_t
tn_mail_out_data_reply(tn_mail_out_ctx_t *ctx)
{
    tn_uint_t  class;

    class = tn_mail_out_class(ctx);

    ctx->replies++;

    if (ctx->reply.code == 354) {

        if (ctx->mail_failed || ctx->accepted == 0) {
            /* a server that should have said 554: an empty end */

            ctx->discard = 1;
            tn_mail_out_enter_state(ctx, tn_out_state_dot);

            if (tn_mail_out_command(ctx, ".") != TN_OK) {
                return tn_mail_out_protocol(ctx, TN_MAIL_OUT_AHEAD);
            }

            return tn_mail_out_flush(ctx) == TN_DONE ? TN_DONE : TN_OK;
        }

        return tn_mail_out_data_start(ctx, 0);
    }

    if (class != 4 && class != 5) {
        return tn_mail_out_protocol(ctx, "unexpected reply to DATA");
    }

    if (!ctx->mail_failed) {
        tn_mail_out_final(ctx, "DATA");
    }

    return tn_mail_out_envelope_failed(ctx, 1);
}


/* the message text, after 354 (DATA) or after the RCPTs (BDAT) */

static tn_int_t
tn_mail_out_data_start(tn_mail_out_ctx_t *ctx, tn_uint_t bdat)
{
    tn_buf_t  *b;

    if (ctx->din == NULL) {
        ctx->din = tn_create_temp_buf(ctx->pool, TN_MAIL_OUT_DATA_SIZE);
    }

    if (ctx->dout == NULL) {
        ctx->dout = tn_create_temp_buf(ctx->pool, TN_MAIL_OUT_DATA_SIZE
                                                  + TN_MAIL_OUT_BDAT_HEAD);
    }

    if (ctx->din == NULL || ctx->dout == NULL) {
        return tn_mail_out_protocol(ctx, "out of memory");
    }

    tn_mail_out_enter_state(ctx, bdat ? tn_out_state_bdat
                                      : tn_out_state_data);

    tn_buf_reset(ctx->din);

    b = ctx->dout;
    b->pos = b->last = b->start + TN_MAIL_OUT_BDAT_HEAD;

    ctx->file_off = 0;
    ctx->data_eof = 0;
    ctx->bdat_last = 0;
    ctx->bdat_failed = 0;
    ctx->bdat_pending = 0;
    ctx->delivered_to = 1;

    tn_mail_out_encode_init(&ctx->enc, !bdat);

    return tn_mail_out_send_data(ctx) == TN_DONE ? TN_DONE : TN_OK;
}


/*
 * Writes the message text: the encoded buffer, refilled from the file
 * whenever it is out (DATA), or chunk by chunk (BDAT, with PIPELINING up
 * to TN_MAIL_OUT_BDAT_WINDOW chunks ahead of their replies).  TN_OK: all
 * is out (DATA: the end of data is, and its reply is due) or the chunks
 * wait for replies; TN_AGAIN: the socket is full, or the loop gets a
 * turn; TN_DONE.
 */

tn_int_t
tn_mail_out_send_data(tn_mail_out_ctx_t *ctx)
{
    size_t            turn;
    tn_int_t          rc;
    tn_connection_t  *c;

    c = ctx->connection;
    turn = 0;

    for ( ;; ) {

        rc = tn_mail_out_write_data(ctx, &turn);

        if (rc != TN_OK) {
            return rc;
        }

        if (ctx->state == tn_out_state_data) {
            if (ctx->data_eof) {
                return tn_mail_out_data_done(ctx);
            }

        } else if (ctx->bdat_last || ctx->bdat_failed
                   || ctx->bdat_pending
                      >= (ctx->ext.pipelining ? TN_MAIL_OUT_BDAT_WINDOW : 1))
        {
            return TN_OK;
        }

        if (turn >= TN_MAIL_OUT_WRITE_TURN) {
            /* a fast peer: the other connections get their turn */
            tn_post_event(c->write, &tn_posted_events);
            return TN_AGAIN;
        }

        if (ctx->state == tn_out_state_bdat) {
            rc = tn_mail_out_bdat_chunk(ctx);

        } else {
            tn_buf_reset(ctx->dout);
            rc = tn_mail_out_fill(ctx);
        }

        if (rc != TN_OK) {
            /*
             * The server has part of the message: only closing the
             * connection keeps it from taking that part as all of it.
             */
            tn_mail_out_error(ctx, &ctx->error, TN_MAIL_OUT_DEFER, "4.3.0",
                              "cannot read the queued message");
            return tn_mail_out_failed(ctx, 0);
        }
    }
}


/* writes ctx->dout; TN_OK when it is empty */

static tn_int_t
tn_mail_out_write_data(tn_mail_out_ctx_t *ctx, size_t *turn)
{
    ssize_t           n;
    tn_buf_t         *b;
    tn_connection_t  *c;

    c = ctx->connection;
    b = ctx->dout;

    while (b->pos < b->last) {

        n = c->send(c, b->pos, b->last - b->pos);

        if (n > 0) {
            b->pos += n;
            *turn += n;
            continue;
        }

        if (n == TN_AGAIN) {
            tn_event_add_timer(c->write, ctx->job->data_timeout);

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

    return TN_OK;
}


/*
 * Appends to ctx->dout the Delivered-To header (first) and encoded text
 * until it is full or the file ends; at the end, DATA's ".".  The file
 * is read on the event loop in 64 KiB pieces, as the POP3 server reads
 * messages: a queue file is a local, recently written file.  TN_OK or
 * TN_ERROR (a read error, logged).
 */

static tn_int_t
tn_mail_out_fill(tn_mail_out_ctx_t *ctx)
{
    ssize_t    n;
    size_t     size;
    tn_buf_t  *in, *b;

    in = ctx->din;
    b = ctx->dout;

    if (ctx->delivered_to) {
        ctx->delivered_to = 0;
        tn_mail_out_delivered_to(ctx);
    }

    /* room for a byte's expansion, the last CRLF and "." CRLF */

    while (!ctx->data_eof && (size_t) (b->end - b->last) >= 8) {

        if (in->pos < in->last) {
            tn_mail_out_encode(&ctx->enc, in, b);
            continue;
        }

        if (ctx->file_off >= ctx->file_size) {
            tn_mail_out_encode_finish(&ctx->enc, b);

            if (ctx->state == tn_out_state_data) {
                b->last = tn_cpymem(b->last, "." CRLF, 3);
            }

            ctx->data_eof = 1;
            break;
        }

        size = (size_t) tn_min((off_t) (in->end - in->start),
                               ctx->file_size - ctx->file_off);

        n = pread(ctx->fd, in->start, size, ctx->file_off);

        if (n == -1) {
            tn_log_error(TN_LOG_ERR, &ctx->log, tn_errno,
                         "pread(\"%s\") failed", ctx->msg->path);
            return TN_ERROR;
        }

        if (n == 0) {
            /* the file is shorter than it was: what there is is sent */
            ctx->file_size = ctx->file_off;
            continue;
        }

        in->pos = in->start;
        in->last = in->start + n;
        ctx->file_off += n;
    }

    return TN_OK;
}


/* the length of the Delivered-To value sent, or 0 for none */

static size_t
tn_mail_out_delivered_to_len(tn_mail_out_msg_t *msg)
{
    u_char  *p;
    size_t   n, i;

    if (msg->delivered_to == NULL) {
        return 0;
    }

    p = (u_char *) msg->delivered_to;
    n = strnlen(msg->delivered_to, TN_STORE_ADDR_MAX);

    /* a stored address: no control byte, never too long for a line */

    if (n == TN_STORE_ADDR_MAX) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            return 0;
        }
    }

    return n;
}


static void
tn_mail_out_delivered_to(tn_mail_out_ctx_t *ctx)
{
    u_char    *p;
    size_t     n;
    tn_buf_t  *b;

    n = tn_mail_out_delivered_to_len(ctx->msg);

    if (n == 0) {
        return;
    }

    b = ctx->dout;

    p = tn_cpymem(b->last, "Delivered-To: ", 14);
    p = tn_cpymem(p, ctx->msg->delivered_to, n);
    *p++ = CR;
    *p++ = LF;

    b->last = p;
}


/* one BDAT chunk: the text first, then "BDAT n [LAST]" in front of it */

static tn_int_t
tn_mail_out_bdat_chunk(tn_mail_out_ctx_t *ctx)
{
    u_char    *data;
    size_t     n, len;
    tn_buf_t  *b;
    u_char     head[TN_MAIL_OUT_BDAT_HEAD];

    b = ctx->dout;
    data = b->start + TN_MAIL_OUT_BDAT_HEAD;

    b->pos = b->last = data;

    if (tn_mail_out_fill(ctx) != TN_OK) {
        return TN_ERROR;
    }

    n = b->last - data;

    len = tn_sprintf(head, "BDAT %uz%s" CRLF, n,
                     ctx->data_eof ? " LAST" : "")
          - head;

    b->pos = data - len;
    tn_memcpy(b->pos, head, len);

    tn_log_debug2(TN_LOG_DEBUG_MAIL, &ctx->log, 0, "smtp out command: \"%*s\"",
                  len - 2, head);

    ctx->bdat_pending++;
    ctx->pending++;

    if (ctx->data_eof) {
        ctx->bdat_last = 1;
    }

    tn_mail_out_wait(ctx, ctx->job->data_timeout);

    return TN_OK;
}


/* DATA: the text and its end are out; the final reply is due */

static tn_int_t
tn_mail_out_data_done(tn_mail_out_ctx_t *ctx)
{
    tn_mail_out_enter_state(ctx, tn_out_state_dot);

    ctx->pending++;
    tn_mail_out_wait(ctx, ctx->job->data_timeout);

    if (ctx->connection->read->ready) {
        tn_post_event(ctx->connection->read, &tn_posted_events);
    }

    return TN_OK;
}


tn_int_t
tn_mail_out_dot_reply(tn_mail_out_ctx_t *ctx)
{
    tn_uint_t  class;

    class = tn_mail_out_class(ctx);

    if (ctx->discard) {
        /* the end of an empty DATA: nothing was accepted */
        ctx->discard = 0;
        return tn_mail_out_envelope_failed(ctx, 0);
    }

    if (class != 2 && class != 4 && class != 5) {
        return tn_mail_out_protocol(ctx, "unexpected reply to the end of "
                                         "data");
    }

    tn_mail_out_final(ctx, "end of DATA");

    return tn_mail_out_end_message(ctx);
}


tn_int_t
tn_mail_out_bdat_reply(tn_mail_out_ctx_t *ctx)
{
    tn_int_t   rc;
    tn_uint_t  class;

    class = tn_mail_out_class(ctx);

    if (class != 2 && class != 4 && class != 5) {
        return tn_mail_out_protocol(ctx, "unexpected reply to BDAT");
    }

    ctx->bdat_pending--;

    if (class != 2 && !ctx->bdat_failed) {
        /*
         * RFC 3030 2: the transaction failed; no more chunks, those
         * already sent are answered (and dropped), then RSET.
         */
        ctx->bdat_failed = 1;
        tn_mail_out_final(ctx, "BDAT");
    }

    if (!ctx->bdat_failed && !ctx->bdat_last) {
        rc = tn_mail_out_send_data(ctx);

        if (rc == TN_DONE) {
            return TN_DONE;
        }
    }

    if (ctx->bdat_pending) {
        return TN_OK;
    }

    if (ctx->bdat_failed) {
        ctx->rset = 1;
        return tn_mail_out_end_message(ctx);
    }

    if (!ctx->bdat_last) {
        /* cannot happen: with no chunk out, send_data queued one */
        return TN_OK;
    }

    tn_mail_out_final(ctx, "BDAT LAST");

    return tn_mail_out_end_message(ctx);
}


/* the recipients accepted get the reply to the end of the message */

static void
tn_mail_out_final(tn_mail_out_ctx_t *ctx, const char *cmd)
{
    tn_uint_t           i;
    tn_mail_out_msg_t  *msg;
    tn_mail_out_err_t   err;

    msg = ctx->msg;

    tn_mail_out_error_reply(ctx, &err, cmd);

    for (i = 0; i < msg->nrcpts; i++) {
        if (msg->results[i].status == TN_MAIL_OUT_ACCEPTED) {
            tn_mail_out_set_result(ctx, msg, i, &err);
        }
    }
}


static tn_int_t
tn_mail_out_end_message(tn_mail_out_ctx_t *ctx)
{
    tn_uint_t           i, n[3];
    tn_mail_out_msg_t  *msg;

    msg = ctx->msg;

    n[0] = n[1] = n[2] = 0;

    for (i = 0; i < msg->nrcpts; i++) {
        if (msg->results[i].status <= TN_MAIL_OUT_FAIL) {
            n[msg->results[i].status]++;
        }
    }

    tn_mail_out_log(ctx,
                    "message %s to %V: %ui sent, %ui deferred, %ui bounced",
                    msg->env->id, &ctx->peer, n[TN_MAIL_OUT_OK],
                    n[TN_MAIL_OUT_DEFER], n[TN_MAIL_OUT_FAIL]);

    tn_mail_out_close_file(ctx);

    ctx->msg = NULL;

    return tn_mail_out_next_message(ctx);
}


tn_int_t
tn_mail_out_rset_reply(tn_mail_out_ctx_t *ctx)
{
    if (tn_mail_out_class(ctx) == 2) {
        return tn_mail_out_mail(ctx);
    }

    /* a server that cannot reset is not given more */

    tn_mail_out_error_reply(ctx, &ctx->error, "RSET");
    ctx->error.status = TN_MAIL_OUT_DEFER;

    tn_mail_out_log(ctx, "%s", ctx->error.text);

    return tn_mail_out_failed(ctx, 1);
}


/*
 * QUIT, without waiting for its reply (Postfix's smtp_skip_quit_response
 * default): every result is set, and the handler is not kept waiting.
 */

static tn_int_t
tn_mail_out_quit(tn_mail_out_ctx_t *ctx)
{
    tn_buf_t  *b;

    tn_mail_out_enter_state(ctx, tn_out_state_quit);

    b = ctx->out;
    b->last = tn_cpymem(b->last, "QUIT" CRLF, 6);

    return tn_mail_out_flush(ctx);
}
