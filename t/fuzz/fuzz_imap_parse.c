/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for the IMAP command parser
 * (src/mail/tn_mail_imap_parse.c), its sequence sets and FETCH sections.
 *
 * Input: byte 0 selects the limits (max_line, max_literal, max_depth and
 * max_args), UTF-8 and LITERAL-; byte 1 the literal decisions (accept,
 * refuse, give up in the middle of a streamed one), max_append and the
 * random splits (0 in the seed files, so that git and auto/check-style
 * take them for binary: they hold CRLFs); the rest is what a client
 * sends.
 *
 * Checks:
 *   - no crash, and every call makes progress (a bounded number of calls);
 *   - the whole input, a byte-by-byte feed through a 4-byte buffer with
 *     the unread data moved after every call, and random splits through
 *     a 16-byte buffer give the same results (a hash of every result,
 *     tree and streamed octet);
 *   - after TN_AGAIN nothing is left in the buffer; every tree is well
 *     formed (parents, counts, depth, argument limit, NUL-terminated
 *     values holding only what their type allows);
 *   - bounded memory: the pool never holds more than the documented
 *     bound for one command, and it is reset after every command;
 *   - resynchronisation: once the last command is finished (a CRLF, the
 *     literal octets the parser still waits for, a CRLF...), "z NOOP\r\n"
 *     is parsed as NOOP.
 */


#include "../../src/mail/tn_mail_imap_parse.c"


#define TN_FUZZ_MAX      (64 * 1024)
#define TN_FUZZ_FEED     (1024 * 1024)    /* literal octets fed at most */


void
tn_explicit_memzero(void *buf, size_t n)
{
    explicit_bzero(buf, n);
}


/* the pool: malloc() blocks in a list, with the bytes in use counted */

typedef struct tn_fuzz_block_s  tn_fuzz_block_t;

struct tn_fuzz_block_s {
    tn_fuzz_block_t  *next;
    tn_fuzz_block_t  *prev;
    size_t            size;
    size_t            pad;
};


static tn_fuzz_block_t  tn_fuzz_blocks = { &tn_fuzz_blocks, &tn_fuzz_blocks,
                                           0, 0 };
static size_t           tn_fuzz_live;
static size_t           tn_fuzz_peak;
static tn_pool_t        tn_fuzz_pool;


void *
tn_palloc(tn_pool_t *pool, size_t size)
{
    tn_fuzz_block_t  *bl;

    bl = malloc(sizeof(tn_fuzz_block_t) + size);
    if (bl == NULL) {
        return NULL;
    }

    bl->size = size;
    bl->next = tn_fuzz_blocks.next;
    bl->prev = &tn_fuzz_blocks;
    bl->next->prev = bl;
    tn_fuzz_blocks.next = bl;

    tn_fuzz_live += size;
    tn_fuzz_peak = tn_max(tn_fuzz_peak, tn_fuzz_live);

    tn_memset(bl + 1, 0xa5, size);

    return bl + 1;
}


void *
tn_pnalloc(tn_pool_t *pool, size_t size)
{
    return tn_palloc(pool, size);
}


void *
tn_pcalloc(tn_pool_t *pool, size_t size)
{
    void  *p;

    p = tn_palloc(pool, size);
    if (p) {
        tn_memzero(p, size);
    }

    return p;
}


tn_int_t
tn_pfree(tn_pool_t *pool, void *p)
{
    tn_fuzz_block_t  *bl;

    bl = (tn_fuzz_block_t *) p - 1;

    bl->prev->next = bl->next;
    bl->next->prev = bl->prev;
    tn_fuzz_live -= bl->size;

    free(bl);

    return TN_OK;
}


static void
tn_fuzz_pool_reset(void)
{
    while (tn_fuzz_blocks.next != &tn_fuzz_blocks) {
        (void) tn_pfree(&tn_fuzz_pool, tn_fuzz_blocks.next + 1);
    }

    tn_fuzz_peak = 0;
}


static uint64_t  tn_fuzz_seed;


