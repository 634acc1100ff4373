
/*
 * Copyright (C) The Tern developers
 */


#include <tn_config.h>
#include <tn_core.h>
#include <tn_store.h>
#include <tn_store_db.h>
#include <tn_store_queue.h>
#include <tn_store_folder.h>
#include <tn_mail_imap_msg.h>


/*
 * Spool files and delivery into Maildirs with group commit.
 *
 * The durability order of one batch (SECURITY-CHECKLIST 0.1, R1, R5):
 *   1. fsync() every spool file (a failure fails its message; never
 *      retried on the same fd),
 *   2. link() (or copy + fsync) into each recipient's tmp/, rename() into
 *      new/,
 *   3. fsync() each distinct new/ and tmp/ once,
 *   4. one SQLite transaction per user (synchronous=FULL) for the UIDs,
 *   5. the outbound queue, for a message with remote recipients too
 *      (tn_store_queue_add(): it comes last so that nothing is sent out
 *      for a message whose local part failed),
 *   6. only then does a message count as delivered.
 * A message that fails at any step is removed from every new/ it reached.
 *
 * The message checks (tn_mail_check.h) may ask for edits: in step 1 the
 * spool file is then copied with them into "<spool>.edit" (unchanged
 * ranges with copy_file_range()), which is renamed over the spool file,
 * so that every later step (the links, the queue) has the edited text.
 * A quarantined message (d->junk) goes into the user's Junk mailbox:
 * the folder with the \Junk special use, else "Junk", made when missing
 * (with the special use); when that fails, into INBOX.  Its recipients
 * are grouped apart from the same user's INBOX deliveries.
 */


/* "<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize>", at most NAME_MAX */
#define TN_STORE_NAME_LEN      (NAME_MAX + 1)
#define TN_STORE_HOST_MAX      100
#define TN_STORE_NAME_TRIES    10


typedef struct {
    tn_store_user_t      *user;
    tn_fd_t               fds[3];          /* the Maildir, tmp/, new/ */
    tn_err_t              err;             /* opening it failed */
    tn_uint_t             first;           /* its refs: [first, last) */
    tn_uint_t             last;
    unsigned              linked:1;        /* something went into new/ */
    unsigned              unlinked:1;      /* something was taken out */
    unsigned              junk:1;          /* the Junk group of a user */
    /* the Junk mailbox the fds are of, NULL: INBOX */
    tn_store_mbox_ref_t  *mbox;
} tn_store_dlv_dir_t;

typedef struct {
    tn_store_dlv_dir_t   *dir;
    size_t                len;
    u_char                name[TN_STORE_NAME_LEN];
    unsigned              in_tmp:1;
    unsigned              in_new:1;
} tn_store_dlv_rcpt_t;

typedef struct {
    tn_store_delivery_t  *d;
    tn_fd_t               fd;              /* the spool file */
    off_t                 size;
    tn_uint_t             failed;
    tn_err_t              err;
    tn_store_dlv_rcpt_t  *rcpts;
    tn_store_cache_t     *cache;           /* NULL: not made */
} tn_store_dlv_msg_t;

/* one (message, recipient) pair; sorted by Maildir to group users */
typedef struct {
    tn_store_dlv_msg_t   *msg;
    tn_uint_t             rcpt;
} tn_store_dlv_ref_t;

typedef struct {
    tn_store_conf_t      *conf;
    tn_log_t             *log;
    tn_pool_t            *pool;
    tn_store_dlv_msg_t   *msgs;
    tn_uint_t             nmsgs;
    tn_store_dlv_ref_t   *refs;
    tn_uint_t             nrefs;
    tn_store_dlv_dir_t   *dirs;
    tn_uint_t             ndirs;
} tn_store_dlv_t;


static void tn_store_dlv_fail(tn_store_dlv_msg_t *m, tn_err_t err);
static tn_int_t tn_store_dlv_prepare(tn_store_dlv_t *dl);
static void tn_store_dlv_open_spool(tn_store_dlv_t *dl, tn_store_dlv_msg_t *m);
static int tn_store_dlv_ref_cmp(const void *one, const void *two);
static tn_int_t tn_store_dlv_edit(tn_store_dlv_t *dl,
    tn_store_dlv_msg_t *m);
static tn_int_t tn_store_copy_range(tn_fd_t in, off_t off, tn_fd_t out,
    off_t len);
static void tn_store_dlv_open_dirs(tn_store_dlv_t *dl);
static tn_int_t tn_store_dlv_junk(tn_store_dlv_t *dl,
    tn_store_dlv_dir_t *dir);
static tn_int_t tn_store_dlv_junk_find(tn_store_dlv_t *dl,
    tn_store_dlv_dir_t *dir, tn_store_db_t *db);
static void tn_store_dlv_link(tn_store_dlv_t *dl, tn_store_dlv_msg_t *m);
static void tn_store_dlv_sync_dirs(tn_store_dlv_t *dl);
static void tn_store_dlv_index(tn_store_dlv_t *dl, tn_store_dlv_dir_t *dir);
static int tn_store_dlv_index_tx(tn_store_dlv_t *dl, tn_store_db_t *db,
    tn_store_dlv_dir_t *dir);
