
/*
 * Copyright (C) The Tern developers
 */


/*
 * Unit tests of the housekeeper's schedule (src/os/unix/tn_housekeeper.c,
 * tn_housekeeper_next_run): the next run of a daily job and of a periodic
 * job from the last run, a run missed while Tern was down (once), a run
 * forced by SIGUSR2, the clock going back a little and a lot, and the
 * days when DST starts and ends (Europe/Berlin).
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_housekeeper.h>


#define H  3600
#define D  86400

#define NOT_DAILY  TN_HOUSEKEEPER_NOT_DAILY


static tn_uint_t  tn_test_n;
static tn_uint_t  tn_test_failed;


static void
ok(int cond, const char *name)
{
    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
    }

    printf("%sok %u - %s\n", cond ? "" : "not ", (unsigned) tn_test_n, name);
}


static void
is_time(time_t got, time_t expected, const char *name)
{
    ok(got == expected, name);

    if (got != expected) {
        printf("#   got %ld, expected %ld (%+ld s)\n", (long) got,
               (long) expected, (long) (got - expected));
    }
}


static void
set_tz(const char *tz)
{
    (void) setenv("TZ", tz, 1);
    tzset();
}


/* a local time */
static time_t
local(int year, int mon, int mday, int hour, int min, int isdst)
{
    struct tm  tm;

    tn_memzero(&tm, sizeof(struct tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = mday;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_isdst = isdst;

    return mktime(&tm);
}


static void
test_daily(void)
{
    time_t  d, next, now;

    set_tz("UTC");

    /* midnight, 2026-11-27 */
    d = local(2026, 11, 27, 0, 0, 0);

    is_time(tn_housekeeper_next_run(d + 4 * H, d + 10 * H, 0, 4 * H),
            d + D + 4 * H, "daily: ran at 04:00 today, next tomorrow 04:00");

    is_time(tn_housekeeper_next_run(d - D + 4 * H, d + 3 * H, 0, 4 * H),
            d + 4 * H, "daily: ran yesterday, next today 04:00");

    is_time(tn_housekeeper_next_run(d + 4 * H, d + 4 * H, 0, 4 * H),
            d + D + 4 * H, "daily: at the second of the run, next tomorrow");

    is_time(tn_housekeeper_next_run(d + 4 * H - 1, d + 4 * H, 0, 4 * H),
            d + 4 * H, "daily: ran at 03:59:59, due at 04:00");

    is_time(tn_housekeeper_next_run(d + 2 * H, d + 2 * H, 0, 23 * H + 59 * 60),
            d + 23 * H + 59 * 60, "daily at 23:59: later the same day");

    is_time(tn_housekeeper_next_run(d + 23 * H + 59 * 60, d + 23 * H + 59 * 60,
                                    0, 23 * H + 59 * 60),
            d + D + 23 * H + 59 * 60, "daily at 23:59: ran, the next day");

    is_time(tn_housekeeper_next_run(d + 5 * H, d + 5 * H, 0, 0),
            d + D, "daily at 00:00: the next midnight");

    /* Tern was down at 04:00: due at start, and once only */

    now = d + 5 * H;
    next = tn_housekeeper_next_run(d - D + 4 * H, now, 0, 4 * H);
    ok(next <= now, "daily: down at 04:00, due at start (05:00)");

    next = tn_housekeeper_next_run(d - 3 * D + 4 * H, now, 0, 4 * H);
    ok(next <= now, "daily: down for three days, due at start");

    /* the run at start is the last run: the next is tomorrow's */
    is_time(tn_housekeeper_next_run(now, now + 1, 0, 4 * H),
            d + D + 4 * H, "daily: after the missed run, tomorrow 04:00");

    /* a restart the same day, before and after the time, reruns nothing */

    is_time(tn_housekeeper_next_run(d + 4 * H, d + 6 * H, 0, 4 * H),
            d + D + 4 * H, "daily: restart at 06:00 after the run: no rerun");

    is_time(tn_housekeeper_next_run(d - D + 4 * H, d + 1 * H, 0, 4 * H),
            d + 4 * H, "daily: restart at 01:00: today's run is not skipped");

    /* a run forced by SIGUSR2 at 14:00: the next is tomorrow's */

    is_time(tn_housekeeper_next_run(d + 14 * H, d + 14 * H, 0, 4 * H),
            d + D + 4 * H, "daily: forced at 14:00, next tomorrow 04:00");

    /* never run */

    is_time(tn_housekeeper_next_run(0, d + 7 * H, 0, 4 * H), d + 7 * H,
            "no last run: due now");

    /* the clock goes back */

    is_time(tn_housekeeper_next_run(d + 4 * H, d + 3 * H + 30 * 60, 0, 4 * H),
            d + D + 4 * H, "clock back 30 min past the run: no second run");

    is_time(tn_housekeeper_next_run(d + 400 * D, d + 3 * H, 0, 4 * H),
            d + D + 4 * H, "clock back a year: waits one day at most");

    is_time(tn_housekeeper_next_run(d + 400 * D, d + 5 * H, 0, 4 * H),
            d + 2 * D + 4 * H,
            "clock back a year, after 04:00: the second 04:00 from now");

    /* the clock goes forward: due, and once */

    now = d + 30 * D;
    ok(tn_housekeeper_next_run(d + 4 * H, now, 0, 4 * H) <= now,
       "clock forward a month: due");

}


static void
test_period(void)
{
    time_t  t;

    t = 1800000000;

    is_time(tn_housekeeper_next_run(t, t + 10, 3600, NOT_DAILY), t + 3600,
            "period 1h: an hour after the last run");

    ok(tn_housekeeper_next_run(t, t + 7200, 3600, NOT_DAILY) <= t + 7200,
       "period 1h: two hours later, due");

    is_time(tn_housekeeper_next_run(t, t + 3600, 3600, NOT_DAILY), t + 3600,
            "period 1h: due at the second");

    is_time(tn_housekeeper_next_run(t, t - 60, 3600, NOT_DAILY), t + 3600,
            "period 1h, clock back a minute: unchanged");

    is_time(tn_housekeeper_next_run(t + 1000000, t, 3600, NOT_DAILY),
            t + 7200, "period 1h, clock back 11 days: two periods at most");

    is_time(tn_housekeeper_next_run(0, t, 3600, NOT_DAILY), t,
            "period: no last run, due now");

    is_time(tn_housekeeper_next_run(t, t, 1, NOT_DAILY), t + 1,
            "period 1s");
}


static void
test_dst(void)
{
    time_t     last, next, then;
    struct tm  tm;

    set_tz("Europe/Berlin");

    /* "Europe/Berlin" without tzdata is UTC: the cases need the rules */
    if (local(2026, 7, 1, 12, 0, -1) - local(2026, 1, 1, 12, 0, -1)
        != 181 * D - H)
    {
        printf("ok %u - # SKIP no tzdata for Europe/Berlin\n",
               (unsigned) ++tn_test_n);
        return;
    }

    /* 2026-03-29: 02:00 CET becomes 03:00 CEST; 04:00 is 23 hours on */

    last = local(2026, 3, 28, 4, 0, -1);
    is_time(tn_housekeeper_next_run(last, last + H, 0, 4 * H),
            last + 23 * H, "DST starts: 04:00 the next day is 23 h later");

    /* 2026-10-25: 03:00 CEST becomes 02:00 CET; 04:00 is 25 hours on */

    last = local(2026, 10, 24, 4, 0, -1);
    is_time(tn_housekeeper_next_run(last, last + H, 0, 4 * H),
            last + 25 * H, "DST ends: 04:00 the next day is 25 h later");

    /* 02:30 happens twice on 2026-10-25: the job runs once */

    last = local(2026, 10, 25, 2, 30, 1);
    next = tn_housekeeper_next_run(last, last + 60, 0, 2 * H + 30 * 60);
    is_time(next, local(2026, 10, 26, 2, 30, 0),
            "DST ends: 02:30 (twice that day) runs once");

    /* 02:30 does not exist on 2026-03-29: the job runs that day anyway */

    last = local(2026, 3, 28, 2, 30, 0);
    next = tn_housekeeper_next_run(last, last + 60, 0, 2 * H + 30 * 60);
    (void) localtime_r(&next, &tm);
    ok(tm.tm_mday == 29 && tm.tm_mon == 2,
       "DST starts: the skipped 02:30 runs on the same day");

    then = tn_housekeeper_next_run(next, next + 60, 0, 2 * H + 30 * 60);
    is_time(then, local(2026, 3, 30, 2, 30, 1),
            "DST starts: and the day after at 02:30 again");

    set_tz("UTC");
}


int
main(void)
{
    test_daily();
    test_period();
    test_dst();

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
