/*
 * Parse stage tests (dataplane/tw_parse.c) on real mbufs: EAL runs
 * in memory without hugepages or devices. Each test builds packets, runs
 * tw_parse_burst and checks what is kept as a frame, what is answered in
 * place (ARP, ICMP echo, fragment NACK: staged in the lcore's TX batch)
 * and which drop counter counts the rest. Every mbuf goes back to the pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "tw_lcore.h"
#include "tw_parse.h"

#define OUR_IP RTE_IPV4(10, 77, 0, 1)
#define PEER_IP RTE_IPV4(10, 77, 0, 2)
#define OUR_PORT 5555

static struct rte_mempool *pool;
static struct tw_lcore_ctx *ctx;
static const struct rte_ether_addr our_mac = { { 0x02, 0, 0, 0, 0, 1 } };
static const struct rte_ether_addr peer_mac = { { 0x02, 0, 0, 0, 0, 2 } };

/* A frame payload: just the magic field is enough for the parse stage. */
static const uint8_t taskwire_payload[] = { 0x0d, 0x54, 0x57, 0x46, 0x31, 0x10, 0x01 };

static struct rte_mbuf *
eth_packet(uint16_t ether_type, size_t l3_len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct rte_ether_hdr *eth;

	assert_non_null(m);
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)(sizeof(*eth) + l3_len));
	assert_non_null(eth);
	memset(eth, 0, sizeof(*eth) + l3_len);
	rte_ether_addr_copy(&our_mac, &eth->dst_addr);
	rte_ether_addr_copy(&peer_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(ether_type);
	return m;
}

static struct rte_ipv4_hdr *
ip_of(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));
}

static void
ip_fill(struct rte_ipv4_hdr *ip, uint8_t proto, uint16_t total, uint32_t dst)
{
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(total);
	ip->time_to_live = 64;
	ip->next_proto_id = proto;
	ip->src_addr = rte_cpu_to_be_32(PEER_IP);
	ip->dst_addr = rte_cpu_to_be_32(dst);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

/* A UDP datagram; cksum: 1 valid, 0 none, -1 wrong. */
static struct rte_mbuf *
udp_packet(uint32_t dst, uint16_t port, const void *payload, size_t len, int cksum)
{
	size_t l3 = sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr) + len;
	struct rte_mbuf *m = eth_packet(RTE_ETHER_TYPE_IPV4, l3);
	struct rte_ipv4_hdr *ip = ip_of(m);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	memcpy(udp + 1, payload, len);
	udp->src_port = rte_cpu_to_be_16(40000);
	udp->dst_port = rte_cpu_to_be_16(port);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + len));
	ip_fill(ip, IPPROTO_UDP, (uint16_t)l3, dst);
	if (cksum != 0) {
		udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
		if (cksum < 0)
			udp->dgram_cksum ^= 0x0101;
	}
	return m;
}

static uint64_t
count(enum tw_counter c)
{
	return ctx->stats->c[c];
}

/* Parse one packet. @return 1 if kept as a frame (the test frees it), 0 otherwise. */
static int
parse_one(struct rte_mbuf *m)
{
	struct rte_mbuf *frames[1];
	uint16_t nf = tw_parse_burst(ctx, &m, 1, frames);

	if (nf == 1) {
		assert_ptr_equal(frames[0], m);
		rte_pktmbuf_free(m);
	}
	return nf;
}

/* Take the one packet staged for TX (an in-place answer). */
static struct rte_mbuf *
staged(void)
{
	assert_int_equal(ctx->tx.n, 1);
	ctx->tx.n = 0;
	return ctx->tx.pkts[0];
}

