
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_imap_msg.h>
#include <tn_mail_imap_struct.h>


/*
 * The string forms of IMAP: strings, dates, modified UTF-7 (RFC 3501
 * 5.1.3), the case folding of SEARCH and the base subject of SORT
 * (RFC 5256 2.1).
 */


#define TN_MAIL_IMAP_QUOTED_MAX   1024

/* a byte of malformed or unfolded UTF-8, in tn_mail_imap_contains() */
#define TN_MAIL_IMAP_RAW          0x200000

/* the folded needle on the stack; longer ones are malloc()ed */
#define TN_MAIL_IMAP_NEEDLE_BUF   1024

/* 9999-12-31 23:59:59 UTC, the last second a 4-digit year shows */
#define TN_MAIL_IMAP_TIME_MAX     253402300799LL


static tn_uint_t tn_mail_imap_quotable(tn_str_t *s, tn_uint_t utf8);
static u_char *tn_mail_imap_digits(u_char *p, tn_uint_t n, tn_uint_t w);
static int64_t tn_mail_imap_days(int64_t y, tn_uint_t m, tn_uint_t d);
static tn_int_t tn_mail_imap_num(u_char **pp, u_char *end, tn_uint_t min,
    tn_uint_t max, tn_uint_t *n);
static tn_int_t tn_mail_imap_2d(u_char *p);
static tn_int_t tn_mail_imap_day(u_char **pp, u_char *end, tn_uint_t *d,
    tn_uint_t *m, tn_uint_t *y);
static uint32_t tn_mail_imap_fold_cp(uint32_t c);
static uint32_t tn_mail_imap_fold_next(u_char **pp, u_char *end);
static tn_uint_t tn_mail_imap_contains_slow(tn_str_t *hay,
    tn_str_t *needle);
static tn_int_t tn_mail_imap_utf8_next(u_char **pp, u_char *end,
    uint32_t *cp);
static u_char *tn_mail_imap_utf8_put(u_char *p, uint32_t c);
static u_char *tn_mail_imap_b64_put(u_char *p, uint32_t *bits,
    tn_uint_t *n, uint32_t unit);
static tn_int_t tn_mail_imap_utf7_shift(u_char **pp, u_char *end,
    u_char **dst);
static size_t tn_mail_imap_strip_fwd(u_char *s, size_t len);
static size_t tn_mail_imap_leader(u_char *s, size_t len);
static size_t tn_mail_imap_blob(u_char *s, size_t len);


static u_char  tn_mail_imap_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static const char  *tn_mail_imap_months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};


/* strings */

/* 8-bit text in a quoted string must be valid UTF-8 (RFC 9051) */

static tn_uint_t
tn_mail_imap_quotable(tn_str_t *s, tn_uint_t utf8)
{
    u_char    *p, *end;
    uint32_t   c;

    if (s->len > TN_MAIL_IMAP_QUOTED_MAX) {
        return 0;
    }

    p = s->data;
    end = p + s->len;

    while (p < end) {
        if (*p == '\0' || *p == CR || *p == LF) {
            return 0;
        }

        if (*p < 0x80) {
            p++;
            continue;
        }

        if (!utf8 || tn_mail_imap_utf8_next(&p, end, &c) != TN_OK) {
            return 0;
        }
    }

    return 1;
}


size_t
tn_mail_imap_astring_len(tn_str_t *s, tn_uint_t utf8)
{
    size_t  i, n;

    if (s->data == NULL) {
        return sizeof("NIL") - 1;
    }

    if (!tn_mail_imap_quotable(s, utf8)) {
        return sizeof("{}" CRLF) - 1 + TN_SIZE_T_LEN + s->len;
    }

    n = 2 + s->len;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '"' || s->data[i] == '\\') {
            n++;
        }
    }

    return n;
}


