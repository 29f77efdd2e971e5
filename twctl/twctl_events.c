/*
 * `twctl events [--task ID] [--queue NAME] [--count N] [--timeout S] [--all]`:
 * follow task events live, like `celery events --dump`: one line per
 * event (with --json, the event's JSON object per line). Runs until
 * interrupted, N events were printed, or S seconds passed. --task ID also
 * follows a group's members and a workflow's steps (ID a group or root);
 * --all starts from the oldest event tw-control still keeps.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "twctl.h"

#define FOLLOW_RETRIES 5 /* failed requests in a row before a follower gives up */

static volatile sig_atomic_t interrupted;

static void
on_int(int sig)
{
	(void)sig;
	interrupted = 1;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One human line: time, type, id, name, state and what it carries. */
static void
print_line(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);
	const char *type = "", *id = "", *name = "", *state = "", *result = NULL, *error = NULL;
	json_int_t ts = 0, lcore = 0, executed = 0;
	double busy = 0;

	if (j == NULL) {
		printf("%s\n", text);
		return;
	}
	json_unpack(j, "{s?s, s?s, s?s, s?s, s?s, s?s, s?I, s?I, s?F, s?I}", "type", &type,
		    "task_id", &id, "name", &name, "state", &state, "result", &result, "error",
		    &error, "timestamp_ms", &ts, "lcore", &lcore, "busy_ratio", &busy, "executed",
		    &executed);
	{
		time_t secs = (time_t)(ts / 1000);
		struct tm tm;
		char when[32];

		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		if (strcmp(type, "worker-heartbeat") == 0)
			printf("%s.%03d %-16s lcore %" PRId64 " busy %.1f%% executed %" PRId64 "\n",
			       when, (int)(ts % 1000), type, (int64_t)lcore, busy * 100,
			       (int64_t)executed);
		else
			printf("%s.%03d %-16s %s %s %s%s%s\n", when, (int)(ts % 1000), type, id, name,
			       state, result ? " " : error && *error ? " " : "",
			       result ? result : error ? error : "");
	}
	json_decref(j);
}

int
twctl_events(const struct twctl_opts *o, int argc, char **argv)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__EventsRequest er = TASKWIRE__CONTROL__EVENTS_REQUEST__INIT;
	uint64_t count = 0, printed = 0;
	unsigned failures = 0;
	double timeout = 0, start = mono_s();
	bool all = false;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (strcmp(argv[i], "--task") == 0 && i + 1 < argc) {
			errno = 0;
			er.task_id = strtoull(argv[++i], &end, 16);
			if (errno != 0 || *end != '\0' || er.task_id == 0) {
				fprintf(stderr, "twctl: events --task: a task id (16 hex digits)\n");
				return TWCTL_USAGE;
			}
		} else if (strcmp(argv[i], "--all") == 0) {
			all = true;
		} else if (strcmp(argv[i], "--queue") == 0 && i + 1 < argc) {
			er.queue = argv[++i];
		} else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
			count = strtoull(argv[++i], &end, 10);
			if (*end != '\0' || count == 0) {
				fprintf(stderr, "twctl: events --count: N >= 1\n");
				return TWCTL_USAGE;
			}
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout = strtod(argv[++i], &end);
			if (*end != '\0' || timeout <= 0) {
				fprintf(stderr, "twctl: events --timeout: S > 0\n");
				return TWCTL_USAGE;
			}
		} else {
			fprintf(stderr, "usage: events [--task ID] [--queue NAME] [--count N] "
					"[--timeout S] [--all]\n");
			return TWCTL_USAGE;
		}
	}
	signal(SIGINT, on_int);
	signal(SIGTERM, on_int);
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_EVENTS;
	req.events = &er;
	er.wait_ms = 300;
	/* from now on: the first request only learns where the stream is */
	er.max = 1;
	er.after_seq = UINT64_MAX - 1;
	if (all) {
		er.after_seq = 0; /* from the oldest kept */
		er.max = 0;
	} else {
		Taskwire__Control__Response *resp;

		er.wait_ms = 0;
		if (twctl_roundtrip(o, &req, &resp) != TWCTL_OK)
			return TWCTL_FAILED;
		er.after_seq = resp->next_seq;
		taskwire__control__response__free_unpacked(resp, NULL);
		er.wait_ms = 300;
		er.max = 0;
	}
	while (!interrupted && (count == 0 || printed < count) &&
	       (timeout == 0 || mono_s() - start < timeout)) {
		Taskwire__Control__Response *resp;

		if (twctl_roundtrip(o, &req, &resp) != TWCTL_OK) {
			/* a follower keeps the events on: one request that failed
			 * (tw-control busy, a timeout) is tried again, a few times */
			if (++failures > FOLLOW_RETRIES)
				return TWCTL_FAILED;
			nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000000L }, NULL);
			continue;
		}
		failures = 0;
		for (size_t i = 0; i < resp->n_events && (count == 0 || printed < count); i++) {
			if (o->json)
				printf("%s\n", resp->events[i]);
			else
				print_line(resp->events[i]);
			printed++;
		}
		fflush(stdout);
		er.after_seq = resp->next_seq;
		taskwire__control__response__free_unpacked(resp, NULL);
	}
	return TWCTL_OK;
}
