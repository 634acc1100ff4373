
/*
 * Copyright (C) The Tern developers
 */


/*
 * The mime phase: a message check (tn_mail_check.h) whose end() reads
 * the spool file and builds the MIME tree in a pool thread (nothing of
 * the message's size is read or parsed on the event loop), then calls
 * the script with the message; the changes the script made become the
 * message's edits (msg->edits), applied at delivery.  A script that
 * fails or is stopped changes nothing: the message is delivered as it
 * came, and the error is logged with the traceback.
 *
 * Parts are userdata boxes {ctx, serial, part}: a box kept by a script
 * after its call (in a global) is refused once the call is over, since
 * its serial is no longer live.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_smtp.h>
#include <tn_mail_check.h>
#include <tn_lua.h>
#include <tn_lua_mime.h>


#define TN_LUA_MIME_PART  "tern.mime.part"

/* what a change may add beyond smtp_max_message_size */
#define TN_LUA_MIME_GROW  (64 * 1024)


typedef struct tn_lua_mime_ctx_s  tn_lua_mime_ctx_t;

struct tn_lua_mime_ctx_s {
    tn_mail_msg_t          *msg;
    tn_thread_task_t       *task;
    tn_lua_call_t          *call;
    tn_pool_t              *pool;       /* the tree's, from the thread */
    u_char                 *text;       /* malloc() */
    tn_lua_mime_tree_t     *tree;
    off_t                   max_size;
    tn_uint_t               serial;
    tn_lua_mime_ctx_t      *next;       /* the live list */
};


typedef struct {
    tn_lua_mime_ctx_t      *owner;      /* NULL: the message is gone */
    char                    path[PATH_MAX];
    off_t                   offset;
    off_t                   max_size;
    u_char                 *text;
    size_t                  len;
    tn_pool_t              *pool;
    tn_lua_mime_tree_t     *tree;
    tn_err_t                err;
    const char             *failed;
} tn_lua_mime_task_t;


typedef struct {
    tn_lua_mime_ctx_t      *ctx;
    tn_uint_t               serial;
    tn_lua_mime_part_t     *part;
} tn_lua_mime_box_t;


static tn_int_t tn_lua_mime_end(tn_mail_msg_t *msg);
static void tn_lua_mime_cleanup(tn_mail_msg_t *msg);
static void tn_lua_mime_read(void *data, tn_log_t *log);
static void tn_lua_mime_read_done(tn_event_t *ev);
static void tn_lua_mime_task_free(tn_lua_mime_task_t *t);
static int tn_lua_mime_args(lua_State *co, void *data);
static void tn_lua_mime_done(tn_lua_call_t *call, tn_int_t rc, int nret);
static tn_int_t tn_lua_mime_apply(tn_lua_mime_ctx_t *ctx);
static tn_int_t tn_lua_mime_resign(tn_lua_mime_ctx_t *ctx, off_t size);
static void tn_lua_mime_release(tn_lua_mime_ctx_t *ctx);
static void tn_lua_mime_push_part(lua_State *L, tn_lua_mime_ctx_t *ctx,
    tn_lua_mime_part_t *part);
static tn_lua_mime_box_t *tn_lua_mime_check_part(lua_State *L, int n);
static int tn_lua_mime_error(lua_State *L, tn_int_t rc, const char *err);


static tn_mail_check_t  tn_lua_mime_check = {
    "lua mime",
    NULL,                                  /* mail */
    NULL,                                  /* header */
    NULL,                                  /* header_end */
    NULL,                                  /* body */
    tn_lua_mime_end,
    tn_lua_mime_cleanup,
    0
};


static tn_lua_mime_ctx_t  *tn_lua_mime_live;
static tn_uint_t           tn_lua_mime_serial;


/* from init_module: the check is there when a mime script is configured */

