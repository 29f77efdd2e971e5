/*
 * Unit tests for the result store (control/ctl_store*.c): record round
 * trip, final-state precedence and field inheritance, restart, expiry
 * through the index, forget, iteration, schedules, group order, a full
 * map and bad arguments. Each test gets its own directory under /tmp,
 * removed by the teardown.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>
#include <pthread.h>

#include "ctl_store.h"
#include "tw_wire.h"

#define MAP (64ull << 20)
#define HOUR_MS 3600000ull

struct fixture {
	char dir[64];
	struct tw_store *s;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct tw_store *
reopen(struct fixture *f, uint64_t map, uint64_t ttl)
{
	char err[256] = "";

	tw_store_close(f->s);
	f->s = tw_store_open(f->dir, map, ttl, err, sizeof(err));
	if (f->s == NULL)
		print_error("open %s: %s\n", f->dir, err);
	return f->s;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/tw-store-test-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return reopen(f, MAP, 0) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];

	tw_store_close(f->s);
	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A record with every field set; value and error from static strings. */
static struct tw_store_record
rec(uint64_t id, uint32_t state, uint64_t date)
{
	struct tw_store_record r = {
		.task_id = id, .state = state, .retries = 3, .runtime_ns = 123456789ull,
		.date_done_ms = date, .expires_ms = now_ms() + HOUR_MS,
		.parent_id = id + 1000, .root_id = id + 2000, .group_id = id + 3000,
		.value = (const uint8_t *)"\x01\x00value", .value_len = 7,
		.error = "boom", .error_len = 4,
	};

	snprintf(r.name, sizeof(r.name), "tasks.add%llu", (unsigned long long)id);
	return r;
}

static int
put1(struct tw_store *s, struct tw_store_record r)
{
	return tw_store_put_batch(s, &r, 1);
}

static uint32_t
state_of(struct tw_store *s, uint64_t id)
{
	struct tw_store_record r;
	uint8_t buf[256];

	assert_int_equal(tw_store_get(s, id, &r, buf, sizeof(buf)), 0);
	return r.state;
}

static void
test_store_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct tw_store_record in = rec(42, TW_ST_FAILURE, 1700000000123ull), out;
	uint8_t buf[64], small[8];

	assert_int_equal(put1(f->s, in), 0);
	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(tw_store_get(f->s, 42, &out, buf, sizeof(buf)), 0);
	assert_int_equal(out.task_id, 42);
	assert_int_equal(out.state, TW_ST_FAILURE);
	assert_int_equal(out.retries, 3);
	assert_int_equal(out.runtime_ns, 123456789ull);
	assert_int_equal(out.date_done_ms, 1700000000123ull);
	assert_int_equal(out.expires_ms, in.expires_ms);
	assert_int_equal(out.parent_id, 1042);
	assert_int_equal(out.root_id, 2042);
	assert_int_equal(out.group_id, 3042);
	assert_string_equal(out.name, "tasks.add42");
	assert_int_equal(out.value_len, 7);
	assert_memory_equal(out.value, "\x01\x00value", 7);
	assert_ptr_equal(out.value, buf);
	assert_int_equal(out.error_len, 4);
	assert_string_equal(out.error, "boom");  /* NUL-terminated */

	/* Too small a buffer: every field, full lengths, no pointers. */
	memset(&out, 0, sizeof(out));
	assert_int_equal(tw_store_get(f->s, 42, &out, small, sizeof(small)), -ENOBUFS);
	assert_int_equal(out.value_len, 7);
	assert_int_equal(out.error_len, 4);
	assert_null(out.value);
	assert_null(out.error);
	assert_string_equal(out.name, "tasks.add42");
	/* value_len + error_len + 1 is exactly enough */
	assert_int_equal(tw_store_get(f->s, 42, &out, buf, 12), 0);
	assert_int_equal(tw_store_get(f->s, 42, &out, buf, 11), -ENOBUFS);

	/* No value, no error, a 127-byte name, date 0 = now: no buffer needed. */
	in = (struct tw_store_record){ .task_id = 7, .state = TW_ST_PENDING };
	memset(in.name, 'n', TW_STORE_NAME_MAX);
	uint64_t t0 = now_ms();
	assert_int_equal(put1(f->s, in), 0);
	assert_int_equal(tw_store_get(f->s, 7, &out, NULL, 0), 0);
	assert_int_equal(strlen(out.name), TW_STORE_NAME_MAX);
	assert_null(out.value);
	assert_null(out.error);
	assert_true(out.date_done_ms >= t0 && out.date_done_ms <= now_ms());
	assert_int_equal(tw_store_get(f->s, 8, &out, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tw_store_count(f->s), 2);
}

