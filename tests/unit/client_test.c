/*
 * libtaskwire unit tests against a fake engine: a UDP socket on 127.0.0.1
 * that reads what the client sends (decoded with protobuf-c) and answers
 * with hand-built reply frames.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tw_fragment.h"

#include "taskwire.pb-c.h"
#include "taskwire/client.h"
#include "tw_limits.h"

struct fake {
	int fd;
	char addr[32];
	struct sockaddr_in peer;   /* the client, learned from its first datagram */
};

static void
fake_open(struct fake *f)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct timeval tv = { 1, 0 };

	f->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &len), 0);
	setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", ntohs(a.sin_port));
}

/*
 * Receive one frame from the client (asserts). The probes tw_client_open
 * sends for the engine's source cookie (frames without tasks, padded to
 * 64 bytes) are skipped: this fake engine gives no cookie, so the client
 * sends its frames padded and without one.
 */
static Taskwire__Frame *
fake_recv(struct fake *f, size_t *wire_len)
{
	uint8_t buf[65536];
	Taskwire__Frame *fr;

	for (;;) {
		socklen_t len = sizeof(f->peer);
		ssize_t n = recvfrom(f->fd, buf, sizeof(buf), 0, (struct sockaddr *)&f->peer, &len);

		assert_true(n > 0);
		if (wire_len != NULL)
			*wire_len = (size_t)n;
		fr = taskwire__frame__unpack(NULL, (size_t)n, buf);
		assert_non_null(fr);
		if (fr->n_tasks != 0)
			return fr;
		assert_int_equal(n, 64);
		assert_int_equal(fr->frame_id, UINT64_MAX);
		taskwire__frame__free_unpacked(fr, NULL);
	}
}

static void
fake_send(struct fake *f, const Taskwire__Frame *fr)
{
	uint8_t buf[65536];
	size_t n = taskwire__frame__pack(fr, buf);

	assert_int_equal(sendto(f->fd, buf, n, 0, (struct sockaddr *)&f->peer, sizeof(f->peer)),
			 (ssize_t)n);
}

static void
test_bad_addresses(void **state)
{
	static const char *const bad[] = { "", "1.2.3", "1.2.3.4", "1.2.3.4:0", "1.2.3.4:70000",
					   "host:1", ":5555", "1.2.3.4:", "1.2.3.4:12x" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_null(tw_client_open(bad[i], NULL));
		assert_int_equal(errno, EINVAL);
	}
	assert_null(tw_client_open(NULL, NULL));
}

static void
test_frames_respect_limits_and_copy(void **state)
{
	struct fake f;
	struct tw_client *c;
	uint64_t ids[100], prev_frame = 0;
	size_t seen = 0;
	char args[64], key[16];
	struct tw_header h = { "trace", "abc" };

	(void)state;
	fake_open(&f);
	c = tw_client_open(f.addr, NULL);
	assert_non_null(c);
	for (int i = 0; i < 100; i++) {
		struct tw_publish p = { .routing_key = key, .task = "echo", .args = args,
					.headers = &h, .n_headers = 1, .priority = 3 };

		snprintf(key, sizeof(key), "q%d", i);
		p.args_len = (size_t)snprintf(args, sizeof(args), "[%d,\"%040d\"]", i, i);
		assert_int_equal(tw_client_publish(c, &p, &ids[i]), 0);
		assert_int_not_equal(ids[i], 0);
		memset(args, 'x', sizeof(args)); /* the library copied them */
		memset(key, 'y', sizeof(key) - 1);
	}
	assert_int_equal(tw_client_flush(c), 0);
	while (seen < 100) {
		size_t wire;
		Taskwire__Frame *fr = fake_recv(&f, &wire);

		assert_true(wire <= 1400);
		assert_true(fr->n_tasks >= 1 && fr->n_tasks <= 32);
		assert_int_equal(fr->magic, TW_FRAME_MAGIC);
		assert_int_equal(fr->version, TW_FRAME_VERSION);
		assert_true(fr->frame_id > prev_frame);
		prev_frame = fr->frame_id;
		for (size_t k = 0; k < fr->n_tasks; k++, seen++) {
			const Taskwire__Task *t = fr->tasks[k];
			char want[64];

			assert_int_equal(t->id, ids[seen]);
			assert_string_equal(t->name, "echo");
			snprintf(want, sizeof(want), "q%zu", seen);
			assert_string_equal(t->routing_key, want);
			snprintf(want, sizeof(want), "[%zu,\"%040zu\"]", seen, seen);
			assert_int_equal(t->args.len, strlen(want));
			assert_memory_equal(t->args.data, want, t->args.len);
			assert_int_equal(t->priority, 3);
			assert_int_equal(t->n_headers, 1);
			assert_string_equal(t->headers[0]->key, "trace");
			assert_string_equal(t->headers[0]->value, "abc");
		}
		taskwire__frame__free_unpacked(fr, NULL);
	}
	for (int i = 1; i < 100; i++)
		assert_int_not_equal(ids[i], ids[i - 1]);
	tw_client_close(c);
	close(f.fd);
}

