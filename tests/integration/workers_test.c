/*
 * Remote consumers through the real binaries: tasks published with
 * libtaskwire are delivered by tw-dataplane to tw-worker processes (or to
 * this test acting as a consumer through the worker API), and their acks
 * end in the publisher's result and tw-control's store. Worker loss
 * (kill -9), lease expiry, credit, and bad input on the consume protocol
 * (raw frames from a socket of the test's own) each with its outcome.
 *
 * The engine runs no plugin: a task only tw-worker knows
 * (example.wordcount) succeeding proves it ran outside the engine.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "it_common.h"
#include "taskwire.pb-c.h"
#include "taskwire/worker.h"

#define TIMEOUT_MS 10000
#define MAX_SPAWNED 8

static pid_t spawned[MAX_SPAWNED];

/* tw-worker beside twctl in the build directory. */
static const char *
worker_bin(void)
{
	static char path[512];
	const char *twctl = getenv("TW_TWCTL");
	const char *slash = twctl != NULL ? strrchr(twctl, '/') : NULL;

	assert_non_null(slash);
	snprintf(path, sizeof(path), "%.*s/tw-worker", (int)(slash - twctl), twctl);
	return path;
}

static const char *
plugin_path(void)
{
	static char path[512];
	const char *twctl = getenv("TW_TWCTL");
	const char *slash = twctl != NULL ? strrchr(twctl, '/') : NULL;

	assert_non_null(slash);
	snprintf(path, sizeof(path), "%.*s/examples/libtw_example_tasks.so", (int)(slash - twctl),
		 twctl);
	return path;
}

/* Start tw-worker on queue with extra options (NULL-terminated); @return its pid. */
static pid_t
spawn_worker(const char *queue, const char *name, ...)
{
	const char *argv[32];
	int argc = 0;
	va_list ap;
	pid_t pid;
	char log[512];

	argv[argc++] = worker_bin();
	argv[argc++] = "--engine";
	argv[argc++] = it_engine();
	argv[argc++] = "-Q";
	argv[argc++] = queue;
	argv[argc++] = "--tasks";
	argv[argc++] = plugin_path();
	argv[argc++] = "--name";
	argv[argc++] = name;
	va_start(ap, name);
	for (const char *a = va_arg(ap, const char *); a != NULL && argc < 30;
	     a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(log, sizeof(log), "%s/worker-%s.log", getenv("TW_DIR") ? getenv("TW_DIR") : "/tmp",
		 name);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		/* dies with the test: a failed assertion leaves no worker behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < MAX_SPAWNED; i++)
		if (spawned[i] == 0) {
			spawned[i] = pid;
			break;
		}
	return pid;
}

static void
reap(pid_t pid, int sig)
{
	int status;

	kill(pid, sig);
	/* bounded: tw-worker stops within a poll interval and a second of pending acks */
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			goto done;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
done:
	for (int i = 0; i < MAX_SPAWNED; i++)
		if (spawned[i] == pid)
			spawned[i] = 0;
}

/* Wait until a counter reaches at least want. @return its value. */
static uint64_t
wait_counter(const char *name, uint64_t want, int timeout_ms)
{
	uint64_t until = it_now_ms() + (uint64_t)timeout_ms, v;

	while ((v = it_counter("counters", name)) < want && it_now_ms() < until)
		usleep(50000);
	return v;
}

static int
setup(void **state)
{
	(void)state;
	if (it_twctl("queue declare wk_e2e") != 0 || it_twctl("queue declare wk_kill") != 0 ||
	    it_twctl("queue declare wk_lease") != 0 || it_twctl("queue declare wk_credit") != 0 ||
	    it_twctl("queue declare wk_bad") != 0 || it_twctl("queue declare wk_tl --consumers remote") != 0 ||
	    it_twctl("queue declare wk_k --consumers remote") != 0 ||
	    it_twctl("queue declare wk_share --consumers remote") != 0 ||
	    it_twctl("queue declare wk_tl2 --consumers remote") != 0 ||
	    it_twctl("queue declare wk_late --consumers remote") != 0 ||
	    it_twctl("queue declare wk_set --consumers remote") != 0 ||
	    it_twctl("queue declare wk_set2 --consumers remote") != 0 ||
	    it_twctl("queue declare wk_many --consumers remote") != 0 ||
	    it_twctl("queue declare wk_ext --consumers remote") != 0)
		return -1;
	it_warm_up();
	it_pools_snapshot();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	for (int i = 0; i < MAX_SPAWNED; i++)
		if (spawned[i] != 0)
			reap(spawned[i], SIGKILL);
	return 0;
}

/* A consumer of this test (worker API) beating every heartbeat_ms. */
static struct tw_worker *
consumer_beating(const char *queue, uint32_t prefetch, uint32_t lease_ms, uint32_t heartbeat_ms)
{
	const char *q[1] = { queue };
	struct tw_worker_opts o = { .queues = q, .n_queues = 1, .prefetch = prefetch,
				    .lease_ms = lease_ms, .heartbeat_ms = heartbeat_ms,
				    .name = "it" };
	char err[160];
	struct tw_worker *w = tw_worker_open(it_engine(), &o, err, sizeof(err));

	if (w == NULL)
		fail_msg("subscribe to %s: %s", queue, err);
	return w;
}

/* A consumer of this test beating every 200 ms (its loss is seen soon). */
static struct tw_worker *
consumer(const char *queue, uint32_t prefetch, uint32_t lease_ms)
{
	return consumer_beating(queue, prefetch, lease_ms, 200);
}

/* Poll w until n deliveries arrived or timeout_ms passed. @return how many. */
static int
collect(struct tw_worker *w, struct tw_delivery **d, int n, int timeout_ms)
{
	uint64_t until = it_now_ms() + (uint64_t)timeout_ms;
	int got = 0;

	while (got < n && it_now_ms() < until) {
		int r = tw_worker_poll(w, 50, d + got, (size_t)(n - got));

		assert_true(r >= 0);
		got += r;
	}
	return got;
}

static void
ack_success(struct tw_worker *w, uint64_t tag, const char *value)
{
	struct tw_ack a = { .outcome = TW_OUTCOME_SUCCESS, .value = value,
			    .value_len = strlen(value) };

	assert_int_equal(tw_worker_ack(w, tag, &a), 0);
}

/* Publish one task; @return its id (confirmed ACK asserted). */
static uint64_t
publish(struct tw_client *c, const char *queue, const char *task, const char *args)
{
	struct tw_publish p = { .routing_key = queue, .task = task, .args = args,
				.args_len = args != NULL ? strlen(args) : 0 };
	uint64_t id;

	assert_int_equal(tw_client_publish(c, &p, &id), 0);
	assert_int_equal(tw_client_flush(c), 0);
	return id;
}

#define expect_result(c, id, state, value) expect_result_at(c, id, state, value, __LINE__)

static void
expect_result_at(struct tw_client *c, uint64_t id, enum tw_state state, const char *value,
		 int line)
{
	struct tw_outcome o;
	int ret = tw_client_wait(c, id, TIMEOUT_MS, &o, NULL, NULL);

	if (ret != 0)
		fail_msg("line %d: task %llx: no result (%d)", line, (unsigned long long)id, ret);
	assert_true(o.ack);
	assert_true(o.has_result);
	if (o.state != state)
		fail_msg("task %llx: state %s error '%s'", (unsigned long long)id,
			 tw_state_name(o.state), o.error ? o.error : "");
	if (value != NULL) {
		assert_int_equal(o.value_len, strlen(value));
		assert_memory_equal(o.value, value, o.value_len);
	}
	tw_outcome_clear(&o);
}

/* n results arrive, all SUCCESS (in any order: waiting for one would drop the others). */
static void
expect_all_succeed(struct tw_client *c, uint64_t n)
{
	struct it_tally t = { 0 };
	uint64_t until = it_now_ms() + TIMEOUT_MS;

	while (t.results < n && it_now_ms() < until)
		assert_true(tw_client_poll(c, 100, it_tally_event, &t) >= 0);
	assert_int_equal(t.results, n);
	assert_int_equal(t.succeeded, n);
}

/* The store's record of id (final), value checked. */
static void
expect_stored(uint64_t id, enum tw_state state, const char *value)
{
	struct tw_outcome o;

	assert_int_equal(tw_result_fetch(getenv("TW_SOCKET"), id, TIMEOUT_MS, &o), 0);
	assert_int_equal(o.state, state);
	if (value != NULL) {
		assert_int_equal(o.value_len, strlen(value));
		assert_memory_equal(o.value, value, o.value_len);
	}
	tw_outcome_clear(&o);
}

/* Counts final results for one task id seen on a client (no second result may come). */
struct results_of {
	uint64_t id;
	int finals;
};

static void
count_finals(const struct tw_event *ev, void *arg)
{
	struct results_of *r = arg;

	if (ev->kind == TW_EV_RESULT && ev->task_id == r->id && ev->state >= TW_STATE_SUCCESS)
		r->finals++;
}

/* count_finals for two tasks (arg: results_of[2]) */
static void
count_finals_of_two(const struct tw_event *ev, void *arg)
{
	struct results_of *r = arg;

	count_finals(ev, &r[0]);
	count_finals(ev, &r[1]);
}

/* publish -> tw-worker -> result to the publisher and into the store */
static void
test_workers_end_to_end(void **state)
{
	struct tw_client *c = it_client();
	uint64_t subscribed = it_counter("counters", "rc_subscribed");
	uint64_t acks = it_counter("counters", "rc_acks");
	pid_t pid;
	uint64_t id;

	(void)state;
	pid = spawn_worker("wk_e2e", "e2e", "-c", "2", "--prefetch", "4", NULL);
	assert_true(wait_counter("rc_subscribed", subscribed + 2, TIMEOUT_MS) >= subscribed + 2);
	/* only tw-worker knows this task: the engine would fail it as unknown */
	id = publish(c, "wk_e2e", "example.wordcount", "remote consumers at last");
	expect_result(c, id, TW_STATE_SUCCESS, "4");
	expect_stored(id, TW_STATE_SUCCESS, "4");
	/* built-ins, a failure, a retry that ends in failure after its budget */
	id = publish(c, "wk_e2e", "add", "[40,2]");
	expect_result(c, id, TW_STATE_SUCCESS, "42");
	id = publish(c, "wk_e2e", "fail", NULL);
	expect_result(c, id, TW_STATE_FAILURE, NULL);
	expect_stored(id, TW_STATE_FAILURE, NULL);
	/* a registered retry policy (5 retries, backoff 10 ms): succeeds on its third run */
	id = publish(c, "wk_e2e", "example.fetch_flaky", NULL);
	expect_result(c, id, TW_STATE_SUCCESS, "\"fetched\"");
	assert_true(it_counter("counters", "rc_acks") >= acks + 6);
	/* a batch, all back (two consumers: results come in any order) */
	{
		for (int i = 0; i < 64; i++) {
			struct tw_publish p = { .routing_key = "wk_e2e", .task = "echo", .args = "x",
						.args_len = 1 };

			assert_int_equal(tw_client_publish(c, &p, &id), 0);
		}
		assert_int_equal(tw_client_flush(c), 0);
		expect_all_succeed(c, 64);
	}
	/* twctl list consumers: the two threads of tw-worker, what they did */
	{
		static char out[1 << 16];
		json_error_t e;
		json_t *j, *x;
		size_t i;
		uint64_t delivered = 0, acked = 0;

		assert_int_equal(it_twctl_out(out, sizeof(out), "list consumers --json"), 0);
		j = json_loads(out, 0, &e);
		assert_non_null(j);
		assert_int_equal(json_array_size(j), 2);
		json_array_foreach(j, i, x) {
			assert_string_equal(json_string_value(json_object_get(x, "name")), "e2e");
			assert_string_equal(json_string_value(json_array_get(json_object_get(x, "queues"),
									     0)),
					    "wk_e2e");
			assert_int_equal(json_integer_value(json_object_get(x, "prefetch")), 4);
			assert_int_equal(json_integer_value(json_object_get(x, "unacked")), 0);
			assert_true(json_integer_value(json_object_get(x, "last_seen_ms")) < 3000);
			delivered += (uint64_t)json_integer_value(json_object_get(x, "delivered"));
			acked += (uint64_t)json_integer_value(json_object_get(x, "acked"));
		}
		/* wordcount, add, fail, fetch_flaky three times, 64 echoes */
		assert_int_equal(delivered, 70);
		assert_int_equal(acked, 70);
		json_decref(j);
		assert_int_equal(it_twctl_out(out, sizeof(out), "list consumers"), 0);
		assert_non_null(strstr(out, "wk_e2e"));
	}
	reap(pid, SIGTERM);
	/* its cancel: no consumer left */
	{
		static char out[1 << 12];

		assert_int_equal(it_twctl_out(out, sizeof(out), "list consumers --json"), 0);
		assert_string_equal(out, "[]\n");
	}
	tw_client_close(c);
}

/*
 * kill -9 of a tw-worker in the middle of a long task: the task comes back
 * (delivery_count 2) to the next consumer when the heartbeats stop, and
 * the publisher and the store see exactly one result.
 */
static void
test_workers_kill9_redelivers_once(void **state)
{
	struct tw_client *c = it_client();
	uint64_t deliveries = it_counter("counters", "rc_deliveries");
	uint64_t lost = it_counter("counters", "rc_lost");
	uint64_t subscribed = it_counter("counters", "rc_subscribed");
	struct results_of r = { 0 };
	struct tw_delivery *d[2];
	struct tw_worker *w;
	struct tw_outcome o;
	pid_t pid;

	(void)state;
	pid = spawn_worker("wk_kill", "kill", "--heartbeat-ms", "200", NULL);
	assert_true(wait_counter("rc_subscribed", subscribed + 1, TIMEOUT_MS) > subscribed);
	r.id = publish(c, "wk_kill", "sleep_us", "[5000000]");
	assert_true(wait_counter("rc_deliveries", deliveries + 1, TIMEOUT_MS) > deliveries);
	/* a second consumer, idle (the queue is empty): the queue stays with remote
	 * consumers when the first dies, so the task is not taken by a worker lcore */
	w = consumer("wk_kill", 1, 0);
	assert_int_equal(collect(w, d, 1, 300), 0);
	reap(pid, SIGKILL);
	/* the engine notices the silence (3 x 200 ms) and puts the task back */
	assert_true(wait_counter("rc_lost", lost + 1, TIMEOUT_MS) > lost);
	assert_int_equal(collect(w, d, 1, TIMEOUT_MS), 1);
	assert_int_equal(d[0]->task_id, r.id);
	assert_int_equal(d[0]->delivery_count, 2);
	assert_string_equal(d[0]->task_name, "sleep_us");
	assert_string_equal(d[0]->queue, "wk_kill");
	ack_success(w, d[0]->tag, "second run");
	tw_delivery_free(d[0]);
	assert_int_equal(tw_client_wait(c, r.id, TIMEOUT_MS, &o, NULL, NULL), 0);
	assert_int_equal(o.state, TW_STATE_SUCCESS);
	assert_memory_equal(o.value, "second run", 10);
	tw_outcome_clear(&o);
	expect_stored(r.id, TW_STATE_SUCCESS, "second run");
	/* no second result, and nothing more delivered */
	assert_true(tw_client_poll(c, 700, count_finals, &r) >= 0);
	assert_int_equal(r.finals, 0);
	assert_int_equal(collect(w, d, 1, 300), 0);
	tw_worker_close(w);
	tw_client_close(c);
}

/* The whole of a file (NUL-terminated) into buf. */
static void
read_log(const char *name, char *buf, size_t len)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/worker-%s.log", getenv("TW_DIR") ? getenv("TW_DIR") : "/tmp",
		 name);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/*
 * tw-worker --time-limit (Celery's hard limit): a task past it is acked
 * FAILURE to the engine by its worker process, whose consumer cancels in
 * the same datagram; then the process is killed and replaced. The task
 * ends FAILURE once, is not delivered again; the replacement runs the
 * next task; the kill is counted.
 */
