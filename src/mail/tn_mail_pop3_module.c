
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_pop3.h>


static void *tn_mail_pop3_create_srv_conf(tn_conf_t *cf);
static char *tn_mail_pop3_merge_srv_conf(tn_conf_t *cf, void *parent,
    void *child);


static tn_mail_protocol_t  tn_mail_pop3_protocol = {
    tn_string("pop3"),
    TN_MAIL_POP3_PROTOCOL,
    tn_mail_pop3_init_session,
    tn_string("-ERR [SYS/TEMP] internal server error" CRLF),
    /* RFC 3206 response codes */
    tn_string("-ERR [SYS/TEMP] Too many connections" CRLF),
    tn_string("-ERR [SYS/TEMP] Too many sessions, try again later" CRLF)
};


/*
 * The input buffer must hold a whole command line (255 octets) and an
 * AUTH PLAIN response; the parser refuses longer lines by itself, so a
 * buffer below the SASL limit only makes long AUTH PLAIN responses fail.
 */
static tn_conf_num_bounds_t  tn_mail_pop3_client_buffer_bounds = {
    tn_conf_check_num_bounds, TN_MAIL_POP3_MAX_LINE, 1024 * 1024
};


static tn_command_t  tn_mail_pop3_commands[] = {

    { tn_string("pop3_client_buffer"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_size_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_pop3_srv_conf_t, client_buffer_size),
      &tn_mail_pop3_client_buffer_bounds },

    { tn_string("pop3_timeout"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_pop3_srv_conf_t, timeout),
      NULL },

    { tn_string("pop3_auth_plaintext"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_pop3_srv_conf_t, auth_plaintext),
      NULL },

      tn_null_command
};


static tn_mail_module_t  tn_mail_pop3_module_ctx = {
    &tn_mail_pop3_protocol,                /* protocol */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    tn_mail_pop3_create_srv_conf,          /* create server configuration */
    tn_mail_pop3_merge_srv_conf            /* merge server configuration */
};


tn_module_t  tn_mail_pop3_module = {
    TN_MODULE_V1,
    "tn_mail_pop3_module",
    &tn_mail_pop3_module_ctx,
    tn_mail_pop3_commands,
    TN_MAIL_MODULE,
    NULL,
    NULL,
    NULL,
    NULL,
    TN_MODULE_V1_PADDING
};


static void *
tn_mail_pop3_create_srv_conf(tn_conf_t *cf)
{
    tn_mail_pop3_srv_conf_t  *pscf;

    pscf = tn_pcalloc(cf->pool, sizeof(tn_mail_pop3_srv_conf_t));
    if (pscf == NULL) {
        return NULL;
    }

    pscf->client_buffer_size = TN_CONF_UNSET_SIZE;
    pscf->timeout = TN_CONF_UNSET_MSEC;
    pscf->auth_plaintext = TN_CONF_UNSET;

    return pscf;
}


static char *
tn_mail_pop3_merge_srv_conf(tn_conf_t *cf, void *parent, void *child)
{
    tn_mail_pop3_srv_conf_t *prev = parent;
    tn_mail_pop3_srv_conf_t *conf = child;

    tn_mail_core_srv_conf_t  *cscf;

    tn_conf_merge_size_value(conf->client_buffer_size,
                             prev->client_buffer_size, 4096);
    tn_conf_merge_msec_value(conf->timeout, prev->timeout, 600000);
    tn_conf_merge_value(conf->auth_plaintext, prev->auth_plaintext, 0);

    /*
     * The core's idle timeout (used while a reply is being written) is
     * the protocol's: pop3_timeout for a POP3 server.
     */

    cscf = tn_mail_conf_get_module_srv_conf(cf, tn_mail_core_module);

    if (cscf->protocol == &tn_mail_pop3_protocol) {
        cscf->timeout = conf->timeout;
    }

    return TN_CONF_OK;
}
