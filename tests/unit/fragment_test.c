/*
 * Fragments (common/tw_fragment.c, libtaskwire/tw_frag_client.c): the
 * hand-written encoder and decoder against protobuf-c on the same bytes,
 * the slicing rule's refusals, and the client reassembler (any order,
 * duplicates, lies, a frame cut and put back byte for byte).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "taskwire.pb-c.h"
#include "tw_frag_client.h"
#include "tw_fragment.h"

static uint8_t *
pattern(size_t n)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + i / 1400);
	return p;
}

/* protobuf-c's encoding of a fragment datagram */
static size_t
pb_fragment(uint8_t *out, uint64_t frame_id, uint64_t msg, uint32_t index, uint32_t count,
	    uint32_t total, const uint8_t *data, size_t len)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	Taskwire__Fragment g = TASKWIRE__FRAGMENT__INIT;

	f.magic = 0x31465754u;
	f.version = 1;
	f.frame_id = frame_id;
	f.fragment = &g;
	g.message_id = msg;
	g.index = index;
	g.count = count;
	g.total_len = total;
	g.data.data = (uint8_t *)data;
	g.data.len = len;
	return taskwire__frame__pack(&f, out);
}

/* Our encoder writes what protobuf-c writes, byte for byte, and both decoders agree. */
static void
test_fragment_codec_matches_protobuf_c(void **state)
{
	size_t total = 5000;
	uint8_t *whole = pattern(total);
	uint32_t count = tw_frag_count((uint32_t)total, TW_FRAG_CHUNK);

	(void)state;
	for (uint32_t i = 0; i < count; i++) {
		uint8_t ours[TW_DATAGRAM_MAX], theirs[2048];
		struct tw_wbuf w;
		struct tw_frag_view fv;
		const char *why;
		uint32_t off = i * TW_FRAG_CHUNK, n = i + 1 < count ? TW_FRAG_CHUNK
								  : (uint32_t)total - off;
		size_t len = pb_fragment(theirs, 42, 7, i, count, (uint32_t)total, whole + off, n);
		Taskwire__Frame *f;

		tw_wbuf_init(&w, ours, sizeof(ours));
		assert_true(tw_frag_put(&w, 42, 7, whole, (uint32_t)total, TW_FRAG_CHUNK, i));
		assert_true(w.len <= TW_FRAG_CHUNK + TW_FRAG_OVERHEAD);
		assert_int_equal(w.len, len);
		assert_memory_equal(ours, theirs, len);
		f = taskwire__frame__unpack(NULL, w.len, ours);
		assert_non_null(f);
		assert_non_null(f->fragment);
		assert_int_equal(f->fragment->index, i);
		taskwire__frame__free_unpacked(f, NULL);
		assert_int_equal(tw_frag_decode(theirs, (uint32_t)len, &fv, &why), TW_FRAG_OK);
		assert_int_equal(fv.frame_id, 42);
		assert_int_equal(fv.msg_id, 7);
		assert_int_equal(fv.index, i);
		assert_int_equal(fv.count, count);
		assert_int_equal(fv.total, total);
		assert_int_equal(fv.chunk, TW_FRAG_CHUNK);
		assert_int_equal(fv.data.len, n);
		assert_memory_equal(fv.data.p, whole + off, n);
	}
	free(whole);
}