static void
test_workers_time_limit(void **state)
{
	static char log[1 << 14];
	struct tw_client *c = it_client();
	uint64_t subscribed = it_counter("counters", "rc_subscribed");
	uint64_t cancelled = it_counter("counters", "rc_cancelled");
	uint64_t redelivered = it_counter("counters", "rc_redelivered");
	struct results_of r = { 0 };
	struct tw_outcome o;
	pid_t pid;
	char *p;

	(void)state;
	pid = spawn_worker("wk_tl", "tl", "--time-limit", "0.5", "--heartbeat-ms", "200", NULL);
	assert_true(wait_counter("rc_subscribed", subscribed + 1, TIMEOUT_MS) > subscribed);
	r.id = publish(c, "wk_tl", "sleep_us", "[4000000]");
	assert_int_equal(tw_client_wait(c, r.id, TIMEOUT_MS, &o, NULL, NULL), 0);
	assert_int_equal(o.state, TW_STATE_FAILURE);
	assert_non_null(strstr(o.error, "TimeLimitExceeded"));
	tw_outcome_clear(&o);
	expect_stored(r.id, TW_STATE_FAILURE, NULL);
	assert_true(it_counter("counters", "rc_cancelled") > cancelled);
	/* the replacement child runs the next one */
	expect_result(c, publish(c, "wk_tl", "add", "[2,3]"), TW_STATE_SUCCESS, "5");
	/* the killed run left no second result */
	assert_true(tw_client_poll(c, 300, count_finals, &r) >= 0);
	assert_int_equal(r.finals, 0);
	assert_int_equal(it_counter("counters", "rc_redelivered"), redelivered);
	reap(pid, SIGTERM);
	read_log("tl", log, sizeof(log));
	p = strstr(log, "ran past --time-limit (500 ms): its FAILURE taken by the engine");
	assert_non_null(p);
	assert_null(strstr(p + 1, "ran past --time-limit"));
	assert_non_null(strstr(log, "supervisor stopped: 1 children killed past --time-limit (1 of "
				    "their tasks' FAILURE taken by the engine)"));
	tw_client_close(c);
}

/*
 * --time-limit across workers: two tw-worker processes take one queue; a
 * task past the limit on one of them ends FAILURE through the engine and
 * is never delivered again, so the other, which knows nothing of the
 * kill, never runs it (when the "do not run again" memory was the killed
 * process's own, the task came back when its heartbeats stopped and ran
 * on the other worker until the limit once more). Both serve on.
 */
static void
test_workers_time_limit_two_workers(void **state)
{
	struct tw_client *c = it_client();
	uint64_t subscribed = it_counter("counters", "rc_subscribed");
	uint64_t redelivered = it_counter("counters", "rc_redelivered");
	uint64_t deliveries, started;
	struct results_of r = { 0 };
	struct tw_outcome o;
	pid_t a, b;

	(void)state;
	a = spawn_worker("wk_tl2", "tl2a", "--time-limit", "0.5", "--heartbeat-ms", "200", NULL);
	b = spawn_worker("wk_tl2", "tl2b", "--time-limit", "0.5", "--heartbeat-ms", "200", NULL);
	assert_true(wait_counter("rc_subscribed", subscribed + 2, TIMEOUT_MS) >= subscribed + 2);
	deliveries = it_counter("counters", "rc_deliveries");
	started = it_now_ms();
	r.id = publish(c, "wk_tl2", "sleep_us", "[3000000]");
	assert_int_equal(tw_client_wait(c, r.id, TIMEOUT_MS, &o, NULL, NULL), 0);
	assert_int_equal(o.state, TW_STATE_FAILURE);
	assert_non_null(strstr(o.error, "TimeLimitExceeded"));
	tw_outcome_clear(&o);
	/* at the limit, not after a second run elsewhere */
	assert_true(it_now_ms() - started < 2500);
	/* past three heartbeat intervals of the killed process, and another 0.5 s limit:
	 * no second result, nothing delivered again */
	assert_true(tw_client_poll(c, 1500, count_finals, &r) >= 0);
	assert_int_equal(r.finals, 0);
	assert_int_equal(it_counter("counters", "rc_redelivered"), redelivered);
	assert_int_equal(it_counter("counters", "rc_deliveries"), deliveries + 1);
	expect_stored(r.id, TW_STATE_FAILURE, NULL);
	/* both still serve (one with its replacement child) */
	for (int i = 0; i < 4; i++)
		expect_result(c, publish(c, "wk_tl2", "add", "[2,3]"), TW_STATE_SUCCESS, "5");
	reap(a, SIGTERM);
	reap(b, SIGTERM);
	tw_client_close(c);
}

