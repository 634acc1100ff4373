
/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for IMAP message rendering (src/mail/
 * tn_mail_imap_msg.c, _struct.c, _str.c).
 *
 * Input: byte 0 picks the extra sections asked for; the rest is a
 * message file (LF or CRLF line ends, anything in it).  Checks:
 *   - tn_mail_imap_msg_cache() succeeds; ENVELOPE, BODY and
 *     BODYSTRUCTURE are well-formed IMAP (balanced lists, valid quoted
 *     strings and literals, only NIL and numbers as atoms), BODY has
 *     the same parts as BODYSTRUCTURE;
 *   - the cached header is the CRLF form of the start of the message;
 *   - for every part of BODYSTRUCTURE (up to TN_FUZZ_PATHS), the size
 *     and the line count equal the length and the LF count of
 *     BODY[part] of the CRLF form (tn_mail_imap_msg_load());
 *   - BODY[] is the message, HEADER + TEXT is the message, every
 *     section lies inside the message or its pool;
 *   - the SEARCH text, header values and HEADER.FIELDS run;
 *   - the input as a mailbox name: modified UTF-7 that decodes encodes
 *     back to itself, folding is idempotent and never grows, a string
 *     contains itself, dates that parse print and parse back.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_imap_msg.h>
#include <sys/mman.h>


#define TN_FUZZ_MAX     (64 * 1024)
#define TN_FUZZ_PATHS   24
#define TN_FUZZ_DEPTH   1000


typedef struct tn_fuzz_node_s  tn_fuzz_node_t;

struct tn_fuzz_node_s {
    tn_uint_t        type;          /* 0 atom, 1 string, 2 list */
    u_char          *data;
    size_t           len;
    tn_uint_t        n;             /* list: elements */
    tn_fuzz_node_t  *child;
    tn_fuzz_node_t  *next;
};


typedef struct {
    char             path[256];
    off_t            size;
    off_t            lines;         /* -1: none */
} tn_fuzz_path_t;


static tn_log_t        tn_fuzz_log;
static int             tn_fuzz_fd = -1;
static tn_fuzz_path_t  tn_fuzz_paths[TN_FUZZ_PATHS];
static tn_uint_t       tn_fuzz_npaths;


/* IMAP syntax of the cache strings */

static tn_fuzz_node_t *
tn_fuzz_parse(tn_pool_t *pool, u_char **pp, u_char *end, tn_uint_t depth)
{
    u_char          *p;
    size_t           n;
    tn_fuzz_node_t  *node, *c, **last;

    p = *pp;

    if (p >= end || depth > TN_FUZZ_DEPTH) {
        abort();
    }

    node = tn_pcalloc(pool, sizeof(tn_fuzz_node_t));
    if (node == NULL) {
        abort();
    }

    if (*p == '(') {
        node->type = 2;
        last = &node->child;
        p++;

        for ( ;; ) {
            if (p >= end) {
                abort();
            }

            if (*p == ')') {
                p++;
                break;
            }

            if (node->n && *p == ' ') {
                p++;
            }

            c = tn_fuzz_parse(pool, &p, end, depth + 1);
            *last = c;
            last = &c->next;
            node->n++;
        }

    } else if (*p == '"') {
        node->type = 1;
        node->data = ++p;

        while (p < end && *p != '"') {
            if (*p == CR || *p == LF || *p == '\0') {
                abort();
            }

            if (*p == '\\') {
                p++;

                if (p == end || (*p != '"' && *p != '\\')) {
                    abort();
                }
            }

            p++;
        }

        if (p == end) {
            abort();
        }

        node->len = p - node->data;
        p++;

    } else if (*p == '{') {
        node->type = 1;
        n = 0;

        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            n = n * 10 + (*p - '0');
        }

        if (end - p < 3 || p[0] != '}' || p[1] != CR || p[2] != LF
            || (size_t) (end - p - 3) < n)
        {
            abort();
        }

        node->data = p + 3;
        node->len = n;
        p += 3 + n;

    } else {
        node->data = p;

        while (p < end && *p != ' ' && *p != ')') {
            if (!(*p >= '0' && *p <= '9') && *p != 'N' && *p != 'I'
                && *p != 'L')
            {
                abort();
            }

            p++;
        }

        node->len = p - node->data;

        if (node->len == 0
            || (node->data[0] == 'N'
                && (node->len != 3 || tn_memcmp(node->data, "NIL", 3))))
        {
            abort();
        }
    }

    *pp = p;

    return node;
}


