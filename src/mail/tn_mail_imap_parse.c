
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include "tn_mail_imap_parse.h"


/*
 * The states of tn_mail_imap_parse_command().  The skip states come last:
 * state >= sw_skip means the rest of a command is being thrown away.
 */
enum {
    sw_start = 0,              /* the first byte of a command */
    sw_tag,                    /* inside the tag */
    sw_spaces_before_name,     /* SP after the tag (or after "UID") */
    sw_name,                   /* inside the command name */
    sw_spaces,                 /* where an argument or ")" may start */
    sw_atom,                   /* inside an atom */
    sw_section,                /* inside the "[...]" of a fetch atom */
    sw_section_quoted,         /* a quoted string inside the section */
    sw_section_escape,         /* after "\" in that quoted string */
    sw_quoted,                 /* inside a quoted string */
    sw_quoted_escape,          /* after "\" in a quoted string */
    sw_quoted_utf8,            /* continuation bytes of a UTF-8 char */
    sw_literal_digits,         /* after "{": the size */
    sw_literal_plus,           /* after "+": "}" must follow */
    sw_literal_cr,             /* after "}": CR must follow */
    sw_literal_lf,             /* after "}" CR: LF must follow */
    sw_literal_ready,          /* TN_MAIL_IMAP_LITERAL was returned */
    sw_literal_mem,            /* reading a literal into memory */
    sw_literal_stream,         /* handing a literal to the caller */
    sw_after_arg,              /* after ")", a quoted string or literal */
    sw_almost_done,            /* CR at the end: LF must follow */

    sw_skip,                   /* skipping up to the end of the line */
    sw_skip_brace,             /* "{" seen while skipping */
    sw_skip_digits,            /* "{" and digits */
    sw_skip_plus,              /* "{n+" */
    sw_skip_rbrace,            /* "{n}" or "{n+}": CR? */
    sw_skip_cr,                /* and CR: LF? */
    sw_skip_literal            /* skipping p->skip_left literal octets */
};


typedef struct {
    tn_str_t    name;
    tn_uint_t   command;
    tn_uint_t   uid;           /* may follow "UID" */
} tn_mail_imap_command_t;


static tn_int_t tn_mail_imap_invalid(tn_uint_t state, u_char ch,
    const char **err);
static tn_int_t tn_mail_imap_open(tn_mail_imap_parse_t *p);
static tn_uint_t tn_mail_imap_section_byte(tn_mail_imap_parse_t *p,
    u_char ch, tn_uint_t *state, const char **err);
static tn_uint_t tn_mail_imap_literal_byte(tn_mail_imap_parse_t *p,
    u_char ch, tn_uint_t *state, const char **err);
static tn_int_t tn_mail_imap_literal_data(tn_mail_imap_parse_t *p,
    tn_buf_t *b);
static tn_int_t tn_mail_imap_skip(tn_mail_imap_parse_t *p, tn_buf_t *b);
static tn_int_t tn_mail_imap_fail(tn_mail_imap_parse_t *p, tn_buf_t *b,
    u_char *pos, tn_int_t rc, const char *err);
static void tn_mail_imap_begin(tn_mail_imap_parse_t *p);
static tn_int_t tn_mail_imap_save(tn_mail_imap_parse_t *p, u_char *start,
    u_char *end);
static tn_int_t tn_mail_imap_token(tn_mail_imap_parse_t *p, u_char *start,
    u_char *end, tn_uint_t unescape, tn_str_t *s);
static tn_int_t tn_mail_imap_name(tn_mail_imap_parse_t *p, tn_str_t *name);
static tn_int_t tn_mail_imap_add(tn_mail_imap_parse_t *p, tn_uint_t type,
    tn_mail_imap_arg_t **argp);
static tn_int_t tn_mail_imap_atom(tn_mail_imap_parse_t *p, u_char *start,
    u_char *end);
static tn_uint_t tn_mail_imap_section_start(tn_mail_imap_parse_t *p);
static tn_int_t tn_mail_imap_literal_start(tn_mail_imap_parse_t *p,
    const char **err);
static void tn_mail_imap_literal_skip(tn_mail_imap_parse_t *p);
static tn_uint_t tn_mail_imap_utf8_lead(tn_mail_imap_parse_t *p, u_char ch);
static tn_uint_t tn_mail_imap_caseeq(u_char *s, const char *t, size_t n);
static tn_int_t tn_mail_imap_seq_number(u_char **pp, u_char *end,
    uint32_t star, uint32_t *n);
static tn_int_t tn_mail_imap_number32(u_char **pp, u_char *end,
    uint32_t *n, tn_uint_t nz);
static tn_int_t tn_mail_imap_section_spec(u_char **pp, u_char *end,
    tn_mail_imap_section_t *s);
static tn_int_t tn_mail_imap_section_fields(u_char **pp, u_char *end,
    tn_mail_imap_section_t *s);


static tn_mail_imap_command_t  tn_mail_imap_commands[] = {
    { tn_string("CAPABILITY"), TN_MAIL_IMAP_CAPABILITY, 0 },
    { tn_string("NOOP"), TN_MAIL_IMAP_NOOP, 0 },
    { tn_string("LOGOUT"), TN_MAIL_IMAP_LOGOUT, 0 },
    { tn_string("STARTTLS"), TN_MAIL_IMAP_STARTTLS, 0 },
    { tn_string("AUTHENTICATE"), TN_MAIL_IMAP_AUTHENTICATE, 0 },
    { tn_string("LOGIN"), TN_MAIL_IMAP_LOGIN, 0 },
    { tn_string("SELECT"), TN_MAIL_IMAP_SELECT, 0 },
    { tn_string("EXAMINE"), TN_MAIL_IMAP_EXAMINE, 0 },
    { tn_string("CREATE"), TN_MAIL_IMAP_CREATE, 0 },
    { tn_string("DELETE"), TN_MAIL_IMAP_DELETE, 0 },
    { tn_string("RENAME"), TN_MAIL_IMAP_RENAME, 0 },
    { tn_string("SUBSCRIBE"), TN_MAIL_IMAP_SUBSCRIBE, 0 },
    { tn_string("UNSUBSCRIBE"), TN_MAIL_IMAP_UNSUBSCRIBE, 0 },
    { tn_string("LIST"), TN_MAIL_IMAP_LIST, 0 },
    { tn_string("LSUB"), TN_MAIL_IMAP_LSUB, 0 },
    { tn_string("NAMESPACE"), TN_MAIL_IMAP_NAMESPACE, 0 },
    { tn_string("STATUS"), TN_MAIL_IMAP_STATUS, 0 },
    { tn_string("APPEND"), TN_MAIL_IMAP_APPEND, 0 },
    { tn_string("IDLE"), TN_MAIL_IMAP_IDLE, 0 },
    { tn_string("CHECK"), TN_MAIL_IMAP_CHECK, 0 },
    { tn_string("CLOSE"), TN_MAIL_IMAP_CLOSE, 0 },
    { tn_string("UNSELECT"), TN_MAIL_IMAP_UNSELECT, 0 },
    { tn_string("EXPUNGE"), TN_MAIL_IMAP_EXPUNGE, 1 },
    { tn_string("SEARCH"), TN_MAIL_IMAP_SEARCH, 1 },
    { tn_string("FETCH"), TN_MAIL_IMAP_FETCH, 1 },
    { tn_string("STORE"), TN_MAIL_IMAP_STORE, 1 },
    { tn_string("COPY"), TN_MAIL_IMAP_COPY, 1 },
    { tn_string("MOVE"), TN_MAIL_IMAP_MOVE, 1 },
    { tn_string("ENABLE"), TN_MAIL_IMAP_ENABLE, 0 },
    { tn_string("ID"), TN_MAIL_IMAP_ID, 0 },
    { tn_string("GETQUOTA"), TN_MAIL_IMAP_GETQUOTA, 0 },
    { tn_string("GETQUOTAROOT"), TN_MAIL_IMAP_GETQUOTAROOT, 0 },
    { tn_string("SETQUOTA"), TN_MAIL_IMAP_SETQUOTA, 0 },
    { tn_string("SORT"), TN_MAIL_IMAP_SORT, 1 },
    { tn_string("THREAD"), TN_MAIL_IMAP_THREAD, 1 },
    { tn_string("ESEARCH"), TN_MAIL_IMAP_ESEARCH, 0 },
    { tn_null_string, 0, 0 }
};

