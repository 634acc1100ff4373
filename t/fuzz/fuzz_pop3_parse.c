/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for the POP3 command line parser, tn_mail_parse_number()
 * and the RETR/TOP output (tn_mail_pop3_out).
 *
 * Input: byte 0 selects max_line, the caller's buffer size and the TOP
 * line count; byte 1 seeds the random splits (0 in the seed files, so
 * that git and auto/check-style take them for binary: they hold CRLFs);
 * the rest is a stream of command lines and also a stored message.
 * Checks:
 *   - commands: whole, byte by byte with moved data and random splits give
 *     the same results, and each complete line matches a plain reference
 *     (verb, at most 2 space-separated arguments, PASS takes the rest,
 *     CRLF only, no NUL, max_line);
 *   - numbers: the value or TN_ERROR exactly as strtoull would say;
 *   - output: the same for any split of the input and any out size; CR
 *     and LF only as CRLF; every line starting with '.' starts with "..";
 *     RETR output read back by the DATA parser gives the message with LF
 *     line ends; TOP output is a prefix of RETR output with n body lines.
 */


#include "../../src/mail/tn_mail_parse.c"


#define TN_FUZZ_MAX    (16 * 1024)
#define TN_FUZZ_TRACE  (16 * TN_FUZZ_MAX + 1024)


__attribute__((weak)) tn_int_t
tn_decode_base64(tn_str_t *dst, tn_str_t *src)
{
    return TN_ERROR;
}


static uint64_t  tn_fuzz_seed;


static size_t
tn_fuzz_rand(size_t n)
{
    tn_fuzz_seed ^= tn_fuzz_seed << 13;
    tn_fuzz_seed ^= tn_fuzz_seed >> 7;
    tn_fuzz_seed ^= tn_fuzz_seed << 17;

    return (size_t) (tn_fuzz_seed % n);
}


#define tn_fuzz_alpha(c)  (((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'z')


/*
 * The reference for one complete line (through its LF): the result, and
 * for TN_OK the arguments as offsets into the line.
 */

static tn_int_t
tn_fuzz_ref_line(const u_char *l, size_t len, size_t max_line,
    size_t *nargs, size_t *off, size_t *end)
{
    size_t  i, k, bad;
    int     in_arg, pass;

    bad = len;
    k = 0;
    *nargs = 0;

    while (k < len && tn_fuzz_alpha(l[k])) {
        k++;
    }

    if (k == 0) {
        bad = 0;

    } else if (k > TN_MAIL_MAX_VERB) {
        bad = TN_MAIL_MAX_VERB;

    } else if (l[k] != ' ' && l[k] != CR) {
        bad = k;
    }

    pass = (bad == len && k == 4 && l[k] == ' '
            && strncasecmp((char *) l, "PASS", 4) == 0);

    if (pass && len - 2 > k + 1) {
        *nargs = 1;
        off[0] = k + 1;
        end[0] = len - 2;
    }

    in_arg = 0;

    for (i = k; bad == len && i < len; i++) {
        if (l[i] == '\0' || (l[i] == LF && (i == 0 || l[i - 1] != CR))) {
            bad = i;

        } else if (l[i] == CR) {
            if (l[i + 1] != LF) {
                bad = i + 1;
            } else if (in_arg) {
                end[*nargs - 1] = i;
            }
            in_arg = 0;

        } else if (l[i] == LF || pass) {
            continue;

        } else if (l[i] == ' ') {
            if (in_arg) {
                end[*nargs - 1] = i;
            }
            in_arg = 0;

        } else if (!in_arg) {
            if (*nargs == TN_MAIL_MAX_ARGS) {
                bad = i;
            } else {
                off[(*nargs)++] = i;
                in_arg = 1;
            }
        }
    }

    if (max_line && bad >= max_line && len > max_line) {
        return TN_MAIL_PARSE_LINE_TOO_LONG;
    }

    return (bad < len) ? TN_MAIL_PARSE_INVALID_COMMAND : TN_OK;
}


