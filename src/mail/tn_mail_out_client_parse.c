
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include "tn_mail_out_client.h"


/*
 * The byte layer of the outbound SMTP client: what the remote server
 * says (replies, EHLO keywords) and what we send of a message.  A
 * malicious server decides every byte the reply parser sees (OpenSMTPD
 * CVE-2020-8794 was an out-of-bounds read on a multi-line reply), so
 * the parser looks at each line once it is complete, through its length
 * only, and keeps nothing but copies of bounded size.
 */


#define tn_mail_out_is_digit(c)  ((c) >= '0' && (c) <= '9')
#define tn_mail_out_is_alnum(c)                                              \
    (tn_mail_out_is_digit(c) || ((c) >= 'a' && (c) <= 'z')                   \
     || ((c) >= 'A' && (c) <= 'Z'))


static tn_int_t tn_mail_out_reply_error(tn_mail_out_reply_t *r, tn_int_t rc,
    const char *error);
static void tn_mail_out_reply_esc(tn_mail_out_reply_t *r, u_char *p,
    u_char *last);
static void tn_mail_out_reply_text(tn_mail_out_reply_t *r, u_char *p,
    u_char *last);
static tn_uint_t tn_mail_out_word(u_char *p, size_t len, const char *word);


/* replies */


void
tn_mail_out_reply_init(tn_mail_out_reply_t *r)
{
    tn_memzero(r, sizeof(tn_mail_out_reply_t));

    /* the first line starts a reply */
    r->last = 1;
}


tn_int_t
tn_mail_out_parse_reply(tn_mail_out_reply_t *r, tn_buf_t *b)
{
    u_char     *start, *end, *lf, *p, *text;
    size_t      avail, len;
    tn_uint_t   code, more;

    if (r->state) {
        /* an error is final: the connection is dropped */
        return r->state;
    }

    start = b->pos;
    avail = b->last - start;

    lf = NULL;

    if (avail > r->line_len) {
        lf = memchr(start + r->line_len, LF, avail - r->line_len);
    }

    if (lf == NULL) {
        /* with its LF still to come the line is at least avail + 1 long */

        if (avail >= TN_MAIL_OUT_REPLY_LINE_MAX) {
            return tn_mail_out_reply_error(r, TN_MAIL_OUT_REPLY_TOO_LONG,
                                           "reply line too long");
        }

        r->line_len = avail;

        return TN_AGAIN;
    }

    if ((size_t) (lf + 1 - start) > TN_MAIL_OUT_REPLY_LINE_MAX) {
        return tn_mail_out_reply_error(r, TN_MAIL_OUT_REPLY_TOO_LONG,
                                       "reply line too long");
    }

    end = lf;

    if (end > start && end[-1] == CR) {
        end--;
    }

    len = end - start;

    if (len < 3
        || start[0] < '2' || start[0] > '5'
        || !tn_mail_out_is_digit(start[1])
        || !tn_mail_out_is_digit(start[2]))
    {
        return tn_mail_out_reply_error(r, TN_MAIL_OUT_REPLY_INVALID,
                                       "reply without a valid code");
    }

    more = 0;
    text = end;

    if (len > 3) {
        if (start[3] == '-') {
            more = 1;

        } else if (start[3] != ' ') {
            return tn_mail_out_reply_error(r, TN_MAIL_OUT_REPLY_INVALID,
                                           "invalid reply code separator");
        }

        text = start + 4;
    }

    for (p = start; p < end; p++) {
        if (*p == CR || *p == '\0') {
            return tn_mail_out_reply_error(r, TN_MAIL_OUT_REPLY_INVALID,
                                           "CR or NUL in a reply line");
        }
    }

    code = (start[0] - '0') * 100 + (start[1] - '0') * 10 + (start[2] - '0');

    if (r->last) {
        /* a new reply */
        r->lines = 0;
        r->text_len = 0;
        r->esc[0] = '\0';

    } else if (code != r->code) {
        return tn_mail_out_reply_error(r, TN_MAIL_OUT_REPLY_INVALID,
                                       "reply lines with different codes");
    }

    if (more && r->lines + 1 >= TN_MAIL_OUT_REPLY_LINES_MAX) {
        return tn_mail_out_reply_error(r, TN_MAIL_OUT_REPLY_INVALID,
                                       "too many reply lines");
    }

    r->code = code;
    r->lines++;

    if (r->lines == 1) {
        tn_mail_out_reply_esc(r, text, end);
    }

    tn_mail_out_reply_text(r, start, end);

    r->line.data = text;
    r->line.len = end - text;
    r->last = !more;
    r->line_len = 0;

    b->pos = lf + 1;

    return TN_OK;
}


