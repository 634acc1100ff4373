
/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for whole POP3 sessions (SECURITY-CHECKLIST 0.9):
 * the input is what a client sends to a real POP3 server -- USER/PASS
 * and AUTH PLAIN against the store, STAT, LIST, UIDL, RETR, TOP, DELE,
 * RSET, QUIT and its UPDATE, STLS -- run by the worker's event loop with
 * the store and thread pool behind it (see fuzz_session.h for the
 * input's flags and how a session is run and judged).
 *
 * The first server allows plain-text logins; the second (TN_FUZZ_STRICT)
 * only under TLS (STLS and the TN_FUZZ_TLS flag), with a 255-byte input
 * buffer, 3 errors and a 60 s auth_failure_delay (which passes when the
 * loop is idle).  With TN_FUZZ_OTHER another session holds the lock of
 * user@'s maildrop.  user@example.test (password "secret") has five
 * messages: plain, dot lines with a bare CR and no final newline, a
 * header alone, 70 KB (more than one read of the file), and one ending
 * in CR; b@example.test ("pw") has one.  A session that deletes any is
 * followed by a fresh copy of the maildrop.
 *
 * The output must be CRLF lines, the first "+OK".  A message sent by
 * RETR or TOP (known by the size in "+OK N octets": the messages' sizes
 * differ) must be dot-stuffed, and its lines a prefix of the message's
 * lines, read as tn_mail_pop3_out() reads them (CRLF, LF or a bare CR
 * end a line); the session must not end inside it.  Messages leave the
 * Maildir only in UPDATE, as many as the reply to QUIT says (see
 * tn_fuzz_pop3_cleanup()).
 */


#include "fuzz_session.h"


#define TN_FUZZ_POP3_BIG_LINES  1000

/* the line check's states */
#define TN_FUZZ_POP3_REPLY      0
#define TN_FUZZ_POP3_MESSAGE    1     /* after "+OK N octets" */


static tn_int_t tn_fuzz_pop3_setup(tn_store_conf_t *scf);
static tn_uint_t tn_fuzz_pop3_find(off_t vsize);
static const char *tn_fuzz_pop3_line(tn_fuzz_sess_t *fs, tn_uint_t n,
    u_char *p, size_t len);
static void tn_fuzz_pop3_prepare(tn_fuzz_sess_t *fs);
static void tn_fuzz_pop3_cleanup(tn_fuzz_sess_t *fs, tn_store_conf_t *scf);


static tn_fuzz_proto_t  tn_fuzz_pop3 = {
    "pop3_session",

    "    server {\n"
    "        listen 127.0.0.1:110;\n"
    "        protocol pop3;\n"
    "        pop3_auth_plaintext on;\n"
    TN_FUZZ_TLS_CONF
    "    }\n"
    "    server {\n"
    "        listen 127.0.0.1:111;\n"
    "        protocol pop3;\n"
    "        pop3_client_buffer 255;\n"
    "        max_errors 3;\n"
    "        auth_failure_delay 60s;\n"
    TN_FUZZ_TLS_CONF
    "    }\n",

    tn_fuzz_pop3_setup,
    tn_fuzz_pop3_line,
    tn_fuzz_pop3_prepare,
    tn_fuzz_pop3_cleanup
};


/* the first TN_FUZZ_POP3_NMSGS are user@'s, the last b@'s */
static const char  *tn_fuzz_pop3_msgs[] = {
    "Subject: one\nFrom: <a@example.net>\n\nHello.\n",
    "Subject: dots\n\n.\n..\n.leading dot\nbare\rCR\nno final newline",
    "Subject: a header alone\n",
    NULL,                               /* the big one, made at setup */
    "Subject: a CR at the end\n\nbody\r",
    "Subject: for b\n\nb's mail\n",
};

#define TN_FUZZ_POP3_NMSGS  5
#define TN_FUZZ_POP3_ALL                                                     \
    (sizeof(tn_fuzz_pop3_msgs) / sizeof(tn_fuzz_pop3_msgs[0]))

static off_t  tn_fuzz_pop3_vsizes[TN_FUZZ_POP3_ALL];


/* the size with CRLF line ends, as delivery gives it to the store */

static off_t
tn_fuzz_pop3_vsize(const char *body)
{
    off_t   v;
    size_t  i;

    v = 0;

    for (i = 0; body[i]; i++) {
        if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) {
            v++;
        }
    }

    return v + (off_t) i;
}


/* one message delivered to one user, as tn_mail_smtp_deliver() does */

