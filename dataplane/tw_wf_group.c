/*
 * The workflow group table: see tw_wf_group.h. Shared by every polling
 * lcore and changed only with atomics; a group's memory comes from the
 * preallocated slots and pages (tw_wf_mem.h) when it opens and goes back
 * after a grace period.
 */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "tw_id_mix.h"
#include "tw_reasm.h"
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

	if (tw_wf_mem_init(socket, lim->memory, lim->list_memory) != 0)
		return -ENOMEM;
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

/* Give back the pages of g (its tables' data pages, then the tables). */
static void
pages_put(struct tw_wf_group *g)
{
	if (g->n_tables == 0) {
		tw_wf_pages_put_bulk(g->dir, g->n_pages);
		return;
	}
	for (uint32_t t = 0; t < g->n_tables; t++)
		tw_wf_pages_put_bulk(g->dir[t], RTE_MIN(g->n_pages - t * (uint32_t)TW_WF_PAGE_PTRS,
							 (uint32_t)TW_WF_PAGE_PTRS));
	tw_wf_pages_put_bulk(g->dir, g->n_tables);
}

/*
 * Take the data pages of g (g->n_pages, g->n_tables set): into dir, or
 * into table pages dir lists. All or none. @return 0 or -ENOENT.
 */
static int
pages_get(struct tw_wf_group *g)
{
	if (g->n_tables == 0)
		return tw_wf_pages_get_bulk(g->dir, g->n_pages);
	if (tw_wf_pages_get_bulk(g->dir, g->n_tables) != 0)
		return -ENOENT;
	for (uint32_t t = 0; t < g->n_tables; t++) {
		uint32_t n = RTE_MIN(g->n_pages - t * (uint32_t)TW_WF_PAGE_PTRS,
				     (uint32_t)TW_WF_PAGE_PTRS);

		if (tw_wf_pages_get_bulk(g->dir[t], n) != 0) {
			/* what the tables before this one hold goes back, then the tables */
			g->n_pages = t * (uint32_t)TW_WF_PAGE_PTRS;
			pages_put(g);
			return -ENOENT;
		}
	}
	return 0;
}

/* Undo charge(c, sz) of a group that did not open. */
static void
uncharge(struct charge *c, uint64_t sz)
{
	__atomic_sub_fetch(&c->bytes, sz, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&bytes_open, sz, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&n_open, 1, __ATOMIC_RELAXED);
}

static void
group_free(struct tw_wf_group *g)
{
	if (g->charged != NULL) {
		__atomic_sub_fetch(&g->charged->bytes, g->charged_bytes, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&bytes_open, g->charged_bytes, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&n_open, 1, __ATOMIC_RELAXED);
	}
	if (g->n_pages != 0)
		pages_put(g);
	rte_pktmbuf_free(g->sig_m);
	tw_wf_list_release(g->list);
	tw_wf_slot_put(g);
}

bool
tw_wf_group_closed_lately(uint64_t id)
{
	for (uint32_t i = 0; i < CLOSED_RING; i++)
		if (__atomic_load_n(&closed[i], __ATOMIC_RELAXED) == id)
			return true;
	return false;
}

/*
 * Where the parts of a group of size members (cells of cell bytes) with a
 * node of sig_len bytes go, set in g (nothing taken yet): all in the slot
 * when it fits; else the bits and cells in pages, their pointers in the
 * slot (the data pages, or for a large group the table pages listing
 * them), and the node in the slot or, when it does not fit beside them, in
 * a large buffer (*sig_big). @return the bytes charged to the publisher,
 * or 0: more pages than one group can list.
 */
