
/*
 * Copyright (C) The Tern developers
 */


/*
 * Unit tests of the outbound queue runner's schedule
 * (src/mail/tn_mail_out_queue.c): the retry delays (the first doubled up
 * to the last) and when a queued message is due next: pending and
 * deferred recipients, the delay warning, the expiry, held messages and
 * messages that are done.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail_out.h>


static tn_uint_t  tn_test_n;
static tn_uint_t  tn_test_failed;


static void
ok(int cond, const char *name)
{
    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
    }

    printf("%sok %u - %s\n", cond ? "" : "not ", (unsigned) tn_test_n, name);
}


int
main(void)
{
    time_t                  now;
    tn_mail_out_conf_t      ocf;
    tn_store_queue_env_t    env;
    tn_store_queue_rcpt_t   r[3];

    tn_memzero(&ocf, sizeof(tn_mail_out_conf_t));
    ocf.retry_min = 300000;
    ocf.retry_max = 4 * 3600000;
    ocf.max_lifetime = 5 * 86400;
    ocf.delay_warning = 4 * 3600;

    /* the delays: 5m, 10m, 20m, 40m, 80m, 160m, then 4h */

    ok(tn_mail_out_retry_delay(&ocf, 1) == 300000, "delay after try 1: 5m");
    ok(tn_mail_out_retry_delay(&ocf, 2) == 600000, "after try 2: 10m");
    ok(tn_mail_out_retry_delay(&ocf, 3) == 1200000, "after try 3: 20m");
    ok(tn_mail_out_retry_delay(&ocf, 6) == 9600000, "after try 6: 160m");
    ok(tn_mail_out_retry_delay(&ocf, 7) == 4 * 3600000,
       "after try 7: capped at 4h");
    ok(tn_mail_out_retry_delay(&ocf, 1000) == 4 * 3600000,
       "after try 1000: 4h, no overflow");
    ok(tn_mail_out_retry_delay(&ocf, 0) == 300000, "try 0: the first delay");

    ocf.retry_min = 1000;
    ocf.retry_max = 1000;
    ok(tn_mail_out_retry_delay(&ocf, 5) == 1000, "equal bounds: constant");

    ocf.retry_min = 300000;
    ocf.retry_max = 4 * 3600000;

    /* when a message is due */

    now = 1800000000;

    tn_memzero(&env, sizeof(tn_store_queue_env_t));
    tn_memzero(r, sizeof(r));
    env.rcpts = r;
    env.nrcpts = 2;
    env.received = now - 60;

    r[0].status = TN_QUEUE_PENDING;
    r[1].status = TN_QUEUE_DEFERRED;
    r[1].next_try = now + 100;

    ok(tn_mail_out_next_due(&ocf, &env, now) == now,
       "a pending recipient: due now");

    r[0].status = TN_QUEUE_DELIVERED;
    ok(tn_mail_out_next_due(&ocf, &env, now) == now + 100,
       "a deferred one: its next try");

    r[0].status = TN_QUEUE_DEFERRED;
    r[0].next_try = now + 50;
    ok(tn_mail_out_next_due(&ocf, &env, now) == now + 50,
       "two deferred: the earlier");

    r[0].next_try = now - 500;
    ok(tn_mail_out_next_due(&ocf, &env, now) == now,
       "a next try in the past: now");

    /* the delay warning comes before a later try, once */

    r[0].next_try = now + 5 * 3600;
    r[1].status = TN_QUEUE_BOUNCED;
    ok(tn_mail_out_next_due(&ocf, &env, now)
       == env.received + ocf.delay_warning,
       "the delay warning before a later try");

    r[0].flags = TN_QUEUE_RCPT_WARNED;
    ok(tn_mail_out_next_due(&ocf, &env, now) == now + 5 * 3600,
       "warned already: the try");

    r[0].flags = 0;
    r[0].notify = TN_QUEUE_NOTIFY_FAILURE;
    ok(tn_mail_out_next_due(&ocf, &env, now) == now + 5 * 3600,
       "NOTIFY=FAILURE: no delay warning");

    r[0].notify = TN_QUEUE_NOTIFY_DELAY;
    ok(tn_mail_out_next_due(&ocf, &env, now)
       == env.received + ocf.delay_warning,
       "NOTIFY=DELAY: the warning");

    ocf.delay_warning = 0;
    ok(tn_mail_out_next_due(&ocf, &env, now) == now + 5 * 3600,
       "delay_warning 0: none");

    /* the expiry comes before a later try */

    env.received = now - 5 * 86400 + 100;
    ok(tn_mail_out_next_due(&ocf, &env, now) == now + 100,
       "the expiry before a later try");

    env.received = now - 6 * 86400;
    ok(tn_mail_out_next_due(&ocf, &env, now) == now, "expired: now");

    /* held, done */

    env.hold = 1;
    ok(tn_mail_out_next_due(&ocf, &env, now) == (time_t) -1,
       "held: never");

    env.hold = 0;
    r[0].status = TN_QUEUE_DELIVERED;
    ok(tn_mail_out_next_due(&ocf, &env, now) == (time_t) -1,
       "every recipient done: never");

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
