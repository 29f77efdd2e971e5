/*
 * Remote consumers: see tw_consumers.h for the model. Runs on the io (or
 * run-to-completion) lcore that owns the table: subscribe/cancel/heartbeat
 * and acks from tw_dispatch's frame decoding (or handed over by the other
 * io lcores), deliveries and timeouts once per loop pass. Owns the descriptors it has delivered (in flight) or put
 * back at a queue's head (stash) until they are acked, handed on or
 * released; nothing else.
 *
 * Delivery tags: (generation << 32) | (table << 16) | in-flight slot. A
 * slot's generation is bumped each time it takes a delivery, so an ack
 * naming an older generation (acked already, or requeued after its lease)
 * is refused as stale, and one naming a generation never issued as
 * unknown. The owning lcore's index is named too: a tag made by another
 * table (another engine, an earlier layout) is refused rather than taken
 * for one of this table's deliveries.
 */
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include "tw_consumers.h"
#include "tw_journal.h"
#include "tw_frag_tx.h"
#include "tw_ctlchan.h"
#include "tw_route.h"
#include "tw_drop.h"
#include "tw_enqueue.h"
#include "tw_exec.h"
#include "tw_parse.h"
#include "tw_reply.h"
#include "tw_task.h"
#include "tw_wire_consumer.h"
#include "tw_workflow.h"

#define NIL UINT32_MAX
/* Frame header (magic, version) written before the first entry of a packet. */
#define FRAME_HEADER_ROOM 16u

struct tw_rc_queues *
tw_consumers_queues_create(int socket)
{
	const struct rte_memzone *mz =
		rte_memzone_reserve(TW_RC_QUEUES_MZ, sizeof(struct tw_rc_queues), socket, 0);

	if (mz == NULL)
		return NULL;
	memset(mz->addr, 0, sizeof(struct tw_rc_queues));
	return mz->addr;
}

struct tw_consumers *
tw_consumers_create(int socket, uint32_t id, struct tw_rc_queues *queues)
{
	char name[RTE_MEMZONE_NAMESIZE];
	const struct rte_memzone *mz;
	struct tw_consumers *cs;

	snprintf(name, sizeof(name), TW_RC_MZ, id);
	mz = rte_memzone_reserve(name, sizeof(struct tw_consumers), socket, 0);
	if (mz == NULL)
		return NULL;
	cs = mz->addr;
	memset(cs, 0, sizeof(*cs));
	cs->queues = queues;
	cs->id = id;
	for (uint32_t i = 0; i < TW_RC_INFLIGHT; i++) {
		cs->inflight[i].next = i + 1 < TW_RC_INFLIGHT ? i + 1 : NIL;
		cs->inflight[i].prev = NIL;
	}
	for (uint32_t i = 0; i < TW_RC_STASH; i++)
		cs->stash[i].next = i + 1 < TW_RC_STASH ? i + 1 : NIL;
	for (uint32_t i = 0; i < TW_MAX_QUEUES; i++)
		cs->stash_head[i] = cs->stash_tail[i] = NIL;
	for (uint32_t i = 0; i < TW_RC_MAX_CONSUMERS; i++)
		cs->c[i].inflight_head = cs->c[i].inflight_tail = NIL;
	return cs;
}

static inline bool
same_peer(const struct tw_peer *a, const struct tw_peer *b)
{
	return a->ip == b->ip && a->port == b->port;
}

/* Position in active[] of the consumer with this id, or -1. Bounded by n_active. */
static int
find(const struct tw_consumers *cs, uint64_t id)
{
	for (uint32_t k = 0; k < cs->n_active; k++)
		if (cs->c[cs->active[k]].id == id)
			return (int)k;
	return -1;
}

/*
 * The queue slot's consumer counts: this table's (one writer) and every
 * table's (other io lcores add too: an atomic add, at subscribe and cancel
 * only; worker lcores read it relaxed).
 */
static inline void
remote_add(struct tw_consumers *cs, uint16_t slot, int d)
{
	uint32_t before;

	cs->local[slot] += (uint32_t)d;
	/* seq_cst: a worker lcore that clears the queue's ready bit, then reads
	 * this count, sees 0 or finds the bit set again below */
	before = __atomic_fetch_add(&cs->queues->consumers[slot], (uint32_t)d, __ATOMIC_SEQ_CST);
	if (d < 0 && before == (uint32_t)-d && cs->queues->qready != NULL)
		__atomic_fetch_or(&cs->queues->qready[slot / 64], 1ull << (slot % 64), __ATOMIC_RELAXED);
}

static void
reply_consumer(struct tw_lcore_ctx *ctx, const struct tw_peer *peer,
	       const struct tw_wire_consumer_reply *cr)
{
	struct tw_reply *r = tw_reply_to(ctx, peer);

	if (tw_reply_reserve(ctx, r, tw_wire_consumer_reply_size(cr))) {
		tw_wire_put_consumer_reply(&r->w, cr);
		r->n_entries++;
	}
}

static void
reply_ack(struct tw_lcore_ctx *ctx, const struct tw_peer *peer, uint64_t tag, bool ok,
	  const char *detail)
{
	struct tw_reply *r = tw_reply_to(ctx, peer);

	if (tw_reply_reserve(ctx, r, tw_wire_ack_reply_size(detail))) {
		tw_wire_put_ack_reply(&r->w, tag, ok, detail);
		r->n_entries++;
	}
}

/*
 * A consumer came or went: into the event ring tw-control turns into
 * worker-online / worker-offline (tw_consumers_shm.h). Subscribe, cancel
 * and loss only: never per message.
 */
