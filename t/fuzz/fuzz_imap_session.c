
/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for whole IMAP sessions (SECURITY-CHECKLIST 0.9):
 * the input is what a client sends to a real IMAP server -- LOGIN and
 * AUTHENTICATE PLAIN against the store, then SELECT/EXAMINE, FETCH,
 * SEARCH, SORT, STORE, APPEND, COPY, MOVE, EXPUNGE, CREATE, RENAME,
 * DELETE, LIST, STATUS, IDLE, STARTTLS and the rest -- run by the
 * worker's event loop with the store and thread pool behind it (see
 * fuzz_session.h for the input's flags and how a session is run and
 * judged).
 *
 * The first server allows plain-text logins; the second
 * (TN_FUZZ_STRICT) only under TLS (STARTTLS and the TN_FUZZ_TLS flag),
 * with the smallest line, literal and APPEND limits, 3 errors, one idle
 * session and a 60 s auth_failure_delay (which passes when the loop is
 * idle).  user@example.test (password "secret") has an INBOX of six
 * messages (plain, MIME multipart with a nested message, RFC 2047 and
 * UTF-8 headers, a bare CR, 56 KB, a header alone) with flags and
 * keywords, the special-use folders (Sent, Drafts, Trash, Junk,
 * Archive), Work/2026 (copies of two messages) and Projects;
 * b@example.test ("pw") has one message.  These Maildirs are copied
 * aside once made, and put back after each session that may have changed
 * them (the SQLite connections of every thread closed first), so that
 * every input meets the same mailboxes, UIDs and flags.
 *
 * TN_FUZZ_OTHER: before the session another tool changed user@'s INBOX
 * behind the index's back: a message file appeared in new/ and the
 * first one there (by name) went, as the store's Maildir sync must
 * notice.  The store's change notices across sessions are not set up
 * (tn_init_cycle() runs in test mode, and their 200 ms timer would never
 * let the harness's time pass to the session's own timers).
 *
 * The output must be CRLF lines, except the octets of a literal: a line
 * ending in "{N}" (or "~{N}") is followed by N octets of any kind, and
 * then the response goes on.  The first line is "* OK", "* PREAUTH" or
 * "* BYE"; every other line is untagged ("* "), a continuation ("+") or
 * tagged: "tag OK|NO|BAD text", the tag being one that starts a line of
 * the input, later in the input than the tag of the tagged line before
 * it (commands are answered in order, each once).  The session must not
 * end inside a literal or a response.
 */


#include "fuzz_session.h"

#include <tn_store_imap.h>
#include <tn_store_db.h>
#include <tn_mail_imap.h>

#include <pthread.h>


#define TN_FUZZ_IMAP_BIG_LINES  800

/* the line check's states (fs->state) */
#define TN_FUZZ_IMAP_LINE       0
#define TN_FUZZ_IMAP_AFTER_LIT  1     /* a response goes on after a literal */


static tn_int_t tn_fuzz_imap_setup(tn_store_conf_t *scf);
static const char *tn_fuzz_imap_line(tn_fuzz_sess_t *fs, tn_uint_t n,
    u_char *p, size_t len);
static void tn_fuzz_imap_prepare(tn_fuzz_sess_t *fs);
static void tn_fuzz_imap_cleanup(tn_fuzz_sess_t *fs, tn_store_conf_t *scf);


static tn_fuzz_proto_t  tn_fuzz_imap = {
    "imap_session",

    "    server {\n"
    "        listen 127.0.0.1:143;\n"
    "        protocol imap;\n"
    "        imap_auth_plaintext on;\n"
    TN_FUZZ_TLS_CONF
    "    }\n"
    "    server {\n"
    "        listen 127.0.0.1:144;\n"
    "        protocol imap;\n"
    "        imap_client_buffer 4096;\n"
    "        imap_max_line 8192;\n"
    "        imap_max_literal 1024;\n"
    "        imap_max_append 2048;\n"
    "        imap_max_idle_sessions 1;\n"
    "        max_errors 3;\n"
    "        auth_failure_delay 60s;\n"
    TN_FUZZ_TLS_CONF
    "    }\n",

    tn_fuzz_imap_setup,
    tn_fuzz_imap_line,
    tn_fuzz_imap_prepare,
    tn_fuzz_imap_cleanup
};


