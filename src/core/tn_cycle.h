
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_CYCLE_H_INCLUDED_
#define _TN_CYCLE_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


#define TN_CYCLE_POOL_SIZE     TN_DEFAULT_POOL_SIZE


/* everything read from one configuration: replaced whole on reload */
struct tn_cycle_s {
    void                  ****conf_ctx;
    tn_pool_t               *pool;

    tn_log_t                *log;
    tn_log_t                 new_log;

    tn_uint_t                log_use_stderr;

    tn_connection_t        **files;
    tn_connection_t         *free_connections;
    tn_uint_t                free_connection_n;

    tn_module_t            **modules;
    tn_uint_t                modules_n;

    tn_queue_t               reusable_connections_queue;
    tn_uint_t                reusable_connections_n;
    time_t                   connections_reuse_time;

    tn_array_t               listening;
    tn_array_t               paths;

    tn_list_t                open_files;

    tn_uint_t                connection_n;
    tn_uint_t                files_n;

    tn_connection_t         *connections;
    tn_event_t              *read_events;
    tn_event_t              *write_events;

    tn_cycle_t              *old_cycle;

    tn_str_t                 conf_file;
    tn_str_t                 conf_param;
    tn_str_t                 conf_prefix;
    tn_str_t                 prefix;
    tn_str_t                 error_log;
    tn_str_t                 hostname;
};


typedef struct {
    tn_flag_t                daemon;
    tn_flag_t                master;

    tn_msec_t                shutdown_timeout;

    tn_int_t                 worker_processes;

    tn_int_t                 rlimit_nofile;

    uid_t                    user;
    gid_t                    group;
    char                    *username;

    tn_str_t                 pid;
    tn_str_t                 oldpid;

    tn_uint_t                thread_pool_threads;
} tn_core_conf_t;


#define tn_is_init_cycle(cycle)  (cycle->conf_ctx == NULL)


tn_cycle_t *tn_init_cycle(tn_cycle_t *old_cycle);
tn_int_t tn_create_pidfile(tn_str_t *name, tn_log_t *log);
void tn_delete_pidfile(tn_cycle_t *cycle);
tn_int_t tn_signal_process(tn_cycle_t *cycle, char *sig);
void tn_reopen_files(tn_cycle_t *cycle, uid_t user);
tn_int_t tn_create_paths(tn_cycle_t *cycle, uid_t user);


extern volatile tn_cycle_t  *tn_cycle;
extern tn_module_t           tn_core_module;
extern tn_uint_t             tn_test_config;
extern tn_uint_t             tn_quiet_mode;


#endif /* _TN_CYCLE_H_INCLUDED_ */
