
/*
 * Copyright (C) The Tern developers
 *
 * The store: accounts and address checks, the three password schemes,
 * group-commit delivery (one batch, two threads, two processes), the
 * mailbox sync (files dropped in by hand, odd names, symlinks, stale
 * tmp/ files), expunge, index rebuild (kept, lost, corrupt) and the
 * admin command line, and UTF-8 (SMTPUTF8) accounts with U-label and
 * A-label domains, all in a temporary prefix.
 */



#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_imap.h>


#define TEST_THREADS      2
#define TEST_PER_THREAD   50
#define TEST_PER_PROCESS  20

/* a string literal as the (u_char *, size_t) pair of the store API */
#define TEST_S(s)         (u_char *) (s), sizeof(s) - 1


typedef struct {
    tn_store_conf_t   *conf;
    tn_store_user_t   *user;
    tn_log_t          *log;
    uint32_t           uids[TEST_PER_THREAD];
    tn_uint_t          n;
    tn_uint_t          ok;
} test_thread_t;


static tn_uint_t        tests;
static tn_uint_t        failed;
static char             tmpdir[] = "/tmp/tn-store-XXXXXX";
static char             logname[PATH_MAX];
static tn_open_file_t   logfile;
static tn_log_t         test_log;

static const char      *bodies[] = {
    "Subject: one\n\nbody one\n",
    "Subject: two\r\n\r\nbody two\r\n",
    "Subject: three\n\nbody\nthree\n.\n",
};


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


static tn_int_t
count_files(const char *dir)
{
    DIR            *d;
    tn_int_t        n;
    struct dirent  *de;

    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }

    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            n++;
        }
    }

    closedir(d);

    return n;
}


static int
write_file(const char *path, const char *data, size_t len)
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


static off_t
vsize_of(const char *data, size_t len)
{
    size_t  i;
    off_t   v;

    v = len;

    for (i = 0; i < len; i++) {
        if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r')) {
            v++;
        }
    }

    return v;
}


static int64_t
db_count(const char *maildir, const char *sql)
{
    int64_t        n;
    sqlite3       *db;
    sqlite3_stmt  *stmt;
    char           path[PATH_MAX + 16];

    snprintf(path, sizeof(path), "%s/index.db", maildir);

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }

    n = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK) {
        if (sqlite3_step(stmt) == SQLITE_ROW) {
            n = sqlite3_column_int64(stmt, 0);
        }

        sqlite3_finalize(stmt);
    }

    sqlite3_close(db);

    return n;
}


/* one message to nrcpts users in a batch of its own */
static tn_int_t
deliver(tn_store_conf_t *conf, tn_store_user_t *rcpts, tn_uint_t nrcpts,
    const char *body, uint32_t *uids, tn_log_t *log)
{
    tn_fd_t               fd;
    tn_store_delivery_t   d, *dp;

    tn_memzero(&d, sizeof(d));

    fd = tn_store_spool_create(conf, d.spool_path, log);
    if (fd == TN_INVALID_FILE) {
        return TN_ERROR;
    }

    if (write(fd, body, strlen(body)) != (ssize_t) strlen(body)) {
        close(fd);
        return TN_ERROR;
    }

    close(fd);

    d.size = strlen(body);
    d.vsize = vsize_of(body, strlen(body));
    d.internaldate = time(NULL);
    d.nrcpts = nrcpts;
    d.rcpts = rcpts;
    d.uids = uids;

    dp = &d;
    tn_store_deliver(conf, &dp, 1, log);

    if (d.rc == TN_OK && access(d.spool_path, F_OK) == 0) {
        return TN_ERROR;
    }

    return d.rc;
}


static void *
deliver_thread(void *data)
{
    test_thread_t  *t = data;
    tn_uint_t       i;
    char            body[128];

    for (i = 0; i < TEST_PER_THREAD; i++) {
        snprintf(body, sizeof(body), "Subject: t%u\n\nthread message %u\n",
                 (unsigned) t->n, (unsigned) i);

        if (deliver(t->conf, t->user, 1, body, &t->uids[i], t->log)
            == TN_OK)
        {
            t->ok++;
        }
    }

    return NULL;
}


static int
uid_cmp(const void *a, const void *b)
{
    uint32_t  x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return (x > y) - (x < y);
}


static tn_int_t
list_count(void *data, const char *name)
{
    (*(tn_uint_t *) data)++;
    return TN_OK;
}


