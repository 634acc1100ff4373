
/*
 * Copyright (C) The Tern developers
 */


/*
 * libFuzzer harness for whole SMTP sessions (SECURITY-CHECKLIST 0.9):
 * the input is what a client sends to a real SMTP server -- commands,
 * pipelining, DATA, STARTTLS, AUTH, relaying -- run by the worker's
 * event loop with the store, its rules and queue, and the thread pool
 * behind it (see fuzz_session.h for the input's flags and how a session
 * is run and judged).
 *
 * The first server is an MX with VRFY, STARTTLS and optional AUTH, also
 * in plain text, that lets the IPv6 client (TN_FUZZ_IPV6) relay; the
 * second (flag TN_FUZZ_STRICT) is a submission server (AUTH required,
 * under TLS only) with the smallest limits: a 512-byte line buffer,
 * 400-byte messages, 2 recipients, 3 errors, 3 hops, 8 commands before
 * MAIL, quotas permanent.  The first keeps a transcript (to /dev/null).
 * TN_FUZZ_OTHER means nothing here.
 *
 * The store: users user@example.test ("secret"), postmaster@ (with a
 * 3000-byte quota) and b@ ("pw", forwarded to far@remote.example with a
 * copy kept); aliases sales@ (user@ and b@), me@ (user@, send-as), ext@
 * (someone@remote.example), loop1@ and loop2@ (each other); the domain
 * catch.test with a catch-all to user@; recipient_delimiter "+".  Mail
 * for remote addresses goes to the outbound queue.
 *
 * Each reply line must be an RFC 5321 reply line: a code of 2xx to 5xx,
 * then SP, "-" or the end; printable text; 512 octets at most with the
 * CRLF; the lines of a multi-line reply share their code.  The first is
 * the 220 greeting, nothing follows a 221 or 421, and no multi-line
 * reply is left unfinished.  Any later 220 is the go-ahead of STARTTLS,
 * after which TLS records follow.  Each "250 2.0.0 Ok: queued" must have
 * put a message in a Maildir or in the queue (R1).
 */


#include "fuzz_session.h"


/* the check's states */
#define TN_FUZZ_SMTP_START   0     /* a reply starts */
#define TN_FUZZ_SMTP_MORE    1     /* after a "NNN-" line */
#define TN_FUZZ_SMTP_CLOSED  2     /* after a 221 or 421 */

/* what a Maildir (quotas!) or the queue may hold before it is emptied */
#define TN_FUZZ_SMTP_KEEP    4
#define TN_FUZZ_SMTP_QUEUE   16


static tn_int_t tn_fuzz_smtp_setup(tn_store_conf_t *scf);
static const char *tn_fuzz_smtp_line(tn_fuzz_sess_t *fs, tn_uint_t n,
    u_char *p, size_t len);
static void tn_fuzz_smtp_prepare(tn_fuzz_sess_t *fs);
static void tn_fuzz_smtp_cleanup(tn_fuzz_sess_t *fs, tn_store_conf_t *scf);


static tn_fuzz_proto_t  tn_fuzz_smtp = {
    "smtp_session",

    "    server {\n"
    "        listen 127.0.0.1:25;\n"
    "        protocol smtp;\n"
    "        smtp_vrfy on;\n"
    "        smtp_auth optional;\n"
    "        smtp_auth_plaintext on;\n"
    "        smtp_relay_networks 10.0.0.0/8 2001:db8::/32;\n"
    "        smtp_transcript /dev/null;\n"
    TN_FUZZ_TLS_CONF
    "    }\n"
    "    server {\n"
    "        listen 127.0.0.1:587;\n"
    "        protocol smtp;\n"
    "        smtp_client_buffer 512;\n"
    "        smtp_max_message_size 400;\n"
    "        smtp_max_recipients 2;\n"
    "        smtp_max_errors 3;\n"
    "        smtp_max_hops 3;\n"
    "        smtp_max_commands_before_mail 8;\n"
    "        smtp_auth required;\n"
    "        smtp_quota_permanent on;\n"
    TN_FUZZ_TLS_CONF
    "    }\n",

    tn_fuzz_smtp_setup,
    tn_fuzz_smtp_line,
    tn_fuzz_smtp_prepare,
    tn_fuzz_smtp_cleanup
};


typedef struct {
    const char      *address;
    const char      *targets[2];
    tn_uint_t        send_as;
} tn_fuzz_smtp_alias_t;


