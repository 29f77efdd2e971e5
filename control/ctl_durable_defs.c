/*
 * Durable definitions written to the data directory: see ctl_durable_defs.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_durable_defs.h"
#include "ctl_handlers.h"
#include "ctl_reply.h"
#include "tw_definitions.h"

/* what was last written, and where: an unchanged model costs no sync */
static char *last_doc;
static char last_dir[TW_DATA_DIR_MAX];
/* the durable queues held in what was last written (by slot), and the
 * last failure to save a new hold (said once, not at every tick) */
static bool last_held[TW_MAX_QUEUES];
static int hold_save_failed;

static int
list(struct ctl_ctx *ctx, Taskwire__Control__ListRequest__What what, struct ctl_reply *r)
{
	ctl_handle_list(ctx, what, r);
	return r->resp.ok ? 0 : -ENOMEM;
}

static bool
queue_durable(const struct tw_broker *b, const char *name)
{
	int s = tw_broker_queue_find(b, name);

	return s >= 0 && b->sh->queues[s]->durable != 0;
}

/* Keep the durable queues and the bindings whose destination outlives a restart. */
static void
keep_durable(const struct tw_broker *b, Taskwire__Control__Response *q,
	     Taskwire__Control__Response *bi)
{
	size_t k = 0;

	for (size_t i = 0; i < q->n_queues; i++)
		if (q->queues[i]->durable)
			q->queues[k++] = q->queues[i];
	q->n_queues = k;
	k = 0;
	for (size_t i = 0; i < bi->n_bindings; i++) {
		const Taskwire__Control__BindingInfo *x = bi->bindings[i];

		if (strcmp(x->destination_type, "exchange") == 0 || queue_durable(b, x->destination))
			bi->bindings[k++] = bi->bindings[i];
	}
	bi->n_bindings = k;
}

/* The durable queues remote consumers hold now (Subscribe.hold), by slot. */
static void
held_now(const struct tw_broker *b, bool *held)
{
	for (int s = 0; s < TW_MAX_QUEUES; s++)
		held[s] = b->sh->queues[s] != NULL && b->sh->queues[s]->durable != 0 &&
			  tw_broker_queue_held(b, s);
}

/*
 * Mark the held queues of doc "held": true (tw_definitions.c takes it
 * back as a hold), so that the engine restarted on the file has them
 * remote consumers' before its journal puts their recovered tasks back.
 */
static void
mark_held(const struct tw_broker *b, json_t *doc, const bool *held)
{
	json_t *queues = json_object_get(doc, "queues"), *q;
	size_t i;

	json_array_foreach(queues, i, q) {
		const char *name = json_string_value(json_object_get(q, "name"));
		int s = name != NULL ? tw_broker_queue_find(b, name) : -1;

		if (s >= 0 && held[s])
			json_object_set_new(q, "held", json_true());
	}
}

/* text into dir/TW_DEFS_SAVED_FILE: beside it, synced, renamed over it, the folder synced */
static int
replace_file(const char *dir, const char *text, char *err, size_t err_len)
{
	char tmp[TW_DATA_DIR_MAX + 64], path[TW_DATA_DIR_MAX + 64];
	size_t len = strlen(text), off = 0;
	int fd, dfd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, TW_DEFS_SAVED_FILE);
	snprintf(tmp, sizeof(tmp), "%s/%s.new", dir, TW_DEFS_SAVED_FILE);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto fail;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			ret = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (ret == 0 && fdatasync(fd) != 0)
		ret = -errno;
	close(fd);
	if (ret == 0 && rename(tmp, path) != 0)
		ret = -errno;
	if (ret != 0) {
		unlink(tmp);
		goto fail;
	}
	/* the rename itself is durable only once the folder is synced */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		ret = -errno;
	if (dfd >= 0)
		close(dfd);
	if (ret == 0)
		return 0;
fail:
	snprintf(err, err_len, "cannot save the durable definitions to %s: %s", path,
		 strerror(-ret));
	return ret;
}

int
ctl_durable_defs_save(struct ctl_ctx *ctx, char *err, size_t err_len)
{
	const struct tw_journal_shm *js = &ctx->broker.sh->journal;
	struct ctl_reply x, q, b;
	bool held[TW_MAX_QUEUES];
	char *text = NULL;
	json_t *doc;
	int ret;

	if (!__atomic_load_n(&js->enabled, __ATOMIC_RELAXED) || js->data_dir[0] == '\0')
		return 0;
	ctl_reply_init(&x);
	ctl_reply_init(&q);
	ctl_reply_init(&b);
	ret = list(ctx, TASKWIRE__CONTROL__LIST_REQUEST__WHAT__EXCHANGES, &x);
	ret = ret != 0 ? ret : list(ctx, TASKWIRE__CONTROL__LIST_REQUEST__WHAT__QUEUES, &q);
	ret = ret != 0 ? ret : list(ctx, TASKWIRE__CONTROL__LIST_REQUEST__WHAT__BINDINGS, &b);
	if (ret == 0) {
		keep_durable(&ctx->broker, &q.resp, &b.resp);
		doc = tw_definitions_to_json(&x.resp, &q.resp, &b.resp);
		held_now(&ctx->broker, held);
		if (doc != NULL)
			mark_held(&ctx->broker, doc, held);
		text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		json_decref(doc);
		if (text == NULL)
			ret = -ENOMEM;
	}
	ctl_reply_free(&x);
	ctl_reply_free(&q);
	ctl_reply_free(&b);
	if (ret != 0) {
		snprintf(err, err_len, "cannot save the durable definitions: out of memory");
		return ret;
	}
	if (last_doc != NULL && strcmp(last_doc, text) == 0 &&
	    strcmp(last_dir, js->data_dir) == 0) {
		free(text);
		memcpy(last_held, held, sizeof(last_held));
		return 0;
	}
	ret = replace_file(js->data_dir, text, err, err_len);
	if (ret != 0) {
		free(text);
		return ret;
	}
	free(last_doc);
	last_doc = text;
	snprintf(last_dir, sizeof(last_dir), "%s", js->data_dir);
	memcpy(last_held, held, sizeof(last_held));
	return 0;
}

void
ctl_durable_defs_tick(struct ctl_ctx *ctx)
{
	const struct tw_journal_shm *js = &ctx->broker.sh->journal;
	bool held[TW_MAX_QUEUES];
	char err[CTL_DURABLE_DEFS_ERR];

	if (!__atomic_load_n(&js->enabled, __ATOMIC_RELAXED) || js->data_dir[0] == '\0')
		return;
	held_now(&ctx->broker, held);
	if (memcmp(held, last_held, sizeof(held)) == 0)
		return;
	if (ctl_durable_defs_save(ctx, err, sizeof(err)) == 0) {
		if (hold_save_failed)
			printf("tw-control: queues held by remote consumers saved with the durable "
			       "definitions again\n");
		hold_save_failed = 0;
	} else if (!hold_save_failed) {
		/* tried again at every tick; said once */
		fprintf(stderr, "tw-control: a queue held by remote consumers: %s\n", err);
		hold_save_failed = 1;
	}
}
