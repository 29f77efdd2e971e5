/*
 * The remote-consumer messages of the zero-allocation codec
 * (tw_wire_consumer.h) checked against protobuf-c's generated code on the
 * same bytes: what a consumer packs with protobuf-c (libtaskwire's worker
 * API does) decodes to the same fields, and what the engine writes
 * unpacks in protobuf-c to what it wrote, byte for byte the same as
 * protobuf-c's own packing. Damage: refused where protobuf-c refuses.
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
#include "tw_wire_consumer.h"

static uint8_t buf[8192];
static struct tw_task_view views[TW_FRAME_MAX_TASKS];

static void
frame_init(Taskwire__Frame *f)
{
	taskwire__frame__init(f);
	f->magic = TW_FRAME_MAGIC;
	f->version = TW_FRAME_VERSION;
	f->frame_id = 77;
}

static void
test_wire_consumer_enums_match_proto(void **state)
{
	(void)state;
	assert_int_equal(TW_ACK_NONE, TASKWIRE__ACK_OUTCOME__ACK_NONE);
	assert_int_equal(TW_ACK_SUCCESS, TASKWIRE__ACK_OUTCOME__ACK_SUCCESS);
	assert_int_equal(TW_ACK_FAILURE, TASKWIRE__ACK_OUTCOME__ACK_FAILURE);
	assert_int_equal(TW_ACK_RETRY, TASKWIRE__ACK_OUTCOME__ACK_RETRY);
	assert_int_equal(TW_ACK_PROGRESS, TASKWIRE__ACK_OUTCOME__ACK_PROGRESS);
	assert_int_equal(TW_ACK_REJECT, TASKWIRE__ACK_OUTCOME__ACK_REJECT);
	assert_int_equal(TW_ACK_EXTEND, TASKWIRE__ACK_OUTCOME__ACK_EXTEND);
}

/* Subscribe, Heartbeat, Cancel and three Acks packed by protobuf-c decode to the same fields. */
static void
test_wire_consumer_decode_matches_protobuf_c(void **state)
{
	Taskwire__Frame f;
	Taskwire__Subscribe s = TASKWIRE__SUBSCRIBE__INIT;
	Taskwire__Heartbeat h = TASKWIRE__HEARTBEAT__INIT;
	Taskwire__Cancel c = TASKWIRE__CANCEL__INIT;
	Taskwire__Ack a[3] = { TASKWIRE__ACK__INIT, TASKWIRE__ACK__INIT, TASKWIRE__ACK__INIT };
	Taskwire__Ack *ap[3] = { &a[0], &a[1], &a[2] };
	char *queues[3] = { "q1", "images.resize", "" };
	struct tw_subscribe_view sv;
	struct tw_frame_view fv;
	struct tw_ack_view av;
	struct tw_str rest, q;
	size_t len;

	(void)state;
	frame_init(&f);
	s.consumer_id = 0x1122334455667788ull;
	s.name = "tw-worker";
	s.host = "gpu-7";
	s.n_queues = 3;
	s.queues = queues;
	s.prefetch = 1000000000u;
	s.lease_ms = 5000;
	s.heartbeat_ms = 250;
	s.hold = true;
	h.consumer_id = 42;
	c.consumer_id = 43;
	a[0].delivery_tag = (7ull << 32) | 3;
	a[0].outcome = TASKWIRE__ACK_OUTCOME__ACK_SUCCESS;
	a[0].value.data = (uint8_t *)"[1,2]";
	a[0].value.len = 5;
	a[0].runtime_ns = 123456789;
	a[1].delivery_tag = 9;
	a[1].outcome = TASKWIRE__ACK_OUTCOME__ACK_RETRY;
	a[1].error = "busy";
	a[1].countdown_ms = -1;
	a[1].max_retries = 5;
	a[2].delivery_tag = UINT64_MAX;
	a[2].outcome = TASKWIRE__ACK_OUTCOME__ACK_REJECT;
	a[2].requeue = true;
	a[2].countdown_ms = INT64_MIN;
	f.subscribe = &s;
	f.heartbeat = &h;
	f.cancel = &c;
	f.n_acks = 3;
	f.acks = ap;
	len = taskwire__frame__pack(&f, buf);

	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, TW_FRAME_MAX_TASKS),
			 TW_WIRE_OK);
	assert_true(fv.has_subscribe && fv.has_heartbeat && fv.has_cancel);
	assert_int_equal(fv.heartbeat_id, 42);
	assert_int_equal(fv.cancel_id, 43);
	assert_int_equal(fv.n_acks, 3);
	assert_int_equal(fv.n_tasks, 0);

	assert_null(tw_wire_decode_subscribe(fv.subscribe, &sv));
	assert_int_equal(sv.consumer_id, s.consumer_id);
	assert_int_equal(sv.name.len, 9);
	assert_memory_equal(sv.name.p, "tw-worker", 9);
	assert_memory_equal(sv.host.p, "gpu-7", 5);
	assert_int_equal(sv.prefetch, 1000000000u);
	assert_int_equal(sv.lease_ms, 5000);
	assert_int_equal(sv.heartbeat_ms, 250);
	assert_true(sv.hold);
	assert_int_equal(sv.n_queues, 3);
	rest = sv.queues;
	for (int i = 0; i < 3; i++) {
		assert_true(tw_wire_subscribe_queue_next(&rest, &q));
		assert_int_equal(q.len, strlen(queues[i]));
		assert_memory_equal(q.p, queues[i], q.len);
	}
	assert_false(tw_wire_subscribe_queue_next(&rest, &q));

	rest = fv.acks;
	for (int i = 0; i < 3; i++) {
		assert_true(tw_wire_ack_next(&rest, &av));
		assert_int_equal(av.tag, a[i].delivery_tag);
		assert_int_equal(av.outcome, (uint32_t)a[i].outcome);
		assert_int_equal(av.value.len, a[i].value.len);
		assert_int_equal(av.error.len, strlen(a[i].error));
		assert_true(av.countdown_ms == a[i].countdown_ms);
		assert_int_equal(av.runtime_ns, a[i].runtime_ns);
		assert_int_equal(av.requeue, a[i].requeue);
		assert_int_equal(av.max_retries, a[i].max_retries);
	}
	assert_false(tw_wire_ack_next(&rest, &av));
}

