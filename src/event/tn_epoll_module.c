
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


/*
 * Edge-triggered epoll.  A connection is registered once for both
 * directions; the event's "instance" bit, stored in the low bit of the
 * user data pointer, detects events for a descriptor that was closed and
 * reused within one epoll_wait() batch.
 */

typedef struct {
    tn_uint_t  events;
} tn_epoll_conf_t;


static tn_int_t tn_epoll_init(tn_cycle_t *cycle);
static void *tn_epoll_create_conf(tn_cycle_t *cycle);
static char *tn_epoll_init_conf(tn_cycle_t *cycle, void *conf);


static int                  ep = -1;
static struct epoll_event  *event_list;
static tn_uint_t            nevents;


static tn_str_t      epoll_name = tn_string("epoll");

static tn_command_t  tn_epoll_commands[] = {

    { tn_string("epoll_events"),
      TN_EVENT_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      0,
      offsetof(tn_epoll_conf_t, events),
      NULL },

      tn_null_command
};


static tn_event_module_t  tn_epoll_module_ctx = {
    &epoll_name,
    tn_epoll_create_conf,
    tn_epoll_init_conf
};

tn_module_t  tn_epoll_module = {
    TN_MODULE_V1,
    "tn_epoll_module",
    &tn_epoll_module_ctx,
    tn_epoll_commands,
    TN_EVENT_MODULE,
    NULL,
    NULL,
    NULL,
    NULL,
    TN_MODULE_V1_PADDING
};


/* called from tn_event_process_init() in each worker */
tn_int_t
tn_epoll_process_init(tn_cycle_t *cycle)
{
    return tn_epoll_init(cycle);
}


static tn_int_t
tn_epoll_init(tn_cycle_t *cycle)
{
    tn_epoll_conf_t  *epcf;

    epcf = tn_event_get_conf(cycle->conf_ctx, tn_epoll_module);

    if (ep == -1) {
        ep = epoll_create1(EPOLL_CLOEXEC);

        if (ep == -1) {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                         "epoll_create1() failed");
            return TN_ERROR;
        }
    }

    if (nevents < epcf->events) {
        if (event_list) {
            tn_free(event_list);
        }

        event_list = tn_alloc(sizeof(struct epoll_event) * epcf->events,
                              cycle->log);
        if (event_list == NULL) {
            return TN_ERROR;
        }
    }

    nevents = epcf->events;

    tn_event_flags = TN_CLEAR_EVENT;

    return TN_OK;
}


void
tn_epoll_done(tn_cycle_t *cycle)
{
    if (close(ep) == -1) {
        tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                     "epoll close() failed");
    }

    ep = -1;

    tn_free(event_list);

    event_list = NULL;
    nevents = 0;
}


static tn_int_t
tn_epoll_ctl(tn_connection_t *c, int op, uint32_t events)
{
    struct epoll_event  ee;

    ee.events = events;
    ee.data.ptr = (void *) ((uintptr_t) c | c->read->instance);

    if (epoll_ctl(ep, op, c->fd, &ee) == -1) {
        tn_log_error(TN_LOG_ALERT, c->log, tn_errno,
                     "epoll_ctl(%d, %d) failed", op, c->fd);
        return TN_ERROR;
    }

    return TN_OK;
}


tn_int_t
tn_add_conn(tn_connection_t *c)
{
    if (tn_epoll_ctl(c, EPOLL_CTL_ADD,
                     EPOLLIN|EPOLLOUT|EPOLLET|EPOLLRDHUP) != TN_OK)
    {
        return TN_ERROR;
    }

    c->read->active = 1;
    c->write->active = 1;

    return TN_OK;
}


tn_int_t
tn_del_conn(tn_connection_t *c, tn_uint_t flags)
{
    struct epoll_event  ee;

    /*
     * when the file descriptor is closed the epoll automatically deletes
     * it from its queue so we do not need to delete explicitly the event
     * before the closing the file descriptor
     */

    if (flags & TN_CLOSE_EVENT) {
        c->read->active = 0;
        c->write->active = 0;
        return TN_OK;
    }

    if (!c->read->active && !c->write->active) {
        return TN_OK;
    }

    ee.events = 0;
    ee.data.ptr = NULL;

    if (epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, &ee) == -1) {
        tn_log_error(TN_LOG_ALERT, c->log, tn_errno,
                     "epoll_ctl(%d, %d) failed", EPOLL_CTL_DEL, c->fd);
        return TN_ERROR;
    }

    c->read->active = 0;
    c->write->active = 0;

    return TN_OK;
}


tn_int_t
tn_epoll_add_fd(tn_connection_t *c, uint32_t events)
{
    if (tn_epoll_ctl(c, EPOLL_CTL_ADD, events) != TN_OK) {
        return TN_ERROR;
    }

    c->read->active = (events & EPOLLIN) ? 1 : 0;
    c->write->active = (events & EPOLLOUT) ? 1 : 0;

    return TN_OK;
}