static void
log_event(struct tw_lcore_ctx *ctx, struct tw_consumers *cs, const struct tw_consumer *c,
	  uint32_t kind)
{
	uint64_t seq = cs->ev_seq + 1;
	struct tw_rc_event *e = &cs->ev[seq % TW_RC_EVENTS];

	/* cleared first: a reader copying this entry meanwhile sees it change */
	__atomic_store_n(&e->seq, 0, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	e->kind = kind;
	e->consumer_id = c->id;
	e->unix_ms = tw_unix_ms(ctx, rte_rdtsc());
	e->peer = c->peer;
	e->prefetch = c->prefetch;
	e->heartbeat_ms = c->heartbeat_ms;
	e->unacked = c->unacked;
	e->delivered = c->delivered;
	e->acked = c->acked;
	e->nacked = c->nacked;
	e->redelivered = c->redelivered;
	memcpy(e->name, c->name, sizeof(e->name));
	memcpy(e->host, c->host, sizeof(e->host));
	/* release: pairs with the acquire loads in tw-control's reader (ctl_consumer_events.c) */
	__atomic_store_n(&e->seq, seq, __ATOMIC_RELEASE);
	__atomic_store_n(&cs->ev_seq, seq, __ATOMIC_RELEASE);
}

/* --- the way back into a queue --- */

/*
 * t goes back to its queue's ring, at the tail: its queue has no remote
 * consumer left here (worker lcores take it, or, for a queue only remote
 * consumers serve, it waits for the next), or the head stash is full. A
 * queue that is gone or full ends the task with a state, never silently.
 */
static void
to_ring(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t)
{
	static const char gone[] = "its queue was deleted or full while it was being redelivered";
	uint32_t qi = rt != NULL ? rt->slot_queue[t->queue_slot] : TW_ROUTE_NONE;

	tw_cnt_add(ctx, TW_CNT_rc_requeue_tail, 1);
	/* no longer in flight (its queue's in_flight is delivered - completed):
	 * taken from the ring again, it is counted delivered again */
	tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, t->queue_slot, TW_QCNT_completed), 1);
	if (qi != TW_ROUTE_NONE && tw_enqueue_task(ctx, rt, &rt->queues[qi], t))
		return;
	if (qi != TW_ROUTE_NONE && tw_route_dead_letter(ctx, rt, t))
		return;
	tw_exec_report(ctx, t, TW_ST_FAILURE, NULL, 0, gone, sizeof(gone) - 1);
	tw_journal_done(ctx, t);
	tw_task_release(t, ctx->task_pool);
}

/*
 * A task whose deliveries came back without an ack more often than its
 * queue's x-delivery-limit (one that kills every worker that takes it, or
 * never finishes in its lease) ends: dead-lettered if its queue says so,
 * else FAILURE naming why. Without this bound it would go round the
 * consumers for ever.
 */
static void
delivery_limit(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_task *t,
	       uint32_t limit)
{
	char why[160];
	int n = snprintf(why, sizeof(why),
			 "delivered %u times without an ack (its queue's delivery limit is %u): "
			 "a task that kills its worker, or outlives its lease?",
			 (unsigned)t->deliveries + 1, limit);

	tw_cnt_add(ctx, TW_CNT_rc_delivery_limit, 1);
	tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, t->queue_slot, TW_QCNT_completed), 1);
	t->deliveries = 0; /* a dead-lettered copy starts again in its new queue */
	if (rt != NULL && rt->slot_queue[t->queue_slot] != TW_ROUTE_NONE && tw_route_dead_letter(ctx, rt, t))
		return;
	tw_exec_report(ctx, t, TW_ST_FAILURE, NULL, 0, why,
		       (uint32_t)(n < (int)sizeof(why) ? n : (int)sizeof(why) - 1));
	tw_journal_done(ctx, t);
	tw_task_release(t, ctx->task_pool);
}

/*
 * Put t back at the head of its queue with delivery_count + 1, unless it
 * came back more often than its queue allows (RabbitMQ's x-delivery-limit:
 * a limit of N lets a task be delivered N + 1 times).
 */
static void
requeue(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_consumers *cs,
	struct tw_task *t)
{
	uint16_t slot = t->queue_slot;
	uint32_t s = cs->stash_free;
	uint32_t qi = rt != NULL ? rt->slot_queue[slot] : TW_ROUTE_NONE;
	uint32_t limit = qi != TW_ROUTE_NONE ? rt->queues[qi].delivery_limit
					  : TW_QUEUE_DEFAULT_DELIVERY_LIMIT;

	/* deliveries counts the returns before this one */
	if (t->deliveries + 1u > limit) {
		delivery_limit(ctx, rt, t, limit);
		return;
	}
	t->deliveries++;
	tw_cnt_add(ctx, TW_CNT_rc_redelivered, 1);
	tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, slot, TW_QCNT_redelivered), 1);
	/* the stash serves this table's consumers only: none of this queue here, the ring */
	if (cs->local[slot] == 0 || s == NIL) {
		to_ring(ctx, rt, t);
		return;
	}
	cs->stash_free = cs->stash[s].next;
	cs->stash[s].t = t;
	cs->stash[s].next = NIL;
	if (cs->stash_tail[slot] == NIL)
		cs->stash_head[slot] = s;
	else
		cs->stash[cs->stash_tail[slot]].next = s;
	cs->stash_tail[slot] = s;
	cs->stash_n++;
}

static struct tw_task *
stash_pop(struct tw_consumers *cs, uint16_t slot)
{
	uint32_t s = cs->stash_head[slot];
	struct tw_task *t;

	if (s == NIL)
		return NULL;
	t = cs->stash[s].t;
	cs->stash_head[slot] = cs->stash[s].next;
	if (cs->stash_head[slot] == NIL)
		cs->stash_tail[slot] = NIL;
	cs->stash[s].t = NULL;
	cs->stash[s].next = cs->stash_free;
	cs->stash_free = s;
	cs->stash_n--;
	return t;
}

