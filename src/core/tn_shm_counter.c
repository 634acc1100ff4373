
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_shm_counter.h>

#include <sys/mman.h>
#include <sys/random.h>


/* tables one master may make (they live as long as it does) */
#define TN_SHM_COUNTER_TABLES   8

/* the rows start on their own page, after the shared header */
#define TN_SHM_COUNTER_HEADER                                                \
    tn_align(sizeof(tn_shm_counter_shared_t), (size_t) 4096)


/* the shared header, at the start of the mapping */
typedef struct {
    /* rows of slots from this one up have never been used */
    uint32_t                   nslots;
    /* the slot's row may hold counts: it counted since its last clear */
    uint8_t                    used[TN_MAX_PROCESSES];
} tn_shm_counter_shared_t;


/*
 * The private part: made by the master, copied into every process by
 * fork() and never changed after that.
 */
struct tn_shm_counter_s {
    const char                *name;
    tn_uint_t                  buckets;      /* a power of two */
    uint64_t                   secret;       /* the hash key */
    tn_shm_counter_shared_t   *shared;
    uint16_t                  *rows;         /* TN_MAX_PROCESSES rows */
};


static uint64_t tn_shm_counter_mix(uint64_t x);
static void tn_shm_counter_use_slot(tn_shm_counter_t *sc, tn_int_t slot);


static tn_shm_counter_t  tn_shm_counters[TN_SHM_COUNTER_TABLES];
static tn_uint_t         tn_shm_counters_n;


tn_shm_counter_t *
tn_shm_counter_get(const char *name, tn_uint_t buckets, tn_log_t *log)
{
    u_char            *p;
    size_t             size;
    tn_uint_t          i;
    tn_shm_counter_t  *sc;

    for (i = 0; i < tn_shm_counters_n; i++) {
        sc = &tn_shm_counters[i];

        if (tn_strcmp(sc->name, name) != 0) {
            continue;
        }

        if (sc->buckets != buckets) {
            tn_log_error(TN_LOG_ALERT, log, 0,
                         "shared counters \"%s\" have %ui buckets, "
                         "not %ui", name, sc->buckets, buckets);
            return NULL;
        }

        return sc;
    }

    if (buckets == 0 || (buckets & (buckets - 1)) != 0
        || buckets > 1024 * 1024)
    {
        tn_log_error(TN_LOG_ALERT, log, 0,
                     "shared counters \"%s\": invalid number of buckets "
                     "%ui", name, buckets);
        return NULL;
    }

    if (tn_shm_counters_n == TN_SHM_COUNTER_TABLES) {
        tn_log_error(TN_LOG_ALERT, log, 0,
                     "no more than %d tables of shared counters",
                     TN_SHM_COUNTER_TABLES);
        return NULL;
    }

    size = TN_SHM_COUNTER_HEADER
           + (size_t) TN_MAX_PROCESSES * buckets * sizeof(uint16_t);

    /* zero-filled; pages are allocated only when first touched */
    p = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS,
             -1, 0);

    if (p == MAP_FAILED) {
        tn_log_error(TN_LOG_EMERG, log, tn_errno,
                     "mmap(MAP_SHARED|MAP_ANONYMOUS, %uz) failed for "
                     "shared counters \"%s\"", size, name);
        return NULL;
    }

    sc = &tn_shm_counters[tn_shm_counters_n];

    sc->name = name;
    sc->buckets = buckets;
    sc->shared = (tn_shm_counter_shared_t *) p;
    sc->rows = (uint16_t *) (p + TN_SHM_COUNTER_HEADER);

    /*
     * A secret hash key, so that nobody can pick keys that fall into the
     * bucket of another (and so count against its limit).
     */
    if (getrandom(&sc->secret, sizeof(sc->secret), GRND_NONBLOCK)
        != (ssize_t) sizeof(sc->secret))
    {
        tn_log_error(TN_LOG_WARN, log, tn_errno,
                     "getrandom() failed, shared counters \"%s\" use "
                     "a weaker hash key", name);

        sc->secret = ((uint64_t) tn_pid << 32) ^ (uint64_t) time(NULL)
                     ^ (uint64_t) (uintptr_t) p;
    }

    tn_shm_counters_n++;

    return sc;
}


tn_uint_t
tn_shm_counter_bucket(tn_shm_counter_t *sc, const u_char *key, size_t len)
{
    size_t    n;
    uint64_t  h, w;

    h = tn_shm_counter_mix(sc->secret ^ (uint64_t) len);

    while (len) {
        n = tn_min(len, sizeof(uint64_t));

        w = 0;
        tn_memcpy(&w, key, n);

        h = tn_shm_counter_mix(h ^ w);

        key += n;
        len -= n;
    }

    return (tn_uint_t) (tn_shm_counter_mix(h ^ sc->secret)
                        & (sc->buckets - 1));
}


