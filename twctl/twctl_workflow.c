/*
 * `twctl publish --workflow FILE [--wait [S]]`: publish a workflow described
 * in JSON through libtaskwire's builder (taskwire/workflow.h).
 *
 *   {"queue": "jobs",                         defaults for every task below
 *    "workflow": {"chain": [
 *        {"task": "add", "args": [1, 2]},
 *        {"chord": {"header": [{"task": "add", "args": [1, 1]},
 *                              {"task": "add", "args": [2, 2]}],
 *                   "body": {"task": "tsum"}}}]}}
 *
 * A node is one of {"task": NAME, ...}, {"chain": [nodes]}, {"group":
 * [nodes]}, {"chord": {"header": [nodes], "body": node}}. Task fields:
 * args (any JSON, sent compact), queue or exchange + routing_key,
 * priority, countdown and expires (seconds), max_retries, immutable,
 * headers {k: v}. Any node: link and link_error (a node or a list);
 * groups and chords: result_cell. Defaults at the top: queue, exchange,
 * routing_key. Unknown keys are errors naming the key.
 *
 * Exit codes: 0 published (and, with --wait, SUCCESS); 1 a bad file, a
 * NACK, a failure or no answer in time; 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "taskwire/workflow.h"
#include "twctl.h"

#define CONFIRM_TIMEOUT_MS 3000

struct wf_build {
	struct tw_wf *wf;
	const char *exchange;
	const char *routing_key;
	char err[256];
	uint32_t depth;
};

static struct tw_sig *node(struct wf_build *b, json_t *j);

static bool
fail(struct wf_build *b, const char *fmt, const char *what)
{
	if (b->err[0] == '\0')
		snprintf(b->err, sizeof(b->err), fmt, what);
	return false;
}

/* Keys allowed in an object, else an error naming the first other one. */
static bool
only_keys(struct wf_build *b, json_t *j, const char *const *allowed)
{
	const char *k;
	json_t *v;

	json_object_foreach(j, k, v) {
		bool ok = false;

		for (const char *const *a = allowed; *a != NULL; a++)
			ok |= strcmp(*a, k) == 0;
		if (!ok)
			return fail(b, "unknown key '%s' in a workflow node", k);
	}
	return true;
}

static bool
seconds(struct wf_build *b, json_t *j, const char *key, uint64_t *ms)
{
	json_t *v = json_object_get(j, key);

	if (v == NULL)
		return true;
	if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 86400 * 365)
		return fail(b, "'%s' must be a number of seconds >= 0", key);
	*ms = (uint64_t)(json_number_value(v) * 1000);
	return true;
}

static struct tw_sig *
task_node(struct wf_build *b, json_t *j)
{
	static const char *const keys[] = { "task", "args", "queue", "exchange", "routing_key",
					    "priority", "countdown", "expires", "max_retries",
					    "immutable", "headers", "link", "link_error", NULL };
	struct tw_header hdrs[16];
	struct tw_retry_policy retry = { 0 };
	struct tw_publish p = { .exchange = b->exchange, .routing_key = b->routing_key };
	json_t *v;
	char *args = NULL;
	struct tw_sig *s;
	size_t nh = 0;

	if (!only_keys(b, j, keys))
		return NULL;
	v = json_object_get(j, "task");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		fail(b, "%s", "'task' must be a non-empty string");
		return NULL;
	}
	p.task = json_string_value(v);
	if ((v = json_object_get(j, "queue")) != NULL) {
		if (!json_is_string(v)) {
			fail(b, "%s", "'queue' must be a string");
			return NULL;
		}
		p.exchange = "";
		p.routing_key = json_string_value(v);
	}
	if ((v = json_object_get(j, "exchange")) != NULL && json_is_string(v))
		p.exchange = json_string_value(v);
	if ((v = json_object_get(j, "routing_key")) != NULL && json_is_string(v))
		p.routing_key = json_string_value(v);
	if ((v = json_object_get(j, "priority")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255) {
			fail(b, "%s", "'priority' must be an integer 0..255");
			return NULL;
		}
		p.priority = (uint32_t)json_integer_value(v);
	}
	if (!seconds(b, j, "countdown", &p.countdown_ms) ||
	    !seconds(b, j, "expires", &p.expires_in_ms))
		return NULL;
	if ((v = json_object_get(j, "max_retries")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 1000) {
			fail(b, "%s", "'max_retries' must be an integer 0..1000");
			return NULL;
		}
		retry.max_retries = (uint32_t)json_integer_value(v);
		p.retry = &retry;
	}
	if ((v = json_object_get(j, "headers")) != NULL) {
		const char *k;
		json_t *hv;

		if (!json_is_object(v) || json_object_size(v) > 16) {
			fail(b, "%s", "'headers' must be an object of at most 16 strings");
			return NULL;
		}
		json_object_foreach(v, k, hv) {
			if (!json_is_string(hv)) {
				fail(b, "header '%s' must be a string", k);
				return NULL;
			}
			hdrs[nh].key = k;
			hdrs[nh++].value = json_string_value(hv);
		}
		p.headers = hdrs;
		p.n_headers = nh;
	}
	if ((v = json_object_get(j, "args")) != NULL) {
		args = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (args == NULL) {
			fail(b, "%s", "cannot encode 'args'");
			return NULL;
		}
		p.args = args;
		p.args_len = strlen(args);
	}
	s = tw_wf_task(b->wf, &p);
	free(args);
	if (s == NULL)
		fail(b, "task '%s': a name, queue or exchange too long (127 bytes at most)", p.task);
	else if (json_is_true(json_object_get(j, "immutable")))
		tw_sig_immutable(s);
	return s;
}

