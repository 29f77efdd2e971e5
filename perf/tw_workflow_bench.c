/*
 * tw-workflow-bench: what a workflow step costs next to a plain task, in
 * one run against one engine (libtaskwire, kernel UDP):
 *
 *   plain  N noop tasks, at most W outstanding, each answered to us;
 *   chain  N / L chains of L noop steps (at most W / L chains out): the
 *          engine publishes steps 2..L itself, we get the last result;
 *          again with chains of 3L. A chain costs the publisher a fixed
 *          C (its datagram, confirm, result) plus L steps of s in the
 *          engine: the two lengths give s = (t(3L) - t(L)) / 2L per step;
 *   chord  one chord of N noop members and a tsum callback.
 *
 * Each is timed from the first publish to the last result; the figure is
 * ns per task (plain) or per step (chain: N steps; chord: N members + 1).
 *
 *   tw-workflow-bench --engine IP:PORT [--queue Q] [--count N] [--length L]
 *                     [--window W] [--markdown]
 *
 * Exit 0 when every task, chain and the chord succeeded; 1 otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taskwire/workflow.h"

#define TIMEOUT_MS 60000

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct tally {
	uint64_t results, failed, nacked;
};

static void
count_event(const struct tw_event *ev, void *arg)
{
	struct tally *t = arg;

	if (ev->kind == TW_EV_CONFIRM && !ev->ack)
		t->nacked++;
	else if (ev->kind == TW_EV_RESULT && ev->state >= TW_STATE_SUCCESS) {
		t->results++;
		if (ev->state != TW_STATE_SUCCESS)
			t->failed++;
	}
}

/* Poll until fewer than `limit` are outstanding (sent - answered). @return 0 or -ETIMEDOUT. */
static int
drain(struct tw_client *c, struct tally *t, uint64_t sent, uint64_t limit)
{
	uint64_t deadline = now_ns() + TIMEOUT_MS * 1000000ull;

	tw_client_flush(c);
	while (sent - t->results - t->nacked >= limit) {
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		tw_client_poll(c, 100, count_event, t);
	}
	return 0;
}

static double
run_plain(struct tw_client *c, const char *queue, uint64_t n, uint64_t window, bool *ok)
{
	struct tw_publish p = { .routing_key = queue, .task = "noop" };
	struct tally t = { 0 };
	uint64_t t0 = now_ns(), id;

	for (uint64_t i = 0; i < n; i++) {
		if (i - t.results - t.nacked >= window && drain(c, &t, i, window) != 0)
			break;
		if (tw_client_publish(c, &p, &id) != 0)
			break;
	}
	*ok = drain(c, &t, n, 1) == 0 && t.failed == 0 && t.nacked == 0;
	return (double)(now_ns() - t0) / (double)n;
}

static double
run_chains(struct tw_client *c, const char *queue, uint64_t n, uint32_t len, uint64_t window,
	   bool *ok)
{
	struct tw_publish p = { .routing_key = queue, .task = "noop" };
	struct tw_sig *steps[32];
	struct tally t = { 0 };
	uint64_t chains = n / len, t0 = now_ns(), rid;
	bool good = true;

	for (uint64_t i = 0; i < chains && good; i++) {
		struct tw_wf *wf = tw_wf_new();

		if (i - t.results - t.nacked >= window && drain(c, &t, i, window) != 0)
			good = false;
		for (uint32_t s = 0; s < len && wf != NULL; s++)
			steps[s] = tw_wf_task(wf, &p);
		if (wf == NULL ||
		    tw_client_publish_workflow(c, wf, tw_wf_chain(wf, steps, len), &rid) != 0)
			good = false;
		tw_wf_free(wf);
	}
	*ok = good && drain(c, &t, chains, 1) == 0 && t.failed == 0 && t.nacked == 0;
	return (double)(now_ns() - t0) / (double)(chains * len);
}

