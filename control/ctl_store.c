/*
 * tw-control's result store on LMDB (see ctl_store.h for the contract):
 * the environment, transactions and syncing, and the schedules table.
 * Runs on tw-control's threads, never on a data-plane lcore. Owns one
 * LMDB environment (a directory holding data.mdb and lock.mdb) with four
 * named databases:
 *
 *   results    be64(task_id)                  -> record    ctl_store_results.c
 *   expiry     be64(expires_ms) be64(task_id) -> empty     ctl_store_results.c
 *   groups     be64(group_id) be32(idx)       -> le64(id)  ctl_store_groups.c
 *   schedules  name bytes (no NUL)            -> blob      here
 *
 * Durability. The environment is opened with MDB_NOSYNC: a commit writes
 * its pages to the kernel (pwrite) and returns without fsync, which is
 * what makes small batches cheap (an fsync costs 0.1-10 ms, a commit
 * without one microseconds; perf/tw_store_bench.c measures both).
 *   - A crash of tw-control loses nothing committed: the pages are in the
 *     page cache, and LMDB's two meta pages make each commit atomic.
 *   - A crash of the machine may lose the commits since the last sync. A
 *     commit forces a sync (mdb_env_sync) when the last one is more than
 *     sync_ms old, and the owner's timer calls tw_store_sync() to cover
 *     idle periods, so the loss is bounded by about sync_ms. LMDB keeps
 *     its integrity across such a crash only if the file system writes
 *     pages in order, which ext4 does not promise for one file's pages, so
 *     a power cut between syncs may also damage the file: it then fails
 *     to open (EIO) or to read (EBADMSG, EIO) and has to be removed. For
 *     a result cache whose records live 24 h that is the accepted cost;
 *     tw_store_open_opts() with sync_ms 0 fsyncs every commit instead.
 * MDB_NOMETASYNC would keep integrity but still fsync the data pages on
 * every commit, the cost being avoided. MDB_WRITEMAP is not used: a stray
 * write through a pointer could then corrupt the database.
 *
 * Threads: MDB_NOTLS ties read transactions to their MDB_txn rather than
 * to the thread, so any thread may call any function; each call opens and
 * ends its own transaction, LMDB serialises write transactions, and the
 * database handles are opened once at open and never change.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl_store_priv.h"

int
tw_store_map_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS: return 0;
	case MDB_NOTFOUND: return -ENOENT;
	case MDB_KEYEXIST: return -EEXIST;
	case MDB_MAP_FULL: return -ENOSPC;
	case MDB_TXN_FULL: return -E2BIG;
	case MDB_READERS_FULL: case MDB_MAP_RESIZED: return -EAGAIN;
	case MDB_BAD_VALSIZE: case MDB_BAD_DBI: return -EINVAL;
	default: return rc > 0 ? -rc : -EIO;  /* CORRUPTED, PANIC, INVALID, VERSION_MISMATCH, ... */
	}
}

int
tw_store_txn_begin(struct tw_store *s, unsigned flags, MDB_txn **txn)
{
	return tw_store_map_err(mdb_txn_begin(s->env, NULL, flags, txn));
}

/* Sync when the last sync is older than sync_ms (or always, if force)
 * and something was committed since. */
static int
maybe_sync(struct tw_store *s, bool force)
{
	uint64_t now = tw_store_clock_ms(CLOCK_MONOTONIC);
	int rc;

	if (s->sync_ms == 0)
		return 0;
	if (!force && now - __atomic_load_n(&s->last_sync_ms, __ATOMIC_RELAXED) < s->sync_ms)
		return 0;
	if (__atomic_exchange_n(&s->dirty, 0, __ATOMIC_RELAXED) == 0)
		return 0;
	rc = mdb_env_sync(s->env, 1);
	if (rc != 0) {
		__atomic_store_n(&s->dirty, 1, __ATOMIC_RELAXED);  /* retry next time */
		return tw_store_map_err(rc);
	}
	__atomic_store_n(&s->last_sync_ms, now, __ATOMIC_RELAXED);
	return 0;
}

/* Commit, then sync if it is time. A failed periodic sync is not the
 * commit's failure: the data is committed and the next sync retries. */
int
tw_store_txn_commit(struct tw_store *s, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);

	if (rc != 0)
		return tw_store_map_err(rc);
	__atomic_store_n(&s->dirty, 1, __ATOMIC_RELAXED);
	(void)maybe_sync(s, false);
	return 0;
}

int
tw_store_sync(struct tw_store *s)
{
	if (s == NULL)
		return -EINVAL;
	return maybe_sync(s, true);
}

/* ---- open and close ---- */

static struct tw_store *
open_fail(struct tw_store *s, int err_neg, char *err, size_t errlen, const char *dir,
	  const char *what, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "result store %s: %s: %s", dir != NULL ? dir : "(null)", what, why);
	if (s != NULL) {
		if (s->env != NULL)
			mdb_env_close(s->env);
		free(s);
	}
	errno = -err_neg;
	return NULL;
}

