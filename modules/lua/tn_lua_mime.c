
/*
 * Copyright (C) The Tern developers
 */


/*
 * The MIME tree of the mime phase: what the parser reports (fields with
 * their offsets, part ranges, MIME values) kept per part, the changes a
 * script makes, and the edits they become.  A part's range is
 * [header_offset, body_end); the line end before a delimiter line
 * belongs to the delimiter (RFC 2046), so a part of a multipart is
 * removed with the delimiter line before it: [delim_start, body_end),
 * and a part is added by inserting "\n--boundary\n" and the part at the
 * end of the last one, before the close delimiter.  Header changes are
 * per field: a changed field is replaced, a removed one cut, new ones go
 * after the last field.  The text has LF line ends (as spooled).
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_lua_mime.h>


#define TN_LUA_MIME_LINE      76

#define tn_lua_mime_is_token(c)                                              \
    ((c) > 0x20 && (c) < 0x7f && tn_strchr("()<>@,;:\\\"/[]?=", c) == NULL)


static tn_lua_mime_part_t *tn_lua_mime_node(tn_lua_mime_tree_t *tree,
    tn_mail_mime_part_t *mp);
static tn_int_t tn_lua_mime_on_header(tn_mail_mime_t *p,
    tn_mail_mime_part_t *mp, tn_mail_mime_field_t *f);
static tn_int_t tn_lua_mime_on_start(tn_mail_mime_t *p,
    tn_mail_mime_part_t *mp);
static tn_int_t tn_lua_mime_on_end(tn_mail_mime_t *p,
    tn_mail_mime_part_t *mp);
static tn_int_t tn_lua_mime_copy_params(tn_lua_mime_tree_t *tree,
    tn_array_t *a, tn_mail_mime_param_t *mp, tn_uint_t n);
static tn_int_t tn_lua_mime_utf8(tn_pool_t *pool, tn_str_t *charset,
    tn_str_t *src, tn_uint_t words, tn_str_t *dst);
static void tn_lua_mime_delims(tn_lua_mime_tree_t *tree);
static tn_int_t tn_lua_mime_write_params(tn_pool_t *pool, tn_str_t *head,
    tn_array_t *params, tn_str_t *out);
static size_t tn_lua_mime_param_len(tn_lua_mime_param_t *pm);
static u_char *tn_lua_mime_param_write(u_char *p, tn_lua_mime_param_t *pm);
static tn_int_t tn_lua_mime_set_param(tn_pool_t *pool, tn_array_t *a,
    const char *name, tn_str_t *value);
static tn_int_t tn_lua_mime_set_field(tn_lua_mime_tree_t *tree,
    tn_lua_mime_part_t *part, const char *name, tn_str_t *value);
static tn_int_t tn_lua_mime_encode(tn_pool_t *pool, tn_uint_t enc,
    tn_str_t *src, tn_str_t *dst);
static tn_uint_t tn_lua_mime_plain(tn_str_t *s, tn_uint_t eightbit);
static tn_int_t tn_lua_mime_edits_of(tn_lua_mime_tree_t *tree,
    tn_lua_mime_part_t *part, tn_array_t *edits);
static tn_int_t tn_lua_mime_edit(tn_lua_mime_tree_t *tree, tn_array_t *a,
    off_t offset, off_t len, tn_str_t *data);
static off_t tn_lua_mime_lines(u_char *p, size_t len);


static tn_mail_mime_handlers_t  tn_lua_mime_handlers = {
    tn_lua_mime_on_header,
    tn_lua_mime_on_start,
    NULL,
    NULL,
    tn_lua_mime_on_end
};


tn_lua_mime_tree_t *
tn_lua_mime_parse(tn_pool_t *pool, u_char *text, size_t len)
{
    tn_mail_mime_t       p;
    tn_lua_mime_tree_t  *tree;

    tree = tn_pcalloc(pool, sizeof(tn_lua_mime_tree_t));
    if (tree == NULL) {
        return NULL;
    }

    tree->pool = pool;
    tree->text = text;
    tree->len = len;

    if (tn_array_init(&tree->parts, pool, 8, sizeof(void *)) != TN_OK
        || tn_mail_mime_init(&p, pool, NULL, &tn_lua_mime_handlers)
           != TN_OK)
    {
        return NULL;
    }

    p.data = tree;

    if (tn_mail_mime_feed(&p, text, len) != TN_OK
        || tn_mail_mime_finish(&p) != TN_OK
        || tree->root == NULL)
    {
        return NULL;
    }

    tree->limits_hit = p.limits_hit;

    tn_lua_mime_delims(tree);

    return tree;
}


/* the node of a parser part, made when first seen */

static tn_lua_mime_part_t *
tn_lua_mime_node(tn_lua_mime_tree_t *tree, tn_mail_mime_part_t *mp)
{
    tn_lua_mime_part_t  **slot, *part;

    while (tree->parts.nelts <= mp->index) {
        slot = tn_array_push(&tree->parts);
        if (slot == NULL) {
            return NULL;
        }

        *slot = NULL;
    }

    slot = (tn_lua_mime_part_t **) tree->parts.elts + mp->index;

    if (*slot) {
        return *slot;
    }

    part = tn_pcalloc(tree->pool, sizeof(tn_lua_mime_part_t));
    if (part == NULL
        || tn_array_init(&part->fields, tree->pool, 8,
                         sizeof(tn_lua_mime_field_t)) != TN_OK
        || tn_array_init(&part->children, tree->pool, 2, sizeof(void *))
           != TN_OK
        || tn_array_init(&part->added, tree->pool, 1, sizeof(tn_str_t))
           != TN_OK
        || tn_array_init(&part->params, tree->pool, 2,
                         sizeof(tn_lua_mime_param_t)) != TN_OK
        || tn_array_init(&part->disp_params, tree->pool, 2,
                         sizeof(tn_lua_mime_param_t)) != TN_OK)
    {
        return NULL;
    }

    part->index = mp->index;
    part->header_offset = mp->header_offset;
    *slot = part;

    if (mp->index == 0) {
        tree->root = part;
    }

    return part;
}


