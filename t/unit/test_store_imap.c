
/*
 * Copyright (C) The Tern developers
 *
 * The multi-mailbox store of IMAP (tn_store_imap.h), in a temporary
 * prefix: the special-use folders, CREATE/LIST/RENAME (children, INBOX)/
 * DELETE/SUBSCRIBE, names with "." and non-ASCII on disk, folders made
 * by hand, SELECT with files dropped into new/ and cur/, STORE with
 * MODSEQ and the changes since, the keyword table limit, EXPUNGE,
 * COPY/MOVE, APPEND, the header cache, STATUS, the quota, an index.db of
 * version 1 and one of version 2 (the cache in the messages rows)
 * migrated, UIDs kept by tn_store_index_rebuild(), and
 * deliveries racing SELECT and STORE.
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_imap.h>


static tn_uint_t        tests;
static tn_uint_t        failed;
static tn_uint_t        changes;
static char             tmpdir[] = "/tmp/tn-store-imap-XXXXXX";
static char             logname[PATH_MAX];
static tn_open_file_t   logfile;
static tn_log_t         test_log;


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %u - %s\n", cond ? "" : "not ", (unsigned) tests, name);
    fflush(stdout);
}


static void
changed(int64_t user_id)
{
    changes++;
}


static tn_str_t
str(const char *s)
{
    tn_str_t  v;

    v.len = strlen(s);
    v.data = (u_char *) s;

    return v;
}


static int
write_file(const char *path, const char *data)
{
    int  fd;

    fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0600);
    if (fd == -1) {
        return -1;
    }

    if (write(fd, data, strlen(data)) != (ssize_t) strlen(data)) {
        close(fd);
        return -1;
    }

    return close(fd);
}


/* a Maildir++ folder made by hand: dir and its tmp/, new/, cur/ */

static void
make_folder(tn_store_user_t *u, const char *dir)
{
    tn_uint_t  i;
    char       path[2 * PATH_MAX];

    static const char  *subs[] = { "", "/tmp", "/new", "/cur" };

    for (i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s%s", u->maildir, dir, subs[i]);
        mkdir(path, 0700);
    }
}


static int
exists(tn_store_user_t *u, const char *rel)
{
    char  path[2 * PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", u->maildir, rel);

    return access(path, F_OK) == 0;
}


static int
count_dir(tn_store_user_t *u, const char *rel)
{
    DIR            *d;
    int             n;
    struct dirent  *de;
    char            path[2 * PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", u->maildir, rel);

    d = opendir(path);
    if (d == NULL) {
        return -1;
    }

    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            n++;
        }
    }

    closedir(d);

    return n;
}


static int64_t
db_int(tn_store_user_t *u, const char *sql)
{
    int64_t        n;
    sqlite3       *db;
    sqlite3_stmt  *stmt;
    char           path[2 * PATH_MAX];

    snprintf(path, sizeof(path), "%s/index.db", u->maildir);

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }

    n = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK) {
        if (sqlite3_step(stmt) == SQLITE_ROW) {
            n = sqlite3_column_int64(stmt, 0);
        }

        sqlite3_finalize(stmt);
    }

    sqlite3_close(db);

    return n;
}


static int
eq(tn_str_t *s, const char *v)
{
    return s->len == strlen(v) && memcmp(s->data, v, s->len) == 0;
}


/* cache rows whose message is gone (each table), or -1 */

static int64_t
orphans(tn_store_user_t *u)
{
    return db_int(u, "SELECT (SELECT count(*) FROM msg_keys"
                     " WHERE id NOT IN (SELECT (mailbox_id << 32) | uid"
                     " FROM messages)) + (SELECT count(*) FROM msg_cache"
                     " WHERE id NOT IN (SELECT (mailbox_id << 32) | uid"
                     " FROM messages)) + (SELECT count(*) FROM msg_header"
                     " WHERE id NOT IN (SELECT (mailbox_id << 32) | uid"
                     " FROM messages))");
}


static tn_store_mbox_info_t *
list_find(tn_array_t *list, const char *name)
{
    tn_uint_t              i;
    tn_store_mbox_info_t  *info;

    info = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (info[i].name.len == strlen(name)
            && memcmp(info[i].name.data, name, info[i].name.len) == 0)
        {
            return &info[i];
        }
    }

    return NULL;
}


static tn_array_t *
list(tn_store_conf_t *conf, tn_store_user_t *u, tn_pool_t *pool)
{
    tn_array_t  *out;

    if (tn_store_mbox_list(conf, u, pool, TN_STORE_LIST_STATUS, &out,
                           &test_log)
        != TN_OK)
    {
        return NULL;
    }

    return out;
}


static tn_int_t
deliver(tn_store_conf_t *conf, tn_store_user_t *u, const char *body,
    uint32_t *uid)
{
    tn_fd_t               fd;
    tn_store_delivery_t   d, *dp;

    tn_memzero(&d, sizeof(d));

    fd = tn_store_spool_create(conf, d.spool_path, &test_log);
    if (fd == TN_INVALID_FILE) {
        return TN_ERROR;
    }

    (void) write(fd, body, strlen(body));
    close(fd);

    d.size = strlen(body);
    d.vsize = d.size;
    d.internaldate = time(NULL);
    d.nrcpts = 1;
    d.rcpts = u;
    d.uids = uid;

    dp = &d;
    tn_store_deliver(conf, &dp, 1, &test_log);

    return d.rc;
}


static tn_int_t
append(tn_store_conf_t *conf, tn_store_user_t *u, const char *mbox,
    const char *body, uint32_t flags, tn_str_t *kw, tn_uint_t nkw,
    tn_store_append_t *a, const char **reason)
{
    tn_fd_t   fd;
    tn_str_t  name;

    tn_memzero(a, sizeof(tn_store_append_t));

    fd = tn_store_spool_create(conf, a->spool_path, &test_log);
    if (fd == TN_INVALID_FILE) {
        return TN_ERROR;
    }

    (void) write(fd, body, strlen(body));
    close(fd);

    a->size = strlen(body);
    a->vsize = a->size;
    a->internaldate = 1700000000;
    a->flags = flags;
    a->kw = kw;
    a->nkw = nkw;

    name = str(mbox);

    return tn_store_mbox_append(conf, u, &name, a, reason, &test_log);
}


