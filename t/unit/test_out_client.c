/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * The byte layer of the outbound SMTP client: the reply parser (codes,
 * multi-line replies, limits, enhanced status codes, the joined text),
 * EHLO keywords, the message text encoder (line ends, dot-stuffing, long
 * lines), xtext and ORCPT.  Every stream case is fed whole, byte by byte
 * with the unread data moved between calls, and in random splits, and
 * must give the same result.
 */


#include "../../src/mail/tn_mail_out_client_parse.c"


#define TN_TEST_BUF    (64 * 1024)
#define TN_TEST_TRACE  (256 * 1024)

#define TN_TEST_WHOLE  0
#define TN_TEST_MOVE   1      /* byte by byte, data moved after each call */
#define TN_TEST_RANDOM 2
#define TN_TEST_MODES  3


static tn_uint_t  tn_test_n;
static tn_uint_t  tn_test_failed;
static uint64_t   tn_test_seed = 0x2545f4914f6cdd1dULL;

static const char *tn_test_mode_names[] = { "whole", "byte", "random" };


static void
tn_test_ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
        printf("not ");
    }

    printf("ok %u - ", (unsigned) tn_test_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


static tn_uint_t
tn_test_rand(tn_uint_t n)
{
    tn_test_seed ^= tn_test_seed << 13;
    tn_test_seed ^= tn_test_seed >> 7;
    tn_test_seed ^= tn_test_seed << 17;

    return (tn_uint_t) (tn_test_seed % n);
}


/* replies */


/*
 * Runs the parser over data in one of the modes; writes a transcript of
 * the results ("rc code last |line| |text| |esc|" per line) into out.
 * Stops at the first error.
 */

static size_t
tn_test_replies(const u_char *data, size_t len, int mode, char *out,
    size_t size)
{
    u_char               *buf, *tmp;
    size_t                given, n, rest;
    char                 *p, *last;
    tn_buf_t              b;
    tn_int_t              rc;
    tn_mail_out_reply_t   r;

    buf = malloc(TN_TEST_BUF);
    tmp = malloc(TN_TEST_BUF);

    tn_mail_out_reply_init(&r);

    b.start = b.pos = b.last = buf;
    b.end = buf + TN_TEST_BUF;

    p = out;
    last = out + size;
    given = 0;

    for ( ;; ) {
        rc = tn_mail_out_parse_reply(&r, &b);

        if (rc == TN_AGAIN) {
            if (given == len) {
                p += snprintf(p, last - p, "again\n");
                break;
            }

            if (mode == TN_TEST_MOVE) {
                /* the unread bytes go to another place */
                rest = b.last - b.pos;
                memcpy(tmp, b.pos, rest);
                memset(buf, 0xee, TN_TEST_BUF);
                memcpy(buf, tmp, rest);
                b.pos = buf;
                b.last = buf + rest;
            }

            n = (mode == TN_TEST_WHOLE) ? len - given
                : (mode == TN_TEST_MOVE) ? 1
                : 1 + tn_test_rand(40);

            n = tn_min(n, len - given);

            if ((size_t) (b.end - b.last) < n) {
                tn_buf_compact(&b);
            }

            memcpy(b.last, data + given, n);
            b.last += n;
            given += n;
            continue;
        }

        if (rc != TN_OK) {
            p += snprintf(p, last - p, "error %d %s\n", (int) rc, r.error);
            break;
        }

        p += snprintf(p, last - p, "ok %u %d |%.*s| |%.*s| |%s|\n",
                      (unsigned) r.code, (int) r.last, (int) r.line.len,
                      r.line.data, (int) r.text_len, r.text, r.esc);

        if (p >= last) {
            p = last - 1;
            break;
        }
    }

    free(buf);
    free(tmp);

    return p - out;
}


/* tn_buf_compact() from tn_buf.c, which is not linked */

void
tn_buf_compact(tn_buf_t *b)
{
    size_t  n;

    n = b->last - b->pos;
    memmove(b->start, b->pos, n);
    b->pos = b->start;
    b->last = b->start + n;
}


typedef struct {
    const char  *name;
    const char  *in;
    size_t       len;           /* 0: strlen(in) */
    const char  *expect;        /* the transcript */
} tn_test_reply_t;


static tn_test_reply_t  tn_test_reply_cases[] = {

    { "greeting", "220 mx.example ESMTP\r\n", 0,
      "ok 220 1 |mx.example ESMTP| |220 mx.example ESMTP| ||\n"
      "again\n" },

    { "multi-line", "250-a\r\n250-b c\r\n250 d\r\n", 0,
      "ok 250 0 |a| |250-a| ||\n"
      "ok 250 0 |b c| |250-a 250-b c| ||\n"
      "ok 250 1 |d| |250-a 250-b c 250 d| ||\n"
      "again\n" },

    { "code only", "250\r\n354\r\n", 0,
      "ok 250 1 || |250| ||\n"
      "ok 354 1 || |354| ||\n"
      "again\n" },

    { "bare LF", "250-a\n250 ok\n", 0,
      "ok 250 0 |a| |250-a| ||\n"
      "ok 250 1 |ok| |250-a 250 ok| ||\n"
      "again\n" },

    { "two replies", "250 ok\r\n550 5.1.1 <x@y>: unknown\r\n", 0,
      "ok 250 1 |ok| |250 ok| ||\n"
      "ok 550 1 |5.1.1 <x@y>: unknown| |550 5.1.1 <x@y>: unknown| "
      "|5.1.1|\n"
      "again\n" },

    { "enhanced code alone", "250 2.0.0\r\n", 0,
      "ok 250 1 |2.0.0| |250 2.0.0| |2.0.0|\n"
      "again\n" },

    { "enhanced code of the other class", "550 4.1.1 x\r\n", 0,
      "ok 550 1 |4.1.1 x| |550 4.1.1 x| ||\n"
      "again\n" },

    { "enhanced code too long", "451 4.7.1000 x\r\n452 4.1234.1 y\r\n", 0,
      "ok 451 1 |4.7.1000 x| |451 4.7.1000 x| ||\n"
      "ok 452 1 |4.1234.1 y| |452 4.1234.1 y| ||\n"
      "again\n" },

    { "enhanced code cut", "451 4.7. x\r\n451 4.7.1x\r\n", 0,
      "ok 451 1 |4.7. x| |451 4.7. x| ||\n"
      "ok 451 1 |4.7.1x| |451 4.7.1x| ||\n"
      "again\n" },

    { "enhanced code of the first line", "550-5.7.1 a\r\n550 5.1.1 b\r\n", 0,
      "ok 550 0 |5.7.1 a| |550-5.7.1 a| |5.7.1|\n"
      "ok 550 1 |5.1.1 b| |550-5.7.1 a 550 5.1.1 b| |5.7.1|\n"
      "again\n" },

    { "controls and 8-bit in the text", "250 a\x01\xff\tb\r\n", 0,
      "ok 250 1 |a\x01\xff\tb| |250 a???b| ||\n"
      "again\n" },

    { "partial line", "250-a\r\n250 b", 0,
      "ok 250 0 |a| |250-a| ||\n"
      "again\n" },

    { "different codes", "250-a\r\n251 b\r\n", 0,
      "ok 250 0 |a| |250-a| ||\n"
      "error 10 reply lines with different codes\n" },

    { "short", "25\r\n", 0,
      "error 10 reply without a valid code\n" },

    { "code 199", "199 x\r\n", 0,
      "error 10 reply without a valid code\n" },

    { "code 600", "600 x\r\n", 0,
      "error 10 reply without a valid code\n" },

    { "letter in the code", "2a0 x\r\n", 0,
      "error 10 reply without a valid code\n" },

    { "bad separator", "250x\r\n", 0,
      "error 10 invalid reply code separator\n" },

    { "empty line", "\r\n", 0,
      "error 10 reply without a valid code\n" },

    { "space first", " 250 x\r\n", 0,
      "error 10 reply without a valid code\n" },

    { "bare CR", "250 a\rb\r\n", 0,
      "error 10 CR or NUL in a reply line\n" },

    { "CR CR LF", "250 a\r\r\n", 0,
      "error 10 CR or NUL in a reply line\n" },

    { "NUL", "250 a\0b\r\n", 9,
      "error 10 CR or NUL in a reply line\n" },

    { "the error stays", "25\r\n250 ok\r\n", 0,
      "error 10 reply without a valid code\n" },

    { NULL, NULL, 0, NULL }
};


static void
tn_test_reply_case(const char *name, const u_char *in, size_t len,
    const char *expect)
{
    int      mode;
    size_t   n;
    char    *out;

    out = malloc(TN_TEST_TRACE);

    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        n = tn_test_replies(in, len, mode, out, TN_TEST_TRACE);

        tn_test_ok(n == strlen(expect) && memcmp(out, expect, n) == 0,
                   "reply: %s (%s)", name, tn_test_mode_names[mode]);

        if (n != strlen(expect) || memcmp(out, expect, n) != 0) {
            printf("# got:\n# %.*s\n# expected:\n# %s\n", (int) n, out,
                   expect);
        }
    }

    free(out);
}


