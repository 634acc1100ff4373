
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail_out.h>

#include <openssl/rand.h>


/*
 * Delivery status notifications: the RFC 3464 multipart/report that goes
 * back to the envelope sender when a recipient fails, is delayed, or was
 * delivered and asked to hear so (RFC 3461 NOTIFY).
 *
 *   header   From MAILER-DAEMON@reporting_mta, Auto-Submitted (RFC 3834)
 *   part 1   text/plain; charset=utf-8: what happened, one line per
 *            recipient ("<address>: diagnostic")
 *   part 2   message/delivery-status, or message/global-delivery-status
 *            when an address is not ASCII (RFC 6533)
 *   part 3   the message (message/rfc822) or its header only
 *            (text/rfc822-headers), message/global and
 *            message/global-headers for SMTPUTF8 mail (RFC 6532)
 *
 * Part 3 is copied from the queued file in chunks: nothing of any size
 * is held in memory.  Every value that comes from the envelope or from
 * a remote server is cleaned (control bytes and malformed UTF-8 become
 * '?') before it goes into a header line, so that no value can make a
 * line, a field or a MIME boundary of its own; the boundary has random
 * bytes and is checked against everything it encloses.
 */


#define TN_MAIL_OUT_DSN_OUT_SIZE     8192
#define TN_MAIL_OUT_DSN_READ_SIZE    16384
#define TN_MAIL_OUT_DSN_LINE_SIZE    4096

/* header lines are folded before a space past this column ... */
#define TN_MAIL_OUT_DSN_FOLD         78
/* ... and broken anyway past this one (RFC 5322: 998 at most) */
#define TN_MAIL_OUT_DSN_HARD         990

#define TN_MAIL_OUT_DSN_BOUNDARY_TRIES  16
#define TN_MAIL_OUT_DSN_BOUNDARY_RAND   12
#define TN_MAIL_OUT_DSN_BOUNDARY_MAX    64

/* part 3 */
#define TN_MAIL_OUT_DSN_RETURN_NONE  0   /* no message file */
#define TN_MAIL_OUT_DSN_RETURN_HDRS  1
#define TN_MAIL_OUT_DSN_RETURN_FULL  2

/* tn_mail_out_dsn_clean() */
#define TN_MAIL_OUT_DSN_ASCII        0   /* printable ASCII only */
#define TN_MAIL_OUT_DSN_UTF8         1   /* and well-formed UTF-8 */

#define tn_mail_out_dsn_has(ctx, action)  ((ctx)->actions & (1 << (action)))


typedef struct {
    tn_mail_out_dsn_t     *dsn;
    tn_store_queue_env_t  *env;
    tn_log_t              *log;
    tn_fd_t                fd;           /* the notice */
    tn_fd_t                msg;          /* the message, or -1 */

    tn_uint_t              actions;      /* 1 << TN_MAIL_OUT_DSN_* */
    tn_uint_t              ret;          /* TN_MAIL_OUT_DSN_RETURN_* */
    off_t                  ret_len;      /* the bytes of part 3 */
    time_t                 retry_until;  /* the latest of the delayed */

    unsigned               global:1;     /* a non-ASCII address */
    unsigned               ret_8bit:1;   /* part 3 has 8-bit bytes */
    unsigned               by_size:1;    /* RET absent: by return_limit */
    unsigned               too_big:1;    /* ... and over it */

    u_char                 boundary[TN_MAIL_OUT_DSN_BOUNDARY_MAX];
    size_t                 boundary_len;

    u_char                *pos;          /* the end of the data in out */
    u_char                 out[TN_MAIL_OUT_DSN_OUT_SIZE];
    u_char                 in[TN_MAIL_OUT_DSN_READ_SIZE];
    u_char                 line[TN_MAIL_OUT_DSN_LINE_SIZE];
} tn_mail_out_dsn_ctx_t;


static tn_int_t tn_mail_out_dsn_prepare(tn_mail_out_dsn_ctx_t *ctx);
static tn_int_t tn_mail_out_dsn_open(tn_mail_out_dsn_ctx_t *ctx);
static tn_int_t tn_mail_out_dsn_header_len(tn_mail_out_dsn_ctx_t *ctx,
    off_t *len);
static tn_int_t tn_mail_out_dsn_make_boundary(tn_mail_out_dsn_ctx_t *ctx);
static void tn_mail_out_dsn_boundary(u_char *buf, size_t *len);
static tn_uint_t tn_mail_out_dsn_in_envelope(tn_mail_out_dsn_ctx_t *ctx);
static tn_int_t tn_mail_out_dsn_scan(tn_mail_out_dsn_ctx_t *ctx,
    u_char *b, size_t len, tn_uint_t *found);
static tn_int_t tn_mail_out_dsn_head(tn_mail_out_dsn_ctx_t *ctx);
static tn_int_t tn_mail_out_dsn_text(tn_mail_out_dsn_ctx_t *ctx);
static tn_int_t tn_mail_out_dsn_text_rcpts(tn_mail_out_dsn_ctx_t *ctx,
    tn_uint_t action);
static tn_int_t tn_mail_out_dsn_status(tn_mail_out_dsn_ctx_t *ctx);
static tn_int_t tn_mail_out_dsn_rcpt(tn_mail_out_dsn_ctx_t *ctx,
    tn_mail_out_dsn_rcpt_t *r);
static tn_int_t tn_mail_out_dsn_orcpt(tn_mail_out_dsn_ctx_t *ctx,
    tn_store_queue_rcpt_t *qr);
static tn_int_t tn_mail_out_dsn_diagnostic(tn_mail_out_dsn_ctx_t *ctx,
    const char *text);
static tn_int_t tn_mail_out_dsn_returned(tn_mail_out_dsn_ctx_t *ctx);
static tn_int_t tn_mail_out_dsn_part(tn_mail_out_dsn_ctx_t *ctx,
    const char *description, const char *type, tn_uint_t eight_bit);
static tn_int_t tn_mail_out_dsn_field(tn_mail_out_dsn_ctx_t *ctx,
    const char *name, u_char *value, size_t len);
static tn_int_t tn_mail_out_dsn_date(tn_mail_out_dsn_ctx_t *ctx,
    const char *name, time_t t);
static tn_int_t tn_mail_out_dsn_str(tn_mail_out_dsn_ctx_t *ctx,
    const char *s);
