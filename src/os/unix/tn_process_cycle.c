
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_shm_counter.h>
#include <tn_housekeeper.h>


static void tn_start_worker_processes(tn_cycle_t *cycle, tn_int_t n,
    tn_uint_t generation);
static void tn_start_housekeeper_process(tn_cycle_t *cycle,
    tn_uint_t generation);
static tn_uint_t tn_signal_housekeeper(int signo);
static void tn_process_set_generation(tn_pid_t pid, tn_uint_t generation);
static void tn_signal_worker_processes(tn_cycle_t *cycle, int signo,
    tn_uint_t older_than);
static tn_uint_t tn_reap_children(tn_cycle_t *cycle);
static void tn_master_process_exit(tn_cycle_t *cycle);
static void tn_worker_process_init(tn_cycle_t *cycle, tn_int_t worker);
static void tn_worker_process_exit(tn_cycle_t *cycle);
static void tn_worker_shutdown_handler(tn_event_t *ev);
static void tn_process_loop(tn_cycle_t *cycle);
static void tn_worker_shutdown(tn_cycle_t *cycle);


void tn_event_close_other_listening(tn_cycle_t *cycle);

static tn_uint_t  tn_generation;
static tn_event_t tn_shutdown_event;
static tn_connection_t  tn_shutdown_dummy;


void
tn_master_process_cycle(tn_cycle_t *cycle)
{
    u_char           *p;
    tn_uint_t         live;
    tn_msec_t         delay;
    sigset_t          set;
    tn_cycle_t       *new_cycle;
    tn_core_conf_t   *ccf;
    struct itimerval  itv;
    u_char            title[512];

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGALRM);
    sigaddset(&set, SIGIO);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGQUIT);

    if (sigprocmask(SIG_BLOCK, &set, NULL) == -1) {
        tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                      "sigprocmask() failed");
    }

    sigemptyset(&set);

    p = tn_slprintf(title, title + sizeof(title) - 1,
                    "tern: master process %s", tn_proctitle_args());
    *p = '\0';

    tn_setproctitle((char *) title);

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    tn_start_worker_processes(cycle, ccf->worker_processes, tn_generation);
    tn_start_housekeeper_process(cycle, tn_generation);

    delay = 0;
    live = 1;

    for ( ;; ) {
        if (delay) {
            if (tn_sigalrm) {
                delay *= 2;
                tn_sigalrm = 0;
            }

            itv.it_interval.tv_sec = 0;
            itv.it_interval.tv_usec = 0;
            itv.it_value.tv_sec = delay / 1000;
            itv.it_value.tv_usec = (delay % 1000 ) * 1000;

            if (setitimer(ITIMER_REAL, &itv, NULL) == -1) {
                tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                              "setitimer() failed");
            }
        }

        sigsuspend(&set);

        tn_time_update();

        if (tn_reap) {
            tn_reap = 0;
            tn_process_reap();

            live = tn_reap_children(cycle);
        }

        if (!live && (tn_terminate || tn_quit)) {
            tn_master_process_exit(cycle);
        }

        if (tn_terminate) {
            if (delay == 0) {
                delay = 50;
            }

            if (delay > 1000) {
                tn_signal_worker_processes(cycle, SIGKILL, (tn_uint_t) -1);
            } else {
                tn_signal_worker_processes(cycle, SIGTERM, (tn_uint_t) -1);
            }

            continue;
        }

        if (tn_quit) {
            tn_signal_worker_processes(cycle, SIGQUIT, (tn_uint_t) -1);
            tn_close_listening_sockets(cycle);

            continue;
        }

        if (tn_reconfigure) {
            tn_reconfigure = 0;

            tn_log_error(TN_LOG_NOTICE, cycle->log, 0, "reconfiguring");

            new_cycle = tn_init_cycle(cycle);
            if (new_cycle == NULL) {
                tn_log_error(TN_LOG_ERR, cycle->log, 0,
                             "the new configuration has errors, "
                             "the old one is kept");
                continue;
            }

            cycle = new_cycle;
            tn_cycle = cycle;

            ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx,
                                                   tn_core_module);

            tn_generation++;
            tn_start_worker_processes(cycle, ccf->worker_processes,
                                      tn_generation);
            tn_start_housekeeper_process(cycle, tn_generation);

            /*
             * Old workers finish their sessions and exit; the old
             * housekeeper finishes its running jobs.
             */
            tn_signal_worker_processes(cycle, SIGQUIT, tn_generation);

            live = 1;
        }

        if (tn_reopen) {
            tn_reopen = 0;
            tn_log_error(TN_LOG_NOTICE, cycle->log, 0, "reopening logs");
            tn_reopen_files(cycle, ccf->user);
            tn_log_error(TN_LOG_NOTICE, cycle->log, 0, "logs reopened");
            tn_signal_worker_processes(cycle, SIGUSR1, (tn_uint_t) -1);
        }

        if (tn_run_jobs) {
            tn_run_jobs = 0;

            if (tn_signal_housekeeper(SIGUSR2)) {
                tn_log_error(TN_LOG_NOTICE, cycle->log, 0,
                             "running the housekeeper's jobs now");

            } else {
                tn_log_error(TN_LOG_NOTICE, cycle->log, 0,
                             "SIGUSR2 ignored: no housekeeper process");
            }
        }
    }
}


