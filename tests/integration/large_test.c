/*
 * Frames larger than one datagram, through the real binaries: a 1 MiB
 * task and its 1 MiB result, and a 100 kB one, published with libtaskwire,
 * delivered in fragments to a consumer (this test, through the worker
 * API), acked with a value as large, the result sent back in fragments
 * and kept whole by tw-control's result store; a fragment lost (the reassembly times out, counted; the
 * frame sent again completes); hostile fragments (duplicates, out of
 * range, lengths that lie, pieces too small, a frame over --max-frame,
 * messages that never complete) each refused and counted; one source's
 * flood of half messages held to its share while another source's frame
 * still goes through; fragments from a source without a valid cookie
 * refused before they take reassembly memory, with one reply no larger
 * than a fragment.
 *
 * engine options: --reasm-timeout-ms 300
 * runs alone: pieces of a 1 MiB frame must meet within 300 ms, which a second
 * engine on the same CPUs could stretch (run.sh)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "it_common.h"
#include "taskwire.pb-c.h"
#include "taskwire/worker.h"
#include "tw_fragment.h"
#include "tw_limits.h"

#define OTHER_IP "10.77.0.4"
#define TIMEOUT_MS 30000

static int
setup(void **state)
{
	(void)state;
	if (it_twctl("queue declare lg_rt") != 0 || it_twctl("queue declare lg_q") != 0)
		return -1;
	it_pools_snapshot();
	return 0;
}

/* --- a consumer that echoes every task's args as its result --- */

struct echo_consumer {
	pthread_t th;
	struct tw_worker *w;
	volatile int stop;
	uint64_t acked;
};

static void *
echo_main(void *arg)
{
	struct echo_consumer *ec = arg;

	while (!__atomic_load_n(&ec->stop, __ATOMIC_ACQUIRE)) {
		struct tw_delivery *d[4];
		int n = tw_worker_poll(ec->w, 100, d, 4);

		for (int i = 0; i < n; i++) {
			struct tw_ack a = { .outcome = TW_OUTCOME_SUCCESS, .value = d[i]->args,
					    .value_len = d[i]->args_len };

			if (tw_worker_ack(ec->w, d[i]->tag, &a) == 0)
				ec->acked++;
			tw_delivery_free(d[i]);
		}
	}
	return NULL;
}

static void
echo_start(struct echo_consumer *ec, const char *queue)
{
	const char *qs[1] = { queue };
	struct tw_worker_opts o = { .queues = qs, .n_queues = 1, .prefetch = 2, .name = "lg-echo" };
	char err[160];

	memset(ec, 0, sizeof(*ec));
	ec->w = tw_worker_open(it_engine(), &o, err, sizeof(err));
	if (ec->w == NULL)
		fail_msg("worker: %s", err);
	assert_int_equal(pthread_create(&ec->th, NULL, echo_main, ec), 0);
}

static void
echo_stop(struct echo_consumer *ec)
{
	__atomic_store_n(&ec->stop, 1, __ATOMIC_RELEASE);
	pthread_join(ec->th, NULL);
	tw_worker_close(ec->w);
}

/* args of n bytes, a JSON string of a pattern that shows misplaced pieces */
static char *
pattern_args(size_t n)
{
	char *a = malloc(n);

	assert_non_null(a);
	a[0] = '"';
	for (size_t i = 1; i + 1 < n; i++)
		a[i] = (char)('a' + (i * 7 + i / 1400) % 26);
	a[n - 1] = '"';
	return a;
}

