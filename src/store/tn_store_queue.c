
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_queue.h>

#include <openssl/rand.h>
#include <openssl/sha.h>


/*
 * The outbound queue on disk (see tn_store_queue.h for the layout and
 * the record).  The durability order of one tn_store_queue_add()
 * (SECURITY-CHECKLIST 0.1, R1, R5):
 *   1. the message file is fsync()ed (by the caller or here),
 *   2. <id>.tmp is written and fsync()ed,
 *   3. the message is linked (or copied and fsync()ed) to <id>.msg,
 *   4. the shard is fsync()ed: both entries are durable,
 *   5. <id>.tmp is renamed to <id>.env -- the commit point,
 *   6. the shard is fsync()ed: the commit is durable.
 * Step 4 keeps an <id>.env from surviving a crash without its <id>.msg.
 */


#define TN_STORE_QUEUE_MAGIC      "TERNQENV"
#define TN_STORE_QUEUE_MAGIC_LEN  8
#define TN_STORE_QUEUE_VERSION    1
#define TN_STORE_QUEUE_HDR_LEN    (TN_STORE_QUEUE_MAGIC_LEN + 4)
#define TN_STORE_QUEUE_END_LEN    (8 + SHA256_DIGEST_LENGTH)

/* the fields; a recipient is TN_QF_RCPT and the fields after it */
#define TN_QF_ID            1
#define TN_QF_SIZE          2         /* uint64 */
#define TN_QF_RECEIVED      3         /* int64 */
#define TN_QF_SENDER        4
#define TN_QF_AUTH_USER     5
#define TN_QF_ENVID         6
#define TN_QF_RET           7         /* uint32 */
#define TN_QF_FLAGS         8         /* uint32, TN_QF_F_* */
#define TN_QF_RCPT          16        /* the address */
#define TN_QF_ORCPT         17
#define TN_QF_NOTIFY        18        /* uint32 */
#define TN_QF_STATUS        19        /* uint32 */
#define TN_QF_TRIES         20        /* uint32 */
#define TN_QF_NEXT_TRY      21        /* int64 */
#define TN_QF_RCPT_FLAGS    22        /* uint32 */
#define TN_QF_ERROR         23
#define TN_QF_DELIVERED_TO  24        /* the local address it came from */
#define TN_QF_END           0x7fffffff

#define TN_QF_F_SMTPUTF8    0x01
#define TN_QF_F_8BIT        0x02
#define TN_QF_F_HOLD        0x04

/* the last message-level and recipient-level field types */
#define TN_QF_MSG_LAST      TN_QF_FLAGS
#define TN_QF_RCPT_LAST     TN_QF_DELIVERED_TO

#define TN_QUEUE_NOTIFY_ALL  (TN_QUEUE_NOTIFY_NEVER|TN_QUEUE_NOTIFY_SUCCESS \
                              |TN_QUEUE_NOTIFY_FAILURE|TN_QUEUE_NOTIFY_DELAY)


typedef struct {
    char                (*ids)[TN_STORE_QUEUE_ID_LEN];
    tn_uint_t             n;
    tn_uint_t             nalloc;
} tn_store_queue_ids_t;

typedef struct {
    u_char               *buf;
    u_char               *pos;
    u_char               *last;
} tn_store_queue_rec_t;


static tn_int_t tn_store_queue_id_valid(const char *id);
static ssize_t tn_store_queue_str_len(const char *s, size_t size);
static tn_int_t tn_store_queue_bytes_valid(const u_char *p, size_t len);
static tn_int_t tn_store_queue_check(tn_store_queue_env_t *env);
static void tn_store_queue_make_id(char *id);
static void tn_store_queue_fresh(tn_store_queue_env_t *env, off_t size);
static u_char *tn_store_queue_encode(tn_store_queue_env_t *env,
    size_t *len);
static size_t tn_store_queue_encoded_size(tn_store_queue_env_t *env);
static void tn_store_queue_put_rcpt(tn_store_queue_rec_t *r,
    tn_store_queue_rcpt_t *rc);
static void tn_store_queue_put(tn_store_queue_rec_t *r, uint32_t type,
    const void *data, size_t len);
static void tn_store_queue_put32(tn_store_queue_rec_t *r, uint32_t type,
    uint32_t v);
static void tn_store_queue_put64(tn_store_queue_rec_t *r, uint32_t type,
    uint64_t v);
static tn_int_t tn_store_queue_decode(u_char *buf, size_t len,
    tn_store_queue_env_t *env, const char **why);
static tn_int_t tn_store_queue_walk(u_char *buf, size_t len,
    tn_store_queue_env_t *env, const char **why);
static tn_int_t tn_store_queue_field(tn_store_queue_env_t *env,
    tn_store_queue_rcpt_t *rcpt, uint32_t type, u_char *p, uint32_t len);
static tn_int_t tn_store_queue_rcpt_field(tn_store_queue_rcpt_t *rcpt,
    uint32_t type, u_char *p, uint32_t len);
static tn_int_t tn_store_queue_num(u_char *p, uint32_t len, uint32_t want,
    uint64_t *v);
static tn_int_t tn_store_queue_str(char *dst, size_t size, u_char *p,
    uint32_t len);
static uint64_t tn_store_queue_get64(u_char *p);
static tn_fd_t tn_store_queue_shard_open(tn_store_conf_t *conf,
    tn_uint_t shard, tn_uint_t create, tn_log_t *log);
static tn_fd_t tn_store_queue_mkdir(tn_fd_t parent, const char *name,
    tn_uint_t create);
static tn_int_t tn_store_queue_write(tn_fd_t dirfd, const char *name,
    u_char *buf, size_t len);
static tn_int_t tn_store_queue_link(const char *path, tn_fd_t fd,
    tn_fd_t dirfd, const char *name, off_t size);
static tn_int_t tn_store_queue_store(tn_store_conf_t *conf,
    const char *path, tn_fd_t fd, const char *id, u_char *buf, size_t len,
    tn_log_t *log);
static tn_int_t tn_store_queue_commit(tn_fd_t dirfd, const char *tmp,
    const char *name, tn_uint_t replace);
static tn_int_t tn_store_queue_load(tn_fd_t dirfd, const char *name,
    u_char **buf, size_t *len);
static tn_int_t tn_store_queue_ids(tn_store_conf_t *conf, tn_uint_t shard,
    tn_store_queue_ids_t *ids, tn_log_t *log);
static tn_int_t tn_store_queue_walk_ids(tn_store_conf_t *conf,
    tn_store_queue_ids_t *ids, tn_store_queue_list_pt cb, void *data,
    tn_log_t *log);
