/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * The SMTP/POP3 byte parsers: command lines, raw lines, paths and
 * parameters, DATA (SMTP smuggling), POP3 output and SASL PLAIN.  Every
 * stream case is fed whole, byte by byte, with the unread data moved
 * between calls, and in random splits, and must give the same result.
 */


#include "../../src/core/tn_string.c"
#include "../../src/mail/tn_mail_parse.c"


#define TN_TEST_BUF   (256 * 1024)

#define TN_TEST_WHOLE  0
#define TN_TEST_BYTE   1
#define TN_TEST_MOVE   2      /* byte by byte, data moved after each call */
#define TN_TEST_RANDOM 3
#define TN_TEST_MODES  4

#define S(s)  { sizeof(s) - 1, (u_char *) s }


static tn_uint_t  tn_test_n;
static tn_uint_t  tn_test_failed;
static uint64_t   tn_test_seed = 0x2545f4914f6cdd1dULL;

static u_char     tn_test_bufs[2][TN_TEST_BUF];

static const char *tn_test_mode_names[] = {
    "whole", "byte", "move", "random"
};


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


/* tn_string.c: only tn_pstrdup() allocates, and it is not called here */

void *
tn_pnalloc(tn_pool_t *pool, size_t size)
{
    return NULL;
}


static size_t
tn_test_encode_base64(u_char *dst, const u_char *src, size_t len)
{
    tn_str_t  d, sr;

    d.data = dst;
    sr.data = (u_char *) src;
    sr.len = len;

    tn_encode_base64(&d, &sr);

    return d.len;
}


/* printable text of bytes for the transcripts */

static char *
tn_test_escape(char *dst, const u_char *src, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (src[i] >= 0x20 && src[i] < 0x7f) {
            *dst++ = src[i];

        } else {
            dst += sprintf(dst, "\\x%02x", src[i]);
        }
    }

    *dst = '\0';

    return dst;
}


/* command lines */

typedef tn_int_t (*tn_test_parse_pt)(tn_mail_parse_t *p, tn_buf_t *b);


static const char *tn_test_smtp_names[] = {
    "-", "UNKNOWN", "HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
    "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "STARTTLS", "AUTH"
};

static const char *tn_test_pop3_names[] = {
    "-", "UNKNOWN", "USER", "PASS", "APOP", "AUTH", "CAPA", "STLS", "STAT",
    "LIST", "UIDL", "TOP", "RETR", "DELE", "RSET", "NOOP", "QUIT"
};

static const char *tn_test_line_names[] = { "LINE" };


/*
 * Feeds in[0, len) to parse in the given mode and writes the transcript:
 * "NAME(verb) [arg0] [arg1]; INVALID; TOOLONG; ...".  Overflow: the
 * buffer holds only bufsize bytes, a full buffer calls
 * tn_mail_parse_overflow().
 */

