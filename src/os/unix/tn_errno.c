
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


u_char *
tn_strerror(tn_err_t err, u_char *errstr, size_t size)
{
    char  buf[256], *msg;

    if (size == 0) {
        return errstr;
    }

    /* GNU strerror_r may return a static string instead of filling buf */
    msg = strerror_r(err, buf, sizeof(buf));

    return tn_cpystrn(errstr, (u_char *) msg, size);
}
