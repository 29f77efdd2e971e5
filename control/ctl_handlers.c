/*
 * Control request handlers: see ctl_handlers.h. Each handler validates
 * through the broker, which writes a message into r->err on failure; the
 * response then carries ok = false and that message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ring.h>

#include "ctl_durable_defs.h"
#include "ctl_handlers.h"
#include "tw_broker_counters.h"
#include "tw_broker_definitions.h"
#include "tw_broker_spec.h"

/* Worker lcores: every one consumes every queue (round robin). */
static uint32_t
worker_lcores(const struct tw_shared *sh)
{
	uint32_t workers = 0;

	for (uint32_t i = 0; i < sh->n_plan; i++)
		workers += sh->plan[i].role == TW_ROLE_WORKER || sh->plan[i].role == TW_ROLE_RTC;
	return workers;
}

/* One queue slot's figures into q (strings borrowed from r or static). */
static void
fill_queue(const struct tw_broker *b, const struct tw_rc_queues *rq, uint32_t s, uint32_t workers,
	   struct ctl_reply *r, Taskwire__Control__QueueInfo *q)
{
	const struct tw_shared *sh = b->sh;
	const struct tw_queue_slot *qs = sh->queues[s];
	struct tw_broker_queue_counts c;

	tw_broker_queue_counts(sh, s, &c);
	q->name = ctl_reply_strdup(r, qs->name);
	q->max_length = qs->max_length;
	q->ready = tw_broker_queue_ready(qs);
	q->max_priority = qs->max_priority;
	q->max_length_bytes = qs->max_bytes;
	q->durable = qs->durable != 0;
	q->delivery_limit = qs->delivery_limit;
	q->consumers = (char *)tw_broker_consumers_name(qs->consumers);
	q->remote_consumers = tw_broker_queue_remote_consumers(rq, s);
	q->ready_bytes = __atomic_load_n(tw_qbytes(sh, s), __ATOMIC_RELAXED);
	q->published = c.published;
	q->delivered = c.delivered;
	q->rejected = c.rejected;
	/* completed is counted after delivered, so a snapshot never goes below zero */
	q->in_flight = c.delivered > c.completed ? c.delivered - c.completed : 0;
	q->workers = workers;
	q->overflow = (char *)tw_broker_overflow_name(qs->overflow);
	q->message_ttl = qs->message_ttl_ms;
	q->dead_letter_exchange = ctl_reply_strdup(r, qs->dlx);
	q->has_dead_letter_routing_key = qs->has_dl_key;
	q->dead_letter_routing_key = ctl_reply_strdup(r, qs->dl_key);
	q->dropped = c.dropped;
	q->expired = c.expired;
	q->redelivered = c.redelivered;
	q->publish_rate = b->publish_rate[s];
	q->deliver_rate = b->deliver_rate[s];
}

/*
 * Queues from slot start on, at most limit of them (0: all): a page's
 * position is a slot, so a queue declared or deleted between pages moves
 * no other queue from one page to another (each is listed at most once).
 */
static int
list_queues(const struct tw_broker *b, uint32_t start, uint32_t limit, struct ctl_reply *r)
{
	const struct tw_shared *sh = b->sh;
	Taskwire__Control__QueueInfo **q;
	const struct tw_rc_queues *rq = tw_broker_rc_queues();
	uint32_t workers = worker_lcores(sh), s, end = TW_MAX_QUEUES;
	size_t n = 0, k = 0;

	for (s = start; s < TW_MAX_QUEUES; s++) {
		if (sh->queues[s] == NULL)
			continue;
		if (limit != 0 && n == limit) {
			end = s; /* the next page starts here */
			break;
		}
		n++;
	}
	REPLY_ARRAY(r, Taskwire__Control__QueueInfo, taskwire__control__queue_info__init, n, q);
	if (q == NULL)
		return -ENOMEM;
	for (s = start; s < end && k < n; s++) {
		if (sh->queues[s] == NULL)
			continue;
		fill_queue(b, rq, s, workers, r, q[k]);
		k++;
	}
	r->resp.n_queues = k;
	r->resp.queues = q;
	r->resp.list_more = end < TW_MAX_QUEUES;
	r->resp.list_next = r->resp.list_more ? end : 0;
	return 0;
}

