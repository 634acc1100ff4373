
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>


static void *tn_mail_core_create_main_conf(tn_conf_t *cf);
static void *tn_mail_core_create_srv_conf(tn_conf_t *cf);
static char *tn_mail_core_merge_srv_conf(tn_conf_t *cf, void *parent,
    void *child);
static char *tn_mail_core_server(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
static char *tn_mail_core_listen(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
static char *tn_mail_core_protocol(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
static char *tn_mail_core_sni(tn_conf_t *cf, tn_command_t *cmd, void *conf);
static tn_int_t tn_mail_core_ssl(tn_conf_t *cf,
    tn_mail_core_srv_conf_t *conf);


static tn_command_t  tn_mail_core_commands[] = {

    { tn_string("server"),
      TN_MAIL_MAIN_CONF|TN_CONF_BLOCK|TN_CONF_NOARGS,
      tn_mail_core_server,
      0,
      0,
      NULL },

    { tn_string("listen"),
      TN_MAIL_SRV_CONF|TN_CONF_1MORE,
      tn_mail_core_listen,
      TN_MAIL_SRV_CONF_OFFSET,
      0,
      NULL },

    { tn_string("protocol"),
      TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_mail_core_protocol,
      TN_MAIL_SRV_CONF_OFFSET,
      0,
      NULL },

    { tn_string("server_name"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_str_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, server_name),
      NULL },

    { tn_string("max_errors"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, max_errors),
      NULL },

    { tn_string("auth_failure_delay"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, auth_failure_delay),
      NULL },

    { tn_string("auth_block_after"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, auth_block_after),
      NULL },

    { tn_string("auth_block_time"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_sec_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, auth_block_time),
      NULL },

    { tn_string("ssl_certificate"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_path_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, certificate),
      NULL },

    { tn_string("ssl_certificate_key"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_path_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, certificate_key),
      NULL },

    { tn_string("ssl_certificate_auto"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, certificate_auto),
      NULL },

    { tn_string("ssl_session_timeout"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_sec_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, session_timeout),
      NULL },

    { tn_string("ssl_handshake_timeout"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, handshake_timeout),
      NULL },

    { tn_string("ssl_sni"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE3,
      tn_mail_core_sni,
      TN_MAIL_SRV_CONF_OFFSET,
      0,
      NULL },

    { tn_string("max_connections_per_ip"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, max_connections_per_ip),
      NULL },

    { tn_string("max_sessions"),
      TN_MAIL_MAIN_CONF|TN_MAIL_SRV_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      TN_MAIL_SRV_CONF_OFFSET,
      offsetof(tn_mail_core_srv_conf_t, max_sessions),
      NULL },

      tn_null_command
};


static tn_mail_module_t  tn_mail_core_module_ctx = {
    NULL,                                  /* protocol */

    tn_mail_core_create_main_conf,         /* create main configuration */
    NULL,                                  /* init main configuration */

    tn_mail_core_create_srv_conf,          /* create server configuration */
    tn_mail_core_merge_srv_conf            /* merge server configuration */
};


tn_module_t  tn_mail_core_module = {
    TN_MODULE_V1,
    "tn_mail_core_module",
    &tn_mail_core_module_ctx,
    tn_mail_core_commands,
    TN_MAIL_MODULE,
    tn_mail_limit_init_module,             /* init module */
    NULL,
    NULL,
    NULL,
    TN_MODULE_V1_PADDING
};


static void *
tn_mail_core_create_main_conf(tn_conf_t *cf)
{
    tn_mail_core_main_conf_t  *cmcf;

    cmcf = tn_pcalloc(cf->pool, sizeof(tn_mail_core_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    if (tn_array_init(&cmcf->servers, cf->pool, 4,
                      sizeof(tn_mail_core_srv_conf_t *))
        != TN_OK)
    {
        return NULL;
    }

    if (tn_array_init(&cmcf->listen, cf->pool, 4, sizeof(tn_mail_listen_t))
        != TN_OK)
    {
        return NULL;
    }

    return cmcf;
}


static void *
tn_mail_core_create_srv_conf(tn_conf_t *cf)
{
    tn_mail_core_srv_conf_t  *cscf;

    cscf = tn_pcalloc(cf->pool, sizeof(tn_mail_core_srv_conf_t));
    if (cscf == NULL) {
        return NULL;
    }

    cscf->timeout = TN_CONF_UNSET_MSEC;
    cscf->max_errors = TN_CONF_UNSET_UINT;
    cscf->auth_failure_delay = TN_CONF_UNSET_MSEC;
    cscf->auth_block_after = TN_CONF_UNSET_UINT;
    cscf->auth_block_time = TN_CONF_UNSET;
    cscf->ssl_enable = TN_CONF_UNSET;
    cscf->certificate_auto = TN_CONF_UNSET;
    cscf->session_timeout = TN_CONF_UNSET;
    cscf->handshake_timeout = TN_CONF_UNSET_MSEC;
    cscf->sni = TN_CONF_UNSET_PTR;
    cscf->max_connections_per_ip = TN_CONF_UNSET_UINT;
    cscf->max_sessions = TN_CONF_UNSET_UINT;

    cscf->file_name = cf->conf_file->name.data;
    cscf->line = cf->conf_file->line;

    return cscf;
}


static char *
tn_mail_core_merge_srv_conf(tn_conf_t *cf, void *parent, void *child)
{
    tn_mail_core_srv_conf_t *prev = parent;
    tn_mail_core_srv_conf_t *conf = child;

    tn_conf_merge_msec_value(conf->timeout, prev->timeout, 300000);
    tn_conf_merge_uint_value(conf->max_errors, prev->max_errors, 10);
    tn_conf_merge_msec_value(conf->auth_failure_delay,
                              prev->auth_failure_delay, 2000);
    tn_conf_merge_uint_value(conf->auth_block_after, prev->auth_block_after,
                             10);
    tn_conf_merge_sec_value(conf->auth_block_time, prev->auth_block_time,
                            900);

    tn_conf_merge_str_value(conf->server_name, prev->server_name, "");

    if (conf->server_name.len == 0) {
        conf->server_name = cf->cycle->hostname;
    }

    if (conf->protocol == NULL) {
        tn_log_error(TN_LOG_EMERG, cf->log, 0,
                      "unknown mail protocol for server in %s:%ui",
                      conf->file_name, conf->line);
        return TN_CONF_ERROR;
    }

    tn_conf_merge_str_value(conf->certificate, prev->certificate, "");
    tn_conf_merge_str_value(conf->certificate_key, prev->certificate_key,
                             "");
    tn_conf_merge_value(conf->certificate_auto, prev->certificate_auto, 0);
    tn_conf_merge_value(conf->session_timeout, prev->session_timeout, 300);
    tn_conf_merge_msec_value(conf->handshake_timeout,
                              prev->handshake_timeout, 30000);
    tn_conf_merge_ptr_value(conf->sni, prev->sni, NULL);

    if (tn_mail_core_ssl(cf, conf) != TN_OK) {
        return TN_CONF_ERROR;
    }

    /* Postfix's smtpd_client_connection_count_limit */
    tn_conf_merge_uint_value(conf->max_connections_per_ip,
                             prev->max_connections_per_ip, 50);
    /* worker_connections bounds the sessions of a worker already */
    tn_conf_merge_uint_value(conf->max_sessions, prev->max_sessions, 0);

    return TN_CONF_OK;
}


/*
 * A server with a certificate gets its TLS context.  With
 * "ssl_certificate_auto on" and neither file present, a self-signed
 * ECDSA P-256 certificate for server_name is made first.
 */
static tn_int_t
tn_mail_core_ssl(tn_conf_t *cf, tn_mail_core_srv_conf_t *conf)
{
    tn_uint_t            i;
    tn_file_info_t       fi;
    tn_mail_sni_conf_t  *sni;

    if (conf->certificate.len == 0) {
        conf->ssl_enable = 0;
        return TN_OK;
    }

    if (conf->certificate_key.len == 0) {
        tn_log_error(TN_LOG_EMERG, cf->log, 0,
                     "no \"ssl_certificate_key\" is defined for "
                     "the server in %s:%ui", conf->file_name, conf->line);
        return TN_ERROR;
    }

    if (conf->certificate_auto
        && tn_file_info(conf->certificate.data, &fi) == -1
        && tn_file_info(conf->certificate_key.data, &fi) == -1)
    {
        if (tn_test_config || tn_process == TN_PROCESS_CLI) {
            /* made when the server starts */
            conf->ssl_enable = 0;
            conf->ssl_deferred = 1;
            return TN_OK;
        }

        if (tn_ssl_generate_self_signed(cf->log, &conf->certificate,
                                        &conf->certificate_key,
                                        &conf->server_name)
            != TN_OK)
        {
            return TN_ERROR;
        }

        tn_log_error(TN_LOG_NOTICE, cf->log, 0,
                     "generated a self-signed certificate for \"%V\" "
                     "in \"%V\"", &conf->server_name, &conf->certificate);
    }

    conf->ssl.log = cf->log;

    if (tn_ssl_create(cf, &conf->ssl, conf) != TN_OK) {
        return TN_ERROR;
    }

    if (tn_ssl_certificate(cf, &conf->ssl, &conf->certificate,
                           &conf->certificate_key)
        != TN_OK)
    {
        return TN_ERROR;
    }

    if (conf->sni) {
        sni = conf->sni->elts;

        for (i = 0; i < conf->sni->nelts; i++) {
            if (tn_ssl_add_sni(cf, &conf->ssl, &sni[i].name,
                               &sni[i].certificate, &sni[i].certificate_key)
                != TN_OK)
            {
                return TN_ERROR;
            }
        }
    }

    if (tn_ssl_session_cache(&conf->ssl, conf->session_timeout) != TN_OK) {
        return TN_ERROR;
    }

    conf->ssl_enable = 1;

    return TN_OK;
}


static char *
tn_mail_core_server(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char                       *rv;
    void                       *mconf;
    tn_uint_t                   m;
    tn_conf_t                   pcf;
    tn_mail_module_t           *module;
    tn_mail_conf_ctx_t         *ctx, *mail_ctx;
    tn_mail_core_srv_conf_t    *cscf, **cscfp;
    tn_mail_core_main_conf_t   *cmcf;

    ctx = tn_pcalloc(cf->pool, sizeof(tn_mail_conf_ctx_t));
    if (ctx == NULL) {
        return TN_CONF_ERROR;
    }

    mail_ctx = cf->ctx;
    ctx->main_conf = mail_ctx->main_conf;

    /* the server{}'s srv_conf */

    ctx->srv_conf = tn_pcalloc(cf->pool, sizeof(void *) * tn_mail_max_module);
    if (ctx->srv_conf == NULL) {
        return TN_CONF_ERROR;
    }

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != TN_MAIL_MODULE) {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;

        if (module->create_srv_conf) {
            mconf = module->create_srv_conf(cf);
            if (mconf == NULL) {
                return TN_CONF_ERROR;
            }

            ctx->srv_conf[cf->cycle->modules[m]->ctx_index] = mconf;
        }
    }

    /* the server configuration context */

    cscf = ctx->srv_conf[tn_mail_core_module.ctx_index];
    cscf->ctx = ctx;

    cmcf = ctx->main_conf[tn_mail_core_module.ctx_index];

    cscfp = tn_array_push(&cmcf->servers);
    if (cscfp == NULL) {
        return TN_CONF_ERROR;
    }

    *cscfp = cscf;

    /* parse inside server{} */

    pcf = *cf;
    cf->ctx = ctx;
    cf->cmd_type = TN_MAIL_SRV_CONF;

    rv = tn_conf_parse(cf, NULL);

    *cf = pcf;

    if (rv == TN_CONF_OK && cscf->protocol == NULL) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "no \"protocol\" is defined for the server");
        return TN_CONF_ERROR;
    }

    return rv;
}


static char *
tn_mail_core_listen(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_str_t                  *value;
    tn_url_t                   u;
    tn_uint_t                  i;
    tn_mail_listen_t          *ls, *all;
    tn_mail_core_main_conf_t  *cmcf;

    value = cf->args->elts;

    tn_memzero(&u, sizeof(tn_url_t));

    u.url = value[1];
    u.default_port = 0;

    if (tn_parse_url(cf->pool, &u) != TN_OK) {
        if (u.err) {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                              "%s in \"%V\" of the \"listen\" directive",
                              u.err, &u.url);
        }

        return TN_CONF_ERROR;
    }

    if (u.no_port || u.port == 0) {
        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "no port in \"%V\" of the \"listen\" directive",
                          &u.url);
        return TN_CONF_ERROR;
    }

    cmcf = tn_mail_conf_get_module_main_conf(cf, tn_mail_core_module);

    all = cmcf->listen.elts;

    for (i = 0; i < cmcf->listen.nelts; i++) {
        if (tn_cmp_sockaddr(&all[i].sockaddr.sockaddr, all[i].socklen,
                            &u.sockaddr.sockaddr, u.socklen, 1)
            == TN_OK)
        {
            tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                              "duplicate \"%V\" address and port pair",
                              &u.url);
            return TN_CONF_ERROR;
        }
    }

    ls = tn_array_push(&cmcf->listen);
    if (ls == NULL) {
        return TN_CONF_ERROR;
    }

    tn_memzero(ls, sizeof(tn_mail_listen_t));

    tn_memcpy(&ls->sockaddr, &u.sockaddr, u.socklen);

    ls->socklen = u.socklen;
    ls->backlog = 511;
    ls->wildcard = u.wildcard;
    ls->ctx = cf->ctx;

    for (i = 2; i < cf->args->nelts; i++) {

        if (tn_strcmp(value[i].data, "ssl") == 0) {
            ls->ssl = 1;
            continue;
        }

        if (tn_strncmp(value[i].data, "backlog=", 8) == 0) {
            ls->backlog = tn_atoi(value[i].data + 8, value[i].len - 8);

            if (ls->backlog == TN_ERROR || ls->backlog == 0) {
                tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                                  "invalid backlog \"%V\"", &value[i]);
                return TN_CONF_ERROR;
            }

            continue;
        }

        tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                          "the invalid \"%V\" parameter", &value[i]);
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