static tn_store_msg_t *
find_uidl(tn_store_mailbox_t *mb, const char *uidl)
{
    tn_uint_t  i;

    for (i = 0; i < mb->nmsgs; i++) {
        if (strcmp(mb->msgs[i].uidl, uidl) == 0) {
            return &mb->msgs[i];
        }
    }

    return NULL;
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


/* damages index.db while no connection has it open */
static void
corrupt_index(tn_store_user_t *u, const char *junk, size_t len)
{
    char  path[PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s/index.db", u->maildir);
    tn_store_db_forget(path);
    write_file(path, junk, len);
}


static tn_str_t
str_of(const char *s)
{
    tn_str_t  v;

    v.len = strlen(s);
    v.data = (u_char *) strdup(s);

    return v;
}


static int
cli(tn_store_conf_t *conf, const char *a, const char *b, const char *c,
    const char *input, char *out, size_t outlen)
{
    int    rc, saved, saved_out, p[2], fd;
    char   path[PATH_MAX];
    ssize_t  n;
    char  *argv[4];
    int    argc;

    argv[0] = (char *) a;
    argv[1] = (char *) b;
    argv[2] = (char *) c;
    argv[3] = NULL;
    argc = c ? 3 : (b ? 2 : 1);

    saved = -1;

    if (input) {
        if (pipe(p) == -1) {
            return -1;
        }

        (void) write(p[1], input, strlen(input));
        close(p[1]);
        saved = dup(STDIN_FILENO);
        dup2(p[0], STDIN_FILENO);
        close(p[0]);
    }

    /* the output is captured, not mixed into the TAP stream */

    fflush(stdout);
    path_of(path, "cli.out");
    fd = open(path, O_RDWR|O_CREAT|O_TRUNC, 0600);
    saved_out = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);

    rc = tn_store_cli(conf, argc, argv, &test_log);

    dup2(saved_out, STDOUT_FILENO);
    close(saved_out);

    if (out) {
        n = pread(fd, out, outlen - 1, 0);
        out[n > 0 ? n : 0] = '\0';
    }

    close(fd);
    unlink(path);

    if (saved != -1) {
        dup2(saved, STDIN_FILENO);
        close(saved);
    }

    return rc;
}


static void
test_accounts(tn_store_conf_t *conf, tn_log_t *log)
{
    tn_int_t         rc;
    tn_uint_t        n;
    tn_store_user_t  u;
    char             path[PATH_MAX], buf[PATH_MAX + 32];
    char             local65[80];
    struct stat      sb;

    ok(tn_store_init(conf, log) == TN_OK, "init");

    path_of(path, "mail");
    ok(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)
       && (sb.st_mode & 0777) == 0700, "mail root 0700");

    path_of(path, "tern.db");
    ok(access(path, F_OK) == 0, "tern.db created");

    ok(tn_store_init(conf, log) == TN_OK, "init again");

    path_of(path, "spool");
    chmod(path, 0770);
    ok(tn_store_init(conf, log) == TN_ERROR, "group-writable spool refused");
    chmod(path, 0700);

    /* that [emerg] was expected: the log starts again */
    (void) ftruncate(logfile.fd, 0);

    /* domains */

    ok(tn_store_domain_add(conf, (u_char *) "x.test", 6, log) == TN_OK,
       "domain add");
    ok(tn_store_domain_add(conf, (u_char *) "x.test", 6, log) == TN_DECLINED,
       "domain add twice");
    ok(tn_store_domain_add(conf, (u_char *) "X.Test", 6, log) == TN_DECLINED,
       "domain add, other case");
    ok(tn_store_domain_add(conf, (u_char *) "a..b", 4, log) == TN_DECLINED
       && tn_store_domain_add(conf, (u_char *) "-a.test", 7, log)
          == TN_DECLINED
       && tn_store_domain_add(conf, (u_char *) "a/b", 3, log) == TN_DECLINED
       && tn_store_domain_add(conf, (u_char *) "..", 2, log) == TN_DECLINED
       && tn_store_domain_add(conf, (u_char *) "a.test.", 7, log)
          == TN_DECLINED
       && tn_store_domain_add(conf, (u_char *) "", 0, log) == TN_DECLINED
       && tn_store_domain_add(conf, (u_char *) "a\0b", 3, log) == TN_DECLINED,
       "invalid domains refused");
    ok(tn_store_domain_add(conf, (u_char *) "y.test", 6, log) == TN_OK,
       "second domain");
    ok(tn_store_domain_del(conf, (u_char *) "nope.test", 9, log)
       == TN_DECLINED, "domain del of an unknown domain");

    n = 0;
    ok(tn_store_domain_list(conf, list_count, &n, log) == TN_OK && n == 2,
       "domain list");

    /* users */

    ok(tn_store_user_add(conf, (u_char *) "Alice@X.test", 12,
                         (u_char *) "secret", 6, log) == TN_OK, "user add");

    path_of(path, "mail/x.test/alice");
    snprintf(buf, sizeof(buf), "%s/new", path);
    ok(stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode)
       && (sb.st_mode & 0777) == 0700, "Maildir created, lowercased");
    snprintf(buf, sizeof(buf), "%s/index.db", path);
    ok(access(buf, F_OK) == 0, "index.db created");

    ok(tn_store_user_add(conf, (u_char *) "alice@x.test", 12,
                         (u_char *) "other", 5, log) == TN_DECLINED,
       "user add twice");
    ok(tn_store_user_add(conf, (u_char *) "bob@nowhere.test", 16,
                         (u_char *) "pw", 2, log) == TN_DECLINED,
       "user add to an unknown domain");
    ok(tn_store_user_add(conf, (u_char *) "carol@x.test", 12,
                         (u_char *) "", 0, log) == TN_DECLINED,
       "user add with an empty password");

    memset(local65, 'a', 65);
    strcpy(local65 + 65, "@x.test");

    rc = TN_OK;

    {
        static const char  *bad[] = {
            "../x@x.test", "a/b@x.test", ".x@x.test", "x.@x.test",
            "a..b@x.test", "a b@x.test", "a\"b@x.test", "a\\b@x.test",
            "@x.test", "x@", "noat", "a@b@x.test\xff", "\xc3\xa9@x.test\xc3",
            "\xc3@x.test", "\xc0\xaf@x.test", "\xc0\xae\xc0\xae@x.test",
            "a\xc2\x80@x.test", NULL
        };

        tn_uint_t  i;

        for (i = 0; bad[i]; i++) {
            if (tn_store_user_add(conf, (u_char *) bad[i], strlen(bad[i]),
                                  (u_char *) "pw", 2, log) != TN_DECLINED)
            {
                rc = TN_ERROR;
                printf("# accepted: %s\n", bad[i]);
            }
        }
    }

    if (tn_store_user_add(conf, (u_char *) local65, strlen(local65),
                          (u_char *) "pw", 2, log) != TN_DECLINED
        || tn_store_user_add(conf, (u_char *) "a\0b@x.test", 10,
                             (u_char *) "pw", 2, log) != TN_DECLINED)
    {
        rc = TN_ERROR;
    }

    ok(rc == TN_OK, "hostile addresses refused by user add");

    path_of(path, "mail/x.test");
    path_of(buf, "mail");
    ok(count_files(path) == 1 && count_files(buf) == 1,
       "nothing created for refused addresses");

    /* lookups */

    rc = tn_store_user_lookup(conf, (u_char *) "ALICE@x.TEST", 12, &u, log);
    path_of(path, "mail/x.test/alice");
    ok(rc == TN_OK && strcmp(u.address, "alice@x.test") == 0
       && strcmp(u.maildir, path) == 0, "lookup, case-insensitive");

    ok(tn_store_user_lookup(conf, (u_char *) "nobody@x.test", 13, &u, log)
       == TN_DECLINED, "unknown user of a local domain: DECLINED");
    ok(tn_store_user_lookup(conf, (u_char *) "alice@z.test", 12, &u, log)
       == TN_DONE, "other domain: DONE");

    {
        static const char  *declined[] = {
            "../x@x.test", "a/b@x.test", ".x@x.test", "a..b@x.test",
            "a' OR '1'='1@x.test", "%u@x.test", "*)(uid=*@x.test",
            "alice\r\n@x.test", "@x.test", NULL
        };

        static const char  *done[] = {
            "alice@x.test/../y", "alice", "alice@", "alice@x..test",
            "alice@[127.0.0.1]", "alice@x.test.", NULL
        };

        tn_uint_t  i;

        rc = TN_OK;

        for (i = 0; declined[i]; i++) {
            if (tn_store_user_lookup(conf, (u_char *) declined[i],
                                     strlen(declined[i]), &u, log)
                != TN_DECLINED)
            {
                rc = TN_ERROR;
                printf("# not declined: %s\n", declined[i]);
            }
        }

        for (i = 0; done[i]; i++) {
            if (tn_store_user_lookup(conf, (u_char *) done[i],
                                     strlen(done[i]), &u, log)
                != TN_DONE)
            {
                rc = TN_ERROR;
                printf("# not done: %s\n", done[i]);
            }
        }

        ok(rc == TN_OK, "hostile addresses in lookup");
    }

    ok(tn_store_user_lookup(conf, (u_char *) local65, strlen(local65), &u,
                            log) == TN_DECLINED,
       "65-octet local part: DECLINED");
    ok(tn_store_user_lookup(conf, (u_char *) "ali\0ce@x.test", 13, &u, log)
       == TN_DECLINED, "NUL in the local part: DECLINED");
    ok(tn_store_user_lookup(conf, (u_char *) "alice@x.test\0.evil", 18, &u,
                            log) == TN_DONE, "NUL in the domain: DONE");
    ok(tn_store_user_lookup(conf, (u_char *) "alice@x.test", 11, &u, log)
       == TN_DONE, "length is honoured (no NUL needed)");

    n = 0;
    ok(tn_store_user_list(conf, NULL, 0, list_count, &n, log) == TN_OK
       && n == 1, "user list");
    n = 0;
    ok(tn_store_user_list(conf, (u_char *) "y.test", 6, list_count, &n, log)
       == TN_OK && n == 0, "user list of a domain");
    ok(tn_store_user_list(conf, (u_char *) "q.test", 6, list_count, &n, log)
       == TN_DECLINED, "user list of an unknown domain");
}


