/*
 * The journal: lcore hand-off, held confirms, and the writer thread (see
 * tw_journal.h). Recovery at start is in tw_journal_recover.c.
 *
 * Sync method: write() of a whole batch to the current segment, then
 * fdatasync() of that file; a new segment's header is synced with the
 * file and the directory before any record goes into it. O_DSYNC would
 * sync every write and O_DIRECT needs aligned buffers: one fdatasync per
 * batch is the group commit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "tw_ctlchan.h"
#include "tw_dedup.h"
#include "tw_engine.h"
#include "tw_enqueue.h"
#include "tw_exec.h"
#include "tw_journal_priv.h"
#include "tw_log.h"
#include "tw_reasm.h"
#include "tw_reply.h"
#include "tw_wf_group.h"
#include "tw_workflow.h"

/* ---- polling lcore side ---- */

static inline bool
journal_failing(const struct tw_journal_lcore *jl)
{
	return __atomic_load_n(jl->failing, __ATOMIC_RELAXED) != 0;
}

/*
 * A record of t in queue q (TASK or DELIVERED: the same layout) in an
 * mbuf, or a large buffer for a task that came in fragments.
 * @return it, or NULL (no buffer).
 */
static struct rte_mbuf *
task_record(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q, const struct tw_task *t,
	    uint8_t type, uint64_t jid, uint8_t deliveries)
{
	uint32_t len = tw_jrec_len(q->name_len, t->raw_len), charge;
	struct tw_jrec *r;
	struct rte_mbuf *m;

	if (likely(len <= TW_JREC_MAX)) {
		m = rte_pktmbuf_alloc(ctx->mbuf_pool);
		if (unlikely(m == NULL))
			return NULL;
		if (rte_pktmbuf_tailroom(m) < len) {
			rte_pktmbuf_free(m);
			return NULL;
		}
	} else {
		/* a task that came in fragments: its record in a large buffer */
		m = ctx->big != NULL ? tw_bigbuf_alloc(ctx->big, len, &charge) : NULL;
		if (m == NULL)
			return NULL;
	}
	r = rte_pktmbuf_mtod(m, struct tw_jrec *);
	memset(r, 0, TW_JREC_HDR);
	r->len = len;
	r->type = type;
	r->priority = t->priority;
	r->deliveries = deliveries;
	if (t->expire_tsc != 0) {
		/* one division, only for tasks that expire */
		r->expire_unix_ms = tw_unix_ms_of_tsc(ctx, t->expire_tsc);
		r->flags = t->expiry_is_task ? TW_JREC_F_EXPIRY_IS_TASK : 0;
	}
	r->qname_len = (uint16_t)q->name_len;
	r->raw_len = t->raw_len;
	r->peer_ip = t->peer_ip;
	r->peer_port = t->peer_port;
	memcpy(r->peer_mac, t->peer_mac.addr_bytes, 6);
	r->jid = jid;
	r->task_id = t->id;
	memcpy((uint8_t *)r + TW_JREC_HDR, q->name, q->name_len);
	memcpy((uint8_t *)r + TW_JREC_HDR + q->name_len, t->raw, t->raw_len);
	/* padding is checksummed: zero it, never last frame's bytes */
	memset((uint8_t *)r + TW_JREC_HDR + q->name_len + t->raw_len, 0,
	       len - TW_JREC_HDR - q->name_len - t->raw_len);
	/* the writer reads a record by its own len; data_len is what fits 16 bits */
	m->data_len = (uint16_t)RTE_MIN(len, (uint32_t)UINT16_MAX);
	m->pkt_len = len;
	return m;
}

uint64_t
tw_journal_task(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q, struct tw_task *t)
{
	struct tw_journal_lcore *jl = ctx->journal;
	struct rte_mbuf *m;
	uint64_t seq;

	/* room to hold the confirm of every task a burst may conclude later */
	if (jl == NULL || journal_failing(jl) ||
	    jl->tail - jl->head >= TW_JOURNAL_HELD - TW_FRAME_MAX_TASKS * 2 ||
	    tw_jrec_len(q->name_len, t->raw_len) > TW_JREC_LARGE_MAX)
		return 0;
	seq = jl->seq + 1;
	m = task_record(ctx, q, t, TW_JREC_TASK, jl->jid_base | seq, t->deliveries);
	if (unlikely(m == NULL))
		return 0;
	if (unlikely(rte_ring_sp_enqueue(jl->ring, m) != 0)) {
		rte_pktmbuf_free(m);
		return 0;
	}
	jl->seq = seq;
	t->jid = jl->jid_base | seq;
	tw_cnt_add(ctx, TW_CNT_journal_records, 1);
	return seq;
}

void
tw_journal_delivered_slow(struct tw_lcore_ctx *ctx, const struct tw_route_queue *q,
			  const struct tw_task *t)
{
	struct tw_journal_lcore *jl = ctx->journal;
	/* as it comes back if this delivery is never acked (saturating, as requeue's count) */
	uint8_t deliveries = t->deliveries == UINT8_MAX ? UINT8_MAX : (uint8_t)(t->deliveries + 1);
	struct rte_mbuf *m = NULL;

	/* no confirm waits on it: a failing disk drops it (counted) like a full ring */
	if (jl != NULL && !journal_failing(jl))
		m = task_record(ctx, q, t, TW_JREC_DELIVERED, t->jid, deliveries);
	if (unlikely(m == NULL || rte_ring_sp_enqueue(jl->ring, m) != 0)) {
		if (m != NULL)
			rte_pktmbuf_free(m);
		/* a crash before its ack brings it back with the count it had */
		tw_cnt_add(ctx, TW_CNT_journal_delivered_lost, 1);
		return;
	}
	tw_cnt_add(ctx, TW_CNT_journal_delivered, 1);
}

void
tw_journal_done_slow(struct tw_lcore_ctx *ctx, struct tw_task *t)
{
	struct tw_journal_lcore *jl = ctx->journal;
	struct tw_jrec *r;
	struct rte_mbuf *m;

	if (jl == NULL) {
		/* a lane-less lcore (cannot happen: every polling lcore has one) */
		tw_cnt_add(ctx, TW_CNT_journal_done_lost, 1);
		t->jid = 0;
		return;
	}
	m = rte_pktmbuf_alloc(ctx->mbuf_pool);
	if (unlikely(m == NULL)) {
		/* the task comes back after a crash: run twice, never lost */
		tw_cnt_add(ctx, TW_CNT_journal_done_lost, 1);
		t->jid = 0;
		return;
	}
	r = rte_pktmbuf_mtod(m, struct tw_jrec *);
	memset(r, 0, TW_JREC_HDR);
	r->len = TW_JREC_HDR;
	r->type = TW_JREC_DONE;
	r->jid = t->jid;
	r->task_id = t->id;
	m->data_len = TW_JREC_HDR;
	m->pkt_len = TW_JREC_HDR;
	if (unlikely(rte_ring_sp_enqueue(jl->ring, m) != 0)) {
		rte_pktmbuf_free(m);
		tw_cnt_add(ctx, TW_CNT_journal_done_lost, 1);
	}
	t->jid = 0;
}