static void
tn_test_run_cmd(tn_test_parse_pt parse, const char **names, const u_char *in,
    size_t len, size_t max_line, size_t bufsize, int mode, char *out)
{
    int               cur;
    char             *o;
    size_t            given, n, i, rest, calls;
    tn_buf_t          b;
    tn_int_t          rc;
    tn_mail_parse_t   p;

    tn_memzero(&p, sizeof(tn_mail_parse_t));
    tn_mail_parse_reset(&p);
    p.max_line = max_line;

    cur = 0;
    b.start = b.pos = b.last = tn_test_bufs[cur];
    b.end = b.start + bufsize;

    o = out;
    *o = '\0';
    given = 0;

    for (calls = 0; calls < 4 * len + 100; calls++) {
        rc = parse(&p, &b);

        if (rc == TN_AGAIN) {

            if (mode == TN_TEST_MOVE || b.last == b.end) {
                /* the caller moves the unread data, to the other buffer */
                rest = b.last - b.pos;
                cur ^= 1;
                tn_memmove(tn_test_bufs[cur], b.pos, rest);
                b.start = b.pos = tn_test_bufs[cur];
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

            switch (mode) {
            case TN_TEST_WHOLE:
                n = len;
                break;
            case TN_TEST_RANDOM:
                n = 1 + tn_test_rand(7);
                break;
            default:
                n = 1;
            }

            n = tn_min(n, len - given);
            n = tn_min(n, (size_t) (b.end - b.last));

            tn_memcpy(b.last, in + given, n);
            b.last += n;
            given += n;
            continue;
        }

        if (o != out) {
            o = stpcpy(o, "; ");
        }

        if (rc == TN_MAIL_PARSE_INVALID_COMMAND) {
            o = stpcpy(o, "INVALID");
            continue;
        }

        if (rc == TN_MAIL_PARSE_LINE_TOO_LONG) {
            o = stpcpy(o, "TOOLONG");
            continue;
        }

        if (rc != TN_OK) {
            o += sprintf(o, "rc=%d", (int) rc);
            continue;
        }

        o += sprintf(o, "%s(", names[p.command]);
        o = tn_test_escape(o, p.cmd.data, p.cmd.len);
        o = stpcpy(o, ")");

        for (i = 0; i < p.nargs; i++) {
            o = stpcpy(o, " [");
            o = tn_test_escape(o, p.args[i].data, p.args[i].len);
            o = stpcpy(o, "]");
        }
    }
}


typedef struct {
    tn_str_t      in;
    size_t        max_line;
    const char   *expect;
} tn_test_cmd_case_t;


static tn_test_cmd_case_t  tn_test_smtp_cases[] = {

    /* every verb, any case */
    { S("HELO client.example\r\n"), 512, "HELO(HELO) [client.example]" },
    { S("ehlo client.example\r\n"), 512, "EHLO(ehlo) [client.example]" },
    { S("MAIL FROM:<a@b.c> SIZE=10\r\n"), 512,
      "MAIL(MAIL) [FROM:<a@b.c> SIZE=10]" },
    { S("Rcpt TO:<x@y>\r\n"), 512, "RCPT(Rcpt) [TO:<x@y>]" },
    { S("DATA\r\n"), 512, "DATA(DATA)" },
    { S("BDAT 100 LAST\r\n"), 512, "BDAT(BDAT) [100 LAST]" },
    { S("RSET\r\n"), 512, "RSET(RSET)" },
    { S("noop\r\n"), 512, "NOOP(noop)" },
    { S("NOOP \r\n"), 512, "NOOP(NOOP)" },
    { S("NOOP hello there\r\n"), 512, "NOOP(NOOP) [hello there]" },
    { S("QUIT\r\n"), 512, "QUIT(QUIT)" },
    { S("VRFY postmaster\r\n"), 512, "VRFY(VRFY) [postmaster]" },
    { S("EXPN list\r\n"), 512, "EXPN(EXPN) [list]" },
    { S("HELP\r\n"), 512, "HELP(HELP)" },
    { S("StartTLS\r\n"), 512, "STARTTLS(StartTLS)" },
    { S("AUTH PLAIN AHVzZXIAcGFzcw==\r\n"), 512,
      "AUTH(AUTH) [PLAIN AHVzZXIAcGFzcw==]" },
    { S("AUTH LOGIN\r\n"), 512, "AUTH(AUTH) [LOGIN]" },

    /* the rest after one space is kept as sent */
    { S("RSET  x \r\n"), 512, "RSET(RSET) [ x ]" },
    { S("EHLO %n%s%x\r\n"), 512, "EHLO(EHLO) [%n%s%x]" },
    { S("EHLO a\tb\r\n"), 512, "EHLO(EHLO) [a\\x09b]" },
    { S("EHLO \xc3\xa9\r\n"), 512, "EHLO(EHLO) [\\xc3\\xa9]" },

    /* unknown and bad verbs */
    { S("XYZZY\r\n"), 512, "UNKNOWN(XYZZY)" },
    { S("XYZZY plugh\r\n"), 512, "UNKNOWN(XYZZY) [plugh]" },
    { S("STARTTL\r\n"), 512, "UNKNOWN(STARTTL)" },
    { S("ABCDEFGHIJKLMNOP\r\n"), 512, "UNKNOWN(ABCDEFGHIJKLMNOP)" },
    { S("ABCDEFGHIJKLMNOPQ\r\n"), 512, "INVALID" },
    { S("MA1L FROM:<a@b>\r\n"), 512, "INVALID" },
    { S("\r\n"), 512, "INVALID" },
    { S(" EHLO x\r\n"), 512, "INVALID" },
    { S("EHLO\tx\r\n"), 512, "INVALID" },
    { S("MAIL:FROM\r\n"), 512, "INVALID" },
    { S("\xff\xfe\r\n"), 512, "INVALID" },
    { S("GET / HTTP/1.0\r\n"), 512, "UNKNOWN(GET) [/ HTTP/1.0]" },

    /* CRLF only (S2) */
    { S("EHLO x\n"), 512, "INVALID" },
    { S("EHLO x\nNOOP\r\n"), 512, "INVALID; NOOP(NOOP)" },
    { S("MAIL FROM:<a@b>\r\r\n"), 512, "INVALID" },
    { S("MAIL FROM:<a@b>\r\r\nRSET\r\n"), 512, "INVALID; RSET(RSET)" },
    { S("NOOP\rRSET\r\n"), 512, "INVALID" },
    { S("EHLO a\rb\r\nQUIT\r\n"), 512, "INVALID; QUIT(QUIT)" },
    { S("EHLO a\0b\r\nQUIT\r\n"), 512, "INVALID; QUIT(QUIT)" },
    { S("\0EHLO\r\nQUIT\r\n"), 512, "INVALID; QUIT(QUIT)" },
    { S("EHLO\0\r\n"), 512, "INVALID" },
    { S("EHLO x\r\0\r\n"), 512, "INVALID" },
    { S("\n"), 512, "INVALID" },
    { S("\n\n\r\n"), 512, "INVALID; INVALID; INVALID" },
    { S("DATA\n.\nMAIL FROM:<a@b>\r\n"), 512,
      "INVALID; INVALID; MAIL(MAIL) [FROM:<a@b>]" },

    /* pipelining */
    { S("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\n"), 512,
      "MAIL(MAIL) [FROM:<a@b>]; RCPT(RCPT) [TO:<c@d>]; "
      "RCPT(RCPT) [TO:<e@f>]; DATA(DATA)" },
    { S("STARTTLS\r\nRSET\r\n"), 512, "STARTTLS(STARTTLS); RSET(RSET)" },

    /* a partial line stays pending */
    { S("NOOP\r\nQUI"), 512, "NOOP(NOOP)" },
    { S("NOOP\r"), 512, "" },

    /* limits: max_line counts the CRLF */
    { S("EHLO 12345\r\n"), 12, "EHLO(EHLO) [12345]" },
    { S("EHLO 123456\r\n"), 12, "TOOLONG" },
    { S("EHLO 123456\r\nNOOP\r\n"), 12, "TOOLONG; NOOP(NOOP)" },
    { S("EHLO 1234567\r\nNOOP\r\n"), 12, "TOOLONG; NOOP(NOOP)" },
    { S("EHLO 1234567890123\r\nNOOP\r\n"), 12, "TOOLONG; NOOP(NOOP)" },
    { S("EHLO 12345\n\r\nNOOP\r\n"), 12, "INVALID; INVALID; NOOP(NOOP)" },
    { S("EHLO 123456789\0\r\nNOOP\r\n"), 12, "TOOLONG; NOOP(NOOP)" },
    { S("EHLO \0 23456789\r\nNOOP\r\n"), 12, "INVALID; NOOP(NOOP)" },
    { S("EHLO 12345\r\n"), 0, "EHLO(EHLO) [12345]" },

    { tn_null_string, 0, NULL }
};


static tn_test_cmd_case_t  tn_test_pop3_cases[] = {

    { S("USER bob\r\n"), 255, "USER(USER) [bob]" },
    { S("user  bob  \r\n"), 255, "USER(user) [bob]" },
    { S("USER\r\n"), 255, "USER(USER)" },
    { S("PASS my secret  pass \r\n"), 255, "PASS(PASS) [my secret  pass ]" },
    { S("PASS \r\n"), 255, "PASS(PASS)" },
    { S("PASS\r\n"), 255, "PASS(PASS)" },
    { S("APOP bob c4c9334bac560ecc979e58001b3e22fb\r\n"), 255,
      "APOP(APOP) [bob] [c4c9334bac560ecc979e58001b3e22fb]" },
    { S("AUTH\r\n"), 255, "AUTH(AUTH)" },
    { S("AUTH PLAIN\r\n"), 255, "AUTH(AUTH) [PLAIN]" },
    { S("AUTH PLAIN AHVzZXIAcGFzcw==\r\n"), 255,
      "AUTH(AUTH) [PLAIN] [AHVzZXIAcGFzcw==]" },
    { S("CAPA\r\n"), 255, "CAPA(CAPA)" },
    { S("stls\r\n"), 255, "STLS(stls)" },
    { S("STAT\r\n"), 255, "STAT(STAT)" },
    { S("LIST\r\n"), 255, "LIST(LIST)" },
    { S("LIST 1\r\n"), 255, "LIST(LIST) [1]" },
    { S("UIDL 2\r\n"), 255, "UIDL(UIDL) [2]" },
    { S("TOP 1 4294967296\r\n"), 255, "TOP(TOP) [1] [4294967296]" },
    { S("Top 1 2\r\n"), 255, "TOP(Top) [1] [2]" },
    { S("TOP 1 2 3\r\n"), 255, "INVALID" },
    { S("TOP 1 2 3\r\nQUIT\r\n"), 255, "INVALID; QUIT(QUIT)" },
    { S("RETR 1\r\n"), 255, "RETR(RETR) [1]" },
    { S("DELE 1\r\n"), 255, "DELE(DELE) [1]" },
    { S("RSET\r\n"), 255, "RSET(RSET)" },
    { S("NOOP\r\n"), 255, "NOOP(NOOP)" },
    { S("QUIT\r\n"), 255, "QUIT(QUIT)" },
    { S("XTND XMIT\r\n"), 255, "UNKNOWN(XTND) [XMIT]" },
    { S("TO\r\n"), 255, "UNKNOWN(TO)" },

    { S("\r\n"), 255, "INVALID" },
    { S(" USER bob\r\n"), 255, "INVALID" },
    { S("US3R bob\r\n"), 255, "INVALID" },
    { S("USER bob\n"), 255, "INVALID" },
    { S("USER bob\nPASS x\r\n"), 255, "INVALID; PASS(PASS) [x]" },
    { S("USER b\0b\r\nSTAT\r\n"), 255, "INVALID; STAT(STAT)" },
    { S("PASS a\0b\r\nSTAT\r\n"), 255, "INVALID; STAT(STAT)" },
    { S("PASS a\rb\r\nSTAT\r\n"), 255, "INVALID; STAT(STAT)" },
    { S("USER a\r\r\n"), 255, "INVALID" },
    { S("USER a\tb\r\n"), 255, "USER(USER) [a\\x09b]" },

    { S("USER a\r\nPASS b\r\nSTAT\r\nLIST\r\nRETR 1\r\nQUIT\r\n"), 255,
      "USER(USER) [a]; PASS(PASS) [b]; STAT(STAT); LIST(LIST); "
      "RETR(RETR) [1]; QUIT(QUIT)" },

    { S("USER 1234\r\n"), 11, "USER(USER) [1234]" },
    { S("USER 12345\r\nNOOP\r\n"), 11, "TOOLONG; NOOP(NOOP)" },

    { tn_null_string, 0, NULL }
};


static tn_test_cmd_case_t  tn_test_line_cases[] = {

    { S("AHVzZXIAcGFzcw==\r\n"), 512, "LINE() [AHVzZXIAcGFzcw==]" },
    { S("*\r\n"), 512, "LINE() [*]" },
    { S("\r\n"), 512, "LINE() []" },
    { S(" a b \r\n"), 512, "LINE() [ a b ]" },
    { S("abc\n"), 512, "INVALID" },
    { S("abc\ndef\r\n"), 512, "INVALID; LINE() [def]" },
    { S("a\0c\r\n"), 512, "INVALID" },
    { S("a\rc\r\n"), 512, "INVALID" },
    { S("abc\r\ndef\r\n"), 512, "LINE() [abc]; LINE() [def]" },
    { S("1234567\r\n"), 9, "LINE() [1234567]" },
    { S("12345678\r\nx\r\n"), 9, "TOOLONG; LINE() [x]" },

    { tn_null_string, 0, NULL }
};


static void
tn_test_cmd_table(const char *what, tn_test_parse_pt parse,
    const char **names, tn_test_cmd_case_t *cases)
{
    int    mode, same;
    char   got[TN_TEST_MODES][4096], name[128];
    tn_uint_t  i, r;

    for (i = 0; cases[i].expect; i++) {

        for (mode = 0; mode < TN_TEST_MODES; mode++) {
            tn_test_run_cmd(parse, names, cases[i].in.data, cases[i].in.len,
                            cases[i].max_line, TN_TEST_BUF, mode, got[mode]);
        }

        same = 1;

        for (mode = 0; mode < TN_TEST_MODES; mode++) {
            if (strcmp(got[mode], cases[i].expect) != 0) {
                printf("# %s mode: got \"%s\"\n# expected \"%s\"\n",
                       tn_test_mode_names[mode], got[mode], cases[i].expect);
                same = 0;
            }
        }

        /* more random splits */

        for (r = 0; r < 20 && same; r++) {
            tn_test_run_cmd(parse, names, cases[i].in.data, cases[i].in.len,
                            cases[i].max_line, TN_TEST_BUF, TN_TEST_RANDOM,
                            got[0]);
            if (strcmp(got[0], cases[i].expect) != 0) {
                printf("# random split: got \"%s\"\n", got[0]);
                same = 0;
            }
        }

        tn_test_escape((char *) name, cases[i].in.data,
                       tn_min(cases[i].in.len, 24));

        tn_test_ok(same, "%s \"%s\" max %u", what, name,
                   (unsigned) cases[i].max_line);
    }
}


/* generated lines: long ones, buffer overflow */

static void
tn_test_cmd_long(void)
{
    u_char  *in;
    char     got[TN_TEST_MODES][4096];
    size_t   len;
    int      mode, same;

    in = malloc(128 * 1024);

    /* exactly 512 with the CRLF, then one more (RFC 5321 4.5.3.1.4) */

    len = tn_cpymem(in, "EHLO ", 5) - in;
    tn_memset(in + len, 'a', 505);
    len += 505;
    len = tn_cpymem(in + len, "\r\nNOOP\r\n", 8) - in;

    same = 1;
    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        tn_test_run_cmd(tn_mail_smtp_parse_command, tn_test_smtp_names, in,
                        len, 512, TN_TEST_BUF, mode, got[mode]);
        same &= (strncmp(got[mode], "EHLO(EHLO) [aaaa", 16) == 0
                 && strstr(got[mode], "]; NOOP(NOOP)") != NULL);
    }
    tn_test_ok(same, "smtp 512-byte line accepted");

    len = tn_cpymem(in, "EHLO ", 5) - in;
    tn_memset(in + len, 'a', 506);
    len += 506;
    len = tn_cpymem(in + len, "\r\nNOOP\r\n", 8) - in;

    same = 1;
    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        tn_test_run_cmd(tn_mail_smtp_parse_command, tn_test_smtp_names, in,
                        len, 512, TN_TEST_BUF, mode, got[mode]);
        same &= (strcmp(got[mode], "TOOLONG; NOOP(NOOP)") == 0);
    }
    tn_test_ok(same, "smtp 513-byte line too long");

    /* S6: a 64 KiB EHLO */

    len = tn_cpymem(in, "EHLO ", 5) - in;
    tn_memset(in + len, 'x', 65536);
    len += 65536;
    len = tn_cpymem(in + len, "\r\nQUIT\r\n", 8) - in;

    same = 1;
    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        tn_test_run_cmd(tn_mail_smtp_parse_command, tn_test_smtp_names, in,
                        len, 4096, TN_TEST_BUF, mode, got[mode]);
        same &= (strcmp(got[mode], "TOOLONG; QUIT(QUIT)") == 0);
    }
    tn_test_ok(same, "smtp 64 KiB EHLO too long");

    /* POP3, RFC 2449: 255 octets */

    len = tn_cpymem(in, "USER ", 5) - in;
    tn_memset(in + len, 'u', 248);
    len += 248;
    len = tn_cpymem(in + len, "\r\nQUIT\r\n", 8) - in;

    same = 1;
    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        tn_test_run_cmd(tn_mail_pop3_parse_command, tn_test_pop3_names, in,
                        len, 255, TN_TEST_BUF, mode, got[mode]);
        same &= (strncmp(got[mode], "USER(USER) [uuu", 15) == 0);
    }
    tn_test_ok(same, "pop3 255-byte line accepted");

    len = tn_cpymem(in, "USER ", 5) - in;
    tn_memset(in + len, 'u', 249);
    len += 249;
    len = tn_cpymem(in + len, "\r\nQUIT\r\n", 8) - in;

    same = 1;
    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        tn_test_run_cmd(tn_mail_pop3_parse_command, tn_test_pop3_names, in,
                        len, 255, TN_TEST_BUF, mode, got[mode]);
        same &= (strcmp(got[mode], "TOOLONG; QUIT(QUIT)") == 0);
    }
    tn_test_ok(same, "pop3 256-byte line too long");

    /*
     * the caller's buffer of 16 bytes overflows before max_line (0: none,
     * and 1000): tn_mail_parse_overflow(), then the next command
     */

    len = tn_cpymem(in, "EHLO 0123456789012345678901234567890123\r\n"
                    "NOOP\r\nHELO x\r\n", 55) - in;

    same = 1;
    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        tn_test_run_cmd(tn_mail_smtp_parse_command, tn_test_smtp_names, in,
                        len, 0, 16, mode, got[mode]);
        if (strcmp(got[mode], "TOOLONG; NOOP(NOOP); HELO(HELO) [x]") != 0) {
            printf("# %s: %s\n", tn_test_mode_names[mode], got[mode]);
            same = 0;
        }
        tn_test_run_cmd(tn_mail_smtp_parse_command, tn_test_smtp_names, in,
                        len, 1000, 16, mode, got[mode]);
        same &= (strcmp(got[mode], "TOOLONG; NOOP(NOOP); HELO(HELO) [x]")
                 == 0);
    }
    tn_test_ok(same, "buffer overflow skips the line");

    /* an invalid line larger than the buffer is skipped as INVALID */

    len = tn_cpymem(in, "EHLO \0 23456789012345678901234567890123\r\n"
                    "NOOP\r\n", 47) - in;

    same = 1;
    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        tn_test_run_cmd(tn_mail_smtp_parse_command, tn_test_smtp_names, in,
                        len, 0, 16, mode, got[mode]);
        same &= (strcmp(got[mode], "INVALID; NOOP(NOOP)") == 0);
    }
    tn_test_ok(same, "invalid line larger than the buffer");

    /* a line that exactly fills the buffer fits */

    len = tn_cpymem(in, "EHLO 012345678\r\nNOOP\r\n", 22) - in;

    same = 1;
    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        tn_test_run_cmd(tn_mail_smtp_parse_command, tn_test_smtp_names, in,
                        len, 0, 16, mode, got[mode]);
        same &= (strcmp(got[mode], "EHLO(EHLO) [012345678]; NOOP(NOOP)")
                 == 0);
    }
    tn_test_ok(same, "line of exactly the buffer size");

    free(in);
}


/* a command split across buffers: the parser resumes, pointers are right */

