
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include "tn_mail_mime.h"


/*
 * The body decoders of the MIME parser: base64 and quoted-printable, fed
 * the raw body of a leaf as it comes, byte by byte, so that they resume
 * across any split.  Errors are flagged in part->flags and never stop
 * decoding.  Output goes through p->dec_out to the decoded() handler,
 * flushed when full and at the end of each run.
 */


/* the quoted-printable decoder */
enum {
    sw_qp_text = 0,
    sw_qp_cr,                  /* CR: a line end or data */
    sw_qp_eq,                  /* '=' */
    sw_qp_eq_hex,              /* '=' and a hex digit */
    sw_qp_eq_wsp,              /* '=' and blanks: a soft break? */
    sw_qp_eq_cr                /* '=' [blanks] CR */
};


/* the base64 decoder, besides the quantum in dec_bits and dec_n */
enum {
    sw_b64_data = 0,
    sw_b64_pad1,               /* "xx=": one more '=' expected */
    sw_b64_padded              /* a quantum ended with padding */
};


static tn_int_t tn_mail_mime_b64_value(u_char ch);
static void tn_mail_mime_b64_byte(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl, u_char ch);
static tn_int_t tn_mail_mime_hex(u_char ch);
static void tn_mail_mime_qp_byte(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl, u_char ch);
static void tn_mail_mime_dec_put(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl, u_char ch);
static void tn_mail_mime_dec_wsp(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl);
static void tn_mail_mime_dec_flush(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl);


void
tn_mail_mime_dec_reset(tn_mail_mime_t *p)
{
    p->dec_state = 0;
    p->dec_bits = 0;
    p->dec_n = 0;
    p->dec_wsp_len = 0;
    p->dec_len = 0;
}


void
tn_mail_mime_dec_run(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    u_char *data, size_t len)
{
    size_t  i;

    switch (lvl->part.encoding) {

    case TN_MAIL_MIME_ENC_BASE64:
        for (i = 0; i < len; i++) {
            tn_mail_mime_b64_byte(p, lvl, data[i]);
        }

        break;

    case TN_MAIL_MIME_ENC_QP:
        for (i = 0; i < len; i++) {
            tn_mail_mime_qp_byte(p, lvl, data[i]);
        }

        break;

    default:
        tn_mail_mime_call_data(p, p->handlers.decoded, &lvl->part, data,
                               len);
        return;
    }

    tn_mail_mime_dec_flush(p, lvl);
}


void
tn_mail_mime_dec_finish(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl)
{
    tn_mail_mime_part_t  *part;

    part = &lvl->part;

    switch (part->encoding) {

    case TN_MAIL_MIME_ENC_BASE64:
        if (p->dec_n == 1) {
            part->flags |= TN_MAIL_MIME_F_B64_INVALID;

        } else if (p->dec_n == 2) {
            tn_mail_mime_dec_put(p, lvl, (u_char) (p->dec_bits >> 4));
            part->flags |= TN_MAIL_MIME_F_B64_PADDING;

        } else if (p->dec_n == 3) {
            tn_mail_mime_dec_put(p, lvl, (u_char) (p->dec_bits >> 10));
            tn_mail_mime_dec_put(p, lvl, (u_char) (p->dec_bits >> 2));
            part->flags |= TN_MAIL_MIME_F_B64_PADDING;

        } else if (p->dec_state == sw_b64_pad1) {
            part->flags |= TN_MAIL_MIME_F_B64_PADDING;
        }

        break;

    case TN_MAIL_MIME_ENC_QP:
        switch (p->dec_state) {

        case sw_qp_cr:
            /* blanks before a CR that ends the body are data */
            tn_mail_mime_dec_wsp(p, lvl);
            tn_mail_mime_dec_put(p, lvl, CR);
            break;

        case sw_qp_eq:
        case sw_qp_eq_wsp:
        case sw_qp_eq_cr:
            part->flags |= TN_MAIL_MIME_F_QP_EQ_END;
            break;

        case sw_qp_eq_hex:
            part->flags |= TN_MAIL_MIME_F_QP_INVALID;
            tn_mail_mime_dec_put(p, lvl, '=');
            tn_mail_mime_dec_put(p, lvl, p->dec_hex);
            break;

        default:
            /* trailing blanks at the end of the body are dropped */
            break;
        }

        break;

    default:
        return;
    }

    p->dec_wsp_len = 0;
    p->dec_state = 0;
    p->dec_n = 0;

    tn_mail_mime_dec_flush(p, lvl);
}