/*
 * A GROUP or GROUP_MEMBER record: meta in the queue name's place, then
 * body (the group's node, or a member's result). @return it, or NULL.
 */
static struct rte_mbuf *
group_record(struct tw_lcore_ctx *ctx, uint8_t type, uint64_t jid, uint64_t group_id,
	     const struct tw_jgroup_meta *meta, const uint8_t *body, uint32_t body_len)
{
	uint32_t len = tw_jrec_len(sizeof(*meta), body_len), charge;
	struct tw_jrec *r;
	struct rte_mbuf *m;

	if (len > TW_JREC_LARGE_MAX)
		return NULL;
	if (len <= TW_JREC_MAX) {
		m = rte_pktmbuf_alloc(ctx->mbuf_pool);
		if (m != NULL && rte_pktmbuf_tailroom(m) < len) {
			rte_pktmbuf_free(m);
			m = NULL;
		}
	} else {
		m = ctx->big != NULL ? tw_bigbuf_alloc(ctx->big, len, &charge) : NULL;
	}
	if (m == NULL)
		return NULL;
	r = rte_pktmbuf_mtod(m, struct tw_jrec *);
	memset(r, 0, TW_JREC_HDR);
	r->len = len;
	r->type = type;
	r->qname_len = sizeof(*meta);
	r->raw_len = body_len;
	r->jid = jid;
	r->task_id = group_id;
	memcpy((uint8_t *)r + TW_JREC_HDR, meta, sizeof(*meta));
	if (body_len != 0)
		memcpy((uint8_t *)r + TW_JREC_HDR + sizeof(*meta), body, body_len);
	memset((uint8_t *)r + TW_JREC_HDR + sizeof(*meta) + body_len, 0,
	       len - TW_JREC_HDR - sizeof(*meta) - body_len);
	m->data_len = (uint16_t)RTE_MIN(len, (uint32_t)UINT16_MAX);
	m->pkt_len = len;
	return m;
}

uint64_t
tw_journal_group(struct tw_lcore_ctx *ctx, struct tw_wf_group *g)
{
	struct tw_journal_lcore *jl = ctx->journal;
	struct tw_jgroup_meta meta = { .key_id = g->key_id, .cell = g->cell };
	struct tw_jrec *r;
	struct rte_mbuf *m;
	uint64_t seq;

	if (jl == NULL || journal_failing(jl) ||
	    jl->tail - jl->head >= TW_JOURNAL_HELD - TW_FRAME_MAX_TASKS * 2)
		return 0;
	seq = jl->seq + 1;
	m = group_record(ctx, TW_JREC_GROUP, jl->jid_base | seq, g->id, &meta, g->sig, g->sig_len);
	if (m == NULL)
		return 0;
	r = rte_pktmbuf_mtod(m, struct tw_jrec *);
	r->peer_ip = g->peer.ip;
	r->peer_port = g->peer.port;
	memcpy(r->peer_mac, g->peer.mac.addr_bytes, 6);
	r->expire_unix_ms = g->expires_ms;
	if (unlikely(rte_ring_sp_enqueue(jl->ring, m) != 0)) {
		rte_pktmbuf_free(m);
		return 0;
	}
	jl->seq = seq;
	g->jid = jl->jid_base | seq;
	tw_cnt_add(ctx, TW_CNT_journal_groups, 1);
	return seq;
}

void
tw_journal_group_member(struct tw_lcore_ctx *ctx, const struct tw_wf_group *g, uint32_t idx,
			const uint8_t *value, uint32_t len)
{
	struct tw_journal_lcore *jl = ctx->journal;
	struct tw_jgroup_meta meta = { .index = idx };
	uint64_t jid = __atomic_load_n(&g->jid, __ATOMIC_RELAXED);
	struct rte_mbuf *m = NULL;

	if (jid == 0)
		return;
	/* a failing disk: its batch is lost anyway; the member may run again after a crash */
	if (jl != NULL)
		m = group_record(ctx, TW_JREC_GROUP_MEMBER, jid, g->id, &meta, value, len);
	if (unlikely(m == NULL || rte_ring_sp_enqueue(jl->ring, m) != 0)) {
		if (m != NULL)
			rte_pktmbuf_free(m);
		tw_cnt_add(ctx, TW_CNT_journal_group_lost, 1);
	}
}

/* The DONE of a group's GROUP record to the writer now. */
static void
group_done_now(struct tw_lcore_ctx *ctx, struct tw_journal_lcore *jl, uint64_t jid,
	       uint64_t group_id)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(ctx->mbuf_pool);
	struct tw_jrec *r;

	if (unlikely(m == NULL)) {
		/* the group comes back after a crash: its members done, its callback
		 * found routed (recovery looks for it), or made again */
		tw_cnt_add(ctx, TW_CNT_journal_group_lost, 1);
		return;
	}
	r = rte_pktmbuf_mtod(m, struct tw_jrec *);
	memset(r, 0, TW_JREC_HDR);
	r->len = TW_JREC_HDR;
	r->type = TW_JREC_DONE;
	r->flags = TW_JREC_F_GROUP;
	r->jid = jid;
	r->task_id = group_id;
	m->data_len = TW_JREC_HDR;
	m->pkt_len = TW_JREC_HDR;
	if (unlikely(rte_ring_sp_enqueue(jl->ring, m) != 0)) {
		rte_pktmbuf_free(m);
		tw_cnt_add(ctx, TW_CNT_journal_group_lost, 1);
	}
}

void
tw_journal_group_done(struct tw_lcore_ctx *ctx, uint64_t jid, uint64_t group_id)
{
	struct tw_journal_lcore *jl = ctx->journal;

	if (jl == NULL) {
		tw_cnt_add(ctx, TW_CNT_journal_group_lost, 1);
		return;
	}
	if (jl->n_gdone == TW_JOURNAL_GDONE) {
		/* full (a stash that never empties): now, before its callback's record;
		 * a crash between the two makes the callback again */
		group_done_now(ctx, jl, jid, group_id);
		return;
	}
	jl->gdone[jl->n_gdone++] = (struct tw_jgdone){ jid, group_id };
}

/* Group ends held back: to the writer once every step made before them is routed. */
static void
release_group_dones(struct tw_lcore_ctx *ctx, struct tw_journal_lcore *jl)
{
	if (ctx->made_n != 0 || (ctx->wf_out.m != NULL && ctx->wf_out.n != 0))
		return;
	for (uint32_t i = 0; i < jl->n_gdone; i++)
		group_done_now(ctx, jl, jl->gdone[i].jid, jl->gdone[i].group_id);
	jl->n_gdone = 0;
}

