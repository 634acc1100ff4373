
/*
 * Copyright (C) The Tern developers
 *
 * Delivery status notifications (src/mail/tn_mail_out_dsn.c): notices
 * are written to temporary files and parsed back here (the header, the
 * multipart/report split on its boundary, each part's Content-Type, the
 * per-message and per-recipient fields of part 2, the returned bytes of
 * part 3 against the original), for a failure returning the whole
 * message, a failure and a delay with ORCPT, ENVID and RET=HDRS, a
 * message over the return limit, success notices, UTF-8 addresses, a
 * message and a diagnostic holding the first boundary candidate, hostile
 * values, a missing message, a failing write, and
 * tn_mail_out_dsn_wanted() for every NOTIFY value and action.
 *
 * Outside this test a notice can be checked with Python's email package
 * (or Perl's MIME::Parser from libmime-tools-perl, when installed):
 *   python3 -c 'import email,sys; m=email.message_from_binary_file(
 *       open(sys.argv[1],"rb")); print([p.get_content_type()
 *       for p in m.walk()])' NOTICE
 * gives ['multipart/report', 'text/plain', 'message/delivery-status',
 * 'message/rfc822', ...] for a failure that returns the message.
 */


#include <tn_config.h>
#include <tn_core.h>

#include <tn_mail_out_dsn.c>


#define TEST_MTA        "mail.sender.test"
#define TEST_SENDER     "alice@sender.test"
#define TEST_MSG        "From: Alice <alice@sender.test>\n"                  \
                        "To: bob@remote.test\n"                              \
                        "Subject: lunch\n"                                   \
                        "Message-ID: <m1@sender.test>\n"                     \
                        "\n"                                                 \
                        "Shall we meet at noon?\n"
#define TEST_MSG_HDR    "From: Alice <alice@sender.test>\n"                  \
                        "To: bob@remote.test\n"                              \
                        "Subject: lunch\n"                                   \
                        "Message-ID: <m1@sender.test>\n"
#define TEST_NOW        1795791845      /* 2026-11-27 */
#define TEST_PARTS      8
#define TEST_GROUPS     8


typedef struct {
    char          *head;          /* the part's header */
    size_t         head_len;
    char          *body;
    size_t         body_len;
} test_part_t;

typedef struct {
    char          *buf;           /* the whole notice, NUL-terminated */
    size_t         len;
    size_t         head_len;      /* the notice's header, with its LF */
    char           boundary[128];
    tn_uint_t      nparts;
    test_part_t    parts[TEST_PARTS];
    tn_uint_t      closed;        /* the close delimiter was found */
    tn_uint_t      ngroups;       /* part 2: per-message, per-recipient */
    char          *groups[TEST_GROUPS];
    size_t         group_lens[TEST_GROUPS];
} test_notice_t;


static tn_uint_t        tests;
static tn_uint_t        failed;
static char             tmpdir[] = "/tmp/tn-dsn-XXXXXX";
static char             logname[PATH_MAX];
static tn_open_file_t   logfile;
static tn_log_t         test_log;
static tn_uint_t        fake_calls;


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %u - %s\n", cond ? "" : "not ", (unsigned) tests, name);
    fflush(stdout);
}


static void
path_of(char *buf, const char *rel)
{
    snprintf(buf, PATH_MAX, "%s/%s", tmpdir, rel);
}


static int
write_file(const char *path, const void *data, size_t len)
{
    int  fd;

    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0600);
    if (fd == -1) {
        return -1;
    }

    if (write(fd, data, len) != (ssize_t) len) {
        close(fd);
        return -1;
    }

    return close(fd);
}


static int
log_has(const char *what)
{
    FILE  *f;
    char   line[4096];
    int    found;

    f = fopen(logname, "r");
    if (f == NULL) {
        return 0;
    }

    found = 0;

    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, what)) {
            found = 1;
        }
    }

    fclose(f);

    return found;
}


static tn_int_t
fake_rand(u_char *buf, size_t len)
{
    fake_calls++;
    memset(buf, (int) (0x10 + fake_calls), len);

    return TN_OK;
}


/* ---- building notices ---- */


static void
env_init(tn_store_queue_env_t *env, tn_store_queue_rcpt_t *qr,
    tn_uint_t n)
{
    tn_memzero(env, sizeof(tn_store_queue_env_t));
    tn_memzero(qr, n * sizeof(tn_store_queue_rcpt_t));

    strcpy(env->sender, TEST_SENDER);
    strcpy(env->id, "0690a1b2c3d4e.1234.1.5a5a5a5a");
    env->received = TEST_NOW - 3600;
    env->nrcpts = n;
    env->rcpts = qr;
}


static void
dsn_init(tn_mail_out_dsn_t *dsn, tn_store_queue_env_t *env,
    tn_mail_out_dsn_rcpt_t *r, tn_uint_t n, const char *msg_path)
{
    tn_memzero(dsn, sizeof(tn_mail_out_dsn_t));
    tn_memzero(r, n * sizeof(tn_mail_out_dsn_rcpt_t));

    dsn->reporting_mta.data = (u_char *) TEST_MTA;
    dsn->reporting_mta.len = sizeof(TEST_MTA) - 1;
    dsn->env = env;
    dsn->msg_path = msg_path;
    dsn->nrcpts = n;
    dsn->rcpts = r;
    dsn->return_limit = 1024 * 1024;
    dsn->now = TEST_NOW;
}


