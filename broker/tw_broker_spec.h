/*
 * control.proto's declare and bind messages as broker specs: the one
 * place a request's fields become a tw_broker_*_spec, for the control
 * socket's verbs and for a definitions batch alike. Everything is
 * length-checked here, so the broker only sees well-formed specs.
 *
 * The specs borrow the message's strings: keep the message alive while
 * the spec is used. Errors are -EINVAL with a message in err
 * (TW_BROKER_ERR_MAX bytes).
 *
 * Threads: any; no shared state.
 */
#ifndef TW_BROKER_SPEC_H
#define TW_BROKER_SPEC_H

#include "control.pb-c.h"
#include "tw_broker.h"

int tw_broker_queue_spec_from_pb(const Taskwire__Control__QueueDeclare *m,
				 struct tw_broker_queue_spec *q, char *err);

void tw_broker_exchange_spec_from_pb(const Taskwire__Control__ExchangeDeclare *m,
				     struct tw_broker_exchange_spec *x);

/**
 * "x-match" is taken out of the arguments into spec->x_match; the others
 * are copied into args (TW_MAX_BINDING_ARGS entries, owned by the caller),
 * which spec->args then points to.
 */
int tw_broker_binding_spec_from_pb(const Taskwire__Control__Bind *m, struct tw_def_binding *spec,
				   struct tw_def_arg *args, char *err);

#endif