static int
setup(void **state)
{
	char *argv[] = { "parse_test", "--no-huge", "-m", "128", "--no-pci", "--no-shconf", "--file-prefix", "tw-dptest",
			 "--log-level", "*:error", "-l", "0" };

	(void)state;
	if (rte_eal_init(RTE_DIM(argv), argv) < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("parse_test", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	ctx = rte_zmalloc(NULL, sizeof(*ctx), RTE_CACHE_LINE_SIZE);
	if (pool == NULL || ctx == NULL)
		return -1;
	ctx->stats = rte_zmalloc(NULL, sizeof(*ctx->stats), RTE_CACHE_LINE_SIZE);
	ctx->mbuf_pool = pool;
	ctx->our_mac = our_mac;
	ctx->our_ip = rte_cpu_to_be_32(OUR_IP);
	ctx->our_port = rte_cpu_to_be_16(OUR_PORT);
	return ctx->stats == NULL ? -1 : 0;
}

/* After each test: nothing staged, every mbuf back in the pool. */
static int
check_pool(void **state)
{
	(void)state;
	assert_int_equal(ctx->tx.n, 0);
	assert_int_equal(rte_mempool_avail_count(pool), 1023);
	return 0;
}

static void
test_valid_frame_kept(void **state)
{
	(void)state;
	assert_int_equal(parse_one(udp_packet(OUR_IP, OUR_PORT, taskwire_payload,
					      sizeof(taskwire_payload), 1)), 1);
	/* UDP checksum 0 means "none" in IPv4: accepted */
	assert_int_equal(parse_one(udp_packet(OUR_IP, OUR_PORT, taskwire_payload,
					      sizeof(taskwire_payload), 0)), 1);
}

static void
test_payload_offsets_and_padding(void **state)
{
	struct rte_mbuf *m = udp_packet(OUR_IP, OUR_PORT, taskwire_payload,
					sizeof(taskwire_payload), 1), *f;
	uint32_t len;

	(void)state;
	/* Ethernet pads short frames: the parse stage trims to the UDP length */
	assert_non_null(rte_pktmbuf_append(m, 20));
	assert_int_equal(tw_parse_burst(ctx, &m, 1, &f), 1);
	assert_memory_equal(tw_parse_payload(f, &len), taskwire_payload, sizeof(taskwire_payload));
	assert_int_equal(len, sizeof(taskwire_payload));
	rte_pktmbuf_free(f);
}

static void
test_drops_by_reason(void **state)
{
	static const uint8_t junk[] = "GET / HTTP/1.0\r\n";
	struct rte_mbuf *m;
	uint64_t before;

	(void)state;
	before = count(TW_CNT_drop_bad_udp);
	assert_int_equal(parse_one(udp_packet(OUR_IP, OUR_PORT, taskwire_payload,
					      sizeof(taskwire_payload), -1)), 0);
	assert_int_equal(count(TW_CNT_drop_bad_udp), before + 1);

	before = count(TW_CNT_drop_wrong_port);
	assert_int_equal(parse_one(udp_packet(OUR_IP, 53, taskwire_payload,
					      sizeof(taskwire_payload), 1)), 0);
	assert_int_equal(count(TW_CNT_drop_wrong_port), before + 1);

	before = count(TW_CNT_drop_not_for_us);
	assert_int_equal(parse_one(udp_packet(RTE_IPV4(10, 77, 0, 9), OUR_PORT, taskwire_payload,
					      sizeof(taskwire_payload), 1)), 0);
	assert_int_equal(count(TW_CNT_drop_not_for_us), before + 1);

	before = count(TW_CNT_drop_not_taskwire);
	assert_int_equal(parse_one(udp_packet(OUR_IP, OUR_PORT, junk, sizeof(junk), 1)), 0);
	assert_int_equal(count(TW_CNT_drop_not_taskwire), before + 1);

	/* a bad IPv4 header checksum */
	before = count(TW_CNT_drop_bad_ip);
	m = udp_packet(OUR_IP, OUR_PORT, taskwire_payload, sizeof(taskwire_payload), 0);
	ip_of(m)->hdr_checksum ^= 0x00ff;
	assert_int_equal(parse_one(m), 0);
	assert_int_equal(count(TW_CNT_drop_bad_ip), before + 1);

	/* an IPv4 total length past the end of the packet */
	m = udp_packet(OUR_IP, OUR_PORT, taskwire_payload, sizeof(taskwire_payload), 0);
	ip_fill(ip_of(m), IPPROTO_UDP, 1400, OUR_IP);
	assert_int_equal(parse_one(m), 0);
	assert_int_equal(count(TW_CNT_drop_bad_ip), before + 2);

	/* a UDP length past the IP payload */
	before = count(TW_CNT_drop_bad_udp);
	m = udp_packet(OUR_IP, OUR_PORT, taskwire_payload, sizeof(taskwire_payload), 0);
	((struct rte_udp_hdr *)(ip_of(m) + 1))->dgram_len = rte_cpu_to_be_16(500);
	assert_int_equal(parse_one(m), 0);
	assert_int_equal(count(TW_CNT_drop_bad_udp), before + 1);

	before = count(TW_CNT_drop_not_ipv4);
	assert_int_equal(parse_one(eth_packet(RTE_ETHER_TYPE_IPV6, 60)), 0);
	assert_int_equal(count(TW_CNT_drop_not_ipv4), before + 1);

	before = count(TW_CNT_drop_not_udp);
	m = eth_packet(RTE_ETHER_TYPE_IPV4, 40);
	ip_fill(ip_of(m), IPPROTO_TCP, 40, OUR_IP);
	assert_int_equal(parse_one(m), 0);
	assert_int_equal(count(TW_CNT_drop_not_udp), before + 1);

	/* a later fragment: dropped, counted */
	before = count(TW_CNT_drop_ip_fragment);
	m = udp_packet(OUR_IP, OUR_PORT, taskwire_payload, sizeof(taskwire_payload), 0);
	ip_of(m)->fragment_offset = rte_cpu_to_be_16(185);
	ip_of(m)->hdr_checksum = 0;
	ip_of(m)->hdr_checksum = rte_ipv4_cksum(ip_of(m));
	assert_int_equal(parse_one(m), 0);
	assert_int_equal(count(TW_CNT_drop_ip_fragment), before + 1);
}

static void
test_first_fragment_nacked(void **state)
{
	struct rte_mbuf *m = udp_packet(OUR_IP, OUR_PORT, taskwire_payload,
					sizeof(taskwire_payload), 0), *reply;
	uint64_t before = count(TW_CNT_drop_too_large);
	struct rte_udp_hdr *udp;

	(void)state;
	ip_of(m)->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
	ip_of(m)->hdr_checksum = 0;
	ip_of(m)->hdr_checksum = rte_ipv4_cksum(ip_of(m));
	assert_int_equal(parse_one(m), 0);
	assert_int_equal(count(TW_CNT_drop_too_large), before + 1);
	/* a confirm frame goes back to the sender's port */
	reply = staged();
	udp = (struct rte_udp_hdr *)(ip_of(reply) + 1);
	assert_int_equal(rte_be_to_cpu_16(udp->dst_port), 40000);
	assert_int_equal(ip_of(reply)->dst_addr, rte_cpu_to_be_32(PEER_IP));
	assert_int_equal(rte_ipv4_cksum(ip_of(reply)), 0xffff - 0xffff); /* header checksum valid */
	rte_pktmbuf_free(reply);
}

static void
test_arp_answered_in_place(void **state)
{
	struct rte_mbuf *m = eth_packet(RTE_ETHER_TYPE_ARP, sizeof(struct rte_arp_hdr)), *r;
	struct rte_arp_hdr *arp = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *,
							  sizeof(struct rte_ether_hdr));

	(void)state;
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = 6;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_sha = peer_mac;
	arp->arp_data.arp_sip = rte_cpu_to_be_32(PEER_IP);
	arp->arp_data.arp_tip = rte_cpu_to_be_32(OUR_IP);
	assert_int_equal(parse_one(m), 0);
	r = staged();
	assert_ptr_equal(r, m);
	assert_int_equal(arp->arp_opcode, rte_cpu_to_be_16(RTE_ARP_OP_REPLY));
	assert_memory_equal(&arp->arp_data.arp_sha, &our_mac, 6);
	assert_int_equal(arp->arp_data.arp_sip, rte_cpu_to_be_32(OUR_IP));
	assert_int_equal(arp->arp_data.arp_tip, rte_cpu_to_be_32(PEER_IP));
	rte_pktmbuf_free(r);

	/* ARP for another address: not ours to answer */
	m = eth_packet(RTE_ETHER_TYPE_ARP, sizeof(struct rte_arp_hdr));
	arp = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, sizeof(struct rte_ether_hdr));
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_tip = rte_cpu_to_be_32(RTE_IPV4(10, 77, 0, 3));
	assert_int_equal(parse_one(m), 0);
}

