/*
 * Dispatch and route stages on real mbufs (dataplane/tw_dispatch.c,
 * tw_route.c, tw_enqueue.c): publishers' frames go through
 * tw_dispatch_burst under a real routing table, and the test checks the
 * confirm each task gets (decoded from the packets staged for TX), the
 * descriptors in the queue rings, the counters, and that every mbuf and
 * descriptor is back in its pool afterwards: a queued descriptor holds
 * its frame until it is released.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dp_fixture.h"
#include "tw_dispatch.h"
#include "tw_route.h"
#include "tw_task.h"

/*
 * Queues: "work" (holds 7), "tiny" (holds 3, drop-head, its
 * dead-letters to exchange "dlx" -> "graveyard"), "strict" (holds 3,
 * reject-publish-dlx, dead-letters to "dlx" with key "late");
 * exchanges: "jobs" direct (work by "w", both work and tiny by "both"),
 * "inner" internal, "front" with alternate "jobs".
 */
static struct tw_routes *rt;

static int
setup(void **state)
{
	static struct tw_def_queue q[] = {
		{ .name = "work", .max_length = 7 },
		{ .name = "tiny", .max_length = 3, .overflow = TW_OVERFLOW_DROP_HEAD, .dlx = "dlx" },
		{ .name = "strict", .max_length = 3, .overflow = TW_OVERFLOW_REJECT_PUBLISH_DLX,
		  .dlx = "dlx", .has_dl_key = 1, .dl_key = "late" },
		{ .name = "graveyard", .max_length = 63 },
	};
	static const struct tw_def_exchange x[] = {
		{ .name = "jobs", .slot = 1, .type = TW_EX_DIRECT },
		{ .name = "inner", .slot = 2, .type = TW_EX_DIRECT, .flags = TW_EX_F_INTERNAL },
		{ .name = "front", .slot = 3, .type = TW_EX_DIRECT, .alternate = "jobs" },
		{ .name = "dlx", .slot = 4, .type = TW_EX_FANOUT },
	};
	static const struct tw_def_binding b[] = {
		{ "jobs", "work", "w", TW_DEST_QUEUE, 0, 0, NULL },
		{ "jobs", "work", "both", TW_DEST_QUEUE, 0, 0, NULL },
		{ "jobs", "tiny", "both", TW_DEST_QUEUE, 0, 0, NULL },
		{ "inner", "work", "w", TW_DEST_QUEUE, 0, 0, NULL },
		{ "dlx", "graveyard", "", TW_DEST_QUEUE, 0, 0, NULL },
	};

	(void)state;
	if (dp_up("dispatch", TW_ROLE_IO, false) != 0)
		return -1;
	rt = dp_routes(q, RTE_DIM(q), x, RTE_DIM(x), b, RTE_DIM(b));
	return 0;
}

/* After each test: the queues emptied (their descriptors released), nothing left anywhere. */
static int
empty_and_check(void **state)
{
	(void)state;
	for (uint32_t i = 0; i < rt->n_queues; i++) {
		struct tw_task *t;

		while (tw_qring_dequeue(rt->queues[i].ring, (void **)&t))
			tw_task_release(t, dp.tasks);
	}
	/* dead-letters still waiting for room (a full graveyard): released, counted */
	tw_route_stash_discard(dp.ctx);
	dp_settle(NULL, 0);
	dp_no_leak();
	return 0;
}

/* Dispatch one frame of n tasks; the confirms it got, in order. */
static int
dispatch(const struct dp_task *t, uint32_t n, struct tw_reply_item *items, int max)
{
	struct rte_mbuf *f = dp_task_frame(t, n, false);

	tw_dispatch_burst(dp.ctx, rt, &f, 1);
	return dp_settle(items, max);
}

