
/*
 * Copyright (C) The Tern developers
 */


/*
 * The login check shared by the mail protocols (tn_mail_auth() in
 * tn_mail.h).
 *
 * Failures are counted per client address in a per-worker table; the
 * reply to a failed login is held back auth_failure_delay, doubled for
 * every earlier failure of that address, at most 15 s (Dovecot's auth
 * penalty).  A good login clears the count.  Counts are forgotten after
 * an hour without failures.
 *
 * Failures are also counted per login name (lowercased, as the store
 * compares them), whether or not the account exists: after 100 in a row
 * (NIST SP 800-63B 5.2.2), with no more than 15 minutes between two, the
 * name is refused without a password check until 15 minutes have passed
 * since the last failure.  Then the count starts again: a lock that
 * expires, so that an attacker cannot shut a user out for good.  A login
 * found in the cache of good logins still passes (the attacker does not
 * know that password), so clients that logged in lately go on working.
 *
 * A client address with more than auth_block_after failures, the last
 * one less than auth_block_time ago, is blocked: its logins are answered
 * TN_BUSY at once, without a check and without counting (so the block
 * ends auth_block_time after the last real failure; the count itself is
 * kept, so the next failure blocks again).
 *
 * Good logins are cached for 60 s so that clients reconnecting often do
 * not cost a password hash each time.  The cache key is HMAC-SHA256 with
 * a per-worker random secret over the lowercased address, a NUL and the
 * password: the cache holds nothing the password could be recovered
 * from, two addresses never share an entry, and a changed password
 * misses.  A hit is not checked against the store again, so deleting a
 * user or changing a password takes effect on logins within 60 s at the
 * latest.
 *
 * The login phase (tn_mail_login_hook, set by the lua module) runs
 * after the address block and the length checks, before the cache and
 * the store: it gets the name only; the password waits in the state
 * (zeroed after the check, or when the session closes).  A refusal is
 * a failure like a wrong password; a script that fails leaves the name
 * as given.
 *
 * done() is always called from the event loop, never from inside
 * tn_mail_auth(), so that callers need not expect re-entry.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>


#define TN_MAIL_AUTH_DELAY_MAX       15000     /* ms */
#define TN_MAIL_AUTH_PENALTY_TTL     3600      /* s */
#define TN_MAIL_AUTH_PENALTY_MAX     10000     /* addresses, names */

#define TN_MAIL_AUTH_ACCOUNT_FAILURES  100     /* in a row, then locked */
#define TN_MAIL_AUTH_ACCOUNT_LOCK      900     /* s */

#define TN_MAIL_AUTH_CACHE_TTL       60        /* s */
#define TN_MAIL_AUTH_CACHE_MAX       10000     /* entries */

#define TN_MAIL_AUTH_KEY_LEN         SHA256_DIGEST_LENGTH


typedef struct {
    tn_uint_t                failures;
    time_t                   last;
} tn_mail_auth_penalty_t;


typedef struct {
    time_t                   expire;
    int64_t                  id;
    char                    *address;       /* into the same allocation */
    char                    *maildir;
} tn_mail_auth_cached_t;


/* per session, from c->pool; found again through its pool cleanup */
typedef struct {
    tn_mail_session_t       *session;
    tn_event_t               event;         /* the delay and the callback */
    tn_mail_auth_done_pt     done;
    tn_int_t                 rc;
    tn_uint_t                busy;
    /* kept while the login phase runs (tn_mail_login_hook), then zeroed */
    size_t                   passwd_len;
    u_char                   passwd[TN_STORE_PASSWORD_MAX];
} tn_mail_auth_state_t;


/* the thread-pool job */
typedef struct {
    tn_mail_task_ctx_t       base;
    tn_store_conf_t         *conf;
    tn_mail_auth_state_t    *state;
    size_t                   addr_len;
    size_t                   passwd_len;
    tn_int_t                 rc;
    tn_store_user_t          user;
    u_char                   key[TN_MAIL_AUTH_KEY_LEN];
    u_char                   addr[TN_STORE_ADDRESS_MAX + 1];
    u_char                   passwd[TN_STORE_PASSWORD_MAX];
} tn_mail_auth_task_t;


