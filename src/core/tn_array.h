
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_ARRAY_H_INCLUDED_
#define _TN_ARRAY_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/* a growable array in a pool; growing may move elts */
typedef struct {
    void        *elts;
    tn_uint_t    nelts;
    size_t       size;
    tn_uint_t    nalloc;
    tn_pool_t   *pool;
} tn_array_t;


tn_array_t *tn_array_create(tn_pool_t *p, tn_uint_t n, size_t size);
void tn_array_destroy(tn_array_t *a);
void *tn_array_push(tn_array_t *a);
void *tn_array_push_n(tn_array_t *a, tn_uint_t n);


static tn_inline tn_int_t
tn_array_init(tn_array_t *array, tn_pool_t *pool, tn_uint_t n, size_t size)
{
    array->nelts = 0;
    array->size = size;
    array->nalloc = n;
    array->pool = pool;

    array->elts = tn_palloc(pool, n * size);
    if (array->elts == NULL) {
        return TN_ERROR;
    }

    return TN_OK;
}


#endif /* _TN_ARRAY_H_INCLUDED_ */
