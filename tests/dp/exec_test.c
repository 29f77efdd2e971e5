/*
 * Exec, dead-letter, route stash and workflow stages on real mbufs
 * (dataplane/tw_exec.c, tw_route.c, tw_workflow.c, tw_task_api.c): tasks
 * dispatched from publishers' frames are run by registered handlers on a
 * run-to-completion context, as its loop would run them, and the test
 * checks the results sent, the records for tw-control, what handlers
 * publish (left in the lcore's stash, routed by the route stage once per
 * pass, never from inside the handler), TTL expiry dead-lettering, a
 * group that replaces its task (members run, the group's result
 * assembled), and the stash's limit (a clear, counted refusal). Every
 * mbuf and descriptor goes back to its pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rte_cycles.h>

#include "dp_fixture.h"
#include "tw_dispatch.h"
#include "tw_exec.h"
#include "tw_route.h"
#include "tw_task.h"
#include "tw_workflow.h"
#include "taskwire/task.h"

static struct tw_routes *rt;
static uint64_t published_id;

static int
echo(struct tw_task_ctx *t)
{
	uint32_t len;
	const uint8_t *a = tw_task_args(t, &len);

	tw_task_set_result(t, a, len);
	return TW_TASK_SUCCESS;
}

static int
fail_task(struct tw_task_ctx *t)
{
	return tw_task_fail(t, "told to fail");
}

/* publishes one follow-up to queue "later", and one nothing takes */
static int
spawn(struct tw_task_ctx *t)
{
	published_id = tw_task_publish(t, "", "later", "echo", "\"x\"", 3);
	assert_int_not_equal(published_id, 0);
	/* nothing routed yet: it waits in the stash for the route stage */
	assert_int_equal(dp_queue_take(rt, "later", NULL, 0), 0);
	assert_int_not_equal(tw_task_publish(t, "", "no-such-queue", "echo", NULL, 0), 0);
	return TW_TASK_SUCCESS;
}

/* replaced by a group of three echo members; the group's result is theirs, in order */
static int
fan(struct tw_task_ctx *t)
{
	static const char *const args[] = { "1", "2", "3" };
	static const uint32_t lens[] = { 1, 1, 1 };

	assert_int_equal(tw_task_replace_group(t, "", "work", "echo", (const void *const *)args,
					       lens, 3), 0);
	return TW_TASK_SUCCESS;
}

static int
setup(void **state)
{
	static struct tw_def_queue q[] = {
		{ .name = "work", .max_length = 64 },
		{ .name = "later", .max_length = 16 },
		{ .name = "short", .max_length = 16, .message_ttl_ms = 1, .dlx = "dlx" },
		{ .name = "graveyard", .max_length = 16 },
	};
	static const struct tw_def_exchange x[] = {
		{ .name = "dlx", .slot = 1, .type = TW_EX_FANOUT },
	};
	static const struct tw_def_binding b[] = {
		{ "dlx", "graveyard", "", TW_DEST_QUEUE, 0, 0, NULL },
	};

	(void)state;
	if (tw_tasks_register(&dp.reg, "echo", echo) != 0 ||
	    tw_tasks_register(&dp.reg, "fail", fail_task) != 0 ||
	    tw_tasks_register(&dp.reg, "spawn", spawn) != 0 ||
	    tw_tasks_register(&dp.reg, "fan", fan) != 0)
		return -1;
	if (dp_up("exec", TW_ROLE_RTC, true) != 0)
		return -1;
	dp_attach_control();
	rt = dp_routes(q, RTE_DIM(q), x, RTE_DIM(x), b, RTE_DIM(b));
	return 0;
}

static int
empty_and_check(void **state)
{
	(void)state;
	for (uint32_t i = 0; i < rt->n_queues; i++) {
		struct tw_task *t;

		while (tw_qring_dequeue(rt->queues[i].ring, (void **)&t))
			tw_task_release(t, dp.tasks);
	}
	tw_route_stash_discard(dp.ctx);
	dp_settle(NULL, 0);
	dp_no_leak();
	return 0;
}

static void
publish(const struct dp_task *t, uint32_t n)
{
	struct rte_mbuf *f = dp_task_frame(t, n, false);

	tw_dispatch_burst(dp.ctx, rt, &f, 1);
}

/* The loop's stages after io: exec, then the route stage for what they made. */
static void
pass(void)
{
	while (tw_exec_burst(dp.ctx, rt) != 0)
		;
	tw_route_stash_drain(dp.ctx, rt);
}

/* The results in items[0..n) for task id, or -1. */
static int
result_of(const struct tw_reply_item *it, int n, uint64_t id)
{
	for (int i = 0; i < n; i++)
		if (it[i].kind == TW_ITEM_RESULT && it[i].task_id == id)
			return (int)it[i].state;
	return -1;
}

static void
test_run_and_report(void **state)
{
	const struct dp_task t[] = {
		{ .id = 1, .name = "echo", .exchange = "", .key = "work", .args = "\"hi\"" },
		{ .id = 2, .name = "fail", .exchange = "", .key = "work" },
		{ .id = 3, .name = "nobody", .exchange = "", .key = "work" },
	};
	struct tw_reply_item it[16];
	uint64_t records = dp_count(TW_CNT_records_sent);
	int n;

	(void)state;
	publish(t, 3);
	pass();
	n = dp_settle(it, 16);
	assert_int_equal(result_of(it, n, 1), TW_ST_SUCCESS);
	assert_int_equal(result_of(it, n, 2), TW_ST_FAILURE);
	assert_int_equal(result_of(it, n, 3), TW_ST_FAILURE); /* unknown task name */
	/* every state also went to tw-control's result store */
	assert_true(dp_count(TW_CNT_records_sent) > records);
}

