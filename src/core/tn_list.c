
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


tn_list_t *
tn_list_create(tn_pool_t *pool, tn_uint_t n, size_t size)
{
    tn_list_t  *list;

    list = tn_palloc(pool, sizeof(tn_list_t));
    if (list == NULL) {
        return NULL;
    }

    if (tn_list_init(list, pool, n, size) != TN_OK) {
        return NULL;
    }

    return list;
}


void *
tn_list_push(tn_list_t *l)
{
    void            *elt;
    tn_list_part_t  *last;

    last = l->last;

    if (last->nelts == l->nalloc) {

        last = tn_palloc(l->pool, sizeof(tn_list_part_t));
        if (last == NULL) {
            return NULL;
        }

        last->elts = tn_palloc(l->pool, l->nalloc * l->size);
        if (last->elts == NULL) {
            return NULL;
        }

        last->nelts = 0;
        last->next = NULL;

        l->last->next = last;
        l->last = last;
    }

    elt = (char *) last->elts + l->size * last->nelts;
    last->nelts++;

    return elt;
}
