
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_idna.h>
#include "tn_mail_mime.h"


/*
 * Header helpers for IMAP: charsets to UTF-8, RFC 2047 encoded-words,
 * RFC 5322 address lists and dates.  None of them keeps state between
 * calls; the address parser allocates its result from the pool given,
 * the others write into the caller's buffer.
 */


/* the tokens of an address list: these, or the special byte itself */
#define TN_MAIL_MIME_TOK_END      0
#define TN_MAIL_MIME_TOK_ATOM     'a'
#define TN_MAIL_MIME_TOK_QUOTED   'q'    /* text inside the quotes */
#define TN_MAIL_MIME_TOK_LITERAL  'l'    /* "[...]" with the brackets */


typedef struct {
    tn_int_t        cs;
    u_char          seq[4];         /* a UTF-8 sequence being read */
    size_t          nseq;
    size_t          need;
} tn_mail_mime_conv_t;


typedef struct {
    u_char         *charset;
    size_t          charset_len;
    u_char          enc;            /* 'b' or 'q' */
    u_char         *text;
    size_t          text_len;
    u_char         *end;            /* after "?=" */
} tn_mail_mime_word_t;


typedef struct {
    u_char         *pos;
    u_char         *end;
    u_char         *comment;        /* the text of the last comment */
    size_t          comment_len;
} tn_mail_mime_lex_t;


typedef struct {
    tn_uint_t       type;
    u_char         *start;          /* the text */
    u_char         *end;
    u_char         *raw;            /* the token with its quotes */
    u_char         *raw_end;
    unsigned        spaced:1;       /* blanks or a comment before it */
} tn_mail_mime_tok_t;


typedef struct {
    tn_mail_mime_lex_t    lex;
    tn_mail_mime_tok_t    tok;
    u_char               *out;      /* where strings are written */
    tn_mail_mime_addr_t  *addrs;
    tn_uint_t             naddrs;
    tn_uint_t             nalloc;
    tn_uint_t             in_group;
    tn_uint_t             full;     /* no room for more entries */
} tn_mail_mime_addr_ctx_t;


typedef struct {
    const char     *name;
    tn_int_t        cs;
} tn_mail_mime_charset_t;


static u_char *tn_mail_mime_put_cp(u_char *d, uint32_t cp);
static u_char *tn_mail_mime_conv_byte(tn_mail_mime_conv_t *cv, u_char *d,
    u_char c);
static u_char *tn_mail_mime_conv_flush(tn_mail_mime_conv_t *cv, u_char *d);
static tn_int_t tn_mail_mime_word(u_char *pos, u_char *end,
    tn_mail_mime_word_t *w);
static u_char *tn_mail_mime_word_decode(tn_mail_mime_conv_t *cv, u_char *d,
    tn_mail_mime_word_t *w);
static u_char *tn_mail_mime_copy_blanks(u_char *d, u_char *s, u_char *e);
static void tn_mail_mime_lex(tn_mail_mime_lex_t *lx, tn_mail_mime_tok_t *t);
static void tn_mail_mime_addr_one(tn_mail_mime_addr_ctx_t *ctx);
static void tn_mail_mime_addr_angle(tn_mail_mime_addr_ctx_t *ctx,
    tn_mail_mime_addr_t *a);
static void tn_mail_mime_addr_domain(tn_mail_mime_addr_ctx_t *ctx,
    tn_mail_mime_addr_t *a);
static void tn_mail_mime_addr_skip(tn_mail_mime_addr_ctx_t *ctx,
    tn_mail_mime_addr_t *a);
static tn_mail_mime_addr_t *tn_mail_mime_addr_new(
    tn_mail_mime_addr_ctx_t *ctx);
static void tn_mail_mime_render(tn_mail_mime_addr_ctx_t *ctx, tn_str_t *s,
    u_char *start, u_char *end, tn_uint_t spaces);
static void tn_mail_mime_render_comment(tn_mail_mime_addr_ctx_t *ctx,
    tn_str_t *s, u_char *start, size_t len);
static tn_int_t tn_mail_mime_hexdigit(u_char ch);
static tn_int_t tn_mail_mime_b64val(u_char ch);
static tn_int_t tn_mail_mime_date_word(u_char *w, size_t len,
    tn_int_t *mon, tn_int_t *zone, tn_int_t *ampm);
static time_t tn_mail_mime_days(tn_int_t y, tn_int_t m, tn_int_t d);


static u_char  tn_mail_mime_none[] = "";


