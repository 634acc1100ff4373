
/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for the SEARCH and SORT key parser
 * (src/mail/tn_mail_imap_search_key.c) over the argument trees that the
 * command parser (tn_mail_imap_parse.c) makes of what a client sends,
 * and for the compact number sets of COPYUID, ESEARCH and VANISHED
 * (tn_mail_imap_numset()).
 *
 * Input: byte 0 holds flags: TN_FUZZ_SORT parses every command's
 * arguments as those of SORT (criteria, charset, keys) instead of
 * SEARCH ([RETURN (..)] [CHARSET x] keys); TN_FUZZ_PREFIX puts "a SEARCH "
 * (or "a SORT ") before the rest, so that the input is the arguments
 * alone; TN_FUZZ_UTF8 lets the command parser take UTF-8 in quoted
 * strings; TN_FUZZ_SMALL sets small parser limits (depth 8, 64
 * arguments).  Byte 1 is not used (0 in the seed files, so that git and
 * auto/check-style take them for binary: they hold CRLFs).  The rest is
 * what a client sends: every command the
 * command parser reads whole gets its arguments parsed as search keys
 * (any command: "a NOOP ALL" too), literals are accepted.
 *
 * Checks, for each command:
 *   - the result is TN_OK or TN_ERROR with sr->err set (TN_DECLINED is
 *     out of memory, which a pool of this size never is);
 *   - TN_OK: the tree is well formed: the root is an AND with keys, an
 *     AND has at least one key and holds them cheapest first, an OR has
 *     two, a NOT one, the other keys none; every type is known, flags
 *     are TN_STORE_F_* bits, a set passes tn_mail_imap_seqset_check(),
 *     a cost is at least its children's; the nesting is bounded by
 *     TN_MAIL_IMAP_SEARCH_MAX_DEPTH; sr->saved says whether a set holds
 *     "$", sr->modseq whether there is a MODSEQ key; SORT has 1 to
 *     TN_MAIL_IMAP_SORT_MAX known criteria; RETURN options are known;
 *   - the same arguments parsed again give the same tree (a hash);
 *   - the numbers of the input (4 bytes each) written as a number set
 *     fit in tn_mail_imap_numset_len(), pass tn_mail_imap_seqset_check()
 *     and read back with tn_mail_imap_seqset_next() as the same numbers
 *     in the same order.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_imap.h>
#include <tn_mail_imap_parse.h>
#include <tn_mail_imap_search_key.h>


#define TN_FUZZ_MAX      (64 * 1024)

#define TN_FUZZ_SORT     0x01
#define TN_FUZZ_PREFIX   0x02
#define TN_FUZZ_UTF8     0x04
#define TN_FUZZ_SMALL    0x08

/* numbers written as a set, at most */
#define TN_FUZZ_NUMS     1024

#define TN_FUZZ_FLAGS                                                        \
    (TN_STORE_F_SEEN|TN_STORE_F_ANSWERED|TN_STORE_F_FLAGGED                  \
     |TN_STORE_F_DELETED|TN_STORE_F_DRAFT|TN_STORE_F_RECENT)


typedef struct {
    uint64_t     hash;
    tn_uint_t    saved;     /* a set holds "$" */
    tn_uint_t    modseq;    /* a MODSEQ key */
    tn_uint_t    keys;
} tn_fuzz_walk_t;


static tn_log_t  *tn_fuzz_log;


static void
tn_fuzz_fail(const char *what, tn_mail_imap_parse_t *p)
{
    fprintf(stderr, "\nfuzz_imap_search: %s", what);

    if (p) {
        fprintf(stderr, " (command \"%.*s\" tag \"%.*s\")",
                (int) p->name.len, p->name.data,
                (int) tn_min(p->tag.len, (size_t) 40), p->tag.data);
    }

    fprintf(stderr, "\n");

    abort();
}


static void
tn_fuzz_mix(uint64_t *h, uint64_t v)
{
    *h ^= v + 0x9e3779b97f4a7c15ULL + (*h << 6) + (*h >> 2);
}


static void
tn_fuzz_mix_str(uint64_t *h, tn_str_t *s)
{
    size_t  i;

    tn_fuzz_mix(h, s->len);

    for (i = 0; i < s->len; i++) {
        tn_fuzz_mix(h, s->data[i]);
    }
}


/* one key and what is under it; depth counts NOT, OR and lists */