static size_t
tn_fuzz_rand(size_t n)
{
    tn_fuzz_seed ^= tn_fuzz_seed << 13;
    tn_fuzz_seed ^= tn_fuzz_seed >> 7;
    tn_fuzz_seed ^= tn_fuzz_seed << 17;

    return (size_t) (tn_fuzz_seed % n);
}


/* FNV-1a over every result */

static void
tn_fuzz_hash(uint64_t *h, const void *data, size_t len)
{
    size_t         i;
    const u_char  *d;

    d = data;

    for (i = 0; i < len; i++) {
        *h ^= d[i];
        *h *= 0x100000001b3ULL;
    }
}


static void
tn_fuzz_hash_int(uint64_t *h, uint64_t v)
{
    tn_fuzz_hash(h, &v, sizeof(v));
}


typedef struct {
    size_t      max_line;
    size_t      max_literal;
    uint64_t    max_append;
    tn_uint_t   max_depth;
    tn_uint_t   max_args;
    unsigned    utf8:1;
    unsigned    minus:1;
    unsigned    decisions;     /* bits: refuse literal i % 7 */
} tn_fuzz_conf_t;


typedef struct {
    uint64_t    hash;
    size_t      results;
    size_t      literals;      /* LITERAL results so far */
    tn_uint_t   command;       /* of the last TN_OK */
    u_char      tag[2];        /* its tag if 1 byte long, else "" */
    unsigned    give_up:1;     /* refuse at the first LITERAL_DATA */
} tn_fuzz_run_t;


/* the helpers on an atom: no crash, and consistent answers */

static void
tn_fuzz_check_atom(tn_mail_imap_arg_t *a)
{
    size_t                  off, n;
    tn_int_t                rc;
    tn_str_t                name;
    tn_mail_imap_seq_t      r;
    tn_mail_imap_section_t  s;

    rc = tn_mail_imap_seqset_check(&a->value);
    off = 0;
    n = 0;

    while (tn_mail_imap_seqset_next(&a->value, &off, 7, &r) == TN_OK) {
        if (!r.saved && (r.first > r.last || r.last == 0)) {
            abort();
        }

        if (off > a->value.len || ++n > a->value.len) {
            abort();
        }
    }

    if (rc == TN_OK && off != a->value.len) {
        abort();
    }

    rc = tn_mail_imap_parse_section(&a->value, &s);

    if (rc == TN_OK) {
        if (!a->section || s.nparts > TN_MAIL_IMAP_SECTION_MAX_PARTS) {
            abort();
        }

        off = 0;
        n = 0;

        while (tn_mail_imap_section_field(&s.fields, &off, &name) == TN_OK) {
            if (name.len == 0 || tn_strlchr(name.data, name.data + name.len,
                                            ':'))
            {
                abort();
            }
            n++;
        }

        if (n != s.nfields) {
            abort();
        }
    }
}


/* a finished command's tree: well formed, hashed */

