/*
 * `twctl publish EXCHANGE ROUTING_KEY TASK [ARGS] [--priority N] [Celery options]
 *  [--header K=V ...] [--wait [S]]`: publish one task through libtaskwire
 * and print its confirm and, with --wait, its result. The engine address
 * comes from --engine / TW_ENGINE, else from tw-control's status.
 *
 * Exit codes: 0 ACKed (and, with --wait, SUCCESS); 1 NACKed, failed, or
 * no answer in time; 2 usage.
 */
#include <errno.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "taskwire/client.h"
#include "tw_units.h"
#include "twctl.h"
#include "tw_clock.h"

#define MAX_HEADERS 32
#define CONFIRM_TIMEOUT_MS 3000

struct publish_args {
	struct tw_publish p;
	struct tw_retry_policy retry;
	struct tw_header headers[MAX_HEADERS];
	bool wait;
	double wait_s;
};

/* Seconds as a duration ("10", "1.5", "250ms", "5m"): negative values are refused. */
static int
duration_opt(const char *opt, const char *val, uint64_t *ms)
{
	char err[128];

	if (tw_duration_parse(val, ms, err, sizeof(err)) != 0) {
		fprintf(stderr, "twctl: %s '%s': %s\n", opt, val, err);
		return -1;
	}
	return 0;
}

/* --eta: unix seconds ("1767225600.5") or UTC ISO 8601 ("2026-12-01T10:00:00Z"). */
static int
eta_opt(const char *val, uint64_t *ms)
{
	struct tm tm;
	char *end;
	double secs;

	memset(&tm, 0, sizeof(tm));
	end = strptime(val, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end != NULL && (*end == '\0' || strcmp(end, "Z") == 0)) {
		*ms = (uint64_t)timegm(&tm) * 1000;
		return 0;
	}
	secs = strtod(val, &end);
	if (*end != '\0' || end == val || secs <= 0) {
		fprintf(stderr, "twctl: --eta '%s': not unix seconds or YYYY-MM-DDTHH:MM:SSZ\n", val);
		return -1;
	}
	*ms = (uint64_t)(secs * 1000);
	return 0;
}

