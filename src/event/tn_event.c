
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


#define DEFAULT_CONNECTIONS  512


extern tn_module_t  tn_epoll_module;

tn_int_t tn_epoll_process_init(tn_cycle_t *cycle);

static char *tn_event_init_conf(tn_cycle_t *cycle, void *conf);
static tn_int_t tn_event_module_init(tn_cycle_t *cycle);
static tn_int_t tn_event_process_init(tn_cycle_t *cycle);
static char *tn_events_block(tn_conf_t *cf, tn_command_t *cmd, void *conf);
static char *tn_event_connections(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
static void *tn_event_core_create_conf(tn_cycle_t *cycle);
static char *tn_event_core_init_conf(tn_cycle_t *cycle, void *conf);


sig_atomic_t          tn_event_timer_alarm;

static tn_uint_t      tn_event_max_module;

tn_uint_t             tn_event_flags;
tn_uint_t             tn_accept_disabled;

static tn_atomic_t    connection_counter = 1;
tn_atomic_t          *tn_connection_counter = &connection_counter;


static tn_command_t  tn_events_commands[] = {

    { tn_string("events"),
      TN_MAIN_CONF|TN_CONF_BLOCK|TN_CONF_NOARGS,
      tn_events_block,
      0,
      0,
      NULL },

      tn_null_command
};


static tn_core_module_t  tn_events_module_ctx = {
    tn_string("events"),
    NULL,
    tn_event_init_conf
};


tn_module_t  tn_events_module = {
    TN_MODULE_V1,
    "tn_events_module",
    &tn_events_module_ctx,
    tn_events_commands,
    TN_CORE_MODULE,
    NULL,
    NULL,
    NULL,
    NULL,
    TN_MODULE_V1_PADDING
};


static tn_str_t  event_core_name = tn_string("event_core");


static tn_command_t  tn_event_core_commands[] = {

    { tn_string("worker_connections"),
      TN_EVENT_CONF|TN_CONF_TAKE1,
      tn_event_connections,
      0,
      0,
      NULL },

      tn_null_command
};


static tn_event_module_t  tn_event_core_module_ctx = {
    &event_core_name,
    tn_event_core_create_conf,
    tn_event_core_init_conf
};


tn_module_t  tn_event_core_module = {
    TN_MODULE_V1,
    "tn_event_core_module",
    &tn_event_core_module_ctx,
    tn_event_core_commands,
    TN_EVENT_MODULE,
    tn_event_module_init,
    tn_event_process_init,
    NULL,
    NULL,
    TN_MODULE_V1_PADDING
};


void
tn_process_events_and_timers(tn_cycle_t *cycle)
{
    tn_msec_t  timer, delta;

    timer = tn_event_find_timer();

    /* posted events left by a handler must run without waiting */
    if (!tn_queue_empty(&tn_posted_events)) {
        timer = 0;
    }

    delta = tn_current_msec;

    (void) tn_process_events(cycle, timer, TN_UPDATE_TIME|TN_POST_EVENTS);

    delta = tn_current_msec - delta;

    tn_event_process_posted(cycle, &tn_posted_accept_events);

    if (delta) {
        tn_event_expire_timers();
    }

    tn_event_process_posted(cycle, &tn_posted_events);
}


/*
 * With an edge-triggered loop every connection is registered once for
 * both directions, so these only register a connection not yet added.
 */
tn_int_t
tn_handle_read_event(tn_event_t *rev, tn_uint_t flags)
{
    tn_connection_t  *c;

    c = rev->data;

    if (!rev->active && !rev->ready) {
        return tn_add_conn(c);
    }

    return TN_OK;
}


tn_int_t
tn_handle_write_event(tn_event_t *wev, size_t lowat)
{
    tn_connection_t  *c;

    c = wev->data;

    if (!wev->active && !wev->ready && !c->read->active) {
        return tn_add_conn(c);
    }

    return TN_OK;
}


static char *
tn_event_init_conf(tn_cycle_t *cycle, void *conf)
{
    if (tn_get_conf(cycle->conf_ctx, tn_events_module) == NULL) {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "no \"events\" section in configuration");
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


static tn_int_t
tn_event_module_init(tn_cycle_t *cycle)
{
    struct rlimit      rlmt;
    tn_event_conf_t   *ecf;
    void            ***cf;

    cf = tn_get_conf(cycle->conf_ctx, tn_events_module);
    ecf = (*cf)[tn_event_core_module.ctx_index];

    if (getrlimit(RLIMIT_NOFILE, &rlmt) == -1) {
        tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                     "getrlimit(RLIMIT_NOFILE) failed, ignored");

    } else {
        if (ecf->connections > (tn_uint_t) rlmt.rlim_cur) {

            /* raise the soft limit up to the hard one when it helps */
            rlmt.rlim_cur = tn_min((rlim_t) ecf->connections * 2 + 64,
                                   rlmt.rlim_max);

            if (setrlimit(RLIMIT_NOFILE, &rlmt) == -1) {
                tn_log_error(TN_LOG_WARN, cycle->log, tn_errno,
                             "setrlimit(RLIMIT_NOFILE, %L) failed",
                             (int64_t) rlmt.rlim_cur);
            }

            if (ecf->connections > (tn_uint_t) rlmt.rlim_cur) {
                tn_log_error(TN_LOG_WARN, cycle->log, 0,
                             "%ui worker_connections exceed "
                             "open file resource limit: %L",
                             ecf->connections, (int64_t) rlmt.rlim_cur);
            }
        }
    }

    return TN_OK;
}


static tn_int_t
tn_event_process_init(tn_cycle_t *cycle)
{
    tn_uint_t          i;
    tn_event_t        *rev, *wev;
    tn_listening_t    *ls;
    tn_connection_t   *c, *next;
    tn_event_conf_t   *ecf;
    struct rlimit      rlmt;

    ecf = tn_event_get_conf(cycle->conf_ctx, tn_event_core_module);

    tn_queue_init(&tn_posted_accept_events);
    tn_queue_init(&tn_posted_events);

    if (tn_event_timer_init(cycle->log) == TN_ERROR) {
        return TN_ERROR;
    }

    if (tn_epoll_process_init(cycle) != TN_OK) {
        /* fatal */
        exit(2);
    }

    if (getrlimit(RLIMIT_NOFILE, &rlmt) == -1) {
        tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                     "getrlimit(RLIMIT_NOFILE) failed");
        return TN_ERROR;
    }

    cycle->files_n = (tn_uint_t) rlmt.rlim_cur;

    cycle->files = tn_calloc(sizeof(tn_connection_t *) * cycle->files_n,
                             cycle->log);
    if (cycle->files == NULL) {
        return TN_ERROR;
    }

    cycle->connection_n = ecf->connections;

    cycle->connections =
        tn_alloc(sizeof(tn_connection_t) * cycle->connection_n, cycle->log);
    if (cycle->connections == NULL) {
        return TN_ERROR;
    }

    c = cycle->connections;

    cycle->read_events = tn_alloc(sizeof(tn_event_t) * cycle->connection_n,
                                  cycle->log);
    if (cycle->read_events == NULL) {
        return TN_ERROR;
    }

    rev = cycle->read_events;
    for (i = 0; i < cycle->connection_n; i++) {
        rev[i].closed = 1;
        rev[i].instance = 1;
    }

    cycle->write_events = tn_alloc(sizeof(tn_event_t) * cycle->connection_n,
                                   cycle->log);
    if (cycle->write_events == NULL) {
        return TN_ERROR;
    }

    wev = cycle->write_events;
    for (i = 0; i < cycle->connection_n; i++) {
        wev[i].closed = 1;
    }

    i = cycle->connection_n;
    next = NULL;

    do {
        i--;

        c[i].data = next;
        c[i].read = &cycle->read_events[i];
        c[i].write = &cycle->write_events[i];
        c[i].fd = (tn_socket_t) -1;

        next = &c[i];
    } while (i);

    cycle->free_connections = next;
    cycle->free_connection_n = cycle->connection_n;

    /* for each listening socket of this worker */

    ls = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {

        if (ls[i].reuseport && ls[i].worker != tn_worker) {
            continue;
        }

        c = tn_get_connection(ls[i].fd, cycle->log);

        if (c == NULL) {
            return TN_ERROR;
        }

        c->type = ls[i].type;
        c->log = &ls[i].log;

        c->listening = &ls[i];
        ls[i].connection = c;

        rev = c->read;

        rev->log = c->log;
        rev->accept = 1;
        rev->handler = tn_event_accept;

        if (tn_add_event(rev, EPOLLIN, 0) == TN_ERROR) {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


/* the worker no longer serves the sockets of other slots */
void
tn_event_close_other_listening(tn_cycle_t *cycle)
{
    tn_uint_t        i;
    tn_listening_t  *ls;

    ls = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].reuseport && ls[i].worker != tn_worker
            && ls[i].fd != (tn_socket_t) -1)
        {
            (void) tn_close_socket(ls[i].fd);
            ls[i].fd = (tn_socket_t) -1;
        }
    }
}


