
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_folder.h>


/*
 * Mailbox names: the checks of tn_store_imap.h, and the Maildir++ folder
 * name of each ("." and the components joined by ".", each in modified
 * UTF-7 with "." written "&AC4-").  The encoding is one-to-one: a name
 * on disk that does not decode, or that does not encode back to itself,
 * is not a folder of ours.
 */


static tn_int_t tn_store_name_component(u_char *p, size_t len);
static size_t tn_store_utf7_encode(u_char *dst, u_char *src, size_t len);
static u_char *tn_store_utf7_flush(u_char *dst, uint32_t *units,
    tn_uint_t n);
static tn_int_t tn_store_utf7_decode(u_char *dst, size_t *dlen, u_char *src,
    size_t len);
static u_char *tn_store_utf8_put(u_char *d, uint32_t u);
static tn_int_t tn_store_folder_dir(u_char *name, size_t len, char *dir);


static const u_char  tn_store_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";


/*
 * Names.
 */

tn_int_t
tn_store_mbox_name(tn_str_t *in, tn_uint_t create, tn_store_mbox_ref_t *ref,
    const char **reason)
{
    u_char    *p, *last, *comp;
    size_t     len;
    uint32_t   ch;
    tn_uint_t  depth;

    *reason = "invalid mailbox name";

    len = in->len;

    /* RFC 3501 6.3.3: CREATE ignores a trailing separator */
    if (create && len > 1 && in->data[len - 1] == '/') {
        len--;
    }

    if (len == 0 || len > TN_STORE_MBOX_NAME_MAX) {
        return TN_DECLINED;
    }

    tn_memcpy(ref->name, in->data, len);
    ref->name[len] = '\0';
    ref->name_len = len;

    p = ref->name;
    last = p + len;
    comp = p;
    depth = 1;

    while (p < last) {
        ch = tn_utf8_decode(&p, last - p);

        if (ch == TN_UTF8_INVALID || ch < 0x20 || ch == 0x7f
            || (ch >= 0x80 && ch < 0xa0))
        {
            return TN_DECLINED;
        }

        if (ch != '/') {
            continue;
        }

        if (tn_store_name_component(comp, p - 1 - comp) != TN_OK
            || ++depth > TN_STORE_MBOX_DEPTH_MAX)
        {
            return TN_DECLINED;
        }

        comp = p;
    }

    if (tn_store_name_component(comp, last - comp) != TN_OK) {
        return TN_DECLINED;
    }

    /* "INBOX" in any case is INBOX, as the first component too */

    if ((len == 5 || (len > 5 && ref->name[5] == '/'))
        && tn_strncasecmp(ref->name, (u_char *) "INBOX", 5) == 0)
    {
        tn_memcpy(ref->name, "INBOX", 5);
    }

    if (tn_store_folder_dir(ref->name, len, ref->dir) != TN_OK) {
        *reason = "mailbox name too long";
        return TN_DECLINED;
    }

    return TN_OK;
}


static tn_int_t
tn_store_name_component(u_char *p, size_t len)
{
    if (len == 0 || len > TN_STORE_MBOX_COMPONENT_MAX) {
        return TN_ERROR;
    }

    if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
    {
        return TN_ERROR;
    }

    return TN_OK;
}


/* the folder name of a valid IMAP name: "" for INBOX */

static tn_int_t
tn_store_folder_dir(u_char *name, size_t len, char *dir)
{
    u_char  *p, *last, *slash, *d;
    u_char   buf[8 * TN_STORE_MBOX_COMPONENT_MAX + 8];

    if (len == 5 && tn_strncmp(name, "INBOX", 5) == 0) {
        dir[0] = '\0';
        return TN_OK;
    }

    d = (u_char *) dir;
    *d++ = '.';

    for (p = name, last = name + len; p < last; p = slash + 1) {
        slash = memchr(p, '/', last - p);
        if (slash == NULL) {
            slash = last;
        }

        if (p != name) {
            *d++ = '.';
        }

        len = tn_store_utf7_encode(buf, p, slash - p);

        if ((size_t) (d - (u_char *) dir) + len > NAME_MAX) {
            return TN_ERROR;
        }

        d = tn_cpymem(d, buf, len);
    }

    *d = '\0';

    return TN_OK;
}


/*
 * Modified UTF-7 of one component (valid UTF-8): printable ASCII but
 * "&" and "." as it is, "&" as "&-", anything else in a base64 run of
 * UTF-16.  dst has room for 8 bytes per input byte.
 */

static size_t
tn_store_utf7_encode(u_char *dst, u_char *src, size_t len)
{
    u_char     *d, *last;
    uint32_t    ch, units[2 * TN_STORE_MBOX_COMPONENT_MAX];
    tn_uint_t   n;

    d = dst;
    last = src + len;
    n = 0;

    while (src < last) {
        ch = tn_utf8_decode(&src, last - src);

        if (ch >= 0x20 && ch < 0x7f && ch != '.') {
            if (n) {
                d = tn_store_utf7_flush(d, units, n);
                n = 0;
            }

            *d++ = (u_char) ch;

            if (ch == '&') {
                *d++ = '-';
            }

            continue;
        }

        if (ch >= 0x10000) {
            ch -= 0x10000;
            units[n++] = 0xd800 + (ch >> 10);
            units[n++] = 0xdc00 + (ch & 0x3ff);

        } else {
            units[n++] = ch;
        }
    }

    if (n) {
        d = tn_store_utf7_flush(d, units, n);
    }

    return d - dst;
}