static const tn_mail_mime_charset_t  tn_mail_mime_charsets[] = {
    { "utf-8", TN_MAIL_MIME_CS_UTF8 },
    { "utf8", TN_MAIL_MIME_CS_UTF8 },
    { "us-ascii", TN_MAIL_MIME_CS_UTF8 },
    { "ascii", TN_MAIL_MIME_CS_UTF8 },
    { "ansi_x3.4-1968", TN_MAIL_MIME_CS_UTF8 },
    { "iso-8859-1", TN_MAIL_MIME_CS_LATIN1 },
    { "iso8859-1", TN_MAIL_MIME_CS_LATIN1 },
    { "iso_8859-1", TN_MAIL_MIME_CS_LATIN1 },
    { "iso_8859-1:1987", TN_MAIL_MIME_CS_LATIN1 },
    { "iso-ir-100", TN_MAIL_MIME_CS_LATIN1 },
    { "latin1", TN_MAIL_MIME_CS_LATIN1 },
    { "latin-1", TN_MAIL_MIME_CS_LATIN1 },
    { "l1", TN_MAIL_MIME_CS_LATIN1 },
    { "cp819", TN_MAIL_MIME_CS_LATIN1 },
    { "windows-1252", TN_MAIL_MIME_CS_CP1252 },
    { "cp1252", TN_MAIL_MIME_CS_CP1252 },
    { "x-cp1252", TN_MAIL_MIME_CS_CP1252 },
    { NULL, 0 }
};


/*
 * windows-1252 0x80-0x9f (the rest is ISO-8859-1, whose bytes are their
 * own code points).  The five bytes the code page leaves undefined map to
 * the C1 controls of the same value, as the WHATWG encoding standard does.
 */
static const uint16_t  tn_mail_mime_cp1252[32] = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
    0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
    0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178
};


/* charsets */

tn_int_t
tn_mail_mime_charset(u_char *name, size_t len)
{
    const tn_mail_mime_charset_t  *c;

    for (c = tn_mail_mime_charsets; c->name; c++) {
        if (tn_strlen(c->name) == len
            && tn_strncasecmp(name, (u_char *) c->name, len) == 0)
        {
            return c->cs;
        }
    }

    return TN_ERROR;
}


size_t
tn_mail_mime_to_utf8(tn_int_t cs, u_char *dst, u_char *src, size_t len)
{
    u_char               *d;
    size_t                i;
    tn_mail_mime_conv_t   cv;

    tn_memzero(&cv, sizeof(tn_mail_mime_conv_t));
    cv.cs = cs;

    d = dst;

    for (i = 0; i < len; i++) {
        d = tn_mail_mime_conv_byte(&cv, d, src[i]);
    }

    d = tn_mail_mime_conv_flush(&cv, d);

    return d - dst;
}


static u_char *
tn_mail_mime_put_cp(u_char *d, uint32_t cp)
{
    if (cp < 0x80) {
        *d++ = (u_char) cp;

    } else if (cp < 0x800) {
        *d++ = (u_char) (0xc0 | (cp >> 6));
        *d++ = (u_char) (0x80 | (cp & 0x3f));

    } else {
        /* no converted charset goes past the BMP */
        *d++ = (u_char) (0xe0 | (cp >> 12));
        *d++ = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        *d++ = (u_char) (0x80 | (cp & 0x3f));
    }

    return d;
}


/*
 * One byte in cv->cs to UTF-8 at d.  UTF-8 is checked with
 * tn_utf8_decode(): a bad or cut sequence becomes one U+FFFD; a sequence
 * may span calls (and encoded-words).  At most 3 bytes out per byte in.
 */

static u_char *
tn_mail_mime_conv_byte(tn_mail_mime_conv_t *cv, u_char *d, u_char c)
{
    u_char  *s;

    if (cv->cs == TN_MAIL_MIME_CS_LATIN1) {
        return tn_mail_mime_put_cp(d, c);
    }

    if (cv->cs == TN_MAIL_MIME_CS_CP1252) {
        return tn_mail_mime_put_cp(d, (c >= 0x80 && c < 0xa0)
                                      ? tn_mail_mime_cp1252[c - 0x80] : c);
    }

    if (cv->nseq) {
        if ((c & 0xc0) == 0x80) {
            cv->seq[cv->nseq++] = c;

            if (cv->nseq < cv->need) {
                return d;
            }

            s = cv->seq;
            cv->nseq = 0;

            if (tn_utf8_decode(&s, cv->need) == TN_UTF8_INVALID) {
                return tn_mail_mime_put_cp(d, 0xfffd);
            }

            return tn_cpymem(d, cv->seq, cv->need);
        }

        /* cut short */
        cv->nseq = 0;
        d = tn_mail_mime_put_cp(d, 0xfffd);
    }

    if (c < 0x80) {
        *d++ = c;
        return d;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        cv->need = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        cv->need = 3;

    } else if (c >= 0xf0 && c <= 0xf4) {
        cv->need = 4;

    } else {
        return tn_mail_mime_put_cp(d, 0xfffd);
    }

    cv->seq[0] = c;
    cv->nseq = 1;

    return d;
}


