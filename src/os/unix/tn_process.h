
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_PROCESS_H_INCLUDED_
#define _TN_PROCESS_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


#define TN_MAX_PROCESSES         1024

#define TN_PROCESS_SINGLE        0
#define TN_PROCESS_MASTER        1
#define TN_PROCESS_WORKER        3
#define TN_PROCESS_HELPER        4
#define TN_PROCESS_CLI           5


typedef void (*tn_spawn_proc_pt) (tn_cycle_t *cycle, void *data);

typedef struct {
    tn_pid_t            pid;
    int                 status;
    tn_spawn_proc_pt    proc;
    void               *data;
    char               *name;

    /* the worker slot; selects its SO_REUSEPORT listening sockets */
    tn_int_t            worker;
    tn_uint_t           generation;

    unsigned            respawn:1;
    unsigned            exiting:1;
    unsigned            exited:1;
} tn_process_t;


#define tn_getpid   getpid
#define tn_getppid  getppid

tn_pid_t tn_spawn_process(tn_cycle_t *cycle, tn_spawn_proc_pt proc,
    void *data, char *name, tn_int_t worker);
tn_int_t tn_init_signals(tn_log_t *log);
tn_int_t tn_daemon(tn_log_t *log);
void tn_master_process_cycle(tn_cycle_t *cycle);

void tn_setproctitle(char *title);
char *tn_proctitle_args(void);
void tn_process_reap(void);
void tn_worker_process_cycle(tn_cycle_t *cycle, void *data);
void tn_housekeeper_process_cycle(tn_cycle_t *cycle, void *data);


extern tn_uint_t      tn_process;
extern tn_uint_t      tn_worker;
extern tn_pid_t       tn_pid;
extern tn_pid_t       tn_parent;
extern tn_int_t       tn_last_process;
extern tn_process_t   tn_processes[TN_MAX_PROCESSES];
/* in a child: its index in tn_processes[], set before the fork */
extern tn_int_t       tn_process_slot;

extern sig_atomic_t   tn_reap;
extern sig_atomic_t   tn_sigio;
extern sig_atomic_t   tn_sigalrm;
extern sig_atomic_t   tn_quit;
extern sig_atomic_t   tn_terminate;
extern sig_atomic_t   tn_reconfigure;
extern sig_atomic_t   tn_reopen;
/* SIGUSR2: the housekeeper runs every job now (the master passes it on) */
extern sig_atomic_t   tn_run_jobs;
extern sig_atomic_t   tn_exiting;
extern tn_uint_t      tn_daemonized;


#endif /* _TN_PROCESS_H_INCLUDED_ */
