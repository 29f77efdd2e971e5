/*
 * Workflow group memory on a real lcore context (dataplane/tw_wf_group.c,
 * tw_wf_mem.c, tw_workflow.c): opening, finishing and expiring groups
 * allocates nothing (every rte_malloc family call and glibc malloc is
 * counted here, and the hugepage heap's figures must not move), groups
 * of every layout (all in the slot, pages listed in the slot, pages
 * listed in table pages) keep their members' results in order, and each
 * shortage is a clear, counted refusal after which memory comes back:
 * 4,096 open groups, the publisher's and the engine's memory, the list
 * buffer of a chord's results over the largest frame.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rte_malloc.h>

#include "dp_fixture.h"
#include "tw_broker_qring.h"
#include "tw_limits.h"
#include "tw_route.h"
#include "tw_task.h"
#include "tw_wf_group.h"
#include "tw_wf_mem.h"
#include "tw_wire_priv.h"
#include "tw_workflow.h"

/* --- allocation counting: the test binary's definitions come first --- */

static bool counting;
static uint64_t allocs;

/* glibc's malloc family is counted in the plain build only: under
 * AddressSanitizer these would replace its own interceptors, and its free()
 * would meet blocks it never saw (the rte_malloc family and the hugepage
 * heap's figures are checked in both builds) */
#ifndef __SANITIZE_ADDRESS__
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t sz);
extern void *__libc_realloc(void *p, size_t n);

void *
malloc(size_t n)
{
	if (counting)
		allocs++;
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t sz)
{
	if (counting)
		allocs++;
	return __libc_calloc(n, sz);
}

void *
realloc(void *p, size_t n)
{
	if (counting)
		allocs++;
	return __libc_realloc(p, n);
}
#endif

/* The rte_malloc family: counted, then the library's own. */
#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

void *
rte_malloc_socket(const char *type, size_t size, unsigned int align, int socket)
{
	if (counting)
		allocs++;
	return REAL("rte_malloc_socket", void *(*)(const char *, size_t, unsigned int, int))(
		type, size, align, socket);
}

void *
rte_zmalloc_socket(const char *type, size_t size, unsigned int align, int socket)
{
	if (counting)
		allocs++;
	return REAL("rte_zmalloc_socket", void *(*)(const char *, size_t, unsigned int, int))(
		type, size, align, socket);
}

void *
rte_malloc(const char *type, size_t size, unsigned int align)
{
	if (counting)
		allocs++;
	return REAL("rte_malloc", void *(*)(const char *, size_t, unsigned int))(type, size, align);
}

void *
rte_zmalloc(const char *type, size_t size, unsigned int align)
{
	if (counting)
		allocs++;
	return REAL("rte_zmalloc", void *(*)(const char *, size_t, unsigned int))(type, size, align);
}

void *
rte_calloc(const char *type, size_t num, size_t size, unsigned int align)
{
	if (counting)
		allocs++;
	return REAL("rte_calloc", void *(*)(const char *, size_t, size_t, unsigned int))(
		type, num, size, align);
}

void *
rte_realloc(void *p, size_t size, unsigned int align)
{
	if (counting)
		allocs++;
	return REAL("rte_realloc", void *(*)(void *, size_t, unsigned int))(p, size, align);
}

/* Bytes and elements the hugepage heaps hold now. */
static void
heap_figures(uint64_t *bytes, uint64_t *elems)
{
	struct rte_malloc_socket_stats s;

	*bytes = 0;
	*elems = 0;
	for (int i = 0; i < RTE_MAX_NUMA_NODES; i++) {
		if (rte_malloc_get_socket_stats(i, &s) != 0)
			continue;
		*bytes += s.heap_allocsz_bytes;
		*elems += s.alloc_count;
	}
}

/* --- groups driven as the engine drives them --- */

static struct tw_routes *rt;
static uint64_t next_id = 0x1000;

static int
setup(void **state)
{
	static struct tw_def_queue q[] = { { .name = "work", .max_length = 64 } };

	(void)state;
	if (dp_up("wfgroup", TW_ROLE_RTC, true) != 0)
		return -1;
	dp_attach_control();
	rt = dp_routes(q, RTE_DIM(q), NULL, 0, NULL, 0);
	return 0;
}

/* Every group gone (after its grace period), its pages back. */
static void
all_back(void)
{
	uint32_t total, free_;

	tw_workflow_reclaim();
	assert_int_equal(tw_wf_groups_open(), 0);
	free_ = tw_wf_pages_free(&total);
	assert_int_equal(free_, total);
}

