
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_mime.h>
#include <tn_mail_imap_msg.h>
#include <tn_mail_imap_struct.h>


/*
 * The header cache, whole messages in memory, FETCH sections and the
 * SEARCH text of a message (see tn_mail_imap_msg.h).  The rendering of
 * ENVELOPE and BODYSTRUCTURE is in tn_mail_imap_struct.c.
 */


#define TN_MAIL_IMAP_MSG_CHUNK   (64 * 1024)

#define tn_mail_imap_memchr(p, c, n)  ((u_char *) memchr(p, c, n))


typedef struct {
    tn_pool_t                 *pool;
    tn_mail_imap_tree_t        tree;
    tn_store_cache_t          *cache;
    u_char                    *hdr;         /* the first raw bytes */
    size_t                     hdr_len;
    unsigned                   root_done:1;
    unsigned                   read_failed:1;
} tn_mail_imap_cache_ctx_t;


/* a part of a message in memory, for sections */
typedef struct tn_mail_imap_sp_s  tn_mail_imap_sp_t;

struct tn_mail_imap_sp_s {
    tn_mail_imap_sp_t         *child;
    tn_mail_imap_sp_t         *last;
    tn_mail_imap_sp_t         *next;
    tn_uint_t                  index;
    tn_uint_t                  encoding;
    off_t                      header_offset;
    off_t                      body_offset;
    off_t                      body_end;
    unsigned                   multipart:1;
    unsigned                   rfc822:1;
};


typedef struct {
    tn_pool_t                 *pool;
    tn_mail_imap_sp_t         *root;
    tn_mail_imap_sp_t         *stack[TN_MAIL_MIME_MAX_DEPTH + 1];
    tn_uint_t                  want;       /* index of the part decoded */
    tn_mail_imap_buf_t         buf;
} tn_mail_imap_sp_ctx_t;


/* the SEARCH text of a message */
typedef struct {
    tn_mail_imap_buf_t         out;
    tn_mail_imap_buf_t         part;       /* the text part being read */
    tn_uint_t                  on;
    tn_int_t                   cs;
} tn_mail_imap_text_ctx_t;


static tn_int_t tn_mail_imap_cache_read(tn_mail_imap_cache_ctx_t *ctx,
    tn_mail_mime_t *p, tn_fd_t fd, tn_log_t *log);
static tn_int_t tn_mail_imap_cache_header(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part, tn_mail_mime_field_t *field);
static tn_int_t tn_mail_imap_cache_start(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part);
static tn_int_t tn_mail_imap_cache_end(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part);
static tn_int_t tn_mail_imap_cache_root(tn_mail_imap_cache_ctx_t *ctx,
    tn_mail_mime_part_t *part);
static tn_int_t tn_mail_imap_cache_search(tn_mail_imap_cache_ctx_t *ctx,
    tn_str_t *env);
static tn_int_t tn_mail_imap_cache_text(tn_pool_t *pool, tn_str_t *value,
    tn_str_t *out);
static size_t tn_mail_imap_crlf(u_char *dst, u_char *src, size_t len,
    u_char *prev);
static tn_int_t tn_mail_imap_msg_sub(tn_pool_t *pool,
    tn_mail_imap_section_t *s, u_char *m, size_t hlen, size_t len,
    tn_str_t *out);
static size_t tn_mail_imap_header_end(u_char *p, size_t len);
static tn_int_t tn_mail_imap_read_file(tn_pool_t *pool, const char *path,
    off_t max, u_char **raw, size_t *len);
static tn_int_t tn_mail_imap_sp_parse(tn_pool_t *pool, tn_str_t *msg,
    tn_mail_imap_sp_t *want, tn_mail_imap_sp_ctx_t *ctx);
static tn_int_t tn_mail_imap_sp_start(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part);
static tn_int_t tn_mail_imap_sp_end(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part);
static tn_int_t tn_mail_imap_sp_decoded(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part, u_char *data, size_t len);
static tn_mail_imap_sp_t *tn_mail_imap_sp_find(tn_mail_imap_sp_t *root,
    tn_mail_imap_section_t *s);
static tn_int_t tn_mail_imap_sp_binary(tn_pool_t *pool, tn_str_t *msg,
    tn_mail_imap_sp_t *sp, tn_str_t *out);