static char *
tn_events_block(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char                 *rv;
    void               ***ctx;
    tn_uint_t             i;
    tn_conf_t             pcf;
    tn_event_module_t    *m;

    if (*(void **) conf) {
        return "is duplicate";
    }

    /* count the number of the event modules and set up their indices */

    tn_event_max_module = tn_count_modules(cf->cycle, TN_EVENT_MODULE);

    ctx = tn_pcalloc(cf->pool, sizeof(void *));
    if (ctx == NULL) {
        return TN_CONF_ERROR;
    }

    *ctx = tn_pcalloc(cf->pool, tn_event_max_module * sizeof(void *));
    if (*ctx == NULL) {
        return TN_CONF_ERROR;
    }

    *(void **) conf = ctx;

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (cf->cycle->modules[i]->type != TN_EVENT_MODULE) {
            continue;
        }

        m = cf->cycle->modules[i]->ctx;

        if (m->create_conf) {
            (*ctx)[cf->cycle->modules[i]->ctx_index] =
                                                     m->create_conf(cf->cycle);
            if ((*ctx)[cf->cycle->modules[i]->ctx_index] == NULL) {
                return TN_CONF_ERROR;
            }
        }
    }

    pcf = *cf;
    cf->ctx = ctx;
    cf->module_type = TN_EVENT_MODULE;
    cf->cmd_type = TN_EVENT_CONF;

    rv = tn_conf_parse(cf, NULL);

    *cf = pcf;

    if (rv != TN_CONF_OK) {
        return rv;
    }

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (cf->cycle->modules[i]->type != TN_EVENT_MODULE) {
            continue;
        }

        m = cf->cycle->modules[i]->ctx;

        if (m->init_conf) {
            rv = m->init_conf(cf->cycle,
                              (*ctx)[cf->cycle->modules[i]->ctx_index]);
            if (rv != TN_CONF_OK) {
                return rv;
            }
        }
    }

    return TN_CONF_OK;
}