u_char *
tn_mail_imap_astring(u_char *dst, tn_str_t *s, tn_uint_t utf8)
{
    size_t  i;

    if (s->data == NULL) {
        return tn_cpymem(dst, "NIL", 3);
    }

    if (!tn_mail_imap_quotable(s, utf8)) {
        dst = tn_sprintf(dst, "{%uz}" CRLF, s->len);
        return tn_cpymem(dst, s->data, s->len);
    }

    *dst++ = '"';

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '"' || s->data[i] == '\\') {
            *dst++ = '\\';
        }

        *dst++ = s->data[i];
    }

    *dst++ = '"';

    return dst;
}


/* dates */

static u_char *
tn_mail_imap_digits(u_char *p, tn_uint_t n, tn_uint_t w)
{
    tn_uint_t  i;

    for (i = w; i > 0; i--) {
        p[i - 1] = (u_char) ('0' + n % 10);
        n /= 10;
    }

    return p + w;
}


u_char *
tn_mail_imap_date_time(u_char *dst, time_t t, int32_t tz_minutes)
{
    time_t     local;
    tn_uint_t  tz;
    struct tm  tm;

    if (tz_minutes <= -24 * 60 || tz_minutes >= 24 * 60) {
        tz_minutes = 0;
    }

    local = t + (time_t) tz_minutes * 60;

    if (local < 0) {
        local = 0;
    }

    if ((long long) local > TN_MAIL_IMAP_TIME_MAX) {
        local = (time_t) TN_MAIL_IMAP_TIME_MAX;
    }

    gmtime_r(&local, &tm);

    dst = tn_mail_imap_digits(dst, tm.tm_mday, 2);
    *dst++ = '-';
    dst = tn_cpymem(dst, tn_mail_imap_months[tm.tm_mon], 3);
    *dst++ = '-';
    dst = tn_mail_imap_digits(dst, tm.tm_year + 1900, 4);
    *dst++ = ' ';
    dst = tn_mail_imap_digits(dst, tm.tm_hour, 2);
    *dst++ = ':';
    dst = tn_mail_imap_digits(dst, tm.tm_min, 2);
    *dst++ = ':';
    dst = tn_mail_imap_digits(dst, tm.tm_sec, 2);
    *dst++ = ' ';
    *dst++ = (tz_minutes < 0) ? '-' : '+';

    tz = (tz_minutes < 0) ? -tz_minutes : tz_minutes;
    dst = tn_mail_imap_digits(dst, tz / 60, 2);

    return tn_mail_imap_digits(dst, tz % 60, 2);
}


/* days since 1970-01-01 of a civil date (H. Hinnant's algorithm) */

static int64_t
tn_mail_imap_days(int64_t y, tn_uint_t m, tn_uint_t d)
{
    int64_t   era;
    uint64_t  yoe, doy, doe;

    y -= (m <= 2);
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (uint64_t) (y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t) doe - 719468;
}


/* exactly 1..(max digits) digits, value in [min, max] */

static tn_int_t
tn_mail_imap_num(u_char **pp, u_char *end, tn_uint_t min, tn_uint_t max,
    tn_uint_t *n)
{
    u_char     *p;
    tn_uint_t   v, k;

    p = *pp;
    v = 0;

    for (k = 0; p < end && *p >= '0' && *p <= '9' && k < 4; k++, p++) {
        v = v * 10 + (*p - '0');
    }

    if (k == 0 || v < min || v > max) {
        return TN_ERROR;
    }

    *pp = p;
    *n = v;

    return TN_OK;
}


/* "d-Mon-yyyy", d one or two digits */