void
tw_journal_hold(struct tw_lcore_ctx *ctx, uint64_t seq_lo, uint64_t seq, uint64_t task_id,
		const struct tw_peer *peer, struct tw_dedup_entry *dd, uint32_t dd_gen)
{
	struct tw_journal_lcore *jl = ctx->journal;
	struct tw_held_confirm *h = &jl->held[jl->tail & (TW_JOURNAL_HELD - 1)];

	/* tw_journal_task() kept room for this one */
	h->seq_lo = seq_lo;
	h->seq = seq;
	h->task_id = task_id;
	h->dd = dd;
	h->dd_gen = dd_gen;
	h->failed = 0;
	h->peer = *peer;
	jl->tail++;
	tw_cnt_add(ctx, TW_CNT_journal_held, 1);
}

static void
nack_lost(struct tw_lcore_ctx *ctx, uint64_t task_id, const struct tw_peer *peer)
{
	tw_cnt_add(ctx, TW_CNT_nack_journal, 1);
	tw_reply_confirm(ctx, tw_reply_to(ctx, peer), task_id, false, TW_NACK_NO_RESOURCES,
			 "journal write failed (disk full or I/O error)");
}

bool
tw_journal_hold_duplicate(struct tw_lcore_ctx *ctx, uint64_t seq, uint64_t task_id,
			  const struct tw_peer *peer)
{
	struct tw_journal_lcore *jl = ctx->journal;
	uint64_t hi, lo;

	if (jl == NULL || seq <= __atomic_load_n(jl->synced, __ATOMIC_ACQUIRE))
		return false;
	hi = __atomic_load_n(jl->failed_hi, __ATOMIC_ACQUIRE);
	lo = __atomic_load_n(jl->failed_lo, __ATOMIC_RELAXED);
	if (seq >= lo && seq <= hi) {
		/* its record was lost (the task may still run: at-least-once) */
		nack_lost(ctx, task_id, peer);
		return true;
	}
	/* no room: no answer; the publisher retransmits again */
	if (jl->tail - jl->head < TW_JOURNAL_HELD - TW_FRAME_MAX_TASKS * 2)
		tw_journal_hold(ctx, seq, seq, task_id, peer, NULL, 0);
	return true;
}

/*
 * A failed range the writer published and this lcore has not applied:
 * every held confirm with a record in it becomes a NACK. The whole FIFO
 * is looked at (a retransmit's confirm may sit behind later seqs); rare.
 */
static void
apply_failure(struct tw_journal_lcore *jl, uint64_t hi)
{
	/* written before hi (release), and not changed until fail_seen reaches hi */
	uint64_t lo = __atomic_load_n(jl->failed_lo, __ATOMIC_RELAXED);

	for (uint32_t i = jl->head; i != jl->tail; i++) {
		struct tw_held_confirm *h = &jl->held[i & (TW_JOURNAL_HELD - 1)];

		if (h->seq_lo <= hi && h->seq >= lo)
			h->failed = 1;
	}
	/* release: the writer may take this lcore's records again */
	__atomic_store_n(&jl->fail_seen, hi, __ATOMIC_RELEASE);
}

/*
 * Recovered tasks back into their queues, a burst at a time, in journal
 * order; only once tw-control is attached (or its wait ran out), so their
 * results reach the store. A full queue keeps the rest waiting.
 */
static uint32_t
requeue_recovered(struct tw_lcore_ctx *ctx, struct tw_journal_lcore *jl,
		  const struct tw_routes *rt)
{
	static const char gone[] = "its queue was deleted before the recovered task was queued";
	uint32_t n = 0;

	if (rt == NULL || (!tw_ctl_attached(ctx) && rte_rdtsc() < jl->recovered_deadline))
		return 0;
	while (n < TW_BURST) {
		struct tw_task *t = jl->recovered_next;
		const struct tw_route_queue *q;
		struct tw_qring *ring;
		uint32_t qi;

		if (t == NULL && rte_ring_sc_dequeue(jl->recovered, (void **)&t) != 0) {
			jl->recovered = NULL; /* all placed; the ring is freed at stop */
			break;
		}
		jl->recovered_next = NULL;
		qi = rt->slot_queue[t->queue_slot]; /* a 16-bit slot is always in the map */
		if (qi == TW_ROUTE_NONE) {
			tw_exec_report(ctx, t, TW_ST_FAILURE, NULL, 0, gone, sizeof(gone) - 1);
			tw_journal_done(ctx, t);
			tw_task_release(t, ctx->task_pool);
			continue;
		}
		q = &rt->queues[qi];
		t->enqueue_tsc = rte_rdtsc(); /* its wait in the queue starts now */
		ring = tw_queue_ring(q, t->priority);
		if (!tw_qring_enqueue(ring, &ctx->shared->qspares, t) &&
		    (q->max_priority == 0 || !tw_enqueue_spill(&ctx->shared->qspares, q, t, ring))) {
			jl->recovered_next = t; /* full: its consumers make room */
			break;
		}
		tw_enqueue_mark_ready(ctx, q);
		tw_cnt_qadd(tw_qcnt(ctx->shared, ctx->qsbr_id, q->slot, TW_QCNT_published), 1);
		n++;
	}
	if (n != 0) {
		jl->recovered_queued += n;
		__atomic_store_n(&ctx->shared->journal.c[TW_JC_recovered_queued], jl->recovered_queued,
				 __ATOMIC_RELAXED);
	}
	return n;
}

/*
 * Groups rebuilt at start: completed (all members done, the callback not
 * routed before the crash) or given their lost members again, once
 * tw-control is attached (their results must reach its store).
 */
static uint32_t
resume_groups(struct tw_lcore_ctx *ctx, struct tw_journal_lcore *jl)
{
	if (!tw_ctl_attached(ctx) && rte_rdtsc() < jl->recovered_deadline)
		return 0;
	for (uint32_t i = 0; i < jl->n_resume; i++)
		tw_workflow_group_resume(ctx, jl->resume[i].group_id, jl->resume[i].emit);
	__atomic_store_n(&ctx->shared->journal.c[TW_JC_groups_resumed], jl->n_resume,
			 __ATOMIC_RELAXED);
	/* the array is the main thread's (freed at stop) */
	jl->resume = NULL;
	return 1;
}

