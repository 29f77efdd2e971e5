/*
 * Building a polling lcore's context: see tw_lcore_ctx.h. Main lcore only.
 */
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "tw_cookie.h"
#include "tw_dedup.h"
#include "tw_lcore_ctx.h"
#include "tw_ratelimit.h"
#include "tw_route_cache.h"

static struct tw_ratelimit *
ratelimit_create(uint32_t qsbr_id, uint32_t n_workers, int socket)
{
	struct tw_ratelimit *r = rte_zmalloc_socket("tw_ratelimit", sizeof(*r), RTE_CACHE_LINE_SIZE,
						    socket);
	char name[RTE_RING_NAMESIZE];

	if (r == NULL)
		return NULL;
	snprintf(name, sizeof(name), "tw_r_w%u_ratewait", qsbr_id);
	r->wait = rte_ring_create(name, TW_RATE_WAIT_RING, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (r->wait == NULL) {
		rte_free(r);
		return NULL;
	}
	r->n_workers = n_workers;
	return r;
}

struct tw_lcore_ctx *
tw_lcore_ctx_create(const struct tw_lcore_setup *s)
{
	struct tw_shared *sh = s->shared;
	bool io = s->role == TW_ROLE_IO || s->role == TW_ROLE_RTC;
	bool worker = s->role == TW_ROLE_WORKER || s->role == TW_ROLE_RTC;
	struct tw_lcore_ctx *ctx = rte_zmalloc_socket("tw_lcore_ctx", sizeof(*ctx),
						      RTE_CACHE_LINE_SIZE, s->socket);

	if (ctx == NULL)
		return NULL;
	ctx->shared = sh;
	ctx->stats = &sh->stats[s->qsbr_id];
	ctx->mbuf_pool = sh->pktmbuf_pool;
	ctx->task_pool = sh->task_pool;
	ctx->tasks = s->tasks;
	ctx->qsbr_id = s->qsbr_id;
	ctx->role = s->role;
	ctx->port_id = sh->port_id;
	memcpy(ctx->our_mac.addr_bytes, sh->mac, sizeof(sh->mac));
	ctx->our_ip = sh->ip_be;
	ctx->our_port = rte_cpu_to_be_16(sh->udp_port);
	ctx->idle_sleep_us = s->idle_sleep_us;
	ctx->idle_passes_before_sleep = s->idle_passes;
	ctx->tsc_hz = rte_get_tsc_hz();
	ctx->ns_per_tick_q32 = (1000000000ull << 32) / ctx->tsc_hz;
	ctx->clock_unix_ms = sh->clock_unix_ms;
	ctx->clock_tsc = sh->clock_tsc;
	ctx->tsc_per_ms = ctx->tsc_hz / 1000;
	ctx->sched = sh->sched[s->qsbr_id];
	ctx->records = sh->records[s->qsbr_id];
	ctx->inject = sh->inject[s->qsbr_id];
	ctx->keys = s->keys;
	ctx->retry_max = s->retry_max;
	ctx->retry_min_ms = s->retry_min_ms;
	ctx->solo_max_us = (uint32_t)s->solo_max_us;
	ctx->solo_max_tsc = s->solo_max_us * (ctx->tsc_hz / 1000000);
	ctx->rng = rte_rdtsc() | 1;
	ctx->big = s->big;
	/* message ids unlikely to meet another engine run's at a client */
	ctx->frag_seq = (rte_rdtsc() << 8) ^ ((uint64_t)s->qsbr_id << 56);
	ctx->threads = s->threads;
	ctx->journal = s->journal;
	ctx->remote_queues = s->remote_queues;
	ctx->tx.port_id = sh->port_id;
	ctx->tx.queue_id = (uint16_t)s->qsbr_id;
	/* every role routes: io lcores publishers' tasks, every role the
	 * engine-made ones (workflow steps, handler publishes) and dead-letters */
	ctx->route_cache = rte_zmalloc_socket("tw_route_cache", sizeof(*ctx->route_cache),
					      RTE_CACHE_LINE_SIZE, s->socket);
	if (ctx->route_cache == NULL)
		goto fail;
	if (io) {
		ctx->dedup = rte_zmalloc_socket("tw_dedup", sizeof(*ctx->dedup), RTE_CACHE_LINE_SIZE,
						s->socket);
		if (ctx->dedup == NULL)
			goto fail;
		if (s->cookie_secret != NULL) {
			/* per lcore: each caches the epochs' keys it derives */
			ctx->cookie = rte_zmalloc_socket("tw_cookie", sizeof(*ctx->cookie),
							 RTE_CACHE_LINE_SIZE, s->socket);
			if (ctx->cookie == NULL)
				goto fail;
			tw_cookie_init(ctx->cookie, s->cookie_secret, s->cookie_lifetime_ms);
		}
		if (s->big != NULL) {
			ctx->reasm = tw_reasm_create(s->big, &s->reasm, ctx->tsc_hz, s->socket);
			if (ctx->reasm == NULL)
				goto fail;
		}
	}
	if (worker) {
		ctx->rate = ratelimit_create(s->qsbr_id, s->n_workers, s->socket);
		if (ctx->rate == NULL)
			goto fail;
	}
	return ctx;
fail:
	tw_lcore_ctx_free(ctx);
	return NULL;
}

void
tw_lcore_ctx_free(struct tw_lcore_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->rate != NULL)
		rte_ring_free(ctx->rate->wait);
	rte_free(ctx->rate);
	rte_free(ctx->cookie);
	rte_free(ctx->reasm);
	rte_free(ctx->dedup);
	rte_free(ctx->route_cache);
	rte_free(ctx);
}
