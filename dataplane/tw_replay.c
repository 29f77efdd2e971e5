/*
 * Replay table: see tw_replay.h. Runs on the io lcore that owns it; one
 * probe of at most PROBE entries per authenticated frame, no allocation.
 */
#include <string.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_malloc.h>

#include "tw_replay.h"

#define PROBE 16u

struct entry {
	uint64_t tag;           /* the frame's MAC, first 8 bytes; 0: never used */
	uint64_t until_ms;      /* free again after this (its frame left the window) */
	rte_be32_t ip;          /* who sent it first */
	rte_be16_t port;
};

struct tw_replay {
	uint64_t window_ms;
	uint32_t mask;
	struct entry e[];
};

struct tw_replay *
tw_replay_create(uint32_t entries, uint64_t window_ms, int socket)
{
	uint32_t n = rte_align32pow2(RTE_MAX(entries, PROBE));
	struct tw_replay *r = rte_zmalloc_socket("tw_replay", sizeof(*r) + n * sizeof(r->e[0]),
						 RTE_CACHE_LINE_SIZE, socket);

	if (r == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	r->window_ms = window_ms;
	r->mask = n - 1;
	return r;
}

enum tw_replay_verdict
tw_replay_check(struct tw_replay *r, const uint8_t *mac, uint32_t mac_len, rte_be32_t ip,
		rte_be16_t port, uint64_t sent_us, bool retransmits, uint64_t now_ms)
{
	uint64_t sent_ms = sent_us / 1000, tag;
	struct entry *free_slot = NULL;

	/* outside the window, the table may have forgotten it: refuse */
	if (sent_us == 0 || sent_ms + r->window_ms < now_ms || sent_ms > now_ms + r->window_ms)
		return TW_REPLAY_STALE;
	if (mac_len < sizeof(tag))
		return TW_REPLAY_STALE;
	/* a MAC is uniform: its bytes are the hash (0 is kept for "never used") */
	memcpy(&tag, mac, sizeof(tag));
	tag |= 1;
	for (uint32_t i = 0; i < PROBE; i++) {
		struct entry *e = &r->e[(tag + i) & r->mask];

		if (e->tag == tag && e->until_ms >= now_ms) {
			if (retransmits && e->ip == ip && e->port == port)
				return TW_REPLAY_RETRANSMIT;
			return TW_REPLAY_REPLAYED;
		}
		if (free_slot == NULL && (e->tag == 0 || e->until_ms < now_ms))
			free_slot = e;
	}
	if (free_slot == NULL)
		return TW_REPLAY_FULL;
	/* remembered while a copy could still be taken: until it leaves the window */
	*free_slot = (struct entry){ .tag = tag, .until_ms = sent_ms + r->window_ms, .ip = ip,
				     .port = port };
	return TW_REPLAY_NEW;
}
