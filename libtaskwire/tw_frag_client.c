/*
 * Client-side fragments (see tw_frag_client.h). A client talks to one
 * engine, so a message is named by its message id alone; a handful of
 * messages may be in reassembly at once (a worker's deliveries, a
 * publisher's results), each in a buffer of its own size, dropped at its
 * deadline.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tw_clock.h"
#include "tw_frag_client.h"

#define RX_SLOTS 16

int
tw_frag_send_frame(const uint8_t *frame, size_t len, uint64_t frame_id, uint64_t msg_id,
		   tw_frag_send_fn send, void *arg)
{
	uint8_t dgram[TW_DATAGRAM_MAX];
	uint32_t count;

	if (len <= TW_DATAGRAM_MAX)
		return send(arg, frame, len, false);
	if (len > TW_FRAG_LIMIT || msg_id == 0)
		return -EMSGSIZE;
	count = tw_frag_count((uint32_t)len, TW_FRAG_CHUNK);
	/* bounded: TW_FRAG_LIMIT / TW_FRAG_CHUNK datagrams */
	for (uint32_t i = 0; i < count; i++) {
		struct tw_wbuf w;
		int ret;

		tw_wbuf_init(&w, dgram, sizeof(dgram));
		if (!tw_frag_put(&w, frame_id, msg_id, frame, (uint32_t)len, TW_FRAG_CHUNK, i))
			return -EMSGSIZE;
		ret = send(arg, dgram, w.len, true);
		if (ret != 0)
			return ret;
	}
	return 0;
}

struct rx_slot {
	uint64_t msg_id;          /* 0: free */
	uint64_t deadline_ms;
	uint32_t total, count, chunk, got;
	uint8_t *buf;
	uint64_t *seen;
};

struct tw_frag_rx {
	uint32_t max_frame;
	uint32_t timeout_ms;
	uint64_t refused, timed_out, completed;
	uint8_t *done;            /* the last completed frame, freed at the next call */
	struct rx_slot s[RX_SLOTS];
};

struct tw_frag_rx *
tw_frag_rx_new(uint32_t max_frame, uint32_t timeout_ms)
{
	struct tw_frag_rx *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->max_frame = max_frame;
	r->timeout_ms = timeout_ms;
	return r;
}

static void
slot_clear(struct rx_slot *s)
{
	free(s->buf);
	free(s->seen);
	memset(s, 0, sizeof(*s));
}

void
tw_frag_rx_free(struct tw_frag_rx *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < RX_SLOTS; i++)
		slot_clear(&r->s[i]);
	free(r->done);
	free(r);
}

void
tw_frag_rx_counts(const struct tw_frag_rx *r, uint64_t *refused, uint64_t *timed_out,
		  uint64_t *completed)
{
	*refused = r->refused;
	*timed_out = r->timed_out;
	*completed = r->completed;
}

/* The slot of msg_id, or a new one (the oldest is given up when all are taken). */
static struct rx_slot *
slot_for(struct tw_frag_rx *r, const struct tw_frag_view *fv, uint64_t now)
{
	struct rx_slot *free_s = NULL, *oldest = NULL;

	for (int i = 0; i < RX_SLOTS; i++) {
		struct rx_slot *s = &r->s[i];

		if (s->msg_id != 0 && now >= s->deadline_ms) {
			r->timed_out++;
			slot_clear(s);
		}
		if (s->msg_id == fv->msg_id && s->msg_id != 0)
			return s;
		if (s->msg_id == 0 && free_s == NULL)
			free_s = s;
		if (s->msg_id != 0 && (oldest == NULL || s->deadline_ms < oldest->deadline_ms))
			oldest = s;
	}
	if (free_s == NULL) {
		r->timed_out++;
		slot_clear(oldest);
		free_s = oldest;
	}
	free_s->buf = malloc(fv->total);
	free_s->seen = calloc(fv->count / 64 + 1, sizeof(uint64_t));
	if (free_s->buf == NULL || free_s->seen == NULL) {
		slot_clear(free_s);
		return NULL;
	}
	free_s->msg_id = fv->msg_id;
	free_s->total = fv->total;
	free_s->count = fv->count;
	free_s->chunk = fv->chunk;
	free_s->deadline_ms = now + r->timeout_ms;
	return free_s;
}

int
tw_frag_rx_take(struct tw_frag_rx *r, const uint8_t *dgram, size_t len, const uint8_t **whole,
		size_t *whole_len)
{
	struct tw_frag_view fv;
	const char *why;
	struct rx_slot *s;
	enum tw_frag_status st;

	free(r->done);
	r->done = NULL;
	st = tw_frag_decode(dgram, (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len), &fv, &why);
	if (st == TW_FRAG_NONE)
		return TW_FRAG_RX_NOT;
	if (st == TW_FRAG_BAD || fv.total > r->max_frame) {
		r->refused++;
		return TW_FRAG_RX_TAKEN;
	}
	s = slot_for(r, &fv, tw_monotonic_ms());
	if (s == NULL || s->total != fv.total || s->count != fv.count || s->chunk != fv.chunk) {
		r->refused++;
		return TW_FRAG_RX_TAKEN;
	}
	if (s->seen[fv.index / 64] & (1ull << (fv.index % 64)))
		return TW_FRAG_RX_TAKEN; /* a duplicate */
	s->seen[fv.index / 64] |= 1ull << (fv.index % 64);
	memcpy(s->buf + (size_t)fv.index * s->chunk, fv.data.p, fv.data.len);
	if (++s->got < s->count)
		return TW_FRAG_RX_TAKEN;
	r->done = s->buf;
	*whole = s->buf;
	*whole_len = s->total;
	s->buf = NULL;
	slot_clear(s);
	r->completed++;
	return TW_FRAG_RX_DONE;
}
