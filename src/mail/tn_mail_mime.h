
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_MIME_H_INCLUDED_
#define _TN_MAIL_MIME_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 * The streaming MIME parser (RFC 2045, 2046, 2231, 5322) and the header
 * helpers IMAP needs for ENVELOPE, SEARCH and SORT (address lists,
 * RFC 2047 encoded-words, dates).
 *
 * The parser is a push parser: tn_mail_mime_feed() takes the message in
 * any split (a byte at a time gives the same callbacks, with the same
 * data concatenated, as the whole message at once) and
 * tn_mail_mime_finish() ends it.  It keeps no copy of the message: memory
 * is the parser, one small block per nesting level in use and the
 * header-field buffer, all bounded by the limits below and allocated from
 * the pool given to tn_mail_mime_init() (at init, and when a level is
 * first reached or its MIME fields outgrow their block).  Nesting is an
 * explicit stack: no recursion on the C stack.
 *
 * Input: a message with LF (as stored) or CRLF (as on the wire) line
 * ends, or a mix; a CR not followed by LF is data.  Sizes are given both
 * raw (offsets in the input) and as "virtual" sizes, counted as if every
 * line ended with CRLF (a bare LF counts 2): what IMAP reports.  Lines
 * are counted as LFs.
 *
 * Callbacks, in order, for each part:
 *
 *   header()*   each field of the part's header, unfolded;
 *   part_start  at the end of the header: the MIME fields are now set;
 *   body()*     raw body data of a leaf part; for a multipart its preamble
 *               (part->nchildren == 0, !part->epilogue) or its epilogue
 *               (part->epilogue);
 *   decoded()*  the leaf body decoded (base64, quoted-printable; other
 *               encodings as is), only when the handler is set;
 *   ...         the children of a multipart or message/rfc822 part, each
 *               with the same sequence;
 *   part_end    with the body sizes; the part's strings stay valid until
 *               part_end returns.
 *
 * A multipart body (RFC 2046): a line starting with "--" followed by the
 * boundary of an open multipart is a delimiter line, "--boundary--" the
 * close delimiter; only the start of the line has to match (anything may
 * follow, transport padding included), and when several open boundaries
 * match the longest wins (the innermost on a tie), so "--ab" is the
 * delimiter of "ab", not of "a", whichever is nested in the other.  The
 * line end before a delimiter line belongs to the delimiter, not to the
 * part it ends.  A delimiter of an outer multipart also ends every part
 * nested in it (which then get TN_MAIL_MIME_F_NO_CLOSE when they are
 * multiparts).  The body of a message/rfc822 (or message/global) part in
 * 7bit, 8bit or binary is parsed as a message: its header is a message
 * header (part->message) and it can be ended by the boundaries of the
 * multiparts around it.
 *
 * Content-Type defaults (RFC 2045 5.2, RFC 2046 5.1.5): none or an
 * invalid one gives text/plain; charset=us-ascii (part->default_type),
 * and message/rfc822 inside multipart/digest.  Of each Content-* field
 * the first one counts.
 *
 * Broken input never stops the parser: it is flagged in part->flags (a
 * multipart without its close delimiter, a header without its empty
 * line, bad parameters, base64/QP errors...) and parsing goes on.  A
 * multipart or message/rfc822 part may end with nchildren == 0 (no
 * delimiter line, or cut short by an enclosing boundary or the end of
 * the input); IMAP writes such a part as it sees fit.  Limits degrade
 * the same way (p->limits_hit says which were reached): past max_depth
 * a multipart or message/rfc822 part is a leaf; past max_parts no part
 * starts any more and everything left is body of the current part; a
 * multipart whose boundary is longer than max_boundary is a leaf; a
 * field longer than max_header_line is cut for the callbacks (its size
 * and offsets stay true); fields starting past max_header_size of a
 * part are not reported (the header still ends at its empty line);
 * parameters past max_params, and MIME values that do not fit in
 * max_part_info, are dropped.
 */


