
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


tn_buf_t *
tn_create_temp_buf(tn_pool_t *pool, size_t size)
{
    tn_buf_t  *b;

    b = tn_calloc_buf(pool);
    if (b == NULL) {
        return NULL;
    }

    b->start = tn_palloc(pool, size);
    if (b->start == NULL) {
        return NULL;
    }

    b->pos = b->start;
    b->last = b->start;
    b->end = b->last + size;
    b->temporary = 1;

    return b;
}


tn_chain_t *
tn_alloc_chain_link(tn_pool_t *pool)
{
    return tn_palloc(pool, sizeof(tn_chain_t));
}


tn_chain_t *
tn_create_chain_of_bufs(tn_pool_t *pool, tn_bufs_t *bufs)
{
    tn_int_t     i;
    tn_buf_t    *b;
    tn_chain_t  *chain, *cl, **ll;

    ll = &chain;

    for (i = 0; i < bufs->num; i++) {

        b = tn_create_temp_buf(pool, bufs->size);
        if (b == NULL) {
            return NULL;
        }

        cl = tn_alloc_chain_link(pool);
        if (cl == NULL) {
            return NULL;
        }

        cl->buf = b;
        *ll = cl;
        ll = &cl->next;
    }

    *ll = NULL;

    return chain;
}


void
tn_buf_compact(tn_buf_t *b)
{
    size_t  n;

    if (b->pos == b->start) {
        return;
    }

    n = b->last - b->pos;

    if (n) {
        tn_memmove(b->start, b->pos, n);
    }

    b->pos = b->start;
    b->last = b->start + n;
}