static void
tn_test_cmd_split(void)
{
    u_char           buf[64];
    tn_buf_t         b;
    tn_int_t         rc1, rc2, rc3;
    tn_mail_parse_t  p;

    tn_memzero(&p, sizeof(tn_mail_parse_t));
    p.max_line = 512;

    b.start = b.pos = b.last = buf;
    b.end = buf + sizeof(buf);

    b.last = tn_cpymem(b.last, "MAIL FR", 7);
    rc1 = tn_mail_smtp_parse_command(&p, &b);

    tn_test_ok(rc1 == TN_AGAIN && b.pos == buf && p.line_start == buf
               && p.line_len == 7, "split: AGAIN keeps the line");

    b.last = tn_cpymem(b.last, "OM:<a@b>\r", 9);
    rc2 = tn_mail_smtp_parse_command(&p, &b);

    b.last = tn_cpymem(b.last, "\nRSET\r\n", 7);
    rc3 = tn_mail_smtp_parse_command(&p, &b);

    tn_test_ok(rc2 == TN_AGAIN && rc3 == TN_OK && p.command == TN_SMTP_MAIL
               && p.nargs == 1 && p.args[0].len == 10
               && tn_memcmp(p.args[0].data, "FROM:<a@b>", 10) == 0
               && b.pos == buf + 17, "split: MAIL across three reads");

    rc1 = tn_mail_smtp_parse_command(&p, &b);

    tn_test_ok(rc1 == TN_OK && p.command == TN_SMTP_RSET && b.pos == b.last,
               "split: pipelined RSET");

    rc1 = tn_mail_smtp_parse_command(&p, &b);
    tn_test_ok(rc1 == TN_AGAIN && b.pos == b.last, "split: empty buffer");

    /* reset in the middle of a line */

    b.pos = b.last = buf;
    b.last = tn_cpymem(b.last, "EHL", 3);
    (void) tn_mail_smtp_parse_command(&p, &b);
    tn_mail_parse_reset(&p);
    b.pos = b.last = buf;
    b.last = tn_cpymem(b.last, "QUIT\r\n", 6);
    rc1 = tn_mail_smtp_parse_command(&p, &b);

    tn_test_ok(rc1 == TN_OK && p.command == TN_SMTP_QUIT
               && p.max_line == 512, "reset keeps max_line");
}


/* MAIL/RCPT paths (S5, S7, I1) */

typedef struct {
    tn_str_t      arg;
    tn_uint_t     is_rcpt;
    /*
     * "OK local|domain|addr|flags|nparams params" or the start of the
     * error reply; flags: "null", "quoted", "utf8" or "quoted,utf8";
     * params: " KEY=VALUE" or " KEY" for each
     */
    const char   *expect;
} tn_test_path_case_t;


