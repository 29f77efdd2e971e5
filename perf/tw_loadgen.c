/*
 * tw-loadgen: a DPDK load generator for taskwire. It drives tw-dataplane
 * through any DPDK port (memif by default in the perf suite, also
 * af_packet, TAP or a real NIC), publishing task frames and reading the
 * engine's confirms and results.
 *
 *   tw-loadgen [EAL options] -- --engine-ip A.B.C.D --ip A.B.C.D [options]
 *
 * Two modes:
 *  - open loop (--rate R tasks/s): frames leave on a fixed schedule and
 *    latency is measured from each task's *intended* send time, so a
 *    stalled engine shows as queueing delay instead of being hidden
 *    (no coordinated omission);
 *  - closed loop (--window W): at most W tasks outstanding (sent, not yet
 *    answered by a result or a NACK).
 * It prints a progress line each second and a JSON report at the end:
 * sent, acked, NACKed by reason, results by state, lost, rates, and
 * confirm and result latency (p50/p90/p99/p99.9/max) from log-linear
 * histograms (lg_hist.h).
 *
 * One lcore does everything (send, receive, account); per packet there is
 * no allocation besides the mbuf, no syscall and no print. Frames are
 * copies of one template with only the ids patched. With --sample N, one
 * reply packet in N is decoded whole (its tasks' latencies sampled); the
 * others are only counted from their top-level fields (results by state,
 * NACKs), so the generator's cost per task stays well below the engine's
 * and the engine, not the generator, can be the limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_udp.h>

#include "lg_hist.h"
#include "tw_port.h"
#include "tw_wire.h"
#include "tw_wire_priv.h"

#define BURST 32
#define SLOTS (1u << 22)           /* send times of tasks in flight, by id */
#define MAX_TASKS_PER_FRAME 64
#define REPLY_ITEMS 512
#define LG_UDP_PORT 40000

struct lg_opts {
	uint32_t engine_ip, ip;    /* network order */
	uint16_t engine_port;
	const char *exchange, *key, *task;
	uint32_t args_size, tasks_per_frame;
	double rate;               /* tasks/s; 0: closed loop */
	uint64_t window;
	double duration;
	const char *json;          /* report file; NULL: stdout */
	uint16_t port;
	bool store_results;        /* --store-results: results also go to the result store */
	uint16_t rx_queues;        /* RX queues to poll: one per engine lcore that replies, on
				    * links (memif) where each sender TX queue is a ring of its own */
	uint32_t sample;           /* decode one reply packet in this many; count the rest */
};

struct lg_stats {
	uint64_t frames_sent, tasks_sent, acks, nacks, results, succeeded, failed;
	uint64_t answered;         /* tasks with a first result or a NACK (a fanout task has a
				    * result per queue): what the window and "lost" count */
	uint64_t nack_reason[16];
	uint64_t rx_packets, rx_other, bad_replies, unknown_ids, tx_full, no_mbuf;
	uint64_t replies_counted;  /* reply packets only counted (--sample), not decoded */
	struct lg_hist confirm_ns, result_ns;
};

/* What the load generator knows about each task in flight, by id. */
struct slot {
	uint64_t id;
	uint64_t sent_tsc;         /* intended send time (open loop) or actual (closed) */
	bool answered;
};

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: tw-loadgen [EAL options] -- --engine-ip A.B.C.D --ip A.B.C.D [options]\n"
		"  --engine-port N       engine UDP port (5555)\n"
		"  --exchange NAME       exchange (\"\": the default exchange)\n"
		"  --key KEY             routing key (\"bench\")\n"
		"  --task NAME           task name (noop)\n"
		"  --args-size N         args bytes per task (64)\n"
		"  --tasks-per-frame N   1..%d (1)\n"
		"  --rate R              open loop: tasks per second\n"
		"  --window W            closed loop: tasks outstanding (1024, when no --rate)\n"
		"  --duration S          seconds (5)\n"
		"  --port N              DPDK port id (0)\n"
		"  --json FILE           write the report there (default: stdout)\n"
		"  --store-results       keep results in the result store too (default: ignore_result)\n"
		"  --rx-queues N         RX queues to poll (1): on memif, one per engine polling lcore\n"
		"  --sample N            decode one reply packet in N for latency, count the others (1)\n",
		MAX_TASKS_PER_FRAME);
}