uint32_t
tw_journal_release_slow(struct tw_lcore_ctx *ctx, const struct tw_routes *rt)
{
	struct tw_journal_lcore *jl = ctx->journal;
	/* acquire: pairs with the writer's release after its fdatasync */
	uint64_t synced = __atomic_load_n(jl->synced, __ATOMIC_ACQUIRE);
	uint64_t hi = __atomic_load_n(jl->failed_hi, __ATOMIC_ACQUIRE);
	uint32_t n = 0;

	if (unlikely(hi != jl->fail_seen))
		apply_failure(jl, hi);
	while (jl->head != jl->tail) {
		struct tw_held_confirm *h = &jl->held[jl->head & (TW_JOURNAL_HELD - 1)];

		if (h->failed) {
			/* a retransmit is routed again, unless the task already finished */
			if (h->dd != NULL)
				tw_dedup_forget_routed(h->dd, h->dd_gen);
			nack_lost(ctx, h->task_id, &h->peer);
		} else if (h->seq <= synced) {
			tw_reply_confirm(ctx, tw_reply_to(ctx, &h->peer), h->task_id, true,
					 TW_NACK_NONE, NULL);
		} else {
			break;
		}
		jl->head++;
		n++;
	}
	if (jl->n_gdone != 0)
		release_group_dones(ctx, jl);
	/* recovered groups before recovered tasks: a member run must find its group ready */
	if (unlikely(jl->resume != NULL))
		n += resume_groups(ctx, jl);
	if (unlikely(jl->recovered != NULL))
		n += requeue_recovered(ctx, jl, rt);
	return n;
}

/* ---- jid map and segment table (writer and recovery) ---- */

static inline uint64_t
jmap_hash(uint64_t jid)
{
	jid ^= jid >> 33;
	jid *= UINT64_C(0xff51afd7ed558ccd);
	jid ^= jid >> 33;
	return jid;
}

static int
jmap_grow(struct tw_jmap *m)
{
	uint64_t cap = m->v == NULL ? 4096 : (m->mask + 1) * 2;
	struct tw_jmap_slot *v = calloc(cap, sizeof(*v)), *old = m->v;
	uint64_t old_cap = m->v == NULL ? 0 : m->mask + 1;

	if (v == NULL)
		return -ENOMEM;
	m->v = v;
	m->mask = cap - 1;
	for (uint64_t i = 0; i < old_cap; i++)
		if (old[i].jid != 0) {
			uint64_t k = jmap_hash(old[i].jid) & m->mask;

			while (v[k].jid != 0)
				k = (k + 1) & m->mask;
			v[k] = old[i];
		}
	free(old);
	return 0;
}

int
tw_jmap_put(struct tw_jmap *m, uint64_t jid, uint64_t segno)
{
	uint64_t k;

	if ((m->v == NULL || (m->n + 1) * 2 > m->mask + 1) && jmap_grow(m) != 0)
		return -ENOMEM;
	for (k = jmap_hash(jid) & m->mask; m->v[k].jid != 0; k = (k + 1) & m->mask)
		if (m->v[k].jid == jid) {
			m->v[k].segno = segno;
			return 0;
		}
	m->v[k].jid = jid;
	m->v[k].segno = segno;
	m->n++;
	return 0;
}

bool
tw_jmap_take(struct tw_jmap *m, uint64_t jid, uint64_t *segno)
{
	uint64_t k, j;

	if (m->v == NULL)
		return false;
	for (k = jmap_hash(jid) & m->mask; m->v[k].jid != jid; k = (k + 1) & m->mask)
		if (m->v[k].jid == 0)
			return false;
	*segno = m->v[k].segno;
	/* backward-shift deletion: the probe chains stay unbroken without tombstones */
	for (j = (k + 1) & m->mask; m->v[j].jid != 0; j = (j + 1) & m->mask) {
		uint64_t home = jmap_hash(m->v[j].jid) & m->mask;

		/* move j into the hole at k unless its home lies cyclically in (k, j] */
		if (((j - home) & m->mask) >= ((j - k) & m->mask)) {
			m->v[k] = m->v[j];
			k = j;
		}
	}
	m->v[k].jid = 0;
	m->n--;
	return true;
}

bool
tw_jmap_get(const struct tw_jmap *m, uint64_t jid, uint64_t *segno)
{
	if (m->v == NULL)
		return false;
	for (uint64_t k = jmap_hash(jid) & m->mask; m->v[k].jid != 0; k = (k + 1) & m->mask)
		if (m->v[k].jid == jid) {
			*segno = m->v[k].segno;
			return true;
		}
	return false;
}

