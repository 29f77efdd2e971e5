/*
 * Task requests: `twctl result`, `revoke`, `forget` and `list tasks`.
 * A task is looked for where it can be: running on a worker lcore, held
 * by the scheduler, waiting in a queue ring, revoked, or in the result
 * store (the only place that outlives it).
 *
 * Queue rings are read without taking anything off them (their entries
 * between the consumer and producer tails): a best-effort view, since
 * workers dequeue meanwhile; descriptors stay mapped (mempool), so a stale
 * pointer reads a recycled descriptor, never unmapped memory.
 *
 * Threads: tw-control's main thread, under the control lock (ctl_ctx.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ring.h>

#include "ctl_handlers.h"
#include "ctl_revoke.h"
#include "ctl_sched.h"
#include "ctl_store.h"
#include "tw_task.h"
#include "tw_wire.h"

#define LIST_MAX 1000            /* tasks per `list tasks` answer, per kind */
#define VALUE_MAX (64 * 1024)
#define MEMBERS_MAX 1000u          /* members listed in one reply */
#define MEMBER_VALUE_MAX 512       /* a member's value and error, each listed member */

struct peek {
	void (*fn)(void *arg, const struct tw_task *t);
	void *arg;
};

static void
peek_one(void *arg, void *obj)
{
	struct peek *p = arg;

	p->fn(p->arg, obj);
}

/* Visit up to max descriptors waiting in ring r (NULL: none). @return visited. */
static uint32_t
ring_peek(const struct tw_qring *r, uint32_t max,
	  void (*fn)(void *arg, const struct tw_task *t), void *arg)
{
	struct peek p = { fn, arg };

	return r != NULL ? tw_qring_peek(r, max, peek_one, &p) : 0;
}

struct find {
	uint64_t id;
	bool found;
};

static void
find_one(void *arg, const struct tw_task *t)
{
	struct find *f = arg;

	if (t->id == f->id)
		f->found = true;
}

/* @return the queue slot id waits in, or -1 (best effort, see above). */
static int
queued_in(const struct tw_shared *sh, uint64_t id)
{
	for (int s = 0; s < TW_MAX_QUEUES; s++) {
		const struct tw_queue_slot *q = sh->queues[s];
		struct find f = { id, false };

		if (q == NULL)
			continue;
		ring_peek(q->ring, UINT32_MAX, find_one, &f);
		for (unsigned p = 0; p < q->max_priority && !f.found; p++)
			ring_peek(q->levels[p], UINT32_MAX, find_one, &f);
		if (f.found)
			return s;
	}
	return -1;
}

/* @return the plan index of the lcore running id, or -1. */
static int
running_on(const struct tw_shared *sh, uint64_t id)
{
	for (uint32_t i = 0; i < sh->n_pollers; i++)
		if (__atomic_load_n(&sh->stats[i].running_task, __ATOMIC_RELAXED) == id)
			return (int)i;
	return -1;
}

static Taskwire__Control__TaskResult *
new_result(struct ctl_reply *r, uint64_t id, const char *where)
{
	Taskwire__Control__TaskResult *tr = ctl_reply_alloc(r, sizeof(*tr));

	if (tr == NULL)
		return NULL;
	taskwire__control__task_result__init(tr);
	tr->task_id = id;
	tr->where = ctl_reply_strdup(r, where);
	r->resp.result = tr;
	return tr;
}

/*
 * A group's (or chord header's) members in index order, with their states
 * (first MEMBERS_MAX), from the store's membership table.
 */
static int
group_members(struct ctl_ctx *ctx, struct ctl_reply *r, Taskwire__Control__TaskResult *tr)
{
	uint64_t *ids = ctl_reply_alloc(r, MEMBERS_MAX * sizeof(uint64_t));
	int n = ids != NULL ? tw_store_group_members(ctx->store, tr->task_id, ids, MEMBERS_MAX) : 0;
	uint32_t shown;

	if (n <= 0)
		return 0;
	tr->group_size = (uint32_t)n;
	shown = RTE_MIN((uint32_t)n, MEMBERS_MAX);
	tr->members = ctl_reply_alloc(r, shown * sizeof(*tr->members));
	if (tr->members == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < shown; i++) {
		Taskwire__Control__TaskResult *m = ctl_reply_alloc(r, sizeof(*m));
		uint8_t *buf = ctl_reply_alloc(r, MEMBER_VALUE_MAX);
		struct tw_store_record rec;

		if (m == NULL || buf == NULL)
			return -ENOMEM;
		taskwire__control__task_result__init(m);
		m->task_id = ids[i];
		m->group_id = tr->task_id;
		m->group_index = i;
		m->state = TW_ST_PENDING;
		if (tw_store_get(ctx->store, ids[i], &rec, buf, MEMBER_VALUE_MAX) == 0) {
			m->state = rec.state;
			m->value.data = (uint8_t *)rec.value;
			m->value.len = rec.value_len;
			m->error = rec.error_len != 0 ? (char *)rec.error : (char *)"";
			m->name = ctl_reply_strdup(r, rec.name);
			m->where = (char *)"store";
		}
		tr->members[tr->n_members++] = m;
	}
	return 0;
}

