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

#include "dp_fixture.h"
#include "tw_lcore.h"
#include "tw_parse.h"

#define OUR_IP DP_OUR_IP
#define PEER_IP DP_PEER_IP
#define OUR_PORT DP_OUR_PORT
#define our_mac dp_our_mac
#define peer_mac dp_peer_mac
#define eth_packet dp_eth_packet
#define ip_of dp_ip_of
#define ip_fill dp_ip_fill
#define udp_packet dp_udp_packet

static struct tw_lcore_ctx *ctx;

/* A frame payload: just the magic field is enough for the parse stage. */
static const uint8_t taskwire_payload[] = { 0x0d, 0x54, 0x57, 0x46, 0x31, 0x10, 0x01 };

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
	(void)state;
	if (dp_up("parse", TW_ROLE_IO, false) != 0)
		return -1;
	ctx = dp.ctx;
	return 0;
}

/* After each test: nothing staged, every mbuf back in the pool. */
static int
check_pool(void **state)
{
	(void)state;
	dp_no_leak();
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
