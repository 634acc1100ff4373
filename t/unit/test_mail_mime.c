
/*
 * Copyright (C) The Tern developers
 */


/*
 * The streaming MIME parser and the header helpers (src/mail/
 * tn_mail_mime*.c).  Every message is fed whole, byte by byte and in
 * random splits (three seeds), with LF and with CRLF line ends, and must
 * give the same callbacks with the same data; every result is checked
 * against the input (offsets in order and in range, the CRLF sizes and
 * line counts of each header and body recomputed from the bytes, the
 * raw data of each leaf equal to its slice of the input), then the cases
 * check what they are about.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_mime.h>


#define TN_TEST_MODES   5           /* whole, byte, three random splits */


typedef struct {
    u_char         *data;
    size_t          len;
    size_t          size;
} tn_test_buf_t;


typedef struct {
    tn_uint_t       index;
    tn_uint_t       depth;
    tn_int_t        parent;
    tn_uint_t       flags;
    tn_uint_t       encoding;
    tn_uint_t       nchildren;
    unsigned        message:1;
    unsigned        multipart:1;
    unsigned        rfc822:1;
    unsigned        epilogue:1;
    unsigned        default_type:1;
    unsigned        ended:1;
    char            type[256];      /* "type/subtype" */
    char            params[2048];   /* "name=value;" and name*=cs'lang'v */
    char            disp[2048];     /* disposition and its parameters */
    char            filename[512];
    char            charset[64];
    char            boundary[128];
    char            id[256];
    char            description[256];
    off_t           header_offset;
    off_t           body_offset;
    off_t           body_end;
    off_t           header_vsize;
    off_t           header_lines;
    off_t           body_vsize;
    off_t           body_lines;
    tn_test_buf_t   raw;
    tn_test_buf_t   dec;
} tn_test_part_t;


typedef struct {
    tn_test_buf_t   log;            /* the callbacks, as text */
    tn_test_part_t *parts;
    tn_uint_t       nparts;
    tn_uint_t       nalloc;
    tn_uint_t       limits_hit;
    tn_uint_t       nfields;
    tn_int_t        rc;
    tn_int_t        stop_at;        /* part_start of this index: TN_DONE */
} tn_test_res_t;


static tn_uint_t   tn_test_n;
static tn_uint_t   tn_test_failed;
static uint64_t    tn_test_seed;
static tn_log_t    tn_test_log;
static void       *tn_test_current;     /* dumped when a check fails */

static void tn_test_dump(void *r);


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

    if (!cond && tn_test_current) {
        tn_test_dump(tn_test_current);
    }

    fflush(stdout);
}


static size_t
tn_test_rand(size_t n)
{
    tn_test_seed ^= tn_test_seed << 13;
    tn_test_seed ^= tn_test_seed >> 7;
    tn_test_seed ^= tn_test_seed << 17;

    return (size_t) (tn_test_seed % n);
}


static void
tn_test_add(tn_test_buf_t *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->size) {
        b->size = (b->len + len + 1) * 2;
        b->data = realloc(b->data, b->size);

        if (b->data == NULL) {
            printf("Bail out! no memory\n");
            exit(1);
        }
    }

    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}


static void
tn_test_printf(tn_test_buf_t *b, const char *fmt, ...)
{
    int      n;
    char     tmp[1024];
    va_list  args;

    va_start(args, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, args);
    va_end(args);

    tn_test_add(b, tmp, tn_min((size_t) n, sizeof(tmp) - 1));
}


/* a tn_str_t into a C string, cut to size */

static void
tn_test_cstr(char *dst, size_t size, tn_str_t *s)
{
    size_t  n;

    n = tn_min(s->len, size - 1);
    memcpy(dst, s->data, n);
    dst[n] = '\0';
}


static void
tn_test_params(char *dst, size_t size, tn_mail_mime_param_t *pa,
    tn_uint_t n)
{
    char      *d, *e;
    tn_uint_t  i;

    d = dst;
    e = dst + size;
    *d = '\0';

    for (i = 0; i < n && d < e - 1; i++) {
        if (pa[i].extended) {
            d += snprintf(d, e - d, "%.*s*=%.*s'%.*s'%.*s;",
                          (int) pa[i].name.len, pa[i].name.data,
                          (int) pa[i].charset.len, pa[i].charset.data,
                          (int) pa[i].language.len, pa[i].language.data,
                          (int) pa[i].value.len, pa[i].value.data);

        } else {
            d += snprintf(d, e - d, "%.*s=%.*s;",
                          (int) pa[i].name.len, pa[i].name.data,
                          (int) pa[i].value.len, pa[i].value.data);
        }

        if (d > e - 1) {
            d = e - 1;
        }
    }
}


/* the handlers: a record per part, a log line per call */

static tn_test_part_t *
tn_test_part(tn_test_res_t *r, tn_mail_mime_part_t *part)
{
    tn_uint_t        old;
    tn_test_part_t  *tp;

    while (part->index >= r->nalloc) {
        old = r->nalloc;
        r->nalloc = old ? old * 2 : 16;
        r->parts = realloc(r->parts, r->nalloc * sizeof(tn_test_part_t));

        if (r->parts == NULL) {
            printf("Bail out! no memory\n");
            exit(1);
        }

        memset(r->parts + old, 0, (r->nalloc - old) * sizeof(tn_test_part_t));
    }

    if (part->index >= r->nparts) {
        r->nparts = part->index + 1;
    }

    tp = &r->parts[part->index];
    tp->index = part->index;
    tp->depth = part->depth;
    tp->parent = part->parent ? (tn_int_t) part->parent->index : -1;

    return tp;
}


static tn_int_t
tn_test_header(tn_mail_mime_t *p, tn_mail_mime_part_t *part,
    tn_mail_mime_field_t *f)
{
    tn_test_res_t  *r;

    r = p->data;
    (void) tn_test_part(r, part);
    r->nfields++;

    tn_test_printf(&r->log, "H %u %u off=%lld size=%lld lines=%u%s%s [",
                   (unsigned) part->index, (unsigned) part->depth,
                   (long long) f->offset, (long long) f->size,
                   (unsigned) f->lines,
                   f->truncated ? " trunc" : "",
                   f->no_colon ? " nocolon" : "");

    tn_test_add(&r->log, f->name.data, f->name.len);
    tn_test_add(&r->log, "] [", 3);
    tn_test_add(&r->log, f->value.data, f->value.len);
    tn_test_add(&r->log, "]\n", 2);

    return TN_OK;
}