static void
test_passwords(tn_store_conf_t *conf, tn_log_t *log)
{
    tn_uint_t        i;
    tn_store_user_t  u;
    char             hash[TN_STORE_HASH_LEN];

    static const tn_uint_t  schemes[] = {
        TN_STORE_PW_YESCRYPT, TN_STORE_PW_SHA512, TN_STORE_PW_BCRYPT
    };
    static const tn_uint_t  costs[] = { 1, 1000, 4 };
    static const char      *prefixes[] = { "$y$", "$6$", "$2b$" };
    static const char      *names[] = { "yescrypt", "sha512crypt", "bcrypt" };

    char  name[128];

    for (i = 0; i < 3; i++) {
        conf->password_scheme = schemes[i];
        conf->password_cost = costs[i];

        ok(tn_store_password_hash(conf, (u_char *) "pässword", 9, hash,
                                  sizeof(hash)) == TN_OK
           && strncmp(hash, prefixes[i], strlen(prefixes[i])) == 0
           && tn_store_password_verify((u_char *) "pässword", 9, hash)
              == TN_OK
           && tn_store_password_verify((u_char *) "pässwort", 9, hash)
              == TN_DECLINED
           && tn_store_password_verify((u_char *) "pässwor", 8, hash)
              == TN_DECLINED,
           names[i]);

        snprintf(name, sizeof(name), "%s: passwd, auth right/wrong/unknown",
                 names[i]);

        ok(tn_store_user_passwd(conf, (u_char *) "alice@x.test", 12,
                                (u_char *) "hunter2", 7, log) == TN_OK
           && tn_store_auth(conf, (u_char *) "Alice@x.test", 12,
                            (u_char *) "hunter2", 7, &u, log) == TN_OK
           && strcmp(u.address, "alice@x.test") == 0
           && tn_store_auth(conf, (u_char *) "alice@x.test", 12,
                            (u_char *) "hunter3", 7, &u, log) == TN_DECLINED
           && tn_store_auth(conf, (u_char *) "eve@x.test", 10,
                            (u_char *) "hunter2", 7, &u, log) == TN_DECLINED
           && tn_store_auth(conf, (u_char *) "alice@q.test", 12,
                            (u_char *) "hunter2", 7, &u, log) == TN_DECLINED,
           name);
    }

    ok(tn_store_auth(conf, (u_char *) "alice@x.test", 12,
                     (u_char *) "", 0, &u, log) == TN_DECLINED
       && tn_store_auth(conf, (u_char *) "alice@x.test", 12,
                        (u_char *) "hun\0ter2", 8, &u, log) == TN_DECLINED
       && tn_store_auth(conf, (u_char *) "a' OR '1'='1@x.test", 19,
                        (u_char *) "x", 1, &u, log) == TN_DECLINED,
       "auth: empty, NUL, injection");

    ok(tn_store_password_verify((u_char *) "x", 1, "!") == TN_DECLINED
       && tn_store_password_verify((u_char *) "x", 1, "*") == TN_DECLINED
       && tn_store_password_verify((u_char *) "x", 1, "") == TN_DECLINED
       && tn_store_password_verify((u_char *) "x", 1, "$6$") == TN_DECLINED,
       "locked and broken hashes never match");

    /* a $6$ hash from another system (Dovecot, /etc/shadow) verifies */
    ok(tn_store_password_verify((u_char *) "secret", 6,
           "$6$GJRzXxoNk4gWLocC$lG6csRtTQ3brE8WJtI8dXsu.3nxApR2Bzf/1eDLcyIMHw5"
           "fGYIOk1hI6fCMil9VJpAcUnknf34xTSgUj3DqzS1") == TN_OK,
       "foreign $6$ hash");

    conf->password_scheme = TN_STORE_PW_YESCRYPT;
    conf->password_cost = 1;
}


