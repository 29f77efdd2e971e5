/*
 * Queues' growing rings (common/tw_qring.c, broker/tw_broker_qring.c) on
 * real rte_rings, EAL in memory without hugepages:
 *  - a queue grows from its first segment to its max-length, refuses past
 *    it, gives its tasks back in order, and after draining retires its
 *    segments (memory back to one segment) once grace periods pass;
 *  - a pool with nothing spare refuses the task that needed a segment
 *    (counted), and takes it once the pool is stocked again;
 *  - two producer threads and one consumer thread against one queue while
 *    the owner retires and restocks: every task taken exactly once, each
 *    producer's tasks in the order it enqueued them.
 */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "tw_broker_qring.h"
#include "tw_qring.h"

static struct tw_qspares spares;
static struct rte_rcu_qsbr *qsbr;

#define THREADS 4 /* qsbr ids: 0 the test (owner), 1..2 producers, 3 consumer */

static int
setup(void **state)
{
	char *argv[] = { "qring_test", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
			 "--file-prefix", "tw-dpqring", "--log-level", "*:error", "-l", "0" };
	size_t sz;

	(void)state;
	if (rte_eal_init(RTE_DIM(argv), argv) < 0)
		return -1;
	sz = rte_rcu_qsbr_get_memsize(THREADS);
	qsbr = rte_zmalloc(NULL, sz, RTE_CACHE_LINE_SIZE);
	if (qsbr == NULL || rte_rcu_qsbr_init(qsbr, THREADS) != 0)
		return -1;
	return tw_qspares_init(&spares);
}

/* Grace periods pass: only the test thread is online, and it is quiescent now. */
static void
owner_settle(struct tw_qring *qr, struct tw_qlimbo *l)
{
	for (int i = 0; i < 64; i++) {
		tw_qring_retire(qr, qsbr, l);
		tw_qlimbo_release(l, &spares, qsbr);
	}
}

static void
test_grows_and_shrinks(void **state)
{
	enum { MAX = 5000 };
	struct tw_qring *qr = tw_qring_create(MAX);
	struct tw_qlimbo limbo = { 0 };
	uint64_t one_seg, grown;
	void *v[64];
	uintptr_t next = 1;

	(void)state;
	assert_non_null(qr);
	one_seg = tw_qring_memory(qr);
	/* one at a time and in bursts, refilling the pool as the owner would */
	for (uintptr_t i = 1; i <= MAX; i++) {
		assert_true(tw_qring_enqueue(qr, &spares, (void *)i));
		if (i % 500 == 0)
			tw_qspares_refill(&spares);
	}
	assert_int_equal(tw_qring_count(qr), MAX);
	assert_false(tw_qring_enqueue(qr, &spares, (void *)(uintptr_t)(MAX + 1))); /* max-length */
	assert_true(qr->n_segs > 1);
	grown = tw_qring_memory(qr);
	assert_true(grown > one_seg * 10);
	/* in order, across the segments */
	for (unsigned got; (got = tw_qring_dequeue_burst(qr, v, RTE_DIM(v))) != 0;)
		for (unsigned j = 0; j < got; j++)
			assert_int_equal((uintptr_t)v[j], next++);
	assert_int_equal(next, MAX + 1);
	assert_int_equal(tw_qring_count(qr), 0);
	/* drained: the segments go, one per grace period, down to the newest */
	owner_settle(qr, &limbo);
	assert_int_equal(qr->n_segs, 1);
	assert_int_equal(limbo.n, 0);
	assert_true(tw_qring_memory(qr) < grown / 2);
	/* and the queue still works */
	assert_true(tw_qring_enqueue(qr, &spares, (void *)(uintptr_t)7));
	assert_true(tw_qring_dequeue(qr, v));
	assert_int_equal((uintptr_t)v[0], 7);
	tw_qring_destroy(qr);
	tw_qlimbo_free(&limbo);
}

/* An empty pool refuses (counted); stocked again, the same task goes in. */
static void
test_starved_pool(void **state)
{
	struct tw_qring *qr = tw_qring_create(1000);
	uint64_t before = 0, after = 0;
	void *s;

	(void)state;
	assert_non_null(qr);
	for (unsigned c = 0; c < TW_QSEG_CLASSES; c++)
		while (rte_ring_dequeue(spares.free[c], &s) == 0)
			rte_free(s);
	for (uintptr_t i = 1; i <= TW_QSEG_FIRST - 1; i++)
		assert_true(tw_qring_enqueue(qr, &spares, (void *)i));
	for (unsigned c = 0; c < TW_QSEG_CLASSES; c++)
		before += spares.starved[c];
	assert_false(tw_qring_enqueue(qr, &spares, (void *)(uintptr_t)64));
	for (unsigned c = 0; c < TW_QSEG_CLASSES; c++)
		after += spares.starved[c];
	assert_true(after > before); /* counted */
	tw_qspares_refill(&spares);
	assert_true(tw_qring_enqueue(qr, &spares, (void *)(uintptr_t)64));
	assert_int_equal(tw_qring_count(qr), 64);
	while (tw_qring_dequeue(qr, &s))
		;
	tw_qring_destroy(qr);
}

