
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_store.h>
#include <tn_mail_out_mxcache.h>


static void tn_show_version_info(void);
static tn_int_t tn_get_options(int argc, char *const *argv);
static tn_int_t tn_process_options(tn_cycle_t *cycle);
static int tn_run_admin(tn_cycle_t *init_cycle, int argc, char *const *argv);



static tn_uint_t   tn_show_help;
static tn_uint_t   tn_show_version;
static u_char     *tn_prefix;
static u_char     *tn_conf_file;
static char       *tn_signal;
static int         tn_admin_argc;
static char *const *tn_admin_argv;


int
main(int argc, char *const *argv)
{
    int               rc;
    tn_log_t         *log;
    tn_cycle_t       *cycle, init_cycle;
    tn_core_conf_t   *ccf;

    if (tn_get_options(argc, argv) != TN_OK) {
        return 1;
    }

    if (tn_show_version) {
        tn_show_version_info();

        if (!tn_test_config) {
            return 0;
        }
    }

    tn_time_init();

    tn_pid = tn_getpid();
    tn_parent = tn_getppid();

    log = tn_log_init(NULL, NULL);
    if (log == NULL) {
        return 1;
    }

    if (tn_os_init(log) != TN_OK) {
        return 1;
    }

    if (tn_ssl_init(log) != TN_OK) {
        return 1;
    }

    tn_memzero(&init_cycle, sizeof(tn_cycle_t));
    init_cycle.log = log;
    tn_cycle = &init_cycle;

    init_cycle.pool = tn_create_pool(1024, log);
    if (init_cycle.pool == NULL) {
        return 1;
    }

    if (tn_process_options(&init_cycle) != TN_OK) {
        return 1;
    }

    if (tn_preinit_modules() != TN_OK) {
        return 1;
    }

    if (tn_admin_argc) {
        rc = tn_run_admin(&init_cycle, tn_admin_argc, tn_admin_argv);
        tn_destroy_pool(init_cycle.pool);
        return rc;
    }

    if (tn_signal) {
        tn_test_config = 1;
        tn_quiet_mode = 1;
    }

    cycle = tn_init_cycle(&init_cycle);
    if (cycle == NULL) {
        if (tn_test_config) {
            tn_log_stderr(0, "configuration file %s test failed",
                          init_cycle.conf_file.data);
        }

        tn_destroy_pool(init_cycle.pool);

        return 1;
    }

    if (tn_signal) {
        rc = tn_signal_process(cycle, tn_signal);
        tn_destroy_pool(cycle->pool);
        tn_destroy_pool(init_cycle.pool);
        return rc;
    }

    if (tn_test_config) {
        if (!tn_quiet_mode) {
            tn_log_stderr(0, "configuration file %s test is successful",
                          cycle->conf_file.data);
        }

        tn_destroy_pool(cycle->pool);
        tn_destroy_pool(init_cycle.pool);

        return 0;
    }

    tn_os_status(cycle->log);

    tn_cycle = cycle;

    ccf = (tn_core_conf_t *) tn_get_conf(cycle->conf_ctx, tn_core_module);

    tn_process = TN_PROCESS_MASTER;

    if (ccf->user == (uid_t) TN_CONF_UNSET_UINT && geteuid() == 0) {
        /*
         * Without "user" the workers keep the master's user: the data
         * under the prefix must be writable by whoever the workers run
         * as, and only the operator knows who owns it.
         */
        tn_log_error(TN_LOG_NOTICE, cycle->log, 0,
                     "no \"user\" directive: the workers run as root");
    }

    if (tn_init_signals(cycle->log) != TN_OK) {
        return 1;
    }

    if (ccf->daemon) {
        if (tn_daemon(cycle->log) != TN_OK) {
            return 1;
        }

        tn_daemonized = 1;
    }

    if (tn_create_pidfile(&ccf->pid, cycle->log) != TN_OK) {
        return 1;
    }

    if (tn_log_redirect_stderr(cycle) != TN_OK) {
        return 1;
    }

    if (log->file->fd != tn_stderr) {
        if (tn_close_file(log->file->fd) == -1) {
            tn_log_error(TN_LOG_ALERT, cycle->log, tn_errno,
                         "close() built-in log failed");
        }
    }

    tn_use_stderr = 0;

    tn_master_process_cycle(cycle);

    return 0;
}


