/*
 * Unit tests for the routing table (common/tw_routes.c): build errors,
 * the default exchange, direct, fanout and topic matching, destination
 * de-duplication and allocation failures.
 */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskwire.pb-c.h"
#include "tw_route_cache.h"
#include "tw_routes.h"
#include "../topic_reference.h"
#include "tw_wire.h"

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
	{ "jobs", "q1", "red", TW_DEST_QUEUE, 0, 0, NULL },
	{ "logs", "q1", "kern.*", TW_DEST_QUEUE, 0, 0, NULL },
	{ "jobs", "q2", "red", TW_DEST_QUEUE, 0, 0, NULL },
	{ "all", "q1", "", TW_DEST_QUEUE, 0, 0, NULL },
	{ "jobs", "q3", "blue", TW_DEST_QUEUE, 0, 0, NULL },
	{ "logs", "q2", "#.crit", TW_DEST_QUEUE, 0, 0, NULL },
	{ "all", "q3", "ignored", TW_DEST_QUEUE, 0, 0, NULL },
	{ "logs", "q3", "kern.#", TW_DEST_QUEUE, 0, 0, NULL },
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
	uint32_t dest[TW_MAX_ROUTE_DESTS];
	int n = tw_routes_match(rt, ex, (uint32_t)strlen(ex), key, (uint32_t)strlen(key), NULL, dest);
	int slots[TW_MAX_ROUTE_DESTS];
	size_t off = 0;

	if (n == TW_ROUTE_INTERNAL)
		return "internal";
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
		/* the issue's edge cases */
		{ "#", "a", 1 },      { "#", ".", 1 },      { "#.#", "", 1 },
		{ "#.#", "a.b.c", 1 }, { "*.*", "a", 0 },   { "*.*", "a.b", 1 },
		{ "*", ".", 0 },      { "*.*", ".", 1 },    { ".a", ".a", 1 },
		{ "*.a", ".a", 1 },   { "a.", "a.", 1 },    { "a.*", "a.", 1 },
		{ "a.", "a", 0 },     { "a.#", "a", 1 },    { "a.#", "a.", 1 },
		{ "#.b", "a.b", 1 },  { "#.b", "b", 1 },    { "#.b", "b.a", 0 },
		{ "a.*.#.c", "a.b.c", 1 }, { "a.*.#.c", "a.c", 0 }, { "a.*.#.c", "a.b.x.y.c", 1 },
		{ "#.#.#", "x", 1 },  { "*.#.*", "a", 0 },  { "*.#.*", "a.b", 1 },
		{ "caf\xc3\xa9.*", "caf\xc3\xa9.cr\xc3\xa8me", 1 },
		{ "\xe6\x97\xa5\xe6\x9c\xac.#", "\xe6\x97\xa5\xe6\x9c\xac", 1 },
		{ "caf\xc3\xa9", "cafe", 0 },
		{ "A.b", "a.b", 0 },  /* case matters */
		{ "a*", "ab", 0 },    { "a#", "a", 0 },     /* wildcards only as whole words */
		{ "a*", "a*", 1 },
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

/* Exchange graph: x (direct) -> y (fanout) -> q2, x -> z (fanout) -> q2, q3; z -> x (cycle). */
static void
test_exchange_to_exchange(void **state)
{
	static const struct tw_def_exchange ex[] = {
		{ .name = "x", .type = TW_EX_DIRECT },
		{ .name = "y", .type = TW_EX_FANOUT },
		{ .name = "z", .type = TW_EX_FANOUT },
	};
	static const struct tw_def_binding b[] = {
		{ "x", "y", "k", TW_DEST_EXCHANGE, 0, 0, NULL },
		{ "x", "z", "k", TW_DEST_EXCHANGE, 0, 0, NULL },
		{ "y", "q2", "", TW_DEST_QUEUE, 0, 0, NULL },
		{ "z", "q2", "", TW_DEST_QUEUE, 0, 0, NULL },
		{ "z", "q3", "", TW_DEST_QUEUE, 0, 0, NULL },
		{ "z", "x", "", TW_DEST_EXCHANGE, 0, 0, NULL },
		{ "x", "q1", "k", TW_DEST_QUEUE, 0, 0, NULL },
	};
	struct tw_defs d = { .n_queues = 3, .queues = queues, .n_exchanges = 3, .exchanges = ex,
			     .n_bindings = 7, .bindings = b };
	struct tw_routes *rt = tw_routes_build(&d, NULL);

	(void)state;
	assert_non_null(rt);
	/* diamond: q2 reached twice, reported once; the cycle back to x ends */
	assert_string_equal(route(rt, "x", "k"), "4,7,9");
	assert_string_equal(route(rt, "x", "other"), "");
	assert_string_equal(route(rt, "z", "any"), "7,9"); /* z -> x, but x has no "any" binding */
	assert_string_equal(route(rt, "z", "k"), "4,7,9");  /* z -> x -> (q1, y, z seen) */
	tw_routes_free(rt, NULL);
}