/*
 * The last consumer of slot in this table went: its stashed tasks go to
 * the ring, for the consumers of other io lcores or the worker lcores.
 */
static void
queue_released(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_consumers *cs,
	       uint16_t slot)
{
	struct tw_task *t;

	if (cs->local[slot] != 0)
		return;
	/* bounded by the stash size */
	while ((t = stash_pop(cs, slot)) != NULL)
		to_ring(ctx, rt, t);
}

/* --- the in-flight table --- */

/* Take entry idx out of its consumer's list (it stays in use). */
static void
list_remove(struct tw_consumers *cs, struct tw_consumer *c, uint32_t idx)
{
	struct tw_rc_inflight *e = &cs->inflight[idx];

	if (e->prev != NIL)
		cs->inflight[e->prev].next = e->next;
	else
		c->inflight_head = e->next;
	if (e->next != NIL)
		cs->inflight[e->next].prev = e->prev;
	else
		c->inflight_tail = e->prev;
}

/* Entry idx joins its consumer's list at the tail: its lease ends last. */
static void
list_append(struct tw_consumers *cs, struct tw_consumer *c, uint32_t idx)
{
	struct tw_rc_inflight *e = &cs->inflight[idx];

	e->next = NIL;
	e->prev = c->inflight_tail;
	if (c->inflight_tail != NIL)
		cs->inflight[c->inflight_tail].next = idx;
	else
		c->inflight_head = idx;
	c->inflight_tail = idx;
}

static void
inflight_unlink(struct tw_consumers *cs, uint32_t idx)
{
	struct tw_rc_inflight *e = &cs->inflight[idx];
	struct tw_consumer *c = &cs->c[e->consumer];

	list_remove(cs, c, idx);
	/* the generation stays: a later ack with this tag is stale */
	e->t = NULL;
	e->prev = NIL;
	e->next = cs->free_inflight;
	cs->free_inflight = idx;
	cs->n_inflight--;
	c->unacked--;
	if (c->unacked == 0) /* nothing out under an older lease: in order again */
		c->lease_unordered = 0;
}

static uint32_t
inflight_take(struct tw_consumers *cs, uint16_t ci, struct tw_task *t, uint64_t deadline)
{
	uint32_t idx = cs->free_inflight;
	struct tw_rc_inflight *e = &cs->inflight[idx];
	struct tw_consumer *c = &cs->c[ci];

	cs->free_inflight = e->next;
	e->t = t;
	e->gen++;
	if (e->gen == 0) /* a tag never has generation 0 (tags are never 0) */
		e->gen = 1;
	e->consumer = ci;
	e->deadline_tsc = deadline;
	list_append(cs, c, idx);
	cs->n_inflight++;
	c->unacked++;
	return idx;
}

/* Every unacked delivery of consumer ci goes back to its queue's head. @return how many. */
static uint32_t
requeue_all(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_consumers *cs,
	    uint16_t ci)
{
	struct tw_consumer *c = &cs->c[ci];
	uint32_t n = 0;

	/* bounded: each step unlinks one of its deliveries (at most TW_RC_INFLIGHT) */
	while (c->inflight_head != NIL) {
		struct tw_task *t = cs->inflight[c->inflight_head].t;

		inflight_unlink(cs, c->inflight_head);
		c->redelivered++;
		requeue(ctx, rt, cs, t);
		n++;
	}
	return n;
}

/*
 * Remove the consumer at active position pos: its deliveries requeued, its
 * queues released; why (TW_RC_EV_OFFLINE_*) goes to the event ring.
 */
static uint32_t
drop_consumer(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_consumers *cs,
	      uint32_t pos, uint32_t why)
{
	uint16_t ci = cs->active[pos];
	struct tw_consumer *c = &cs->c[ci];
	uint32_t n;

	log_event(ctx, cs, c, why); /* with what it held: unacked before the requeue */
	n = requeue_all(ctx, rt, cs, ci);

	for (uint16_t k = 0; k < c->n_queues; k++)
		remote_add(cs, c->queue_slot[k], -1);
	for (uint16_t k = 0; k < c->n_queues; k++)
		queue_released(ctx, rt, cs, c->queue_slot[k]);
	c->n_queues = 0;
	__atomic_store_n(&c->id, 0, __ATOMIC_RELAXED);
	cs->active[pos] = cs->active[cs->n_active - 1];
	cs->n_active--;
	return n;
}

/* --- consumer messages --- */

static uint32_t
clamp_u32(uint32_t v, uint32_t dflt, uint32_t lo, uint32_t hi)
{
	if (v == 0)
		v = dflt;
	return v < lo ? lo : v > hi ? hi : v;
}

static void
copy_name(char *dst, struct tw_str s)
{
	uint32_t n = s.len < TW_RC_NAME - 1 ? s.len : TW_RC_NAME - 1;

	if (n != 0) /* an absent name has a NULL view */
		memcpy(dst, s.p, n);
	dst[n] = '\0';
}