static int
empty_and_check(void **state)
{
	struct tw_task *t;

	(void)state;
	while (tw_qring_dequeue(rt->queues[0].ring, (void **)&t))
		tw_task_release(t, dp.tasks);
	tw_route_stash_discard(dp.ctx);
	dp_settle(NULL, 0);
	all_back();
	dp_no_leak();
	return 0;
}

/*
 * Open group node id of size members with cells of cell bytes (0: the
 * default), a chord (callback "echo" to queue "work") if chord, from
 * publisher address ip. @return NULL or the refusal.
 */
static const char *
open_group(uint64_t id, uint32_t size, uint32_t cell, bool chord, uint32_t ip)
{
	uint8_t raw[256], cb[64];
	struct tw_wbuf w, c;
	struct tw_task_view tv;
	const struct tw_peer peer = { .ip = rte_cpu_to_be_32(ip), .port = 0 };
	uint64_t jseq; /* no journal here */

	tw_wbuf_init(&w, raw, sizeof(raw));
	put_fixed64(&w, F_TASK_ID, id);
	put_tag(&w, F_TASK_GROUP_SIZE, WT_VARINT);
	put_varint(&w, size);
	if (cell != 0) {
		put_tag(&w, F_TASK_RESULT_CELL, WT_VARINT);
		put_varint(&w, cell);
	}
	if (chord) {
		tw_wbuf_init(&c, cb, sizeof(cb));
		put_bytes(&c, F_TASK_NAME, "echo", 4);
		put_bytes(&c, F_TASK_KEY, "work", 4);
		put_bytes(&c, F_TASK_ARGS, "[7]", 3);
		put_bytes(&w, F_TASK_NEXT, cb, c.len);
	}
	assert_false(w.overflow);
	assert_null(tw_wire_decode_task((struct tw_str){ raw, w.len }, &tv));
	return tw_workflow_group_open(dp.ctx, NULL, &tv, &peer, 0, &jseq);
}

/* Member idx of group gid finished: SUCCESS with value v, or FAILURE if v is NULL. */
static void
member_done(uint64_t gid, uint32_t idx, const char *v)
{
	uint8_t raw[32];
	struct tw_wbuf w;
	struct tw_task t;

	memset(&t, 0, sizeof(t));
	tw_wbuf_init(&w, raw, sizeof(raw));
	put_fixed64(&w, F_TASK_ID, gid + 1 + idx);
	put_bytes(&w, F_TASK_NAME, "echo", 4);
	t.id = gid + 1 + idx;
	t.raw = raw;
	t.raw_len = w.len;
	t.group_id = gid;
	t.group_index = idx;
	t.wf = 1;
	if (v != NULL)
		tw_workflow_task_done(dp.ctx, &t, TW_ST_SUCCESS, (const uint8_t *)v,
				      (uint32_t)strlen(v), NULL, 0);
	else
		tw_workflow_task_done(dp.ctx, &t, TW_ST_FAILURE, NULL, 0, "no", 2);
}

/* Every member of gid (size) succeeds with its own index as result. */
static void
finish(uint64_t gid, uint32_t size)
{
	char v[16];

	for (uint32_t i = 0; i < size; i++) {
		snprintf(v, sizeof(v), "%u", i);
		member_done(gid, i, v);
		if ((i & 1023) == 1023)
			dp_settle(NULL, 0); /* records: tw-control's ring holds 1,024 */
	}
	dp_settle(NULL, 0);
}

/* The callback a chord's completion queued on "work" (its args checked by the caller). */
static struct tw_task *
callback_queued(void)
{
	struct tw_task *t = NULL;

	tw_route_stash_drain(dp.ctx, rt);
	assert_int_equal(dp_queue_take(rt, "work", &t, 1), 1);
	return t;
}

/* Sizes that take each layout: in the slot; pages listed in the slot; table pages. */
static const struct {
	uint32_t size, cell;
} layouts[] = {
	{ 1, 0 }, { 4, 16 }, { 40, 0 }, { 3000, 0 }, { 20000, 0 }, { 70000, 16 },
};

/*
 * Groups of every layout open, finish (chords: the callback gets every
 * member's result in order) and expire without one allocation: the
 * counted calls stay at 0 and the heap's figures do not move.
 */