/* A lease that runs out: redelivered with delivery_count 2; the old tag is stale. */
static void
test_workers_lease_expiry_and_stale_ack(void **state)
{
	struct tw_client *c = it_client();
	/* a lease long enough for the acks of a slow (sanitized) run to beat it */
	struct tw_worker *w = consumer("wk_lease", 1, 1000);
	uint64_t expired = it_counter("counters", "rc_lease_expired");
	uint64_t stale = it_counter("counters", "rc_ack_stale");
	struct tw_worker_stats st;
	struct tw_delivery *d[2];
	uint64_t id;

	(void)state;
	id = publish(c, "wk_lease", "echo", "leased");
	assert_int_equal(collect(w, d, 1, TIMEOUT_MS), 1);
	assert_int_equal(d[0]->delivery_count, 1);
	assert_int_equal(d[0]->lease_ms, 1000);
	/* no ack: the lease runs out and the task comes back, to us (credit 1 freed) */
	assert_int_equal(collect(w, d + 1, 1, TIMEOUT_MS), 1);
	assert_int_equal(d[1]->task_id, id);
	assert_int_equal(d[1]->delivery_count, 2);
	assert_true(d[1]->tag != d[0]->tag);
	assert_true(it_counter("counters", "rc_lease_expired") > expired);
	/* the first delivery's ack is refused: it was requeued */
	ack_success(w, d[0]->tag, "late");
	ack_success(w, d[1]->tag, "on time");
	expect_result(c, id, TW_STATE_SUCCESS, "on time");
	expect_stored(id, TW_STATE_SUCCESS, "on time");
	/* a duplicate of the good ack is refused too */
	ack_success(w, d[1]->tag, "again");
	assert_int_equal(tw_worker_poll(w, 500, d + 2, 1), 0); /* the engine's answers */
	assert_true(it_counter("counters", "rc_ack_stale") >= stale + 2);
	tw_worker_get_stats(w, &st);
	assert_int_equal(st.acks_refused, 2);
	assert_int_equal(st.acks_confirmed, 1);
	tw_delivery_free(d[0]);
	tw_delivery_free(d[1]);
	tw_worker_close(w);
	/* progress extends a lease: 6 x 300 ms of work under a 1 s lease, no redelivery */
	w = consumer("wk_lease", 1, 1000);
	expired = it_counter("counters", "rc_lease_expired");
	id = publish(c, "wk_lease", "echo", "slow");
	assert_int_equal(collect(w, d, 1, TIMEOUT_MS), 1);
	for (int i = 0; i < 6; i++) {
		struct tw_ack p = { .outcome = TW_OUTCOME_PROGRESS, .value = "{}", .value_len = 2 };

		usleep(300000);
		assert_int_equal(tw_worker_ack(w, d[0]->tag, &p), 0);
		assert_int_equal(tw_worker_poll(w, 0, d + 1, 1), 0);
	}
	ack_success(w, d[0]->tag, "done");
	expect_result(c, id, TW_STATE_SUCCESS, "done");
	assert_int_equal(it_counter("counters", "rc_lease_expired"), expired);
	tw_delivery_free(d[0]);
	tw_worker_close(w);
	tw_client_close(c);
}

/*
 * A PROGRESS ack moves its delivery to the back of its consumer's lease
 * order: A then B delivered under a 3 s lease, A's progress 1.5 s into
 * it; B's lease ends first and B alone comes back (delivery_count 2)
 * while A, leased before it, is still out, and A's ack is then taken. A
 * progress that renewed A's deadline but left A at the head would hold B
 * until A's renewed lease ends (the lease scan stops at the first
 * delivery still in its lease), and both would come back together.
 */
static void
test_workers_progress_moves_lease_to_back(void **state)
{
	struct tw_client *c = it_client();
	struct tw_worker *w = consumer("wk_lease", 2, 3000);
	uint64_t expired = it_counter("counters", "rc_lease_expired");
	uint64_t progress = it_counter("counters", "rc_progress");
	struct tw_ack p = { .outcome = TW_OUTCOME_PROGRESS, .value = "{}", .value_len = 2 };
	struct tw_worker_stats st;
	struct tw_delivery *d[4];
	uint64_t a, b, renewed_until;

	(void)state;
	a = publish(c, "wk_lease", "echo", "A");
	assert_int_equal(collect(w, d, 1, TIMEOUT_MS), 1);
	assert_int_equal(d[0]->task_id, a);
	usleep(300000);
	b = publish(c, "wk_lease", "echo", "B");
	assert_int_equal(collect(w, d + 1, 1, TIMEOUT_MS), 1);
	assert_int_equal(d[1]->task_id, b);
	usleep(1200000);
	/* A's lease starts again: it now ends 1.2 s after B's */
	renewed_until = it_now_ms() + 3000;
	assert_int_equal(tw_worker_ack(w, d[0]->tag, &p), 0);
	assert_int_equal(wait_counter("rc_progress", progress + 1, 1000), progress + 1);
	/* B comes back when its lease ends, A's still running */
	assert_int_equal(collect(w, d + 2, 1, 2800), 1);
	assert_int_equal(d[2]->task_id, b);
	assert_int_equal(d[2]->delivery_count, 2);
	assert_true(it_now_ms() < renewed_until);
	assert_int_equal(it_counter("counters", "rc_lease_expired"), expired + 1);
	/* A is still ours: its ack is taken, not refused as stale */
	ack_success(w, d[0]->tag, "A done");
	ack_success(w, d[2]->tag, "B done");
	/* both final results (A's progress came to the publisher too), then the store's */
	{
		struct results_of r[2] = { { .id = a }, { .id = b } };
		uint64_t until = it_now_ms() + TIMEOUT_MS;

		while ((r[0].finals == 0 || r[1].finals == 0) && it_now_ms() < until)
			assert_true(tw_client_poll(c, 100, count_finals_of_two, r) >= 0);
		assert_int_equal(r[0].finals, 1);
		assert_int_equal(r[1].finals, 1);
	}
	expect_stored(a, TW_STATE_SUCCESS, "A done");
	expect_stored(b, TW_STATE_SUCCESS, "B done");
	assert_int_equal(collect(w, d + 3, 1, 300), 0);
	tw_worker_get_stats(w, &st);
	assert_int_equal(st.acks_refused, 0);
	assert_int_equal(it_counter("counters", "rc_lease_expired"), expired + 1);
	for (int i = 0; i < 3; i++)
		tw_delivery_free(d[i]);
	tw_worker_close(w);
	tw_client_close(c);
}

/* A task never acked, lease after lease, ends after its 17th delivery (the default limit of 16) with a FAILURE naming why. */
static void
test_workers_delivery_limit(void **state)
{
	struct tw_client *c = it_client();
	struct tw_worker *w = consumer("wk_lease", 1, 100);
	uint64_t limited = it_counter("counters", "rc_delivery_limit");
	struct tw_delivery *d[1];
	struct tw_outcome o;
	uint32_t last = 0;
	uint64_t id;
	int n = 0;

	(void)state;
	id = publish(c, "wk_lease", "echo", "poison");
	/* bounded: 17 leases of 100 ms. Counts only grow (a delivery datagram
	 * the engine could not send, on a loaded or sanitized run, skips one) */
	while (last < 16 && collect(w, d, 1, 2000) == 1) {
		assert_int_equal(d[0]->task_id, id);
		assert_true(d[0]->delivery_count > last);
		last = d[0]->delivery_count;
		tw_delivery_free(d[0]);
		n++;
	}
	assert_true(n >= 8 && last <= 17);
	assert_int_equal(tw_client_wait(c, id, TIMEOUT_MS, &o, NULL, NULL), 0);
	assert_int_equal(o.state, TW_STATE_FAILURE);
	assert_non_null(strstr(o.error, "delivery limit"));
	tw_outcome_clear(&o);
	expect_stored(id, TW_STATE_FAILURE, NULL);
	assert_int_equal(it_counter("counters", "rc_delivery_limit"), limited + 1);
	tw_worker_close(w);
	tw_client_close(c);
}

/* Deliveries stay within the credit window. */
static void
test_workers_credit_respected(void **state)
{
	struct tw_client *c = it_client();
	struct tw_worker *w = consumer("wk_credit", 2, 0);
	struct tw_delivery *d[8];
	uint64_t ids[5];

	(void)state;
	for (int i = 0; i < 5; i++)
		ids[i] = publish(c, "wk_credit", "echo", "c");
	/* two, and no third while both are unacked */
	assert_int_equal(collect(w, d, 8, 1000), 2);
	ack_success(w, d[0]->tag, "1");
	assert_int_equal(collect(w, d + 2, 8, 1000), 1);
	ack_success(w, d[1]->tag, "2");
	ack_success(w, d[2]->tag, "3");
	assert_int_equal(collect(w, d + 3, 8, 1000), 2);
	ack_success(w, d[3]->tag, "4");
	ack_success(w, d[4]->tag, "5");
	expect_all_succeed(c, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(d[i]->task_id, ids[i]); /* in queue order */
		tw_delivery_free(d[i]);
	}
	tw_worker_close(w);
	tw_client_close(c);
}

/*
 * A credit of 1,000 (Celery's prefetch_multiplier x concurrency in the
 * hundreds; RabbitMQ allows 65,535): granted whole, 1,000 deliveries out
 * at once and no 1,001st until an ack, then every task succeeds once.
 */
static void
test_workers_credit_thousand(void **state)
{
	enum { K = 1000 };
	static struct tw_delivery *d[K + 1];
	struct tw_client *c = it_client();
	/* beating every 2 s: dropped as silent under load, it was given 1,001 */
	struct tw_worker *w = consumer_beating("wk_k", K, 60000, 2000);
	uint64_t acks = it_counter("counters", "rc_acks");
	uint32_t prefetch, lease_ms, heartbeat_ms;

	(void)state;
	tw_worker_granted(w, &prefetch, &lease_ms, &heartbeat_ms);
	assert_int_equal(prefetch, K);
	for (int i = 0; i <= K; i++) {
		struct tw_publish p = { .routing_key = "wk_k", .task = "echo", .args = "k",
					.args_len = 1 };
		uint64_t id;

		assert_int_equal(tw_client_publish(c, &p, &id), 0);
	}
	assert_int_equal(tw_client_flush(c), 0);
	assert_int_equal(collect(w, d, K + 1, 15000), K);
	/* the window is full: the last task waits for an ack */
	assert_int_equal(collect(w, d + K, 1, 500), 0);
	for (int i = 0; i < K; i++)
		ack_success(w, d[i]->tag, "k");
	assert_int_equal(collect(w, d + K, 1, 5000), 1);
	ack_success(w, d[K]->tag, "k");
	expect_all_succeed(c, K + 1);
	assert_int_equal(wait_counter("rc_acks", acks + K + 1, 5000), acks + K + 1);
	for (int i = 0; i <= K; i++)
		tw_delivery_free(d[i]);
	tw_worker_close(w);
	tw_client_close(c);
}