static tn_int_t
tn_test_start(tn_mail_mime_t *p, tn_mail_mime_part_t *part)
{
    char             t[64], st[64];
    tn_test_res_t   *r;
    tn_test_part_t  *tp;

    r = p->data;
    tp = tn_test_part(r, part);

    tn_test_cstr(t, sizeof(t), &part->type);
    tn_test_cstr(st, sizeof(st), &part->subtype);
    snprintf(tp->type, sizeof(tp->type), "%s/%s", t, st);

    tn_test_params(tp->params, sizeof(tp->params), part->params,
                   part->nparams);

    tn_test_cstr(tp->disp, sizeof(tp->disp), &part->disposition);
    tn_test_params(tp->disp + strlen(tp->disp),
                   sizeof(tp->disp) - strlen(tp->disp) - 1,
                   part->disp_params, part->ndisp_params);

    tn_test_cstr(tp->filename, sizeof(tp->filename), &part->filename);
    tn_test_cstr(tp->charset, sizeof(tp->charset), &part->charset);
    tn_test_cstr(tp->boundary, sizeof(tp->boundary), &part->boundary);
    tn_test_cstr(tp->id, sizeof(tp->id), &part->id);
    tn_test_cstr(tp->description, sizeof(tp->description),
                 &part->description);

    tp->encoding = part->encoding;
    tp->message = part->message;
    tp->multipart = part->multipart;
    tp->rfc822 = part->rfc822;
    tp->default_type = part->default_type;
    tp->header_offset = part->header_offset;
    tp->body_offset = part->body_offset;
    tp->header_vsize = part->header_vsize;
    tp->header_lines = part->header_lines;

    tn_test_printf(&r->log, "S %u %u %s (%s) [%s] %s%s%s hoff=%lld"
                   " boff=%lld hv=%lld hl=%lld\n",
                   (unsigned) part->index, (unsigned) part->depth, tp->type,
                   tp->params, tp->disp, part->message ? "M" : "",
                   part->multipart ? "P" : "", part->rfc822 ? "R" : "",
                   (long long) part->header_offset,
                   (long long) part->body_offset,
                   (long long) part->header_vsize,
                   (long long) part->header_lines);

    if ((tn_int_t) part->index == r->stop_at) {
        return TN_DONE;
    }

    return TN_OK;
}


static tn_int_t
tn_test_body(tn_mail_mime_t *p, tn_mail_mime_part_t *part, u_char *data,
    size_t len)
{
    tn_test_res_t  *r;

    r = p->data;
    tn_test_add(&tn_test_part(r, part)->raw, data, len);

    return TN_OK;
}


static tn_int_t
tn_test_decoded(tn_mail_mime_t *p, tn_mail_mime_part_t *part, u_char *data,
    size_t len)
{
    tn_test_res_t  *r;

    r = p->data;
    tn_test_add(&tn_test_part(r, part)->dec, data, len);

    return TN_OK;
}


static tn_int_t
tn_test_end(tn_mail_mime_t *p, tn_mail_mime_part_t *part)
{
    tn_test_res_t   *r;
    tn_test_part_t  *tp;

    r = p->data;
    tp = tn_test_part(r, part);

    tp->ended = 1;
    tp->flags = part->flags;
    tp->nchildren = part->nchildren;
    tp->epilogue = part->epilogue;
    tp->body_end = part->body_end;
    tp->body_vsize = part->body_vsize;
    tp->body_lines = part->body_lines;

    tn_test_printf(&r->log, "E %u flags=%x n=%u bend=%lld bv=%lld bl=%lld\n",
                   (unsigned) part->index, (unsigned) part->flags,
                   (unsigned) part->nchildren, (long long) part->body_end,
                   (long long) part->body_vsize,
                   (long long) part->body_lines);

    return TN_OK;
}


static tn_mail_mime_handlers_t  tn_test_handlers = {
    tn_test_header,
    tn_test_start,
    tn_test_body,
    tn_test_decoded,
    tn_test_end
};


static void
tn_test_free(tn_test_res_t *r)
{
    tn_uint_t  i;

    if (r == NULL) {
        return;
    }

    if (tn_test_current == r) {
        tn_test_current = NULL;
    }

    for (i = 0; i < r->nparts; i++) {
        free(r->parts[i].raw.data);
        free(r->parts[i].dec.data);
    }

    free(r->parts);
    free(r->log.data);
    free(r);
}


/*
 * Parses in with the given mode: 0 whole, 1 byte by byte, 2.. random
 * splits of 1 to 97 bytes; each piece is a fresh copy, so the parser
 * cannot keep pointers into what it was given.
 */

static tn_test_res_t *
tn_test_parse(u_char *in, size_t len, tn_uint_t mode,
    const tn_mail_mime_limits_t *limits, tn_int_t stop_at)
{
    u_char          *piece;
    size_t           off, n;
    tn_int_t         rc;
    tn_pool_t       *pool;
    tn_mail_mime_t   p;
    tn_test_res_t   *r;

    r = calloc(1, sizeof(tn_test_res_t));
    pool = tn_create_pool(4096, &tn_test_log);

    if (r == NULL || pool == NULL) {
        printf("Bail out! no memory\n");
        exit(1);
    }

    r->stop_at = stop_at;

    if (tn_mail_mime_init(&p, pool, limits, &tn_test_handlers) != TN_OK) {
        printf("Bail out! tn_mail_mime_init()\n");
        exit(1);
    }

    p.data = r;
    tn_test_seed = 0x9e3779b97f4a7c15ULL * (mode + 1);
    rc = TN_OK;

    for (off = 0; off < len && rc == TN_OK; off += n) {
        n = (mode == 0) ? len : (mode == 1) ? 1 : 1 + tn_test_rand(97);
        n = tn_min(n, len - off);

        piece = malloc(n);
        memcpy(piece, in + off, n);
        rc = tn_mail_mime_feed(&p, piece, n);
        free(piece);
    }

    if (rc == TN_OK) {
        rc = tn_mail_mime_feed(&p, NULL, 0);
    }

    r->rc = tn_mail_mime_finish(&p);
    r->limits_hit = p.limits_hit;

    if (p.offset != (off_t) len && r->rc == TN_OK) {
        r->rc = -100;
    }

    tn_destroy_pool(pool);

    return r;
}


static int
tn_test_same(tn_test_res_t *a, tn_test_res_t *b)
{
    tn_uint_t        i;
    tn_test_part_t  *pa, *pb;

    if (a->rc != b->rc || a->nparts != b->nparts
        || a->limits_hit != b->limits_hit || a->log.len != b->log.len
        || (a->log.len && memcmp(a->log.data, b->log.data, a->log.len)))
    {
        return 0;
    }

    for (i = 0; i < a->nparts; i++) {
        pa = &a->parts[i];
        pb = &b->parts[i];

        if (pa->raw.len != pb->raw.len || pa->dec.len != pb->dec.len
            || (pa->raw.len && memcmp(pa->raw.data, pb->raw.data,
                                      pa->raw.len))
            || (pa->dec.len && memcmp(pa->dec.data, pb->dec.data,
                                      pa->dec.len)))
        {
            return 0;
        }
    }

    return 1;
}


/* CRLF size of in[from, to): a LF without CR before it counts 2 */

static off_t
tn_test_vsize(u_char *in, off_t from, off_t to, off_t *lines)
{
    off_t  i, v, l;

    v = 0;
    l = 0;

    for (i = from; i < to; i++) {
        v++;

        if (in[i] == LF) {
            l++;

            if (i == 0 || in[i - 1] != CR) {
                v++;
            }
        }
    }

    *lines = l;

    return v;
}


