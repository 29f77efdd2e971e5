/*
 * What one unauthenticated datagram may make the engine do, tried as a
 * hostile client would, through the real binaries (issue 23 of the
 * hardening round on the wire). Each test sends what an attacker would
 * and checks the engine's answer and the counter that makes it visible:
 *  - oversized datagrams, over a link whose MTU the sender raised to
 *    9000: every one is refused by frame id (NACK too-large) and counted,
 *    none is ACKed and run with a result that cannot be sent back;
 *  - endless retry loops: max_retries is capped and retry countdowns get
 *    a floor, both counted;
 *  - group poisoning: a member from another publisher than its group's is
 *    refused (NACK access-refused) and counted, the chord's result is the
 *    publisher's own;
 *  - a busy-waiting built-in on a polling lcore: capped, and an overrun
 *    counted;
 *  - open groups: the documented limit holds, an expired group fails its
 *    callback with a clear FAILURE and frees its slot, a publisher's group
 *    memory is bounded.
 * After each test the mempools hold as many free entries as before.
 *
 * Limits made small enough to reach in a test:
 * engine options: --retry-max 5 --retry-min-ms 50 --solo-max-us 1000
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "it_common.h"
#include "taskwire.pb-c.h"
#include "tw_limits.h"

static int
setup(void **state)
{
	(void)state;
	if (it_twctl("queue declare hq") != 0)
		return -1;
	it_pools_snapshot();
	return 0;
}

/* A plain kernel UDP socket connected to the engine (replies wait up to timeout_ms). */
static int
udp_socket(int timeout_ms)
{
	char host[64], *colon;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int fd;

	snprintf(host, sizeof(host), "%s", it_engine());
	colon = strchr(host, ':');
	assert_non_null(colon);
	*colon = '\0';
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	assert_int_equal(inet_pton(AF_INET, host, &a.sin_addr), 1);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Pack f into a malloc'd buffer. */
static uint8_t *
pack(const Taskwire__Frame *f, size_t *len)
{
	uint8_t *buf;

	*len = taskwire__frame__get_packed_size(f);
	buf = malloc(*len);
	assert_non_null(buf);
	taskwire__frame__pack(f, buf);
	return buf;
}

/* Send the frame of the given tasks; the caller's tasks stay its own. */
static void
send_tasks(int fd, uint64_t frame_id, Taskwire__Task **tasks, size_t n)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	size_t len;
	uint8_t *buf;

	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.frame_id = frame_id;
	f.n_tasks = n;
	f.tasks = tasks;
	buf = pack(&f, &len);
	assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
	free(buf);
}

/* Receive one reply frame, or NULL when none came in the socket's timeout. */
static Taskwire__Frame *
recv_frame(int fd)
{
	static uint8_t buf[65536];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	Taskwire__Frame *f;

	if (n < 0)
		return NULL;
	f = taskwire__frame__unpack(NULL, (size_t)n, buf);
	assert_non_null(f);
	assert_int_equal(f->magic, TW_FRAME_MAGIC);
	return f;
}

/* Run a shell command inside the test's namespace. @return its exit status. */
static int
sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/*
 * #6: datagrams over 1,472 bytes, sent whole on a link whose MTU the
 * sender raised (single packets up to ~2 kB fit one mbuf; longer ones are
 * jumbo frames the port delivers in several) and, over 9,000 bytes, as IP
 * fragments. Each gets one frame-level NACK too-large and is counted
 * under drops.too_large; none is ACKed. Datagrams at the limit still run
 * and get their result.
 */