static tn_int_t
tn_mail_mime_b64_value(u_char ch)
{
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }

    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }

    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }

    if (ch == '+') {
        return 62;
    }

    if (ch == '/') {
        return 63;
    }

    return -1;
}


/*
 * Base64 (RFC 2045 6.8): blanks and line ends are skipped, bytes outside
 * the alphabet are skipped and flagged; "xx==" and "xxx=" end a quantum
 * and decoding goes on after them (concatenated base64); a quantum left
 * incomplete at the end is decoded as far as it goes and flagged.
 */

static void
tn_mail_mime_b64_byte(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    u_char ch)
{
    tn_int_t              v;
    tn_mail_mime_part_t  *part;

    part = &lvl->part;
    v = tn_mail_mime_b64_value(ch);

    if (v >= 0) {
        if (p->dec_state == sw_b64_pad1) {
            part->flags |= TN_MAIL_MIME_F_B64_PADDING;
        }

        p->dec_state = sw_b64_data;
        p->dec_bits = (p->dec_bits << 6) | (uint32_t) v;

        if (++p->dec_n == 4) {
            tn_mail_mime_dec_put(p, lvl, (u_char) (p->dec_bits >> 16));
            tn_mail_mime_dec_put(p, lvl, (u_char) (p->dec_bits >> 8));
            tn_mail_mime_dec_put(p, lvl, (u_char) p->dec_bits);
            p->dec_n = 0;
            p->dec_bits = 0;
        }

        return;
    }

    if (ch == '=') {
        switch (p->dec_n) {

        case 2:
            tn_mail_mime_dec_put(p, lvl, (u_char) (p->dec_bits >> 4));
            p->dec_state = sw_b64_pad1;
            break;

        case 3:
            tn_mail_mime_dec_put(p, lvl, (u_char) (p->dec_bits >> 10));
            tn_mail_mime_dec_put(p, lvl, (u_char) (p->dec_bits >> 2));
            p->dec_state = sw_b64_padded;
            break;

        default:
            if (p->dec_n == 0 && p->dec_state == sw_b64_pad1) {
                p->dec_state = sw_b64_padded;
                return;
            }

            /* '=' in the middle of a quantum or after the padding */
            part->flags |= TN_MAIL_MIME_F_B64_INVALID;
            break;
        }

        p->dec_n = 0;
        p->dec_bits = 0;
        return;
    }

    if (ch == ' ' || ch == '\t' || ch == CR || ch == LF) {
        return;
    }

    part->flags |= TN_MAIL_MIME_F_B64_INVALID;
}


static tn_int_t
tn_mail_mime_hex(u_char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }

    ch |= 0x20;

    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }

    return -1;
}


/*
 * Quoted-printable (RFC 2045 6.7): "=XX" in either case; '=' before a
 * line end, with blanks between or not, is a soft line break; blanks
 * before a hard line end are dropped (rule 3); an '=' followed by
 * anything else is kept as data and flagged.  Line ends are passed on as
 * they are (LF or CRLF).  One switch over the states, nginx style.
 */

