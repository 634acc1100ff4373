
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_PARSE_H_INCLUDED_
#define _TN_MAIL_PARSE_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 * The byte-level parsers of SMTP and POP3: command lines, the raw lines
 * of a SASL exchange, MAIL/RCPT paths and parameters, the DATA stream,
 * the POP3 multi-line output of RETR/TOP and SASL PLAIN.
 *
 * None of them allocates.  The line and stream parsers are resumable
 * state machines: bytes may arrive in any split, and a byte-by-byte feed
 * gives the same result as the whole input.
 */


/* protocol return codes of the line parsers (> 0, see tn_core.h) */
#define TN_MAIL_PARSE_INVALID_COMMAND  10
#define TN_MAIL_PARSE_LINE_TOO_LONG    11


#define TN_MAIL_MAX_ARGS               2
/* a verb longer than this is INVALID, not UNKNOWN */
#define TN_MAIL_MAX_VERB               16

#define TN_SMTP_MAX_PARAMS             16
/* RFC 5321 4.5.3.1: local part, domain and path (with the brackets) */
#define TN_SMTP_LOCAL_MAX              64
#define TN_SMTP_DOMAIN_MAX             255
#define TN_SMTP_PATH_MAX               256

/* SASL PLAIN field limits */
#define TN_MAIL_AUTH_USER_MAX          255
#define TN_MAIL_AUTH_PASS_MAX          1024


/* p->command after an SMTP command line; 0 before the first one */
#define TN_SMTP_UNKNOWN                1
#define TN_SMTP_HELO                   2
#define TN_SMTP_EHLO                   3
#define TN_SMTP_MAIL                   4
#define TN_SMTP_RCPT                   5
#define TN_SMTP_DATA                   6
#define TN_SMTP_BDAT                   7
#define TN_SMTP_RSET                   8
#define TN_SMTP_NOOP                   9
#define TN_SMTP_QUIT                   10
#define TN_SMTP_VRFY                   11
#define TN_SMTP_EXPN                   12
#define TN_SMTP_HELP                   13
#define TN_SMTP_STARTTLS               14
#define TN_SMTP_AUTH                   15

/* p->command after a POP3 command line */
#define TN_POP3_UNKNOWN                1
#define TN_POP3_USER                   2
#define TN_POP3_PASS                   3
#define TN_POP3_APOP                   4
#define TN_POP3_AUTH                   5
#define TN_POP3_CAPA                   6
#define TN_POP3_STLS                   7
#define TN_POP3_STAT                   8
#define TN_POP3_LIST                   9
#define TN_POP3_UIDL                   10
#define TN_POP3_TOP                    11
#define TN_POP3_RETR                   12
#define TN_POP3_DELE                   13
#define TN_POP3_RSET                   14
#define TN_POP3_NOOP                   15
#define TN_POP3_QUIT                   16


typedef struct {
    tn_uint_t   state;          /* sw_* of the current parser */
    tn_uint_t   command;        /* TN_SMTP_EHLO … / TN_POP3_USER … */
    tn_str_t    cmd;            /* the verb as sent */
    tn_uint_t   nargs;
    /*
     * POP3: split by spaces (runs of spaces and trailing spaces are
     * skipped), at most 2, more is INVALID; except PASS, whose only
     * argument is the whole rest of the line after the verb and one space
     * (passwords may contain spaces).
     * SMTP: args[0] is the whole rest of the line after the verb and one
     * space, as sent; nargs is 0 when that rest is empty.
     * tn_mail_parse_line(): args[0] is the whole line without its CRLF,
     * nargs is 1 even for an empty line.
     */
    tn_str_t    args[TN_MAIL_MAX_ARGS];
    size_t      line_len;       /* bytes seen of the current line */
    size_t      max_line;       /* set by the caller, with the CRLF; 0: none */
    u_char     *line_start;     /* == b->pos after TN_AGAIN, see below */

    /* private: offsets from the line start, so the caller may move data */
    size_t      cmd_len;
    size_t      arg_off[TN_MAIL_MAX_ARGS];
    size_t      arg_end[TN_MAIL_MAX_ARGS];
} tn_mail_parse_t;


