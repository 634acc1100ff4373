
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_mail_out.h>
#include <tn_mail_out_mxcache.h>


/*
 *     outbound {
 *         helo_name                mail.example.com;
 *         retry                    5m 4h;
 *         max_lifetime             5d;
 *         delay_warning            4h;
 *         destination_concurrency  5;
 *         messages_per_connection  100;
 *         connect_timeout          30s;
 *         command_timeout          5m;
 *         data_timeout             10m;
 *         tls                      may;
 *         ipv6                     on;
 *         bounce_return_limit      50k;
 *         mx_port                  25;
 *
 *         connection relay { host smtp.example.net; port 587;
 *                            tls require; auth u p; backup relay2; }
 *         route sender_domain example.org relay;
 *         route default direct;
 *     }
 *
 * The block works as "store": the inner directives are TN_DIRECT_CONF,
 * their conf is this module's tn_mail_out_conf_t.  Without the block the
 * defaults apply: mail is delivered direct to MX.
 */


static void *tn_mail_out_create_conf(tn_cycle_t *cycle);
static char *tn_mail_out_init_conf(tn_cycle_t *cycle, void *conf);
static char *tn_mail_out_block(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
static tn_int_t tn_mail_out_init_module(tn_cycle_t *cycle);
static char *tn_mail_out_retry(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
static char *tn_mail_out_mx_port(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);


static tn_conf_enum_t  tn_mail_out_tls_modes[] = {
    { tn_string("none"), TN_MAIL_OUT_TLS_NONE },
    { tn_string("may"), TN_MAIL_OUT_TLS_MAY },
    { tn_string("require"), TN_MAIL_OUT_TLS_REQUIRE },
    { tn_string("verify"), TN_MAIL_OUT_TLS_VERIFY },
    { tn_null_string, 0 }
};


static tn_conf_num_bounds_t  tn_mail_out_concurrency_bounds = {
    tn_conf_check_num_bounds, 1, 1000
};


static tn_command_t  tn_mail_out_commands[] = {

    { tn_string("outbound"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_BLOCK|TN_CONF_NOARGS,
      tn_mail_out_block,
      0,
      0,
      NULL },

    { tn_string("helo_name"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_str_slot,
      0,
      offsetof(tn_mail_out_conf_t, helo_name),
      NULL },

    { tn_string("retry"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE2,
      tn_mail_out_retry,
      0,
      0,
      NULL },

    { tn_string("max_lifetime"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_sec_slot,
      0,
      offsetof(tn_mail_out_conf_t, max_lifetime),
      NULL },

    { tn_string("delay_warning"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_sec_slot,
      0,
      offsetof(tn_mail_out_conf_t, delay_warning),
      NULL },

    { tn_string("destination_concurrency"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      0,
      offsetof(tn_mail_out_conf_t, destination_concurrency),
      &tn_mail_out_concurrency_bounds },

    { tn_string("messages_per_connection"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      0,
      offsetof(tn_mail_out_conf_t, messages_per_connection),
      &tn_mail_out_concurrency_bounds },

    { tn_string("connect_timeout"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      0,
      offsetof(tn_mail_out_conf_t, connect_timeout),
      NULL },

    { tn_string("command_timeout"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      0,
      offsetof(tn_mail_out_conf_t, command_timeout),
      NULL },

    { tn_string("data_timeout"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot,
      0,
      offsetof(tn_mail_out_conf_t, data_timeout),
      NULL },

    { tn_string("tls"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_enum_slot,
      0,
      offsetof(tn_mail_out_conf_t, tls),
      &tn_mail_out_tls_modes },

    { tn_string("ipv6"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot,
      0,
      offsetof(tn_mail_out_conf_t, ipv6),
      NULL },

    { tn_string("mx_port"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_mail_out_mx_port,
      0,
      0,
      NULL },

    { tn_string("bounce_return_limit"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_off_slot,
      0,
      offsetof(tn_mail_out_conf_t, bounce_return_limit),
      NULL },

    { tn_string("connection"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_BLOCK|TN_CONF_TAKE1,
      tn_mail_out_connection_block,
      0,
      0,
      NULL },

    { tn_string("route"),
      TN_MAIL_OUT_CONF|TN_DIRECT_CONF|TN_CONF_TAKE23,
      tn_mail_out_route_directive,
      0,
      0,
      NULL },

      tn_null_command
};


static tn_core_module_t  tn_mail_out_module_ctx = {
    tn_string("outbound"),
    tn_mail_out_create_conf,
    tn_mail_out_init_conf
};


tn_module_t  tn_mail_out_module = {
    TN_MODULE_V1,
    "tn_mail_out_module",
    &tn_mail_out_module_ctx,
    tn_mail_out_commands,
    TN_CORE_MODULE,
    tn_mail_out_init_module,               /* init module */
    tn_mail_out_init_process,              /* init process */
    tn_mail_out_exit_process,              /* exit process */
    NULL,
    TN_MODULE_V1_PADDING
};


tn_mail_out_conf_t *
tn_mail_out_get_conf(tn_cycle_t *cycle)
{
    if (cycle == NULL || cycle->conf_ctx == NULL
        || tn_mail_out_module.index == TN_MODULE_UNSET_INDEX)
    {
        return NULL;
    }

    return (tn_mail_out_conf_t *) tn_get_conf(cycle->conf_ctx,
                                              tn_mail_out_module);
}


static void *
tn_mail_out_create_conf(tn_cycle_t *cycle)
{
    tn_mail_out_conf_t  *ocf;

    ocf = tn_pcalloc(cycle->pool, sizeof(tn_mail_out_conf_t));
    if (ocf == NULL) {
        return NULL;
    }

    ocf->retry_min = TN_CONF_UNSET_MSEC;
    ocf->retry_max = TN_CONF_UNSET_MSEC;
    ocf->max_lifetime = TN_CONF_UNSET;
    ocf->delay_warning = TN_CONF_UNSET;
    ocf->destination_concurrency = TN_CONF_UNSET_UINT;
    ocf->messages_per_connection = TN_CONF_UNSET_UINT;
    ocf->connect_timeout = TN_CONF_UNSET_MSEC;
    ocf->command_timeout = TN_CONF_UNSET_MSEC;
    ocf->data_timeout = TN_CONF_UNSET_MSEC;
    ocf->tls = TN_CONF_UNSET_UINT;
    ocf->ipv6 = TN_CONF_UNSET;
    ocf->bounce_return_limit = TN_CONF_UNSET;

    ocf->conns = tn_array_create(cycle->pool, 4, sizeof(tn_mail_out_conn_t));
    if (ocf->conns == NULL) {
        return NULL;
    }

    ocf->routes = tn_array_create(cycle->pool, 4,
                                  sizeof(tn_mail_out_route_t));
    if (ocf->routes == NULL) {
        return NULL;
    }

    return ocf;
}


static char *
tn_mail_out_init_conf(tn_cycle_t *cycle, void *conf)
{
    tn_mail_out_conf_t *ocf = conf;

    tn_conf_t  cf;

    if (ocf->helo_name.data == NULL) {
        ocf->helo_name = cycle->hostname;
    }

    tn_conf_init_msec_value(ocf->retry_min, 300000);
    tn_conf_init_msec_value(ocf->retry_max, 4 * 3600000);
    tn_conf_init_value(ocf->max_lifetime, 5 * 86400);
    tn_conf_init_value(ocf->delay_warning, 4 * 3600);
    tn_conf_init_uint_value(ocf->destination_concurrency, 5);
    tn_conf_init_uint_value(ocf->messages_per_connection, 100);
    tn_conf_init_msec_value(ocf->connect_timeout, 30000);
    tn_conf_init_msec_value(ocf->command_timeout, 300000);
    tn_conf_init_msec_value(ocf->data_timeout, 600000);
    tn_conf_init_uint_value(ocf->tls, TN_MAIL_OUT_TLS_MAY);
    tn_conf_init_value(ocf->ipv6, 1);
    tn_conf_init_value(ocf->bounce_return_limit, 50000);

    if (ocf->mx_port == 0) {
        ocf->mx_port = 25;
    }

    if (ocf->retry_min > ocf->retry_max) {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "\"retry\": the first delay is longer than the last");
        return TN_CONF_ERROR;
    }

    /* the route and TLS helpers want a tn_conf_t for their messages */

    tn_memzero(&cf, sizeof(tn_conf_t));
    cf.cycle = cycle;
    cf.pool = cycle->pool;
    cf.log = cycle->log;

    if (tn_mail_out_routes_check(&cf, ocf) != TN_CONF_OK) {
        return TN_CONF_ERROR;
    }

    if (tn_mail_out_client_ssl(&cf, ocf) != TN_CONF_OK) {
        return TN_CONF_ERROR;
    }

    return TN_CONF_OK;
}


static char *
tn_mail_out_block(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char       *rv;
    tn_conf_t   pcf;

    pcf = *cf;
    cf->cmd_type = TN_MAIL_OUT_CONF;

    rv = tn_conf_parse(cf, NULL);

    *cf = pcf;

    return rv;
}


/* "retry FIRST LAST;": the first delay, doubled up to the last */
static char *
tn_mail_out_retry(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_mail_out_conf_t *ocf = conf;

    tn_str_t   *value;
    tn_msec_t  *t[2];
    tn_int_t    ms;
    tn_uint_t   i;

    if (ocf->retry_min != TN_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;
    t[0] = &ocf->retry_min;
    t[1] = &ocf->retry_max;

    for (i = 0; i < 2; i++) {
        ms = tn_parse_time(&value[i + 1], 0);

        if (ms == TN_ERROR || ms == 0) {
            return "has an invalid time";
        }

        *t[i] = (tn_msec_t) ms;
    }

    return TN_CONF_OK;
}


/* "mx_port N;": where direct MX delivery connects (25; other for tests) */
static char *
tn_mail_out_mx_port(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    tn_mail_out_conf_t *ocf = conf;

    tn_int_t   port;
    tn_str_t  *value;

    if (ocf->mx_port) {
        return "is duplicate";
    }

    value = cf->args->elts;

    port = tn_atoi(value[1].data, value[1].len);

    if (port < 1 || port > 65535) {
        return "has an invalid port";
    }

    ocf->mx_port = (in_port_t) port;

    return TN_CONF_OK;
}


/* the master: the shared MX cache file, owned by the workers' user */
static tn_int_t
tn_mail_out_init_module(tn_cycle_t *cycle)
{
    return tn_mail_out_mxcache_init(cycle);
}
