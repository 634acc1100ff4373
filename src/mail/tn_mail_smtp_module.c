
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>
#include <tn_mail_smtp.h>


static void *tn_mail_smtp_create_srv_conf(tn_conf_t *cf);
static char *tn_mail_smtp_merge_srv_conf(tn_conf_t *cf, void *parent,
    void *child);


static tn_mail_protocol_t  tn_mail_smtp_protocol = {
    tn_string("smtp"),
    TN_MAIL_SMTP_PROTOCOL,
    tn_mail_smtp_init_session,
    tn_string("451 4.3.0 Internal server error" CRLF),
    /* %V: server_name (Postfix's wording) */
    tn_string("421 4.7.0 %V Error: too many connections from your address"
              CRLF),
    tn_string("421 4.7.0 %V Error: too many sessions, try again later" CRLF)
};


/*
 * RFC 5321 4.5.3.1.4: a command line is at least 512 octets; the buffer
 * holds one whole line, so it may not be smaller than that.
 */
static tn_conf_num_bounds_t  tn_mail_smtp_client_buffer_bounds = {
    tn_conf_check_num_bounds, 512, 1024 * 1024
};

static tn_conf_num_bounds_t  tn_mail_smtp_max_recipients_bounds = {
    tn_conf_check_num_bounds, 1, 100000
};

static tn_conf_num_bounds_t  tn_mail_smtp_max_errors_bounds = {
    tn_conf_check_num_bounds, 1, 1000
};

static tn_conf_num_bounds_t  tn_mail_smtp_max_hops_bounds = {
    tn_conf_check_num_bounds, 1, 1000
};


static tn_conf_enum_t  tn_mail_smtp_auth_modes[] = {
    { tn_string("off"), TN_MAIL_SMTP_AUTH_OFF },
    { tn_string("optional"), TN_MAIL_SMTP_AUTH_OPTIONAL },
    { tn_string("required"), TN_MAIL_SMTP_AUTH_REQUIRED },
    { tn_null_string, 0 }
};