/* the longest name above: a longer one is unknown without a lookup */
#define TN_MAIL_IMAP_MAX_NAME  12


/* the atoms that open a section at "[" (BODY[...]) and what they fetch */
typedef struct {
    tn_str_t    name;
    tn_uint_t   item;
    tn_uint_t   peek;
} tn_mail_imap_fetch_att_t;

static tn_mail_imap_fetch_att_t  tn_mail_imap_fetch_atts[] = {
    { tn_string("BODY"), TN_MAIL_IMAP_FETCH_BODY, 0 },
    { tn_string("BODY.PEEK"), TN_MAIL_IMAP_FETCH_BODY, 1 },
    { tn_string("BINARY"), TN_MAIL_IMAP_FETCH_BINARY, 0 },
    { tn_string("BINARY.PEEK"), TN_MAIL_IMAP_FETCH_BINARY, 1 },
    { tn_string("BINARY.SIZE"), TN_MAIL_IMAP_FETCH_BINARY_SIZE, 0 },
    { tn_null_string, 0, 0 }
};


/*
 * RFC 3501 ATOM-CHAR: any CHAR but atom-specials, that is 0x21-0x7e but
 * "(" ")" "{" SP "%" "*" DQUOTE "\" "]"; one bit a byte for 0x00-0x7f.
 */
static uint32_t  tn_mail_imap_atom_char[] = {
    0x00000000,     /* 0x00-0x1f: controls */
    0xfffff8da,     /* 0x20-0x3f: all but SP " % ( ) * */
    0xcfffffff,     /* 0x40-0x5f: all but \ ] */
    0x77ffffff      /* 0x60-0x7f: all but { DEL */
};

#define tn_mail_imap_is_atom_char(c)                                         \
    ((c) < 0x80                                                              \
     && (tn_mail_imap_atom_char[(c) >> 5] & (1U << ((c) & 0x1f))))

/* what an atom argument may hold: ATOM-CHAR, "]" and list-wildcards */
#define tn_mail_imap_is_arg_char(c)                                          \
    (tn_mail_imap_is_atom_char(c) || (c) == ']' || (c) == '%' || (c) == '*')

/* tag: ASTRING-CHAR but "+" */
#define tn_mail_imap_is_tag_char(c)                                          \
    ((tn_mail_imap_is_atom_char(c) && (c) != '+') || (c) == ']')

#define tn_mail_imap_is_digit(c)  ((c) >= '0' && (c) <= '9')

/* a literal size: one more digit; above 2^64 - 1 it stays 2^64 - 1 */
#define tn_mail_imap_add_digit(n, c)                                         \
    (((n) > (UINT64_MAX - ((c) - '0')) / 10) ? UINT64_MAX                    \
                                             : (n) * 10 + ((c) - '0'))

/* a byte that is never right outside quoted strings and literals */
#define tn_mail_imap_is_invalid(c)  ((c) < 0x20 || (c) >= 0x7f)


/*
 * The parser.  One function for the whole grammar, as the SMTP and POP3
 * line parsers are: a state machine over bytes is easiest to check when
 * every transition is in one switch, so it is longer than a handler.
 *
 * A token (tag, name, atom, quoted string) is kept as [tok, pos) of the
 * buffer while it is in it; at the end of a call a token not finished is
 * saved to p->tok (tn_mail_imap_save()) and tok restarts at the next
 * call's first byte.  Every byte of a command but literal octets counts
 * against max_line before it is looked at.
 */

