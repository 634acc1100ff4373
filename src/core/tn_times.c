
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


/*
 * The cache is a ring of slots.  An update fills the next slot and only
 * then publishes it through the pointers below, so a reader in another
 * thread (the thread pool logs too) always sees one whole slot: it could
 * see a torn one only if it stalled for TN_TIME_SLOTS updates, that is
 * TN_TIME_SLOTS seconds, while copying.  Updates are serialized by
 * tn_time_lock; one that finds the lock taken is skipped.
 */

#define TN_TIME_SLOTS   64

#define TN_ERR_LOG_TIME_LEN   (sizeof("1970/09/28 12:00:00") - 1)
#define TN_RFC5322_TIME_LEN   (sizeof("Mon, 28 Sep 1970 06:00:00 +0600") - 1)

/* gmtime: December 31, 9999, the last day with a 4-digit year */
#define TN_TIME_MAX_DAYS      2932896

static tn_uint_t          slot;
static tn_atomic_t        tn_time_lock;

volatile tn_msec_t        tn_current_msec;
volatile tn_time_t       *tn_cached_time;
volatile tn_str_t         tn_cached_err_log_time;
volatile tn_str_t         tn_cached_rfc5322_time;

static tn_time_t          cached_time[TN_TIME_SLOTS];
static u_char             cached_err_log_time[TN_TIME_SLOTS]
                              [TN_ERR_LOG_TIME_LEN + 1];
static u_char             cached_rfc5322_time[TN_TIME_SLOTS]
                              [TN_RFC5322_TIME_LEN + 1];

static char  *tn_week[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static char  *tn_months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };


static u_char *tn_rfc5322_time_tm(u_char *buf, u_char *last, tn_tm_t *tm,
    tn_int_t gmtoff);


void
tn_time_init(void)
{
    tn_cached_err_log_time.len = TN_ERR_LOG_TIME_LEN;
    tn_cached_rfc5322_time.len = TN_RFC5322_TIME_LEN;

    tn_cached_time = &cached_time[0];

    tn_time_update();
}


void
tn_time_update(void)
{
    u_char           *p0, *p1;
    time_t            sec;
    tn_tm_t           tm;
    tn_uint_t         msec;
    tn_time_t        *tp;
    struct timespec   ts;

    if (!tn_atomic_cmp_set(&tn_time_lock, 0, 1)) {
        return;
    }

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    sec = ts.tv_sec;
    msec = (tn_uint_t) (ts.tv_nsec / 1000000);

    tn_current_msec = tn_monotonic_msec();

    tp = &cached_time[slot];

    if (tp->sec == sec) {
        tp->msec = msec;
        tn_memory_barrier();
        tn_time_lock = 0;
        return;
    }

    slot = (slot == TN_TIME_SLOTS - 1) ? 0 : slot + 1;

    tp = &cached_time[slot];

    tp->sec = sec;
    tp->msec = msec;

    tn_localtime(sec, &tm);

    /* minutes east of UTC, as nginx keeps it */
    tp->gmtoff = (tn_int_t) (tm.tm_gmtoff / 60);

    p0 = &cached_err_log_time[slot][0];

    (void) tn_snprintf(p0, TN_ERR_LOG_TIME_LEN + 1,
                       "%4d/%02d/%02d %02d:%02d:%02d%Z",
                       tm.tm_year, tm.tm_mon, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec);

    p1 = &cached_rfc5322_time[slot][0];

    (void) tn_rfc5322_time_tm(p1, p1 + TN_RFC5322_TIME_LEN, &tm, tp->gmtoff);
    p1[TN_RFC5322_TIME_LEN] = '\0';

    /* the slot is complete before anyone can see it */
    tn_memory_barrier();

    tn_cached_time = tp;
    tn_cached_err_log_time.data = p0;
    tn_cached_rfc5322_time.data = p1;

    tn_memory_barrier();

    tn_time_lock = 0;
}


tn_msec_t
tn_monotonic_msec(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (tn_msec_t) ts.tv_sec * 1000
           + (tn_msec_t) (ts.tv_nsec / 1000000);
}


u_char *
tn_http_time(u_char *buf, time_t t)
{
    tn_tm_t  tm;

    tn_gmtime(t, &tm);

    return tn_sprintf(buf, "%s, %02d %s %4d %02d:%02d:%02d GMT",
                      tn_week[tm.tm_wday], tm.tm_mday,
                      tn_months[tm.tm_mon - 1], tm.tm_year,
                      tm.tm_hour, tm.tm_min, tm.tm_sec);
}


u_char *
tn_rfc5322_time(u_char *buf, time_t t)
{
    tn_tm_t  tm;

    tn_localtime(t, &tm);

    return tn_rfc5322_time_tm(buf, (u_char *) UINTPTR_MAX, &tm,
                              (tn_int_t) (tm.tm_gmtoff / 60));
}


/* tm has a 1-based month and a full year; gmtoff is in minutes */

static u_char *
tn_rfc5322_time_tm(u_char *buf, u_char *last, tn_tm_t *tm, tn_int_t gmtoff)
{
    return tn_slprintf(buf, last, "%s, %02d %s %4d %02d:%02d:%02d %c%02i%02i",
                       tn_week[tm->tm_wday], tm->tm_mday,
                       tn_months[tm->tm_mon - 1], tm->tm_year,
                       tm->tm_hour, tm->tm_min, tm->tm_sec,
                       gmtoff < 0 ? '-' : '+',
                       tn_abs(gmtoff) / 60, tn_abs(gmtoff) % 60);
}


/*
 * UTC broken-down time by arithmetic alone, with no locale, lock or
 * allocation: tm_mon is 1-12 and tm_year the full year, as in nginx.
 * Times before 1970 give 1970-01-01 and times after 9999 give
 * 9999-12-31 23:59:59.  The date is computed from the days since the
 * epoch in a calendar that starts on March 1, so that February 29 is the
 * last day of its year; see Howard Hinnant's "chrono-compatible low-level
 * date algorithms".
 */

void
tn_gmtime(time_t t, tn_tm_t *tp)
{
    tn_uint_t  days, sec, era, doe, yoe, doy, mp, year, mon, mday;

    if (t < 0) {
        t = 0;
    }

    days = (tn_uint_t) (t / 86400);
    sec = (tn_uint_t) (t % 86400);

    if (days > TN_TIME_MAX_DAYS) {
        days = TN_TIME_MAX_DAYS;
        sec = 86399;
    }

    tn_memzero(tp, sizeof(tn_tm_t));

    /* January 1, 1970 was a Thursday */
    tp->tm_wday = (int) ((days + 4) % 7);

    tp->tm_hour = (int) (sec / 3600);
    tp->tm_min = (int) (sec % 3600 / 60);
    tp->tm_sec = (int) (sec % 60);

    /* days since March 1, 0000; 719468 is 1970-01-01 in that count */
    days += 719468;

    era = days / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    mday = doy - (153 * mp + 2) / 5 + 1;
    mon = (mp < 10) ? mp + 3 : mp - 9;
    year = yoe + era * 400 + (mon <= 2);

    tp->tm_mday = (int) mday;
    tp->tm_mon = (int) mon;
    tp->tm_year = (int) year;

    /* days since January 1 */
    tp->tm_yday = (int) ((mp >= 10) ? doy - 306
                         : doy + 59 + (year % 4 == 0
                                       && (year % 100 != 0
                                           || year % 400 == 0)));
}
