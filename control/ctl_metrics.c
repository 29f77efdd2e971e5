/*
 * Prometheus endpoint: see ctl_metrics.h. Metric names follow Prometheus
 * conventions: taskwire_ prefix, _total for counters, base units
 * (seconds), labels for lcore, role, queue and drop reason.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include <stddef.h>

#include "ctl_http.h"
#include "ctl_sched.h"
#include "ctl_store.h"
#include "ctl_metrics.h"
#include "tw_broker_counters.h"
#include "tw_consumers_shm.h"

struct ctl_metrics {
	struct MHD_Daemon *d;
	struct ctl_ctx *ctx;
	uint16_t port;
	uint64_t scrapes;
	struct ctl_http_guard guard;
};

struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3)))
emit(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (t->oom)
			return;
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t cap = t->cap * 2 + (size_t)(n > 0 ? n : 0);
			char *p = realloc(t->p, cap);

			if (p == NULL) {
				t->oom = true;
				return;
			}
			t->p = p;
			t->cap = cap;
		}
	}
}

static void
family(struct text *t, const char *name, const char *type, const char *help)
{
	emit(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Counters summed over lcores; drops get one family with a reason label. */
static void
engine_counters(struct text *t, const struct tw_shared *sh)
{
	uint64_t sum[TW_CNT__MAX] = { 0 };

	for (uint32_t i = 0; i < sh->n_pollers && i < TW_MAX_LCORES; i++)
		for (int c = 0; c < TW_CNT__MAX; c++) {
			uint64_t v = __atomic_load_n(&sh->stats[i].c[c], __ATOMIC_RELAXED);

			sum[c] = c == TW_CNT_max_stall_ns ? (v > sum[c] ? v : sum[c]) : sum[c] + v;
		}
	family(t, "taskwire_dropped_packets_total", "counter",
	       "Packets dropped by the data plane, by reason");
	for (int c = 0; c < TW_CNT__MAX; c++)
		if (strncmp(tw_counter_names[c], "drop_", 5) == 0)
			emit(t, "taskwire_dropped_packets_total{reason=\"%s\"} %lu\n",
			     tw_counter_names[c] + 5, (unsigned long)sum[c]);
	for (int c = 0; c < TW_CNT__MAX; c++) {
		const char *n = tw_counter_names[c];
		char name[96];

		if (strncmp(n, "drop_", 5) == 0 || c == TW_CNT_max_stall_ns || c == TW_CNT_loop_cycles ||
		    c == TW_CNT_busy_cycles)
			continue;
		snprintf(name, sizeof(name), "taskwire_%s_total", n);
		family(t, name, "counter", tw_counter_help[c]);
		emit(t, "%s %lu\n", name, (unsigned long)sum[c]);
	}
}

static void
lcores(struct text *t, const struct tw_shared *sh)
{
	family(t, "taskwire_lcore_busy_ratio", "gauge",
	       "Share of the lcore's loop cycles spent in passes that did work, since start");
	for (uint32_t i = 0; i < sh->n_plan; i++) {
		const struct tw_plan_entry *pe = &sh->plan[i];
		const struct tw_lcore_stats *st;
		uint64_t loop;

		if (pe->role == TW_ROLE_MAIN || pe->qsbr_id >= TW_MAX_LCORES)
			continue;
		st = &sh->stats[pe->qsbr_id];
		loop = __atomic_load_n(&st->c[TW_CNT_loop_cycles], __ATOMIC_RELAXED);
		emit(t, "taskwire_lcore_busy_ratio{lcore=\"%u\",role=\"%s\"} %.4f\n", pe->lcore_id,
		     tw_role_name(pe->role),
		     loop ? (double)__atomic_load_n(&st->c[TW_CNT_busy_cycles], __ATOMIC_RELAXED) /
				    (double)loop
			  : 0.0);
	}
	family(t, "taskwire_lcore_longest_pass_seconds", "gauge",
	       "Longest loop pass of the lcore since start or the last reset");
	for (uint32_t i = 0; i < sh->n_plan; i++) {
		const struct tw_plan_entry *pe = &sh->plan[i];

		if (pe->role == TW_ROLE_MAIN || pe->qsbr_id >= TW_MAX_LCORES)
			continue;
		emit(t, "taskwire_lcore_longest_pass_seconds{lcore=\"%u\",role=\"%s\"} %.9f\n",
		     pe->lcore_id, tw_role_name(pe->role),
		     (double)__atomic_load_n(&sh->stats[pe->qsbr_id].c[TW_CNT_max_stall_ns],
					     __ATOMIC_RELAXED) / 1e9);
	}
}

