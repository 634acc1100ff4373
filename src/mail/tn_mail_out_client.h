
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_OUT_CLIENT_H_INCLUDED_
#define _TN_MAIL_OUT_CLIENT_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include "tn_mail_out.h"


/*
 * Private to the outbound SMTP client, its unit tests and its fuzz
 * harness (the public contract is tn_mail_out.h).  Two parts: the byte
 * layer (tn_mail_out_client_parse.c: the reply parser, the EHLO
 * keywords, the message text encoder, xtext), which allocates nothing
 * and does no I/O; and the session shared by tn_mail_out_client.c and
 * tn_mail_out_client_tx.c.
 */


/* RFC 5321 4.5.3.1.5: a reply line with its CRLF */
#define TN_MAIL_OUT_REPLY_LINE_MAX    512
/* lines of one reply; a longer one is a protocol error */
#define TN_MAIL_OUT_REPLY_LINES_MAX   100
/* what is kept of a reply's text: its lines joined with spaces */
#define TN_MAIL_OUT_REPLY_TEXT_MAX    512
/* "5.123.456" and its NUL */
#define TN_MAIL_OUT_ESC_MAX           16

/* RFC 5322 2.1.1: a line of the message without its CRLF */
#define TN_MAIL_OUT_LINE_MAX          998

/* protocol return codes of tn_mail_out_parse_reply() (> 0, tn_core.h) */
#define TN_MAIL_OUT_REPLY_INVALID     10
#define TN_MAIL_OUT_REPLY_TOO_LONG    11


typedef struct {
    tn_uint_t   state;          /* sw_* */
    tn_uint_t   code;           /* 200..599, once a line was returned */
    tn_uint_t   lines;          /* complete lines of the current reply */
    size_t      line_len;       /* bytes scanned of the current line */
    unsigned    last:1;         /* the line returned ends the reply */

    /* the line just returned: its text after "NNN-"/"NNN ", no CRLF */
    tn_str_t    line;

    /*
     * The reply so far: its lines as sent (with their codes), joined by
     * single spaces, bytes outside printable ASCII replaced with '?',
     * cut at TN_MAIL_OUT_REPLY_TEXT_MAX; and the RFC 3463 code at the
     * start of its first line ("5.1.1") when its class is the reply's,
     * or "".
     */
    size_t      text_len;
    u_char      text[TN_MAIL_OUT_REPLY_TEXT_MAX];
    char        esc[TN_MAIL_OUT_ESC_MAX];

    const char *error;          /* after an error: what was wrong */
} tn_mail_out_reply_t;


/* before the first reply of a connection (or after the plain text) */
void tn_mail_out_reply_init(tn_mail_out_reply_t *r);

/*
 * Parses one line of an SMTP reply from [b->pos, b->last): "NNN-text"
 * (more lines follow), "NNN text" or "NNN" (the last line), NNN being
 * 200..599 and the same on every line of a reply, ended by CRLF (a bare
 * LF is taken as well, as other clients do; a CR elsewhere and a NUL are
 * errors), at most TN_MAIL_OUT_REPLY_LINE_MAX octets with the line end
 * and TN_MAIL_OUT_REPLY_LINES_MAX lines a reply.
 *
 * TN_OK: a line; r->line, r->code, r->text, r->esc; b->pos after it.
 * r->last: the reply is complete; the next call starts a new one (and
 * only then empties r->text).  r->line points into the buffer.
 *
 * TN_AGAIN: need more bytes.  b->pos is the start of the partial line and
 * r->line_len bytes of it were scanned: the caller keeps [b->pos,
 * b->last) and may move it.  A buffer of TN_MAIL_OUT_REPLY_LINE_MAX
 * octets always has room for a line that can be valid.
 *
 * TN_MAIL_OUT_REPLY_INVALID, TN_MAIL_OUT_REPLY_TOO_LONG: r->error says
 * why; the parser stays in the error (the caller drops the connection).
 */
tn_int_t tn_mail_out_parse_reply(tn_mail_out_reply_t *r, tn_buf_t *b);


