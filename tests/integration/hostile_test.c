/*
 * What one unauthenticated datagram may make the engine do, tried as a
 * hostile client would, through the real binaries. Each test sends what
 * an attacker would and checks the engine's answer and the counter that
 * makes it visible:
 *  - oversized datagrams (the sender raised its link's MTU to 9,000, or
 *    let the kernel fragment): each one the engine sees is refused by
 *    frame id (NACK too-large) and counted, those the device discards are
 *    counted as the port's rx errors, none is ACKed and run with a result
 *    that cannot be sent back;
 *  - endless retry loops: max_retries is capped and retry countdowns get
 *    a floor, both counted;
 *  - a busy-waiting built-in on a polling lcore: refused over its cap,
 *    counted, and the engine answers the next task at once;
 *  - group poisoning: a member from another publisher than its group's is
 *    refused (NACK access-refused) and counted, the chord's result is the
 *    publisher's own;
 *  - open groups: an expired group fails its callback with a clear
 *    FAILURE and frees its slot; the documented 4,096 limit holds; a
 *    publisher's group memory is bounded while another's is not touched;
 *    the engine's group memory (taken at start) runs out with a refusal
 *    naming --group-memory-mb, counted, and a group opens again once
 *    another finished.
 * After each test the mempools hold as many free entries as before.
 *
 * Limits made small enough to reach in a test:
 * engine options: --retry-max 5 --retry-min-ms 50 --solo-max-us 1000 --group-expires-s 3 --group-publisher-mb 4 --group-memory-mb 6 --cookie-lifetime-s 600
 * runs alone: it waits half a second for answers that a second engine on the
 * same CPUs could delay (run.sh)
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

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

/* A second and a third publisher: sockets bound to other addresses of the namespace. */
#define OTHER_IP "10.77.0.3"
#define THIRD_IP "10.77.0.4"

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
	it_frame_cookie(fd, &f);
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

/* The port's own receive errors (packets the device discarded), from status. */
static uint64_t
port_rx_errors(void)
{
	static char buf[1 << 16];
	json_t *j, *p;
	uint64_t v;

	assert_int_equal(it_twctl_out(buf, sizeof(buf), "status --json"), 0);
	j = json_loads(buf, 0, NULL);
	assert_non_null(j);
	p = json_array_get(json_object_get(j, "ports"), 0);
	assert_true(json_is_integer(json_object_get(p, "rx_errors")));
	v = (uint64_t)json_integer_value(json_object_get(p, "rx_errors"));
	json_decref(j);
	return v;
}

/* Set the MTU of the namespace's TAP (its only interface besides lo). */
static void
set_mtu(unsigned mtu)
{
	assert_int_equal(sh("ip -o link show | awk -F': ' '$2 != \"lo\" { print $2 }' | "
			    "xargs -I{} ip link set dev {} mtu %u", mtu), 0);
}

/* Send one echo task in a datagram of exactly `size` bytes, frame id fid. */
static void
send_sized(int fd, size_t size, uint64_t fid, uint64_t task_id)
{
	Taskwire__Task t = TASKWIRE__TASK__INIT, *tp = &t;
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	size_t arg_len = size;
	uint8_t *args = malloc(size);

	memset(args, 'x', size);
	args[0] = '"';
	t.id = task_id;
	t.name = (char *)"echo";
	t.routing_key = (char *)"hq";
	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.frame_id = fid;
	f.n_tasks = 1;
	f.tasks = &tp;
	it_frame_cookie(fd, &f); /* as send_tasks() will */
	/* args shrunk by the frame's overhead until the datagram is `size` bytes */
	for (int k = 0; k < 3; k++) {
		t.args.data = args;
		t.args.len = arg_len;
		arg_len -= taskwire__frame__get_packed_size(&f) - size;
	}
	t.args.len = arg_len;
	args[arg_len - 1] = '"';
	assert_int_equal(taskwire__frame__get_packed_size(&f), size);
	send_tasks(fd, fid, &tp, 1);
	free(args);
}

/* The reply to a refused frame: one frame-level NACK too-large naming it. */
static void
expect_too_large(int fd, size_t size, uint64_t fid)
{
	Taskwire__Frame *r = recv_frame(fd);

	if (r == NULL)
		fail_msg("datagram of %zu bytes: no reply at all", size);
	assert_int_equal(r->frame_id, fid);
	assert_int_equal(r->n_confirms, 1);
	assert_int_equal(r->confirms[0]->task_id, 0);
	assert_false(r->confirms[0]->ack);
	assert_int_equal(r->confirms[0]->reason, TASKWIRE__NACK_REASON__NACK_TOO_LARGE);
	taskwire__frame__free_unpacked(r, NULL);
}

