
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_LIST_H_INCLUDED_
#define _TN_LIST_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/* a list of fixed-size parts; elements never move once pushed */
typedef struct tn_list_part_s  tn_list_part_t;

struct tn_list_part_s {
    void             *elts;
    tn_uint_t         nelts;
    tn_list_part_t   *next;
};


typedef struct {
    tn_list_part_t   *last;
    tn_list_part_t    part;
    size_t            size;
    tn_uint_t         nalloc;
    tn_pool_t        *pool;
} tn_list_t;


tn_list_t *tn_list_create(tn_pool_t *pool, tn_uint_t n, size_t size);
void *tn_list_push(tn_list_t *list);


static tn_inline tn_int_t
tn_list_init(tn_list_t *list, tn_pool_t *pool, tn_uint_t n, size_t size)
{
    list->part.elts = tn_palloc(pool, n * size);
    if (list->part.elts == NULL) {
        return TN_ERROR;
    }

    list->part.nelts = 0;
    list->part.next = NULL;
    list->last = &list->part;
    list->size = size;
    list->nalloc = n;
    list->pool = pool;

    return TN_OK;
}


#endif /* _TN_LIST_H_INCLUDED_ */