static tn_int_t
tn_mail_out_reply_error(tn_mail_out_reply_t *r, tn_int_t rc,
    const char *error)
{
    r->state = rc;
    r->error = error;

    return rc;
}


/*
 * RFC 3463: class "." subject "." detail, 1 to 3 digits each, then a
 * space or the end; kept only when the class is the reply's (RFC 2034
 * 3: a mismatch is the server's error, and the reply code wins).
 */

static void
tn_mail_out_reply_esc(tn_mail_out_reply_t *r, u_char *p, u_char *last)
{
    u_char     *q;
    size_t      n;
    tn_uint_t   part;

    if (last - p < 5 || *p != (u_char) ('0' + r->code / 100)) {
        return;
    }

    q = p + 1;

    for (part = 0; part < 2; part++) {

        if (q == last || *q != '.') {
            return;
        }

        q++;

        for (n = 0; q < last && tn_mail_out_is_digit(*q); n++, q++) {
            if (n == 3) {
                return;
            }
        }

        if (n == 0) {
            return;
        }
    }

    if (q < last && *q != ' ') {
        return;
    }

    /* at most "5.123.456": 9 octets */

    tn_memcpy(r->esc, p, q - p);
    r->esc[q - p] = '\0';
}


static void
tn_mail_out_reply_text(tn_mail_out_reply_t *r, u_char *p, u_char *last)
{
    size_t  room;

    room = TN_MAIL_OUT_REPLY_TEXT_MAX - r->text_len;

    if (room == 0) {
        return;
    }

    if (r->text_len) {
        r->text[r->text_len++] = ' ';
        room--;
    }

    for ( /* void */ ; p < last && room; p++, room--) {
        r->text[r->text_len++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    }
}


/* EHLO */


void
tn_mail_out_ehlo_line(tn_mail_out_ext_t *ext, u_char *p, size_t len)
{
    u_char     *last, *w;
    off_t       size;
    size_t      n;
    tn_uint_t   digits;

    last = p + len;

    for (w = p; p < last && *p != ' ' && *p != '='; p++) { /* void */ }

    n = p - w;

    if (tn_mail_out_word(w, n, "PIPELINING")) {
        ext->pipelining = 1;

    } else if (tn_mail_out_word(w, n, "8BITMIME")) {
        ext->eightbitmime = 1;

    } else if (tn_mail_out_word(w, n, "SMTPUTF8")) {
        ext->smtputf8 = 1;

    } else if (tn_mail_out_word(w, n, "CHUNKING")) {
        ext->chunking = 1;

    } else if (tn_mail_out_word(w, n, "DSN")) {
        ext->dsn = 1;

    } else if (tn_mail_out_word(w, n, "STARTTLS")) {
        ext->starttls = 1;

    } else if (tn_mail_out_word(w, n, "ENHANCEDSTATUSCODES")) {
        ext->enhancedstatuscodes = 1;

    } else if (tn_mail_out_word(w, n, "SIZE")) {
        ext->size = 1;
        ext->max_size = 0;

        while (p < last && *p == ' ') {
            p++;
        }

        /* 18 digits fit in an off_t; a bigger limit is no limit */

        size = 0;

        for (digits = 0; p < last && tn_mail_out_is_digit(*p); p++) {
            if (++digits > 18) {
                return;
            }

            size = size * 10 + (*p - '0');
        }

        if (p == last) {
            ext->max_size = size;
        }

    } else if (tn_mail_out_word(w, n, "AUTH")) {
        ext->auth = 1;

        while (p < last) {

            /* the separator: ' ' or, once, the '=' of "AUTH=" */
            p++;

            for (w = p; p < last && *p != ' '; p++) { /* void */ }

            if (tn_mail_out_word(w, p - w, "PLAIN")) {
                ext->auth_plain = 1;

            } else if (tn_mail_out_word(w, p - w, "LOGIN")) {
                ext->auth_login = 1;
            }
        }
    }
}


/* a word equal to an upper case ASCII word, without case */

static tn_uint_t
tn_mail_out_word(u_char *p, size_t len, const char *word)
{
    size_t  i;
    u_char  c;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c >= 'a' && c <= 'z') {
            c = (u_char) (c - 'a' + 'A');
        }

        if (word[i] == '\0' || c != (u_char) word[i]) {
            return 0;
        }
    }

    return word[len] == '\0';
}


