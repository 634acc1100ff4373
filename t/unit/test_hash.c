/* unit-link: none */

/*
 * Copyright (C) The Tern developers
 */


/*
 * Unit tests of src/core/tn_hash.c: adds, finds, deletes and walks checked
 * against a plain array, across collisions in a table of few buckets.
 */


#include <tn_config.h>
#include <tn_core.h>

#include <tn_alloc.c>
#include <tn_hash.c>


static tn_uint_t   tn_test_n;
static tn_uint_t   tn_test_failed;


static void tn_test_ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
tn_test_ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tn_test_n++;

    if (!cond) {
        tn_test_failed++;
    }

    printf("%sok %u - ", cond ? "" : "not ", (unsigned) tn_test_n);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


void
tn_log_error_core(tn_uint_t level, tn_log_t *log, tn_err_t err,
    const char *fmt, ...)
{
    (void) level;
    (void) log;
    (void) err;
    (void) fmt;
}


static void
tn_test_walk(u_char *key, size_t len, void *value, void *data)
{
    (void) key;
    (void) len;

    *(uintptr_t *) data += (uintptr_t) value;
}


int
main(void)
{
    char        key[32];
    size_t      len;
    uintptr_t   sum, expect;
    tn_log_t    log;
    tn_hash_t   h;
    tn_uint_t   i, ok;

    setvbuf(stdout, NULL, _IOLBF, 0);

    tn_memzero(&log, sizeof(tn_log_t));

    tn_test_ok(tn_hash_init(&h, 0, &log) == TN_ERROR, "no buckets");
    tn_test_ok(tn_hash_find(&h, (u_char *) "a", 1) == NULL
               && tn_hash_add(&h, (u_char *) "a", 1, &h) == TN_ERROR
               && tn_hash_delete(&h, (u_char *) "a", 1) == NULL,
               "a failed table is safe to use");

    tn_test_ok(tn_hash_init(&h, 7, &log) == TN_OK, "init");

    ok = 1;

    for (i = 0; i < 1000; i++) {
        len = (size_t) snprintf(key, sizeof(key), "10.0.%u.%u",
                                (unsigned) (i / 256), (unsigned) (i % 256));

        if (tn_hash_add(&h, (u_char *) key, len, (void *) (i + 1))
            != TN_OK)
        {
            ok = 0;
        }
    }

    tn_test_ok(ok && tn_hash_count(&h) == 1000, "1000 adds");

    tn_test_ok(tn_hash_add(&h, (u_char *) "10.0.0.5", 8, NULL) == TN_BUSY
               && tn_hash_find(&h, (u_char *) "10.0.0.5", 8)
                  == (void *) 6, "an existing key is busy and kept");

    tn_test_ok(tn_hash_find(&h, (u_char *) "10.0.0.5", 7) == NULL
               && tn_hash_find(&h, (u_char *) "10.0.0.50", 9)
                  == (void *) 51, "keys are compared with their length");

    tn_test_ok(tn_hash_add(&h, (u_char *) "", 0, (void *) 5000) == TN_OK
               && tn_hash_find(&h, (u_char *) "", 0) == (void *) 5000,
               "an empty key");

    sum = 0;
    tn_hash_walk(&h, tn_test_walk, &sum);
    expect = 1000 * 1001 / 2 + 5000;
    tn_test_ok(sum == expect, "walk visits every entry once");

    ok = 1;

    for (i = 0; i < 1000; i += 2) {
        len = (size_t) snprintf(key, sizeof(key), "10.0.%u.%u",
                                (unsigned) (i / 256), (unsigned) (i % 256));

        if (tn_hash_delete(&h, (u_char *) key, len) != (void *) (i + 1)
            || tn_hash_delete(&h, (u_char *) key, len) != NULL)
        {
            ok = 0;
        }
    }

    for (i = 0; i < 1000; i++) {
        len = (size_t) snprintf(key, sizeof(key), "10.0.%u.%u",
                                (unsigned) (i / 256), (unsigned) (i % 256));

        if (tn_hash_find(&h, (u_char *) key, len)
            != ((i % 2) ? (void *) (i + 1) : NULL))
        {
            ok = 0;
        }
    }

    tn_test_ok(ok && tn_hash_count(&h) == 501, "deletes");

    tn_test_ok(tn_hash_key_lc((u_char *) "Mail.Example", 12)
               == tn_hash_key((u_char *) "mail.example", 12)
               && tn_hash_key((u_char *) "a", 1)
                  != tn_hash_key((u_char *) "b", 1),
               "key and key_lc");

    tn_hash_free(&h);
    tn_test_ok(h.buckets == NULL && tn_hash_count(&h) == 0, "free");
    tn_hash_free(&h);

    printf("1..%u\n", (unsigned) tn_test_n);

    return tn_test_failed ? 1 : 0;
}
