
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_mail_out.h>
#include <tn_mail_out_mxcache.h>

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sched.h>


/*
 * The MX cache file (see tn_mail_out_mxcache.h): the header page, then
 * the slots.  Every number is in the host's byte order: the file is a
 * cache of this machine, and one of another version or size is made
 * again.  The file is only ever made whole (as "mxcache.new", renamed
 * into place under an flock() of the queue directory), so a process
 * that opens it sees a complete header.
 */


#define TN_MAIL_OUT_MXCACHE_MAGIC       "TERNMXC1"
#define TN_MAIL_OUT_MXCACHE_VERSION     1
#define TN_MAIL_OUT_MXCACHE_HEADER      4096
#define TN_MAIL_OUT_MXCACHE_SLOT_SIZE   4096
#define TN_MAIL_OUT_MXCACHE_SIZE                                             \
    ((size_t) TN_MAIL_OUT_MXCACHE_HEADER                                     \
     + (size_t) TN_MAIL_OUT_MXCACHE_SLOTS * TN_MAIL_OUT_MXCACHE_SLOT_SIZE)

#define TN_MAIL_OUT_MXCACHE_DIR         "queue"
#define TN_MAIL_OUT_MXCACHE_FILE        "mxcache"
#define TN_MAIL_OUT_MXCACHE_NEW         "mxcache.new"

/* a worker that could not open the cache tries again after this */
#define TN_MAIL_OUT_MXCACHE_RETRY       60

/* copies a reader makes of a slot being written before it gives up */
#define TN_MAIL_OUT_MXCACHE_READ_TRIES  4
/* yields "tern mx clear" waits for a writer per slot */
#define TN_MAIL_OUT_MXCACHE_CLEAR_TRIES 1000


typedef struct {
    u_char                        magic[8];
    uint32_t                      version;
    uint32_t                      nslots;
    uint32_t                      slot_size;
    uint32_t                      reserved;
    uint64_t                      secret;     /* the hash key */
} tn_mail_out_mxcache_header_t;


typedef struct {
    uint8_t                       family;     /* 4 or 6 */
    uint8_t                       reserved[3];
    u_char                        addr[16];
} tn_mail_out_mxcache_addr_t;


typedef struct {
    uint16_t                      preference;
    uint8_t                       len;
    uint8_t                       naddrs;
    u_char                        name[TN_MAIL_OUT_MXCACHE_NAME + 1];
    tn_mail_out_mxcache_addr_t    addrs[TN_MAIL_OUT_MX_HOST_ADDRS];
} tn_mail_out_mxcache_host_t;


/* what the checksum covers; expire 0 is an empty slot */
typedef struct {
    int64_t                       expire;
    uint8_t                       state;
    uint8_t                       flags;
    uint8_t                       nhosts;
    uint8_t                       domain_len;
    uint32_t                      reserved;
    u_char                        domain[TN_MAIL_OUT_MXCACHE_NAME + 1];
    tn_mail_out_mxcache_host_t    hosts[TN_MAIL_OUT_MX_HOSTS];
} tn_mail_out_mxcache_data_t;


typedef struct {
    uint32_t                      seq;        /* odd: being written */
    uint32_t                      reserved;
    int64_t                       wtime;      /* when the writer came */
    uint64_t                      sum;        /* of data */
    tn_mail_out_mxcache_data_t    data;
} tn_mail_out_mxcache_slot_t;


struct tn_mail_out_mxcache_s {
    u_char                       *map;
    uint64_t                      secret;
    tn_uint_t                     nslots;
};


_Static_assert(sizeof(tn_mail_out_mxcache_slot_t)
               <= TN_MAIL_OUT_MXCACHE_SLOT_SIZE,
               "an MX cache entry fits in its slot");
_Static_assert(sizeof(tn_mail_out_mxcache_header_t)
               <= TN_MAIL_OUT_MXCACHE_HEADER,
               "the MX cache header fits in its page");


static tn_int_t tn_mail_out_mxcache_path(tn_str_t *prefix, char *dir,
    char *path, tn_log_t *log);
static tn_int_t tn_mail_out_mxcache_valid(tn_fd_t fd);
static tn_fd_t tn_mail_out_mxcache_make(char *dir, char *path,
    tn_log_t *log);
static tn_fd_t tn_mail_out_mxcache_write_new(tn_fd_t dfd, tn_log_t *log);

static tn_mail_out_mxcache_slot_t *tn_mail_out_mxcache_slot(
    tn_mail_out_mxcache_t *mc, tn_uint_t i);
static tn_uint_t tn_mail_out_mxcache_set(tn_mail_out_mxcache_t *mc,
    u_char *domain, size_t len);
