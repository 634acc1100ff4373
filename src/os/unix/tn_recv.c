
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>


ssize_t
tn_unix_recv(tn_connection_t *c, u_char *buf, size_t size)
{
    ssize_t       n;
    tn_err_t      err;
    tn_event_t   *rev;

    rev = c->read;

    do {
        n = recv(c->fd, buf, size, 0);

        if (n == 0) {
            rev->ready = 0;
            rev->eof = 1;

            return 0;
        }

        if (n > 0) {
            /*
             * With edge-triggered events a short read means the socket
             * is drained, unless the peer also closed its side.
             */
            if ((size_t) n < size && !rev->pending_eof) {
                rev->ready = 0;
            }

            return n;
        }

        err = tn_socket_errno;

        if (err == TN_EAGAIN || err == TN_EINTR) {
            n = TN_AGAIN;

        } else {
            n = tn_connection_error(c, err, "recv() failed");
            break;
        }

    } while (err == TN_EINTR);

    rev->ready = 0;

    if (n == TN_ERROR) {
        rev->error = 1;
    }

    return n;
}