/* a transcript's last result line starts with prefix */

static int
tn_test_ends_with(const char *out, size_t n, const char *prefix)
{
    const char  *p;

    /* the line before the final "\n" */

    if (n < 2) {
        return 0;
    }

    for (p = out + n - 2; p > out && p[-1] != '\n'; p--) { /* void */ }

    return strncmp(p, prefix, strlen(prefix)) == 0;
}


static void
tn_test_reply_limits(void)
{
    int      mode;
    char    *out, *in, *p;
    size_t   n, i;

    out = malloc(TN_TEST_TRACE);
    in = malloc(TN_TEST_BUF);

    /* 512 octets with the CRLF pass, 513 do not */

    p = in;
    p += sprintf(p, "250 ");
    memset(p, 'x', 506);
    p += 506;
    p += sprintf(p, "\r\n");

    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        n = tn_test_replies((u_char *) in, p - in, mode, out, TN_TEST_TRACE);
        tn_test_ok(strncmp(out, "ok 250 1 ", 9) == 0
                   && tn_test_ends_with(out, n, "again"),
                   "reply: a line of 512 octets (%s)",
                   tn_test_mode_names[mode]);
    }

    p = in;
    p += sprintf(p, "250 ");
    memset(p, 'x', 507);
    p += 507;
    p += sprintf(p, "\r\n");

    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        n = tn_test_replies((u_char *) in, p - in, mode, out, TN_TEST_TRACE);
        tn_test_ok(strncmp(out, "error 11 ", 9) == 0,
                   "reply: a line of 513 octets (%s)",
                   tn_test_mode_names[mode]);
    }

    /* no line end: the error comes as soon as 512 octets are in */

    memset(in, '2', 600);

    n = tn_test_replies((u_char *) in, 511, TN_TEST_WHOLE, out,
                        TN_TEST_TRACE);
    tn_test_ok(strcmp(out, "again\n") == 0 || n == 0,
               "reply: 511 octets without a line end wait");

    n = tn_test_replies((u_char *) in, 512, TN_TEST_WHOLE, out,
                        TN_TEST_TRACE);
    tn_test_ok(strncmp(out, "error 11 ", 9) == 0,
               "reply: 512 octets without a line end are too long");

    /* 100 lines pass, 101 do not */

    p = in;

    for (i = 0; i < 99; i++) {
        p += sprintf(p, "250-line %u\r\n", (unsigned) i);
    }

    p += sprintf(p, "250 last\r\n");

    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        n = tn_test_replies((u_char *) in, p - in, mode, out, TN_TEST_TRACE);
        tn_test_ok(tn_test_ends_with(out, n, "again")
                   && strstr(out, "error") == NULL,
                   "reply: 100 lines (%s)", tn_test_mode_names[mode]);
    }

    p = in;

    for (i = 0; i < 100; i++) {
        p += sprintf(p, "250-line %u\r\n", (unsigned) i);
    }

    p += sprintf(p, "250 last\r\n");

    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        n = tn_test_replies((u_char *) in, p - in, mode, out, TN_TEST_TRACE);
        tn_test_ok(tn_test_ends_with(out, n, "error 10 too many reply lines"),
                   "reply: 101 lines (%s)", tn_test_mode_names[mode]);
    }

    /* the text is cut at its limit */

    {
        tn_buf_t             b;
        tn_mail_out_reply_t  r;

        tn_mail_out_reply_init(&r);

        b.start = b.pos = (u_char *) in;
        b.last = b.start + (p - in);
        b.end = b.last;

        while (tn_mail_out_parse_reply(&r, &b) == TN_OK && !r.last) {
            /* void */
        }

        tn_test_ok(r.text_len == TN_MAIL_OUT_REPLY_TEXT_MAX
                   && memcmp(r.text, "250-line 0 250-line 1 ", 22) == 0,
                   "reply: the text is cut at %d octets",
                   TN_MAIL_OUT_REPLY_TEXT_MAX);
    }

    free(out);
    free(in);
}


