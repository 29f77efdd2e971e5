/*
 * Reassembly of fragmented frames and the big-buffer pools: see
 * tw_reasm.h. tw_reasm_burst and tw_reasm_expire run on an io lcore and
 * touch only its table; buffers come from preallocated mempools, so
 * nothing is allocated per message.
 */
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_udp.h>

#include "tw_cookie.h"
#include "tw_drop.h"
#include "tw_fragment.h"
#include "tw_parse.h"
#include "tw_reasm.h"
#include "tw_reply.h"
#include "tw_unverified.h"

/* one fragment index per bit, for the most fragments a message may have */
#define BITMAP_WORDS(max_frame) ((max_frame) / TW_FRAG_MIN_CHUNK / 64 + 1)

struct slot {
	struct rte_mbuf *buf;      /* NULL: free */
	uint64_t msg_id;
	uint64_t frame_id;
	uint64_t deadline_tsc;
	rte_be32_t ip;
	rte_be16_t port;
	uint32_t total, count, chunk, got;
	uint32_t charge;           /* class room, charged to the source */
	uint64_t *seen;            /* bitmap of fragments in, BITMAP_WORDS */
};

struct tw_reasm {
	const struct tw_reasm_pools *pools;
	uint32_t source_bytes;
	uint32_t source_slots;
	uint64_t timeout_tsc;
	uint32_t n_active;
	uint32_t last;             /* slot of the last fragment: runs of one message */
	uint32_t words;            /* bitmap words per slot */
	struct slot s[TW_REASM_SLOTS];
	uint64_t bits[];           /* TW_REASM_SLOTS * words */
};

