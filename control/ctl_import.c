/*
 * A definitions import that does not hold up the control socket: see
 * ctl_import.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_durable_defs.h"
#include "ctl_import.h"
#include "ctl_names.h"
#include "tw_broker_definitions.h"
#include "tw_clock.h"

#define STEP_MS 10          /* the model's share of one poll pass */
#define STEP_ITEMS 512      /* items between two looks at the clock */

enum stage { DECODING, APPLYING, BUILDING, DONE };

struct ctl_import {
	struct ctl_ctx *ctx;
	enum stage stage;
	uint8_t *raw;
	size_t len;
	ctl_import_decode_fn decode;
	Taskwire__Control__Request *req;
	char err[CTL_IMPORT_ERR_MAX];    /* a failed decode or name check */
	int err_code;                    /* its -errno (ctl_import_poll) */
	struct tw_broker_import staged;
	struct tw_broker_build build;
	pthread_t thread;
	bool running;                   /* a thread was started and not joined */
	bool thread_done;               /* set (release) by the thread */
};

static void *
decode_main(void *arg)
{
	struct ctl_import *im = arg;

	bool over = false;

	if (im->req == NULL) {
		im->req = im->decode(im->raw, im->len, im->err, sizeof(im->err), &over);
		im->err_code = over ? -E2BIG : -EBADMSG;
	}
	free(im->raw);
	im->raw = NULL;
	if (im->req != NULL && ctl_names_check(im->req, im->err, sizeof(im->err)) != 0) {
		taskwire__control__request__free_unpacked(im->req, NULL);
		im->req = NULL;
		im->err_code = -EILSEQ;
	}
	__atomic_store_n(&im->thread_done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void *
build_main(void *arg)
{
	struct ctl_import *im = arg;

	tw_broker_build_run(&im->build);
	__atomic_store_n(&im->thread_done, true, __ATOMIC_RELEASE);
	return NULL;
}

static int
spawn(struct ctl_import *im, void *(*fn)(void *))
{
	int ret;

	im->thread_done = false;
	ret = pthread_create(&im->thread, NULL, fn, im);
	im->running = ret == 0;
	return -ret;
}

/* The thread has finished (or none runs). */
static bool
joined(struct ctl_import *im)
{
	if (!im->running)
		return true;
	if (!__atomic_load_n(&im->thread_done, __ATOMIC_ACQUIRE))
		return false;
	pthread_join(im->thread, NULL);
	im->running = false;
	return true;
}

struct ctl_import *
ctl_import_start(struct ctl_ctx *ctx, uint8_t *raw, size_t len, Taskwire__Control__Request *req,
		 ctl_import_decode_fn decode, char *err)
{
	struct ctl_import *im = calloc(1, sizeof(*im));
	int ret;

	if (im == NULL) {
		snprintf(err, CTL_IMPORT_ERR_MAX, "out of memory");
		free(raw);
		if (req != NULL)
			taskwire__control__request__free_unpacked(req, NULL);
		return NULL;
	}
	im->ctx = ctx;
	im->raw = raw;
	im->len = len;
	im->req = req;
	im->decode = decode;
	im->stage = DECODING;
	ret = spawn(im, decode_main);
	if (ret != 0) {
		snprintf(err, CTL_IMPORT_ERR_MAX, "cannot start the import's thread: %s", strerror(-ret));
		ctl_import_free(im);
		return NULL;
	}
	return im;
}

/* Apply items for about STEP_MS. @return 0 more to do, 1 all applied, -errno refused. */
static int
apply_slice(struct ctl_import *im, char *err)
{
	struct tw_broker *b = &im->ctx->broker;
	uint64_t until = tw_monotonic_ms() + STEP_MS;
	int ret;

	pthread_mutex_lock(&im->ctx->lock);
	do
		ret = tw_broker_import_step(b, &im->staged, STEP_ITEMS, err);
	while (ret == 0 && tw_monotonic_ms() < until);
	pthread_mutex_unlock(&im->ctx->lock);
	return ret;
}

int
ctl_import_poll(struct ctl_import *im, char *err)
{
	struct tw_broker *b = &im->ctx->broker;
	int ret;

	switch (im->stage) {
	case DECODING:
		if (!joined(im))
			return 0;
		if (im->req != NULL &&
		    im->req->body_case != TASKWIRE__CONTROL__REQUEST__BODY_IMPORT_DEFINITIONS) {
			snprintf(im->err, sizeof(im->err), "a request with more than one body: refused");
			im->err_code = -EBADMSG;
		}
		if (im->req == NULL || im->err[0] != '\0') {
			snprintf(err, CTL_IMPORT_ERR_MAX, "%s", im->err);
			im->stage = DONE;
			return im->err_code;
		}
		pthread_mutex_lock(&im->ctx->lock);
		ret = tw_broker_import_begin(b, im->req->import_definitions, &im->staged, err);
		pthread_mutex_unlock(&im->ctx->lock);
		if (ret != 0) {
			im->stage = DONE;
			return ret;
		}
		im->stage = APPLYING;
		return 0;
	case APPLYING:
		ret = apply_slice(im, err);
		if (ret < 0) {
			im->stage = DONE; /* undone by the step */
			return ret;
		}
		if (ret == 0)
			return 0;
		pthread_mutex_lock(&im->ctx->lock);
		ret = tw_broker_build_prepare(b, &im->build, err);
		if (ret == 0 && (ret = spawn(im, build_main)) != 0) {
			snprintf(err, CTL_IMPORT_ERR_MAX, "cannot start the import's thread: %s",
				 strerror(-ret));
			free(im->build.queues);
		}
		if (ret != 0) {
			tw_broker_import_finish(b, &im->staged, ret);
			im->stage = DONE;
		}
		pthread_mutex_unlock(&im->ctx->lock);
		if (ret != 0)
			return ret;
		im->stage = BUILDING;
		return 0;
	case BUILDING:
		if (!joined(im))
			return 0;
		pthread_mutex_lock(&im->ctx->lock);
		ret = tw_broker_build_install(b, &im->build, NULL, err);
		ret = tw_broker_import_finish(b, &im->staged, ret);
		if (ret == 0)
			ret = ctl_durable_defs_save(im->ctx, err, CTL_IMPORT_ERR_MAX);
		pthread_mutex_unlock(&im->ctx->lock);
		im->stage = DONE;
		return ret != 0 ? ret : 1;
	case DONE:
	default:
		snprintf(err, CTL_IMPORT_ERR_MAX, "import already ended");
		return -EINVAL;
	}
}

void
ctl_import_finish(struct ctl_import *im)
{
	char err[CTL_IMPORT_ERR_MAX];

	/* bounded: each stage is (decode, the items, one build) */
	while (im->stage != DONE && ctl_import_poll(im, err) == 0)
		if (im->running)
			pthread_join(im->thread, NULL), im->running = false, im->thread_done = true;
	ctl_import_free(im);
}

void
ctl_import_free(struct ctl_import *im)
{
	if (im == NULL)
		return;
	if (im->running)
		pthread_join(im->thread, NULL);
	free(im->raw);
	if (im->req != NULL)
		taskwire__control__request__free_unpacked(im->req, NULL);
	free(im);
}