void
tw_jmap_free(struct tw_jmap *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

struct tw_jseg *
tw_jseg_find(struct tw_journal *j, uint64_t segno)
{
	for (uint32_t i = j->n_segs; i-- > 0;)
		if (j->segs[i].segno == segno)
			return &j->segs[i];
	return NULL;
}

int
tw_jseg_add(struct tw_journal *j, uint64_t segno, uint64_t live)
{
	if (j->n_segs == j->cap_segs) {
		uint32_t cap = j->cap_segs ? j->cap_segs * 2 : 16;
		struct tw_jseg *v = realloc(j->segs, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		j->segs = v;
		j->cap_segs = cap;
	}
	j->segs[j->n_segs++] = (struct tw_jseg){ segno, live, 0 };
	return 0;
}

void
tw_jseg_group_ended(struct tw_journal *j, uint64_t segno)
{
	struct tw_jseg *s = tw_jseg_find(j, segno);

	if (s != NULL && s->groups > 0)
		s->groups--;
}

void
tw_jseg_name(char *buf, size_t len, uint64_t segno)
{
	snprintf(buf, len, "%016" PRIx64 TW_JSEG_SUFFIX, segno);
}

static void
jc_add(struct tw_journal *j, enum tw_journal_counter c, uint64_t n)
{
	__atomic_store_n(&j->js->c[c], j->js->c[c] + n, __ATOMIC_RELAXED);
}

static void
jc_set(struct tw_journal *j, enum tw_journal_counter c, uint64_t v)
{
	__atomic_store_n(&j->js->c[c], v, __ATOMIC_RELAXED);
}

int
tw_jseg_open_next(struct tw_journal *j, uint64_t segno)
{
	struct tw_jseg_header h = { TW_JSEG_MAGIC, TW_JSEG_VERSION, segno };
	char name[64];
	int fd, ret;

	tw_jseg_name(name, sizeof(name), segno);
	fd = openat(j->dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, &h, sizeof(h)) != (ssize_t)sizeof(h) || fdatasync(fd) != 0 ||
	    fsync(j->dir_fd) != 0) {
		ret = errno != 0 ? -errno : -EIO;
		close(fd);
		unlinkat(j->dir_fd, name, 0);
		return ret;
	}
	if (tw_jseg_add(j, segno, 0) != 0) {
		close(fd);
		return -ENOMEM;
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	j->segno = segno;
	j->seg_off = sizeof(h);
	jc_set(j, TW_JC_segments, j->n_segs);
	return 0;
}

/* ---- writer thread ---- */

/* What one batch holds, per lane. */
struct batch {
	size_t len;
	uint32_t n_tasks, n_records, n_delivered, n_dropped;
	uint64_t lo[TW_MAX_LCORES], hi[TW_MAX_LCORES]; /* seqs of its TASK records, 0: none */
};

/*
 * A DELIVERED copy of r->jid: the copy stands for the task from now on,
 * counted live in the current segment (no longer in the one it left).
 * @return false if it is not to be written: the task ended already (or
 * its TASK record was lost), or no memory to remember the move.
 */
static bool
take_delivered(struct tw_journal *j, const struct tw_jrec *r)
{
	uint32_t l = tw_jid_lcore(r->jid);
	uint64_t from = 0;

	if (j->n_moves == j->cap_moves) {
		uint32_t cap = j->cap_moves ? j->cap_moves * 2 : 256;
		struct tw_jmove *v = realloc(j->moves, cap * sizeof(*v));

		if (v == NULL)
			return false;
		j->moves = v;
		j->cap_moves = cap;
	}
	if (!tw_jmap_take(&j->map, r->jid, &from)) {
		/* not mapped: ended, unless its TASK record (another lane's, this
		 * run) is still on its way: then this copy is written for it */
		if (tw_jid_epoch(r->jid) != j->epoch || l >= TW_MAX_LCORES ||
		    (r->jid & TW_JID_SEQ_MASK) <= j->taken[l])
			return false;
	} else {
		struct tw_jseg *s = tw_jseg_find(j, from);

		if (s != NULL && s->live > 0)
			s->live--;
	}
	if (tw_jmap_put(&j->map, r->jid, j->segno) != 0) {
		/* cannot happen after a take; without one, nothing was changed */
		if (from != 0) {
			struct tw_jseg *s = tw_jseg_find(j, from);

			if (s != NULL)
				s->live++;
			tw_jmap_put(&j->map, r->jid, from);
		}
		return false;
	}
	j->segs[j->n_segs - 1].live++;
	j->moves[j->n_moves++] = (struct tw_jmove){ r->jid, from };
	return true;
}

/* r, checksummed, at the batch's end. */
static void
append(struct tw_journal *j, struct batch *b, struct tw_jrec *r)
{
	r->crc = tw_jrec_crc(r);
	memcpy(j->buf + b->len, r, r->len);
	b->len += r->len;
	b->n_records++;
}

/*
 * A DONE record r into the batch if its task is outstanding.
 * @return 1 written; 0 nothing to write (its TASK record was never
 *   written, or it ended already); -1 its TASK record, this run's from
 *   another lane, is not taken yet (the DONE waits for it: written
 *   before it, it would be forgotten and the task come back after a crash).
 */
static int
take_done(struct tw_journal *j, struct batch *b, struct tw_jrec *r)
{
	uint32_t l = tw_jid_lcore(r->jid);
	struct tw_jseg *s;
	uint64_t segno;

	if (!tw_jmap_take(&j->map, r->jid, &segno))
		return tw_jid_epoch(r->jid) == j->epoch && l < TW_MAX_LCORES &&
			       (r->jid & TW_JID_SEQ_MASK) > j->taken[l] ? -1 : 0;
	s = tw_jseg_find(j, segno);
	if (s != NULL && s->live > 0)
		s->live--;
	if (r->flags & TW_JREC_F_GROUP)
		tw_jseg_group_ended(j, segno);
	append(j, b, r);
	return 1;
}

static void
pending_add(struct tw_journal *j, uint64_t jid, bool handed, uint8_t flags)
{
	if (j->n_pending == j->cap_pending) {
		uint32_t cap = j->cap_pending ? j->cap_pending * 2 : 64;
		struct tw_jpending *v = realloc(j->pending, cap * sizeof(*v));

		if (v == NULL) {
			/* the task may come back after a crash (run twice, never lost) */
			if (handed)
				__atomic_fetch_add(&j->js->done_failed, 1, __ATOMIC_RELEASE);
			return;
		}
		j->pending = v;
		j->cap_pending = cap;
	}
	j->pending[j->n_pending++] = (struct tw_jpending){ jid, handed, flags };
}

/* The DONE of a jid tw-control dropped (or one waiting for its TASK record). */
static void
take_dropped(struct tw_journal *j, struct batch *b, uint64_t jid, bool handed, uint8_t flags,
	     bool *waits)
{
	struct tw_jrec r = { .len = TW_JREC_HDR, .type = TW_JREC_DONE, .flags = flags, .jid = jid };
	int k = take_done(j, b, &r);

	*waits = k < 0;
	if (k > 0 && handed)
		b->n_dropped++;
	else if (k == 0 && handed) /* ended already: nothing to wait for */
		__atomic_fetch_add(&j->js->done_synced, 1, __ATOMIC_RELEASE);
}

/* DONE records waiting for their TASK, then the jids tw-control dropped. @return taken */
static uint32_t
gather_dropped(struct tw_journal *j, struct batch *b)
{
	void *v[64];
	uint32_t k = 0, room = (uint32_t)RTE_MIN((j->buf_cap - b->len) / TW_JREC_HDR, RTE_DIM(v));
	unsigned n;
	bool waits;

	for (uint32_t i = 0; i < j->n_pending; i++) {
		if (b->len + TW_JREC_HDR > j->buf_cap) {
			j->pending[k++] = j->pending[i];
			continue;
		}
		take_dropped(j, b, j->pending[i].jid, j->pending[i].handed, j->pending[i].flags,
			     &waits);
		if (waits)
			j->pending[k++] = j->pending[i];
	}
	j->n_pending = k;
	if (j->dropped == NULL || room == 0)
		return 0;
	n = rte_ring_sc_dequeue_burst(j->dropped, v, room, NULL);
	for (unsigned i = 0; i < n; i++) {
		take_dropped(j, b, (uint64_t)(uintptr_t)v[i], true, 0, &waits);
		if (waits)
			pending_add(j, (uint64_t)(uintptr_t)v[i], true, 0);
	}
	return n;
}

/*
 * A GROUP record: outstanding in the current segment (a lane seq, like a
 * TASK: its confirm waits for the batch), unless a member's record came
 * first and counted it there. @return false if it cannot be kept.
 */
static bool
take_group(struct tw_journal *j, struct batch *b, const struct tw_jrec *r)
{
	uint32_t l = tw_jid_lcore(r->jid);
	uint64_t seq = r->jid & TW_JID_SEQ_MASK, segno;

	if (l >= TW_MAX_LCORES)
		return false;
	if (seq > j->taken[l])
		j->taken[l] = seq;
	if (!tw_jmap_get(&j->map, r->jid, &segno)) {
		if (tw_jmap_put(&j->map, r->jid, j->segno) != 0)
			return false; /* never ACKed unless a later record of its lane passes */
		j->segs[j->n_segs - 1].live++;
		j->segs[j->n_segs - 1].groups++;
	}
	if (b->lo[l] == 0)
		b->lo[l] = seq;
	b->hi[l] = seq;
	b->n_tasks++;
	return true;
}

/*
 * A member's result for an open group: written (its group's first
 * segment keeps every later one). One whose GROUP record (this run,
 * another lane) is not taken yet counts the group in the current segment
 * in its place; one of a group that ended is not written.
 */
static bool
take_group_member(struct tw_journal *j, const struct tw_jrec *r)
{
	uint32_t l = tw_jid_lcore(r->jid);
	uint64_t segno;

	if (tw_jmap_get(&j->map, r->jid, &segno))
		return true;
	if (tw_jid_epoch(r->jid) != j->epoch || l >= TW_MAX_LCORES ||
	    (r->jid & TW_JID_SEQ_MASK) <= j->taken[l])
		return false;
	if (tw_jmap_put(&j->map, r->jid, j->segno) != 0)
		return false;
	j->segs[j->n_segs - 1].live++;
	j->segs[j->n_segs - 1].groups++;
	return true;
}

/* Copy one record into the batch; the map learns where a TASK lives. */
static void
take_record(struct tw_journal *j, struct batch *b, struct tw_jrec *r)
{
	uint64_t segno;

	if (r->type == TW_JREC_TASK) {
		uint32_t l = tw_jid_lcore(r->jid);
		uint64_t seq = r->jid & TW_JID_SEQ_MASK;
		bool copied;

		if (l >= TW_MAX_LCORES)
			return;
		if (seq > j->taken[l])
			j->taken[l] = seq;
		/* a DELIVERED copy came first (its lane was read before this
		 * one's) and is written: it stands for this record, which is
		 * not written (recovery would take its older count); its
		 * confirm waits for this batch like any other */
		copied = tw_jmap_get(&j->map, r->jid, &segno);
		if (!copied) {
			if (tw_jmap_put(&j->map, r->jid, j->segno) != 0)
				return; /* never ACKed: its lane's watermark skips it only if a later one passes */
			j->segs[j->n_segs - 1].live++;
		}
		if (b->lo[l] == 0)
			b->lo[l] = seq;
		b->hi[l] = seq;
		b->n_tasks++;
		if (unlikely(copied))
			return;
	} else if (r->type == TW_JREC_DELIVERED) {
		if (!take_delivered(j, r))
			return;
		b->n_delivered++;
	} else if (r->type == TW_JREC_DONE) {
		if (take_done(j, b, r) < 0)
			pending_add(j, r->jid, false, r->flags);
		return;
	} else if (r->type == TW_JREC_GROUP) {
		if (!take_group(j, b, r))
			return;
	} else if (r->type == TW_JREC_GROUP_MEMBER) {
		if (!take_group_member(j, r))
			return;
	}
	append(j, b, r);
}

/* One round over the lanes. @return records taken. */
/* the lcore has not applied its last failed range yet: its records wait */
static bool
lane_waits(const struct tw_journal *j, uint32_t l)
{
	return !j->stop && __atomic_load_n(&j->js->failed_hi[l], __ATOMIC_RELAXED) !=
				   __atomic_load_n(&j->lane[l]->fail_seen, __ATOMIC_ACQUIRE);
}

/*
 * Take records m[0..n) of lane l in order while they fit the batch; the
 * rest is carried to the next batch. @return how many were taken.
 */
static uint32_t
take_fitting(struct tw_journal *j, struct batch *b, struct rte_mbuf **m, uint32_t n, uint32_t l)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		struct tw_jrec *r = rte_pktmbuf_mtod(m[i], struct tw_jrec *);

		if (b->len + r->len > j->buf_cap)
			break;
		take_record(j, b, r);
		rte_pktmbuf_free(m[i]);
	}
	if (i < n && m != j->carry + j->carry_pos) {
		memcpy(j->carry, m + i, sizeof(*m) * (n - i));
		j->carry_pos = 0;
		j->n_carry = n - i;
		j->carry_lane = l;
	}
	return i;
}

