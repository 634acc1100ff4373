
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


/* the longest number %L and friends can print, plus a sign */
#define TN_SPRINTF_NUM_LEN   (sizeof("-18446744073709551615") - 1)

/* the invalid entry of tn_base64_decode_table */
#define TN_BASE64_BAD        0xff


static u_char *tn_sprintf_num(u_char *buf, u_char *last, uint64_t ui64,
    u_char negative, u_char zero, tn_uint_t hexadecimal, tn_uint_t width);
static u_char *tn_sprintf_str(u_char *buf, u_char *last, u_char *src,
    size_t len, tn_uint_t hexadecimal);
static tn_uint_t tn_string_caseeq(u_char *s1, u_char *s2, size_t n);
static int64_t tn_atoi_max(u_char *line, size_t n, int64_t max);
static tn_uint_t tn_base64_value(u_char ch);


static u_char  tn_hex_lc[] = "0123456789abcdef";
static u_char  tn_hex_uc[] = "0123456789ABCDEF";


void
tn_strlow(u_char *dst, u_char *src, size_t n)
{
    while (n) {
        *dst = tn_tolower(*src);
        dst++;
        src++;
        n--;
    }
}


void
tn_explicit_memzero(void *buf, size_t n)
{
    explicit_bzero(buf, n);
}


u_char *
tn_cpystrn(u_char *dst, u_char *src, size_t n)
{
    if (n == 0) {
        return dst;
    }

    while (--n) {
        *dst = *src;

        if (*dst == '\0') {
            return dst;
        }

        dst++;
        src++;
    }

    *dst = '\0';

    return dst;
}


u_char *
tn_pstrdup(tn_pool_t *pool, tn_str_t *src)
{
    u_char  *dst;

    dst = tn_pnalloc(pool, src->len + 1);
    if (dst == NULL) {
        return NULL;
    }

    if (src->len) {
        tn_memcpy(dst, src->data, src->len);
    }

    dst[src->len] = '\0';

    return dst;
}


u_char *
tn_sprintf(u_char *buf, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    /* no limit: the caller sized buf for the format */

    va_start(args, fmt);
    p = tn_vslprintf(buf, (u_char *) UINTPTR_MAX, fmt, args);
    va_end(args);

    return p;
}


u_char *
tn_snprintf(u_char *buf, size_t max, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = tn_vslprintf(buf, buf + max, fmt, args);
    va_end(args);

    return p;
}


u_char *
tn_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = tn_vslprintf(buf, last, fmt, args);
    va_end(args);

    return p;
}


/*
 * The formatter proper.  One switch over the conversion letters; it is
 * long because every conversion is a few lines, and splitting it would
 * mean passing the va_list around.  Every write is bounded by last: the
 * loop guarantees room for one byte, and the helpers check the rest.
 */