/* publish args (n bytes) to queue, wait for the echo, compare */
static void
round_trip(struct tw_client *c, size_t n)
{
	char *args = pattern_args(n);
	struct tw_publish p = { .routing_key = "lg_rt", .task = "lg.echo", .args = args,
				.args_len = n };
	struct tw_outcome out;
	uint64_t id, t0 = it_now_ms();

	assert_int_equal(tw_client_publish(c, &p, &id), 0);
	assert_int_equal(tw_client_flush(c), 0);
	assert_int_equal(tw_client_wait(c, id, TIMEOUT_MS, &out, NULL, NULL), 0);
	if (!out.has_result)
		fail_msg("%zu bytes: no result (confirmed %d, ack %d, reason %d: %s)", n,
			 out.confirmed, out.ack, out.nack_reason, out.detail ? out.detail : "-");
	if (out.state != TW_STATE_SUCCESS)
		fail_msg("%zu bytes: state %s, error %s", n, tw_state_name(out.state),
			 out.error != NULL ? out.error : "-");
	assert_int_equal(out.value_len, n);
	assert_memory_equal(out.value, args, n);
	print_message("large: %zu bytes of args there and back as the result in %lu ms\n", n,
		      (unsigned long)(it_now_ms() - t0));
	tw_outcome_clear(&out);
	/* the result store keeps it whole too (tw-control, over its socket) */
	if (tw_result_fetch(getenv("TW_SOCKET"), id, 10000, &out) != 0)
		fail_msg("%zu bytes: not in the store (records sent %lu, lost %lu)", n,
			 (unsigned long)it_counter("counters", "records_sent"),
			 (unsigned long)it_counter("counters", "records_lost"));
	assert_int_equal(out.state, TW_STATE_SUCCESS);
	assert_int_equal(out.value_len, n);
	assert_memory_equal(out.value, args, n);
	tw_outcome_clear(&out);
	free(args);
}

/* A 1 MiB task and its 1 MiB result, a 100 kB one: fragments both ways, four times each. */
static void
test_large_task_and_result_round_trip(void **state)
{
	struct echo_consumer ec;
	struct tw_client *c = it_client();
	struct tw_client_stats cs;
	uint64_t reassembled = it_counter("counters", "frag_reassembled");
	uint64_t sent = it_counter("counters", "frag_sent");

	(void)state;
	echo_start(&ec, "lg_rt");
	round_trip(c, 100 * 1000);
	round_trip(c, 1 << 20);
	round_trip(c, 3000); /* just over one datagram */
	echo_stop(&ec);
	tw_client_get_stats(c, &cs);
	/* task in and ack in, for each of the three */
	assert_true(it_counter("counters", "frag_reassembled") >= reassembled + 6);
	/* delivery out and result out: at least 2 x (1 MiB + 100 kB) / 1400 */
	assert_true(it_counter("counters", "frag_sent") >= sent + 2 * (749 + 72));
	assert_true(cs.frames_fragmented >= 3);
	assert_true(cs.replies_reassembled >= 3);
	print_message("large: engine reassembled %lu frames, sent %lu fragments\n",
		      (unsigned long)(it_counter("counters", "frag_reassembled") - reassembled),
		      (unsigned long)(it_counter("counters", "frag_sent") - sent));
	tw_client_close(c);
}

/* --- raw fragments from sockets of the test's own --- */

/* A socket from ip (NULL: any) with a large receive buffer; proven: it has its source cookie. */
static int
raw_socket(const char *ip, int timeout_ms, bool proven)
{
	int fd = it_udp_socket_unproven(ip, timeout_ms), rcv = 4 << 20;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	if (proven)
		it_prove_source(fd);
	return fd;
}

static int
udp_socket_from(const char *ip, int timeout_ms)
{
	return raw_socket(ip, timeout_ms, true);
}

/* The source cookie fd proved (len 0: none). */
static struct tw_str
cookie_of(int fd)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;

	it_frame_cookie(fd, &f);
	return (struct tw_str){ f.cookie.data, (uint32_t)f.cookie.len };
}

/* A frame of one task (id, noop, to lg_q) with args of n bytes; malloc'd, *len set. */
static uint8_t *
task_frame(int fd, uint64_t frame_id, uint64_t id, size_t n, size_t *len)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Task t = TASKWIRE__TASK__INIT, *tp = &t;
	char *args = pattern_args(n);
	uint8_t *buf;

	t.id = id;
	t.name = "noop";
	t.routing_key = "lg_q";
	t.args.data = (uint8_t *)args;
	t.args.len = n;
	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.frame_id = frame_id;
	f.n_tasks = 1;
	f.tasks = &tp;
	it_frame_cookie(fd, &f); /* the whole frame's own, checked once it is whole */
	*len = taskwire__frame__get_packed_size(&f);
	buf = malloc(*len);
	assert_non_null(buf);
	taskwire__frame__pack(&f, buf);
	free(args);
	return buf;
}