tn_int_t
tn_mail_imap_parse_command(tn_mail_imap_parse_t *p, tn_buf_t *b)
{
    u_char              ch, *pos, *tok;
    tn_int_t            rc;
    tn_uint_t           state;
    const char         *err;
    tn_mail_imap_arg_t *arg;

    if (p->state >= sw_skip && tn_mail_imap_skip(p, b) == TN_AGAIN) {
        return TN_AGAIN;
    }

    if (p->state >= sw_literal_ready && p->state <= sw_literal_stream) {
        rc = tn_mail_imap_literal_data(p, b);
        if (rc != TN_OK) {
            return rc;
        }
    }

    state = p->state;
    err = NULL;

    /* a token split between calls goes on at the first byte */
    tok = (state == sw_tag || state == sw_name || state == sw_atom
           || (state >= sw_section && state <= sw_quoted_utf8))
          ? b->pos : NULL;

    for (pos = b->pos; pos < b->last; pos++) {
        ch = *pos;

        if (state == sw_start) {
            tn_mail_imap_begin(p);
        }

        if (++p->line_len > p->max_line) {
            rc = TN_MAIL_IMAP_LINE_TOO_LONG;
            err = "command line too long";
            goto failed;
        }

        switch (state) {

        case sw_start:
            if (!tn_mail_imap_is_tag_char(ch)) {
                err = (ch == CR) ? "empty command" : "invalid tag";
                goto invalid;
            }

            tok = pos;
            state = sw_tag;
            break;

        case sw_tag:
            if (tn_mail_imap_is_tag_char(ch)) {
                break;
            }

            if (ch != ' ' && ch != CR) {
                err = "invalid tag";
                goto invalid;
            }

            if (tn_mail_imap_token(p, tok, pos, 0, &p->tag) != TN_OK) {
                return TN_ERROR;
            }

            tok = NULL;

            if (ch == CR) {
                /* "a\r\n": the tag is known, the command is missing */
                err = "missing command";
                goto invalid;
            }

            state = sw_spaces_before_name;
            break;

        case sw_spaces_before_name:
            if (ch == ' ') {
                break;
            }

            if (!tn_mail_imap_is_atom_char(ch)) {
                err = (ch == CR) ? "missing command" : "invalid command";
                goto invalid;
            }

            tok = pos;
            p->tok_total = 1;
            state = sw_name;
            break;

        case sw_name:
            if (tn_mail_imap_is_atom_char(ch)) {
                if (++p->tok_total <= TN_MAIL_IMAP_MAX_NAME) {
                    break;
                }

                rc = TN_MAIL_IMAP_UNKNOWN_COMMAND;
                err = "unknown command";
                goto failed;
            }

            if (ch != ' ' && ch != CR) {
                err = "invalid command";
                goto invalid;
            }

            if (tn_mail_imap_token(p, tok, pos, 0, &p->name) != TN_OK) {
                return TN_ERROR;
            }

            tok = NULL;
            rc = tn_mail_imap_name(p, &p->name);

            if (rc == TN_DECLINED) {
                /* "UID": the command follows */
                if (ch == CR) {
                    err = "missing command after UID";
                    goto invalid;
                }

                state = sw_spaces_before_name;
                break;
            }

            if (rc != TN_OK) {
                rc = TN_MAIL_IMAP_UNKNOWN_COMMAND;
                err = "unknown command";
                goto failed;
            }

            state = (ch == ' ') ? sw_spaces : sw_almost_done;
            break;

        case sw_spaces:
            switch (ch) {

            case ' ':
                break;

            case ')':
            case CR:
                goto end_of_arg;

            case '(':
                rc = tn_mail_imap_open(p);
                if (rc != TN_OK) {
                    goto add_failed;
                }
                break;

            case '"':
                tok = pos + 1;
                p->escaped = 0;
                state = sw_quoted;
                break;

            case '{':
                p->literal_binary = 0;
                p->num = 0;
                p->ndigits = 0;
                state = sw_literal_digits;
                break;

            default:
                if (!tn_mail_imap_is_arg_char(ch) && ch != '\\') {
                    err = "invalid argument";
                    goto invalid;
                }

                tok = pos;
                p->head[0] = tn_toupper(ch);
                p->tok_total = 1;
                p->section_done = 0;
                state = sw_atom;
                break;
            }

            break;

        case sw_atom:
            if (ch == '[' && !p->section_done
                && tn_mail_imap_section_start(p))
            {
                p->section_done = 1;
                p->section_paren = 0;
                state = sw_section;
                break;
            }

            if (tn_mail_imap_is_arg_char(ch)) {
                if (p->tok_total < sizeof(p->head)) {
                    p->head[p->tok_total] = tn_toupper(ch);
                }
                p->tok_total++;
                break;
            }

            if (ch == '{' && p->tok_total == 1 && p->head[0] == '~') {
                /* "~{": a literal8 */
                tok = NULL;
                p->tok_len = 0;
                p->literal_binary = 1;
                p->num = 0;
                p->ndigits = 0;
                state = sw_literal_digits;
                break;
            }

            if (ch != ' ' && ch != ')' && ch != CR) {
                err = "invalid character in atom";
                goto invalid;
            }

            rc = tn_mail_imap_atom(p, tok, pos);
            if (rc != TN_OK) {
                goto add_failed;
            }

            tok = NULL;

            if (ch != ' ') {
                goto end_of_arg;
            }

            state = sw_spaces;
            break;

        case sw_section:
        case sw_section_quoted:
        case sw_section_escape:
            if (!tn_mail_imap_section_byte(p, ch, &state, &err)) {
                goto invalid;
            }
            break;

        case sw_quoted:
            switch (ch) {
            case '"':
                rc = tn_mail_imap_add(p, TN_MAIL_IMAP_ARG_QUOTED, &arg);
                if (rc != TN_OK) {
                    goto add_failed;
                }

                if (tn_mail_imap_token(p, tok, pos, p->escaped, &arg->value)
                    != TN_OK)
                {
                    return TN_ERROR;
                }

                arg->astring = 1;
                tok = NULL;
                state = sw_after_arg;
                break;
            case '\\':
                p->escaped = 1;
                state = sw_quoted_escape;
                break;
            case '\0':
            case CR:
            case LF:
                err = "NUL, CR or LF in quoted string";
                goto invalid;
            default:
                if (ch < 0x80) {
                    break;
                }

                if (!p->utf8) {
                    err = "8-bit character in quoted string";
                    goto invalid;
                }

                if (!tn_mail_imap_utf8_lead(p, ch)) {
                    err = "invalid UTF-8 in quoted string";
                    goto invalid;
                }

                state = sw_quoted_utf8;
                break;
            }

            break;

        case sw_quoted_escape:
            if (ch != '\\' && ch != '"') {
                err = "invalid escape in quoted string";
                goto invalid;
            }

            state = sw_quoted;
            break;

        case sw_quoted_utf8:
            if (ch < p->utf8_lo || ch > p->utf8_hi) {
                err = "invalid UTF-8 in quoted string";
                goto invalid;
            }

            p->utf8_lo = 0x80;
            p->utf8_hi = 0xbf;

            if (--p->utf8_need == 0) {
                state = sw_quoted;
            }

            break;

        case sw_literal_digits:
        case sw_literal_plus:
        case sw_literal_cr:
            if (!tn_mail_imap_literal_byte(p, ch, &state, &err)) {
                goto invalid;
            }
            break;

        case sw_literal_lf:
            if (ch != LF) {
                err = "CR not followed by LF";
                goto invalid;
            }

            b->pos = pos + 1;

            rc = tn_mail_imap_literal_start(p, &p->err);

            if (rc == TN_MAIL_IMAP_LITERAL) {
                p->state = sw_literal_ready;

            } else if (rc != TN_ERROR) {
                tn_mail_imap_literal_skip(p);
            }

            return rc;

        case sw_after_arg:
            if (ch == ' ') {
                state = sw_spaces;
                break;
            }

            if (ch != ')' && ch != CR) {
                err = "missing space after argument";
                goto invalid;
            }

            goto end_of_arg;

        case sw_almost_done:
            if (ch != LF) {
                err = "CR not followed by LF";
                goto invalid;
            }

            b->pos = pos + 1;
            p->state = sw_start;
            p->tok = NULL;

            return TN_OK;

        default:
            err = "internal parser state";
            goto invalid;
        }

        continue;

    end_of_arg:

        /* ")" or CR where an argument may end */

        if (ch == CR) {
            if (p->list) {
                err = "unclosed list";
                goto invalid;
            }

            state = sw_almost_done;
            continue;
        }

        if (p->list == NULL) {
            err = "unexpected \")\"";
            goto invalid;
        }

        p->last = p->list;
        p->list = p->list->parent;
        p->depth--;
        state = sw_after_arg;
    }

    if (tok && tn_mail_imap_save(p, tok, pos) != TN_OK) {
        return TN_ERROR;
    }

    b->pos = pos;
    p->state = state;

    return TN_AGAIN;

add_failed:

    if (rc == TN_ERROR) {
        return TN_ERROR;
    }

    err = p->err;
    goto failed;

invalid:

    rc = tn_mail_imap_invalid(state, ch, &err);

failed:

    p->state = state;

    return tn_mail_imap_fail(p, b, pos, rc, err);
}