static uint64_t tn_mail_out_mxcache_sum(tn_mail_out_mxcache_data_t *data);
static tn_int_t tn_mail_out_mxcache_read(tn_mail_out_mxcache_slot_t *slot,
    tn_mail_out_mxcache_data_t *data);
static tn_int_t tn_mail_out_mxcache_lock(tn_mail_out_mxcache_slot_t *slot,
    time_t now, uint32_t *seq);
static void tn_mail_out_mxcache_unlock(tn_mail_out_mxcache_slot_t *slot,
    uint32_t seq);
static void tn_mail_out_mxcache_write(tn_mail_out_mxcache_slot_t *slot,
    tn_mail_out_mxcache_data_t *data);
static tn_uint_t tn_mail_out_mxcache_name_ok(u_char *name, size_t len);
static tn_int_t tn_mail_out_mxcache_decode(tn_mail_out_mxcache_data_t *data,
    tn_mail_out_mxanswer_t *ans);
static void tn_mail_out_mxcache_encode(tn_mail_out_mxanswer_t *ans,
    tn_mail_out_mxcache_data_t *data);
static tn_int_t tn_mail_out_mxcache_print(tn_mail_out_mxanswer_t *ans,
    time_t now, tn_fd_t fd);
static tn_int_t tn_mail_out_mxcache_domain(char *arg, u_char *domain,
    size_t *len);


/* the process's mapping: the master's, inherited, or opened here */
static tn_mail_out_mxcache_t  *tn_mail_out_mxcache_proc;
static time_t                  tn_mail_out_mxcache_failed;


static tn_open_file_t  tn_mail_out_mxcache_stderr = {
    STDERR_FILENO, tn_string("stderr")
};


/* ---- the file ---- */

tn_mail_out_mxcache_t *
tn_mail_out_mxcache_open(tn_str_t *prefix, tn_uint_t create, uid_t user,
    gid_t group, tn_log_t *log)
{
    u_char                 *map;
    tn_fd_t                 fd;
    tn_err_t                err;
    tn_mail_out_mxcache_t  *mc;
    char                    dir[PATH_MAX], path[PATH_MAX];

    if (tn_mail_out_mxcache_path(prefix, dir, path, log) != TN_OK) {
        return NULL;
    }

    fd = open(path, O_RDWR|O_NOFOLLOW|O_CLOEXEC);

    if (fd == -1 && errno != TN_ENOENT) {
        tn_log_error(TN_LOG_ERR, log, tn_errno, "open(\"%s\") failed", path);
        return NULL;
    }

    if (fd == -1 && !create) {
        errno = TN_ENOENT;
        return NULL;
    }

    if (fd != -1 && tn_mail_out_mxcache_valid(fd) != TN_OK) {
        close(fd);
        fd = -1;

        if (!create) {
            tn_log_error(TN_LOG_ERR, log, 0,
                         "\"%s\" is not an MX cache of this version", path);
            errno = TN_EINVAL;
            return NULL;
        }
    }

    if (fd == -1) {
        fd = tn_mail_out_mxcache_make(dir, path, log);
        if (fd == -1) {
            return NULL;
        }
    }

    if (user != (uid_t) -1 && fchown(fd, user, group) == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "chown(\"%s\", %d) failed", path, (int) user);
    }

    map = mmap(NULL, TN_MAIL_OUT_MXCACHE_SIZE, PROT_READ|PROT_WRITE,
               MAP_SHARED, fd, 0);
    err = errno;

    close(fd);

    if (map == MAP_FAILED) {
        tn_log_error(TN_LOG_ERR, log, err, "mmap(\"%s\") failed", path);
        return NULL;
    }

    mc = tn_alloc(sizeof(tn_mail_out_mxcache_t), log);
    if (mc == NULL) {
        munmap(map, TN_MAIL_OUT_MXCACHE_SIZE);
        return NULL;
    }

    mc->map = map;
    mc->secret = ((tn_mail_out_mxcache_header_t *) map)->secret;
    mc->nslots = TN_MAIL_OUT_MXCACHE_SLOTS;

    return mc;
}


void
tn_mail_out_mxcache_close(tn_mail_out_mxcache_t *mc)
{
    if (mc == NULL) {
        return;
    }

    if (mc == tn_mail_out_mxcache_proc) {
        tn_mail_out_mxcache_proc = NULL;
    }

    munmap(mc->map, TN_MAIL_OUT_MXCACHE_SIZE);
    tn_free(mc);
}


