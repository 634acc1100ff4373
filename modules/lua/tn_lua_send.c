
/*
 * Copyright (C) The Tern developers
 */


/*
 * tern.send_message{ from =, to =, subject =, body = }: a new text
 * message into the normal pipeline.  The header is built here from
 * checked values (addresses without blanks, controls or brackets; the
 * subject through tn_lua_mime_encode_header(): CR, LF, NUL refused,
 * 8-bit as RFC 2047); a pool thread looks the recipients up, writes the
 * spool file and delivers it with tn_store_deliver(): local recipients
 * into their Maildirs, the others into the outbound queue, both durable
 * before it returns.  The script waits (a yield) and gets true, or nil
 * and an error.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_store.h>
#include <tn_store_queue.h>
#include <tn_lua.h>
#include <tn_lua_mime.h>


#define TN_LUA_SEND_RCPTS_MAX  100
#define TN_LUA_SEND_BODY_MAX   (1024 * 1024)


typedef struct {
    tn_lua_call_t          *call;       /* first: NULL when the call is
                                           gone (tn_lua_call_release) */
    tn_store_conf_t        *conf;
    u_char                 *text;       /* malloc() */
    size_t                  len;
    tn_uint_t               nrcpts;
    char                    from[TN_STORE_ADDR_MAX];
    char                    rcpts[TN_LUA_SEND_RCPTS_MAX][TN_STORE_ADDR_MAX];
    const char             *failed;     /* static text, or NULL */
    tn_uint_t               nlocal;
    tn_uint_t               nremote;
} tn_lua_send_task_t;


static tn_int_t tn_lua_send_address(lua_State *L, int idx, char *dst);
static tn_int_t tn_lua_send_text(tn_lua_send_task_t *t, tn_str_t *subject,
    tn_str_t *body, const char **err);
static void tn_lua_send_thread(void *data, tn_log_t *log);
static void tn_lua_send_done(tn_event_t *ev);
static void tn_lua_send_free(tn_thread_task_t *task);


int
tn_lua_send_message(lua_State *L)
{
    size_t                n;
    tn_str_t              subject, body;
    tn_uint_t             i;
    const char           *err;
    tn_lua_call_t        *call;
    tn_store_conf_t      *conf;
    tn_thread_task_t     *task;
    tn_lua_send_task_t   *t;

    luaL_checktype(L, 1, LUA_TTABLE);
    call = tn_lua_api_call(L, "tern.send_message");

    conf = tn_store_get_conf(tn_lua_vm->cycle);
    if (conf == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "no store is configured");
        return 2;
    }

    lua_settop(L, 1);
    lua_getfield(L, 1, "from");         /* 2 */
    lua_getfield(L, 1, "to");           /* 3 */
    lua_getfield(L, 1, "subject");      /* 4 */
    lua_getfield(L, 1, "body");         /* 5 */

    subject.data = (u_char *) luaL_optlstring(L, 4, "", &subject.len);
    body.data = (u_char *) luaL_checklstring(L, 5, &body.len);

    if (body.len > TN_LUA_SEND_BODY_MAX) {
        return luaL_argerror(L, 1, "body larger than 1 MB");
    }

    /* malloc(): the task outlives the call when the call is dropped */

    task = tn_thread_task_alloc(sizeof(tn_lua_send_task_t),
                                tn_lua_vm->cycle->log);
    if (task == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "not enough memory");
        return 2;
    }

    t = task->ctx;
    t->conf = conf;

    if (tn_lua_send_address(L, 2, t->from) != TN_OK) {
        tn_thread_task_free(task);
        return luaL_argerror(L, 1, "from: an address local@domain");
    }

    if (lua_type(L, 3) == LUA_TSTRING) {
        if (tn_lua_send_address(L, 3, t->rcpts[0]) != TN_OK) {
            tn_thread_task_free(task);
            return luaL_argerror(L, 1, "to: an address local@domain");
        }

        t->nrcpts = 1;

    } else if (lua_type(L, 3) == LUA_TTABLE) {
        n = lua_objlen(L, 3);

        if (n == 0 || n > TN_LUA_SEND_RCPTS_MAX) {
            tn_thread_task_free(task);
            return luaL_argerror(L, 1, "to: 1 to 100 addresses");
        }

        for (i = 0; i < n; i++) {
            lua_rawgeti(L, 3, (int) i + 1);

            if (tn_lua_send_address(L, -1, t->rcpts[i]) != TN_OK) {
                tn_thread_task_free(task);
                return luaL_argerror(L, 1, "to: addresses local@domain");
            }

            lua_pop(L, 1);
        }

        t->nrcpts = n;

    } else {
        tn_thread_task_free(task);
        return luaL_argerror(L, 1, "to: an address or a list of them");
    }

    err = NULL;

    if (tn_lua_send_text(t, &subject, &body, &err) != TN_OK) {
        tn_lua_send_free(task);

        if (err) {
            return luaL_argerror(L, 1, err);
        }

        lua_pushnil(L);
        lua_pushliteral(L, "not enough memory");
        return 2;
    }

    t->call = call;

    task->handler = tn_lua_send_thread;
    task->event.handler = tn_lua_send_done;
    task->event.data = task;

    if (tn_thread_task_post(task) != TN_OK) {
        tn_lua_send_free(task);
        lua_pushnil(L);
        lua_pushliteral(L, "the thread pool is busy");
        return 2;
    }

    call->task = task;
    call->waiting = 1;

    return lua_yield(L, 0);
}


