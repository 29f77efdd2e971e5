/*
 * Parse stage: see tw_parse.h. Runs on the io lcore, on bursts of at most
 * TW_BURST packets; owns nothing between calls.
 */
#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "tw_drop.h"
#include "tw_parse.h"
#include "tw_reply.h"
#include "tw_tx.h"

/* Outcome of one packet: a counter to drop it under, or one of these. */
enum {
	KEEP_FRAME = TW_CNT__MAX,   /* a taskwire frame for the dispatch stage */
	KEEP_SENT,                  /* answered in place and staged for TX */
};

static int
answer_arp(struct tw_lcore_ctx *ctx, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	rte_be32_t sender_ip;

	if (m->data_len < sizeof(*eth) + sizeof(*arp) ||
	    arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST))
		return TW_CNT_drop_other_arp_icmp;
	if (arp->arp_data.arp_tip != ctx->our_ip)
		return TW_CNT_drop_not_for_us;

	/* Turn the request into the reply in place. */
	sender_ip = arp->arp_data.arp_sip;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	rte_ether_addr_copy(&arp->arp_data.arp_sha, &arp->arp_data.arp_tha);
	arp->arp_data.arp_tip = sender_ip;
	rte_ether_addr_copy(&ctx->our_mac, &arp->arp_data.arp_sha);
	arp->arp_data.arp_sip = ctx->our_ip;
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(&ctx->our_mac, &eth->src_addr);
	tw_cnt_add(ctx, TW_CNT_arp_replies, 1);
	tw_tx_one(ctx, m);
	return KEEP_SENT;
}

static int
answer_icmp(struct tw_lcore_ctx *ctx, struct rte_mbuf *m, struct rte_ipv4_hdr *ip,
	    uint32_t ip_hlen, uint32_t ip_len)
{
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((uint8_t *)ip + ip_hlen);
	uint32_t icmp_len = ip_len - ip_hlen;
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

	if (icmp_len < sizeof(*icmp) || icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST ||
	    icmp->icmp_code != 0)
		return TW_CNT_drop_other_arp_icmp;
	if (rte_raw_cksum(icmp, icmp_len) != 0xffff)
		return TW_CNT_drop_bad_ip;

	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, icmp_len);
	ip->dst_addr = ip->src_addr;
	ip->src_addr = ctx->our_ip;
	ip->time_to_live = 64;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(&ctx->our_mac, &eth->src_addr);
	/* Trim Ethernet padding so the reply is exactly the echo. */
	m->data_len = (uint16_t)(sizeof(*eth) + ip_len);
	m->pkt_len = m->data_len;
	tw_cnt_add(ctx, TW_CNT_icmp_echo_replies, 1);
	tw_tx_one(ctx, m);
	return KEEP_SENT;
}

/*
 * A datagram the engine does not take whole: an IP fragment, a datagram
 * the port delivered in several mbufs (jumbo frames), or one over
 * TW_DATAGRAM_MAX. Its first bytes still hold the frame header: refuse the
 * frame by id so the publisher learns why, instead of waiting for a
 * confirm that never comes (a longer datagram would otherwise be run with
 * a result too large to send back). The refusal is far smaller than what
 * was received, so it amplifies nothing. Later fragments are dropped.
 * `len` is what this (first) mbuf holds of the payload.
 */
static void
refuse_too_large(struct tw_lcore_ctx *ctx, struct rte_mbuf *m, const uint8_t *payload,
		 uint32_t len, const char *why)
{
	struct tw_frame_view fv;
	struct tw_peer peer;
	struct tw_reply r;

	(void)tw_wire_decode_frame(payload, len, &fv, ctx->views, TW_FRAME_MAX_TASKS);
	tw_reply_peer_of(m, &peer);
	tw_reply_open(&r, &peer, fv.frame_id);
	tw_reply_confirm(ctx, &r, 0, false, TW_NACK_TOO_LARGE, why);
	tw_reply_close(ctx, &r);
}

