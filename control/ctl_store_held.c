/*
 * The scheduler's held tasks across a restart of tw-control (ctl_store.h).
 * Runs on tw-control's main thread, at start and at a graceful stop. Owns
 * the `held` database:
 *
 *   be64(n) -> blob    n: 0, 1, 2 ... in the order they were written
 *
 * The blobs' layout is the scheduler's (ctl_sched.c); the store neither
 * reads nor checks it.
 */
#include <errno.h>

#include "ctl_store_priv.h"

int64_t
tw_store_held_replace(struct tw_store *s, int (*next)(void *arg, const void **blob, uint32_t *len),
		      void *arg)
{
	const void *blob;
	uint32_t len;
	int64_t n = 0;
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return tw_store_map_err(rc);
	rc = mdb_drop(txn, s->held, 0);
	while (rc == 0 && next(arg, &blob, &len) == 1) {
		uint8_t kb[8];
		MDB_val k = { .mv_size = 8, .mv_data = kb };
		MDB_val v = { .mv_size = len, .mv_data = (void *)blob };

		tw_store_put_be64(kb, (uint64_t)n);
		rc = mdb_put(txn, s->held, &k, &v, MDB_APPEND);
		n++;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return tw_store_map_err(rc);
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return tw_store_map_err(rc);
	/* what was held must be on disk before tw-control says it stopped */
	rc = mdb_env_sync(s->env, 1);
	return rc != 0 ? tw_store_map_err(rc) : n;
}

int64_t
tw_store_held_take(struct tw_store *s, void (*fn)(void *arg, const void *blob, uint32_t len),
		   void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int64_t n = 0;
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return tw_store_map_err(rc);
	rc = mdb_cursor_open(txn, s->held, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return tw_store_map_err(rc);
	}
	/* bounded: one pass over what the last stop wrote */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		fn(arg, v.mv_data, (uint32_t)v.mv_size);
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND || (rc = mdb_drop(txn, s->held, 0)) != 0) {
		mdb_txn_abort(txn);
		return tw_store_map_err(rc);
	}
	rc = mdb_txn_commit(txn);
	return rc != 0 ? tw_store_map_err(rc) : n;
}
