/*
 * tw-worker: runs the task plugins of include/taskwire/task.h outside the
 * engine, as a remote consumer of its queues (libtaskwire's worker API).
 *
 *   tw-worker --engine ADDR:PORT -Q q1,q2 [--tasks plugin.so ...] [-c N]
 *             [--prefetch P] [--lease-ms MS] [--heartbeat-ms MS] [--name NAME]
 *             [--time-limit S] [--key-file FILE --key-id N] [--no-extend-leases]
 *
 * N consumer threads, each with its own subscription (socket, consumer id,
 * credit window of P): a thread runs one task at a time, so P > 1 only
 * buys prefetching. A plugin that crashes takes this process down, not the
 * engine: its unacked tasks go back to their queues when its heartbeats
 * stop, and run again on another consumer.
 *
 * --time-limit S (Celery's hard time limit): the consumers run in a child
 * process that a supervisor kills when a task runs longer than S seconds,
 * then replaces (tw_worker_supervise.c). The child first acks the task
 * FAILURE to the engine (and cancels that consumer), so no worker runs it
 * again, this one or another; the kills are counted on standard error.
 *
 * A running task's lease is kept (libtaskwire's extend_leases: refreshed
 * a third of a lease after it last started), so a task longer than its
 * lease (--lease-ms) runs once and is not delivered to another worker
 * meanwhile, as Celery users expect of a visibility timeout; the lease
 * still catches a worker whose heartbeats go on while it runs nothing.
 * --no-extend-leases: a task must ack (or send PROGRESS) within its lease.
 *
 * --key-file FILE --key-id N (an engine started with --keys): every frame
 * of the consumers, and of what their tasks publish, is signed with that
 * key (the keys file's format and checks, mode 600).
 *
 * main() reads as: options, plugins, consumers, wait for a signal, stop.
 * Exit: 0 after SIGINT/SIGTERM, 1 when it could not start, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tw_worker_priv.h"

#define MAX_THREADS TW_WK_MAX_THREADS
#define MAX_QUEUES 16
#define MAX_PLUGINS 16
#define POLL_BATCH 256           /* deliveries taken per poll (the window may be larger) */

struct options {
	const char *engine;
	char *queue_list;            /* -Q, split in place */
	const char *queues[MAX_QUEUES];
	size_t n_queues;
	const char *plugins[MAX_PLUGINS];
	size_t n_plugins;
	unsigned threads;
	unsigned prefetch;
	unsigned lease_ms;
	unsigned heartbeat_ms;
	unsigned time_limit_ms;      /* 0: none */
	const char *name;
	const char *key_file;        /* NULL: frames are not signed */
	unsigned key_id;
	bool no_extend;              /* --no-extend-leases */
};

struct consumer {
	unsigned index;              /* its slot in limits->run */
	pthread_t thread;
	/* held while polling w: with --time-limit the watcher polls w too,
	 * while this consumer's thread is inside a task past the limit */
	pthread_mutex_t poll_mu;
	struct tw_worker *w;
	const struct options *o;
	const struct tw_task_registry *reg;
	uint64_t ran;
};

/* Set by the signal handler, read by the consumer threads (relaxed: a flag, no data). */
static volatile sig_atomic_t stopping;

/* --time-limit: shared with the supervisor (tw_worker_priv.h), NULL: no limit */
static struct tw_wk_limits *limits;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: tw-worker --engine ADDR:PORT -Q QUEUE[,QUEUE...] [--tasks PLUGIN.so]...\n"
		   "                 [-c THREADS] [--prefetch N] [--lease-ms MS] [--heartbeat-ms MS]\n"
		   "                 [--name NAME] [--time-limit S] [--key-file FILE --key-id N]\n"
		   "                 [--no-extend-leases]\n");
}

