/*
 * twctl: the command-line interface to tw-control. The verbs' names are
 * a stable interface (scripts call them); options may grow. main() takes the global options (--socket, --engine, --json,
 * accepted anywhere before a "--"), then hands the rest to one verb.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tw_ctl_socket.h"
#include "twctl.h"

static const struct {
	const char *name;
	twctl_verb_fn fn;
	const char *usage;
} verbs[] = {
	{ "status", twctl_status, "status                      engine, port, lcore plan, counters, drops" },
	{ "queue", twctl_queue, "queue declare NAME [--max-length N] [--overflow reject-publish|reject-publish-dlx|drop-head] [--message-ttl MS] [--dead-letter-exchange EX] [--dead-letter-routing-key K] [--max-priority N] [--max-length-bytes N] [--delivery-limit N] [--consumers auto|engine|remote|both] | queue delete NAME | queue purge NAME | queue release NAME" },
	{ "exchange", twctl_exchange, "exchange declare NAME TYPE [--alternate EX] [--internal] | exchange delete NAME" },
	{ "bind", twctl_bind, "bind SOURCE DEST [ROUTING_KEY] [--dest-type queue|exchange] [--arg K=V ...] [--match all|any|all-with-x|any-with-x]" },
	{ "unbind", twctl_unbind, "unbind SOURCE DEST [ROUTING_KEY] [--dest-type queue|exchange] [--arg K=V ...] [--match MODE]" },
	{ "list", twctl_list, "list queues|exchanges|bindings|workers|consumers|tasks|schedules" },
	{ "events", twctl_events, "events [--task ID] [--queue NAME] [--count N] [--timeout S] [--all]   follow task events live (like celery events); ID may be a group or workflow" },
	{ "rate-limit", twctl_rate_limit, "rate-limit TASK RATE          change a task's rate limit live (100/s, 10/m, 1000/h; 0: none)" },
	{ "schedule", twctl_schedule, "schedule add NAME (--every DURATION | --cron \"m h dom mon dow\") EXCHANGE ROUTING_KEY TASK [ARGS] | schedule remove NAME" },
	{ "stats", twctl_stats, "stats [--watch [SECONDS]] [--count N]   rates, busy share, queues (like top)" },
	{ "definitions", twctl_definitions, "definitions export FILE | definitions import FILE   (RabbitMQ definitions.json shape)" },
	{ "publish", twctl_publish, "publish EXCHANGE ROUTING_KEY TASK [ARGS] [--priority N] [--header K=V ...] [--countdown S | --eta TIME] [--expires S] [--max-retries N [--retry-countdown S] [--retry-backoff] [--retry-jitter] [--autoretry]] [--ignore-result] [--result-expires S] [--wait [S]] | publish --workflow FILE [--wait [S]]" },
	{ "result", twctl_result, "result TASK_ID [--wait S]     state and result (from the result store)" },
	{ "revoke", twctl_revoke, "revoke TASK_ID                do not start it (scheduled, queued or retrying)" },
	{ "forget", twctl_forget, "forget TASK_ID                remove its result from the store" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: twctl [--socket PATH] [--engine IP:PORT] [--key-file F --key-id N] [--json] "
		   "VERB [ARGS]\n\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  twctl %s\n", verbs[i].usage);
	fprintf(f, "\nexit codes: 0 ok, 1 the request failed, 2 usage error\n"
		   "environment: TW_SOCKET (default %s), TW_ENGINE\n",
		TW_CTL_DEFAULT_SOCKET);
}

int
main(int argc, char **argv)
{
	struct twctl_opts o = { 0 };
	char **rest = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0, ret;

	if (rest == NULL)
		return TWCTL_FAILED;
	o.socket = getenv("TW_SOCKET");
	o.engine = getenv("TW_ENGINE");
	o.key_file = getenv("TW_KEY_FILE");
	if (getenv("TW_KEY_ID") != NULL)
		o.key_id = (uint32_t)strtoul(getenv("TW_KEY_ID"), NULL, 10);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				rest[n++] = argv[i];
			break;
		}
		if (strcmp(a, "--json") == 0) {
			o.json = true;
		} else if (strcmp(a, "--socket") == 0 || strcmp(a, "--engine") == 0) {
			if (i + 1 == argc) {
				fprintf(stderr, "twctl: %s needs a value\n", a);
				free(rest);
				return TWCTL_USAGE;
			}
			*(a[2] == 's' ? &o.socket : &o.engine) = argv[++i];
		} else if ((strcmp(a, "--key-file") == 0 || strcmp(a, "--key-id") == 0) &&
			   i + 1 < argc) {
			char *end;

			if (a[6] == 'f') {
				o.key_file = argv[++i];
			} else {
				o.key_id = (uint32_t)strtoul(argv[++i], &end, 10);
				if (*end != '\0' || o.key_id == 0) {
					fprintf(stderr, "twctl: --key-id: a number 1..4294967295\n");
					free(rest);
					return TWCTL_USAGE;
				}
			}
		} else if (strncmp(a, "--socket=", 9) == 0) {
			o.socket = a + 9;
		} else if (strncmp(a, "--engine=", 9) == 0) {
			o.engine = a + 9;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			free(rest);
			return TWCTL_OK;
		} else {
			rest[n++] = argv[i];
		}
	}
	if (o.socket == NULL || o.socket[0] == '\0')
		o.socket = TW_CTL_DEFAULT_SOCKET;
	if (n == 0) {
		usage(stderr);
		free(rest);
		return TWCTL_USAGE;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(rest[0], verbs[i].name) == 0) {
			ret = verbs[i].fn(&o, n, rest);
			free(rest);
			return ret;
		}
	fprintf(stderr, "twctl: unknown verb '%s' (twctl --help lists them)\n", rest[0]);
	free(rest);
	return TWCTL_USAGE;
}
