
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


tn_array_t *
tn_array_create(tn_pool_t *p, tn_uint_t n, size_t size)
{
    tn_array_t  *a;

    a = tn_palloc(p, sizeof(tn_array_t));
    if (a == NULL) {
        return NULL;
    }

    if (tn_array_init(a, p, n, size) != TN_OK) {
        return NULL;
    }

    return a;
}


void
tn_array_destroy(tn_array_t *a)
{
    tn_pool_t  *p;

    p = a->pool;

    /* only the last allocation of the pool can be given back */
    if ((u_char *) a->elts + a->size * a->nalloc == p->d.last) {
        p->d.last -= a->size * a->nalloc;
    }

    if ((u_char *) a + sizeof(tn_array_t) == p->d.last) {
        p->d.last = (u_char *) a;
    }
}


static tn_int_t
tn_array_grow(tn_array_t *a, tn_uint_t n)
{
    void       *new;
    size_t      size;
    tn_uint_t   nalloc;
    tn_pool_t  *p;

    size = n * a->size;
    p = a->pool;

    if ((u_char *) a->elts + a->size * a->nalloc == p->d.last
        && p->d.last + size <= p->d.end)
    {
        /* the array is the last allocation and there is room after it */
        p->d.last += size;
        a->nalloc += n;

        return TN_OK;
    }

    nalloc = 2 * ((n >= a->nalloc) ? n : a->nalloc);

    new = tn_palloc(p, nalloc * a->size);
    if (new == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(new, a->elts, a->nelts * a->size);
    a->elts = new;
    a->nalloc = nalloc;

    return TN_OK;
}


void *
tn_array_push(tn_array_t *a)
{
    void  *elt;

    if (a->nelts == a->nalloc && tn_array_grow(a, 1) != TN_OK) {
        return NULL;
    }

    elt = (u_char *) a->elts + a->size * a->nelts;
    a->nelts++;

    return elt;
}


void *
tn_array_push_n(tn_array_t *a, tn_uint_t n)
{
    void  *elt;

    if (a->nelts + n > a->nalloc && tn_array_grow(a, n) != TN_OK) {
        return NULL;
    }

    elt = (u_char *) a->elts + a->size * a->nelts;
    a->nelts += n;

    return elt;
}