static void
test_no_allocation(void **state)
{
	uint64_t b0, e0, b1, e1, done = dp_count(TW_CNT_wf_groups_done);
	unsigned groups = 0;

	(void)state;
	/* the first pass of anything (records, replies) outside the window */
	assert_null(open_group(next_id, 1, 0, false, DP_PEER_IP));
	finish(next_id, 1);
	next_id += 1u << 20;
	/* the counting sees the library's calls: a queue ring made by the broker library counts */
	allocs = 0;
	counting = true;
	tw_qring_destroy(tw_qring_create(64));
	counting = false;
	assert_true(allocs > 0);
	heap_figures(&b0, &e0);
	allocs = 0;
	counting = true;
	for (int round = 0; round < 4; round++) {
		for (unsigned k = 0; k < RTE_DIM(layouts); k++) {
			uint64_t id = next_id;

			next_id += 1u << 20;
			assert_null(open_group(id, layouts[k].size, layouts[k].cell, false,
					       DP_PEER_IP));
			finish(id, layouts[k].size);
			groups++;
		}
		tw_workflow_reclaim();
	}
	counting = false;
	heap_figures(&b1, &e1);
	print_message("%u groups of %zu layouts opened and finished: %" PRIu64 " allocations, "
		      "heap %" PRIu64 " -> %" PRIu64 " bytes, %" PRIu64 " -> %" PRIu64 " elements\n",
		      groups, RTE_DIM(layouts), allocs, b0, b1, e0, e1);
	assert_int_equal(allocs, 0);
	assert_int_equal(b1, b0);
	assert_int_equal(e1, e0);
	assert_int_equal(dp_count(TW_CNT_wf_groups_done), done + 1 + groups);
}

/* Results in order, whatever the layout: the chord callback's args. */
static void
test_results_in_order(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 4; k++) {
		uint64_t id = next_id;
		struct tw_task *cb;
		char want[64 * 1024], *p = want;

		next_id += 1u << 20;
		assert_null(open_group(id, layouts[k].size, layouts[k].cell, true, DP_PEER_IP));
		finish(id, layouts[k].size);
		cb = callback_queued();
		/* [[0,1,...],7]: the list first, then the callback's own args */
		p += sprintf(p, "[[");
		for (uint32_t i = 0; i < layouts[k].size; i++)
			p += sprintf(p, i != 0 ? ",%u" : "%u", i);
		p += sprintf(p, "],7]");
		if (cb->args_group != 0)
			assert_true(tw_workflow_bind_args(cb));
		assert_int_equal(cb->args_len, (uint32_t)(p - want));
		assert_memory_equal(cb->args, want, cb->args_len);
		/* its end gives back what it read from (a list over a frame) */
		tw_workflow_task_done(dp.ctx, cb, TW_ST_SUCCESS, NULL, 0, NULL, 0);
		tw_task_release(cb, dp.tasks);
		dp_settle(NULL, 0);
	}
}

/*
 * 4,096 groups open at once, the next refused naming the limit, counted;
 * a failed or expired group gives its slot back; then one opens again.
 */
static void
test_group_count_exhausted(void **state)
{
	uint64_t refused = dp_count(TW_CNT_wf_groups_refused), base = next_id;
	const char *why;

	(void)state;
	for (uint32_t i = 0; i < TW_WF_MAX_GROUPS; i++)
		assert_null(open_group(base + 2 * i, 1, 0, false, DP_PEER_IP + 1 + i % 200));
	next_id = base + 2 * TW_WF_MAX_GROUPS;
	why = open_group(next_id++, 1, 0, false, DP_PEER_IP);
	assert_non_null(why);
	assert_non_null(strstr(why, "too many groups open (4096)"));
	assert_int_equal(dp_count(TW_CNT_wf_groups_refused), refused + 1);
	/* half fail, half succeed: every slot comes back */
	for (uint32_t i = 0; i < TW_WF_MAX_GROUPS; i++) {
		member_done(base + 2 * i, 0, i % 2 ? "1" : NULL);
		if ((i & 255) == 255)
			dp_settle(NULL, 0);
	}
	dp_settle(NULL, 0);
	all_back();
	assert_null(open_group(next_id, 2, 0, false, DP_PEER_IP));
	finish(next_id, 2);
	next_id += 4;
}

/*
 * The fixture gives groups 16 MB in all and 8 MB per publisher: groups
 * of 1 MB (4,000 members of 256-byte cells: 64 pages) from one publisher
 * stop at its share, from others at the engine's memory, each refusal
 * naming its option, counted; their pages come back and groups open again.
 */