u_char *
tn_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    u_char      *p, zero, negative;
    int          d;
    size_t       slen;
    int64_t      i64;
    uint64_t     ui64;
    tn_msec_t    ms;
    tn_str_t    *v;
    tn_uint_t    width, sign, hex, max_width;

    while (*fmt && buf < last) {

        if (*fmt != '%') {
            *buf++ = (u_char) *fmt++;
            continue;
        }

        fmt++;

        i64 = 0;
        ui64 = 0;
        zero = ' ';
        width = 0;
        sign = 1;
        hex = 0;
        max_width = 0;
        slen = (size_t) -1;

        if (*fmt == '0') {
            zero = '0';
            fmt++;
        }

        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (tn_uint_t) (*fmt++ - '0');
        }

        for ( ;; ) {
            switch (*fmt) {

            case 'u':
                sign = 0;
                fmt++;
                continue;

            case 'm':
                max_width = 1;
                fmt++;
                continue;

            case 'X':
                hex = 2;
                sign = 0;
                fmt++;
                continue;

            case 'x':
                hex = 1;
                sign = 0;
                fmt++;
                continue;

            case '*':
                slen = va_arg(args, size_t);
                fmt++;
                continue;

            default:
                break;
            }

            break;
        }

        switch (*fmt) {

        case '\0':
            /* a lone '%' at the end of the format */
            return buf;

        case 'V':
            v = va_arg(args, tn_str_t *);
            buf = tn_sprintf_str(buf, last, v->data, v->len, hex);
            fmt++;
            continue;

        case 's':
            p = va_arg(args, u_char *);
            buf = tn_sprintf_str(buf, last, p, slen, hex);
            fmt++;
            continue;

        case 'O':
            i64 = (int64_t) va_arg(args, off_t);
            sign = 1;
            break;

        case 'T':
            i64 = (int64_t) va_arg(args, time_t);
            sign = 1;
            break;

        case 'M':
            ms = (tn_msec_t) va_arg(args, tn_msec_t);

            if ((tn_msec_int_t) ms == -1) {
                sign = 1;
                i64 = -1;

            } else {
                sign = 0;
                ui64 = (uint64_t) ms;
            }

            break;

        case 'z':
            if (sign) {
                i64 = (int64_t) va_arg(args, ssize_t);
            } else {
                ui64 = (uint64_t) va_arg(args, size_t);
            }
            break;

        case 'i':
            if (sign) {
                i64 = (int64_t) va_arg(args, tn_int_t);
            } else {
                ui64 = (uint64_t) va_arg(args, tn_uint_t);
            }

            if (max_width) {
                width = TN_INT_T_LEN;
            }

            break;

        case 'd':
            if (sign) {
                i64 = (int64_t) va_arg(args, int);
            } else {
                ui64 = (uint64_t) va_arg(args, unsigned int);
            }
            break;

        case 'l':
            if (sign) {
                i64 = (int64_t) va_arg(args, long);
            } else {
                ui64 = (uint64_t) va_arg(args, unsigned long);
            }
            break;

        case 'D':
            if (sign) {
                i64 = (int64_t) va_arg(args, int32_t);
            } else {
                ui64 = (uint64_t) va_arg(args, uint32_t);
            }
            break;

        case 'L':
            if (sign) {
                i64 = va_arg(args, int64_t);
            } else {
                ui64 = va_arg(args, uint64_t);
            }
            break;

        case 'p':
            ui64 = (uint64_t) (uintptr_t) va_arg(args, void *);
            hex = 2;
            sign = 0;
            zero = '0';
            width = 2 * sizeof(void *);
            break;

        case 'c':
            d = va_arg(args, int);
            *buf++ = (u_char) (d & 0xff);
            fmt++;
            continue;

        case 'Z':
            *buf++ = '\0';
            fmt++;
            continue;

        case 'N':
            *buf++ = LF;
            fmt++;
            continue;

        case '%':
            *buf++ = '%';
            fmt++;
            continue;

        default:
            /* an unknown conversion is copied as is */
            *buf++ = (u_char) *fmt++;
            continue;
        }

        negative = 0;

        if (sign) {
            if (i64 < 0) {
                negative = 1;
                /* negate in unsigned arithmetic: INT64_MIN has no opposite */
                ui64 = (uint64_t) 0 - (uint64_t) i64;

            } else {
                ui64 = (uint64_t) i64;
            }
        }

        buf = tn_sprintf_num(buf, last, ui64, negative, zero, hex, width);

        fmt++;
    }

    return buf;
}


/*
 * Prints ui64 right-aligned in width bytes; the width includes the minus
 * sign, which goes before zero padding and after space padding, as
 * printf() does.  A number that does not fit before last is cut.
 */

