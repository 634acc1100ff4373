/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for the SMTP DATA/BDAT stream parser (SMTP smuggling).
 *
 * Input: byte 0 selects max_size and BDAT mode; byte 1 seeds the random
 * splits (0 in the seed files, so that git and auto/check-style take them
 * for binary: they hold CRLFs); the rest is the data stream.  Checks,
 * against a plain reference implementation:
 *   - TN_DONE exactly at the first CRLF "." CRLF (the data starting as if
 *     preceded by CRLF), never otherwise, and never in BDAT mode;
 *   - the flags bare_lf, bare_cr and nul exactly as in the data read;
 *   - without flags: the output, size, vsize, lines and header_end;
 *     with too_big the output is the longest start of the message whose
 *     size with CRLF line ends is at most max_size (RFC 1870);
 *   - whole input, byte by byte with a 1-byte out, and random splits with
 *     random out sizes all give the same result.
 */


#include "../../src/mail/tn_mail_parse.c"


/* the command harnesses need the SASL decoder; this one never calls it */

__attribute__((weak)) tn_int_t
tn_decode_base64(tn_str_t *dst, tn_str_t *src)
{
    return TN_ERROR;
}


#define TN_FUZZ_MAX  (64 * 1024)


typedef struct {
    tn_int_t    rc;
    size_t      consumed;
    size_t      outlen;
    u_char     *out;
    off_t       size;
    off_t       vsize;
    tn_uint_t   lines;
    unsigned    flags;
} tn_fuzz_res_t;


static uint64_t  tn_fuzz_seed;


static size_t
tn_fuzz_rand(size_t n)
{
    tn_fuzz_seed ^= tn_fuzz_seed << 13;
    tn_fuzz_seed ^= tn_fuzz_seed >> 7;
    tn_fuzz_seed ^= tn_fuzz_seed << 17;

    return (size_t) (tn_fuzz_seed % n);
}


/* mode 0: whole; 1: byte by byte, out of 1 byte; 2: random */