static tn_fuzz_node_t *
tn_fuzz_whole(tn_pool_t *pool, tn_str_t *s)
{
    u_char          *p;
    tn_fuzz_node_t  *node;

    p = s->data;
    node = tn_fuzz_parse(pool, &p, s->data + s->len, 0);

    if (p != s->data + s->len || node->type != 2) {
        abort();
    }

    return node;
}


static tn_fuzz_node_t *
tn_fuzz_nth(tn_fuzz_node_t *list, tn_uint_t i)
{
    tn_fuzz_node_t  *c;

    for (c = list->child; c && i; c = c->next, i--) {
        /* void */
    }

    return c;
}


static off_t
tn_fuzz_num(tn_fuzz_node_t *n)
{
    size_t  i;
    off_t   v;

    if (n == NULL || n->type != 0 || n->data[0] == 'N') {
        abort();
    }

    for (v = 0, i = 0; i < n->len; i++) {
        v = v * 10 + (n->data[i] - '0');
    }

    return v;
}


static tn_uint_t
tn_fuzz_is(tn_fuzz_node_t *n, const char *s)
{
    return n != NULL && n->type == 1 && n->len == strlen(s)
           && tn_strncasecmp(n->data, (u_char *) s, n->len) == 0;
}


/*
 * The parts of a body.  prefix: the section of the body whose parts
 * these are ("" for the message); one: the section of this body when
 * it is not a multipart ("1" for the message itself, "N.1" for the
 * message of a message/rfc822 part N).
 */

static void
tn_fuzz_walk(tn_fuzz_node_t *body, const char *prefix, const char *one)
{
    char             sub[256];
    tn_uint_t        i;
    tn_fuzz_node_t  *c, *type;
    tn_fuzz_path_t  *fp;

    if (body->type != 2 || body->n < 2) {
        abort();
    }

    if (body->child->type == 2) {
        /* multipart: the bodies first */
        for (c = body->child, i = 1; c && c->type == 2; c = c->next, i++) {
            snprintf(sub, sizeof(sub), "%s%s%u", prefix, *prefix ? "." : "",
                     (unsigned) i);

            if (strlen(sub) < sizeof(sub) - 16) {
                tn_fuzz_walk(c, sub, sub);
            }
        }

        return;
    }

    if (body->n < 7 || tn_fuzz_npaths == TN_FUZZ_PATHS) {
        return;
    }

    type = body->child;

    fp = &tn_fuzz_paths[tn_fuzz_npaths++];
    snprintf(fp->path, sizeof(fp->path), "%s", one);
    fp->size = tn_fuzz_num(tn_fuzz_nth(body, 6));
    fp->lines = -1;

    if (tn_fuzz_is(type, "TEXT")) {
        fp->lines = tn_fuzz_num(tn_fuzz_nth(body, 7));
    }

    /* a basic MESSAGE body has md5, not an envelope, at 7 */

    if (tn_fuzz_is(type, "MESSAGE") && body->n >= 10
        && tn_fuzz_nth(body, 7)->type == 2)
    {
        fp->lines = tn_fuzz_num(tn_fuzz_nth(body, 9));

        if (tn_fuzz_nth(body, 7)->n != 10
            || tn_fuzz_nth(body, 8)->type != 2)
        {
            abort();
        }

        snprintf(sub, sizeof(sub), "%s.1", one);

        if (strlen(sub) < sizeof(sub) - 16) {
            tn_fuzz_walk(tn_fuzz_nth(body, 8), one, sub);
        }
    }
}


/* the same shape: BODY is BODYSTRUCTURE without the extension data */

static void
tn_fuzz_same(tn_fuzz_node_t *bs, tn_fuzz_node_t *b, tn_uint_t depth)
{
    tn_fuzz_node_t  *x, *y;

    if (bs->type != b->type || depth > TN_FUZZ_DEPTH) {
        abort();
    }

    if (bs->type != 2) {
        if (bs->len != b->len || tn_memcmp(bs->data, b->data, b->len)) {
            abort();
        }

        return;
    }

    if (b->n > bs->n) {
        abort();
    }

    for (x = bs->child, y = b->child; y; x = x->next, y = y->next) {
        tn_fuzz_same(x, y, depth + 1);
    }
}


