
/*
 * Copyright (C) The Tern developers
 */


/*
 * IMAP SEARCH evaluation (src/mail/tn_mail_imap_search_eval.c): every
 * key of RFC 3501 6.4.4, MODSEQ, sequence and UID sets, nested AND, OR
 * and NOT, against a hand-made mailbox of five messages.
 *
 * Each case is a real SEARCH command line: parsed by the command parser
 * and tn_mail_imap_search_parse(), then compiled here the way
 * tn_mail_imap_search.c does it (sets to uids, dates to days, keywords
 * to bits, strings folded), then evaluated against every message with
 * fake loaders that hand out the message's header cache (made by
 * tn_mail_imap_msg_cache() from the message text, so RFC 2047 decoded
 * and folded as in the server) and its CRLF text, and record which
 * messages they were asked for.  A case gives the uids that match, the
 * uids whose cache was loaded, and those whose file was read: header
 * keys must never read a file, cheap keys must keep the loaders away
 * from the messages they rule out.  Every case runs twice: with the
 * cache loaded lazily, and with the cache given up front (the result and
 * the files read must be the same, and no cache is loaded).
 *
 * Then loaders that report "expunged" (the message matches nothing,
 * under NOT and OR too), loaders that fail, a tree evaluated without
 * loaders, and the day arithmetic.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_imap_parse.h>
#include <tn_mail_imap_msg.h>
#include <tn_mail_imap_search_key.h>
#include <tn_mail_imap_search_eval.h>


#define TN_TEST_NMSGS  5


static tn_uint_t   tn_test_n;
static tn_uint_t   tn_test_failed;
static tn_log_t    tn_test_log;
static tn_pool_t  *tn_test_pool;     /* messages and caches */


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


static void
tn_test_bail(const char *what)
{
    printf("Bail out! %s\n", what);
    exit(1);
}


/*
 * The mailbox.  Sequence numbers 1..5 are uids 10 11 12 20 21, so that
 * a sequence set and a UID set name different messages.
 *
 * Internal dates (UTC) sit at day boundaries; Date: fields are in zones
 * that put the written day and the UTC day apart:
 *   10  int 2-Feb-2026 23:59:59   Date: 2 Feb 23:30 -0800 (UTC 3 Feb)
 *   11  int 3-Feb-2026 00:00:00   Date: 3 Feb 00:10 +0100 (UTC 2 Feb)
 *   12  int 1-Feb-2026 12:00:00   no Date:
 *   20  int 1-Feb-2026 00:00:00   Date: 1 Feb 00:00 +0000, header > 64k
 *   21  int 4-Feb-2026 00:00:00   Date: 4 Feb 01:00 +1400 (UTC 3 Feb)
 */

typedef struct {
    uint32_t           uid;
    uint32_t           flags;
    uint64_t           keywords;
    uint64_t           modseq;
    uint64_t           vsize;
    time_t             idate;        /* seconds after 1-Feb-2026 00:00 */
    const char        *text;         /* LF line ends; NULL: built */
} tn_test_spec_t;


static tn_test_spec_t  tn_test_specs[TN_TEST_NMSGS] = {

    { 10, TN_STORE_F_SEEN|TN_STORE_F_ANSWERED, 0x1, 5, 1000,
      86400 + 86399,
      "From: Alice Example <alice@example.org>\n"
      "To: Bob <bob@example.net>\n"
      "Cc: carol@example.com\n"
      "Bcc: dave@example.com\n"
      "Subject: Quarterly report\n"
      "Date: Mon, 02 Feb 2026 23:30:00 -0800\n"
      "Message-ID: <m1@example.org>\n"
      "X-Priority: 1\n"
      "\n"
      "Please find the numbers attached.  Budget is fine.\n" },

    { 11, TN_STORE_F_RECENT, 0x2, 7, 2000,
      2 * 86400,
      "From: =?UTF-8?Q?Ren=C3=A9e_M=C3=BCller?= <renee@example.de>\n"
      "To: alice@example.org\n"
      "Subject: =?UTF-8?B?w4RyZ2VyIMO8YmVy?=\n"
      " =?ISO-8859-1?Q?_Gr=FC=DFe?=\n"
      "Date: Tue, 03 Feb 2026 00:10:00 +0100\n"
      "MIME-Version: 1.0\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "Content-Transfer-Encoding: quoted-printable\n"
      "\n"
      "Gr=C3=BC=C3=9Fe aus M=C3=BCnchen, STRASSE 5\n" },

    { 12, TN_STORE_F_DELETED|TN_STORE_F_DRAFT|TN_STORE_F_FLAGGED, 0x6, 9,
      500, 12 * 3600,
      "From: zoe@example.com\n"
      "To: Team <team@example.com>\n"
      "Subject: Draft: ideas\n"
      "X-Empty:\n"
      "List-Id : <list.example>\n"
      "MIME-Version: 1.0\n"
      "Content-Type: multipart/alternative; boundary=\"b1\"\n"
      "\n"
      "--b1\n"
      "Content-Type: text/plain\n"
      "Content-Transfer-Encoding: base64\n"
      "\n"
      "c2VjcmV0IHdvcmQ6IHh5bG9waG9uZQ==\n"
      "--b1\n"
      "Content-Type: text/html\n"
      "\n"
      "<b>Cymbal</b>\n"
      "--b1--\n" },

    { 20, TN_STORE_F_RECENT|TN_STORE_F_SEEN, 0, 3, 80000,
      0,
      NULL },

    { 21, 0, 0, 1, 50,
      3 * 86400,
      "From: \"Eve\" <eve@example.net>\n"
      "To: everyone@example.net\n"
      "Subject: =?UTF-8?B?0J/QoNCY0JLQldCiINC80LjRgA==?= hello\n"
      "Date: Wed, 04 Feb 2026 01:00:00 +1400\n"
      "\n"
      "hello world\n" }
};