static tn_int_t
tn_mail_out_mxcache_path(tn_str_t *prefix, char *dir, char *path,
    tn_log_t *log)
{
    u_char  *p;
    size_t   len;

    len = prefix->len;

    while (len > 1 && prefix->data[len - 1] == '/') {
        len--;
    }

    if (len + sizeof("/" TN_MAIL_OUT_MXCACHE_DIR "/"
                     TN_MAIL_OUT_MXCACHE_NEW) > PATH_MAX)
    {
        tn_log_error(TN_LOG_ERR, log, 0, "the prefix \"%V\" is too long",
                     prefix);
        return TN_ERROR;
    }

    p = tn_cpymem(dir, prefix->data, len);
    p = tn_cpymem(p, "/" TN_MAIL_OUT_MXCACHE_DIR,
                  sizeof("/" TN_MAIL_OUT_MXCACHE_DIR) - 1);
    *p = '\0';

    p = tn_cpymem(path, dir, p - (u_char *) dir);
    p = tn_cpymem(p, "/" TN_MAIL_OUT_MXCACHE_FILE,
                  sizeof("/" TN_MAIL_OUT_MXCACHE_FILE));

    return TN_OK;
}


/* a regular file of the right size with this version's header */

static tn_int_t
tn_mail_out_mxcache_valid(tn_fd_t fd)
{
    struct stat                    sb;
    tn_mail_out_mxcache_header_t   h;

    if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)
        || (size_t) sb.st_size != TN_MAIL_OUT_MXCACHE_SIZE)
    {
        return TN_ERROR;
    }

    if (pread(fd, &h, sizeof(h), 0) != (ssize_t) sizeof(h)) {
        return TN_ERROR;
    }

    if (tn_memcmp(h.magic, TN_MAIL_OUT_MXCACHE_MAGIC, 8) != 0
        || h.version != TN_MAIL_OUT_MXCACHE_VERSION
        || h.nslots != TN_MAIL_OUT_MXCACHE_SLOTS
        || h.slot_size != TN_MAIL_OUT_MXCACHE_SLOT_SIZE)
    {
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * Makes the file, or takes the one another process made meanwhile:
 * under an flock() of the directory, so that two workers starting
 * together do not map two different files.
 */

static tn_fd_t
tn_mail_out_mxcache_make(char *dir, char *path, tn_log_t *log)
{
    tn_fd_t  dfd, fd;

    dfd = open(dir, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
    if (dfd == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno, "open(\"%s\") failed", dir);
        return -1;
    }

    if (flock(dfd, LOCK_EX) == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno, "flock(\"%s\") failed", dir);
        close(dfd);
        return -1;
    }

    fd = openat(dfd, TN_MAIL_OUT_MXCACHE_FILE, O_RDWR|O_NOFOLLOW|O_CLOEXEC);

    if (fd != -1 && tn_mail_out_mxcache_valid(fd) != TN_OK) {
        close(fd);
        fd = -1;
    }

    if (fd == -1) {
        fd = tn_mail_out_mxcache_write_new(dfd, log);

        if (fd != -1) {
            tn_log_error(TN_LOG_NOTICE, log, 0, "made the MX cache \"%s\"",
                         path);
        }
    }

    (void) flock(dfd, LOCK_UN);
    close(dfd);

    return fd;
}


static tn_fd_t
tn_mail_out_mxcache_write_new(tn_fd_t dfd, tn_log_t *log)
{
    tn_fd_t                        fd;
    tn_mail_out_mxcache_header_t   h;

    fd = openat(dfd, TN_MAIL_OUT_MXCACHE_NEW,
                O_RDWR|O_CREAT|O_TRUNC|O_NOFOLLOW|O_CLOEXEC, 0600);
    if (fd == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "open(\"" TN_MAIL_OUT_MXCACHE_NEW "\") failed");
        return -1;
    }

    tn_memzero(&h, sizeof(h));
    tn_memcpy(h.magic, TN_MAIL_OUT_MXCACHE_MAGIC, 8);
    h.version = TN_MAIL_OUT_MXCACHE_VERSION;
    h.nslots = TN_MAIL_OUT_MXCACHE_SLOTS;
    h.slot_size = TN_MAIL_OUT_MXCACHE_SLOT_SIZE;

    /* only the hash key: a weak one costs nothing but evenness */
    if (getrandom(&h.secret, sizeof(h.secret), GRND_NONBLOCK)
        != (ssize_t) sizeof(h.secret))
    {
        h.secret = ((uint64_t) tn_pid << 32) ^ (uint64_t) time(NULL);
    }

    /* the slots are a hole of zeros: empty, and no disk used */

    if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t) sizeof(h)
        || ftruncate(fd, (off_t) TN_MAIL_OUT_MXCACHE_SIZE) == -1
        || renameat(dfd, TN_MAIL_OUT_MXCACHE_NEW, dfd,
                    TN_MAIL_OUT_MXCACHE_FILE) == -1)
    {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "writing the MX cache failed");
        (void) unlinkat(dfd, TN_MAIL_OUT_MXCACHE_NEW, 0);
        close(fd);
        return -1;
    }

    return fd;
}