static void
test_routed_and_acked(void **state)
{
	const struct dp_task t[] = {
		{ .id = 1, .name = "a", .exchange = "jobs", .key = "w", .args = "[1]" },
		{ .id = 2, .name = "b", .exchange = "", .key = "work", .args = "[2]" },
		{ .id = 3, .name = "c", .exchange = "front", .key = "w" }, /* via its alternate */
	};
	struct tw_reply_item it[8];
	struct tw_task *q[8];
	uint64_t routed = dp_count(TW_CNT_tasks_routed);

	(void)state;
	assert_int_equal(dispatch(t, 3, it, 8), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(it[i].kind, TW_ITEM_CONFIRM);
		assert_int_equal(it[i].task_id, t[i].id);
		assert_true(it[i].ack);
	}
	assert_int_equal(dp_count(TW_CNT_tasks_routed), routed + 3);
	assert_int_equal(*tw_xcnt(dp.shared, dp.ctx->qsbr_id, 3, TW_XCNT_routed), 1); /* counted on the exchange published to */
	/* in order, each holding its args and a reference on the frame */
	assert_int_equal(dp_queue_take(rt, "work", q, 8), 3);
	assert_int_equal(q[0]->id, 1);
	assert_memory_equal(q[0]->args, "[1]", 3);
	assert_int_equal(q[2]->id, 3);
	assert_int_equal(rte_mbuf_refcnt_read(q[0]->frame), 3);
	for (int i = 0; i < 3; i++)
		tw_task_release(q[i], dp.tasks);
}

static void
test_refusals_nacked(void **state)
{
	const struct dp_task t[] = {
		{ .id = 10, .name = "a", .exchange = "jobs", .key = "nothing" },
		{ .id = 11, .name = "a", .exchange = "nowhere", .key = "w" },
		{ .id = 12, .name = "a", .exchange = "inner", .key = "w" },
		{ .id = 0, .name = "a", .exchange = "jobs", .key = "w" },
		{ .id = 14, .name = "", .exchange = "jobs", .key = "w" },
		/* due later, and no tw-control attached to hold it */
		{ .id = 15, .name = "a", .exchange = "jobs", .key = "w",
		  .opts = { .eta_ms = 1900000000000ull } },
	};
	static const uint32_t want[] = { TW_NACK_UNROUTABLE, TW_NACK_UNKNOWN_EXCHANGE,
					 TW_NACK_ACCESS_REFUSED, TW_NACK_INVALID_TASK,
					 TW_NACK_INVALID_TASK, TW_NACK_NO_SCHEDULER };
	struct tw_reply_item it[8];
	uint64_t unroutable = dp_count(TW_CNT_nack_unroutable);

	(void)state;
	assert_int_equal(dispatch(t, 6, it, 8), 6);
	for (int i = 0; i < 6; i++) {
		assert_false(it[i].ack);
		assert_int_equal(it[i].reason, want[i]);
	}
	assert_int_equal(dp_count(TW_CNT_nack_unroutable), unroutable + 1);
	assert_int_equal(dp_queue_take(rt, "work", NULL, 0), 0);
}

static void
test_malformed_frame_refused_whole(void **state)
{
	static const uint8_t junk[] = { 0x0d, 0x54, 0x57, 0x46, 0x31, 0x10, 0x01, 0x22, 0x7f };
	struct rte_mbuf *m = dp_udp_packet(DP_OUR_IP, DP_OUR_PORT, junk, sizeof(junk), 0);
	struct tw_reply_item it[2];
	uint64_t malformed = dp_count(TW_CNT_drop_malformed);

	(void)state;
	m->l2_len = 14;
	m->l3_len = 20;
	m->l4_len = 8;
	tw_dispatch_burst(dp.ctx, rt, &m, 1);
	assert_int_equal(dp_settle(it, 2), 1);
	assert_int_equal(it[0].task_id, 0); /* the frame's NACK */
	assert_int_equal(it[0].reason, TW_NACK_MALFORMED);
	assert_int_equal(dp_count(TW_CNT_drop_malformed), malformed + 1);
}

/* A full queue refuses (reject-publish): NACK queue-full, the other queue still got it. */
static void
test_queue_full_nacked(void **state)
{
	struct dp_task t[9];
	struct tw_reply_item it[16];

	(void)state;
	for (int i = 0; i < 9; i++)
		t[i] = (struct dp_task){ .id = 100 + (uint64_t)i, .name = "a", .exchange = "jobs",
					 .key = "w" };
	assert_int_equal(dispatch(t, 9, it, 16), 9);
	for (int i = 0; i < 7; i++)
		assert_true(it[i].ack);
	assert_false(it[7].ack);
	assert_int_equal(it[7].reason, TW_NACK_QUEUE_FULL);
	assert_int_equal(it[8].reason, TW_NACK_QUEUE_FULL);
	assert_int_equal(dp_queue_take(rt, "work", NULL, 0), 7);
}

