
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_CONF_FILE_H_INCLUDED_
#define _TN_CONF_FILE_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>


/*
 *        AAAA  number of arguments
 *      FF      command flags
 *    TT        command type, i.e. HTTP "location" or "server" command
 */

#define TN_CONF_NOARGS      0x00000001
#define TN_CONF_TAKE1       0x00000002
#define TN_CONF_TAKE2       0x00000004
#define TN_CONF_TAKE3       0x00000008
#define TN_CONF_TAKE4       0x00000010
#define TN_CONF_TAKE5       0x00000020
#define TN_CONF_TAKE6       0x00000040
#define TN_CONF_TAKE7       0x00000080

#define TN_CONF_MAX_ARGS    8

#define TN_CONF_TAKE12      (TN_CONF_TAKE1|TN_CONF_TAKE2)
#define TN_CONF_TAKE13      (TN_CONF_TAKE1|TN_CONF_TAKE3)
#define TN_CONF_TAKE23      (TN_CONF_TAKE2|TN_CONF_TAKE3)
#define TN_CONF_TAKE123     (TN_CONF_TAKE1|TN_CONF_TAKE2|TN_CONF_TAKE3)
#define TN_CONF_TAKE1234    (TN_CONF_TAKE1|TN_CONF_TAKE2|TN_CONF_TAKE3   \
                              |TN_CONF_TAKE4)

#define TN_CONF_ARGS_NUMBER 0x000000ff
#define TN_CONF_BLOCK       0x00000100
#define TN_CONF_FLAG        0x00000200
#define TN_CONF_ANY         0x00000400
#define TN_CONF_1MORE       0x00000800
#define TN_CONF_2MORE       0x00001000

#define TN_DIRECT_CONF      0x00010000

#define TN_MAIN_CONF        0x01000000
#define TN_ANY_CONF         0xFF000000


#define TN_CONF_UNSET       -1
#define TN_CONF_UNSET_UINT  (tn_uint_t) -1
#define TN_CONF_UNSET_PTR   (void *) -1
#define TN_CONF_UNSET_SIZE  (size_t) -1
#define TN_CONF_UNSET_MSEC  (tn_msec_t) -1


#define TN_CONF_OK          NULL
#define TN_CONF_ERROR       (void *) -1

#define TN_CONF_BLOCK_START 1
#define TN_CONF_BLOCK_DONE  2
#define TN_CONF_FILE_DONE   3

#define TN_CORE_MODULE      0x45524f43  /* "CORE" */
#define TN_CONF_MODULE      0x464e4f43  /* "CONF" */


#define TN_MAX_CONF_ERRSTR  1024


struct tn_command_s {
    tn_str_t             name;
    tn_uint_t            type;
    char               *(*set)(tn_conf_t *cf, tn_command_t *cmd, void *conf);
    tn_uint_t            conf;
    tn_uint_t            offset;
    void                *post;
};

#define tn_null_command  { tn_null_string, 0, NULL, 0, 0, NULL }


typedef struct {
    tn_fd_t              fd;
    tn_str_t             name;
    off_t                size;
    off_t                offset;
    tn_buf_t            *buffer;
    tn_uint_t            line;
} tn_conf_file_t;


typedef char *(*tn_conf_handler_pt)(tn_conf_t *cf,
    tn_command_t *dummy, void *conf);


struct tn_conf_s {
    char                 *name;
    tn_array_t           *args;

    tn_cycle_t           *cycle;
    tn_pool_t            *pool;
    tn_pool_t            *temp_pool;
    tn_conf_file_t       *conf_file;
    tn_log_t             *log;

    void                 *ctx;
    tn_uint_t             module_type;
    tn_uint_t             cmd_type;

    tn_conf_handler_pt    handler;
    void                 *handler_conf;
};


typedef char *(*tn_conf_post_handler_pt) (tn_conf_t *cf,
    void *data, void *conf);

typedef struct {
    tn_conf_post_handler_pt  post_handler;
} tn_conf_post_t;


typedef struct {
    tn_str_t                 name;
    tn_uint_t                value;
} tn_conf_enum_t;


typedef struct {
    tn_conf_post_handler_pt  post_handler;
    tn_int_t                 low;
    tn_int_t                 high;
} tn_conf_num_bounds_t;


char *tn_conf_check_num_bounds(tn_conf_t *cf, void *post, void *data);