tn_int_t
tn_lua_mime_register(tn_cycle_t *cycle, tn_lua_main_conf_t *lmcf)
{
    if (lmcf == NULL || lmcf->scripts[TN_LUA_PHASE_MIME].file.data == NULL) {
        tn_mail_check_unregister(&tn_lua_mime_check);
        return TN_OK;
    }

    if (tn_mail_check_register(&tn_lua_mime_check) != TN_OK) {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "too many message checks for \"lua_script mime\"");
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_int_t
tn_lua_mime_end(tn_mail_msg_t *msg)
{
    tn_thread_task_t         *task;
    tn_lua_mime_ctx_t        *ctx;
    tn_lua_mime_task_t       *t;
    tn_mail_smtp_srv_conf_t  *sscf;

    if (!tn_lua_phase_enabled(TN_LUA_PHASE_MIME)
        || msg->spool_path == NULL || msg->session == NULL)
    {
        return TN_OK;
    }

    ctx = tn_pcalloc(msg->pool, sizeof(tn_lua_mime_ctx_t));
    if (ctx == NULL) {
        return TN_ERROR;
    }

    sscf = tn_mail_get_module_srv_conf(msg->session, tn_mail_smtp_module);

    ctx->msg = msg;
    ctx->max_size = sscf->max_message_size ? sscf->max_message_size
                                           : 64 * 1024 * 1024;

    task = tn_thread_task_alloc(sizeof(tn_lua_mime_task_t), msg->log);
    if (task == NULL) {
        return TN_ERROR;
    }

    t = task->ctx;
    t->owner = ctx;
    t->offset = msg->text_offset;
    /* our Received and what a check may add: the text itself is bounded */
    t->max_size = ctx->max_size + TN_LUA_MIME_GROW;
    (void) tn_cpystrn((u_char *) t->path, (u_char *) msg->spool_path,
                      sizeof(t->path));

    task->handler = tn_lua_mime_read;
    task->event.handler = tn_lua_mime_read_done;
    task->event.data = task;

    if (tn_thread_task_post(task) != TN_OK) {
        tn_thread_task_free(task);
        tn_log_error(TN_LOG_ERR, msg->log, 0,
                     "lua: mime phase skipped for message %V: the thread "
                     "pool is busy", &msg->id);
        return TN_OK;
    }

    ctx->task = task;
    tn_mail_msg_ctx(msg, tn_lua_mime_check) = ctx;

    return TN_AGAIN;
}


/* a pool thread: the text after our Received, and its tree */

static void
tn_lua_mime_read(void *data, tn_log_t *log)
{
    tn_lua_mime_task_t  *t = data;

    off_t            pos;
    ssize_t          n;
    tn_fd_t          fd;
    struct stat      st;

    fd = open(t->path, O_RDONLY|O_CLOEXEC|O_NOFOLLOW);
    if (fd == -1) {
        t->err = tn_errno;
        t->failed = "open()";
        return;
    }

    if (fstat(fd, &st) == -1) {
        t->err = tn_errno;
        t->failed = "fstat()";
        goto done;
    }

    if (st.st_size < t->offset || st.st_size - t->offset > t->max_size) {
        t->failed = "the size of";
        goto done;
    }

    t->len = st.st_size - t->offset;
    t->text = tn_alloc(t->len + 1, log);
    if (t->text == NULL) {
        t->failed = "memory for";
        goto done;
    }

    for (pos = 0; pos < (off_t) t->len; pos += n) {
        n = pread(fd, t->text + pos, t->len - pos, t->offset + pos);

        if (n == -1 && tn_errno == TN_EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            t->err = n ? tn_errno : 0;
            t->failed = "pread()";
            goto done;
        }
    }

    t->pool = tn_create_pool(16384, log);
    if (t->pool == NULL) {
        t->failed = "memory for";
        goto done;
    }

    t->tree = tn_lua_mime_parse(t->pool, t->text, t->len);
    if (t->tree == NULL) {
        t->failed = "parsing";
    }

done:

    close(fd);
}


static void
tn_lua_mime_read_done(tn_event_t *ev)
{
    tn_thread_task_t    *task = ev->data;

    tn_mail_msg_t       *msg;
    tn_lua_mime_ctx_t   *ctx;
    tn_lua_mime_task_t  *t;

    t = task->ctx;
    ctx = t->owner;

    if (ctx == NULL) {
        tn_lua_mime_task_free(t);
        tn_thread_task_free(task);
        return;
    }

    ctx->task = NULL;
    msg = ctx->msg;

    if (t->failed) {
        tn_log_error(TN_LOG_ERR, msg->log, t->err,
                     "lua: mime phase skipped for message %V: %s \"%s\" "
                     "failed", &msg->id, t->failed, t->path);
        tn_lua_mime_task_free(t);
        tn_thread_task_free(task);
        tn_mail_check_done(msg);
        return;
    }

    ctx->pool = t->pool;
    ctx->pool->log = msg->log;
    ctx->text = t->text;
    ctx->tree = t->tree;
    tn_thread_task_free(task);

    ctx->serial = ++tn_lua_mime_serial;
    ctx->next = tn_lua_mime_live;
    tn_lua_mime_live = ctx;

    ctx->call = tn_lua_call_start(TN_LUA_PHASE_MIME, msg->log,
                                  tn_lua_mime_args, ctx, tn_lua_mime_done);
    if (ctx->call == NULL) {
        tn_lua_mime_release(ctx);
        tn_mail_check_done(msg);
    }
}


static void
tn_lua_mime_task_free(tn_lua_mime_task_t *t)
{
    if (t->pool) {
        tn_destroy_pool(t->pool);
    }

    if (t->text) {
        tn_free(t->text);
    }
}


static void
tn_lua_mime_cleanup(tn_mail_msg_t *msg)
{
    tn_lua_mime_ctx_t  *ctx;

    ctx = tn_mail_msg_ctx(msg, tn_lua_mime_check);

    if (ctx == NULL) {
        return;
    }

    tn_mail_msg_ctx(msg, tn_lua_mime_check) = NULL;

    if (ctx->task) {
        ((tn_lua_mime_task_t *) ctx->task->ctx)->owner = NULL;
        ctx->task = NULL;
    }

    if (ctx->call) {
        tn_lua_call_cancel(ctx->call);
        ctx->call = NULL;
    }

    tn_lua_mime_release(ctx);
}


static void
tn_lua_mime_release(tn_lua_mime_ctx_t *ctx)
{
    tn_lua_mime_ctx_t  **pp;

    for (pp = &tn_lua_mime_live; *pp; pp = &(*pp)->next) {
        if (*pp == ctx) {
            *pp = ctx->next;
            break;
        }
    }

    ctx->serial = 0;

    if (ctx->pool) {
        tn_destroy_pool(ctx->pool);
        ctx->pool = NULL;
        ctx->tree = NULL;
    }

    if (ctx->text) {
        tn_free(ctx->text);
        ctx->text = NULL;
    }
}


/*
 * msg = { id, from, helo, ip, outgoing, tls, user, rcpts, size, root,
 * parts = function }
 */

static int tn_lua_mime_msg_parts(lua_State *L);

static int
tn_lua_mime_args(lua_State *co, void *data)
{
    tn_lua_mime_ctx_t  *ctx = data;

    tn_str_t       *rcpts;
    tn_uint_t       i, n;
    tn_mail_msg_t  *msg;

    msg = ctx->msg;

    lua_createtable(co, 0, 11);

    lua_pushlstring(co, (char *) msg->id.data, msg->id.len);
    lua_setfield(co, -2, "id");
    lua_pushlstring(co, (char *) msg->from.data, msg->from.len);
    lua_setfield(co, -2, "from");
    lua_pushlstring(co, (char *) msg->helo.data, msg->helo.len);
    lua_setfield(co, -2, "helo");
    lua_pushlstring(co, (char *) msg->addr_text.data, msg->addr_text.len);
    lua_setfield(co, -2, "ip");
    lua_pushboolean(co, msg->outgoing);
    lua_setfield(co, -2, "outgoing");
    lua_pushboolean(co, msg->tls != 0);
    lua_setfield(co, -2, "tls");

    if (msg->login.len) {
        lua_pushlstring(co, (char *) msg->login.data, msg->login.len);
        lua_setfield(co, -2, "user");
    }

    rcpts = msg->rcpts ? msg->rcpts->elts : NULL;
    n = msg->rcpts ? msg->rcpts->nelts : 0;

    lua_createtable(co, (int) n, 0);

    for (i = 0; i < n; i++) {
        lua_pushlstring(co, (char *) rcpts[i].data, rcpts[i].len);
        lua_rawseti(co, -2, (int) i + 1);
    }

    lua_setfield(co, -2, "rcpts");
    lua_pushnumber(co, (lua_Number) ctx->tree->len);
    lua_setfield(co, -2, "size");
    tn_lua_mime_push_part(co, ctx, ctx->tree->root);
    lua_setfield(co, -2, "root");
    lua_pushcfunction(co, tn_lua_mime_msg_parts);
    lua_setfield(co, -2, "parts");

    return 1;
}


static void
tn_lua_mime_done(tn_lua_call_t *call, tn_int_t rc, int nret)
{
    tn_lua_mime_ctx_t  *ctx = call->data;

    tn_mail_msg_t  *msg;

    msg = ctx->msg;
    ctx->call = NULL;

    if (rc == TN_OK && ctx->tree->changed) {
        rc = tn_lua_mime_apply(ctx);

        if (rc == TN_ERROR) {
            tn_log_error(TN_LOG_ERR, msg->log, 0,
                         "lua: the mime phase's changes of message %V are "
                         "not applied", &msg->id);
        }
    }

    tn_lua_mime_release(ctx);

    if (rc != TN_AGAIN) {
        /* else the dkim module signs again and ends this check */
        tn_mail_check_done(msg);
    }
}


/* the tree's edits, copied into the message's pool */

static tn_int_t
tn_lua_mime_apply(tn_lua_mime_ctx_t *ctx)
{
    off_t                size;
    tn_int_t             rc;
    size_t               total;
    u_char              *p;
    tn_str_t            *f;
    tn_uint_t            i, k;
    tn_array_t          *edits;
    tn_mail_msg_t       *msg;
    tn_lua_mime_edit_t  *e;
    tn_mail_msg_edit_t  *me;

    msg = ctx->msg;

    edits = tn_lua_mime_edits(ctx->tree);
    if (edits == NULL) {
        return TN_ERROR;
    }

    e = edits->elts;
    size = ctx->tree->len;
    total = 0;

    for (i = 0; i < edits->nelts; i++) {
        size += (off_t) e[i].size - e[i].len;
        total += e[i].size;
    }

    /* room for renames and notes on a message at the limit already */

    if (size > tn_max(ctx->max_size, (off_t) ctx->tree->len)
               + TN_LUA_MIME_GROW)
    {
        tn_log_error(TN_LOG_ERR, msg->log, 0,
                     "lua: the mime phase made message %V larger than "
                     "smtp_max_message_size (%O bytes)", &msg->id, size);
        return TN_ERROR;
    }

    msg->edits = tn_array_create(msg->pool, edits->nelts + 1,
                                 sizeof(tn_mail_msg_edit_t));
    p = tn_pnalloc(msg->pool, total + 1);

    if (msg->edits == NULL || p == NULL) {
        msg->edits = NULL;
        return TN_ERROR;
    }

    for (i = 0; i < edits->nelts; i++) {
        me = tn_array_push(msg->edits);
        me->offset = e[i].offset;
        me->len = e[i].len;
        me->lines = e[i].lines;
        me->size = e[i].size;
        me->data_lines = e[i].data_lines;
        me->data = p;
        if (e[i].size) {
            p = tn_cpymem(p, e[i].data, e[i].size);
        }
    }

    tn_log_error(TN_LOG_INFO, msg->log, 0,
                 "lua: message %V changed by the mime phase (%ui edits, "
                 "%O bytes)", &msg->id, edits->nelts, size);

    /*
     * A DKIM signature made while the text streamed in does not cover
     * the changed text: the dkim module signs the changed text again;
     * when it cannot, the signatures go (never one that fails).
     */

    if (msg->outgoing && edits->nelts) {
        if (tn_mail_msg_resign) {
            rc = tn_lua_mime_resign(ctx, size);
            if (rc != TN_ERROR) {
                return rc;
            }
        }

        f = msg->add_fields->elts;

        for (i = 0, k = 0; i < msg->add_fields->nelts; i++) {
            if (f[i].len > 15
                && tn_strncasecmp(f[i].data, (u_char *) "DKIM-Signature:", 15)
                   == 0)
            {
                tn_log_error(TN_LOG_WARN, msg->log, 0,
                             "lua: message %V changed by the mime "
                             "phase: its DKIM signature is dropped",
                             &msg->id);
                continue;
            }

            f[k++] = f[i];
        }

        msg->add_fields->nelts = k;
    }

    return TN_OK;
}


/* the changed text, in the message's pool, for tn_mail_msg_resign */

static tn_int_t
tn_lua_mime_resign(tn_lua_mime_ctx_t *ctx, off_t size)
{
    off_t                pos;
    u_char              *text, *p;
    tn_uint_t            i;
    tn_mail_msg_t       *msg;
    tn_mail_msg_edit_t  *e;

    msg = ctx->msg;

    text = tn_pnalloc(msg->pool, size + 1);
    if (text == NULL) {
        return TN_ERROR;
    }

    p = text;
    pos = 0;
    e = msg->edits->elts;

    for (i = 0; i < msg->edits->nelts; i++) {
        p = tn_cpymem(p, ctx->text + pos, e[i].offset - pos);
        if (e[i].size) {
            p = tn_cpymem(p, e[i].data, e[i].size);
        }
        pos = e[i].offset + e[i].len;
    }

    p = tn_cpymem(p, ctx->text + pos, ctx->tree->len - pos);

    return tn_mail_msg_resign(msg, text, p - text);
}


/* the parts */

static void
tn_lua_mime_push_part(lua_State *L, tn_lua_mime_ctx_t *ctx,
    tn_lua_mime_part_t *part);

static int tn_lua_part_children(lua_State *L);
static int tn_lua_part_parent(lua_State *L);
static int tn_lua_part_header(lua_State *L);
static int tn_lua_part_set_header(lua_State *L);
static int tn_lua_part_remove_header(lua_State *L);
static int tn_lua_part_content_type(lua_State *L);
static int tn_lua_part_set_content_type(lua_State *L);
static int tn_lua_part_filename(lua_State *L);
static int tn_lua_part_set_filename(lua_State *L);
static int tn_lua_part_body(lua_State *L);
static int tn_lua_part_set_body(lua_State *L);
static int tn_lua_part_remove(lua_State *L);
static int tn_lua_part_add_part(lua_State *L);
static int tn_lua_part_is_multipart(lua_State *L);


static const luaL_Reg  tn_lua_part_methods[] = {
    { "children", tn_lua_part_children },
    { "parent", tn_lua_part_parent },
    { "header", tn_lua_part_header },
    { "set_header", tn_lua_part_set_header },
    { "remove_header", tn_lua_part_remove_header },
    { "content_type", tn_lua_part_content_type },
    { "set_content_type", tn_lua_part_set_content_type },
    { "filename", tn_lua_part_filename },
    { "set_filename", tn_lua_part_set_filename },
    { "body", tn_lua_part_body },
    { "set_body", tn_lua_part_set_body },
    { "remove", tn_lua_part_remove },
    { "add_part", tn_lua_part_add_part },
    { "is_multipart", tn_lua_part_is_multipart },
    { NULL, NULL }
};


static void
tn_lua_mime_push_part(lua_State *L, tn_lua_mime_ctx_t *ctx,
    tn_lua_mime_part_t *part)
{
    const luaL_Reg     *r;
    tn_lua_mime_box_t  *box;

    box = lua_newuserdata(L, sizeof(tn_lua_mime_box_t));
    box->ctx = ctx;
    box->serial = ctx->serial;
    box->part = part;

    if (luaL_newmetatable(L, TN_LUA_MIME_PART)) {
        lua_newtable(L);

        for (r = tn_lua_part_methods; r->name; r++) {
            lua_pushcfunction(L, r->func);
            lua_setfield(L, -2, r->name);
        }

        lua_setfield(L, -2, "__index");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }

    lua_setmetatable(L, -2);
}


/* a part of a live call, or an error */

static tn_lua_mime_box_t *
tn_lua_mime_check_part(lua_State *L, int n)
{
    tn_lua_mime_ctx_t  *ctx;
    tn_lua_mime_box_t  *box;

    box = luaL_checkudata(L, n, TN_LUA_MIME_PART);

    for (ctx = tn_lua_mime_live; ctx; ctx = ctx->next) {
        if (ctx == box->ctx && ctx->serial == box->serial) {
            return box;
        }
    }

    luaL_error(L, "the message of this part is gone");

    return NULL;
}


static int
tn_lua_mime_error(lua_State *L, tn_int_t rc, const char *err)
{
    if (rc == TN_DECLINED) {
        return luaL_error(L, "%s", err);
    }

    return luaL_error(L, "not enough memory");
}


static void
tn_lua_mime_list(lua_State *L, tn_lua_mime_ctx_t *ctx,
    tn_lua_mime_part_t *part, int *n)
{
    tn_uint_t             i;
    tn_lua_mime_part_t  **children;

    if (part->removed) {
        return;
    }

    tn_lua_mime_push_part(L, ctx, part);
    lua_rawseti(L, -2, ++*n);

    if (part->body_set) {
        return;
    }

    children = part->children.elts;

    for (i = 0; i < part->children.nelts; i++) {
        tn_lua_mime_list(L, ctx, children[i], n);
    }
}


/* msg:parts(): every part, the root first, in the order of the text */

static int
tn_lua_mime_msg_parts(lua_State *L)
{
    int                 n;
    tn_lua_mime_box_t  *box;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "root");
    box = tn_lua_mime_check_part(L, -1);

    if (box->ctx->tree->parts.nelts > 100000) {
        return luaL_error(L, "too many parts");
    }

    lua_newtable(L);
    n = 0;
    tn_lua_mime_list(L, box->ctx, box->part, &n);

    return 1;
}


