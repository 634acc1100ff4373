/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * Unit tests of src/core/tn_times.c: tn_gmtime() against the C library,
 * the date formats and the cache.
 */


#include <tn_config.h>
#include <tn_core.h>

#include <tn_string.c>
#include <tn_time.c>
#include <tn_times.c>


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


void *
tn_pnalloc(tn_pool_t *pool, size_t size)
{
    (void) pool;
    (void) size;

    return NULL;
}


static int
tn_test_str(u_char *buf, u_char *end, const char *expect)
{
    return (size_t) (end - buf) == strlen(expect)
           && memcmp(buf, expect, strlen(expect)) == 0;
}


int
main(void)
{
    u_char      buf[64], *p;
    time_t      t;
    tn_tm_t     tm;
    struct tm   ref;
    tn_uint_t   i, ok;
    tn_msec_t   m1, m2;
    uint64_t    seed;

    setvbuf(stdout, NULL, _IOLBF, 0);

    /* tn_gmtime() agrees with gmtime_r() over the 4-digit years */

    ok = 1;
    seed = 88172645463325252ULL;

    for (i = 0; i < 200000; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;

        t = (time_t) (seed % 253402300800ULL);

        if (i < 1000) {
            /* the days around leap days and year ends */
            t = (time_t) ((i * 86400 * 365 / 4) + (i % 3) * 86399);
        }

        tn_gmtime(t, &tm);
        (void) gmtime_r(&t, &ref);

        if (tm.tm_sec != ref.tm_sec || tm.tm_min != ref.tm_min
            || tm.tm_hour != ref.tm_hour || tm.tm_mday != ref.tm_mday
            || tm.tm_mon != ref.tm_mon + 1
            || tm.tm_year != ref.tm_year + 1900
            || tm.tm_wday != ref.tm_wday || tm.tm_yday != ref.tm_yday)
        {
            if (ok) {
                printf("# %lld differs\n", (long long) t);
            }

            ok = 0;
        }
    }

    tn_test_ok(ok, "gmtime agrees with gmtime_r");

    tn_gmtime(-1, &tm);
    tn_test_ok(tm.tm_year == 1970 && tm.tm_mon == 1 && tm.tm_mday == 1,
               "gmtime before 1970");

    tn_gmtime((time_t) 253402300800LL * 2, &tm);
    tn_test_ok(tm.tm_year == 9999 && tm.tm_mon == 12 && tm.tm_mday == 31
               && tm.tm_hour == 23 && tm.tm_sec == 59, "gmtime after 9999");

    p = tn_http_time(buf, 1795791845);
    tn_test_ok(tn_test_str(buf, p, "Fri, 27 Nov 2026 15:04:05 GMT"),
               "http_time");

    setenv("TZ", "UTC0", 1);
    tzset();

    p = tn_rfc5322_time(buf, 1795791845);
    tn_test_ok(tn_test_str(buf, p, "Fri, 27 Nov 2026 15:04:05 +0000"),
               "rfc5322_time in UTC");

    setenv("TZ", "XST-5:30", 1);
    tzset();

    p = tn_rfc5322_time(buf, 1795791845);
    tn_test_ok(tn_test_str(buf, p, "Fri, 27 Nov 2026 20:34:05 +0530"),
               "rfc5322_time east");

    setenv("TZ", "XST3:30", 1);
    tzset();

    p = tn_rfc5322_time(buf, 1795791845);
    tn_test_ok(tn_test_str(buf, p, "Fri, 27 Nov 2026 11:34:05 -0330"),
               "rfc5322_time west");

    p = tn_rfc5322_time(buf, 1780000000);
    tn_test_ok(tn_test_str(buf, p, "Thu, 28 May 2026 16:56:40 -0330"),
               "rfc5322_time, another day");

    tn_time_init();

    tn_test_ok(tn_cached_err_log_time.len == 19
               && tn_cached_err_log_time.data[4] == '/'
               && tn_cached_err_log_time.data[19] == '\0',
               "err_log_time \"%.*s\"", (int) tn_cached_err_log_time.len,
               tn_cached_err_log_time.data);

    tn_test_ok(tn_cached_rfc5322_time.len == 31
               && tn_cached_rfc5322_time.data[3] == ','
               && tn_cached_rfc5322_time.data[25] == ' '
               && tn_cached_rfc5322_time.data[26] == '-',
               "rfc5322 cache \"%.*s\"", (int) tn_cached_rfc5322_time.len,
               tn_cached_rfc5322_time.data);

    t = time(NULL);
    tn_test_ok(tn_time() >= t - 1 && tn_time() <= t + 1
               && tn_cached_time->gmtoff == -210, "cached time");

    m1 = tn_current_msec;
    usleep(20000);
    tn_time_update();
    m2 = tn_current_msec;
    tn_test_ok(m2 - m1 >= 20 && m2 - m1 < 1000, "monotonic msec advance");

    for (i = 0; i < 200; i++) {
        tn_time_update();
    }

    tn_test_ok(tn_monotonic_msec() >= tn_current_msec, "monotonic");

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
