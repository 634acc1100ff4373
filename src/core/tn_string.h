
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_STRING_H_INCLUDED_
#define _TN_STRING_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/* a counted string; data is not NUL-terminated unless said so */
typedef struct {
    size_t      len;
    u_char     *data;
} tn_str_t;


typedef struct {
    tn_str_t    key;
    tn_str_t    value;
} tn_keyval_t;


#define tn_string(str)     { sizeof(str) - 1, (u_char *) str }
#define tn_null_string     { 0, NULL }
#define tn_str_set(str, text)                                                \
    (str)->len = sizeof(text) - 1; (str)->data = (u_char *) text
#define tn_str_null(str)   (str)->len = 0; (str)->data = NULL

#define tn_tolower(c)      (u_char) ((c >= 'A' && c <= 'Z') ? (c | 0x20) : c)
#define tn_toupper(c)      (u_char) ((c >= 'a' && c <= 'z') ? (c & ~0x20) : c)

void tn_strlow(u_char *dst, u_char *src, size_t n);

#define tn_strncmp(s1, s2, n)  strncmp((const char *) s1, (const char *) s2, n)
#define tn_strcmp(s1, s2)  strcmp((const char *) s1, (const char *) s2)
#define tn_strstr(s1, s2)  strstr((const char *) s1, (const char *) s2)
#define tn_strlen(s)       strlen((const char *) s)
#define tn_strchr(s1, c)   strchr((const char *) s1, (int) c)

static tn_inline u_char *
tn_strlchr(u_char *p, u_char *last, u_char c)
{
    while (p < last) {
        if (*p == c) {
            return p;
        }
        p++;
    }

    return NULL;
}

#define tn_memzero(buf, n)       (void) memset(buf, 0, n)
#define tn_memset(buf, c, n)     (void) memset(buf, c, n)
#define tn_memcpy(dst, src, n)   (void) memcpy(dst, src, n)
#define tn_cpymem(dst, src, n)   (((u_char *) memcpy(dst, src, n)) + (n))
#define tn_memmove(dst, src, n)  (void) memmove(dst, src, n)
#define tn_movemem(dst, src, n)  (((u_char *) memmove(dst, src, n)) + (n))
#define tn_memcmp(s1, s2, n)     memcmp((const char *) s1, (const char *) s2, n)

/* zeroes memory in a way the compiler may not elide (for secrets) */
void tn_explicit_memzero(void *buf, size_t n);

/* copies at most n - 1 bytes and NUL-terminates; returns the NUL */
u_char *tn_cpystrn(u_char *dst, u_char *src, size_t n);
/* a NUL-terminated copy of src in pool */
u_char *tn_pstrdup(tn_pool_t *pool, tn_str_t *src);

/*
 * nginx-style formatting.  Supported:
 *   %[0][width][x][X]O        off_t
 *   %[0][width]T              time_t
 *   %[0][width][u][x|X]z      ssize_t / size_t
 *   %[0][width][u][x|X]d      int / u_int
 *   %[0][width][u][x|X]l      long
 *   %[0][width|m][u][x|X]i    tn_int_t / tn_uint_t
 *   %[0][width][u][x|X]D      int32_t / uint32_t
 *   %[0][width][u][x|X]L      int64_t / uint64_t
 *   %M                        tn_msec_t
 *   %p                        void *
 *   %V                        tn_str_t *
 *   %v                        (unused)
 *   %s                        NUL-terminated string
 *   %*s                       length and string
 *   %Z                        '\0'
 *   %N                        '\n'
 *   %c                        char
 *   %%                        %
 * The output is never NUL-terminated unless %Z is used.
 */
u_char *tn_sprintf(u_char *buf, const char *fmt, ...);
u_char *tn_snprintf(u_char *buf, size_t max, const char *fmt, ...);
u_char *tn_slprintf(u_char *buf, u_char *last, const char *fmt, ...);
u_char *tn_vslprintf(u_char *buf, u_char *last, const char *fmt,
    va_list args);
#define tn_vsnprintf(buf, max, fmt, args)                                    \
    tn_vslprintf(buf, buf + (max), fmt, args)

tn_int_t tn_strcasecmp(u_char *s1, u_char *s2);
tn_int_t tn_strncasecmp(u_char *s1, u_char *s2, size_t n);

/* the first occurrence of s2 (len n) in [s1, last); NULL if none */
u_char *tn_strlcasestrn(u_char *s1, u_char *last, u_char *s2, size_t n);
u_char *tn_strnstr(u_char *s1, char *s2, size_t n);

tn_int_t tn_memn2cmp(u_char *s1, u_char *s2, size_t n1, size_t n2);

/*
 * Decimal parsers: return TN_ERROR on an empty string, a non-digit or
 * overflow.
 */
tn_int_t tn_atoi(u_char *line, size_t n);
ssize_t tn_atosz(u_char *line, size_t n);
off_t tn_atoof(u_char *line, size_t n);
time_t tn_atotm(u_char *line, size_t n);
tn_int_t tn_hextoi(u_char *line, size_t n);

u_char *tn_hex_dump(u_char *dst, u_char *src, size_t len);

#define tn_base64_encoded_length(len)  (((len + 2) / 3) * 4)
#define tn_base64_decoded_length(len)  (((len + 3) / 4) * 3)

void tn_encode_base64(tn_str_t *dst, tn_str_t *src);
/* TN_ERROR on a character outside the alphabet or bad padding */
tn_int_t tn_decode_base64(tn_str_t *dst, tn_str_t *src);

/*
 * Escapes bytes for a log line: printable ASCII is kept, everything else
 * (CR, LF, NUL, 8-bit, '\\', '"') becomes \xHH.  dst needs 4 * size bytes;
 * returns the end of the written text.
 */
u_char *tn_escape_log(u_char *dst, u_char *src, size_t size);

/* constant-time comparison for secrets: 0 when equal */
tn_int_t tn_memcmp_const(const u_char *s1, const u_char *s2, size_t n);

void tn_sort(void *base, size_t n, size_t size,
    tn_int_t (*cmp)(const void *, const void *));
#define tn_qsort             qsort


#define tn_value_helper(n)   #n
#define tn_value(n)          tn_value_helper(n)


#endif /* _TN_STRING_H_INCLUDED_ */
