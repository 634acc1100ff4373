
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_mime.h>
#include <tn_mail_imap_msg.h>
#include <tn_mail_imap_struct.h>


/*
 * ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 7.4.2, RFC 9051 7.5.2).
 *
 * While tn_mail_imap_msg_cache() feeds the MIME parser, each part gets
 * a node: the ENVELOPE fields of a message header are kept as they come
 * (the first of each), the envelope is rendered when the header ends,
 * and the rest of the part when it ends (its sizes are known then, and
 * so are its children's).  The tree is then written out in order.
 * Strings are written as IMAP strings: a quoted string when possible, a
 * literal for 8-bit text (valid for every client, UTF8=ACCEPT or not).
 * Header values are sent as they are (encoded-words kept: decoding them
 * is the client's business; SEARCH uses the decoded forms instead).
 * type, subtype, encoding, parameter and disposition names are sent in
 * upper case like the examples of RFC 3501; values as sent.
 */


static tn_mail_imap_node_t *tn_mail_imap_tree_node(tn_mail_imap_tree_t *t,
    tn_mail_mime_part_t *part);
static void tn_mail_imap_render_basic(tn_mail_imap_buf_t *b,
    tn_mail_mime_part_t *part, tn_uint_t message);
static void tn_mail_imap_render_upper(tn_mail_imap_buf_t *b, tn_str_t *s);
static void tn_mail_imap_render_params(tn_mail_imap_buf_t *b,
    tn_mail_mime_param_t *params, tn_uint_t n, tn_uint_t text);
static void tn_mail_imap_render_value(tn_mail_imap_buf_t *b,
    tn_mail_mime_param_t *prm);
static void tn_mail_imap_render_ext(tn_mail_imap_buf_t *b,
    tn_mail_mime_part_t *part);
static void tn_mail_imap_render_lang(tn_mail_imap_buf_t *b, tn_str_t *s);
static void tn_mail_imap_render_empty(tn_mail_imap_buf_t *b, tn_uint_t bs);
static void tn_mail_imap_render_node(tn_mail_imap_buf_t *b,
    tn_mail_imap_node_t *node, tn_uint_t bs);
static void tn_mail_imap_render_nstr(tn_mail_imap_buf_t *b, tn_str_t *s);
static void tn_mail_imap_buf_num(tn_mail_imap_buf_t *b, off_t n);
static void tn_mail_imap_render_addrs(tn_mail_imap_buf_t *b,
    tn_str_t *value, tn_str_t *fallback);


static tn_str_t  tn_mail_imap_env_names[TN_MAIL_IMAP_ENV_N] = {
    tn_string("date"),
    tn_string("subject"),
    tn_string("from"),
    tn_string("sender"),
    tn_string("reply-to"),
    tn_string("to"),
    tn_string("cc"),
    tn_string("bcc"),
    tn_string("in-reply-to"),
    tn_string("message-id")
};


/* the output buffer */

void
tn_mail_imap_buf_init(tn_mail_imap_buf_t *b, tn_pool_t *pool)
{
    b->pool = pool;
    b->data = NULL;
    b->len = 0;
    b->size = 0;
    b->rc = TN_OK;
}


u_char *
tn_mail_imap_buf_reserve(tn_mail_imap_buf_t *b, size_t n)
{
    size_t   size;
    u_char  *p;

    if (b->rc != TN_OK) {
        return NULL;
    }

    if (b->size - b->len >= n) {
        return b->data + b->len;
    }

    if (n > ((size_t) -1) / 4 - b->len) {
        b->rc = TN_ERROR;
        return NULL;
    }

    size = tn_max(2 * b->size, b->len + n);
    size = tn_max(size, 256);

    p = tn_pnalloc(b->pool, size);
    if (p == NULL) {
        b->rc = TN_ERROR;
        return NULL;
    }

    if (b->len) {
        tn_memcpy(p, b->data, b->len);
    }

    if (b->data != NULL) {
        tn_pfree(b->pool, b->data);
    }

    b->data = p;
    b->size = size;

    return p + b->len;
}


void
tn_mail_imap_buf_add(tn_mail_imap_buf_t *b, u_char *data, size_t len)
{
    u_char  *p;

    if (len == 0) {
        return;
    }

    p = tn_mail_imap_buf_reserve(b, len);
    if (p == NULL) {
        return;
    }

    tn_memcpy(p, data, len);
    b->len += len;
}


