/*
 * Unit tests for libtaskwire's tag table (libtaskwire/tw_tag_table.c):
 * adds, finds and removals against a plain array over many thousand
 * random steps (growth and shrinking included), and a walk over the
 * slots that removes as it goes sees every entry present at its start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tw_tag_table.h"

#define N_TAGS 5000

/* Delivery tags as the engine makes them: index, table id, generation. */
static uint64_t
tag_of(uint32_t i)
{
	return ((uint64_t)(i / 4096 + 1) << 32) | (1u << 16) | (i % 4096);
}

static void
test_matches_a_plain_set(void **state)
{
	static bool in[N_TAGS];
	struct tw_tag_table t = { 0 };
	uint32_t n = 0, peak = 0;

	(void)state;
	srand(7);
	for (int step = 0; step < 200000; step++) {
		uint32_t i = (uint32_t)rand() % N_TAGS;
		/* phases: mostly adds, then mostly removals, so the table grows and shrinks */
		bool add = (step / 20000) % 2 == 0 ? rand() % 4 != 0 : rand() % 4 == 0;
		struct tw_tag_entry *e = tw_tag_find(&t, tag_of(i));

		assert_true((e != NULL) == in[i]);
		if (add && !in[i]) {
			e = tw_tag_add(&t, tag_of(i));
			assert_non_null(e);
			assert_int_equal(e->tag, tag_of(i));
			assert_null(e->bytes);
			e->len = i;
			in[i] = true;
			n++;
		} else if (!add && in[i]) {
			assert_int_equal(e->len, i);
			tw_tag_remove_at(&t, (uint32_t)(e - t.slot));
			in[i] = false;
			n--;
			if (step % 64 == 0)
				tw_tag_table_compact(&t);
		}
		assert_int_equal(t.n, n);
		assert_true(t.n * 2 <= t.cap || t.cap == 0);
		peak = n > peak ? n : peak;
	}
	for (uint32_t i = 0; i < N_TAGS; i++) {
		struct tw_tag_entry *e = tw_tag_find(&t, tag_of(i));

		assert_true((e != NULL) == in[i]);
		if (e != NULL)
			assert_int_equal(e->len, i);
	}
	/* a free slot holds nothing */
	for (uint32_t k = 0; k < t.cap; k++)
		if (t.slot[k].tag == 0)
			assert_int_equal(t.slot[k].len, 0);
	print_message("peak %u entries, %u slots at the end for %u\n", peak, t.cap, t.n);
	tw_tag_table_free(&t);
}

/* A walk that removes every other entry it meets meets each entry at least
 * once (an entry may move into the slot just emptied, or wrap around). */
static void
test_walk_with_removals_misses_none(void **state)
{
	static int seen[N_TAGS];
	struct tw_tag_table t = { 0 };

	(void)state;
	for (uint32_t i = 0; i < N_TAGS; i++) {
		struct tw_tag_entry *e = tw_tag_add(&t, tag_of(i));

		assert_non_null(e);
		e->len = i;
	}
	for (uint32_t k = 0; k < t.cap && t.n != 0; k++) {
		struct tw_tag_entry *e = &t.slot[k];

		if (e->tag == 0)
			continue;
		seen[e->len]++;
		if (e->len % 2 == 0 && tw_tag_remove_at(&t, k))
			k--; /* look at slot k again (wraps at 0) */
	}
	for (uint32_t i = 0; i < N_TAGS; i++) {
		assert_true(seen[i] >= 1);
		assert_true((tw_tag_find(&t, tag_of(i)) != NULL) == (i % 2 != 0));
	}
	assert_int_equal(t.n, N_TAGS / 2);
	tw_tag_table_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_a_plain_set),
		cmocka_unit_test(test_walk_with_removals_misses_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