/* defaults of tn_mail_mime_limits_t, from SECURITY-CHECKLIST 5 */
#define TN_MAIL_MIME_MAX_DEPTH        100       /* Postfix, Dovecot */
#define TN_MAIL_MIME_MAX_PARTS        10000     /* Dovecot */
#define TN_MAIL_MIME_MAX_HEADER_LINE  (64 * 1024)
#define TN_MAIL_MIME_MAX_HEADER_SIZE  (10 * 1024 * 1024)  /* Dovecot */
#define TN_MAIL_MIME_MAX_PARAMS       100       /* Dovecot CVE-2026-27859 */
#define TN_MAIL_MIME_MAX_BOUNDARY     70        /* RFC 2046 5.1.1 */
#define TN_MAIL_MIME_MAX_PART_INFO    (16 * 1024)

/* what a limit may be set to */
#define TN_MAIL_MIME_BOUNDARY_CAP     998
#define TN_MAIL_MIME_HEADER_LINE_MIN  1024


/* p->limits_hit: which limits were reached */
#define TN_MAIL_MIME_LIMIT_DEPTH        0x0001
#define TN_MAIL_MIME_LIMIT_PARTS        0x0002
#define TN_MAIL_MIME_LIMIT_HEADER_LINE  0x0004
#define TN_MAIL_MIME_LIMIT_HEADER_SIZE  0x0008
#define TN_MAIL_MIME_LIMIT_PARAMS       0x0010
#define TN_MAIL_MIME_LIMIT_BOUNDARY     0x0020
#define TN_MAIL_MIME_LIMIT_PART_INFO    0x0040


/* part->flags: what was odd about a part; none of them stops parsing */
#define TN_MAIL_MIME_F_HEADER_TRUNCATED 0x00001 /* a field > max line */
#define TN_MAIL_MIME_F_HEADER_TOO_BIG   0x00002 /* fields past the size
                                                   limit not reported */
#define TN_MAIL_MIME_F_HEADER_BROKEN    0x00004 /* a line with no colon or
                                                   a continuation first */
#define TN_MAIL_MIME_F_HEADER_8BIT      0x00008
#define TN_MAIL_MIME_F_NO_HEADER_END    0x00010 /* no empty line: ended by
                                                   a boundary or the end */
#define TN_MAIL_MIME_F_NUL              0x00020 /* NUL in header or body */
#define TN_MAIL_MIME_F_BODY_8BIT        0x00040
#define TN_MAIL_MIME_F_BAD_CTYPE        0x00080 /* invalid Content-Type:
                                                   the default is used */
#define TN_MAIL_MIME_F_BAD_PARAMS       0x00100 /* bad syntax, dropped or
                                                   incomplete RFC 2231 */
#define TN_MAIL_MIME_F_NO_BOUNDARY      0x00200 /* multipart without a
                                                   usable boundary: leaf */
#define TN_MAIL_MIME_F_TOO_DEEP         0x00400 /* container kept as leaf */
#define TN_MAIL_MIME_F_NO_CLOSE         0x00800 /* multipart ended without
                                                   its close delimiter */
#define TN_MAIL_MIME_F_B64_INVALID      0x01000 /* bytes outside the
                                                   alphabet skipped */
#define TN_MAIL_MIME_F_B64_PADDING      0x02000 /* missing or bad '=' */
#define TN_MAIL_MIME_F_QP_INVALID       0x04000 /* '=' not followed by hex
                                                   or a line end: kept */
#define TN_MAIL_MIME_F_QP_EQ_END        0x08000 /* '=' ends the body: a
                                                   soft line break (usual
                                                   before a boundary) */


/* part->encoding, from Content-Transfer-Encoding */
#define TN_MAIL_MIME_ENC_7BIT           0       /* also when absent */
#define TN_MAIL_MIME_ENC_8BIT           1
#define TN_MAIL_MIME_ENC_BINARY         2
#define TN_MAIL_MIME_ENC_BASE64         3
#define TN_MAIL_MIME_ENC_QP             4
#define TN_MAIL_MIME_ENC_OTHER          5       /* passed on undecoded */


typedef struct tn_mail_mime_s       tn_mail_mime_t;
typedef struct tn_mail_mime_part_s  tn_mail_mime_part_t;


typedef struct {
    tn_uint_t   max_depth;        /* part->depth <= this; root is 0 */
    tn_uint_t   max_parts;        /* all parts, the root included */
    size_t      max_header_line;  /* one unfolded field, for callbacks */
    size_t      max_header_size;  /* the header of one part */
    tn_uint_t   max_params;       /* raw parameters of one field */
    size_t      max_boundary;
    size_t      max_part_info;    /* MIME field values kept of a part */
} tn_mail_mime_limits_t;


