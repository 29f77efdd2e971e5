/*
 * Port bring-up (cold): one RX queue served by the io lcore and one TX
 * queue per polling lcore, so no TX queue is ever shared.
 */
#ifndef TW_PORT_H
#define TW_PORT_H

#include <stdint.h>

struct rte_mempool;

/**
 * Configure and start a port.
 * @return 0 or -errno (message logged). Threads: main, before launch.
 */
int tw_port_init(uint16_t port_id, struct rte_mempool *pool, uint16_t n_txq, uint16_t rx_desc,
		 uint16_t tx_desc);

/** Stop and close a port (logs, never fails). */
void tw_port_close(uint16_t port_id);

#endif
