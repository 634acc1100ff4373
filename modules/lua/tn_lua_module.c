
/*
 * Copyright (C) The Tern developers
 */


/*
 * The "lua" module: directives, the configuration-time check of every
 * script (the master compiles each one, so "tern -t" and a reload fail
 * with the script's file:line on a syntax error), and the worker's VM,
 * made in init_process: the scripts of the configuration are loaded
 * there, so every worker of a new generation runs the new scripts.
 *
 * Script paths and lua_package_path are relative to the prefix, as every
 * other path of the configuration.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_lua.h>


static void *tn_lua_create_main_conf(tn_conf_t *cf);
static char *tn_lua_init_main_conf(tn_conf_t *cf, void *conf);
static char *tn_lua_script(tn_conf_t *cf, tn_command_t *cmd, void *conf);
static char *tn_lua_package_path(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
static tn_int_t tn_lua_init_module(tn_cycle_t *cycle);
static tn_int_t tn_lua_init_process(tn_cycle_t *cycle);
static tn_int_t tn_lua_load_script(tn_lua_vm_t *vm, tn_uint_t phase,
    tn_log_t *log);


tn_lua_vm_t  *tn_lua_vm;


/* the phases, indexed by TN_LUA_PHASE_*: a new phase is a row here */
tn_str_t  tn_lua_phase_names[TN_LUA_PHASE_MAX] = {
    tn_string("login"),
    tn_string("mime"),
};


static tn_command_t  tn_lua_commands[] = {

    { tn_string("lua_script"),
      TN_MAIL_MAIN_CONF|TN_CONF_TAKE2,
      tn_lua_script,
      TN_MAIL_MAIN_CONF_OFFSET,
      0,
      NULL },

    { tn_string("lua_package_path"),
      TN_MAIL_MAIN_CONF|TN_CONF_TAKE1,
      tn_lua_package_path,
      TN_MAIL_MAIN_CONF_OFFSET,
      0,
      NULL },

    { tn_string("lua_timeout"),
      TN_MAIL_MAIN_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      TN_MAIL_MAIN_CONF_OFFSET,
      offsetof(tn_lua_main_conf_t, timeout),
      NULL },

    { tn_string("lua_wait_timeout"),
      TN_MAIL_MAIN_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      TN_MAIL_MAIN_CONF_OFFSET,
      offsetof(tn_lua_main_conf_t, wait_timeout),
      NULL },

    { tn_string("lua_max_instructions"),
      TN_MAIL_MAIN_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      TN_MAIL_MAIN_CONF_OFFSET,
      offsetof(tn_lua_main_conf_t, max_instructions),
      NULL },

    { tn_string("lua_memory_limit"),
      TN_MAIL_MAIN_CONF|TN_CONF_TAKE1,
      tn_conf_set_size_slot,
      TN_MAIL_MAIN_CONF_OFFSET,
      offsetof(tn_lua_main_conf_t, memory_limit),
      NULL },

      tn_null_command
};


static tn_mail_module_t  tn_lua_module_ctx = {
    NULL,                                  /* protocol */

    tn_lua_create_main_conf,               /* create main configuration */
    tn_lua_init_main_conf,                 /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL                                   /* merge server configuration */
};


tn_module_t  tn_lua_module = {
    TN_MODULE_V1,
    "tn_lua_module",
    &tn_lua_module_ctx,
    tn_lua_commands,
    TN_MAIL_MODULE,
    tn_lua_init_module,                    /* init module */
    tn_lua_init_process,                   /* init process */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    TN_MODULE_V1_PADDING
};


