
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_imap.h>


static tn_int_t tn_mail_imap_init_module(tn_cycle_t *cycle);
static tn_int_t tn_mail_imap_init_process(tn_cycle_t *cycle);
static void *tn_mail_imap_create_srv_conf(tn_conf_t *cf);
static char *tn_mail_imap_merge_srv_conf(tn_conf_t *cf, void *parent,
    void *child);


static tn_mail_protocol_t  tn_mail_imap_protocol = {
    tn_string(TN_MAIL_IMAP_PROTOCOL_NAME),
    TN_MAIL_IMAP_PROTOCOL,
    tn_mail_imap_init_session,
    tn_string("* BYE [UNAVAILABLE] Internal server error" CRLF),
    /* RFC 5530 response codes */
    tn_string("* BYE [UNAVAILABLE] Too many connections" CRLF),
    tn_string("* BYE [UNAVAILABLE] Too many sessions, try again later"
              CRLF)
};


/*
 * The input buffer: the parser copies what it keeps into the command
 * pool, so the buffer only bounds one read; it must hold a SASL
 * response line (read without the parser) and is freed while the
 * session is idle.
 */
static tn_conf_num_bounds_t  tn_mail_imap_client_buffer_bounds = {
    tn_conf_check_num_bounds, 4096, 1024 * 1024
};

/* RFC 7162 section 4: command lines of at least 8192 octets */
static tn_conf_num_bounds_t  tn_mail_imap_max_line_bounds = {
    tn_conf_check_num_bounds, 8192, 16 * 1024 * 1024
};

static tn_conf_num_bounds_t  tn_mail_imap_max_literal_bounds = {
    tn_conf_check_num_bounds, 1024, 64 * 1024 * 1024
};


static tn_command_t  tn_mail_imap_commands[] = {

    { tn_string("imap_client_buffer"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_size_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_imap_srv_conf_t, client_buffer_size),
      &tn_mail_imap_client_buffer_bounds },

    { tn_string("imap_timeout"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_imap_srv_conf_t, timeout),
      NULL },

    { tn_string("imap_max_line"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_size_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_imap_srv_conf_t, max_line),
      &tn_mail_imap_max_line_bounds },

    { tn_string("imap_max_literal"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_size_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_imap_srv_conf_t, max_literal),
      &tn_mail_imap_max_literal_bounds },

    { tn_string("imap_max_append"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_off_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_imap_srv_conf_t, max_append),
      NULL },

    { tn_string("imap_auth_plaintext"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_imap_srv_conf_t, auth_plaintext),
      NULL },

    { tn_string("imap_max_idle_sessions"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_imap_srv_conf_t, max_idle),
      NULL },

      tn_null_command
};


static tn_mail_module_t  tn_mail_imap_module_ctx = {
    &tn_mail_imap_protocol,                /* protocol */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    tn_mail_imap_create_srv_conf,          /* create server configuration */
    tn_mail_imap_merge_srv_conf            /* merge server configuration */
};


tn_module_t  tn_mail_imap_module = {
    TN_MODULE_V1,
    "tn_mail_imap_module",
    &tn_mail_imap_module_ctx,
    tn_mail_imap_commands,
    TN_MAIL_MODULE,
    tn_mail_imap_init_module,              /* init module */
    tn_mail_imap_init_process,             /* init process */
    NULL,                                  /* exit process */
    NULL,
    TN_MODULE_V1_PADDING
};


static tn_int_t
tn_mail_imap_init_module(tn_cycle_t *cycle)
{
    return tn_mail_imap_notify_init_module(cycle);
}


static tn_int_t
tn_mail_imap_init_process(tn_cycle_t *cycle)
{
    return tn_mail_imap_notify_init_process(cycle);
}


static void *
tn_mail_imap_create_srv_conf(tn_conf_t *cf)
{
    tn_mail_imap_srv_conf_t  *iscf;

    iscf = tn_pcalloc(cf->pool, sizeof(tn_mail_imap_srv_conf_t));
    if (iscf == NULL) {
        return NULL;
    }

    iscf->client_buffer_size = TN_CONF_UNSET_SIZE;
    iscf->timeout = TN_CONF_UNSET_MSEC;
    iscf->max_line = TN_CONF_UNSET_SIZE;
    iscf->max_literal = TN_CONF_UNSET_SIZE;
    iscf->max_append = TN_CONF_UNSET;
    iscf->auth_plaintext = TN_CONF_UNSET;
    iscf->max_idle = TN_CONF_UNSET_UINT;

    return iscf;
}


static char *
tn_mail_imap_merge_srv_conf(tn_conf_t *cf, void *parent, void *child)
{
    tn_mail_imap_srv_conf_t *prev = parent;
    tn_mail_imap_srv_conf_t *conf = child;

    tn_mail_core_srv_conf_t  *cscf;

    tn_conf_merge_size_value(conf->client_buffer_size,
                             prev->client_buffer_size, 16384);

    /* RFC 3501 5.4: an autologout timer of at least 30 minutes */
    tn_conf_merge_msec_value(conf->timeout, prev->timeout, 1800000);

    tn_conf_merge_size_value(conf->max_line, prev->max_line,
                             TN_MAIL_IMAP_MAX_LINE);
    tn_conf_merge_size_value(conf->max_literal, prev->max_literal,
                             TN_MAIL_IMAP_MAX_LITERAL);
    tn_conf_merge_off_value(conf->max_append, prev->max_append,
                            TN_MAIL_IMAP_MAX_APPEND);
    tn_conf_merge_value(conf->auth_plaintext, prev->auth_plaintext, 0);
    tn_conf_merge_uint_value(conf->max_idle, prev->max_idle, 0);

    if (conf->max_append < 0) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "\"imap_max_append\" must not be negative");
        return TN_CONF_ERROR;
    }

    /* the core's idle timeout (a stalled write) is imap_timeout */

    cscf = tn_mail_conf_get_module_srv_conf(cf, tn_mail_core_module);

    if (cscf->protocol == &tn_mail_imap_protocol) {
        cscf->timeout = conf->timeout;
    }

    return TN_CONF_OK;
}