static char *
tn_mail_core_protocol(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_mail_core_srv_conf_t  *cscf = conf;

    tn_str_t          *value;
    tn_uint_t          m;
    tn_mail_module_t  *module;

    if (cscf->protocol) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != TN_MAIL_MODULE) {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;

        if (module->protocol
            && tn_strcmp(module->protocol->name.data, value[1].data) == 0)
        {
            cscf->protocol = module->protocol;

            return TN_CONF_OK;
        }
    }

    tn_conf_log_error(TN_LOG_EMERG, cf, 0,
                      "unknown protocol \"%V\"", &value[1]);
    return TN_CONF_ERROR;
}


static char *
tn_mail_core_sni(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_mail_core_srv_conf_t  *cscf = conf;

    tn_str_t            *value;
    tn_mail_sni_conf_t  *sni;

    if (cscf->sni == TN_CONF_UNSET_PTR) {
        cscf->sni = tn_array_create(cf->pool, 4, sizeof(tn_mail_sni_conf_t));
        if (cscf->sni == NULL) {
            return TN_CONF_ERROR;
        }
    }

    sni = tn_array_push(cscf->sni);
    if (sni == NULL) {
        return TN_CONF_ERROR;
    }

    value = cf->args->elts;

    sni->name = value[1];
    sni->certificate = value[2];
    sni->certificate_key = value[3];

    if (tn_conf_full_name(cf->cycle, &sni->certificate, 0) != TN_OK
        || tn_conf_full_name(cf->cycle, &sni->certificate_key, 0) != TN_OK)
    {
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}
