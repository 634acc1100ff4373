/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * The IMAP command parser (src/mail/tn_mail_imap_parse.c): RFC 3501 and
 * RFC 9051 command syntax, quoted strings, invalid bytes, literals
 * (synchronizing, LITERAL+, LITERAL-, literal8, streamed APPEND data),
 * the limits, the resynchronisation after errors (SECURITY-CHECKLIST
 * M1-M4), sequence sets and FETCH sections.
 *
 * Every stream case is fed whole, byte by byte (with the unread data
 * moved to another buffer after each call), in random splits through a
 * small buffer, and the literal cases split in two at every byte: each
 * feed must give the same trace of results.  The pool is replaced by
 * malloc() with a count of the bytes in use, so that memory bounds can
 * be checked; it is "reset" (freed) after every finished command, as the
 * IMAP handler resets its per-command pool.
 */


#include "../../src/core/tn_string.c"
#include "../../src/mail/tn_mail_imap_parse.c"


#define TN_TEST_BUF     (256 * 1024)

#define TN_TEST_WHOLE   0
#define TN_TEST_BYTE    1      /* byte by byte, data moved after each call */
#define TN_TEST_RANDOM  2      /* random splits through a 16-byte buffer */
#define TN_TEST_SPLIT   3      /* two parts */

#define S(s)  (u_char *) s, sizeof(s) - 1


static tn_uint_t  tn_test_n;
static tn_uint_t  tn_test_failed;
static uint64_t   tn_test_seed = 0x2545f4914f6cdd1dULL;


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


static size_t
tn_test_rand(size_t n)
{
    tn_test_seed ^= tn_test_seed << 13;
    tn_test_seed ^= tn_test_seed >> 7;
    tn_test_seed ^= tn_test_seed << 17;

    return (size_t) (tn_test_seed % n);
}


/*
 * The pool: every allocation is a malloc() block in one list, freed all
 * at once by tn_test_pool_reset(); tn_pfree() frees one block as the
 * real pool frees its large allocations.
 */

typedef struct tn_test_block_s  tn_test_block_t;

struct tn_test_block_s {
    tn_test_block_t  *next;
    tn_test_block_t  *prev;
    size_t            size;
    size_t            pad;
};


static tn_test_block_t  tn_test_blocks;
static size_t           tn_test_live;
static size_t           tn_test_peak;
static tn_pool_t        tn_test_pool;


void *
tn_palloc(tn_pool_t *pool, size_t size)
{
    tn_test_block_t  *bl;

    bl = malloc(sizeof(tn_test_block_t) + size);
    if (bl == NULL) {
        return NULL;
    }

    if (tn_test_blocks.next == NULL) {
        tn_test_blocks.next = &tn_test_blocks;
        tn_test_blocks.prev = &tn_test_blocks;
    }

    bl->size = size;
    bl->next = tn_test_blocks.next;
    bl->prev = &tn_test_blocks;
    bl->next->prev = bl;
    tn_test_blocks.next = bl;

    tn_test_live += size;
    tn_test_peak = tn_max(tn_test_peak, tn_test_live);

    /* garbage, so that a missing initialisation shows */
    tn_memset(bl + 1, 0xa5, size);

    return bl + 1;
}


void *
tn_pnalloc(tn_pool_t *pool, size_t size)
{
    return tn_palloc(pool, size);
}


void *
tn_pcalloc(tn_pool_t *pool, size_t size)
{
    void  *p;

    p = tn_palloc(pool, size);
    if (p) {
        tn_memzero(p, size);
    }

    return p;
}


tn_int_t
tn_pfree(tn_pool_t *pool, void *p)
{
    tn_test_block_t  *bl;

    bl = (tn_test_block_t *) p - 1;

    bl->prev->next = bl->next;
    bl->next->prev = bl->prev;
    tn_test_live -= bl->size;

    tn_memset(p, 0x5a, bl->size);
    free(bl);

    return TN_OK;
}


static void
tn_test_pool_reset(void)
{
    while (tn_test_blocks.next && tn_test_blocks.next != &tn_test_blocks) {
        (void) tn_pfree(&tn_test_pool, tn_test_blocks.next + 1);
    }
}


/* a growing text */

typedef struct {
    char    *data;
    size_t   len;
    size_t   size;
} tn_test_text_t;


static void
tn_test_add(tn_test_text_t *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->size) {
        t->size = tn_max(t->size * 2, t->len + n + 1);
        t->data = realloc(t->data, t->size);
        if (t->data == NULL) {
            abort();
        }
    }

    tn_memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}


static void
tn_test_addf(tn_test_text_t *t, const char *fmt, ...)
{
    char     buf[256];
    int      n;
    va_list  args;

    va_start(args, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);

    tn_test_add(t, buf, (size_t) n);
}


/* bytes in a quoted form: printable ASCII, \\, \" and \xNN */

static void
tn_test_add_escaped(tn_test_text_t *t, const u_char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            tn_test_addf(t, "\\%c", s[i]);

        } else if (s[i] >= 0x20 && s[i] < 0x7f) {
            tn_test_add(t, (const char *) &s[i], 1);

        } else {
            tn_test_addf(t, "\\x%02x", s[i]);
        }
    }
}


static void
tn_test_dump(tn_test_text_t *t, tn_mail_imap_arg_t *arg)
{
    tn_mail_imap_arg_t  *a;

    switch (arg->type) {

    case TN_MAIL_IMAP_ARG_ATOM:
    case TN_MAIL_IMAP_ARG_NIL:
        tn_test_add(t, (char *) arg->value.data, arg->value.len);
        break;

    case TN_MAIL_IMAP_ARG_NUMBER:
        tn_test_addf(t, "#%llu", (unsigned long long) arg->number);
        break;

    case TN_MAIL_IMAP_ARG_QUOTED:
        tn_test_add(t, "\"", 1);
        tn_test_add_escaped(t, arg->value.data, arg->value.len);
        tn_test_add(t, "\"", 1);
        break;

    case TN_MAIL_IMAP_ARG_LITERAL:
        tn_test_addf(t, "%s{%llu%s}", arg->binary ? "~" : "",
                     (unsigned long long) arg->number, arg->sync ? "" : "+");

        if (arg->stream) {
            tn_test_add(t, "<stream>", 8);
            break;
        }

        tn_test_add(t, "\"", 1);
        tn_test_add_escaped(t, arg->value.data, arg->value.len);
        tn_test_add(t, "\"", 1);
        break;

    case TN_MAIL_IMAP_ARG_LIST:
        tn_test_add(t, "(", 1);

        for (a = arg->list; a; a = a->next) {
            if (a != arg->list) {
                tn_test_add(t, " ", 1);
            }

            if (a->parent != arg) {
                tn_test_add(t, "<parent?>", 9);
            }

            tn_test_dump(t, a);
        }

        tn_test_add(t, ")", 1);
        break;

    default:
        tn_test_add(t, "<type?>", 7);
    }
}


static const char *
tn_test_command_name(tn_uint_t command)
{
    tn_mail_imap_command_t  *c;

    for (c = tn_mail_imap_commands; c->name.len; c++) {
        if (c->command == command) {
            return (const char *) c->name.data;
        }
    }

    return "?";
}


static const char *
tn_test_rc_name(tn_int_t rc)
{
    switch (rc) {
    case TN_MAIL_IMAP_BAD_SYNTAX:
        return "BAD_SYNTAX";
    case TN_MAIL_IMAP_INVALID_CHAR:
        return "INVALID_CHAR";
    case TN_MAIL_IMAP_LINE_TOO_LONG:
        return "LINE_TOO_LONG";
    case TN_MAIL_IMAP_NESTING_TOO_DEEP:
        return "NESTING_TOO_DEEP";
    case TN_MAIL_IMAP_TOO_MANY_ARGS:
        return "TOO_MANY_ARGS";
    case TN_MAIL_IMAP_LITERAL_TOO_LARGE:
        return "LITERAL_TOO_LARGE";
    case TN_MAIL_IMAP_UNKNOWN_COMMAND:
        return "UNKNOWN_COMMAND";
    default:
        return "?";
    }
}


typedef struct {
    size_t      max_line;         /* 0: the defaults */
    size_t      max_literal;
    uint64_t    max_append;
    tn_uint_t   max_depth;
    tn_uint_t   max_args;
    unsigned    utf8:1;
    unsigned    minus:1;
    unsigned    refuse:1;         /* refuse every literal */
    unsigned    refuse_data:1;    /* give up at the first LITERAL_DATA */
    unsigned    splits:1;         /* also every split in two */
    unsigned    big:1;            /* whole and random only */
} tn_test_conf_t;


