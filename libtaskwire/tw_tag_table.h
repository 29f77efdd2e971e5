/*
 * A set of delivery tags, each with the worker's bookkeeping for it (an
 * ack awaiting the engine's answer, or a running task whose lease is kept),
 * that grows with what it holds: a worker with a credit of thousands may
 * have thousands of acks unanswered at once, and each must stay known
 * until the engine answers it.
 *
 * Open addressing with linear probing, at most half full; a removal
 * shifts the entries after it back (no tombstones). Not thread-safe: the
 * owner locks. Memory: grows by doubling (add fails, nothing changed,
 * when it cannot), shrinks in tw_tag_table_compact().
 */
#ifndef TW_TAG_TABLE_H
#define TW_TAG_TABLE_H

#include <stdbool.h>
#include <stdint.h>

struct tw_tag_entry {
	uint64_t tag;            /* 0: slot free */
	uint64_t due_ms;         /* CLOCK_MONOTONIC ms: when it is next due (resend, refresh) */
	uint32_t attempts;
	uint32_t len;            /* bytes */
	uint32_t body_off;       /* where bytes' ack field starts (0: a frame to send whole) */
	uint32_t period_ms;      /* how often it is due */
	uint8_t *bytes;          /* owned by the caller (freed before removal); a free slot's is NULL */
};

struct tw_tag_table {
	struct tw_tag_entry *slot;
	uint32_t cap;            /* a power of two, or 0 */
	uint32_t n;
};

/** The entry of tag, or NULL. */
struct tw_tag_entry *tw_tag_find(const struct tw_tag_table *t, uint64_t tag);

/** A new zeroed entry for tag (not present: the caller checks), or NULL without memory. */
struct tw_tag_entry *tw_tag_add(struct tw_tag_table *t, uint64_t tag);

/**
 * Remove slot i (in use). Entries after it may move into it: a walk over
 * the slots looks at slot i again, and may meet an entry it has seen
 * already once more, never miss one.
 * @return whether slot i holds an entry again.
 */
bool tw_tag_remove_at(struct tw_tag_table *t, uint32_t i);

/** Give back memory once far from full (not during a walk over the slots). */
void tw_tag_table_compact(struct tw_tag_table *t);

/** Free the slots (not the entries' bytes). */
void tw_tag_table_free(struct tw_tag_table *t);

#endif
