
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_mail_dmarc_module.h>


/*
 * The rows of the aggregate reports live in tern.db, table
 * dmarc_records, created by this module when missing (it is not part of
 * the store's schema versions: the store neither reads nor migrates it).
 * "reported" is set once a report run has sent (or given up on) a row.
 */


static const char  tn_mail_dmarc_schema[] =
    "CREATE TABLE IF NOT EXISTS dmarc_records ("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " day TEXT NOT NULL,"
    " policy_domain TEXT NOT NULL,"
    " source_ip TEXT NOT NULL,"
    " header_from TEXT NOT NULL,"
    " envelope_from TEXT NOT NULL,"
    " policy TEXT NOT NULL,"
    " rua TEXT NOT NULL,"
    " auth TEXT NOT NULL,"
    " disposition INTEGER NOT NULL,"
    " dkim_aligned INTEGER NOT NULL,"
    " spf_aligned INTEGER NOT NULL,"
    " sampled_out INTEGER NOT NULL,"
    " reported INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS dmarc_records_unreported"
    " ON dmarc_records (reported, day, policy_domain);";

static const char  tn_mail_dmarc_insert[] =
    "INSERT INTO dmarc_records (time, day, policy_domain, source_ip,"
    " header_from, envelope_from, policy, rua, auth, disposition,"
    " dkim_aligned, spf_aligned, sampled_out)"
    " VALUES (?1, strftime('%Y-%m-%d', ?1, 'unixepoch'), ?2, ?3, ?4, ?5,"
    " ?6, ?7, ?8, ?9, ?10, ?11, ?12)";


void *
tn_mail_dmarc_db_open(tn_store_conf_t *scf, tn_log_t *log)
{
    int             rc, src;
    tn_store_db_t  *db;

    db = tn_store_db_get((char *) scf->db_path.data, TN_STORE_DB_ACCOUNTS,
                         TN_STORE_DB_CREATE, &src, log);
    if (db == NULL) {
        return NULL;
    }

    rc = tn_store_db_exec(db, tn_mail_dmarc_schema, log);
    if (rc != SQLITE_OK) {
        tn_store_db_log(db, log, rc, "dmarc: creating dmarc_records");
        return NULL;
    }

    return db;
}


tn_int_t
tn_mail_dmarc_rows_write(tn_store_conf_t *scf, tn_dmarc_row_t *rows,
    tn_log_t *log)
{
    int              rc;
    sqlite3_stmt    *stmt;
    tn_store_db_t   *db;
    tn_dmarc_row_t  *row;

    db = tn_mail_dmarc_db_open(scf, log);
    if (db == NULL) {
        return TN_ERROR;
    }

    rc = tn_store_db_begin(db, log);
    if (rc != SQLITE_OK) {
        return TN_ERROR;
    }

    stmt = tn_store_db_stmt(db, tn_mail_dmarc_insert, log);
    if (stmt == NULL) {
        goto failed;
    }

    for (row = rows; row; row = row->next) {
        sqlite3_bind_int64(stmt, 1, row->time);
        sqlite3_bind_text(stmt, 2, row->policy_domain, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, row->source_ip, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, row->header_from, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 5, row->envelope_from, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 6, row->policy, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 7, row->rua, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 8, row->auth, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 9, (int) row->disposition);
        sqlite3_bind_int(stmt, 10, row->dkim_aligned);
        sqlite3_bind_int(stmt, 11, row->spf_aligned);
        sqlite3_bind_int(stmt, 12, row->sampled_out);

        rc = sqlite3_step(stmt);
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);

        if (rc != SQLITE_DONE) {
            tn_store_db_log(db, log, rc, "dmarc: inserting a report row");
            goto failed;
        }
    }

    rc = tn_store_db_commit(db, log);
    if (rc != SQLITE_OK) {
        goto failed;
    }

    return TN_OK;

failed:

    tn_store_db_rollback(db, log);
    return TN_ERROR;
}


void
tn_dmarc_row_copy(char *dst, size_t size, tn_str_t *s)
{
    size_t  i, n;

    n = (s->len < size - 1) ? s->len : size - 1;

    for (i = 0; i < n; i++) {
        dst[i] = (s->data[i] < 0x20 || s->data[i] > 0x7e) ? '?'
                                                           : s->data[i];
    }

    dst[n] = '\0';
}


u_char *
tn_dmarc_row_auth(u_char *p, u_char *last, const char *method,
    tn_str_t *domain, const char *scope, tn_str_t *selector,
    const char *result)
{
    char    d[TN_DMARC_DOMAIN_MAX + 1], sel[64];
    size_t  need;

    tn_dmarc_row_copy(d, sizeof(d), domain);

    if (scope == NULL) {
        tn_dmarc_row_copy(sel, sizeof(sel), selector);
        scope = sel;
    }

    need = tn_strlen(method) + strlen(d) + strlen(scope) + strlen(result)
           + 5;

    if ((size_t) (last - p) < need) {
        return p;
    }

    return tn_sprintf(p, "%s %s %s %s\n", method, d[0] ? d : "-",
                      scope[0] ? scope : "-", result);
}