static int
parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = a.s_addr;
	return 0;
}

static int
parse_opts(int argc, char **argv, struct lg_opts *o)
{
	static const struct option longs[] = {
		{ "engine-ip", required_argument, NULL, 'E' }, { "ip", required_argument, NULL, 'I' },
		{ "engine-port", required_argument, NULL, 'P' }, { "exchange", required_argument, NULL, 'x' },
		{ "key", required_argument, NULL, 'k' },        { "task", required_argument, NULL, 't' },
		{ "args-size", required_argument, NULL, 'a' },  { "tasks-per-frame", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },       { "window", required_argument, NULL, 'w' },
		{ "duration", required_argument, NULL, 'd' },   { "json", required_argument, NULL, 'j' },
		{ "port", required_argument, NULL, 'p' },       { "help", no_argument, NULL, 'h' },
		{ "store-results", no_argument, NULL, 'S' },   { "rx-queues", required_argument, NULL, 'q' },
		{ "sample", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct lg_opts){ .engine_port = 5555, .exchange = "", .key = "bench", .task = "noop",
			       .args_size = 64, .tasks_per_frame = 1, .window = 1024, .duration = 5,
			       .rx_queues = 1, .sample = 1 };
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'E': if (parse_ip(optarg, &o->engine_ip) != 0) return -1; break;
		case 'I': if (parse_ip(optarg, &o->ip) != 0) return -1; break;
		case 'P': o->engine_port = (uint16_t)atoi(optarg); break;
		case 'x': o->exchange = optarg; break;
		case 'k': o->key = optarg; break;
		case 't': o->task = optarg; break;
		case 'a': o->args_size = (uint32_t)atoi(optarg); break;
		case 'n': o->tasks_per_frame = (uint32_t)atoi(optarg); break;
		case 'r': o->rate = atof(optarg); break;
		case 'w': o->window = strtoull(optarg, NULL, 10); break;
		case 'd': o->duration = atof(optarg); break;
		case 'j': o->json = optarg; break;
		case 'p': o->port = (uint16_t)atoi(optarg); break;
		case 'S': o->store_results = true; break;
		case 'q': o->rx_queues = (uint16_t)atoi(optarg); break;
		case 's': o->sample = (uint32_t)atoi(optarg); break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -1;
		}
	}
	if (o->engine_ip == 0 || o->ip == 0 || o->tasks_per_frame < 1 ||
	    o->tasks_per_frame > MAX_TASKS_PER_FRAME || o->args_size > 1200 || o->duration <= 0 ||
	    o->window < 1 || o->window > SLOTS / 2 || o->rate < 0 || o->rx_queues < 1 ||
	    o->rx_queues > 16 || o->sample < 1) {
		fprintf(stderr, "tw-loadgen: --engine-ip and --ip are required; --tasks-per-frame "
				"1..%d, --args-size <= 1200, --window 1..%u, --rx-queues 1..16, "
				"--sample >= 1\n",
			MAX_TASKS_PER_FRAME, SLOTS / 2);
		return -1;
	}
	return 0;
}

/* The packet every frame is copied from, with the offsets to patch. */
struct template {
	uint8_t bytes[1514];
	uint16_t len;
	uint16_t frame_id_off;
	uint16_t task_id_off[MAX_TASKS_PER_FRAME];
	uint32_t n_tasks;
};