static void
test_oversized_datagrams_refused_and_counted(void **state)
{
	static const size_t sizes[] = { 1473, 1500, 1782, 1882, 2000, 2100, 3000, 5000, 8000,
					8972, 12000 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	uint64_t before = it_counter("drops", "too_large");
	uint64_t acks_before = it_counter("counters", "acks");
	unsigned refused = 0, ok = 0;
	int fd;

	(void)state;
	it_warm_up();
	/* the only interface of the namespace besides lo is the engine's TAP */
	assert_int_equal(sh("ip -o link show | awk -F': ' '$2 != \"lo\" { print $2 }' | "
			    "xargs -I{} ip link set dev {} mtu 9000"), 0);
	fd = udp_socket(2000);
	for (size_t i = 0; i < N; i++) {
		Taskwire__Task t = TASKWIRE__TASK__INIT, *tp = &t;
		Taskwire__Frame f = TASKWIRE__FRAME__INIT, *r;
		size_t arg_len = sizes[i];
		uint8_t *args = malloc(sizes[i]);

		memset(args, 'x', sizes[i]);
		args[0] = '"';
		t.id = 1000 + i;
		t.name = (char *)"echo";
		t.routing_key = (char *)"hq";
		f.magic = TW_FRAME_MAGIC;
		f.version = TW_FRAME_VERSION;
		f.frame_id = 500 + i;
		f.n_tasks = 1;
		f.tasks = &tp;
		/* the datagram exactly sizes[i] bytes: args shrunk by the overhead */
		for (int k = 0; k < 3; k++) {
			t.args.data = args;
			t.args.len = arg_len;
			arg_len -= taskwire__frame__get_packed_size(&f) - sizes[i];
		}
		t.args.len = arg_len;
		args[arg_len - 1] = '"';
		assert_int_equal(taskwire__frame__get_packed_size(&f), sizes[i]);
		send_tasks(fd, 500 + i, &tp, 1);
		free(args);
		r = recv_frame(fd);
		if (r == NULL)
			fail_msg("datagram of about %zu bytes: no reply at all", sizes[i]);
		/* one frame-level NACK naming the frame: never an ACK */
		assert_int_equal(r->frame_id, 500 + i);
		assert_int_equal(r->n_confirms, 1);
		assert_int_equal(r->confirms[0]->task_id, 0);
		assert_false(r->confirms[0]->ack);
		assert_int_equal(r->confirms[0]->reason, TASKWIRE__NACK_REASON__NACK_TOO_LARGE);
		refused++;
		taskwire__frame__free_unpacked(r, NULL);
	}
	/* at the limit: taken whole, result delivered */
	{
		Taskwire__Task t = TASKWIRE__TASK__INIT, *tp = &t;
		Taskwire__Frame *r;
		uint8_t args[1300];
		bool acked = false, result = false;

		memset(args, 'y', sizeof(args));
		args[0] = '"';
		args[sizeof(args) - 1] = '"';
		t.id = 2000;
		t.name = (char *)"echo";
		t.routing_key = (char *)"hq";
		t.args.data = args;
		t.args.len = sizeof(args);
		send_tasks(fd, 600, &tp, 1);
		while ((!acked || !result) && (r = recv_frame(fd)) != NULL) {
			for (size_t k = 0; k < r->n_confirms; k++)
				acked |= r->confirms[k]->task_id == 2000 && r->confirms[k]->ack;
			for (size_t k = 0; k < r->n_results; k++)
				result |= r->results[k]->task_id == 2000 &&
					  r->results[k]->value.len == sizeof(args);
			taskwire__frame__free_unpacked(r, NULL);
		}
		assert_true(acked);
		assert_true(result);
		ok++;
	}
	close(fd);
	sh("ip -o link show | awk -F': ' '$2 != \"lo\" { print $2 }' | "
	   "xargs -I{} ip link set dev {} mtu 1500");
	print_message("oversized: %u of %u datagrams of 1473..12000 bytes NACKed too-large, "
		      "drops.too_large +%lu, %u at 1.3 kB run with its result\n",
		      refused, (unsigned)N,
		      (unsigned long)(it_counter("drops", "too_large") - before), ok);
	assert_int_equal(it_counter("drops", "too_large"), before + N);
	/* the warm-up's NACK and the one task at the limit: no oversized one was ACKed */
	assert_int_equal(it_counter("counters", "acks"), acks_before + 1);
}


/* Replies collected from one socket: confirms and results by task id. */
struct replies {
	unsigned acks, nacks, retries, failures, successes;
	uint64_t first_ms, last_ms;     /* first and last result */
	char last_error[512];
};

/* Read replies until `done` says so or timeout_ms passes. */
static void
collect(int fd, struct replies *rp, int timeout_ms, bool (*done)(const struct replies *))
{
	uint64_t deadline = it_now_ms() + (uint64_t)timeout_ms;
	Taskwire__Frame *r;

	while (!done(rp) && it_now_ms() < deadline) {
		if ((r = recv_frame(fd)) == NULL)
			continue;
		for (size_t k = 0; k < r->n_confirms; k++) {
			rp->acks += r->confirms[k]->ack;
			rp->nacks += !r->confirms[k]->ack;
		}
		for (size_t k = 0; k < r->n_results; k++) {
			const Taskwire__Result *res = r->results[k];

			if (rp->first_ms == 0)
				rp->first_ms = it_now_ms();
			rp->last_ms = it_now_ms();
			rp->retries += res->state == TASKWIRE__TASK_STATE__RETRY;
			rp->successes += res->state == TASKWIRE__TASK_STATE__SUCCESS;
			if (res->state == TASKWIRE__TASK_STATE__FAILURE) {
				rp->failures++;
				snprintf(rp->last_error, sizeof(rp->last_error), "%s", res->error);
			}
		}
		taskwire__frame__free_unpacked(r, NULL);
	}
}

static bool
one_failure(const struct replies *rp)
{
	return rp->failures >= 1;
}

/*
 * #4: a task that asks for 2^32-1 retries with countdown 0 (autoretry on
 * a task that always fails) retries --retry-max times, each after at
 * least --retry-min-ms, then fails naming the cap; both are counted.
 */
static void
test_retry_loop_capped_and_slowed(void **state)
{
	Taskwire__Task t = TASKWIRE__TASK__INIT, *tp = &t;
	Taskwire__RetryPolicy rp = TASKWIRE__RETRY_POLICY__INIT;
	uint64_t capped = it_counter("counters", "retries_capped");
	uint64_t raised = it_counter("counters", "retry_floor_raised");
	struct replies got = { 0 };
	uint64_t sent;
	int fd = udp_socket(200);

	(void)state;
	rp.max_retries = UINT32_MAX;
	rp.countdown_ms = 0;
	rp.autoretry = true;
	t.id = 4000;
	t.name = (char *)"fail";
	t.routing_key = (char *)"hq";
	t.retry = &rp;
	sent = it_now_ms();
	send_tasks(fd, 400, &tp, 1);
	collect(fd, &got, 10000, one_failure);
	close(fd);
	print_message("retry loop: %u RETRY then %u FAILURE in %lu ms (\"%s\")\n", got.retries,
		      got.failures, (unsigned long)(got.last_ms - sent), got.last_error);
	assert_int_equal(got.acks, 1);
	assert_int_equal(got.retries, 5);
	assert_int_equal(got.failures, 1);
	assert_non_null(strstr(got.last_error, "retries exhausted (5 of 5, the engine's cap"));
	/* five countdowns of 0 raised to 50 ms each */
	assert_true(got.last_ms - sent >= 5 * 50);
	assert_int_equal(it_counter("counters", "retries_capped"), capped + 1);
	assert_int_equal(it_counter("counters", "retry_floor_raised"), raised + 5);
}

static bool
n_failures_38(const struct replies *rp)
{
	return rp->failures >= 38;
}

static bool
one_success(const struct replies *rp)
{
	return rp->successes >= 1;
}

/*
 * #1: one datagram of 38 sleep_us tasks of 10 s each would hold a
 * run-to-completion lcore for 380 s. Over --solo-max-us each is refused
 * at once with a FAILURE naming the limit (counted), and a task sent
 * right after gets its result at once.
 */
static void
test_busy_wait_over_cap_refused(void **state)
{
	enum { N = 38 };
	Taskwire__Task ts[N], *tp[N], add = TASKWIRE__TASK__INIT, *ap = &add;
	uint64_t refused = it_counter("counters", "solo_wait_refused");
	struct replies got = { 0 }, after = { 0 };
	uint64_t t0, t1;
	int fd = udp_socket(200);

	(void)state;
	for (int i = 0; i < N; i++) {
		taskwire__task__init(&ts[i]);
		ts[i].id = 5000 + (uint64_t)i;
		ts[i].name = (char *)"sleep_us";
		ts[i].routing_key = (char *)"hq";
		ts[i].args.data = (uint8_t *)"[10000000]";
		ts[i].args.len = 10;
		tp[i] = &ts[i];
	}
	t0 = it_now_ms();
	send_tasks(fd, 401, tp, N);
	collect(fd, &got, 10000, n_failures_38);
	add.id = 5100;
	add.name = (char *)"add";
	add.routing_key = (char *)"hq";
	add.args.data = (uint8_t *)"[2,3]";
	add.args.len = 5;
	send_tasks(fd, 402, &ap, 1);
	collect(fd, &after, 5000, one_success);
	t1 = it_now_ms();
	close(fd);
	print_message("busy-wait: %u of %d sleep_us [10 s] refused (\"%.60s...\"), the next task "
		      "answered %lu ms after the frame was sent\n", got.failures, N, got.last_error,
		      (unsigned long)(t1 - t0));
	assert_int_equal(got.failures, N);
	assert_non_null(strstr(got.last_error, "over the 1000 us a polling lcore may busy-wait"));
	assert_int_equal(after.successes, 1);
	assert_true(t1 - t0 < 2000);
	assert_int_equal(it_counter("counters", "solo_wait_refused"), refused + N);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_oversized_datagrams_refused_and_counted,
					  it_pools_back),
		cmocka_unit_test_teardown(test_retry_loop_capped_and_slowed, it_pools_back),
		cmocka_unit_test_teardown(test_busy_wait_over_cap_refused, it_pools_back),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
