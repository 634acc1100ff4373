/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * src/core/tn_idna.c: the UTF-8 decoder (every 1..3-byte input and the
 * 4-byte ones by their first two bytes, against a plain encoder), the
 * Punycode encoder on the sample strings of RFC 3492 section 7.1 and
 * tn_idna_to_ascii() on names, limits and malformed input.  The expected
 * Punycode was checked with Python's "punycode" codec, an independent
 * implementation.  The file under test is included whole.
 */


#include <tn_config.h>
#include <tn_core.h>

#include "../../src/core/tn_idna.c"


#define S(s)  { sizeof(s) - 1, (u_char *) s }


static tn_uint_t  tn_test_n;
static tn_uint_t  tn_test_failed;


static void tn_test_ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
tn_test_ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
        printf("not ");
    }

    printf("ok %u - ", (unsigned) tn_test_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


/* printable text of bytes for the test names */

static char *
tn_test_escape(char *dst, const u_char *src, size_t len)
{
    char    *d;
    size_t   i;

    d = dst;

    for (i = 0; i < len && i < 64; i++) {
        if (src[i] >= 0x20 && src[i] < 0x7f) {
            *d++ = src[i];

        } else {
            d += sprintf(d, "\\x%02x", src[i]);
        }
    }

    *d = '\0';

    return dst;
}


/* the reference: the shortest UTF-8 of u (any u up to 0x1fffff) */

static size_t
tn_test_utf8_encode(u_char *p, uint32_t u)
{
    if (u < 0x80) {
        p[0] = (u_char) u;
        return 1;
    }

    if (u < 0x800) {
        p[0] = (u_char) (0xc0 | (u >> 6));
        p[1] = (u_char) (0x80 | (u & 0x3f));
        return 2;
    }

    if (u < 0x10000) {
        p[0] = (u_char) (0xe0 | (u >> 12));
        p[1] = (u_char) (0x80 | ((u >> 6) & 0x3f));
        p[2] = (u_char) (0x80 | (u & 0x3f));
        return 3;
    }

    p[0] = (u_char) (0xf0 | (u >> 18));
    p[1] = (u_char) (0x80 | ((u >> 12) & 0x3f));
    p[2] = (u_char) (0x80 | ((u >> 6) & 0x3f));
    p[3] = (u_char) (0x80 | (u & 0x3f));
    return 4;
}


/*
 * The reference decision for buf[0..n): valid exactly when a prefix is
 * the shortest encoding of a code point up to U+10FFFF that is not a
 * surrogate (UTF-8 is prefix-free, so at most one prefix is).  Returns
 * the code point and its length in *len, or TN_UTF8_INVALID.
 */

static uint32_t
tn_test_utf8_ref(u_char *buf, size_t n, size_t *len)
{
    u_char    enc[4];
    size_t    l, i;
    uint32_t  u, bits;

    /* the code point the first bytes would give, whatever the lead */

    if (buf[0] < 0x80) {
        *len = 1;
        return buf[0];
    }

    for (l = 2; l <= 4 && l <= n; l++) {
        bits = (l == 2) ? 0x1f : (l == 3) ? 0x0f : 0x07;
        u = buf[0] & bits;

        for (i = 1; i < l; i++) {
            u = (u << 6) | (buf[i] & 0x3f);
        }

        if (u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
            continue;
        }

        if (tn_test_utf8_encode(enc, u) == l && memcmp(enc, buf, l) == 0) {
            *len = l;
            return u;
        }
    }

    return TN_UTF8_INVALID;
}


static int
tn_test_utf8_one(u_char *buf, size_t n)
{
    u_char    *p;
    size_t     rlen;
    uint32_t   u, ref;

    p = buf;
    u = tn_utf8_decode(&p, n);
    ref = tn_test_utf8_ref(buf, n, &rlen);

    if (u != ref) {
        return 0;
    }

    if (u == TN_UTF8_INVALID) {
        return p == buf;
    }

    return (size_t) (p - buf) == rlen;
}


static void
tn_test_utf8(void)
{
    static struct {
        tn_str_t    in;
        uint32_t    u;
        const char *name;
    } cases[] = {
        { S("A"), 0x41, "ASCII" },
        { S("\0"), 0, "NUL decodes (the caller refuses it)" },
        { S("\x7f"), 0x7f, "DEL" },
        { S("\xc2\x80"), 0x80, "U+0080 decodes (a C1 control)" },
        { S("\xc2\x9f"), 0x9f, "U+009F decodes (a C1 control)" },
        { S("\xc2\xa0"), 0xa0, "U+00A0" },
        { S("\xc3\xbc"), 0xfc, "u-umlaut" },
        { S("\xdf\xbf"), 0x7ff, "U+07FF" },
        { S("\xe0\xa0\x80"), 0x800, "U+0800" },
        { S("\xed\x9f\xbf"), 0xd7ff, "U+D7FF" },
        { S("\xee\x80\x80"), 0xe000, "U+E000" },
        { S("\xef\xbf\xbf"), 0xffff, "U+FFFF" },
        { S("\xf0\x90\x80\x80"), 0x10000, "U+10000" },
        { S("\xf4\x8f\xbf\xbf"), 0x10ffff, "U+10FFFF" },
        { S("\xc3\xbcx"), 0xfc, "followed by ASCII" },

        { S("\xc0\xaf"), TN_UTF8_INVALID, "overlong C0 AF" },
        { S("\xc1\xbf"), TN_UTF8_INVALID, "overlong C1 BF" },
        { S("\xe0\x80\x80"), TN_UTF8_INVALID, "overlong E0 80 80" },
        { S("\xe0\x9f\xbf"), TN_UTF8_INVALID, "overlong E0 9F BF" },
        { S("\xf0\x80\x80\x80"), TN_UTF8_INVALID, "overlong F0 80 80 80" },
        { S("\xf0\x8f\xbf\xbf"), TN_UTF8_INVALID, "overlong F0 8F BF BF" },
        { S("\xed\xa0\x80"), TN_UTF8_INVALID, "surrogate ED A0 80" },
        { S("\xed\xbf\xbf"), TN_UTF8_INVALID, "surrogate ED BF BF" },
        { S("\xf4\x90\x80\x80"), TN_UTF8_INVALID, "F4 90 80 80" },
        { S("\xf5\x80\x80\x80"), TN_UTF8_INVALID, "F5" },
        { S("\xf8\x88\x80\x80\x80"), TN_UTF8_INVALID, "5 bytes" },
        { S("\xfe"), TN_UTF8_INVALID, "FE" },
        { S("\xff"), TN_UTF8_INVALID, "FF" },
        { S("\x80"), TN_UTF8_INVALID, "lone continuation 80" },
        { S("\xbf"), TN_UTF8_INVALID, "lone continuation BF" },
        { S("\xc3"), TN_UTF8_INVALID, "truncated C3" },
        { S("\xe2\x82"), TN_UTF8_INVALID, "truncated E2 82" },
        { S("\xf0\x9f\x98"), TN_UTF8_INVALID, "truncated F0 9F 98" },
        { S("\xc3\x41"), TN_UTF8_INVALID, "C3 then ASCII" },
        { S("\xe2\x28\xa1"), TN_UTF8_INVALID, "E2 28 A1" },
        { S("\xe2\x82\xc3\xbc"), TN_UTF8_INVALID, "E2 82 then a lead" },
    };

    static u_char  edges[] = { 0x7f, 0x80, 0xbf, 0xc0 };

    u_char     buf[4], *p;
    size_t     i;
    uint32_t   u, b0, b1, b2, b3;
    tn_uint_t  bad;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p = cases[i].in.data;
        u = tn_utf8_decode(&p, cases[i].in.len);

        tn_test_ok(u == cases[i].u
                   && (u == TN_UTF8_INVALID
                       ? p == cases[i].in.data
                       : p > cases[i].in.data),
                   "utf8: %s", cases[i].name);
    }

    /* a valid character cut by n, the bytes available */

    p = (u_char *) "\xf0\x9f\x98\x80";
    tn_test_ok(tn_utf8_decode(&p, 3) == TN_UTF8_INVALID
               && tn_utf8_decode(&p, 4) == 0x1f600,
               "utf8: n ends a sequence early");

    /* every input of 1, 2 and 3 bytes */

    bad = 0;

    for (b0 = 0; b0 < 256; b0++) {
        buf[0] = (u_char) b0;
        bad += !tn_test_utf8_one(buf, 1);

        for (b1 = 0; b1 < 256; b1++) {
            buf[1] = (u_char) b1;
            bad += !tn_test_utf8_one(buf, 2);

            for (b2 = 0; b2 < 256; b2++) {
                buf[2] = (u_char) b2;
                bad += !tn_test_utf8_one(buf, 3);
            }
        }
    }

    tn_test_ok(bad == 0, "utf8: all 1..3-byte inputs (%u wrong)",
               (unsigned) bad);

    /* 4 bytes: every first two, the last two from the edges */

    bad = 0;

    for (b0 = 0xe0; b0 < 256; b0++) {
        for (b1 = 0; b1 < 256; b1++) {
            for (b2 = 0; b2 < 4; b2++) {
                for (b3 = 0; b3 < 256; b3++) {
                    buf[0] = (u_char) b0;
                    buf[1] = (u_char) b1;
                    buf[2] = edges[b2];
                    buf[3] = (u_char) b3;
                    bad += !tn_test_utf8_one(buf, 4);
                }
            }
        }
    }

    tn_test_ok(bad == 0, "utf8: 4-byte inputs (%u wrong)", (unsigned) bad);

    /* every code point round trips */

    bad = 0;

    for (u = 0; u <= 0x10ffff; u++) {
        if (u >= 0xd800 && u <= 0xdfff) {
            continue;
        }

        i = tn_test_utf8_encode(buf, u);
        p = buf;

        if (tn_utf8_decode(&p, i) != u || p != buf + i) {
            bad++;
        }
    }

    tn_test_ok(bad == 0, "utf8: every code point round trips");

    tn_test_ok(!tn_utf8_non_ascii(0x80) && !tn_utf8_non_ascii(0x9f)
               && tn_utf8_non_ascii(0xa0) && tn_utf8_non_ascii(0x10ffff)
               && !tn_utf8_non_ascii(TN_UTF8_INVALID),
               "utf8: tn_utf8_non_ascii()");
}