static void
tn_fuzz_walk(tn_fuzz_walk_t *w, tn_mail_imap_skey_t *key, tn_uint_t depth,
    tn_mail_imap_parse_t *p)
{
    tn_uint_t             n, cost;
    tn_mail_imap_skey_t  *k;

    if (depth > 2 * (TN_MAIL_IMAP_SEARCH_MAX_DEPTH + 1)) {
        tn_fuzz_fail("search keys nested deeper than the limit", p);
    }

    w->keys++;

    tn_fuzz_mix(&w->hash, key->type);
    tn_fuzz_mix(&w->hash, key->neg);
    tn_fuzz_mix(&w->hash, key->num);
    tn_fuzz_mix(&w->hash, key->cost);
    tn_fuzz_mix_str(&w->hash, &key->str);
    tn_fuzz_mix_str(&w->hash, &key->field);

    if (key->uids != NULL || key->nuids != 0 || key->day != 0) {
        tn_fuzz_fail("the parser filled what search.c fills", p);
    }

    if ((key->str.len && key->str.data == NULL)
        || (key->field.len && key->field.data == NULL))
    {
        tn_fuzz_fail("a string without data", p);
    }

    n = 0;
    cost = 0;

    for (k = key->child; k; k = k->next) {
        if (k->cost < cost && key->type == TN_MAIL_IMAP_SKEY_AND) {
            tn_fuzz_fail("the keys of an AND are not cheapest first", p);
        }

        cost = k->cost;

        if (k->cost > key->cost) {
            tn_fuzz_fail("a key costs less than one under it", p);
        }

        tn_fuzz_walk(w, k, depth + 1, p);

        if (++n > TN_MAIL_IMAP_MAX_ARGS + 1) {
            tn_fuzz_fail("more keys than arguments", p);
        }
    }

    switch (key->type) {

    case TN_MAIL_IMAP_SKEY_AND:
        if (n == 0) {
            tn_fuzz_fail("an AND without keys", p);
        }
        return;

    case TN_MAIL_IMAP_SKEY_OR:
        if (n != 2) {
            tn_fuzz_fail("an OR without two keys", p);
        }
        return;

    case TN_MAIL_IMAP_SKEY_NOT:
        if (n != 1) {
            tn_fuzz_fail("a NOT without one key", p);
        }
        return;
    }

    if (n != 0) {
        tn_fuzz_fail("a key that is not AND, OR or NOT has keys under it",
                     p);
    }

    switch (key->type) {

    case TN_MAIL_IMAP_SKEY_SEQSET:
    case TN_MAIL_IMAP_SKEY_UID:
        if (tn_mail_imap_seqset_check(&key->str) != TN_OK) {
            tn_fuzz_fail("a set that is not a sequence set", p);
        }

        if (tn_strlchr(key->str.data, key->str.data + key->str.len, '$')) {
            w->saved = 1;
        }

        break;

    case TN_MAIL_IMAP_SKEY_FLAG:
        if (key->num == 0 || (key->num & ~(uint64_t) TN_FUZZ_FLAGS)) {
            tn_fuzz_fail("a flag key without a known flag", p);
        }
        break;

    case TN_MAIL_IMAP_SKEY_MODSEQ:
        w->modseq = 1;
        break;

    case TN_MAIL_IMAP_SKEY_ALL:
    case TN_MAIL_IMAP_SKEY_NEW:
    case TN_MAIL_IMAP_SKEY_LARGER:
    case TN_MAIL_IMAP_SKEY_SMALLER:
    case TN_MAIL_IMAP_SKEY_FROM:
    case TN_MAIL_IMAP_SKEY_TO:
    case TN_MAIL_IMAP_SKEY_CC:
    case TN_MAIL_IMAP_SKEY_BCC:
    case TN_MAIL_IMAP_SKEY_SUBJECT:
    case TN_MAIL_IMAP_SKEY_BODY:
    case TN_MAIL_IMAP_SKEY_TEXT:
    case TN_MAIL_IMAP_SKEY_KEYWORD:
    case TN_MAIL_IMAP_SKEY_BEFORE:
    case TN_MAIL_IMAP_SKEY_ON:
    case TN_MAIL_IMAP_SKEY_SINCE:
    case TN_MAIL_IMAP_SKEY_SENTBEFORE:
    case TN_MAIL_IMAP_SKEY_SENTON:
    case TN_MAIL_IMAP_SKEY_SENTSINCE:
    case TN_MAIL_IMAP_SKEY_HEADER:
        /* strings, dates, keywords: search.c judges them */
        break;

    default:
        tn_fuzz_fail("a key of an unknown type", p);
    }
}


/* the arguments of one command as search keys: the hash of the result */