/*
 * Parses one command line from [b->pos, b->last).
 *
 * TN_OK: a complete CRLF-terminated command, b->pos is just after it;
 * p->command, p->cmd and p->args point into the buffer (valid until the
 * caller moves data).  Unknown verbs of letters only, at most
 * TN_MAIL_MAX_VERB of them, give TN_OK with TN_SMTP_UNKNOWN/
 * TN_POP3_UNKNOWN; an empty line, a verb longer than that or with any
 * other byte (a leading space, a digit, 8-bit) is INVALID.
 *
 * TN_AGAIN: need more bytes.  b->pos is left at the start of the partial
 * line (p->line_start == b->pos) and p->line_len bytes of it were
 * scanned: the caller keeps [b->pos, b->last) and may move it (e.g.
 * tn_buf_compact()); the next call resumes at b->pos + p->line_len.  When
 * the buffer is full (b->pos == b->start, b->last == b->end) and the
 * result is TN_AGAIN, the caller calls tn_mail_parse_overflow().  While
 * the parser skips a bad line (below), TN_AGAIN consumes everything
 * (b->pos == b->last): there is nothing to keep.
 *
 * TN_MAIL_PARSE_INVALID_COMMAND: a syntax error, a bare LF, a bare CR, a
 * CR not followed by LF or a NUL anywhere in the line.
 * TN_MAIL_PARSE_LINE_TOO_LONG: the line with its CRLF is longer than
 * p->max_line.
 * On both the bad line is consumed (b->pos after its LF), so the next
 * command parses cleanly; if its LF has not arrived yet, the parser skips
 * and returns TN_AGAIN until it has, then the error code.
 *
 * The first bad byte decides: a line that is INVALID before it grows past
 * max_line is INVALID, and the other way round.
 */
tn_int_t tn_mail_smtp_parse_command(tn_mail_parse_t *p, tn_buf_t *b);
tn_int_t tn_mail_pop3_parse_command(tn_mail_parse_t *p, tn_buf_t *b);

/*
 * A raw line (a SASL response of AUTH in SMTP and POP3): the same
 * contract and CRLF rules, the line without its CRLF in args[0].
 */
tn_int_t tn_mail_parse_line(tn_mail_parse_t *p, tn_buf_t *b);

/*
 * The line being read no longer fits in the buffer: switches to skipping
 * until LF (then TN_MAIL_PARSE_LINE_TOO_LONG) and consumes the buffered
 * bytes (b->pos = b->last), so the caller may drop them.
 */
void tn_mail_parse_overflow(tn_mail_parse_t *p, tn_buf_t *b);

/* back to the start of a line; keeps max_line */
void tn_mail_parse_reset(tn_mail_parse_t *p);

/*
 * A decimal number of 1 or more digits (no sign, no spaces): the value,
 * or TN_ERROR for an empty string, a non-digit, overflow or a value above
 * max (max must not exceed TN_MAX_INT_T_VALUE).
 */
tn_int_t tn_mail_parse_number(tn_str_t *s, tn_uint_t max);


typedef struct {
    tn_str_t    local;      /* the local part as sent, quotes included */
    tn_str_t    domain;     /* address literals keep their brackets */
    tn_str_t    addr;       /* local@domain as sent; empty for <> */
    unsigned    null_path:1;
    unsigned    quoted:1;   /* the local part is a quoted-string */
    unsigned    utf8:1;     /* the path has a non-ASCII byte (RFC 6531) */
    tn_uint_t   nparams;
    tn_keyval_t params[TN_SMTP_MAX_PARAMS];  /* value empty: no '=' */
} tn_smtp_path_t;