/*
 * Batched acks (tw_worker_ack_batched, tw_worker_flush_acks): 300 acks
 * reach the engine in a handful of datagrams, not 300, each taken once and
 * answered; one with a value too large to share a datagram goes alone
 * (in fragments) and keeps its value.
 */
static void
test_workers_acks_batched(void **state)
{
	enum { K = 300 };
	static struct tw_delivery *d[K + 1];
	static char big[3000];
	struct tw_client *c = it_client();
	struct tw_worker *w = consumer("wk_k", K + 1, 60000);
	uint64_t acks = it_counter("counters", "rc_acks"), frames;
	struct tw_ack a = { .outcome = TW_OUTCOME_SUCCESS, .value = "b", .value_len = 1 };
	struct tw_ack large = { .outcome = TW_OUTCOME_SUCCESS, .value = big, .value_len = sizeof(big) };
	struct tw_worker_stats st;
	uint64_t ids[K + 1];

	(void)state;
	memset(big, 'v', sizeof(big));
	for (int i = 0; i <= K; i++) {
		struct tw_publish p = { .routing_key = "wk_k", .task = "echo", .args = "b",
					.args_len = 1 };

		assert_int_equal(tw_client_publish(c, &p, &ids[i]), 0);
	}
	assert_int_equal(tw_client_flush(c), 0);
	assert_int_equal(collect(w, d, K + 1, 15000), K + 1);
	frames = it_counter("counters", "rx_frames");
	for (int i = 0; i < K; i++)
		assert_int_equal(tw_worker_ack_batched(w, d[i]->tag, &a), 0);
	assert_int_equal(tw_worker_ack_batched(w, d[K]->tag, &large), 0);
	assert_int_equal(tw_worker_flush_acks(w), 0);
	assert_int_equal(wait_counter("rc_acks", acks + K + 1, 5000), acks + K + 1);
	/* about 80 plain acks a datagram, the large one in its own pieces, and
	 * the heartbeats of the wait: far from one datagram per ack */
	assert_true(it_counter("counters", "rx_frames") - frames < 30);
	expect_all_succeed(c, K + 1);
	{
		struct tw_outcome o;

		/* the large value whole, in the store */
		assert_int_equal(tw_result_fetch(getenv("TW_SOCKET"), ids[K], TIMEOUT_MS, &o), 0);
		assert_int_equal(o.state, TW_STATE_SUCCESS);
		assert_int_equal(o.value_len, sizeof(big));
		assert_memory_equal(o.value, big, sizeof(big));
		tw_outcome_clear(&o);
	}
	expect_stored(ids[0], TW_STATE_SUCCESS, "b");
	/* every ack answered, none resent */
	for (int i = 0; i < 40; i++) {
		tw_worker_get_stats(w, &st);
		if (st.acks_confirmed >= K + 1)
			break;
		assert_true(tw_worker_poll(w, 50, d, 0) >= 0);
	}
	assert_int_equal(st.acks_sent, K + 1);
	assert_int_equal(st.acks_confirmed, K + 1);
	assert_int_equal(st.acks_refused, 0);
	for (int i = 0; i <= K; i++)
		tw_delivery_free(d[i]);
	tw_worker_close(w);
	tw_client_close(c);
}

/*
 * An ack whose answer is late, not lost: the engine stops for 600 ms after
 * taking nothing yet, the worker resends the ack (overdue), and the engine
 * then answers both copies: the first is confirmed, the second (refused by
 * the engine as stale: already acked) is counted as answered again, not as
 * a refusal. Then a caller that did not poll for longer than the resend
 * interval finds its answer in the socket: nothing is resent.
 */
static void
test_workers_ack_answer_late(void **state)
{
	struct tw_client *c = it_client();
	/* beats every second: the engine's 600 ms pause is no silence of three
	 * beats (with two io lcores, the beats waiting in the port reach the
	 * consumer table after its silence scan) */
	struct tw_worker *w = consumer_beating("wk_late", 2, 60000, 1000);
	const char *dp = getenv("TW_DP_PID");
	struct tw_delivery *d[2];
	struct tw_worker_stats st;
	pid_t pid;

	(void)state;
	assert_non_null(dp);
	pid = (pid_t)atoi(dp);
	publish(c, "wk_late", "echo", "1");
	publish(c, "wk_late", "echo", "2");
	assert_int_equal(collect(w, d, 2, TIMEOUT_MS), 2);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	ack_success(w, d[0]->tag, "one");
	/* overdue while the engine sleeps: resent */
	assert_int_equal(tw_worker_poll(w, 600, d, 0), 0);
	assert_int_equal(kill(pid, SIGCONT), 0);
	for (int i = 0; i < 100; i++) {
		tw_worker_get_stats(w, &st);
		if (st.acks_confirmed + st.acks_answered_again + st.acks_refused >= st.acks_resent + 1)
			break;
		assert_true(tw_worker_poll(w, 50, d, 0) >= 0);
	}
	assert_true(st.acks_resent >= 1);
	assert_int_equal(st.acks_confirmed, 1);
	assert_int_equal(st.acks_refused, 0);
	assert_int_equal(st.acks_answered_again, st.acks_resent);
	/* the answer waits in the socket 500 ms: taken, not resent */
	ack_success(w, d[1]->tag, "two");
	usleep(500 * 1000);
	for (int i = 0; i < 100; i++) {
		assert_true(tw_worker_poll(w, 50, d, 0) >= 0);
		tw_worker_get_stats(w, &st);
		if (st.acks_confirmed + st.acks_answered_again + st.acks_refused >= st.acks_resent + 2)
			break;
	}
	assert_int_equal(st.acks_confirmed, 2);
	assert_int_equal(st.acks_answered_again, st.acks_resent);
	assert_int_equal(st.acks_refused, 0);
	expect_all_succeed(c, 2);
	tw_delivery_free(d[0]);
	tw_delivery_free(d[1]);
	tw_worker_close(w);
	tw_client_close(c);
}

/* Results of one task by state, seen on a client (arg: struct states_of). */
struct states_of {
	uint64_t id;
	int progress, finals;
};

static void
count_states(const struct tw_event *ev, void *arg)
{
	struct states_of *r = arg;

	if (ev->kind != TW_EV_RESULT || ev->task_id != r->id)
		return;
	if (ev->state == TW_STATE_PROGRESS)
		r->progress++;
	else if (ev->state >= TW_STATE_SUCCESS)
		r->finals++;
}

/*
 * extend_leases: a delivery the caller holds past its lease (2 s under
 * 600 ms) is not delivered again: the heartbeat thread refreshes its lease
 * a third of a lease after it last started (EXTEND acks, counted
 * rc_lease_extended, unanswered), nothing reported to the publisher (no
 * PROGRESS), and its one ack ends it with one result. Without the
 * refreshes the task comes back to this consumer (credit 1) at 600 ms.
 */
static void
test_workers_extend_leases(void **state)
{
	const char *q[1] = { "wk_ext" };
	struct tw_worker_opts o = { .queues = q, .n_queues = 1, .prefetch = 1, .lease_ms = 600,
				    .heartbeat_ms = 200, .name = "it-ext", .extend_leases = true };
	struct tw_client *c = it_client();
	uint64_t expired = it_counter("counters", "rc_lease_expired");
	uint64_t extended = it_counter("counters", "rc_lease_extended");
	uint64_t redelivered = it_counter("counters", "rc_redelivered");
	struct states_of seen = { 0 };
	struct tw_worker_stats st;
	struct tw_delivery *d[2];
	struct tw_worker *w;
	char err[160];

	(void)state;
	w = tw_worker_open(it_engine(), &o, err, sizeof(err));
	if (w == NULL)
		fail_msg("subscribe: %s", err);
	seen.id = publish(c, "wk_ext", "echo", "long");
	assert_int_equal(collect(w, d, 1, TIMEOUT_MS), 1);
	assert_int_equal(d[0]->delivery_count, 1);
	/* "running" 2 s: nothing comes back meanwhile */
	assert_int_equal(collect(w, d + 1, 1, 2000), 0);
	ack_success(w, d[0]->tag, "done");
	{
		uint64_t until = it_now_ms() + TIMEOUT_MS;

		while (seen.finals == 0 && it_now_ms() < until)
			assert_true(tw_client_poll(c, 100, count_states, &seen) >= 0);
		/* a second result would come at once after the first */
		assert_true(tw_client_poll(c, 300, count_states, &seen) >= 0);
	}
	assert_int_equal(seen.finals, 1);
	assert_int_equal(seen.progress, 0);
	expect_stored(seen.id, TW_STATE_SUCCESS, "done");
	assert_int_equal(it_counter("counters", "rc_lease_expired"), expired);
	assert_int_equal(it_counter("counters", "rc_redelivered"), redelivered);
	/* 2 s / 200 ms: about 10 */
	assert_true(it_counter("counters", "rc_lease_extended") >= extended + 5);
	tw_worker_get_stats(w, &st);
	assert_true(st.leases_extended >= 5);
	assert_int_equal(st.extends_refused, 0);
	for (int i = 0; i < 40 && st.acks_confirmed == 0; i++) {
		assert_true(tw_worker_poll(w, 50, d + 1, 0) >= 0);
		tw_worker_get_stats(w, &st);
	}
	assert_int_equal(st.acks_confirmed, 1);
	assert_int_equal(st.acks_refused, 0);
	/* acked: its lease is no longer kept */
	extended = it_counter("counters", "rc_lease_extended");
	usleep(500 * 1000);
	assert_int_equal(it_counter("counters", "rc_lease_extended"), extended);
	tw_delivery_free(d[0]);
	tw_worker_close(w);
	tw_client_close(c);
}

/*
 * Every final ack is resent until the engine answers it, however many are
 * out at once: 2,000 deliveries (credit 2,000) acked one datagram each
 * while the engine is stopped (SIGSTOP, 600 ms), more than its port's
 * queue holds, so many are dropped; the overdue ones go again (batched,
 * many to a datagram) and, once it runs again, each is taken once,
 * confirmed, and its task's result comes once. libtaskwire tracked 1,024
 * acks before: past them an ack went once, and a dropped one was never
 * resent (its task waited for its lease).
 */