static int
tn_lua_part_children(lua_State *L)
{
    int                   n;
    tn_uint_t             i;
    tn_lua_mime_box_t    *box;
    tn_lua_mime_part_t  **children;

    box = tn_lua_mime_check_part(L, 1);

    lua_newtable(L);
    n = 0;

    if (box->part->body_set) {
        return 1;
    }

    children = box->part->children.elts;

    for (i = 0; i < box->part->children.nelts; i++) {
        if (!children[i]->removed) {
            tn_lua_mime_push_part(L, box->ctx, children[i]);
            lua_rawseti(L, -2, ++n);
        }
    }

    return 1;
}


static int
tn_lua_part_parent(lua_State *L)
{
    tn_lua_mime_box_t  *box;

    box = tn_lua_mime_check_part(L, 1);

    if (box->part->parent == NULL) {
        lua_pushnil(L);

    } else {
        tn_lua_mime_push_part(L, box->ctx, box->part->parent);
    }

    return 1;
}


static int
tn_lua_part_is_multipart(lua_State *L)
{
    tn_lua_mime_box_t  *box;

    box = tn_lua_mime_check_part(L, 1);
    lua_pushboolean(L, box->part->boundary.len != 0);

    return 1;
}


static int
tn_lua_part_header(lua_State *L)
{
    tn_str_t           name, *value;
    tn_lua_mime_box_t  *box;

    box = tn_lua_mime_check_part(L, 1);
    name.data = (u_char *) luaL_checklstring(L, 2, &name.len);

    value = tn_lua_mime_header(box->part, &name);

    if (value == NULL) {
        lua_pushnil(L);

    } else {
        lua_pushlstring(L, (char *) value->data, value->len);
    }

    return 1;
}