static tn_int_t
tn_lua_mime_on_header(tn_mail_mime_t *p, tn_mail_mime_part_t *mp,
    tn_mail_mime_field_t *f)
{
    tn_lua_mime_tree_t  *tree = p->data;

    tn_lua_mime_part_t   *part;
    tn_lua_mime_field_t  *field;

    part = tn_lua_mime_node(tree, mp);
    if (part == NULL) {
        return TN_ERROR;
    }

    field = tn_array_push(&part->fields);
    if (field == NULL) {
        return TN_ERROR;
    }

    tn_memzero(field, sizeof(tn_lua_mime_field_t));

    field->name.len = f->name.len;
    field->name.data = tn_pstrdup(tree->pool, &f->name);
    field->value.len = f->value.len;
    field->value.data = tn_pstrdup(tree->pool, &f->value);

    if ((f->name.len && field->name.data == NULL)
        || (f->value.len && field->value.data == NULL))
    {
        return TN_ERROR;
    }

    field->offset = f->offset;
    field->size = f->size;

    return TN_OK;
}


static tn_int_t
tn_lua_mime_on_start(tn_mail_mime_t *p, tn_mail_mime_part_t *mp)
{
    tn_lua_mime_tree_t  *tree = p->data;

    u_char               *d;
    tn_lua_mime_part_t   *part, *parent, **child;

    part = tn_lua_mime_node(tree, mp);
    if (part == NULL) {
        return TN_ERROR;
    }

    part->body_offset = mp->body_offset;
    part->encoding = mp->encoding;
    part->multipart = mp->multipart || mp->rfc822;

    part->type.len = mp->type.len + 1 + mp->subtype.len;
    part->type.data = tn_pnalloc(tree->pool, part->type.len);
    if (part->type.data == NULL) {
        return TN_ERROR;
    }

    d = tn_cpymem(part->type.data, mp->type.data, mp->type.len);
    *d++ = '/';
    tn_memcpy(d, mp->subtype.data, mp->subtype.len);

    if (mp->boundary.len) {
        part->boundary.len = mp->boundary.len;
        part->boundary.data = tn_pstrdup(tree->pool, &mp->boundary);
        if (part->boundary.data == NULL) {
            return TN_ERROR;
        }
    }

    part->disposition.len = mp->disposition.len;
    part->disposition.data = tn_pstrdup(tree->pool, &mp->disposition);

    if ((mp->disposition.len && part->disposition.data == NULL)
        || tn_lua_mime_copy_params(tree, &part->params, mp->params,
                                   mp->nparams) != TN_OK
        || tn_lua_mime_copy_params(tree, &part->disp_params, mp->disp_params,
                                   mp->ndisp_params) != TN_OK)
    {
        return TN_ERROR;
    }

    if (mp->parent) {
        parent = tn_lua_mime_node(tree, mp->parent);
        if (parent == NULL) {
            return TN_ERROR;
        }

        part->parent = parent;

        child = tn_array_push(&parent->children);
        if (child == NULL) {
            return TN_ERROR;
        }

        *child = part;
    }

    return TN_OK;
}


static tn_int_t
tn_lua_mime_on_end(tn_mail_mime_t *p, tn_mail_mime_part_t *mp)
{
    tn_uint_t             i;
    tn_lua_mime_part_t   *part;
    tn_lua_mime_field_t  *f;

    part = tn_lua_mime_node(p->data, mp);
    if (part == NULL) {
        return TN_ERROR;
    }

    part->body_end = mp->body_end;

    if (!mp->in_body || part->body_offset > part->body_end) {
        part->body_offset = mp->body_end;
    }

    /*
     * A header cut short by a delimiter (no empty line): the line end of
     * its last field is the delimiter's, so a field ends at the body.
     */

    f = part->fields.elts;

    for (i = 0; i < part->fields.nelts; i++) {
        if (f[i].offset > part->body_offset) {
            f[i].offset = part->body_offset;
        }

        if (f[i].offset + f[i].size > part->body_offset) {
            f[i].size = part->body_offset - f[i].offset;
        }
    }

    return TN_OK;
}


/* parameters with their values in UTF-8, names in lower case */