static void label(struct text *t, const char *v);

static void
queues(struct text *t, const struct tw_broker *b)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
		{ "taskwire_queue_ready", "gauge", "Tasks waiting in the queue" },
		{ "taskwire_queue_in_flight", "gauge", "Tasks taken by a worker, not finished" },
		{ "taskwire_queue_published_total", "counter", "Tasks enqueued" },
		{ "taskwire_queue_delivered_total", "counter", "Tasks taken by workers" },
		{ "taskwire_queue_rejected_total", "counter", "Tasks NACKed queue-full" },
		{ "taskwire_queue_dropped_total", "counter", "Tasks dropped from the head (drop-head)" },
		{ "taskwire_queue_expired_total", "counter", "Tasks whose message TTL passed" },
		{ "taskwire_queue_workers", "gauge", "Worker lcores consuming the queue" },
		{ "taskwire_queue_dead_lettered_total", "counter",
		  "Tasks sent on to the queue's dead-letter exchange (expired, dropped, rejected, "
		  "out of retries)" },
		{ "taskwire_queue_redelivered_total", "counter",
		  "Remote consumers' deliveries put back at the queue's head (lease run out, "
		  "consumer lost, requeued)" },
	};
	const struct tw_shared *sh = b->sh;
	uint64_t workers = 0;

	/* every worker lcore consumes every queue */
	for (uint32_t i = 1; i < sh->n_plan; i++)
		workers += sh->plan[i].role == TW_ROLE_WORKER || sh->plan[i].role == TW_ROLE_RTC;
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(t, fams[f].name, fams[f].type, fams[f].help);
		for (uint32_t s = 0; s < TW_MAX_QUEUES; s++) {
			const struct tw_queue_slot *qs = sh->queues[s];
			struct tw_broker_queue_counts c;
			uint64_t v;

			if (qs == NULL)
				continue;
			tw_broker_queue_counts(sh, s, &c);
			switch (f) {
			case 0: v = tw_broker_queue_ready(qs); break;
			case 1: v = c.delivered > c.completed ? c.delivered - c.completed : 0; break;
			case 2: v = c.published; break;
			case 3: v = c.delivered; break;
			case 4: v = c.rejected; break;
			case 5: v = c.dropped; break;
			case 6: v = c.expired; break;
			case 7: v = workers; break;
			case 8: v = c.dead_lettered; break;
			default: v = c.redelivered; break;
			}
			emit(t, "%s{queue=\"", fams[f].name);
			label(t, qs->name);
			emit(t, "\"} %lu\n", (unsigned long)v);
		}
	}
	/* NACKs by reason: the ones a queue causes (the others come before routing) */
	family(t, "taskwire_queue_nacked_total", "counter",
	       "Tasks NACKed because of this queue, by reason");
	for (uint32_t s = 0; s < TW_MAX_QUEUES; s++) {
		const struct tw_queue_slot *qs = sh->queues[s];
		struct tw_broker_queue_counts c;

		if (qs == NULL)
			continue;
		tw_broker_queue_counts(sh, s, &c);
		emit(t, "taskwire_queue_nacked_total{queue=\"");
		label(t, qs->name);
		emit(t, "\",reason=\"queue-full\"} %lu\n", (unsigned long)c.rejected);
		emit(t, "taskwire_queue_nacked_total{queue=\"");
		label(t, qs->name);
		emit(t, "\",reason=\"no-resources\"} %lu\n", (unsigned long)c.nack_no_resources);
	}
}

/* Per exchange, by its stable counter slot, since it was declared. */
static void
exchanges(struct text *t, const struct tw_broker *b)
{
	static const char *const names[] = { "taskwire_exchange_published_total",
					     "taskwire_exchange_routed_total",
					     "taskwire_exchange_unroutable_total" };
	static const char *const help[] = { "Tasks published to the exchange",
					    "Tasks it routed to at least one queue",
					    "Tasks no binding (nor alternate exchange) took" };
	struct tw_broker_exchange_ref *x = calloc(TW_MAX_EXCHANGES, sizeof(*x));
	uint32_t n = x != NULL ? tw_broker_exchange_list(b, x, TW_MAX_EXCHANGES) : 0;

	for (int f = 0; f < 3; f++) {
		family(t, names[f], "counter", help[f]);
		for (uint32_t i = 0; i < n; i++) {
			const struct tw_exchange_base *base = tw_broker_exchange_base(b->sh, x[i].slot);
			uint64_t v[3];

			tw_broker_exchange_sums(b->sh, x[i].slot, &v[0], &v[1], &v[2]);
			v[0] -= base->published;
			v[1] -= base->routed;
			v[2] -= base->unroutable;
			emit(t, "%s{exchange=\"", names[f]);
			label(t, x[i].name);
			emit(t, "\"} %lu\n", (unsigned long)v[f]);
		}
	}
	free(x);
}

