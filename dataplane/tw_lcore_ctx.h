/*
 * Building a polling lcore's context: the fields every stage reads, and
 * the per-role state (route cache; duplicate table, source cookies and
 * the reassembly table for io roles; rate limits for worker roles), allocated on the lcore's
 * socket. The engine builds one per planned lcore before launching its
 * loop; the data-plane stage tests build one the same way without
 * launching anything.
 */
#ifndef TW_LCORE_CTX_H
#define TW_LCORE_CTX_H

#include <stdint.h>

#include "tw_lcore.h"
#include "tw_reasm.h"

struct tw_journal_lcore;
struct tw_keys;
struct tw_rc_queues;
struct tw_threads;

/* What one context is made from (the engine's configuration, derived). */
struct tw_lcore_setup {
	struct tw_shared *shared;       /* identity, pools, rings, stats of every lcore */
	const struct tw_task_registry *tasks;
	uint32_t qsbr_id;               /* index in shared->stats[] and the per-lcore rings */
	uint32_t role;                  /* enum tw_lcore_role */
	int socket;                     /* where the lcore's own state goes */
	uint32_t n_workers;             /* worker lcores sharing each rate limit */
	const struct tw_keys *keys;     /* --keys, NULL: none */
	struct tw_threads *threads;     /* threads pool, NULL: none */
	const struct tw_rc_queues *remote_queues;
	const uint8_t *cookie_secret;   /* 16 bytes, NULL: --cookies 0 */
	uint64_t cookie_lifetime_ms;
	uint32_t idle_sleep_us, idle_passes;
	uint32_t retry_max, retry_min_ms;
	uint64_t solo_max_us;
	struct tw_journal_lcore *journal; /* durable queues' journal, NULL: none */
	const struct tw_reasm_pools *big; /* large buffers; NULL: no reassembly (io roles need it) */
	struct tw_reasm_limits reasm;   /* io roles' reassembly table */
};

/**
 * Allocate and fill the context of one polling lcore (its rings are
 * shared->sched/records/inject[qsbr_id], which may be NULL in tests).
 * @return the context, or NULL (no memory; nothing left allocated).
 * Threads: the main lcore, before the lcore runs.
 */
struct tw_lcore_ctx *tw_lcore_ctx_create(const struct tw_lcore_setup *s);

/** Free a context and its per-role state (the lcore has stopped). NULL is fine. */
void tw_lcore_ctx_free(struct tw_lcore_ctx *ctx);

#endif
