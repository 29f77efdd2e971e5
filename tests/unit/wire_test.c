/*
 * tw_wire (the zero-allocation frame codec) checked against protobuf-c's
 * generated code on the same bytes: frames packed by protobuf-c decode to
 * the same fields, and frames we encode unpack in protobuf-c to what we
 * wrote. Bad input: each kind of damage gives its status, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskwire.pb-c.h"
#include "tw_wire.h"

static uint8_t buf[65536];
static struct tw_task_view views[TW_FRAME_MAX_TASKS];

/* Pack a frame of n tasks with protobuf-c; task i has id i+1. */
static size_t
pack_frame(uint32_t version, uint64_t frame_id, unsigned n, const char *args)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Task *tasks = calloc(n, sizeof(*tasks));
	Taskwire__Task **tp = calloc(n, sizeof(*tp));
	Taskwire__Header h1 = TASKWIRE__HEADER__INIT, h2 = TASKWIRE__HEADER__INIT;
	Taskwire__Header *hp[2] = { &h1, &h2 };
	size_t len;

	h1.key = "region";
	h1.value = "eu";
	h2.key = "tier";
	h2.value = "";
	for (unsigned i = 0; i < n; i++) {
		taskwire__task__init(&tasks[i]);
		tasks[i].id = i + 1;
		tasks[i].name = "add";
		tasks[i].exchange = i % 2 ? "ex" : "";
		tasks[i].routing_key = "q1";
		tasks[i].args.data = (uint8_t *)args;
		tasks[i].args.len = strlen(args);
		tasks[i].priority = i;
		if (i == 0) {
			tasks[i].n_headers = 2;
			tasks[i].headers = hp;
		}
		tp[i] = &tasks[i];
	}
	f.magic = TW_FRAME_MAGIC;
	f.version = version;
	f.frame_id = frame_id;
	f.n_tasks = n;
	f.tasks = tp;
	len = taskwire__frame__pack(&f, buf);
	free(tasks);
	free(tp);
	return len;
}

static void
test_wire_decode_matches_protobuf_c(void **state)
{
	struct tw_frame_view fv;
	size_t len = pack_frame(1, 0x1122334455667788ull, 40, "[2,3]");
	Taskwire__Frame *ref = taskwire__frame__unpack(NULL, len, buf);

	(void)state;
	assert_non_null(ref);
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, TW_FRAME_MAX_TASKS),
			 TW_WIRE_OK);
	assert_int_equal(fv.version, ref->version);
	assert_true(fv.frame_id == ref->frame_id);
	assert_int_equal(fv.n_tasks, ref->n_tasks);
	for (unsigned i = 0; i < fv.n_tasks; i++) {
		const Taskwire__Task *t = ref->tasks[i];

		assert_true(views[i].id == t->id);
		assert_int_equal(views[i].name.len, strlen(t->name));
		assert_memory_equal(views[i].name.p, t->name, views[i].name.len);
		assert_int_equal(views[i].exchange.len, strlen(t->exchange));
		assert_int_equal(views[i].routing_key.len, strlen(t->routing_key));
		assert_memory_equal(views[i].routing_key.p, t->routing_key, 2);
		assert_int_equal(views[i].args.len, t->args.len);
		assert_memory_equal(views[i].args.p, t->args.data, t->args.len);
		assert_int_equal(views[i].priority, t->priority);
		assert_int_equal(views[i].n_headers, t->n_headers);
	}
	taskwire__frame__free_unpacked(ref, NULL);
}

static void
test_wire_magic_required(void **state)
{
	struct tw_frame_view fv;
	uint8_t junk[] = "hello, not a frame";
	size_t len = pack_frame(1, 7, 1, "[]");

	(void)state;
	assert_int_equal(tw_wire_decode_frame(junk, sizeof(junk), &fv, views, 4),
			 TW_WIRE_NOT_TASKWIRE);
	assert_int_equal(tw_wire_decode_frame(buf, 3, &fv, views, 4), TW_WIRE_NOT_TASKWIRE);
	buf[1] ^= 0xff;
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, 4),
			 TW_WIRE_NOT_TASKWIRE);
}