static uint32_t
gather(struct tw_journal *j, struct batch *b)
{
	struct rte_mbuf *m[RTE_DIM(j->carry)];
	uint32_t got = gather_dropped(j, b);

	/* what the last batch had no room for goes first */
	if (j->n_carry != 0) {
		if (lane_waits(j, j->carry_lane))
			return got;
		uint32_t carried = take_fitting(j, b, j->carry + j->carry_pos,
						j->n_carry - j->carry_pos, j->carry_lane);

		got += carried;
		j->carry_pos += carried;
		if (j->carry_pos < j->n_carry)
			return got;
		j->n_carry = j->carry_pos = 0;
	}
	for (uint32_t l = 0; l < TW_MAX_LCORES; l++) {
		unsigned n;

		if (j->lane[l] == NULL || lane_waits(j, l))
			continue;
		/* ordinary records always fit; a large one may not (carried) */
		if (b->len + RTE_DIM(m) * TW_JREC_MAX > j->buf_cap)
			break;
		n = rte_ring_sc_dequeue_burst(j->lane[l]->ring, (void **)m, RTE_DIM(m), NULL);
		got += take_fitting(j, b, m, n, l);
		if (j->n_carry != 0)
			break;
	}
	return got;
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The batch did not reach the disk: undo what the map learnt, publish the lost seqs. */
static void
batch_failed(struct tw_journal *j, struct batch *b, int err)
{
	/* DELIVERED copies first, newest first: each jid back where it was */
	for (uint32_t i = j->n_moves; i-- > 0;) {
		const struct tw_jmove *mv = &j->moves[i];
		uint64_t segno;
		struct tw_jseg *s;

		if (!tw_jmap_take(&j->map, mv->jid, &segno))
			continue; /* ended in this batch too */
		s = tw_jseg_find(j, segno);
		if (s != NULL && s->live > 0)
			s->live--;
		if (mv->from == 0)
			continue;
		s = tw_jseg_find(j, mv->from);
		if (tw_jmap_put(&j->map, mv->jid, mv->from) == 0 && s != NULL)
			s->live++;
	}
	j->n_moves = 0;
	for (size_t off = 0; off < b->len;) {
		const struct tw_jrec *r = (const struct tw_jrec *)(j->buf + off);
		uint64_t segno;

		if ((r->type == TW_JREC_TASK || r->type == TW_JREC_GROUP) &&
		    tw_jmap_take(&j->map, r->jid, &segno)) {
			struct tw_jseg *s = tw_jseg_find(j, segno);

			if (s != NULL && s->live > 0)
				s->live--;
			if (r->type == TW_JREC_GROUP)
				tw_jseg_group_ended(j, segno);
		}
		off += r->len;
	}
	/*
	 * Cut what may have reached the file: the next batch is written at
	 * seg_off again (pwrite). If the cut fails, the rest of a record of
	 * this batch could sit after the next one's end, between records to
	 * a later start: the next batch goes to a new segment (after_commit).
	 */
	if (ftruncate(j->fd, (off_t)j->seg_off) != 0)
		j->seg_uncut = true;
	for (uint32_t l = 0; l < TW_MAX_LCORES; l++) {
		if (b->hi[l] == 0)
			continue;
		__atomic_store_n(&j->js->failed_lo[l], b->lo[l], __ATOMIC_RELAXED);
		__atomic_store_n(&j->js->failed_hi[l], b->hi[l], __ATOMIC_RELEASE);
	}
	if (!__atomic_load_n(&j->js->failing, __ATOMIC_RELAXED))
		TW_LOG(ERR, "journal: write to segment %016" PRIx64 " failed: %s; durable tasks "
		       "are refused (NACK no-resources) until a write succeeds", j->segno,
		       strerror(err));
	__atomic_store_n(&j->js->failing, 1, __ATOMIC_RELEASE);
	jc_add(j, TW_JC_write_errors, 1);
	jc_add(j, TW_JC_records_failed, b->n_tasks);
	/* dropped tasks whose DONE did not reach the disk: tw-control says so */
	if (b->n_dropped != 0)
		__atomic_fetch_add(&j->js->done_failed, b->n_dropped, __ATOMIC_RELEASE);
}

/* write() the batch, fdatasync(), publish the watermarks. */
static void
commit(struct tw_journal *j, struct batch *b)
{
	size_t done = 0;
	uint64_t t0, us;

	if (unlikely(j->seg_uncut)) {
		/* no new segment could be started after a failed cut: nothing goes here */
		batch_failed(j, b, EIO);
		return;
	}
	while (done < b->len) {
		/* at the segment's end as synced: a failed batch moved no offset */
		ssize_t n = pwrite(j->fd, j->buf + done, b->len - done, (off_t)(j->seg_off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			batch_failed(j, b, n < 0 ? errno : ENOSPC);
			return;
		}
		done += (size_t)n;
	}
	t0 = now_us();
	if (fdatasync(j->fd) != 0) {
		batch_failed(j, b, errno);
		return;
	}
	us = now_us() - t0;
	j->seg_off += b->len;
	for (uint32_t l = 0; l < TW_MAX_LCORES; l++)
		if (b->hi[l] != 0)
			/* release: the lcore that sees it may send the ACKs up to it */
			__atomic_store_n(&j->js->synced[l], b->hi[l], __ATOMIC_RELEASE);
	if (__atomic_load_n(&j->js->failing, __ATOMIC_RELAXED)) {
		TW_LOG(NOTICE, "journal: writes succeed again; durable tasks taken");
		__atomic_store_n(&j->js->failing, 0, __ATOMIC_RELEASE);
	}
	jc_add(j, TW_JC_records, b->n_records);
	jc_add(j, TW_JC_delivered, b->n_delivered);
	jc_add(j, TW_JC_dropped, b->n_dropped);
	if (b->n_dropped != 0) /* release: after the sync */
		__atomic_fetch_add(&j->js->done_synced, b->n_dropped, __ATOMIC_RELEASE);
	jc_add(j, TW_JC_bytes, b->len);
	jc_add(j, TW_JC_syncs, 1);
	jc_set(j, TW_JC_sync_us_last, us);
	if (us > j->js->c[TW_JC_sync_us_max])
		jc_set(j, TW_JC_sync_us_max, us);
}

/* Segments (not the current one) with nothing outstanding go. */
static void
remove_finished_segments(struct tw_journal *j)
{
	uint32_t k = 0;
	bool removed = false;
	uint64_t pin = UINT64_MAX; /* the first segment holding an open group */

	for (uint32_t i = 0; i < j->n_segs; i++)
		if (j->segs[i].groups != 0 && j->segs[i].segno < pin)
			pin = j->segs[i].segno;
	for (uint32_t i = 0; i < j->n_segs; i++) {
		if (j->segs[i].live == 0 && j->segs[i].segno != j->segno && j->segs[i].segno < pin) {
			char name[64];

			tw_jseg_name(name, sizeof(name), j->segs[i].segno);
			if (unlinkat(j->dir_fd, name, 0) == 0 || errno == ENOENT) {
				removed = true;
				jc_add(j, TW_JC_segments_removed, 1);
				continue;
			}
		}
		j->segs[k++] = j->segs[i];
	}
	j->n_segs = k;
	if (removed)
		fsync(j->dir_fd);
	jc_set(j, TW_JC_segments, j->n_segs);
}

static void
after_commit(struct tw_journal *j)
{
	/* before the next batch is gathered: its records are mapped to the new segment */
	if (unlikely(j->seg_uncut) && tw_jseg_open_next(j, j->segno + 1) == 0)
		j->seg_uncut = false;
	if (j->seg_off >= j->seg_bytes && !__atomic_load_n(&j->js->failing, __ATOMIC_RELAXED)) {
		int ret = tw_jseg_open_next(j, j->segno + 1);

		if (ret != 0)
			TW_LOG(WARNING, "journal: cannot start segment %016" PRIx64 ": %s (segment %016"
			       PRIx64 " grows on)", j->segno + 1, strerror(-ret), j->segno);
	}
	remove_finished_segments(j);
	jc_set(j, TW_JC_outstanding, j->map.n);
}

/* A failing disk is tried again with a record that means nothing. */
static void
probe(struct tw_journal *j, struct batch *b)
{
	struct tw_jrec r = { .len = TW_JREC_HDR, .type = TW_JREC_NOOP };

	r.crc = tw_jrec_crc(&r);
	memcpy(j->buf + b->len, &r, sizeof(r));
	b->len += sizeof(r);
	b->n_records++;
}

static void *
writer_main(void *arg)
{
	struct tw_journal *j = arg;
	uint64_t next_probe = 0;

	for (;;) {
		bool stopping = __atomic_load_n(&j->stop, __ATOMIC_ACQUIRE);
		struct batch b;
		uint64_t first = 0;

		b.len = 0;
		b.n_tasks = b.n_records = b.n_delivered = b.n_dropped = 0;
		j->n_moves = 0;
		memset(b.lo, 0, sizeof(b.lo));
		memset(b.hi, 0, sizeof(b.hi));
		/* a batch closes at its size bound, or commit_us after its first record */
		for (;;) {
			uint32_t got = gather(j, &b);

			if (got != 0 && first == 0)
				first = now_us();
			if (first == 0 || b.len >= j->batch_bytes ||
			    b.len + 64 * TW_JREC_MAX > j->buf_cap)
				break;
			if (now_us() - first >= j->commit_us)
				break;
			if (got == 0)
				usleep(j->commit_us > 40 ? 20 : 5);
		}
		if (b.len == 0 && __atomic_load_n(&j->js->failing, __ATOMIC_RELAXED) &&
		    now_us() >= next_probe) {
			probe(j, &b);
			next_probe = now_us() + 200000;
		}
		if (b.len != 0) {
			commit(j, &b);
			after_commit(j);
			continue;
		}
		if (stopping)
			break;
		usleep(50);
	}
	return NULL;
}

/* ---- start and stop ---- */

static int
open_data_dir(struct tw_journal *j, const char *dir)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		TW_LOG(ERR, "journal: cannot create data directory %s: %s", dir, strerror(errno));
		return -1;
	}
	j->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dir_fd < 0) {
		TW_LOG(ERR, "journal: cannot open data directory %s: %s", dir, strerror(errno));
		return -1;
	}
	/* two engines on one journal would each cut the other's records */
	j->lock_fd = openat(j->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lock_fd < 0 || flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		TW_LOG(ERR, "journal: data directory %s is in use by another tw-dataplane (%s)", dir,
		       strerror(errno));
		return -1;
	}
	return 0;
}

