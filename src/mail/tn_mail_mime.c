
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include "tn_mail_mime.h"


/*
 * The streaming MIME parser.  Three layers:
 *
 *   bytes   tn_mail_mime_feed() runs a state machine over lines: header
 *           lines are gathered into unfolded fields, body lines are
 *           passed on as they come, except the line end before a line
 *           that starts with '-' and that line's first bytes (at most
 *           "--" + the longest open boundary + "--"), which are held
 *           until they are known not to be a boundary;
 *   parts   a stack of levels, one per open part (tn_mail_mime_push(),
 *           tn_mail_mime_part_end()): a delimiter line ends the parts
 *           above its multipart and starts a sibling;
 *   fields  Content-* fields parsed as they complete, their values kept
 *           in the level's info block until part_end.
 *
 * Every decision is made at a byte, never at the end of a fed buffer, so
 * any split gives the same result.
 */


enum {
    sw_hdr_bol = 0,            /* at the start of a header line */
    sw_hdr_bol_cr,             /* a CR starts it: an empty line? */
    sw_hdr_line,               /* inside a header line */
    sw_hdr_cr,                 /* CR inside a header line */
    sw_body_bol,               /* at the start of a body line */
    sw_body_text,              /* inside a body line, passed on */
    sw_body_cr,                /* CR inside a body line */
    sw_hold,                   /* holding a line that may be a boundary */
    sw_hold_cr,                /* CR while holding */
    sw_skip,                   /* the rest of a boundary line */
    sw_done                    /* finished */
};


#define TN_MAIL_MIME_FIELD_INIT  1024


static u_char *tn_mail_mime_hdr_bol(tn_mail_mime_t *p, u_char *pos);
static u_char *tn_mail_mime_hdr_bol_cr(tn_mail_mime_t *p, u_char *pos);
static u_char *tn_mail_mime_hdr_line(tn_mail_mime_t *p, u_char *pos,
    u_char *end);
static u_char *tn_mail_mime_hdr_cr(tn_mail_mime_t *p, u_char *pos);
static void tn_mail_mime_hdr_line_start(tn_mail_mime_t *p, u_char ch);
static void tn_mail_mime_hdr_eol(tn_mail_mime_t *p, tn_uint_t eol);
static u_char *tn_mail_mime_body_bol(tn_mail_mime_t *p, u_char *pos);
static u_char *tn_mail_mime_body_text(tn_mail_mime_t *p, u_char *pos,
    u_char *end);
static u_char *tn_mail_mime_body_cr(tn_mail_mime_t *p, u_char *pos);
static void tn_mail_mime_body_eol(tn_mail_mime_t *p, size_t n);
static u_char *tn_mail_mime_hold(tn_mail_mime_t *p, u_char *pos,
    u_char *end);
static u_char *tn_mail_mime_hold_cr(tn_mail_mime_t *p, u_char *pos);
static u_char *tn_mail_mime_skip(tn_mail_mime_t *p, u_char *pos,
    u_char *end);
static void tn_mail_mime_eol_start(tn_mail_mime_t *p);
static void tn_mail_mime_hold_start(tn_mail_mime_t *p);
static tn_uint_t tn_mail_mime_hold_byte(tn_mail_mime_t *p, u_char ch);
static void tn_mail_mime_hold_add(tn_mail_mime_t *p, u_char ch);
static void tn_mail_mime_hold_decide(tn_mail_mime_t *p, size_t eol);
static void tn_mail_mime_hold_flush(tn_mail_mime_t *p);
static void tn_mail_mime_flush_eol(tn_mail_mime_t *p);
static tn_int_t tn_mail_mime_boundary_find(tn_mail_mime_t *p);
static void tn_mail_mime_boundary_found(tn_mail_mime_t *p);
static void tn_mail_mime_boundary_next(tn_mail_mime_t *p);
static void tn_mail_mime_set_hold_max(tn_mail_mime_t *p);
static tn_mail_mime_level_t *tn_mail_mime_push(tn_mail_mime_t *p);
static void tn_mail_mime_header_done(tn_mail_mime_t *p, off_t off,
    off_t voff, off_t lines);
static void tn_mail_mime_header_end(tn_mail_mime_t *p);
static void tn_mail_mime_part_end(tn_mail_mime_t *p, off_t off,
    off_t voff, off_t lines);
static void tn_mail_mime_emit(tn_mail_mime_t *p, u_char *data, size_t len);