#define PER_PRODUCER 300000u

struct producer {
	struct tw_qring *qr;
	unsigned id;
	uint64_t refused;
};

static void *
produce(void *arg)
{
	struct producer *p = arg;
	uint32_t tid = p->id;
	uint64_t seq = 0;
	unsigned burst = 1;

	rte_rcu_qsbr_thread_register(qsbr, tid);
	rte_rcu_qsbr_thread_online(qsbr, tid);
	while (seq < PER_PRODUCER) {
		void *v[32];
		unsigned n = burst, k;

		if (n > PER_PRODUCER - seq)
			n = (unsigned)(PER_PRODUCER - seq);
		for (unsigned j = 0; j < n; j++)
			v[j] = (void *)(uintptr_t)(((uint64_t)p->id << 40) | (seq + j + 1));
		k = tw_qring_enqueue_burst(p->qr, &spares, v, n);
		seq += k;
		if (k < n)
			p->refused++;
		burst = burst % 32 + 1;
		rte_rcu_qsbr_quiescent(qsbr, tid);
	}
	rte_rcu_qsbr_thread_offline(qsbr, tid);
	rte_rcu_qsbr_thread_unregister(qsbr, tid);
	return NULL;
}

struct consumer {
	struct tw_qring *qr;
	uint64_t got, out_of_order;
	uint64_t last[3];
};

static void *
consume(void *arg)
{
	struct consumer *c = arg;
	uint32_t tid = 3;

	rte_rcu_qsbr_thread_register(qsbr, tid);
	rte_rcu_qsbr_thread_online(qsbr, tid);
	while (c->got < 2ull * PER_PRODUCER) {
		void *v[32];
		unsigned n = tw_qring_dequeue_burst(c->qr, v, RTE_DIM(v));

		for (unsigned j = 0; j < n; j++) {
			uint64_t x = (uintptr_t)v[j], who = x >> 40, seq = x & ((1ull << 40) - 1);

			if (who < 1 || who > 2 || seq != c->last[who] + 1)
				c->out_of_order++;
			if (who >= 1 && who <= 2)
				c->last[who] = seq;
		}
		c->got += n;
		rte_rcu_qsbr_quiescent(qsbr, tid);
	}
	rte_rcu_qsbr_thread_offline(qsbr, tid);
	rte_rcu_qsbr_thread_unregister(qsbr, tid);
	return NULL;
}

static void
test_concurrent(void **state)
{
	/* small enough that the chain fills, drains and retires many times */
	struct tw_qring *qr = tw_qring_create(20000);
	struct tw_qlimbo limbo = { 0 };
	struct producer p[2] = { { qr, 1, 0 }, { qr, 2, 0 } };
	struct consumer c = { .qr = qr };
	pthread_t tp[2], tc;
	uint64_t retired_before = spares.appended;

	(void)state;
	assert_non_null(qr);
	assert_int_equal(pthread_create(&tc, NULL, consume, &c), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&tp[i], NULL, produce, &p[i]), 0);
	/* the owner: retire, release, restock until the consumer has everything */
	while (__atomic_load_n(&c.got, __ATOMIC_RELAXED) < 2ull * PER_PRODUCER) {
		tw_qspares_refill(&spares);
		tw_qring_retire(qr, qsbr, &limbo);
		tw_qlimbo_release(&limbo, &spares, qsbr);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(tp[i], NULL);
	pthread_join(tc, NULL);
	print_message("concurrent: %u tasks, %" PRIu64 " segments appended, %" PRIu64 "+%" PRIu64
		      " bursts refused (full or pool empty), %u segments now\n",
		      2 * PER_PRODUCER, spares.appended - retired_before, p[0].refused, p[1].refused,
		      qr->n_segs);
	assert_int_equal(c.got, 2ull * PER_PRODUCER);
	assert_int_equal(c.out_of_order, 0);
	assert_int_equal(c.last[1], PER_PRODUCER);
	assert_int_equal(c.last[2], PER_PRODUCER);
	assert_true(spares.appended > retired_before);
	owner_settle(qr, &limbo);
	assert_int_equal(qr->n_segs, 1);
	tw_qring_destroy(qr);
	tw_qlimbo_free(&limbo);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_and_shrinks),
		cmocka_unit_test(test_starved_pool),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
