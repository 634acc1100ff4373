
/*
 * Copyright (C) The Tern developers
 */


/*
 * Unit tests of modules/lua/tn_lua_mime.c, the MIME tree of the mime
 * phase: each case parses a message, changes it as a script would, turns
 * the changes into edits (checked: in order, not overlapping, in range,
 * line counts true), applies them and compares the result with the text
 * expected byte for byte; bodies set are parsed back and decoded; header
 * values are refused or encoded; file names are decoded from RFC 2231
 * and RFC 2047.  Linked with libtern.a.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_lua_mime.h>


static tn_uint_t   tn_test_n;
static tn_uint_t   tn_test_failed;
static tn_log_t    tn_test_log;


static void
tn_test_ok(int cond, const char *name)
{
    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
    }

    printf("%sok %u - %s\n", cond ? "" : "not ", (unsigned) tn_test_n,
           name);
}


static tn_str_t
tn_test_str(const char *s)
{
    tn_str_t  str;

    str.data = (u_char *) s;
    str.len = strlen(s);

    return str;
}


/* the part by parser index */

static tn_lua_mime_part_t *
tn_test_part(tn_lua_mime_tree_t *tree, tn_uint_t i)
{
    return i < tree->parts.nelts
           ? ((tn_lua_mime_part_t **) tree->parts.elts)[i] : NULL;
}


/* the edits applied; NULL when they are not in order or out of range */

static u_char *
tn_test_apply(tn_pool_t *pool, tn_lua_mime_tree_t *tree, size_t *len)
{
    off_t                pos, lines;
    size_t               size, i, k;
    u_char              *out, *p;
    tn_array_t          *edits;
    tn_lua_mime_edit_t  *e;

    edits = tn_lua_mime_edits(tree);
    if (edits == NULL) {
        return NULL;
    }

    e = edits->elts;
    size = tree->len;
    pos = 0;

    for (i = 0; i < edits->nelts; i++) {
        if (e[i].offset < pos || e[i].len < 0
            || e[i].offset + e[i].len > (off_t) tree->len)
        {
            return NULL;
        }

        for (lines = 0, k = 0; k < (size_t) e[i].len; k++) {
            lines += tree->text[e[i].offset + k] == '\n';
        }

        if (lines != e[i].lines) {
            return NULL;
        }

        for (lines = 0, k = 0; k < e[i].size; k++) {
            lines += e[i].data[k] == '\n';
        }

        if (lines != e[i].data_lines) {
            return NULL;
        }

        pos = e[i].offset + e[i].len;
        size += e[i].size;
    }

    out = tn_pnalloc(pool, size + 1);
    if (out == NULL) {
        return NULL;
    }

    p = out;
    pos = 0;

    for (i = 0; i < edits->nelts; i++) {
        p = tn_cpymem(p, tree->text + pos, e[i].offset - pos);
        if (e[i].size) {
            p = tn_cpymem(p, e[i].data, e[i].size);
        }
        pos = e[i].offset + e[i].len;
    }

    p = tn_cpymem(p, tree->text + pos, tree->len - pos);
    *p = '\0';
    *len = p - out;

    return out;
}


static tn_lua_mime_tree_t *
tn_test_parse(tn_pool_t *pool, const char *text)
{
    size_t   len;
    u_char  *copy;

    len = strlen(text);
    copy = tn_pnalloc(pool, len + 1);
    tn_memcpy(copy, text, len + 1);

    return tn_lua_mime_parse(pool, copy, len);
}


static int
tn_test_same(tn_pool_t *pool, tn_lua_mime_tree_t *tree, const char *want)
{
    size_t   len;
    u_char  *out;

    out = tn_test_apply(pool, tree, &len);

    if (out == NULL) {
        printf("# edits out of order or range\n");
        return 0;
    }

    if (len != strlen(want) || memcmp(out, want, len) != 0) {
        printf("# got:\n%s# want:\n%s", out, want);
        return 0;
    }

    return 1;
}


/* src with the first "from" replaced by "to", NUL-terminated */