/*
 * Per remote consumer, while it is subscribed (its series end when it
 * goes): read from the consumer tables' memzones without locks, each
 * figure a single aligned word (ctl_consumers.c reads them the same way).
 */
static void
consumers(struct text *t)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
		{ "taskwire_consumer_delivered_total", "counter", "Deliveries made to the consumer" },
		{ "taskwire_consumer_acked_total", "counter",
		  "Its acks taken (success, failure, retry, reject)" },
		{ "taskwire_consumer_nacked_total", "counter",
		  "Of its acks, rejections (requeued or not)" },
		{ "taskwire_consumer_redelivered_total", "counter",
		  "Its deliveries put back (lease, loss, requeue)" },
		{ "taskwire_consumer_in_flight", "gauge", "Its deliveries not acked yet" },
	};
	const struct tw_consumers *tab[TW_MAX_LCORES];

	for (uint32_t id = 0; id < TW_MAX_LCORES; id++) {
		char name[RTE_MEMZONE_NAMESIZE];
		const struct rte_memzone *mz;

		snprintf(name, sizeof(name), TW_RC_MZ, id);
		mz = rte_memzone_lookup(name);
		tab[id] = mz != NULL ? mz->addr : NULL;
	}
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(t, fams[f].name, fams[f].type, fams[f].help);
		/* bounded: the tables' slots */
		for (uint32_t id = 0; id < TW_MAX_LCORES; id++)
			for (uint32_t i = 0; tab[id] != NULL && i < TW_RC_MAX_CONSUMERS; i++) {
				const struct tw_consumer *c = &tab[id]->c[i];
				/* acquire: pairs with the release store of the id at subscribe */
				uint64_t cid = __atomic_load_n(&c->id, __ATOMIC_ACQUIRE), v;
				char who[2 * TW_RC_NAME];

				if (cid == 0)
					continue;
				switch (f) {
				case 0: v = __atomic_load_n(&c->delivered, __ATOMIC_RELAXED); break;
				case 1: v = __atomic_load_n(&c->acked, __ATOMIC_RELAXED); break;
				case 2: v = __atomic_load_n(&c->nacked, __ATOMIC_RELAXED); break;
				case 3: v = __atomic_load_n(&c->redelivered, __ATOMIC_RELAXED); break;
				default: v = __atomic_load_n(&c->unacked, __ATOMIC_RELAXED); break;
				}
				snprintf(who, sizeof(who), "%.*s@%.*s", TW_RC_NAME - 1, c->name,
					 TW_RC_NAME - 1, c->host);
				emit(t, "%s{consumer=\"%016lx\",worker=\"", fams[f].name,
				     (unsigned long)cid);
				label(t, who);
				emit(t, "\"} %lu\n", (unsigned long)v);
			}
	}
}

/*
 * Label value: quotes, backslashes and newlines escaped; other control
 * characters (a remote consumer names itself) shown as '?'.
 */
static void
label(struct text *t, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\n')
			emit(t, "\\n");
		else if ((unsigned char)*p < 0x20)
			emit(t, "?");
		else
			emit(t, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
	}
}

