
/*
 * Copyright (C) The Tern developers
 */


/*
 * QRESYNC (src/mail/tn_mail_imap_qresync.c): uid sets to ranges (good
 * and bad, "*"), the VANISHED (EARLIER) of a view from the expunged log
 * and from a pruned log, with and without known uids, and the FETCH of
 * the changed messages.  Linked with libtern.a for the rest (pools,
 * strings, the output functions).
 */


#include "../../src/mail/tn_mail_imap_qresync.c"


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


/* a session with a view of uids 3 5 7 9 11, uidnext 12 */

static tn_log_t                 tn_test_log;
static tn_connection_t          tn_test_conn;
static tn_mail_session_t        tn_test_s;
static tn_mail_imap_session_t   tn_test_is;
static tn_pool_t               *tn_test_pool;


static tn_mail_imap_session_t *
tn_test_session(void)
{
    tn_uint_t                i;
    tn_mail_imap_session_t  *is;

    is = &tn_test_is;

    free(is->out);
    free(is->msgs);

    tn_memzero(is, sizeof(tn_mail_imap_session_t));

    tn_test_log.log_level = 0;
    tn_test_conn.log = &tn_test_log;
    tn_test_s.connection = &tn_test_conn;
    tn_test_s.out.len = 0;
    tn_test_s.out_more = NULL;
    tn_test_s.data = is;

    is->session = &tn_test_s;
    is->cmd_pool = tn_test_pool;
    is->state = tn_imap_state_selected;
    is->uidvalidity = 42;
    is->uidnext = 12;
    is->modseq = 10;
    is->msgs_size = 8;
    is->msgs = calloc(is->msgs_size, sizeof(tn_store_imsg_t));

    for (i = 0; i < 5; i++) {
        is->msgs[i].uid = 3 + 2 * i;
        is->msgs[i].modseq = 1 + 2 * i;
    }

    is->msgs[1].flags = TN_STORE_F_SEEN;
    is->nmsgs = 5;

    return is;
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
tn_test_ranges(void)
{
    u_char                   *p, buf[256];
    tn_str_t                  set;
    tn_uint_t                 i, j, n;
    tn_mail_imap_qr_range_t  *r;

    static struct {
        const char  *set;
        const char  *expect;    /* NULL: an error */
    }  cases[] = {
        { "1", "1-1" },
        { "1:4,7,9:*", "1-4 7-7 9-100" },
        { "5:2", "2-5" },
        { "*:3", "3-100" },
        { "4294967295", "4294967295-4294967295" },
        { "4294967296", NULL },
        { "0", NULL },
        { "", NULL },
        { "1,", NULL },
        { ",1", NULL },
        { "1::2", NULL },
        { "1:x", NULL },
        { "01", NULL },
        { "1 2", NULL }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        set.data = (u_char *) cases[i].set;
        set.len = tn_strlen(cases[i].set);

        if (tn_mail_imap_qr_ranges(tn_test_pool, &set, 100, &r, &n)
            != TN_OK)
        {
            tn_test_ok(cases[i].expect == NULL, "ranges \"%s\": error",
                       cases[i].set);
            continue;
        }

        p = buf;

        for (j = 0; j < n; j++) {
            p = tn_sprintf(p, "%s%uD-%uD", j ? " " : "", r[j].lo, r[j].hi);
        }

        *p = '\0';

        tn_test_ok(cases[i].expect != NULL
                   && strcmp((char *) buf, cases[i].expect) == 0,
                   "ranges \"%s\": \"%s\"", cases[i].set, buf);
    }
}


static tn_mail_imap_qr_range_t *
tn_test_known(const char *known, tn_uint_t *n)
{
    tn_str_t                  set;
    tn_mail_imap_qr_range_t  *r;

    set.data = (u_char *) known;
    set.len = tn_strlen(known);

    if (tn_mail_imap_qr_ranges(tn_test_pool, &set, 0xffffffff, &r, n)
        != TN_OK)
    {
        return NULL;
    }

    return r;
}


static void
tn_test_vanished(void)
{
    uint32_t                  expunged[6];
    tn_uint_t                 n;
    tn_store_changes_t        c;
    tn_mail_imap_session_t   *is;
    tn_mail_imap_qr_range_t  *r;

    is = tn_test_session();

    /* the log: 1 2 4 gone, 7 still in the view, 12 and 20 beyond it */

    tn_memzero(&c, sizeof(c));
    expunged[0] = 1;
    expunged[1] = 2;
    expunged[2] = 4;
    expunged[3] = 7;
    expunged[4] = 12;
    expunged[5] = 20;
    c.expunged = expunged;
    c.nexpunged = 6;

    tn_test_ok(tn_mail_imap_qr_vanished(is, &c, NULL, 0) == TN_OK,
               "vanished: log");
    tn_test_out(is, "* VANISHED (EARLIER) 1:2,4\r\n", "vanished: 1:2,4");

    r = tn_test_known("2:5", &n);
    (void) tn_mail_imap_qr_vanished(is, &c, r, n);
    tn_test_out(is, "* VANISHED (EARLIER) 2,4\r\n", "vanished: known 2:5");

    r = tn_test_known("5:100", &n);
    (void) tn_mail_imap_qr_vanished(is, &c, r, n);
    tn_test_out(is, "", "vanished: known 5:100: none");

    /* pruned: every known uid below uidnext that the view lacks */

    tn_memzero(&c, sizeof(c));
    c.pruned = 1;

    (void) tn_mail_imap_qr_vanished(is, &c, NULL, 0);
    tn_test_out(is, "* VANISHED (EARLIER) 1:2,4,6,8,10\r\n",
                "pruned: the gaps of 1:11");

    r = tn_test_known("4:7,10:50", &n);
    (void) tn_mail_imap_qr_vanished(is, &c, r, n);
    tn_test_out(is, "* VANISHED (EARLIER) 4,6,10\r\n",
                "pruned: known 4:7,10:50");

    r = tn_test_known("3,5", &n);
    (void) tn_mail_imap_qr_vanished(is, &c, r, n);
    tn_test_out(is, "", "pruned: known 3,5 all there");

    r = tn_test_known("1:2,12:20", &n);
    (void) tn_mail_imap_qr_vanished(is, &c, r, n);
    tn_test_out(is, "* VANISHED (EARLIER) 1:2\r\n",
                "pruned: nothing at or above uidnext");

    /* an empty view */

    is->nmsgs = 0;
    (void) tn_mail_imap_qr_vanished(is, &c, NULL, 0);
    tn_test_out(is, "* VANISHED (EARLIER) 1:11\r\n", "pruned: empty view");
}


static void
tn_test_fetch(void)
{
    tn_uint_t                 n;
    tn_mail_imap_session_t   *is;
    tn_mail_imap_qr_range_t  *r;

    /* modseqs 1 3 5 7 9 of uids 3 5 7 9 11 */

    is = tn_test_session();

    tn_test_ok(tn_mail_imap_qr_fetch(is, 4, NULL, 0) == TN_OK,
               "fetch: since 4");
    tn_test_out(is, "* 3 FETCH (UID 7 FLAGS () MODSEQ (5))\r\n"
                    "* 4 FETCH (UID 9 FLAGS () MODSEQ (7))\r\n"
                    "* 5 FETCH (UID 11 FLAGS () MODSEQ (9))\r\n",
                "fetch: 7 9 11");

    r = tn_test_known("1:5,11", &n);
    (void) tn_mail_imap_qr_fetch(is, 2, r, n);
    tn_test_out(is, "* 2 FETCH (UID 5 FLAGS (\\Seen) MODSEQ (3))\r\n"
                    "* 5 FETCH (UID 11 FLAGS () MODSEQ (9))\r\n",
                "fetch: known 1:5,11");

    (void) tn_mail_imap_qr_fetch(is, 9, NULL, 0);
    tn_test_out(is, "", "fetch: none since 9");
}


int
main(void)
{
    tn_time_init();

    tn_test_pool = tn_create_pool(1024, &tn_test_log);
    if (tn_test_pool == NULL) {
        return 1;
    }

    tn_test_ranges();
    tn_test_vanished();
    tn_test_fetch();

    (void) tn_test_session();
    free(tn_test_is.msgs);
    free(tn_test_is.out);

    tn_destroy_pool(tn_test_pool);

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