/* drop-head: the oldest task leaves the full queue for its dead-letter exchange. */
static void
test_drop_head_dead_letters(void **state)
{
	struct dp_task t[5];
	struct tw_reply_item it[8];
	struct tw_task *g[8];
	uint64_t dl = dp_count(TW_CNT_tasks_dead_lettered);

	(void)state;
	for (int i = 0; i < 5; i++)
		t[i] = (struct dp_task){ .id = 200 + (uint64_t)i, .name = "a", .exchange = "",
					 .key = "tiny" };
	assert_int_equal(dispatch(t, 5, it, 8), 5);
	for (int i = 0; i < 5; i++)
		assert_true(it[i].ack);
	assert_int_equal(dp_queue_take(rt, "tiny", NULL, 0), 3);
	assert_int_equal(dp_count(TW_CNT_tasks_dead_lettered), dl + 2);
	assert_int_equal(dp_queue_take(rt, "graveyard", g, 8), 2);
	assert_int_equal(g[0]->id, 200); /* the oldest first */
	assert_int_equal(g[0]->dead_letters, 1);
	tw_task_release(g[0], dp.tasks);
	tw_task_release(g[1], dp.tasks);
}

/*
 * A dead-letter whose queue's ring is full is not lost: it waits in the
 * lcore's stash (counted dead_letter_waited) and the route stage queues it
 * once there is room; one still waiting past its wait is lost, counted.
 */
static void
test_dead_letter_waits_for_room(void **state)
{
	struct dp_task t[63];
	struct tw_reply_item it[64];
	struct tw_task *g[64];
	uint64_t waited = dp_count(TW_CNT_dead_letter_waited),
		 lost = dp_count(TW_CNT_dead_letter_lost),
		 dl = dp_count(TW_CNT_tasks_dead_lettered);

	(void)state;
	/* the graveyard full (63), then "tiny" (3) overflows: its head is dead-lettered */
	for (int i = 0; i < 63; i++)
		t[i] = (struct dp_task){ .id = 2000 + (uint64_t)i, .name = "a", .exchange = "",
					 .key = "graveyard" };
	assert_int_equal(dispatch(t, 63, it, 64), 63);
	for (int i = 0; i < 4; i++)
		t[i] = (struct dp_task){ .id = 2100 + (uint64_t)i, .name = "a", .exchange = "",
					 .key = "tiny" };
	assert_int_equal(dispatch(t, 4, it, 64), 4);
	assert_int_equal(dp_count(TW_CNT_dead_letter_waited), waited + 1);
	assert_int_equal(dp_count(TW_CNT_dead_letter_lost), lost);
	assert_int_equal(dp.ctx->dl_n, 1);
	/* still full: it keeps waiting, pass after pass */
	assert_int_equal(tw_route_stash_drain(dp.ctx, rt), 0);
	assert_int_equal(dp.ctx->dl_n, 1);
	/* a consumer takes one: the next route stage queues the dead-letter */
	assert_int_equal(dp_queue_take(rt, "graveyard", g, 1), 1);
	tw_task_release(g[0], dp.tasks);
	assert_int_equal(tw_route_stash_drain(dp.ctx, rt), 1);
	assert_int_equal(dp.ctx->dl_n, 0);
	assert_int_equal(dp_count(TW_CNT_tasks_dead_lettered), dl + 1);
	assert_int_equal(dp_queue_take(rt, "graveyard", g, 64), 63);
	assert_int_equal(g[62]->id, 2100); /* tiny's oldest, at the tail */
	assert_int_equal(g[62]->dead_letters, 1);
	for (int i = 0; i < 63; i++)
		tw_task_release(g[i], dp.tasks);
	/* full again, and a dead-letter that waits past its time: lost, counted */
	for (int i = 0; i < 63; i++)
		t[i] = (struct dp_task){ .id = 2200 + (uint64_t)i, .name = "a", .exchange = "",
					 .key = "graveyard" };
	assert_int_equal(dispatch(t, 63, it, 64), 63);
	t[0] = (struct dp_task){ .id = 2300, .name = "a", .exchange = "", .key = "tiny" };
	assert_int_equal(dispatch(t, 1, it, 64), 1);
	assert_int_equal(dp.ctx->dl_n, 1);
	assert_int_equal(dp_count(TW_CNT_dead_letter_waited), waited + 2);
	dp.ctx->dl_wait[dp.ctx->dl_head].until_tsc = 0; /* its TW_DL_WAIT_MS are over */
	assert_int_equal(tw_route_stash_drain(dp.ctx, rt), 1);
	assert_int_equal(dp.ctx->dl_n, 0);
	assert_int_equal(dp_count(TW_CNT_dead_letter_lost), lost + 1);
}