/* A JSON array of nodes into sigs (malloc'd). @return the count, or -1. */
static ssize_t
node_list(struct wf_build *b, json_t *arr, const char *what, struct tw_sig ***sigs)
{
	size_t n = json_array_size(arr);

	if (!json_is_array(arr) || n == 0) {
		fail(b, "'%s' must be a non-empty array of nodes", what);
		return -1;
	}
	*sigs = calloc(n, sizeof(**sigs));
	if (*sigs == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		(*sigs)[i] = node(b, json_array_get(arr, i));
		if ((*sigs)[i] == NULL) {
			free(*sigs);
			return -1;
		}
	}
	return (ssize_t)n;
}

static uint32_t
result_cell(struct wf_build *b, json_t *j, bool *ok)
{
	json_t *v = json_object_get(j, "result_cell");

	*ok = true;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 4096) {
		*ok = fail(b, "%s", "'result_cell' must be an integer 1..4096");
		return 0;
	}
	return (uint32_t)json_integer_value(v);
}

/* link / link_error of any node: one node or a list of them. */
static bool
callbacks(struct wf_build *b, json_t *j, struct tw_sig *s)
{
	static const char *const kinds[] = { "link", "link_error" };

	for (int k = 0; k < 2; k++) {
		json_t *v = json_object_get(j, kinds[k]);
		size_t n = json_is_array(v) ? json_array_size(v) : v != NULL;

		for (size_t i = 0; i < n; i++) {
			struct tw_sig *cb = node(b, json_is_array(v) ? json_array_get(v, i) : v);

			if (cb == NULL)
				return false;
			if ((k == 0 ? tw_sig_link(s, cb) : tw_sig_link_error(s, cb)) != 0)
				return fail(b, "cannot attach a %s callback", kinds[k]);
		}
	}
	return true;
}

static struct tw_sig *
node(struct wf_build *b, json_t *j)
{
	static const char *const chain_keys[] = { "chain", "link", "link_error", NULL };
	static const char *const group_keys[] = { "group", "result_cell", "link", "link_error", NULL };
	static const char *const chord_keys[] = { "chord", "link", "link_error", NULL };
	static const char *const chord_inner[] = { "header", "body", "result_cell", NULL };
	struct tw_sig **sigs = NULL, *s = NULL;
	ssize_t n;
	bool ok;

	if (!json_is_object(j)) {
		fail(b, "%s", "a workflow node must be an object");
		return NULL;
	}
	if (++b->depth > 32) {
		fail(b, "%s", "workflow nested more than 32 levels");
		return NULL;
	}
	if (json_object_get(j, "task") != NULL) {
		s = task_node(b, j);
	} else if (json_object_get(j, "chain") != NULL) {
		if (only_keys(b, j, chain_keys) &&
		    (n = node_list(b, json_object_get(j, "chain"), "chain", &sigs)) > 0) {
			s = tw_wf_chain(b->wf, sigs, (size_t)n);
			free(sigs);
		}
	} else if (json_object_get(j, "group") != NULL) {
		uint32_t cell = result_cell(b, j, &ok);

		if (ok && only_keys(b, j, group_keys) &&
		    (n = node_list(b, json_object_get(j, "group"), "group", &sigs)) > 0) {
			s = tw_wf_group(b->wf, sigs, (size_t)n, cell);
			free(sigs);
		}
	} else if (json_object_get(j, "chord") != NULL) {
		json_t *c = json_object_get(j, "chord");
		uint32_t cell;

		if (!json_is_object(c)) {
			fail(b, "%s", "'chord' must be an object with header and body");
		} else if (only_keys(b, j, chord_keys) && only_keys(b, c, chord_inner) &&
			   (cell = result_cell(b, c, &ok), ok) &&
			   (n = node_list(b, json_object_get(c, "header"), "header", &sigs)) > 0) {
			struct tw_sig *g = tw_wf_group(b->wf, sigs, (size_t)n, cell);
			struct tw_sig *body = json_object_get(c, "body") != NULL
						      ? node(b, json_object_get(c, "body")) : NULL;

			free(sigs);
			if (body == NULL)
				fail(b, "%s", "a chord needs a body");
			else if (g != NULL)
				s = tw_wf_chord(b->wf, g, body);
		}
	} else {
		fail(b, "%s", "a workflow node needs one of task, chain, group or chord");
	}
	if (s != NULL && !callbacks(b, j, s))
		s = NULL;
	if (s == NULL)
		fail(b, "%s", "invalid workflow node");
	b->depth--;
	return s;
}