static void
test_folders(tn_store_conf_t *conf, tn_store_user_t *u, tn_pool_t *pool)
{
    tn_str_t               name, to;
    tn_array_t            *l;
    const char            *reason;
    tn_store_mbox_info_t  *info, *work;
    char                   path[2 * PATH_MAX];

    l = list(conf, u, pool);

    ok(l && l->nelts == 6 && list_find(l, "INBOX")
       && ((tn_store_mbox_info_t *) l->elts)[0].name.len == 5,
       "first LIST: INBOX first, and the special-use folders");

    info = l ? list_find(l, "Sent") : NULL;
    ok(info && info->special == TN_STORE_SPECIAL_SENT && info->id
       && exists(u, ".Sent/cur") && exists(u, ".Sent/maildirfolder"),
       "Sent is \\Sent, on disk as .Sent");

    name = str("Junk");
    ok(tn_store_mbox_delete(conf, u, &name, &reason, &test_log) == TN_OK
       && !exists(u, ".Junk"), "DELETE Junk");

    l = list(conf, u, pool);
    ok(l && l->nelts == 5 && list_find(l, "Junk") == NULL,
       "a deleted special-use folder does not come back");

    name = str("INBOX");
    ok(tn_store_mbox_delete(conf, u, &name, &reason, &test_log)
       == TN_DECLINED, "DELETE INBOX refused");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log)
       == TN_DECLINED, "CREATE INBOX refused");

    name = str("Work/2026/");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log) == TN_OK
       && exists(u, ".Work.2026/new"), "CREATE Work/2026/ (trailing /)");

    name = str("Work/2026");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log)
       == TN_DECLINED, "CREATE of an existing name refused");

    l = list(conf, u, pool);
    work = l ? list_find(l, "Work") : NULL;
    ok(work && work->noselect && work->children && work->id == 0
       && list_find(l, "Work/2026") && list_find(l, "Work/2026")->id,
       "a parent without a folder is \\Noselect with children");

    name = str("a.b");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log) == TN_OK
       && exists(u, ".a&AC4-b/cur"), "a \".\" in a name is &AC4- on disk");

    name = str("Caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac & \xf0\x9f\x98\x80");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log) == TN_OK
       && exists(u, ".Caf&AOk-.&ZeVnLA- &- &2D3eAA-"),
       "non-ASCII names in modified UTF-7 on disk");

    l = list(conf, u, pool);
    ok(l && list_find(l, "a.b")
       && list_find(l, "Caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac & "
                       "\xf0\x9f\x98\x80"),
       "the names come back from disk");

    name = str("x//y");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log)
       == TN_DECLINED, "an empty component is refused");
    name = str("x/../y");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log)
       == TN_DECLINED, "a \"..\" component is refused");
    name = str("bad\x01");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log)
       == TN_DECLINED, "a control character is refused");
    name = str("bad\xc3");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log)
       == TN_DECLINED, "malformed UTF-8 is refused");

    /* made by hand, and a name that does not decode */

    make_folder(u, ".Hand");
    snprintf(path, sizeof(path), "%s/.Bad&Jjo", u->maildir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/.Bad&Jjo/cur", u->maildir);
    mkdir(path, 0700);

    snprintf(path, sizeof(path), "%s/tern-deleting.9.9", u->maildir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/tern-deleting.9.9/cur", u->maildir);
    mkdir(path, 0700);

    l = list(conf, u, pool);
    ok(!exists(u, "tern-deleting.9.9"),
       "LIST removes what a crashed DELETE left");
    ok(l && list_find(l, "Hand") && list_find(l, "Hand")->id
       && list_find(l, "Bad&Jjo") == NULL && list_find(l, "Bad") == NULL,
       "a folder made by hand is listed, an undecodable one skipped");

    /* RENAME with children */

    info = l ? list_find(l, "Work/2026") : NULL;

    name = str("Nothing");
    to = str("Job");
    ok(tn_store_mbox_rename(conf, u, &name, &to, &reason, &test_log)
       == TN_DECLINED, "RENAME of no such mailbox refused");

    name = str("Work");
    to = str("Job");
    ok(tn_store_mbox_rename(conf, u, &name, &to, &reason, &test_log) == TN_OK
       && exists(u, ".Job.2026/cur") && !exists(u, ".Work.2026")
       && !exists(u, ".Job"),
       "RENAME of a \\Noselect parent renames its children");

    name = str("Job/2026/x");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log) == TN_OK,
       "CREATE a child");

    {
        int64_t             old;
        uint32_t            v = info ? info->uidvalidity : 0;
        tn_store_changes_t  c;

        l = list(conf, u, pool);
        old = (l && list_find(l, "Job/2026")) ? list_find(l, "Job/2026")->id
                                              : 0;

        name = str("Job/2026");
        to = str("Archive/Old");
        ok(tn_store_mbox_rename(conf, u, &name, &to, &reason, &test_log)
           == TN_OK && exists(u, ".Archive.Old/cur")
           && exists(u, ".Archive.Old.x/cur") && !exists(u, ".Job.2026.x"),
           "RENAME moves the children");

        l = list(conf, u, pool);
        ok(l && list_find(l, "Archive/Old")
           && list_find(l, "Archive/Old")->uidvalidity == v
           && list_find(l, "Archive/Old/x") && list_find(l, "Job") == NULL
           && list_find(l, "Archive")->children,
           "RENAME keeps UIDVALIDITY; the old names are gone");

        ok(tn_store_mbox_changes(conf, u, old, 1, pool, &c, &test_log)
           == TN_OK && c.gone, "a session on the old name finds it gone");
    }

    name = str("Archive/Old");
    to = str("Sent");
    ok(tn_store_mbox_rename(conf, u, &name, &to, &reason, &test_log)
       == TN_DECLINED, "RENAME onto an existing name refused");
    to = str("Archive/Old/x/y");
    ok(tn_store_mbox_rename(conf, u, &name, &to, &reason, &test_log)
       == TN_DECLINED, "RENAME under itself refused");

    /* subscriptions */

    name = str("Sent");
    ok(tn_store_mbox_subscribe(conf, u, &name, 1, &reason, &test_log)
       == TN_OK, "SUBSCRIBE Sent");
    name = str("Nowhere/deep");
    ok(tn_store_mbox_subscribe(conf, u, &name, 1, &reason, &test_log)
       == TN_OK, "SUBSCRIBE a name that does not exist");

    l = list(conf, u, pool);
    ok(l && list_find(l, "Sent")->subscribed
       && list_find(l, "Nowhere/deep")
       && list_find(l, "Nowhere/deep")->nonexistent
       && list_find(l, "Nowhere/deep")->subscribed
       && list_find(l, "Nowhere") == NULL,
       "subscriptions listed, \\NonExistent without parents");

    ok(tn_store_mbox_subscribe(conf, u, &name, 0, &reason, &test_log)
       == TN_OK
       && tn_store_mbox_subscribe(conf, u, &name, 0, &reason, &test_log)
          == TN_DECLINED, "UNSUBSCRIBE, then again refused");

    l = list(conf, u, pool);
    ok(l && list_find(l, "Nowhere/deep") == NULL, "the name is gone");

    name = str("Sent");
    ok(tn_store_mbox_delete(conf, u, &name, &reason, &test_log) == TN_OK,
       "DELETE a subscribed folder");

    l = list(conf, u, pool);
    ok(l && list_find(l, "Sent") && list_find(l, "Sent")->nonexistent,
       "its subscription stays");

    ok(tn_store_mbox_create(conf, u, &name, TN_STORE_SPECIAL_SENT, &reason,
                            &test_log) == TN_OK
       && (l = list(conf, u, pool)) != NULL
       && list_find(l, "Sent")->id && list_find(l, "Sent")->subscribed
       && list_find(l, "Sent")->special == TN_STORE_SPECIAL_SENT,
       "CREATE it again (CREATE-SPECIAL-USE), still subscribed");
}