static tn_command_t  tn_mail_smtp_commands[] = {

    { tn_string("smtp_client_buffer"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_size_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, client_buffer_size),
      &tn_mail_smtp_client_buffer_bounds },

    { tn_string("smtp_max_message_size"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_off_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, max_message_size),
      NULL },

    { tn_string("smtp_max_recipients"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, max_recipients),
      &tn_mail_smtp_max_recipients_bounds },

    { tn_string("smtp_max_errors"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, max_errors),
      &tn_mail_smtp_max_errors_bounds },

    { tn_string("smtp_timeout"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, timeout),
      NULL },

    { tn_string("smtp_vrfy"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, vrfy),
      NULL },

    { tn_string("smtp_auth"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_enum_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, auth),
      &tn_mail_smtp_auth_modes },

    { tn_string("smtp_auth_plaintext"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, auth_plaintext),
      NULL },

    { tn_string("smtp_relay_networks"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_1MORE,
      tn_mail_smtp_set_networks_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, relay_networks),
      NULL },

    { tn_string("smtp_sender_check"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, sender_check),
      NULL },

    { tn_string("smtp_quota_permanent"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, quota_permanent),
      NULL },

    { tn_string("smtp_max_hops"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, max_hops),
      &tn_mail_smtp_max_hops_bounds },

    { tn_string("smtp_max_commands_before_mail"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, max_commands),
      NULL },

    { tn_string("smtp_session_timeout"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, session_timeout),
      NULL },

    { tn_string("smtp_transcript"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_mail_smtp_transcript_set,
      TN_MAIL_SRV_CONF_OFFSET,
      0,
      NULL },

    { tn_string("smtp_transcript_networks"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_1MORE,
      tn_mail_smtp_set_networks_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_smtp_srv_conf_t, transcript_networks),
      NULL },

      tn_null_command
};


static tn_mail_module_t  tn_mail_smtp_module_ctx = {
    &tn_mail_smtp_protocol,                /* protocol */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    tn_mail_smtp_create_srv_conf,          /* create server configuration */
    tn_mail_smtp_merge_srv_conf            /* merge server configuration */
};


tn_module_t  tn_mail_smtp_module = {
    TN_MODULE_V1,
    "tn_mail_smtp_module",
    &tn_mail_smtp_module_ctx,
    tn_mail_smtp_commands,
    TN_MAIL_MODULE,
    tn_mail_smtp_transcript_init_module,  /* init module */
    NULL,
    NULL,
    NULL,
    TN_MODULE_V1_PADDING
};


static void *
tn_mail_smtp_create_srv_conf(tn_conf_t *cf)
{
    tn_mail_smtp_srv_conf_t  *sscf;

    sscf = tn_pcalloc(cf->pool, sizeof(tn_mail_smtp_srv_conf_t));
    if (sscf == NULL) {
        return NULL;
    }

    sscf->client_buffer_size = TN_CONF_UNSET_SIZE;
    sscf->max_message_size = TN_CONF_UNSET;
    sscf->max_recipients = TN_CONF_UNSET_UINT;
    sscf->max_errors = TN_CONF_UNSET_UINT;
    sscf->timeout = TN_CONF_UNSET_MSEC;
    sscf->vrfy = TN_CONF_UNSET;
    sscf->auth = TN_CONF_UNSET_UINT;
    sscf->auth_plaintext = TN_CONF_UNSET;
    sscf->relay_networks = TN_CONF_UNSET_PTR;
    sscf->sender_check = TN_CONF_UNSET;
    sscf->quota_permanent = TN_CONF_UNSET;
    sscf->max_hops = TN_CONF_UNSET_UINT;
    sscf->max_commands = TN_CONF_UNSET_UINT;
    sscf->session_timeout = TN_CONF_UNSET_MSEC;
    sscf->transcript = TN_CONF_UNSET_PTR;
    sscf->transcript_networks = TN_CONF_UNSET_PTR;

    return sscf;
}


static char *
tn_mail_smtp_merge_srv_conf(tn_conf_t *cf, void *parent, void *child)
{
    tn_mail_smtp_srv_conf_t *prev = parent;
    tn_mail_smtp_srv_conf_t *conf = child;

    tn_mail_core_srv_conf_t  *cscf;

    tn_conf_merge_size_value(conf->client_buffer_size,
                             prev->client_buffer_size, 4096);
    tn_conf_merge_off_value(conf->max_message_size, prev->max_message_size,
                            25 * 1024 * 1024);
    tn_conf_merge_uint_value(conf->max_recipients, prev->max_recipients,
                             1000);
    tn_conf_merge_uint_value(conf->max_errors, prev->max_errors,
                             TN_CONF_UNSET_UINT);
    tn_conf_merge_msec_value(conf->timeout, prev->timeout, 300000);
    tn_conf_merge_value(conf->vrfy, prev->vrfy, 0);
    tn_conf_merge_uint_value(conf->auth, prev->auth, TN_MAIL_SMTP_AUTH_OFF);
    tn_conf_merge_value(conf->auth_plaintext, prev->auth_plaintext, 0);
    tn_conf_merge_ptr_value(conf->relay_networks, prev->relay_networks,
                            NULL);
    tn_conf_merge_value(conf->sender_check, prev->sender_check, 1);
    tn_conf_merge_value(conf->quota_permanent, prev->quota_permanent, 0);
    tn_conf_merge_uint_value(conf->max_hops, prev->max_hops, 50);
    tn_conf_merge_uint_value(conf->max_commands, prev->max_commands, 50);
    tn_conf_merge_msec_value(conf->session_timeout, prev->session_timeout,
                             3600000);

    if (conf->max_message_size < 0) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "\"smtp_max_message_size\" must not be negative");
        return TN_CONF_ERROR;
    }

    /*
     * The core's idle timeout (used while a reply is written) and its
     * count of bad command lines are the protocol's for an SMTP server.
     */

    cscf = tn_mail_conf_get_module_srv_conf(cf, tn_mail_core_module);

    /* without smtp_max_errors, the core's max_errors (10) counts */
    if (conf->max_errors == TN_CONF_UNSET_UINT) {
        conf->max_errors = cscf->max_errors;
    }

    if (cscf->protocol == &tn_mail_smtp_protocol) {
        cscf->timeout = conf->timeout;
        cscf->max_errors = conf->max_errors;
    }

    tn_conf_merge_ptr_value(conf->transcript, prev->transcript, NULL);
    tn_conf_merge_ptr_value(conf->transcript_networks,
                            prev->transcript_networks, NULL);

    return TN_CONF_OK;
}