static u_char *
tn_mail_mime_conv_flush(tn_mail_mime_conv_t *cv, u_char *d)
{
    if (cv->nseq) {
        cv->nseq = 0;
        d = tn_mail_mime_put_cp(d, 0xfffd);
    }

    return d;
}


/* RFC 2047 */

size_t
tn_mail_mime_decode_words(u_char *dst, u_char *src, size_t len)
{
    u_char               *d, *pos, *e, *blank;
    tn_int_t              cs;
    tn_uint_t             after_word;
    tn_mail_mime_conv_t   cv;
    tn_mail_mime_word_t   w;

    tn_memzero(&cv, sizeof(tn_mail_mime_conv_t));

    d = dst;
    e = src + len;
    blank = NULL;           /* blanks after a decoded word */
    after_word = 0;

    for (pos = src; pos < e; /* void */ ) {

        if (*pos == CR || *pos == LF) {
            pos++;
            continue;
        }

        if (*pos == ' ' || *pos == '\t') {
            if (!after_word) {
                *d++ = *pos;

            } else if (blank == NULL) {
                blank = pos;
            }

            pos++;
            continue;
        }

        if (*pos == '=' && e - pos > 1 && pos[1] == '?'
            && tn_mail_mime_word(pos, e, &w) == TN_OK)
        {
            cs = tn_mail_mime_charset(w.charset, w.charset_len);

            if (cs > 0) {
                /* the blanks between two encoded-words are dropped */

                if (!after_word || cs != cv.cs) {
                    d = tn_mail_mime_conv_flush(&cv, d);
                }

                cv.cs = cs;
                blank = NULL;

                d = tn_mail_mime_word_decode(&cv, d, &w);
                after_word = 1;
                pos = w.end;
                continue;
            }

            /* an unknown charset: the word as it is */

            if (after_word) {
                d = tn_mail_mime_conv_flush(&cv, d);
                d = tn_mail_mime_copy_blanks(d, blank, pos);
                blank = NULL;
                after_word = 0;
            }

            d = tn_cpymem(d, pos, w.end - pos);
            pos = w.end;
            continue;
        }

        if (after_word) {
            d = tn_mail_mime_conv_flush(&cv, d);
            d = tn_mail_mime_copy_blanks(d, blank, pos);
            blank = NULL;
            after_word = 0;
        }

        *d++ = *pos++;
    }

    d = tn_mail_mime_conv_flush(&cv, d);

    if (after_word) {
        d = tn_mail_mime_copy_blanks(d, blank, e);
    }

    return d - dst;
}


/*
 * "=?charset[*language]?B|Q?text?=" at pos.  The text may not hold
 * blanks, line ends or '?'; the charset is at most 64 bytes.
 */

static tn_int_t
tn_mail_mime_word(u_char *pos, u_char *end, tn_mail_mime_word_t *w)
{
    u_char  *p, *star;

    p = pos + 2;
    w->charset = p;

    while (p < end && *p != '?' && *p != ' ' && *p != '\t' && *p != CR
           && *p != LF)
    {
        p++;
    }

    if (p == end || *p != '?' || p == w->charset || p - w->charset > 64) {
        return TN_ERROR;
    }

    w->charset_len = p - w->charset;

    /* RFC 2231 5: "charset*language" */
    star = memchr(w->charset, '*', w->charset_len);
    if (star) {
        w->charset_len = star - w->charset;
    }

    p++;

    if (end - p < 2 || p[1] != '?') {
        return TN_ERROR;
    }

    w->enc = *p | 0x20;

    if (w->enc != 'b' && w->enc != 'q') {
        return TN_ERROR;
    }

    p += 2;
    w->text = p;

    while (p < end && *p != '?' && *p != ' ' && *p != '\t' && *p != CR
           && *p != LF)
    {
        p++;
    }

    if (end - p < 2 || p[0] != '?' || p[1] != '=') {
        return TN_ERROR;
    }

    w->text_len = p - w->text;
    w->end = p + 2;

    return TN_OK;
}