static tn_int_t
tn_fuzz_pop3_deliver(tn_store_conf_t *scf, tn_store_user_t *u,
    const char *body)
{
    size_t                 len;
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
    d.vsize = tn_fuzz_pop3_vsize(body);

    d.internaldate = time(NULL);
    d.nrcpts = 1;
    d.rcpts = u;
    d.uids = &uid;

    dp = &d;
    tn_store_deliver(scf, &dp, 1, tn_fuzz_log);

    return d.rc;
}


/* the maildrop of user i as it was at the start */

static void
tn_fuzz_pop3_restore(tn_store_conf_t *scf, tn_uint_t i)
{
    tn_uint_t         k, n;
    const char      **msgs;
    tn_store_user_t  *u;

    msgs = (i == 0) ? tn_fuzz_pop3_msgs
                    : &tn_fuzz_pop3_msgs[TN_FUZZ_POP3_NMSGS];
    n = (i == 0) ? TN_FUZZ_POP3_NMSGS : 1;
    u = &tn_fuzz_user[i];

    if (tn_fuzz_maildir_count(u) == (tn_int_t) n) {
        return;
    }

    if (tn_fuzz_empty_mailbox(scf, u) != TN_OK) {
        tn_fuzz_fail(NULL, "a mailbox cannot be emptied");
    }

    for (k = 0; k < n; k++) {
        if (tn_fuzz_pop3_deliver(scf, u, msgs[k]) != TN_OK) {
            tn_fuzz_fail(NULL, "a message cannot be delivered");
        }
    }
}


static tn_int_t
tn_fuzz_pop3_setup(tn_store_conf_t *scf)
{
    u_char     *big, *p;
    tn_uint_t   i;

    big = malloc(TN_FUZZ_POP3_BIG_LINES * 80 + 64);
    if (big == NULL) {
        return TN_ERROR;
    }

    p = tn_cpymem(big, "Subject: big\n\n", 14);

    for (i = 0; i < TN_FUZZ_POP3_BIG_LINES; i++) {
        p = tn_sprintf(p, "%s%04ui %*s\n", (i % 100 == 0) ? "." : "", i,
                       (size_t) 64,
                       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                       "xxxxxxxxxxxxxxxx");
    }

    *p = '\0';

    /* lives as long as the process */
    tn_fuzz_pop3_msgs[3] = (char *) big;

    for (i = 0; i < TN_FUZZ_POP3_ALL; i++) {
        tn_fuzz_pop3_vsizes[i] = tn_fuzz_pop3_vsize(tn_fuzz_pop3_msgs[i]);

        if (i && tn_fuzz_pop3_find(tn_fuzz_pop3_vsizes[i]) != i) {
            /* the check tells the messages by their sizes */
            return TN_ERROR;
        }
    }

    tn_fuzz_pop3_restore(scf, 0);
    tn_fuzz_pop3_restore(scf, 2);

    return TN_OK;
}


/* the message of this size, or TN_FUZZ_POP3_ALL */

static tn_uint_t
tn_fuzz_pop3_find(off_t vsize)
{
    tn_uint_t  i;

    for (i = 0; i < TN_FUZZ_POP3_ALL; i++) {
        if (tn_fuzz_pop3_vsizes[i] == vsize) {
            break;
        }
    }

    return i;
}


/* "+OK N octets": the start of a message of ours */

static tn_uint_t
tn_fuzz_pop3_octets(u_char *p, size_t len)
{
    off_t   v;
    size_t  i;

    if (len < 12 || len > 40 || tn_strncmp(p, "+OK ", 4) != 0
        || tn_strncmp(p + len - 7, " octets", 7) != 0)
    {
        return TN_FUZZ_POP3_ALL;
    }

    v = 0;

    for (i = 4; i < len - 7; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return TN_FUZZ_POP3_ALL;
        }

        v = v * 10 + (p[i] - '0');
    }

    return tn_fuzz_pop3_find(v);
}


/* the next line of the message the check is in, unstuffed */

static const char *
tn_fuzz_pop3_message(tn_fuzz_sess_t *fs, u_char *p, size_t len)
{
    size_t       e;
    const char  *m;

    if (len == 1 && p[0] == '.') {
        /* the end: RETR or TOP, the lines so far were all right */
        fs->state = TN_FUZZ_POP3_REPLY;
        return NULL;
    }

    if (len && p[0] == '.') {
        if (len < 2 || p[1] != '.') {
            return "a line starting with a dot is not dot-stuffed";
        }

        p++;
        len--;
    }

    m = tn_fuzz_pop3_msgs[fs->msg];

    if (m[fs->pos] == '\0') {
        return "a message has more lines than it has";
    }

    for (e = fs->pos; m[e] && m[e] != '\r' && m[e] != '\n'; e++) {
        /* void */
    }

    if (len != e - fs->pos
        || tn_memcmp(p, m + fs->pos, tn_min(len, TN_FUZZ_LINE)) != 0)
    {
        return "a message line differs from the message";
    }

    if (m[e] == '\r' && m[e + 1] == '\n') {
        e++;
    }

    fs->pos = m[e] ? e + 1 : e;

    return NULL;
}