static int tn_store_queue_name_cmp(const void *one, const void *two);


static uint64_t  tn_store_queue_counter;


tn_uint_t
tn_store_queue_shard(const char *id)
{
    uint32_t  h;

    /* FNV-1a: stable across versions, the on-disk layout depends on it */

    for (h = 2166136261u; *id; id++) {
        h = (h ^ (u_char) *id) * 16777619u;
    }

    return h & (TN_STORE_QUEUE_SHARDS - 1);
}


static tn_int_t
tn_store_queue_id_valid(const char *id)
{
    size_t  i;

    for (i = 0; id[i]; i++) {
        if (i >= TN_STORE_QUEUE_ID_LEN - 1) {
            return TN_DECLINED;
        }

        if (!isalnum((u_char) id[i]) && (id[i] != '.' || i == 0)) {
            return TN_DECLINED;
        }
    }

    return i ? TN_OK : TN_DECLINED;
}


tn_int_t
tn_store_queue_path(tn_store_conf_t *conf, const char *id, const char *ext,
    char *path)
{
    int  n;

    if (tn_store_queue_id_valid(id) != TN_OK) {
        return TN_DECLINED;
    }

    n = snprintf(path, PATH_MAX, "%.*s/queue/%x/%s.%s",
                 (int) conf->prefix.len, conf->prefix.data,
                 (unsigned) tn_store_queue_shard(id), id, ext);

    return (n > 0 && n < PATH_MAX) ? TN_OK : TN_DECLINED;
}


static void
tn_store_queue_make_id(char *id)
{
    uint32_t         rnd;
    uint64_t         n;
    struct timeval   tv;

    tn_gettimeofday(&tv);
    n = __atomic_add_fetch(&tn_store_queue_counter, 1, __ATOMIC_RELAXED);

    /* the time first (fixed width), so that ids sort by queueing time */

    if (RAND_bytes((u_char *) &rnd, sizeof(rnd)) != 1) {
        rnd = (uint32_t) (tv.tv_usec ^ (n << 20) ^ getpid());
    }

    snprintf(id, TN_STORE_QUEUE_ID_LEN, "%09llx%05lx.%x.%llx.%08x",
             (unsigned long long) tv.tv_sec, (unsigned long) tv.tv_usec,
             (unsigned) getpid(), (unsigned long long) n, (unsigned) rnd);
}


/* the length of a NUL-terminated string in char[size], or -1 */
static ssize_t
tn_store_queue_str_len(const char *s, size_t size)
{
    size_t  len;

    len = strnlen(s, size);

    if (len == size
        || tn_store_queue_bytes_valid((u_char *) s, len) != TN_OK)
    {
        return -1;
    }

    return len;
}


static tn_int_t
tn_store_queue_bytes_valid(const u_char *p, size_t len)
{
    size_t  i;

    /*
     * No NUL, CR, LF or other control byte: nothing that ends a line or
     * a string in the SMTP dialogue or a log.  UTF-8 is fine.
     */

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            return TN_DECLINED;
        }
    }

    return TN_OK;
}


static tn_int_t
tn_store_queue_check(tn_store_queue_env_t *env)
{
    tn_uint_t               i;
    tn_store_queue_rcpt_t  *r;

    if (env->nrcpts == 0 || env->nrcpts > TN_STORE_QUEUE_RCPTS_MAX
        || env->rcpts == NULL
        || env->ret > TN_QUEUE_RET_HDRS
        || tn_store_queue_str_len(env->sender, sizeof(env->sender)) < 0
        || tn_store_queue_str_len(env->auth_user, sizeof(env->auth_user)) < 0
        || tn_store_queue_str_len(env->envid, sizeof(env->envid)) < 0)
    {
        return TN_DECLINED;
    }

    for (i = 0; i < env->nrcpts; i++) {
        r = &env->rcpts[i];

        if (tn_store_queue_str_len(r->address, sizeof(r->address)) <= 0
            || tn_store_queue_str_len(r->orcpt, sizeof(r->orcpt)) < 0
            || tn_store_queue_str_len(r->error, sizeof(r->error)) < 0
            || tn_store_queue_str_len(r->delivered_to,
                                      sizeof(r->delivered_to)) < 0
            || (r->notify & ~TN_QUEUE_NOTIFY_ALL)
            || r->status > TN_QUEUE_BOUNCED)
        {
            return TN_DECLINED;
        }
    }

    return TN_OK;
}


static size_t
tn_store_queue_encoded_size(tn_store_queue_env_t *env)
{
    size_t                  size;
    tn_uint_t               i;
    tn_store_queue_rcpt_t  *r;

    /* the header, the fixed message fields with their 8-byte heads */

    size = TN_STORE_QUEUE_HDR_LEN + TN_STORE_QUEUE_END_LEN
           + 8 + strlen(env->id) + 8 + 8 + 8 + 8 + 8 + 4 + 8 + 4
           + 8 + strlen(env->sender) + 8 + strlen(env->auth_user)
           + 8 + strlen(env->envid);

    /* a recipient's defaults (empty, 0) are left out: 10,000 must fit */

    for (i = 0; i < env->nrcpts; i++) {
        r = &env->rcpts[i];

        size += 8 + strlen(r->address);
        size += r->orcpt[0] ? 8 + strlen(r->orcpt) : 0;
        size += r->notify ? 8 + 4 : 0;
        size += r->status ? 8 + 4 : 0;
        size += r->tries ? 8 + 4 : 0;
        size += r->next_try ? 8 + 8 : 0;
        size += r->flags ? 8 + 4 : 0;
        size += r->error[0] ? 8 + strlen(r->error) : 0;
        size += r->delivered_to[0] ? 8 + strlen(r->delivered_to) : 0;
    }

    return size;
}