static void
rcpt_set(tn_mail_out_dsn_rcpt_t *r, tn_store_queue_rcpt_t *qr,
    const char *address, tn_uint_t action, const char *status,
    const char *diagnostic)
{
    strcpy(qr->address, address);
    r->rcpt = qr;
    r->action = action;
    r->status = status;
    r->diagnostic = diagnostic;
    r->remote_mta = "";
}


/* writes the notice into n, a new file per call; TN_OK or TN_ERROR */
static tn_int_t
notice_write(tn_mail_out_dsn_t *dsn, test_notice_t *n)
{
    int          fd;
    char         path[PATH_MAX];
    tn_int_t     rc;
    struct stat  st;

    tn_memzero(n, sizeof(test_notice_t));

    path_of(path, "notice");

    fd = open(path, O_RDWR|O_CREAT|O_TRUNC, 0600);
    if (fd == -1) {
        return TN_ERROR;
    }

    rc = tn_mail_out_dsn_write(fd, dsn, &test_log);

    if (rc != TN_OK || fstat(fd, &st) == -1) {
        close(fd);
        return TN_ERROR;
    }

    n->len = st.st_size;
    n->buf = malloc(n->len + 1);

    if (n->buf == NULL
        || pread(fd, n->buf, n->len, 0) != (ssize_t) n->len)
    {
        close(fd);
        return TN_ERROR;
    }

    n->buf[n->len] = '\0';
    close(fd);

    return TN_OK;
}


/* ---- parsing notices ---- */


/*
 * The unfolded value of the first field "name" in the header h[len], or
 * 0 if there is none: a field begins at the start of a line.
 */
static int
field(const char *h, size_t len, const char *name, char *out, size_t size)
{
    size_t       nlen, o;
    const char  *p, *last;

    nlen = strlen(name);
    last = h + len;

    for (p = h; p < last; p = (char *) memchr(p, '\n', last - p) + 1) {

        if ((size_t) (last - p) > nlen && p[nlen] == ':'
            && strncasecmp(p, name, nlen) == 0)
        {
            p += nlen + 1;

            while (p < last && *p == ' ') {
                p++;
            }

            o = 0;

            while (p < last) {
                if (*p == '\n') {
                    /* unfolding removes the line end only */
                    if (p + 1 < last && (p[1] == ' ' || p[1] == '\t')) {
                        p++;
                        continue;
                    }

                    break;
                }

                if (o + 1 < size) {
                    out[o++] = *p;
                }

                p++;
            }

            out[o] = '\0';
            return 1;
        }

        if (memchr(p, '\n', last - p) == NULL) {
            break;
        }
    }

    return 0;
}


/* whether the field has the value */
static int
field_is(const char *h, size_t len, const char *name, const char *value)
{
    char  v[2048];

    return field(h, len, name, v, sizeof(v)) && strcmp(v, value) == 0;
}


static int
field_has(const char *h, size_t len, const char *name, const char *what)
{
    char  v[2048];

    return field(h, len, name, v, sizeof(v)) && strstr(v, what) != NULL;
}


/* the header of the notice, its boundary, its parts and part 2's groups */
static int
notice_parse(test_notice_t *n)
{
    char         *p, *q, *e, *last, delim[160], ct[1024];
    size_t        dlen;
    test_part_t  *part;

    p = strstr(n->buf, "\n\n");
    if (p == NULL) {
        return 0;
    }

    n->head_len = p + 1 - n->buf;

    if (!field(n->buf, n->head_len, "Content-Type", ct, sizeof(ct))) {
        return 0;
    }

    q = strstr(ct, "boundary=\"");
    if (q == NULL) {
        return 0;
    }

    q += 10;
    e = strchr(q, '"');
    if (e == NULL || e - q >= (ptrdiff_t) sizeof(n->boundary)) {
        return 0;
    }

    memcpy(n->boundary, q, e - q);
    n->boundary[e - q] = '\0';

    dlen = snprintf(delim, sizeof(delim), "\n--%s", n->boundary);
    last = n->buf + n->len;

    /* from the LF that ends the header's empty line */
    q = memmem(p + 1, last - p - 1, delim, dlen);

    while (q != NULL) {
        q += dlen;

        if (last - q >= 3 && memcmp(q, "--\n", 3) == 0) {
            n->closed = (q + 3 == last);
            break;
        }

        if (q == last || *q != '\n' || n->nparts == TEST_PARTS) {
            return 0;
        }

        q++;
        part = &n->parts[n->nparts++];

        e = memmem(q, last - q, delim, dlen);
        if (e == NULL) {
            return 0;
        }

        /* the part's header ends at its first empty line */
        p = (q < e && *q == '\n') ? q : memmem(q, e - q, "\n\n", 2);
        if (p == NULL) {
            return 0;
        }

        part->head = q;
        part->head_len = (p == q) ? 0 : p + 1 - q;
        part->body = (p == q) ? q + 1 : p + 2;
        part->body_len = e > part->body ? e - part->body : 0;

        q = e;
    }

    if (n->nparts < 2) {
        return 1;
    }

    /* part 2: groups of fields, each after an empty line */

    part = &n->parts[1];
    p = part->body;
    last = part->body + part->body_len;

    while (p < last && n->ngroups < TEST_GROUPS) {
        q = memmem(p, last - p, "\n\n", 2);
        e = q ? q + 1 : last;

        n->groups[n->ngroups] = p;
        n->group_lens[n->ngroups] = e - p;
        n->ngroups++;

        p = q ? q + 2 : last;
    }

    return 1;
}


static int
part_type_is(test_notice_t *n, tn_uint_t i, const char *type)
{
    return i < n->nparts
           && field_is(n->parts[i].head, n->parts[i].head_len,
                       "Content-Type", type);
}


