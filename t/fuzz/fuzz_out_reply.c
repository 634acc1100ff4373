/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for the byte layer of the outbound SMTP client: what
 * a remote server sends (replies: OpenSMTPD CVE-2020-8794 was a
 * malicious multi-line reply) and what we send of a message.
 *
 * Input: byte 0 holds flags (bit 0: DATA dot-stuffing for the encoder);
 * byte 1 seeds the random splits (0 in the seed files, so that git and
 * auto/check-style take them for binary: they hold CRLFs); the rest is
 * what the server sends, and also a message text.  Checks:
 *   - replies: the whole stream, byte by byte (each piece copied to a
 *     buffer of exactly its size, so that ASan sees any read past it),
 *     and random splits give the same transcript, which must equal that
 *     of a plain reference of the reply syntax and limits; each line
 *     returned lies inside the bytes consumed; the text is printable
 *     ASCII within its limit; an enhanced status code is well-formed and
 *     of the reply's class;
 *   - EHLO keywords of every line returned (no crash, a sane size);
 *   - the encoder: any split of the input and of the output room gives
 *     the output of a plain reference encoder; no bare CR or LF, no
 *     line over the limit;
 *   - xtext of the input decodes back to it and holds only xchars.
 */


#include "../../src/mail/tn_mail_out_client_parse.c"


#define TN_FUZZ_MAX    (64 * 1024)


static uint64_t  tn_fuzz_seed;


static size_t
tn_fuzz_rand(size_t n)
{
    tn_fuzz_seed ^= tn_fuzz_seed << 13;
    tn_fuzz_seed ^= tn_fuzz_seed >> 7;
    tn_fuzz_seed ^= tn_fuzz_seed << 17;

    return (size_t) (tn_fuzz_seed % n);
}


/* FNV-1a over the results: a transcript can be megabytes */

static uint64_t
tn_fuzz_hash(uint64_t h, const void *data, size_t n)
{
    const u_char  *p = data;

    while (n--) {
        h = (h ^ *p++) * 0x100000001b3ULL;
    }

    return h;
}


static uint64_t
tn_fuzz_trace(uint64_t h, tn_int_t rc, tn_mail_out_reply_t *r)
{
    u_char  c[3];

    c[0] = (u_char) rc;

    if (rc != TN_OK) {
        return tn_fuzz_hash(h, c, 1);
    }

    c[1] = (u_char) (r->code - 200);
    c[2] = (u_char) r->last;

    h = tn_fuzz_hash(h, c, 3);
    h = tn_fuzz_hash(h, &r->line.len, sizeof(size_t));
    h = tn_fuzz_hash(h, r->line.data, r->line.len);
    h = tn_fuzz_hash(h, &r->text_len, sizeof(size_t));
    h = tn_fuzz_hash(h, r->text, r->text_len);

    return tn_fuzz_hash(h, r->esc, strlen(r->esc) + 1);
}


/* the checks of one line returned: [start, end) are the bytes consumed */

static void
tn_fuzz_check_line(tn_mail_out_reply_t *r, u_char *start, u_char *end)
{
    size_t              i, n, part;
    const char         *e;
    tn_mail_out_ext_t   ext;

    if (end - start > TN_MAIL_OUT_REPLY_LINE_MAX || end == start
        || end[-1] != LF
        || r->code < 200 || r->code > 599
        || r->line.data < start || r->line.data + r->line.len > end
        || r->text_len > TN_MAIL_OUT_REPLY_TEXT_MAX
        || r->lines < 1 || r->lines > TN_MAIL_OUT_REPLY_LINES_MAX)
    {
        abort();
    }

    for (i = 0; i < r->line.len; i++) {
        if (r->line.data[i] == CR || r->line.data[i] == '\0'
            || r->line.data[i] == LF)
        {
            abort();
        }
    }

    for (i = 0; i < r->text_len; i++) {
        if (r->text[i] < 0x20 || r->text[i] >= 0x7f) {
            abort();
        }
    }

    /* an enhanced code: class "." 1-3 digits "." 1-3 digits */

    e = r->esc;

    if (e[0]) {
        if (e[0] != '0' + (char) (r->code / 100)) {
            abort();
        }

        e++;

        for (part = 0; part < 2; part++) {
            if (*e++ != '.') {
                abort();
            }

            for (n = 0; *e >= '0' && *e <= '9'; e++, n++) { /* void */ }

            if (n < 1 || n > 3) {
                abort();
            }
        }

        if (*e != '\0') {
            abort();
        }
    }

    tn_memzero(&ext, sizeof(tn_mail_out_ext_t));
    tn_mail_out_ehlo_line(&ext, r->line.data, r->line.len);

    if (ext.max_size < 0) {
        abort();
    }
}


/*
 * mode 0: whole; 1: byte by byte, the unread bytes copied to a buffer of
 * exactly their size; 2: random splits.  Returns the hash of the
 * transcript; codes gets the result code of each call but TN_AGAIN ones
 * before the end, *ncodes their number.
 */

