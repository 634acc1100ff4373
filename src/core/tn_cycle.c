
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


static void tn_destroy_cycle_pools(tn_conf_t *conf);
static tn_int_t tn_init_zero_cycle(tn_cycle_t *cycle, tn_cycle_t *old_cycle,
    tn_log_t *log);
static tn_int_t tn_cycle_create_confs(tn_cycle_t *cycle, tn_conf_t *conf);
static tn_int_t tn_cycle_init_confs(tn_cycle_t *cycle);
static tn_int_t tn_cycle_reuseport(tn_cycle_t *cycle);
static void tn_cycle_inherit_listening(tn_cycle_t *cycle,
    tn_cycle_t *old_cycle);
static tn_int_t tn_cycle_open_files(tn_cycle_t *cycle);
static void tn_cycle_close_old(tn_cycle_t *cycle, tn_cycle_t *old_cycle);


volatile tn_cycle_t  *tn_cycle;

tn_uint_t             tn_test_config;
tn_uint_t             tn_quiet_mode;


tn_cycle_t *
tn_init_cycle(tn_cycle_t *old_cycle)
{
    tn_log_t           *log;
    tn_conf_t           conf;
    tn_pool_t          *pool;
    tn_cycle_t         *cycle;
    tn_core_conf_t     *ccf;

    tn_time_update();

    log = old_cycle->log;

    pool = tn_create_pool(TN_CYCLE_POOL_SIZE, log);
    if (pool == NULL) {
        return NULL;
    }
    pool->log = log;

    cycle = tn_pcalloc(pool, sizeof(tn_cycle_t));
    if (cycle == NULL) {
        tn_destroy_pool(pool);
        return NULL;
    }

    cycle->pool = pool;
    cycle->log = log;
    cycle->old_cycle = old_cycle;

    if (tn_init_zero_cycle(cycle, old_cycle, log) != TN_OK) {
        tn_destroy_pool(pool);
        return NULL;
    }

    if (tn_cycle_modules(cycle) != TN_OK) {
        tn_destroy_pool(pool);
        return NULL;
    }

    tn_memzero(&conf, sizeof(tn_conf_t));

    if (tn_cycle_create_confs(cycle, &conf) != TN_OK) {
        tn_destroy_pool(pool);
        return NULL;
    }

    if (tn_conf_param(&conf) != TN_CONF_OK) {
        tn_destroy_cycle_pools(&conf);
        return NULL;
    }

    if (tn_conf_parse(&conf, &cycle->conf_file) != TN_CONF_OK) {
        tn_destroy_cycle_pools(&conf);
        return NULL;
    }

    if (tn_test_config && !tn_quiet_mode) {
        tn_log_stderr(0, "the configuration file %s syntax is ok",
                      cycle->conf_file.data);
    }

    if (tn_cycle_init_confs(cycle) != TN_OK) {
        tn_destroy_cycle_pools(&conf);
        return NULL;
    }

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    if (tn_test_config) {
        /* the listening sockets and files are checked, not opened */
        tn_destroy_pool(conf.temp_pool);
        return cycle;
    }

    if (tn_process == TN_PROCESS_CLI) {
        /* an admin command reports on stderr, not in the server's log */
        if (tn_init_modules(cycle) != TN_OK) {
            goto failed;
        }

        tn_destroy_pool(conf.temp_pool);

        return cycle;
    }

    if (tn_create_paths(cycle, ccf->user) != TN_OK) {
        goto failed;
    }

    if (tn_log_open_default(cycle) != TN_OK) {
        goto failed;
    }

    if (tn_cycle_open_files(cycle) != TN_OK) {
        goto failed;
    }

    cycle->log = &cycle->new_log;
    pool->log = &cycle->new_log;

    if (tn_cycle_reuseport(cycle) != TN_OK) {
        goto failed;
    }

    tn_cycle_inherit_listening(cycle, old_cycle);

    if (tn_open_listening_sockets(cycle) != TN_OK) {
        goto failed;
    }

    tn_configure_listening_sockets(cycle);

    /* commit the new cycle configuration */

    if (!tn_use_stderr) {
        (void) tn_log_redirect_stderr(cycle);
    }

    pool->log = cycle->log;

    if (tn_init_modules(cycle) != TN_OK) {
        /* fatal */
        exit(1);
    }

    tn_cycle_close_old(cycle, old_cycle);

    tn_destroy_pool(conf.temp_pool);

    /*
     * Only the master reads configurations; it serves no connections, so
     * the old cycle can go at once.  Old workers keep their own copy.
     */
    tn_destroy_pool(old_cycle->pool);
    cycle->old_cycle = NULL;

    return cycle;


failed:

    if (!tn_is_init_cycle(old_cycle)) {
        log = old_cycle->log;
    }

    /* rollback the new cycle configuration */

    {
        tn_uint_t        i;
        tn_listening_t  *ls;
        tn_list_part_t  *part;
        tn_open_file_t  *file;

        part = &cycle->open_files.part;
        file = part->elts;

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }
                part = part->next;
                file = part->elts;
                i = 0;
            }

            if (file[i].fd == TN_INVALID_FILE || file[i].fd == tn_stderr) {
                continue;
            }

            (void) tn_close_file(file[i].fd);
        }

        ls = cycle->listening.elts;
        for (i = 0; i < cycle->listening.nelts; i++) {
            if (ls[i].fd == (tn_socket_t) -1 || !ls[i].open) {
                continue;
            }

            (void) tn_close_socket(ls[i].fd);
        }
    }

    tn_destroy_cycle_pools(&conf);

    return NULL;
}