static u_char *
tn_store_queue_encode(tn_store_queue_env_t *env, size_t *len)
{
    size_t                  size;
    uint32_t                flags, v;
    tn_uint_t               i;
    tn_store_queue_rec_t    r;

    size = tn_store_queue_encoded_size(env);

    if (size > TN_STORE_QUEUE_ENV_MAX) {
        errno = EFBIG;
        return NULL;
    }

    r.buf = malloc(size);
    if (r.buf == NULL) {
        return NULL;
    }

    r.pos = tn_cpymem(r.buf, TN_STORE_QUEUE_MAGIC, TN_STORE_QUEUE_MAGIC_LEN);
    v = htonl(TN_STORE_QUEUE_VERSION);
    r.pos = tn_cpymem(r.pos, &v, 4);
    r.last = r.buf + size;

    flags = (env->smtputf8 ? TN_QF_F_SMTPUTF8 : 0)
            | (env->body_8bit ? TN_QF_F_8BIT : 0)
            | (env->hold ? TN_QF_F_HOLD : 0);

    tn_store_queue_put(&r, TN_QF_ID, env->id, strlen(env->id));
    tn_store_queue_put64(&r, TN_QF_SIZE, (uint64_t) env->size);
    tn_store_queue_put64(&r, TN_QF_RECEIVED, (uint64_t) env->received);
    tn_store_queue_put(&r, TN_QF_SENDER, env->sender, strlen(env->sender));
    tn_store_queue_put(&r, TN_QF_AUTH_USER, env->auth_user,
                       strlen(env->auth_user));
    tn_store_queue_put(&r, TN_QF_ENVID, env->envid, strlen(env->envid));
    tn_store_queue_put32(&r, TN_QF_RET, (uint32_t) env->ret);
    tn_store_queue_put32(&r, TN_QF_FLAGS, flags);

    for (i = 0; i < env->nrcpts; i++) {
        tn_store_queue_put_rcpt(&r, &env->rcpts[i]);
    }

    /* the end marker: the digest covers everything before it */

    tn_store_queue_put(&r, TN_QF_END, NULL, SHA256_DIGEST_LENGTH);

    if (r.pos != r.last) {
        /* tn_store_queue_encoded_size() disagrees: a bug, write nothing */
        free(r.buf);
        errno = EINVAL;
        return NULL;
    }

    SHA256(r.buf, r.pos - r.buf - SHA256_DIGEST_LENGTH,
           r.pos - SHA256_DIGEST_LENGTH);

    *len = r.pos - r.buf;

    return r.buf;
}


/* a recipient's defaults (empty, 0) are left out */
static void
tn_store_queue_put_rcpt(tn_store_queue_rec_t *r, tn_store_queue_rcpt_t *rc)
{
    tn_store_queue_put(r, TN_QF_RCPT, rc->address, strlen(rc->address));

    if (rc->orcpt[0]) {
        tn_store_queue_put(r, TN_QF_ORCPT, rc->orcpt, strlen(rc->orcpt));
    }

    if (rc->notify) {
        tn_store_queue_put32(r, TN_QF_NOTIFY, (uint32_t) rc->notify);
    }

    if (rc->status) {
        tn_store_queue_put32(r, TN_QF_STATUS, (uint32_t) rc->status);
    }

    if (rc->tries) {
        tn_store_queue_put32(r, TN_QF_TRIES, (uint32_t) rc->tries);
    }

    if (rc->next_try) {
        tn_store_queue_put64(r, TN_QF_NEXT_TRY, (uint64_t) rc->next_try);
    }

    if (rc->flags) {
        tn_store_queue_put32(r, TN_QF_RCPT_FLAGS, (uint32_t) rc->flags);
    }

    if (rc->error[0]) {
        tn_store_queue_put(r, TN_QF_ERROR, rc->error, strlen(rc->error));
    }

    if (rc->delivered_to[0]) {
        tn_store_queue_put(r, TN_QF_DELIVERED_TO, rc->delivered_to,
                           strlen(rc->delivered_to));
    }
}


static void
tn_store_queue_put(tn_store_queue_rec_t *r, uint32_t type, const void *data,
    size_t len)
{
    uint32_t  v;

    v = htonl(type);
    r->pos = tn_cpymem(r->pos, &v, 4);
    v = htonl((uint32_t) len);
    r->pos = tn_cpymem(r->pos, &v, 4);

    if (data) {
        r->pos = tn_cpymem(r->pos, data, len);

    } else {
        r->pos += len;
    }
}


static void
tn_store_queue_put32(tn_store_queue_rec_t *r, uint32_t type, uint32_t v)
{
    v = htonl(v);
    tn_store_queue_put(r, type, &v, 4);
}


static void
tn_store_queue_put64(tn_store_queue_rec_t *r, uint32_t type, uint64_t v)
{
    u_char     b[8];
    tn_uint_t  i;

    for (i = 0; i < 8; i++) {
        b[i] = (u_char) (v >> (56 - 8 * i));
    }

    tn_store_queue_put(r, type, b, 8);
}