tn_int_t
tn_mail_out_mxcache_init(tn_cycle_t *cycle)
{
    uid_t            user;
    tn_core_conf_t  *ccf;

    /* an admin command opens the file itself, and never makes it */

    if (tn_test_config || tn_process == TN_PROCESS_CLI
        || tn_mail_out_mxcache_proc)
    {
        return TN_OK;
    }

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    user = (uid_t) -1;

    if (geteuid() == 0 && ccf->user != (uid_t) TN_CONF_UNSET_UINT
        && ccf->user != 0)
    {
        user = ccf->user;
    }

    tn_mail_out_mxcache_proc = tn_mail_out_mxcache_open(&cycle->prefix, 1,
                                                        user, ccf->group,
                                                        cycle->log);

    return TN_OK;
}


tn_mail_out_mxcache_t *
tn_mail_out_mxcache_get(tn_cycle_t *cycle)
{
    time_t  now;

    if (tn_mail_out_mxcache_proc) {
        return tn_mail_out_mxcache_proc;
    }

    now = tn_time();

    if (tn_mail_out_mxcache_failed
        && now - tn_mail_out_mxcache_failed < TN_MAIL_OUT_MXCACHE_RETRY
        && now >= tn_mail_out_mxcache_failed)
    {
        return NULL;
    }

    tn_mail_out_mxcache_proc = tn_mail_out_mxcache_open(&cycle->prefix, 1,
                                                        (uid_t) -1, 0,
                                                        cycle->log);

    tn_mail_out_mxcache_failed = tn_mail_out_mxcache_proc ? 0 : now;

    return tn_mail_out_mxcache_proc;
}


/* ---- slots ---- */

static tn_mail_out_mxcache_slot_t *
tn_mail_out_mxcache_slot(tn_mail_out_mxcache_t *mc, tn_uint_t i)
{
    return (tn_mail_out_mxcache_slot_t *)
               (mc->map + TN_MAIL_OUT_MXCACHE_HEADER
                + i * TN_MAIL_OUT_MXCACHE_SLOT_SIZE);
}


/* the first slot of the domain's set: FNV-1a keyed with the secret */

static tn_uint_t
tn_mail_out_mxcache_set(tn_mail_out_mxcache_t *mc, u_char *domain,
    size_t len)
{
    size_t    i;
    uint64_t  h;

    h = 0xcbf29ce484222325ULL ^ mc->secret;

    for (i = 0; i < len; i++) {
        h ^= domain[i];
        h *= 0x100000001b3ULL;
    }

    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;

    return (tn_uint_t) (h % (mc->nslots / TN_MAIL_OUT_MXCACHE_WAYS))
           * TN_MAIL_OUT_MXCACHE_WAYS;
}


static uint64_t
tn_mail_out_mxcache_sum(tn_mail_out_mxcache_data_t *data)
{
    u_char    *p;
    size_t     i;
    uint64_t   h;

    p = (u_char *) data;
    h = 0xcbf29ce484222325ULL;

    for (i = 0; i < sizeof(tn_mail_out_mxcache_data_t); i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }

    return h;
}


/*
 * A consistent copy of the slot: TN_OK, TN_DECLINED for an empty slot,
 * TN_BUSY while a writer holds it, TN_ERROR for a bad checksum.
 */

static tn_int_t
tn_mail_out_mxcache_read(tn_mail_out_mxcache_slot_t *slot,
    tn_mail_out_mxcache_data_t *data)
{
    uint32_t   s1, s2;
    uint64_t   sum;
    tn_uint_t  i;

    for (i = 0; i < TN_MAIL_OUT_MXCACHE_READ_TRIES; i++) {

        s1 = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);

        if (s1 & 1) {
            (void) sched_yield();
            continue;
        }

        sum = slot->sum;
        tn_memcpy(data, &slot->data, sizeof(tn_mail_out_mxcache_data_t));

        /* the copy is made before the sequence is read again */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);

        s2 = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);

        if (s1 != s2) {
            continue;
        }

        if (data->expire == 0) {
            return TN_DECLINED;
        }

        return (sum == tn_mail_out_mxcache_sum(data)) ? TN_OK : TN_ERROR;
    }

    return TN_BUSY;
}


/*
 * Takes the slot for writing: the sequence becomes odd.  A slot held for
 * longer than TN_MAIL_OUT_MXCACHE_STEAL seconds belonged to a writer
 * that died: it is taken over, the sequence moving on by two.
 */