/*
 * A Content-Type or Content-Disposition parameter after RFC 2231
 * decoding: continuations (name*0, name*1*, ...) joined in order and
 * %XX decoded; value is in charset (empty when not given), not
 * converted.  name is as sent, without the "*..." suffix.  A name given
 * several times: the RFC 2231 form wins, else the first.
 */
typedef struct {
    tn_str_t    name;
    tn_str_t    value;
    tn_str_t    charset;
    tn_str_t    language;
    unsigned    extended:1;       /* was an RFC 2231 form */
} tn_mail_mime_param_t;


/* one header field, valid during the header() call */
typedef struct {
    tn_str_t    name;       /* before the colon, trailing blanks removed */
    tn_str_t    value;      /* after the colon and its blanks, unfolded
                               (the line ends of folds removed) */
    off_t       offset;     /* raw offset of the field's first byte */
    off_t       size;       /* raw bytes, folds and last line end included */
    tn_uint_t   lines;
    unsigned    truncated:1;  /* name + value cut at max_header_line */
    unsigned    no_colon:1;   /* name is the whole line, value empty */
} tn_mail_mime_field_t;


struct tn_mail_mime_part_s {
    tn_mail_mime_part_t   *parent;
    tn_uint_t              depth;       /* 0: the message */
    tn_uint_t              index;       /* order of appearance, root 0 */
    tn_uint_t              nchildren;   /* children started so far */
    tn_uint_t              flags;       /* TN_MAIL_MIME_F_* */

    unsigned               message:1;   /* its header is a message header:
                                           the root, or in message/rfc822 */
    unsigned               multipart:1; /* its body is parsed for parts */
    unsigned               rfc822:1;    /* its body is parsed as a message */
    unsigned               epilogue:1;  /* its close delimiter was seen */
    unsigned               default_type:1;
    unsigned               in_body:1;   /* part_start was called */

    /* set from part_start on; empty strings are "" (never NULL data) */
    tn_str_t               type;        /* lowercase */
    tn_str_t               subtype;     /* lowercase */
    tn_mail_mime_param_t  *params;      /* Content-Type parameters */
    tn_uint_t              nparams;
    tn_str_t               boundary;    /* multipart only */
    tn_str_t               charset;     /* the charset parameter */
    tn_uint_t              encoding;    /* TN_MAIL_MIME_ENC_* */
    tn_str_t               encoding_name;  /* lowercase, "" if absent */
    tn_str_t               disposition;    /* lowercase, "" if absent */
    tn_mail_mime_param_t  *disp_params;
    tn_uint_t              ndisp_params;
    tn_str_t               filename;    /* Content-Disposition filename,
                                           else Content-Type name */
    tn_str_t               filename_charset;
    tn_str_t               id;          /* the other fields trimmed */
    tn_str_t               description;
    tn_str_t               language;
    tn_str_t               location;
    tn_str_t               md5;

    /* raw offsets in the input */
    off_t                  header_offset;
    off_t                  body_offset;  /* set at part_start */
    off_t                  body_end;     /* set at part_end */

    /* CRLF ("virtual") sizes and LF counts; body ones at part_end */
    off_t                  header_vsize;
    off_t                  header_lines;
    off_t                  body_vsize;
    off_t                  body_lines;
};

#define tn_mail_mime_header_size(part)                                       \
    ((part)->body_offset - (part)->header_offset)
#define tn_mail_mime_body_size(part)                                         \
    ((part)->body_end - (part)->body_offset)


/*
 * Every handler may be NULL.  A handler returns TN_OK to go on; anything
 * else stops the parser: feed() and finish() return that code from then
 * on and call no handler again (a way to stop after the header).  What a
 * handler is given belongs to the parser and must not be changed: field
 * and data are valid during the call, the part and its strings until its
 * part_end returns.  A handler must not call feed() or finish().
 */
typedef tn_int_t (*tn_mail_mime_header_pt)(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part, tn_mail_mime_field_t *field);
typedef tn_int_t (*tn_mail_mime_part_pt)(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part);
typedef tn_int_t (*tn_mail_mime_data_pt)(tn_mail_mime_t *p,
    tn_mail_mime_part_t *part, u_char *data, size_t len);

