/*
 * Definitions import: exchanges, queues and bindings applied as one
 * batch, all or nothing, from broker specs, from control.proto's
 * Definitions message (`twctl definitions import`, over the control
 * socket) or from a RabbitMQ-shaped definitions file (--definitions of
 * tw-control and tw-dataplane).
 *
 * Threads: the broker's one caller at a time (tw_broker.h).
 */
#ifndef TW_BROKER_DEFINITIONS_H
#define TW_BROKER_DEFINITIONS_H

#include <stdint.h>

#include "control.pb-c.h"
#include "tw_broker.h"


/**
 * Apply a control.proto Definitions batch: exchanges, then queues, then
 * bindings, all or nothing: on the first refusal (or malformed item)
 * everything this call created is removed again and err names the item
 * ("bindings[3]: no queue 'x'"). Items that already exist with the same
 * properties are left as they are. One routing table is built and
 * published for the whole batch.
 */
int tw_broker_definitions_import_pb(struct tw_broker *b, const Taskwire__Control__Definitions *m,
				    char *err);

/*
 * The same import in steps, for a caller that must keep answering others
 * meanwhile (tw-control's poll loop):
 *   begin   convert the exchanges and queues (a malformed one: nothing
 *           changed) and open a batch (tw_broker_batch_begin);
 *   step    apply at most `budget` more items to the model, publishing
 *           nothing; @return 1 when all are applied, 0 if more remain, or
 *           -errno with err naming the refused item (everything this
 *           import did is undone, the batch ended, imp released);
 *   then    tw_broker_build_prepare/run/install (tw_broker.h), the run
 *           part on any thread while nothing changes the model;
 *   finish  with the install's result: on failure undo the items and
 *           publish the model as it was; release imp.
 * Bindings are converted one at a time as they are applied (a whole
 * import's worth of specs would cost 400 bytes a binding more).
 * imp borrows m until finish (or a failed step).
 */
struct tw_broker_import {
	const Taskwire__Control__Definitions *m;
	struct tw_broker_exchange_spec *x;
	struct tw_broker_queue_spec *q;
	uint32_t next;          /* items applied: exchanges, then queues, then bindings */
	/* what this import created, for its undo: positions in m */
	uint32_t n_x, n_q, n_b;
	uint32_t *made_x, *made_q, *made_b;
	bool held;              /* the queues marked held are held (after every item) */
};

int tw_broker_import_begin(struct tw_broker *b, const Taskwire__Control__Definitions *m,
			   struct tw_broker_import *imp, char *err);
int tw_broker_import_step(struct tw_broker *b, struct tw_broker_import *imp, uint32_t budget,
			  char *err);
/** @param ret  the install's result. @return ret. */
int tw_broker_import_finish(struct tw_broker *b, struct tw_broker_import *imp, int ret);

/**
 * Read a RabbitMQ-shaped definitions file and import it (all or nothing),
 * as `twctl definitions import` does; problems go to stderr prefixed with
 * who, success to stdout. Used by tw-control's and tw-dataplane's
 * --definitions.
 * @return 0 or -EINVAL.
 */
int tw_broker_definitions_load_file(struct tw_broker *b, const char *file, const char *who);

#endif