static uint64_t
plan(struct tw_wf_group *g, uint32_t size, uint32_t cell, uint32_t sig_len, bool *sig_big)
{
	const uint64_t room = TW_WF_SLOT_BYTES - sizeof(*g);
	const uint64_t bits = ((uint64_t)size + 7) / 8, cells = (uint64_t)size * (4 + cell);
	uint64_t n_pages, dir1, dir2, here = sig_len; /* the node's bytes in the slot */

	*sig_big = false;
	g->n_pages = 0;
	g->n_tables = 0;
	g->bits_pages = 0;
	g->cells_per_page = 0;
	if (sig_len + bits + cells <= room)
		return sizeof(*g) + sig_len + bits + cells;
	n_pages = (bits + TW_WF_PAGE - 1) / TW_WF_PAGE +
		  ((uint64_t)size + TW_WF_PAGE / (4 + cell) - 1) / (TW_WF_PAGE / (4 + cell));
	dir1 = n_pages * sizeof(void *);
	dir2 = (n_pages + TW_WF_PAGE_PTRS - 1) / TW_WF_PAGE_PTRS * sizeof(void *);
	if (sig_len + dir2 > room) {
		/* the node in a large buffer: the slot keeps the rest */
		*sig_big = true;
		here = 0;
		if (bits + cells <= room)
			return sizeof(*g) + sig_len + bits + cells;
	}
	if (here + dir1 <= room)
		g->n_tables = 0;
	else if (here + dir2 <= room)
		g->n_tables = (uint32_t)(dir2 / sizeof(void *));
	else
		return 0;
	g->bits_pages = (uint32_t)((bits + TW_WF_PAGE - 1) / TW_WF_PAGE);
	g->cells_per_page = TW_WF_PAGE / (4 + cell);
	g->n_pages = (uint32_t)n_pages;
	return sizeof(*g) + sig_len + ((uint64_t)g->n_pages + g->n_tables) * TW_WF_PAGE;
}

/* A refusal of group node: counted (no_memory: the preallocated memory had no room). */
static const char *
refuse(struct tw_lcore_ctx *ctx, bool no_memory, const char *why)
{
	tw_cnt_add(ctx, TW_CNT_wf_groups_refused, 1);
	if (no_memory)
		tw_cnt_add(ctx, TW_CNT_wf_groups_no_memory, 1);
	return why;
}

const char *
tw_wf_group_new(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv, const struct tw_peer *peer,
		uint32_t key_id, uint32_t cell, struct tw_wf_group **out)
{
	struct tw_wf_group layout, *g;
	uint64_t sz, now_ms;
	struct charge *account;
	const char *why;
	uint8_t *free_room;
	bool sig_big;

	sz = plan(&layout, tv->group_size, cell, tv->raw.len, &sig_big);
	if (sz == 0)
		return refuse(ctx, false, "group larger than one group's memory can list");
	account = charge_of(key_id != 0 ? (1ull << 63) | key_id : (1ull << 62) | peer->ip);
	why = charge(account, sz);
	if (why != NULL)
		return refuse(ctx, true, why);
	g = tw_wf_slot_get();
	if (g == NULL) {
		/* cannot happen: the slots are as many as the groups charge() lets open */
		uncharge(account, sz);
		return refuse(ctx, true, "no group slot free");
	}
	memset(g, 0, sizeof(*g));
	g->n_pages = layout.n_pages;
	g->n_tables = layout.n_tables;
	g->bits_pages = layout.bits_pages;
	g->cells_per_page = layout.cells_per_page;
	free_room = (uint8_t *)(g + 1);
	if (g->n_pages != 0) {
		g->dir = (void **)free_room;
		free_room += (g->n_tables != 0 ? g->n_tables : g->n_pages) * sizeof(void *);
		if (pages_get(g) != 0) {
			uncharge(account, sz);
			tw_wf_slot_put(g);
			return refuse(ctx, true,
				      "the group memory has no pages free (--group-memory-mb)");
		}
	}
	if (sig_big) {
		uint32_t charge_room;

		g->sig_m = ctx->big != NULL ? tw_bigbuf_alloc(ctx->big, tv->raw.len, &charge_room)
					    : NULL;
		if (g->sig_m == NULL) {
			uncharge(account, sz);
			group_free(g);
			return refuse(ctx, true,
				      "no large buffer free for the group node (--reasm-memory-mb)");
		}
		g->sig = tw_bigbuf_payload(g->sig_m);
	} else {
		g->sig = free_room;
		free_room += tv->raw.len;
	}
	memcpy(g->sig, tv->raw.p, tv->raw.len);
	if (g->n_pages == 0) {
		g->bits = free_room;
		g->cells = g->bits + (tv->group_size + 7) / 8;
		memset(g->bits, 0, (tv->group_size + 7) / 8);
	} else {
		/* the done bits start clear; a cell is written before it is read */
		for (uint32_t p = 0; p < g->bits_pages; p++)
			memset(tw_wf_group_page(g, p), 0, TW_WF_PAGE);
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
	if (insert(g) != 0) {
		group_free(g);
		return refuse(ctx, false, "too many groups open (4096)");
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