static int
tn_test_invariants(u_char *in, size_t len, tn_test_res_t *r,
    tn_uint_t max_depth, char *why, size_t size)
{
    off_t            v, l;
    tn_uint_t        i;
    tn_test_part_t  *tp, *pp;

    for (i = 0; i < r->nparts; i++) {
        tp = &r->parts[i];

        if (!tp->ended) {
            snprintf(why, size, "part %u not ended", (unsigned) i);
            return 0;
        }

        if (tp->depth > max_depth) {
            snprintf(why, size, "part %u too deep", (unsigned) i);
            return 0;
        }

        if (tp->header_offset > tp->body_offset
            || tp->body_offset > tp->body_end
            || tp->body_end > (off_t) len)
        {
            snprintf(why, size, "part %u offsets", (unsigned) i);
            return 0;
        }

        v = tn_test_vsize(in, tp->header_offset, tp->body_offset, &l);

        if (v != tp->header_vsize || l != tp->header_lines) {
            snprintf(why, size, "part %u header size %d/%d lines %d/%d",
                     (unsigned) i, (int) tp->header_vsize, (int) v,
                     (int) tp->header_lines, (int) l);
            return 0;
        }

        v = tn_test_vsize(in, tp->body_offset, tp->body_end, &l);

        if (v != tp->body_vsize || l != tp->body_lines) {
            snprintf(why, size, "part %u body size %d/%d lines %d/%d",
                     (unsigned) i, (int) tp->body_vsize, (int) v,
                     (int) tp->body_lines, (int) l);
            return 0;
        }

        if (!tp->multipart && !tp->rfc822
            && (tp->raw.len != (size_t) (tp->body_end - tp->body_offset)
                || (tp->raw.len && memcmp(tp->raw.data,
                                          in + tp->body_offset,
                                          tp->raw.len))))
        {
            snprintf(why, size, "part %u raw body", (unsigned) i);
            return 0;
        }

        if (tp->parent >= 0) {
            pp = &r->parts[tp->parent];

            if (tp->header_offset < pp->body_offset
                || tp->body_end > pp->body_end || tp->index <= pp->index)
            {
                snprintf(why, size, "part %u outside its parent",
                         (unsigned) i);
                return 0;
            }
        }

        if (i > 0 && tp->header_offset < r->parts[i - 1].body_offset) {
            snprintf(why, size, "part %u before the previous one",
                     (unsigned) i);
            return 0;
        }
    }

    return 1;
}


static size_t
tn_test_crlf(u_char *dst, const char *src, size_t len)
{
    size_t  i, n;

    for (i = 0, n = 0; i < len; i++) {
        if (src[i] == '\n' && (i == 0 || src[i - 1] != '\r')) {
            dst[n++] = '\r';
        }

        dst[n++] = src[i];
    }

    return n;
}


/*
 * Runs a message in every mode, with LF and (crlf) with CRLF line ends;
 * checks that the modes agree and the invariants hold, and that the LF
 * and CRLF forms have the same structure and CRLF sizes.  Returns the
 * whole-mode result of the form asked for (the CRLF one if crlf).
 */

static tn_test_res_t *
tn_test_run(const char *name, const char *msg, size_t len, tn_uint_t crlf,
    const tn_mail_mime_limits_t *limits)
{
    char             why[256];
    u_char          *in[2];
    size_t           ilen[2];
    tn_uint_t        f, m, i, same, max_depth, nforms;
    tn_test_res_t   *r[2][TN_TEST_MODES];
    tn_test_part_t  *a, *b;

    max_depth = (limits && limits->max_depth) ? limits->max_depth
                                              : TN_MAIL_MIME_MAX_DEPTH;

    in[0] = (u_char *) msg;
    ilen[0] = len;
    in[1] = malloc(2 * len + 1);
    ilen[1] = tn_test_crlf(in[1], msg, len);

    nforms = (ilen[1] != ilen[0]) ? 2 : 1;

    for (f = 0; f < nforms; f++) {
        same = 1;

        for (m = 0; m < TN_TEST_MODES; m++) {
            r[f][m] = tn_test_parse(in[f], ilen[f], m, limits, -1);

            if (m && !tn_test_same(r[f][0], r[f][m])) {
                same = 0;
            }
        }

        tn_test_ok(same && r[f][0]->rc == TN_OK,
                   "%s (%s): whole, byte by byte and split agree", name,
                   f ? "CRLF" : "LF");

        why[0] = '\0';
        tn_test_ok(tn_test_invariants(in[f], ilen[f], r[f][0], max_depth,
                                      why, sizeof(why)),
                   "%s (%s): offsets and sizes %s", name, f ? "CRLF" : "LF",
                   why);
    }

    if (nforms == 2) {
        same = (r[0][0]->nparts == r[1][0]->nparts);

        for (i = 0; same && i < r[0][0]->nparts; i++) {
            a = &r[0][0]->parts[i];
            b = &r[1][0]->parts[i];

            same = strcmp(a->type, b->type) == 0
                   && a->depth == b->depth
                   && a->header_vsize == b->header_vsize
                   && a->body_vsize == b->body_vsize
                   && a->header_lines == b->header_lines
                   && a->body_lines == b->body_lines
                   && a->nchildren == b->nchildren;
        }

        tn_test_ok(same, "%s: LF and CRLF give the same structure", name);
    }

    for (f = 0; f < nforms; f++) {
        for (m = (f == (crlf && nforms == 2)) ? 1 : 0; m < TN_TEST_MODES;
             m++)
        {
            tn_test_free(r[f][m]);
        }
    }

    free(in[1]);

    tn_test_current = r[crlf && nforms == 2][0];

    return tn_test_current;
}


/* the callbacks of a result as TAP comments, up to 4 KB */

static void
tn_test_dump(void *res)
{
    u_char         *p, *e, *nl;
    tn_uint_t       i;
    tn_test_res_t  *r;

    r = res;

    p = r->log.data;
    e = p + tn_min(r->log.len, 4096);

    while (p && p < e) {
        nl = memchr(p, '\n', e - p);
        nl = nl ? nl : e;
        printf("# %.*s\n", (int) (nl - p), p);
        p = nl + 1;
    }

    for (i = 0; i < r->nparts && i < 16; i++) {
        printf("# part %u raw [%.*s] decoded [%.*s]\n", (unsigned) i,
               (int) tn_min(r->parts[i].raw.len, 200), r->parts[i].raw.data,
               (int) tn_min(r->parts[i].dec.len, 200), r->parts[i].dec.data);
    }
}


static int
tn_test_eq(tn_test_buf_t *b, const char *s)
{
    size_t  n;

    n = strlen(s);

    return b->len == n && (n == 0 || memcmp(b->data, s, n) == 0);
}


#define TN_TEST_RUN(name, msg, crlf, limits)                                 \
    tn_test_run(name, msg, sizeof(msg) - 1, crlf, limits)


/* the cases */

