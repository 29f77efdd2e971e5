/*
 * Port bring-up and teardown (see tw_port.h). Runs on the main lcore only.
 */
#include <errno.h>

#include <rte_ethdev.h>
#include <rte_log.h>

#include "tw_log.h"
#include "tw_port.h"

/*
 * RSS over IPv4 addresses and UDP ports where the port hashes them: each
 * publisher's flow stays on one RX queue, so its frames reach one io lcore
 * in order. (Ports that move flows, as a TAP device does, are made up for
 * by source steering, tw_steer.h: the duplicate table of the source's
 * owner sees every frame that needs it.)
 */
static void
rss_conf(struct rte_eth_conf *conf, const struct rte_eth_dev_info *info, uint16_t n_rxq)
{
	uint64_t hf = info->flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);

	if (n_rxq < 2 || hf == 0)
		return;
	conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
	conf->rx_adv_conf.rss_conf.rss_key = NULL; /* the driver's default key */
	conf->rx_adv_conf.rss_conf.rss_hf = hf;
}

static int
configure(uint16_t port_id, const struct rte_eth_dev_info *info, uint16_t n_rxq, uint16_t n_txq)
{
	struct rte_eth_conf conf = { 0 };

	/* Let the NIC check IPv4/UDP checksums where it can; parse falls back to software. */
	conf.rxmode.offloads = info->rx_offload_capa &
		(RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
	rss_conf(&conf, info, n_rxq);
	return rte_eth_dev_configure(port_id, n_rxq, n_txq, &conf);
}

int
tw_port_init(uint16_t port_id, struct rte_mempool *pool, uint16_t n_rxq, uint16_t n_txq,
	     uint16_t rx_desc, uint16_t tx_desc, uint16_t *rxq_out)
{
	struct rte_eth_dev_info info;
	int ret, socket;

	if (!rte_eth_dev_is_valid_port(port_id)) {
		TW_LOG(ERR, "port %u does not exist (give one with --vdev or a PCI device)", port_id);
		return -ENODEV;
	}
	if (n_rxq == 0 || n_txq == 0)
		return -EINVAL;
	ret = rte_eth_dev_info_get(port_id, &info);
	if (ret != 0) {
		TW_LOG(ERR, "port %u: cannot get device info: %s", port_id, rte_strerror(-ret));
		return ret;
	}
	if (n_txq > info.max_tx_queues) {
		TW_LOG(ERR, "port %u (%s): needs %u TX queues (one per polling lcore), has %u",
		       port_id, info.driver_name, n_txq, info.max_tx_queues);
		return -ENOTSUP;
	}
	if (n_rxq > info.max_rx_queues) {
		TW_LOG(WARNING, "port %u (%s): %u RX queues wanted (one per io lcore), has %u",
		       port_id, info.driver_name, n_rxq, info.max_rx_queues);
		n_rxq = info.max_rx_queues;
	}
	ret = configure(port_id, &info, n_rxq, n_txq);
	if (ret != 0 && n_rxq < n_txq && n_txq <= info.max_rx_queues) {
		/* some ports (TAP) take only as many RX as TX queues */
		TW_LOG(INFO, "port %u (%s): %u RX queues refused (%s); taking %u, all polled",
		       port_id, info.driver_name, n_rxq, rte_strerror(-ret), n_txq);
		n_rxq = n_txq;
		ret = configure(port_id, &info, n_rxq, n_txq);
	}
	if (ret != 0) {
		TW_LOG(ERR, "port %u: configure: %s", port_id, rte_strerror(-ret));
		return ret;
	}
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc);
	if (ret != 0) {
		TW_LOG(ERR, "port %u: descriptor counts: %s", port_id, rte_strerror(-ret));
		return ret;
	}
	socket = rte_eth_dev_socket_id(port_id);
	for (uint16_t q = 0; q < n_rxq; q++) {
		ret = rte_eth_rx_queue_setup(port_id, q, rx_desc, socket, NULL, pool);
		if (ret != 0) {
			TW_LOG(ERR, "port %u: RX queue %u: %s", port_id, q, rte_strerror(-ret));
			return ret;
		}
	}
	for (uint16_t q = 0; q < n_txq; q++) {
		ret = rte_eth_tx_queue_setup(port_id, q, tx_desc, socket, NULL);
		if (ret != 0) {
			TW_LOG(ERR, "port %u: TX queue %u: %s", port_id, q, rte_strerror(-ret));
			return ret;
		}
	}
	ret = rte_eth_dev_start(port_id);
	if (ret != 0) {
		TW_LOG(ERR, "port %u: start: %s", port_id, rte_strerror(-ret));
		return ret;
	}
	*rxq_out = n_rxq;
	return 0;
}

void
tw_port_close(uint16_t port_id)
{
	int ret = rte_eth_dev_stop(port_id);

	if (ret != 0)
		TW_LOG(WARNING, "port %u: stop: %s", port_id, rte_strerror(-ret));
	rte_eth_dev_close(port_id);
}
