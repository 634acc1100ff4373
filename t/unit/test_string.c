/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * Unit tests of src/core/tn_string.c: the formatter, the number parsers,
 * base64, log escaping and the small string helpers.  The file under test
 * is included whole; the pool is replaced by malloc() below.
 */


#include <tn_config.h>
#include <tn_core.h>

#include <tn_string.c>


static tn_uint_t   tn_test_n;
static tn_uint_t   tn_test_failed;

/* what tn_pnalloc() handed out, freed at the end */
static void       *tn_test_allocs[64];
static tn_uint_t   tn_test_nallocs;


static void tn_test_ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
tn_test_ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
    }

    printf("%sok %u - ", cond ? "" : "not ", (unsigned) tn_test_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


void *
tn_pnalloc(tn_pool_t *pool, size_t size)
{
    void  *p;

    (void) pool;

    if (tn_test_nallocs == sizeof(tn_test_allocs) / sizeof(void *)) {
        return NULL;
    }

    p = malloc(size);
    tn_test_allocs[tn_test_nallocs++] = p;

    return p;
}


/* [buf, end) equals the expected bytes */

static int
tn_test_eq(u_char *buf, u_char *end, const char *expect, size_t len)
{
    return (size_t) (end - buf) == len && memcmp(buf, expect, len) == 0;
}


/*
 * Each row formats into a buffer of max bytes and compares; the macro
 * keeps the arguments of every row typed as the conversion expects.
 */

#define TN_FMT(max, expect, fmt, ...)                                        \
    do {                                                                     \
        u_char  fbuf_[128], *fend_;                                          \
                                                                             \
        tn_memset(fbuf_, '#', sizeof(fbuf_));                                \
        fend_ = tn_snprintf(fbuf_, max, fmt, __VA_ARGS__);                   \
        tn_test_ok(tn_test_eq(fbuf_, fend_, expect, sizeof(expect) - 1)      \
                   && fbuf_[fend_ - fbuf_] == '#',                           \
                   "snprintf(%d, \"%s\") at line %d", (int) (max), fmt,     \
                   __LINE__);                                                \
    } while (0)


static void
tn_test_sprintf(void)
{
    u_char    buf[64], *p;
    tn_str_t  s = tn_string("mail"), e = tn_null_string, b;

    b.len = 3;
    b.data = (u_char *) "\x00\xab\xff";

    /* plain text, %%, %c, %N and unknown conversions */
    TN_FMT(64, "plain", "plain%s", "");
    TN_FMT(64, "100%", "100%%%s", "");
    TN_FMT(64, "[A]", "[%c]", 'A');
    TN_FMT(64, "a\nb", "a%Nb%s", "");
    TN_FMT(64, "q", "%q%s", "");
    TN_FMT(64, "x", "x%s%", "");

    /* int */
    TN_FMT(64, "42", "%d", 42);
    TN_FMT(64, "-42", "%d", -42);
    TN_FMT(64, "0", "%d", 0);
    TN_FMT(64, "-2147483648", "%d", INT_MIN);
    TN_FMT(64, "4294967295", "%ud", UINT_MAX);
    TN_FMT(64, "   42", "%5d", 42);
    TN_FMT(64, "00042", "%05d", 42);
    TN_FMT(64, "-0042", "%05d", -42);
    TN_FMT(64, "  -42", "%5d", -42);
    TN_FMT(64, "123456", "%3d", 123456);
    TN_FMT(64, "ff", "%xd", 255);
    TN_FMT(64, "FF", "%Xd", 255);
    TN_FMT(64, "0000BEEF", "%08Xd", 0xbeef);
    TN_FMT(64, "ffffffff", "%xd", -1);

    /* size_t, ssize_t */
    TN_FMT(64, "18446744073709551615", "%uz", (size_t) SIZE_MAX);
    TN_FMT(64, "-1", "%z", (ssize_t) -1);
    TN_FMT(64, "9223372036854775807", "%z", (ssize_t) SSIZE_MAX);
    TN_FMT(64, "ffffffffffffffff", "%xz", (size_t) SIZE_MAX);

    /* tn_int_t, tn_uint_t */
    TN_FMT(64, "-9223372036854775808", "%i", (tn_int_t) INTPTR_MIN);
    TN_FMT(64, "7", "%ui", (tn_uint_t) 7);
    TN_FMT(64, "                   7", "%mi", (tn_int_t) 7);
    TN_FMT(64, "00000000000000000007", "%0mi", (tn_int_t) 7);

    /* off_t, time_t, long, int32_t, int64_t, tn_msec_t */
    TN_FMT(64, "1234567890123", "%O", (off_t) 1234567890123LL);
    TN_FMT(64, "-5", "%O", (off_t) -5);
    TN_FMT(64, "1700000000", "%T", (time_t) 1700000000);
    TN_FMT(64, "-1", "%l", -1L);
    TN_FMT(64, "-5", "%D", (int32_t) -5);
    TN_FMT(64, "4000000000", "%uD", (uint32_t) 4000000000U);
    TN_FMT(64, "-9223372036854775808", "%L", (int64_t) INT64_MIN);
    TN_FMT(64, "18446744073709551615", "%uL", (uint64_t) UINT64_MAX);
    TN_FMT(64, "1500", "%M", (tn_msec_t) 1500);
    TN_FMT(64, "-1", "%M", (tn_msec_t) -1);

    /* pointers */
    TN_FMT(64, "0000000000001234", "%p", (void *) (uintptr_t) 0x1234);

    /* strings */
    TN_FMT(64, "<mail>", "<%V>", &s);
    TN_FMT(64, "<>", "<%V>", &e);
    TN_FMT(64, "00abff", "%xV", &b);
    TN_FMT(64, "00ABFF", "%XV", &b);
    TN_FMT(64, "hello", "%s", "hello");
    TN_FMT(64, "6869", "%xs", "hi");
    TN_FMT(64, "abc", "%*s", (size_t) 3, "abcdef");
    TN_FMT(64, "[]", "[%*s]", (size_t) 0, "abcdef");
    TN_FMT(64, "a\0b", "a%Zb%s", "");

    /* truncation at last */
    TN_FMT(5, "hello", "hello world%s", "");
    TN_FMT(0, "", "hello%s", "");
    TN_FMT(3, "123", "%d", 12345);
    TN_FMT(4, "   4", "%5d", 42);
    TN_FMT(1, "-", "%d", -5);
    TN_FMT(2, "-0", "%05d", -42);
    TN_FMT(3, "mai", "%V", &s);
    TN_FMT(3, "ab1", "%*s%d", (size_t) 2, "ab", 1234);
    TN_FMT(3, "00", "%xV", &b);
    TN_FMT(1, "a", "a%N%s", "");
    TN_FMT(2, "a\n", "a%N%s", "");

    /* the unbounded and slprintf forms */
    p = tn_sprintf(buf, "%s=%ui%Z", "n", (tn_uint_t) 12);
    tn_test_ok(tn_test_eq(buf, p, "n=12", 5), "tn_sprintf");

    p = tn_slprintf(buf, buf + 4, "%V", &s);
    tn_test_ok(tn_test_eq(buf, p, "mail", 4), "tn_slprintf exact fit");

    p = tn_slprintf(buf, buf, "%V", &s);
    tn_test_ok(p == buf, "tn_slprintf with no room");
}


typedef struct {
    const char   *text;
    int64_t       value;     /* TN_ERROR for an error */
} tn_test_atoi_t;


static void
tn_test_atoi(void)
{
    tn_uint_t        i;
    tn_int_t         v;
    ssize_t          sz;
    off_t            off;
    time_t           tm;
    size_t           len;
    tn_test_atoi_t  *t;

    static tn_test_atoi_t  dec[] = {
        { "0", 0 },
        { "7", 7 },
        { "00012", 12 },
        { "123456789", 123456789 },
        { "9223372036854775807", INT64_MAX },
        { "9223372036854775808", TN_ERROR },
        { "9223372036854775810", TN_ERROR },
        { "99999999999999999999", TN_ERROR },
        { "", TN_ERROR },
        { "-1", TN_ERROR },
        { "+1", TN_ERROR },
        { " 1", TN_ERROR },
        { "1 ", TN_ERROR },
        { "12a", TN_ERROR },
        { "0x10", TN_ERROR },
    };

    static tn_test_atoi_t  hex[] = {
        { "0", 0 },
        { "ff", 255 },
        { "FF", 255 },
        { "aBcD", 0xabcd },
        { "7fffffffffffffff", INT64_MAX },
        { "8000000000000000", TN_ERROR },
        { "10000000000000000", TN_ERROR },
        { "", TN_ERROR },
        { "g", TN_ERROR },
        { "0x1", TN_ERROR },
        { "-1", TN_ERROR },
    };

    for (i = 0; i < sizeof(dec) / sizeof(dec[0]); i++) {
        t = &dec[i];
        len = strlen(t->text);

        v = tn_atoi((u_char *) t->text, len);
        sz = tn_atosz((u_char *) t->text, len);
        off = tn_atoof((u_char *) t->text, len);
        tm = tn_atotm((u_char *) t->text, len);

        tn_test_ok(v == t->value && sz == t->value && off == t->value
                   && tm == t->value,
                   "atoi(\"%s\") is %lld", t->text, (long long) t->value);
    }

    /* the length bounds the parse, whatever follows */
    tn_test_ok(tn_atoi((u_char *) "12345", 2) == 12, "atoi stops at n");

    for (i = 0; i < sizeof(hex) / sizeof(hex[0]); i++) {
        t = &hex[i];

        v = tn_hextoi((u_char *) t->text, strlen(t->text));

        tn_test_ok(v == t->value,
                   "hextoi(\"%s\") is %lld", t->text, (long long) t->value);
    }
}


typedef struct {
    const char   *plain;
    const char   *encoded;
} tn_test_b64_t;


static void
tn_test_base64(void)
{
    u_char          raw[80], enc[120], dec[120];
    size_t          len, i;
    uint32_t        seed;
    tn_str_t        src, dst;
    tn_uint_t       ok;
    tn_test_b64_t  *t;

    /* RFC 4648, section 10 */
    static tn_test_b64_t  vectors[] = {
        { "", "" },
        { "f", "Zg==" },
        { "fo", "Zm8=" },
        { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" },
        { "fooba", "Zm9vYmE=" },
        { "foobar", "Zm9vYmFy" },
    };

    static const char  *invalid[] = {
        "Zg",               /* not a multiple of 4 */
        "Zg=",
        "Zm9vY",
        "Zm9vYg=",
        "Z===",             /* three pads */
        "====",
        "Zg=a",             /* data after a pad */
        "Z=g=",
        "Zg==Zg==",         /* a pad before the last quantum */
        "Zm9v====",
        "=Zm9",
        "Zm9 ",             /* outside the alphabet */
        "Zm9*",
        "Zm-_",
        "Zm9v\r\n==",
        "Zm\x80v",
        "Zm\xffv",
    };

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        t = &vectors[i];

        src.data = (u_char *) t->plain;
        src.len = strlen(t->plain);
        dst.data = enc;
        tn_encode_base64(&dst, &src);

        tn_test_ok(dst.len == strlen(t->encoded)
                   && dst.len == tn_base64_encoded_length(src.len)
                   && memcmp(enc, t->encoded, dst.len) == 0,
                   "encode \"%s\"", t->plain);

        src.data = (u_char *) t->encoded;
        src.len = strlen(t->encoded);
        dst.data = dec;

        tn_test_ok(tn_decode_base64(&dst, &src) == TN_OK
                   && dst.len == strlen(t->plain)
                   && memcmp(dec, t->plain, dst.len) == 0,
                   "decode \"%s\"", t->encoded);
    }

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        src.data = (u_char *) invalid[i];
        src.len = strlen(invalid[i]);
        dst.data = dec;

        tn_test_ok(tn_decode_base64(&dst, &src) == TN_ERROR,
                   "decode rejects invalid case %u", (unsigned) i);
    }

    /* a NUL inside the input is a character outside the alphabet */
    src.data = (u_char *) "Zm\0v";
    src.len = 4;
    tn_test_ok(tn_decode_base64(&dst, &src) == TN_ERROR, "decode rejects NUL");

    /* round trips of every length with every byte value */
    seed = 12345;
    ok = 1;

    for (len = 0; len <= sizeof(raw); len++) {

        for (i = 0; i < len; i++) {
            seed = seed * 1103515245 + 12345;
            raw[i] = (u_char) (seed >> 16);
        }

        src.data = raw;
        src.len = len;
        dst.data = enc;
        tn_encode_base64(&dst, &src);

        src = dst;
        dst.data = dec;

        if (tn_decode_base64(&dst, &src) != TN_OK
            || dst.len != len
            || dst.len > tn_base64_decoded_length(src.len)
            || (len && memcmp(dec, raw, len) != 0))
        {
            ok = 0;
        }
    }

    tn_test_ok(ok, "base64 round trips of 0..%u bytes", (unsigned) sizeof(raw));
}


