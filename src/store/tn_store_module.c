
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_queue.h>

#include <crypt.h>


/*
 *     store {
 *         password_scheme  yescrypt;    # yescrypt | sha512crypt | bcrypt
 *         password_cost    5;           # 0: the library's default
 *         recipient_delimiter  +;       # "off" or "": no plus-addressing
 *     }
 *
 * The block works as nginx's "events": the directive's handler parses
 * the block with cf->cmd_type set to TN_STORE_CONF, and the inner
 * directives are TN_DIRECT_CONF, so their conf is this module's
 * tn_store_conf_t in cycle->conf_ctx.
 */


static void *tn_store_create_conf(tn_cycle_t *cycle);
static char *tn_store_init_conf(tn_cycle_t *cycle, void *conf);
static char *tn_store_block(tn_conf_t *cf, tn_command_t *cmd, void *conf);
static tn_int_t tn_store_path(tn_cycle_t *cycle, tn_store_conf_t *scf,
    tn_str_t *path, const char *name);
static tn_int_t tn_store_init_module(tn_cycle_t *cycle);
static char *tn_store_delimiter(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);


static tn_conf_enum_t  tn_store_schemes[] = {
    { tn_string("yescrypt"), TN_STORE_PW_YESCRYPT },
    { tn_string("sha512crypt"), TN_STORE_PW_SHA512 },
    { tn_string("bcrypt"), TN_STORE_PW_BCRYPT },
    { tn_null_string, 0 }
};


static tn_conf_num_bounds_t  tn_store_cost_bounds = {
    tn_conf_check_num_bounds, 0, 999999999
};


static tn_command_t  tn_store_commands[] = {

    { tn_string("store"),
      TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_BLOCK|TN_CONF_NOARGS,
      tn_store_block,
      0,
      0,
      NULL },

    { tn_string("password_scheme"),
      TN_STORE_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_enum_slot,
      0,
      offsetof(tn_store_conf_t, password_scheme),
      &tn_store_schemes },

    { tn_string("password_cost"),
      TN_STORE_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot,
      0,
      offsetof(tn_store_conf_t, password_cost),
      &tn_store_cost_bounds },

    { tn_string("recipient_delimiter"),
      TN_STORE_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_store_delimiter,
      0,
      offsetof(tn_store_conf_t, recipient_delimiter),
      NULL },

      tn_null_command
};


static tn_core_module_t  tn_store_module_ctx = {
    tn_string("store"),
    tn_store_create_conf,
    tn_store_init_conf
};


tn_module_t  tn_store_module = {
    TN_MODULE_V1,
    "tn_store_module",
    &tn_store_module_ctx,
    tn_store_commands,
    TN_CORE_MODULE,
    tn_store_init_module,
    NULL,
    NULL,
    NULL,
    TN_MODULE_V1_PADDING
};


tn_store_conf_t *
tn_store_get_conf(tn_cycle_t *cycle)
{
    if (cycle == NULL || cycle->conf_ctx == NULL
        || tn_store_module.index == TN_MODULE_UNSET_INDEX)
    {
        return NULL;
    }

    return (tn_store_conf_t *) tn_get_conf(cycle->conf_ctx, tn_store_module);
}


static void *
tn_store_create_conf(tn_cycle_t *cycle)
{
    tn_store_conf_t  *scf;

    scf = tn_pcalloc(cycle->pool, sizeof(tn_store_conf_t));
    if (scf == NULL) {
        return NULL;
    }

    scf->password_scheme = TN_CONF_UNSET_UINT;
    scf->password_cost = TN_CONF_UNSET_UINT;

    return scf;
}