static int
tn_lua_part_set_header(lua_State *L)
{
    tn_int_t            rc;
    tn_str_t            name, value;
    const char         *err;
    tn_lua_mime_box_t  *box;

    box = tn_lua_mime_check_part(L, 1);
    name.data = (u_char *) luaL_checklstring(L, 2, &name.len);
    value.data = (u_char *) luaL_checklstring(L, 3, &value.len);

    rc = tn_lua_mime_set_header(box->ctx->tree, box->part, &name, &value,
                                &err);
    if (rc != TN_OK) {
        return tn_lua_mime_error(L, rc, err);
    }

    return 0;
}


static int
tn_lua_part_remove_header(lua_State *L)
{
    tn_str_t            name;
    tn_lua_mime_box_t  *box;

    box = tn_lua_mime_check_part(L, 1);
    name.data = (u_char *) luaL_checklstring(L, 2, &name.len);

    tn_lua_mime_remove_header(box->ctx->tree, box->part, &name);

    return 0;
}


/* part:content_type(): "type/subtype", { name = value, ... } */

static int
tn_lua_part_content_type(lua_State *L)
{
    tn_uint_t             i;
    tn_lua_mime_box_t    *box;
    tn_lua_mime_param_t  *pm;

    box = tn_lua_mime_check_part(L, 1);

    lua_pushlstring(L, (char *) box->part->type.data, box->part->type.len);
    lua_newtable(L);

    pm = box->part->params.elts;

    for (i = 0; i < box->part->params.nelts; i++) {
        lua_pushlstring(L, (char *) pm[i].name.data, pm[i].name.len);
        lua_pushlstring(L, (char *) pm[i].value.data, pm[i].value.len);
        lua_rawset(L, -3);
    }

    return 2;
}