static u_char *
tn_sprintf_num(u_char *buf, u_char *last, uint64_t ui64, u_char negative,
    u_char zero, tn_uint_t hexadecimal, tn_uint_t width)
{
    u_char  *p, *digits, temp[TN_SPRINTF_NUM_LEN];
    size_t   len, avail;

    p = temp + TN_SPRINTF_NUM_LEN;
    digits = (hexadecimal == 2) ? tn_hex_uc : tn_hex_lc;

    if (hexadecimal == 0) {
        do {
            *--p = (u_char) (ui64 % 10 + '0');
        } while (ui64 /= 10);

    } else {
        do {
            *--p = digits[ui64 & 0xf];
        } while (ui64 >>= 4);
    }

    len = (size_t) (temp + TN_SPRINTF_NUM_LEN - p) + negative;

    if (negative && zero == '0' && buf < last) {
        *buf++ = '-';
        negative = 0;
    }

    while (len < width && buf < last) {
        *buf++ = zero;
        len++;
    }

    if (negative && buf < last) {
        *buf++ = '-';
    }

    if (buf >= last) {
        return buf;
    }

    len = (size_t) (temp + TN_SPRINTF_NUM_LEN - p);
    avail = (size_t) ((uintptr_t) last - (uintptr_t) buf);

    if (len > avail) {
        len = avail;
    }

    return tn_cpymem(buf, p, len);
}


static u_char *
tn_sprintf_str(u_char *buf, u_char *last, u_char *src, size_t len,
    tn_uint_t hexadecimal)
{
    u_char  *digits;
    size_t   avail;

    if (buf >= last) {
        return buf;
    }

    avail = (size_t) ((uintptr_t) last - (uintptr_t) buf);

    if (hexadecimal == 0) {

        if (len == (size_t) -1) {
            while (*src && buf < last) {
                *buf++ = *src++;
            }

            return buf;
        }

        len = tn_min(avail, len);

        if (len == 0) {
            return buf;
        }

        return tn_cpymem(buf, src, len);
    }

    /* "%xs", "%XV": two hex digits a byte, never half a byte */

    digits = (hexadecimal == 2) ? tn_hex_uc : tn_hex_lc;

    while (avail >= 2) {

        if (len == (size_t) -1) {
            if (*src == '\0') {
                break;
            }

        } else if (len-- == 0) {
            break;
        }

        *buf++ = digits[*src >> 4];
        *buf++ = digits[*src++ & 0xf];
        avail -= 2;
    }

    return buf;
}


tn_int_t
tn_strcasecmp(u_char *s1, u_char *s2)
{
    tn_uint_t  c1, c2;

    for ( ;; ) {
        c1 = (tn_uint_t) tn_tolower(*s1);
        c2 = (tn_uint_t) tn_tolower(*s2);
        s1++;
        s2++;

        if (c1 != c2) {
            return (tn_int_t) c1 - (tn_int_t) c2;
        }

        if (c1 == 0) {
            return 0;
        }
    }
}


tn_int_t
tn_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    tn_uint_t  c1, c2;

    while (n--) {
        c1 = (tn_uint_t) tn_tolower(*s1);
        c2 = (tn_uint_t) tn_tolower(*s2);
        s1++;
        s2++;

        if (c1 != c2) {
            return (tn_int_t) c1 - (tn_int_t) c2;
        }

        if (c1 == 0) {
            return 0;
        }
    }

    return 0;
}


/* ASCII case-insensitive equality of exactly n bytes, NULs included */

static tn_uint_t
tn_string_caseeq(u_char *s1, u_char *s2, size_t n)
{
    while (n--) {
        if (tn_tolower(*s1) != tn_tolower(*s2)) {
            return 0;
        }

        s1++;
        s2++;
    }

    return 1;
}


u_char *
tn_strlcasestrn(u_char *s1, u_char *last, u_char *s2, size_t n)
{
    u_char  c2;

    if (n == 0) {
        return (s1 <= last) ? s1 : NULL;
    }

    if (s1 >= last || (size_t) (last - s1) < n) {
        return NULL;
    }

    c2 = tn_tolower(*s2);

    /* the last place a match can start */
    last -= n;

    for ( /* void */ ; s1 <= last; s1++) {

        if (tn_tolower(*s1) != c2) {
            continue;
        }

        if (tn_string_caseeq(s1 + 1, s2 + 1, n - 1)) {
            return s1;
        }
    }

    return NULL;
}