void
tn_mail_imap_buf_nstring(tn_mail_imap_buf_t *b, tn_str_t *s)
{
    u_char  *p;

    p = tn_mail_imap_buf_reserve(b, tn_mail_imap_astring_len(s, 0));
    if (p == NULL) {
        return;
    }

    b->len = tn_mail_imap_astring(p, s, 0) - b->data;
}


tn_int_t
tn_mail_imap_buf_done(tn_mail_imap_buf_t *b, tn_str_t *out)
{
    if (b->rc != TN_OK) {
        return TN_ERROR;
    }

    out->data = tn_pnalloc(b->pool, b->len + 1);
    if (out->data == NULL) {
        return TN_ERROR;
    }

    if (b->len) {
        tn_memcpy(out->data, b->data, b->len);
    }

    out->data[b->len] = '\0';
    out->len = b->len;

    if (b->data != NULL) {
        tn_pfree(b->pool, b->data);
        b->data = NULL;
        b->size = 0;
    }

    return TN_OK;
}


/* the part tree */

static tn_mail_imap_node_t *
tn_mail_imap_tree_node(tn_mail_imap_tree_t *t, tn_mail_mime_part_t *part)
{
    tn_uint_t             d;
    tn_mail_imap_node_t  *node, *parent;

    d = part->depth;

    if (d > TN_MAIL_MIME_MAX_DEPTH) {
        return NULL;
    }

    node = t->stack[d];

    if (node != NULL && node->index == part->index) {
        return node;
    }

    node = tn_pcalloc(t->pool, sizeof(tn_mail_imap_node_t));
    if (node == NULL) {
        return NULL;
    }

    node->index = part->index;

    if (part->message) {
        node->env = tn_pcalloc(t->pool, TN_MAIL_IMAP_ENV_N * sizeof(tn_str_t));
        if (node->env == NULL) {
            return NULL;
        }
    }

    t->stack[d] = node;

    if (d == 0) {
        if (t->root == NULL) {
            t->root = node;
        }

        return node;
    }

    parent = t->stack[d - 1];

    if (parent != NULL) {
        if (parent->last) {
            parent->last->next = node;

        } else {
            parent->child = node;
        }

        parent->last = node;
    }

    return node;
}