static void
tn_process_set_generation(tn_pid_t pid, tn_uint_t generation)
{
    tn_int_t  s;

    for (s = 0; s < tn_last_process; s++) {
        if (tn_processes[s].pid == pid) {
            tn_processes[s].generation = generation;
        }
    }
}


static void
tn_start_worker_processes(tn_cycle_t *cycle, tn_int_t n,
    tn_uint_t generation)
{
    tn_int_t  i;
    tn_pid_t  pid;

    for (i = 0; i < n; i++) {

        pid = tn_spawn_process(cycle, tn_worker_process_cycle,
                               (void *) (intptr_t) i, "worker process", i);

        if (pid != TN_INVALID_PID) {
            tn_process_set_generation(pid, generation);
        }
    }
}


/*
 * The housekeeper: one process beside the workers for the timed jobs,
 * unless "housekeeper off".  It is respawned and replaced on reload as a
 * worker is, and it is told apart by its process function.
 */
static void
tn_start_housekeeper_process(tn_cycle_t *cycle, tn_uint_t generation)
{
    tn_pid_t  pid;

    if (!tn_housekeeper_enabled(cycle)) {
        return;
    }

    pid = tn_spawn_process(cycle, tn_housekeeper_process_cycle, NULL,
                           "housekeeper process", -1);

    if (pid != TN_INVALID_PID) {
        tn_process_set_generation(pid, generation);
    }
}


/* the running housekeeper, not an exiting one; returns how many */
static tn_uint_t
tn_signal_housekeeper(int signo)
{
    tn_int_t   i;
    tn_uint_t  n;

    n = 0;

    for (i = 0; i < tn_last_process; i++) {

        if (tn_processes[i].pid == -1
            || tn_processes[i].exited
            || tn_processes[i].exiting
            || tn_processes[i].proc != tn_housekeeper_process_cycle)
        {
            continue;
        }

        if (kill(tn_processes[i].pid, signo) == -1) {
            tn_log_error(TN_LOG_ERR, tn_cycle->log, tn_errno,
                         "kill(%d, %d) failed",
                         (int) tn_processes[i].pid, signo);
            continue;
        }

        n++;
    }

    return n;
}


/* signals every worker of a generation before older_than */
static void
tn_signal_worker_processes(tn_cycle_t *cycle, int signo,
    tn_uint_t older_than)
{
    tn_int_t  i;

    for (i = 0; i < tn_last_process; i++) {

        if (tn_processes[i].pid == -1 || tn_processes[i].exited) {
            continue;
        }

        if (older_than != (tn_uint_t) -1
            && tn_processes[i].generation >= older_than)
        {
            continue;
        }

        if (signo == SIGQUIT) {
            if (tn_processes[i].exiting) {
                continue;
            }

            tn_processes[i].exiting = 1;
        }

        if (kill(tn_processes[i].pid, signo) == -1) {
            if (tn_errno == TN_ESRCH) {
                tn_processes[i].exited = 1;
                tn_processes[i].exiting = 0;
                tn_reap = 1;
            }

            continue;
        }
    }
}


