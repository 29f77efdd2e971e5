/*
 * Injected frames (see tw_inject.h). Checksums are left at 0: these
 * packets never leave the engine and the parse stage does not see them.
 */
#include <string.h>

#include <rte_ip.h>
#include <rte_udp.h>

#include "tw_inject.h"

void
tw_inject_finish(struct rte_mbuf *m, const struct tw_inject_peer *peer,
		 const struct rte_ether_addr *our_mac, rte_be32_t our_ip, rte_be16_t our_port,
		 uint32_t payload_len)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	rte_ether_addr_copy(&peer->mac, &eth->src_addr);
	rte_ether_addr_copy(our_mac, &eth->dst_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	/* a frame in a large buffer (tw_reasm.h) runs past what the 16-bit
	 * lengths hold: the engine reads pkt_len only, these saturate */
	ip->total_length = rte_cpu_to_be_16(
		(uint16_t)RTE_MIN(sizeof(*ip) + sizeof(*udp) + payload_len, (size_t)UINT16_MAX));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = peer->ip;
	ip->dst_addr = our_ip;
	udp->src_port = peer->port;
	udp->dst_port = our_port;
	udp->dgram_len = rte_cpu_to_be_16(
		(uint16_t)RTE_MIN(sizeof(*udp) + payload_len, (size_t)UINT16_MAX));
	udp->dgram_cksum = 0;
	m->pkt_len = TW_INJECT_HDR_LEN + payload_len;
	m->data_len = (uint16_t)RTE_MIN(m->pkt_len, (uint32_t)UINT16_MAX);
	m->l2_len = sizeof(*eth);
	m->l3_len = sizeof(*ip);
	m->l4_len = sizeof(*udp);
}