static const char *
str_or(json_t *top, const char *key, const char *dflt)
{
	json_t *v = json_object_get(top, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

int
twctl_publish_workflow(const struct twctl_opts *o, int argc, char **argv)
{
	struct wf_build b = { 0 };
	json_error_t jerr;
	json_t *top, *root_json;
	struct tw_sig *root;
	struct tw_client *c;
	struct tw_outcome out;
	struct tw_client_opts copts;
	char engine[64];
	uint64_t result_id;
	double wait_s = 0;
	bool wait = false;
	int ret, timeout_ms;

	/* argv: publish --workflow FILE [--wait [S]] */
	if (argc < 3)
		return twctl_usage_error("usage: publish --workflow FILE [--wait [S]]");
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--wait") != 0)
			return twctl_usage_error("usage: publish --workflow FILE [--wait [S]]");
		wait = true;
		wait_s = 10;
		if (i + 1 < argc) {
			char *end;

			wait_s = strtod(argv[++i], &end);
			if (*end != '\0' || wait_s <= 0 || wait_s > 86400)
				return twctl_usage_error("twctl: --wait: 0 < S <= 86400");
		}
	}
	top = json_load_file(argv[2], 0, &jerr);
	if (top == NULL) {
		fprintf(stderr, "twctl: %s: line %d: %s\n", argv[2], jerr.line, jerr.text);
		return TWCTL_FAILED;
	}
	b.wf = tw_wf_new();
	root_json = json_object_get(top, "workflow");
	if (root_json != NULL) {
		static const char *const top_keys[] = { "workflow", "queue", "exchange",
							"routing_key", NULL };

		if (!only_keys(&b, top, top_keys))
			root_json = NULL;
		b.exchange = str_or(top, "exchange", "");
		b.routing_key = str_or(top, "routing_key", str_or(top, "queue", ""));
	} else {
		root_json = top;
		b.exchange = "";
		b.routing_key = "";
	}
	root = root_json != NULL && b.wf != NULL ? node(&b, root_json) : NULL;
	if (root == NULL) {
		fprintf(stderr, "twctl: %s: %s\n", argv[2], b.err[0] ? b.err : "out of memory");
		json_decref(top);
		tw_wf_free(b.wf);
		return TWCTL_FAILED;
	}
	twctl_client_opts(o, &copts);
	if (twctl_engine_address(o, engine, sizeof(engine)) != 0 ||
	    (c = tw_client_open(engine, &copts)) == NULL) {
		fprintf(stderr, "twctl: no engine address (--engine or TW_ENGINE), or the key file: %s\n",
			strerror(errno));
		json_decref(top);
		tw_wf_free(b.wf);
		return TWCTL_FAILED;
	}
	ret = tw_client_publish_workflow(c, b.wf, root, &result_id);
	if (ret != 0) {
		fprintf(stderr, "twctl: cannot publish the workflow: %s\n",
			ret == -EMSGSIZE ? "a part nested in it is too large for one datagram"
					 : strerror(-ret));
		tw_client_close(c);
		json_decref(top);
		tw_wf_free(b.wf);
		return TWCTL_FAILED;
	}
	timeout_ms = wait ? (int)(wait_s * 1000) : CONFIRM_TIMEOUT_MS;
	memset(&out, 0, sizeof(out));
	ret = wait ? tw_client_wait_workflow(c, root, result_id, timeout_ms, &out)
		   : twctl_wait_confirm(c, tw_sig_id(root), timeout_ms, &out);
	printf("workflow %016" PRIx64 " result %016" PRIx64 "\n", tw_sig_id(root), result_id);
	if (ret == 0 && out.confirmed && !out.ack)
		twctl_publish_report(o, tw_sig_id(root), &out, wait);
	else if (ret == 0)
		twctl_publish_report(o, wait ? result_id : tw_sig_id(root), &out, wait);
	else
		fprintf(stderr, "twctl: no %s within %d ms\n", wait ? "result" : "confirm",
			timeout_ms);
	tw_client_close(c);
	json_decref(top);
	tw_wf_free(b.wf);
	if (ret != 0 || (out.confirmed && !out.ack) || (wait && out.state != TW_STATE_SUCCESS)) {
		tw_outcome_clear(&out);
		return TWCTL_FAILED;
	}
	tw_outcome_clear(&out);
	return TWCTL_OK;
}