static void
test_wire_every_truncation_is_refused(void **state)
{
	struct tw_frame_view fv;
	size_t len = pack_frame(1, 99, 3, "[1,2]");

	(void)state;
	/* A cut inside a task must be MALFORMED, never OK or a crash; a cut that
	 * falls exactly between tasks is a valid shorter frame (protobuf cannot
	 * tell), which the publisher learns from the missing confirms. The frame
	 * id, which precedes the tasks, is always reported. */
	unsigned malformed = 0;

	for (size_t cut = 16; cut < len; cut++) {
		enum tw_wire_status st = tw_wire_decode_frame(buf, (uint32_t)cut, &fv, views, 8);

		assert_true(st == TW_WIRE_MALFORMED || (st == TW_WIRE_OK && fv.n_tasks < 3));
		assert_true(fv.frame_id == 99);
		if (st == TW_WIRE_MALFORMED) {
			assert_non_null(fv.error);
			malformed++;
		}
	}
	assert_int_equal(malformed, len - 16 - 3); /* every cut but the 3 task boundaries */
}

static void
test_wire_bad_version(void **state)
{
	struct tw_frame_view fv;
	size_t len = pack_frame(2, 5, 1, "[]");

	(void)state;
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, 8),
			 TW_WIRE_BAD_VERSION);
	assert_int_equal(fv.version, 2);
	assert_true(fv.frame_id == 5);
	/* proto3 leaves version 0 off the wire: still a bad version. */
	len = pack_frame(0, 5, 1, "[]");
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, 8),
			 TW_WIRE_BAD_VERSION);
}

static void
test_wire_too_many_tasks(void **state)
{
	struct tw_frame_view fv;
	size_t len = pack_frame(1, 5, 9, "[]");

	(void)state;
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, 8),
			 TW_WIRE_MALFORMED);
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, 9), TW_WIRE_OK);
}