static int
group_is(test_notice_t *n, tn_uint_t g, const char *name, const char *value)
{
    return g < n->ngroups
           && field_is(n->groups[g], n->group_lens[g], name, value);
}


static int
group_lacks(test_notice_t *n, tn_uint_t g, const char *name)
{
    char  v[16];

    return g < n->ngroups
           && !field(n->groups[g], n->group_lens[g], name, v, sizeof(v));
}


static int
head_is(test_notice_t *n, const char *name, const char *value)
{
    return field_is(n->buf, n->head_len, name, value);
}


/* RFC 5322 date-time as Tern writes it: "Fri, 27 Nov 2026 15:04:05 +0100" */
static int
date_ok(const char *h, size_t len, const char *name)
{
    char  v[128];

    return field(h, len, name, v, sizeof(v)) && strlen(v) == 31
           && v[3] == ',' && v[4] == ' ' && v[7] == ' ' && v[11] == ' '
           && v[16] == ' ' && v[19] == ':' && v[22] == ':' && v[25] == ' '
           && (v[26] == '+' || v[26] == '-');
}


/* no CR, no NUL, no line longer than 998 octets before part 3 */
static int
lines_ok(test_notice_t *n)
{
    size_t   i, col, end;

    end = n->nparts > 2 ? (size_t) (n->parts[2].body - n->buf) : n->len;
    col = 0;

    for (i = 0; i < end; i++) {
        if (n->buf[i] == '\r' || n->buf[i] == '\0') {
            return 0;
        }

        if (n->buf[i] == '\n') {
            col = 0;
            continue;
        }

        if (++col > 998) {
            return 0;
        }
    }

    return 1;
}


static int
body_is(test_part_t *part, const char *data, size_t len)
{
    return part->body_len == len && memcmp(part->body, data, len) == 0;
}


static int
text_has(test_notice_t *n, const char *what)
{
    return n->nparts > 0
           && memmem(n->parts[0].body, n->parts[0].body_len, what,
                     strlen(what)) != NULL;
}


/* ---- the cases ---- */


static void
test_wanted(void)
{
    tn_uint_t  i, a, want, bad;

    static struct {
        tn_uint_t  notify;
        tn_uint_t  want[5];   /* by action: -, failed, delayed, delivered,
                                 relayed */
    } cases[] = {
        { 0,                                    { 0, 1, 1, 0, 0 } },
        { TN_QUEUE_NOTIFY_NEVER,                { 0, 0, 0, 0, 0 } },
        { TN_QUEUE_NOTIFY_SUCCESS,              { 0, 0, 0, 1, 1 } },
        { TN_QUEUE_NOTIFY_FAILURE,              { 0, 1, 0, 0, 0 } },
        { TN_QUEUE_NOTIFY_DELAY,                { 0, 0, 1, 0, 0 } },
        { TN_QUEUE_NOTIFY_SUCCESS|TN_QUEUE_NOTIFY_FAILURE,
                                                { 0, 1, 0, 1, 1 } },
        { TN_QUEUE_NOTIFY_SUCCESS|TN_QUEUE_NOTIFY_DELAY,
                                                { 0, 0, 1, 1, 1 } },
        { TN_QUEUE_NOTIFY_FAILURE|TN_QUEUE_NOTIFY_DELAY,
                                                { 0, 1, 1, 0, 0 } },
        { TN_QUEUE_NOTIFY_SUCCESS|TN_QUEUE_NOTIFY_FAILURE
          |TN_QUEUE_NOTIFY_DELAY,               { 0, 1, 1, 1, 1 } },
        /* the SMTP server refuses NEVER with others; NEVER wins */
        { TN_QUEUE_NOTIFY_NEVER|TN_QUEUE_NOTIFY_FAILURE
          |TN_QUEUE_NOTIFY_DELAY|TN_QUEUE_NOTIFY_SUCCESS,
                                                { 0, 0, 0, 0, 0 } },
    };

    bad = 0;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (a = 0; a <= TN_MAIL_OUT_DSN_RELAYED + 1; a++) {
            want = (a <= TN_MAIL_OUT_DSN_RELAYED) ? cases[i].want[a] : 0;

            if (tn_mail_out_dsn_wanted(cases[i].notify, a) != want) {
                printf("# notify 0x%x action %u: got %u\n",
                       (unsigned) cases[i].notify, (unsigned) a,
                       (unsigned) tn_mail_out_dsn_wanted(cases[i].notify,
                                                          a));
                bad++;
            }
        }
    }

    ok(bad == 0, "wanted: every NOTIFY value and action");
}