/* EHLO */


typedef struct {
    const char  *line;
    const char  *expect;        /* the flags set, as letters */
    off_t        max_size;
} tn_test_ehlo_t;


static tn_test_ehlo_t  tn_test_ehlo_cases[] = {
    { "PIPELINING", "p", 0 },
    { "pipelining", "p", 0 },
    { "PIPELININGX", "", 0 },
    { "PIPELINIT", "", 0 },
    { "SIZE 10240000", "s", 10240000 },
    { "SIZE", "s", 0 },
    { "size  52428800", "s", 52428800 },
    { "SIZE 999999999999999999", "s", 999999999999999999LL },
    { "SIZE 9999999999999999999", "s", 0 },
    { "SIZE 12x", "s", 0 },
    { "8BITMIME", "8", 0 },
    { "SMTPUTF8", "u", 0 },
    { "CHUNKING", "c", 0 },
    { "DSN", "d", 0 },
    { "STARTTLS", "t", 0 },
    { "ENHANCEDSTATUSCODES", "e", 0 },
    { "AUTH PLAIN LOGIN", "aPL", 0 },
    { "AUTH LOGIN", "aL", 0 },
    { "AUTH=LOGIN PLAIN", "aPL", 0 },
    { "auth cram-md5 plain", "aP", 0 },
    { "AUTH CRAM-MD5", "a", 0 },
    { "AUTH", "a", 0 },
    { "AUTHX PLAIN", "", 0 },
    { "X-EXPS GSSAPI", "", 0 },
    { "", "", 0 },
    { NULL, NULL, 0 }
};


