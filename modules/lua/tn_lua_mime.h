
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_LUA_MIME_H_INCLUDED_
#define _TN_LUA_MIME_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_mime.h>


/*
 * The MIME tree of the mime phase (tn_lua_mime.c): built from the message
 * text by Tern's MIME parser (its limits), changed by the script, and
 * turned into edits of the text: only what changed is written again
 * (a header field, a body, a removed part's range, an added part); every
 * other byte is left as it is.  No Lua and no event loop here: the tree
 * is built in a pool thread and unit-tested alone.
 */


typedef struct tn_lua_mime_part_s  tn_lua_mime_part_t;


typedef struct {
    tn_str_t                name;
    tn_str_t                value;      /* unfolded, as sent */
    off_t                   offset;     /* in the text; -1: added */
    off_t                   size;
    tn_str_t                text;       /* the new "Name: value\n" */
    unsigned                removed:1;
    unsigned                changed:1;
} tn_lua_mime_field_t;


/* a Content-Type or Content-Disposition parameter, value in UTF-8 */
typedef struct {
    tn_str_t                name;       /* lower case */
    tn_str_t                value;
} tn_lua_mime_param_t;


struct tn_lua_mime_part_s {
    tn_lua_mime_part_t     *parent;
    tn_array_t              fields;     /* tn_lua_mime_field_t */
    tn_array_t              children;   /* tn_lua_mime_part_t * */
    tn_array_t              added;      /* tn_str_t: parts to add */

    tn_str_t                type;       /* "text/plain", lower case */
    tn_array_t              params;     /* tn_lua_mime_param_t */
    tn_str_t                disposition;   /* lower case, "" if none */
    tn_array_t              disp_params;
    tn_str_t                boundary;
    tn_uint_t               encoding;   /* TN_MAIL_MIME_ENC_* */

    off_t                   header_offset;
    off_t                   body_offset;
    off_t                   body_end;
    off_t                   delim_start;   /* its delimiter line, with the
                                              line end before it */
    tn_str_t                body;       /* the new body, encoded */

    tn_uint_t               index;
    unsigned                multipart:1;
    unsigned                body_set:1;
    unsigned                removed:1;
};


typedef struct {
    tn_pool_t              *pool;
    u_char                 *text;
    size_t                  len;
    tn_lua_mime_part_t     *root;
    tn_array_t              parts;      /* by parser index */
    tn_uint_t               limits_hit;
    unsigned                changed:1;
} tn_lua_mime_tree_t;


/* a change of the text: len bytes at offset become data */
typedef struct {
    off_t                   offset;
    off_t                   len;
    off_t                   lines;
    u_char                 *data;
    size_t                  size;
    off_t                   data_lines;
} tn_lua_mime_edit_t;


/* the tree of text (kept, not copied); NULL: memory */
tn_lua_mime_tree_t *tn_lua_mime_parse(tn_pool_t *pool, u_char *text,
    size_t len);

/* the value of the first field named so (not removed), or NULL */
tn_str_t *tn_lua_mime_header(tn_lua_mime_part_t *part, tn_str_t *name);

/*
 * These return TN_OK, TN_DECLINED (an invalid argument: *err says why)
 * or TN_ERROR (memory).
 */
tn_int_t tn_lua_mime_set_header(tn_lua_mime_tree_t *tree,
    tn_lua_mime_part_t *part, tn_str_t *name, tn_str_t *value,
    const char **err);
void tn_lua_mime_remove_header(tn_lua_mime_tree_t *tree,
    tn_lua_mime_part_t *part, tn_str_t *name);
tn_int_t tn_lua_mime_set_type(tn_lua_mime_tree_t *tree,
    tn_lua_mime_part_t *part, tn_str_t *type, tn_array_t *params,
    const char **err);
/* the file name in UTF-8 (RFC 2231 or RFC 2047 decoded) or "" */
tn_int_t tn_lua_mime_filename(tn_pool_t *pool, tn_lua_mime_part_t *part,
    tn_str_t *name);
tn_int_t tn_lua_mime_set_filename(tn_lua_mime_tree_t *tree,
    tn_lua_mime_part_t *part, tn_str_t *name, const char **err);
/* the body decoded into body->data, which holds the raw body size + 1 */
tn_int_t tn_lua_mime_body(tn_lua_mime_tree_t *tree,
    tn_lua_mime_part_t *part, tn_str_t *body);
tn_int_t tn_lua_mime_set_body(tn_lua_mime_tree_t *tree,
    tn_lua_mime_part_t *part, tn_str_t *body, const char **err);
tn_int_t tn_lua_mime_remove(tn_lua_mime_tree_t *tree,
    tn_lua_mime_part_t *part, const char **err);
/* a new leaf part at the end of the multipart part */
tn_int_t tn_lua_mime_add_part(tn_lua_mime_tree_t *tree,
    tn_lua_mime_part_t *part, tn_str_t *type, tn_str_t *body,
    tn_str_t *filename, tn_str_t *disposition, const char **err);

/* the edits, in order and not overlapping (an array of the pool) */
tn_array_t *tn_lua_mime_edits(tn_lua_mime_tree_t *tree);

/* for tests and tern.send_message */
tn_int_t tn_lua_mime_encode_header(tn_pool_t *pool, tn_str_t *name,
    tn_str_t *value, tn_str_t *field, const char **err);
/* a text body: as it is (*cte "7bit") or quoted-printable; TN_ERROR */
tn_int_t tn_lua_mime_text(tn_pool_t *pool, tn_str_t *body, tn_str_t *out,
    const char **cte);


#endif /* _TN_LUA_MIME_H_INCLUDED_ */