static u_char  tn_mail_mime_crlf[] = "\r\n";


void
tn_mail_mime_limits_default(tn_mail_mime_limits_t *limits)
{
    limits->max_depth = TN_MAIL_MIME_MAX_DEPTH;
    limits->max_parts = TN_MAIL_MIME_MAX_PARTS;
    limits->max_header_line = TN_MAIL_MIME_MAX_HEADER_LINE;
    limits->max_header_size = TN_MAIL_MIME_MAX_HEADER_SIZE;
    limits->max_params = TN_MAIL_MIME_MAX_PARAMS;
    limits->max_boundary = TN_MAIL_MIME_MAX_BOUNDARY;
    limits->max_part_info = TN_MAIL_MIME_MAX_PART_INFO;
}


tn_int_t
tn_mail_mime_init(tn_mail_mime_t *p, tn_pool_t *pool,
    const tn_mail_mime_limits_t *limits,
    const tn_mail_mime_handlers_t *handlers)
{
    tn_mail_mime_limits_t  *l;
    tn_mail_mime_level_t   *lvl;

    tn_memzero(p, sizeof(tn_mail_mime_t));

    p->pool = pool;
    l = &p->limits;
    tn_mail_mime_limits_default(l);

    if (limits) {

#define tn_mail_mime_limit(name)                                             \
        if (limits->name) {                                                  \
            l->name = limits->name;                                          \
        }

        tn_mail_mime_limit(max_depth);
        tn_mail_mime_limit(max_parts);
        tn_mail_mime_limit(max_header_line);
        tn_mail_mime_limit(max_header_size);
        tn_mail_mime_limit(max_params);
        tn_mail_mime_limit(max_boundary);
        tn_mail_mime_limit(max_part_info);

#undef tn_mail_mime_limit
    }

    if (l->max_header_line < TN_MAIL_MIME_HEADER_LINE_MIN) {
        l->max_header_line = TN_MAIL_MIME_HEADER_LINE_MIN;
    }

    if (l->max_boundary > TN_MAIL_MIME_BOUNDARY_CAP) {
        l->max_boundary = TN_MAIL_MIME_BOUNDARY_CAP;
    }

    /* refs are 32-bit offsets */
    if (l->max_part_info > 0x7fffffff) {
        l->max_part_info = 0x7fffffff;
    }

    if (handlers) {
        p->handlers = *handlers;
    }

    p->levels = tn_pcalloc(pool,
                           (l->max_depth + 1) * sizeof(tn_mail_mime_level_t *));
    p->hold = tn_pnalloc(pool, l->max_boundary + 4);
    p->rparams = tn_palloc(pool,
                           l->max_params * sizeof(tn_mail_mime_rparam_t));
    p->field = tn_pnalloc(pool, TN_MAIL_MIME_FIELD_INIT);

    if (p->levels == NULL || p->hold == NULL || p->rparams == NULL
        || p->field == NULL)
    {
        return TN_ERROR;
    }

    p->field_size = TN_MAIL_MIME_FIELD_INIT;
    p->top = -1;
    p->match_level = -1;

    lvl = tn_mail_mime_push(p);
    if (lvl == NULL) {
        return TN_ERROR;
    }

    p->state = sw_hdr_bol;

    return TN_OK;
}


tn_int_t
tn_mail_mime_feed(tn_mail_mime_t *p, u_char *data, size_t len)
{
    u_char  *pos, *end;

    if (p->state == sw_done) {
        return p->rc;
    }

    pos = data;
    end = data + len;

    while (pos < end && p->rc == TN_OK) {

        switch (p->state) {

        case sw_hdr_bol:
            pos = tn_mail_mime_hdr_bol(p, pos);
            break;

        case sw_hdr_bol_cr:
            pos = tn_mail_mime_hdr_bol_cr(p, pos);
            break;

        case sw_hdr_line:
            pos = tn_mail_mime_hdr_line(p, pos, end);
            break;

        case sw_hdr_cr:
            pos = tn_mail_mime_hdr_cr(p, pos);
            break;

        case sw_body_bol:
            pos = tn_mail_mime_body_bol(p, pos);
            break;

        case sw_body_text:
            pos = tn_mail_mime_body_text(p, pos, end);
            break;

        case sw_body_cr:
            pos = tn_mail_mime_body_cr(p, pos);
            break;

        case sw_hold:
            pos = tn_mail_mime_hold(p, pos, end);
            break;

        case sw_hold_cr:
            pos = tn_mail_mime_hold_cr(p, pos);
            break;

        case sw_skip:
            pos = tn_mail_mime_skip(p, pos, end);
            break;

        default:
            /* sw_done: cannot happen with pos < end */
            return p->rc;
        }
    }

    return p->rc;
}