static void
tn_test_simple(void)
{
    tn_test_res_t   *r;
    tn_test_part_t  *tp;

    static const char  msg[] =
        "From: Alice <alice@example.com>\n"
        "To: bob@example.com\n"
        "Subject: a\n"
        "  folded\tsubject\n"
        "\n"
        "Hello\n"
        "World\n";

    r = TN_TEST_RUN("simple", msg, 0, NULL);
    tp = &r->parts[0];

    tn_test_ok(r->nparts == 1 && r->nfields == 3,
               "simple: one part, three fields");
    tn_test_ok(strcmp(tp->type, "text/plain") == 0 && tp->default_type
               && strcmp(tp->params, "charset=us-ascii;") == 0
               && tp->message && !tp->multipart,
               "simple: default text/plain; charset=us-ascii");
    tn_test_ok(strstr((char *) r->log.data,
                      "[Subject] [a  folded\tsubject]") != NULL,
               "simple: folded field unfolded");
    tn_test_ok(tn_test_eq(&tp->raw, "Hello\nWorld\n")
               && tn_test_eq(&tp->dec, "Hello\nWorld\n"),
               "simple: body raw and decoded");
    tn_test_ok(tp->body_vsize == 14 && tp->body_lines == 2
               && tp->header_lines == 5 && tp->flags == 0,
               "simple: body 14 octets, 2 lines");

    tn_test_free(r);

    r = TN_TEST_RUN("simple crlf", msg, 1, NULL);
    tp = &r->parts[0];

    tn_test_ok(tn_test_eq(&tp->raw, "Hello\r\nWorld\r\n")
               && tp->body_vsize == 14 && tp->body_offset == 86,
               "simple crlf: body and offsets");
    tn_test_free(r);
}


static void
tn_test_mixed(void)
{
    char             msg[2048];
    u_char           bin[32], b64[64];
    size_t           i, n;
    tn_str_t         src, dst;
    tn_test_res_t   *r;
    tn_test_part_t  *tp;

    for (i = 0; i < sizeof(bin); i++) {
        bin[i] = (u_char) (i * 7 + 1);
    }

    src.data = bin;
    src.len = sizeof(bin);
    dst.data = b64;
    tn_encode_base64(&dst, &src);

    n = snprintf(msg, sizeof(msg),
        "From: x@example.com\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"=_XYZ\"\n"
        "\n"
        "This is the preamble.\n"
        "--=_XYZ\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Hello.\n"
        "--=_XYZ   \n"
        "Content-Type: application/octet-stream; name=\"a.bin\"\n"
        "Content-Transfer-Encoding: BASE64\n"
        "Content-Disposition: attachment; filename=\"b.bin\"\n"
        "Content-ID: <id1@example.com>\n"
        "Content-Description:  the data \n"
        "\n"
        "%.*s\n"
        "%.*s\n"
        "--=_XYZ--\n"
        "epilogue\n",
        20, b64, (int) dst.len - 20, b64 + 20);

    r = tn_test_run("mixed", msg, n, 0, NULL);

    tn_test_ok(r->nparts == 3 && r->parts[0].multipart
               && r->parts[0].nchildren == 2 && r->parts[0].epilogue
               && r->parts[0].flags == 0
               && strcmp(r->parts[0].boundary, "=_XYZ") == 0,
               "mixed: a multipart of two parts, closed");
    tn_test_ok(tn_test_eq(&r->parts[0].raw,
                          "This is the preamble.epilogue\n"),
               "mixed: preamble and epilogue");

    tp = &r->parts[1];
    tn_test_ok(strcmp(tp->type, "text/plain") == 0
               && strcmp(tp->charset, "utf-8") == 0 && !tp->message
               && tn_test_eq(&tp->raw, "Hello.") && tp->body_vsize == 6
               && tp->body_lines == 0,
               "mixed: text part without the line end before the boundary");

    tp = &r->parts[2];
    tn_test_ok(tp->encoding == TN_MAIL_MIME_ENC_BASE64
               && tp->dec.len == sizeof(bin)
               && memcmp(tp->dec.data, bin, sizeof(bin)) == 0
               && tp->flags == 0,
               "mixed: base64 attachment decoded");
    tn_test_ok(strcmp(tp->filename, "b.bin") == 0
               && strcmp(tp->disp, "attachmentfilename=b.bin;") == 0
               && strcmp(tp->id, "<id1@example.com>") == 0
               && strcmp(tp->description, "the data") == 0,
               "mixed: disposition, filename, id, description");
    tn_test_ok(tp->body_lines == 1, "mixed: attachment lines");

    tn_test_free(r);

    r = tn_test_run("mixed crlf", msg, n, 1, NULL);
    tn_test_ok(r->nparts == 3 && r->parts[2].dec.len == sizeof(bin)
               && memcmp(r->parts[2].dec.data, bin, sizeof(bin)) == 0
               && tn_test_eq(&r->parts[1].raw, "Hello."),
               "mixed crlf: same parts and data");
    tn_test_free(r);
}


static void
tn_test_nested(void)
{
    tn_test_res_t  *r;

    static const char  msg[] =
        "Content-Type: multipart/mixed; boundary=outer\n"
        "\n"
        "--outer\n"
        "Content-Type: multipart/alternative; boundary=\"inner\"\n"
        "\n"
        "--inner\n"
        "Content-Type: text/plain\n"
        "\n"
        "plain\n"
        "\n"
        "--inner\n"
        "Content-Type: text/html\n"
        "\n"
        "<p>html</p>\n"
        "--inner--\n"
        "--outer\n"
        "\n"
        "second\n"
        "--outer--\n";

    r = TN_TEST_RUN("nested", msg, 0, NULL);

    tn_test_ok(r->nparts == 5, "nested: five parts");
    tn_test_ok(strcmp(r->parts[1].type, "multipart/alternative") == 0
               && r->parts[1].depth == 1 && r->parts[1].nchildren == 2
               && r->parts[1].flags == 0 && r->parts[1].parent == 0,
               "nested: alternative inside mixed");
    tn_test_ok(r->parts[2].depth == 2 && r->parts[2].parent == 1
               && tn_test_eq(&r->parts[2].raw, "plain\n")
               && r->parts[2].body_lines == 1
               && strcmp(r->parts[3].type, "text/html") == 0
               && tn_test_eq(&r->parts[3].raw, "<p>html</p>"),
               "nested: alternative's parts");
    tn_test_ok(r->parts[4].depth == 1 && r->parts[4].default_type
               && tn_test_eq(&r->parts[4].raw, "second"),
               "nested: outer part after the inner multipart");
    tn_test_ok(r->parts[1].body_end
               == r->parts[4].header_offset - (off_t) sizeof("--outer"),
               "nested: the inner multipart ends before \"--outer\"");

    tn_test_free(r);
}


