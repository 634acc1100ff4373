
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include "tn_mail_parse.h"


/*
 * The states of the three line parsers.  They share one set so that
 * tn_mail_parse_overflow() and the skip code can work on any of them.
 */
enum {
    sw_start = 0,
    sw_verb,                   /* letters of the verb */
    sw_spaces_before_arg,      /* POP3: spaces before an argument */
    sw_arg,                    /* POP3: inside a space-separated argument */
    sw_rest,                   /* the rest of the line is one argument */
    sw_almost_done,            /* CR seen, LF must follow */
    sw_skip_invalid,           /* skipping a bad line until its LF */
    sw_skip_too_long           /* skipping a too long line until its LF */
};


/* the DATA parser */
enum {
    sw_data_bol = 0,           /* at the start of a line (after CRLF) */
    sw_data_text,              /* inside a line */
    sw_data_cr,                /* CR inside a line, LF must follow */
    sw_data_bol_cr,            /* CR at the start of a line: empty line? */
    sw_data_dot,               /* '.' at the start of a line */
    sw_data_dot_cr,            /* ".\r" at the start of a line */
    sw_data_done               /* CRLF.CRLF was read */
};


/* the POP3 output */
enum {
    sw_pop3_text = 0,
    sw_pop3_cr,                /* a CR was read, its output waits */
    sw_pop3_done               /* the TOP limit was reached */
};


typedef struct {
    tn_str_t    name;
    tn_uint_t   command;
} tn_mail_verb_t;


static tn_uint_t tn_mail_verb_lookup(tn_mail_verb_t *verbs, u_char *verb,
    size_t len, tn_uint_t unknown);
static tn_int_t tn_mail_parse_done(tn_mail_parse_t *p, tn_buf_t *b,
    u_char *start, u_char *pos);
static tn_int_t tn_mail_parse_fail(tn_mail_parse_t *p, tn_buf_t *b,
    u_char *pos, tn_uint_t state);
static tn_int_t tn_mail_parse_skip(tn_mail_parse_t *p, tn_buf_t *b);
static tn_int_t tn_mail_ncaseeq(u_char *s1, const char *s2, size_t n);
static tn_int_t tn_mail_smtp_parse_local(u_char **pp, u_char *end,
    tn_smtp_path_t *path);
static tn_int_t tn_mail_smtp_parse_domain(u_char **pp, u_char *end,
    tn_uint_t *utf8);
static tn_int_t tn_mail_smtp_parse_utf8(u_char **pp, u_char *end);
static tn_int_t tn_mail_smtp_parse_literal(u_char **pp, u_char *end);
static tn_int_t tn_mail_smtp_parse_ipv4(u_char *p, u_char *end);
static tn_int_t tn_mail_smtp_parse_params(u_char *p, u_char *end,
    tn_smtp_path_t *path, const char **err);
static tn_int_t tn_mail_data_write(tn_mail_data_parse_t *p, tn_buf_t *out,
    u_char ch);
static tn_uint_t tn_mail_pop3_line_end(tn_mail_pop3_out_t *p);


static tn_mail_verb_t  tn_mail_smtp_verbs[] = {
    { tn_string("HELO"), TN_SMTP_HELO },
    { tn_string("EHLO"), TN_SMTP_EHLO },
    { tn_string("MAIL"), TN_SMTP_MAIL },
    { tn_string("RCPT"), TN_SMTP_RCPT },
    { tn_string("DATA"), TN_SMTP_DATA },
    { tn_string("BDAT"), TN_SMTP_BDAT },
    { tn_string("RSET"), TN_SMTP_RSET },
    { tn_string("NOOP"), TN_SMTP_NOOP },
    { tn_string("QUIT"), TN_SMTP_QUIT },
    { tn_string("VRFY"), TN_SMTP_VRFY },
    { tn_string("EXPN"), TN_SMTP_EXPN },
    { tn_string("HELP"), TN_SMTP_HELP },
    { tn_string("STARTTLS"), TN_SMTP_STARTTLS },
    { tn_string("AUTH"), TN_SMTP_AUTH },
    { tn_null_string, 0 }
};


static tn_mail_verb_t  tn_mail_pop3_verbs[] = {
    { tn_string("USER"), TN_POP3_USER },
    { tn_string("PASS"), TN_POP3_PASS },
    { tn_string("APOP"), TN_POP3_APOP },
    { tn_string("AUTH"), TN_POP3_AUTH },
    { tn_string("CAPA"), TN_POP3_CAPA },
    { tn_string("STLS"), TN_POP3_STLS },
    { tn_string("STAT"), TN_POP3_STAT },
    { tn_string("LIST"), TN_POP3_LIST },
    { tn_string("UIDL"), TN_POP3_UIDL },
    { tn_string("TOP"), TN_POP3_TOP },
    { tn_string("RETR"), TN_POP3_RETR },
    { tn_string("DELE"), TN_POP3_DELE },
    { tn_string("RSET"), TN_POP3_RSET },
    { tn_string("NOOP"), TN_POP3_NOOP },
    { tn_string("QUIT"), TN_POP3_QUIT },
    { tn_null_string, 0 }
};