/* reject-publish-dlx: NACKed queue-full, and the refused task lives on through the DLX. */
static void
test_reject_publish_dlx(void **state)
{
	struct dp_task t[4];
	struct tw_reply_item it[8];
	struct tw_task *g[4];
	uint64_t published = *tw_qcnt(dp.shared, dp.ctx->qsbr_id, 4, TW_QCNT_published), rejected = *tw_qcnt(dp.shared, dp.ctx->qsbr_id, 3, TW_QCNT_rejected);

	(void)state;
	for (int i = 0; i < 4; i++)
		t[i] = (struct dp_task){ .id = 300 + (uint64_t)i, .name = "a", .exchange = "",
					 .key = "strict" };
	assert_int_equal(dispatch(t, 4, it, 8), 4);
	assert_true(it[2].ack);
	assert_false(it[3].ack);
	assert_int_equal(it[3].reason, TW_NACK_QUEUE_FULL);
	assert_int_equal(dp_queue_take(rt, "graveyard", g, 4), 1);
	assert_int_equal(g[0]->id, 303);
	/* counted once where it went, and once refused where it was refused */
	assert_int_equal(*tw_qcnt(dp.shared, dp.ctx->qsbr_id, 4, TW_QCNT_published) - published, 1);
	assert_int_equal(*tw_qcnt(dp.shared, dp.ctx->qsbr_id, 3, TW_QCNT_rejected) - rejected, 1);
	tw_task_release(g[0], dp.tasks);
}

/* Dispatch a retransmitting publisher's frame of n tasks; the confirms it got, in order. */
static int
dispatch_retx(const struct dp_task *t, uint32_t n, struct tw_reply_item *items, int max)
{
	struct rte_mbuf *f = dp_task_frame_retx(t, n);

	tw_dispatch_burst(dp.ctx, rt, &f, 1);
	return dp_settle(items, max);
}

/*
 * reject-publish-dlx and a retransmitting publisher: the frame comes again
 * (its confirms were late, or another task's result was). The refused
 * task already lives on behind the dead-letter exchange: its retransmit
 * is refused again, with the same reason, and not dead-lettered a second
 * time, even once the queue has room; the tasks that were taken are
 * duplicates, ACKed again and not queued again.
 */
static void
test_reject_publish_dlx_retransmitted(void **state)
{
	struct dp_task t[4];
	struct tw_reply_item it[8];
	struct tw_task *g[4];
	uint64_t published = *tw_qcnt(dp.shared, dp.ctx->qsbr_id, 4, TW_QCNT_published), rejected = *tw_qcnt(dp.shared, dp.ctx->qsbr_id, 3, TW_QCNT_rejected);
	uint64_t dl = dp_count(TW_CNT_tasks_dead_lettered), dup = dp_count(TW_CNT_tasks_duplicate);

	(void)state;
	for (int i = 0; i < 4; i++)
		t[i] = (struct dp_task){ .id = 400 + (uint64_t)i, .name = "a", .exchange = "",
					 .key = "strict" };
	assert_int_equal(dispatch_retx(t, 4, it, 8), 4);
	assert_true(it[2].ack);
	assert_false(it[3].ack);
	assert_int_equal(it[3].reason, TW_NACK_QUEUE_FULL);
	/* the same frame again, twice: the second time "strict" has room */
	for (int k = 0; k < 2; k++) {
		assert_int_equal(dispatch_retx(t, 4, it, 8), 4);
		for (int i = 0; i < 3; i++)
			assert_true(it[i].ack);
		assert_false(it[3].ack);
		assert_int_equal(it[3].reason, TW_NACK_QUEUE_FULL);
		if (k == 0) {
			assert_int_equal(dp_queue_take(rt, "strict", g, 4), 3);
			for (int i = 0; i < 3; i++)
				tw_task_release(g[i], dp.tasks);
		}
	}
	assert_int_equal(dp_queue_take(rt, "strict", NULL, 0), 0);
	assert_int_equal(dp_count(TW_CNT_tasks_duplicate) - dup, 8);
	/* dead-lettered once, refused once on its queue */
	assert_int_equal(dp_count(TW_CNT_tasks_dead_lettered) - dl, 1);
	assert_int_equal(*tw_qcnt(dp.shared, dp.ctx->qsbr_id, 4, TW_QCNT_published) - published, 1);
	assert_int_equal(*tw_qcnt(dp.shared, dp.ctx->qsbr_id, 3, TW_QCNT_rejected) - rejected, 1);
	assert_int_equal(dp_queue_take(rt, "graveyard", g, 4), 1);
	assert_int_equal(g[0]->id, 403);
	tw_task_release(g[0], dp.tasks);
}

