/*
 * Result records of the store (ctl_store.h): put with state precedence,
 * get, forget, the expiry sweep and iteration. Runs on tw-control's
 * threads. Owns two databases, changed together in one transaction so
 * that every record has exactly one index entry, at the expires_ms
 * stored in the record:
 *
 *   results  be64(task_id)                  -> record (layout below)
 *   expiry   be64(expires_ms) be64(task_id) -> empty
 *
 * The sweep reads the expiry index from its first key and stops at the
 * first one in the future, so it never looks at unexpired records.
 *
 * Record value, version 1 (little-endian, 64-byte header, no padding):
 *
 *   off len
 *     0   1  version (1); a reader refuses any other (-EBADMSG)
 *     1   1  state (TW_ST_*)
 *     2   1  name_len (0..127)
 *     3   1  flags: bit 0 = expires_ms was given by the writer, not the default
 *     4   4  retries
 *     8   8  runtime_ns
 *    16   8  date_done_ms
 *    24   8  expires_ms (absolute, resolved when written)
 *    32   8  parent_id
 *    40   8  root_id
 *    48   8  group_id
 *    56   4  value_len
 *    60   4  error_len
 *    64      name (name_len bytes), value (value_len bytes),
 *            error (error_len bytes, then a NUL when error_len > 0)
 *
 * A fixed header spends a few bytes more than varints would on small
 * ids, but decodes with plain loads and lets the sweep read expires_ms at
 * a fixed offset. The NUL after the error lets tw_store_each() hand out a
 * C string that points into the map, without copying.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ctl_store_priv.h"
#include "tw_wire.h"

#define REC_VERSION 1
#define REC_HDR 64
#define REC_F_EXPLICIT_EXPIRY 0x01
#define REC_OFF_EXPIRES 24

static bool
is_final(uint32_t state)
{
	return state == TW_ST_SUCCESS || state == TW_ST_FAILURE || state == TW_ST_REVOKED ||
	       state == TW_ST_EXPIRED;
}

static uint64_t
rec_size(uint32_t name_len, uint32_t value_len, uint32_t error_len)
{
	return REC_HDR + (uint64_t)name_len + value_len + error_len + (error_len > 0);
}

static void
rec_encode(uint8_t *p, const struct tw_store_record *r, uint32_t name_len, uint8_t flags)
{
	p[0] = REC_VERSION;
	p[1] = (uint8_t)r->state;
	p[2] = (uint8_t)name_len;
	p[3] = flags;
	tw_store_put_le32(p + 4, r->retries);
	tw_store_put_le64(p + 8, r->runtime_ns);
	tw_store_put_le64(p + 16, r->date_done_ms);
	tw_store_put_le64(p + REC_OFF_EXPIRES, r->expires_ms);
	tw_store_put_le64(p + 32, r->parent_id);
	tw_store_put_le64(p + 40, r->root_id);
	tw_store_put_le64(p + 48, r->group_id);
	tw_store_put_le32(p + 56, r->value_len);
	tw_store_put_le32(p + 60, r->error_len);
	p += REC_HDR;
	memcpy(p, r->name, name_len);
	p += name_len;
	if (r->value_len > 0)
		memcpy(p, r->value, r->value_len);
	p += r->value_len;
	if (r->error_len > 0) {
		memcpy(p, r->error, r->error_len);
		p[r->error_len] = '\0';
	}
}

/* Fill out from a stored value; value and error point into v. */
static int
rec_decode(uint64_t id, const MDB_val *v, struct tw_store_record *out, uint8_t *flags)
{
	const uint8_t *p = v->mv_data;
	uint32_t name_len;

	if (v->mv_size < REC_HDR || p[0] != REC_VERSION || p[1] > TW_ST_EXPIRED ||
	    p[2] > TW_STORE_NAME_MAX)
		return -EBADMSG;
	name_len = p[2];
	out->task_id = id;
	out->state = p[1];
	out->retries = tw_store_get_le32(p + 4);
	out->runtime_ns = tw_store_get_le64(p + 8);
	out->date_done_ms = tw_store_get_le64(p + 16);
	out->expires_ms = tw_store_get_le64(p + REC_OFF_EXPIRES);
	out->parent_id = tw_store_get_le64(p + 32);
	out->root_id = tw_store_get_le64(p + 40);
	out->group_id = tw_store_get_le64(p + 48);
	out->value_len = tw_store_get_le32(p + 56);
	out->error_len = tw_store_get_le32(p + 60);
	if (rec_size(name_len, out->value_len, out->error_len) != v->mv_size ||
	    (out->error_len > 0 && p[v->mv_size - 1] != '\0'))
		return -EBADMSG;
	if (flags != NULL)
		*flags = p[3];
	memcpy(out->name, p + REC_HDR, name_len);
	out->name[name_len] = '\0';
	out->value = out->value_len > 0 ? p + REC_HDR + name_len : NULL;
	out->error = out->error_len > 0 ? (const char *)p + REC_HDR + name_len + out->value_len : NULL;
	return 0;
}