/* RFC 3492 section 7.1, code points as the RFC lists them */

static uint32_t  tn_test_a[] = {
    0x0644, 0x064a, 0x0647, 0x0645, 0x0627, 0x0628, 0x062a, 0x0643, 0x0644,
    0x0645, 0x0648, 0x0634, 0x0639, 0x0631, 0x0628, 0x064a, 0x061f, 0
};
static uint32_t  tn_test_b[] = {
    0x4ed6, 0x4eec, 0x4e3a, 0x4ec0, 0x4e48, 0x4e0d, 0x8bf4, 0x4e2d, 0x6587, 0
};
static uint32_t  tn_test_c[] = {
    0x4ed6, 0x5011, 0x7232, 0x4ec0, 0x9ebd, 0x4e0d, 0x8aaa, 0x4e2d, 0x6587, 0
};
static uint32_t  tn_test_d[] = {
    0x0050, 0x0072, 0x006f, 0x010d, 0x0070, 0x0072, 0x006f, 0x0073, 0x0074,
    0x011b, 0x006e, 0x0065, 0x006d, 0x006c, 0x0075, 0x0076, 0x00ed, 0x010d,
    0x0065, 0x0073, 0x006b, 0x0079, 0
};
static uint32_t  tn_test_e[] = {
    0x05dc, 0x05de, 0x05d4, 0x05d4, 0x05dd, 0x05e4, 0x05e9, 0x05d5, 0x05d8,
    0x05dc, 0x05d0, 0x05de, 0x05d3, 0x05d1, 0x05e8, 0x05d9, 0x05dd, 0x05e2,
    0x05d1, 0x05e8, 0x05d9, 0x05ea, 0
};
static uint32_t  tn_test_f[] = {
    0x092f, 0x0939, 0x0932, 0x094b, 0x0917, 0x0939, 0x093f, 0x0928, 0x094d,
    0x0926, 0x0940, 0x0915, 0x094d, 0x092f, 0x094b, 0x0902, 0x0928, 0x0939,
    0x0940, 0x0902, 0x092c, 0x094b, 0x0932, 0x0938, 0x0915, 0x0924, 0x0947,
    0x0939, 0x0948, 0x0902, 0
};
static uint32_t  tn_test_g[] = {
    0x306a, 0x305c, 0x307f, 0x3093, 0x306a, 0x65e5, 0x672c, 0x8a9e, 0x3092,
    0x8a71, 0x3057, 0x3066, 0x304f, 0x308c, 0x306a, 0x3044, 0x306e, 0x304b,
    0
};
static uint32_t  tn_test_h[] = {
    0xc138, 0xacc4, 0xc758, 0xbaa8, 0xb4e0, 0xc0ac, 0xb78c, 0xb4e4, 0xc774,
    0xd55c, 0xad6d, 0xc5b4, 0xb97c, 0xc774, 0xd574, 0xd55c, 0xb2e4, 0xba74,
    0xc5bc, 0xb9c8, 0xb098, 0xc88b, 0xc744, 0xae4c, 0
};
static uint32_t  tn_test_i[] = {
    0x043f, 0x043e, 0x0447, 0x0435, 0x043c, 0x0443, 0x0436, 0x0435, 0x043e,
    0x043d, 0x0438, 0x043d, 0x0435, 0x0433, 0x043e, 0x0432, 0x043e, 0x0440,
    0x044f, 0x0442, 0x043f, 0x043e, 0x0440, 0x0443, 0x0441, 0x0441, 0x043a,
    0x0438, 0
};
static uint32_t  tn_test_j[] = {
    0x0050, 0x006f, 0x0072, 0x0071, 0x0075, 0x00e9, 0x006e, 0x006f, 0x0070,
    0x0075, 0x0065, 0x0064, 0x0065, 0x006e, 0x0073, 0x0069, 0x006d, 0x0070,
    0x006c, 0x0065, 0x006d, 0x0065, 0x006e, 0x0074, 0x0065, 0x0068, 0x0061,
    0x0062, 0x006c, 0x0061, 0x0072, 0x0065, 0x006e, 0x0045, 0x0073, 0x0070,
    0x0061, 0x00f1, 0x006f, 0x006c, 0
};
static uint32_t  tn_test_k[] = {
    0x0054, 0x1ea1, 0x0069, 0x0073, 0x0061, 0x006f, 0x0068, 0x1ecd, 0x006b,
    0x0068, 0x00f4, 0x006e, 0x0067, 0x0074, 0x0068, 0x1ec3, 0x0063, 0x0068,
    0x1ec9, 0x006e, 0x00f3, 0x0069, 0x0074, 0x0069, 0x1ebf, 0x006e, 0x0067,
    0x0056, 0x0069, 0x1ec7, 0x0074, 0
};
static uint32_t  tn_test_l[] = {
    0x0033, 0x5e74, 0x0042, 0x7d44, 0x91d1, 0x516b, 0x5148, 0x751f, 0
};
static uint32_t  tn_test_m[] = {
    0x5b89, 0x5ba4, 0x5948, 0x7f8e, 0x6075, 0x002d, 0x0077, 0x0069, 0x0074,
    0x0068, 0x002d, 0x0053, 0x0055, 0x0050, 0x0045, 0x0052, 0x002d, 0x004d,
    0x004f, 0x004e, 0x004b, 0x0045, 0x0059, 0x0053, 0
};
static uint32_t  tn_test_n_[] = {
    0x0048, 0x0065, 0x006c, 0x006c, 0x006f, 0x002d, 0x0041, 0x006e, 0x006f,
    0x0074, 0x0068, 0x0065, 0x0072, 0x002d, 0x0057, 0x0061, 0x0079, 0x002d,
    0x305d, 0x308c, 0x305e, 0x308c, 0x306e, 0x5834, 0x6240, 0
};
static uint32_t  tn_test_o[] = {
    0x3072, 0x3068, 0x3064, 0x5c4b, 0x6839, 0x306e, 0x4e0b, 0x0032, 0
};
static uint32_t  tn_test_p[] = {
    0x004d, 0x0061, 0x006a, 0x0069, 0x3067, 0x004b, 0x006f, 0x0069, 0x3059,
    0x308b, 0x0035, 0x79d2, 0x524d, 0
};
static uint32_t  tn_test_q[] = {
    0x30d1, 0x30d5, 0x30a3, 0x30fc, 0x0064, 0x0065, 0x30eb, 0x30f3, 0x30d0,
    0
};
static uint32_t  tn_test_r[] = {
    0x305d, 0x306e, 0x30b9, 0x30d4, 0x30fc, 0x30c9, 0x3067, 0
};
static uint32_t  tn_test_s[] = {
    0x002d, 0x003e, 0x0020, 0x0024, 0x0031, 0x002e, 0x0030, 0x0030, 0x0020,
    0x003c, 0x002d, 0
};


