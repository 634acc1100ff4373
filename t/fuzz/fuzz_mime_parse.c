
/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for the streaming MIME parser and the header helpers
 * (src/mail/tn_mail_mime*.c).
 *
 * Input: byte 0 picks the limits (0: the defaults; else small ones, so
 * that depth, parts, boundary, parameter and info limits are hit) and
 * whether decoded() is set; byte 1 seeds the random splits (0 in the seed
 * files, which makes them binary for git and auto/check-style: they hold
 * CRLFs); the rest is the message.  Checks:
 *   - whole, byte by byte and random splits give the same callbacks, the
 *     same raw and decoded data, flags and limits;
 *   - every part ends; depth <= max_depth; parts <= max_parts; offsets in
 *     order (header <= body <= end <= input length), children inside
 *     their parent's body, parts in input order;
 *   - the CRLF size and line count of each header and body equal those
 *     recomputed from the input; a leaf's raw data is its input slice;
 *   - each field's offset and size lie inside its part's header;
 *   - the field values go through tn_mail_mime_decode_words() (into a
 *     buffer of exactly TN_MAIL_MIME_DECODE_WORDS_SIZE, so ASan sees any
 *     overrun), tn_mail_mime_parse_addresses() and
 *     tn_mail_mime_parse_date().
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_mime.h>


#define TN_FUZZ_MAX    (64 * 1024)
#define TN_FUZZ_PARTS  64


typedef struct {
    tn_uint_t       depth;
    tn_int_t        parent;
    tn_uint_t       leaf;
    tn_uint_t       rfc822;
    tn_uint_t       ended;
    tn_uint_t       children;       /* counted by tn_fuzz_check() */
    off_t           sum;            /* the children's CRLF sizes */
    off_t           header_offset;
    off_t           body_offset;
    off_t           body_end;
    off_t           header_vsize;
    off_t           header_lines;
    off_t           body_vsize;
    off_t           body_lines;
    off_t           raw_next;       /* where the next raw data must be */
} tn_fuzz_part_t;


typedef struct {
    const u_char   *in;
    size_t          len;
    uint64_t        events;         /* hashes, independent of the splits */
    uint64_t        raw;
    uint64_t        dec;
    tn_uint_t       nparts;
    tn_uint_t       max_parts;
    tn_uint_t       limits_hit;
    tn_int_t        rc;
    tn_fuzz_part_t *parts;
} tn_fuzz_res_t;


static uint64_t   tn_fuzz_seed;
static tn_log_t   tn_fuzz_log;
static tn_pool_t *tn_fuzz_aux;


static size_t
tn_fuzz_rand(size_t n)
{
    tn_fuzz_seed ^= tn_fuzz_seed << 13;
    tn_fuzz_seed ^= tn_fuzz_seed >> 7;
    tn_fuzz_seed ^= tn_fuzz_seed << 17;

    return (size_t) (tn_fuzz_seed % n);
}


static uint64_t
tn_fuzz_hash(uint64_t h, const void *data, size_t len)
{
    size_t         i;
    const u_char  *p;

    p = data;

    for (i = 0; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }

    return h;
}


#define tn_fuzz_hash_val(h, v)  h = tn_fuzz_hash(h, &(v), sizeof(v))


static tn_fuzz_part_t *
tn_fuzz_part(tn_fuzz_res_t *r, tn_mail_mime_part_t *part)
{
    if (part->index >= r->max_parts) {
        abort();
    }

    if (part->index >= r->nparts) {
        r->nparts = part->index + 1;
    }

    return &r->parts[part->index];
}