static void
tn_fuzz_check_tree(tn_mail_imap_parse_t *p, tn_mail_imap_arg_t *list,
    tn_mail_imap_arg_t *first, tn_uint_t depth, size_t *nodes, uint64_t *h)
{
    size_t               i, n;
    u_char               ch;
    tn_mail_imap_arg_t  *a;

    if (depth > p->max_depth) {
        abort();
    }

    n = 0;

    for (a = first; a; a = a->next) {
        n++;

        if (++*nodes > p->max_args || a->parent != list) {
            abort();
        }

        tn_fuzz_hash_int(h, a->type);
        tn_fuzz_hash_int(h, a->value.len);
        tn_fuzz_hash(h, a->value.data, a->value.len);

        if (a->type != TN_MAIL_IMAP_ARG_LIST && !a->stream
            && a->value.data[a->value.len] != '\0')
        {
            abort();
        }

        switch (a->type) {

        case TN_MAIL_IMAP_ARG_ATOM:
        case TN_MAIL_IMAP_ARG_NUMBER:
        case TN_MAIL_IMAP_ARG_NIL:
            if (a->value.len == 0) {
                abort();
            }

            for (i = 0; i < a->value.len; i++) {
                ch = a->value.data[i];

                /* a section may hold SP, lists and quoted strings */

                if (a->section ? (ch < 0x20 || ch >= 0x7f)
                               : !(tn_mail_imap_is_arg_char(ch)
                                   || (ch == '\\' && i == 0)))
                {
                    abort();
                }

                if (a->type == TN_MAIL_IMAP_ARG_NUMBER
                    && !tn_mail_imap_is_digit(ch))
                {
                    abort();
                }
            }

            tn_fuzz_check_atom(a);
            break;

        case TN_MAIL_IMAP_ARG_QUOTED:
            for (i = 0; i < a->value.len; i++) {
                ch = a->value.data[i];

                if (ch == '\0' || ch == CR || ch == LF
                    || (ch >= 0x80 && !p->utf8))
                {
                    abort();
                }
            }
            break;

        case TN_MAIL_IMAP_ARG_LITERAL:
            tn_fuzz_hash_int(h, a->number);
            tn_fuzz_hash_int(h, a->sync | a->binary << 1 | a->stream << 2);

            if (!a->stream
                && (a->value.len != a->number
                    || (!a->binary
                        && tn_strlchr(a->value.data,
                                      a->value.data + a->value.len, '\0'))))
            {
                abort();
            }
            break;

        case TN_MAIL_IMAP_ARG_LIST:
            tn_fuzz_check_tree(p, a, a->list, depth + 1, nodes, h);
            break;

        default:
            abort();
        }
    }

    if (list ? n != list->nelts : n != p->nargs) {
        abort();
    }

    tn_fuzz_hash_int(h, n);
}


/* one result: checks and hashing; a literal decision may be taken */

static void
tn_fuzz_result(tn_mail_imap_parse_t *p, tn_int_t rc, tn_fuzz_conf_t *cf,
    tn_fuzz_run_t *r)
{
    size_t    nodes, bound;
    uint64_t  limit;

    if (rc == TN_MAIL_IMAP_LITERAL_DATA) {
        if (p->data.len == 0) {
            abort();
        }

        if (r->give_up) {
            r->give_up = 0;
            r->results++;
            tn_fuzz_hash_int(&r->hash, (uint64_t) rc);
            tn_mail_imap_parse_refuse(p);
            return;
        }

        /* the splits differ: hash the octets, not the chunks */
        tn_fuzz_hash(&r->hash, p->data.data, p->data.len);
        return;
    }

    r->results++;
    tn_fuzz_hash_int(&r->hash, (uint64_t) rc);

    switch (rc) {

    case TN_OK:
        if (p->tag.len == 0 || p->command == 0
            || p->command >= TN_MAIL_IMAP_NCOMMANDS
            || p->tag.data[p->tag.len] != '\0')
        {
            abort();
        }

        tn_fuzz_hash(&r->hash, p->tag.data, p->tag.len);
        tn_fuzz_hash_int(&r->hash, p->command | p->uid << 8);

        nodes = 0;
        tn_fuzz_check_tree(p, NULL, p->args, 0, &nodes, &r->hash);

        r->command = p->command;
        r->tag[0] = (p->tag.len == 1) ? p->tag.data[0] : '\0';
        break;

    case TN_MAIL_IMAP_LITERAL:
        limit = p->literal_stream ? p->max_append : p->max_literal;

        if (p->literal_size > limit || p->literal == NULL
            || (p->literal_minus && !p->literal_sync
                && p->literal_size > TN_MAIL_IMAP_LITERAL_MINUS_MAX))
        {
            abort();
        }

        tn_fuzz_hash_int(&r->hash, p->literal_size);
        tn_fuzz_hash_int(&r->hash, p->literal_sync | p->literal_stream << 1);

        r->give_up = 0;

        if ((cf->decisions >> (r->literals % 7)) & 1) {
            tn_fuzz_hash_int(&r->hash, 1);
            tn_mail_imap_parse_refuse(p);

        } else if (p->literal_stream
                   && ((cf->decisions >> ((r->literals + 3) % 7)) & 1))
        {
            r->give_up = 1;
        }

        r->literals++;
        return;

    case TN_MAIL_IMAP_LITERAL_END:
        tn_fuzz_hash_int(&r->hash, p->literal_nul);
        return;

    default:
        if (!tn_mail_imap_parse_error(rc) || p->err == NULL) {
            abort();
        }

        tn_fuzz_hash_int(&r->hash, p->tag.len);
        tn_fuzz_hash(&r->hash, p->tag.data, p->tag.len);

        if (rc == TN_MAIL_IMAP_LITERAL_TOO_LARGE) {
            tn_fuzz_hash_int(&r->hash, p->literal_size);
        }
        break;
    }

    /* a command is over: its memory is bounded, then the pool reset */

    bound = 4 * p->max_line + p->max_literal
            + p->max_args * (sizeof(tn_mail_imap_arg_t) + 1) + 1024;

    if (tn_fuzz_peak > bound) {
        abort();
    }

    tn_fuzz_pool_reset();
}