static void
test_store_final_precedence(void **state)
{
	struct fixture *f = *state;
	struct tw_store_record r, b[2], out;
	uint8_t buf[256];

	assert_int_equal(put1(f->s, rec(1, TW_ST_STARTED, 100)), 0);
	assert_int_equal(put1(f->s, rec(1, TW_ST_PROGRESS, 200)), 0);
	assert_int_equal(state_of(f->s, 1), TW_ST_PROGRESS);
	/* an older non-final after a newer one is ignored */
	assert_int_equal(put1(f->s, rec(1, TW_ST_STARTED, 150)), 0);
	assert_int_equal(state_of(f->s, 1), TW_ST_PROGRESS);
	/* a final replaces a non-final, even an older-dated one */
	assert_int_equal(put1(f->s, rec(1, TW_ST_SUCCESS, 190)), 0);
	assert_int_equal(state_of(f->s, 1), TW_ST_SUCCESS);
	/* a late PROGRESS (newer date) after SUCCESS is ignored */
	assert_int_equal(put1(f->s, rec(1, TW_ST_PROGRESS, 500)), 0);
	assert_int_equal(state_of(f->s, 1), TW_ST_SUCCESS);
	/* final by final: an older one loses, a newer one wins, a tie goes to the later write */
	assert_int_equal(put1(f->s, rec(1, TW_ST_FAILURE, 180)), 0);
	assert_int_equal(state_of(f->s, 1), TW_ST_SUCCESS);
	assert_int_equal(put1(f->s, rec(1, TW_ST_REVOKED, 600)), 0);
	assert_int_equal(state_of(f->s, 1), TW_ST_REVOKED);
	assert_int_equal(put1(f->s, rec(1, TW_ST_EXPIRED, 600)), 0);
	assert_int_equal(state_of(f->s, 1), TW_ST_EXPIRED);

	/* the same rules within one batch */
	b[0] = rec(2, TW_ST_SUCCESS, 100);
	b[1] = rec(2, TW_ST_PROGRESS, 200);
	assert_int_equal(tw_store_put_batch(f->s, b, 2), 0);
	assert_int_equal(state_of(f->s, 2), TW_ST_SUCCESS);

	/* a replacing record inherits name, workflow ids and an explicit expiry */
	r = rec(3, TW_ST_PENDING, 100);
	r.expires_ms = now_ms() + 5 * HOUR_MS;
	assert_int_equal(put1(f->s, r), 0);
	r = (struct tw_store_record){ .task_id = 3, .state = TW_ST_SUCCESS, .date_done_ms = 200,
				      .value = (const uint8_t *)"42", .value_len = 2 };
	assert_int_equal(put1(f->s, r), 0);
	assert_int_equal(tw_store_get(f->s, 3, &out, buf, sizeof(buf)), 0);
	assert_int_equal(out.state, TW_ST_SUCCESS);
	assert_string_equal(out.name, "tasks.add3");
	assert_int_equal(out.parent_id, 1003);
	assert_int_equal(out.root_id, 2003);
	assert_int_equal(out.group_id, 3003);
	assert_true(out.expires_ms > now_ms() + 4 * HOUR_MS);
	assert_int_equal(out.error_len, 0);
	assert_memory_equal(out.value, "42", 2);
}