static void tn_store_dlv_queue(tn_store_dlv_t *dl);
static tn_int_t tn_store_dlv_quota(tn_store_dlv_t *dl, tn_store_db_t *db,
    tn_store_dlv_dir_t *dir, tn_store_dlv_msg_t *m);
static void tn_store_dlv_finish(tn_store_dlv_t *dl);


static uint64_t  tn_store_counter;


static const char  tn_store_uid_by_name_sql[] =
    "SELECT uid FROM messages WHERE mailbox_id = ?1 AND filename = ?2";

static const char  tn_store_junk_sql[] =
    "SELECT name FROM mailboxes WHERE (special & 255) = 4"
    " AND dir IS NOT NULL ORDER BY id LIMIT 1";

static const char  tn_store_dlv_insert_sql[] =
    "INSERT INTO messages (mailbox_id, uid, filename, size, vsize,"
    " internaldate, flags, modseq, in_new)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', ?7, 1)";


tn_fd_t
tn_store_spool_create(tn_store_conf_t *conf, char *path, tn_log_t *log)
{
    u_char          *p;
    tn_fd_t          fd;
    tn_uint_t        i;
    uint64_t         n;
    struct timeval   tv;

    for (i = 0; i < TN_STORE_NAME_TRIES; i++) {
        tn_gettimeofday(&tv);
        n = __atomic_add_fetch(&tn_store_counter, 1, __ATOMIC_RELAXED);

        p = tn_snprintf((u_char *) path, PATH_MAX - 1, "%V/%T.%06D.%d.%uL",
                        &conf->spool_dir, tv.tv_sec, (int32_t) tv.tv_usec,
                        (int) getpid(), n);
        *p = '\0';

        fd = open(path, O_CREAT|O_EXCL|O_WRONLY|O_NOFOLLOW|O_CLOEXEC, 0600);

        if (fd != -1) {
            return fd;
        }

        if (errno != TN_EEXIST) {
            tn_log_error(TN_LOG_CRIT, log, tn_errno,
                         "store: open(\"%s\") failed", path);
            return TN_INVALID_FILE;
        }
    }

    tn_log_error(TN_LOG_ALERT, log, TN_EEXIST, "store: open(\"%s\") failed",
                 path);

    return TN_INVALID_FILE;
}


size_t
tn_store_make_name(tn_store_conf_t *conf, u_char *buf, off_t size,
    off_t vsize)
{
    u_char          *p, *host, *last, ch;
    size_t           i;
    uint64_t         n;
    struct timeval   tv;
    u_char           esc[TN_STORE_HOST_MAX + 4];

    /*
     * maildir(5): '/' becomes \057 and ':' \072; ',' (our field
     * separator), '\' and anything outside 0x21..0x7e are escaped the
     * same way, so the name parses back and is safe on any file system.
     */

    host = esc;
    last = esc + TN_STORE_HOST_MAX;

    for (i = 0; i < conf->hostname.len; i++) {
        ch = conf->hostname.data[i];

        if (ch > 0x20 && ch < 0x7f && ch != '/' && ch != ':' && ch != ','
            && ch != '\\')
        {
            if (host + 1 > last) {
                break;
            }

            *host++ = ch;
            continue;
        }

        if (host + 4 > last) {
            break;
        }

        *host++ = '\\';
        *host++ = (u_char) ('0' + (ch >> 6));
        *host++ = (u_char) ('0' + ((ch >> 3) & 7));
        *host++ = (u_char) ('0' + (ch & 7));
    }

    if (host == esc) {
        host = tn_cpymem(esc, "localhost", sizeof("localhost") - 1);
    }

    tn_gettimeofday(&tv);
    n = __atomic_add_fetch(&tn_store_counter, 1, __ATOMIC_RELAXED);

    p = tn_snprintf(buf, TN_STORE_NAME_LEN - 1,
                    "%T.M%06DP%dQ%uL.%*s,S=%O,W=%O",
                    tv.tv_sec, (int32_t) tv.tv_usec, (int) getpid(), n,
                    (size_t) (host - esc), esc, size, vsize);
    *p = '\0';

    return p - buf;
}