static uint64_t
tn_fuzz_search(tn_pool_t *pool, tn_mail_imap_parse_t *p, tn_uint_t sort)
{
    tn_int_t               rc;
    tn_uint_t              i;
    tn_fuzz_walk_t         w;
    tn_mail_imap_search_t  sr;

    rc = tn_mail_imap_search_parse(pool, p->args, sort, &sr);

    tn_memzero(&w, sizeof(tn_fuzz_walk_t));

    if (rc == TN_ERROR) {
        if (sr.err == NULL || sr.err[0] == '\0') {
            tn_fuzz_fail("an error without its text", p);
        }

        tn_fuzz_mix(&w.hash, 1);
        tn_fuzz_mix(&w.hash, strlen(sr.err));

        return w.hash;
    }

    if (rc != TN_OK) {
        tn_fuzz_fail("neither TN_OK nor TN_ERROR", p);
    }

    if (sr.root == NULL || sr.root->type != TN_MAIL_IMAP_SKEY_AND
        || sr.root->next != NULL)
    {
        tn_fuzz_fail("the root is not one AND", p);
    }

    tn_fuzz_walk(&w, sr.root, 0, p);

    if (w.saved != sr.saved) {
        tn_fuzz_fail("sr->saved differs from the sets", p);
    }

    if (w.modseq != sr.modseq) {
        tn_fuzz_fail("sr->modseq differs from the keys", p);
    }

    if (sr.ret & ~(tn_uint_t) (TN_MAIL_IMAP_SRET_MIN|TN_MAIL_IMAP_SRET_MAX
                              |TN_MAIL_IMAP_SRET_COUNT|TN_MAIL_IMAP_SRET_ALL
                              |TN_MAIL_IMAP_SRET_SAVE))
    {
        tn_fuzz_fail("an unknown RETURN option", p);
    }

    if (!sr.esearch && sr.ret) {
        tn_fuzz_fail("RETURN options without RETURN", p);
    }

    if (sort) {
        if (sr.nsort == 0 || sr.nsort > TN_MAIL_IMAP_SORT_MAX) {
            tn_fuzz_fail("SORT without criteria, or too many", p);
        }

        for (i = 0; i < sr.nsort; i++) {
            if (sr.sort[i].key < TN_MAIL_IMAP_SORT_ARRIVAL
                || sr.sort[i].key > TN_MAIL_IMAP_SORT_TO
                || sr.sort[i].reverse > 1)
            {
                tn_fuzz_fail("an unknown SORT criterion", p);
            }

            tn_fuzz_mix(&w.hash, sr.sort[i].key * 2 + sr.sort[i].reverse);
        }

    } else if (sr.nsort) {
        tn_fuzz_fail("SEARCH with SORT criteria", p);
    }

    if (sr.charset.len && sr.charset.data == NULL) {
        tn_fuzz_fail("a charset without data", p);
    }

    tn_fuzz_mix(&w.hash, sr.ret);
    tn_fuzz_mix(&w.hash, sr.esearch);
    tn_fuzz_mix_str(&w.hash, &sr.charset);

    return w.hash;
}


/* the input's numbers as a set, and back */