/* Does slot hold a queue remote consumers take now, or had deliveries put back? */
static bool
remote_queue(const struct tw_shared *sh, const struct tw_rc_queues *rq, uint32_t s)
{
	struct tw_broker_queue_counts c;

	if (sh->queues[s] == NULL)
		return false;
	if (tw_broker_queue_remote_consumers(rq, s) != 0)
		return true;
	tw_broker_queue_counts(sh, s, &c);
	return c.redelivered != 0;
}

int
ctl_remote_queues(const struct tw_broker *b, struct ctl_reply *r,
		  Taskwire__Control__QueueInfo ***out, size_t *n_out)
{
	const struct tw_shared *sh = b->sh;
	const struct tw_rc_queues *rq = tw_broker_rc_queues();
	uint32_t workers = worker_lcores(sh);
	Taskwire__Control__QueueInfo **q;
	size_t n = 0, k = 0;

	/* counted, then filled (one that changes in between waits for the next status) */
	for (uint32_t s = 0; s < TW_MAX_QUEUES; s++)
		n += remote_queue(sh, rq, s);
	REPLY_ARRAY(r, Taskwire__Control__QueueInfo, taskwire__control__queue_info__init, n, q);
	if (q == NULL)
		return -ENOMEM;
	for (uint32_t s = 0; s < TW_MAX_QUEUES && k < n; s++)
		if (remote_queue(sh, rq, s))
			fill_queue(b, rq, s, workers, r, q[k++]);
	*out = q;
	*n_out = k;
	return 0;
}

/* One queue by name (an AMQP front door's declare-ok and get-ok counts). */
static int
queue_info(const struct tw_broker *b, const char *name, struct ctl_reply *r)
{
	Taskwire__Control__QueueInfo **q;
	int s = tw_broker_queue_find(b, name);

	if (s < 0) {
		snprintf(r->err, sizeof(r->err), "no queue '%s'", name);
		return -ENOENT;
	}
	REPLY_ARRAY(r, Taskwire__Control__QueueInfo, taskwire__control__queue_info__init, 1, q);
	if (q == NULL) {
		snprintf(r->err, sizeof(r->err), "out of memory");
		return -ENOMEM;
	}
	fill_queue(b, tw_broker_rc_queues(), (uint32_t)s, worker_lcores(b->sh), r,
		   q[0]);
	r->resp.n_queues = 1;
	r->resp.queues = q;
	return 0;
}

/*
 * Exchanges from position start on (0: the default exchange, i + 1: the
 * broker's i-th), at most limit of them (0: all). Positions are the
 * broker's order, which a delete shifts: a page taken after a delete may
 * miss or repeat an exchange near its start (listings are snapshots).
 */
static int
list_exchanges(const struct tw_broker *b, uint32_t start, uint32_t limit, struct ctl_reply *r)
{
	Taskwire__Control__ExchangeInfo **e;
	size_t all = (size_t)b->n_exchanges + 1, n = start < all ? all - start : 0;

	if (limit != 0 && n > limit)
		n = limit;
	REPLY_ARRAY(r, Taskwire__Control__ExchangeInfo, taskwire__control__exchange_info__init, n, e);
	if (e == NULL)
		return -ENOMEM;
	for (size_t j = 0; j < n; j++) {
		size_t pos = start + j;
		const struct tw_def_exchange *x = pos != 0 ? &b->exchanges[pos - 1] : NULL;
		/* counters by the exchange's stable slot, since its declaration */
		uint32_t slot = x == NULL ? 0 : x->slot;
		const struct tw_exchange_base *base = tw_broker_exchange_base(b->sh, slot);

		if (x == NULL) {
			e[j]->name = (char *)"";
			e[j]->type = (char *)"direct";
			e[j]->alternate = (char *)"";
		} else {
			e[j]->name = ctl_reply_strdup(r, x->name);
			e[j]->type = (char *)tw_exchange_type_name(x->type);
			e[j]->alternate = ctl_reply_strdup(r, x->alternate);
			e[j]->internal = (x->flags & TW_EX_F_INTERNAL) != 0;
			e[j]->n_allow = x->n_allow;
			e[j]->allow = x->n_allow != 0 ? ctl_reply_alloc(r, sizeof(char *) * TW_MAX_ALLOW) : NULL;
			for (uint32_t k = 0; k < x->n_allow && e[j]->allow != NULL; k++) {
				e[j]->allow[k] = ctl_reply_alloc(r, TW_CIDR_STRLEN);
				if (e[j]->allow[k] != NULL)
					tw_cidr_format(&x->allow[k], e[j]->allow[k], TW_CIDR_STRLEN);
			}
			if (e[j]->allow == NULL)
				e[j]->n_allow = 0;
		}
		tw_broker_exchange_sums(b->sh, slot, &e[j]->published, &e[j]->routed, &e[j]->unroutable);
		e[j]->published -= base->published;
		e[j]->routed -= base->routed;
		e[j]->unroutable -= base->unroutable;
	}
	r->resp.n_exchanges = n;
	r->resp.exchanges = e;
	r->resp.list_more = start + n < all;
	r->resp.list_next = r->resp.list_more ? (uint32_t)(start + n) : 0;
	return 0;
}