/*
 * arg: the text after "MAIL " or "RCPT ", e.g.
 * "FROM:<a@b> SIZE=123 BODY=8BITMIME"; is_rcpt selects "TO:".
 *
 * TN_OK, with every tn_str_t of path pointing into arg; or TN_ERROR and a
 * static reply text in *err (no CRLF), e.g. "501 5.1.7 Bad sender address
 * syntax", "501 5.1.3 Bad recipient address syntax", "501 5.5.4 Syntax
 * error in parameters".
 *
 * Syntax (RFC 5321 4.1.2): "FROM:" / "TO:" case-insensitive, one optional
 * space, "<", an optional source route "@a,@b:" (checked, then dropped),
 * a Dot-string or quoted-string local part, "@", a domain (letters,
 * digits and hyphens in labels of 1..63 not starting or ending with '-')
 * or an address literal "[1.2.3.4]" / "[IPv6:...]", ">".  "<>" only for
 * MAIL; a path without a domain only as RCPT TO:<postmaster> (any case;
 * domain empty).  The local part "" is valid syntax and is returned (the
 * store refuses it).  Limits, in octets: local part 64, domain 255, path
 * 256 with its brackets.  Then zero or more " keyword[=value]": keyword
 * ALPHA/DIGIT *(ALPHA/DIGIT/'-'), value 1*(printable ASCII but '=');
 * at most TN_SMTP_MAX_PARAMS, no duplicates (case-insensitive), SIZE must
 * pass tn_smtp_param_size().  Trailing spaces are ignored.
 *
 * UTF-8 (RFC 6531 3.3): the local part (atext and qtextSMTP, not the
 * quoted-pair) and the domain labels (U-labels; a label starts and ends
 * with a letter, digit or non-ASCII character) may hold UTF8-non-ascii
 * characters, and so may the domains of a source route.  Only well-formed
 * UTF-8 without C1 controls passes (see tn_utf8_decode(): no overlong
 * form, surrogate, code point above U+10FFFF or truncated sequence, also
 * at the end of arg); anything else is the bad address syntax error.
 * path->utf8 is then set, and the parser does NOT refuse it: the caller
 * answers "553 5.6.7" when the client did not give SMTPUTF8.  Address
 * literals and ESMTP parameters stay ASCII: an 8-bit byte in a keyword or
 * value is "501 5.5.4 Syntax error in parameters".  U-labels are returned
 * as sent; tn_idna_to_ascii() gives their A-label form.
 */
tn_int_t tn_mail_smtp_parse_path(tn_str_t *arg, tn_uint_t is_rcpt,
    tn_smtp_path_t *path, const char **err);

/* SIZE=value: 1..20 digits and no off_t overflow; TN_OK or TN_ERROR */
tn_int_t tn_smtp_param_size(tn_str_t *value, off_t *size);


typedef struct {
    tn_uint_t   state;
    off_t       size;       /* message bytes, LF line ends (see below) */
    off_t       vsize;      /* the same with CRLF line ends */
    off_t       max_size;   /* 0: no limit */
    tn_uint_t   lines;
    unsigned    bare_lf:1;  /* a LF not preceded by CR was seen */
    unsigned    bare_cr:1;  /* a CR not followed by LF was seen */
    unsigned    nul:1;
    unsigned    too_big:1;  /* vsize went past max_size */
    unsigned    header_end:1;  /* the empty line after the header was seen */
    unsigned    bdat:1;     /* BDAT chunks: no dot-stuffing, no end line */
} tn_mail_data_parse_t;

/* zeroes p and sets max_size; bdat: parse BDAT chunk data, not DATA */
void tn_mail_data_parse_init(tn_mail_data_parse_t *p, off_t max_size,
    tn_uint_t bdat);