static void
test_messages(tn_store_conf_t *conf, tn_store_user_t *u, tn_pool_t *pool)
{
    int64_t              id;
    uint32_t             uids[4], *fu, *src, *dst, *ex, v;
    uint64_t             m0, limit, used, count;
    tn_int_t             rc;
    tn_str_t             name, kw[TN_STORE_KEYWORDS_MAX + 1], to;
    tn_uint_t            i, n, nf, nout;
    const char          *reason;
    tn_store_mbox_t      mb;
    tn_store_imsg_t     *out;
    tn_store_cache_t     cache, caches[3];
    u_char               found[3];
    tn_store_append_t    a;
    tn_store_changes_t   c;
    tn_store_flag_op_t   op;
    tn_store_mbox_info_t info;
    tn_store_md_t        md;
    tn_store_db_t       *db;
    tn_store_mbox_row_t  mr;
    u_char              *xnames[1];
    char                 path[2 * PATH_MAX];
    char                 names[TN_STORE_KEYWORDS_MAX + 1][16];

    name = str("Box");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log) == TN_OK,
       "CREATE Box");

    snprintf(path, sizeof(path), "%s/.Box/new/1700000001.a.test", u->maildir);
    write_file(path, "Subject: a\n\nnew one\n");
    snprintf(path, sizeof(path), "%s/.Box/cur/1700000000.b.test:2,FS",
             u->maildir);
    write_file(path, "Subject: b\n\nold one\n");

    {
        struct timespec  ts[2];

        /* the order of arrival: b came first */
        ts[0].tv_sec = 1700000000;
        ts[0].tv_nsec = 0;
        ts[1] = ts[0];
        utimensat(AT_FDCWD, path, ts, 0);
    }

    rc = tn_store_mbox_open(conf, u, &name, 0, &mb, &reason, &test_log);

    ok(rc == TN_OK && mb.nmsgs == 2 && mb.info.messages == 2
       && mb.info.recent == 1 && mb.info.unseen == 1,
       "SELECT picks up files dropped into new/ and cur/");

    if (rc != TN_OK) {
        return;
    }

    id = mb.info.id;
    v = mb.info.uidvalidity;
    m0 = mb.info.highestmodseq;

    ok(mb.msgs[0].flags == (TN_STORE_F_FLAGGED|TN_STORE_F_SEEN)
       && mb.msgs[1].flags == TN_STORE_F_RECENT
       && mb.msgs[0].uid == 1 && mb.msgs[1].uid == 2,
       "flags from the names, \\Recent for new/, UIDs by arrival");

    ok(exists(u, ".Box/cur/1700000001.a.test:2,")
       && !exists(u, ".Box/new/1700000001.a.test"),
       "SELECT moved the new/ file into cur/ with \":2,\"");

    tn_store_mbox_free(&mb);

    ok(tn_store_mbox_open(conf, u, &name, 1, &mb, &reason, &test_log)
       == TN_OK && mb.info.recent == 0 && mb.nmsgs == 2,
       "\\Recent only once");
    tn_store_mbox_free(&mb);

    /* STORE */

    kw[0] = str("$Junk");

    tn_memzero(&op, sizeof(op));
    op.op = TN_STORE_FLAGS_ADD;
    op.flags = TN_STORE_F_SEEN|TN_STORE_F_ANSWERED;
    op.kw = kw;
    op.nkw = 1;

    uids[0] = 2;
    uids[1] = 99;

    rc = tn_store_mbox_store(conf, u, id, uids, 2, &op, pool, &out, &n, &fu,
                             &nf, &reason, &test_log);

    ok(rc == TN_OK && n == 1 && nf == 0 && out[0].uid == 2
       && out[0].flags == (TN_STORE_F_SEEN|TN_STORE_F_ANSWERED)
       && out[0].keywords == 1 && out[0].modseq > m0,
       "STORE +FLAGS (\\Seen \\Answered $Junk)");

    ok(exists(u, ".Box/cur/1700000001.a.test:2,RS"),
       "the file name follows the flags");

    ok(tn_store_mbox_changes(conf, u, id, m0, pool, &c, &test_log) == TN_OK
       && c.nchanged == 1 && c.changed[0].uid == 2 && c.nexpunged == 0
       && c.nkeywords == 1 && c.uidvalidity == v
       && c.highestmodseq == out[0].modseq,
       "changes since: the stored message");

    m0 = out[0].modseq;

    op.op = TN_STORE_FLAGS_REMOVE;
    op.flags = TN_STORE_F_SEEN;
    op.nkw = 0;
    op.unchangedsince = m0 - 1;
    uids[0] = 2;

    rc = tn_store_mbox_store(conf, u, id, uids, 1, &op, pool, &out, &n, &fu,
                             &nf, &reason, &test_log);
    ok(rc == TN_OK && nf == 1 && fu[0] == 2 && n == 1
       && out[0].modseq == m0, "UNCHANGEDSINCE below: failed, unchanged");

    op.unchangedsince = 0;
    op.op = TN_STORE_FLAGS_ADD;
    op.flags = TN_STORE_F_SEEN;

    rc = tn_store_mbox_store(conf, u, id, uids, 1, &op, pool, &out, &n, &fu,
                             &nf, &reason, &test_log);
    ok(rc == TN_OK && n == 1 && out[0].modseq == m0,
       "a STORE that changes nothing keeps the MODSEQ");

    /* the keyword table */

    for (i = 0; i < TN_STORE_KEYWORDS_MAX + 1; i++) {
        snprintf(names[i], sizeof(names[i]), "kw%u", (unsigned) i);
        kw[i] = str(names[i]);
    }

    op.kw = kw;
    op.nkw = TN_STORE_KEYWORDS_MAX - 1;

    rc = tn_store_mbox_store(conf, u, id, uids, 1, &op, pool, &out, &n, &fu,
                             &nf, &reason, &test_log);
    ok(rc == TN_OK && out[0].keywords == UINT64_MAX,
       "64 keywords fit");

    op.nkw = TN_STORE_KEYWORDS_MAX;

    rc = tn_store_mbox_store(conf, u, id, uids, 1, &op, pool, &out, &n, &fu,
                             &nf, &reason, &test_log);
    ok(rc == TN_DECLINED && strcmp(reason, "too many keywords") == 0,
       "the 65th is refused");

    op.op = TN_STORE_FLAGS_SET;
    op.flags = TN_STORE_F_DELETED;
    op.nkw = 0;
    uids[0] = 1;

    m0 = 0;
    rc = tn_store_mbox_store(conf, u, id, uids, 1, &op, pool, &out, &n, &fu,
                             &nf, &reason, &test_log);
    m0 = (rc == TN_OK) ? out[0].modseq : 0;

    ok(rc == TN_OK && out[0].flags == TN_STORE_F_DELETED
       && exists(u, ".Box/cur/1700000000.b.test:2,T"),
       "STORE FLAGS (\\Deleted)");

    rc = tn_store_mbox_expunge(conf, u, id, NULL, 0, pool, &ex, &nout,
                               &test_log);
    ok(rc == TN_OK && nout == 1 && ex[0] == 1
       && !exists(u, ".Box/cur/1700000000.b.test:2,T"), "EXPUNGE");

    ok(tn_store_mbox_changes(conf, u, id, m0, pool, &c, &test_log) == TN_OK
       && c.nexpunged == 1 && c.expunged[0] == 1 && c.nchanged == 0
       && c.highestmodseq > m0, "changes since: the expunge");

    /*
     * EXPUNGE picked uid 2 as \Deleted, then a STORE -FLAGS (\Deleted)
     * committed before it got the write lock: under the lock it stays.
     */

    db = tn_store_index_open(conf, u, &test_log);

    if (db && tn_store_md_open(&md, conf, u, ".Box", &test_log) == TN_OK) {
        xnames[0] = NULL;
        mr.id = id;
        uids[0] = 2;

        rc = tn_store_expunge_uids(&md, db, &mr, uids, 1, xnames, 1);
        tn_store_md_close(&md);

        ok(rc == TN_OK && xnames[0] == NULL
           && tn_store_mbox_message(conf, u, id, 2, TN_STORE_WANT_PATH,
                                    path, pool, &cache, &test_log)
              == TN_OK
           && access(path, F_OK) == 0,
           "EXPUNGE re-checks \\Deleted under the lock");

    } else {
        ok(0, "EXPUNGE re-checks \\Deleted under the lock");
    }

    /* APPEND */

    kw[0] = str("$Forwarded");

    rc = append(conf, u, "Box", "Subject: x\n\nx\n", 0, kw, 1, &a, &reason);
    ok(rc == TN_DECLINED && strcmp(reason, "too many keywords") == 0
       && count_dir(u, ".Box/cur") == 1 && count_dir(u, ".Box/tmp") == 0,
       "APPEND with a 65th keyword refused, nothing left");

    kw[0] = str("$JUNK");

    rc = append(conf, u, "Box", "From: a@b.test\nSubject: appended\n\nhi\n",
                TN_STORE_F_SEEN, kw, 1, &a, &reason);

    ok(rc == TN_OK && a.uid == 3 && a.uidvalidity == v
       && access(a.spool_path, F_OK) == -1, "APPEND");

    ok(count_dir(u, ".Box/cur") == 2 && count_dir(u, ".Box/new") == 0
       && count_dir(u, ".Box/tmp") == 0, "APPEND goes into cur/");

    tn_memzero(&cache, sizeof(cache));
    path[0] = '\0';

    ok(tn_store_mbox_message(conf, u, id, 3,
                             TN_STORE_WANT_PATH|TN_STORE_WANT_CACHE, path,
                             pool, &cache, &test_log) == TN_OK
       && strstr(path, "/.Box/cur/") && strstr(path, ":2,S")
       && cache.header.len > 0 && cache.envelope.len > 0
       && cache.subject.len > 0, "the message's path and header cache");

    ok(tn_store_mbox_message(conf, u, id, 2, TN_STORE_WANT_CACHE, NULL,
                             pool, &cache, &test_log) == TN_OK
       && cache.envelope.len > 0, "a cache made from the file");

    /* the caches of a batch at once, with the columns asked for only */

    uids[0] = 1;
    uids[1] = 2;
    uids[2] = 3;

    ok(tn_store_mbox_messages(conf, u, id, uids, 3,
                              TN_STORE_COL_ENVELOPE|TN_STORE_COL_SUBJECT,
                              pool, caches, found, &test_log) == TN_OK
       && !found[0] && found[1] && found[2]
       && caches[1].envelope.len > 0 && caches[2].subject.len > 0
       && caches[2].header.len == 0 && caches[2].body.len == 0
       && caches[2].date == -1,
       "batch of caches: an expunged uid not found, columns asked for");

    uids[0] = 3;
    uids[1] = 2;

    ok(tn_store_mbox_messages(conf, u, id, uids, 2, TN_STORE_COL_HEADER,
                              pool, caches, found, &test_log) == TN_OK
       && found[0] && found[1] && caches[0].header.len > 0
       && caches[0].envelope.len == 0 && caches[1].header.len > 0,
       "batch of caches: uids out of order");

    ok(tn_store_mbox_message(conf, u, id, 1, TN_STORE_WANT_PATH, path,
                             pool, &cache, &test_log) == TN_DECLINED,
       "an expunged uid is declined");

    rc = append(conf, u, "Nope", "x\n", 0, NULL, 0, &a, &reason);
    ok(rc == TN_DECLINED && access(a.spool_path, F_OK) == -1,
       "APPEND to no such mailbox: declined, spool gone");

    /* COPY, MOVE */

    uids[0] = 1;
    uids[1] = 2;
    uids[2] = 3;
    to = str("INBOX");

    rc = tn_store_mbox_copy(conf, u, id, uids, 3, &to, 0, pool, &src, &dst,
                            &nout, &v, &reason, &test_log);
    ok(rc == TN_OK && nout == 2 && src[0] == 2 && src[1] == 3
       && dst[1] == dst[0] + 1 && v != 0, "COPY with uid pairs");

    name = str("INBOX");
    ok(tn_store_mbox_open(conf, u, &name, 1, &mb, &reason, &test_log)
       == TN_OK && mb.nmsgs == 2 && mb.msgs[0].keywords == UINT64_MAX
       && mb.nkeywords == TN_STORE_KEYWORDS_MAX && mb.msgs[1].keywords == 1
       && mb.keywords[0].len == 5
       && (mb.msgs[0].flags & TN_STORE_F_ANSWERED),
       "the copies keep flags and keywords (by name)");
    tn_store_mbox_free(&mb);

    to = str("Trash");
    rc = tn_store_mbox_copy(conf, u, id, uids, 3, &to, 1, pool, &src, &dst,
                            &nout, &v, &reason, &test_log);
    ok(rc == TN_OK && nout == 2 && count_dir(u, ".Box/cur") == 0
       && count_dir(u, ".Trash/cur") == 2, "MOVE");

    to = str("Nope");
    rc = tn_store_mbox_copy(conf, u, id, uids, 3, &to, 0, pool, &src, &dst,
                            &nout, &v, &reason, &test_log);
    ok(rc == TN_DECLINED, "COPY to no such mailbox declined");

    /* STATUS, quota */

    name = str("Trash");
    ok(tn_store_mbox_status(conf, u, &name, pool, &info, &reason, &test_log)
       == TN_OK && info.messages == 2 && info.unseen == 0
       && info.size > 0 && info.uidnext == 3, "STATUS");

    ok(tn_store_mbox_quota(conf, u, &limit, &used, &count, &test_log)
       == TN_OK && limit == 0 && count == 4 && used > 0, "the quota");

    /* RENAME INBOX */

    ok(deliver(conf, u, "Subject: d\n\ndelivered\n", &uids[3]) == TN_OK
       && exists(u, "new") && count_dir(u, "new") == 1, "a delivery");

    snprintf(path, sizeof(path), "SELECT count(*) FROM msg_keys k"
             " JOIN msg_cache c USING (id) JOIN msg_header h USING (id)"
             " WHERE id = ((SELECT id FROM mailboxes WHERE name = 'INBOX')"
             " << 32) | %u AND k.subject = 'd' AND c.envelope IS NOT NULL"
             " AND h.cached = 1 AND h.header IS NOT NULL",
             (unsigned) uids[3]);
    ok(db_int(u, path) == 1, "delivery fills the header cache tables");

    ok(db_int(u, "SELECT count(*) FROM messages WHERE cached != 0"
                 " OR header IS NOT NULL OR envelope IS NOT NULL"
                 " OR subject IS NOT NULL OR sent_tz IS NOT NULL") == 0,
       "no cache data left in the messages rows");

    name = str("INBOX");
    ok(tn_store_mbox_status(conf, u, &name, pool, &info, &reason, &test_log)
       == TN_OK && info.messages == 3 && info.recent == 1,
       "STATUS INBOX: the delivery is recent");

    tn_memzero(&op, sizeof(op));
    op.op = TN_STORE_FLAGS_ADD;
    op.flags = TN_STORE_F_FLAGGED;

    rc = tn_store_mbox_store(conf, u, info.id, &uids[3], 1, &op, pool, &out,
                             &n, &fu, &nf, &reason, &test_log);
    ok(rc == TN_OK && n == 1 && count_dir(u, "new") == 0
       && count_dir(u, "cur") == 3,
       "STORE on a file in new/ moves it to cur/ with its flags");

    name = str("INBOX");
    to = str("Old");
    ok(tn_store_mbox_rename(conf, u, &name, &to, &reason, &test_log) == TN_OK
       && count_dir(u, "new") == 0 && count_dir(u, "cur") == 0
       && count_dir(u, ".Old/cur") == 3, "RENAME INBOX moves the messages");

    ok(tn_store_mbox_status(conf, u, &to, pool, &info, &reason, &test_log)
       == TN_OK && info.messages == 3
       && tn_store_mbox_status(conf, u, &name, pool, &info, &reason,
                               &test_log) == TN_OK
       && info.messages == 0, "INBOX stays, empty");

    ok(db_int(u, "SELECT count(*) FROM msg_header WHERE id >> 32 ="
                 " (SELECT id FROM mailboxes WHERE name = 'Old')") >= 1
       && db_int(u, "SELECT count(*) FROM msg_header WHERE id >> 32 ="
                    " (SELECT id FROM mailboxes WHERE name = 'INBOX')") == 0,
       "RENAME INBOX moves the header caches with the messages");

    ok(orphans(u) == 0, "no cache row without its message");

    /* another tool's name: flags out of order and a keyword letter */

    snprintf(path, sizeof(path), "%s/.Hand/cur/1700000005.h.test:2,SFa",
             u->maildir);
    write_file(path, "Subject: h\n\nhand\n");

    name = str("Hand");
    rc = tn_store_mbox_open(conf, u, &name, 0, &mb, &reason, &test_log);

    ok(rc == TN_OK && mb.nmsgs == 1
       && mb.msgs[0].flags == (TN_STORE_F_SEEN|TN_STORE_F_FLAGGED)
       && tn_store_mbox_message(conf, u, mb.info.id, mb.msgs[0].uid,
                                TN_STORE_WANT_PATH, path, pool, &cache,
                                &test_log) == TN_OK
       && strstr(path, "1700000005.h.test:2,FS")
       && exists(u, ".Hand/cur/1700000005.h.test:2,FS")
       && count_dir(u, ".Hand/cur") == 1,
       "a file found under another name gets the index's name");

    if (rc == TN_OK) {
        tn_store_mbox_free(&mb);
    }
}


