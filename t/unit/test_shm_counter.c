
/*
 * Copyright (C) The Tern developers
 *
 * The shared counters of src/core/tn_shm_counter.c: one table per name,
 * limits over the rows of several process slots (real forked processes
 * too), counts of a dead process dropped by clearing its slot, the
 * saturated counter, and no over-admission when processes race for the
 * last places.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_shm_counter.h>

#include <sys/mman.h>


#define TN_TEST_RACERS   4
#define TN_TEST_ROUNDS   1000000
#define TN_TEST_LIMIT    3


static tn_uint_t  tests;
static tn_uint_t  failed;


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %u - %s\n", cond ? "" : "not ", (unsigned) tests, name);
}


/*
 * A process of the race: takes a place in bucket b when it can, checks
 * in a shared tally that no more than the limit hold one, gives it back.
 * Exits 1 when the tally ever passed the limit.
 */
static void
racer(tn_shm_counter_t *sc, tn_uint_t b, tn_int_t slot, uint32_t *holders)
{
    tn_uint_t  i, total;
    uint32_t   n;
    int        bad;

    tn_process_slot = slot;
    bad = 0;

    /* all start together, for the most overlap */
    while (__atomic_load_n(&holders[1], __ATOMIC_SEQ_CST) == 0) {
        /* void */
    }

    for (i = 0; i < TN_TEST_ROUNDS; i++) {
        if (tn_shm_counter_acquire(sc, b, TN_TEST_LIMIT, &total) != TN_OK) {
            continue;
        }

        n = __atomic_add_fetch(holders, 1, __ATOMIC_SEQ_CST);

        if (n > TN_TEST_LIMIT || total > TN_TEST_LIMIT) {
            bad = 1;
        }

        (void) __atomic_sub_fetch(holders, 1, __ATOMIC_SEQ_CST);

        (void) tn_shm_counter_release(sc, b);
    }

    _exit(bad);
}