#define tn_mail_is_alpha(c)                                                  \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define tn_mail_is_digit(c)   ((c) >= '0' && (c) <= '9')
#define tn_mail_is_alnum(c)   (tn_mail_is_alpha(c) || tn_mail_is_digit(c))


/*
 * RFC 5321 atext: ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~"; one bit a byte
 * for 0x00-0x7f.
 */
static uint32_t  tn_mail_atext[] = {
    0x00000000,     /* 0x00-0x1f: controls */
    0xa3ffacfa,     /* 0x20-0x3f: ! # $ % & ' * + - / 0-9 = ? */
    0xc7fffffe,     /* 0x40-0x5f: A-Z ^ _ */
    0x7fffffff      /* 0x60-0x7f: ` a-z { | } ~ */
};

#define tn_mail_is_atext(c)                                                  \
    ((c) < 0x80 && (tn_mail_atext[(c) >> 5] & (1U << ((c) & 0x1f))))


/*
 * The three line parsers.  On entry b->pos is the start of the line and
 * p->line_len bytes of it were scanned before, so the caller may move the
 * unread data between calls; all positions kept in p are offsets from the
 * line start.  n counts the bytes of the line including the current one.
 */

tn_int_t
tn_mail_smtp_parse_command(tn_mail_parse_t *p, tn_buf_t *b)
{
    u_char     ch, *start, *pos;
    size_t     n;
    tn_uint_t  state;

    if (p->state >= sw_skip_invalid) {
        return tn_mail_parse_skip(p, b);
    }

    start = b->pos;
    state = p->state;
    n = p->line_len;

    for (pos = start + n; pos < b->last; pos++) {
        ch = *pos;
        n++;

        if (p->max_line && n > p->max_line) {
            return tn_mail_parse_fail(p, b, pos, sw_skip_too_long);
        }

        switch (state) {

        case sw_start:
            if (!tn_mail_is_alpha(ch)) {
                goto invalid;
            }

            p->command = 0;
            p->nargs = 0;
            p->cmd_len = 1;
            state = sw_verb;
            break;

        case sw_verb:
            if (tn_mail_is_alpha(ch)) {
                if (++p->cmd_len > TN_MAIL_MAX_VERB) {
                    goto invalid;
                }
                break;
            }

            if (ch != ' ' && ch != CR) {
                goto invalid;
            }

            p->command = tn_mail_verb_lookup(tn_mail_smtp_verbs, start,
                                             p->cmd_len, TN_SMTP_UNKNOWN);

            /* SMTP: the whole rest of the line after one space */
            p->arg_off[0] = (ch == ' ') ? n : n - 1;

            if (ch == CR) {
                p->arg_end[0] = p->arg_off[0];
                state = sw_almost_done;
                break;
            }

            state = sw_rest;
            break;

        case sw_rest:
            switch (ch) {
            case CR:
                p->arg_end[0] = n - 1;
                p->nargs = (p->arg_end[0] > p->arg_off[0]);
                state = sw_almost_done;
                break;
            case LF:
            case '\0':
                goto invalid;
            default:
                break;
            }
            break;

        case sw_almost_done:
            if (ch == LF) {
                return tn_mail_parse_done(p, b, start, pos);
            }
            goto invalid;

        default:
            goto invalid;
        }
    }

    p->state = state;
    p->line_len = n;
    p->line_start = start;

    return TN_AGAIN;

invalid:

    return tn_mail_parse_fail(p, b, pos, sw_skip_invalid);
}