/*
 * A byte no grammar allows there (NUL, LF, a control, 8-bit, a CR
 * without LF, a bad byte of a quoted string) is "invalid"; a byte in the
 * wrong place is "bad syntax".
 */

static tn_int_t
tn_mail_imap_invalid(tn_uint_t state, u_char ch, const char **err)
{
    if (ch == LF) {
        *err = "bare LF";

    } else if (ch == '\0') {
        *err = "NUL character";
    }

    if (ch == '\0' || ch == LF || ch >= 0x80
        || (tn_mail_imap_is_invalid(ch) && ch != CR)
        || state == sw_quoted || state == sw_quoted_utf8
        || state == sw_section_quoted
        || (ch == CR && (state == sw_quoted_escape
                         || state == sw_section_escape))
        || state == sw_almost_done || state == sw_literal_lf)
    {
        return TN_MAIL_IMAP_INVALID_CHAR;
    }

    return TN_MAIL_IMAP_BAD_SYNTAX;
}


/* "(": a new list, if not too deep */

static tn_int_t
tn_mail_imap_open(tn_mail_imap_parse_t *p)
{
    tn_int_t             rc;
    tn_mail_imap_arg_t  *arg;

    if (p->depth == p->max_depth) {
        p->err = "lists nested too deep";
        return TN_MAIL_IMAP_NESTING_TOO_DEEP;
    }

    rc = tn_mail_imap_add(p, TN_MAIL_IMAP_ARG_LIST, &arg);
    if (rc != TN_OK) {
        return rc;
    }

    p->list = arg;
    p->last = NULL;
    p->depth++;

    return TN_OK;
}


/*
 * A byte inside the "[...]" of a fetch atom: SP, one level of "( )",
 * quoted strings, and the chars of an atom.  0 for a bad one.
 */

static tn_uint_t
tn_mail_imap_section_byte(tn_mail_imap_parse_t *p, u_char ch,
    tn_uint_t *state, const char **err)
{
    switch (*state) {

    case sw_section_quoted:
        if (ch == '"') {
            *state = sw_section;

        } else if (ch == '\\') {
            *state = sw_section_escape;

        } else if (tn_mail_imap_is_invalid(ch)) {
            *err = "invalid character in section";
            return 0;
        }

        return 1;

    case sw_section_escape:
        if (ch != '\\' && ch != '"') {
            *err = "invalid escape in quoted string";
            return 0;
        }

        *state = sw_section_quoted;
        return 1;

    default:
        break;
    }

    switch (ch) {

    case ']':
        if (p->section_paren) {
            *err = "unclosed list in section";
            return 0;
        }

        /* the atom goes on: the partial "<0.100>" may follow */
        p->tok_total++;
        *state = sw_atom;
        return 1;

    case '"':
        *state = sw_section_quoted;
        return 1;

    case '(':
    case ')':
        if (p->section_paren == (ch == '(')) {
            *err = "unbalanced list in section";
            return 0;
        }

        p->section_paren = (ch == '(');
        return 1;

    case ' ':
        return 1;

    default:
        if (!tn_mail_imap_is_arg_char(ch) || ch == '[') {
            *err = "invalid character in section";
            return 0;
        }

        return 1;
    }
}


/* a byte of a literal header "{n}" or "{n+}" up to its CR; 0: a bad one */

static tn_uint_t
tn_mail_imap_literal_byte(tn_mail_imap_parse_t *p, u_char ch,
    tn_uint_t *state, const char **err)
{
    switch (*state) {

    case sw_literal_digits:
        if (tn_mail_imap_is_digit(ch)) {
            p->num = tn_mail_imap_add_digit(p->num, ch);
            p->ndigits++;
            return 1;
        }

        if (p->ndigits == 0 || (ch != '+' && ch != '}')) {
            break;
        }

        p->literal_sync = (ch == '}');
        *state = (ch == '}') ? sw_literal_cr : sw_literal_plus;
        return 1;

    case sw_literal_plus:
        if (ch != '}') {
            break;
        }

        *state = sw_literal_cr;
        return 1;

    default:
        if (ch != CR) {
            *err = "a literal must end the line";
            return 0;
        }

        *state = sw_literal_lf;
        return 1;
    }

    *err = "invalid literal";

    return 0;
}


/*
 * The octets of an accepted literal (p->state sw_literal_ready, _mem or
 * _stream): TN_OK when a literal kept in memory is complete and the
 * parse goes on, else the result to return.
 */

static tn_int_t
tn_mail_imap_literal_data(tn_mail_imap_parse_t *p, tn_buf_t *b)
{
    u_char              *nul;
    size_t               n;
    tn_mail_imap_arg_t  *arg;

    if (p->state == sw_literal_ready) {
        p->state = p->literal_stream ? sw_literal_stream : sw_literal_mem;
    }

    n = (size_t) tn_min((uint64_t) (b->last - b->pos), p->literal_left);

    if (p->state == sw_literal_mem) {
        nul = p->literal_binary ? NULL : tn_strlchr(b->pos, b->pos + n, '\0');

        if (nul) {
            /* CHAR8 (RFC 3501): the NUL and the rest are skipped */
            p->literal_left -= nul - b->pos;
            tn_mail_imap_parse_refuse(p);
            p->err = "NUL in literal";
            b->pos = nul;
            return TN_MAIL_IMAP_INVALID_CHAR;
        }

        arg = p->literal;
        tn_memcpy(arg->value.data + arg->value.len, b->pos, n);
        arg->value.len += n;
        b->pos += n;
        p->literal_left -= n;

        if (p->literal_left) {
            return TN_AGAIN;
        }

        p->state = sw_after_arg;
        return TN_OK;
    }

    if (p->literal_left == 0) {
        p->state = sw_after_arg;
        return TN_MAIL_IMAP_LITERAL_END;
    }

    if (b->pos == b->last) {
        return TN_AGAIN;
    }

    p->data.data = b->pos;
    p->data.len = n;

    if (!p->literal_binary
        && tn_strlchr(p->data.data, p->data.data + p->data.len, '\0'))
    {
        p->literal_nul = 1;
    }

    b->pos += p->data.len;
    p->literal_left -= p->data.len;

    return TN_MAIL_IMAP_LITERAL_DATA;
}


