/*
 * Channels to tw-control (see tw_ctlchan.h). Records travel as a Frame of
 * Result messages in an mbuf, the same encoding as replies, so tw-control
 * decodes them with protobuf-c; one mbuf carries a pass's worth.
 */
#include <string.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "tw_ctlchan.h"
#include "tw_frag_tx.h"
#include "tw_reasm.h"
#include "tw_task.h"

static bool
records_start(struct tw_lcore_ctx *ctx)
{
	struct tw_records_out *o = &ctx->rec;

	o->m = rte_pktmbuf_alloc(ctx->mbuf_pool);
	if (o->m == NULL)
		return false;
	tw_wbuf_init(&o->w, rte_pktmbuf_mtod(o->m, uint8_t *), rte_pktmbuf_tailroom(o->m));
	tw_wire_put_header(&o->w, 0);
	o->n = 0;
	return true;
}

void
tw_records_flush(struct tw_lcore_ctx *ctx)
{
	struct tw_records_out *o = &ctx->rec;

	if (o->m == NULL)
		return;
	o->m->data_len = (uint16_t)o->w.len;
	o->m->pkt_len = o->w.len;
	/* Hand-off: after the enqueue tw-control owns the mbuf. */
	if (rte_ring_sp_enqueue(ctx->records, o->m) != 0) {
		tw_cnt_add(ctx, TW_CNT_records_lost, o->n);
		rte_pktmbuf_free(o->m);
	} else {
		tw_cnt_add(ctx, TW_CNT_records_sent, o->n);
	}
	o->m = NULL;
}

/*
 * One record too large for an mbuf of the packet pool: in a large buffer
 * (tw_reasm.h) of its own, handed to tw-control like any record frame
 * (it reads a record frame by pkt_len and frees it to its pool).
 */
static void
put_large(struct tw_lcore_ctx *ctx, const struct tw_wire_result *r, uint32_t need)
{
	uint32_t charge, len = need + TW_FRAG_TX_HEADER;
	struct rte_mbuf *m = ctx->big != NULL ? tw_bigbuf_alloc(ctx->big, len, &charge) : NULL;
	struct tw_wbuf w;

	if (m == NULL) {
		tw_cnt_add(ctx, TW_CNT_records_lost, 1);
		return;
	}
	tw_wbuf_init(&w, rte_pktmbuf_mtod(m, uint8_t *), len);
	tw_wire_put_header(&w, 0);
	tw_wire_put_record(&w, r);
	m->pkt_len = w.len;
	m->data_len = (uint16_t)RTE_MIN(w.len, (uint32_t)UINT16_MAX);
	/* Hand-off: after the enqueue tw-control owns the mbuf. */
	if (w.overflow || rte_ring_sp_enqueue(ctx->records, m) != 0) {
		tw_cnt_add(ctx, TW_CNT_records_lost, 1);
		rte_pktmbuf_free(m);
		return;
	}
	tw_cnt_add(ctx, TW_CNT_records_sent, 1);
}

void
tw_records_put(struct tw_lcore_ctx *ctx, const struct tw_wire_result *r)
{
	struct tw_records_out *o = &ctx->rec;
	struct tw_wire_result named;
	uint32_t need;

	if (unlikely(ctx->rc_worker != NULL) && r->worker_len == 0) {
		/* a remote consumer's run: its events name it */
		named = *r;
		named.worker = ctx->rc_worker;
		named.worker_len = ctx->rc_worker_len;
		r = &named;
	}
	need = tw_wire_record_size(r);
	if (!tw_ctl_attached(ctx)) {
		tw_cnt_add(ctx, TW_CNT_records_lost, 1);
		return;
	}
	if (o->m != NULL && o->w.len + need > o->w.cap)
		tw_records_flush(ctx);
	if (o->m == NULL && !records_start(ctx)) {
		tw_cnt_add(ctx, TW_CNT_records_lost, 1);
		return;
	}
	if (o->w.len + need > o->w.cap) {
		/* larger than an empty mbuf (a large result): a frame of its own */
		put_large(ctx, r, need);
		return;
	}
	tw_wire_put_record(&o->w, r);
	o->n++;
}

void
tw_record_queue(const struct tw_lcore_ctx *ctx, struct tw_wire_result *rec, uint16_t slot)
{
	const struct tw_queue_slot *qs;

	if (!tw_events_on(ctx))
		return;
	/* acquire: published complete by tw-control; freed only after a grace
	 * period, which this lcore's current pass holds back */
	qs = __atomic_load_n(&ctx->shared->queues[slot], __ATOMIC_ACQUIRE);
	if (qs == NULL)
		return; /* deleted meanwhile */
	rec->queue = qs->name;
	rec->queue_len = (uint32_t)strnlen(rec->queue, TW_NAME_MAX - 1);
}

void
tw_event_task(struct tw_lcore_ctx *ctx, const struct tw_task *t, uint32_t state, const char *error)
{
	struct tw_wire_result rec = {
		.task_id = t->id, .state = state, .name = t->name, .name_len = t->name_len,
		.retries = t->retries, .event_only = true, .error = error,
		.error_len = error != NULL ? (uint32_t)strlen(error) : 0,
		/* so that a follower of a group or workflow sees its steps start */
		.root_id = t->root_id, .parent_id = t->parent_id, .group_id = t->group_id,
		.group_index = t->group_index,
	};

	tw_record_queue(ctx, &rec, t->queue_slot);
	tw_records_put(ctx, &rec);
}

bool
tw_sched_hand_off(struct tw_lcore_ctx *ctx, struct tw_task *t)
{
	if (!tw_ctl_attached(ctx))
		return false;
	/* Hand-off: after the enqueue tw-control owns t and its frame reference. */
	return rte_ring_sp_enqueue(ctx->sched, t) == 0;
}
