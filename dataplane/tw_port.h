/*
 * Port bring-up (cold): RX queues shared out among the io lcores (each
 * queue polled by exactly one of them) and one TX queue per polling
 * lcore, so no queue is ever shared. With several RX queues the port
 * spreads flows over them by RSS where it can; a port that wants as many
 * RX queues as TX queues (TAP) gets them, and its io lcores poll them all.
 */
#ifndef TW_PORT_H
#define TW_PORT_H

#include <stdint.h>

struct rte_mempool;

/**
 * Configure and start a port with n_txq TX queues and, where the port
 * allows, n_rxq RX queues (both 1 or more).
 * @param[out] rxq_out  RX queues configured: n_rxq, or n_txq when the port
 *   accepts only as many RX as TX queues. The caller polls every one: a
 *   queue nobody polls would silently keep the flows hashed to it.
 * @return 0 or -errno (message logged). Threads: main, before launch.
 */
int tw_port_init(uint16_t port_id, struct rte_mempool *pool, uint16_t n_rxq, uint16_t n_txq,
		 uint16_t rx_desc, uint16_t tx_desc, uint16_t *rxq_out);

/** Stop and close a port (logs, never fails). */
void tw_port_close(uint16_t port_id);

#endif