static void
tn_test_rfc822(void)
{
    tn_test_res_t   *r;
    tn_test_part_t  *m, *c;

    static const char  msg[] =
        "Subject: outer\n"
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "\n"
        "see attached\n"
        "--b\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "From: inner@example.com\n"
        "Subject: inner\n"
        "Content-Type: text/plain; charset=iso-8859-1\n"
        "\n"
        "inner body\n"
        "--b--\n";

    r = TN_TEST_RUN("rfc822", msg, 0, NULL);
    m = &r->parts[2];
    c = &r->parts[3];

    tn_test_ok(r->nparts == 4 && m->rfc822 && !m->message
               && m->nchildren == 1, "rfc822: message/rfc822 part");
    tn_test_ok(c->message && c->depth == 2 && c->parent == 2
               && strcmp(c->charset, "iso-8859-1") == 0
               && tn_test_eq(&c->raw, "inner body"),
               "rfc822: the nested message");
    tn_test_ok(strstr((char *) r->log.data, "H 3 2 off=") != NULL
               && strstr((char *) r->log.data, "[Subject] [inner]") != NULL,
               "rfc822: the nested header fields");
    tn_test_ok(m->body_vsize == c->header_vsize + c->body_vsize
               && m->body_lines == c->header_lines + c->body_lines,
               "rfc822: its size is the nested message's");

    tn_test_free(r);

    /* in a digest, parts default to message/rfc822 */

    static const char  digest[] =
        "Content-Type: multipart/digest; boundary=d\n"
        "\n"
        "--d\n"
        "\n"
        "Subject: one\n"
        "\n"
        "1\n"
        "--d\n"
        "Content-Type: text/plain\n"
        "\n"
        "2\n"
        "--d--\n";

    r = TN_TEST_RUN("digest", digest, 0, NULL);
    tn_test_ok(r->nparts == 4
               && strcmp(r->parts[1].type, "message/rfc822") == 0
               && r->parts[1].rfc822 && r->parts[2].message
               && tn_test_eq(&r->parts[2].raw, "1")
               && strcmp(r->parts[3].type, "text/plain") == 0,
               "digest: default message/rfc822");
    tn_test_free(r);
}


static void
tn_test_prefix(void)
{
    tn_test_res_t  *r;

    static const char  msg1[] =
        "Content-Type: multipart/mixed; boundary=a\n"
        "\n"
        "--a\n"
        "Content-Type: multipart/alternative; boundary=ab\n"
        "\n"
        "--ab\n"
        "\n"
        "one\n"
        "--ab\n"
        "\n"
        "two\n"
        "--ab--\n"
        "--a\n"
        "\n"
        "three\n"
        "--a--\n";

    static const char  msg2[] =
        "Content-Type: multipart/mixed; boundary=ab\n"
        "\n"
        "--ab\n"
        "Content-Type: multipart/alternative; boundary=a\n"
        "\n"
        "--a\n"
        "\n"
        "one\n"
        "--a\n"
        "\n"
        "two\n"
        "--a--\n"
        "--ab\n"
        "\n"
        "three\n"
        "--ab--\n";

    r = TN_TEST_RUN("prefix a/ab", msg1, 0, NULL);
    tn_test_ok(r->nparts == 5 && tn_test_eq(&r->parts[2].raw, "one")
               && tn_test_eq(&r->parts[3].raw, "two")
               && tn_test_eq(&r->parts[4].raw, "three")
               && r->parts[4].depth == 1 && r->parts[1].nchildren == 2
               && r->parts[0].flags == 0 && r->parts[1].flags == 0,
               "prefix: outer --a, inner --ab");
    tn_test_free(r);

    r = TN_TEST_RUN("prefix ab/a", msg2, 0, NULL);
    tn_test_ok(r->nparts == 5 && tn_test_eq(&r->parts[2].raw, "one")
               && tn_test_eq(&r->parts[3].raw, "two")
               && tn_test_eq(&r->parts[4].raw, "three")
               && r->parts[4].depth == 1 && r->parts[1].nchildren == 2
               && r->parts[0].flags == 0 && r->parts[1].flags == 0,
               "prefix: outer --ab, inner --a");
    tn_test_free(r);
}


static void
tn_test_broken(void)
{
    tn_test_res_t  *r;

    static const char  noclose[] =
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "\n"
        "only\n";

    static const char  never[] =
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "no delimiter here\n"
        "-- b\n";

    static const char  nob[] =
        "Content-Type: multipart/mixed\n"
        "\n"
        "--b\n"
        "text\n";

    static const char  inner[] =
        "Content-Type: multipart/mixed; boundary=o\n"
        "\n"
        "--o\n"
        "Content-Type: multipart/mixed; boundary=i\n"
        "\n"
        "--i\n"
        "\n"
        "x\n"
        "--o\n"
        "Content-Type: text/plain\n"
        "--o--\n";

    static const char  hdr[] =
        "\tcontinuation first\n"
        "no colon here\n"
        "Name : value\n"
        "\n";

    r = TN_TEST_RUN("no close delimiter", noclose, 0, NULL);
    tn_test_ok(r->nparts == 2
               && (r->parts[0].flags & TN_MAIL_MIME_F_NO_CLOSE)
               && tn_test_eq(&r->parts[1].raw, "only\n"),
               "no close delimiter: the part runs to the end");
    tn_test_free(r);

    r = TN_TEST_RUN("boundary never seen", never, 0, NULL);
    tn_test_ok(r->nparts == 1 && r->parts[0].multipart
               && r->parts[0].nchildren == 0
               && (r->parts[0].flags & TN_MAIL_MIME_F_NO_CLOSE)
               && tn_test_eq(&r->parts[0].raw, "no delimiter here\n-- b\n"),
               "boundary never seen: all preamble");
    tn_test_free(r);

    r = TN_TEST_RUN("no boundary", nob, 0, NULL);
    tn_test_ok(r->nparts == 1 && !r->parts[0].multipart
               && (r->parts[0].flags & TN_MAIL_MIME_F_NO_BOUNDARY)
               && strcmp(r->parts[0].type, "multipart/mixed") == 0
               && tn_test_eq(&r->parts[0].raw, "--b\ntext\n"),
               "content-type without boundary: a leaf");
    tn_test_free(r);

    r = TN_TEST_RUN("outer ends inner", inner, 0, NULL);
    tn_test_ok(r->nparts == 4
               && (r->parts[1].flags & TN_MAIL_MIME_F_NO_CLOSE)
               && tn_test_eq(&r->parts[2].raw, "x")
               && (r->parts[3].flags & TN_MAIL_MIME_F_NO_HEADER_END)
               && r->parts[3].body_offset == r->parts[3].body_end
               && r->parts[0].flags == 0,
               "outer boundary ends the inner parts and a header");
    tn_test_free(r);

    r = TN_TEST_RUN("broken header", hdr, 0, NULL);
    tn_test_ok(r->nfields == 3
               && (r->parts[0].flags & TN_MAIL_MIME_F_HEADER_BROKEN)
               && strstr((char *) r->log.data,
                         "nocolon [\tcontinuation first]") != NULL
               && strstr((char *) r->log.data, "[Name] [value]") != NULL,
               "broken header lines are fields");
    tn_test_free(r);
}