tn_int_t
tn_mail_pop3_parse_command(tn_mail_parse_t *p, tn_buf_t *b)
{
    u_char     ch, *start, *pos;
    size_t     n;
    tn_uint_t  state;

    if (p->state >= sw_skip_invalid) {
        return tn_mail_parse_skip(p, b);
    }

    start = b->pos;
    state = p->state;
    n = p->line_len;

    for (pos = start + n; pos < b->last; pos++) {
        ch = *pos;
        n++;

        if (p->max_line && n > p->max_line) {
            return tn_mail_parse_fail(p, b, pos, sw_skip_too_long);
        }

        switch (state) {

        case sw_start:
            if (!tn_mail_is_alpha(ch)) {
                goto invalid;
            }

            p->command = 0;
            p->nargs = 0;
            p->cmd_len = 1;
            state = sw_verb;
            break;

        case sw_verb:
            if (tn_mail_is_alpha(ch)) {
                if (++p->cmd_len > TN_MAIL_MAX_VERB) {
                    goto invalid;
                }
                break;
            }

            if (ch != ' ' && ch != CR) {
                goto invalid;
            }

            p->command = tn_mail_verb_lookup(tn_mail_pop3_verbs, start,
                                             p->cmd_len, TN_POP3_UNKNOWN);

            if (ch == CR) {
                state = sw_almost_done;

            } else if (p->command == TN_POP3_PASS) {
                /* a password may contain spaces: keep the whole rest */
                p->arg_off[0] = n;
                state = sw_rest;

            } else {
                state = sw_spaces_before_arg;
            }

            break;

        case sw_spaces_before_arg:
            switch (ch) {
            case ' ':
                break;
            case CR:
                state = sw_almost_done;
                break;
            case LF:
            case '\0':
                goto invalid;
            default:
                if (p->nargs == TN_MAIL_MAX_ARGS) {
                    goto invalid;
                }
                p->arg_off[p->nargs] = n - 1;
                state = sw_arg;
                break;
            }
            break;

        case sw_arg:
            switch (ch) {
            case ' ':
            case CR:
                p->arg_end[p->nargs++] = n - 1;
                state = (ch == ' ') ? sw_spaces_before_arg : sw_almost_done;
                break;
            case LF:
            case '\0':
                goto invalid;
            default:
                break;
            }
            break;

        case sw_rest:
            switch (ch) {
            case CR:
                p->arg_end[0] = n - 1;
                p->nargs = (p->arg_end[0] > p->arg_off[0]);
                state = sw_almost_done;
                break;
            case LF:
            case '\0':
                goto invalid;
            default:
                break;
            }
            break;

        case sw_almost_done:
            if (ch == LF) {
                return tn_mail_parse_done(p, b, start, pos);
            }
            goto invalid;

        default:
            goto invalid;
        }
    }

    p->state = state;
    p->line_len = n;
    p->line_start = start;

    return TN_AGAIN;

invalid:

    return tn_mail_parse_fail(p, b, pos, sw_skip_invalid);
}


tn_int_t
tn_mail_parse_line(tn_mail_parse_t *p, tn_buf_t *b)
{
    u_char     ch, *start, *pos;
    size_t     n;
    tn_uint_t  state;

    if (p->state >= sw_skip_invalid) {
        return tn_mail_parse_skip(p, b);
    }

    start = b->pos;
    state = p->state;
    n = p->line_len;

    for (pos = start + n; pos < b->last; pos++) {
        ch = *pos;
        n++;

        if (p->max_line && n > p->max_line) {
            return tn_mail_parse_fail(p, b, pos, sw_skip_too_long);
        }

        switch (state) {

        case sw_start:
            p->command = 0;
            p->nargs = 0;
            p->cmd_len = 0;
            p->arg_off[0] = 0;
            state = sw_rest;

            /* fall through */

        case sw_rest:
            switch (ch) {
            case CR:
                p->arg_end[0] = n - 1;
                p->nargs = 1;
                state = sw_almost_done;
                break;
            case LF:
            case '\0':
                goto invalid;
            default:
                break;
            }
            break;

        case sw_almost_done:
            if (ch == LF) {
                return tn_mail_parse_done(p, b, start, pos);
            }
            goto invalid;

        default:
            goto invalid;
        }
    }

    p->state = state;
    p->line_len = n;
    p->line_start = start;

    return TN_AGAIN;

invalid:

    return tn_mail_parse_fail(p, b, pos, sw_skip_invalid);
}


void
tn_mail_parse_overflow(tn_mail_parse_t *p, tn_buf_t *b)
{
    if (p->state < sw_skip_invalid) {
        p->state = sw_skip_too_long;
    }

    b->pos = b->last;
    p->line_start = b->last;
    p->line_len = 0;
}


void
tn_mail_parse_reset(tn_mail_parse_t *p)
{
    tn_uint_t  i;

    p->state = sw_start;
    p->command = 0;
    p->cmd.len = 0;
    p->cmd.data = NULL;
    p->nargs = 0;

    for (i = 0; i < TN_MAIL_MAX_ARGS; i++) {
        p->args[i].len = 0;
        p->args[i].data = NULL;
    }

    p->line_len = 0;
    p->line_start = NULL;
    p->cmd_len = 0;
}


static tn_uint_t
tn_mail_verb_lookup(tn_mail_verb_t *verbs, u_char *verb, size_t len,
    tn_uint_t unknown)
{
    for ( /* void */ ; verbs->name.len; verbs++) {
        if (verbs->name.len == len
            && tn_mail_ncaseeq(verb, (const char *) verbs->name.data, len))
        {
            return verbs->command;
        }
    }

    return unknown;
}


