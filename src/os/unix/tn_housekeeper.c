
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_housekeeper.h>

#include <sys/file.h>


/*
 * The registry of timed jobs, their schedule and the state file.  The
 * process itself (fork, signals, the loop) is in tn_process_cycle.c.
 */


#define TN_HOUSEKEEPER_STATE       "housekeeper.state"
#define TN_HOUSEKEEPER_STATE_TMP   "housekeeper.state.tmp"
#define TN_HOUSEKEEPER_LOCK        "housekeeper.lock"

/* the longest timer: a change of the wall clock is seen within a minute */
#define TN_HOUSEKEEPER_MAX_SLEEP   60

/* the previous housekeeper may still finish a run: try the lock again */
#define TN_HOUSEKEEPER_LOCK_RETRY  100

#define TN_HOUSEKEEPER_STATE_MAX   65536


typedef struct {
    tn_flag_t                enable;
    tn_int_t                 daily;      /* housekeeper_time, seconds */
    tn_array_t               jobs;       /* tn_housekeeper_job_t * */
} tn_housekeeper_conf_t;


/* a line of the state file for a job this configuration does not have */
typedef struct {
    tn_str_t                 name;
    time_t                   last;
} tn_housekeeper_other_t;


/* a state file write in the thread pool */
typedef struct {
    u_char                  *path;
    u_char                  *tmp;
    u_char                  *dir;
    const char              *failed;    /* the call that failed */
    tn_err_t                 err;
    size_t                   len;
    u_char                  *data;      /* follows the ctx */
} tn_housekeeper_write_t;