static int
classify_udp(struct tw_lcore_ctx *ctx, struct rte_mbuf *m, struct rte_ipv4_hdr *ip,
	     uint32_t ip_hlen, uint32_t ip_len, bool first_fragment)
{
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((uint8_t *)ip + ip_hlen);
	uint32_t udp_len, avail = ip_len - ip_hlen;
	/* what the first mbuf holds past the IP header (all of it, unless chained) */
	uint32_t here = RTE_MIN(avail, (uint32_t)m->data_len - m->l2_len - ip_hlen);
	const uint8_t *payload = (const uint8_t *)(udp + 1);

	if (here < sizeof(*udp))
		return m->nb_segs != 1 ? TW_CNT_drop_multiseg : TW_CNT_drop_bad_udp;
	if (udp->dst_port != ctx->our_port)
		return TW_CNT_drop_wrong_port;
	udp_len = rte_be_to_cpu_16(udp->dgram_len);
	m->l4_len = sizeof(*udp);
	if (first_fragment || m->nb_segs != 1) {
		/* The UDP length covers the whole datagram; only its start is here. */
		if (!tw_wire_has_magic(payload, here - sizeof(*udp)))
			return m->nb_segs != 1 ? TW_CNT_drop_multiseg : TW_CNT_drop_not_taskwire;
		refuse_too_large(ctx, m, payload, here - sizeof(*udp),
				 first_fragment ? "datagram larger than the MTU (IP fragments)"
						: "datagram over 1472 bytes (jumbo frame)");
		return TW_CNT_drop_too_large;
	}
	if (udp_len < sizeof(*udp) || udp_len > avail)
		return TW_CNT_drop_bad_udp;
	if (udp->dgram_cksum != 0 &&
	    (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) != RTE_MBUF_F_RX_L4_CKSUM_GOOD &&
	    rte_ipv4_udptcp_cksum_verify(ip, udp) != 0)
		return TW_CNT_drop_bad_udp;
	if (!tw_wire_has_magic(payload, udp_len - sizeof(*udp)))
		return TW_CNT_drop_not_taskwire;
	if (unlikely(udp_len - sizeof(*udp) > TW_DATAGRAM_MAX)) {
		/* one packet on a link with an MTU over 1500: taken, its replies
		 * (the same size, results of echo) could not go back whole */
		refuse_too_large(ctx, m, payload, udp_len - sizeof(*udp),
				 "datagram over 1472 bytes");
		return TW_CNT_drop_too_large;
	}
	/* Trim Ethernet padding and anything past the UDP datagram. */
	m->pkt_len = m->l2_len + ip_hlen + udp_len;
	m->data_len = (uint16_t)m->pkt_len;
	return KEEP_FRAME;
}

static int
classify(struct tw_lcore_ctx *ctx, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint32_t ip_hlen, ip_len, frag;

	if (m->data_len < sizeof(*eth))
		return TW_CNT_drop_not_ipv4;
	if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
		return m->nb_segs == 1 ? answer_arp(ctx, m) : TW_CNT_drop_multiseg;
	if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
		return TW_CNT_drop_not_ipv4;

	m->l2_len = sizeof(*eth);
	if (m->data_len < sizeof(*eth) + sizeof(*ip) || (ip->version_ihl >> 4) != 4)
		return TW_CNT_drop_bad_ip;
	ip_hlen = (ip->version_ihl & 0xf) * 4u;
	ip_len = rte_be_to_cpu_16(ip->total_length);
	/* a chained mbuf (jumbo frame) holds the packet in pkt_len; its headers
	 * must sit in the first segment */
	if (ip_hlen < sizeof(*ip) || ip_len < ip_hlen || ip_len > m->pkt_len - sizeof(*eth) ||
	    m->data_len < sizeof(*eth) + ip_hlen)
		return TW_CNT_drop_bad_ip;
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
	    rte_raw_cksum(ip, ip_hlen) != 0xffff)
		return TW_CNT_drop_bad_ip;
	if (ip->dst_addr != ctx->our_ip)
		return TW_CNT_drop_not_for_us;
	m->l3_len = ip_hlen;

	frag = rte_be_to_cpu_16(ip->fragment_offset);
	if ((frag & RTE_IPV4_HDR_OFFSET_MASK) != 0)
		return TW_CNT_drop_ip_fragment;
	if (ip->next_proto_id == IPPROTO_UDP)
		return classify_udp(ctx, m, ip, ip_hlen, ip_len, (frag & RTE_IPV4_HDR_MF_FLAG) != 0);
	if (frag & RTE_IPV4_HDR_MF_FLAG)
		return TW_CNT_drop_ip_fragment;
	if (m->nb_segs != 1)
		return TW_CNT_drop_multiseg;
	if (ip->next_proto_id == IPPROTO_ICMP)
		return answer_icmp(ctx, m, ip, ip_hlen, ip_len);
	return TW_CNT_drop_not_udp;
}

uint16_t
tw_parse_burst(struct tw_lcore_ctx *ctx, struct rte_mbuf **v, uint16_t n, struct rte_mbuf **frames)
{
	uint16_t nf = 0;

	for (uint16_t i = 0; i < n; i++) {
		int verdict;

		if (i + 3 < n)
			rte_prefetch0(rte_pktmbuf_mtod(v[i + 3], void *));
		verdict = classify(ctx, v[i]);
		if (verdict == KEEP_FRAME)
			frames[nf++] = v[i];
		else if (verdict != KEEP_SENT)
			tw_drop_burst(ctx, (enum tw_counter)verdict, &v[i], 1);
	}
	return nf;
}