typedef struct {
    tn_store_conf_t   *conf;
    tn_store_user_t   *u;
    tn_uint_t          ok;
} test_thread_t;


static void *
deliver_thread(void *data)
{
    test_thread_t  *t = data;
    uint32_t        uid;
    tn_uint_t       i;
    char            body[64];

    for (i = 0; i < 40; i++) {
        snprintf(body, sizeof(body), "Subject: %u\n\nbody\n", (unsigned) i);

        if (deliver(t->conf, t->u, body, &uid) == TN_OK) {
            t->ok++;
        }
    }

    return NULL;
}


/* deliveries while another thread selects and stores */

static void
test_concurrent(tn_store_conf_t *conf, tn_store_user_t *u, tn_pool_t *pool)
{
    uint32_t             *uids;
    uint64_t              last;
    pthread_t             th;
    tn_str_t              name;
    tn_uint_t             i, n, nf, bad, nout;
    const char           *reason;
    test_thread_t         t;
    tn_store_mbox_t       mb;
    tn_store_imsg_t      *out;
    tn_store_changes_t    c;
    tn_store_flag_op_t    op;
    uint32_t             *fu;

    t.conf = conf;
    t.u = u;
    t.ok = 0;

    name = str("INBOX");
    bad = 0;
    last = 0;

    tn_memzero(&op, sizeof(op));
    op.op = TN_STORE_FLAGS_ADD;
    op.flags = TN_STORE_F_SEEN;

    if (pthread_create(&th, NULL, deliver_thread, &t) != 0) {
        ok(0, "pthread_create");
        return;
    }

    for (i = 0; i < 30; i++) {
        if (tn_store_mbox_open(conf, u, &name, 0, &mb, &reason, &test_log)
            != TN_OK)
        {
            bad++;
            continue;
        }

        if (mb.info.highestmodseq < last) {
            bad++;
        }

        last = mb.info.highestmodseq;

        uids = tn_palloc(pool, (mb.nmsgs + 1) * sizeof(uint32_t));

        for (n = 0; n < mb.nmsgs; n++) {
            uids[n] = mb.msgs[n].uid;
        }

        if (tn_store_mbox_store(conf, u, mb.info.id, uids, n, &op, pool,
                                &out, &nout, &fu, &nf, &reason, &test_log)
            != TN_OK || nout != n)
        {
            bad++;
        }

        tn_store_mbox_free(&mb);
    }

    pthread_join(th, NULL);

    ok(t.ok == 40 && bad == 0, "deliveries while SELECT and STORE run");

    ok(tn_store_mbox_open(conf, u, &name, 0, &mb, &reason, &test_log)
       == TN_OK && mb.nmsgs == 40 && count_dir(u, "new") == 0
       && count_dir(u, "cur") == 40, "all there, all in cur/");

    for (i = 1; i < mb.nmsgs; i++) {
        if (mb.msgs[i].uid <= mb.msgs[i - 1].uid
            || mb.msgs[i].modseq > mb.info.highestmodseq)
        {
            bad++;
        }
    }

    ok(bad == 0
       && tn_store_mbox_changes(conf, u, mb.info.id, 0, pool, &c, &test_log)
          == TN_OK && c.nchanged == 40
       && c.highestmodseq == mb.info.highestmodseq,
       "UIDs and MODSEQs consistent");

    tn_store_mbox_free(&mb);
}