/* the message text */


void
tn_mail_out_encode_init(tn_mail_out_encode_t *e, tn_uint_t dot)
{
    tn_memzero(e, sizeof(tn_mail_out_encode_t));

    e->dot = dot ? 1 : 0;
    e->header = 1;
}


void
tn_mail_out_encode(tn_mail_out_encode_t *e, tn_buf_t *in, tn_buf_t *out)
{
    u_char  *p, *q, *last, *end, ch;

    p = in->pos;
    last = in->last;
    q = out->last;
    end = out->end;

    for ( /* void */ ; p < last; p++) {

        if (end - q < TN_MAIL_OUT_ENCODE_ROOM) {
            break;
        }

        ch = *p;

        if (ch == LF) {
            if (e->cr) {
                /* the CR before it made the line end */
                e->cr = 0;
                continue;
            }

            goto line_end;
        }

        e->cr = 0;

        if (ch == CR) {
            /* CRLF, or a bare CR: both end the line here */
            e->cr = 1;
            goto line_end;
        }

        if (e->col >= TN_MAIL_OUT_LINE_MAX) {

            *q++ = CR;
            *q++ = LF;
            e->split++;

            if (e->header) {
                /* folded: the rest is a continuation line */
                *q++ = ' ';
                e->col = 1;

            } else {
                e->col = 0;
            }
        }

        if (e->col == 0 && ch == '.' && e->dot) {
            *q++ = '.';
            e->col++;
        }

        if (ch >= 0x80) {
            e->has_8bit = 1;
        }

        *q++ = ch;
        e->col++;

        continue;

    line_end:

        if (e->header && e->col == 0) {
            /* the empty line after the header */
            e->header = 0;
        }

        *q++ = CR;
        *q++ = LF;
        e->col = 0;
    }

    in->pos = p;
    out->last = q;
}


void
tn_mail_out_encode_finish(tn_mail_out_encode_t *e, tn_buf_t *out)
{
    if (e->col) {
        *out->last++ = CR;
        *out->last++ = LF;
        e->col = 0;
    }

    e->cr = 0;
}


/* DSN parameters */


u_char *
tn_mail_out_xtext(u_char *dst, u_char *src, size_t len)
{
    static u_char  hex[] = "0123456789ABCDEF";

    while (len--) {

        if (*src < 33 || *src > 126 || *src == '+' || *src == '=') {
            *dst++ = '+';
            *dst++ = hex[*src >> 4];
            *dst++ = hex[*src & 0xf];

        } else {
            *dst++ = *src;
        }

        src++;
    }

    return dst;
}


tn_uint_t
tn_mail_out_orcpt_valid(u_char *p, size_t len)
{
    u_char     *last, *start;
    tn_uint_t   i;

    last = p + len;

    for (start = p; p < last && *p != ';'; p++) {
        if (!tn_mail_out_is_alnum(*p) && *p != '-') {
            return 0;
        }
    }

    if (p == start || p == last || ++p == last) {
        return 0;
    }

    while (p < last) {

        if (*p == '+') {
            if (last - p < 3) {
                return 0;
            }

            for (i = 1; i < 3; i++) {
                if (!tn_mail_out_is_digit(p[i])
                    && !(p[i] >= 'A' && p[i] <= 'F'))
                {
                    return 0;
                }
            }

            p += 3;
            continue;
        }

        if (*p < 33 || *p > 126 || *p == '=') {
            return 0;
        }

        p++;
    }

    return 1;
}


size_t
tn_mail_out_printable(u_char *dst, size_t size, u_char *src, size_t len)
{
    size_t  n;

    if (size == 0) {
        return 0;
    }

    for (n = 0; n < len && n < size - 1; n++) {
        dst[n] = (src[n] >= 0x20 && src[n] < 0x7f) ? src[n] : '?';
    }

    dst[n] = '\0';

    return n;
}