static void
test_memory_exhausted(void **state)
{
	uint64_t refused = dp_count(TW_CNT_wf_groups_refused),
		 no_mem = dp_count(TW_CNT_wf_groups_no_memory);
	uint64_t open_ids[64];
	unsigned n_open = 0, a = 0;
	uint32_t total, free_;
	const char *why = NULL;

	(void)state;
	while ((why = open_group(next_id, 4000, 0, false, DP_PEER_IP)) == NULL) {
		open_ids[n_open++] = next_id;
		next_id += 8192;
		a++;
		assert_true(n_open < 64);
	}
	assert_non_null(strstr(why, "--group-publisher-mb"));
	for (uint32_t ip = DP_PEER_IP + 1; why == NULL || strstr(why, "--group-publisher-mb"); ip++) {
		while ((why = open_group(next_id, 4000, 0, false, ip)) == NULL) {
			open_ids[n_open++] = next_id;
			next_id += 8192;
			assert_true(n_open < 64);
		}
	}
	assert_non_null(strstr(why, "--group-memory-mb"));
	free_ = tw_wf_pages_free(&total);
	print_message("1 MB groups: %u from one publisher, %u in all; refused: \"%s\"; pages "
		      "free %u of %u\n", a, n_open, why, free_, total);
	assert_true(a >= 7 && a <= 8);
	assert_true(n_open >= 14 && n_open <= 16);
	assert_int_equal(dp_count(TW_CNT_wf_groups_no_memory) - no_mem,
			 dp_count(TW_CNT_wf_groups_refused) - refused);
	assert_true(dp_count(TW_CNT_wf_groups_refused) - refused >= 2);
	for (unsigned i = 0; i < n_open; i++)
		finish(open_ids[i], 4000);
	all_back();
	assert_null(open_group(next_id, 4000, 0, false, DP_PEER_IP));
	finish(next_id, 4000);
	next_id += 8192;
}

/*
 * A chord whose results list is over what a frame may hold (this context
 * has no large buffers: over 2 kB): its in-engine callback reads its args
 * from the list buffer, which one chord holds at a time. A second chord
 * finishing meanwhile fails (its callback not run) naming --group-list-mb, counted;
 * once the first callback ended, a third one gets the buffer.
 */
static void
test_list_buffer_one_at_a_time(void **state)
{
	uint64_t lists = dp_count(TW_CNT_wf_lists_refused), failed = dp_count(TW_CNT_wf_groups_failed);
	uint64_t g1 = next_id, g2 = next_id + 8192, g3 = next_id + 16384;
	struct tw_task *cb1, *cb3;

	(void)state;
	next_id += 3 * 8192;
	assert_null(open_group(g1, 2000, 0, true, DP_PEER_IP));
	assert_null(open_group(g2, 2000, 0, true, DP_PEER_IP));
	finish(g1, 2000);
	cb1 = callback_queued();
	assert_int_equal(cb1->args_group, g1);
	assert_true(tw_workflow_bind_args(cb1));
	assert_true(cb1->args_len > 8000);
	finish(g2, 2000);
	tw_route_stash_drain(dp.ctx, rt);
	assert_int_equal(dp_queue_take(rt, "work", NULL, 0), 0);
	assert_int_equal(dp_count(TW_CNT_wf_lists_refused), lists + 1);
	assert_int_equal(dp_count(TW_CNT_wf_groups_failed), failed + 1);
	/* the first callback ends: its group and the list buffer go back after
	 * the grace period (another lcore may read them in its current pass) */
	tw_workflow_task_done(dp.ctx, cb1, TW_ST_SUCCESS, NULL, 0, NULL, 0);
	tw_task_release(cb1, dp.tasks);
	dp_settle(NULL, 0);
	tw_workflow_reclaim();
	assert_null(open_group(g3, 2000, 0, true, DP_PEER_IP));
	finish(g3, 2000);
	cb3 = callback_queued();
	assert_int_equal(cb3->args_group, g3);
	assert_true(tw_workflow_bind_args(cb3));
	tw_workflow_task_done(dp.ctx, cb3, TW_ST_SUCCESS, NULL, 0, NULL, 0);
	tw_task_release(cb3, dp.tasks);
	dp_settle(NULL, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_no_allocation, empty_and_check),
		cmocka_unit_test_teardown(test_results_in_order, empty_and_check),
		cmocka_unit_test_teardown(test_group_count_exhausted, empty_and_check),
		cmocka_unit_test_teardown(test_memory_exhausted, empty_and_check),
		cmocka_unit_test_teardown(test_list_buffer_one_at_a_time, empty_and_check),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