static tn_int_t tn_mail_out_dsn_out(tn_mail_out_dsn_ctx_t *ctx,
    const void *data, size_t len);
static tn_int_t tn_mail_out_dsn_flush(tn_mail_out_dsn_ctx_t *ctx);
static size_t tn_mail_out_dsn_clean(u_char *dst, const u_char *src,
    size_t len, tn_uint_t utf8);
static size_t tn_mail_out_dsn_utf8_len(const u_char *p, const u_char *last);
static tn_uint_t tn_mail_out_dsn_ascii(const char *s, size_t size);
static size_t tn_mail_out_dsn_xtext(u_char *dst, const u_char *src,
    size_t len);
static size_t tn_mail_out_dsn_unxtext(u_char *dst, const u_char *src,
    size_t len);
static const char *tn_mail_out_dsn_code(tn_mail_out_dsn_rcpt_t *r);
static tn_int_t tn_mail_out_dsn_random(u_char *buf, size_t len);


static const char  *tn_mail_out_dsn_actions[] = {
    "", "failed", "delayed", "delivered", "relayed"
};

/* part 1: what each action means; the delayed one goes on in the code */
static const char  *tn_mail_out_dsn_intros[] = {
    "",
    "\nIt could not be delivered to the recipients below, and the server\n"
    "has given up on them.\n\n",
    "\nIt has not been delivered yet to the recipients below.  The server\n"
    "keeps trying",
    "\nIt was delivered to the recipients below.\n\n",
    "\nIt was handed on for the recipients below to servers that do not\n"
    "send delivery reports: you may hear nothing more about it.\n\n"
};

/* the random bytes of boundaries and Message-IDs; tests replace it */
static tn_int_t  (*tn_mail_out_dsn_rand)(u_char *buf, size_t len) =
    tn_mail_out_dsn_random;

static tn_atomic_uint_t  tn_mail_out_dsn_counter;


tn_uint_t
tn_mail_out_dsn_wanted(tn_uint_t notify, tn_uint_t action)
{
    if (notify & TN_QUEUE_NOTIFY_NEVER) {
        return 0;
    }

    switch (action) {

    case TN_MAIL_OUT_DSN_FAILED:
        return notify == 0 || (notify & TN_QUEUE_NOTIFY_FAILURE);

    case TN_MAIL_OUT_DSN_DELAYED:
        /*
         * RFC 3461 4.1 leaves delay notices for a recipient without
         * NOTIFY to the server: Tern sends them, as most servers do
         */
        return notify == 0 || (notify & TN_QUEUE_NOTIFY_DELAY);

    case TN_MAIL_OUT_DSN_DELIVERED:
    case TN_MAIL_OUT_DSN_RELAYED:
        return (notify & TN_QUEUE_NOTIFY_SUCCESS) != 0;

    default:
        return 0;
    }
}


tn_int_t
tn_mail_out_dsn_write(tn_fd_t fd, tn_mail_out_dsn_t *dsn, tn_log_t *log)
{
    int                     err;
    tn_int_t                rc;
    tn_mail_out_dsn_ctx_t  *ctx;

    ctx = tn_calloc(sizeof(tn_mail_out_dsn_ctx_t), log);
    if (ctx == NULL) {
        return TN_ERROR;
    }

    ctx->dsn = dsn;
    ctx->env = dsn->env;
    ctx->log = log;
    ctx->fd = fd;
    ctx->msg = TN_INVALID_FILE;
    ctx->pos = ctx->out;

    rc = tn_mail_out_dsn_prepare(ctx);

    if (rc == TN_OK) {
        rc = tn_mail_out_dsn_open(ctx);
    }

    if (rc == TN_OK) {
        rc = tn_mail_out_dsn_make_boundary(ctx);
    }

    /* known now: the addresses were seen, the returned bytes scanned */
    dsn->body_8bit = (ctx->global || ctx->ret_8bit);

    if (rc == TN_OK
        && tn_mail_out_dsn_head(ctx) == TN_OK
        && tn_mail_out_dsn_text(ctx) == TN_OK
        && tn_mail_out_dsn_status(ctx) == TN_OK
        && tn_mail_out_dsn_returned(ctx) == TN_OK
        && tn_mail_out_dsn_str(ctx, "\n--") == TN_OK
        && tn_mail_out_dsn_out(ctx, ctx->boundary, ctx->boundary_len)
           == TN_OK
        && tn_mail_out_dsn_str(ctx, "--\n") == TN_OK)
    {
        rc = tn_mail_out_dsn_flush(ctx);

    } else {
        rc = TN_ERROR;
    }

    err = errno;

    if (ctx->msg != TN_INVALID_FILE) {
        (void) tn_close_file(ctx->msg);
    }

    tn_free(ctx);

    errno = err;

    return rc;
}


/*
 * Checks the notice's data and decides what it says: which actions,
 * whether it needs the RFC 6533 types, and what part 3 returns.
 */

static tn_int_t
tn_mail_out_dsn_prepare(tn_mail_out_dsn_ctx_t *ctx)
{
    u_char                  *p, *orcpt, buf[TN_STORE_ADDR_MAX + 16];
    size_t                   len;
    tn_uint_t                i;
    tn_mail_out_dsn_t       *dsn;
    tn_mail_out_dsn_rcpt_t  *r;

    dsn = ctx->dsn;

    if (ctx->env == NULL || dsn->nrcpts == 0 || dsn->rcpts == NULL
        || ctx->env->sender[0] == '\0' || dsn->reporting_mta.len == 0)
    {
        errno = EINVAL;
        return TN_ERROR;
    }

    for (i = 0; i < dsn->nrcpts; i++) {
        r = &dsn->rcpts[i];

        if (r->rcpt == NULL
            || r->action < TN_MAIL_OUT_DSN_FAILED
            || r->action > TN_MAIL_OUT_DSN_RELAYED)
        {
            errno = EINVAL;
            return TN_ERROR;
        }

        ctx->actions |= 1 << r->action;

        if (r->action == TN_MAIL_OUT_DSN_DELAYED
            && r->retry_until > ctx->retry_until)
        {
            ctx->retry_until = r->retry_until;
        }

        if (!tn_mail_out_dsn_ascii(r->rcpt->address,
                                   sizeof(r->rcpt->address)))
        {
            ctx->global = 1;
        }

        /* an ORCPT may be the xtext of UTF-8 bytes: global too */

        orcpt = (u_char *) r->rcpt->orcpt;
        len = strnlen(r->rcpt->orcpt, sizeof(r->rcpt->orcpt));
        p = memchr(orcpt, ';', len);

        if (p != NULL) {
            p++;
            len = tn_mail_out_dsn_unxtext(buf, p, orcpt + len - p);

            if (!tn_mail_out_dsn_ascii((char *) buf, len)) {
                ctx->global = 1;
            }
        }
    }

    if (!tn_mail_out_dsn_has(ctx, TN_MAIL_OUT_DSN_FAILED)) {
        /*
         * RFC 3461 4.3: RET is about failures; a notice without one
         * returns the header only
         */
        ctx->ret = TN_MAIL_OUT_DSN_RETURN_HDRS;

    } else if (ctx->env->ret == TN_QUEUE_RET_FULL) {
        ctx->ret = TN_MAIL_OUT_DSN_RETURN_FULL;

    } else if (ctx->env->ret == TN_QUEUE_RET_HDRS) {
        ctx->ret = TN_MAIL_OUT_DSN_RETURN_HDRS;

    } else {
        /* tn_mail_out_dsn_open() looks at the size */
        ctx->ret = TN_MAIL_OUT_DSN_RETURN_FULL;
        ctx->by_size = 1;
    }

    return TN_OK;
}