/* Send fragment i of whole (chunk bytes each) under msg_id, with cookie after it. @return its bytes. */
static size_t
send_piece_cookie(int fd, struct tw_str cookie, uint64_t frame_id, uint64_t msg_id,
		  const uint8_t *whole, size_t len, uint32_t chunk, uint32_t i)
{
	uint8_t d[TW_DATAGRAM_MAX + 64];
	struct tw_wbuf w;

	tw_wbuf_init(&w, d, TW_DATAGRAM_MAX);
	assert_true(tw_frag_put(&w, frame_id, msg_id, whole, (uint32_t)len, chunk, i));
	if (cookie.len != 0) {
		/* Frame.cookie (20), length-delimited, after the fragment */
		assert_true(cookie.len < 60);
		d[w.len++] = 0xa2;
		d[w.len++] = 0x01;
		d[w.len++] = (uint8_t)cookie.len;
		memcpy(d + w.len, cookie.p, cookie.len);
		w.len += cookie.len;
	}
	assert_int_equal(send(fd, d, w.len, 0), (ssize_t)w.len);
	return w.len;
}

/* Send fragment i of whole with fd's own cookie. */
static void
send_piece(int fd, uint64_t frame_id, uint64_t msg_id, const uint8_t *whole, size_t len,
	   uint32_t chunk, uint32_t i)
{
	send_piece_cookie(fd, cookie_of(fd), frame_id, msg_id, whole, len, chunk, i);
}

/* A hand-made Fragment datagram (fields as given), for the lies. */
static void
send_raw_piece(int fd, uint64_t frame_id, uint64_t msg_id, uint32_t index, uint32_t count,
	       uint32_t total, size_t data_len)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Fragment g = TASKWIRE__FRAGMENT__INIT;
	static uint8_t data[TW_DATAGRAM_MAX], buf[2048];
	size_t len;

	memset(data, 'x', sizeof(data));
	g.message_id = msg_id;
	g.index = index;
	g.count = count;
	g.total_len = total;
	g.data.data = data;
	g.data.len = data_len;
	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.frame_id = frame_id;
	f.fragment = &g;
	it_frame_cookie(fd, &f);
	len = taskwire__frame__pack(&f, buf);
	assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
}

/* Replies until one names task id with a final result (or the socket times out). */
static void
expect_confirm_and_result(int fd, uint64_t id)
{
	static uint8_t buf[65536];
	bool acked = false, done = false;

	for (int k = 0; k < 20 && !done; k++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		Taskwire__Frame *f;

		if (n < 0)
			break;
		f = taskwire__frame__unpack(NULL, (size_t)n, buf);
		assert_non_null(f);
		for (size_t i = 0; i < f->n_confirms; i++)
			if (f->confirms[i]->task_id == id) {
				assert_true(f->confirms[i]->ack);
				acked = true;
			}
		for (size_t i = 0; i < f->n_results; i++)
			if (f->results[i]->task_id == id &&
			    f->results[i]->state == TASKWIRE__TASK_STATE__SUCCESS)
				done = true;
		taskwire__frame__free_unpacked(f, NULL);
	}
	assert_true(acked);
	assert_true(done);
}

/* Nothing at all comes back within the socket's timeout. */
static void
expect_silence(int fd)
{
	uint8_t buf[2048];

	assert_true(recv(fd, buf, sizeof(buf), 0) < 0);
}

/* A frame-level NACK of frame_id with reason. */
static void
expect_frame_nack(int fd, uint64_t frame_id, int reason)
{
	static uint8_t buf[65536];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	Taskwire__Frame *f;

	if (n < 0)
		fail_msg("frame %lu: no NACK", (unsigned long)frame_id);
	f = taskwire__frame__unpack(NULL, (size_t)n, buf);
	assert_non_null(f);
	assert_int_equal(f->frame_id, frame_id);
	assert_int_equal(f->n_confirms, 1);
	assert_false(f->confirms[0]->ack);
	assert_int_equal(f->confirms[0]->reason, reason);
	taskwire__frame__free_unpacked(f, NULL);
}