int
ctl_tasks_result(struct ctl_ctx *ctx, uint64_t id, struct ctl_reply *r)
{
	Taskwire__Control__TaskResult *tr;
	struct tw_store_record rec;
	struct ctl_sched_entry held;
	uint8_t *buf;
	int ret = -ENOENT;

	if (id == 0) {
		snprintf(r->err, sizeof(r->err), "task id 0 is not a task");
		return -EINVAL;
	}
	buf = ctl_reply_alloc(r, VALUE_MAX);
	if (ctx->store != NULL && buf != NULL)
		ret = tw_store_get(ctx->store, id, &rec, buf, VALUE_MAX);
	if (ret == -ENOBUFS) {
		/* a large result (sent in fragments): a buffer its size, once */
		size_t need = (size_t)rec.value_len + rec.error_len + 1;

		buf = ctl_reply_alloc(r, need);
		ret = buf != NULL ? tw_store_get(ctx->store, id, &rec, buf, need) : -ENOMEM;
	}
	if (ret == 0) {
		/* the store is authoritative once a state is recorded */
		tr = new_result(r, id, "store");
		if (tr == NULL)
			return -ENOMEM;
		tr->state = rec.state;
		tr->value.data = (uint8_t *)rec.value;
		tr->value.len = rec.value_len;
		tr->error = ctl_reply_alloc(r, rec.error_len + 1);
		if (tr->error != NULL && rec.error_len != 0) /* no error: rec.error is NULL */
			memcpy(tr->error, rec.error, rec.error_len);
		else if (tr->error == NULL)
			tr->error = (char *)"";
		tr->name = ctl_reply_strdup(r, rec.name);
		tr->retries = rec.retries;
		tr->runtime_ns = rec.runtime_ns;
		tr->date_done_ms = rec.date_done_ms;
		tr->root_id = rec.root_id;
		tr->parent_id = rec.parent_id;
		tr->group_id = rec.group_id;
		return group_members(ctx, r, tr);
	}
	/* not recorded yet: where is it? Celery calls all of these PENDING */
	if (running_on(ctx->broker.sh, id) >= 0) {
		tr = new_result(r, id, "running");
		if (tr != NULL)
			tr->state = TW_ST_STARTED;
	} else if (ctx->sched != NULL && ctl_sched_find(ctx->sched, id, &held)) {
		tr = new_result(r, id, "scheduled");
		if (tr != NULL) {
			tr->eta_ms = held.due_ms;
			tr->retries = held.retries;
			tr->name = ctl_reply_strdup(r, held.name);
		}
	} else if (queued_in(ctx->broker.sh, id) >= 0) {
		tr = new_result(r, id, "queued");
	} else {
		tr = new_result(r, id, "unknown");
	}
	if (tr == NULL)
		return -ENOMEM;
	if (tr->state == 0)
		tr->state = TW_ST_PENDING;
	return 0;
}

int
ctl_tasks_revoke(struct ctl_ctx *ctx, uint64_t id, struct ctl_reply *r)
{
	struct tw_store_record rec;
	uint8_t buf[256];
	bool held, queued, running, stored = false;
	int ret;

	if (id == 0) {
		snprintf(r->err, sizeof(r->err), "task id 0 is not a task");
		return -EINVAL;
	}
	if (ctx->revoke == NULL || ctx->sched == NULL) {
		snprintf(r->err, sizeof(r->err), "revoke needs tw-control's scheduler");
		return -ENOTSUP;
	}
	if (ctx->store != NULL) {
		/* only the state is needed: a result too big for buf still fills it (-ENOBUFS) */
		ret = tw_store_get(ctx->store, id, &rec, buf, sizeof(buf));
		stored = ret == 0 || ret == -ENOBUFS;
	}
	if (stored && rec.state >= TW_ST_SUCCESS) {
		snprintf(r->err, sizeof(r->err), "task %016llx already finished (%s)",
			 (unsigned long long)id, tw_wire_state_name(rec.state));
		return -EALREADY;
	}
	held = ctl_sched_find(ctx->sched, id, NULL);
	running = running_on(ctx->broker.sh, id) >= 0;
	queued = queued_in(ctx->broker.sh, id) >= 0;
	if (!held && !queued && !running && !stored) {
		snprintf(r->err, sizeof(r->err),
			 "unknown task %016llx: not scheduled, queued, running or in the result store",
			 (unsigned long long)id);
		return -ENOENT;
	}
	if (running && !held && !queued) {
		snprintf(r->err, sizeof(r->err),
			 "task %016llx is running: revoke stops tasks that have not started",
			 (unsigned long long)id);
		return -EBUSY;
	}
	ret = ctl_revoke_add(ctx->revoke, id);
	if (ret == -EALREADY) {
		snprintf(r->err, sizeof(r->err), "task %016llx is already revoked",
			 (unsigned long long)id);
		return ret;
	}
	/* a held task is made due now: the worker that takes it reports REVOKED */
	if (held)
		ctl_sched_expedite(ctx->sched, id);
	return ret;
}