static void *tn_housekeeper_create_conf(tn_cycle_t *cycle);
static char *tn_housekeeper_init_conf(tn_cycle_t *cycle, void *conf);
static char *tn_housekeeper_time(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
static tn_uint_t tn_housekeeper_valid_name(tn_str_t *name);
static time_t tn_housekeeper_after(time_t t, time_t period, tn_int_t daily);
static tn_int_t tn_housekeeper_daily(tn_housekeeper_job_t *job);
static void tn_housekeeper_lock_handler(tn_event_t *ev);
static void tn_housekeeper_start(tn_cycle_t *cycle);
static void tn_housekeeper_read_state(tn_cycle_t *cycle);
static void tn_housekeeper_set_last(tn_cycle_t *cycle, tn_str_t *name,
    time_t last);
static void tn_housekeeper_schedule(tn_housekeeper_job_t *job,
    tn_uint_t log);
static void tn_housekeeper_timer_handler(tn_event_t *ev);
static void tn_housekeeper_run(tn_housekeeper_job_t *job);
static void tn_housekeeper_write_state(void);
static void tn_housekeeper_write_thread(void *data, tn_log_t *log);
static void tn_housekeeper_write_done(tn_event_t *ev);


static tn_command_t  tn_housekeeper_commands[] = {

    { tn_string("housekeeper"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      0,
      offsetof(tn_housekeeper_conf_t, enable),
      NULL },

    { tn_string("housekeeper_time"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_housekeeper_time,
      0,
      offsetof(tn_housekeeper_conf_t, daily),
      NULL },

      tn_null_command
};


static tn_core_module_t  tn_housekeeper_module_ctx = {
    tn_string("housekeeper"),
    tn_housekeeper_create_conf,
    tn_housekeeper_init_conf
};


tn_module_t  tn_housekeeper_module = {
    TN_MODULE_V1,
    "tn_housekeeper_module",
    &tn_housekeeper_module_ctx,
    tn_housekeeper_commands,
    TN_CORE_MODULE,
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    TN_MODULE_V1_PADDING
};


/* the housekeeper process's own state */
static tn_cycle_t              *tn_hk_cycle;
static tn_housekeeper_conf_t   *tn_hk_conf;
static tn_fd_t                  tn_hk_lock_fd = TN_INVALID_FILE;
static tn_event_t               tn_hk_lock_event;
static tn_str_t                 tn_hk_state_path;
static tn_str_t                 tn_hk_tmp_path;
static tn_str_t                 tn_hk_dir;
static tn_uint_t                tn_hk_running;
static tn_uint_t                tn_hk_started;
static tn_uint_t                tn_hk_exiting;
static tn_uint_t                tn_hk_run_pending;
static tn_uint_t                tn_hk_writing;
static tn_uint_t                tn_hk_dirty;
static tn_array_t               tn_hk_others;


static void *
tn_housekeeper_create_conf(tn_cycle_t *cycle)
{
    tn_housekeeper_conf_t  *hcf;

    hcf = tn_pcalloc(cycle->pool, sizeof(tn_housekeeper_conf_t));
    if (hcf == NULL) {
        return NULL;
    }

    hcf->enable = TN_CONF_UNSET;
    hcf->daily = TN_CONF_UNSET;

    /* jobs may be added while the configuration is parsed */
    if (tn_array_init(&hcf->jobs, cycle->pool, 4,
                      sizeof(tn_housekeeper_job_t *))
        != TN_OK)
    {
        return NULL;
    }

    return hcf;
}


static char *
tn_housekeeper_init_conf(tn_cycle_t *cycle, void *conf)
{
    tn_housekeeper_conf_t  *hcf = conf;

    tn_conf_init_value(hcf->enable, 1);
    tn_conf_init_value(hcf->daily, 4 * 3600);

    return TN_CONF_OK;
}


/* "housekeeper_time HH:MM": the local time of the daily jobs */
static char *
tn_housekeeper_time(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_housekeeper_conf_t  *hcf = conf;

    u_char    *p;
    tn_str_t  *value;
    tn_int_t   hour, min;

    if (hcf->daily != TN_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;
    p = value[1].data;

    if (value[1].len != 5 || p[2] != ':') {
        goto invalid;
    }

    hour = tn_atoi(p, 2);
    min = tn_atoi(p + 3, 2);

    if (hour == TN_ERROR || min == TN_ERROR || hour > 23 || min > 59) {
        goto invalid;
    }

    hcf->daily = hour * 3600 + min * 60;

    return TN_CONF_OK;

invalid:

    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                      "invalid time \"%V\" in \"%V\", "
                      "expected HH:MM (00:00 to 23:59)",
                      &value[1], &cmd->name);

    return TN_CONF_ERROR;
}


tn_int_t
tn_housekeeper_add(tn_cycle_t *cycle, tn_housekeeper_job_t *job)
{
    tn_uint_t                i;
    tn_housekeeper_job_t   **jobs, **jp;
    tn_housekeeper_conf_t   *hcf;

    hcf = (tn_housekeeper_conf_t *) tn_get_conf(cycle->conf_ctx,
                                                tn_housekeeper_module);

    if (!tn_housekeeper_valid_name(&job->name) || job->handler == NULL) {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "housekeeper job \"%V\": invalid name or no handler",
                     &job->name);
        return TN_ERROR;
    }

    if (job->daily == TN_HOUSEKEEPER_NOT_DAILY ? job->period <= 0
        : job->daily != TN_HOUSEKEEPER_DAILY_DEFAULT
          && (job->daily < 0 || job->daily >= 86400))
    {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "housekeeper job \"%V\": invalid period or daily time",
                     &job->name);
        return TN_ERROR;
    }

    jobs = hcf->jobs.elts;

    for (i = 0; i < hcf->jobs.nelts; i++) {
        if (jobs[i]->name.len == job->name.len
            && tn_strncmp(jobs[i]->name.data, job->name.data,
                          job->name.len) == 0)
        {
            tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                         "duplicate housekeeper job \"%V\"", &job->name);
            return TN_ERROR;
        }
    }

    jp = tn_array_push(&hcf->jobs);
    if (jp == NULL) {
        return TN_ERROR;
    }

    job->last = 0;
    job->next = 0;
    job->running = 0;

    *jp = job;

    return TN_OK;
}