static void *
tn_lua_create_main_conf(tn_conf_t *cf)
{
    tn_lua_main_conf_t  *lmcf;

    lmcf = tn_pcalloc(cf->pool, sizeof(tn_lua_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    lmcf->timeout = TN_CONF_UNSET_MSEC;
    lmcf->wait_timeout = TN_CONF_UNSET_MSEC;
    lmcf->max_instructions = TN_CONF_UNSET_UINT;
    lmcf->memory_limit = TN_CONF_UNSET_SIZE;

    return lmcf;
}


static char *
tn_lua_init_main_conf(tn_conf_t *cf, void *conf)
{
    tn_lua_main_conf_t  *lmcf = conf;

    tn_conf_init_msec_value(lmcf->timeout, 100);
    tn_conf_init_msec_value(lmcf->wait_timeout, 10000);
    tn_conf_init_uint_value(lmcf->max_instructions, 10000000);
    tn_conf_init_size_value(lmcf->memory_limit, 64 * 1024 * 1024);

    if (lmcf->timeout == 0 || lmcf->wait_timeout == 0
        || lmcf->max_instructions < TN_LUA_HOOK_COUNT)
    {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0, "lua_timeout and "
                          "lua_wait_timeout must not be 0, "
                          "lua_max_instructions at least %d",
                          TN_LUA_HOOK_COUNT);
        return TN_CONF_ERROR;
    }

    if (lmcf->memory_limit < 1024 * 1024) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "lua_memory_limit must be at least 1m");
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


/* lua_script PHASE FILE: the file is compiled now, never run */

static char *
tn_lua_script(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_lua_main_conf_t  *lmcf = conf;

    int                    rc;
    tn_str_t              *value, file;
    tn_uint_t              i;
    lua_State             *L;
    tn_lua_script_conf_t  *sc;

    value = cf->args->elts;

    for (i = 0; i < TN_LUA_PHASE_MAX; i++) {
        if (value[1].len == tn_lua_phase_names[i].len
            && tn_strncmp(value[1].data, tn_lua_phase_names[i].data,
                          value[1].len) == 0)
        {
            break;
        }
    }

    if (i == TN_LUA_PHASE_MAX) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "unknown lua phase \"%V\"", &value[1]);
        return TN_CONF_ERROR;
    }

    sc = &lmcf->scripts[i];

    if (sc->file.data) {
        return "is duplicate";
    }

    file = value[2];

    if (tn_conf_full_name(cf->cycle, &file, 0) != TN_OK) {
        return TN_CONF_ERROR;
    }

    /* the master's own throwaway state: a compile check only */

    L = luaL_newstate();
    if (L == NULL) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0, "luaL_newstate() failed");
        return TN_CONF_ERROR;
    }

    rc = tn_lua_load_file(L, (char *) file.data);

    if (rc != 0) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0, "lua_script: %s",
                          lua_tostring(L, -1));
        lua_close(L);
        return TN_CONF_ERROR;
    }

    lua_close(L);

    sc->name = value[1];
    sc->file = file;

    return TN_CONF_OK;
}


static char *
tn_lua_package_path(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_lua_main_conf_t  *lmcf = conf;

    tn_str_t     *value, dir;
    struct stat   sb;

    if (lmcf->package_path.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    dir = value[1];

    while (dir.len > 1 && dir.data[dir.len - 1] == '/') {
        dir.len--;
    }

    dir.data = tn_pnalloc(cf->pool, dir.len + 1);
    if (dir.data == NULL) {
        return TN_CONF_ERROR;
    }

    *tn_cpymem(dir.data, value[1].data, dir.len) = '\0';

    if (tn_conf_full_name(cf->cycle, &dir, 0) != TN_OK) {
        return TN_CONF_ERROR;
    }

    if (stat((char *) dir.data, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0, "lua_package_path \"%s\" "
                          "is not a directory", dir.data);
        return TN_CONF_ERROR;
    }

    lmcf->package_path = dir;

    return TN_CONF_OK;
}


/* the mime phase is a message check, registered with the configuration */

static tn_int_t
tn_lua_init_module(tn_cycle_t *cycle)
{
    tn_mail_conf_ctx_t  *ctx;

    ctx = (tn_mail_conf_ctx_t *) tn_get_conf(cycle->conf_ctx, tn_mail_module);

    return tn_lua_mime_register(cycle, ctx
                                       ? ctx->main_conf[tn_lua_module.ctx_index]
                                       : NULL);
}


/* the worker's VM: only when a script is configured */

static tn_int_t
tn_lua_init_process(tn_cycle_t *cycle)
{
    tn_uint_t            i, any;
    lua_State           *L;
    tn_lua_vm_t         *vm;
    tn_mail_conf_ctx_t  *ctx;
    tn_lua_main_conf_t  *lmcf;

    /* not in the housekeeper: it serves no sessions */

    if (tn_process != TN_PROCESS_WORKER && tn_process != TN_PROCESS_SINGLE) {
        return TN_OK;
    }

    ctx = (tn_mail_conf_ctx_t *) tn_get_conf(cycle->conf_ctx, tn_mail_module);
    if (ctx == NULL) {
        return TN_OK;
    }

    lmcf = ctx->main_conf[tn_lua_module.ctx_index];

    any = 0;

    for (i = 0; i < TN_LUA_PHASE_MAX; i++) {
        any |= (lmcf->scripts[i].file.data != NULL);
    }

    if (!any) {
        return TN_OK;
    }

    vm = tn_calloc(sizeof(tn_lua_vm_t), cycle->log);
    if (vm == NULL) {
        return TN_ERROR;
    }

    vm->conf = lmcf;
    vm->cycle = cycle;

    for (i = 0; i < TN_LUA_PHASE_MAX; i++) {
        vm->funcs[i] = LUA_NOREF;
    }

    L = lua_newstate(tn_lua_alloc, vm);
    if (L == NULL) {
        tn_log_error(TN_LOG_CRIT, cycle->log, 0, "lua_newstate() failed");
        tn_free(vm);
        return TN_ERROR;
    }

    vm->L = L;

    /*
     * The interpreter only: compiled traces do not run the count hook,
     * and the budget must hold for every instruction a script runs.
     */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE|LUAJIT_MODE_OFF);

    lua_pushcfunction(L, luaopen_base);     /* with coroutine */
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_string);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_table);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_math);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_os);
    lua_call(L, 0, 0);

    /* the set of phase coroutines: thread -> its call (light userdata) */
    lua_newtable(L);
    lua_newtable(L);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    vm->phase_threads = luaL_ref(L, LUA_REGISTRYINDEX);

    tn_lua_sandbox_seal(L);

    lua_sethook(L, tn_lua_hook, LUA_MASKCOUNT, TN_LUA_HOOK_COUNT);

    tn_lua_vm = vm;

    for (i = 0; i < TN_LUA_PHASE_MAX; i++) {
        if (lmcf->scripts[i].file.data) {
            (void) tn_lua_load_script(vm, i, cycle->log);
        }
    }

    tn_lua_login_init();

    return TN_OK;
}


