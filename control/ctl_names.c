/*
 * Names in control requests: see ctl_names.h.
 */
#include <errno.h>
#include <stdio.h>

#include "ctl_names.h"
#include "tw_names.h"

/* item: "" for a lone request, else its place in a definitions import */
static int
queue_names(const Taskwire__Control__QueueDeclare *q, const char *item, char *err, size_t n)
{
	char what[96];
	int ret;

	snprintf(what, sizeof(what), "%squeue name", item);
	if ((ret = tw_name_check_str(what, q->name, false, err, n)) != 0)
		return ret;
	snprintf(what, sizeof(what), "%sdead-letter exchange", item);
	if ((ret = tw_name_check_str(what, q->dead_letter_exchange, true, err, n)) != 0)
		return ret;
	snprintf(what, sizeof(what), "%sdead-letter routing key", item);
	return tw_name_check_str(what, q->dead_letter_routing_key, true, err, n);
}

static int
exchange_names(const Taskwire__Control__ExchangeDeclare *x, const char *item, char *err, size_t n)
{
	char what[96];
	int ret;

	/* "" is the default exchange: the broker says why it cannot be declared */
	snprintf(what, sizeof(what), "%sexchange name", item);
	if ((ret = tw_name_check_str(what, x->name, true, err, n)) != 0)
		return ret;
	snprintf(what, sizeof(what), "%salternate exchange", item);
	return tw_name_check_str(what, x->alternate, true, err, n);
}

static int
bind_names(const Taskwire__Control__Bind *b, const char *item, char *err, size_t n)
{
	char what[96];
	int ret;

	snprintf(what, sizeof(what), "%sbinding source", item);
	if ((ret = tw_name_check_str(what, b->source, true, err, n)) != 0)
		return ret;
	snprintf(what, sizeof(what), "%sbinding destination", item);
	if ((ret = tw_name_check_str(what, b->destination, false, err, n)) != 0)
		return ret;
	snprintf(what, sizeof(what), "%srouting key", item);
	return tw_name_check_str(what, b->routing_key, true, err, n);
}

int
ctl_names_check(const Taskwire__Control__Request *req, char *err, size_t n)
{
	char item[48];
	int ret = 0;

	switch (req->body_case) {
	case TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DECLARE:
		return queue_names(req->queue_declare, "", err, n);
	case TASKWIRE__CONTROL__REQUEST__BODY_EXCHANGE_DECLARE:
		return exchange_names(req->exchange_declare, "", err, n);
	case TASKWIRE__CONTROL__REQUEST__BODY_BIND:
		return bind_names(req->bind, "", err, n);
	case TASKWIRE__CONTROL__REQUEST__BODY_IMPORT_DEFINITIONS: {
		const Taskwire__Control__Definitions *d = req->import_definitions;

		for (size_t i = 0; i < d->n_exchanges && ret == 0; i++) {
			snprintf(item, sizeof(item), "definitions: exchange %zu: ", i + 1);
			ret = exchange_names(d->exchanges[i], item, err, n);
		}
		for (size_t i = 0; i < d->n_queues && ret == 0; i++) {
			snprintf(item, sizeof(item), "definitions: queue %zu: ", i + 1);
			ret = queue_names(d->queues[i], item, err, n);
		}
		for (size_t i = 0; i < d->n_bindings && ret == 0; i++) {
			snprintf(item, sizeof(item), "definitions: binding %zu: ", i + 1);
			ret = bind_names(d->bindings[i], item, err, n);
		}
		return ret;
	}
	case TASKWIRE__CONTROL__REQUEST__BODY_SCHEDULE_ADD: {
		const Taskwire__Control__Schedule *s = req->schedule_add;

		if ((ret = tw_name_check_str("schedule name", s->name, false, err, n)) != 0 ||
		    (ret = tw_name_check_str("schedule exchange", s->exchange, true, err, n)) != 0 ||
		    (ret = tw_name_check_str("schedule routing key", s->routing_key, true, err, n)) != 0)
			return ret;
		return tw_name_check_str("schedule task name", s->task, false, err, n);
	}
	default:
		return 0;
	}
}