void
tn_store_deliver(tn_store_conf_t *conf, tn_store_delivery_t **d,
    tn_uint_t n, tn_log_t *log)
{
    tn_uint_t       i;
    tn_store_dlv_t  dl;

    tn_memzero(&dl, sizeof(tn_store_dlv_t));

    dl.conf = conf;
    dl.log = log;
    dl.nmsgs = n;

    for (i = 0; i < n; i++) {
        d[i]->rc = TN_ERROR;
        d[i]->err = 0;
    }

    dl.pool = tn_create_pool(TN_DEFAULT_POOL_SIZE, log);
    if (dl.pool == NULL) {
        goto nomem;
    }

    dl.msgs = tn_pcalloc(dl.pool, n * sizeof(tn_store_dlv_msg_t));
    if (dl.msgs == NULL) {
        goto nomem;
    }

    for (i = 0; i < n; i++) {
        dl.msgs[i].d = d[i];
        dl.msgs[i].fd = TN_INVALID_FILE;
    }

    if (tn_store_dlv_prepare(&dl) != TN_OK) {
        goto nomem;
    }

    /* 1: the data */

    for (i = 0; i < n; i++) {
        tn_store_dlv_open_spool(&dl, &dl.msgs[i]);
    }

    /* 2: the links */

    tn_store_dlv_open_dirs(&dl);

    for (i = 0; i < n; i++) {
        tn_store_dlv_link(&dl, &dl.msgs[i]);
    }

    /* 3: the directories, once each */

    tn_store_dlv_sync_dirs(&dl);

    /* 4: the index, one transaction per user */

    for (i = 0; i < dl.ndirs; i++) {
        tn_store_dlv_index(&dl, &dl.dirs[i]);
    }

    /* 4b: the outbound queue, once the local copies are durable */

    tn_store_dlv_queue(&dl);

    /* 5: undo the failed ones, report, drop the spool files */

    tn_store_dlv_finish(&dl);

    tn_destroy_pool(dl.pool);

    return;

nomem:

    for (i = 0; i < n; i++) {
        d[i]->err = TN_ENOMEM;
        (void) unlink(d[i]->spool_path);
    }

    if (dl.pool) {
        tn_destroy_pool(dl.pool);
    }
}


static void
tn_store_dlv_fail(tn_store_dlv_msg_t *m, tn_err_t err)
{
    if (!m->failed) {
        m->failed = 1;
        m->err = err ? err : EIO;
    }
}


static tn_int_t
tn_store_dlv_prepare(tn_store_dlv_t *dl)
{
    tn_uint_t            i, j, k;
    tn_store_dlv_msg_t  *m;

    for (i = 0; i < dl->nmsgs; i++) {
        m = &dl->msgs[i];

        if (m->d->nrcpts) {
            m->rcpts = tn_pcalloc(dl->pool,
                                  m->d->nrcpts * sizeof(tn_store_dlv_rcpt_t));
            if (m->rcpts == NULL) {
                return TN_ERROR;
            }
        }

        dl->nrefs += m->d->nrcpts;
    }

    if (dl->nrefs == 0) {
        return TN_OK;
    }

    dl->refs = tn_palloc(dl->pool, dl->nrefs * sizeof(tn_store_dlv_ref_t));
    dl->dirs = tn_pcalloc(dl->pool, dl->nrefs * sizeof(tn_store_dlv_dir_t));

    if (dl->refs == NULL || dl->dirs == NULL) {
        return TN_ERROR;
    }

    k = 0;

    for (i = 0; i < dl->nmsgs; i++) {
        for (j = 0; j < dl->msgs[i].d->nrcpts; j++) {
            dl->refs[k].msg = &dl->msgs[i];
            dl->refs[k].rcpt = j;
            k++;
        }
    }

    /* group the recipients by Maildir: one directory set and index each */

    qsort(dl->refs, dl->nrefs, sizeof(tn_store_dlv_ref_t),
          tn_store_dlv_ref_cmp);

    for (k = 0; k < dl->nrefs; k++) {
        m = dl->refs[k].msg;

        if (dl->ndirs == 0
            || strcmp(dl->dirs[dl->ndirs - 1].user->maildir,
                      m->d->rcpts[dl->refs[k].rcpt].maildir) != 0
            || dl->dirs[dl->ndirs - 1].junk != m->d->junk)
        {
            dl->dirs[dl->ndirs].user = &m->d->rcpts[dl->refs[k].rcpt];
            dl->dirs[dl->ndirs].junk = m->d->junk;
            dl->dirs[dl->ndirs].first = k;
            dl->dirs[dl->ndirs].fds[0] = TN_INVALID_FILE;
            dl->dirs[dl->ndirs].fds[1] = TN_INVALID_FILE;
            dl->dirs[dl->ndirs].fds[2] = TN_INVALID_FILE;
            dl->ndirs++;
        }

        dl->dirs[dl->ndirs - 1].last = k + 1;
        m->rcpts[dl->refs[k].rcpt].dir = &dl->dirs[dl->ndirs - 1];
    }

    return TN_OK;
}


static int
tn_store_dlv_ref_cmp(const void *one, const void *two)
{
    int                        rc;
    const tn_store_dlv_ref_t  *a, *b;

    a = one;
    b = two;

    rc = strcmp(a->msg->d->rcpts[a->rcpt].maildir,
                b->msg->d->rcpts[b->rcpt].maildir);

    if (rc != 0) {
        return rc;
    }

    /* a user's Junk deliveries are a group of their own */

    if (a->msg->d->junk != b->msg->d->junk) {
        return a->msg->d->junk ? 1 : -1;
    }

    /* keep the delivery order within a user: UIDs follow it */

    if (a->msg != b->msg) {
        return (a->msg < b->msg) ? -1 : 1;
    }

    return (a->rcpt < b->rcpt) ? -1 : (a->rcpt > b->rcpt);
}