static void
tn_test_punycode(void)
{
    /*
     * The RFC shows some letters of the encoded part in upper case (its
     * "mixed-case annotation"); the encoder writes them in lower case, as
     * the RFC's own sample implementation does without annotation.
     */
    static struct {
        const char  *name;
        uint32_t    *cp;
        const char  *expect;
    } cases[] = {
        { "(A) Arabic (Egyptian)", tn_test_a, "egbpdaj6bu4bxfgehfvwxn" },
        { "(B) Chinese (simplified)", tn_test_b, "ihqwcrb4cv8a8dqg056pqjye" },
        { "(C) Chinese (traditional)", tn_test_c,
          "ihqwctvzc91f659drss3x8bo0yb" },
        { "(D) Czech", tn_test_d, "Proprostnemluvesky-uyb24dma41a" },
        { "(E) Hebrew", tn_test_e, "4dbcagdahymbxekheh6e0a7fei0b" },
        { "(F) Hindi (Devanagari)", tn_test_f,
          "i1baa7eci9glrd9b2ae1bj0hfcgg6iyaf8o0a1dig0cd" },
        { "(G) Japanese (kanji and hiragana)", tn_test_g,
          "n8jok5ay5dzabd5bym9f0cm5685rrjetr6pdxa" },
        { "(H) Korean (Hangul syllables)", tn_test_h,
          "989aomsvi5e83db1d2a355cv1e0vak1dwrv93d5xbh15a0dt30a5jpsd879ccm6f"
          "ea98c" },
        { "(I) Russian (Cyrillic)", tn_test_i,
          "b1abfaaepdrnnbgefbadotcwatmq2g4l" },
        { "(J) Spanish", tn_test_j,
          "PorqunopuedensimplementehablarenEspaol-fmd56a" },
        { "(K) Vietnamese", tn_test_k,
          "TisaohkhngthchnitingVit-kjcr8268qyxafd2f1b9g" },
        { "(L) 3<nen>B<gumi><kinpachi><sensei>", tn_test_l,
          "3B-ww4c5e180e575a65lsy2b" },
        { "(M) <amuro><namie>-with-SUPER-MONKEYS", tn_test_m,
          "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n" },
        { "(N) Hello-Another-Way-<sorezore><no><basho>", tn_test_n_,
          "Hello-Another-Way--fc4qua05auwb3674vfr0b" },
        { "(O) <hitotsu><yane><no><shita>2", tn_test_o,
          "2-u9tlzr9756bt3uc0v" },
        { "(P) Maji<de>Koi<suru>5<byou><mae>", tn_test_p,
          "MajiKoi5-783gue6qz075azm5e" },
        { "(Q) <pafii>de<runba>", tn_test_q, "de-jg4avhby1noc0d" },
        { "(R) <sono><supiido><de>", tn_test_r, "d9juau41awczczp" },
        { "(S) -> $1.00 <-", tn_test_s, "-> $1.00 <--" },
    };

    u_char     out[256];
    size_t     i, n, len;
    tn_int_t   rc;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (n = 0; cases[i].cp[n]; n++) { /* void */ }

        len = strlen(cases[i].expect);

        rc = tn_idna_punycode(out, sizeof(out), cases[i].cp, n);

        if (rc != (tn_int_t) len || memcmp(out, cases[i].expect, len) != 0)
        {
            printf("# got \"%.*s\"\n", rc > 0 ? (int) rc : 0, out);
        }

        tn_test_ok(rc == (tn_int_t) len
                   && memcmp(out, cases[i].expect, len) == 0,
                   "punycode: RFC 3492 %s", cases[i].name);

        /* exactly enough room, then one byte less */

        rc = tn_idna_punycode(out, len, cases[i].cp, n);
        tn_test_ok(rc == (tn_int_t) len
                   && tn_idna_punycode(out, len - 1, cases[i].cp, n)
                      == TN_ERROR,
                   "punycode: %s in %u bytes, not %u", cases[i].name,
                   (unsigned) len, (unsigned) len - 1);
    }
}