static int
build_template(struct template *t, const struct lg_opts *o, const struct rte_ether_addr *src,
	       const struct rte_ether_addr *dst)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)t->bytes;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint8_t *payload = (uint8_t *)(udp + 1), args[1200];
	uint32_t room = (uint32_t)(sizeof(t->bytes) - (payload - t->bytes));
	struct tw_wbuf w;

	memset(t, 0, sizeof(*t));
	memset(args, 'a', sizeof(args));
	tw_wbuf_init(&w, payload, room);
	tw_wire_put_header(&w, 1);
	t->frame_id_off = (uint16_t)((payload - t->bytes) + TW_WIRE_FRAME_ID_OFFSET);
	for (uint32_t i = 0; i < o->tasks_per_frame; i++) {
		/* results come back in replies; the store keeps them only when asked
		 * (Celery benchmarks likewise run with ignore_result) */
		struct tw_wire_task_opts opts = { .ignore_result = !o->store_results };
		uint32_t off = tw_wire_put_task(&w, 1, o->task, o->exchange, o->key, args,
						o->args_size, &opts);

		if (off == UINT32_MAX) {
			fprintf(stderr, "tw-loadgen: %u tasks of %u bytes do not fit in one frame\n",
				o->tasks_per_frame, o->args_size);
			return -1;
		}
		t->task_id_off[i] = (uint16_t)((payload - t->bytes) + off);
	}
	t->n_tasks = o->tasks_per_frame;
	rte_ether_addr_copy(dst, &eth->dst_addr);
	rte_ether_addr_copy(src, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + sizeof(*udp) + w.len));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = o->ip;
	ip->dst_addr = o->engine_ip;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(LG_UDP_PORT);
	udp->dst_port = rte_cpu_to_be_16(o->engine_port);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + w.len));
	udp->dgram_cksum = 0; /* optional in IPv4: the payload is patched per frame */
	t->len = (uint16_t)(sizeof(*eth) + sizeof(*ip) + sizeof(*udp) + w.len);
	return 0;
}

/* Ask for the engine's MAC until it answers (5 s). */
static int
resolve_engine(const struct lg_opts *o, struct rte_mempool *pool, const struct rte_ether_addr *us,
	       struct rte_ether_addr *engine)
{
	uint64_t hz = rte_get_timer_hz(), deadline = rte_get_timer_cycles() + 5 * hz, next = 0;

	while (rte_get_timer_cycles() < deadline && !stop) {
		struct rte_mbuf *pkts[BURST];
		uint16_t n;

		if (rte_get_timer_cycles() >= next) {
			struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
			struct rte_ether_hdr *eth;
			struct rte_arp_hdr *arp;

			if (m == NULL)
				return -ENOMEM;
			eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(*arp));
			arp = (struct rte_arp_hdr *)(eth + 1);
			memset(eth, 0xff, sizeof(eth->dst_addr));
			rte_ether_addr_copy(us, &eth->src_addr);
			eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
			arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
			arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
			arp->arp_hlen = RTE_ETHER_ADDR_LEN;
			arp->arp_plen = 4;
			arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
			rte_ether_addr_copy(us, &arp->arp_data.arp_sha);
			arp->arp_data.arp_sip = o->ip;
			memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
			arp->arp_data.arp_tip = o->engine_ip;
			if (rte_eth_tx_burst(o->port, 0, &m, 1) != 1)
				rte_pktmbuf_free(m);
			next = rte_get_timer_cycles() + hz / 10;
		}
		n = rte_eth_rx_burst(o->port, 0, pkts, BURST);
		for (uint16_t i = 0; i < n; i++) {
			struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkts[i], struct rte_ether_hdr *);
			struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);

			if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) &&
			    pkts[i]->data_len >= sizeof(*eth) + sizeof(*arp) &&
			    arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY) &&
			    arp->arp_data.arp_sip == o->engine_ip) {
				rte_ether_addr_copy(&arp->arp_data.arp_sha, engine);
				rte_pktmbuf_free_bulk(pkts, n);
				return 0;
			}
		}
		rte_pktmbuf_free_bulk(pkts, n);
	}
	return -ETIMEDOUT;
}

struct lg {
	struct lg_opts o;
	struct rte_mempool *pool;      /* RX, and ARP */
	struct rte_mempool *tx_pool;   /* frames: every mbuf already holds the template */
	struct template tpl;
	struct slot *slots;
	uint64_t next_id, first_id, frame_id;
	uint64_t tsc_hz;
	uint64_t ns_per_tick_q32;      /* 2^32 ns per TSC tick: a multiply per latency, not a divide */
	uint32_t until_sample;         /* reply packets to count before the next decoded one */
	struct lg_stats st;
};