static int
list_bindings(const struct tw_broker *b, struct ctl_reply *r)
{
	Taskwire__Control__BindingInfo **x;
	size_t n = b->n_bindings;

	REPLY_ARRAY(r, Taskwire__Control__BindingInfo, taskwire__control__binding_info__init, n, x);
	if (x == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct tw_def_binding *d = &b->bindings[i];
		bool headers = d->n_args != 0 || d->x_match != TW_XM_ALL;
		size_t na = d->n_args + (headers ? 1 : 0);
		Taskwire__Control__Argument **args;

		x[i]->source = ctl_reply_strdup(r, d->source);
		x[i]->destination = ctl_reply_strdup(r, d->destination);
		x[i]->routing_key = ctl_reply_strdup(r, d->key);
		x[i]->destination_type = (char *)(d->dest_type == TW_DEST_EXCHANGE ? "exchange" : "queue");
		if (na == 0)
			continue;
		REPLY_ARRAY(r, Taskwire__Control__Argument, taskwire__control__argument__init, na, args);
		if (args == NULL)
			return -ENOMEM;
		/* x-match first, as the binding was given */
		args[0]->key = (char *)"x-match";
		args[0]->value = (char *)tw_x_match_name(d->x_match);
		for (size_t a = 0; a < d->n_args; a++) {
			args[a + 1]->key = ctl_reply_strdup(r, d->args[a].key);
			args[a + 1]->value = ctl_reply_strdup(r, d->args[a].value);
		}
		x[i]->n_arguments = na;
		x[i]->arguments = args;
	}
	r->resp.n_bindings = n;
	r->resp.bindings = x;
	return 0;
}

static int
handle_list(struct ctl_ctx *ctx, const Taskwire__Control__ListRequest *l, struct ctl_reply *r)
{
	int ret;

	switch (l->what) {
	case TASKWIRE__CONTROL__LIST_REQUEST__WHAT__QUEUES:
		ret = list_queues(&ctx->broker, l->start, l->limit, r);
		break;
	case TASKWIRE__CONTROL__LIST_REQUEST__WHAT__EXCHANGES:
		ret = list_exchanges(&ctx->broker, l->start, l->limit, r);
		break;
	case TASKWIRE__CONTROL__LIST_REQUEST__WHAT__TASKS:
		return ctl_tasks_list(ctx, r);
	case TASKWIRE__CONTROL__LIST_REQUEST__WHAT__SCHEDULES:
		return ctl_schedules_list(ctx, r);
	case TASKWIRE__CONTROL__LIST_REQUEST__WHAT__WORKERS:
		return ctl_workers_list(ctx, r);
	case TASKWIRE__CONTROL__LIST_REQUEST__WHAT__CONSUMERS:
		return ctl_consumers_list(ctx, r);
	case TASKWIRE__CONTROL__LIST_REQUEST__WHAT__BINDINGS:
		ret = list_bindings(&ctx->broker, r);
		break;
	default:
		snprintf(r->err, sizeof(r->err), "unknown list kind %d", (int)l->what);
		return -EINVAL;
	}
	if (ret != 0)
		snprintf(r->err, sizeof(r->err), "out of memory");
	return ret;
}

static int
handle_bind(struct tw_broker *b, const Taskwire__Control__Bind *m, bool bind, struct ctl_reply *r)
{
	struct tw_def_arg args[TW_MAX_BINDING_ARGS];
	struct tw_def_binding spec;
	int ret = tw_broker_binding_spec_from_pb(m, &spec, args, r->err);

	if (ret != 0)
		return ret;
	return bind ? tw_broker_bind(b, &spec, r->err) : tw_broker_unbind(b, &spec, r->err);
}