static void
tn_store_dlv_open_spool(tn_store_dlv_t *dl, tn_store_dlv_msg_t *m)
{
    struct stat  sb;

    errno = 0;

    m->fd = open(m->d->spool_path, O_RDONLY|O_NOFOLLOW|O_CLOEXEC);

    if (m->fd == -1) {
        tn_store_dlv_fail(m, tn_errno);
        tn_log_error(TN_LOG_ERR, dl->log, tn_errno,
                     "store: open(\"%s\") failed", m->d->spool_path);
        return;
    }

    if (fstat(m->fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
        tn_store_dlv_fail(m, tn_errno ? tn_errno : TN_EINVAL);
        tn_log_error(TN_LOG_ERR, dl->log, m->err,
                     "store: spool file \"%s\" is unusable",
                     m->d->spool_path);
        return;
    }

    m->size = sb.st_size;

    if (m->d->size != m->size) {
        tn_log_error(TN_LOG_WARN, dl->log, 0,
                     "store: spool file \"%s\" has %O bytes, not %O",
                     m->d->spool_path, m->size, m->d->size);
    }

    if (m->d->nedits && tn_store_dlv_edit(dl, m) != TN_OK) {
        return;
    }

    /* R5: a failed fsync() loses the data; it is never retried */
    if (fsync(m->fd) == -1) {
        tn_store_dlv_fail(m, tn_errno);
        tn_log_error(TN_LOG_ERR, dl->log, tn_errno,
                     "store: fsync(\"%s\") failed", m->d->spool_path);
        return;
    }

    /*
     * The IMAP header cache, made once for all recipients while the
     * file is hot in the page cache; without it FETCH makes it later.
     */

    if (m->d->nrcpts) {
        m->cache = tn_pcalloc(dl->pool, sizeof(tn_store_cache_t));

        if (m->cache
            && tn_mail_imap_msg_cache(dl->pool, m->fd, m->cache, dl->log)
               != TN_OK)
        {
            m->cache = NULL;
        }
    }
}


/*
 * The spool file with the edits of the message checks, into
 * "<spool>.edit", renamed over the spool file; m->fd, m->size and the
 * sizes of the delivery follow.  TN_OK, or TN_ERROR (the message failed).
 */
static tn_int_t
tn_store_dlv_edit(tn_store_dlv_t *dl, tn_store_dlv_msg_t *m)
{
    off_t                 pos, size, vsize;
    tn_fd_t               fd;
    tn_err_t              err;
    tn_uint_t             i;
    tn_store_edit_t      *e;
    tn_store_delivery_t  *d;
    char                  path[PATH_MAX];

    d = m->d;

    if (tn_snprintf((u_char *) path, PATH_MAX, "%s.edit%Z",
                    d->spool_path)
        == (u_char *) path + PATH_MAX)
    {
        tn_store_dlv_fail(m, ENAMETOOLONG);
        return TN_ERROR;
    }

    pos = 0;
    size = m->size;
    vsize = d->vsize;

    for (i = 0; i < d->nedits; i++) {
        e = &d->edits[i];

        if (e->offset < pos || e->len < 0
            || e->offset > m->size - e->len)
        {
            tn_store_dlv_fail(m, TN_EINVAL);
            tn_log_error(TN_LOG_ERR, dl->log, 0,
                         "store: invalid edit %ui of \"%s\" (%O+%O of %O)",
                         i, d->spool_path, e->offset, e->len, m->size);
            return TN_ERROR;
        }

        pos = e->offset + e->len;
        size += (off_t) e->size - e->len;
        vsize += (off_t) e->size + e->data_lines - e->len - e->lines;
    }

    fd = open(path, O_CREAT|O_EXCL|O_RDWR|O_NOFOLLOW|O_CLOEXEC, 0600);
    if (fd == -1) {
        err = tn_errno;
        goto failed;
    }

    pos = 0;

    for (i = 0; i < d->nedits; i++) {
        e = &d->edits[i];

        if (tn_store_copy_range(m->fd, pos, fd, e->offset - pos) != TN_OK
            || (e->size
                && tn_write_fd(fd, e->data, e->size) != (ssize_t) e->size))
        {
            err = tn_errno;
            goto failed;
        }

        pos = e->offset + e->len;
    }

    if (tn_store_copy_range(m->fd, pos, fd, m->size - pos) != TN_OK) {
        err = tn_errno;
        goto failed;
    }

    /* the old text goes with its name; the fsync of step 1 is the copy's */

    if (rename(path, d->spool_path) == -1
        || lseek(fd, 0, SEEK_SET) == -1)
    {
        err = tn_errno;
        goto failed;
    }

    close(m->fd);

    m->fd = fd;
    m->size = size;
    d->size = size;
    d->vsize = vsize;

    return TN_OK;

failed:

    tn_store_dlv_fail(m, err);
    tn_log_error(TN_LOG_ERR, dl->log, err,
                 "store: editing \"%s\" into \"%s\" failed",
                 d->spool_path, path);

    if (fd != TN_INVALID_FILE) {
        close(fd);
        (void) unlink(path);
    }

    return TN_ERROR;
}


/*
 * len bytes of in from off to the end of out: copy_file_range() (no
 * copy through user space, a reflink where the file system has them),
 * else pread() and write().  TN_OK, or TN_ERROR with errno set.
 */
static tn_int_t
tn_store_copy_range(tn_fd_t in, off_t off, tn_fd_t out, off_t len)
{
    ssize_t  n;
    u_char   buf[32768];

    while (len > 0) {
        n = copy_file_range(in, &off, out, NULL, (size_t) len, 0);

        if (n > 0) {
            len -= n;
            continue;
        }

        if (n == 0) {
            /* the file is shorter than it was */
            errno = EIO;
            return TN_ERROR;
        }

        if (errno == TN_EINTR) {
            continue;
        }

        if (errno != TN_EXDEV && errno != ENOSYS && errno != TN_EINVAL
            && errno != EOPNOTSUPP)
        {
            return TN_ERROR;
        }

        break;
    }

    while (len > 0) {
        n = pread(in, buf, tn_min((off_t) sizeof(buf), len), off);

        if (n == -1 && errno == TN_EINTR) {
            continue;
        }

        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }

            return TN_ERROR;
        }

        if (tn_write_fd(out, buf, n) != n) {
            return TN_ERROR;
        }

        off += n;
        len -= n;
    }

    return TN_OK;
}