static uint64_t
tn_fuzz_run(const u_char *data, size_t len, int mode, u_char *codes,
    size_t *ncodes)
{
    u_char               *buf, *nbuf, *start;
    size_t                given, n, rest;
    tn_buf_t              b;
    tn_int_t              rc;
    uint64_t              h;
    tn_uint_t             calls;
    tn_mail_out_reply_t   r;

    tn_mail_out_reply_init(&r);

    h = 0xcbf29ce484222325ULL;
    *ncodes = 0;

    buf = malloc(1);
    b.start = b.pos = b.last = b.end = buf;

    given = 0;

    for (calls = 0; /* void */ ; calls++) {

        if (calls > 4 * len + 16) {
            abort();
        }

        start = b.pos;

        rc = tn_mail_out_parse_reply(&r, &b);

        if (b.pos < start || b.pos > b.last) {
            abort();
        }

        if (rc == TN_OK) {
            tn_fuzz_check_line(&r, start, b.pos);
            h = tn_fuzz_trace(h, rc, &r);
            codes[(*ncodes)++] = (u_char) rc;
            continue;
        }

        if (rc != TN_AGAIN) {
            if ((rc != TN_MAIL_OUT_REPLY_INVALID
                 && rc != TN_MAIL_OUT_REPLY_TOO_LONG)
                || r.error == NULL || b.pos != start)
            {
                abort();
            }

            /* the error stays */
            if (tn_mail_out_parse_reply(&r, &b) != rc) {
                abort();
            }

            h = tn_fuzz_trace(h, rc, &r);
            codes[(*ncodes)++] = (u_char) rc;
            break;
        }

        if (b.pos != start) {
            abort();
        }

        if (given == len) {
            h = tn_fuzz_trace(h, rc, &r);
            codes[(*ncodes)++] = (u_char) rc;
            break;
        }

        n = (mode == 0) ? len : (mode == 1) ? 1 : 1 + tn_fuzz_rand(64);
        n = tn_min(n, len - given);

        /* the unread bytes and the new ones, in a buffer of their size */

        rest = b.last - b.pos;
        nbuf = malloc(rest + n);

        tn_memcpy(nbuf, b.pos, rest);
        tn_memcpy(nbuf + rest, data + given, n);

        free(buf);
        buf = nbuf;

        b.start = b.pos = buf;
        b.last = b.end = buf + rest + n;

        given += n;
    }

    free(buf);

    return h;
}


/* the plain reference: the result codes of the replies in data */

static size_t
tn_fuzz_ref(const u_char *data, size_t len, u_char *out)
{
    const u_char  *l, *lf, *end, *p;
    u_char        *o;
    size_t         n;
    tn_uint_t      code, lines, more, prev_more;

    o = out;
    l = data;
    lines = 0;
    prev_more = 0;
    code = 0;

    for ( ;; ) {
        lf = memchr(l, LF, data + len - l);

        if (lf == NULL) {
            *o++ = (data + len - l >= TN_MAIL_OUT_REPLY_LINE_MAX)
                   ? TN_MAIL_OUT_REPLY_TOO_LONG : (u_char) TN_AGAIN;
            break;
        }

        if (lf + 1 - l > TN_MAIL_OUT_REPLY_LINE_MAX) {
            *o++ = TN_MAIL_OUT_REPLY_TOO_LONG;
            break;
        }

        end = (lf > l && lf[-1] == CR) ? lf - 1 : lf;
        n = end - l;

        if (n < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9'
            || l[2] < '0' || l[2] > '9')
        {
            *o++ = TN_MAIL_OUT_REPLY_INVALID;
            break;
        }

        if (n > 3 && l[3] != ' ' && l[3] != '-') {
            *o++ = TN_MAIL_OUT_REPLY_INVALID;
            break;
        }

        for (p = l; p < end; p++) {
            if (*p == CR || *p == '\0') {
                break;
            }
        }

        if (p < end) {
            *o++ = TN_MAIL_OUT_REPLY_INVALID;
            break;
        }

        more = (n > 3 && l[3] == '-');

        if (prev_more
            && (tn_uint_t) ((l[0] - '0') * 100 + (l[1] - '0') * 10
                            + (l[2] - '0'))
               != code)
        {
            *o++ = TN_MAIL_OUT_REPLY_INVALID;
            break;
        }

        lines = prev_more ? lines + 1 : 1;

        if (more && lines >= TN_MAIL_OUT_REPLY_LINES_MAX) {
            *o++ = TN_MAIL_OUT_REPLY_INVALID;
            break;
        }

        code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
        prev_more = more;

        *o++ = TN_OK;
        l = lf + 1;
    }

    return o - out;
}


/* the reference encoder, over the whole text at once */

