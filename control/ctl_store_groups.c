/*
 * Group membership of the result store (ctl_store.h): which tasks make up
 * a workflow group, in order, for chords and `twctl` group views. Runs on
 * tw-control's threads. Owns the `groups` database:
 *
 *   be64(group_id) be32(idx) -> le64(member_id)
 *
 * Big-endian keys keep a group's members together and ordered by idx, so
 * reading or deleting a group is one range walk.
 */
#include <errno.h>
#include <limits.h>

#include "ctl_store_priv.h"

static MDB_val
group_key(uint8_t *buf, uint64_t group_id, uint32_t idx)
{
	tw_store_put_be64(buf, group_id);
	tw_store_put_be32(buf + 8, idx);
	return (MDB_val){ .mv_size = TW_STORE_GROUP_KEY, .mv_data = buf };
}

int
tw_store_group_put_txn(struct tw_store *s, MDB_txn *txn, uint64_t gid, uint32_t idx,
		       uint64_t member_id)
{
	uint8_t kb[TW_STORE_GROUP_KEY], vb[8];
	MDB_val k = group_key(kb, gid, idx), v = { .mv_size = 8, .mv_data = vb };

	tw_store_put_le64(vb, member_id);
	return tw_store_map_err(mdb_put(txn, s->groups, &k, &v, 0));
}

int
tw_store_group_add(struct tw_store *s, uint64_t group_id, uint32_t idx, uint64_t member_id)
{
	MDB_txn *txn;
	int rc;

	if (s == NULL || group_id == 0 || member_id == 0)
		return -EINVAL;
	rc = tw_store_txn_begin(s, 0, &txn);
	if (rc != 0)
		return rc;
	rc = tw_store_group_put_txn(s, txn, group_id, idx, member_id);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return tw_store_txn_commit(s, txn);
}

int
tw_store_group_members(struct tw_store *s, uint64_t group_id, uint64_t *ids, uint32_t max)
{
	uint8_t kb[TW_STORE_GROUP_KEY];
	MDB_val k = group_key(kb, group_id, 0), v;
	MDB_cursor *c;
	MDB_txn *txn;
	uint32_t n = 0;
	int err = 0, rc;

	if (s == NULL || group_id == 0 || (ids == NULL && max > 0))
		return -EINVAL;
	rc = tw_store_txn_begin(s, MDB_RDONLY, &txn);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(txn, s->groups, &c);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return tw_store_map_err(rc);
	}
	/* Bounded by the group's size. */
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != TW_STORE_GROUP_KEY || tw_store_get_be64(k.mv_data) != group_id)
			break;
		if (v.mv_size != 8) {
			err = -EBADMSG;
			break;
		}
		if (n < max)
			ids[n] = tw_store_get_le64(v.mv_data);
		if (n < INT_MAX)
			n++;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (err == 0 && rc != 0 && rc != MDB_NOTFOUND)
		err = tw_store_map_err(rc);
	return err != 0 ? err : (int)n;
}

int
tw_store_group_del_txn(struct tw_store *s, MDB_txn *txn, uint64_t gid)
{
	uint8_t kb[TW_STORE_GROUP_KEY];
	MDB_cursor *c;
	MDB_val k, v;
	int n = 0, rc;

	rc = mdb_cursor_open(txn, s->groups, &c);
	if (rc != 0)
		return tw_store_map_err(rc);
	/* Bounded by the group's size; each pass re-seeks, since the member
	 * just deleted was the first one left. */
	for (;;) {
		k = group_key(kb, gid, 0);
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND) {  /* nothing at or after (gid, 0) */
			rc = 0;
			break;
		}
		if (rc != 0 || k.mv_size != TW_STORE_GROUP_KEY || tw_store_get_be64(k.mv_data) != gid)
			break;
		rc = mdb_cursor_del(c, 0);
		if (rc != 0)
			break;
		n++;
	}
	mdb_cursor_close(c);
	return rc != 0 ? tw_store_map_err(rc) : n;
}
