/*
 * Definitions files in the shape of RabbitMQ's definitions.json
 * (exchanges, queues, bindings with their arguments), converted to and
 * from control.proto's Definitions batch. Used by `twctl definitions
 * import|export` and by `tw-control --definitions FILE` at start.
 *
 * Import checks the whole document first and reports every field it
 * cannot honour (unknown, unsupported, or of the wrong type), each named
 * by its path, e.g. "queues[2].arguments.x-message-ttl: not supported";
 * a document with any such field is refused as a whole. Fields that
 * carry no routing meaning in taskwire (users, permissions, vhosts "/",
 * an exchange's durable) are accepted and ignored; a queue's durable
 * makes it a durable queue (journaled, recovered at start).
 *
 * Threads: any; no shared state.
 */
#ifndef TW_DEFINITIONS_H
#define TW_DEFINITIONS_H

#include <stddef.h>

#include <jansson.h>

#include "control.pb-c.h"

/* tw-control's copy of the durable definitions in the engine's data
 * directory, read by tw-dataplane at start (control/ctl_durable_defs.h) */
#define TW_DEFS_SAVED_FILE "definitions.json"

#define TW_DEFS_MAX_ERRORS 64
#define TW_DEFS_ERR_LEN 256

struct tw_defs_errors {
	size_t n;                 /* errors found (may exceed the stored ones) */
	char msg[TW_DEFS_MAX_ERRORS][TW_DEFS_ERR_LEN];
};

/**
 * Convert a parsed document into *out (heap memory; release it with
 * tw_definitions_free()).
 * @return 0, or -EINVAL with errs filled (nothing in *out to free).
 */
int tw_definitions_from_json(json_t *doc, Taskwire__Control__Definitions **out,
			     struct tw_defs_errors *errs);
void tw_definitions_free(Taskwire__Control__Definitions *d);

/** Build the document from list responses (the default exchange is left out). */
json_t *tw_definitions_to_json(const Taskwire__Control__Response *exchanges,
			       const Taskwire__Control__Response *queues,
			       const Taskwire__Control__Response *bindings);

#endif