static void
test_delivery(tn_store_conf_t *conf, tn_log_t *log, tn_store_user_t *alice,
    tn_store_user_t *bob)
{
    int                   status, p[2];
    pid_t                 pid;
    tn_fd_t               fd;
    tn_uint_t             i, j, good;
    pthread_t             tids[TEST_THREADS];
    test_thread_t         th[TEST_THREADS];
    tn_store_user_t       both[2], bad[2];
    tn_store_delivery_t   d[3], *dp[3];
    uint32_t              uids[3][2], all[TEST_THREADS * TEST_PER_THREAD];
    uint32_t              puids[2 * TEST_PER_PROCESS];
    char                  path[PATH_MAX + 16], name[PATH_MAX];
    DIR                  *dir;
    struct dirent        *de;

    both[0] = *alice;
    both[1] = *bob;

    /* three messages, two users each, one batch */

    for (i = 0; i < 3; i++) {
        tn_memzero(&d[i], sizeof(tn_store_delivery_t));

        fd = tn_store_spool_create(conf, d[i].spool_path, log);
        (void) write(fd, bodies[i], strlen(bodies[i]));
        close(fd);

        d[i].size = strlen(bodies[i]);
        d[i].vsize = vsize_of(bodies[i], strlen(bodies[i]));
        d[i].internaldate = time(NULL);
        d[i].nrcpts = 2;
        d[i].rcpts = both;
        d[i].uids = uids[i];
        dp[i] = &d[i];
    }

    tn_store_deliver(conf, dp, 3, log);

    ok(d[0].rc == TN_OK && d[1].rc == TN_OK && d[2].rc == TN_OK,
       "batch of 3 to 2 users delivered");
    ok(uids[0][0] == 1 && uids[1][0] == 2 && uids[2][0] == 3
       && uids[0][1] == 1 && uids[1][1] == 2 && uids[2][1] == 3,
       "UIDs 1,2,3 for each user");

    path_of(name, "spool");
    ok(count_files(name) == 0, "spool files gone");

    snprintf(path, sizeof(path), "%s/new", alice->maildir);
    ok(count_files(path) == 3, "3 files in alice's new/");
    snprintf(path, sizeof(path), "%s/new", bob->maildir);
    ok(count_files(path) == 3, "3 files in bob's new/");

    /* the names: unique, escaped host, S= and W= right */

    snprintf(path, sizeof(path), "%s/new", alice->maildir);
    dir = opendir(path);
    good = 1;
    j = 0;

    while (dir && (de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        j++;

        if (strstr(de->d_name, ".M") == NULL
            || strstr(de->d_name, "\\057") == NULL
            || strstr(de->d_name, "\\072") == NULL
            || strchr(de->d_name, ':') != NULL)
        {
            good = 0;
            printf("# name: %s\n", de->d_name);
        }

        for (i = 0; i < 3; i++) {
            snprintf(name, sizeof(name), ",S=%u,W=%u",
                     (unsigned) strlen(bodies[i]),
                     (unsigned) vsize_of(bodies[i], strlen(bodies[i])));

            if (strstr(de->d_name, name)) {
                break;
            }
        }

        if (i == 3) {
            good = 0;
            printf("# sizes: %s\n", de->d_name);
        }
    }

    if (dir) {
        closedir(dir);
    }

    ok(good && j == 3, "names: escaped host name, S= and W=");

    ok(db_count(alice->maildir, "SELECT count(DISTINCT uid) FROM messages")
       == 3 && db_count(alice->maildir,
                        "SELECT uidnext FROM mailboxes") == 4,
       "index rows and uidnext");

    /* a failure in the batch: only its message fails, and leaves nothing */

    bad[0] = *alice;
    bad[1] = *bob;
    snprintf(bad[1].maildir, sizeof(bad[1].maildir), "%s/mail/x.test/ghost",
             tmpdir);

    for (i = 0; i < 2; i++) {
        tn_memzero(&d[i], sizeof(tn_store_delivery_t));

        fd = tn_store_spool_create(conf, d[i].spool_path, log);
        (void) write(fd, bodies[i], strlen(bodies[i]));
        close(fd);

        d[i].size = strlen(bodies[i]);
        d[i].vsize = vsize_of(bodies[i], strlen(bodies[i]));
        d[i].nrcpts = (i == 0) ? 2 : 1;
        d[i].rcpts = (i == 0) ? bad : both;
        d[i].uids = uids[i];
        dp[i] = &d[i];
    }

    tn_store_deliver(conf, dp, 2, log);

    snprintf(path, sizeof(path), "%s/new", alice->maildir);
    ok(d[0].rc == TN_ERROR && d[0].err == TN_ENOENT && d[1].rc == TN_OK
       && uids[1][0] == 4 && count_files(path) == 4,
       "a failed recipient fails its message only, nothing left in new/");
    path_of(name, "spool");
    ok(count_files(name) == 0, "spool files gone after a failure");

    /* two threads, 50 deliveries each, one user */

    for (i = 0; i < TEST_THREADS; i++) {
        tn_memzero(&th[i], sizeof(test_thread_t));
        th[i].conf = conf;
        th[i].user = alice;
        th[i].log = log;
        th[i].n = i;
        pthread_create(&tids[i], NULL, deliver_thread, &th[i]);
    }

    for (i = 0; i < TEST_THREADS; i++) {
        pthread_join(tids[i], NULL);
    }

    for (i = 0; i < TEST_THREADS; i++) {
        memcpy(&all[i * TEST_PER_THREAD], th[i].uids,
               sizeof(th[i].uids));
    }

    qsort(all, TEST_THREADS * TEST_PER_THREAD, sizeof(uint32_t), uid_cmp);

    good = (th[0].ok == TEST_PER_THREAD && th[1].ok == TEST_PER_THREAD);

    for (i = 1; i < TEST_THREADS * TEST_PER_THREAD; i++) {
        if (all[i] == all[i - 1] || all[i] == 0) {
            good = 0;
        }
    }

    snprintf(path, sizeof(path), "%s/new", alice->maildir);
    ok(good && all[0] == 5 && count_files(path) == 104,
       "2 threads x 50 deliveries: 100 distinct UIDs, 100 files");

    /* two processes at once */

    if (pipe(p) == -1) {
        ok(0, "pipe");
        return;
    }

    pid = fork();

    if (pid == 0) {
        close(p[0]);

        for (i = 0; i < TEST_PER_PROCESS; i++) {
            if (deliver(conf, alice, 1, "Subject: child\n\nchild\n",
                        &puids[i], log) != TN_OK)
            {
                _exit(1);
            }
        }

        (void) write(p[1], puids, TEST_PER_PROCESS * sizeof(uint32_t));
        _exit(0);
    }

    close(p[1]);

    good = 1;

    for (i = 0; i < TEST_PER_PROCESS; i++) {
        if (deliver(conf, alice, 1, "Subject: parent\n\nparent\n",
                    &puids[TEST_PER_PROCESS + i], log) != TN_OK)
        {
            good = 0;
        }
    }

    if (read(p[0], puids, TEST_PER_PROCESS * sizeof(uint32_t))
        != TEST_PER_PROCESS * sizeof(uint32_t))
    {
        good = 0;
    }

    close(p[0]);
    waitpid(pid, &status, 0);

    qsort(puids, 2 * TEST_PER_PROCESS, sizeof(uint32_t), uid_cmp);

    for (i = 1; i < 2 * TEST_PER_PROCESS; i++) {
        if (puids[i] == puids[i - 1]) {
            good = 0;
        }
    }

    ok(good && WIFEXITED(status) && WEXITSTATUS(status) == 0
       && puids[0] == 105 && puids[2 * TEST_PER_PROCESS - 1] == 144,
       "2 processes x 20 deliveries: distinct UIDs");
}


static void
test_mailbox(tn_store_conf_t *conf, tn_log_t *log, tn_store_user_t *alice)
{
    tn_uint_t            i, n, good;
    uint32_t             uidvalidity, uid, uids[2];
    struct timespec      ts[2];
    tn_store_msg_t      *m;
    tn_store_mailbox_t   mb, mb2;
    char                 path[PATH_MAX + 300], path2[PATH_MAX + 300];
    char                 longname[200];

    ok(tn_store_mailbox_load(conf, alice, &mb, log) == TN_OK
       && mb.nmsgs == 144 && mb.uidnext == 145 && mb.uidvalidity != 0,
       "mailbox load");

    good = 1;

    for (i = 0; i < mb.nmsgs; i++) {
        if (mb.msgs[i].uid != i + 1 || access(mb.msgs[i].path, R_OK) != 0
            || strlen(mb.msgs[i].uidl) == 0 || strlen(mb.msgs[i].uidl) > 70
            || strstr(mb.msgs[i].uidl, ",S=") != NULL)
        {
            good = 0;
        }
    }

    ok(good, "sorted by UID, paths exist, UIDLs are base names");
    good = 1;

    for (i = 0; i < 3; i++) {
        if (mb.msgs[i].size != (off_t) strlen(bodies[i])
            || mb.msgs[i].vsize != vsize_of(bodies[i], strlen(bodies[i])))
        {
            good = 0;
        }
    }

    ok(good, "size and vsize");

    uidvalidity = mb.uidvalidity;
    tn_store_mailbox_free(&mb);

    /* dropped in by hand: into new/, and with odd names into cur/ */

    snprintf(path, sizeof(path), "%s/new/1700000000.hand.test",
             alice->maildir);
    write_file(path, "a\nb\r\nc\n", 7);

    snprintf(path, sizeof(path), "%s/cur/odd name\001\n:2,S", alice->maildir);
    write_file(path, "x\n", 2);

    memset(longname, 'L', 100);
    longname[100] = '\0';
    snprintf(path, sizeof(path), "%s/cur/%s:2,RS", alice->maildir, longname);
    write_file(path, "y", 1);

    /* hostile entries: a symlink out, a directory, a FIFO */

    snprintf(path, sizeof(path), "%s/new/1700000001.link.test",
             alice->maildir);
    (void) symlink("/etc/passwd", path);
    snprintf(path, sizeof(path), "%s/new/1700000002.dir.test",
             alice->maildir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/new/1700000003.fifo.test",
             alice->maildir);
    mkfifo(path, 0600);

    ok(tn_store_mailbox_load(conf, alice, &mb, log) == TN_OK
       && mb.nmsgs == 147 && mb.uidvalidity == uidvalidity,
       "new files picked up, symlink/dir/FIFO ignored");

    m = find_uidl(&mb, "1700000000.hand.test");
    ok(m && m->uid >= 145 && m->size == 7 && m->vsize == 9,
       "a hand-made file gets a UID and its vsize");

    n = 0;

    for (i = 0; i < mb.nmsgs; i++) {
        if (strlen(mb.msgs[i].uidl) == 64) {
            n++;
        }

        if (strstr(mb.msgs[i].path, "/etc/passwd")
            || strstr(mb.msgs[i].path, "link.test"))
        {
            n = 100;
        }
    }

    ok(n == 2, "odd and long names get hex UIDLs; the symlink is absent");

    for (i = 0; i < mb.nmsgs; i++) {
        if (strstr(mb.msgs[i].path, "odd name")) {
            break;
        }
    }

    ok(i < mb.nmsgs && mb.msgs[i].size == 2 && mb.msgs[i].vsize == 3
       && access(mb.msgs[i].path, R_OK) == 0,
       "a cur/ file with flags and odd bytes is read as data");

    uids[0] = m ? m->uid : 0;
    uids[1] = (i < mb.nmsgs) ? mb.msgs[i].uid : 0;

    /* load again: the same UIDs */

    ok(tn_store_mailbox_load(conf, alice, &mb2, log) == TN_OK
       && mb2.nmsgs == mb.nmsgs
       && memcmp(&mb2.msgs[mb2.nmsgs - 1].uid, &mb.msgs[mb.nmsgs - 1].uid,
                 sizeof(uint32_t)) == 0
       && mb2.uidnext == mb.uidnext, "a second load changes nothing");

    tn_store_mailbox_free(&mb2);
    tn_store_mailbox_free(&mb);

    /* expunge: one from new/, one from cur/ */

    ok(tn_store_expunge(conf, alice, uids, 2, log) == TN_OK,
       "expunge");

    snprintf(path, sizeof(path), "%s/new/1700000000.hand.test",
             alice->maildir);
    snprintf(path2, sizeof(path2), "%s/cur/odd name\001\n:2,S",
             alice->maildir);
    snprintf(longname, sizeof(longname),
             "SELECT count(*) FROM messages WHERE uid IN (%u, %u)",
             (unsigned) uids[0], (unsigned) uids[1]);

    ok(access(path, F_OK) == -1 && access(path2, F_OK) == -1
       && db_count(alice->maildir, longname) == 0,
       "expunge removed the files and the rows");

    /* a file removed by hand, a stale tmp/ file, a fresh one */

    ok(tn_store_mailbox_load(conf, alice, &mb, log) == TN_OK
       && mb.nmsgs == 145, "load after expunge");

    uid = mb.msgs[0].uid;
    unlink(mb.msgs[0].path);
    tn_store_mailbox_free(&mb);

    snprintf(path, sizeof(path), "%s/tmp/stale", alice->maildir);
    write_file(path, "old", 3);
    ts[0].tv_sec = time(NULL) - 40 * 3600;
    ts[0].tv_nsec = 0;
    ts[1] = ts[0];
    utimensat(AT_FDCWD, path, ts, 0);

    snprintf(path2, sizeof(path2), "%s/tmp/fresh", alice->maildir);
    write_file(path2, "new", 3);

    snprintf(longname, sizeof(longname),
             "SELECT count(*) FROM messages WHERE uid = %u", (unsigned) uid);

    ok(tn_store_mailbox_load(conf, alice, &mb, log) == TN_OK
       && mb.nmsgs == 144 && mb.msgs[0].uid != uid
       && db_count(alice->maildir, longname) == 0,
       "a file removed by hand loses its row");

    ok(access(path, F_OK) == -1 && access(path2, F_OK) == 0,
       "tmp/ files older than 36 h removed, fresh ones kept");

    unlink(path2);
    tn_store_mailbox_free(&mb);

    /* names that differ only after ",S=": UIDLs must still differ */

    snprintf(path, sizeof(path), "%s/new/dup.base,S=1", alice->maildir);
    write_file(path, "1", 1);
    snprintf(path2, sizeof(path2), "%s/new/dup.base,S=2", alice->maildir);
    write_file(path2, "22", 2);

    ok(tn_store_mailbox_load(conf, alice, &mb, log) == TN_OK
       && mb.nmsgs == 146 && find_uidl(&mb, "dup.base") != NULL
       && strlen(mb.msgs[mb.nmsgs - 1].uidl) == 64
       && strcmp(mb.msgs[mb.nmsgs - 1].uidl, mb.msgs[mb.nmsgs - 2].uidl)
          != 0, "UIDLs stay unique");

    tn_store_mailbox_free(&mb);
    unlink(path);
    unlink(path2);
}


static void
test_rebuild(tn_store_conf_t *conf, tn_log_t *log, tn_store_user_t *alice)
{
    uint32_t             v0, v1, v2, v3, last;
    tn_uint_t            n;
    tn_store_mailbox_t   mb;
    char                 path[PATH_MAX + 32];

    tn_store_mailbox_load(conf, alice, &mb, log);
    v0 = mb.uidvalidity;
    n = mb.nmsgs;
    last = mb.msgs[mb.nmsgs - 1].uid;
    tn_store_mailbox_free(&mb);

    ok(tn_store_index_rebuild(conf, alice, log) == TN_OK
       && tn_store_mailbox_load(conf, alice, &mb, log) == TN_OK
       && mb.uidvalidity == v0 && mb.nmsgs == n
       && mb.msgs[mb.nmsgs - 1].uid == last,
       "rebuild of a sound index keeps UIDVALIDITY and UIDs");
    tn_store_mailbox_free(&mb);

    /* index.db lost */

    snprintf(path, sizeof(path), "%s/index.db", alice->maildir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/index.db-wal", alice->maildir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/index.db-shm", alice->maildir);
    unlink(path);

    ok(tn_store_index_rebuild(conf, alice, log) == TN_OK
       && tn_store_mailbox_load(conf, alice, &mb, log) == TN_OK
       && mb.nmsgs == n && mb.uidvalidity > v0
       && mb.msgs[0].uid == 1 && mb.uidnext == n + 1,
       "rebuild after index.db was deleted: new UIDVALIDITY");
    v1 = mb.uidvalidity;
    tn_store_mailbox_free(&mb);

    /* index.db garbage: rebuild */

    corrupt_index(alice, "this is no database, but garbage", 32);

    ok(tn_store_index_rebuild(conf, alice, log) == TN_OK
       && tn_store_mailbox_load(conf, alice, &mb, log) == TN_OK
       && mb.nmsgs == n && mb.uidvalidity > v1,
       "rebuild after index.db was overwritten");
    v2 = mb.uidvalidity;
    tn_store_mailbox_free(&mb);

    /* garbage again, and the next load repairs it by itself */

    {
        char   junk[8192];

        memset(junk, 0xa5, sizeof(junk));
        corrupt_index(alice, junk, sizeof(junk));
    }

    ok(tn_store_mailbox_load(conf, alice, &mb, log) == TN_OK
       && mb.nmsgs == n && mb.uidvalidity > v2,
       "mailbox load rebuilds a corrupt index");
    v3 = mb.uidvalidity;
    tn_store_mailbox_free(&mb);

    /* and delivery after that works, with the next UID */

    {
        uint32_t  uid;

        ok(deliver(conf, alice, 1, "Subject: after\n\nafter\n", &uid, log)
           == TN_OK && uid == n + 1, "delivery after a rebuild");
    }

    /* deliver into a corrupt index: rebuilt, UIDs consistent */

    corrupt_index(alice, "garbage", 7);

    {
        uint32_t  uid;

        ok(deliver(conf, alice, 1, "Subject: x\n\ncorrupt\n", &uid, log)
           == TN_OK && uid == n + 2
           && tn_store_mailbox_load(conf, alice, &mb, log) == TN_OK
           && mb.nmsgs == n + 2 && mb.uidvalidity > v3
           && mb.msgs[mb.nmsgs - 1].uid == uid,
           "delivery into a corrupt index rebuilds it");
        tn_store_mailbox_free(&mb);
    }
}


static void
test_admin(tn_store_conf_t *conf, tn_log_t *log)
{
    tn_store_user_t  u;
    char             path[PATH_MAX], out[256];

    ok(tn_store_domain_del(conf, (u_char *) "x.test", 6, log) == TN_DECLINED,
       "domain del refused while it has users");

    ok(tn_store_user_del(conf, (u_char *) "BOB@x.test", 10, log) == TN_OK
       && tn_store_user_lookup(conf, (u_char *) "bob@x.test", 10, &u, log)
          == TN_DECLINED, "user del");

    path_of(path, "mail/x.test/bob");
    ok(access(path, F_OK) == -1 && count_files(path) == -1,
       "the Maildir is moved aside");

    path_of(path, "mail/x.test");
    ok(count_files(path) == 2, "... as bob.deleted-<time>");

    ok(tn_store_user_add(conf, (u_char *) "bob@x.test", 10,
                         (u_char *) "pw", 2, log) == TN_OK,
       "a deleted user can be added again, with a fresh Maildir");

    ok(tn_store_user_del(conf, (u_char *) "bob@x.test", 10, log) == TN_OK
       && tn_store_user_del(conf, (u_char *) "bob@x.test", 10, log)
          == TN_DECLINED, "user del twice");

    ok(tn_store_user_del(conf, (u_char *) "alice@x.test", 12, log) == TN_OK
       && tn_store_domain_del(conf, (u_char *) "X.TEST", 6, log) == TN_OK
       && tn_store_user_lookup(conf, (u_char *) "alice@x.test", 12, &u, log)
          == TN_DONE, "domain del once empty");

    /* the command line */

    ok(cli(conf, "domain", "add", "cli.test", NULL, NULL, 0) == 0
       && cli(conf, "domain", "add", "cli.test", NULL, NULL, 0) == 1
       && cli(conf, "domain", "list", NULL, NULL, out, sizeof(out)) == 0
       && strcmp(out, "cli.test\ny.test\n") == 0,
       "cli: domain add, add again, list");

    ok(cli(conf, "user", "add", "dave@cli.test", "s3cret\n", NULL, 0) == 0
       && tn_store_auth(conf, (u_char *) "dave@cli.test", 13,
                        (u_char *) "s3cret", 6, &u, log) == TN_OK,
       "cli: user add reads the password from stdin");

    ok(cli(conf, "user", "passwd", "dave@cli.test", "n3w\r\n", NULL, 0) == 0
       && tn_store_auth(conf, (u_char *) "dave@cli.test", 13,
                        (u_char *) "n3w", 3, &u, log) == TN_OK,
       "cli: user passwd (CRLF stripped)");

    ok(cli(conf, "user", "add", "erin@cli.test", "", NULL, 0) == 1
       && cli(conf, "user", "add", "x/y@cli.test", "pw\n", NULL, 0) == 1
       && cli(conf, "user", "del", "nobody@cli.test", NULL, NULL, 0) == 1,
       "cli: refusals exit 1");

    ok(cli(conf, "user", "list", NULL, NULL, out, sizeof(out)) == 0
       && strcmp(out, "dave@cli.test\n") == 0
       && cli(conf, "user", "list", "cli.test", NULL, NULL, 0) == 0
       && cli(conf, "index", "rebuild", "dave@cli.test", NULL, NULL, 0) == 0
       && cli(conf, "index", "rebuild", "nobody@cli.test", NULL, NULL, 0)
          == 1,
       "cli: user list, index rebuild");

    ok(cli(conf, "bogus", NULL, NULL, NULL, NULL, 0) == 1
       && cli(conf, "domain", "add", NULL, NULL, NULL, 0) == 1
       && cli(conf, "domain", "frob", "x", NULL, NULL, 0) == 1,
       "cli: usage errors exit 1");
}


/* SMTPUTF8 addresses: UTF-8 local parts, U-label and A-label domains */

static void
test_utf8(tn_store_conf_t *conf, tn_log_t *log)
{
    tn_int_t          rc;
    tn_uint_t         i, n;
    tn_store_user_t   u;
    tn_store_addr_t   a;
    char              path[PATH_MAX], out[256], local[128];
    struct stat       sb;

    static const char  *bad[] = {
        "j\xc3@b\xc3\xbc" "cher.example",           /* truncated */
        "j\xc3\xb6s\xc3@b\xc3\xbc" "cher.example",   /* truncated at '@' */
        "\xc0\xaf@b\xc3\xbc" "cher.example",         /* overlong '/' */
        "\xc0\xae\xc0\xae@b\xc3\xbc" "cher.example",  /* overlong ".." */
        "\xe0\x80\xaf@b\xc3\xbc" "cher.example",     /* overlong '/' */
        "\xed\xa0\x80@b\xc3\xbc" "cher.example",     /* surrogate */
        "\xf4\x90\x80\x80@b\xc3\xbc" "cher.example", /* above U+10FFFF */
        "a\x80@b\xc3\xbc" "cher.example",             /* continuation */
        "\xff@b\xc3\xbc" "cher.example",
        "a\xc2\x80" "b@b\xc3\xbc" "cher.example",      /* C1 U+0080 */
        "\xc2\x9b@b\xc3\xbc" "cher.example",         /* C1 CSI */
        "\xc2\x85@b\xc3\xbc" "cher.example",         /* C1 NEL */
        ".\xc3\xb6@b\xc3\xbc" "cher.example",
        "\xc3\xb6/x@b\xc3\xbc" "cher.example",
        NULL
    };

    ok(tn_store_domain_add(conf, TEST_S("b\xc3\xbc" "cher.example"),
                           log) == TN_OK, "utf8: domain add of a U-label");

    ok(tn_store_domain_add(conf, TEST_S("XN--BCHER-KVA.example"), log)
       == TN_DECLINED
       && tn_store_domain_add(conf, TEST_S("B\xc3\xbc" "cher.Example"), log)
          == TN_DECLINED,
       "utf8: its A-label and other ASCII case are the same domain");

    ok(cli(conf, "domain", "list", NULL, NULL, out, sizeof(out)) == 0
       && strstr(out, "xn--bcher-kva.example\n") != NULL
       && strstr(out, "\xc3") == NULL,
       "utf8: the domain is kept as its A-label");

    /* non-ASCII is not case folded: another domain */
    ok(tn_store_domain_add(conf, TEST_S("B\xc3\x9c" "CHER.example"),
                           log) == TN_OK
       && tn_store_domain_del(conf, TEST_S("xn--bcher-2pa.example"),
                              log) == TN_OK,
       "utf8: an upper-case U-label is another A-label");

    ok(tn_store_domain_add(conf, TEST_S("b\xc3.example"), log)
       == TN_DECLINED
       && tn_store_domain_add(conf, TEST_S("\xc2\x80.example"), log)
          == TN_DECLINED
       && tn_store_domain_add(conf, TEST_S("b_\xc3\xbc.example"),
                              log) == TN_DECLINED
       && tn_store_domain_add(conf, TEST_S("-\xc3\xbc.example"), log)
          == TN_DECLINED,
       "utf8: malformed, C1 and non-LDH U-labels refused");

    ok(tn_store_user_add(conf, TEST_S("j\xc3\xb6s\xc3\xa9@b\xc3\xbc"
                         "cher.example"), TEST_S("pw"), log)
       == TN_OK, "utf8: user add jösé@bücher.example");

    path_of(path, "mail/xn--bcher-kva.example/j\xc3\xb6s\xc3\xa9/new");
    ok(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode),
       "utf8: Maildir under the A-label, local part as given");

    rc = tn_store_user_lookup(conf, TEST_S("j\xc3\xb6s\xc3\xa9"
                              "@xn--bcher-kva.example"), &u, log);
    path_of(path, "mail/xn--bcher-kva.example/j\xc3\xb6s\xc3\xa9");
    ok(rc == TN_OK
       && strcmp(u.address, "j\xc3\xb6s\xc3\xa9@xn--bcher-kva.example") == 0
       && strcmp(u.maildir, path) == 0,
       "utf8: lookup by the A-label");

    ok(tn_store_user_lookup(conf, TEST_S("J\xc3\xb6S\xc3\xa9"
                            "@XN--BCHER-KVA.example"), &u, log) == TN_OK
       && tn_store_user_lookup(conf, TEST_S("j\xc3\xb6s\xc3\xa9"
                               "@B\xc3\xbc" "cher.EXAMPLE"), &u, log)
          == TN_OK,
       "utf8: ASCII letters are case-insensitive");

    ok(tn_store_user_lookup(conf, TEST_S("J\xc3\x96S\xc3\x89"
                            "@xn--bcher-kva.example"), &u, log)
       == TN_DECLINED,
       "utf8: non-ASCII letters are not case folded");

    ok(tn_store_user_lookup(conf, TEST_S("jo\xcc\x88se\xcc\x81"
                            "@xn--bcher-kva.example"), &u, log)
       == TN_DECLINED, "utf8: nor normalised (NFD is another user)");

    ok(tn_store_auth(conf, TEST_S("j\xc3\xb6s\xc3\xa9@b\xc3\xbc"
                     "cher.example"), TEST_S("pw"), &u, log)
       == TN_OK, "utf8: auth with a UTF-8 address");

    ok(tn_store_user_lookup(conf, TEST_S("j\xc3\xb6s\xc3\xa9"
                            "@b\xc3.example"), &u, log) == TN_DONE,
       "utf8: a malformed domain is not local");

    rc = TN_OK;

    for (i = 0; bad[i]; i++) {
        if (tn_store_user_add(conf, (u_char *) bad[i], strlen(bad[i]),
                              TEST_S("pw"), log) != TN_DECLINED
            || tn_store_user_lookup(conf, (u_char *) bad[i], strlen(bad[i]),
                                    &u, log) != TN_DECLINED)
        {
            rc = TN_ERROR;
            printf("# accepted %u\n", (unsigned) i);
        }

        tn_store_addr_parse((u_char *) bad[i], strlen(bad[i]), &a);

        if (a.local_ok || !a.domain_ok || a.address_len) {
            rc = TN_ERROR;
            printf("# parsed %u\n", (unsigned) i);
        }
    }

    path_of(path, "mail/xn--bcher-kva.example");
    ok(rc == TN_OK && count_files(path) == 1,
       "utf8: malformed UTF-8 and C1 controls refused, nothing created");

    /* the octet limits: 32 x "ü" is 64 octets */

    for (i = 0; i < 32; i++) {
        memcpy(local + 2 * i, "\xc3\xbc", 2);
    }

    strcpy(local + 64, "@xn--bcher-kva.example");
    tn_store_addr_parse((u_char *) local, strlen(local), &a);
    ok(a.local_ok && a.local_len == 64, "utf8: a 64-octet local part");

    local[64] = 'a';
    strcpy(local + 65, "@xn--bcher-kva.example");
    tn_store_addr_parse((u_char *) local, strlen(local), &a);
    ok(!a.local_ok && a.domain_ok, "utf8: a 65-octet local part");

    n = 0;
    ok(tn_store_user_list(conf, TEST_S("b\xc3\xbc" "cher.example"),
                          list_count, &n, log) == TN_OK && n == 1
       && cli(conf, "user", "list", "b\xc3\xbc" "cher.example", NULL, out,
              sizeof(out)) == 0
       && strcmp(out, "j\xc3\xb6s\xc3\xa9@xn--bcher-kva.example\n") == 0,
       "utf8: user list of a U-label domain (UTF-8 printed as it is)");

    ok(tn_store_user_del(conf, TEST_S("J\xc3\xb6s\xc3\xa9"
                         "@XN--BCHER-KVA.EXAMPLE"), log) == TN_OK
       && tn_store_domain_del(conf, TEST_S("b\xc3\xbc" "cher.example"), log)
          == TN_OK,
       "utf8: user del, domain del");

    {
        int      fds[2];
        ssize_t  nr;
        char     got[128];
        u_char   text[] = "a\x01\xc3\xa9\xc2\x85\xc0\xaf\xe2\x9c";

        nr = -1;

        if (pipe(fds) == 0) {
            tn_store_write_escaped(fds[1], "<", text, sizeof(text) - 1,
                                   ">");
            nr = read(fds[0], got, sizeof(got) - 1);
            close(fds[0]);
            close(fds[1]);
        }

        got[nr > 0 ? nr : 0] = '\0';

        ok(strcmp(got, "<a\\x01\xc3\xa9\\xC2\\x85\\xC0\\xAF\\xE2\\x9C>")
           == 0,
           "escaped output: UTF-8 kept; controls, C1, overlong, cut "
           "sequences escaped");
    }
}