/*
 * Build and send up to n frames; frame i is stamped when + i * gap (TSC),
 * its intended send time. @return frames sent.
 */
static uint32_t
send_frames(struct lg *g, uint32_t n, uint64_t when, uint64_t gap)
{
	struct rte_mbuf *pkts[BURST];
	uint16_t sent;

	if (n > BURST)
		n = BURST;
	if (rte_pktmbuf_alloc_bulk(g->tx_pool, pkts, n) != 0) {
		g->st.no_mbuf++;
		return 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		/* the bytes are there since the pool was filled: only ids change */
		uint8_t *p = (uint8_t *)rte_pktmbuf_append(pkts[i], g->tpl.len);
		uint64_t fid = ++g->frame_id;

		memcpy(p + g->tpl.frame_id_off, &fid, 8);
		for (uint32_t k = 0; k < g->tpl.n_tasks; k++) {
			uint64_t id = g->next_id + k;
			struct slot *s = &g->slots[id & (SLOTS - 1)];

			memcpy(p + g->tpl.task_id_off[k], &id, 8);
			s->id = id;
			s->answered = false;
			s->sent_tsc = when + i * gap;
		}
		g->next_id += g->tpl.n_tasks;
	}
	sent = rte_eth_tx_burst(g->o.port, 0, pkts, (uint16_t)n);
	if (sent < n) {
		/* the ids of unsent frames stay unused: they count as never sent */
		g->st.tx_full += n - sent;
		rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
	}
	g->st.frames_sent += sent;
	g->st.tasks_sent += (uint64_t)sent * g->tpl.n_tasks;
	return sent;
}

static void
account(struct lg *g, const struct tw_reply_item *it, uint64_t now)
{
	struct slot *s = &g->slots[it->task_id & (SLOTS - 1)];
	uint64_t ns;

	if (s->id != it->task_id || it->task_id < g->first_id) {
		g->st.unknown_ids++;
		return;
	}
	ns = (uint64_t)(((unsigned __int128)(now - s->sent_tsc) * g->ns_per_tick_q32) >> 32);
	if (!s->answered && (it->kind != TW_ITEM_CONFIRM || !it->ack)) {
		s->answered = true;
		g->st.answered++;
	}
	if (it->kind == TW_ITEM_CONFIRM) {
		if (it->ack) {
			g->st.acks++;
		} else {
			g->st.nacks++;
			g->st.nack_reason[it->reason & 15]++;
		}
		lg_hist_add(&g->st.confirm_ns, ns);
	} else {
		g->st.results++;
		if (it->state == TW_ST_SUCCESS)
			g->st.succeeded++;
		else
			g->st.failed++;
		lg_hist_add(&g->st.result_ns, ns);
	}
}

/* The varint field f of a Confirm or Result (0 when absent). */
static uint64_t
varint_field(struct tw_str span, uint32_t want)
{
	struct cursor c = { span.p, span.p + span.len };
	uint32_t f;
	unsigned wt;
	uint64_t v = 0;

	while (c.p < c.end && get_tag(&c, &f, &wt)) {
		if (f == want && wt == WT_VARINT)
			return get_varint(&c, &v) ? v : 0;
		if (!skip_field(&c, wt))
			break;
	}
	return 0;
}

/*
 * A reply counted, not decoded: its Results by state and its NACKed
 * Confirms, from the Frame's top-level fields. Each is an answer (the
 * window's accounting: one queue per task); no task id is looked at, so
 * no latency. @return false when the payload does not walk as a Frame.
 */
