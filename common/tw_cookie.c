/*
 * Source cookies: see tw_cookie.h.
 */
#include <string.h>

#include "tw_cookie.h"

void
tw_cookie_init(struct tw_cookie_keys *ck, const uint8_t secret[16], uint64_t lifetime_ms)
{
	memset(ck, 0, sizeof(*ck));
	ck->secret = tw_siphash_key_of(secret);
	ck->lifetime_ms = lifetime_ms != 0 ? lifetime_ms : 1;
}

/* The key of an epoch: two PRF outputs of the secret, cached per parity
 * (an lcore sees at most two epochs alive at once). */
static const struct tw_siphash_key *
epoch_key(struct tw_cookie_keys *ck, uint32_t epoch)
{
	unsigned slot = epoch & 1;

	if (!ck->have[slot] || ck->epoch[slot] != epoch) {
		uint8_t in[8];

		memcpy(in, &epoch, 4);
		memcpy(in + 4, "k0\0\0", 4);
		ck->key[slot].k0 = tw_siphash24(&ck->secret, in, sizeof(in));
		in[5] = '1';
		ck->key[slot].k1 = tw_siphash24(&ck->secret, in, sizeof(in));
		ck->epoch[slot] = epoch;
		ck->have[slot] = true;
	}
	return &ck->key[slot];
}

static uint64_t
tag_of(struct tw_cookie_keys *ck, uint32_t ip_be, uint16_t port_be, uint32_t epoch)
{
	uint8_t in[12] = { 0 };

	memcpy(in, &ip_be, 4);
	memcpy(in + 4, &port_be, 2);
	memcpy(in + 8, &epoch, 4);
	return tw_siphash24(epoch_key(ck, epoch), in, sizeof(in));
}

void
tw_cookie_make(struct tw_cookie_keys *ck, uint32_t ip_be, uint16_t port_be, uint64_t now_ms,
	       uint8_t out[TW_COOKIE_LEN])
{
	uint32_t epoch = (uint32_t)(now_ms / ck->lifetime_ms);
	uint64_t tag = tag_of(ck, ip_be, port_be, epoch);

	/* the engine is little-endian (x86, arm64 as DPDK runs them) */
	memcpy(out, &epoch, 4);
	memcpy(out + 4, &tag, 8);
}

enum tw_cookie_verdict
tw_cookie_check(struct tw_cookie_keys *ck, const uint8_t *p, uint32_t len, uint32_t ip_be,
		uint16_t port_be, uint64_t now_ms)
{
	uint32_t now_epoch = (uint32_t)(now_ms / ck->lifetime_ms), epoch;
	uint64_t tag, want;

	if (len == 0)
		return TW_COOKIE_MISSING;
	if (len != TW_COOKIE_LEN)
		return TW_COOKIE_BAD;
	memcpy(&epoch, p, 4);
	memcpy(&tag, p + 4, 8);
	/* a later epoch was never made here (unless the clock stepped back) */
	if (epoch > now_epoch)
		return TW_COOKIE_BAD;
	/* Too old: refused before any hashing (so a flood of old cookies
	 * never pushes the live epochs' keys out of the cache). A forger's
	 * made-up old epoch is counted as expired: refused all the same. */
	if (now_epoch - epoch > 1)
		return TW_COOKIE_EXPIRED;
	want = tag_of(ck, ip_be, port_be, epoch);
	/* a whole-word compare: no early exit on the first differing byte */
	return (tag ^ want) == 0 ? TW_COOKIE_OK : TW_COOKIE_BAD;
}
