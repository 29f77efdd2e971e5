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
#define TICK_MS 16u             /* resolution of an entry's expiry */

/*
 * One entry per remembered frame: a single 64-bit word holds the frame's
 * tag (32 bits of its MAC) and when the entry is free again (its frame
 * left the window, in TICK_MS ticks since the table was made), so one CAS
 * claims it and no reader ever sees half of a claim. `who` is stored just
 * after; a reader that finds its tag with `who` still 0 meets a copy being
 * taken by another io lcore at this very moment: a replay too.
 *
 * A false match needs another frame's MAC to share 32 bits within 16
 * entries: once in 2^28 frames, and it refuses a frame (the publisher
 * retransmits it, with a new MAC), it never lets a replay through.
 */
struct entry {
	uint64_t word;          /* tag << 32 | free-after tick; 0: never used */
	uint64_t who;           /* who sent it first: IPv4 address and UDP port */
};

struct tw_replay {
	uint64_t window_ms;
	uint64_t base_ms;       /* tick 0 (set by the first check) */
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
	uint64_t sent_ms = sent_us / 1000, who = (uint64_t)ip << 16 | port | 1ull << 63;
	uint64_t base = __atomic_load_n(&r->base_ms, __ATOMIC_RELAXED), now_tick, until_tick;
	uint32_t tag;

	/* outside the window, the table may have forgotten it: refuse */
	if (sent_us == 0 || sent_ms + r->window_ms < now_ms || sent_ms > now_ms + r->window_ms ||
	    mac_len < sizeof(tag))
		return TW_REPLAY_STALE;
	if (base == 0) {
		/* the first check sets tick 0 a window back, so every tick is positive */
		uint64_t zero = 0;

		base = now_ms - r->window_ms - TICK_MS;
		if (!__atomic_compare_exchange_n(&r->base_ms, &zero, base, false, __ATOMIC_RELAXED,
						 __ATOMIC_RELAXED))
			base = zero;
	}
	/* a clock stepped back before tick 0 keeps every entry live */
	now_tick = now_ms > base ? (now_ms - base) / TICK_MS : 0;
	/* rounded up: an entry outlives its frame's window, never the other way */
	until_tick = sent_ms + r->window_ms > base
			     ? (sent_ms + r->window_ms - base + TICK_MS - 1) / TICK_MS : 1;
	/* a MAC is uniform: its bytes are the hash */
	memcpy(&tag, mac, sizeof(tag));
	/* bound: two passes over PROBE entries, the second only after a lost race */
	for (int pass = 0; pass < 2; pass++) {
		struct entry *free_slot = NULL;
		uint64_t free_word = 0;

		for (uint32_t i = 0; i < PROBE; i++) {
			struct entry *e = &r->e[(tag + i) & r->mask];
			/* acquire: pairs with the claim's CAS below */
			uint64_t w = __atomic_load_n(&e->word, __ATOMIC_ACQUIRE);
			bool live = w != 0 && (w & UINT32_MAX) >= now_tick;

			if (live && (uint32_t)(w >> 32) == tag) {
				if (retransmits && __atomic_load_n(&e->who, __ATOMIC_RELAXED) == who)
					return TW_REPLAY_RETRANSMIT;
				return TW_REPLAY_REPLAYED;
			}
			if (!live && free_slot == NULL) {
				free_slot = e;
				free_word = w;
			}
		}
		if (free_slot == NULL)
			return TW_REPLAY_FULL;
		if (__atomic_compare_exchange_n(&free_slot->word, &free_word,
						(uint64_t)tag << 32 | (uint32_t)until_tick, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&free_slot->who, who, __ATOMIC_RELAXED);
			return TW_REPLAY_NEW;
		}
		/* another io lcore took that entry meanwhile (maybe for this very frame) */
	}
	return TW_REPLAY_FULL;
}