static void
subscribe(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_consumers *cs,
	  const struct tw_frame_view *fv, const struct tw_peer *peer, uint32_t key_id, uint64_t now)
{
	struct tw_subscribe_view sv;
	struct tw_wire_consumer_reply cr = { 0 };
	uint16_t slots[TW_RC_MAX_QUEUES];
	const struct tw_qring *rings[TW_RC_MAX_QUEUES];
	char detail[TW_NAME_MAX + 64];
	const char *bad = tw_wire_decode_subscribe(fv->subscribe, &sv);
	struct tw_consumer *c;
	uint16_t old[TW_RC_MAX_QUEUES], n_old = 0;
	uint16_t n = 0, ci;
	int pos = -1;

	cr.consumer_id = sv.consumer_id;
	if (bad == NULL && sv.consumer_id == 0)
		bad = "consumer id 0";
	if (bad == NULL && (sv.n_queues == 0 || sv.n_queues > TW_RC_MAX_QUEUES))
		bad = "a subscription takes 1 to 16 queues";
	if (bad == NULL && sv.prefetch == 0)
		bad = "prefetch 0: a consumer needs a credit of at least 1";
	if (bad == NULL) {
		struct tw_str rest = sv.queues, q;

		/* bounded by n_queues (at most TW_RC_MAX_QUEUES) */
		while (bad == NULL && n < sv.n_queues && tw_wire_subscribe_queue_next(&rest, &q)) {
			int qi = rt != NULL ? tw_routes_find_queue(rt, (const char *)q.p, q.len) : -1;

			if (qi < 0) {
				snprintf(detail, sizeof(detail), "no such queue: %.*s",
					 (int)(q.len < TW_NAME_MAX ? q.len : TW_NAME_MAX), q.p);
				bad = detail;
			} else if (rt->queues[qi].consumers == TW_QC_ENGINE) {
				snprintf(detail, sizeof(detail),
					 "queue %.*s is served by the engine only (x-consumers engine)",
					 (int)(q.len < TW_NAME_MAX ? q.len : TW_NAME_MAX), q.p);
				bad = detail;
			} else {
				rings[n] = rt->queues[qi].ring;
				slots[n++] = rt->queues[qi].slot;
			}
		}
	}
	if (bad == NULL) {
		pos = find(cs, sv.consumer_id);
		if (pos >= 0 && !same_peer(&cs->c[cs->active[pos]].peer, peer))
			bad = "consumer id in use from another address";
		else if (pos >= 0 && cs->c[cs->active[pos]].key_id != key_id)
			bad = "consumer id in use under another key";
		else if (pos < 0 && cs->n_active == TW_RC_MAX_CONSUMERS)
			bad = "too many consumers";
	}
	if (bad != NULL) {
		tw_cnt_add(ctx, TW_CNT_rc_refused, 1);
		cr.detail = bad;
		reply_consumer(ctx, peer, &cr);
		return;
	}
	if (pos < 0) {
		/* a free slot: one exists, fewer than TW_RC_MAX_CONSUMERS are active */
		for (ci = 0; cs->c[ci].id != 0; ci++)
			;
		c = &cs->c[ci];
		memset(c, 0, sizeof(*c));
		c->inflight_head = c->inflight_tail = NIL;
		c->subscribed_unix_ms = tw_unix_ms(ctx, now);
		cs->active[cs->n_active++] = ci;
	} else {
		/* a new subscription replaces the old one; deliveries in flight stay valid */
		ci = cs->active[pos];
		c = &cs->c[ci];
		n_old = c->n_queues;
		memcpy(old, c->queue_slot, n_old * sizeof(old[0]));
		for (uint16_t k = 0; k < c->n_queues; k++)
			remote_add(cs, c->queue_slot[k], -1);
	}
	c->peer = *peer;
	c->key_id = key_id;
	c->share_held = 0; /* new terms: counted again if the table's share holds them back */
	c->n_queues = n;
	memcpy(c->queue_slot, slots, n * sizeof(slots[0]));
	for (uint16_t k = 0; k < n; k++) {
		remote_add(cs, slots[k], 1);
		/* asked for: the queue is remote consumers' from now on (tw_consumers.h) */
		if (sv.hold)
			__atomic_store_n(&cs->queues->held[slots[k]], rings[k], __ATOMIC_RELAXED);
	}
	/* queues it no longer takes, if no one else does (a window change, as
	 * an AMQP basic.qos makes, keeps them all: nothing to do) */
	for (uint16_t k = 0; k < n_old && cs->stash_n != 0; k++)
		queue_released(ctx, rt, cs, old[k]);
	if (sv.prefetch > TW_RC_MAX_PREFETCH)
		tw_cnt_add(ctx, TW_CNT_rc_credit_clamped, 1);
	c->prefetch = sv.prefetch > TW_RC_MAX_PREFETCH ? TW_RC_MAX_PREFETCH : sv.prefetch;
	c->lease_ms = clamp_u32(sv.lease_ms, TW_RC_DEFAULT_LEASE_MS, 100, 3600000);
	c->heartbeat_ms = clamp_u32(sv.heartbeat_ms, TW_RC_DEFAULT_HEARTBEAT_MS, 100, 600000);
	/* a shorter lease would put new deliveries' ends before older ones' */
	if (c->unacked != 0 && (uint64_t)c->lease_ms * ctx->tsc_per_ms < c->lease_ticks)
		c->lease_unordered = 1;
	c->lease_ticks = (uint64_t)c->lease_ms * ctx->tsc_per_ms;
	c->silence_ticks = (uint64_t)TW_RC_MISSED_HEARTBEATS * c->heartbeat_ms * ctx->tsc_per_ms;
	c->last_seen_tsc = now;
	copy_name(c->name, sv.name);
	copy_name(c->host, sv.host);
	{
		size_t nl = strlen(c->name), hl = strlen(c->host);

		/* both fit: each is at most TW_RC_NAME - 1 bytes */
		memcpy(c->worker, c->name, nl);
		c->worker[nl] = '@';
		memcpy(c->worker + nl + 1, c->host, hl);
		c->worker_len = (uint32_t)(nl + 1 + hl);
		c->worker[c->worker_len] = '\0';
	}
	/* published last: tw-control reads a slot with a non-zero id as live */
	__atomic_store_n(&c->id, sv.consumer_id, __ATOMIC_RELEASE);
	if (pos < 0) /* a new consumer (a subscribe again changes its terms only) */
		log_event(ctx, cs, c, TW_RC_EV_ONLINE);
	tw_cnt_add(ctx, TW_CNT_rc_subscribed, 1);
	cr.ok = true;
	cr.prefetch = c->prefetch;
	cr.lease_ms = c->lease_ms;
	cr.heartbeat_ms = c->heartbeat_ms;
	reply_consumer(ctx, peer, &cr);
}

