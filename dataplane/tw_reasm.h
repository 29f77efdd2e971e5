/*
 * Reassembly of fragmented frames (tw_fragment.h) on the io lcore, and
 * the large buffers both directions use.
 *
 * Large buffers: a reassembled frame must be contiguous (the decoder
 * hands out views into it, task descriptors point into it until their
 * tasks finish), so it lives in a "big mbuf": an ordinary direct mbuf from
 * a mempool of its own whose data room runs far past what its 16-bit
 * buf_len says. Everything about it is an mbuf's (reference count, free
 * from any lcore or from tw-control, pkt_len), and the engine reads its
 * payload by pkt_len only. Three size classes (small, medium, the largest
 * frame) so that a two-fragment message does not take a megabyte.
 *
 * Bounds (hostile senders): a preallocated total (--reasm-memory-mb), a
 * share per source address (--reasm-source-kb, and a quarter of the
 * lcore's reassembly slots), a deadline per message (--reasm-timeout-ms)
 * from its first fragment; everything refused or abandoned is counted.
 *
 * Threads: pools are shared (MP/MC mempools); a struct tw_reasm belongs
 * to one io lcore.
 */
#ifndef TW_REASM_H
#define TW_REASM_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "tw_lcore.h"

#define TW_REASM_CLASSES 3
#define TW_REASM_SLOTS 64          /* messages in reassembly at once, per io lcore */
#define TW_REASM_HDRS 42u          /* Ethernet + IPv4 (no options) + UDP in front of the payload */

struct tw_reasm_pools {
	struct rte_mempool *cls[TW_REASM_CLASSES];
	uint32_t room[TW_REASM_CLASSES]; /* frame bytes a buffer of the class holds */
	uint32_t max_frame;
};

/**
 * Create the big-buffer pools: memory bytes in all, split among the
 * classes, the largest class holding max_frame.
 * @return the pools, or NULL with rte_errno set. Threads: init only.
 */
struct tw_reasm_pools *tw_reasm_pools_create(uint32_t max_frame, uint64_t memory, int socket);

/**
 * A big mbuf for a frame of len bytes, with TW_REASM_HDRS bytes of
 * headers room in front of the payload; *charge = its class's room.
 * @return NULL if len is over the largest class or its class is empty.
 * Threads: any lcore.
 */
struct rte_mbuf *tw_bigbuf_alloc(const struct tw_reasm_pools *p, uint32_t len, uint32_t *charge);

/** Where a big mbuf's frame bytes start. */
static inline uint8_t *
tw_bigbuf_payload(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, uint8_t *, TW_REASM_HDRS);
}

struct tw_reasm_limits {
	uint32_t source_bytes;     /* buffer bytes one source address may hold */
	uint32_t timeout_ms;
};

/** The io lcore's reassembly table. @return NULL with rte_errno set. Threads: init. */
struct tw_reasm *tw_reasm_create(const struct tw_reasm_pools *p, const struct tw_reasm_limits *l,
				 uint64_t tsc_hz, int socket);

/**
 * Take the fragments out of a burst of frames (from tw_parse_burst); the
 * frames they complete take their places, in order, with the ordinary
 * frames. Each completed frame is a big mbuf laid out like a received one
 * (l2/l3/l4 lengths set, the headers of its last fragment).
 * @return frames left in v.
 * Ownership: takes the fragments (released or refused, counted); the
 * caller owns the returned frames.
 * Threads: the io lcore that owns ctx->reasm.
 */
uint16_t tw_reasm_burst(struct tw_lcore_ctx *ctx, struct rte_mbuf **v, uint16_t n);

/*
 * Could this frame's payload be a fragment? false for an ordinary frame
 * (almost always: the tag after its frame_id is not field 18's, 0x92
 * 0x01); true also for frames without a frame_id, which the full decoder
 * then sorts out. Header bytes when frame_id is there: magic 5, version
 * 2, frame_id 9.
 */
static inline bool
tw_reasm_maybe_fragment(const uint8_t *p, uint32_t len)
{
	return !(len > 17 && p[7] == 0x19 && (p[16] != 0x92 || p[17] != 0x01));
}

/** Abandon messages past their deadline (counted). Threads: as above. */
void tw_reasm_expire(struct tw_lcore_ctx *ctx, uint64_t now_tsc);

#endif