static void
tn_fuzz_numset(const uint8_t *data, size_t size)
{
    u_char              *buf, *last;
    size_t               off, len;
    uint32_t             nums[TN_FUZZ_NUMS], star;
    tn_int_t             rc;
    tn_str_t             set;
    tn_uint_t            i, n, k;
    tn_mail_imap_seq_t   r;
    uint64_t             v;

    n = tn_min(size / 4, (size_t) TN_FUZZ_NUMS);

    if (n == 0) {
        return;
    }

    star = 0;

    for (i = 0; i < n; i++) {
        /* small steps, so that runs are made: byte 0 picks the kind */
        nums[i] = (uint32_t) data[4 * i + 1] << 16
                  | (uint32_t) data[4 * i + 2] << 8 | data[4 * i + 3];

        switch (data[4 * i] & 3) {
        case 0:
            nums[i] = (i ? nums[i - 1] : 0) + 1;
            break;
        case 1:
            nums[i] = (i ? nums[i - 1] : 0) + (data[4 * i + 3] & 7);
            break;
        case 2:
            nums[i] = TN_MAIL_IMAP_SEQ_MAX - (data[4 * i + 3] & 3);
            break;
        }

        if (nums[i] == 0) {
            nums[i] = 1;
        }

        star = tn_max(star, nums[i]);
    }

    len = tn_mail_imap_numset_len(n);

    /* exactly that much: ASan sees a byte more */
    buf = malloc(len);
    if (buf == NULL) {
        return;
    }

    last = tn_mail_imap_numset(buf, nums, n);

    if (last < buf || (size_t) (last - buf) > len) {
        tn_fuzz_fail("a number set longer than tn_mail_imap_numset_len()",
                     NULL);
    }

    set.data = buf;
    set.len = last - buf;

    if (tn_mail_imap_seqset_check(&set) != TN_OK) {
        tn_fuzz_fail("a number set that is not a sequence set", NULL);
    }

    off = 0;
    k = 0;

    for ( ;; ) {
        rc = tn_mail_imap_seqset_next(&set, &off, star, &r);

        if (rc == TN_DONE) {
            break;
        }

        if (rc != TN_OK || r.saved) {
            tn_fuzz_fail("a number set does not read back", NULL);
        }

        for (v = r.first; v <= r.last; v++) {
            if (k == n || nums[k] != v) {
                tn_fuzz_fail("a number set reads back other numbers",
                             NULL);
            }

            k++;
        }
    }

    if (k != n) {
        tn_fuzz_fail("a number set lost numbers", NULL);
    }

    free(buf);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tn_time_init();

    tn_fuzz_log = tn_log_init(NULL, NULL);
    if (tn_fuzz_log == NULL) {
        tn_fuzz_fail("no log", NULL);
    }

    tn_fuzz_log->log_level = TN_LOG_ALERT;

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                *in;
    size_t                 len;
    uint64_t               h1, h2;
    tn_buf_t               b;
    tn_int_t               rc;
    tn_uint_t              flags, sort, calls;
    tn_pool_t             *pool, *pool2;
    const char            *prefix;
    tn_mail_imap_parse_t   p;

    if (size < 2 || size > TN_FUZZ_MAX) {
        return 0;
    }

    flags = data[0];
    data += 2;
    size -= 2;

    tn_fuzz_numset(data, size);

    sort = (flags & TN_FUZZ_SORT) ? 1 : 0;
    prefix = (flags & TN_FUZZ_PREFIX) ? (sort ? "a SORT " : "a SEARCH ")
                                      : "";

    /* the input, after the prefix, ends with a CRLF */

    len = strlen(prefix) + size + 2;

    in = malloc(len);
    if (in == NULL) {
        return 0;
    }

    tn_memcpy(in, prefix, strlen(prefix));
    tn_memcpy(in + strlen(prefix), data, size);
    in[len - 2] = CR;
    in[len - 1] = LF;

    pool = tn_create_pool(4096, tn_fuzz_log);
    pool2 = tn_create_pool(4096, tn_fuzz_log);

    if (pool == NULL || pool2 == NULL) {
        tn_fuzz_fail("no memory", NULL);
    }

    tn_mail_imap_parse_init(&p, pool);

    p.utf8 = (flags & TN_FUZZ_UTF8) ? 1 : 0;

    if (flags & TN_FUZZ_SMALL) {
        p.max_depth = 8;
        p.max_args = 64;
        p.max_literal = 256;
    }

    tn_memzero(&b, sizeof(tn_buf_t));
    b.start = in;
    b.pos = in;
    b.last = in + len;
    b.end = in + len;

    for (calls = 0; /* void */ ; calls++) {

        if (calls > 4 * len + 16) {
            tn_fuzz_fail("the command parser makes no progress", NULL);
        }

        rc = tn_mail_imap_parse_command(&p, &b);

        if (rc == TN_AGAIN) {
            break;
        }

        if (rc == TN_ERROR) {
            tn_fuzz_fail("the command parser is out of memory", NULL);
        }

        if (rc == TN_MAIL_IMAP_LITERAL || rc == TN_MAIL_IMAP_LITERAL_DATA
            || rc == TN_MAIL_IMAP_LITERAL_END)
        {
            /* accepted; a streamed one (APPEND) is not kept */
            continue;
        }

        if (rc == TN_OK) {
            h1 = tn_fuzz_search(pool, &p,
                                sort || p.command == TN_MAIL_IMAP_SORT);

            h2 = tn_fuzz_search(pool2, &p,
                                sort || p.command == TN_MAIL_IMAP_SORT);

            if (h1 != h2) {
                tn_fuzz_fail("the same arguments give another result", &p);
            }

            tn_reset_pool(pool2);
        }

        /* after TN_OK or an error: the next command */

        tn_reset_pool(pool);
    }

    tn_destroy_pool(pool);
    tn_destroy_pool(pool2);
    free(in);

    return 0;
}
