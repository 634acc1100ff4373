
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


ssize_t
tn_unix_send(tn_connection_t *c, u_char *buf, size_t size)
{
    ssize_t       n;
    tn_err_t      err;
    tn_event_t   *wev;

    wev = c->write;

    for ( ;; ) {
        n = send(c->fd, buf, size, MSG_NOSIGNAL);

        if (n > 0) {
            if (n < (ssize_t) size) {
                wev->ready = 0;
            }

            c->sent += n;

            return n;
        }

        err = tn_socket_errno;

        if (n == 0) {
            tn_log_error(TN_LOG_ALERT, c->log, err, "send() returned zero");
            wev->ready = 0;
            return n;
        }

        if (err == TN_EAGAIN || err == TN_EINTR) {
            wev->ready = 0;

            if (err == TN_EAGAIN) {
                return TN_AGAIN;
            }

        } else {
            wev->error = 1;
            (void) tn_connection_error(c, err, "send() failed");
            return TN_ERROR;
        }
    }
}