/*
 * #6: datagrams over 1,472 bytes. Sent whole on a link whose MTU the
 * sender raised to 9,000: up to what one mbuf holds (about 2 kB) they
 * reach the engine, which refuses each by frame id (NACK too-large,
 * drops.too_large) instead of ACKing and running it with a result too
 * large to send back; longer ones the device discards, counted as the
 * port's rx errors. As IP fragments (MTU 1,500): NACK too-large. Nothing
 * oversized is ACKed, nothing goes uncounted; a datagram at the limit
 * still runs and gets its result.
 */
static void
test_oversized_datagrams_refused_and_counted(void **state)
{
	static const size_t whole[] = { 1473, 1500, 1782, 1882, 2000 };
	static const size_t device[] = { 2100, 3000, 5000, 8000, 8972 };
	static const size_t fragmented[] = { 1600, 3000, 8000, 12000 };
	enum { NW = 5, ND = 5, NF = 4 };
	uint64_t before = it_counter("drops", "too_large"), errors = port_rx_errors();
	uint64_t acks_before = it_counter("counters", "acks");
	Taskwire__Frame *r;
	int fd;

	(void)state;
	it_warm_up();
	set_mtu(9000);
	fd = it_udp_socket(NULL, 500);
	for (size_t i = 0; i < NW; i++) {
		send_sized(fd, whole[i], 500 + i, 1000 + i);
		expect_too_large(fd, whole[i], 500 + i);
	}
	for (size_t i = 0; i < ND; i++) {
		send_sized(fd, device[i], 520 + i, 1020 + i);
		r = recv_frame(fd);
		if (r != NULL)
			fail_msg("datagram of %zu bytes: a reply (frame %lu)", device[i],
				 (unsigned long)r->frame_id);
	}
	set_mtu(1500);
	for (size_t i = 0; i < NF; i++) {
		send_sized(fd, fragmented[i], 540 + i, 1040 + i);
		expect_too_large(fd, fragmented[i], 540 + i);
	}
	/* at the limit: taken whole, result delivered */
	{
		bool acked = false, result = false;

		send_sized(fd, TW_DATAGRAM_MAX, 600, 2000);
		while ((!acked || !result) && (r = recv_frame(fd)) != NULL) {
			for (size_t k = 0; k < r->n_confirms; k++)
				acked |= r->confirms[k]->task_id == 2000 && r->confirms[k]->ack;
			for (size_t k = 0; k < r->n_results; k++)
				result |= r->results[k]->task_id == 2000 &&
					  r->results[k]->state == TASKWIRE__TASK_STATE__SUCCESS;
			taskwire__frame__free_unpacked(r, NULL);
		}
		assert_true(acked);
		assert_true(result);
	}
	close(fd);
	print_message("oversized: %d whole datagrams of 1473..2000 bytes and %d fragmented ones "
		      "of 1600..12000 NACKed too-large (drops.too_large +%lu), %d of 2100..8972 "
		      "discarded by the device (port rx errors +%lu), one of 1472 run with its "
		      "result\n", NW, NF,
		      (unsigned long)(it_counter("drops", "too_large") - before), ND,
		      (unsigned long)(port_rx_errors() - errors));
	assert_int_equal(it_counter("drops", "too_large"), before + NW + NF);
	assert_int_equal(port_rx_errors(), errors + ND);
	/* the warm-up's NACK aside, the one task at the limit is the only ACK */
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
	int fd = it_udp_socket(NULL, 200);

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
	/* five countdowns of 0 raised to 50 ms each (the scheduler's wheel
	 * may fire a few ms early) */
	assert_true(got.last_ms - sent >= 5 * 40);
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
	int fd = it_udp_socket(NULL, 200);

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

/* Wall-clock unix ms (expires on the wire are absolute times). */
static uint64_t
unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A chord node: group `id` of `size` members sent on their own, callback tsum `cb_id`. */
static void
chord_node(Taskwire__Task *node, Taskwire__Task *cb, uint64_t id, uint32_t size, uint64_t cb_id)
{
	taskwire__task__init(node);
	taskwire__task__init(cb);
	cb->id = cb_id;
	cb->name = (char *)"tsum";
	cb->routing_key = (char *)"hq";
	cb->notify = true;
	node->id = id;
	node->group_size = size;
	node->next = cb;
	node->notify = true;
}

static void
member(Taskwire__Task *t, uint64_t id, uint64_t group, uint32_t index, const char *args)
{
	taskwire__task__init(t);
	t->id = id;
	t->name = (char *)"add";
	t->routing_key = (char *)"hq";
	t->args.data = (uint8_t *)args;
	t->args.len = strlen(args);
	t->group_id = group;
	t->group_index = index;
}

/* Confirms of task ids, and the result of one task, gathered from a socket. */
struct watch {
	uint64_t task;                 /* the result wanted */
	int state;                     /* its state, -1 until it comes */
	char value[256], error[512];
	unsigned acks, nacks, nack_reason;
	char nack_detail[256];
};

static bool
watch_done(const struct watch *w)
{
	return w->state >= 0;
}

static void
watch(int fd, struct watch *w, int timeout_ms, bool until_result)
{
	uint64_t deadline = it_now_ms() + (uint64_t)timeout_ms;
	Taskwire__Frame *r;

	while (!(until_result && watch_done(w)) && it_now_ms() < deadline) {
		if ((r = recv_frame(fd)) == NULL) {
			if (!until_result)
				break;
			continue;
		}
		for (size_t k = 0; k < r->n_confirms; k++) {
			if (r->confirms[k]->ack) {
				w->acks++;
			} else {
				w->nacks++;
				w->nack_reason = r->confirms[k]->reason;
				snprintf(w->nack_detail, sizeof(w->nack_detail), "%s",
					 r->confirms[k]->detail);
			}
		}
		for (size_t k = 0; k < r->n_results; k++) {
			const Taskwire__Result *res = r->results[k];

			if (res->task_id != w->task || res->state == TASKWIRE__TASK_STATE__STARTED)
				continue;
			w->state = res->state;
			snprintf(w->value, sizeof(w->value), "%.*s", (int)res->value.len,
				 (const char *)res->value.data);
			snprintf(w->error, sizeof(w->error), "%s", res->error);
		}
		taskwire__frame__free_unpacked(r, NULL);
	}
}

/*
 * #5: a stranger (another address) sends a member for a publisher's open
 * chord, with a result that would change the callback's sum: refused
 * (NACK access-refused, counted), and the callback sums the publisher's
 * own members only: 2 + 2 = 4.
 */
static void
test_group_member_from_stranger_refused(void **state)
{
	Taskwire__Task node, cb, m0, m1, evil, *tp;
	uint64_t refused = it_counter("counters", "wf_member_refused");
	struct watch owner = { .task = 7001, .state = -1 }, stranger = { .state = -1 };
	int fd, sfd;

	(void)state;
	assert_int_equal(sh("ip addr add " OTHER_IP "/24 dev $(ip -o link show | awk -F': ' "
			    "'$2 != \"lo\" { print $2 }') 2>/dev/null || true"), 0);
	fd = it_udp_socket(NULL, 200);
	sfd = it_udp_socket(OTHER_IP, 200);
	chord_node(&node, &cb, 7000, 2, 7001);
	tp = &node;
	send_tasks(fd, 700, &tp, 1);
	watch(fd, &owner, 300, false);
	assert_int_equal(owner.acks, 1);
	/* the stranger's member, index 1, before the owner's */
	member(&evil, 7102, 7000, 1, "[1000000,1]");
	tp = &evil;
	send_tasks(sfd, 701, &tp, 1);
	watch(sfd, &stranger, 1000, false);
	/* and the same from the owner's address but another port: another publisher too */
	{
		int ofd = it_udp_socket(NULL, 200);
		struct watch other = { .state = -1 };

		member(&evil, 7103, 7000, 1, "[1000000,1]");
		send_tasks(ofd, 702, &tp, 1);
		watch(ofd, &other, 1000, false);
		close(ofd);
		assert_int_equal(other.nacks, 1);
		assert_int_equal(other.acks, 0);
	}
	member(&m0, 7100, 7000, 0, "[1,1]");
	member(&m1, 7101, 7000, 1, "[1,1]");
	tp = &m0;
	send_tasks(fd, 703, &tp, 1);
	tp = &m1;
	send_tasks(fd, 704, &tp, 1);
	watch(fd, &owner, 5000, true);
	close(fd);
	close(sfd);
	print_message("poisoning: stranger's member NACKed (reason %u, \"%s\"); callback %s %s\n",
		      stranger.nack_reason, stranger.nack_detail,
		      owner.state == TASKWIRE__TASK_STATE__SUCCESS ? "SUCCESS" : "not SUCCESS",
		      owner.value);
	assert_int_equal(stranger.acks, 0);
	assert_int_equal(stranger.nacks, 1);
	assert_int_equal(stranger.nack_reason, TASKWIRE__NACK_REASON__NACK_ACCESS_REFUSED);
	assert_non_null(strstr(stranger.nack_detail, "another publisher"));
	assert_int_equal(owner.state, TASKWIRE__TASK_STATE__SUCCESS);
	assert_string_equal(owner.value, "4");
	assert_int_equal(it_counter("counters", "wf_member_refused"), refused + 2);
}

/*
 * #2, expiry: a chord whose second member never comes fails when its
 * expiry passes: its own (1 s, from the node's expires) and the engine's
 * default (--group-expires-s 3 here). The callback is reported FAILURE,
 * not run, naming the expiry; the slot is freed (a late member finds no
 * group) and counted.
 */
static void
test_open_groups_expire(void **state)
{
	Taskwire__Task node, cb, m0, *tp;
	uint64_t expired = it_counter("counters", "wf_groups_expired");
	struct watch own = { .task = 8001, .state = -1 }, dflt = { .task = 8011, .state = -1 };
	struct watch late = { .state = -1 };
	uint64_t t0 = it_now_ms(), t_own, t_dflt;
	int fd = it_udp_socket(NULL, 200);

	(void)state;
	chord_node(&node, &cb, 8000, 2, 8001);
	node.expires_ms = unix_ms() + 1000;
	tp = &node;
	send_tasks(fd, 800, &tp, 1);
	chord_node(&node, &cb, 8010, 2, 8011);
	send_tasks(fd, 801, &tp, 1);
	member(&m0, 8100, 8000, 0, "[1,1]");
	tp = &m0;
	send_tasks(fd, 802, &tp, 1);
	member(&m0, 8110, 8010, 0, "[1,1]");
	send_tasks(fd, 803, &tp, 1);
	watch(fd, &own, 6000, true);
	t_own = it_now_ms() - t0;
	watch(fd, &dflt, 6000, true);
	t_dflt = it_now_ms() - t0;
	/* the missing member, too late */
	member(&m0, 8101, 8000, 1, "[1,1]");
	send_tasks(fd, 804, &tp, 1);
	watch(fd, &late, 1000, false);
	close(fd);
	print_message("expiry: callback FAILURE after %lu ms (expires 1 s) and %lu ms (default "
		      "3 s): \"%s\"; late member %s, not run\n", (unsigned long)t_own,
		      (unsigned long)t_dflt, own.error, late.acks ? "confirmed" : "NACKed");
	assert_int_equal(own.state, TASKWIRE__TASK_STATE__FAILURE);
	assert_non_null(strstr(own.error, "group expired: 1 of 2 members not finished"));
	assert_int_equal(dflt.state, TASKWIRE__TASK_STATE__FAILURE);
	assert_non_null(strstr(dflt.error, "group expired"));
	assert_true(t_own >= 900 && t_own < 2500);
	assert_true(t_dflt >= 2900 && t_dflt < 5000);
	/* confirmed as a retransmit of a finished group's member, never run */
	assert_int_equal(late.acks + late.nacks, 1);
	assert_int_equal(late.state, -1);
	assert_int_equal(it_counter("counters", "wf_groups_expired"), expired + 2);
}

/* Open n one-member groups from fd (ids from id0), frames of 48. @return ACKs. */
static unsigned
open_groups(int fd, uint64_t id0, unsigned n, unsigned *nacks, char *detail, size_t dlen)
{
	Taskwire__Task nodes[48], *tp[48];
	struct watch w = { .state = -1 };
	/* all open at once: none expires before the last is sent */
	uint64_t expires = unix_ms() + 6000;

	for (unsigned done = 0; done < n;) {
		unsigned k = (n - done < 48u ? n - done : 48u);

		for (unsigned i = 0; i < k; i++) {
			taskwire__task__init(&nodes[i]);
			nodes[i].id = id0 + done + i;
			nodes[i].group_size = 1;
			nodes[i].expires_ms = expires;
			tp[i] = &nodes[i];
		}
		send_tasks(fd, id0 + done, tp, k);
		done += k;
	}
	/* about 90 reply packets: the socket's buffer holds them */
	watch(fd, &w, 1000, false);
	*nacks = w.nacks;
	snprintf(detail, dlen, "%s", w.nack_detail);
	return w.acks;
}

/*
 * #2, limits: the documented 4,096 open groups hold (a stranger opening
 * more is refused with a NACK naming the limit, counted), and a
 * publisher's groups may take --group-publisher-mb (4 MB here) of
 * hugepage memory while another publisher still gets its own.
 */
/* Wait (bounded) until the engine has expired `want` groups in all: a
 * loaded machine scans later than the expiry alone says. */
static bool
groups_expired(uint64_t want, uint64_t within_ms)
{
	uint64_t end = it_now_ms() + within_ms;

	while (it_counter("counters", "wf_groups_expired") < want) {
		if (it_now_ms() > end)
			return false;
		usleep(200000);
	}
	return true;
}

static void
test_open_groups_bounded(void **state)
{
	uint64_t refused = it_counter("counters", "wf_groups_refused");
	uint64_t expired = it_counter("counters", "wf_groups_expired");
	unsigned acks, nacks;
	char detail[256];
	int fd = it_udp_socket(NULL, 200), sfd;
	Taskwire__Task node, cb, *tp = &node;
	struct watch a = { .state = -1 }, b = { .state = -1 };

	(void)state;
	uint64_t t0 = it_now_ms();

	acks = open_groups(fd, 100000, 4200, &nacks, detail, sizeof(detail));
	print_message("limit: %u of 4200 one-member groups opened in %lu ms, %u NACKed (\"%s\")\n",
		      acks, (unsigned long)(it_now_ms() - t0), nacks, detail);
	assert_int_equal(acks + nacks, 4200);
	assert_true(acks <= 4096);
	assert_true(acks >= 4096 - 8); /* others' groups may still be open */
	assert_non_null(strstr(detail, "too many groups open (4096)"));
	/* they expire (6 s): slots and memory come back */
	assert_true(groups_expired(expired + acks, 20000));
	/* 10,000 members of 256-byte cells: 2.6 MB, one fits a publisher's 4 MB, two do not */
	chord_node(&node, &cb, 9000, 10000, 9001);
	send_tasks(fd, 900, &tp, 1);
	chord_node(&node, &cb, 9010, 10000, 9011);
	send_tasks(fd, 901, &tp, 1);
	watch(fd, &a, 500, false);
	sfd = it_udp_socket(OTHER_IP, 200);
	chord_node(&node, &cb, 9020, 10000, 9021);
	send_tasks(sfd, 902, &tp, 1);
	watch(sfd, &b, 500, false);
	close(fd);
	close(sfd);
	print_message("memory: publisher A %u of 2 groups of 2.6 MB opened (\"%s\"), "
		      "publisher B %u of 1\n", a.acks, a.nack_detail, b.acks);
	assert_int_equal(a.acks, 1);
	assert_int_equal(a.nacks, 1);
	assert_non_null(strstr(a.nack_detail, "--group-publisher-mb"));
	assert_int_equal(b.acks, 1);
	assert_int_equal(it_counter("counters", "wf_groups_refused"), refused + nacks + 1);
	/* these expire too, before the pools are checked */
	assert_true(groups_expired(expired + acks + 2, 20000));
}

/* Add address ip to the namespace's TAP (a publisher of its own). */
static void
add_address(const char *ip)
{
	assert_int_equal(sh("ip addr add %s/24 dev $(ip -o link show | awk -F': ' "
			    "'$2 != \"lo\" { print $2 }') 2>/dev/null || true", ip), 0);
}

/* Send the n members of group gid from fd (ids from id0, args [i,0]), 20 to a datagram. */
static void
send_members(int fd, uint64_t gid, uint64_t id0, unsigned n)
{
	Taskwire__Task ms[20], *tp[20];
	char args[20][24];

	for (unsigned done = 0; done < n;) {
		unsigned k = (n - done < 20u ? n - done : 20u);

		for (unsigned i = 0; i < k; i++) {
			snprintf(args[i], sizeof(args[i]), "[%u,0]", done + i);
			member(&ms[i], id0 + done + i, gid, done + i, args[i]);
			tp[i] = &ms[i];
		}
		send_tasks(fd, id0 + done, tp, k);
		done += k;
	}
}

/* Send chord node id (members on their own, cells of 2,000 bytes) from fd; its confirm. */
#define CHORD_MEMBERS 1100u
#define CHORD_SUM "604450" /* 0 + 1 + ... + 1,099 */

static void
open_chord(int fd, uint64_t id, struct watch *w)
{
	Taskwire__Task node, cb, *tp = &node;

	chord_node(&node, &cb, id, CHORD_MEMBERS, id + 1);
	node.result_cell = 2000;
	send_tasks(fd, id, &tp, 1);
	watch(fd, w, 500, false);
}

/*
 * The engine's group memory is taken at start (--group-memory-mb, 6 MB
 * here): chords of 1,100 members with 2,000-byte cells take 2.2 MB each
 * (139 pages of 16 kB). Three publishers each under their own 4 MB: the
 * third chord is refused, naming --group-memory-mb, counted
 * wf_groups_no_memory; once the first chord's members all ran (callback:
 * their sum) its memory comes back and the third publisher's chord opens;
 * every chord's callback then gets its sum.
 */
static void
test_group_memory_exhausted_then_back(void **state)
{
	uint64_t refused = it_counter("counters", "wf_groups_refused"),
		 no_mem = it_counter("counters", "wf_groups_no_memory");
	struct watch a = { .task = 9501, .state = -1 }, b = { .task = 9511, .state = -1 },
		     c = { .task = 9521, .state = -1 }, c2 = { .state = -1 };
	uint64_t c_id = 9520, t0;
	int fa, fb, fc;

	(void)state;
	add_address(OTHER_IP);
	add_address(THIRD_IP);
	fa = it_udp_socket(NULL, 200);
	fb = it_udp_socket(OTHER_IP, 200);
	fc = it_udp_socket(THIRD_IP, 200);
	open_chord(fa, 9500, &a);
	open_chord(fb, 9510, &b);
	open_chord(fc, c_id, &c);
	print_message("group memory: chords of 2.2 MB from three publishers: %u, %u, %u opened; "
		      "the third refused: \"%s\"\n", a.acks, b.acks, c.acks, c.nack_detail);
	assert_int_equal(a.acks, 1);
	assert_int_equal(b.acks, 1);
	assert_int_equal(c.acks, 0);
	assert_int_equal(c.nacks, 1);
	assert_non_null(strstr(c.nack_detail, "--group-memory-mb"));
	assert_int_equal(it_counter("counters", "wf_groups_refused"), refused + 1);
	assert_int_equal(it_counter("counters", "wf_groups_no_memory"), no_mem + 1);
	/* the first chord finishes: the sum of its members' indexes */
	send_members(fa, 9500, 950000, CHORD_MEMBERS);
	watch(fa, &a, 10000, true);
	print_message("group memory: the first chord's callback: state %d, \"%s\" %s; %u acks, "
		      "%u nacks (%u \"%s\")\n", a.state, a.value, a.error, a.acks, a.nacks,
		      a.nack_reason, a.nack_detail);
	assert_int_equal(a.state, TASKWIRE__TASK_STATE__SUCCESS);
	assert_string_equal(a.value, CHORD_SUM);
	/* its memory is back after the engine's grace period (a tenth of a second
	 * or so): the third publisher's chord opens, under a new id (a refused
	 * task stays refused) */
	t0 = it_now_ms();
	do {
		c_id += 100;
		c2 = (struct watch){ .task = c_id + 1, .state = -1 };
		open_chord(fc, c_id, &c2);
	} while (c2.acks == 0 && it_now_ms() - t0 < 5000);
	print_message("group memory: the third publisher's chord opened %lu ms after the first "
		      "finished\n", (unsigned long)(it_now_ms() - t0));
	assert_int_equal(c2.acks, 1);
	send_members(fb, 9510, 951000, CHORD_MEMBERS);
	send_members(fc, c_id, 952000, CHORD_MEMBERS);
	watch(fb, &b, 10000, true);
	watch(fc, &c2, 10000, true);
	close(fa);
	close(fb);
	close(fc);
	assert_int_equal(b.state, TASKWIRE__TASK_STATE__SUCCESS);
	assert_string_equal(b.value, CHORD_SUM);
	assert_int_equal(c2.state, TASKWIRE__TASK_STATE__SUCCESS);
	assert_string_equal(c2.value, CHORD_SUM);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_oversized_datagrams_refused_and_counted,
					  it_pools_back),
		cmocka_unit_test_teardown(test_retry_loop_capped_and_slowed, it_pools_back),
		cmocka_unit_test_teardown(test_busy_wait_over_cap_refused, it_pools_back),
		cmocka_unit_test_teardown(test_group_member_from_stranger_refused, it_pools_back),
		cmocka_unit_test_teardown(test_open_groups_expire, it_pools_back),
		cmocka_unit_test_teardown(test_open_groups_bounded, it_pools_back),
		cmocka_unit_test_teardown(test_group_memory_exhausted_then_back, it_pools_back),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