/*
 * The first occurrence of the NUL-terminated s2 in the first n bytes of
 * s1; a NUL in s1 ends the search.
 */

u_char *
tn_strnstr(u_char *s1, char *s2, size_t n)
{
    u_char  *p;
    size_t   len, i;

    len = tn_strlen(s2);

    if (len == 0) {
        return s1;
    }

    for (p = s1; n >= len; p++, n--) {

        if (*p == '\0') {
            return NULL;
        }

        for (i = 0; i < len; i++) {
            if (p[i] != (u_char) s2[i]) {
                break;
            }
        }

        if (i == len) {
            return p;
        }
    }

    return NULL;
}


tn_int_t
tn_memn2cmp(u_char *s1, u_char *s2, size_t n1, size_t n2)
{
    size_t    n;
    tn_int_t  m, z;

    if (n1 <= n2) {
        n = n1;
        z = -1;

    } else {
        n = n2;
        z = 1;
    }

    m = (n == 0) ? 0 : tn_memcmp(s1, s2, n);

    if (m || n1 == n2) {
        return m;
    }

    return z;
}


/* a non-negative decimal not above max, or TN_ERROR */

static int64_t
tn_atoi_max(u_char *line, size_t n, int64_t max)
{
    int64_t  value, cutoff, cutlim;

    if (n == 0) {
        return TN_ERROR;
    }

    cutoff = max / 10;
    cutlim = max % 10;

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9') {
            return TN_ERROR;
        }

        if (value >= cutoff && (value > cutoff || *line - '0' > cutlim)) {
            return TN_ERROR;
        }

        value = value * 10 + (*line - '0');
    }

    return value;
}


tn_int_t
tn_atoi(u_char *line, size_t n)
{
    return (tn_int_t) tn_atoi_max(line, n, TN_MAX_INT_T_VALUE);
}


ssize_t
tn_atosz(u_char *line, size_t n)
{
    return (ssize_t) tn_atoi_max(line, n, SSIZE_MAX);
}


off_t
tn_atoof(u_char *line, size_t n)
{
    return (off_t) tn_atoi_max(line, n, TN_MAX_OFF_T_VALUE);
}


time_t
tn_atotm(u_char *line, size_t n)
{
    int64_t  max;

    max = (sizeof(time_t) == sizeof(int64_t)) ? INT64_MAX : INT32_MAX;

    return (time_t) tn_atoi_max(line, n, max);
}


tn_int_t
tn_hextoi(u_char *line, size_t n)
{
    u_char    c, ch;
    tn_int_t  value, cutoff;

    if (n == 0) {
        return TN_ERROR;
    }

    /* value * 16 + 15 stays within range while value <= cutoff */
    cutoff = TN_MAX_INT_T_VALUE / 16;

    for (value = 0; n--; line++) {
        if (value > cutoff) {
            return TN_ERROR;
        }

        ch = *line;

        if (ch >= '0' && ch <= '9') {
            value = value * 16 + (ch - '0');
            continue;
        }

        c = (u_char) (ch | 0x20);

        if (c >= 'a' && c <= 'f') {
            value = value * 16 + (c - 'a' + 10);
            continue;
        }

        return TN_ERROR;
    }

    return value;
}


u_char *
tn_hex_dump(u_char *dst, u_char *src, size_t len)
{
    while (len--) {
        *dst++ = tn_hex_lc[*src >> 4];
        *dst++ = tn_hex_lc[*src++ & 0xf];
    }

    return dst;
}


void
tn_encode_base64(tn_str_t *dst, tn_str_t *src)
{
    u_char         *d, *s;
    size_t          len;
    static u_char   basis64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    len = src->len;
    s = src->data;
    d = dst->data;

    while (len > 2) {
        *d++ = basis64[s[0] >> 2];
        *d++ = basis64[((s[0] & 0x03) << 4) | (s[1] >> 4)];
        *d++ = basis64[((s[1] & 0x0f) << 2) | (s[2] >> 6)];
        *d++ = basis64[s[2] & 0x3f];

        s += 3;
        len -= 3;
    }

    if (len) {
        *d++ = basis64[s[0] >> 2];

        if (len == 1) {
            *d++ = basis64[(s[0] & 0x03) << 4];
            *d++ = '=';

        } else {
            *d++ = basis64[((s[0] & 0x03) << 4) | (s[1] >> 4)];
            *d++ = basis64[(s[1] & 0x0f) << 2];
        }

        *d++ = '=';
    }

    dst->len = (size_t) (d - dst->data);
}