static MDB_val
id_key(uint8_t *buf, uint64_t id)
{
	tw_store_put_be64(buf, id);
	return (MDB_val){ .mv_size = 8, .mv_data = buf };
}

static MDB_val
expiry_key(uint8_t *buf, uint64_t expires_ms, uint64_t id)
{
	tw_store_put_be64(buf, expires_ms);
	tw_store_put_be64(buf + 8, id);
	return (MDB_val){ .mv_size = TW_STORE_EXPIRY_KEY, .mv_data = buf };
}

static int
check_record(const struct tw_store_record *r)
{
	if (r->task_id == 0 || r->state > TW_ST_EXPIRED ||
	    memchr(r->name, '\0', sizeof(r->name)) == NULL ||
	    (r->value_len > 0 && r->value == NULL) || (r->error_len > 0 && r->error == NULL) ||
	    rec_size(TW_STORE_NAME_MAX, r->value_len, r->error_len) > UINT32_MAX)
		return -EINVAL;
	return 0;
}

/* Does incoming record n replace stored record o? */
static bool
replaces(const struct tw_store_record *o, const struct tw_store_record *n)
{
	if (is_final(o->state) != is_final(n->state))
		return is_final(n->state);
	return n->date_done_ms >= o->date_done_ms;
}

/*
 * The last key of results and of expiry, as a batch goes. Task ids come
 * from a counter and default expiries from the clock, so most keys land
 * after the last one; MDB_APPEND then fills the last page instead of
 * splitting it in half, which halves the file for 1 KiB values and saves
 * page writes (perf/tw_store_bench.c). A tail may be stale-high after a
 * delete; that only costs an append, never correctness, since LMDB checks
 * the order itself (MDB_KEYEXIST).
 */
struct tails {
	uint8_t res[8], exp[TW_STORE_EXPIRY_KEY];
	bool has_res, has_exp;
};

static void
tail_load(MDB_txn *txn, MDB_dbi dbi, uint8_t *tail, size_t len, bool *has)
{
	MDB_cursor *c;
	MDB_val k, v;

	*has = false;
	if (mdb_cursor_open(txn, dbi, &c) != 0)
		return;
	if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == len) {
		memcpy(tail, k.mv_data, len);
		*has = true;
	}
	mdb_cursor_close(c);
}

/* mdb_put, appending when key sorts after the tail, which then moves. */
static int
put_tail(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v, unsigned flags, uint8_t *tail, bool *has)
{
	bool append = !*has || memcmp(k->mv_data, tail, k->mv_size) > 0;
	int rc = mdb_put(txn, dbi, k, v, flags | (append ? MDB_APPEND : 0));

	if (rc == MDB_KEYEXIST && append)
		rc = mdb_put(txn, dbi, k, v, flags);
	if (rc == 0 && append) {
		memcpy(tail, k->mv_data, k->mv_size);
		*has = true;
	}
	return rc;
}

/* Put one record inside txn: precedence, inheritance, index upkeep. */
static int
put_one(struct tw_store *s, MDB_txn *txn, const struct tw_store_record *in, uint64_t now_ms,
	struct tails *t)
{
	struct tw_store_record r = *in, old;
	uint8_t kb[8], ekb[TW_STORE_EXPIRY_KEY], old_flags = 0, flags = 0;
	MDB_val key = id_key(kb, in->task_id), v, ek, empty = { 0, NULL };
	bool had_old = false;
	uint32_t name_len;
	int rc;

	if (r.date_done_ms == 0)
		r.date_done_ms = now_ms;
	/* a workflow member: its group lists it at its index (a chain in a
	 * group: each step in turn, so the group shows where the chain is) */
	if (in->group_id != 0) {
		rc = tw_store_group_put_txn(s, txn, in->group_id, in->group_index, in->task_id);
		if (rc != 0)
			return rc;
	}
	rc = mdb_get(txn, s->results, &key, &v);
	if (rc == 0) {
		rc = rec_decode(in->task_id, &v, &old, &old_flags);
		if (rc != 0)
			return rc;
		if (!replaces(&old, &r))
			return 0;
		had_old = true;
		if (r.name[0] == '\0')
			memcpy(r.name, old.name, sizeof(r.name));
		if (r.parent_id == 0)
			r.parent_id = old.parent_id;
		if (r.root_id == 0)
			r.root_id = old.root_id;
		if (r.group_id == 0)
			r.group_id = old.group_id;
	} else if (rc != MDB_NOTFOUND) {
		return tw_store_map_err(rc);
	}
	if (r.expires_ms != 0) {
		flags |= REC_F_EXPLICIT_EXPIRY;
	} else if (had_old && (old_flags & REC_F_EXPLICIT_EXPIRY)) {
		r.expires_ms = old.expires_ms;
		flags |= REC_F_EXPLICIT_EXPIRY;
	} else {
		r.expires_ms = now_ms + s->default_ttl_ms < now_ms ? UINT64_MAX : now_ms + s->default_ttl_ms;
	}