static void
tn_mail_mime_qp_byte(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    u_char ch)
{
    tn_int_t              hi, lo;
    tn_mail_mime_part_t  *part;

    part = &lvl->part;

again:

    switch (p->dec_state) {

    case sw_qp_text:
        if (ch == '=') {
            tn_mail_mime_dec_wsp(p, lvl);
            p->dec_state = sw_qp_eq;
            return;
        }

        if (ch == ' ' || ch == '\t') {
            if (p->dec_wsp_len == TN_MAIL_MIME_QP_WSP_MAX) {
                tn_mail_mime_dec_wsp(p, lvl);
            }

            p->dec_wsp[p->dec_wsp_len++] = ch;
            return;
        }

        if (ch == CR) {
            p->dec_state = sw_qp_cr;
            return;
        }

        if (ch == LF) {
            p->dec_wsp_len = 0;
            tn_mail_mime_dec_put(p, lvl, LF);
            return;
        }

        tn_mail_mime_dec_wsp(p, lvl);
        tn_mail_mime_dec_put(p, lvl, ch);
        return;

    case sw_qp_cr:
        p->dec_state = sw_qp_text;

        if (ch == LF) {
            p->dec_wsp_len = 0;
            tn_mail_mime_dec_put(p, lvl, CR);
            tn_mail_mime_dec_put(p, lvl, LF);
            return;
        }

        /* a bare CR is data */
        tn_mail_mime_dec_wsp(p, lvl);
        tn_mail_mime_dec_put(p, lvl, CR);
        goto again;

    case sw_qp_eq:
        if (tn_mail_mime_hex(ch) >= 0) {
            p->dec_hex = ch;
            p->dec_state = sw_qp_eq_hex;
            return;
        }

        if (ch == ' ' || ch == '\t') {
            p->dec_wsp[p->dec_wsp_len++] = ch;
            p->dec_state = sw_qp_eq_wsp;
            return;
        }

        if (ch == CR) {
            p->dec_state = sw_qp_eq_cr;
            return;
        }

        if (ch == LF) {
            /* a soft line break */
            p->dec_state = sw_qp_text;
            return;
        }

        part->flags |= TN_MAIL_MIME_F_QP_INVALID;
        tn_mail_mime_dec_put(p, lvl, '=');
        p->dec_state = sw_qp_text;
        goto again;

    case sw_qp_eq_hex:
        p->dec_state = sw_qp_text;
        lo = tn_mail_mime_hex(ch);

        if (lo >= 0) {
            hi = tn_mail_mime_hex(p->dec_hex);
            tn_mail_mime_dec_put(p, lvl, (u_char) (hi << 4 | lo));
            return;
        }

        part->flags |= TN_MAIL_MIME_F_QP_INVALID;
        tn_mail_mime_dec_put(p, lvl, '=');
        tn_mail_mime_dec_put(p, lvl, p->dec_hex);
        goto again;

    case sw_qp_eq_wsp:
        if (ch == ' ' || ch == '\t') {
            /* past the buffer, blanks after '=' are not kept */
            if (p->dec_wsp_len < TN_MAIL_MIME_QP_WSP_MAX) {
                p->dec_wsp[p->dec_wsp_len++] = ch;
            }

            return;
        }

        if (ch == CR) {
            p->dec_state = sw_qp_eq_cr;
            return;
        }

        if (ch == LF) {
            p->dec_wsp_len = 0;
            p->dec_state = sw_qp_text;
            return;
        }

        part->flags |= TN_MAIL_MIME_F_QP_INVALID;
        tn_mail_mime_dec_put(p, lvl, '=');
        tn_mail_mime_dec_wsp(p, lvl);
        p->dec_state = sw_qp_text;
        goto again;

    default: /* sw_qp_eq_cr */
        p->dec_state = sw_qp_text;

        if (ch == LF) {
            p->dec_wsp_len = 0;
            return;
        }

        part->flags |= TN_MAIL_MIME_F_QP_INVALID;
        tn_mail_mime_dec_put(p, lvl, '=');
        tn_mail_mime_dec_wsp(p, lvl);
        tn_mail_mime_dec_put(p, lvl, CR);
        goto again;
    }
}


static void
tn_mail_mime_dec_put(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    u_char ch)
{
    if (p->dec_len == TN_MAIL_MIME_DECODE_BUF) {
        tn_mail_mime_dec_flush(p, lvl);
    }

    p->dec_out[p->dec_len++] = ch;
}


/* the blanks held by the QP decoder are data after all */

static void
tn_mail_mime_dec_wsp(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl)
{
    size_t  i;

    for (i = 0; i < p->dec_wsp_len; i++) {
        tn_mail_mime_dec_put(p, lvl, p->dec_wsp[i]);
    }

    p->dec_wsp_len = 0;
}


static void
tn_mail_mime_dec_flush(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl)
{
    if (p->dec_len) {
        tn_mail_mime_call_data(p, p->handlers.decoded, &lvl->part,
                               p->dec_out, p->dec_len);
        p->dec_len = 0;
    }
}
