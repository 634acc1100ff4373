
/*
 * Copyright (C) The Tern developers
 *
 * Local delivery rules: recipient expansion (users, aliases local and
 * remote, nesting, loops, catch-all, plus-addressing, forwarding, the
 * 1000-target cap), may-send-as, quotas (under, at, over, off, two
 * threads racing for the last bytes, a message to several users), the
 * tern.db migration from schema version 1, the admin commands, and all
 * of it with UTF-8 addresses and U-label domains.
 */


#include <tn_store.h>
#include <tn_store_db.h>


static tn_uint_t        tests;
static tn_uint_t        failed;
static char             tmpdir[] = "/tmp/tn-rules-XXXXXX";
static char             logname[PATH_MAX];
static tn_open_file_t   logfile;
static tn_log_t         test_log;


/* the tern.db schema of version 1, as the store made it */
static const char  old_schema[] =
    "CREATE TABLE IF NOT EXISTS domains ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS users ("
    " id INTEGER PRIMARY KEY,"
    " domain_id INTEGER NOT NULL REFERENCES domains(id),"
    " localpart TEXT NOT NULL COLLATE NOCASE,"
    " address TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " password_hash TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS users_domain ON users (domain_id);"
    "PRAGMA user_version = 1;"
    "INSERT INTO domains (name, created) VALUES ('old.test', 1);"
    "INSERT INTO users (domain_id, localpart, address, password_hash,"
    " created) VALUES (1, 'olga', 'olga@old.test', '*', 1);";


typedef struct {
    tn_store_conf_t    *conf;
    tn_store_user_t    *user;
    pthread_barrier_t  *barrier;
    tn_int_t            rc;
    tn_err_t            err;
} test_race_t;


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


static tn_str_t
str_of(const char *s)
{
    tn_str_t  v;

    v.len = strlen(s);
    v.data = (u_char *) strdup(s);

    return v;
}


static void
conf_init(tn_store_conf_t *conf, const char *dir)
{
    char  buf[PATH_MAX + 16];

    tn_memzero(conf, sizeof(tn_store_conf_t));
    conf->prefix = str_of(dir);
    snprintf(buf, sizeof(buf), "%s/tern.db", dir);
    conf->db_path = str_of(buf);
    snprintf(buf, sizeof(buf), "%s/mail", dir);
    conf->mail_root = str_of(buf);
    snprintf(buf, sizeof(buf), "%s/spool", dir);
    conf->spool_dir = str_of(buf);
    conf->hostname = str_of("host.test");
    conf->password_scheme = TN_STORE_PW_SHA512;
    conf->password_cost = 1000;
    tn_str_set(&conf->recipient_delimiter, "+");
}