/*
 * Plain reject-publish and a retransmitting publisher: the frame goes again
 * whole (its other tasks' confirms were lost); the refused task was
 * answered NACK, so its retransmit gets the same NACK and is not routed,
 * though the queue has room now: a task its publisher was told will not
 * run must not run.
 */
static void
test_queue_full_retransmit_refused_again(void **state)
{
	struct dp_task t[8];
	struct tw_reply_item it[16];
	struct tw_task *q[8];
	uint64_t dup;

	(void)state;
	for (int i = 0; i < 8; i++)
		t[i] = (struct dp_task){ .id = 500 + (uint64_t)i, .name = "a", .exchange = "jobs",
					 .key = "w" };
	assert_int_equal(dispatch_retx(t, 8, it, 16), 8);
	assert_false(it[7].ack);
	assert_int_equal(it[7].reason, TW_NACK_QUEUE_FULL);
	assert_int_equal(dp_queue_take(rt, "work", q, 8), 7);
	for (int i = 0; i < 7; i++)
		tw_task_release(q[i], dp.tasks);
	dup = dp_count(TW_CNT_tasks_duplicate);
	assert_int_equal(dispatch_retx(t, 8, it, 16), 8);
	for (int i = 0; i < 7; i++)
		assert_true(it[i].ack);
	assert_false(it[7].ack);
	assert_int_equal(it[7].reason, TW_NACK_QUEUE_FULL);
	assert_int_equal(dp_count(TW_CNT_tasks_duplicate) - dup, 8);
	assert_int_equal(dp_queue_take(rt, "work", NULL, 0), 0); /* nothing routed again */
}

/* More tasks than the stage stages at once, to two queues each: all confirmed, none lost. */
static void
test_large_burst_staged(void **state)
{
	struct dp_task t[40];
	struct rte_mbuf *f[4];
	struct tw_reply_item it[200];
	uint64_t acks = 0;

	(void)state;
	for (int k = 0; k < 4; k++) {
		for (int i = 0; i < 40; i++)
			t[i] = (struct dp_task){ .id = 1000 + (uint64_t)(k * 40 + i), .name = "a",
						 .exchange = "jobs", .key = "both" };
		f[k] = dp_task_frame(t, 40, false);
	}
	tw_dispatch_burst(dp.ctx, rt, f, 4);
	assert_int_equal(dp_settle(it, 200), 160);
	for (int i = 0; i < 160; i++)
		acks += it[i].ack;
	/* "work" holds 7, "tiny" drops its head: the rest are NACKed queue-full */
	assert_int_equal(acks, 7);
	assert_int_equal(dp_queue_take(rt, "work", NULL, 0), 7);
	assert_int_equal(dp_queue_take(rt, "tiny", NULL, 0), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_routed_and_acked, empty_and_check),
		cmocka_unit_test_teardown(test_refusals_nacked, empty_and_check),
		cmocka_unit_test_teardown(test_malformed_frame_refused_whole, empty_and_check),
		cmocka_unit_test_teardown(test_queue_full_nacked, empty_and_check),
		cmocka_unit_test_teardown(test_drop_head_dead_letters, empty_and_check),
		cmocka_unit_test_teardown(test_dead_letter_waits_for_room, empty_and_check),
		cmocka_unit_test_teardown(test_reject_publish_dlx, empty_and_check),
		cmocka_unit_test_teardown(test_reject_publish_dlx_retransmitted, empty_and_check),
		cmocka_unit_test_teardown(test_queue_full_retransmit_refused_again, empty_and_check),
		cmocka_unit_test_teardown(test_large_burst_staged, empty_and_check),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