/* what an EHLO reply offered */
typedef struct {
    unsigned    esmtp:1;        /* EHLO (not HELO) was answered */
    unsigned    pipelining:1;
    unsigned    size:1;
    unsigned    eightbitmime:1;
    unsigned    smtputf8:1;
    unsigned    chunking:1;
    unsigned    dsn:1;
    unsigned    starttls:1;
    unsigned    enhancedstatuscodes:1;
    unsigned    auth:1;
    unsigned    auth_plain:1;
    unsigned    auth_login:1;
    off_t       max_size;       /* SIZE n; 0: none given (or too big) */
} tn_mail_out_ext_t;

/*
 * One line of an EHLO reply after the first: "KEYWORD [PARAM...]"
 * (RFC 5321 4.1.1.1), keywords without case; "AUTH=..." (the old form)
 * counts as AUTH.  Unknown keywords are ignored.
 */
void tn_mail_out_ehlo_line(tn_mail_out_ext_t *ext, u_char *p, size_t len);


/*
 * The message text encoder: a stored message (LF line ends) to SMTP
 * text.  LF, CRLF and a bare CR each become CRLF, so that no bare CR or
 * LF is ever sent; with dot set (DATA) a line starting with '.' gets
 * another (RFC 5321 4.5.2).  Lines longer than TN_MAIL_OUT_LINE_MAX
 * octets are split as Postfix's smtp_line_length_limit does: in the
 * header (up to the first empty line) folded with CRLF and a space, in
 * the body broken with CRLF.  The stuffed dot counts toward the limit.
 */
typedef struct {
    size_t      col;            /* octets of the current output line */
    off_t       split;          /* lines split so far */
    unsigned    dot:1;          /* DATA: dot-stuffing */
    unsigned    header:1;       /* still in the header */
    unsigned    cr:1;           /* a CR was read: an LF after it is eaten */
    unsigned    has_8bit:1;     /* a byte >= 0x80 was seen */
} tn_mail_out_encode_t;

/* the room tn_mail_out_encode() needs for one input byte */
#define TN_MAIL_OUT_ENCODE_ROOM       4

void tn_mail_out_encode_init(tn_mail_out_encode_t *e, tn_uint_t dot);

/*
 * Encodes from [in->pos, in->last) to [out->last, out->end) until the
 * input is used up or out has less than TN_MAIL_OUT_ENCODE_ROOM bytes
 * free.  Resumable: any split of the input gives the same output.
 */
void tn_mail_out_encode(tn_mail_out_encode_t *e, tn_buf_t *in,
    tn_buf_t *out);

/*
 * The end of the input: a last line without its line end gets CRLF
 * (out needs 2 bytes).  The caller then adds ".\r\n" for DATA.
 */
void tn_mail_out_encode_finish(tn_mail_out_encode_t *e, tn_buf_t *out);


/*
 * RFC 3461 4 xtext of src (len bytes) into dst (3 * len bytes): '+',
 * '=' and bytes outside 33..126 as "+XX".  Returns the end of dst.
 */
u_char *tn_mail_out_xtext(u_char *dst, u_char *src, size_t len);

/* an ORCPT value "addr-type;xtext" that may be sent as it is */
tn_uint_t tn_mail_out_orcpt_valid(u_char *p, size_t len);

/*
 * Copies src to dst (at most size - 1 bytes and a NUL): bytes outside
 * printable ASCII become '?'.  Returns the length.
 */
size_t tn_mail_out_printable(u_char *dst, size_t size, u_char *src,
    size_t len);


/*
 * The session: shared by tn_mail_out_client.c (connections, the session
 * up to the first MAIL, failures, results) and tn_mail_out_client_tx.c
 * (the transactions).
 */


/* internal result states, never seen by the caller */
#define TN_MAIL_OUT_UNSET         0x100   /* not decided yet */
#define TN_MAIL_OUT_ACCEPTED      0x101   /* RCPT 2xx; the end of data next */