/*
 * The active position of consumer id if it is peer's and the frame is
 * signed under its key, else -1 (counted, answered).
 */
static int
known(struct tw_lcore_ctx *ctx, struct tw_consumers *cs, uint64_t id, const struct tw_peer *peer,
      uint32_t key_id)
{
	int pos = find(cs, id);
	struct tw_wire_consumer_reply cr = { .consumer_id = id,
					     .detail = "unknown consumer: subscribe again" };

	if (pos >= 0 && same_peer(&cs->c[cs->active[pos]].peer, peer)) {
		if (cs->c[cs->active[pos]].key_id == key_id)
			return pos;
		/* not "subscribe again": that would be refused the same way */
		tw_cnt_add(ctx, TW_CNT_rc_key_refused, 1);
		cr.detail = "consumer subscribed under another key";
		reply_consumer(ctx, peer, &cr);
		return -1;
	}
	tw_cnt_add(ctx, TW_CNT_rc_unknown, 1);
	reply_consumer(ctx, peer, &cr);
	return -1;
}

static void
ack_one(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_consumers *cs,
	const struct tw_ack_view *a, const struct tw_peer *peer, uint32_t key_id, uint64_t now)
{
	uint32_t idx = (uint32_t)a->tag & 0xffff, gen = (uint32_t)(a->tag >> 32);
	uint32_t table = (uint32_t)(a->tag >> 16) & 0xffff;
	struct tw_rc_inflight *e;
	struct tw_consumer *c;
	struct tw_task *t;

	if (table != cs->id && table < TW_MAX_LCORES && gen != 0) {
		/* another io lcore's delivery: its consumer's frames never come here */
		tw_cnt_add(ctx, TW_CNT_rc_ack_foreign, 1);
		reply_ack(ctx, peer, a->tag, false, "delivery made to another consumer");
		return;
	}
	if (table != cs->id || idx >= TW_RC_INFLIGHT || gen == 0 || gen > cs->inflight[idx].gen) {
		tw_cnt_add(ctx, TW_CNT_rc_ack_unknown, 1);
		reply_ack(ctx, peer, a->tag, false, "unknown delivery tag");
		return;
	}
	e = &cs->inflight[idx];
	if (gen != e->gen || e->t == NULL) {
		tw_cnt_add(ctx, TW_CNT_rc_ack_stale, 1);
		reply_ack(ctx, peer, a->tag, false,
			  "stale delivery tag: already acked, or requeued after its lease");
		return;
	}
	c = &cs->c[e->consumer];
	if (!same_peer(&c->peer, peer)) {
		tw_cnt_add(ctx, TW_CNT_rc_ack_foreign, 1);
		c->refused++;
		reply_ack(ctx, peer, a->tag, false, "delivery made to another consumer");
		return;
	}
	if (c->key_id != key_id) {
		/* its address, another key (or none): a holder of another key, or
		 * a forger who can send from its address, must not settle it */
		tw_cnt_add(ctx, TW_CNT_rc_key_refused, 1);
		c->refused++;
		reply_ack(ctx, peer, a->tag, false, "ack signed under another key than its consumer's");
		return;
	}
	c->last_seen_tsc = now;
	t = e->t;
	/* the events of what follows (succeeded, failed, retried...) name it */
	ctx->rc_worker = c->worker;
	ctx->rc_worker_len = c->worker_len;
	switch (a->outcome) {
	case TW_ACK_EXTEND:
		/* a worker keeping a long task's lease: no report, and no answer
		 * (one every third of a lease per running task; a lost one is
		 * followed by the next) */
		e->deadline_tsc = now + c->lease_ticks;
		list_remove(cs, c, idx);
		list_append(cs, c, idx);
		tw_cnt_add(ctx, TW_CNT_rc_lease_extended, 1);
		ctx->rc_worker = NULL;
		return;
	case TW_ACK_PROGRESS:
		/* still running: its lease starts again, so it ends last */
		e->deadline_tsc = now + c->lease_ticks;
		list_remove(cs, c, idx);
		list_append(cs, c, idx);
		tw_cnt_add(ctx, TW_CNT_rc_progress, 1);
		tw_exec_report(ctx, t, TW_ST_PROGRESS, a->value.p, a->value.len, NULL, 0);
		ctx->rc_worker = NULL;
		reply_ack(ctx, peer, a->tag, true, NULL);
		return;
	case TW_ACK_SUCCESS:
	case TW_ACK_FAILURE:
	case TW_ACK_RETRY: {
		struct tw_exec_outcome o = {
			.success = a->outcome == TW_ACK_SUCCESS,
			.retry = a->outcome == TW_ACK_RETRY,
			.countdown_ms = a->countdown_ms,
			.max_retries = a->max_retries,
			.out = a->outcome == TW_ACK_SUCCESS ? a->value.p : a->error.p,
			.out_len = a->outcome == TW_ACK_SUCCESS ? a->value.len : a->error.len,
			.runtime_ns = a->runtime_ns,
		};

		inflight_unlink(cs, idx);
		if (!tw_exec_remote_done(ctx, rt, t, &o)) {
			tw_journal_done(ctx, t);
			tw_task_release(t, ctx->task_pool);
		}
		break;
	}
	case TW_ACK_REJECT:
		inflight_unlink(cs, idx);
		c->nacked++;
		if (a->requeue) {
			c->redelivered++;
			requeue(ctx, rt, cs, t);
		} else if (!tw_route_dead_letter(ctx, rt, t)) {
			char msg[160];
			int n = snprintf(msg, sizeof(msg), "rejected by its consumer: %.*s",
					 (int)(a->error.len < 120 ? a->error.len : 120), a->error.p);

			tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, t->queue_slot, TW_QCNT_completed), 1);
			tw_exec_report(ctx, t, TW_ST_FAILURE, NULL, 0, msg,
				       (uint32_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1));
			tw_journal_done(ctx, t);
			tw_task_release(t, ctx->task_pool);
		}
		break;
	default:
		ctx->rc_worker = NULL;
		tw_cnt_add(ctx, TW_CNT_rc_ack_bad, 1);
		c->refused++;
		reply_ack(ctx, peer, a->tag, false, "ack without a known outcome");
		return;
	}
	ctx->rc_worker = NULL;
	c->acked++;
	tw_cnt_add(ctx, TW_CNT_rc_acks, 1);
	reply_ack(ctx, peer, a->tag, true, NULL);
}

