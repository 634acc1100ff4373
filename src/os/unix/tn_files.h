
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_FILES_H_INCLUDED_
#define _TN_FILES_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


struct tn_open_file_s {
    tn_fd_t      fd;
    tn_str_t     name;
};


#define tn_open_file(name, mode, create, access)                            \
    open((const char *) name, mode|create|O_CLOEXEC, access)

#define TN_FILE_RDONLY          O_RDONLY
#define TN_FILE_WRONLY          O_WRONLY
#define TN_FILE_RDWR            O_RDWR
#define TN_FILE_CREATE_OR_OPEN  O_CREAT
#define TN_FILE_OPEN            0
#define TN_FILE_TRUNCATE        (O_CREAT|O_TRUNC)
#define TN_FILE_APPEND          (O_WRONLY|O_APPEND)
#define TN_FILE_NONBLOCK        O_NONBLOCK

#define TN_FILE_DEFAULT_ACCESS  0644
#define TN_FILE_OWNER_ACCESS    0600

#define tn_close_file           close
#define tn_delete_file(name)    unlink((const char *) name)
#define tn_rename_file(o, n)    rename((const char *) o, (const char *) n)
#define tn_create_dir(name, access) mkdir((const char *) name, access)
#define tn_file_info(file, sb)  stat((const char *) file, sb)
#define tn_fd_info(fd, sb)      fstat(fd, sb)

typedef struct stat             tn_file_info_t;

#define tn_linefeed(p)          *p++ = LF;
#define TN_LINEFEED_SIZE        1
#define TN_LINEFEED             "\x0a"

#define tn_stderr               STDERR_FILENO
#define tn_stdout               STDOUT_FILENO

/* writes all of buf, retrying on EINTR and short writes */
ssize_t tn_write_fd(tn_fd_t fd, void *buf, size_t n);
/* reads up to n bytes, retrying on EINTR */
ssize_t tn_read_fd(tn_fd_t fd, void *buf, size_t n);

/* mkdir -p with the given access; TN_OK or TN_ERROR (errno set) */
tn_int_t tn_create_full_path(u_char *dir, mode_t access);

/* fsync() of a directory by path */
tn_int_t tn_fsync_dir(const char *path);

/* a new absolute path: prefix + name unless name is absolute */
tn_int_t tn_get_full_name(tn_pool_t *pool, tn_str_t *prefix,
    tn_str_t *name);

tn_int_t tn_nonblocking(tn_socket_t s);
tn_int_t tn_blocking(tn_socket_t s);


#endif /* _TN_FILES_H_INCLUDED_ */