static char *
tn_store_init_conf(tn_cycle_t *cycle, void *conf)
{
    tn_store_conf_t *scf = conf;

    char  salt[CRYPT_GENSALT_OUTPUT_SIZE];

    static const char  *prefixes[] = { "$y$", "$6$", "$2b$" };
    static const char  *names[] = { "yescrypt", "sha512crypt", "bcrypt" };

#if (TN_HAVE_YESCRYPT)
    tn_conf_init_uint_value(scf->password_scheme, TN_STORE_PW_YESCRYPT);
#else
    tn_conf_init_uint_value(scf->password_scheme, TN_STORE_PW_SHA512);
#endif

    tn_conf_init_uint_value(scf->password_cost, 0);

    if (scf->recipient_delimiter.data == NULL) {
        tn_str_set(&scf->recipient_delimiter, "+");
    }

    /* the cost's range depends on the scheme: let libxcrypt judge it */

    if (crypt_gensalt_rn(prefixes[scf->password_scheme], scf->password_cost,
                         NULL, 0, salt, sizeof(salt))
        == NULL)
    {
        tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                     "\"password_cost %ui\" is invalid for %s (or %s is not "
                     "supported by libxcrypt)", scf->password_cost,
                     names[scf->password_scheme],
                     names[scf->password_scheme]);
        return TN_CONF_ERROR;
    }

    scf->prefix = cycle->prefix;

    while (scf->prefix.len > 1
           && scf->prefix.data[scf->prefix.len - 1] == '/')
    {
        scf->prefix.len--;
    }

    if (tn_store_path(cycle, scf, &scf->db_path, "tern.db") != TN_OK
        || tn_store_path(cycle, scf, &scf->mail_root, "mail") != TN_OK
        || tn_store_path(cycle, scf, &scf->spool_dir, "spool") != TN_OK)
    {
        return TN_CONF_ERROR;
    }

    scf->hostname = cycle->hostname;

    return TN_CONF_OK;
}


static tn_int_t
tn_store_path(tn_cycle_t *cycle, tn_store_conf_t *scf, tn_str_t *path,
    const char *name)
{
    u_char  *p;
    size_t   len;

    len = scf->prefix.len + 1 + strlen(name);

    if (len >= PATH_MAX) {
        tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                     "the prefix \"%V\" is too long", &scf->prefix);
        return TN_ERROR;
    }

    path->data = tn_pnalloc(cycle->pool, len + 1);
    if (path->data == NULL) {
        return TN_ERROR;
    }

    p = tn_sprintf(path->data, "%V/%s", &scf->prefix, name);
    *p = '\0';

    path->len = len;

    return TN_OK;
}


static char *
tn_store_block(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char       *rv;
    tn_conf_t   pcf;

    /* cf->ctx stays the cycle's: the inner directives are DIRECT_CONF */

    pcf = *cf;
    cf->cmd_type = TN_STORE_CONF;

    rv = tn_conf_parse(cf, NULL);

    *cf = pcf;

    return rv;
}


static char *
tn_store_delimiter(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char  *rv;

    size_t     i;
    tn_str_t  *d;

    rv = tn_conf_set_str_slot(cf, cmd, conf);
    if (rv != TN_CONF_OK) {
        return rv;
    }

    d = &((tn_store_conf_t *) conf)->recipient_delimiter;

    if (d->len == 3 && tn_strncmp(d->data, "off", 3) == 0) {
        d->len = 0;
        return TN_CONF_OK;
    }

    /* the characters must be ones a local part may hold, and not '.' */

    for (i = 0; i < d->len; i++) {
        if (d->data[i] == '\0'
            || tn_strchr("!#$%&'*+-=?^_`{|}~", d->data[i]) == NULL)
        {
            return "must be \"off\" or characters of \"!#$%&'*+-=?^_`{|}~\"";
        }
    }

    return TN_CONF_OK;
}


static tn_int_t
tn_store_init_module(tn_cycle_t *cycle)
{
    uid_t              owner;
    tn_uint_t          i;
    tn_core_conf_t    *ccf;
    tn_store_conf_t   *scf;
    const char        *paths[3];

    scf = tn_store_get_conf(cycle);

    if (tn_store_init(scf, cycle->log) != TN_OK) {
        return TN_ERROR;
    }

    /*
     * A master started as root made these as root; the workers run as
     * "user" and must own them.  (SQLite gives its -wal and -shm files
     * the owner of the database file when it runs as root.)
     */

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    /* the outbound queue's directories, like the spool */

    owner = (geteuid() == 0 && ccf->user != (uid_t) TN_CONF_UNSET_UINT
             && ccf->user != 0) ? ccf->user : (uid_t) -1;

    if (tn_store_queue_init(scf, owner, ccf->group, cycle->log) != TN_OK) {
        return TN_ERROR;
    }

    if (geteuid() != 0 || ccf->user == (uid_t) TN_CONF_UNSET_UINT
        || ccf->user == 0)
    {
        return TN_OK;
    }

    paths[0] = (char *) scf->mail_root.data;
    paths[1] = (char *) scf->spool_dir.data;
    paths[2] = (char *) scf->db_path.data;

    for (i = 0; i < 3; i++) {
        if (lchown(paths[i], ccf->user, ccf->group) == -1) {
            tn_log_error(TN_LOG_EMERG, cycle->log, tn_errno,
                         "chown(\"%s\", %d) failed", paths[i],
                         (int) ccf->user);
            return TN_ERROR;
        }
    }

    return TN_OK;
}