static bool
count_reply(struct lg *g, const uint8_t *p, uint32_t len)
{
	struct cursor c = { p, p + len };
	uint32_t f;
	unsigned wt;

	while (c.p < c.end) {
		struct tw_str s;

		if (!get_tag(&c, &f, &wt))
			return false;
		if ((f != F_FRAME_CONFIRMS && f != F_FRAME_RESULTS) || wt != WT_LEN) {
			if (!skip_field(&c, wt))
				return false;
			continue;
		}
		if (!get_len(&c, &s))
			return false;
		if (f == F_FRAME_RESULTS) {
			g->st.results++;
			g->st.answered++;
			if (varint_field(s, F_RESULT_STATE) == TW_ST_SUCCESS)
				g->st.succeeded++;
			else
				g->st.failed++;
		} else if (varint_field(s, F_CONFIRM_ACK) != 0) {
			g->st.acks++;
		} else {
			uint64_t reason = varint_field(s, F_CONFIRM_REASON);

			g->st.nacks++;
			g->st.answered++;
			g->st.nack_reason[reason & 15]++;
		}
	}
	g->st.replies_counted++;
	return true;
}

static void
receive_queue(struct lg *g, uint16_t queue)
{
	static struct tw_reply_item items[REPLY_ITEMS];
	struct rte_mbuf *pkts[BURST];
	uint16_t n = rte_eth_rx_burst(g->o.port, queue, pkts, BURST);
	uint64_t now = rte_rdtsc();

	g->st.rx_packets += n;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkts[i], struct rte_ether_hdr *);
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
		struct rte_udp_hdr *udp;
		uint64_t fid;
		uint32_t hl, len;
		int k;

		if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
		    pkts[i]->data_len < sizeof(*eth) + sizeof(*ip) + sizeof(*udp) ||
		    ip->next_proto_id != IPPROTO_UDP) {
			g->st.rx_other++;
			continue;
		}
		hl = (ip->version_ihl & 0xf) * 4u;
		udp = (struct rte_udp_hdr *)((uint8_t *)ip + hl);
		len = rte_be_to_cpu_16(udp->dgram_len);
		if (udp->dst_port != rte_cpu_to_be_16(LG_UDP_PORT) || len < sizeof(*udp) ||
		    sizeof(*eth) + hl + len > pkts[i]->data_len) {
			g->st.rx_other++;
			continue;
		}
		if (g->o.sample > 1 && g->until_sample-- != 0) {
			if (!count_reply(g, (const uint8_t *)(udp + 1), len - sizeof(*udp)))
				g->st.bad_replies++;
			continue;
		}
		g->until_sample = g->o.sample - 1;
		k = tw_wire_decode_replies((const uint8_t *)(udp + 1), len - sizeof(*udp), &fid, items,
					   REPLY_ITEMS);
		if (k < 0) {
			g->st.bad_replies++;
			continue;
		}
		for (int j = 0; j < k; j++)
			account(g, &items[j], now);
	}
	rte_pktmbuf_free_bulk(pkts, n);
}

static void
receive(struct lg *g)
{
	for (uint16_t q = 0; q < g->o.rx_queues; q++)
		receive_queue(g, q);
}