static void
test_wire_wrong_wire_type_and_overlong_varint(void **state)
{
	struct tw_frame_view fv;
	/* magic, then field 2 (version) as a length-delimited field */
	uint8_t bad_type[] = { 0x0d, 0x54, 0x57, 0x46, 0x31, 0x12, 0x01, 0x01 };
	/* magic, version with an 11-byte varint */
	uint8_t long_varint[] = { 0x0d, 0x54, 0x57, 0x46, 0x31, 0x10, 0xff, 0xff, 0xff, 0xff,
				  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	/* magic, version 1, a task whose name length runs past the end */
	uint8_t bad_len[] = { 0x0d, 0x54, 0x57, 0x46, 0x31, 0x10, 0x01, 0x22, 0x03, 0x12, 0x7f, 0x61 };
	/* magic, version 1, an unknown group-start wire type */
	uint8_t group[] = { 0x0d, 0x54, 0x57, 0x46, 0x31, 0x10, 0x01, 0x4b };

	(void)state;
	assert_int_equal(tw_wire_decode_frame(bad_type, sizeof(bad_type), &fv, views, 8),
			 TW_WIRE_MALFORMED);
	assert_int_equal(tw_wire_decode_frame(long_varint, sizeof(long_varint), &fv, views, 8),
			 TW_WIRE_MALFORMED);
	assert_int_equal(tw_wire_decode_frame(bad_len, sizeof(bad_len), &fv, views, 8),
			 TW_WIRE_MALFORMED);
	assert_int_equal(tw_wire_decode_frame(group, sizeof(group), &fv, views, 8),
			 TW_WIRE_MALFORMED);
}

static void
test_wire_unknown_fields_skipped(void **state)
{
	struct tw_frame_view fv;
	/* magic, version 1, field 40 varint, field 41 fixed32, then one empty task
	 * (numbers no Frame field has: 10..16 are the remote-consumer messages) */
	uint8_t fwd[] = { 0x0d, 0x54, 0x57, 0x46, 0x31, 0x10, 0x01, 0xc0, 0x02, 0x05,
			  0xcd, 0x02, 1, 2, 3, 4, 0x22, 0x00 };

	(void)state;
	assert_int_equal(tw_wire_decode_frame(fwd, sizeof(fwd), &fv, views, 8), TW_WIRE_OK);
	assert_int_equal(fv.n_tasks, 1);
	assert_true(views[0].id == 0);
}

static void
test_wire_encode_unpacks_in_protobuf_c(void **state)
{
	struct tw_wbuf w;
	Taskwire__Frame *f;
	static const uint8_t value[] = "5";

	(void)state;
	tw_wbuf_init(&w, buf, sizeof(buf));
	tw_wire_put_header(&w, 0xabcdef0123456789ull);
	tw_wire_put_confirm(&w, 42, true, TW_NACK_NONE, NULL);
	tw_wire_put_confirm(&w, 43, false, TW_NACK_QUEUE_FULL, "queue full");
	tw_wire_put_confirm(&w, 0, false, TW_NACK_MALFORMED, NULL);
	tw_wire_put_result(&w, 42, TW_ST_SUCCESS, value, 1, NULL, 0, 1234567);
	tw_wire_put_result(&w, 44, TW_ST_FAILURE, NULL, 0, "boom", 4, 0);
	assert_false(w.overflow);

	f = taskwire__frame__unpack(NULL, w.len, buf);
	assert_non_null(f);
	assert_int_equal(f->magic, TW_FRAME_MAGIC);
	assert_int_equal(f->version, TW_FRAME_VERSION);
	assert_true(f->frame_id == 0xabcdef0123456789ull);
	assert_int_equal(f->n_confirms, 3);
	assert_true(f->confirms[0]->task_id == 42 && f->confirms[0]->ack);
	assert_true(f->confirms[1]->task_id == 43 && !f->confirms[1]->ack);
	assert_int_equal(f->confirms[1]->reason, TASKWIRE__NACK_REASON__NACK_QUEUE_FULL);
	assert_string_equal(f->confirms[1]->detail, "queue full");
	assert_true(f->confirms[2]->task_id == 0);
	assert_int_equal(f->confirms[2]->reason, TASKWIRE__NACK_REASON__NACK_MALFORMED);
	assert_int_equal(f->n_results, 2);
	assert_int_equal(f->results[0]->state, TASKWIRE__TASK_STATE__SUCCESS);
	assert_int_equal(f->results[0]->value.len, 1);
	assert_true(f->results[0]->runtime_ns == 1234567);
	assert_int_equal(f->results[1]->state, TASKWIRE__TASK_STATE__FAILURE);
	assert_string_equal(f->results[1]->error, "boom");
	taskwire__frame__free_unpacked(f, NULL);
}

/* Celery's options (eta, expires, retries, retry policy, ignore_result,
 * result_expires) decode to what protobuf-c packed, and a second retry
 * policy occurrence is read as protobuf-c reads it (it replaces the first). */
static void
test_wire_decode_task_options_match_protobuf_c(void **state)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Task t = TASKWIRE__TASK__INIT, *tp = &t;
	Taskwire__RetryPolicy rp = TASKWIRE__RETRY_POLICY__INIT;
	struct tw_frame_view fv;
	size_t len;

	(void)state;
	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.n_tasks = 1;
	f.tasks = &tp;
	t.id = 7;
	t.name = (char *)"add";
	t.eta_ms = 1767225600123ull;
	t.expires_ms = 1767225601000ull;
	t.retries = 4;
	t.ignore_result = true;
	t.result_expires_s = 3600;
	rp.max_retries = 5;
	rp.countdown_ms = 250;
	rp.backoff = true;
	rp.backoff_max_ms = 9000;
	rp.jitter = true;
	rp.autoretry = true;
	t.retry = &rp;
	len = taskwire__frame__pack(&f, buf);
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, TW_FRAME_MAX_TASKS),
			 TW_WIRE_OK);
	assert_true(views[0].eta_ms == t.eta_ms && views[0].expires_ms == t.expires_ms);
	assert_int_equal(views[0].retries, 4);
	assert_true(views[0].ignore_result);
	assert_int_equal(views[0].result_expires_s, 3600);
	assert_true(views[0].has_retry);
	assert_int_equal(views[0].retry.max_retries, 5);
	assert_int_equal(views[0].retry.countdown_ms, 250);
	assert_int_equal(views[0].retry.backoff_max_ms, 9000);
	assert_true(views[0].retry.backoff && views[0].retry.jitter && views[0].retry.autoretry);
	/* the raw span is the whole Task message: protobuf-c unpacks it alone */
	{
		Taskwire__Task *again = taskwire__task__unpack(NULL, views[0].raw.len, views[0].raw.p);

		assert_non_null(again);
		assert_true(again->eta_ms == t.eta_ms && again->retry->max_retries == 5);
		taskwire__task__free_unpacked(again, NULL);
	}
	/* a second RetryPolicy occurrence: whatever protobuf-c makes of it, so do we */
	{
		static const uint8_t extra[] = { (11 << 3) | 2, 2, (2 << 3) | 0, 99 };
		Taskwire__Frame *ref;

		/* the task's bytes with the extra occurrence appended, framed again */
		{
			uint8_t task_bytes[512];
			size_t tl = taskwire__task__pack(&t, task_bytes);
			struct tw_wbuf w;

			memcpy(task_bytes + tl, extra, sizeof(extra));
			tl += sizeof(extra);
			tw_wbuf_init(&w, buf, sizeof(buf));
			tw_wire_put_header(&w, 0);
			tw_wire_put_task_raw(&w, task_bytes, (uint32_t)tl);
			len = w.len;
		}
		ref = taskwire__frame__unpack(NULL, len, buf);
		assert_non_null(ref);
		assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views,
						      TW_FRAME_MAX_TASKS), TW_WIRE_OK);
		assert_int_equal(views[0].retry.countdown_ms, ref->tasks[0]->retry->countdown_ms);
		assert_int_equal(views[0].retry.max_retries, ref->tasks[0]->retry->max_retries);
		assert_int_equal(views[0].retry.countdown_ms, 99);
		taskwire__frame__free_unpacked(ref, NULL);
	}
}