static char *
tn_event_connections(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_event_conf_t  *ecf = conf;

    tn_str_t  *value;

    if (ecf->connections != TN_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    ecf->connections = tn_atoi(value[1].data, value[1].len);
    if (ecf->connections == (tn_uint_t) TN_ERROR || ecf->connections < 16) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                           "invalid number \"%V\"", &value[1]);

        return TN_CONF_ERROR;
    }

    cf->cycle->connection_n = ecf->connections;

    return TN_CONF_OK;
}


static void *
tn_event_core_create_conf(tn_cycle_t *cycle)
{
    tn_event_conf_t  *ecf;

    ecf = tn_palloc(cycle->pool, sizeof(tn_event_conf_t));
    if (ecf == NULL) {
        return NULL;
    }

    ecf->connections = TN_CONF_UNSET_UINT;
    ecf->use = TN_CONF_UNSET_UINT;
    ecf->accept_mutex = TN_CONF_UNSET;
    ecf->accept_mutex_delay = TN_CONF_UNSET_MSEC;

    return ecf;
}


static char *
tn_event_core_init_conf(tn_cycle_t *cycle, void *conf)
{
    tn_event_conf_t  *ecf = conf;

    tn_conf_init_uint_value(ecf->connections, DEFAULT_CONNECTIONS);
    cycle->connection_n = ecf->connections;

    tn_conf_init_uint_value(ecf->use, 0);
    tn_conf_init_value(ecf->accept_mutex, 0);
    tn_conf_init_msec_value(ecf->accept_mutex_delay, 500);

    return TN_CONF_OK;
}