struct tw_store *
tw_store_open_opts(const char *dir, const struct tw_store_opts *o, char *err, size_t errlen)
{
	static const char *const names[] = { "results", "expiry", "groups", "schedules", "held" };
	struct tw_store *s;
	MDB_dbi *dbis[5];
	struct stat st;
	MDB_txn *txn;
	int dead, rc;

	if (dir == NULL || dir[0] == '\0' || o == NULL || o->map_size == 0 ||
	    (uint64_t)(size_t)o->map_size != o->map_size)
		return open_fail(NULL, -EINVAL, err, errlen, dir, "open", "bad argument");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return open_fail(NULL, -errno, err, errlen, dir, "mkdir", strerror(errno));
	if (stat(dir, &st) != 0)
		return open_fail(NULL, -errno, err, errlen, dir, "stat", strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return open_fail(NULL, -ENOTDIR, err, errlen, dir, "open", strerror(ENOTDIR));
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return open_fail(NULL, -ENOMEM, err, errlen, dir, "open", strerror(ENOMEM));
	s->default_ttl_ms = o->default_ttl_ms != 0 ? o->default_ttl_ms : TW_STORE_DEFAULT_TTL_MS;
	s->sync_ms = o->sync_ms;
	s->last_sync_ms = tw_store_clock_ms(CLOCK_MONOTONIC);
	dbis[0] = &s->results, dbis[1] = &s->expiry, dbis[2] = &s->groups, dbis[3] = &s->schedules;
	dbis[4] = &s->held;

	rc = mdb_env_create(&s->env);
	if (rc != 0)
		return open_fail(s, tw_store_map_err(rc), err, errlen, dir, "mdb_env_create", mdb_strerror(rc));
	if ((rc = mdb_env_set_maxdbs(s->env, 5)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, (size_t)o->map_size)) != 0)
		return open_fail(s, tw_store_map_err(rc), err, errlen, dir, "mdb_env_set", mdb_strerror(rc));
	rc = mdb_env_open(s->env, dir, MDB_NOTLS | (s->sync_ms > 0 ? MDB_NOSYNC : 0), 0600);
	if (rc != 0)
		return open_fail(s, tw_store_map_err(rc), err, errlen, dir, "mdb_env_open", mdb_strerror(rc));
	/* A crashed tw-control leaves its reader slots behind; they would pin
	 * old pages (and so grow the file) until reclaimed. */
	(void)mdb_reader_check(s->env, &dead);

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return open_fail(s, tw_store_map_err(rc), err, errlen, dir, "mdb_txn_begin", mdb_strerror(rc));
	for (int i = 0; i < 5; i++) {
		rc = mdb_dbi_open(txn, names[i], MDB_CREATE, dbis[i]);
		if (rc != 0) {
			mdb_txn_abort(txn);
			return open_fail(s, tw_store_map_err(rc), err, errlen, dir, names[i], mdb_strerror(rc));
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return open_fail(s, tw_store_map_err(rc), err, errlen, dir, "mdb_txn_commit", mdb_strerror(rc));
	s->dirty = 1;
	return s;
}

struct tw_store *
tw_store_open(const char *dir, uint64_t map_size, uint64_t default_ttl_ms, char *err, size_t errlen)
{
	struct tw_store_opts o = { .map_size = map_size, .default_ttl_ms = default_ttl_ms,
				   .sync_ms = TW_STORE_DEFAULT_SYNC_MS };

	return tw_store_open_opts(dir, &o, err, errlen);
}

void
tw_store_close(struct tw_store *s)
{
	if (s == NULL)
		return;
	(void)maybe_sync(s, true);
	mdb_env_close(s->env);
	free(s);
}
/* ---- schedules ---- */

static int
name_val(const char *name, MDB_val *k)
{
	size_t len = name != NULL ? strnlen(name, TW_STORE_NAME_MAX + 1) : 0;

	if (len == 0 || len > TW_STORE_NAME_MAX)
		return -EINVAL;
	*k = (MDB_val){ .mv_size = len, .mv_data = (void *)name };
	return 0;
}

/* One-operation write transaction on a named database. */
static int
write_one(struct tw_store *s, MDB_dbi dbi, MDB_val *k, MDB_val *v, bool del)
{
	MDB_txn *txn;
	int rc = tw_store_txn_begin(s, 0, &txn);

	if (rc != 0)
		return rc;
	rc = tw_store_map_err(del ? mdb_del(txn, dbi, k, NULL) : mdb_put(txn, dbi, k, v, 0));
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return tw_store_txn_commit(s, txn);
}

int
tw_store_schedule_put(struct tw_store *s, const char *name, const void *blob, uint32_t len)
{
	MDB_val k, v = { .mv_size = len, .mv_data = (void *)blob };

	if (s == NULL || name_val(name, &k) != 0 || (blob == NULL && len > 0))
		return -EINVAL;
	return write_one(s, s->schedules, &k, &v, false);
}

int
tw_store_schedule_del(struct tw_store *s, const char *name)
{
	MDB_val k;

	if (s == NULL || name_val(name, &k) != 0)
		return -EINVAL;
	return write_one(s, s->schedules, &k, NULL, true);
}

int
tw_store_schedule_each(struct tw_store *s,
		       int (*fn)(void *arg, const char *name, const void *blob, uint32_t len), void *arg)
{
	char name[TW_STORE_NAME_MAX + 1];
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	int n = 0, err = 0, rc;

	if (s == NULL || fn == NULL)
		return -EINVAL;
	rc = tw_store_txn_begin(s, MDB_RDONLY, &txn);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(txn, s->schedules, &c);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return tw_store_map_err(rc);
	}
	/* Bounded by the number of schedules. */
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size == 0 || k.mv_size > TW_STORE_NAME_MAX || v.mv_size > UINT32_MAX) {
			err = -EBADMSG;
			break;
		}
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		n++;
		if (fn(arg, name, v.mv_data, (uint32_t)v.mv_size) != 0 || n == INT_MAX)
			break;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (err == 0 && rc != 0 && rc != MDB_NOTFOUND)
		err = tw_store_map_err(rc);
	return err != 0 ? err : n;
}

int
tw_store_usage(struct tw_store *s, uint64_t *used, uint64_t *size)
{
	MDB_envinfo info;
	MDB_stat st;
	int rc;

	if ((rc = mdb_env_info(s->env, &info)) != 0 || (rc = mdb_env_stat(s->env, &st)) != 0)
		return tw_store_map_err(rc);
	*used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	*size = info.me_mapsize;
	return 0;
}
