
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


ssize_t
tn_write_fd(tn_fd_t fd, void *buf, size_t n)
{
    ssize_t   rc;
    size_t    done;
    u_char   *p;

    p = buf;
    done = 0;

    while (done < n) {
        rc = write(fd, p + done, n - done);

        if (rc == -1) {
            if (errno == EINTR) {
                continue;
            }

            return -1;
        }

        done += rc;
    }

    return done;
}


ssize_t
tn_read_fd(tn_fd_t fd, void *buf, size_t n)
{
    ssize_t  rc;

    for ( ;; ) {
        rc = read(fd, buf, n);

        if (rc == -1 && errno == EINTR) {
            continue;
        }

        return rc;
    }
}


tn_int_t
tn_create_full_path(u_char *dir, mode_t access)
{
    u_char     *p, ch;
    tn_err_t    err;

    err = 0;

    for (p = dir + 1; *p; p++) {
        ch = *p;

        if (ch != '/') {
            continue;
        }

        *p = '\0';

        if (mkdir((char *) dir, access) == -1 && errno != EEXIST) {
            err = errno;
        }

        *p = '/';

        if (err) {
            errno = err;
            return TN_ERROR;
        }
    }

    if (mkdir((char *) dir, access) == -1 && errno != EEXIST) {
        return TN_ERROR;
    }

    return TN_OK;
}


tn_int_t
tn_fsync_dir(const char *path)
{
    int       fd;
    tn_err_t  err;

    fd = open(path, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    if (fd == -1) {
        return TN_ERROR;
    }

    if (fsync(fd) == -1) {
        err = errno;
        (void) close(fd);
        errno = err;
        return TN_ERROR;
    }

    (void) close(fd);

    return TN_OK;
}


tn_int_t
tn_get_full_name(tn_pool_t *pool, tn_str_t *prefix, tn_str_t *name)
{
    size_t   len;
    u_char  *p, *n;

    if (name->len > 0 && name->data[0] == '/') {
        return TN_OK;
    }

    len = prefix->len;

    n = tn_pnalloc(pool, len + name->len + 2);
    if (n == NULL) {
        return TN_ERROR;
    }

    p = tn_cpymem(n, prefix->data, len);

    if (len && prefix->data[len - 1] != '/') {
        *p++ = '/';
    }

    p = tn_cpymem(p, name->data, name->len);
    *p = '\0';

    name->len = p - n;
    name->data = n;

    return TN_OK;
}


tn_int_t
tn_nonblocking(tn_socket_t s)
{
    int  nb;

    nb = 1;

    return ioctl(s, FIONBIO, &nb);
}


tn_int_t
tn_blocking(tn_socket_t s)
{
    int  nb;

    nb = 0;

    return ioctl(s, FIONBIO, &nb);
}