/* What the engine writes: protobuf-c reads it back, and packs the same message to the same bytes. */
static void
test_wire_consumer_encode_same_bytes_as_protobuf_c(void **state)
{
	static uint8_t ours[4096], theirs[4096];
	Taskwire__Task t = TASKWIRE__TASK__INIT;
	uint8_t task[256];
	size_t task_len, their_len;
	struct tw_wbuf w;
	Taskwire__Frame *u, f;
	Taskwire__Deliver d = TASKWIRE__DELIVER__INIT, *dp[2] = { &d, &d };
	Taskwire__ConsumerReply cr = TASKWIRE__CONSUMER_REPLY__INIT, *crp[1] = { &cr };
	Taskwire__AckReply ar = TASKWIRE__ACK_REPLY__INIT, ar2 = TASKWIRE__ACK_REPLY__INIT;
	Taskwire__AckReply *arp[2] = { &ar, &ar2 };

	(void)state;
	t.id = 99;
	t.name = "example.wordcount";
	t.args.data = (uint8_t *)"a b c";
	t.args.len = 5;
	t.routing_key = "q1";
	task_len = taskwire__task__pack(&t, task);

	tw_wbuf_init(&w, ours, sizeof(ours));
	tw_wire_put_header(&w, 77);
	{
		struct tw_wire_deliver wd = {
			.tag = (3ull << 32) | 17, .delivery_count = 2, .queue = "q1", .queue_len = 2,
			.task = task, .task_len = (uint32_t)task_len, .retries = 4,
			.root_id = 0xabcdef, .parent_id = 0, .lease_ms = 30000,
			.has_args = true, .args = (const uint8_t *)"[5]", .args_len = 3,
			.consumer_id = 0x8877665544332211ull,
		};

		tw_wire_put_deliver(&w, &wd);
		tw_wire_put_deliver(&w, &wd);
	}
	{
		struct tw_wire_consumer_reply wr = { .consumer_id = 5, .ok = true, .prefetch = 256,
						     .lease_ms = 100, .heartbeat_ms = 600000 };

		assert_int_equal(tw_wire_consumer_reply_size(&wr), 22); /* 20 bytes of body */
		tw_wire_put_consumer_reply(&w, &wr);
	}
	tw_wire_put_ack_reply(&w, 12345, false, "stale delivery tag");
	tw_wire_put_ack_reply(&w, 1, true, NULL);
	assert_false(w.overflow);

	/* protobuf-c reads it */
	u = taskwire__frame__unpack(NULL, w.len, ours);
	assert_non_null(u);
	assert_int_equal(u->n_deliveries, 2);
	assert_int_equal(u->deliveries[0]->delivery_tag, (3ull << 32) | 17);
	assert_int_equal(u->deliveries[0]->delivery_count, 2);
	assert_string_equal(u->deliveries[0]->queue, "q1");
	assert_int_equal(u->deliveries[0]->task->id, 99);
	assert_string_equal(u->deliveries[0]->task->name, "example.wordcount");
	assert_int_equal(u->deliveries[0]->retries, 4);
	assert_int_equal(u->deliveries[0]->root_id, 0xabcdef);
	assert_int_equal(u->deliveries[0]->lease_ms, 30000);
	assert_true(u->deliveries[0]->has_args);
	assert_memory_equal(u->deliveries[0]->args.data, "[5]", 3);
	assert_true(u->deliveries[0]->consumer_id == 0x8877665544332211ull);
	assert_int_equal(u->n_consumers, 1);
	assert_true(u->consumers[0]->ok);
	assert_int_equal(u->consumers[0]->prefetch, 256);
	assert_int_equal(u->consumers[0]->heartbeat_ms, 600000);
	assert_int_equal(u->n_ack_replies, 2);
	assert_false(u->ack_replies[0]->ok);
	assert_string_equal(u->ack_replies[0]->detail, "stale delivery tag");
	assert_true(u->ack_replies[1]->ok);
	taskwire__frame__free_unpacked(u, NULL);

	/* and packs the same message to the same bytes */
	frame_init(&f);
	d.delivery_tag = (3ull << 32) | 17;
	d.delivery_count = 2;
	d.queue = "q1";
	d.task = &t;
	d.retries = 4;
	d.root_id = 0xabcdef;
	d.lease_ms = 30000;
	d.args.data = (uint8_t *)"[5]";
	d.args.len = 3;
	d.has_args = true;
	d.consumer_id = 0x8877665544332211ull;
	cr.consumer_id = 5;
	cr.ok = true;
	cr.prefetch = 256;
	cr.lease_ms = 100;
	cr.heartbeat_ms = 600000;
	ar.delivery_tag = 12345;
	ar.detail = "stale delivery tag";
	ar2.delivery_tag = 1;
	ar2.ok = true;
	f.n_deliveries = 2;
	f.deliveries = dp;
	f.n_consumers = 1;
	f.consumers = crp;
	f.n_ack_replies = 2;
	f.ack_replies = arp;
	their_len = taskwire__frame__pack(&f, theirs);
	assert_int_equal(their_len, w.len);
	assert_memory_equal(theirs, ours, their_len);

	/* the engine's own messages in a frame it receives: skipped, but validated */
	{
		struct tw_frame_view fv;

		assert_int_equal(tw_wire_decode_frame(ours, w.len, &fv, views, TW_FRAME_MAX_TASKS),
				 TW_WIRE_OK);
		assert_false(fv.has_subscribe);
		assert_int_equal(fv.n_acks, 0);
	}
}