/* Ordinary frames are not fragments; fragments that break the rules are refused by name. */
static void
test_fragment_rules_refused(void **state)
{
	static const uint8_t task_frame[] = { 0x0d, 0x54, 0x57, 0x46, 0x31, 0x10, 0x01, 0x19,
					      1, 0, 0, 0, 0, 0, 0, 0, 0x22, 0x00 };
	uint8_t buf[2048], data[1400];
	struct tw_frag_view fv;
	const char *why;
	size_t len;

	(void)state;
	memset(data, 'x', sizeof(data));
	assert_int_equal(tw_frag_decode(task_frame, sizeof(task_frame), &fv, &why), TW_FRAG_NONE);
	assert_int_equal(tw_frag_decode(buf, 3, &fv, &why), TW_FRAG_NONE);
	/* index out of range */
	len = pb_fragment(buf, 1, 9, 3, 3, 3000, data, 1000);
	assert_int_equal(tw_frag_decode(buf, (uint32_t)len, &fv, &why), TW_FRAG_BAD);
	assert_string_equal(why, "fragment index out of range");
	/* pieces under 512 bytes */
	len = pb_fragment(buf, 1, 9, 0, 8, 2048, data, 256);
	assert_int_equal(tw_frag_decode(buf, (uint32_t)len, &fv, &why), TW_FRAG_BAD);
	assert_string_equal(why, "fragments smaller than 512 bytes");
	/* lengths that cannot add up: 3 x 1000 is not 5000; the last piece longer than the rest */
	len = pb_fragment(buf, 1, 9, 0, 3, 5000, data, 1000);
	assert_int_equal(tw_frag_decode(buf, (uint32_t)len, &fv, &why), TW_FRAG_BAD);
	len = pb_fragment(buf, 1, 9, 2, 3, 2000 + 1200, data, 1200);
	assert_int_equal(tw_frag_decode(buf, (uint32_t)len, &fv, &why), TW_FRAG_BAD);
	/* message id 0; a single piece shorter than its total */
	len = pb_fragment(buf, 1, 0, 0, 2, 1600, data, 1000);
	assert_int_equal(tw_frag_decode(buf, (uint32_t)len, &fv, &why), TW_FRAG_BAD);
	len = pb_fragment(buf, 1, 9, 0, 1, 1600, data, 1000);
	assert_int_equal(tw_frag_decode(buf, (uint32_t)len, &fv, &why), TW_FRAG_BAD);
	/* the last piece alone gives the chunk: (3000 - 600) / 2 */
	len = pb_fragment(buf, 1, 9, 2, 3, 2600, data, 600);
	assert_int_equal(tw_frag_decode(buf, (uint32_t)len, &fv, &why), TW_FRAG_OK);
	assert_int_equal(fv.chunk, 1000);
	/* a second fragment field in one datagram */
	buf[len++] = (18 << 3) | 2;
	buf[len++] = 0;
	assert_int_equal(tw_frag_decode(buf, (uint32_t)len, &fv, &why), TW_FRAG_BAD);
}

static int
send_to_rx(void *arg, const uint8_t *buf, size_t len, bool piece)
{
	struct tw_frag_rx *r = arg;
	const uint8_t *whole;
	size_t wlen;

	(void)piece;
	(void)tw_frag_rx_take(r, buf, len, &whole, &wlen);
	return 0;
}

/* Pieces in reverse order with a duplicate: put back byte for byte; lies refused. */
static void
test_client_reassembly(void **state)
{
	size_t total = 100000;
	uint8_t *whole = pattern(total);
	uint32_t count = tw_frag_count((uint32_t)total, TW_FRAG_CHUNK);
	struct tw_frag_rx *r = tw_frag_rx_new(1 << 20, 5000);
	uint64_t refused, timed_out, done;
	const uint8_t *out = NULL;
	size_t out_len = 0;
	int last = -1;

	(void)state;
	assert_non_null(r);
	for (uint32_t k = 0; k < count; k++) {
		uint32_t i = count - 1 - k;
		uint8_t d[TW_DATAGRAM_MAX];
		struct tw_wbuf w;

		tw_wbuf_init(&w, d, sizeof(d));
		assert_true(tw_frag_put(&w, 3, 11, whole, (uint32_t)total, TW_FRAG_CHUNK, i));
		if (k == 1) /* an empty datagram: not a fragment, ignored */
			assert_int_equal(send_to_rx(r, d, 0, false), 0);
		last = tw_frag_rx_take(r, d, w.len, &out, &out_len);
		if (k == 5) {
			/* the same index again: dropped, no harm */
			assert_int_equal(tw_frag_rx_take(r, d, w.len, &out, &out_len),
					 TW_FRAG_RX_TAKEN);
		}
		if (k + 1 < count)
			assert_int_equal(last, TW_FRAG_RX_TAKEN);
	}
	assert_int_equal(last, TW_FRAG_RX_DONE);
	assert_int_equal(out_len, total);
	assert_memory_equal(out, whole, total);
	/* over the reassembler's size: refused */
	{
		uint8_t d[2048];
		size_t len = pb_fragment(d, 1, 12, 0, 2000, 2000 * 1400, whole, 1400);

		assert_int_equal(tw_frag_rx_take(r, d, len, &out, &out_len), TW_FRAG_RX_TAKEN);
	}
	/* whole frames pass through; tw_frag_send_frame sends small ones as they are */
	assert_int_equal(tw_frag_send_frame(whole, 100, 1, 1, send_to_rx, r), 0);
	assert_int_equal(tw_frag_send_frame(whole, total, 5, 5, send_to_rx, r), 0);
	tw_frag_rx_counts(r, &refused, &timed_out, &done);
	assert_int_equal(refused, 1);
	assert_int_equal(done, 2);
	assert_int_equal(tw_frag_send_frame(whole, TW_FRAG_LIMIT + 1ull, 1, 1, send_to_rx, r),
			 -EMSGSIZE);
	tw_frag_rx_free(r);
	free(whole);
}