static tn_int_t
tn_mail_parse_done(tn_mail_parse_t *p, tn_buf_t *b, u_char *start,
    u_char *pos)
{
    tn_uint_t  i;

    p->cmd.data = start;
    p->cmd.len = p->cmd_len;

    for (i = 0; i < TN_MAIL_MAX_ARGS; i++) {
        if (i < p->nargs) {
            p->args[i].data = start + p->arg_off[i];
            p->args[i].len = p->arg_end[i] - p->arg_off[i];

        } else {
            /* an empty string at the end of the verb, never NULL */
            p->args[i].data = start + p->cmd_len;
            p->args[i].len = 0;
        }
    }

    b->pos = pos + 1;

    p->state = sw_start;
    p->line_len = 0;
    p->line_start = b->pos;

    return TN_OK;
}


/* the line is bad at pos: skip through its LF, pos included */

static tn_int_t
tn_mail_parse_fail(tn_mail_parse_t *p, tn_buf_t *b, u_char *pos,
    tn_uint_t state)
{
    p->state = state;
    b->pos = pos;

    return tn_mail_parse_skip(p, b);
}


static tn_int_t
tn_mail_parse_skip(tn_mail_parse_t *p, tn_buf_t *b)
{
    u_char    *lf;
    tn_int_t   rc;

    p->line_len = 0;

    lf = tn_strlchr(b->pos, b->last, LF);

    if (lf == NULL) {
        b->pos = b->last;
        p->line_start = b->last;
        return TN_AGAIN;
    }

    rc = (p->state == sw_skip_too_long) ? TN_MAIL_PARSE_LINE_TOO_LONG
                                        : TN_MAIL_PARSE_INVALID_COMMAND;

    b->pos = lf + 1;
    p->state = sw_start;
    p->line_start = b->pos;

    return rc;
}


tn_int_t
tn_mail_parse_number(tn_str_t *s, tn_uint_t max)
{
    size_t     i;
    tn_uint_t  value, d;

    if (s->len == 0 || max > (tn_uint_t) TN_MAX_INT_T_VALUE) {
        return TN_ERROR;
    }

    value = 0;

    for (i = 0; i < s->len; i++) {
        if (!tn_mail_is_digit(s->data[i])) {
            return TN_ERROR;
        }

        d = s->data[i] - '0';

        if (d > max || value > (max - d) / 10) {
            return TN_ERROR;
        }

        value = value * 10 + d;
    }

    return (tn_int_t) value;
}


/* s1 (n bytes) equals the ASCII s2 ignoring case */

static tn_int_t
tn_mail_ncaseeq(u_char *s1, const char *s2, size_t n)
{
    u_char  c1, c2;

    while (n--) {
        c1 = *s1++;
        c2 = (u_char) *s2++;

        c1 = tn_tolower(c1);
        c2 = tn_tolower(c2);

        if (c1 != c2) {
            return 0;
        }
    }

    return 1;
}


/*
 * MAIL FROM / RCPT TO.  Every step checks the end of arg: arg is not
 * NUL-terminated and may end anywhere (a '"' or '[' as the last byte).
 */