typedef struct {
    tn_store_imsg_t    m;            /* the view row */
    tn_store_cache_t   cache;
    tn_str_t           msg;          /* CRLF form */
} tn_test_msg_t;


static tn_test_msg_t   tn_test_msgs[TN_TEST_NMSGS];

/* the keyword table of the mailbox: bit i is name i */
static const char     *tn_test_keywords[] = { "$Forwarded", "$Junk", "Work" };


/* uid 20: a header block larger than the cache keeps */

static char *
tn_test_big(void)
{
    char      *text, *p;
    tn_uint_t  i;

    text = malloc(1200 * 80 + 1024);
    if (text == NULL) {
        tn_test_bail("malloc");
    }

    p = text;
    p += sprintf(p, "From: Big <big@example.com>\n"
                    "To: bob@example.net\n"
                    "Subject: huge header\n"
                    "Date: Sun, 01 Feb 2026 00:00:00 +0000\n");

    for (i = 0; i < 1200; i++) {
        p += sprintf(p, "X-Pad: %04u padding padding padding padding "
                        "padding padding padding\n", (unsigned) i);
    }

    sprintf(p, "X-Marker: Deep Inside\n\ntiny body\n");

    return text;
}


static void
tn_test_mailbox(void)
{
    int              fd;
    char             path[] = "/tmp/tn_test_imap_seval_XXXXXX";
    char            *text, *big;
    time_t           feb1;
    tn_str_t         d;
    tn_uint_t        i;
    tn_test_msg_t   *t;
    tn_test_spec_t  *sp;

    d.data = (u_char *) "1-Feb-2026";
    d.len = 10;

    if (tn_mail_imap_parse_date(&d, &feb1) != TN_OK) {
        tn_test_bail("parse_date");
    }

    big = tn_test_big();

    for (i = 0; i < TN_TEST_NMSGS; i++) {
        sp = &tn_test_specs[i];
        t = &tn_test_msgs[i];
        text = sp->text ? (char *) sp->text : big;

        t->m.uid = sp->uid;
        t->m.flags = sp->flags;
        t->m.keywords = sp->keywords;
        t->m.modseq = sp->modseq;
        t->m.vsize = sp->vsize;
        t->m.internaldate = feb1 + sp->idate;

        fd = mkstemp(path);
        if (fd == -1
            || write(fd, text, strlen(text)) != (ssize_t) strlen(text))
        {
            tn_test_bail("mkstemp/write");
        }

        if (tn_mail_imap_msg_cache(tn_test_pool, fd, &t->cache,
                                   &tn_test_log)
            != TN_OK)
        {
            tn_test_bail("msg_cache");
        }

        close(fd);

        if (tn_mail_imap_msg_load(tn_test_pool, path, 1 << 20, &t->msg)
            != TN_OK)
        {
            tn_test_bail("msg_load");
        }

        unlink(path);
        memcpy(path + strlen(path) - 6, "XXXXXX", 6);
    }

    free(big);

    tn_test_ok(tn_test_msgs[3].cache.header_too_large
               && tn_test_msgs[3].cache.header.len == 0,
               "uid 20: header too large for the cache");
    tn_test_ok(tn_test_msgs[0].cache.header.len
               && !tn_test_msgs[0].cache.header_too_large,
               "uid 10: header in the cache");
}


/* the fake loaders: what they were asked for, and how they answer */

typedef struct {
    char               caches[64];   /* uids whose cache was loaded */
    char               files[64];    /* uids whose file was read */
    uint32_t           gone_cache;   /* this uid: TN_DECLINED */
    uint32_t           gone_file;
    uint32_t           fail_cache;   /* this uid: TN_ERROR */
    uint32_t           fail_file;
    tn_uint_t          ncache;       /* calls for the current message */
    tn_uint_t          nfile;
    tn_uint_t          twice;        /* a loader asked twice */
} tn_test_loader_t;


static tn_test_msg_t *
tn_test_msg(tn_store_imsg_t *m)
{
    return (tn_test_msg_t *) ((u_char *) m - offsetof(tn_test_msg_t, m));
}