static void
tn_test_ehlo(void)
{
    char                *p;
    char                 flags[16];
    tn_test_ehlo_t      *t;
    tn_mail_out_ext_t    ext;

    for (t = tn_test_ehlo_cases; t->line; t++) {
        tn_memzero(&ext, sizeof(tn_mail_out_ext_t));

        tn_mail_out_ehlo_line(&ext, (u_char *) t->line, strlen(t->line));

        p = flags;

        if (ext.pipelining) { *p++ = 'p'; }
        if (ext.size) { *p++ = 's'; }
        if (ext.eightbitmime) { *p++ = '8'; }
        if (ext.smtputf8) { *p++ = 'u'; }
        if (ext.chunking) { *p++ = 'c'; }
        if (ext.dsn) { *p++ = 'd'; }
        if (ext.starttls) { *p++ = 't'; }
        if (ext.enhancedstatuscodes) { *p++ = 'e'; }
        if (ext.auth) { *p++ = 'a'; }
        if (ext.auth_plain) { *p++ = 'P'; }
        if (ext.auth_login) { *p++ = 'L'; }

        *p = '\0';

        tn_test_ok(strcmp(flags, t->expect) == 0
                   && ext.max_size == t->max_size,
                   "ehlo: \"%s\" gives \"%s\" (got \"%s\", size %lld)",
                   t->line, t->expect, flags, (long long) ext.max_size);
    }
}


/* the encoder */


/* encodes in pieces of at most step bytes into an output of room bytes */