static void
report(struct lg *g, FILE *f, double secs)
{
	const struct lg_stats *s = &g->st;
	uint64_t lost = s->tasks_sent > s->answered ? s->tasks_sent - s->answered : 0;

	fprintf(f, "{\n  \"mode\": \"%s\", \"offered_tasks_per_sec\": %.0f, \"tasks_per_frame\": %u,"
		   " \"args_size\": %u, \"task\": \"%s\", \"seconds\": %.3f,\n",
		g->o.rate > 0 ? "open" : "closed", g->o.rate, g->o.tasks_per_frame, g->o.args_size,
		g->o.task, secs);
	fprintf(f, "  \"frames_sent\": %" PRIu64 ", \"tasks_sent\": %" PRIu64 ", \"acked\": %" PRIu64
		   ", \"nacked\": %" PRIu64 ", \"results\": %" PRIu64 ", \"succeeded\": %" PRIu64
		   ", \"failed\": %" PRIu64 ", \"lost\": %" PRIu64 ",\n",
		s->frames_sent, s->tasks_sent, s->acks, s->nacks, s->results, s->succeeded, s->failed,
		lost);
	fprintf(f, "  \"nacked_queue_full\": %" PRIu64 ", \"nacked_no_resources\": %" PRIu64
		   ", \"tx_full\": %" PRIu64 ", \"no_mbuf\": %" PRIu64 ", \"unknown_ids\": %" PRIu64
		   ", \"bad_replies\": %" PRIu64 ", \"sample\": %u, \"replies_counted\": %" PRIu64 ",\n",
		s->nack_reason[TW_NACK_QUEUE_FULL], s->nack_reason[TW_NACK_NO_RESOURCES], s->tx_full,
		s->no_mbuf, s->unknown_ids, s->bad_replies, g->o.sample, s->replies_counted);
	fprintf(f, "  \"tasks_per_sec\": %.0f, \"results_per_sec\": %.0f, \"frames_per_sec\": %.0f,\n",
		(double)s->tasks_sent / secs, (double)s->results / secs, (double)s->frames_sent / secs);
	fprintf(f, "  \"confirm_ns\": {\"p50\": %" PRIu64 ", \"p90\": %" PRIu64 ", \"p99\": %" PRIu64
		   ", \"p999\": %" PRIu64 ", \"max\": %" PRIu64 "},\n",
		lg_hist_quantile(&s->confirm_ns, 0.5), lg_hist_quantile(&s->confirm_ns, 0.9),
		lg_hist_quantile(&s->confirm_ns, 0.99), lg_hist_quantile(&s->confirm_ns, 0.999),
		s->confirm_ns.max);
	fprintf(f, "  \"result_ns\": {\"p50\": %" PRIu64 ", \"p90\": %" PRIu64 ", \"p99\": %" PRIu64
		   ", \"p999\": %" PRIu64 ", \"max\": %" PRIu64 "}\n}\n",
		lg_hist_quantile(&s->result_ns, 0.5), lg_hist_quantile(&s->result_ns, 0.9),
		lg_hist_quantile(&s->result_ns, 0.99), lg_hist_quantile(&s->result_ns, 0.999),
		s->result_ns.max);
}

/* @return seconds of the sending phase (the drain after it is not counted). */
static double
run(struct lg *g)
{
	uint64_t start = rte_rdtsc(), end = start + (uint64_t)(g->o.duration * (double)g->tsc_hz);
	uint64_t frame_gap = 0, next_send = start, next_print = start + g->tsc_hz;
	uint64_t last_results = 0, drain_end;
	double send_secs;

	if (g->o.rate > 0)
		frame_gap = (uint64_t)((double)g->tsc_hz * g->o.tasks_per_frame / g->o.rate);
	while (!stop) {
		uint64_t now = rte_rdtsc();

		if (now >= end)
			break;
		if (g->o.rate > 0) {
			/* every frame due by now, each stamped with its own intended time */
			if (next_send <= now) {
				uint64_t due = (now - next_send) / (frame_gap ? frame_gap : 1) + 1;
				uint32_t sent = send_frames(g, due > BURST ? BURST : (uint32_t)due,
							    next_send, frame_gap);

				next_send += sent * frame_gap;
			}
		} else {
			uint64_t outstanding = g->st.tasks_sent - g->st.answered;
			uint64_t room = outstanding < g->o.window ? g->o.window - outstanding : 0;
			uint32_t frames = (uint32_t)(room / g->tpl.n_tasks);

			if (frames != 0)
				send_frames(g, frames, now, 0);
		}
		receive(g);
		if (now >= next_print) {
			fprintf(stderr, "tw-loadgen: %.0f results/s, sent %" PRIu64 ", acked %" PRIu64
					", nacked %" PRIu64 ", result p99 %.1f us\n",
				(double)(g->st.results - last_results), g->st.tasks_sent, g->st.acks,
				g->st.nacks, (double)lg_hist_quantile(&g->st.result_ns, 0.99) / 1000.0);
			last_results = g->st.results;
			next_print += g->tsc_hz;
		}
	}
	send_secs = (double)(rte_rdtsc() - start) / (double)g->tsc_hz;
	/* answers still in flight: up to one second */
	drain_end = rte_rdtsc() + g->tsc_hz;
	while (rte_rdtsc() < drain_end && g->st.answered < g->st.tasks_sent)
		receive(g);
	return send_secs;
}