static void
tn_destroy_cycle_pools(tn_conf_t *conf)
{
    tn_destroy_pool(conf->temp_pool);
    tn_destroy_pool(conf->pool);
}


static tn_int_t
tn_init_zero_cycle(tn_cycle_t *cycle, tn_cycle_t *old_cycle, tn_log_t *log)
{
    tn_pool_t  *pool;
    char        hostname[TN_MAXHOSTNAMELEN];

    pool = cycle->pool;

    cycle->prefix.len = old_cycle->prefix.len;
    cycle->prefix.data = tn_pstrdup(pool, &old_cycle->prefix);
    if (cycle->prefix.data == NULL) {
        return TN_ERROR;
    }

    cycle->conf_prefix.len = old_cycle->conf_prefix.len;
    cycle->conf_prefix.data = tn_pstrdup(pool, &old_cycle->conf_prefix);
    if (cycle->conf_prefix.data == NULL) {
        return TN_ERROR;
    }

    cycle->conf_file.len = old_cycle->conf_file.len;
    cycle->conf_file.data = tn_pnalloc(pool, old_cycle->conf_file.len + 1);
    if (cycle->conf_file.data == NULL) {
        return TN_ERROR;
    }
    tn_cpystrn(cycle->conf_file.data, old_cycle->conf_file.data,
               old_cycle->conf_file.len + 1);

    cycle->conf_param.len = old_cycle->conf_param.len;
    cycle->conf_param.data = tn_pstrdup(pool, &old_cycle->conf_param);
    if (cycle->conf_param.data == NULL) {
        return TN_ERROR;
    }

    if (tn_array_init(&cycle->paths, pool, 4, sizeof(tn_str_t)) != TN_OK) {
        return TN_ERROR;
    }

    if (tn_list_init(&cycle->open_files, pool, 8, sizeof(tn_open_file_t))
        != TN_OK)
    {
        return TN_ERROR;
    }

    cycle->new_log.log_level = TN_LOG_ERR;

    if (tn_array_init(&cycle->listening, pool, 10, sizeof(tn_listening_t))
        != TN_OK)
    {
        return TN_ERROR;
    }

    tn_queue_init(&cycle->reusable_connections_queue);

    cycle->conf_ctx = tn_pcalloc(pool, tn_max_module * sizeof(void *));
    if (cycle->conf_ctx == NULL) {
        return TN_ERROR;
    }

    if (gethostname(hostname, TN_MAXHOSTNAMELEN) == -1) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno, "gethostname() failed");
        return TN_ERROR;
    }

    /* on Linux gethostname() silently truncates name that does not fit */

    hostname[TN_MAXHOSTNAMELEN - 1] = '\0';
    cycle->hostname.len = tn_strlen(hostname);

    cycle->hostname.data = tn_pnalloc(pool, cycle->hostname.len);
    if (cycle->hostname.data == NULL) {
        return TN_ERROR;
    }

    tn_strlow(cycle->hostname.data, (u_char *) hostname, cycle->hostname.len);

    return TN_OK;
}


