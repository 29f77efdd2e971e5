/*
 * libFuzzer harness for the parse stage (dataplane/tw_parse.c): raw
 * Ethernet frames as they come off the wire (ARP, IPv4 with options and
 * fragments, ICMP, UDP) through tw_parse_burst on real mbufs (EAL in
 * memory, no hugepages, no device). Checks, besides memory safety
 * (ASan/UBSan): a frame passed on has its headers and payload inside the
 * packet, and every mbuf (kept, answered or dropped) goes back to the pool.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "tw_lcore.h"
#include "tw_parse.h"

static struct rte_mempool *pool;
static struct tw_lcore_ctx *ctx;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* its runtime folder (/var/run/dpdk/tw-fuzzparse) is removed by run-fuzz.sh */
	char *eal[] = { "fuzz_parse", "--no-huge", "-m", "128", "--no-pci", "--no-shconf",
			"--file-prefix", "tw-fuzzparse", "--log-level", "*:error", "-l", "0" };
	const struct rte_ether_addr mac = { { 0x02, 0, 0, 0, 0, 1 } };

	(void)argc;
	(void)argv;
	if (rte_eal_init(RTE_DIM(eal), eal) < 0)
		abort();
	pool = rte_pktmbuf_pool_create("fuzz_parse", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	ctx = rte_zmalloc(NULL, sizeof(*ctx), RTE_CACHE_LINE_SIZE);
	if (pool == NULL || ctx == NULL)
		abort();
	ctx->stats = rte_zmalloc(NULL, sizeof(*ctx->stats), RTE_CACHE_LINE_SIZE);
	if (ctx->stats == NULL)
		abort();
	ctx->mbuf_pool = pool;
	ctx->our_mac = mac;
	ctx->our_ip = rte_cpu_to_be_32(RTE_IPV4(10, 77, 0, 1));
	ctx->our_port = rte_cpu_to_be_16(5555);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rte_mbuf *m, *frames[1];
	unsigned avail = rte_mempool_avail_count(pool);
	uint16_t n;

	if (size > RTE_MBUF_DEFAULT_DATAROOM)
		return 0;
	m = rte_pktmbuf_alloc(pool);
	if (m == NULL)
		abort();
	if (size != 0)
		memcpy(rte_pktmbuf_append(m, (uint16_t)size), data, size);
	n = tw_parse_burst(ctx, &m, 1, frames);
	if (n == 1) {
		uint32_t off = frames[0]->l2_len + frames[0]->l3_len + frames[0]->l4_len, len;
		const uint8_t *p = tw_parse_payload(frames[0], &len);

		if (off > frames[0]->pkt_len || p + len > rte_pktmbuf_mtod(frames[0], uint8_t *) +
							      rte_pktmbuf_data_len(frames[0]))
			abort();
		rte_pktmbuf_free(frames[0]);
	}
	/* answers (ARP, ICMP echo, a fragment's NACK) are staged, not sent here */
	for (uint16_t i = 0; i < ctx->tx.n; i++)
		rte_pktmbuf_free(ctx->tx.pkts[i]);
	ctx->tx.n = 0;
	if (rte_mempool_avail_count(pool) != avail)
		abort(); /* an mbuf leaked or was freed twice */
	return 0;
}