static double
run_chord(struct tw_client *c, const char *queue, uint64_t n, bool *ok)
{
	struct tw_publish noop = { .routing_key = queue, .task = "noop" };
	struct tw_publish sum = { .routing_key = queue, .task = "tsum" };
	struct tw_wf *wf = tw_wf_new();
	struct tw_sig **members = calloc(n, sizeof(*members)), *g;
	struct tw_outcome out;
	uint64_t t0, rid;
	int ret = -ENOMEM;

	*ok = false;
	if (wf == NULL || members == NULL)
		goto out;
	for (uint64_t i = 0; i < n; i++)
		members[i] = tw_wf_task(wf, &noop);
	g = tw_wf_chord(wf, tw_wf_group(wf, members, n, 8), tw_wf_task(wf, &sum));
	t0 = now_ns();
	ret = tw_client_publish_workflow(c, wf, g, &rid);
	if (ret == 0)
		ret = tw_client_wait_workflow(c, g, rid, TIMEOUT_MS, &out);
	if (ret == 0) {
		*ok = out.has_result && out.state == TW_STATE_SUCCESS;
		tw_outcome_clear(&out);
	}
	free(members);
	tw_wf_free(wf);
	return (double)(now_ns() - t0) / (double)(n + 1);
out:
	free(members);
	tw_wf_free(wf);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "engine", required_argument, NULL, 'e' }, { "queue", required_argument, NULL, 'q' },
		{ "count", required_argument, NULL, 'n' },  { "length", required_argument, NULL, 'l' },
		{ "window", required_argument, NULL, 'w' }, { "markdown", no_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	const char *engine = NULL, *queue = "bench";
	uint64_t n = 100000, window = 4096;
	uint32_t len = 10;
	bool md = false, ok_plain, ok_chain, ok_long, ok_chord;
	struct tw_client *c;
	double plain, chain, chain_long, chord, step;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'e': engine = optarg; break;
		case 'q': queue = optarg; break;
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 'l': len = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'w': window = strtoull(optarg, NULL, 10); break;
		case 'm': md = true; break;
		default: return 2;
		}
	}
	if (engine == NULL || n == 0 || len < 2 || len > 10 || window < len) {
		fprintf(stderr, "usage: tw-workflow-bench --engine IP:PORT [--queue Q] [--count N] "
				"[--length 2..10] [--window W >= L] [--markdown]\n");
		return 2;
	}
	c = tw_client_open(engine, NULL);
	if (c == NULL) {
		fprintf(stderr, "tw-workflow-bench: %s: %s\n", engine, strerror(errno));
		return 1;
	}
	plain = run_plain(c, queue, n, window, &ok_plain);
	chain = run_chains(c, queue, n, len, window / len, &ok_chain);
	chain_long = run_chains(c, queue, n, 3 * len, window / len, &ok_long);
	chord = run_chord(c, queue, n, &ok_chord);
	tw_client_close(c);
	/* per chain: t(L) = chain * L, t(3L) = chain_long * 3L */
	step = (chain_long * 3 * len - chain * len) / (2.0 * len);
	ok_chain = ok_chain && ok_long;
	if (md) {
		printf("| run | ns per task or step | vs plain task | all succeeded |\n");
		printf("| --- | ---: | ---: | --- |\n");
		printf("| plain noop task (%" PRIu64 ", each answered) | %.0f | 1.00x | %s |\n", n,
		       plain, ok_plain ? "yes" : "NO");
		printf("| chain step, end to end (%" PRIu64 " chains of %u) | %.0f | %.2fx | %s |\n",
		       n / len, len, chain, chain / plain, ok_chain ? "yes" : "NO");
		printf("| chain step, end to end (%" PRIu64 " chains of %u) | %.0f | %.2fx | %s |\n",
		       n / (3 * len), 3 * len, chain_long, chain_long / plain, ok_long ? "yes" : "NO");
		printf("| chain step in the engine, (t(%u) - t(%u)) / %u | %.0f | %.2fx | |\n",
		       3 * len, len, 2 * len, step, step / plain);
		printf("| chord member (%" PRIu64 " + 1 callback) | %.0f | %.2fx | %s |\n", n, chord,
		       chord / plain, ok_chord ? "yes" : "NO");
	} else {
		printf("plain %.0f ns/task, chain %.0f ns/step (%.2fx), chain x3 %.0f ns/step, "
		       "engine step %.0f ns (%.2fx), chord %.0f ns/member (%.2fx)\n",
		       plain, chain, chain / plain, chain_long, step, step / plain, chord,
		       chord / plain);
	}
	return ok_plain && ok_chain && ok_chord ? 0 : 1;
}
