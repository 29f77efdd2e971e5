/*
 * Integration-test helpers: see it_common.h.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "it_common.h"

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