static void
tn_test_to_ascii(void)
{
    static struct {
        tn_str_t     in;
        const char  *expect;     /* NULL: TN_ERROR */
    } cases[] = {
        { S("bücher.example"), "xn--bcher-kva.example" },
        { S("B\xc3\xbc" "cher.Example"), "xn--bcher-kva.example" },
        { S("xn--bcher-kva.example"), "xn--bcher-kva.example" },
        { S("XN--BCHER-KVA.EXAMPLE"), "xn--bcher-kva.example" },
        /* non-ASCII is not case folded: another A-label */
        { S("BÜCHER.example"), "xn--bcher-2pa.example" },
        { S("ü"), "xn--tda" },
        { S("Ü"), "xn--wca" },
        { S("Mail.Example.COM"), "mail.example.com" },
        { S("localhost"), "localhost" },
        { S("a.b.c.ü.d"), "a.b.c.xn--tda.d" },
        { S("jösé"), "xn--js-cja4c" },
        { S("他们为什么不说中文.test"), "xn--ihqwcrb4cv8a8dqg056pqjye.test" },
        { S("3年B組金八先生.test"), "xn--3b-ww4c5e180e575a65lsy2b.test" },
        { S("MajiでKoiする5秒前.test"),
          "xn--majikoi5-783gue6qz075azm5e.test" },
        { S("почемужеонинеговорятпорусски.рф"),
          "xn--b1abfaaepdrnnbgefbadotcwatmq2g4l.xn--p1ai" },
        { S("\xc2\xa0x.test"), "xn--x-3ba.test" },
        { S("\xf4\x8f\xbf\xbf.test"), "xn--dn32g.test" },
        { S("a\xf4\x8f\xbf\xbf" "b"), "xn--ab-ke24y" },

        /* (H) of RFC 3492 is 73 octets as an A-label */
        { S("세계의모든사람들이한국어를이해한다면얼마나좋을까.test"), NULL },

        /* the hyphen rules of U-labels (ASCII labels are the caller's) */
        { S("-\xc3\xbc.example"), NULL },
        { S("\xc3\xbc-.example"), NULL },
        { S("ab--\xc3\xbc.example"), NULL },
        { S("\xc3\xbc" "b--c.example"), NULL },
        { S("\xc3\xbc" "bc--d.example"), "xn--bc--d-jva.example" },
        { S("a-\xc3\xbc.example"), "xn--a--yka.example" },
        { S("-a.example-"), "-a.example-" },

        /* empty labels */
        { S(""), NULL },
        { S("."), NULL },
        { S(".example"), NULL },
        { S("example."), NULL },
        { S("a..b"), NULL },
        { S("ü..b"), NULL },
        { S("ü."), NULL },

        /* malformed UTF-8 and C1 controls */
        { S("b\xc3.example"), NULL },
        { S("example.b\xc3"), NULL },
        { S("\xc0\xaf.example"), NULL },
        { S("\xe0\x80\x80.example"), NULL },
        { S("\xed\xa0\x80.example"), NULL },
        { S("\xf4\x90\x80\x80.example"), NULL },
        { S("\x80.example"), NULL },
        { S("a\xbf" "b.example"), NULL },
        { S("\xc2\x80.example"), NULL },
        { S("\xc2\x9f" "a.example"), NULL },
        { S("\xff.example"), NULL },
        { S("\xe2\x82.\xac"), NULL },
    };

    u_char     out[512];
    char       name[512];
    size_t     i;
    tn_int_t   rc;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = tn_idna_to_ascii(out, sizeof(out), cases[i].in.data,
                              cases[i].in.len);

        tn_test_escape(name, cases[i].in.data, cases[i].in.len);

        if (cases[i].expect == NULL) {
            tn_test_ok(rc == TN_ERROR, "to_ascii \"%s\": error", name);
            continue;
        }

        if (rc != (tn_int_t) strlen(cases[i].expect)
            || memcmp(out, cases[i].expect, rc) != 0)
        {
            printf("# got %d \"%.*s\"\n", (int) rc, rc > 0 ? (int) rc : 0,
                   out);
        }

        tn_test_ok(rc == (tn_int_t) strlen(cases[i].expect)
                   && memcmp(out, cases[i].expect, rc) == 0,
                   "to_ascii \"%s\" -> %s", name, cases[i].expect);
    }
}