static tn_int_t
tn_mail_imap_day(u_char **pp, u_char *end, tn_uint_t *d, tn_uint_t *m,
    tn_uint_t *y)
{
    u_char     *p, *start;
    tn_uint_t   days, leap;

    static const tn_uint_t  mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31,
                                        30, 31, 30, 31 };

    p = *pp;
    start = p;

    if (tn_mail_imap_num(&p, end, 1, 31, d) != TN_OK || p - start > 2
        || end - p < 9 || *p++ != '-')
    {
        return TN_ERROR;
    }

    for (*m = 0; *m < 12; (*m)++) {
        if (tn_strncasecmp(p, (u_char *) tn_mail_imap_months[*m], 3) == 0) {
            break;
        }
    }

    if (*m == 12 || p[3] != '-') {
        return TN_ERROR;
    }

    p += 4;
    start = p;

    if (tn_mail_imap_num(&p, end, 1, 9999, y) != TN_OK || p - start != 4) {
        return TN_ERROR;
    }

    (*m)++;

    leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
    days = mdays[*m - 1] + (*m == 2 && leap);

    if (*d > days) {
        return TN_ERROR;
    }

    *pp = p;

    return TN_OK;
}


tn_int_t
tn_mail_imap_parse_date(tn_str_t *s, time_t *t)
{
    u_char     *p, *end;
    tn_uint_t   d, m, y;

    p = s->data;
    end = p + s->len;

    if (tn_mail_imap_day(&p, end, &d, &m, &y) != TN_OK || p != end) {
        return TN_ERROR;
    }

    *t = (time_t) (tn_mail_imap_days(y, m, d) * 86400);

    return TN_OK;
}


tn_int_t
tn_mail_imap_parse_date_time(tn_str_t *s, time_t *t)
{
    u_char     *p, *end;
    int64_t     v;
    tn_int_t    sign, hh, mm, ss, zh, zm;
    tn_uint_t   d, m, y;

    p = s->data;
    end = p + s->len;

    if (p < end && *p == ' ') {
        p++;
    }

    /* then " hh:mm:ss +zzzz" */

    if (tn_mail_imap_day(&p, end, &d, &m, &y) != TN_OK
        || end - p != sizeof(" hh:mm:ss +zzzz") - 1
        || p[0] != ' ' || p[3] != ':' || p[6] != ':' || p[9] != ' '
        || (p[10] != '+' && p[10] != '-'))
    {
        return TN_ERROR;
    }

    sign = (p[10] == '-') ? -1 : 1;
    hh = tn_mail_imap_2d(p + 1);
    mm = tn_mail_imap_2d(p + 4);
    ss = tn_mail_imap_2d(p + 7);
    zh = tn_mail_imap_2d(p + 11);
    zm = tn_mail_imap_2d(p + 13);

    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60
        || zh < 0 || zm < 0 || zm > 59)
    {
        return TN_ERROR;
    }

    v = tn_mail_imap_days(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
    v -= sign * (int64_t) (zh * 60 + zm) * 60;

    *t = (time_t) v;

    return TN_OK;
}


static tn_int_t
tn_mail_imap_2d(u_char *p)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') {
        return -1;
    }

    return (p[0] - '0') * 10 + (p[1] - '0');
}


/* UTF-8 */

/* a well-formed UTF-8 character (no overlong form, no surrogate) */

static tn_int_t
tn_mail_imap_utf8_next(u_char **pp, u_char *end, uint32_t *cp)
{
    u_char    *p;
    uint32_t   c, min;
    tn_uint_t  n, i;

    p = *pp;
    c = *p;

    if (c < 0x80) {
        *cp = c;
        *pp = p + 1;
        return TN_OK;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        n = 1; c &= 0x1f; min = 0x80;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2; c &= 0x0f; min = 0x800;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3; c &= 0x07; min = 0x10000;

    } else {
        return TN_ERROR;
    }

    if ((size_t) (end - p) <= n) {
        return TN_ERROR;
    }

    for (i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return TN_ERROR;
        }

        c = (c << 6) | (p[i] & 0x3f);
    }

    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return TN_ERROR;
    }

    *cp = c;
    *pp = p + n + 1;

    return TN_OK;
}


