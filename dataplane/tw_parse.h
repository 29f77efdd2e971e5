/*
 * Parse stage (io role): Ethernet/ARP/IPv4/ICMP/UDP. Answers ARP requests
 * and ICMP echo for the engine's address in place, validates IPv4 and UDP
 * (lengths and checksums), and passes on the datagrams that carry a
 * taskwire frame to the engine's UDP port. Everything else is dropped with
 * a counted reason.
 */
#ifndef TW_PARSE_H
#define TW_PARSE_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "tw_lcore.h"

/**
 * Parse a burst of received packets.
 * @param frames  receives the taskwire frames (m->l2_len, l3_len, l4_len
 *   set; the payload is at l2+l3+l4 and runs for the UDP length).
 * @return number of frames written to frames[].
 * Ownership: takes all n; the caller owns the returned frames.
 * Threads: the io (or run-to-completion) lcore.
 */
uint16_t tw_parse_burst(struct tw_lcore_ctx *ctx, struct rte_mbuf **v, uint16_t n,
			struct rte_mbuf **frames);

/** UDP payload of a frame returned by tw_parse_burst. */
static inline const uint8_t *
tw_parse_payload(const struct rte_mbuf *m, uint32_t *len)
{
	uint32_t off = m->l2_len + m->l3_len + m->l4_len;

	*len = m->pkt_len - off;
	return rte_pktmbuf_mtod_offset(m, const uint8_t *, off);
}

#endif