/* The source cookie after a fragment: read as protobuf-c reads it, refused as it refuses it. */
static void
test_fragment_cookie(void **state)
{
	static const uint8_t cookie[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	uint8_t buf[2048], data[1000], pad[8] = { 0 };
	Taskwire__Frame f = TASKWIRE__FRAME__INIT, *back;
	Taskwire__Fragment g = TASKWIRE__FRAGMENT__INIT;
	struct tw_frag_view fv;
	const char *why;
	size_t len;

	(void)state;
	memset(data, 'y', sizeof(data));
	f.magic = 0x31465754u;
	f.version = 1;
	f.frame_id = 5;
	f.fragment = &g;
	g.message_id = 5;
	g.count = 3;
	g.total_len = 2500;
	g.data.data = data;
	g.data.len = 1000;
	f.cookie.data = (uint8_t *)cookie;
	f.cookie.len = sizeof(cookie);
	len = taskwire__frame__pack(&f, buf);
	assert_int_equal(tw_frag_decode(buf, (uint32_t)len, &fv, &why), TW_FRAG_OK);
	assert_int_equal(fv.cookie.len, sizeof(cookie));
	assert_memory_equal(fv.cookie.p, cookie, sizeof(cookie));
	/* no cookie: none seen; padding alone is fine */
	f.cookie.len = 0;
	f.padding.data = pad;
	f.padding.len = sizeof(pad);
	len = taskwire__frame__pack(&f, buf);
	assert_int_equal(tw_frag_decode(buf, (uint32_t)len, &fv, &why), TW_FRAG_OK);
	assert_int_equal(fv.cookie.len, 0);
	/* field 20 as a varint: protobuf-c refuses the datagram, so do we */
	buf[len++] = (uint8_t)((20 << 3) | 0x80);
	buf[len++] = 0x01;
	buf[len++] = 0x05;
	back = taskwire__frame__unpack(NULL, len, buf);
	assert_null(back);
	assert_int_equal(tw_frag_decode(buf, (uint32_t)len, &fv, &why), TW_FRAG_BAD);
}

struct sent_log {
	uint32_t whole, pieces;
};

static int
log_send(void *arg, const uint8_t *buf, size_t len, bool piece)
{
	struct sent_log *l = arg;

	(void)buf;
	assert_true(len <= TW_DATAGRAM_MAX - TW_FRAG_TRAILER_MAX || !piece);
	*(piece ? &l->pieces : &l->whole) += 1;
	return 0;
}

/* The sender is told which datagrams are pieces (they get its cookie), with room for it. */
static void
test_send_marks_pieces(void **state)
{
	uint8_t *whole = pattern(5000);
	struct sent_log l = { 0 };

	(void)state;
	assert_true(TW_FRAG_TRAILER_MAX >= 2 + 1 + 12); /* a cookie's tag, length and bytes */
	assert_int_equal(tw_frag_send_frame(whole, 1400, 1, 1, log_send, &l), 0);
	assert_int_equal(l.whole, 1);
	assert_int_equal(l.pieces, 0);
	assert_int_equal(tw_frag_send_frame(whole, 5000, 2, 2, log_send, &l), 0);
	assert_int_equal(l.whole, 1);
	assert_int_equal(l.pieces, tw_frag_count(5000, TW_FRAG_CHUNK));
	free(whole);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fragment_codec_matches_protobuf_c),
		cmocka_unit_test(test_fragment_rules_refused),
		cmocka_unit_test(test_client_reassembly),
		cmocka_unit_test(test_fragment_cookie),
		cmocka_unit_test(test_send_marks_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