typedef struct {
    tn_mail_mime_header_pt  header;
    tn_mail_mime_part_pt    part_start;
    tn_mail_mime_data_pt    body;
    tn_mail_mime_data_pt    decoded;
    tn_mail_mime_part_pt    part_end;
} tn_mail_mime_handlers_t;


typedef struct tn_mail_mime_level_s  tn_mail_mime_level_t;
typedef struct tn_mail_mime_rparam_s  tn_mail_mime_rparam_t;

#define TN_MAIL_MIME_DECODE_BUF   2048
#define TN_MAIL_MIME_QP_WSP_MAX   64


struct tn_mail_mime_s {
    void                     *data;         /* the caller's */
    tn_uint_t                 limits_hit;   /* TN_MAIL_MIME_LIMIT_* */
    tn_uint_t                 nparts;       /* parts started */
    off_t                     offset;       /* raw bytes read */
    off_t                     voffset;      /* the same with CRLF ends */
    off_t                     lines;

    /* private */
    tn_int_t                  rc;
    tn_uint_t                 state;
    tn_pool_t                *pool;
    tn_mail_mime_limits_t     limits;
    tn_mail_mime_handlers_t   handlers;

    tn_mail_mime_level_t    **levels;       /* max_depth + 1 */
    tn_int_t                  top;          /* -1: all parts ended */
    tn_uint_t                 nactive;      /* open boundaries */
    size_t                    hold_max;     /* "--" longest "--" */

    off_t                     line_offset;  /* where this line starts */
    off_t                     cut_offset;   /* where a part ends if this */
    off_t                     cut_voffset;  /* line is a boundary */
    off_t                     cut_lines;
    off_t                     eol_offset;   /* before the last line end */
    off_t                     eol_voffset;
    off_t                     eol_lines;

    /* the body line being held: a pending line end and its start */
    size_t                    eol_pending;  /* 0, 1 (LF) or 2 (CRLF) */
    u_char                   *hold;
    size_t                    hold_len;
    tn_uint_t                 hold_on;      /* the line may be a boundary */
    tn_int_t                  match_level;  /* the boundary found */
    tn_uint_t                 match_close;
    tn_uint_t                 skip_cr;

    /* the header field being read */
    u_char                   *field;
    size_t                    field_len;
    size_t                    field_size;
    off_t                     field_offset;
    tn_uint_t                 field_lines;
    unsigned                  field_on:1;
    unsigned                  field_truncated:1;
    unsigned                  field_skip:1;  /* past max_header_size */
    unsigned                  frozen:1;      /* max_parts: no more parts */

    tn_mail_mime_rparam_t    *rparams;      /* max_params, scratch */

    /* the decoder of the current leaf */
    tn_uint_t                 dec_state;
    uint32_t                  dec_bits;
    tn_uint_t                 dec_n;
    u_char                    dec_hex;
    size_t                    dec_wsp_len;
    u_char                    dec_wsp[TN_MAIL_MIME_QP_WSP_MAX];
    size_t                    dec_len;
    u_char                    dec_out[TN_MAIL_MIME_DECODE_BUF];
};


/* the defaults above */
void tn_mail_mime_limits_default(tn_mail_mime_limits_t *limits);

/*
 * Sets up p.  limits may be NULL (defaults); a 0 field takes its
 * default, max_header_line is raised to TN_MAIL_MIME_HEADER_LINE_MIN and
 * max_boundary capped at TN_MAIL_MIME_BOUNDARY_CAP.  handlers is copied.
 * p->data is left to the caller.  TN_OK, or TN_ERROR if the pool failed.
 */
tn_int_t tn_mail_mime_init(tn_mail_mime_t *p, tn_pool_t *pool,
    const tn_mail_mime_limits_t *limits,
    const tn_mail_mime_handlers_t *handlers);

/*
 * Parses len bytes (len may be 0).  TN_OK; TN_ERROR if an allocation
 * failed; or the code a handler returned to stop.  data is not kept.
 */
tn_int_t tn_mail_mime_feed(tn_mail_mime_t *p, u_char *data, size_t len);

/*
 * The end of the message: ends the header or body being read (a line in
 * progress is a line), and every open part, innermost first.  Then
 * feed() must not be called again.  Returns as feed().
 */