/* a bijective 64-bit mix: xor-shifts and odd multipliers */
static uint64_t
tn_shm_counter_mix(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;

    return x;
}


tn_int_t
tn_shm_counter_acquire(tn_shm_counter_t *sc, tn_uint_t bucket,
    tn_uint_t limit, tn_uint_t *total)
{
    uint16_t   *own;
    tn_uint_t   n;

    *total = 0;

    if (tn_process_slot < 0 || tn_process_slot >= TN_MAX_PROCESSES) {
        return TN_DECLINED;
    }

    own = &sc->rows[(size_t) tn_process_slot * sc->buckets + bucket];

    /* only this process changes its row: no one else can raise it */
    if (__atomic_load_n(own, __ATOMIC_RELAXED) >= TN_SHM_COUNTER_MAX) {
        return TN_DECLINED;
    }

    tn_shm_counter_use_slot(sc, tn_process_slot);

    /*
     * Count first, then sum.  With sequentially consistent operations,
     * of two processes that race for the last place at least one sees
     * the other's count: both may be refused, never both let in.
     */
    (void) __atomic_add_fetch(own, 1, __ATOMIC_SEQ_CST);

    n = tn_shm_counter_total(sc, bucket);

    if (limit && n > limit) {
        (void) __atomic_sub_fetch(own, 1, __ATOMIC_SEQ_CST);
        *total = n - 1;
        return TN_BUSY;
    }

    *total = n;

    return TN_OK;
}


/*
 * Makes the slot's row visible to the sums before the first count in it:
 * the flag and the high-water mark are published before the count.
 */
static void
tn_shm_counter_use_slot(tn_shm_counter_t *sc, tn_int_t slot)
{
    uint32_t                  n;
    tn_shm_counter_shared_t  *shared;

    shared = sc->shared;

    if (__atomic_load_n(&shared->used[slot], __ATOMIC_SEQ_CST) == 0) {
        __atomic_store_n(&shared->used[slot], 1, __ATOMIC_SEQ_CST);
    }

    n = __atomic_load_n(&shared->nslots, __ATOMIC_SEQ_CST);

    while (n <= (uint32_t) slot) {
        if (__atomic_compare_exchange_n(&shared->nslots, &n,
                                        (uint32_t) slot + 1, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        {
            break;
        }
    }
}


tn_int_t
tn_shm_counter_release(tn_shm_counter_t *sc, tn_uint_t bucket)
{
    uint16_t  *own;

    if (tn_process_slot < 0 || tn_process_slot >= TN_MAX_PROCESSES) {
        return TN_ERROR;
    }

    own = &sc->rows[(size_t) tn_process_slot * sc->buckets + bucket];

    if (__atomic_load_n(own, __ATOMIC_RELAXED) == 0) {
        return TN_ERROR;
    }

    (void) __atomic_sub_fetch(own, 1, __ATOMIC_SEQ_CST);

    return TN_OK;
}


/*
 * Reads one counter of each slot in use: a few cache lines for the
 * workers of one or two generations, and only pages already touched.
 */
tn_uint_t
tn_shm_counter_total(tn_shm_counter_t *sc, tn_uint_t bucket)
{
    uint32_t                  s, n;
    tn_uint_t                 total;
    tn_shm_counter_shared_t  *shared;

    shared = sc->shared;
    total = 0;

    n = __atomic_load_n(&shared->nslots, __ATOMIC_SEQ_CST);

    for (s = 0; s < n && s < TN_MAX_PROCESSES; s++) {
        if (__atomic_load_n(&shared->used[s], __ATOMIC_SEQ_CST) == 0) {
            continue;
        }

        total += __atomic_load_n(&sc->rows[(size_t) s * sc->buckets
                                           + bucket],
                                 __ATOMIC_SEQ_CST);
    }

    return total;
}


void
tn_shm_counter_clear_slot(tn_int_t slot)
{
    uint16_t                 *row;
    tn_uint_t                 i, b;
    tn_shm_counter_t         *sc;
    tn_shm_counter_shared_t  *shared;

    if (slot < 0 || slot >= TN_MAX_PROCESSES) {
        return;
    }

    for (i = 0; i < tn_shm_counters_n; i++) {
        sc = &tn_shm_counters[i];
        shared = sc->shared;

        /* a row never used was never touched: leave its pages alone */
        if (__atomic_load_n(&shared->used[slot], __ATOMIC_SEQ_CST) == 0) {
            continue;
        }

        row = &sc->rows[(size_t) slot * sc->buckets];

        for (b = 0; b < sc->buckets; b++) {
            if (row[b]) {
                __atomic_store_n(&row[b], 0, __ATOMIC_SEQ_CST);
            }
        }

        __atomic_store_n(&shared->used[slot], 0, __ATOMIC_SEQ_CST);
    }
}