/* (a) one failed recipient, RET absent, a small message: all of it back */
static void
test_failed_full(const char *msg_path)
{
    char                     v[512];
    test_notice_t            n;
    tn_mail_out_dsn_t        dsn;
    tn_store_queue_env_t     env;
    tn_store_queue_rcpt_t    qr[1];
    tn_mail_out_dsn_rcpt_t   r[1];

    env_init(&env, qr, 1);
    dsn_init(&dsn, &env, r, 1, msg_path);
    rcpt_set(&r[0], &qr[0], "bob@remote.test", TN_MAIL_OUT_DSN_FAILED,
             "5.1.1", "mx.remote.test[192.0.2.1] said: 550 5.1.1 "
             "<bob@remote.test>: no such user (in reply to RCPT TO)");
    r[0].remote_mta = "mx.remote.test";
    r[0].last_attempt = TEST_NOW - 60;

    if (notice_write(&dsn, &n) != TN_OK || !notice_parse(&n)) {
        ok(0, "failed/full: written and parsed");
        free(n.buf);
        return;
    }

    ok(1, "failed/full: written and parsed");

    ok(head_is(&n, "From", "MAIL DELIVERY SYSTEM <MAILER-DAEMON@"
                           TEST_MTA ">")
       && head_is(&n, "To", "<" TEST_SENDER ">")
       && head_is(&n, "Subject", "Undelivered Mail Returned to Sender")
       && head_is(&n, "Auto-Submitted", "auto-replied")
       && head_is(&n, "MIME-Version", "1.0")
       && date_ok(n.buf, n.head_len, "Date"),
       "failed/full: From, To, Subject, Auto-Submitted, Date");

    ok(field(n.buf, n.head_len, "Message-ID", v, sizeof(v))
       && v[0] == '<' && strchr(v, ' ') == NULL
       && strstr(v, "@" TEST_MTA ">") != NULL
       && v[strlen(v) - 1] == '>',
       "failed/full: Message-ID");

    ok(field_has(n.buf, n.head_len, "Content-Type",
                 "multipart/report; report-type=delivery-status;")
       && strncmp(n.boundary, "=_tn.", 5) == 0
       && strlen(n.boundary) <= 70
       && !field(n.buf, n.head_len, "Content-Transfer-Encoding", v,
                 sizeof(v))
       && !dsn.body_8bit,
       "failed/full: multipart/report, boundary, 7bit");

    ok(n.nparts == 3 && n.closed, "failed/full: three parts, closed");

    ok(part_type_is(&n, 0, "text/plain; charset=utf-8")
       && text_has(&n, "\n<bob@remote.test>: mx.remote.test[192.0.2.1] "
                       "said: 550 5.1.1 <bob@remote.test>: no such user "
                       "(in reply to RCPT TO)\n")
       && text_has(&n, TEST_MTA)
       && text_has(&n, "Your message is attached."),
       "failed/full: part 1 text");

    ok(part_type_is(&n, 1, "message/delivery-status") && n.ngroups == 2,
       "failed/full: part 2 type, two groups");

    ok(group_is(&n, 0, "Reporting-MTA", "dns; " TEST_MTA)
       && group_is(&n, 0, "X-Tern-Queue-ID", env.id)
       && date_ok(n.groups[0], n.group_lens[0], "Arrival-Date")
       && group_lacks(&n, 0, "Original-Envelope-Id"),
       "failed/full: per-message fields");

    ok(group_is(&n, 1, "Final-Recipient", "rfc822; bob@remote.test")
       && group_is(&n, 1, "Action", "failed")
       && group_is(&n, 1, "Status", "5.1.1")
       && group_is(&n, 1, "Remote-MTA", "dns; mx.remote.test")
       && group_is(&n, 1, "Diagnostic-Code", "smtp; 550 5.1.1 "
                   "<bob@remote.test>: no such user (in reply to RCPT TO)")
       && date_ok(n.groups[1], n.group_lens[1], "Last-Attempt-Date")
       && group_lacks(&n, 1, "Original-Recipient")
       && group_lacks(&n, 1, "Will-Retry-Until"),
       "failed/full: per-recipient fields");

    ok(part_type_is(&n, 2, "message/rfc822")
       && body_is(&n.parts[2], TEST_MSG, sizeof(TEST_MSG) - 1),
       "failed/full: part 3 is the whole message");

    ok(lines_ok(&n), "failed/full: line ends and lengths");

    free(n.buf);
}


/* (b) a failure and a delay, ORCPT, ENVID, RET=HDRS */
static void
test_two_hdrs(const char *msg_path)
{
    test_notice_t            n;
    tn_mail_out_dsn_t        dsn;
    tn_store_queue_env_t     env;
    tn_store_queue_rcpt_t    qr[2];
    tn_mail_out_dsn_rcpt_t   r[2];

    env_init(&env, qr, 2);
    dsn_init(&dsn, &env, r, 2, msg_path);

    env.ret = TN_QUEUE_RET_HDRS;
    strcpy(env.envid, "QQ 314+=x");

    rcpt_set(&r[0], &qr[0], "bob@remote.test", TN_MAIL_OUT_DSN_FAILED,
             "5.2.2", "550 5.2.2 mailbox full");
    strcpy(qr[0].orcpt, "rfc822;Bob+2BList@remote.test");
    qr[0].notify = TN_QUEUE_NOTIFY_FAILURE;

    rcpt_set(&r[1], &qr[1], "carol@far.test", TN_MAIL_OUT_DSN_DELAYED,
             "4.4.1", "connect to mx.far.test[192.0.2.9]:25: Connection "
             "refused");
    strcpy(qr[1].orcpt, "rfc822;carol@far.test");
    r[1].last_attempt = TEST_NOW - 10;
    r[1].retry_until = TEST_NOW + 4 * 86400;

    if (notice_write(&dsn, &n) != TN_OK || !notice_parse(&n)) {
        ok(0, "two/hdrs: written and parsed");
        free(n.buf);
        return;
    }

    ok(1, "two/hdrs: written and parsed");

    ok(head_is(&n, "Subject", "Undelivered Mail Returned to Sender")
       && n.nparts == 3 && n.closed && n.ngroups == 3,
       "two/hdrs: failure subject, three parts, three groups");

    ok(group_is(&n, 0, "Original-Envelope-Id", "QQ+20314+2B+3Dx"),
       "two/hdrs: Original-Envelope-Id is xtext again");

    ok(group_is(&n, 1, "Original-Recipient", "rfc822; Bob+List@remote.test")
       && group_is(&n, 1, "Final-Recipient", "rfc822; bob@remote.test")
       && group_is(&n, 1, "Action", "failed")
       && group_is(&n, 1, "Status", "5.2.2")
       && group_is(&n, 1, "Diagnostic-Code", "smtp; 550 5.2.2 mailbox full")
       && group_lacks(&n, 1, "Remote-MTA")
       && group_lacks(&n, 1, "Last-Attempt-Date"),
       "two/hdrs: the failed recipient");

    ok(group_is(&n, 2, "Original-Recipient", "rfc822; carol@far.test")
       && group_is(&n, 2, "Final-Recipient", "rfc822; carol@far.test")
       && group_is(&n, 2, "Action", "delayed")
       && group_is(&n, 2, "Status", "4.4.1")
       && group_is(&n, 2, "Diagnostic-Code", "X-Tern; connect to "
                   "mx.far.test[192.0.2.9]:25: Connection refused")
       && date_ok(n.groups[2], n.group_lens[2], "Last-Attempt-Date")
       && date_ok(n.groups[2], n.group_lens[2], "Will-Retry-Until"),
       "two/hdrs: the delayed recipient");

    ok(text_has(&n, "<bob@remote.test>: 550 5.2.2 mailbox full\n")
       && text_has(&n, "<carol@far.test>: connect to")
       && text_has(&n, "has given up")
       && text_has(&n, "keeps trying until")
       && text_has(&n, "The header of your message is attached."),
       "two/hdrs: part 1 has both recipients");

    ok(part_type_is(&n, 2, "text/rfc822-headers")
       && body_is(&n.parts[2], TEST_MSG_HDR, sizeof(TEST_MSG_HDR) - 1),
       "two/hdrs: part 3 is the header");

    ok(lines_ok(&n), "two/hdrs: line ends and lengths");

    free(n.buf);
}


