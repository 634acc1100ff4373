
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_ATOMIC_H_INCLUDED_
#define _TN_ATOMIC_H_INCLUDED_


#include <tn_config.h>


typedef long                        tn_atomic_int_t;
typedef unsigned long               tn_atomic_uint_t;
typedef volatile tn_atomic_uint_t   tn_atomic_t;

#define tn_atomic_cmp_set(lock, old, set)                                    \
    __sync_bool_compare_and_swap(lock, old, set)

#define tn_atomic_fetch_add(value, add)                                      \
    __sync_fetch_and_add(value, add)

#define tn_memory_barrier()  __sync_synchronize()


#endif /* _TN_ATOMIC_H_INCLUDED_ */
