/*
 * Workflows: see tw_workflow.h. What a step's end means for what follows
 * it (chains, callbacks, errbacks, a group's members and its completion,
 * expiry); the group table is tw_wf_group.c, the frames steps are written
 * into tw_wf_emit.c. Runs on polling lcores; groups change only with
 * atomics.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>

#include "tw_ctlchan.h"
#include "tw_inject.h"
#include "tw_journal.h"
#include "tw_reasm.h"
#include "tw_reply.h"
#include "tw_route.h"
#include "tw_task.h"
#include "tw_wf_emit.h"
#include "tw_wf_group.h"
#include "tw_wire_priv.h"
#include "tw_wire_workflow.h"
#include "tw_workflow.h"

#define RECORD_VALUE_MAX 1024u             /* a group's results list kept in its record */
#define MSG_MAX 256
#define LIST_SMALL 2048u                   /* a results list this short is written on the stack */

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
fire_errbacks(struct tw_wf_emitter *em, const struct tw_task_view *v, uint64_t root, uint64_t failed_id,
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

		if (tw_wire_decode_task_trusted(sig, &sv) == NULL && !tw_wf_em_step(em, sig, &sv, &f))
			tw_cnt_add(em->ctx, TW_CNT_wf_step_refused, 1);
	}
}

/*
 * failed_id failed (v is its view): its errbacks run, and every step
 * after it (its next chain, with their errbacks) is recorded as not run.
 */
