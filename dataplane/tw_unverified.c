/*
 * Budgeted refusals to unproven sources: see tw_unverified.h.
 */
#include <string.h>

#include "tw_cookie.h"
#include "tw_reply.h"
#include "tw_unverified.h"
#include "tw_wire_priv.h"

#define DETAIL_MAX 100u         /* keeps the Confirm's length one byte */

bool
tw_unverified_refuse(struct tw_lcore_ctx *ctx, const struct tw_peer *peer, uint64_t frame_id,
		     uint32_t budget, uint32_t reason, const char *detail, bool with_cookie,
		     uint64_t now_ms)
{
	/* magic (5), version (2), frame_id (9, when not 0) */
	uint32_t size = TW_WIRE_MAGIC_LEN + 2 + (frame_id != 0 ? 9 : 0);
	/* Confirm: tag, length, reason tag and value (reasons < 128) */
	uint32_t confirm = 2 + 2;
	/* cookie: a two-byte tag (field 20), a length, the bytes */
	uint32_t cookie_field = with_cookie ? 2 + 1 + TW_COOKIE_LEN : 0;
	uint32_t dlen = detail != NULL ? (uint32_t)strlen(detail) : 0;
	char trimmed[DETAIL_MAX + 1];
	uint8_t cookie[TW_COOKIE_LEN];
	struct tw_reply r;

	size += confirm + cookie_field;
	if (size > budget) {
		tw_cnt_add(ctx, TW_CNT_unverified_silent, 1);
		return false;
	}
	/* the detail, if at least a few bytes of it fit (tag and length: 2) */
	dlen = RTE_MIN(dlen, DETAIL_MAX);
	if (size + 2 + dlen > budget)
		dlen = budget - size >= 2 + 8 ? budget - size - 2 : 0;
	memcpy(trimmed, detail != NULL ? detail : "", dlen);
	trimmed[dlen] = '\0';
	tw_reply_open(&r, peer, frame_id);
	if (!tw_reply_reserve(ctx, &r, confirm + cookie_field + 2 + dlen))
		return false;
	/* the cookie before the confirm: a client reads the whole frame first */
	if (with_cookie) {
		tw_cookie_make(ctx->cookie, peer->ip, peer->port, now_ms, cookie);
		put_bytes(&r.w, F_FRAME_COOKIE, cookie, TW_COOKIE_LEN);
		tw_cnt_add(ctx, TW_CNT_cookies_sent, 1);
	}
	tw_wire_put_confirm(&r.w, 0, false, reason, dlen != 0 ? trimmed : NULL);
	r.n_entries++;
	tw_cnt_add(ctx, TW_CNT_nacks, 1);
	tw_reply_close(ctx, &r);
	return true;
}

void
tw_unverified_answer_probe(struct tw_lcore_ctx *ctx, const struct tw_peer *peer, uint64_t frame_id,
			   uint32_t budget, uint64_t now_ms)
{
	uint32_t size = TW_WIRE_MAGIC_LEN + 2 + (frame_id != 0 ? 9 : 0);
	bool with_cookie = ctx->cookie != NULL && size + 2 + 1 + TW_COOKIE_LEN <= budget;
	uint8_t cookie[TW_COOKIE_LEN];
	struct tw_reply r;

	if (size > budget) {
		tw_cnt_add(ctx, TW_CNT_unverified_silent, 1);
		return;
	}
	tw_cnt_add(ctx, TW_CNT_probes_answered, 1);
	tw_reply_open(&r, peer, frame_id);
	if (!tw_reply_reserve(ctx, &r, with_cookie ? 2 + 1 + TW_COOKIE_LEN : 0))
		return;
	if (with_cookie) {
		tw_cookie_make(ctx->cookie, peer->ip, peer->port, now_ms, cookie);
		put_bytes(&r.w, F_FRAME_COOKIE, cookie, TW_COOKIE_LEN);
		tw_cnt_add(ctx, TW_CNT_cookies_sent, 1);
	}
	r.n_entries++; /* the header alone is the answer */
	tw_reply_close(ctx, &r);
}