/*
 * The end of the input.  The line in progress is taken as a whole line
 * (it may be a boundary line), then every part is ended: a part still in
 * its header gets its body (empty) first, which for a message/rfc822
 * part pushes an empty child, bounded by the depth limit.
 */

tn_int_t
tn_mail_mime_finish(tn_mail_mime_t *p)
{
    tn_mail_mime_level_t  *lvl;

    if (p->state == sw_done || p->rc != TN_OK) {
        p->state = sw_done;
        return p->rc;
    }

    switch (p->state) {

    case sw_hdr_bol_cr:
        /* a line of a lone CR */
        tn_mail_mime_hdr_line_start(p, CR);
        tn_mail_mime_field_add(p, tn_mail_mime_crlf, 1);
        tn_mail_mime_hdr_eol(p, 0);
        break;

    case sw_hdr_cr:
        tn_mail_mime_field_add(p, tn_mail_mime_crlf, 1);
        tn_mail_mime_hold_add(p, CR);
        /* fall through */

    case sw_hdr_line:
        tn_mail_mime_hdr_eol(p, 0);
        break;

    case sw_body_cr:
        tn_mail_mime_emit(p, tn_mail_mime_crlf, 1);
        break;

    case sw_hold_cr:
        if (tn_mail_mime_hold_byte(p, CR) == 0) {
            tn_mail_mime_hold_flush(p);
            break;
        }

        /* fall through */

    case sw_hold:
        if (tn_mail_mime_boundary_find(p) >= 0) {
            tn_mail_mime_boundary_found(p);
            tn_mail_mime_boundary_next(p);

        } else {
            tn_mail_mime_hold_flush(p);
        }

        break;

    case sw_skip:
        tn_mail_mime_boundary_next(p);
        break;

    default:
        break;
    }

    p->line_offset = p->offset;

    while (p->top >= 0) {
        lvl = p->levels[p->top];

        if (!lvl->part.in_body) {
            tn_mail_mime_field_end(p);
            lvl->part.flags |= TN_MAIL_MIME_F_NO_HEADER_END;
            tn_mail_mime_header_end(p);

            if (p->rc == TN_ERROR) {
                break;
            }

            continue;
        }

        tn_mail_mime_hold_flush(p);
        tn_mail_mime_part_end(p, p->offset, p->voffset, p->lines);
    }

    p->state = sw_done;

    return p->rc;
}


/* header lines */

static u_char *
tn_mail_mime_hdr_bol(tn_mail_mime_t *p, u_char *pos)
{
    u_char  ch;

    ch = *pos;
    p->line_offset = p->offset;

    if (ch == LF) {
        /* an empty line: the end of the header */
        p->offset++;
        p->voffset += 2;
        p->lines++;
        tn_mail_mime_field_end(p);
        tn_mail_mime_header_end(p);
        return pos + 1;
    }

    if (ch == CR) {
        p->offset++;
        p->voffset++;
        p->state = sw_hdr_bol_cr;
        return pos + 1;
    }

    tn_mail_mime_hdr_line_start(p, ch);
    p->state = sw_hdr_line;

    return pos;
}


static u_char *
tn_mail_mime_hdr_bol_cr(tn_mail_mime_t *p, u_char *pos)
{
    if (*pos == LF) {
        p->offset++;
        p->voffset++;
        p->lines++;
        tn_mail_mime_field_end(p);
        tn_mail_mime_header_end(p);
        return pos + 1;
    }

    /* a line starting with a bare CR: a (broken) field */
    tn_mail_mime_hdr_line_start(p, CR);
    tn_mail_mime_field_add(p, tn_mail_mime_crlf, 1);
    p->state = sw_hdr_line;

    return pos;
}


