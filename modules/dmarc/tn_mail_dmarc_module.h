
/*
 * Copyright (C) The Tern developers
 */


#ifndef _TN_MAIL_DMARC_MODULE_H_INCLUDED_
#define _TN_MAIL_DMARC_MODULE_H_INCLUDED_


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_mail.h>
#include <tn_housekeeper.h>
#include <tn_mail_dmarc.h>


/*
 * Inside the dmarc module: its configuration, the rows of the aggregate
 * reports (tn_mail_dmarc_db.c) and the report command
 * (tn_mail_dmarc_report.c).
 */


#define TN_MAIL_DMARC_HONOUR      0
#define TN_MAIL_DMARC_MARK        1

#define TN_MAIL_DMARC_PSL_DEFAULT                                            \
    "/usr/share/publicsuffix/public_suffix_list.dat"


typedef struct {
    tn_flag_t               enable;
    tn_uint_t               mode;         /* TN_MAIL_DMARC_HONOUR/MARK */
} tn_mail_dmarc_srv_conf_t;


typedef struct {
    tn_str_t                psl_path;
    tn_dmarc_psl_t         *psl;          /* NULL: no server has DMARC */
    tn_str_t                report_org;   /* "" : the server's host name */
    tn_str_t                report_from;  /* "" : postmaster@host name */
} tn_mail_dmarc_conf_t;


/*
 * One evaluated message, as dmarc_records keeps it.  Fixed buffers: a
 * row is one malloc() that the thread pool frees after writing it.
 */
typedef struct tn_dmarc_row_s  tn_dmarc_row_t;

struct tn_dmarc_row_s {
    tn_dmarc_row_t         *next;
    time_t                  time;
    char                    source_ip[64];
    char                    header_from[TN_DMARC_DOMAIN_MAX + 1];
    char                    envelope_from[TN_DMARC_DOMAIN_MAX + 1];
    char                    policy_domain[TN_DMARC_DOMAIN_MAX + 1];
    /* "p sp adkim aspf pct": "reject none r s 100" */
    char                    policy[64];
    char                    rua[1024];
    /*
     * "method domain scope-or-selector result" lines (LF-separated) of
     * the SPF and DKIM results; "-" for an empty selector
     */
    char                    auth[2048];
    tn_uint_t               disposition;
    unsigned                dkim_aligned:1;
    unsigned                spf_aligned:1;
    unsigned                sampled_out:1;
};


typedef struct {
    tn_store_conf_t        *scf;
    tn_dmarc_row_t         *rows;
    tn_uint_t               nrows;
    tn_int_t                rc;
} tn_dmarc_batch_t;


/* the mail { } block's, or NULL without one */
tn_mail_dmarc_conf_t *tn_mail_dmarc_get_conf(tn_cycle_t *cycle);

/* dst (size bytes) gets s, NUL-terminated, cut, controls as '?' */
void tn_dmarc_row_copy(char *dst, size_t size, tn_str_t *s);
/* an auth line of a row; returns the end, never past last */
u_char *tn_dmarc_row_auth(u_char *p, u_char *last, const char *method,
    tn_str_t *domain, const char *scope, tn_str_t *selector,
    const char *result);

/*
 * Writes rows into dmarc_records of tern.db in one transaction (the
 * table is created if missing).  BLOCKING: the thread pool, or the
 * worker's exit.  TN_OK or TN_ERROR (logged).
 */
/* tern.db with dmarc_records (a tn_store_db_t *), or NULL (logged) */
void *tn_mail_dmarc_db_open(tn_store_conf_t *scf, tn_log_t *log);
tn_int_t tn_mail_dmarc_rows_write(tn_store_conf_t *scf,
    tn_dmarc_row_t *rows, tn_log_t *log);

/* a v=DMARC1 TXT record at name: TN_OK, or TN_DECLINED */
tn_int_t tn_mail_dmarc_verify_txt(tn_cycle_t *cycle, u_char *name,
    tn_log_t *log);

/* the daily report run (a housekeeper job handler) */
tn_int_t tn_mail_dmarc_report_job(tn_cycle_t *cycle,
    tn_housekeeper_job_t *job);

/* "tern dmarc report ..." */
int tn_mail_dmarc_cli(tn_cycle_t *cycle, int argc, char *const *argv);


extern tn_module_t  tn_mail_dmarc_module;


#endif /* _TN_MAIL_DMARC_MODULE_H_INCLUDED_ */
