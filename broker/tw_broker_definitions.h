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

struct tw_broker_definitions {
	uint32_t n_exchanges, n_queues, n_bindings;
	const struct tw_broker_exchange_spec *exchanges;
	const struct tw_broker_queue_spec *queues;
	const struct tw_def_binding *bindings;
};

/**
 * Apply exchanges, then queues, then bindings, all or nothing: on the
 * first refusal everything this call created is removed again and err
 * names the item ("bindings[3]: no queue 'x'"). Items that already exist
 * with the same properties are left as they are.
 */
int tw_broker_definitions_import(struct tw_broker *b, const struct tw_broker_definitions *d,
				 char *err);

/**
 * The same for a control.proto Definitions batch: each item is converted
 * (tw_broker_spec.h) before anything is applied, so a malformed item
 * changes nothing; err names it ("queues[2]: ...").
 */
int tw_broker_definitions_import_pb(struct tw_broker *b, const Taskwire__Control__Definitions *m,
				    char *err);

/**
 * Read a RabbitMQ-shaped definitions file and import it (all or nothing),
 * as `twctl definitions import` does; problems go to stderr prefixed with
 * who, success to stdout. Used by tw-control's and tw-dataplane's
 * --definitions.
 * @return 0 or -EINVAL.
 */
int tw_broker_definitions_load_file(struct tw_broker *b, const char *file, const char *who);

#endif