static u_char *
tn_mail_mime_hdr_line(tn_mail_mime_t *p, u_char *pos, u_char *end)
{
    u_char                *q;
    size_t                 n;
    tn_uint_t              bits;
    tn_mail_mime_part_t   *part;

    bits = 0;

    for (q = pos; q < end && *q != CR && *q != LF; q++) {
        bits |= (*q & 0x80) | (*q == '\0');

        if (p->hold_on) {
            tn_mail_mime_hold_add(p, *q);
        }
    }

    n = q - pos;

    if (bits) {
        part = &p->levels[p->top]->part;
        part->flags |= ((bits & 0x80) ? TN_MAIL_MIME_F_HEADER_8BIT : 0)
                       | ((bits & 1) ? TN_MAIL_MIME_F_NUL : 0);
    }

    tn_mail_mime_field_add(p, pos, n);
    p->offset += n;
    p->voffset += n;

    if (q == end) {
        return q;
    }

    tn_mail_mime_eol_start(p);

    if (*q == CR) {
        p->offset++;
        p->voffset++;
        p->state = sw_hdr_cr;
        return q + 1;
    }

    p->offset++;
    p->voffset += 2;
    p->lines++;
    tn_mail_mime_hdr_eol(p, 1);

    return q + 1;
}


static u_char *
tn_mail_mime_hdr_cr(tn_mail_mime_t *p, u_char *pos)
{
    if (*pos == LF) {
        p->offset++;
        p->voffset++;
        p->lines++;
        tn_mail_mime_hdr_eol(p, 1);
        return pos + 1;
    }

    /* a bare CR is data */
    tn_mail_mime_field_add(p, tn_mail_mime_crlf, 1);

    if (p->hold_on) {
        tn_mail_mime_hold_add(p, CR);
    }

    p->state = sw_hdr_line;

    return pos;
}


/*
 * A header line that is not empty starts with ch: a continuation line
 * (blank) adds to the field; any other line ends the field before it and
 * starts one, unless the header is past max_header_size.  A line starting
 * with '-' may be a boundary line of an enclosing multipart.
 */

static void
tn_mail_mime_hdr_line_start(tn_mail_mime_t *p, u_char ch)
{
    tn_mail_mime_part_t  *part;

    part = &p->levels[p->top]->part;

    if (ch == ' ' || ch == '\t') {
        if (!p->field_on && !p->field_skip) {
            /* a continuation line before the first field */
            part->flags |= TN_MAIL_MIME_F_HEADER_BROKEN;
            tn_mail_mime_field_begin(p);
        }

        return;
    }

    tn_mail_mime_field_end(p);

    if (!p->field_skip
        && p->line_offset - part->header_offset
           >= (off_t) p->limits.max_header_size)
    {
        p->field_skip = 1;
        part->flags |= TN_MAIL_MIME_F_HEADER_TOO_BIG;
        p->limits_hit |= TN_MAIL_MIME_LIMIT_HEADER_SIZE;
    }

    if (!p->field_skip) {
        tn_mail_mime_field_begin(p);
    }

    if (ch == '-' && p->nactive && !p->frozen) {
        tn_mail_mime_hold_start(p);
    }
}


/* a header line ended: its line end was read (eol) or the input ended */

static void
tn_mail_mime_hdr_eol(tn_mail_mime_t *p, tn_uint_t eol)
{
    if (p->field_on && eol) {
        p->field_lines++;
    }

    if (p->hold_on) {
        p->hold_on = 0;

        if (tn_mail_mime_boundary_find(p) >= 0) {
            /* the line is not a field: drop it */
            p->field_on = 0;
            tn_mail_mime_boundary_found(p);
            tn_mail_mime_boundary_next(p);
            return;
        }
    }

    p->hold_len = 0;

    p->cut_offset = p->eol_offset;
    p->cut_voffset = p->eol_voffset;
    p->cut_lines = p->eol_lines;

    p->state = sw_hdr_bol;
}


/* body lines */

static u_char *
tn_mail_mime_body_bol(tn_mail_mime_t *p, u_char *pos)
{
    p->line_offset = p->offset;

    if (*pos == '-' && p->nactive && !p->frozen) {
        tn_mail_mime_hold_start(p);
        p->state = sw_hold;
        return pos;
    }

    tn_mail_mime_flush_eol(p);
    p->state = sw_body_text;

    return pos;
}


