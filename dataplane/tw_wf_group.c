/*
 * The workflow group table: see tw_wf_group.h. Shared by every polling
 * lcore and changed only with atomics; a slot's memory comes from the
 * hugepage heap when its group opens and goes back after a grace period.
 */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "tw_id_mix.h"
#include "tw_wf_group.h"

#define TABLE_SIZE (2u * TW_WF_MAX_GROUPS) /* power of two: half full at most */
#define MAX_PROBE 64u
#define ID_TOMB UINT64_MAX                 /* a removed group: probing goes on */
#define ID_BUSY (UINT64_MAX - 1)           /* a slot being filled */

struct entry {
	uint64_t id;                   /* 0 empty, ID_TOMB, ID_BUSY, else a group id */
	struct tw_wf_group *g;
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

static void group_free(struct tw_wf_group *g);

/* rte_rcu_qsbr_dq's callback: n released groups whose grace period ended. */
static void
bury(void *p, void *e, unsigned int n)
{
	struct tw_wf_group **gs = e;

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

struct tw_wf_group *
tw_wf_group_lookup(uint64_t id)
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
insert(struct tw_wf_group *g)
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

void
tw_wf_group_release(struct tw_wf_group *g)
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
group_free(struct tw_wf_group *g)
{
	if (g->charged != NULL) {
		__atomic_sub_fetch(&g->charged->bytes, g->charged_bytes, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&bytes_open, g->charged_bytes, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&n_open, 1, __ATOMIC_RELAXED);
	}
	rte_free(g->list);
	rte_free(g);
}

bool
tw_wf_group_closed_lately(uint64_t id)
{
	for (uint32_t i = 0; i < CLOSED_RING; i++)
		if (__atomic_load_n(&closed[i], __ATOMIC_RELAXED) == id)
			return true;
	return false;
}

const char *
tw_wf_group_new(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv, const struct tw_peer *peer,
		uint32_t key_id, uint32_t cell, struct tw_wf_group **out)
{
	uint64_t cells, sz, now_ms;
	struct charge *account;
	const char *why;
	struct tw_wf_group *g;

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
	*out = g;
	return NULL;
}

uint32_t
tw_wf_groups_open(void)
{
	return table != NULL ? __atomic_load_n(&n_open, __ATOMIC_RELAXED) : 0;
}

int
tw_wf_group_socket(void)
{
	return table_socket;
}

void
tw_wf_groups_due(struct tw_lcore_ctx *ctx, uint64_t now_ms,
		 void (*fn)(struct tw_lcore_ctx *ctx, struct tw_wf_group *g))
{
	/* bound: one pass over the table (8,192 entries, a few microseconds) */
	for (uint32_t i = 0; i < TABLE_SIZE; i++) {
		uint64_t id = __atomic_load_n(&table[i].id, __ATOMIC_ACQUIRE);
		struct tw_wf_group *g;

		if (id == 0 || id >= ID_BUSY)
			continue;
		g = __atomic_load_n(&table[i].g, __ATOMIC_RELAXED);
		if (g != NULL && g->expires_ms <= now_ms)
			fn(ctx, g);
	}
}