static void
test_workers_acks_beyond_a_thousand(void **state)
{
	enum { K = 2000 };
	static struct tw_delivery *d[K];
	struct tw_client *c = it_client();
	/* beats every second: the 600 ms pause is no silence (as ack_answer_late) */
	struct tw_worker *w = consumer_beating("wk_many", K, 60000, 1000);
	uint64_t acks = it_counter("counters", "rc_acks");
	const char *dp = getenv("TW_DP_PID");
	struct tw_worker_stats st;
	pid_t pid;

	(void)state;
	assert_non_null(dp);
	pid = (pid_t)atoi(dp);
	for (int i = 0; i < K; i++) {
		struct tw_publish p = { .routing_key = "wk_many", .task = "echo", .args = "m",
					.args_len = 1 };
		uint64_t id;

		assert_int_equal(tw_client_publish(c, &p, &id), 0);
	}
	assert_int_equal(tw_client_flush(c), 0);
	assert_int_equal(collect(w, d, K, 15000), K);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	for (int i = 0; i < K; i++)
		ack_success(w, d[i]->tag, "m");
	/* overdue while the engine sleeps: resent */
	assert_int_equal(tw_worker_poll(w, 600, d, 0), 0);
	assert_int_equal(kill(pid, SIGCONT), 0);
	for (int i = 0; i < 200; i++) {
		tw_worker_get_stats(w, &st);
		if (st.acks_pending == 0)
			break;
		assert_true(tw_worker_poll(w, 50, d, 0) >= 0);
	}
	print_message("2,000 acks into a stopped engine: %llu resent, %llu answered twice\n",
		      (unsigned long long)st.acks_resent, (unsigned long long)st.acks_answered_again);
	/* every one kept until answered (none given up, none sent only once) */
	assert_int_equal(st.acks_pending, 0);
	assert_int_equal(st.acks_sent, K);
	assert_true(st.acks_resent >= 1);
	assert_int_equal(st.acks_confirmed, K);
	assert_int_equal(st.acks_refused, 0);
	assert_int_equal(wait_counter("rc_acks", acks + K, 5000), acks + K);
	expect_all_succeed(c, K);
	for (int i = 0; i < K; i++)
		tw_delivery_free(d[i]);
	tw_worker_close(w);
	tw_client_close(c);
}

/*
 * One consumer with a credit far larger than its share of the table's
 * 8,192 in-flight entries (TW_RC_INFLIGHT) holds its share and no more
 * (counted once: rc_share_held), so a consumer that comes next is served
 * at once while the first acks nothing; then every task succeeds once.
 * Fifteen idle consumers of another queue make the share small (8,192 /
 * (16 + 1) = 481 with the heavy one), so that a few hundred tasks show it.
 */
static void
test_workers_credit_share(void **state)
{
	enum { IDLE = 15, SHARE = 8192 / (IDLE + 1 + 1), N = SHARE + 8, B = 4 };
	static struct tw_delivery *da[N], *db[N];
	struct tw_worker *idle[IDLE], *a, *b;
	struct tw_client *c = it_client();
	uint64_t held = it_counter("counters", "rc_share_held");
	uint32_t prefetch, lease_ms, heartbeat_ms;
	int na, nb, i;

	(void)state;
	/* the only consumers of the table (the share counts on it) */
	{
		static char out[1 << 14];
		json_t *j;

		assert_int_equal(it_twctl_out(out, sizeof(out), "list consumers --json"), 0);
		j = json_loads(out, 0, NULL);
		assert_non_null(j);
		assert_int_equal(json_array_size(j), 0);
		json_decref(j);
	}
	/* beating every 2 s: a host pause of a few hundred ms must not make
	 * one of them silent, which would change the share */
	for (i = 0; i < IDLE; i++)
		idle[i] = consumer_beating("wk_bad", 1, 0, 2000);
	a = consumer("wk_share", 65535, 60000);
	tw_worker_granted(a, &prefetch, &lease_ms, &heartbeat_ms);
	assert_int_equal(prefetch, 65535);
	for (i = 0; i < N; i++) {
		struct tw_publish p = { .routing_key = "wk_share", .task = "echo", .args = "s",
					.args_len = 1 };
		uint64_t id;

		assert_int_equal(tw_client_publish(c, &p, &id), 0);
	}
	assert_int_equal(tw_client_flush(c), 0);
	/* its share, and no more while it holds it: 8 tasks wait */
	na = collect(a, da, N, TIMEOUT_MS);
	assert_int_equal(na, SHARE);
	assert_int_equal(collect(a, da + na, 1, 500), 0);
	assert_int_equal(it_counter("counters", "rc_share_held"), held + 1);
	/* a newcomer gets its credit's worth at once (its share: 8,192 / (17 + 1) = 455) */
	b = consumer("wk_share", B, 60000);
	nb = collect(b, db, B, TIMEOUT_MS);
	assert_int_equal(nb, B);
	/* then everything: acks free the rest for either of them */
	{
		uint64_t until = it_now_ms() + TIMEOUT_MS;
		int ka = 0, kb = 0;

		while ((ka < na || kb < nb || na + nb < N) && it_now_ms() < until) {
			for (; ka < na; ka++)
				ack_success(a, da[ka]->tag, "s");
			for (; kb < nb; kb++)
				ack_success(b, db[kb]->tag, "s");
			na += collect(a, da + na, N - na - nb, 20);
			nb += collect(b, db + nb, N - na - nb, 20);
		}
		assert_int_equal(na + nb, N);
		assert_int_equal(ka + kb, N);
	}
	expect_all_succeed(c, N);
	for (i = 0; i < na; i++)
		tw_delivery_free(da[i]);
	for (i = 0; i < nb; i++)
		tw_delivery_free(db[i]);
	tw_worker_close(b);
	tw_worker_close(a);
	for (i = 0; i < IDLE; i++)
		tw_worker_close(idle[i]);
	tw_client_close(c);
}

/*
 * A worker set (many consumers on one socket, no thread each): three
 * members of one queue and one of another. The engine takes all four
 * from the same address and port; each delivery reaches the member the
 * engine chose (credit 1 each, held unacked: the three get one task
 * each, none gets two), acks are answered through the set, and closing
 * them without waiting ends with every cancel answered, the unacked task
 * back in its queue.
 */
static void
test_workers_set_members(void **state)
{
	enum { M = 3 };
	static char out[1 << 16];
	const char *qa[1] = { "wk_set" }, *qb[1] = { "wk_set2" };
	struct tw_worker_set_stats st;
	struct tw_delivery *d[M + 1][2], *x[1];
	struct tw_client *c = it_client();
	struct tw_worker *w[M + 1], *y;
	int got[M + 1] = { 0 }, n_ours = 0;
	const char *addr = NULL;
	char err[160];
	struct tw_worker_set *s = tw_worker_set_new(it_engine(), err, sizeof(err));
	uint64_t until;
	json_t *j;

	(void)state;
	if (s == NULL)
		fail_msg("worker set: %s", err);
	for (int i = 0; i <= M; i++) {
		struct tw_worker_opts o = { .queues = i < M ? qa : qb, .n_queues = 1, .prefetch = 1,
					    .heartbeat_ms = 200, .name = "it-set", .set = s,
					    .user = &got[i] };

		w[i] = tw_worker_open(it_engine(), &o, err, sizeof(err));
		if (w[i] == NULL)
			fail_msg("member %d: %s", i, err);
		assert_ptr_equal(tw_worker_user(w[i]), &got[i]);
		assert_int_equal(tw_worker_fd(w[i]), tw_worker_set_fd(s));
	}
	tw_worker_set_get_stats(s, &st);
	assert_int_equal(st.members, M + 1);
	/* the engine: four consumers, one address and port */
	assert_int_equal(it_twctl_out(out, sizeof(out), "list consumers --json"), 0);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	for (size_t k = 0; k < json_array_size(j); k++) {
		json_t *e = json_array_get(j, k);
		const char *a = json_string_value(json_object_get(e, "address"));

		if (strcmp(json_string_value(json_object_get(e, "name")), "it-set") != 0)
			continue;
		n_ours++;
		assert_non_null(a);
		if (addr == NULL)
			addr = a;
		assert_string_equal(a, addr);
	}
	assert_int_equal(n_ours, M + 1);
	json_decref(j);
	for (int i = 0; i < M; i++)
		publish(c, "wk_set", "echo", "s");
	publish(c, "wk_set2", "echo", "t");
	/* the set's poll lists the members with something: each polls its own */
	until = it_now_ms() + TIMEOUT_MS;
	while (it_now_ms() < until) {
		struct pollfd pfd = { .fd = tw_worker_set_fd(s), .events = POLLIN };
		void *ready[8];
		size_t n;

		assert_true(poll(&pfd, 1, 50) >= 0);
		n = tw_worker_set_poll(s, ready, 8);
		for (size_t r = 0; r < n; r++) {
			int i = (int)((int *)ready[r] - got);

			assert_true(i >= 0 && i <= M);
			got[i] += tw_worker_poll(w[i], 0, d[i] + got[i], (size_t)(2 - got[i]));
		}
		/* past the first of each: 300 ms more, in which none may get a second */
		if (got[0] + got[1] + got[2] + got[3] == M + 1 && until > it_now_ms() + 300)
			until = it_now_ms() + 300;
	}
	for (int i = 0; i <= M; i++) {
		assert_int_equal(got[i], 1);
		assert_string_equal(d[i][0]->queue, i < M ? "wk_set" : "wk_set2");
	}
	/* acks through the shared socket, answered to their member */
	for (int i = 0; i < M; i++)
		ack_success(w[i], d[i][0]->tag, "s");
	expect_all_succeed(c, M);
	until = it_now_ms() + TIMEOUT_MS;
	for (int i = 0; i < M; i++) {
		struct tw_worker_stats ws;

		for (;;) {
			tw_worker_set_poll(s, NULL, 0);
			tw_worker_get_stats(w[i], &ws);
			if (ws.acks_confirmed != 0 || it_now_ms() >= until)
				break;
			usleep(10000);
		}
		assert_int_equal(ws.acks_confirmed, 1);
	}
	for (int i = 0; i <= M; i++) {
		tw_delivery_free(d[i][0]);
		tw_worker_close_async(w[i]);
	}
	/* the closes finish in the set's poll: every cancel answered */
	until = it_now_ms() + TIMEOUT_MS;
	do {
		struct pollfd pfd = { .fd = tw_worker_set_fd(s), .events = POLLIN };

		assert_true(poll(&pfd, 1, 20) >= 0);
		tw_worker_set_poll(s, NULL, 0);
		tw_worker_set_get_stats(s, &st);
	} while (st.closing != 0 && it_now_ms() < until);
	assert_int_equal(st.members, 0);
	assert_int_equal(st.closing, 0);
	assert_int_equal(st.closes_answered, M + 1);
	assert_int_equal(st.close_timeouts, 0);
	/* the unacked one went back with its consumer's cancel */
	y = consumer("wk_set2", 1, 0);
	assert_int_equal(collect(y, x, 1, TIMEOUT_MS), 1);
	assert_int_equal(x[0]->delivery_count, 2);
	ack_success(y, x[0]->tag, "t");
	expect_all_succeed(c, 1);
	tw_delivery_free(x[0]);
	tw_worker_close(y);
	tw_worker_set_free(s, 0);
	tw_client_close(c);
}