static tn_int_t
tn_cycle_create_confs(tn_cycle_t *cycle, tn_conf_t *conf)
{
    void              *rv;
    tn_uint_t          i;
    tn_core_module_t  *module;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->type != TN_CORE_MODULE) {
            continue;
        }

        module = cycle->modules[i]->ctx;

        if (module->create_conf) {
            rv = module->create_conf(cycle);
            if (rv == NULL) {
                return TN_ERROR;
            }
            cycle->conf_ctx[cycle->modules[i]->index] = rv;
        }
    }

    conf->args = tn_array_create(cycle->pool, 10, sizeof(tn_str_t));
    if (conf->args == NULL) {
        return TN_ERROR;
    }

    conf->temp_pool = tn_create_pool(TN_CYCLE_POOL_SIZE, cycle->log);
    if (conf->temp_pool == NULL) {
        return TN_ERROR;
    }

    conf->ctx = cycle->conf_ctx;
    conf->cycle = cycle;
    conf->pool = cycle->pool;
    conf->log = cycle->log;
    conf->module_type = TN_CORE_MODULE;
    conf->cmd_type = TN_MAIN_CONF;

    return TN_OK;
}


static tn_int_t
tn_cycle_init_confs(tn_cycle_t *cycle)
{
    tn_uint_t          i;
    tn_core_module_t  *module;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->type != TN_CORE_MODULE) {
            continue;
        }

        module = cycle->modules[i]->ctx;

        if (module->init_conf) {
            if (module->init_conf(cycle,
                                  cycle->conf_ctx[cycle->modules[i]->index])
                == TN_CONF_ERROR)
            {
                return TN_ERROR;
            }
        }
    }

    return TN_OK;
}


/*
 * Every listener gets one socket per worker slot with SO_REUSEPORT, so
 * the kernel spreads connections and no accept lock is needed.
 */