static size_t
tn_test_encode(const u_char *in, size_t len, tn_uint_t dot, size_t step,
    size_t room, u_char *out)
{
    u_char                *piece, *q;
    size_t                 given, n;
    tn_buf_t               ib, ob;
    tn_mail_out_encode_t   e;

    tn_mail_out_encode_init(&e, dot);

    q = out;
    given = 0;

    piece = malloc(step ? step : 1);

    while (given < len) {
        n = tn_min(step, len - given);

        /* a copy of exactly n bytes: reading past it is an ASan error */
        memcpy(piece, in + given, n);

        ib.start = ib.pos = piece;
        ib.last = ib.end = piece + n;

        while (ib.pos < ib.last) {
            ob.start = ob.pos = ob.last = q;
            ob.end = q + room;

            tn_mail_out_encode(&e, &ib, &ob);

            q = ob.last;
        }

        given += n;
    }

    ob.start = ob.pos = ob.last = q;
    ob.end = q + 2;

    tn_mail_out_encode_finish(&e, &ob);

    free(piece);

    return ob.last - out;
}


typedef struct {
    const char  *name;
    const char  *in;
    size_t       in_len;        /* 0: strlen(in) */
    tn_uint_t    dot;
    const char  *expect;
    size_t       expect_len;    /* 0: strlen(expect) */
} tn_test_encode_t;


static tn_test_encode_t  tn_test_encode_cases[] = {
    { "LF", "a\nb\n", 0, 1, "a\r\nb\r\n", 0 },
    { "CRLF", "a\r\nb\r\n", 0, 1, "a\r\nb\r\n", 0 },
    { "no line end at the end", "a\nb", 0, 1, "a\r\nb\r\n", 0 },
    { "bare CR", "a\rb\n", 0, 1, "a\r\nb\r\n", 0 },
    { "CR CR LF", "a\r\r\nb", 0, 1, "a\r\n\r\nb\r\n", 0 },
    { "CR at the end", "a\r", 0, 1, "a\r\n", 0 },
    { "LF CR", "a\n\rb", 0, 1, "a\r\n\r\nb\r\n", 0 },
    { "empty", "", 0, 1, "", 0 },
    { "one LF", "\n", 0, 1, "\r\n", 0 },
    { "dots", ".\n..x\nx.\n.", 0, 1, "..\r\n...x\r\nx.\r\n..\r\n", 0 },
    { "dots without stuffing", ".\n..x\n", 0, 0, ".\r\n..x\r\n", 0 },
    { "dot after a bare CR", "a\r.b\n", 0, 1, "a\r\n..b\r\n", 0 },
    { "8-bit and NUL", "\xc3\xa9\0x\n", 5, 1, "\xc3\xa9\0x\r\n", 6 },
    { "smuggling", "a\n.\nMAIL FROM:<x>\r\n.\r\n", 0, 1,
      "a\r\n..\r\nMAIL FROM:<x>\r\n..\r\n", 0 },
    { NULL, NULL, 0, 0, NULL, 0 }
};


static void
tn_test_encoder_cases(void)
{
    size_t             len, elen, n, steps[] = { 1, 2, 3, 7, 64 * 1024 };
    size_t             rooms[] = { 4, 5, 9, 64 * 1024 };
    u_char            *out;
    tn_uint_t          i, j, ok;
    tn_test_encode_t  *t;

    out = malloc(TN_TEST_BUF);

    for (t = tn_test_encode_cases; t->name; t++) {

        len = t->in_len ? t->in_len : strlen(t->in);
        elen = t->expect_len ? t->expect_len : strlen(t->expect);

        ok = 1;

        for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
            for (j = 0; j < sizeof(rooms) / sizeof(rooms[0]); j++) {
                n = tn_test_encode((u_char *) t->in, len, t->dot, steps[i],
                                   rooms[j], out);

                if (n != elen || memcmp(out, t->expect, n) != 0)
                {
                    ok = 0;
                }
            }
        }

        tn_test_ok(ok, "encode: %s", t->name);
    }

    free(out);
}


/*
 * The properties of any output: CRLF line ends only, lines of at most
 * TN_MAIL_OUT_LINE_MAX octets, a stuffed dot before every line starting
 * with '.'; and the text without the splits is the input with its line
 * ends made LF.
 */