/*
 * x-delivery-limit per queue (RabbitMQ's: a limit of N lets a task be
 * delivered N + 1 times): a limit of 2 ends a never-acked task after its
 * third delivery, dead-lettered; out-of-range limits and a re-declare with
 * another limit are refused.
 */
static void
test_workers_queue_delivery_limit(void **state)
{
	static char out[1 << 16];
	struct tw_client *c = it_client();
	uint64_t limited = it_counter("counters", "rc_delivery_limit");
	struct tw_worker *w, *dlq;
	struct tw_delivery *d[1];
	uint32_t last = 0;
	uint64_t id;
	int n = 0;

	(void)state;
	assert_int_not_equal(it_twctl("queue declare wk_dlim --delivery-limit 255"), 0);
	assert_int_not_equal(it_twctl("queue declare wk_dlim --delivery-limit 0"), 0);
	assert_int_equal(it_twctl("exchange declare wk_dlx direct"), 0);
	assert_int_equal(it_twctl("queue declare wk_dlim_dead"), 0);
	assert_int_equal(it_twctl("bind wk_dlx wk_dlim_dead wk_dlim_dead"), 0);
	assert_int_equal(it_twctl("queue declare wk_dlim --delivery-limit 2 "
				  "--dead-letter-exchange wk_dlx --dead-letter-routing-key wk_dlim_dead"),
			 0);
	/* the same arguments again: a no-op; another limit: refused */
	assert_int_equal(it_twctl("queue declare wk_dlim --delivery-limit 2 "
				  "--dead-letter-exchange wk_dlx --dead-letter-routing-key wk_dlim_dead"),
			 0);
	assert_int_not_equal(it_twctl("queue declare wk_dlim --delivery-limit 3 "
				      "--dead-letter-exchange wk_dlx --dead-letter-routing-key wk_dlim_dead"),
			     0);
	assert_int_equal(it_queue("wk_dlim", "delivery_limit"), 2);
	assert_int_equal(it_queue("wk_e2e", "delivery_limit"), 16); /* the default */
	assert_int_equal(it_twctl_out(out, sizeof(out), "list queues"), 0);
	assert_non_null(strstr(out, "delivery_limit"));

	dlq = consumer("wk_dlim_dead", 1, 0);
	w = consumer("wk_dlim", 1, 100);
	id = publish(c, "wk_dlim", "echo", "poison");
	/* bounded: 3 leases of 100 ms */
	while (n < 3 && collect(w, d, 1, 2000) == 1) {
		assert_int_equal(d[0]->task_id, id);
		assert_int_equal(d[0]->delivery_count, last + 1);
		last = d[0]->delivery_count;
		tw_delivery_free(d[0]);
		n++;
	}
	assert_int_equal(n, 3);
	/* no fourth delivery: the task went to the dead-letter queue, counted once */
	assert_int_equal(collect(dlq, d, 1, TIMEOUT_MS), 1);
	assert_int_equal(d[0]->task_id, id);
	assert_string_equal(d[0]->queue, "wk_dlim_dead");
	assert_int_equal(d[0]->delivery_count, 1); /* counted again in its new queue */
	ack_success(dlq, d[0]->tag, "dead");
	tw_delivery_free(d[0]);
	assert_int_equal(collect(w, d, 1, 300), 0);
	expect_result(c, id, TW_STATE_SUCCESS, "dead");
	assert_int_equal(it_counter("counters", "rc_delivery_limit"), limited + 1);
	tw_worker_close(w);
	tw_worker_close(dlq);
	tw_client_close(c);
}

/*
 * x-consumers remote: a task published before any consumer waits in the
 * queue (the engine's lcores never run it), is delivered when one
 * subscribes, and waits again while none is.
 */
static void
test_workers_queue_consumers_remote(void **state)
{
	struct tw_client *c = it_client();
	struct tw_worker *w;
	struct tw_delivery *d[1];
	struct tw_outcome o;
	uint64_t id;

	(void)state;
	assert_int_not_equal(it_twctl("queue declare wk_rem --consumers nobody"), 0);
	assert_int_equal(it_twctl("queue declare wk_rem --consumers remote"), 0);
	assert_int_not_equal(it_twctl("queue declare wk_rem --consumers both"), 0);
	for (int round = 0; round < 2; round++) {
		char value[16];

		/* echo is a task the engine knows: run there, its result would be its args */
		id = publish(c, "wk_rem", "echo", "engine");
		usleep(500000);
		assert_int_equal(it_queue("wk_rem", "ready"), 1);
		assert_int_equal(tw_result_fetch(getenv("TW_SOCKET"), id, 0, &o), -ETIMEDOUT);
		w = consumer("wk_rem", 1, 0);
		assert_int_equal(collect(w, d, 1, TIMEOUT_MS), 1);
		assert_int_equal(d[0]->task_id, id);
		assert_int_equal(d[0]->delivery_count, 1);
		snprintf(value, sizeof(value), "remote%d", round);
		ack_success(w, d[0]->tag, value);
		tw_delivery_free(d[0]);
		expect_result(c, id, TW_STATE_SUCCESS, value);
		tw_worker_close(w);
	}
	tw_client_close(c);
}

/* Results by the value they carry: "lcore" (the engine's echo) or anything else. */
struct by_runner {
	uint64_t lcore, other, failed;
};

static void
count_runner(const struct tw_event *ev, void *arg)
{
	struct by_runner *r = arg;

	if (ev->kind != TW_EV_RESULT || ev->state < TW_STATE_SUCCESS)
		return;
	if (ev->state != TW_STATE_SUCCESS)
		r->failed++;
	else if (ev->value_len == 5 && memcmp(ev->value, "lcore", 5) == 0)
		r->lcore++;
	else
		r->other++;
}

/*
 * x-consumers engine: a subscription is refused, named; x-consumers both:
 * while a consumer holds its deliveries unacked, the engine's lcores run
 * the queue's other tasks (an "auto" queue would keep them for the
 * consumer).
 */
static void
test_workers_queue_consumers_engine_both(void **state)
{
	const char *q[1] = { "wk_eng" };
	struct tw_worker_opts o = { .queues = q, .n_queues = 1 };
	struct tw_client *c = it_client();
	struct by_runner r = { 0 };
	struct tw_delivery *held[2];
	struct tw_worker *w;
	uint64_t sent = 0, until;
	char err[160];
	int got = 0;

	(void)state;
	assert_int_equal(it_twctl("queue declare wk_eng --consumers engine"), 0);
	assert_null(tw_worker_open(it_engine(), &o, err, sizeof(err)));
	assert_non_null(strstr(err, "served by the engine only"));
	expect_result(c, publish(c, "wk_eng", "echo", "e"), TW_STATE_SUCCESS, "e");

	assert_int_equal(it_twctl("queue declare wk_both --consumers both"), 0);
	w = consumer("wk_both", 2, 0);
	/* until the consumer holds two; the lcores take some meanwhile (bounded: 200) */
	while (got < 2 && sent < 200) {
		publish(c, "wk_both", "echo", "lcore");
		sent++;
		got += collect(w, held + got, 2 - got, 50);
		assert_true(tw_client_poll(c, 0, count_runner, &r) >= 0);
	}
	assert_int_equal(got, 2);
	/* the consumer's credit is spent: the lcores run all of these */
	for (int i = 0; i < 20; i++)
		publish(c, "wk_both", "echo", "lcore");
	sent += 20;
	until = it_now_ms() + TIMEOUT_MS;
	while (r.lcore < sent - 2 && it_now_ms() < until)
		assert_true(tw_client_poll(c, 100, count_runner, &r) >= 0);
	assert_int_equal(r.lcore, sent - 2);
	assert_int_equal(r.other + r.failed, 0);
	for (int i = 0; i < 2; i++) {
		ack_success(w, held[i]->tag, "remote");
		tw_delivery_free(held[i]);
	}
	until = it_now_ms() + TIMEOUT_MS;
	while (r.other < 2 && it_now_ms() < until)
		assert_true(tw_client_poll(c, 100, count_runner, &r) >= 0);
	assert_int_equal(r.other, 2);
	assert_int_equal(r.lcore, sent - 2);
	tw_worker_close(w);
	tw_client_close(c);
}

/* --- raw frames: what a broken or hostile consumer could send --- */

/* A raw socket to the engine, its source proven (it_common.h). */
static int
raw_socket(void)
{
	return it_udp_socket(NULL, 0);
}

static void
raw_send(int fd, Taskwire__Frame *f)
{
	uint8_t buf[2048];
	size_t len;

	f->magic = 0x31465754u;
	f->version = 1;
	f->frame_id = 7;
	it_frame_cookie(fd, f);
	len = taskwire__frame__pack(f, buf);
	assert_true(send(fd, buf, len, 0) == (ssize_t)len);
}

/* The next frame from the engine (asserts one arrives in time); free with free_unpacked. */
static Taskwire__Frame *
raw_recv(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t buf[65536];
	ssize_t n;

	assert_int_equal(poll(&p, 1, 2000), 1);
	n = recv(fd, buf, sizeof(buf), 0);
	assert_true(n > 0);
	return taskwire__frame__unpack(NULL, (size_t)n, buf);
}