static void
test_alternate_and_internal(void **state)
{
	static const struct tw_def_exchange ex[] = {
		{ .name = "main", .type = TW_EX_DIRECT, .alternate = "ae" },
		{ .name = "ae", .type = TW_EX_FANOUT, .flags = TW_EX_F_INTERNAL },
		{ .name = "loop1", .type = TW_EX_DIRECT, .alternate = "loop2" },
		{ .name = "loop2", .type = TW_EX_DIRECT, .alternate = "loop1" },
		{ .name = "dangling", .type = TW_EX_DIRECT, .alternate = "not-declared" },
	};
	static const struct tw_def_binding b[] = {
		{ "main", "q1", "k", TW_DEST_QUEUE, 0, 0, NULL },
		{ "ae", "q3", "", TW_DEST_QUEUE, 0, 0, NULL },
	};
	struct tw_defs d = { .n_queues = 3, .queues = queues, .n_exchanges = 5, .exchanges = ex,
			     .n_bindings = 2, .bindings = b };
	struct tw_routes *rt = tw_routes_build(&d, NULL);

	(void)state;
	assert_non_null(rt);
	assert_string_equal(route(rt, "main", "k"), "4");     /* routable: no alternate */
	assert_string_equal(route(rt, "main", "nope"), "9");  /* unroutable: to the alternate */
	assert_string_equal(route(rt, "ae", "x"), "internal");
	assert_string_equal(route(rt, "loop1", "x"), "");     /* alternate cycle ends */
	assert_string_equal(route(rt, "dangling", "x"), "");
	tw_routes_free(rt, NULL);
}

/* Route through a headers exchange with the given task headers (pairs key, value). */
static const char *
route_headers(const struct tw_routes *rt, const char *const *kv, size_t n)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Task t = TASKWIRE__TASK__INIT, *tp = &t;
	Taskwire__Header h[8], *hp[8];
	struct tw_frame_view fv;
	struct tw_task_view tv;
	static char out[4 * TW_NAME_MAX];
	uint8_t buf[1024];
	uint32_t dest[TW_MAX_ROUTE_DESTS];
	size_t len;
	int r;

	for (size_t i = 0; i < n; i++) {
		taskwire__header__init(&h[i]);
		h[i].key = (char *)kv[2 * i];
		h[i].value = (char *)kv[2 * i + 1];
		hp[i] = &h[i];
	}
	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.n_tasks = 1;
	f.tasks = &tp;
	t.id = 1;
	t.name = (char *)"noop";
	t.exchange = (char *)"h";
	t.n_headers = n;
	t.headers = hp;
	len = taskwire__frame__pack(&f, buf);
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len, &fv, &tv, 1), TW_WIRE_OK);
	{
		struct tw_route_headers rh = { tv.headers.p, tv.headers.len, tv.n_headers };

		r = tw_routes_match(rt, "h", 1, "", 0, &rh, dest);
	}
	out[0] = '\0';
	for (int i = 0; i < r; i++)
		strncat(out, i ? "," : "", sizeof(out) - strlen(out) - 1),
		strncat(out, rt->queues[dest[i]].name, sizeof(out) - strlen(out) - 1);
	return out;
}

