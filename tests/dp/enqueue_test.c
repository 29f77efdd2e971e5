/*
 * Priority-queue enqueue on real rings (dataplane/tw_enqueue.c): EAL runs
 * in memory without hugepages or devices. A priority level's ring is
 * smaller than its queue; when it is full the task goes to the next lower
 * level with room, down to the base ring, a higher level only when all
 * those are full, and the queue's max-length (a count over its rings)
 * still refuses the task past it. The rings are growing rings
 * (tw_qring.h) short enough to be one exact segment each.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "dp_fixture.h"
#include "tw_broker_qring.h"
#include "tw_enqueue.h"
#include "tw_lcore.h"

#define N_TASKS 64

static struct tw_lcore_ctx *ctx;
static struct tw_task tasks[N_TASKS];
static unsigned used;

static int
setup(void **state)
{
	(void)state;
	if (dp_up("enqueue", TW_ROLE_IO, false) != 0)
		return -1;
	ctx = dp.ctx;
	return 0;
}

/* A queue of max_length with a base ring of base tasks and two levels of level tasks. */
static struct tw_route_queue
queue(uint32_t max_length, unsigned base, unsigned level)
{
	struct tw_route_queue q = { .max_priority = 2, .max_length = max_length };

	q.ring = tw_qring_create(base);
	q.levels[0] = tw_qring_create(level);
	q.levels[1] = tw_qring_create(level);
	assert_non_null(q.ring);
	assert_non_null(q.levels[0]);
	assert_non_null(q.levels[1]);
	return q;
}

static bool
put(struct tw_route_queue *q, uint8_t priority)
{
	struct tw_task *t = &tasks[used++ % N_TASKS];

	memset(t, 0, sizeof(*t));
	t->priority = priority;
	return tw_enqueue_task(ctx, NULL, q, t);
}

static void
drop(struct tw_route_queue *q)
{
	tw_qring_destroy(q->ring);
	tw_qring_destroy(q->levels[0]);
	tw_qring_destroy(q->levels[1]);
}

/* Full levels spill downwards; the max-length over all rings still holds. */
static void
test_spill_down(void **state)
{
	/* rings of 7 and 3 tasks; the queue's limit is 12 */
	struct tw_route_queue q = queue(12, 7, 3);

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_true(put(&q, 2));
	assert_int_equal(tw_qring_count(q.levels[1]), 3);
	assert_true(put(&q, 2)); /* level 2 full: to level 1 */
	assert_int_equal(tw_qring_count(q.levels[0]), 1);
	assert_true(put(&q, 2));
	assert_true(put(&q, 9)); /* above max-priority: level 2's, to level 1 too */
	assert_int_equal(tw_qring_count(q.levels[0]), 3);
	assert_true(put(&q, 2)); /* both levels full: to the base ring */
	assert_true(put(&q, 1)); /* level 1 full: to the base ring, never up to 2 */
	assert_int_equal(tw_qring_count(q.ring), 2);
	for (int i = 0; i < 4; i++)
		assert_true(put(&q, 0));
	assert_int_equal(tw_qring_count(q.ring), 6);
	assert_false(put(&q, 0)); /* 12 tasks: the max-length refuses */
	assert_false(put(&q, 2));
	assert_int_equal(tw_qring_count(q.ring) + tw_qring_count(q.levels[0]) +
			 tw_qring_count(q.levels[1]), 12);
	drop(&q);
}

/* Only when every lower ring is full does a task go up a level. */
static void
test_spill_up_last(void **state)
{
	struct tw_route_queue q = queue(20, 3, 7);

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_true(put(&q, 0));
	assert_true(put(&q, 0)); /* base full (3): its task goes up to level 1 */
	assert_int_equal(tw_qring_count(q.levels[0]), 1);
	for (int i = 0; i < 6; i++)
		assert_true(put(&q, 1));
	assert_int_equal(tw_qring_count(q.levels[0]), 7);
	assert_true(put(&q, 1)); /* level 1 and base full: up to level 2 */
	assert_int_equal(tw_qring_count(q.levels[1]), 1);
	drop(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spill_down),
		cmocka_unit_test(test_spill_up_last),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