static tn_int_t
tn_mail_out_mxcache_lock(tn_mail_out_mxcache_slot_t *slot, time_t now,
    uint32_t *seq)
{
    int64_t    w;
    uint32_t   s, want;
    tn_uint_t  i;

    s = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);

    for (i = 0; i < 4; i++) {

        if (s & 1) {
            w = __atomic_load_n(&slot->wtime, __ATOMIC_ACQUIRE);

            if (now >= w && now - w < TN_MAIL_OUT_MXCACHE_STEAL) {
                return TN_BUSY;
            }

            want = s + 2;

        } else {
            want = s + 1;
        }

        if (__atomic_compare_exchange_n(&slot->seq, &s, want, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        {
            __atomic_store_n(&slot->wtime, (int64_t) now, __ATOMIC_SEQ_CST);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            *seq = want;
            return TN_OK;
        }

        /* s holds the sequence another process set: look again */
    }

    return TN_BUSY;
}


static void
tn_mail_out_mxcache_unlock(tn_mail_out_mxcache_slot_t *slot, uint32_t seq)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);

    /* fails only if the slot was taken over: then it is the taker's */
    (void) __atomic_compare_exchange_n(&slot->seq, &seq, seq + 1, 0,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}


static void
tn_mail_out_mxcache_write(tn_mail_out_mxcache_slot_t *slot,
    tn_mail_out_mxcache_data_t *data)
{
    slot->sum = (data->expire == 0) ? 0 : tn_mail_out_mxcache_sum(data);
    tn_memcpy(&slot->data, data, sizeof(tn_mail_out_mxcache_data_t));
}


/* ---- entries ---- */

/* the bytes tn_resolve_name() takes, lower case; 1 to 255 of them */