static u_char *
tn_mail_imap_utf8_put(u_char *p, uint32_t c)
{
    if (c < 0x80) {
        *p++ = (u_char) c;

    } else if (c < 0x800) {
        *p++ = (u_char) (0xc0 | (c >> 6));
        *p++ = (u_char) (0x80 | (c & 0x3f));

    } else if (c < 0x10000) {
        *p++ = (u_char) (0xe0 | (c >> 12));
        *p++ = (u_char) (0x80 | ((c >> 6) & 0x3f));
        *p++ = (u_char) (0x80 | (c & 0x3f));

    } else {
        *p++ = (u_char) (0xf0 | (c >> 18));
        *p++ = (u_char) (0x80 | ((c >> 12) & 0x3f));
        *p++ = (u_char) (0x80 | ((c >> 6) & 0x3f));
        *p++ = (u_char) (0x80 | (c & 0x3f));
    }

    return p;
}


/* modified UTF-7 */

tn_int_t
tn_mail_imap_utf7_decode(tn_pool_t *pool, tn_str_t *in, tn_str_t *out)
{
    u_char     *p, *end, *dst;
    tn_uint_t   shifted;

    /* a base64 char gives at most 1.5 bytes of UTF-8 */
    out->data = tn_pnalloc(pool, 2 * in->len + 1);
    if (out->data == NULL) {
        return TN_ERROR;
    }

    dst = out->data;
    p = in->data;
    end = p + in->len;
    shifted = 0;

    while (p < end) {
        if (*p < 0x20 || *p > 0x7e) {
            return TN_ERROR;
        }

        if (*p != '&') {
            *dst++ = *p++;
            shifted = 0;
            continue;
        }

        p++;

        if (p < end && *p == '-') {
            *dst++ = '&';
            p++;
            shifted = 0;
            continue;
        }

        /* "&AGE-&AGI-": one shift must hold the whole run */
        if (shifted) {
            return TN_ERROR;
        }

        if (tn_mail_imap_utf7_shift(&p, end, &dst) != TN_OK) {
            return TN_ERROR;
        }

        shifted = 1;
    }

    *dst = '\0';
    out->len = dst - out->data;

    return TN_OK;
}


/* the base64 run after "&", up to and with its "-" */

static tn_int_t
tn_mail_imap_utf7_shift(u_char **pp, u_char *end, u_char **dst)
{
    u_char     *p, *q;
    uint32_t    bits, unit, high, c;
    tn_uint_t   n, units;

    p = *pp;
    bits = 0;
    n = 0;
    high = 0;
    units = 0;

    for ( ;; ) {
        if (p == end) {
            return TN_ERROR;
        }

        if (*p == '-') {
            break;
        }

        q = (u_char *) tn_strchr(tn_mail_imap_b64, *p);
        if (q == NULL || *p == '\0') {
            return TN_ERROR;
        }

        bits = (bits << 6) | (uint32_t) (q - tn_mail_imap_b64);
        n += 6;
        p++;

        if (n < 16) {
            continue;
        }

        n -= 16;
        unit = (bits >> n) & 0xffff;
        bits &= (1u << n) - 1;
        units++;

        if (high) {
            if (unit < 0xdc00 || unit > 0xdfff) {
                return TN_ERROR;
            }

            c = 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00);
            high = 0;

        } else if (unit >= 0xd800 && unit <= 0xdbff) {
            high = unit;
            continue;

        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
            return TN_ERROR;

        } else {
            c = unit;
        }

        /* printable ASCII must not be encoded; nor NUL */
        if (c == 0 || (c >= 0x20 && c <= 0x7e)) {
            return TN_ERROR;
        }

        *dst = tn_mail_imap_utf8_put(*dst, c);
    }

    /* the padding: fewer than 6 bits, all zero */
    if (units == 0 || high || n >= 6 || bits != 0) {
        return TN_ERROR;
    }

    *pp = p + 1;

    return TN_OK;
}