/* respawns workers that died; returns whether any child is alive */
static tn_uint_t
tn_reap_children(tn_cycle_t *cycle)
{
    tn_int_t   i;
    tn_uint_t  live;

    live = 0;

    for (i = 0; i < tn_last_process; i++) {

        if (tn_processes[i].pid == -1) {
            continue;
        }

        if (!tn_processes[i].exited) {
            live = 1;
            continue;
        }

        /*
         * What the dead process counted in the shared counters (its
         * connections) goes with it, before anyone gets its slot.
         */
        tn_shm_counter_clear_slot(i);

        if (tn_processes[i].respawn
            && !tn_processes[i].exiting
            && !tn_terminate
            && !tn_quit)
        {
            tn_uint_t  generation;
            tn_pid_t   pid;

            generation = tn_processes[i].generation;
            tn_processes[i].pid = -1;

            pid = tn_spawn_process(cycle, tn_processes[i].proc,
                                   tn_processes[i].data,
                                   tn_processes[i].name,
                                   tn_processes[i].worker);

            if (pid == TN_INVALID_PID) {
                tn_log_error(TN_LOG_ALERT, cycle->log, 0,
                             "could not respawn %s",
                             tn_processes[i].name);
                continue;
            }

            tn_process_set_generation(pid, generation);

            live = 1;

            continue;
        }

        tn_processes[i].pid = -1;

        if (i == tn_last_process - 1) {
            tn_last_process--;
        }
    }

    return live;
}


static void
tn_master_process_exit(tn_cycle_t *cycle)
{
    tn_uint_t  i;

    tn_delete_pidfile(cycle);

    tn_log_error(TN_LOG_NOTICE, cycle->log, 0, "exit");

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->exit_master) {
            cycle->modules[i]->exit_master(cycle);
        }
    }

    tn_close_listening_sockets(cycle);

    tn_destroy_pool(cycle->pool);

    exit(0);
}


void
tn_worker_process_cycle(tn_cycle_t *cycle, void *data)
{
    tn_int_t  worker = (intptr_t) data;

    tn_process = TN_PROCESS_WORKER;
    tn_worker = worker;

    tn_worker_process_init(cycle, worker);

    tn_setproctitle("tern: worker process");

    tn_process_loop(cycle);
}


/*
 * The housekeeper: the jobs' timers, their thread pool tasks and DNS
 * queries; no listening socket.  QUIT lets running jobs finish.
 */
void
tn_housekeeper_process_cycle(tn_cycle_t *cycle, void *data)
{
    tn_process = TN_PROCESS_HELPER;

    /* the listening sockets are the workers': close them all */
    tn_close_listening_sockets(cycle);

    tn_worker_process_init(cycle, -1);

    /*
     * A master that dies without stopping it (SIGKILL, a crash) takes the
     * housekeeper along: an orphan would keep the job lock, and the next
     * master's housekeeper would wait for it for ever.  SIGTERM is the
     * fast stop; the check after it closes the race with a master that
     * died before the request was made.  After the privileges are
     * dropped: a change of user clears the request.
     */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == -1) {
        tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                     "prctl(PR_SET_PDEATHSIG) failed");
    }

    if (getppid() != tn_parent) {
        exit(0);
    }

    tn_setproctitle("tern: housekeeper process");

    if (tn_housekeeper_init_process(cycle) != TN_OK) {
        /* fatal */
        exit(2);
    }

    tn_process_loop(cycle);
}


/* the event loop of a worker or of the housekeeper, and their signals */
static void
tn_process_loop(tn_cycle_t *cycle)
{
    tn_uint_t  helper;

    helper = (tn_process == TN_PROCESS_HELPER);

    for ( ;; ) {

        if (tn_exiting
            && tn_thread_pool_queued() == 0
            && (helper ? !tn_housekeeper_busy()
                       : tn_event_no_timers_left() == TN_OK))
        {
            tn_log_error(TN_LOG_NOTICE, cycle->log, 0, "exiting");
            tn_worker_process_exit(cycle);
        }

        tn_process_events_and_timers(cycle);

        if (tn_terminate) {
            tn_log_error(TN_LOG_NOTICE, cycle->log, 0, "exiting");
            tn_worker_process_exit(cycle);
        }

        if (tn_quit) {
            tn_quit = 0;
            tn_log_error(TN_LOG_NOTICE, cycle->log, 0,
                         "gracefully shutting down");
            tn_setproctitle(helper
                            ? "tern: housekeeper process is shutting down"
                            : "tern: worker process is shutting down");

            if (!tn_exiting) {
                tn_exiting = 1;

                if (helper) {
                    tn_housekeeper_stop(cycle);

                } else {
                    tn_worker_shutdown(cycle);
                }
            }
        }

        if (tn_reopen) {
            tn_reopen = 0;
            tn_log_error(TN_LOG_NOTICE, cycle->log, 0, "reopening logs");
            tn_reopen_files(cycle, (uid_t) -1);
        }

        if (tn_run_jobs) {
            tn_run_jobs = 0;

            if (helper && !tn_exiting) {
                tn_housekeeper_run_now(cycle);
            }
        }
    }
}