static void
test_rebuild(tn_store_conf_t *conf, tn_store_user_t *u, tn_pool_t *pool)
{
    uint32_t          v1, v2, n1, n2, last1, last2;
    tn_str_t          name;
    const char       *reason;
    tn_store_mbox_t   mb;

    name = str("Trash");

    if (tn_store_mbox_open(conf, u, &name, 1, &mb, &reason, &test_log)
        != TN_OK)
    {
        ok(0, "open Trash");
        return;
    }

    v1 = mb.info.uidvalidity;
    n1 = mb.nmsgs;
    last1 = n1 ? mb.msgs[n1 - 1].uid : 0;
    tn_store_mbox_free(&mb);

    ok(tn_store_index_rebuild(conf, u, &test_log) == TN_OK, "rebuild");

    if (tn_store_mbox_open(conf, u, &name, 1, &mb, &reason, &test_log)
        != TN_OK)
    {
        ok(0, "open Trash again");
        return;
    }

    v2 = mb.info.uidvalidity;
    n2 = mb.nmsgs;
    last2 = n2 ? mb.msgs[n2 - 1].uid : 0;

    ok(v1 == v2 && n1 == n2 && last1 == last2 && n1 == 2
       && mb.msgs[0].flags != 0,
       "UIDs, UIDVALIDITY and flags of a folder kept by a rebuild");

    tn_store_mbox_free(&mb);
}