static const char *
tn_test_edit(tn_pool_t *pool, const char *src, const char *from,
    const char *to)
{
    size_t       n;
    u_char      *out, *p;
    const char  *at;

    at = strstr(src, from);
    if (at == NULL) {
        return "(not found)";
    }

    n = strlen(src) - strlen(from) + strlen(to);
    out = tn_pnalloc(pool, n + 1);
    if (out == NULL) {
        return "(no memory)";
    }

    p = tn_cpymem(out, src, at - src);
    p = tn_cpymem(p, to, strlen(to));
    p = tn_cpymem(p, at + strlen(from), strlen(at + strlen(from)));
    *p = '\0';

    return (char *) out;
}


static const char  *tn_test_multi =
    "From: a@b.test\n"
    "Subject: one\n"
    "X-Old: 1\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\n"
    "X-Old: 2\n"
    "  folded\n"
    "\n"
    "preamble\n"
    "--b1\n"
    "Content-Type: text/plain\n"
    "\n"
    "first\n"
    "--b1\n"
    "Content-Type: application/x-msdownload; name=\"a.exe\"\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-Disposition: attachment; filename=\"a.exe\"\n"
    "\n"
    "TVqQ\n"
    "--b1\n"
    "Content-Type: multipart/alternative; boundary=b2\n"
    "\n"
    "--b2\n"
    "Content-Type: text/plain\n"
    "\n"
    "inner\n"
    "--b2--\n"
    "\n"
    "--b1--\n"
    "epilogue\n";

/* its parts with their delimiter lines */
static const char  *tn_test_first =
    "--b1\n"
    "Content-Type: text/plain\n"
    "\n"
    "first\n";
static const char  *tn_test_exe =
    "--b1\n"
    "Content-Type: application/x-msdownload; name=\"a.exe\"\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-Disposition: attachment; filename=\"a.exe\"\n"
    "\n"
    "TVqQ\n";
static const char  *tn_test_inner =
    "--b1\n"
    "Content-Type: multipart/alternative; boundary=b2\n"
    "\n"
    "--b2\n"
    "Content-Type: text/plain\n"
    "\n"
    "inner\n"
    "--b2--\n"
    "\n";


static void
tn_test_headers(tn_pool_t *pool)
{
    tn_str_t             name, value, *v;
    const char          *err;
    tn_lua_mime_tree_t  *tree;

    tree = tn_test_parse(pool, tn_test_multi);
    tn_test_ok(tree != NULL && tree->parts.nelts == 5,
               "parse: five parts (root, three, the inner one)");
    if (tree == NULL) {
        return;
    }

    name = tn_test_str("subject");
    v = tn_lua_mime_header(tree->root, &name);
    tn_test_ok(v && v->len == 3 && memcmp(v->data, "one", 3) == 0,
               "header(): case-insensitive name");

    value = tn_test_str("two");
    (void) tn_lua_mime_set_header(tree, tree->root, &name, &value, &err);
    name = tn_test_str("X-Old");
    tn_lua_mime_remove_header(tree, tree->root, &name);
    name = tn_test_str("X-New");
    value = tn_test_str("added");
    (void) tn_lua_mime_set_header(tree, tree->root, &name, &value, &err);

    {
        u_char  want[1024];

        tn_sprintf(want, "From: a@b.test\n"
                   "subject: two\n"
                   "Content-Type: multipart/mixed; boundary=\"b1\"\n"
                   "X-New: added\n"
                   "%s%Z", strstr(tn_test_multi, "\npreamble"));

        tn_test_ok(tn_test_same(pool, tree, (char *) want),
                   "fields: replaced, both removed (one folded), one "
                   "added after the last; the rest as it was");
    }

    /* refused values and names */

    name = tn_test_str("X-Bad");
    value = tn_test_str("a\r\nBcc: x@evil.test");
    tn_test_ok(tn_lua_mime_set_header(tree, tree->root, &name, &value, &err)
               == TN_DECLINED, "set_header: CR LF refused");
    value = tn_test_str("a\0b");
    value.len = 3;
    tn_test_ok(tn_lua_mime_set_header(tree, tree->root, &name, &value, &err)
               == TN_DECLINED, "set_header: NUL refused");
    name = tn_test_str("Bad Name");
    value = tn_test_str("x");
    tn_test_ok(tn_lua_mime_set_header(tree, tree->root, &name, &value, &err)
               == TN_DECLINED, "set_header: a blank in the name refused");
    name = tn_test_str("Bad:Name");
    tn_test_ok(tn_lua_mime_set_header(tree, tree->root, &name, &value, &err)
               == TN_DECLINED, "set_header: a colon in the name refused");
}


