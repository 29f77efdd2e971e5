/*
 * Unit tests for the duplicate table (dataplane/tw_dedup.c): which way a
 * new task takes in a full set (an empty one, else the oldest finished or
 * refused task, else the oldest still waiting, counted), ways being
 * written never taken, a refusal's NACK kept for the retransmit, and a
 * late result of an evicted task not written over its successor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tw_dedup.h"
#include "tw_wire.h"

#define IP 0x0100000a
#define PORT 0x3930

static int
setup(void **state)
{
	*state = calloc(1, sizeof(struct tw_dedup));
	return *state == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	free(*state);
	return 0;
}

/* n task ids after `from` that share one set */
static void
same_set(uint64_t from, uint64_t *ids, int n)
{
	uint32_t set = tw_dedup_set(IP, PORT, from);
	int k = 0;

	for (uint64_t id = from; k < n; id++)
		if (tw_dedup_set(IP, PORT, id) == set)
			ids[k++] = id;
}

static struct tw_dedup_entry *
insert(struct tw_dedup *d, uint64_t id, uint32_t *gen, bool *waiting)
{
	struct tw_dedup_entry *e = tw_dedup_insert(d, IP, PORT, id, gen, waiting);

	assert_non_null(e);
	assert_ptr_equal(tw_dedup_find(d, IP, PORT, id), e);
	return e;
}

static void
test_finished_evicted_before_waiting(void **state)
{
	struct tw_dedup *d = *state;
	struct tw_dedup_entry *e[8];
	uint64_t ids[8];
	uint32_t gen[8];
	bool waiting;

	same_set(1000, ids, 8);
	/* A waits, B finishes, C waits, D is refused */
	for (int i = 0; i < 4; i++) {
		e[i] = insert(d, ids[i], &gen[i], &waiting);
		assert_false(waiting);
	}
	tw_dedup_record(e[1], gen[1], TW_ST_SUCCESS, "7", 1, 10);
	tw_dedup_refused(e[3], gen[3], 5);
	/* E takes B's way (the oldest finished), F takes D's (refused) */
	e[4] = insert(d, ids[4], &gen[4], &waiting);
	assert_false(waiting);
	assert_ptr_equal(e[4], e[1]);
	assert_null(tw_dedup_find(d, IP, PORT, ids[1]));
	e[5] = insert(d, ids[5], &gen[5], &waiting);
	assert_false(waiting);
	assert_ptr_equal(e[5], e[3]);
	/* all four wait: the oldest (A) goes, counted */
	e[6] = insert(d, ids[6], &gen[6], &waiting);
	assert_true(waiting);
	assert_ptr_equal(e[6], e[0]);
	assert_null(tw_dedup_find(d, IP, PORT, ids[0]));
	assert_ptr_equal(tw_dedup_find(d, IP, PORT, ids[2]), e[2]);
	/* A's late result (old generation) does not land on G */
	tw_dedup_record(e[0], gen[0], TW_ST_SUCCESS, "x", 1, 1);
	assert_int_equal(tw_dedup_phase(e[6]), TW_DEDUP_ROUTED);
	tw_dedup_record(e[6], gen[6], TW_ST_FAILURE, "boom", 4, 2);
	assert_int_equal(tw_dedup_phase(e[6]), TW_DEDUP_DONE);
	assert_int_equal(e[6]->result_state, TW_ST_FAILURE);
	assert_memory_equal(e[6]->value, "boom", 4);
	/* a second result of the same generation (fanout) keeps the first */
	tw_dedup_record(e[6], gen[6], TW_ST_SUCCESS, "ok", 2, 3);
	assert_int_equal(e[6]->result_state, TW_ST_FAILURE);
}

static void
test_refusal_kept(void **state)
{
	struct tw_dedup *d = *state;
	struct tw_dedup_entry *e;
	uint32_t gen;
	bool waiting;

	e = insert(d, 77, &gen, &waiting);
	tw_dedup_refused(e, gen, 3);
	tw_dedup_refused(e, gen, 9); /* the first reason stays */
	assert_ptr_equal(tw_dedup_find(d, IP, PORT, 77), e);
	assert_int_equal(e->nack, 3);
	/* another source's task of the same id is another task */
	assert_null(tw_dedup_find(d, IP, PORT + 1, 77));
	/* a refusal of an old generation changes nothing */
	e = insert(d, 78, &gen, &waiting);
	tw_dedup_refused(e, gen + 1, 3);
	assert_int_equal(e->nack, 0);
}

static void
test_ways_being_written_kept(void **state)
{
	struct tw_dedup *d = *state;
	struct tw_dedup_entry *e[4];
	uint64_t ids[5];
	uint32_t gen[4], g;
	bool waiting;

	same_set(5000, ids, 5);
	for (int i = 0; i < 4; i++) {
		e[i] = insert(d, ids[i], &gen[i], &waiting);
		/* as a worker does between its compare-and-swap and its release */
		__atomic_store_n(&e[i]->state, (gen[i] << 2) | TW_DEDUP_WRITING, __ATOMIC_RELEASE);
	}
	assert_null(tw_dedup_insert(d, IP, PORT, ids[4], &g, &waiting));
	__atomic_store_n(&e[2]->state, (gen[2] << 2) | TW_DEDUP_DONE, __ATOMIC_RELEASE);
	assert_ptr_equal(tw_dedup_insert(d, IP, PORT, ids[4], &g, &waiting), e[2]);
	assert_false(waiting);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_finished_evicted_before_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusal_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ways_being_written_kept, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