static void
tn_fuzz_helpers(tn_str_t *value)
{
    u_char               *out;
    time_t                t;
    tn_int_t              tz;
    tn_uint_t             n;
    tn_mail_mime_addr_t  *a;

    out = malloc(TN_MAIL_MIME_DECODE_WORDS_SIZE(value->len));
    if (out == NULL) {
        abort();
    }

    if (tn_mail_mime_decode_words(out, value->data, value->len)
        > TN_MAIL_MIME_DECODE_WORDS_SIZE(value->len))
    {
        abort();
    }

    free(out);

    if (tn_mail_mime_parse_addresses(tn_fuzz_aux, value->data, value->len,
                                     &a, &n) != TN_OK
        || n > TN_MAIL_MIME_MAX_ADDRS + 1)
    {
        abort();
    }

    (void) tn_mail_mime_parse_date(value->data, value->len, &t, &tz);

    tn_reset_pool(tn_fuzz_aux);
}


static tn_int_t
tn_fuzz_header(tn_mail_mime_t *p, tn_mail_mime_part_t *part,
    tn_mail_mime_field_t *f)
{
    tn_fuzz_res_t  *r;

    r = p->data;
    (void) tn_fuzz_part(r, part);

    if (f->offset < part->header_offset || f->size < 0
        || f->offset + f->size > (off_t) r->len
        || part->in_body)
    {
        abort();
    }

    tn_fuzz_hash_val(r->events, part->index);
    tn_fuzz_hash_val(r->events, f->offset);
    tn_fuzz_hash_val(r->events, f->size);
    tn_fuzz_hash_val(r->events, f->lines);
    r->events = tn_fuzz_hash(r->events, f->name.data, f->name.len);
    r->events = tn_fuzz_hash(r->events, f->value.data, f->value.len);

    if (r->len < 4096) {
        tn_fuzz_helpers(&f->value);
    }

    return TN_OK;
}


static tn_int_t
tn_fuzz_start(tn_mail_mime_t *p, tn_mail_mime_part_t *part)
{
    tn_uint_t        i;
    tn_fuzz_res_t   *r;
    tn_fuzz_part_t  *fp;

    r = p->data;
    fp = tn_fuzz_part(r, part);

    fp->depth = part->depth;
    fp->parent = part->parent ? (tn_int_t) part->parent->index : -1;
    fp->header_offset = part->header_offset;
    fp->body_offset = part->body_offset;
    fp->header_vsize = part->header_vsize;
    fp->header_lines = part->header_lines;
    fp->leaf = !part->multipart && !part->rfc822;
    fp->rfc822 = part->rfc822;
    fp->raw_next = part->body_offset;

    if (part->type.data == NULL || part->subtype.data == NULL
        || part->charset.data == NULL || part->filename.data == NULL
        || part->boundary.len > 998
        || (part->multipart && part->boundary.len == 0))
    {
        abort();
    }

    tn_fuzz_hash_val(r->events, part->index);
    r->events = tn_fuzz_hash(r->events, part->type.data, part->type.len);
    r->events = tn_fuzz_hash(r->events, part->subtype.data,
                             part->subtype.len);

    for (i = 0; i < part->nparams + part->ndisp_params; i++) {
        r->events = tn_fuzz_hash(r->events, part->params[i].name.data,
                                 part->params[i].name.len);
        r->events = tn_fuzz_hash(r->events, part->params[i].value.data,
                                 part->params[i].value.len);
        r->events = tn_fuzz_hash(r->events, part->params[i].charset.data,
                                 part->params[i].charset.len);
    }

    r->events = tn_fuzz_hash(r->events, part->filename.data,
                             part->filename.len);
    r->events = tn_fuzz_hash(r->events, part->id.data, part->id.len);
    tn_fuzz_hash_val(r->events, part->encoding);
    tn_fuzz_hash_val(r->events, part->body_offset);

    return TN_OK;
}


static tn_int_t
tn_fuzz_body(tn_mail_mime_t *p, tn_mail_mime_part_t *part, u_char *data,
    size_t len)
{
    tn_fuzz_res_t   *r;
    tn_fuzz_part_t  *fp;

    r = p->data;
    fp = tn_fuzz_part(r, part);

    if (len == 0 || !part->in_body) {
        abort();
    }

    if (fp->leaf) {
        if (fp->raw_next + (off_t) len > (off_t) r->len
            || memcmp(data, r->in + fp->raw_next, len) != 0)
        {
            abort();
        }

        fp->raw_next += len;
    }

    r->raw = tn_fuzz_hash(r->raw, data, len);

    return TN_OK;
}