tn_int_t
tn_mail_smtp_parse_path(tn_str_t *arg, tn_uint_t is_rcpt,
    tn_smtp_path_t *path, const char **err)
{
    u_char      *p, *end, *lt, *local;
    size_t       n;
    tn_uint_t    utf8;
    const char  *addr_err, *prefix;

    addr_err = is_rcpt ? "501 5.1.3 Bad recipient address syntax"
                       : "501 5.1.7 Bad sender address syntax";

    tn_memzero(path, sizeof(tn_smtp_path_t));

    p = arg->data;
    end = p + arg->len;
    utf8 = 0;

    prefix = is_rcpt ? "TO:" : "FROM:";
    n = is_rcpt ? 3 : 5;

    if ((size_t) (end - p) < n || !tn_mail_ncaseeq(p, prefix, n)) {
        *err = is_rcpt ? "501 5.5.2 Syntax: RCPT TO:<address>"
                       : "501 5.5.2 Syntax: MAIL FROM:<address>";
        return TN_ERROR;
    }

    p += n;

    /* RFC 5321 has no space here, but many clients send one */
    if (p < end && *p == ' ') {
        p++;
    }

    if (p == end || *p != '<') {
        goto bad_addr;
    }

    lt = p++;

    path->local.data = p;
    path->domain.data = p;
    path->addr.data = p;

    if (p < end && *p == '>') {
        if (is_rcpt) {
            goto bad_addr;
        }

        path->null_path = 1;
        p++;

        return tn_mail_smtp_parse_params(p, end, path, err);
    }

    if (p < end && *p == '@') {

        /* a source route "@a,@b:" (RFC 5321 4.1.2 A-d-l): dropped */

        for ( ;; ) {
            p++;

            if (tn_mail_smtp_parse_domain(&p, end, &utf8) != TN_OK) {
                goto bad_addr;
            }

            if (p < end && *p == ',') {
                p++;

                if (p < end && *p == '@') {
                    continue;
                }

                goto bad_addr;
            }

            if (p < end && *p == ':') {
                p++;
                break;
            }

            goto bad_addr;
        }
    }

    local = p;

    if (tn_mail_smtp_parse_local(&p, end, path) != TN_OK) {
        goto bad_addr;
    }

    path->local.data = local;
    path->local.len = p - local;

    if (path->local.len > TN_SMTP_LOCAL_MAX) {
        goto bad_addr;
    }

    if (p < end && *p == '@') {
        p++;
        path->domain.data = p;

        if (p < end && *p == '[') {
            if (tn_mail_smtp_parse_literal(&p, end) != TN_OK) {
                goto bad_addr;
            }

        } else if (tn_mail_smtp_parse_domain(&p, end, &utf8) != TN_OK) {
            goto bad_addr;
        }

        path->domain.len = p - path->domain.data;

        if (path->domain.len > TN_SMTP_DOMAIN_MAX) {
            goto bad_addr;
        }

    } else {
        /* RFC 5321 4.1.1.3: only <postmaster> may come without a domain */

        if (!is_rcpt
            || path->quoted
            || path->local.len != sizeof("postmaster") - 1
            || !tn_mail_ncaseeq(local, "postmaster", path->local.len))
        {
            goto bad_addr;
        }

        path->domain.data = p;
    }

    if (p == end || *p != '>') {
        goto bad_addr;
    }

    path->addr.data = local;
    path->addr.len = p - local;

    if (utf8) {
        path->utf8 = 1;
    }

    p++;

    if (p - lt > TN_SMTP_PATH_MAX) {
        goto bad_addr;
    }

    return tn_mail_smtp_parse_params(p, end, path, err);

bad_addr:

    *err = addr_err;
    return TN_ERROR;
}


/*
 * Dot-string or quoted-string (RFC 5321 4.1.2), with the UTF8-non-ascii
 * characters RFC 6531 3.3 adds to atext and qtextSMTP; the quoted-pair
 * stays ASCII.
 */

static tn_int_t
tn_mail_smtp_parse_local(u_char **pp, u_char *end, tn_smtp_path_t *path)
{
    u_char  *p, *atom;

    p = *pp;

    if (p < end && *p == '"') {

        /*
         * qtextSMTP: %d32-33 / %d35-91 / %d93-126 / UTF8-non-ascii,
         * quoted-pairSMTP: "\\" %d32-126
         */

        p++;

        for ( ;; ) {
            if (p == end) {
                return TN_ERROR;
            }

            if (*p == '"') {
                break;
            }

            if (*p >= 0x80) {
                if (tn_mail_smtp_parse_utf8(&p, end) != TN_OK) {
                    return TN_ERROR;
                }

                path->utf8 = 1;
                continue;
            }

            if (*p == '\\') {
                if (++p == end) {
                    return TN_ERROR;
                }
            }

            if (*p < 0x20 || *p > 0x7e) {
                return TN_ERROR;
            }

            p++;
        }

        path->quoted = 1;
        *pp = p + 1;

        return TN_OK;
    }

    /* atoms of atext (and UTF-8) separated by single dots */

    for ( ;; ) {
        atom = p;

        while (p < end) {
            if (tn_mail_is_atext(*p)) {
                p++;
                continue;
            }

            if (*p < 0x80) {
                break;
            }

            if (tn_mail_smtp_parse_utf8(&p, end) != TN_OK) {
                return TN_ERROR;
            }

            path->utf8 = 1;
        }

        if (p == atom) {
            return TN_ERROR;
        }

        if (p < end && *p == '.') {
            p++;
            continue;
        }

        break;
    }

    *pp = p;

    return TN_OK;
}


/*
 * A domain name: labels of letters, digits, inner hyphens and (RFC 6531
 * U-labels) UTF-8 non-ASCII characters, 1..63 octets each; *utf8 is set
 * when there was any non-ASCII character.  A-labels are plain LDH.
 */

static tn_int_t
tn_mail_smtp_parse_domain(u_char **pp, u_char *end, tn_uint_t *utf8)
{
    u_char  *p, *start, *label;

    start = *pp;
    p = start;

    for ( ;; ) {
        label = p;

        if (p == end || *p == '-') {
            return TN_ERROR;
        }

        while (p < end) {
            if (tn_mail_is_alnum(*p) || *p == '-') {
                p++;
                continue;
            }

            if (*p < 0x80) {
                break;
            }

            if (tn_mail_smtp_parse_utf8(&p, end) != TN_OK) {
                return TN_ERROR;
            }

            *utf8 = 1;
        }

        if (p == label || p[-1] == '-' || p - label > 63) {
            return TN_ERROR;
        }

        if (p < end && *p == '.') {
            p++;
            continue;
        }

        break;
    }

    if (p - start > TN_SMTP_DOMAIN_MAX) {
        return TN_ERROR;
    }

    *pp = p;

    return TN_OK;
}