/*
 * Opens the message: part 3 is left out (and logged) when it is gone;
 * ctx->ret_len becomes the number of bytes part 3 returns.
 */

static tn_int_t
tn_mail_out_dsn_open(tn_mail_out_dsn_ctx_t *ctx)
{
    tn_file_info_t   fi;

    if (ctx->dsn->msg_path == NULL) {
        ctx->ret = TN_MAIL_OUT_DSN_RETURN_NONE;
        return TN_OK;
    }

    ctx->msg = tn_open_file(ctx->dsn->msg_path, TN_FILE_RDONLY,
                            TN_FILE_OPEN, 0);

    if (ctx->msg == TN_INVALID_FILE) {

        if (errno != ENOENT) {
            tn_log_error(TN_LOG_ERR, ctx->log, errno,
                         "dsn: open(\"%s\") failed", ctx->dsn->msg_path);
            return TN_ERROR;
        }

        tn_log_error(TN_LOG_ERR, ctx->log, errno,
                     "dsn for message %s: \"%s\" is missing, the notice "
                     "goes without it", ctx->env->id, ctx->dsn->msg_path);

        ctx->ret = TN_MAIL_OUT_DSN_RETURN_NONE;
        return TN_OK;
    }

    if (tn_fd_info(ctx->msg, &fi) == -1) {
        tn_log_error(TN_LOG_ERR, ctx->log, errno,
                     "dsn: fstat(\"%s\") failed", ctx->dsn->msg_path);
        return TN_ERROR;
    }

    if (ctx->by_size && fi.st_size > ctx->dsn->return_limit) {
        ctx->ret = TN_MAIL_OUT_DSN_RETURN_HDRS;
        ctx->too_big = 1;
    }

    if (ctx->ret == TN_MAIL_OUT_DSN_RETURN_FULL) {
        ctx->ret_len = fi.st_size;
        return TN_OK;
    }

    return tn_mail_out_dsn_header_len(ctx, &ctx->ret_len);
}


/*
 * The header of the message: up to and with the line end before the
 * first empty line; all of it when there is no empty line, nothing when
 * it starts with one.
 */

static tn_int_t
tn_mail_out_dsn_header_len(tn_mail_out_dsn_ctx_t *ctx, off_t *len)
{
    off_t     off;
    u_char    prev;
    ssize_t   n, i;

    off = 0;
    prev = LF;

    for ( ;; ) {
        n = pread(ctx->msg, ctx->in, sizeof(ctx->in), off);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            tn_log_error(TN_LOG_ERR, ctx->log, errno,
                         "dsn: pread(\"%s\") failed", ctx->dsn->msg_path);
            return TN_ERROR;
        }

        if (n == 0) {
            *len = off;
            return TN_OK;
        }

        for (i = 0; i < n; i++) {
            if (ctx->in[i] == LF && prev == LF) {
                *len = off + i;
                return TN_OK;
            }

            prev = ctx->in[i];
        }

        off += n;
    }
}


/*
 * A boundary that occurs nowhere in what the parts hold: random bytes
 * make a clash all but impossible, and a clash is looked for all the
 * same (the returned message is anyone's text).
 */

static tn_int_t
tn_mail_out_dsn_make_boundary(tn_mail_out_dsn_ctx_t *ctx)
{
    tn_uint_t  i, found;

    for (i = 0; i < TN_MAIL_OUT_DSN_BOUNDARY_TRIES; i++) {

        tn_mail_out_dsn_boundary(ctx->boundary, &ctx->boundary_len);

        if (tn_mail_out_dsn_in_envelope(ctx)) {
            continue;
        }

        if (tn_mail_out_dsn_scan(ctx, ctx->boundary, ctx->boundary_len,
                                 &found)
            != TN_OK)
        {
            return TN_ERROR;
        }

        if (!found) {
            return TN_OK;
        }
    }

    tn_log_error(TN_LOG_ERR, ctx->log, 0,
                 "dsn for message %s: no MIME boundary found that the "
                 "message does not contain", ctx->env->id);

    errno = EAGAIN;

    return TN_ERROR;
}


/*
 * "=_tn." + 24 random hex digits + "." + a counter: "=_" can occur in
 * neither base64 nor quoted-printable text, and the counter makes every
 * candidate new even if the random source failed.
 */

static void
tn_mail_out_dsn_boundary(u_char *buf, size_t *len)
{
    u_char          *p, rnd[TN_MAIL_OUT_DSN_BOUNDARY_RAND];
    tn_uint_t        n;
    struct timeval   tv;

    n = __atomic_add_fetch(&tn_mail_out_dsn_counter, 1, __ATOMIC_RELAXED);

    if (tn_mail_out_dsn_rand(rnd, sizeof(rnd)) != TN_OK) {
        tn_gettimeofday(&tv);
        tn_memcpy(rnd, &tv, tn_min(sizeof(tv), sizeof(rnd)));
        rnd[0] ^= (u_char) getpid();
    }

    p = tn_cpymem(buf, "=_tn.", 5);
    p = tn_hex_dump(p, rnd, sizeof(rnd));
    p = tn_sprintf(p, ".%xi", n);
    *p = '\0';

    *len = p - buf;
}