static u_char *
tn_mail_mime_body_text(tn_mail_mime_t *p, u_char *pos, u_char *end)
{
    u_char  *q;
    size_t   n;

    for (q = pos; q < end && *q != CR && *q != LF; q++) {
        /* void */
    }

    n = q - pos;

    if (n) {
        tn_mail_mime_emit(p, pos, n);
        p->offset += n;
        p->voffset += n;
    }

    if (q == end) {
        return q;
    }

    tn_mail_mime_eol_start(p);

    if (*q == CR) {
        p->offset++;
        p->voffset++;
        p->state = sw_body_cr;
        return q + 1;
    }

    p->offset++;
    p->voffset += 2;
    p->lines++;
    tn_mail_mime_body_eol(p, 1);

    return q + 1;
}


static u_char *
tn_mail_mime_body_cr(tn_mail_mime_t *p, u_char *pos)
{
    if (*pos == LF) {
        p->offset++;
        p->voffset++;
        p->lines++;
        tn_mail_mime_body_eol(p, 2);
        return pos + 1;
    }

    /* a bare CR is data */
    tn_mail_mime_emit(p, tn_mail_mime_crlf, 1);
    p->state = sw_body_text;

    return pos;
}


/*
 * A body line ended with n bytes of line end.  With no boundary open the
 * line end is data right away; else it is held with the start of the next
 * line, since it belongs to a boundary line if one follows.
 */

static void
tn_mail_mime_body_eol(tn_mail_mime_t *p, size_t n)
{
    if (p->nactive == 0 || p->frozen) {
        tn_mail_mime_emit(p, tn_mail_mime_crlf + 2 - n, n);

    } else {
        p->eol_pending = n;
    }

    p->cut_offset = p->eol_offset;
    p->cut_voffset = p->eol_voffset;
    p->cut_lines = p->eol_lines;

    p->state = sw_body_bol;
}


static u_char *
tn_mail_mime_hold(tn_mail_mime_t *p, u_char *pos, u_char *end)
{
    u_char  ch;

    for ( /* void */ ; pos < end; pos++) {
        ch = *pos;

        if (ch == CR || ch == LF) {
            tn_mail_mime_eol_start(p);
            p->offset++;

            if (ch == CR) {
                p->voffset++;
                p->state = sw_hold_cr;
                return pos + 1;
            }

            p->voffset += 2;
            p->lines++;
            tn_mail_mime_hold_decide(p, 1);
            return pos + 1;
        }

        p->offset++;
        p->voffset++;

        if (tn_mail_mime_hold_byte(p, ch) == 0) {
            tn_mail_mime_hold_flush(p);
            p->state = sw_body_text;
            return pos + 1;
        }

        if (p->hold_len == p->hold_max) {
            tn_mail_mime_hold_decide(p, 0);
            return pos + 1;
        }
    }

    return pos;
}


static u_char *
tn_mail_mime_hold_cr(tn_mail_mime_t *p, u_char *pos)
{
    if (*pos == LF) {
        p->offset++;
        p->voffset++;
        p->lines++;
        tn_mail_mime_hold_decide(p, 2);
        return pos + 1;
    }

    /* a bare CR is a byte of the line */

    if (tn_mail_mime_hold_byte(p, CR) == 0) {
        tn_mail_mime_hold_flush(p);
        p->state = sw_body_text;
        return pos;
    }

    if (p->hold_len == p->hold_max) {
        tn_mail_mime_hold_decide(p, 0);
        return pos;
    }

    p->state = sw_hold;

    return pos;
}


/* the rest of a boundary line, up to its LF */

static u_char *
tn_mail_mime_skip(tn_mail_mime_t *p, u_char *pos, u_char *end)
{
    u_char  *q;
    size_t   n;

    q = memchr(pos, LF, end - pos);

    if (q == NULL) {
        n = end - pos;
        p->offset += n;
        p->voffset += n;
        p->skip_cr = (end[-1] == CR);
        return end;
    }

    n = q - pos;

    if (n) {
        p->skip_cr = (q[-1] == CR);
    }

    p->offset += n + 1;
    p->voffset += n + (p->skip_cr ? 1 : 2);
    p->lines++;

    tn_mail_mime_boundary_next(p);

    return q + 1;
}


static void
tn_mail_mime_eol_start(tn_mail_mime_t *p)
{
    p->eol_offset = p->offset;
    p->eol_voffset = p->voffset;
    p->eol_lines = p->lines;
}


/* boundary lines */

static void
tn_mail_mime_hold_start(tn_mail_mime_t *p)
{
    tn_int_t               i;
    tn_mail_mime_level_t  *lvl;

    p->hold_on = 1;
    p->hold_len = 0;

    for (i = 0; i <= p->top; i++) {
        lvl = p->levels[i];
        lvl->match = lvl->active;
    }
}