static tn_int_t
tn_fuzz_decoded(tn_mail_mime_t *p, tn_mail_mime_part_t *part, u_char *data,
    size_t len)
{
    tn_fuzz_res_t  *r;

    r = p->data;

    if (len == 0 || !part->in_body || part->multipart || part->rfc822) {
        abort();
    }

    r->dec = tn_fuzz_hash(r->dec, data, len);

    return TN_OK;
}


static tn_int_t
tn_fuzz_end(tn_mail_mime_t *p, tn_mail_mime_part_t *part)
{
    tn_fuzz_res_t   *r;
    tn_fuzz_part_t  *fp;

    r = p->data;
    fp = tn_fuzz_part(r, part);

    if (fp->ended || !part->in_body) {
        abort();
    }

    fp->ended = 1;
    fp->body_end = part->body_end;
    fp->body_vsize = part->body_vsize;
    fp->body_lines = part->body_lines;

    if (fp->leaf && fp->raw_next != part->body_end) {
        abort();
    }

    tn_fuzz_hash_val(r->events, part->index);
    tn_fuzz_hash_val(r->events, part->flags);
    tn_fuzz_hash_val(r->events, part->nchildren);
    tn_fuzz_hash_val(r->events, part->body_end);
    tn_fuzz_hash_val(r->events, part->body_vsize);
    tn_fuzz_hash_val(r->events, part->body_lines);

    return TN_OK;
}