/*
 * A fragment lost: the engine keeps the rest until --reasm-timeout-ms,
 * then drops the message (counted) and says nothing; the publisher's
 * retransmit, whole, goes through. Pieces in any order; a retransmit
 * while the first attempt is still kept fills in the gap.
 */
static void
test_lost_fragment_times_out_and_retransmit_succeeds(void **state)
{
	int fd = udp_socket_from(NULL, 700);
	size_t len;
	uint8_t *whole = task_frame(fd, 9001, 0x1a2b0001, 5000, &len);
	uint32_t count = tw_frag_count((uint32_t)len, TW_FRAG_CHUNK);
	uint64_t timed_out = it_counter("counters", "frag_timed_out");

	(void)state;
	assert_true(count >= 4);
	for (uint32_t i = 0; i < count; i++)
		if (i != 2)
			send_piece(fd, 9001, 77, whole, len, TW_FRAG_CHUNK, i);
	expect_silence(fd); /* 700 ms: past the engine's 300 ms */
	assert_int_equal(it_counter("counters", "frag_timed_out"), timed_out + 1);
	/* the retransmit: every piece again, last first */
	for (uint32_t i = count; i-- > 0;)
		send_piece(fd, 9001, 77, whole, len, TW_FRAG_CHUNK, i);
	expect_confirm_and_result(fd, 0x1a2b0001);
	free(whole);

	/* the gap filled by a retransmit in time: all but one, then all again */
	whole = task_frame(fd, 9002, 0x1a2b0002, 4000, &len);
	count = tw_frag_count((uint32_t)len, TW_FRAG_CHUNK);
	for (uint32_t i = 1; i < count; i++)
		send_piece(fd, 9002, 78, whole, len, TW_FRAG_CHUNK, i);
	{
		uint64_t dup = it_counter("drops", "frag_duplicate");

		/* one piece again, then the missing one */
		send_piece(fd, 9002, 78, whole, len, TW_FRAG_CHUNK, 1);
		send_piece(fd, 9002, 78, whole, len, TW_FRAG_CHUNK, 0);
		expect_confirm_and_result(fd, 0x1a2b0002);
		/* pieces that were in already: dropped as duplicates, counted */
		assert_int_equal(it_counter("drops", "frag_duplicate"), dup + 1);
	}
	free(whole);
	close(fd);
}