static void
tn_fuzz_section(tn_pool_t *pool, tn_str_t *msg, const char *att,
    tn_str_t *out, tn_int_t *rc)
{
    tn_str_t                a;
    tn_uint_t               binary;
    tn_mail_imap_section_t  s;

    a.data = (u_char *) att;
    a.len = strlen(att);
    out->len = 0;
    out->data = NULL;

    if (tn_mail_imap_parse_section(&a, &s) != TN_OK) {
        *rc = TN_DECLINED;
        return;
    }

    *rc = tn_mail_imap_msg_section(pool, msg, &s, out, &binary);

    if (*rc == TN_ERROR) {
        abort();
    }

    if (*rc == TN_OK && out->len && out->data == NULL) {
        abort();
    }

    if (*rc == TN_OK && binary
        && memchr(out->data, '\0', out->len) == NULL)
    {
        abort();
    }
}


static void
tn_fuzz_sizes(tn_pool_t *pool, tn_str_t *msg)
{
    char       att[300];
    size_t     i, lines;
    tn_int_t   rc;
    tn_str_t   out;
    tn_uint_t  k;

    for (k = 0; k < tn_fuzz_npaths; k++) {
        snprintf(att, sizeof(att), "BODY[%s]", tn_fuzz_paths[k].path);
        tn_fuzz_section(pool, msg, att, &out, &rc);

        if (rc != TN_OK || (off_t) out.len != tn_fuzz_paths[k].size) {
            abort();
        }

        if (tn_fuzz_paths[k].lines >= 0) {
            for (i = 0, lines = 0; i < out.len; i++) {
                lines += (out.data[i] == LF);
            }

            if ((off_t) lines != tn_fuzz_paths[k].lines) {
                abort();
            }
        }

        snprintf(att, sizeof(att), "BINARY[%s]", tn_fuzz_paths[k].path);
        tn_fuzz_section(pool, msg, att, &out, &rc);

        snprintf(att, sizeof(att), "BODY[%s.MIME]", tn_fuzz_paths[k].path);
        tn_fuzz_section(pool, msg, att, &out, &rc);

        snprintf(att, sizeof(att), "BODY[%s.HEADER.FIELDS (From To)]",
                 tn_fuzz_paths[k].path);
        tn_fuzz_section(pool, msg, att, &out, &rc);

        snprintf(att, sizeof(att), "BODY[%s.TEXT]", tn_fuzz_paths[k].path);
        tn_fuzz_section(pool, msg, att, &out, &rc);
    }
}


static void
tn_fuzz_message(tn_pool_t *pool, u_char ctl, const u_char *data,
    size_t len)
{
    char               path[64];
    tn_str_t           msg, out, h, t, name;
    tn_int_t           rc;
    tn_fuzz_node_t    *bs, *b;
    tn_store_cache_t   c;

    static const char  *extra[] = {
        "BODY[1]", "BODY[2.1]", "BODY[1.1.1]", "BINARY[3]", "BODY[2.HEADER]",
        "BODY[1.2.TEXT]", "BODY[HEADER.FIELDS.NOT (Subject)]",
        "BODY[4294967295]"
    };

    if (ftruncate(tn_fuzz_fd, 0) == -1
        || pwrite(tn_fuzz_fd, data, len, 0) != (ssize_t) len)
    {
        abort();
    }

    if (tn_mail_imap_msg_cache(pool, tn_fuzz_fd, &c, &tn_fuzz_log) != TN_OK) {
        abort();
    }

    snprintf(path, sizeof(path), "/proc/self/fd/%d", tn_fuzz_fd);

    if (tn_mail_imap_msg_load(pool, path, TN_FUZZ_MAX * 2 + 2, &msg)
        != TN_OK)
    {
        abort();
    }

    if (!c.header_too_large
        && (c.header.len > msg.len
            || tn_memcmp(c.header.data, msg.data, c.header.len) != 0))
    {
        abort();
    }

    (void) tn_fuzz_whole(pool, &c.envelope);
    bs = tn_fuzz_whole(pool, &c.bodystructure);
    b = tn_fuzz_whole(pool, &c.body);
    tn_fuzz_same(bs, b, 0);

    tn_fuzz_npaths = 0;
    tn_fuzz_walk(bs, "", "1");
    tn_fuzz_sizes(pool, &msg);

    tn_fuzz_section(pool, &msg, "BODY[]", &out, &rc);

    if (out.len != msg.len) {
        abort();
    }

    tn_fuzz_section(pool, &msg, "BODY[HEADER]", &h, &rc);
    tn_fuzz_section(pool, &msg, "BODY[TEXT]", &t, &rc);

    if (h.len + t.len != msg.len
        || (!c.header_too_large && c.header.len != h.len))
    {
        abort();
    }

    tn_fuzz_section(pool, &msg, extra[ctl & 7], &out, &rc);
    tn_fuzz_section(pool, &msg, "BODY[HEADER.FIELDS (Subject From)]", &out,
                    &rc);

    if (out.len < 2 || out.data[out.len - 1] != LF) {
        abort();
    }

    if (tn_mail_imap_msg_text(pool, &msg, &out) != TN_OK) {
        abort();
    }

    tn_str_set(&name, "subject");

    if (tn_mail_imap_msg_header_values(pool, &h, &name, &out) != TN_OK) {
        abort();
    }
}