/*
 * Adds ch to the held line (hold_len < hold_max); 0 when no open boundary
 * can match the line any more.  A boundary whose bytes were all seen
 * stays a candidate: only the start of the line has to match.
 */

static tn_uint_t
tn_mail_mime_hold_byte(tn_mail_mime_t *p, u_char ch)
{
    size_t                 i;
    tn_int_t               l;
    tn_uint_t              any, ok;
    tn_mail_mime_level_t  *lvl;

    i = p->hold_len;
    p->hold[p->hold_len++] = ch;
    any = 0;

    for (l = 0; l <= p->top; l++) {
        lvl = p->levels[l];

        if (!lvl->match) {
            continue;
        }

        if (i < 2) {
            ok = (ch == '-');

        } else if (i - 2 < lvl->boundary_len) {
            ok = (lvl->boundary[i - 2] == ch);

        } else {
            ok = 1;
        }

        if (ok) {
            any = 1;

        } else {
            lvl->match = 0;
        }
    }

    return any;
}


/* in a header line: keeps the first hold_max bytes */

static void
tn_mail_mime_hold_add(tn_mail_mime_t *p, u_char ch)
{
    if (!p->hold_on || p->hold_len == p->hold_max) {
        return;
    }

    if (tn_mail_mime_hold_byte(p, ch) == 0) {
        p->hold_on = 0;
    }
}


/*
 * The held body line is decided: its line end was read (eol bytes) or
 * hold_max bytes of it were.
 */

static void
tn_mail_mime_hold_decide(tn_mail_mime_t *p, size_t eol)
{
    if (tn_mail_mime_boundary_find(p) >= 0) {
        tn_mail_mime_boundary_found(p);

        if (eol) {
            tn_mail_mime_boundary_next(p);

        } else {
            p->skip_cr = 0;
            p->state = sw_skip;
        }

        return;
    }

    tn_mail_mime_hold_flush(p);

    if (eol) {
        tn_mail_mime_body_eol(p, eol);

    } else {
        p->state = sw_body_text;
    }
}


static void
tn_mail_mime_hold_flush(tn_mail_mime_t *p)
{
    tn_mail_mime_flush_eol(p);

    if (p->hold_len) {
        tn_mail_mime_emit(p, p->hold, p->hold_len);
        p->hold_len = 0;
    }

    p->hold_on = 0;
}


static void
tn_mail_mime_flush_eol(tn_mail_mime_t *p)
{
    size_t  n;

    n = p->eol_pending;

    if (n) {
        p->eol_pending = 0;
        tn_mail_mime_emit(p, tn_mail_mime_crlf + 2 - n, n);
    }
}


/*
 * The open boundary the held line starts with: the longest, the
 * innermost of equal ones; its level, or -1.  A delimiter that would
 * start a part past max_parts freezes the parser instead: from then on
 * everything is data of the current part.
 */

static tn_int_t
tn_mail_mime_boundary_find(tn_mail_mime_t *p)
{
    size_t                 blen;
    tn_int_t               l, best;
    tn_mail_mime_level_t  *lvl;

    best = -1;
    blen = 0;

    for (l = p->top; l >= 0; l--) {
        lvl = p->levels[l];

        if (!lvl->active || !lvl->match
            || lvl->boundary_len + 2 > p->hold_len)
        {
            continue;
        }

        if (best < 0 || lvl->boundary_len > blen) {
            best = l;
            blen = lvl->boundary_len;
        }
    }

    if (best < 0) {
        return -1;
    }

    p->match_level = best;
    p->match_close = (p->hold_len >= blen + 4
                      && p->hold[blen + 2] == '-'
                      && p->hold[blen + 3] == '-');

    if (!p->match_close && p->nparts >= p->limits.max_parts) {
        p->frozen = 1;
        p->limits_hit |= TN_MAIL_MIME_LIMIT_PARTS;
        return -1;
    }

    return best;
}


/*
 * A boundary line of the multipart at match_level: every part above it
 * ends where the line end before the boundary line starts (cut_*); the
 * held bytes and that line end belong to the boundary.
 */