#define TN_MAIL_OUT_IN_SIZE       4096
#define TN_MAIL_OUT_OUT_SIZE      8192
/* a MAIL or RCPT line with every parameter: 2 addresses of 577 at most */
#define TN_MAIL_OUT_CMD_MAX       1536
/* the message file is read and written in pieces of this size */
#define TN_MAIL_OUT_DATA_SIZE     (64 * 1024)
/* room before a BDAT chunk for "BDAT 65536 LAST\r\n" */
#define TN_MAIL_OUT_BDAT_HEAD     32
/* with PIPELINING, BDAT chunks sent ahead of their replies */
#define TN_MAIL_OUT_BDAT_WINDOW   4
/* bytes written in one turn of the loop before others get theirs */
#define TN_MAIL_OUT_WRITE_TURN    (1024 * 1024)

/* tn_mail_out_command() failed: a server answering ahead of us */
#define TN_MAIL_OUT_AHEAD         "replies came before their commands"

/* the commands of the envelope, for the generator */
#define TN_MAIL_OUT_CMD_NONE      0
#define TN_MAIL_OUT_CMD_MAIL      1
#define TN_MAIL_OUT_CMD_RCPT      2
#define TN_MAIL_OUT_CMD_DATA      3


typedef enum {
    tn_out_state_connect = 0,      /* connect() in progress */
    tn_out_state_tls_wrapper,      /* the handshake of implicit TLS */
    tn_out_state_greeting,         /* waiting for the 220 */
    tn_out_state_ehlo,
    tn_out_state_helo,             /* EHLO got 5xx */
    tn_out_state_starttls,
    tn_out_state_tls,              /* the handshake after STARTTLS */
    tn_out_state_auth,             /* AUTH PLAIN <ir> or AUTH LOGIN */
    tn_out_state_auth_user,        /* LOGIN: the user name was sent */
    tn_out_state_auth_pass,        /* LOGIN: the password was sent */
    tn_out_state_envelope,         /* MAIL, RCPT, DATA and their replies */
    tn_out_state_data,             /* the message after 354 */
    tn_out_state_dot,              /* the reply to the end of data */
    tn_out_state_bdat,             /* BDAT chunks and their replies */
    tn_out_state_rset,
    tn_out_state_quit,             /* QUIT written; the reply is not read */
    tn_out_state_done
} tn_mail_out_state_e;


/* an outcome for results: the last error, a reply */
typedef struct {
    tn_uint_t               status;        /* TN_MAIL_OUT_OK/DEFER/FAIL */
    char                    dsn[TN_MAIL_OUT_ESC_MAX];
    unsigned                remote:1;      /* said by the remote server */
    u_char                  text[TN_STORE_QUEUE_ERROR_MAX];
} tn_mail_out_err_t;