/*
 * Feeds data[0, len) in the given mode and calls the parser until it
 * wants more; b and the buffers persist across feeds of one run.
 */

typedef struct {
    tn_mail_imap_parse_t  p;
    tn_buf_t              b;
    u_char               *bufs[2];
    size_t                bufsize;
    tn_uint_t             cur;
    int                   mode;
} tn_fuzz_state_t;


static void
tn_fuzz_move(tn_fuzz_state_t *st)
{
    size_t  rest;

    rest = st->b.last - st->b.pos;
    tn_memmove(st->bufs[st->cur ^ 1], st->b.pos, rest);
    tn_memset(st->bufs[st->cur], 0xee, st->bufsize);
    st->cur ^= 1;
    st->b.start = st->b.pos = st->bufs[st->cur];
    st->b.last = st->b.pos + rest;
    st->b.end = st->b.start + st->bufsize;
}


static void
tn_fuzz_feed(tn_fuzz_state_t *st, const u_char *data, size_t len,
    tn_fuzz_conf_t *cf, tn_fuzz_run_t *r)
{
    size_t    given, n, calls;
    tn_int_t  rc;

    given = 0;

    for (calls = 0; /* void */ ; calls++) {

        if (calls > 8 * len + 64) {
            abort();
        }

        rc = tn_mail_imap_parse_command(&st->p, &st->b);

        if (st->b.pos < st->b.start || st->b.pos > st->b.last) {
            abort();
        }

        if (rc == TN_AGAIN) {
            if (st->b.pos != st->b.last) {
                abort();
            }

            if (st->mode == 1) {
                tn_memset(st->bufs[st->cur], 0xee, st->bufsize);
                st->cur ^= 1;
            }

            st->b.start = st->b.pos = st->b.last = st->bufs[st->cur];
            st->b.end = st->b.start + st->bufsize;

            if (given == len) {
                return;
            }

            n = (st->mode == 0) ? len : (st->mode == 1) ? 1
                                      : 1 + tn_fuzz_rand(16);
            n = tn_min(n, len - given);
            n = tn_min(n, st->bufsize);

            tn_memcpy(st->b.last, data + given, n);
            st->b.last += n;
            given += n;
            continue;
        }

        if (rc == TN_ERROR) {
            abort();
        }

        tn_fuzz_result(&st->p, rc, cf, r);

        if (st->mode == 1 && rc != TN_MAIL_IMAP_LITERAL_DATA) {
            tn_fuzz_move(st);
        }
    }
}


static void
tn_fuzz_init(tn_fuzz_state_t *st, tn_fuzz_conf_t *cf, int mode, size_t len)
{
    tn_mail_imap_parse_init(&st->p, &tn_fuzz_pool);

    st->p.max_line = cf->max_line;
    st->p.max_literal = cf->max_literal;
    st->p.max_append = cf->max_append;
    st->p.max_depth = cf->max_depth;
    st->p.max_args = cf->max_args;
    st->p.utf8 = cf->utf8;
    st->p.literal_minus = cf->minus;

    st->mode = mode;
    st->bufsize = (mode == 0) ? tn_max(len, (size_t) 64)
                              : (mode == 1) ? 4 : 16;
    st->bufs[0] = malloc(st->bufsize);
    st->bufs[1] = malloc(st->bufsize);
    st->cur = 0;
    st->b.start = st->b.pos = st->b.last = st->bufs[0];
    st->b.end = st->b.start + st->bufsize;
}