/* the longest line of the field made of name and value, 0 if refused */

static size_t
tn_test_maxcol(tn_pool_t *pool, tn_str_t *name, tn_str_t *value)
{
    size_t       i, col, maxcol;
    tn_str_t     field;
    const char  *err;

    maxcol = 0;

    if (tn_lua_mime_encode_header(pool, name, value, &field, &err) == TN_OK) {
        for (i = 0, col = 0; i < field.len; i++) {
            col = field.data[i] == '\n' ? 0 : col + 1;
            maxcol = tn_max(maxcol, col);
        }
    }

    return maxcol;
}


static void
tn_test_encode(tn_pool_t *pool)
{
    size_t       i, maxcol;
    tn_str_t     name, value, field;
    const char  *err;
    u_char       buf[600];

    name = tn_test_str("Subject");
    value = tn_test_str("gr\xc3\xbc\xc3\x9f" "e");

    tn_test_ok(tn_lua_mime_encode_header(pool, &name, &value, &field, &err)
               == TN_OK
               && field.len == sizeof("Subject: =?UTF-8?B?Z3LDvMOfZQ==?=\n")
                               - 1
               && memcmp(field.data, "Subject: =?UTF-8?B?Z3LDvMOfZQ==?=\n",
                         field.len) == 0,
               "encode_header: 8-bit value as RFC 2047");

    /* long values: ASCII folded at blanks, UTF-8 in words of 45 bytes */

    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = (i % 7 == 6) ? ' ' : 'a';
    }

    value.data = buf;
    value.len = sizeof(buf);

    maxcol = tn_test_maxcol(pool, &name, &value);

    tn_test_ok(maxcol > 0 && maxcol <= 84,
               "encode_header: a long ASCII value folded");

    for (i = 0; i + 1 < sizeof(buf); i += 2) {
        buf[i] = 0xc3;
        buf[i + 1] = 0xa9;
    }

    maxcol = tn_test_maxcol(pool, &name, &value);

    tn_test_ok(maxcol > 0 && maxcol <= 76,
               "encode_header: a long UTF-8 value in short words");
}


