
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include "tn_mail_mime.h"


/*
 * The header fields of the MIME parser: each unfolded field is gathered
 * in p->field (cut at max_header_line), given to the header() handler,
 * and the Content-* ones are parsed into the level: type, subtype,
 * transfer encoding and disposition into fixed token buffers, parameter
 * values and the other fields into the level's info block (at most
 * max_part_info bytes), as offsets until the part starts, since the block
 * may move while it grows.  tn_mail_mime_resolve() turns them into the
 * tn_str_t of the part at the end of the header.
 */


#define TN_MAIL_MIME_INFO_INIT   512


typedef struct {
    tn_str_t                name;
    tn_uint_t               index;
} tn_mail_mime_simple_t;


static void tn_mail_mime_field_mime(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl, tn_mail_mime_field_t *f);
static void tn_mail_mime_parse_ctype(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl, u_char *s, size_t len, tn_uint_t disp);
static void tn_mail_mime_parse_params(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl, u_char *pos, u_char *e, tn_uint_t disp);
static tn_int_t tn_mail_mime_param_name(tn_mail_mime_rparam_t *r,
    u_char *name, size_t len);
static void tn_mail_mime_params_join(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl, tn_uint_t n, tn_uint_t disp, size_t need);
static void tn_mail_mime_params_sections(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl, tn_uint_t n, tn_uint_t disp,
    tn_mail_mime_rparam_t *first);
static tn_mail_mime_rparam_t *tn_mail_mime_section(tn_mail_mime_t *p,
    tn_uint_t n, tn_mail_mime_rparam_t *first, tn_uint_t section);
static void tn_mail_mime_param_ext(tn_mail_mime_level_t *lvl,
    tn_mail_mime_iparam_t *ip, tn_mail_mime_rparam_t *r, tn_uint_t first);
static tn_uint_t tn_mail_mime_param_seen(tn_mail_mime_level_t *lvl,
    tn_uint_t disp, u_char *name, size_t len);
static tn_mail_mime_iparam_t *tn_mail_mime_iparam_add(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl, tn_uint_t disp);
static void tn_mail_mime_parse_cte(tn_mail_mime_level_t *lvl, u_char *s,
    size_t len);
static void tn_mail_mime_parse_simple(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl, tn_uint_t i, u_char *s, size_t len);
static tn_mail_mime_ref_t tn_mail_mime_info_put(tn_mail_mime_level_t *lvl,
    u_char *data, size_t len);
static tn_mail_mime_ref_t tn_mail_mime_info_unquote(
    tn_mail_mime_level_t *lvl, u_char *data, size_t len, tn_uint_t quoted);
static tn_mail_mime_ref_t tn_mail_mime_info_pct(tn_mail_mime_level_t *lvl,
    u_char *data, size_t len);
static u_char *tn_mail_mime_skip_cfws(u_char *pos, u_char *end);
static u_char *tn_mail_mime_token(u_char *pos, u_char *end);
static tn_uint_t tn_mail_mime_ascii(u_char *s, size_t len);
static tn_uint_t tn_mail_mime_same(u_char *s1, size_t len1, u_char *s2,
    size_t len2);
static tn_int_t tn_mail_mime_hexval(u_char ch);
static tn_int_t tn_mail_mime_info_reserve(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl, size_t n);
static void tn_mail_mime_resolve_type(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl);
static void tn_mail_mime_resolve_params(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl);
static void tn_mail_mime_resolve_container(tn_mail_mime_t *p,
    tn_mail_mime_level_t *lvl);
static void tn_mail_mime_param_set(tn_mail_mime_level_t *lvl,
    tn_mail_mime_param_t *prm, tn_mail_mime_iparam_t *ip);
static void tn_mail_mime_str(tn_mail_mime_level_t *lvl, tn_str_t *s,
    tn_mail_mime_ref_t *ref);


static u_char  tn_mail_mime_empty[] = "";

static tn_mail_mime_param_t  tn_mail_mime_default_charset = {
    tn_string("charset"), tn_string("us-ascii"), tn_string(""),
    tn_string(""), 0
};

static const tn_mail_mime_simple_t  tn_mail_mime_simple[] = {
    { tn_string("content-id"), 0 },
    { tn_string("content-description"), 1 },
    { tn_string("content-language"), 2 },
    { tn_string("content-location"), 3 },
    { tn_string("content-md5"), 4 },
    { tn_null_string, 0 }
};


/* header fields */

void
tn_mail_mime_field_begin(tn_mail_mime_t *p)
{
    p->field_on = 1;
    p->field_len = 0;
    p->field_truncated = 0;
    p->field_offset = p->line_offset;
    p->field_lines = 0;
}


