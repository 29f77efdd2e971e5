/*
 * The threads pool (see tw_threads.h).
 *
 * A slot's state word is the one thing a thread and the watchdog both
 * write: RUNNING -> IDLE (thread, when its handler returns) races with
 * RUNNING -> ABANDONED (watchdog, past the hard limit); the compare-and-
 * swap decides who completes the task, so it is completed exactly once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "tw_task.h"
#include "tw_tasks.h"
#include "tw_threads.h"

#define IDLE_SLEEP_US 100
#define DONE_POOL 8191

enum { SLOT_FREE = 0, SLOT_IDLE, SLOT_RUNNING, SLOT_ABANDONED, SLOT_EXITED };

struct slot {
	struct tw_threads *pool;
	pthread_t th;
	uint32_t state;            /* SLOT_*: see the file comment */
	uint64_t start_tsc;
	uint64_t limit_tsc;        /* 0: no hard limit */
	uint32_t limit_ms;
	struct tw_task *task;
} __rte_cache_aligned;

struct tw_threads {
	struct tw_shared *sh;
	const struct tw_task_registry *reg;
	struct rte_ring *todo;                 /* MP (worker lcores) / MC (threads) */
	struct rte_ring *done[TW_MAX_LCORES];  /* MP (threads, watchdog) / SC (its lcore) */
	struct rte_mempool *dones;
	uint64_t tsc_per_ms;
	volatile bool stop;
	uint64_t abandoned;
	struct slot slots[TW_THREADS_MAX];
};

static struct tw_thread_done *
done_get(struct tw_threads *p)
{
	struct tw_thread_done *d;

	/* bounded by the pool's size: completions come back as lcores poll */
	while (rte_mempool_get(p->dones, (void **)&d) != 0) {
		if (p->stop)
			return NULL;
		usleep(IDLE_SLEEP_US);
	}
	return d;
}

static void
done_put(struct tw_threads *p, struct tw_thread_done *d)
{
	uint32_t origin = d->task->origin;

	/* Hand-off: after the enqueue the task's lcore owns d (and the task if owned). */
	while (rte_ring_mp_enqueue(p->done[origin], d) != 0 && !p->stop)
		usleep(IDLE_SLEEP_US);
}

static void
run(struct slot *s, struct tw_task *t)
{
	struct tw_threads *p = s->pool;
	const struct tw_task_def *def = &p->reg->defs[t->handler];
	struct tw_thread_done *d = done_get(p);
	struct tw_task_ctx io = {
		.args = t->args, .args_len = t->args_len, .task_id = t->id,
		.retries = t->retries, .retry_countdown_ms = -1, .lcore = NULL, .task = t,
	};
	uint64_t start = rte_rdtsc();
	uint32_t expect = SLOT_RUNNING;
	int ret;

	if (d == NULL)
		return;
	io.out = d->out;
	io.out_cap = sizeof(d->out);
	if (def->soft_time_limit_ms != 0)
		io.soft_deadline_tsc = start + def->soft_time_limit_ms * p->tsc_per_ms;
	s->task = t;
	s->limit_ms = def->time_limit_ms;
	s->limit_tsc = def->time_limit_ms * p->tsc_per_ms;
	s->start_tsc = start;
	/* release: the watchdog reads task and limits after seeing RUNNING */
	__atomic_store_n(&s->state, SLOT_RUNNING, __ATOMIC_RELEASE);
	ret = def->fn(&io);
	if (!__atomic_compare_exchange_n(&s->state, &expect, SLOT_IDLE, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		/* abandoned: the watchdog completed it; the task is ours to release */
		rte_mempool_put(p->dones, d);
		tw_task_release(t, p->sh->task_pool);
		return;
	}
	d->task = t;
	d->outcome = ret;
	d->retry_asked = io.retry_asked;
	d->retry_countdown_ms = io.retry_countdown_ms;
	d->out_len = io.out_len;
	d->owned = true;
	d->runtime_ns = (rte_rdtsc() - start) * 1000 / p->tsc_per_ms * 1000;
	done_put(p, d);
}

static void *
thread_main(void *arg)
{
	struct slot *s = arg;
	struct tw_threads *p = s->pool;

	while (!p->stop) {
		struct tw_task *t;

		if (rte_ring_mc_dequeue(p->todo, (void **)&t) != 0) {
			usleep(IDLE_SLEEP_US);
			continue;
		}
		run(s, t);
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == SLOT_ABANDONED)
			break; /* a replacement took this slot's place */
	}
	__atomic_store_n(&s->state, SLOT_EXITED, __ATOMIC_RELEASE);
	return NULL;
}

static int
spawn(struct tw_threads *p)
{
	for (uint32_t i = 0; i < TW_THREADS_MAX; i++) {
		struct slot *s = &p->slots[i];
		uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
		char name[16];

		if (st != SLOT_FREE && st != SLOT_EXITED)
			continue;
		s->pool = p;
		s->task = NULL;
		__atomic_store_n(&s->state, SLOT_IDLE, __ATOMIC_RELEASE);
		if (pthread_create(&s->th, NULL, thread_main, s) != 0) {
			s->state = SLOT_FREE;
			return -EAGAIN;
		}
		pthread_detach(s->th);
		snprintf(name, sizeof(name), "tw-thread-%u", i);
		pthread_setname_np(s->th, name);
		return 0;
	}
	return -ENOSPC;
}