static void
tn_test_parts(tn_pool_t *pool)
{
    const char          *err, *want;
    tn_str_t             type, body, fname, disp;
    tn_lua_mime_tree_t  *tree;

    /* remove the first part and the inner multipart */

    tree = tn_test_parse(pool, tn_test_multi);
    (void) tn_lua_mime_remove(tree, tn_test_part(tree, 1), &err);
    (void) tn_lua_mime_remove(tree, tn_test_part(tree, 3), &err);

    want = tn_test_edit(pool, tn_test_multi, tn_test_first, "");
    want = tn_test_edit(pool, want, tn_test_inner, "");

    tn_test_ok(tn_test_same(pool, tree, want),
               "remove: the first and the last part with their delimiters");

    tn_test_ok(tn_lua_mime_remove(tree, tree->root, &err) == TN_DECLINED,
               "remove: not the root");

    /* two neighbours, then an add after a removed last part */

    tree = tn_test_parse(pool, tn_test_multi);
    (void) tn_lua_mime_remove(tree, tn_test_part(tree, 2), &err);
    (void) tn_lua_mime_remove(tree, tn_test_part(tree, 3), &err);

    type = tn_test_str("text/plain");
    body = tn_test_str("a note\n");
    tn_str_null(&fname);
    tn_str_null(&disp);

    want = tn_test_edit(pool, tn_test_multi, tn_test_exe, "");

    tn_test_ok(tn_lua_mime_add_part(tree, tree->root, &type, &body, &fname,
                                    &disp, &err) == TN_OK
               && tn_test_same(pool, tree,
                               tn_test_edit(pool, want, tn_test_inner,
                                   "--b1\n"
                                   "Content-Type: text/plain; charset=utf-8\n"
                                   "\n"
                                   "a note\n")),
        "remove two neighbours, add a part before the close delimiter");

    /* add into the inner multipart, with a file name and 8-bit text */

    tree = tn_test_parse(pool, tn_test_multi);
    body = tn_test_str("caf\xc3\xa9\n");
    fname = tn_test_str("n\xc3\xb6te.txt");

    tn_test_ok(tn_lua_mime_add_part(tree, tn_test_part(tree, 3), &type,
                                    &body, &fname, &disp, &err) == TN_OK
               && tn_test_same(pool, tree,
                               tn_test_edit(pool, tn_test_multi, "--b2--\n",
                                   "--b2\n"
                                   "Content-Type: text/plain; charset=utf-8\n"
                                   "Content-Disposition: attachment; "
                                   "filename*=UTF-8''n%C3%B6te.txt\n"
                                   "Content-Transfer-Encoding: "
                                   "quoted-printable\n"
                                   "\n"
                                   "caf=C3=A9\n"
                                   "--b2--\n")),
        "add into a nested multipart: RFC 2231 name, quoted-printable");

    tn_test_ok(tn_lua_mime_add_part(tree, tn_test_part(tree, 1), &type,
                                    &body, &fname, &disp, &err)
               == TN_DECLINED, "add_part: not to a leaf");
}


static void
tn_test_names(tn_pool_t *pool)
{
    const char          *err, *want;
    tn_str_t             name, type;
    tn_array_t           params;
    tn_lua_mime_tree_t  *tree;
    tn_lua_mime_part_t  *part;

    tree = tn_test_parse(pool, tn_test_multi);
    part = tn_test_part(tree, 2);

    (void) tn_lua_mime_filename(pool, part, &name);
    tn_test_ok(name.len == 5 && memcmp(name.data, "a.exe", 5) == 0,
               "filename(): plain");

    name = tn_test_str("a.exe.txt");
    type = tn_test_str("application/octet-stream");
    tn_array_init(&params, pool, 1, sizeof(tn_lua_mime_param_t));

    (void) tn_lua_mime_set_filename(tree, part, &name, &err);
    params = part->params;
    (void) tn_lua_mime_set_type(tree, part, &type, &params, &err);

    want = tn_test_edit(pool, tn_test_multi,
        "Content-Type: application/x-msdownload; name=\"a.exe\"\n",
        "Content-Type: application/octet-stream; name=a.exe.txt\n");
    want = tn_test_edit(pool, want,
        "Content-Disposition: attachment; filename=\"a.exe\"\n",
        "Content-Disposition: attachment; filename=a.exe.txt\n");

    tn_test_ok(tn_test_same(pool, tree, want),
               "rename and retype: only those two fields written again");

    type = tn_test_str("text/plain;x");
    tn_test_ok(tn_lua_mime_set_type(tree, part, &type, &params, &err)
               == TN_DECLINED, "set_content_type: an invalid type refused");

    name = tn_test_str("a\nb");
    tn_test_ok(tn_lua_mime_set_filename(tree, part, &name, &err)
               == TN_DECLINED, "set_filename: a control character refused");

    /* RFC 2231 in Latin-1 and RFC 2047 names decode to UTF-8 */

    tree = tn_test_parse(pool,
        "Content-Type: multipart/mixed; boundary=b\n\n"
        "--b\n"
        "Content-Disposition: attachment;"
        " filename*=iso-8859-1'de'M%FCller.pdf\n\n"
        "x\n"
        "--b\n"
        "Content-Type: application/pdf;"
        " name=\"=?UTF-8?Q?R=C3=A9sum=C3=A9.pdf?=\"\n\n"
        "y\n"
        "--b--\n");

    (void) tn_lua_mime_filename(pool, tn_test_part(tree, 1), &name);
    tn_test_ok(name.len == 11
               && memcmp(name.data, "M\xc3\xbcller.pdf", 11) == 0,
               "filename(): RFC 2231 Latin-1 to UTF-8");

    (void) tn_lua_mime_filename(pool, tn_test_part(tree, 2), &name);
    tn_test_ok(name.len == 12
               && memcmp(name.data, "R\xc3\xa9sum\xc3\xa9.pdf", 12) == 0,
               "filename(): RFC 2047 in a name parameter");
}


