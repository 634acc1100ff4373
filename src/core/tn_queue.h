
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_QUEUE_H_INCLUDED_
#define _TN_QUEUE_H_INCLUDED_


#include <tn_config.h>


/* an intrusive doubly linked list with a sentinel */
typedef struct tn_queue_s  tn_queue_t;

struct tn_queue_s {
    tn_queue_t  *prev;
    tn_queue_t  *next;
};


#define tn_queue_init(q)                                                     \
    (q)->prev = q;                                                           \
    (q)->next = q

#define tn_queue_empty(h)    (h == (h)->prev)

#define tn_queue_insert_head(h, x)                                           \
    (x)->next = (h)->next;                                                   \
    (x)->next->prev = x;                                                     \
    (x)->prev = h;                                                           \
    (h)->next = x

#define tn_queue_insert_tail(h, x)                                           \
    (x)->prev = (h)->prev;                                                   \
    (x)->prev->next = x;                                                     \
    (x)->next = h;                                                           \
    (h)->prev = x

#define tn_queue_head(h)     (h)->next
#define tn_queue_last(h)     (h)->prev
#define tn_queue_sentinel(h) (h)
#define tn_queue_next(q)     (q)->next
#define tn_queue_prev(q)     (q)->prev

#define tn_queue_remove(x)                                                   \
    (x)->next->prev = (x)->prev;                                             \
    (x)->prev->next = (x)->next;                                             \
    (x)->prev = NULL;                                                        \
    (x)->next = NULL

#define tn_queue_data(q, type, link)                                         \
    (type *) ((u_char *) q - offsetof(type, link))


#endif /* _TN_QUEUE_H_INCLUDED_ */