tn_int_t tn_mail_mime_finish(tn_mail_mime_t *p);

/* a parameter by name (case-insensitive), or NULL */
tn_mail_mime_param_t *tn_mail_mime_param(tn_mail_mime_param_t *params,
    tn_uint_t n, const char *name);


/*
 * Charsets: "utf-8" and "us-ascii" (checked as UTF-8), "iso-8859-1" and
 * "windows-1252" with their usual aliases.  The id, or TN_ERROR for any
 * other charset.
 */
#define TN_MAIL_MIME_CS_UTF8      1
#define TN_MAIL_MIME_CS_LATIN1    2
#define TN_MAIL_MIME_CS_CP1252    3

tn_int_t tn_mail_mime_charset(u_char *name, size_t len);

/*
 * Converts src in charset cs to UTF-8 into dst, which must hold 3 * len
 * bytes; malformed UTF-8 gives U+FFFD for each bad byte.  The length.
 */
size_t tn_mail_mime_to_utf8(tn_int_t cs, u_char *dst, u_char *src,
    size_t len);


/*
 * RFC 2047: decodes the encoded-words of a header value (unstructured
 * text such as Subject, or a display name) to UTF-8, into dst, which must
 * hold TN_MAIL_MIME_DECODE_WORDS_SIZE(len) bytes.  B and Q encodings,
 * "charset*language" accepted; the linear white space between two
 * adjacent encoded-words is dropped, and their bytes are joined before
 * conversion (a UTF-8 character may be split between words).  Words in
 * unknown charsets and malformed words are copied as they are; so is
 * text outside the words (it is not checked or converted).  Folding
 * line ends (CR, LF) are removed.  Returns the length written.
 */
#define TN_MAIL_MIME_DECODE_WORDS_SIZE(len)  (3 * (len) + 4)

size_t tn_mail_mime_decode_words(u_char *dst, u_char *src, size_t len);


/*
 * An address of an address-list header (From, To, Cc, ...), as IMAP
 * ENVELOPE wants it (RFC 3501 7.4.2): a group is a group_start entry
 * (mailbox = the group name) followed by its members and a group_end
 * entry (all empty).  Strings are empty ("") when absent.
 */
typedef struct {
    tn_str_t    name;     /* display name: words joined by one space,
                             quotes removed, encoded-words kept (see
                             tn_mail_mime_decode_words()); for
                             "addr (Comment)" the comment */
    tn_str_t    adl;      /* source route "@a,@b", without the ':' */
    tn_str_t    mailbox;  /* local part, unquoted; or the group name */
    tn_str_t    host;     /* domain, literals with their brackets */
    unsigned    group_start:1;
    unsigned    group_end:1;
    unsigned    invalid:1;  /* no domain, or trailing garbage dropped */
} tn_mail_mime_addr_t;

/* entries of one header, at most (and a group end after them) */
#define TN_MAIL_MIME_MAX_ADDRS  10240      /* Postfix token limit */

/*
 * Parses an address list (RFC 5322 3.4 with the obsolete forms of 4.4:
 * comments, quoted strings, groups, route addresses, a missing angle
 * bracket, a bare local part).  Never fails on syntax: what can be read
 * is returned, the rest is dropped.  *addrs and its strings are allocated
 * from pool.  TN_OK (with *naddrs possibly 0) or TN_ERROR (no memory).
 */
tn_int_t tn_mail_mime_parse_addresses(tn_pool_t *pool, u_char *value,
    size_t len, tn_mail_mime_addr_t **addrs, tn_uint_t *naddrs);


/*
 * A Date field (RFC 5322 3.3, with the obsolete forms of 4.3 and common
 * broken ones: no weekday, 2- or 3-digit years, no seconds, zone names
 * such as "GMT", "EST" (military letters count as +0000), a missing
 * zone (+0000), "14-Nov-2006", asctime() "Tue Nov 14 14:23:11 2006",
 * "2006-11-14 14:23:11", comments).  TN_OK with the UTC time in *t and
 * the zone offset in minutes in *tz (may be NULL), or TN_ERROR.
 */
tn_int_t tn_mail_mime_parse_date(u_char *value, size_t len, time_t *t,
    tn_int_t *tz);


