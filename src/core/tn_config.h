
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_CONFIG_H_INCLUDED_
#define _TN_CONFIG_H_INCLUDED_


#include <tn_auto_config.h>

#include <sys/types.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <pwd.h>
#include <grp.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>


typedef intptr_t        tn_int_t;
typedef uintptr_t       tn_uint_t;
typedef intptr_t        tn_flag_t;
typedef unsigned char   u_char;
typedef int             tn_fd_t;
typedef int             tn_socket_t;
typedef int             tn_err_t;
typedef pid_t           tn_pid_t;


#define TN_INT_T_LEN        (sizeof("-9223372036854775808") - 1)
#define TN_MAX_INT_T_VALUE  INTPTR_MAX
#define TN_MAX_SIZE_T_VALUE SIZE_MAX
#define TN_MAX_OFF_T_VALUE  INT64_MAX
#define TN_OFF_T_LEN        (sizeof("-9223372036854775808") - 1)
#define TN_TIME_T_LEN       (sizeof("-9223372036854775808") - 1)
#define TN_SIZE_T_LEN       (sizeof("18446744073709551615") - 1)
#define TN_PTR_SIZE         8

#define TN_ALIGNMENT        sizeof(unsigned long)
#define tn_align(d, a)      (((d) + (a - 1)) & ~(a - 1))
#define tn_align_ptr(p, a)                                                   \
    (u_char *) (((uintptr_t) (p) + ((uintptr_t) a - 1)) & ~((uintptr_t) a - 1))

#define tn_abort            abort
#define tn_cdecl

#define TN_INVALID_FILE     -1
#define TN_FILE_ERROR       -1
#define TN_INVALID_PID      -1

#ifndef TN_MAXHOSTNAMELEN
#define TN_MAXHOSTNAMELEN   256
#endif

#define tn_inline           inline

#ifndef TN_PREFIX
#define TN_PREFIX           "data/"
#endif

#ifndef TN_CONF_PATH
#define TN_CONF_PATH        "conf/tern.conf"
#endif

#endif /* _TN_CONFIG_H_INCLUDED_ */