static u_char *
tn_mail_imap_b64_put(u_char *p, uint32_t *bits, tn_uint_t *n, uint32_t unit)
{
    *bits = (*bits << 16) | unit;
    *n += 16;

    while (*n >= 6) {
        *n -= 6;
        *p++ = tn_mail_imap_b64[(*bits >> *n) & 0x3f];
    }

    *bits &= (1u << *n) - 1;

    return p;
}


tn_int_t
tn_mail_imap_utf7_encode(tn_pool_t *pool, tn_str_t *in, tn_str_t *out)
{
    u_char     *p, *end, *dst;
    uint32_t    c, bits;
    tn_uint_t   n, shift;

    /* worst case: a control char between printable ones, "&AAE-" */
    out->data = tn_pnalloc(pool, 5 * in->len + 1);
    if (out->data == NULL) {
        return TN_ERROR;
    }

    dst = out->data;
    p = in->data;
    end = p + in->len;
    shift = 0;
    bits = 0;
    n = 0;

    while (p < end) {
        if (tn_mail_imap_utf8_next(&p, end, &c) != TN_OK || c == 0) {
            return TN_ERROR;
        }

        if (c >= 0x20 && c <= 0x7e) {
            if (shift) {
                if (n) {
                    *dst++ = tn_mail_imap_b64[(bits << (6 - n)) & 0x3f];
                }

                *dst++ = '-';
                shift = 0;
                bits = 0;
                n = 0;
            }

            *dst++ = (u_char) c;

            if (c == '&') {
                *dst++ = '-';
            }

            continue;
        }

        if (!shift) {
            *dst++ = '&';
            shift = 1;
        }

        if (c >= 0x10000) {
            c -= 0x10000;
            dst = tn_mail_imap_b64_put(dst, &bits, &n, 0xd800 | (c >> 10));
            c = 0xdc00 | (c & 0x3ff);
        }

        dst = tn_mail_imap_b64_put(dst, &bits, &n, c);
    }

    if (shift) {
        if (n) {
            *dst++ = tn_mail_imap_b64[(bits << (6 - n)) & 0x3f];
        }

        *dst++ = '-';
    }

    *dst = '\0';
    out->len = dst - out->data;

    return TN_OK;
}


/* case folding */

static uint32_t
tn_mail_imap_fold_cp(uint32_t c)
{
    if (c < 0x80) {
        return (c >= 'A' && c <= 'Z') ? c + 0x20 : c;
    }

    if (c < 0x100) {
        if (c == 0xb5) {
            return 0x3bc;                    /* micro sign: Greek mu */
        }

        return (c >= 0xc0 && c <= 0xde && c != 0xd7) ? c + 0x20 : c;
    }

    if (c < 0x180) {
        /* Latin Extended-A: pairs, the upper case first */
        switch (c) {
        case 0x130:
            return 'i';
        case 0x178:
            return 0xff;
        case 0x17f:
            return 's';
        case 0x131:
        case 0x138:
        case 0x149:
            return c;
        }

        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) {
            return (c & 1) ? c + 1 : c;
        }

        return (c & 1) ? c : c + 1;
    }

    if (c >= 0x370 && c < 0x400) {
        /* Greek */
        if ((c >= 0x391 && c <= 0x3ab && c != 0x3a2)) {
            return c + 0x20;
        }

        switch (c) {
        case 0x386:
            return 0x3ac;
        case 0x388: case 0x389: case 0x38a:
            return c + 37;
        case 0x38c:
            return 0x3cc;
        case 0x38e: case 0x38f:
            return c + 63;
        case 0x3c2:
            return 0x3c3;                    /* final sigma */
        case 0x3d0:
            return 0x3b2;
        case 0x3d1:
            return 0x3b8;
        case 0x3d5:
            return 0x3c6;
        case 0x3d6:
            return 0x3c0;
        case 0x3f0:
            return 0x3ba;
        case 0x3f1:
            return 0x3c1;
        case 0x3f5:
            return 0x3b5;
        case 0x370: case 0x372: case 0x376:
            return c + 1;
        }

        if (c >= 0x3d8 && c <= 0x3ef) {
            return c | 1;
        }

        return c;
    }

    if (c >= 0x400 && c < 0x500) {
        /* Cyrillic */
        if (c < 0x410) {
            return c + 0x50;
        }

        if (c < 0x430) {
            return c + 0x20;
        }

        if ((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf)
            || c >= 0x4d0)
        {
            return c | 1;
        }

        if (c == 0x4c0) {
            return 0x4cf;
        }

        if (c >= 0x4c1 && c <= 0x4ce) {
            return (c & 1) ? c + 1 : c;
        }
    }

    return c;
}