static int
tn_lua_part_set_content_type(lua_State *L)
{
    tn_int_t              rc;
    tn_str_t              type;
    tn_array_t            params;
    const char           *err;
    tn_lua_mime_box_t    *box;
    tn_lua_mime_param_t  *pm;

    box = tn_lua_mime_check_part(L, 1);
    type.data = (u_char *) luaL_checklstring(L, 2, &type.len);

    if (tn_array_init(&params, box->ctx->pool, 4,
                      sizeof(tn_lua_mime_param_t)) != TN_OK)
    {
        return tn_lua_mime_error(L, TN_ERROR, NULL);
    }

    if (lua_isnoneornil(L, 3)) {
        /* no table: the parameters stay */
        params = box->part->params;

    } else {
        luaL_checktype(L, 3, LUA_TTABLE);

        lua_pushnil(L);

        while (lua_next(L, 3)) {
            if (lua_type(L, -2) != LUA_TSTRING
                || lua_type(L, -1) != LUA_TSTRING)
            {
                return luaL_error(L, "parameters are strings");
            }

            if (params.nelts >= 64) {
                return luaL_error(L, "too many parameters");
            }

            pm = tn_array_push(&params);
            if (pm == NULL) {
                return tn_lua_mime_error(L, TN_ERROR, NULL);
            }

            /* the strings stay on the stack until the call returns */
            pm->name.data = (u_char *) lua_tolstring(L, -2, &pm->name.len);
            pm->value.data = (u_char *) lua_tolstring(L, -1, &pm->value.len);

            if (pm->value.len > 200) {
                return luaL_error(L, "parameter too long");
            }

            lua_pop(L, 1);
        }
    }

    rc = tn_lua_mime_set_type(box->ctx->tree, box->part, &type, &params,
                              &err);
    if (rc != TN_OK) {
        return tn_lua_mime_error(L, rc, err);
    }

    return 0;
}