/* (c) RET absent and a message over the limit: the header only */
static void
test_large(void)
{
    char                     path[PATH_MAX], *msg, *p;
    size_t                   len;
    test_notice_t            n;
    tn_mail_out_dsn_t        dsn;
    tn_store_queue_env_t     env;
    tn_store_queue_rcpt_t    qr[1];
    tn_mail_out_dsn_rcpt_t   r[1];
    static const char        hdr[] = "From: alice@sender.test\n"
                                     "Subject: big\n";

    len = 200000;
    msg = malloc(len);
    if (msg == NULL) {
        ok(0, "large: memory");
        return;
    }

    p = msg;
    memcpy(p, hdr, sizeof(hdr) - 1);
    p += sizeof(hdr) - 1;
    *p++ = '\n';

    for ( /* void */ ; p < msg + len; p++) {
        *p = ((p - msg) % 73) ? 'a' + (p - msg) % 26 : '\n';
    }

    msg[len - 1] = '\n';

    path_of(path, "large.msg");

    if (write_file(path, msg, len) != 0) {
        ok(0, "large: message file");
        free(msg);
        return;
    }

    env_init(&env, qr, 1);
    dsn_init(&dsn, &env, r, 1, path);
    dsn.return_limit = 10000;
    rcpt_set(&r[0], &qr[0], "bob@remote.test", TN_MAIL_OUT_DSN_FAILED,
             "5.3.4", "552 5.3.4 message too big");

    ok(notice_write(&dsn, &n) == TN_OK && notice_parse(&n)
       && n.nparts == 3 && n.closed
       && part_type_is(&n, 2, "text/rfc822-headers")
       && body_is(&n.parts[2], hdr, sizeof(hdr) - 1)
       && text_has(&n, "larger than 10000 bytes"),
       "large: RET absent over the limit: header only, said so");

    free(n.buf);

    /* the same message with RET=FULL: all of it */

    env.ret = TN_QUEUE_RET_FULL;

    ok(notice_write(&dsn, &n) == TN_OK && notice_parse(&n)
       && part_type_is(&n, 2, "message/rfc822")
       && body_is(&n.parts[2], msg, len)
       && !text_has(&n, "larger than"),
       "large: RET=FULL returns all of it");

    free(n.buf);

    /* a limit the message is equal to: all of it */

    env.ret = 0;
    dsn.return_limit = len;

    ok(notice_write(&dsn, &n) == TN_OK && notice_parse(&n)
       && part_type_is(&n, 2, "message/rfc822")
       && body_is(&n.parts[2], msg, len),
       "large: RET absent at the limit returns all of it");

    free(n.buf);
    free(msg);
}