static tn_test_path_case_t  tn_test_path_cases[] = {

    { S("FROM:<a@b.c>"), 0, "OK a|b.c|a@b.c||0" },
    { S("FROM: <a@b.c>"), 0, "OK a|b.c|a@b.c||0" },
    { S("from:<First.Last@Example.COM>"), 0,
      "OK First.Last|Example.COM|First.Last@Example.COM||0" },
    { S("FROM:<>"), 0, "OK |||null|0" },
    { S("FROM:<> SIZE=100 BODY=8BITMIME"), 0,
      "OK |||null|2 SIZE=100 BODY=8BITMIME" },
    { S("FROM:<a@b.c> SIZE=123 BODY=8BITMIME"), 0,
      "OK a|b.c|a@b.c||2 SIZE=123 BODY=8BITMIME" },
    { S("FROM:<a@b.c>   "), 0, "OK a|b.c|a@b.c||0" },
    { S("FROM:<a@b.c>  SIZE=1  AUTH=<> "), 0,
      "OK a|b.c|a@b.c||2 SIZE=1 AUTH=<>" },
    { S("FROM:<a@b.c> X=\""), 0, "OK a|b.c|a@b.c||1 X=\"" },
    { S("FROM:<a@b.c> RET=HDRS ENVID=QQ314159+2B"), 0,
      "OK a|b.c|a@b.c||2 RET=HDRS ENVID=QQ314159+2B" },
    { S("TO:<x@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+2Bz@y"), 1,
      "OK x|y|x@y||2 NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+2Bz@y" },
    { S("TO:<x@y> ORCPT=rfc822;+0A"), 1, "OK x|y|x@y||1 ORCPT=rfc822;+0A" },
    { S("FROM:<a@b> SMTPUTF8"), 0, "OK a|b|a@b||1 SMTPUTF8" },
    { S("FROM:<!#$%&'*+-/=?^_`{|}~@x>"), 0,
      "OK !#$%&'*+-/=?^_`{|}~|x|!#$%&'*+-/=?^_`{|}~@x||0" },
    { S("TO:<${run{/bin/id}}@local>"), 1,
      "OK ${run{/bin/id}}|local|${run{/bin/id}}@local||0" },

    /* the prefix */
    { S("FROM:  <a@b>"), 0, "501 5.1.7" },
    { S("FROM <a@b>"), 0, "501 5.5.2" },
    { S("FROM"), 0, "501 5.5.2" },
    { S(""), 0, "501 5.5.2" },
    { S("FROM:"), 0, "501 5.1.7" },
    { S("TO:<a@b>"), 0, "501 5.5.2" },
    { S("FROM:<a@b>"), 1, "501 5.5.2" },
    { S("FROM:a@b"), 0, "501 5.1.7" },
    { S("TO:a@b"), 1, "501 5.1.3" },

    /* null paths, postmaster */
    { S("TO:<>"), 1, "501 5.1.3" },
    { S("TO:<postmaster>"), 1, "OK postmaster||postmaster||0" },
    { S("TO:<PostMaster> NOTIFY=NEVER"), 1,
      "OK PostMaster||PostMaster||1 NOTIFY=NEVER" },
    { S("FROM:<postmaster>"), 0, "501 5.1.7" },
    { S("TO:<user>"), 1, "501 5.1.3" },
    { S("TO:<\"postmaster\">"), 1, "501 5.1.3" },

    /* quoted local parts: kept as sent */
    { S("TO:<\"\"@x>"), 1, "OK \"\"|x|\"\"@x|quoted|0" },
    { S("TO:<\"a b\\\"c\"@x.org>"), 1,
      "OK \"a b\\\"c\"|x.org|\"a b\\\"c\"@x.org|quoted|0" },
    { S("TO:<\"a@b\"@c>"), 1, "OK \"a@b\"|c|\"a@b\"@c|quoted|0" },
    { S("TO:<\">\"@c>"), 1, "OK \">\"|c|\">\"@c|quoted|0" },
    { S("FROM:<\""), 0, "501 5.1.7" },
    { S("FROM:<\"a"), 0, "501 5.1.7" },
    { S("FROM:<\"a\\"), 0, "501 5.1.7" },
    { S("FROM:<\"a\\\"@b>"), 0, "501 5.1.7" },
    { S("FROM:<\"a\tb\"@c>"), 0, "501 5.1.7" },
    { S("FROM:<\"a\0b\"@c>"), 0, "501 5.1.7" },
    { S("FROM:<\"a\"b@c>"), 0, "501 5.1.7" },

    /* source routes: checked and dropped */
    { S("TO:<@a,@b:u@c>"), 1, "OK u|c|u@c||0" },
    { S("TO:<@a.example:u@c>"), 1, "OK u|c|u@c||0" },
    { S("TO:<@a,b:u@c>"), 1, "501 5.1.3" },
    { S("TO:<@a:>"), 1, "501 5.1.3" },
    { S("TO:<@a>"), 1, "501 5.1.3" },
    { S("TO:<@a,@b>"), 1, "501 5.1.3" },
    { S("TO:<@:u@c>"), 1, "501 5.1.3" },
    { S("TO:<@a..b:u@c>"), 1, "501 5.1.3" },
    { S("TO:<@x>"), 1, "501 5.1.3" },

    /* address literals */
    { S("TO:<u@[IPv6:::1]>"), 1, "OK u|[IPv6:::1]|u@[IPv6:::1]||0" },
    { S("TO:<u@[ipv6:2001:db8::1]>"), 1,
      "OK u|[ipv6:2001:db8::1]|u@[ipv6:2001:db8::1]||0" },
    { S("TO:<u@[IPv6:::ffff:1.2.3.4]>"), 1,
      "OK u|[IPv6:::ffff:1.2.3.4]|u@[IPv6:::ffff:1.2.3.4]||0" },
    { S("TO:<u@[1.2.3.4]>"), 1, "OK u|[1.2.3.4]|u@[1.2.3.4]||0" },
    { S("TO:<u@[255.255.255.255]>"), 1,
      "OK u|[255.255.255.255]|u@[255.255.255.255]||0" },
    { S("TO:<u@[300.1.1.1]>"), 1, "501 5.1.3" },
    { S("TO:<u@[1.2.3]>"), 1, "501 5.1.3" },
    { S("TO:<u@[1.2.3.4.5]>"), 1, "501 5.1.3" },
    { S("TO:<u@[1.2.3.]>"), 1, "501 5.1.3" },
    { S("TO:<u@[1..2.3]>"), 1, "501 5.1.3" },
    { S("TO:<u@[1234.1.1.1]>"), 1, "501 5.1.3" },
    { S("TO:<u@[]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6:]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6:zz::1]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6:1.2.3.4]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6:::1%eth0]>"), 1, "501 5.1.3" },
    { S("TO:<u@[tag:content]>"), 1, "501 5.1.3" },
    { S("TO:<u@[1.2.3.4"), 1, "501 5.1.3" },
    { S("TO:<u@["), 1, "501 5.1.3" },
    { S("TO:<u@[1.2.3.4]x>"), 1, "501 5.1.3" },
    { S("TO:<u@[[1.2.3.4]]>"), 1, "501 5.1.3" },

    /* domains */
    { S("TO:<u@x..y>"), 1, "501 5.1.3" },
    { S("TO:<u@-x.y>"), 1, "501 5.1.3" },
    { S("TO:<u@x-.y>"), 1, "501 5.1.3" },
    { S("TO:<u@x-y.z-1.example>"), 1,
      "OK u|x-y.z-1.example|u@x-y.z-1.example||0" },
    { S("TO:<u@x.y.>"), 1, "501 5.1.3" },
    { S("TO:<u@.x>"), 1, "501 5.1.3" },
    { S("TO:<u@x_y>"), 1, "501 5.1.3" },
    { S("TO:<u@>"), 1, "501 5.1.3" },
    { S("TO:<u@x"), 1, "501 5.1.3" },
    { S("TO:<u@x y>"), 1, "501 5.1.3" },
    { S("TO:<u@x\0>"), 1, "501 5.1.3" },

    /* local parts */
    { S("TO:<u.@x>"), 1, "501 5.1.3" },
    { S("TO:<.u@x>"), 1, "501 5.1.3" },
    { S("TO:<u..v@x>"), 1, "501 5.1.3" },
    { S("TO:<@>"), 1, "501 5.1.3" },
    { S("TO:<u v@x>"), 1, "501 5.1.3" },
    { S("TO:<a\0@b>"), 1, "501 5.1.3" },
    { S("TO:<a\x01@b>"), 1, "501 5.1.3" },
    { S("TO:<a\x7f@b>"), 1, "501 5.1.3" },
    { S("TO:<<a@b>>"), 1, "501 5.1.3" },
    { S("FROM:<<a@b>>"), 0, "501 5.1.7" },
    { S("FROM:<a@b>>"), 0, "501 5.5.4" },
    { S("FROM:<a@b@c>"), 0, "501 5.1.7" },
    { S("FROM:<a(b)@c>"), 0, "501 5.1.7" },
    { S("FROM:<"), 0, "501 5.1.7" },
    { S("FROM:<a@b"), 0, "501 5.1.7" },

    /* I1: shell metacharacters never make a valid domainless sender */
    { S("FROM:<;id;>"), 0, "501 5.1.7" },
    { S("FROM:<$(id)>"), 0, "501 5.1.7" },
    { S("FROM:<`id`>"), 0, "501 5.1.7" },
    { S("FROM:<a|b>"), 0, "501 5.1.7" },
    { S("FROM:<x@y;z>"), 0, "501 5.1.7" },
    { S("FROM:<;sleep 66;>"), 0, "501 5.1.7" },
    { S("TO:<;id;@x>"), 1, "501 5.1.3" },

    /* more quoted local parts */
    { S("TO:<\"a\\\\b\"@x>"), 1, "OK \"a\\\\b\"|x|\"a\\\\b\"@x|quoted|0" },
    { S("TO:<\"\\ \"@x>"), 1, "OK \"\\ \"|x|\"\\ \"@x|quoted|0" },
    { S("TO:<\" \"@x>"), 1, "OK \" \"|x|\" \"@x|quoted|0" },
    { S("TO:<\"  a  b  \"@x>"), 1,
      "OK \"  a  b  \"|x|\"  a  b  \"@x|quoted|0" },
    { S("TO:<\"a\\\"b\"@x>"), 1, "OK \"a\\\"b\"|x|\"a\\\"b\"@x|quoted|0" },
    { S("TO:<\"@\"@x>"), 1, "OK \"@\"|x|\"@\"@x|quoted|0" },
    { S("TO:<\"\\\""), 1, "501 5.1.3" },
    { S("TO:<\"a\\\">"), 1, "501 5.1.3" },
    { S("TO:<\"a\\\"@x>"), 1, "501 5.1.3" },
    { S("TO:<\"a\\\x01\"@x>"), 1, "501 5.1.3" },
    { S("TO:<\"a\\\x7f\"@x>"), 1, "501 5.1.3" },
    { S("TO:<\"a\x7f\"@x>"), 1, "501 5.1.3" },
    { S("TO:<\"a\".\"b\"@x>"), 1, "501 5.1.3" },
    { S("TO:<a.\"b\"@x>"), 1, "501 5.1.3" },
    { S("TO:<\"a\"@>"), 1, "501 5.1.3" },

    /* more source routes and address literals */
    { S("TO:<@a,@b,@c:u@d>"), 1, "OK u|d|u@d||0" },
    { S("FROM:<@a:u@b>"), 0, "OK u|b|u@b||0" },
    { S("TO:<@a:\"q r\"@c>"), 1, "OK \"q r\"|c|\"q r\"@c|quoted|0" },
    { S("TO:<@a:@b:u@c>"), 1, "501 5.1.3" },
    { S("TO:<@[1.2.3.4]:u@c>"), 1, "501 5.1.3" },
    { S("TO:<@a,:u@c>"), 1, "501 5.1.3" },
    { S("TO:<@-a:u@c>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6:2001:db8:0:0:0:0:0:1]>"), 1,
      "OK u|[IPv6:2001:db8:0:0:0:0:0:1]|u@[IPv6:2001:db8:0:0:0:0:0:1]||0" },
    { S("TO:<u@[IPv6:::]>"), 1, "OK u|[IPv6:::]|u@[IPv6:::]||0" },
    { S("TO:<u@[IPv6:1:2:3:4:5:6:7:8]>"), 1,
      "OK u|[IPv6:1:2:3:4:5:6:7:8]|u@[IPv6:1:2:3:4:5:6:7:8]||0" },
    { S("TO:<u@[IPv6:fe80::1]>"), 1,
      "OK u|[IPv6:fe80::1]|u@[IPv6:fe80::1]||0" },
    { S("TO:<u@[IPv6:::ffff:0.0.0.0]>"), 1,
      "OK u|[IPv6:::ffff:0.0.0.0]|u@[IPv6:::ffff:0.0.0.0]||0" },
    { S("TO:<u@[IPv6:1:2:3:4:5:6:7:8:9]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6:1::2::3]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6::::1]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6:12345::1]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6:::ffff:1.2.3.256]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6: ::1]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6:::1 ]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0000]>"), 1,
      "501 5.1.3" },
    { S("TO:<u@[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0]>"),
      1, "501 5.1.3" },
    { S("TO:<u@[0.0.0.0]>"), 1, "OK u|[0.0.0.0]|u@[0.0.0.0]||0" },
    { S("TO:<u@[001.002.003.004]>"), 1,
      "OK u|[001.002.003.004]|u@[001.002.003.004]||0" },
    { S("TO:<u@[256.1.1.1]>"), 1, "501 5.1.3" },
    { S("TO:<u@[1.2.3.256]>"), 1, "501 5.1.3" },
    { S("TO:<u@[-1.2.3.4]>"), 1, "501 5.1.3" },
    { S("TO:<u@[1.2.3.4 ]>"), 1, "501 5.1.3" },
    { S("TO:<u@[ 1.2.3.4]>"), 1, "501 5.1.3" },

    /*
     * SMTPUTF8 (RFC 6531): UTF-8 local parts and U-labels parse and set
     * utf8; the caller refuses them without the SMTPUTF8 parameter
     */
    { S("FROM:<\xc3\xbc@b>"), 0, "OK \\xc3\\xbc|b|\\xc3\\xbc@b|utf8|0" },
    { S("TO:<u@b\xc3\xbc.de>"), 1,
      "OK u|b\\xc3\\xbc.de|u@b\\xc3\\xbc.de|utf8|0" },
    { S("TO:<j\xc3\xb6s\xc3\xa9@b\xc3\xbc" "cher.example> NOTIFY=NEVER"), 1,
      "OK j\\xc3\\xb6s\\xc3\\xa9|b\\xc3\\xbc" "cher.example|"
      "j\\xc3\\xb6s\\xc3\\xa9@b\\xc3\\xbc" "cher.example|utf8|1 NOTIFY=NEVER" },
    { S("FROM:<j\xc3\xb6s\xc3\xa9@xn--bcher-kva.example> SMTPUTF8"), 0,
      "OK j\\xc3\\xb6s\\xc3\\xa9|xn--bcher-kva.example|"
      "j\\xc3\\xb6s\\xc3\\xa9@xn--bcher-kva.example|utf8|1 SMTPUTF8" },
    { S("TO:<u@xn--bcher-kva.example>"), 1,
      "OK u|xn--bcher-kva.example|u@xn--bcher-kva.example||0" },
    { S("FROM:<\"j\xc3\xb6 s\xc3\xa9\"@x> SMTPUTF8"), 0,
      "OK \"j\\xc3\\xb6 s\\xc3\\xa9\"|x|\"j\\xc3\\xb6 s\\xc3\\xa9\"@x|"
      "quoted,utf8|1 SMTPUTF8" },
    { S("TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.test>"), 1,
      "OK \\xe7\\x94\\xa8\\xe6\\x88\\xb7|\\xe4\\xbe\\x8b\\xe5\\xad\\x90.test|"
      "\\xe7\\x94\\xa8\\xe6\\x88\\xb7@\\xe4\\xbe\\x8b\\xe5\\xad\\x90.test|"
      "utf8|0" },
    { S("TO:<\xf0\x9f\x98\x80@x>"), 1,
      "OK \\xf0\\x9f\\x98\\x80|x|\\xf0\\x9f\\x98\\x80@x|utf8|0" },
    { S("TO:<\xf4\x8f\xbf\xbf@x>"), 1,
      "OK \\xf4\\x8f\\xbf\\xbf|x|\\xf4\\x8f\\xbf\\xbf@x|utf8|0" },
    { S("TO:<\xc2\xa0@x>"), 1, "OK \\xc2\\xa0|x|\\xc2\\xa0@x|utf8|0" },
    { S("TO:<\xc3\xbc.\xc3\xb6@x>"), 1,
      "OK \\xc3\\xbc.\\xc3\\xb6|x|\\xc3\\xbc.\\xc3\\xb6@x|utf8|0" },
    { S("TO:<u@\xc3\xbc>"), 1, "OK u|\\xc3\\xbc|u@\\xc3\\xbc|utf8|0" },
    { S("TO:<u@\xc3\xbc-\xc3\xbc.x>"), 1,
      "OK u|\\xc3\\xbc-\\xc3\\xbc.x|u@\\xc3\\xbc-\\xc3\\xbc.x|utf8|0" },
    { S("TO:<@b\xc3\xbc.de:u@c>"), 1, "OK u|c|u@c|utf8|0" },
    { S("TO:<\xc3\xbc..\xc3\xb6@x>"), 1, "501 5.1.3" },
    { S("TO:<\xc3\xbc.@x>"), 1, "501 5.1.3" },
    { S("TO:<u@\xc3\xbc-.x>"), 1, "501 5.1.3" },
    { S("TO:<u@-\xc3\xbc.x>"), 1, "501 5.1.3" },
    { S("TO:<u@\xc3\xbc..x>"), 1, "501 5.1.3" },
    { S("TO:<p\xc3\xb6stmaster>"), 1, "501 5.1.3" },
    { S("TO:<u@[1.2.3.4\xc3\xbc]>"), 1, "501 5.1.3" },
    { S("TO:<u@[IPv6:\xc3\xbc]>"), 1, "501 5.1.3" },
    { S("TO:<u@x\xe2\x80\x8b>"), 1,
      "OK u|x\\xe2\\x80\\x8b|u@x\\xe2\\x80\\x8b|utf8|0" },
    { S("FROM:\xc3\xbc<a@b>"), 0, "501 5.1.7" },
    { S("FROM:<a@b>\xc3\xbc"), 0, "501 5.5.4" },
    { S("FRÖM:<a@b>"), 0, "501 5.5.2" },

    /* malformed UTF-8: the bad address syntax reply */
    { S("FROM:<\xc0\xaf@b>"), 0, "501 5.1.7" },
    { S("TO:<\xc0\xaf@b>"), 1, "501 5.1.3" },
    { S("TO:<u@\xc0\xaf.de>"), 1, "501 5.1.3" },
    { S("TO:<\xc1\xbf@b>"), 1, "501 5.1.3" },
    { S("TO:<\xe0\x80\x80@b>"), 1, "501 5.1.3" },
    { S("TO:<u@\xe0\x9f\xbf>"), 1, "501 5.1.3" },
    { S("TO:<\xf0\x80\x80\x80@b>"), 1, "501 5.1.3" },
    { S("TO:<\xed\xa0\x80@b>"), 1, "501 5.1.3" },
    { S("TO:<u@\xed\xbf\xbf>"), 1, "501 5.1.3" },
    { S("TO:<\xf4\x90\x80\x80@b>"), 1, "501 5.1.3" },
    { S("TO:<u@\xf5\x80\x80\x80>"), 1, "501 5.1.3" },
    { S("TO:<\xff@b>"), 1, "501 5.1.3" },
    { S("TO:<a\x80@b>"), 1, "501 5.1.3" },
    { S("TO:<u@b\xbf>"), 1, "501 5.1.3" },
    { S("TO:<\xc3@b>"), 1, "501 5.1.3" },
    { S("TO:<\xe2\x82@b>"), 1, "501 5.1.3" },
    { S("TO:<\xc2\x80@b>"), 1, "501 5.1.3" },
    { S("TO:<u@\xc2\x9f.de>"), 1, "501 5.1.3" },
    { S("TO:<\"\xc2\x85\"@b>"), 1, "501 5.1.3" },
    { S("TO:<\"\xed\xa0\x80\"@b>"), 1, "501 5.1.3" },
    { S("TO:<\"\\\xc3\xbc\"@b>"), 1, "501 5.1.3" },
    { S("TO:<@b\xc0\xaf:u@c>"), 1, "501 5.1.3" },
    /* a sequence cut by the end of the argument */
    { S("TO:<u@b\xc3"), 1, "501 5.1.3" },
    { S("TO:<\xc3"), 1, "501 5.1.3" },
    { S("FROM:<\"\xe2\x82"), 0, "501 5.1.7" },
    { S("TO:<u@b.\xf0\x9f\x98"), 1, "501 5.1.3" },
    { S("TO:<\xf0"), 1, "501 5.1.3" },

    /* 8-bit in parameters: refused, SMTPUTF8 or not */
    { S("FROM:<a@b> X=\xff"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> X=\xc3\xbc"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> \xc3\xbc=1"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> SMTPUTF8 X\xc3\xbc"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<\xc3\xbc@b> SMTPUTF8 ENVID=\xc3\xbc"), 0, "501 5.5.4 Syntax" },
    { S("TO:<u@b> ORCPT=utf-8;\xc3\xbc@b"), 1, "501 5.5.4 Syntax" },

    /* parameters (S5) */
    { S("FROM:<a@b>SIZE=1"), 0, "501 5.5.4" },
    { S("FROM:<a@b>\tSIZE=1"), 0, "501 5.5.4" },
    { S("FROM:<a@b> \"\"=\"\""), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> \""), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> ="), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> A="), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> A==1"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> A=1=2"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> -A=1"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> A_B=1"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> A=\x01"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> A=b\0c"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> A=b\r\n"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> X-Y2=z"), 0, "OK a|b|a@b||1 X-Y2=z" },
    { S("FROM:<a@b> SIZE=1 size=2"), 0, "501 5.5.4 Duplicate" },
    { S("FROM:<a@b> BODY=7BIT Body=8BITMIME"), 0, "501 5.5.4 Duplicate" },
    { S("FROM:<a@b> SIZE"), 0, "501 5.5.4 Invalid SIZE" },
    { S("FROM:<a@b> SIZE=-1"), 0, "501 5.5.4 Invalid SIZE" },
    { S("FROM:<a@b> SIZE=1k"), 0, "501 5.5.4 Invalid SIZE" },
    { S("FROM:<a@b> SIZE=18446744073709551616"), 0,
      "501 5.5.4 Invalid SIZE" },
    { S("FROM:<a@b> SIZE=9223372036854775808"), 0, "501 5.5.4 Invalid SIZE" },
    { S("FROM:<a@b> SIZE=9223372036854775807"), 0,
      "OK a|b|a@b||1 SIZE=9223372036854775807" },
    { S("FROM:<a@b> SIZE=00000000000000000001"), 0,
      "OK a|b|a@b||1 SIZE=00000000000000000001" },
    { S("FROM:<a@b> SIZE=000000000000000000001"), 0,
      "501 5.5.4 Invalid SIZE" },
    { S("FROM:<a@b> A B C D E F G H I J K L M N O P"), 0,
      "OK a|b|a@b||16 A B C D E F G H I J K L M N O P" },
    { S("FROM:<a@b> A B C D E F G H I J K L M N O P Q"), 0,
      "501 5.5.4 Too many" },
    { S("FROM:<a@b> =VALUE"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> A= B"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> SIZE= 1"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> A=x\x7f"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> A\tB"), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> A=\"x=\""), 0, "501 5.5.4 Syntax" },
    { S("FROM:<a@b> smtputf8 SMTPUTF8"), 0, "501 5.5.4 Duplicate" },
    { S("FROM:<a@b> X-1=a x-1"), 0, "501 5.5.4 Duplicate" },
    { S("FROM:<a@b> SIZE=+1"), 0, "501 5.5.4 Invalid SIZE" },
    { S("FROM:<a@b> SIZE=0x10"), 0, "501 5.5.4 Invalid SIZE" },
    { S("FROM:<a@b> SIZE=1.5"), 0, "501 5.5.4 Invalid SIZE" },
    { S("FROM:<a@b> SIZE=x1"), 0, "501 5.5.4 Invalid SIZE" },
    { S("FROM:<a@b> SIZE=12345678901234567890"), 0,
      "501 5.5.4 Invalid SIZE" },
    { S("FROM:<a@b> SIZE=0"), 0, "OK a|b|a@b||1 SIZE=0" },
    { S("FROM:<a@b> size=1 "), 0, "OK a|b|a@b||1 size=1" },
    { S("FROM:<a@b> A-=1 1A=x"), 0, "OK a|b|a@b||2 A-=1 1A=x" },
    { S("FROM:<a@b> A=x y"), 0, "OK a|b|a@b||2 A=x y" },
    { S("FROM:<a@b> AUTH=<>   "), 0, "OK a|b|a@b||1 AUTH=<>" },
    { S("FROM:<a@b> X=!\"#$%&'()*+,-./:;<>?@[\\]^_`{|}~"), 0,
      "OK a|b|a@b||1 X=!\"#$%&'()*+,-./:;<>?@[\\]^_`{|}~" },
    { S("FROM:<> BODY=8BITMIME SMTPUTF8"), 0,
      "OK |||null|2 BODY=8BITMIME SMTPUTF8" },

    { tn_null_string, 0, NULL }
};