/*
 * The folded value of the character at *pp: only two-byte sequences
 * can change (everything folded is below U+0500), anything else is
 * passed on a byte at a time as TN_MAIL_IMAP_RAW | byte.
 */

static uint32_t
tn_mail_imap_fold_next(u_char **pp, u_char *end)
{
    u_char  *p;

    p = *pp;

    if (*p < 0x80) {
        *pp = p + 1;
        return tn_mail_imap_fold_cp(*p);
    }

    if (*p >= 0xc2 && *p <= 0xdf && end - p >= 2 && (p[1] & 0xc0) == 0x80) {
        *pp = p + 2;
        return tn_mail_imap_fold_cp(((*p & 0x1f) << 6) | (p[1] & 0x3f));
    }

    *pp = p + 1;

    return TN_MAIL_IMAP_RAW | *p;
}


/* dst may be src: a folding never writes more than it reads */

size_t
tn_mail_imap_fold(u_char *dst, u_char *src, size_t len)
{
    u_char    *p, *end, *d;
    uint32_t   c;

    p = src;
    end = src + len;
    d = dst;

    while (p < end) {
        c = tn_mail_imap_fold_next(&p, end);

        if (c & TN_MAIL_IMAP_RAW) {
            *d++ = (u_char) (c & 0xff);

        } else {
            d = tn_mail_imap_utf8_put(d, c);
        }
    }

    return d - dst;
}


/*
 * Hay is meant to be folded already (the cache fields and the SEARCH
 * text are): then the folded needle is looked for with memmem(), which
 * is linear.  A hay that folding would change is compared a character
 * at a time, folded on the fly on both sides.
 */

tn_uint_t
tn_mail_imap_contains(tn_str_t *hay, tn_str_t *needle)
{
    u_char     *h, *end, *f, *p;
    size_t      n;
    uint32_t    c;
    tn_uint_t   found;
    u_char      tmp[4], buf[TN_MAIL_IMAP_NEEDLE_BUF];

    if (needle->len == 0) {
        return 1;
    }

    h = hay->data;
    end = h + hay->len;

    while (h < end) {
        p = h;
        c = tn_mail_imap_fold_next(&h, end);

        if (c & TN_MAIL_IMAP_RAW) {
            continue;
        }

        n = tn_mail_imap_utf8_put(tmp, c) - tmp;

        if (n != (size_t) (h - p) || tn_memcmp(tmp, p, n) != 0) {
            return tn_mail_imap_contains_slow(hay, needle);
        }
    }

    f = (needle->len <= sizeof(buf)) ? buf : malloc(needle->len);
    if (f == NULL) {
        return tn_mail_imap_contains_slow(hay, needle);
    }

    n = tn_mail_imap_fold(f, needle->data, needle->len);

    found = (memmem(hay->data, hay->len, f, n) != NULL);

    if (f != buf) {
        free(f);
    }

    return found;
}