void
tw_consumers_frame(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
		   const struct tw_frame_view *fv, const struct tw_peer *peer)
{
	struct tw_consumers *cs = ctx->consumers;
	uint64_t now = rte_rdtsc();
	/* the frame's key, verified (tw_dispatch): with --keys only, else unproven */
	uint32_t key_id = ctx->keys != NULL ? fv->key_id : 0;
	int pos;

	if (cs == NULL)
		return;
	if (fv->has_subscribe)
		subscribe(ctx, rt, cs, fv, peer, key_id, now);
	if (fv->has_heartbeat) {
		tw_cnt_add(ctx, TW_CNT_rc_heartbeats, 1);
		pos = known(ctx, cs, fv->heartbeat_id, peer, key_id);
		if (pos >= 0)
			cs->c[cs->active[pos]].last_seen_tsc = now;
	}
	if (fv->n_acks != 0) {
		struct tw_str rest = fv->acks;
		struct tw_ack_view a;

		/* bounded by the frame: each ack consumes its bytes */
		while (tw_wire_ack_next(&rest, &a))
			ack_one(ctx, rt, cs, &a, peer, key_id, now);
	}
	/* after the acks: a consumer that acks and cancels in one frame is done cleanly */
	if (fv->has_cancel) {
		pos = known(ctx, cs, fv->cancel_id, peer, key_id);
		if (pos >= 0) {
			struct tw_wire_consumer_reply cr = { .consumer_id = fv->cancel_id, .ok = true };

			drop_consumer(ctx, rt, cs, (uint32_t)pos, TW_RC_EV_OFFLINE_CANCELLED);
			tw_cnt_add(ctx, TW_CNT_rc_cancelled, 1);
			reply_consumer(ctx, peer, &cr);
		}
	}
}

/* --- deliveries and timeouts --- */

static void
deliver_one(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_consumers *cs,
	    uint16_t ci, struct tw_task *t, uint64_t now)
{
	static const char too_large[] =
		"too large for a delivery to a remote consumer (over the engine's --max-frame)";
	static const char group_gone[] = "the results of its group are gone";
	struct tw_consumer *c = &cs->c[ci];
	const struct tw_route_queue *q = &rt->queues[rt->slot_queue[t->queue_slot]];
	struct tw_wire_deliver d = {
		.delivery_count = (uint32_t)t->deliveries + 1,
		.queue = q->name, .queue_len = q->name_len,
		.task = t->raw, .task_len = t->raw_len,
		.retries = t->retries, .root_id = t->root_id, .parent_id = t->parent_id,
		.lease_ms = c->lease_ms,
		/* a chord callback's args are its group's results, not the message's */
		.has_args = t->args_group != 0, .args = t->args, .args_len = t->args_len,
		/* consumers sharing one address and port tell their deliveries apart by it */
		.consumer_id = c->id,
	};
	uint16_t slot = t->queue_slot; /* read now: a dead-lettered t is no longer ours */
	struct tw_reply *r;
	uint32_t size, idx;
	int g;

	/* its task-started event names the consumer */
	ctx->rc_worker = c->worker;
	ctx->rc_worker_len = c->worker_len;
	g = tw_exec_remote_gate(ctx, rt, t);
	ctx->rc_worker = NULL;

	if (g != TW_GATE_RUN) {
		/* revoked, expired or dead-lettered here: it left the queue for good */
		tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, slot, TW_QCNT_completed), 1);
		if (g == TW_GATE_DONE) {
			tw_journal_done(ctx, t);
			tw_task_release(t, ctx->task_pool);
		}
		return;
	}
	/* a chord callback whose group's results did not fit its frame: its args
	 * are the group's slot (results and its own args), as a local run binds
	 * them; the message's own args alone would lose the results */
	if (unlikely(t->args_group != 0)) {
		if (!tw_workflow_bind_args(t)) {
			tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, slot, TW_QCNT_completed), 1);
			tw_exec_report(ctx, t, TW_ST_FAILURE, NULL, 0, group_gone,
				       sizeof(group_gone) - 1);
			tw_journal_done(ctx, t);
			tw_task_release(t, ctx->task_pool);
			return;
		}
		d.args = t->args;
		d.args_len = t->args_len;
	}
	d.tag = (uint64_t)UINT32_MAX << 32; /* sized with the longest tag */
	size = tw_wire_deliver_size(&d);
	if (size > TW_REPLY_MAX_PAYLOAD - FRAME_HEADER_ROOM &&
	    !tw_frag_fits(ctx, size + FRAME_HEADER_ROOM)) {
		tw_cnt_add(ctx, TW_CNT_rc_too_large, 1);
		tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, t->queue_slot, TW_QCNT_completed), 1);
		tw_exec_report(ctx, t, TW_ST_FAILURE, NULL, 0, too_large, sizeof(too_large) - 1);
		tw_journal_done(ctx, t);
		tw_task_release(t, ctx->task_pool);
		return;
	}
	idx = inflight_take(cs, ci, t, now + c->lease_ticks);
	d.tag = ((uint64_t)cs->inflight[idx].gen << 32) | ((uint64_t)cs->id << 16) | idx;
	/* a durable task: a crash before its ack brings it back with this delivery counted */
	tw_journal_delivered(ctx, q, t);
	c->delivered++;
	tw_cnt_add(ctx, TW_CNT_rc_deliveries, 1);
	/* a large task: a frame of its own, in fragments (failures counted; the
	 * lease brings the task back) */
	if (unlikely(size > TW_REPLY_MAX_PAYLOAD - FRAME_HEADER_ROOM)) {
		tw_frag_send_deliver(ctx, &c->peer, &d);
		return;
	}
	r = tw_reply_to(ctx, &c->peer);
	/* no mbuf now: counted by the reply stream; the lease brings the task back */
	if (tw_reply_reserve(ctx, r, size)) {
		tw_wire_put_deliver(&r->w, &d);
		r->n_entries++;
	}
}