static uint64_t
tn_store_queue_get64(u_char *p)
{
    uint64_t   v;
    tn_uint_t  i;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


static tn_int_t
tn_store_queue_decode(u_char *buf, size_t len, tn_store_queue_env_t *env,
    const char **why)
{
    u_char    *p, md[SHA256_DIGEST_LENGTH];
    uint32_t   type, flen, v;
    tn_uint_t  n;

    *why = "too short";

    if (len < TN_STORE_QUEUE_HDR_LEN + TN_STORE_QUEUE_END_LEN) {
        return TN_ERROR;
    }

    tn_memcpy(&v, buf + TN_STORE_QUEUE_MAGIC_LEN, 4);

    if (tn_memcmp(buf, TN_STORE_QUEUE_MAGIC, TN_STORE_QUEUE_MAGIC_LEN) != 0
        || ntohl(v) != TN_STORE_QUEUE_VERSION)
    {
        *why = "not a queue record of version 1";
        return TN_ERROR;
    }

    /* the end marker and the digest first: a torn file stops here */

    p = buf + len - TN_STORE_QUEUE_END_LEN;
    tn_memcpy(&type, p, 4);
    tn_memcpy(&flen, p + 4, 4);
    SHA256(buf, len - SHA256_DIGEST_LENGTH, md);

    if (ntohl(type) != TN_QF_END || ntohl(flen) != SHA256_DIGEST_LENGTH
        || tn_memcmp(md, p + 8, SHA256_DIGEST_LENGTH) != 0)
    {
        *why = "truncated or corrupted (no end marker or a bad checksum)";
        return TN_ERROR;
    }

    /* pass 1: the structure, and the number of recipients */

    n = 0;
    len -= TN_STORE_QUEUE_END_LEN;

    for (p = buf + TN_STORE_QUEUE_HDR_LEN; p < buf + len; p += 8 + flen) {
        if ((size_t) (buf + len - p) < 8) {
            *why = "a torn field";
            return TN_ERROR;
        }

        tn_memcpy(&type, p, 4);
        tn_memcpy(&flen, p + 4, 4);
        type = ntohl(type);
        flen = ntohl(flen);

        if (flen > (size_t) (buf + len - p) - 8 || type == TN_QF_END) {
            *why = "a field longer than the record";
            return TN_ERROR;
        }

        n += (type == TN_QF_RCPT);
    }

    if (n == 0 || n > TN_STORE_QUEUE_RCPTS_MAX) {
        *why = "no recipients or too many";
        return TN_ERROR;
    }

    env->rcpts = calloc(n, sizeof(tn_store_queue_rcpt_t));
    if (env->rcpts == NULL) {
        *why = "out of memory";
        return TN_ERROR;
    }

    *why = "an invalid field";

    return tn_store_queue_walk(buf, len, env, why);
}


/* pass 2 over a record whose structure is known to be sound */
static tn_int_t
tn_store_queue_walk(u_char *buf, size_t len, tn_store_queue_env_t *env,
    const char **why)
{
    u_char                 *p;
    uint32_t                type, flen, seen, rseen;
    tn_store_queue_rcpt_t  *rcpt;

    rcpt = NULL;
    seen = 0;
    rseen = 0;

    for (p = buf + TN_STORE_QUEUE_HDR_LEN; p < buf + len; p += 8 + flen) {
        tn_memcpy(&type, p, 4);
        tn_memcpy(&flen, p + 4, 4);
        type = ntohl(type);
        flen = ntohl(flen);

        if (type & TN_STORE_QF_OPTIONAL) {
            continue;
        }

        if (type == TN_QF_RCPT) {
            rcpt = &env->rcpts[env->nrcpts++];
            rseen = 0;
        }

        /* each field at most once per message or per recipient */

        if (type == 0 || type > TN_QF_RCPT_LAST
            || (type > TN_QF_MSG_LAST && type < TN_QF_RCPT)
            || (type <= TN_QF_MSG_LAST && (seen & (1u << type)))
            || (type >= TN_QF_RCPT && (rseen & (1u << (type - 16)))))
        {
            *why = "an unknown or repeated field";
            return TN_ERROR;
        }

        if (type <= TN_QF_MSG_LAST) {
            seen |= 1u << type;

        } else if (type >= TN_QF_RCPT) {
            rseen |= 1u << (type - 16);
        }

        if (tn_store_queue_field(env, rcpt, type, p + 8, flen) != TN_OK) {
            return TN_ERROR;
        }
    }

    if (!(seen & (1u << TN_QF_ID)) || !(seen & (1u << TN_QF_SIZE))
        || !(seen & (1u << TN_QF_RECEIVED)))
    {
        *why = "a missing field";
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_int_t
tn_store_queue_field(tn_store_queue_env_t *env, tn_store_queue_rcpt_t *rcpt,
    uint32_t type, u_char *p, uint32_t len)
{
    uint64_t  v;

    switch (type) {

    case TN_QF_ID:
        return tn_store_queue_str(env->id, sizeof(env->id), p, len);

    case TN_QF_SIZE:
        if (tn_store_queue_num(p, len, 8, &v) != TN_OK || v > INT64_MAX) {
            return TN_ERROR;
        }

        env->size = (off_t) v;
        return TN_OK;

    case TN_QF_RECEIVED:
        if (tn_store_queue_num(p, len, 8, &v) != TN_OK) {
            return TN_ERROR;
        }

        env->received = (time_t) (int64_t) v;
        return TN_OK;

    case TN_QF_SENDER:
        return tn_store_queue_str(env->sender, sizeof(env->sender), p, len);

    case TN_QF_AUTH_USER:
        return tn_store_queue_str(env->auth_user, sizeof(env->auth_user),
                                  p, len);

    case TN_QF_ENVID:
        return tn_store_queue_str(env->envid, sizeof(env->envid), p, len);

    case TN_QF_RET:
        if (tn_store_queue_num(p, len, 4, &v) != TN_OK
            || v > TN_QUEUE_RET_HDRS)
        {
            return TN_ERROR;
        }

        env->ret = v;
        return TN_OK;

    case TN_QF_FLAGS:
        if (tn_store_queue_num(p, len, 4, &v) != TN_OK
            || (v & ~(TN_QF_F_SMTPUTF8|TN_QF_F_8BIT|TN_QF_F_HOLD)))
        {
            return TN_ERROR;
        }

        env->smtputf8 = (v & TN_QF_F_SMTPUTF8) ? 1 : 0;
        env->body_8bit = (v & TN_QF_F_8BIT) ? 1 : 0;
        env->hold = (v & TN_QF_F_HOLD) ? 1 : 0;
        return TN_OK;
    }

    if (rcpt == NULL) {
        return TN_ERROR;
    }

    return tn_store_queue_rcpt_field(rcpt, type, p, len);
}


static tn_int_t
tn_store_queue_rcpt_field(tn_store_queue_rcpt_t *rcpt, uint32_t type,
    u_char *p, uint32_t len)
{
    uint64_t  v;

    switch (type) {

    case TN_QF_RCPT:
        if (len == 0) {
            return TN_ERROR;
        }

        return tn_store_queue_str(rcpt->address, sizeof(rcpt->address),
                                  p, len);

    case TN_QF_ORCPT:
        return tn_store_queue_str(rcpt->orcpt, sizeof(rcpt->orcpt), p, len);

    case TN_QF_ERROR:
        return tn_store_queue_str(rcpt->error, sizeof(rcpt->error), p, len);

    case TN_QF_DELIVERED_TO:
        return tn_store_queue_str(rcpt->delivered_to,
                                  sizeof(rcpt->delivered_to), p, len);

    case TN_QF_NEXT_TRY:
        if (tn_store_queue_num(p, len, 8, &v) != TN_OK) {
            return TN_ERROR;
        }

        rcpt->next_try = (time_t) (int64_t) v;
        return TN_OK;
    }

    if (tn_store_queue_num(p, len, 4, &v) != TN_OK) {
        return TN_ERROR;
    }

    switch (type) {

    case TN_QF_NOTIFY:
        if (v & ~TN_QUEUE_NOTIFY_ALL) {
            return TN_ERROR;
        }

        rcpt->notify = v;
        return TN_OK;

    case TN_QF_STATUS:
        if (v > TN_QUEUE_BOUNCED) {
            return TN_ERROR;
        }

        rcpt->status = v;
        return TN_OK;

    case TN_QF_TRIES:
        rcpt->tries = v;
        return TN_OK;

    default: /* TN_QF_RCPT_FLAGS */
        rcpt->flags = v;
        return TN_OK;
    }
}


static tn_int_t
tn_store_queue_str(char *dst, size_t size, u_char *p, uint32_t len)
{
    /* too long for its place, or a NUL or control byte: refused */

    if (len >= size || tn_store_queue_bytes_valid(p, len) != TN_OK) {
        return TN_ERROR;
    }

    tn_memcpy(dst, p, len);
    dst[len] = '\0';

    return TN_OK;
}


static tn_int_t
tn_store_queue_num(u_char *p, uint32_t len, uint32_t want, uint64_t *v)
{
    if (len != want) {
        return TN_ERROR;
    }

    *v = (want == 8) ? tn_store_queue_get64(p)
                     : ((uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
                        | (uint32_t) p[2] << 8 | p[3]);

    return TN_OK;
}


static tn_fd_t
tn_store_queue_mkdir(tn_fd_t parent, const char *name, tn_uint_t create)
{
    tn_fd_t      fd;
    tn_err_t     err;
    struct stat  sb;

    fd = openat(parent, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);

    if (fd == -1 && errno == TN_ENOENT && create) {
        if (mkdirat(parent, name, 0700) == -1 && errno != TN_EEXIST) {
            return TN_INVALID_FILE;
        }

        /* the new entry must be durable before anything is put in it */
        if (tn_store_fsync_fd(parent) != TN_OK) {
            return TN_INVALID_FILE;
        }

        fd = openat(parent, name, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
    }

    if (fd == -1) {
        return TN_INVALID_FILE;
    }

    /* nobody else may plant or swap files in the queue */

    if (fstat(fd, &sb) == -1) {
        err = errno;
        close(fd);
        errno = err;
        return TN_INVALID_FILE;
    }

    if (sb.st_mode & (S_IWGRP|S_IWOTH)) {
        close(fd);
        errno = TN_EPERM;
        return TN_INVALID_FILE;
    }

    return fd;
}


static tn_fd_t
tn_store_queue_shard_open(tn_store_conf_t *conf, tn_uint_t shard,
    tn_uint_t create, tn_log_t *log)
{
    tn_fd_t  prefix, queue, fd;
    char     name[4];

    prefix = open((char *) conf->prefix.data,
                  O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    if (prefix == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: open(\"%V\") failed", &conf->prefix);
        return TN_INVALID_FILE;
    }

    queue = tn_store_queue_mkdir(prefix, "queue", create);
    fd = TN_INVALID_FILE;

    if (queue != TN_INVALID_FILE) {
        snprintf(name, sizeof(name), "%x", (unsigned) shard);
        fd = tn_store_queue_mkdir(queue, name, create);
        close(queue);
    }

    if (fd == TN_INVALID_FILE && (create || errno != TN_ENOENT)) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: opening the queue shard \"%V/queue/%xi\" "
                     "failed", &conf->prefix, shard);
    }

    close(prefix);

    return fd;
}


tn_int_t
tn_store_queue_init(tn_store_conf_t *conf, uid_t user, gid_t group,
    tn_log_t *log)
{
    tn_fd_t    fd;
    tn_uint_t  shard;
    char       path[PATH_MAX];

    for (shard = 0; shard < TN_STORE_QUEUE_SHARDS; shard++) {
        fd = tn_store_queue_shard_open(conf, shard, 1, log);
        if (fd == TN_INVALID_FILE) {
            return TN_ERROR;
        }

        if (user != (uid_t) -1 && fchown(fd, user, group) == -1) {
            tn_log_error(TN_LOG_EMERG, log, tn_errno,
                         "store: chown() of the queue shard %xi failed",
                         shard);
            close(fd);
            return TN_ERROR;
        }

        close(fd);
    }

    if (user == (uid_t) -1) {
        return TN_OK;
    }

    snprintf(path, sizeof(path), "%.*s/queue", (int) conf->prefix.len,
             conf->prefix.data);

    fd = open(path, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);

    if (fd == -1 || fchown(fd, user, group) == -1) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno,
                     "store: chown(\"%s\") failed", path);

        if (fd != -1) {
            close(fd);
        }

        return TN_ERROR;
    }

    close(fd);

    return TN_OK;
}


/* writes a new file in dirfd and fsync()s it; errno set on TN_ERROR */
static tn_int_t
tn_store_queue_write(tn_fd_t dirfd, const char *name, u_char *buf,
    size_t len)
{
    tn_fd_t      fd;
    tn_err_t     err;
    struct stat  sb;

    fd = openat(dirfd, name, O_CREAT|O_EXCL|O_WRONLY|O_NOFOLLOW|O_CLOEXEC,
                0600);
    if (fd == -1) {
        return TN_ERROR;
    }

    /*
     * Written by root (an admin command changing an envelope): the file
     * goes to the owner of the shard, the user the workers run as, who
     * could not read a root-owned 0600 record.
     */

    if (geteuid() == 0
        && (fstat(dirfd, &sb) == -1
            || (sb.st_uid != 0 && fchown(fd, sb.st_uid, sb.st_gid) == -1)))
    {
        err = errno;
        goto failed;
    }

    if (tn_write_fd(fd, buf, len) != (ssize_t) len) {
        err = errno ? errno : EIO;
        goto failed;
    }

    /* R5: one fsync(); if it fails the data counts as lost */
    if (fsync(fd) == -1) {
        err = errno;
        goto failed;
    }

    if (close(fd) == -1) {
        err = errno;
        fd = TN_INVALID_FILE;
        goto failed;
    }

    return TN_OK;

failed:

    if (fd != TN_INVALID_FILE) {
        close(fd);
    }

    (void) unlinkat(dirfd, name, 0);
    errno = err;

    return TN_ERROR;
}


/* <id>.msg: a hard link of the synced message file, or a synced copy */
static tn_int_t
tn_store_queue_link(const char *path, tn_fd_t fd, tn_fd_t dirfd,
    const char *name, off_t size)
{
    if (linkat(AT_FDCWD, path, dirfd, name, 0) == 0) {
        return TN_OK;
    }

    /* another file system, or one without hard links */
    if (errno != TN_EXDEV && errno != TN_EPERM && errno != EMLINK) {
        return TN_ERROR;
    }

    return tn_store_copy_synced(fd, dirfd, name, size);
}


/* tmp -> name, then fsync() of the directory: the commit */
static tn_int_t
tn_store_queue_commit(tn_fd_t dirfd, const char *tmp, const char *name,
    tn_uint_t replace)
{
    int  rc;

    if (replace) {
        rc = renameat(dirfd, tmp, dirfd, name);

    } else {
        rc = renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE);

        if (rc == -1 && (errno == TN_EINVAL || errno == ENOSYS)) {
            /* a file system without RENAME_NOREPLACE; ids are unique */
            rc = renameat(dirfd, tmp, dirfd, name);
        }
    }

    if (rc == -1) {
        return TN_ERROR;
    }

    return tn_store_fsync_fd(dirfd);
}


tn_int_t
tn_store_queue_add(tn_store_conf_t *conf, const char *path, tn_fd_t fd,
    tn_store_queue_env_t *env, tn_log_t *log)
{
    size_t       len;
    u_char      *buf;
    tn_int_t     rc;
    tn_fd_t      own;
    tn_err_t     err;
    struct stat  sb;

    if (tn_store_queue_check(env) != TN_OK) {
        tn_log_error(TN_LOG_INFO, log, 0, "store: invalid queue envelope");
        errno = TN_EINVAL;
        return TN_DECLINED;
    }

    own = TN_INVALID_FILE;

    /* 1: the message data */

    if (fd == TN_INVALID_FILE) {
        own = open(path, O_RDONLY|O_NOFOLLOW|O_CLOEXEC);

        if (own == -1 || fsync(own) == -1) {
            goto failed;
        }

        fd = own;
    }

    if (fstat(fd, &sb) == -1) {
        goto failed;
    }

    tn_store_queue_fresh(env, sb.st_size);

    buf = tn_store_queue_encode(env, &len);
    if (buf == NULL) {
        goto failed;
    }

    rc = tn_store_queue_store(conf, path, fd, env->id, buf, len, log);

    err = errno;
    free(buf);

    if (own != TN_INVALID_FILE) {
        close(own);
    }

    if (rc != TN_OK) {
        env->id[0] = '\0';
    }

    errno = err;

    return rc;

failed:

    err = errno ? errno : EIO;

    tn_log_error(TN_LOG_ERR, log, err, "store: queueing \"%s\" failed",
                 path);

    if (own != TN_INVALID_FILE) {
        close(own);
    }

    env->id[0] = '\0';
    errno = err;

    return TN_ERROR;
}


/* a new entry: its id, size, time, and every recipient pending */
static void
tn_store_queue_fresh(tn_store_queue_env_t *env, off_t size)
{
    tn_uint_t  i;

    tn_store_queue_make_id(env->id);
    env->size = size;

    if (env->received == 0) {
        env->received = time(NULL);
    }

    for (i = 0; i < env->nrcpts; i++) {
        env->rcpts[i].status = TN_QUEUE_PENDING;
        env->rcpts[i].tries = 0;
        env->rcpts[i].next_try = 0;
        env->rcpts[i].flags = 0;
        env->rcpts[i].error[0] = '\0';
    }
}


/* steps 2-6 of the order at the top; nothing is left behind on failure */
static tn_int_t
tn_store_queue_store(tn_store_conf_t *conf, const char *path, tn_fd_t fd,
    const char *id, u_char *buf, size_t len, tn_log_t *log)
{
    tn_fd_t      dirfd;
    tn_err_t     err;
    struct stat  sb;
    char         tmp[TN_STORE_QUEUE_ID_LEN + 8];
    char         msg[TN_STORE_QUEUE_ID_LEN + 8];
    char         env[TN_STORE_QUEUE_ID_LEN + 8];

    snprintf(tmp, sizeof(tmp), "%s.tmp", id);
    snprintf(msg, sizeof(msg), "%s.msg", id);
    snprintf(env, sizeof(env), "%s.env", id);

    dirfd = tn_store_queue_shard_open(conf, tn_store_queue_shard(id), 1,
                                      log);
    if (dirfd == TN_INVALID_FILE) {
        return TN_ERROR;
    }

    if (fstat(fd, &sb) == -1
        || tn_store_queue_write(dirfd, tmp, buf, len) != TN_OK)
    {
        goto failed;
    }

    if (tn_store_queue_link(path, fd, dirfd, msg, sb.st_size) != TN_OK
        || tn_store_fsync_fd(dirfd) != TN_OK
        || tn_store_queue_commit(dirfd, tmp, env, 0) != TN_OK)
    {
        goto failed;
    }

    close(dirfd);

    return TN_OK;

failed:

    err = errno ? errno : EIO;

    tn_log_error(TN_LOG_ERR, log, err,
                 "store: queueing \"%s\" as %s failed", path, id);

    /* the record first, so that a half-removed entry is only garbage */

    (void) unlinkat(dirfd, env, 0);
    (void) unlinkat(dirfd, tmp, 0);
    (void) unlinkat(dirfd, msg, 0);
    (void) tn_store_fsync_fd(dirfd);

    close(dirfd);
    errno = err;

    return TN_ERROR;
}


/* reads a whole record file (a regular file of at most the cap) */
static tn_int_t
tn_store_queue_load(tn_fd_t dirfd, const char *name, u_char **buf,
    size_t *len)
{
    off_t        off;
    ssize_t      n;
    tn_fd_t      fd;
    tn_err_t     err;
    struct stat  sb;

    *buf = NULL;

    fd = openat(dirfd, name, O_RDONLY|O_NOFOLLOW|O_CLOEXEC);
    if (fd == -1) {
        return TN_ERROR;
    }

    if (fstat(fd, &sb) == -1) {
        goto failed;
    }

    if (!S_ISREG(sb.st_mode) || sb.st_size > TN_STORE_QUEUE_ENV_MAX) {
        errno = EFBIG;
        goto failed;
    }

    *buf = malloc(sb.st_size ? sb.st_size : 1);
    if (*buf == NULL) {
        goto failed;
    }

    for (off = 0; off < sb.st_size; off += n) {
        n = pread(fd, *buf + off, sb.st_size - off, off);

        if (n == -1 && errno == TN_EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            /* shorter than fstat() said: the record is torn anyway */
            sb.st_size = off;
            break;
        }
    }

    close(fd);
    *len = sb.st_size;

    return TN_OK;

failed:

    err = errno;
    close(fd);
    free(*buf);
    *buf = NULL;
    errno = err;

    return TN_ERROR;
}


tn_int_t
tn_store_queue_read(tn_store_conf_t *conf, const char *id,
    tn_store_queue_env_t *env, tn_log_t *log)
{
    size_t       len;
    u_char      *buf;
    tn_fd_t      dirfd;
    tn_int_t     rc;
    struct stat  sb;
    const char  *why;
    char         name[TN_STORE_QUEUE_ID_LEN + 8];

    tn_memzero(env, sizeof(tn_store_queue_env_t));

    if (tn_store_queue_id_valid(id) != TN_OK) {
        return TN_DECLINED;
    }

    dirfd = tn_store_queue_shard_open(conf, tn_store_queue_shard(id), 0, log);
    if (dirfd == TN_INVALID_FILE) {
        return (errno == TN_ENOENT) ? TN_DECLINED : TN_ERROR;
    }

    snprintf(name, sizeof(name), "%s.env", id);

    if (tn_store_queue_load(dirfd, name, &buf, &len) != TN_OK) {
        rc = (errno == TN_ENOENT) ? TN_DECLINED : TN_ERROR;

        if (rc == TN_ERROR) {
            tn_log_error(TN_LOG_ERR, log, tn_errno,
                         "store: reading the queue record %s failed", id);
        }

        close(dirfd);
        return rc;
    }

    rc = tn_store_queue_decode(buf, len, env, &why);
    free(buf);

    if (rc == TN_OK && strcmp(env->id, id) != 0) {
        why = "the record of another id";
        rc = TN_ERROR;
    }

    snprintf(name, sizeof(name), "%s.msg", id);

    if (rc == TN_OK
        && (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1
            || !S_ISREG(sb.st_mode) || sb.st_size != env->size))
    {
        why = "its message file is missing or has another size";
        rc = TN_ERROR;
    }

    close(dirfd);

    if (rc != TN_OK) {
        tn_log_error(TN_LOG_ERR, log, 0, "store: the queue record %s is "
                     "invalid: %s", id, why);
        tn_store_queue_env_free(env);
        return TN_ERROR;
    }

    return TN_OK;
}


void
tn_store_queue_env_free(tn_store_queue_env_t *env)
{
    free(env->rcpts);
    env->rcpts = NULL;
    env->nrcpts = 0;
}


tn_int_t
tn_store_queue_update(tn_store_conf_t *conf, tn_store_queue_env_t *env,
    tn_log_t *log)
{
    size_t    len;
    u_char   *buf;
    tn_fd_t   dirfd;
    tn_int_t  rc;
    tn_err_t  err;
    char      tmp[TN_STORE_QUEUE_ID_LEN + 8], name[TN_STORE_QUEUE_ID_LEN + 8];

    if (tn_store_queue_id_valid(env->id) != TN_OK
        || tn_store_queue_check(env) != TN_OK)
    {
        return TN_DECLINED;
    }

    buf = tn_store_queue_encode(env, &len);
    if (buf == NULL) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: encoding the queue record %s failed", env->id);
        return TN_ERROR;
    }

    dirfd = tn_store_queue_shard_open(conf, tn_store_queue_shard(env->id), 0,
                                      log);
    if (dirfd == TN_INVALID_FILE) {
        free(buf);
        return (errno == TN_ENOENT) ? TN_DECLINED : TN_ERROR;
    }

    snprintf(tmp, sizeof(tmp), "%s.tmp", env->id);
    snprintf(name, sizeof(name), "%s.env", env->id);

    rc = TN_DECLINED;

    if (faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        rc = TN_OK;

        /* an old temporary file of a crashed update is garbage */
        (void) unlinkat(dirfd, tmp, 0);

        if (tn_store_queue_write(dirfd, tmp, buf, len) != TN_OK
            || tn_store_queue_commit(dirfd, tmp, name, 1) != TN_OK)
        {
            err = errno;
            (void) unlinkat(dirfd, tmp, 0);
            tn_log_error(TN_LOG_ERR, log, err,
                         "store: updating the queue record %s failed",
                         env->id);
            rc = TN_ERROR;
        }
    }

    free(buf);
    close(dirfd);

    return rc;
}