static tn_int_t tn_mail_imap_field_next(u_char **pp, u_char *end,
    tn_str_t *field, tn_str_t *name);
static tn_uint_t tn_mail_imap_field_in(tn_str_t *name, tn_str_t *fields);
static tn_int_t tn_mail_imap_text_start(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part);
static tn_int_t tn_mail_imap_text_decoded(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part, u_char *data, size_t len);
static tn_int_t tn_mail_imap_text_end(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part);


/* the header cache */

tn_int_t
tn_mail_imap_msg_cache(tn_pool_t *pool, tn_fd_t fd, tn_store_cache_t *c,
    tn_log_t *log)
{
    tn_int_t                   rc;
    tn_mail_mime_t             p;
    tn_mail_mime_handlers_t    h;
    tn_mail_imap_cache_ctx_t  *ctx;

    tn_memzero(c, sizeof(tn_store_cache_t));
    c->date = -1;

    ctx = tn_pcalloc(pool, sizeof(tn_mail_imap_cache_ctx_t));
    if (ctx == NULL) {
        goto nomem;
    }

    ctx->pool = pool;
    ctx->cache = c;
    ctx->tree.pool = pool;

    tn_memzero(&h, sizeof(tn_mail_mime_handlers_t));
    h.header = tn_mail_imap_cache_header;
    h.part_start = tn_mail_imap_cache_start;
    h.part_end = tn_mail_imap_cache_end;

    if (tn_mail_mime_init(&p, pool, NULL, &h) != TN_OK) {
        goto nomem;
    }

    p.data = ctx;

    rc = tn_mail_imap_cache_read(ctx, &p, fd, log);

    if (ctx->read_failed) {
        return TN_ERROR;
    }

    if (rc != TN_OK) {
        if (rc != TN_ERROR) {
            tn_log_error(TN_LOG_ALERT, log, 0,
                         "message cache stopped with %i", rc);
            return TN_ERROR;
        }

        goto nomem;
    }

    if (tn_mail_imap_tree_render(&ctx->tree, 1, &c->bodystructure) != TN_OK
        || tn_mail_imap_tree_render(&ctx->tree, 0, &c->body) != TN_OK)
    {
        goto nomem;
    }

    if (ctx->tree.root != NULL) {
        c->envelope = ctx->tree.root->envelope;
    }

    if (c->envelope.len == 0) {
        tn_str_set(&c->envelope, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    }

    return TN_OK;

nomem:

    tn_log_error(TN_LOG_CRIT, log, TN_ENOMEM,
                 "no memory for a message cache");
    return TN_ERROR;
}


/*
 * The file is fed to the parser in its CRLF form, the form FETCH sends
 * and tn_mail_imap_msg_section() parses: so both see the same bytes,
 * and the same limits cut them at the same places.
 */

static tn_int_t
tn_mail_imap_cache_read(tn_mail_imap_cache_ctx_t *ctx, tn_mail_mime_t *p,
    tn_fd_t fd, tn_log_t *log)
{
    off_t     off;
    u_char   *buf, *crlf, prev;
    size_t    len, keep;
    ssize_t   n;
    tn_int_t  rc;

    buf = tn_pnalloc(ctx->pool, TN_MAIL_IMAP_MSG_CHUNK);
    crlf = tn_pnalloc(ctx->pool, 2 * TN_MAIL_IMAP_MSG_CHUNK);
    ctx->hdr = tn_pnalloc(ctx->pool, TN_STORE_CACHE_HEADER_MAX);

    if (buf == NULL || crlf == NULL || ctx->hdr == NULL) {
        return TN_ERROR;
    }

    off = 0;
    prev = '\0';

    for ( ;; ) {
        n = pread(fd, buf, TN_MAIL_IMAP_MSG_CHUNK, off);

        if (n == -1) {
            if (tn_errno == TN_EINTR) {
                continue;
            }

            tn_log_error(TN_LOG_ERR, log, tn_errno,
                         "pread() of a message failed");
            ctx->read_failed = 1;
            return TN_ERROR;
        }

        if (n == 0) {
            break;
        }

        off += n;
        len = tn_mail_imap_crlf(crlf, buf, n, &prev);

        /* the root header is taken from these bytes at its part_start */
        if (!ctx->root_done && ctx->hdr_len < TN_STORE_CACHE_HEADER_MAX) {
            keep = tn_min(len, TN_STORE_CACHE_HEADER_MAX - ctx->hdr_len);
            tn_memcpy(ctx->hdr + ctx->hdr_len, crlf, keep);
            ctx->hdr_len += keep;
        }

        rc = tn_mail_mime_feed(p, crlf, len);
        if (rc != TN_OK) {
            return rc;
        }
    }

    tn_pfree(ctx->pool, buf);
    tn_pfree(ctx->pool, crlf);

    rc = tn_mail_mime_finish(p);

    tn_pfree(ctx->pool, ctx->hdr);
    ctx->hdr = NULL;

    return rc;
}


static tn_int_t
tn_mail_imap_cache_header(tn_mail_mime_t *p, tn_mail_mime_part_t *part,
    tn_mail_mime_field_t *field)
{
    tn_mail_imap_cache_ctx_t  *ctx = p->data;

    return tn_mail_imap_tree_header(&ctx->tree, part, field);
}


static tn_int_t
tn_mail_imap_cache_start(tn_mail_mime_t *p, tn_mail_mime_part_t *part)
{
    tn_mail_imap_cache_ctx_t  *ctx = p->data;

    if (tn_mail_imap_tree_start(&ctx->tree, part) != TN_OK) {
        return TN_ERROR;
    }

    if (part->depth == 0 && !ctx->root_done) {
        ctx->root_done = 1;
        return tn_mail_imap_cache_root(ctx, part);
    }

    return TN_OK;
}


static tn_int_t
tn_mail_imap_cache_end(tn_mail_mime_t *p, tn_mail_mime_part_t *part)
{
    tn_mail_imap_cache_ctx_t  *ctx = p->data;

    return tn_mail_imap_tree_end(&ctx->tree, part);
}


/* the root header is complete: the header block and the search fields */

static tn_int_t
tn_mail_imap_cache_root(tn_mail_imap_cache_ctx_t *ctx,
    tn_mail_mime_part_t *part)
{
    size_t             len;
    tn_store_cache_t  *c;

    c = ctx->cache;

    if (part->header_vsize > TN_STORE_CACHE_HEADER_MAX
        || part->body_offset > (off_t) ctx->hdr_len)
    {
        c->header_too_large = 1;

    } else {
        c->header.data = tn_pnalloc(ctx->pool, part->header_vsize + 1);
        if (c->header.data == NULL) {
            return TN_ERROR;
        }

        len = (size_t) part->body_offset;
        tn_memcpy(c->header.data, ctx->hdr, len);
        c->header.data[len] = '\0';
        c->header.len = len;
    }

    return tn_mail_imap_cache_search(ctx, ctx->tree.root->env);
}


static tn_int_t
tn_mail_imap_cache_search(tn_mail_imap_cache_ctx_t *ctx, tn_str_t *env)
{
    tn_int_t           tz;
    tn_str_t          *v;
    tn_store_cache_t  *c;

    c = ctx->cache;

    v = &env[TN_MAIL_IMAP_ENV_DATE];

    if (v->data != NULL
        && tn_mail_mime_parse_date(v->data, v->len, &c->date, &tz) == TN_OK)
    {
        c->date_tz = (int32_t) tz;

    } else {
        c->date = -1;
    }

    if (tn_mail_imap_cache_text(ctx->pool, &env[TN_MAIL_IMAP_ENV_SUBJECT],
                                &c->subject)
        != TN_OK)
    {
        return TN_ERROR;
    }

    c->sort_subject.data = tn_pnalloc(ctx->pool, c->subject.len + 1);
    if (c->sort_subject.data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(c->sort_subject.data, c->subject.data, c->subject.len);
    c->sort_subject.len = c->subject.len;
    tn_mail_imap_base_subject(&c->sort_subject);

    if (tn_mail_imap_addr_text(ctx->pool, &env[TN_MAIL_IMAP_ENV_FROM],
                               &c->from, &c->sort_from) != TN_OK
        || tn_mail_imap_addr_text(ctx->pool, &env[TN_MAIL_IMAP_ENV_TO],
                                  &c->to, &c->sort_to) != TN_OK
        || tn_mail_imap_addr_text(ctx->pool, &env[TN_MAIL_IMAP_ENV_CC],
                                  &c->cc, &c->sort_cc) != TN_OK
        || tn_mail_imap_addr_text(ctx->pool, &env[TN_MAIL_IMAP_ENV_BCC],
                                  &c->bcc, NULL) != TN_OK)
    {
        return TN_ERROR;
    }

    return TN_OK;
}


/* an unstructured value RFC 2047 decoded and folded */

static tn_int_t
tn_mail_imap_cache_text(tn_pool_t *pool, tn_str_t *value, tn_str_t *out)
{
    size_t   n;
    u_char  *p;

    if (value->data == NULL || value->len == 0) {
        out->len = 0;
        out->data = (u_char *) "";
        return TN_OK;
    }

    p = tn_pnalloc(pool, TN_MAIL_MIME_DECODE_WORDS_SIZE(value->len));
    if (p == NULL) {
        return TN_ERROR;
    }

    n = tn_mail_mime_decode_words(p, value->data, value->len);

    /* folding never makes a string longer: in place */
    out->len = tn_mail_imap_fold(p, p, n);
    out->data = p;

    return TN_OK;
}


/*
 * LF line ends to CRLF, a bare CR kept; *prev is the byte before src
 * (the last of the previous chunk).  dst holds 2 * len.  The length.
 */

static size_t
tn_mail_imap_crlf(u_char *dst, u_char *src, size_t len, u_char *prev)
{
    size_t   i;
    u_char  *d, c;

    d = dst;
    c = *prev;

    for (i = 0; i < len; i++) {
        if (src[i] == LF && c != CR) {
            *d++ = CR;
        }

        c = src[i];
        *d++ = c;
    }

    *prev = c;

    return d - dst;
}


/* a whole message */

tn_int_t
tn_mail_imap_msg_load(tn_pool_t *pool, const char *path, off_t max,
    tn_str_t *msg)
{
    size_t     len, n, i;
    u_char    *raw, *dst, c;
    tn_int_t   rc;

    rc = tn_mail_imap_read_file(pool, path, max, &raw, &len);
    if (rc != TN_OK) {
        return rc;
    }

    n = len;

    for (i = 0; i < len; i++) {
        if (raw[i] == LF && (i == 0 || raw[i - 1] != CR)) {
            n++;
        }
    }

    if ((off_t) n > max) {
        tn_pfree(pool, raw);
        return TN_DECLINED;
    }

    if (n == len) {
        raw[len] = '\0';
        msg->data = raw;
        msg->len = len;
        return TN_OK;
    }

    dst = tn_pnalloc(pool, n + 1);
    if (dst == NULL) {
        errno = ENOMEM;
        return TN_ERROR;
    }

    c = '\0';
    i = tn_mail_imap_crlf(dst, raw, len, &c);
    dst[i] = '\0';
    tn_pfree(pool, raw);

    msg->data = dst;
    msg->len = i;

    return TN_OK;
}


/* the file as it is, in *raw (with room for a NUL) */

static tn_int_t
tn_mail_imap_read_file(tn_pool_t *pool, const char *path, off_t max,
    u_char **raw, size_t *len)
{
    size_t           i;
    ssize_t          r;
    tn_fd_t          fd;
    tn_err_t         err;
    tn_file_info_t   fi;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return TN_ERROR;
    }

    if (tn_fd_info(fd, &fi) == -1) {
        goto failed;
    }

    if (fi.st_size > max || fi.st_size < 0) {
        close(fd);
        return TN_DECLINED;
    }

    *len = (size_t) fi.st_size;

    *raw = tn_pnalloc(pool, *len + 1);
    if (*raw == NULL) {
        errno = ENOMEM;
        goto failed;
    }

    for (i = 0; i < *len; i += r) {
        r = read(fd, *raw + i, *len - i);

        if (r == -1) {
            if (errno == EINTR) {
                r = 0;
                continue;
            }

            goto failed;
        }

        if (r == 0) {
            /* the file shrank: what is there is the message */
            *len = i;
            break;
        }
    }

    close(fd);

    return TN_OK;

failed:

    err = errno;
    close(fd);
    errno = err;

    return TN_ERROR;
}


/* FETCH sections */

tn_int_t
tn_mail_imap_msg_section(tn_pool_t *pool, tn_str_t *msg,
    tn_mail_imap_section_t *s, tn_str_t *out, tn_uint_t *binary)
{
    size_t                  hlen;
    tn_mail_imap_sp_t      *sp;
    tn_mail_imap_sp_ctx_t   ctx;

    *binary = 0;
    out->data = msg->data;
    out->len = 0;

    if (s->nparts == 0) {
        if (s->item != TN_MAIL_IMAP_FETCH_BODY) {
            /* BINARY[]: the message */
            *out = *msg;
            goto done;
        }

        if (s->text == TN_MAIL_IMAP_SECTION_ALL) {
            *out = *msg;
            return TN_OK;
        }

        hlen = tn_mail_imap_header_end(msg->data, msg->len);

        return tn_mail_imap_msg_sub(pool, s, msg->data, hlen, msg->len,
                                    out);
    }

    if (tn_mail_imap_sp_parse(pool, msg, NULL, &ctx) != TN_OK) {
        return TN_ERROR;
    }

    sp = tn_mail_imap_sp_find(ctx.root, s);
    if (sp == NULL) {
        return TN_OK;
    }

    if (s->item != TN_MAIL_IMAP_FETCH_BODY) {
        if (tn_mail_imap_sp_binary(pool, msg, sp, out) != TN_OK) {
            return (out->data == NULL) ? TN_ERROR : TN_DECLINED;
        }

        goto done;
    }

    switch (s->text) {

    case TN_MAIL_IMAP_SECTION_ALL:
        out->data = msg->data + sp->body_offset;
        out->len = sp->body_end - sp->body_offset;
        return TN_OK;

    case TN_MAIL_IMAP_SECTION_MIME:
        out->data = msg->data + sp->header_offset;
        out->len = sp->body_offset - sp->header_offset;
        return TN_OK;
    }

    /* HEADER, TEXT and fields of a part: those of its message */

    if (!sp->rfc822 || sp->child == NULL) {
        return TN_OK;
    }

    sp = sp->child;

    return tn_mail_imap_msg_sub(pool, s, msg->data + sp->header_offset,
                                sp->body_offset - sp->header_offset,
                                sp->body_end - sp->header_offset, out);

done:

    *binary = (out->len
               && tn_mail_imap_memchr(out->data, '\0', out->len) != NULL);

    return TN_OK;
}


/* HEADER, TEXT, HEADER.FIELDS[.NOT] of the message at m */

static tn_int_t
tn_mail_imap_msg_sub(tn_pool_t *pool, tn_mail_imap_section_t *s, u_char *m,
    size_t hlen, size_t len, tn_str_t *out)
{
    tn_str_t  header;

    header.data = m;
    header.len = hlen;

    switch (s->text) {

    case TN_MAIL_IMAP_SECTION_HEADER:
        *out = header;
        return TN_OK;

    case TN_MAIL_IMAP_SECTION_TEXT:
        out->data = m + hlen;
        out->len = len - hlen;
        return TN_OK;

    case TN_MAIL_IMAP_SECTION_FIELDS:
    case TN_MAIL_IMAP_SECTION_FIELDS_NOT:
        return tn_mail_imap_msg_fields(pool, &header, &s->fields,
                                  s->text == TN_MAIL_IMAP_SECTION_FIELDS_NOT,
                                  out);
    }

    /* MIME without a part: the command parser refuses it */
    return TN_OK;
}


/* the length of the header block at p, with its empty line */

static size_t
tn_mail_imap_header_end(u_char *p, size_t len)
{
    size_t   i;
    u_char  *lf;

    i = 0;

    while (i < len) {
        if (p[i] == LF) {
            return i + 1;
        }

        if (p[i] == CR && i + 1 < len && p[i + 1] == LF) {
            return i + 2;
        }

        lf = tn_mail_imap_memchr(p + i, LF, len - i);
        if (lf == NULL) {
            return len;
        }

        i = lf - p + 1;
    }

    return len;
}


/*
 * The part tree of msg; when want is set, the decoded body of that part
 * (the part with the index of want) goes into ctx->buf.
 */

static tn_int_t
tn_mail_imap_sp_parse(tn_pool_t *pool, tn_str_t *msg, tn_mail_imap_sp_t *want,
    tn_mail_imap_sp_ctx_t *ctx)
{
    tn_int_t                 rc;
    tn_mail_mime_t           p;
    tn_mail_mime_handlers_t  h;

    tn_memzero(ctx, sizeof(tn_mail_imap_sp_ctx_t));
    ctx->pool = pool;
    ctx->want = want ? want->index : (tn_uint_t) -1;
    tn_mail_imap_buf_init(&ctx->buf, pool);

    tn_memzero(&h, sizeof(tn_mail_mime_handlers_t));
    h.part_start = tn_mail_imap_sp_start;
    h.part_end = tn_mail_imap_sp_end;
    h.decoded = want ? tn_mail_imap_sp_decoded : NULL;

    if (tn_mail_mime_init(&p, pool, NULL, &h) != TN_OK) {
        return TN_ERROR;
    }

    p.data = ctx;

    rc = tn_mail_mime_feed(&p, msg->data, msg->len);

    if (rc == TN_OK) {
        rc = tn_mail_mime_finish(&p);
    }

    if (rc != TN_OK || ctx->buf.rc != TN_OK) {
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_int_t
tn_mail_imap_sp_start(tn_mail_mime_t *p, tn_mail_mime_part_t *part)
{
    tn_mail_imap_sp_t      *sp, *parent;
    tn_mail_imap_sp_ctx_t  *ctx = p->data;

    if (part->depth > TN_MAIL_MIME_MAX_DEPTH) {
        return TN_ERROR;
    }

    sp = tn_pcalloc(ctx->pool, sizeof(tn_mail_imap_sp_t));
    if (sp == NULL) {
        return TN_ERROR;
    }

    sp->index = part->index;
    sp->encoding = part->encoding;
    sp->header_offset = part->header_offset;
    sp->body_offset = part->body_offset;
    sp->body_end = part->body_offset;
    sp->multipart = part->multipart;
    sp->rfc822 = part->rfc822;

    ctx->stack[part->depth] = sp;

    if (part->depth == 0) {
        ctx->root = sp;
        return TN_OK;
    }

    parent = ctx->stack[part->depth - 1];

    if (parent == NULL) {
        return TN_ERROR;
    }

    if (parent->last) {
        parent->last->next = sp;

    } else {
        parent->child = sp;
    }

    parent->last = sp;

    return TN_OK;
}


static tn_int_t
tn_mail_imap_sp_end(tn_mail_mime_t *p, tn_mail_mime_part_t *part)
{
    tn_mail_imap_sp_t      *sp;
    tn_mail_imap_sp_ctx_t  *ctx = p->data;

    sp = ctx->stack[part->depth];

    if (sp != NULL && sp->index == part->index) {
        sp->body_end = part->body_end;
    }

    return TN_OK;
}


static tn_int_t
tn_mail_imap_sp_decoded(tn_mail_mime_t *p, tn_mail_mime_part_t *part,
    u_char *data, size_t len)
{
    tn_mail_imap_sp_ctx_t  *ctx = p->data;

    if (part->index == ctx->want) {
        tn_mail_imap_buf_add(&ctx->buf, data, len);
    }

    return TN_OK;
}


/*
 * The part of a section (RFC 3501 6.4.5): the children of a multipart
 * are numbered from 1; a part that is not a multipart has only part 1,
 * itself; below a message/rfc822 part the numbers are those of its
 * message.
 */

static tn_mail_imap_sp_t *
tn_mail_imap_sp_find(tn_mail_imap_sp_t *root, tn_mail_imap_section_t *s)
{
    uint32_t            k;
    tn_uint_t           i;
    tn_mail_imap_sp_t  *sp, *c;

    sp = root;

    for (i = 0; sp != NULL && i < s->nparts; i++) {
        if (i > 0 && sp->rfc822 && sp->child != NULL) {
            sp = sp->child;
        }

        if (!sp->multipart) {
            if (s->parts[i] != 1) {
                return NULL;
            }

            continue;
        }

        c = sp->child;

        for (k = 1; c != NULL && k < s->parts[i]; k++) {
            c = c->next;
        }

        sp = c;
    }

    return sp;
}


/*
 * BINARY of a part: its body without the transfer encoding.  TN_ERROR
 * with out->data NULL: no memory; with out->data set: an unknown
 * encoding.
 */

static tn_int_t
tn_mail_imap_sp_binary(tn_pool_t *pool, tn_str_t *msg, tn_mail_imap_sp_t *sp,
    tn_str_t *out)
{
    tn_mail_imap_sp_ctx_t  ctx;

    out->data = msg->data + sp->body_offset;
    out->len = sp->body_end - sp->body_offset;

    if (sp->multipart || sp->child != NULL) {
        return TN_OK;
    }

    switch (sp->encoding) {

    case TN_MAIL_MIME_ENC_OTHER:
        return TN_ERROR;

    case TN_MAIL_MIME_ENC_BASE64:
    case TN_MAIL_MIME_ENC_QP:
        break;

    default:
        return TN_OK;
    }

    if (tn_mail_imap_sp_parse(pool, msg, sp, &ctx) != TN_OK
        || tn_mail_imap_buf_done(&ctx.buf, out) != TN_OK)
    {
        out->data = NULL;
        return TN_ERROR;
    }

    return TN_OK;
}


/* one field of a header block: TN_OK, or TN_DONE at its end */

static tn_int_t
tn_mail_imap_field_next(u_char **pp, u_char *end, tn_str_t *field,
    tn_str_t *name)
{
    u_char  *p, *lf, *colon, *eol;

    p = *pp;

    if (p == end || *p == LF || (*p == CR && end - p > 1 && p[1] == LF)) {
        return TN_DONE;
    }

    field->data = p;

    lf = tn_mail_imap_memchr(p, LF, end - p);
    eol = (lf == NULL) ? end : lf;

    colon = tn_mail_imap_memchr(p, ':', eol - p);
    name->data = p;
    name->len = (colon ? colon : eol) - p;

    while (name->len
           && (name->data[name->len - 1] == ' '
               || name->data[name->len - 1] == '\t'
               || name->data[name->len - 1] == CR))
    {
        name->len--;
    }

    /* the continuation lines */

    while (lf != NULL && lf + 1 < end && (lf[1] == ' ' || lf[1] == '\t')) {
        lf = tn_mail_imap_memchr(lf + 1, LF, end - lf - 1);
    }

    p = (lf == NULL) ? end : lf + 1;

    field->len = p - field->data;
    *pp = p;

    return TN_OK;
}


static tn_uint_t
tn_mail_imap_field_in(tn_str_t *name, tn_str_t *fields)
{
    size_t    off;
    tn_str_t  f;

    off = 0;

    while (tn_mail_imap_section_field(fields, &off, &f) == TN_OK) {
        if (f.len == name->len
            && tn_strncasecmp(f.data, name->data, f.len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


tn_int_t
tn_mail_imap_msg_fields(tn_pool_t *pool, tn_str_t *header,
    tn_str_t *fields, tn_uint_t not, tn_str_t *out)
{
    u_char              *p, *end;
    tn_str_t             field, name;
    tn_mail_imap_buf_t   b;

    tn_mail_imap_buf_init(&b, pool);

    /* an empty message has no fields, and header->data may be NULL */
    p = header->data;
    end = header->len ? p + header->len : p;

    while (tn_mail_imap_field_next(&p, end, &field, &name) == TN_OK) {
        if (tn_mail_imap_field_in(&name, fields) == not) {
            continue;
        }

        tn_mail_imap_buf_add(&b, field.data, field.len);

        if (field.data[field.len - 1] != LF) {
            tn_mail_imap_buf_lit(&b, CRLF);
        }
    }

    tn_mail_imap_buf_lit(&b, CRLF);

    return tn_mail_imap_buf_done(&b, out);
}


/* SEARCH */

tn_int_t
tn_mail_imap_msg_header_values(tn_pool_t *pool, tn_str_t *header,
    tn_str_t *name, tn_str_t *out)
{
    u_char              *p, *end, *v, *d;
    size_t               n;
    tn_str_t             field, fname;
    tn_mail_imap_buf_t   b;

    tn_mail_imap_buf_init(&b, pool);

    if (header->len == 0) {
        /* an empty message: no fields (and header->data may be NULL) */
        return tn_mail_imap_buf_done(&b, out);
    }

    p = header->data;
    end = p + header->len;

    while (tn_mail_imap_field_next(&p, end, &field, &fname) == TN_OK) {
        if (fname.len != name->len
            || tn_strncasecmp(fname.data, name->data, fname.len) != 0)
        {
            continue;
        }

        v = tn_mail_imap_memchr(field.data, ':', field.len);
        if (v == NULL) {
            continue;
        }

        v++;
        n = field.len - (v - field.data);

        while (n && (*v == ' ' || *v == '\t')) {
            v++;
            n--;
        }

        if (b.len) {
            tn_mail_imap_buf_lit(&b, "\n");
        }

        d = tn_mail_imap_buf_reserve(&b, TN_MAIL_MIME_DECODE_WORDS_SIZE(n));
        if (d == NULL) {
            return TN_ERROR;
        }

        n = tn_mail_mime_decode_words(d, v, n);
        b.len += tn_mail_imap_fold(d, d, n);
    }

    return tn_mail_imap_buf_done(&b, out);
}


tn_int_t
tn_mail_imap_msg_text(tn_pool_t *pool, tn_str_t *msg, tn_str_t *out)
{
    tn_int_t                  rc;
    tn_mail_mime_t            p;
    tn_mail_mime_handlers_t   h;
    tn_mail_imap_text_ctx_t   ctx;

    tn_memzero(&ctx, sizeof(tn_mail_imap_text_ctx_t));
    tn_mail_imap_buf_init(&ctx.out, pool);
    tn_mail_imap_buf_init(&ctx.part, pool);

    tn_memzero(&h, sizeof(tn_mail_mime_handlers_t));
    h.part_start = tn_mail_imap_text_start;
    h.decoded = tn_mail_imap_text_decoded;
    h.part_end = tn_mail_imap_text_end;

    if (tn_mail_mime_init(&p, pool, NULL, &h) != TN_OK) {
        return TN_ERROR;
    }

    p.data = &ctx;

    rc = tn_mail_mime_feed(&p, msg->data, msg->len);

    if (rc == TN_OK) {
        rc = tn_mail_mime_finish(&p);
    }

    if (rc != TN_OK || ctx.part.rc != TN_OK) {
        return TN_ERROR;
    }

    if (ctx.part.data != NULL) {
        tn_pfree(pool, ctx.part.data);
    }

    return tn_mail_imap_buf_done(&ctx.out, out);
}


static tn_int_t
tn_mail_imap_text_start(tn_mail_mime_t *p, tn_mail_mime_part_t *part)
{
    tn_mail_imap_text_ctx_t  *ctx = p->data;

    ctx->on = !part->multipart && !part->rfc822
              && tn_mail_mime_is(part->type, "text");

    if (!ctx->on) {
        return TN_OK;
    }

    ctx->part.len = 0;

    ctx->cs = (part->charset.len == 0)
              ? TN_MAIL_MIME_CS_UTF8
              : tn_mail_mime_charset(part->charset.data, part->charset.len);

    return TN_OK;
}


static tn_int_t
tn_mail_imap_text_decoded(tn_mail_mime_t *p, tn_mail_mime_part_t *part,
    u_char *data, size_t len)
{
    tn_mail_imap_text_ctx_t  *ctx = p->data;

    if (ctx->on) {
        tn_mail_imap_buf_add(&ctx->part, data, len);
    }

    return (ctx->part.rc == TN_OK) ? TN_OK : TN_ERROR;
}


/* a text part ends: converted to UTF-8 and folded, in the output */

static tn_int_t
tn_mail_imap_text_end(tn_mail_mime_t *p, tn_mail_mime_part_t *part)
{
    size_t                    n;
    u_char                   *d;
    tn_mail_imap_text_ctx_t  *ctx = p->data;

    if (!ctx->on) {
        return TN_OK;
    }

    ctx->on = 0;

    if (ctx->out.len) {
        tn_mail_imap_buf_lit(&ctx->out, "\n");
    }

    d = tn_mail_imap_buf_reserve(&ctx->out, 3 * ctx->part.len + 1);
    if (d == NULL) {
        return TN_ERROR;
    }

    if (ctx->cs == TN_ERROR) {
        /* an unknown charset: its bytes as they are */
        n = ctx->part.len;
        if (n) {
            tn_memcpy(d, ctx->part.data, n);
        }

    } else {
        n = tn_mail_mime_to_utf8(ctx->cs, d, ctx->part.data, ctx->part.len);
    }

    ctx->out.len += tn_mail_imap_fold(d, d, n);

    return TN_OK;
}