static tn_int_t
tn_cycle_reuseport(tn_cycle_t *cycle)
{
    tn_uint_t        i, n;
    tn_listening_t  *ls;

    n = cycle->listening.nelts;

    for (i = 0; i < n; i++) {
        ls = cycle->listening.elts;

        if (!ls[i].reuseport || ls[i].worker != 0) {
            continue;
        }

        if (tn_clone_listening(cycle, &ls[i]) != TN_OK) {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


/* a socket bound by the old cycle is kept: no connection is refused */
static void
tn_cycle_inherit_listening(tn_cycle_t *cycle, tn_cycle_t *old_cycle)
{
    tn_uint_t        i, n;
    tn_listening_t  *ls, *nls;

    if (old_cycle->listening.nelts == 0) {
        return;
    }

    ls = old_cycle->listening.elts;
    for (i = 0; i < old_cycle->listening.nelts; i++) {
        ls[i].remain = 0;
    }

    nls = cycle->listening.elts;
    for (n = 0; n < cycle->listening.nelts; n++) {

        for (i = 0; i < old_cycle->listening.nelts; i++) {
            if (ls[i].ignore || ls[i].remain) {
                continue;
            }

            if (ls[i].type != nls[n].type || ls[i].worker != nls[n].worker
                || ls[i].reuseport != nls[n].reuseport)
            {
                continue;
            }

            if (tn_cmp_sockaddr(nls[n].sockaddr, nls[n].socklen,
                                ls[i].sockaddr, ls[i].socklen, 1)
                == TN_OK)
            {
                nls[n].fd = ls[i].fd;
                nls[n].inherited = ls[i].inherited;
                nls[n].previous = &ls[i];
                ls[i].remain = 1;

                if (ls[i].backlog != nls[n].backlog) {
                    nls[n].listen = 1;
                }

                break;
            }
        }

        if (nls[n].fd == (tn_socket_t) -1) {
            nls[n].open = 1;
        }
    }
}


static tn_int_t
tn_cycle_open_files(tn_cycle_t *cycle)
{
    tn_uint_t         i;
    tn_list_part_t   *part;
    tn_open_file_t   *file;

    part = &cycle->open_files.part;
    file = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            file = part->elts;
            i = 0;
        }

        if (file[i].name.len == 0) {
            continue;
        }

        file[i].fd = tn_open_file(file[i].name.data, TN_FILE_APPEND,
                                  TN_FILE_CREATE_OR_OPEN,
                                  TN_FILE_DEFAULT_ACCESS);

        if (file[i].fd == TN_INVALID_FILE) {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                         "open() \"%s\" failed", file[i].name.data);
            return TN_ERROR;
        }
    }

    return TN_OK;
}


static void
tn_cycle_close_old(tn_cycle_t *cycle, tn_cycle_t *old_cycle)
{
    tn_uint_t         i;
    tn_listening_t   *ls;
    tn_list_part_t   *part;
    tn_open_file_t   *file;

    ls = old_cycle->listening.elts;
    for (i = 0; i < old_cycle->listening.nelts; i++) {

        if (ls[i].remain || ls[i].fd == (tn_socket_t) -1) {
            continue;
        }

        if (tn_close_socket(ls[i].fd) == -1) {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_socket_errno,
                         "close() socket listening on %V failed",
                         &ls[i].addr_text);
        }
    }

    part = &old_cycle->open_files.part;
    file = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            file = part->elts;
            i = 0;
        }

        if (file[i].fd == TN_INVALID_FILE || file[i].fd == tn_stderr) {
            continue;
        }

        (void) tn_close_file(file[i].fd);
    }
}


tn_int_t
tn_create_pidfile(tn_str_t *name, tn_log_t *log)
{
    size_t   len;
    tn_fd_t  fd;
    u_char   pid[TN_INT_T_LEN + 2];

    fd = tn_open_file(name->data, TN_FILE_RDWR, TN_FILE_TRUNCATE,
                      TN_FILE_DEFAULT_ACCESS);

    if (fd == TN_INVALID_FILE) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno,
                     "open() \"%s\" failed", name->data);
        return TN_ERROR;
    }

    len = tn_snprintf(pid, TN_INT_T_LEN + 2, "%d%N", (int) tn_pid) - pid;

    if (tn_write_fd(fd, pid, len) == -1) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno,
                     "write() \"%s\" failed", name->data);
    }

    if (tn_close_file(fd) == -1) {
        tn_log_error(TN_LOG_ALERT, log, tn_errno,
                     "close() \"%s\" failed", name->data);
    }

    return TN_OK;
}


void
tn_delete_pidfile(tn_cycle_t *cycle)
{
    tn_core_conf_t  *ccf;

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    if (tn_delete_file(ccf->pid.data) == -1) {
        tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                     "unlink() \"%s\" failed", ccf->pid.data);
    }
}