/* A length written as an overlong 10-byte varint: protobuf-c refuses it,
 * so both our decoders must (found by fuzz_wire). */
static void
test_wire_overlong_length_refused(void **state)
{
	static const uint8_t in[] = { 0x0d, 'T', 'W', 'F', '1', 0x2a, 0x80, 0x80, 0x80, 0x80, 0x80,
				      0x80, 0x80, 0x80, 0x80, 0x00, 0x2a, 0x00 };
	struct tw_reply_item items[4];
	struct tw_frame_view fv;
	uint64_t fid;

	(void)state;
	assert_null(taskwire__frame__unpack(NULL, sizeof(in), in));
	assert_int_equal(tw_wire_decode_replies(in, sizeof(in), &fid, items, 4), -1);
	assert_int_equal(tw_wire_decode_frame(in, sizeof(in), &fv, views, TW_FRAME_MAX_TASKS),
			 TW_WIRE_MALFORMED);
}

/* Store records carry every Result field; protobuf-c reads them back. */
static void
test_wire_record_unpacks_in_protobuf_c(void **state)
{
	struct tw_wire_result r = {
		.task_id = 9, .state = TW_ST_RETRY, .value = (const uint8_t *)"v", .value_len = 1,
		.error = "try again", .error_len = 9, .name = "flaky", .name_len = 5,
		.runtime_ns = 77, .retries = 2, .result_expires_s = 60, .eta_ms = 123456789,
	};
	struct tw_wbuf w;
	Taskwire__Frame *f;

	(void)state;
	tw_wbuf_init(&w, buf, sizeof(buf));
	tw_wire_put_header(&w, 0);
	tw_wire_put_record(&w, &r);
	assert_int_equal(w.len, 7 + tw_wire_record_size(&r));
	f = taskwire__frame__unpack(NULL, w.len, buf);
	assert_non_null(f);
	assert_int_equal(f->n_results, 1);
	assert_true(f->results[0]->task_id == 9);
	assert_int_equal(f->results[0]->state, TASKWIRE__TASK_STATE__RETRY);
	assert_string_equal(f->results[0]->error, "try again");
	assert_string_equal(f->results[0]->task_name, "flaky");
	assert_int_equal(f->results[0]->retries, 2);
	assert_int_equal(f->results[0]->result_expires_s, 60);
	assert_true(f->results[0]->eta_ms == 123456789);
	taskwire__frame__free_unpacked(f, NULL);
}

static void
test_wire_encode_same_bytes_as_protobuf_c(void **state)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Result r = TASKWIRE__RESULT__INIT;
	Taskwire__Result *rp = &r;
	uint8_t ref[256];
	size_t ref_len;
	struct tw_wbuf w;

	(void)state;
	f.magic = TW_FRAME_MAGIC;
	f.version = 1;
	f.frame_id = 0;
	f.n_results = 1;
	f.results = &rp;
	r.task_id = 77;
	r.state = TASKWIRE__TASK_STATE__SUCCESS;
	r.value.data = (uint8_t *)"[1,2]";
	r.value.len = 5;
	r.runtime_ns = 300;
	r.error = "";
	ref_len = taskwire__frame__pack(&f, ref);

	tw_wbuf_init(&w, buf, sizeof(buf));
	tw_wire_put_header(&w, 0);
	tw_wire_put_result(&w, 77, TW_ST_SUCCESS, (const uint8_t *)"[1,2]", 5, NULL, 0, 300);
	assert_int_equal(w.len, ref_len);
	assert_memory_equal(buf, ref, ref_len);
	assert_true(tw_wire_result_size(5, 0, 300) >= w.len - 7);
}