int
main(void)
{
    int                i, status, racers_ok;
    u_char             key[8];
    pid_t              pid, pids[TN_TEST_RACERS];
    uint32_t          *holders;
    tn_int_t           rc;
    tn_uint_t          b, b2, total, n, distinct;
    tn_log_t           log;
    tn_open_file_t     lf;
    tn_shm_counter_t  *sc, *sc2;
    static u_char      seen[4096];

    tn_memzero(&log, sizeof(tn_log_t));
    lf.fd = STDERR_FILENO;
    log.file = &lf;
    log.log_level = TN_LOG_EMERG;

    printf("1..20\n");

    sc = tn_shm_counter_get("test", 4096, &log);
    ok(sc != NULL, "a table is mapped");

    if (sc == NULL) {
        return 1;
    }

    sc2 = tn_shm_counter_get("test", 4096, &log);
    ok(sc2 == sc, "the same name gives the same table (a reload)");

    ok(tn_shm_counter_get("test", 1024, &log) == NULL,
       "the same name with other buckets is refused");

    ok(tn_shm_counter_get("odd", 1000, &log) == NULL,
       "buckets must be a power of two");

    /* the hash: stable, in range, spread */

    distinct = 0;

    for (i = 0; i < 1000; i++) {
        tn_memcpy(key, &i, sizeof(int));
        tn_memcpy(key + 4, "\x7f\x00\x00\x01", 4);

        b = tn_shm_counter_bucket(sc, key, sizeof(key));

        if (b < 4096 && !seen[b]) {
            seen[b] = 1;
            distinct++;
        }
    }

    ok(distinct > 820, "1000 keys fall into more than 820 buckets");

    b = tn_shm_counter_bucket(sc, (u_char *) "\x00\x04\x7f\x00\x00\x01", 6);
    b2 = tn_shm_counter_bucket(sc, (u_char *) "\x00\x04\x7f\x00\x00\x01", 6);
    ok(b == b2 && b < 4096, "a key always has the same bucket");

    /* the limit over the rows of several slots */

    tn_process_slot = 0;
    n = 0;

    for (i = 0; i < TN_TEST_LIMIT; i++) {
        if (tn_shm_counter_acquire(sc, b, TN_TEST_LIMIT, &total) == TN_OK
            && total == (tn_uint_t) i + 1)
        {
            n++;
        }
    }

    ok(n == TN_TEST_LIMIT, "slot 0 takes the places up to the limit");

    rc = tn_shm_counter_acquire(sc, b, TN_TEST_LIMIT, &total);
    ok(rc == TN_BUSY && total == TN_TEST_LIMIT, "one more is refused");

    tn_process_slot = 7;
    rc = tn_shm_counter_acquire(sc, b, TN_TEST_LIMIT, &total);
    ok(rc == TN_BUSY && total == TN_TEST_LIMIT,
       "another slot sees the counts of slot 0");

    rc = tn_shm_counter_acquire(sc, b, 0, &total);
    ok(rc == TN_OK && total == TN_TEST_LIMIT + 1, "limit 0: no limit");
    (void) tn_shm_counter_release(sc, b);

    /* a forked process counts, dies without releasing, its slot clears */

    pid = fork();

    if (pid == 0) {
        tn_process_slot = 5;
        (void) tn_shm_counter_acquire(sc, b, 0, &total);
        (void) tn_shm_counter_acquire(sc, b, 0, &total);
        _exit(0);
    }

    (void) waitpid(pid, &status, 0);

    ok(tn_shm_counter_total(sc, b) == TN_TEST_LIMIT + 2,
       "the counts of a forked process are seen by its parent");

    tn_shm_counter_clear_slot(5);
    ok(tn_shm_counter_total(sc, b) == TN_TEST_LIMIT,
       "clearing the dead process's slot drops its counts");

    tn_process_slot = 0;
    ok(tn_shm_counter_release(sc, b) == TN_OK
       && tn_shm_counter_total(sc, b) == TN_TEST_LIMIT - 1,
       "a release frees a place");

    tn_process_slot = 7;
    rc = tn_shm_counter_acquire(sc, b, TN_TEST_LIMIT, &total);
    ok(rc == TN_OK && total == TN_TEST_LIMIT, "which another slot takes");

    ok(tn_shm_counter_release(sc, b) == TN_OK
       && tn_shm_counter_release(sc, b) == TN_ERROR,
       "a release with nothing held is an error");

    tn_process_slot = 0;
    (void) tn_shm_counter_release(sc, b);
    (void) tn_shm_counter_release(sc, b);
    ok(tn_shm_counter_total(sc, b) == 0, "all released");

    /* the 16-bit counter of a process saturates: not counted */

    tn_process_slot = 3;

    for (n = 0; n < TN_SHM_COUNTER_MAX; n++) {
        (void) tn_shm_counter_acquire(sc, b, 0, &total);
    }

    rc = tn_shm_counter_acquire(sc, b, 0, &total);
    ok(rc == TN_DECLINED && tn_shm_counter_total(sc, b) == 65535,
       "a full counter declines and does not wrap");

    tn_shm_counter_clear_slot(3);

    tn_process_slot = -1;
    rc = tn_shm_counter_acquire(sc, b, 1, &total);
    ok(rc == TN_DECLINED, "a process without a slot is not counted");

    /* processes race for the last places: never more than the limit */

    /* holders[0]: places held now; holders[1]: the start signal */
    holders = mmap(NULL, 2 * sizeof(uint32_t), PROT_READ|PROT_WRITE,
                   MAP_SHARED|MAP_ANONYMOUS, -1, 0);

    if (holders == MAP_FAILED) {
        return 1;
    }

    holders[0] = 0;
    holders[1] = 0;

    for (i = 0; i < TN_TEST_RACERS; i++) {
        pids[i] = fork();

        if (pids[i] == 0) {
            racer(sc, b, 10 + i, holders);
        }
    }

    __atomic_store_n(&holders[1], 1, __ATOMIC_SEQ_CST);

    racers_ok = 1;

    for (i = 0; i < TN_TEST_RACERS; i++) {
        if (waitpid(pids[i], &status, 0) != pids[i]
            || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        {
            racers_ok = 0;
        }
    }

    ok(racers_ok, "racing processes never hold more than the limit");

    ok(tn_shm_counter_total(sc, b) == 0, "the racers released everything");

    return failed ? 1 : 0;
}