/* (d) success notices: the header only, whatever RET says */
static void
test_success(const char *msg_path)
{
    test_notice_t            n;
    tn_mail_out_dsn_t        dsn;
    tn_store_queue_env_t     env;
    tn_store_queue_rcpt_t    qr[2];
    tn_mail_out_dsn_rcpt_t   r[2];

    env_init(&env, qr, 2);
    dsn_init(&dsn, &env, r, 2, msg_path);

    rcpt_set(&r[0], &qr[0], "bob@remote.test", TN_MAIL_OUT_DSN_DELIVERED,
             "2.0.0", "250 2.0.0 Ok: queued as 4XYZ");
    qr[0].notify = TN_QUEUE_NOTIFY_SUCCESS;
    r[0].remote_mta = "mx.remote.test";

    rcpt_set(&r[1], &qr[1], "dave@old.test", TN_MAIL_OUT_DSN_RELAYED,
             NULL, "");
    qr[1].notify = TN_QUEUE_NOTIFY_SUCCESS|TN_QUEUE_NOTIFY_FAILURE;

    if (notice_write(&dsn, &n) != TN_OK || !notice_parse(&n)) {
        ok(0, "success: written and parsed");
        free(n.buf);
        return;
    }

    ok(head_is(&n, "Subject", "Successful Mail Delivery Report")
       && n.nparts == 3 && n.closed && n.ngroups == 3,
       "success: subject, three parts");

    ok(group_is(&n, 1, "Action", "delivered")
       && group_is(&n, 1, "Status", "2.0.0")
       && group_is(&n, 1, "Diagnostic-Code", "smtp; 250 2.0.0 Ok: queued "
                   "as 4XYZ")
       && group_is(&n, 2, "Final-Recipient", "rfc822; dave@old.test")
       && group_is(&n, 2, "Action", "relayed")
       && group_is(&n, 2, "Status", "2.0.0")
       && group_lacks(&n, 2, "Diagnostic-Code"),
       "success: delivered and relayed recipients");

    ok(text_has(&n, "It was delivered")
       && text_has(&n, "\n<dave@old.test>\n")
       && part_type_is(&n, 2, "text/rfc822-headers")
       && body_is(&n.parts[2], TEST_MSG_HDR, sizeof(TEST_MSG_HDR) - 1),
       "success: RET absent: the header only");

    free(n.buf);

    env.ret = TN_QUEUE_RET_FULL;

    ok(notice_write(&dsn, &n) == TN_OK && notice_parse(&n)
       && part_type_is(&n, 2, "text/rfc822-headers")
       && body_is(&n.parts[2], TEST_MSG_HDR, sizeof(TEST_MSG_HDR) - 1),
       "success: RET=FULL: the header only (RFC 3461 4.3)");

    free(n.buf);

    /* a delay alone: its subject, the header only */

    r[0].action = TN_MAIL_OUT_DSN_DELAYED;
    r[0].status = "4.2.1";
    r[1].action = TN_MAIL_OUT_DSN_DELAYED;
    r[1].status = "4.4.7";

    ok(notice_write(&dsn, &n) == TN_OK && notice_parse(&n)
       && head_is(&n, "Subject", "Delayed Mail (still being retried)")
       && group_lacks(&n, 1, "Will-Retry-Until")
       && part_type_is(&n, 2, "text/rfc822-headers"),
       "delay: subject, no Will-Retry-Until without a date, header only");

    free(n.buf);
}


/* (e) UTF-8 sender and recipient of an SMTPUTF8 message */
static void
test_utf8(void)
{
    char                     path[PATH_MAX];
    test_notice_t            n;
    tn_mail_out_dsn_t        dsn;
    tn_store_queue_env_t     env;
    tn_store_queue_rcpt_t    qr[2];
    tn_mail_out_dsn_rcpt_t   r[2];
    static const char        msg[] = "From: J\xc3\xbcrgen "
                                     "<j\xc3\xbcrgen@sender.test>\n"
                                     "Subject: Gr\xc3\xbc\xc3\x9f" "e\n"
                                     "\n"
                                     "Hall\xc3\xb6\n";

    path_of(path, "utf8.msg");

    if (write_file(path, msg, sizeof(msg) - 1) != 0) {
        ok(0, "utf8: message file");
        return;
    }

    env_init(&env, qr, 2);
    dsn_init(&dsn, &env, r, 2, path);
    strcpy(env.sender, "j\xc3\xbcrgen@sender.test");
    env.smtputf8 = 1;
    env.body_8bit = 1;

    rcpt_set(&r[0], &qr[0], "\xe7\x94\xa8\xe6\x88\xb7@remote.test",
             TN_MAIL_OUT_DSN_FAILED, "5.1.1", "550 5.1.1 unknown");
    strcpy(qr[0].orcpt, "utf-8;\\x{7528}\\x{6237}@remote.test");

    rcpt_set(&r[1], &qr[1], "bob@remote.test", TN_MAIL_OUT_DSN_FAILED,
             "5.1.1", "550 5.1.1 unknown");

    if (notice_write(&dsn, &n) != TN_OK || !notice_parse(&n)) {
        ok(0, "utf8: written and parsed");
        free(n.buf);
        return;
    }

    ok(head_is(&n, "To", "<j\xc3\xbcrgen@sender.test>")
       && field_has(n.buf, n.head_len, "Content-Type",
                    "report-type=global-delivery-status;")
       && head_is(&n, "Content-Transfer-Encoding", "8bit")
       && dsn.body_8bit,
       "utf8: To, global report type, 8bit");

    ok(part_type_is(&n, 0, "text/plain; charset=utf-8")
       && text_has(&n, "\n<\xe7\x94\xa8\xe6\x88\xb7@remote.test>: 550 5.1.1 "
                       "unknown\n"),
       "utf8: part 1 has the UTF-8 address");

    ok(part_type_is(&n, 1, "message/global-delivery-status")
       && group_is(&n, 1, "Original-Recipient",
                   "utf-8; \\x{7528}\\x{6237}@remote.test")
       && group_is(&n, 1, "Final-Recipient",
                   "utf-8; \xe7\x94\xa8\xe6\x88\xb7@remote.test")
       && group_is(&n, 2, "Final-Recipient", "rfc822; bob@remote.test"),
       "utf8: message/global-delivery-status, utf-8 address type");

    ok(part_type_is(&n, 2, "message/global")
       && field_is(n.parts[2].head, n.parts[2].head_len,
                   "Content-Transfer-Encoding", "8bit")
       && body_is(&n.parts[2], msg, sizeof(msg) - 1),
       "utf8: part 3 message/global, the whole message");

    free(n.buf);

    env.ret = TN_QUEUE_RET_HDRS;

    ok(notice_write(&dsn, &n) == TN_OK && notice_parse(&n)
       && part_type_is(&n, 2, "message/global-headers")
       && body_is(&n.parts[2], msg, strstr(msg, "\n\n") + 1 - msg),
       "utf8: RET=HDRS: message/global-headers");

    free(n.buf);
}