static void
test_wire_encode_overflow_is_sticky(void **state)
{
	struct tw_wbuf w;
	uint8_t small[16];

	(void)state;
	tw_wbuf_init(&w, small, sizeof(small));
	tw_wire_put_header(&w, 1);
	assert_false(w.overflow);
	tw_wire_put_confirm(&w, 1, true, 0, NULL);
	assert_true(w.overflow);
	assert_true(w.len <= sizeof(small));
}

/* The publisher encoder writes the bytes protobuf-c writes, and ids patch in place. */
static void
test_wire_publisher_tasks_same_bytes(void **state)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Task t[2], *tp[2] = { &t[0], &t[1] };
	uint8_t ours[512], theirs[512];
	struct tw_wbuf w;
	uint32_t off[2];
	size_t n;
	Taskwire__Frame *back;
	uint64_t patched = 0x0102030405060708ull;

	(void)state;
	taskwire__task__init(&t[0]);
	taskwire__task__init(&t[1]);
	t[0].id = 11;
	t[0].name = (char *)"noop";
	t[0].routing_key = (char *)"bench";
	t[1].id = 12;
	t[1].name = (char *)"add";
	t[1].exchange = (char *)"jobs";
	t[1].routing_key = (char *)"red";
	t[1].args.data = (uint8_t *)"[2,3]";
	t[1].args.len = 5;
	t[1].priority = 300;
	t[1].eta_ms = 5;
	t[1].expires_ms = 6;
	t[1].ignore_result = true;
	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.frame_id = 77;
	f.n_tasks = 2;
	f.tasks = tp;
	n = taskwire__frame__pack(&f, theirs);

	tw_wbuf_init(&w, ours, sizeof(ours));
	tw_wire_put_header(&w, 77);
	off[0] = tw_wire_put_task(&w, 11, "noop", "", "bench", NULL, 0, NULL);
	off[1] = tw_wire_put_task(&w, 12, "add", "jobs", "red", "[2,3]", 5,
				  &(struct tw_wire_task_opts){ .priority = 300, .eta_ms = 5,
							       .expires_ms = 6,
							       .ignore_result = true });
	assert_false(w.overflow);
	assert_int_equal(w.len, n);
	assert_memory_equal(ours, theirs, n);

	memcpy(ours + off[1], &patched, 8);
	memcpy(ours + TW_WIRE_FRAME_ID_OFFSET, &patched, 8);
	back = taskwire__frame__unpack(NULL, w.len, ours);
	assert_non_null(back);
	assert_int_equal(back->tasks[1]->id, patched);
	assert_int_equal(back->tasks[0]->id, 11);
	assert_int_equal(back->frame_id, patched);
	taskwire__frame__free_unpacked(back, NULL);

	tw_wbuf_init(&w, ours, 20);
	tw_wire_put_header(&w, 77);
	assert_int_equal(tw_wire_put_task(&w, 1, "noop", "", "q", NULL, 0, NULL), UINT32_MAX);
}

/* Reply decoding agrees with protobuf-c, and refuses damage. */
static void
test_wire_publisher_decodes_replies(void **state)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Confirm c[2], *cp[2] = { &c[0], &c[1] };
	Taskwire__Result r, *rp = &r;
	struct tw_reply_item items[8];
	uint8_t buf[512];
	uint64_t fid;
	size_t n;

	(void)state;
	taskwire__confirm__init(&c[0]);
	taskwire__confirm__init(&c[1]);
	taskwire__result__init(&r);
	c[0].task_id = 5;
	c[0].ack = true;
	c[1].task_id = 6;
	c[1].reason = TASKWIRE__NACK_REASON__NACK_QUEUE_FULL;
	c[1].detail = (char *)"queue full";
	r.task_id = 5;
	r.state = TASKWIRE__TASK_STATE__SUCCESS;
	r.value.data = (uint8_t *)"5";
	r.value.len = 1;
	r.runtime_ns = 99;
	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.frame_id = 42;
	f.n_confirms = 2;
	f.confirms = cp;
	f.n_results = 1;
	f.results = &rp;
	n = taskwire__frame__pack(&f, buf);
	assert_int_equal(tw_wire_decode_replies(buf, (uint32_t)n, &fid, items, 8), 3);
	assert_int_equal(fid, 42);
	assert_int_equal(items[0].kind, TW_ITEM_CONFIRM);
	assert_true(items[0].ack);
	assert_int_equal(items[0].task_id, 5);
	assert_int_equal(items[1].kind, TW_ITEM_CONFIRM);
	assert_false(items[1].ack);
	assert_int_equal(items[1].reason, TW_NACK_QUEUE_FULL);
	assert_int_equal(items[2].kind, TW_ITEM_RESULT);
	assert_int_equal(items[2].state, TW_ST_SUCCESS);
	assert_int_equal(items[2].task_id, 5);
	assert_int_equal(tw_wire_decode_replies(buf, (uint32_t)n, &fid, items, 1), 1);
	/* every truncation: accepted only where protobuf-c accepts it too (a field boundary) */
	for (size_t cut = 1; cut < n; cut++)
		if (tw_wire_decode_replies(buf, (uint32_t)cut, &fid, items, 8) >= 0) {
			Taskwire__Frame *pf = taskwire__frame__unpack(NULL, cut, buf);

			assert_non_null(pf);
			taskwire__frame__free_unpacked(pf, NULL);
		}
	assert_int_equal(tw_wire_decode_replies((const uint8_t *)"junk", 4, &fid, items, 8), -1);
}

