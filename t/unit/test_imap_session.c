
/*
 * Copyright (C) The Tern developers
 */


/*
 * The pure parts of the IMAP session files: the LIST pattern match
 * (tn_mail_imap_list.c), and from tn_mail_imap_notify.c the view
 * helpers (uid lookup, sequence sets to uids, flag lists both ways) and
 * the sync of a view from a tn_store_changes_t (EXISTS, FETCH, EXPUNGE
 * and what is held back when EXPUNGE is not allowed).  Linked with
 * libtern.a for the rest (pools, strings, the output functions).
 */


#include "../../src/mail/tn_mail_imap_list.c"
#include "../../src/mail/tn_mail_imap_notify.c"


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


static void
tn_test_match(void)
{
    u_char     row[TN_STORE_MBOX_NAME_MAX + 2];
    tn_str_t   pat, name;
    tn_uint_t  i;

    static struct {
        const char  *pattern;
        const char  *name;
        tn_uint_t    match;
    }  cases[] = {
        { "*", "INBOX", 1 },
        { "*", "Work/2026/Q1", 1 },
        { "%", "Work", 1 },
        { "%", "Work/2026", 0 },
        { "Work/%", "Work/2026", 1 },
        { "Work/%", "Work/2026/Q1", 0 },
        { "Work/*", "Work/2026/Q1", 1 },
        { "Work/*", "Work", 0 },
        { "Work*", "Work", 1 },
        { "inbox", "INBOX", 1 },
        { "InBox/%", "INBOX/x", 1 },
        { "INBOX", "inbox", 0 },         /* only INBOX itself folds */
        { "work", "Work", 0 },
        { "W%k", "Work", 1 },
        { "W%k", "W/k", 0 },
        { "W*k", "W/x/k", 1 },
        { "*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
        { "*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 1 },
        { "", "INBOX", 0 },
        { "%/%", "a/b", 1 },
        { "%/%", "a/b/c", 0 },
        { "*/", "a/b/", 1 },
        { "Sent", "Sent", 1 },
        { "Sent", "Sentx", 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pat.data = (u_char *) cases[i].pattern;
        pat.len = tn_strlen(cases[i].pattern);
        name.data = (u_char *) cases[i].name;
        name.len = tn_strlen(cases[i].name);

        tn_test_ok(tn_mail_imap_match(&pat, &name, row) == cases[i].match,
                   "match \"%s\" \"%s\"", cases[i].pattern, cases[i].name);
    }
}


/* a session with a view of uids 3 5 7 9 11 */

static tn_log_t                 tn_test_log;
static tn_connection_t          tn_test_conn;
static tn_mail_session_t        tn_test_s;
static tn_mail_imap_session_t   tn_test_is;


static tn_mail_imap_session_t *
tn_test_session(void)
{
    tn_uint_t                i;
    tn_mail_imap_session_t  *is;

    is = &tn_test_is;

    if (is->out) {
        free(is->out);
    }

    if (is->msgs) {
        free(is->msgs);
    }

    if (is->pending) {
        free(is->pending);
    }

    for (i = 0; i < is->nkeywords; i++) {
        free(is->keywords[i].data);
    }

    tn_memzero(is, sizeof(tn_mail_imap_session_t));

    tn_test_log.log_level = 0;
    tn_test_conn.log = &tn_test_log;
    tn_test_s.connection = &tn_test_conn;
    tn_test_s.out.len = 0;
    tn_test_s.out_more = NULL;
    tn_test_s.data = is;

    is->session = &tn_test_s;
    is->state = tn_imap_state_selected;
    is->uidvalidity = 42;
    is->uidnext = 12;
    is->modseq = 10;
    is->msgs_size = 8;
    is->msgs = calloc(is->msgs_size, sizeof(tn_store_imsg_t));

    for (i = 0; i < 5; i++) {
        is->msgs[i].uid = 3 + 2 * i;
        is->msgs[i].modseq = 1 + i;
    }

    is->nmsgs = 5;

    is->keywords[0].data = (u_char *) strdup("$Junk");
    is->keywords[0].len = 5;
    is->nkeywords = 1;

    return is;
}


static tn_uint_t
tn_test_uids(tn_mail_imap_session_t *is, const char *set, tn_uint_t uid,
    const char *expect)
{
    u_char      *p, buf[256];
    uint32_t    *uids;
    tn_int_t     rc;
    tn_str_t     s;
    tn_uint_t    i, n;
    tn_pool_t   *pool;

    pool = tn_create_pool(1024, &tn_test_log);

    s.data = (u_char *) set;
    s.len = tn_strlen(set);

    rc = tn_mail_imap_seqset_uids(is, pool, &s, uid, &uids, &n);

    if (rc == TN_DECLINED) {
        p = tn_sprintf(buf, "declined");

    } else if (rc != TN_OK) {
        p = tn_sprintf(buf, "error");

    } else {
        p = buf;

        for (i = 0; i < n; i++) {
            p = tn_sprintf(p, "%s%uD", i ? "," : "", uids[i]);
        }
    }

    *p = '\0';

    tn_destroy_pool(pool);

    if (strcmp((char *) buf, expect) != 0) {
        printf("# \"%s\": \"%s\", expected \"%s\"\n", set, buf, expect);
        return 0;
    }

    return 1;
}


static void
tn_test_seqset(void)
{
    tn_mail_imap_session_t  *is;

    is = tn_test_session();

    tn_test_ok(tn_test_uids(is, "1:*", 0, "3,5,7,9,11"), "seq 1:*");
    tn_test_ok(tn_test_uids(is, "2,4", 0, "5,9"), "seq 2,4");
    tn_test_ok(tn_test_uids(is, "*:4", 0, "9,11"), "seq *:4");
    tn_test_ok(tn_test_uids(is, "5,1,5", 0, "3,11"), "seq duplicates");
    tn_test_ok(tn_test_uids(is, "6", 0, "declined"), "seq beyond the view");
    tn_test_ok(tn_test_uids(is, "1:x", 0, "error"), "seq bad syntax");
    tn_test_ok(tn_test_uids(is, "4:8", 1, "5,7"), "uid 4:8");
    tn_test_ok(tn_test_uids(is, "12:*", 1, "11"), "uid 12:* is the last");
    tn_test_ok(tn_test_uids(is, "100", 1, ""), "uid not in the view");
    tn_test_ok(tn_test_uids(is, "1:4294967295", 1, "3,5,7,9,11"),
               "uid 1:4294967295");

    is->saved = malloc(2 * sizeof(uint32_t));
    is->saved[0] = 7;
    is->saved[1] = 8;
    is->nsaved = 2;

    tn_test_ok(tn_test_uids(is, "$", 1, "7"), "$: the saved result");

    free(is->saved);
    is->saved = NULL;
    is->nsaved = 0;

    is->nmsgs = 0;
    tn_test_ok(tn_test_uids(is, "1:*", 1, ""), "uid 1:* on an empty view");
    tn_test_ok(tn_test_uids(is, "1:*", 0, "declined"),
               "seq 1:* on an empty view");

    tn_test_ok(tn_mail_imap_uid_index(is, 3) == -1, "uid_index empty");
    is->nmsgs = 5;
    tn_test_ok(tn_mail_imap_uid_index(is, 9) == 3, "uid_index 9");
    tn_test_ok(tn_mail_imap_uid_index(is, 4) == -1, "uid_index missing");
}


static tn_mail_imap_arg_t *
tn_test_atoms(tn_mail_imap_arg_t *list, tn_mail_imap_arg_t *a,
    const char **names, tn_uint_t n)
{
    tn_uint_t  i;

    tn_memzero(list, sizeof(tn_mail_imap_arg_t));
    list->type = TN_MAIL_IMAP_ARG_LIST;
    list->nelts = n;
    list->list = n ? a : NULL;

    for (i = 0; i < n; i++) {
        tn_memzero(&a[i], sizeof(tn_mail_imap_arg_t));
        a[i].type = TN_MAIL_IMAP_ARG_ATOM;
        a[i].value.data = (u_char *) names[i];
        a[i].value.len = tn_strlen(names[i]);
        a[i].next = (i + 1 < n) ? &a[i + 1] : NULL;
        a[i].parent = list;
    }

    return list;
}


static void
tn_test_flags(void)
{
    u_char                  *p, buf[256];
    uint32_t                 flags;
    tn_str_t                *kw;
    tn_uint_t                nkw;
    tn_pool_t               *pool;
    tn_store_imsg_t          m;
    tn_mail_imap_arg_t       list, a[8];
    tn_mail_imap_session_t  *is;

    static const char  *good[] = { "\\seen", "\\Deleted", "$Junk", "$junk",
                                   "Work" };
    static const char  *recent[] = { "\\Recent" };
    static const char  *unknown[] = { "\\Foo" };
    static const char  *bracket[] = { "a]b" };

    pool = tn_create_pool(1024, &tn_test_log);

    tn_test_ok(tn_mail_imap_flags_parse(pool,
                   tn_test_atoms(&list, a, good, 5), &flags, &kw, &nkw)
               == TN_OK
               && flags == (TN_STORE_F_SEEN|TN_STORE_F_DELETED)
               && nkw == 2 && kw[0].len == 5 && kw[1].len == 4,
               "flags_parse: system flags, keywords without duplicates");

    tn_test_ok(tn_mail_imap_flags_parse(pool,
                   tn_test_atoms(&list, a, recent, 1), &flags, &kw, &nkw)
               == TN_ERROR, "flags_parse: \\Recent refused");

    tn_test_ok(tn_mail_imap_flags_parse(pool,
                   tn_test_atoms(&list, a, unknown, 1), &flags, &kw, &nkw)
               == TN_ERROR, "flags_parse: unknown system flag refused");

    tn_test_ok(tn_mail_imap_flags_parse(pool,
                   tn_test_atoms(&list, a, bracket, 1), &flags, &kw, &nkw)
               == TN_ERROR, "flags_parse: \"]\" in a keyword refused");

    tn_test_ok(tn_mail_imap_flags_parse(pool,
                   tn_test_atoms(&list, a, good, 0), &flags, &kw, &nkw)
               == TN_OK && flags == 0 && nkw == 0, "flags_parse: ()");

    tn_destroy_pool(pool);

    is = tn_test_session();

    tn_memzero(&m, sizeof(m));
    m.flags = TN_STORE_F_SEEN|TN_STORE_F_FLAGGED|TN_STORE_F_RECENT;
    m.keywords = 1;

    p = tn_mail_imap_flags(is, buf, &m);
    *p = '\0';

    tn_test_ok(strcmp((char *) buf, "(\\Seen \\Flagged \\Recent $Junk)") == 0
               && (size_t) (p - buf) <= tn_mail_imap_flags_len(is, &m),
               "flags: %s", buf);

    is->rev2 = 1;
    p = tn_mail_imap_flags(is, buf, &m);
    *p = '\0';

    tn_test_ok(strcmp((char *) buf, "(\\Seen \\Flagged $Junk)") == 0,
               "flags: no \\Recent in IMAP4rev2");

    m.flags = 0;
    m.keywords = 0;
    p = tn_mail_imap_flags(is, buf, &m);
    *p = '\0';

    tn_test_ok(strcmp((char *) buf, "()") == 0, "flags: none");
}


static void
tn_test_out(tn_mail_imap_session_t *is, const char *expect, const char *what)
{
    tn_uint_t  ok;

    ok = (is->out_len == tn_strlen(expect)
          && tn_memcmp(is->out, expect, is->out_len) == 0);

    if (!ok) {
        printf("# got \"%.*s\"\n", (int) is->out_len,
               is->out ? (char *) is->out : "");
    }

    tn_test_ok(ok, "%s", what);

    is->out_len = 0;
    is->out_sent = 0;
}


static void
tn_test_sync(void)
{
    uint32_t                 expunged[2];
    tn_store_imsg_t          changed[4];
    tn_store_changes_t       c;
    tn_mail_imap_session_t  *is;

    /* new messages, a flag change, an expunge */

    is = tn_test_session();

    tn_memzero(&c, sizeof(c));
    tn_memzero(changed, sizeof(changed));

    changed[0].uid = 5;                  /* flags changed */
    changed[0].flags = TN_STORE_F_SEEN;
    changed[0].modseq = 11;
    changed[1].uid = 12;                 /* new */
    changed[1].modseq = 12;
    changed[2].uid = 13;
    changed[2].modseq = 13;

    expunged[0] = 9;

    c.uidvalidity = 42;
    c.uidnext = 14;
    c.highestmodseq = 14;
    c.changed = changed;
    c.nchanged = 3;
    c.expunged = expunged;
    c.nexpunged = 1;
    c.nkeywords = 1;

    tn_test_ok(tn_mail_imap_sync_apply(&tn_test_s, is, &c, 10, 1) == TN_OK,
               "sync: applied");

    tn_test_out(is, "* 4 EXPUNGE\r\n"
                    "* 2 FETCH (UID 5 FLAGS (\\Seen))\r\n"
                    "* 6 EXISTS\r\n"
                    "* 0 RECENT\r\n",
                "sync: EXPUNGE, FETCH, EXISTS, RECENT");

    tn_test_ok(is->nmsgs == 6 && is->msgs[3].uid == 11
               && is->msgs[5].uid == 13 && is->uidnext == 14
               && is->modseq == 14, "sync: the view");

    /* no EXPUNGE allowed: held back, then flushed */

    is = tn_test_session();

    tn_memzero(&c, sizeof(c));
    expunged[0] = 3;
    expunged[1] = 11;
    c.uidvalidity = 42;
    c.uidnext = 12;
    c.highestmodseq = 12;
    c.expunged = expunged;
    c.nexpunged = 2;
    c.nkeywords = 1;

    tn_test_ok(tn_mail_imap_sync_apply(&tn_test_s, is, &c, 10, 0) == TN_OK
               && is->out_len == 0 && is->npending == 2 && is->nmsgs == 5,
               "sync: expunges held back during FETCH");

    tn_test_ok(tn_mail_imap_flush_expunges(is) == TN_OK, "flush");

    tn_test_out(is, "* 5 EXPUNGE\r\n* 1 EXPUNGE\r\n",
                "flush: from the highest sequence number down");

    tn_test_ok(is->nmsgs == 3 && is->msgs[0].uid == 5
               && is->msgs[2].uid == 9 && is->npending == 0,
               "flush: the view");

    /* the expunged table was pruned: changed has every message */

    is = tn_test_session();

    tn_memzero(&c, sizeof(c));
    tn_memzero(changed, sizeof(changed));
    changed[0].uid = 3;
    changed[0].modseq = 1;
    changed[1].uid = 7;
    changed[1].modseq = 3;
    changed[2].uid = 11;
    changed[2].modseq = 5;
    c.uidvalidity = 42;
    c.uidnext = 12;
    c.highestmodseq = 20;
    c.changed = changed;
    c.nchanged = 3;
    c.nkeywords = 1;

    tn_test_ok(tn_mail_imap_sync_apply(&tn_test_s, is, &c, 10, 1) == TN_OK,
               "sync full: applied");

    tn_test_out(is, "* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n",
                "sync full: the missing ones are expunged");

    /* a new keyword: FLAGS and PERMANENTFLAGS again; CONDSTORE MODSEQ */

    is = tn_test_session();
    is->condstore = 1;

    tn_memzero(&c, sizeof(c));
    tn_memzero(changed, sizeof(changed));
    changed[0].uid = 7;
    changed[0].keywords = 2;
    changed[0].modseq = 11;
    c.uidvalidity = 42;
    c.uidnext = 12;
    c.highestmodseq = 11;
    c.changed = changed;
    c.nchanged = 1;
    c.nkeywords = 2;
    c.keywords[0].data = (u_char *) "$Junk";
    c.keywords[0].len = 5;
    c.keywords[1].data = (u_char *) "Work";
    c.keywords[1].len = 4;

    tn_test_ok(tn_mail_imap_sync_apply(&tn_test_s, is, &c, 10, 1) == TN_OK,
               "sync keywords: applied");

    tn_test_out(is, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft "
                    "$Junk Work)\r\n"
                    "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
                    "\\Seen \\Draft $Junk Work \\*)] Flags permitted\r\n"
                    "* 3 FETCH (UID 7 FLAGS (Work) MODSEQ (11))\r\n",
                "sync keywords: FLAGS, PERMANENTFLAGS, FETCH with MODSEQ");

    /* the mailbox went away */

    is = tn_test_session();

    tn_memzero(&c, sizeof(c));
    c.gone = 1;

    tn_test_ok(tn_mail_imap_sync_apply(&tn_test_s, is, &c, 10, 1) == TN_OK
               && is->bye, "sync gone: BYE");

    is->out_len = 0;
}


int
main(void)
{
    tn_time_init();

    tn_test_match();
    tn_test_seqset();
    tn_test_flags();
    tn_test_sync();

    (void) tn_test_session();
    free(tn_test_is.msgs);
    free(tn_test_is.keywords[0].data);

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