tn_int_t
tn_mail_imap_tree_header(tn_mail_imap_tree_t *t, tn_mail_mime_part_t *part,
    tn_mail_mime_field_t *field)
{
    tn_uint_t             i;
    tn_str_t             *v;
    tn_mail_imap_node_t  *node;

    node = tn_mail_imap_tree_node(t, part);
    if (node == NULL) {
        return TN_ERROR;
    }

    if (node->env == NULL) {
        return TN_OK;
    }

    for (i = 0; i < TN_MAIL_IMAP_ENV_N; i++) {
        if (field->name.len == tn_mail_imap_env_names[i].len
            && tn_strncasecmp(field->name.data,
                              tn_mail_imap_env_names[i].data,
                              field->name.len)
               == 0)
        {
            break;
        }
    }

    if (i == TN_MAIL_IMAP_ENV_N || node->env[i].data != NULL) {
        return TN_OK;
    }

    v = &node->env[i];

    v->data = tn_pnalloc(t->pool, field->value.len + 1);
    if (v->data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(v->data, field->value.data, field->value.len);
    v->data[field->value.len] = '\0';
    v->len = field->value.len;

    return TN_OK;
}


tn_int_t
tn_mail_imap_tree_start(tn_mail_imap_tree_t *t, tn_mail_mime_part_t *part)
{
    tn_mail_imap_node_t  *node;

    node = tn_mail_imap_tree_node(t, part);
    if (node == NULL) {
        return TN_ERROR;
    }

    if (node->env == NULL) {
        return TN_OK;
    }

    return tn_mail_imap_envelope(t->pool, node->env, &node->envelope);
}


tn_int_t
tn_mail_imap_tree_end(tn_mail_imap_tree_t *t, tn_mail_mime_part_t *part)
{
    size_t                head, mid;
    tn_str_t              all;
    tn_mail_imap_buf_t    b;
    tn_mail_imap_node_t  *node;

    node = tn_mail_imap_tree_node(t, part);
    if (node == NULL) {
        return TN_ERROR;
    }

    tn_mail_imap_buf_init(&b, t->pool);

    if (part->multipart) {
        node->multipart = 1;
        head = 0;
        tn_mail_imap_buf_lit(&b, " ");
        tn_mail_imap_render_upper(&b, &part->subtype);
        mid = b.len;
        tn_mail_imap_buf_lit(&b, " ");
        tn_mail_imap_render_params(&b, part->params, part->nparams, 0);

    } else {
        node->message = (part->rfc822 && node->child != NULL
                         && node->child->envelope.len > 0);

        tn_mail_imap_render_basic(&b, part, node->message);

        if (node->message) {
            tn_mail_imap_buf_lit(&b, " ");
        }

        head = b.len;

        if (node->message || tn_mail_mime_is(part->type, "text")) {
            tn_mail_imap_buf_num(&b, part->body_lines);
        }

        mid = b.len;
        tn_mail_imap_buf_lit(&b, " ");
        tn_mail_imap_render_nstr(&b, &part->md5);
    }

    tn_mail_imap_render_ext(&b, part);

    if (tn_mail_imap_buf_done(&b, &all) != TN_OK) {
        return TN_ERROR;
    }

    node->head.data = all.data;
    node->head.len = head;
    node->mid.data = all.data + head;
    node->mid.len = mid - head;
    node->ext.data = all.data + mid;
    node->ext.len = all.len - mid;

    return TN_OK;
}


/*
 * body-type-basic / -text / -msg up to the size:
 * "TYPE" "SUBTYPE" params id description "ENCODING" size
 *
 * A message/rfc822 (or global) part whose message was not parsed (an
 * encoded one, or too deep) and a multipart kept as a leaf (no boundary,
 * too deep, too many parts) are sent as application/octet-stream: a
 * client reads "MESSAGE" "RFC822" as a body-type-msg with an envelope,
 * and a multipart body as a list of bodies.
 */

static void
tn_mail_imap_render_basic(tn_mail_imap_buf_t *b, tn_mail_mime_part_t *part,
    tn_uint_t message)
{
    tn_str_t  enc, type, subtype;

    type = part->type;
    subtype = part->subtype;

    if (!message
        && (tn_mail_mime_is(type, "multipart")
            || (tn_mail_mime_is(type, "message")
                && (tn_mail_mime_is(subtype, "rfc822")
                    || tn_mail_mime_is(subtype, "global")))))
    {
        tn_str_set(&type, "application");
        tn_str_set(&subtype, "octet-stream");
    }

    tn_mail_imap_render_upper(b, &type);
    tn_mail_imap_buf_lit(b, " ");
    tn_mail_imap_render_upper(b, &subtype);
    tn_mail_imap_buf_lit(b, " ");

    if (part->default_type) {
        /* the parser's default charset, written as RFC 3501 shows it */
        tn_mail_imap_render_params(b, NULL, 0,
                                   tn_mail_mime_is(part->type, "text"));

    } else {
        tn_mail_imap_render_params(b, part->params, part->nparams,
                                   tn_mail_mime_is(part->type, "text"));
    }

    tn_mail_imap_buf_lit(b, " ");
    tn_mail_imap_render_nstr(b, &part->id);
    tn_mail_imap_buf_lit(b, " ");
    tn_mail_imap_render_nstr(b, &part->description);
    tn_mail_imap_buf_lit(b, " ");

    enc = part->encoding_name;

    if (enc.len == 0) {
        tn_str_set(&enc, "7bit");
    }

    tn_mail_imap_render_upper(b, &enc);
    tn_mail_imap_buf_num(b, part->body_vsize);
}


static void
tn_mail_imap_buf_num(tn_mail_imap_buf_t *b, off_t n)
{
    u_char  *p;

    p = tn_mail_imap_buf_reserve(b, TN_OFF_T_LEN + 1);
    if (p == NULL) {
        return;
    }

    b->len = tn_sprintf(p, " %O", n) - b->data;
}


/* a string in upper case: ASCII letters of what was written */

static void
tn_mail_imap_render_upper(tn_mail_imap_buf_t *b, tn_str_t *s)
{
    size_t  i, start;

    start = b->len;

    tn_mail_imap_buf_nstring(b, s);

    if (b->rc != TN_OK) {
        return;
    }

    for (i = start; i < b->len; i++) {
        b->data[i] = tn_toupper(b->data[i]);
    }
}


/* an nstring that is NIL when empty */

static void
tn_mail_imap_render_nstr(tn_mail_imap_buf_t *b, tn_str_t *s)
{
    if (s->len == 0) {
        tn_mail_imap_buf_lit(b, "NIL");
        return;
    }

    tn_mail_imap_buf_nstring(b, s);
}


/* body-fld-param: ("NAME" "value" ...) or NIL */

static void
tn_mail_imap_render_params(tn_mail_imap_buf_t *b,
    tn_mail_mime_param_t *params, tn_uint_t n, tn_uint_t text)
{
    tn_str_t   cs;
    tn_uint_t  i, charset;

    charset = 0;

    for (i = 0; i < n; i++) {
        if (params[i].name.len == 7
            && tn_strncasecmp(params[i].name.data, (u_char *) "charset", 7)
               == 0)
        {
            charset = 1;
        }
    }

    /* RFC 2045 5.2: text without a charset is US-ASCII */
    text = text && !charset;

    if (n == 0 && !text) {
        tn_mail_imap_buf_lit(b, "NIL");
        return;
    }

    tn_mail_imap_buf_lit(b, "(");

    for (i = 0; i < n; i++) {
        if (i) {
            tn_mail_imap_buf_lit(b, " ");
        }

        tn_mail_imap_render_upper(b, &params[i].name);
        tn_mail_imap_buf_lit(b, " ");
        tn_mail_imap_render_value(b, &params[i]);
    }

    if (text) {
        if (n) {
            tn_mail_imap_buf_lit(b, " ");
        }

        tn_str_set(&cs, "CHARSET");
        tn_mail_imap_buf_nstring(b, &cs);
        tn_mail_imap_buf_lit(b, " ");
        tn_str_set(&cs, "US-ASCII");
        tn_mail_imap_buf_nstring(b, &cs);
    }

    tn_mail_imap_buf_lit(b, ")");
}


/*
 * A parameter value: RFC 2231 values are sent decoded (RFC 9051
 * 7.5.2), converted to UTF-8 when their charset is known.
 */

static void
tn_mail_imap_render_value(tn_mail_imap_buf_t *b, tn_mail_mime_param_t *prm)
{
    tn_int_t   cs;
    tn_str_t   v;
    u_char    *p;

    cs = TN_ERROR;

    if (prm->extended && prm->charset.len) {
        cs = tn_mail_mime_charset(prm->charset.data, prm->charset.len);
    }

    if (cs == TN_ERROR) {
        tn_mail_imap_buf_nstring(b, &prm->value);
        return;
    }

    p = tn_pnalloc(b->pool, 3 * prm->value.len + 1);
    if (p == NULL) {
        b->rc = TN_ERROR;
        return;
    }

    v.data = p;
    v.len = tn_mail_mime_to_utf8(cs, p, prm->value.data, prm->value.len);

    tn_mail_imap_buf_nstring(b, &v);
}


/* SP body-fld-dsp SP body-fld-lang SP body-fld-loc */

static void
tn_mail_imap_render_ext(tn_mail_imap_buf_t *b, tn_mail_mime_part_t *part)
{
    tn_mail_imap_buf_lit(b, " ");

    if (part->disposition.len == 0) {
        tn_mail_imap_buf_lit(b, "NIL");

    } else {
        tn_mail_imap_buf_lit(b, "(");
        tn_mail_imap_render_upper(b, &part->disposition);
        tn_mail_imap_buf_lit(b, " ");
        tn_mail_imap_render_params(b, part->disp_params, part->ndisp_params,
                                   0);
        tn_mail_imap_buf_lit(b, ")");
    }

    tn_mail_imap_buf_lit(b, " ");
    tn_mail_imap_render_lang(b, &part->language);
    tn_mail_imap_buf_lit(b, " ");
    tn_mail_imap_render_nstr(b, &part->location);
}


/* body-fld-lang: NIL, one string, or a list for "en, de" */

static void
tn_mail_imap_render_lang(tn_mail_imap_buf_t *b, tn_str_t *s)
{
    u_char     *p, *end, *start;
    tn_str_t    tag;
    tn_uint_t   n;

    end = s->data + s->len;
    n = 0;

    for (p = s->data; p < end; p++) {
        if (*p == ',') {
            n++;
        }
    }

    if (s->len == 0) {
        tn_mail_imap_buf_lit(b, "NIL");
        return;
    }

    if (n == 0) {
        tn_mail_imap_buf_nstring(b, s);
        return;
    }

    tn_mail_imap_buf_lit(b, "(");
    n = 0;
    p = s->data;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < end && *p != ',' && *p != ' ' && *p != '\t') {
            p++;
        }

        if (p == start) {
            continue;
        }

        if (n++) {
            tn_mail_imap_buf_lit(b, " ");
        }

        tag.data = start;
        tag.len = p - start;
        tn_mail_imap_buf_nstring(b, &tag);
    }

    if (n == 0) {
        tn_mail_imap_buf_lit(b, "\"\"");
    }

    tn_mail_imap_buf_lit(b, ")");
}