static void
fail_after(struct tw_lcore_ctx *ctx, struct tw_wf_emitter *em, const struct tw_task_view *v,
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

/*
 * g finished (its callback is made, or it failed): a journaled group's
 * end to the journal, once, after the steps made now are routed.
 */
static void
group_closed(struct tw_lcore_ctx *ctx, struct tw_wf_group *g)
{
	uint64_t jid;

	if (likely(__atomic_load_n(&g->jid, __ATOMIC_RELAXED) == 0))
		return;
	jid = __atomic_exchange_n(&g->jid, 0, __ATOMIC_RELAXED);
	if (jid != 0)
		tw_journal_group_done(ctx, jid, g->id);
}

/* The first member failure: the group fails as a whole, once. */
static void
fail_group(struct tw_lcore_ctx *ctx, struct tw_wf_group *g, const char *why, uint32_t why_len)
{
	struct tw_task_view gv;
	struct tw_wf_emitter em;

	tw_cnt_add(ctx, TW_CNT_wf_groups_failed, 1);
	group_closed(ctx, g);
	if (tw_wire_decode_task_trusted((struct tw_str){ g->sig, g->sig_len }, &gv) != NULL)
		return;
	tw_wf_em_init(&em, ctx, &g->peer);
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
list_size(const struct tw_wf_group *g)
{
	uint64_t n = 2;

	for (uint32_t i = 0; i < g->size; i++) {
		uint32_t len;

		memcpy(&len, tw_wf_group_cell(g, i), 4);
		n += (len != 0 ? len : 4) + (i != 0);
	}
	return n > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)n;
}

static uint32_t
list_write(const struct tw_wf_group *g, uint8_t *out)
{
	uint8_t *p = out;

	*p++ = '[';
	for (uint32_t i = 0; i < g->size; i++) {
		const uint8_t *c = tw_wf_group_cell(g, i);
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

/*
 * A results list over the largest frame, or a callback's args composed
 * from one that fit no frame: the list buffer (taken at start, one chord at
 * a time). @return it, or NULL with *why set (counted wf_lists_refused).
 */
static uint8_t *
list_buffer(struct tw_lcore_ctx *ctx, uint64_t need, uint64_t *size, char *why, size_t why_cap)
{
	uint8_t *b = tw_wf_list_claim(need, size);

	if (b != NULL)
		return b;
	tw_cnt_add(ctx, TW_CNT_wf_lists_refused, 1);
	if (*size == 0)
		snprintf(why, why_cap, "no list buffer (--group-list-mb 0)");
	else if (need > *size)
		snprintf(why, why_cap, "over the list buffer of %" PRIu64 " bytes (--group-list-mb)",
			 *size);
	else
		snprintf(why, why_cap, "the list buffer (--group-list-mb) is held by another chord");
	return NULL;
}

/* Every member succeeded: the callback, or the group's own result. */
static void
complete_group(struct tw_lcore_ctx *ctx, struct tw_wf_group *g)
{
	struct tw_task_view gv, nv;
	struct tw_wf_emitter em;
	uint32_t cap = list_size(g), len = 0, room;
	uint8_t small[LIST_SMALL], *list = NULL, *held = NULL;
	uint64_t held_size = 0;
	struct rte_mbuf *list_m = NULL;
	bool keep = false;
	char msg[MSG_MAX], why[96] = "";
	int n;

	tw_cnt_add(ctx, TW_CNT_wf_groups_done, 1);
	group_closed(ctx, g);
	if (tw_wire_decode_task_trusted((struct tw_str){ g->sig, g->sig_len }, &gv) != NULL)
		goto out;
	tw_wf_em_init(&em, ctx, &g->peer);
	/* where the list is written: the stack, a large buffer, or, over the
	 * largest frame, the list buffer (all preallocated). Over the largest
	 * frame only a chord's in-engine callback or an outer group's cell
	 * check can take it: a plain group goes without (its links would be
	 * refused as too large anyway, its record keeps no list that long). */
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
	} else if (gv.next.len != 0 || g->in_outer) {
		/* one byte in: a callback's args are composed around it in place */
		held = list_buffer(ctx, (uint64_t)cap + 1, &held_size, why, sizeof(why));
		if (held == NULL) {
			n = snprintf(msg, sizeof(msg),
				     "the results list of %u members (%u bytes) is over the largest "
				     "frame: %s", g->size, cap, why);
			fail_group(ctx, g, msg, (uint32_t)RTE_MIN(n, (int)sizeof(msg) - 1));
			goto out;
		}
		list = held + 1;
	}
	if (list != NULL)
		len = list_write(g, list);
	/* success callbacks of the group itself get the list too */
	{
		struct tw_str rest = gv.links, sig;
		struct tw_task_view lv;

		while (tw_wire_task_field_next(&rest, TW_TASK_F_LINK, &sig)) {
			struct tw_wf_fields f = { .id = tw_lcore_rand(ctx), .root_id = g->root_id,
						  .parent_id = g->id, .has_result = true,
						  .result = list, .result_len = len };

			if (list == NULL || tw_wire_decode_task_trusted(sig, &lv) != NULL ||
			    !tw_wf_em_step(&em, sig, &lv, &f))
				tw_cnt_add(ctx, TW_CNT_wf_step_refused, 1);
		}
	}
	put_record(ctx, &(struct tw_wire_result){
			.task_id = g->id, .state = TW_ST_SUCCESS,
			.value = list != NULL && len <= RECORD_VALUE_MAX ? list : NULL,
			.value_len = list != NULL && len <= RECORD_VALUE_MAX ? len : 0,
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
		const char *failed;

		if (tw_wf_em_step(&em, gv.next, &nv, &f))
			goto out;
		failed = em.why;
		if (em.too_large && nv.group_size == 0 && !nv.immutable) {
			/* over the largest frame: an in-engine callback can still read its
			 * args (results and its own) from the list buffer, through this slot */
			uint64_t ccap = (uint64_t)len + nv.args.len + 8;

			if (held == NULL) {
				held = list_buffer(ctx, ccap, &held_size, why, sizeof(why));
			} else if (ccap > held_size) {
				tw_cnt_add(ctx, TW_CNT_wf_lists_refused, 1);
				snprintf(why, sizeof(why),
					 "over the list buffer of %" PRIu64 " bytes (--group-list-mb)",
					 held_size);
				tw_wf_list_release(held);
				held = NULL;
			}
			if (held == NULL) {
				failed = why;
			} else {
				/* the list is in place (held + 1) or copied there */
				g->list_len = tw_wf_compose_args(held, (uint32_t)RTE_MIN(held_size,
										 UINT32_MAX),
								 list, len, nv.args.p, nv.args.len);
				g->list = held;
				f.has_result = false;
				f.args_group = g->id;
				if (tw_wf_em_step(&em, gv.next, &nv, &f)) {
					/* the step is routed later in this lcore's pass, so
					 * nothing can end it before this store; from here its
					 * end or the group's expiry gives the slot back
					 * (release: pairs with their exchange) */
					__atomic_store_n(&g->callback_holds, 1, __ATOMIC_RELEASE);
					keep = true;
					goto out;
				}
				g->list = NULL;
				failed = em.why;
			}
		}
		n = snprintf(msg, sizeof(msg),
			     "the results of %u members (%u bytes) could not be passed to the callback: "
			     "%s", g->size, len, failed != NULL ? failed : "no memory for them");
		n = RTE_MIN(n, (int)sizeof(msg) - 1);
		tw_cnt_add(ctx, TW_CNT_wf_step_refused, 1);
		record_not_run(ctx, &nv, g->root_id, &g->peer, g->id, msg, (uint32_t)n);
		fail_after(ctx, &em, &nv, g->root_id, g->id, msg, (uint32_t)n);
		if (g->in_outer)
			member_done(ctx, g->outer_group, g->outer_index, false, NULL, 0, msg,
				    (uint32_t)n);
	}
out:
	if (!keep)
		tw_wf_list_release(held);
	rte_pktmbuf_free(list_m);
	if (!keep)
		tw_wf_group_release(g);
}

static void
member_done(struct tw_lcore_ctx *ctx, uint64_t gid, uint32_t idx, bool ok, const uint8_t *value,
	    uint32_t len, const char *error, uint32_t error_len)
{
	struct tw_wf_group *g = tw_wf_group_lookup(gid);
	uint8_t bit = (uint8_t)(1u << (idx & 7));
	char msg[MSG_MAX];
	int n;

	if (g == NULL || idx >= g->size) {
		tw_cnt_add(ctx, TW_CNT_wf_unknown_group, 1);
		return;
	}
	if (__atomic_fetch_or(tw_wf_group_bits(g, idx), bit, __ATOMIC_ACQ_REL) & bit) {
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
		uint8_t *c = tw_wf_group_cell(g, idx);

		memcpy(c, &len, 4);
		if (len != 0) /* an empty result may come as NULL */
			memcpy(c + 4, value, len);
		/* before the member's own DONE (same lane): a crash never keeps
		 * its end without its result */
		if (unlikely(__atomic_load_n(&g->jid, __ATOMIC_RELAXED) != 0))
			tw_journal_group_member(ctx, g, idx, value, len);
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
		tw_wf_group_release(g);
}

/* --- entry points --- */


const char *
tw_workflow_member_check(const struct tw_task_view *tv, const struct tw_peer *from,
			 uint32_t key_id, bool *finished, bool *foreign)
{
	const struct tw_wf_group *g = tw_wf_group_lookup(tv->group_id);

	*finished = false;
	*foreign = false;
	if (g == NULL) {
		/* rare path: a linear look at the groups finished lately */
		*finished = tw_wf_group_closed_lately(tv->group_id);
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

const char tw_wf_journal_refused[] =
	"its members go to a durable queue and the journal is failing (disk full?) or behind";

/* Does one of the inline members of group node tv go to a durable queue? */
static bool
members_durable(struct tw_lcore_ctx *ctx, const struct tw_routes *rt, const struct tw_task_view *tv)
{
	struct tw_str rest = tv->members, sig;

	while (tw_wire_task_field_next(&rest, TW_TASK_F_MEMBERS, &sig)) {
		struct tw_task_view mv;

		if (tw_wire_decode_task_trusted(sig, &mv) == NULL && mv.group_size == 0 &&
		    tw_route_to_durable(ctx, rt, &mv))
			return true;
	}
	return false;
}

/* Emit inline member i of g (signature sig); refused: the group fails for it. */
static void
emit_member(struct tw_lcore_ctx *ctx, struct tw_wf_emitter *em, struct tw_wf_group *g,
	    const struct tw_task_view *tv, struct tw_str sig, uint32_t i)
{
	struct tw_task_view mv;
	struct tw_wf_fields f = { .id = tw_lcore_rand(ctx), .root_id = g->root_id,
				  .parent_id = g->parent_id, .set_group = true,
				  .group_id = g->id, .group_index = i,
				  .has_result = tv->args.len != 0, .result = tv->args.p,
				  .result_len = tv->args.len };

	if (tw_wire_decode_task_trusted(sig, &mv) != NULL || !tw_wf_em_step(em, sig, &mv, &f)) {
		char why[MSG_MAX];
		int n = snprintf(why, sizeof(why), "member could not be published: %s",
				 em->why != NULL ? em->why : "its signature does not decode");

		tw_cnt_add(ctx, TW_CNT_wf_step_refused, 1);
		member_done(ctx, g->id, i, false, NULL, 0, why,
			    (uint32_t)RTE_MIN(n, (int)sizeof(why) - 1));
	}
}

const char *
tw_workflow_group_open(struct tw_lcore_ctx *ctx, const struct tw_routes *rt,
		       const struct tw_task_view *tv, const struct tw_peer *peer, uint32_t key_id,
		       uint64_t *journal_seq)
{
	uint32_t cell = tv->result_cell != 0 ? tv->result_cell : TW_WF_DEFAULT_CELL;
	const char *why;
	struct tw_wf_group *g;
	struct tw_wf_emitter em;
	struct tw_str rest, sig;
	uint32_t i = 0;

	*journal_seq = 0;

	if (!tw_wf_group_id_ok(tv->id))
		return "group id 0 or reserved";
	if (tv->group_size > TW_WF_MAX_MEMBERS)
		return "group larger than the engine's limit (1,048,576 members)";
	if (tv->n_members != 0 && tv->n_members != tv->group_size)
		return "group_size differs from the members given inline";
	if (cell > TW_WF_MAX_CELL)
		return "result_cell over 4096 bytes";
	g = tw_wf_group_lookup(tv->id);
	if (g != NULL) {
		/* a retransmitted node: open already; its confirm waits for its
		 * record as the first one did (when this lcore wrote it) */
		uint64_t jid = __atomic_load_n(&g->jid, __ATOMIC_RELAXED);

		if (jid != 0 && tw_jid_lcore(jid) == ctx->qsbr_id)
			*journal_seq = jid & TW_JID_SEQ_MASK;
		return NULL;
	}
	why = tw_wf_group_new(ctx, tv, peer, key_id, cell, &g);
	if (why != NULL)
		return why;
	/* members on a durable queue: the group outlives a crash with them
	 * (its record before any member's, on this lane) */
	if (unlikely(ctx->journal != NULL) && tv->n_members != 0 && members_durable(ctx, rt, tv)) {
		*journal_seq = tw_journal_group(ctx, g);
		if (*journal_seq == 0) {
			tw_cnt_add(ctx, TW_CNT_nack_journal, 1);
			tw_wf_group_release(g);
			return tw_wf_journal_refused;
		}
	}

	tw_cnt_add(ctx, TW_CNT_wf_groups_opened, 1);
	tw_records_put(ctx, &(struct tw_wire_result){
		.task_id = g->id, .state = TW_ST_STARTED,
		.name = tv->next.len != 0 ? "chord" : "group", .name_len = 5,
		.root_id = g->root_id, .parent_id = g->parent_id, .group_size = g->size,
		.group_id = g->outer_group, .group_index = g->outer_index });
	if (tv->n_members == 0)
		return NULL; /* members come on their own, with group_id and group_index */
	tw_wf_em_init(&em, ctx, peer);
	rest = tv->members;
	while (tw_wire_task_field_next(&rest, TW_TASK_F_MEMBERS, &sig))
		emit_member(ctx, &em, g, tv, sig, i++);
	return NULL;
}

void
tw_workflow_group_resume(struct tw_lcore_ctx *ctx, uint64_t group_id, const uint8_t *emit)
{
	struct tw_wf_group *g = tw_wf_group_lookup(group_id);
	struct tw_task_view tv;
	struct tw_wf_emitter em;
	struct tw_str rest, sig;
	uint32_t i = 0;

	if (g == NULL)
		return;
	if (emit == NULL) {
		/* every member was done before the crash, its callback not made */
		if (__atomic_load_n(&g->remaining, __ATOMIC_ACQUIRE) == 0 &&
		    __atomic_load_n(&g->failed, __ATOMIC_ACQUIRE) == 0)
			complete_group(ctx, g);
		return;
	}
	if (tw_wire_decode_task_trusted((struct tw_str){ g->sig, g->sig_len }, &tv) != NULL)
		return;
	tw_wf_em_init(&em, ctx, &g->peer);
	rest = tv.members;
	while (tw_wire_task_field_next(&rest, TW_TASK_F_MEMBERS, &sig)) {
		if (emit[i >> 3] & (1u << (i & 7)))
			emit_member(ctx, &em, g, &tv, sig, i);
		i++;
	}
}

void
tw_workflow_task_done(struct tw_lcore_ctx *ctx, const struct tw_task *t, uint32_t state,
		      const uint8_t *value, uint32_t value_len, const char *error,
		      uint32_t error_len)
{
	struct tw_peer peer = { .mac = t->peer_mac, .ip = t->peer_ip, .port = t->peer_port };
	uint64_t root = t->root_id != 0 ? t->root_id : t->id;
	struct tw_task_view v;
	struct tw_wf_emitter em;

	if (t->args_group != 0) {
		/* a chord callback that read its args from its group's slot: done with it */
		struct tw_wf_group *g = tw_wf_group_lookup(t->args_group);

		/* acq_rel: pairs with the release in complete_group() and with expire() */
		if (g != NULL && __atomic_exchange_n(&g->callback_holds, 0, __ATOMIC_ACQ_REL) == 1)
			tw_wf_group_release(g);
	}
	if (tw_wire_decode_task_trusted((struct tw_str){ t->raw, t->raw_len }, &v) != NULL)
		return;
	tw_wf_em_init(&em, ctx, &peer);
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

			if (tw_wire_decode_task_trusted(sig, &lv) == NULL && !tw_wf_em_step(&em, sig, &lv, &f))
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

		if (tw_wire_decode_task_trusted(v.next, &nv) == NULL && tw_wf_em_step(&em, v.next, &nv, &f)) {
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
	struct tw_wf_emitter em;

	tw_wf_em_init(&em, ctx, peer);
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
	struct tw_wf_emitter em;

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
	tw_wf_em_init(&em, ctx, &peer);
	if (!tw_wf_em_step(&em, (struct tw_str){ node, w.len }, &nv, &none)) {
		/* no buffer, or the stash full: "not now"; else too large for any frame */
		return em.short_of_room ? -ENOMEM : -EMSGSIZE;
	}
	t->wf_replaced = 1;
	return 0;
}

bool
tw_workflow_bind_args(struct tw_task *t)
{
	const struct tw_wf_group *g = tw_wf_group_lookup(t->args_group);

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
 * lookup reads memory freed only after its grace period (tw_wf_group_release()).
 */
static void
expire(struct tw_lcore_ctx *ctx, struct tw_wf_group *g)
{
	uint32_t zero = 0, left;
	char msg[MSG_MAX];
	int n;

	if (__atomic_load_n(&g->remaining, __ATOMIC_ACQUIRE) == 0) {
		/* finishing (its last member ends it), or kept for a chord callback
		 * that reads its args from the slot: past the expiry the slot and the
		 * list buffer go back (a callback not run yet then fails when it runs:
		 * its group is gone), so that a callback never run cannot hold them */
		if (__atomic_exchange_n(&g->callback_holds, 0, __ATOMIC_ACQ_REL) == 1) {
			tw_cnt_add(ctx, TW_CNT_wf_groups_expired, 1);
			tw_wf_group_release(g);
		}
		return;
	}
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
	tw_wf_group_release(g);
}

void
tw_workflow_expire(struct tw_lcore_ctx *ctx)
{
	if (tw_wf_groups_open() == 0)
		return;
	tw_wf_groups_due(ctx, tw_unix_ms(ctx, rte_rdtsc()), expire);
}