struct tw_reasm_pools *
tw_reasm_pools_create(uint32_t max_frame, uint64_t memory, int socket)
{
	/* a quarter of the memory each for small and medium messages, half for
	 * the largest; at least two of the largest, so one stuck message cannot
	 * block every other */
	static const uint32_t small = 8192, medium = 65536;
	uint32_t room[TW_REASM_CLASSES] = { small, medium, max_frame };
	uint64_t share[TW_REASM_CLASSES] = { memory / 4, memory / 4, memory / 2 };
	struct tw_reasm_pools *p = rte_zmalloc_socket("tw_reasm_pools", sizeof(*p), 0, socket);

	if (p == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	p->max_frame = max_frame;
	for (uint32_t k = 0; k < TW_REASM_CLASSES; k++) {
		/* a data room under the 16-bit buf_len: the buffer runs on past it */
		struct rte_pktmbuf_pool_private priv = { .mbuf_data_room_size = RTE_PKTMBUF_HEADROOM };
		uint32_t n = (uint32_t)RTE_MAX(share[k] / room[k], (uint64_t)2);
		char name[RTE_MEMPOOL_NAMESIZE];

		p->room[k] = room[k];
		snprintf(name, sizeof(name), "tw_big%u", k);
		p->cls[k] = rte_mempool_create(name, n,
					       sizeof(struct rte_mbuf) + RTE_PKTMBUF_HEADROOM +
						       TW_REASM_HDRS + room[k],
					       0, sizeof(priv), rte_pktmbuf_pool_init, &priv,
					       rte_pktmbuf_init, NULL, socket, 0);
		if (p->cls[k] == NULL)
			return NULL;
		if (room[k] >= max_frame) {
			p->room[k] = max_frame;
			for (uint32_t j = k + 1; j < TW_REASM_CLASSES; j++)
				p->cls[j] = NULL;
			break;
		}
	}
	return p;
}

struct rte_mbuf *
tw_bigbuf_alloc(const struct tw_reasm_pools *p, uint32_t len, uint32_t *charge)
{
	for (uint32_t k = 0; k < TW_REASM_CLASSES && p->cls[k] != NULL; k++) {
		struct rte_mbuf *m;

		if (len > p->room[k])
			continue;
		m = rte_pktmbuf_alloc(p->cls[k]);
		if (m == NULL)
			return NULL;
		*charge = p->room[k];
		return m;
	}
	return NULL;
}

struct tw_reasm *
tw_reasm_create(const struct tw_reasm_pools *p, const struct tw_reasm_limits *l, uint64_t tsc_hz,
		int socket)
{
	uint32_t words = BITMAP_WORDS(p->max_frame);
	struct tw_reasm *r = rte_zmalloc_socket("tw_reasm",
						sizeof(*r) + sizeof(uint64_t) * words * TW_REASM_SLOTS,
						RTE_CACHE_LINE_SIZE, socket);

	if (r == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	r->pools = p;
	r->source_bytes = l->source_bytes;
	r->source_slots = TW_REASM_SLOTS / 4;
	r->timeout_tsc = tsc_hz / 1000 * l->timeout_ms;
	r->words = words;
	for (uint32_t i = 0; i < TW_REASM_SLOTS; i++)
		r->s[i].seen = &r->bits[i * words];
	return r;
}

static void
slot_free(struct tw_reasm *r, struct slot *s)
{
	s->buf = NULL;
	r->n_active--;
}

/*
 * A fragment refused before any slot holds it: NACKed once per message
 * (its first fragment). With source cookies on, the fragment's source may
 * be unproven (a malformed piece is refused before its cookie is read),
 * so the NACK is held to the fragment's own size.
 */
static void
refuse(struct tw_lcore_ctx *ctx, struct rte_mbuf *m, enum tw_counter why,
       const struct tw_frag_view *fv, uint32_t reason, const char *detail)
{
	if (reason != TW_NACK_NONE && fv->index == 0) {
		struct tw_peer peer;
		struct tw_reply rep;

		tw_reply_peer_of(m, &peer);
		if (ctx->cookie != NULL) {
			uint32_t len;

			tw_parse_payload(m, &len);
			tw_unverified_refuse(ctx, &peer, fv->frame_id, len, reason, detail, false,
					     tw_unix_ms(ctx, rte_rdtsc()));
		} else {
			tw_reply_open(&rep, &peer, fv->frame_id);
			tw_reply_confirm(ctx, &rep, 0, false, reason, detail);
			tw_reply_close(ctx, &rep);
		}
	}
	tw_drop_burst(ctx, why, &m, 1);
}

/*
 * Source cookies for fragments: each one must carry a valid cookie of its
 * source before it takes any reassembly memory, or a spoofed source could
 * fill the memory (and the MAC of --keys can only be checked once the
 * frame is whole). The first fragment of a refused message is answered as
 * a refused frame is (retry-with-cookie, with a fresh cookie, in at most
 * its own size); the rest are dropped silently, so that a refused message
 * of hundreds of pieces costs one reply and one retry.
 * @return true if m may go on into reassembly; else it was taken.
 */
static bool
fragment_proven(struct tw_lcore_ctx *ctx, struct rte_mbuf *m, const struct tw_frag_view *fv,
		uint64_t now_tsc)
{
	static const char *const detail[] = {
		[TW_COOKIE_MISSING] = "fragment without cookie: retry with the cookie of this reply",
		[TW_COOKIE_EXPIRED] = "cookie expired: retry with the cookie of this reply",
		[TW_COOKIE_BAD] = "cookie not valid for this address: retry with this reply's",
	};
	struct tw_peer peer;
	uint64_t now_ms = tw_unix_ms(ctx, now_tsc);
	enum tw_cookie_verdict v;

	tw_reply_peer_of(m, &peer);
	v = tw_cookie_check(ctx->cookie, fv->cookie.p, fv->cookie.len, peer.ip, peer.port, now_ms);
	if (likely(v == TW_COOKIE_OK))
		return true;
	if (fv->index == 0) {
		uint32_t len;

		tw_parse_payload(m, &len);
		tw_unverified_refuse(ctx, &peer, fv->frame_id, len, TW_NACK_RETRY_WITH_COOKIE,
				     detail[v], true, now_ms);
	}
	tw_drop_burst(ctx, TW_CNT_drop_frag_unproven, &m, 1);
	return false;
}

/* The slot of fragment fv from this source, or NULL. */
static struct slot *
find(struct tw_reasm *r, rte_be32_t ip, rte_be16_t port, uint64_t msg_id)
{
	struct slot *s = &r->s[r->last];

	if (s->buf != NULL && s->msg_id == msg_id && s->ip == ip && s->port == port)
		return s;
	/* bounded: TW_REASM_SLOTS compares, only when a run of one message breaks */
	for (uint32_t i = 0; i < TW_REASM_SLOTS && r->n_active != 0; i++) {
		s = &r->s[i];
		if (s->buf != NULL && s->msg_id == msg_id && s->ip == ip && s->port == port) {
			r->last = i;
			return s;
		}
	}
	return NULL;
}

/* The headers a completed frame carries: those of the fragment, without IP options. */
static void
copy_headers(struct rte_mbuf *big, const struct rte_mbuf *m)
{
	uint8_t *h = rte_pktmbuf_mtod(big, uint8_t *);
	const uint8_t *src = rte_pktmbuf_mtod(m, const uint8_t *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(h + sizeof(struct rte_ether_hdr));

	memcpy(h, src, sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	memcpy(h + sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr),
	       src + m->l2_len + m->l3_len, sizeof(struct rte_udp_hdr));
	big->l2_len = sizeof(struct rte_ether_hdr);
	big->l3_len = sizeof(struct rte_ipv4_hdr);
	big->l4_len = sizeof(struct rte_udp_hdr);
}

/* A new message from fv's source: a slot and a buffer within the bounds, or a counted refusal. */
static struct slot *
open_slot(struct tw_lcore_ctx *ctx, struct tw_reasm *r, struct rte_mbuf *m,
	  const struct tw_frag_view *fv, rte_be32_t ip, rte_be16_t port, uint64_t now)
{
	uint32_t held = 0, slots = 0, free_i = TW_REASM_SLOTS, charge;
	struct slot *s;
	struct rte_mbuf *big;

	if (fv->total > r->pools->max_frame) {
		refuse(ctx, m, TW_CNT_drop_frag_too_large, fv, TW_NACK_TOO_LARGE,
		       "fragmented frame over the engine's --max-frame");
		return NULL;
	}
	/* bounded: one pass over the table, once per message */
	for (uint32_t i = 0; i < TW_REASM_SLOTS; i++) {
		s = &r->s[i];
		if (s->buf == NULL) {
			if (free_i == TW_REASM_SLOTS)
				free_i = i;
		} else if (s->ip == ip) {
			held += s->charge;
			slots++;
		}
	}
	if (slots >= r->source_slots) {
		refuse(ctx, m, TW_CNT_drop_frag_source_full, fv, TW_NACK_NO_RESOURCES,
		       "too many fragmented frames of this source in reassembly: send again later");
		return NULL;
	}
	if (free_i == TW_REASM_SLOTS) {
		refuse(ctx, m, TW_CNT_drop_frag_memory_full, fv, TW_NACK_NO_RESOURCES,
		       "reassembly table full: send again later");
		return NULL;
	}
	big = tw_bigbuf_alloc(r->pools, fv->total, &charge);
	if (big != NULL && held + charge > r->source_bytes) {
		rte_pktmbuf_free(big);
		refuse(ctx, m, TW_CNT_drop_frag_source_full, fv, TW_NACK_NO_RESOURCES,
		       "reassembly memory of this source full: send again later");
		return NULL;
	}
	if (big == NULL) {
		refuse(ctx, m, TW_CNT_drop_frag_memory_full, fv, TW_NACK_NO_RESOURCES,
		       "reassembly memory full: send again later");
		return NULL;
	}
	s = &r->s[free_i];
	s->buf = big;
	s->msg_id = fv->msg_id;
	s->frame_id = fv->frame_id;
	s->ip = ip;
	s->port = port;
	s->total = fv->total;
	s->count = fv->count;
	s->chunk = fv->chunk;
	s->got = 0;
	s->charge = charge;
	s->deadline_tsc = now + r->timeout_tsc;
	memset(s->seen, 0, sizeof(uint64_t) * r->words);
	r->n_active++;
	r->last = free_i;
	return s;
}

/*
 * One fragment (decoded as fv) into its message. @return the completed
 * frame, or NULL (m taken either way).
 */
static struct rte_mbuf *
take_fragment(struct tw_lcore_ctx *ctx, struct tw_reasm *r, struct rte_mbuf *m,
	      const struct tw_frag_view *fv, uint64_t now)
{
	const struct rte_ipv4_hdr *ip =
		rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, m->l2_len);
	const struct rte_udp_hdr *udp =
		rte_pktmbuf_mtod_offset(m, const struct rte_udp_hdr *, m->l2_len + m->l3_len);
	struct slot *s = find(r, ip->src_addr, udp->src_port, fv->msg_id);
	struct rte_mbuf *done;

	if (s == NULL) {
		s = open_slot(ctx, r, m, fv, ip->src_addr, udp->src_port, now);
		if (s == NULL)
			return NULL;
	} else if (s->total != fv->total || s->count != fv->count || s->chunk != fv->chunk) {
		/* the message's lengths were set by its first fragment: a lie now */
		tw_drop_burst(ctx, TW_CNT_drop_frag_bad, &m, 1);
		return NULL;
	}
	if (s->seen[fv->index / 64] & (1ull << (fv->index % 64))) {
		tw_drop_burst(ctx, TW_CNT_drop_frag_duplicate, &m, 1);
		return NULL;
	}
	s->seen[fv->index / 64] |= 1ull << (fv->index % 64);
	memcpy(tw_bigbuf_payload(s->buf) + (size_t)fv->index * s->chunk, fv->data.p, fv->data.len);
	if (++s->got < s->count) {
		tw_drop_burst(ctx, TW_CNT_frag_consumed, &m, 1);
		return NULL;
	}
	done = s->buf;
	copy_headers(done, m);
	done->pkt_len = TW_REASM_HDRS + s->total;
	/* only pkt_len is read for frames; data_len is what fits its 16 bits */
	done->data_len = (uint16_t)RTE_MIN(done->pkt_len, (uint32_t)UINT16_MAX);
	slot_free(r, s);
	tw_cnt_add(ctx, TW_CNT_frag_reassembled, 1);
	tw_drop_burst(ctx, TW_CNT_frag_consumed, &m, 1);
	return done;
}

uint16_t
tw_reasm_burst(struct tw_lcore_ctx *ctx, struct rte_mbuf **v, uint16_t n)
{
	struct tw_reasm *r = ctx->reasm;
	uint64_t now = 0;
	uint16_t out = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = v[i], *done;
		struct tw_frag_view fv;
		const char *why;
		uint32_t len;
		const uint8_t *p = tw_parse_payload(m, &len);
		enum tw_frag_status st;

		if (likely(!tw_reasm_maybe_fragment(p, len))) {
			v[out++] = m;
			continue;
		}
		st = tw_frag_decode(p, len, &fv, &why);
		if (st == TW_FRAG_NONE) {
			v[out++] = m;
			continue;
		}
		if (st == TW_FRAG_BAD || unlikely(r == NULL)) {
			refuse(ctx, m, TW_CNT_drop_frag_bad, &fv, TW_NACK_MALFORMED,
			       why != NULL ? why : "this engine takes no fragments");
			continue;
		}
		if (now == 0)
			now = rte_rdtsc();
		if (ctx->cookie != NULL && !fragment_proven(ctx, m, &fv, now))
			continue;
		done = take_fragment(ctx, r, m, &fv, now);
		if (done != NULL)
			v[out++] = done;
	}
	return out;
}

void
tw_reasm_expire(struct tw_lcore_ctx *ctx, uint64_t now_tsc)
{
	struct tw_reasm *r = ctx->reasm;

	if (r == NULL || r->n_active == 0)
		return;
	for (uint32_t i = 0; i < TW_REASM_SLOTS; i++) {
		struct slot *s = &r->s[i];

		if (s->buf == NULL || now_tsc < s->deadline_tsc)
			continue;
		tw_drop_burst(ctx, TW_CNT_frag_timed_out, &s->buf, 1);
		slot_free(r, s);
	}
}
