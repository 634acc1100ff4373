
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_event.h>
#include <tn_resolver.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_queue.h>
#include <tn_housekeeper.h>
#include <tn_mail_dmarc_module.h>

#include <zlib.h>


/*
 * Aggregate reports (RFC 7489 7.2): for each policy domain and UTC day
 * with rows not yet reported, one XML feedback document (appendix C),
 * gzip-compressed, attached to a message queued from <> to each usable
 * mailto: URI of the rua= tag recorded with the newest row.
 *
 * A run has three steps: collect (tern.db read, reports built: blocking),
 * verify (the DNS of the external destinations: RFC 7489 7.1) and send
 * (queued, rows marked: blocking).  "tern dmarc report" runs them in a
 * row; a URI that needs verification when the process has no resolver
 * is skipped with a log line, never sent unverified.
 */


#define TN_DMARC_REPORT_ROWS_MAX    100000   /* record rows per report */
/*
 * reports a run sends to one address, at most: 1,000 domains pointing
 * their rua= at one victim get it 100 (SECURITY-CHECKLIST 3.8 A8)
 */
#define TN_DMARC_REPORT_DEST_MAX    100


/* the reports of a run to one address */
typedef struct {
    tn_str_t                address;
    tn_uint_t               n;
} tn_dmarc_dest_count_t;


typedef struct {
    tn_str_t                uri;
    tn_str_t                address;
    tn_str_t                domain;      /* normalised */
    u_char                 *vname;       /* the _report._dmarc name */
    unsigned                verify:1;    /* outside the policy's org */
    unsigned                verified:1;
    unsigned                skip:1;
} tn_dmarc_dest_t;


typedef struct {
    tn_str_t                day;         /* YYYY-MM-DD */
    tn_str_t                domain;      /* the policy domain */
    int64_t                 max_id;
    tn_uint_t               nrows;       /* messages */
    tn_uint_t               ngroups;     /* record elements */
    time_t                  begin;
    time_t                  end;
    tn_str_t                report_id;
    tn_str_t                filename;
    tn_str_t                xml;
    tn_str_t                gz;
    tn_array_t             *dests;       /* tn_dmarc_dest_t */
} tn_dmarc_report_t;


typedef struct {
    tn_cycle_t             *cycle;
    tn_pool_t              *pool;
    tn_log_t               *log;
    tn_store_conf_t        *scf;
    tn_mail_dmarc_conf_t   *dcf;
    tn_store_db_t          *db;
    const char             *date;        /* NULL: every day before today */
    const char             *dry_run;     /* a directory, or NULL */
    tn_str_t                org_name;
    tn_str_t                from;        /* the From address */
    tn_str_t                receiver;    /* its domain */
    tn_array_t             *locals;      /* tn_str_t: our domains */
    tn_array_t             *reports;     /* tn_dmarc_report_t */
    tn_array_t             *counts;      /* tn_dmarc_dest_count_t */
    tn_uint_t               sent;
    tn_uint_t               failed;

    /* the housekeeper's run: the job, lookups in flight, the result */
    tn_housekeeper_job_t   *job;
    tn_uint_t               pending;
    tn_int_t                rc;
    unsigned                cli:1;       /* print a line per report */
} tn_dmarc_run_t;


/* a lookup of the housekeeper's run */
typedef struct {
    tn_dmarc_run_t         *run;
    tn_dmarc_report_t      *rep;
    tn_dmarc_dest_t        *dest;
} tn_dmarc_lookup_t;


/* a growing string in the run's pool */
typedef struct {
    tn_pool_t              *pool;
    u_char                 *data;
    size_t                  len;
    size_t                  size;
    tn_uint_t               failed;
} tn_dmarc_sb_t;


static tn_int_t tn_mail_dmarc_report_run(tn_dmarc_run_t *run);
static tn_int_t tn_dmarc_run_init(tn_dmarc_run_t *run);
static tn_int_t tn_dmarc_local_add(void *data, const char *name);
static tn_int_t tn_dmarc_collect(tn_dmarc_run_t *run);
static tn_int_t tn_dmarc_report_build(tn_dmarc_run_t *run,
    tn_dmarc_report_t *rep);
static tn_int_t tn_dmarc_report_records(tn_dmarc_run_t *run,
    tn_dmarc_report_t *rep, tn_dmarc_sb_t *sb);
static void tn_dmarc_report_auth(tn_dmarc_sb_t *sb, const u_char *auth);
static tn_int_t tn_dmarc_report_dests(tn_dmarc_run_t *run,
    tn_dmarc_report_t *rep, tn_str_t *rua);
static tn_uint_t tn_dmarc_is_local(tn_dmarc_run_t *run, tn_str_t *domain);
static tn_int_t tn_dmarc_dest_count(tn_dmarc_run_t *run, tn_str_t *address);
static tn_int_t tn_dmarc_gzip(tn_dmarc_run_t *run, tn_dmarc_report_t *rep);
static void tn_dmarc_verify_cli(tn_dmarc_run_t *run);

static tn_int_t tn_dmarc_send(tn_dmarc_run_t *run);
static tn_int_t tn_dmarc_report_send(tn_dmarc_run_t *run,
    tn_dmarc_report_t *rep);
static void tn_dmarc_print(tn_dmarc_run_t *run, tn_dmarc_report_t *rep,
    tn_uint_t nrcpts);
static tn_int_t tn_dmarc_message(tn_dmarc_run_t *run,
    tn_dmarc_report_t *rep, tn_dmarc_sb_t *sb);
static tn_int_t tn_dmarc_write_file(const char *dir, tn_str_t *name,
    tn_str_t *data, tn_log_t *log);
static tn_int_t tn_dmarc_mark(tn_dmarc_run_t *run, tn_dmarc_report_t *rep);
static void tn_dmarc_sb_add(tn_dmarc_sb_t *sb, const void *p, size_t len);
static void tn_dmarc_sb_printf(tn_dmarc_sb_t *sb, const char *fmt, ...);
static void tn_dmarc_sb_xml(tn_dmarc_sb_t *sb, const char *tag,
    const u_char *v, size_t len);
static time_t tn_dmarc_day_start(const u_char *day);
static void tn_dmarc_random_hex(u_char *p, size_t n);


/* the days and policy domains with rows not yet sent in a report */
static const char  tn_dmarc_unreported_sql[] =
    "SELECT day, policy_domain, MAX(id), COUNT(*) FROM dmarc_records"
    " WHERE reported = 0 AND ((?1 IS NULL AND day < ?2) OR day = ?1)"
    " GROUP BY day, policy_domain ORDER BY day, policy_domain";

static const char  tn_dmarc_policy_sql[] =
    "SELECT policy, rua FROM dmarc_records WHERE id = ?1";

static const char  tn_dmarc_groups_sql[] =
    "SELECT source_ip, header_from, envelope_from, auth, disposition,"
    " dkim_aligned, spf_aligned, sampled_out, COUNT(*)"
    " FROM dmarc_records"
    " WHERE reported = 0 AND day = ?1 AND policy_domain = ?2 AND id <= ?3"
    " GROUP BY source_ip, header_from, envelope_from, auth, disposition,"
    " dkim_aligned, spf_aligned, sampled_out"
    " ORDER BY source_ip, disposition, header_from";

