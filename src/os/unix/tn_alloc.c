
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


tn_uint_t  tn_pagesize;
tn_uint_t  tn_cacheline_size = 64;


void *
tn_alloc(size_t size, tn_log_t *log)
{
    void  *p;

    p = malloc(size);
    if (p == NULL) {
        tn_log_error(TN_LOG_CRIT, log, tn_errno,
                     "malloc(%uz) failed", size);
    }

    return p;
}


void *
tn_calloc(size_t size, tn_log_t *log)
{
    void  *p;

    p = tn_alloc(size, log);

    if (p) {
        tn_memzero(p, size);
    }

    return p;
}


void *
tn_memalign(size_t alignment, size_t size, tn_log_t *log)
{
    void  *p;
    int    err;

    err = posix_memalign(&p, alignment, size);

    if (err) {
        tn_log_error(TN_LOG_CRIT, log, err,
                     "posix_memalign(%uz, %uz) failed", alignment, size);
        p = NULL;
    }

    return p;
}