/*
 * An error at pos: the byte at pos is not used, the skip starts at it.
 * A literal header being read goes on being recognised while skipping,
 * so that "{5+}" is never half forgotten.
 */

static tn_int_t
tn_mail_imap_fail(tn_mail_imap_parse_t *p, tn_buf_t *b, u_char *pos,
    tn_int_t rc, const char *err)
{
    switch (p->state) {
    case sw_literal_digits:
        p->state = p->ndigits ? sw_skip_digits : sw_skip_brace;
        break;
    case sw_literal_plus:
        p->state = sw_skip_plus;
        break;
    case sw_literal_cr:
        p->state = sw_skip_rbrace;
        break;
    case sw_literal_lf:
        p->state = sw_skip_cr;
        break;
    default:
        p->state = sw_skip;
        break;
    }

    p->err = err;
    p->tok = NULL;
    b->pos = pos;

    return rc;
}


/*
 * Skips to the end of the command being thrown away; TN_OK at its end
 * (p->state is sw_start, b->pos after it), TN_AGAIN when b is used up.
 * p->num and p->literal_sync follow a literal header at the end of a
 * line: "{n+}" CRLF means n octets to skip, "{n}" CRLF the end.
 */

static tn_int_t
tn_mail_imap_skip(tn_mail_imap_parse_t *p, tn_buf_t *b)
{
    u_char     ch, *pos;
    uint64_t   n;
    tn_uint_t  state;

    state = p->state;
    pos = b->pos;

    while (pos < b->last) {

        if (state == sw_skip_literal) {
            n = tn_min((uint64_t) (b->last - pos), p->skip_left);
            pos += n;
            p->skip_left -= n;

            if (p->skip_left) {
                break;
            }

            state = sw_skip;
            continue;
        }

        ch = *pos++;

        switch (state) {

        case sw_skip_brace:
            if (tn_mail_imap_is_digit(ch)) {
                p->num = ch - '0';
                state = sw_skip_digits;
                continue;
            }
            break;

        case sw_skip_digits:
            if (tn_mail_imap_is_digit(ch)) {
                p->num = tn_mail_imap_add_digit(p->num, ch);
                continue;
            }

            if (ch == '}') {
                p->literal_sync = 1;
                state = sw_skip_rbrace;
                continue;
            }

            if (ch == '+') {
                state = sw_skip_plus;
                continue;
            }

            break;

        case sw_skip_plus:
            if (ch == '}') {
                p->literal_sync = 0;
                state = sw_skip_rbrace;
                continue;
            }
            break;

        case sw_skip_rbrace:
            if (ch == CR) {
                state = sw_skip_cr;
                continue;
            }
            break;

        case sw_skip_cr:
            if (ch != LF) {
                break;
            }

            if (p->literal_sync) {
                /* the client waits for a "+" it will not get */
                goto done;
            }

            p->skip_left = p->num;
            state = sw_skip_literal;
            continue;

        default:
            break;
        }

        /* sw_skip, or a literal header that was not one */

        if (ch == LF) {
            goto done;
        }

        if (ch == '{') {
            p->num = 0;
            state = sw_skip_brace;

        } else {
            state = sw_skip;
        }
    }

    b->pos = pos;
    p->state = state;

    return TN_AGAIN;

done:

    b->pos = pos;
    p->state = sw_start;

    return TN_OK;
}


/* a new command: forget the last one, whose pool may be gone */

static void
tn_mail_imap_begin(tn_mail_imap_parse_t *p)
{
    tn_str_null(&p->tag);
    tn_str_null(&p->name);
    p->command = 0;
    p->uid = 0;
    p->args = NULL;
    p->nargs = 0;
    p->err = NULL;

    p->literal = NULL;
    p->literal_size = 0;
    p->literal_left = 0;
    tn_str_null(&p->data);
    p->literal_sync = 0;
    p->literal_binary = 0;
    p->literal_stream = 0;
    p->literal_nul = 0;

    p->line_len = 0;
    p->literal_total = 0;
    p->depth = 0;
    p->nnodes = 0;
    p->list = NULL;
    p->last = NULL;

    p->tok = NULL;
    p->tok_len = 0;
    p->tok_size = 0;
}


/* keeps [start, end) of a token that goes on in the next call */

static tn_int_t
tn_mail_imap_save(tn_mail_imap_parse_t *p, u_char *start, u_char *end)
{
    u_char  *t;
    size_t   n, size;

    n = end - start;

    if (n == 0) {
        return TN_OK;
    }

    if (p->tok_len + n > p->tok_size) {

        /* the line length bounds a token: never more than max_line */

        size = p->tok_size ? p->tok_size * 2 : 64;

        while (size < p->tok_len + n) {
            size *= 2;
        }

        size = tn_min(size, tn_max(p->max_line, p->tok_len + n));

        t = tn_pnalloc(p->pool, size);
        if (t == NULL) {
            return TN_ERROR;
        }

        if (p->tok_len) {
            tn_memcpy(t, p->tok, p->tok_len);
        }

        if (p->tok) {
            (void) tn_pfree(p->pool, p->tok);
        }

        p->tok = t;
        p->tok_size = size;
    }

    tn_memcpy(p->tok + p->tok_len, start, n);
    p->tok_len += n;

    return TN_OK;
}


/*
 * The token: what was saved and [start, end), copied to the pool with a
 * NUL; a quoted string's escapes are undone (they were checked).
 */

static tn_int_t
tn_mail_imap_token(tn_mail_imap_parse_t *p, u_char *start, u_char *end,
    tn_uint_t unescape, tn_str_t *s)
{
    u_char  *d, *q, *last;
    size_t   len;

    len = p->tok_len + (end - start);

    d = tn_pnalloc(p->pool, len + 1);
    if (d == NULL) {
        return TN_ERROR;
    }

    if (p->tok_len) {
        tn_memcpy(d, p->tok, p->tok_len);
    }

    tn_memcpy(d + p->tok_len, start, end - start);
    d[len] = '\0';

    p->tok_len = 0;

    if (unescape) {
        last = d + len;

        for (q = d, len = 0; q < last; q++) {
            if (*q == '\\') {
                q++;
            }
            d[len++] = *q;
        }

        d[len] = '\0';
    }

    s->data = d;
    s->len = len;

    return TN_OK;
}


