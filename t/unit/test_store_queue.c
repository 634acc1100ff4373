
/*
 * Copyright (C) The Tern developers
 *
 * The outbound queue: add/read round trips (many recipients, DSN fields,
 * UTF-8), hostile envelopes refused, torn, corrupted, foreign and
 * oversized records rejected (every truncation and every flipped byte,
 * and hand-made records with a valid checksum), updates, orphan cleanup,
 * tn_store_deliver() with a queue (alone, with local copies, failing),
 * unique ids from two processes, "queue list|show", the delivery lock
 * (busy from another process or open, waiting, a message removed while
 * waiting) and the admin commands "queue json|flush|hold|release|delete"
 * (JSON escaping, a held lock, broken entries), in a temporary prefix.
 */


#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_queue.h>

#include <openssl/sha.h>


#define TEST_PER_PROCESS  1000
#define TEST_BODY         "Subject: queued\n\nbody\n"


typedef struct {
    tn_uint_t          n;
    char               last[TN_STORE_QUEUE_ID_LEN];
    tn_uint_t          sorted;
    char               want[TN_STORE_QUEUE_ID_LEN];
    tn_uint_t          found;
} test_list_t;

typedef struct {
    u_char            *buf;
    size_t             len;
    size_t             size;
} test_rec_t;


static tn_uint_t        tests;
static tn_uint_t        failed;
static char             cli_err[4096];
static char             tmpdir[] = "/tmp/tn-queue-XXXXXX";
static char             logname[PATH_MAX];
static tn_open_file_t   logfile;
static tn_log_t         test_log;


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


static ssize_t
read_file(const char *path, void *buf, size_t size)
{
    int      fd;
    ssize_t  n;

    fd = open(path, O_RDONLY);
    if (fd == -1) {
        return -1;
    }

    n = read(fd, buf, size);
    close(fd);

    return n;
}