static void
tn_store_dlv_open_dirs(tn_store_dlv_t *dl)
{
    tn_uint_t            i;
    tn_store_dlv_dir_t  *dir;

    for (i = 0; i < dl->ndirs; i++) {
        dir = &dl->dirs[i];

        if (dir->junk && tn_store_dlv_junk(dl, dir) == TN_OK) {
            continue;
        }

        if (tn_store_maildir_open(dir->user, &dir->fds[0], &dir->fds[1],
                                  &dir->fds[2], NULL, NULL)
            != TN_OK)
        {
            dir->err = tn_errno;
            tn_log_error(TN_LOG_ERR, dl->log, dir->err,
                         "store: opening the Maildir \"%s\" failed",
                         dir->user->maildir);
        }
    }
}


static void
tn_store_dlv_link(tn_store_dlv_t *dl, tn_store_dlv_msg_t *m)
{
    int                   rc;
    tn_uint_t             j, try;
    tn_store_dlv_dir_t   *dir;
    tn_store_dlv_rcpt_t  *r;

    for (j = 0; j < m->d->nrcpts && !m->failed; j++) {
        r = &m->rcpts[j];
        dir = r->dir;

        if (dir->err) {
            tn_store_dlv_fail(m, dir->err);
            return;
        }

        for (try = 0; try < TN_STORE_NAME_TRIES; try++) {
            r->len = tn_store_make_name(dl->conf, r->name, m->size,
                                        m->d->vsize);

            if (linkat(AT_FDCWD, m->d->spool_path, dir->fds[1],
                       (char *) r->name, 0)
                == 0)
            {
                r->in_tmp = 1;
                break;
            }

            if (errno == TN_EEXIST) {
                continue;
            }

            /* another file system, or one without hard links */
            if (errno == TN_EXDEV || errno == TN_EPERM || errno == EMLINK) {
                rc = tn_store_copy_synced(m->fd, dir->fds[1], (char *) r->name,
                                       m->size);
                if (rc == TN_OK) {
                    r->in_tmp = 1;
                    break;
                }

                if (errno == TN_EEXIST) {
                    continue;
                }
            }

            tn_store_dlv_fail(m, tn_errno);
            tn_log_error(TN_LOG_ERR, dl->log, m->err,
                         "store: delivering \"%s\" to \"%s/tmp\" failed",
                         m->d->spool_path, dir->user->maildir);
            return;
        }

        if (!r->in_tmp) {
            tn_store_dlv_fail(m, TN_EEXIST);
            tn_log_error(TN_LOG_ALERT, dl->log, TN_EEXIST,
                         "store: no unique name in \"%s/tmp\"",
                         dir->user->maildir);
            return;
        }

        rc = renameat2(dir->fds[1], (char *) r->name, dir->fds[2],
                       (char *) r->name, RENAME_NOREPLACE);

        if (rc == -1 && (errno == TN_EINVAL || errno == ENOSYS)) {
            rc = renameat(dir->fds[1], (char *) r->name, dir->fds[2],
                          (char *) r->name);
        }

        if (rc == -1) {
            tn_store_dlv_fail(m, tn_errno);
            tn_log_error(TN_LOG_ERR, dl->log, m->err,
                         "store: rename(\"%s/tmp/%s\") into new/ failed",
                         dir->user->maildir, r->name);
            return;
        }

        r->in_tmp = 0;
        r->in_new = 1;
        dir->linked = 1;
    }
}


/*
 * The Junk group of a user: dir->mbox and the descriptors of the Maildir
 * and of the folder's tmp/ and new/.  TN_OK; TN_DECLINED or TN_ERROR
 * (logged): the group goes to INBOX.
 */