static int
tn_lua_part_filename(lua_State *L)
{
    tn_str_t            name;
    tn_lua_mime_box_t  *box;

    box = tn_lua_mime_check_part(L, 1);

    (void) tn_lua_mime_filename(box->ctx->pool, box->part, &name);

    if (name.len == 0) {
        lua_pushnil(L);

    } else {
        lua_pushlstring(L, (char *) name.data, name.len);
    }

    return 1;
}


static int
tn_lua_part_set_filename(lua_State *L)
{
    tn_int_t            rc;
    tn_str_t            name;
    const char         *err;
    tn_lua_mime_box_t  *box;

    box = tn_lua_mime_check_part(L, 1);
    name.data = (u_char *) luaL_checklstring(L, 2, &name.len);

    rc = tn_lua_mime_set_filename(box->ctx->tree, box->part, &name, &err);
    if (rc != TN_OK) {
        return tn_lua_mime_error(L, rc, err);
    }

    return 0;
}


static int
tn_lua_part_body(lua_State *L)
{
    tn_str_t            body;
    tn_lua_mime_box_t  *box;

    box = tn_lua_mime_check_part(L, 1);

    if (box->part->body_set) {
        return luaL_error(L, "the body was replaced");
    }

    /* a scratch userdata: nothing leaks when Lua raises an error */

    body.data = lua_newuserdata(L, box->part->body_end
                                   - box->part->body_offset + 1);

    if (tn_lua_mime_body(box->ctx->tree, box->part, &body) != TN_OK) {
        return tn_lua_mime_error(L, TN_ERROR, NULL);
    }

    lua_pushlstring(L, (char *) body.data, body.len);

    return 1;
}