static const char  tn_dmarc_mark_sql[] =
    "UPDATE dmarc_records SET reported = 1"
    " WHERE reported = 0 AND day = ?1 AND policy_domain = ?2 AND id <= ?3";


int
tn_mail_dmarc_cli(tn_cycle_t *cycle, int argc, char *const *argv)
{
    int              i;
    tn_dmarc_run_t   run;

    tn_memzero(&run, sizeof(tn_dmarc_run_t));

    if (argc < 2 || strcmp(argv[1], "report") != 0) {
        goto usage;
    }

    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--date") == 0 && i + 1 < argc) {
            run.date = argv[++i];

            if (strlen(run.date) != 10
                || tn_dmarc_day_start((u_char *) run.date) == (time_t) -1)
            {
                tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                             "dmarc report: \"%s\" is no YYYY-MM-DD date",
                             run.date);
                return 1;
            }

        } else if (strcmp(argv[i], "--dry-run") == 0 && i + 1 < argc) {
            run.dry_run = argv[++i];

        } else {
            goto usage;
        }
    }

    run.cycle = cycle;
    run.log = cycle->log;
    run.cli = 1;

    return tn_mail_dmarc_report_run(&run) == TN_OK ? 0 : 1;

usage:

    tn_log_error(TN_LOG_EMERG, cycle->log, 0,
                 "usage: tern dmarc report [--date YYYY-MM-DD] "
                 "[--dry-run DIR]");
    return 1;
}


static tn_int_t
tn_mail_dmarc_report_run(tn_dmarc_run_t *run)
{
    tn_int_t  rc;

    run->pool = tn_create_pool(16384, run->log);
    if (run->pool == NULL) {
        return TN_ERROR;
    }

    rc = tn_dmarc_run_init(run);

    if (rc == TN_OK) {
        rc = tn_dmarc_collect(run);
    }

    if (rc == TN_OK) {
        tn_dmarc_verify_cli(run);
        tn_resolver_cli_stop(run->cycle);
        rc = tn_dmarc_send(run);
    }

    tn_destroy_pool(run->pool);

    return rc;
}


static tn_int_t
tn_dmarc_run_init(tn_dmarc_run_t *run)
{
    u_char  *p;

    run->scf = tn_store_get_conf(run->cycle);
    run->dcf = tn_mail_dmarc_get_conf(run->cycle);

    if (run->scf == NULL || run->dcf == NULL) {
        tn_log_error(TN_LOG_EMERG, run->log, 0,
                     "dmarc report: the configuration has no mail { } "
                     "block");
        return TN_ERROR;
    }

    if (run->dcf->psl == NULL) {
        /* every server has "dmarc off": the list is read now */
        run->dcf->psl = tn_dmarc_psl_load(run->cycle->pool,
                                          (char *) run->dcf->psl_path.data,
                                          run->log);
        if (run->dcf->psl == NULL) {
            return TN_ERROR;
        }
    }

    run->org_name = run->dcf->report_org;

    if (run->org_name.len == 0) {
        run->org_name = run->scf->hostname;
    }

    run->from = run->dcf->report_from;

    if (run->from.len == 0) {
        p = tn_pnalloc(run->pool, sizeof("postmaster@")
                                  + run->scf->hostname.len);
        if (p == NULL) {
            return TN_ERROR;
        }

        run->from.data = p;
        run->from.len = tn_sprintf(p, "postmaster@%V",
                                   &run->scf->hostname) - p;
    }

    p = memchr(run->from.data, '@', run->from.len);

    if (p == NULL || p + 1 == run->from.data + run->from.len) {
        tn_log_error(TN_LOG_EMERG, run->log, 0,
                     "dmarc report: dmarc_report_from \"%V\" is no address",
                     &run->from);
        return TN_ERROR;
    }

    run->receiver.data = p + 1;
    run->receiver.len = run->from.data + run->from.len - p - 1;

    run->locals = tn_array_create(run->pool, 16, sizeof(tn_str_t));
    run->reports = tn_array_create(run->pool, 16, sizeof(tn_dmarc_report_t));
    run->counts = tn_array_create(run->pool, 16,
                                  sizeof(tn_dmarc_dest_count_t));

    if (run->locals == NULL || run->reports == NULL || run->counts == NULL) {
        return TN_ERROR;
    }

    if (tn_store_domain_list(run->scf, tn_dmarc_local_add, run, run->log)
        != TN_OK)
    {
        return TN_ERROR;
    }

    run->db = tn_mail_dmarc_db_open(run->scf, run->log);

    return run->db ? TN_OK : TN_ERROR;
}


static tn_int_t
tn_dmarc_local_add(void *data, const char *name)
{
    tn_str_t        *s;
    tn_dmarc_run_t  *run = data;

    s = tn_array_push(run->locals);
    if (s == NULL) {
        return TN_ERROR;
    }

    s->len = strlen(name);
    s->data = tn_pnalloc(run->pool, s->len);

    if (s->data == NULL) {
        return TN_ERROR;
    }

    tn_memcpy(s->data, name, s->len);

    return TN_OK;
}


/* the (day, policy domain) pairs to report, each built */
static tn_int_t
tn_dmarc_collect(tn_dmarc_run_t *run)
{
    int                 rc;
    u_char              today[16];
    tn_str_t            s;
    tn_uint_t           i;
    sqlite3_stmt       *stmt;
    struct tm           tm;
    time_t              now;
    tn_dmarc_report_t  *rep;

    now = time(NULL);
    (void) gmtime_r(&now, &tm);
    (void) strftime((char *) today, sizeof(today), "%Y-%m-%d", &tm);

    stmt = tn_store_db_stmt(run->db, tn_dmarc_unreported_sql, run->log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    if (run->date) {
        sqlite3_bind_text(stmt, 1, run->date, -1, SQLITE_STATIC);
    }

    sqlite3_bind_text(stmt, 2, (char *) today, -1, SQLITE_STATIC);

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        rep = tn_array_push(run->reports);
        if (rep == NULL) {
            sqlite3_reset(stmt);
            return TN_ERROR;
        }

        tn_memzero(rep, sizeof(tn_dmarc_report_t));

        s.data = (u_char *) sqlite3_column_text(stmt, 0);
        s.len = sqlite3_column_bytes(stmt, 0);
        rep->day.len = s.len;
        rep->day.data = tn_pstrdup(run->pool, &s);

        s.data = (u_char *) sqlite3_column_text(stmt, 1);
        s.len = sqlite3_column_bytes(stmt, 1);
        rep->domain.len = s.len;
        rep->domain.data = tn_pstrdup(run->pool, &s);

        rep->max_id = sqlite3_column_int64(stmt, 2);
        rep->nrows = sqlite3_column_int(stmt, 3);

        if (rep->day.data == NULL || rep->domain.data == NULL) {
            sqlite3_reset(stmt);
            return TN_ERROR;
        }
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(run->db, run->log, rc, "dmarc: reading the days");
        return TN_ERROR;
    }

    rep = run->reports->elts;

    for (i = 0; i < run->reports->nelts; i++) {
        if (tn_dmarc_report_build(run, &rep[i]) != TN_OK) {
            return TN_ERROR;
        }
    }

    return TN_OK;
}