static tn_int_t
tn_lua_mime_copy_params(tn_lua_mime_tree_t *tree, tn_array_t *a,
    tn_mail_mime_param_t *mp, tn_uint_t n)
{
    tn_uint_t             i;
    tn_lua_mime_param_t  *pm;

    for (i = 0; i < n; i++) {
        pm = tn_array_push(a);
        if (pm == NULL) {
            return TN_ERROR;
        }

        pm->name.len = mp[i].name.len;
        pm->name.data = tn_pnalloc(tree->pool, pm->name.len + 1);
        if (pm->name.data == NULL) {
            return TN_ERROR;
        }

        tn_strlow(pm->name.data, mp[i].name.data, pm->name.len);

        /* RFC 2047 words are common in names, though not allowed there */

        if (tn_lua_mime_utf8(tree->pool, &mp[i].charset, &mp[i].value,
                             !mp[i].extended, &pm->value)
            != TN_OK)
        {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


static tn_int_t
tn_lua_mime_utf8(tn_pool_t *pool, tn_str_t *charset, tn_str_t *src,
    tn_uint_t words, tn_str_t *dst)
{
    tn_int_t  cs;

    if (charset->len) {
        cs = tn_mail_mime_charset(charset->data, charset->len);

        if (cs != TN_ERROR) {
            dst->data = tn_pnalloc(pool, 3 * src->len + 1);
            if (dst->data == NULL) {
                return TN_ERROR;
            }

            dst->len = tn_mail_mime_to_utf8(cs, dst->data, src->data,
                                            src->len);
            return TN_OK;
        }
    }

    if (words) {
        dst->data = tn_pnalloc(pool,
                               TN_MAIL_MIME_DECODE_WORDS_SIZE(src->len));
        if (dst->data == NULL) {
            return TN_ERROR;
        }

        dst->len = tn_mail_mime_decode_words(dst->data, src->data,
                                             src->len);
        return TN_OK;
    }

    dst->len = src->len;
    dst->data = tn_pnalloc(pool, src->len + 1);

    if (dst->data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(dst->data, src->data, src->len);

    return TN_OK;
}


/*
 * Where each part of a multipart starts with its delimiter line: the end
 * of the part before it, or, for the first, the line end that ends the
 * preamble (or the body's start when there is no preamble).
 */

static void
tn_lua_mime_delims(tn_lua_mime_tree_t *tree)
{
    off_t                 pos;
    tn_uint_t             i, k;
    tn_lua_mime_part_t  **parts, **children, *part;

    parts = tree->parts.elts;

    for (i = 0; i < tree->parts.nelts; i++) {
        part = parts[i];

        if (part == NULL || part->boundary.len == 0
            || part->children.nelts == 0)
        {
            continue;
        }

        children = part->children.elts;

        pos = children[0]->header_offset - 1;

        while (pos > part->body_offset && tree->text[pos - 1] != '\n') {
            pos--;
        }

        /* with the line end before it, CRLF or LF */

        if (pos > part->body_offset) {
            pos--;

            if (pos > part->body_offset && tree->text[pos - 1] == '\r') {
                pos--;
            }
        }

        children[0]->delim_start = pos;

        for (k = 1; k < part->children.nelts; k++) {
            children[k]->delim_start = children[k - 1]->body_end;
        }
    }
}


tn_str_t *
tn_lua_mime_header(tn_lua_mime_part_t *part, tn_str_t *name)
{
    tn_uint_t             i;
    tn_lua_mime_field_t  *f;

    f = part->fields.elts;

    for (i = 0; i < part->fields.nelts; i++) {
        if (!f[i].removed && f[i].name.len == name->len
            && tn_strncasecmp(f[i].name.data, name->data, name->len) == 0)
        {
            return &f[i].value;
        }
    }

    return NULL;
}


/*
 * "Name: value\n": the name printable ASCII without ':', the value
 * without CR, LF or NUL; a value with 8-bit bytes is written as RFC 2047
 * encoded-words (UTF-8, B), an ASCII one folded at blanks.
 */

tn_int_t
tn_lua_mime_encode_header(tn_pool_t *pool, tn_str_t *name, tn_str_t *value,
    tn_str_t *field, const char **err)
{
    u_char     *p, *brk;
    size_t      i, n, col, len;
    tn_str_t    src, dst;
    tn_uint_t   eightbit;

    if (name->len == 0 || name->len > 76) {
        *err = "invalid header name";
        return TN_DECLINED;
    }

    for (i = 0; i < name->len; i++) {
        if (name->data[i] <= 0x20 || name->data[i] >= 0x7f
            || name->data[i] == ':')
        {
            *err = "invalid header name";
            return TN_DECLINED;
        }
    }

    eightbit = 0;

    for (i = 0; i < value->len; i++) {
        if (value->data[i] == '\r' || value->data[i] == '\n'
            || value->data[i] == '\0')
        {
            *err = "CR, LF or NUL in a header value";
            return TN_DECLINED;
        }

        eightbit |= (value->data[i] >= 0x80);
    }

    if (value->len > 64 * 1024) {
        *err = "header value too long";
        return TN_DECLINED;
    }

    /* each encoded-word: 39 bytes (a UTF-8 sequence kept whole), 64 chars */

    /*
     * ASCII: a fold adds a byte per blank; 8-bit: words of 36 to 39
     * bytes, each "\n =?UTF-8?B?" 52 base64 characters "?=" (66)
     */

    len = name->len + 3 + 2 * value->len + (value->len / 36 + 1) * 66;

    field->data = tn_pnalloc(pool, len);
    if (field->data == NULL) {
        return TN_ERROR;
    }

    p = tn_cpymem(field->data, name->data, name->len);
    *p++ = ':';
    *p++ = ' ';
    col = name->len + 2;

    if (eightbit) {
        for (i = 0; i < value->len; i += n) {
            n = tn_min(39, value->len - i);

            /* do not split a UTF-8 sequence (at most 3 bytes back) */
            while (n > 36 && i + n < value->len
                   && (value->data[i + n] & 0xc0) == 0x80)
            {
                n--;
            }

            if (i) {
                p = tn_cpymem(p, "\n ", 2);
            }

            src.data = value->data + i;
            src.len = n;
            dst.data = tn_cpymem(p, "=?UTF-8?B?", 10);
            tn_encode_base64(&dst, &src);
            p = tn_cpymem(dst.data + dst.len, "?=", 2);
        }

    } else {
        brk = NULL;

        for (i = 0; i < value->len; i++) {
            if ((value->data[i] == ' ' || value->data[i] == '\t')
                && col > TN_LUA_MIME_LINE && brk != p)
            {
                *p++ = '\n';
                col = 0;
                brk = p;
            }

            *p++ = value->data[i];

            if (++col > 998) {
                *err = "header line too long (no blank to fold at)";
                return TN_DECLINED;
            }
        }
    }

    *p++ = '\n';
    field->len = p - field->data;

    return TN_OK;
}


tn_int_t
tn_lua_mime_set_header(tn_lua_mime_tree_t *tree, tn_lua_mime_part_t *part,
    tn_str_t *name, tn_str_t *value, const char **err)
{
    tn_int_t              rc;
    tn_str_t              text;
    tn_uint_t             i, found;
    tn_lua_mime_field_t  *f;

    rc = tn_lua_mime_encode_header(tree->pool, name, value, &text, err);
    if (rc != TN_OK) {
        return rc;
    }

    found = 0;
    f = part->fields.elts;

    for (i = 0; i < part->fields.nelts; i++) {
        if (f[i].removed || f[i].name.len != name->len
            || tn_strncasecmp(f[i].name.data, name->data, name->len) != 0)
        {
            continue;
        }

        if (found) {
            f[i].removed = 1;
            continue;
        }

        found = 1;
        f[i].changed = 1;
        f[i].text = text;
        f[i].value.len = value->len;
        f[i].value.data = tn_pstrdup(tree->pool, value);

        if (value->len && f[i].value.data == NULL) {
            return TN_ERROR;
        }
    }

    if (!found) {
        f = tn_array_push(&part->fields);
        if (f == NULL) {
            return TN_ERROR;
        }

        tn_memzero(f, sizeof(tn_lua_mime_field_t));
        f->offset = -1;
        f->changed = 1;
        f->text = text;
        f->name.len = name->len;
        f->name.data = tn_pstrdup(tree->pool, name);
        f->value.len = value->len;
        f->value.data = tn_pstrdup(tree->pool, value);

        if (f->name.data == NULL
            || (value->len && f->value.data == NULL))
        {
            return TN_ERROR;
        }
    }

    tree->changed = 1;

    return TN_OK;
}


void
tn_lua_mime_remove_header(tn_lua_mime_tree_t *tree, tn_lua_mime_part_t *part,
    tn_str_t *name)
{
    tn_uint_t             i;
    tn_lua_mime_field_t  *f;

    f = part->fields.elts;

    for (i = 0; i < part->fields.nelts; i++) {
        if (!f[i].removed && f[i].name.len == name->len
            && tn_strncasecmp(f[i].name.data, name->data, name->len) == 0)
        {
            f[i].removed = 1;
            tree->changed = 1;
        }
    }
}


/* a field we write ourselves from known-good text (no checks to fail) */

static tn_int_t
tn_lua_mime_set_field(tn_lua_mime_tree_t *tree, tn_lua_mime_part_t *part,
    const char *name, tn_str_t *value)
{
    tn_str_t     n;
    const char  *err;

    n.data = (u_char *) name;
    n.len = tn_strlen(name);

    return tn_lua_mime_set_header(tree, part, &n, value, &err);
}


/*
 * type/subtype, both tokens, and params (tn_lua_mime_param_t, UTF-8
 * values): the Content-Type field is written again.  A multipart keeps
 * its boundary.
 */

tn_int_t
tn_lua_mime_set_type(tn_lua_mime_tree_t *tree, tn_lua_mime_part_t *part,
    tn_str_t *type, tn_array_t *params, const char **err)
{
    tn_str_t              value;
    tn_uint_t             i, slash;
    tn_array_t            a;
    tn_lua_mime_param_t  *pm, *np;

    slash = 0;

    for (i = 0; i < type->len; i++) {
        if (type->data[i] == '/' && i > 0 && i < type->len - 1 && !slash) {
            slash = 1;
            continue;
        }

        if (!tn_lua_mime_is_token(type->data[i])) {
            break;
        }
    }

    if (i != type->len || !slash || type->len > 127) {
        *err = "invalid content type";
        return TN_DECLINED;
    }

    if (tn_array_init(&a, tree->pool, params->nelts + 1,
                      sizeof(tn_lua_mime_param_t)) != TN_OK)
    {
        return TN_ERROR;
    }

    pm = params->elts;

    for (i = 0; i < params->nelts; i++) {
        if (tn_lua_mime_set_param(tree->pool, &a, NULL, &pm[i].value)
            != TN_OK)
        {
            return TN_ERROR;
        }

        np = (tn_lua_mime_param_t *) a.elts + a.nelts - 1;
        np->name.len = pm[i].name.len;
        np->name.data = tn_pnalloc(tree->pool, pm[i].name.len + 1);
        if (np->name.data == NULL) {
            return TN_ERROR;
        }

        tn_strlow(np->name.data, pm[i].name.data, pm[i].name.len);

        if (np->name.len == 0 || np->name.len > 64) {
            *err = "invalid parameter name";
            return TN_DECLINED;
        }

        for (slash = 0; slash < np->name.len; slash++) {
            if (!tn_lua_mime_is_token(np->name.data[slash])
                || np->name.data[slash] == '*'
                || np->name.data[slash] == '%'
                || np->name.data[slash] == '\'')
            {
                *err = "invalid parameter name";
                return TN_DECLINED;
            }
        }

        if (part->boundary.len && np->name.len == 8
            && tn_strncmp(np->name.data, "boundary", 8) == 0)
        {
            a.nelts--;
        }
    }

    if (part->boundary.len
        && tn_lua_mime_set_param(tree->pool, &a, "boundary",
                                 &part->boundary) != TN_OK)
    {
        return TN_ERROR;
    }

    part->type.len = type->len;
    part->type.data = tn_pnalloc(tree->pool, type->len);
    if (part->type.data == NULL) {
        return TN_ERROR;
    }

    tn_strlow(part->type.data, type->data, type->len);
    part->params = a;

    if (tn_lua_mime_write_params(tree->pool, &part->type, &part->params,
                                 &value)
        != TN_OK)
    {
        return TN_ERROR;
    }

    return tn_lua_mime_set_field(tree, part, "Content-Type", &value);
}


/* sets (or adds) a parameter; name NULL: adds one without a name yet */

static tn_int_t
tn_lua_mime_set_param(tn_pool_t *pool, tn_array_t *a, const char *name,
    tn_str_t *value)
{
    size_t                len;
    tn_uint_t             i;
    tn_lua_mime_param_t  *pm;

    pm = a->elts;
    len = name ? tn_strlen(name) : 0;

    for (i = 0; name && i < a->nelts; i++) {
        if (pm[i].name.len == len
            && tn_strncmp(pm[i].name.data, name, len) == 0)
        {
            break;
        }
    }

    if (name == NULL || i == a->nelts) {
        pm = tn_array_push(a);
        if (pm == NULL) {
            return TN_ERROR;
        }

        pm->name.data = (u_char *) name;
        pm->name.len = len;

    } else {
        pm = &pm[i];
    }

    pm->value.len = value->len;
    pm->value.data = tn_pnalloc(pool, value->len + 1);
    if (pm->value.data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(pm->value.data, value->data, value->len);

    return TN_OK;
}


/*
 * "head; name=value; ...": tn_lua_mime_encode_header() folds the field
 * at the blanks after the semicolons when a line grows past 76
 */

static tn_int_t
tn_lua_mime_write_params(tn_pool_t *pool, tn_str_t *head, tn_array_t *params,
    tn_str_t *out)
{
    u_char               *p;
    size_t                len;
    tn_uint_t             i;
    tn_lua_mime_param_t  *pm;

    pm = params->elts;
    len = head->len;

    for (i = 0; i < params->nelts; i++) {
        len += 2 + tn_lua_mime_param_len(&pm[i]);
    }

    out->data = tn_pnalloc(pool, len);
    if (out->data == NULL) {
        return TN_ERROR;
    }

    p = tn_cpymem(out->data, head->data, head->len);

    for (i = 0; i < params->nelts; i++) {
        *p++ = ';';
        *p++ = ' ';
        p = tn_lua_mime_param_write(p, &pm[i]);
    }

    out->len = p - out->data;

    return TN_OK;
}


/*
 * A parameter as a token, a quoted string (printable ASCII) or RFC 2231
 * "name*=UTF-8''%XX" (any other byte).
 */

static size_t
tn_lua_mime_param_len(tn_lua_mime_param_t *pm)
{
    return pm->name.len + 12 + 3 * pm->value.len;
}


static u_char *
tn_lua_mime_param_write(u_char *p, tn_lua_mime_param_t *pm)
{
    u_char     c;
    size_t     i;
    tn_uint_t  token, ascii;

    static u_char  hex[] = "0123456789ABCDEF";

    token = pm->value.len > 0;
    ascii = 1;

    for (i = 0; i < pm->value.len; i++) {
        c = pm->value.data[i];

        if (!tn_lua_mime_is_token(c)) {
            token = 0;
        }

        if (c < 0x20 || c >= 0x7f) {
            ascii = 0;
        }
    }

    p = tn_cpymem(p, pm->name.data, pm->name.len);

    if (token) {
        *p++ = '=';
        return tn_cpymem(p, pm->value.data, pm->value.len);
    }

    if (ascii) {
        *p++ = '=';
        *p++ = '"';

        for (i = 0; i < pm->value.len; i++) {
            c = pm->value.data[i];

            if (c == '"' || c == '\\') {
                *p++ = '\\';
            }

            *p++ = c;
        }

        *p++ = '"';
        return p;
    }

    p = tn_cpymem(p, "*=UTF-8''", 9);

    for (i = 0; i < pm->value.len; i++) {
        c = pm->value.data[i];

        if (tn_lua_mime_is_token(c) && c != '*' && c != '\'' && c != '%') {
            *p++ = c;

        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }

    return p;
}


tn_int_t
tn_lua_mime_filename(tn_pool_t *pool, tn_lua_mime_part_t *part,
    tn_str_t *name)
{
    tn_uint_t             i, k;
    tn_lua_mime_param_t  *pm;

    static tn_str_t  names[2] = { tn_string("filename"), tn_string("name") };
    tn_array_t      *lists[2];

    lists[0] = &part->disp_params;
    lists[1] = &part->params;

    for (i = 0; i < 2; i++) {
        pm = lists[i]->elts;

        for (k = 0; k < lists[i]->nelts; k++) {
            if (pm[k].name.len == names[i].len
                && tn_strncmp(pm[k].name.data, names[i].data,
                              names[i].len) == 0)
            {
                *name = pm[k].value;
                return TN_OK;
            }
        }
    }

    tn_str_null(name);
    (void) pool;

    return TN_OK;
}


tn_int_t
tn_lua_mime_set_filename(tn_lua_mime_tree_t *tree, tn_lua_mime_part_t *part,
    tn_str_t *name, const char **err)
{
    size_t                i;
    tn_str_t              value, disp;
    tn_uint_t             k;
    tn_lua_mime_param_t  *pm;

    if (name->len == 0 || name->len > 255) {
        *err = "invalid file name";
        return TN_DECLINED;
    }

    for (i = 0; i < name->len; i++) {
        if (name->data[i] < 0x20 || name->data[i] == 0x7f) {
            *err = "control character in a file name";
            return TN_DECLINED;
        }
    }

    if (part->disposition.len == 0) {
        tn_str_set(&part->disposition, "attachment");
    }

    if (tn_lua_mime_set_param(tree->pool, &part->disp_params, "filename",
                              name) != TN_OK)
    {
        return TN_ERROR;
    }

    disp = part->disposition;

    if (tn_lua_mime_write_params(tree->pool, &disp, &part->disp_params,
                                 &value) != TN_OK
        || tn_lua_mime_set_field(tree, part, "Content-Disposition", &value)
           != TN_OK)
    {
        return TN_ERROR;
    }

    /* the older Content-Type name, when there is one */

    pm = part->params.elts;

    for (k = 0; k < part->params.nelts; k++) {
        if (pm[k].name.len == 4 && tn_strncmp(pm[k].name.data, "name", 4) == 0)
        {
            if (tn_lua_mime_set_param(tree->pool, &part->params, "name", name)
                != TN_OK
                || tn_lua_mime_write_params(tree->pool, &part->type,
                                            &part->params, &value) != TN_OK
                || tn_lua_mime_set_field(tree, part, "Content-Type", &value)
                   != TN_OK)
            {
                return TN_ERROR;
            }

            break;
        }
    }

    return TN_OK;
}


/* the body decoded by the parser's own decoder: a header and the body */

typedef struct {
    u_char  *p;
    size_t   len;
} tn_lua_mime_out_t;


static tn_int_t
tn_lua_mime_on_decoded(tn_mail_mime_t *p, tn_mail_mime_part_t *mp,
    u_char *data, size_t len)
{
    tn_lua_mime_out_t  *out = p->data;

    tn_memcpy(out->p + out->len, data, len);
    out->len += len;

    return TN_OK;
}


tn_int_t
tn_lua_mime_body(tn_lua_mime_tree_t *tree, tn_lua_mime_part_t *part,
    tn_str_t *body)
{
    size_t                    size;
    tn_str_t                  head;
    tn_pool_t                *pool;
    tn_mail_mime_t            p;
    tn_lua_mime_out_t         out;
    tn_mail_mime_limits_t     limits;
    tn_mail_mime_handlers_t   h;

    static const char  *encs[] = {
        "7bit", "8bit", "binary", "base64", "quoted-printable", "7bit"
    };

    size = part->body_end - part->body_offset;

    out.p = body->data;
    out.len = 0;

    if (part->multipart || part->encoding == TN_MAIL_MIME_ENC_OTHER) {
        tn_memcpy(out.p, tree->text + part->body_offset, size);
        body->len = size;
        return TN_OK;
    }

    pool = tn_create_pool(4096, tree->pool->log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    tn_memzero(&h, sizeof(h));
    h.decoded = tn_lua_mime_on_decoded;

    tn_mail_mime_limits_default(&limits);
    limits.max_depth = 0;

    head.data = tn_pnalloc(pool, 64);
    if (head.data == NULL
        || tn_mail_mime_init(&p, pool, &limits, &h) != TN_OK)
    {
        goto failed;
    }

    head.len = tn_sprintf(head.data, "Content-Transfer-Encoding: %s\n\n",
                          encs[part->encoding]) - head.data;

    p.data = &out;

    if (tn_mail_mime_feed(&p, head.data, head.len) != TN_OK
        || tn_mail_mime_feed(&p, tree->text + part->body_offset, size)
           != TN_OK
        || tn_mail_mime_finish(&p) != TN_OK)
    {
        goto failed;
    }

    tn_destroy_pool(pool);

    body->len = out.len;

    return TN_OK;

failed:

    tn_destroy_pool(pool);

    return TN_ERROR;
}


/* only text without NUL, CR, long lines (and 8-bit bytes if 7bit) */

static tn_uint_t
tn_lua_mime_plain(tn_str_t *s, tn_uint_t eightbit)
{
    size_t  i, col;

    col = 0;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '\n') {
            col = 0;
            continue;
        }

        if (s->data[i] == '\0' || s->data[i] == '\r'
            || (s->data[i] >= 0x80 && !eightbit) || ++col > 998)
        {
            return 0;
        }
    }

    return 1;
}


/* base64 in lines of 76, or quoted-printable; LF line ends */

static tn_int_t
tn_lua_mime_encode(tn_pool_t *pool, tn_uint_t enc, tn_str_t *src,
    tn_str_t *dst)
{
    u_char     c, *p;
    size_t     i, n, col;
    tn_str_t   in, out;

    static u_char  hex[] = "0123456789ABCDEF";

    if (enc == TN_MAIL_MIME_ENC_BASE64) {
        n = tn_base64_encoded_length(src->len);
        dst->data = tn_pnalloc(pool, n + n / 76 + 2);
        if (dst->data == NULL) {
            return TN_ERROR;
        }

        p = dst->data;

        for (i = 0; i < src->len; i += 57) {
            in.data = src->data + i;
            in.len = tn_min(57, src->len - i);
            out.data = p;
            tn_encode_base64(&out, &in);
            p += out.len;
            *p++ = '\n';
        }

        dst->len = p - dst->data;
        return TN_OK;
    }

    /* quoted-printable (RFC 2045 6.7): LF is a hard line break */

    dst->data = tn_pnalloc(pool, 3 * src->len + 3 * (src->len / 24) + 4);
    if (dst->data == NULL) {
        return TN_ERROR;
    }

    p = dst->data;
    col = 0;

    for (i = 0; i < src->len; i++) {
        c = src->data[i];

        if (c == '\n') {
            *p++ = '\n';
            col = 0;
            continue;
        }

        if (c == '\r' && i + 1 < src->len && src->data[i + 1] == '\n') {
            continue;
        }

        n = ((c >= 33 && c <= 126 && c != '=')
             || ((c == ' ' || c == '\t')
                 && i + 1 < src->len && src->data[i + 1] != '\n'
                 && src->data[i + 1] != '\r'))
            ? 1 : 3;

        if (col + n > 75) {
            p = tn_cpymem(p, "=\n", 2);
            col = 0;
        }

        if (n == 1) {
            *p++ = c;

        } else {
            *p++ = '=';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }

        col += n;
    }

    dst->len = p - dst->data;

    return TN_OK;
}


/*
 * A new body, encoded as the part is (base64, quoted-printable); 7bit or
 * 8bit text stays so when it can, else it becomes quoted-printable
 * (text) or base64, and the Content-Transfer-Encoding field says so.
 */

tn_int_t
tn_lua_mime_set_body(tn_lua_mime_tree_t *tree, tn_lua_mime_part_t *part,
    tn_str_t *body, const char **err)
{
    tn_str_t   enc, data;
    tn_uint_t  e, text;

    e = part->encoding;
    text = part->type.len > 5 && tn_strncmp(part->type.data, "text/", 5) == 0;

    if (part->multipart) {
        *err = "a multipart part has no body of its own";
        return TN_DECLINED;
    }

    switch (e) {

    case TN_MAIL_MIME_ENC_BASE64:
    case TN_MAIL_MIME_ENC_QP:
        break;

    case TN_MAIL_MIME_ENC_7BIT:
    case TN_MAIL_MIME_ENC_8BIT:
        if (tn_lua_mime_plain(body, e == TN_MAIL_MIME_ENC_8BIT)) {
            data.len = body->len;
            data.data = tn_pnalloc(tree->pool, body->len + 1);
            if (data.data == NULL) {
                return TN_ERROR;
            }

            tn_memcpy(data.data, body->data, body->len);
            goto done;
        }

        /* fall through */

    default:
        e = (text && tn_lua_mime_plain(body, 1))
            ? TN_MAIL_MIME_ENC_QP : TN_MAIL_MIME_ENC_BASE64;

        if (e == TN_MAIL_MIME_ENC_QP) {
            tn_str_set(&enc, "quoted-printable");

        } else {
            tn_str_set(&enc, "base64");
        }

        if (tn_lua_mime_set_field(tree, part, "Content-Transfer-Encoding",
                                  &enc)
            != TN_OK)
        {
            return TN_ERROR;
        }

        part->encoding = e;
        break;
    }

    if (tn_lua_mime_encode(tree->pool, e, body, &data) != TN_OK) {
        return TN_ERROR;
    }

done:

    part->body = data;
    part->body_set = 1;
    tree->changed = 1;

    return TN_OK;
}


tn_int_t
tn_lua_mime_remove(tn_lua_mime_tree_t *tree, tn_lua_mime_part_t *part,
    const char **err)
{
    if (part->parent == NULL || part->parent->boundary.len == 0) {
        *err = "only a part of a multipart can be removed";
        return TN_DECLINED;
    }

    part->removed = 1;
    tree->changed = 1;

    return TN_OK;
}


tn_int_t
tn_lua_mime_add_part(tn_lua_mime_tree_t *tree, tn_lua_mime_part_t *part,
    tn_str_t *type, tn_str_t *body, tn_str_t *filename,
    tn_str_t *disposition, const char **err)
{
    u_char               *p;
    size_t                len;
    tn_str_t             *text, ct, cd, cte, data, name, attach;
    tn_uint_t             e;
    tn_array_t            none;
    tn_lua_mime_part_t    tmp;

    if (part->boundary.len == 0 || part->children.nelts == 0) {
        *err = "a part can only be added to a multipart with parts";
        return TN_DECLINED;
    }

    /* the new part's fields are made as those of a scratch part */

    tn_memzero(&tmp, sizeof(tn_lua_mime_part_t));

    if (tn_array_init(&tmp.fields, tree->pool, 4,
                      sizeof(tn_lua_mime_field_t)) != TN_OK
        || tn_array_init(&tmp.params, tree->pool, 2,
                         sizeof(tn_lua_mime_param_t)) != TN_OK
        || tn_array_init(&tmp.disp_params, tree->pool, 2,
                         sizeof(tn_lua_mime_param_t)) != TN_OK
        || tn_array_init(&none, tree->pool, 1, sizeof(tn_lua_mime_param_t))
           != TN_OK)
    {
        return TN_ERROR;
    }

    e = tn_lua_mime_set_type(tree, &tmp, type, &none, err);
    if (e != TN_OK) {
        return e;
    }

    if (tmp.type.len > 5 && tn_strncmp(tmp.type.data, "text/", 5) == 0) {
        tn_str_set(&name, "utf-8");

        if (tn_lua_mime_set_param(tree->pool, &tmp.params, "charset", &name)
            != TN_OK
            || tn_lua_mime_write_params(tree->pool, &tmp.type, &tmp.params,
                                        &ct) != TN_OK
            || tn_lua_mime_set_field(tree, &tmp, "Content-Type", &ct)
               != TN_OK)
        {
            return TN_ERROR;
        }

        tmp.encoding = tn_lua_mime_plain(body, 0)
                       ? TN_MAIL_MIME_ENC_7BIT : TN_MAIL_MIME_ENC_QP;

    } else {
        tmp.encoding = TN_MAIL_MIME_ENC_BASE64;
    }

    if (disposition && disposition->len) {
        tmp.disposition = *disposition;

        for (len = 0; len < disposition->len; len++) {
            if (!tn_lua_mime_is_token(disposition->data[len])) {
                *err = "invalid disposition";
                return TN_DECLINED;
            }
        }

        if (tn_lua_mime_write_params(tree->pool, &tmp.disposition,
                                     &tmp.disp_params, &cd) != TN_OK
            || tn_lua_mime_set_field(tree, &tmp, "Content-Disposition", &cd)
               != TN_OK)
        {
            return TN_ERROR;
        }
    }

    if (filename && filename->len) {
        if (tmp.disposition.len == 0) {
            tn_str_set(&attach, "attachment");
            tmp.disposition = attach;
        }

        e = tn_lua_mime_set_filename(tree, &tmp, filename, err);
        if (e != TN_OK) {
            return e;
        }
    }

    if (tmp.encoding == TN_MAIL_MIME_ENC_7BIT) {
        data = *body;

    } else {
        if (tmp.encoding == TN_MAIL_MIME_ENC_QP) {
            tn_str_set(&cte, "quoted-printable");

        } else {
            tn_str_set(&cte, "base64");
        }

        if (tn_lua_mime_set_field(tree, &tmp, "Content-Transfer-Encoding",
                                  &cte) != TN_OK
            || tn_lua_mime_encode(tree->pool, tmp.encoding, body, &data)
               != TN_OK)
        {
            return TN_ERROR;
        }
    }

    /* "\n--boundary\n" fields "\n" body; the close delimiter follows */

    len = 4 + part->boundary.len + 1 + data.len;

    for (e = 0; e < tmp.fields.nelts; e++) {
        len += ((tn_lua_mime_field_t *) tmp.fields.elts)[e].text.len;
    }

    text = tn_array_push(&part->added);
    if (text == NULL) {
        return TN_ERROR;
    }

    text->data = tn_pnalloc(tree->pool, len);
    if (text->data == NULL) {
        return TN_ERROR;
    }

    p = tn_cpymem(text->data, "\n--", 3);
    p = tn_cpymem(p, part->boundary.data, part->boundary.len);
    *p++ = '\n';

    for (e = 0; e < tmp.fields.nelts; e++) {
        p = tn_cpymem(p, ((tn_lua_mime_field_t *) tmp.fields.elts)[e].text.data,
                      ((tn_lua_mime_field_t *) tmp.fields.elts)[e].text.len);
    }

    *p++ = '\n';
    p = tn_cpymem(p, data.data, data.len);

    /* the line end before the close delimiter is the delimiter's */
    if (p > text->data && p[-1] == '\n') {
        p--;
    }

    text->len = p - text->data;
    tree->changed = 1;

    return TN_OK;
}


tn_array_t *
tn_lua_mime_edits(tn_lua_mime_tree_t *tree)
{
    tn_array_t  *edits;

    edits = tn_array_create(tree->pool, 8, sizeof(tn_lua_mime_edit_t));
    if (edits == NULL) {
        return NULL;
    }

    if (tree->changed
        && tn_lua_mime_edits_of(tree, tree->root, edits) != TN_OK)
    {
        return NULL;
    }

    return edits;
}


/* in text order: the fields, then the body or the children, then adds */

static tn_int_t
tn_lua_mime_edits_of(tn_lua_mime_tree_t *tree, tn_lua_mime_part_t *part,
    tn_array_t *edits)
{
    off_t                 at;
    size_t                len;
    u_char               *p;
    tn_str_t              ins, *add;
    tn_uint_t             i;
    tn_lua_mime_part_t  **children;
    tn_lua_mime_field_t  *f;

    f = part->fields.elts;
    at = part->header_offset;
    len = 0;

    for (i = 0; i < part->fields.nelts; i++) {
        if (f[i].offset < 0) {
            len += f[i].text.len;
            continue;
        }

        at = f[i].offset + f[i].size;

        if (f[i].removed) {
            if (tn_lua_mime_edit(tree, edits, f[i].offset, f[i].size, NULL)
                != TN_OK)
            {
                return TN_ERROR;
            }

        } else if (f[i].changed) {
            if (tn_lua_mime_edit(tree, edits, f[i].offset, f[i].size,
                                 &f[i].text) != TN_OK)
            {
                return TN_ERROR;
            }
        }
    }

    if (len) {
        ins.data = tn_pnalloc(tree->pool, len);
        if (ins.data == NULL) {
            return TN_ERROR;
        }

        p = ins.data;

        for (i = 0; i < part->fields.nelts; i++) {
            if (f[i].offset < 0 && !f[i].removed) {
                p = tn_cpymem(p, f[i].text.data, f[i].text.len);
            }
        }

        ins.len = p - ins.data;

        if (tn_lua_mime_edit(tree, edits, at, 0, &ins) != TN_OK) {
            return TN_ERROR;
        }
    }

    if (part->body_set) {
        return tn_lua_mime_edit(tree, edits, part->body_offset,
                                part->body_end - part->body_offset,
                                &part->body);
    }

    children = part->children.elts;

    for (i = 0; i < part->children.nelts; i++) {
        if (children[i]->removed) {
            if (tn_lua_mime_edit(tree, edits, children[i]->delim_start,
                                 children[i]->body_end
                                 - children[i]->delim_start, NULL)
                != TN_OK)
            {
                return TN_ERROR;
            }

            continue;
        }

        if (tn_lua_mime_edits_of(tree, children[i], edits) != TN_OK) {
            return TN_ERROR;
        }
    }

    add = part->added.elts;

    for (i = 0; i < part->added.nelts; i++) {
        if (tn_lua_mime_edit(tree, edits,
                             children[part->children.nelts - 1]->body_end, 0,
                             &add[i])
            != TN_OK)
        {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


static tn_int_t
tn_lua_mime_edit(tn_lua_mime_tree_t *tree, tn_array_t *a, off_t offset,
    off_t len, tn_str_t *data)
{
    tn_lua_mime_edit_t  *e;

    e = tn_array_push(a);
    if (e == NULL) {
        return TN_ERROR;
    }

    e->offset = offset;
    e->len = len;
    e->lines = tn_lua_mime_lines(tree->text + offset, len);
    e->data = data ? data->data : NULL;
    e->size = data ? data->len : 0;
    e->data_lines = data ? tn_lua_mime_lines(data->data, data->len) : 0;

    return TN_OK;
}


static off_t
tn_lua_mime_lines(u_char *p, size_t len)
{
    off_t    n;
    u_char  *last;

    n = 0;
    last = p + len;

    while (p < last) {
        p = memchr(p, '\n', last - p);
        if (p == NULL) {
            break;
        }

        n++;
        p++;
    }

    return n;
}


/* a text body for a new message: as it is when 7bit-clean, else QP */

tn_int_t
tn_lua_mime_text(tn_pool_t *pool, tn_str_t *body, tn_str_t *out,
    const char **cte)
{
    if (tn_lua_mime_plain(body, 0)) {
        *out = *body;
        *cte = "7bit";
        return TN_OK;
    }

    *cte = "quoted-printable";

    return tn_lua_mime_encode(pool, TN_MAIL_MIME_ENC_QP, body, out);
}