/*
 * Ends the command the input left unfinished, then "z NOOP\r\n" must be
 * one NOOP.  Returns 0 when that cannot be done in reasonable time (a
 * literal of gigabytes still to come).
 */

static int
tn_fuzz_resync(tn_fuzz_state_t *st, tn_fuzz_conf_t *cf, tn_fuzz_run_t *r)
{
    u_char    *fill;
    size_t     i, results;
    uint64_t   octets;

    for (i = 0; i < 8 && !tn_mail_imap_parse_idle(&st->p); i++) {
        octets = tn_mail_imap_parse_octets(&st->p);

        if (octets > TN_FUZZ_FEED) {
            return 0;
        }

        if (octets) {
            fill = malloc((size_t) octets);
            tn_memset(fill, 'x', (size_t) octets);
            tn_fuzz_feed(st, fill, (size_t) octets, cf, r);
            free(fill);
            continue;
        }

        tn_fuzz_feed(st, (u_char *) "\r\n", 2, cf, r);
    }

    if (!tn_mail_imap_parse_idle(&st->p)) {
        abort();
    }

    results = r->results;

    tn_fuzz_feed(st, (u_char *) "z NOOP\r\n", 8, cf, r);

    if (r->results != results + 1 || r->command != TN_MAIL_IMAP_NOOP
        || r->tag[0] != 'z' || !tn_mail_imap_parse_idle(&st->p))
    {
        abort();
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static size_t     max_lines[] = { 16, 64, 300, 65536 };
    static size_t     max_literals[] = { 1, 8, 64, 65536 };
    static tn_uint_t  depths[] = { 3, 100, 2, 10 };
    static tn_uint_t  args[] = { 8, 4096, 3, 64 };
    u_char            ctl, dec;
    size_t            len;
    int               mode, resynced[3];
    uint64_t          hashes[3];
    tn_fuzz_conf_t    cf;
    tn_fuzz_run_t     r;
    tn_fuzz_state_t   st;

    if (size < 2 || size > TN_FUZZ_MAX) {
        return 0;
    }

    ctl = data[0];
    dec = data[1];
    data += 2;
    len = size - 2;

    cf.max_line = max_lines[ctl & 3];
    cf.max_literal = max_literals[(ctl >> 2) & 3];
    cf.utf8 = (ctl >> 4) & 1;
    cf.minus = (ctl >> 5) & 1;
    cf.max_depth = depths[(ctl >> 6) & 3];
    cf.max_args = args[(ctl >> 6) & 3];
    cf.max_append = (dec & 0x80) ? 32 : 1000;
    cf.decisions = dec & 0x7f;

    for (mode = 0; mode < 3; mode++) {
        tn_fuzz_seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t) dec << 32 ^ size;

        tn_memzero(&r, sizeof(tn_fuzz_run_t));
        r.hash = 0xcbf29ce484222325ULL;

        tn_fuzz_init(&st, &cf, mode, len);
        tn_fuzz_feed(&st, data, len, &cf, &r);

        tn_fuzz_hash_int(&r.hash, r.results);
        tn_fuzz_hash_int(&r.hash, tn_mail_imap_parse_idle(&st.p));
        tn_fuzz_hash_int(&r.hash, tn_mail_imap_parse_octets(&st.p));
        hashes[mode] = r.hash;

        resynced[mode] = tn_fuzz_resync(&st, &cf, &r);

        free(st.bufs[0]);
        free(st.bufs[1]);
        tn_fuzz_pool_reset();
    }

    if (hashes[1] != hashes[0] || hashes[2] != hashes[0]
        || resynced[1] != resynced[0] || resynced[2] != resynced[0])
    {
        abort();
    }

    return 0;
}