static tn_int_t
tn_dmarc_report_build(tn_dmarc_run_t *run, tn_dmarc_report_t *rep)
{
    int             rc;
    u_char         *p, rnd[16];
    tn_str_t        policy, rua, s;
    sqlite3_stmt   *stmt;
    tn_dmarc_sb_t   sb;
    u_char          pv[5][16];
    tn_uint_t       i;
    u_char         *q, *last;

    /* the policy published: that of the newest row */

    stmt = tn_store_db_stmt(run->db, tn_dmarc_policy_sql, run->log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_int64(stmt, 1, rep->max_id);

    rc = sqlite3_step(stmt);

    if (rc != SQLITE_ROW) {
        sqlite3_reset(stmt);
        tn_store_db_log(run->db, run->log, rc, "dmarc: reading a policy");
        return TN_ERROR;
    }

    s.data = (u_char *) sqlite3_column_text(stmt, 0);
    s.len = sqlite3_column_bytes(stmt, 0);
    policy.len = s.len;
    policy.data = tn_pstrdup(run->pool, &s);

    s.data = (u_char *) sqlite3_column_text(stmt, 1);
    s.len = sqlite3_column_bytes(stmt, 1);
    rua.len = s.len;
    rua.data = tn_pstrdup(run->pool, &s);

    sqlite3_reset(stmt);

    if ((policy.len && policy.data == NULL) || (rua.len && rua.data == NULL))
    {
        return TN_ERROR;
    }

    /* "p sp adkim aspf pct" */

    tn_memzero(pv, sizeof(pv));
    q = policy.data;
    last = policy.data + policy.len;

    for (i = 0; i < 5; i++) {
        for (p = pv[i]; q < last && *q != ' ' && p < pv[i] + 15; q++) {
            *p++ = *q;
        }

        while (q < last && *q == ' ') {
            q++;
        }
    }

    rep->begin = tn_dmarc_day_start(rep->day.data);
    rep->end = rep->begin + 86399;

    tn_dmarc_random_hex(rnd, 8);

    p = tn_pnalloc(run->pool, 64 + rep->domain.len);
    if (p == NULL) {
        return TN_ERROR;
    }

    rep->report_id.data = p;
    rep->report_id.len = tn_sprintf(p, "%*s.%T.%V", (size_t) 8, rnd,
                                    rep->begin, &rep->domain) - p;

    /* RFC 7489 7.2.1.1: receiver "!" policy-domain "!" begin "!" end */

    p = tn_pnalloc(run->pool, 64 + rep->domain.len + run->receiver.len);
    if (p == NULL) {
        return TN_ERROR;
    }

    rep->filename.data = p;
    rep->filename.len = tn_sprintf(p, "%V!%V!%T!%T.xml.gz", &run->receiver,
                                   &rep->domain, rep->begin, rep->end) - p;

    tn_memzero(&sb, sizeof(tn_dmarc_sb_t));
    sb.pool = run->pool;

    tn_dmarc_sb_printf(&sb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<feedback>\n"
                       "  <version>1.0</version>\n"
                       "  <report_metadata>\n");
    tn_dmarc_sb_xml(&sb, "    <org_name>", run->org_name.data,
                    run->org_name.len);
    tn_dmarc_sb_xml(&sb, "    <email>", run->from.data, run->from.len);
    tn_dmarc_sb_xml(&sb, "    <report_id>", rep->report_id.data,
                    rep->report_id.len);
    tn_dmarc_sb_printf(&sb, "    <date_range>\n"
                       "      <begin>%T</begin>\n"
                       "      <end>%T</end>\n"
                       "    </date_range>\n"
                       "  </report_metadata>\n"
                       "  <policy_published>\n",
                       rep->begin, rep->end);
    tn_dmarc_sb_xml(&sb, "    <domain>", rep->domain.data, rep->domain.len);
    tn_dmarc_sb_printf(&sb, "    <adkim>%s</adkim>\n"
                       "    <aspf>%s</aspf>\n"
                       "    <p>%s</p>\n"
                       "    <sp>%s</sp>\n"
                       "    <pct>%s</pct>\n"
                       "    <fo>0</fo>\n"
                       "  </policy_published>\n",
                       pv[2][0] == 's' ? "s" : "r",
                       pv[3][0] == 's' ? "s" : "r",
                       tn_dmarc_policy_name(pv[0][0] == 'r' ? 2
                                            : pv[0][0] == 'q' ? 1 : 0),
                       tn_dmarc_policy_name(pv[1][0] == 'r' ? 2
                                            : pv[1][0] == 'q' ? 1 : 0),
                       pv[4][0] ? (char *) pv[4] : "100");

    if (tn_dmarc_report_records(run, rep, &sb) != TN_OK) {
        return TN_ERROR;
    }

    tn_dmarc_sb_printf(&sb, "</feedback>\n");

    if (sb.failed) {
        return TN_ERROR;
    }

    rep->xml.data = sb.data;
    rep->xml.len = sb.len;

    if (tn_dmarc_gzip(run, rep) != TN_OK) {
        return TN_ERROR;
    }

    return tn_dmarc_report_dests(run, rep, &rua);
}


/* the record elements: the rows grouped by everything they report */
static tn_int_t
tn_dmarc_report_records(tn_dmarc_run_t *run, tn_dmarc_report_t *rep,
    tn_dmarc_sb_t *sb)
{
    int            rc;
    sqlite3_stmt  *stmt;
    const u_char  *ip, *hfrom, *efrom, *auth;

    stmt = tn_store_db_stmt(run->db, tn_dmarc_groups_sql, run->log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, (char *) rep->day.data, rep->day.len,
                      SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, (char *) rep->domain.data, rep->domain.len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, rep->max_id);

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW
           && rep->ngroups < TN_DMARC_REPORT_ROWS_MAX)
    {
        ip = sqlite3_column_text(stmt, 0);
        hfrom = sqlite3_column_text(stmt, 1);
        efrom = sqlite3_column_text(stmt, 2);
        auth = sqlite3_column_text(stmt, 3);

        rep->ngroups++;

        tn_dmarc_sb_printf(sb, "  <record>\n    <row>\n");
        tn_dmarc_sb_xml(sb, "      <source_ip>", ip,
                        tn_strlen(ip));
        tn_dmarc_sb_printf(sb, "      <count>%d</count>\n"
                           "      <policy_evaluated>\n"
                           "        <disposition>%s</disposition>\n"
                           "        <dkim>%s</dkim>\n"
                           "        <spf>%s</spf>\n",
                           sqlite3_column_int(stmt, 8),
                           tn_dmarc_policy_name(
                               sqlite3_column_int(stmt, 4)),
                           sqlite3_column_int(stmt, 5) ? "pass" : "fail",
                           sqlite3_column_int(stmt, 6) ? "pass" : "fail");

        if (sqlite3_column_int(stmt, 7)) {
            tn_dmarc_sb_printf(sb, "        <reason>\n"
                               "          <type>sampled_out</type>\n"
                               "        </reason>\n");
        }

        tn_dmarc_sb_printf(sb, "      </policy_evaluated>\n"
                           "    </row>\n"
                           "    <identifiers>\n");
        tn_dmarc_sb_xml(sb, "      <envelope_from>", efrom,
                        tn_strlen(efrom));
        tn_dmarc_sb_xml(sb, "      <header_from>", hfrom,
                        tn_strlen(hfrom));
        tn_dmarc_sb_printf(sb, "    </identifiers>\n"
                           "    <auth_results>\n");
        tn_dmarc_report_auth(sb, auth);
        tn_dmarc_sb_printf(sb, "    </auth_results>\n  </record>\n");
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        tn_store_db_log(run->db, run->log, rc, "dmarc: reading the rows");
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * The "method domain scope-or-selector result" lines: DKIM first, then
 * SPF, as the schema orders them; an SPF result is always there (none
 * when the row has none).
 */
static void
tn_dmarc_report_auth(tn_dmarc_sb_t *sb, const u_char *auth)
{
    u_char        *w[4];
    size_t         wl[4];
    tn_uint_t      pass, n, spf;
    const u_char  *p, *eol;

    spf = 0;

    for (pass = 0; pass < 2; pass++) {

        for (p = auth; *p; p = *eol ? eol + 1 : eol) {
            eol = (u_char *) strchr((char *) p, '\n');
            if (eol == NULL) {
                eol = p + tn_strlen(p);
            }

            /* four words */

            for (n = 0; n < 4 && p < eol; n++) {
                w[n] = (u_char *) p;

                while (p < eol && *p != ' ') {
                    p++;
                }

                wl[n] = p - w[n];

                if (p < eol) {
                    p++;
                }
            }

            if (n != 4) {
                continue;
            }

            if (pass == 0 && wl[0] == 4 && tn_strncmp(w[0], "dkim", 4) == 0)
            {
                tn_dmarc_sb_printf(sb, "      <dkim>\n");
                tn_dmarc_sb_xml(sb, "        <domain>", w[1], wl[1]);

                if (!(wl[2] == 1 && w[2][0] == '-')) {
                    tn_dmarc_sb_xml(sb, "        <selector>", w[2], wl[2]);
                }

                tn_dmarc_sb_xml(sb, "        <result>", w[3], wl[3]);
                tn_dmarc_sb_printf(sb, "      </dkim>\n");

            } else if (pass == 1 && wl[0] == 3
                       && tn_strncmp(w[0], "spf", 3) == 0)
            {
                spf = 1;
                tn_dmarc_sb_printf(sb, "      <spf>\n");
                tn_dmarc_sb_xml(sb, "        <domain>", w[1], wl[1]);
                tn_dmarc_sb_xml(sb, "        <scope>", w[2], wl[2]);
                tn_dmarc_sb_xml(sb, "        <result>", w[3], wl[3]);
                tn_dmarc_sb_printf(sb, "      </spf>\n");
            }
        }
    }

    if (!spf) {
        tn_dmarc_sb_printf(sb, "      <spf>\n"
                           "        <domain>-</domain>\n"
                           "        <scope>mfrom</scope>\n"
                           "        <result>none</result>\n"
                           "      </spf>\n");
    }
}


/* the rua= URIs: usable ones become destinations */
static tn_int_t
tn_dmarc_report_dests(tn_dmarc_run_t *run, tn_dmarc_report_t *rep,
    tn_str_t *rua)
{
    u_char           *pos, *last, *p, buf[TN_DMARC_DOMAIN_MAX + 1];
    tn_int_t          rc, n;
    tn_str_t          org_policy, org_dest, d;
    tn_uint_t         i, count;
    tn_dmarc_uri_t    u;
    tn_dmarc_dest_t  *dest, *dests;

    rep->dests = tn_array_create(run->pool, 2, sizeof(tn_dmarc_dest_t));
    if (rep->dests == NULL) {
        return TN_ERROR;
    }

    (void) tn_dmarc_org_domain(run->dcf->psl, rep->domain.data,
                               rep->domain.len, &org_policy);

    pos = rua->data;
    last = rua->data + rua->len;
    count = 0;

    if (rua->len == 0) {
        tn_log_error(TN_LOG_WARN, run->log, 0,
                     "dmarc report %V: the rua= of %V is blank, no report "
                     "is sent", &rep->report_id, &rep->domain);
    }

    while ((rc = tn_dmarc_uri_next(&pos, last, &u)) != TN_DONE) {

        if (rc == TN_DECLINED) {
            tn_log_error(TN_LOG_NOTICE, run->log, 0,
                         "dmarc report %V: rua URI \"%V\" of %V is not "
                         "mailto:, skipped", &rep->report_id, &u.uri,
                         &rep->domain);
            continue;
        }

        n = (rc == TN_OK) ? tn_dmarc_domain_norm(buf, u.domain.data,
                                                 u.domain.len)
                          : TN_ERROR;

        if (n == TN_ERROR) {
            tn_log_error(TN_LOG_WARN, run->log, 0,
                         "dmarc report %V: malformed rua URI \"%V\" of %V "
                         "skipped", &rep->report_id, &u.uri,
                         &rep->domain);
            continue;
        }

        if (++count > TN_DMARC_RUA_MAX) {
            tn_log_error(TN_LOG_NOTICE, run->log, 0,
                         "dmarc report %V: rua URI \"%V\" of %V is past the "
                         "first %d, skipped", &rep->report_id, &u.uri,
                         &rep->domain, TN_DMARC_RUA_MAX);
            continue;
        }

        d.data = buf;
        d.len = n;

        if (tn_dmarc_is_local(run, &d)) {
            tn_log_error(TN_LOG_NOTICE, run->log, 0,
                         "dmarc report %V: rua URI \"%V\" of %V is in one "
                         "of our domains, skipped (no report loops)",
                         &rep->report_id, &u.uri, &rep->domain);
            continue;
        }

        if (u.max_size && rep->gz.len > u.max_size) {
            tn_log_error(TN_LOG_NOTICE, run->log, 0,
                         "dmarc report %V: %uz bytes are more than the "
                         "limit of rua URI \"%V\" of %V, skipped",
                         &rep->report_id, rep->gz.len, &u.uri,
                         &rep->domain);
            continue;
        }

        /* the same address twice is one destination */

        dests = rep->dests->elts;

        for (i = 0; i < rep->dests->nelts; i++) {
            if (dests[i].address.len == u.address.len
                && tn_strncasecmp(dests[i].address.data, u.address.data,
                                  u.address.len) == 0)
            {
                break;
            }
        }

        if (i < rep->dests->nelts) {
            continue;
        }

        if (tn_dmarc_dest_count(run, &u.address) != TN_OK) {
            tn_log_error(TN_LOG_NOTICE, run->log, 0,
                         "dmarc report %V: rua URI \"%V\" of %V has had %d "
                         "reports in this run, skipped", &rep->report_id,
                         &u.uri, &rep->domain, TN_DMARC_REPORT_DEST_MAX);
            continue;
        }

        dest = tn_array_push(rep->dests);
        if (dest == NULL) {
            return TN_ERROR;
        }

        tn_memzero(dest, sizeof(tn_dmarc_dest_t));

        dest->uri.len = u.uri.len;
        dest->uri.data = tn_pstrdup(run->pool, &u.uri);
        dest->address.len = u.address.len;
        dest->address.data = tn_pstrdup(run->pool, &u.address);
        dest->domain.len = d.len;
        dest->domain.data = tn_pstrdup(run->pool, &d);

        if (dest->uri.data == NULL || dest->address.data == NULL
            || dest->domain.data == NULL)
        {
            return TN_ERROR;
        }

        /* RFC 7489 7.1: outside the policy's organisation: verify */

        (void) tn_dmarc_org_domain(run->dcf->psl, dest->domain.data,
                                   dest->domain.len, &org_dest);

        if (org_dest.len != org_policy.len
            || tn_memcmp(org_dest.data, org_policy.data, org_dest.len) != 0)
        {
            dest->verify = 1;

            p = tn_pnalloc(run->pool, rep->domain.len + dest->domain.len
                                      + sizeof("._report._dmarc.") + 1);
            if (p == NULL) {
                return TN_ERROR;
            }

            dest->vname = p;
            *tn_sprintf(p, "%V._report._dmarc.%V", &rep->domain,
                        &dest->domain) = '\0';
        }
    }

    return TN_OK;
}


static tn_uint_t
tn_dmarc_is_local(tn_dmarc_run_t *run, tn_str_t *domain)
{
    tn_str_t   *l;
    tn_uint_t   i;

    l = run->locals->elts;

    for (i = 0; i < run->locals->nelts; i++) {
        if (l[i].len == domain->len
            && tn_strncasecmp(l[i].data, domain->data, domain->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* one more report to address: TN_OK, or TN_DECLINED past the limit */
static tn_int_t
tn_dmarc_dest_count(tn_dmarc_run_t *run, tn_str_t *address)
{
    tn_uint_t               i;
    tn_dmarc_dest_count_t  *c;

    c = run->counts->elts;

    for (i = 0; i < run->counts->nelts; i++) {
        if (c[i].address.len == address->len
            && tn_strncasecmp(c[i].address.data, address->data,
                              address->len) == 0)
        {
            if (c[i].n >= TN_DMARC_REPORT_DEST_MAX) {
                return TN_DECLINED;
            }

            c[i].n++;
            return TN_OK;
        }
    }

    c = tn_array_push(run->counts);
    if (c == NULL) {
        return TN_DECLINED;
    }

    c->address = *address;
    c->n = 1;

    return TN_OK;
}


static tn_int_t
tn_dmarc_gzip(tn_dmarc_run_t *run, tn_dmarc_report_t *rep)
{
    int       rc;
    size_t    size;
    z_stream  z;

    tn_memzero(&z, sizeof(z_stream));

    /* 15 + 16: a gzip header and trailer */
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
        != Z_OK)
    {
        tn_log_error(TN_LOG_ERR, run->log, 0, "dmarc: deflateInit2() failed");
        return TN_ERROR;
    }

    size = deflateBound(&z, rep->xml.len) + 64;

    rep->gz.data = tn_pnalloc(run->pool, size);
    if (rep->gz.data == NULL) {
        deflateEnd(&z);
        return TN_ERROR;
    }

    z.next_in = rep->xml.data;
    z.avail_in = rep->xml.len;
    z.next_out = rep->gz.data;
    z.avail_out = size;

    rc = deflate(&z, Z_FINISH);

    rep->gz.len = size - z.avail_out;

    deflateEnd(&z);

    if (rc != Z_STREAM_END) {
        tn_log_error(TN_LOG_ERR, run->log, 0, "dmarc: deflate() failed (%d)",
                     rc);
        return TN_ERROR;
    }

    return TN_OK;
}


/*
 * The _report._dmarc records in the command: only with a resolver that
 * works in this process; without one, the destinations that need it
 * are skipped (logged), never sent unverified.
 */
static void
tn_dmarc_verify_cli(tn_dmarc_run_t *run)
{
    tn_uint_t           i, j;
    tn_dmarc_dest_t    *dest;
    tn_dmarc_report_t  *rep;

    rep = run->reports->elts;

    for (i = 0; i < run->reports->nelts; i++) {
        dest = rep[i].dests->elts;

        for (j = 0; j < rep[i].dests->nelts; j++) {
            if (!dest[j].verify || dest[j].verified) {
                continue;
            }

            if (tn_mail_dmarc_verify_txt(run->cycle, dest[j].vname,
                                         run->log)
                == TN_OK)
            {
                dest[j].verified = 1;
                continue;
            }

            dest[j].skip = 1;

            tn_log_error(TN_LOG_NOTICE, run->log, 0,
                         "dmarc report %V: rua URI \"%V\" of %V is outside "
                         "its organisation and %s has no v=DMARC1 record, "
                         "skipped", &rep[i].report_id, &dest[j].uri,
                         &rep[i].domain, dest[j].vname);
        }
    }
}


static tn_int_t
tn_dmarc_send(tn_dmarc_run_t *run)
{
    tn_int_t            rc;
    tn_uint_t           i;
    tn_dmarc_report_t  *rep;

    rc = TN_OK;
    rep = run->reports->elts;

    for (i = 0; i < run->reports->nelts; i++) {
        if (tn_dmarc_report_send(run, &rep[i]) != TN_OK) {
            rc = TN_ERROR;
        }
    }

    if (run->reports->nelts == 0) {
        tn_log_error(TN_LOG_NOTICE, run->log, 0,
                     "dmarc report: nothing to report");
    }

    return rc;
}


static tn_int_t
tn_dmarc_report_send(tn_dmarc_run_t *run, tn_dmarc_report_t *rep)
{
    char                    path[PATH_MAX];
    ssize_t                 n;
    tn_fd_t                 fd;
    tn_int_t                rc;
    tn_str_t                name, text;
    tn_uint_t               i, nrcpts;
    tn_dmarc_sb_t           sb;
    tn_dmarc_dest_t        *dest;
    tn_store_queue_env_t    env;
    tn_store_queue_rcpt_t  *rcpts;

    dest = rep->dests->elts;
    nrcpts = 0;

    for (i = 0; i < rep->dests->nelts; i++) {
        if (!dest[i].skip) {
            nrcpts++;
        }
    }

    tn_memzero(&sb, sizeof(tn_dmarc_sb_t));
    sb.pool = run->pool;

    if (tn_dmarc_message(run, rep, &sb) != TN_OK) {
        return TN_ERROR;
    }

    if (run->dry_run) {
        name.data = tn_pnalloc(run->pool, rep->report_id.len + 5);
        if (name.data == NULL) {
            return TN_ERROR;
        }

        name.len = tn_sprintf(name.data, "%V.eml", &rep->report_id)
                   - name.data;

        text.data = sb.data;
        text.len = sb.len;

        if (tn_dmarc_write_file(run->dry_run, &rep->filename, &rep->gz,
                                run->log)
            != TN_OK
            || tn_dmarc_write_file(run->dry_run, &name, &text, run->log)
               != TN_OK)
        {
            return TN_ERROR;
        }

        tn_dmarc_print(run, rep, nrcpts);

        return TN_OK;
    }

    if (nrcpts) {
        rcpts = tn_pcalloc(run->pool, nrcpts * sizeof(tn_store_queue_rcpt_t));
        if (rcpts == NULL) {
            return TN_ERROR;
        }

        tn_memzero(&env, sizeof(tn_store_queue_env_t));
        env.rcpts = rcpts;

        for (i = 0; i < rep->dests->nelts; i++) {
            if (dest[i].skip) {
                continue;
            }

            (void) tn_cpystrn((u_char *) rcpts[env.nrcpts].address,
                              dest[i].address.data,
                              tn_min(dest[i].address.len + 1,
                                     TN_STORE_ADDR_MAX));
            rcpts[env.nrcpts].notify = TN_QUEUE_NOTIFY_NEVER;
            env.nrcpts++;
        }

        fd = tn_store_spool_create(run->scf, path, run->log);
        if (fd == TN_INVALID_FILE) {
            tn_log_error(TN_LOG_ERR, run->log, tn_errno,
                         "dmarc report %V: no spool file", &rep->report_id);
            return TN_ERROR;
        }

        n = write(fd, sb.data, sb.len);

        if (n != (ssize_t) sb.len || close(fd) == -1) {
            tn_log_error(TN_LOG_ERR, run->log, tn_errno,
                         "dmarc report %V: writing \"%s\" failed",
                         &rep->report_id, path);
            (void) unlink(path);
            return TN_ERROR;
        }

        rc = tn_store_queue_add(run->scf, path, TN_INVALID_FILE, &env,
                                run->log);

        (void) unlink(path);

        if (rc != TN_OK) {
            tn_log_error(TN_LOG_ERR, run->log, 0,
                         "dmarc report %V: queueing failed",
                         &rep->report_id);
            return TN_ERROR;
        }

        tn_log_error(TN_LOG_NOTICE, run->log, 0,
                     "dmarc report %V: %ui messages of %V on %V queued as "
                     "%s for %ui destinations", &rep->report_id, rep->nrows,
                     &rep->domain, &rep->day, env.id, env.nrcpts);

        run->sent++;

    } else {
        tn_log_error(TN_LOG_NOTICE, run->log, 0,
                     "dmarc report %V: %ui messages of %V on %V: no usable "
                     "destination, none sent", &rep->report_id, rep->nrows,
                     &rep->domain, &rep->day);
    }

    tn_dmarc_print(run, rep, nrcpts);

    /* sent, or nowhere to send it: the rows are done either way */

    return tn_dmarc_mark(run, rep);
}


/* the command's line per report */
static void
tn_dmarc_print(tn_dmarc_run_t *run, tn_dmarc_report_t *rep,
    tn_uint_t nrcpts)
{
    if (!run->cli) {
        return;
    }

    printf("%.*s %.*s %.*s: %u messages, %u records, %u destinations\n",
           (int) rep->report_id.len, rep->report_id.data,
           (int) rep->domain.len, rep->domain.data,
           (int) rep->day.len, rep->day.data, (unsigned) rep->nrows,
           (unsigned) rep->ngroups, (unsigned) nrcpts);

    (void) fflush(stdout);
}


/* the report message (RFC 7489 7.2.1.1): a text part and the report */
static tn_int_t
tn_dmarc_message(tn_dmarc_run_t *run, tn_dmarc_report_t *rep,
    tn_dmarc_sb_t *sb)
{
    u_char           boundary[33], date[64], *p;
    time_t           now;
    tn_str_t         b64;
    tn_uint_t        i, first;
    struct tm        tm;
    tn_dmarc_dest_t  *dest;

    now = time(NULL);
    (void) gmtime_r(&now, &tm);
    (void) strftime((char *) date, sizeof(date),
                    "%a, %d %b %Y %H:%M:%S +0000", &tm);

    tn_dmarc_random_hex(boundary, 32);
    boundary[32] = '\0';

    tn_dmarc_sb_printf(sb, "From: %V\n", &run->from);

    /* To: the destinations, folded one a line */

    dest = rep->dests->elts;
    first = 1;

    for (i = 0; i < rep->dests->nelts; i++) {
        if (dest[i].skip) {
            continue;
        }

        tn_dmarc_sb_printf(sb, "%s<%V>", first ? "To: " : ",\n ",
                           &dest[i].address);
        first = 0;
    }

    if (first) {
        tn_dmarc_sb_printf(sb, "To: undisclosed-recipients:;");
    }

    tn_dmarc_sb_printf(sb, "\nSubject: Report Domain: %V Submitter: %V "
                       "Report-ID: <%V>\n"
                       "Date: %s\n"
                       "Message-ID: <%V@%V>\n"
                       "Auto-Submitted: auto-generated\n"
                       "MIME-Version: 1.0\n"
                       "Content-Type: multipart/mixed; "
                       "boundary=\"%s\"\n\n"
                       "This is a DMARC aggregate report (RFC 7489).\n\n"
                       "--%s\n"
                       "Content-Type: text/plain; charset=us-ascii\n\n"
                       "DMARC aggregate report of %V for %V, %V (UTC),\n"
                       "%ui messages.  Report-ID: <%V>\n\n"
                       "--%s\n"
                       "Content-Type: application/gzip; name=\"%V\"\n"
                       "Content-Disposition: attachment; "
                       "filename=\"%V\"\n"
                       "Content-Transfer-Encoding: base64\n\n",
                       &rep->domain, &run->org_name, &rep->report_id,
                       date, &rep->report_id, &run->receiver,
                       boundary, boundary, &run->org_name, &rep->domain,
                       &rep->day, rep->nrows, &rep->report_id, boundary,
                       &rep->filename, &rep->filename);

    b64.data = tn_pnalloc(run->pool, tn_base64_encoded_length(rep->gz.len));
    if (b64.data == NULL) {
        return TN_ERROR;
    }

    tn_encode_base64(&b64, &rep->gz);

    for (p = b64.data; p < b64.data + b64.len; p += 76) {
        tn_dmarc_sb_add(sb, p, tn_min(76, (size_t) (b64.data + b64.len - p)));
        tn_dmarc_sb_add(sb, "\n", 1);
    }

    tn_dmarc_sb_printf(sb, "\n--%s--\n", boundary);

    /* room for a NUL */
    tn_dmarc_sb_add(sb, "", 1);
    sb->len--;

    return sb->failed ? TN_ERROR : TN_OK;
}


static tn_int_t
tn_dmarc_write_file(const char *dir, tn_str_t *name, tn_str_t *data,
    tn_log_t *log)
{
    char     path[PATH_MAX];
    ssize_t  n;
    tn_fd_t  fd;

    if (tn_snprintf((u_char *) path, sizeof(path) - 1, "%s/%V%Z", dir, name)
        >= (u_char *) path + sizeof(path) - 1)
    {
        return TN_ERROR;
    }

    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
    if (fd == -1) {
        tn_log_error(TN_LOG_ERR, log, tn_errno, "open(\"%s\") failed", path);
        return TN_ERROR;
    }

    n = write(fd, data->data, data->len);

    if (close(fd) == -1 || n != (ssize_t) data->len) {
        tn_log_error(TN_LOG_ERR, log, tn_errno, "writing \"%s\" failed",
                     path);
        return TN_ERROR;
    }

    return TN_OK;
}


static tn_int_t
tn_dmarc_mark(tn_dmarc_run_t *run, tn_dmarc_report_t *rep)
{
    int            rc;
    sqlite3_stmt  *stmt;

    stmt = tn_store_db_stmt(run->db, tn_dmarc_mark_sql, run->log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    sqlite3_bind_text(stmt, 1, (char *) rep->day.data, rep->day.len,
                      SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, (char *) rep->domain.data, rep->domain.len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, rep->max_id);

    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);

    if (rc != SQLITE_DONE) {
        tn_store_db_log(run->db, run->log, rc, "dmarc: marking rows");
        return TN_ERROR;
    }

    return TN_OK;
}


/* strings */

static void
tn_dmarc_sb_add(tn_dmarc_sb_t *sb, const void *p, size_t len)
{
    u_char  *n;
    size_t   size;

    if (sb->failed) {
        return;
    }

    if (sb->len + len + 1 > sb->size) {
        size = tn_max(sb->size * 2, sb->len + len + 4096);

        n = tn_pnalloc(sb->pool, size);
        if (n == NULL) {
            sb->failed = 1;
            return;
        }

        if (sb->len) {
            tn_memcpy(n, sb->data, sb->len);
        }

        sb->data = n;
        sb->size = size;
    }

    tn_memcpy(sb->data + sb->len, p, len);
    sb->len += len;
}


static void
tn_dmarc_sb_printf(tn_dmarc_sb_t *sb, const char *fmt, ...)
{
    u_char   *last, buf[4096];
    va_list   args;

    va_start(args, fmt);
    last = tn_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    tn_dmarc_sb_add(sb, buf, last - buf);
}


/* "<tag>" value "</tag>\n", the value escaped for XML */
static void
tn_dmarc_sb_xml(tn_dmarc_sb_t *sb, const char *tag, const u_char *v,
    size_t len)
{
    const char  *name, *e;
    size_t       i;

    tn_dmarc_sb_add(sb, tag, tn_strlen(tag));

    for (i = 0; i < len; i++) {
        switch (v[i]) {
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '&': e = "&amp;"; break;
        case '"': e = "&quot;"; break;
        default:
            e = NULL;
        }

        if (e) {
            tn_dmarc_sb_add(sb, e, tn_strlen(e));

        } else if (v[i] < 0x20 || v[i] == 0x7f) {
            tn_dmarc_sb_add(sb, "?", 1);

        } else {
            tn_dmarc_sb_add(sb, &v[i], 1);
        }
    }

    /* the closing tag: the opening one's name */

    name = strchr(tag, '<');
    tn_dmarc_sb_add(sb, "</", 2);
    tn_dmarc_sb_add(sb, name + 1, tn_strlen(name + 1));
    tn_dmarc_sb_add(sb, "\n", 1);
}


/* 00:00:00 UTC of "YYYY-MM-DD", or -1 */
static time_t
tn_dmarc_day_start(const u_char *day)
{
    tn_int_t   y, m, d;
    struct tm  tm;

    y = tn_atoi((u_char *) day, 4);
    m = tn_atoi((u_char *) day + 5, 2);
    d = tn_atoi((u_char *) day + 8, 2);

    if (y == TN_ERROR || m == TN_ERROR || d == TN_ERROR || day[4] != '-'
        || day[7] != '-' || y < 1970 || m < 1 || m > 12 || d < 1 || d > 31)
    {
        return (time_t) -1;
    }

    tn_memzero(&tm, sizeof(struct tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;

    return timegm(&tm);
}


static void
tn_dmarc_random_hex(u_char *p, size_t n)
{
    static const char  hex[] = "0123456789abcdef";

    while (n--) {
        *p++ = hex[arc4random_uniform(16)];
    }
}


/*
 * A v=DMARC1 record at name (RFC 7489 7.1), asked in this process: the
 * command has no server around it, so it sets up the event loop and the
 * resolver once, as a worker does (and as "tern spf" does), and runs the
 * loop until the answer is in.  TN_OK: there is one; TN_DECLINED: none,
 * a DNS failure, or no resolver (logged).
 */

typedef struct {
    tn_uint_t               done;
    tn_uint_t               found;
    tn_int_t                state;
} tn_dmarc_verify_t;


static void
tn_dmarc_verify_handler(tn_resolver_ctx_t *rctx)
{
    tn_uint_t           i;
    tn_dmarc_record_t   r;
    tn_dmarc_verify_t  *v;

    v = rctx->data;
    v->done = 1;
    v->state = rctx->state;

    for (i = 0; rctx->state == TN_OK && i < rctx->ntxt; i++) {
        if (tn_dmarc_record_parse(rctx->txt[i].data, rctx->txt[i].len, &r)
            != TN_DECLINED)
        {
            v->found = 1;
        }
    }

    tn_resolve_done(rctx);
}


tn_int_t
tn_mail_dmarc_verify_txt(tn_cycle_t *cycle, u_char *name, tn_log_t *log)
{
    tn_resolver_t      *r;
    tn_resolver_ctx_t  *rctx;
    tn_dmarc_verify_t   v;

    r = tn_resolver_cli_start(cycle);

    if (r == NULL) {
        tn_log_error(TN_LOG_NOTICE, log, 0,
                     "dmarc report: %s cannot be looked up: no \"resolver\" "
                     "is configured", name);
        return TN_DECLINED;
    }

    rctx = tn_resolve_start(r);
    if (rctx == NULL) {
        return TN_DECLINED;
    }

    tn_memzero(&v, sizeof(tn_dmarc_verify_t));

    rctx->name.data = name;
    rctx->name.len = tn_strlen(name);
    rctx->type = TN_RESOLVE_TXT;
    rctx->handler = tn_dmarc_verify_handler;
    rctx->data = &v;

    if (tn_resolve_name(rctx) != TN_OK) {
        tn_resolve_done(rctx);
        return TN_DECLINED;
    }

    while (!v.done) {
        tn_process_events_and_timers(cycle);
    }

    if (v.state != TN_OK && v.state != TN_RESOLVE_NXDOMAIN
        && v.state != TN_RESOLVE_NODATA)
    {
        tn_log_error(TN_LOG_NOTICE, log, 0, "dmarc report: %s: %s", name,
                     tn_resolver_strerror(v.state));
    }

    return v.found ? TN_OK : TN_DECLINED;
}


/*
 * The daily run in the housekeeper: the same three steps without
 * blocking its event loop.  Collect and send are thread pool tasks; the
 * _report._dmarc lookups go to the housekeeper's resolver in between.
 */

static void tn_dmarc_job_collect(void *data, tn_log_t *log);
static void tn_dmarc_job_collected(tn_event_t *ev);
static void tn_dmarc_job_resolved(tn_resolver_ctx_t *rctx);
static void tn_dmarc_job_verified(tn_dmarc_run_t *run);
static void tn_dmarc_job_send(void *data, tn_log_t *log);
static void tn_dmarc_job_sent(tn_event_t *ev);
static void tn_dmarc_job_end(tn_dmarc_run_t *run, tn_int_t rc);


tn_int_t
tn_mail_dmarc_report_job(tn_cycle_t *cycle, tn_housekeeper_job_t *job)
{
    tn_pool_t         *pool;
    tn_dmarc_run_t    *run;
    tn_thread_task_t  *task;

    pool = tn_create_pool(16384, cycle->log);
    if (pool == NULL) {
        return TN_ERROR;
    }

    run = tn_pcalloc(pool, sizeof(tn_dmarc_run_t));
    if (run == NULL) {
        tn_destroy_pool(pool);
        return TN_ERROR;
    }

    run->pool = pool;
    run->cycle = cycle;
    run->log = cycle->log;
    run->job = job;

    task = tn_thread_task_alloc(sizeof(tn_dmarc_run_t *), cycle->log);
    if (task == NULL) {
        tn_destroy_pool(pool);
        return TN_ERROR;
    }

    *(tn_dmarc_run_t **) task->ctx = run;
    task->log = cycle->log;
    task->handler = tn_dmarc_job_collect;
    task->event.handler = tn_dmarc_job_collected;
    task->event.data = task;

    if (tn_thread_task_post(task) != TN_OK) {
        tn_thread_task_free(task);
        tn_destroy_pool(pool);
        return TN_ERROR;
    }

    return TN_AGAIN;
}


static void
tn_dmarc_job_collect(void *data, tn_log_t *log)
{
    tn_dmarc_run_t  *run = *(tn_dmarc_run_t **) data;

    run->rc = tn_dmarc_run_init(run);

    if (run->rc == TN_OK) {
        run->rc = tn_dmarc_collect(run);
    }
}


static void
tn_dmarc_job_collected(tn_event_t *ev)
{
    tn_uint_t           i, j;
    tn_resolver_t      *r;
    tn_dmarc_run_t     *run;
    tn_dmarc_dest_t    *dest;
    tn_thread_task_t   *task;
    tn_resolver_ctx_t  *rctx;
    tn_dmarc_report_t  *rep;
    tn_dmarc_lookup_t  *lk;

    task = ev->data;
    run = *(tn_dmarc_run_t **) task->ctx;
    tn_thread_task_free(task);

    if (run->rc != TN_OK) {
        tn_dmarc_job_end(run, TN_ERROR);
        return;
    }

    r = tn_resolver_get(run->cycle);
    rep = run->reports->elts;

    /* a lookup per destination to verify; pending holds one more */

    run->pending = 1;

    for (i = 0; i < run->reports->nelts; i++) {
        dest = rep[i].dests->elts;

        for (j = 0; j < rep[i].dests->nelts; j++) {
            if (!dest[j].verify) {
                continue;
            }

            dest[j].skip = 1;

            lk = tn_palloc(run->pool, sizeof(tn_dmarc_lookup_t));
            rctx = (r && lk) ? tn_resolve_start(r) : NULL;

            if (rctx == NULL) {
                tn_log_error(TN_LOG_NOTICE, run->log, 0,
                             "dmarc report %V: \"%V\" of %V cannot be "
                             "verified (no resolver), skipped",
                             &rep[i].report_id, &dest[j].uri,
                             &rep[i].domain);
                continue;
            }

            lk->run = run;
            lk->rep = &rep[i];
            lk->dest = &dest[j];

            rctx->name.data = dest[j].vname;
            rctx->name.len = tn_strlen(dest[j].vname);
            rctx->type = TN_RESOLVE_TXT;
            rctx->handler = tn_dmarc_job_resolved;
            rctx->data = lk;

            if (tn_resolve_name(rctx) != TN_OK) {
                tn_resolve_done(rctx);
                continue;
            }

            run->pending++;
        }
    }

    if (--run->pending == 0) {
        tn_dmarc_job_verified(run);
    }
}


static void
tn_dmarc_job_resolved(tn_resolver_ctx_t *rctx)
{
    tn_uint_t           i;
    tn_dmarc_run_t     *run;
    tn_dmarc_record_t   r;
    tn_dmarc_lookup_t  *lk;

    lk = rctx->data;
    run = lk->run;

    for (i = 0; rctx->state == TN_OK && i < rctx->ntxt; i++) {
        if (tn_dmarc_record_parse(rctx->txt[i].data, rctx->txt[i].len, &r)
            != TN_DECLINED)
        {
            lk->dest->skip = 0;
            lk->dest->verified = 1;
        }
    }

    if (lk->dest->skip) {
        tn_log_error(TN_LOG_NOTICE, run->log, 0,
                     "dmarc report %V: rua URI \"%V\" of %V is outside "
                     "its organisation and %s has no v=DMARC1 record, "
                     "skipped", &lk->rep->report_id, &lk->dest->uri,
                     &lk->rep->domain, lk->dest->vname);
    }

    tn_resolve_done(rctx);

    if (--run->pending == 0) {
        tn_dmarc_job_verified(run);
    }
}


static void
tn_dmarc_job_verified(tn_dmarc_run_t *run)
{
    tn_thread_task_t  *task;

    task = tn_thread_task_alloc(sizeof(tn_dmarc_run_t *), run->log);
    if (task == NULL) {
        tn_dmarc_job_end(run, TN_ERROR);
        return;
    }

    *(tn_dmarc_run_t **) task->ctx = run;
    task->log = run->log;
    task->handler = tn_dmarc_job_send;
    task->event.handler = tn_dmarc_job_sent;
    task->event.data = task;

    if (tn_thread_task_post(task) != TN_OK) {
        tn_thread_task_free(task);
        tn_dmarc_job_end(run, TN_ERROR);
    }
}


static void
tn_dmarc_job_send(void *data, tn_log_t *log)
{
    tn_dmarc_run_t  *run = *(tn_dmarc_run_t **) data;

    run->rc = tn_dmarc_send(run);
}


static void
tn_dmarc_job_sent(tn_event_t *ev)
{
    tn_dmarc_run_t    *run;
    tn_thread_task_t  *task;

    task = ev->data;
    run = *(tn_dmarc_run_t **) task->ctx;
    tn_thread_task_free(task);

    tn_dmarc_job_end(run, run->rc);
}


static void
tn_dmarc_job_end(tn_dmarc_run_t *run, tn_int_t rc)
{
    tn_housekeeper_job_t  *job;

    job = run->job;

    tn_log_error(TN_LOG_NOTICE, run->log, 0,
                 "dmarc report: %ui reports, %ui queued",
                 run->reports ? run->reports->nelts : 0, run->sent);

    tn_destroy_pool(run->pool);

    tn_housekeeper_job_done(job, rc);
}
