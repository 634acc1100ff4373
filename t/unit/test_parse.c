/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * Unit tests of src/core/tn_parse.c: sizes, offsets and times as the
 * configuration writes them, their errors and their overflow limits.
 */


#include <tn_config.h>
#include <tn_core.h>

#include <tn_string.c>
#include <tn_parse.c>


static tn_uint_t   tn_test_n;
static tn_uint_t   tn_test_failed;


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


/* tn_string.c refers to the pool allocator; nothing here calls it */

void *
tn_pnalloc(tn_pool_t *pool, size_t size)
{
    (void) pool;
    (void) size;

    return NULL;
}


typedef struct {
    const char   *text;
    int64_t       value;     /* TN_ERROR for an error */
} tn_test_case_t;


static void
tn_test_sizes(void)
{
    off_t            off;
    ssize_t          size;
    tn_str_t         line;
    tn_uint_t        i;
    tn_test_case_t  *t;

    static tn_test_case_t  cases[] = {
        { "0", 0 },
        { "512", 512 },
        { "4k", 4096 },
        { "4K", 4096 },
        { "10m", 10 * 1024 * 1024 },
        { "10M", 10 * 1024 * 1024 },
        { "1g", 1024 * 1024 * 1024 },
        { "1G", 1024 * 1024 * 1024 },
        { "25m", 25 * 1024 * 1024 },
        { "9223372036854775807", INT64_MAX },
        { "9007199254740991k", 9007199254740991LL * 1024 },
        { "8796093022207m", 8796093022207LL * 1024 * 1024 },
        { "8589934591g", 8589934591LL * 1024 * 1024 * 1024 },

        { "9223372036854775808", TN_ERROR },
        { "9007199254740992k", TN_ERROR },
        { "8796093022208m", TN_ERROR },
        { "8589934592g", TN_ERROR },
        { "", TN_ERROR },
        { "k", TN_ERROR },
        { "4kb", TN_ERROR },
        { "4 k", TN_ERROR },
        { " 4k", TN_ERROR },
        { "4t", TN_ERROR },
        { "-1", TN_ERROR },
        { "1.5m", TN_ERROR },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t = &cases[i];

        line.data = (u_char *) t->text;
        line.len = strlen(t->text);

        size = tn_parse_size(&line);
        off = tn_parse_offset(&line);

        tn_test_ok(size == t->value && off == t->value,
                   "size \"%s\" is %lld", t->text, (long long) t->value);
    }
}


typedef struct {
    const char   *text;
    tn_uint_t     is_sec;
    int64_t       value;     /* TN_ERROR for an error */
} tn_test_time_t;


static void
tn_test_times(void)
{
    u_char           buf[64], *p;
    tn_int_t         v;
    tn_str_t         line;
    tn_uint_t        i;
    tn_test_time_t  *t;

    static tn_test_time_t  cases[] = {
        { "30s", 0, 30000 },
        { "30s", 1, 30 },
        { "30", 0, 30000 },
        { "30", 1, 30 },
        { "0", 0, 0 },
        { "500ms", 0, 500 },
        { "5m", 0, 300000 },
        { "5m", 1, 300 },
        { "1h", 1, 3600 },
        { "1h 30m", 0, 5400000 },
        { "1h30m", 1, 5400 },
        { "1h  30m  15s", 1, 5415 },
        { "1s 500ms", 0, 1500 },
        { "1h 30", 1, 3630 },
        { "30 ", 1, 30 },
        { "1d", 1, 86400 },
        { "2w", 1, 1209600 },
        { "1M", 1, 2592000 },
        { "1y", 1, 31536000 },
        { "1y", 0, 31536000000LL },
        { "1y 1M 1w 1d 1h 1m 1s", 1,
          31536000 + 2592000 + 604800 + 86400 + 3600 + 60 + 1 },
        { "9223372036854775807", 1, INT64_MAX },
        { "9223372036854775807ms", 0, INT64_MAX },
        { "9223372036854775s", 0, 9223372036854775000LL },

        { "", 0, TN_ERROR },
        { " ", 0, TN_ERROR },
        { " 5s", 0, TN_ERROR },
        { "s", 0, TN_ERROR },
        { "ms", 0, TN_ERROR },
        { "1x", 0, TN_ERROR },
        { "1S", 0, TN_ERROR },
        { "1H", 1, TN_ERROR },
        { "1.5s", 0, TN_ERROR },
        { "-1s", 0, TN_ERROR },
        { "500ms", 1, TN_ERROR },
        { "30m 1h", 1, TN_ERROR },
        { "1h 1h", 1, TN_ERROR },
        { "1s 1m", 1, TN_ERROR },
        { "1ms 1s", 0, TN_ERROR },
        { "30 5", 1, TN_ERROR },
        { "30 5s", 1, TN_ERROR },
        { "30 500ms", 0, TN_ERROR },
        { "1h m", 1, TN_ERROR },
        { "1hm", 1, TN_ERROR },
        { "9223372036854775808", 1, TN_ERROR },
        { "9223372036854775808ms", 0, TN_ERROR },
        { "9223372036854776s", 0, TN_ERROR },
        { "9223372036854775807", 0, TN_ERROR },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t = &cases[i];

        line.data = (u_char *) t->text;
        line.len = strlen(t->text);

        v = tn_parse_time(&line, t->is_sec);

        tn_test_ok(v == t->value, "time \"%s\" (is_sec %u) is %lld",
                   t->text, (unsigned) t->is_sec, (long long) t->value);
    }

    /* the largest number of years, and one more */

    line.data = buf;

    p = tn_sprintf(buf, "%iy", TN_MAX_INT_T_VALUE / 31536000);
    line.len = (size_t) (p - buf);
    tn_test_ok(tn_parse_time(&line, 1)
               == TN_MAX_INT_T_VALUE / 31536000 * 31536000,
               "the largest number of years");

    p = tn_sprintf(buf, "%iy", TN_MAX_INT_T_VALUE / 31536000 + 1);
    line.len = (size_t) (p - buf);
    tn_test_ok(tn_parse_time(&line, 1) == TN_ERROR, "too many years");

    /* parts that fit alone but overflow together */

    p = tn_sprintf(buf, "%iy %is", TN_MAX_INT_T_VALUE / 31536000,
                   TN_MAX_INT_T_VALUE % 31536000 + 1);
    line.len = (size_t) (p - buf);
    tn_test_ok(tn_parse_time(&line, 1) == TN_ERROR, "the sum overflows");

    p = tn_sprintf(buf, "%iy %is", TN_MAX_INT_T_VALUE / 31536000,
                   TN_MAX_INT_T_VALUE % 31536000);
    line.len = (size_t) (p - buf);
    tn_test_ok(tn_parse_time(&line, 1) == TN_MAX_INT_T_VALUE,
               "the sum reaches the maximum");
}


int
main(void)
{
    /* every line reaches prove even if a case crashes */
    setvbuf(stdout, NULL, _IOLBF, 0);

    tn_test_sizes();
    tn_test_times();

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