static u_char *
tn_fuzz_trace(u_char *t, tn_int_t rc, tn_mail_parse_t *p)
{
    tn_uint_t  i;

    *t++ = (u_char) rc;

    if (rc != TN_OK) {
        return t;
    }

    *t++ = (u_char) p->command;
    *t++ = (u_char) p->nargs;
    t = tn_cpymem(t, &p->cmd.len, sizeof(size_t));
    t = tn_cpymem(t, p->cmd.data, p->cmd.len);

    for (i = 0; i < p->nargs; i++) {
        t = tn_cpymem(t, &p->args[i].len, sizeof(size_t));
        t = tn_cpymem(t, p->args[i].data, p->args[i].len);
    }

    return t;
}


/* tn_mail_parse_number() on an argument against strtoull() */

static void
tn_fuzz_check_number(tn_str_t *s)
{
    char                 text[64], *e;
    size_t               i;
    tn_int_t             rc;
    unsigned long long   v;
    static tn_uint_t     maxes[] = { 0, 10, 2147483647, INTPTR_MAX };

    if (s->len >= sizeof(text)) {
        for (i = 0; i < 4; i++) {
            rc = tn_mail_parse_number(s, maxes[i]);
            if (rc != TN_ERROR && s->len - strspn((char *) s->data, "0")
                                  > 19)
            {
                abort();
            }
        }
        return;
    }

    tn_memcpy(text, s->data, s->len);
    text[s->len] = '\0';

    errno = 0;
    v = strtoull(text, &e, 10);

    for (i = 0; i < 4; i++) {
        rc = tn_mail_parse_number(s, maxes[i]);

        if (s->len == 0 || *e != '\0' || errno == ERANGE
            || strspn(text, "0123456789") != s->len || v > maxes[i])
        {
            if (rc != TN_ERROR) {
                abort();
            }

        } else if (rc != (tn_int_t) v) {
            abort();
        }
    }
}


static size_t
tn_fuzz_run(const u_char *data, size_t len, size_t max_line, size_t bufsize,
    int mode, u_char *trace)
{
    u_char           *t, *bufs[2], *line;
    size_t            given, n, rest, calls, nargs, off[2], end[2];
    tn_buf_t          b;
    tn_int_t          rc;
    tn_uint_t         cur, i;
    tn_mail_parse_t   p;

    bufs[0] = malloc(bufsize);
    bufs[1] = malloc(bufsize);

    tn_memzero(&p, sizeof(tn_mail_parse_t));
    tn_mail_parse_reset(&p);
    p.max_line = max_line;

    cur = 0;
    b.start = b.pos = b.last = bufs[0];
    b.end = b.start + bufsize;

    t = trace;
    given = 0;

    for (calls = 0; /* void */ ; calls++) {

        if (calls > 4 * len + 16) {
            abort();
        }

        line = b.pos;

        rc = tn_mail_pop3_parse_command(&p, &b);

        if (b.pos < b.start || b.pos > b.last) {
            abort();
        }

        if (rc == TN_AGAIN) {

            if (mode == 1 || b.last == b.end) {
                rest = b.last - b.pos;
                cur ^= 1;
                tn_memmove(bufs[cur], b.pos, rest);
                b.start = b.pos = bufs[cur];
                b.last = b.pos + rest;
                b.end = b.start + bufsize;

                if (b.last == b.end) {
                    tn_mail_parse_overflow(&p, &b);
                    b.pos = b.last = b.start;
                }
            }

            if (given == len) {
                break;
            }

            n = (mode == 0) ? len : (mode == 1) ? 1 : 1 + tn_fuzz_rand(16);
            n = tn_min(n, len - given);
            n = tn_min(n, (size_t) (b.end - b.last));

            tn_memcpy(b.last, data + given, n);
            b.last += n;
            given += n;
            continue;
        }

        if (rc == TN_MAIL_PARSE_INVALID_COMMAND
            || rc == TN_MAIL_PARSE_LINE_TOO_LONG)
        {
            if (b.pos == b.start || b.pos[-1] != LF) {
                abort();
            }

            t = tn_fuzz_trace(t, rc, &p);
            continue;
        }

        if (rc != TN_OK) {
            abort();
        }

        n = b.pos - line;

        if (tn_fuzz_ref_line(line, n, max_line, &nargs, off, end) != TN_OK
            || nargs != p.nargs || p.cmd.data != line
            || p.command < TN_POP3_UNKNOWN || p.command > TN_POP3_QUIT)
        {
            abort();
        }

        for (i = 0; i < nargs; i++) {
            if (p.args[i].data != line + off[i]
                || p.args[i].len != end[i] - off[i])
            {
                abort();
            }

            tn_fuzz_check_number(&p.args[i]);
        }

        t = tn_fuzz_trace(t, rc, &p);
    }

    free(bufs[0]);
    free(bufs[1]);

    return t - trace;
}