/*
 * An address as plain local@domain: printable ASCII or UTF-8, no blank,
 * control, "<>()[],;:\"\\", one "@", both sides present; copied with its
 * NUL into dst (TN_STORE_ADDR_MAX)
 */

static tn_int_t
tn_lua_send_address(lua_State *L, int idx, char *dst)
{
    u_char       c;
    size_t       len, i;
    tn_uint_t    at;
    const char  *p;

    if (lua_type(L, idx) != LUA_TSTRING) {
        return TN_ERROR;
    }

    p = lua_tolstring(L, idx, &len);

    if (len < 3 || len > TN_STORE_ADDRESS_MAX) {
        return TN_ERROR;
    }

    at = 0;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c <= 0x20 || c == 0x7f || tn_strchr("<>()[],;:\"\\", c)) {
            return TN_ERROR;
        }

        if (c == '@') {
            if (at || i == 0 || i == len - 1) {
                return TN_ERROR;
            }

            at = 1;
        }
    }

    if (!at) {
        return TN_ERROR;
    }

    tn_memcpy(dst, p, len);
    dst[len] = '\0';

    return TN_OK;
}


/* the message: the header from checked values, the body as text */

static tn_int_t
tn_lua_send_text(tn_lua_send_task_t *t, tn_str_t *subject, tn_str_t *body,
    const char **err)
{
    u_char      *p, *dom;
    size_t       len;
    tn_int_t     rc;
    tn_str_t     name, field, text;
    tn_uint_t    i;
    tn_pool_t   *pool;
    const char  *cte;

    static tn_uint_t  serial;

    pool = tn_create_pool(4096, tn_lua_vm->cycle->log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    tn_str_set(&name, "Subject");

    rc = tn_lua_mime_encode_header(pool, &name, subject, &field, err);
    if (rc != TN_OK) {
        goto done;
    }

    rc = tn_lua_mime_text(pool, body, &text, &cte);
    if (rc != TN_OK) {
        goto done;
    }

    len = sizeof("Date: Fri, 27 Nov 2026 15:04:05 +0000\n") - 1
          + sizeof("From: \n") + TN_STORE_ADDR_MAX
          + sizeof("To: \n") + t->nrcpts * (TN_STORE_ADDR_MAX + 3)
          + field.len
          + sizeof("Message-ID: <.@>\n") + 3 * TN_INT_T_LEN
          + TN_STORE_ADDR_MAX
          + sizeof("MIME-Version: 1.0\n"
                   "Content-Type: text/plain; charset=utf-8\n"
                   "Content-Transfer-Encoding: quoted-printable\n\n")
          + text.len + 1;

    t->text = tn_alloc(len, tn_lua_vm->cycle->log);
    if (t->text == NULL) {
        rc = TN_ERROR;
        goto done;
    }

    dom = (u_char *) strchr(t->from, '@') + 1;

    p = tn_cpymem(t->text, "Date: ", 6);
    p = tn_rfc5322_time(p, tn_time());
    p = tn_sprintf(p, "\nFrom: %s\nTo: ", t->from);

    for (i = 0; i < t->nrcpts; i++) {
        p = tn_sprintf(p, "%s%s", i ? ",\n " : "", t->rcpts[i]);
    }

    *p++ = '\n';
    p = tn_cpymem(p, field.data, field.len);
    p = tn_sprintf(p, "Message-ID: <%T.%i.%ui@%s>\n"
                   "MIME-Version: 1.0\n"
                   "Content-Type: text/plain; charset=utf-8\n"
                   "Content-Transfer-Encoding: %s\n\n",
                   tn_time(), (tn_int_t) getpid(), ++serial, dom, cte);
    p = tn_cpymem(p, text.data, text.len);

    if (text.len && p[-1] != '\n') {
        *p++ = '\n';
    }

    t->len = p - t->text;
    rc = TN_OK;

done:

    tn_destroy_pool(pool);

    return rc;
}


/* a pool thread: the recipients, the spool file, the delivery */

static void
tn_lua_send_thread(void *data, tn_log_t *log)
{
    tn_lua_send_task_t  *t = data;

    off_t                 lines;
    size_t                i;
    tn_fd_t               fd;
    tn_int_t              rc;
    uint32_t              uids[TN_LUA_SEND_RCPTS_MAX];
    tn_store_user_t      *users;
    tn_store_delivery_t   d, *dp;
    tn_store_queue_env_t  env;
    tn_store_queue_rcpt_t *remote;

    users = tn_alloc(t->nrcpts * sizeof(tn_store_user_t), log);
    remote = tn_calloc(t->nrcpts * sizeof(tn_store_queue_rcpt_t), log);

    if (users == NULL || remote == NULL) {
        t->failed = "not enough memory";
        goto done;
    }

    for (i = 0; i < t->nrcpts; i++) {
        rc = tn_store_user_lookup(t->conf, (u_char *) t->rcpts[i],
                                  strlen(t->rcpts[i]), &users[t->nlocal],
                                  log);
        switch (rc) {

        case TN_OK:
            t->nlocal++;
            break;

        case TN_DONE:
            (void) tn_cpystrn((u_char *) remote[t->nremote].address,
                              (u_char *) t->rcpts[i], TN_STORE_ADDR_MAX);
            t->nremote++;
            break;

        case TN_DECLINED:
            t->failed = "unknown local recipient";
            goto done;

        default:
            t->failed = "store failure";
            goto done;
        }
    }

    tn_memzero(&d, sizeof(tn_store_delivery_t));

    fd = tn_store_spool_create(t->conf, d.spool_path, log);
    if (fd == TN_INVALID_FILE) {
        t->failed = "spool file not created";
        goto done;
    }

    if (tn_write_fd(fd, t->text, t->len) != (ssize_t) t->len) {
        close(fd);
        (void) unlink(d.spool_path);
        t->failed = "spool file not written";
        goto done;
    }

    close(fd);

    for (lines = 0, i = 0; i < t->len; i++) {
        lines += (t->text[i] == '\n');
    }

    d.size = t->len;
    d.vsize = t->len + lines;
    d.internaldate = time(NULL);
    d.nrcpts = t->nlocal;
    d.rcpts = users;
    d.uids = uids;

    if (t->nremote) {
        tn_memzero(&env, sizeof(tn_store_queue_env_t));
        (void) tn_cpystrn((u_char *) env.sender, (u_char *) t->from,
                          TN_STORE_ADDR_MAX);
        env.nrcpts = t->nremote;
        env.rcpts = remote;
        d.queue = &env;
    }

    dp = &d;

    /* one message: its own group commit; the spool file always goes */
    tn_store_deliver(t->conf, &dp, 1, log);

    if (d.rc != TN_OK) {
        t->failed = d.err == ENOSPC ? "insufficient system storage"
                                    : "delivery failed";
    }

done:

    if (users) {
        tn_free(users);
    }

    if (remote) {
        tn_free(remote);
    }
}


static void
tn_lua_send_done(tn_event_t *ev)
{
    tn_thread_task_t  *task = ev->data;

    int                  n;
    tn_lua_call_t       *call;
    tn_lua_send_task_t  *t;

    t = task->ctx;
    call = t->call;

    if (call == NULL) {
        tn_lua_send_free(task);
        return;
    }

    call->task = NULL;

    if (t->failed) {
        tn_log_error(TN_LOG_ERR, call->log, 0,
                     "lua: tern.send_message from <%s> failed: %s",
                     t->from, t->failed);
        lua_pushnil(call->co);
        lua_pushstring(call->co, t->failed);
        n = 2;

    } else {
        tn_log_error(TN_LOG_INFO, call->log, 0,
                     "lua: tern.send_message from <%s> to %ui local and "
                     "%ui remote recipients", t->from, t->nlocal,
                     t->nremote);
        lua_pushboolean(call->co, 1);
        n = 1;
    }

    tn_lua_send_free(task);
    tn_lua_call_wakeup(call, n);
}


static void
tn_lua_send_free(tn_thread_task_t *task)
{
    tn_lua_send_task_t  *t = task->ctx;

    if (t->text) {
        tn_free(t->text);
    }

    tn_thread_task_free(task);
}