static const char *
tn_fuzz_pop3_line(tn_fuzz_sess_t *fs, tn_uint_t n, u_char *p, size_t len)
{
    size_t  i;

    if (p == NULL) {
        if (n == 0) {
            return "no greeting";
        }

        return (fs->state == TN_FUZZ_POP3_MESSAGE)
               ? "the session ends inside a message" : NULL;
    }

    if (n == 0 && (len < 3 || tn_strncmp(p, "+OK", 3) != 0)) {
        return "the greeting is not +OK";
    }

    if (fs->state == TN_FUZZ_POP3_MESSAGE) {
        return tn_fuzz_pop3_message(fs, p, len);
    }

    /*
     * Other multi-line replies (CAPA, LIST, UIDL, AUTH) are not followed:
     * none of their lines looks like the two below.
     */

    fs->msg = tn_fuzz_pop3_octets(p, tn_min(len, TN_FUZZ_LINE));

    if (fs->msg != TN_FUZZ_POP3_ALL) {
        fs->state = TN_FUZZ_POP3_MESSAGE;
        fs->pos = 0;
        return NULL;
    }

    /* the go-ahead of STLS, as tn_mail_pop3_stls() words it */

    if (len >= 13 && tn_strncmp(p, "+OK Begin TLS", 13) == 0) {
        fs->starttls = 1;
    }

    /* the end of UPDATE, as tn_mail_pop3_expunge_done() words it */

    if (len > 35 && len < TN_FUZZ_LINE
        && tn_strncmp(p, "+OK Tern POP3 server signing off (", 34) == 0)
    {
        fs->update = 1;
        fs->deleted = 0;

        for (i = 34; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
            fs->deleted = fs->deleted * 10 + (p[i] - '0');
        }
    }

    if (len > 34 && tn_strncmp(p, "-ERR [SYS/TEMP] some deleted", 28) == 0) {
        fs->update = 1;
        fs->partly = 1;
    }

    return NULL;
}


static tn_int_t
tn_fuzz_pop3_files(void)
{
    tn_int_t  n, m;

    n = tn_fuzz_maildir_count(&tn_fuzz_user[0]);
    m = tn_fuzz_maildir_count(&tn_fuzz_user[2]);

    if (n < 0 || m < 0) {
        tn_fuzz_fail(NULL, "a Maildir cannot be read");
    }

    return n + m;
}


/* TN_FUZZ_OTHER: another POP3 session has user@'s maildrop */

static void
tn_fuzz_pop3_prepare(tn_fuzz_sess_t *fs)
{
    char  path[PATH_MAX + 16];

    fs->files = tn_fuzz_pop3_files();

    if (!(fs->flags & TN_FUZZ_OTHER)) {
        return;
    }

    snprintf(path, sizeof(path), "%s/pop3.lock", tn_fuzz_user[0].maildir);

    fs->fd = open(path, O_RDWR|O_CREAT|O_CLOEXEC, 0600);

    if (fs->fd == -1 || flock(fs->fd, LOCK_EX|LOCK_NB) == -1) {
        tn_fuzz_fail(fs, "pop3.lock cannot be locked");
    }
}


/*
 * Messages go only in UPDATE (RFC 1939 section 6): as many as the reply
 * to QUIT says, and none when the session ended without QUIT -- unless
 * it was cut short (the worker's shutdown, or the client hung up) with
 * a QUIT that may have been in UPDATE then.
 */

static void
tn_fuzz_pop3_cleanup(tn_fuzz_sess_t *fs, tn_store_conf_t *scf)
{
    tn_int_t  gone;

    if (fs->fd != -1) {
        close(fs->fd);
    }

    gone = fs->files - tn_fuzz_pop3_files();

    if (gone < 0
        || (fs->update && !fs->partly && gone != (tn_int_t) fs->deleted)
        || (!fs->update && gone != 0
            && !(fs->flags & TN_FUZZ_SHUTDOWN) && !fs->hungup))
    {
        tn_fuzz_fail(fs, "messages removed are not those QUIT removed");
    }

    tn_fuzz_pop3_restore(scf, 0);
    tn_fuzz_pop3_restore(scf, 2);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tn_fuzz_init(&tn_fuzz_pop3);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return tn_fuzz_session(data, size);
}