static u_char *
tn_mail_mime_word_decode(tn_mail_mime_conv_t *cv, u_char *d,
    tn_mail_mime_word_t *w)
{
    u_char    *p, *e;
    uint32_t   bits;
    tn_int_t   v, hi, lo;
    tn_uint_t  n;

    p = w->text;
    e = p + w->text_len;

    if (w->enc == 'b') {
        bits = 0;
        n = 0;

        for ( /* void */ ; p < e; p++) {
            v = tn_mail_mime_b64val(*p);

            if (v < 0) {
                /* padding and garbage */
                continue;
            }

            bits = (bits << 6) | (uint32_t) v;

            if (++n % 4 == 0) {
                d = tn_mail_mime_conv_byte(cv, d, (u_char) (bits >> 16));
                d = tn_mail_mime_conv_byte(cv, d, (u_char) (bits >> 8));
                d = tn_mail_mime_conv_byte(cv, d, (u_char) bits);
                bits = 0;
            }
        }

        /* a quantum without its padding */

        if (n % 4 == 2) {
            d = tn_mail_mime_conv_byte(cv, d, (u_char) (bits >> 4));

        } else if (n % 4 == 3) {
            d = tn_mail_mime_conv_byte(cv, d, (u_char) (bits >> 10));
            d = tn_mail_mime_conv_byte(cv, d, (u_char) (bits >> 2));
        }

        return d;
    }

    for ( /* void */ ; p < e; p++) {
        if (*p == '_') {
            d = tn_mail_mime_conv_byte(cv, d, ' ');
            continue;
        }

        if (*p == '=' && e - p >= 3) {
            hi = tn_mail_mime_hexdigit(p[1]);
            lo = tn_mail_mime_hexdigit(p[2]);

            if (hi >= 0 && lo >= 0) {
                d = tn_mail_mime_conv_byte(cv, d, (u_char) (hi << 4 | lo));
                p += 2;
                continue;
            }
        }

        d = tn_mail_mime_conv_byte(cv, d, *p);
    }

    return d;
}


/* the blanks of [s, e), without line ends; s may be NULL */

static u_char *
tn_mail_mime_copy_blanks(u_char *d, u_char *s, u_char *e)
{
    if (s == NULL) {
        return d;
    }

    for ( /* void */ ; s < e; s++) {
        if (*s == ' ' || *s == '\t') {
            *d++ = *s;
        }
    }

    return d;
}


/* address lists */

tn_int_t
tn_mail_mime_parse_addresses(tn_pool_t *pool, u_char *value, size_t len,
    tn_mail_mime_addr_t **addrs, tn_uint_t *naddrs)
{
    size_t                   i, seps;
    tn_mail_mime_addr_t     *a;
    tn_mail_mime_addr_ctx_t  ctx;

    *addrs = NULL;
    *naddrs = 0;

    /* every entry but a group's end follows a separator, or is first */

    seps = 0;

    for (i = 0; i < len; i++) {
        seps += (value[i] == ',' || value[i] == ';' || value[i] == ':');
    }

    tn_memzero(&ctx, sizeof(tn_mail_mime_addr_ctx_t));

    ctx.nalloc = (tn_uint_t) tn_min(seps + 2, TN_MAIL_MIME_MAX_ADDRS);

    /* and one for the end of a group cut short */
    ctx.addrs = tn_palloc(pool,
                          (ctx.nalloc + 1) * sizeof(tn_mail_mime_addr_t));

    /* the strings are pieces of the value, with a space for each gap */
    ctx.out = tn_pnalloc(pool, len + 1);

    if (ctx.addrs == NULL || ctx.out == NULL) {
        return TN_ERROR;
    }

    ctx.lex.pos = value;
    ctx.lex.end = value + len;

    tn_mail_mime_lex(&ctx.lex, &ctx.tok);

    while (ctx.tok.type != TN_MAIL_MIME_TOK_END && !ctx.full) {

        if (ctx.tok.type == ',') {
            tn_mail_mime_lex(&ctx.lex, &ctx.tok);
            continue;
        }

        if (ctx.tok.type == ';') {
            if (ctx.in_group) {
                ctx.in_group = 0;
                a = tn_mail_mime_addr_new(&ctx);
                if (a) {
                    a->group_end = 1;
                }
            }

            tn_mail_mime_lex(&ctx.lex, &ctx.tok);
            continue;
        }

        tn_mail_mime_addr_one(&ctx);
    }

    if (ctx.in_group) {
        ctx.nalloc++;
        a = tn_mail_mime_addr_new(&ctx);
        if (a) {
            a->group_end = 1;
        }
    }

    *addrs = ctx.addrs;
    *naddrs = ctx.naddrs;

    return TN_OK;
}


/*
 * One mailbox or a group's start, from the current token: words, then
 * '<' (name-addr), '@' (addr-spec), ':' (a group) or the end of the
 * address (a bare word: a local part without domain, or a name alone).
 */

