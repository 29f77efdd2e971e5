/*
 * Workflows: see tw_workflow.h. Runs on polling lcores; the group table
 * is shared by all of them and changed only with atomics.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "tw_ctlchan.h"
#include "tw_drop.h"
#include "tw_id_mix.h"
#include "tw_inject.h"
#include "tw_reasm.h"
#include "tw_reply.h"
#include "tw_route.h"
#include "tw_task.h"
#include "tw_wire_priv.h"
#include "tw_wire_workflow.h"
#include "tw_workflow.h"

#define TABLE_SIZE (2u * TW_WF_MAX_GROUPS) /* power of two: half full at most */
#define MAX_PROBE 64u
#define ID_TOMB UINT64_MAX                 /* a removed group: probing goes on */
#define ID_BUSY (UINT64_MAX - 1)           /* a slot being filled */
#define RECORD_VALUE_MAX 1024u             /* a group's results list kept in its record */
#define MSG_MAX 256
#define LIST_SMALL 2048u                   /* a results list this short is written on the stack */

struct group {
	uint64_t id;
	uint64_t root_id;
	uint64_t parent_id;
	uint64_t outer_group;          /* the group this one is a member of (in_outer) */
	uint32_t outer_index;
	bool in_outer;
	bool notify;
	struct tw_peer peer;           /* the workflow's publisher */
	uint32_t key_id;               /* its authenticated key: members must carry it (0: by address) */
	uint64_t expires_ms;           /* unix ms: failed and freed if not finished by then */
	struct charge *charged;        /* the publisher's memory account, bytes charged to it */
	uint64_t charged_bytes;
	uint32_t size;
	uint32_t cell;                 /* bytes of one member's result */
	uint32_t remaining;            /* members not final yet (atomic) */
	uint32_t failed;               /* set once by the first failing member (atomic) */
	uint32_t sig_len;
	uint8_t *sig;                  /* the group node's Task message: next, link, link_error */
	uint8_t *bits;                 /* done bit per member */
	uint8_t *cells;                /* size x (le32 length, cell bytes) */
	uint8_t *list;                 /* chord callback args too large for a frame */
	uint32_t list_len;
};

struct entry {
	uint64_t id;                   /* 0 empty, ID_TOMB, ID_BUSY, else a group id */
	struct group *g;
};

/*
 * Hugepage memory of open groups, charged to their publishers: by key
 * when frames are authenticated, else by source address (ports cost an
 * attacker nothing). One account per publisher, claimed once and kept;
 * when the table is full, the rest share one account (`others`), so a
 * flood of spoofed addresses cannot take more than one publisher's share.
 */
#define CHARGES 1024u
#define CHARGE_PROBE 16u

struct charge {
	uint64_t owner;                /* 0: free */
	uint64_t bytes;                /* atomic */
};

static struct charge *charges;
static struct charge others;
static uint64_t bytes_open;            /* all open groups (atomic) */
static uint32_t n_open;                /* open groups, the documented limit (atomic) */
static struct tw_wf_limits limits;

static struct entry *table;
static int table_socket;
/* Groups released but maybe still read by an lcore in its current pass
 * (a late duplicate member): freed after every lcore passed a quiescent
 * state (the engine's RCU, reported once per loop pass). */
static struct rte_rcu_qsbr_dq *graveyard;
/* Groups finished lately: a retransmitted member of one (its confirm was
 * lost) is confirmed again instead of refused as unknown. */
#define CLOSED_RING 4096u
static uint64_t closed[CLOSED_RING];
static uint32_t closed_next;

struct group;
static void group_free(struct group *g);

/* rte_rcu_qsbr_dq's callback: n released groups whose grace period ended. */
static void
bury(void *p, void *e, unsigned int n)
{
	struct group **gs = e;

	(void)p;
	for (unsigned int i = 0; i < n; i++)
		group_free(gs[i]);
}

int
tw_workflow_init(int socket, struct rte_rcu_qsbr *qsbr, const struct tw_wf_limits *lim)
{
	struct rte_rcu_qsbr_dq_parameters dq = {
		.name = "tw_wf_graveyard", .size = TW_WF_MAX_GROUPS, .esize = sizeof(void *),
		.trigger_reclaim_limit = TW_WF_MAX_GROUPS / 4, .max_reclaim_size = 64,
		.free_fn = bury, .v = qsbr,
	};

	table = rte_zmalloc_socket("tw_wf_groups", TABLE_SIZE * sizeof(*table), RTE_CACHE_LINE_SIZE,
				   socket);
	table_socket = socket;
	limits = *lim;
	charges = rte_zmalloc_socket("tw_wf_charges", CHARGES * sizeof(*charges),
				     RTE_CACHE_LINE_SIZE, socket);
	graveyard = rte_rcu_qsbr_dq_create(&dq);
	return table != NULL && charges != NULL && graveyard != NULL ? 0 : -ENOMEM;
}

void
tw_workflow_reclaim(void)
{
	/* all that is due: the memory of expired groups goes back to their
	 * publishers' accounts only here (4,096 frees at most, off the lcores) */
	if (graveyard != NULL)
		rte_rcu_qsbr_dq_reclaim(graveyard, TW_WF_MAX_GROUPS, NULL, NULL, NULL);
}

static inline uint32_t
slot_of(uint64_t id)
{
	return (uint32_t)tw_id_mix(id) & (TABLE_SIZE - 1);
}

static struct group *
lookup(uint64_t id)
{
	uint32_t h = slot_of(id);

	if (table == NULL || id == 0 || id >= ID_BUSY)
		return NULL;
	for (uint32_t i = 0; i < MAX_PROBE; i++) {
		struct entry *e = &table[(h + i) & (TABLE_SIZE - 1)];
		uint64_t v = __atomic_load_n(&e->id, __ATOMIC_ACQUIRE);

		if (v == id)
			return __atomic_load_n(&e->g, __ATOMIC_RELAXED);
		if (v == 0)
			return NULL;
	}
	return NULL;
}

