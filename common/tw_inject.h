/*
 * Frames the engine makes for itself: a task due from tw-control's
 * scheduler, a retry, a task published by a handler. They are whole
 * packets, as if the publisher had sent them (its MAC, IP and UDP port as
 * source, so results go back to it), and enter the route stage of the
 * lcore that takes them (tw_route_engine_burst()), which never confirms
 * them. A source port
 * of 0 means "no publisher to answer": results go to the store only.
 *
 * Threads: any (pure header writing into a caller's mbuf).
 */
#ifndef TW_INJECT_H
#define TW_INJECT_H

#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

/* Ethernet + IPv4 (no options) + UDP */
#define TW_INJECT_HDR_LEN (14 + 20 + 8)
/* The most payload an engine-made frame holds in a default-sized mbuf
 * (workflow steps larger than that go in the engine's large buffers). */
#define TW_INJECT_ROOM_MAX 2048

struct tw_inject_peer {
	struct rte_ether_addr mac;
	rte_be32_t ip;
	rte_be16_t port;   /* 0: no publisher to answer */
};

/** Where the payload (a Frame) goes in a fresh mbuf: write it there, then tw_inject_finish(). */
static inline uint8_t *
tw_inject_payload(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, uint8_t *, TW_INJECT_HDR_LEN);
}

/** Room for the payload in a fresh mbuf. */
static inline uint32_t
tw_inject_room(const struct rte_mbuf *m)
{
	return rte_pktmbuf_tailroom(m) > TW_INJECT_HDR_LEN
		       ? rte_pktmbuf_tailroom(m) - TW_INJECT_HDR_LEN : 0;
}

/**
 * Write the headers from peer to the engine (our_mac, our_ip, our_port:
 * network order) in front of payload_len bytes already written at
 * tw_inject_payload(m), and set the lengths the io stage reads.
 */
void tw_inject_finish(struct rte_mbuf *m, const struct tw_inject_peer *peer,
		      const struct rte_ether_addr *our_mac, rte_be32_t our_ip,
		      rte_be16_t our_port, uint32_t payload_len);

#endif