static void
tn_mail_mime_addr_one(tn_mail_mime_addr_ctx_t *ctx)
{
    u_char               *start, *last;
    tn_mail_mime_addr_t  *a, tmp;

    tn_memzero(&tmp, sizeof(tn_mail_mime_addr_t));
    a = &tmp;

    start = NULL;
    last = NULL;
    ctx->lex.comment = NULL;

    for ( ;; ) {

        switch (ctx->tok.type) {

        case TN_MAIL_MIME_TOK_ATOM:
        case TN_MAIL_MIME_TOK_QUOTED:
        case TN_MAIL_MIME_TOK_LITERAL:
        case '.':
        case '>':
            if (start == NULL) {
                start = ctx->tok.raw;
            }

            last = ctx->tok.raw_end;
            tn_mail_mime_lex(&ctx->lex, &ctx->tok);
            continue;

        case '<':
            a = tn_mail_mime_addr_new(ctx);
            if (a == NULL) {
                return;
            }

            tn_mail_mime_render(ctx, &a->name, start, last, 1);
            tn_mail_mime_lex(&ctx->lex, &ctx->tok);
            tn_mail_mime_addr_angle(ctx, a);
            tn_mail_mime_addr_skip(ctx, a);
            return;

        case '@':
            a = tn_mail_mime_addr_new(ctx);
            if (a == NULL) {
                return;
            }

            tn_mail_mime_render(ctx, &a->mailbox, start, last, 0);
            tn_mail_mime_lex(&ctx->lex, &ctx->tok);
            tn_mail_mime_addr_domain(ctx, a);

            /* "user@host (Real Name)" */
            if (ctx->lex.comment) {
                tn_mail_mime_render_comment(ctx, &a->name, ctx->lex.comment,
                                            ctx->lex.comment_len);
            }

            tn_mail_mime_addr_skip(ctx, a);
            return;

        case ':':
            if (ctx->in_group) {
                /* groups do not nest: drop the ':' */
                tn_mail_mime_lex(&ctx->lex, &ctx->tok);
                continue;
            }

            a = tn_mail_mime_addr_new(ctx);
            if (a == NULL) {
                return;
            }

            a->group_start = 1;
            tn_mail_mime_render(ctx, &a->mailbox, start, last, 1);
            ctx->in_group = 1;
            tn_mail_mime_lex(&ctx->lex, &ctx->tok);
            return;

        default:
            /* ',' ';' or the end */

            if (start) {
                a = tn_mail_mime_addr_new(ctx);
                if (a == NULL) {
                    return;
                }

                a->invalid = 1;
                tn_mail_mime_render(ctx, &a->mailbox, start, last, 1);
            }

            return;
        }
    }
}


/* after '<': [route ':'] local-part '@' domain '>' */

static void
tn_mail_mime_addr_angle(tn_mail_mime_addr_ctx_t *ctx, tn_mail_mime_addr_t *a)
{
    u_char  *start, *last;

    if (ctx->tok.type == '@') {
        /* an obsolete route "@a,@b:" */
        start = ctx->tok.raw;
        last = ctx->tok.raw_end;

        while (ctx->tok.type != ':' && ctx->tok.type != '>'
               && ctx->tok.type != TN_MAIL_MIME_TOK_END)
        {
            last = ctx->tok.raw_end;
            tn_mail_mime_lex(&ctx->lex, &ctx->tok);
        }

        if (ctx->tok.type != ':') {
            a->invalid = 1;
            return;
        }

        tn_mail_mime_render(ctx, &a->adl, start, last, 0);
        tn_mail_mime_lex(&ctx->lex, &ctx->tok);
    }

    start = NULL;
    last = NULL;

    while (ctx->tok.type == TN_MAIL_MIME_TOK_ATOM
           || ctx->tok.type == TN_MAIL_MIME_TOK_QUOTED
           || ctx->tok.type == '.')
    {
        if (start == NULL) {
            start = ctx->tok.raw;
        }

        last = ctx->tok.raw_end;
        tn_mail_mime_lex(&ctx->lex, &ctx->tok);
    }

    tn_mail_mime_render(ctx, &a->mailbox, start, last, 0);

    if (ctx->tok.type == '@') {
        tn_mail_mime_lex(&ctx->lex, &ctx->tok);
        tn_mail_mime_addr_domain(ctx, a);

    } else if (start) {
        a->invalid = 1;
    }

    if (ctx->tok.type == '>') {
        tn_mail_mime_lex(&ctx->lex, &ctx->tok);

    } else {
        a->invalid = 1;
    }
}


/* the domain after '@': atoms, dots and literals */

static void
tn_mail_mime_addr_domain(tn_mail_mime_addr_ctx_t *ctx,
    tn_mail_mime_addr_t *a)
{
    u_char  *start, *last;

    start = NULL;
    last = NULL;

    while (ctx->tok.type == TN_MAIL_MIME_TOK_ATOM
           || ctx->tok.type == TN_MAIL_MIME_TOK_LITERAL
           || ctx->tok.type == '.')
    {
        if (start == NULL) {
            start = ctx->tok.raw;
        }

        last = ctx->tok.raw_end;
        tn_mail_mime_lex(&ctx->lex, &ctx->tok);
    }

    tn_mail_mime_render(ctx, &a->host, start, last, 0);

    if (start == NULL) {
        a->invalid = 1;
    }
}


