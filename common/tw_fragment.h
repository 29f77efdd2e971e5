/*
 * Fragments: a Frame too large for one datagram travels as a run of
 * fragment datagrams (Frame field 18), each a small Frame of its own
 * (magic, version, the whole frame's frame_id, then the Fragment), and
 * the receiver puts the encoded bytes back together before decoding them
 * like any other frame.
 *
 * Slicing rule, so that a receiver can place any fragment on its own and
 * overlaps cannot be expressed: every fragment but the last carries the
 * same number of bytes (the chunk), the last one the rest (1 .. chunk);
 * fragment i holds bytes [i * chunk, min(total, (i + 1) * chunk)). The
 * chunk is at least TW_FRAG_MIN_CHUNK (except in a message of one
 * fragment), which bounds how many fragments a message of a given size can
 * have and so the receiver's bookkeeping.
 *
 * Threads: pure functions over caller memory; any thread.
 */
#ifndef TW_FRAGMENT_H
#define TW_FRAGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_wire.h"

#define TW_FRAG_MIN_CHUNK 512u
/* Bytes our senders put in one fragment: with the fragment's own frame
 * header and Fragment fields (at most 46 bytes) it stays under
 * TW_DATAGRAM_MAX with room to spare for fields added later. */
#define TW_FRAG_CHUNK 1400u
/* largest reassembled frame, by default: 1 MiB of args (or of a result)
 * with room for the rest of its task and frame */
#define TW_FRAG_DEFAULT_MAX ((1u << 20) + 65536)
#define TW_FRAG_LIMIT (8u << 20)         /* the most any receiver may be configured for */

struct tw_frag_view {
	uint64_t frame_id;
	uint64_t msg_id;     /* sender-chosen, non-zero: names the message with its source */
	uint32_t index;
	uint32_t count;
	uint32_t total;      /* bytes of the whole encoded frame */
	uint32_t chunk;      /* derived: bytes of every fragment but the last */
	struct tw_str data;
	struct tw_str cookie; /* the sender's source cookie after the fragment (len 0: none) */
};

enum tw_frag_status {
	TW_FRAG_NONE = 0,    /* not a fragment: an ordinary frame (or not ours) */
	TW_FRAG_OK,          /* a fragment, consistent on its own */
	TW_FRAG_BAD,         /* a fragment datagram that breaks the rules: refuse it */
};

/**
 * Is this datagram a fragment, and is it well formed? Cheap for ordinary
 * frames: it reads the three header fields and one tag.
 * @param why  set to a static string naming the problem on TW_FRAG_BAD.
 * Ownership: borrows buf; fv->data points into it.
 */
enum tw_frag_status tw_frag_decode(const uint8_t *buf, uint32_t len, struct tw_frag_view *fv,
				   const char **why);

/** Fragments of a frame of total bytes cut in chunks of chunk bytes. */
static inline uint32_t
tw_frag_count(uint32_t total, uint32_t chunk)
{
	return (total + chunk - 1) / chunk;
}

/**
 * Write fragment index of a frame (whole: all total bytes of it) into w:
 * header and Fragment, data = its slice of whole under the chunk rule.
 * @return false if w had no room.
 */
bool tw_frag_put(struct tw_wbuf *w, uint64_t frame_id, uint64_t msg_id, const uint8_t *whole,
		 uint32_t total, uint32_t chunk, uint32_t index);

/** The same without the frame header (the caller wrote it): field 18 only. */
bool tw_frag_put_body(struct tw_wbuf *w, uint64_t msg_id, const uint8_t *whole, uint32_t total,
		      uint32_t chunk, uint32_t index);

/* Bytes of a fragment's frame header and Fragment fields besides its data, at most. */
#define TW_FRAG_OVERHEAD 46u

#endif
