
/*
 * Copyright (C) The Tern developers
 *
 * The configuration parser: tokens, quoting, blocks, include, slots,
 * argument checks, and errors that name file:line and the directive.
 */


#include <tn_config.h>
#include <tn_core.h>


typedef struct {
    tn_flag_t    flag;
    tn_int_t     num;
    size_t       size;
    tn_msec_t    msec;
    tn_str_t     str;
    tn_uint_t    nblock;
    tn_str_t     inner;
} tn_test_conf_t;


static char *tn_test_block(tn_conf_t *cf, tn_command_t *cmd, void *conf);

#define TN_TEST_BLOCK_CONF  0x08000000

static tn_command_t  tn_test_commands[] = {

    { tn_string("flag"), TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_FLAG,
      tn_conf_set_flag_slot, 0, offsetof(tn_test_conf_t, flag), NULL },

    { tn_string("num"), TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_num_slot, 0, offsetof(tn_test_conf_t, num), NULL },

    { tn_string("size"), TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_size_slot, 0, offsetof(tn_test_conf_t, size), NULL },

    { tn_string("msec"), TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_msec_slot, 0, offsetof(tn_test_conf_t, msec), NULL },

    { tn_string("str"), TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_str_slot, 0, offsetof(tn_test_conf_t, str), NULL },

    { tn_string("block"), TN_MAIN_CONF|TN_DIRECT_CONF|TN_CONF_BLOCK
                          |TN_CONF_NOARGS,
      tn_test_block, 0, 0, NULL },

    { tn_string("inner"), TN_TEST_BLOCK_CONF|TN_DIRECT_CONF|TN_CONF_TAKE1,
      tn_conf_set_str_slot, 0, offsetof(tn_test_conf_t, inner), NULL },

      tn_null_command
};


static tn_module_t  tn_test_module = {
    TN_MODULE_V1, "tn_test_module", NULL, tn_test_commands,
    TN_CORE_MODULE, NULL, NULL, NULL, NULL, TN_MODULE_V1_PADDING
};

extern tn_module_t  tn_conf_module;

static tn_module_t  *tn_test_modules[] = {
    &tn_test_module, &tn_conf_module, NULL
};


static tn_uint_t  tests;
static tn_uint_t  failed;
static char       tmpdir[] = "/tmp/tn-conf-XXXXXX";
static char       logname[PATH_MAX];

/* the pool of the last parse; its strings are checked, then it goes */
static tn_pool_t *last_pool;


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %u - %s\n", cond ? "" : "not ", (unsigned) tests, name);
}


static char *
tn_test_block(tn_conf_t *cf, tn_command_t *cmd, void *conf)
{
    char            *rv;
    tn_conf_t        pcf;
    tn_test_conf_t  *tcf = conf;

    tcf->nblock++;

    pcf = *cf;
    cf->cmd_type = TN_TEST_BLOCK_CONF;
    rv = tn_conf_parse(cf, NULL);
    *cf = pcf;

    return rv;
}


static void
write_file(const char *name, const char *text)
{
    FILE  *f;
    char   path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);

    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}


/* parses FILE in tmpdir; the log goes to logname */
static char *
parse(const char *name, tn_test_conf_t *tcf)
{
    char         *rv;
    void         *ctx[2];
    tn_conf_t     cf;
    tn_log_t      log;
    tn_str_t      file;
    tn_cycle_t    cycle;
    tn_pool_t    *pool;
    tn_open_file_t  lf;
    char          path[PATH_MAX];

    tn_memzero(&log, sizeof(tn_log_t));
    tn_memzero(&cycle, sizeof(tn_cycle_t));

    lf.fd = open(logname, O_WRONLY|O_CREAT|O_TRUNC, 0644);
    log.file = &lf;
    log.log_level = TN_LOG_INFO;

    if (last_pool) {
        tn_destroy_pool(last_pool);
    }

    pool = tn_create_pool(4096, &log);
    last_pool = pool;

    tn_memzero(tcf, sizeof(tn_test_conf_t));
    tcf->flag = TN_CONF_UNSET;
    tcf->num = TN_CONF_UNSET;
    tcf->size = TN_CONF_UNSET_SIZE;
    tcf->msec = TN_CONF_UNSET_MSEC;

    ctx[0] = tcf;
    ctx[1] = NULL;

    cycle.pool = pool;
    cycle.log = &log;
    cycle.modules = tn_test_modules;
    cycle.conf_prefix.data = (u_char *) tmpdir;
    cycle.conf_prefix.len = strlen(tmpdir);
    cycle.prefix = cycle.conf_prefix;

    tn_memzero(&cf, sizeof(tn_conf_t));
    cf.args = tn_array_create(pool, 10, sizeof(tn_str_t));
    cf.cycle = &cycle;
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.log = &log;
    cf.ctx = ctx;
    cf.module_type = TN_CORE_MODULE;
    cf.cmd_type = TN_MAIN_CONF;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    file.data = (u_char *) path;
    file.len = strlen(path);

    rv = tn_conf_parse(&cf, &file);

    close(lf.fd);

    return rv;
}