/* writing the tree out */

tn_int_t
tn_mail_imap_tree_render(tn_mail_imap_tree_t *t, tn_uint_t bs, tn_str_t *out)
{
    tn_mail_imap_buf_t  b;

    tn_mail_imap_buf_init(&b, t->pool);

    if (t->root == NULL) {
        tn_mail_imap_render_empty(&b, bs);

    } else {
        tn_mail_imap_render_node(&b, t->root, bs);
    }

    return tn_mail_imap_buf_done(&b, out);
}


/*
 * Recursion is bounded by the parser's max_depth (the tree is no deeper
 * than TN_MAIL_MIME_MAX_DEPTH + 1 levels).
 */

static void
tn_mail_imap_render_node(tn_mail_imap_buf_t *b, tn_mail_imap_node_t *node,
    tn_uint_t bs)
{
    tn_mail_imap_node_t  *c;

    if (node->head.data == NULL) {
        /* a part the parser did not end (it stopped): an empty one */
        tn_mail_imap_render_empty(b, bs);
        return;
    }

    tn_mail_imap_buf_lit(b, "(");
    tn_mail_imap_buf_add(b, node->head.data, node->head.len);

    if (node->multipart) {
        if (node->child == NULL) {
            /* RFC 3501 requires 1*body: an empty text part */
            tn_mail_imap_render_empty(b, bs);
        }

        for (c = node->child; c; c = c->next) {
            tn_mail_imap_render_node(b, c, bs);
        }

    } else if (node->message) {
        c = node->child;
        tn_mail_imap_buf_add(b, c->envelope.data, c->envelope.len);
        tn_mail_imap_buf_lit(b, " ");
        tn_mail_imap_render_node(b, c, bs);
    }

    tn_mail_imap_buf_add(b, node->mid.data, node->mid.len);

    if (bs) {
        tn_mail_imap_buf_add(b, node->ext.data, node->ext.len);
    }

    tn_mail_imap_buf_lit(b, ")");
}