typedef struct {
    const char   *in;
    size_t        len;
    const char   *out;
} tn_test_escape_t;


static void
tn_test_escape_log(void)
{
    u_char             buf[64], *p;
    tn_uint_t          i;
    tn_test_escape_t  *t;

    static tn_test_escape_t  cases[] = {
        { "plain text", 10, "plain text" },
        { "a\r\nb", 4, "a\\x0D\\x0Ab" },
        { "n\0l", 3, "n\\x00l" },
        { "\xff\x80", 2, "\\xFF\\x80" },
        { "q\"b\\", 4, "q\\x22b\\x5C" },
        { "\t\x7f", 2, "\\x09\\x7F" },
        { " ~", 2, " ~" },
        { "", 0, "" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t = &cases[i];

        p = tn_escape_log(buf, (u_char *) t->in, t->len);

        tn_test_ok(tn_test_eq(buf, p, t->out, strlen(t->out))
                   && (size_t) (p - buf) <= 4 * t->len,
                   "escape_log case %u is \"%s\"", (unsigned) i, t->out);
    }
}


typedef struct {
    const char   *hay;
    size_t        hay_len;
    const char   *needle;
    size_t        n;
    ssize_t       at;        /* -1: not found */
} tn_test_search_t;


static void
tn_test_search(void)
{
    u_char            *p;
    ssize_t            at;
    tn_uint_t          i;
    tn_test_search_t  *t;

    static tn_test_search_t  cases[] = {
        { "Hello World", 11, "WORLD", 5, 6 },
        { "Hello World", 11, "hello", 5, 0 },
        { "Hello World", 11, "d", 1, 10 },
        { "Hello World", 11, "worlds", 6, -1 },
        { "Hello World", 11, "xyz", 3, -1 },
        { "abc", 3, "abcd", 4, -1 },
        { "abcdef", 4, "def", 3, -1 },       /* past last */
        { "abcdef", 4, "bcd", 3, 1 },
        { "aaab", 4, "aab", 3, 1 },
        { "x\0AbC", 5, "\0abc", 4, 1 },      /* binary */
        { "x\0AbC", 5, "\0abd", 4, -1 },
        { "", 0, "a", 1, -1 },
        { "abc", 3, "", 0, 0 },
        { "BOUNDARY--", 10, "boundary--", 10, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t = &cases[i];

        p = tn_strlcasestrn((u_char *) t->hay, (u_char *) t->hay + t->hay_len,
                            (u_char *) t->needle, t->n);
        at = p ? p - (u_char *) t->hay : -1;

        tn_test_ok(at == t->at, "strlcasestrn case %u at %zd",
                   (unsigned) i, t->at);
    }

    p = (u_char *) "MAIL FROM:<a@b>";
    tn_test_ok(tn_strnstr(p, "FROM", 15) == p + 5, "strnstr finds");
    tn_test_ok(tn_strnstr(p, "FROM", 8) == NULL, "strnstr bounded by n");
    tn_test_ok(tn_strnstr(p, "from", 15) == NULL, "strnstr is case-exact");
    tn_test_ok(tn_strnstr((u_char *) "a\0bc", "bc", 4) == NULL,
               "strnstr stops at NUL");
    tn_test_ok(tn_strnstr(p, "<a@b>", 15) == p + 10, "strnstr at the end");
}


static tn_int_t
tn_test_cmp_int(const void *a, const void *b)
{
    int  x, y;

    x = *(const int *) a;
    y = *(const int *) b;

    return (x > y) - (x < y);
}


typedef struct {
    int   key;
    int   seq;
} tn_test_pair_t;


static tn_int_t
tn_test_cmp_pair(const void *a, const void *b)
{
    return tn_test_cmp_int(&((const tn_test_pair_t *) a)->key,
                           &((const tn_test_pair_t *) b)->key);
}


static void
tn_test_misc(void)
{
    int              nums[] = { 5, -1, 3, 3, 9, 0, -7 };
    u_char           buf[32], *p, secret[8];
    tn_str_t         s;
    tn_uint_t        i, ok;
    tn_test_pair_t   pairs[] = { { 2, 0 }, { 1, 1 }, { 2, 2 }, { 1, 3 } };

    tn_strlow(buf, (u_char *) "MiXeD-09", 8);
    tn_test_ok(memcmp(buf, "mixed-09", 8) == 0, "strlow");

    tn_test_ok(tn_strcasecmp((u_char *) "HeLLo", (u_char *) "hello") == 0,
               "strcasecmp equal");
    tn_test_ok(tn_strcasecmp((u_char *) "abc", (u_char *) "ABD") < 0,
               "strcasecmp less");
    tn_test_ok(tn_strcasecmp((u_char *) "abc", (u_char *) "ab") > 0,
               "strcasecmp longer");
    tn_test_ok(tn_strncasecmp((u_char *) "EHLO x", (u_char *) "ehlo y", 4)
               == 0, "strncasecmp prefix");
    tn_test_ok(tn_strncasecmp((u_char *) "a", (u_char *) "a", 5) == 0,
               "strncasecmp stops at NUL");
    tn_test_ok(tn_strncasecmp((u_char *) "\xc4", (u_char *) "\xe4", 1) != 0,
               "strncasecmp is ASCII only");

    tn_test_ok(tn_memn2cmp((u_char *) "abc", (u_char *) "abc", 3, 3) == 0
               && tn_memn2cmp((u_char *) "ab", (u_char *) "abc", 2, 3) < 0
               && tn_memn2cmp((u_char *) "abc", (u_char *) "ab", 3, 2) > 0
               && tn_memn2cmp((u_char *) "abd", (u_char *) "abc", 3, 3) > 0
               && tn_memn2cmp((u_char *) "", (u_char *) "", 0, 0) == 0,
               "memn2cmp");

    p = tn_cpystrn(buf, (u_char *) "truncated", 5);
    tn_test_ok(p == buf + 4 && strcmp((char *) buf, "trun") == 0,
               "cpystrn truncates");
    p = tn_cpystrn(buf, (u_char *) "ab", 10);
    tn_test_ok(p == buf + 2 && strcmp((char *) buf, "ab") == 0,
               "cpystrn copies");

    s.data = (u_char *) "dup";
    s.len = 3;
    p = tn_pstrdup(NULL, &s);
    tn_test_ok(p && strcmp((char *) p, "dup") == 0, "pstrdup terminates");

    p = tn_hex_dump(buf, (u_char *) "\x00\x7f\xff", 3);
    tn_test_ok(tn_test_eq(buf, p, "007fff", 6), "hex_dump");

    tn_test_ok(tn_memcmp_const((u_char *) "secret", (u_char *) "secret", 6)
               == 0, "memcmp_const equal");
    tn_test_ok(tn_memcmp_const((u_char *) "secret", (u_char *) "Secret", 6)
               == 1, "memcmp_const differs at the first byte");
    tn_test_ok(tn_memcmp_const((u_char *) "secret", (u_char *) "secreT", 6)
               == 1, "memcmp_const differs at the last byte");
    tn_test_ok(tn_memcmp_const((u_char *) "\x01", (u_char *) "\x80", 1)
               == 1, "memcmp_const differs in high bits");
    tn_test_ok(tn_memcmp_const((u_char *) "a", (u_char *) "b", 0) == 0,
               "memcmp_const of nothing");

    tn_memset(secret, 'x', sizeof(secret));
    tn_explicit_memzero(secret, sizeof(secret));
    ok = 1;

    for (i = 0; i < sizeof(secret); i++) {
        if (secret[i]) {
            ok = 0;
        }
    }

    tn_test_ok(ok, "explicit_memzero");

    tn_sort(nums, sizeof(nums) / sizeof(nums[0]), sizeof(int),
            tn_test_cmp_int);
    tn_test_ok(nums[0] == -7 && nums[1] == -1 && nums[2] == 0
               && nums[3] == 3 && nums[4] == 3 && nums[5] == 5
               && nums[6] == 9, "sort");

    tn_sort(pairs, 4, sizeof(tn_test_pair_t), tn_test_cmp_pair);
    tn_test_ok(pairs[0].seq == 1 && pairs[1].seq == 3
               && pairs[2].seq == 0 && pairs[3].seq == 2, "sort is stable");

    tn_sort(nums, 0, sizeof(int), tn_test_cmp_int);
    tn_test_ok(1, "sort of nothing");
}


int
main(void)
{
    tn_uint_t  i;

    /* every line reaches prove even if a case crashes */
    setvbuf(stdout, NULL, _IOLBF, 0);

    tn_test_sprintf();
    tn_test_atoi();
    tn_test_base64();
    tn_test_escape_log();
    tn_test_search();
    tn_test_misc();

    for (i = 0; i < tn_test_nallocs; i++) {
        free(tn_test_allocs[i]);
    }

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