/* Per registered task name: outcomes and a runtime histogram, summed over lcores. */
static void
tasks(struct text *t, const struct tw_shared *sh)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} fams[] = {
		{ "taskwire_task_received_total", "Tasks of this name routed to a queue",
		  offsetof(struct tw_lcore_stats, task_received) },
		{ "taskwire_task_succeeded_total", "Runs of this task that succeeded",
		  offsetof(struct tw_lcore_stats, task_succeeded) },
		{ "taskwire_task_failed_total", "Runs of this task that failed",
		  offsetof(struct tw_lcore_stats, task_failed) },
		{ "taskwire_task_retried_total", "Runs of this task that asked for a retry",
		  offsetof(struct tw_lcore_stats, task_retried) },
	};
	uint32_t n = sh->n_tasks < TW_MAX_TASK_NAMES ? sh->n_tasks : TW_MAX_TASK_NAMES;

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(t, fams[f].name, "counter", fams[f].help);
		for (uint32_t h = 0; h < n; h++) {
			uint64_t v = 0;

			for (uint32_t i = 0; i < sh->n_pollers && i < TW_MAX_LCORES; i++)
				v += __atomic_load_n((const uint64_t *)((const uint8_t *)&sh->stats[i] +
									fams[f].off) + h,
						     __ATOMIC_RELAXED);
			emit(t, "%s{task=\"", fams[f].name);
			label(t, sh->task_info[h].name);
			emit(t, "\"} %lu\n", (unsigned long)v);
		}
	}
	family(t, "taskwire_task_runtime_seconds", "histogram", "Handler run time by task name");
	for (uint32_t h = 0; h < n; h++) {
		uint64_t cum = 0, sum_ns = 0;

		for (unsigned b = 0; b < TW_RUNTIME_BUCKETS; b++) {
			for (uint32_t i = 0; i < sh->n_pollers && i < TW_MAX_LCORES; i++)
				cum += __atomic_load_n(&sh->stats[i].task_runtime_hist[h][b],
						       __ATOMIC_RELAXED);
			emit(t, "taskwire_task_runtime_seconds_bucket{task=\"");
			label(t, sh->task_info[h].name);
			if (b + 1 < TW_RUNTIME_BUCKETS)
				emit(t, "\",le=\"%g\"} %lu\n", (double)(1u << b) * 1e-6,
				     (unsigned long)cum);
			else
				emit(t, "\",le=\"+Inf\"} %lu\n", (unsigned long)cum);
		}
		for (uint32_t i = 0; i < sh->n_pollers && i < TW_MAX_LCORES; i++)
			sum_ns += __atomic_load_n(&sh->stats[i].task_runtime_ns[h], __ATOMIC_RELAXED);
		emit(t, "taskwire_task_runtime_seconds_sum{task=\"");
		label(t, sh->task_info[h].name);
		emit(t, "\"} %.9f\ntaskwire_task_runtime_seconds_count{task=\"", (double)sum_ns / 1e9);
		label(t, sh->task_info[h].name);
		emit(t, "\"} %lu\n", (unsigned long)cum);
	}
}

/* RX burst sizes per lcore: how full the polls are (a histogram of packets per poll). */
static void
bursts(struct text *t, const struct tw_shared *sh)
{
	static const char *const le[TW_BURST_BUCKETS] = { "0", "1", "3", "7", "15", "31", "+Inf" };

	family(t, "taskwire_lcore_rx_burst_size", "histogram", "Packets per RX poll of the lcore");
	for (uint32_t i = 0; i < sh->n_plan; i++) {
		const struct tw_plan_entry *pe = &sh->plan[i];
		uint64_t cum = 0;

		if (pe->role == TW_ROLE_MAIN || pe->role == TW_ROLE_WORKER ||
		    pe->qsbr_id >= TW_MAX_LCORES)
			continue;
		for (unsigned b = 0; b < TW_BURST_BUCKETS; b++) {
			cum += __atomic_load_n(&sh->stats[pe->qsbr_id].rx_burst_hist[b], __ATOMIC_RELAXED);
			emit(t, "taskwire_lcore_rx_burst_size_bucket{lcore=\"%u\",le=\"%s\"} %lu\n",
			     pe->lcore_id, le[b], (unsigned long)cum);
		}
		emit(t, "taskwire_lcore_rx_burst_size_count{lcore=\"%u\"} %lu\n", pe->lcore_id,
		     (unsigned long)cum);
		emit(t, "taskwire_lcore_rx_burst_size_sum{lcore=\"%u\"} %lu\n", pe->lcore_id,
		     (unsigned long)__atomic_load_n(&sh->stats[pe->qsbr_id].c[TW_CNT_rx_packets],
						    __ATOMIC_RELAXED));
	}
}

/* tw-control's own gauges: result store and scheduler. */
static void
control_gauges(struct text *t, const struct ctl_ctx *ctx)
{
	if (ctx->store != NULL) {
		family(t, "taskwire_result_store_records", "gauge",
		       "Results kept in the result store (expired ones until swept)");
		emit(t, "taskwire_result_store_records %lu\n",
		     (unsigned long)tw_store_count(ctx->store));
	}
	if (ctx->sched != NULL) {
		family(t, "taskwire_scheduled_tasks", "gauge",
		       "Tasks held by the scheduler (eta, countdown, retries)");
		emit(t, "taskwire_scheduled_tasks %lu\n", (unsigned long)ctl_sched_count(ctx->sched));
	}
}