#define tn_get_conf(conf_ctx, module)  conf_ctx[module.index]


#define tn_conf_init_value(conf, default)                                    \
    if (conf == TN_CONF_UNSET) {                                             \
        conf = default;                                                      \
    }

#define tn_conf_init_ptr_value(conf, default)                                \
    if (conf == TN_CONF_UNSET_PTR) {                                         \
        conf = default;                                                      \
    }

#define tn_conf_init_uint_value(conf, default)                               \
    if (conf == TN_CONF_UNSET_UINT) {                                        \
        conf = default;                                                      \
    }

#define tn_conf_init_size_value(conf, default)                               \
    if (conf == TN_CONF_UNSET_SIZE) {                                        \
        conf = default;                                                      \
    }

#define tn_conf_init_msec_value(conf, default)                               \
    if (conf == TN_CONF_UNSET_MSEC) {                                        \
        conf = default;                                                      \
    }

#define tn_conf_merge_value(conf, prev, default)                             \
    if (conf == TN_CONF_UNSET) {                                             \
        conf = (prev == TN_CONF_UNSET) ? default : prev;                     \
    }

#define tn_conf_merge_ptr_value(conf, prev, default)                         \
    if (conf == TN_CONF_UNSET_PTR) {                                         \
        conf = (prev == TN_CONF_UNSET_PTR) ? default : prev;                 \
    }

#define tn_conf_merge_uint_value(conf, prev, default)                        \
    if (conf == TN_CONF_UNSET_UINT) {                                        \
        conf = (prev == TN_CONF_UNSET_UINT) ? default : prev;                \
    }

#define tn_conf_merge_msec_value(conf, prev, default)                        \
    if (conf == TN_CONF_UNSET_MSEC) {                                        \
        conf = (prev == TN_CONF_UNSET_MSEC) ? default : prev;                \
    }

#define tn_conf_merge_sec_value(conf, prev, default)                         \
    if (conf == TN_CONF_UNSET) {                                             \
        conf = (prev == TN_CONF_UNSET) ? default : prev;                     \
    }

#define tn_conf_merge_size_value(conf, prev, default)                        \
    if (conf == TN_CONF_UNSET_SIZE) {                                        \
        conf = (prev == TN_CONF_UNSET_SIZE) ? default : prev;                \
    }

#define tn_conf_merge_off_value(conf, prev, default)                         \
    if (conf == TN_CONF_UNSET) {                                             \
        conf = (prev == TN_CONF_UNSET) ? default : prev;                     \
    }

#define tn_conf_merge_str_value(conf, prev, default)                         \
    if (conf.data == NULL) {                                                 \
        if (prev.data) {                                                     \
            conf.len = prev.len;                                             \
            conf.data = prev.data;                                           \
        } else {                                                             \
            conf.len = sizeof(default) - 1;                                  \
            conf.data = (u_char *) default;                                  \
        }                                                                    \
    }


/*
 * Parses filename (or, with filename NULL, the block that follows in
 * the current file).  Errors are logged as "... in FILE:LINE".
 */
char *tn_conf_param(tn_conf_t *cf);
char *tn_conf_parse(tn_conf_t *cf, tn_str_t *filename);
char *tn_conf_include(tn_conf_t *cf, tn_command_t *cmd, void *conf);

tn_int_t tn_conf_full_name(tn_cycle_t *cycle, tn_str_t *name,
    tn_uint_t conf_prefix);
tn_open_file_t *tn_conf_open_file(tn_cycle_t *cycle, tn_str_t *name);
void tn_cdecl tn_conf_log_error(tn_uint_t level, tn_conf_t *cf,
    tn_err_t err, const char *fmt, ...);

char *tn_conf_set_flag_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf);
char *tn_conf_set_str_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf);
char *tn_conf_set_str_array_slot(tn_conf_t *cf, tn_command_t *cmd,
    void *conf);
char *tn_conf_set_num_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf);
char *tn_conf_set_size_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf);
char *tn_conf_set_off_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf);
char *tn_conf_set_msec_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf);
char *tn_conf_set_sec_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf);
char *tn_conf_set_enum_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf);
/* like str_slot, and makes the path absolute against the prefix */
char *tn_conf_set_path_slot(tn_conf_t *cf, tn_command_t *cmd, void *conf);


#endif /* _TN_CONF_FILE_H_INCLUDED_ */