void
tn_mail_mime_field_add(tn_mail_mime_t *p, u_char *data, size_t len)
{
    size_t   room, want;
    u_char  *f;

    if (!p->field_on || len == 0) {
        return;
    }

    room = p->limits.max_header_line - p->field_len;

    if (len > room) {
        len = room;
        p->field_truncated = 1;
    }

    if (p->field_len + len > p->field_size) {
        want = tn_max(p->field_size * 2, p->field_len + len);
        want = tn_min(want, p->limits.max_header_line);

        f = tn_mail_mime_grow(p, p->field, p->field_len, want);
        if (f == NULL) {
            p->field_on = 0;
            return;
        }

        p->field = f;
        p->field_size = want;
    }

    tn_memcpy(p->field + p->field_len, data, len);
    p->field_len += len;
}


/*
 * The field being read is complete (the next line is not a continuation,
 * or the header ended): the header() call, then the Content-* fields.
 */

void
tn_mail_mime_field_end(tn_mail_mime_t *p)
{
    u_char                *colon, *e, *v;
    tn_mail_mime_level_t  *lvl;
    tn_mail_mime_part_t   *part;
    tn_mail_mime_field_t   f;

    if (!p->field_on) {
        return;
    }

    p->field_on = 0;

    lvl = p->levels[p->top];
    part = &lvl->part;

    tn_memzero(&f, sizeof(tn_mail_mime_field_t));

    e = p->field + p->field_len;
    colon = memchr(p->field, ':', p->field_len);

    if (colon == NULL) {
        f.no_colon = 1;
        part->flags |= TN_MAIL_MIME_F_HEADER_BROKEN;

        f.name.data = p->field;
        f.name.len = p->field_len;
        f.value.data = tn_mail_mime_empty;

    } else {
        f.name.data = p->field;
        f.name.len = colon - p->field;

        while (f.name.len
               && (f.name.data[f.name.len - 1] == ' '
                   || f.name.data[f.name.len - 1] == '\t'))
        {
            f.name.len--;
        }

        for (v = colon + 1; v < e && (*v == ' ' || *v == '\t'); v++) {
            /* void */
        }

        f.value.data = v;
        f.value.len = e - v;
    }

    if (f.name.len == 0) {
        f.name.data = tn_mail_mime_empty;
    }

    f.offset = p->field_offset;
    f.size = p->line_offset - p->field_offset;
    f.lines = p->field_lines;
    f.truncated = p->field_truncated;

    if (p->field_truncated) {
        part->flags |= TN_MAIL_MIME_F_HEADER_TRUNCATED;
        p->limits_hit |= TN_MAIL_MIME_LIMIT_HEADER_LINE;
    }

    if (p->rc != TN_OK) {
        return;
    }

    if (p->handlers.header) {
        p->rc = p->handlers.header(p, part, &f);

        if (p->rc != TN_OK) {
            return;
        }
    }

    if (!f.no_colon && f.name.len > 8
        && tn_strncasecmp(f.name.data, (u_char *) "content-", 8) == 0)
    {
        tn_mail_mime_field_mime(p, lvl, &f);
    }
}


static void
tn_mail_mime_field_mime(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    tn_mail_mime_field_t *f)
{
    const tn_mail_mime_simple_t  *s;

    if (f->name.len == 12
        && tn_strncasecmp(f->name.data, (u_char *) "content-type", 12) == 0)
    {
        if (!lvl->seen_ctype) {
            lvl->seen_ctype = 1;
            tn_mail_mime_parse_ctype(p, lvl, f->value.data, f->value.len, 0);
        }

        return;
    }

    if (f->name.len == 25
        && tn_strncasecmp(f->name.data,
                          (u_char *) "content-transfer-encoding", 25) == 0)
    {
        if (!lvl->seen_cte) {
            lvl->seen_cte = 1;
            tn_mail_mime_parse_cte(lvl, f->value.data, f->value.len);
        }

        return;
    }

    if (f->name.len == 19
        && tn_strncasecmp(f->name.data,
                          (u_char *) "content-disposition", 19) == 0)
    {
        if (!lvl->seen_disp) {
            lvl->seen_disp = 1;
            tn_mail_mime_parse_ctype(p, lvl, f->value.data, f->value.len, 1);
        }

        return;
    }

    for (s = tn_mail_mime_simple; s->name.len; s++) {
        if (f->name.len == s->name.len
            && tn_strncasecmp(f->name.data, s->name.data, s->name.len) == 0)
        {
            if (!(lvl->seen_simple & (1 << s->index))) {
                lvl->seen_simple |= 1 << s->index;
                tn_mail_mime_parse_simple(p, lvl, s->index, f->value.data,
                                          f->value.len);
            }

            return;
        }
    }
}


/* Content-* values */

/*
 * Content-Type (disp == 0) or Content-Disposition (disp == 1), RFC 2045
 * 5.1 and RFC 2183: "type/subtype" or "disposition", then parameters.
 * An invalid type leaves valid_ctype unset: the default type is used,
 * without these parameters.
 */