static u_char *
tn_store_utf7_flush(u_char *dst, uint32_t *units, tn_uint_t n)
{
    uint32_t   bits;
    tn_uint_t  i, nbits;

    *dst++ = '&';

    bits = 0;
    nbits = 0;

    for (i = 0; i < n; i++) {
        bits = (bits << 16) | units[i];
        nbits += 16;

        while (nbits >= 6) {
            nbits -= 6;
            *dst++ = tn_store_b64[(bits >> nbits) & 0x3f];
        }

        bits &= (1u << nbits) - 1;
    }

    if (nbits) {
        *dst++ = tn_store_b64[(bits << (6 - nbits)) & 0x3f];
    }

    *dst++ = '-';

    return dst;
}


/* one component back to UTF-8; dst has room for 2 * len bytes */

static tn_int_t
tn_store_utf7_decode(u_char *dst, size_t *dlen, u_char *src, size_t len)
{
    u_char     *d, *last, *v;
    uint32_t    bits, unit, hi;
    tn_uint_t   nbits;

    d = dst;
    last = src + len;

    while (src < last) {
        if (*src < 0x20 || *src > 0x7e) {
            return TN_ERROR;
        }

        if (*src != '&') {
            *d++ = *src++;
            continue;
        }

        src++;

        if (src < last && *src == '-') {
            *d++ = '&';
            src++;
            continue;
        }

        bits = 0;
        nbits = 0;
        hi = 0;

        for ( ;; ) {
            if (src == last) {
                return TN_ERROR;
            }

            if (*src == '-') {
                src++;
                break;
            }

            v = (u_char *) strchr((char *) tn_store_b64, *src++);
            if (v == NULL || *v == '\0') {
                return TN_ERROR;
            }

            bits = (bits << 6) | (v - tn_store_b64);
            nbits += 6;

            if (nbits < 16) {
                continue;
            }

            nbits -= 16;
            unit = (bits >> nbits) & 0xffff;
            bits &= (1u << nbits) - 1;

            if (unit >= 0xd800 && unit < 0xdc00) {
                if (hi) {
                    return TN_ERROR;
                }

                hi = unit;
                continue;
            }

            if (unit >= 0xdc00 && unit < 0xe000) {
                if (hi == 0) {
                    return TN_ERROR;
                }

                unit = 0x10000 + ((hi - 0xd800) << 10) + (unit - 0xdc00);
                hi = 0;

            } else if (hi) {
                return TN_ERROR;
            }

            d = tn_store_utf8_put(d, unit);
        }

        /* a run ends on a whole unit, padded with zero bits */
        if (hi || nbits >= 6 || bits != 0) {
            return TN_ERROR;
        }
    }

    *dlen = d - dst;

    return TN_OK;
}


static u_char *
tn_store_utf8_put(u_char *d, uint32_t u)
{
    if (u < 0x80) {
        *d++ = (u_char) u;

    } else if (u < 0x800) {
        *d++ = (u_char) (0xc0 | (u >> 6));
        *d++ = (u_char) (0x80 | (u & 0x3f));

    } else if (u < 0x10000) {
        *d++ = (u_char) (0xe0 | (u >> 12));
        *d++ = (u_char) (0x80 | ((u >> 6) & 0x3f));
        *d++ = (u_char) (0x80 | (u & 0x3f));

    } else {
        *d++ = (u_char) (0xf0 | (u >> 18));
        *d++ = (u_char) (0x80 | ((u >> 12) & 0x3f));
        *d++ = (u_char) (0x80 | ((u >> 6) & 0x3f));
        *d++ = (u_char) (0x80 | (u & 0x3f));
    }

    return d;
}


/* an IMAP name from a folder name on disk, if it is one of ours */

tn_int_t
tn_store_folder_name(u_char *dir, size_t len, u_char *name, size_t *nlen)
{
    u_char  *p, *last, *dot, *n;
    size_t   dlen;
    char     check[NAME_MAX + 1];

    if (len < 2 || len > NAME_MAX || dir[0] != '.') {
        return TN_ERROR;
    }

    n = name;

    for (p = dir + 1, last = dir + len; p <= last; p = dot + 1) {
        dot = memchr(p, '.', last - p);
        if (dot == NULL) {
            dot = last;
        }

        if (dot == p || (size_t) (n - name) + 2 * (dot - p) + 1
                        > TN_STORE_MBOX_NAME_MAX)
        {
            return TN_ERROR;
        }

        if (p != dir + 1) {
            *n++ = '/';
        }

        if (tn_store_utf7_decode(n, &dlen, p, dot - p) != TN_OK) {
            return TN_ERROR;
        }

        n += dlen;
    }

    *n = '\0';
    *nlen = n - name;

    /* one-to-one: it must be what we would write for that name */

    if (tn_store_folder_dir(name, *nlen, check) != TN_OK
        || strlen(check) != len || tn_memcmp(check, dir, len) != 0)
    {
        return TN_ERROR;
    }

    return TN_OK;
}


tn_int_t
tn_store_folder_dir_safe(const u_char *dir, size_t len)
{
    if (len < 2 || len > NAME_MAX || dir[0] != '.'
        || (len == 2 && dir[1] == '.')
        || memchr(dir, '/', len) || memchr(dir, '\0', len))
    {
        return TN_ERROR;
    }

    return TN_OK;
}