static int
tn_test_encoded_ok(const u_char *in, size_t len, const u_char *out,
    size_t n, tn_uint_t dot)
{
    u_char  *plain, *p;
    size_t   i, col, k;

    plain = malloc(n + 1);
    p = plain;
    col = 0;

    for (i = 0; i < n; i++) {

        if (out[i] == LF) {
            free(plain);
            return 0;
        }

        if (out[i] == CR) {
            if (i + 1 == n || out[i + 1] != LF) {
                free(plain);
                return 0;
            }

            i++;

            /* a split made by the encoder, or a line end of the input */

            *p++ = LF;
            col = 0;
            continue;
        }

        if (col == 0 && out[i] == '.' && dot) {
            if (i + 1 == n || out[i + 1] != '.') {
                free(plain);
                return 0;
            }

            i++;
            col++;
        }

        if (++col > TN_MAIL_OUT_LINE_MAX) {
            free(plain);
            return 0;
        }

        *p++ = out[i];
    }

    /* the input with its line ends as LF, and a last LF */

    k = p - plain;

    {
        u_char  *ref, *r;
        size_t   rn;

        ref = malloc(len + 2);
        r = ref;

        for (i = 0; i < len; i++) {
            if (in[i] == CR) {
                *r++ = LF;

                if (i + 1 < len && in[i + 1] == LF) {
                    i++;
                }

                continue;
            }

            *r++ = in[i];
        }

        if (r > ref && r[-1] != LF) {
            *r++ = LF;
        }

        rn = r - ref;

        /* the output may only have more LFs (the splits) */

        for (i = 0, r = ref, p = plain; p < plain + k; p++) {
            if (r < ref + rn && *p == *r) {
                r++;
                continue;
            }

            if (*p == LF || *p == ' ') {
                /* a split, or the space of a fold */
                continue;
            }

            free(ref);
            free(plain);
            return 0;
        }

        i = (r == ref + rn);

        free(ref);
        free(plain);

        return (int) i;
    }
}


static void
tn_test_encoder_long(void)
{
    u_char   *in, *out, *p;
    size_t    n, len;
    tn_uint_t i, ok;

    in = malloc(TN_TEST_BUF);
    out = malloc(2 * TN_TEST_BUF);

    /* a header line of 1200 octets: folded once, then the body */

    p = in;
    p = (u_char *) stpcpy((char *) p, "Subject: ");
    memset(p, 'x', 1191);
    p += 1191;
    p = (u_char *) stpcpy((char *) p, "\n\nbody\n");
    len = p - in;

    n = tn_test_encode(in, len, 1, len, 64 * 1024, out);

    tn_test_ok(n == 1200 + 3 + 2 + 2 + 6
               && memcmp(out + 998, "\r\n x", 4) == 0
               && memcmp(out + n - 11, "x\r\n\r\nbody\r\n", 11) == 0,
               "encode: a long header line is folded with CRLF SP");

    /* a body line of 2000 octets: broken twice */

    p = in;
    p = (u_char *) stpcpy((char *) p, "H: v\n\n");
    memset(p, 'y', 2000);
    p += 2000;
    *p++ = LF;
    len = p - in;

    n = tn_test_encode(in, len, 1, 100, 64 * 1024, out);

    tn_test_ok(n == 6 + 2 + 2000 + 2 * 3
               && memcmp(out + 8 + 998, "\r\nyy", 4) == 0
               && memcmp(out + 8 + 2 * 998 + 2, "\r\nyyyy\r\n", 8) == 0,
               "encode: a long body line is broken with CRLF");

    /* the line after a break starts with a dot: it is stuffed */

    p = in;
    p = (u_char *) stpcpy((char *) p, "\n");
    memset(p, 'z', 998);
    p += 998;
    p = (u_char *) stpcpy((char *) p, ".end\n");
    len = p - in;

    n = tn_test_encode(in, len, 1, 1, 64 * 1024, out);

    tn_test_ok(n == 2 + 998 + 2 + 5 + 2
               && memcmp(out + 2 + 998, "\r\n..end\r\n", 9) == 0,
               "encode: a broken line starting with '.' is stuffed");

    /* exactly 998 octets: no break */

    p = in;
    p = (u_char *) stpcpy((char *) p, "\n");
    memset(p, 'z', 998);
    p += 998;
    *p++ = LF;
    len = p - in;

    n = tn_test_encode(in, len, 1, 7, 64 * 1024, out);

    tn_test_ok(n == 2 + 998 + 2, "encode: a line of 998 octets is kept");

    /* random texts: the properties hold in every split */

    ok = 1;

    for (i = 0; i < 300; i++) {
        len = tn_test_rand(4000);

        for (n = 0; n < len; n++) {
            switch (tn_test_rand(8)) {
            case 0: in[n] = CR; break;
            case 1: in[n] = LF; break;
            case 2: in[n] = '.'; break;
            case 3: in[n] = (u_char) tn_test_rand(256); break;
            default: in[n] = 'a' + tn_test_rand(3); break;
            }

            if (tn_test_rand(50) == 0) {
                /* a long run without line ends */
                memset(in + n, 'q', tn_min(len - n, 1500));
                n += tn_min(len - n, 1500) - 1;
            }
        }

        n = tn_test_encode(in, len, i & 1, 1 + tn_test_rand(300),
                           4 + tn_test_rand(100), out);

        if (!tn_test_encoded_ok(in, len, out, n, i & 1)) {
            ok = 0;
            printf("# random text %u fails\n", (unsigned) i);
            break;
        }
    }

    tn_test_ok(ok, "encode: 300 random texts keep CRLF, the limit and the "
               "text");

    free(in);
    free(out);
}


