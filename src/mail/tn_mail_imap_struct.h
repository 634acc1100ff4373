
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_IMAP_STRUCT_H_INCLUDED_
#define _TN_MAIL_IMAP_STRUCT_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_mime.h>


/*
 * Private to tn_mail_imap_msg.c, tn_mail_imap_struct.c and
 * tn_mail_imap_str.c: a growing output buffer, and the part tree that
 * the MIME parser's callbacks build while the header cache is made
 * (ENVELOPE, BODY, BODYSTRUCTURE).
 */


/* a buffer that grows in its pool; rc is TN_ERROR once memory failed */
typedef struct {
    tn_pool_t                   *pool;
    u_char                      *data;
    size_t                       len;
    size_t                       size;
    tn_int_t                     rc;
} tn_mail_imap_buf_t;

void tn_mail_imap_buf_init(tn_mail_imap_buf_t *b, tn_pool_t *pool);
u_char *tn_mail_imap_buf_reserve(tn_mail_imap_buf_t *b, size_t n);
void tn_mail_imap_buf_add(tn_mail_imap_buf_t *b, u_char *data, size_t len);
/* s as an IMAP nstring (NIL when s->data is NULL), 8-bit as a literal */
void tn_mail_imap_buf_nstring(tn_mail_imap_buf_t *b, tn_str_t *s);
/* the buffer as a string in the pool (a copy of the exact length) */
tn_int_t tn_mail_imap_buf_done(tn_mail_imap_buf_t *b, tn_str_t *out);

#define tn_mail_imap_buf_lit(b, lit)                                         \
    tn_mail_imap_buf_add(b, (u_char *) lit, sizeof(lit) - 1)


/* the ENVELOPE fields of a message header, in ENVELOPE order */
#define TN_MAIL_IMAP_ENV_DATE         0
#define TN_MAIL_IMAP_ENV_SUBJECT      1
#define TN_MAIL_IMAP_ENV_FROM         2
#define TN_MAIL_IMAP_ENV_SENDER       3
#define TN_MAIL_IMAP_ENV_REPLY_TO     4
#define TN_MAIL_IMAP_ENV_TO           5
#define TN_MAIL_IMAP_ENV_CC           6
#define TN_MAIL_IMAP_ENV_BCC          7
#define TN_MAIL_IMAP_ENV_IN_REPLY_TO  8
#define TN_MAIL_IMAP_ENV_MESSAGE_ID   9
#define TN_MAIL_IMAP_ENV_N            10


typedef struct tn_mail_imap_node_s  tn_mail_imap_node_t;

/*
 * One part, rendered at its part_end as the pieces around its children:
 * "(" head children mid [ext] ")", ext only in BODYSTRUCTURE.  A
 * message/rfc822 part with a parsed message puts the envelope and the
 * structure of its child between head and mid.
 */
struct tn_mail_imap_node_s {
    tn_mail_imap_node_t         *child;
    tn_mail_imap_node_t         *last;
    tn_mail_imap_node_t         *next;
    tn_uint_t                    index;
    tn_str_t                    *env;       /* message headers: raw values,
                                               data NULL when absent */
    tn_str_t                     envelope;
    tn_str_t                     head;
    tn_str_t                     mid;
    tn_str_t                     ext;
    unsigned                     multipart:1;
    unsigned                     message:1;  /* rendered as message/rfc822 */
};


typedef struct {
    tn_pool_t                   *pool;
    tn_mail_imap_node_t         *root;
    tn_mail_imap_node_t         *stack[TN_MAIL_MIME_MAX_DEPTH + 1];
} tn_mail_imap_tree_t;


/* the MIME callbacks of tn_mail_imap_msg_cache() call these */
tn_int_t tn_mail_imap_tree_header(tn_mail_imap_tree_t *t,
    tn_mail_mime_part_t *part, tn_mail_mime_field_t *field);
tn_int_t tn_mail_imap_tree_start(tn_mail_imap_tree_t *t,
    tn_mail_mime_part_t *part);
tn_int_t tn_mail_imap_tree_end(tn_mail_imap_tree_t *t,
    tn_mail_mime_part_t *part);

/* BODYSTRUCTURE (bs 1) or BODY (bs 0) of the tree */
tn_int_t tn_mail_imap_tree_render(tn_mail_imap_tree_t *t, tn_uint_t bs,
    tn_str_t *out);

/* ENVELOPE of the raw field values env[TN_MAIL_IMAP_ENV_N] */
tn_int_t tn_mail_imap_envelope(tn_pool_t *pool, tn_str_t *env,
    tn_str_t *out);

/*
 * For the search fields: the addresses of an address-list value as
 * "name <mailbox@host>" joined by ", ", names RFC 2047 decoded, and the
 * mailbox of the first address (RFC 5256), both not yet folded.
 */
tn_int_t tn_mail_imap_addr_text(tn_pool_t *pool, tn_str_t *value,
    tn_str_t *text, tn_str_t *first);

/* RFC 5256 base subject of a decoded, folded subject, in place */
void tn_mail_imap_base_subject(tn_str_t *s);


#endif /* _TN_MAIL_IMAP_STRUCT_H_INCLUDED_ */