static void
tn_mail_mime_parse_ctype(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    u_char *s, size_t len, tn_uint_t disp)
{
    u_char  *pos, *e, *t, *st;
    size_t   tlen, stlen;

    e = s + len;

    pos = tn_mail_mime_skip_cfws(s, e);
    t = pos;
    pos = tn_mail_mime_token(pos, e);
    tlen = pos - t;

    if (tlen == 0 || tlen >= TN_MAIL_MIME_TOKEN_MAX
        || !tn_mail_mime_ascii(t, tlen))
    {
        return;
    }

    if (disp) {
        tn_strlow(lvl->disp, t, tlen);
        lvl->disp_len = tlen;

        tn_mail_mime_parse_params(p, lvl, pos, e, 1);
        return;
    }

    pos = tn_mail_mime_skip_cfws(pos, e);

    if (pos == e || *pos != '/') {
        return;
    }

    pos = tn_mail_mime_skip_cfws(pos + 1, e);
    st = pos;
    pos = tn_mail_mime_token(pos, e);
    stlen = pos - st;

    if (stlen == 0 || stlen >= TN_MAIL_MIME_TOKEN_MAX
        || !tn_mail_mime_ascii(st, stlen))
    {
        return;
    }

    tn_strlow(lvl->type, t, tlen);
    lvl->type_len = tlen;
    tn_strlow(lvl->subtype, st, stlen);
    lvl->subtype_len = stlen;
    lvl->valid_ctype = 1;

    tn_mail_mime_parse_params(p, lvl, pos, e, 0);
}


/*
 * The parameters "; name=value" after the type, into p->rparams, then
 * joined.  Lenient: garbage is skipped to the next ';', a value may be a
 * token with any 8-bit byte, and an unquoted value followed by more text
 * before the next ';' ("name=my file.pdf") takes that text.  At most
 * max_params of them (RFC 2231 segments count one each).
 */

static void
tn_mail_mime_parse_params(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    u_char *pos, u_char *e, tn_uint_t disp)
{
    u_char                 *start, *name, *v, *q;
    size_t                  nlen, vlen;
    tn_uint_t               n, quoted;
    tn_mail_mime_rparam_t  *r;

    start = pos;
    n = 0;

    for ( ;; ) {
        pos = tn_mail_mime_skip_cfws(pos, e);

        if (pos == e) {
            break;
        }

        if (*pos != ';') {
            lvl->part.flags |= TN_MAIL_MIME_F_BAD_PARAMS;

            pos = memchr(pos, ';', e - pos);
            if (pos == NULL) {
                break;
            }
        }

        pos = tn_mail_mime_skip_cfws(pos + 1, e);

        if (pos == e) {
            break;
        }

        name = pos;
        pos = tn_mail_mime_token(pos, e);
        nlen = pos - name;
        pos = tn_mail_mime_skip_cfws(pos, e);

        if (nlen == 0 || pos == e || *pos != '=') {
            if (nlen || (pos < e && *pos != ';')) {
                lvl->part.flags |= TN_MAIL_MIME_F_BAD_PARAMS;
            }

            continue;
        }

        pos = tn_mail_mime_skip_cfws(pos + 1, e);
        quoted = 0;

        if (pos < e && *pos == '"') {
            quoted = 1;
            v = ++pos;

            while (pos < e && *pos != '"') {
                pos += (*pos == '\\' && pos + 1 < e) ? 2 : 1;
            }

            vlen = pos - v;

            if (pos < e) {
                pos++;
            }

        } else {
            v = pos;

            while (pos < e && *pos != ';' && *pos != ' ' && *pos != '\t'
                   && *pos != CR && *pos != LF && *pos != '('
                   && *pos != '"')
            {
                pos++;
            }

            vlen = pos - v;

            for (q = pos; q < e && (*q == ' ' || *q == '\t'); q++) {
                /* void */
            }

            if (q < e && *q != ';' && *q != '(' && *q != CR && *q != LF) {
                /* "name=my file.pdf": the value runs to the ';' */
                q = memchr(q, ';', e - q);
                pos = q ? q : e;

                for (vlen = pos - v;
                     vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t');
                     vlen--)
                {
                    /* void */
                }
            }
        }

        if (n == p->limits.max_params) {
            lvl->part.flags |= TN_MAIL_MIME_F_BAD_PARAMS;
            p->limits_hit |= TN_MAIL_MIME_LIMIT_PARAMS;
            break;
        }

        r = &p->rparams[n];
        r->value = v;
        r->value_len = vlen;
        r->quoted = quoted;
        r->done = 0;

        if (tn_mail_mime_param_name(r, name, nlen) != TN_OK) {
            lvl->part.flags |= TN_MAIL_MIME_F_BAD_PARAMS;
            continue;
        }

        n++;
    }

    if (n) {
        tn_mail_mime_params_join(p, lvl, n, disp, e - start);
    }
}