/* DSN parameters and text */


static void
tn_test_dsn(void)
{
    u_char  buf[256], *p;

    p = tn_mail_out_xtext(buf, (u_char *) "a+b=c d\x01\xff~", 10);

    tn_test_ok(p - buf == 20
               && memcmp(buf, "a+2Bb+3Dc+20d+01+FF~", 20) == 0,
               "xtext: %.*s", (int) (p - buf), buf);

    tn_test_ok(tn_mail_out_orcpt_valid((u_char *) "rfc822;a@b", 10),
               "orcpt: rfc822;a@b");
    tn_test_ok(tn_mail_out_orcpt_valid((u_char *) "rfc822;a+40b", 12),
               "orcpt: xtext");
    tn_test_ok(tn_mail_out_orcpt_valid((u_char *) "utf-8;x", 7),
               "orcpt: utf-8");
    tn_test_ok(!tn_mail_out_orcpt_valid((u_char *) "rfc822;a+4", 10),
               "orcpt: a cut hex pair");
    tn_test_ok(!tn_mail_out_orcpt_valid((u_char *) "rfc822;a+4g", 11),
               "orcpt: a bad hex pair");
    tn_test_ok(!tn_mail_out_orcpt_valid((u_char *) "rfc822;", 7),
               "orcpt: no address");
    tn_test_ok(!tn_mail_out_orcpt_valid((u_char *) ";a", 2),
               "orcpt: no type");
    tn_test_ok(!tn_mail_out_orcpt_valid((u_char *) "rfc 822;a", 9),
               "orcpt: a space in the type");
    tn_test_ok(!tn_mail_out_orcpt_valid((u_char *) "rfc822;a=b", 10),
               "orcpt: '='");
    tn_test_ok(!tn_mail_out_orcpt_valid((u_char *) "rfc822;a b", 10),
               "orcpt: a space");
    tn_test_ok(!tn_mail_out_orcpt_valid((u_char *) "rfc822", 6),
               "orcpt: no ';'");

    tn_test_ok(tn_mail_out_printable(buf, 6, (u_char *) "a\r\nb\xc3\xa9z", 7)
               == 5 && strcmp((char *) buf, "a??b?") == 0,
               "printable: replaced and cut");
}


int
main(void)
{
    tn_test_reply_t  *t;

    for (t = tn_test_reply_cases; t->name; t++) {
        tn_test_reply_case(t->name, (u_char *) t->in,
                           t->len ? t->len : strlen(t->in), t->expect);
    }

    tn_test_reply_limits();
    tn_test_ehlo();
    tn_test_encoder_cases();
    tn_test_encoder_long();
    tn_test_dsn();

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
