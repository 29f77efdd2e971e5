/*
 * `twctl definitions export FILE | import FILE` ("-" is stdout/stdin):
 * RabbitMQ-shaped definitions (common/tw_definitions.c). Import is all or
 * nothing: every field taskwire cannot honour is listed and nothing is
 * sent; a document that passes is applied by tw-control in one batch that
 * is rolled back if any item is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "tw_definitions.h"
#include "twctl.h"

#define IMPORT_WAIT_MS 300000

static int
list(const struct twctl_opts *o, Taskwire__Control__ListRequest__What what,
     Taskwire__Control__Response **resp)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__ListRequest l = TASKWIRE__CONTROL__LIST_REQUEST__INIT;

	l.what = what;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_LIST;
	req.list = &l;
	return twctl_roundtrip(o, &req, resp);
}

static int
export_defs(const struct twctl_opts *o, const char *file)
{
	Taskwire__Control__Response *x = NULL, *q = NULL, *b = NULL;
	int ret = TWCTL_FAILED;
	json_t *doc;

	if (list(o, TASKWIRE__CONTROL__LIST_REQUEST__WHAT__EXCHANGES, &x) != TWCTL_OK ||
	    list(o, TASKWIRE__CONTROL__LIST_REQUEST__WHAT__QUEUES, &q) != TWCTL_OK ||
	    list(o, TASKWIRE__CONTROL__LIST_REQUEST__WHAT__BINDINGS, &b) != TWCTL_OK)
		goto out;
	doc = tw_definitions_to_json(x, q, b);
	if (strcmp(file, "-") == 0) {
		ret = twctl_print_json(doc);
	} else {
		ret = json_dump_file(doc, file, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? TWCTL_OK
											   : TWCTL_FAILED;
		if (ret != TWCTL_OK)
			fprintf(stderr, "twctl: cannot write %s: %s\n", file, strerror(errno));
		else if (!o->json)
			printf("exported %zu exchanges, %zu queues, %zu bindings to %s\n",
			       json_array_size(json_object_get(doc, "exchanges")), q->n_queues,
			       b->n_bindings, file);
		json_decref(doc);
	}
out:
	if (x)
		taskwire__control__response__free_unpacked(x, NULL);
	if (q)
		taskwire__control__response__free_unpacked(q, NULL);
	if (b)
		taskwire__control__response__free_unpacked(b, NULL);
	return ret;
}

static int
import_defs(const struct twctl_opts *o, const char *file)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__Definitions *d;
	Taskwire__Control__Response *resp;
	struct tw_defs_errors errs;
	const char *stage;
	json_error_t je;
	json_t *doc;
	int ret;

	doc = strcmp(file, "-") == 0 ? json_loadf(stdin, 0, &je) : json_load_file(file, 0, &je);
	if (doc == NULL) {
		fprintf(stderr, "twctl: %s:%d:%d: %s\n", file, je.line, je.column, je.text);
		return TWCTL_FAILED;
	}
	ret = tw_definitions_from_json(doc, &d, &errs);
	json_decref(doc);
	if (ret != 0) {
		for (size_t i = 0; i < errs.n && i < TW_DEFS_MAX_ERRORS; i++)
			fprintf(stderr, "twctl: %s: %s\n", file, errs.msg[i]);
		if (errs.n > TW_DEFS_MAX_ERRORS)
			fprintf(stderr, "twctl: %s: ... %zu more\n", file, errs.n - TW_DEFS_MAX_ERRORS);
		fprintf(stderr, "twctl: %s: nothing imported (%zu problem%s)\n", file, errs.n,
			errs.n == 1 ? "" : "s");
		return TWCTL_FAILED;
	}
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_IMPORT_DEFINITIONS;
	req.import_definitions = d;
	/* An import is answered once its one routing table is published:
	 * seconds for the largest; the wait is long so an answer is seen. */
	if (twctl_call_ms(o->socket, &req, &resp, IMPORT_WAIT_MS, &stage) != 0) {
		if (strcmp(stage, "connect") == 0 || strcmp(stage, "exchange") == 0)
			fprintf(stderr, "twctl: %s: nothing imported\n", file);
		else /* sent whole: only tw-control knows whether it applied it */
			fprintf(stderr, "twctl: %s: no answer from tw-control; the import may have been "
				"applied or not (twctl definitions export shows what the engine has)\n",
				file);
		tw_definitions_free(d);
		return TWCTL_FAILED;
	}
	if (!resp->ok) {
		fprintf(stderr, "twctl: %s\n", resp->error);
		if (o->json)
			twctl_print_json(json_pack("{s:b, s:s}", "ok", 0, "error", resp->error));
		taskwire__control__response__free_unpacked(resp, NULL);
		resp = NULL;
		ret = TWCTL_FAILED;
	} else {
		ret = TWCTL_OK;
	}
	if (ret == TWCTL_OK) {
		if (o->json)
			twctl_print_json(json_pack("{s:b}", "ok", 1));
		else
			printf("imported %zu exchanges, %zu queues, %zu bindings from %s\n",
			       d->n_exchanges, d->n_queues, d->n_bindings, file);
		taskwire__control__response__free_unpacked(resp, NULL);
	} else {
		fprintf(stderr, "twctl: %s: nothing imported\n", file);
	}
	tw_definitions_free(d);
	return ret;
}

int
twctl_definitions(const struct twctl_opts *o, int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "export") == 0)
		return export_defs(o, argv[2]);
	if (argc == 3 && strcmp(argv[1], "import") == 0)
		return import_defs(o, argv[2]);
	fprintf(stderr, "twctl: usage: definitions export FILE | definitions import FILE\n");
	return TWCTL_USAGE;
}