static tn_int_t tn_mail_auth_check(tn_mail_session_t *s,
    tn_mail_auth_state_t *st, tn_str_t *login, tn_str_t *passwd);
static void tn_mail_auth_login_done(tn_mail_session_t *s, tn_int_t rc,
    tn_str_t *name);
static tn_int_t tn_mail_auth_init_worker(tn_log_t *log);
static tn_int_t tn_mail_auth_post(tn_mail_session_t *s,
    tn_mail_auth_state_t *st, u_char *addr, size_t len, tn_str_t *passwd,
    u_char *key);
static tn_mail_auth_state_t *tn_mail_auth_get_state(tn_mail_session_t *s);
static void tn_mail_auth_cleanup(void *data);
static tn_int_t tn_mail_auth_key(u_char *addr, size_t len, tn_str_t *passwd,
    u_char *key);
static tn_int_t tn_mail_auth_cache_find(tn_mail_session_t *s, u_char *key);
static void tn_mail_auth_cache_add(u_char *key, tn_store_user_t *u);
static void tn_mail_auth_handler(void *data, tn_log_t *log);
static void tn_mail_auth_task_done(tn_mail_session_t *s,
    tn_thread_task_t *task);
static tn_int_t tn_mail_auth_set_user(tn_mail_session_t *s, int64_t id,
    const char *address, const char *maildir);
static void tn_mail_auth_fail(tn_mail_session_t *s,
    tn_mail_auth_state_t *st, u_char *login, size_t len);
static void tn_mail_auth_finish(tn_mail_auth_state_t *st, tn_int_t rc,
    tn_msec_t delay);
static void tn_mail_auth_event(tn_event_t *ev);
static void tn_mail_auth_penalty_clear(tn_mail_session_t *s);
static tn_msec_t tn_mail_auth_penalty_add(tn_mail_session_t *s);
static tn_mail_auth_penalty_t *tn_mail_auth_count(tn_hash_t *h, u_char *key,
    size_t len, time_t ttl, tn_log_t *log);
static tn_uint_t tn_mail_auth_blocked(tn_mail_session_t *s);
static tn_uint_t tn_mail_auth_account_locked(u_char *addr, size_t len);
static void tn_mail_auth_account_clear(u_char *addr, size_t len);
static void tn_mail_auth_expire(tn_hash_t *h, tn_uint_t penalty);


static tn_uint_t  tn_mail_auth_ready;
static u_char     tn_mail_auth_secret[32];
static tn_hash_t  tn_mail_auth_penalties;
static tn_hash_t  tn_mail_auth_cache;
static tn_hash_t  tn_mail_auth_accounts;

tn_mail_login_hook_pt  tn_mail_login_hook;


tn_int_t
tn_mail_auth(tn_mail_session_t *s, tn_str_t *login, tn_str_t *passwd,
    tn_mail_auth_done_pt done)
{
    tn_int_t               rc;
    tn_connection_t       *c;
    tn_mail_auth_state_t  *st;

    c = s->connection;
    rc = TN_ERROR;

    if (tn_mail_auth_init_worker(c->log) != TN_OK) {
        goto done;
    }

    st = tn_mail_auth_get_state(s);
    if (st == NULL || st->busy) {
        goto done;
    }

    st->done = done;

    if (tn_mail_auth_blocked(s)) {
        tn_log_error(TN_LOG_INFO, c->log, 0, "login refused without a "
                     "check: too many failed logins from this address");
        st->busy = 1;
        tn_mail_auth_finish(st, TN_BUSY, 0);
        rc = TN_OK;
        goto done;
    }

    if (login->len == 0 || login->len > TN_STORE_ADDRESS_MAX
        || passwd->len == 0 || passwd->len > TN_STORE_PASSWORD_MAX)
    {
        /* the store would refuse it: fail without hashing, same delay */
        st->busy = 1;
        tn_mail_auth_fail(s, st, login->data,
                          tn_min(login->len, TN_STORE_ADDRESS_MAX));
        rc = TN_OK;
        goto done;
    }

    if (tn_mail_login_hook) {

        /* the login phase sees the name only; the password waits here */

        tn_memcpy(st->passwd, passwd->data, passwd->len);
        st->passwd_len = passwd->len;

        if (tn_mail_login_hook(s, login, tn_mail_auth_login_done)
            == TN_AGAIN)
        {
            st->busy = 1;
            rc = TN_OK;
            goto done;
        }

        tn_explicit_memzero(st->passwd, st->passwd_len);
        st->passwd_len = 0;
    }

    rc = tn_mail_auth_check(s, st, login, passwd);

done:

    tn_explicit_memzero(passwd->data, passwd->len);

    return rc;
}