tn_int_t
tn_store_queue_remove(tn_store_conf_t *conf, const char *id, tn_log_t *log)
{
    tn_fd_t   dirfd;
    tn_int_t  rc;
    char      name[TN_STORE_QUEUE_ID_LEN + 8];

    if (tn_store_queue_id_valid(id) != TN_OK) {
        return TN_DECLINED;
    }

    dirfd = tn_store_queue_shard_open(conf, tn_store_queue_shard(id), 0, log);
    if (dirfd == TN_INVALID_FILE) {
        return (errno == TN_ENOENT) ? TN_DECLINED : TN_ERROR;
    }

    snprintf(name, sizeof(name), "%s.env", id);

    rc = TN_OK;

    if (unlinkat(dirfd, name, 0) == -1) {
        rc = (errno == TN_ENOENT) ? TN_DECLINED : TN_ERROR;
    }

    if (rc != TN_DECLINED) {
        snprintf(name, sizeof(name), "%s.msg", id);

        if (unlinkat(dirfd, name, 0) == -1 && errno != TN_ENOENT) {
            rc = TN_ERROR;
        }

        if (tn_store_fsync_fd(dirfd) != TN_OK) {
            rc = TN_ERROR;
        }

        if (rc == TN_ERROR) {
            tn_log_error(TN_LOG_ERR, log, tn_errno,
                         "store: removing the queued message %s failed", id);
        }
    }

    close(dirfd);

    return rc;
}