/*
 * Private: shared by tn_mail_mime.c (bytes, boundaries, parts),
 * tn_mail_mime_field.c (header fields, Content-* values, RFC 2231) and
 * tn_mail_mime_decode.c (base64, quoted-printable).
 */

/* RFC 6838 4.2: type and subtype names are at most 127 characters */
#define TN_MAIL_MIME_TOKEN_MAX  128

/* a tn_str_t equal to a lowercase literal */
#define tn_mail_mime_is(s, lit)                                              \
    ((s).len == sizeof(lit) - 1 && tn_memcmp((s).data, lit, (s).len) == 0)


/* a string in a level's info block, until the part starts */
typedef struct {
    uint32_t                off;
    uint32_t                len;
} tn_mail_mime_ref_t;


/* a parameter of a level, kept as refs until the part starts */
typedef struct {
    tn_mail_mime_ref_t      name;
    tn_mail_mime_ref_t      value;
    tn_mail_mime_ref_t      charset;
    tn_mail_mime_ref_t      language;
    unsigned                extended:1;
    unsigned                disp:1;        /* of Content-Disposition */
} tn_mail_mime_iparam_t;


/* a parameter as read from the field, before RFC 2231 joining */
struct tn_mail_mime_rparam_s {
    u_char                 *name;          /* without the '*' suffix */
    size_t                  name_len;
    u_char                 *value;         /* inside the quotes if any */
    size_t                  value_len;
    tn_int_t                section;       /* name*N; -1: none */
    unsigned                encoded:1;     /* a trailing '*' */
    unsigned                quoted:1;
    unsigned                done:1;
};


struct tn_mail_mime_level_s {
    tn_mail_mime_part_t     part;

    u_char                 *boundary;      /* max_boundary bytes */
    size_t                  boundary_len;
    unsigned                active:1;      /* boundary lines looked for */
    unsigned                match:1;       /* the held line may be ours */
    unsigned                decode:1;      /* a leaf with decoded() */
    unsigned                seen_ctype:1;
    unsigned                seen_cte:1;
    unsigned                seen_disp:1;
    unsigned                valid_ctype:1;

    off_t                   header_voffset;
    off_t                   header_lines0;
    off_t                   body_voffset;
    off_t                   body_lines0;

    u_char                  type[TN_MAIL_MIME_TOKEN_MAX];
    u_char                  subtype[TN_MAIL_MIME_TOKEN_MAX];
    u_char                  cte[TN_MAIL_MIME_TOKEN_MAX];
    u_char                  disp[TN_MAIL_MIME_TOKEN_MAX];
    size_t                  type_len;
    size_t                  subtype_len;
    size_t                  cte_len;
    size_t                  disp_len;

    /* Content-ID, -Description, -Language, -Location, -MD5 */
    tn_mail_mime_ref_t      simple[5];
    unsigned                seen_simple;

    u_char                 *info;
    size_t                  info_len;
    size_t                  info_size;

    tn_mail_mime_iparam_t  *iparams;
    tn_uint_t               niparams;
    tn_uint_t               niparams_alloc;

    tn_mail_mime_param_t   *params;        /* given to the caller */
    tn_uint_t               nparams_alloc;
};


void tn_mail_mime_call_part(tn_mail_mime_t *p, tn_mail_mime_part_pt handler,
    tn_mail_mime_part_t *part);
void tn_mail_mime_call_data(tn_mail_mime_t *p, tn_mail_mime_data_pt handler,
    tn_mail_mime_part_t *part, u_char *data, size_t len);
void *tn_mail_mime_grow(tn_mail_mime_t *p, void *old, size_t used,
    size_t size);

void tn_mail_mime_field_begin(tn_mail_mime_t *p);
void tn_mail_mime_field_add(tn_mail_mime_t *p, u_char *data, size_t len);
void tn_mail_mime_field_end(tn_mail_mime_t *p);
void tn_mail_mime_resolve(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl);

void tn_mail_mime_dec_reset(tn_mail_mime_t *p);
void tn_mail_mime_dec_run(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl,
    u_char *data, size_t len);
void tn_mail_mime_dec_finish(tn_mail_mime_t *p, tn_mail_mime_level_t *lvl);


#endif /* _TN_MAIL_MIME_H_INCLUDED_ */