/* Requests that change what the durable definitions hold. */
static bool
changes_definitions(Taskwire__Control__Request__BodyCase c)
{
	return c == TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DECLARE ||
	       c == TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DELETE ||
	       c == TASKWIRE__CONTROL__REQUEST__BODY_EXCHANGE_DECLARE ||
	       c == TASKWIRE__CONTROL__REQUEST__BODY_EXCHANGE_DELETE ||
	       c == TASKWIRE__CONTROL__REQUEST__BODY_BIND ||
	       c == TASKWIRE__CONTROL__REQUEST__BODY_UNBIND ||
	       c == TASKWIRE__CONTROL__REQUEST__BODY_IMPORT_DEFINITIONS ||
	       c == TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_RELEASE; /* its "held" mark */
}

/* protobuf-c gives NULL-free strings, but a missing sub-message is NULL. */
#define STR(s) ((s) != NULL ? (s) : "")

/*
 * One function per verb of the control protocol (Request.body). Each
 * returns 0 or -errno with r->err written; *n: how many things it
 * touched (Response.affected), when it says.
 */
typedef int ctl_verb_fn(struct ctl_ctx *ctx, const Taskwire__Control__Request *req,
			struct ctl_reply *r, uint64_t *n);

static int
verb_status(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
	    uint64_t *n)
{
	int ret = ctl_status_fill(ctx, r);

	(void)n;
	if (ret != 0)
		snprintf(r->err, sizeof(r->err), "out of memory");
	else if (req->status->reset_max_stall)
		__atomic_fetch_add(&ctx->broker.sh->stall_epoch, 1, __ATOMIC_RELAXED);
	return ret;
}

static int
verb_queue_declare(struct ctl_ctx *ctx, const Taskwire__Control__Request *req,
		   struct ctl_reply *r, uint64_t *n)
{
	struct tw_broker_queue_spec q;
	int ret = tw_broker_queue_spec_from_pb(req->queue_declare, &q, r->err);

	(void)n;
	if (ret == 0)
		ret = tw_broker_queue_declare(&ctx->broker, &q, r->err);
	if (ret == 0 && req->queue_declare->remote)
		ret = tw_broker_queue_hold(&ctx->broker, q.name, r->err);
	return ret;
}

static int
verb_queue_delete(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
		  uint64_t *n)
{
	return tw_broker_queue_delete(&ctx->broker, STR(req->queue_delete->name), n, r->err);
}

static int
verb_queue_release(struct ctl_ctx *ctx, const Taskwire__Control__Request *req,
		   struct ctl_reply *r, uint64_t *n)
{
	bool was_held;
	int ret = tw_broker_queue_release(&ctx->broker, STR(req->queue_release->name), &was_held,
					  r->err);

	*n = was_held; /* affected: 1 if it was held */
	return ret;
}

static int
verb_queue_purge(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
		 uint64_t *n)
{
	return tw_broker_queue_purge(&ctx->broker, STR(req->queue_purge->name), n, r->err);
}

static int
verb_exchange_declare(struct ctl_ctx *ctx, const Taskwire__Control__Request *req,
		      struct ctl_reply *r, uint64_t *n)
{
	struct tw_broker_exchange_spec x;

	(void)n;
	tw_broker_exchange_spec_from_pb(req->exchange_declare, &x);
	return tw_broker_exchange_declare(&ctx->broker, &x, r->err);
}

static int
verb_exchange_delete(struct ctl_ctx *ctx, const Taskwire__Control__Request *req,
		     struct ctl_reply *r, uint64_t *n)
{
	(void)n;
	return tw_broker_exchange_delete(&ctx->broker, STR(req->exchange_delete->name), r->err);
}

static int
verb_bind(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
	  uint64_t *n)
{
	(void)n;
	return handle_bind(&ctx->broker, req->bind, true, r);
}

static int
verb_unbind(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
	    uint64_t *n)
{
	(void)n;
	return handle_bind(&ctx->broker, req->unbind, false, r);
}

static int
verb_import_definitions(struct ctl_ctx *ctx, const Taskwire__Control__Request *req,
			struct ctl_reply *r, uint64_t *n)
{
	(void)n;
	return tw_broker_definitions_import_pb(&ctx->broker, req->import_definitions, r->err);
}

static int
verb_list(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
	  uint64_t *n)
{
	(void)n;
	return handle_list(ctx, req->list, r);
}

static int
verb_result(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
	    uint64_t *n)
{
	(void)n;
	return ctl_tasks_result(ctx, req->result->task_id, r);
}