/*
 * flock(), not fcntl() locks: a flock() lock belongs to the open file
 * description, so two open()s in one process (two deliveries in a
 * worker) exclude each other as two processes do, and closing another
 * descriptor of the same file does not drop it.  The lock is on the
 * .msg because the .env is replaced by rename() on every update.
 */
tn_int_t
tn_store_queue_lock(tn_store_conf_t *conf, const char *id, tn_uint_t wait,
    tn_fd_t *fd, tn_log_t *log)
{
    tn_fd_t      lfd;
    tn_err_t     err;
    tn_msec_t    now, deadline, step;
    struct stat  sb;
    char         path[PATH_MAX];

    *fd = TN_INVALID_FILE;

    if (tn_store_queue_path(conf, id, "msg", path) != TN_OK) {
        return TN_DECLINED;
    }

    /* O_NONBLOCK: something other than a file must not hang the open */

    lfd = open(path, O_RDONLY|O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK);

    if (lfd == -1) {
        if (errno == TN_ENOENT || errno == TN_ENOTDIR) {
            return TN_DECLINED;
        }

        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: open(\"%s\") failed", path);
        return TN_ERROR;
    }

    if (fstat(lfd, &sb) == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno,
                     "store: fstat(\"%s\") failed", path);
        close(lfd);
        return TN_ERROR;
    }

    if (!S_ISREG(sb.st_mode)) {
        tn_log_error(TN_LOG_ERR, log, 0,
                     "store: the queued message \"%s\" is not a file", path);
        close(lfd);
        return TN_ERROR;
    }

    deadline = tn_monotonic_msec() + (tn_msec_t) wait * 1000;

    while (flock(lfd, LOCK_EX|LOCK_NB) == -1) {
        err = tn_errno;

        if (err == TN_EINTR) {
            continue;
        }

        if (err != EWOULDBLOCK) {
            tn_log_error(TN_LOG_ERR, log, err,
                         "store: flock(\"%s\") failed", path);
            close(lfd);
            return TN_ERROR;
        }

        now = tn_monotonic_msec();

        if (now >= deadline) {
            close(lfd);
            return TN_BUSY;
        }

        /* another try every 100 ms: the CLI waits, a worker never does */

        step = tn_min(deadline - now, 100);
        tn_msleep(step);
    }

    /*
     * The holder we waited for may have finished or removed the message
     * (the .env goes first): then there is nothing left to lock.
     */

    if (tn_store_queue_path(conf, id, "env", path) != TN_OK
        || faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) == -1)
    {
        err = tn_errno;
        close(lfd);

        if (err == TN_ENOENT) {
            return TN_DECLINED;
        }

        tn_log_error(TN_LOG_ERR, log, err,
                     "store: access(\"%s\") failed", path);
        return TN_ERROR;
    }

    *fd = lfd;

    return TN_OK;
}


