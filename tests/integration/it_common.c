/*
 * Integration-test helpers: see it_common.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "it_common.h"
#include "tw_limits.h"

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0')
		fail_msg("environment variable %s is not set (run through tests/integration/run.sh)",
			 name);
	return v;
}

const char *
it_engine(void)
{
	return env("TW_ENGINE");
}

uint64_t
it_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
run(char *out, size_t len, const char *fmt, va_list ap)
{
	char args[2048], cmd[4096];
	FILE *p;
	size_t got = 0;
	int st;

	vsnprintf(args, sizeof(args), fmt, ap);
	snprintf(cmd, sizeof(cmd), "%s --socket %s %s%s", env("TW_TWCTL"), env("TW_SOCKET"), args,
		 out == NULL ? " >/dev/null" : "");
	p = popen(cmd, "r");
	assert_non_null(p);
	if (out != NULL) {
		size_t n;

		while (got + 1 < len && (n = fread(out + got, 1, len - 1 - got, p)) > 0)
			got += n;
		out[got] = '\0';
	}
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int
it_twctl(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = run(NULL, 0, fmt, ap);
	va_end(ap);
	return rc;
}

int
it_twctl_out(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = run(out, len, fmt, ap);
	va_end(ap);
	return rc;
}

static json_t *
status(void)
{
	static char buf[1 << 16];
	json_error_t e;
	json_t *j;

	assert_int_equal(it_twctl_out(buf, sizeof(buf), "status --json"), 0);
	j = json_loads(buf, 0, &e);
	if (j == NULL)
		fail_msg("status --json does not parse: %s", e.text);
	return j;
}

uint64_t
it_counter(const char *section, const char *name)
{
	json_t *j = status();
	json_t *v = json_object_get(json_object_get(j, section), name);
	uint64_t r;

	if (!json_is_integer(v))
		fail_msg("no counter %s.%s in status", section, name);
	r = (uint64_t)json_integer_value(v);
	json_decref(j);
	return r;
}

/* `twctl list queues --json`, parsed (the caller frees it). */
static json_t *
queues(void)
{
	static char buf[1 << 18];
	json_error_t e;
	json_t *j;

	assert_int_equal(it_twctl_out(buf, sizeof(buf), "list queues --json"), 0);
	j = json_loads(buf, 0, &e);
	if (j == NULL)
		fail_msg("list queues --json does not parse: %s", e.text);
	return j;
}

uint64_t
it_queue(const char *queue, const char *field)
{
	json_t *j = queues(), *q;
	size_t i;

	json_array_foreach(j, i, q) {
		if (strcmp(json_string_value(json_object_get(q, "name")), queue) == 0) {
			uint64_t v = (uint64_t)json_number_value(json_object_get(q, field));

			json_decref(j);
			return v;
		}
	}
	fail_msg("no queue %s", queue);
	return 0;
}

uint64_t
it_queues_sum(const char *prefix, const char *field)
{
	json_t *j = queues(), *q;
	uint64_t sum = 0;
	size_t i;

	json_array_foreach(j, i, q)
		if (strncmp(json_string_value(json_object_get(q, "name")), prefix, strlen(prefix)) == 0)
			sum += (uint64_t)json_number_value(json_object_get(q, field));
	json_decref(j);
	return sum;
}

void
it_pools(uint32_t *mbufs_free, uint32_t *tasks_free)
{
	json_t *j = status();

	*mbufs_free = (uint32_t)json_integer_value(json_object_get(json_object_get(j, "mbufs"), "free"));
	*tasks_free = (uint32_t)json_integer_value(json_object_get(json_object_get(j, "tasks"), "free"));
	json_decref(j);
}

int
it_pools_settle(uint32_t mbufs_free, uint32_t tasks_free, int timeout_ms)
{
	uint64_t deadline = it_now_ms() + (uint64_t)timeout_ms;
	uint32_t m, t;

	do {
		it_pools(&m, &t);
		if (m == mbufs_free && t == tasks_free)
			return 0;
		usleep(50000);
	} while (it_now_ms() < deadline);
	print_error("pools did not settle: mbufs free %u (was %u), tasks free %u (was %u)\n", m,
		    mbufs_free, t, tasks_free);
	{
		/* where the missing ones may be: tasks waiting or in flight, consumers' deliveries */
		static char where[1 << 16];

		if (it_twctl_out(where, sizeof(where), "list queues") == 0)
			print_error("%s", where);
		if (it_twctl_out(where, sizeof(where), "list consumers") == 0)
			print_error("%s", where);
	}
	return -1;
}

static uint32_t snapshot_mbufs, snapshot_tasks;