	name_len = (uint32_t)strlen(r.name);
	/* MDB_RESERVE: encode straight into the page, no scratch buffer. old's
	 * value/error pointers die here; only its copied fields are used below. */
	v.mv_size = rec_size(name_len, r.value_len, r.error_len);
	rc = had_old ? mdb_put(txn, s->results, &key, &v, MDB_RESERVE)
		     : put_tail(txn, s->results, &key, &v, MDB_RESERVE, t->res, &t->has_res);
	if (rc != 0)
		return tw_store_map_err(rc);
	rec_encode(v.mv_data, &r, name_len, flags);
	if (had_old && old.expires_ms == r.expires_ms)
		return 0;
	if (had_old) {
		ek = expiry_key(ekb, old.expires_ms, r.task_id);
		rc = mdb_del(txn, s->expiry, &ek, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return tw_store_map_err(rc);
	}
	ek = expiry_key(ekb, r.expires_ms, r.task_id);
	return tw_store_map_err(put_tail(txn, s->expiry, &ek, &empty, 0, t->exp, &t->has_exp));
}

int
tw_store_put_batch(struct tw_store *s, const struct tw_store_record *recs, uint32_t n)
{
	uint64_t now_ms = tw_store_clock_ms(CLOCK_REALTIME);
	struct tails t;
	MDB_txn *txn;
	int rc;

	if (s == NULL || (recs == NULL && n > 0))
		return -EINVAL;
	/* Validate everything first: a bad record must not leave half a batch. */
	for (uint32_t i = 0; i < n; i++)
		if (check_record(&recs[i]) != 0)
			return -EINVAL;
	if (n == 0)
		return 0;
	rc = tw_store_txn_begin(s, 0, &txn);
	if (rc != 0)
		return rc;
	tail_load(txn, s->results, t.res, sizeof(t.res), &t.has_res);
	tail_load(txn, s->expiry, t.exp, sizeof(t.exp), &t.has_exp);
	for (uint32_t i = 0; i < n; i++) {
		rc = put_one(s, txn, &recs[i], now_ms, &t);
		if (rc != 0) {
			mdb_txn_abort(txn);
			return rc;
		}
	}
	return tw_store_txn_commit(s, txn);
}

int
tw_store_get(struct tw_store *s, uint64_t id, struct tw_store_record *out, uint8_t *buf, size_t buflen)
{
	uint8_t kb[8];
	MDB_val key = id_key(kb, id), v;
	MDB_txn *txn;
	size_t need;
	int rc;

	if (s == NULL || out == NULL || id == 0 || (buf == NULL && buflen > 0))
		return -EINVAL;
	rc = tw_store_txn_begin(s, MDB_RDONLY, &txn);
	if (rc != 0)
		return rc;
	rc = mdb_get(txn, s->results, &key, &v);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return tw_store_map_err(rc);
	}
	rc = rec_decode(id, &v, out, NULL);
	if (rc == 0 && out->expires_ms <= tw_store_clock_ms(CLOCK_REALTIME))
		rc = -ENOENT;
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	need = (size_t)out->value_len + (out->error_len > 0 ? out->error_len + 1u : 0);
	if (need > buflen) {
		out->value = NULL;
		out->error = NULL;
		rc = -ENOBUFS;
	} else {
		if (out->value_len > 0)
			out->value = memcpy(buf, out->value, out->value_len);
		if (out->error_len > 0)
			out->error = memcpy(buf + out->value_len, out->error, out->error_len + 1u);
	}
	mdb_txn_abort(txn);
	return rc;
}