/* Dequeue up to want tasks of one queue: its head stash first, then its rings. */
static uint32_t
take(struct tw_lcore_ctx *ctx, struct tw_consumers *cs, const struct tw_route_queue *q,
     struct tw_task **v, uint32_t want)
{
	uint32_t got = 0, from_ring = 0;
	struct tw_task *t;

	while (got < want && (t = stash_pop(cs, q->slot)) != NULL)
		v[got++] = t;
	/* priority queues: highest level first (levels[p - 1] is priority p) */
	for (uint32_t p = q->max_priority; p > 0 && got + from_ring < want; p--)
		from_ring += tw_qring_dequeue_burst(q->levels[p - 1], (void **)&v[got + from_ring],
						    want - got - from_ring);
	if (got + from_ring < want)
		from_ring += tw_qring_dequeue_burst(q->ring, (void **)&v[got + from_ring],
						    want - got - from_ring);
	if (from_ring != 0)
		tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, q->slot, TW_QCNT_delivered), from_ring);
	for (uint32_t i = got; i < got + from_ring; i++)
		if (v[i]->counts_bytes)
			__atomic_fetch_sub(tw_qbytes(ctx->shared, q->slot), v[i]->args_len,
					   __ATOMIC_RELAXED);
	return got + from_ring;
}

/*
 * The most deliveries one consumer may hold at once: its share of the
 * table's in-flight entries, shared by the consumers there are plus one.
 * Without a share, one consumer with a large credit (up to 65,535) would
 * take every entry and the others, whatever their credit, would get
 * nothing until it acked. The extra share stays free for the next
 * consumer to subscribe, which is served at once; a consumer alone holds
 * at most half the table. A share shrinks as consumers come: one holding
 * more gets nothing new until its acks bring it under.
 */
static inline uint32_t
share_of_table(const struct tw_consumers *cs)
{
	return TW_RC_INFLIGHT / (cs->n_active + 1);
}

static uint32_t
serve_one(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_consumers *cs,
	  uint16_t ci, uint32_t budget, uint64_t now)
{
	struct tw_consumer *c = &cs->c[ci];
	struct tw_task *v[TW_BURST];
	uint32_t share = share_of_table(cs);
	uint32_t want, got = 0;

	if (c->unacked >= c->prefetch)
		return 0;
	if (c->unacked >= share) {
		/* credit left, but no entry for it: counted once per subscription */
		if (!c->share_held)
			tw_cnt_add(ctx, TW_CNT_rc_share_held, 1);
		c->share_held = 1;
		return 0;
	}
	want = RTE_MIN(c->prefetch, share) - c->unacked;
	want = RTE_MIN(want, RTE_MIN(budget, (uint32_t)TW_BURST));
	want = RTE_MIN(want, TW_RC_INFLIGHT - cs->n_inflight);
	for (uint16_t k = 0; k < c->n_queues && got < want; k++) {
		uint16_t slot = c->queue_slot[(c->next_q + k) % c->n_queues];
		uint32_t qi = rt->slot_queue[slot];

		if (qi != TW_ROUTE_NONE) /* deleted meanwhile: nothing to take */
			got += take(ctx, cs, &rt->queues[qi], &v[got], want - got);
	}
	c->next_q = (uint16_t)(c->next_q + 1);
	for (uint32_t i = 0; i < got; i++)
		deliver_one(ctx, rt, cs, ci, v[i], now);
	return got;
}