static void
test_store_survives_restart(void **state)
{
	struct fixture *f = *state;
	struct tw_store_record b[100];
	uint64_t ids[4];
	uint8_t buf[256];
	struct tw_store_record out;

	for (int i = 0; i < 100; i++)
		b[i] = rec((uint64_t)i + 1, TW_ST_SUCCESS, 1000 + (uint64_t)i);
	assert_int_equal(tw_store_put_batch(f->s, b, 100), 0);
	assert_int_equal(tw_store_schedule_put(f->s, "nightly", "cron:0 3 * * *", 14), 0);
	assert_int_equal(tw_store_group_add(f->s, 900, 0, 5), 0);
	assert_int_equal(tw_store_group_add(f->s, 900, 1, 6), 0);
	assert_int_equal(tw_store_sync(f->s), 0);
	assert_non_null(reopen(f, MAP, 0));
	assert_int_equal(tw_store_count(f->s), 100);
	assert_int_equal(tw_store_get(f->s, 77, &out, buf, sizeof(buf)), 0);
	assert_int_equal(out.date_done_ms, 1076);
	assert_string_equal(out.name, "tasks.add77");
	assert_string_equal(out.error, "boom");
	assert_int_equal(tw_store_group_members(f->s, 900, ids, 4), 2);
	assert_int_equal(ids[0], 5);
	assert_int_equal(ids[1], 6);
	/* a store opened with sync_ms 0 (every commit synced) reads the same data */
	struct tw_store_opts o = { .map_size = MAP, .sync_ms = 0 };
	tw_store_close(f->s);
	f->s = tw_store_open_opts(f->dir, &o, NULL, 0);
	assert_non_null(f->s);
	assert_int_equal(tw_store_count(f->s), 100);
	assert_int_equal(put1(f->s, rec(101, TW_ST_SUCCESS, 1)), 0);
	assert_non_null(reopen(f, MAP, 0));
	assert_int_equal(tw_store_count(f->s), 101);
}