/*
 * Cancel raw consumers ids[0..n) and wait for each cancel's answer,
 * sending again those not answered (bounded: 5 rounds of 300 ms). A
 * datagram can be lost (a TAP device drops what overflows its queue on a
 * busy machine, a sanitized engine is slower): a cancel sent once and
 * lost leaves the consumer subscribed, taking the next tests' tasks, for
 * its whole heartbeat interval. Asserts every one was answered: ok, or
 * "unknown consumer" (never subscribed, or an ok answer lost and the
 * cancel sent again). @return how many were answered ok.
 */
static int
raw_cancel_all(int fd, const uint64_t *ids, int n)
{
	static uint8_t answered[2048];
	int ok = 0, left = n;

	assert_true(n <= (int)sizeof(answered));
	memset(answered, 0, (size_t)n);
	for (int round = 0; round < 5 && left > 0; round++) {
		uint64_t until;

		for (int i = 0; i < n; i++) {
			Taskwire__Frame f = TASKWIRE__FRAME__INIT;
			Taskwire__Cancel cn = TASKWIRE__CANCEL__INIT;

			if (answered[i])
				continue;
			cn.consumer_id = ids[i];
			f.cancel = &cn;
			raw_send(fd, &f);
			if (i % 64 == 63)
				usleep(5000); /* a burst of 64 fits the TAP queue */
		}
		until = it_now_ms() + 300;
		while (left > 0 && it_now_ms() < until) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			uint8_t buf[65536];
			Taskwire__Frame *r;
			ssize_t got;

			if (poll(&p, 1, 50) != 1)
				continue;
			got = recv(fd, buf, sizeof(buf), 0);
			r = got > 0 ? taskwire__frame__unpack(NULL, (size_t)got, buf) : NULL;
			/* bounded: the frame's answers, each matched against n ids */
			for (size_t k = 0; r != NULL && k < r->n_consumers; k++)
				for (int i = 0; i < n; i++) {
					if (answered[i] || ids[i] != r->consumers[k]->consumer_id)
						continue;
					answered[i] = 1;
					left--;
					ok += r->consumers[k]->ok;
					break;
				}
			if (r != NULL)
				taskwire__frame__free_unpacked(r, NULL);
		}
	}
	assert_int_equal(left, 0);
	return ok;
}

static Taskwire__ConsumerReply *
raw_subscribe(int fd, uint64_t id, const char *queue, uint32_t prefetch, Taskwire__Frame **keep)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Subscribe s = TASKWIRE__SUBSCRIBE__INIT;
	char *q[1] = { (char *)queue };
	Taskwire__Frame *r;

	s.consumer_id = id;
	s.n_queues = 1;
	s.queues = q;
	s.prefetch = prefetch;
	f.subscribe = &s;
	raw_send(fd, &f);
	r = raw_recv(fd);
	assert_non_null(r);
	assert_int_equal(r->n_consumers, 1);
	assert_int_equal(r->consumers[0]->consumer_id, id);
	*keep = r;
	return r->consumers[0];
}

static Taskwire__AckReply *
raw_ack(int fd, uint64_t tag, Taskwire__Frame **keep)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Ack a = TASKWIRE__ACK__INIT;
	Taskwire__Ack *list[1] = { &a };
	Taskwire__Frame *r;

	a.delivery_tag = tag;
	a.outcome = TASKWIRE__ACK_OUTCOME__ACK_SUCCESS;
	f.n_acks = 1;
	f.acks = list;
	raw_send(fd, &f);
	r = raw_recv(fd);
	assert_non_null(r);
	assert_int_equal(r->n_ack_replies, 1);
	assert_int_equal(r->ack_replies[0]->delivery_tag, tag);
	*keep = r;
	return r->ack_replies[0];
}

static void
test_workers_bad_subscriptions(void **state)
{
	uint64_t refused = it_counter("counters", "rc_refused");
	uint64_t clamped = it_counter("counters", "rc_credit_clamped");
	const char *q[1] = { "wk_no_such_queue" };
	struct tw_worker_opts o = { .queues = q, .n_queues = 1 };
	Taskwire__ConsumerReply *cr;
	Taskwire__Frame *keep;
	char err[160];
	int fd = raw_socket();

	(void)state;
	/* a missing queue: refused, named */
	assert_null(tw_worker_open(it_engine(), &o, err, sizeof(err)));
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(err, "no such queue: wk_no_such_queue"));
	/* credit 0: refused */
	cr = raw_subscribe(fd, 0xc0ffee01, "wk_bad", 0, &keep);
	assert_false(cr->ok);
	assert_non_null(strstr(cr->detail, "prefetch 0"));
	taskwire__frame__free_unpacked(keep, NULL);
	/* consumer id 0: refused */
	cr = raw_subscribe(fd, 0, "wk_bad", 1, &keep);
	assert_false(cr->ok);
	taskwire__frame__free_unpacked(keep, NULL);
	/* (the library may send its Subscribe twice before the answer: at least 3) */
	assert_true(it_counter("counters", "rc_refused") >= refused + 3);
	/* credit 10^9: granted, clamped to the engine's maximum */
	cr = raw_subscribe(fd, 0xc0ffee02, "wk_bad", 1000000000u, &keep);
	assert_true(cr->ok);
	assert_int_equal(cr->prefetch, 65535);
	taskwire__frame__free_unpacked(keep, NULL);
	assert_int_equal(it_counter("counters", "rc_credit_clamped"), clamped + 1);
	/* cancel it: the queue goes back to the worker lcores */
	raw_cancel_all(fd, (const uint64_t[]){ 0xc0ffee02 }, 1);
	{
		struct tw_client *c = it_client();
		struct tw_outcome out;

		assert_int_equal(it_call(c, "", "wk_bad", "add", "[1,1]", TIMEOUT_MS, &out), 0);
		assert_int_equal(out.state, TW_STATE_SUCCESS);
		tw_outcome_clear(&out);
		tw_client_close(c);
	}
	close(fd);
}

static Taskwire__AckReply *
raw_ack_outcome(int fd, uint64_t tag, Taskwire__AckOutcome outcome, Taskwire__Frame **keep)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Ack a = TASKWIRE__ACK__INIT;
	Taskwire__Ack *list[1] = { &a };
	Taskwire__Frame *r;

	a.delivery_tag = tag;
	a.outcome = outcome;
	a.value.data = (uint8_t *)"raw";
	a.value.len = outcome == TASKWIRE__ACK_OUTCOME__ACK_SUCCESS ? 3 : 0;
	f.n_acks = 1;
	f.acks = list;
	raw_send(fd, &f);
	r = raw_recv(fd);
	assert_non_null(r);
	assert_int_equal(r->n_ack_replies, 1);
	assert_int_equal(r->ack_replies[0]->delivery_tag, tag);
	*keep = r;
	return r->ack_replies[0];
}

static void
test_workers_bad_acks(void **state)
{
	uint64_t unknown = it_counter("counters", "rc_ack_unknown");
	uint64_t foreign = it_counter("counters", "rc_ack_foreign");
	uint64_t bad = it_counter("counters", "rc_ack_bad");
	uint64_t stale = it_counter("counters", "rc_ack_stale");
	struct tw_client *c = it_client();
	Taskwire__ConsumerReply *cr;
	Taskwire__AckReply *ar;
	Taskwire__Frame *keep, *dl;
	uint64_t id, tag;
	int fd = raw_socket(), other = raw_socket();

	(void)state;
	/* tags never issued: a table no io lcore has, a generation far ahead, generation 0 */
	ar = raw_ack(fd, (99999ull << 32) | (0xffffull << 16) | 5, &keep);
	assert_false(ar->ok);
	assert_non_null(strstr(ar->detail, "unknown"));
	taskwire__frame__free_unpacked(keep, NULL);
	ar = raw_ack(fd, 0xffffull, &keep); /* slot out of range (generation 0 too) */
	assert_false(ar->ok);
	taskwire__frame__free_unpacked(keep, NULL);
	assert_int_equal(it_counter("counters", "rc_ack_unknown"), unknown + 2);

	/* this socket as a consumer of wk_bad, credit 1 */
	cr = raw_subscribe(fd, 0xacce55, "wk_bad", 1, &keep);
	assert_true(cr->ok);
	taskwire__frame__free_unpacked(keep, NULL);
	id = publish(c, "wk_bad", "echo", "mine");
	dl = raw_recv(fd);
	assert_int_equal(dl->n_deliveries, 1);
	assert_int_equal(dl->deliveries[0]->task->id, id);
	assert_int_equal(dl->deliveries[0]->delivery_count, 1);
	tag = dl->deliveries[0]->delivery_tag;
	taskwire__frame__free_unpacked(dl, NULL);
	/* its slot in its table, a generation not issued yet */
	ar = raw_ack(fd, (tag & 0xffffffffull) | (0xffffff00ull << 32), &keep);
	assert_false(ar->ok);
	assert_non_null(strstr(ar->detail, "unknown"));
	taskwire__frame__free_unpacked(keep, NULL);
	assert_int_equal(it_counter("counters", "rc_ack_unknown"), unknown + 3);
	/* acked from another address: refused, the delivery stays ours */
	ar = raw_ack(other, tag, &keep);
	assert_false(ar->ok);
	assert_non_null(strstr(ar->detail, "another consumer"));
	taskwire__frame__free_unpacked(keep, NULL);
	assert_int_equal(it_counter("counters", "rc_ack_foreign"), foreign + 1);
	/* no outcome, and an outcome out of range: refused, still ours */
	ar = raw_ack_outcome(fd, tag, TASKWIRE__ACK_OUTCOME__ACK_NONE, &keep);
	assert_false(ar->ok);
	taskwire__frame__free_unpacked(keep, NULL);
	ar = raw_ack_outcome(fd, tag, (Taskwire__AckOutcome)77, &keep);
	assert_false(ar->ok);
	taskwire__frame__free_unpacked(keep, NULL);
	assert_int_equal(it_counter("counters", "rc_ack_bad"), bad + 2);
	/* the right ack from the right address, then its duplicate */
	ar = raw_ack_outcome(fd, tag, TASKWIRE__ACK_OUTCOME__ACK_SUCCESS, &keep);
	assert_true(ar->ok);
	taskwire__frame__free_unpacked(keep, NULL);
	expect_result(c, id, TW_STATE_SUCCESS, "raw");
	expect_stored(id, TW_STATE_SUCCESS, "raw");
	ar = raw_ack(fd, tag, &keep);
	assert_false(ar->ok);
	assert_non_null(strstr(ar->detail, "stale"));
	taskwire__frame__free_unpacked(keep, NULL);
	assert_int_equal(it_counter("counters", "rc_ack_stale"), stale + 1);
	raw_cancel_all(fd, (const uint64_t[]){ 0xacce55 }, 1);
	tw_client_close(c);
	close(fd);
	close(other);
}