int
tw_store_forget(struct tw_store *s, uint64_t id)
{
	uint8_t kb[8], ekb[TW_STORE_EXPIRY_KEY];
	MDB_val key = id_key(kb, id), v, ek;
	struct tw_store_record old;
	bool found = false;
	MDB_txn *txn;
	int rc;

	if (s == NULL || id == 0)
		return -EINVAL;
	rc = tw_store_txn_begin(s, 0, &txn);
	if (rc != 0)
		return rc;
	rc = mdb_get(txn, s->results, &key, &v);
	if (rc == 0) {
		/* A damaged record still goes; its index entry, if any, is
		 * then stale, which the sweep tolerates. */
		if (rec_decode(id, &v, &old, NULL) == 0) {
			ek = expiry_key(ekb, old.expires_ms, id);
			rc = mdb_del(txn, s->expiry, &ek, NULL);
			rc = tw_store_map_err(rc == MDB_NOTFOUND ? 0 : rc);
		}
		if (rc == 0)
			rc = tw_store_map_err(mdb_del(txn, s->results, &key, NULL));
		found = true;
	} else {
		rc = rc == MDB_NOTFOUND ? 0 : tw_store_map_err(rc);
	}
	if (rc == 0) {
		rc = tw_store_group_del_txn(s, txn, id);
		found = found || rc > 0;
		rc = rc > 0 ? 0 : rc;
	}
	if (rc == 0 && !found)
		rc = -ENOENT;
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return tw_store_txn_commit(s, txn);
}

uint32_t
tw_store_expire(struct tw_store *s, uint64_t now_ms, uint32_t max)
{
	uint8_t kb[8];
	uint32_t removed = 0;
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v, key;
	bool changed = false, gone;
	uint64_t exp, id;
	int err = 0, rc;

	if (s == NULL) {
		errno = EINVAL;
		return 0;
	}
	if (max == 0)
		return 0;
	err = tw_store_txn_begin(s, 0, &txn);
	if (err != 0)
		goto fail;
	err = tw_store_map_err(mdb_cursor_open(txn, s->expiry, &c));
	if (err != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	/* Bounded by max (plus stale index entries, which should not exist);
	 * each pass takes the index's first, oldest, entry, since the one
	 * before it was just deleted. */
	while (removed < max) {
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
		if (rc != 0) {
			err = rc == MDB_NOTFOUND ? 0 : tw_store_map_err(rc);
			break;
		}
		if (k.mv_size != TW_STORE_EXPIRY_KEY) {
			err = -EBADMSG;
			break;
		}
		exp = tw_store_get_be64(k.mv_data);
		gone = false;
		if (exp > now_ms)
			break;
		id = tw_store_get_be64((const uint8_t *)k.mv_data + 8);
		key = id_key(kb, id);
		rc = mdb_cursor_del(c, 0);
		if (rc == 0)
			rc = mdb_get(txn, s->results, &key, &v);
		/* Only the record this entry was made for: a stale entry (left
		 * by forgetting a damaged record) must not take a newer one. */
		if (rc == 0 && (v.mv_size < REC_HDR ||
				tw_store_get_le64((const uint8_t *)v.mv_data + REC_OFF_EXPIRES) == exp)) {
			rc = mdb_del(txn, s->results, &key, NULL);
			gone = rc == 0;
		} else if (rc == MDB_NOTFOUND) {
			rc = 0;
		}
		if (rc != 0) {
			err = tw_store_map_err(rc);
			break;
		}
		changed = true;
		if (!gone)
			continue;
		removed++;
		err = tw_store_group_del_txn(s, txn, id);
		if (err < 0)
			break;
		err = 0;
	}
	mdb_cursor_close(c);
	if (err == 0 && changed)
		err = tw_store_txn_commit(s, txn);
	else
		mdb_txn_abort(txn);
	if (err == 0)
		return removed;
fail:
	errno = -err;
	return 0;
}

uint64_t
tw_store_count(struct tw_store *s)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc;

	if (s == NULL || tw_store_txn_begin(s, MDB_RDONLY, &txn) != 0)
		return 0;
	rc = mdb_stat(txn, s->results, &st);
	mdb_txn_abort(txn);
	return rc == 0 ? st.ms_entries : 0;
}

int
tw_store_each(struct tw_store *s, int (*fn)(void *arg, const struct tw_store_record *r), void *arg,
	      uint32_t max)
{
	uint64_t now_ms = tw_store_clock_ms(CLOCK_REALTIME);
	struct tw_store_record r;
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	uint32_t n = 0;
	int err = 0, rc;

	if (s == NULL || fn == NULL)
		return -EINVAL;
	rc = tw_store_txn_begin(s, MDB_RDONLY, &txn);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(txn, s->results, &c);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return tw_store_map_err(rc);
	}
	/* Bounded by max and by the store's size. */
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < max;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		err = k.mv_size == 8 ? rec_decode(tw_store_get_be64(k.mv_data), &v, &r, NULL) : -EBADMSG;
		if (err != 0)
			break;
		if (r.expires_ms <= now_ms)
			continue;
		n++;
		if (fn(arg, &r) != 0)
			break;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (err == 0 && rc != 0 && rc != MDB_NOTFOUND)
		err = tw_store_map_err(rc);
	return err != 0 ? err : (int)(n > INT_MAX ? INT_MAX : n);
}