tn_int_t
tn_epoll_mod_fd(tn_connection_t *c, uint32_t events)
{
    if (tn_epoll_ctl(c, EPOLL_CTL_MOD, events) != TN_OK) {
        return TN_ERROR;
    }

    c->read->active = (events & EPOLLIN) ? 1 : 0;
    c->write->active = (events & EPOLLOUT) ? 1 : 0;

    return TN_OK;
}


/*
 * Single events are used for listening sockets only: a listening socket
 * is level-triggered so that a backlog left by a full accept loop is
 * reported again.
 */
tn_int_t
tn_add_event(tn_event_t *ev, tn_int_t event, tn_uint_t flags)
{
    tn_connection_t  *c;

    c = ev->data;

    if (tn_epoll_ctl(c, EPOLL_CTL_ADD, (uint32_t) event | flags) != TN_OK) {
        return TN_ERROR;
    }

    ev->active = 1;

    return TN_OK;
}


tn_int_t
tn_del_event(tn_event_t *ev, tn_int_t event, tn_uint_t flags)
{
    tn_connection_t     *c;
    struct epoll_event   ee;

    if (flags & TN_CLOSE_EVENT) {
        ev->active = 0;
        return TN_OK;
    }

    c = ev->data;

    ee.events = 0;
    ee.data.ptr = NULL;

    if (epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, &ee) == -1) {
        tn_log_error(TN_LOG_ALERT, c->log, tn_errno,
                     "epoll_ctl(%d, %d) failed", EPOLL_CTL_DEL, c->fd);
        return TN_ERROR;
    }

    ev->active = 0;

    return TN_OK;
}


tn_int_t
tn_process_events(tn_cycle_t *cycle, tn_msec_t timer, tn_uint_t flags)
{
    int                events;
    uint32_t           revents;
    tn_int_t           instance, i;
    tn_uint_t          level;
    tn_err_t           err;
    tn_event_t        *rev, *wev;
    tn_queue_t        *queue;
    tn_connection_t   *c;

    events = epoll_wait(ep, event_list, (int) nevents, timer);

    err = (events == -1) ? tn_errno : 0;

    if (flags & TN_UPDATE_TIME || tn_event_timer_alarm) {
        tn_time_update();
    }

    if (err) {
        if (err == TN_EINTR) {

            if (tn_event_timer_alarm) {
                tn_event_timer_alarm = 0;
                return TN_OK;
            }

            level = TN_LOG_INFO;

        } else {
            level = TN_LOG_ALERT;
        }

        tn_log_error(level, cycle->log, err, "epoll_wait() failed");
        return TN_ERROR;
    }

    if (events == 0) {
        if (timer != TN_TIMER_INFINITE) {
            return TN_OK;
        }

        tn_log_error(TN_LOG_ALERT, cycle->log, 0,
                     "epoll_wait() returned no events without timeout");
        return TN_ERROR;
    }

    for (i = 0; i < events; i++) {
        c = event_list[i].data.ptr;

        instance = (uintptr_t) c & 1;
        c = (tn_connection_t *) ((uintptr_t) c & (uintptr_t) ~1);

        rev = c->read;

        if (c->fd == -1 || rev->instance != instance) {

            /*
             * the stale event from a file descriptor
             * that was just closed in this iteration
             */
            continue;
        }

        revents = event_list[i].events;

        if (revents & (EPOLLERR|EPOLLHUP)) {
            /*
             * if the error events were returned, add EPOLLIN and EPOLLOUT
             * to handle the events at least in one active handler
             */

            revents |= EPOLLIN|EPOLLOUT;
        }

        if ((revents & EPOLLIN) && rev->active) {

            if (revents & EPOLLRDHUP) {
                rev->pending_eof = 1;
            }

            rev->ready = 1;
            rev->available = -1;

            if (flags & TN_POST_EVENTS) {
                queue = rev->accept ? &tn_posted_accept_events
                                    : &tn_posted_events;

                tn_post_event(rev, queue);

            } else {
                rev->handler(rev);
            }
        }

        wev = c->write;

        if ((revents & EPOLLOUT) && wev->active) {

            if (c->fd == -1 || wev->instance != instance) {

                /*
                 * the stale event from a file descriptor
                 * that was just closed in this iteration
                 */
                continue;
            }

            wev->ready = 1;

            if (flags & TN_POST_EVENTS) {
                tn_post_event(wev, &tn_posted_events);

            } else {
                wev->handler(wev);
            }
        }
    }

    return TN_OK;
}


static void *
tn_epoll_create_conf(tn_cycle_t *cycle)
{
    tn_epoll_conf_t  *epcf;

    epcf = tn_palloc(cycle->pool, sizeof(tn_epoll_conf_t));
    if (epcf == NULL) {
        return NULL;
    }

    epcf->events = TN_CONF_UNSET;

    return epcf;
}


static char *
tn_epoll_init_conf(tn_cycle_t *cycle, void *conf)
{
    tn_epoll_conf_t *epcf = conf;

    tn_conf_init_uint_value(epcf->events, 512);

    return TN_CONF_OK;
}
