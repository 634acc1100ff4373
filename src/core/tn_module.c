
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>


tn_uint_t  tn_max_module;


tn_int_t
tn_preinit_modules(void)
{
    tn_uint_t  i;

    for (i = 0; tn_modules[i]; i++) {
        tn_modules[i]->index = i;
        tn_modules[i]->name = tn_module_names[i];
    }

    tn_max_module = i;

    return TN_OK;
}


tn_int_t
tn_cycle_modules(tn_cycle_t *cycle)
{
    cycle->modules = tn_pcalloc(cycle->pool, (tn_max_module + 1)
                                              * sizeof(tn_module_t *));
    if (cycle->modules == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(cycle->modules, tn_modules,
              tn_max_module * sizeof(tn_module_t *));

    cycle->modules_n = tn_max_module;

    return TN_OK;
}


tn_int_t
tn_init_modules(tn_cycle_t *cycle)
{
    tn_uint_t  i;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->init_module) {
            if (cycle->modules[i]->init_module(cycle) != TN_OK) {
                return TN_ERROR;
            }
        }
    }

    return TN_OK;
}


tn_int_t
tn_count_modules(tn_cycle_t *cycle, tn_uint_t type)
{
    tn_uint_t  i, next;

    next = 0;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i]->type != type) {
            continue;
        }

        cycle->modules[i]->ctx_index = next++;
    }

    return next;
}