/*
 * The command name in name: TN_OK (p->command set), TN_DECLINED for the
 * "UID" prefix, TN_ERROR for a name not known (or not one "UID" takes).
 */

static tn_int_t
tn_mail_imap_name(tn_mail_imap_parse_t *p, tn_str_t *name)
{
    tn_mail_imap_command_t  *c;

    if (!p->uid && name->len == 3 && tn_mail_imap_caseeq(name->data, "UID", 3))
    {
        p->uid = 1;
        return TN_DECLINED;
    }

    for (c = tn_mail_imap_commands; c->name.len; c++) {
        if (c->name.len == name->len
            && tn_mail_imap_caseeq(name->data, (const char *) c->name.data,
                                   name->len))
        {
            if (p->uid && !c->uid) {
                return TN_ERROR;
            }

            p->command = c->command;
            return TN_OK;
        }
    }

    return TN_ERROR;
}


/*
 * A new argument at the current level.  TN_OK; TN_ERROR (no memory) or
 * TN_MAIL_IMAP_TOO_MANY_ARGS with p->err set.
 */

static tn_int_t
tn_mail_imap_add(tn_mail_imap_parse_t *p, tn_uint_t type,
    tn_mail_imap_arg_t **argp)
{
    tn_mail_imap_arg_t  *arg;

    if (p->nnodes == p->max_args) {
        p->err = "too many arguments";
        return TN_MAIL_IMAP_TOO_MANY_ARGS;
    }

    arg = tn_pcalloc(p->pool, sizeof(tn_mail_imap_arg_t));
    if (arg == NULL) {
        return TN_ERROR;
    }

    arg->type = type;
    arg->parent = p->list;

    if (p->last) {
        p->last->next = arg;

    } else if (p->list) {
        p->list->list = arg;

    } else {
        p->args = arg;
    }

    if (p->list) {
        p->list->nelts++;

    } else {
        p->nargs++;
    }

    p->last = arg;
    p->nnodes++;

    *argp = arg;

    return TN_OK;
}


/* an atom ends at end: its type, NIL or NUMBER, and whether an astring */

static tn_int_t
tn_mail_imap_atom(tn_mail_imap_parse_t *p, u_char *start, u_char *end)
{
    u_char              *q, *last;
    uint64_t             n;
    tn_int_t             rc;
    tn_uint_t            digits, astring;
    tn_mail_imap_arg_t  *arg;

    rc = tn_mail_imap_add(p, TN_MAIL_IMAP_ARG_ATOM, &arg);
    if (rc != TN_OK) {
        return rc;
    }

    if (tn_mail_imap_token(p, start, end, 0, &arg->value) != TN_OK) {
        return TN_ERROR;
    }

    arg->section = p->section_done;

    last = arg->value.data + arg->value.len;
    digits = 1;
    astring = !p->section_done;
    n = 0;

    for (q = arg->value.data; q < last; q++) {
        if (!tn_mail_imap_is_digit(*q)) {
            digits = 0;

        } else if (digits) {
            /* number64 (RFC 9051): 0..2^63 - 1 */
            if (n > (uint64_t) (INT64_MAX - (*q - '0')) / 10) {
                digits = 0;
            }
            n = n * 10 + (*q - '0');
        }

        if (*q == '%' || *q == '*' || *q == '\\') {
            astring = 0;
        }
    }

    arg->astring = astring;

    if (digits) {
        arg->type = TN_MAIL_IMAP_ARG_NUMBER;
        arg->number = n;

    } else if (arg->value.len == 3
               && tn_mail_imap_caseeq(arg->value.data, "NIL", 3))
    {
        arg->type = TN_MAIL_IMAP_ARG_NIL;
    }

    return TN_OK;
}


/* "[" after the atom so far: does it open a section? */