static int
count_opt(const char *opt, const char *val, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno != 0 || *end != '\0' || end == val || val[0] == '-' || v > max) {
		fprintf(stderr, "twctl: %s '%s': 0..%u\n", opt, val, max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int
parse(int argc, char **argv, struct publish_args *a)
{
	int pos = 0;

	memset(a, 0, sizeof(*a));
	a->wait_s = 10.0;
	for (int i = 1; i < argc; i++) {
		char *end;

		if (strcmp(argv[i], "--priority") == 0 && i + 1 < argc) {
			unsigned long v = strtoul(argv[++i], &end, 10);

			if (*end != '\0' || v > 255) {
				fprintf(stderr, "twctl: --priority: 0..255\n");
				return -1;
			}
			a->p.priority = (uint32_t)v;
		} else if (strcmp(argv[i], "--header") == 0 && i + 1 < argc) {
			char *eq = strchr(argv[++i], '=');

			if (eq == NULL || eq == argv[i] || a->p.n_headers == MAX_HEADERS) {
				fprintf(stderr, "twctl: --header K=V (at most %d)\n", MAX_HEADERS);
				return -1;
			}
			*eq = '\0';
			a->headers[a->p.n_headers].key = argv[i];
			a->headers[a->p.n_headers].value = eq + 1;
			a->p.n_headers++;
		} else if (strcmp(argv[i], "--countdown") == 0 && i + 1 < argc) {
			if (duration_opt("--countdown", argv[++i], &a->p.countdown_ms) != 0)
				return -1;
		} else if (strcmp(argv[i], "--eta") == 0 && i + 1 < argc) {
			if (eta_opt(argv[++i], &a->p.eta_ms) != 0)
				return -1;
		} else if (strcmp(argv[i], "--expires") == 0 && i + 1 < argc) {
			if (duration_opt("--expires", argv[++i], &a->p.expires_in_ms) != 0)
				return -1;
			if (a->p.expires_in_ms == 0) {
				fprintf(stderr, "twctl: --expires: must be more than 0\n");
				return -1;
			}
		} else if (strcmp(argv[i], "--max-retries") == 0 && i + 1 < argc) {
			if (count_opt("--max-retries", argv[++i], 1000, &a->retry.max_retries) != 0)
				return -1;
			a->p.retry = &a->retry;
		} else if (strcmp(argv[i], "--retry-countdown") == 0 && i + 1 < argc) {
			uint64_t ms;

			if (duration_opt("--retry-countdown", argv[++i], &ms) != 0)
				return -1;
			a->retry.countdown_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
		} else if (strcmp(argv[i], "--retry-backoff") == 0) {
			a->retry.backoff = true;
		} else if (strcmp(argv[i], "--retry-jitter") == 0) {
			a->retry.jitter = true;
		} else if (strcmp(argv[i], "--autoretry") == 0) {
			a->retry.autoretry = true;
		} else if (strcmp(argv[i], "--ignore-result") == 0) {
			a->p.ignore_result = true;
		} else if (strcmp(argv[i], "--result-expires") == 0 && i + 1 < argc) {
			uint64_t ms;

			if (duration_opt("--result-expires", argv[++i], &ms) != 0)
				return -1;
			a->p.result_expires_s = ms < 1000 ? 1 : (ms / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(ms / 1000));
		} else if (strcmp(argv[i], "--wait") == 0) {
			a->wait = true;
			/* optional seconds */
			if (i + 1 < argc && argv[i + 1][0] != '-') {
				double s = strtod(argv[i + 1], &end);

				if (*end == '\0') {
					if (s <= 0 || s > 86400) {
						fprintf(stderr, "twctl: --wait: 0 < S <= 86400\n");
						return -1;
					}
					a->wait_s = s;
					i++;
				}
			}
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			fprintf(stderr, "twctl: publish: unknown option '%s'\n", argv[i]);
			return -1;
		} else {
			switch (pos++) {
			case 0: a->p.exchange = argv[i]; break;
			case 1: a->p.routing_key = argv[i]; break;
			case 2: a->p.task = argv[i]; break;
			case 3:
				a->p.args = argv[i];
				a->p.args_len = strlen(argv[i]);
				break;
			default:
				fprintf(stderr, "twctl: publish: unexpected '%s'\n", argv[i]);
				return -1;
			}
		}
	}
	if (pos < 3) {
		fprintf(stderr, "usage: twctl publish EXCHANGE ROUTING_KEY TASK [ARGS] [--priority N] "
				"[--header K=V ...] [--countdown S | --eta TIME] [--expires S] "
				"[--max-retries N ...] [--ignore-result] [--wait [S]]\n");
		return -1;
	}
	if (a->p.eta_ms != 0 && a->p.countdown_ms != 0) {
		fprintf(stderr, "twctl: --eta and --countdown: give one\n");
		return -1;
	}
	if (a->p.retry == NULL && (a->retry.countdown_ms || a->retry.backoff || a->retry.jitter ||
				   a->retry.autoretry)) {
		fprintf(stderr, "twctl: retry options need --max-retries N\n");
		return -1;
	}
	a->p.headers = a->headers;
	return 0;
}

/* The engine address from tw-control's status (ip:udp of the port). */
static int
engine_from_status(const struct twctl_opts *o, char *buf, size_t len)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__StatusRequest sr = TASKWIRE__CONTROL__STATUS_REQUEST__INIT;
	Taskwire__Control__Response *resp;
	int ret = -ENOENT;

	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_STATUS;
	req.status = &sr;
	if (twctl_roundtrip(o, &req, &resp) != TWCTL_OK)
		return -EIO;
	if (resp->status != NULL && resp->status->n_ports > 0) {
		snprintf(buf, len, "%s:%u", resp->status->ports[0]->ip, resp->status->ports[0]->udp_port);
		ret = 0;
	}
	taskwire__control__response__free_unpacked(resp, NULL);
	return ret;
}

void
twctl_client_opts(const struct twctl_opts *o, struct tw_client_opts *co)
{
	memset(co, 0, sizeof(*co));
	co->key_file = o->key_file;
	co->key_id = o->key_id;
}

int
twctl_engine_address(const struct twctl_opts *o, char *buf, size_t len)
{
	if (o->engine != NULL && o->engine[0] != '\0') {
		snprintf(buf, len, "%s", o->engine);
		return 0;
	}
	return engine_from_status(o, buf, len);
}

void
twctl_publish_report(const struct twctl_opts *o, uint64_t id, const struct tw_outcome *out,
		     bool waited)
{
	if (o->json) {
		json_t *j = json_pack("{s:s, s:b}", "task_id", "", "ack", out->confirmed && out->ack);
		char idbuf[32];

		snprintf(idbuf, sizeof(idbuf), "%016" PRIx64, id);
		json_object_set_new(j, "task_id", json_string(idbuf));
		if (out->confirmed && !out->ack) {
			json_object_set_new(j, "nack_reason",
					    json_string(tw_nack_reason_name(out->nack_reason)));
			json_object_set_new(j, "detail", json_string(out->detail ? out->detail : ""));
		}
		if (out->has_result) {
			json_object_set_new(j, "state", json_string(tw_state_name(out->state)));
			json_object_set_new(j, "result",
					    json_stringn((const char *)out->value, out->value_len));
			json_object_set_new(j, "error", json_string(out->error ? out->error : ""));
			json_object_set_new(j, "runtime_ns", json_integer((json_int_t)out->runtime_ns));
		}
		twctl_print_json(j);
		return;
	}
	if (out->confirmed && !out->ack) {
		printf("task %016" PRIx64 " NACK %s: %s\n", id, tw_nack_reason_name(out->nack_reason),
		       out->detail ? out->detail : "");
		return;
	}
	if (!waited || !out->has_result) {
		printf("task %016" PRIx64 " ACK\n", id);
		return;
	}
	if (out->state == TW_STATE_SUCCESS)
		printf("task %016" PRIx64 " SUCCESS %.*s\n", id, (int)out->value_len,
		       (const char *)out->value);
	else
		printf("task %016" PRIx64 " %s %s\n", id, tw_state_name(out->state),
		       out->error ? out->error : "");
}

struct confirm_wait {
	uint64_t id;
	struct tw_outcome *out;
};

/* Record the confirm of our task; other events are not ours. */
static void
on_event(const struct tw_event *ev, void *arg)
{
	struct confirm_wait *w = arg;

	if (ev->kind != TW_EV_CONFIRM || ev->task_id != w->id || w->out->confirmed)
		return;
	w->out->confirmed = true;
	w->out->ack = ev->ack;
	w->out->nack_reason = ev->nack_reason;
	w->out->detail = strdup(ev->detail != NULL ? ev->detail : "");
}

/* Flush and wait for the confirm only. @return 0, -ETIMEDOUT or -errno. */
int
twctl_wait_confirm(struct tw_client *c, uint64_t id, int timeout_ms, struct tw_outcome *out)
{
	struct confirm_wait w = { id, out };
	uint64_t deadline = tw_monotonic_ms() + (uint64_t)timeout_ms;
	int ret = tw_client_flush(c);

	while (ret >= 0 && !out->confirmed) {
		uint64_t now = tw_monotonic_ms();

		if (now >= deadline)
			return -ETIMEDOUT;
		ret = tw_client_poll(c, (int)(deadline - now), on_event, &w);
	}
	return ret < 0 ? ret : 0;
}

int
twctl_publish(const struct twctl_opts *o, int argc, char **argv)
{
	struct publish_args a;
	struct tw_outcome out;
	struct tw_client *c;
	char engine[64];
	uint64_t id;
	int ret, timeout_ms;

	struct tw_client_opts copts;

	if (argc >= 2 && strcmp(argv[1], "--workflow") == 0)
		return twctl_publish_workflow(o, argc, argv);
	twctl_client_opts(o, &copts);
	if (parse(argc, argv, &a) != 0)
		return TWCTL_USAGE;
	if (twctl_engine_address(o, engine, sizeof(engine)) != 0)
		return TWCTL_FAILED;
	c = tw_client_open(engine, &copts);
	if (c == NULL) {
		fprintf(stderr, "twctl: engine '%s'%s: %s\n", engine,
			o->key_file != NULL ? " with the key file" : "", strerror(errno));
		return TWCTL_FAILED;
	}
	ret = tw_client_publish(c, &a.p, &id);
	if (ret != 0) {
		fprintf(stderr, "twctl: cannot publish: %s\n", strerror(-ret));
		tw_client_close(c);
		return TWCTL_FAILED;
	}
	memset(&out, 0, sizeof(out));
	timeout_ms = a.wait ? (int)(a.wait_s * 1000) : CONFIRM_TIMEOUT_MS;
	/* Without --wait only the confirm matters: wait for it, not the result. */
	if (a.wait)
		ret = tw_client_wait(c, id, timeout_ms, &out, NULL, NULL);
	else
		ret = twctl_wait_confirm(c, id, timeout_ms, &out);
	tw_client_close(c);
	if (ret == -ETIMEDOUT && (!a.wait ? !out.confirmed : !out.has_result && !out.confirmed)) {
		fprintf(stderr, "twctl: no %s from %s within %d ms\n", a.wait ? "result" : "confirm",
			engine, timeout_ms);
		tw_outcome_clear(&out);
		return TWCTL_FAILED;
	}
	if (ret == -ETIMEDOUT && a.wait && !out.has_result) {
		twctl_publish_report(o, id, &out, false);
		fprintf(stderr, "twctl: task ACKed but no result within %d ms\n", timeout_ms);
		tw_outcome_clear(&out);
		return TWCTL_FAILED;
	}
	if (ret != 0 && ret != -ETIMEDOUT) {
		fprintf(stderr, "twctl: %s\n", strerror(-ret));
		tw_outcome_clear(&out);
		return TWCTL_FAILED;
	}
	twctl_publish_report(o, id, &out, a.wait);
	ret = out.confirmed && out.ack && (!a.wait || out.state == TW_STATE_SUCCESS) ? TWCTL_OK
											 : TWCTL_FAILED;
	tw_outcome_clear(&out);
	return ret;
}