/*
 * Sessions go on until the client ends them, they time out, or
 * worker_shutdown_timeout passes.
 */
static void
tn_worker_shutdown(tn_cycle_t *cycle)
{
    tn_core_conf_t  *ccf;

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    if (ccf->shutdown_timeout) {
        tn_shutdown_dummy.fd = -1;
        tn_shutdown_event.data = &tn_shutdown_dummy;
        tn_shutdown_event.handler = tn_worker_shutdown_handler;
        tn_shutdown_event.log = cycle->log;
        tn_shutdown_event.cancelable = 1;

        tn_event_add_timer(&tn_shutdown_event, ccf->shutdown_timeout);
    }

    tn_close_listening_sockets(cycle);
}


/* worker_shutdown_timeout passed: sessions still open are closed */
static void
tn_worker_shutdown_handler(tn_event_t *ev)
{
    tn_uint_t         i;
    tn_cycle_t       *cycle;
    tn_connection_t  *c;

    cycle = (tn_cycle_t *) tn_cycle;

    tn_log_error(TN_LOG_NOTICE, cycle->log, 0,
                 "worker_shutdown_timeout passed, closing connections");

    c = cycle->connections;

    for (i = 0; i < cycle->connection_n; i++) {

        if (c[i].fd == (tn_socket_t) -1 || c[i].read == NULL
            || c[i].read->accept || c[i].pool == NULL)
        {
            continue;
        }

        c[i].close = 1;
        c[i].error = 1;

        c[i].read->handler(c[i].read);
    }
}


static void
tn_worker_process_init(tn_cycle_t *cycle, tn_int_t worker)
{
    sigset_t          set;
    tn_uint_t         i;
    tn_core_conf_t   *ccf;

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    if (ccf->rlimit_nofile != TN_CONF_UNSET) {
        struct rlimit  rlmt;

        rlmt.rlim_cur = (rlim_t) ccf->rlimit_nofile;
        rlmt.rlim_max = (rlim_t) ccf->rlimit_nofile;

        if (setrlimit(RLIMIT_NOFILE, &rlmt) == -1) {
            tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                         "setrlimit(RLIMIT_NOFILE, %i) failed",
                         ccf->rlimit_nofile);
        }
    }

    if (geteuid() == 0 && ccf->user != (uid_t) TN_CONF_UNSET_UINT) {
        if (setgid(ccf->group) == -1) {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                         "setgid(%d) failed", (int) ccf->group);
            /* fatal */
            exit(2);
        }

        if (initgroups(ccf->username, ccf->group) == -1) {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                         "initgroups(%s, %d) failed",
                         ccf->username, (int) ccf->group);
        }

        if (setuid(ccf->user) == -1) {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                         "setuid(%d) failed", (int) ccf->user);
            /* fatal */
            exit(2);
        }

        /* allow core dumps after setuid() for debugging */
        (void) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    }

    sigemptyset(&set);

    if (sigprocmask(SIG_SETMASK, &set, NULL) == -1) {
        tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                      "sigprocmask() failed");
    }

    srandom(((unsigned) tn_pid << 16) ^ tn_time());

    tn_event_close_other_listening(cycle);

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->init_process) {
            if (cycle->modules[i]->init_process(cycle) == TN_ERROR) {
                /* fatal */
                exit(2);
            }
        }
    }
}


static void
tn_worker_process_exit(tn_cycle_t *cycle)
{
    tn_uint_t         i;
    tn_connection_t  *c;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->exit_process) {
            cycle->modules[i]->exit_process(cycle);
        }
    }

    if (tn_exiting) {
        c = cycle->connections;
        for (i = 0; i < cycle->connection_n; i++) {
            if (c[i].fd != -1 && c[i].read && !c[i].read->accept
                && c[i].pool != NULL)
            {
                tn_log_error(TN_LOG_ALERT, cycle->log, 0,
                             "*%ui open socket #%d left in connection %ui",
                             (tn_uint_t) c[i].number, c[i].fd, i);
            }
        }
    }

    tn_log_error(TN_LOG_NOTICE, cycle->log, 0, "exit");

    exit(0);
}