/* label and name limits, counted after encoding */

static void
tn_test_limits(void)
{
    u_char     in[1024], out[1024], *p;
    size_t     i;
    tn_int_t   rc;

    /* "a" x 55 + u-umlaut: an A-label of 63; "a" x 56: 64 */

    for (i = 55; i <= 56; i++) {
        tn_memset(in, 'a', i);
        p = tn_cpymem(in + i, "\xc3\xbc.x", 4);

        rc = tn_idna_to_ascii(out, sizeof(out), in, p - in);

        tn_test_ok(i == 55 ? rc == 65
                             && memcmp(out + 55 + 4, "-8yf.x", 6) == 0
                           : rc == TN_ERROR,
                   "an A-label of %u octets", (unsigned) i + 8);
    }

    /* ASCII labels of 63 and 64 */

    for (i = 63; i <= 64; i++) {
        tn_memset(in, 'A', i);
        rc = tn_idna_to_ascii(out, sizeof(out), in, i);

        tn_test_ok(i == 63 ? rc == 63 && out[0] == 'a' && out[62] == 'a'
                           : rc == TN_ERROR,
                   "an ASCII label of %u octets", (unsigned) i);
    }

    /* 63.63.63 + "." + a 63-octet A-label: 255; one more label: 256+ */

    p = in;

    for (i = 0; i < 3; i++) {
        tn_memset(p, 'b', 63);
        p += 63;
        *p++ = '.';
    }

    tn_memset(p, 'a', 55);
    p = tn_cpymem(p + 55, "\xc3\xbc", 2);

    rc = tn_idna_to_ascii(out, sizeof(out), in, p - in);
    tn_test_ok(rc == 255, "a name of 255 octets after encoding");

    rc = tn_idna_to_ascii(out, 254, in, p - in);
    tn_test_ok(rc == TN_ERROR, "the same in 254 bytes of room");

    in[0] = 'x';
    in[1] = '.';
    rc = tn_idna_to_ascii(out, sizeof(out), in, p - in);
    tn_test_ok(rc == 255 && out[0] == 'x' && out[1] == '.',
               "a shorter first label keeps 255");

    p = tn_cpymem(p, ".y", 2);
    rc = tn_idna_to_ascii(out, sizeof(out), in, p - in);
    tn_test_ok(rc == TN_ERROR, "a name of 257 octets");

    /* the room given is never passed */

    tn_memset(out, 0xee, sizeof(out));
    rc = tn_idna_to_ascii(out, 10, (u_char *) "bücher.example", 15);
    tn_test_ok(rc == TN_ERROR && out[10] == 0xee, "no room: error");

    rc = tn_idna_to_ascii(out, 21, (u_char *) "bücher.example", 15);
    tn_test_ok(rc == 21, "exactly enough room");

    tn_memset(out, 0xee, sizeof(out));
    rc = tn_idna_to_ascii(out, 20, (u_char *) "bücher.example", 15);
    tn_test_ok(rc == TN_ERROR && out[20] == 0xee, "one byte short");

    /* a label of 64 code points of 2 octets each never fits */

    p = in;

    for (i = 0; i < 200; i++) {
        p = tn_cpymem(p, "\xc3\xbc", 2);
    }

    rc = tn_idna_to_ascii(out, sizeof(out), in, p - in);
    tn_test_ok(rc == TN_ERROR, "200 code points in a label");
}


int
main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);

    tn_test_utf8();
    tn_test_punycode();
    tn_test_to_ascii();
    tn_test_limits();

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
