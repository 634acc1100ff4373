
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


/* the Bootstring parameters of Punycode (RFC 3492 section 5) */
#define TN_PUNY_BASE          36
#define TN_PUNY_TMIN          1
#define TN_PUNY_TMAX          26
#define TN_PUNY_SKEW          38
#define TN_PUNY_DAMP          700
#define TN_PUNY_INITIAL_BIAS  72
#define TN_PUNY_INITIAL_N     0x80

#define TN_IDNA_ACE_PREFIX    "xn--"
#define TN_IDNA_ACE_LEN       4


static tn_int_t tn_idna_label(u_char *dst, size_t size, u_char *src,
    size_t len);
static tn_int_t tn_idna_punycode(u_char *dst, size_t size, uint32_t *cp,
    size_t n);
static uint32_t tn_idna_adapt(uint32_t delta, uint32_t points,
    tn_uint_t first);


tn_int_t
tn_idna_to_ascii(u_char *dst, size_t size, u_char *src, size_t len)
{
    u_char     *p, *end, *label, *d, *last;
    size_t      n;
    tn_int_t    rc;
    tn_uint_t   ascii;

    size = tn_min(size, TN_IDNA_DOMAIN_MAX);

    d = dst;
    last = dst + size;
    p = src;
    end = src + len;

    for ( ;; ) {
        label = p;
        ascii = 1;

        while (p < end && *p != '.') {
            if (*p >= 0x80) {
                ascii = 0;
            }

            p++;
        }

        n = p - label;

        if (n == 0) {
            /* an empty name, or a leading, trailing or double dot */
            return TN_ERROR;
        }

        if (ascii) {
            if (n > TN_IDNA_LABEL_MAX || n > (size_t) (last - d)) {
                return TN_ERROR;
            }

            while (label < p) {
                *d++ = tn_tolower(*label);
                label++;
            }

        } else {
            rc = tn_idna_label(d, last - d, label, n);
            if (rc == TN_ERROR) {
                return TN_ERROR;
            }

            d += rc;
        }

        if (p == end) {
            return d - dst;
        }

        if (d == last) {
            return TN_ERROR;
        }

        *d++ = '.';
        p++;
    }
}


/*
 * One label with non-ASCII characters: "xn--" and its Punycode, at most
 * TN_IDNA_LABEL_MAX octets.  Every code point of the label costs at least
 * one output octet, so a label of more code points than that cannot fit
 * and the array below is enough.
 */

static tn_int_t
tn_idna_label(u_char *dst, size_t size, u_char *src, size_t len)
{
    u_char    *p, *end;
    size_t     n;
    tn_int_t   rc;
    uint32_t   u, cp[TN_IDNA_LABEL_MAX];

    size = tn_min(size, TN_IDNA_LABEL_MAX);

    if (size <= TN_IDNA_ACE_LEN) {
        return TN_ERROR;
    }

    n = 0;
    p = src;
    end = src + len;

    while (p < end) {
        u = tn_utf8_decode(&p, end - p);

        if (u >= 0x80 && !tn_utf8_non_ascii(u)) {
            return TN_ERROR;
        }

        if (n == TN_IDNA_LABEL_MAX) {
            return TN_ERROR;
        }

        cp[n++] = (u < 0x80) ? tn_tolower(u) : u;
    }

    /* RFC 5891 4.2.3.1: the hyphen rules of a U-label */

    if (n == 0 || cp[0] == '-' || cp[n - 1] == '-'
        || (n >= 4 && cp[2] == '-' && cp[3] == '-'))
    {
        return TN_ERROR;
    }

    tn_memcpy(dst, TN_IDNA_ACE_PREFIX, TN_IDNA_ACE_LEN);

    rc = tn_idna_punycode(dst + TN_IDNA_ACE_LEN, size - TN_IDNA_ACE_LEN,
                          cp, n);
    if (rc == TN_ERROR) {
        return TN_ERROR;
    }

    return rc + TN_IDNA_ACE_LEN;
}


#define tn_idna_digit(d)                                                     \
    (u_char) ((d) < 26 ? 'a' + (d) : '0' + (d) - 26)

#define tn_idna_put(c)                                                       \
    do {                                                                     \
        if (out == size) {                                                   \
            return TN_ERROR;                                                 \
        }                                                                    \
        dst[out++] = (c);                                                    \
    } while (0)


/*
 * The Punycode encoder of RFC 3492 section 6.3: the basic (ASCII) code
 * points as they are, a '-' if there were any, then each insertion of a
 * non-basic code point as a variable-length integer of delta.  Returns
 * the length written to dst (at most size), or TN_ERROR if it does not
 * fit or delta overflows (which the callers' limits already prevent).
 */

static tn_int_t
tn_idna_punycode(u_char *dst, size_t size, uint32_t *cp, size_t n)
{
    size_t     out, i;
    uint32_t   next, m, delta, bias, q, t, k, h, b;

    out = 0;

    for (i = 0; i < n; i++) {
        if (cp[i] < 0x80) {
            tn_idna_put((u_char) cp[i]);
        }
    }

    b = (uint32_t) out;
    h = b;

    if (b > 0) {
        tn_idna_put('-');
    }

    next = TN_PUNY_INITIAL_N;
    delta = 0;
    bias = TN_PUNY_INITIAL_BIAS;

    while (h < n) {

        /* the smallest code point not handled yet */

        m = 0xffffffff;

        for (i = 0; i < n; i++) {
            if (cp[i] >= next && cp[i] < m) {
                m = cp[i];
            }
        }

        if (m - next > (0xffffffff - delta) / (h + 1)) {
            return TN_ERROR;
        }

        delta += (m - next) * (h + 1);
        next = m;

        for (i = 0; i < n; i++) {

            if (cp[i] < next) {
                if (++delta == 0) {
                    return TN_ERROR;
                }

                continue;
            }

            if (cp[i] != next) {
                continue;
            }

            /* delta as a generalized variable-length integer */

            q = delta;

            for (k = TN_PUNY_BASE; /* void */ ; k += TN_PUNY_BASE) {
                if (k <= bias) {
                    t = TN_PUNY_TMIN;

                } else if (k >= bias + TN_PUNY_TMAX) {
                    t = TN_PUNY_TMAX;

                } else {
                    t = k - bias;
                }

                if (q < t) {
                    break;
                }

                tn_idna_put(tn_idna_digit(t + (q - t) % (TN_PUNY_BASE - t)));
                q = (q - t) / (TN_PUNY_BASE - t);
            }

            tn_idna_put(tn_idna_digit(q));

            bias = tn_idna_adapt(delta, h + 1, h == b);
            delta = 0;
            h++;
        }

        delta++;
        next++;
    }

    return (tn_int_t) out;
}


/* the bias adaptation of RFC 3492 section 6.1 */

static uint32_t
tn_idna_adapt(uint32_t delta, uint32_t points, tn_uint_t first)
{
    uint32_t  k;

    delta = first ? delta / TN_PUNY_DAMP : delta / 2;
    delta += delta / points;

    for (k = 0;
         delta > ((TN_PUNY_BASE - TN_PUNY_TMIN) * TN_PUNY_TMAX) / 2;
         k += TN_PUNY_BASE)
    {
        delta /= TN_PUNY_BASE - TN_PUNY_TMIN;
    }

    return k + (TN_PUNY_BASE - TN_PUNY_TMIN + 1) * delta
               / (delta + TN_PUNY_SKEW);
}
