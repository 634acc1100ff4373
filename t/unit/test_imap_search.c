/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * The pure parts of IMAP SEARCH and SORT (src/mail/
 * tn_mail_imap_search_key.c): search keys into a tree (every RFC 3501
 * key, NOT, OR, parentheses, sequence sets, "$", CHARSET, the ESEARCH
 * RETURN options, MODSEQ), the SORT criteria, the errors and the
 * nesting limit, and the compact number sets of COPYUID, ESEARCH ALL,
 * MODIFIED and VANISHED.
 *
 * The arguments come from the real command parser: each case is a whole
 * command line, parsed, then its arguments given to
 * tn_mail_imap_search_parse(); the tree is printed as an s-expression
 * (the children of AND in evaluation order: cheapest first) and
 * compared.
 */


#include "../../src/core/tn_string.c"
#include "../../src/mail/tn_mail_imap_parse.c"
#include "../../src/mail/tn_mail_imap_search_key.c"


static tn_uint_t  tn_test_n;
static tn_uint_t  tn_test_failed;


static void
tn_test_ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
        printf("not ");
    }

    printf("ok %u - ", (unsigned) tn_test_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


/* the pool: malloc() blocks in a list, all freed between cases */

typedef struct tn_test_block_s  tn_test_block_t;

struct tn_test_block_s {
    tn_test_block_t  *next;
    size_t            pad;
};


static tn_test_block_t  *tn_test_blocks;
static tn_pool_t         tn_test_pool;


void *
tn_palloc(tn_pool_t *pool, size_t size)
{
    tn_test_block_t  *bl;

    bl = malloc(sizeof(tn_test_block_t) + size);
    if (bl == NULL) {
        return NULL;
    }

    bl->next = tn_test_blocks;
    tn_test_blocks = bl;

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
    return TN_DECLINED;
}


static void
tn_test_pool_reset(void)
{
    tn_test_block_t  *bl;

    while (tn_test_blocks) {
        bl = tn_test_blocks;
        tn_test_blocks = bl->next;
        free(bl);
    }
}


/* the tree as text */

static char *
tn_test_dump(char *p, tn_mail_imap_skey_t *key)
{
    const char           *name;
    tn_mail_imap_skey_t  *k;

    static const char  *names[] = {
        "", "and", "or", "not", "all", "set", "uid", "flag", "new",
        "keyword", "before", "on", "since", "sentbefore", "senton",
        "sentsince", "larger", "smaller", "from", "to", "cc", "bcc",
        "subject", "header", "body", "text", "modseq"
    };

    name = names[key->type];

    if (key->type == TN_MAIL_IMAP_SKEY_AND) {
        p += sprintf(p, "(");

        for (k = key->child; k; k = k->next) {
            p = tn_test_dump(p, k);

            if (k->next) {
                p += sprintf(p, " ");
            }
        }

        return p + sprintf(p, ")");
    }

    if (key->type == TN_MAIL_IMAP_SKEY_OR
        || key->type == TN_MAIL_IMAP_SKEY_NOT)
    {
        p += sprintf(p, "(%s", name);

        for (k = key->child; k; k = k->next) {
            p += sprintf(p, " ");
            p = tn_test_dump(p, k);
        }

        return p + sprintf(p, ")");
    }

    p += sprintf(p, "%s%s", key->neg ? "un" : "", name);

    switch (key->type) {

    case TN_MAIL_IMAP_SKEY_FLAG:
        p += sprintf(p, ":%u", (unsigned) key->num);
        break;

    case TN_MAIL_IMAP_SKEY_LARGER:
    case TN_MAIL_IMAP_SKEY_SMALLER:
    case TN_MAIL_IMAP_SKEY_MODSEQ:
        p += sprintf(p, ":%llu", (unsigned long long) key->num);
        break;

    case TN_MAIL_IMAP_SKEY_HEADER:
        p += sprintf(p, ":%.*s", (int) key->field.len, key->field.data);
        /* fall through */

    default:
        if (key->str.len) {
            p += sprintf(p, ":%.*s", (int) key->str.len, key->str.data);
        }

        break;
    }

    return p;
}


/*
 * Parses the command line, then its arguments as search keys: the
 * result code, and in out the tree (or the error text), the charset,
 * the return options and the flags.
 */

static tn_int_t
tn_test_search(const char *line, tn_uint_t sort, char *out)
{
    char                   *p;
    tn_buf_t                b;
    tn_int_t                rc;
    tn_uint_t               i;
    tn_mail_imap_parse_t    ps;
    tn_mail_imap_search_t   sr;

    tn_mail_imap_parse_init(&ps, &tn_test_pool);

    b.start = (u_char *) line;
    b.pos = b.start;
    b.last = b.start + strlen(line);
    b.end = b.last;

    do {
        /* a literal is accepted: its octets follow in the buffer */
        rc = tn_mail_imap_parse_command(&ps, &b);
    } while (rc == TN_MAIL_IMAP_LITERAL);

    if (rc != TN_OK) {
        sprintf(out, "parse error %d", (int) rc);
        return TN_ABORT;
    }

    rc = tn_mail_imap_search_parse(&tn_test_pool, ps.args, sort, &sr);

    if (rc != TN_OK) {
        sprintf(out, "%s", sr.err ? sr.err : "?");
        return rc;
    }

    p = tn_test_dump(out, sr.root);

    if (sr.charset.len) {
        p += sprintf(p, " charset=%.*s", (int) sr.charset.len,
                     sr.charset.data);
    }

    if (sr.esearch) {
        p += sprintf(p, " ret=%u", (unsigned) sr.ret);
    }

    if (sr.modseq) {
        p += sprintf(p, " +modseq");
    }

    if (sr.saved) {
        p += sprintf(p, " +saved");
    }

    p += sprintf(p, " cost=%u", (unsigned) sr.root->cost);

    for (i = 0; i < sr.nsort; i++) {
        p += sprintf(p, " %s%u", sr.sort[i].reverse ? "-" : "",
                     (unsigned) sr.sort[i].key);
    }

    return TN_OK;
}


typedef struct {
    const char  *line;
    tn_int_t     rc;
    const char  *expect;
} tn_test_case_t;


static tn_test_case_t  tn_test_cases[] = {

    /* every key of RFC 3501 6.4.4 */
    { "a SEARCH ALL\r\n", TN_OK, "(all) cost=0" },
    { "a SEARCH ANSWERED DELETED DRAFT FLAGGED SEEN RECENT\r\n", TN_OK,
      "(flag:2 flag:8 flag:16 flag:4 flag:1 flag:32) cost=0" },
    { "a SEARCH unanswered UNDELETED UnDraft UNFLAGGED UNSEEN OLD NEW\r\n",
      TN_OK,
      "(unflag:2 unflag:8 unflag:16 unflag:4 unflag:1 unflag:32 new)"
      " cost=0" },
    { "a SEARCH BCC x CC y FROM z TO w SUBJECT \"a b\"\r\n", TN_OK,
      "(bcc:x cc:y from:z to:w subject:a b) cost=1" },
    { "a SEARCH BEFORE 1-Feb-1994 ON \"2-Feb-1994\" SINCE 3-feb-1994\r\n",
      TN_OK, "(before:1-Feb-1994 on:2-Feb-1994 since:3-feb-1994) cost=0" },
    { "a SEARCH SENTBEFORE 1-Feb-1994 SENTON 1-Feb-1994 "
      "SENTSINCE 1-Feb-1994\r\n", TN_OK,
      "(sentbefore:1-Feb-1994 senton:1-Feb-1994 sentsince:1-Feb-1994)"
      " cost=1" },
    { "a SEARCH BODY foo TEXT {3}\r\nbar\r\n", TN_OK,
      "(body:foo text:bar) cost=2" },
    { "a SEARCH HEADER Message-ID \"<x@y>\" HEADER List-Id \"\"\r\n", TN_OK,
      "(header:Message-ID:<x@y> header:List-Id) cost=1" },
    { "a SEARCH KEYWORD $Junk UNKEYWORD $Forwarded\r\n", TN_OK,
      "(keyword:$Junk unkeyword:$Forwarded) cost=0" },
    { "a SEARCH LARGER 100 SMALLER 4294967296\r\n", TN_OK,
      "(larger:100 smaller:4294967296) cost=0" },
    { "a SEARCH UID 1:5,7 1:*\r\n", TN_OK, "(uid:1:5,7 set:1:*) cost=0" },
    { "a SEARCH 4294967295\r\n", TN_OK, "(set:4294967295) cost=0" },

    /* order: view keys before cache keys before file keys */
    { "a SEARCH BODY x FROM y SEEN\r\n", TN_OK,
      "(flag:1 from:y body:x) cost=2" },

    /* NOT, OR, parentheses */
    { "a SEARCH NOT SEEN\r\n", TN_OK, "((not flag:1)) cost=0" },
    { "a SEARCH OR FROM a SEEN\r\n", TN_OK,
      "((or flag:1 from:a)) cost=1" },
    { "a SEARCH OR (FROM a TO b) NOT OR 1 2\r\n", TN_OK,
      "((or (not (or set:1 set:2)) (from:a to:b))) cost=1" },
    { "a SEARCH (((SEEN)))\r\n", TN_OK, "((((flag:1)))) cost=0" },
    { "a SEARCH NOT NOT NOT DELETED\r\n", TN_OK,
      "((not (not (not flag:8)))) cost=0" },

    /* CHARSET, RETURN, SEARCHRES, MODSEQ */
    { "a SEARCH CHARSET UTF-8 SUBJECT \"x\"\r\n", TN_OK,
      "(subject:x) charset=UTF-8 cost=1" },
    { "a SEARCH CHARSET ISO-8859-1 ALL\r\n", TN_OK,
      "(all) charset=ISO-8859-1 cost=0" },
    { "a SEARCH RETURN () ALL\r\n", TN_OK, "(all) ret=8 cost=0" },
    { "a SEARCH RETURN (MIN MAX COUNT) ALL\r\n", TN_OK,
      "(all) ret=7 cost=0" },
    { "a SEARCH RETURN (SAVE) CHARSET US-ASCII UNSEEN\r\n", TN_OK,
      "(unflag:1) charset=US-ASCII ret=16 cost=0" },
    { "a UID SEARCH UID $ SEEN\r\n", TN_OK,
      "(uid:$ flag:1) +saved cost=0" },
    { "a SEARCH $\r\n", TN_OK, "(set:$) +saved cost=0" },
    { "a SEARCH MODSEQ 620162338\r\n", TN_OK,
      "(modseq:620162338) +modseq cost=0" },
    { "a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n", TN_OK,
      "(modseq:620162338) +modseq cost=0" },

    /* errors */
    { "a SEARCH\r\n", TN_ERROR, "search key expected" },
    { "a SEARCH FOO\r\n", TN_ERROR, "unknown search key" },
    { "a SEARCH FROM\r\n", TN_ERROR, "search key argument expected" },
    { "a SEARCH LARGER x\r\n", TN_ERROR, "number expected" },
    { "a SEARCH NOT\r\n", TN_ERROR, "search key expected" },
    { "a SEARCH OR SEEN\r\n", TN_ERROR, "search key expected" },
    { "a SEARCH ()\r\n", TN_ERROR, "empty search key list" },
    { "a SEARCH 1:2:3\r\n", TN_ERROR, "invalid sequence set" },
    { "a SEARCH 0\r\n", TN_ERROR, "invalid sequence set" },
    { "a SEARCH 4294967296\r\n", TN_ERROR, "invalid sequence set" },
    { "a SEARCH 1,\r\n", TN_ERROR, "invalid sequence set" },
    { "a SEARCH UID x\r\n", TN_ERROR, "invalid uid set" },
    { "a SEARCH KEYWORD \\Seen\r\n", TN_ERROR, "keyword expected" },
    { "a SEARCH HEADER \"\" x\r\n", TN_ERROR, "header field name expected" },
    { "a SEARCH HEADER Subject\r\n", TN_ERROR, "search string expected" },
    { "a SEARCH CHARSET\r\n", TN_ERROR, "charset expected" },
    { "a SEARCH RETURN ALL\r\n", TN_ERROR, "return options expected" },
    { "a SEARCH RETURN (PARTIAL 1:5) ALL\r\n", TN_ERROR,
      "unknown search return option" },
    { "a SEARCH MODSEQ x\r\n", TN_ERROR, "modseq expected" },
    { "a SEARCH MODSEQ \"/flags/x\" bad 5\r\n", TN_ERROR,
      "invalid MODSEQ entry type" },
    { "a SEARCH SEEN (FROM x) RETURN (ALL)\r\n", TN_ERROR,
      "unknown search key" },

    { NULL, 0, NULL }
};


static tn_test_case_t  tn_test_sort_cases[] = {
    { "a SORT (DATE) UTF-8 ALL\r\n", TN_OK,
      "(all) charset=UTF-8 cost=0 3" },
    { "a UID SORT (REVERSE ARRIVAL cc From SIZE REVERSE SUBJECT TO) "
      "US-ASCII SEEN\r\n", TN_OK,
      "(flag:1) charset=US-ASCII cost=0 -1 2 4 5 -6 7" },
    { "a SORT (DATE) UTF-8\r\n", TN_ERROR, "search key expected" },
    { "a SORT DATE UTF-8 ALL\r\n", TN_ERROR, "sort criteria expected" },
    { "a SORT () UTF-8 ALL\r\n", TN_ERROR, "sort criterion expected" },
    { "a SORT (REVERSE) UTF-8 ALL\r\n", TN_ERROR,
      "sort criterion expected" },
    { "a SORT (THREAD) UTF-8 ALL\r\n", TN_ERROR, "unknown sort criterion" },
    { "a SORT (DATE)\r\n", TN_ERROR, "charset expected" },
    { NULL, 0, NULL }
};


static void
tn_test_run(tn_test_case_t *cases, tn_uint_t sort)
{
    char            *p;
    tn_int_t         rc;
    tn_test_case_t  *tc;
    static char      out[65536], name[1024];

    for (tc = cases; tc->line; tc++) {
        out[0] = '\0';

        rc = tn_test_search(tc->line, sort, out);

        /* the name on one line */

        snprintf(name, sizeof(name), "%.*s", (int) strlen(tc->line) - 2,
                 tc->line);

        for (p = name; *p; p++) {
            if (*p == '\r' || *p == '\n') {
                *p = ' ';
            }
        }

        tn_test_ok(rc == tc->rc && strcmp(out, tc->expect) == 0,
                   "%s: %s -> %s", sort ? "sort" : "search", name, out);

        tn_test_pool_reset();
    }
}


/* nesting: NOT x 64 is allowed, 65 is not; so are parentheses */

static void
tn_test_nesting(void)
{
    char         *line, *p;
    tn_int_t      rc;
    tn_uint_t     i, n;
    static char   out[65536];

    line = malloc(1024 * 1024);

    for (n = 64; n <= 65; n++) {
        p = line + sprintf(line, "a SEARCH ");

        for (i = 0; i < n; i++) {
            p += sprintf(p, "NOT ");
        }

        sprintf(p, "SEEN\r\n");

        rc = tn_test_search(line, 0, out);
        tn_test_ok(n == 64 ? rc == TN_OK
                           : rc == TN_ERROR
                             && strcmp(out, "search keys nested too deeply")
                                == 0,
                   "NOT x %u", (unsigned) n);
        tn_test_pool_reset();

        p = line + sprintf(line, "a SEARCH ");

        for (i = 0; i < n; i++) {
            p += sprintf(p, "(");
        }

        p += sprintf(p, "SEEN");

        for (i = 0; i < n; i++) {
            p += sprintf(p, ")");
        }

        sprintf(p, "\r\n");

        rc = tn_test_search(line, 0, out);
        tn_test_ok(n == 64 ? rc == TN_OK : rc == TN_ERROR,
                   "parentheses x %u", (unsigned) n);
        tn_test_pool_reset();
    }

    /* 2000 ORs in a row: each nests in the one before */

    p = line + sprintf(line, "a SEARCH ");

    for (i = 0; i < 2000; i++) {
        p += sprintf(p, "OR %u ", (unsigned) i + 1);
    }

    sprintf(p, "SEEN\r\n");

    rc = tn_test_search(line, 0, out);
    tn_test_ok(rc == TN_ERROR, "OR x 2000 refused");
    tn_test_pool_reset();

    /* a long flat list is fine */

    p = line + sprintf(line, "a SEARCH ");

    for (i = 0; i < 4000; i++) {
        p += sprintf(p, "SEEN ");
    }

    sprintf(p, "ALL\r\n");

    rc = tn_test_search(line, 0, out);
    tn_test_ok(rc == TN_OK, "4001 keys");
    tn_test_pool_reset();

    free(line);
}


typedef struct {
    uint32_t     nums[16];
    tn_uint_t    n;
    const char  *expect;
} tn_test_set_t;


static tn_test_set_t  tn_test_sets[] = {
    { { 0 }, 0, "" },
    { { 1 }, 1, "1" },
    { { 1, 2 }, 2, "1:2" },
    { { 1, 2, 3, 5 }, 4, "1:3,5" },
    { { 1, 3, 5 }, 3, "1,3,5" },
    { { 7, 8, 9, 10, 20, 21, 30 }, 7, "7:10,20:21,30" },
    { { 5, 4, 3 }, 3, "5,4,3" },
    { { 4294967294U, 4294967295U }, 2, "4294967294:4294967295" },
    { { 4294967295U, 1 }, 2, "4294967295,1" },
    { { 2, 2 }, 2, "2,2" },
};


static void
tn_test_numsets(void)
{
    u_char         *p;
    tn_uint_t       i;
    tn_test_set_t  *ts;
    u_char          buf[512];

    for (i = 0; i < sizeof(tn_test_sets) / sizeof(tn_test_sets[0]); i++) {
        ts = &tn_test_sets[i];

        tn_memset(buf, 'x', sizeof(buf));
        p = tn_mail_imap_numset(buf, ts->nums, ts->n);

        tn_test_ok((size_t) (p - buf) == strlen(ts->expect)
                   && (size_t) (p - buf) < tn_mail_imap_numset_len(ts->n)
                   && tn_memcmp(buf, ts->expect, p - buf) == 0,
                   "numset \"%s\" -> \"%.*s\"", ts->expect,
                   (int) (p - buf), buf);
    }
}


int
main(void)
{
    tn_test_run(tn_test_cases, 0);
    tn_test_run(tn_test_sort_cases, 1);
    tn_test_nesting();
    tn_test_numsets();

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