static void
tn_test_note(char *list, uint32_t uid)
{
    sprintf(list + strlen(list), "%s%u", list[0] ? " " : "", (unsigned) uid);
}


static tn_int_t
tn_test_load_cache(tn_mail_imap_seval_t *ev)
{
    tn_test_loader_t  *ld = ev->data;

    if (ld->ncache++) {
        ld->twice = 1;
    }

    tn_test_note(ld->caches, ev->m->uid);

    if (ev->m->uid == ld->gone_cache) {
        return TN_DECLINED;
    }

    if (ev->m->uid == ld->fail_cache) {
        return TN_ERROR;
    }

    ev->cache = tn_test_msg(ev->m)->cache;

    return TN_OK;
}


static tn_int_t
tn_test_load_file(tn_mail_imap_seval_t *ev, tn_str_t *msg)
{
    tn_test_loader_t  *ld = ev->data;

    if (ld->nfile++) {
        ld->twice = 1;
    }

    tn_test_note(ld->files, ev->m->uid);

    if (ev->m->uid == ld->gone_file) {
        return TN_DECLINED;
    }

    if (ev->m->uid == ld->fail_file) {
        return TN_ERROR;
    }

    /* a copy: the evaluator must not rely on more than it was given */

    msg->len = tn_test_msg(ev->m)->msg.len;
    msg->data = tn_pnalloc(ev->pool, msg->len);
    if (msg->data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(msg->data, tn_test_msg(ev->m)->msg.data, msg->len);

    return TN_OK;
}


/*
 * The compilation of tn_mail_imap_search_compile() against this mailbox:
 * TN_OK, TN_DECLINED for a bad set or date.
 */

static int
tn_test_uid_cmp(const void *one, const void *two)
{
    uint32_t  a = *(uint32_t *) one, b = *(uint32_t *) two;

    return (a > b) - (a < b);
}


static tn_int_t
tn_test_set(tn_pool_t *pool, tn_mail_imap_skey_t *key)
{
    size_t              off;
    uint32_t            v, star, *uids;
    tn_int_t            rc;
    tn_uint_t           i, n, uid;
    tn_mail_imap_seq_t  r;

    uid = (key->type == TN_MAIL_IMAP_SKEY_UID);
    star = uid ? tn_test_msgs[TN_TEST_NMSGS - 1].m.uid : TN_TEST_NMSGS;

    if (tn_mail_imap_seqset_check(&key->str) != TN_OK) {
        return TN_DECLINED;
    }

    uids = tn_palloc(pool, TN_TEST_NMSGS * sizeof(uint32_t));
    if (uids == NULL) {
        return TN_ERROR;
    }

    n = 0;
    off = 0;

    while ((rc = tn_mail_imap_seqset_next(&key->str, &off, star, &r))
           == TN_OK)
    {
        for (i = 0; i < TN_TEST_NMSGS; i++) {
            v = uid ? tn_test_msgs[i].m.uid : (uint32_t) i + 1;

            if (v >= r.first && v <= r.last) {
                uids[n++] = tn_test_msgs[i].m.uid;
            }
        }

        if (!uid && r.last > TN_TEST_NMSGS) {
            return TN_DECLINED;
        }
    }

    if (rc != TN_DONE) {
        return TN_DECLINED;
    }

    qsort(uids, n, sizeof(uint32_t), tn_test_uid_cmp);

    key->nuids = 0;

    for (i = 0; i < n; i++) {
        if (key->nuids == 0 || uids[key->nuids - 1] != uids[i]) {
            uids[key->nuids++] = uids[i];
        }
    }

    key->uids = uids;

    return TN_OK;
}


static tn_int_t
tn_test_compile(tn_pool_t *pool, tn_mail_imap_skey_t *key)
{
    u_char               *p;
    time_t                t;
    tn_int_t              rc;
    tn_uint_t             i;
    tn_mail_imap_skey_t  *k;

    switch (key->type) {

    case TN_MAIL_IMAP_SKEY_AND:
    case TN_MAIL_IMAP_SKEY_OR:
    case TN_MAIL_IMAP_SKEY_NOT:

        for (k = key->child; k; k = k->next) {
            rc = tn_test_compile(pool, k);
            if (rc != TN_OK) {
                return rc;
            }
        }

        return TN_OK;

    case TN_MAIL_IMAP_SKEY_SEQSET:
    case TN_MAIL_IMAP_SKEY_UID:
        return tn_test_set(pool, key);

    case TN_MAIL_IMAP_SKEY_BEFORE:
    case TN_MAIL_IMAP_SKEY_ON:
    case TN_MAIL_IMAP_SKEY_SINCE:
    case TN_MAIL_IMAP_SKEY_SENTBEFORE:
    case TN_MAIL_IMAP_SKEY_SENTON:
    case TN_MAIL_IMAP_SKEY_SENTSINCE:

        if (tn_mail_imap_parse_date(&key->str, &t) != TN_OK) {
            return TN_DECLINED;
        }

        key->day = tn_mail_imap_seval_day(t);
        return TN_OK;

    case TN_MAIL_IMAP_SKEY_KEYWORD:

        key->num = 0;

        for (i = 0; i < sizeof(tn_test_keywords) / sizeof(char *); i++) {
            if (strlen(tn_test_keywords[i]) == key->str.len
                && tn_strncasecmp((u_char *) tn_test_keywords[i],
                                  key->str.data, key->str.len) == 0)
            {
                key->num = (uint64_t) 1 << i;
            }
        }

        return TN_OK;

    case TN_MAIL_IMAP_SKEY_FROM:
    case TN_MAIL_IMAP_SKEY_TO:
    case TN_MAIL_IMAP_SKEY_CC:
    case TN_MAIL_IMAP_SKEY_BCC:
    case TN_MAIL_IMAP_SKEY_SUBJECT:
    case TN_MAIL_IMAP_SKEY_HEADER:
    case TN_MAIL_IMAP_SKEY_BODY:
    case TN_MAIL_IMAP_SKEY_TEXT:

        if (key->str.len == 0) {
            return TN_OK;
        }

        p = tn_pnalloc(pool, 2 * key->str.len);
        if (p == NULL) {
            return TN_ERROR;
        }

        key->str.len = tn_mail_imap_fold(p, key->str.data, key->str.len);
        key->str.data = p;

        return TN_OK;

    default:
        return TN_OK;
    }
}


/* "a SEARCH <keys>\r\n" to a compiled tree; NULL: it did not parse */

static tn_mail_imap_skey_t *
tn_test_tree(tn_pool_t *pool, const char *keys)
{
    char                   *line;
    tn_buf_t                b;
    tn_int_t                rc;
    tn_mail_imap_parse_t    ps;
    tn_mail_imap_search_t   sr;

    line = tn_pnalloc(pool, strlen(keys) + 16);
    if (line == NULL) {
        return NULL;
    }

    sprintf(line, "a SEARCH %s\r\n", keys);

    tn_mail_imap_parse_init(&ps, pool);
    ps.utf8 = 1;

    b.start = (u_char *) line;
    b.pos = b.start;
    b.last = b.start + strlen(line);
    b.end = b.last;

    if (tn_mail_imap_parse_command(&ps, &b) != TN_OK) {
        printf("# parse: %s\n", ps.err ? ps.err : "?");
        return NULL;
    }

    rc = tn_mail_imap_search_parse(pool, ps.args, 0, &sr);
    if (rc != TN_OK) {
        printf("# search: %s\n", sr.err ? sr.err : "?");
        return NULL;
    }

    if (tn_test_compile(pool, sr.root) != TN_OK) {
        printf("# compile failed\n");
        return NULL;
    }

    return sr.root;
}


/*
 * Evaluates keys against the mailbox: the matching uids into out
 * ("10 12"), or "error".  given: the caches are given up front.
 */

static void
tn_test_run(tn_pool_t *pool, const char *keys, tn_uint_t given,
    tn_test_loader_t *ld, char *out)
{
    tn_int_t               rc;
    tn_uint_t              i;
    tn_pool_t             *mpool;
    tn_mail_imap_skey_t   *root;
    tn_mail_imap_seval_t   ev;

    out[0] = '\0';

    root = tn_test_tree(pool, keys);
    if (root == NULL) {
        sprintf(out, "bad keys");
        return;
    }

    mpool = tn_create_pool(TN_DEFAULT_POOL_SIZE, &tn_test_log);
    if (mpool == NULL) {
        tn_test_bail("pool");
    }

    tn_memzero(&ev, sizeof(tn_mail_imap_seval_t));
    ev.pool = mpool;
    ev.load_cache = tn_test_load_cache;
    ev.load_file = tn_test_load_file;
    ev.data = ld;

    for (i = 0; i < TN_TEST_NMSGS; i++) {
        ld->ncache = 0;
        ld->nfile = 0;

        tn_mail_imap_seval_start(&ev, &tn_test_msgs[i].m,
                                 given ? &tn_test_msgs[i].cache : NULL);

        rc = tn_mail_imap_seval_match(&ev, root);

        tn_reset_pool(mpool);

        if (rc == TN_ERROR) {
            sprintf(out, "error");
            break;
        }

        if (rc == 1) {
            tn_test_note(out, tn_test_msgs[i].m.uid);
        }
    }

    tn_destroy_pool(mpool);
}


typedef struct {
    const char  *keys;
    const char  *result;             /* uids that match */
    const char  *caches;             /* uids whose cache is loaded */
    const char  *files;              /* uids whose file is read */
} tn_test_case_t;


#define TN_ALL  "10 11 12 20 21"


static tn_test_case_t  tn_test_cases[] = {

    /* flags and the view: no loader is called */
    { "ALL", TN_ALL, "", "" },
    { "ANSWERED", "10", "", "" },
    { "UNANSWERED", "11 12 20 21", "", "" },
    { "DELETED", "12", "", "" },
    { "UNDELETED", "10 11 20 21", "", "" },
    { "DRAFT", "12", "", "" },
    { "UNDRAFT", "10 11 20 21", "", "" },
    { "FLAGGED", "12", "", "" },
    { "UNFLAGGED", "10 11 20 21", "", "" },
    { "SEEN", "10 20", "", "" },
    { "UNSEEN", "11 12 21", "", "" },
    { "RECENT", "11 20", "", "" },
    { "OLD", "10 12 21", "", "" },
    { "NEW", "11", "", "" },
    { "NOT NEW", "10 12 20 21", "", "" },
    { "KEYWORD $Junk", "11 12", "", "" },
    { "KEYWORD $junk", "11 12", "", "" },
    { "KEYWORD Work", "12", "", "" },
    { "UNKEYWORD $Junk", "10 20 21", "", "" },
    { "KEYWORD $Unknown", "", "", "" },
    { "UNKEYWORD $Unknown", TN_ALL, "", "" },
    { "LARGER 1000", "11 20", "", "" },
    { "LARGER 999", "10 11 20", "", "" },
    { "SMALLER 1000", "12 21", "", "" },
    { "SMALLER 50", "", "", "" },
    { "LARGER 49 SMALLER 501", "12 21", "", "" },
    { "MODSEQ 7", "11 12", "", "" },
    { "MODSEQ 1", TN_ALL, "", "" },
    { "MODSEQ 10", "", "", "" },

    /* sequence sets: 1..5 are uids 10 11 12 20 21 */
    { "2:3", "11 12", "", "" },
    { "*", "21", "", "" },
    { "5:4", "20 21", "", "" },
    { "1,3,5", "10 12 21", "", "" },
    { "1:*", TN_ALL, "", "" },
    { "UID 11:20", "11 12 20", "", "" },
    { "UID 13:19", "", "", "" },
    { "UID *", "21", "", "" },
    { "UID 21:100", "21", "", "" },
    { "UID 1:10,12", "10 12", "", "" },
    { "NOT UID 11:20", "10 21", "", "" },
    { "2:4 UID 12:21", "12 20", "", "" },

    /* internal dates: UTC days, at their boundaries */
    { "ON 2-Feb-2026", "10", "", "" },
    { "ON 3-Feb-2026", "11", "", "" },
    { "ON 1-Feb-2026", "12 20", "", "" },
    { "ON 31-Jan-2026", "", "", "" },
    { "BEFORE 3-Feb-2026", "10 12 20", "", "" },
    { "BEFORE 1-Feb-2026", "", "", "" },
    { "SINCE 3-Feb-2026", "11 21", "", "" },
    { "SINCE 4-Feb-2026", "21", "", "" },
    { "SINCE 5-Feb-2026", "", "", "" },
    { "SINCE 2-Feb-2026 BEFORE 4-Feb-2026", "10 11", "", "" },
    { "NOT ON 1-feb-2026", "10 11 21", "", "" },

    /* Date: fields: the day as written in their own zone */
    { "SENTON 2-Feb-2026", "10", TN_ALL, "" },
    { "SENTON 3-Feb-2026", "11", TN_ALL, "" },
    { "SENTON 4-Feb-2026", "21", TN_ALL, "" },
    { "SENTON 1-Feb-2026", "20", TN_ALL, "" },
    { "SENTBEFORE 3-Feb-2026", "10 20", TN_ALL, "" },
    { "SENTBEFORE 4-Feb-2026", "10 11 20", TN_ALL, "" },
    { "SENTSINCE 3-Feb-2026", "11 21", TN_ALL, "" },
    { "SENTSINCE 1-Feb-2026", "10 11 20 21", TN_ALL, "" },
    { "NOT SENTSINCE 1-Feb-2026", "12", TN_ALL, "" },
    { "SENTON 2-Feb-2026 ON 2-Feb-2026", "10", "10", "" },
    { "SENTON 3-Feb-2026 ON 3-Feb-2026", "11", "11", "" },

    /* addresses and subjects: decoded, folded, any case */
    { "FROM alice", "10", TN_ALL, "" },
    { "FROM \"ALICE EXAMPLE\"", "10", TN_ALL, "" },
    { "FROM example", TN_ALL, TN_ALL, "" },
    { "FROM \"Müller\"", "11", TN_ALL, "" },
    { "FROM \"RENÉE MÜLLER\"", "11", TN_ALL, "" },
    { "FROM \"renee@example.de\"", "11", TN_ALL, "" },
    { "FROM \"Ren=C3\"", "", TN_ALL, "" },
    { "FROM nobody", "", TN_ALL, "" },
    { "TO bob", "10 20", TN_ALL, "" },
    { "TO \"alice@example.org\"", "11", TN_ALL, "" },
    { "TO team", "12", TN_ALL, "" },
    { "CC CAROL", "10", TN_ALL, "" },
    { "CC example", "10", TN_ALL, "" },
    { "BCC dave", "10", TN_ALL, "" },
    { "BCC carol", "", TN_ALL, "" },
    { "SUBJECT quarterly", "10", TN_ALL, "" },
    { "SUBJECT \"ÄRGER\"", "11", TN_ALL, "" },
    { "SUBJECT \"über grüße\"", "11", TN_ALL, "" },
    { "SUBJECT \"ÜBER GRÜßE\"", "11", TN_ALL, "" },
    { "SUBJECT \"=?UTF-8?B?\"", "", TN_ALL, "" },
    { "SUBJECT \"привет\"", "21", TN_ALL, "" },
    { "SUBJECT \"ПРИВЕТ МИР HELLO\"", "21", TN_ALL, "" },
    { "SUBJECT \"\"", TN_ALL, TN_ALL, "" },
    { "SUBJECT huge", "20", TN_ALL, "" },

    /* HEADER: decoded values; "" is "the field is there" */
    { "HEADER X-Priority 1", "10", TN_ALL, "20" },
    { "HEADER x-priority \"\"", "10", TN_ALL, "20" },
    { "HEADER Bcc \"\"", "10", TN_ALL, "20" },
    { "HEADER X-Empty \"\"", "12", TN_ALL, "20" },
    { "HEADER List-Id \"\"", "12", TN_ALL, "20" },
    { "HEADER List-Id LIST.EXAMPLE", "12", TN_ALL, "20" },
    { "HEADER X-Missing \"\"", "", TN_ALL, "20" },
    { "HEADER X \"\"", "", TN_ALL, "20" },
    { "HEADER Message-ID \"<M1@EXAMPLE.ORG>\"", "10", TN_ALL, "20" },
    { "HEADER Subject \"ärger über grüße\"", "11", TN_ALL, "20" },
    { "HEADER X-Marker \"deep inside\"", "20", TN_ALL, "20" },
    { "HEADER Date \"\"", "10 11 20 21", TN_ALL, "20" },
    { "SEEN HEADER X-Marker deep", "20", "10 20", "20" },
    { "UNSEEN HEADER X-Marker deep", "", "11 12 21", "" },

    /* BODY: decoded text parts; TEXT: the header too */
    { "BODY numbers", "10", TN_ALL, TN_ALL },
    { "BODY \"MÜNCHEN\"", "11", TN_ALL, TN_ALL },
    { "BODY strasse", "11", TN_ALL, TN_ALL },
    { "BODY \"M=C3=BCnchen\"", "", TN_ALL, TN_ALL },
    { "BODY xylophone", "12", TN_ALL, TN_ALL },
    { "BODY \"SECRET WORD\"", "12", TN_ALL, TN_ALL },
    { "BODY cymbal", "12", TN_ALL, TN_ALL },
    { "BODY \"tiny body\"", "20", TN_ALL, TN_ALL },
    { "BODY alice", "", TN_ALL, TN_ALL },
    { "BODY marker", "", TN_ALL, TN_ALL },
    { "TEXT alice", "10 11", TN_ALL, TN_ALL },
    { "TEXT \"m1@example.org\"", "10", TN_ALL, TN_ALL },
    { "TEXT \"ärger\"", "11", TN_ALL, TN_ALL },
    { "TEXT xylophone", "12", TN_ALL, TN_ALL },
    { "TEXT \"x-marker: deep\"", "20", TN_ALL, TN_ALL },
    { "TEXT \"HELLO WORLD\"", "21", TN_ALL, TN_ALL },
    { "TEXT \"x-pad: 1199\"", "20", TN_ALL, TN_ALL },
    { "NOT BODY hello", "10 11 12 20", TN_ALL, TN_ALL },

    /* cheap keys first: the loaders see only what they let through */
    { "SEEN BODY numbers", "10", "10 20", "10 20" },
    { "BODY numbers SEEN", "10", "10 20", "10 20" },
    { "FROM alice BODY budget", "10", TN_ALL, "10" },
    { "BODY budget FROM alice KEYWORD $Forwarded", "10", "10", "10" },
    { "UID 12 TEXT cymbal", "12", "12", "12" },
    { "DELETED FROM zoe", "12", "12", "" },
    { "BODY x FROM y DELETED SEEN", "", "", "" },
    { "SENTON 2-Feb-2026 FROM alice BODY budget TEXT report",
      "10", TN_ALL, "10" },

    /* nested AND, OR, NOT */
    { "OR SEEN DELETED", "10 12 20", "", "" },
    { "NOT (OR SEEN DELETED)", "11 21", "", "" },
    { "NOT NOT SEEN", "10 20", "", "" },
    { "NOT NOT NOT SEEN", "11 12 21", "", "" },
    { "OR OR ANSWERED DRAFT NEW", "10 11 12", "", "" },
    { "OR (SEEN FROM alice) (KEYWORD $Junk NOT DELETED)", "10 11",
      "10 20", "" },
    { "(SINCE 2-Feb-2026 (NOT TO bob))", "11 21", "10 11 21", "" },
    { "OR FROM alice SUBJECT \"привет\"", "10 21", TN_ALL, "" },
    { "OR SEEN BODY cymbal", "10 12 20", "11 12 21", "11 12 21" },
    { "NOT OR SEEN BODY cymbal", "11 21", "11 12 21", "11 12 21" },
    { "OR (FROM alice BODY nope) (NOT OR TO bob SMALLER 100)",
      "11 12", TN_ALL, "10" },
    { "OR UID 20 NOT (FROM example OR DRAFT NOT RECENT)", "11 20",
      "10 12 21", "" },
    { "((((((ALL))))))", TN_ALL, "", "" },
    { "NOT ALL", "", "", "" },
    { "ANSWERED UNANSWERED", "", "", "" },
    { "OR ANSWERED UNANSWERED", TN_ALL, "", "" },

    { NULL, NULL, NULL, NULL }
};


static void
tn_test_cases_run(tn_pool_t *pool)
{
    char               out[128], out2[128];
    tn_test_case_t    *c;
    tn_test_loader_t   ld, ld2;

    for (c = tn_test_cases; c->keys; c++) {

        tn_memzero(&ld, sizeof(tn_test_loader_t));
        tn_test_run(pool, c->keys, 0, &ld, out);

        tn_test_ok(strcmp(out, c->result) == 0, "%s: [%s]", c->keys, out);

        if (strcmp(out, c->result) != 0) {
            printf("#   want [%s]\n", c->result);
        }

        tn_test_ok(strcmp(ld.caches, c->caches) == 0
                   && strcmp(ld.files, c->files) == 0 && !ld.twice,
                   "%s: caches [%s] files [%s]", c->keys, ld.caches,
                   ld.files);

        if (strcmp(ld.caches, c->caches) || strcmp(ld.files, c->files)) {
            printf("#   want caches [%s] files [%s]\n", c->caches, c->files);
        }

        /* the cache given: same result, same files, no cache loaded */

        tn_memzero(&ld2, sizeof(tn_test_loader_t));
        tn_test_run(pool, c->keys, 1, &ld2, out2);

        tn_test_ok(strcmp(out2, c->result) == 0 && ld2.caches[0] == '\0'
                   && strcmp(ld2.files, c->files) == 0 && !ld2.twice,
                   "%s, cache given: [%s] files [%s]", c->keys, out2,
                   ld2.files);
    }
}


/* a loader reporting "expunged": that message matches nothing */

typedef struct {
    const char  *keys;
    uint32_t     gone_cache;
    uint32_t     gone_file;
    const char  *result;
} tn_test_gone_t;


static tn_test_gone_t  tn_test_gones[] = {

    { "FROM alice", 10, 0, "" },
    { "NOT FROM nobody", 11, 0, "10 12 20 21" },
    { "NOT NOT FROM example", 11, 0, "10 12 20 21" },
    { "NOT SUBJECT huge", 20, 0, "10 11 12 21" },
    { "NOT SENTON 9-Feb-2026", 12, 0, "10 11 20 21" },
    /* ALL is tried first (cheaper): nothing is loaded, 12 matches */
    { "OR FROM nobody ALL", 12, 0, TN_ALL },
    /* same cost, in order: the second side matches, 12 was gone */
    { "OR FROM nobody (OR ALL FROM x)", 12, 0, "10 11 20 21" },
    { "OR FROM nobody NOT SUBJECT nothing", 12, 0, "10 11 20 21" },
    { "OR SUBJECT huge NOT ALL", 20, 0, "" },
    { "NOT (SEEN FROM nobody)", 10, 0, "11 12 20 21" },
    { "NOT (UNSEEN FROM nobody)", 10, 0, TN_ALL },
    { "NOT BODY nothing", 0, 12, "10 11 20 21" },
    { "NOT TEXT nothing", 0, 21, "10 11 12 20" },
    { "OR BODY nothing (OR ALL BODY x)", 0, 11, "10 12 20 21" },
    { "OR NOT BODY nothing NOT ALL", 0, 11, "10 12 20 21" },
    { "NOT HEADER X-Marker deep", 0, 20, "10 11 12 21" },
    { "NOT HEADER X-Marker deep", 0, 10, "10 11 12 21" },
    { "NOT (FROM example BODY nothing)", 0, 10, "11 12 20 21" },
    { "NOT (FROM example BODY nothing)", 10, 0, "11 12 20 21" },
    { "FROM example OR TO nobody TEXT nothing", 0, 0, "" },
    { "ALL", 10, 10, TN_ALL },

    { NULL, 0, 0, NULL }
};


static void
tn_test_gone_run(tn_pool_t *pool)
{
    char               out[128];
    tn_test_gone_t    *g;
    tn_test_loader_t   ld;

    for (g = tn_test_gones; g->keys; g++) {
        tn_memzero(&ld, sizeof(tn_test_loader_t));
        ld.gone_cache = g->gone_cache;
        ld.gone_file = g->gone_file;

        tn_test_run(pool, g->keys, 0, &ld, out);

        tn_test_ok(strcmp(out, g->result) == 0 && !ld.twice,
                   "expunged (cache %u, file %u): %s: [%s]",
                   (unsigned) g->gone_cache, (unsigned) g->gone_file,
                   g->keys, out);

        if (strcmp(out, g->result) != 0) {
            printf("#   want [%s]\n", g->result);
        }
    }

    /* expunged, then nothing else is asked for that message */

    tn_memzero(&ld, sizeof(tn_test_loader_t));
    ld.gone_cache = 11;

    tn_test_run(pool, "NOT OR FROM nobody BODY nothing", 0, &ld, out);

    tn_test_ok(strcmp(out, "10 12 20 21") == 0
               && strcmp(ld.caches, TN_ALL) == 0
               && strcmp(ld.files, "10 12 20 21") == 0,
               "expunged at the cache: the file is not read [%s] [%s]",
               out, ld.files);
}


/* failing loaders, no loaders */

static void
tn_test_errors(tn_pool_t *pool)
{
    char                   out[128];
    tn_int_t               rc;
    tn_pool_t             *mpool;
    tn_test_loader_t       ld;
    tn_mail_imap_skey_t   *root;
    tn_mail_imap_seval_t   ev;

    tn_memzero(&ld, sizeof(tn_test_loader_t));
    ld.fail_cache = 12;
    tn_test_run(pool, "NOT FROM nobody", 0, &ld, out);
    tn_test_ok(strcmp(out, "error") == 0 && strcmp(ld.caches, "10 11 12") == 0,
               "cache loader error: TN_ERROR [%s]", out);

    tn_memzero(&ld, sizeof(tn_test_loader_t));
    ld.fail_file = 10;
    tn_test_run(pool, "NOT BODY x", 0, &ld, out);
    tn_test_ok(strcmp(out, "error") == 0, "file loader error: TN_ERROR");

    tn_memzero(&ld, sizeof(tn_test_loader_t));
    ld.fail_file = 10;
    tn_test_run(pool, "OR SEEN BODY qqq", 0, &ld, out);
    tn_test_ok(strcmp(out, "10 20") == 0 && strcmp(ld.files, "11 12 21") == 0,
               "file loader error not reached: [%s]", out);

    /* the event loop: view keys without loaders */

    mpool = tn_create_pool(TN_DEFAULT_POOL_SIZE, &tn_test_log);
    if (mpool == NULL) {
        tn_test_bail("pool");
    }

    tn_memzero(&ev, sizeof(tn_mail_imap_seval_t));
    ev.pool = mpool;

    root = tn_test_tree(pool, "OR (SEEN LARGER 10) NOT UID 10:20");
    tn_mail_imap_seval_start(&ev, &tn_test_msgs[0].m, NULL);
    rc = tn_mail_imap_seval_match(&ev, root);
    tn_mail_imap_seval_start(&ev, &tn_test_msgs[1].m, NULL);
    tn_test_ok(rc == 1 && tn_mail_imap_seval_match(&ev, root) == 0,
               "view keys without loaders");

    root = tn_test_tree(pool, "FROM alice");
    tn_mail_imap_seval_start(&ev, &tn_test_msgs[0].m, NULL);
    tn_test_ok(tn_mail_imap_seval_match(&ev, root) == TN_ERROR,
               "a header key without a cache loader: TN_ERROR");

    tn_mail_imap_seval_start(&ev, &tn_test_msgs[0].m, &tn_test_msgs[0].cache);
    tn_test_ok(tn_mail_imap_seval_match(&ev, root) == 1,
               "a header key with the cache given, no loader");

    root = tn_test_tree(pool, "BODY budget");
    tn_mail_imap_seval_start(&ev, &tn_test_msgs[0].m, &tn_test_msgs[0].cache);
    tn_test_ok(tn_mail_imap_seval_match(&ev, root) == TN_ERROR,
               "BODY without a file loader: TN_ERROR");

    tn_destroy_pool(mpool);
}


/* days since the epoch: round down, before 1970 too */

static void
tn_test_days(void)
{
    tn_test_ok(tn_mail_imap_seval_day(0) == 0
               && tn_mail_imap_seval_day(86399) == 0
               && tn_mail_imap_seval_day(86400) == 1
               && tn_mail_imap_seval_day(-1) == -1
               && tn_mail_imap_seval_day(-86400) == -1
               && tn_mail_imap_seval_day(-86401) == -2,
               "day arithmetic at boundaries");
}


int
main(void)
{
    tn_pool_t  *pool;

    tn_pagesize = getpagesize();
    tn_memzero(&tn_test_log, sizeof(tn_log_t));

    /* the server's own zone must not matter: dates are UTC or as written */
    setenv("TZ", "Pacific/Kiritimati", 1);
    tzset();

    tn_test_pool = tn_create_pool(4096, &tn_test_log);
    pool = tn_create_pool(4096, &tn_test_log);

    if (tn_test_pool == NULL || pool == NULL) {
        tn_test_bail("pool");
    }

    tn_test_mailbox();
    tn_test_cases_run(pool);
    tn_test_gone_run(pool);
    tn_test_errors(pool);
    tn_test_days();

    tn_destroy_pool(pool);
    tn_destroy_pool(tn_test_pool);

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
