/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for the SMTP command line parser, the raw line parser
 * (SASL responses), MAIL/RCPT path and parameter parsing and SASL PLAIN.
 *
 * Input: byte 0 selects max_line and the size of the caller's buffer;
 * byte 1 seeds the random splits (0 in the seed files, so that git and
 * auto/check-style take them for binary: they hold CRLFs); the rest is a
 * stream of command lines, and also the MAIL/RCPT argument and the SASL
 * PLAIN message.  Checks:
 *   - whole input, byte by byte with the unread data moved between calls,
 *     and random splits give the same results;
 *   - each result against a plain reference of the line syntax (first bad
 *     byte: INVALID, or LINE_TOO_LONG past max_line);
 *   - every TN_OK line ends with CRLF and holds no other CR, LF or NUL;
 *   - paths: the limits, every string inside the argument, and a path
 *     written back as "<addr>" parses to the same parts; 8-bit bytes of
 *     an address only as well-formed UTF-8 without C1 controls, and only
 *     with path.utf8 set;
 *   - SASL PLAIN: the base64 of fields gives back exactly those fields,
 *     and TN_OK exactly when the fields are acceptable (with the base64
 *     codec of tn_string.c).
 */


#include "../../src/core/tn_string.c"
#include "../../src/mail/tn_mail_parse.c"


#define TN_FUZZ_MAX    (16 * 1024)
#define TN_FUZZ_TRACE  (16 * TN_FUZZ_MAX + 1024)


/* tn_string.c: only tn_pstrdup() allocates, and it is not called here */

void *
tn_pnalloc(tn_pool_t *pool, size_t size)
{
    return NULL;
}


static size_t
tn_fuzz_encode_base64(u_char *dst, const u_char *src, size_t len)
{
    tn_str_t  d, sr;

    d.data = dst;
    sr.data = (u_char *) src;
    sr.len = len;

    tn_encode_base64(&d, &sr);

    return d.len;
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
 * The reference for one complete line L (through its LF): the result code
 * and, for TN_OK, the argument.  raw: tn_mail_parse_line().
 */

static tn_int_t
tn_fuzz_ref_line(const u_char *l, size_t len, size_t max_line, int raw,
    size_t *arg_off)
{
    size_t  i, k, bad;

    bad = len;              /* the index of the first bad byte */
    k = 0;

    if (!raw) {
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
    }

    for (i = k; bad == len && i < len; i++) {
        if (l[i] == '\0' || (l[i] == LF && i + 1 != len)) {
            bad = i;

        } else if (l[i] == LF && (i == 0 || l[i - 1] != CR)) {
            bad = i;

        } else if (l[i] == CR && i + 1 < len && l[i + 1] != LF) {
            bad = i + 1;

        } else if (l[i] == CR && i + 2 != len) {
            bad = i + 1;
        }
    }

    if (max_line && bad >= max_line && len > max_line) {
        return TN_MAIL_PARSE_LINE_TOO_LONG;
    }

    if (bad < len) {
        return TN_MAIL_PARSE_INVALID_COMMAND;
    }

    *arg_off = raw ? 0 : (l[k] == ' ' ? k + 1 : k);

    return TN_OK;
}


/* a transcript of results: rc, command, nargs, verb and arguments */

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


/*
 * mode 0: whole (as much as fits); 1: byte by byte, the unread data moved
 * to a new buffer after each TN_AGAIN; 2: random splits.  Returns the
 * transcript length.
 */

static size_t
tn_fuzz_run(const u_char *data, size_t len, size_t max_line, size_t bufsize,
    int raw, int mode, u_char *trace)
{
    u_char           *t, *bufs[2], *line, *q;
    size_t            given, n, rest, calls, ref_off;
    tn_buf_t          b;
    tn_int_t          rc, ref;
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

        rc = raw ? tn_mail_parse_line(&p, &b)
                 : tn_mail_smtp_parse_command(&p, &b);

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
            /* consumed through the LF */
            if (b.pos == b.start || b.pos[-1] != LF) {
                abort();
            }

            t = tn_fuzz_trace(t, rc, &p);
            continue;
        }

        if (rc != TN_OK) {
            abort();
        }

        /* the line: [line, b.pos), CRLF-terminated, nothing bad inside */

        n = b.pos - line;

        if (n < 2 || line[n - 2] != CR || line[n - 1] != LF
            || (max_line && n > max_line) || n > bufsize
            || p.cmd.data != line || p.nargs > 1)
        {
            abort();
        }

        for (q = line; q < line + n - 2; q++) {
            if (*q == CR || *q == LF || *q == '\0') {
                abort();
            }
        }

        if (!raw) {
            if (p.cmd.len < 1 || p.cmd.len > TN_MAIL_MAX_VERB
                || p.command < TN_SMTP_UNKNOWN || p.command > TN_SMTP_AUTH)
            {
                abort();
            }

            for (i = 0; i < p.cmd.len; i++) {
                if (!tn_fuzz_alpha(p.cmd.data[i])) {
                    abort();
                }
            }
        }

        if (p.nargs
            && (p.args[0].data < line
                || p.args[0].data + p.args[0].len != line + n - 2
                || (!raw && p.args[0].len == 0)))
        {
            abort();
        }

        /* the reference, for complete lines */

        ref = tn_fuzz_ref_line(line, n, max_line, raw, &ref_off);

        if (ref != TN_OK
            || (p.nargs && (size_t) (p.args[0].data - line) != ref_off)
            || (!raw && (p.nargs != 0) != (ref_off < n - 2)))
        {
            abort();
        }

        t = tn_fuzz_trace(t, rc, &p);
    }

    free(bufs[0]);
    free(bufs[1]);

    return t - trace;
}