static void
test_headers_exchange(void **state)
{
	static const struct tw_def_exchange ex[] = { { .name = "h", .type = TW_EX_HEADERS } };
	static const struct tw_def_arg all_args[] = { { "format", "pdf" }, { "type", "report" } };
	static const struct tw_def_arg any_args[] = { { "format", "zip" }, { "type", "log" } };
	static const struct tw_def_arg x_args[] = { { "x-tenant", "acme" } };
	static const struct tw_def_binding b[] = {
		{ "h", "q1", "", TW_DEST_QUEUE, TW_XM_ALL, 2, all_args },
		{ "h", "q2", "", TW_DEST_QUEUE, TW_XM_ANY, 2, any_args },
		{ "h", "q3", "", TW_DEST_QUEUE, TW_XM_ANY_WITH_X, 1, x_args },
	};
	static const char *const pdf_report[] = { "format", "pdf", "type", "report" };
	static const char *const pdf_only[] = { "format", "pdf" };
	static const char *const zip[] = { "format", "zip", "other", "1" };
	static const char *const wrong_value[] = { "format", "PDF", "type", "report" };
	static const char *const tenant[] = { "x-tenant", "acme" };
	static const char *const log_and_tenant[] = { "type", "log", "x-tenant", "acme" };
	struct tw_defs d = { .n_queues = 3, .queues = queues, .n_exchanges = 1, .exchanges = ex,
			     .n_bindings = 3, .bindings = b };
	struct tw_routes *rt = tw_routes_build(&d, NULL);

	(void)state;
	assert_non_null(rt);
	assert_string_equal(route_headers(rt, pdf_report, 2), "q1");
	assert_string_equal(route_headers(rt, pdf_only, 1), "");       /* all: both needed */
	assert_string_equal(route_headers(rt, zip, 2), "q2");          /* any: one suffices */
	assert_string_equal(route_headers(rt, wrong_value, 2), "");    /* values compare exactly */
	assert_string_equal(route_headers(rt, tenant, 1), "q3");       /* x- keys only with -with-x */
	assert_string_equal(route_headers(rt, log_and_tenant, 2), "q2,q3");
	assert_string_equal(route_headers(rt, NULL, 0), "");
	tw_routes_free(rt, NULL);

	/* x- criteria are ignored by plain all/any: an all binding of only x- args matches all */
	{
		static const struct tw_def_binding b2[] = {
			{ "h", "q1", "", TW_DEST_QUEUE, TW_XM_ALL, 1, x_args },
			{ "h", "q2", "", TW_DEST_QUEUE, TW_XM_ANY, 1, x_args },
		};
		d.n_bindings = 2;
		d.bindings = b2;
		rt = tw_routes_build(&d, NULL);
		assert_non_null(rt);
		assert_string_equal(route_headers(rt, pdf_only, 1), "q1");
		tw_routes_free(rt, NULL);
	}
}

/* Many topic bindings: the trie agrees with a brute-force matcher on every key. */
static void
test_topic_trie_against_reference(void **state)
{
	enum { NB = 2000, NK = 500 };
	static const char *const words[] = { "a", "b", "c", "*", "#", "" };
	static struct tw_def_binding b[NB];
	static const struct tw_def_exchange ex[] = { { .name = "t", .type = TW_EX_TOPIC } };
	static struct tw_def_queue qs[TW_MAX_QUEUES];
	struct tw_defs d = { .n_queues = 200, .queues = qs, .n_exchanges = 1, .exchanges = ex,
			     .n_bindings = NB, .bindings = b };
	struct tw_routes *rt;
	unsigned seed = 12345;

	(void)state;
	for (int q = 0; q < 200; q++) {
		snprintf(qs[q].name, sizeof(qs[q].name), "q%d", q);
		qs[q].slot = (uint16_t)q;
	}
	for (int i = 0; i < NB; i++) {
		int nw = 1 + (int)(rand_r(&seed) % 4);
		size_t off = 0;

		memset(&b[i], 0, sizeof(b[i]));
		strcpy(b[i].source, "t");
		snprintf(b[i].destination, sizeof(b[i].destination), "q%d", i % 200);
		for (int w = 0; w < nw; w++)
			off += (size_t)snprintf(b[i].key + off, sizeof(b[i].key) - off, w ? ".%s" : "%s",
						words[rand_r(&seed) % 6]);
	}
	rt = tw_routes_build(&d, NULL);
	assert_non_null(rt);
	for (int k = 0; k < NK; k++) {
		char key[64];
		int nw = (int)(rand_r(&seed) % 5);
		size_t off = 0;
		uint32_t dest[TW_MAX_ROUTE_DESTS];
		bool want[200] = { 0 }, got[200] = { 0 };
		int n;

		key[0] = '\0';
		for (int w = 0; w < nw; w++)
			off += (size_t)snprintf(key + off, sizeof(key) - off, w ? ".%s" : "%s",
						words[rand_r(&seed) % 3 + (rand_r(&seed) % 7 == 0 ? 3 : 0)]);
		for (int i = 0; i < NB; i++)
			if (tw_topic_reference_match(b[i].key, key))
				want[i % 200] = true;
		n = tw_routes_match(rt, "t", 1, key, (uint32_t)strlen(key), NULL, dest);
		for (int i = 0; i < n; i++) {
			assert_false(got[dest[i]]); /* each queue once */
			got[dest[i]] = true;
		}
		for (int q = 0; q < 200; q++)
			if (want[q] != got[q])
				fail_msg("key '%s': queue q%d expected %d got %d", key, q, want[q], got[q]);
	}
	tw_routes_free(rt, NULL);
}

