/*
 * Replay protection for authenticated frames (tw-dataplane --keys). The
 * MAC proves who made a frame, not that it is new: a captured frame sent
 * again would run again. So a signed frame carries the time it was signed
 * (Frame.sent_us, covered by the MAC), the engine takes it only within
 * --replay-window-s of its own clock, and remembers every frame it took
 * (by its MAC) until that window has passed: the same frame again is a
 * replay, refused, unless it is its publisher's own retransmit (same
 * address and port, retransmits set), which the duplicate table answers.
 *
 * The table has a fixed number of entries (--replay-frames); an entry is
 * free again once its frame is outside the window. When every entry a
 * frame may take holds a frame still inside it, the frame is refused
 * (nothing is forgotten early, so no replay ever gets through).
 *
 * Threads: one table shared by every io (or run-to-completion) lcore, so a
 * copy is caught whichever lcore's RX queue it lands in; lock-free.
 */
#ifndef TW_REPLAY_H
#define TW_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_byteorder.h>

enum tw_replay_verdict {
	TW_REPLAY_NEW,          /* first time seen: taken, remembered */
	TW_REPLAY_RETRANSMIT,   /* its publisher's retransmit: taken (duplicates are answered) */
	TW_REPLAY_REPLAYED,     /* seen before, from elsewhere or without retransmits: refused */
	TW_REPLAY_STALE,        /* signed outside the window (or not stamped): refused */
	TW_REPLAY_FULL,         /* no room to remember it: refused */
};

struct tw_replay;

/**
 * A table of `entries` (rounded up to a power of two) remembering frames
 * for window_ms. @return NULL with rte_errno set.
 * Threads: main lcore, before launch.
 */
struct tw_replay *tw_replay_create(uint32_t entries, uint64_t window_ms, int socket);

/**
 * Check an authenticated frame (its MAC already verified) and remember it.
 * @param mac  its MAC (at least 8 bytes)
 * Threads: any io lcore, concurrently.
 */
enum tw_replay_verdict tw_replay_check(struct tw_replay *r, const uint8_t *mac, uint32_t mac_len,
				       rte_be32_t ip, rte_be16_t port, uint64_t sent_us,
				       bool retransmits, uint64_t now_ms);

#endif
