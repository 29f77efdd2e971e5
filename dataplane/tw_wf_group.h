/*
 * The workflow group table: one slot per open group or chord, shared by
 * every lcore of tw-dataplane (hugepage memory), found by id (open
 * addressing, atomics only). A slot holds the group's node (what follows
 * it), one done bit and one result cell per member; its memory is charged
 * to the group's publisher (by key, else by address) and bounded in all
 * (struct tw_wf_limits). A released slot is freed once every lcore passed
 * a quiescent state (the engine's RCU): a late duplicate member may still
 * read it. A group's memory is taken at start (tw_wf_mem.h): its slot, and
 * pages for done bits and cells that do not fit there; a node too large
 * for the slot is kept in a large buffer (tw_reasm.h). None free: the
 * group is refused, counted.
 *
 * What members, callbacks and expiry do with a slot: tw_workflow.c.
 * Threads: every polling lcore; tw_workflow_init/reclaim on the main lcore.
 */
#ifndef TW_WF_GROUP_H
#define TW_WF_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_lcore.h"
#include "tw_wf_mem.h"
#include "tw_wire.h"
#include "tw_workflow.h"

struct charge;

struct tw_wf_group {
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
	/* its GROUP record in the journal (its members go to a durable queue);
	 * taken (0) by whoever writes the group's end, once */
	uint64_t jid;
	uint32_t size;
	uint32_t cell;                 /* bytes of one member's result */
	uint32_t remaining;            /* members not final yet (atomic) */
	uint32_t failed;               /* set once by the first failing member (atomic) */
	uint32_t sig_len;
	uint8_t *sig;                  /* the group node's Task message: next, link, link_error */
	struct rte_mbuf *sig_m;        /* the large buffer sig is in, when not in the slot */
	/* done bit per member, then size x (le32 length, cell bytes): in the
	 * slot (bits, cells), or in pages (bits == NULL), a cell never across two */
	uint8_t *bits;
	uint8_t *cells;
	void **dir;                    /* in the slot: the data pages, or (two levels) their tables */
	uint32_t n_pages;              /* data pages: the bits', then the cells' */
	uint32_t n_tables;             /* table pages (0: dir lists the data pages) */
	uint32_t bits_pages;
	uint32_t cells_per_page;
	uint8_t *list;                 /* chord callback args too large for a frame (the list buffer) */
	uint32_t list_len;
	/* 1 while the chord's callback reads its args from list: the slot is
	 * released by whoever takes it to 0 (the callback's end, or expiry) */
	uint32_t callback_holds;
};

/* Data page p of a paged group. */
static inline uint8_t *
tw_wf_group_page(const struct tw_wf_group *g, uint32_t p)
{
	if (g->n_tables == 0)
		return g->dir[p];
	return ((uint8_t **)g->dir[p / TW_WF_PAGE_PTRS])[p % TW_WF_PAGE_PTRS];
}

/* The byte holding member idx's done bit. */
static inline uint8_t *
tw_wf_group_bits(const struct tw_wf_group *g, uint32_t idx)
{
	uint32_t b = idx >> 3;

	if (g->bits != NULL)
		return g->bits + b;
	return tw_wf_group_page(g, b / TW_WF_PAGE) + b % TW_WF_PAGE;
}

/* Member idx's result cell: le32 length, then g->cell bytes. */
static inline uint8_t *
tw_wf_group_cell(const struct tw_wf_group *g, uint32_t idx)
{
	if (g->cells != NULL)
		return g->cells + (uint64_t)idx * (4 + g->cell);
	return tw_wf_group_page(g, g->bits_pages + idx / g->cells_per_page) +
	       (idx % g->cells_per_page) * (4 + g->cell);
}

/* Ids a group may not take (0, and two the table keeps for itself). */
static inline bool
tw_wf_group_id_ok(uint64_t id)
{
	return id != 0 && id < UINT64_MAX - 1;
}

/** The open group with this id, or NULL. Valid until the caller's next quiescent state. */
struct tw_wf_group *tw_wf_group_lookup(uint64_t id);

/**
 * Open the slot of group node tv (cell: bytes of one member's result):
 * charged to the publisher (key_id, else peer's address), filled, in the
 * table. @return NULL (*out set), or why not (counted wf_groups_refused,
 * and wf_groups_no_memory when the preallocated memory had no room).
 */
const char *tw_wf_group_new(struct tw_lcore_ctx *ctx, const struct tw_task_view *tv,
			    const struct tw_peer *peer, uint32_t key_id, uint32_t cell,
			    struct tw_wf_group **out);

/** Remove g from the table (its last user); freed after the grace period. */
void tw_wf_group_release(struct tw_wf_group *g);

/** Did group id finish lately (a retransmitted member of it is confirmed again)? */
bool tw_wf_group_closed_lately(uint64_t id);

/** Groups open now (0 when the table does not exist). */
uint32_t tw_wf_groups_open(void);

/** The socket of the table: where a group's other hugepage memory goes. */
int tw_wf_group_socket(void);

/** fn for every open group whose expiry is at or before now_ms. */
void tw_wf_groups_due(struct tw_lcore_ctx *ctx, uint64_t now_ms,
		      void (*fn)(struct tw_lcore_ctx *ctx, struct tw_wf_group *g));

#endif