/* whatever follows an address up to ',', ';' or the end is dropped */

static void
tn_mail_mime_addr_skip(tn_mail_mime_addr_ctx_t *ctx, tn_mail_mime_addr_t *a)
{
    while (ctx->tok.type != ',' && ctx->tok.type != ';'
           && ctx->tok.type != TN_MAIL_MIME_TOK_END)
    {
        a->invalid = 1;
        tn_mail_mime_lex(&ctx->lex, &ctx->tok);
    }
}


static tn_mail_mime_addr_t *
tn_mail_mime_addr_new(tn_mail_mime_addr_ctx_t *ctx)
{
    tn_mail_mime_addr_t  *a;

    if (ctx->naddrs == ctx->nalloc) {
        /* the rest of the list is dropped */
        ctx->full = 1;
        return NULL;
    }

    a = &ctx->addrs[ctx->naddrs++];
    tn_memzero(a, sizeof(tn_mail_mime_addr_t));

    a->name.data = tn_mail_mime_none;
    a->adl.data = tn_mail_mime_none;
    a->mailbox.data = tn_mail_mime_none;
    a->host.data = tn_mail_mime_none;

    return a;
}


/*
 * The tokens of [start, end) into ctx->out: quotes and comments taken
 * off, and with spaces, one space where blanks or comments separated two
 * tokens (a phrase), else joined (a local part, a domain).
 */

static void
tn_mail_mime_render(tn_mail_mime_addr_ctx_t *ctx, tn_str_t *s,
    u_char *start, u_char *end, tn_uint_t spaces)
{
    u_char              *d, *p;
    tn_mail_mime_lex_t   lx;
    tn_mail_mime_tok_t   t;

    if (start == NULL) {
        return;
    }

    d = ctx->out;

    tn_memzero(&lx, sizeof(tn_mail_mime_lex_t));
    lx.pos = start;
    lx.end = end;

    for ( ;; ) {
        tn_mail_mime_lex(&lx, &t);

        if (t.type == TN_MAIL_MIME_TOK_END) {
            break;
        }

        if (spaces && t.spaced && d > ctx->out) {
            *d++ = ' ';
        }

        if (t.type != TN_MAIL_MIME_TOK_QUOTED) {
            d = tn_cpymem(d, t.start, t.end - t.start);
            continue;
        }

        for (p = t.start; p < t.end; p++) {
            if (*p == '\\' && p + 1 < t.end) {
                p++;

            } else if (*p == CR || *p == LF) {
                continue;
            }

            *d++ = *p;
        }
    }

    s->data = ctx->out;
    s->len = d - ctx->out;
    ctx->out = d;
}


static void
tn_mail_mime_render_comment(tn_mail_mime_addr_ctx_t *ctx, tn_str_t *s,
    u_char *start, size_t len)
{
    u_char  *d, *e;

    d = ctx->out;
    e = start + len;

    while (start < e && (*start == ' ' || *start == '\t')) {
        start++;
    }

    for ( /* void */ ; start < e; start++) {
        if (*start == '\\' && start + 1 < e) {
            start++;

        } else if (*start == CR || *start == LF) {
            continue;
        }

        *d++ = *start;
    }

    while (d > ctx->out && (d[-1] == ' ' || d[-1] == '\t')) {
        d--;
    }

    s->data = ctx->out;
    s->len = d - ctx->out;
    ctx->out = d;
}


/*
 * The next token of an address list.  Blanks, line ends and comments
 * are skipped (the last comment's text is kept); an atom is any run of
 * bytes but blanks, controls and the specials, 8-bit bytes included
 * (RFC 6532).  A byte parser, kept in one piece like the others.
 */

