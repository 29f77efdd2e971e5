/*
 * libtaskwire's at-least-once publishing: a sent frame's bytes are kept
 * until every task in it is confirmed and (unless it was delayed with an
 * eta or countdown) has its final result. A frame still missing confirms
 * after its timeout, or results after the result timeout, is sent again,
 * the same frame with the same ids (with the current cookie); the engine's duplicate suppression
 * (dataplane/tw_dedup.h) confirms it again and re-sends finished results
 * without running anything twice. Echoes of what was already delivered
 * are dropped here, so each task gives its caller one confirm and one
 * final result.
 *
 * Timeouts double per attempt (up to RTO_MAX_MS); after max_attempts the
 * frame is given up (counted: retransmit_gave_up).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tw_client_priv.h"

#define RTO_MAX_MS 2000u
#define RESULT_TIMEOUT_MS 1000u    /* a confirmed task's result is asked again after this */
#define CHECK_EVERY_MS 20

static struct sent_frame *
frame_of(struct tw_client *c, uint64_t id, uint32_t *idx)
{
	uint64_t lo = c->next_frame_id > HISTORY ? c->next_frame_id - HISTORY : 1;
	uint64_t hi = c->next_frame_id; /* exclusive */

	/* frames hold consecutive, increasing task ids: binary search on first_task */
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		const struct sent_frame *h = &c->history[mid % HISTORY];

		if (h->frame_id == mid && h->first_task <= id)
			lo = mid;
		else
			hi = mid;
	}
	{
		struct sent_frame *h = &c->history[lo % HISTORY];

		if (h->frame_id != lo || id < h->first_task || id - h->first_task >= h->n_tasks)
			return NULL;
		*idx = (uint32_t)(id - h->first_task);
		return h;
	}
}

static void
release(struct sent_frame *h)
{
	free(h->bytes);
	h->bytes = NULL;
}

void
tw_retx_sent(struct tw_client *c, struct sent_frame *h, const uint8_t *bytes, size_t len)
{
	if (h->bytes != NULL) {
		/* its slot is needed: more frames in flight than the history holds */
		c->stats.retransmit_gave_up++;
		release(h);
	}
	memset(h->confirmed, 0, sizeof(h->confirmed));
	memset(h->resolved, 0, sizeof(h->resolved));
	memset(h->resent_first, 0, sizeof(h->resent_first));
	h->unconfirmed = h->n_tasks;
	h->unresolved = h->n_tasks;
	h->attempts = 1;
	h->cookie_retries = 0;
	h->sent_ms = tw_client_now_ms();
	h->rto_ms = c->retransmit_ms;
	if (c->retransmit_ms == 0)
		return;
	h->bytes = malloc(len);
	if (h->bytes == NULL)
		return; /* tracked for echoes, not retransmitted */
	memcpy(h->bytes, bytes, len);
	h->len = (uint32_t)len;
}

static bool
settled(const struct sent_frame *h)
{
	return h->unconfirmed == 0 && (h->unresolved == 0 || h->delayed);
}

/* @return 1 newly marked, 0 marked before (an echo), -1 not tracked */
static int
mark(struct tw_client *c, uint64_t id, bool result)
{
	uint32_t i;
	struct sent_frame *h = frame_of(c, id, &i);
	uint64_t *bits, bit;

	if (h == NULL)
		return -1;
	bits = result ? h->resolved : h->confirmed;
	bit = 1ull << (i % 64);
	if (bits[i / 64] & bit)
		return 0;
	bits[i / 64] |= bit;
	if (result) {
		h->unresolved--;
	} else {
		h->unconfirmed--;
	}
	if (settled(h))
		release(h);
	return 1;
}

bool
tw_retx_confirmed(struct tw_client *c, uint64_t id)
{
	return mark(c, id, false) != 0; /* untracked ones are delivered */
}

bool
tw_retx_confirm_implied(struct tw_client *c, uint64_t id)
{
	return mark(c, id, false) == 1;
}

bool
tw_retx_resolved(struct tw_client *c, uint64_t id)
{
	return mark(c, id, true) != 0;
}

bool
tw_retx_result(struct tw_client *c, uint64_t id, bool resent)
{
	int first = mark(c, id, true);
	uint32_t i = 0;
	struct sent_frame *h = first < 0 ? NULL : frame_of(c, id, &i);
	uint64_t bit;

	if (h == NULL)
		return true; /* not tracked: nothing to compare with */
	bit = 1ull << (i % 64);
	if (resent) {
		/* a re-sent result is an echo unless it is the first of its task */
		if (first == 1)
			h->resent_first[i / 64] |= bit;
		return first == 1;
	}
	/* the worker lcore's original, after the io lcore's re-sent copy of it */
	if (h->resent_first[i / 64] & bit) {
		h->resent_first[i / 64] &= ~bit;
		return false;
	}
	return true;
}

int
tw_retx_run(struct tw_client *c, uint64_t now)
{
	int sent = 0;

	if (c->retransmit_ms == 0 || now < c->next_check_ms)
		return 0;
	c->next_check_ms = now + CHECK_EVERY_MS;
	/* the oldest frames first; the scan is bounded by the history */
	while (c->oldest_frame < c->next_frame_id &&
	       c->history[c->oldest_frame % HISTORY].bytes == NULL)
		c->oldest_frame++;
	for (uint64_t f = c->oldest_frame; f < c->next_frame_id; f++) {
		struct sent_frame *h = &c->history[f % HISTORY];
		uint32_t wait;
		int ret;

		if (h->bytes == NULL || h->frame_id != f)
			continue;
		wait = h->unconfirmed != 0 ? h->rto_ms : RESULT_TIMEOUT_MS << (h->attempts - 1);
		if (now - h->sent_ms < wait)
			continue;
		if (h->attempts >= c->max_attempts) {
			c->stats.retransmit_gave_up++;
			release(h);
			continue;
		}
		ret = tw_client_send_packed(c, h->bytes, h->len);
		if (ret != 0)
			return sent != 0 ? sent : ret;
		h->attempts++;
		h->sent_ms = now;
		h->rto_ms = h->rto_ms * 2 > RTO_MAX_MS ? RTO_MAX_MS : h->rto_ms * 2;
		c->stats.retransmits++;
		sent++;
	}
	return sent;
}

int
tw_retx_timeout(const struct tw_client *c, int timeout_ms, uint64_t now)
{
	int until;

	if (c->retransmit_ms == 0 || c->oldest_frame >= c->next_frame_id)
		return timeout_ms;
	until = c->next_check_ms > now ? (int)(c->next_check_ms - now) : 0;
	return timeout_ms < 0 || until < timeout_ms ? until : timeout_ms;
}

void
tw_retx_free(struct tw_client *c)
{
	for (uint32_t i = 0; i < HISTORY; i++)
		release(&c->history[i]);
}