static void
tn_test_path_result(tn_str_t *arg, tn_uint_t is_rcpt, char *out)
{
    char            *o;
    tn_int_t         rc;
    tn_uint_t        i;
    const char      *err;
    tn_smtp_path_t   path;

    err = NULL;
    rc = tn_mail_smtp_parse_path(arg, is_rcpt, &path, &err);

    if (rc != TN_OK) {
        sprintf(out, "%s", err ? err : "(no err)");
        return;
    }

    o = stpcpy(out, "OK ");
    o = tn_test_escape(o, path.local.data, path.local.len);
    o = stpcpy(o, "|");
    o = tn_test_escape(o, path.domain.data, path.domain.len);
    o = stpcpy(o, "|");
    o = tn_test_escape(o, path.addr.data, path.addr.len);
    o = stpcpy(o, "|");
    o = stpcpy(o, path.null_path ? "null" : (path.quoted ? "quoted" : ""));

    if (path.utf8) {
        o = stpcpy(o, path.quoted ? ",utf8" : "utf8");
    }

    o += sprintf(o, "|%u", (unsigned) path.nparams);

    for (i = 0; i < path.nparams; i++) {
        o = stpcpy(o, " ");
        o = tn_test_escape(o, path.params[i].key.data,
                           path.params[i].key.len);

        if (path.params[i].value.len) {
            o = stpcpy(o, "=");
            o = tn_test_escape(o, path.params[i].value.data,
                               path.params[i].value.len);
        }
    }

    /* every string points into arg */

    for (i = 0; i < path.nparams; i++) {
        if (path.params[i].key.data < arg->data
            || path.params[i].value.data + path.params[i].value.len
               > arg->data + arg->len)
        {
            o = stpcpy(o, " (param out of arg)");
        }
    }
}


static void
tn_test_path_table(void)
{
    char       got[8192], name[256];
    tn_uint_t  i;

    for (i = 0; tn_test_path_cases[i].expect; i++) {
        tn_test_path_result(&tn_test_path_cases[i].arg,
                            tn_test_path_cases[i].is_rcpt, got);

        tn_test_escape(name, tn_test_path_cases[i].arg.data,
                       tn_min(tn_test_path_cases[i].arg.len, 48));

        if (strncmp(got, tn_test_path_cases[i].expect,
                    strlen(tn_test_path_cases[i].expect)) != 0
            || (got[0] == 'O'
                && strcmp(got, tn_test_path_cases[i].expect) != 0))
        {
            printf("# got \"%s\"\n# expected \"%s\"\n", got,
                   tn_test_path_cases[i].expect);
            tn_test_ok(0, "path %s \"%s\"",
                       tn_test_path_cases[i].is_rcpt ? "RCPT" : "MAIL", name);
            continue;
        }

        tn_test_ok(1, "path %s \"%s\"",
                   tn_test_path_cases[i].is_rcpt ? "RCPT" : "MAIL", name);
    }
}


/* lengths: local 64, domain 255, path 256; 10k parameters */

static void
tn_test_path_limits(void)
{
    u_char     *buf, *p;
    char        got[4096];
    size_t      i;
    tn_str_t    arg;
    off_t       size;
    tn_int_t    rc;
    tn_uint_t   utf8;
    const char *err;
    tn_smtp_path_t  path;

    buf = malloc(256 * 1024);
    arg.data = buf;

    /* local part of 64 and 65 */

    for (i = 64; i <= 65; i++) {
        p = tn_cpymem(buf, "TO:<", 4);
        tn_memset(p, 'l', i);
        p = tn_cpymem(p + i, "@x.org>", 7);
        arg.len = p - buf;
        tn_test_path_result(&arg, 1, got);
        tn_test_ok((i == 64) == (got[0] == 'O'), "local part of %u",
                   (unsigned) i);
    }

    /* a label of 63 and 64 */

    for (i = 63; i <= 64; i++) {
        p = tn_cpymem(buf, "TO:<u@", 6);
        tn_memset(p, 'd', i);
        p = tn_cpymem(p + i, ".org>", 5);
        arg.len = p - buf;
        tn_test_path_result(&arg, 1, got);
        tn_test_ok((i == 63) == (got[0] == 'O'), "label of %u",
                   (unsigned) i);
    }

    /*
     * domains of 251..256 octets with the local part "u": the path "<u@"
     * domain ">" is 256 at 252
     */

    for (i = 251; i <= 256; i++) {
        size_t  left, l;

        p = tn_cpymem(buf, "TO:<u@", 6);
        left = i;

        while (left) {
            l = tn_min(left, 63);
            if (left - l == 1) {
                l--;           /* no empty last label */
            }
            tn_memset(p, 'a', l);
            p += l;
            left -= l;
            if (left) {
                *p++ = '.';
                left--;
            }
        }

        p = tn_cpymem(p, ">", 1);
        arg.len = p - buf;
        tn_test_path_result(&arg, 1, got);
        tn_test_ok((i <= 252) == (got[0] == 'O'), "domain of %u (path %u)",
                   (unsigned) i, (unsigned) (i + 4));
    }

    /* a 255-octet domain is valid in itself, the path is then too long */

    for (i = 255; i <= 256; i++) {
        u_char  *q;

        /* "a." + labels of 63 and a last one of the rest */
        p = tn_cpymem(buf, "a", 1);
        while ((size_t) (p - buf) + 64 <= i) {
            p = tn_cpymem(p, ".", 1);
            tn_memset(p, 'c', 63);
            p += 63;
        }
        if ((size_t) (p - buf) < i) {
            p = tn_cpymem(p, ".", 1);
            tn_memset(p, 'd', i - (p - buf));
            p = buf + i;
        }

        q = buf;
        utf8 = 0;
        rc = tn_mail_smtp_parse_domain(&q, p, &utf8);
        tn_test_ok((size_t) (p - buf) == i
                   && (rc == TN_OK) == (i == 255) && (rc != TN_OK || q == p)
                   && utf8 == 0,
                   "%u-octet domain", (unsigned) i);
    }

    /* the same limits count octets with UTF-8: "\xc3\xbc" is 2 */

    for (i = 63; i <= 64; i++) {
        p = tn_cpymem(buf, "TO:<", 4);
        tn_memset(p, 'l', i - 2);
        p = tn_cpymem(p + i - 2, "\xc3\xbc@x.org>", 9);
        arg.len = p - buf;
        tn_test_path_result(&arg, 1, got);
        tn_test_ok((got[0] == 'O' && strstr(got, "|utf8|0") != NULL)
                   == (i <= 64), "UTF-8 local part of %u octets",
                   (unsigned) i);
    }

    p = tn_cpymem(buf, "TO:<", 4);
    tn_memset(p, 'l', 63);
    p = tn_cpymem(p + 63, "\xc3\xbc@x.org>", 9);
    arg.len = p - buf;
    tn_test_path_result(&arg, 1, got);
    tn_test_ok(strncmp(got, "501 5.1.3", 9) == 0,
               "UTF-8 local part of 65 octets");

    for (i = 63; i <= 64; i++) {
        p = tn_cpymem(buf, "TO:<u@", 6);
        tn_memset(p, 'd', i - 2);
        p = tn_cpymem(p + i - 2, "\xc3\xbc.org>", 7);
        arg.len = p - buf;
        tn_test_path_result(&arg, 1, got);
        tn_test_ok((i == 63) == (got[0] == 'O'), "U-label of %u octets",
                   (unsigned) i);
    }

    /* a character cut by the end of a 255-octet domain */

    p = buf;
    for (i = 0; i < 4; i++) {
        tn_memset(p, 'e', 62);
        p += 62;
        *p++ = '.';
    }
    p = tn_cpymem(p, "\xe4\xbe\x8b", 3);       /* 255 octets */

    for (i = 0; i <= 3; i++) {
        u_char  *q;

        q = buf;
        utf8 = 0;
        rc = tn_mail_smtp_parse_domain(&q, p - i, &utf8);
        tn_test_ok(i == 0 ? rc == TN_OK && q == p && utf8
                          : rc == TN_ERROR,
                   "255-octet U-label domain less %u octets",
                   (unsigned) i);
    }

    arg.data = buf;

    /* 10k parameters and a 100k parameter value */

    p = tn_cpymem(buf, "FROM:<a@b>", 10);
    for (i = 0; i < 10000; i++) {
        p += sprintf((char *) p, " X%u=1", (unsigned) i);
    }
    arg.data = buf;
    arg.len = p - buf;
    err = NULL;
    rc = tn_mail_smtp_parse_path(&arg, 0, &path, &err);
    tn_test_ok(rc == TN_ERROR && err && strstr(err, "Too many"),
               "10k parameters");

    p = tn_cpymem(buf, "FROM:<a@b> X=", 13);
    tn_memset(p, 'v', 100000);
    p += 100000;
    arg.len = p - buf;
    rc = tn_mail_smtp_parse_path(&arg, 0, &path, &err);
    tn_test_ok(rc == TN_OK && path.nparams == 1
               && path.params[0].value.len == 100000, "100k value");

    p = tn_cpymem(buf, "FROM:<a@b>", 10);
    tn_memset(p, ' ', 100000);
    p += 100000;
    arg.len = p - buf;
    rc = tn_mail_smtp_parse_path(&arg, 0, &path, &err);
    tn_test_ok(rc == TN_OK && path.nparams == 0, "100k trailing spaces");

    /* the value comes back through tn_smtp_param_size() */

    p = tn_cpymem(buf, "FROM:<a@b> SIZE=12345678901", 27);
    arg.len = p - buf;
    rc = tn_mail_smtp_parse_path(&arg, 0, &path, &err);
    size = 0;
    tn_test_ok(rc == TN_OK
               && tn_smtp_param_size(&path.params[0].value, &size) == TN_OK
               && size == 12345678901LL, "SIZE value");

    {
        tn_str_t  v = S("18446744073709551616");
        tn_str_t  w = S("9223372036854775807");
        tn_str_t  e = S("");

        tn_test_ok(tn_smtp_param_size(&v, &size) == TN_ERROR
                   && tn_smtp_param_size(&e, &size) == TN_ERROR
                   && tn_smtp_param_size(&w, &size) == TN_OK
                   && size == TN_MAX_OFF_T_VALUE, "SIZE overflow");
    }

    free(buf);
}


