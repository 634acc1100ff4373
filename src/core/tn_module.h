
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MODULE_H_INCLUDED_
#define _TN_MODULE_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


#define TN_MODULE_UNSET_INDEX  (tn_uint_t) -1

#define TN_MODULE_V1           TN_MODULE_UNSET_INDEX, TN_MODULE_UNSET_INDEX
/* the end of a module without an admin command (cli_name, cli) */
#define TN_MODULE_V1_PADDING   NULL, NULL


struct tn_module_s {
    tn_uint_t            ctx_index;
    tn_uint_t            index;

    char                *name;

    void                *ctx;
    tn_command_t        *commands;
    tn_uint_t            type;

    /* the master, after the configuration is read (also on reload) */
    tn_int_t           (*init_module)(tn_cycle_t *cycle);
    /* each worker, after fork and privileges are dropped */
    tn_int_t           (*init_process)(tn_cycle_t *cycle);
    void               (*exit_process)(tn_cycle_t *cycle);
    void               (*exit_master)(tn_cycle_t *cycle);

    /*
     * An admin command of the module: "tern [-p P] [-c C] CLI_NAME ..."
     * calls cli(cycle, argc, argv) with argv[0] == cli_name, after the
     * configuration was read, in the tern process itself (no workers,
     * no event loop); it returns the exit code.  Both NULL: none.
     */
    const char          *cli_name;
    int                (*cli)(tn_cycle_t *cycle, int argc, char *const *argv);
};


typedef struct {
    tn_str_t             name;
    void               *(*create_conf)(tn_cycle_t *cycle);
    char               *(*init_conf)(tn_cycle_t *cycle, void *conf);
} tn_core_module_t;


tn_int_t tn_preinit_modules(void);
tn_int_t tn_cycle_modules(tn_cycle_t *cycle);
tn_int_t tn_init_modules(tn_cycle_t *cycle);
tn_int_t tn_count_modules(tn_cycle_t *cycle, tn_uint_t type);


extern tn_module_t  *tn_modules[];
extern char         *tn_module_names[];
extern tn_uint_t     tn_max_module;


#endif /* _TN_MODULE_H_INCLUDED_ */