/*
 * RFC 2231 names: "name", "name*" (extended), "name*N" (section N) and
 * "name*N*" (extended section N).  Section numbers have at most 9 digits;
 * a number past max_params can never join and is dropped later.
 */

static tn_int_t
tn_mail_mime_param_name(tn_mail_mime_rparam_t *r, u_char *name, size_t len)
{
    u_char    *star, *e, *d;
    tn_int_t   section;

    e = name + len;
    star = memchr(name, '*', len);

    r->name = name;
    r->section = -1;
    r->encoded = 0;

    if (star == NULL) {
        r->name_len = len;
        return TN_OK;
    }

    r->name_len = star - name;

    if (r->name_len == 0) {
        return TN_ERROR;
    }

    if (star + 1 == e) {
        r->encoded = 1;
        return TN_OK;
    }

    section = 0;

    for (d = star + 1; d < e && *d >= '0' && *d <= '9'; d++) {
        if (d - star > 9) {
            return TN_ERROR;
        }

        section = section * 10 + (*d - '0');
    }

    if (d == star + 1) {
        return TN_ERROR;
    }

    if (d + 1 == e && *d == '*') {
        r->encoded = 1;

    } else if (d != e) {
        return TN_ERROR;
    }

    r->section = section;

    return TN_OK;
}


/*
 * The raw parameters of one field become the level's parameters: the
 * RFC 2231 forms first (a continuation is joined from section 0 up to
 * the first missing one; extended sections are %XX-decoded, the first
 * one giving charset and language), then the plain ones; a name already
 * given is skipped.  Everything written fits in need bytes: it is made
 * of pieces of the field.
 */

static void
tn_mail_mime_params_join(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    tn_uint_t n, tn_uint_t disp, size_t need)
{
    tn_uint_t               i;
    tn_mail_mime_rparam_t  *r;
    tn_mail_mime_iparam_t  *ip;

    if (tn_mail_mime_info_reserve(p, lvl, need) != TN_OK) {
        return;
    }

    /* the RFC 2231 forms */

    for (i = 0; i < n; i++) {
        r = &p->rparams[i];

        if (r->done || (r->section < 0 && !r->encoded)) {
            continue;
        }

        if (tn_mail_mime_param_seen(lvl, disp, r->name, r->name_len)) {
            r->done = 1;
            continue;
        }

        if (r->section >= 0) {
            tn_mail_mime_params_sections(p, lvl, n, disp, r);
            continue;
        }

        r->done = 1;

        ip = tn_mail_mime_iparam_add(p, lvl, disp);
        if (ip == NULL) {
            return;
        }

        ip->name = tn_mail_mime_info_put(lvl, r->name, r->name_len);
        ip->extended = 1;
        tn_mail_mime_param_ext(lvl, ip, r, 1);
    }

    /* the plain ones */

    for (i = 0; i < n; i++) {
        r = &p->rparams[i];

        if (r->done) {
            continue;
        }

        r->done = 1;

        if (tn_mail_mime_param_seen(lvl, disp, r->name, r->name_len)) {
            continue;
        }

        ip = tn_mail_mime_iparam_add(p, lvl, disp);
        if (ip == NULL) {
            return;
        }

        ip->name = tn_mail_mime_info_put(lvl, r->name, r->name_len);
        ip->value = tn_mail_mime_info_unquote(lvl, r->value, r->value_len,
                                              r->quoted);
    }
}


/*
 * Joins the sections of first's name, from 0 up to the first missing
 * one.  Without a section 0 nothing is kept.  Sections after a gap or
 * given twice are dropped and flagged.
 */

static void
tn_mail_mime_params_sections(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    tn_uint_t n, tn_uint_t disp, tn_mail_mime_rparam_t *first)
{
    size_t                  start;
    tn_uint_t               section;
    tn_mail_mime_rparam_t  *r;
    tn_mail_mime_iparam_t  *ip;

    ip = NULL;
    start = 0;

    for (section = 0; /* void */ ; section++) {
        r = tn_mail_mime_section(p, n, first, section);

        if (r == NULL) {
            break;
        }

        r->done = 1;

        if (section == 0) {
            ip = tn_mail_mime_iparam_add(p, lvl, disp);
            if (ip == NULL) {
                return;
            }

            ip->name = tn_mail_mime_info_put(lvl, first->name,
                                             first->name_len);
            ip->extended = 1;
            start = lvl->info_len;

            if (r->encoded) {
                tn_mail_mime_param_ext(lvl, ip, r, 1);
                start = ip->value.off;
                continue;
            }
        }

        if (r->encoded) {
            (void) tn_mail_mime_info_pct(lvl, r->value, r->value_len);

        } else {
            (void) tn_mail_mime_info_unquote(lvl, r->value, r->value_len,
                                             r->quoted);
        }
    }

    if (ip) {
        ip->value.off = (uint32_t) start;
        ip->value.len = (uint32_t) (lvl->info_len - start);
    }

    for (r = p->rparams; r < p->rparams + n; r++) {
        if (!r->done && r->section >= 0
            && tn_mail_mime_same(r->name, r->name_len, first->name,
                                 first->name_len))
        {
            r->done = 1;
            lvl->part.flags |= TN_MAIL_MIME_F_BAD_PARAMS;
        }
    }
}