/* a body set, parsed back and decoded */

static void
tn_test_body_case(tn_pool_t *pool, const char *head, u_char *data,
    size_t len, const char *what)
{
    size_t               tlen;
    u_char              *text, *full, *buf;
    tn_str_t             body, got;
    const char          *err;
    tn_lua_mime_tree_t  *tree, *back;
    tn_lua_mime_part_t  *part;

    full = tn_pnalloc(pool, strlen(head) + 64);
    tn_sprintf(full, "Content-Type: multipart/mixed; boundary=q\n\n--q\n"
               "%s\nold body\n--q--\n%Z", head);

    tree = tn_test_parse(pool, (char *) full);
    part = tn_test_part(tree, 1);

    body.data = data;
    body.len = len;

    if (tree == NULL || part == NULL
        || tn_lua_mime_set_body(tree, part, &body, &err) != TN_OK)
    {
        tn_test_ok(0, what);
        return;
    }

    text = tn_test_apply(pool, tree, &tlen);
    back = text ? tn_lua_mime_parse(pool, text, tlen) : NULL;
    part = back ? tn_test_part(back, 1) : NULL;

    if (part == NULL) {
        tn_test_ok(0, what);
        return;
    }

    buf = tn_pnalloc(pool, part->body_end - part->body_offset + 1);
    got.data = buf;

    tn_test_ok(tn_lua_mime_body(back, part, &got) == TN_OK
               && got.len == len && memcmp(got.data, data, len) == 0,
               what);
}


static void
tn_test_bodies(tn_pool_t *pool)
{
    size_t   i;
    u_char   bin[1000], text[300];
    uint32_t r;

    r = 12345;

    for (i = 0; i < sizeof(bin); i++) {
        r = r * 1103515245 + 12345;
        bin[i] = (u_char) (r >> 16);
    }

    tn_test_body_case(pool, "Content-Type: application/octet-stream\n"
                      "Content-Transfer-Encoding: base64\n",
                      bin, sizeof(bin), "set_body: base64 round trip");

    tn_test_body_case(pool, "Content-Type: application/octet-stream\n",
                      bin, sizeof(bin),
                      "set_body: binary into a 7bit part: base64");

    /* text with trailing blanks, '=', long lines and 8-bit bytes */

    for (i = 0; i < sizeof(text); i++) {
        text[i] = "ab =\t\xc3\xa9" "cd"[i % 10];

        if (i % 97 == 96) {
            text[i] = '\n';
        }
    }

    text[sizeof(text) - 2] = ' ';
    text[sizeof(text) - 1] = '\n';

    tn_test_body_case(pool, "Content-Type: text/plain\n"
                      "Content-Transfer-Encoding: quoted-printable\n",
                      text, sizeof(text), "set_body: quoted-printable "
                      "round trip (blanks, '=', 8-bit, long lines)");

    tn_test_body_case(pool, "Content-Type: text/plain\n",
                      text, sizeof(text),
                      "set_body: 8-bit text into a 7bit part: QP");

    tn_test_body_case(pool, "Content-Type: text/plain\n",
                      (u_char *) "plain\nascii\n", 12,
                      "set_body: ASCII text stays 7bit");
}


int
main(void)
{
    tn_pool_t  *pool;

    tn_pagesize = getpagesize();
    tn_memzero(&tn_test_log, sizeof(tn_log_t));

    pool = tn_create_pool(4096, &tn_test_log);
    if (pool == NULL) {
        return 1;
    }

    tn_test_headers(pool);
    tn_test_encode(pool);
    tn_test_parts(pool);
    tn_test_names(pool);
    tn_test_bodies(pool);

    tn_destroy_pool(pool);

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
