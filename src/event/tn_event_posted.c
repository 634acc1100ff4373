
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


tn_queue_t  tn_posted_accept_events;
tn_queue_t  tn_posted_events;


void
tn_event_process_posted(tn_cycle_t *cycle, tn_queue_t *posted)
{
    tn_queue_t  *q;
    tn_event_t  *ev;

    while (!tn_queue_empty(posted)) {

        q = tn_queue_head(posted);
        ev = tn_queue_data(q, tn_event_t, queue);

        tn_delete_posted_event(ev);

        ev->handler(ev);
    }
}