/* Fragments that break the rules: each refused and counted, none crashes or leaks. */
static void
test_hostile_fragments_refused_and_counted(void **state)
{
	int fd = udp_socket_from(NULL, 300);
	uint64_t bad = it_counter("drops", "frag_bad");
	uint64_t too_large = it_counter("drops", "frag_too_large");
	uint64_t timed_out = it_counter("counters", "frag_timed_out");
	size_t len;
	uint8_t *whole;

	(void)state;
	/* index out of range (count 3, index 3): a NACK only for fragment 0's faults */
	send_raw_piece(fd, 9100, 90, 3, 3, 3000, 1000);
	/* pieces smaller than 512 bytes (a 1 MiB message in 4,096 of them) */
	send_raw_piece(fd, 9101, 91, 0, 4096, 4096 * 256, 256);
	expect_frame_nack(fd, 9101, TASKWIRE__NACK_REASON__NACK_MALFORMED);
	/* a length that contradicts count and total (3 x 1000 cannot make 5000) */
	send_raw_piece(fd, 9102, 92, 0, 3, 5000, 1000);
	expect_frame_nack(fd, 9102, TASKWIRE__NACK_REASON__NACK_MALFORMED);
	/* message id 0 */
	send_raw_piece(fd, 9103, 0, 0, 2, 1500, 1000);
	expect_frame_nack(fd, 9103, TASKWIRE__NACK_REASON__NACK_MALFORMED);
	/* the total length lies: fragment 0 says 3000 bytes, fragment 1 then says 2500 */
	send_raw_piece(fd, 9104, 94, 0, 3, 3000, 1000);
	send_raw_piece(fd, 9104, 94, 1, 3, 2500, 1000);
	/* over --max-frame (1 MiB and 64 kB): NACK too-large by frame id */
	send_raw_piece(fd, 9105, 95, 0, 2000, 2000 * 1400, 1400);
	expect_frame_nack(fd, 9105, TASKWIRE__NACK_REASON__NACK_TOO_LARGE);
	usleep(100000);
	assert_int_equal(it_counter("drops", "frag_bad"), bad + 5);
	assert_int_equal(it_counter("drops", "frag_too_large"), too_large + 1);
	/* 9104's first piece (and nothing else) was kept: it times out */
	usleep(500000);
	assert_int_equal(it_counter("counters", "frag_timed_out"), timed_out + 1);

	/* a whole frame that decodes to garbage: the same NACK as one datagram would get
	 * (it has no cookie of its own: refused as malformed before that is looked at) */
	whole = malloc(3000);
	assert_non_null(whole);
	memset(whole, 0xff, 3000);
	memcpy(whole, (const uint8_t[]){ 0x0d, 0x54, 0x57, 0x46, 0x31, 0x10, 0x01, 0x19 }, 8);
	memset(whole + 8, 0, 8);
	whole[8] = 0x07;
	len = 3000;
	for (uint32_t i = 0; i < tw_frag_count(3000, TW_FRAG_CHUNK); i++)
		send_piece(fd, 7, 96, whole, len, TW_FRAG_CHUNK, i);
	expect_frame_nack(fd, 7, TASKWIRE__NACK_REASON__NACK_MALFORMED);
	free(whole);
	close(fd);
}

/*
 * One source sends the first pieces of forty 1 MiB messages and never
 * the rest: it gets its share of the reassembly memory (--reasm-source-kb,
 * two such messages), the rest is refused and counted, and another
 * source's large frame still goes through meanwhile. The held memory
 * comes back at the timeout.
 */
static void
test_half_message_flood_held_to_its_share(void **state)
{
	int flood, fd;
	uint64_t refused = it_counter("drops", "frag_source_full");
	uint64_t timed_out = it_counter("counters", "frag_timed_out");
	size_t len;
	uint8_t *whole;

	(void)state;
	assert_int_equal(system("ip addr add " OTHER_IP "/24 dev $(ip -o link show | awk -F': ' "
				"'$2 != \"lo\" { print $2 }') 2>/dev/null; true"), 0);
	flood = udp_socket_from(OTHER_IP, 200);
	fd = udp_socket_from(NULL, 2000);
	for (uint32_t m = 0; m < 40; m++)
		send_raw_piece(flood, 9200 + m, 500 + m, 0, 749, 748 * 1400 + 100, 1400);
	usleep(100000);
	assert_int_equal(it_counter("drops", "frag_source_full"), refused + 38);
	/* the other source: 100 kB in fragments, confirmed and run */
	whole = task_frame(fd, 9300, 0x1a2b0003, 100000, &len);
	for (uint32_t i = 0; i < tw_frag_count((uint32_t)len, TW_FRAG_CHUNK); i++)
		send_piece(fd, 9300, 300, whole, len, TW_FRAG_CHUNK, i);
	expect_confirm_and_result(fd, 0x1a2b0003);
	free(whole);
	usleep(600000);
	assert_int_equal(it_counter("counters", "frag_timed_out"), timed_out + 2);
	print_message("large: a flood of 40 half messages from one source: 2 kept, 38 refused "
		      "(drops.frag_source_full), both kept timed out; another source's 100 kB "
		      "frame confirmed and run meanwhile\n");
	close(flood);
	close(fd);
}