static void
tn_mail_imap_render_empty(tn_mail_imap_buf_t *b, tn_uint_t bs)
{
    tn_mail_imap_buf_lit(b, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\")"
                            " NIL NIL \"7BIT\" 0 0");

    if (bs) {
        tn_mail_imap_buf_lit(b, " NIL NIL NIL NIL");
    }

    tn_mail_imap_buf_lit(b, ")");
}


/* ENVELOPE */

tn_int_t
tn_mail_imap_envelope(tn_pool_t *pool, tn_str_t *env, tn_str_t *out)
{
    tn_uint_t           i;
    tn_str_t           *from;
    tn_mail_imap_buf_t  b;

    tn_mail_imap_buf_init(&b, pool);
    from = &env[TN_MAIL_IMAP_ENV_FROM];

    tn_mail_imap_buf_lit(&b, "(");
    tn_mail_imap_buf_nstring(&b, &env[TN_MAIL_IMAP_ENV_DATE]);
    tn_mail_imap_buf_lit(&b, " ");
    tn_mail_imap_buf_nstring(&b, &env[TN_MAIL_IMAP_ENV_SUBJECT]);

    for (i = TN_MAIL_IMAP_ENV_FROM; i <= TN_MAIL_IMAP_ENV_BCC; i++) {
        tn_mail_imap_buf_lit(&b, " ");
        tn_mail_imap_render_addrs(&b, &env[i],
                                  (i == TN_MAIL_IMAP_ENV_SENDER
                                   || i == TN_MAIL_IMAP_ENV_REPLY_TO)
                                  ? from : NULL);
    }

    tn_mail_imap_buf_lit(&b, " ");
    tn_mail_imap_buf_nstring(&b, &env[TN_MAIL_IMAP_ENV_IN_REPLY_TO]);
    tn_mail_imap_buf_lit(&b, " ");
    tn_mail_imap_buf_nstring(&b, &env[TN_MAIL_IMAP_ENV_MESSAGE_ID]);
    tn_mail_imap_buf_lit(&b, ")");

    return tn_mail_imap_buf_done(&b, out);
}