/* user@'s INBOX */
static const char  *tn_fuzz_imap_msgs[] = {
    "From: Alice <alice@example.net>\n"
    "To: user@example.test, \"Bob B.\" <bob@example.net>\n"
    "Cc: carol@example.org\n"
    "Subject: hello there\n"
    "Date: Tue, 24 Nov 2026 10:00:00 +0100\n"
    "Message-ID: <1@example.net>\n"
    "\n"
    "Hello, a plain message.\n",

    "From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.net>\n"
    "To: undisclosed-recipients:;\n"
    "Subject: =?ISO-8859-1?Q?caf=E9?= and more\n"
    "Date: Wed, 25 Nov 2026 23:59:59 -0800\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\n"
    "\n"
    "preamble\n"
    "--XX\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "caf=C3=A9 =\n"
    "soft break\n"
    "--XX\n"
    "Content-Type: application/octet-stream; name=\"a.bin\"\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-Disposition: attachment; filename*=UTF-8''%C3%A9.bin\n"
    "\n"
    "AAECAwQFBgcICQ==\n"
    "--XX\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: inner@example.com\n"
    "Subject: inner\n"
    "\n"
    "inner body\n"
    "--XX--\n"
    "epilogue\n",

    "From: x@example.com\n"
    "Subject: a bare\rCR in the header\n"
    "\n"
    "and in the\rbody, no final newline",

    NULL,                               /* the big one, made at setup */

    "Subject: a header alone\n",

    "From: \"Ünïcode\" <ü@exämple.test>\n"
    "Subject: UTF-8 header Grüße\n"
    "Date: garbage\n"
    "Content-Type: text/html; charset=utf-8\n"
    "\n"
    "<p>Grüße</p>\n",
};

#define TN_FUZZ_IMAP_NMSGS                                                   \
    (sizeof(tn_fuzz_imap_msgs) / sizeof(tn_fuzz_imap_msgs[0]))

/* the Maildirs the harness puts back, and where their copies are */
static const tn_uint_t  tn_fuzz_imap_users[] = { 0, 1, 2 };

#define TN_FUZZ_IMAP_NUSERS                                                  \
    (sizeof(tn_fuzz_imap_users) / sizeof(tn_fuzz_imap_users[0]))

static char             tn_fuzz_imap_saved[TN_FUZZ_IMAP_NUSERS][PATH_MAX];

/* what the client sends (the marks taken out), for the tags */
static u_char           tn_fuzz_imap_in[TN_FUZZ_MAX];
static size_t           tn_fuzz_imap_in_len;
/* TN_FUZZ_TLS: where the TLS stream starts (a line starts), or -1 */
static size_t           tn_fuzz_imap_in_tls;

static pthread_barrier_t  tn_fuzz_imap_barrier;


/* one message delivered to one user, as tn_mail_smtp_deliver() does */

static tn_int_t
tn_fuzz_imap_deliver(tn_store_conf_t *scf, tn_store_user_t *u,
    const char *body)
{
    size_t                 i, len;
    ssize_t                n;
    tn_fd_t                fd;
    uint32_t               uid;
    tn_store_delivery_t    d, *dp;

    tn_memzero(&d, sizeof(tn_store_delivery_t));

    fd = tn_store_spool_create(scf, d.spool_path, tn_fuzz_log);
    if (fd == TN_INVALID_FILE) {
        return TN_ERROR;
    }

    len = strlen(body);

    n = write(fd, body, len);

    if (close(fd) == -1 || n != (ssize_t) len) {
        (void) unlink(d.spool_path);
        return TN_ERROR;
    }

    d.size = len;
    d.vsize = len;

    for (i = 0; i < len; i++) {
        if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) {
            d.vsize++;
        }
    }

    d.internaldate = 1795000000;
    d.nrcpts = 1;
    d.rcpts = u;
    d.uids = &uid;

    dp = &d;
    tn_store_deliver(scf, &dp, 1, tn_fuzz_log);

    return d.rc;
}