static tn_int_t
tn_store_dlv_junk(tn_store_dlv_t *dl, tn_store_dlv_dir_t *dir)
{
    tn_fd_t         folder;
    tn_int_t        rc;
    tn_store_db_t  *db;

    db = tn_store_index_open(dl->conf, dir->user, dl->log);
    if (db == NULL) {
        return TN_ERROR;
    }

    dir->mbox = tn_pcalloc(dl->pool, sizeof(tn_store_mbox_ref_t));
    if (dir->mbox == NULL) {
        return TN_ERROR;
    }

    rc = tn_store_dlv_junk_find(dl, dir, db);

    if (rc == TN_OK) {
        if (tn_store_maildir_open(dir->user, &dir->fds[0], NULL, NULL, NULL,
                                  NULL)
            != TN_OK)
        {
            rc = TN_ERROR;
        }
    }

    if (rc == TN_OK) {
        folder = openat(dir->fds[0], dir->mbox->dir,
                        O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);

        if (folder != TN_INVALID_FILE) {
            dir->fds[1] = openat(folder, "tmp",
                                 O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
            dir->fds[2] = openat(folder, "new",
                                 O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
            close(folder);
        }

        if (dir->fds[1] != TN_INVALID_FILE
            && dir->fds[2] != TN_INVALID_FILE)
        {
            return TN_OK;
        }

        rc = TN_ERROR;
    }

    tn_log_error(TN_LOG_WARN, dl->log, tn_errno,
                 "store: no Junk mailbox in \"%s\", a quarantined message "
                 "goes to INBOX", dir->user->maildir);

    tn_store_close_fds(dir->fds, 3);
    dir->mbox = NULL;

    return rc;
}


/* the \Junk mailbox, else "Junk" (made with that use when missing) */
static tn_int_t
tn_store_dlv_junk_find(tn_store_dlv_t *dl, tn_store_dlv_dir_t *dir,
    tn_store_db_t *db)
{
    int                   rc;
    size_t                len;
    tn_int_t              found;
    tn_str_t              name;
    const char           *reason;
    sqlite3_stmt         *stmt;
    tn_store_mbox_ref_t  *ref;

    ref = dir->mbox;

    stmt = tn_store_db_stmt(db, tn_store_junk_sql, dl->log);
    if (stmt == NULL) {
        return TN_ERROR;
    }

    rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW) {
        len = sqlite3_column_bytes(stmt, 0);

        if (len && len <= TN_STORE_MBOX_NAME_MAX) {
            tn_memcpy(ref->name, sqlite3_column_text(stmt, 0), len);
            ref->name_len = len;
        }
    }

    sqlite3_reset(stmt);

    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        tn_store_db_log(db, dl->log, rc, "finding the Junk mailbox");
        return TN_ERROR;
    }

    if (ref->name_len == 0) {
        tn_str_set(&name, "Junk");

        if (tn_store_mbox_create(dl->conf, dir->user, &name,
                                 TN_STORE_SPECIAL_JUNK, &reason, dl->log)
            == TN_ERROR)
        {
            return TN_ERROR;
        }

        /* made now, or a "Junk" without the special use was there */

        if (tn_store_mbox_name(&name, 0, ref, &reason) != TN_OK) {
            return TN_ERROR;
        }
    }

    found = tn_store_find_row(db, ref, dl->log);

    if (found != TN_OK || !ref->folder
        || tn_store_folder_dir_safe((u_char *) ref->dir,
                                    strlen(ref->dir)) != TN_OK)
    {
        return TN_DECLINED;
    }

    return TN_OK;
}


/*
 * Copies size bytes of src into a new file name in dirfd and fsyncs it:
 * where a hard link cannot be made (another file system).  TN_OK, or
 * TN_ERROR with errno set and nothing left behind.
 */
tn_int_t
tn_store_copy_synced(tn_fd_t src, tn_fd_t dirfd, const char *name,
    off_t size)
{
    off_t     off;
    ssize_t   n;
    tn_fd_t   fd;
    tn_err_t  err;
    u_char    buf[32768];

    fd = openat(dirfd, name, O_CREAT|O_EXCL|O_WRONLY|O_NOFOLLOW|O_CLOEXEC,
                0600);
    if (fd == -1) {
        return TN_ERROR;
    }

    for (off = 0; off < size; off += n) {
        n = pread(src, buf, tn_min((off_t) sizeof(buf), size - off), off);

        if (n == -1 && errno == TN_EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            err = (n == 0) ? EIO : errno;
            goto failed;
        }

        if (tn_write_fd(fd, buf, n) != n) {
            err = errno;
            goto failed;
        }
    }

    /* a copy is new data: it needs its own fsync() */
    if (fsync(fd) == -1) {
        err = errno;
        goto failed;
    }

    if (close(fd) == -1) {
        err = errno;
        fd = TN_INVALID_FILE;
        goto failed;
    }

    return TN_OK;

failed:

    if (fd != TN_INVALID_FILE) {
        close(fd);
    }

    (void) unlinkat(dirfd, name, 0);
    errno = err;

    return TN_ERROR;
}