int
ctl_tasks_forget(struct ctl_ctx *ctx, uint64_t id, struct ctl_reply *r)
{
	int ret = ctx->store != NULL ? tw_store_forget(ctx->store, id) : -ENOENT;

	if (ret == -ENOENT)
		snprintf(r->err, sizeof(r->err), "no result for task %016llx in the store",
			 (unsigned long long)id);
	else if (ret != 0)
		snprintf(r->err, sizeof(r->err), "forget %016llx: %s", (unsigned long long)id,
			 strerror(-ret));
	return ret;
}

struct lister {
	struct ctl_reply *r;
	Taskwire__Control__TaskInfo **items;
	uint32_t n, cap;
	const char *queue;
};

static Taskwire__Control__TaskInfo *
add_info(struct lister *l, uint64_t id, const char *status)
{
	Taskwire__Control__TaskInfo *ti;

	if (l->n == l->cap)
		return NULL;
	ti = ctl_reply_alloc(l->r, sizeof(*ti));
	if (ti == NULL)
		return NULL;
	taskwire__control__task_info__init(ti);
	ti->task_id = id;
	ti->status = (char *)status;
	ti->name = (char *)"";
	ti->queue = (char *)"";
	l->items[l->n++] = ti;
	return ti;
}

static void
add_reserved(void *arg, const struct tw_task *t)
{
	struct lister *l = arg;
	Taskwire__Control__TaskInfo *ti = add_info(l, t->id, "reserved");
	char name[TW_NAME_MAX];

	if (ti == NULL)
		return;
	snprintf(name, sizeof(name), "%.*s", (int)RTE_MIN(t->name_len, TW_NAME_MAX - 1), t->name);
	ti->name = ctl_reply_strdup(l->r, name);
	ti->retries = t->retries;
	ti->queue = (char *)l->queue;
}

int
ctl_tasks_list(struct ctl_ctx *ctx, struct ctl_reply *r)
{
	static struct ctl_sched_entry held[LIST_MAX];
	uint64_t revoked[LIST_MAX];
	struct lister l = { .r = r, .cap = 4 * LIST_MAX };
	const struct tw_shared *sh = ctx->broker.sh;
	uint64_t now = rte_rdtsc();
	uint32_t n;

	l.items = ctl_reply_alloc(r, sizeof(*l.items) * l.cap);
	if (l.items == NULL)
		return -ENOMEM;
	/* active: what each worker lcore runs right now */
	for (uint32_t i = 0; i < sh->n_pollers; i++) {
		uint64_t id = __atomic_load_n(&sh->stats[i].running_task, __ATOMIC_RELAXED);
		uint64_t since = __atomic_load_n(&sh->stats[i].running_since_tsc, __ATOMIC_RELAXED);
		Taskwire__Control__TaskInfo *ti;

		if (id == 0 || (ti = add_info(&l, id, "active")) == NULL)
			continue;
		ti->lcore = sh->plan[i + 1].lcore_id;
		ti->running_ms = now > since ? (now - since) * 1000 / sh->tsc_hz : 0;
	}
	if (ctx->sched != NULL) {
		n = ctl_sched_list(ctx->sched, held, LIST_MAX);
		for (uint32_t i = 0; i < n; i++) {
			Taskwire__Control__TaskInfo *ti = add_info(&l, held[i].id, "scheduled");

			if (ti == NULL)
				break;
			ti->name = ctl_reply_strdup(r, held[i].name);
			ti->eta_ms = held[i].due_ms;
			ti->retries = held[i].retries;
		}
	}
	for (int s = 0; s < TW_MAX_QUEUES; s++) {
		const struct tw_queue_slot *q = sh->queues[s];
		uint32_t room = l.cap - l.n < LIST_MAX ? l.cap - l.n : LIST_MAX;

		if (q == NULL)
			continue;
		l.queue = ctl_reply_strdup(r, q->name);
		for (unsigned p = q->max_priority; p > 0; p--)
			room -= ring_peek(q->levels[p - 1], room, add_reserved, &l);
		ring_peek(q->ring, room, add_reserved, &l);
	}
	if (ctx->revoke != NULL) {
		n = ctl_revoke_list(ctx->revoke, revoked, LIST_MAX);
		for (uint32_t i = 0; i < n; i++)
			if (add_info(&l, revoked[i], "revoked") == NULL)
				break;
	}
	r->resp.tasks = l.items;
	r->resp.n_tasks = l.n;
	return 0;
}