/* an 8-bit body of a message with ASCII addresses */
static void
test_8bit(void)
{
    char                     path[PATH_MAX], v[64];
    test_notice_t            n;
    tn_mail_out_dsn_t        dsn;
    tn_store_queue_env_t     env;
    tn_store_queue_rcpt_t    qr[1];
    tn_mail_out_dsn_rcpt_t   r[1];
    static const char        msg[] = "Subject: menu\n\ncaf\xc3\xa9\n";

    path_of(path, "8bit.msg");

    if (write_file(path, msg, sizeof(msg) - 1) != 0) {
        ok(0, "8bit: message file");
        return;
    }

    env_init(&env, qr, 1);
    dsn_init(&dsn, &env, r, 1, path);
    env.body_8bit = 1;
    rcpt_set(&r[0], &qr[0], "bob@remote.test", TN_MAIL_OUT_DSN_FAILED,
             "5.1.1", "550 5.1.1 unknown");

    ok(notice_write(&dsn, &n) == TN_OK && notice_parse(&n)
       && dsn.body_8bit
       && head_is(&n, "Content-Transfer-Encoding", "8bit")
       && field_has(n.buf, n.head_len, "Content-Type",
                    "report-type=delivery-status;")
       && !field(n.parts[0].head, n.parts[0].head_len,
                 "Content-Transfer-Encoding", v, sizeof(v))
       && part_type_is(&n, 1, "message/delivery-status")
       && part_type_is(&n, 2, "message/rfc822")
       && field_is(n.parts[2].head, n.parts[2].head_len,
                   "Content-Transfer-Encoding", "8bit")
       && body_is(&n.parts[2], msg, sizeof(msg) - 1),
       "8bit: an 8-bit message is returned as 8bit, ASCII report");

    free(n.buf);
}


/* (f) the first boundary candidate in the message, then in a diagnostic */
static void
test_boundary(void)
{
    u_char                   first[TN_MAIL_OUT_DSN_BOUNDARY_MAX];
    char                     path[PATH_MAX], msg[512];
    size_t                   blen, mlen;
    tn_uint_t                counter;
    test_notice_t            n;
    tn_mail_out_dsn_t        dsn;
    tn_store_queue_env_t     env;
    tn_store_queue_rcpt_t    qr[1];
    tn_mail_out_dsn_rcpt_t   r[1];

    tn_mail_out_dsn_rand = fake_rand;

    /* the candidate that the next call of tn_mail_out_dsn_write() makes */

    counter = tn_mail_out_dsn_counter;
    fake_calls = 0;
    tn_mail_out_dsn_boundary(first, &blen);

    mlen = snprintf(msg, sizeof(msg), "Subject: tricky\n\nbefore\n--%s\n"
                    "Content-Type: text/plain\n\ninjected\n--%s--\n",
                    first, first);

    path_of(path, "boundary.msg");

    if (write_file(path, msg, mlen) != 0) {
        ok(0, "boundary: message file");
        return;
    }

    env_init(&env, qr, 1);
    dsn_init(&dsn, &env, r, 1, path);
    rcpt_set(&r[0], &qr[0], "bob@remote.test", TN_MAIL_OUT_DSN_FAILED,
             "5.1.1", "550 5.1.1 unknown");

    tn_mail_out_dsn_counter = counter;
    fake_calls = 0;

    ok(notice_write(&dsn, &n) == TN_OK && notice_parse(&n)
       && strcmp(n.boundary, (char *) first) != 0
       && fake_calls >= 2
       && memmem(msg, mlen, n.boundary, strlen(n.boundary)) == NULL
       && n.nparts == 3 && n.closed
       && body_is(&n.parts[2], msg, mlen),
       "boundary: a candidate in the message is not taken");

    free(n.buf);

    /* the same candidate in a diagnostic */

    write_file(path, TEST_MSG, sizeof(TEST_MSG) - 1);
    snprintf(msg, sizeof(msg), "550 5.7.1 --%s", first);
    r[0].diagnostic = msg;

    tn_mail_out_dsn_counter = counter;
    fake_calls = 0;

    ok(notice_write(&dsn, &n) == TN_OK && notice_parse(&n)
       && strcmp(n.boundary, (char *) first) != 0
       && n.nparts == 3 && n.closed,
       "boundary: a candidate in a diagnostic is not taken");

    free(n.buf);

    tn_mail_out_dsn_rand = tn_mail_out_dsn_random;
}