static void
tn_mail_mime_lex(tn_mail_mime_lex_t *lx, tn_mail_mime_tok_t *t)
{
    u_char    *p, *e, *c;
    size_t     depth;
    tn_uint_t  spaced;

    p = lx->pos;
    e = lx->end;
    spaced = 0;

    for ( ;; ) {
        while (p < e && (*p == ' ' || *p == '\t' || *p == CR || *p == LF)) {
            p++;
            spaced = 1;
        }

        if (p == e || *p != '(') {
            break;
        }

        spaced = 1;
        depth = 0;
        c = p + 1;

        while (p < e) {
            if (*p == '\\' && p + 1 < e) {
                p += 2;
                continue;
            }

            if (*p == '(') {
                depth++;

            } else if (*p == ')' && --depth == 0) {
                break;
            }

            p++;
        }

        lx->comment = c;
        lx->comment_len = p - c;

        if (p < e) {
            p++;
        }
    }

    t->spaced = spaced;
    t->start = p;
    t->raw = p;

    if (p == e) {
        t->type = TN_MAIL_MIME_TOK_END;
        t->end = p;
        t->raw_end = p;
        lx->pos = p;
        return;
    }

    switch (*p) {

    case '"':
        t->type = TN_MAIL_MIME_TOK_QUOTED;
        t->start = ++p;

        while (p < e && *p != '"') {
            p += (*p == '\\' && p + 1 < e) ? 2 : 1;
        }

        t->end = p;
        lx->pos = (p < e) ? p + 1 : p;
        t->raw_end = lx->pos;
        return;

    case '[':
        t->type = TN_MAIL_MIME_TOK_LITERAL;

        while (p < e && *p != ']') {
            p += (*p == '\\' && p + 1 < e) ? 2 : 1;
        }

        if (p < e) {
            p++;
        }

        t->end = p;
        t->raw_end = p;
        lx->pos = p;
        return;

    case '<': case '>': case '@': case ',': case ';': case ':': case '.':
        t->type = *p;
        t->end = p + 1;
        t->raw_end = p + 1;
        lx->pos = p + 1;
        return;
    }

    t->type = TN_MAIL_MIME_TOK_ATOM;

    while (p < e && *p > ' ' && *p != 0x7f) {
        switch (*p) {
        case '"': case '(': case '[': case '<': case '>': case '@':
        case ',': case ';': case ':': case '.':
            goto done;
        }

        p++;
    }

    if (p == t->start) {
        /* a control byte: a token of its own */
        p++;
    }

done:

    t->end = p;
    t->raw_end = p;
    lx->pos = p;
}


static tn_int_t
tn_mail_mime_hexdigit(u_char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }

    ch |= 0x20;

    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }

    return -1;
}


static tn_int_t
tn_mail_mime_b64val(u_char ch)
{
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }

    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }

    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }

    if (ch == '+') {
        return 62;
    }

    return (ch == '/') ? 63 : -1;
}


/* dates */

/*
 * Tokens in any order, as broken mailers write them: numbers (the first
 * of 1-2 digits is the day, then the year; 3-4 digits is the year),
 * "hh:mm[:ss]" the time, "+hhmm"/"-hhmm" after the time the zone, words
 * for the month, weekday, AM/PM and zone names; "yyyy-mm-dd" as ISO 8601.
 * A numeric zone wins over a name.  One long function: every token
 * reads and sets the same handful of fields.
 */

