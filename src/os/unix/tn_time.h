
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_TIME_H_INCLUDED_
#define _TN_TIME_H_INCLUDED_


#include <tn_config.h>


typedef tn_uint_t      tn_msec_t;
typedef tn_int_t       tn_msec_int_t;

typedef struct tm      tn_tm_t;

#define tn_gettimeofday(tp)  (void) gettimeofday(tp, NULL);
#define tn_msleep(ms)        (void) usleep(ms * 1000)
#define tn_sleep(s)          (void) sleep(s)

void tn_localtime(time_t s, tn_tm_t *tm);
void tn_libc_gmtime(time_t s, struct tm *tm);


#endif /* _TN_TIME_H_INCLUDED_ */