/*
 * Feeds in to a parser and returns the trace of its results (malloc()ed):
 *   OK tag NAME [UID] args...
 *   E RC tag [{size}]            (tag "*" when none was read)
 *   LITERAL [~]{n[+]} accept|refuse [stream]
 *   DATA n "text" [nul]          (a streamed literal, at LITERAL_END)
 *   DATA refused
 *   END idle | END wait n        (the parser at the end of the input)
 */

static char *
tn_test_run(const u_char *in, size_t len, tn_test_conf_t *cf, int mode,
    size_t split)
{
    u_char                *bufs[2];
    size_t                 bufsize, given, n, rest, calls;
    tn_buf_t               b;
    tn_int_t               rc;
    tn_uint_t              cur;
    tn_test_text_t         t, data;
    tn_mail_imap_arg_t    *a;
    tn_mail_imap_parse_t   p;

    tn_mail_imap_parse_init(&p, &tn_test_pool);

    if (cf->max_line) {
        p.max_line = cf->max_line;
    }
    if (cf->max_literal) {
        p.max_literal = cf->max_literal;
    }
    if (cf->max_append) {
        p.max_append = cf->max_append;
    }
    if (cf->max_depth) {
        p.max_depth = cf->max_depth;
    }
    if (cf->max_args) {
        p.max_args = cf->max_args;
    }

    p.utf8 = cf->utf8;
    p.literal_minus = cf->minus;

    bufsize = (mode == TN_TEST_RANDOM) ? 16 : (mode == TN_TEST_BYTE) ? 4
                                                                : TN_TEST_BUF;
    bufs[0] = malloc(bufsize);
    bufs[1] = malloc(bufsize);

    cur = 0;
    b.start = b.pos = b.last = bufs[0];
    b.end = b.start + bufsize;

    tn_memzero(&t, sizeof(t));
    tn_memzero(&data, sizeof(data));
    tn_test_add(&t, "", 0);

    given = 0;

    for (calls = 0; calls < 8 * len + 100; calls++) {

        rc = tn_mail_imap_parse_command(&p, &b);

        if (b.pos < b.start || b.pos > b.last) {
            tn_test_add(&t, "<pos?>\n", 7);
            break;
        }

        if (rc == TN_AGAIN) {
            if (b.pos != b.last) {
                tn_test_add(&t, "<again with data?>\n", 19);
                break;
            }

            if (mode == TN_TEST_BYTE) {
                tn_memset(bufs[cur], 0xee, bufsize);
                cur ^= 1;
            }

            b.start = b.pos = b.last = bufs[cur];
            b.end = b.start + bufsize;

            if (given == len) {
                break;
            }

            n = (mode == TN_TEST_WHOLE) ? len
                : (mode == TN_TEST_BYTE) ? 1
                : (mode == TN_TEST_RANDOM) ? 1 + tn_test_rand(16)
                : (given < split) ? split - given : len - given;

            n = tn_min(n, len - given);
            n = tn_min(n, bufsize);

            tn_memcpy(b.last, in + given, n);
            b.last += n;
            given += n;
            continue;
        }

        switch (rc) {

        case TN_OK:
            tn_test_addf(&t, "OK %.*s %s%s", (int) p.tag.len, p.tag.data,
                         tn_test_command_name(p.command),
                         p.uid ? " UID" : "");

            if (p.tag.data[p.tag.len] != '\0') {
                tn_test_add(&t, "<tag nul?>", 10);
            }

            n = 0;

            for (a = p.args; a; a = a->next) {
                tn_test_add(&t, " ", 1);
                tn_test_dump(&t, a);
                n++;

                if (a->parent != NULL) {
                    tn_test_add(&t, "<parent?>", 9);
                }
            }

            if (n != p.nargs) {
                tn_test_add(&t, " <nargs?>", 9);
            }

            tn_test_add(&t, "\n", 1);
            tn_test_pool_reset();
            break;

        case TN_MAIL_IMAP_LITERAL:
            tn_test_addf(&t, "LITERAL %s{%llu%s} %s%s\n",
                         p.literal_binary ? "~" : "",
                         (unsigned long long) p.literal_size,
                         p.literal_sync ? "" : "+",
                         cf->refuse ? "refuse" : "accept",
                         p.literal_stream ? " stream" : "");

            if (p.literal != NULL && p.literal->number != p.literal_size) {
                tn_test_add(&t, "<literal?>\n", 11);
            }

            if (cf->refuse) {
                tn_mail_imap_parse_refuse(&p);
            }

            data.len = 0;
            break;

        case TN_MAIL_IMAP_LITERAL_DATA:
            if (p.data.len == 0 || p.data.data < b.start
                || p.data.data + p.data.len != b.pos)
            {
                tn_test_add(&t, "<data?>\n", 8);
            }

            if (cf->refuse_data) {
                tn_test_add(&t, "DATA refused\n", 13);
                tn_mail_imap_parse_refuse(&p);
                break;
            }

            tn_test_add(&data, (char *) p.data.data, p.data.len);
            break;

        case TN_MAIL_IMAP_LITERAL_END:
            tn_test_addf(&t, "DATA %zu \"", data.len);
            tn_test_add_escaped(&t, (u_char *) data.data,
                                tn_min(data.len, (size_t) 80));
            tn_test_addf(&t, "\"%s\n", p.literal_nul ? " nul" : "");

            if (data.len != p.literal_size) {
                tn_test_add(&t, "<size?>\n", 8);
            }

            data.len = 0;
            break;

        default:
            if (!tn_mail_imap_parse_error(rc)) {
                tn_test_addf(&t, "<rc %d?>\n", (int) rc);
                goto done;
            }

            tn_test_addf(&t, "E %s ", tn_test_rc_name(rc));

            if (p.tag.len) {
                tn_test_add(&t, (char *) p.tag.data, p.tag.len);

            } else {
                tn_test_add(&t, "*", 1);
            }

            if (rc == TN_MAIL_IMAP_LITERAL_TOO_LARGE) {
                tn_test_addf(&t, " {%llu}",
                             (unsigned long long) p.literal_size);
            }

            if (p.err == NULL) {
                tn_test_add(&t, " <no err?>", 10);
            }

            tn_test_add(&t, "\n", 1);
            tn_test_pool_reset();
            break;
        }

        if (mode == TN_TEST_BYTE && rc != TN_MAIL_IMAP_LITERAL_DATA) {
            /* the parser must keep no pointer into the buffer */
            rest = b.last - b.pos;
            tn_memmove(bufs[cur ^ 1], b.pos, rest);
            tn_memset(bufs[cur], 0xee, bufsize);
            cur ^= 1;
            b.start = b.pos = bufs[cur];
            b.last = b.pos + rest;
            b.end = b.start + bufsize;
        }
    }

    if (tn_mail_imap_parse_idle(&p)) {
        tn_test_add(&t, "END idle\n", 9);

    } else {
        tn_test_addf(&t, "END wait %llu\n",
                     (unsigned long long) tn_mail_imap_parse_octets(&p));
    }

done:

    tn_test_pool_reset();
    free(bufs[0]);
    free(bufs[1]);
    free(data.data);

    return t.data;
}


static void
tn_test_print(const char *what, const char *s)
{
    const char  *nl;

    printf("# %s:\n", what);

    while (*s) {
        nl = strchr(s, '\n');
        if (nl == NULL) {
            nl = s + strlen(s);
        }

        printf("#   %.*s\n", (int) (nl - s), s);

        s = *nl ? nl + 1 : nl;
    }
}


/*
 * One case in every feed: the whole trace must be expect (with "END
 * idle\n" appended when expect does not say how it ends).
 */

static void
tn_test_case(const char *name, const u_char *in, size_t len,
    tn_test_conf_t *cf, const char *expect)
{
    int              mode, ok;
    char            *got, *want;
    size_t           split, i;
    tn_test_text_t   e;

    tn_memzero(&e, sizeof(e));
    tn_test_add(&e, expect, strlen(expect));

    if (strncmp(expect, "END ", 4) != 0 && strstr(expect, "\nEND ") == NULL) {
        tn_test_add(&e, "END idle\n", 9);
    }

    want = e.data;

    for (mode = TN_TEST_WHOLE; mode <= TN_TEST_SPLIT; mode++) {

        if (cf->big && mode == TN_TEST_BYTE) {
            continue;
        }

        if (mode == TN_TEST_SPLIT && !cf->splits) {
            continue;
        }

        ok = 1;

        for (i = 0; ok && i < ((mode == TN_TEST_RANDOM) ? 3 : 1); i++) {
            for (split = 1; ok && split < tn_max(len, (size_t) 2); split++) {

                got = tn_test_run(in, len, cf, mode, split);
                ok = (strcmp(got, want) == 0);

                if (!ok) {
                    printf("# %s, split %zu\n", name, split);
                    tn_test_print("got", got);
                    tn_test_print("expected", want);
                }

                free(got);

                if (mode != TN_TEST_SPLIT) {
                    break;
                }
            }
        }

        tn_test_ok(ok, "%s (%s)", name,
                   mode == TN_TEST_WHOLE ? "whole"
                   : mode == TN_TEST_BYTE ? "byte by byte"
                   : mode == TN_TEST_RANDOM ? "random splits"
                   : "every split");
    }

    free(want);
}