static tn_uint_t
tn_mail_imap_contains_slow(tn_str_t *hay, tn_str_t *needle)
{
    u_char    *h, *hend, *nend, *a, *b;
    uint32_t   first;

    h = hay->data;
    hend = h + hay->len;
    nend = needle->data + needle->len;

    b = needle->data;
    first = tn_mail_imap_fold_next(&b, nend);

    while (h < hend) {
        a = h;

        if (tn_mail_imap_fold_next(&a, hend) == first) {
            b = needle->data;
            (void) tn_mail_imap_fold_next(&b, nend);

            for ( ;; ) {
                if (b == nend) {
                    return 1;
                }

                if (a == hend
                    || tn_mail_imap_fold_next(&a, hend)
                       != tn_mail_imap_fold_next(&b, nend))
                {
                    break;
                }
            }
        }

        (void) tn_mail_imap_fold_next(&h, hend);
    }

    return 0;
}


/*
 * RFC 5256 2.1, on a decoded and folded subject (so "Re" is "re"): the
 * white space made single spaces, then "(fwd)" trailers, "re:", "fw:",
 * "fwd:" and "[blob]" leaders and "[fwd: ...]" wrappers removed.
 */

void
tn_mail_imap_base_subject(tn_str_t *s)
{
    u_char  *p, *d, *end;
    size_t   len, n;

    /* (1) */

    d = s->data;
    end = s->data + s->len;

    for (p = s->data; p < end; p++) {
        if (*p == '\t' || *p == CR || *p == LF || *p == ' ') {
            if (d > s->data && d[-1] != ' ') {
                *d++ = ' ';
            }

            continue;
        }

        *d++ = *p;
    }

    p = s->data;
    len = d - s->data;

    for ( ;; ) {
        /* (2) */
        len = tn_mail_imap_strip_fwd(p, len);

        /* (3), (4), (5) */
        for ( ;; ) {
            n = tn_mail_imap_leader(p, len);

            if (n == 0) {
                n = tn_mail_imap_blob(p, len);

                if (n == len) {
                    n = 0;
                }
            }

            if (n == 0) {
                break;
            }

            p += n;
            len -= n;
        }

        /* (6) */
        if (len >= 6 && tn_memcmp(p, "[fwd:", 5) == 0 && p[len - 1] == ']') {
            p += 5;
            len -= 6;
            continue;
        }

        break;
    }

    if (p != s->data && len) {
        tn_memmove(s->data, p, len);
    }

    s->len = len;
}


static size_t
tn_mail_imap_strip_fwd(u_char *s, size_t len)
{
    for ( ;; ) {
        while (len && s[len - 1] == ' ') {
            len--;
        }

        if (len >= 5 && tn_memcmp(s + len - 5, "(fwd)", 5) == 0) {
            len -= 5;
            continue;
        }

        return len;
    }
}


/* subj-leader = (*subj-blob subj-refwd) / WSP: its length, or 0 */

static size_t
tn_mail_imap_leader(u_char *s, size_t len)
{
    size_t  i, n;

    if (len && s[0] == ' ') {
        return 1;
    }

    i = 0;

    while ((n = tn_mail_imap_blob(s + i, len - i)) != 0) {
        i += n;
    }

    if (len - i >= 2 && tn_memcmp(s + i, "re", 2) == 0) {
        i += 2;

    } else if (len - i >= 3 && tn_memcmp(s + i, "fwd", 3) == 0) {
        i += 3;

    } else if (len - i >= 2 && tn_memcmp(s + i, "fw", 2) == 0) {
        i += 2;

    } else {
        return 0;
    }

    while (i < len && s[i] == ' ') {
        i++;
    }

    i += tn_mail_imap_blob(s + i, len - i);

    if (i < len && s[i] == ':') {
        return i + 1;
    }

    return 0;
}


/* subj-blob = "[" *BLOBCHAR "]" *WSP: its length, or 0 */

static size_t
tn_mail_imap_blob(u_char *s, size_t len)
{
    size_t  i;

    if (len == 0 || s[0] != '[') {
        return 0;
    }

    for (i = 1; i < len && s[i] != ']'; i++) {
        if (s[i] == '[') {
            return 0;
        }
    }

    if (i == len) {
        return 0;
    }

    for (i++; i < len && s[i] == ' '; i++) {
        /* void */
    }

    return i;
}