/*
 * index.db is in the Maildir, writable by its owner: a folder dir there
 * that is not one folder name never becomes a path.  The row counts as a
 * name without a folder, and the next sync gives the folder on disk its
 * row back, empty, with a new UIDVALIDITY (the files are taken in anew).
 */

static void
test_tampered(tn_store_conf_t *conf, tn_store_user_t *u, tn_pool_t *pool)
{
    sqlite3               *db;
    tn_str_t               name, to;
    tn_array_t            *list;
    const char            *reason;
    tn_store_mbox_t        mb;
    tn_store_mbox_info_t  *info;
    char                   path[2 * PATH_MAX];

    name = str("Tamper");
    ok(tn_store_mbox_create(conf, u, &name, 0, &reason, &test_log) == TN_OK,
       "CREATE Tamper");

    snprintf(path, sizeof(path), "%s/.Tamper/cur/1700000100.t.test:2,S",
             u->maildir);
    write_file(path, "Subject: t\n\nt\n");

    ok(tn_store_mbox_open(conf, u, &name, 0, &mb, &reason, &test_log)
       == TN_OK && mb.nmsgs == 1, "SELECT Tamper");
    tn_store_mbox_free(&mb);

    snprintf(path, sizeof(path), "%s/index.db", u->maildir);

    if (sqlite3_open(path, &db) != SQLITE_OK) {
        ok(0, "index.db opened by hand");
        return;
    }

    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "UPDATE mailboxes SET dir = '.Tamper/../../..'"
                     " WHERE name = 'Tamper'", NULL, NULL, NULL);
    sqlite3_close(db);

    to = str("Tampered");

    ok(tn_store_mbox_rename(conf, u, &name, &to, &reason, &test_log)
       != TN_ERROR, "RENAME of a row with a bad dir: refused or repaired");

    snprintf(path, sizeof(path), "%s/.Tamper/cur", u->maildir);
    ok(access(path, F_OK) == 0 || exists(u, ".Tampered/cur"),
       "nothing renamed outside the Maildir");

    list = NULL;
    ok(tn_store_mbox_list(conf, u, pool, TN_STORE_LIST_STATUS, &list,
                          &test_log) == TN_OK,
       "LIST with the bad dir");

    info = list ? list_find(list, "Tamper") : NULL;
    if (info == NULL && list) {
        info = list_find(list, "Tampered");
    }

    ok(info && info->id && !info->noselect,
       "the folder on disk has its row back");

    ok(info && tn_store_mbox_open(conf, u, &info->name, 0, &mb, &reason,
                                  &test_log) == TN_OK
       && mb.nmsgs == 1 && mb.msgs[0].uid == 1
       && mb.info.uidnext == 2, "its message taken in anew, UID 1");

    if (info) {
        tn_store_mbox_free(&mb);
    }
}


static void
test_migration(tn_store_conf_t *conf, tn_store_user_t *u, tn_pool_t *pool)
{
    int             version;
    sqlite3        *db;
    tn_str_t        name;
    const char     *reason;
    sqlite3_stmt   *stmt;
    tn_store_mbox_t mb;
    char            path[2 * PATH_MAX];

    /* an index.db as version 1 made it, with a message in new/ */

    snprintf(path, sizeof(path), "%s/new/1600000000.v1.test", u->maildir);
    write_file(path, "Subject: v1\n\nold\n");

    snprintf(path, sizeof(path), "%s/index.db", u->maildir);
    tn_store_db_forget(path);
    unlink(path);

    if (sqlite3_open(path, &db) != SQLITE_OK) {
        ok(0, "a version 1 index");
        return;
    }

    sqlite3_exec(db,
        "CREATE TABLE mailboxes (id INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL UNIQUE, uidvalidity INTEGER NOT NULL,"
        " uidnext INTEGER NOT NULL,"
        " highestmodseq INTEGER NOT NULL DEFAULT 1);"
        "CREATE TABLE messages (mailbox_id INTEGER NOT NULL"
        " REFERENCES mailboxes(id), uid INTEGER NOT NULL,"
        " filename TEXT NOT NULL, size INTEGER NOT NULL,"
        " vsize INTEGER NOT NULL, internaldate INTEGER NOT NULL,"
        " flags TEXT NOT NULL DEFAULT '', modseq INTEGER NOT NULL DEFAULT 1,"
        " PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
        "CREATE UNIQUE INDEX messages_filename"
        " ON messages (mailbox_id, filename);"
        "INSERT INTO mailboxes VALUES (1, 'INBOX', 1234, 8, 5);"
        "INSERT INTO messages VALUES (1, 7, '1600000000.v1.test', 17, 20,"
        " 1600000000, '', 5);"
        "PRAGMA user_version = 1;", NULL, NULL, NULL);
    sqlite3_close(db);

    name = str("INBOX");

    ok(tn_store_mbox_open(conf, u, &name, 1, &mb, &reason, &test_log)
       == TN_OK && mb.nmsgs == 1 && mb.msgs[0].uid == 7
       && mb.info.uidvalidity == 1234 && mb.info.uidnext == 8
       && (mb.msgs[0].flags & TN_STORE_F_RECENT),
       "a version 1 index is migrated in place: UIDs kept");
    tn_store_mbox_free(&mb);

    version = 0;

    if (sqlite3_open(path, &db) == SQLITE_OK) {
        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL)
            == SQLITE_OK)
        {
            if (sqlite3_step(stmt) == SQLITE_ROW) {
                version = sqlite3_column_int(stmt, 0);
            }

            sqlite3_finalize(stmt);
        }

        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM mailboxes"
                               " WHERE name = 'INBOX' AND dir = ''"
                               " AND expunged_modseq = 5", -1, &stmt, NULL)
            == SQLITE_OK)
        {
            if (sqlite3_step(stmt) != SQLITE_ROW
                || sqlite3_column_int(stmt, 0) != 1)
            {
                version = -1;
            }

            sqlite3_finalize(stmt);
        }

        sqlite3_close(db);
    }

    ok(version == TN_STORE_INDEX_VERSION, "user_version 3, INBOX row set");
}