static void
test_publish_errors(void **state)
{
	static char big[2000];
	/* one byte over what any receiver may take in fragments */
	char *huge = calloc(TW_FRAG_LIMIT + 1, 1);
	struct fake f;
	struct tw_client *c;
	struct tw_publish p = { .routing_key = "q", .task = "echo", .args = huge, .args_len = TW_FRAG_LIMIT + 1 };
	uint64_t id;

	(void)state;
	assert_non_null(huge);
	fake_open(&f);
	c = tw_client_open(f.addr, NULL);
	assert_int_equal(tw_client_publish(c, &p, &id), -EMSGSIZE);
	free(huge);
	/* over one datagram is fine: it goes in fragments */
	p.args = big;
	p.args_len = sizeof(big);
	assert_int_equal(tw_client_publish(c, &p, &id), 0);
	p.args_len = 10;
	p.task = NULL;
	assert_int_equal(tw_client_publish(c, &p, &id), -EINVAL);
	p.task = "";
	assert_int_equal(tw_client_publish(c, &p, &id), -EINVAL);
	memset(big, 'n', 200);
	big[200] = '\0';
	p.task = big; /* name longer than TW_NAME_MAX */
	assert_int_equal(tw_client_publish(c, &p, &id), -EINVAL);
	tw_client_close(c);
	close(f.fd);
}

static void
test_wait_gets_ack_and_result(void **state)
{
	struct fake f;
	struct tw_client *c;
	struct tw_publish p = { .routing_key = "q", .task = "add", .args = "[2,3]", .args_len = 5 };
	Taskwire__Frame *in, out = TASKWIRE__FRAME__INIT;
	Taskwire__Confirm cf = TASKWIRE__CONFIRM__INIT, *cfs[1] = { &cf };
	Taskwire__Result r = TASKWIRE__RESULT__INIT, *rs[1] = { &r };
	struct tw_outcome o;
	uint64_t id;

	(void)state;
	fake_open(&f);
	c = tw_client_open(f.addr, NULL);
	assert_int_equal(tw_client_publish(c, &p, &id), 0);
	assert_int_equal(tw_client_flush(c), 0);
	in = fake_recv(&f, NULL);
	out.magic = TW_FRAME_MAGIC;
	out.version = TW_FRAME_VERSION;
	out.frame_id = in->frame_id;
	cf.task_id = id;
	cf.ack = true;
	out.n_confirms = 1;
	out.confirms = cfs;
	r.task_id = id;
	r.state = TASKWIRE__TASK_STATE__SUCCESS;
	r.value.data = (uint8_t *)"5";
	r.value.len = 1;
	r.runtime_ns = 1234;
	out.n_results = 1;
	out.results = rs;
	fake_send(&f, &out);
	taskwire__frame__free_unpacked(in, NULL);

	assert_int_equal(tw_client_wait(c, id, 2000, &o, NULL, NULL), 0);
	assert_true(o.confirmed && o.ack && o.has_result);
	assert_int_equal(o.state, TW_STATE_SUCCESS);
	assert_int_equal(o.value_len, 1);
	assert_memory_equal(o.value, "5", 1);
	assert_int_equal(o.runtime_ns, 1234);
	tw_outcome_clear(&o);
	tw_client_close(c);
	close(f.fd);
}

static void
count_event(const struct tw_event *ev, void *arg)
{
	if (ev->kind == TW_EV_CONFIRM && ev->ack)
		(*(int *)arg)++;
}

/*
 * Frames queued while publishing leave in one sendmmsg per 16, and replies
 * waiting in the socket are read 32 per recvmmsg: 40 one-task frames and
 * their 40 confirms take a handful of system calls, not 80.
 */
