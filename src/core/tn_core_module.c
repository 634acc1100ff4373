
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


/*
 * The core module: the main-level directives of the master and its
 * workers.  It lives apart from main() so that tests can link it.
 */

static void *tn_core_module_create_conf(tn_cycle_t *cycle);
static char *tn_core_module_init_conf(tn_cycle_t *cycle, void *conf);
static char *tn_set_user(tn_conf_t *cf, tn_command_t *cmd, void *conf);
static char *tn_set_worker_processes(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);


static tn_command_t  tn_core_commands[] = {

    { tn_string("daemon"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      0,
      offsetof(tn_core_conf_t, daemon),
      NULL },

    { tn_string("worker_processes"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_set_worker_processes,
      0,
      0,
      NULL },

    { tn_string("worker_rlimit_nofile"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      0,
      offsetof(tn_core_conf_t, rlimit_nofile),
      NULL },

    { tn_string("worker_shutdown_timeout"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      0,
      offsetof(tn_core_conf_t, shutdown_timeout),
      NULL },

    { tn_string("pid"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_str_slot,
      0,
      offsetof(tn_core_conf_t, pid),
      NULL },

    { tn_string("user"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE12,
      tn_set_user,
      0,
      0,
      NULL },

      tn_null_command
};


static tn_core_module_t  tn_core_module_ctx = {
    tn_string("core"),
    tn_core_module_create_conf,
    tn_core_module_init_conf
};


tn_module_t  tn_core_module = {
    TN_MODULE_V1,
    "tn_core_module",
    &tn_core_module_ctx,
    tn_core_commands,
    TN_CORE_MODULE,
    NULL,
    NULL,
    NULL,
    NULL,
    TN_MODULE_V1_PADDING
};


static void *
tn_core_module_create_conf(tn_cycle_t *cycle)
{
    tn_core_conf_t  *ccf;

    ccf = tn_pcalloc(cycle->pool, sizeof(tn_core_conf_t));
    if (ccf == NULL) {
        return NULL;
    }

    ccf->daemon = TN_CONF_UNSET;
    ccf->master = TN_CONF_UNSET;
    ccf->shutdown_timeout = TN_CONF_UNSET_MSEC;

    ccf->worker_processes = TN_CONF_UNSET;
    ccf->rlimit_nofile = TN_CONF_UNSET;

    ccf->user = (uid_t) TN_CONF_UNSET_UINT;
    ccf->group = (gid_t) TN_CONF_UNSET_UINT;

    return ccf;
}


static char *
tn_core_module_init_conf(tn_cycle_t *cycle, void *conf)
{
    tn_core_conf_t  *ccf = conf;

    tn_conf_init_value(ccf->daemon, 0);
    tn_conf_init_value(ccf->master, 1);
    tn_conf_init_msec_value(ccf->shutdown_timeout, 300000);

    tn_conf_init_value(ccf->worker_processes, 1);

    if (ccf->pid.len == 0) {
        tn_str_set(&ccf->pid, "logs/tern.pid");
    }

    if (tn_conf_full_name(cycle, &ccf->pid, 0) != TN_OK) {
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


static char *
tn_set_user(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_core_conf_t  *ccf = conf;

    char             *group;
    struct passwd    *pwd;
    struct group     *grp;
    tn_str_t         *value;

    if (ccf->user != (uid_t) TN_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    if (geteuid() != 0) {
        tn_conf_log_error(TN_LOG_WARN, cf, 0,
                           "the \"user\" directive makes sense only "
                           "if the master process runs "
                           "with super-user privileges, ignored");
        return TN_CONF_OK;
    }

    value = cf->args->elts;

    ccf->username = (char *) value[1].data;

    errno = 0;
    pwd = getpwnam((const char *) value[1].data);
    if (pwd == NULL) {
        tn_conf_log_error(TN_LOG_EMERG, cf, errno,
                           "getpwnam(\"%s\") failed", value[1].data);
        return TN_CONF_ERROR;
    }

    ccf->user = pwd->pw_uid;

    group = (char *) ((cf->args->nelts == 2) ? value[1].data : value[2].data);

    errno = 0;
    grp = getgrnam(group);
    if (grp == NULL) {
        if (cf->args->nelts == 2) {
            ccf->group = pwd->pw_gid;
            return TN_CONF_OK;
        }

        tn_conf_log_error(TN_LOG_EMERG, cf, errno,
                           "getgrnam(\"%s\") failed", group);
        return TN_CONF_ERROR;
    }

    ccf->group = grp->gr_gid;

    return TN_CONF_OK;
}


static char *
tn_set_worker_processes(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_str_t        *value;
    tn_core_conf_t  *ccf;

    ccf = (tn_core_conf_t *) conf;

    if (ccf->worker_processes != TN_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (tn_strcmp(value[1].data, "auto") == 0) {
        ccf->worker_processes = tn_ncpu;
        return TN_CONF_OK;
    }

    ccf->worker_processes = tn_atoi(value[1].data, value[1].len);

    if (ccf->worker_processes == TN_ERROR || ccf->worker_processes < 1
        || ccf->worker_processes > 512)
    {
        return "invalid value";
    }

    return TN_CONF_OK;
}