/* the login phase answered (a name that passed the checks above) */

static void
tn_mail_auth_login_done(tn_mail_session_t *s, tn_int_t rc, tn_str_t *name)
{
    tn_str_t               passwd;
    tn_mail_auth_state_t  *st;

    st = tn_mail_auth_get_state(s);
    if (st == NULL) {
        /* cannot happen: the state is found, not made, here */
        return;
    }

    passwd.data = st->passwd;
    passwd.len = st->passwd_len;

    if (rc == TN_DECLINED || name->len == 0
        || name->len > TN_STORE_ADDRESS_MAX)
    {
        /* refused: a failure like a wrong password, counted, delayed */
        tn_mail_auth_fail(s, st, name->data,
                          tn_min(name->len, TN_STORE_ADDRESS_MAX));

    } else if (tn_mail_auth_check(s, st, name, &passwd) != TN_OK) {
        st->busy = 1;
        tn_mail_auth_finish(st, TN_ERROR, 0);
    }

    tn_explicit_memzero(st->passwd, sizeof(st->passwd));
    st->passwd_len = 0;
}


/*
 * The cache, the lock of the name, then the store in the thread pool:
 * TN_OK when done will be called, TN_ERROR (st->busy cleared) when not.
 */

static tn_int_t
tn_mail_auth_check(tn_mail_session_t *s, tn_mail_auth_state_t *st,
    tn_str_t *login, tn_str_t *passwd)
{
    tn_int_t          rc;
    tn_connection_t  *c;
    u_char            addr[TN_STORE_ADDRESS_MAX + 1];
    u_char            key[TN_MAIL_AUTH_KEY_LEN];

    c = s->connection;
    rc = TN_ERROR;

    tn_strlow(addr, login->data, login->len);

    if (tn_mail_auth_key(addr, login->len, passwd, key) != TN_OK) {
        goto done;
    }

    st->busy = 1;

    if (tn_mail_auth_cache_find(s, key) == TN_OK) {
        tn_mail_auth_penalty_clear(s);
        tn_mail_auth_account_clear(addr, login->len);
        tn_mail_auth_finish(st, TN_OK, 0);
        rc = TN_OK;
        goto done;
    }

    if (tn_mail_auth_account_locked(addr, login->len)) {
        tn_log_error(TN_LOG_INFO, c->log, 0, "login refused without a "
                     "check: too many failed logins for this name");
        tn_mail_auth_fail(s, st, login->data, login->len);
        rc = TN_OK;
        goto done;
    }

    rc = tn_mail_auth_post(s, st, addr, login->len, passwd, key);

    if (rc != TN_OK) {
        st->busy = 0;
    }

done:

    tn_explicit_memzero(key, sizeof(key));

    return rc;
}


/* the password check goes to the thread pool: TN_OK or TN_ERROR */

