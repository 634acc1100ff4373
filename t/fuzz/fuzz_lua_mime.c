
/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for the MIME tree of the Lua mime phase
 * (modules/lua/tn_lua_mime.c): parse, change, edits, parse again.
 *
 * Input: the first 16 bytes are operations, one per part by parser index
 * (low 3 bits: none, remove, set a header, remove headers, set the body,
 * set the file name, set the content type, add a part; high bits pick
 * the values), the rest is the message (LF or CRLF).  Checks: the edits
 * are in order, in the text, and their line counts are true; the edited
 * text parses again; every part of it decodes (body()) into a buffer of
 * the raw body size, so ASan sees any overrun.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_lua_mime.h>


#define TN_FUZZ_MAX   (64 * 1024)
#define TN_FUZZ_OPS   16


static tn_log_t   tn_fuzz_log;


static void
tn_fuzz_op(tn_lua_mime_tree_t *tree, tn_lua_mime_part_t *part, u_char op)
{
    tn_str_t             name, value, type, fname, disp;
    tn_array_t           params;
    const char          *err;
    tn_lua_mime_param_t *pm;

    static const char  *values[] = {
        "plain", "gr\xc3\xbc\xc3\x9f\x65", "a \"quoted\" value; x=y",
        "", "\xff\xfe long long long long long long long long long long long"
    };

    switch (op & 7) {

    case 1:
        (void) tn_lua_mime_remove(tree, part, &err);
        break;

    case 2:
        name.data = (u_char *) ((op & 8) ? "Content-Type" : "X-Fuzz");
        name.len = tn_strlen(name.data);
        value.data = (u_char *) values[(op >> 4) % 5];
        value.len = tn_strlen(value.data);
        (void) tn_lua_mime_set_header(tree, part, &name, &value, &err);
        break;

    case 3:
        name.data = (u_char *) ((op & 8) ? "content-transfer-encoding"
                                         : "From");
        name.len = tn_strlen(name.data);
        tn_lua_mime_remove_header(tree, part, &name);
        break;

    case 4:
        value.data = (u_char *) values[(op >> 3) % 5];
        value.len = tn_strlen(value.data);
        (void) tn_lua_mime_set_body(tree, part, &value, &err);
        break;

    case 5:
        value.data = (u_char *) values[(op >> 3) % 5];
        value.len = tn_strlen(value.data);
        (void) tn_lua_mime_set_filename(tree, part, &value, &err);
        break;

    case 6:
        type.data = (u_char *) ((op & 8) ? "application/octet-stream"
                                         : "text/plain");
        type.len = tn_strlen(type.data);

        if (tn_array_init(&params, tree->pool, 2,
                          sizeof(tn_lua_mime_param_t)) != TN_OK)
        {
            return;
        }

        pm = tn_array_push(&params);
        if (pm == NULL) {
            return;
        }

        pm->name.data = (u_char *) "name";
        pm->name.len = 4;
        pm->value.data = (u_char *) values[(op >> 4) % 5];
        pm->value.len = tn_strlen(pm->value.data);
        (void) tn_lua_mime_set_type(tree, part, &type, &params, &err);
        break;

    case 7:
        type.data = (u_char *) "text/plain";
        type.len = 10;
        value.data = (u_char *) values[(op >> 3) % 5];
        value.len = tn_strlen(value.data);
        fname.data = (u_char *) "note.txt";
        fname.len = (op & 0x80) ? 8 : 0;
        disp.data = (u_char *) "inline";
        disp.len = (op & 0x40) ? 6 : 0;
        (void) tn_lua_mime_add_part(tree, part, &type, &value, &fname, &disp,
                                    &err);
        break;

    default:
        break;
    }
}


static void
tn_fuzz_bodies(tn_lua_mime_tree_t *tree)
{
    size_t               size;
    tn_str_t             body;
    tn_uint_t            i;
    tn_lua_mime_part_t  *part;

    for (i = 0; i < tree->parts.nelts; i++) {
        part = ((tn_lua_mime_part_t **) tree->parts.elts)[i];

        if (part == NULL || part->body_end < part->body_offset) {
            continue;
        }

        size = part->body_end - part->body_offset;
        body.data = malloc(size + 1);

        if (body.data == NULL) {
            continue;
        }

        if (tn_lua_mime_body(tree, part, &body) == TN_OK
            && body.len > size)
        {
            abort();
        }

        free(body.data);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    off_t                pos, lines;
    size_t               len, i, k, total;
    u_char              *text, *out, *p;
    tn_pool_t           *pool;
    tn_array_t          *edits;
    tn_lua_mime_tree_t  *tree, *back;
    tn_lua_mime_edit_t  *e;

    if (size < TN_FUZZ_OPS || size > TN_FUZZ_MAX) {
        return 0;
    }

    if (tn_pagesize == 0) {
        tn_pagesize = getpagesize();
        tn_memzero(&tn_fuzz_log, sizeof(tn_log_t));
    }

    pool = tn_create_pool(4096, &tn_fuzz_log);
    if (pool == NULL) {
        return 0;
    }

    len = size - TN_FUZZ_OPS;
    text = tn_pnalloc(pool, len + 1);
    if (text == NULL) {
        goto done;
    }

    tn_memcpy(text, data + TN_FUZZ_OPS, len);

    tree = tn_lua_mime_parse(pool, text, len);
    if (tree == NULL) {
        goto done;
    }

    tn_fuzz_bodies(tree);

    for (i = 0; i < TN_FUZZ_OPS && i < tree->parts.nelts; i++) {
        if (((tn_lua_mime_part_t **) tree->parts.elts)[i]) {
            tn_fuzz_op(tree, ((tn_lua_mime_part_t **) tree->parts.elts)[i],
                       data[i]);
        }
    }

    edits = tn_lua_mime_edits(tree);
    if (edits == NULL) {
        goto done;
    }

    e = edits->elts;
    pos = 0;
    total = len;

    for (i = 0; i < edits->nelts; i++) {
        if (e[i].offset < pos || e[i].len < 0
            || e[i].offset + e[i].len > (off_t) len)
        {
            abort();
        }

        for (lines = 0, k = 0; k < (size_t) e[i].len; k++) {
            lines += text[e[i].offset + k] == '\n';
        }

        if (lines != e[i].lines) {
            abort();
        }

        for (lines = 0, k = 0; k < e[i].size; k++) {
            lines += e[i].data[k] == '\n';
        }

        if (lines != e[i].data_lines) {
            abort();
        }

        pos = e[i].offset + e[i].len;
        total += e[i].size;
    }

    out = tn_pnalloc(pool, total + 1);
    if (out == NULL) {
        goto done;
    }

    p = out;
    pos = 0;

    for (i = 0; i < edits->nelts; i++) {
        p = tn_cpymem(p, text + pos, e[i].offset - pos);
        if (e[i].size) {
            p = tn_cpymem(p, e[i].data, e[i].size);
        }
        pos = e[i].offset + e[i].len;
    }

    p = tn_cpymem(p, text + pos, len - pos);

    back = tn_lua_mime_parse(pool, out, p - out);
    if (back == NULL) {
        abort();
    }

    tn_fuzz_bodies(back);

done:

    tn_destroy_pool(pool);

    return 0;
}