/* A delivery that does not fit the buffer leaves it marked overflowed, never written past. */
static void
test_wire_consumer_encode_overflow(void **state)
{
	uint8_t small[40];
	uint8_t task[64] = { 0 };
	struct tw_wbuf w;
	struct tw_wire_deliver wd = { .tag = 1, .task = task, .task_len = sizeof(task) };

	(void)state;
	tw_wbuf_init(&w, small, sizeof(small));
	tw_wire_put_deliver(&w, &wd);
	assert_true(w.overflow);
	assert_true(w.len <= sizeof(small));
}

static size_t
frame_with(const uint8_t *body, size_t n)
{
	static const uint8_t head[] = { 0x0d, 0x54, 0x57, 0x46, 0x31, 0x10, 0x01 };

	memcpy(buf, head, sizeof(head));
	memcpy(buf + sizeof(head), body, n);
	return sizeof(head) + n;
}

/* Damage in consumer messages: refused where protobuf-c refuses; a second Subscribe refused. */
static void
test_wire_consumer_damage_refused(void **state)
{
	static const uint8_t cases[][12] = {
		/* len, bytes */
		{ 4, 0x52, 0x02, 0x08, 0x01 },                   /* subscribe.consumer_id as varint */
		{ 4, 0x52, 0x02, 0x28, 0x80 },                   /* subscribe.prefetch truncated varint */
		{ 4, 0x5a, 0x02, 0x0a, 0x00 },                   /* cancel.consumer_id as bytes */
		{ 4, 0x6a, 0x02, 0x10, 0x80 },                   /* ack.outcome truncated */
		{ 4, 0x6a, 0x02, 0x1a, 0x05 },                   /* ack.value longer than the message */
		{ 3, 0x6a, 0x05, 0x09 },                         /* ack longer than the frame */
		{ 4, 0x72, 0x02, 0x22, 0x01 },                   /* deliver.task truncated */
		{ 6, 0x72, 0x04, 0x22, 0x02, 0x08, 0x01 },       /* deliver.task.id as varint */
		{ 4, 0x7a, 0x02, 0x10, 0xff },                   /* consumer reply.ok truncated */
		{ 6, 0x82, 0x01, 0x02, 0x1a, 0x01, 0x00 },       /* ack reply detail past the end */
		{ 2, 0x50, 0x01 },                               /* subscribe as a varint */
	};
	struct tw_frame_view fv;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = frame_with(&cases[i][1], cases[i][0]);
		Taskwire__Frame *u = taskwire__frame__unpack(NULL, len, buf);

		if (u != NULL)
			fail_msg("case %zu: protobuf-c takes it", i);
		if (tw_wire_decode_frame(buf, (uint32_t)len, &fv, views, TW_FRAME_MAX_TASKS) !=
		    TW_WIRE_MALFORMED)
			fail_msg("case %zu: accepted", i);
	}
	/* the publisher's reply decoder validates them too (found by fuzz_wire: it skipped them) */
	{
		struct tw_reply_item items[4];
		uint64_t fid;
		size_t len = frame_with(&cases[0][1], cases[0][0]);

		assert_int_equal(tw_wire_decode_replies(buf, (uint32_t)len, &fid, items, 4), -1);
		len = frame_with((const uint8_t[]){ 0x7a, 0x02, 0x10, 0x01 }, 4); /* reply { ok } */
		assert_int_equal(tw_wire_decode_replies(buf, (uint32_t)len, &fid, items, 4), 0);
	}
	/* two subscribes in one frame: protobuf would merge them; we refuse */
	{
		static const uint8_t two[] = { 0x52, 0x00, 0x52, 0x00 };
		size_t len = frame_with(two, sizeof(two));

		assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views,
						      TW_FRAME_MAX_TASKS),
				 TW_WIRE_MALFORMED);
	}
	/* an empty Subscribe is well formed (its fields are checked by the engine) */
	{
		static const uint8_t empty[] = { 0x52, 0x00 };
		size_t len = frame_with(empty, sizeof(empty));
		struct tw_subscribe_view sv;

		assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, views,
						      TW_FRAME_MAX_TASKS),
				 TW_WIRE_OK);
		assert_true(fv.has_subscribe);
		assert_null(tw_wire_decode_subscribe(fv.subscribe, &sv));
		assert_int_equal(sv.consumer_id, 0);
		assert_int_equal(sv.n_queues, 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_consumer_enums_match_proto),
		cmocka_unit_test(test_wire_consumer_decode_matches_protobuf_c),
		cmocka_unit_test(test_wire_consumer_encode_same_bytes_as_protobuf_c),
		cmocka_unit_test(test_wire_consumer_encode_overflow),
		cmocka_unit_test(test_wire_consumer_damage_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