/* What a handler publishes waits in the stash; the route stage routes it, or FAILs it. */
static void
test_handler_publish_through_stash(void **state)
{
	const struct dp_task t = { .id = 20, .name = "spawn", .exchange = "", .key = "work" };
	uint64_t refused = dp_count(TW_CNT_inject_refused);
	uint64_t by_tasks = dp_count(TW_CNT_tasks_published_by_tasks);
	struct tw_task *q[4];

	(void)state;
	publish(&t, 1);
	while (tw_exec_burst(dp.ctx, rt) != 0)
		;
	assert_int_equal(dp.ctx->made_n, 2);
	assert_int_equal(dp_count(TW_CNT_tasks_published_by_tasks), by_tasks + 2);
	assert_int_equal(tw_route_stash_drain(dp.ctx, rt), 2);
	assert_int_equal(dp.ctx->made_n, 0);
	assert_int_equal(dp_queue_take(rt, "later", q, 4), 1);
	assert_int_equal(q[0]->id, published_id);
	assert_int_equal(q[0]->peer_port, 0); /* no publisher to answer: the store only */
	tw_task_release(q[0], dp.tasks);
	/* the unroutable one: a FAILURE record, counted */
	assert_int_equal(dp_count(TW_CNT_inject_refused), refused + 1);
}

/* A full stash refuses at once, counted: tw_task_publish returns 0, nothing lost. */
static void
test_stash_full_refuses(void **state)
{
	struct rte_mbuf *m[TW_MADE_STASH];
	uint64_t full = dp_count(TW_CNT_made_stash_full), refused = dp_count(TW_CNT_inject_refused);
	const struct dp_task t = { .id = 30, .name = "echo", .exchange = "", .key = "later" };
	unsigned n = 0;

	(void)state;
	/* fill it with engine-made frames (the pool has fewer mbufs than the stash) */
	while (n < TW_MADE_STASH && rte_mempool_avail_count(dp.mbufs) > 8) {
		m[n] = dp_task_frame(&t, 1, true);
		assert_true(tw_route_stash(dp.ctx, m[n]));
		n++;
	}
	/* make the stash look full without more mbufs than the pool has */
	dp.ctx->made_n = TW_MADE_STASH;
	assert_false(tw_route_stash(dp.ctx, m[0]));
	assert_int_equal(dp_count(TW_CNT_made_stash_full), full + 1);
	dp.ctx->made_n = n;
	/* the drain routes a bounded number per pass; "later" takes 16, the rest FAIL */
	assert_int_equal(tw_route_stash_drain(dp.ctx, rt), RTE_MIN(n, (unsigned)TW_MADE_DRAIN));
	assert_int_equal(dp_queue_take(rt, "later", NULL, 0), 16);
	while (dp.ctx->made_n != 0)
		tw_route_stash_drain(dp.ctx, rt);
	/* every one accounted for: queued, or FAILed with a record */
	assert_int_equal(dp_count(TW_CNT_inject_refused) - refused, n - 16);
}

/* A task whose TTL passed in its queue goes to the queue's dead-letter exchange, not run. */
static void
test_ttl_expiry_dead_letters(void **state)
{
	const struct dp_task t = { .id = 40, .name = "echo", .exchange = "", .key = "short" };
	uint64_t expired = dp_count(TW_CNT_tasks_expired);
	struct tw_task *g[2];
	uint64_t until;

	(void)state;
	publish(&t, 1);
	until = rte_rdtsc() + rte_get_tsc_hz() / 200; /* 5 ms: past the 1 ms TTL */
	while (rte_rdtsc() < until)
		rte_pause();
	/* one burst: the graveyard is not taken again after the task moved there */
	tw_exec_burst(dp.ctx, rt);
	assert_int_equal(dp_count(TW_CNT_tasks_expired), expired + 1);
	assert_int_equal(dp_queue_take(rt, "graveyard", g, 2), 1);
	assert_int_equal(g[0]->id, 40);
	assert_int_equal(g[0]->dead_letters, 1);
	tw_task_release(g[0], dp.tasks);
}

/* replace-by-group: the node and its members go through the stash; the group ends SUCCESS. */
static void
test_group_replaces_task(void **state)
{
	const struct dp_task t = { .id = 50, .name = "fan", .exchange = "", .key = "work" };
	uint64_t opened = dp_count(TW_CNT_wf_groups_opened), done = dp_count(TW_CNT_wf_groups_done);
	struct tw_reply_item it[32];
	int n, passes = 0;

	(void)state;
	publish(&t, 1);
	/* run the task, open its group, queue and run its members: a few passes */
	do {
		pass();
	} while (dp_count(TW_CNT_wf_groups_done) == done && ++passes < 10);
	assert_int_equal(dp_count(TW_CNT_wf_groups_opened), opened + 1);
	assert_int_equal(dp_count(TW_CNT_wf_groups_done), done + 1);
	n = dp_settle(it, 32);
	/* the publisher waits for task 50: the group took its id and answers it */
	assert_int_equal(result_of(it, n, 50), TW_ST_SUCCESS);
	tw_workflow_reclaim();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_run_and_report, empty_and_check),
		cmocka_unit_test_teardown(test_handler_publish_through_stash, empty_and_check),
		cmocka_unit_test_teardown(test_stash_full_refuses, empty_and_check),
		cmocka_unit_test_teardown(test_ttl_expiry_dead_letters, empty_and_check),
		cmocka_unit_test_teardown(test_group_replaces_task, empty_and_check),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