static tn_uint_t
tn_mail_out_mxcache_name_ok(u_char *name, size_t len)
{
    size_t  i;
    u_char  ch;

    if (len == 0 || len > TN_MAIL_OUT_MXCACHE_NAME) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        ch = name[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
              || ch == '-' || ch == '.' || ch == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* checks everything in a slot another process wrote */

static tn_int_t
tn_mail_out_mxcache_decode(tn_mail_out_mxcache_data_t *data,
    tn_mail_out_mxanswer_t *ans)
{
    tn_uint_t                    i, j;
    struct sockaddr_in          *sin;
    struct sockaddr_in6         *sin6;
    tn_mail_out_mxhost_t        *host;
    tn_mail_out_mxcache_host_t  *h;
    tn_mail_out_mxcache_addr_t  *a;

    if (data->state < TN_MAIL_OUT_MXCACHE_HOSTS
        || data->state > TN_MAIL_OUT_MXCACHE_NULLMX
        || data->nhosts > TN_MAIL_OUT_MX_HOSTS
        || (data->state == TN_MAIL_OUT_MXCACHE_HOSTS && data->nhosts == 0)
        || !tn_mail_out_mxcache_name_ok(data->domain, data->domain_len))
    {
        return TN_ERROR;
    }

    tn_memzero(ans, sizeof(tn_mail_out_mxanswer_t));

    tn_memcpy(ans->domain, data->domain, data->domain_len);
    ans->domain_len = data->domain_len;
    ans->state = data->state;
    ans->flags = data->flags;
    ans->expire = (time_t) data->expire;

    if (data->state != TN_MAIL_OUT_MXCACHE_HOSTS) {
        return TN_OK;
    }

    for (i = 0; i < data->nhosts; i++) {
        h = &data->hosts[i];
        host = &ans->hosts[i];

        if (!tn_mail_out_mxcache_name_ok(h->name, h->len)
            || h->naddrs == 0 || h->naddrs > TN_MAIL_OUT_MX_HOST_ADDRS)
        {
            return TN_ERROR;
        }

        tn_memcpy(host->name, h->name, h->len);
        host->len = h->len;
        host->preference = h->preference;

        for (j = 0; j < h->naddrs; j++) {
            a = &h->addrs[j];

            if (a->family == 4) {
                sin = &host->addrs[j].sockaddr_in;
                sin->sin_family = AF_INET;
                tn_memcpy(&sin->sin_addr, a->addr, 4);
                host->socklens[j] = sizeof(struct sockaddr_in);

            } else if (a->family == 6) {
                sin6 = &host->addrs[j].sockaddr_in6;
                sin6->sin6_family = AF_INET6;
                tn_memcpy(&sin6->sin6_addr, a->addr, 16);
                host->socklens[j] = sizeof(struct sockaddr_in6);

            } else {
                return TN_ERROR;
            }
        }

        host->naddrs = h->naddrs;
    }

    ans->nhosts = data->nhosts;

    return TN_OK;
}


/* ans is the caller's: it was made by the resolver from checked names */

static void
tn_mail_out_mxcache_encode(tn_mail_out_mxanswer_t *ans,
    tn_mail_out_mxcache_data_t *data)
{
    tn_uint_t                    i, j, n;
    tn_sockaddr_t               *sa;
    tn_mail_out_mxhost_t        *host;
    tn_mail_out_mxcache_host_t  *h;

    /* the padding too: the checksum covers every byte */
    tn_memzero(data, sizeof(tn_mail_out_mxcache_data_t));

    data->expire = ans->expire;
    data->state = (uint8_t) ans->state;
    data->flags = (uint8_t) ans->flags;
    data->domain_len = (uint8_t) ans->domain_len;
    tn_memcpy(data->domain, ans->domain, ans->domain_len);

    if (ans->state != TN_MAIL_OUT_MXCACHE_HOSTS) {
        return;
    }

    n = 0;

    for (i = 0; i < ans->nhosts && i < TN_MAIL_OUT_MX_HOSTS; i++) {
        host = &ans->hosts[i];
        h = &data->hosts[n];

        h->preference = (uint16_t) host->preference;
        h->len = (uint8_t) host->len;
        tn_memcpy(h->name, host->name, host->len);

        for (j = 0; j < host->naddrs && j < TN_MAIL_OUT_MX_HOST_ADDRS; j++) {
            sa = &host->addrs[j];

            if (sa->sockaddr.sa_family == AF_INET) {
                h->addrs[h->naddrs].family = 4;
                tn_memcpy(h->addrs[h->naddrs].addr,
                          &sa->sockaddr_in.sin_addr, 4);

            } else if (sa->sockaddr.sa_family == AF_INET6) {
                h->addrs[h->naddrs].family = 6;
                tn_memcpy(h->addrs[h->naddrs].addr,
                          &sa->sockaddr_in6.sin6_addr, 16);

            } else {
                continue;
            }

            h->naddrs++;
        }

        if (h->naddrs) {
            n++;

        } else {
            tn_memzero(h, sizeof(tn_mail_out_mxcache_host_t));
        }
    }

    data->nhosts = (uint8_t) n;
}


tn_int_t
tn_mail_out_mxcache_lookup(tn_mail_out_mxcache_t *mc, u_char *domain,
    size_t len, time_t now, tn_mail_out_mxanswer_t *ans)
{
    tn_uint_t                    i, set;
    tn_mail_out_mxcache_data_t   data;

    if (len == 0 || len > TN_MAIL_OUT_MXCACHE_NAME) {
        return TN_DECLINED;
    }

    set = tn_mail_out_mxcache_set(mc, domain, len);

    for (i = 0; i < TN_MAIL_OUT_MXCACHE_WAYS; i++) {

        if (tn_mail_out_mxcache_read(tn_mail_out_mxcache_slot(mc, set + i),
                                     &data)
            != TN_OK)
        {
            continue;
        }

        if (data.domain_len != len
            || tn_memcmp(data.domain, domain, len) != 0
            || data.expire <= (int64_t) now)
        {
            continue;
        }

        if (tn_mail_out_mxcache_decode(&data, ans) == TN_OK) {
            return TN_OK;
        }
    }

    return TN_DECLINED;
}


tn_int_t
tn_mail_out_mxcache_store(tn_mail_out_mxcache_t *mc,
    tn_mail_out_mxanswer_t *ans, time_t now)
{
    int64_t                      oldest;
    uint32_t                     seq;
    tn_int_t                     rc;
    tn_uint_t                    i, set, same, avail, old, busy;
    tn_mail_out_mxcache_data_t   data;
    tn_mail_out_mxcache_slot_t  *slot;

    if (!tn_mail_out_mxcache_name_ok(ans->domain, ans->domain_len)
        || ans->expire <= now)
    {
        return TN_DECLINED;
    }

    set = tn_mail_out_mxcache_set(mc, ans->domain, ans->domain_len);

    same = TN_MAIL_OUT_MXCACHE_WAYS;
    avail = TN_MAIL_OUT_MXCACHE_WAYS;
    old = TN_MAIL_OUT_MXCACHE_WAYS;
    busy = TN_MAIL_OUT_MXCACHE_WAYS;
    oldest = 0;

    for (i = 0; i < TN_MAIL_OUT_MXCACHE_WAYS; i++) {

        rc = tn_mail_out_mxcache_read(tn_mail_out_mxcache_slot(mc, set + i),
                                      &data);

        if (rc == TN_BUSY) {
            busy = i;
            continue;
        }

        if (rc != TN_OK) {
            /* empty, or garbage */
            if (avail == TN_MAIL_OUT_MXCACHE_WAYS) {
                avail = i;
            }
            continue;
        }

        if (data.domain_len == ans->domain_len
            && tn_memcmp(data.domain, ans->domain, ans->domain_len) == 0)
        {
            same = i;
            break;
        }

        if (data.expire <= (int64_t) now) {
            if (avail == TN_MAIL_OUT_MXCACHE_WAYS) {
                avail = i;
            }
            continue;
        }

        if (old == TN_MAIL_OUT_MXCACHE_WAYS || data.expire < oldest) {
            old = i;
            oldest = data.expire;
        }
    }

    /*
     * A slot being written may hold the domain: it is the one to take
     * (from a dead writer), or none is, lest the domain be there twice.
     */

    i = (same != TN_MAIL_OUT_MXCACHE_WAYS) ? same
        : (busy != TN_MAIL_OUT_MXCACHE_WAYS) ? busy
        : (avail != TN_MAIL_OUT_MXCACHE_WAYS) ? avail : old;

    if (i == TN_MAIL_OUT_MXCACHE_WAYS) {
        return TN_BUSY;
    }

    tn_mail_out_mxcache_encode(ans, &data);

    slot = tn_mail_out_mxcache_slot(mc, set + i);

    if (tn_mail_out_mxcache_lock(slot, now, &seq) != TN_OK) {
        return TN_BUSY;
    }

    tn_mail_out_mxcache_write(slot, &data);
    tn_mail_out_mxcache_unlock(slot, seq);

    return TN_OK;
}


tn_uint_t
tn_mail_out_mxcache_clear(tn_mail_out_mxcache_t *mc, u_char *domain,
    size_t len, time_t now, tn_uint_t *busy)
{
    uint32_t                     seq;
    tn_int_t                     rc;
    tn_uint_t                    i, first, last, n, tries;
    tn_mail_out_mxcache_data_t   data, empty;
    tn_mail_out_mxcache_slot_t  *slot;

    tn_memzero(&empty, sizeof(tn_mail_out_mxcache_data_t));

    first = 0;
    last = mc->nslots;

    if (domain) {
        first = tn_mail_out_mxcache_set(mc, domain, len);
        last = first + TN_MAIL_OUT_MXCACHE_WAYS;
    }

    n = 0;
    *busy = 0;

    for (i = first; i < last; i++) {
        slot = tn_mail_out_mxcache_slot(mc, i);

        for (tries = 0; /* void */; tries++) {
            rc = tn_mail_out_mxcache_read(slot, &data);

            if (rc != TN_BUSY || tries == TN_MAIL_OUT_MXCACHE_CLEAR_TRIES) {
                break;
            }

            (void) sched_yield();
        }

        if (rc == TN_DECLINED) {
            continue;
        }

        if (domain && (rc != TN_OK || data.domain_len != len
                       || tn_memcmp(data.domain, domain, len) != 0))
        {
            continue;
        }

        if (tn_mail_out_mxcache_lock(slot, now, &seq) != TN_OK) {
            (*busy)++;
            continue;
        }

        tn_mail_out_mxcache_write(slot, &empty);
        tn_mail_out_mxcache_unlock(slot, seq);

        /* garbage is cleared, not counted */
        if (rc == TN_OK) {
            n++;
        }
    }

    return n;
}


tn_int_t
tn_mail_out_mxcache_list(tn_mail_out_mxcache_t *mc, u_char *domain,
    size_t len, time_t now, tn_fd_t fd)
{
    tn_int_t                     n;
    tn_uint_t                    i, first, last;
    tn_mail_out_mxanswer_t       ans;
    tn_mail_out_mxcache_data_t   data;

    first = 0;
    last = mc->nslots;

    if (domain) {
        first = tn_mail_out_mxcache_set(mc, domain, len);
        last = first + TN_MAIL_OUT_MXCACHE_WAYS;
    }

    n = 0;

    for (i = first; i < last; i++) {

        if (tn_mail_out_mxcache_read(tn_mail_out_mxcache_slot(mc, i), &data)
            != TN_OK
            || data.expire <= (int64_t) now)
        {
            continue;
        }

        if (domain && (data.domain_len != len
                       || tn_memcmp(data.domain, domain, len) != 0))
        {
            continue;
        }

        if (tn_mail_out_mxcache_decode(&data, &ans) != TN_OK) {
            continue;
        }

        if (tn_mail_out_mxcache_print(&ans, now, fd) != TN_OK) {
            return TN_ERROR;
        }

        n++;
    }

    return n;
}


static tn_int_t
tn_mail_out_mxcache_print(tn_mail_out_mxanswer_t *ans, time_t now,
    tn_fd_t fd)
{
    u_char                *p, *last;
    tn_uint_t              i, j;
    tn_mail_out_mxhost_t  *host;
    u_char                 text[TN_SOCKADDR_STRLEN + 1];
    u_char                 buf[TN_MAIL_OUT_MX_HOSTS
                               * TN_MAIL_OUT_MX_HOST_ADDRS
                               * (TN_MAIL_OUT_MXCACHE_NAME + 80) + 512];

    p = buf;
    last = buf + sizeof(buf);

    p = tn_slprintf(p, last, "%*s expires in %Ts", ans->domain_len,
                    ans->domain, ans->expire - now);

    switch (ans->state) {

    case TN_MAIL_OUT_MXCACHE_NXDOMAIN:
        p = tn_slprintf(p, last, ": NXDOMAIN");
        break;

    case TN_MAIL_OUT_MXCACHE_NULLMX:
        p = tn_slprintf(p, last, ": null MX");
        break;

    default:
        if (ans->flags & TN_MAIL_OUT_MXCACHE_IMPLICIT) {
            p = tn_slprintf(p, last, ", no MX");
        }
    }

    p = tn_slprintf(p, last, "%N");

    for (i = 0; i < ans->nhosts; i++) {
        host = &ans->hosts[i];

        for (j = 0; j < host->naddrs; j++) {
            text[tn_sock_ntop(&host->addrs[j].sockaddr, host->socklens[j],
                              text, TN_SOCKADDR_STRLEN, 0)] = '\0';

            p = tn_slprintf(p, last, "  %ui %*s %s%N", host->preference,
                            host->len, host->name, text);
        }
    }

    if (tn_write_fd(fd, buf, p - buf) != p - buf) {
        return TN_ERROR;
    }

    return TN_OK;
}


/* ---- tern mx ---- */

int
tn_mail_out_mxcache_cli(tn_cycle_t *cycle, int argc, char *const *argv)
{
    u_char                 *d, *p;
    size_t                  len;
    tn_int_t                n;
    tn_uint_t               busy, removed;
    tn_log_t                cli;
    tn_mail_out_mxcache_t  *mc;
    u_char                  domain[TN_MAIL_OUT_MXCACHE_NAME + 1];
    u_char                  msg[128];

    if (argc < 2 || argc > 3
        || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "clear") != 0))
    {
        tn_write_stderr("usage: tern [-p prefix] [-c conf] mx list|clear "
                        "[DOMAIN]" TN_LINEFEED);
        return 1;
    }

    d = NULL;
    len = 0;

    if (argc == 3) {
        if (tn_mail_out_mxcache_domain(argv[2], domain, &len) != TN_OK) {
            tn_write_stderr("tern: invalid domain" TN_LINEFEED);
            return 1;
        }

        d = domain;
    }

    /* reasons go to the admin's terminal */

    tn_memzero(&cli, sizeof(tn_log_t));
    cli.log_level = TN_LOG_INFO;
    cli.file = &tn_mail_out_mxcache_stderr;

    mc = tn_mail_out_mxcache_open(&cycle->prefix, 0, (uid_t) -1, 0, &cli);

    if (mc == NULL) {
        /* no file: the server never ran, nothing is cached */
        return (errno == TN_ENOENT) ? 0 : 1;
    }

    if (argv[1][0] == 'l') {
        n = tn_mail_out_mxcache_list(mc, d, len, tn_time(), STDOUT_FILENO);
        tn_mail_out_mxcache_close(mc);

        return (n == TN_ERROR) ? 1 : 0;
    }

    removed = tn_mail_out_mxcache_clear(mc, d, len, tn_time(), &busy);
    tn_mail_out_mxcache_close(mc);

    p = tn_snprintf(msg, sizeof(msg) - 1, "%ui cleared%N", removed);
    (void) tn_write_fd(STDOUT_FILENO, msg, p - msg);

    if (busy) {
        p = tn_snprintf(msg, sizeof(msg) - 1,
                        "tern: %ui entries are being written, not cleared%N",
                        busy);
        (void) tn_write_fd(STDERR_FILENO, msg, p - msg);
        return 1;
    }

    return 0;
}


/* the A-label of a domain from the command line, lower case */

static tn_int_t
tn_mail_out_mxcache_domain(char *arg, u_char *domain, size_t *len)
{
    size_t    n;
    tn_int_t  rc;

    n = strlen(arg);

    if (n && arg[n - 1] == '.') {
        n--;
    }

    rc = tn_idna_to_ascii(domain, TN_MAIL_OUT_MXCACHE_NAME, (u_char *) arg,
                          n);

    if (rc == TN_ERROR || !tn_mail_out_mxcache_name_ok(domain, rc)) {
        return TN_ERROR;
    }

    *len = rc;

    return TN_OK;
}