static void
test_batched_sends_and_reads(void **state)
{
	enum { N = 40 };
	struct tw_client_opts o = { .max_tasks_per_frame = 1, .retransmit_ms = -1 }; /* counts exact */
	struct tw_publish p = { .routing_key = "q", .task = "noop", .args = "[]", .args_len = 2 };
	struct tw_client_stats s0, s1;
	struct fake f;
	struct tw_client *c;
	uint64_t ids[N], frames[N];
	int acks = 0;

	(void)state;
	fake_open(&f);
	c = tw_client_open(f.addr, &o);
	assert_non_null(c);
	tw_client_get_stats(c, &s0);
	for (int i = 0; i < N; i++)
		assert_int_equal(tw_client_publish(c, &p, &ids[i]), 0);
	assert_int_equal(tw_client_flush(c), 0);
	tw_client_get_stats(c, &s1);
	assert_int_equal(s1.datagrams_sent - s0.datagrams_sent, N);
	/* 16 + 16 + 8 */
	assert_true(s1.send_calls - s0.send_calls <= 3);
	for (int i = 0; i < N; i++) {
		Taskwire__Frame *in = fake_recv(&f, NULL);

		assert_int_equal(in->n_tasks, 1);
		frames[i] = in->frame_id;
		ids[i] = in->tasks[0]->id;
		taskwire__frame__free_unpacked(in, NULL);
	}
	for (int i = 0; i < N; i++) {
		Taskwire__Frame out = TASKWIRE__FRAME__INIT;
		Taskwire__Confirm cf = TASKWIRE__CONFIRM__INIT, *cfs[1] = { &cf };

		out.magic = TW_FRAME_MAGIC;
		out.version = TW_FRAME_VERSION;
		out.frame_id = frames[i];
		cf.task_id = ids[i];
		cf.ack = true;
		out.n_confirms = 1;
		out.confirms = cfs;
		fake_send(&f, &out);
	}
	tw_client_get_stats(c, &s0);
	for (int tries = 0; acks < N && tries < 50; tries++)
		assert_true(tw_client_poll(c, 100, count_event, &acks) >= 0);
	assert_int_equal(acks, N);
	tw_client_get_stats(c, &s1);
	assert_int_equal(s1.datagrams_received - s0.datagrams_received, N);
	/* all 40 were waiting: 32 + 8 */
	assert_true(s1.receive_calls - s0.receive_calls <= 3);
	tw_client_close(c);
	close(f.fd);
}

struct results {
	int n;
	char last[8];
};

static void
count_results(const struct tw_event *ev, void *arg)
{
	struct results *x = arg;

	if (ev->kind != TW_EV_RESULT)
		return;
	x->n++;
	snprintf(x->last, sizeof(x->last), "%.*s", (int)ev->value_len, (const char *)ev->value);
}

/* the fake engine answers task id with one result (resent: a retransmit's echo) */
static void
send_result(struct fake *f, uint64_t frame_id, uint64_t id, const char *value, bool resent)
{
	Taskwire__Frame out = TASKWIRE__FRAME__INIT;
	Taskwire__Result r = TASKWIRE__RESULT__INIT, *rs[1] = { &r };

	out.magic = TW_FRAME_MAGIC;
	out.version = TW_FRAME_VERSION;
	out.frame_id = frame_id;
	r.task_id = id;
	r.state = TASKWIRE__TASK_STATE__SUCCESS;
	r.value.data = (uint8_t *)value;
	r.value.len = strlen(value);
	r.resent = resent;
	out.n_results = 1;
	out.results = rs;
	fake_send(f, &out);
}

/*
 * One final result per task, whichever comes first: the engine sends a
 * retransmitted task's result again from the io lcore while the original
 * may still be on its way from a worker lcore (another TX queue), so the
 * re-sent copy can overtake it; the original is then the echo. A task
 * fanned out to two queues has two originals: both reach the caller, and
 * a re-sent copy after them none.
 */
static void
test_resent_result_overtakes_original(void **state)
{
	struct fake f;
	struct tw_client *c;
	struct tw_publish p = { .routing_key = "q", .task = "noop", .args = "[]", .args_len = 2 };
	struct tw_client_stats s;
	struct results x = { 0 };
	Taskwire__Frame *in;
	uint64_t a, b, fid;

	(void)state;
	fake_open(&f);
	c = tw_client_open(f.addr, NULL);
	assert_int_equal(tw_client_publish(c, &p, &a), 0);
	assert_int_equal(tw_client_publish(c, &p, &b), 0);
	assert_int_equal(tw_client_flush(c), 0);
	in = fake_recv(&f, NULL);
	fid = in->frame_id;
	taskwire__frame__free_unpacked(in, NULL);

	send_result(&f, fid, a, "r", true);  /* the io lcore's copy first */
	send_result(&f, fid, a, "o", false); /* then the worker's original */
	send_result(&f, fid, b, "q1", false); /* fanout: one original per queue */
	send_result(&f, fid, b, "q2", false);
	send_result(&f, fid, b, "r", true);  /* and a late copy */
	for (int tries = 0; tries < 20; tries++)
		assert_true(tw_client_poll(c, 50, count_results, &x) >= 0);
	assert_int_equal(x.n, 3);
	assert_string_equal(x.last, "q2");
	tw_client_get_stats(c, &s);
	assert_int_equal(s.duplicates_dropped, 2);
	tw_client_close(c);
	close(f.fd);
}