/* 1 to 64 letters, digits, "-", "_", "." */
static tn_uint_t
tn_housekeeper_valid_name(tn_str_t *name)
{
    u_char  *p;

    if (name->len == 0 || name->len > 64) {
        return 0;
    }

    for (p = name->data; p < name->data + name->len; p++) {
        if (!isalnum(*p) && *p != '-' && *p != '_' && *p != '.') {
            return 0;
        }
    }

    return 1;
}


tn_uint_t
tn_housekeeper_enabled(tn_cycle_t *cycle)
{
    tn_housekeeper_conf_t  *hcf;

    hcf = (tn_housekeeper_conf_t *) tn_get_conf(cycle->conf_ctx,
                                                tn_housekeeper_module);

    return hcf->enable == 1;
}


tn_uint_t
tn_housekeeper_exiting(void)
{
    return tn_hk_exiting;
}


tn_uint_t
tn_housekeeper_busy(void)
{
    return tn_hk_running || tn_hk_writing;
}


/* the schedule */


/* the first regular time of a job after t */
static time_t
tn_housekeeper_after(time_t t, time_t period, tn_int_t daily)
{
    time_t     r;
    tn_int_t   i, n;
    struct tm  tm, day;

    if (daily == TN_HOUSEKEEPER_NOT_DAILY) {
        return t + period;
    }

    (void) localtime_r(&t, &tm);

    /*
     * The day of t if its time of day is still to come, else the next
     * day: so a time that a DST change repeats runs once.  mktime()
     * places a time that a DST change skips after the gap; the day after
     * is there for that.
     */
    i = (tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec < daily) ? 0 : 1;

    for (n = 0; n < 3; n++, i++) {
        day = tm;
        day.tm_mday += i;
        day.tm_hour = daily / 3600;
        day.tm_min = daily / 60 % 60;
        day.tm_sec = daily % 60;
        day.tm_isdst = -1;

        r = mktime(&day);

        if (r != (time_t) -1 && r > t) {
            return r;
        }
    }

    return t + 86400;
}


time_t
tn_housekeeper_next_run(time_t last, time_t now, time_t period,
    tn_int_t daily)
{
    time_t  next, limit;

    if (last <= 0) {
        return now;
    }

    next = tn_housekeeper_after(last, period, daily);

    if (last > now) {
        /*
         * The clock went back: the last run looks as if it were in the
         * future.  A small step changes nothing, but a clock that was
         * years ahead must not hold the job for years.
         */
        limit = tn_housekeeper_after(tn_housekeeper_after(now, period, daily),
                                     period, daily);

        if (next > limit) {
            next = limit;
        }
    }

    return next;
}


static tn_int_t
tn_housekeeper_daily(tn_housekeeper_job_t *job)
{
    if (job->daily == TN_HOUSEKEEPER_DAILY_DEFAULT) {
        return tn_hk_conf->daily;
    }

    return job->daily;
}


/* the process */


tn_int_t
tn_housekeeper_init_process(tn_cycle_t *cycle)
{
    tn_str_t  lock;

    tn_hk_cycle = cycle;
    tn_hk_conf = (tn_housekeeper_conf_t *) tn_get_conf(cycle->conf_ctx,
                                                       tn_housekeeper_module);

    tn_str_set(&tn_hk_state_path, TN_HOUSEKEEPER_STATE);
    tn_str_set(&tn_hk_tmp_path, TN_HOUSEKEEPER_STATE_TMP);
    tn_str_set(&lock, TN_HOUSEKEEPER_LOCK);
    tn_str_set(&tn_hk_dir, ".");

    /* full names, NUL-terminated */
    if (tn_get_full_name(cycle->pool, &cycle->prefix, &tn_hk_state_path)
        != TN_OK
        || tn_get_full_name(cycle->pool, &cycle->prefix, &tn_hk_tmp_path)
           != TN_OK
        || tn_get_full_name(cycle->pool, &cycle->prefix, &tn_hk_dir) != TN_OK
        || tn_get_full_name(cycle->pool, &cycle->prefix, &lock) != TN_OK)
    {
        return TN_ERROR;
    }

    tn_hk_lock_fd = tn_open_file(lock.data, TN_FILE_RDWR,
                                 TN_FILE_CREATE_OR_OPEN,
                                 TN_FILE_DEFAULT_ACCESS);

    if (tn_hk_lock_fd == TN_INVALID_FILE) {
        tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                     "housekeeper: open() \"%V\" failed", &lock);
        return TN_ERROR;
    }

    /*
     * One housekeeper at a time: after a reload the old one may still be
     * finishing a run, and its state must be read after it is written.
     */
    tn_hk_lock_event.data = cycle;
    tn_hk_lock_event.handler = tn_housekeeper_lock_handler;
    tn_hk_lock_event.log = cycle->log;
    tn_hk_lock_event.cancelable = 1;

    tn_housekeeper_lock_handler(&tn_hk_lock_event);

    return TN_OK;
}


