/*
 * A definitions import that does not hold up the control socket: the
 * poll loop keeps answering other clients while it runs.
 *
 *  1. decode (if the request came as bytes) and check the names, on the
 *     import's thread: it touches nothing but the request;
 *  2. apply the items to the broker model on the poll loop's thread, a
 *     slice of about STEP_MS per pass (under ctx->lock, as every request);
 *  3. build the routing table on the import's thread from the model as it
 *     stands: one table for the whole import;
 *  4. publish it on the poll loop's thread (or undo the items if no table
 *     could be built).
 * From start to end nothing else may change the model: the caller holds
 * back every request that could (ctl_server.c) and lets read-only ones
 * through (status, listings, results, events); during step 3 those read
 * the model as the builder does.
 *
 * Threads: every call on the poll loop's thread; one import at a time.
 */
#ifndef CTL_IMPORT_H
#define CTL_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.pb-c.h"
#include "ctl_ctx.h"

#define CTL_IMPORT_ERR_MAX 256

/*
 * Decode a request within the server's budget (its thread-safe decoder).
 * @return the request, or NULL with why in err and *over_budget set if
 *   the budget was the reason.
 */
typedef Taskwire__Control__Request *(*ctl_import_decode_fn)(const uint8_t *in, size_t len,
							    char *err, size_t err_len,
							    bool *over_budget);

struct ctl_import;

/**
 * Start an import of raw (a packed Request holding import_definitions,
 * len bytes; ownership taken, freed by the import) or of the decoded req
 * (ownership taken; raw NULL then). @return the import, or NULL (out of
 * memory or no thread: err says so; raw and req are freed).
 */
struct ctl_import *ctl_import_start(struct ctl_ctx *ctx, uint8_t *raw, size_t len,
				    Taskwire__Control__Request *req, ctl_import_decode_fn decode,
				    char *err);
/**
 * Advance: called once per poll pass. @return 0 while running, 1 once
 * the import is live, -errno once it failed (nothing changed; err says
 * why): -E2BIG the decode budget, -EBADMSG undecodable, -EILSEQ a name
 * broke the rule, others from the broker. After a non-zero return,
 * ctl_import_free(im).
 */
int ctl_import_poll(struct ctl_import *im, char *err);
/** Run to the end (shutdown), then free. */
void ctl_import_finish(struct ctl_import *im);
void ctl_import_free(struct ctl_import *im);

#endif