/* a copy of a directory tree (regular files and directories) */

static tn_int_t
tn_fuzz_imap_copy(const char *from, const char *to)
{
    DIR            *d;
    int             in, out;
    char            src[PATH_MAX], dst[PATH_MAX], buf[8192];
    ssize_t         n;
    struct stat     sb;
    struct dirent  *de;

    if (mkdir(to, 0700) == -1 && errno != EEXIST) {
        return TN_ERROR;
    }

    d = opendir(from);
    if (d == NULL) {
        return TN_ERROR;
    }

    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }

        snprintf(src, sizeof(src), "%s/%s", from, de->d_name);
        snprintf(dst, sizeof(dst), "%s/%s", to, de->d_name);

        if (lstat(src, &sb) == -1) {
            closedir(d);
            return TN_ERROR;
        }

        if (S_ISDIR(sb.st_mode)) {
            if (tn_fuzz_imap_copy(src, dst) != TN_OK) {
                closedir(d);
                return TN_ERROR;
            }

            continue;
        }

        if (!S_ISREG(sb.st_mode)) {
            continue;
        }

        in = open(src, O_RDONLY|O_CLOEXEC);
        out = open(dst, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0600);

        while (in != -1 && out != -1
               && (n = read(in, buf, sizeof(buf))) > 0)
        {
            if (write(out, buf, n) != n) {
                break;
            }
        }

        if (in != -1) {
            close(in);
        }

        if (out == -1 || close(out) == -1 || in == -1) {
            closedir(d);
            return TN_ERROR;
        }
    }

    closedir(d);

    return TN_OK;
}


static void
tn_fuzz_imap_rmtree(const char *path)
{
    (void) nftw(path, tn_fuzz_rm, 16, FTW_DEPTH|FTW_PHYS);
}


/*
 * Every thread closes the SQLite connections it keeps: the files are
 * about to be replaced.  Each pool thread takes one task and waits at
 * the barrier for the other, so that no thread takes both.
 */

static void
tn_fuzz_imap_close_handler(void *data, tn_log_t *log)
{
    tn_store_db_close_all();

    (void) pthread_barrier_wait(&tn_fuzz_imap_barrier);
}


static void
tn_fuzz_imap_close_done(tn_event_t *ev)
{
    tn_thread_task_free(ev->data);
}


static void
tn_fuzz_imap_close_all(tn_fuzz_sess_t *fs)
{
    tn_uint_t          i, n;
    tn_thread_task_t  *task;

    tn_store_db_close_all();

    for (i = 0; i < 2; i++) {
        task = tn_thread_task_alloc(0, tn_fuzz_log);
        if (task == NULL) {
            tn_fuzz_fail(NULL, "no memory");
        }

        task->handler = tn_fuzz_imap_close_handler;
        task->event.handler = tn_fuzz_imap_close_done;
        task->event.data = task;

        if (tn_thread_task_post(task) != TN_OK) {
            tn_fuzz_fail(NULL, "a task cannot be posted");
        }
    }

    for (n = 0; tn_fuzz_busy(); n++) {
        if (n == TN_FUZZ_MAX_TURNS) {
            tn_fuzz_fail(NULL, "the closing tasks do not complete");
        }

        if (tn_fuzz_tick.timer_set) {
            tn_event_del_timer(&tn_fuzz_tick);
        }

        tn_event_add_timer(&tn_fuzz_tick, 100);
        tn_process_events_and_timers(tn_fuzz_cycle);
    }

    if (tn_fuzz_tick.timer_set) {
        tn_event_del_timer(&tn_fuzz_tick);
    }
}


/* the Maildirs as they were made at setup */