/* errors of complete lines in whole mode must match the reference */

static void
tn_fuzz_check_errors(const u_char *data, size_t len, size_t max_line,
    int raw, const u_char *trace, size_t tlen)
{
    const u_char  *l, *lf, *t;
    size_t         off, n;
    tn_int_t       ref;
    tn_uint_t      i, nargs;

    t = trace;
    l = data;

    while ((lf = memchr(l, LF, data + len - l)) != NULL) {
        ref = tn_fuzz_ref_line(l, lf + 1 - l, max_line, raw, &off);

        if (t >= trace + tlen || *t != (u_char) ref) {
            abort();
        }

        if (ref == TN_OK) {
            nargs = t[2];
            t += 3;

            for (i = 0; i <= nargs; i++) {
                /* the verb, then each argument */
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


static void
tn_fuzz_check_path(u_char *data, size_t len, tn_uint_t is_rcpt)
{
    u_char          *buf, *q, c;
    size_t           i, j;
    tn_str_t         arg, arg2;
    tn_int_t         rc;
    const char      *err;
    tn_smtp_path_t   path, path2;

    /* a copy of exactly len bytes: reading past it is an ASan error */
    buf = malloc(len + 1);
    tn_memcpy(buf, data, len);

    arg.data = buf;
    arg.len = len;
    err = NULL;

    rc = tn_mail_smtp_parse_path(&arg, is_rcpt, &path, &err);

    if (rc != TN_OK) {
        if (rc != TN_ERROR || err == NULL
            || (strncmp(err, "501 ", 4) != 0 && strncmp(err, "553 ", 4) != 0))
        {
            abort();
        }

        free(buf);
        return;
    }

#define tn_fuzz_inside(s)                                                    \
    ((s).data >= buf && (s).data + (s).len <= buf + len)

    if (!tn_fuzz_inside(path.local) || !tn_fuzz_inside(path.domain)
        || !tn_fuzz_inside(path.addr) || path.nparams > TN_SMTP_MAX_PARAMS)
    {
        abort();
    }

    if (path.null_path) {
        if (is_rcpt || path.local.len || path.domain.len || path.addr.len) {
            abort();
        }

    } else {
        if (path.local.len < 1 || path.local.len > TN_SMTP_LOCAL_MAX
            || path.domain.len > TN_SMTP_DOMAIN_MAX
            || path.addr.data != path.local.data
            || path.addr.len != path.local.len
                                + (path.domain.len ? path.domain.len + 1 : 0)
            || path.addr.len + 2 > TN_SMTP_PATH_MAX)
        {
            abort();
        }

        if (path.domain.len == 0
            && !(is_rcpt && path.local.len == 10
                 && strncasecmp((char *) path.local.data, "postmaster", 10)
                    == 0))
        {
            abort();
        }

        if (path.domain.len
            && (path.addr.data[path.local.len] != '@'
                || path.domain.data != path.local.data + path.local.len + 1))
        {
            abort();
        }

        for (i = 0; i < path.addr.len; i++) {
            c = path.addr.data[i];

            if (c >= 0x80) {
                /* RFC 6531: well-formed UTF-8 without C1, and flagged */
                q = &path.addr.data[i];

                if (!path.utf8
                    || !tn_utf8_non_ascii(tn_utf8_decode(&q,
                                                         path.addr.len - i)))
                {
                    abort();
                }

                i = q - path.addr.data - 1;
                continue;
            }

            if (c < 0x20 || c == 0x7f
                || (c == ' ' && !path.quoted)
                || (i >= path.local.len && (c == ' ' || c == '"')))
            {
                abort();
            }
        }

        /* utf8: some 8-bit byte before the '>' (maybe in a route) */

        if (path.utf8) {
            for (q = buf; q < path.addr.data + path.addr.len; q++) {
                if (*q >= 0x80) {
                    break;
                }
            }

            if (q == path.addr.data + path.addr.len) {
                abort();
            }
        }

        if (path.quoted
            && (path.local.len < 2 || path.local.data[0] != '"'
                || path.local.data[path.local.len - 1] != '"'))
        {
            abort();
        }

        if (path.domain.len && path.domain.data[0] == '['
            && path.domain.data[path.domain.len - 1] != ']')
        {
            abort();
        }

        /* written back as a plain path it parses to the same parts */

        arg2.data = malloc(path.addr.len + 8);
        q = tn_cpymem(arg2.data, is_rcpt ? "TO:<" : "FROM:<",
                      is_rcpt ? 4 : 6);
        q = tn_cpymem(q, path.addr.data, path.addr.len);
        *q++ = '>';
        arg2.len = q - arg2.data;

        if (tn_mail_smtp_parse_path(&arg2, is_rcpt, &path2, &err) != TN_OK
            || path2.local.len != path.local.len
            || path2.domain.len != path.domain.len
            || path2.quoted != path.quoted
            || (path2.utf8 && !path.utf8)
            || tn_memcmp(path2.local.data, path.local.data, path.local.len)
            || tn_memcmp(path2.domain.data, path.domain.data,
                         path.domain.len))
        {
            abort();
        }

        free(arg2.data);
    }

    for (i = 0; i < path.nparams; i++) {
        tn_keyval_t  *kv = &path.params[i];

        if (!tn_fuzz_inside(kv->key) || !tn_fuzz_inside(kv->value)
            || kv->key.len == 0)
        {
            abort();
        }

        for (j = 0; j < kv->key.len; j++) {
            c = kv->key.data[j];
            if (!(tn_fuzz_alpha(c) || (c >= '0' && c <= '9')
                  || (c == '-' && j > 0)))
            {
                abort();
            }
        }

        for (j = 0; j < kv->value.len; j++) {
            c = kv->value.data[j];
            if (c <= 0x20 || c >= 0x7f || c == '=') {
                abort();
            }
        }

        for (j = 0; j < i; j++) {
            if (kv->key.len == path.params[j].key.len
                && strncasecmp((char *) kv->key.data,
                               (char *) path.params[j].key.data,
                               kv->key.len) == 0)
            {
                abort();
            }
        }
    }

    free(buf);
}


static void
tn_fuzz_check_plain(const u_char *data, size_t len)
{
    u_char          *enc, *dst;
    size_t           i, n, nuls, z1, z2;
    tn_int_t         rc, expect;
    tn_str_t         src, user, pass;

    /* the data as base64 text: anything goes, nothing breaks */

    src.data = malloc(len + 1);
    tn_memcpy(src.data, data, len);
    src.len = len;
    dst = malloc(tn_base64_decoded_length(len) + 1);

    rc = tn_mail_auth_plain(&src, dst, &user, &pass);

    if (rc == TN_OK
        && (user.data < dst || pass.data + pass.len
                               > dst + tn_base64_decoded_length(len)
            || user.len == 0 || pass.len == 0
            || memchr(user.data, '\0', user.len)
            || memchr(pass.data, '\0', pass.len)))
    {
        abort();
    }

    free(src.data);
    free(dst);

    /* the data as the decoded message: the reference decision */

    nuls = 0;
    z1 = z2 = 0;

    for (i = 0; i < len; i++) {
        if (data[i] == '\0') {
            if (nuls == 0) {
                z1 = i;
            } else if (nuls == 1) {
                z2 = i;
            }
            nuls++;
        }
    }

    expect = TN_ERROR;

    if (len && nuls == 2) {
        size_t  zlen = z1, ulen = z2 - z1 - 1, plen = len - z2 - 1;

        if (ulen && ulen <= TN_MAIL_AUTH_USER_MAX
            && plen && plen <= TN_MAIL_AUTH_PASS_MAX
            && (zlen == 0 || (zlen == ulen
                              && memcmp(data, data + z1 + 1, ulen) == 0)))
        {
            expect = TN_OK;
        }
    }

    enc = malloc(tn_base64_encoded_length(len) + 1);
    n = tn_fuzz_encode_base64(enc, data, len);
    src.data = enc;
    src.len = n;
    dst = malloc(tn_base64_decoded_length(n) + 1);

    rc = tn_mail_auth_plain(&src, dst, &user, &pass);

    if (rc != expect
        || (rc == TN_OK
            && (user.len != z2 - z1 - 1 || pass.len != len - z2 - 1
                || memcmp(user.data, data + z1 + 1, user.len)
                || memcmp(pass.data, data + z2 + 1, pass.len))))
    {
        abort();
    }

    free(enc);
    free(dst);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static u_char    traces[3][TN_FUZZ_TRACE];
    static size_t    max_lines[] = { 0, 16, 64, 512 };
    static size_t    bufsizes[] = { 16, 64, 1024, TN_FUZZ_MAX + 1 };
    u_char           ctl;
    size_t           len, max_line, bufsize, tlen[3];
    int              mode, raw;

    if (size < 2 || size > TN_FUZZ_MAX) {
        return 0;
    }

    ctl = data[0];
    tn_fuzz_seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t) data[1] << 32 ^ size;
    data += 2;
    len = size - 2;

    max_line = max_lines[ctl & 3];
    bufsize = bufsizes[(ctl >> 2) & 3];

    for (raw = 0; raw < 2; raw++) {

        for (mode = 0; mode < 3; mode++) {
            tlen[mode] = tn_fuzz_run(data, len, max_line, bufsize, raw, mode,
                                     traces[mode]);
        }

        if (tlen[1] != tlen[0] || tlen[2] != tlen[0]
            || tn_memcmp(traces[1], traces[0], tlen[0]) != 0
            || tn_memcmp(traces[2], traces[0], tlen[0]) != 0)
        {
            abort();
        }

        if (bufsize > len) {
            tn_fuzz_check_errors(data, len, max_line, raw, traces[0],
                                 tlen[0]);
        }
    }

    tn_fuzz_check_path((u_char *) data, len, 0);
    tn_fuzz_check_path((u_char *) data, len, 1);

    tn_fuzz_check_plain(data, len);

    return 0;
}