/* tn_mail_parse_number() */

static void
tn_test_number(void)
{
    static struct {
        tn_str_t   s;
        tn_uint_t  max;
        tn_int_t   expect;
    } cases[] = {
        { S("0"), 10, 0 },
        { S("7"), 10, 7 },
        { S("007"), 10, 7 },
        { S("10"), 10, 10 },
        { S("11"), 10, TN_ERROR },
        { S("5"), 0, TN_ERROR },
        { S("0"), 0, 0 },
        { S(""), 10, TN_ERROR },
        { S("1a"), 10, TN_ERROR },
        { S("-1"), 10, TN_ERROR },
        { S("+1"), 10, TN_ERROR },
        { S(" 1"), 10, TN_ERROR },
        { S("4294967296"), 2147483647, TN_ERROR },
        { S("4294967296"), INTPTR_MAX, 4294967296LL },
        { S("2147483647"), 2147483647, 2147483647 },
        { S("9223372036854775807"), INTPTR_MAX, INTPTR_MAX },
        { S("9223372036854775808"), INTPTR_MAX, TN_ERROR },
        { S("99999999999999999999999"), INTPTR_MAX, TN_ERROR },
        { S("1"), (tn_uint_t) INTPTR_MAX + 1, TN_ERROR },
    };

    size_t  i;
    int     good;

    good = 1;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (tn_mail_parse_number(&cases[i].s, cases[i].max)
            != cases[i].expect)
        {
            printf("# number case %u\n", (unsigned) i);
            good = 0;
        }
    }

    tn_test_ok(good, "tn_mail_parse_number: %u cases", (unsigned) i);
}


/* DATA */

#define TN_F_LF   0x01
#define TN_F_CR   0x02
#define TN_F_NUL  0x04
#define TN_F_BIG  0x08
#define TN_F_HDR  0x10

typedef struct {
    tn_int_t    rc;
    size_t      consumed;
    size_t      outlen;
    u_char      out[8192];
    unsigned    flags;
    off_t       size;
    off_t       vsize;
    tn_uint_t   lines;
    tn_uint_t   dones;
} tn_test_data_res_t;


/*
 * Feeds in to the DATA parser.  mode: the split of in; outcap: the size
 * of out (flushed after every call).  Stops at TN_DONE.
 */

static void
tn_test_run_data(const u_char *in, size_t len, off_t max_size,
    tn_uint_t bdat, int mode, size_t outcap, tn_test_data_res_t *r)
{
    size_t                 given, n, calls;
    u_char                 obuf[8192];
    tn_buf_t               b, o;
    tn_int_t               rc;
    tn_mail_data_parse_t   p;

    tn_memzero(r, sizeof(tn_test_data_res_t));
    tn_mail_data_parse_init(&p, max_size, bdat);

    b.start = b.pos = b.last = tn_test_bufs[0];
    b.end = b.start + TN_TEST_BUF;

    o.start = o.pos = o.last = obuf;
    o.end = obuf + outcap;

    given = 0;
    rc = TN_AGAIN;

    for (calls = 0; calls < 10 * len + 100; calls++) {

        if (b.pos == b.last) {
            if (given == len) {
                break;
            }

            switch (mode) {
            case TN_TEST_WHOLE:
                n = len;
                break;
            case TN_TEST_RANDOM:
                n = 1 + tn_test_rand(9);
                break;
            default:
                n = 1;
            }

            n = tn_min(n, len - given);
            tn_memcpy(b.last, in + given, n);
            b.last += n;
            given += n;
        }

        rc = tn_mail_data_parse(&p, &b, &o);

        n = o.last - o.start;
        if (r->outlen + n <= sizeof(r->out)) {
            tn_memcpy(r->out + r->outlen, o.start, n);
        }
        r->outlen += n;
        o.last = o.start;

        if (rc == TN_DONE) {
            r->dones++;
            break;
        }

        if (mode == TN_TEST_MOVE && b.pos != b.last) {
            /* the caller moves the unread input */
            tn_memmove(tn_test_bufs[1], b.pos, b.last - b.pos);
            tn_memcpy(tn_test_bufs[0], tn_test_bufs[1], b.last - b.pos);
            b.last = tn_test_bufs[0] + (b.last - b.pos);
            b.pos = tn_test_bufs[0];
        }
    }

    if (bdat) {
        tn_mail_data_parse_finish(&p);
    }

    r->rc = rc;
    r->consumed = given - (b.last - b.pos);
    r->flags = (p.bare_lf ? TN_F_LF : 0) | (p.bare_cr ? TN_F_CR : 0)
               | (p.nul ? TN_F_NUL : 0) | (p.too_big ? TN_F_BIG : 0)
               | (p.header_end ? TN_F_HDR : 0);
    r->size = p.size;
    r->vsize = p.vsize;
    r->lines = p.lines;

    /* a second call after TN_DONE stays done and consumes nothing */

    if (rc == TN_DONE) {
        u_char  *pos = b.pos;

        if (tn_mail_data_parse(&p, &b, &o) != TN_DONE || b.pos != pos
            || o.last != o.start)
        {
            r->dones++;
        }
    }
}


typedef struct {
    tn_str_t    in;
    off_t       max_size;
    tn_uint_t   bdat;
    tn_int_t    rc;
    size_t      consumed;
    tn_str_t    out;
    unsigned    flags;
    off_t       size;        /* -1: not checked */
    off_t       vsize;
    tn_int_t    lines;
} tn_test_data_case_t;


static tn_test_data_case_t  tn_test_data_cases[] = {

    /* the leading "." ends an empty message */
    { S(".\r\n"), 0, 0, TN_DONE, 3, S(""), 0, 0, 0, 0 },
    { S(".\r\nMAIL FROM:<a@b>\r\n"), 0, 0, TN_DONE, 3, S(""), 0, 0, 0, 0 },
    { S("\r\n.\r\n"), 0, 0, TN_DONE, 5, S("\n"), TN_F_HDR, 1, 2, 1 },
    { S("Subject: x\r\n\r\nbody\r\n.\r\n"), 0, 0, TN_DONE, 23,
      S("Subject: x\n\nbody\n"), TN_F_HDR, 17, 20, 3 },
    { S("Subject: x\r\nbody\r\n.\r\nQUIT\r\n"), 0, 0, TN_DONE, 21,
      S("Subject: x\nbody\n"), 0, 16, 18, 2 },

    /* dot-unstuffing: the first dot of a line goes */
    { S("..dot\r\n.x\r\n...\r\n..\r\n.\r\n"), 0, 0, TN_DONE, 23,
      S(".dot\nx\n..\n.\n"), 0, 12, 16, 4 },
    { S("a.\r\n.\r\n"), 0, 0, TN_DONE, 7, S("a.\n"), 0, 3, 4, 1 },
    { S("a\r\n. \r\n.\r\n"), 0, 0, TN_DONE, 10, S("a\n \n"), 0, 4, 6, 2 },

    /* no end yet */
    { S("abc"), 0, 0, TN_AGAIN, 3, S("abc"), 0, 3, 3, 0 },
    { S("abc\r"), 0, 0, TN_AGAIN, 4, S("abc"), 0, 3, 3, 0 },
    { S("abc\r\n."), 0, 0, TN_AGAIN, 6, S("abc\n"), 0, 4, 5, 1 },
    { S("abc\r\n.\r"), 0, 0, TN_AGAIN, 7, S("abc\n"), 0, 4, 5, 1 },
    { S("a\r\n.\r\n.\r\n"), 0, 0, TN_DONE, 6, S("a\n"), 0, 2, 3, 1 },

    /* max_size: counting goes on, writing stops */
    { S("0123456789\r\n.\r\n"), 5, 0, TN_DONE, 15, S("01234"), TN_F_BIG,
      11, 12, 1 },
    { S("abc\r\n.\r\n"), 5, 0, TN_DONE, 8, S("abc\n"), 0, 4, 5, 1 },
    { S("abc\r\n.\r\n"), 4, 0, TN_DONE, 8, S("abc"), TN_F_BIG, 4, 5, 1 },
    { S("abc\r\n.\r\n"), 3, 0, TN_DONE, 8, S("abc"), TN_F_BIG, 4, 5, 1 },
    { S("abc\r\n"), 3, 0, TN_AGAIN, 5, S("abc"), TN_F_BIG, 4, 5, 1 },

    /* bad bytes: flags, nothing more written, the real end still ends */
    { S("a\0b\r\n.\r\n"), 0, 0, TN_DONE, 8, S("a"), TN_F_NUL, -1, -1, -1 },
    { S("a\nb\r\n.\r\n"), 0, 0, TN_DONE, 8, S("a"), TN_F_LF, -1, -1, -1 },
    { S("a\rb\r\n.\r\n"), 0, 0, TN_DONE, 8, S("a"), TN_F_CR, -1, -1, -1 },
    { S("x\r\r\n.\r\n"), 0, 0, TN_DONE, 7, S("x"), TN_F_CR, -1, -1, -1 },
    { S(".\n.\r\n"), 0, 0, TN_AGAIN, 5, S(""), TN_F_LF, -1, -1, -1 },
    { S(".\r.\r\n"), 0, 0, TN_AGAIN, 5, S(""), TN_F_CR, -1, -1, -1 },
    { S(".\r\r\n.\r\n"), 0, 0, TN_DONE, 7, S(""), TN_F_CR, -1, -1, -1 },
    { S("\n.\r\n"), 0, 0, TN_AGAIN, 4, S(""), TN_F_LF, -1, -1, -1 },

    /* BDAT: no dot-stuffing, no end line, a CR may wait for the next chunk */
    { S("a\r\n.\r\n..\r\n"), 0, 1, TN_AGAIN, 10, S("a\n.\n..\n"), 0,
      7, 10, 3 },
    { S("a\r\nb"), 0, 1, TN_AGAIN, 4, S("a\nb"), 0, 3, 4, 1 },
    { S("a\r"), 0, 1, TN_AGAIN, 2, S("a"), TN_F_CR, -1, -1, -1 },
    { S("a\nb"), 0, 1, TN_AGAIN, 3, S("a"), TN_F_LF, -1, -1, -1 },
    { S("\r\n\r\nx"), 0, 1, TN_AGAIN, 5, S("\n\nx"), TN_F_HDR, 3, 5, 2 },

    { tn_null_string, 0, 0, 0, 0, tn_null_string, 0, 0, 0, 0 }
};