struct tw_threads *
tw_threads_start(struct tw_shared *sh, const struct tw_task_registry *reg, uint32_t n)
{
	struct tw_threads *p = calloc(1, sizeof(*p));
	char name[RTE_RING_NAMESIZE];

	if (p == NULL || n == 0 || n > TW_THREADS_MAX) {
		free(p);
		rte_errno = EINVAL;
		return NULL;
	}
	p->sh = sh;
	p->reg = reg;
	p->tsc_per_ms = rte_get_tsc_hz() / 1000;
	p->todo = rte_ring_create("tw_r_w_threads", TW_THREADS_RING, SOCKET_ID_ANY, 0);
	p->dones = rte_mempool_create("tw_thread_done", DONE_POOL, sizeof(struct tw_thread_done), 0,
				      0, NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	if (p->todo == NULL || p->dones == NULL)
		goto fail;
	for (uint32_t i = 0; i < sh->n_pollers; i++) {
		snprintf(name, sizeof(name), "tw_r_threads_w%u", i);
		p->done[i] = rte_ring_create(name, DONE_POOL + 1, SOCKET_ID_ANY, RING_F_SC_DEQ);
		if (p->done[i] == NULL)
			goto fail;
	}
	for (uint32_t i = 0; i < n; i++)
		if (spawn(p) != 0)
			goto fail;
	return p;
fail:
	tw_threads_stop(p);
	rte_errno = ENOMEM;
	return NULL;
}

void
tw_threads_stop(struct tw_threads *p)
{
	if (p == NULL)
		return;
	p->stop = true;
	/* bounded wait: threads in a handler finish it first; abandoned ones may never */
	for (int tries = 0; tries < 200; tries++) {
		bool running = false;

		for (uint32_t i = 0; i < TW_THREADS_MAX; i++) {
			uint32_t st = __atomic_load_n(&p->slots[i].state, __ATOMIC_ACQUIRE);

			running |= st == SLOT_IDLE || st == SLOT_RUNNING;
		}
		if (!running)
			break;
		usleep(10000);
	}
	/* the pool's rings and mempool live in hugepage memory until the process ends */
}

bool
tw_threads_submit(struct tw_threads *p, struct tw_lcore_ctx *ctx, struct tw_task *t)
{
	t->origin = (uint8_t)ctx->qsbr_id;
	/* Hand-off: after the enqueue a pool thread owns t. */
	return rte_ring_mp_enqueue(p->todo, t) == 0;
}

uint32_t
tw_threads_poll(struct tw_threads *p, struct tw_lcore_ctx *ctx, struct tw_thread_done **v,
		uint32_t max)
{
	return rte_ring_sc_dequeue_burst(p->done[ctx->qsbr_id], (void **)v, max, NULL);
}

void
tw_threads_done_free(struct tw_threads *p, struct tw_thread_done *d)
{
	rte_mempool_put(p->dones, d);
}

uint32_t
tw_threads_watch(struct tw_threads *p)
{
	uint64_t now = rte_rdtsc();
	uint32_t n = 0;

	if (p == NULL)
		return 0;
	for (uint32_t i = 0; i < TW_THREADS_MAX; i++) {
		struct slot *s = &p->slots[i];
		uint32_t expect = SLOT_RUNNING;
		struct tw_thread_done *d;

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SLOT_RUNNING ||
		    s->limit_tsc == 0 || now - s->start_tsc <= s->limit_tsc)
			continue;
		if (rte_mempool_get(p->dones, (void **)&d) != 0)
			continue; /* next watch */
		if (!__atomic_compare_exchange_n(&s->state, &expect, SLOT_ABANDONED, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			rte_mempool_put(p->dones, d); /* it finished just now */
			continue;
		}
		d->task = s->task;
		d->outcome = TW_TASK_FAILURE;
		d->retry_asked = false;
		d->owned = false;
		d->runtime_ns = (now - s->start_tsc) * 1000 / p->tsc_per_ms * 1000;
		d->out_len = (uint32_t)snprintf((char *)d->out, sizeof(d->out),
						"hard time limit of %u ms exceeded; the thread was "
						"abandoned and replaced",
						s->limit_ms);
		done_put(p, d);
		__atomic_fetch_add(&p->abandoned, 1, __ATOMIC_RELAXED);
		spawn(p);
		n++;
	}
	return n;
}

void
tw_threads_counts(const struct tw_threads *p, uint32_t *busy, uint32_t *idle, uint64_t *abandoned)
{
	*busy = *idle = 0;
	*abandoned = p != NULL ? __atomic_load_n(&p->abandoned, __ATOMIC_RELAXED) : 0;
	for (uint32_t i = 0; p != NULL && i < TW_THREADS_MAX; i++) {
		uint32_t st = __atomic_load_n(&p->slots[i].state, __ATOMIC_RELAXED);

		*busy += st == SLOT_RUNNING;
		*idle += st == SLOT_IDLE;
	}
}