static size_t
tn_fuzz_ref_encode(const u_char *in, size_t len, tn_uint_t dot, u_char *out)
{
    u_char   *o;
    size_t    i, col;
    int       header;

    o = out;
    col = 0;
    header = 1;

    for (i = 0; i < len; i++) {

        if (in[i] == CR || in[i] == LF) {
            if (in[i] == CR && i + 1 < len && in[i + 1] == LF) {
                i++;
            }

            if (header && col == 0) {
                header = 0;
            }

            *o++ = CR;
            *o++ = LF;
            col = 0;
            continue;
        }

        if (col == TN_MAIL_OUT_LINE_MAX) {
            *o++ = CR;
            *o++ = LF;
            col = 0;

            if (header) {
                *o++ = ' ';
                col = 1;
            }
        }

        if (col == 0 && in[i] == '.' && dot) {
            *o++ = '.';
            col++;
        }

        *o++ = in[i];
        col++;
    }

    if (col) {
        *o++ = CR;
        *o++ = LF;
    }

    return o - out;
}


static void
tn_fuzz_check_encode(const u_char *data, size_t len, tn_uint_t dot)
{
    u_char                *ref, *out, *piece, *q;
    size_t                 rlen, n, given, step, room, i, col;
    tn_buf_t               ib, ob;
    tn_mail_out_encode_t   e;

    /* at most 2 octets out for 1 in, and a split per 998 */

    ref = malloc(2 * len + len / 2 + 16);
    out = malloc(2 * len + len / 2 + 16);

    rlen = tn_fuzz_ref_encode(data, len, dot, ref);

    /* no bare CR or LF, lines within the limit */

    for (i = 0, col = 0; i < rlen; i++) {
        if (ref[i] == CR) {
            if (i + 1 == rlen || ref[i + 1] != LF) {
                abort();
            }

            i++;
            col = 0;
            continue;
        }

        if (ref[i] == LF || ++col > TN_MAIL_OUT_LINE_MAX) {
            abort();
        }
    }

    step = 1 + tn_fuzz_rand(len + 1);
    room = TN_MAIL_OUT_ENCODE_ROOM + tn_fuzz_rand(64);

    tn_mail_out_encode_init(&e, dot);

    q = out;
    given = 0;

    while (given < len) {
        n = tn_min(step, len - given);

        piece = malloc(n);
        tn_memcpy(piece, data + given, n);

        ib.start = ib.pos = piece;
        ib.last = ib.end = piece + n;

        while (ib.pos < ib.last) {
            ob.start = ob.pos = ob.last = q;
            ob.end = q + room;

            tn_mail_out_encode(&e, &ib, &ob);

            if (ob.last == q && ib.pos < ib.last) {
                /* no progress with room for a byte */
                abort();
            }

            q = ob.last;
        }

        free(piece);
        given += n;

        step = 1 + tn_fuzz_rand(len + 1);
    }

    ob.start = ob.pos = ob.last = q;
    ob.end = q + 2;

    tn_mail_out_encode_finish(&e, &ob);

    q = ob.last;

    if ((size_t) (q - out) != rlen || tn_memcmp(out, ref, rlen) != 0) {
        abort();
    }

    free(ref);
    free(out);
}


static void
tn_fuzz_check_xtext(const u_char *data, size_t len)
{
    u_char  *x, *p, *last, *d, *dec;

    len = tn_min(len, 1024);

    x = malloc(3 * len + 1);
    dec = malloc(len + 1);

    last = tn_mail_out_xtext(x, (u_char *) data, len);

    for (p = x, d = dec; p < last; /* void */) {

        if (*p == '+') {
            if (last - p < 3) {
                abort();
            }

            *d++ = (u_char) ((p[1] >= 'A' ? p[1] - 'A' + 10 : p[1] - '0') << 4
                             | (p[2] >= 'A' ? p[2] - 'A' + 10 : p[2] - '0'));
            p += 3;
            continue;
        }

        if (*p < 33 || *p > 126 || *p == '=') {
            abort();
        }

        *d++ = *p++;
    }

    if ((size_t) (d - dec) != len || tn_memcmp(dec, data, len) != 0) {
        abort();
    }

    /* "rfc822;" and the xtext: a valid ORCPT, if not empty */

    if (len && last - x < 1000) {
        p = malloc(7 + (last - x));
        tn_memcpy(p, "rfc822;", 7);
        tn_memcpy(p + 7, x, last - x);

        if (!tn_mail_out_orcpt_valid(p, 7 + (last - x))) {
            abort();
        }

        free(p);
    }

    free(x);
    free(dec);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static u_char   codes[4][TN_FUZZ_MAX + 16];
    u_char          ctl;
    size_t          len, n[4];
    uint64_t        h[3];
    int             mode;

    if (size < 2 || size > TN_FUZZ_MAX) {
        return 0;
    }

    ctl = data[0];
    tn_fuzz_seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t) data[1] << 32 ^ size;
    data += 2;
    len = size - 2;

    for (mode = 0; mode < 3; mode++) {
        h[mode] = tn_fuzz_run(data, len, mode, codes[mode], &n[mode]);
    }

    if (h[1] != h[0] || h[2] != h[0] || n[1] != n[0] || n[2] != n[0]) {
        abort();
    }

    n[3] = tn_fuzz_ref(data, len, codes[3]);

    if (n[3] != n[0] || tn_memcmp(codes[3], codes[0], n[0]) != 0) {
        abort();
    }

    tn_fuzz_check_encode(data, len, ctl & 1);
    tn_fuzz_check_xtext(data, len);

    return 0;
}