/*
 * One UTF8-non-ascii character (RFC 6531 3.3) at *pp: well-formed UTF-8
 * (tn_utf8_decode()) and not a C1 control.  TN_OK with *pp after it.
 */

static tn_int_t
tn_mail_smtp_parse_utf8(u_char **pp, u_char *end)
{
    uint32_t  u;

    u = tn_utf8_decode(pp, end - *pp);

    return tn_utf8_non_ascii(u) ? TN_OK : TN_ERROR;
}


/* "[1.2.3.4]" or "[IPv6:...]"; general address literals are refused */

static tn_int_t
tn_mail_smtp_parse_literal(u_char **pp, u_char *end)
{
    u_char           *p, *s;
    size_t            len;
    char              text[INET6_ADDRSTRLEN + 1];
    struct in6_addr   addr6;

    p = *pp + 1;
    s = p;

    /* dtext: %d33-90 / %d94-126 */

    while (p < end && *p != ']') {
        if (*p < 33 || *p > 126 || *p == '[' || *p == '\\') {
            return TN_ERROR;
        }
        p++;
    }

    if (p == end) {
        return TN_ERROR;
    }

    len = p - s;
    *pp = p + 1;

    if (len > 5 && tn_mail_ncaseeq(s, "IPv6:", 5)) {
        len -= 5;

        if (len >= sizeof(text)) {
            return TN_ERROR;
        }

        tn_memcpy(text, s + 5, len);
        text[len] = '\0';

        return (inet_pton(AF_INET6, text, &addr6) == 1) ? TN_OK : TN_ERROR;
    }

    return tn_mail_smtp_parse_ipv4(s, p);
}


/* four 1*3DIGIT of 0..255 separated by dots (RFC 5321 IPv4-address-literal) */

static tn_int_t
tn_mail_smtp_parse_ipv4(u_char *p, u_char *end)
{
    tn_uint_t  octets, digits, value;

    octets = 0;

    for ( ;; ) {
        digits = 0;
        value = 0;

        while (p < end && tn_mail_is_digit(*p)) {
            if (++digits > 3) {
                return TN_ERROR;
            }
            value = value * 10 + (*p++ - '0');
        }

        if (digits == 0 || value > 255) {
            return TN_ERROR;
        }

        if (++octets == 4) {
            return (p == end) ? TN_OK : TN_ERROR;
        }

        if (p == end || *p != '.') {
            return TN_ERROR;
        }

        p++;
    }
}


/* *( 1*SP keyword [ "=" value ] ) *SP, after the closing '>' */

static tn_int_t
tn_mail_smtp_parse_params(u_char *p, u_char *end, tn_smtp_path_t *path,
    const char **err)
{
    u_char       *key, *value;
    off_t         size;
    tn_uint_t     i;
    tn_keyval_t  *kv;

    for ( ;; ) {
        if (p == end) {
            return TN_OK;
        }

        if (*p != ' ') {
            goto invalid;
        }

        while (p < end && *p == ' ') {
            p++;
        }

        if (p == end) {
            return TN_OK;
        }

        if (path->nparams == TN_SMTP_MAX_PARAMS) {
            *err = "501 5.5.4 Too many parameters";
            return TN_ERROR;
        }

        key = p;

        if (!tn_mail_is_alnum(*p)) {
            goto invalid;
        }

        while (p < end && (tn_mail_is_alnum(*p) || *p == '-')) {
            p++;
        }

        kv = &path->params[path->nparams];

        kv->key.data = key;
        kv->key.len = p - key;
        kv->value.data = p;
        kv->value.len = 0;

        if (p < end && *p == '=') {
            value = ++p;

            /* esmtp-value: %d33-60 / %d62-126 */

            while (p < end && *p > 0x20 && *p < 0x7f && *p != '=') {
                p++;
            }

            if (p == value) {
                goto invalid;
            }

            kv->value.data = value;
            kv->value.len = p - value;
        }

        if (p < end && *p != ' ') {
            goto invalid;
        }

        for (i = 0; i < path->nparams; i++) {
            if (path->params[i].key.len == kv->key.len
                && tn_mail_ncaseeq(path->params[i].key.data,
                                   (const char *) kv->key.data, kv->key.len))
            {
                *err = "501 5.5.4 Duplicate parameter";
                return TN_ERROR;
            }
        }

        if (kv->key.len == 4 && tn_mail_ncaseeq(kv->key.data, "SIZE", 4)
            && tn_smtp_param_size(&kv->value, &size) != TN_OK)
        {
            *err = "501 5.5.4 Invalid SIZE parameter";
            return TN_ERROR;
        }

        path->nparams++;
    }

invalid:

    *err = "501 5.5.4 Syntax error in parameters";
    return TN_ERROR;
}