static void
tn_mail_mime_boundary_found(tn_mail_mime_t *p)
{
    tn_mail_mime_level_t  *lvl;

    while (p->top > p->match_level) {
        tn_mail_mime_part_end(p, p->cut_offset, p->cut_voffset,
                              p->cut_lines);
    }

    p->eol_pending = 0;
    p->hold_len = 0;
    p->hold_on = 0;

    if (p->match_close) {
        lvl = p->levels[p->top];
        lvl->active = 0;
        lvl->part.epilogue = 1;
        p->nactive--;
        tn_mail_mime_set_hold_max(p);
    }
}


/* after the boundary line: the epilogue, or the next part's header */

static void
tn_mail_mime_boundary_next(tn_mail_mime_t *p)
{
    tn_mail_mime_level_t  *lvl;

    p->cut_offset = p->offset;
    p->cut_voffset = p->voffset;
    p->cut_lines = p->lines;

    if (p->match_close) {
        p->state = sw_body_bol;
        return;
    }

    lvl = p->levels[p->top];
    lvl->part.nchildren++;

    if (tn_mail_mime_push(p) == NULL) {
        return;
    }

    p->state = sw_hdr_bol;
}


static void
tn_mail_mime_set_hold_max(tn_mail_mime_t *p)
{
    size_t                 max;
    tn_int_t               l;
    tn_mail_mime_level_t  *lvl;

    max = 0;

    for (l = 0; l <= p->top; l++) {
        lvl = p->levels[l];

        if (lvl->active && lvl->boundary_len > max) {
            max = lvl->boundary_len;
        }
    }

    p->hold_max = max + 4;
}


/* parts */

static tn_mail_mime_level_t *
tn_mail_mime_push(tn_mail_mime_t *p)
{
    size_t                 size;
    tn_int_t               i;
    tn_mail_mime_level_t  *lvl;
    tn_mail_mime_part_t   *part, *parent;

    i = p->top + 1;
    lvl = p->levels[i];

    if (lvl == NULL) {
        size = sizeof(tn_mail_mime_level_t) + p->limits.max_boundary;

        lvl = tn_pcalloc(p->pool, size);
        if (lvl == NULL) {
            p->rc = TN_ERROR;
            return NULL;
        }

        lvl->boundary = (u_char *) (lvl + 1);
        p->levels[i] = lvl;
    }

    parent = (i > 0) ? &p->levels[i - 1]->part : NULL;

    part = &lvl->part;
    tn_memzero(part, sizeof(tn_mail_mime_part_t));

    part->parent = parent;
    part->depth = i;
    part->index = p->nparts++;
    part->message = (parent == NULL || parent->rfc822);
    part->header_offset = p->offset;

    lvl->boundary_len = 0;
    lvl->active = 0;
    lvl->match = 0;
    lvl->decode = 0;
    lvl->seen_ctype = 0;
    lvl->seen_cte = 0;
    lvl->seen_disp = 0;
    lvl->valid_ctype = 0;
    lvl->seen_simple = 0;
    tn_memzero(lvl->simple, sizeof(lvl->simple));
    lvl->type_len = 0;
    lvl->subtype_len = 0;
    lvl->cte_len = 0;
    lvl->disp_len = 0;
    lvl->info_len = 0;
    lvl->niparams = 0;
    lvl->header_voffset = p->voffset;
    lvl->header_lines0 = p->lines;

    p->top = i;

    p->field_on = 0;
    p->field_skip = 0;
    p->hold_on = 0;
    p->hold_len = 0;
    p->eol_pending = 0;

    p->cut_offset = p->offset;
    p->cut_voffset = p->voffset;
    p->cut_lines = p->lines;

    return lvl;
}


/*
 * The header of the top part ends, its body starts at off: the MIME
 * fields are settled and part_start is called.
 */

static void
tn_mail_mime_header_done(tn_mail_mime_t *p, off_t off, off_t voff,
    off_t lines)
{
    tn_mail_mime_level_t  *lvl;
    tn_mail_mime_part_t   *part;

    tn_mail_mime_field_end(p);

    lvl = p->levels[p->top];
    part = &lvl->part;

    tn_mail_mime_resolve(p, lvl);

    part->body_offset = off;
    part->header_vsize = voff - lvl->header_voffset;
    part->header_lines = lines - lvl->header_lines0;
    part->in_body = 1;

    lvl->body_voffset = voff;
    lvl->body_lines0 = lines;

    tn_mail_mime_call_part(p, p->handlers.part_start, part);
}


/* the header ended with an empty line or the input: the body follows */

