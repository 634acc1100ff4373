
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail.h>


static char *tn_mail_block(tn_conf_t *cf, tn_command_t *cmd, void *conf);
static tn_int_t tn_mail_create_confs(tn_conf_t *cf, tn_mail_conf_ctx_t *ctx);
static char *tn_mail_merge_servers(tn_conf_t *cf,
    tn_mail_conf_ctx_t *ctx);
static tn_int_t tn_mail_add_listening(tn_conf_t *cf,
    tn_mail_core_main_conf_t *cmcf);


tn_uint_t  tn_mail_max_module;


static tn_command_t  tn_mail_commands[] = {

    { tn_string("mail"),
      TN_MAIN_CONF|TN_CONF_BLOCK|TN_CONF_NOARGS,
      tn_mail_block,
      0,
      0,
      NULL },

      tn_null_command
};


static tn_core_module_t  tn_mail_module_ctx = {
    tn_string("mail"),
    NULL,
    NULL
};


tn_module_t  tn_mail_module = {
    TN_MODULE_V1,
    "tn_mail_module",
    &tn_mail_module_ctx,
    tn_mail_commands,
    TN_CORE_MODULE,
    NULL,
    NULL,
    NULL,
    NULL,
    TN_MODULE_V1_PADDING
};


static char *
tn_mail_block(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char                       *rv;
    tn_uint_t                   m, mi;
    tn_conf_t                   pcf;
    tn_mail_module_t           *module;
    tn_mail_conf_ctx_t         *ctx;
    tn_mail_core_main_conf_t   *cmcf;

    if (*(tn_mail_conf_ctx_t **) conf) {
        return "is duplicate";
    }

    ctx = tn_pcalloc(cf->pool, sizeof(tn_mail_conf_ctx_t));
    if (ctx == NULL) {
        return TN_CONF_ERROR;
    }

    *(tn_mail_conf_ctx_t **) conf = ctx;

    tn_mail_max_module = tn_count_modules(cf->cycle, TN_MAIL_MODULE);

    if (tn_mail_create_confs(cf, ctx) != TN_OK) {
        return TN_CONF_ERROR;
    }

    /* parse inside the mail{} block */

    pcf = *cf;
    cf->ctx = ctx;

    cf->module_type = TN_MAIL_MODULE;
    cf->cmd_type = TN_MAIL_MAIN_CONF;
    rv = tn_conf_parse(cf, NULL);

    if (rv != TN_CONF_OK) {
        *cf = pcf;
        return rv;
    }

    /* init mail{} main_conf's, merge the server{}s' srv_conf's */

    cmcf = ctx->main_conf[tn_mail_core_module.ctx_index];

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != TN_MAIL_MODULE) {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;
        mi = cf->cycle->modules[m]->ctx_index;

        /* init mail{} main_conf's */

        cf->ctx = ctx;

        if (module->init_main_conf) {
            rv = module->init_main_conf(cf, ctx->main_conf[mi]);
            if (rv != TN_CONF_OK) {
                *cf = pcf;
                return rv;
            }
        }
    }

    rv = tn_mail_merge_servers(cf, ctx);
    if (rv != TN_CONF_OK) {
        *cf = pcf;
        return rv;
    }

    *cf = pcf;

    if (tn_mail_add_listening(cf, cmcf) != TN_OK) {
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


static tn_int_t
tn_mail_create_confs(tn_conf_t *cf, tn_mail_conf_ctx_t *ctx)
{
    tn_uint_t          m, mi;
    tn_mail_module_t  *module;

    ctx->main_conf = tn_pcalloc(cf->pool,
                                sizeof(void *) * tn_mail_max_module);
    if (ctx->main_conf == NULL) {
        return TN_ERROR;
    }

    ctx->srv_conf = tn_pcalloc(cf->pool, sizeof(void *) * tn_mail_max_module);
    if (ctx->srv_conf == NULL) {
        return TN_ERROR;
    }

    /*
     * create the main_conf's and the null srv_conf's of all mail modules
     */

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != TN_MAIL_MODULE) {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;
        mi = cf->cycle->modules[m]->ctx_index;

        if (module->create_main_conf) {
            ctx->main_conf[mi] = module->create_main_conf(cf);
            if (ctx->main_conf[mi] == NULL) {
                return TN_ERROR;
            }
        }

        if (module->create_srv_conf) {
            ctx->srv_conf[mi] = module->create_srv_conf(cf);
            if (ctx->srv_conf[mi] == NULL) {
                return TN_ERROR;
            }
        }
    }

    return TN_OK;
}


static char *
tn_mail_merge_servers(tn_conf_t *cf, tn_mail_conf_ctx_t *ctx)
{
    char                       *rv;
    tn_uint_t                   m, mi, s;
    tn_mail_module_t           *module;
    tn_mail_core_srv_conf_t   **cscfp;
    tn_mail_core_main_conf_t   *cmcf;

    cmcf = ctx->main_conf[tn_mail_core_module.ctx_index];
    cscfp = cmcf->servers.elts;

    for (m = 0; cf->cycle->modules[m]; m++) {
        if (cf->cycle->modules[m]->type != TN_MAIL_MODULE) {
            continue;
        }

        module = cf->cycle->modules[m]->ctx;
        mi = cf->cycle->modules[m]->ctx_index;

        if (module->merge_srv_conf == NULL) {
            continue;
        }

        /* the mail{} level first, as the default of every server{} */

        cf->ctx = ctx;

        for (s = 0; s < cmcf->servers.nelts; s++) {

            /* merge the server{}s' srv_conf's */

            cf->ctx = cscfp[s]->ctx;

            rv = module->merge_srv_conf(cf, ctx->srv_conf[mi],
                                        cscfp[s]->ctx->srv_conf[mi]);
            if (rv != TN_CONF_OK) {
                return rv;
            }
        }
    }

    return TN_CONF_OK;
}


static tn_int_t
tn_mail_add_listening(tn_conf_t *cf, tn_mail_core_main_conf_t *cmcf)
{
    tn_uint_t                 i;
    tn_listening_t           *ls;
    tn_mail_listen_t         *listen;
    tn_mail_addr_conf_t      *addr;
    tn_mail_core_srv_conf_t  *cscf;

    listen = cmcf->listen.elts;

    for (i = 0; i < cmcf->listen.nelts; i++) {

        cscf = listen[i].ctx->srv_conf[tn_mail_core_module.ctx_index];

        if (listen[i].ssl && cscf->ssl_enable != 1 && !cscf->ssl_deferred) {
            tn_log_error(TN_LOG_EMERG, cf->log, 0,
                         "no \"ssl_certificate\" is defined for "
                         "the ssl listener in %s:%ui",
                         cscf->file_name, cscf->line);
            return TN_ERROR;
        }

        ls = tn_create_listening(cf, &listen[i].sockaddr.sockaddr,
                                 listen[i].socklen);
        if (ls == NULL) {
            return TN_ERROR;
        }

        addr = tn_pcalloc(cf->pool, sizeof(tn_mail_addr_conf_t));
        if (addr == NULL) {
            return TN_ERROR;
        }

        addr->ctx = listen[i].ctx;
        addr->addr_text = ls->addr_text;
        addr->ssl = listen[i].ssl;

        ls->handler = tn_mail_init_connection;
        ls->pool_size = 512;
        ls->servers = addr;
        ls->backlog = listen[i].backlog;

        ls->logp = &cf->cycle->new_log;
        ls->log.data = &ls->addr_text;
        ls->log.handler = tn_accept_log_error;
    }

    return TN_OK;
}