static tn_mail_mime_rparam_t *
tn_mail_mime_section(tn_mail_mime_t *p, tn_uint_t n,
    tn_mail_mime_rparam_t *first, tn_uint_t section)
{
    tn_mail_mime_rparam_t  *r;

    for (r = p->rparams; r < p->rparams + n; r++) {
        if (!r->done && r->section == (tn_int_t) section
            && tn_mail_mime_same(r->name, r->name_len, first->name,
                                 first->name_len))
        {
            return r;
        }
    }

    return NULL;
}


/*
 * An extended value: "charset'language'%XX..." when first, else only
 * %XX.  Quotes (not allowed by RFC 2231, but sent) are taken off.
 */

static void
tn_mail_mime_param_ext(tn_mail_mime_level_t *lvl, tn_mail_mime_iparam_t *ip,
    tn_mail_mime_rparam_t *r, tn_uint_t first)
{
    u_char  *v, *e, *q1, *q2;

    v = r->value;
    e = v + r->value_len;

    if (first) {
        q1 = memchr(v, '\'', e - v);
        q2 = q1 ? memchr(q1 + 1, '\'', e - q1 - 1) : NULL;

        if (q2) {
            ip->charset = tn_mail_mime_info_put(lvl, v, q1 - v);
            ip->language = tn_mail_mime_info_put(lvl, q1 + 1, q2 - q1 - 1);
            v = q2 + 1;

        } else {
            lvl->part.flags |= TN_MAIL_MIME_F_BAD_PARAMS;
        }
    }

    ip->value = tn_mail_mime_info_pct(lvl, v, e - v);
}


static tn_uint_t
tn_mail_mime_param_seen(tn_mail_mime_level_t *lvl, tn_uint_t disp,
    u_char *name, size_t len)
{
    tn_uint_t               i;
    tn_mail_mime_iparam_t  *ip;

    for (i = 0; i < lvl->niparams; i++) {
        ip = &lvl->iparams[i];

        if (ip->disp == disp
            && tn_mail_mime_same(lvl->info + ip->name.off, ip->name.len,
                                 name, len))
        {
            return 1;
        }
    }

    return 0;
}


static tn_mail_mime_iparam_t *
tn_mail_mime_iparam_add(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    tn_uint_t disp)
{
    tn_uint_t               want;
    tn_mail_mime_iparam_t  *ip;

    if (lvl->niparams == lvl->niparams_alloc) {
        want = tn_max(8, 2 * lvl->niparams_alloc);

        ip = tn_mail_mime_grow(p, lvl->iparams,
                               lvl->niparams * sizeof(tn_mail_mime_iparam_t),
                               want * sizeof(tn_mail_mime_iparam_t));
        if (ip == NULL) {
            return NULL;
        }

        lvl->iparams = ip;
        lvl->niparams_alloc = want;
    }

    ip = &lvl->iparams[lvl->niparams++];
    tn_memzero(ip, sizeof(tn_mail_mime_iparam_t));
    ip->disp = disp;

    return ip;
}


/* Content-Transfer-Encoding: its first token, lowercase */

static void
tn_mail_mime_parse_cte(tn_mail_mime_level_t *lvl, u_char *s, size_t len)
{
    u_char  *pos, *e, *t;
    size_t   tlen;

    e = s + len;
    pos = tn_mail_mime_skip_cfws(s, e);
    t = pos;
    pos = tn_mail_mime_token(pos, e);

    /* a longer one is no known encoding either */
    tlen = tn_min((size_t) (pos - t), TN_MAIL_MIME_TOKEN_MAX - 1);

    tn_strlow(lvl->cte, t, tlen);
    lvl->cte_len = tlen;
}


/* Content-ID and the like: the value without surrounding blanks */

static void
tn_mail_mime_parse_simple(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    tn_uint_t i, u_char *s, size_t len)
{
    u_char  *e;

    e = s + len;

    while (s < e && (*s == ' ' || *s == '\t' || *s == CR || *s == LF)) {
        s++;
    }

    while (e > s
           && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == CR || e[-1] == LF))
    {
        e--;
    }

    if (e == s || tn_mail_mime_info_reserve(p, lvl, e - s) != TN_OK) {
        return;
    }

    lvl->simple[i] = tn_mail_mime_info_put(lvl, s, e - s);
}


