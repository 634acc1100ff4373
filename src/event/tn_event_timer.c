
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


tn_rbtree_t              tn_event_timer_rbtree;
static tn_rbtree_node_t  tn_event_timer_sentinel;


tn_int_t
tn_event_timer_init(tn_log_t *log)
{
    tn_rbtree_init(&tn_event_timer_rbtree, &tn_event_timer_sentinel,
                   tn_rbtree_insert_timer_value);

    return TN_OK;
}


tn_msec_t
tn_event_find_timer(void)
{
    tn_msec_int_t      timer;
    tn_rbtree_node_t  *node, *root, *sentinel;

    if (tn_event_timer_rbtree.root == &tn_event_timer_sentinel) {
        return TN_TIMER_INFINITE;
    }

    root = tn_event_timer_rbtree.root;
    sentinel = tn_event_timer_rbtree.sentinel;

    node = tn_rbtree_min(root, sentinel);

    timer = (tn_msec_int_t) (node->key - tn_current_msec);

    return (tn_msec_t) (timer > 0 ? timer : 0);
}


void
tn_event_expire_timers(void)
{
    tn_event_t        *ev;
    tn_rbtree_node_t  *node, *root, *sentinel;

    sentinel = tn_event_timer_rbtree.sentinel;

    for ( ;; ) {
        root = tn_event_timer_rbtree.root;

        if (root == sentinel) {
            return;
        }

        node = tn_rbtree_min(root, sentinel);

        /* node->key > tn_current_msec */

        if ((tn_msec_int_t) (node->key - tn_current_msec) > 0) {
            return;
        }

        ev = tn_rbtree_data(node, tn_event_t, timer);

        tn_rbtree_delete(&tn_event_timer_rbtree, &ev->timer);

        ev->timer.left = NULL;
        ev->timer.right = NULL;
        ev->timer.parent = NULL;

        ev->timer_set = 0;

        ev->timedout = 1;

        ev->handler(ev);
    }
}


tn_int_t
tn_event_no_timers_left(void)
{
    tn_event_t        *ev;
    tn_rbtree_node_t  *node, *root, *sentinel;

    sentinel = tn_event_timer_rbtree.sentinel;
    root = tn_event_timer_rbtree.root;

    if (root == sentinel) {
        return TN_OK;
    }

    for (node = tn_rbtree_min(root, sentinel);
         node;
         node = tn_rbtree_next(&tn_event_timer_rbtree, node))
    {
        ev = tn_rbtree_data(node, tn_event_t, timer);

        if (!ev->cancelable) {
            return TN_AGAIN;
        }
    }

    /* only cancelable timers left */

    return TN_OK;
}