/* rte_mempool_obj_iter callback: copy the template into one mbuf's data room. */
static void
fill_template(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	const struct template *t = arg;
	struct rte_mbuf *m = obj;

	(void)mp;
	(void)idx;
	memcpy(rte_pktmbuf_mtod(m, uint8_t *), t->bytes, t->len);
}

int
main(int argc, char **argv)
{
	static struct lg g;
	struct rte_ether_addr us, engine;
	int ret, sep = argc;
	uint16_t rxq;
	FILE *out = stdout;

	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "tw-loadgen: EAL: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	sep = ret;
	argv[sep] = argv[0];
	ret = parse_opts(argc - sep, &argv[sep], &g.o);
	if (ret != 0) {
		rte_eal_cleanup();
		return ret > 0 ? 0 : 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	g.pool = rte_pktmbuf_pool_create("lg_pool", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					 (int)rte_socket_id());
	g.slots = calloc(SLOTS, sizeof(*g.slots));
	if (g.pool == NULL || g.slots == NULL || !rte_eth_dev_is_valid_port(g.o.port) ||
	    tw_port_init(g.o.port, g.pool, g.o.rx_queues, 1, 1024, 1024, &rxq) != 0) {
		fprintf(stderr, "tw-loadgen: port %u set-up failed\n", g.o.port);
		rte_eal_cleanup();
		return 1;
	}
	rte_eth_macaddr_get(g.o.port, &us);
	if (resolve_engine(&g.o, g.pool, &us, &engine) != 0) {
		fprintf(stderr, "tw-loadgen: no ARP reply from the engine\n");
		tw_port_close(g.o.port);
		rte_eal_cleanup();
		return 1;
	}
	if (build_template(&g.tpl, &g.o, &us, &engine) != 0) {
		tw_port_close(g.o.port);
		rte_eal_cleanup();
		return 2;
	}
	/*
	 * TX mbufs get the template once, here: rte_pktmbuf_alloc() resets
	 * lengths, not data, and nothing else writes into this pool (replies
	 * arrive in g.pool), so a send only patches the ids.
	 */
	g.tx_pool = rte_pktmbuf_pool_create("lg_tx_pool", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					    (int)rte_socket_id());
	if (g.tx_pool == NULL) {
		fprintf(stderr, "tw-loadgen: no memory for the TX pool\n");
		tw_port_close(g.o.port);
		rte_eal_cleanup();
		return 1;
	}
	rte_mempool_obj_iter(g.tx_pool, fill_template, &g.tpl);
	g.tsc_hz = rte_get_tsc_hz();
	g.ns_per_tick_q32 = (uint64_t)(((unsigned __int128)1000000000u << 32) / g.tsc_hz);
	g.first_id = g.next_id = ((uint64_t)rte_rdtsc() << 20) | 1; /* distinct across runs */
	fprintf(stderr, "tw-loadgen: engine %02x:%02x:%02x:%02x:%02x:%02x, %s loop, %u tasks/frame, "
			"%u-byte args, %.1f s\n",
		engine.addr_bytes[0], engine.addr_bytes[1], engine.addr_bytes[2], engine.addr_bytes[3],
		engine.addr_bytes[4], engine.addr_bytes[5], g.o.rate > 0 ? "open" : "closed",
		g.o.tasks_per_frame, g.o.args_size, g.o.duration);
	{
		double secs = run(&g);

		if (g.o.json != NULL) {
			out = fopen(g.o.json, "w");
			if (out == NULL) {
				fprintf(stderr, "tw-loadgen: %s: %s\n", g.o.json, strerror(errno));
				out = stdout;
			}
		}
		report(&g, out, secs);
		if (out != stdout)
			fclose(out);
	}
	tw_port_close(g.o.port);
	free(g.slots);
	rte_eal_cleanup();
	return 0;
}