/* writers into the info block, within what was reserved */

static tn_mail_mime_ref_t
tn_mail_mime_info_put(tn_mail_mime_level_t *lvl, u_char *data, size_t len)
{
    tn_mail_mime_ref_t  ref;

    ref.off = (uint32_t) lvl->info_len;
    ref.len = (uint32_t) len;

    if (len) {
        tn_memcpy(lvl->info + lvl->info_len, data, len);
        lvl->info_len += len;
    }

    return ref;
}


static tn_mail_mime_ref_t
tn_mail_mime_info_unquote(tn_mail_mime_level_t *lvl, u_char *data,
    size_t len, tn_uint_t quoted)
{
    u_char             *d, *e;
    tn_mail_mime_ref_t  ref;

    if (!quoted) {
        return tn_mail_mime_info_put(lvl, data, len);
    }

    d = lvl->info + lvl->info_len;
    e = data + len;

    while (data < e) {
        if (*data == '\\' && data + 1 < e) {
            data++;
        }

        *d++ = *data++;
    }

    ref.off = (uint32_t) lvl->info_len;
    ref.len = (uint32_t) (d - (lvl->info + lvl->info_len));
    lvl->info_len += ref.len;

    return ref;
}


/* %XX decoded; a '%' not followed by two hex digits is kept */

static tn_mail_mime_ref_t
tn_mail_mime_info_pct(tn_mail_mime_level_t *lvl, u_char *data, size_t len)
{
    u_char             *d, *e;
    tn_int_t            hi, lo;
    tn_mail_mime_ref_t  ref;

    d = lvl->info + lvl->info_len;
    e = data + len;

    while (data < e) {
        if (*data == '%' && e - data >= 3) {
            hi = tn_mail_mime_hexval(data[1]);
            lo = tn_mail_mime_hexval(data[2]);

            if (hi >= 0 && lo >= 0) {
                *d++ = (u_char) (hi << 4 | lo);
                data += 3;
                continue;
            }
        }

        *d++ = *data++;
    }

    ref.off = (uint32_t) lvl->info_len;
    ref.len = (uint32_t) (d - (lvl->info + lvl->info_len));
    lvl->info_len += ref.len;

    return ref;
}


/* RFC 822 CFWS: blanks, line ends and (nested (comments)) */

static u_char *
tn_mail_mime_skip_cfws(u_char *pos, u_char *end)
{
    size_t  depth;

    for ( ;; ) {
        while (pos < end
               && (*pos == ' ' || *pos == '\t' || *pos == CR || *pos == LF))
        {
            pos++;
        }

        if (pos == end || *pos != '(') {
            return pos;
        }

        depth = 0;

        while (pos < end) {
            if (*pos == '\\' && pos + 1 < end) {
                pos += 2;
                continue;
            }

            if (*pos == '(') {
                depth++;

            } else if (*pos == ')' && --depth == 0) {
                pos++;
                break;
            }

            pos++;
        }
    }
}


/* RFC 2045 token: no blank, CTL or tspecial; 8-bit bytes let in */

static u_char *
tn_mail_mime_token(u_char *pos, u_char *end)
{
    for ( /* void */ ; pos < end; pos++) {
        if (*pos <= 0x20 || *pos == 0x7f) {
            break;
        }

        switch (*pos) {
        case '(': case ')': case '<': case '>': case '@': case ',':
        case ';': case ':': case '\\': case '"': case '/': case '[':
        case ']': case '?': case '=':
            return pos;
        }
    }

    return pos;
}


static tn_uint_t
tn_mail_mime_ascii(u_char *s, size_t len)
{
    while (len--) {
        if (*s++ & 0x80) {
            return 0;
        }
    }

    return 1;
}


/* ASCII case-insensitive, NUL bytes included (tn_strncasecmp stops) */

static tn_uint_t
tn_mail_mime_same(u_char *s1, size_t len1, u_char *s2, size_t len2)
{
    size_t  i;

    if (len1 != len2) {
        return 0;
    }

    for (i = 0; i < len1; i++) {
        if (tn_tolower(s1[i]) != tn_tolower(s2[i])) {
            return 0;
        }
    }

    return 1;
}


static tn_int_t
tn_mail_mime_hexval(u_char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }

    ch |= 0x20;

    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }

    return -1;
}