static void
test_store_expire_removes_only_expired(void **state)
{
	struct fixture *f = *state;
	uint64_t base = now_ms() + HOUR_MS, ids[2];
	struct tw_store_record r, out;
	uint8_t buf[256];

	/* records 1..10 expire at base + i s, in reverse id order */
	for (uint64_t i = 1; i <= 10; i++) {
		r = rec(11 - i, TW_ST_SUCCESS, 1);
		r.expires_ms = base + i * 1000;
		assert_int_equal(put1(f->s, r), 0);
	}
	assert_int_equal(tw_store_expire(f->s, base, 100), 0);
	assert_int_equal(tw_store_expire(f->s, base + 4500, 100), 4);
	assert_int_equal(tw_store_count(f->s), 6);
	for (uint64_t id = 1; id <= 10; id++)
		assert_int_equal(tw_store_get(f->s, id, &out, buf, sizeof(buf)),
				 id >= 7 ? -ENOENT : 0);
	/* max bounds the sweep; the oldest go first */
	assert_int_equal(tw_store_expire(f->s, base + 1000000, 2), 2);
	assert_int_equal(tw_store_get(f->s, 6, &out, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tw_store_get(f->s, 5, &out, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tw_store_get(f->s, 4, &out, buf, sizeof(buf)), 0);

	/* moving a record's expiry moves its index entry */
	r = rec(4, TW_ST_FAILURE, 2);
	r.expires_ms = base + 100 * 1000;
	assert_int_equal(put1(f->s, r), 0);
	assert_int_equal(tw_store_expire(f->s, base + 9000, 100), 2);  /* 3 and 2, not 4 */
	assert_int_equal(tw_store_get(f->s, 4, &out, buf, sizeof(buf)), 0);
	assert_int_equal(tw_store_count(f->s), 2);

	/* expired but not swept: get says gone, each skips it, count still has it */
	r = rec(50, TW_ST_SUCCESS, 1);
	r.expires_ms = now_ms() - 1;
	assert_int_equal(put1(f->s, r), 0);
	assert_int_equal(tw_store_get(f->s, 50, &out, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tw_store_count(f->s), 3);

	/* a group's members go with the group's record */
	r = rec(60, TW_ST_SUCCESS, 1);
	r.expires_ms = 1000;
	assert_int_equal(put1(f->s, r), 0);
	assert_int_equal(tw_store_group_add(f->s, 60, 0, 61), 0);
	assert_int_equal(tw_store_group_add(f->s, 61, 0, 62), 0);
	assert_int_equal(tw_store_expire(f->s, now_ms(), 100), 2);  /* 50 and 60 */
	assert_int_equal(tw_store_group_members(f->s, 60, ids, 2), 0);
	assert_int_equal(tw_store_group_members(f->s, 61, ids, 2), 1);
	assert_int_equal(tw_store_count(f->s), 2);
}

static void
test_store_default_ttl(void **state)
{
	struct fixture *f = *state;
	struct tw_store_record r = rec(1, TW_ST_PENDING, 0), out;
	uint8_t buf[256];
	uint64_t t0, t1;

	assert_non_null(reopen(f, MAP, 5000));
	r.expires_ms = 0;
	t0 = now_ms();
	assert_int_equal(put1(f->s, r), 0);
	t1 = now_ms();
	assert_int_equal(tw_store_get(f->s, 1, &out, buf, sizeof(buf)), 0);
	assert_true(out.expires_ms >= t0 + 5000 && out.expires_ms <= t1 + 5000);
	assert_int_equal(tw_store_expire(f->s, t0 + 4999, 10), 0);
	assert_int_equal(tw_store_expire(f->s, t1 + 5000, 10), 1);
	/* 0 selects the 24 h default */
	assert_non_null(reopen(f, MAP, 0));
	t0 = now_ms();
	assert_int_equal(put1(f->s, r), 0);
	assert_int_equal(tw_store_get(f->s, 1, &out, buf, sizeof(buf)), 0);
	assert_true(out.expires_ms >= t0 + TW_STORE_DEFAULT_TTL_MS);
}

static void
test_store_forget(void **state)
{
	struct fixture *f = *state;
	struct tw_store_record out;
	uint8_t buf[256];
	uint64_t ids[1];

	assert_int_equal(put1(f->s, rec(5, TW_ST_SUCCESS, 1)), 0);
	assert_int_equal(put1(f->s, rec(6, TW_ST_SUCCESS, 1)), 0);
	assert_int_equal(tw_store_forget(f->s, 5), 0);
	assert_int_equal(tw_store_get(f->s, 5, &out, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tw_store_forget(f->s, 5), -ENOENT);
	assert_int_equal(tw_store_forget(f->s, 99), -ENOENT);
	assert_int_equal(tw_store_count(f->s), 1);
	/* its index entry went too: a sweep of everything removes just 6 */
	assert_int_equal(tw_store_expire(f->s, UINT64_MAX, 100), 1);
	/* a group without a record of its own is forgotten by its id */
	assert_int_equal(tw_store_group_add(f->s, 70, 0, 71), 0);
	assert_int_equal(tw_store_forget(f->s, 70), 0);
	assert_int_equal(tw_store_group_members(f->s, 70, ids, 1), 0);
	assert_int_equal(tw_store_forget(f->s, 70), -ENOENT);
}

struct seen {
	uint64_t ids[200];
	int n, stop_after;
};

static int
collect(void *arg, const struct tw_store_record *r)
{
	struct seen *s = arg;

	assert_string_equal(r->error, "boom");
	assert_memory_equal(r->value, "\x01\x00value", 7);
	s->ids[s->n++] = r->task_id;
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static void
test_store_each_max(void **state)
{
	struct fixture *f = *state;
	struct tw_store_record b[100];
	struct seen seen = { 0 };

	for (int i = 0; i < 100; i++)
		b[i] = rec(100 - (uint64_t)i, TW_ST_SUCCESS, 1);
	b[10].expires_ms = 1;  /* id 90: expired, skipped */
	assert_int_equal(tw_store_put_batch(f->s, b, 100), 0);
	assert_int_equal(tw_store_each(f->s, collect, &seen, 10), 10);
	assert_int_equal(seen.n, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(seen.ids[i], (uint64_t)i + 1);  /* id order */
	seen = (struct seen){ .stop_after = 3 };
	assert_int_equal(tw_store_each(f->s, collect, &seen, UINT32_MAX), 3);
	seen = (struct seen){ 0 };
	assert_int_equal(tw_store_each(f->s, collect, &seen, UINT32_MAX), 99);
	for (int i = 0; i < 99; i++)
		assert_int_not_equal(seen.ids[i], 90);
	assert_int_equal(tw_store_each(f->s, collect, &seen, 0), 0);
}

struct sched_seen {
	char names[8][128];
	char blobs[8][32];
	uint32_t lens[8];
	int n;
};

static int
collect_sched(void *arg, const char *name, const void *blob, uint32_t len)
{
	struct sched_seen *s = arg;

	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	memcpy(s->blobs[s->n], blob, len < 32 ? len : 32);
	s->lens[s->n++] = len;
	return 0;
}

static void
test_store_schedules(void **state)
{
	struct fixture *f = *state;
	struct sched_seen seen = { 0 };
	char longname[TW_STORE_NAME_MAX + 2];

	assert_int_equal(tw_store_schedule_put(f->s, "b.hourly", "h1", 2), 0);
	assert_int_equal(tw_store_schedule_put(f->s, "a.daily", "d1", 2), 0);
	assert_int_equal(tw_store_schedule_put(f->s, "c.weekly", "w1", 2), 0);
	assert_int_equal(tw_store_schedule_put(f->s, "b.hourly", "h22", 3), 0);  /* replace */
	assert_int_equal(tw_store_schedule_put(f->s, "d.empty", NULL, 0), 0);
	assert_int_equal(tw_store_schedule_del(f->s, "c.weekly"), 0);
	assert_int_equal(tw_store_schedule_del(f->s, "c.weekly"), -ENOENT);
	assert_non_null(reopen(f, MAP, 0));
	assert_int_equal(tw_store_schedule_each(f->s, collect_sched, &seen), 3);
	assert_string_equal(seen.names[0], "a.daily");
	assert_string_equal(seen.names[1], "b.hourly");
	assert_string_equal(seen.names[2], "d.empty");
	assert_int_equal(seen.lens[1], 3);
	assert_memory_equal(seen.blobs[1], "h22", 3);
	assert_int_equal(seen.lens[2], 0);
	/* schedules are not records */
	assert_int_equal(tw_store_count(f->s), 0);

	memset(longname, 'x', sizeof(longname));
	longname[TW_STORE_NAME_MAX] = '\0';
	assert_int_equal(tw_store_schedule_put(f->s, longname, "x", 1), 0);
	longname[TW_STORE_NAME_MAX] = 'x';
	longname[TW_STORE_NAME_MAX + 1] = '\0';
	assert_int_equal(tw_store_schedule_put(f->s, longname, "x", 1), -EINVAL);
	assert_int_equal(tw_store_schedule_del(f->s, longname), -EINVAL);
}

static void
test_store_group_order(void **state)
{
	struct fixture *f = *state;
	uint64_t ids[8];

	assert_int_equal(tw_store_group_add(f->s, 10, 2, 102), 0);
	assert_int_equal(tw_store_group_add(f->s, 11, 0, 110), 0);
	assert_int_equal(tw_store_group_add(f->s, 10, 0, 100), 0);
	assert_int_equal(tw_store_group_add(f->s, 9, 5, 95), 0);
	assert_int_equal(tw_store_group_add(f->s, 10, 300, 199), 0);  /* idx past one byte */
	assert_int_equal(tw_store_group_add(f->s, 10, 1, 101), 0);
	assert_int_equal(tw_store_group_members(f->s, 10, ids, 8), 4);
	assert_int_equal(ids[0], 100);
	assert_int_equal(ids[1], 101);
	assert_int_equal(ids[2], 102);
	assert_int_equal(ids[3], 199);
	/* the same idx again replaces the member */
	assert_int_equal(tw_store_group_add(f->s, 10, 1, 111), 0);
	/* a short array: the first max, and the total */
	memset(ids, 0, sizeof(ids));
	assert_int_equal(tw_store_group_members(f->s, 10, ids, 2), 4);
	assert_int_equal(ids[0], 100);
	assert_int_equal(ids[1], 111);
	assert_int_equal(ids[2], 0);
	assert_int_equal(tw_store_group_members(f->s, 10, NULL, 0), 4);
	assert_int_equal(tw_store_group_members(f->s, 12, ids, 8), 0);
	assert_int_equal(tw_store_group_members(f->s, 9, ids, 8), 1);
	assert_int_equal(ids[0], 95);
}

static void
test_store_map_full_is_enospc(void **state)
{
	struct fixture *f = *state;
	static uint8_t big[1024];
	struct tw_store_record b[16], out;
	uint8_t buf[2048];
	uint64_t next = 1, count;
	int rc = 0;

	assert_non_null(reopen(f, 256 << 10, 0));
	/* fill in batches of 16 x 1 KiB until the map refuses one */
	for (int i = 0; i < 1000 && rc == 0; i++) {
		for (int j = 0; j < 16; j++) {
			b[j] = rec(next + (uint64_t)j, TW_ST_SUCCESS, 1);
			b[j].value = big;
			b[j].value_len = sizeof(big);
		}
		count = tw_store_count(f->s);
		rc = tw_store_put_batch(f->s, b, 16);
		if (rc == 0)
			next += 16;
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(next > 16);
	/* nothing of the failed batch was written */
	assert_int_equal(tw_store_count(f->s), count);
	assert_int_equal(tw_store_count(f->s), next - 1);
	assert_int_equal(tw_store_get(f->s, next, &out, buf, sizeof(buf)), -ENOENT);
	/* and the store still works: read, free some room, write again */
	assert_int_equal(tw_store_get(f->s, 1, &out, buf, sizeof(buf)), 0);
	assert_int_equal(out.value_len, sizeof(big));
	for (uint64_t id = 1; id <= 32; id++)
		assert_int_equal(tw_store_forget(f->s, id), 0);
	assert_int_equal(put1(f->s, rec(next, TW_ST_SUCCESS, 1)), 0);
	assert_int_equal(tw_store_get(f->s, next, &out, buf, sizeof(buf)), 0);
	assert_non_null(reopen(f, 256 << 10, 0));
	assert_int_equal(tw_store_count(f->s), next - 1 - 32 + 1);
}

static int
count_ascending(void *arg, const struct tw_store_record *r)
{
	uint64_t *last = arg;

	assert_true(r->task_id > *last);
	*last = r->task_id;
	return 0;
}

/* Ascending ids are appended (MDB_APPEND); lower ones, updates and ids
 * after a deleted tail take the other paths and must land the same. */
static void
test_store_append_and_insert_mix(void **state)
{
	struct fixture *f = *state;
	static const uint64_t later[] = { 50, 25, 100, 60, 101, 0x8000000000000000ull, 7 };
	struct tw_store_record b[50], out;
	uint64_t last = 0;
	uint8_t buf[64];

	for (int i = 0; i < 50; i++)
		b[i] = rec((uint64_t)i + 1, TW_ST_STARTED, 1);
	assert_int_equal(tw_store_put_batch(f->s, b, 50), 0);
	assert_int_equal(tw_store_forget(f->s, 50), 0);  /* the tail goes */
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++)
		b[i] = rec(later[i], TW_ST_SUCCESS, 2);
	assert_int_equal(tw_store_put_batch(f->s, b, sizeof(later) / sizeof(later[0])), 0);
	assert_int_equal(tw_store_count(f->s), 54);
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
		assert_int_equal(tw_store_get(f->s, later[i], &out, buf, sizeof(buf)), 0);
		assert_int_equal(out.state, TW_ST_SUCCESS);
	}
	assert_int_equal(state_of(f->s, 24), TW_ST_STARTED);
	assert_int_equal(tw_store_each(f->s, count_ascending, &last, UINT32_MAX), 54);
	assert_int_equal(last, 0x8000000000000000ull);
	/* the index kept up: one sweep takes them all */
	assert_int_equal(tw_store_expire(f->s, UINT64_MAX, UINT32_MAX), 54);
}

struct worker {
	struct tw_store *s;
	uint64_t first;
	int errors;
};

static void *
writer(void *arg)
{
	struct worker *w = arg;
	struct tw_store_record b[10];

	for (uint64_t id = w->first; id < w->first + 2000; id += 10) {
		for (int i = 0; i < 10; i++)
			b[i] = rec(id + (uint64_t)i, TW_ST_SUCCESS, 1);
		w->errors += tw_store_put_batch(w->s, b, 10) != 0;
	}
	return NULL;
}

/* No cmocka assertions off the main thread: count disorder instead. */
static int
ascending_or_stop(void *arg, const struct tw_store_record *r)
{
	uint64_t *last = arg;

	if (r->task_id <= *last) {
		*last = UINT64_MAX;  /* seen by reader() */
		return 1;
	}
	*last = r->task_id;
	return 0;
}

static void *
reader(void *arg)
{
	struct worker *w = arg;
	struct tw_store_record out;
	uint64_t last;
	uint8_t buf[64];

	for (int i = 0; i < 2000; i++) {
		int rc = tw_store_get(w->s, 1 + (uint64_t)i, &out, buf, sizeof(buf));

		w->errors += rc != 0 && rc != -ENOENT;
		last = 0;
		if (i % 100 == 0)
			w->errors += tw_store_each(w->s, ascending_or_stop, &last, 500) < 0 ||
				     last == UINT64_MAX;
	}
	return NULL;
}

/* Any thread may call: two writers and a reader at once (MDB_NOTLS). */
static void
test_store_threads(void **state)
{
	struct fixture *f = *state;
	struct worker w[3] = { { f->s, 1, 0 }, { f->s, 100001, 0 }, { f->s, 0, 0 } };
	pthread_t t[3];

	assert_int_equal(pthread_create(&t[0], NULL, writer, &w[0]), 0);
	assert_int_equal(pthread_create(&t[1], NULL, writer, &w[1]), 0);
	assert_int_equal(pthread_create(&t[2], NULL, reader, &w[2]), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].errors, 0);
	}
	assert_int_equal(tw_store_count(f->s), 4000);
}

/* A record written by a future version is refused, not misread. */
static void
test_store_rejects_unknown_version(void **state)
{
	struct fixture *f = *state;
	uint8_t key[8] = { 0, 0, 0, 0, 0, 0, 0, 9 }, val[64] = { 2 };
	MDB_val k = { 8, key }, v = { sizeof(val), val };
	struct tw_store_record out;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t buf[64];

	tw_store_close(f->s);
	f->s = NULL;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "results", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_non_null(reopen(f, MAP, 0));
	assert_int_equal(tw_store_get(f->s, 9, &out, buf, sizeof(buf)), -EBADMSG);
	assert_int_equal(put1(f->s, rec(9, TW_ST_SUCCESS, 1)), -EBADMSG);
	assert_int_equal(tw_store_forget(f->s, 9), 0);  /* a damaged record can still go */
	assert_int_equal(put1(f->s, rec(9, TW_ST_SUCCESS, 1)), 0);
}

static int
never(void *arg, const struct tw_store_record *r)
{
	(void)arg;
	(void)r;
	fail();
	return 1;
}

static void
test_store_bad_args(void **state)
{
	struct fixture *f = *state;
	struct tw_store_record good = rec(1, TW_ST_SUCCESS, 1), b[2], out;
	char err[256], path[128];
	uint8_t buf[16];
	uint64_t ids[2];
	FILE *fp;

	assert_null(tw_store_open(NULL, MAP, 0, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_null(tw_store_open("", MAP, 0, NULL, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(tw_store_open(f->dir, 0, 0, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_null(tw_store_open_opts(f->dir, NULL, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/plain", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_null(tw_store_open(path, MAP, 0, err, sizeof(err)));
	assert_int_equal(errno, ENOTDIR);
	assert_non_null(strstr(err, path));
	unlink(path);

	b[0] = good;
	b[1] = good;
	b[1].task_id = 0;
	assert_int_equal(tw_store_put_batch(f->s, b, 2), -EINVAL);
	b[1] = good;
	b[1].state = TW_ST_EXPIRED + 1;
	assert_int_equal(tw_store_put_batch(f->s, b, 2), -EINVAL);
	b[1] = good;
	memset(b[1].name, 'x', sizeof(b[1].name));  /* 128 bytes, no NUL */
	assert_int_equal(tw_store_put_batch(f->s, b, 2), -EINVAL);
	b[1] = good;
	b[1].value = NULL;
	assert_int_equal(tw_store_put_batch(f->s, b, 2), -EINVAL);
	b[1] = good;
	b[1].error = NULL;
	assert_int_equal(tw_store_put_batch(f->s, b, 2), -EINVAL);
	assert_int_equal(tw_store_count(f->s), 0);  /* the good first record was not written */
	assert_int_equal(tw_store_put_batch(f->s, NULL, 1), -EINVAL);
	assert_int_equal(tw_store_put_batch(f->s, NULL, 0), 0);
	assert_int_equal(tw_store_put_batch(NULL, b, 1), -EINVAL);

	assert_int_equal(tw_store_get(NULL, 1, &out, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(tw_store_get(f->s, 0, &out, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(tw_store_get(f->s, 1, NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(tw_store_get(f->s, 1, &out, NULL, 8), -EINVAL);
	assert_int_equal(tw_store_forget(NULL, 1), -EINVAL);
	assert_int_equal(tw_store_forget(f->s, 0), -EINVAL);
	errno = 0;
	assert_int_equal(tw_store_expire(NULL, 1, 1), 0);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(tw_store_count(NULL), 0);
	assert_int_equal(tw_store_each(NULL, never, NULL, 1), -EINVAL);
	assert_int_equal(tw_store_each(f->s, NULL, NULL, 1), -EINVAL);
	assert_int_equal(tw_store_each(f->s, never, NULL, 10), 0);  /* empty store */
	assert_int_equal(tw_store_schedule_put(NULL, "a", "x", 1), -EINVAL);
	assert_int_equal(tw_store_schedule_put(f->s, NULL, "x", 1), -EINVAL);
	assert_int_equal(tw_store_schedule_put(f->s, "", "x", 1), -EINVAL);
	assert_int_equal(tw_store_schedule_put(f->s, "a", NULL, 1), -EINVAL);
	assert_int_equal(tw_store_schedule_del(f->s, NULL), -EINVAL);
	assert_int_equal(tw_store_schedule_each(f->s, NULL, NULL), -EINVAL);
	assert_int_equal(tw_store_group_add(f->s, 0, 0, 1), -EINVAL);
	assert_int_equal(tw_store_group_add(f->s, 1, 0, 0), -EINVAL);
	assert_int_equal(tw_store_group_add(NULL, 1, 0, 1), -EINVAL);
	assert_int_equal(tw_store_group_members(f->s, 0, ids, 2), -EINVAL);
	assert_int_equal(tw_store_group_members(f->s, 1, NULL, 2), -EINVAL);
	assert_int_equal(tw_store_sync(NULL), -EINVAL);
	tw_store_close(NULL);
}

/* Held-task blobs: kept in order, survive a reopen, taken once. */
struct held_gen {
	int i, n;
	char buf[32];
};

static int
held_next(void *arg, const void **blob, uint32_t *len)
{
	struct held_gen *g = arg;

	if (g->i == g->n)
		return 0;
	*len = (uint32_t)snprintf(g->buf, sizeof(g->buf), "blob-%d", g->i++);
	*blob = g->buf;
	return 1;
}

struct held_seen {
	int n;
	char text[8][32];
};

static void
held_collect(void *arg, const void *blob, uint32_t len)
{
	struct held_seen *s = arg;

	if (s->n < 8)
		snprintf(s->text[s->n], sizeof(s->text[0]), "%.*s", (int)len, (const char *)blob);
	s->n++;
}

static void
test_store_held_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct held_gen g = { .n = 5 }, g2 = { .n = 2 };
	struct held_seen seen = { 0 };

	assert_int_equal(tw_store_held_replace(f->s, held_next, &g), 5);
	/* a replace drops what was there: 2 remain, not 7 */
	assert_int_equal(tw_store_held_replace(f->s, held_next, &g2), 2);
	assert_non_null(reopen(f, MAP, 0));
	assert_int_equal(tw_store_held_take(f->s, held_collect, &seen), 2);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.text[0], "blob-0");
	assert_string_equal(seen.text[1], "blob-1");
	/* taken once: nothing the second time */
	seen.n = 0;
	assert_int_equal(tw_store_held_take(f->s, held_collect, &seen), 0);
	assert_int_equal(seen.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_store_roundtrip),
		T(test_store_final_precedence),
		T(test_store_survives_restart),
		T(test_store_expire_removes_only_expired),
		T(test_store_default_ttl),
		T(test_store_forget),
		T(test_store_each_max),
		T(test_store_schedules),
		T(test_store_group_order),
		T(test_store_map_full_is_enospc),
		T(test_store_append_and_insert_mix),
		T(test_store_threads),
		T(test_store_rejects_unknown_version),
		T(test_store_bad_args),
		T(test_store_held_roundtrip),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