static tn_fuzz_smtp_alias_t  tn_fuzz_smtp_aliases[] = {
    { "sales@example.test", { "user@example.test", "b@example.test" }, 0 },
    { "me@example.test", { "user@example.test", NULL }, 1 },
    { "ext@example.test", { "someone@remote.example", NULL }, 0 },
    { "loop1@example.test", { "loop2@example.test", NULL }, 0 },
    { "loop2@example.test", { "loop1@example.test", NULL }, 0 },
    { "@catch.test", { "user@example.test", NULL }, 0 },
};


static tn_int_t
tn_fuzz_smtp_setup(tn_store_conf_t *scf)
{
    u_char                 *t[2];
    tn_uint_t               i, n;
    tn_fuzz_smtp_alias_t   *a;

    if (tn_store_domain_add(scf, (u_char *) "catch.test", 10, tn_fuzz_log)
        != TN_OK)
    {
        return TN_ERROR;
    }

    for (i = 0; i < sizeof(tn_fuzz_smtp_aliases)
                    / sizeof(tn_fuzz_smtp_alias_t); i++)
    {
        a = &tn_fuzz_smtp_aliases[i];

        t[0] = (u_char *) a->targets[0];
        t[1] = (u_char *) a->targets[1];
        n = t[1] ? 2 : 1;

        if (tn_store_alias_add(scf, (u_char *) a->address,
                               strlen(a->address), t, n, tn_fuzz_log)
            != TN_OK
            || (a->send_as
                && tn_store_alias_sendas(scf, (u_char *) a->address,
                                         strlen(a->address), 1,
                                         tn_fuzz_log)
                   != TN_OK))
        {
            return TN_ERROR;
        }
    }

    t[0] = (u_char *) "far@remote.example";

    if (tn_store_user_forward(scf, (u_char *) "b@example.test", 14, t, 1, 1,
                              tn_fuzz_log)
        != TN_OK
        || tn_store_user_quota(scf, (u_char *) "postmaster@example.test", 23,
                               3000, tn_fuzz_log)
           != TN_OK)
    {
        return TN_ERROR;
    }

    return TN_OK;
}


static const char *
tn_fuzz_smtp_line(tn_fuzz_sess_t *fs, tn_uint_t n, u_char *p, size_t len)
{
    size_t  i;

    if (p == NULL) {
        if (n == 0) {
            return "no greeting";
        }

        return (fs->state == TN_FUZZ_SMTP_MORE)
               ? "a multi-line reply is not finished" : NULL;
    }

    if (fs->state == TN_FUZZ_SMTP_CLOSED) {
        return "a reply after 221 or 421";
    }

    if (len + 2 > 512) {
        return "a reply line over 512 octets";
    }

    if (len < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '5'
        || p[2] < '0' || p[2] > '9' || (len > 3 && p[3] != ' ' && p[3] != '-'))
    {
        return "not a reply line";
    }

    for (i = 4; i < len; i++) {
        if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\t') {
            return "a reply with a byte outside HT and 32..126";
        }
    }

    if (n == 0 && tn_strncmp(p, "220", 3) != 0) {
        return "the greeting is not 220";
    }

    if (fs->state == TN_FUZZ_SMTP_MORE && tn_strncmp(p, fs->code, 3) != 0) {
        return "the lines of a reply have different codes";
    }

    if (len > 3 && p[3] == '-') {
        tn_memcpy(fs->code, p, 3);
        fs->state = TN_FUZZ_SMTP_MORE;
        return NULL;
    }

    fs->state = (tn_strncmp(p, "221", 3) == 0 || tn_strncmp(p, "421", 3) == 0)
                ? TN_FUZZ_SMTP_CLOSED : TN_FUZZ_SMTP_START;

    if (n > 0 && tn_strncmp(p, "220", 3) == 0) {
        /* the go-ahead of STARTTLS: a handshake follows */
        fs->starttls = 1;
    }

    /* the 250 after DATA, as tn_mail_smtp_data.c words it */

    if (len > 19 && tn_strncmp(p, "250 2.0.0 Ok: queued", 20) == 0) {
        fs->queued++;
    }

    return NULL;
}


/* envelopes in the outbound queue */