static void
tn_fuzz_imap_restore(tn_fuzz_sess_t *fs)
{
    tn_uint_t         i;
    tn_store_user_t  *u;

    tn_fuzz_imap_close_all(fs);

    for (i = 0; i < TN_FUZZ_IMAP_NUSERS; i++) {
        u = &tn_fuzz_user[tn_fuzz_imap_users[i]];

        tn_fuzz_imap_rmtree(u->maildir);

        if (tn_fuzz_imap_saved[i][0] == '\0') {
            continue;
        }

        if (tn_fuzz_imap_copy(tn_fuzz_imap_saved[i], u->maildir) != TN_OK) {
            tn_fuzz_fail(NULL, "a Maildir cannot be put back");
        }
    }
}


static tn_int_t
tn_fuzz_imap_folder(tn_store_conf_t *scf, tn_store_user_t *u,
    const char *name)
{
    tn_str_t     n;
    const char  *reason;

    n.data = (u_char *) name;
    n.len = strlen(name);
    reason = NULL;

    if (tn_store_mbox_create(scf, u, &n, TN_STORE_SPECIAL_NONE, &reason,
                             tn_fuzz_log)
        != TN_OK)
    {
        return TN_ERROR;
    }

    return tn_store_mbox_subscribe(scf, u, &n, 1, &reason, tn_fuzz_log);
}


/*
 * The special-use mailboxes (made at the first LIST), flags and
 * keywords on INBOX (left in new/: \Recent to the first SELECT), and a
 * copy of two messages in Work/2026.
 */