static void
tn_fuzz_check_errors(const u_char *data, size_t len, size_t max_line,
    const u_char *trace, size_t tlen)
{
    const u_char  *l, *lf, *t;
    size_t         n, nargs, off[2], end[2];
    tn_int_t       ref;
    tn_uint_t      i;

    t = trace;
    l = data;

    while ((lf = memchr(l, LF, data + len - l)) != NULL) {
        ref = tn_fuzz_ref_line(l, lf + 1 - l, max_line, &nargs, off, end);

        if (t >= trace + tlen || *t != (u_char) ref) {
            abort();
        }

        if (ref == TN_OK) {
            nargs = t[2];
            t += 3;

            for (i = 0; i <= nargs; i++) {
                tn_memcpy(&n, t, sizeof(size_t));
                t += sizeof(size_t) + n;
            }

        } else {
            t++;
        }

        l = lf + 1;
    }

    if (t != trace + tlen) {
        abort();
    }
}


typedef struct {
    tn_int_t    rc;
    size_t      consumed;
    size_t      outlen;
    u_char     *out;
    unsigned    last_was_lf;
} tn_fuzz_out_t;


/* mode 0: whole; 1: byte by byte, out of 2 bytes; 2: random */

static void
tn_fuzz_run_out(const u_char *data, size_t len, off_t top, int mode,
    tn_fuzz_out_t *r)
{
    u_char              obuf[64];
    size_t              given, n, calls, cap;
    tn_buf_t            b, o;
    tn_int_t            rc;
    tn_mail_pop3_out_t  p;

    tn_mail_pop3_out_init(&p, top);

    b.start = b.pos = b.last = malloc(len + 1);
    b.end = b.start + len;

    given = 0;
    rc = TN_AGAIN;
    r->outlen = 0;

    for (calls = 0; /* void */ ; calls++) {

        if (calls > 4 * len + 16) {
            abort();
        }

        if (b.pos == b.last) {
            if (given == len) {
                break;
            }

            n = (mode == 0) ? len : (mode == 1) ? 1 : 1 + tn_fuzz_rand(32);
            n = tn_min(n, len - given);
            tn_memcpy(b.last, data + given, n);
            b.last += n;
            given += n;
        }

        cap = (mode == 0) ? sizeof(obuf) : (mode == 1) ? 2
                                                      : 2 + tn_fuzz_rand(6);
        o.start = o.pos = o.last = obuf;
        o.end = obuf + cap;

        rc = tn_mail_pop3_out(&p, &b, &o);

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

    r->rc = rc;
    r->consumed = given - (b.last - b.pos);
    r->last_was_lf = p.last_was_lf;

    free(b.start);
}


static void
tn_fuzz_check_out(const u_char *data, size_t len, off_t top)
{
    static u_char          outs[4][3 * TN_FUZZ_MAX + 16];
    static u_char          norm[TN_FUZZ_MAX + 8], back[TN_FUZZ_MAX + 8];
    u_char                *o, *e;
    size_t                 i, n, body;
    int                    mode, in_body, at_bol;
    tn_buf_t               b, ob;
    tn_fuzz_out_t          r[4];
    tn_mail_data_parse_t   dp;

    for (mode = 0; mode < 3; mode++) {
        r[mode].out = outs[mode];
        tn_fuzz_run_out(data, len, top, mode, &r[mode]);
    }

    for (mode = 1; mode < 3; mode++) {
        if (r[mode].rc != r[0].rc || r[mode].consumed != r[0].consumed
            || r[mode].outlen != r[0].outlen
            || r[mode].last_was_lf != r[0].last_was_lf
            || tn_memcmp(r[mode].out, r[0].out, r[0].outlen) != 0)
        {
            abort();
        }
    }

    o = r[0].out;
    n = r[0].outlen;

    /* CR and LF only as pairs; dot-stuffed lines */

    at_bol = 1;

    for (i = 0; i < n; i++) {
        if ((o[i] == CR && (i + 1 == n || o[i + 1] != LF))
            || (o[i] == LF && (i == 0 || o[i - 1] != CR)))
        {
            abort();
        }

        if (at_bol && o[i] == '.' && (i + 1 == n || o[i + 1] != '.')) {
            abort();
        }

        at_bol = (o[i] == LF);
    }

    if (r[0].rc == TN_DONE && (n < 2 || o[n - 1] != LF)) {
        abort();
    }

    if (top >= 0) {
        /* a prefix of RETR with at most top body lines */

        r[3].out = outs[3];
        tn_fuzz_run_out(data, len, -1, 0, &r[3]);

        if (r[0].outlen > r[3].outlen
            || tn_memcmp(r[0].out, r[3].out, r[0].outlen) != 0)
        {
            abort();
        }

        in_body = 0;
        body = 0;
        at_bol = 1;

        for (i = 0; i + 1 < n; i++) {
            if (o[i] == CR) {
                if (in_body) {
                    body++;
                } else if (at_bol) {
                    in_body = 1;
                }
                at_bol = 1;
                i++;
                continue;
            }
            at_bol = 0;
        }

        if (body > (size_t) top
            || (r[0].rc == TN_DONE && (!in_body || body != (size_t) top)))
        {
            abort();
        }

        return;
    }

    /* RETR: the DATA parser gives back the message with LF line ends */

    if (r[0].rc != TN_AGAIN || r[0].consumed != len
        || memchr(data, '\0', len))
    {
        return;
    }

    e = norm;

    for (i = 0; i < len; i++) {
        if (data[i] == CR) {
            if (i + 1 < len && data[i + 1] == LF) {
                i++;
            }
            *e++ = LF;
            continue;
        }
        *e++ = data[i];
    }

    if (!r[0].last_was_lf) {
        /* "\r\n.\r\n" ends the last line */
        if (e > norm && e[-1] == LF) {
            /* only a pending CR: its line end is that CRLF */
            e--;
        }
        *e++ = LF;
    }

    o = tn_cpymem(o + n, r[0].last_was_lf ? ".\r\n" : "\r\n.\r\n",
                  r[0].last_was_lf ? 3 : 5);

    tn_mail_data_parse_init(&dp, 0, 0);
    b.start = b.pos = r[0].out;
    b.last = b.end = o;
    ob.start = ob.pos = ob.last = back;
    ob.end = back + sizeof(back);

    if (tn_mail_data_parse(&dp, &b, &ob) != TN_DONE || b.pos != b.last
        || dp.bare_lf || dp.bare_cr || dp.nul
        || (size_t) (ob.last - back) != (size_t) (e - norm)
        || tn_memcmp(back, norm, e - norm) != 0)
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static u_char    traces[3][TN_FUZZ_TRACE];
    static size_t    max_lines[] = { 0, 8, 40, 255 };
    static size_t    bufsizes[] = { 16, 64, 1024, TN_FUZZ_MAX + 1 };
    static off_t     tops[] = { -1, 0, 1, 2, 3, 5, 100, -1 };
    u_char           ctl;
    size_t           len, max_line, bufsize, tlen[3];
    int              mode;

    if (size < 2 || size > TN_FUZZ_MAX) {
        return 0;
    }

    ctl = data[0];
    tn_fuzz_seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t) data[1] << 32 ^ size;
    data += 2;
    len = size - 2;

    max_line = max_lines[ctl & 3];
    bufsize = bufsizes[(ctl >> 2) & 3];

    for (mode = 0; mode < 3; mode++) {
        tlen[mode] = tn_fuzz_run(data, len, max_line, bufsize, mode,
                                 traces[mode]);
    }

    if (tlen[1] != tlen[0] || tlen[2] != tlen[0]
        || tn_memcmp(traces[1], traces[0], tlen[0]) != 0
        || tn_memcmp(traces[2], traces[0], tlen[0]) != 0)
    {
        abort();
    }

    if (bufsize > len) {
        tn_fuzz_check_errors(data, len, max_line, traces[0], tlen[0]);
    }

    tn_fuzz_check_out(data, len, tops[(ctl >> 4) & 7]);

    return 0;
}