/* The frame-level NACK retry-with-cookie of frame_id: its cookie, and the reply's size. */
static size_t
expect_cookie_nack(int fd, uint64_t frame_id)
{
	static uint8_t buf[65536];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	Taskwire__Frame *f;

	if (n < 0)
		fail_msg("frame %lu: no retry-with-cookie", (unsigned long)frame_id);
	f = taskwire__frame__unpack(NULL, (size_t)n, buf);
	assert_non_null(f);
	assert_int_equal(f->frame_id, frame_id);
	assert_int_equal(f->n_confirms, 1);
	assert_false(f->confirms[0]->ack);
	assert_int_equal(f->confirms[0]->reason, TASKWIRE__NACK_REASON__NACK_RETRY_WITH_COOKIE);
	assert_true(f->cookie.len != 0);
	taskwire__frame__free_unpacked(f, NULL);
	return (size_t)n;
}

/*
 * Source cookies on fragments: pieces without a cookie, or with another
 * source's, take no reassembly memory (nothing consumed, nothing to time
 * out); the first piece alone is answered, retry-with-cookie, by a reply
 * no larger than it, the others by nothing. With its cookie the same
 * source's frame goes through.
 */
static void
test_unproven_fragments_refused_before_reassembly(void **state)
{
	int fd = raw_socket(NULL, 300, false), other = udp_socket_from(NULL, 300);
	uint64_t unproven = it_counter("drops", "frag_unproven");
	uint64_t consumed = it_counter("counters", "frag_consumed");
	uint64_t timed_out = it_counter("counters", "frag_timed_out");
	uint64_t cookies = it_counter("counters", "cookies_sent");
	size_t len, first = 0, reply;
	uint8_t *whole = task_frame(fd, 9400, 0x1a2b0004, 20000, &len);
	uint32_t count = tw_frag_count((uint32_t)len, TW_FRAG_CHUNK);

	(void)state;
	assert_int_equal(cookie_of(fd).len, 0);
	for (uint32_t i = 0; i < count; i++) {
		size_t n = send_piece_cookie(fd, cookie_of(fd), 9400, 400, whole, len,
					     TW_FRAG_CHUNK, i);

		if (i == 0)
			first = n;
	}
	reply = expect_cookie_nack(fd, 9400);
	expect_silence(fd); /* one reply for the whole message */
	assert_true(reply <= first);
	/* another source's valid cookie is no cookie of this one's */
	for (uint32_t i = 0; i < count; i++)
		send_piece_cookie(fd, cookie_of(other), 9401, 401, whole, len, TW_FRAG_CHUNK, i);
	expect_cookie_nack(fd, 9401);
	expect_silence(fd);
	usleep(400000); /* past --reasm-timeout-ms: nothing was kept to time out */
	assert_int_equal(it_counter("drops", "frag_unproven"), unproven + 2 * count);
	assert_int_equal(it_counter("counters", "frag_consumed"), consumed);
	assert_int_equal(it_counter("counters", "frag_timed_out"), timed_out);
	assert_int_equal(it_counter("counters", "cookies_sent"), cookies + 2);
	print_message("large: %u unproven fragments (%zu bytes the first) answered once, "
		      "retry-with-cookie in %zu bytes; no reassembly memory taken\n", 2 * count,
		      first, reply);
	free(whole);
	/* proven, the same frame (with its cookie now) goes through */
	it_prove_source(fd);
	whole = task_frame(fd, 9402, 0x1a2b0004, 20000, &len);
	for (uint32_t i = 0; i < count; i++)
		send_piece(fd, 9402, 402, whole, len, TW_FRAG_CHUNK, i);
	expect_confirm_and_result(fd, 0x1a2b0004);
	free(whole);
	close(fd);
	close(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_large_task_and_result_round_trip, it_pools_back),
		cmocka_unit_test_teardown(test_lost_fragment_times_out_and_retransmit_succeeds,
					  it_pools_back),
		cmocka_unit_test_teardown(test_hostile_fragments_refused_and_counted,
					  it_pools_back),
		cmocka_unit_test_teardown(test_half_message_flood_held_to_its_share,
					  it_pools_back),
		cmocka_unit_test_teardown(test_unproven_fragments_refused_before_reassembly,
					  it_pools_back),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