/* values with control bytes, a long diagnostic, odd status codes */
static void
test_hostile(const char *msg_path)
{
    char                     diag[600], v[1024];
    size_t                   i;
    test_notice_t            n;
    tn_mail_out_dsn_t        dsn;
    tn_store_queue_env_t     env;
    tn_store_queue_rcpt_t    qr[2];
    tn_mail_out_dsn_rcpt_t   r[2];

    env_init(&env, qr, 2);
    dsn_init(&dsn, &env, r, 2, msg_path);

    rcpt_set(&r[0], &qr[0], "bob@remote.test", TN_MAIL_OUT_DSN_FAILED,
             "5.1.1\nX-Evil: 1", "550 5.1.1 a\r\nX-Injected: yes\n\n--x");
    strcpy(qr[0].orcpt, "rfc822;a+0AX-Evil:+20yes");
    r[0].remote_mta = "mx\n.remote.test";

    /* 511 bytes of words: folded below 78 columns, nothing lost */

    for (i = 0; i < 511; i++) {
        diag[i] = (i % 9 == 8) ? ' ' : 'a' + i % 26;
    }

    memcpy(diag, "451 4.3.0 ", 10);
    diag[511] = '\0';

    rcpt_set(&r[1], &qr[1], "carol@far.test", TN_MAIL_OUT_DSN_DELAYED,
             "4.3", diag);
    r[1].retry_until = TEST_NOW + 86400;

    if (notice_write(&dsn, &n) != TN_OK || !notice_parse(&n)) {
        ok(0, "hostile: written and parsed");
        free(n.buf);
        return;
    }

    ok(strstr(n.buf, "\nX-Evil") == NULL
       && strstr(n.buf, "\nX-Injected") == NULL
       && strchr(n.buf, '\r') == NULL,
       "hostile: no injected lines");

    ok(group_is(&n, 1, "Status", "5.0.0")
       && group_is(&n, 1, "Original-Recipient", "rfc822; a?X-Evil: yes")
       && group_is(&n, 1, "Remote-MTA", "dns; mx?.remote.test")
       && group_is(&n, 1, "Diagnostic-Code",
                   "smtp; 550 5.1.1 a??X-Injected: yes?" "?--x")
       && group_is(&n, 2, "Status", "4.0.0"),
       "hostile: control bytes became '?', bad status codes replaced");

    ok(field(n.groups[2], n.group_lens[2], "Diagnostic-Code", v, sizeof(v))
       && strcmp(v + 6, diag) == 0 && strncmp(v, "smtp; ", 6) == 0
       && memmem(n.groups[2], n.group_lens[2], "\n ", 2) != NULL,
       "hostile: a long diagnostic is folded and unfolds to itself");

    ok(lines_ok(&n), "hostile: line ends and lengths");

    free(n.buf);

    /* what the write refuses */

    r[0].status = "5.1.1";
    env.sender[0] = '\0';
    errno = 0;

    ok(notice_write(&dsn, &n) == TN_ERROR && errno == EINVAL,
       "hostile: no notice for the null sender");

    free(n.buf);

    strcpy(env.sender, TEST_SENDER);
    r[1].action = 9;
    errno = 0;

    ok(notice_write(&dsn, &n) == TN_ERROR && errno == EINVAL,
       "hostile: an unknown action is refused");

    free(n.buf);
}


/* a missing message file: no part 3; a failing write: TN_ERROR, errno */
static void
test_errors(void)
{
    int                      fd;
    char                     path[PATH_MAX];
    test_notice_t            n;
    tn_mail_out_dsn_t        dsn;
    tn_store_queue_env_t     env;
    tn_store_queue_rcpt_t    qr[1];
    tn_mail_out_dsn_rcpt_t   r[1];

    path_of(path, "gone.msg");

    env_init(&env, qr, 1);
    dsn_init(&dsn, &env, r, 1, path);
    rcpt_set(&r[0], &qr[0], "bob@remote.test", TN_MAIL_OUT_DSN_FAILED,
             "5.4.4", "");

    ok(notice_write(&dsn, &n) == TN_OK && notice_parse(&n)
       && n.nparts == 2 && n.closed
       && text_has(&n, "could not be attached")
       && text_has(&n, "\n<bob@remote.test>\n")
       && log_has("gone.msg"),
       "errors: a missing message leaves part 3 out, logged");

    free(n.buf);

    /* a read-only descriptor: every write fails */

    path_of(path, "readonly");
    write_file(path, "", 0);
    fd = open(path, O_RDONLY);

    dsn.msg_path = NULL;
    errno = 0;

    ok(fd != -1 && tn_mail_out_dsn_write(fd, &dsn, &test_log) == TN_ERROR
       && errno == EBADF,
       "errors: a failing write gives TN_ERROR with errno");

    if (fd != -1) {
        close(fd);
    }
}


int
main(void)
{
    char  msg_path[PATH_MAX], buf[2 * PATH_MAX + 32];

    tn_pagesize = getpagesize();
    tn_time_init();
    tn_use_stderr = 0;

    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }

    snprintf(logname, sizeof(logname), "%s.log", tmpdir);

    logfile.fd = open(logname, O_WRONLY|O_CREAT|O_APPEND, 0600);
    logfile.name.len = 0;
    logfile.name.data = NULL;

    tn_memzero(&test_log, sizeof(tn_log_t));
    test_log.file = &logfile;
    test_log.log_level = TN_LOG_INFO;

    path_of(msg_path, "small.msg");

    if (write_file(msg_path, TEST_MSG, sizeof(TEST_MSG) - 1) != 0) {
        printf("Bail out! message file\n");
        return 1;
    }

    test_wanted();
    test_failed_full(msg_path);
    test_two_hdrs(msg_path);
    test_large();
    test_success(msg_path);
    test_utf8();
    test_8bit();
    test_boundary();
    test_hostile(msg_path);
    test_errors();

    ok(!log_has("[alert]") && !log_has("[emerg]"), "no alerts in the log");

    printf("1..%u\n", (unsigned) tests);
    fflush(stdout);

    if (failed == 0) {
        snprintf(buf, sizeof(buf), "rm -rf '%s' '%s'", tmpdir, logname);
        (void) system(buf);
    }

    return failed ? 1 : 0;
}
