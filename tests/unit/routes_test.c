/*
 * Unit tests for the routing table (common/tw_routes.c): build errors,
 * the default exchange, direct, fanout and topic matching, destination
 * de-duplication and allocation failures.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tw_routes.h"

static const struct tw_def_queue queues[] = {
	{ .name = "q1", .slot = 4 },
	{ .name = "q2", .slot = 7 },
	{ .name = "q3", .slot = 9 },
};
static const struct tw_def_exchange exchanges[] = {
	{ .name = "jobs", .type = TW_EX_DIRECT },
	{ .name = "all", .type = TW_EX_FANOUT },
	{ .name = "logs", .type = TW_EX_TOPIC },
};
static const struct tw_def_binding bindings[] = {
	{ "jobs", "q1", "red" },
	{ "logs", "q1", "kern.*" },
	{ "jobs", "q2", "red" },
	{ "all", "q1", "" },
	{ "jobs", "q3", "blue" },
	{ "logs", "q2", "#.crit" },
	{ "all", "q3", "ignored" },
	{ "logs", "q3", "kern.#" },
};

static struct tw_routes *
build_default(void)
{
	struct tw_defs d = {
		.version = 3,
		.n_queues = 3, .queues = queues,
		.n_exchanges = 3, .exchanges = exchanges,
		.n_bindings = 8, .bindings = bindings,
	};
	struct tw_routes *rt = tw_routes_build(&d, NULL);

	assert_non_null(rt);
	return rt;
}

/* Match and return the queue slots, sorted, as a string like "4,7". */
static const char *
route(const struct tw_routes *rt, const char *ex, const char *key)
{
	static char out[64];
	uint16_t dest[TW_MAX_ROUTE_DESTS];
	int n = tw_routes_match(rt, ex, (uint32_t)strlen(ex), key, (uint32_t)strlen(key), dest,
				TW_MAX_ROUTE_DESTS);
	int slots[TW_MAX_ROUTE_DESTS];
	size_t off = 0;

	if (n < 0)
		return "unknown";
	for (int i = 0; i < n; i++)
		slots[i] = rt->queues[dest[i]].slot;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && slots[j - 1] > slots[j]; j--) {
			int t = slots[j];
			slots[j] = slots[j - 1];
			slots[j - 1] = t;
		}
	out[0] = '\0';
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(out + off, sizeof(out) - off, i ? ",%d" : "%d", slots[i]);
	return out;
}

static void
test_default_exchange(void **state)
{
	struct tw_routes *rt = build_default();

	(void)state;
	assert_int_equal(rt->version, 3);
	assert_int_equal(rt->n_exchanges, 4);
	assert_string_equal(route(rt, "", "q2"), "7");
	assert_string_equal(route(rt, "", "q9"), "");
	assert_string_equal(route(rt, "", ""), "");
	assert_string_equal(route(rt, "nope", "q1"), "unknown");
	tw_routes_free(rt, NULL);
}

static void
test_direct(void **state)
{
	struct tw_routes *rt = build_default();

	(void)state;
	assert_string_equal(route(rt, "jobs", "red"), "4,7");
	assert_string_equal(route(rt, "jobs", "blue"), "9");
	assert_string_equal(route(rt, "jobs", "green"), "");
	assert_string_equal(route(rt, "jobs", "q1"), "");
	tw_routes_free(rt, NULL);
}

static void
test_fanout_ignores_key(void **state)
{
	struct tw_routes *rt = build_default();

	(void)state;
	assert_string_equal(route(rt, "all", "anything"), "4,9");
	assert_string_equal(route(rt, "all", ""), "4,9");
	tw_routes_free(rt, NULL);
}

static void
test_topic(void **state)
{
	struct tw_routes *rt = build_default();

	(void)state;
	/* q1 kern.*, q2 #.crit, q3 kern.# */
	assert_string_equal(route(rt, "logs", "kern.info"), "4,9");
	assert_string_equal(route(rt, "logs", "kern"), "9");
	assert_string_equal(route(rt, "logs", "kern.a.b"), "9");
	assert_string_equal(route(rt, "logs", "kern.crit"), "4,7,9");
	assert_string_equal(route(rt, "logs", "crit"), "7");
	assert_string_equal(route(rt, "logs", "a.b.crit"), "7");
	assert_string_equal(route(rt, "logs", "a.b.crit.x"), "");
	assert_string_equal(route(rt, "logs", "kern."), "4,9"); /* one empty word after kern */
	assert_string_equal(route(rt, "logs", ""), "");
	tw_routes_free(rt, NULL);
}