static int
log_has(const char *text)
{
    FILE    *f;
    size_t   n;
    char     buf[4096];

    f = fopen(logname, "r");
    if (f == NULL) {
        return 0;
    }

    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);

    return strstr(buf, text) != NULL;
}


int
main(void)
{
    char            *rv;
    tn_test_conf_t   tcf;

    tn_pagesize = getpagesize();
    tn_time_init();

    if (mkdtemp(tmpdir) == NULL) {
        return 1;
    }

    snprintf(logname, sizeof(logname), "%s/log", tmpdir);

    tn_test_modules[0]->index = 0;
    tn_test_modules[1]->index = 1;

    printf("1..22\n");

    write_file("a.conf",
               "# comment\n"
               "flag on;  num 42;\n"
               "size 4k;\n"
               "msec \"1m 30s\";\n"
               "str 'a b\\'c';\n"
               "block {\n    inner x;\n}\n");
    rv = parse("a.conf", &tcf);
    ok(rv == TN_CONF_OK, "valid file parses");
    ok(tcf.flag == 1 && tcf.num == 42, "flag and number");
    ok(tcf.size == 4096, "size with k");
    ok(tcf.msec == 90000, "time with two units");
    ok(tcf.str.len == 5 && memcmp(tcf.str.data, "a b'c", 5) == 0,
       "single-quoted string with an escape");
    ok(tcf.nblock == 1 && tcf.inner.len == 1, "block directive");

    write_file("b.conf", "flag on;\nnum 1;\nbogus 2;\n");
    rv = parse("b.conf", &tcf);
    ok(rv == TN_CONF_ERROR, "unknown directive fails");
    ok(log_has("unknown directive \"bogus\" in ") && log_has("b.conf:3"),
       "error names the directive and file:line");

    write_file("c.conf", "num 1 2;\n");
    rv = parse("c.conf", &tcf);
    ok(rv == TN_CONF_ERROR && log_has("invalid number of arguments"),
       "argument count is checked");

    write_file("d.conf", "flag maybe;\n");
    rv = parse("d.conf", &tcf);
    ok(rv == TN_CONF_ERROR && log_has("it must be \"on\" or \"off\""),
       "flag value is checked");

    write_file("e.conf", "num 1;\nnum 2;\n");
    rv = parse("e.conf", &tcf);
    ok(rv == TN_CONF_ERROR && log_has("is duplicate") && log_has("e.conf:2"),
       "duplicate directive");

    write_file("f.conf", "block {\n inner x;\n");
    rv = parse("f.conf", &tcf);
    ok(rv == TN_CONF_ERROR && log_has("unexpected end of file"),
       "unclosed block");

    write_file("g.conf", "num 1\n");
    rv = parse("g.conf", &tcf);
    ok(rv == TN_CONF_ERROR, "missing semicolon at end of file");

    write_file("h.conf", "}\n");
    rv = parse("h.conf", &tcf);
    ok(rv == TN_CONF_ERROR && log_has("unexpected \"}\""), "stray brace");

    write_file("i.conf", "inner x;\n");
    rv = parse("i.conf", &tcf);
    ok(rv == TN_CONF_ERROR && log_has("is not allowed here"),
       "directive outside its block");

    write_file("inc.conf", "num 7;\n");
    write_file("j.conf", "include inc.conf;\nflag off;\n");
    rv = parse("j.conf", &tcf);
    ok(rv == TN_CONF_OK && tcf.num == 7 && tcf.flag == 0, "include");

    write_file("k.conf", "include k.conf;\n");
    rv = parse("k.conf", &tcf);
    ok(rv == TN_CONF_ERROR && log_has("nested too deeply"),
       "include loop stops");

    write_file("l.conf", "include nothing-*.conf;\nnum 3;\n");
    rv = parse("l.conf", &tcf);
    ok(rv == TN_CONF_OK && tcf.num == 3, "glob include without a match");

    write_file("m.conf", "size 10q;\n");
    rv = parse("m.conf", &tcf);
    ok(rv == TN_CONF_ERROR && log_has("invalid value"), "bad size");

    write_file("n.conf", "str \"unterminated;\n");
    rv = parse("n.conf", &tcf);
    ok(rv == TN_CONF_ERROR, "unterminated quote");

    rv = parse("does-not-exist.conf", &tcf);
    ok(rv == TN_CONF_ERROR && log_has("open()"), "missing file");

    {
        /* a token longer than the read buffer is an error, not a crash */
        char   *big;
        size_t  n = 10000;

        big = malloc(n + 16);
        memcpy(big, "str ", 4);
        memset(big + 4, 'x', n);
        memcpy(big + 4 + n, ";\n", 3);
        write_file("o.conf", big);
        free(big);

        rv = parse("o.conf", &tcf);
        ok(rv == TN_CONF_ERROR && log_has("too long parameter"),
           "over-long token");
    }

    tn_destroy_pool(last_pool);

    return failed ? 1 : 0;
}