static int
tn_lua_part_set_body(lua_State *L)
{
    tn_int_t            rc;
    tn_str_t            body;
    const char         *err;
    tn_lua_mime_box_t  *box;

    box = tn_lua_mime_check_part(L, 1);
    body.data = (u_char *) luaL_checklstring(L, 2, &body.len);

    if ((off_t) body.len > box->ctx->max_size) {
        return luaL_error(L, "body larger than smtp_max_message_size");
    }

    rc = tn_lua_mime_set_body(box->ctx->tree, box->part, &body, &err);
    if (rc != TN_OK) {
        return tn_lua_mime_error(L, rc, err);
    }

    return 0;
}


static int
tn_lua_part_remove(lua_State *L)
{
    tn_int_t            rc;
    const char         *err;
    tn_lua_mime_box_t  *box;

    box = tn_lua_mime_check_part(L, 1);

    rc = tn_lua_mime_remove(box->ctx->tree, box->part, &err);
    if (rc != TN_OK) {
        return tn_lua_mime_error(L, rc, err);
    }

    return 0;
}


/* parent:add_part{ content_type =, body =, filename =, disposition = } */

static int
tn_lua_part_add_part(lua_State *L)
{
    tn_int_t            rc;
    tn_str_t            type, body, filename, disp;
    const char         *err;
    tn_lua_mime_box_t  *box;

    box = tn_lua_mime_check_part(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);

    lua_getfield(L, 2, "content_type");
    lua_getfield(L, 2, "body");
    lua_getfield(L, 2, "filename");
    lua_getfield(L, 2, "disposition");

    if (lua_isnil(L, 3)) {
        tn_str_set(&type, "text/plain");

    } else {
        type.data = (u_char *) luaL_checklstring(L, 3, &type.len);
    }

    body.data = (u_char *) luaL_checklstring(L, 4, &body.len);

    tn_str_null(&filename);
    tn_str_null(&disp);

    if (!lua_isnil(L, 5)) {
        filename.data = (u_char *) luaL_checklstring(L, 5, &filename.len);
    }

    if (!lua_isnil(L, 6)) {
        disp.data = (u_char *) luaL_checklstring(L, 6, &disp.len);
    }

    if ((off_t) body.len > box->ctx->max_size) {
        return luaL_error(L, "body larger than smtp_max_message_size");
    }

    rc = tn_lua_mime_add_part(box->ctx->tree, box->part, &type, &body,
                              &filename, &disp, &err);
    if (rc != TN_OK) {
        return tn_lua_mime_error(L, rc, err);
    }

    return 0;
}