/* Expired leases and silent consumers. @return tasks requeued. */
static uint32_t
scan(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, struct tw_consumers *cs, uint64_t now)
{
	uint32_t work = 0;

	for (uint32_t k = 0; k < cs->n_active;) {
		uint16_t ci = cs->active[k];
		struct tw_consumer *c = &cs->c[ci];

		if (now - c->last_seen_tsc > c->silence_ticks) {
			tw_cnt_add(ctx, TW_CNT_rc_lost, 1);
			work += drop_consumer(ctx, rt, cs, k, TW_RC_EV_OFFLINE_LOST) + 1;
			continue; /* the last consumer moved to position k */
		}
		/* oldest lease end first: stops at the first delivery still in its
		 * lease, so a large window costs nothing per scan (bounded by
		 * the consumer's deliveries when the order was lost) */
		for (uint32_t idx = c->inflight_head, next; idx != NIL; idx = next) {
			struct tw_rc_inflight *e = &cs->inflight[idx];
			struct tw_task *t = e->t;

			next = e->next;
			if (now <= e->deadline_tsc) {
				if (!c->lease_unordered)
					break;
				continue;
			}
			tw_cnt_add(ctx, TW_CNT_rc_lease_expired, 1);
			inflight_unlink(cs, idx);
			c->redelivered++;
			requeue(ctx, rt, cs, t);
			work++;
		}
		k++;
	}
	return work;
}

void
tw_consumers_forward(struct tw_lcore_ctx *ctx, struct rte_mbuf *m)
{
	/* the ring's own reference: the dispatch stage releases the frame after the burst */
	rte_mbuf_refcnt_update(m, 1);
	if (unlikely(ctx->rc_out == NULL || rte_ring_sp_enqueue(ctx->rc_out, m) != 0)) {
		/* the consumer resends what is not answered (acks, subscribe); heartbeats recur */
		tw_drop_burst(ctx, TW_CNT_drop_rc_forward_full, &m, 1);
		return;
	}
	tw_cnt_add(ctx, TW_CNT_rc_forwarded, 1);
}

/* Frames other io lcores handed over: decoded again here, then released. @return how many. */
static uint32_t
forwarded(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	struct rte_mbuf *v[TW_BURST];
	uint32_t total = 0;

	for (uint16_t r = 0; r < ctx->n_rc_in; r++) {
		/* (an empty ring is one load: the common case) */
		unsigned n = rte_ring_sc_dequeue_burst(ctx->rc_in[r], (void **)v, TW_BURST, NULL);

		for (unsigned i = 0; i < n; i++) {
			struct tw_frame_view fv;
			struct tw_peer peer;
			uint32_t len;
			const uint8_t *p = tw_parse_payload(v[i], &len);

			/* decoded once already, by the io lcore that took it in */
			if (tw_wire_decode_frame(p, len, &fv, ctx->views, TW_FRAME_MAX_TASKS) ==
			    TW_WIRE_OK) {
				tw_reply_peer_of(v[i], &peer);
				tw_consumers_frame(ctx, rt, &fv, &peer);
			}
		}
		if (n != 0)
			tw_drop_burst(ctx, TW_CNT_frames_released, v, (uint16_t)n);
		total += n;
	}
	return total;
}

uint32_t
tw_consumers_serve(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	struct tw_consumers *cs = ctx->consumers;
	uint32_t work = 0, budget = TW_RC_SERVE_BUDGET, n;
	uint64_t now;

	if (cs == NULL)
		return 0;
	if (unlikely(ctx->n_rc_in != 0))
		work += forwarded(ctx, rt);
	if (cs->n_active == 0 && cs->stash_n == 0)
		return work;
	now = rte_rdtsc();
	/* leases and heartbeats every millisecond, not every pass */
	if (now >= cs->next_scan_tsc) {
		uint64_t late = now - cs->next_scan_tsc;

		/* this lcore did not run for a while (a host pause, the process
		 * stopped): its consumers' heartbeats of that time still wait in
		 * the port, unread, so the pause is not counted as their silence
		 * (a consumer seen later than the last scan, a newcomer after a
		 * time without consumers, is left as it is) */
		if (unlikely(late > TW_RC_STALL_MS * ctx->tsc_per_ms && cs->next_scan_tsc != 0))
			for (uint32_t k = 0; k < cs->n_active; k++) {
				struct tw_consumer *c = &cs->c[cs->active[k]];

				c->last_seen_tsc = RTE_MIN(c->last_seen_tsc + late, now);
			}
		work += scan(ctx, rt, cs, now);
		cs->next_scan_tsc = now + ctx->tsc_per_ms;
	}
	n = cs->n_active;
	if (rt == NULL || n == 0)
		return work;
	/* a rotating start: consumers of one queue share it in turn */
	for (uint32_t k = 0; k < n && budget != 0; k++) {
		uint32_t got = serve_one(ctx, rt, cs, cs->active[(cs->next_serve + k) % n], budget, now);

		budget -= got;
		work += got;
	}
	cs->next_serve = (uint16_t)((cs->next_serve + 1) % n);
	return work;
}

void
tw_consumers_drain(struct tw_lcore_ctx *ctx)
{
	struct tw_consumers *cs = ctx->consumers;
	struct rte_mbuf *m;

	if (cs == NULL)
		return;
	/* bounded by the rings' sizes */
	for (uint16_t r = 0; r < ctx->n_rc_in; r++)
		while (rte_ring_sc_dequeue(ctx->rc_in[r], (void **)&m) == 0)
			tw_drop_burst(ctx, TW_CNT_frames_released, &m, 1);
	for (uint32_t i = 0; i < TW_RC_INFLIGHT; i++)
		if (cs->inflight[i].t != NULL) {
			tw_task_release(cs->inflight[i].t, ctx->task_pool);
			cs->inflight[i].t = NULL;
		}
	for (uint32_t i = 0; i < TW_RC_STASH; i++)
		if (cs->stash[i].t != NULL) {
			tw_task_release(cs->stash[i].t, ctx->task_pool);
			cs->stash[i].t = NULL;
		}
}
