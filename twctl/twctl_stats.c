/*
 * `twctl stats [--watch [SECONDS]] [--count N]`: the engine's figures as
 * rates, like `top`: tasks received/executed/failed per second, NACKs
 * and drops per second, each lcore's busy share over the interval, and
 * per queue its depth and publish/deliver rates. Rates are differences
 * between two status samples INTERVAL apart; with --watch the screen is
 * redrawn every interval until interrupted (or N times).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "twctl.h"
#include "twctl_table.h"

static volatile sig_atomic_t interrupted;

static void
on_int(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int
fetch(const struct twctl_opts *o, bool list, Taskwire__Control__Response **resp)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__StatusRequest sr = TASKWIRE__CONTROL__STATUS_REQUEST__INIT;
	Taskwire__Control__ListRequest l = TASKWIRE__CONTROL__LIST_REQUEST__INIT;

	if (list) {
		l.what = TASKWIRE__CONTROL__LIST_REQUEST__WHAT__QUEUES;
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_LIST;
		req.list = &l;
	} else {
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_STATUS;
		req.status = &sr;
	}
	return twctl_roundtrip(o, &req, resp);
}

static uint64_t
sum_drops(const Taskwire__Control__Status *s)
{
	uint64_t t = 0;

	for (size_t i = 0; i < s->n_drops; i++)
		t += s->drops[i]->value;
	return t;
}

static void
show(const Taskwire__Control__Status *a, const Taskwire__Control__Status *b,
     const Taskwire__Control__Response *qa, const Taskwire__Control__Response *qb, double secs)
{
	static const char *const rows[] = { "tasks_received", "tasks_executed", "tasks_failed",
					    "nacks", "results_sent", "rx_packets", "tx_packets" };
	struct twctl_table t;

	printf("taskwire  pid %u  plan %s  up %.0f s  routes v%" PRIu64 "  interval %.1f s\n\n",
	       b->primary_pid, b->plan_mode, (double)b->uptime_ms / 1000, b->routes_version, secs);
	twctl_table_init(&t, 2);
	twctl_table_row(&t, "per second\t");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		twctl_table_row(&t, "  %s\t%.0f", rows[i],
				(double)(twctl_counter(b->counters, b->n_counters, rows[i]) -
					 twctl_counter(a->counters, a->n_counters, rows[i])) / secs);
	twctl_table_row(&t, "  drops\t%.0f", (double)(sum_drops(b) - sum_drops(a)) / secs);
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);

	printf("\n");
	twctl_table_init(&t, 4);
	twctl_table_row(&t, "lcore\trole\tbusy%%\ttasks/s");
	for (size_t i = 0; i < b->n_lcores && i < a->n_lcores; i++) {
		const Taskwire__Control__LcoreInfo *la = a->lcores[i], *lb = b->lcores[i];
		uint64_t loop, busy;

		if (lb->n_counters == 0)
			continue;
		loop = twctl_counter(lb->counters, lb->n_counters, "loop_cycles") -
		       twctl_counter(la->counters, la->n_counters, "loop_cycles");
		busy = twctl_counter(lb->counters, lb->n_counters, "busy_cycles") -
		       twctl_counter(la->counters, la->n_counters, "busy_cycles");
		twctl_table_row(&t, "%u\t%s\t%.1f\t%.0f", lb->lcore_id, lb->role,
				loop ? 100.0 * (double)busy / (double)loop : 0.0,
				(double)(twctl_counter(lb->counters, lb->n_counters, "tasks_executed") -
					 twctl_counter(la->counters, la->n_counters, "tasks_executed")) / secs);
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);

	printf("\n");
	twctl_table_init(&t, 5);
	twctl_table_row(&t, "queue\tready\tin_flight\tpublish/s\tdeliver/s");
	for (size_t i = 0; i < qb->n_queues; i++) {
		const Taskwire__Control__QueueInfo *q = qb->queues[i], *p = NULL;

		for (size_t j = 0; j < qa->n_queues; j++)
			if (strcmp(qa->queues[j]->name, q->name) == 0)
				p = qa->queues[j];
		twctl_table_row(&t, "%s\t%" PRIu64 "\t%" PRIu64 "\t%.0f\t%.0f", q->name, q->ready,
				q->in_flight,
				p && q->published >= p->published ? (double)(q->published - p->published) / secs : 0.0,
				p && q->delivered >= p->delivered ? (double)(q->delivered - p->delivered) / secs : 0.0);
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);
}

int
twctl_stats(const struct twctl_opts *o, int argc, char **argv)
{
	Taskwire__Control__Response *sa = NULL, *sb = NULL, *qa = NULL, *qb = NULL;
	double interval = 1.0;
	long count = 1;
	bool watch = false;
	int ret = TWCTL_OK;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (strcmp(argv[i], "--watch") == 0) {
			watch = true;
			count = -1;
			if (i + 1 < argc && argv[i + 1][0] != '-') {
				interval = strtod(argv[++i], &end);
				if (*end != '\0' || interval < 0.1 || interval > 3600) {
					fprintf(stderr, "twctl: --watch SECONDS: 0.1..3600\n");
					return TWCTL_USAGE;
				}
			}
		} else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
			count = strtol(argv[++i], &end, 10);
			if (*end != '\0' || count < 1) {
				fprintf(stderr, "twctl: --count N: N >= 1\n");
				return TWCTL_USAGE;
			}
		} else {
			fprintf(stderr, "twctl: usage: stats [--watch [SECONDS]] [--count N]\n");
			return TWCTL_USAGE;
		}
	}
	signal(SIGINT, on_int);
	if (fetch(o, false, &sa) != TWCTL_OK || fetch(o, true, &qa) != TWCTL_OK)
		return TWCTL_FAILED;
	/* Bounded by --count, or by the user's interrupt with --watch. */
	for (long n = 0; (count < 0 || n < count) && !interrupted; n++) {
		struct timespec ts = { (time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9) };

		nanosleep(&ts, NULL);
		if (interrupted)
			break;
		if (fetch(o, false, &sb) != TWCTL_OK || fetch(o, true, &qb) != TWCTL_OK) {
			ret = TWCTL_FAILED;
			break;
		}
		if (watch && isatty(STDOUT_FILENO))
			printf("\033[H\033[2J"); /* redraw in place, like top */
		show(sa->status, sb->status, qa, qb, interval);
		if (watch)
			printf("\n(every %.1f s; Ctrl-C to stop)\n", interval);
		fflush(stdout);
		taskwire__control__response__free_unpacked(sa, NULL);
		taskwire__control__response__free_unpacked(qa, NULL);
		sa = sb;
		qa = qb;
		sb = qb = NULL;
	}
	if (sa)
		taskwire__control__response__free_unpacked(sa, NULL);
	if (qa)
		taskwire__control__response__free_unpacked(qa, NULL);
	return ret;
}