static void
test_topic_patterns(void **state)
{
	static const struct {
		const char *pattern, *key;
		int match;
	} cases[] = {
		{ "#", "", 1 },       { "#", "a.b.c", 1 },  { "*", "", 0 },
		{ "*", "a", 1 },      { "*", "a.b", 0 },    { "a.#.b", "a.b", 1 },
		{ "a.#.b", "a.x.y.b", 1 }, { "a.#.b", "a.x.y.c", 0 }, { "#.#", "a", 1 },
		{ "*.*", "a.", 1 },   { "a..b", "a..b", 1 }, { "a.*.b", "a..b", 1 },
		{ "#.a.#", "x.a", 1 }, { "#.a.#", "x.b", 0 }, { "*.#", "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tw_def_queue q = { .name = "q", .slot = 1 };
		struct tw_def_exchange e = { .name = "t", .type = TW_EX_TOPIC };
		struct tw_def_binding b;
		struct tw_defs d = { .n_queues = 1, .queues = &q, .n_exchanges = 1, .exchanges = &e,
				     .n_bindings = 1, .bindings = &b };
		struct tw_routes *rt;

		memset(&b, 0, sizeof(b));
		strcpy(b.source, "t");
		strcpy(b.destination, "q");
		strcpy(b.key, cases[i].pattern);
		rt = tw_routes_build(&d, NULL);
		assert_non_null(rt);
		if (strcmp(route(rt, "t", cases[i].key), cases[i].match ? "1" : "") != 0)
			fail_msg("pattern '%s' key '%s': expected %s", cases[i].pattern, cases[i].key,
				 cases[i].match ? "match" : "no match");
		tw_routes_free(rt, NULL);
	}
}

static void
test_build_errors(void **state)
{
	struct tw_def_queue dup_q[] = { { .name = "a" }, { .name = "a" } };
	struct tw_def_exchange dup_e[] = { { .name = "x" }, { .name = "x" } };
	struct tw_def_exchange bad_type = { .name = "x", .type = TW_EX__MAX };
	struct tw_def_binding to_default = { "", "q1", "k" };
	struct tw_def_binding to_nothing = { "jobs", "nope", "k" };
	struct tw_def_binding from_nothing = { "nope", "q1", "k" };
	struct tw_defs d;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.n_queues = 2;
	d.queues = dup_q;
	errno = 0;
	assert_null(tw_routes_build(&d, NULL));
	assert_int_equal(errno, EINVAL);

	memset(&d, 0, sizeof(d));
	d.n_exchanges = 2;
	d.exchanges = dup_e;
	assert_null(tw_routes_build(&d, NULL));

	d.n_exchanges = 1;
	d.exchanges = &bad_type;
	assert_null(tw_routes_build(&d, NULL));

	const struct tw_def_binding *bad[] = { &to_default, &to_nothing, &from_nothing };
	for (int i = 0; i < 3; i++) {
		memset(&d, 0, sizeof(d));
		d.n_queues = 3;
		d.queues = queues;
		d.n_exchanges = 3;
		d.exchanges = exchanges;
		d.n_bindings = 1;
		d.bindings = bad[i];
		errno = 0;
		assert_null(tw_routes_build(&d, NULL));
		assert_int_equal(errno, EINVAL);
	}
}

static void
test_empty_table(void **state)
{
	struct tw_defs d;
	struct tw_routes *rt;

	(void)state;
	memset(&d, 0, sizeof(d));
	rt = tw_routes_build(&d, NULL);
	assert_non_null(rt);
	assert_string_equal(route(rt, "", "q1"), "");
	assert_string_equal(route(rt, "jobs", "q1"), "unknown");
	tw_routes_free(rt, NULL);
}

/* Allocation failure injection: fail the n-th allocation. */
struct fail_after {
	int left;
	int live;
};

static void *
failing_zalloc(size_t size, void *arg)
{
	struct fail_after *f = arg;

	if (f->left-- <= 0)
		return NULL;
	f->live++;
	return calloc(1, size);
}

static void
counting_free(void *p, void *arg)
{
	struct fail_after *f = arg;

	if (p != NULL)
		f->live--;
	free(p);
}

static void
test_alloc_failure(void **state)
{
	struct tw_defs d = {
		.n_queues = 3, .queues = queues,
		.n_exchanges = 3, .exchanges = exchanges,
		.n_bindings = 8, .bindings = bindings,
	};

	(void)state;
	for (int k = 0; k < 2; k++) {
		struct fail_after f = { .left = k };
		struct tw_alloc_ops ops = { failing_zalloc, counting_free, &f };

		errno = 0;
		assert_null(tw_routes_build(&d, &ops));
		assert_int_equal(errno, ENOMEM);
		assert_int_equal(f.live, 0);
	}
	{
		struct fail_after f = { .left = 2 };
		struct tw_alloc_ops ops = { failing_zalloc, counting_free, &f };
		struct tw_routes *rt = tw_routes_build(&d, &ops);

		assert_non_null(rt);
		assert_int_equal(f.live, 1); /* the sort scratch was freed */
		tw_routes_free(rt, &ops);
		assert_int_equal(f.live, 0);
	}
}

static void
test_type_names(void **state)
{
	(void)state;
	assert_string_equal(tw_exchange_type_name(TW_EX_TOPIC), "topic");
	assert_int_equal(tw_exchange_type_parse("fanout"), TW_EX_FANOUT);
	assert_int_equal(tw_exchange_type_parse("x-delayed"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_exchange),
		cmocka_unit_test(test_direct),
		cmocka_unit_test(test_fanout_ignores_key),
		cmocka_unit_test(test_topic),
		cmocka_unit_test(test_topic_patterns),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_empty_table),
		cmocka_unit_test(test_alloc_failure),
		cmocka_unit_test(test_type_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