static void
tn_housekeeper_lock_handler(tn_event_t *ev)
{
    tn_err_t     err;
    tn_cycle_t  *cycle;

    cycle = ev->data;

    if (tn_hk_exiting) {
        return;
    }

    if (flock(tn_hk_lock_fd, LOCK_EX|LOCK_NB) == 0) {
        tn_housekeeper_start(cycle);
        return;
    }

    err = tn_errno;

    if (err != EWOULDBLOCK && err != TN_EINTR) {
        tn_log_error(TN_LOG_CRIT, cycle->log, err,
                     "housekeeper: flock() failed, retrying");
    }

    if (ev->timedout == 0 && !ev->timer_set) {
        tn_log_error(TN_LOG_NOTICE, cycle->log, 0,
                     "housekeeper: waiting for the previous housekeeper");
    }

    ev->timedout = 0;
    tn_event_add_timer(ev, TN_HOUSEKEEPER_LOCK_RETRY);
}


static void
tn_housekeeper_start(tn_cycle_t *cycle)
{
    time_t                  now;
    tn_uint_t               i;
    tn_housekeeper_job_t  **jobs;

    tn_hk_started = 1;

    if (tn_array_init(&tn_hk_others, cycle->pool, 4,
                      sizeof(tn_housekeeper_other_t))
        != TN_OK)
    {
        return;
    }

    tn_housekeeper_read_state(cycle);

    now = tn_time();
    jobs = tn_hk_conf->jobs.elts;

    tn_log_error(TN_LOG_NOTICE, cycle->log, 0,
                 "housekeeper: %ui job%s", tn_hk_conf->jobs.nelts,
                 tn_hk_conf->jobs.nelts == 1 ? "" : "s");

    for (i = 0; i < tn_hk_conf->jobs.nelts; i++) {

        if (jobs[i]->last == 0) {
            /* a new job: its first run is its next regular time */
            jobs[i]->last = now;
            tn_hk_dirty = 1;
        }

        jobs[i]->timer.data = jobs[i];
        jobs[i]->timer.handler = tn_housekeeper_timer_handler;
        jobs[i]->timer.log = cycle->log;
        jobs[i]->timer.cancelable = 1;

        tn_housekeeper_schedule(jobs[i], 1);
    }

    if (tn_hk_dirty) {
        tn_housekeeper_write_state();
    }

    if (tn_hk_run_pending) {
        tn_hk_run_pending = 0;
        tn_housekeeper_run_now(cycle);
    }
}


/*
 * The state file is small (a line per job) and read once when the
 * process starts, before any run; its writes go to the thread pool.
 */
