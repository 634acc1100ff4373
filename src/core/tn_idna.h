
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_IDNA_H_INCLUDED_
#define _TN_IDNA_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 * UTF-8 (RFC 3629) and internationalized domain names (RFC 5890, the
 * Punycode of RFC 3492).  The one place Tern checks UTF-8: the SMTP path
 * parser, the store's address checks and the IDNA conversion all use
 * tn_utf8_decode().
 */


/* RFC 1035 2.3.4: a name and a label in octets */
#define TN_IDNA_DOMAIN_MAX  255
#define TN_IDNA_LABEL_MAX   63

#define TN_UTF8_INVALID     0xffffffff


/*
 * Decodes the character at *p, of which n > 0 bytes are available: its
 * code point, *p moved past it; or TN_UTF8_INVALID and *p unchanged for
 * anything that is not well-formed UTF-8 (RFC 3629 section 4): a lone
 * continuation byte, an overlong form (lead bytes C0 and C1, E0 followed
 * by 80..9F, F0 followed by 80..8F), a surrogate (ED A0..BF), a code
 * point above U+10FFFF (F4 90.., F5..FF) or a sequence cut short by the
 * end (n) or by a byte that is not a continuation byte.  ASCII (and NUL)
 * decodes to itself: the caller checks the characters it allows.
 *
 * Inline so that the byte parsers, which the unit tests and fuzz
 * harnesses include as .c files, need no other object.
 */

static tn_inline uint32_t
tn_utf8_decode(u_char **p, size_t n)
{
    u_char    *s;
    size_t     len, i;
    uint32_t   u, min;

    s = *p;
    u = s[0];

    if (u < 0x80) {
        *p = s + 1;
        return u;
    }

    if (u >= 0xc2 && u <= 0xdf) {
        len = 2;
        u &= 0x1f;
        min = 0x80;

    } else if (u >= 0xe0 && u <= 0xef) {
        len = 3;
        u &= 0x0f;
        min = 0x800;

    } else if (u >= 0xf0 && u <= 0xf4) {
        len = 4;
        u &= 0x07;
        min = 0x10000;

    } else {
        /* 80..BF: a continuation byte; C0, C1, F5..FF never appear */
        return TN_UTF8_INVALID;
    }

    if (n < len) {
        return TN_UTF8_INVALID;
    }

    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return TN_UTF8_INVALID;
        }

        u = (u << 6) | (s[i] & 0x3f);
    }

    /* overlong, above the Unicode range, or a UTF-16 surrogate */

    if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
        return TN_UTF8_INVALID;
    }

    *p = s + len;

    return u;
}


/*
 * A code point from tn_utf8_decode() that is a non-ASCII character an
 * address or a domain name may hold (RFC 6531 UTF8-non-ascii): decoded
 * (not TN_UTF8_INVALID) and not a C1 control (U+0080..U+009F), which
 * would reach logs and terminals.  A function, not a macro: callers pass
 * tn_utf8_decode() itself, which must run once.
 */

static tn_inline tn_uint_t
tn_utf8_non_ascii(uint32_t u)
{
    return u >= 0xa0 && u != TN_UTF8_INVALID;
}


/*
 * A domain name in its ASCII form (RFC 5890 A-labels), written to dst
 * (size bytes, no NUL is added).  ASCII letters are lowercased; a label
 * with any non-ASCII character becomes "xn--" and the Punycode of the
 * label (its ASCII letters lowercased first); all-ASCII labels are copied
 * (lowercased), so "xn--..." A-labels pass through.
 *
 * Returns the length, or TN_ERROR for: an empty name or label (a leading,
 * trailing or double dot: the root "." is not accepted), malformed UTF-8
 * or a C1 control (see tn_utf8_decode()), a label with non-ASCII
 * characters that starts or ends with '-' or has "--" as its third and
 * fourth characters (RFC 5891 4.2.3.1), a label longer than
 * TN_IDNA_LABEL_MAX or a result longer than TN_IDNA_DOMAIN_MAX octets
 * once encoded, or a result that does not fit in size.  dst and src
 * must not overlap.
 *
 * This is the Punycode step of IDNA2008 only.  Non-ASCII characters are
 * not case folded or NFC normalised and the IDNA2008 code point rules
 * (RFC 5892) are not checked, since those need Unicode tables: "Ü" and
 * "ü", or a precomposed and a decomposed "ü", give different A-labels.
 * The ASCII characters are not checked either (a caller wanting host
 * names checks the result for letters, digits and hyphens).  Callers
 * compare the A-label forms, so that a U-label and its A-label name the
 * same domain.
 */
tn_int_t tn_idna_to_ascii(u_char *dst, size_t size, u_char *src,
    size_t len);


#endif /* _TN_IDNA_H_INCLUDED_ */
