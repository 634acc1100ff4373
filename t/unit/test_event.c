
/*
 * Copyright (C) The Tern developers
 *
 * Buffers, pools and timers: compaction keeps the unread bytes, pool
 * cleanups run in reverse order, and timers expire in key order, across
 * the wrap-around of the millisecond clock, and can be moved or deleted.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


static tn_uint_t  tests;
static tn_uint_t  failed;

static int        fired[16];
static int        order[16];
static int        norder;


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %u - %s\n", cond ? "" : "not ", (unsigned) tests, name);
}


static void
cleanup(void *data)
{
    order[norder++] = *(int *) data;
}


static void
timer_handler(tn_event_t *ev)
{
    int  i = (int) (intptr_t) ev->data;

    fired[i]++;
    order[norder++] = i;
}


int
main(void)
{
    int                 i, *d;
    tn_buf_t           *b;
    tn_log_t            log;
    tn_pool_t          *pool;
    tn_event_t          ev[8];
    tn_open_file_t      lf;
    tn_pool_cleanup_t  *cln;

    tn_pagesize = getpagesize();

    tn_memzero(&log, sizeof(tn_log_t));
    lf.fd = STDERR_FILENO;
    log.file = &lf;
    log.log_level = TN_LOG_ERR;

    printf("1..12\n");

    pool = tn_create_pool(1024, &log);

    b = tn_create_temp_buf(pool, 16);
    ok(b && tn_buf_free_size(b) == 16, "buffer of 16 bytes");

    memcpy(b->last, "hello world", 11);
    b->last += 11;
    b->pos += 6;
    tn_buf_compact(b);
    ok(b->pos == b->start && tn_buf_size(b) == 5
       && memcmp(b->pos, "world", 5) == 0, "compact keeps unread data");
    ok(tn_buf_free_size(b) == 11, "compact frees the consumed space");

    /* a large allocation beside small ones, and cleanups in order */
    ok(tn_palloc(pool, 100000) != NULL, "large allocation");

    for (i = 1; i <= 3; i++) {
        cln = tn_pool_cleanup_add(pool, sizeof(int));
        d = cln->data;
        *d = i;
        cln->handler = cleanup;
    }

    tn_destroy_pool(pool);
    ok(norder == 3 && order[0] == 3 && order[1] == 2 && order[2] == 1,
       "cleanups run in reverse order");

    /* timers */

    tn_event_timer_init(&log);
    tn_memzero(ev, sizeof(ev));
    norder = 0;

    /* start near the wrap-around of the clock */
    tn_current_msec = (tn_msec_t) -2000;

    for (i = 0; i < 5; i++) {
        ev[i].data = (void *) (intptr_t) i;
        ev[i].handler = timer_handler;
        ev[i].log = &log;
    }

    tn_event_add_timer(&ev[0], 5000);   /* after the wrap */
    tn_event_add_timer(&ev[1], 1000);
    tn_event_add_timer(&ev[2], 3000);   /* after the wrap */
    tn_event_add_timer(&ev[3], 2000);
    tn_event_add_timer(&ev[4], 4000);

    ok(tn_event_find_timer() == 1000, "nearest timer");

    tn_event_del_timer(&ev[3]);
    ok(!ev[3].timer_set, "timer deleted");

    /* a move within the lazy window keeps the old key */
    tn_event_add_timer(&ev[4], 4100);
    ok(ev[4].timer.key == (tn_msec_t) -2000 + 4000, "lazy timer move");

    tn_event_add_timer(&ev[4], 10000);
    ok(ev[4].timer.key == (tn_msec_t) -2000 + 10000, "timer moved");

    tn_current_msec += 3500;
    tn_event_expire_timers();

    ok(norder == 2 && order[0] == 1 && order[1] == 2 && ev[1].timedout,
       "expired in order across the wrap-around");

    ok(!fired[0] && !fired[3] && !fired[4], "later timers wait");

    tn_current_msec += 100000;
    tn_event_expire_timers();

    ok(norder == 4 && order[2] == 0 && order[3] == 4
       && tn_event_find_timer() == TN_TIMER_INFINITE, "all expired");

    return failed ? 1 : 0;
}