static tn_int_t
tn_mail_mime_info_reserve(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    size_t n)
{
    size_t   want;
    u_char  *m;

    if (lvl->info_size - lvl->info_len >= n) {
        return TN_OK;
    }

    if (n > p->limits.max_part_info - lvl->info_len) {
        lvl->part.flags |= TN_MAIL_MIME_F_BAD_PARAMS;
        p->limits_hit |= TN_MAIL_MIME_LIMIT_PART_INFO;
        return TN_DECLINED;
    }

    want = tn_max(lvl->info_size * 2, TN_MAIL_MIME_INFO_INIT);
    want = tn_max(want, lvl->info_len + n);
    want = tn_min(want, p->limits.max_part_info);

    m = tn_mail_mime_grow(p, lvl->info, lvl->info_len, want);
    if (m == NULL) {
        return TN_ERROR;
    }

    lvl->info = m;
    lvl->info_size = want;

    return TN_OK;
}


/*
 * At the end of the header: the type (or its default), the parameters
 * and strings as pointers, and whether the body holds parts.
 */

void
tn_mail_mime_resolve(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl)
{
    tn_mail_mime_part_t  *part;

    part = &lvl->part;

    tn_mail_mime_resolve_type(p, lvl);
    tn_mail_mime_resolve_params(p, lvl);

    if (p->rc == TN_ERROR) {
        return;
    }

    tn_mail_mime_str(lvl, &part->id, &lvl->simple[0]);
    tn_mail_mime_str(lvl, &part->description, &lvl->simple[1]);
    tn_mail_mime_str(lvl, &part->language, &lvl->simple[2]);
    tn_mail_mime_str(lvl, &part->location, &lvl->simple[3]);
    tn_mail_mime_str(lvl, &part->md5, &lvl->simple[4]);

    tn_mail_mime_resolve_container(p, lvl);
}


static void
tn_mail_mime_resolve_type(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl)
{
    tn_mail_mime_part_t  *part, *parent;

    part = &lvl->part;
    parent = part->parent;

    if (lvl->valid_ctype) {
        part->type.data = lvl->type;
        part->type.len = lvl->type_len;
        part->subtype.data = lvl->subtype;
        part->subtype.len = lvl->subtype_len;

    } else {
        part->default_type = 1;

        if (lvl->seen_ctype) {
            part->flags |= TN_MAIL_MIME_F_BAD_CTYPE;
        }

        if (parent && parent->multipart && parent->subtype.len == 6
            && tn_memcmp(parent->subtype.data, "digest", 6) == 0)
        {
            tn_str_set(&part->type, "message");
            tn_str_set(&part->subtype, "rfc822");

        } else {
            tn_str_set(&part->type, "text");
            tn_str_set(&part->subtype, "plain");
        }
    }

    part->encoding_name.data = lvl->cte_len ? lvl->cte : tn_mail_mime_empty;
    part->encoding_name.len = lvl->cte_len;
    part->encoding = TN_MAIL_MIME_ENC_7BIT;

    if (lvl->cte_len) {
        part->encoding = TN_MAIL_MIME_ENC_OTHER;

        if (tn_mail_mime_is(part->encoding_name, "7bit")) {
            part->encoding = TN_MAIL_MIME_ENC_7BIT;

        } else if (tn_mail_mime_is(part->encoding_name, "8bit")) {
            part->encoding = TN_MAIL_MIME_ENC_8BIT;

        } else if (tn_mail_mime_is(part->encoding_name, "binary")) {
            part->encoding = TN_MAIL_MIME_ENC_BINARY;

        } else if (tn_mail_mime_is(part->encoding_name, "base64")) {
            part->encoding = TN_MAIL_MIME_ENC_BASE64;

        } else if (tn_mail_mime_is(part->encoding_name, "quoted-printable"))
        {
            part->encoding = TN_MAIL_MIME_ENC_QP;
        }
    }

    part->disposition.data = lvl->disp_len ? lvl->disp : tn_mail_mime_empty;
    part->disposition.len = lvl->disp_len;
}