static void
tn_store_dlv_sync_dirs(tn_store_dlv_t *dl)
{
    tn_err_t             err;
    tn_uint_t            i, k;
    tn_store_dlv_dir_t  *dir;

    for (i = 0; i < dl->ndirs; i++) {
        dir = &dl->dirs[i];

        if (!dir->linked) {
            continue;
        }

        if (tn_store_fsync_fd(dir->fds[2]) == TN_OK
            && tn_store_fsync_fd(dir->fds[1]) == TN_OK)
        {
            continue;
        }

        /* the entries in new/ may not survive a crash: all fail here */

        err = tn_errno;

        tn_log_error(TN_LOG_ERR, dl->log, err,
                     "store: fsync(\"%s/new\") failed", dir->user->maildir);

        for (k = dir->first; k < dir->last; k++) {
            tn_store_dlv_fail(dl->refs[k].msg, err);
        }
    }
}


static void
tn_store_dlv_index(tn_store_dlv_t *dl, tn_store_dlv_dir_t *dir)
{
    int              rc;
    tn_uint_t        k, todo, try;
    tn_store_db_t   *db;

    todo = 0;

    for (k = dir->first; k < dir->last; k++) {
        if (!dl->refs[k].msg->failed) {
            todo++;
        }
    }

    if (todo == 0) {
        return;
    }

    rc = SQLITE_ERROR;

    for (try = 0; try < 2; try++) {
        db = tn_store_index_open(dl->conf, dir->user, dl->log);
        if (db == NULL) {
            rc = SQLITE_IOERR;
            break;
        }

        rc = tn_store_dlv_index_tx(dl, db, dir);

        if (rc == SQLITE_OK) {
            return;
        }

        if (!tn_store_db_corrupt(rc) || try == 1) {
            break;
        }

        /* damaged under us: rebuild it (that indexes our new files too) */

        tn_store_db_close(db);

        if (tn_store_index_rebuild(dl->conf, dir->user, dl->log) != TN_OK) {
            break;
        }
    }

    for (k = dir->first; k < dir->last; k++) {
        tn_store_dlv_fail(dl->refs[k].msg, tn_store_db_errno(rc));
    }
}


static int
tn_store_dlv_index_tx(tn_store_dlv_t *dl, tn_store_db_t *db,
    tn_store_dlv_dir_t *dir)
{
    int                    rc;
    int64_t                modseq;
    uint32_t               uid;
    tn_uint_t              k;
    sqlite3_stmt          *sel, *ins;
    tn_store_dlv_msg_t    *m;
    tn_store_dlv_rcpt_t   *r;
    tn_store_mbox_row_t    mr;

    rc = tn_store_db_begin(db, dl->log);
    if (rc != SQLITE_OK) {
        return rc;
    }

    if (dir->mbox) {
        /* the Junk mailbox: its row now, under the write lock */
        rc = SQLITE_ERROR;

        if (tn_store_find_row(db, dir->mbox, dl->log) != TN_OK
            || !dir->mbox->folder || dir->mbox->uidnext == 0)
        {
            tn_log_error(TN_LOG_ERR, dl->log, 0,
                         "store: the Junk mailbox of \"%s\" is gone",
                         dir->user->maildir);
            goto failed;
        }

        mr.id = dir->mbox->id;
        mr.uidvalidity = dir->mbox->uidvalidity;
        mr.uidnext = dir->mbox->uidnext;
        mr.highestmodseq = (int64_t) dir->mbox->highestmodseq;

    } else if (tn_store_inbox_get(db, dir->fds[0], &mr, &rc, dl->log)
               != TN_OK)
    {
        goto failed;
    }

    modseq = mr.highestmodseq;

    for (k = dir->first; k < dir->last; k++) {
        m = dl->refs[k].msg;
        r = &m->rcpts[dl->refs[k].rcpt];

        if (m->failed) {
            continue;
        }

        /* a concurrent mailbox sync may have indexed the file already */

        sel = tn_store_db_stmt(db, tn_store_uid_by_name_sql, dl->log);
        if (sel == NULL) {
            rc = SQLITE_ERROR;
            goto failed;
        }

        sqlite3_bind_int64(sel, 1, mr.id);
        sqlite3_bind_text(sel, 2, (char *) r->name, r->len, SQLITE_STATIC);

        rc = sqlite3_step(sel);
        uid = (rc == SQLITE_ROW) ? (uint32_t) sqlite3_column_int64(sel, 0)
                                 : 0;
        sqlite3_reset(sel);

        if (rc == SQLITE_ROW) {
            m->d->uids[dl->refs[k].rcpt] = uid;
            continue;
        }

        if (rc != SQLITE_DONE) {
            tn_store_db_log(db, dl->log, rc, "reading the index");
            goto failed;
        }

        if (tn_store_dlv_quota(dl, db, dir, m) != TN_OK) {
            continue;
        }

        if (mr.uidnext == UINT32_MAX) {
            tn_log_error(TN_LOG_ALERT, dl->log, 0,
                         "store: UIDs exhausted in \"%s\": rebuild the index",
                         dir->user->maildir);
            rc = SQLITE_FULL;
            goto failed;
        }

        ins = tn_store_db_stmt(db, tn_store_dlv_insert_sql, dl->log);
        if (ins == NULL) {
            rc = SQLITE_ERROR;
            goto failed;
        }

        sqlite3_bind_int64(ins, 1, mr.id);
        sqlite3_bind_int64(ins, 2, mr.uidnext);
        sqlite3_bind_text(ins, 3, (char *) r->name, r->len, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, m->size);
        sqlite3_bind_int64(ins, 5, m->d->vsize);
        sqlite3_bind_int64(ins, 6, m->d->internaldate ? m->d->internaldate
                                                      : time(NULL));
        sqlite3_bind_int64(ins, 7, ++modseq);

        rc = sqlite3_step(ins);
        sqlite3_reset(ins);

        if (rc != SQLITE_DONE) {
            tn_store_db_log(db, dl->log, rc, "adding a message to the index");
            goto failed;
        }

        /* the header cache, into its own tables (schema 3) */
        if (m->cache) {
            rc = tn_store_cache_put(db, mr.id, mr.uidnext, m->cache,
                                    dl->log);
            if (rc != SQLITE_OK && rc != SQLITE_DONE) {
                tn_store_db_log(db, dl->log, rc,
                                "adding a message's header cache");
                goto failed;
            }
        }

        m->d->uids[dl->refs[k].rcpt] = mr.uidnext++;
    }

    if (modseq == mr.highestmodseq) {
        /* nothing new: all indexed by a sync already, or over quota */
        return tn_store_db_commit(db, dl->log);
    }

    mr.highestmodseq = modseq;

    if (tn_store_inbox_put(db, &mr, &rc, dl->log) != TN_OK) {
        goto failed;
    }

    rc = tn_store_db_commit(db, dl->log);

    if (rc == SQLITE_OK) {
        tn_store_notify(dir->user);
    }

    return rc;

failed:

    tn_store_db_rollback(db, dl->log);

    return (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE)
           ? SQLITE_ERROR : rc;
}


