
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


void
tn_localtime(time_t s, tn_tm_t *tm)
{
    (void) localtime_r(&s, tm);

    tm->tm_mon++;
    tm->tm_year += 1900;
}


void
tn_libc_gmtime(time_t s, struct tm *tm)
{
    (void) gmtime_r(&s, tm);
}
