/*
 * tw-publish-bench: a closed-loop publisher on libtaskwire (kernel UDP).
 * It keeps at most --window tasks outstanding (published, without a
 * result or a NACK yet), and measures, per task, publish -> confirm and
 * publish -> result. With --confirm-window a task is outstanding until its
 * confirm instead, and the rate counts confirms (as a broker's publisher
 * with confirms does): for queues nothing consumes while it runs, where a
 * durable queue's ACK cannot be implied by a result that came first. It drives `make run`'s demo workload; the DPDK load
 * generator for the perf suites is tw-loadgen.
 *
 *   tw-publish-bench --engine IP:PORT [--queue NAME] [--task NAME] [--args STR]
 *                    [--count N] [--window W] [--confirm-window] [--add K] [--json]
 *
 * Exit 0 when every task was ACKed and returned a result (and every add
 * was correct), 1 otherwise, 2 on usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taskwire/client.h"

struct bench {
	uint64_t first_id, count;
	uint64_t *sent_ns;          /* per task, indexed by id - first_id */
	uint32_t *confirm_us, *result_us;
	uint64_t acked, nacked, results, succeeded, failed, unknown, duplicates;
	uint8_t *resolved;          /* per task: a final result or a NACK arrived */
	uint32_t *countdown_ms;     /* per task, with --countdown-spread; NULL otherwise */
	uint32_t *late_us;          /* result arrival - due, per task */
	uint64_t n_late;
	uint64_t nack_by_reason[16];
	uint64_t n_confirm_lat, n_result_lat;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
on_event(const struct tw_event *ev, void *arg)
{
	struct bench *b = arg;
	uint64_t i = ev->task_id - b->first_id, t = now_ns();

	if (ev->task_id < b->first_id || i >= b->count) {
		b->unknown++;
		return;
	}
	/* exactly one end per task: a second one is counted, not tallied */
	if ((ev->kind == TW_EV_RESULT || !ev->ack) && b->resolved[i]++ != 0) {
		b->duplicates++;
		return;
	}
	if (ev->kind == TW_EV_CONFIRM) {
		if (ev->ack) {
			b->acked++;
		} else {
			b->nacked++;
			b->nack_by_reason[ev->nack_reason & 15]++;
		}
		b->confirm_us[b->n_confirm_lat++] = (uint32_t)((t - b->sent_ns[i]) / 1000);
	} else {
		b->results++;
		if (ev->state == TW_STATE_SUCCESS)
			b->succeeded++;
		else
			b->failed++;
		b->result_us[b->n_result_lat++] = (uint32_t)((t - b->sent_ns[i]) / 1000);
		if (b->countdown_ms != NULL) {
			uint64_t due = b->sent_ns[i] + (uint64_t)b->countdown_ms[i] * 1000000;

			b->late_us[b->n_late++] = t > due ? (uint32_t)((t - due) / 1000) : 0;
		}
	}
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double
percentile(uint32_t *v, uint64_t n, double p)
{
	if (n == 0)
		return 0;
	return v[(uint64_t)((double)(n - 1) * p)];
}

/* K add tasks [i,i], each checked against 2i. @return correct answers. */
static unsigned
check_adds(struct tw_client *c, const char *queue, unsigned k)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < k; i++) {
		char args[64], want[32];
		struct tw_publish p = { .routing_key = queue, .task = "add", .args = args };
		struct tw_outcome o;
		uint64_t id;

		p.args_len = (size_t)snprintf(args, sizeof(args), "[%u,%u]", i, i);
		snprintf(want, sizeof(want), "%u", 2 * i);
		if (tw_client_publish(c, &p, &id) != 0 ||
		    tw_client_wait(c, id, 2000, &o, NULL, NULL) != 0)
			continue;
		ok += o.has_result && o.state == TW_STATE_SUCCESS && o.value_len == strlen(want) &&
		      memcmp(o.value, want, o.value_len) == 0;
		tw_outcome_clear(&o);
	}
	return ok;
}

