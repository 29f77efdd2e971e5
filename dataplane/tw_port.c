/*
 * Port bring-up and teardown (see tw_port.h). Runs on the main lcore only.
 */
#include <errno.h>

#include <rte_ethdev.h>
#include <rte_log.h>

#include "tw_log.h"
#include "tw_port.h"

int
tw_port_init(uint16_t port_id, struct rte_mempool *pool, uint16_t n_txq, uint16_t rx_desc,
	     uint16_t tx_desc)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	int ret, socket;

	if (!rte_eth_dev_is_valid_port(port_id)) {
		TW_LOG(ERR, "port %u does not exist (give one with --vdev or a PCI device)", port_id);
		return -ENODEV;
	}
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
	/* Let the NIC check IPv4/UDP checksums where it can; parse falls back to software. */
	conf.rxmode.offloads = info.rx_offload_capa &
		(RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);

	ret = rte_eth_dev_configure(port_id, 1, n_txq, &conf);
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
	ret = rte_eth_rx_queue_setup(port_id, 0, rx_desc, socket, NULL, pool);
	if (ret != 0) {
		TW_LOG(ERR, "port %u: RX queue: %s", port_id, rte_strerror(-ret));
		return ret;
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
