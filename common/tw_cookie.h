/*
 * Source cookies: proof that a UDP source can receive at its address.
 *
 * Anyone can put any source address on a datagram, so a reply to an
 * unproven source may land on a stranger (reflection), and a reply larger
 * than its request makes the engine an amplifier. A cookie is the engine's
 * answer to that, as QUIC's Retry token and DTLS's HelloVerifyRequest: a
 * keyed MAC of the source's address, port and a time epoch, sent to that
 * address; a source that sends it back has received there. The engine
 * keeps no state per source (a table would be one more thing to flood):
 * every frame carries its cookie, checked with one SipHash.
 *
 * Layout (12 bytes, opaque to clients): the epoch, u32 little-endian, then
 * the tag, u64 little-endian = SipHash-2-4 under the epoch's key of
 * (IPv4 address, UDP port, epoch). An epoch is one lifetime long; a cookie
 * is taken during its own epoch and the next, so it lives one to two
 * lifetimes. The epoch's key is derived from the engine's secret (random
 * at every start), so the key in use rotates every epoch and a restart
 * voids every cookie.
 *
 * Threads: a struct tw_cookie_keys per polling lcore (it caches the keys
 * of the last two epochs); no allocation, no syscall.
 */
#ifndef TW_COOKIE_H
#define TW_COOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include "tw_siphash.h"

#define TW_COOKIE_LEN 12u
/* A frame without a cookie is padded to this many bytes (Frame.padding),
 * so that the refusal carrying a cookie fits in what it sent. */
#define TW_COOKIE_PAD_TO 64u

enum tw_cookie_verdict {
	TW_COOKIE_OK,
	TW_COOKIE_MISSING,      /* no cookie in the frame */
	TW_COOKIE_EXPIRED,      /* made more than two lifetimes ago (or by an earlier start) */
	TW_COOKIE_BAD,          /* not ours: forged, damaged, or another address's or port's */
};

struct tw_cookie_keys {
	struct tw_siphash_key secret;
	uint64_t lifetime_ms;
	struct tw_siphash_key key[2];   /* by epoch parity */
	uint32_t epoch[2];
	bool have[2];
};

/** Keys for cookies living lifetime_ms to 2 * lifetime_ms, from a 16-byte secret. */
void tw_cookie_init(struct tw_cookie_keys *ck, const uint8_t secret[16], uint64_t lifetime_ms);

/** The cookie of source ip:port (as on the wire) at now_ms (unix). */
void tw_cookie_make(struct tw_cookie_keys *ck, uint32_t ip_be, uint16_t port_be, uint64_t now_ms,
		    uint8_t out[TW_COOKIE_LEN]);

/** Is p[0..len) a cookie this engine made for ip:port, still alive at now_ms? */
enum tw_cookie_verdict tw_cookie_check(struct tw_cookie_keys *ck, const uint8_t *p, uint32_t len,
				       uint32_t ip_be, uint16_t port_be, uint64_t now_ms);

#endif