tn_int_t
tn_smtp_param_size(tn_str_t *value, off_t *size)
{
    size_t  i;
    off_t   v, d;

    if (value->len == 0 || value->len > 20) {
        return TN_ERROR;
    }

    v = 0;

    for (i = 0; i < value->len; i++) {
        if (!tn_mail_is_digit(value->data[i])) {
            return TN_ERROR;
        }

        d = value->data[i] - '0';

        if (v > (TN_MAX_OFF_T_VALUE - d) / 10) {
            return TN_ERROR;
        }

        v = v * 10 + d;
    }

    *size = v;

    return TN_OK;
}


/*
 * DATA.  The end is detected on the raw bytes, never on the output: only
 * a CRLF, then ".", then CRLF reaches sw_data_done.  Each input byte
 * writes at most one output byte; the write is the last step of a byte,
 * so a full out is reported before the byte changes anything.
 */

void
tn_mail_data_parse_init(tn_mail_data_parse_t *p, off_t max_size,
    tn_uint_t bdat)
{
    tn_memzero(p, sizeof(tn_mail_data_parse_t));

    p->max_size = max_size;
    p->bdat = bdat ? 1 : 0;
}


tn_int_t
tn_mail_data_parse(tn_mail_data_parse_t *p, tn_buf_t *in, tn_buf_t *out)
{
    u_char     ch, *pos;
    tn_uint_t  state;

    state = p->state;

    if (state == sw_data_done) {
        return TN_DONE;
    }

    pos = in->pos;

    while (pos < in->last) {
        ch = *pos;

        switch (state) {

        case sw_data_bol:
            if (ch == '.' && !p->bdat) {
                /* dot-stuffing: the dot is never written */
                state = sw_data_dot;
                break;
            }

            if (ch == CR) {
                state = sw_data_bol_cr;
                break;
            }

            /* fall through */

        case sw_data_text:

        text:

            switch (ch) {
            case CR:
                state = sw_data_cr;
                break;

            case LF:
                p->bare_lf = 1;
                p->size++;
                p->vsize += 2;
                p->lines++;
                state = sw_data_text;
                break;

            default:
                if (ch == '\0') {
                    p->nul = 1;
                }

                if (tn_mail_data_write(p, out, ch) != TN_OK) {
                    goto again;
                }

                p->vsize++;
                state = sw_data_text;
                break;
            }

            break;

        case sw_data_dot:
            if (ch == CR) {
                state = sw_data_dot_cr;
                break;
            }

            /* the dot is dropped, ch is text (a LF is a bare one) */
            goto text;

        case sw_data_dot_cr:
            if (ch == LF) {
                in->pos = pos + 1;
                p->state = sw_data_done;
                return TN_DONE;
            }

            /* fall through */

        case sw_data_cr:
        case sw_data_bol_cr:
            if (ch == LF) {
                if (tn_mail_data_write(p, out, LF) != TN_OK) {
                    goto again;
                }

                if (state == sw_data_bol_cr) {
                    p->header_end = 1;
                }

                p->vsize += 2;
                p->lines++;
                state = sw_data_bol;
                break;
            }

            /* a bare CR: count it, then ch is text inside a line */

            p->bare_cr = 1;
            p->size++;
            p->vsize++;
            state = sw_data_text;

            continue;

        default:
            /* can't happen */
            p->state = sw_data_done;
            return TN_DONE;
        }

        pos++;
    }

again:

    in->pos = pos;
    p->state = state;

    return TN_AGAIN;
}


/* TN_OK: written or dropped on purpose, counted; TN_AGAIN: out is full */

static tn_int_t
tn_mail_data_write(tn_mail_data_parse_t *p, tn_buf_t *out, u_char ch)
{
    if (!(p->bare_lf || p->bare_cr || p->nul || p->too_big)) {

        /* RFC 1870: the size with CRLF line ends, as sent */

        if (p->max_size && p->vsize + (ch == LF ? 2 : 1) > p->max_size) {
            p->too_big = 1;

        } else {
            if (out->last == out->end) {
                return TN_AGAIN;
            }

            *out->last++ = ch;
        }
    }

    p->size++;

    return TN_OK;
}


void
tn_mail_data_parse_finish(tn_mail_data_parse_t *p)
{
    if (p->state == sw_data_cr || p->state == sw_data_bol_cr
        || p->state == sw_data_dot_cr)
    {
        p->bare_cr = 1;
        p->size++;
        p->vsize++;
        p->state = sw_data_text;
    }
}


/*
 * POP3 multi-line output.  A CR is held until the next byte shows whether
 * it is a CRLF, so a pair split between two reads gives one line end.
 */