/*
 * An address list, or NIL when absent or empty; Sender and Reply-To
 * absent or empty are From (RFC 3501 7.4.2).
 */

static void
tn_mail_imap_render_addrs(tn_mail_imap_buf_t *b, tn_str_t *value,
    tn_str_t *fallback)
{
    tn_uint_t             i, n;
    tn_mail_mime_addr_t  *a, *addrs;

    n = 0;

    if (value->data != NULL
        && tn_mail_mime_parse_addresses(b->pool, value->data, value->len,
                                        &addrs, &n)
           != TN_OK)
    {
        b->rc = TN_ERROR;
        return;
    }

    if (n == 0) {
        if (fallback != NULL) {
            tn_mail_imap_render_addrs(b, fallback, NULL);
            return;
        }

        tn_mail_imap_buf_lit(b, "NIL");
        return;
    }

    tn_mail_imap_buf_lit(b, "(");

    for (i = 0; i < n; i++) {
        a = &addrs[i];

        if (a->group_end) {
            tn_mail_imap_buf_lit(b, "(NIL NIL NIL NIL)");
            continue;
        }

        if (a->group_start) {
            tn_mail_imap_buf_lit(b, "(NIL NIL ");
            tn_mail_imap_buf_nstring(b, &a->mailbox);
            tn_mail_imap_buf_lit(b, " NIL)");
            continue;
        }

        tn_mail_imap_buf_lit(b, "(");
        tn_mail_imap_render_nstr(b, &a->name);
        tn_mail_imap_buf_lit(b, " ");
        tn_mail_imap_render_nstr(b, &a->adl);
        tn_mail_imap_buf_lit(b, " ");
        /* "" not NIL: a NIL host would read as a group */
        tn_mail_imap_buf_nstring(b, &a->mailbox);
        tn_mail_imap_buf_lit(b, " ");
        tn_mail_imap_buf_nstring(b, &a->host);
        tn_mail_imap_buf_lit(b, ")");
    }

    tn_mail_imap_buf_lit(b, ")");
}


/* the search text of an address list */

tn_int_t
tn_mail_imap_addr_text(tn_pool_t *pool, tn_str_t *value, tn_str_t *text,
    tn_str_t *first)
{
    u_char               *p;
    size_t                len;
    tn_uint_t             i, n;
    tn_mail_imap_buf_t    b;
    tn_mail_mime_addr_t  *a, *addrs;

    text->len = 0;
    text->data = (u_char *) "";

    if (first != NULL) {
        first->len = 0;
        first->data = (u_char *) "";
    }

    if (value->data == NULL || value->len == 0) {
        return TN_OK;
    }

    if (tn_mail_mime_parse_addresses(pool, value->data, value->len,
                                     &addrs, &n)
        != TN_OK)
    {
        return TN_ERROR;
    }

    tn_mail_imap_buf_init(&b, pool);

    for (i = 0; i < n; i++) {
        a = &addrs[i];

        if (a->group_start || a->group_end) {
            continue;
        }

        if (b.len) {
            tn_mail_imap_buf_lit(&b, ", ");
        }

        if (a->name.len) {
            p = tn_mail_imap_buf_reserve(&b,
                                 TN_MAIL_MIME_DECODE_WORDS_SIZE(a->name.len));
            if (p == NULL) {
                return TN_ERROR;
            }

            b.len += tn_mail_mime_decode_words(p, a->name.data, a->name.len);
            tn_mail_imap_buf_lit(&b, " <");
        }

        tn_mail_imap_buf_add(&b, a->mailbox.data, a->mailbox.len);

        if (a->host.len) {
            tn_mail_imap_buf_lit(&b, "@");
            tn_mail_imap_buf_add(&b, a->host.data, a->host.len);
        }

        if (a->name.len) {
            tn_mail_imap_buf_lit(&b, ">");
        }

        if (first != NULL && first->len == 0 && a->mailbox.len) {
            len = a->mailbox.len;
            p = tn_pnalloc(pool, len + 1);
            if (p == NULL) {
                return TN_ERROR;
            }

            first->data = p;
            first->len = tn_mail_imap_fold(p, a->mailbox.data, len);
        }
    }

    if (tn_mail_imap_buf_done(&b, text) != TN_OK) {
        return TN_ERROR;
    }

    text->len = tn_mail_imap_fold(text->data, text->data, text->len);

    return TN_OK;
}