static void
tn_test_bytes(void)
{
    char                   *msg, *d;
    tn_uint_t               i;
    tn_test_res_t          *r;
    tn_mail_mime_limits_t   lim;

    static const char  odd[] =
        "Subject: a\rb\n"
        "\n"
        "x\ry\0\xe9\r";

    static const char  pad[] =
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b \t \n"
        "\n"
        "one\n"
        "--b transport padding\n"
        "\n"
        "two\n"
        "--b--garbage\n"
        "--b\n"
        "epilogue\n";

    r = TN_TEST_RUN("bare CR and NUL", odd, 0, NULL);
    tn_test_ok(strstr((char *) r->log.data, "[Subject] [a\rb]") != NULL
               && r->parts[0].raw.len == 6
               && memcmp(r->parts[0].raw.data, "x\ry\0\xe9\r", 6) == 0
               && r->parts[0].body_vsize == 6 && r->parts[0].body_lines == 0
               && (r->parts[0].flags & TN_MAIL_MIME_F_NUL)
               && (r->parts[0].flags & TN_MAIL_MIME_F_BODY_8BIT),
               "bare CR is data, NUL and 8-bit flagged");
    tn_test_free(r);

    r = TN_TEST_RUN("boundary padding", pad, 0, NULL);
    tn_test_ok(r->nparts == 3 && tn_test_eq(&r->parts[1].raw, "one")
               && tn_test_eq(&r->parts[2].raw, "two")
               && r->parts[0].epilogue
               && tn_test_eq(&r->parts[0].raw, "--b\nepilogue\n"),
               "boundary lines: padding, text after, close, epilogue");
    tn_test_free(r);

    /* fields past max_header_size are not reported */

    msg = malloc(8192);
    d = msg;

    for (i = 0; i < 50; i++) {
        d += sprintf(d, "X-Field-%02u: 0123456789012345678901234\n",
                     (unsigned) i);
    }

    d += sprintf(d, "\nbody\n");

    tn_memzero(&lim, sizeof(lim));
    lim.max_header_size = 1000;

    r = tn_test_run("header size", msg, d - msg, 0, &lim);
    tn_test_ok((r->limits_hit & TN_MAIL_MIME_LIMIT_HEADER_SIZE)
               && (r->parts[0].flags & TN_MAIL_MIME_F_HEADER_TOO_BIG)
               && r->nfields == 27 && tn_test_eq(&r->parts[0].raw, "body\n"),
               "header size: fields past the limit dropped (%u)",
               (unsigned) r->nfields);
    tn_test_free(r);

    free(msg);
}


static void
tn_test_depth(void)
{
    char            *msg, *d;
    tn_uint_t        i, max;
    tn_test_res_t   *r;

    msg = malloc(64 * 1024);
    d = msg;

    for (i = 0; i < 150; i++) {
        d += sprintf(d, "Content-Type: multipart/mixed; boundary=b%03u\n\n"
                     "--b%03u\n", (unsigned) i, (unsigned) i);
    }

    d += sprintf(d, "\ninnermost\n");

    for (i = 150; i-- > 0; /* void */) {
        d += sprintf(d, "--b%03u--\n", (unsigned) i);
    }

    r = tn_test_run("depth", msg, d - msg, 0, NULL);

    for (i = 0, max = 0; i < r->nparts; i++) {
        max = tn_max(max, r->parts[i].depth);
    }

    tn_test_ok(r->nparts == 101 && max == 100
               && (r->limits_hit & TN_MAIL_MIME_LIMIT_DEPTH)
               && (r->parts[100].flags & TN_MAIL_MIME_F_TOO_DEEP)
               && !r->parts[100].multipart && r->parts[99].flags == 0,
               "depth: 150 levels stop at 100 (%u parts, depth %u)",
               (unsigned) r->nparts, (unsigned) max);
    tn_test_ok(r->nparts == 101 && r->parts[100].raw.len > 7
               && strncmp((char *) r->parts[100].raw.data, "--b100\n", 7)
                  == 0,
               "depth: the rest is the body of the deepest part");
    tn_test_free(r);

    /* 10,000 levels of message/rfc822 */

    free(msg);
    msg = malloc(400 * 1024);
    d = msg;

    for (i = 0; i < 10000; i++) {
        d += sprintf(d, "Content-Type: message/rfc822\n\n");
    }

    d += sprintf(d, "body\n");

    r = tn_test_run("rfc822 depth", msg, d - msg, 0, NULL);
    tn_test_ok(r->nparts == 101 && r->parts[100].depth == 100
               && (r->parts[100].flags & TN_MAIL_MIME_F_TOO_DEEP),
               "rfc822 depth: 10,000 levels stop at 100");
    tn_test_free(r);

    free(msg);
}


static void
tn_test_parts(void)
{
    char            *msg, *d;
    tn_uint_t        i;
    tn_test_res_t   *r;

    msg = malloc(512 * 1024);
    d = msg;
    d += sprintf(d, "Content-Type: multipart/mixed; boundary=x\n\n");

    for (i = 0; i < 20000; i++) {
        d += sprintf(d, "--x\n\n%u\n", (unsigned) i);
    }

    d += sprintf(d, "--x--\n");

    r = tn_test_run("parts", msg, d - msg, 0, NULL);

    tn_test_ok(r->nparts == TN_MAIL_MIME_MAX_PARTS
               && (r->limits_hit & TN_MAIL_MIME_LIMIT_PARTS)
               && r->parts[0].nchildren == TN_MAIL_MIME_MAX_PARTS - 1,
               "parts: 20,000 parts stop at 10,000");
    tn_test_ok(strncmp((char *) r->parts[9999].raw.data,
                       "9998\n--x\n\n9999\n", 15) == 0
               && r->parts[9999].raw.len > 100000,
               "parts: the rest is the body of the last part");
    tn_test_free(r);

    free(msg);
}


static void
tn_test_long_header(void)
{
    char            *msg, *d;
    size_t           n;
    tn_test_res_t   *r;

    n = 1024 * 1024;
    msg = malloc(n + 256);
    d = msg;

    d += sprintf(d, "Subject: ");
    memset(d, 'a', n);
    d += n;
    d += sprintf(d, "\nX-After: yes\n\nbody\n");

    r = tn_test_run("long header", msg, d - msg, 0, NULL);

    tn_test_ok((r->limits_hit & TN_MAIL_MIME_LIMIT_HEADER_LINE)
               && (r->parts[0].flags & TN_MAIL_MIME_F_HEADER_TRUNCATED)
               && r->nfields == 2
               && strstr((char *) r->log.data, " trunc [Subject] [aaa")
               && strstr((char *) r->log.data, "[X-After] [yes]")
               && tn_test_eq(&r->parts[0].raw, "body\n"),
               "long header: a 1 MB line is cut, parsing goes on");
    tn_test_ok(strstr((char *) r->log.data,
                      "H 0 0 off=0 size=1048586 lines=1 trunc") != NULL,
               "long header: the field's size is the whole line");
    tn_test_free(r);

    free(msg);
}


static void
tn_test_base64(void)
{
    tn_test_res_t  *r;

    static const char  msg[] =
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "SGVs*bG8g!d29y\n"
        "bGQ\n";

    static const char  msg2[] =
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "YQ==Yg==\n"
        "Yw=\n";

    r = TN_TEST_RUN("base64 errors", msg, 0, NULL);
    tn_test_ok(tn_test_eq(&r->parts[0].dec, "Hello world")
               && (r->parts[0].flags & TN_MAIL_MIME_F_B64_INVALID)
               && (r->parts[0].flags & TN_MAIL_MIME_F_B64_PADDING),
               "base64: invalid characters skipped, missing padding");
    tn_test_free(r);

    r = TN_TEST_RUN("base64 padding", msg2, 0, NULL);
    tn_test_ok(tn_test_eq(&r->parts[0].dec, "abc")
               && !(r->parts[0].flags & TN_MAIL_MIME_F_B64_INVALID)
               && (r->parts[0].flags & TN_MAIL_MIME_F_B64_PADDING),
               "base64: concatenated, one '=' short");
    tn_test_free(r);
}