static void
tn_fuzz_run(const u_char *in, size_t len, const tn_mail_mime_limits_t *l,
    tn_uint_t decode, int mode, tn_fuzz_res_t *r)
{
    u_char                   *copy;
    size_t                    off, n;
    tn_int_t                  rc;
    tn_pool_t                *pool;
    tn_mail_mime_t            p;
    tn_mail_mime_handlers_t   h;

    h.header = tn_fuzz_header;
    h.part_start = tn_fuzz_start;
    h.body = tn_fuzz_body;
    h.decoded = decode ? tn_fuzz_decoded : NULL;
    h.part_end = tn_fuzz_end;

    pool = tn_create_pool(4096, &tn_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    if (tn_mail_mime_init(&p, pool, l, &h) != TN_OK) {
        abort();
    }

    r->in = in;
    r->len = len;
    p.data = r;

    rc = TN_OK;

    for (off = 0; off < len && rc == TN_OK; off += n) {
        n = (mode == 0) ? len : (mode == 1) ? 1 : 1 + tn_fuzz_rand(64);
        n = tn_min(n, len - off);

        /* only what was given is readable */
        copy = malloc(n);
        memcpy(copy, in + off, n);
        rc = tn_mail_mime_feed(&p, copy, n);
        free(copy);
    }

    r->rc = tn_mail_mime_finish(&p);
    r->limits_hit = p.limits_hit;

    if (r->rc != TN_OK || p.offset != (off_t) len || p.top != -1
        || p.nparts != r->nparts)
    {
        abort();
    }

    tn_destroy_pool(pool);
}


static off_t
tn_fuzz_vsize(const u_char *in, off_t from, off_t to, off_t *lines)
{
    off_t  i, v, l;

    v = 0;
    l = 0;

    for (i = from; i < to; i++) {
        v++;

        if (in[i] == LF) {
            l++;
            v += (i == 0 || in[i - 1] != CR);
        }
    }

    *lines = l;

    return v;
}


static void
tn_fuzz_check(tn_fuzz_res_t *r, tn_uint_t max_depth)
{
    off_t            v, l;
    tn_uint_t        i;
    tn_fuzz_part_t  *fp, *pp;

    if (r->nparts == 0) {
        abort();
    }

    for (i = 0; i < r->nparts; i++) {
        fp = &r->parts[i];

        if (!fp->ended || fp->depth > max_depth
            || fp->header_offset > fp->body_offset
            || fp->body_offset > fp->body_end
            || fp->body_end > (off_t) r->len)
        {
            abort();
        }

        v = tn_fuzz_vsize(r->in, fp->header_offset, fp->body_offset, &l);

        if (v != fp->header_vsize || l != fp->header_lines) {
            abort();
        }

        v = tn_fuzz_vsize(r->in, fp->body_offset, fp->body_end, &l);

        if (v != fp->body_vsize || l != fp->body_lines) {
            abort();
        }

        if (i == 0) {
            if (fp->parent != -1 || fp->header_offset != 0
                || fp->body_end != (off_t) r->len)
            {
                abort();
            }

            continue;
        }

        if (fp->parent < 0 || (tn_uint_t) fp->parent >= i) {
            abort();
        }

        pp = &r->parts[fp->parent];

        if (fp->depth != pp->depth + 1 || pp->leaf
            || fp->header_offset < pp->body_offset
            || fp->body_end > pp->body_end
            || fp->header_offset < r->parts[i - 1].body_offset)
        {
            abort();
        }

        pp->children++;
        pp->sum += fp->header_vsize + fp->body_vsize;
    }

    /*
     * The children of a part fit in its body; a message/rfc822 body is
     * exactly its message, unless the limits or the end cut it short.
     */

    for (i = 0; i < r->nparts; i++) {
        fp = &r->parts[i];

        if (fp->sum > fp->body_vsize) {
            abort();
        }

        if (fp->rfc822 && fp->children == 1 && fp->sum != fp->body_vsize) {
            abort();
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                  ctl;
    size_t                  len;
    tn_uint_t               decode, max_parts;
    tn_fuzz_res_t           r[3];
    tn_mail_mime_limits_t   l;
    int                     mode;

    static tn_fuzz_part_t   parts[3][TN_MAIL_MIME_MAX_PARTS];

    if (size < 2 || size > TN_FUZZ_MAX) {
        return 0;
    }

    if (tn_pagesize == 0) {
        tn_pagesize = getpagesize();
        tn_memzero(&tn_fuzz_log, sizeof(tn_log_t));
        tn_fuzz_aux = tn_create_pool(4096, &tn_fuzz_log);
    }

    ctl = data[0];
    tn_fuzz_seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t) data[1] << 32 ^ size;
    data += 2;
    len = size - 2;

    tn_mail_mime_limits_default(&l);
    decode = !(ctl & 0x80);

    if (ctl & 0x7f) {
        l.max_depth = 1 + (ctl & 0x07);
        l.max_parts = 1 + ((ctl >> 3) & 0x0f) * 4;
        l.max_params = 1 + (ctl & 0x0f);
        l.max_boundary = 8 + (ctl & 0x1f);
        l.max_part_info = 64 + (ctl & 0x70) * 8;
        l.max_header_size = 256 + (ctl & 0x3f) * 64;
    }

    max_parts = tn_min(l.max_parts, TN_MAIL_MIME_MAX_PARTS);

    for (mode = 0; mode < 3; mode++) {
        tn_memzero(&r[mode], sizeof(tn_fuzz_res_t));
        tn_memzero(parts[mode], max_parts * sizeof(tn_fuzz_part_t));
        r[mode].parts = parts[mode];
        r[mode].max_parts = max_parts;
        r[mode].events = 0xcbf29ce484222325ULL;
        r[mode].raw = 0xcbf29ce484222325ULL;
        r[mode].dec = 0xcbf29ce484222325ULL;

        tn_fuzz_run(data, len, &l, decode, mode, &r[mode]);
    }

    for (mode = 1; mode < 3; mode++) {
        if (r[mode].events != r[0].events || r[mode].raw != r[0].raw
            || r[mode].dec != r[0].dec || r[mode].nparts != r[0].nparts
            || r[mode].limits_hit != r[0].limits_hit
            || memcmp(r[mode].parts, r[0].parts,
                      r[0].nparts * sizeof(tn_fuzz_part_t)) != 0)
        {
            abort();
        }
    }

    tn_fuzz_check(&r[0], l.max_depth);

    return 0;
}
