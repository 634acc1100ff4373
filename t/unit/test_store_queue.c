
/*
 * Copyright (C) The Tern developers
 *
 * The outbound queue: add/read round trips (many recipients, DSN fields,
 * UTF-8), hostile envelopes refused, torn, corrupted, foreign and
 * oversized records rejected (every truncation and every flipped byte,
 * and hand-made records with a valid checksum), updates, orphan cleanup,
 * tn_store_deliver() with a queue (alone, with local copies, failing),
 * unique ids from two processes, and "queue list|show", in a temporary
 * prefix.
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
    int      rc, fd, saved_out, argc;
    char     path[PATH_MAX];
    char    *argv[4];
    ssize_t  n;

    argv[0] = (char *) a;
    argv[1] = (char *) b;
    argv[2] = (char *) c;
    argv[3] = NULL;
    argc = c ? 3 : 2;

    fflush(stdout);
    path_of(path, "cli.out");
    fd = open(path, O_RDWR|O_CREAT|O_TRUNC, 0600);
    saved_out = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);

    rc = tn_store_cli(conf, argc, argv, &test_log);

    dup2(saved_out, STDOUT_FILENO);
    close(saved_out);

    n = pread(fd, out, outlen - 1, 0);
    out[n > 0 ? n : 0] = '\0';

    close(fd);
    unlink(path);

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