struct nacks {
	uint64_t ids[8];
	int n, reason;
};

static void
collect(const struct tw_event *ev, void *arg)
{
	struct nacks *x = arg;

	assert_int_equal(ev->kind, TW_EV_CONFIRM);
	assert_false(ev->ack);
	x->reason = ev->nack_reason;
	if (x->n < 8)
		x->ids[x->n] = ev->task_id;
	x->n++;
}

static void
test_frame_nack_fans_out(void **state)
{
	struct fake f;
	struct tw_client *c;
	struct tw_publish p = { .routing_key = "q", .task = "noop" };
	Taskwire__Frame *in, out = TASKWIRE__FRAME__INIT;
	Taskwire__Confirm cf = TASKWIRE__CONFIRM__INIT, *cfs[1] = { &cf };
	struct nacks x = { 0 };
	uint64_t ids[3];

	(void)state;
	fake_open(&f);
	c = tw_client_open(f.addr, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tw_client_publish(c, &p, &ids[i]), 0);
	assert_int_equal(tw_client_flush(c), 0);
	in = fake_recv(&f, NULL);
	out.magic = TW_FRAME_MAGIC;
	out.frame_id = in->frame_id;
	cf.task_id = 0;
	cf.reason = TASKWIRE__NACK_REASON__NACK_TOO_LARGE;
	cf.detail = (char *)"datagram larger than the MTU";
	out.n_confirms = 1;
	out.confirms = cfs;
	fake_send(&f, &out);
	taskwire__frame__free_unpacked(in, NULL);

	assert_int_equal(tw_client_poll(c, 1000, collect, &x), 3);
	assert_int_equal(x.n, 3);
	assert_string_equal(tw_nack_reason_name(x.reason), "too-large");
	for (int i = 0; i < 3; i++)
		assert_int_equal(x.ids[i], ids[i]);
	tw_client_close(c);
	close(f.fd);
}

static void
test_timeout_and_garbage(void **state)
{
	struct fake f;
	struct tw_client *c;
	struct tw_publish p = { .routing_key = "q", .task = "noop" };
	struct tw_client_stats st;
	struct tw_outcome o;
	struct timespec a, b;
	Taskwire__Frame *in;
	uint64_t id;
	long ms;

	(void)state;
	fake_open(&f);
	c = tw_client_open(f.addr, NULL);
	assert_int_equal(tw_client_publish(c, &p, &id), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(tw_client_wait(c, id, 100, &o, NULL, NULL), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 100 && ms < 1000);
	assert_false(o.confirmed);

	/* garbage from the engine address: counted, no event, no crash */
	in = fake_recv(&f, NULL);
	taskwire__frame__free_unpacked(in, NULL);
	assert_int_equal(sendto(f.fd, "\xff\xff\xff garbage", 11, 0, (struct sockaddr *)&f.peer,
				sizeof(f.peer)), 11);
	assert_int_equal(tw_client_poll(c, 1000, NULL, NULL), 0);
	tw_client_get_stats(c, &st);
	assert_int_equal(st.bad_datagrams, 1);
	assert_int_equal(st.frames_sent, 1);
	assert_int_equal(st.tasks_sent, 1);
	tw_client_close(c);
	close(f.fd);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(tw_state_name(TW_STATE_SUCCESS), "SUCCESS");
	assert_string_equal(tw_state_name(TW_STATE_EXPIRED), "EXPIRED");
	assert_string_equal(tw_state_name((enum tw_state)99), "UNKNOWN");
	assert_string_equal(tw_nack_reason_name(TASKWIRE__NACK_REASON__NACK_QUEUE_FULL), "queue-full");
	assert_string_equal(tw_nack_reason_name(TASKWIRE__NACK_REASON__NACK_INVALID_TASK),
			    "invalid-task");
	assert_string_equal(tw_nack_reason_name(-1), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_frames_respect_limits_and_copy),
		cmocka_unit_test(test_publish_errors),
		cmocka_unit_test(test_wait_gets_ack_and_result),
		cmocka_unit_test(test_batched_sends_and_reads),
		cmocka_unit_test(test_frame_nack_fans_out),
		cmocka_unit_test(test_resent_result_overtakes_original),
		cmocka_unit_test(test_timeout_and_garbage),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