/* the only file in dir into buf (NUL-terminated); its name into name */
static ssize_t
read_only_file(const char *dir, char *buf, size_t size, char *name)
{
    int             fd;
    DIR            *d;
    ssize_t         n;
    struct dirent  *de;
    char            path[PATH_MAX + NAME_MAX + 2];

    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }

    n = -1;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name)
            >= (int) sizeof(path)
            || snprintf(name, NAME_MAX + 1, "%s", de->d_name) > NAME_MAX)
        {
            break;
        }

        fd = open(path, O_RDONLY);
        if (fd == -1) {
            break;
        }

        n = read(fd, buf, size - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        break;
    }

    closedir(d);

    return n;
}


/*
 * The message checks' edits at delivery (an insert after the Received
 * header, cuts; sizes and names follow) and the Junk mailbox of a
 * quarantined message.
 */
static void
test_edits(tn_store_conf_t *conf, tn_log_t *log)
{
    char                  path[PATH_MAX + 32], got[1024], name[NAME_MAX + 1];
    char                  want[128];
    tn_str_t              junk;
    uint32_t              uids[3][2];
    tn_uint_t             i;
    tn_pool_t            *pool;
    const char           *reason;
    tn_store_user_t       carol, pair[2];
    tn_store_edit_t       e[3];
    tn_store_delivery_t   d[3], *dp[3];
    tn_store_mbox_info_t  info;

    static const char  text[] =
        "Received: r\n"
        "Authentication-Results: ours; spf=pass\n"
        "Subject: s\n"
        "X-Forged: 1\n 2\n"
        "\n"
        "body\n";
    static const char  ar[] = "Authentication-Results: ours;\n\tspf=fail\n";
    static const char  expect[] =
        "Received: r\n"
        "Authentication-Results: ours;\n\tspf=fail\n"
        "Subject: s\n"
        "\n"
        "body\n";

    (void) tn_store_domain_add(conf, TEST_S("edit.test"), log);
    tn_store_user_add(conf, TEST_S("carol@edit.test"), TEST_S("pw"), log);

    if (tn_store_user_lookup(conf, TEST_S("carol@edit.test"), &carol, log)
        != TN_OK)
    {
        ok(0, "edits: carol");
        return;
    }

    /* an insert and a cut at the same offset, and one more cut */

    tn_memzero(e, sizeof(e));
    e[0].offset = 12;
    e[0].data = (u_char *) ar;
    e[0].size = sizeof(ar) - 1;
    e[0].data_lines = 2;
    e[1].offset = 12;
    e[1].len = 39;
    e[1].lines = 1;
    e[2].offset = 12 + 39 + 11;
    e[2].len = 15;
    e[2].lines = 2;

    for (i = 0; i < 3; i++) {
        tn_memzero(&d[i], sizeof(tn_store_delivery_t));
        d[i].internaldate = time(NULL);
        d[i].nrcpts = 1;
        d[i].rcpts = &carol;
        d[i].uids = uids[i];
        dp[i] = &d[i];
    }

    i = tn_store_spool_create(conf, d[0].spool_path, log);
    (void) write(i, text, sizeof(text) - 1);
    close(i);

    d[0].size = sizeof(text) - 1;
    d[0].vsize = vsize_of(text, sizeof(text) - 1);
    d[0].edits = e;
    d[0].nedits = 3;

    tn_store_deliver(conf, dp, 1, log);

    snprintf(path, sizeof(path), "%s/new", carol.maildir);
    snprintf(want, sizeof(want), ",S=%d,W=%d", (int) sizeof(expect) - 1,
             (int) vsize_of(expect, sizeof(expect) - 1));

    ok(d[0].rc == TN_OK && read_only_file(path, got, sizeof(got), name) > 0
       && strcmp(got, expect) == 0 && strstr(name, want) != NULL,
       "edits: the delivered file has the insert, not the cuts; S= and W=");

    ok(d[0].size == (off_t) sizeof(expect) - 1
       && d[0].vsize == vsize_of(expect, sizeof(expect) - 1)
       && db_count(carol.maildir, "SELECT size + 1000 * vsize FROM messages")
          == (int64_t) (sizeof(expect) - 1
                        + 1000 * vsize_of(expect, sizeof(expect) - 1)),
       "edits: size and vsize follow, in the index too");

    path_of(path, "spool");
    ok(count_files(path) == 0, "edits: no spool file and no copy left");

    /* an edit beyond the end fails the message, nothing is left */

    i = tn_store_spool_create(conf, d[1].spool_path, log);
    (void) write(i, text, sizeof(text) - 1);
    close(i);

    e[2].len = 1000;
    d[1].size = sizeof(text) - 1;
    d[1].vsize = vsize_of(text, sizeof(text) - 1);
    d[1].edits = e;
    d[1].nedits = 3;
    dp[0] = &d[1];

    tn_store_deliver(conf, dp, 1, log);

    snprintf(path, sizeof(path), "%s/new", carol.maildir);
    ok(d[1].rc == TN_ERROR && count_files(path) == 1,
       "edits: an edit beyond the end fails the message");
    path_of(path, "spool");
    ok(count_files(path) == 0, "edits: nothing left in the spool");

    /*
     * Quarantine: one batch with a Junk message to carol (who never
     * listed her mailboxes: no Junk folder yet) and bob, and an INBOX
     * message to carol.
     */

    tn_store_user_add(conf, TEST_S("dave@edit.test"), TEST_S("pw"), log);

    pair[0] = carol;

    if (tn_store_user_lookup(conf, TEST_S("dave@edit.test"), &pair[1], log)
        != TN_OK)
    {
        ok(0, "junk: dave");
        return;
    }

    for (i = 0; i < 3; i++) {
        tn_memzero(&d[i], sizeof(tn_store_delivery_t));

        d[i].spool_path[0] = '\0';
        (void) close(tn_store_spool_create(conf, d[i].spool_path, log));
        write_file(d[i].spool_path, bodies[0], strlen(bodies[0]));

        d[i].size = strlen(bodies[0]);
        d[i].vsize = vsize_of(bodies[0], strlen(bodies[0]));
        d[i].internaldate = time(NULL);
        d[i].uids = uids[i];
        dp[i] = &d[i];
    }

    d[0].junk = 1;
    d[0].nrcpts = 2;
    d[0].rcpts = pair;
    d[1].nrcpts = 1;
    d[1].rcpts = &carol;
    d[2].junk = 1;
    d[2].nrcpts = 1;
    d[2].rcpts = &carol;

    tn_store_deliver(conf, dp, 3, log);

    ok(d[0].rc == TN_OK && d[1].rc == TN_OK && d[2].rc == TN_OK
       && uids[0][0] == 1 && uids[0][1] == 1 && uids[2][0] == 2
       && uids[1][0] == 2,
       "junk: delivered, UIDs of their own in Junk");

    snprintf(path, sizeof(path), "%s/.Junk/new", carol.maildir);
    ok(count_files(path) == 2, "junk: two files in carol's .Junk/new");
    snprintf(path, sizeof(path), "%s/new", carol.maildir);
    ok(count_files(path) == 2, "junk: INBOX got only its own");
    snprintf(path, sizeof(path), "%s/.Junk/new", pair[1].maildir);
    ok(count_files(path) == 1, "junk: dave's Junk made and delivered to");

    ok(db_count(carol.maildir, "SELECT count(*) FROM messages m, mailboxes b"
                " WHERE m.mailbox_id = b.id AND b.name = 'Junk'"
                " AND (b.special & 255) = 4") == 2,
       "junk: index rows in the \\Junk mailbox");

    pool = tn_create_pool(4096, log);
    tn_str_set(&junk, "Junk");
    tn_memzero(&info, sizeof(info));

    ok(pool && tn_store_mbox_status(conf, &carol, &junk, pool, &info,
                                    &reason, log) == TN_OK
       && info.messages == 2 && info.special == TN_STORE_SPECIAL_JUNK,
       "junk: IMAP STATUS sees them");

    if (pool) {
        tn_destroy_pool(pool);
    }
}