static void
test_icmp_echo_answered(void **state)
{
	size_t l3 = sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_icmp_hdr) + 8;
	struct rte_mbuf *m = eth_packet(RTE_ETHER_TYPE_IPV4, l3), *r;
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip_of(m) + 1);

	(void)state;
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
	icmp->icmp_ident = rte_cpu_to_be_16(7);
	memcpy(icmp + 1, "pingpong", 8);
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, sizeof(*icmp) + 8);
	ip_fill(ip_of(m), IPPROTO_ICMP, (uint16_t)l3, OUR_IP);
	assert_int_equal(parse_one(m), 0);
	r = staged();
	assert_int_equal(icmp->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
	assert_int_equal(rte_raw_cksum(icmp, sizeof(*icmp) + 8), 0xffff);
	assert_int_equal(ip_of(r)->dst_addr, rte_cpu_to_be_32(PEER_IP));
	assert_int_equal(rte_raw_cksum(ip_of(r), sizeof(struct rte_ipv4_hdr)), 0xffff);
	assert_memory_equal(icmp + 1, "pingpong", 8);
	rte_pktmbuf_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_valid_frame_kept, check_pool),
		cmocka_unit_test_teardown(test_payload_offsets_and_padding, check_pool),
		cmocka_unit_test_teardown(test_drops_by_reason, check_pool),
		cmocka_unit_test_teardown(test_first_fragment_nacked, check_pool),
		cmocka_unit_test_teardown(test_arp_answered_in_place, check_pool),
		cmocka_unit_test_teardown(test_icmp_echo_answered, check_pool),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