/* whether the boundary occurs in a value that goes into part 1 or 2 */

static tn_uint_t
tn_mail_out_dsn_in_envelope(tn_mail_out_dsn_ctx_t *ctx)
{
    char                    *b;
    tn_uint_t                i, k;
    const char              *s[5];
    tn_mail_out_dsn_rcpt_t  *r;

    b = (char *) ctx->boundary;

    if (memmem(ctx->dsn->reporting_mta.data, ctx->dsn->reporting_mta.len,
               b, ctx->boundary_len)
        != NULL)
    {
        return 1;
    }

    for (i = 0; i < ctx->dsn->nrcpts; i++) {
        r = &ctx->dsn->rcpts[i];

        s[0] = r->rcpt->address;
        s[1] = r->rcpt->orcpt;
        s[2] = r->diagnostic;
        s[3] = r->remote_mta;
        s[4] = r->status;

        for (k = 0; k < 5; k++) {
            if (s[k] != NULL && strstr(s[k], b) != NULL) {
                return 1;
            }
        }
    }

    return strstr(ctx->env->envid, b) != NULL;
}


/*
 * Looks for b in the bytes part 3 returns, and notes whether they have
 * 8-bit bytes.  Reads overlap by the length of b less one, so that a
 * match across two reads is found.
 */

static tn_int_t
tn_mail_out_dsn_scan(tn_mail_out_dsn_ctx_t *ctx, u_char *b, size_t len,
    tn_uint_t *found)
{
    off_t     off;
    size_t    keep, want, have, i;
    ssize_t   n;

    *found = 0;

    if (ctx->ret == TN_MAIL_OUT_DSN_RETURN_NONE) {
        return TN_OK;
    }

    off = 0;
    keep = 0;

    while (off < ctx->ret_len) {

        want = sizeof(ctx->in) - keep;

        if ((off_t) want > ctx->ret_len - off) {
            want = (size_t) (ctx->ret_len - off);
        }

        n = pread(ctx->msg, ctx->in + keep, want, off);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            tn_log_error(TN_LOG_ERR, ctx->log, errno,
                         "dsn: pread(\"%s\") failed", ctx->dsn->msg_path);
            return TN_ERROR;
        }

        if (n == 0) {
            /* the queue never changes a message file */
            tn_log_error(TN_LOG_ERR, ctx->log, 0,
                         "dsn: \"%s\" became shorter", ctx->dsn->msg_path);
            errno = EIO;
            return TN_ERROR;
        }

        if (!ctx->ret_8bit) {
            for (i = keep; i < keep + (size_t) n; i++) {
                if (ctx->in[i] & 0x80) {
                    ctx->ret_8bit = 1;
                    break;
                }
            }
        }

        have = keep + n;

        if (memmem(ctx->in, have, b, len) != NULL) {
            *found = 1;
            return TN_OK;
        }

        keep = tn_min(len - 1, have);
        tn_memmove(ctx->in, ctx->in + have - keep, keep);

        off += n;
    }

    return TN_OK;
}


/* the notice's own header and the preamble */

static tn_int_t
tn_mail_out_dsn_head(tn_mail_out_dsn_ctx_t *ctx)
{
    u_char                *p, *last, rnd[8], host[256];
    size_t                 n;
    tn_uint_t              counter;
    const char            *subject;
    tn_store_queue_env_t  *env;

    env = ctx->env;
    last = ctx->line + sizeof(ctx->line);

    n = tn_mail_out_dsn_clean(host, ctx->dsn->reporting_mta.data,
                              tn_min(ctx->dsn->reporting_mta.len,
                                     sizeof(host) - 1),
                              TN_MAIL_OUT_DSN_ASCII);
    host[n] = '\0';

    p = tn_slprintf(ctx->line, last, "MAIL DELIVERY SYSTEM "
                    "<MAILER-DAEMON@%s>", host);

    if (tn_mail_out_dsn_field(ctx, "From", ctx->line, p - ctx->line)
        != TN_OK)
    {
        return TN_ERROR;
    }

    /* UTF-8 in To: needs SMTPUTF8, as the address itself does */

    p = ctx->line;
    *p++ = '<';
    n = strnlen(env->sender, sizeof(env->sender));
    p += tn_mail_out_dsn_clean(p, (u_char *) env->sender, n,
                               TN_MAIL_OUT_DSN_UTF8);
    *p++ = '>';

    if (tn_mail_out_dsn_field(ctx, "To", ctx->line, p - ctx->line)
        != TN_OK)
    {
        return TN_ERROR;
    }

    if (tn_mail_out_dsn_has(ctx, TN_MAIL_OUT_DSN_FAILED)) {
        subject = "Undelivered Mail Returned to Sender";

    } else if (tn_mail_out_dsn_has(ctx, TN_MAIL_OUT_DSN_DELAYED)) {
        subject = "Delayed Mail (still being retried)";

    } else {
        subject = "Successful Mail Delivery Report";
    }

    if (tn_mail_out_dsn_field(ctx, "Subject", (u_char *) subject,
                              tn_strlen(subject))
        != TN_OK
        || tn_mail_out_dsn_date(ctx, "Date", ctx->dsn->now) != TN_OK)
    {
        return TN_ERROR;
    }

    /* Message-ID: time, pid, a counter and 64 random bits */

    counter = __atomic_add_fetch(&tn_mail_out_dsn_counter, 1,
                                 __ATOMIC_RELAXED);

    if (tn_mail_out_dsn_rand(rnd, sizeof(rnd)) != TN_OK) {
        tn_memzero(rnd, sizeof(rnd));
    }

    n = snprintf((char *) ctx->line, 64, "<%llx.%lx.%lx.",
                 (unsigned long long) (ctx->dsn->now ? ctx->dsn->now
                                                     : time(NULL)),
                 (unsigned long) getpid(), (unsigned long) counter);
    p = tn_hex_dump(ctx->line + n, rnd, sizeof(rnd));
    p = tn_slprintf(p, last, "@%s>", host);

    if (tn_mail_out_dsn_field(ctx, "Message-ID", ctx->line, p - ctx->line)
        != TN_OK
        || tn_mail_out_dsn_str(ctx, "Auto-Submitted: auto-replied\n"
                                    "MIME-Version: 1.0\n"
                                    "Content-Type: multipart/report; "
                                    "report-type=")
           != TN_OK
        || tn_mail_out_dsn_str(ctx, ctx->global ? "global-delivery-status"
                                                : "delivery-status")
           != TN_OK
        || tn_mail_out_dsn_str(ctx, ";\n boundary=\"") != TN_OK
        || tn_mail_out_dsn_out(ctx, ctx->boundary, ctx->boundary_len)
           != TN_OK
        || tn_mail_out_dsn_str(ctx, "\"\n") != TN_OK)
    {
        return TN_ERROR;
    }

    if ((ctx->global || ctx->ret_8bit)
        && tn_mail_out_dsn_str(ctx, "Content-Transfer-Encoding: 8bit\n")
           != TN_OK)
    {
        return TN_ERROR;
    }

    return tn_mail_out_dsn_str(ctx, "\nThis is a delivery status "
                               "notification in MIME format.\n");
}


