/*
 * Polling loops, one per lcore role, all built from one inline body (see
 * tw_lcore_loop.c). main() picks the function for each lcore at launch;
 * the loops never check their role.
 */
#ifndef TW_LCORE_LOOP_H
#define TW_LCORE_LOOP_H

#include "tw_lcore.h"

/* rte_lcore_function_t signatures; arg is the lcore's struct tw_lcore_ctx. */
int tw_lcore_loop_io(void *arg);
int tw_lcore_loop_worker(void *arg);
int tw_lcore_loop_rtc(void *arg);

#endif