/*
 * The admin commands read the configuration for the paths and settings
 * of the store, and work on the database directly; the server may run.
 */
static int
tn_run_admin(tn_cycle_t *init_cycle, int argc, char *const *argv)
{
    int               rc;
    tn_uint_t         i;
    tn_cycle_t       *cycle;
    tn_store_conf_t  *scf;

    tn_process = TN_PROCESS_CLI;

    cycle = tn_init_cycle(init_cycle);
    if (cycle == NULL) {
        return 1;
    }

    tn_cycle = cycle;

    scf = tn_store_get_conf(cycle);

    /* a module's own command */
    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->cli_name
            && strcmp(argv[0], cycle->modules[i]->cli_name) == 0)
        {
            rc = cycle->modules[i]->cli(cycle, argc, argv);
            goto done;
        }
    }

    if (strcmp(argv[0], "mx") == 0) {
        /* the MX cache file, not the database */
        rc = tn_mail_out_mxcache_cli(cycle, argc, argv);

    } else {
        rc = tn_store_cli(scf, argc, argv, cycle->log);
    }

done:

    tn_destroy_pool(cycle->pool);

    return rc;
}


static void
tn_show_version_info(void)
{
    tn_write_stderr("tern version: " TN_VER TN_LINEFEED);

    if (tn_show_help) {
        tn_write_stderr(
            "Usage: tern [-?hvVtq] [-s signal] [-p prefix] [-c filename]"
            TN_LINEFEED
            "       tern [-p prefix] [-c filename] domain add|del|list "
            "[DOMAIN]" TN_LINEFEED
            "       tern [-p prefix] [-c filename] user "
            "add|del|passwd|list [ADDRESS]" TN_LINEFEED
            "       tern [-p prefix] [-c filename] index rebuild ADDRESS"
            TN_LINEFEED
            "       tern [-p prefix] [-c filename] alias ...|user forward|"
            "quota ... (see README)" TN_LINEFEED
            "       tern [-p prefix] [-c filename] queue list [--json]|"
            "json|show ID" TN_LINEFEED
            "       tern [-p prefix] [-c filename] queue flush [ID]|"
            "hold ID|release ID|delete ID" TN_LINEFEED
            "       tern [-p prefix] [-c filename] mx list|clear [DOMAIN]"
            TN_LINEFEED
            "       tern [-p prefix] [-c filename] dkim keygen DOMAIN "
            "SELECTOR [rsa|ed25519] [FILE]" TN_LINEFEED
            "       tern [-p prefix] [-c filename] spf IP SENDER HELO|spf -"
            TN_LINEFEED
            "       tern [-p prefix] [-c filename] dmarc report "
            "[--date YYYY-MM-DD] [--dry-run DIR]" TN_LINEFEED TN_LINEFEED
            "Options:" TN_LINEFEED
            "  -?,-h         : this help" TN_LINEFEED
            "  -v, -V        : show version, build and features, and exit"
                               TN_LINEFEED
            "  -t            : test configuration and exit" TN_LINEFEED
            "  -q            : suppress non-error messages "
                               "during configuration testing" TN_LINEFEED
            "  -s signal     : send signal to a master process: "
                               "stop, quit, reopen, reload" TN_LINEFEED
            "  -p prefix     : set prefix path (default: " TN_PREFIX ")"
                               TN_LINEFEED
            "  -c filename   : set configuration file (default: "
                               TN_CONF_PATH ")" TN_LINEFEED
            "User passwords are read from standard input." TN_LINEFEED
        );

        return;
    }

    tn_write_stderr("built with " OPENSSL_VERSION_TEXT TN_LINEFEED);
    tn_write_stdout("features: smtp pop3 imap ssl resolver"
#ifdef TN_MODULE_LUA
                    " lua"
#endif
#ifdef TN_MODULE_DKIM
                    " dkim"
#endif
#ifdef TN_MODULE_DMARC
                    " dmarc"
#endif
                    TN_LINEFEED);
}