static int
count_files(const char *dir)
{
    DIR            *d;
    int             n;
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


static tn_str_t
str_of(const char *s)
{
    tn_str_t  v;

    v.len = strlen(s);
    v.data = (u_char *) strdup(s);

    return v;
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


/* a closed spool file with body in it */
static int
spool(tn_store_conf_t *conf, char *path, const char *body)
{
    tn_fd_t  fd;

    fd = tn_store_spool_create(conf, path, &test_log);
    if (fd == TN_INVALID_FILE) {
        return -1;
    }

    if (write(fd, body, strlen(body)) != (ssize_t) strlen(body)) {
        close(fd);
        return -1;
    }

    return close(fd);
}


/* an envelope of n recipients r<i>@remote.test, malloc()ed */
static void
env_make(tn_store_queue_env_t *env, tn_uint_t n)
{
    tn_uint_t  i;

    tn_memzero(env, sizeof(tn_store_queue_env_t));
    strcpy(env->sender, "alice@x.test");
    env->nrcpts = n;
    env->rcpts = calloc(n ? n : 1, sizeof(tn_store_queue_rcpt_t));

    for (i = 0; i < n; i++) {
        snprintf(env->rcpts[i].address, TN_STORE_ADDR_MAX,
                 "r%u@remote.test", (unsigned) i);
    }
}


static int
cli(tn_store_conf_t *conf, const char *a, const char *b, const char *c,
    char *out, size_t outlen)
{
    int      rc, fd, efd, saved_out, saved_err, argc;
    char     path[PATH_MAX], epath[PATH_MAX];
    char    *argv[4];
    ssize_t  n;

    argv[0] = (char *) a;
    argv[1] = (char *) b;
    argv[2] = (char *) c;
    argv[3] = NULL;
    argc = c ? 3 : 2;

    fflush(stdout);
    path_of(path, "cli.out");
    path_of(epath, "cli.err");
    fd = open(path, O_RDWR|O_CREAT|O_TRUNC, 0600);
    efd = open(epath, O_RDWR|O_CREAT|O_TRUNC, 0600);
    saved_out = dup(STDOUT_FILENO);
    saved_err = dup(STDERR_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(efd, STDERR_FILENO);

    rc = tn_store_cli(conf, argc, argv, &test_log);

    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);

    n = pread(fd, out, outlen - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    n = pread(efd, cli_err, sizeof(cli_err) - 1, 0);
    cli_err[n > 0 ? n : 0] = '\0';

    close(fd);
    close(efd);
    unlink(path);
    unlink(epath);

    return rc;
}


static tn_int_t
list_cb(void *data, tn_store_queue_env_t *env)
{
    test_list_t  *l;

    l = data;

    if (l->n && strcmp(l->last, env->id) >= 0) {
        l->sorted = 0;
    }

    if (strcmp(env->id, l->want) == 0) {
        l->found = 1;
    }

    strcpy(l->last, env->id);
    l->n++;

    return TN_OK;
}


static tn_uint_t
queue_count(tn_store_conf_t *conf, const char *want, tn_uint_t *found)
{
    test_list_t  l;

    tn_memzero(&l, sizeof(l));
    l.sorted = 1;

    if (want) {
        strcpy(l.want, want);
    }

    if (tn_store_queue_list(conf, list_cb, &l, &test_log) != TN_OK
        || !l.sorted)
    {
        return (tn_uint_t) -1;
    }

    if (found) {
        *found = l.found;
    }

    return l.n;
}


/* hand-made records: the format spelled out independently of the code */

static void
rec_put(test_rec_t *r, uint32_t type, const void *data, size_t len)
{
    uint32_t  v;

    if (r->len + 8 + len > r->size) {
        r->size = 2 * (r->len + 8 + len);
        r->buf = realloc(r->buf, r->size);
    }

    v = htonl(type);
    memcpy(r->buf + r->len, &v, 4);
    v = htonl((uint32_t) len);
    memcpy(r->buf + r->len + 4, &v, 4);
    memcpy(r->buf + r->len + 8, data, len);
    r->len += 8 + len;
}


static void
rec_put32(test_rec_t *r, uint32_t type, uint32_t v)
{
    v = htonl(v);
    rec_put(r, type, &v, 4);
}


static void
rec_put64(test_rec_t *r, uint32_t type, uint64_t v)
{
    u_char  b[8];
    int     i;

    for (i = 0; i < 8; i++) {
        b[i] = (u_char) (v >> (56 - 8 * i));
    }

    rec_put(r, type, b, 8);
}


static void
rec_start(test_rec_t *r, const char *id, off_t size)
{
    uint32_t  v;

    r->size = 4096;
    r->buf = malloc(r->size);
    memcpy(r->buf, "TERNQENV", 8);
    v = htonl(1);
    memcpy(r->buf + 8, &v, 4);
    r->len = 12;

    rec_put(r, 1, id, strlen(id));
    rec_put64(r, 2, (uint64_t) size);
    rec_put64(r, 3, (uint64_t) time(NULL));
}


/* the end marker, written to the .env of id; read back: TN_OK or not */
static tn_int_t
rec_try(tn_store_conf_t *conf, test_rec_t *r, const char *id)
{
    u_char                 md[SHA256_DIGEST_LENGTH];
    char                   path[PATH_MAX];
    tn_int_t               rc;
    tn_store_queue_env_t   env;

    tn_memzero(md, sizeof(md));
    rec_put(r, 0x7fffffff, md, sizeof(md));
    SHA256(r->buf, r->len - sizeof(md), md);
    memcpy(r->buf + r->len - sizeof(md), md, sizeof(md));

    tn_store_queue_path(conf, id, "env", path);
    write_file(path, r->buf, r->len);
    free(r->buf);

    rc = tn_store_queue_read(conf, id, &env, &test_log);

    if (rc == TN_OK) {
        tn_store_queue_env_free(&env);
    }

    return rc;
}


static void
test_roundtrip(tn_store_conf_t *conf, char *id)
{
    char                   path[PATH_MAX], buf[256];
    tn_uint_t              i, same;
    tn_store_queue_env_t   env, back;

    env_make(&env, 300);

    /* UTF-8 addresses (SMTPUTF8) and every DSN field */
    strcpy(env.sender, "j\xc3\xb6rg@b\xc3\xbc" "cher.test");
    strcpy(env.auth_user, "alice@x.test");
    strcpy(env.envid, "QQ314159 with spaces+=");
    env.ret = TN_QUEUE_RET_HDRS;
    env.smtputf8 = 1;
    env.body_8bit = 1;
    strcpy(env.rcpts[0].address, "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b"
           "\xe5\xad\x90.test");
    strcpy(env.rcpts[1].orcpt, "rfc822;Bob+20Smith@remote.test");
    env.rcpts[1].notify = TN_QUEUE_NOTIFY_SUCCESS|TN_QUEUE_NOTIFY_FAILURE;
    env.rcpts[2].notify = TN_QUEUE_NOTIFY_NEVER;
    /* junk in the state fields: add writes every recipient as pending */
    env.rcpts[3].status = TN_QUEUE_BOUNCED;
    env.rcpts[3].tries = 7;

    ok(spool(conf, path, TEST_BODY) == 0
       && tn_store_queue_add(conf, path, TN_INVALID_FILE, &env, &test_log)
          == TN_OK
       && env.id[0] != '\0' && env.size == (off_t) strlen(TEST_BODY)
       && env.received != 0,
       "add: 300 recipients queued");

    strcpy(id, env.id);
    unlink(path);

    tn_store_queue_path(conf, id, "msg", path);
    ok(read_file(path, buf, sizeof(buf)) == (ssize_t) strlen(TEST_BODY)
       && memcmp(buf, TEST_BODY, strlen(TEST_BODY)) == 0,
       "add: <id>.msg holds the message after the spool file is gone");

    snprintf(buf, sizeof(buf), "%s/queue/%x", tmpdir,
             (unsigned) tn_store_queue_shard(id));
    ok(count_files(buf) == 2 && strstr(path, buf) == path,
       "add: <id>.msg and <id>.env in the shard of the id, nothing else");

    ok(tn_store_queue_read(conf, id, &back, &test_log) == TN_OK,
       "read: the record back");

    same = back.nrcpts == 300
           && strcmp(back.id, id) == 0
           && strcmp(back.sender, env.sender) == 0
           && strcmp(back.auth_user, env.auth_user) == 0
           && strcmp(back.envid, env.envid) == 0
           && back.ret == TN_QUEUE_RET_HDRS && back.smtputf8
           && back.body_8bit && !back.hold
           && back.received == env.received && back.size == env.size;

    for (i = 0; same && i < 300; i++) {
        same = strcmp(back.rcpts[i].address, env.rcpts[i].address) == 0
               && strcmp(back.rcpts[i].orcpt, env.rcpts[i].orcpt) == 0
               && back.rcpts[i].notify == env.rcpts[i].notify
               && back.rcpts[i].status == TN_QUEUE_PENDING
               && back.rcpts[i].tries == 0 && back.rcpts[i].next_try == 0
               && back.rcpts[i].error[0] == '\0';
    }

    ok(same, "read: every field round-trips, recipients pending");

    /* the delivery side's state */

    back.rcpts[1].status = TN_QUEUE_DEFERRED;
    back.rcpts[1].tries = 3;
    back.rcpts[1].next_try = 2000000000;
    back.rcpts[1].flags = TN_QUEUE_RCPT_WARNED;
    strcpy(back.rcpts[1].error, "451 4.7.1 try again later");
    back.rcpts[2].status = TN_QUEUE_DELIVERED;
    back.hold = 1;

    ok(tn_store_queue_update(conf, &back, &test_log) == TN_OK,
       "update: rewritten");

    tn_store_queue_env_free(&back);

    ok(tn_store_queue_read(conf, id, &back, &test_log) == TN_OK
       && back.hold
       && back.rcpts[1].status == TN_QUEUE_DEFERRED
       && back.rcpts[1].tries == 3 && back.rcpts[1].next_try == 2000000000
       && back.rcpts[1].flags == TN_QUEUE_RCPT_WARNED
       && strcmp(back.rcpts[1].error, "451 4.7.1 try again later") == 0
       && back.rcpts[2].status == TN_QUEUE_DELIVERED
       && back.rcpts[0].status == TN_QUEUE_PENDING
       && count_files(buf) == 2,
       "update: the states read back, no temporary file left");

    tn_store_queue_env_free(&back);
    free(env.rcpts);
}


static void
test_hostile(tn_store_conf_t *conf)
{
    char                   path[PATH_MAX];
    tn_uint_t              before, i, refused;
    tn_store_queue_env_t   env;

    before = queue_count(conf, NULL, NULL);
    spool(conf, path, TEST_BODY);
    refused = 0;

    /* I2: CR, LF and NUL in every persisted envelope field */

    for (i = 0; i < 7; i++) {
        env_make(&env, 2);

        switch (i) {
        case 0:
            strcpy(env.sender, "a@b\r\nRCPT TO:<evil@x.test>");
            break;
        case 1:
            strcpy(env.rcpts[1].address, "evil@x.test\nDATA");
            break;
        case 2:
            strcpy(env.rcpts[0].orcpt, "rfc822;a@b\r\nX: y");
            break;
        case 3:
            strcpy(env.envid, "id\n");
            break;
        case 4:
            strcpy(env.auth_user, "u\x01@x.test");
            break;
        case 5:
            /* no NUL in its place: the string is unbounded */
            memset(env.envid, 'A', sizeof(env.envid));
            break;
        default:
            env.rcpts[0].address[0] = '\0';
            break;
        }

        refused += tn_store_queue_add(conf, path, TN_INVALID_FILE, &env,
                                      &test_log)
                   == TN_DECLINED;
        free(env.rcpts);
    }

    ok(refused == 7, "add: CR/LF/control bytes, an unterminated or empty "
       "field refused");

    env_make(&env, TN_STORE_QUEUE_RCPTS_MAX + 1);
    ok(tn_store_queue_add(conf, path, TN_INVALID_FILE, &env, &test_log)
       == TN_DECLINED, "add: 10,001 recipients refused");
    free(env.rcpts);

    env_make(&env, 0);
    ok(tn_store_queue_add(conf, path, TN_INVALID_FILE, &env, &test_log)
       == TN_DECLINED, "add: no recipient refused");
    free(env.rcpts);

    env_make(&env, 1);
    env.ret = 3;
    refused = tn_store_queue_add(conf, path, TN_INVALID_FILE, &env,
                                 &test_log) == TN_DECLINED;
    env.ret = 0;
    env.rcpts[0].notify = 0x10;
    refused += tn_store_queue_add(conf, path, TN_INVALID_FILE, &env,
                                  &test_log) == TN_DECLINED;
    free(env.rcpts);
    ok(refused == 2, "add: bad RET and NOTIFY values refused");

    /* the largest envelope the limits allow fits the record cap */

    env_make(&env, TN_STORE_QUEUE_RCPTS_MAX);

    for (i = 0; i < TN_STORE_QUEUE_RCPTS_MAX; i++) {
        memset(env.rcpts[i].address, 'a', TN_STORE_ADDR_MAX - 1);
        memset(env.rcpts[i].orcpt, 'o', sizeof(env.rcpts[i].orcpt) - 1);
        env.rcpts[i].notify = TN_QUEUE_NOTIFY_DELAY;
    }

    ok(tn_store_queue_add(conf, path, TN_INVALID_FILE, &env, &test_log)
       == TN_OK
       && tn_store_queue_remove(conf, env.id, &test_log) == TN_OK,
       "add: 10,000 recipients of the longest addresses queued");
    free(env.rcpts);

    ok(queue_count(conf, NULL, NULL) == before, "add: nothing left behind");

    unlink(path);
}


static void test_handmade(tn_store_conf_t *conf, const char *id,
    off_t size);


static void
test_records(tn_store_conf_t *conf)
{
    int                    fd;
    u_char                 orig[4096], bad[4097];
    char                   path[PATH_MAX], id[TN_STORE_QUEUE_ID_LEN];
    off_t                  size;
    ssize_t                len;
    tn_uint_t              i, rejected;
    tn_store_queue_env_t   env;

    env_make(&env, 2);
    strcpy(env.envid, "small");
    spool(conf, path, TEST_BODY);
    tn_store_queue_add(conf, path, TN_INVALID_FILE, &env, &test_log);
    unlink(path);
    strcpy(id, env.id);
    size = env.size;
    free(env.rcpts);

    tn_store_queue_path(conf, id, "env", path);
    len = read_file(path, orig, sizeof(orig));

    /* R3: every torn length and every damaged byte is rejected */

    rejected = 0;

    for (i = 0; i < (tn_uint_t) len; i++) {
        write_file(path, orig, i);
        rejected += tn_store_queue_read(conf, id, &env, &test_log)
                    == TN_ERROR;
    }

    ok(len > 0 && rejected == (tn_uint_t) len,
       "read: every truncated record rejected");

    rejected = 0;

    for (i = 0; i < (tn_uint_t) len; i++) {
        memcpy(bad, orig, len);
        bad[i] ^= 0x20;
        write_file(path, bad, len);
        rejected += tn_store_queue_read(conf, id, &env, &test_log)
                    == TN_ERROR;
    }

    ok(rejected == (tn_uint_t) len, "read: every flipped byte rejected");

    memcpy(bad, orig, len);
    memcpy(bad, "TERNQENX", 8);
    write_file(path, bad, len);
    rejected = tn_store_queue_read(conf, id, &env, &test_log) == TN_ERROR;

    memcpy(bad, orig, len);
    bad[len] = '\n';
    write_file(path, bad, len + 1);
    rejected += tn_store_queue_read(conf, id, &env, &test_log) == TN_ERROR;

    fd = open(path, O_WRONLY|O_TRUNC);
    rejected += fd != -1 && ftruncate(fd, TN_STORE_QUEUE_ENV_MAX + 1) == 0;
    close(fd);
    rejected += tn_store_queue_read(conf, id, &env, &test_log) == TN_ERROR;

    ok(rejected == 4, "read: wrong magic, trailing bytes, oversized file "
       "rejected");

    test_handmade(conf, id, size);

    /* the original back */
    write_file(path, orig, len);
    ok(tn_store_queue_read(conf, id, &env, &test_log) == TN_OK
       && strcmp(env.envid, "small") == 0,
       "read: the original record still reads");
    tn_store_queue_env_free(&env);

    ok(tn_store_queue_remove(conf, id, &test_log) == TN_OK
       && tn_store_queue_read(conf, id, &env, &test_log) == TN_DECLINED
       && tn_store_queue_remove(conf, id, &test_log) == TN_DECLINED
       && tn_store_queue_read(conf, "../../x", &env, &test_log)
          == TN_DECLINED
       && tn_store_queue_remove(conf, ".hidden", &test_log) == TN_DECLINED,
       "remove: gone; unknown and invalid ids declined");
}


/* hand-made records with a valid checksum */
static void
test_handmade(tn_store_conf_t *conf, const char *id, off_t size)
{
    u_char      bad[128], addr[16];
    tn_uint_t   i, rejected;
    test_rec_t  r;

    rec_start(&r, id, size);
    rec_put(&r, 16, "a@remote.test", 13);
    rec_put32(&r, 18, TN_QUEUE_NOTIFY_DELAY);
    rec_put(&r, 0x80000009, "later", 5);
    ok(rec_try(conf, &r, id) == TN_OK,
       "read: a hand-made record (and an optional field) accepted");

    rejected = 0;

    for (i = 0; i < 12; i++) {
        rec_start(&r, i == 0 ? "other.id" : id, size + (i == 1));

        memcpy(addr, "a@x.test", 9);
        addr[i == 2 ? 1 : 8] = (i == 2) ? '\0' : '\n';
        rec_put(&r, 16, addr, (i == 2 || i == 3) ? 9 : 8);

        switch (i) {
        case 4:
            rec_put(&r, 4, "s@x.test", 8);
            rec_put(&r, 4, "t@x.test", 8);
            break;
        case 5:
            rec_put(&r, 9, "", 0);
            break;
        case 6:
            rec_put32(&r, 19, 4);
            break;
        case 7:
            memset(bad, 'E', 101);
            rec_put(&r, 6, bad, 101);
            break;
        case 8:
            rec_put32(&r, 18, 0x10);
            break;
        case 9:
            rec_put(&r, 16, "", 0);
            break;
        case 10:
            /* a length past the end of the record */
            rec_put32(&r, 20, 1);
            r.buf[r.len - 5] = 0x40;
            break;
        default:
            rec_put64(&r, 20, 1);
            break;
        }

        rejected += rec_try(conf, &r, id) == TN_ERROR;
    }

    ok(rejected == 12, "read: another id, another size, NUL or LF in an "
       "address, a repeated, unknown, out-of-range, oversized or torn "
       "field rejected");

    rec_start(&r, id, size);

    for (i = 0; i <= TN_STORE_QUEUE_RCPTS_MAX; i++) {
        rec_put(&r, 16, "a@remote.test", 13);
    }

    ok(rec_try(conf, &r, id) == TN_ERROR, "read: 10,001 recipients rejected");

    rec_start(&r, id, size);
    rec_put32(&r, 19, TN_QUEUE_DEFERRED);
    rec_put(&r, 16, "a@remote.test", 13);
    ok(rec_try(conf, &r, id) == TN_ERROR,
       "read: a recipient field before any recipient rejected");
}


static void
test_cleanup(tn_store_conf_t *conf, const char *id)
{
    char       path[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
    tn_uint_t  n, found;

    n = queue_count(conf, NULL, NULL);

    /* their shards need not exist yet */
    snprintf(dir, sizeof(dir), "%s/queue/%x", tmpdir,
             (unsigned) tn_store_queue_shard("1orphan.1.1.1"));
    mkdir(dir, 0700);
    snprintf(dir, sizeof(dir), "%s/queue/%x", tmpdir,
             (unsigned) tn_store_queue_shard("2orphan.1.1.1"));
    mkdir(dir, 0700);

    /* a crash between the link and the commit leaves these */
    tn_store_queue_path(conf, "1orphan.1.1.1", "msg", path);
    tn_store_queue_path(conf, "2orphan.1.1.1", "tmp", tmp);
    write_file(path, "x", 1);
    write_file(tmp, "y", 1);

    ok(queue_count(conf, NULL, NULL) == n,
       "list: a .msg or .tmp without .env is not listed");

    ok(tn_store_queue_cleanup(conf, TN_STORE_QUEUE_ORPHAN_AGE, &test_log)
       == 0 && access(path, F_OK) == 0 && access(tmp, F_OK) == 0,
       "cleanup: young orphans are kept (an add may be in progress)");

    ok(tn_store_queue_cleanup(conf, 0, &test_log) == 2
       && access(path, F_OK) == -1 && access(tmp, F_OK) == -1
       && queue_count(conf, id, &found) == n && found,
       "cleanup: old orphans removed, queued messages kept");
}


static void
test_deliver(tn_store_conf_t *conf, tn_store_user_t *alice)
{
    char                   path[PATH_MAX], saved[PATH_MAX];
    char                   newdir[PATH_MAX + 8];
    uint32_t               uid;
    tn_uint_t              n, found;
    tn_store_queue_env_t   env;
    tn_store_delivery_t    d, *dp;

    snprintf(newdir, sizeof(newdir), "%s/new", alice->maildir);
    n = queue_count(conf, NULL, NULL);

    /* remote recipients only */

    env_make(&env, 3);
    tn_memzero(&d, sizeof(d));
    spool(conf, d.spool_path, TEST_BODY);
    d.size = strlen(TEST_BODY);
    d.vsize = d.size + 3;
    d.queue = &env;
    dp = &d;
    tn_store_deliver(conf, &dp, 1, &test_log);

    ok(d.rc == TN_OK && env.id[0] && access(d.spool_path, F_OK) == -1
       && queue_count(conf, env.id, &found) == n + 1 && found,
       "deliver: no local recipient, queued, spool file gone");
    free(env.rcpts);

    /* local and remote */

    env_make(&env, 1);
    tn_memzero(&d, sizeof(d));
    spool(conf, d.spool_path, TEST_BODY);
    d.size = strlen(TEST_BODY);
    d.vsize = d.size + 3;
    d.nrcpts = 1;
    d.rcpts = alice;
    d.uids = &uid;
    d.queue = &env;
    dp = &d;
    tn_store_deliver(conf, &dp, 1, &test_log);

    ok(d.rc == TN_OK && uid > 0 && count_files(newdir) == 1
       && queue_count(conf, env.id, &found) == n + 2 && found,
       "deliver: a local copy and a queued one");
    free(env.rcpts);

    /*
     * The queue fails: the local copy goes too.  The queue path is a
     * file, which stops root as well as anybody (permissions would not).
     */

    path_of(path, "queue");
    path_of(saved, "queue.saved");
    rename(path, saved);
    write_file(path, "not a directory", 15);

    env_make(&env, 1);
    tn_memzero(&d, sizeof(d));
    spool(conf, d.spool_path, TEST_BODY);
    d.size = strlen(TEST_BODY);
    d.vsize = d.size + 3;
    d.nrcpts = 1;
    d.rcpts = alice;
    d.uids = &uid;
    d.queue = &env;
    dp = &d;
    tn_store_deliver(conf, &dp, 1, &test_log);

    ok(d.rc == TN_ERROR && d.err != 0 && count_files(newdir) == 1
       && access(d.spool_path, F_OK) == -1 && env.id[0] == '\0',
       "deliver: a failed queueing fails the message and removes the "
       "local copy");
    free(env.rcpts);

    unlink(path);
    rename(saved, path);

    ok(queue_count(conf, NULL, NULL) == n + 2, "deliver: the queue is intact");
}


static void
test_unique(tn_store_conf_t *conf)
{
    int                    status, good;
    char                   path[PATH_MAX];
    pid_t                  pids[2];
    tn_uint_t              i, j, n, added;
    tn_store_queue_env_t   env;

    n = queue_count(conf, NULL, NULL);

    /* one spool file each, queued again and again: ids must differ */

    for (i = 0; i < 2; i++) {
        pids[i] = fork();

        if (pids[i] != 0) {
            continue;
        }

        env_make(&env, 1);
        spool(conf, path, TEST_BODY);
        added = 0;

        for (j = 0; j < TEST_PER_PROCESS; j++) {
            env.received = 0;
            added += tn_store_queue_add(conf, path, TN_INVALID_FILE, &env,
                                        &test_log) == TN_OK;
        }

        unlink(path);
        _exit(added == TEST_PER_PROCESS ? 0 : 1);
    }

    good = 0;

    for (i = 0; i < 2; i++) {
        good += pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i]
                && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }

    /* queue_count() checks that the ids come strictly increasing */

    ok(good == 2 && queue_count(conf, NULL, NULL)
                    == n + 2 * TEST_PER_PROCESS,
       "ids: 2 processes x 1000 adds, all distinct");
}


static void
test_cli(tn_store_conf_t *conf, const char *id)
{
    char   out[65536], want[256];

    snprintf(want, sizeof(want), "%s 22 ", id);

    ok(cli(conf, "queue", "list", NULL, out, sizeof(out)) == 0
       && strstr(out, want) != NULL
       && strstr(out, " <j\\xC3\\xB6rg@b\\xC3\\xBCcher.test> ") != NULL
       && strstr(out, " <r1@remote.test>:deferred") != NULL
       && strstr(out, " <r2@remote.test>:delivered") != NULL
       && strstr(out, " <r4@remote.test>:pending") != NULL,
       "cli: queue list shows id, size, sender, recipients and states");

    ok(cli(conf, "queue", "show", id, out, sizeof(out)) == 0
       && strstr(out, "envid: QQ314159 with spaces+=\n") != NULL
       && strstr(out, "ret: hdrs\n") != NULL
       && strstr(out, "smtputf8: yes\n") != NULL
       && strstr(out, "hold: yes\n") != NULL
       && strstr(out, "notify: success failure \n") != NULL
       && strstr(out, "orcpt: rfc822;Bob+20Smith@remote.test\n") != NULL
       && strstr(out, "error: 451 4.7.1 try again later\n") != NULL
       && strstr(out, "auth user: alice@x.test\n") != NULL,
       "cli: queue show prints the envelope");

    ok(cli(conf, "queue", "show", "nosuch.id", out, sizeof(out)) == 1
       && cli(conf, "queue", "show", "../../tern.db", out, sizeof(out)) == 1
       && cli(conf, "queue", "list", "x", out, sizeof(out)) == 1,
       "cli: unknown or invalid ids and extra arguments exit 1");
}


static tn_msec_t
now_ms(void)
{
    return tn_monotonic_msec();
}


/* queues a message of n recipients r<i>@remote.test; its id in id */
static int
queue_one(tn_store_conf_t *conf, tn_uint_t n, char *id)
{
    int                    rc;
    char                   path[PATH_MAX];
    tn_store_queue_env_t   env;

    env_make(&env, n);

    rc = spool(conf, path, TEST_BODY) == 0
         && tn_store_queue_add(conf, path, TN_INVALID_FILE, &env, &test_log)
            == TN_OK;

    strcpy(id, env.id);
    unlink(path);
    free(env.rcpts);

    return rc ? 0 : -1;
}


/*
 * A child that takes the lock of id, says so on the pipe, holds it for
 * ms milliseconds, removes the message if asked, and exits (which drops
 * the lock).  Returns its pid once it holds the lock, or -1.
 */
static pid_t
holder(tn_store_conf_t *conf, const char *id, tn_uint_t ms, int remove)
{
    int      pfd[2];
    char     c;
    pid_t    pid;
    tn_fd_t  fd;

    if (pipe(pfd) == -1) {
        return -1;
    }

    pid = fork();

    if (pid == 0) {
        close(pfd[0]);

        if (tn_store_queue_lock(conf, id, 0, &fd, &test_log) != TN_OK) {
            _exit(1);
        }

        (void) write(pfd[1], "x", 1);
        usleep(ms * 1000);

        if (remove) {
            (void) tn_store_queue_remove(conf, id, &test_log);
        }

        _exit(0);
    }

    close(pfd[1]);

    if (pid == -1 || read(pfd[0], &c, 1) != 1) {
        close(pfd[0]);
        return -1;
    }

    close(pfd[0]);

    return pid;
}


static int
reaped(pid_t pid)
{
    int  status;

    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
           && WEXITSTATUS(status) == 0;
}


static void
test_lock(tn_store_conf_t *conf)
{
    int        status;
    char       id[TN_STORE_QUEUE_ID_LEN], path[PATH_MAX];
    pid_t      pid;
    tn_fd_t    fd, fd2;
    tn_int_t   rc;
    tn_msec_t  start, took;

    queue_one(conf, 2, id);

    ok(tn_store_queue_lock(conf, id, 0, &fd, &test_log) == TN_OK
       && fd != TN_INVALID_FILE,
       "lock: taken");

    ok(tn_store_queue_lock(conf, id, 0, &fd2, &test_log) == TN_BUSY
       && fd2 == TN_INVALID_FILE,
       "lock: a second open in the same process is busy");

    pid = fork();

    if (pid == 0) {
        rc = tn_store_queue_lock(conf, id, 0, &fd2, &test_log);
        _exit(rc == TN_BUSY ? 0 : 1);
    }

    ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
       && WEXITSTATUS(status) == 0,
       "lock: busy for another process");

    tn_store_queue_unlock(fd);

    ok(tn_store_queue_lock(conf, id, 0, &fd, &test_log) == TN_OK,
       "lock: free again after unlock");
    tn_store_queue_unlock(fd);

    /* wait > 0: the holder lets go after 300 ms */

    pid = holder(conf, id, 300, 0);
    start = now_ms();
    rc = tn_store_queue_lock(conf, id, 3, &fd, &test_log);
    took = now_ms() - start;

    ok(pid > 0 && rc == TN_OK && took >= 150 && took < 2000,
       "lock: wait 3 s succeeds once the holder lets go");
    tn_store_queue_unlock(fd);
    reaped(pid);

    /* the wait runs out */

    pid = holder(conf, id, 10000, 0);
    start = now_ms();
    rc = tn_store_queue_lock(conf, id, 1, &fd, &test_log);
    took = now_ms() - start;

    ok(pid > 0 && rc == TN_BUSY && took >= 950 && took < 5000
       && fd == TN_INVALID_FILE,
       "lock: wait 1 s against a longer holder is busy after 1 s");

    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }

    /* the holder removes the message: nothing left to lock */

    pid = holder(conf, id, 200, 1);
    rc = tn_store_queue_lock(conf, id, 3, &fd, &test_log);

    ok(pid > 0 && rc == TN_DECLINED && fd == TN_INVALID_FILE && reaped(pid),
       "lock: a message removed while waiting is declined");

    ok(tn_store_queue_lock(conf, id, 0, &fd, &test_log) == TN_DECLINED
       && tn_store_queue_lock(conf, "nosuch.id", 0, &fd, &test_log)
          == TN_DECLINED
       && tn_store_queue_lock(conf, "../../tern.db", 0, &fd, &test_log)
          == TN_DECLINED,
       "lock: removed, unknown and invalid ids declined");

    /* a .msg without its .env is no queued message */

    queue_one(conf, 1, id);
    tn_store_queue_path(conf, id, "env", path);
    unlink(path);

    ok(tn_store_queue_lock(conf, id, 0, &fd, &test_log) == TN_DECLINED,
       "lock: a message file without its envelope declined");

    tn_store_queue_path(conf, id, "msg", path);
    unlink(path);
}


/* sets the recipient's state and writes the envelope back */
static int
set_rcpt(tn_store_conf_t *conf, const char *id, tn_uint_t i,
    tn_uint_t status, time_t next_try)
{
    int                    rc;
    tn_store_queue_env_t   env;

    if (tn_store_queue_read(conf, id, &env, &test_log) != TN_OK) {
        return -1;
    }

    env.rcpts[i].status = status;
    env.rcpts[i].next_try = next_try;
    env.rcpts[i].tries = status == TN_QUEUE_PENDING ? 0 : 2;

    if (status == TN_QUEUE_DEFERRED) {
        strcpy(env.rcpts[i].error, "451 4.3.0 \"busy\" \\ try later");
    }

    rc = tn_store_queue_update(conf, &env, &test_log) == TN_OK ? 0 : -1;
    tn_store_queue_env_free(&env);

    return rc;
}


/* hold flag and recipient i's next try, read back */
static int
state(tn_store_conf_t *conf, const char *id, tn_uint_t i, time_t *next_try)
{
    int                    hold;
    tn_store_queue_env_t   env;

    if (tn_store_queue_read(conf, id, &env, &test_log) != TN_OK) {
        return -1;
    }

    hold = env.hold;
    *next_try = env.rcpts[i].next_try;
    tn_store_queue_env_free(&env);

    return hold;
}


static void
test_admin(tn_store_conf_t *conf, const char *held_id)
{
    char                   out[65536], want[512], id[TN_STORE_QUEUE_ID_LEN];
    char                   path[PATH_MAX], env_path[PATH_MAX];
    pid_t                  pid;
    time_t                 t, held_t;
    tn_fd_t                fd;
    tn_int_t               rc;
    tn_store_queue_env_t   env;

    /*
     * A quote, a backslash, a byte that is not UTF-8, UTF-8, a C1
     * control and U+2028 in the sender; DSN fields.
     */

    env_make(&env, 3);
    strcpy(env.sender, "\"q\\x\"\xff\xc3\xa9\xc2\x85\xe2\x80\xa8@x.test");
    strcpy(env.envid, "env-1");
    env.ret = TN_QUEUE_RET_FULL;
    env.rcpts[0].notify = TN_QUEUE_NOTIFY_SUCCESS|TN_QUEUE_NOTIFY_FAILURE;
    strcpy(env.rcpts[0].orcpt, "rfc822;r0@remote.test");
    env.rcpts[2].notify = TN_QUEUE_NOTIFY_NEVER;
    spool(conf, path, TEST_BODY);
    tn_store_queue_add(conf, path, TN_INVALID_FILE, &env, &test_log);
    unlink(path);
    strcpy(id, env.id);
    free(env.rcpts);

    t = time(NULL) + 3600;
    set_rcpt(conf, id, 0, TN_QUEUE_DEFERRED, t);
    set_rcpt(conf, id, 2, TN_QUEUE_DELIVERED, 0);
    state(conf, held_id, 1, &held_t);

    /* the JSON view */

    snprintf(want, sizeof(want), "{\"id\":\"%s\",\"size\":22,\"received\":",
             id);

    ok(cli(conf, "queue", "json", NULL, out, sizeof(out)) == 0
       && strncmp(out, "[\n{\"id\":", 8) == 0
       && strcmp(out + strlen(out) - 4, "}\n]\n") == 0
       && strstr(out, want) != NULL
       && strstr(out, ",\"sender\":\"\\\"q\\\\x\\\"\\ufffd\xc3\xa9\\u0085"
                 "\\u2028@x.test\",\"auth_user\":\"\",\"envid\":\"env-1\","
                 "\"ret\":\"full\",\"smtputf8\":false,\"body_8bit\":false,"
                 "\"hold\":false,\"recipients\":[{\"address\":"
                 "\"r0@remote.test\",\"orcpt\":\"rfc822;r0@remote.test\","
                 "\"notify\":[\"success\",\"failure\"],\"status\":"
                 "\"deferred\",\"tries\":2,\"next_try\":") != NULL
       && strstr(out, ",\"delay_warned\":false,\"error\":\"451 4.3.0 "
                 "\\\"busy\\\" \\\\ try later\",\"delivered_to\":\"\"},"
                 "{\"address\":\"r1@remote.test\",\"orcpt\":\"\","
                 "\"notify\":[],\"status\":\"pending\",\"tries\":0,"
                 "\"next_try\":0,") != NULL
       && strstr(out, "\"notify\":[\"never\"],\"status\":\"delivered\"")
          != NULL,
       "cli: queue json, every field, strings escaped");

    /* the first bytes of the output, to compare the second one with */
    memcpy(want, out, sizeof(want) - 1);
    want[sizeof(want) - 1] = '\0';

    ok(cli(conf, "queue", "list", "--json", out, sizeof(out)) == 0
       && strncmp(out, want, strlen(want)) == 0
       && cli(conf, "queue", "list", "--xml", out, sizeof(out)) == 1
       && cli(conf, "queue", "json", "x", out, sizeof(out)) == 1,
       "cli: queue list --json is the same; other arguments exit 1");

    /* hold, flush of all and of one */

    snprintf(want, sizeof(want), "%s: held\n", id);
    ok(cli(conf, "queue", "hold", id, out, sizeof(out)) == 0
       && strcmp(out, want) == 0 && state(conf, id, 0, &t) == 1,
       "cli: queue hold");

    snprintf(want, sizeof(want), "%s: already held\n", id);
    ok(cli(conf, "queue", "hold", id, out, sizeof(out)) == 0
       && strcmp(out, want) == 0,
       "cli: queue hold of a held message");

    ok(cli(conf, "queue", "flush", NULL, out, sizeof(out)) == 0
       && strstr(out, id) == NULL && strstr(out, "messages flushed\n")
       && state(conf, id, 0, &t) == 1 && t > time(NULL)
       && state(conf, held_id, 1, &t) == 1 && t == held_t,
       "cli: queue flush leaves held messages alone");

    snprintf(want, sizeof(want), "%s: flushed, 1 deferred recipient due now "
             "(held: sent after queue release)\n", id);
    ok(cli(conf, "queue", "flush", id, out, sizeof(out)) == 0
       && strcmp(out, want) == 0
       && state(conf, id, 0, &t) == 1 && t == 0,
       "cli: queue flush ID of a held message");

    set_rcpt(conf, id, 0, TN_QUEUE_DEFERRED, time(NULL) + 3600);

    snprintf(want, sizeof(want), "%s: released, 1 deferred recipient due "
             "now\n", id);
    ok(cli(conf, "queue", "release", id, out, sizeof(out)) == 0
       && strcmp(out, want) == 0
       && state(conf, id, 0, &t) == 0 && t == 0,
       "cli: queue release, deferred recipients due now");

    snprintf(want, sizeof(want), "%s: no deferred recipient to flush\n", id);
    ok(cli(conf, "queue", "flush", id, out, sizeof(out)) == 0
       && strcmp(out, want) == 0,
       "cli: queue flush ID with nothing deferred");

    set_rcpt(conf, id, 0, TN_QUEUE_DEFERRED, time(NULL) + 3600);

    snprintf(want, sizeof(want), "%s: flushed, 1 deferred recipient due "
             "now\n1 message flushed\n", id);
    ok(cli(conf, "queue", "flush", NULL, out, sizeof(out)) == 0
       && strcmp(out, want) == 0
       && state(conf, id, 0, &t) == 0 && t == 0,
       "cli: queue flush of the whole queue");

    /* the delivery lock is held: the commands give up */

    set_rcpt(conf, id, 0, TN_QUEUE_DEFERRED, time(NULL) + 3600);
    setenv("TERN_QUEUE_LOCK_WAIT", "0", 1);
    tn_store_queue_lock(conf, id, 0, &fd, &test_log);
    tn_store_queue_path(conf, id, "env", env_path);
    tn_store_queue_path(conf, id, "msg", path);

    snprintf(want, sizeof(want), "tern: message %s is being delivered, try "
             "again\n", id);
    rc = cli(conf, "queue", "hold", id, out, sizeof(out));
    ok(rc == 1 && strcmp(cli_err, want) == 0 && out[0] == '\0'
       && state(conf, id, 0, &t) == 0,
       "cli: queue hold of a locked message: being delivered, exit 1");

    ok(cli(conf, "queue", "delete", id, out, sizeof(out)) == 1
       && strcmp(cli_err, want) == 0
       && access(env_path, F_OK) == 0 && access(path, F_OK) == 0
       && cli(conf, "queue", "flush", id, out, sizeof(out)) == 1
       && cli(conf, "queue", "release", id, out, sizeof(out)) == 1,
       "cli: queue delete, flush, release of a locked message exit 1");

    ok(cli(conf, "queue", "flush", NULL, out, sizeof(out)) == 0
       && strcmp(out, "0 messages flushed, 1 being delivered (skipped)\n")
          == 0,
       "cli: queue flush skips a message being delivered");

    tn_store_queue_unlock(fd);

    /* TERN_QUEUE_LOCK_WAIT 3: a delivery that ends in time */

    setenv("TERN_QUEUE_LOCK_WAIT", "3", 1);
    pid = holder(conf, id, 300, 0);
    snprintf(want, sizeof(want), "%s: held\n", id);

    ok(pid > 0 && cli(conf, "queue", "hold", id, out, sizeof(out)) == 0
       && strcmp(out, want) == 0 && reaped(pid),
       "cli: queue hold waits for a delivery to end");

    unsetenv("TERN_QUEUE_LOCK_WAIT");

    /* delete */

    snprintf(want, sizeof(want), "%s: deleted, no bounce sent (2 "
             "recipients undelivered)\n", id);
    ok(cli(conf, "queue", "delete", id, out, sizeof(out)) == 0
       && strcmp(out, want) == 0
       && access(env_path, F_OK) == -1 && access(path, F_OK) == -1,
       "cli: queue delete removes both files");

    ok(cli(conf, "queue", "delete", id, out, sizeof(out)) == 1
       && strstr(cli_err, "tern: no queued message \"") == cli_err
       && cli(conf, "queue", "hold", "nosuch.id", out, sizeof(out)) == 1
       && cli(conf, "queue", "flush", "nosuch.id", out, sizeof(out)) == 1
       && cli(conf, "queue", "release", "../../tern.db", out, sizeof(out))
          == 1
       && cli(conf, "queue", "hold", NULL, out, sizeof(out)) == 1
       && cli(conf, "queue", "delete", NULL, out, sizeof(out)) == 1,
       "cli: unknown and invalid ids, a missing id exit 1");
}


/* entries that damage left: an envelope without message, a torn one */
static void
test_admin_broken(tn_store_conf_t *conf)
{
    char   out[4096], want[256], id[TN_STORE_QUEUE_ID_LEN];
    char   path[PATH_MAX];

    queue_one(conf, 1, id);
    tn_store_queue_path(conf, id, "msg", path);
    unlink(path);
    tn_store_queue_path(conf, id, "env", path);

    snprintf(want, sizeof(want), "%s: deleted (it had no message file)\n",
             id);
    ok(cli(conf, "queue", "delete", id, out, sizeof(out)) == 0
       && strcmp(out, want) == 0 && access(path, F_OK) == -1,
       "cli: queue delete of an envelope without its message");

    queue_one(conf, 1, id);
    tn_store_queue_path(conf, id, "env", path);
    truncate(path, 20);

    snprintf(want, sizeof(want), "%s: deleted (its envelope was "
             "unreadable), no bounce sent\n", id);
    ok(cli(conf, "queue", "hold", id, out, sizeof(out)) == 1
       && cli(conf, "queue", "delete", id, out, sizeof(out)) == 0
       && strcmp(out, want) == 0 && access(path, F_OK) == -1,
       "cli: a torn envelope cannot be held but can be deleted");
}


int
main(void)
{
    tn_store_conf_t   conf;
    tn_store_user_t   alice;
    char              buf[2 * PATH_MAX + 32], id[TN_STORE_QUEUE_ID_LEN];

    tn_pagesize = getpagesize();
    tn_time_init();

    /* the rejections are expected: they go to the log file only */
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

    tn_memzero(&conf, sizeof(conf));
    conf.prefix = str_of(tmpdir);
    path_of(buf, "tern.db");
    conf.db_path = str_of(buf);
    path_of(buf, "mail");
    conf.mail_root = str_of(buf);
    path_of(buf, "spool");
    conf.spool_dir = str_of(buf);
    conf.hostname = str_of("mail.x.test");
    conf.password_scheme = TN_STORE_PW_SHA512;
    conf.password_cost = 1000;

    if (tn_store_init(&conf, &test_log) != TN_OK
        || tn_store_domain_add(&conf, (u_char *) "x.test", 6, &test_log)
           != TN_OK
        || tn_store_user_add(&conf, (u_char *) "alice@x.test", 12,
                             (u_char *) "pw", 2, &test_log) != TN_OK
        || tn_store_user_lookup(&conf, (u_char *) "alice@x.test", 12,
                                &alice, &test_log) != TN_OK)
    {
        printf("Bail out! store setup\n");
        return 1;
    }

    test_roundtrip(&conf, id);
    test_hostile(&conf);
    test_records(&conf);
    test_cleanup(&conf, id);
    test_deliver(&conf, &alice);
    test_cli(&conf, id);
    test_lock(&conf);
    test_admin(&conf, id);
    test_admin_broken(&conf);
    test_unique(&conf);

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