void
tn_store_queue_unlock(tn_fd_t fd)
{
    /* the lock goes with the last descriptor of its open file description */

    if (fd != TN_INVALID_FILE) {
        (void) close(fd);
    }
}


tn_int_t
tn_store_queue_list(tn_store_conf_t *conf, tn_store_queue_list_pt cb,
    void *data, tn_log_t *log)
{
    tn_store_queue_ids_t  ids;
    tn_uint_t             shard;

    tn_memzero(&ids, sizeof(tn_store_queue_ids_t));

    for (shard = 0; shard < TN_STORE_QUEUE_SHARDS; shard++) {
        if (tn_store_queue_ids(conf, shard, &ids, log) != TN_OK) {
            free(ids.ids);
            return TN_ERROR;
        }
    }

    return tn_store_queue_walk_ids(conf, &ids, cb, data, log);
}


tn_int_t
tn_store_queue_list_shard(tn_store_conf_t *conf, tn_uint_t shard,
    tn_store_queue_list_pt cb, void *data, tn_log_t *log)
{
    tn_store_queue_ids_t  ids;

    tn_memzero(&ids, sizeof(tn_store_queue_ids_t));

    if (shard >= TN_STORE_QUEUE_SHARDS
        || tn_store_queue_ids(conf, shard, &ids, log) != TN_OK)
    {
        free(ids.ids);
        return TN_ERROR;
    }

    return tn_store_queue_walk_ids(conf, &ids, cb, data, log);
}


