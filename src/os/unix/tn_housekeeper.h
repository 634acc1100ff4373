
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_HOUSEKEEPER_H_INCLUDED_
#define _TN_HOUSEKEEPER_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


/*
 * The housekeeper is one process beside the workers (like nginx's cache
 * manager) that runs timed jobs: the DMARC aggregate report run, backups,
 * compaction, expiry.  It runs an event loop of its own with the thread
 * pool and the resolver, and accepts no connections.
 *
 * A module registers its jobs at configuration time, once per cycle (in
 * init_module, or in the postconfiguration of a mail module):
 *
 *     static tn_housekeeper_job_t  job;     (or from cycle->pool)
 *
 *     tn_str_set(&job.name, "dmarc-report");
 *     job.period = 0;                       (a daily job)
 *     job.daily = TN_HOUSEKEEPER_DAILY_DEFAULT;
 *     job.handler = tn_dmarc_report_job;
 *     job.data = conf;
 *
 *     if (tn_housekeeper_add(cycle, &job) != TN_OK) {
 *         return TN_ERROR;
 *     }
 *
 * The job struct must live as long as the cycle: the registry keeps the
 * pointer.  On reload the new cycle registers again and a new
 * housekeeper runs the new cycle's jobs.
 *
 * The handler runs in the housekeeper's event loop.  It returns:
 *   TN_OK     the run is finished;
 *   TN_ERROR  the run failed (logged; the run still counts as done: the
 *             job is not retried before its next time);
 *   TN_AGAIN  the run goes on asynchronously (thread pool tasks, DNS,
 *             connections); the job calls tn_housekeeper_job_done(job,
 *             TN_OK or TN_ERROR) exactly once when it is finished.
 * A job is never started again while a run of it is in progress.
 *
 * When the housekeeper is told to quit (reload, "tern -s quit") it
 * starts no new run and exits once the running ones are done; a job that
 * can cut its run short may look at tn_housekeeper_exiting().
 *
 * The time of each job's last run is kept in PREFIX/housekeeper.state,
 * so a restart neither repeats nor skips a run: a job whose time passed
 * while Tern was down runs once at the housekeeper's start.  A job seen
 * for the first time is not run at once: its first run is its next
 * regular time.
 */


/* job->daily: the time of "housekeeper_time" */
#define TN_HOUSEKEEPER_DAILY_DEFAULT  -1
/* job->daily: not a daily job (period is used) */
#define TN_HOUSEKEEPER_NOT_DAILY      -2


typedef struct tn_housekeeper_job_s  tn_housekeeper_job_t;

typedef tn_int_t (*tn_housekeeper_handler_pt)(tn_cycle_t *cycle,
    tn_housekeeper_job_t *job);


struct tn_housekeeper_job_s {
    /* unique; letters, digits, "-", "_", "."; the key in the state file */
    tn_str_t                    name;

    /* seconds between two runs; used when daily is TN_HOUSEKEEPER_NOT_DAILY */
    time_t                      period;

    /*
     * A daily job: the local time of day of its run in seconds after
     * midnight (0..86399), or TN_HOUSEKEEPER_DAILY_DEFAULT for the time
     * of "housekeeper_time"; TN_HOUSEKEEPER_NOT_DAILY for a job that runs
     * every period seconds.
     */
    tn_int_t                    daily;

    tn_housekeeper_handler_pt   handler;
    void                       *data;

    /* set by the housekeeper, read-only for the job */

    time_t                      last;       /* the last run's start */
    time_t                      next;       /* when it runs next */
    time_t                      started;    /* this run's start */
    tn_event_t                  timer;

    unsigned                    running:1;
};


/* at configuration time: TN_OK, or TN_ERROR (logged) for a bad job */
tn_int_t tn_housekeeper_add(tn_cycle_t *cycle, tn_housekeeper_job_t *job);

/* the end of a run that returned TN_AGAIN; rc is TN_OK or TN_ERROR */
void tn_housekeeper_job_done(tn_housekeeper_job_t *job, tn_int_t rc);

/* the housekeeper was told to quit: a running job may stop early */
tn_uint_t tn_housekeeper_exiting(void);


/*
 * When a job runs next, given its last run ("last", 0: never), the wall
 * clock "now", its period and its daily time (as job->daily, resolved:
 * TN_HOUSEKEEPER_NOT_DAILY or 0..86399 seconds after local midnight).
 * A result not after "now" means the job is due.  When the clock went
 * back (last > now), a job waits at most until its second regular time
 * after now rather than until its regular time after the future "last".
 */
time_t tn_housekeeper_next_run(time_t last, time_t now, time_t period,
    tn_int_t daily);


/* for the process code (src/os/unix/tn_process_cycle.c) */

/* "housekeeper on" in this cycle's configuration */
tn_uint_t tn_housekeeper_enabled(tn_cycle_t *cycle);
/* in the housekeeper process after the event modules were set up */
tn_int_t tn_housekeeper_init_process(tn_cycle_t *cycle);
/* SIGUSR2: every job that is not running runs now */
void tn_housekeeper_run_now(tn_cycle_t *cycle);
/* QUIT: no new runs; busy() says whether runs or a state write remain */
void tn_housekeeper_stop(tn_cycle_t *cycle);
tn_uint_t tn_housekeeper_busy(void);


extern tn_module_t  tn_housekeeper_module;


#endif /* _TN_HOUSEKEEPER_H_INCLUDED_ */