void
it_pools_snapshot(void)
{
	it_pools(&snapshot_mbufs, &snapshot_tasks);
}

int
it_pools_back(void **state)
{
	(void)state;
	return it_pools_settle(snapshot_mbufs, snapshot_tasks, 5000);
}

void
it_tally_event(const struct tw_event *ev, void *arg)
{
	struct it_tally *t = arg;

	if (ev->kind == TW_EV_RESULT) {
		t->results++;
		t->succeeded += ev->state == TW_STATE_SUCCESS;
	} else if (ev->ack) {
		t->acks++;
	} else {
		t->nacks++;
		t->nacks_by_reason[ev->nack_reason & 15]++;
	}
}

void
it_warm_up(void)
{
	struct tw_client *c = it_client();
	struct tw_outcome o;

	/* unroutable on purpose: the NACK is the round trip */
	assert_int_equal(it_call(c, "", "warm-up.no-such-queue", "noop", NULL, 5000, &o), 0);
	assert_true(o.confirmed);
	tw_outcome_clear(&o);
	tw_client_close(c);
}

struct tw_client *
it_client(void)
{
	struct tw_client *c = tw_client_open(it_engine(), NULL);

	if (c == NULL)
		fail_msg("tw_client_open(%s): %s", it_engine(), strerror(errno));
	return c;
}

int
it_call(struct tw_client *c, const char *exchange, const char *key, const char *task,
	const char *args, int timeout_ms, struct tw_outcome *out)
{
	struct tw_publish p = {
		.exchange = exchange,
		.routing_key = key,
		.task = task,
		.args = args,
		.args_len = args != NULL ? strlen(args) : 0,
	};
	uint64_t id;

	memset(out, 0, sizeof(*out));
	assert_int_equal(tw_client_publish(c, &p, &id), 0);
	return tw_client_wait(c, id, timeout_ms, out, NULL, NULL);
}

/* --- raw sockets and their source cookies --- */

#define IT_MAX_FD 4096
static uint8_t cookie_of[IT_MAX_FD][32];
static size_t cookie_len[IT_MAX_FD];

int
it_udp_socket_unproven(const char *source_ip, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	const char *colon = strrchr(it_engine(), ':');
	char host[64];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0 && fd < IT_MAX_FD && colon != NULL);
	cookie_len[fd] = 0; /* a new socket, maybe with a closed one's number */
	if (source_ip != NULL) {
		struct sockaddr_in me = { .sin_family = AF_INET };

		assert_int_equal(inet_pton(AF_INET, source_ip, &me.sin_addr), 1);
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0)
			fail_msg("bind %s: %s", source_ip, strerror(errno));
	}
	if (timeout_ms > 0) {
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - it_engine()), it_engine());
	a.sin_port = htons((uint16_t)atoi(colon + 1));
	assert_int_equal(inet_pton(AF_INET, host, &a.sin_addr), 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

void
it_prove_source(int fd)
{
	static uint8_t pad[64];
	Taskwire__Frame f = TASKWIRE__FRAME__INIT;
	uint8_t buf[128], rbuf[2048];
	size_t len;

	assert_true(fd >= 0 && fd < IT_MAX_FD);
	cookie_len[fd] = 0;
	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.frame_id = 1;
	f.padding.data = pad;
	f.padding.len = 48;
	len = taskwire__frame__pack(&f, buf);
	for (int attempt = 0; attempt < 5 && cookie_len[fd] == 0; attempt++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		assert_true(send(fd, buf, len, 0) == (ssize_t)len);
		while (cookie_len[fd] == 0 && poll(&p, 1, 500) == 1) {
			ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
			Taskwire__Frame *r = n > 0 ? taskwire__frame__unpack(NULL, (size_t)n, rbuf)
						   : NULL;

			if (r != NULL && r->cookie.len != 0 && r->cookie.len <= 32) {
				memcpy(cookie_of[fd], r->cookie.data, r->cookie.len);
				cookie_len[fd] = r->cookie.len;
			}
			taskwire__frame__free_unpacked(r, NULL);
		}
	}
	if (cookie_len[fd] == 0)
		fail_msg("no source cookie from the engine");
}

int
it_udp_socket(const char *source_ip, int timeout_ms)
{
	int fd = it_udp_socket_unproven(source_ip, timeout_ms);

	it_prove_source(fd);
	return fd;
}

void
it_frame_cookie(int fd, Taskwire__Frame *f)
{
	assert_true(fd >= 0 && fd < IT_MAX_FD);
	f->cookie.data = cookie_of[fd];
	f->cookie.len = cookie_len[fd];
}
