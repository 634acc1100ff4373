
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_TIMES_H_INCLUDED_
#define _TN_TIMES_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 * The time cache, refreshed once per event loop iteration.  tn_current_msec
 * is monotonic (CLOCK_MONOTONIC) and drives timers; tn_time() is wall time.
 */
typedef struct {
    time_t      sec;
    tn_uint_t   msec;
    tn_int_t    gmtoff;       /* minutes east of UTC */
} tn_time_t;


void tn_time_init(void);
void tn_time_update(void);
tn_msec_t tn_monotonic_msec(void);
u_char *tn_http_time(u_char *buf, time_t t);
/* RFC 5322 date: "Fri, 27 Nov 2026 15:04:05 +0000" */
u_char *tn_rfc5322_time(u_char *buf, time_t t);
void tn_gmtime(time_t t, tn_tm_t *tp);

extern volatile tn_time_t  *tn_cached_time;

#define tn_time()           tn_cached_time->sec
#define tn_timeofday()      (tn_time_t *) tn_cached_time

extern volatile tn_str_t    tn_cached_err_log_time;
extern volatile tn_str_t    tn_cached_rfc5322_time;

extern volatile tn_msec_t   tn_current_msec;


#endif /* _TN_TIMES_H_INCLUDED_ */