/* the value of a base64 digit, or TN_BASE64_BAD */

static tn_uint_t
tn_base64_value(u_char ch)
{
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }

    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }

    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }

    if (ch == '+') {
        return 62;
    }

    if (ch == '/') {
        return 63;
    }

    return TN_BASE64_BAD;
}


/*
 * Strict RFC 4648 decoding: the input is whole quanta of four characters,
 * '=' appears only as one or two final characters, and nothing outside
 * the alphabet (not even white space) is accepted.  Unused bits of the
 * last quantum are ignored, as most decoders do.
 */

tn_int_t
tn_decode_base64(tn_str_t *dst, tn_str_t *src)
{
    u_char     *d, *s;
    size_t      len, pad, i;
    tn_uint_t   v[4], k;

    len = src->len;
    s = src->data;

    if (len % 4) {
        return TN_ERROR;
    }

    pad = 0;

    if (len && s[len - 1] == '=') {
        pad = (s[len - 2] == '=') ? 2 : 1;
    }

    d = dst->data;

    for (i = 0; i < len; i += 4) {

        for (k = 0; k < 4; k++) {
            if (i + k >= len - pad) {
                v[k] = 0;
                continue;
            }

            v[k] = tn_base64_value(s[i + k]);

            if (v[k] == TN_BASE64_BAD) {
                return TN_ERROR;
            }
        }

        *d++ = (u_char) (v[0] << 2 | v[1] >> 4);

        if (i + 4 < len || pad < 2) {
            *d++ = (u_char) ((v[1] << 4 | v[2] >> 2) & 0xff);
        }

        if (i + 4 < len || pad < 1) {
            *d++ = (u_char) ((v[2] << 6 | v[3]) & 0xff);
        }
    }

    dst->len = (size_t) (d - dst->data);

    return TN_OK;
}


u_char *
tn_escape_log(u_char *dst, u_char *src, size_t size)
{
    u_char  ch;

    while (size--) {
        ch = *src++;

        if (ch >= 0x20 && ch <= 0x7e && ch != '\\' && ch != '"') {
            *dst++ = ch;
            continue;
        }

        *dst++ = '\\';
        *dst++ = 'x';
        *dst++ = tn_hex_uc[ch >> 4];
        *dst++ = tn_hex_uc[ch & 0xf];
    }

    return dst;
}


tn_int_t
tn_memcmp_const(const u_char *s1, const u_char *s2, size_t n)
{
    size_t                  i;
    volatile unsigned int   diff;

    /* the time depends on n only, never on where the bytes differ */

    diff = 0;

    for (i = 0; i < n; i++) {
        diff |= (unsigned int) (s1[i] ^ s2[i]);
    }

    /* 0 when diff is 0, 1 otherwise, without a branch */
    return (tn_int_t) ((diff + 0xff) >> 8);
}


/*
 * A stable insertion sort that swaps neighbours in place, so it needs no
 * memory; it is meant for the short arrays of configuration.
 */

void
tn_sort(void *base, size_t n, size_t size,
    tn_int_t (*cmp)(const void *, const void *))
{
    u_char  *p, *a, *b, t;
    size_t   i, j, k;

    p = base;

    for (i = 1; i < n; i++) {

        for (j = i; j > 0; j--) {
            a = p + (j - 1) * size;
            b = p + j * size;

            if (cmp(a, b) <= 0) {
                break;
            }

            for (k = 0; k < size; k++) {
                t = a[k];
                a[k] = b[k];
                b[k] = t;
            }
        }
    }
}