static void
tn_test_qp(void)
{
    tn_test_res_t  *r;

    static const char  eq_end[] =
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "abc=";

    static const char  lower[] =
        "Content-Transfer-Encoding: Quoted-Printable\n"
        "\n"
        "caf=c3=a9 =C3=A9t=C3=A9  \n"
        "soft=\n"
        "break=  \n"
        "end =zz=4\n"
        "last=\n";

    static const char  mp[] =
        "Content-Type: multipart/mixed; boundary=q\n"
        "\n"
        "--q\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "line=\n"
        "--q--\n";

    r = TN_TEST_RUN("qp = at end", eq_end, 0, NULL);
    tn_test_ok(tn_test_eq(&r->parts[0].dec, "abc")
               && (r->parts[0].flags & TN_MAIL_MIME_F_QP_EQ_END),
               "qp: '=' at the end");
    tn_test_free(r);

    r = TN_TEST_RUN("qp", lower, 0, NULL);
    tn_test_ok(tn_test_eq(&r->parts[0].dec,
                          "caf\xc3\xa9 \xc3\xa9t\xc3\xa9\n"
                          "softbreakend =zz=4\nlast")
               && (r->parts[0].flags & TN_MAIL_MIME_F_QP_INVALID)
               && !(r->parts[0].flags & TN_MAIL_MIME_F_QP_EQ_END),
               "qp: lowercase hex, soft breaks, trailing blanks, errors");
    tn_test_free(r);

    r = TN_TEST_RUN("qp crlf", lower, 1, NULL);
    tn_test_ok(tn_test_eq(&r->parts[0].dec,
                          "caf\xc3\xa9 \xc3\xa9t\xc3\xa9\r\n"
                          "softbreakend =zz=4\r\nlast"),
               "qp crlf: the same with CRLF");
    tn_test_free(r);

    r = TN_TEST_RUN("qp before boundary", mp, 0, NULL);
    tn_test_ok(tn_test_eq(&r->parts[1].dec, "line")
               && (r->parts[1].flags & TN_MAIL_MIME_F_QP_EQ_END),
               "qp: a soft break cut by the boundary");
    tn_test_free(r);
}


static void
tn_test_rfc2231(void)
{
    tn_test_res_t   *r;
    tn_test_part_t  *tp;

    static const char  msg[] =
        "Content-Type: multipart/mixed;\n"
        " boundary*1=\"cd\"; boundary*0=ab\n"
        "\n"
        "--abcd\n"
        "Content-Type: application/x-stuff;\n"
        " title*1*=%2A%2A%2Afun%2A%2A%2A%20;\n"
        " title*0*=us-ascii'en'This%20is%20even%20more%20;\n"
        " title*2=\"isn't it!\"; title=plain;\n"
        " name*4294967296=x; junk; n2*5=gap; =; name=my file.pdf\n"
        "Content-Disposition: attachment;\n"
        " filename*=UTF-8''na%C3%AFve%20file.txt\n"
        "\n"
        "data\n"
        "--abcd--\n";

    r = TN_TEST_RUN("rfc2231", msg, 0, NULL);
    tp = &r->parts[1];

    tn_test_ok(r->nparts == 2 && strcmp(r->parts[0].boundary, "abcd") == 0,
               "rfc2231: boundary from continuations");
    tn_test_ok(strcmp(tp->params,
                      "title*=us-ascii'en'This is even more ***fun*** "
                      "isn't it!;name=my file.pdf;") == 0,
               "rfc2231: continuations joined, plain duplicate dropped");
    tn_test_ok(strcmp(tp->filename, "na\xc3\xafve file.txt") == 0
               && (tp->flags & TN_MAIL_MIME_F_BAD_PARAMS),
               "rfc2231: charset'lang'%%XX filename; bad ones flagged");
    tn_test_free(r);
}


static void
tn_test_limits(void)
{
    char                   *msg, *d;
    tn_uint_t               i;
    tn_test_res_t          *r;
    tn_mail_mime_limits_t   lim;

    /* parameters past max_params, a long boundary, a small info block */

    msg = malloc(64 * 1024);
    d = msg;
    d += sprintf(d, "Content-Type: text/plain");

    for (i = 0; i < 500; i++) {
        d += sprintf(d, ";\n p%u*%u=v", (unsigned) (i % 7), (unsigned) i);
    }

    d += sprintf(d, "\nContent-Type: text/html\n\nx\n");

    r = tn_test_run("params", msg, d - msg, 0, NULL);
    tn_test_ok((r->limits_hit & TN_MAIL_MIME_LIMIT_PARAMS)
               && strcmp(r->parts[0].type, "text/plain") == 0,
               "params: 500 segments, the first Content-Type wins");
    tn_test_free(r);

    d = msg;
    d += sprintf(d, "Content-Type: multipart/mixed; boundary=");
    memset(d, 'b', 71);
    d += 71;
    d += sprintf(d, "\n\n--");
    memset(d, 'b', 71);
    d += 71;
    d += sprintf(d, "\n\nx\n");

    r = tn_test_run("long boundary", msg, d - msg, 0, NULL);
    tn_test_ok(r->nparts == 1 && !r->parts[0].multipart
               && (r->limits_hit & TN_MAIL_MIME_LIMIT_BOUNDARY),
               "long boundary: a leaf");
    tn_test_free(r);

    tn_memzero(&lim, sizeof(lim));
    lim.max_part_info = 100;
    lim.max_depth = 3;

    d = msg;
    d += sprintf(d, "Content-Type: text/plain; a=");
    memset(d, 'a', 200);
    d += 200;
    d += sprintf(d, "\nContent-ID: <x>\n\n");

    r = tn_test_run("info limit", msg, d - msg, 0, &lim);
    tn_test_ok((r->limits_hit & TN_MAIL_MIME_LIMIT_PART_INFO)
               && strcmp(r->parts[0].params, "") == 0
               && strcmp(r->parts[0].id, "<x>") == 0,
               "info limit: what does not fit is dropped");
    tn_test_free(r);

    free(msg);
}


static void
tn_test_stop(void)
{
    tn_test_res_t  *r;

    static const char  msg[] =
        "Content-Type: multipart/mixed; boundary=s\n"
        "\n"
        "--s\n"
        "\n"
        "a\n"
        "--s--\n";

    r = tn_test_parse((u_char *) msg, sizeof(msg) - 1, 1, NULL, 1);
    tn_test_ok(r->rc == TN_DONE && r->nparts == 2 && !r->parts[1].ended
               && r->parts[1].raw.len == 0,
               "a handler stops the parser");
    tn_test_free(r);
}


static void
tn_test_words(void)
{
    u_char  out[1024];
    size_t  n;

    static const char  subj[] =
        "=?utf-8?q?caf=C3=A9?= =?UTF-8?B?w6k=?=\n"
        " plain =?iso-8859-1?q?=E9t=E9?=  =?windows-1252?Q?=80_!?= "
        "=?unknown?q?x?= =?utf-8?q?=C3?= =?utf-8*en?q?=A9?= =?utf-8?q?=FF?="
        " =?utf-8?x?bad?= =?us-ascii?q?a b?=";

    n = tn_mail_mime_decode_words(out, (u_char *) subj, sizeof(subj) - 1);
    out[n] = '\0';

    tn_test_ok(strcmp((char *) out,
                      "caf\xc3\xa9\xc3\xa9 plain \xc3\xa9t\xc3\xa9"
                      "\xe2\x82\xac ! =?unknown?q?x?= \xc3\xa9\xef\xbf\xbd"
                      " =?utf-8?x?bad?= =?us-ascii?q?a b?=") == 0,
               "rfc2047: Q, B, charsets, joined words, split UTF-8");

    n = tn_mail_mime_decode_words(out, (u_char *) "no words", 8);
    tn_test_ok(n == 8 && memcmp(out, "no words", 8) == 0,
               "rfc2047: plain text unchanged");
}