static tn_int_t
tn_fuzz_imap_flags(tn_store_conf_t *scf, tn_store_user_t *u)
{
    uint32_t            uids[2], *src, *dst, *failed, uidvalidity;
    tn_int_t            rc;
    tn_str_t            inbox, work, kw[2];
    tn_uint_t           nout, nfailed;
    tn_pool_t          *pool;
    tn_array_t         *list;
    const char         *reason;
    tn_store_imsg_t    *out;
    tn_store_mbox_t     mb;
    tn_store_flag_op_t  op;

    pool = tn_create_pool(4096, tn_fuzz_log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    tn_str_set(&inbox, "INBOX");
    tn_str_set(&work, "Work/2026");
    tn_str_set(&kw[0], "$Junk");
    tn_str_set(&kw[1], "Project-X");
    reason = NULL;

    rc = tn_store_mbox_list(scf, u, pool, 0, &list, tn_fuzz_log);

    if (rc == TN_OK) {
        rc = tn_store_mbox_open(scf, u, &inbox, 1, &mb, &reason,
                                tn_fuzz_log);
    }

    if (rc != TN_OK) {
        tn_destroy_pool(pool);
        return TN_ERROR;
    }

    uids[0] = 1;
    uids[1] = 2;

    tn_memzero(&op, sizeof(tn_store_flag_op_t));
    op.op = TN_STORE_FLAGS_ADD;
    op.flags = TN_STORE_F_SEEN|TN_STORE_F_ANSWERED;
    op.kw = kw;
    op.nkw = 2;

    rc = tn_store_mbox_store(scf, u, mb.info.id, uids, 1, &op, pool, &out,
                             &nout, &failed, &nfailed, &reason, tn_fuzz_log);

    if (rc == TN_OK) {
        uids[0] = 5;
        op.flags = TN_STORE_F_DELETED|TN_STORE_F_FLAGGED;
        op.nkw = 1;

        rc = tn_store_mbox_store(scf, u, mb.info.id, uids, 1, &op, pool,
                                 &out, &nout, &failed, &nfailed, &reason,
                                 tn_fuzz_log);
    }

    if (rc == TN_OK) {
        uids[0] = 1;

        rc = tn_store_mbox_copy(scf, u, mb.info.id, uids, 2, &work, 0, pool,
                                &src, &dst, &nout, &uidvalidity, &reason,
                                tn_fuzz_log);
    }

    tn_store_mbox_free(&mb);
    tn_destroy_pool(pool);

    return rc;
}


static tn_int_t
tn_fuzz_imap_setup(tn_store_conf_t *scf)
{
    u_char           *big, *p;
    tn_uint_t         i;
    struct stat       sb;
    tn_store_user_t  *u;

    big = malloc(TN_FUZZ_IMAP_BIG_LINES * 80 + 128);
    if (big == NULL) {
        return TN_ERROR;
    }

    p = tn_cpymem(big, "Subject: big\nContent-Type: text/plain\n\n",
                  sizeof("Subject: big\nContent-Type: text/plain\n\n") - 1);

    for (i = 0; i < TN_FUZZ_IMAP_BIG_LINES; i++) {
        p = tn_sprintf(p, "%04ui %*s\n", i, (size_t) 64,
                       "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
                       "yyyyyyyyyyyyyyyy");
    }

    *p = '\0';

    /* lives as long as the process */
    tn_fuzz_imap_msgs[3] = (char *) big;

    u = &tn_fuzz_user[0];

    for (i = 0; i < TN_FUZZ_IMAP_NMSGS; i++) {
        if (tn_fuzz_imap_deliver(scf, u, tn_fuzz_imap_msgs[i]) != TN_OK) {
            return TN_ERROR;
        }
    }

    if (tn_fuzz_imap_deliver(scf, &tn_fuzz_user[2],
                             "Subject: for b\n\nb's mail\n")
        != TN_OK)
    {
        return TN_ERROR;
    }

    if (tn_fuzz_imap_folder(scf, u, "Work/2026") != TN_OK
        || tn_fuzz_imap_folder(scf, u, "Projects") != TN_OK
        || tn_fuzz_imap_flags(scf, u) != TN_OK)
    {
        return TN_ERROR;
    }

    /* the POP3 harness's helper: the Maildirs here are copied back */
    (void) tn_fuzz_empty_mailbox;

    if (tn_fuzz_maildir_count(&tn_fuzz_user[0])
        != (tn_int_t) TN_FUZZ_IMAP_NMSGS)
    {
        return TN_ERROR;
    }

    /* the copies the sessions start from */

    tn_store_db_close_all();

    for (i = 0; i < TN_FUZZ_IMAP_NUSERS; i++) {
        u = &tn_fuzz_user[tn_fuzz_imap_users[i]];

        if (stat(u->maildir, &sb) == -1) {
            continue;
        }

        snprintf(tn_fuzz_imap_saved[i], PATH_MAX, "%s/saved-%lu",
                 tn_fuzz_dir, (unsigned long) i);

        if (tn_fuzz_imap_copy(u->maildir, tn_fuzz_imap_saved[i]) != TN_OK) {
            return TN_ERROR;
        }
    }

    if (pthread_barrier_init(&tn_fuzz_imap_barrier, NULL, 2) != 0) {
        return TN_ERROR;
    }

    return TN_OK;
}


/* the last k (up to TN_FUZZ_TAIL) bytes of the line into buf */

static size_t
tn_fuzz_imap_end(tn_fuzz_sess_t *fs, u_char *p, size_t len, u_char *buf)
{
    size_t  i, k;

    k = tn_min(len, (size_t) TN_FUZZ_TAIL);

    for (i = 0; i < k; i++) {
        buf[i] = (len - k + i < TN_FUZZ_LINE)
                 ? p[len - k + i] : fs->tail[(len - k + i) % TN_FUZZ_TAIL];
    }

    return k;
}


/* "{N}" or "{N+}" ending the line: N, or -1 */

static int64_t
tn_fuzz_imap_literal(tn_fuzz_sess_t *fs, u_char *p, size_t len)
{
    size_t    k, i;
    u_char    buf[TN_FUZZ_TAIL];
    int64_t   n;

    k = tn_fuzz_imap_end(fs, p, len, buf);

    if (k < 3 || buf[k - 1] != '}') {
        return -1;
    }

    i = k - 1;

    if (buf[i - 1] == '+') {
        i--;
    }

    while (i > 0 && buf[i - 1] >= '0' && buf[i - 1] <= '9') {
        i--;
    }

    if (i == 0 || buf[i - 1] != '{' || buf[i] == '}' || buf[i] == '+') {
        return -1;
    }

    n = 0;

    for ( /* void */ ; buf[i] >= '0' && buf[i] <= '9'; i++) {
        if (n > (INT64_MAX - 9) / 10) {
            return INT64_MAX;
        }

        n = n * 10 + (buf[i] - '0');
    }

    return n;
}


/* a byte of a tag: ASTRING-CHAR but "+" (RFC 3501 9) */

static tn_uint_t
tn_fuzz_imap_tagchar(u_char ch)
{
    return ch > 0x20 && ch < 0x7f && ch != '(' && ch != ')' && ch != '{'
           && ch != '"' && ch != '\\' && ch != '%' && ch != '*' && ch != '+';
}


/*
 * The tag of a tagged line must start a line of what the client sent
 * (the first byte, one after an LF, the first one sent through TLS),
 * after the one the tagged line before it had, and be all of its first
 * token.  fs->pos: where to look from.  whole 0: only the first len
 * bytes of a long tag are known.
 */

static const char *
tn_fuzz_imap_tag(tn_fuzz_sess_t *fs, u_char *tag, size_t len,
    tn_uint_t whole)
{
    size_t   i, k;
    u_char  *in;

    in = tn_fuzz_imap_in;

    for (i = fs->pos; i < tn_fuzz_imap_in_len; i++) {

        if (i != 0 && in[i - 1] != LF && i != tn_fuzz_imap_in_tls) {
            continue;
        }

        if (tn_fuzz_imap_in_len - i < len) {
            break;
        }

        if (tn_memcmp(in + i, tag, len) != 0) {
            continue;
        }

        k = i + len;

        if (whole && k < tn_fuzz_imap_in_len && tn_fuzz_imap_tagchar(in[k])) {
            continue;
        }

        fs->pos = i + 1;
        return NULL;
    }

    return "a tagged response has a tag not sent (or not in order)";
}


static const char *
tn_fuzz_imap_line(tn_fuzz_sess_t *fs, tn_uint_t n, u_char *p, size_t len)
{
    size_t    t, l;
    int64_t   lit;
    u_char   *status;

    if (p == NULL) {
        if (n == 0) {
            return "no greeting";
        }

        return (fs->state == TN_FUZZ_IMAP_AFTER_LIT)
               ? "the session ends inside a response" : NULL;
    }

    lit = tn_fuzz_imap_literal(fs, p, len);
    l = tn_min(len, (size_t) TN_FUZZ_LINE);

    if (fs->state == TN_FUZZ_IMAP_AFTER_LIT) {
        /* the rest of a response after a literal */
        goto literal;
    }

    if (n == 0) {
        if (!(l >= 5 && tn_strncmp(p, "* OK ", 5) == 0)
            && !(l >= 10 && tn_strncmp(p, "* PREAUTH ", 10) == 0)
            && !(l >= 6 && tn_strncmp(p, "* BYE ", 6) == 0))
        {
            return "the greeting is not * OK, * PREAUTH or * BYE";
        }

        goto literal;
    }

    if (l >= 2 && p[0] == '*' && p[1] == ' ') {
        goto literal;
    }

    if (l >= 1 && p[0] == '+' && (l == 1 || p[1] == ' ')) {
        goto literal;
    }

    /* tagged: "tag SP OK|NO|BAD [SP text]" */

    for (t = 0; t < l && p[t] != ' '; t++) {
        if (!tn_fuzz_imap_tagchar(p[t])) {
            return "a response line is neither untagged nor tagged";
        }
    }

    if (t == 0 || (t == l && len == l)) {
        return "a response line is neither untagged nor tagged";
    }

    if (t == l) {
        /* a tag longer than what the check sees */
        return tn_fuzz_imap_tag(fs, p, l, 0);
    }

    status = p + t + 1;

    if (!(l - t - 1 >= 2 && tn_strncmp(status, "OK", 2) == 0
          && (l - t - 1 == 2 || status[2] == ' '))
        && !(l - t - 1 >= 2 && tn_strncmp(status, "NO", 2) == 0
             && (l - t - 1 == 2 || status[2] == ' '))
        && !(l - t - 1 >= 3 && tn_strncmp(status, "BAD", 3) == 0
             && (l - t - 1 == 3 || status[3] == ' ')))
    {
        return "a tagged response is not OK, NO or BAD";
    }

    if (lit >= 0) {
        return "a tagged response ends in a literal";
    }

    if (tn_fuzz_imap_tag(fs, p, t, 1) != NULL) {
        return "a tagged response has a tag not sent (or not in order)";
    }

    /* the go-ahead of STARTTLS, as tn_mail_imap_starttls() words it */

    if (l - t - 1 >= 13 && tn_strncmp(status, "OK Begin TLS", 12) == 0) {
        fs->starttls = 1;
    }

    if (l - t - 1 > 12 && tn_strlcasestrn(status, p + l, (u_char *) "Logged in",
                                           9 - 1) != NULL)
    {
        fs->update = 1;
    }

    return NULL;

literal:

    if (lit >= 0) {
        fs->skip = (uint64_t) lit;
        fs->state = TN_FUZZ_IMAP_AFTER_LIT;

    } else {
        fs->state = TN_FUZZ_IMAP_LINE;
    }

    return NULL;
}


static void
tn_fuzz_imap_prepare(tn_fuzz_sess_t *fs)
{
    int             fd;
    DIR            *d;
    char            path[PATH_MAX + 64], first[256];
    ssize_t         n;
    struct dirent  *de;

    /* the Maildirs were put back after the last session */

    if (!(fs->flags & TN_FUZZ_OTHER)) {
        return;
    }

    snprintf(path, sizeof(path), "%s/new", tn_fuzz_user[0].maildir);

    d = opendir(path);
    if (d == NULL) {
        tn_fuzz_fail(fs, "new/ cannot be read");
    }

    first[0] = '\0';

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.' && strlen(de->d_name) < sizeof(first)
            && (first[0] == '\0' || strcmp(de->d_name, first) < 0))
        {
            strcpy(first, de->d_name);
        }
    }

    closedir(d);

    if (first[0]) {
        snprintf(path, sizeof(path), "%s/new/%s", tn_fuzz_user[0].maildir,
                 first);
        (void) unlink(path);
    }

    snprintf(path, sizeof(path), "%s/new/1795000000.M1P1.other.test",
             tn_fuzz_user[0].maildir);

    fd = open(path, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0600);
    if (fd == -1) {
        tn_fuzz_fail(fs, "a message cannot be dropped in new/");
    }

    n = write(fd, "From: other@example.test\nSubject: from another tool\n"
                  "\nhello\n", 59);

    if (close(fd) == -1 || n != 59) {
        tn_fuzz_fail(fs, "a message cannot be dropped in new/");
    }
}