static void
tn_housekeeper_read_state(tn_cycle_t *cycle)
{
    u_char    *buf, *p, *last, *eol, *sp;
    time_t     t;
    ssize_t    n;
    tn_fd_t    fd;
    tn_str_t   name;

    fd = tn_open_file(tn_hk_state_path.data, TN_FILE_RDONLY, TN_FILE_OPEN, 0);

    if (fd == TN_INVALID_FILE) {
        if (tn_errno != TN_ENOENT) {
            tn_log_error(TN_LOG_ERR, cycle->log, tn_errno,
                         "housekeeper: open() \"%V\" failed",
                         &tn_hk_state_path);
        }

        /* the first start makes the file */
        tn_hk_dirty = 1;

        return;
    }

    buf = tn_alloc(TN_HOUSEKEEPER_STATE_MAX, cycle->log);
    if (buf == NULL) {
        (void) tn_close_file(fd);
        return;
    }

    n = tn_read_fd(fd, buf, TN_HOUSEKEEPER_STATE_MAX);

    if (n == -1) {
        tn_log_error(TN_LOG_ERR, cycle->log, tn_errno,
                     "housekeeper: read() \"%V\" failed", &tn_hk_state_path);
        n = 0;
    }

    (void) tn_close_file(fd);

    last = buf + n;

    for (p = buf; p < last; p = eol + 1) {

        eol = tn_strlchr(p, last, LF);
        if (eol == NULL) {
            /* a torn last line cannot come from an atomic rename */
            break;
        }

        if (p == eol || *p == '#') {
            continue;
        }

        sp = tn_strlchr(p, eol, ' ');

        t = (sp == NULL) ? TN_ERROR : tn_atotm(sp + 1, eol - sp - 1);

        name.data = p;
        name.len = (sp == NULL) ? 0 : (size_t) (sp - p);

        if (t == (time_t) TN_ERROR || t <= 0
            || !tn_housekeeper_valid_name(&name))
        {
            tn_log_error(TN_LOG_WARN, cycle->log, 0,
                         "housekeeper: invalid line \"%*s\" in \"%V\"",
                         (size_t) (eol - p), p, &tn_hk_state_path);

            /* the file is written again without it */
            tn_hk_dirty = 1;
            continue;
        }

        tn_housekeeper_set_last(cycle, &name, t);
    }

    tn_free(buf);
}


static void
tn_housekeeper_set_last(tn_cycle_t *cycle, tn_str_t *name, time_t last)
{
    tn_uint_t                i;
    tn_housekeeper_job_t   **jobs;
    tn_housekeeper_other_t  *o;

    jobs = tn_hk_conf->jobs.elts;

    for (i = 0; i < tn_hk_conf->jobs.nelts; i++) {
        if (jobs[i]->name.len == name->len
            && tn_strncmp(jobs[i]->name.data, name->data, name->len) == 0)
        {
            jobs[i]->last = last;
            return;
        }
    }

    /*
     * A job of a module that is not built or not configured now: its
     * line is kept, so it neither reruns nor skips a run when it is back.
     */
    o = tn_array_push(&tn_hk_others);
    if (o == NULL) {
        return;
    }

    o->name.len = name->len;
    o->name.data = tn_pstrdup(cycle->pool, name);
    o->last = last;

    if (o->name.data == NULL) {
        tn_hk_others.nelts--;
    }
}