#define CASE(name, in, expect)                                               \
    tn_test_case(name, (u_char *) in, sizeof(in) - 1, &cf, expect)


static tn_test_conf_t  tn_test_conf0;


/* RFC 3501 section 6 examples and the commands of issue 4 */

static void
tn_test_commands(void)
{
    tn_test_conf_t  cf = tn_test_conf0;

    CASE("NOOP", "a002 NOOP\r\n", "OK a002 NOOP\n");
    CASE("CAPABILITY", "abcd CAPABILITY\r\n", "OK abcd CAPABILITY\n");
    CASE("LOGOUT", "A023 LOGOUT\r\n", "OK A023 LOGOUT\n");
    CASE("STARTTLS", "a001 STARTTLS\r\n", "OK a001 STARTTLS\n");
    CASE("AUTHENTICATE", "A001 AUTHENTICATE GSSAPI\r\n",
         "OK A001 AUTHENTICATE GSSAPI\n");
    CASE("AUTHENTICATE SASL-IR",
         "a AUTHENTICATE PLAIN AHRlc3QAdGVzdA==\r\n",
         "OK a AUTHENTICATE PLAIN AHRlc3QAdGVzdA==\n");
    CASE("LOGIN", "a001 LOGIN SMITH SESAME\r\n",
         "OK a001 LOGIN SMITH SESAME\n");
    CASE("SELECT", "A142 SELECT INBOX\r\n", "OK A142 SELECT INBOX\n");
    CASE("EXAMINE", "A932 EXAMINE blurdybloop\r\n",
         "OK A932 EXAMINE blurdybloop\n");
    CASE("CREATE", "A003 CREATE owatagusiam/\r\n",
         "OK A003 CREATE owatagusiam/\n");
    CASE("DELETE", "A683 DELETE blurdybloop\r\n",
         "OK A683 DELETE blurdybloop\n");
    CASE("RENAME", "A683 RENAME blurdybloop sarasoop\r\n",
         "OK A683 RENAME blurdybloop sarasoop\n");
    CASE("SUBSCRIBE", "A002 SUBSCRIBE #news.comp.mail.mime\r\n",
         "OK A002 SUBSCRIBE #news.comp.mail.mime\n");
    CASE("UNSUBSCRIBE", "A002 UNSUBSCRIBE #news.comp.mail.mime\r\n",
         "OK A002 UNSUBSCRIBE #news.comp.mail.mime\n");
    CASE("LIST", "A101 LIST \"\" \"\"\r\n", "OK A101 LIST \"\" \"\"\n");
    CASE("LIST 2", "A102 LIST #news.comp.mail.misc \"\"\r\n",
         "OK A102 LIST #news.comp.mail.misc \"\"\n");
    CASE("LIST wildcards", "A202 LIST ~/Mail/ %\r\n",
         "OK A202 LIST ~/Mail/ %\n");
    CASE("LIST-EXTENDED",
         "A01 LIST (SUBSCRIBED) \"\" (\"INBOX\" \"Drafts\") RETURN "
         "(CHILDREN STATUS (MESSAGES UNSEEN))\r\n",
         "OK A01 LIST (SUBSCRIBED) \"\" (\"INBOX\" \"Drafts\") RETURN "
         "(CHILDREN STATUS (MESSAGES UNSEEN))\n");
    CASE("LIST brackets", "a LIST \"\" [Gmail]/*\r\n",
         "OK a LIST \"\" [Gmail]/*\n");
    CASE("LSUB", "A002 LSUB \"#news.\" \"comp.mail.*\"\r\n",
         "OK A002 LSUB \"#news.\" \"comp.mail.*\"\n");
    CASE("NAMESPACE", "A001 NAMESPACE\r\n", "OK A001 NAMESPACE\n");
    CASE("STATUS", "A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n",
         "OK A042 STATUS blurdybloop (UIDNEXT MESSAGES)\n");
    CASE("APPEND date",
         "A003 APPEND saved-messages (\\Seen) "
         "\"07-Feb-1994 21:52:25 -0800\" {5+}\r\nhello\r\n",
         "LITERAL {5+} accept stream\n"
         "DATA 5 \"hello\"\n"
         "OK A003 APPEND saved-messages (\\Seen) "
         "\"07-Feb-1994 21:52:25 -0800\" {5+}<stream>\n");
    CASE("IDLE", "A001 IDLE\r\n", "OK A001 IDLE\n");
    CASE("CHECK", "FXXZ CHECK\r\n", "OK FXXZ CHECK\n");
    CASE("CLOSE", "A341 CLOSE\r\n", "OK A341 CLOSE\n");
    CASE("UNSELECT", "A342 UNSELECT\r\n", "OK A342 UNSELECT\n");
    CASE("EXPUNGE", "A202 EXPUNGE\r\n", "OK A202 EXPUNGE\n");
    CASE("UID EXPUNGE", "A003 UID EXPUNGE 3000:3002\r\n",
         "OK A003 EXPUNGE UID 3000:3002\n");
    CASE("SEARCH",
         "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
         "OK A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\n");
    CASE("SEARCH TEXT", "A283 SEARCH TEXT \"string not in mailbox\"\r\n",
         "OK A283 SEARCH TEXT \"string not in mailbox\"\n");
    CASE("SEARCH literal",
         "A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX\r\n",
         "LITERAL {6} accept\n"
         "OK A284 SEARCH CHARSET UTF-8 TEXT {6}\"XXXXXX\"\n");
    CASE("ESEARCH",
         "A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994\r\n",
         "OK A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994\n");
    CASE("SEARCHRES", "A301 UID SEARCH RETURN (SAVE) FLAGGED\r\n"
         "A302 FETCH $ (FLAGS)\r\n",
         "OK A301 SEARCH UID RETURN (SAVE) FLAGGED\n"
         "OK A302 FETCH $ (FLAGS)\n");
    CASE("FETCH",
         "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n",
         "OK A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\n");
    CASE("FETCH macro", "a FETCH 12 FULL\r\n", "OK a FETCH #12 FULL\n");
    CASE("FETCH partial",
         "a FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[]<0.1024> "
         "BINARY.PEEK[1.2] BINARY.SIZE[1] body[1.mime])\r\n",
         "OK a FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[]<0.1024> "
         "BINARY.PEEK[1.2] BINARY.SIZE[1] body[1.mime])\n");
    CASE("FETCH quoted field",
         "a FETCH 1 BODY[HEADER.FIELDS (\"From\" To)]\r\n",
         "OK a FETCH #1 BODY[HEADER.FIELDS (\"From\" To)]\n");
    CASE("CONDSTORE",
         "a SELECT INBOX (CONDSTORE)\r\n"
         "b FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n",
         "OK a SELECT INBOX (CONDSTORE)\n"
         "OK b FETCH 1:* (FLAGS) (CHANGEDSINCE #12345)\n");
    CASE("QRESYNC",
         "A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 "
         "41,43:211,214:541))\r\n",
         "OK A02 SELECT INBOX (QRESYNC (#67890007 #20050715194045000 "
         "41,43:211,214:541))\n");
    CASE("STORE", "A003 STORE 2:4 +FLAGS (\\Deleted)\r\n",
         "OK A003 STORE 2:4 +FLAGS (\\Deleted)\n");
    CASE("STORE silent",
         "a UID STORE 1 -FLAGS.SILENT (\\Seen \\Answered $Forwarded)\r\n",
         "OK a STORE UID #1 -FLAGS.SILENT (\\Seen \\Answered $Forwarded)\n");
    CASE("COPY", "A003 COPY 2:4 MEETING\r\n", "OK A003 COPY 2:4 MEETING\n");
    CASE("MOVE", "a UID MOVE 42:69 foo\r\n", "OK a MOVE UID 42:69 foo\n");
    CASE("UID FETCH", "A999 UID FETCH 4827313:4828442 FLAGS\r\n",
         "OK A999 FETCH UID 4827313:4828442 FLAGS\n");
    CASE("ENABLE", "t ENABLE IMAP4rev2 UTF8=ACCEPT\r\n",
         "OK t ENABLE IMAP4rev2 UTF8=ACCEPT\n");
    CASE("ID",
         "a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" "
         "\"Pink Floyd Music Limited\")\r\n",
         "OK a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" "
         "\"Pink Floyd Music Limited\")\n");
    CASE("ID NIL", "a ID NIL\r\nb ID (\"x\" nil)\r\n",
         "OK a ID NIL\nOK b ID (\"x\" nil)\n");
    CASE("GETQUOTA", "G0001 GETQUOTA \"!partition/sda4\"\r\n",
         "OK G0001 GETQUOTA \"!partition/sda4\"\n");
    CASE("GETQUOTAROOT", "G0002 GETQUOTAROOT INBOX\r\n",
         "OK G0002 GETQUOTAROOT INBOX\n");
    CASE("SETQUOTA", "S0000 SETQUOTA \"User quota\" (STORAGE 510)\r\n",
         "OK S0000 SETQUOTA \"User quota\" (STORAGE #510)\n");
    CASE("SORT", "A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994\r\n",
         "OK A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994\n");
    CASE("UID SORT", "A283 UID SORT (REVERSE DATE) UTF-8 ALL\r\n",
         "OK A283 SORT UID (REVERSE DATE) UTF-8 ALL\n");
    CASE("THREAD", "A283 THREAD REFERENCES UTF-8 SINCE 5-MAR-2000\r\n",
         "OK A283 THREAD REFERENCES UTF-8 SINCE 5-MAR-2000\n");
    CASE("ESEARCH command",
         "tag1 ESEARCH IN (mailboxes \"folder1\" subtree-one \"folder2\") "
         "unseen\r\n",
         "OK tag1 ESEARCH IN (mailboxes \"folder1\" subtree-one "
         "\"folder2\") unseen\n");
    CASE("lower case", "a uid fetch 1 flags\r\n",
         "OK a FETCH UID #1 flags\n");
    CASE("empty list", "a STATUS x ()\r\n", "OK a STATUS x ()\n");
    CASE("runs of spaces", "a  LOGIN  a   ( b  c ) \r\n",
         "OK a LOGIN a (b c)\n");
    CASE("tag chars", "a]b.c-1 NOOP\r\n", "OK a]b.c-1 NOOP\n");
    CASE("number64",
         "a X 9223372036854775807 9223372036854775808 007\r\n",
         "E UNKNOWN_COMMAND a\n");
    CASE("numbers",
         "a UID FETCH 9223372036854775807 9223372036854775808 007\r\n",
         "OK a FETCH UID #9223372036854775807 9223372036854775808 #7\n");
    CASE("pipelined",
         "a NOOP\r\nb LOGIN x y\r\nc LOGOUT\r\n",
         "OK a NOOP\nOK b LOGIN x y\nOK c LOGOUT\n");
    CASE("partial command", "a LOGIN x", "END wait 0\n");
}


