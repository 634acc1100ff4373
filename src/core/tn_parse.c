
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


/* the order in which the parts of a time must come, largest first */
typedef enum {
    tn_parse_time_start = 0,
    tn_parse_time_year,
    tn_parse_time_month,
    tn_parse_time_week,
    tn_parse_time_day,
    tn_parse_time_hour,
    tn_parse_time_min,
    tn_parse_time_sec,
    tn_parse_time_msec,
    tn_parse_time_last
} tn_parse_time_step_e;


static int64_t tn_parse_scale(tn_str_t *line, size_t *len);


/*
 * The multiplier a trailing "k", "m" or "g" (either case) stands for, or
 * 1 without a suffix; *len is shortened past the suffix.
 */

static int64_t
tn_parse_scale(tn_str_t *line, size_t *len)
{
    *len = line->len;

    switch (line->data[line->len - 1]) {

    case 'K':
    case 'k':
        (*len)--;
        return 1024;

    case 'M':
    case 'm':
        (*len)--;
        return 1024 * 1024;

    case 'G':
    case 'g':
        (*len)--;
        return 1024 * 1024 * 1024;

    default:
        return 1;
    }
}


ssize_t
tn_parse_size(tn_str_t *line)
{
    size_t   len;
    ssize_t  size;
    int64_t  scale;

    if (line->len == 0) {
        return TN_ERROR;
    }

    scale = tn_parse_scale(line, &len);

    size = tn_atosz(line->data, len);

    if (size == TN_ERROR || size > (ssize_t) (SSIZE_MAX / scale)) {
        return TN_ERROR;
    }

    return size * (ssize_t) scale;
}


off_t
tn_parse_offset(tn_str_t *line)
{
    off_t    offset;
    size_t   len;
    int64_t  scale;

    if (line->len == 0) {
        return TN_ERROR;
    }

    scale = tn_parse_scale(line, &len);

    offset = tn_atoof(line->data, len);

    if (offset == TN_ERROR || offset > (off_t) (TN_MAX_OFF_T_VALUE / scale)) {
        return TN_ERROR;
    }

    return offset * (off_t) scale;
}


/*
 * Parts such as "1h 30m" or "1h30m", each a number and a unit, the
 * units in decreasing order and each at most once: y (365 days), M (30
 * days), w, d, h, m, s and, unless is_sec, ms.  A number without a unit
 * means seconds and may only be the last part.  Spaces may separate the
 * parts.  The result is in seconds when is_sec, else in milliseconds.
 */

tn_int_t
tn_parse_time(tn_str_t *line, tn_uint_t is_sec)
{
    u_char                *p, *last;
    tn_int_t               value, total, scale, cutoff, cutlim;
    tn_uint_t              digits, unitless;
    tn_parse_time_step_e   step, prev;

    p = line->data;
    last = p + line->len;

    if (p == last) {
        return TN_ERROR;
    }

    total = 0;
    prev = tn_parse_time_start;
    cutoff = TN_MAX_INT_T_VALUE / 10;
    cutlim = TN_MAX_INT_T_VALUE % 10;

    while (p < last) {

        value = 0;
        digits = 0;

        while (p < last && *p >= '0' && *p <= '9') {
            if (value >= cutoff && (value > cutoff || *p - '0' > cutlim)) {
                return TN_ERROR;
            }

            value = value * 10 + (*p++ - '0');
            digits++;
        }

        if (digits == 0) {
            return TN_ERROR;
        }

        unitless = (p == last || *p == ' ');

        if (unitless) {
            step = tn_parse_time_sec;
            scale = 1;

        } else {

            switch (*p++) {

            case 'y':
                step = tn_parse_time_year;
                scale = 60 * 60 * 24 * 365;
                break;

            case 'M':
                step = tn_parse_time_month;
                scale = 60 * 60 * 24 * 30;
                break;

            case 'w':
                step = tn_parse_time_week;
                scale = 60 * 60 * 24 * 7;
                break;

            case 'd':
                step = tn_parse_time_day;
                scale = 60 * 60 * 24;
                break;

            case 'h':
                step = tn_parse_time_hour;
                scale = 60 * 60;
                break;

            case 'm':
                if (p < last && *p == 's') {
                    if (is_sec) {
                        return TN_ERROR;
                    }

                    p++;
                    step = tn_parse_time_msec;
                    scale = 1;
                    break;
                }

                step = tn_parse_time_min;
                scale = 60;
                break;

            case 's':
                step = tn_parse_time_sec;
                scale = 1;
                break;

            default:
                return TN_ERROR;
            }
        }

        if (step <= prev) {
            return TN_ERROR;
        }

        /* nothing may follow a number without a unit */
        prev = unitless ? tn_parse_time_last : step;

        if (!is_sec && step != tn_parse_time_msec) {
            scale *= 1000;
        }

        if (value > TN_MAX_INT_T_VALUE / scale) {
            return TN_ERROR;
        }

        value *= scale;

        if (total > TN_MAX_INT_T_VALUE - value) {
            return TN_ERROR;
        }

        total += value;

        while (p < last && *p == ' ') {
            p++;
        }
    }

    return total;
}