/*
 * A lookup that reaches more exchanges and queues than its short lists
 * hold (its sets become bitmaps midway): a fanout exchange to 200 fanout
 * exchanges, each bound to two queues and to another of them (cycles and
 * diamonds): every queue exactly once, every exchange followed once. Run
 * twice, so that a second lookup on the same stack finds no stale bits.
 */
static void
test_wide_graph(void **state)
{
	enum { N = 200 };
	static struct tw_def_queue qs[N];
	static struct tw_def_exchange ex[N + 1];
	static struct tw_def_binding b[N * 4];
	struct tw_defs d = { .n_queues = N, .queues = qs, .n_exchanges = N + 1, .exchanges = ex,
			     .bindings = b };
	struct tw_routes *rt;
	uint32_t nb = 0;

	(void)state;
	strcpy(ex[N].name, "root");
	ex[N].type = TW_EX_FANOUT;
	for (int i = 0; i < N; i++) {
		snprintf(qs[i].name, sizeof(qs[i].name), "q%d", i);
		qs[i].slot = (uint16_t)i;
		snprintf(ex[i].name, sizeof(ex[i].name), "x%d", i);
		ex[i].type = TW_EX_FANOUT;
		ex[i].slot = (uint32_t)i + 1;
	}
	for (int i = 0; i < N; i++) {
		snprintf(b[nb].source, TW_NAME_MAX, "root");
		snprintf(b[nb].destination, TW_NAME_MAX, "x%d", i);
		b[nb++].dest_type = TW_DEST_EXCHANGE;
		snprintf(b[nb].source, TW_NAME_MAX, "x%d", i);
		snprintf(b[nb].destination, TW_NAME_MAX, "x%d", (i + 7) % N);
		b[nb++].dest_type = TW_DEST_EXCHANGE;
		snprintf(b[nb].source, TW_NAME_MAX, "x%d", i);
		snprintf(b[nb++].destination, TW_NAME_MAX, "q%d", i);
		snprintf(b[nb].source, TW_NAME_MAX, "x%d", i);
		snprintf(b[nb++].destination, TW_NAME_MAX, "q%d", (i + 1) % N);
	}
	d.n_bindings = nb;
	rt = tw_routes_build(&d, NULL);
	assert_non_null(rt);
	for (int round = 0; round < 2; round++) {
		uint32_t dest[TW_MAX_ROUTE_DESTS];
		bool got[N] = { 0 };
		int n = tw_routes_match(rt, "root", 4, "k", 1, NULL, dest);

		assert_int_equal(n, N);
		for (int i = 0; i < n; i++) {
			const char *name = rt->queues[dest[i]].name;
			int q = atoi(name + 1);

			assert_false(got[q]);
			got[q] = true;
		}
		/* from one exchange of the ring: the cycle reaches them all too */
		assert_int_equal(tw_routes_match(rt, "x5", 2, "k", 1, NULL, dest), N);
		/* a lookup reaching one queue after the wide ones: the short list again */
		assert_int_equal(tw_routes_match(rt, "", 0, "q3", 2, NULL, dest), 1);
		assert_string_equal(rt->queues[dest[0]].name, "q3");
	}
	tw_routes_free(rt, NULL);
}

