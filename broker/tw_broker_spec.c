/*
 * control.proto messages as broker specs: see tw_broker_spec.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tw_broker_spec.h"

/* protobuf-c gives NULL-free strings, but a missing sub-message is NULL. */
#define STR(s) ((s) != NULL ? (s) : "")

int
tw_broker_queue_spec_from_pb(const Taskwire__Control__QueueDeclare *m, struct tw_broker_queue_spec *q,
			     char *err)
{
	int ov = tw_broker_overflow_parse(m->overflow != NULL ? m->overflow : "");

	if (ov < 0) {
		snprintf(err, TW_BROKER_ERR_MAX,
			 "overflow '%.64s' is not reject-publish, reject-publish-dlx or drop-head",
			 m->overflow);
		return -EINVAL;
	}
	q->name = m->name != NULL ? m->name : "";
	q->max_length = m->max_length;
	q->overflow = (uint8_t)ov;
	q->message_ttl_ms = m->message_ttl;
	if (m->max_priority > TW_MAX_PRIORITY) {
		snprintf(err, TW_BROKER_ERR_MAX, "max-priority %u above the limit %u", m->max_priority,
			 TW_MAX_PRIORITY);
		return -EINVAL;
	}
	q->max_priority = (uint8_t)m->max_priority;
	q->max_bytes = m->max_length_bytes;
	q->durable = m->durable;
	q->durable_if_journal = m->durable_if_journal;
	if (m->delivery_limit > TW_QUEUE_MAX_DELIVERY_LIMIT) {
		snprintf(err, TW_BROKER_ERR_MAX, "delivery-limit %u above the limit %u",
			 m->delivery_limit, TW_QUEUE_MAX_DELIVERY_LIMIT);
		return -EINVAL;
	}
	q->delivery_limit = m->delivery_limit;
	{
		int qc = tw_broker_consumers_parse(m->consumers != NULL ? m->consumers : "");

		if (qc < 0) {
			snprintf(err, TW_BROKER_ERR_MAX,
				 "consumers '%.64s' is not auto, engine, remote or both", m->consumers);
			return -EINVAL;
		}
		q->consumers = (uint8_t)qc;
	}
	q->dlx = m->dead_letter_exchange != NULL ? m->dead_letter_exchange : "";
	q->dl_key = m->has_dead_letter_routing_key
			    ? (m->dead_letter_routing_key != NULL ? m->dead_letter_routing_key : "")
			    : NULL;
	return 0;
}

void
tw_broker_exchange_spec_from_pb(const Taskwire__Control__ExchangeDeclare *m,
				struct tw_broker_exchange_spec *x)
{
	*x = (struct tw_broker_exchange_spec){ STR(m->name), STR(m->type), STR(m->alternate),
					       m->internal, m->n_allow, m->allow };
}

int
tw_broker_binding_spec_from_pb(const Taskwire__Control__Bind *m, struct tw_def_binding *spec,
			       struct tw_def_arg *args, char *err)
{
	const char *dt = STR(m->destination_type);

	memset(spec, 0, sizeof(*spec));
	if (strlen(STR(m->source)) >= TW_NAME_MAX || strlen(STR(m->destination)) >= TW_NAME_MAX ||
	    strlen(STR(m->routing_key)) >= TW_NAME_MAX) {
		snprintf(err, TW_BROKER_ERR_MAX, "a name or routing key is longer than %d bytes",
			 TW_NAME_MAX - 1);
		return -EINVAL;
	}
	snprintf(spec->source, TW_NAME_MAX, "%s", STR(m->source));
	snprintf(spec->destination, TW_NAME_MAX, "%s", STR(m->destination));
	snprintf(spec->key, TW_NAME_MAX, "%s", STR(m->routing_key));
	if (dt[0] == '\0' || strcmp(dt, "queue") == 0) {
		spec->dest_type = TW_DEST_QUEUE;
	} else if (strcmp(dt, "exchange") == 0) {
		spec->dest_type = TW_DEST_EXCHANGE;
	} else {
		snprintf(err, TW_BROKER_ERR_MAX, "destination type '%s' is not queue or exchange", dt);
		return -EINVAL;
	}
	for (size_t i = 0; i < m->n_arguments; i++) {
		const char *k = STR(m->arguments[i]->key), *v = STR(m->arguments[i]->value);

		if (strcmp(k, "x-match") == 0) {
			int xm = tw_x_match_parse(v);

			if (xm < 0) {
				snprintf(err, TW_BROKER_ERR_MAX,
					 "x-match '%.64s' is not all, any, all-with-x or any-with-x", v);
				return -EINVAL;
			}
			spec->x_match = (uint8_t)xm;
			continue;
		}
		if (spec->n_args == TW_MAX_BINDING_ARGS || k[0] == '\0' || strlen(k) >= TW_NAME_MAX ||
		    strlen(v) >= TW_NAME_MAX) {
			snprintf(err, TW_BROKER_ERR_MAX,
				 "binding arguments: at most %d, keys non-empty, keys and values under "
				 "%d bytes",
				 TW_MAX_BINDING_ARGS, TW_NAME_MAX);
			return -EINVAL;
		}
		snprintf(args[spec->n_args].key, TW_NAME_MAX, "%s", k);
		snprintf(args[spec->n_args].value, TW_NAME_MAX, "%s", v);
		spec->n_args++;
	}
	spec->args = args;
	return 0;
}
