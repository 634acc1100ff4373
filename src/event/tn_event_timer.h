
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_EVENT_TIMER_H_INCLUDED_
#define _TN_EVENT_TIMER_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


#define TN_TIMER_INFINITE  (tn_msec_t) -1

/* a timer is not moved when the new expiry is within this many ms */
#define TN_TIMER_LAZY_DELAY  300


tn_int_t tn_event_timer_init(tn_log_t *log);
/* milliseconds until the nearest timer, or TN_TIMER_INFINITE */
tn_msec_t tn_event_find_timer(void);
/* calls the handlers of expired timers with ev->timedout set */
void tn_event_expire_timers(void);
/* TN_OK when only cancelable timers are left */
tn_int_t tn_event_no_timers_left(void);


extern tn_rbtree_t  tn_event_timer_rbtree;


static tn_inline void
tn_event_del_timer(tn_event_t *ev)
{
    tn_rbtree_delete(&tn_event_timer_rbtree, &ev->timer);

    ev->timer.left = NULL;
    ev->timer.right = NULL;
    ev->timer.parent = NULL;

    ev->timer_set = 0;
}


static tn_inline void
tn_event_add_timer(tn_event_t *ev, tn_msec_t timer)
{
    tn_msec_t      key;
    tn_msec_int_t  diff;

    key = tn_current_msec + timer;

    if (ev->timer_set) {

        /* avoid re-inserting for a timer that hardly moved */
        diff = (tn_msec_int_t) (key - ev->timer.key);

        if (tn_abs(diff) < TN_TIMER_LAZY_DELAY) {
            return;
        }

        tn_event_del_timer(ev);
    }

    ev->timer.key = key;

    tn_rbtree_insert(&tn_event_timer_rbtree, &ev->timer);

    ev->timer_set = 1;
}


#endif /* _TN_EVENT_TIMER_H_INCLUDED_ */
