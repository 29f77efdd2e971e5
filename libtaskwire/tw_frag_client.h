/*
 * Frames larger than one datagram on the client side (libtaskwire's
 * publisher and worker): cutting a frame into fragment datagrams, and
 * putting the engine's fragmented frames (large results, large
 * deliveries) back together. The wire rules are tw_fragment.h's.
 *
 * Threads: tw_frag_send_frame is pure (the callback sends); a struct
 * tw_frag_rx belongs to the one thread that receives on its socket.
 */
#ifndef TW_FRAG_CLIENT_H
#define TW_FRAG_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tw_fragment.h"

/**
 * Send one datagram: the whole frame (piece false), or one of its
 * fragments (piece true: the sender appends its source cookie to it, as
 * the engine checks every fragment's). @return 0 or -errno.
 */
typedef int (*tw_frag_send_fn)(void *arg, const uint8_t *buf, size_t len, bool piece);

/* Bytes a sender may append to a fragment datagram and stay within TW_DATAGRAM_MAX. */
#define TW_FRAG_TRAILER_MAX (TW_DATAGRAM_MAX - TW_FRAG_CHUNK - TW_FRAG_OVERHEAD)

/** The frame id of an encoded frame (0 if it has none): fields 1 to 3 open every frame. */
static inline uint64_t
tw_frag_frame_id_of(const uint8_t *frame, size_t len)
{
	uint64_t id = 0;

	if (len >= TW_WIRE_FRAME_ID_OFFSET + 8 && frame[TW_WIRE_FRAME_ID_OFFSET - 1] == 0x19)
		memcpy(&id, frame + TW_WIRE_FRAME_ID_OFFSET, sizeof(id));
	return id;
}

/**
 * Send an encoded frame: as it is when it fits a datagram
 * (TW_DATAGRAM_MAX), else as fragments under msg_id (non-zero; the same
 * for a retransmit of the same frame, so that the engine can fill in what
 * it is missing). @return 0, -EMSGSIZE over TW_FRAG_LIMIT, or send's error.
 */
int tw_frag_send_frame(const uint8_t *frame, size_t len, uint64_t frame_id, uint64_t msg_id,
		       tw_frag_send_fn send, void *arg);

struct tw_frag_rx;

/** A reassembler for frames of up to max_frame bytes. @return NULL on ENOMEM. */
struct tw_frag_rx *tw_frag_rx_new(uint32_t max_frame, uint32_t timeout_ms);
void tw_frag_rx_free(struct tw_frag_rx *r);

enum { TW_FRAG_RX_NOT = 0, TW_FRAG_RX_TAKEN = 1, TW_FRAG_RX_DONE = 2 };

/**
 * Offer a received datagram. @return TW_FRAG_RX_NOT (an ordinary frame:
 * use it as it is), TW_FRAG_RX_TAKEN (a fragment kept, or refused and
 * counted), or TW_FRAG_RX_DONE (*whole, *whole_len: the completed frame,
 * valid until the next call).
 * Ownership: borrows dgram.
 */
int tw_frag_rx_take(struct tw_frag_rx *r, const uint8_t *dgram, size_t len,
		    const uint8_t **whole, size_t *whole_len);

/** Counters: fragments refused (malformed, inconsistent, over the size), messages timed out. */
void tw_frag_rx_counts(const struct tw_frag_rx *r, uint64_t *refused, uint64_t *timed_out,
		       uint64_t *completed);

#endif