/* adds the ids of a shard's records to ids */
static tn_int_t
tn_store_queue_ids(tn_store_conf_t *conf, tn_uint_t shard,
    tn_store_queue_ids_t *ids, tn_log_t *log)
{
    DIR            *dir;
    size_t          len;
    tn_fd_t         dirfd;
    tn_int_t        rc;
    struct dirent  *de;
    char          (*more)[TN_STORE_QUEUE_ID_LEN];

    dirfd = tn_store_queue_shard_open(conf, shard, 0, log);
    if (dirfd == TN_INVALID_FILE) {
        return (errno == TN_ENOENT) ? TN_OK : TN_ERROR;
    }

    dir = fdopendir(dirfd);
    if (dir == NULL) {
        close(dirfd);
        return TN_ERROR;
    }

    rc = TN_OK;

    while ((de = readdir(dir)) != NULL) {
        len = strlen(de->d_name);

        if (len < 5 || len - 4 >= TN_STORE_QUEUE_ID_LEN
            || strcmp(de->d_name + len - 4, ".env") != 0)
        {
            continue;
        }

        if (ids->n == ids->nalloc) {
            ids->nalloc = ids->nalloc ? 2 * ids->nalloc : 64;
            more = realloc(ids->ids, ids->nalloc * TN_STORE_QUEUE_ID_LEN);

            if (more == NULL) {
                rc = TN_ERROR;
                break;
            }

            ids->ids = more;
        }

        tn_memcpy(ids->ids[ids->n], de->d_name, len - 4);
        ids->ids[ids->n++][len - 4] = '\0';
    }

    closedir(dir);

    return rc;
}


/* sorted, read one by one, given to cb; frees ids */
static tn_int_t
tn_store_queue_walk_ids(tn_store_conf_t *conf, tn_store_queue_ids_t *ids,
    tn_store_queue_list_pt cb, void *data, tn_log_t *log)
{
    tn_int_t              rc;
    tn_uint_t             i;
    tn_store_queue_env_t  env;

    if (ids->n) {
        qsort(ids->ids, ids->n, TN_STORE_QUEUE_ID_LEN,
              tn_store_queue_name_cmp);
    }

    rc = TN_OK;

    for (i = 0; i < ids->n && rc == TN_OK; i++) {
        /* removed meanwhile (TN_DECLINED) or broken (logged): skipped */

        if (tn_store_queue_read(conf, ids->ids[i], &env, log) != TN_OK) {
            continue;
        }

        rc = cb(data, &env);
        tn_store_queue_env_free(&env);
    }

    free(ids->ids);

    return rc;
}

static int
tn_store_queue_name_cmp(const void *one, const void *two)
{
    return strcmp(one, two);
}


tn_int_t
tn_store_queue_cleanup(tn_store_conf_t *conf, time_t max_age, tn_log_t *log)
{
    DIR            *dir;
    size_t          len;
    time_t          now;
    tn_fd_t         dirfd;
    tn_int_t        removed;
    tn_uint_t       shard, stale;
    struct stat     sb;
    struct dirent  *de;
    char            env[NAME_MAX + 8];

    now = time(NULL);
    removed = 0;

    for (shard = 0; shard < TN_STORE_QUEUE_SHARDS; shard++) {
        dirfd = tn_store_queue_shard_open(conf, shard, 0, log);
        if (dirfd == TN_INVALID_FILE) {
            if (errno == TN_ENOENT) {
                continue;
            }

            return TN_ERROR;
        }

        dir = fdopendir(dirfd);
        if (dir == NULL) {
            close(dirfd);
            return TN_ERROR;
        }

        stale = 0;

        while ((de = readdir(dir)) != NULL) {
            len = strlen(de->d_name);

            if (len < 5 || (strcmp(de->d_name + len - 4, ".msg") != 0
                            && strcmp(de->d_name + len - 4, ".tmp") != 0))
            {
                continue;
            }

            /*
             * A .msg with its record is a queued message.  The ctime
             * counts too: a hard link keeps the spool file's mtime.
             */

            snprintf(env, sizeof(env), "%.*s.env", (int) (len - 4),
                     de->d_name);

            if ((de->d_name[len - 3] == 'm'
                 && faccessat(dirfd, env, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                || fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1
                || sb.st_mtime > now - max_age
                || sb.st_ctime > now - max_age)
            {
                continue;
            }

            if (unlinkat(dirfd, de->d_name, 0) == 0) {
                tn_log_error(TN_LOG_NOTICE, log, 0, "store: removed the "
                             "orphan queue file \"%s\"", de->d_name);
                removed++;
                stale = 1;
            }
        }

        if (stale) {
            (void) tn_store_fsync_fd(dirfd);
        }

        closedir(dir);
    }

    return removed;
}
