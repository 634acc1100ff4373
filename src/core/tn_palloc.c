
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


static tn_inline void *tn_palloc_small(tn_pool_t *pool, size_t size,
    tn_uint_t align);
static void *tn_palloc_block(tn_pool_t *pool, size_t size);
static void *tn_palloc_large(tn_pool_t *pool, size_t size);


tn_pool_t *
tn_create_pool(size_t size, tn_log_t *log)
{
    tn_pool_t  *p;

    if (size < TN_MIN_POOL_SIZE) {
        size = TN_MIN_POOL_SIZE;
    }

    p = tn_memalign(TN_POOL_ALIGNMENT, size, log);
    if (p == NULL) {
        return NULL;
    }

    p->d.last = (u_char *) p + sizeof(tn_pool_t);
    p->d.end = (u_char *) p + size;
    p->d.next = NULL;
    p->d.failed = 0;

    size = size - sizeof(tn_pool_t);
    p->max = (size < TN_MAX_ALLOC_FROM_POOL) ? size : TN_MAX_ALLOC_FROM_POOL;

    p->current = p;
    p->large = NULL;
    p->cleanup = NULL;
    p->log = log;

    return p;
}


void
tn_destroy_pool(tn_pool_t *pool)
{
    tn_pool_t          *p, *n;
    tn_pool_large_t    *l;
    tn_pool_cleanup_t  *c;

    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }

    for (l = pool->large; l; l = l->next) {
        if (l->alloc) {
            tn_free(l->alloc);
        }
    }

    for (p = pool, n = pool->d.next; /* void */; p = n, n = n->d.next) {
        tn_free(p);

        if (n == NULL) {
            break;
        }
    }
}


void
tn_reset_pool(tn_pool_t *pool)
{
    tn_pool_t        *p;
    tn_pool_large_t  *l;

    for (l = pool->large; l; l = l->next) {
        if (l->alloc) {
            tn_free(l->alloc);
        }
    }

    for (p = pool; p; p = p->d.next) {
        p->d.last = (u_char *) p + sizeof(tn_pool_t);
        p->d.failed = 0;
    }

    pool->current = pool;
    pool->large = NULL;
}


void *
tn_palloc(tn_pool_t *pool, size_t size)
{
    if (size <= pool->max) {
        return tn_palloc_small(pool, size, 1);
    }

    return tn_palloc_large(pool, size);
}


void *
tn_pnalloc(tn_pool_t *pool, size_t size)
{
    if (size <= pool->max) {
        return tn_palloc_small(pool, size, 0);
    }

    return tn_palloc_large(pool, size);
}


static tn_inline void *
tn_palloc_small(tn_pool_t *pool, size_t size, tn_uint_t align)
{
    u_char     *m;
    tn_pool_t  *p;

    p = pool->current;

    do {
        m = p->d.last;

        if (align) {
            m = tn_align_ptr(m, TN_ALIGNMENT);
        }

        if ((size_t) (p->d.end - m) >= size) {
            p->d.last = m + size;

            return m;
        }

        p = p->d.next;

    } while (p);

    return tn_palloc_block(pool, size);
}


static void *
tn_palloc_block(tn_pool_t *pool, size_t size)
{
    u_char     *m;
    size_t      psize;
    tn_pool_t  *p, *new;

    psize = (size_t) (pool->d.end - (u_char *) pool);

    m = tn_memalign(TN_POOL_ALIGNMENT, psize, pool->log);
    if (m == NULL) {
        return NULL;
    }

    new = (tn_pool_t *) m;

    new->d.end = m + psize;
    new->d.next = NULL;
    new->d.failed = 0;

    m += sizeof(tn_pool_data_t);
    m = tn_align_ptr(m, TN_ALIGNMENT);
    new->d.last = m + size;

    /* a block that failed often is skipped for later allocations */
    for (p = pool->current; p->d.next; p = p->d.next) {
        if (p->d.failed++ > 4) {
            pool->current = p->d.next;
        }
    }

    p->d.next = new;

    return m;
}


static void *
tn_palloc_large(tn_pool_t *pool, size_t size)
{
    void             *p;
    tn_uint_t         n;
    tn_pool_large_t  *large;

    p = tn_alloc(size, pool->log);
    if (p == NULL) {
        return NULL;
    }

    n = 0;

    for (large = pool->large; large; large = large->next) {
        if (large->alloc == NULL) {
            large->alloc = p;
            return p;
        }

        if (n++ > 3) {
            break;
        }
    }

    large = tn_palloc_small(pool, sizeof(tn_pool_large_t), 1);
    if (large == NULL) {
        tn_free(p);
        return NULL;
    }

    large->alloc = p;
    large->next = pool->large;
    pool->large = large;

    return p;
}


void *
tn_pmemalign(tn_pool_t *pool, size_t size, size_t alignment)
{
    void             *p;
    tn_pool_large_t  *large;

    p = tn_memalign(alignment, size, pool->log);
    if (p == NULL) {
        return NULL;
    }

    large = tn_palloc_small(pool, sizeof(tn_pool_large_t), 1);
    if (large == NULL) {
        tn_free(p);
        return NULL;
    }

    large->alloc = p;
    large->next = pool->large;
    pool->large = large;

    return p;
}


tn_int_t
tn_pfree(tn_pool_t *pool, void *p)
{
    tn_pool_large_t  *l;

    for (l = pool->large; l; l = l->next) {
        if (p == l->alloc) {
            tn_free(l->alloc);
            l->alloc = NULL;

            return TN_OK;
        }
    }

    return TN_DECLINED;
}


void *
tn_pcalloc(tn_pool_t *pool, size_t size)
{
    void  *p;

    p = tn_palloc(pool, size);
    if (p) {
        tn_memzero(p, size);
    }

    return p;
}


tn_pool_cleanup_t *
tn_pool_cleanup_add(tn_pool_t *p, size_t size)
{
    tn_pool_cleanup_t  *c;

    c = tn_palloc(p, sizeof(tn_pool_cleanup_t));
    if (c == NULL) {
        return NULL;
    }

    if (size) {
        c->data = tn_pcalloc(p, size);
        if (c->data == NULL) {
            return NULL;
        }

    } else {
        c->data = NULL;
    }

    c->handler = NULL;
    c->next = p->cleanup;

    p->cleanup = c;

    return c;
}


void
tn_pool_cleanup_file(void *data)
{
    tn_pool_cleanup_file_t  *c = data;

    if (c->fd != TN_INVALID_FILE && tn_close_file(c->fd) == -1) {
        tn_log_error(TN_LOG_ALERT, c->log, tn_errno,
                     "close() \"%s\" failed", c->name);
    }
}


void
tn_pool_delete_file(void *data)
{
    tn_pool_cleanup_file_t  *c = data;

    if (tn_delete_file(c->name) == -1 && tn_errno != TN_ENOENT) {
        tn_log_error(TN_LOG_CRIT, c->log, tn_errno,
                     "unlink() \"%s\" failed", c->name);
    }

    if (c->fd != TN_INVALID_FILE) {
        (void) tn_close_file(c->fd);
    }
}