/*
 * Runs a script's chunk in its own environment, under the budget of a
 * call: it returns the phase function, or defines a global named after
 * the phase.  A script that fails is logged and its phase runs without
 * it (the default action); the worker goes on.
 */

static tn_int_t
tn_lua_load_script(tn_lua_vm_t *vm, tn_uint_t phase, tn_log_t *log)
{
    int                    rc, top;
    lua_State             *L;
    tn_lua_call_t          load;
    tn_lua_script_conf_t  *sc;

    L = vm->L;
    sc = &vm->conf->scripts[phase];
    top = lua_gettop(L);

    if (tn_lua_sandbox_env(L, vm->conf) != TN_OK) {
        goto failed;
    }

    if (tn_lua_load_file(L, (char *) sc->file.data) != 0) {
        goto failed;
    }

    lua_pushvalue(L, -2);
    lua_setfenv(L, -2);

    tn_memzero(&load, sizeof(tn_lua_call_t));
    load.phase = phase;
    load.log = log;
    load.resumed_ns = tn_lua_now_ns();

    vm->current = &load;
    rc = lua_pcall(L, 0, 1, 0);
    vm->current = NULL;

    lua_sethook(L, tn_lua_hook, LUA_MASKCOUNT, TN_LUA_HOOK_COUNT);

    if (rc != 0) {
        if (load.killed) {
            lua_pop(L, 1);
            lua_pushliteral(L, "the script's top level ran out of its "
                            "budget (lua_timeout, lua_max_instructions)");
        }

        goto failed;
    }

    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        lua_getfield(L, -1, (char *) tn_lua_phase_names[phase].data);

        if (!lua_isfunction(L, -1)) {
            lua_pop(L, 1);
            lua_pushfstring(L, "the script neither returns a function nor "
                            "defines the function \"%s\"",
                            tn_lua_phase_names[phase].data);
            goto failed;
        }
    }

    vm->funcs[phase] = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_settop(L, top);

    tn_log_error(TN_LOG_NOTICE, log, 0, "lua: %V phase script \"%s\" "
                 "loaded", &tn_lua_phase_names[phase], sc->file.data);

    return TN_OK;

failed:

    tn_log_error(TN_LOG_ERR, log, 0, "lua: %V phase script \"%s\" not "
                 "loaded: %s", &tn_lua_phase_names[phase], sc->file.data,
                 lua_isstring(L, -1) ? lua_tostring(L, -1) : "error");

    lua_settop(L, top);
    lua_gc(L, LUA_GCCOLLECT, 0);

    return TN_ERROR;
}


tn_uint_t
tn_lua_phase_enabled(tn_uint_t phase)
{
    return tn_lua_vm != NULL && tn_lua_vm->funcs[phase] != LUA_NOREF;
}