/*
 * Reads DATA bytes from in [pos, last), writes the message into out
 * [last, end) with "\r\n" turned into "\n" and dot-stuffing removed.
 *
 * TN_DONE: the end-of-data line was read; in->pos is just after it, and
 * the terminating ".\r\n" is not written (the CRLF before the dot ends the
 * last line and is).  The data starts as if preceded by CRLF, so a first
 * line "." ends an empty message.  Further calls return TN_DONE.
 * TN_AGAIN: in is used up or out is full (call again after flushing out;
 * each call writes at least one byte when out has room).
 *
 * ONLY CR LF "." CR LF ends the data: "\n.\n", "\r.\r", "\r.\n", "\n.\r",
 * "\n.\r\n", "\r\n.\n", "\r.\r\n", "\r\n.\r", "\r\n\0.\r\n",
 * "\r\n.\0\r\n" do not; they set bare_lf/bare_cr/nul and the parse goes on
 * to the real end, so a smuggled second message is never seen as
 * commands.  The handler then rejects the whole message.
 *
 * Once bare_lf, bare_cr, nul or too_big is set, nothing more is written;
 * size, vsize, lines and the end detection go on (size then counts what
 * would have been written, a bare LF or CR as a line end).  Without those
 * flags, size is exactly the number of bytes written to out.
 *
 * With p->bdat set there is no dot-stuffing and no end line: the caller
 * feeds exactly the chunk bytes, a CR at the end of a chunk waits for the
 * next one, and after the LAST chunk the caller calls
 * tn_mail_data_parse_finish().  TN_DONE is never returned.
 */
tn_int_t tn_mail_data_parse(tn_mail_data_parse_t *p, tn_buf_t *in,
    tn_buf_t *out);

/* the end of BDAT data: a CR still waiting for its LF is a bare CR */
void tn_mail_data_parse_finish(tn_mail_data_parse_t *p);


/*
 * Copies a stored message (LF or CRLF line ends) from in to out as POP3
 * multi-line data: LF -> CRLF (a CRLF stays CRLF, a bare CR becomes CRLF
 * as well so none reaches the wire), a line starting with '.' gets
 * another '.', and for TOP stops after the header, the empty line and n
 * body lines.  Resumable: the state is in p; a CR at the end of in waits
 * for the next call.  out must have room for at least 2 bytes.
 *
 * TN_AGAIN: in is used up or out is full.  TN_DONE: the TOP limit was
 * reached (the caller then writes ".\r\n").  At the end of the file the
 * caller writes ".\r\n" if p->last_was_lf, else "\r\n.\r\n".
 */
typedef struct {
    tn_uint_t   state;
    off_t       body_lines_left;  /* -1: no TOP limit */
    unsigned    in_body:1;
    unsigned    at_line_start:1;
    unsigned    last_was_lf:1;    /* the output ends with CRLF (or is empty) */
} tn_mail_pop3_out_t;

/* top_lines: n of "TOP msg n", or (off_t) -1 for RETR */
void tn_mail_pop3_out_init(tn_mail_pop3_out_t *p, off_t top_lines);
tn_int_t tn_mail_pop3_out(tn_mail_pop3_out_t *p, tn_buf_t *in,
    tn_buf_t *out);


/*
 * SASL PLAIN (RFC 4616): decodes the base64 "authzid\0authcid\0passwd" of
 * src into dst (tn_base64_decoded_length(src->len) bytes).  TN_OK with
 * user and pass pointing into dst (the caller zeroes dst after use), or
 * TN_ERROR: empty input, more base64 than the limits allow, bad base64 or
 * padding, whitespace, not exactly 3 fields, an empty authcid or password,
 * an authzid present and different from the authcid, a user longer than
 * TN_MAIL_AUTH_USER_MAX or a password longer than TN_MAIL_AUTH_PASS_MAX.
 */
tn_int_t tn_mail_auth_plain(tn_str_t *src, u_char *dst, tn_str_t *user,
    tn_str_t *pass);


#endif /* _TN_MAIL_PARSE_H_INCLUDED_ */