tn_int_t
tn_signal_process(tn_cycle_t *cycle, char *sig)
{
    ssize_t          n;
    tn_pid_t         pid;
    tn_fd_t          fd;
    tn_core_conf_t  *ccf;
    u_char           buf[TN_INT_T_LEN + 2];

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    fd = tn_open_file(ccf->pid.data, TN_FILE_RDONLY, TN_FILE_OPEN, 0);

    if (fd == TN_INVALID_FILE) {
        tn_log_error(TN_LOG_ERR, cycle->log, tn_errno,
                     "open() \"%s\" failed", ccf->pid.data);
        return 1;
    }

    n = tn_read_fd(fd, buf, TN_INT_T_LEN + 2);

    (void) tn_close_file(fd);

    if (n == -1) {
        return 1;
    }

    while (n-- && (buf[n] == CR || buf[n] == LF)) { /* void */ }

    pid = tn_atoi(buf, ++n);

    if (pid == (tn_pid_t) TN_ERROR || pid <= 1) {
        tn_log_error(TN_LOG_ERR, cycle->log, 0,
                      "invalid PID number \"%*s\" in \"%s\"",
                      n, buf, ccf->pid.data);
        return 1;
    }

    return tn_os_signal_process(cycle, sig, pid);
}


void
tn_reopen_files(tn_cycle_t *cycle, uid_t user)
{
    tn_fd_t           fd;
    tn_uint_t         i;
    tn_list_part_t   *part;
    tn_open_file_t   *file;

    part = &cycle->open_files.part;
    file = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            file = part->elts;
            i = 0;
        }

        if (file[i].name.len == 0) {
            continue;
        }

        fd = tn_open_file(file[i].name.data, TN_FILE_APPEND,
                          TN_FILE_CREATE_OR_OPEN, TN_FILE_DEFAULT_ACCESS);

        if (fd == TN_INVALID_FILE) {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                         "open() \"%s\" failed", file[i].name.data);
            continue;
        }

        if (user != (uid_t) TN_CONF_UNSET_UINT && geteuid() == 0) {
            if (fchown(fd, user, -1) == -1) {
                tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                             "chown(\"%s\", %d) failed",
                             file[i].name.data, (int) user);
            }
        }

        if (dup2(fd, file[i].fd) == -1) {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                         "dup2() \"%s\" failed", file[i].name.data);
        }

        (void) tn_close_file(fd);
    }
}


/*
 * Creates the directories of the log files, the pid file and every path
 * a module registered in cycle->paths, owned by the worker user.
 */
tn_int_t
tn_create_paths(tn_cycle_t *cycle, uid_t user)
{
    u_char           *p, *dir;
    tn_str_t         *path;
    tn_uint_t         i;
    tn_list_part_t   *part;
    tn_open_file_t   *file;
    tn_core_conf_t   *ccf;

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    part = &cycle->open_files.part;
    file = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            file = part->elts;
            i = 0;
        }

        if (file[i].name.len == 0) {
            continue;
        }

        path = tn_array_push(&cycle->paths);
        if (path == NULL) {
            return TN_ERROR;
        }

        *path = file[i].name;
    }

    path = tn_array_push(&cycle->paths);
    if (path == NULL) {
        return TN_ERROR;
    }

    *path = ccf->pid;

    path = cycle->paths.elts;

    for (i = 0; i < cycle->paths.nelts; i++) {

        dir = tn_pnalloc(cycle->pool, path[i].len + 1);
        if (dir == NULL) {
            return TN_ERROR;
        }

        tn_cpystrn(dir, path[i].data, path[i].len + 1);

        p = (u_char *) strrchr((char *) dir, '/');
        if (p == NULL || p == dir) {
            continue;
        }

        *p = '\0';

        if (tn_create_full_path(dir, 0755) != TN_OK) {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                         "mkdir() \"%s\" failed", dir);
            return TN_ERROR;
        }

        if (user != (uid_t) TN_CONF_UNSET_UINT && geteuid() == 0) {
            if (chown((char *) dir, user, -1) == -1) {
                tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                             "chown(\"%s\", %d) failed", dir, (int) user);
                return TN_ERROR;
            }
        }
    }

    return TN_OK;
}