static void
conf_free(tn_store_conf_t *conf)
{
    free(conf->prefix.data);
    free(conf->db_path.data);
    free(conf->mail_root.data);
    free(conf->spool_dir.data);
    free(conf->hostname.data);
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
count_files(const char *maildir, const char *sub)
{
    DIR            *d;
    tn_int_t        n;
    struct dirent  *de;
    char            path[PATH_MAX + 16];

    snprintf(path, sizeof(path), "%s/%s", maildir, sub);

    d = opendir(path);
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


static void
add_user(tn_store_conf_t *conf, const char *addr)
{
    (void) tn_store_user_add(conf, (u_char *) addr, strlen(addr),
                             (u_char *) "pw", 2, &test_log);
}


static tn_int_t
user_of(tn_store_conf_t *conf, const char *addr, tn_store_user_t *u)
{
    return tn_store_user_lookup(conf, (u_char *) addr, strlen(addr), u,
                                &test_log);
}


static tn_int_t
alias(tn_store_conf_t *conf, const char *addr, const char *t1,
    const char *t2, const char *t3)
{
    tn_uint_t   n;
    u_char     *targets[3];

    n = 0;
    targets[n++] = (u_char *) t1;

    if (t2) {
        targets[n++] = (u_char *) t2;
    }

    if (t3) {
        targets[n++] = (u_char *) t3;
    }

    return tn_store_alias_add(conf, (u_char *) addr, strlen(addr), targets, n,
                              &test_log);
}


static tn_int_t
forward(tn_store_conf_t *conf, const char *addr, const char *target,
    tn_uint_t keep)
{
    u_char  *targets[1];

    targets[0] = (u_char *) target;

    return tn_store_user_forward(conf, (u_char *) addr, strlen(addr),
                                 targets, target ? 1 : 0, keep, &test_log);
}


static tn_int_t
resolve(tn_store_conf_t *conf, const char *addr, tn_store_rcpt_t *r)
{
    return tn_store_rcpt_resolve(conf, (u_char *) addr, strlen(addr), r,
                                 &test_log);
}


static int
has_local(tn_store_rcpt_t *r, const char *addr)
{
    tn_uint_t  i;

    for (i = 0; i < r->nlocal; i++) {
        if (strcmp(r->local[i].address, addr) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
has_remote(tn_store_rcpt_t *r, const char *addr)
{
    tn_uint_t  i;

    for (i = 0; i < r->nremote; i++) {
        if (strcmp(r->remote[i], addr) == 0) {
            return 1;
        }
    }

    return 0;
}


/* resolves addr and checks the counts and (up to two) members */
static int
expands(tn_store_conf_t *conf, const char *addr, tn_uint_t nlocal,
    tn_uint_t nremote, const char *one, const char *two)
{
    int              res;
    tn_store_rcpt_t  r;

    if (resolve(conf, addr, &r) != TN_OK) {
        return 0;
    }

    res = r.nlocal == nlocal && r.nremote == nremote
          && (one == NULL || has_local(&r, one) || has_remote(&r, one))
          && (two == NULL || has_local(&r, two) || has_remote(&r, two));

    tn_store_rcpt_free(&r);

    return res;
}


static tn_int_t
send_as(tn_store_conf_t *conf, tn_store_user_t *u, const char *addr)
{
    return tn_store_may_send_as(conf, u, (u_char *) addr, strlen(addr),
                                &test_log);
}


/* one message of size bytes to n users; d->rc, and the errno in *err */
static tn_int_t
deliver(tn_store_conf_t *conf, tn_store_user_t *rcpts, tn_uint_t n,
    size_t size, tn_err_t *err)
{
    char                  body[4096];
    tn_fd_t               fd;
    uint32_t              uids[4];
    tn_store_delivery_t   d, *dp;

    tn_memzero(&d, sizeof(d));
    memset(body, 'x', sizeof(body));

    fd = tn_store_spool_create(conf, d.spool_path, &test_log);
    if (fd == TN_INVALID_FILE) {
        return TN_ERROR;
    }

    if (write(fd, body, size) != (ssize_t) size) {
        close(fd);
        return TN_ERROR;
    }

    close(fd);

    d.size = size;
    d.vsize = size;
    d.internaldate = time(NULL);
    d.nrcpts = n;
    d.rcpts = rcpts;
    d.uids = uids;

    dp = &d;
    tn_store_deliver(conf, &dp, 1, &test_log);

    if (err) {
        *err = d.err;
    }

    return d.rc;
}


static void *
race_thread(void *data)
{
    test_race_t  *t = data;

    pthread_barrier_wait(t->barrier);

    t->rc = deliver(t->conf, t->user, 1, 50, &t->err);

    /* this thread's connections go with it */
    tn_store_db_close_all();

    return NULL;
}


static int
cli(tn_store_conf_t *conf, int argc, const char **argv, char *out,
    size_t outlen)
{
    int      rc, fd, saved_out;
    char     path[PATH_MAX + 16];
    ssize_t  n;

    fflush(stdout);
    snprintf(path, sizeof(path), "%s/cli.out", tmpdir);
    fd = open(path, O_RDWR|O_CREAT|O_TRUNC, 0600);
    saved_out = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);

    rc = tn_store_cli(conf, argc, (char *const *) argv, &test_log);

    dup2(saved_out, STDOUT_FILENO);
    close(saved_out);

    if (out) {
        n = pread(fd, out, outlen - 1, 0);
        out[n > 0 ? n : 0] = '\0';
    }

    close(fd);
    unlink(path);

    return rc;
}


static void
test_expand(tn_store_conf_t *conf)
{
    tn_uint_t        i;
    tn_store_rcpt_t  r;
    u_char          *big[TN_STORE_RULES_MAX + 1];
    char             name[64];
    char             next[64];

    ok(expands(conf, "Alice@X.test", 1, 0, "alice@x.test", NULL),
       "a user resolves to itself");
    ok(resolve(conf, "alice@elsewhere.test", &r) == TN_DONE,
       "a foreign domain is TN_DONE");
    ok(resolve(conf, "nobody@x.test", &r) == TN_DECLINED
       && r.nlocal == 0 && r.local == NULL, "an unknown user is declined");
    ok(resolve(conf, "a..b@x.test", &r) == TN_DECLINED,
       "an invalid local part is declined");

    ok(alias(conf, "team@x.test", "alice@x.test", "BOB@x.test",
             "ext@remote.test") == TN_OK
       && alias(conf, "team@x.test", "Ext@Remote.test", "bob@x.test", NULL)
          == TN_OK, "alias add (duplicates kept once)");
    ok(expands(conf, "team@x.test", 2, 1, "bob@x.test", "ext@remote.test"),
       "alias to local and remote addresses");

    ok(alias(conf, "all@x.test", "team@x.test", "carol@x.test", "alice@x.test")
       == TN_OK
       && expands(conf, "all@x.test", 3, 1, "carol@x.test", "alice@x.test"),
       "nested aliases, duplicates removed");

    alias(conf, "l1@x.test", "l2@x.test", NULL, NULL);
    alias(conf, "l2@x.test", "l1@x.test", "carol@x.test", NULL);
    ok(expands(conf, "l1@x.test", 1, 0, "carol@x.test", NULL)
       && log_has("loop of \"l1@x.test\" at \"l1@x.test\""),
       "an alias loop ends its branch, logged");
    alias(conf, "l3@x.test", "l4@x.test", NULL, NULL);
    alias(conf, "l4@x.test", "l3@x.test", NULL, NULL);
    ok(resolve(conf, "l3@x.test", &r) == TN_DECLINED,
       "an alias loop with nobody in it is declined");
    ok(alias(conf, "l5@x.test", "l5@x.test", NULL, NULL) == TN_DECLINED,
       "an alias to itself is refused");

    /* d0 -> d1 -> ... -> dN -> alice */
    for (i = 0; i <= 11; i++) {
        snprintf(name, sizeof(name), "d%u@x.test", (unsigned) i);
        snprintf(next, sizeof(next), "d%u@x.test", (unsigned) i + 1);
        alias(conf, name, i == 11 ? "alice@x.test" : next, NULL, NULL);
    }

    ok(expands(conf, "d2@x.test", 1, 0, "alice@x.test", NULL),
       "ten levels of aliases are followed");
    ok(resolve(conf, "d0@x.test", &r) == TN_DECLINED
       && log_has("nest deeper than 10"), "deeper ones end, logged");

    tn_str_set(&conf->recipient_delimiter, "+");
    ok(expands(conf, "alice+news@x.test", 1, 0, "alice@x.test", NULL)
       && expands(conf, "team+x+y@x.test", 2, 1, NULL, NULL),
       "plus-addressing to a user and to an alias");
    ok(resolve(conf, "+x@x.test", &r) == TN_DECLINED
       && resolve(conf, "nobody+x@x.test", &r) == TN_DECLINED,
       "plus-addressing needs a name before the tag");
    tn_str_set(&conf->recipient_delimiter, "-+");
    ok(expands(conf, "alice-news@x.test", 1, 0, "alice@x.test", NULL),
       "any character of recipient_delimiter");
    conf->recipient_delimiter.len = 0;
    ok(resolve(conf, "alice+news@x.test", &r) == TN_DECLINED,
       "recipient_delimiter off");
    tn_str_set(&conf->recipient_delimiter, "+");

    ok(alias(conf, "@z.test", "dave@x.test", NULL, NULL) == TN_OK
       && expands(conf, "anyone@z.test", 1, 0, "dave@x.test", NULL)
       && expands(conf, "zed@z.test", 1, 0, "zed@z.test", NULL),
       "catch-all, after the domain's users");
    ok(alias(conf, "@nowhere.test", "dave@x.test", NULL, NULL)
       == TN_DECLINED, "a catch-all needs a local domain");

    ok(forward(conf, "bob@x.test", "Fwd@Remote.test", 0) == TN_OK
       && expands(conf, "bob@x.test", 0, 1, "fwd@remote.test", NULL),
       "forward without a copy");
    ok(forward(conf, "carol@x.test", "dave@x.test", 1) == TN_OK
       && expands(conf, "carol@x.test", 2, 0, "carol@x.test", "dave@x.test"),
       "forward keeping a copy");
    ok(expands(conf, "team@x.test", 1, 2, "alice@x.test", "fwd@remote.test"),
       "aliases follow forwards");
    ok(forward(conf, "bob@x.test", "bob@x.test", 0) == TN_DECLINED,
       "a forward to oneself is refused");
    ok(forward(conf, "bob@x.test", NULL, 0) == TN_OK
       && expands(conf, "bob@x.test", 1, 0, "bob@x.test", NULL),
       "forward off");

    forward(conf, "f1@x.test", "f2@x.test", 0);
    forward(conf, "f2@x.test", "f1@x.test", 0);
    ok(expands(conf, "f1@x.test", 1, 0, "f1@x.test", NULL)
       && expands(conf, "f2@x.test", 1, 0, "f2@x.test", NULL)
       && log_has("loop of \"f1@x.test\" at \"f1@x.test\""),
       "a forward loop keeps one copy where it closes");

    for (i = 0; i <= TN_STORE_RULES_MAX; i++) {
        big[i] = malloc(64);
        snprintf((char *) big[i], 64, "r%u@remote.test", (unsigned) i);
    }

    ok(tn_store_alias_add(conf, (u_char *) "big@x.test", 10, big,
                          TN_STORE_RULES_MAX, &test_log) == TN_OK
       && expands(conf, "big@x.test", 0, TN_STORE_RULES_MAX, NULL, NULL),
       "1000 targets");
    ok(alias(conf, "bigger@x.test", "big@x.test", "alice@x.test", NULL)
       == TN_OK && resolve(conf, "bigger@x.test", &r) == TN_ERROR
       && log_has("expands to more than 1000"), "1001 targets: an error");
    ok(tn_store_alias_add(conf, (u_char *) "big@x.test", 10,
                          &big[TN_STORE_RULES_MAX], 1, &test_log) == TN_OK
       && resolve(conf, "big@x.test", &r) == TN_ERROR
       && log_has("has more than 1000 targets"),
       "an alias of 1001 rows: an error");

    for (i = 0; i <= TN_STORE_RULES_MAX; i++) {
        free(big[i]);
    }
}


static void
test_send_as(tn_store_conf_t *conf)
{
    tn_store_user_t  alice, bob;

    user_of(conf, "alice@x.test", &alice);
    user_of(conf, "bob@x.test", &bob);

    ok(send_as(conf, &alice, "ALICE@x.test") == TN_OK
       && send_as(conf, &alice, "alice+lists@x.test") == TN_OK,
       "may send as itself, with a tag too");
    ok(send_as(conf, &alice, "bob@x.test") == TN_DECLINED
       && send_as(conf, &alice, "alice@remote.test") == TN_DECLINED
       && send_as(conf, &alice, "<>") == TN_DECLINED,
       "not as others");

    alias(conf, "sales@x.test", "alice@x.test", NULL, NULL);
    ok(send_as(conf, &alice, "sales@x.test") == TN_DECLINED,
       "not as an alias without send_as");
    ok(tn_store_alias_sendas(conf, (u_char *) "sales@x.test", 12, 1,
                             &test_log) == TN_OK
       && send_as(conf, &alice, "sales@x.test") == TN_OK
       && send_as(conf, &alice, "sales+q@x.test") == TN_OK,
       "as an alias with send_as");
    ok(send_as(conf, &bob, "sales@x.test") == TN_DECLINED,
       "not as somebody else's alias");
    tn_store_alias_sendas(conf, (u_char *) "team@x.test", 11, 1, &test_log);
    ok(send_as(conf, &alice, "team@x.test") == TN_DECLINED,
       "not as an alias of several");
    ok(send_as(conf, &alice, "whoever@z.test") == TN_DECLINED,
       "not as a catch-all");
    ok(tn_store_alias_sendas(conf, (u_char *) "none@x.test", 11, 1,
                             &test_log) == TN_DECLINED,
       "sendas of no alias is refused");
}


static void
test_quota(tn_store_conf_t *conf)
{
    int                 i, wins;
    tn_err_t            err;
    pthread_t           th[2];
    test_race_t         race[2];
    tn_store_user_t     q, r, two[2];
    pthread_barrier_t   barrier;

    add_user(conf, "q@x.test");
    add_user(conf, "r@x.test");
    user_of(conf, "q@x.test", &q);
    user_of(conf, "r@x.test", &r);

    ok(tn_store_user_quota(conf, (u_char *) "q@x.test", 8, 100, &test_log)
       == TN_OK, "quota set");
    ok(deliver(conf, &q, 1, 40, NULL) == TN_OK
       && tn_store_quota_check(conf, &q, 60, &test_log) == TN_OK,
       "under quota");
    ok(tn_store_quota_check(conf, &q, 61, &test_log) == TN_DECLINED,
       "the RCPT check sees a message that would not fit");
    ok(deliver(conf, &q, 1, 60, NULL) == TN_OK
       && count_files(q.maildir, "new") == 2, "exactly at the quota");
    ok(tn_store_quota_check(conf, &q, 0, &test_log) == TN_DECLINED,
       "a full mailbox is refused at RCPT");
    ok(deliver(conf, &q, 1, 1, &err) == TN_ERROR && err == TN_EDQUOT
       && count_files(q.maildir, "new") == 2
       && count_files(q.maildir, "tmp") == 0
       && log_has("\"q@x.test\" is over quota"),
       "over quota: EDQUOT, nothing left behind");

    two[0] = r;
    two[1] = q;
    ok(deliver(conf, two, 2, 10, &err) == TN_ERROR && err == TN_EDQUOT
       && count_files(r.maildir, "new") == 0,
       "one recipient over quota fails the whole message");

    ok(tn_store_user_quota(conf, (u_char *) "q@x.test", 8, 0, &test_log)
       == TN_OK && deliver(conf, &q, 1, 1000, NULL) == TN_OK
       && tn_store_quota_check(conf, &q, 1 << 30, &test_log) == TN_OK,
       "quota off");
    ok(tn_store_user_quota(conf, (u_char *) "no@x.test", 9, 1, &test_log)
       == TN_DECLINED, "the quota of no user");

    /* r: room for one 50-byte message, two threads try at once */

    wins = 0;

    for (i = 0; i < 5; i++) {
        tn_store_user_quota(conf, (u_char *) "r@x.test", 8, 50 * (i + 1) + 49,
                            &test_log);

        pthread_barrier_init(&barrier, NULL, 2);

        race[0].conf = conf;
        race[0].user = &r;
        race[0].barrier = &barrier;
        race[1] = race[0];

        pthread_create(&th[0], NULL, race_thread, &race[0]);
        pthread_create(&th[1], NULL, race_thread, &race[1]);
        pthread_join(th[0], NULL);
        pthread_join(th[1], NULL);

        pthread_barrier_destroy(&barrier);

        if ((race[0].rc == TN_OK) + (race[1].rc == TN_OK) == 1
            && (race[0].err == TN_EDQUOT || race[1].err == TN_EDQUOT))
        {
            wins++;
        }
    }

    ok(wins == 5 && count_files(r.maildir, "new") == 5,
       "two deliveries racing for the last bytes: one passes");
}


static void
test_migration(void)
{
    sqlite3          *db;
    sqlite3_stmt     *stmt;
    tn_store_conf_t   conf;
    tn_store_rcpt_t   r;
    int               version;
    char              dir[PATH_MAX], path[PATH_MAX + 16];

    snprintf(dir, sizeof(dir), "%s/old", tmpdir);
    mkdir(dir, 0700);
    conf_init(&conf, dir);

    snprintf(path, sizeof(path), "%s/tern.db", dir);

    ok(sqlite3_open(path, &db) == SQLITE_OK
       && sqlite3_exec(db, old_schema, NULL, NULL, NULL) == SQLITE_OK,
       "a version 1 tern.db");
    sqlite3_close(db);

    ok(tn_store_init(&conf, &test_log) == TN_OK
       && log_has("migrated to schema version 2"), "it is migrated");

    version = -1;

    if (sqlite3_open(path, &db) == SQLITE_OK
        && sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL)
           == SQLITE_OK)
    {
        if (sqlite3_step(stmt) == SQLITE_ROW) {
            version = sqlite3_column_int(stmt, 0);
        }

        sqlite3_finalize(stmt);
    }

    sqlite3_close(db);

    ok(version == TN_STORE_ACCOUNTS_VERSION, "to the current version");

    ok(expands(&conf, "olga@old.test", 1, 0, "olga@old.test", NULL)
       && alias(&conf, "o@old.test", "olga@old.test", NULL, NULL) == TN_OK
       && expands(&conf, "o@old.test", 1, 0, "olga@old.test", NULL)
       && tn_store_user_quota(&conf, (u_char *) "olga@old.test", 13, 5,
                              &test_log) == TN_OK
       && resolve(&conf, "x@x.test", &r) == TN_DONE,
       "the old users and the new tables work");

    tn_store_db_close_all();
    conf_free(&conf);
}


static void
test_cli(tn_store_conf_t *conf)
{
    static char  out[65536];

    const char  *add[] = { "alias", "add", "help@x.test", "alice@x.test",
                           "out@remote.test", NULL };
    const char  *add_bad[] = { "alias", "add", "help@remote.test",
                               "alice@x.test", NULL };
    const char  *add_ca[] = { "alias", "add", "@y.test", "bob@x.test", NULL };
    const char  *list[] = { "alias", "list", "y.test", NULL };
    const char  *list_x[] = { "alias", "list", "x.test", NULL };
    const char  *sendas[] = { "alias", "sendas", "help@x.test", "on", NULL };
    const char  *sendas_bad[] = { "alias", "sendas", "help@x.test", "maybe",
                                  NULL };
    const char  *del1[] = { "alias", "del", "help@x.test", "out@remote.test",
                            NULL };
    const char  *del[] = { "alias", "del", "help@x.test", NULL };
    const char  *fwd[] = { "user", "forward", "dave@x.test", "--keep",
                           "a@remote.test", "b@remote.test", NULL };
    const char  *fwd_off[] = { "user", "forward", "dave@x.test", "off",
                               NULL };
    const char  *fwd_bad[] = { "user", "forward", "dave@x.test", "--keep",
                               NULL };
    const char  *quota[] = { "user", "quota", "dave@x.test", "10k", NULL };
    const char  *quota_off[] = { "user", "quota", "dave@x.test", "off",
                                 NULL };
    const char  *quota_bad[] = { "user", "quota", "dave@x.test", "10x",
                                 NULL };

    ok(cli(conf, 5, add, NULL, 0) == 0
       && expands(conf, "help@x.test", 1, 1, "alice@x.test",
                  "out@remote.test"), "cli: alias add");
    ok(cli(conf, 4, add_bad, NULL, 0) == 1, "cli: alias add, foreign domain");
    ok(cli(conf, 4, add_ca, NULL, 0) == 0
       && cli(conf, 3, list, out, sizeof(out)) == 0
       && strcmp(out, "@y.test bob@x.test\n") == 0, "cli: alias list DOMAIN");
    ok(cli(conf, 4, sendas, NULL, 0) == 0
       && cli(conf, 3, list_x, out, sizeof(out)) == 0
       && strstr(out, "help@x.test alice@x.test send-as\n") != NULL
       && strstr(out, "team@x.test bob@x.test send-as\n") != NULL,
       "cli: alias sendas, alias list");
    ok(cli(conf, 4, sendas_bad, NULL, 0) == 1, "cli: alias sendas maybe");
    ok(cli(conf, 4, del1, NULL, 0) == 0
       && expands(conf, "help@x.test", 1, 0, "alice@x.test", NULL)
       && cli(conf, 3, del, NULL, 0) == 0
       && cli(conf, 3, del, NULL, 0) == 1, "cli: alias del");

    ok(cli(conf, 6, fwd, NULL, 0) == 0
       && expands(conf, "dave@x.test", 1, 2, "a@remote.test",
                  "dave@x.test"), "cli: user forward --keep");
    ok(cli(conf, 4, fwd_off, NULL, 0) == 0
       && expands(conf, "dave@x.test", 1, 0, "dave@x.test", NULL),
       "cli: user forward off");
    ok(cli(conf, 4, fwd_bad, NULL, 0) == 1, "cli: user forward, no target");

    ok(cli(conf, 4, quota, NULL, 0) == 0 && cli(conf, 4, quota_off, NULL, 0)
       == 0 && cli(conf, 4, quota_bad, NULL, 0) == 1, "cli: user quota");
    ok(cli(conf, 2, list, NULL, 0) == 0 && cli(conf, 2, add, NULL, 0) == 1,
       "cli: argument counts");

    ok(tn_store_domain_del(conf, (u_char *) "y.test", 6, &test_log)
       == TN_DECLINED, "a domain with aliases is not deleted");
}


static tn_int_t
list_count(void *data, const char *name)
{
    (*(tn_uint_t *) data)++;
    return TN_OK;
}


/* SMTPUTF8 addresses in aliases, catch-alls, plus-addressing, send-as */

static void
test_utf8(tn_store_conf_t *conf)
{
    tn_uint_t         n;
    tn_store_rcpt_t   r;
    tn_store_user_t   u;

    tn_str_set(&conf->recipient_delimiter, "+");

    ok(tn_store_domain_add(conf, (u_char *) "b\xc3\xbc" "cher.example", 15,
                           &test_log) == TN_OK,
       "utf8: a U-label domain");

    add_user(conf, "j\xc3\xb6s\xc3\xa9@B\xc3\xbc" "cher.example");

    ok(user_of(conf, "j\xc3\xb6s\xc3\xa9@xn--bcher-kva.example", &u)
       == TN_OK, "utf8: a UTF-8 user");

    ok(expands(conf, "J\xc3\xb6S\xc3\xa9@b\xc3\xbc" "cher.example", 1, 0,
               "j\xc3\xb6s\xc3\xa9@xn--bcher-kva.example", NULL),
       "utf8: resolves through the U-label, ASCII case folded");

    ok(expands(conf, "j\xc3\xb6s\xc3\xa9+tag@XN--BCHER-KVA.example", 1, 0,
               "j\xc3\xb6s\xc3\xa9@xn--bcher-kva.example", NULL),
       "utf8: plus-addressing");

    ok(alias(conf, "info@b\xc3\xbc" "cher.example",
             "j\xc3\xb6s\xc3\xa9@b\xc3\xbc" "cher.example",
             "ext@\xc3\xab" "xample.test", NULL) == TN_OK
       && expands(conf, "INFO@xn--bcher-kva.example", 1, 1,
                  "j\xc3\xb6s\xc3\xa9@xn--bcher-kva.example",
                  "ext@xn--xample-ova.test"),
       "utf8: an alias, its targets kept in A-label form");

    ok(alias(conf, "bad@b\xc3\xbc" "cher.example", "x\xc0\xaf@x.test",
             NULL, NULL) == TN_DECLINED
       && alias(conf, "bad@b\xc3\xbc" "cher.example", "x@\xc2\x80.test",
                NULL, NULL) == TN_DECLINED
       && alias(conf, "b\xc3@b\xc3\xbc" "cher.example", "x@x.test",
                NULL, NULL) == TN_DECLINED,
       "utf8: malformed alias targets and names refused");

    ok(resolve(conf, "nobody@b\xc3\xbc" "cher.example", &r) == TN_DECLINED
       && alias(conf, "@B\xc3\xbc" "CHER.example",
                "j\xc3\xb6s\xc3\xa9@xn--bcher-kva.example", NULL, NULL)
          == TN_OK
       && expands(conf, "nobody@b\xc3\xbc" "cher.example", 1, 0,
                  "j\xc3\xb6s\xc3\xa9@xn--bcher-kva.example", NULL),
       "utf8: a catch-all given with a U-label");

    alias(conf, "sales@B\xc3\xbc" "cher.example",
          "j\xc3\xb6s\xc3\xa9@b\xc3\xbc" "cher.example", NULL, NULL);

    ok(tn_store_alias_sendas(conf, (u_char *) "sales@xn--bcher-kva.example",
                             27, 1, &test_log) == TN_OK
       && send_as(conf, &u, "sales@b\xc3\xbc" "cher.example") == TN_OK
       && send_as(conf, &u, "J\xc3\xb6s\xc3\xa9+x@b\xc3\xbc"
                  "cher.example") == TN_OK
       && send_as(conf, &u, "J\xc3\x96S\xc3\x89@b\xc3\xbc"
                  "cher.example") == TN_DECLINED,
       "utf8: send as, by either form of the domain");

    n = 0;
    ok(tn_store_alias_list(conf, (u_char *) "b\xc3\xbc" "cher.example", 15,
                           list_count, &n, &test_log) == TN_OK && n > 0
       && tn_store_alias_list(conf, (u_char *) "b\xc3.example", 9,
                              list_count, &n, &test_log) == TN_DECLINED,
       "utf8: alias list of a U-label domain");

    tn_str_set(&conf->recipient_delimiter, "+");
}


int
main(void)
{
    tn_store_conf_t  conf;
    char             buf[PATH_MAX + 32];

    tn_pagesize = getpagesize();
    tn_time_init();

    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }

    snprintf(logname, sizeof(logname), "%s.log", tmpdir);

    logfile.fd = open(logname, O_WRONLY|O_CREAT|O_APPEND, 0600);

    tn_memzero(&test_log, sizeof(tn_log_t));
    test_log.file = &logfile;
    test_log.log_level = TN_LOG_INFO;

    conf_init(&conf, tmpdir);

    if (tn_store_init(&conf, &test_log) != TN_OK) {
        printf("Bail out! init\n");
        return 1;
    }

    tn_store_domain_add(&conf, (u_char *) "x.test", 6, &test_log);
    tn_store_domain_add(&conf, (u_char *) "y.test", 6, &test_log);
    tn_store_domain_add(&conf, (u_char *) "z.test", 6, &test_log);
    add_user(&conf, "alice@x.test");
    add_user(&conf, "bob@x.test");
    add_user(&conf, "carol@x.test");
    add_user(&conf, "dave@x.test");
    add_user(&conf, "f1@x.test");
    add_user(&conf, "f2@x.test");
    add_user(&conf, "zed@z.test");

    test_expand(&conf);
    test_send_as(&conf);
    test_quota(&conf);
    test_cli(&conf);
    test_migration();
    test_utf8(&conf);

    ok(!log_has("[alert]") && !log_has("[emerg]"), "no alerts in the log");

    printf("1..%u\n", (unsigned) tests);
    fflush(stdout);

    tn_store_db_close_all();
    conf_free(&conf);

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