char *
ctl_metrics_render(const struct ctl_ctx *ctx)
{
	struct text t = { .cap = 16384 };

	t.p = malloc(t.cap);
	if (t.p == NULL)
		return NULL;
	t.p[0] = '\0';
	engine_counters(&t, ctx->broker.sh);
	lcores(&t, ctx->broker.sh);
	queues(&t, &ctx->broker);
	consumers(&t);
	exchanges(&t, &ctx->broker);
	tasks(&t, ctx->broker.sh);
	bursts(&t, ctx->broker.sh);
	control_gauges(&t, ctx);
	family(&t, "taskwire_routes_version", "gauge", "Version of the routing table in use");
	emit(&t, "taskwire_routes_version %lu\n",
	     (unsigned long)__atomic_load_n(&ctx->broker.sh->routes_version, __ATOMIC_ACQUIRE));
	if (t.oom) {
		free(t.p);
		return NULL;
	}
	return t.p;
}

static enum MHD_Result
answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_len, void **state)
{
	struct ctl_metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *body;

	(void)version;
	(void)upload;
	ctl_http_guard_request(&m->guard, conn);
	/* a POST comes in several calls: the first sets up, the middle ones carry
	 * the body (none of ours reads one), the last (no data) answers */
	if (strcmp(method, "POST") == 0) {
		if (*state == NULL) {
			*state = m;
			return MHD_YES;
		}
		if (*upload_len != 0) {
			*upload_len = 0;
			return MHD_YES;
		}
	}
	if (ctl_http_route(m->ctx, &m->guard, conn, url, method, &ret))
		return ret;
	if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
		static const char nf[] = "not found: /metrics, /, /api/..., /events, /ws\n";

		r = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, r);
		MHD_destroy_response(r);
		return ret;
	}
	pthread_mutex_lock(&m->ctx->lock);
	body = ctl_metrics_render(m->ctx);
	m->scrapes++;
	pthread_mutex_unlock(&m->ctx->lock);
	if (body == NULL)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

struct ctl_metrics *
ctl_metrics_start(struct ctl_ctx *ctx, const char *listen, const char *token_path, long gid)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct ctl_metrics *m;
	char host[64];
	const char *colon = strrchr(listen, ':');
	const union MHD_DaemonInfo *info;
	unsigned long port;
	char *end;

	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
		fprintf(stderr, "tw-control: --metrics %s: expected ADDR:PORT\n", listen);
		return NULL;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port > 65535 || inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "tw-control: --metrics %s: expected IPv4 ADDR:PORT\n", listen);
		return NULL;
	}
	a.sin_port = htons((uint16_t)port);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->ctx = ctx;
	{
		int ret = ctl_http_guard_init(&m->guard, token_path, gid);

		if (ret != 0) {
			fprintf(stderr, "tw-control: HTTP token file %s: %s\n", token_path,
				strerror(-ret));
			free(m);
			return NULL;
		}
	}
	m->guard.port = (uint16_t)port;
	/*
	 * A thread per connection: event streams block their own thread only.
	 * The limit leaves room for every slow client the guard lets wait, every
	 * stream, and as many ordinary requests again; 5 s of silence ends a
	 * connection, the guard's deadline one that trickles.
	 */
	m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
					MHD_USE_POLL | MHD_ALLOW_UPGRADE,
				0, ctl_http_guard_accept, &m->guard, answer, m,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned int)5, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned int)(2 * (CTL_HTTP_PENDING_MAX + CTL_HTTP_STREAMS_MAX)),
				MHD_OPTION_NOTIFY_CONNECTION, ctl_http_guard_notify, &m->guard,
				MHD_OPTION_NOTIFY_COMPLETED, ctl_http_guard_completed, &m->guard,
				MHD_OPTION_END);
	if (m->d == NULL) {
		fprintf(stderr, "tw-control: cannot serve metrics on %s (port in use?)\n", listen);
		ctl_http_guard_fini(&m->guard);
		free(m);
		return NULL;
	}
	info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info != NULL ? info->port : (uint16_t)port;
	__atomic_store_n(&m->guard.port, m->port, __ATOMIC_RELAXED);
	return m;
}

uint16_t
ctl_metrics_port(const struct ctl_metrics *m)
{
	return m->port;
}

void
ctl_metrics_tick(struct ctl_metrics *m)
{
	if (m != NULL)
		ctl_http_guard_reap(&m->guard);
}

const struct ctl_http_guard *
ctl_metrics_guard(const struct ctl_metrics *m)
{
	return m != NULL ? &m->guard : NULL;
}

void
ctl_metrics_stop(struct ctl_metrics *m)
{
	if (m == NULL)
		return;
	/* streams first: the daemon waits for its connection threads */
	ctl_http_guard_stop(&m->guard);
	MHD_stop_daemon(m->d);
	ctl_http_guard_fini(&m->guard);
	free(m);
}