/*
 * A session that logged in (or may have: cut short) may have changed
 * the mailboxes: they are put back as they were.
 */

static void
tn_fuzz_imap_cleanup(tn_fuzz_sess_t *fs, tn_store_conf_t *scf)
{
    if (fs->update || fs->hungup
        || (fs->flags & (TN_FUZZ_SHUTDOWN|TN_FUZZ_OTHER)))
    {
        tn_fuzz_imap_restore(fs);
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tn_fuzz_init(&tn_fuzz_imap);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t         n;
    const u_char  *p, *last, *mark;

    /* as tn_fuzz_input() sends it: without the marks, when it cuts */

    tn_fuzz_imap_in_len = 0;
    tn_fuzz_imap_in_tls = (size_t) -1;

    if (size > 2 && size <= TN_FUZZ_MAX) {
        p = data + 2;
        last = data + size;

        while (p < last) {
            mark = NULL;

            if (data[0] & (TN_FUZZ_SPLIT|TN_FUZZ_TLS)) {
                mark = memmem(p, last - p, TN_FUZZ_MARK, TN_FUZZ_MARK_LEN);
            }

            n = (mark ? mark : last) - p;

            tn_memcpy(tn_fuzz_imap_in + tn_fuzz_imap_in_len, p, n);
            tn_fuzz_imap_in_len += n;

            if (mark && (data[0] & TN_FUZZ_TLS)
                && tn_fuzz_imap_in_tls == (size_t) -1)
            {
                tn_fuzz_imap_in_tls = tn_fuzz_imap_in_len;
            }

            p += n + (mark ? TN_FUZZ_MARK_LEN : 0);
        }
    }

    return tn_fuzz_session(data, size);
}