static tn_int_t
tn_fuzz_smtp_queued(void)
{
    DIR            *d;
    char            path[PATH_MAX + 16];
    size_t          len;
    tn_int_t        n;
    tn_uint_t       shard;
    struct dirent  *de;

    n = 0;

    for (shard = 0; shard < TN_STORE_QUEUE_SHARDS; shard++) {

        snprintf(path, sizeof(path), "%.*s/queue/%x",
                 (int) tn_fuzz_store->prefix.len,
                 (char *) tn_fuzz_store->prefix.data, (unsigned) shard);

        d = opendir(path);
        if (d == NULL) {
            tn_fuzz_fail(NULL, "a queue shard cannot be read");
        }

        while ((de = readdir(d)) != NULL) {
            len = strlen(de->d_name);

            if (len > 4 && strcmp(de->d_name + len - 4, ".env") == 0) {
                n++;
            }
        }

        closedir(d);
    }

    return n;
}


/* messages in the Maildirs and the queue */

static tn_int_t
tn_fuzz_smtp_files(void)
{
    tn_int_t   n, files;
    tn_uint_t  i;

    files = tn_fuzz_smtp_queued();

    for (i = 0; i < TN_FUZZ_NUSERS; i++) {
        n = tn_fuzz_maildir_count(&tn_fuzz_user[i]);

        if (n < 0) {
            tn_fuzz_fail(NULL, "a Maildir cannot be read");
        }

        files += n;
    }

    return files;
}


static void
tn_fuzz_smtp_prepare(tn_fuzz_sess_t *fs)
{
    fs->files = tn_fuzz_smtp_files();
}


/* the queue's ids, for tn_fuzz_smtp_unqueue() */

typedef struct {
    tn_uint_t        n;
    char             ids[TN_FUZZ_SMTP_QUEUE * 2][TN_STORE_QUEUE_ID_LEN];
} tn_fuzz_smtp_ids_t;


static tn_int_t
tn_fuzz_smtp_id(void *data, tn_store_queue_env_t *env)
{
    tn_fuzz_smtp_ids_t  *ids = data;

    if (ids->n == TN_FUZZ_SMTP_QUEUE * 2) {
        return TN_DONE;
    }

    (void) tn_cpystrn((u_char *) ids->ids[ids->n++], (u_char *) env->id,
                      TN_STORE_QUEUE_ID_LEN);

    return TN_OK;
}


/* the queue is emptied through the store's API */

static void
tn_fuzz_smtp_unqueue(tn_store_conf_t *scf)
{
    tn_int_t             rc;
    tn_uint_t            i;
    tn_fuzz_smtp_ids_t   ids;

    do {
        ids.n = 0;

        rc = tn_store_queue_list(scf, tn_fuzz_smtp_id, &ids, tn_fuzz_log);

        if (rc != TN_OK && rc != TN_DONE) {
            tn_fuzz_fail(NULL, "the queue cannot be listed");
        }

        for (i = 0; i < ids.n; i++) {
            if (tn_store_queue_remove(scf, ids.ids[i], tn_fuzz_log)
                != TN_OK)
            {
                tn_fuzz_fail(NULL, "a message cannot be removed from "
                                   "the queue");
            }
        }

    } while (rc == TN_DONE);
}


/*
 * Each 250 after DATA is a message stored at least once (R1); then the
 * messages go, now and then, through the store's API.
 */

static void
tn_fuzz_smtp_cleanup(tn_fuzz_sess_t *fs, tn_store_conf_t *scf)
{
    tn_uint_t  i;

    if (tn_fuzz_smtp_files() - fs->files < (tn_int_t) fs->queued) {
        tn_fuzz_fail(fs, "a 250 for a message that is stored nowhere");
    }

    for (i = 0; i < TN_FUZZ_NUSERS; i++) {

        if (tn_fuzz_maildir_count(&tn_fuzz_user[i]) < TN_FUZZ_SMTP_KEEP) {
            continue;
        }

        if (tn_fuzz_empty_mailbox(scf, &tn_fuzz_user[i]) != TN_OK
            || tn_fuzz_maildir_count(&tn_fuzz_user[i]) != 0)
        {
            tn_fuzz_fail(NULL, "a mailbox cannot be emptied");
        }
    }

    if (tn_fuzz_smtp_queued() >= TN_FUZZ_SMTP_QUEUE) {
        tn_fuzz_smtp_unqueue(scf);
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tn_fuzz_init(&tn_fuzz_smtp);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return tn_fuzz_session(data, size);
}