static int
tn_test_data_same(tn_test_data_res_t *r, tn_test_data_case_t *c)
{
    if (r->rc != c->rc || r->consumed != c->consumed
        || r->outlen != c->out.len
        || tn_memcmp(r->out, c->out.data, c->out.len) != 0
        || r->flags != c->flags
        || r->dones != (c->rc == TN_DONE ? 1U : 0U))
    {
        return 0;
    }

    if (c->size >= 0
        && (r->size != c->size || r->vsize != c->vsize
            || (tn_int_t) r->lines != c->lines))
    {
        return 0;
    }

    return 1;
}


static void
tn_test_data_table(void)
{
    int                   mode, good;
    char                  name[128], got[256];
    size_t                outcap, caps[] = { 1, 2, 3, 8192 };
    tn_uint_t             i, k, r;
    tn_test_data_res_t    res;
    tn_test_data_case_t  *c;

    for (i = 0; tn_test_data_cases[i].in.data; i++) {
        c = &tn_test_data_cases[i];
        good = 1;

        for (mode = 0; mode < TN_TEST_MODES; mode++) {
            for (k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
                for (r = 0; r < (mode == TN_TEST_RANDOM ? 10 : 1); r++) {
                    outcap = caps[k];
                    tn_test_run_data(c->in.data, c->in.len, c->max_size,
                                     c->bdat, mode, outcap, &res);

                    if (!tn_test_data_same(&res, c)) {
                        tn_test_escape(got, res.out,
                                       tn_min(res.outlen, 40));
                        printf("# %s out %u: rc %d consumed %u out \"%s\" "
                               "flags %x size %d vsize %d lines %u "
                               "dones %u\n",
                               tn_test_mode_names[mode], (unsigned) outcap,
                               (int) res.rc, (unsigned) res.consumed, got,
                               res.flags, (int) res.size, (int) res.vsize,
                               (unsigned) res.lines, (unsigned) res.dones);
                        good = 0;
                    }
                }
            }
        }

        tn_test_escape(name, c->in.data, tn_min(c->in.len, 30));
        tn_test_ok(good, "data%s \"%s\" max %d", c->bdat ? " bdat" : "",
                   name, (int) c->max_size);
    }
}


/*
 * S1: the ten smtpsmug endings, each followed by a smuggled message and
 * QUIT.  Exactly one TN_DONE, at the real end after the smuggled message;
 * the next command is QUIT, never MAIL.
 */

static void
tn_test_smuggling(void)
{
    static struct {
        const char  *name;
        tn_str_t     end;
        unsigned     flags;
    } endings[] = {
        { "lflf", S("\n.\n"), TN_F_LF },
        { "crcr", S("\r.\r"), TN_F_CR },
        { "crlf", S("\r.\n"), TN_F_CR | TN_F_LF },
        { "lfcr", S("\n.\r"), TN_F_LF | TN_F_CR },
        { "lfcrlf", S("\n.\r\n"), TN_F_LF },
        { "crlflf", S("\r\n.\n"), TN_F_LF },
        { "crcrlf", S("\r.\r\n"), TN_F_CR },
        { "crlfcr", S("\r\n.\r"), TN_F_CR },
        { "nullbefore", S("\r\n\0.\r\n"), TN_F_NUL },
        { "nullafter", S("\r\n.\0\r\n"), TN_F_NUL }
    };

    static const char  head[] =
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\n"
        "first message";
    static const char  smuggled[] =
        "MAIL FROM:<admin@example.org>\r\nRCPT TO:<b@example.org>\r\n"
        "DATA\r\nFrom: admin@example.org\r\n\r\nsmuggled\r\n.\r\n";
    static const char  tail[] = "QUIT\r\n";

    u_char              in[1024];
    char                got[4096];
    size_t              len, real_end, k, caps[] = { 1, 7, 8192 };
    int                 mode, good;
    tn_uint_t           i, r;
    tn_test_data_res_t  res;

    for (i = 0; i < sizeof(endings) / sizeof(endings[0]); i++) {

        len = tn_cpymem(in, head, sizeof(head) - 1) - in;
        len = tn_cpymem(in + len, endings[i].end.data, endings[i].end.len)
              - in;
        len = tn_cpymem(in + len, smuggled, sizeof(smuggled) - 1) - in;
        real_end = len;
        len = tn_cpymem(in + len, tail, sizeof(tail) - 1) - in;

        good = 1;

        for (mode = 0; mode < TN_TEST_MODES; mode++) {
            for (k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
                for (r = 0; r < (mode == TN_TEST_RANDOM ? 10 : 1); r++) {
                    tn_test_run_data(in, len, 0, 0, mode, caps[k], &res);

                    if (res.rc != TN_DONE || res.dones != 1
                        || res.consumed != real_end
                        || (res.flags & ~TN_F_HDR) != endings[i].flags
                        || !(res.flags & TN_F_HDR)
                        || res.outlen > sizeof(head) - 1)
                    {
                        printf("# %s %s: rc %d dones %u consumed %u/%u "
                               "flags %x\n", endings[i].name,
                               tn_test_mode_names[mode], (int) res.rc,
                               (unsigned) res.dones,
                               (unsigned) res.consumed, (unsigned) real_end,
                               res.flags);
                        good = 0;
                    }
                }
            }
        }

        /* what follows the data is QUIT only */

        tn_test_run_cmd(tn_mail_smtp_parse_command, tn_test_smtp_names,
                        in + real_end, len - real_end, 512, TN_TEST_BUF,
                        TN_TEST_WHOLE, got);

        good &= (strcmp(got, "QUIT(QUIT)") == 0);

        tn_test_ok(good, "smtpsmug %s: one message, flags set, then QUIT",
                   endings[i].name);
    }

    /* the same ending pipelined right after DATA's command (S3) */

    len = tn_cpymem(in, "\n.\n", 3) - in;
    len = tn_cpymem(in + len, smuggled, sizeof(smuggled) - 1) - in;

    tn_test_run_data(in, len, 0, 0, TN_TEST_WHOLE, 8192, &res);
    tn_test_ok(res.rc == TN_DONE && res.consumed == len
               && (res.flags & TN_F_LF), "smtpsmug at the start of data");
}


/* a large message: whole vs split, size and vsize */

static void
tn_test_data_big(void)
{
    u_char               *in, *exp, *p, *e;
    size_t                len, elen, i, j, explines;
    int                   mode, good;
    tn_buf_t              b, o;
    tn_int_t              rc;
    tn_mail_data_parse_t  dp;

    in = malloc(200 * 1024);
    exp = malloc(200 * 1024);
    p = in;
    e = exp;
    explines = 0;

    for (i = 0; i < 2000; i++) {
        if (i % 7 == 0) {
            p = tn_cpymem(p, "..", 2);
            e = tn_cpymem(e, ".", 1);
        }

        for (j = 0; j < i % 91; j++) {
            *p++ = 'a' + (i + j) % 26;
            *e++ = 'a' + (i + j) % 26;
        }

        p = tn_cpymem(p, "\r\n", 2);
        *e++ = '\n';
        explines++;
    }

    p = tn_cpymem(p, ".\r\n", 3);
    len = p - in;
    elen = e - exp;

    good = 1;

    for (mode = 0; mode < TN_TEST_MODES; mode++) {
        u_char  *out = malloc(elen + 16);
        size_t   given = 0, n;

        tn_mail_data_parse_init(&dp, 0, 0);
        b.start = b.pos = b.last = in;
        b.end = in + len;
        o.start = o.pos = o.last = out;
        o.end = out + elen + 16;

        do {
            if (b.pos == b.last) {
                n = (mode == TN_TEST_WHOLE) ? len
                    : (mode == TN_TEST_RANDOM) ? 1 + tn_test_rand(4000) : 1;
                n = tn_min(n, len - given);
                given += n;
                b.last = in + given;
            }

            rc = tn_mail_data_parse(&dp, &b, &o);

        } while (rc == TN_AGAIN && given <= len && b.pos < in + len);

        good &= (rc == TN_DONE && b.pos == in + len
                 && (size_t) (o.last - out) == elen
                 && tn_memcmp(out, exp, elen) == 0
                 && dp.size == (off_t) elen
                 && dp.vsize == (off_t) (elen + explines)
                 && dp.lines == explines && !dp.bare_lf && !dp.bare_cr);

        free(out);
    }

    tn_test_ok(good, "2000-line message with dots, all splits");

    free(in);
    free(exp);
}


/* POP3 output */

typedef struct {
    tn_str_t    in;
    off_t       top;
    tn_int_t    rc;
    tn_str_t    out;
    unsigned    last_was_lf;
} tn_test_pop3_case_t;


static tn_test_pop3_case_t  tn_test_pop3_out_cases[] = {

    { S("a\nb\n"), -1, TN_AGAIN, S("a\r\nb\r\n"), 1 },
    { S("a\r\nb\r\n"), -1, TN_AGAIN, S("a\r\nb\r\n"), 1 },
    { S("a\r\nb\n"), -1, TN_AGAIN, S("a\r\nb\r\n"), 1 },
    { S(".x\n..\n.\n"), -1, TN_AGAIN, S("..x\r\n...\r\n..\r\n"), 1 },
    { S(".x\r\n..\r\n.\r\n"), -1, TN_AGAIN, S("..x\r\n...\r\n..\r\n"), 1 },
    { S("a.b\n.\n"), -1, TN_AGAIN, S("a.b\r\n..\r\n"), 1 },
    { S("a\nb"), -1, TN_AGAIN, S("a\r\nb"), 0 },
    { S("a\n."), -1, TN_AGAIN, S("a\r\n.."), 0 },
    { S("a\r"), -1, TN_AGAIN, S("a"), 0 },
    { S("a\rb\n"), -1, TN_AGAIN, S("a\r\nb\r\n"), 1 },
    { S("a\r\r\n"), -1, TN_AGAIN, S("a\r\n\r\n"), 1 },
    { S(""), -1, TN_AGAIN, S(""), 1 },
    { S("\n"), -1, TN_AGAIN, S("\r\n"), 1 },

    /* TOP */
    { S("H: 1\nH: 2\n\nb1\nb2\nb3\n"), 0, TN_DONE, S("H: 1\r\nH: 2\r\n\r\n"),
      1 },
    { S("H: 1\nH: 2\n\nb1\nb2\nb3\n"), 2, TN_DONE,
      S("H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\n"), 1 },
    { S("H: 1\r\nH: 2\r\n\r\nb1\r\n.b2\r\nb3\r\n"), 2, TN_DONE,
      S("H: 1\r\nH: 2\r\n\r\nb1\r\n..b2\r\n"), 1 },
    { S("H: 1\r\n\r\n\r\n\r\nb3\r\n"), 2, TN_DONE,
      S("H: 1\r\n\r\n\r\n\r\n"), 1 },
    { S("H: 1\nH: 2\n\nb1\nb2\nb3\n"), 3, TN_DONE,
      S("H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\nb3\r\n"), 1 },
    { S("H: 1\nH: 2\n\nb1\nb2\nb3\n"), 10, TN_AGAIN,
      S("H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\nb3\r\n"), 1 },
    { S("H: 1\nH: 2\n\nb1\nb2"), 10, TN_AGAIN,
      S("H: 1\r\nH: 2\r\n\r\nb1\r\nb2"), 0 },
    { S("H: 1\n"), 1, TN_AGAIN, S("H: 1\r\n"), 1 },
    { S("H: 1\n"), 0, TN_AGAIN, S("H: 1\r\n"), 1 },
    { S("\nbody\n"), 0, TN_DONE, S("\r\n"), 1 },
    { S("\r\nbody\n"), 1, TN_DONE, S("\r\nbody\r\n"), 1 },
    { S("H: 1\r\r\nb\n"), 0, TN_DONE, S("H: 1\r\n\r\n"), 1 },
    { S("H: 1\n\r"), 0, TN_AGAIN, S("H: 1\r\n"), 0 },
    { S("H: 1\n\rx"), 0, TN_DONE, S("H: 1\r\n\r\n"), 1 },

    { tn_null_string, 0, 0, tn_null_string, 0 }
};