static tn_uint_t
tn_mail_imap_section_start(tn_mail_imap_parse_t *p)
{
    tn_mail_imap_fetch_att_t  *a;

    for (a = tn_mail_imap_fetch_atts; a->name.len; a++) {
        if (a->name.len == p->tok_total
            && tn_memcmp(p->head, a->name.data, a->name.len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * "{n}\r\n" was read: the literal's argument, kind and limit.
 * TN_MAIL_IMAP_LITERAL, an error (the caller then skips the literal) or
 * TN_ERROR.
 */

static tn_int_t
tn_mail_imap_literal_start(tn_mail_imap_parse_t *p, const char **err)
{
    uint64_t             limit;
    tn_int_t             rc;
    tn_mail_imap_arg_t  *arg;

    p->literal_size = p->num;
    p->literal_left = p->num;
    p->literal_nul = 0;

    /* APPEND: anything but the mailbox is message data */
    p->literal_stream = (p->command == TN_MAIL_IMAP_APPEND
                         && (p->nargs > 0 || p->list));

    if (p->literal_stream) {
        limit = p->max_append;

    } else {
        limit = (p->literal_total < p->max_literal)
                ? p->max_literal - p->literal_total : 0;
    }

    if (!p->literal_sync && p->literal_minus
        && p->literal_size > TN_MAIL_IMAP_LITERAL_MINUS_MAX)
    {
        *err = "non-synchronizing literal over 4096 octets";
        return TN_MAIL_IMAP_LITERAL_TOO_LARGE;
    }

    if (p->literal_size > limit) {
        *err = "literal too large";
        return TN_MAIL_IMAP_LITERAL_TOO_LARGE;
    }

    rc = tn_mail_imap_add(p, TN_MAIL_IMAP_ARG_LITERAL, &arg);
    if (rc != TN_OK) {
        return rc;
    }

    arg->number = p->literal_size;
    arg->sync = p->literal_sync;
    arg->binary = p->literal_binary;
    arg->stream = p->literal_stream;
    arg->astring = !p->literal_stream;

    if (!p->literal_stream) {
        arg->value.data = tn_pnalloc(p->pool, (size_t) p->literal_size + 1);
        if (arg->value.data == NULL) {
            return TN_ERROR;
        }

        arg->value.data[p->literal_size] = '\0';
        p->literal_total += p->literal_size;
    }

    p->literal = arg;

    return TN_MAIL_IMAP_LITERAL;
}


/* the literal of the last header is not read: skip it if it is sent */

static void
tn_mail_imap_literal_skip(tn_mail_imap_parse_t *p)
{
    p->tok = NULL;

    if (p->literal_sync) {
        /* the client waits for a "+" and gets our tagged answer */
        p->state = sw_start;
        return;
    }

    p->skip_left = p->literal_left;
    p->state = sw_skip_literal;
}


/*
 * The lead byte of a UTF-8 character (RFC 3629) in a quoted string: the
 * number and first range of its continuation bytes, so that overlong
 * forms, surrogates, code points above U+10FFFF and C1 controls (C2 80..
 * C2 9F, which would reach logs) never pass.  0 for a byte that cannot
 * lead.
 */

static tn_uint_t
tn_mail_imap_utf8_lead(tn_mail_imap_parse_t *p, u_char ch)
{
    p->utf8_lo = 0x80;
    p->utf8_hi = 0xbf;

    if (ch >= 0xc2 && ch <= 0xdf) {
        p->utf8_need = 1;

        if (ch == 0xc2) {
            p->utf8_lo = 0xa0;
        }

    } else if (ch >= 0xe0 && ch <= 0xef) {
        p->utf8_need = 2;

        if (ch == 0xe0) {
            p->utf8_lo = 0xa0;

        } else if (ch == 0xed) {
            p->utf8_hi = 0x9f;
        }

    } else if (ch >= 0xf0 && ch <= 0xf4) {
        p->utf8_need = 3;

        if (ch == 0xf0) {
            p->utf8_lo = 0x90;

        } else if (ch == 0xf4) {
            p->utf8_hi = 0x8f;
        }

    } else {
        return 0;
    }

    return 1;
}


static tn_uint_t
tn_mail_imap_caseeq(u_char *s, const char *t, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (tn_toupper(s[i]) != tn_toupper((u_char) t[i])) {
            return 0;
        }
    }

    return 1;
}


void
tn_mail_imap_parse_init(tn_mail_imap_parse_t *p, tn_pool_t *pool)
{
    tn_memzero(p, sizeof(tn_mail_imap_parse_t));

    p->pool = pool;
    p->max_line = TN_MAIL_IMAP_MAX_LINE;
    p->max_literal = TN_MAIL_IMAP_MAX_LITERAL;
    p->max_append = TN_MAIL_IMAP_MAX_APPEND;
    p->max_depth = TN_MAIL_IMAP_MAX_DEPTH;
    p->max_args = TN_MAIL_IMAP_MAX_ARGS;
    p->state = sw_start;
}


void
tn_mail_imap_parse_refuse(tn_mail_imap_parse_t *p)
{
    p->tok = NULL;

    switch (p->state) {

    case sw_start:
        return;

    case sw_literal_ready:
        tn_mail_imap_literal_skip(p);
        return;

    case sw_literal_mem:
    case sw_literal_stream:
        p->skip_left = p->literal_left;
        p->state = sw_skip_literal;
        return;

    default:
        if (p->state < sw_skip) {
            p->state = sw_skip;
        }
        return;
    }
}


tn_uint_t
tn_mail_imap_parse_idle(tn_mail_imap_parse_t *p)
{
    return p->state == sw_start;
}


uint64_t
tn_mail_imap_parse_octets(tn_mail_imap_parse_t *p)
{
    switch (p->state) {
    case sw_literal_mem:
    case sw_literal_stream:
        return p->literal_left;
    case sw_skip_literal:
        return p->skip_left;
    default:
        return 0;
    }
}


void
tn_mail_imap_parse_wipe(tn_mail_imap_parse_t *p)
{
    tn_mail_imap_arg_t  *arg;

    arg = p->args;

    while (arg) {
        if (arg->value.len) {
            tn_explicit_memzero(arg->value.data, arg->value.len);
        }

        if (arg->list) {
            arg = arg->list;
            continue;
        }

        while (arg && arg->next == NULL) {
            arg = arg->parent;
        }

        if (arg) {
            arg = arg->next;
        }
    }

    if (p->tok && p->tok_size) {
        tn_explicit_memzero(p->tok, p->tok_size);
    }
}


tn_int_t
tn_mail_imap_arg_astring(tn_mail_imap_arg_t *arg, tn_str_t *s)
{
    if (arg->type == TN_MAIL_IMAP_ARG_LIST || !arg->astring) {
        return TN_ERROR;
    }

    *s = arg->value;

    return TN_OK;
}


/* sequence sets */

tn_int_t
tn_mail_imap_seqset_check(tn_str_t *set)
{
    size_t              off;
    tn_int_t            rc;
    tn_mail_imap_seq_t  r;

    if (set->len == 0) {
        return TN_ERROR;
    }

    off = 0;

    while ((rc = tn_mail_imap_seqset_next(set, &off, 1, &r)) == TN_OK) {
        /* void */
    }

    return (rc == TN_DONE) ? TN_OK : TN_ERROR;
}


tn_int_t
tn_mail_imap_seqset_next(tn_str_t *set, size_t *off, uint32_t star,
    tn_mail_imap_seq_t *r)
{
    u_char    *p, *end;
    uint32_t   a, z;

    if (*off >= set->len) {
        return (*off == 0) ? TN_ERROR : TN_DONE;
    }

    p = set->data + *off;
    end = set->data + set->len;

    if (*off && *p++ != ',') {
        return TN_ERROR;
    }

    r->saved = 0;

    if (p < end && *p == '$') {
        p++;
        r->saved = 1;
        a = 0;
        z = 0;

    } else {
        if (tn_mail_imap_seq_number(&p, end, star, &a) != TN_OK) {
            return TN_ERROR;
        }

        z = a;

        if (p < end && *p == ':') {
            p++;

            if (tn_mail_imap_seq_number(&p, end, star, &z) != TN_OK) {
                return TN_ERROR;
            }
        }
    }

    r->first = tn_min(a, z);
    r->last = tn_max(a, z);

    /* the next element, and no trailing "," */

    if (p < end && (*p != ',' || p + 1 == end)) {
        return TN_ERROR;
    }

    *off = p - set->data;

    return TN_OK;
}


/* seq-number: nz-number, or "*" which stands for star */

static tn_int_t
tn_mail_imap_seq_number(u_char **pp, u_char *end, uint32_t star,
    uint32_t *n)
{
    if (*pp < end && **pp == '*') {
        (*pp)++;
        *n = star;
        return TN_OK;
    }

    return tn_mail_imap_number32(pp, end, n, 1);
}


/*
 * A 32-bit number at *pp: nz-number (no leading zero, not 0) when nz,
 * else number (1*DIGIT).  TN_OK and *pp after it, or TN_ERROR.
 */

static tn_int_t
tn_mail_imap_number32(u_char **pp, u_char *end, uint32_t *n, tn_uint_t nz)
{
    u_char    *p;
    uint64_t   v;

    p = *pp;

    if (p == end || !tn_mail_imap_is_digit(*p) || (nz && *p == '0')) {
        return TN_ERROR;
    }

    v = 0;

    while (p < end && tn_mail_imap_is_digit(*p)) {
        v = v * 10 + (*p++ - '0');

        if (v > TN_MAIL_IMAP_SEQ_MAX) {
            return TN_ERROR;
        }
    }

    *n = (uint32_t) v;
    *pp = p;

    return TN_OK;
}


/* fetch attributes with a section */

tn_int_t
tn_mail_imap_parse_section(tn_str_t *att, tn_mail_imap_section_t *s)
{
    u_char                    *p, *end, *b;
    tn_mail_imap_fetch_att_t  *a;

    tn_memzero(s, sizeof(tn_mail_imap_section_t));

    p = att->data;
    end = p + att->len;

    b = tn_strlchr(p, end, '[');
    if (b == NULL) {
        return TN_DECLINED;
    }

    for (a = tn_mail_imap_fetch_atts; a->name.len; a++) {
        if (a->name.len == (size_t) (b - p)
            && tn_mail_imap_caseeq(p, (const char *) a->name.data,
                                   a->name.len))
        {
            break;
        }
    }

    if (a->name.len == 0) {
        return TN_DECLINED;
    }

    s->item = a->item;
    s->peek = a->peek;

    p = b + 1;

    if (tn_mail_imap_section_spec(&p, end, s) != TN_OK) {
        return TN_ERROR;
    }

    if (s->item != TN_MAIL_IMAP_FETCH_BODY
        && s->text != TN_MAIL_IMAP_SECTION_ALL)
    {
        return TN_ERROR;
    }

    if (p == end || *p++ != ']') {
        return TN_ERROR;
    }

    if (p == end) {
        return TN_OK;
    }

    /* "<" number "." nz-number ">" */

    if (s->item == TN_MAIL_IMAP_FETCH_BINARY_SIZE || *p++ != '<'
        || tn_mail_imap_number32(&p, end, &s->offset, 0) != TN_OK
        || p == end || *p++ != '.'
        || tn_mail_imap_number32(&p, end, &s->count, 1) != TN_OK
        || p == end || *p++ != '>' || p != end)
    {
        return TN_ERROR;
    }

    s->partial = 1;

    return TN_OK;
}


/* [section-part ["." section-text]] / section-msgtext, up to the "]" */

static tn_int_t
tn_mail_imap_section_spec(u_char **pp, u_char *end,
    tn_mail_imap_section_t *s)
{
    u_char     *p;
    size_t      n;
    uint32_t    part;
    tn_uint_t   text;

    p = *pp;

    while (p < end && tn_mail_imap_is_digit(*p)) {
        if (s->nparts == TN_MAIL_IMAP_SECTION_MAX_PARTS
            || tn_mail_imap_number32(&p, end, &part, 1) != TN_OK)
        {
            return TN_ERROR;
        }

        s->parts[s->nparts++] = part;

        if (p == end || *p != '.') {
            *pp = p;
            return TN_OK;
        }

        p++;
    }

    if (p < end && *p == ']') {
        if (s->nparts) {
            /* "1.]" */
            return TN_ERROR;
        }

        *pp = p;
        return TN_OK;
    }

    n = 0;

    while (p + n < end && p[n] != ']' && p[n] != ' ') {
        n++;
    }

    if (n == 6 && tn_mail_imap_caseeq(p, "HEADER", 6)) {
        text = TN_MAIL_IMAP_SECTION_HEADER;

    } else if (n == 13 && tn_mail_imap_caseeq(p, "HEADER.FIELDS", 13)) {
        text = TN_MAIL_IMAP_SECTION_FIELDS;

    } else if (n == 17 && tn_mail_imap_caseeq(p, "HEADER.FIELDS.NOT", 17)) {
        text = TN_MAIL_IMAP_SECTION_FIELDS_NOT;

    } else if (n == 4 && tn_mail_imap_caseeq(p, "TEXT", 4)) {
        text = TN_MAIL_IMAP_SECTION_TEXT;

    } else if (n == 4 && tn_mail_imap_caseeq(p, "MIME", 4) && s->nparts) {
        text = TN_MAIL_IMAP_SECTION_MIME;

    } else {
        return TN_ERROR;
    }

    s->text = text;
    p += n;

    if (text == TN_MAIL_IMAP_SECTION_FIELDS
        || text == TN_MAIL_IMAP_SECTION_FIELDS_NOT)
    {
        if (tn_mail_imap_section_fields(&p, end, s) != TN_OK) {
            return TN_ERROR;
        }
    }

    *pp = p;

    return TN_OK;
}


/*
 * SP "(" header-fld-name *(SP header-fld-name) ")": atoms or quoted
 * strings (no escapes) of RFC 5322 ftext; runs of SP are accepted as the
 * parser accepts them between arguments.
 */

static tn_int_t
tn_mail_imap_section_fields(u_char **pp, u_char *end,
    tn_mail_imap_section_t *s)
{
    u_char     *p, *start;
    tn_uint_t   quoted;

    p = *pp;

    if (p == end || *p++ != ' ' || p == end || *p++ != '(') {
        return TN_ERROR;
    }

    s->fields.data = p;

    for ( ;; ) {
        while (p < end && *p == ' ') {
            p++;
        }

        if (p == end) {
            return TN_ERROR;
        }

        if (*p == ')') {
            break;
        }

        quoted = (*p == '"');
        if (quoted) {
            p++;
        }

        start = p;

        while (p < end && *p > 0x20 && *p < 0x7f && *p != ':'
               && *p != '"' && *p != ')' && *p != '\\'
               && (quoted || tn_mail_imap_is_arg_char(*p)))
        {
            p++;
        }

        if (p == start) {
            return TN_ERROR;
        }

        if (quoted && (p == end || *p++ != '"')) {
            return TN_ERROR;
        }

        if (p == end || (*p != ' ' && *p != ')')) {
            return TN_ERROR;
        }

        s->nfields++;
    }

    if (s->nfields == 0) {
        return TN_ERROR;
    }

    s->fields.len = p - s->fields.data;
    *pp = p + 1;

    return TN_OK;
}


tn_int_t
tn_mail_imap_section_field(tn_str_t *fields, size_t *off, tn_str_t *name)
{
    u_char     *p, *end;
    tn_uint_t   quoted;

    if (*off >= fields->len) {
        /* fields->data is NULL when there are no fields */
        return TN_DONE;
    }

    p = fields->data + *off;
    end = fields->data + fields->len;

    while (p < end && *p == ' ') {
        p++;
    }

    if (p == end) {
        *off = fields->len;
        return TN_DONE;
    }

    /* tn_mail_imap_parse_section() let no SP or DQUOTE into a name */

    quoted = (*p == '"');
    name->data = p + quoted;

    for (p += quoted; p < end && *p != ' ' && *p != '"'; p++) {
        /* void */
    }

    name->len = p - name->data;
    *off = tn_min((size_t) (p + quoted - fields->data), fields->len);

    return TN_OK;
}