static struct tw_journal the_journal;

int
tw_journal_start(struct tw_engine *e)
{
	struct tw_journal *j = &the_journal;
	struct tw_shared *s = e->shared;
	bool recovered_given = false;
	int ret;

	if (e->cfg.data_dir == NULL)
		return 0;
	memset(j, 0, sizeof(*j));
	j->fd = -1;
	j->dir_fd = -1;
	j->lock_fd = -1;
	j->js = &s->journal;
	j->batch_bytes = e->cfg.journal_batch_kb << 10;
	j->commit_us = e->cfg.journal_commit_us;
	j->seg_bytes = e->cfg.journal_segment_mb << 20;
	/* a batch of ordinary records, or one record of the largest task */
	j->buf_cap = j->batch_bytes + 128 * TW_JREC_MAX +
		     tw_jrec_len(TW_NAME_MAX_JREC, (uint32_t)e->cfg.max_frame);
	j->buf = malloc(j->buf_cap);
	if (j->buf == NULL)
		return -1;
	snprintf(s->journal.data_dir, sizeof(s->journal.data_dir), "%s", e->cfg.data_dir);
	if (open_data_dir(j, e->cfg.data_dir) != 0)
		return -1;
	if (tw_journal_recover(j, e) != 0)
		return -1;
	/* tw-control's dropped tasks (its purges, deletes): MP, it may be any of its threads */
	j->dropped = rte_ring_create(TW_JOURNAL_DONE_RING, TW_JOURNAL_DONE_RING_SIZE, SOCKET_ID_ANY,
				     RING_F_SC_DEQ);
	if (j->dropped == NULL) {
		TW_LOG(ERR, "journal: ring %s: %s", TW_JOURNAL_DONE_RING, rte_strerror(rte_errno));
		return -1;
	}
	for (uint32_t i = 1; i < e->n_plan; i++) {
		uint32_t l = e->plan[i].qsbr_id;
		struct tw_journal_lcore *jl;
		char name[RTE_RING_NAMESIZE];

		jl = rte_zmalloc("tw_journal_lane", sizeof(*jl), RTE_CACHE_LINE_SIZE);
		if (jl == NULL)
			return -1;
		snprintf(name, sizeof(name), "tw_jr%u", l);
		jl->ring = rte_ring_create(name, TW_JOURNAL_RING, SOCKET_ID_ANY,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (jl->ring == NULL) {
			TW_LOG(ERR, "journal: ring: %s", rte_strerror(rte_errno));
			return -1;
		}
		jl->synced = &s->journal.synced[l];
		jl->failed_lo = &s->journal.failed_lo[l];
		jl->failed_hi = &s->journal.failed_hi[l];
		jl->failing = &s->journal.failing;
		jl->jid_base = tw_jid_make(j->epoch, l, 0);
		if ((j->recovered != NULL || j->n_resume != 0) && !recovered_given &&
		    (e->plan[i].role == TW_ROLE_IO || e->plan[i].role == TW_ROLE_RTC)) {
			/* one io lcore queues them all: journal order is kept */
			jl->recovered = j->recovered;
			jl->resume = j->n_resume != 0 ? j->resume : NULL;
			jl->n_resume = j->n_resume;
			jl->recovered_deadline =
				rte_rdtsc() + e->cfg.journal_control_wait_s * rte_get_tsc_hz();
			recovered_given = true;
		}
		j->lane[l] = jl;
		j->n_lanes++;
	}
	ret = rte_ctrl_thread_create(&j->thread, "tw-journal", NULL, writer_main, j);
	if (ret != 0) {
		TW_LOG(ERR, "journal: writer thread: %s", strerror(ret));
		return -1;
	}
	j->running = true;
	e->journal = j;
	/* release: tw-control's broker may take durable queues from now on */
	__atomic_store_n(&s->journal.enabled, 1, __ATOMIC_RELEASE);
	TW_LOG(INFO, "journal: %s, segment %016" PRIx64 ", epoch %" PRIu64 ", commit %" PRIu64
	       " us / %" PRIu64 " KB", e->cfg.data_dir, j->segno, j->epoch, j->commit_us,
	       e->cfg.journal_batch_kb);
	return 0;
}

struct tw_journal_lcore *
tw_journal_lcore_get(struct tw_engine *e, uint32_t qsbr_id)
{
	return e->journal != NULL && qsbr_id < TW_MAX_LCORES ? e->journal->lane[qsbr_id] : NULL;
}

void
tw_journal_stop(struct tw_engine *e)
{
	struct tw_journal *j = e->journal;

	if (j == NULL || !j->running)
		return;
	__atomic_store_n(&j->stop, true, __ATOMIC_RELEASE);
	pthread_join(j->thread, NULL);
	j->running = false;
	if (j->fd >= 0)
		close(j->fd);
	TW_LOG(INFO, "journal: stopped; %" PRIu64 " durable tasks outstanding in %u segments",
	       j->map.n, j->n_segs);
	tw_jmap_free(&j->map);
	/* tasks not queued yet (no tw-control came) stay in the journal */
	rte_ring_free(j->recovered);
	j->recovered = NULL;
	for (uint32_t i = 0; i < j->n_resume; i++)
		free(j->resume[i].emit);
	free(j->resume);
	j->resume = NULL;
	j->n_resume = 0;
	free(j->segs);
	free(j->moves);
	free(j->pending);
	rte_ring_free(j->dropped);
	j->dropped = NULL;
	free(j->buf);
	close(j->lock_fd);
	close(j->dir_fd);
	e->journal = NULL;
}