static tn_int_t
tn_get_options(int argc, char *const *argv)
{
    u_char     *p;
    tn_int_t    i;

    for (i = 1; i < argc; i++) {

        p = (u_char *) argv[i];

        if (*p++ != '-') {

            /* the rest is an admin command: domain, user, index */

            tn_admin_argc = argc - i;
            tn_admin_argv = &argv[i];

            return TN_OK;
        }

        while (*p) {

            switch (*p++) {

            case '?':
            case 'h':
                tn_show_version = 1;
                tn_show_help = 1;
                break;

            case 'v':
            case 'V':
                tn_show_version = 1;
                break;

            case 't':
                tn_test_config = 1;
                break;

            case 'q':
                tn_quiet_mode = 1;
                break;

            case 'p':
                if (*p) {
                    tn_prefix = p;
                    goto next;
                }

                if (argv[++i]) {
                    tn_prefix = (u_char *) argv[i];
                    goto next;
                }

                tn_log_stderr(0, "option \"-p\" requires directory name");
                return TN_ERROR;

            case 'c':
                if (*p) {
                    tn_conf_file = p;
                    goto next;
                }

                if (argv[++i]) {
                    tn_conf_file = (u_char *) argv[i];
                    goto next;
                }

                tn_log_stderr(0, "option \"-c\" requires file name");
                return TN_ERROR;

            case 's':
                if (*p) {
                    tn_signal = (char *) p;

                } else if (argv[++i]) {
                    tn_signal = argv[i];

                } else {
                    tn_log_stderr(0, "option \"-s\" requires parameter");
                    return TN_ERROR;
                }

                if (tn_strcmp(tn_signal, "stop") == 0
                    || tn_strcmp(tn_signal, "quit") == 0
                    || tn_strcmp(tn_signal, "reopen") == 0
                    || tn_strcmp(tn_signal, "reload") == 0)
                {
                    goto next;
                }

                tn_log_stderr(0, "invalid option: \"-s %s\"", tn_signal);
                return TN_ERROR;

            default:
                tn_log_stderr(0, "invalid option: \"%c\"", *(p - 1));
                return TN_ERROR;
            }
        }

    next:

        continue;
    }

    return TN_OK;
}


/* the prefix and file names made absolute against the current directory */
static tn_int_t
tn_process_options(tn_cycle_t *cycle)
{
    u_char     *p;
    size_t      len;
    tn_str_t    cwd, name;
    char        buf[PATH_MAX];

    if (getcwd(buf, sizeof(buf)) == NULL) {
        tn_log_stderr(tn_errno, "getcwd() failed");
        return TN_ERROR;
    }

    cwd.len = tn_strlen(buf);
    cwd.data = (u_char *) buf;

    name.data = tn_prefix ? tn_prefix : (u_char *) TN_PREFIX;
    name.len = tn_strlen(name.data);

    if (tn_get_full_name(cycle->pool, &cwd, &name) != TN_OK) {
        return TN_ERROR;
    }

    /* the prefix is kept without a trailing slash */
    len = name.len;
    while (len > 1 && name.data[len - 1] == '/') {
        len--;
    }

    p = tn_pnalloc(cycle->pool, len + 1);
    if (p == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(p, name.data, len);
    p[len] = '\0';

    cycle->prefix.len = len;
    cycle->prefix.data = p;

    name.data = tn_conf_file ? tn_conf_file : (u_char *) TN_CONF_PATH;
    name.len = tn_strlen(name.data);

    if (tn_get_full_name(cycle->pool, &cwd, &name) != TN_OK) {
        return TN_ERROR;
    }

    if (name.data[name.len] != '\0') {
        p = tn_pnalloc(cycle->pool, name.len + 1);
        if (p == NULL) {
            return TN_ERROR;
        }

        tn_memcpy(p, name.data, name.len);
        p[name.len] = '\0';
        name.data = p;
    }

    cycle->conf_file = name;

    /* includes are relative to the configuration file's directory */

    for (p = cycle->conf_file.data + cycle->conf_file.len - 1;
         p > cycle->conf_file.data;
         p--)
    {
        if (*p == '/') {
            cycle->conf_prefix.len = p - cycle->conf_file.data + 1;
            cycle->conf_prefix.data = cycle->conf_file.data;
            break;
        }
    }

    return TN_OK;
}