static tn_int_t
tn_mail_auth_post(tn_mail_session_t *s, tn_mail_auth_state_t *st,
    u_char *addr, size_t len, tn_str_t *passwd, u_char *key)
{
    tn_thread_task_t     *task;
    tn_mail_auth_task_t  *t;

    task = tn_mail_task_alloc(s, sizeof(tn_mail_auth_task_t),
                              tn_mail_auth_handler, tn_mail_auth_task_done);
    if (task == NULL) {
        return TN_ERROR;
    }

    t = task->ctx;
    t->conf = tn_store_get_conf((tn_cycle_t *) tn_cycle);
    t->state = st;
    t->addr_len = len;
    t->passwd_len = passwd->len;
    tn_memcpy(t->addr, addr, len);
    tn_memcpy(t->passwd, passwd->data, passwd->len);
    tn_memcpy(t->key, key, TN_MAIL_AUTH_KEY_LEN);

    if (tn_mail_task_post(s, task) != TN_OK) {
        tn_explicit_memzero(t->passwd, sizeof(t->passwd));
        tn_explicit_memzero(t->key, sizeof(t->key));
        tn_mail_task_free(s, task);
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_int_t
tn_mail_auth_init_worker(tn_log_t *log)
{
    if (tn_mail_auth_ready) {
        return TN_OK;
    }

    /* called first in a worker, after fork(): each worker has its own */

    if (RAND_bytes(tn_mail_auth_secret, sizeof(tn_mail_auth_secret)) != 1) {
        tn_ssl_error(TN_LOG_CRIT, log, 0, "RAND_bytes() failed");
        return TN_ERROR;
    }

    if (tn_hash_init(&tn_mail_auth_penalties, 1024, log) != TN_OK) {
        return TN_ERROR;
    }

    if (tn_hash_init(&tn_mail_auth_cache, 1024, log) != TN_OK) {
        tn_hash_free(&tn_mail_auth_penalties);
        return TN_ERROR;
    }

    if (tn_hash_init(&tn_mail_auth_accounts, 1024, log) != TN_OK) {
        tn_hash_free(&tn_mail_auth_cache);
        tn_hash_free(&tn_mail_auth_penalties);
        return TN_ERROR;
    }

    tn_mail_auth_ready = 1;

    return TN_OK;
}


static tn_mail_auth_state_t *
tn_mail_auth_get_state(tn_mail_session_t *s)
{
    tn_connection_t       *c;
    tn_pool_cleanup_t     *cln;
    tn_mail_auth_state_t  *st;

    c = s->connection;

    for (cln = c->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == tn_mail_auth_cleanup) {
            return cln->data;
        }
    }

    cln = tn_pool_cleanup_add(c->pool, sizeof(tn_mail_auth_state_t));
    if (cln == NULL) {
        return NULL;
    }

    st = cln->data;
    tn_memzero(st, sizeof(tn_mail_auth_state_t));

    st->session = s;
    st->event.data = st;
    st->event.handler = tn_mail_auth_event;
    st->event.log = c->log;

    cln->handler = tn_mail_auth_cleanup;

    return st;
}


/* the session closes: nothing of ours may fire after that */

static void
tn_mail_auth_cleanup(void *data)
{
    tn_mail_auth_state_t  *st = data;

    tn_explicit_memzero(st->passwd, sizeof(st->passwd));

    if (st->event.timer_set) {
        tn_event_del_timer(&st->event);
    }

    if (st->event.posted) {
        tn_delete_posted_event(&st->event);
    }
}


static tn_int_t
tn_mail_auth_key(u_char *addr, size_t len, tn_str_t *passwd, u_char *key)
{
    u_char        zero;
    tn_int_t      rc;
    unsigned int  n;
    HMAC_CTX      ctx;

    zero = '\0';
    n = 0;

    HMAC_CTX_init(&ctx);

    rc = (HMAC_Init_ex(&ctx, tn_mail_auth_secret,
                       sizeof(tn_mail_auth_secret), EVP_sha256(), NULL)
          && HMAC_Update(&ctx, addr, len)
          && HMAC_Update(&ctx, &zero, 1)
          && HMAC_Update(&ctx, passwd->data, passwd->len)
          && HMAC_Final(&ctx, key, &n)
          && n == TN_MAIL_AUTH_KEY_LEN)
         ? TN_OK : TN_ERROR;

    HMAC_CTX_cleanup(&ctx);

    return rc;
}


static tn_int_t
tn_mail_auth_cache_find(tn_mail_session_t *s, u_char *key)
{
    tn_mail_auth_cached_t  *e;

    e = tn_hash_find(&tn_mail_auth_cache, key, TN_MAIL_AUTH_KEY_LEN);

    if (e == NULL) {
        return TN_DECLINED;
    }

    if (e->expire < tn_time()) {
        tn_hash_delete(&tn_mail_auth_cache, key, TN_MAIL_AUTH_KEY_LEN);
        tn_free(e);
        return TN_DECLINED;
    }

    return tn_mail_auth_set_user(s, e->id, e->address, e->maildir);
}


static void
tn_mail_auth_cache_add(u_char *key, tn_store_user_t *u)
{
    size_t                  alen, mlen;
    tn_mail_auth_cached_t  *e, *old;

    if (tn_hash_count(&tn_mail_auth_cache) >= TN_MAIL_AUTH_CACHE_MAX) {
        tn_mail_auth_expire(&tn_mail_auth_cache, 0);

        if (tn_hash_count(&tn_mail_auth_cache) >= TN_MAIL_AUTH_CACHE_MAX) {
            return;
        }
    }

    alen = tn_strlen(u->address) + 1;
    mlen = tn_strlen(u->maildir) + 1;

    e = tn_alloc(sizeof(tn_mail_auth_cached_t) + alen + mlen,
                 tn_cycle->log);
    if (e == NULL) {
        return;
    }

    e->expire = tn_time() + TN_MAIL_AUTH_CACHE_TTL;
    e->id = u->id;
    e->address = (char *) (e + 1);
    e->maildir = e->address + alen;
    tn_memcpy(e->address, u->address, alen);
    tn_memcpy(e->maildir, u->maildir, mlen);

    old = tn_hash_delete(&tn_mail_auth_cache, key, TN_MAIL_AUTH_KEY_LEN);
    if (old) {
        tn_free(old);
    }

    if (tn_hash_add(&tn_mail_auth_cache, key, TN_MAIL_AUTH_KEY_LEN, e)
        != TN_OK)
    {
        tn_free(e);
    }
}


/* a thread: the hash; the password is zeroed as soon as it is used */

static void
tn_mail_auth_handler(void *data, tn_log_t *log)
{
    tn_mail_auth_task_t  *t = data;

    t->rc = tn_store_auth(t->conf, t->addr, t->addr_len, t->passwd,
                          t->passwd_len, &t->user, log);

    tn_explicit_memzero(t->passwd, sizeof(t->passwd));
}


static void
tn_mail_auth_task_done(tn_mail_session_t *s, tn_thread_task_t *task)
{
    tn_int_t               rc;
    tn_mail_auth_task_t   *t;
    tn_mail_auth_state_t  *st;

    t = task->ctx;
    st = t->state;
    rc = t->rc;

    if (rc == TN_OK) {
        tn_mail_auth_cache_add(t->key, &t->user);

        if (tn_mail_auth_set_user(s, t->user.id, t->user.address,
                                  t->user.maildir)
            != TN_OK)
        {
            rc = TN_ERROR;
        }
    }

    if (rc == TN_DECLINED) {
        (void) tn_mail_auth_count(&tn_mail_auth_accounts, t->addr,
                                  t->addr_len, TN_MAIL_AUTH_ACCOUNT_LOCK,
                                  s->connection->log);
        tn_mail_auth_fail(s, st, t->addr, t->addr_len);

    } else {
        if (rc == TN_OK) {
            tn_mail_auth_penalty_clear(s);
            tn_mail_auth_account_clear(t->addr, t->addr_len);
        }

        tn_mail_auth_finish(st, rc, 0);
    }

    tn_explicit_memzero(t->key, sizeof(t->key));
    tn_mail_task_free(s, task);
}


static tn_int_t
tn_mail_auth_set_user(tn_mail_session_t *s, int64_t id, const char *address,
    const char *maildir)
{
    size_t            len;
    tn_connection_t  *c;

    c = s->connection;

    if (s->user == NULL) {
        s->user = tn_palloc(c->pool, sizeof(tn_store_user_t));
        if (s->user == NULL) {
            return TN_ERROR;
        }
    }

    s->user->id = id;
    tn_cpystrn((u_char *) s->user->address, (u_char *) address,
               sizeof(s->user->address));
    tn_cpystrn((u_char *) s->user->maildir, (u_char *) maildir,
               sizeof(s->user->maildir));

    len = tn_strlen(s->user->address);

    s->login.data = tn_pnalloc(c->pool, len);
    if (s->login.data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(s->login.data, s->user->address, len);
    s->login.len = len;

    return TN_OK;
}


static void
tn_mail_auth_fail(tn_mail_session_t *s, tn_mail_auth_state_t *st,
    u_char *login, size_t len)
{
    u_char           *p, buf[4 * 64 + 4];
    tn_msec_t         delay;
    tn_connection_t  *c;

    c = s->connection;

    /* the login name as sent, escaped and cut for the log */

    p = tn_escape_log(buf, login, tn_min(len, 64));
    if (len > 64) {
        p = tn_cpymem(p, "...", 3);
    }

    delay = tn_mail_auth_penalty_add(s);

    tn_log_error(TN_LOG_INFO, c->log, 0,
                 "login failed: user=\"%*s\", delay=%Mms",
                 (size_t) (p - buf), buf, delay);

    tn_mail_auth_finish(st, TN_DECLINED, delay);
}


/* calls done() from the loop: after delay ms, or in this iteration */

static void
tn_mail_auth_finish(tn_mail_auth_state_t *st, tn_int_t rc, tn_msec_t delay)
{
    st->rc = rc;

    if (delay) {
        tn_event_add_timer(&st->event, delay);
        return;
    }

    tn_post_event(&st->event, &tn_posted_events);
}


static void
tn_mail_auth_event(tn_event_t *ev)
{
    tn_mail_auth_state_t  *st = ev->data;

    ev->timedout = 0;
    st->busy = 0;

    st->done(st->session, st->rc);
}


static void
tn_mail_auth_penalty_clear(tn_mail_session_t *s)
{
    tn_str_t                *addr;
    tn_mail_auth_penalty_t  *pe;

    addr = &s->connection->addr_text;

    pe = tn_hash_delete(&tn_mail_auth_penalties, addr->data, addr->len);
    if (pe) {
        tn_free(pe);
    }
}


/* counts a failure; returns the delay before the reply */

static tn_msec_t
tn_mail_auth_penalty_add(tn_mail_session_t *s)
{
    tn_str_t                 *addr;
    tn_uint_t                 i;
    tn_msec_t                 delay;
    tn_mail_auth_penalty_t   *pe;
    tn_mail_core_srv_conf_t  *cscf;

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);
    addr = &s->connection->addr_text;

    pe = tn_mail_auth_count(&tn_mail_auth_penalties, addr->data, addr->len,
                            TN_MAIL_AUTH_PENALTY_TTL, s->connection->log);
    if (pe == NULL) {
        /* no memory: the base delay still applies */
        return cscf->auth_failure_delay;
    }

    delay = cscf->auth_failure_delay;

    for (i = 1; i < pe->failures && delay < TN_MAIL_AUTH_DELAY_MAX; i++) {
        delay *= 2;
    }

    return tn_min(delay, TN_MAIL_AUTH_DELAY_MAX);
}


/*
 * Counts one failure for key in a table of tn_mail_auth_penalty_t, the
 * count starting again when the last one is older than ttl seconds.
 * The entry, or NULL when there is no memory for it.
 */

static tn_mail_auth_penalty_t *
tn_mail_auth_count(tn_hash_t *h, u_char *key, size_t len, time_t ttl,
    tn_log_t *log)
{
    tn_mail_auth_penalty_t  *pe;

    pe = tn_hash_find(h, key, len);

    if (pe && pe->last + ttl < tn_time()) {
        pe->failures = 0;
    }

    if (pe == NULL) {
        if (tn_hash_count(h) >= TN_MAIL_AUTH_PENALTY_MAX) {
            tn_mail_auth_expire(h, 1);
        }

        pe = tn_alloc(sizeof(tn_mail_auth_penalty_t), log);

        if (pe && tn_hash_add(h, key, len, pe) != TN_OK) {
            tn_free(pe);
            pe = NULL;
        }

        if (pe == NULL) {
            return NULL;
        }

        pe->failures = 0;
    }

    pe->failures++;
    pe->last = tn_time();

    return pe;
}


static tn_uint_t
tn_mail_auth_blocked(tn_mail_session_t *s)
{
    tn_str_t                 *addr;
    tn_mail_auth_penalty_t   *pe;
    tn_mail_core_srv_conf_t  *cscf;

    cscf = tn_mail_get_module_srv_conf(s, tn_mail_core_module);

    if (cscf->auth_block_after == 0) {
        return 0;
    }

    addr = &s->connection->addr_text;

    pe = tn_hash_find(&tn_mail_auth_penalties, addr->data, addr->len);

    return pe != NULL
           && pe->failures >= cscf->auth_block_after
           && pe->last + cscf->auth_block_time > tn_time();
}


/* addr is lowercased */

static tn_uint_t
tn_mail_auth_account_locked(u_char *addr, size_t len)
{
    tn_mail_auth_penalty_t  *pe;

    pe = tn_hash_find(&tn_mail_auth_accounts, addr, len);

    return pe != NULL
           && pe->failures >= TN_MAIL_AUTH_ACCOUNT_FAILURES
           && pe->last + TN_MAIL_AUTH_ACCOUNT_LOCK >= tn_time();
}


static void
tn_mail_auth_account_clear(u_char *addr, size_t len)
{
    tn_mail_auth_penalty_t  *pe;

    pe = tn_hash_delete(&tn_mail_auth_accounts, addr, len);
    if (pe) {
        tn_free(pe);
    }
}


/*
 * A table is full: drops the entries that expired; if that frees less
 * than a tenth of it, drops a tenth more, whichever come first (an
 * attacker with many addresses can push others out, but never grow the
 * table).
 */

typedef struct {
    tn_uint_t     penalty;
    tn_uint_t     n;
    tn_uint_t     max;
    time_t        now;
    tn_str_t     *keys;
} tn_mail_auth_sweep_t;


static void
tn_mail_auth_sweep(u_char *key, size_t len, void *value, void *data)
{
    tn_mail_auth_sweep_t    *sw = data;
    tn_mail_auth_cached_t   *e;
    tn_mail_auth_penalty_t  *pe;

    if (sw->n == sw->max) {
        return;
    }

    if (sw->penalty) {
        pe = value;
        if (pe->last + TN_MAIL_AUTH_PENALTY_TTL >= sw->now
            && sw->now != 0)
        {
            return;
        }

    } else {
        e = value;
        if (e->expire >= sw->now && sw->now != 0) {
            return;
        }
    }

    sw->keys[sw->n].data = key;
    sw->keys[sw->n].len = len;
    sw->n++;
}


static void
tn_mail_auth_expire(tn_hash_t *h, tn_uint_t penalty)
{
    tn_uint_t              i, pass, max;
    tn_mail_auth_sweep_t   sw;

    max = penalty ? TN_MAIL_AUTH_PENALTY_MAX : TN_MAIL_AUTH_CACHE_MAX;

    sw.penalty = penalty;
    sw.keys = tn_alloc(tn_hash_count(h) * sizeof(tn_str_t) + 1,
                       h->log);
    if (sw.keys == NULL) {
        return;
    }

    for (pass = 0; pass < 2; pass++) {

        /* the second pass takes any entry, up to a tenth of the table */

        sw.now = pass ? 0 : tn_time();
        sw.n = 0;
        sw.max = pass ? tn_hash_count(h) / 10 + 1 : tn_hash_count(h);

        tn_hash_walk(h, tn_mail_auth_sweep, &sw);

        /* each key lives in its entry, which the delete frees */

        for (i = 0; i < sw.n; i++) {
            tn_free(tn_hash_delete(h, sw.keys[i].data, sw.keys[i].len));
        }

        if (tn_hash_count(h) < max - max / 10) {
            break;
        }
    }

    tn_free(sw.keys);
}