/* part 1: for people */

static tn_int_t
tn_mail_out_dsn_text(tn_mail_out_dsn_ctx_t *ctx)
{
    u_char       *p, *last, host[256];
    size_t        n;
    tn_uint_t     a;
    const char   *s;

    if (tn_mail_out_dsn_part(ctx, "Notification",
                             "text/plain; charset=utf-8", ctx->global)
        != TN_OK)
    {
        return TN_ERROR;
    }

    n = tn_mail_out_dsn_clean(host, ctx->dsn->reporting_mta.data,
                              tn_min(ctx->dsn->reporting_mta.len,
                                     sizeof(host) - 1),
                              TN_MAIL_OUT_DSN_ASCII);
    host[n] = '\0';

    last = ctx->line + sizeof(ctx->line);

    p = tn_slprintf(ctx->line, last, "This is an automatic report from the "
                    "mail server %s\nabout a message you sent on ", host);
    p = tn_rfc5322_time(p, ctx->env->received ? ctx->env->received
                                               : ctx->dsn->now);
    *p++ = '.';
    *p++ = LF;

    if (tn_mail_out_dsn_out(ctx, ctx->line, p - ctx->line) != TN_OK) {
        return TN_ERROR;
    }

    for (a = TN_MAIL_OUT_DSN_FAILED; a <= TN_MAIL_OUT_DSN_RELAYED; a++) {

        if (!tn_mail_out_dsn_has(ctx, a)) {
            continue;
        }

        if (tn_mail_out_dsn_str(ctx, tn_mail_out_dsn_intros[a]) != TN_OK) {
            return TN_ERROR;
        }

        if (a == TN_MAIL_OUT_DSN_DELAYED) {
            p = ctx->line;

            if (ctx->retry_until) {
                p = tn_cpymem(p, " until ", 7);
                p = tn_rfc5322_time(p, ctx->retry_until);
            }

            s = ".\nYou need not send it again.\n\n";
            p = tn_cpymem(p, s, tn_strlen(s));

            if (tn_mail_out_dsn_out(ctx, ctx->line, p - ctx->line)
                != TN_OK)
            {
                return TN_ERROR;
            }
        }

        if (tn_mail_out_dsn_text_rcpts(ctx, a) != TN_OK) {
            return TN_ERROR;
        }
    }

    switch (ctx->ret) {

    case TN_MAIL_OUT_DSN_RETURN_FULL:
        s = "\nYour message is attached.\n";
        break;

    case TN_MAIL_OUT_DSN_RETURN_HDRS:
        if (ctx->too_big) {
            p = tn_slprintf(ctx->line, last, "\nYour message was larger "
                            "than %O bytes, so only its header\nis "
                            "attached.\n", ctx->dsn->return_limit);

            return tn_mail_out_dsn_out(ctx, ctx->line, p - ctx->line);
        }

        s = "\nThe header of your message is attached.\n";
        break;

    default: /* TN_MAIL_OUT_DSN_RETURN_NONE */
        s = "\nYour message could not be attached.\n";
        break;
    }

    return tn_mail_out_dsn_str(ctx, s);
}


/* "<address>: diagnostic", one line for each recipient of an action */