static void
test_wire_enums_match_proto(void **state)
{
	(void)state;
	assert_int_equal(TW_NACK_MALFORMED, TASKWIRE__NACK_REASON__NACK_MALFORMED);
	assert_int_equal(TW_NACK_BAD_VERSION, TASKWIRE__NACK_REASON__NACK_BAD_VERSION);
	assert_int_equal(TW_NACK_TOO_LARGE, TASKWIRE__NACK_REASON__NACK_TOO_LARGE);
	assert_int_equal(TW_NACK_UNROUTABLE, TASKWIRE__NACK_REASON__NACK_UNROUTABLE);
	assert_int_equal(TW_NACK_QUEUE_FULL, TASKWIRE__NACK_REASON__NACK_QUEUE_FULL);
	assert_int_equal(TW_NACK_UNKNOWN_EXCHANGE, TASKWIRE__NACK_REASON__NACK_UNKNOWN_EXCHANGE);
	assert_int_equal(TW_NACK_NO_RESOURCES, TASKWIRE__NACK_REASON__NACK_NO_RESOURCES);
	assert_int_equal(TW_NACK_INVALID_TASK, TASKWIRE__NACK_REASON__NACK_INVALID_TASK);
	assert_int_equal(TW_NACK_ACCESS_REFUSED, TASKWIRE__NACK_REASON__NACK_ACCESS_REFUSED);
	assert_int_equal(TW_NACK_NO_SCHEDULER, TASKWIRE__NACK_REASON__NACK_NO_SCHEDULER);
	assert_int_equal(TW_NACK_RETRY_WITH_COOKIE, TASKWIRE__NACK_REASON__NACK_RETRY_WITH_COOKIE);
	assert_int_equal(TW_ST_RETRY, TASKWIRE__TASK_STATE__RETRY);
	assert_int_equal(TW_ST_PROGRESS, TASKWIRE__TASK_STATE__PROGRESS);
	assert_int_equal(TW_ST_REVOKED, TASKWIRE__TASK_STATE__REVOKED);
	assert_int_equal(TW_ST_SUCCESS, TASKWIRE__TASK_STATE__SUCCESS);
	assert_int_equal(TW_ST_FAILURE, TASKWIRE__TASK_STATE__FAILURE);
	assert_int_equal(TW_ST_EXPIRED, TASKWIRE__TASK_STATE__EXPIRED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_decode_matches_protobuf_c),
		cmocka_unit_test(test_wire_publisher_tasks_same_bytes),
		cmocka_unit_test(test_wire_publisher_decodes_replies),
		cmocka_unit_test(test_wire_magic_required),
		cmocka_unit_test(test_wire_every_truncation_is_refused),
		cmocka_unit_test(test_wire_bad_version),
		cmocka_unit_test(test_wire_too_many_tasks),
		cmocka_unit_test(test_wire_wrong_wire_type_and_overlong_varint),
		cmocka_unit_test(test_wire_unknown_fields_skipped),
		cmocka_unit_test(test_wire_encode_unpacks_in_protobuf_c),
		cmocka_unit_test(test_wire_encode_same_bytes_as_protobuf_c),
		cmocka_unit_test(test_wire_encode_overflow_is_sticky),
		cmocka_unit_test(test_wire_enums_match_proto),
		cmocka_unit_test(test_wire_decode_task_options_match_protobuf_c),
		cmocka_unit_test(test_wire_record_unpacks_in_protobuf_c),
		cmocka_unit_test(test_wire_overlong_length_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