static void
tn_fuzz_run(const u_char *data, size_t len, off_t max_size, tn_uint_t bdat,
    int mode, tn_fuzz_res_t *r)
{
    u_char                obuf[64];
    size_t                given, n, calls, cap;
    tn_buf_t              b, o;
    tn_int_t              rc;
    tn_mail_data_parse_t  p;

    tn_mail_data_parse_init(&p, max_size, bdat);

    /* the input is read from a copy that holds only what was given */
    b.start = b.pos = b.last = malloc(len + 1);
    b.end = b.start + len;

    given = 0;
    rc = TN_AGAIN;
    r->outlen = 0;

    for (calls = 0; /* void */ ; calls++) {

        if (calls > 4 * len + 16) {
            /* no progress: a bug */
            abort();
        }

        if (b.pos == b.last) {
            if (given == len) {
                break;
            }

            n = (mode == 0) ? len : (mode == 1) ? 1 : 1 + tn_fuzz_rand(64);
            n = tn_min(n, len - given);
            tn_memcpy(b.last, data + given, n);
            b.last += n;
            given += n;
        }

        cap = (mode == 0) ? sizeof(obuf) : (mode == 1) ? 1
                                                      : 1 + tn_fuzz_rand(8);

        o.start = o.pos = o.last = obuf;
        o.end = obuf + cap;

        rc = tn_mail_data_parse(&p, &b, &o);

        if (o.last < o.start || o.last > o.end || b.pos > b.last) {
            abort();
        }

        n = o.last - o.start;
        tn_memcpy(r->out + r->outlen, obuf, n);
        r->outlen += n;

        if (rc == TN_DONE) {
            break;
        }

        if (rc != TN_AGAIN) {
            abort();
        }
    }

    if (bdat) {
        tn_mail_data_parse_finish(&p);
    }

    r->rc = rc;
    r->consumed = given - (b.last - b.pos);
    r->size = p.size;
    r->vsize = p.vsize;
    r->lines = p.lines;
    r->flags = p.bare_lf | p.bare_cr << 1 | p.nul << 2 | p.too_big << 3
               | p.header_end << 4;

    free(b.start);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static u_char   outs[3][TN_FUZZ_MAX], exp[TN_FUZZ_MAX];
    u_char          ctl, c, *e;
    size_t          len, i, end, dlen, explen, lines, k;
    off_t           max_size, w, add;
    tn_uint_t       bdat, done, bare_lf, bare_cr, nul, hdr, at_bol;
    tn_fuzz_res_t   r[3];
    int             mode;

    if (size < 2 || size > TN_FUZZ_MAX) {
        return 0;
    }

    ctl = data[0];
    tn_fuzz_seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t) data[1] << 32 ^ size;
    data += 2;
    len = size - 2;

    bdat = (ctl & 0x80) != 0;
    max_size = (ctl & 0x40) ? (off_t) (ctl & 0x0f) * 3 : 0;

    for (mode = 0; mode < 3; mode++) {
        r[mode].out = outs[mode];
        tn_fuzz_run(data, len, max_size, bdat, mode, &r[mode]);
    }

    /* whole vs split */

    for (mode = 1; mode < 3; mode++) {
        if (r[mode].rc != r[0].rc || r[mode].consumed != r[0].consumed
            || r[mode].outlen != r[0].outlen
            || tn_memcmp(r[mode].out, r[0].out, r[0].outlen) != 0
            || r[mode].size != r[0].size || r[mode].vsize != r[0].vsize
            || r[mode].lines != r[0].lines || r[mode].flags != r[0].flags)
        {
            abort();
        }
    }

    /* the reference: the end is the first CRLF.CRLF of CRLF + data */

    done = 0;
    end = len;

    if (!bdat) {
        for (i = 0; i + 3 <= len; i++) {
            if (data[i] == '.' && data[i + 1] == CR && data[i + 2] == LF
                && (i == 0 || (i >= 2 && data[i - 2] == CR
                               && data[i - 1] == LF)))
            {
                done = 1;
                end = i + 3;
                break;
            }
        }
    }

    if ((r[0].rc == TN_DONE) != done || (done && r[0].consumed != end)
        || (!done && r[0].consumed != len))
    {
        abort();
    }

    /* the message data: without ".\r\n" */
    dlen = done ? end - 3 : len;

    bare_lf = 0;
    bare_cr = 0;
    nul = 0;

    for (i = 0; i < dlen; i++) {
        c = data[i];

        if (c == LF && (i == 0 || data[i - 1] != CR)) {
            bare_lf = 1;
        }

        if (c == CR && ((i + 1 < dlen && data[i + 1] != LF)
                        || (bdat && i + 1 == dlen)))
        {
            bare_cr = 1;
        }

        if (c == '\0') {
            nul = 1;
        }
    }

    if ((r[0].flags & 1) != bare_lf || ((r[0].flags >> 1) & 1) != bare_cr
        || ((r[0].flags >> 2) & 1) != nul)
    {
        abort();
    }

    if (bare_lf || bare_cr || nul) {
        if ((off_t) r[0].outlen > r[0].size) {
            abort();
        }
        return 0;
    }

    /* a clean message: the exact output */

    e = exp;
    at_bol = 1;
    hdr = 0;
    lines = 0;

    for (i = 0; i < dlen; i++) {
        c = data[i];

        if (at_bol && c == '.' && !bdat) {
            at_bol = 0;
            continue;
        }

        if (c == CR) {
            if (i + 1 == dlen) {
                break;          /* a CR waiting for its LF */
            }

            /* no flags: a CR is always followed by LF here */
            if (at_bol) {
                hdr = 1;        /* an empty line, no dot either */
            }

            *e++ = LF;
            lines++;
            i++;
            at_bol = 1;
            continue;
        }

        *e++ = c;
        at_bol = 0;
    }

    explen = e - exp;

    if (r[0].size != (off_t) explen || r[0].vsize != (off_t) (explen + lines)
        || r[0].lines != lines || ((r[0].flags >> 4) & 1) != hdr)
    {
        abort();
    }

    if (max_size && (off_t) (explen + lines) > max_size) {

        /* the output is the longest start whose CRLF size fits */

        for (k = 0, w = 0; k < explen; k++) {
            add = (exp[k] == LF) ? 2 : 1;

            if (w + add > max_size) {
                break;
            }

            w += add;
        }

        if (!(r[0].flags & 8) || r[0].outlen != k
            || tn_memcmp(r[0].out, exp, k) != 0)
        {
            abort();
        }

    } else if ((r[0].flags & 8) || r[0].outlen != explen
               || tn_memcmp(r[0].out, exp, explen) != 0)
    {
        abort();
    }

    return 0;
}