static int
insert(struct group *g)
{
	uint32_t h = slot_of(g->id);

	for (uint32_t i = 0; i < MAX_PROBE; i++) {
		struct entry *e = &table[(h + i) & (TABLE_SIZE - 1)];
		uint64_t v = __atomic_load_n(&e->id, __ATOMIC_ACQUIRE);

		if (v != 0 && v != ID_TOMB)
			continue;
		if (!__atomic_compare_exchange_n(&e->id, &v, ID_BUSY, false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&e->g, g, __ATOMIC_RELAXED);
		/* release: the group's contents are visible before its id */
		__atomic_store_n(&e->id, g->id, __ATOMIC_RELEASE);
		return 0;
	}
	return -ENOSPC;
}

/* Remove g from the table and free it (its last user). */
static void
release(struct group *g)
{
	uint32_t h = slot_of(g->id);

	for (uint32_t i = 0; i < MAX_PROBE; i++) {
		struct entry *e = &table[(h + i) & (TABLE_SIZE - 1)];

		if (__atomic_load_n(&e->id, __ATOMIC_ACQUIRE) == g->id) {
			__atomic_store_n(&e->g, NULL, __ATOMIC_RELAXED);
			__atomic_store_n(&e->id, ID_TOMB, __ATOMIC_RELEASE);
			break;
		}
	}
	__atomic_store_n(&closed[__atomic_fetch_add(&closed_next, 1, __ATOMIC_RELAXED) %
				 CLOSED_RING],
			 g->id, __ATOMIC_RELAXED);
	/* another lcore may hold g from a lookup in its current pass */
	if (rte_rcu_qsbr_dq_enqueue(graveyard, &g) != 0)
		group_free(g); /* the graveyard is full: cannot happen with TW_WF_MAX_GROUPS */
}

/* The account of the publisher with this owner value (claimed on first use). */
static struct charge *
charge_of(uint64_t owner)
{
	uint32_t h = (uint32_t)tw_id_mix(owner) & (CHARGES - 1);

	for (uint32_t i = 0; i < CHARGE_PROBE; i++) {
		struct charge *c = &charges[(h + i) & (CHARGES - 1)];
		uint64_t v = __atomic_load_n(&c->owner, __ATOMIC_ACQUIRE);

		if (v == 0 && __atomic_compare_exchange_n(&c->owner, &v, owner, false,
							  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return c;
		if (v == owner)
			return c;
	}
	return &others;
}

/*
 * Take one open group of sz bytes from the limits: the count, all
 * groups' memory, the publisher's memory. @return NULL, or why not.
 */
static const char *
charge(struct charge *c, uint64_t sz)
{
	if (__atomic_add_fetch(&n_open, 1, __ATOMIC_RELAXED) > TW_WF_MAX_GROUPS) {
		__atomic_sub_fetch(&n_open, 1, __ATOMIC_RELAXED);
		return "too many groups open (4096)";
	}
	if (__atomic_add_fetch(&bytes_open, sz, __ATOMIC_RELAXED) > limits.memory) {
		__atomic_sub_fetch(&bytes_open, sz, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&n_open, 1, __ATOMIC_RELAXED);
		return "open groups hold all the memory the engine gives them (--group-memory-mb)";
	}
	if (__atomic_add_fetch(&c->bytes, sz, __ATOMIC_RELAXED) > limits.publisher_memory) {
		__atomic_sub_fetch(&c->bytes, sz, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&bytes_open, sz, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&n_open, 1, __ATOMIC_RELAXED);
		return "this publisher's open groups hold all the memory it may take "
		       "(--group-publisher-mb)";
	}
	return NULL;
}

static void
group_free(struct group *g)
{
	if (g->charged != NULL) {
		__atomic_sub_fetch(&g->charged->bytes, g->charged_bytes, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&bytes_open, g->charged_bytes, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&n_open, 1, __ATOMIC_RELAXED);
	}
	rte_free(g->list);
	rte_free(g);
}

/* --- steps: frames filled on this lcore, left in its stash for the route stage --- */

/*
 * The emitter: steps go into the lcore's open frame (ctx->wf_out), shared
 * by every step of the pass with the same publisher, and the frame joins
 * the stash (tw_route.h) when it is full, when a step for another
 * publisher comes, or when the loop's route stage closes it. Fewer,
 * fuller frames: one mbuf and one frame decode for many steps.
 */
struct emitter {
	struct tw_lcore_ctx *ctx;
	struct tw_peer peer;           /* the workflow's publisher: where its steps answer */
	/* why the last em_step() refused, for the FAILURE its caller records;
	 * short: the step may fit later (no buffer free, the stash full);
	 * too_large: it fits no frame at all */
	const char *why;
	bool short_of_room;
	bool too_large;
	char why_buf[128];
};

static inline bool
same_peer(const struct tw_peer *a, const struct tw_peer *b)
{
	return a->ip == b->ip && a->port == b->port && rte_is_same_ether_addr(&a->mac, &b->mac);
}

/*
 * Move the open frame, if it holds steps, to the stash. @return false if
 * the stash is full: the frame stays open with its steps (they are routed
 * once the stash has room), and the step that needed a new frame is
 * refused by its caller.
 */
static bool
out_finish(struct tw_lcore_ctx *ctx)
{
	struct tw_wf_out *o = &ctx->wf_out;
	struct tw_inject_peer peer = { .mac = o->peer.mac, .ip = o->peer.ip, .port = o->peer.port };

	if (o->m == NULL || o->n == 0)
		return true;
	if (tw_route_stash_room(ctx) == 0) {
		tw_cnt_add(ctx, TW_CNT_made_stash_full, 1);
		return false;
	}
	tw_inject_finish(o->m, &peer, &ctx->our_mac, ctx->our_ip, ctx->our_port, o->w.len);
	tw_route_stash(ctx, o->m);
	o->m = NULL;
	o->n = 0;
	return true;
}

void
tw_workflow_close_frame(struct tw_lcore_ctx *ctx)
{
	out_finish(ctx);
}

void
tw_workflow_discard_frame(struct tw_lcore_ctx *ctx)
{
	struct tw_wf_out *o = &ctx->wf_out;

	if (o->m == NULL)
		return;
	tw_drop_burst(ctx, TW_CNT_frames_released, &o->m, 1);
	o->m = NULL;
	o->n = 0;
}

static void
em_init(struct emitter *em, struct tw_lcore_ctx *ctx, const struct tw_peer *peer)
{
	em->ctx = ctx;
	em->peer = *peer;
	em->why = NULL;
	em->short_of_room = false;
	em->too_large = false;
}

static bool
em_refuse(struct emitter *em, const char *why, bool short_of_room)
{
	em->why = why;
	em->short_of_room = short_of_room;
	em->too_large = false;
	return false;
}

static bool
em_open(struct emitter *em)
{
	struct tw_wf_out *o = &em->ctx->wf_out;

	o->m = rte_pktmbuf_alloc(em->ctx->mbuf_pool);
	if (o->m == NULL)
		return false;
	tw_wbuf_init(&o->w, tw_inject_payload(o->m), tw_inject_room(o->m));
	tw_wire_put_header(&o->w, 0);
	o->n = 0;
	return true;
}

#define STASH_FULL "the lcore's stash of engine-made frames is full"

/*
 * The most frame bytes one step can take (a bound, not its size): the
 * frame's header, the step's tag and length, its signature, the ids it
 * gets, and its args (composed past all that first, then moved down).
 */
static uint64_t
step_bound(struct tw_str sig, const struct tw_task_view *sv, const struct tw_wf_fields *f)
{
	uint64_t args = f->has_args ? f->args_len
				    : (f->has_result ? (uint64_t)f->result_len + 8 : 0) + sv->args.len;

	return 32 + 1 + 5 + sig.len + 64 + 6 + args;
}

/*
 * A step too large for one packet buffer (kB of args, or a large result
 * passed on) goes alone into a frame of its own in a large buffer: the
 * preallocated pools publishers' fragmented frames are reassembled into,
 * so nothing is allocated here. None free is a refusal the caller turns
 * into the workflow's FAILURE (counted wf_big_refused).
 */
static bool
em_big_step(struct emitter *em, struct tw_str sig, const struct tw_task_view *sv,
	    const struct tw_wf_fields *f)
{
	struct tw_lcore_ctx *ctx = em->ctx;
	struct tw_inject_peer peer = { .mac = em->peer.mac, .ip = em->peer.ip,
				       .port = em->peer.port };
	uint64_t need = step_bound(sig, sv, f);
	struct rte_mbuf *m;
	struct tw_wbuf w;
	uint32_t room;

	if (ctx->big == NULL || need > ctx->big->max_frame) {
		snprintf(em->why_buf, sizeof(em->why_buf),
			 "a step of %" PRIu64 " bytes is over the largest frame (%u bytes, --max-frame)",
			 need, ctx->big != NULL ? ctx->big->max_frame : TW_INJECT_ROOM_MAX);
		em_refuse(em, em->why_buf, false);
		em->too_large = true;
		return false;
	}
	/* the steps before it go first; it takes a place of its own in the stash */
	if (!out_finish(ctx) || tw_route_stash_room(ctx) == 0)
		return em_refuse(em, STASH_FULL, true);
	m = tw_bigbuf_alloc(ctx->big, (uint32_t)need, &room);
	if (m == NULL) {
		tw_cnt_add(ctx, TW_CNT_wf_big_refused, 1);
		snprintf(em->why_buf, sizeof(em->why_buf),
			 "no large buffer free for a step of %" PRIu64 " bytes (--reasm-memory-mb)",
			 need);
		return em_refuse(em, em->why_buf, true);
	}
	tw_wbuf_init(&w, tw_bigbuf_payload(m), room);
	tw_wire_put_header(&w, 0);
	if (!tw_wf_put_step(&w, sig, sv, f)) {
		/* cannot happen within the bound; refused rather than trusted */
		rte_pktmbuf_free(m);
		return em_refuse(em, "the step did not fit its large buffer", false);
	}
	tw_inject_finish(m, &peer, &ctx->our_mac, ctx->our_ip, ctx->our_port, w.len);
	tw_route_stash(ctx, m);
	tw_cnt_add(ctx, TW_CNT_wf_steps, 1);
	tw_cnt_add(ctx, TW_CNT_wf_big_steps, 1);
	return true;
}

/*
 * Queue one step (signature sig with fields f): into the open frame, or
 * a large buffer of its own when it does not fit an empty one. Refused
 * (em->why says why) when no buffer is free, when the stash is full or
 * when it fits no frame. @return true if queued.
 */
static bool
em_step(struct emitter *em, struct tw_str sig, const struct tw_task_view *sv,
	const struct tw_wf_fields *f)
{
	struct tw_wf_out *o = &em->ctx->wf_out;

	/* a frame answers one publisher: another one's steps start a new frame */
	if (o->m != NULL && o->n != 0 && !same_peer(&o->peer, &em->peer) && !out_finish(em->ctx))
		return em_refuse(em, STASH_FULL, true);
	for (int attempt = 0; attempt < 2; attempt++) {
		uint32_t saved;

		if (o->m == NULL && !em_open(em))
			return em_refuse(em, "no packet buffer free", true);
		if (o->n == 0)
			o->peer = em->peer;
		saved = o->w.len;
		if (o->n < TW_FRAME_MAX_TASKS && tw_wf_put_step(&o->w, sig, sv, f)) {
			o->n++;
			tw_cnt_add(em->ctx, TW_CNT_wf_steps, 1);
			return true;
		}
		o->w.len = saved;
		o->w.overflow = false;
		if (o->n == 0)
			return em_big_step(em, sig, sv, f); /* alone in a frame and still too large */
		if (!out_finish(em->ctx))
			return em_refuse(em, STASH_FULL, true);
	}
	return em_refuse(em, "no packet buffer free", true);
}

/* --- records and replies --- */

static void
put_record(struct tw_lcore_ctx *ctx, const struct tw_wire_result *rec, const struct tw_peer *peer,
	   bool notify)
{
	if (notify && peer->port != 0)
		tw_reply_result(ctx, tw_reply_to(ctx, peer), rec->task_id, rec->state, rec->value,
				rec->value_len, rec->error, rec->error_len, 0);
	tw_records_put(ctx, rec);
}

/* A step that will never run (an earlier one failed): FAILURE in the store. */
static void
record_not_run(struct tw_lcore_ctx *ctx, const struct tw_task_view *v, uint64_t root,
	       const struct tw_peer *peer, uint64_t failed_id, const char *why, uint32_t why_len)
{
	char msg[MSG_MAX];
	int n;

	if (v->id == 0)
		return;
	n = snprintf(msg, sizeof(msg), "not run: step %016" PRIx64 " failed: %.*s", failed_id,
		     (int)why_len, why);
	put_record(ctx, &(struct tw_wire_result){
			.task_id = v->id, .state = TW_ST_FAILURE, .error = msg,
			.error_len = (uint32_t)RTE_MIN(n, (int)sizeof(msg) - 1),
			.name = v->group_size != 0 ? (v->next.len != 0 ? "chord" : "group")
						   : (const char *)v->name.p,
			.name_len = v->group_size != 0 ? 5 : v->name.len,
			.root_id = root, .group_size = v->group_size },
		   peer, v->notify);
}

/* Fire the link_error callbacks of v with the failure of failed_id. */
static void
fire_errbacks(struct emitter *em, const struct tw_task_view *v, uint64_t root, uint64_t failed_id,
	      const char *why, uint32_t why_len)
{
	uint8_t arg[MSG_MAX + 64];
	uint32_t n;
	struct tw_str rest = v->link_errors, sig;

	if (v->n_link_errors == 0)
		return;
	n = tw_wf_error_arg(arg, sizeof(arg), failed_id, why, RTE_MIN(why_len, (uint32_t)MSG_MAX));
	if (n == UINT32_MAX)
		return;
	while (tw_wire_task_field_next(&rest, TW_TASK_F_LINK_ERROR, &sig)) {
		struct tw_task_view sv;
		struct tw_wf_fields f = { .id = tw_lcore_rand(em->ctx), .root_id = root,
					  .parent_id = failed_id, .has_result = true,
					  .result = arg, .result_len = n };

		if (tw_wire_decode_task_trusted(sig, &sv) == NULL && !em_step(em, sig, &sv, &f))
			tw_cnt_add(em->ctx, TW_CNT_wf_step_refused, 1);
	}
}

/*
 * failed_id failed (v is its view): its errbacks run, and every step
 * after it (its next chain, with their errbacks) is recorded as not run.
 */
static void
fail_after(struct tw_lcore_ctx *ctx, struct emitter *em, const struct tw_task_view *v,
	   uint64_t root, uint64_t failed_id, const char *why, uint32_t why_len)
{
	struct tw_str next = v->next;

	fire_errbacks(em, v, root, failed_id, why, why_len);
	for (uint32_t depth = 0; next.len != 0 && depth < TW_WF_MAX_DEPTH; depth++) {
		struct tw_task_view nv;

		if (tw_wire_decode_task_trusted(next, &nv) != NULL)
			break;
		record_not_run(ctx, &nv, root, &em->peer, failed_id, why, why_len);
		fire_errbacks(em, &nv, root, failed_id, why, why_len);
		next = nv.next;
	}
}

static void member_done(struct tw_lcore_ctx *ctx, uint64_t gid, uint32_t idx, bool ok,
			const uint8_t *value, uint32_t len, const char *error, uint32_t error_len);

/* The first member failure: the group fails as a whole, once. */
static void
fail_group(struct tw_lcore_ctx *ctx, struct group *g, const char *why, uint32_t why_len)
{
	struct tw_task_view gv;
	struct emitter em;

	tw_cnt_add(ctx, TW_CNT_wf_groups_failed, 1);
	if (tw_wire_decode_task_trusted((struct tw_str){ g->sig, g->sig_len }, &gv) != NULL)
		return;
	em_init(&em, ctx, &g->peer);
	put_record(ctx, &(struct tw_wire_result){
			.task_id = g->id, .state = TW_ST_FAILURE, .error = why, .error_len = why_len,
			.name = gv.next.len != 0 ? "chord" : "group", .name_len = 5,
			.root_id = g->root_id, .parent_id = g->parent_id, .group_size = g->size,
			.group_id = g->in_outer ? g->outer_group : 0, .group_index = g->outer_index },
		   &g->peer, g->notify);
	fail_after(ctx, &em, &gv, g->root_id, g->id, why, why_len);
	if (g->in_outer)
		member_done(ctx, g->outer_group, g->outer_index, false, NULL, 0, why, why_len);
}

/* The ordered results as a JSON list: [r0,r1,...], empty results as null. */
static uint32_t
list_size(const struct group *g)
{
	uint64_t n = 2;

	for (uint32_t i = 0; i < g->size; i++) {
		uint32_t len;

		memcpy(&len, g->cells + (uint64_t)i * (4 + g->cell), 4);
		n += (len != 0 ? len : 4) + (i != 0);
	}
	return n > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)n;
}

static uint32_t
list_write(const struct group *g, uint8_t *out)
{
	uint8_t *p = out;

	*p++ = '[';
	for (uint32_t i = 0; i < g->size; i++) {
		const uint8_t *c = g->cells + (uint64_t)i * (4 + g->cell);
		uint32_t len;

		memcpy(&len, c, 4);
		if (i != 0)
			*p++ = ',';
		if (len == 0) {
			memcpy(p, "null", 4);
			p += 4;
		} else {
			memcpy(p, c + 4, len);
			p += len;
		}
	}
	*p++ = ']';
	return (uint32_t)(p - out);
}

/* Every member succeeded: the callback, or the group's own result. */
static void
complete_group(struct tw_lcore_ctx *ctx, struct group *g)
{
	struct tw_task_view gv, nv;
	struct emitter em;
	uint32_t cap = list_size(g), len, room;
	uint8_t small[LIST_SMALL], *list = NULL, *heap = NULL;
	struct rte_mbuf *list_m = NULL;
	bool keep = false;
	char msg[MSG_MAX];
	int n;

	tw_cnt_add(ctx, TW_CNT_wf_groups_done, 1);
	if (tw_wire_decode_task_trusted((struct tw_str){ g->sig, g->sig_len }, &gv) != NULL)
		goto out;
	em_init(&em, ctx, &g->peer);
	/* where the list is written: the stack, a large buffer (preallocated),
	 * or, only for a list over the largest frame, the hugepage heap */
	if (cap <= sizeof(small)) {
		list = small;
	} else if (ctx->big != NULL && cap <= ctx->big->max_frame) {
		list_m = tw_bigbuf_alloc(ctx->big, cap, &room);
		if (list_m == NULL) {
			tw_cnt_add(ctx, TW_CNT_wf_big_refused, 1);
			n = snprintf(msg, sizeof(msg),
				     "no large buffer free for the results list of %u members "
				     "(%u bytes, --reasm-memory-mb)", g->size, cap);
			fail_group(ctx, g, msg, (uint32_t)RTE_MIN(n, (int)sizeof(msg) - 1));
			goto out;
		}
		list = tw_bigbuf_payload(list_m);
	} else {
		heap = rte_malloc_socket("tw_wf_list", cap, 0, table_socket);
		list = heap;
	}
	if (list == NULL) {
		n = snprintf(msg, sizeof(msg), "no memory for the results list of %u members",
			     g->size);
		fail_group(ctx, g, msg, (uint32_t)n);
		goto out;
	}
	len = list_write(g, list);
	/* success callbacks of the group itself get the list too */
	{
		struct tw_str rest = gv.links, sig;
		struct tw_task_view lv;

		while (tw_wire_task_field_next(&rest, TW_TASK_F_LINK, &sig)) {
			struct tw_wf_fields f = { .id = tw_lcore_rand(ctx), .root_id = g->root_id,
						  .parent_id = g->id, .has_result = true,
						  .result = list, .result_len = len };

			if (tw_wire_decode_task_trusted(sig, &lv) == NULL && !em_step(&em, sig, &lv, &f))
				tw_cnt_add(ctx, TW_CNT_wf_step_refused, 1);
		}
	}
	put_record(ctx, &(struct tw_wire_result){
			.task_id = g->id, .state = TW_ST_SUCCESS,
			.value = len <= RECORD_VALUE_MAX ? list : NULL,
			.value_len = len <= RECORD_VALUE_MAX ? len : 0,
			.name = gv.next.len != 0 ? "chord" : "group", .name_len = 5,
			.root_id = g->root_id, .parent_id = g->parent_id, .group_size = g->size,
			.group_id = g->in_outer ? g->outer_group : 0, .group_index = g->outer_index },
		   &g->peer, g->notify && gv.next.len == 0);
	if (gv.next.len == 0) {
		if (g->in_outer)
			member_done(ctx, g->outer_group, g->outer_index, true, list, len, NULL, 0);
		goto out;
	}
	/* a chord: its callback, fired once, by this (the last) member */
	if (tw_wire_decode_task_trusted(gv.next, &nv) != NULL)
		goto out;
	tw_cnt_add(ctx, TW_CNT_wf_callbacks, 1);
	{
		struct tw_wf_fields f = { .id = tw_lcore_rand(ctx), .root_id = g->root_id,
					  .parent_id = g->id, .set_group = g->in_outer,
					  .group_id = g->outer_group, .group_index = g->outer_index,
					  .has_result = true, .result = list, .result_len = len };

		if (em_step(&em, gv.next, &nv, &f)) {
			goto out;
		}
		/* over the largest frame: an in-engine callback can still read its
		 * args from this slot (the rare case left to the hugepage heap) */
		if (em.too_large && nv.group_size == 0 && !nv.immutable) {
			/* too large for a frame: the callback reads it from this slot */
			uint32_t ccap = len + nv.args.len + 8;

			g->list = rte_malloc_socket("tw_wf_args", ccap, 0, table_socket);
			if (g->list != NULL) {
				g->list_len = tw_wf_compose_args(g->list, ccap, list, len, nv.args.p,
								 nv.args.len);
				f.has_result = false;
				f.args_group = g->id;
				if (em_step(&em, gv.next, &nv, &f)) {
					keep = true;
					goto out;
				}
			}
		}
		n = snprintf(msg, sizeof(msg),
			     "the results of %u members (%u bytes) could not be passed to the callback: "
			     "%s", g->size, len, em.why != NULL ? em.why : "no memory for them");
		n = RTE_MIN(n, (int)sizeof(msg) - 1);
		tw_cnt_add(ctx, TW_CNT_wf_step_refused, 1);
		record_not_run(ctx, &nv, g->root_id, &g->peer, g->id, msg, (uint32_t)n);
		fail_after(ctx, &em, &nv, g->root_id, g->id, msg, (uint32_t)n);
		if (g->in_outer)
			member_done(ctx, g->outer_group, g->outer_index, false, NULL, 0, msg,
				    (uint32_t)n);
	}
out:
	rte_free(heap);
	rte_pktmbuf_free(list_m);
	if (!keep)
		release(g);
}

static void
member_done(struct tw_lcore_ctx *ctx, uint64_t gid, uint32_t idx, bool ok, const uint8_t *value,
	    uint32_t len, const char *error, uint32_t error_len)
{
	struct group *g = lookup(gid);
	uint8_t bit = (uint8_t)(1u << (idx & 7));
	char msg[MSG_MAX];
	int n;

	if (g == NULL || idx >= g->size) {
		tw_cnt_add(ctx, TW_CNT_wf_unknown_group, 1);
		return;
	}
	if (__atomic_fetch_or(&g->bits[idx >> 3], bit, __ATOMIC_ACQ_REL) & bit) {
		tw_cnt_add(ctx, TW_CNT_wf_member_repeats, 1);
		return;
	}
	if (ok && len > g->cell) {
		n = snprintf(msg, sizeof(msg),
			     "result of member %u is %u bytes, over the group's result cell of %u "
			     "bytes (result_cell)", idx, len, g->cell);
		ok = false;
		error = msg;
		error_len = (uint32_t)RTE_MIN(n, (int)sizeof(msg) - 1);
	}
	if (ok) {
		uint8_t *c = g->cells + (uint64_t)idx * (4 + g->cell);

		memcpy(c, &len, 4);
		if (len != 0) /* an empty result may come as NULL */
			memcpy(c + 4, value, len);
	} else {
		uint32_t zero = 0;

		if (__atomic_compare_exchange_n(&g->failed, &zero, 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			fail_group(ctx, g, error, error_len);
	}
	/* acq_rel: every member's cell is visible to the one that finishes */
	if (__atomic_sub_fetch(&g->remaining, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (__atomic_load_n(&g->failed, __ATOMIC_ACQUIRE) == 0)
		complete_group(ctx, g);
	else
		release(g);
}

/* --- entry points --- */

static bool
closed_lately(uint64_t id)
{
	for (uint32_t i = 0; i < CLOSED_RING; i++)
		if (__atomic_load_n(&closed[i], __ATOMIC_RELAXED) == id)
			return true;
	return false;
}

const char *
tw_workflow_member_check(const struct tw_task_view *tv, const struct tw_peer *from,
			 uint32_t key_id, bool *finished, bool *foreign)
{
	const struct group *g = lookup(tv->group_id);

	*finished = false;
	*foreign = false;
	if (g == NULL) {
		/* rare path: a linear look at the groups finished lately */
		*finished = closed_lately(tv->group_id);
		return "group not open (publish the group node first)";
	}
	if (tv->group_index >= g->size)
		return "group_index beyond the group's size";
	/* a member binds to its group's publisher: by key when the group was
	 * opened by an authenticated frame, else by address and port */
	if (from != NULL && (g->key_id != 0 ? key_id != g->key_id
					    : from->ip != g->peer.ip || from->port != g->peer.port)) {
		*foreign = true;
		return "the group belongs to another publisher";
	}
	return NULL;
}

const char *
tw_workflow_group_open(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv,
		       const struct tw_peer *peer, uint32_t key_id)
{
	uint32_t cell = tv->result_cell != 0 ? tv->result_cell : TW_WF_DEFAULT_CELL;
	uint64_t cells, sz, now_ms;
	struct charge *account;
	const char *why;
	struct group *g;
	struct emitter em;
	struct tw_str rest, sig;
	uint32_t i = 0;

	if (tv->id == 0 || tv->id >= ID_BUSY)
		return "group id 0 or reserved";
	if (tv->group_size > TW_WF_MAX_MEMBERS)
		return "group larger than the engine's limit (1,048,576 members)";
	if (tv->n_members != 0 && tv->n_members != tv->group_size)
		return "group_size differs from the members given inline";
	if (cell > TW_WF_MAX_CELL)
		return "result_cell over 4096 bytes";
	if (lookup(tv->id) != NULL)
		return NULL; /* a retransmitted node: open already */
	cells = (uint64_t)tv->group_size * (4 + cell);
	sz = sizeof(*g) + tv->raw.len + (tv->group_size + 7) / 8 + cells;
	account = charge_of(key_id != 0 ? (1ull << 63) | key_id : (1ull << 62) | peer->ip);
	why = charge(account, sz);
	if (why != NULL) {
		tw_cnt_add(ctx, TW_CNT_wf_groups_refused, 1);
		return why;
	}
	g = rte_zmalloc_socket("tw_wf_group", sz, RTE_CACHE_LINE_SIZE, table_socket);
	if (g == NULL) {
		__atomic_sub_fetch(&account->bytes, sz, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&bytes_open, sz, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&n_open, 1, __ATOMIC_RELAXED);
		tw_cnt_add(ctx, TW_CNT_wf_groups_refused, 1);
		return "no memory for the group (hugepages)";
	}
	g->charged = account;
	g->charged_bytes = sz;
	g->key_id = key_id;
	/* its own expires may shorten its life, or lengthen it up to the cap */
	now_ms = tw_unix_ms(ctx, rte_rdtsc());
	g->expires_ms = now_ms + limits.expires_ms;
	if (tv->expires_ms != 0)
		g->expires_ms = RTE_MIN(tv->expires_ms, now_ms + limits.expires_max_ms);
	g->id = tv->id;
	g->root_id = tv->root_id != 0 ? tv->root_id : tv->id;
	g->parent_id = tv->parent_id;
	g->in_outer = tv->group_id != 0;
	g->outer_group = tv->group_id;
	g->outer_index = tv->group_index;
	g->notify = tv->notify;
	g->peer = *peer;
	g->size = tv->group_size;
	g->cell = cell;
	g->remaining = tv->group_size;
	g->sig_len = tv->raw.len;
	g->sig = (uint8_t *)(g + 1);
	memcpy(g->sig, tv->raw.p, tv->raw.len);
	g->bits = g->sig + tv->raw.len;
	g->cells = g->bits + (tv->group_size + 7) / 8;
	if (insert(g) != 0) {
		group_free(g);
		tw_cnt_add(ctx, TW_CNT_wf_groups_refused, 1);
		return "too many groups open (4096)";
	}
	tw_cnt_add(ctx, TW_CNT_wf_groups_opened, 1);
	tw_records_put(ctx, &(struct tw_wire_result){
		.task_id = g->id, .state = TW_ST_STARTED,
		.name = tv->next.len != 0 ? "chord" : "group", .name_len = 5,
		.root_id = g->root_id, .parent_id = g->parent_id, .group_size = g->size,
		.group_id = g->outer_group, .group_index = g->outer_index });
	if (tv->n_members == 0)
		return NULL; /* members come on their own, with group_id and group_index */
	em_init(&em, ctx, peer);
	rest = tv->members;
	while (tw_wire_task_field_next(&rest, TW_TASK_F_MEMBERS, &sig)) {
		struct tw_task_view mv;
		struct tw_wf_fields f = { .id = tw_lcore_rand(ctx), .root_id = g->root_id,
					  .parent_id = g->parent_id, .set_group = true,
					  .group_id = g->id, .group_index = i,
					  .has_result = tv->args.len != 0, .result = tv->args.p,
					  .result_len = tv->args.len };

		if (tw_wire_decode_task_trusted(sig, &mv) != NULL || !em_step(&em, sig, &mv, &f)) {
			char why[MSG_MAX];
			int n = snprintf(why, sizeof(why), "member could not be published: %s",
					 em.why != NULL ? em.why : "its signature does not decode");

			tw_cnt_add(ctx, TW_CNT_wf_step_refused, 1);
			member_done(ctx, g->id, i, false, NULL, 0, why,
				    (uint32_t)RTE_MIN(n, (int)sizeof(why) - 1));
		}
		i++;
	}
	return NULL;
}

void
tw_workflow_task_done(struct tw_lcore_ctx *ctx, const struct tw_task *t, uint32_t state,
		      const uint8_t *value, uint32_t value_len, const char *error,
		      uint32_t error_len)
{
	struct tw_peer peer = { .mac = t->peer_mac, .ip = t->peer_ip, .port = t->peer_port };
	uint64_t root = t->root_id != 0 ? t->root_id : t->id;
	struct tw_task_view v;
	struct emitter em;

	if (t->args_group != 0) {
		/* a chord callback that read its args from its group's slot: done with it */
		struct group *g = lookup(t->args_group);

		if (g != NULL)
			release(g);
	}
	if (tw_wire_decode_task_trusted((struct tw_str){ t->raw, t->raw_len }, &v) != NULL)
		return;
	em_init(&em, ctx, &peer);
	if (state != TW_ST_SUCCESS) {
		fail_after(ctx, &em, &v, root, t->id, error, error_len);
		if (t->group_id != 0)
			member_done(ctx, t->group_id, t->group_index, false, NULL, 0, error,
				    error_len);
		return;
	}
	{
		struct tw_str rest = v.links, sig;
		struct tw_task_view lv;

		while (tw_wire_task_field_next(&rest, TW_TASK_F_LINK, &sig)) {
			struct tw_wf_fields f = { .id = tw_lcore_rand(ctx), .root_id = root,
						  .parent_id = t->id, .has_result = true,
						  .result = value, .result_len = value_len };

			if (tw_wire_decode_task_trusted(sig, &lv) == NULL && !em_step(&em, sig, &lv, &f))
				tw_cnt_add(ctx, TW_CNT_wf_step_refused, 1);
		}
	}
	if (v.next.len != 0) {
		struct tw_task_view nv;
		struct tw_wf_fields f = { .id = tw_lcore_rand(ctx), .root_id = root,
					  .parent_id = t->id, .set_group = t->group_id != 0,
					  .group_id = t->group_id, .group_index = t->group_index,
					  .has_result = true, .result = value,
					  .result_len = value_len };

		if (tw_wire_decode_task_trusted(v.next, &nv) == NULL && em_step(&em, v.next, &nv, &f)) {
			return;
		}
		{
			char why[MSG_MAX];
			uint32_t n = (uint32_t)RTE_MIN(
				snprintf(why, sizeof(why),
					 "the result (%u bytes) could not be passed to the next step: %s",
					 value_len, em.why != NULL ? em.why : "its signature does not decode"),
				(int)sizeof(why) - 1);

			tw_cnt_add(ctx, TW_CNT_wf_step_refused, 1);
			/* the step itself and everything after it never run */
			record_not_run(ctx, &nv, root, &peer, t->id, why, n);
			fail_after(ctx, &em, &nv, root, t->id, why, n);
			if (t->group_id != 0)
				member_done(ctx, t->group_id, t->group_index, false, NULL, 0, why, n);
		}
		return;
	}
	if (t->group_id != 0)
		member_done(ctx, t->group_id, t->group_index, true, value, value_len, NULL, 0);
}

void
tw_workflow_step_refused(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv,
			 const struct tw_peer *peer, const char *why)
{
	uint64_t root = tv->root_id != 0 ? tv->root_id : tv->id;
	uint32_t n = (uint32_t)strlen(why);
	struct emitter em;

	em_init(&em, ctx, peer);
	fail_after(ctx, &em, tv, root, tv->id, why, n);
	if (tv->group_id != 0)
		member_done(ctx, tv->group_id, tv->group_index, false, NULL, 0, why, n);
}

/* Copy each occurrence of a repeated signature field of v into w. */
static void
copy_sigs(struct tw_wbuf *w, struct tw_str span, uint32_t field)
{
	struct tw_str sig;

	while (tw_wire_task_field_next(&span, field, &sig))
		put_bytes(w, field, sig.p, sig.len);
}

int
tw_workflow_replace_group(struct tw_lcore_ctx *ctx, struct tw_task *t, const char *exchange,
			  const char *routing_key, const char *task, const uint8_t *const *args,
			  const uint32_t *args_len, uint32_t n)
{
	uint8_t node[TW_INJECT_ROOM_MAX], member[TW_INJECT_ROOM_MAX];
	struct tw_peer peer = { .mac = t->peer_mac, .ip = t->peer_ip, .port = t->peer_port };
	struct tw_wbuf w;
	struct tw_task_view v, nv;
	struct tw_wf_fields none = { 0 };
	struct emitter em;

	if (tw_wire_decode_task_trusted((struct tw_str){ t->raw, t->raw_len }, &v) != NULL)
		return -EINVAL;
	/* the group takes t's id: whoever waits for t (its publisher, the store,
	 * `twctl result`) gets the group's result and members under it */
	tw_wbuf_init(&w, node, sizeof(node));
	put_fixed64(&w, F_TASK_ID, t->id);
	put_fixed64(&w, F_TASK_ROOT_ID, t->root_id != 0 ? t->root_id : t->id);
	if (t->parent_id != 0)
		put_fixed64(&w, F_TASK_PARENT_ID, t->parent_id);
	if (t->group_id != 0) {
		put_fixed64(&w, F_TASK_GROUP_ID, t->group_id);
		put_tag(&w, F_TASK_GROUP_INDEX, WT_VARINT);
		put_varint(&w, t->group_index);
	}
	put_tag(&w, F_TASK_GROUP_SIZE, WT_VARINT);
	put_varint(&w, n);
	for (uint32_t i = 0; i < n; i++) {
		struct tw_wbuf mw;
		struct cursor c;
		struct tw_str body;
		uint32_t f;
		unsigned wt;

		/* tw_wire_put_task writes a frame's field 4: keep its body */
		tw_wbuf_init(&mw, member, sizeof(member));
		tw_wire_put_task(&mw, tw_lcore_rand(ctx), task, exchange, routing_key, args[i],
				 args_len[i], NULL);
		c = (struct cursor){ member, member + mw.len };
		if (mw.overflow || !get_tag(&c, &f, &wt) || !get_len(&c, &body))
			return -EMSGSIZE;
		put_bytes(&w, F_TASK_MEMBERS, body.p, body.len);
	}
	/* what was to follow t follows the group */
	if (v.next.len != 0)
		put_bytes(&w, F_TASK_NEXT, v.next.p, v.next.len);
	copy_sigs(&w, v.links, F_TASK_LINK);
	copy_sigs(&w, v.link_errors, F_TASK_LINK_ERROR);
	if (!t->wf || t->wf_notify) {
		put_tag(&w, F_TASK_NOTIFY, WT_VARINT);
		put_varint(&w, 1);
	}
	if (w.overflow || tw_wire_decode_task((struct tw_str){ node, w.len }, &nv) != NULL)
		return -EMSGSIZE;
	em_init(&em, ctx, &peer);
	if (!em_step(&em, (struct tw_str){ node, w.len }, &nv, &none)) {
		/* no buffer, or the stash full: "not now"; else too large for any frame */
		return em.short_of_room ? -ENOMEM : -EMSGSIZE;
	}
	t->wf_replaced = 1;
	return 0;
}

bool
tw_workflow_bind_args(struct tw_task *t)
{
	const struct group *g = lookup(t->args_group);

	if (g == NULL || g->list == NULL)
		return false;
	t->args = g->list;
	t->args_len = g->list_len;
	return true;
}

/*
 * g's expiry passed: the members that never came are taken at once, and
 * the group fails (unless a member failed it already) and is freed now.
 * Whoever takes `remaining` to zero ends the group: a member finishing at
 * the same moment either took it to zero before the exchange (then it
 * completes or frees the group, and this does nothing) or decrements past
 * zero after it (and stops there). A member still holding g from its
 * lookup reads memory freed only after its grace period (release()).
 */
static void
expire(struct tw_lcore_ctx *ctx, struct group *g)
{
	uint32_t zero = 0, left;
	char msg[MSG_MAX];
	int n;

	if (__atomic_load_n(&g->remaining, __ATOMIC_ACQUIRE) == 0)
		return; /* finishing, or a chord callback still reading its list from the slot */
	left = __atomic_exchange_n(&g->remaining, 0, __ATOMIC_ACQ_REL);
	if (left == 0)
		return;
	if (__atomic_compare_exchange_n(&g->failed, &zero, 1, false, __ATOMIC_ACQ_REL,
					__ATOMIC_RELAXED)) {
		n = snprintf(msg, sizeof(msg),
			     "group expired: %u of %u members not finished by its expiry "
			     "(tw-dataplane --group-expires-s, or the group's expires)", left,
			     g->size);
		fail_group(ctx, g, msg, (uint32_t)RTE_MIN(n, (int)sizeof(msg) - 1));
	}
	tw_cnt_add(ctx, TW_CNT_wf_groups_expired, 1);
	release(g);
}

void
tw_workflow_expire(struct tw_lcore_ctx *ctx)
{
	uint64_t now_ms;

	if (table == NULL || __atomic_load_n(&n_open, __ATOMIC_RELAXED) == 0)
		return;
	now_ms = tw_unix_ms(ctx, rte_rdtsc());
	/* bound: one pass over the table (8,192 entries, a few microseconds) */
	for (uint32_t i = 0; i < TABLE_SIZE; i++) {
		uint64_t id = __atomic_load_n(&table[i].id, __ATOMIC_ACQUIRE);
		struct group *g;

		if (id == 0 || id >= ID_BUSY)
			continue;
		g = __atomic_load_n(&table[i].g, __ATOMIC_RELAXED);
		if (g != NULL && g->expires_ms <= now_ms)
			expire(ctx, g);
	}
}