/*
 * An index.db as schema 2 made it (its SQL as it was, frozen here):
 * the header cache in the messages rows.  Schema 3 moves it into the
 * cache tables in place, keeps UIDs and flags, and drops the cache of a
 * message whose file is gone with the message.
 */

static const char  test_schema2[] =
    "CREATE TABLE mailboxes (id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE, uidvalidity INTEGER NOT NULL,"
    " uidnext INTEGER NOT NULL, highestmodseq INTEGER NOT NULL DEFAULT 1,"
    " dir TEXT, subscribed INTEGER NOT NULL DEFAULT 0,"
    " special INTEGER NOT NULL DEFAULT 0,"
    " expunged_modseq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE messages (mailbox_id INTEGER NOT NULL"
    " REFERENCES mailboxes(id), uid INTEGER NOT NULL,"
    " filename TEXT NOT NULL, size INTEGER NOT NULL,"
    " vsize INTEGER NOT NULL, internaldate INTEGER NOT NULL,"
    " flags TEXT NOT NULL DEFAULT '', modseq INTEGER NOT NULL DEFAULT 1,"
    " keywords INTEGER NOT NULL DEFAULT 0,"
    " in_new INTEGER NOT NULL DEFAULT 0,"
    " cached INTEGER NOT NULL DEFAULT 0, header BLOB, envelope TEXT,"
    " bodystructure TEXT, body TEXT, from_ TEXT, to_ TEXT, cc TEXT,"
    " bcc TEXT, subject TEXT, sort_from TEXT, sort_to TEXT, sort_cc TEXT,"
    " sort_subject TEXT, sent_date INTEGER, sent_tz INTEGER,"
    " PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX messages_filename"
    " ON messages (mailbox_id, filename);"
    "CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);"
    "CREATE TABLE expunged (mailbox_id INTEGER NOT NULL,"
    " uid INTEGER NOT NULL, modseq INTEGER NOT NULL, time INTEGER NOT NULL,"
    " PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
    "CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);"
    "CREATE TABLE keywords (mailbox_id INTEGER NOT NULL,"
    " idx INTEGER NOT NULL, name TEXT NOT NULL,"
    " PRIMARY KEY (mailbox_id, idx)) WITHOUT ROWID;"
    "INSERT INTO mailboxes VALUES (1, 'INBOX', 77, 4, 9, '', 1, 0, 9);"
    "INSERT INTO mailboxes VALUES (2, 'Box', 78, 2, 3, '.Box', 1, 0, 3);"
    "INSERT INTO messages VALUES (1, 1, '1600000001.a.test', 30, 33,"
    " 1600000001, 'S', 5, 1, 0, 1,"
    " CAST('Subject: one' || char(13, 10) || 'From: A <a@x>' || char(13, 10)"
    " || char(13, 10) AS BLOB), '(\"env1\")', '(\"bs1\")', '(\"b1\")',"
    " 'a <a@x>', 'b <b@x>', NULL, NULL, 'one', 'a@x', 'b@x', NULL, 'one',"
    " 1600000000, 60);"
    "INSERT INTO messages (mailbox_id, uid, filename, size, vsize,"
    " internaldate, flags, modseq) VALUES (1, 2, '1600000002.b.test', 14, 17,"
    " 1600000002, 'S', 6);"
    "INSERT INTO messages VALUES (1, 3, '1600000003.c.test', 14, 17,"
    " 1600000003, 'S', 7, 0, 0, 1, NULL, '(\"env3\")', NULL, NULL,"
    " 'c <c@x>', NULL, NULL, NULL, 'three', NULL, NULL, NULL, NULL, NULL, 0);"
    "INSERT INTO messages VALUES (2, 1, '1600000004.d.test', 14, 17,"
    " 1600000004, 'F', 2, 0, 0, 3, NULL, '(\"env4\")', '(\"bs4\")',"
    " '(\"b4\")', 'd <d@x>', NULL, NULL, NULL, 'four', NULL, NULL, NULL,"
    " 'four', NULL, 0);"
    "PRAGMA user_version = 2;";


static void
test_migration_v2(tn_store_conf_t *conf, tn_store_user_t *u,
    tn_pool_t *pool)
{
    size_t            i;
    u_char            found[3];
    uint32_t          uids[3];
    sqlite3          *db;
    tn_str_t          name;
    const char       *reason;
    tn_store_mbox_t   mb;
    tn_store_cache_t  caches[3], cache;
    char              path[2 * PATH_MAX];

    static const char  *files[] = {
        "cur/1600000001.a.test:2,S", "cur/1600000002.b.test:2,S",
        ".Box/cur/1600000004.d.test:2,F"
    };

    make_folder(u, ".Box");

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", u->maildir, files[i]);
        write_file(path, "Subject: two\n\nbody\n");
    }

    snprintf(path, sizeof(path), "%s/index.db", u->maildir);
    tn_store_db_forget(path);
    unlink(path);

    if (sqlite3_open(path, &db) != SQLITE_OK
        || sqlite3_exec(db, test_schema2, NULL, NULL, NULL) != SQLITE_OK)
    {
        ok(0, "a schema 2 index");
        sqlite3_close(db);
        return;
    }

    sqlite3_close(db);

    ok(db_int(u, "SELECT count(*) FROM messages WHERE cached != 0") == 3,
       "a schema 2 index with the cache in the messages rows");

    name = str("INBOX");

    ok(tn_store_mbox_open(conf, u, &name, 1, &mb, &reason, &test_log)
       == TN_OK && mb.nmsgs == 2 && mb.msgs[0].uid == 1
       && mb.msgs[1].uid == 2 && mb.info.uidvalidity == 77
       && (mb.msgs[0].flags & TN_STORE_F_SEEN),
       "schema 2 migrated in place: UIDs and flags kept, a lost file "
       "expunged");

    if (mb.pool) {
        tn_store_mbox_free(&mb);
    }

    ok(db_int(u, "PRAGMA user_version") == 3, "user_version 3");

    ok(db_int(u, "SELECT count(*) FROM messages WHERE cached != 0"
                 " OR header IS NOT NULL OR envelope IS NOT NULL"
                 " OR from_ IS NOT NULL OR sent_tz IS NOT NULL") == 0
       && db_int(u, "SELECT count(*) FROM msg_keys") == 2
       && db_int(u, "SELECT count(*) FROM msg_cache") == 2
       && db_int(u, "SELECT count(*) FROM msg_header") == 2
       && db_int(u, "SELECT count(*) FROM sqlite_master"
                    " WHERE type = 'trigger'") == 3,
       "the cache moved out of the messages rows; the lost message's "
       "cache went with it");

    uids[0] = 1;
    uids[1] = 2;
    uids[2] = 3;

    ok(tn_store_mbox_messages(conf, u, 1, uids, 3, TN_STORE_COL_ALL, pool,
                              caches, found, &test_log) == TN_OK
       && found[0] && !found[1] && !found[2]
       && caches[0].header.len == 31
       && tn_strncmp(caches[0].header.data, "Subject: one\r\n", 14) == 0
       && caches[0].envelope.len == 8
       && eq(&caches[0].envelope, "(\"env1\")")
       && eq(&caches[0].bodystructure, "(\"bs1\")")
       && eq(&caches[0].body, "(\"b1\")")
       && eq(&caches[0].from, "a <a@x>")
       && eq(&caches[0].to, "b <b@x>")
       && caches[0].cc.len == 0
       && eq(&caches[0].sort_to, "b@x")
       && eq(&caches[0].sort_subject, "one")
       && caches[0].date == 1600000000 && caches[0].date_tz == 60
       && !caches[0].header_too_large,
       "a migrated cache reads back whole");

    ok(tn_store_mbox_messages(conf, u, 1, uids, 2, TN_STORE_COL_FROM, pool,
                              caches, found, &test_log) == TN_OK
       && found[0] && !found[1]
       && eq(&caches[0].from, "a <a@x>")
       && caches[0].subject.len == 0 && caches[0].envelope.len == 0
       && caches[0].header.len == 0 && caches[0].date == -1,
       "SEARCH FROM reads only the search keys");

    ok(tn_store_mbox_messages(conf, u, 2, uids, 1,
                              TN_STORE_COL_HEADER|TN_STORE_COL_ENVELOPE,
                              pool, caches, found, &test_log) == TN_OK
       && found[0] && caches[0].header_too_large
       && caches[0].header.len == 0
       && eq(&caches[0].envelope, "(\"env4\")"),
       "a folder's cache, its header too large, migrated");

    tn_memzero(&cache, sizeof(cache));

    ok(tn_store_mbox_message(conf, u, 1, 2, TN_STORE_WANT_CACHE, NULL, pool,
                             &cache, &test_log) == TN_OK
       && eq(&cache.subject, "two")
       && db_int(u, "SELECT count(*) FROM msg_keys WHERE id ="
                    " (1 << 32) | 2 AND subject = 'two'") == 1
       && db_int(u, "SELECT count(*) FROM msg_header WHERE id ="
                    " (1 << 32) | 2") == 1,
       "a message without a cache gets one in the new tables");

    /* rebuilds: keeping the index, then from the Maildir alone */

    ok(tn_store_index_rebuild(conf, u, &test_log) == TN_OK
       && tn_store_mbox_messages(conf, u, 1, uids, 2, TN_STORE_COL_ENVELOPE,
                                 pool, caches, found, &test_log) == TN_OK
       && found[0] && found[1]
       && eq(&caches[0].envelope, "(\"env1\")"),
       "a rebuild keeps the cache tables");

    tn_store_db_forget(path);
    unlink(path);

    ok(tn_store_index_rebuild(conf, u, &test_log) == TN_OK
       && db_int(u, "PRAGMA user_version") == 3
       && db_int(u, "SELECT count(*) FROM messages") == 2
       && db_int(u, "SELECT count(*) FROM msg_keys") == 0,
       "a new index from the Maildir is schema 3");

    ok(orphans(u) == 0, "no cache row without its message");
}