static tn_int_t
tn_mail_out_dsn_text_rcpts(tn_mail_out_dsn_ctx_t *ctx, tn_uint_t action)
{
    u_char                  *p;
    size_t                   n;
    tn_uint_t                i;
    tn_mail_out_dsn_rcpt_t  *r;

    for (i = 0; i < ctx->dsn->nrcpts; i++) {
        r = &ctx->dsn->rcpts[i];

        if (r->action != action) {
            continue;
        }

        p = ctx->line;
        *p++ = '<';
        n = strnlen(r->rcpt->address, sizeof(r->rcpt->address));
        p += tn_mail_out_dsn_clean(p, (u_char *) r->rcpt->address, n,
                                   TN_MAIL_OUT_DSN_UTF8);
        *p++ = '>';

        if (r->diagnostic != NULL && r->diagnostic[0] != '\0') {
            *p++ = ':';
            *p++ = ' ';
            n = strnlen(r->diagnostic, TN_STORE_QUEUE_ERROR_MAX);
            p += tn_mail_out_dsn_clean(p, (u_char *) r->diagnostic, n,
                                       TN_MAIL_OUT_DSN_ASCII);
        }

        if (tn_mail_out_dsn_field(ctx, NULL, ctx->line, p - ctx->line)
            != TN_OK)
        {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


/* part 2: for programs (RFC 3464 2.2, 2.3) */

static tn_int_t
tn_mail_out_dsn_status(tn_mail_out_dsn_ctx_t *ctx)
{
    u_char                *p;
    size_t                 n;
    tn_uint_t              i;
    tn_store_queue_env_t  *env;

    env = ctx->env;

    if (tn_mail_out_dsn_part(ctx, "Delivery report",
                             ctx->global ? "message/global-delivery-status"
                                         : "message/delivery-status",
                             ctx->global)
        != TN_OK)
    {
        return TN_ERROR;
    }

    p = tn_cpymem(ctx->line, "dns; ", 5);
    n = tn_min(ctx->dsn->reporting_mta.len, 255);
    p += tn_mail_out_dsn_clean(p, ctx->dsn->reporting_mta.data, n,
                               TN_MAIL_OUT_DSN_ASCII);

    if (tn_mail_out_dsn_field(ctx, "Reporting-MTA", ctx->line,
                              p - ctx->line)
        != TN_OK)
    {
        return TN_ERROR;
    }

    if (env->id[0] != '\0') {
        n = strnlen(env->id, sizeof(env->id));
        n = tn_mail_out_dsn_clean(ctx->line, (u_char *) env->id, n,
                                  TN_MAIL_OUT_DSN_ASCII);

        if (tn_mail_out_dsn_field(ctx, "X-Tern-Queue-ID", ctx->line, n)
            != TN_OK)
        {
            return TN_ERROR;
        }
    }

    if (env->envid[0] != '\0') {
        /* RFC 3461 4.4: the ENVID goes back as the xtext it came in */
        n = strnlen(env->envid, sizeof(env->envid));
        n = tn_mail_out_dsn_xtext(ctx->line, (u_char *) env->envid, n);

        if (tn_mail_out_dsn_field(ctx, "Original-Envelope-Id", ctx->line, n)
            != TN_OK)
        {
            return TN_ERROR;
        }
    }

    if (tn_mail_out_dsn_date(ctx, "Arrival-Date",
                             env->received ? env->received : ctx->dsn->now)
        != TN_OK)
    {
        return TN_ERROR;
    }

    for (i = 0; i < ctx->dsn->nrcpts; i++) {
        if (tn_mail_out_dsn_rcpt(ctx, &ctx->dsn->rcpts[i]) != TN_OK) {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


/* the per-recipient fields of one recipient, after an empty line */

static tn_int_t
tn_mail_out_dsn_rcpt(tn_mail_out_dsn_ctx_t *ctx, tn_mail_out_dsn_rcpt_t *r)
{
    u_char       *p;
    size_t        n;
    const char   *code;

    if (tn_mail_out_dsn_str(ctx, "\n") != TN_OK) {
        return TN_ERROR;
    }

    if (r->rcpt->orcpt[0] != '\0'
        && tn_mail_out_dsn_orcpt(ctx, r->rcpt) != TN_OK)
    {
        return TN_ERROR;
    }

    /* RFC 6533 3: a non-ASCII address is of the type "utf-8" */

    n = strnlen(r->rcpt->address, sizeof(r->rcpt->address));

    if (tn_mail_out_dsn_ascii(r->rcpt->address, n)) {
        p = tn_cpymem(ctx->line, "rfc822; ", 8);

    } else {
        p = tn_cpymem(ctx->line, "utf-8; ", 7);
    }

    p += tn_mail_out_dsn_clean(p, (u_char *) r->rcpt->address, n,
                               TN_MAIL_OUT_DSN_UTF8);

    code = tn_mail_out_dsn_code(r);

    if (tn_mail_out_dsn_field(ctx, "Final-Recipient", ctx->line,
                              p - ctx->line)
        != TN_OK
        || tn_mail_out_dsn_field(ctx, "Action",
                                 (u_char *) tn_mail_out_dsn_actions[r->action],
                                 tn_strlen(tn_mail_out_dsn_actions[r->action]))
           != TN_OK
        || tn_mail_out_dsn_field(ctx, "Status", (u_char *) code,
                                 tn_strlen(code))
           != TN_OK)
    {
        return TN_ERROR;
    }

    if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
        p = tn_cpymem(ctx->line, "dns; ", 5);
        n = strnlen(r->remote_mta, 255);
        p += tn_mail_out_dsn_clean(p, (u_char *) r->remote_mta, n,
                                   TN_MAIL_OUT_DSN_ASCII);

        if (tn_mail_out_dsn_field(ctx, "Remote-MTA", ctx->line,
                                  p - ctx->line)
            != TN_OK)
        {
            return TN_ERROR;
        }
    }

    if (r->diagnostic != NULL && r->diagnostic[0] != '\0'
        && tn_mail_out_dsn_diagnostic(ctx, r->diagnostic) != TN_OK)
    {
        return TN_ERROR;
    }

    if (r->last_attempt
        && tn_mail_out_dsn_date(ctx, "Last-Attempt-Date", r->last_attempt)
           != TN_OK)
    {
        return TN_ERROR;
    }

    if (r->action == TN_MAIL_OUT_DSN_DELAYED && r->retry_until
        && tn_mail_out_dsn_date(ctx, "Will-Retry-Until", r->retry_until)
           != TN_OK)
    {
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * Original-Recipient: the ORCPT's address type, and its address decoded
 * from xtext (RFC 3464 2.3.1).  A "utf-8" address (RFC 6533) stays in
 * its utf-8-addr-xtext form, which has no '+' to decode.
 */

static tn_int_t
tn_mail_out_dsn_orcpt(tn_mail_out_dsn_ctx_t *ctx, tn_store_queue_rcpt_t *qr)
{
    u_char  *p, *semi, *last, buf[sizeof(qr->orcpt)];
    size_t   len, n;

    len = strnlen(qr->orcpt, sizeof(qr->orcpt));
    last = (u_char *) qr->orcpt + len;
    semi = memchr(qr->orcpt, ';', len);

    if (semi == NULL) {
        /* the SMTP server does not take one like it */
        return TN_OK;
    }

    p = ctx->line;
    p += tn_mail_out_dsn_clean(p, (u_char *) qr->orcpt,
                               semi - (u_char *) qr->orcpt,
                               TN_MAIL_OUT_DSN_ASCII);
    *p++ = ';';
    *p++ = ' ';

    n = tn_mail_out_dsn_unxtext(buf, semi + 1, last - semi - 1);
    p += tn_mail_out_dsn_clean(p, buf, n, ctx->global ? TN_MAIL_OUT_DSN_UTF8
                                                      : TN_MAIL_OUT_DSN_ASCII);

    return tn_mail_out_dsn_field(ctx, "Original-Recipient", ctx->line,
                                 p - ctx->line);
}


/*
 * Diagnostic-Code: "smtp; " and the reply when the text is or has one
 * ("host[addr] said: 550 5.1.1 ..."), "X-Tern; " and the text when it
 * is Tern's own (a connection or DNS failure).
 */

static tn_int_t
tn_mail_out_dsn_diagnostic(tn_mail_out_dsn_ctx_t *ctx, const char *text)
{
    u_char       *p, *reply, *last;
    size_t        n;
    const char   *type;

    n = strnlen(text, TN_STORE_QUEUE_ERROR_MAX);
    last = (u_char *) text + n;

    reply = (u_char *) text;

    if (!(n >= 3 && reply[0] >= '2' && reply[0] <= '5'
          && isdigit(reply[1]) && isdigit(reply[2])
          && (n == 3 || reply[3] == ' ' || reply[3] == '-')))
    {
        reply = tn_strnstr((u_char *) text, " said: ", n);

        if (reply != NULL) {
            reply += 7;

            if (!(last - reply >= 3 && reply[0] >= '2' && reply[0] <= '5'
                  && isdigit(reply[1]) && isdigit(reply[2])))
            {
                reply = NULL;
            }
        }
    }

    if (reply != NULL) {
        type = "smtp; ";

    } else {
        type = "X-Tern; ";
        reply = (u_char *) text;
    }

    p = tn_cpymem(ctx->line, type, tn_strlen(type));
    p += tn_mail_out_dsn_clean(p, reply, last - reply,
                               TN_MAIL_OUT_DSN_ASCII);

    return tn_mail_out_dsn_field(ctx, "Diagnostic-Code", ctx->line,
                                 p - ctx->line);
}


/* part 3: the message or its header, copied as it is */

static tn_int_t
tn_mail_out_dsn_returned(tn_mail_out_dsn_ctx_t *ctx)
{
    off_t        off;
    size_t       want;
    ssize_t      n;
    const char  *type, *description;

    switch (ctx->ret) {

    case TN_MAIL_OUT_DSN_RETURN_FULL:
        /* only a notice of a failure returns all of the message */
        type = ctx->env->smtputf8 ? "message/global" : "message/rfc822";
        description = "Undelivered message";
        break;

    case TN_MAIL_OUT_DSN_RETURN_HDRS:
        type = ctx->env->smtputf8 ? "message/global-headers"
                                  : "text/rfc822-headers";
        description = "Message header";
        break;

    default: /* TN_MAIL_OUT_DSN_RETURN_NONE */
        return TN_OK;
    }

    if (tn_mail_out_dsn_part(ctx, description, type, ctx->ret_8bit)
        != TN_OK
        || tn_mail_out_dsn_flush(ctx) != TN_OK)
    {
        return TN_ERROR;
    }

    off = 0;

    while (off < ctx->ret_len) {

        want = sizeof(ctx->in);

        if ((off_t) want > ctx->ret_len - off) {
            want = (size_t) (ctx->ret_len - off);
        }

        n = pread(ctx->msg, ctx->in, want, off);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            tn_log_error(TN_LOG_ERR, ctx->log, errno,
                         "dsn: pread(\"%s\") failed", ctx->dsn->msg_path);
            return TN_ERROR;
        }

        if (n == 0) {
            tn_log_error(TN_LOG_ERR, ctx->log, 0,
                         "dsn: \"%s\" became shorter", ctx->dsn->msg_path);
            errno = EIO;
            return TN_ERROR;
        }

        if (tn_write_fd(ctx->fd, ctx->in, n) != n) {
            return TN_ERROR;
        }

        off += n;
    }

    return TN_OK;
}


/* a delimiter line and a body part's header */

static tn_int_t
tn_mail_out_dsn_part(tn_mail_out_dsn_ctx_t *ctx, const char *description,
    const char *type, tn_uint_t eight_bit)
{
    if (tn_mail_out_dsn_str(ctx, "\n--") != TN_OK
        || tn_mail_out_dsn_out(ctx, ctx->boundary, ctx->boundary_len)
           != TN_OK
        || tn_mail_out_dsn_str(ctx, "\nContent-Description: ") != TN_OK
        || tn_mail_out_dsn_str(ctx, description) != TN_OK
        || tn_mail_out_dsn_str(ctx, "\nContent-Type: ") != TN_OK
        || tn_mail_out_dsn_str(ctx, type) != TN_OK
        || tn_mail_out_dsn_str(ctx, "\n") != TN_OK)
    {
        return TN_ERROR;
    }

    if (eight_bit
        && tn_mail_out_dsn_str(ctx, "Content-Transfer-Encoding: 8bit\n")
           != TN_OK)
    {
        return TN_ERROR;
    }

    return tn_mail_out_dsn_str(ctx, "\n");
}


/*
 * Writes "name: value" and a line end, or with name NULL a line of text.
 * A header field is folded before a space when the word after it would
 * take the line past TN_MAIL_OUT_DSN_FOLD columns (the space begins the
 * next line, so that unfolding gives the value back); no line passes
 * TN_MAIL_OUT_DSN_HARD octets: a longer run without a space is broken
 * there, never inside a UTF-8 character (the queue's limits keep values
 * far below that).
 */

static tn_int_t
tn_mail_out_dsn_field(tn_mail_out_dsn_ctx_t *ctx, const char *name,
    u_char *value, size_t len)
{
    u_char  *p, *q, *last;
    size_t   col, start;

    col = 0;
    start = 0;

    if (name != NULL) {
        if (tn_mail_out_dsn_str(ctx, name) != TN_OK
            || tn_mail_out_dsn_str(ctx, ": ") != TN_OK)
        {
            return TN_ERROR;
        }

        col = tn_strlen(name) + 2;
        start = col;
    }

    last = value + len;

    for (p = value; p < last; p++) {

        if (name != NULL && *p == ' ' && col > start) {

            /* the spaces and the word that follow */
            for (q = p; q < last && *q == ' '; q++) { /* void */ }
            for ( /* void */ ; q < last && *q != ' '; q++) { /* void */ }

            if (col + (q - p) > TN_MAIL_OUT_DSN_FOLD && q[-1] != ' ') {
                if (tn_mail_out_dsn_str(ctx, "\n") != TN_OK) {
                    return TN_ERROR;
                }

                /* the next line's first space: it does not fold there */
                col = 0;
                start = 1;
            }
        }

        if (col >= TN_MAIL_OUT_DSN_HARD && (*p & 0xc0) != 0x80) {
            if (tn_mail_out_dsn_str(ctx, name ? "\n " : "\n") != TN_OK) {
                return TN_ERROR;
            }

            col = name ? 1 : 0;
        }

        if (ctx->pos == ctx->out + sizeof(ctx->out)
            && tn_mail_out_dsn_flush(ctx) != TN_OK)
        {
            return TN_ERROR;
        }

        *ctx->pos++ = *p;
        col++;
    }

    return tn_mail_out_dsn_str(ctx, "\n");
}


static tn_int_t
tn_mail_out_dsn_date(tn_mail_out_dsn_ctx_t *ctx, const char *name, time_t t)
{
    u_char  *p, date[64];

    p = tn_rfc5322_time(date, t ? t : time(NULL));

    return tn_mail_out_dsn_field(ctx, name, date, p - date);
}


static tn_int_t
tn_mail_out_dsn_str(tn_mail_out_dsn_ctx_t *ctx, const char *s)
{
    return tn_mail_out_dsn_out(ctx, s, tn_strlen(s));
}


static tn_int_t
tn_mail_out_dsn_out(tn_mail_out_dsn_ctx_t *ctx, const void *data, size_t len)
{
    size_t         n;
    const u_char  *p;

    p = data;

    while (len) {
        n = ctx->out + sizeof(ctx->out) - ctx->pos;

        if (n == 0) {
            if (tn_mail_out_dsn_flush(ctx) != TN_OK) {
                return TN_ERROR;
            }

            continue;
        }

        n = tn_min(n, len);
        ctx->pos = tn_cpymem(ctx->pos, p, n);
        p += n;
        len -= n;
    }

    return TN_OK;
}


static tn_int_t
tn_mail_out_dsn_flush(tn_mail_out_dsn_ctx_t *ctx)
{
    size_t  n;

    n = ctx->pos - ctx->out;

    if (n == 0) {
        return TN_OK;
    }

    if (tn_write_fd(ctx->fd, ctx->out, n) != (ssize_t) n) {
        /* errno is write()'s */
        return TN_ERROR;
    }

    ctx->pos = ctx->out;

    return TN_OK;
}


/*
 * Copies len bytes of a value into dst (room for len): control bytes,
 * DEL and bytes above 0x7f become '?', but for well-formed UTF-8 with
 * TN_MAIL_OUT_DSN_UTF8.  Returns the length, which is len.
 */

static size_t
tn_mail_out_dsn_clean(u_char *dst, const u_char *src, size_t len,
    tn_uint_t utf8)
{
    size_t         n;
    u_char        *d;
    const u_char  *p, *last;

    d = dst;
    p = src;
    last = src + len;

    while (p < last) {

        if (*p >= 0x20 && *p < 0x7f) {
            *d++ = *p++;
            continue;
        }

        if (utf8 && *p >= 0x80) {
            n = tn_mail_out_dsn_utf8_len(p, last);

            if (n) {
                d = tn_cpymem(d, p, n);
                p += n;
                continue;
            }
        }

        *d++ = '?';
        p++;
    }

    return d - dst;
}


/* the length of the well-formed UTF-8 character at p (RFC 3629), or 0 */

static size_t
tn_mail_out_dsn_utf8_len(const u_char *p, const u_char *last)
{
    u_char  lo, hi;
    size_t  n, i;

    lo = 0x80;
    hi = 0xbf;

    if (*p >= 0xc2 && *p <= 0xdf) {
        n = 2;

    } else if (*p >= 0xe0 && *p <= 0xef) {
        n = 3;

        if (*p == 0xe0) {
            lo = 0xa0;          /* overlong */

        } else if (*p == 0xed) {
            hi = 0x9f;          /* surrogates */
        }

    } else if (*p >= 0xf0 && *p <= 0xf4) {
        n = 4;

        if (*p == 0xf0) {
            lo = 0x90;          /* overlong */

        } else if (*p == 0xf4) {
            hi = 0x8f;          /* past U+10FFFF */
        }

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


/* whether the string in s[size] is all ASCII */

static tn_uint_t
tn_mail_out_dsn_ascii(const char *s, size_t size)
{
    size_t  i;

    for (i = 0; i < size && s[i] != '\0'; i++) {
        if ((u_char) s[i] & 0x80) {
            return 0;
        }
    }

    return 1;
}


/* RFC 3461 4: xtext; dst has room for 3 * len */

static size_t
tn_mail_out_dsn_xtext(u_char *dst, const u_char *src, size_t len)
{
    u_char         *d;
    const u_char   *p, *last;
    static u_char   hex[] = "0123456789ABCDEF";

    d = dst;
    last = src + len;

    for (p = src; p < last; p++) {

        if (*p > 0x20 && *p < 0x7f && *p != '+' && *p != '=') {
            *d++ = *p;
            continue;
        }

        *d++ = '+';
        *d++ = hex[*p >> 4];
        *d++ = hex[*p & 0xf];
    }

    return d - dst;
}


/* xtext decoded; a '+' without two hex digits stays as it is */

static size_t
tn_mail_out_dsn_unxtext(u_char *dst, const u_char *src, size_t len)
{
    u_char         *d;
    tn_int_t        c;
    const u_char   *p, *last;

    d = dst;
    p = src;
    last = src + len;

    while (p < last) {

        if (*p == '+' && last - p >= 3
            && isxdigit(p[1]) && isxdigit(p[2]))
        {
            c = tn_hextoi((u_char *) p + 1, 2);

            if (c >= 0) {
                *d++ = (u_char) c;
                p += 3;
                continue;
            }
        }

        *d++ = *p++;
    }

    return d - dst;
}


/*
 * The status: the recipient's when it is a valid RFC 3463 code, else the
 * general one of the action's class.
 */

static const char *
tn_mail_out_dsn_code(tn_mail_out_dsn_rcpt_t *r)
{
    size_t       i, n;
    const char  *s;

    s = r->status;

    if (s != NULL && (s[0] == '2' || s[0] == '4' || s[0] == '5')
        && s[1] == '.')
    {
        /* class "." 1*3digit "." 1*3digit */

        i = 2;

        for (n = 0; n < 3 && isdigit((u_char) s[i]); n++, i++) {
            /* void */
        }

        if (n > 0 && s[i++] == '.') {

            for (n = 0; n < 3 && isdigit((u_char) s[i]); n++, i++) {
                /* void */
            }

            if (n > 0 && s[i] == '\0') {
                return s;
            }
        }
    }

    switch (r->action) {

    case TN_MAIL_OUT_DSN_FAILED:
        return "5.0.0";

    case TN_MAIL_OUT_DSN_DELAYED:
        return "4.0.0";

    default:
        return "2.0.0";
    }
}


static tn_int_t
tn_mail_out_dsn_random(u_char *buf, size_t len)
{
    return RAND_bytes(buf, len) == 1 ? TN_OK : TN_ERROR;
}