int
main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "engine", required_argument, NULL, 'e' }, { "queue", required_argument, NULL, 'q' },
		{ "task", required_argument, NULL, 't' },   { "args", required_argument, NULL, 'a' },
		{ "count", required_argument, NULL, 'n' },  { "window", required_argument, NULL, 'w' },
		{ "add", required_argument, NULL, 'A' },    { "json", no_argument, NULL, 'j' },
		{ "drain", required_argument, NULL, 'D' },
		{ "duration", required_argument, NULL, 'T' },
		{ "countdown-spread", required_argument, NULL, 'C' },
		{ "ignore-result", no_argument, NULL, 'I' },
		{ "rate", required_argument, NULL, 'R' },
		{ "poll-every", required_argument, NULL, 'P' },
		{ "confirm-window", no_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	const char *engine = NULL, *queue = "bench", *task = "noop", *args = "";
	uint64_t count = 200000, window = 2048, published = 0, start, end, deadline;
	/* publishes between two reads of the replies: more lets libtaskwire send
	 * more frames per system call, fewer answers sooner */
	uint64_t poll_every = 32;
	unsigned adds = 0, adds_ok = 0;
	double drain_s = 2, duration_s = 0, max_rate = 0;
	uint64_t stop_ns;
	uint32_t spread_ms = 0;
	bool json = false, ignore_result = false, confirm_window = false;
	struct bench b = { 0 };
	struct tw_client_stats cs;
	struct tw_client *c;
	int opt;

	while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (opt) {
		case 'e': engine = optarg; break;
		case 'q': queue = optarg; break;
		case 't': task = optarg; break;
		case 'a': args = optarg; break;
		case 'n': count = strtoull(optarg, NULL, 10); break;
		case 'w': window = strtoull(optarg, NULL, 10); break;
		case 'A': adds = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'j': json = true; break;
		case 'D': drain_s = atof(optarg); break;
		case 'T': duration_s = atof(optarg); break;
		case 'C': spread_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'I': ignore_result = true; break;
		case 'R': max_rate = atof(optarg); break;
		case 'P': poll_every = strtoull(optarg, NULL, 10); break;
		case 'W': confirm_window = true; break;
		default:
			fprintf(stderr, "usage: tw-publish-bench --engine IP:PORT [--queue Q] [--task T] "
					"[--args S] [--count N] [--window W] [--add K] [--drain S] "
					"[--countdown-spread MS] [--duration S] [--rate R] [--ignore-result] "
					"[--poll-every N] [--confirm-window] [--json]\n");
			return 2;
		}
	}
	if (engine == NULL || count == 0 || count > 100000000 || window == 0 || poll_every == 0) {
		fprintf(stderr, "tw-publish-bench: --engine is required; --count 1..1e8, --window >= 1, "
				"--poll-every >= 1\n");
		return 2;
	}
	c = tw_client_open(engine, NULL);
	if (c == NULL) {
		fprintf(stderr, "tw-publish-bench: %s: %s\n", engine, strerror(errno));
		return 1;
	}
	b.count = count;
	b.sent_ns = calloc(count, sizeof(*b.sent_ns));
	b.confirm_us = calloc(count, sizeof(*b.confirm_us));
	b.result_us = calloc(count, sizeof(*b.result_us));
	b.resolved = calloc(count, 1);
	if (spread_ms != 0) {
		/* scheduler lateness: task i is due (i * 7919 mod 1000) / 1000 of the spread later */
		b.countdown_ms = calloc(count, sizeof(*b.countdown_ms));
		b.late_us = calloc(count, sizeof(*b.late_us));
		if (b.countdown_ms == NULL || b.late_us == NULL) {
			fprintf(stderr, "tw-publish-bench: out of memory\n");
			return 1;
		}
		for (uint64_t i = 0; i < count; i++)
			b.countdown_ms[i] = (uint32_t)((i * 7919 % 1000) * spread_ms / 1000);
	}
	if (b.sent_ns == NULL || b.confirm_us == NULL || b.result_us == NULL || b.resolved == NULL) {
		fprintf(stderr, "tw-publish-bench: out of memory\n");
		return 1;
	}

	/* --ignore-result: results go to this publisher only, not to the result store */
	struct tw_publish p = { .routing_key = queue, .task = task, .args = args,
				.args_len = strlen(args), .ignore_result = ignore_result };
	/*
	 * Warm-up: one task and its result before the clock starts, so the
	 * kernel has resolved the engine's MAC (ARP). Until then it queues only
	 * a few packets per neighbour and drops the rest of a first burst.
	 */
	{
		struct tw_publish w = p;
		struct tw_outcome o;
		uint64_t id;

		w.task = "noop";
		/* a queue nothing consumes would give no result: a task routed
		 * nowhere is answered (NACK unroutable) and resolves ARP as well */
		if (confirm_window)
			w.routing_key = "tw-publish-bench.warm-up.nowhere";
		if (tw_client_publish(c, &w, &id) != 0 || tw_client_wait(c, id, 3000, &o, NULL, NULL) != 0) {
			fprintf(stderr, "tw-publish-bench: no answer from %s to a warm-up task\n", engine);
			return 1;
		}
		if (!o.ack && !confirm_window)
			fprintf(stderr, "tw-publish-bench: warm-up task NACKed: %s %s\n",
				tw_nack_reason_name(o.nack_reason), o.detail);
		tw_outcome_clear(&o);
	}
	start = now_ns();
	stop_ns = duration_s > 0 ? start + (uint64_t)(duration_s * 1e9) : UINT64_MAX;
	while (published < count) {
		uint64_t id;
		int ret;

		/* --duration: publishing stops then; what was published is the count */
		if ((published & 1023) == 0 && now_ns() > stop_ns) {
			count = b.count = published;
			break;
		}

		/* --rate: no faster than R tasks a second; ahead, it waits in poll (a load that
		 * leaves the CPU to others, as dashboard_test's browser needs) */
		if (max_rate > 0 && (double)published >= (double)(now_ns() - start) * max_rate / 1e9) {
			tw_client_flush(c);
			if (tw_client_poll(c, 1, on_event, &b) < 0)
				break;
			continue;
		}
		/* closed loop: outstanding = published - (results or confirms + NACKs) */
		if (published - ((confirm_window ? b.acked : b.results) + b.nacked) >= window) {
			tw_client_flush(c);
			if (tw_client_poll(c, 100, on_event, &b) < 0)
				break;
			continue;
		}
		if (b.countdown_ms != NULL)
			p.countdown_ms = b.countdown_ms[published];
		ret = tw_client_publish(c, &p, &id);
		if (ret != 0) {
			fprintf(stderr, "tw-publish-bench: publish: %s\n", strerror(-ret));
			return 1;
		}
		if (published == 0)
			b.first_id = id;
		/* ids of one client are consecutive: the index is id - first_id */
		b.sent_ns[id - b.first_id] = now_ns();
		published++;
		if (published % poll_every == 0)
			tw_client_poll(c, 0, on_event, &b);
	}
	tw_client_flush(c);
	/* results still in flight get --drain seconds (retransmits take longer) */
	deadline = now_ns() + (uint64_t)(drain_s * 1e9);
	while ((confirm_window ? b.acked : b.results) + b.nacked < count && now_ns() < deadline)
		tw_client_poll(c, 50, on_event, &b);
	end = now_ns();
	if (adds != 0)
		adds_ok = check_adds(c, queue, adds);
	tw_client_get_stats(c, &cs);
	tw_client_close(c);

	qsort(b.confirm_us, b.n_confirm_lat, sizeof(uint32_t), cmp_u32);
	qsort(b.result_us, b.n_result_lat, sizeof(uint32_t), cmp_u32);
	if (b.late_us != NULL)
		qsort(b.late_us, b.n_late, sizeof(uint32_t), cmp_u32);
	double secs = (double)(end - start) / 1e9;
	uint64_t done = confirm_window ? b.acked : b.results;
	uint64_t lost = count - done - b.nacked;
	double rate = (double)done / secs;

	/* NACKs by reason, for overload runs */
	if (json) {
		printf("{\"queue_full\": %" PRIu64 ", ", b.nack_by_reason[5]); /* NACK_QUEUE_FULL */
		printf("\"sent\": %" PRIu64 ", \"acked\": %" PRIu64 ", \"nacked\": %" PRIu64
		       ", \"results\": %" PRIu64 ", \"succeeded\": %" PRIu64 ", \"failed\": %" PRIu64
		       ", \"lost\": %" PRIu64 ", \"seconds\": %.3f, \"tasks_per_sec\": %.0f"
		       ", \"confirm_p50_us\": %.0f, \"confirm_p99_us\": %.0f, \"result_p50_us\": %.0f"
		       ", \"result_p99_us\": %.0f, \"adds\": %u, \"adds_correct\": %u"
		       ", \"duplicates\": %" PRIu64 ", \"retransmits\": %" PRIu64
		       ", \"late_p50_us\": %.0f, \"late_p99_us\": %.0f, \"late_max_us\": %.0f"
		       ", \"datagrams_sent\": %" PRIu64 ", \"send_calls\": %" PRIu64
		       ", \"datagrams_received\": %" PRIu64 ", \"receive_calls\": %" PRIu64 "}\n",
		       count, b.acked, b.nacked, b.results, b.succeeded, b.failed, lost, secs, rate,
		       percentile(b.confirm_us, b.n_confirm_lat, 0.5),
		       percentile(b.confirm_us, b.n_confirm_lat, 0.99),
		       percentile(b.result_us, b.n_result_lat, 0.5),
		       percentile(b.result_us, b.n_result_lat, 0.99), adds, adds_ok, b.duplicates,
		       cs.retransmits, percentile(b.late_us, b.n_late, 0.5),
		       percentile(b.late_us, b.n_late, 0.99), percentile(b.late_us, b.n_late, 1.0),
		       cs.datagrams_sent, cs.send_calls, cs.datagrams_received, cs.receive_calls);
	} else {
		printf("tasks       %" PRIu64 " sent, %" PRIu64 " acked, %" PRIu64 " nacked, %" PRIu64
		       " succeeded, %" PRIu64 " failed, %" PRIu64 " lost\n",
		       count, b.acked, b.nacked, b.succeeded, b.failed, lost);
		for (int r = 1; r < 16; r++)
			if (b.nack_by_reason[r])
				printf("  nacked %s: %" PRIu64 "\n", tw_nack_reason_name(r),
				       b.nack_by_reason[r]);
		printf("throughput  %.0f tasks/s end to end (%.2f s)\n", rate, secs);
		printf("confirm     p50 %.0f us   p99 %.0f us\n",
		       percentile(b.confirm_us, b.n_confirm_lat, 0.5),
		       percentile(b.confirm_us, b.n_confirm_lat, 0.99));
		printf("result      p50 %.0f us   p99 %.0f us\n",
		       percentile(b.result_us, b.n_result_lat, 0.5),
		       percentile(b.result_us, b.n_result_lat, 0.99));
		if (adds != 0)
			printf("add         %u/%u correct\n", adds_ok, adds);
	}
	free(b.resolved);
	free(b.countdown_ms);
	free(b.late_us);
	free(b.sent_ns);
	free(b.confirm_us);
	free(b.result_us);
	return lost == 0 && b.nacked == 0 && b.failed == 0 && adds_ok == adds && b.duplicates == 0
		       ? 0 : 1;
}