static void
tn_mail_mime_resolve_params(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl)
{
    tn_uint_t               i, n, want;
    tn_mail_mime_param_t   *pa, *prm;
    tn_mail_mime_iparam_t  *ip;
    tn_mail_mime_part_t    *part;

    part = &lvl->part;

    /* every parameter kept, and room for the default charset */
    want = lvl->niparams + 1;

    if (want > lvl->nparams_alloc) {
        want = tn_max(want, 2 * lvl->nparams_alloc);

        pa = tn_mail_mime_grow(p, lvl->params, 0,
                               want * sizeof(tn_mail_mime_param_t));
        if (pa == NULL) {
            return;
        }

        lvl->params = pa;
        lvl->nparams_alloc = want;
    }

    /* Content-Type parameters first, then Content-Disposition ones */

    n = 0;

    if (lvl->valid_ctype) {
        for (i = 0; i < lvl->niparams; i++) {
            ip = &lvl->iparams[i];

            if (!ip->disp) {
                tn_mail_mime_param_set(lvl, &lvl->params[n++], ip);
            }
        }

    } else if (tn_mail_mime_is(part->type, "text")) {
        /* RFC 2045 5.2 */
        lvl->params[n++] = tn_mail_mime_default_charset;
    }

    part->params = lvl->params;
    part->nparams = n;

    part->disp_params = lvl->params + n;
    part->ndisp_params = 0;

    if (lvl->disp_len) {
        for (i = 0; i < lvl->niparams; i++) {
            ip = &lvl->iparams[i];

            if (ip->disp) {
                tn_mail_mime_param_set(lvl, &lvl->params[n++], ip);
                part->ndisp_params++;
            }
        }
    }

    prm = tn_mail_mime_param(part->params, part->nparams, "charset");
    part->charset.data = prm ? prm->value.data : tn_mail_mime_empty;
    part->charset.len = prm ? prm->value.len : 0;

    prm = tn_mail_mime_param(part->disp_params, part->ndisp_params,
                             "filename");
    if (prm == NULL) {
        prm = tn_mail_mime_param(part->params, part->nparams, "name");
    }

    part->filename.data = prm ? prm->value.data : tn_mail_mime_empty;
    part->filename.len = prm ? prm->value.len : 0;
    part->filename_charset.data = prm ? prm->charset.data
                                      : tn_mail_mime_empty;
    part->filename_charset.len = prm ? prm->charset.len : 0;

    part->boundary.data = tn_mail_mime_empty;
    part->boundary.len = 0;
}


static void
tn_mail_mime_param_set(tn_mail_mime_level_t *lvl, tn_mail_mime_param_t *prm,
    tn_mail_mime_iparam_t *ip)
{
    tn_mail_mime_str(lvl, &prm->name, &ip->name);
    tn_mail_mime_str(lvl, &prm->value, &ip->value);
    tn_mail_mime_str(lvl, &prm->charset, &ip->charset);
    tn_mail_mime_str(lvl, &prm->language, &ip->language);
    prm->extended = ip->extended;
}


/*
 * Whether the body is parsed for parts: a multipart with a usable
 * boundary, or a message/rfc822 (message/global) that is not encoded,
 * within the depth and part limits.
 */

static void
tn_mail_mime_resolve_container(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl)
{
    tn_uint_t              multipart, message;
    tn_mail_mime_param_t  *b;
    tn_mail_mime_part_t   *part;

    part = &lvl->part;
    b = NULL;

    multipart = tn_mail_mime_is(part->type, "multipart");
    message = tn_mail_mime_is(part->type, "message")
              && (tn_mail_mime_is(part->subtype, "rfc822")
                  || tn_mail_mime_is(part->subtype, "global"))
              && part->encoding <= TN_MAIL_MIME_ENC_BINARY;

    if (multipart) {
        b = tn_mail_mime_param(part->params, part->nparams, "boundary");

        if (b == NULL || b->value.len == 0) {
            part->flags |= TN_MAIL_MIME_F_NO_BOUNDARY;
            return;
        }

        if (b->value.len > p->limits.max_boundary) {
            part->flags |= TN_MAIL_MIME_F_NO_BOUNDARY;
            p->limits_hit |= TN_MAIL_MIME_LIMIT_BOUNDARY;
            return;
        }
    }

    if (b == NULL && !message) {
        return;
    }

    if (part->depth + 1 > p->limits.max_depth) {
        part->flags |= TN_MAIL_MIME_F_TOO_DEEP;
        p->limits_hit |= TN_MAIL_MIME_LIMIT_DEPTH;
        return;
    }

    if (p->frozen) {
        return;
    }

    if (message) {
        if (p->nparts >= p->limits.max_parts) {
            p->frozen = 1;
            p->limits_hit |= TN_MAIL_MIME_LIMIT_PARTS;
            return;
        }

        part->rfc822 = 1;
        return;
    }

    tn_memcpy(lvl->boundary, b->value.data, b->value.len);
    lvl->boundary_len = b->value.len;

    part->boundary.data = lvl->boundary;
    part->boundary.len = lvl->boundary_len;
    part->multipart = 1;
}


static void
tn_mail_mime_str(tn_mail_mime_level_t *lvl, tn_str_t *s,
    tn_mail_mime_ref_t *ref)
{
    if (ref->len == 0) {
        s->data = tn_mail_mime_empty;
        s->len = 0;
        return;
    }

    s->data = lvl->info + ref->off;
    s->len = ref->len;
}


tn_mail_mime_param_t *
tn_mail_mime_param(tn_mail_mime_param_t *params, tn_uint_t n,
    const char *name)
{
    size_t     len;
    tn_uint_t  i;

    len = tn_strlen(name);

    for (i = 0; i < n; i++) {
        if (params[i].name.len == len
            && tn_strncasecmp(params[i].name.data, (u_char *) name, len) == 0)
        {
            return &params[i];
        }
    }

    return NULL;
}