/* A flood of heartbeats (known and unknown consumers): counted, the engine keeps working. */
static void
test_workers_heartbeat_flood(void **state)
{
	uint64_t hb = it_counter("counters", "rc_heartbeats");
	uint64_t unknown = it_counter("counters", "rc_unknown");
	struct tw_client *c;
	struct tw_outcome out;
	Taskwire__ConsumerReply *cr;
	Taskwire__Frame *keep;
	int fd = raw_socket(), sent = 0;

	(void)state;
	cr = raw_subscribe(fd, 0xbeef, "wk_bad", 1, &keep);
	assert_true(cr->ok);
	taskwire__frame__free_unpacked(keep, NULL);
	for (int i = 0; i < 4000; i++) {
		Taskwire__Frame f = TASKWIRE__FRAME__INIT;
		Taskwire__Heartbeat h = TASKWIRE__HEARTBEAT__INIT;

		h.consumer_id = i % 2 == 0 ? 0xbeef : 0xdead0000 + (uint64_t)i;
		f.heartbeat = &h;
		raw_send(fd, &f);
		sent++;
		if (i % 64 == 63)
			usleep(2000); /* the TAP queue holds a few hundred; a flood, not a loss test */
	}
	/* most arrive (a TAP device drops some under a burst on a busy machine); none
	 * crashes or stalls anything */
	assert_true(wait_counter("rc_heartbeats", hb + (uint64_t)sent / 2, TIMEOUT_MS) >=
		    hb + (uint64_t)sent / 2);
	assert_true(it_counter("counters", "rc_unknown") > unknown);
	/* its answer after the flood's (2,000 "unknown consumer" answers come first) */
	raw_cancel_all(fd, (const uint64_t[]){ 0xbeef }, 1);
	close(fd);
	c = it_client();
	usleep(200000);
	assert_int_equal(it_call(c, "", "wk_bad", "add", "[2,2]", TIMEOUT_MS, &out), 0);
	assert_int_equal(out.state, TW_STATE_SUCCESS);
	tw_outcome_clear(&out);
	tw_client_close(c);
}

/*
 * 1,000 consumers subscribing at once (one socket, distinct ids): all taken
 * and listed; past the table's 1,024 a subscription is refused, named;
 * cancelled, they are gone and the queue is the worker lcores' again.
 */
static void
test_workers_thousand_consumers(void **state)
{
	static char out[1 << 20];
	uint64_t subscribed = it_counter("counters", "rc_subscribed");
	uint64_t refused = it_counter("counters", "rc_refused");
	struct tw_client *c;
	struct tw_outcome o;
	json_error_t e;
	json_t *j;
	int fd = raw_socket(), ok = 0, full = 0;

	(void)state;
	for (uint64_t i = 0; i < 1100; i++) {
		Taskwire__Frame f = TASKWIRE__FRAME__INIT;
		Taskwire__Subscribe s = TASKWIRE__SUBSCRIBE__INIT;
		char *q[1] = { "wk_bad" };

		s.consumer_id = 0x7000 + i;
		s.n_queues = 1;
		s.queues = q;
		s.prefetch = 1;
		s.heartbeat_ms = 600000; /* silent for the test's length without being dropped */
		f.subscribe = &s;
		raw_send(fd, &f);
		if (i % 64 == 63 || i == 1099) {
			/* the answers so far (a burst of 64 fits the TAP queue) */
			struct pollfd p = { .fd = fd, .events = POLLIN };

			while (poll(&p, 1, 300) == 1) {
				uint8_t buf[65536];
				ssize_t n = recv(fd, buf, sizeof(buf), 0);
				Taskwire__Frame *r = n > 0 ? taskwire__frame__unpack(NULL, (size_t)n, buf)
							   : NULL;

				for (size_t k = 0; r != NULL && k < r->n_consumers; k++) {
					if (r->consumers[k]->ok)
						ok++;
					else if (strstr(r->consumers[k]->detail, "too many consumers"))
						full++;
				}
				if (r != NULL)
					taskwire__frame__free_unpacked(r, NULL);
			}
		}
	}
	/* answers still on their way (a sanitized engine is slower): bounded, 5 s */
	{
		uint64_t until = it_now_ms() + 5000;

		while (ok + full < 1100 && it_now_ms() < until) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			uint8_t buf[65536];
			ssize_t n;
			Taskwire__Frame *r;

			if (poll(&p, 1, 100) != 1)
				continue;
			n = recv(fd, buf, sizeof(buf), 0);
			r = n > 0 ? taskwire__frame__unpack(NULL, (size_t)n, buf) : NULL;
			for (size_t k = 0; r != NULL && k < r->n_consumers; k++) {
				if (r->consumers[k]->ok)
					ok++;
				else if (strstr(r->consumers[k]->detail, "too many consumers"))
					full++;
			}
			if (r != NULL)
				taskwire__frame__free_unpacked(r, NULL);
		}
	}
	assert_int_equal(ok, 1024);
	assert_int_equal(full, 1100 - 1024);
	assert_int_equal(it_counter("counters", "rc_subscribed"), subscribed + 1024);
	assert_int_equal(it_counter("counters", "rc_refused"), refused + 1100 - 1024);
	assert_int_equal(it_twctl_out(out, sizeof(out), "list consumers --json"), 0);
	j = json_loads(out, 0, &e);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 1024);
	json_decref(j);
	{
		static uint64_t ids[1100];

		for (uint64_t i = 0; i < 1100; i++)
			ids[i] = 0x7000 + i;
		/* every cancel answered (ok, or unknown: the 76 never subscribed, or
		 * an ok lost and the cancel sent again) */
		raw_cancel_all(fd, ids, 1100);
	}
	assert_int_equal(it_twctl_out(out, sizeof(out), "list consumers --json"), 0);
	assert_string_equal(out, "[]\n");
	close(fd);
	c = it_client();
	assert_int_equal(it_call(c, "", "wk_bad", "add", "[3,4]", TIMEOUT_MS, &o), 0);
	assert_int_equal(o.state, TW_STATE_SUCCESS);
	tw_outcome_clear(&o);
	tw_client_close(c);
}

/* A consume message that does not decode: the frame is refused as malformed. */
static void
test_workers_malformed_consumer_frame(void **state)
{
	static const uint8_t frame[] = {
		0x0d, 0x54, 0x57, 0x46, 0x31, /* magic */
		0x10, 0x01,                   /* version 1 */
		0x52, 0x02, 0x08, 0x01,       /* subscribe { consumer_id as a varint: wrong type } */
	};
	uint64_t malformed = it_counter("drops", "malformed");
	int fd = raw_socket();
	Taskwire__Frame *r;

	(void)state;
	assert_true(send(fd, frame, sizeof(frame), 0) == (ssize_t)sizeof(frame));
	r = raw_recv(fd);
	assert_non_null(r);
	assert_int_equal(r->n_confirms, 1);
	assert_false(r->confirms[0]->ack);
	assert_int_equal(r->confirms[0]->reason, TASKWIRE__NACK_REASON__NACK_MALFORMED);
	taskwire__frame__free_unpacked(r, NULL);
	assert_int_equal(it_counter("drops", "malformed"), malformed + 1);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_workers_end_to_end, it_pools_back),
		cmocka_unit_test_teardown(test_workers_kill9_redelivers_once, it_pools_back),
		cmocka_unit_test_teardown(test_workers_time_limit, it_pools_back),
		cmocka_unit_test_teardown(test_workers_time_limit_two_workers, it_pools_back),
		cmocka_unit_test_teardown(test_workers_lease_expiry_and_stale_ack, it_pools_back),
		cmocka_unit_test_teardown(test_workers_progress_moves_lease_to_back, it_pools_back),
		cmocka_unit_test_teardown(test_workers_delivery_limit, it_pools_back),
		cmocka_unit_test_teardown(test_workers_credit_respected, it_pools_back),
		cmocka_unit_test_teardown(test_workers_credit_thousand, it_pools_back),
		cmocka_unit_test_teardown(test_workers_acks_batched, it_pools_back),
		cmocka_unit_test_teardown(test_workers_ack_answer_late, it_pools_back),
		cmocka_unit_test_teardown(test_workers_extend_leases, it_pools_back),
		cmocka_unit_test_teardown(test_workers_acks_beyond_a_thousand, it_pools_back),
		cmocka_unit_test_teardown(test_workers_credit_share, it_pools_back),
		cmocka_unit_test_teardown(test_workers_set_members, it_pools_back),
		cmocka_unit_test_teardown(test_workers_queue_delivery_limit, it_pools_back),
		cmocka_unit_test_teardown(test_workers_queue_consumers_remote, it_pools_back),
		cmocka_unit_test_teardown(test_workers_queue_consumers_engine_both, it_pools_back),
		cmocka_unit_test_teardown(test_workers_bad_subscriptions, it_pools_back),
		cmocka_unit_test_teardown(test_workers_bad_acks, it_pools_back),
		cmocka_unit_test_teardown(test_workers_heartbeat_flood, it_pools_back),
		cmocka_unit_test_teardown(test_workers_malformed_consumer_frame, it_pools_back),
		cmocka_unit_test_teardown(test_workers_thousand_consumers, it_pools_back),
	};

	static struct CMUnitTest run[sizeof(tests) / sizeof(tests[0])];
	const char *skip = getenv("WK_SKIP");
	size_t n = 0;

	/* WK_FILTER=pattern: one test (while working on it) */
	if (getenv("WK_FILTER") != NULL)
		cmocka_set_test_filter(getenv("WK_FILTER"));
	/* WK_SKIP=name,name...: tests left out (a second run of the suite
	 * against another engine plan keeps those that concern it) */
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		size_t len = strlen(tests[i].name);
		bool skipped = false;

		/* a whole item of the list, not a prefix of a longer name */
		for (const char *at = skip; at != NULL && !skipped; at = strchr(at, ',')) {
			at += *at == ',';
			skipped = strncmp(at, tests[i].name, len) == 0 &&
				  (at[len] == ',' || at[len] == '\0');
		}
		if (!skipped)
			run[n++] = tests[i];
	}
	return _cmocka_run_group_tests("workers_test", run, n, setup, teardown);
}