static void
tn_test_addresses(void)
{
    u_char                name[256];
    size_t                n;
    tn_uint_t             na, ok;
    tn_pool_t            *pool;
    tn_mail_mime_addr_t  *a;

    static const char  list[] =
        "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>,\n"
        " A Group(Some people):Chris Jones <c@(Chris's host.)public.example>,"
        "\n joe@example.org,\n John <jdoe@one.test> (my dear friend); (end),"
        " \"Doe, Jane\" <jane@x.test>, <@r1.test,@r2.test:user@host.test>,"
        " bare, user@host (Real Name), undisclosed-recipients:;,"
        " =?utf-8?q?J=C3=B6rg?= =?utf-8?q?_M=C3=BCller?= <jm@example.com>,"
        " \"quoted local\"@[10.0.0.1], John Q. Public <jqp@x.test";

    static const char  *want[][4] = {
        { "Pete", "", "pete", "silly.test" },
        { "", "", "A Group", "" },
        { "Chris Jones", "", "c", "public.example" },
        { "", "", "joe", "example.org" },
        { "John", "", "jdoe", "one.test" },
        { "", "", "", "" },
        { "Doe, Jane", "", "jane", "x.test" },
        { "", "@r1.test,@r2.test", "user", "host.test" },
        { "", "", "bare", "" },
        { "Real Name", "", "user", "host" },
        { "", "", "undisclosed-recipients", "" },
        { "", "", "", "" },
        { "=?utf-8?q?J=C3=B6rg?= =?utf-8?q?_M=C3=BCller?=", "", "jm",
          "example.com" },
        { "", "", "quoted local", "[10.0.0.1]" },
        { "John Q. Public", "", "jqp", "x.test" }
    };

    pool = tn_create_pool(4096, &tn_test_log);

    if (tn_mail_mime_parse_addresses(pool, (u_char *) list, sizeof(list) - 1,
                                     &a, &na) != TN_OK)
    {
        na = 0;
    }

    ok = (na == sizeof(want) / sizeof(want[0]));

    for (n = 0; ok && n < na; n++) {
        ok = a[n].name.len == strlen(want[n][0])
             && memcmp(a[n].name.data, want[n][0], a[n].name.len) == 0
             && a[n].adl.len == strlen(want[n][1])
             && memcmp(a[n].adl.data, want[n][1], a[n].adl.len) == 0
             && a[n].mailbox.len == strlen(want[n][2])
             && memcmp(a[n].mailbox.data, want[n][2], a[n].mailbox.len) == 0
             && a[n].host.len == strlen(want[n][3])
             && memcmp(a[n].host.data, want[n][3], a[n].host.len) == 0;

        if (!ok) {
            printf("# address %u: [%.*s] [%.*s] [%.*s] [%.*s]\n",
                   (unsigned) n, (int) a[n].name.len, a[n].name.data,
                   (int) a[n].adl.len, a[n].adl.data,
                   (int) a[n].mailbox.len, a[n].mailbox.data,
                   (int) a[n].host.len, a[n].host.data);
        }
    }

    tn_test_ok(ok, "addresses: names, routes, comments, quotes (%u)",
               (unsigned) na);

    tn_test_ok(na > 14 && a[1].group_start && a[5].group_end
               && a[10].group_start && a[11].group_end && a[8].invalid
               && !a[0].invalid && a[14].invalid && !a[4].invalid,
               "addresses: groups and flags");

    if (na > 12) {
        n = tn_mail_mime_decode_words(name, a[12].name.data,
                                      a[12].name.len);
        tn_test_ok(n == 13 && memcmp(name, "J\xc3\xb6rg M\xc3\xbcller", 13)
                   == 0, "addresses: an encoded display name decodes");

    } else {
        tn_test_ok(0, "addresses: an encoded display name decodes");
    }

    tn_test_ok(tn_mail_mime_parse_addresses(pool, (u_char *) "", 0, &a, &na)
               == TN_OK && na == 0, "addresses: empty");

    tn_destroy_pool(pool);
}


static void
tn_test_dates(void)
{
    time_t     t;
    tn_int_t   tz, rc;
    tn_uint_t  i;

    static const struct {
        const char  *date;
        time_t       t;
        tn_int_t     tz;
    } cases[] = {
        { "Tue, 14 Nov 2006 14:23:11 +0000", 1163514191, 0 },
        { "14 Nov 06 14:23:11 GMT", 1163514191, 0 },
        { "Tue Nov 14 14:23:11 2006", 1163514191, 0 },
        { "Tue, 14-Nov-2006 09:23:11 -0500 (EST)", 1163514191, -300 },
        { "2006-11-14 14:23:11", 1163514191, 0 },
        { "Tue, 14 Nov 2006 9:23:11 EST", 1163514191, -300 },
        { "14 Nov 2006 02:23:11 PM +0000", 1163514191, 0 },
        { "Tuesday, 14 November 2006 15:23 +0100", 1163514180, 60 },
        { " 1 Jan 1970 00:00:00 Z", 0, 0 },
        { "29 Feb 2024 23:59:60 +1400", 1709200800, 840 },
        { "14 Nov 2006", 1163462400, 0 },
        { "Mon, 2 Jan 2006 15:04:05 -0700 (MST)", 1136239445, -420 }
    };

    static const char  *bad[] = {
        "", "garbage", "32 Nov 2006 10:00", "14 Nov 2006 25:00",
        "14 Foo 2006", "14 Nov 2006 10:00 +12345", "1 2 3 4"
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t = 0;
        tz = 99;
        rc = tn_mail_mime_parse_date((u_char *) cases[i].date,
                                     strlen(cases[i].date), &t, &tz);

        tn_test_ok(rc == TN_OK && t == cases[i].t && tz == cases[i].tz,
                   "date \"%s\": %ld %d", cases[i].date, (long) t,
                   (int) tz);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = tn_mail_mime_parse_date((u_char *) bad[i], strlen(bad[i]), &t,
                                     NULL);
        tn_test_ok(rc == TN_ERROR, "date \"%s\" refused", bad[i]);
    }
}


int
main(void)
{
    tn_pagesize = getpagesize();
    tn_memzero(&tn_test_log, sizeof(tn_log_t));

    tn_test_simple();
    tn_test_mixed();
    tn_test_nested();
    tn_test_rfc822();
    tn_test_prefix();
    tn_test_broken();
    tn_test_bytes();
    tn_test_depth();
    tn_test_parts();
    tn_test_long_header();
    tn_test_base64();
    tn_test_qp();
    tn_test_rfc2231();
    tn_test_limits();
    tn_test_stop();
    tn_test_words();
    tn_test_addresses();
    tn_test_dates();

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