static void
tn_housekeeper_schedule(tn_housekeeper_job_t *job, tn_uint_t log)
{
    time_t    now, delay;
    tn_tm_t   tm;

    now = tn_time();

    job->next = tn_housekeeper_next_run(job->last, now, job->period,
                                        tn_housekeeper_daily(job));

    if (log) {
        tn_localtime(job->next, &tm);

        tn_log_error(TN_LOG_INFO, tn_hk_cycle->log, 0,
                     "housekeeper: job \"%V\" runs next at "
                     "%4d/%02d/%02d %02d:%02d:%02d", &job->name,
                     tm.tm_year, tm.tm_mon, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
    }

    delay = job->next - now;

    if (delay < 0) {
        delay = 0;
    }

    if (delay > TN_HOUSEKEEPER_MAX_SLEEP) {
        delay = TN_HOUSEKEEPER_MAX_SLEEP;
    }

    /* a job that is due waits a millisecond: the loop runs it */
    tn_event_add_timer(&job->timer, delay ? (tn_msec_t) delay * 1000 : 1);
}


/*
 * The timer is at most a minute long and the time is checked on the
 * wall clock each time, so a clock that is set or a DST change is seen.
 */
static void
tn_housekeeper_timer_handler(tn_event_t *ev)
{
    tn_housekeeper_job_t  *job;

    job = ev->data;
    ev->timedout = 0;

    if (tn_hk_exiting || job->running) {
        return;
    }

    job->next = tn_housekeeper_next_run(job->last, tn_time(), job->period,
                                        tn_housekeeper_daily(job));

    if (job->next > tn_time()) {
        tn_housekeeper_schedule(job, 0);
        return;
    }

    tn_housekeeper_run(job);
}


void
tn_housekeeper_run_now(tn_cycle_t *cycle)
{
    tn_uint_t               i;
    tn_housekeeper_job_t  **jobs;

    if (tn_hk_exiting) {
        return;
    }

    if (!tn_hk_started) {
        /* the previous housekeeper has the lock yet: run them after it */
        tn_hk_run_pending = 1;
        return;
    }

    tn_log_error(TN_LOG_NOTICE, cycle->log, 0,
                 "housekeeper: running %ui job%s now", tn_hk_conf->jobs.nelts,
                 tn_hk_conf->jobs.nelts == 1 ? "" : "s");

    jobs = tn_hk_conf->jobs.elts;

    for (i = 0; i < tn_hk_conf->jobs.nelts; i++) {

        if (jobs[i]->running) {
            tn_log_error(TN_LOG_NOTICE, cycle->log, 0,
                         "housekeeper: job \"%V\" is running already",
                         &jobs[i]->name);
            continue;
        }

        if (jobs[i]->timer.timer_set) {
            tn_event_del_timer(&jobs[i]->timer);
        }

        tn_housekeeper_run(jobs[i]);
    }
}


static void
tn_housekeeper_run(tn_housekeeper_job_t *job)
{
    tn_int_t  rc;

    job->running = 1;
    job->started = tn_time();
    tn_hk_running++;

    tn_log_error(TN_LOG_NOTICE, tn_hk_cycle->log, 0,
                 "housekeeper: job \"%V\" started", &job->name);

    rc = job->handler(tn_hk_cycle, job);

    if (rc != TN_AGAIN) {
        tn_housekeeper_job_done(job, rc);
    }
}


void
tn_housekeeper_job_done(tn_housekeeper_job_t *job, tn_int_t rc)
{
    if (!job->running) {
        tn_log_error(TN_LOG_ALERT, tn_hk_cycle->log, 0,
                     "housekeeper: job \"%V\" ended twice", &job->name);
        return;
    }

    job->running = 0;
    tn_hk_running--;

    if (rc == TN_OK) {
        tn_log_error(TN_LOG_NOTICE, tn_hk_cycle->log, 0,
                     "housekeeper: job \"%V\" done in %T s", &job->name,
                     tn_time() - job->started);

    } else {
        tn_log_error(TN_LOG_ERR, tn_hk_cycle->log, 0,
                     "housekeeper: job \"%V\" failed after %T s",
                     &job->name, tn_time() - job->started);
    }

    /* a failed run counts too: the job retries by itself if it can */
    job->last = job->started;
    tn_hk_dirty = 1;

    tn_housekeeper_write_state();

    if (!tn_hk_exiting) {
        tn_housekeeper_schedule(job, 1);
    }
}


void
tn_housekeeper_stop(tn_cycle_t *cycle)
{
    tn_uint_t               i;
    tn_housekeeper_job_t  **jobs;

    tn_hk_exiting = 1;

    if (tn_hk_lock_event.timer_set) {
        tn_event_del_timer(&tn_hk_lock_event);
    }

    if (tn_hk_conf == NULL || !tn_hk_started) {
        return;
    }

    jobs = tn_hk_conf->jobs.elts;

    for (i = 0; i < tn_hk_conf->jobs.nelts; i++) {
        if (jobs[i]->timer.timer_set) {
            tn_event_del_timer(&jobs[i]->timer);
        }
    }
}


/* the state file: written whole to a temporary file, fsync(), rename() */


static void
tn_housekeeper_write_state(void)
{
    u_char                  *p;
    size_t                   len;
    tn_uint_t                i;
    tn_thread_task_t        *task;
    tn_housekeeper_job_t   **jobs;
    tn_housekeeper_other_t  *o;
    tn_housekeeper_write_t  *w;

    static u_char  header[] = "# Tern housekeeper: the start of the last "
                              "run of each job (Unix time)\n";

    if (tn_hk_writing || !tn_hk_dirty) {
        /* the write in progress is followed by another one */
        return;
    }

    jobs = tn_hk_conf->jobs.elts;
    o = tn_hk_others.elts;

    len = sizeof(header) - 1;

    for (i = 0; i < tn_hk_conf->jobs.nelts; i++) {
        len += jobs[i]->name.len + 1 + TN_TIME_T_LEN + 1;
    }

    for (i = 0; i < tn_hk_others.nelts; i++) {
        len += o[i].name.len + 1 + TN_TIME_T_LEN + 1;
    }

    task = tn_thread_task_alloc(sizeof(tn_housekeeper_write_t) + len,
                                tn_hk_cycle->log);
    if (task == NULL) {
        return;
    }

    w = task->ctx;
    w->path = tn_hk_state_path.data;
    w->tmp = tn_hk_tmp_path.data;
    w->dir = tn_hk_dir.data;
    w->data = (u_char *) (w + 1);

    p = tn_cpymem(w->data, header, sizeof(header) - 1);

    for (i = 0; i < tn_hk_conf->jobs.nelts; i++) {
        p = tn_sprintf(p, "%V %T\n", &jobs[i]->name, jobs[i]->last);
    }

    for (i = 0; i < tn_hk_others.nelts; i++) {
        p = tn_sprintf(p, "%V %T\n", &o[i].name, o[i].last);
    }

    w->len = p - w->data;

    task->handler = tn_housekeeper_write_thread;
    task->event.handler = tn_housekeeper_write_done;
    task->event.data = task;
    task->event.log = tn_hk_cycle->log;

    if (tn_thread_task_post(task) != TN_OK) {
        tn_log_error(TN_LOG_CRIT, tn_hk_cycle->log, 0,
                     "housekeeper: \"%V\" not written, the thread pool "
                     "refused the task", &tn_hk_state_path);
        tn_thread_task_free(task);
        return;
    }

    tn_hk_dirty = 0;
    tn_hk_writing = 1;
}


/* in a pool thread */
static void
tn_housekeeper_write_thread(void *data, tn_log_t *log)
{
    tn_housekeeper_write_t  *w = data;

    int      fd;
    ssize_t  n;

    fd = open((char *) w->tmp, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
    if (fd == -1) {
        w->failed = "open()";
        w->err = errno;
        return;
    }

    n = tn_write_fd(fd, w->data, w->len);

    if (n != (ssize_t) w->len) {
        w->failed = "write()";
        w->err = (n == -1) ? errno : TN_ENOSPC;
        (void) close(fd);
        return;
    }

    if (fsync(fd) == -1) {
        w->failed = "fsync()";
        w->err = errno;
        (void) close(fd);
        return;
    }

    if (close(fd) == -1) {
        w->failed = "close()";
        w->err = errno;
        return;
    }

    if (rename((char *) w->tmp, (char *) w->path) == -1) {
        w->failed = "rename()";
        w->err = errno;
        return;
    }

    if (tn_fsync_dir((char *) w->dir) != TN_OK) {
        w->failed = "fsync() of the prefix";
        w->err = errno;
    }
}


static void
tn_housekeeper_write_done(tn_event_t *ev)
{
    tn_thread_task_t        *task;
    tn_housekeeper_write_t  *w;

    task = ev->data;
    w = task->ctx;

    if (w->failed) {
        tn_log_error(TN_LOG_CRIT, tn_hk_cycle->log, w->err,
                     "housekeeper: writing \"%V\": %s failed",
                     &tn_hk_state_path, w->failed);
    }

    tn_thread_task_free(task);

    tn_hk_writing = 0;

    /* a run ended while this write was out */
    tn_housekeeper_write_state();
}