static void
tn_store_dlv_queue(tn_store_dlv_t *dl)
{
    tn_uint_t            i;
    tn_store_dlv_msg_t  *m;

    for (i = 0; i < dl->nmsgs; i++) {
        m = &dl->msgs[i];

        if (m->d->queue == NULL || m->failed) {
            continue;
        }

        /*
         * m->fd was fsync()ed in step 1; if this fails, the local copies
         * are removed by tn_store_dlv_finish() like any failed message's.
         */

        if (tn_store_queue_add(dl->conf, m->d->spool_path, m->fd,
                               m->d->queue, dl->log)
            != TN_OK)
        {
            tn_store_dlv_fail(m, tn_errno);
        }
    }
}


/*
 * The quota, checked under the user's BEGIN IMMEDIATE: usage is the sum
 * of the sizes in INBOX, which includes the rows this transaction added,
 * so two deliveries racing for the last bytes cannot both pass.  A
 * message over quota (or whose check failed) fails as a whole: TN_OK
 * means go on with it.
 */

static tn_int_t
tn_store_dlv_quota(tn_store_dlv_t *dl, tn_store_db_t *db,
    tn_store_dlv_dir_t *dir, tn_store_dlv_msg_t *m)
{
    tn_int_t  rc;

    rc = tn_store_quota_tx(dl->conf, db, dir->user, m->size, dl->log);

    if (rc != TN_OK) {
        tn_store_dlv_fail(m, rc == TN_DECLINED ? TN_EDQUOT : EIO);
    }

    return rc;
}


static void
tn_store_dlv_finish(tn_store_dlv_t *dl)
{
    tn_uint_t             i, j;
    tn_store_dlv_msg_t   *m;
    tn_store_dlv_rcpt_t  *r;

    for (i = 0; i < dl->nmsgs; i++) {
        m = &dl->msgs[i];

        if (!m->failed) {
            continue;
        }

        /*
         * Whatever reached a new/ goes: the client gets a 4xx, so the
         * message must not show up.  A row already committed for another
         * recipient is dropped by that mailbox's next sync.
         */

        for (j = 0; j < m->d->nrcpts; j++) {
            r = &m->rcpts[j];

            if (r->in_new) {
                if (unlinkat(r->dir->fds[2], (char *) r->name, 0) == 0) {
                    r->dir->unlinked = 1;
                }

            } else if (r->in_tmp) {
                (void) unlinkat(r->dir->fds[1], (char *) r->name, 0);
            }
        }
    }

    for (i = 0; i < dl->ndirs; i++) {
        if (dl->dirs[i].unlinked) {
            (void) tn_store_fsync_fd(dl->dirs[i].fds[2]);
        }

        tn_store_close_fds(dl->dirs[i].fds, 3);
    }

    for (i = 0; i < dl->nmsgs; i++) {
        m = &dl->msgs[i];

        if (m->fd != TN_INVALID_FILE) {
            close(m->fd);
        }

        if (unlink(m->d->spool_path) == -1 && errno != TN_ENOENT) {
            tn_log_error(TN_LOG_ERR, dl->log, tn_errno,
                         "store: unlink(\"%s\") failed", m->d->spool_path);
        }

        if (m->failed) {
            m->d->rc = TN_ERROR;
            m->d->err = m->err;

        } else {
            m->d->rc = TN_OK;
        }
    }
}
