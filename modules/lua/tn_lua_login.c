
/*
 * Copyright (C) The Tern developers
 */


/*
 * The login phase: tn_mail_auth() (IMAP LOGIN/AUTHENTICATE, POP3
 * USER/PASS and AUTH, SMTP AUTH) calls tn_mail_login_hook before the
 * store lookup, with the name only.  The phase function gets
 * {protocol = "imap"|"pop3"|"smtp", name =, ip =, tls = true|false} and
 * returns:
 *
 *     a string              the name to check instead
 *     nil, or the name      unchanged
 *     false[, "message"]    refused: the login fails as with a wrong
 *                           password (counted, delayed); the message is
 *                           logged, never sent to the client
 *
 * Anything else, an error or a budget spent: the name given is checked
 * (the store still decides; a failing script cannot let anyone in that
 * the store would not).
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_lua.h>


typedef struct {
    tn_mail_session_t      *session;
    tn_lua_call_t          *call;
    tn_mail_login_done_pt   done;
    tn_str_t                name;
    u_char                  data[TN_STORE_ADDRESS_MAX];
} tn_lua_login_ctx_t;


static tn_int_t tn_lua_login_hook(tn_mail_session_t *s, tn_str_t *name,
    tn_mail_login_done_pt done);
static int tn_lua_login_args(lua_State *co, void *data);
static void tn_lua_login_done(tn_lua_call_t *call, tn_int_t rc, int nret);
static void tn_lua_login_cleanup(void *data);


void
tn_lua_login_init(void)
{
    if (tn_lua_phase_enabled(TN_LUA_PHASE_LOGIN)) {
        tn_mail_login_hook = tn_lua_login_hook;
    }
}


static tn_int_t
tn_lua_login_hook(tn_mail_session_t *s, tn_str_t *name,
    tn_mail_login_done_pt done)
{
    tn_connection_t     *c;
    tn_pool_cleanup_t   *cln;
    tn_lua_login_ctx_t  *ctx;

    c = s->connection;

    if (name->len > TN_STORE_ADDRESS_MAX) {
        return TN_DECLINED;
    }

    /* one per session, found again: a session has one login at a time */

    for (cln = c->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == tn_lua_login_cleanup) {
            break;
        }
    }

    if (cln == NULL) {
        cln = tn_pool_cleanup_add(c->pool, sizeof(tn_lua_login_ctx_t));
        if (cln == NULL) {
            return TN_ERROR;
        }

        tn_memzero(cln->data, sizeof(tn_lua_login_ctx_t));
        cln->handler = tn_lua_login_cleanup;
    }

    ctx = cln->data;

    if (ctx->call) {
        return TN_ERROR;
    }

    ctx->session = s;
    ctx->done = done;
    ctx->name.data = ctx->data;
    ctx->name.len = name->len;
    tn_memcpy(ctx->data, name->data, name->len);

    ctx->call = tn_lua_call_start(TN_LUA_PHASE_LOGIN, c->log,
                                  tn_lua_login_args, ctx,
                                  tn_lua_login_done);
    if (ctx->call == NULL) {
        return TN_ERROR;
    }

    return TN_AGAIN;
}


static int
tn_lua_login_args(lua_State *co, void *data)
{
    tn_lua_login_ctx_t  *ctx = data;

    static const char  *protocols[] = { "smtp", "pop3", "imap" };

    tn_mail_session_t  *s;

    s = ctx->session;

    lua_createtable(co, 0, 4);

    lua_pushstring(co, s->protocol <= TN_MAIL_IMAP_PROTOCOL
                       ? protocols[s->protocol] : "unknown");
    lua_setfield(co, -2, "protocol");

    lua_pushlstring(co, (char *) ctx->name.data, ctx->name.len);
    lua_setfield(co, -2, "name");

    lua_pushlstring(co, (char *) s->connection->addr_text.data,
                    s->connection->addr_text.len);
    lua_setfield(co, -2, "ip");

    lua_pushboolean(co, s->ssl);
    lua_setfield(co, -2, "tls");

    return 1;
}


static void
tn_lua_login_done(tn_lua_call_t *call, tn_int_t rc, int nret)
{
    tn_lua_login_ctx_t  *ctx = call->data;

    int                  first;
    size_t               len, n;
    tn_str_t             name;
    lua_State           *co;
    const char          *p;
    tn_mail_session_t   *s;
    u_char               buf[4 * TN_LUA_LOG_MAX], login[4 * 64];

    s = ctx->session;
    co = call->co;
    ctx->call = NULL;

    name = ctx->name;

    if (rc != TN_OK || nret == 0) {
        ctx->done(s, TN_OK, &name);
        return;
    }

    first = lua_gettop(co) - nret + 1;

    switch (lua_type(co, first)) {

    case LUA_TNIL:
        break;

    case LUA_TSTRING:
        p = lua_tolstring(co, first, &len);

        if (len == 0 || len > TN_STORE_ADDRESS_MAX
            || tn_strlen(p) != len)
        {
            tn_log_error(TN_LOG_ERR, s->connection->log, 0,
                         "lua: login phase returned an invalid name "
                         "(empty, too long or with a NUL): the name given "
                         "is used");
            break;
        }

        if (len != name.len || tn_memcmp(p, name.data, len) != 0) {
            n = tn_escape_log(login, (u_char *) p, tn_min(len, 64)) - login;
            tn_log_error(TN_LOG_INFO, s->connection->log, 0,
                         "lua: login name translated to \"%*s\"", n, login);
        }

        name.data = (u_char *) p;
        name.len = len;
        break;

    case LUA_TBOOLEAN:
        if (lua_toboolean(co, first)) {
            goto invalid;
        }

        n = 0;

        if (nret > 1 && lua_type(co, first + 1) == LUA_TSTRING) {
            p = lua_tolstring(co, first + 1, &len);
            n = tn_escape_log(buf, (u_char *) p,
                              tn_min(len, (size_t) TN_LUA_LOG_MAX))
                - buf;
        }

        len = tn_escape_log(login, name.data, tn_min(name.len, 64)) - login;

        tn_log_error(TN_LOG_INFO, s->connection->log, 0,
                     "lua: login of \"%*s\" refused: %*s", len, login,
                     n, buf);

        ctx->done(s, TN_DECLINED, &name);
        return;

    default:
        goto invalid;
    }

    ctx->done(s, TN_OK, &name);
    return;

invalid:

    tn_log_error(TN_LOG_ERR, s->connection->log, 0, "lua: login phase "
                 "returned a %s, not a name, nil or false: the name given "
                 "is used", lua_typename(co, lua_type(co, first)));

    ctx->done(s, TN_OK, &name);
}


static void
tn_lua_login_cleanup(void *data)
{
    tn_lua_login_ctx_t  *ctx = data;

    if (ctx->call) {
        tn_lua_call_cancel(ctx->call);
        ctx->call = NULL;
    }
}