typedef struct {
    tn_mail_out_job_t      *job;
    tn_pool_t              *pool;          /* the job's: ctx and buffers */
    tn_connection_t        *connection;    /* NULL between connections */
    tn_log_t                log;
    tn_event_t              done;          /* posted: the handler runs */

    tn_mail_out_state_e     state;
    tn_uint_t               target;        /* index into job->targets */
    tn_uint_t               pending;       /* replies expected */
    tn_msec_t               reply_timeout; /* for the replies expected */

    unsigned                started:1;     /* a MAIL went out here */
    unsigned                no_tls:1;      /* this connection stays plain */
    unsigned                tls_retry:1;   /* same target again, plain */
    unsigned                rset:1;        /* RSET before the next MAIL */
    unsigned                secret:1;      /* ctx->out holds AUTH data */
    unsigned                plain_log:1;   /* no "while ..." in the log */
    unsigned                warned_8bit:1;

    /* the target: "host[ip]", "host[ip]:port"; printable */
    tn_str_t                peer;
    tn_str_t                peer_port;
    char                    host[256];     /* the host name, printable */
    char                    helo[256];     /* our name, printable */
    u_char                  peer_buf[256 + TN_SOCKADDR_STRLEN + 4];

    tn_mail_out_ext_t       ext;
    tn_mail_out_reply_t     reply;
    tn_buf_t               *in;
    tn_buf_t               *out;

    tn_mail_out_err_t       error;         /* the last failure */
    tn_mail_out_err_t       mail_error;    /* MAIL refused: its reply */

    /* the message under way */
    tn_queue_t             *q;             /* its link in job->msgs */
    tn_mail_out_msg_t      *msg;
    u_char                 *sendable;      /* per recipient: in this tx */
    tn_uint_t               max_rcpts;
    tn_uint_t               cmd;           /* the generator's next */
    tn_uint_t               cmd_rcpt;
    tn_uint_t               rcpts_sent;    /* RCPTs queued */
    tn_uint_t               replies;       /* replies of this envelope */
    tn_uint_t               reply_rcpt;    /* whose RCPT reply is next */
    tn_uint_t               accepted;
    unsigned                mail_failed:1;
    unsigned                utf8:1;        /* SMTPUTF8 and raw addresses */
    unsigned                discard:1;     /* 354 without recipients */
    unsigned                data_eof:1;    /* the whole text is queued */
    unsigned                bdat_last:1;   /* BDAT LAST is queued */
    unsigned                bdat_failed:1;
    unsigned                delivered_to:1; /* its header still to go */
    tn_uint_t               bdat_pending;

    off_t                   size;          /* the text with CRLF */
    tn_fd_t                 fd;
    off_t                   file_size;
    off_t                   file_off;
    tn_mail_out_encode_t    enc;
    tn_buf_t               *din;           /* read from the file */
    tn_buf_t               *dout;          /* encoded, to the socket */
} tn_mail_out_ctx_t;


/* tn_mail_out_client.c */
tn_int_t tn_mail_out_flush(tn_mail_out_ctx_t *ctx);
tn_int_t tn_mail_out_command(tn_mail_out_ctx_t *ctx, const char *fmt, ...);
void tn_mail_out_wait(tn_mail_out_ctx_t *ctx, tn_msec_t timeout);
void tn_mail_out_enter_state(tn_mail_out_ctx_t *ctx,
    tn_mail_out_state_e state);
void tn_mail_out_log(tn_mail_out_ctx_t *ctx, const char *fmt, ...);
tn_int_t tn_mail_out_lost(tn_mail_out_ctx_t *ctx);
tn_int_t tn_mail_out_protocol(tn_mail_out_ctx_t *ctx, const char *what);
tn_int_t tn_mail_out_failed(tn_mail_out_ctx_t *ctx, tn_uint_t quit);
tn_int_t tn_mail_out_finish(tn_mail_out_ctx_t *ctx);
void tn_mail_out_close_file(tn_mail_out_ctx_t *ctx);
void tn_mail_out_error(tn_mail_out_ctx_t *ctx, tn_mail_out_err_t *err,
    tn_uint_t status, const char *dsn, const char *fmt, ...);
void tn_mail_out_error_reply(tn_mail_out_ctx_t *ctx, tn_mail_out_err_t *err,
    const char *cmd);
void tn_mail_out_set_result(tn_mail_out_ctx_t *ctx, tn_mail_out_msg_t *msg,
    tn_uint_t i, tn_mail_out_err_t *err);

/* tn_mail_out_client_tx.c: from the first MAIL on */
tn_int_t tn_mail_out_next_message(tn_mail_out_ctx_t *ctx);
void tn_mail_out_generate(tn_mail_out_ctx_t *ctx);
tn_int_t tn_mail_out_envelope_reply(tn_mail_out_ctx_t *ctx);
tn_int_t tn_mail_out_send_data(tn_mail_out_ctx_t *ctx);
tn_int_t tn_mail_out_dot_reply(tn_mail_out_ctx_t *ctx);
tn_int_t tn_mail_out_bdat_reply(tn_mail_out_ctx_t *ctx);
tn_int_t tn_mail_out_rset_reply(tn_mail_out_ctx_t *ctx);


#define tn_mail_out_class(ctx)  ((ctx)->reply.code / 100)


#endif /* _TN_MAIL_OUT_CLIENT_H_INCLUDED_ */