static void
tn_mail_mime_header_end(tn_mail_mime_t *p)
{
    tn_mail_mime_level_t  *lvl;
    tn_mail_mime_part_t   *part;

    tn_mail_mime_header_done(p, p->offset, p->voffset, p->lines);

    lvl = p->levels[p->top];
    part = &lvl->part;

    p->eol_pending = 0;
    p->hold_len = 0;
    p->hold_on = 0;

    p->cut_offset = p->offset;
    p->cut_voffset = p->voffset;
    p->cut_lines = p->lines;

    if (part->multipart) {
        lvl->active = 1;
        p->nactive++;
        tn_mail_mime_set_hold_max(p);
        p->state = sw_body_bol;
        return;
    }

    if (part->rfc822) {
        part->nchildren++;

        if (tn_mail_mime_push(p) == NULL) {
            return;
        }

        p->state = sw_hdr_bol;
        return;
    }

    lvl->decode = (p->handlers.decoded != NULL);
    tn_mail_mime_dec_reset(p);

    p->state = sw_body_bol;
}


/* ends the top part at off and pops it */

static void
tn_mail_mime_part_end(tn_mail_mime_t *p, off_t off, off_t voff,
    off_t lines)
{
    tn_mail_mime_level_t  *lvl;
    tn_mail_mime_part_t   *part;

    lvl = p->levels[p->top];
    part = &lvl->part;

    if (!part->in_body) {
        /* ended by a boundary line in its header */
        part->flags |= TN_MAIL_MIME_F_NO_HEADER_END;
        tn_mail_mime_header_done(p, off, voff, lines);

    } else if (lvl->decode) {
        tn_mail_mime_dec_finish(p, lvl);
        lvl->decode = 0;
    }

    if (lvl->active) {
        lvl->active = 0;
        p->nactive--;
    }

    if (part->multipart && !part->epilogue) {
        part->flags |= TN_MAIL_MIME_F_NO_CLOSE;
    }

    part->body_end = off;
    part->body_vsize = voff - lvl->body_voffset;
    part->body_lines = lines - lvl->body_lines0;

    tn_mail_mime_call_part(p, p->handlers.part_end, part);

    p->top--;
    tn_mail_mime_set_hold_max(p);
}


/* body data of the top part */

static void
tn_mail_mime_emit(tn_mail_mime_t *p, u_char *data, size_t len)
{
    size_t                 i;
    tn_uint_t              bits;
    tn_mail_mime_level_t  *lvl;
    tn_mail_mime_part_t   *part;

    lvl = p->levels[p->top];
    part = &lvl->part;

    if ((part->flags & (TN_MAIL_MIME_F_NUL | TN_MAIL_MIME_F_BODY_8BIT))
        != (TN_MAIL_MIME_F_NUL | TN_MAIL_MIME_F_BODY_8BIT))
    {
        bits = 0;

        for (i = 0; i < len; i++) {
            bits |= (data[i] & 0x80) | (data[i] == '\0');
        }

        part->flags |= ((bits & 0x80) ? TN_MAIL_MIME_F_BODY_8BIT : 0)
                       | ((bits & 1) ? TN_MAIL_MIME_F_NUL : 0);
    }

    tn_mail_mime_call_data(p, p->handlers.body, part, data, len);

    if (lvl->decode) {
        tn_mail_mime_dec_run(p, lvl, data, len);
    }
}


void
tn_mail_mime_call_part(tn_mail_mime_t *p, tn_mail_mime_part_pt handler,
    tn_mail_mime_part_t *part)
{
    if (handler && p->rc == TN_OK) {
        p->rc = handler(p, part);
    }
}


void
tn_mail_mime_call_data(tn_mail_mime_t *p, tn_mail_mime_data_pt handler,
    tn_mail_mime_part_t *part, u_char *data, size_t len)
{
    if (handler && p->rc == TN_OK && len) {
        p->rc = handler(p, part, data, len);
    }
}


/* a bigger copy of a block; the old one is freed if it was large */

void *
tn_mail_mime_grow(tn_mail_mime_t *p, void *old, size_t used, size_t size)
{
    void  *m;

    m = tn_palloc(p->pool, size);
    if (m == NULL) {
        p->rc = TN_ERROR;
        return NULL;
    }

    if (used) {
        tn_memcpy(m, old, used);
    }

    if (old) {
        (void) tn_pfree(p->pool, old);
    }

    return m;
}