static int
parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* @return 0, or 2 (usage error, message printed). */
static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "engine", required_argument, NULL, 'e' },
		{ "queues", required_argument, NULL, 'Q' },
		{ "tasks", required_argument, NULL, 't' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "prefetch", required_argument, NULL, 'p' },
		{ "lease-ms", required_argument, NULL, 'l' },
		{ "heartbeat-ms", required_argument, NULL, 'b' },
		{ "name", required_argument, NULL, 'n' },
		{ "time-limit", required_argument, NULL, 'T' },
		{ "key-file", required_argument, NULL, 'K' },
		{ "key-id", required_argument, NULL, 'I' },
		{ "no-extend-leases", no_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct options){ .threads = 1, .prefetch = 1 };
	while ((c = getopt_long(argc, argv, "Q:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			o->engine = optarg;
			break;
		case 'Q':
			o->queue_list = optarg;
			break;
		case 't':
			if (o->n_plugins == MAX_PLUGINS) {
				fprintf(stderr, "tw-worker: at most %d --tasks\n", MAX_PLUGINS);
				return 2;
			}
			o->plugins[o->n_plugins++] = optarg;
			break;
		case 'c':
			if (parse_uint(optarg, 1, MAX_THREADS, &o->threads) != 0) {
				fprintf(stderr, "tw-worker: -c takes 1..%d threads, not '%s'\n",
					MAX_THREADS, optarg);
				return 2;
			}
			break;
		case 'p':
			/* the engine clamps a larger window to its maximum; so do we, up front */
			if (parse_uint(optarg, 1, 1000000000u, &o->prefetch) != 0) {
				fprintf(stderr, "tw-worker: --prefetch takes a number >= 1, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'l':
		case 'b':
			if (parse_uint(optarg, 100, 3600000, c == 'l' ? &o->lease_ms : &o->heartbeat_ms)
			    != 0) {
				fprintf(stderr, "tw-worker: --%s takes 100..3600000 ms, not '%s'\n",
					c == 'l' ? "lease-ms" : "heartbeat-ms", optarg);
				return 2;
			}
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'X':
			o->no_extend = true;
			break;
		case 'K':
			o->key_file = optarg;
			break;
		case 'I':
			if (parse_uint(optarg, 1, UINT32_MAX, &o->key_id) != 0) {
				fprintf(stderr, "tw-worker: --key-id takes 1..4294967295, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'T': {
			/* seconds, as Celery's --time-limit; fractions allowed */
			char *end;
			double sec = strtod(optarg, &end);

			if (end == optarg || *end != '\0' || !(sec >= 0.1 && sec <= 86400)) {
				fprintf(stderr, "tw-worker: --time-limit takes 0.1..86400 seconds, "
					"not '%s'\n", optarg);
				return 2;
			}
			o->time_limit_ms = (unsigned)(sec * 1000 + 0.5);
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if ((o->key_file == NULL) != (o->key_id == 0)) {
		fprintf(stderr, "tw-worker: --key-file and --key-id go together\n");
		return 2;
	}
	if (optind != argc || o->engine == NULL || o->queue_list == NULL) {
		usage(stderr);
		return 2;
	}
	for (char *save = NULL, *q = strtok_r(o->queue_list, ",", &save); q != NULL;
	     q = strtok_r(NULL, ",", &save)) {
		if (o->n_queues == MAX_QUEUES) {
			fprintf(stderr, "tw-worker: at most %d queues\n", MAX_QUEUES);
			return 2;
		}
		o->queues[o->n_queues++] = q;
	}
	if (o->n_queues == 0) {
		usage(stderr);
		return 2;
	}
	return 0;
}

/* Celery's delay of retry n: countdown, or countdown * 2^n capped, then jitter in [0, d]. */
static int64_t
retry_delay_ms(const struct tw_retry_policy *p, uint32_t n)
{
	uint64_t d = p->countdown_ms;

	if (p->backoff) {
		uint64_t cap = p->backoff_max_ms != 0 ? p->backoff_max_ms : 600000;

		d = n >= 32 ? cap : d << n;
		if (d > cap)
			d = cap;
	}
	if (p->jitter && d != 0)
		d = (uint64_t)rand() % (d + 1);
	return (int64_t)d;
}

/* Run one delivery and ack its outcome. */
static void
run_one(struct consumer *c, const struct tw_delivery *d)
{
	static const struct tw_retry_policy no_retry;
	const struct tw_wk_def *def = tw_wk_find(c->reg, d->task_name);
	struct tw_task_ctx *ctx = calloc(1, sizeof(*ctx));
	const struct tw_retry_policy *p;
	struct timespec t0, t1;
	struct tw_ack a = { 0 };
	int ret;

	if (ctx == NULL) {
		/* not run: back to the queue for a worker with memory to spare */
		a = (struct tw_ack){ .outcome = TW_OUTCOME_REJECT, .requeue = true };
		tw_worker_ack(c->w, d->tag, &a);
		return;
	}
	*ctx = (struct tw_task_ctx){ .args = d->args, .args_len = (uint32_t)d->args_len,
				     .task_id = d->task_id, .retries = d->retries,
				     .retry_countdown_ms = -1, .worker = c->w, .tag = d->tag,
				     .engine = c->o->engine, .key_file = c->o->key_file,
				     .key_id = c->o->key_id };
	if (limits != NULL && d->delivery_count > 1 && tw_wk_timed_out(limits, d->task_id)) {
		/* its last run here was killed at the limit: it ends, as in Celery */
		a = (struct tw_ack){ .outcome = TW_OUTCOME_FAILURE };
		snprintf((char *)ctx->out, sizeof(ctx->out),
			 "TimeLimitExceeded: ran past the hard time limit of %u ms (its worker "
			 "process was killed)", limits->limit_ms);
		a.error = (const char *)ctx->out;
		tw_worker_ack(c->w, d->tag, &a);
		free(ctx);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (limits != NULL) {
		/* the supervisor reads since_ms after task_id (acquire): written first */
		__atomic_store_n(&limits->run[c->index].since_ms, tw_wk_now_ms(), __ATOMIC_RELAXED);
		__atomic_store_n(&limits->run[c->index].tag, d->tag, __ATOMIC_RELAXED);
		__atomic_store_n(&limits->run[c->index].task_id, d->task_id, __ATOMIC_RELEASE);
	}
	if (def == NULL) {
		ret = tw_task_fail(ctx, "unknown task '%s'", d->task_name);
	} else {
		if (def->soft_time_limit_ms != 0)
			ctx->soft_deadline_ms = tw_wk_now_ms() + def->soft_time_limit_ms;
		ret = def->fn(ctx);
	}
	if (limits != NULL)
		__atomic_store_n(&limits->run[c->index].task_id, 0, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	a.runtime_ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull +
		       (uint64_t)(t1.tv_nsec - t0.tv_nsec);
	/* the message's policy, else the registered one */
	p = d->retry != NULL ? d->retry : def != NULL ? &def->retry : &no_retry;
	if (ret == TW_TASK_SUCCESS && !ctx->retry_asked) {
		a.outcome = TW_OUTCOME_SUCCESS;
		a.value = ctx->out;
		a.value_len = ctx->out_len;
	} else if (def != NULL &&
		   (ret == TW_TASK_RETRY || ctx->retry_asked || p->autoretry)) {
		/* the engine counts the retry and schedules it; the budget and delay are ours */
		a.outcome = TW_OUTCOME_RETRY;
		a.countdown_ms = ctx->retry_asked && ctx->retry_countdown_ms >= 0
					 ? ctx->retry_countdown_ms
					 : retry_delay_ms(p, d->retries);
		a.max_retries = p->max_retries;
	} else {
		a.outcome = TW_OUTCOME_FAILURE;
	}
	if (a.outcome != TW_OUTCOME_SUCCESS) {
		ctx->out[ctx->out_len < sizeof(ctx->out) ? ctx->out_len : sizeof(ctx->out) - 1] = '\0';
		a.error = (const char *)ctx->out;
	}
	if (tw_worker_ack(c->w, d->tag, &a) == -EINVAL) {
		/* larger than one datagram: say so rather than lose the outcome */
		a = (struct tw_ack){ .outcome = TW_OUTCOME_FAILURE, .runtime_ns = a.runtime_ns,
				     .error = "result too large for one ack datagram (1400 bytes)" };
		tw_worker_ack(c->w, d->tag, &a);
	}
	c->ran++;
	free(ctx);
}

static void *
consumer_main(void *arg)
{
	struct consumer *c = arg;
	struct tw_delivery *d[POLL_BATCH];
	size_t max = c->o->prefetch < POLL_BATCH ? c->o->prefetch : POLL_BATCH;

	/* bounded by the stop flag: polls wake at least every 200 ms */
	while (!stopping) {
		int n;

		pthread_mutex_lock(&c->poll_mu);
		n = tw_worker_poll(c->w, 200, d, max);
		pthread_mutex_unlock(&c->poll_mu);

		for (int i = 0; i < n; i++) {
			/* past a stop request, tasks not started go back to their queue */
			if (stopping) {
				struct tw_ack a = { .outcome = TW_OUTCOME_REJECT, .requeue = true };

				tw_worker_ack(c->w, d[i]->tag, &a);
			} else {
				run_one(c, d[i]);
			}
			tw_delivery_free(d[i]);
		}
	}
	tw_wk_thread_done();
	return NULL;
}

struct run_args {
	struct options *o;
	struct tw_task_registry *reg;
};

#define LIMIT_WATCH_MS 20            /* the child's watcher: tasks past --time-limit */

/*
 * --time-limit, in the child: consumer c's task has run past the limit,
 * and the supervisor kills this whole process for it next. Before that,
 * the engine is told: the task is acked FAILURE (TimeLimitExceeded) from
 * the consumer's own socket, and the consumer cancelled in the same
 * datagram. The engine then records the failure (the publisher's result,
 * the store, events) and never delivers the task again, so another
 * tw-worker, which knows nothing of this kill, cannot run it a second
 * time; the consumer's other unacked deliveries go back to their queues
 * at once instead of after its heartbeats stop. c's thread is inside the
 * task and not polling: this thread waits for the engine's answers (at
 * most about 1 s). Then run[].settled tells the supervisor to go ahead.
 */
static void
settle_overdue(struct consumer *c, uint64_t now)
{
	/* acquire: pairs with the release of task_id in run_one() */
	uint64_t id = __atomic_load_n(&limits->run[c->index].task_id, __ATOMIC_ACQUIRE);
	uint64_t since = __atomic_load_n(&limits->run[c->index].since_ms, __ATOMIC_RELAXED);
	uint64_t tag = __atomic_load_n(&limits->run[c->index].tag, __ATOMIC_RELAXED);
	char why[160];
	struct tw_ack a = { .outcome = TW_OUTCOME_FAILURE, .error = why };
	int ret;

	if (id == 0 || now <= since || now - since <= limits->limit_ms ||
	    __atomic_load_n(&limits->run[c->index].settled, __ATOMIC_RELAXED) != 0)
		return;
	/* its thread polls: the task has just returned, and acked itself */
	if (pthread_mutex_trylock(&c->poll_mu) != 0)
		return;
	if (__atomic_load_n(&limits->run[c->index].task_id, __ATOMIC_ACQUIRE) == id) {
		snprintf(why, sizeof(why),
			 "TimeLimitExceeded: ran past the hard time limit of %u ms (its worker "
			 "process was killed)", limits->limit_ms);
		a.runtime_ns = (now - since) * 1000000ull;
		ret = tw_worker_ack_cancel(c->w, tag, &a);
		if (ret == 0)
			__atomic_store_n(&limits->run[c->index].settled, tag, __ATOMIC_RELEASE);
		else
			fprintf(stderr, "tw-worker: task %016" PRIx64 " past --time-limit: its "
				"FAILURE got no answer from the engine (%s)\n", id, strerror(-ret));
	}
	pthread_mutex_unlock(&c->poll_mu);
}

/* --time-limit, the child's main thread until a stop: tasks past the limit reported. */
static void
watch_limits(struct consumer *cs, unsigned n)
{
	struct timespec ts = { 0, LIMIT_WATCH_MS * 1000000L };

	/* bounded by the stop flag; each turn waits LIMIT_WATCH_MS */
	while (!stopping) {
		uint64_t now = tw_wk_now_ms();

		for (unsigned i = 0; i < n; i++)
			settle_overdue(&cs[i], now);
		nanosleep(&ts, NULL);
	}
}

/* The consumers until SIGINT or SIGTERM (in the child, with --time-limit). @return the exit status. */
static int
run_consumers(void *arg)
{
	static struct consumer consumers[MAX_THREADS];
	struct run_args *ra = arg;
	struct options *o = ra->o;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[256];
	unsigned started = 0;
	uint64_t ran = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (unsigned i = 0; i < o->threads; i++) {
		struct tw_worker_opts wo = {
			.queues = o->queues, .n_queues = o->n_queues, .prefetch = o->prefetch,
			.lease_ms = o->lease_ms, .heartbeat_ms = o->heartbeat_ms,
			.name = o->name != NULL ? o->name : "tw-worker",
			.key_file = o->key_file, .key_id = o->key_id,
			.extend_leases = !o->no_extend,
		};
		struct consumer *c = &consumers[i];

		c->index = i;
		pthread_mutex_init(&c->poll_mu, NULL);
		c->o = o;
		c->reg = ra->reg;
		c->w = tw_worker_open(o->engine, &wo, err, sizeof(err));
		if (c->w == NULL) {
			fprintf(stderr, "tw-worker: subscribe to %s: %s\n", o->engine, err);
			stopping = 1;
			break;
		}
		if (pthread_create(&c->thread, NULL, consumer_main, c) != 0) {
			fprintf(stderr, "tw-worker: thread: %s\n", strerror(errno));
			tw_worker_close(c->w);
			stopping = 1;
			break;
		}
		started++;
	}
	if (started == o->threads) {
		uint32_t pf, lease, hb;

		tw_worker_granted(consumers[0].w, &pf, &lease, &hb);
		fprintf(stderr, "tw-worker: ready: %u consumers of %zu queues on %s (prefetch %u, "
			"lease %u ms, heartbeat %u ms, %u tasks)\n", started, o->n_queues, o->engine, pf,
			lease, hb, ra->reg->n);
	}
	if (limits != NULL && started == o->threads)
		watch_limits(consumers, started);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(consumers[i].thread, NULL);
		ran += consumers[i].ran;
		tw_worker_close(consumers[i].w);
	}
	fprintf(stderr, "tw-worker: stopped: %" PRIu64 " tasks run\n", ran);
	return started == o->threads ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static struct tw_task_registry reg;
	struct options o;
	struct run_args ra = { &o, &reg };
	char err[256];
	int ret = parse_options(argc, argv, &o);

	if (ret != 0)
		return ret;
	if (tw_wk_register_builtins(&reg) != 0) {
		fprintf(stderr, "tw-worker: built-in tasks did not register\n");
		return 1;
	}
	for (size_t i = 0; i < o.n_plugins; i++) {
		if (tw_wk_load_plugin(&reg, o.plugins[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "tw-worker: %s\n", err);
			return 1;
		}
	}
	if (o.time_limit_ms == 0)
		return run_consumers(&ra);
	/* one page both processes see: the child's running tasks, the supervisor's kills */
	limits = mmap(NULL, sizeof(*limits), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	if (limits == MAP_FAILED) {
		fprintf(stderr, "tw-worker: shared page: %s\n", strerror(errno));
		return 1;
	}
	memset(limits, 0, sizeof(*limits));
	limits->limit_ms = o.time_limit_ms;
	ret = tw_wk_supervise(limits, run_consumers, &ra);
	munmap(limits, sizeof(*limits));
	return ret;
}
