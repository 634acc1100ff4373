
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_ERRNO_H_INCLUDED_
#define _TN_ERRNO_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


#define TN_EPERM         EPERM
#define TN_ENOENT        ENOENT
#define TN_ESRCH         ESRCH
#define TN_EINTR         EINTR
#define TN_ECHILD        ECHILD
#define TN_ENOMEM        ENOMEM
#define TN_EACCES        EACCES
#define TN_EBUSY         EBUSY
#define TN_EEXIST        EEXIST
#define TN_EXDEV         EXDEV
#define TN_ENOTDIR       ENOTDIR
#define TN_EISDIR        EISDIR
#define TN_EINVAL        EINVAL
#define TN_ENFILE        ENFILE
#define TN_EMFILE        EMFILE
#define TN_ENOSPC        ENOSPC
#define TN_EPIPE         EPIPE
#define TN_EINPROGRESS   EINPROGRESS
#define TN_EADDRINUSE    EADDRINUSE
#define TN_ECONNABORTED  ECONNABORTED
#define TN_ECONNRESET    ECONNRESET
#define TN_ENOTCONN      ENOTCONN
#define TN_ETIMEDOUT     ETIMEDOUT
#define TN_ECONNREFUSED  ECONNREFUSED
#define TN_EAGAIN        EAGAIN
#define TN_EDQUOT        EDQUOT

#define tn_errno                  errno
#define tn_socket_errno           errno
#define tn_set_errno(err)         errno = err
#define tn_set_socket_errno(err)  errno = err

/*
 * Writes the text of err into [errstr, errstr + size) and returns the end.
 * Thread-safe (strerror_r).
 */
u_char *tn_strerror(tn_err_t err, u_char *errstr, size_t size);


#endif /* _TN_ERRNO_H_INCLUDED_ */