void
tn_mail_pop3_out_init(tn_mail_pop3_out_t *p, off_t top_lines)
{
    tn_memzero(p, sizeof(tn_mail_pop3_out_t));

    p->state = sw_pop3_text;
    p->body_lines_left = (top_lines < 0) ? -1 : top_lines;
    p->at_line_start = 1;
    p->last_was_lf = 1;
}


tn_int_t
tn_mail_pop3_out(tn_mail_pop3_out_t *p, tn_buf_t *in, tn_buf_t *out)
{
    u_char  ch, *pos;

    if (p->state == sw_pop3_done) {
        return TN_DONE;
    }

    for (pos = in->pos; pos < in->last; /* void */ ) {
        ch = *pos;

        if (p->state == sw_pop3_cr) {

            /* a CRLF, or a bare CR: either way one CRLF line end */

            if (out->end - out->last < 2) {
                break;
            }

            *out->last++ = CR;
            *out->last++ = LF;
            p->state = sw_pop3_text;

            if (ch == LF) {
                pos++;
            }

            if (tn_mail_pop3_line_end(p)) {
                goto done;
            }

            continue;
        }

        switch (ch) {

        case CR:
            p->state = sw_pop3_cr;
            p->last_was_lf = 0;
            pos++;
            continue;

        case LF:
            if (out->end - out->last < 2) {
                goto again;
            }

            *out->last++ = CR;
            *out->last++ = LF;
            pos++;

            if (tn_mail_pop3_line_end(p)) {
                goto done;
            }

            continue;

        case '.':
            if (p->at_line_start) {
                if (out->end - out->last < 2) {
                    goto again;
                }

                *out->last++ = '.';
            }

            /* fall through */

        default:
            if (out->last == out->end) {
                goto again;
            }

            *out->last++ = ch;
            p->at_line_start = 0;
            p->last_was_lf = 0;
            pos++;
            continue;
        }
    }

again:

    in->pos = pos;

    return TN_AGAIN;

done:

    in->pos = pos;
    p->state = sw_pop3_done;

    return TN_DONE;
}


/* a line was written: 1 when TOP has written all it should */

static tn_uint_t
tn_mail_pop3_line_end(tn_mail_pop3_out_t *p)
{
    tn_uint_t  empty;

    empty = p->at_line_start;

    p->at_line_start = 1;
    p->last_was_lf = 1;

    if (p->body_lines_left < 0) {
        return 0;
    }

    if (p->in_body) {
        return (--p->body_lines_left == 0);
    }

    if (empty) {
        p->in_body = 1;
        return (p->body_lines_left == 0);
    }

    return 0;
}


/* SASL PLAIN (RFC 4616) */

tn_int_t
tn_mail_auth_plain(tn_str_t *src, u_char *dst, tn_str_t *user,
    tn_str_t *pass)
{
    u_char    ch, *p, *last, *z1, *z2;
    size_t    i, pad;
    tn_str_t  dec, authzid;

    if (src->len == 0
        || src->len > tn_base64_encoded_length(TN_MAIL_AUTH_USER_MAX * 2
                                               + TN_MAIL_AUTH_PASS_MAX + 2)
        || src->len % 4)
    {
        return TN_ERROR;
    }

    /* only the alphabet, and '=' only as one or two bytes of padding */

    pad = 0;

    for (i = 0; i < src->len; i++) {
        ch = src->data[i];

        if (ch == '=') {
            pad++;
            continue;
        }

        if (pad || !(tn_mail_is_alnum(ch) || ch == '+' || ch == '/')) {
            return TN_ERROR;
        }
    }

    if (pad > 2) {
        return TN_ERROR;
    }

    dec.data = dst;

    if (tn_decode_base64(&dec, src) != TN_OK) {
        return TN_ERROR;
    }

    p = dst;
    last = dst + dec.len;

    z1 = tn_strlchr(p, last, '\0');
    if (z1 == NULL) {
        return TN_ERROR;
    }

    z2 = tn_strlchr(z1 + 1, last, '\0');
    if (z2 == NULL || tn_strlchr(z2 + 1, last, '\0') != NULL) {
        return TN_ERROR;
    }

    authzid.data = p;
    authzid.len = z1 - p;

    user->data = z1 + 1;
    user->len = z2 - (z1 + 1);

    pass->data = z2 + 1;
    pass->len = last - (z2 + 1);

    if (user->len == 0 || user->len > TN_MAIL_AUTH_USER_MAX
        || pass->len == 0 || pass->len > TN_MAIL_AUTH_PASS_MAX)
    {
        return TN_ERROR;
    }

    /* no proxy authorization: an authzid must name the same user */

    if (authzid.len
        && (authzid.len != user->len
            || tn_memcmp(authzid.data, user->data, user->len) != 0))
    {
        return TN_ERROR;
    }

    return TN_OK;
}