/* The per-lcore cache gives the same answers, and a new table version is never served stale. */
static void
test_route_cache(void **state)
{
	static struct tw_route_cache cache;
	struct tw_routes *rt = build_default(), *rt2;
	static const char *const keys[] = { "red", "blue", "kern.info", "kern.crit", "a.b.crit",
					    "x", "", "kern" };
	static const char *const exs[] = { "jobs", "logs", "all", "nope" };
	uint32_t d1[TW_MAX_ROUTE_DESTS], d2[TW_MAX_ROUTE_DESTS];

	(void)state;
	for (int round = 0; round < 3; round++)
		for (size_t e = 0; e < 4; e++)
			for (size_t k = 0; k < 8; k++) {
				uint32_t el = (uint32_t)strlen(exs[e]), kl = (uint32_t)strlen(keys[k]);
				int a = tw_routes_match(rt, exs[e], el, keys[k], kl, NULL, d1);
				int b = tw_routes_match_cached(rt, &cache, exs[e], el, keys[k], kl, NULL, d2);

				assert_int_equal(a, b);
				if (a > 0)
					assert_memory_equal(d1, d2, sizeof(uint32_t) * (size_t)a);
			}
	assert_true(cache.hits > 0);
	/* version 4: "red" no longer bound to q2 */
	{
		struct tw_def_binding b2[8];
		struct tw_defs d = {
			.version = 4, .n_queues = 3, .queues = queues, .n_exchanges = 3,
			.exchanges = exchanges, .n_bindings = 7, .bindings = b2,
		};
		int n = 0;

		for (int i = 0; i < 8; i++)
			if (i != 2)
				b2[n++] = bindings[i];
		rt2 = tw_routes_build(&d, NULL);
		assert_non_null(rt2);
		assert_int_equal(tw_routes_match_cached(rt2, &cache, "jobs", 4, "red", 3, NULL, d2), 1);
		assert_int_equal(rt2->queues[d2[0]].slot, 4);
		tw_routes_free(rt2, NULL);
	}
	tw_routes_free(rt, NULL);
}

static void
test_build_errors(void **state)
{
	struct tw_def_queue dup_q[] = { { .name = "a" }, { .name = "a" } };
	struct tw_def_exchange dup_e[] = { { .name = "x" }, { .name = "x" } };
	struct tw_def_exchange bad_type = { .name = "x", .type = TW_EX__MAX };
	struct tw_def_binding to_default = { "", "q1", "k", TW_DEST_QUEUE, 0, 0, NULL };
	struct tw_def_binding to_nothing = { "jobs", "nope", "k", TW_DEST_QUEUE, 0, 0, NULL };
	struct tw_def_binding from_nothing = { "nope", "q1", "k", TW_DEST_QUEUE, 0, 0, NULL };
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
	/* allocations: table, binding sort scratch, topic patterns scratch, topic trie */
	for (int k = 0; k < 4; k++) {
		struct fail_after f = { .left = k };
		struct tw_alloc_ops ops = { failing_zalloc, counting_free, &f };

		errno = 0;
		assert_null(tw_routes_build(&d, &ops));
		assert_int_equal(errno, ENOMEM);
		assert_int_equal(f.live, 0);
	}
	{
		struct fail_after f = { .left = 4 };
		struct tw_alloc_ops ops = { failing_zalloc, counting_free, &f };
		struct tw_routes *rt = tw_routes_build(&d, &ops);

		assert_non_null(rt);
		assert_int_equal(f.live, 2); /* table and trie; the scratch was freed */
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
		cmocka_unit_test(test_exchange_to_exchange),
		cmocka_unit_test(test_alternate_and_internal),
		cmocka_unit_test(test_headers_exchange),
		cmocka_unit_test(test_topic_trie_against_reference),
		cmocka_unit_test(test_wide_graph),
		cmocka_unit_test(test_route_cache),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_empty_table),
		cmocka_unit_test(test_alloc_failure),
		cmocka_unit_test(test_type_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
