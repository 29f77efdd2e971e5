/*
 * Logging for tw-dataplane's cold paths. Polling loops never log (a
 * write to a terminal or journal can stall an lcore for milliseconds): a
 * failure there becomes a counter.
 */
#ifndef TW_LOG_H
#define TW_LOG_H

#include <rte_log.h>

extern int tw_logtype_dp;
#define RTE_LOGTYPE_TW_DP tw_logtype_dp

/* 22.11 has no RTE_LOG_LINE: append the newline here. */
#define TW_LOG(level, fmt, ...) RTE_LOG(level, TW_DP, fmt "\n", ##__VA_ARGS__)

#endif