static int
verb_revoke(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
	    uint64_t *n)
{
	(void)n;
	return ctl_tasks_revoke(ctx, req->revoke->task_id, r);
}

static int
verb_forget(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
	    uint64_t *n)
{
	(void)n;
	return ctl_tasks_forget(ctx, req->forget->task_id, r);
}

static int
verb_schedule_add(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
		  uint64_t *n)
{
	(void)n;
	return ctl_schedules_add(ctx, req->schedule_add, r);
}

static int
verb_schedule_remove(struct ctl_ctx *ctx, const Taskwire__Control__Request *req,
		     struct ctl_reply *r, uint64_t *n)
{
	(void)n;
	return ctl_schedules_remove(ctx, STR(req->schedule_remove->name), r);
}

static int
verb_rate_limit(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
		uint64_t *n)
{
	(void)n;
	return ctl_workers_rate_limit(ctx, STR(req->rate_limit->task), STR(req->rate_limit->rate), r);
}

static int
verb_queue_info(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
		uint64_t *n)
{
	(void)n;
	return queue_info(&ctx->broker, STR(req->queue_info->name), r);
}

static int
verb_events(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r,
	    uint64_t *n)
{
	(void)n;
	return ctl_events_request(ctx, req->events, r);
}

/* Every verb, by its Request.body case: a new verb is one line here and its function. */
static ctl_verb_fn *const verbs[] = {
	[TASKWIRE__CONTROL__REQUEST__BODY_STATUS] = verb_status,
	[TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DECLARE] = verb_queue_declare,
	[TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DELETE] = verb_queue_delete,
	[TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_PURGE] = verb_queue_purge,
	[TASKWIRE__CONTROL__REQUEST__BODY_EXCHANGE_DECLARE] = verb_exchange_declare,
	[TASKWIRE__CONTROL__REQUEST__BODY_EXCHANGE_DELETE] = verb_exchange_delete,
	[TASKWIRE__CONTROL__REQUEST__BODY_BIND] = verb_bind,
	[TASKWIRE__CONTROL__REQUEST__BODY_UNBIND] = verb_unbind,
	[TASKWIRE__CONTROL__REQUEST__BODY_LIST] = verb_list,
	[TASKWIRE__CONTROL__REQUEST__BODY_IMPORT_DEFINITIONS] = verb_import_definitions,
	[TASKWIRE__CONTROL__REQUEST__BODY_RESULT] = verb_result,
	[TASKWIRE__CONTROL__REQUEST__BODY_REVOKE] = verb_revoke,
	[TASKWIRE__CONTROL__REQUEST__BODY_FORGET] = verb_forget,
	[TASKWIRE__CONTROL__REQUEST__BODY_SCHEDULE_ADD] = verb_schedule_add,
	[TASKWIRE__CONTROL__REQUEST__BODY_SCHEDULE_REMOVE] = verb_schedule_remove,
	[TASKWIRE__CONTROL__REQUEST__BODY_RATE_LIMIT] = verb_rate_limit,
	[TASKWIRE__CONTROL__REQUEST__BODY_EVENTS] = verb_events,
	[TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_INFO] = verb_queue_info,
	[TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_RELEASE] = verb_queue_release,
};

void
ctl_handle(struct ctl_ctx *ctx, const Taskwire__Control__Request *req, struct ctl_reply *r)
{
	uint32_t v = (uint32_t)req->body_case;
	uint64_t n = 0;
	int ret;

	if (v < RTE_DIM(verbs) && verbs[v] != NULL) {
		ret = verbs[v](ctx, req, r, &n);
	} else {
		snprintf(r->err, sizeof(r->err), "empty or unknown request");
		ret = -EINVAL;
	}
	/* answered ok only once a restart would find it too: the change is
	 * live either way, and a client's retry (a no-op) saves again */
	if (ret == 0 && changes_definitions(req->body_case))
		ret = ctl_durable_defs_save(ctx, r->err, sizeof(r->err));
	r->resp.ok = ret == 0;
	r->resp.error = ret == 0 ? (char *)"" : r->err;
	r->resp.affected = n;
}

void
ctl_handle_list(struct ctl_ctx *ctx, Taskwire__Control__ListRequest__What what, struct ctl_reply *r)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__ListRequest l = TASKWIRE__CONTROL__LIST_REQUEST__INIT;

	l.what = what;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_LIST;
	req.list = &l;
	ctl_handle(ctx, &req, r);
}