/* quoted strings, escapes, invalid bytes (M4) */

static void
tn_test_quoted(void)
{
    tn_test_conf_t  cf = tn_test_conf0;

    CASE("escapes", "a LOGIN \"fr\\\\ed\" \"p\\\"w\"\r\n",
         "OK a LOGIN \"fr\\\\ed\" \"p\\\"w\"\n");
    CASE("empty quoted", "a LOGIN \"\" \"\"\r\n", "OK a LOGIN \"\" \"\"\n");
    CASE("controls in quoted", "a LOGIN \"\t\x7f\" x\r\n",
         "OK a LOGIN \"\\x09\\x7f\" x\n");
    CASE("invalid escape", "a LOGIN \"a\\x\" b\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("backslash at the end", "a LOGIN \"a\\\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("unterminated quoted", "a LOGIN \"abc\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("NUL in quoted", "a LOGIN \"a\0b\" c\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("LF in quoted", "a LOGIN \"a\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("8-bit in quoted", "a SELECT \"caf\xc3\xa9\"\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("quoted then atom", "a LOGIN \"a\"b c\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("NUL in atom", "a LOGIN a\0b c\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("tab in atom", "a SELECT a\tb\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("8-bit in atom", "a SELECT caf\xc3\xa9\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("DEL in atom", "a SELECT a\x7f\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("backslash in atom", "a SELECT a\\b\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("brace in atom", "a SELECT a{b\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("paren after atom", "a SELECT a(b)\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");

    cf.utf8 = 1;

    CASE("UTF-8 in quoted", "a SELECT \"caf\xc3\xa9 \xe2\x82\xac "
         "\xf0\x9f\x98\x80\"\r\n",
         "OK a SELECT \"caf\\xc3\\xa9 \\xe2\\x82\\xac "
         "\\xf0\\x9f\\x98\\x80\"\n");
    CASE("UTF-8 in atom", "a SELECT caf\xc3\xa9\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("overlong", "a SELECT \"\xc0\x80\"\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("overlong 3", "a SELECT \"\xe0\x80\xaf\"\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("surrogate", "a SELECT \"\xed\xa0\x80\"\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("above U+10FFFF", "a SELECT \"\xf4\x90\x80\x80\"\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("C1 control", "a SELECT \"\xc2\x85\"\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("lone continuation", "a SELECT \"\x80\"\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("truncated", "a SELECT \"\xe2\x82\"\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("F5", "a SELECT \"\xf5\x80\x80\x80\"\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
}


/* the structure of a command line */

static void
tn_test_syntax(void)
{
    tn_test_conf_t  cf = tn_test_conf0;

    CASE("empty line", "\r\na NOOP\r\n", "E BAD_SYNTAX *\nOK a NOOP\n");
    CASE("bare LF", "a NOOP\nb NOOP\r\n", "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("bare LF at start", "\nb NOOP\r\n",
         "E INVALID_CHAR *\nOK b NOOP\n");
    CASE("bare CR", "a NOOP\rb NOOP\r\nc NOOP\r\n",
         "E INVALID_CHAR a\nOK c NOOP\n");
    CASE("CR CR LF", "a NOOP\r\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("no command", "a\r\nb NOOP\r\n", "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("no command 2", "a \r\nb NOOP\r\n", "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("leading space", " a NOOP\r\nb NOOP\r\n",
         "E BAD_SYNTAX *\nOK b NOOP\n");
    CASE("tag +", "+ NOOP\r\na+b NOOP\r\nb NOOP\r\n",
         "E BAD_SYNTAX *\nE BAD_SYNTAX *\nOK b NOOP\n");
    CASE("tag *", "* NOOP\r\na%b NOOP\r\nb NOOP\r\n",
         "E BAD_SYNTAX *\nE BAD_SYNTAX *\nOK b NOOP\n");
    CASE("tag quoted", "\"a\" NOOP\r\nb NOOP\r\n",
         "E BAD_SYNTAX *\nOK b NOOP\n");
    CASE("unknown command", "a FOOBAR x y\r\nb NOOP\r\n",
         "E UNKNOWN_COMMAND a\nOK b NOOP\n");
    CASE("unknown long command", "a ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\nb NOOP\r\n",
         "E UNKNOWN_COMMAND a\nOK b NOOP\n");
    CASE("UID NOOP", "a UID NOOP\r\nb NOOP\r\n",
         "E UNKNOWN_COMMAND a\nOK b NOOP\n");
    CASE("UID UID", "a UID UID FETCH 1 FLAGS\r\nb NOOP\r\n",
         "E UNKNOWN_COMMAND a\nOK b NOOP\n");
    CASE("UID alone", "a UID\r\nb NOOP\r\n", "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("unclosed list", "a STATUS x (MESSAGES\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("unclosed list 2", "a STATUS x (MESSAGES \r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("unclosed list 3", "a STATUS x (\"a\"\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("extra paren", "a STATUS x MESSAGES)\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("extra paren 2", "a STATUS x ())\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("extra paren 3", "a STATUS x )\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("lists side by side", "a STATUS x ()()\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("section not closed", "a FETCH 1 BODY[HEADER\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("section nested", "a FETCH 1 BODY[1[2]]\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("section list", "a FETCH 1 BODY[X ((A))]\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("section list open",
         "a FETCH 1 BODY[HEADER.FIELDS (A]\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("section literal", "a FETCH 1 BODY[HEADER.FIELDS ({1}\r\n",
         "E BAD_SYNTAX a\n");
    CASE("section NUL", "a FETCH 1 BODY[\"\0\"]\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("section CR", "a FETCH 1 BODY[\"\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("brackets elsewhere", "a SELECT x[y z]\r\n",
         "OK a SELECT x[y z]\n");
    CASE("a second section", "a FETCH 1 BODY[1][2 3]\r\n",
         "OK a FETCH #1 BODY[1][2 3]\n");
}


/* literals (M1, M2) */

static void
tn_test_literals(void)
{
    tn_test_conf_t  cf = tn_test_conf0;

    cf.splits = 1;

    CASE("sync literals", "a LOGIN {5}\r\nfred! {3}\r\nabc\r\nb NOOP\r\n",
         "LITERAL {5} accept\nLITERAL {3} accept\n"
         "OK a LOGIN {5}\"fred!\" {3}\"abc\"\nOK b NOOP\n");
    CASE("non-sync literals", "a LOGIN {5+}\r\nfred! {3+}\r\nabc\r\n",
         "LITERAL {5+} accept\nLITERAL {3+} accept\n"
         "OK a LOGIN {5+}\"fred!\" {3+}\"abc\"\n");
    CASE("literal in a list",
         "a ID (\"a\" {2}\r\n\r\n {0}\r\n)\r\n",
         "LITERAL {2} accept\nLITERAL {0} accept\n"
         "OK a ID (\"a\" {2}\"\\x0d\\x0a\" {0}\"\")\n");
    CASE("literal8", "a SEARCH ~{3}\r\na\0b\r\n",
         "LITERAL ~{3} accept\nOK a SEARCH ~{3}\"a\\x00b\"\n");
    CASE("8-bit literal", "a LOGIN {2}\r\n\xc3\xa9 x\r\n",
         "LITERAL {2} accept\nOK a LOGIN {2}\"\\xc3\\xa9\" x\n");
    CASE("tilde atom", "a SELECT ~x ~\r\n", "OK a SELECT ~x ~\n");
    CASE("NUL in a literal", "a LOGIN {5}\r\na\0bcd x\r\nb NOOP\r\n",
         "LITERAL {5} accept\nE INVALID_CHAR a\nOK b NOOP\n");
    CASE("NUL in a literal+", "a LOGIN {8+}\r\nab\0\r\nc NO x\r\nb NOOP\r\n",
         "LITERAL {8+} accept\nE INVALID_CHAR a\nOK b NOOP\n");
    CASE("literal then garbage", "a LOGIN {1}\r\nx\"y\r\nb NOOP\r\n",
         "LITERAL {1} accept\nE BAD_SYNTAX a\nOK b NOOP\n");
    CASE("literal not at the end", "a LOGIN {1}x\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("literal, bare CR", "a LOGIN {1}\rx\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("literal at the end of input", "a LOGIN {10}\r\nabc",
         "LITERAL {10} accept\nEND wait 7\n");

    /* M1: sizes */

    CASE("{4294967296}", "a LOGIN {4294967296}\r\nb NOOP\r\n",
         "E LITERAL_TOO_LARGE a {4294967296}\nOK b NOOP\n");
    CASE("{18446744073709551615+}",
         "a LOGIN {18446744073709551615+}\r\nb NOOP\r\n",
         "E LITERAL_TOO_LARGE a {18446744073709551615}\n"
         "END wait 18446744073709551607\n");
    CASE("{99999999999999999999999+}",
         "a LOGIN {99999999999999999999999+}\r\nb NOOP\r\n",
         "E LITERAL_TOO_LARGE a {18446744073709551615}\n"
         "END wait 18446744073709551607\n");
    CASE("{-1}", "a LOGIN {-1}\r\nb NOOP\r\n", "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("{00001}", "a LOGIN {00001}\r\nx {0000}\r\n\r\n",
         "LITERAL {1} accept\nLITERAL {0} accept\n"
         "OK a LOGIN {1}\"x\" {0}\"\"\n");
    CASE("{1 }", "a LOGIN {1 }\r\nb NOOP\r\n", "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("{}", "a LOGIN {}\r\nb NOOP\r\n", "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("{+}", "a LOGIN {+}\r\nb NOOP\r\n", "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("{1++}", "a LOGIN {1++}\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("{ 1}", "a LOGIN { 1}\r\nb NOOP\r\n", "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("~{1 }", "a LOGIN ~{1 }\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");

    /* M2: a literal never runs as a command */

    CASE("M2 unknown command",
         "a FOOBAR {10+}\r\n0123456789\r\nb NOOP\r\n",
         "E UNKNOWN_COMMAND a\nOK b NOOP\n");
    CASE("M2 octets like commands",
         "a FOOBAR {10+}\r\nx LOGOUT\r\n\r\nb NOOP\r\n",
         "E UNKNOWN_COMMAND a\nOK b NOOP\n");
    CASE("M2 two literals",
         "a FOOBAR {8+}\r\nx LOGOUT {3+}\r\nabc\r\nb NOOP\r\n",
         "E UNKNOWN_COMMAND a\nOK b NOOP\n");
    CASE("M2 literal8",
         "a FOOBAR ~{8+}\r\nx LOGOUT\r\nb NOOP\r\n",
         "E UNKNOWN_COMMAND a\nOK b NOOP\n");
    CASE("M2 sync literal of an unknown command",
         "a FOOBAR {8}\r\nb NOOP\r\n",
         "E UNKNOWN_COMMAND a\nOK b NOOP\n");
    CASE("M2 error before a literal+",
         "a FETCH 1 (\x01 {8+}\r\nx NOOP\r\n\r\nc NOOP\r\n",
         "E INVALID_CHAR a\nOK c NOOP\n");
    CASE("M2 error before a literal",
         "a FETCH 1 (\x01 {7}\r\nb NOOP\r\n",
         "E INVALID_CHAR a\nOK b NOOP\n");
    CASE("M2 error in a literal header",
         "a LOGIN {5x+}\r\nb NOOP\r\n",
         "E BAD_SYNTAX a\nOK b NOOP\n");
    CASE("M2 quote before a literal+",
         "a LOGIN \"x\0{6+}\r\nb NOOP\r\nc NOOP\r\n",
         "E INVALID_CHAR a\nOK c NOOP\n");

    cf.refuse = 1;

    CASE("M2 refused literal+",
         "a LOGIN {10+}\r\nx LOGOUT\r\n {3+}\r\nabc\r\nb NOOP\r\n",
         "LITERAL {10+} refuse\nOK b NOOP\n");
    CASE("refused sync literal", "a LOGIN {5}\r\nb NOOP\r\n",
         "LITERAL {5} refuse\nOK b NOOP\n");
    CASE("refused APPEND", "a APPEND box {5}\r\nb NOOP\r\n",
         "LITERAL {5} refuse stream\nOK b NOOP\n");
}


/* APPEND streams its message */

static void
tn_test_append(void)
{
    u_char          *in, *q;
    size_t           n;
    char             expect[1024];
    const char      *msg;
    tn_test_conf_t   cf = tn_test_conf0;

    msg = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
          "From: Fred Foobar <foobar@Blurdybloop.COM>\r\n"
          "Subject: afternoon meeting\r\n"
          "To: mooch@owatagu.siam.edu\r\n"
          "Message-Id: <B27397-0100000@Blurdybloop.COM>\r\n"
          "MIME-Version: 1.0\r\n"
          "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
          "\r\n"
          "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

    n = strlen(msg);
    tn_test_ok(n == 310, "the RFC 3501 APPEND message is 310 octets");

    in = malloc(n + 128);
    q = tn_cpymem(in, "A003 APPEND saved-messages (\\Seen) {310}\r\n", 42);
    q = tn_cpymem(q, msg, n);
    q = tn_cpymem(q, "\r\nb NOOP\r\n", 10);

    snprintf(expect, sizeof(expect),
             "LITERAL {310} accept stream\n"
             "DATA 310 \"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)"
             "\\x0d\\x0aFrom: Fred Foobar <foobar@Blurdybloo\"\n"
             "OK A003 APPEND saved-messages (\\Seen) {310}<stream>\n"
             "OK b NOOP\n");

    cf.splits = 1;
    tn_test_case("APPEND (RFC 3501)", in, q - in, &cf, expect);

    cf.refuse_data = 1;
    tn_test_case("APPEND given up in the middle", in, q - in, &cf,
                 "LITERAL {310} accept stream\nDATA refused\nOK b NOOP\n");
    cf.refuse_data = 0;

    free(in);

    CASE("APPEND mailbox literal",
         "a APPEND {3}\r\nbox {5}\r\nhello\r\n",
         "LITERAL {3} accept\nLITERAL {5} accept stream\n"
         "DATA 5 \"hello\"\nOK a APPEND {3}\"box\" {5}<stream>\n");
    CASE("APPEND literal8",
         "a APPEND box ~{5}\r\na\0b\0c\r\n",
         "LITERAL ~{5} accept stream\nDATA 5 \"a\\x00b\\x00c\"\n"
         "OK a APPEND box ~{5}<stream>\n");
    CASE("APPEND NUL",
         "a APPEND box {3}\r\na\0b\r\n",
         "LITERAL {3} accept stream\nDATA 3 \"a\\x00b\" nul\n"
         "OK a APPEND box {3}<stream>\n");
    CASE("APPEND empty", "a APPEND box {0}\r\n\r\n",
         "LITERAL {0} accept stream\nDATA 0 \"\"\n"
         "OK a APPEND box {0}<stream>\n");
    CASE("MULTIAPPEND",
         "a APPEND box {2}\r\nab (\\Seen) {3+}\r\ncde\r\n",
         "LITERAL {2} accept stream\nDATA 2 \"ab\"\n"
         "LITERAL {3+} accept stream\nDATA 3 \"cde\"\n"
         "OK a APPEND box {2}<stream> (\\Seen) {3+}<stream>\n");
    CASE("CATENATE",
         "a APPEND box CATENATE (URL \"/x\" TEXT {2+}\r\nab)\r\n",
         "LITERAL {2+} accept stream\nDATA 2 \"ab\"\n"
         "OK a APPEND box CATENATE (URL \"/x\" TEXT {2+}<stream>)\n");
    CASE("APPEND garbage after", "a APPEND box {2}\r\nab x\"\r\nb NOOP\r\n",
         "LITERAL {2} accept stream\nDATA 2 \"ab\"\nE BAD_SYNTAX a\n"
         "OK b NOOP\n");

    cf.max_append = 100;

    CASE("APPEND over the limit", "a APPEND box {101}\r\nb NOOP\r\n",
         "E LITERAL_TOO_LARGE a {101}\nOK b NOOP\n");
    CASE("APPEND literal+ over the limit",
         "a APPEND box {101+}\r\n"
         "b NOOP\r\nb NOOP\r\nb NOOP\r\nb NOOP\r\nb NOOP\r\n"
         "b NOOP\r\nb NOOP\r\nb NOOP\r\nb NOOP\r\nb NOOP\r\n"
         "b NOOP\r\nb NOOP\r\nb NOO\r\nc NOOP\r\n",
         "E LITERAL_TOO_LARGE a {101}\nOK c NOOP\n");
    CASE("APPEND at the limit", "a APPEND box {100}\r\n",
         "LITERAL {100} accept stream\nEND wait 100\n");
}


/* the limits */

static void
tn_test_limits(void)
{
    u_char          *in, *q;
    size_t           i, n, peak;
    char             name[64], expect[256];
    tn_test_conf_t   cf = tn_test_conf0;
    clock_t          start;

    /* LITERAL-: non-synchronizing literals up to 4096 octets */

    cf.minus = 1;
    in = malloc(8192);

    for (n = 4096; n <= 4097; n++) {
        q = in + sprintf((char *) in, "a LOGIN {%zu+}\r\n", n);

        for (i = 0; i < n; i += 8) {
            tn_memcpy(q + i, "b NOOP\r\n", 8);
        }

        q = tn_cpymem(q + n, " x\r\nc NOOP\r\n", 12);

        snprintf(name, sizeof(name), "LITERAL- %zu", n);

        if (n == 4096) {
            snprintf(expect, sizeof(expect),
                     "LITERAL {4096+} accept\nOK a LOGIN {4096+}\"b NOOP"
                     "\\x0d\\x0ab NOOP\\x0d\\x0ab NOOP\\x0d\\x0ab NOOP"
                     "\\x0d\\x0ab NOOP\\x0d\\x0ab NOOP\\x0d\\x0ab NOOP"
                     "\\x0d\\x0ab NOOP\\x0d\\x0ab NOOP\\x0d\\x0ab NOOP"
                     "\\x0d\\x0a");

        } else {
            snprintf(expect, sizeof(expect),
                     "E LITERAL_TOO_LARGE a {4097}\nOK c NOOP\n");
        }

        if (n == 4096) {
            /* the dump is long: check only the result codes */
            char  *got;

            got = tn_test_run(in, q - in, &cf, TN_TEST_WHOLE, 0);
            if (strncmp(got, expect, strlen(expect)) != 0) {
                tn_test_print("got", got);
            }

            tn_test_ok(strncmp(got, expect, strlen(expect)) == 0
                       && strstr(got, "\nOK c NOOP\nEND idle\n") != NULL,
                       "%s", name);
            free(got);

        } else {
            tn_test_case(name, in, q - in, &cf, expect);
        }
    }

    CASE("LITERAL- sync 5000",
         "a LOGIN {5000}\r\n", "LITERAL {5000} accept\nEND wait 5000\n");

    free(in);
    cf.minus = 0;

    /* all the literals of a command in memory: max_literal together */

    in = malloc(128 * 1024);
    q = tn_cpymem(in, "a LOGIN {40000}\r\n", 17);
    tn_memset(q, 'x', 40000);
    q += 40000;
    q = tn_cpymem(q, " {30000}\r\nb NOOP\r\n", 18);

    {
        char  *got;

        got = tn_test_run(in, q - in, &cf, TN_TEST_WHOLE, 0);
        tn_test_ok(strcmp(got, "LITERAL {40000} accept\n"
                          "E LITERAL_TOO_LARGE a {30000}\nOK b NOOP\n"
                          "END idle\n") == 0,
                   "literals together over max_literal");
        free(got);
    }

    CASE("literal over max_literal", "a LOGIN {65537}\r\nb NOOP\r\n",
         "E LITERAL_TOO_LARGE a {65537}\nOK b NOOP\n");
    CASE("literal+ over max_literal", "a LOGIN {65537+}\r\nb NOOP\r\n",
         "E LITERAL_TOO_LARGE a {65537}\nEND wait 65529\n");

    /* a line too long, and the skip that follows */

    q = tn_cpymem(in, "a SELECT ", 9);
    tn_memset(q, 'x', 70000);
    q += 70000;
    q = tn_cpymem(q, "\r\nb NOOP\r\n", 10);

    tn_test_peak = tn_test_live;
    cf.big = 1;
    tn_test_case("line too long", in, q - in, &cf,
                 "E LINE_TOO_LONG a\nOK b NOOP\n");
    cf.big = 0;

    tn_test_ok(tn_test_peak < 3 * TN_MAIL_IMAP_MAX_LINE,
               "line too long: memory %zu", tn_test_peak);

    free(in);

    /* the limit in the middle of a literal header: its octets skipped */

    for (n = 1; n <= 20; n++) {
        char  *e;

        cf.max_line = n;
        snprintf(name, sizeof(name), "max_line %zu before a literal+", n);

        /* 18 bytes without the literal octets, then 8 */

        e = expect;

        if (n >= 18) {
            e += sprintf(e, "LITERAL {5+} accept\n"
                         "OK a LOGIN {5+}\"b NOO\" x\n");
        } else if (n >= 14) {
            e += sprintf(e, "LITERAL {5+} accept\nE LINE_TOO_LONG a\n");

        } else {
            e += sprintf(e, "E LINE_TOO_LONG %s\n", n >= 2 ? "a" : "*");
        }

        if (n >= 8) {
            e += sprintf(e, "OK c NOOP\n");
        } else {
            e += sprintf(e, "E LINE_TOO_LONG %s\n", n >= 2 ? "c" : "*");
        }

        tn_test_case(name, (u_char *) "a LOGIN {5+}\r\nb NOO x\r\n"
                     "c NOOP\r\n", 31, &cf, expect);
    }

    cf.max_line = 0;

    /* nesting: 100 levels pass, 101 do not; 1M "(" cost little */

    in = malloc(2 * 1024 * 1024 + 64);

    for (n = 100; n <= 101; n++) {
        q = tn_cpymem(in, "a FETCH 1 ", 10);
        tn_memset(q, '(', n);
        q += n;
        tn_memset(q, ')', n);
        q += n;
        q = tn_cpymem(q, "\r\nb NOOP\r\n", 10);

        {
            char  *got;

            got = tn_test_run(in, q - in, &cf, TN_TEST_WHOLE, 0);
            tn_test_ok((n == 100) ? strncmp(got, "OK a FETCH #1 ((((", 18)
                                    == 0
                                  : strcmp(got, "E NESTING_TOO_DEEP a\n"
                                           "OK b NOOP\nEND idle\n") == 0,
                       "nesting %zu", n);
            free(got);
        }
    }

    q = tn_cpymem(in, "a FETCH 1 (", 11);
    tn_memset(q, '(', 1024 * 1024);
    q += 1024 * 1024;
    q = tn_cpymem(q, "\r\nb NOOP\r\n", 10);

    cf.max_line = 4 * 1024 * 1024;
    cf.big = 1;
    tn_test_peak = tn_test_live;
    start = clock();

    tn_test_case("1M parentheses", in, q - in, &cf,
                 "E NESTING_TOO_DEEP a\nOK b NOOP\n");

    peak = tn_test_peak;
    tn_test_ok(peak < 64 * 1024, "1M parentheses: memory %zu", peak);
    tn_test_ok(clock() - start < 10 * CLOCKS_PER_SEC,
               "1M parentheses: time %.2fs",
               (double) (clock() - start) / CLOCKS_PER_SEC);

    cf.max_line = 0;
    cf.big = 0;
    free(in);

    /* arguments */

    cf.max_args = 5;
    CASE("max_args", "a FETCH 1 (A B C)\r\nb FETCH 1 (A B C D)\r\n"
         "c FETCH 1 (A B C {1+}\r\nx)\r\nd NOOP\r\n",
         "OK a FETCH #1 (A B C)\nE TOO_MANY_ARGS b\nE TOO_MANY_ARGS c\n"
         "OK d NOOP\n");
    cf.max_args = 0;
}


/* sequence sets */

static void
tn_test_seqset_case(const char *set, uint32_t star, const char *expect)
{
    char                 buf[512], *e;
    size_t               off;
    tn_int_t             rc, chk;
    tn_str_t             s;
    tn_mail_imap_seq_t   r;

    s.data = (u_char *) set;
    s.len = strlen(set);
    off = 0;
    e = buf;
    *e = '\0';

    while ((rc = tn_mail_imap_seqset_next(&s, &off, star, &r)) == TN_OK) {
        if (r.saved) {
            e += sprintf(e, "$ ");

        } else {
            e += sprintf(e, "%u:%u ", (unsigned) r.first, (unsigned) r.last);
        }

        if (e > buf + sizeof(buf) - 32) {
            break;
        }
    }

    if (rc == TN_ERROR) {
        e += sprintf(e, "error");
    }

    chk = tn_mail_imap_seqset_check(&s);

    tn_test_ok(strcmp(buf, expect) == 0
               && (chk == TN_OK) == (rc == TN_DONE),
               "sequence set \"%s\": %s", set, buf);
}


static void
tn_test_seqsets(void)
{
    u_char              *big, *q;
    size_t               off, i, n;
    tn_int_t             rc;
    tn_str_t             s;
    clock_t              start;
    tn_test_conf_t       cf = tn_test_conf0;
    tn_mail_imap_seq_t   r;

    tn_test_seqset_case("1:*,5,7:9,$", 100, "1:100 5:5 7:9 $ ");
    tn_test_seqset_case("*", 42, "42:42 ");
    tn_test_seqset_case("1:*", 0, "0:1 ");
    tn_test_seqset_case("4294967295", 1, "4294967295:4294967295 ");
    tn_test_seqset_case("1:4294967295", 1, "1:4294967295 ");
    tn_test_seqset_case("9:7", 1, "7:9 ");
    tn_test_seqset_case("*:5", 3, "3:5 ");
    tn_test_seqset_case("$", 3, "$ ");
    tn_test_seqset_case("4294967296", 1, "error");
    tn_test_seqset_case("99999999999999999999", 1, "error");
    tn_test_seqset_case("0", 1, "error");
    tn_test_seqset_case("1:0", 1, "error");
    tn_test_seqset_case("01", 1, "error");
    tn_test_seqset_case("", 1, "error");
    tn_test_seqset_case("1,", 1, "error");
    tn_test_seqset_case(",1", 1, "error");
    tn_test_seqset_case("1,,2", 1, "1:1 error");
    tn_test_seqset_case("1:2:3", 1, "error");
    tn_test_seqset_case("1:$", 1, "error");
    tn_test_seqset_case("$:1", 1, "error");
    tn_test_seqset_case("1 2", 1, "error");
    tn_test_seqset_case("-1", 1, "error");
    tn_test_seqset_case("a", 1, "error");
    tn_test_seqset_case("**", 1, "error");

    /* a 10 MB set "1,3,5,...": in a command, and read in linear time */

    n = 10 * 1024 * 1024;
    big = malloc(n + 64);
    q = tn_cpymem(big, "a UID FETCH ", 12);

    for (i = 1; q < big + n; i += 2) {
        q += sprintf((char *) q, "%zu,", i);
    }

    q[-1] = ' ';
    q = tn_cpymem(q, "FLAGS\r\nb NOOP\r\n", 15);

    cf.big = 1;
    tn_test_peak = tn_test_live;
    tn_test_case("10 MB sequence set", big, q - big, &cf,
                 "E LINE_TOO_LONG a\nOK b NOOP\n");
    tn_test_ok(tn_test_peak < 3 * TN_MAIL_IMAP_MAX_LINE,
               "10 MB sequence set: memory %zu", tn_test_peak);

    s.data = big + 12;
    s.len = q - big - 12 - 15 - 1;

    start = clock();
    rc = tn_mail_imap_seqset_check(&s);

    off = 0;
    i = 0;

    while (tn_mail_imap_seqset_next(&s, &off, 1, &r) == TN_OK) {
        i++;
    }

    tn_test_ok(rc == TN_OK && i > 1000000
               && clock() - start < 5 * CLOCKS_PER_SEC,
               "10 MB sequence set: %zu ranges in %.2fs", i,
               (double) (clock() - start) / CLOCKS_PER_SEC);

    free(big);
}


/* FETCH sections */

static void
tn_test_section_case(const char *att, tn_int_t expect_rc,
    const char *expect)
{
    char                     buf[512], *e;
    size_t                   off;
    tn_int_t                 rc;
    tn_str_t                 s, name;
    tn_uint_t                i;
    tn_mail_imap_section_t   sec;

    s.data = (u_char *) att;
    s.len = strlen(att);

    rc = tn_mail_imap_parse_section(&s, &sec);

    e = buf;
    *e = '\0';

    if (rc == TN_OK) {
        e += sprintf(e, "item %u%s text %u parts",
                     (unsigned) sec.item, sec.peek ? " peek" : "",
                     (unsigned) sec.text);

        for (i = 0; i < sec.nparts && i < 8; i++) {
            e += sprintf(e, " %u", (unsigned) sec.parts[i]);
        }

        if (sec.nfields) {
            e += sprintf(e, " fields %u:", (unsigned) sec.nfields);
            off = 0;

            while (tn_mail_imap_section_field(&sec.fields, &off, &name)
                   == TN_OK)
            {
                e += sprintf(e, " [%.*s]", (int) name.len, name.data);
            }
        }

        if (sec.partial) {
            e += sprintf(e, " <%u.%u>", (unsigned) sec.offset,
                         (unsigned) sec.count);
        }
    }

    tn_test_ok(rc == expect_rc && (rc != TN_OK || strcmp(buf, expect) == 0),
               "section \"%.60s\": %d %s", att, (int) rc, buf);
}


static void
tn_test_sections(void)
{
    char   big[1024], *q;
    int    i;

    tn_test_section_case("BODY.PEEK[HEADER.FIELDS (From To)]<0.2048>", TN_OK,
                         "item 1 peek text 2 parts fields 2: [From] [To]"
                         " <0.2048>");
    tn_test_section_case("BODY[]", TN_OK, "item 1 text 0 parts");
    tn_test_section_case("body[]<10.20>", TN_OK,
                         "item 1 text 0 parts <10.20>");
    tn_test_section_case("BODY[1.2.3]", TN_OK, "item 1 text 0 parts 1 2 3");
    tn_test_section_case("BODY[1.MIME]", TN_OK, "item 1 text 5 parts 1");
    tn_test_section_case("BODY[2.HEADER]", TN_OK, "item 1 text 1 parts 2");
    tn_test_section_case("BODY[TEXT]", TN_OK, "item 1 text 4 parts");
    tn_test_section_case("BODY[4.2.TEXT]", TN_OK,
                         "item 1 text 4 parts 4 2");
    tn_test_section_case("BODY[HEADER.FIELDS.NOT (X-A  \"Y\")]", TN_OK,
                         "item 1 text 3 parts fields 2: [X-A] [Y]");
    tn_test_section_case("BINARY[1.2]<10.20>", TN_OK,
                         "item 2 text 0 parts 1 2 <10.20>");
    tn_test_section_case("BINARY.PEEK[]", TN_OK, "item 2 peek text 0 parts");
    tn_test_section_case("BINARY.SIZE[1]", TN_OK, "item 3 text 0 parts 1");
    tn_test_section_case("BODY[4294967295]<4294967295.4294967295>", TN_OK,
                         "item 1 text 0 parts 4294967295"
                         " <4294967295.4294967295>");

    tn_test_section_case("FLAGS", TN_DECLINED, "");
    tn_test_section_case("BODY", TN_DECLINED, "");
    tn_test_section_case("BODYSTRUCTURE", TN_DECLINED, "");
    tn_test_section_case("RFC822[]", TN_DECLINED, "");

    tn_test_section_case("BODY[MIME]", TN_ERROR, "");
    tn_test_section_case("BODY[1.]", TN_ERROR, "");
    tn_test_section_case("BODY[.1]", TN_ERROR, "");
    tn_test_section_case("BODY[0]", TN_ERROR, "");
    tn_test_section_case("BODY[01]", TN_ERROR, "");
    tn_test_section_case("BODY[4294967296]", TN_ERROR, "");
    tn_test_section_case("BODY[HEADER.FIELDS ()]", TN_ERROR, "");
    tn_test_section_case("BODY[HEADER.FIELDS]", TN_ERROR, "");
    tn_test_section_case("BODY[HEADER.FIELDS(A)]", TN_ERROR, "");
    tn_test_section_case("BODY[HEADER.FIELDS (A:B)]", TN_ERROR, "");
    tn_test_section_case("BODY[HEADER.FIELDS (\"A B\")]", TN_ERROR, "");
    tn_test_section_case("BODY[HEADER.FIELDS (\"A\\\"\")]", TN_ERROR, "");
    tn_test_section_case("BODY[HEADER.FIELDS (A)", TN_ERROR, "");
    tn_test_section_case("BODY[HEADER.FIELDS (A)]x", TN_ERROR, "");
    tn_test_section_case("BODY[TEXT.MIME]", TN_ERROR, "");
    tn_test_section_case("BODY[HEADERS]", TN_ERROR, "");
    tn_test_section_case("BODY[]<0.0>", TN_ERROR, "");
    tn_test_section_case("BODY[]<0>", TN_ERROR, "");
    tn_test_section_case("BODY[]<.1>", TN_ERROR, "");
    tn_test_section_case("BODY[]<1.2>x", TN_ERROR, "");
    tn_test_section_case("BODY[]<4294967296.1>", TN_ERROR, "");
    tn_test_section_case("BODY[", TN_ERROR, "");
    tn_test_section_case("BINARY[TEXT]", TN_ERROR, "");
    tn_test_section_case("BINARY[1.MIME]", TN_ERROR, "");
    tn_test_section_case("BINARY.SIZE[1]<0.1>", TN_ERROR, "");

    q = big + sprintf(big, "BODY[");

    for (i = 0; i < 101; i++) {
        q += sprintf(q, "%d.", i + 1);
    }

    q[-1] = ']';
    *q = '\0';
    tn_test_section_case(big, TN_ERROR, "");
}


/* the UID FETCH of the brief, down to the section helper */

static void
tn_test_uid_fetch(void)
{
    u_char                  *in;
    size_t                   len;
    tn_buf_t                 b;
    tn_int_t                 rc;
    tn_str_t                 s;
    tn_mail_imap_arg_t      *a;
    tn_mail_imap_parse_t     p;
    tn_mail_imap_section_t   sec;
    tn_test_conf_t           cf = tn_test_conf0;

    cf.splits = 1;

    CASE("UID FETCH BODY.PEEK",
         "A UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (From To)]<0.2048>)"
         "\r\n",
         "OK A FETCH UID 1:* (UID BODY.PEEK[HEADER.FIELDS (From To)]"
         "<0.2048>)\n");

    in = (u_char *) "A UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS "
                    "(From To)]<0.2048>)\r\n";
    len = strlen((char *) in);

    tn_mail_imap_parse_init(&p, &tn_test_pool);
    b.start = b.pos = in;
    b.last = b.end = in + len;

    rc = tn_mail_imap_parse_command(&p, &b);

    a = p.args ? p.args->next : NULL;

    tn_test_ok(rc == TN_OK && p.command == TN_MAIL_IMAP_FETCH && p.uid
               && p.nargs == 2 && a && a->type == TN_MAIL_IMAP_ARG_LIST
               && a->nelts == 2 && a->list->next->section
               && !a->list->section && a->list->astring
               && !a->list->next->astring
               && tn_mail_imap_seqset_check(&p.args->value) == TN_OK,
               "UID FETCH: the tree");

    if (rc == TN_OK && a && a->list && a->list->next) {
        s = a->list->next->value;
        rc = tn_mail_imap_parse_section(&s, &sec);

        tn_test_ok(rc == TN_OK && sec.peek && sec.nfields == 2
                   && sec.text == TN_MAIL_IMAP_SECTION_FIELDS
                   && sec.partial && sec.offset == 0 && sec.count == 2048,
                   "UID FETCH: the section");
    }

    tn_test_pool_reset();
}


/* what the handler uses of a finished command */

static void
tn_test_api(void)
{
    u_char                *in;
    size_t                 len, i;
    tn_buf_t               b;
    tn_int_t               rc;
    tn_str_t               s;
    tn_uint_t              zero;
    tn_mail_imap_arg_t    *a;
    tn_mail_imap_parse_t   p;

    in = (u_char *) "a LOGIN \"us\\\"er\" {6}\r\nsecret (x) NIL %\r\n";
    len = strlen((char *) in);

    tn_mail_imap_parse_init(&p, &tn_test_pool);
    b.start = b.pos = in;
    b.last = b.end = in + len;

    rc = tn_mail_imap_parse_command(&p, &b);
    tn_test_ok(rc == TN_MAIL_IMAP_LITERAL && p.literal_sync
               && p.literal_size == 6 && !p.literal_stream
               && tn_mail_imap_parse_octets(&p) == 0
               && !tn_mail_imap_parse_idle(&p),
               "api: LITERAL");

    rc = tn_mail_imap_parse_command(&p, &b);
    tn_test_ok(rc == TN_OK && b.pos == b.last && tn_mail_imap_parse_idle(&p)
               && p.nargs == 5, "api: OK");

    a = p.args;

    tn_test_ok(a && tn_mail_imap_arg_astring(a, &s) == TN_OK && s.len == 5
               && memcmp(s.data, "us\"er", 6) == 0,
               "api: quoted astring");

    a = a ? a->next : NULL;
    tn_test_ok(a && tn_mail_imap_arg_astring(a, &s) == TN_OK && s.len == 6
               && memcmp(s.data, "secret", 7) == 0,
               "api: literal astring");

    a = a ? a->next : NULL;
    tn_test_ok(a && tn_mail_imap_arg_astring(a, &s) == TN_ERROR
               && a->nelts == 1, "api: a list is no astring");

    a = a ? a->next : NULL;
    tn_test_ok(a && a->type == TN_MAIL_IMAP_ARG_NIL
               && tn_mail_imap_arg_astring(a, &s) == TN_OK && s.len == 3,
               "api: NIL is an astring");

    a = a ? a->next : NULL;
    tn_test_ok(a && a->type == TN_MAIL_IMAP_ARG_ATOM
               && tn_mail_imap_arg_astring(a, &s) == TN_ERROR,
               "api: a wildcard is no astring");

    tn_mail_imap_parse_wipe(&p);

    zero = 1;

    for (a = p.args; a; a = a->next) {
        for (i = 0; i < a->value.len; i++) {
            if (a->value.data[i]) {
                zero = 0;
            }
        }
    }

    tn_test_ok(zero && p.args->next->list == NULL
               && p.args->next->next->list->value.data[0] == '\0',
               "api: wipe");

    tn_test_pool_reset();

    /* refuse between commands does nothing */

    in = (u_char *) "b NOOP\r\n";
    b.start = b.pos = in;
    b.last = b.end = in + 8;

    tn_mail_imap_parse_refuse(&p);
    rc = tn_mail_imap_parse_command(&p, &b);
    tn_test_ok(rc == TN_OK && p.command == TN_MAIL_IMAP_NOOP,
               "api: refuse between commands");

    tn_test_pool_reset();
}


int
main(void)
{
    tn_test_commands();
    tn_test_quoted();
    tn_test_syntax();
    tn_test_literals();
    tn_test_append();
    tn_test_limits();
    tn_test_seqsets();
    tn_test_sections();
    tn_test_uid_fetch();
    tn_test_api();

    tn_test_pool_reset();

    tn_test_ok(tn_test_live == 0, "no memory left in the pool");

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