static void
tn_fuzz_strings(tn_pool_t *pool, const u_char *data, size_t len)
{
    u_char    *buf, dt[TN_MAIL_IMAP_DATE_TIME_LEN];
    size_t     n, m;
    time_t     t, t2;
    tn_str_t   in, out, back, s;

    in.data = (u_char *) data;
    in.len = tn_min(len, 1024);

    if (tn_mail_imap_utf7_decode(pool, &in, &out) == TN_OK) {
        if (tn_mail_imap_utf7_encode(pool, &out, &back) != TN_OK
            || back.len != in.len
            || tn_memcmp(back.data, in.data, in.len) != 0)
        {
            abort();
        }
    }

    if (tn_mail_imap_utf7_encode(pool, &in, &out) == TN_OK) {
        if (tn_mail_imap_utf7_decode(pool, &out, &back) != TN_OK
            || back.len != in.len
            || tn_memcmp(back.data, in.data, in.len) != 0)
        {
            abort();
        }
    }

    buf = tn_pnalloc(pool, 4 * in.len + 1);
    if (buf == NULL) {
        abort();
    }

    n = tn_mail_imap_fold(buf, in.data, in.len);
    m = tn_mail_imap_fold(buf + 2 * in.len, buf, n);

    if (n > in.len || m != n || tn_memcmp(buf, buf + 2 * in.len, n) != 0) {
        abort();
    }

    if (!tn_mail_imap_contains(&in, &in)) {
        abort();
    }

    s.data = buf;
    s.len = n;

    if (!tn_mail_imap_contains(&in, &s) || !tn_mail_imap_contains(&s, &in)) {
        abort();
    }

    if (tn_mail_imap_parse_date_time(&in, &t) == TN_OK && t >= 0
        && (long long) t <= 253402300799LL)
    {
        (void) tn_mail_imap_date_time(dt, t, 0);
        s.data = dt;
        s.len = sizeof(dt);

        if (tn_mail_imap_parse_date_time(&s, &t2) != TN_OK || t2 != t) {
            abort();
        }
    }

    (void) tn_mail_imap_parse_date(&in, &t);

    n = tn_mail_imap_astring_len(&in, in.len & 1);
    buf = tn_pnalloc(pool, n);

    if (buf == NULL
        || (size_t) (tn_mail_imap_astring(buf, &in, in.len & 1) - buf) > n)
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tn_pool_t  *pool;

    if (size < 1 || size > TN_FUZZ_MAX) {
        return 0;
    }

    if (tn_pagesize == 0) {
        tn_pagesize = getpagesize();
        tn_memzero(&tn_fuzz_log, sizeof(tn_log_t));
    }

    if (tn_fuzz_fd == -1) {
        tn_fuzz_fd = memfd_create("tn_fuzz_imap_msg", MFD_CLOEXEC);
        if (tn_fuzz_fd == -1) {
            abort();
        }
    }

    pool = tn_create_pool(4096, &tn_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    tn_fuzz_message(pool, data[0], data + 1, size - 1);
    tn_fuzz_strings(pool, data + 1, size - 1);

    tn_destroy_pool(pool);

    return 0;
}
