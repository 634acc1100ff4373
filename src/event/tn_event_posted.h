
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_EVENT_POSTED_H_INCLUDED_
#define _TN_EVENT_POSTED_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


/* events run after the current batch of I/O events, in order */

#define tn_post_event(ev, q)                                                 \
                                                                             \
    if (!(ev)->posted) {                                                     \
        (ev)->posted = 1;                                                    \
        tn_queue_insert_tail(q, &(ev)->queue);                               \
    }

#define tn_delete_posted_event(ev)                                           \
                                                                             \
    (ev)->posted = 0;                                                        \
    tn_queue_remove(&(ev)->queue);


void tn_event_process_posted(tn_cycle_t *cycle, tn_queue_t *posted);


extern tn_queue_t  tn_posted_accept_events;
extern tn_queue_t  tn_posted_events;


#endif /* _TN_EVENT_POSTED_H_INCLUDED_ */