int
main(void)
{
    tn_store_conf_t   conf;
    tn_store_user_t   alice, bob;
    tn_log_t         *log;
    char              buf[2 * PATH_MAX + 32];

    tn_pagesize = getpagesize();
    tn_time_init();

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
    log = &test_log;

    tn_memzero(&conf, sizeof(conf));
    conf.prefix = str_of(tmpdir);
    path_of(buf, "tern.db");
    conf.db_path = str_of(buf);
    path_of(buf, "mail");
    conf.mail_root = str_of(buf);
    path_of(buf, "spool");
    conf.spool_dir = str_of(buf);
    /* '/' and ':' must be escaped in Maildir names */
    conf.hostname = str_of("mail/host:test");
    conf.password_scheme = TN_STORE_PW_YESCRYPT;
    conf.password_cost = 1;

    test_accounts(&conf, log);
    test_passwords(&conf, log);

    tn_store_user_add(&conf, (u_char *) "bob@x.test", 10, (u_char *) "pw", 2,
                      log);

    if (tn_store_user_lookup(&conf, (u_char *) "alice@x.test", 12, &alice,
                             log) != TN_OK
        || tn_store_user_lookup(&conf, (u_char *) "bob@x.test", 10, &bob,
                                log) != TN_OK)
    {
        printf("Bail out! lookup\n");
        return 1;
    }

    test_delivery(&conf, log, &alice, &bob);
    test_mailbox(&conf, log, &alice);
    test_rebuild(&conf, log, &alice);
    test_admin(&conf, log);
    test_utf8(&conf, log);
    test_edits(&conf, log);

    ok(!log_has("[alert]") && !log_has("[emerg]"), "no alerts in the log");

    printf("1..%u\n", (unsigned) tests);
    fflush(stdout);

    free(conf.prefix.data);
    free(conf.db_path.data);
    free(conf.mail_root.data);
    free(conf.spool_dir.data);
    free(conf.hostname.data);

    if (failed == 0) {
        snprintf(buf, sizeof(buf), "rm -rf '%s' '%s'", tmpdir, logname);

        if (system(buf) != 0) {
            printf("# could not remove %s\n", tmpdir);
        }

    } else {
        printf("# left in %s, log %s\n", tmpdir, logname);
    }

    return failed ? 1 : 0;
}