tn_int_t
tn_mail_mime_parse_date(u_char *value, size_t len, time_t *t, tn_int_t *tz)
{
    u_char    *p, *e, *w;
    size_t     depth, nd;
    tn_int_t   day, mon, year, hour, min, sec, zone, nzone, ampm, sign, n;

    p = value;
    e = value + len;

    day = -1;
    mon = -1;
    year = -1;
    hour = -1;
    min = 0;
    sec = 0;
    zone = 0;
    nzone = 0;
    ampm = 0;

    while (p < e) {

        if (*p == '(') {
            depth = 0;

            while (p < e) {
                if (*p == '(') {
                    depth++;

                } else if (*p == ')' && --depth == 0) {
                    break;
                }

                p++;
            }

            if (p < e) {
                p++;
            }

            continue;
        }

        if ((*p == '+' || *p == '-') && hour >= 0 && !nzone
            && e - p >= 3 && p[1] >= '0' && p[1] <= '9')
        {
            sign = (*p == '-') ? -1 : 1;

            for (p++, n = 0, nd = 0;
                 p < e && ((*p >= '0' && *p <= '9') || *p == ':') && nd < 5;
                 p++)
            {
                if (*p != ':') {
                    n = n * 10 + (*p - '0');
                    nd++;
                }
            }

            if (nd == 2) {
                n *= 100;

            } else if (nd != 4) {
                return TN_ERROR;
            }

            if (n % 100 > 59) {
                return TN_ERROR;
            }

            zone = sign * (n / 100 * 60 + n % 100);
            nzone = 1;
            continue;
        }

        if (*p >= '0' && *p <= '9') {
            for (n = 0, nd = 0; p < e && *p >= '0' && *p <= '9'; p++, nd++) {
                if (nd < 9) {
                    n = n * 10 + (*p - '0');
                }
            }

            if (p < e && *p == ':') {
                /* the time */
                if (hour >= 0 || nd > 2) {
                    return TN_ERROR;
                }

                hour = n;

                if (e - p < 3 || p[1] < '0' || p[1] > '9'
                    || p[2] < '0' || p[2] > '9')
                {
                    return TN_ERROR;
                }

                min = (p[1] - '0') * 10 + (p[2] - '0');
                p += 3;

                if (e - p >= 3 && *p == ':' && p[1] >= '0' && p[1] <= '9'
                    && p[2] >= '0' && p[2] <= '9')
                {
                    sec = (p[1] - '0') * 10 + (p[2] - '0');
                    p += 3;
                }

                continue;
            }

            if (nd == 4 && year < 0 && day < 0 && e - p >= 6 && *p == '-'
                && p[1] >= '0' && p[1] <= '9')
            {
                /* ISO 8601 "yyyy-mm-dd" */
                year = n;
                p++;

                for (mon = 0; p < e && *p >= '0' && *p <= '9'; p++) {
                    mon = mon * 10 + (*p - '0');

                    if (mon > 12) {
                        return TN_ERROR;
                    }
                }

                mon--;

                if (p == e || *p != '-') {
                    return TN_ERROR;
                }

                for (p++, day = 0; p < e && *p >= '0' && *p <= '9'; p++) {
                    day = day * 10 + (*p - '0');

                    if (day > 31) {
                        return TN_ERROR;
                    }
                }

                if (p < e && (*p == 'T' || *p == 't')) {
                    p++;
                }

                continue;
            }

            if (nd > 4) {
                return TN_ERROR;
            }

            if (nd <= 2 && day < 0) {
                day = n;

            } else if (year < 0) {
                year = (nd == 2) ? ((n < 50) ? 2000 + n : 1900 + n)
                       : (nd == 3) ? 1900 + n : n;

            } else {
                return TN_ERROR;
            }

            continue;
        }

        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            w = p;

            while (p < e && ((*p >= 'a' && *p <= 'z')
                             || (*p >= 'A' && *p <= 'Z')))
            {
                p++;
            }

            n = 0;

            if (tn_mail_mime_date_word(w, p - w, &mon, &n, &ampm) == TN_OK
                && !nzone && n != 0)
            {
                zone = n;
            }

            continue;
        }

        /* blanks, commas, dashes, dots, slashes and the like */
        p++;
    }

    if (day < 1 || day > 31 || mon < 0 || year < 1900 || year > 9999) {
        return TN_ERROR;
    }

    if (hour < 0) {
        hour = 0;
    }

    if (ampm) {
        if (hour < 1 || hour > 12) {
            return TN_ERROR;
        }

        hour = hour % 12 + ((ampm == 2) ? 12 : 0);
    }

    if (hour > 23 || min > 59 || sec > 60) {
        return TN_ERROR;
    }

    *t = tn_mail_mime_days(year, mon + 1, day) * 86400
         + hour * 3600 + min * 60 + sec - (time_t) zone * 60;

    if (tz) {
        *tz = zone;
    }

    return TN_OK;
}


/*
 * A word of a date: a month sets *mon, a zone name sets *zone (in
 * minutes; names of +0000 leave it 0), AM/PM set *ampm to 1/2; weekdays
 * and unknown words are ignored.  The month and weekday by their first
 * three letters.
 */

static tn_int_t
tn_mail_mime_date_word(u_char *w, size_t len, tn_int_t *mon, tn_int_t *zone,
    tn_int_t *ampm)
{
    u_char     lw[4];
    size_t     i;
    tn_int_t   m;

    static const char  *months = "janfebmaraprmayjunjulaugsepoctnovdec";

    static const struct {
        const char  *name;
        tn_int_t     minutes;
    } zones[] = {
        { "est", -300 }, { "edt", -240 }, { "cst", -360 }, { "cdt", -300 },
        { "mst", -420 }, { "mdt", -360 }, { "pst", -480 }, { "pdt", -420 },
        { NULL, 0 }
    };

    if (len == 2 && (w[1] | 0x20) == 'm') {
        if ((w[0] | 0x20) == 'a') {
            *ampm = 1;
            return TN_OK;
        }

        if ((w[0] | 0x20) == 'p') {
            *ampm = 2;
            return TN_OK;
        }
    }

    if (len < 3) {
        /* UT, military zones: +0000 (RFC 5322 4.3) */
        return TN_OK;
    }

    for (i = 0; i < 3; i++) {
        lw[i] = w[i] | 0x20;
    }

    lw[3] = '\0';

    if (len == 3) {
        for (i = 0; zones[i].name; i++) {
            if (tn_memcmp(lw, zones[i].name, 3) == 0) {
                *zone = zones[i].minutes;
                return TN_OK;
            }
        }
    }

    for (m = 0; m < 12; m++) {
        if (tn_memcmp(lw, months + m * 3, 3) == 0) {
            *mon = m;
            return TN_OK;
        }
    }

    return TN_OK;
}


/* days from 1970-01-01 to y-m-d (proleptic Gregorian, y >= 0) */

static time_t
tn_mail_mime_days(tn_int_t y, tn_int_t m, tn_int_t d)
{
    tn_int_t  era, yoe, doy, doe;

    y -= (m <= 2);
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return (time_t) era * 146097 + doe - 719468;
}