/* feeds in[0, split) then in[split, len) with out of outcap bytes */

static tn_int_t
tn_test_run_pop3(tn_test_pop3_case_t *c, size_t split, size_t outcap,
    u_char *res, size_t *reslen, unsigned *last_was_lf)
{
    u_char              inbuf[1024], obuf[1024];
    size_t              given, n, calls;
    tn_buf_t            b, o;
    tn_int_t            rc;
    tn_mail_pop3_out_t  p;

    tn_mail_pop3_out_init(&p, c->top);

    b.start = b.pos = b.last = inbuf;
    b.end = inbuf + sizeof(inbuf);
    o.start = o.pos = o.last = obuf;
    o.end = obuf + outcap;

    given = 0;
    *reslen = 0;
    rc = TN_AGAIN;

    for (calls = 0; calls < 10 * c->in.len + 10; calls++) {
        if (b.pos == b.last) {
            if (given == c->in.len) {
                break;
            }

            n = (given < split) ? split - given : c->in.len - given;

            /* a fresh input buffer each time: nothing is kept behind */
            b.pos = b.last = inbuf + (calls % 2) * 512;
            tn_memcpy(b.last, c->in.data + given, n);
            b.last += n;
            given += n;
        }

        rc = tn_mail_pop3_out(&p, &b, &o);

        n = o.last - o.start;
        tn_memcpy(res + *reslen, o.start, n);
        *reslen += n;
        o.last = o.start;

        if (rc == TN_DONE) {
            break;
        }
    }

    *last_was_lf = p.last_was_lf;

    return rc;
}


static void
tn_test_pop3_out_table(void)
{
    u_char                res[2048];
    char                  name[128], got[512];
    size_t                split, reslen, k, caps[] = { 2, 3, 5, 1024 };
    int                   good;
    tn_int_t              rc;
    tn_uint_t             i;
    unsigned              lf;
    tn_test_pop3_case_t  *c;

    for (i = 0; tn_test_pop3_out_cases[i].out.data; i++) {
        c = &tn_test_pop3_out_cases[i];
        good = 1;

        for (split = 0; split <= c->in.len; split++) {
            for (k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
                rc = tn_test_run_pop3(c, split, caps[k], res, &reslen, &lf);

                if (rc != c->rc || reslen != c->out.len
                    || tn_memcmp(res, c->out.data, reslen) != 0
                    || lf != c->last_was_lf)
                {
                    tn_test_escape(got, res, tn_min(reslen, 60));
                    printf("# split %u out %u: rc %d \"%s\" lf %u\n",
                           (unsigned) split, (unsigned) caps[k], (int) rc,
                           got, lf);
                    good = 0;
                }
            }
        }

        tn_test_escape(name, c->in.data, tn_min(c->in.len, 30));
        tn_test_ok(good, "pop3 out \"%s\" top %d", name, (int) c->top);
    }
}


/* RETR output read back by the DATA parser gives the stored message */

static void
tn_test_pop3_roundtrip(void)
{
    u_char                msg[4096], wire[8192], back[8192];
    size_t                len, i;
    tn_buf_t              b, o;
    tn_int_t              rc;
    int                   good;
    tn_uint_t             round;
    tn_mail_pop3_out_t    p;
    tn_mail_data_parse_t  dp;

    good = 1;

    for (round = 0; round < 200; round++) {
        len = tn_test_rand(300);

        for (i = 0; i < len; i++) {
            /* a stored message: LF line ends, many dots, no CR */
            static const char  alpha[] = "..\n\nab.c";
            msg[i] = alpha[tn_test_rand(sizeof(alpha) - 1)];
        }

        tn_mail_pop3_out_init(&p, -1);
        b.start = b.pos = msg;
        b.last = b.end = msg + len;
        o.start = o.pos = o.last = wire;
        o.end = wire + sizeof(wire);

        rc = tn_mail_pop3_out(&p, &b, &o);

        o.last = tn_cpymem(o.last, p.last_was_lf ? ".\r\n" : "\r\n.\r\n",
                           p.last_was_lf ? 3 : 5);

        tn_mail_data_parse_init(&dp, 0, 0);
        b.start = b.pos = wire;
        b.last = b.end = o.last;
        o.start = o.pos = o.last = back;
        o.end = back + sizeof(back);

        if (rc != TN_AGAIN
            || tn_mail_data_parse(&dp, &b, &o) != TN_DONE
            || b.pos != b.last
            || dp.bare_lf || dp.bare_cr
            || (size_t) (o.last - back) < len
            || tn_memcmp(back, msg, len) != 0
            || (size_t) (o.last - back) > len + 1)
        {
            good = 0;
        }
    }

    tn_test_ok(good, "RETR output parsed as DATA gives the message back");
}


/* SASL PLAIN (M8) */

static tn_int_t
tn_test_plain(const u_char *raw, size_t len, tn_str_t *user, tn_str_t *pass)
{
    static u_char  enc[2 * 1024 * 1024], dec[2 * 1024 * 1024];
    tn_str_t       src;

    src.data = enc;
    src.len = tn_test_encode_base64(enc, raw, len);

    return tn_mail_auth_plain(&src, dec, user, pass);
}


static void
tn_test_auth_plain(void)
{
    static u_char  dec[4096];
    static struct {
        tn_str_t   raw;
        tn_int_t   rc;
    } cases[] = {
        { S("\0user\0pass"), TN_OK },
        { S("user\0user\0pass"), TN_OK },
        { S("\0user\0pass word with spaces"), TN_OK },
        { S("other\0user\0pass"), TN_ERROR },
        { S("User\0user\0pass"), TN_ERROR },
        { S("userx\0user\0pass"), TN_ERROR },
        { S(""), TN_ERROR },
        { S("userpass"), TN_ERROR },
        { S("user\0pass"), TN_ERROR },
        { S("\0user\0pass\0"), TN_ERROR },
        { S("a\0b\0c\0d"), TN_ERROR },
        { S("\0\0pass"), TN_ERROR },
        { S("\0user\0"), TN_ERROR },
        { S("\0\0"), TN_ERROR },
        { S("\0us\0er\0pass"), TN_ERROR },
    };

    u_char     *big;
    size_t      i;
    tn_str_t    user, pass, src;
    tn_int_t    rc;
    int         good;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char  name[64];

        user.len = pass.len = 0;
        rc = tn_test_plain(cases[i].raw.data, cases[i].raw.len, &user, &pass);

        tn_test_escape(name, cases[i].raw.data, cases[i].raw.len);

        if (cases[i].rc == TN_OK) {
            good = (rc == TN_OK && user.len == 4
                    && tn_memcmp(user.data, "user", 4) == 0
                    && pass.len > 0
                    && tn_memcmp(pass.data,
                                 cases[i].raw.data + cases[i].raw.len
                                 - pass.len, pass.len) == 0);
        } else {
            good = (rc == TN_ERROR);
        }

        tn_test_ok(good, "AUTH PLAIN \"%s\"", name);
    }

    /* field limits */

    big = malloc(1024 * 1024);

    for (i = 255; i <= 256; i++) {
        big[0] = '\0';
        tn_memset(big + 1, 'u', i);
        tn_memcpy(big + 1 + i, "\0pw", 3);
        rc = tn_test_plain(big, i + 4, &user, &pass);
        tn_test_ok((rc == TN_OK) == (i == 255), "AUTH PLAIN user of %u",
                   (unsigned) i);
    }

    for (i = 1024; i <= 1025; i++) {
        tn_memcpy(big, "u\0u\0", 4);
        tn_memset(big + 4, 'p', i);
        rc = tn_test_plain(big, i + 4, &user, &pass);
        tn_test_ok((rc == TN_OK) == (i == 1024)
                   && (rc != TN_OK || pass.len == 1024),
                   "AUTH PLAIN password of %u", (unsigned) i);
    }

    /* the largest valid one: 255 + 255 + 1024 */

    tn_memset(big, 'u', 255);
    big[255] = '\0';
    tn_memset(big + 256, 'u', 255);
    big[511] = '\0';
    tn_memset(big + 512, 'p', 1024);
    rc = tn_test_plain(big, 1536, &user, &pass);
    tn_test_ok(rc == TN_OK && user.len == 255 && pass.len == 1024,
               "AUTH PLAIN largest");

    /* 1 MB of base64 */

    big[0] = '\0';
    tn_memset(big + 1, 'u', 4);
    big[5] = '\0';
    tn_memset(big + 6, 'p', 700 * 1024);
    rc = tn_test_plain(big, 6 + 700 * 1024, &user, &pass);
    tn_test_ok(rc == TN_ERROR, "AUTH PLAIN 1 MB");

    /* whitespace, bad base64, bad padding */
    {
        static tn_str_t  bad[] = {
            S("AHVz ZXIAcGFzcw=="),
            S("AHVzZXIAcGFzcw==\r\n"),
            S(" AHVzZXIAcGFzcw=="),
            S("AHVzZXIAcGFzcw==\n"),
            S("AHVzZXIA\tcGFzcw=="),
            S("AHVzZXIAcGFzcw="),
            S("AHVzZXIAcGFzcw"),
            S("AHVzZXIAcGFzcw==="),
            S("AHVzZXIAcGFzc==="),
            S("AH=zZXIAcGFzcw=="),
            S("AHVzZXIAcGFzcw=A"),
            S("!!!!"),
            S("AHVzZXIAcGFzcw-_"),
            S("===="),
            S("="),
            S("*"),
            S(""),
        };
        static tn_str_t  good_src = S("AHVzZXIAcGFzcw==");

        good = (tn_mail_auth_plain(&good_src, dec, &user, &pass) == TN_OK
                && user.len == 4 && pass.len == 4
                && tn_memcmp(pass.data, "pass", 4) == 0);

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            src = bad[i];
            if (tn_mail_auth_plain(&src, dec, &user, &pass) != TN_ERROR) {
                printf("# accepted bad base64 %u\n", (unsigned) i);
                good = 0;
            }
        }

        tn_test_ok(good, "AUTH PLAIN whitespace and bad base64");
    }

    free(big);
}


int
main(void)
{
    tn_test_cmd_table("smtp", tn_mail_smtp_parse_command, tn_test_smtp_names,
                      tn_test_smtp_cases);
    tn_test_cmd_table("pop3", tn_mail_pop3_parse_command, tn_test_pop3_names,
                      tn_test_pop3_cases);
    tn_test_cmd_table("line", tn_mail_parse_line, tn_test_line_names,
                      tn_test_line_cases);
    tn_test_cmd_long();
    tn_test_cmd_split();
    tn_test_number();
    tn_test_path_table();
    tn_test_path_limits();
    tn_test_data_table();
    tn_test_smuggling();
    tn_test_data_big();
    tn_test_pop3_out_table();
    tn_test_pop3_roundtrip();
    tn_test_auth_plain();

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