int
main(void)
{
    tn_pool_t         *pool;
    tn_store_conf_t    conf;
    tn_store_user_t    alice, bob, carol, dave;
    char               buf[2 * PATH_MAX];
    FILE              *f;
    int                alerts;

    tn_pagesize = getpagesize();
    tn_time_init();

    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }

    snprintf(logname, sizeof(logname), "%s.log", tmpdir);

    logfile.fd = open(logname, O_WRONLY|O_CREAT|O_APPEND, 0600);
    tn_memzero(&test_log, sizeof(tn_log_t));
    test_log.file = &logfile;
    test_log.log_level = TN_LOG_INFO;

    tn_memzero(&conf, sizeof(conf));
    conf.prefix = str(tmpdir);
    snprintf(buf, sizeof(buf), "%s/tern.db", tmpdir);
    conf.db_path = str(strdup(buf));
    snprintf(buf, sizeof(buf), "%s/mail", tmpdir);
    conf.mail_root = str(strdup(buf));
    snprintf(buf, sizeof(buf), "%s/spool", tmpdir);
    conf.spool_dir = str(strdup(buf));
    conf.hostname = str("mail.test");
    conf.password_scheme = TN_STORE_PW_SHA512;
    conf.password_cost = 1000;

    tn_store_changed = changed;

    if (tn_store_init(&conf, &test_log) != TN_OK
        || tn_store_domain_add(&conf, (u_char *) "x.test", 6, &test_log)
           != TN_OK
        || tn_store_user_add(&conf, (u_char *) "alice@x.test", 12,
                             (u_char *) "pw", 2, &test_log) != TN_OK
        || tn_store_user_add(&conf, (u_char *) "bob@x.test", 10,
                             (u_char *) "pw", 2, &test_log) != TN_OK
        || tn_store_user_lookup(&conf, (u_char *) "alice@x.test", 12, &alice,
                                &test_log) != TN_OK
        || tn_store_user_add(&conf, (u_char *) "carol@x.test", 12,
                             (u_char *) "pw", 2, &test_log) != TN_OK
        || tn_store_user_lookup(&conf, (u_char *) "bob@x.test", 10, &bob,
                                &test_log) != TN_OK
        || tn_store_user_lookup(&conf, (u_char *) "carol@x.test", 12, &carol,
                                &test_log) != TN_OK
        || tn_store_user_add(&conf, (u_char *) "dave@x.test", 11,
                             (u_char *) "pw", 2, &test_log) != TN_OK
        || tn_store_user_lookup(&conf, (u_char *) "dave@x.test", 11, &dave,
                                &test_log) != TN_OK)
    {
        printf("Bail out! setup\n");
        return 1;
    }

    pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, &test_log);

    test_folders(&conf, &alice, pool);
    test_messages(&conf, &alice, pool);
    test_rebuild(&conf, &alice, pool);
    test_tampered(&conf, &alice, pool);
    test_migration(&conf, &bob, pool);
    test_migration_v2(&conf, &dave, pool);
    test_concurrent(&conf, &carol, pool);

    ok(changes > 0, "tn_store_changed() was called");

    alerts = 0;
    f = fopen(logname, "r");

    while (f && fgets(buf, sizeof(buf), f)) {
        if (strstr(buf, "[alert]") || strstr(buf, "[emerg]")) {
            alerts++;
        }
    }

    if (f) {
        fclose(f);
    }

    ok(alerts == 0, "no alerts in the log");

    /* LIST ran many times over the folder whose name does not decode */

    alerts = 0;
    f = fopen(logname, "r");

    while (f && fgets(buf, sizeof(buf), f)) {
        if (strstr(buf, "not a mailbox name, skipped")) {
            alerts++;
        }
    }

    if (f) {
        fclose(f);
    }

    ok(alerts == 1, "an undecodable folder is warned about once");

    tn_destroy_pool(pool);
    tn_store_db_close_all();

    free(conf.db_path.data);
    free(conf.mail_root.data);
    free(conf.spool_dir.data);

    printf("1..%u\n", (unsigned) tests);

    if (failed == 0) {
        snprintf(buf, sizeof(buf), "rm -rf '%s' '%s'", tmpdir, logname);
        (void) system(buf);

    } else {
        printf("# left in %s, log %s\n", tmpdir, logname);
    }

    return failed ? 1 : 0;
}
