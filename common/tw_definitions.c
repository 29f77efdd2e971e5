/*
 * Definitions files <-> control Definitions: see tw_definitions.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tw_cidr.h"
#include "tw_definitions.h"
#include "tw_limits.h"

#define DEFAULT_QUEUE_LEN TW_QUEUE_DEFAULT_LEN

static void __attribute__((format(printf, 2, 3)))
err(struct tw_defs_errors *e, const char *fmt, ...)
{
	va_list ap;

	if (e->n < TW_DEFS_MAX_ERRORS) {
		va_start(ap, fmt);
		vsnprintf(e->msg[e->n], TW_DEFS_ERR_LEN, fmt, ap);
		va_end(ap);
	}
	e->n++;
}

/* Keys of obj must be in allowed (NULL-terminated); report the others. */
static void
only_keys(json_t *obj, const char *path, const char *const *allowed, struct tw_defs_errors *e)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		bool ok = false;

		for (const char *const *a = allowed; *a != NULL; a++)
			ok |= strcmp(k, *a) == 0;
		if (!ok)
			err(e, "%s.%s: unknown field", path, k);
	}
}

/* A required or optional string field; NULL if absent or wrong (reported). */
static const char *
str_field(json_t *obj, const char *path, const char *key, bool required, struct tw_defs_errors *e)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL) {
		if (required)
			err(e, "%s.%s: missing", path, key);
		return NULL;
	}
	if (!json_is_string(v)) {
		err(e, "%s.%s: must be a string", path, key);
		return NULL;
	}
	if (strlen(json_string_value(v)) >= TW_NAME_MAX) {
		err(e, "%s.%s: longer than %d bytes", path, key, TW_NAME_MAX - 1);
		return NULL;
	}
	return json_string_value(v);
}

/* vhost "/" (or absent); durable any; auto_delete and exclusive false (or absent). */
static void
common_fields(json_t *obj, const char *path, struct tw_defs_errors *e)
{
	const char *vhost = str_field(obj, path, "vhost", false, e);
	json_t *v;

	if (vhost != NULL && strcmp(vhost, "/") != 0)
		err(e, "%s.vhost: only \"/\" is supported", path);
	if ((v = json_object_get(obj, "durable")) != NULL && !json_is_boolean(v))
		err(e, "%s.durable: must be true or false", path);
	if ((v = json_object_get(obj, "auto_delete")) != NULL && !json_is_false(v))
		err(e, "%s.auto_delete: only false is supported", path);
	if ((v = json_object_get(obj, "exclusive")) != NULL && !json_is_false(v))
		err(e, "%s.exclusive: only false is supported", path);
}

static char *
dup(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static void
parse_queue(json_t *q, const char *path, Taskwire__Control__QueueDeclare *out,
	    struct tw_defs_errors *e)
{
	static const char *const keys[] = { "name", "vhost", "durable", "auto_delete", "exclusive",
					    "type", "arguments", "held", NULL };
	json_t *args = json_object_get(q, "arguments"), *v, *held = json_object_get(q, "held");
	const char *type = str_field(q, path, "type", false, e), *k;

	only_keys(q, path, keys, e);
	common_fields(q, path, e);
	out->name = dup(str_field(q, path, "name", true, e));
	out->overflow = dup("");
	out->consumers = dup("");
	out->dead_letter_exchange = dup("");
	out->dead_letter_routing_key = dup("");
	if (out->name[0] == '\0' && json_object_get(q, "name") != NULL)
		err(e, "%s.name: empty", path);
	if (type != NULL && strcmp(type, "classic") != 0)
		err(e, "%s.type: only classic queues are supported", path);
	/* a queue's durable is taskwire's too: journaled on disk, recovered at start */
	out->durable = json_is_true(json_object_get(q, "durable"));
	/*
	 * taskwire's own: remote consumers held the queue (Subscribe.hold, or
	 * a declare with remote), so it stays theirs while none is subscribed;
	 * kept in the saved definitions so that an engine restarted after a
	 * crash does not hand its recovered tasks to lcores that do not know them
	 */
	if (held != NULL && !json_is_boolean(held))
		err(e, "%s.held: must be true or false", path);
	out->remote = json_is_true(held);
	if (args != NULL && !json_is_object(args)) {
		err(e, "%s.arguments: must be an object", path);
		return;
	}
	json_object_foreach(args, k, v) {
		if (strcmp(k, "x-max-length") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > TW_QUEUE_MAX_LEN)
				err(e, "%s.arguments.x-max-length: an integer 1..%u", path,
				    TW_QUEUE_MAX_LEN);
			else
				out->max_length = (uint32_t)json_integer_value(v);
		} else if (strcmp(k, "x-overflow") == 0) {
			if (!json_is_string(v) ||
			    (strcmp(json_string_value(v), "reject-publish") != 0 &&
			     strcmp(json_string_value(v), "reject-publish-dlx") != 0 &&
			     strcmp(json_string_value(v), "drop-head") != 0))
				err(e, "%s.arguments.x-overflow: reject-publish, reject-publish-dlx or "
				       "drop-head", path);
			else {
				free(out->overflow);
				out->overflow = dup(json_string_value(v));
			}
		} else if (strcmp(k, "x-message-ttl") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > TW_QUEUE_MAX_TTL_MS)
				err(e, "%s.arguments.x-message-ttl: milliseconds, 1..%u", path,
				    TW_QUEUE_MAX_TTL_MS);
			else
				out->message_ttl = (uint32_t)json_integer_value(v);
		} else if (strcmp(k, "x-dead-letter-exchange") == 0 ||
			   strcmp(k, "x-dead-letter-routing-key") == 0) {
			bool is_key = k[14] == 'r';

			if (!json_is_string(v) || strlen(json_string_value(v)) >= TW_NAME_MAX) {
				err(e, "%s.arguments.%s: a name under %d bytes", path, k, TW_NAME_MAX);
			} else if (is_key) {
				free(out->dead_letter_routing_key);
				out->dead_letter_routing_key = dup(json_string_value(v));
				out->has_dead_letter_routing_key = true;
			} else {
				free(out->dead_letter_exchange);
				out->dead_letter_exchange = dup(json_string_value(v));
			}
		} else if (strcmp(k, "x-max-length-bytes") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1)
				err(e, "%s.arguments.x-max-length-bytes: a positive integer", path);
			else
				out->max_length_bytes = (uint64_t)json_integer_value(v);
		} else if (strcmp(k, "x-max-priority") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > TW_MAX_PRIORITY)
				err(e, "%s.arguments.x-max-priority: an integer 1..%d", path,
				    TW_MAX_PRIORITY);
			else
				out->max_priority = (uint32_t)json_integer_value(v);
		} else if (strcmp(k, "x-delivery-limit") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > TW_QUEUE_MAX_DELIVERY_LIMIT)
				err(e, "%s.arguments.x-delivery-limit: an integer 1..%d", path,
				    TW_QUEUE_MAX_DELIVERY_LIMIT);
			else
				out->delivery_limit = (uint32_t)json_integer_value(v);
		} else if (strcmp(k, "x-consumers") == 0) {
			if (!json_is_string(v) ||
			    (strcmp(json_string_value(v), "auto") != 0 &&
			     strcmp(json_string_value(v), "engine") != 0 &&
			     strcmp(json_string_value(v), "remote") != 0 &&
			     strcmp(json_string_value(v), "both") != 0))
				err(e, "%s.arguments.x-consumers: auto, engine, remote or both", path);
			else {
				free(out->consumers);
				out->consumers = dup(json_string_value(v));
			}
		} else if (strcmp(k, "x-queue-type") == 0) {
			if (!json_is_string(v) || strcmp(json_string_value(v), "classic") != 0)
				err(e, "%s.arguments.x-queue-type: only classic is supported", path);
		} else {
			err(e, "%s.arguments.%s: not supported", path, k);
		}
	}
}

/* taskwire's own exchange argument: the publishers' source ranges. */
static void
allowed_sources(json_t *v, const char *path, Taskwire__Control__ExchangeDeclare *out,
		struct tw_defs_errors *e)
{
	size_t n = json_array_size(v);

	if (!json_is_array(v) || n > TW_MAX_ALLOW) {
		err(e, "%s.arguments.x-allowed-sources: must be a list of at most 8 A.B.C.D/N", path);
		return;
	}
	out->allow = calloc(n + 1, sizeof(char *));
	if (out->allow == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_array_get(v, i);
		struct tw_cidr cidr;

		if (!json_is_string(c) || tw_cidr_parse(json_string_value(c), &cidr) != 0) {
			err(e, "%s.arguments.x-allowed-sources[%zu]: not A.B.C.D/N (host bits zero)",
			    path, i);
			continue;
		}
		out->allow[out->n_allow++] = dup(json_string_value(c));
	}
}

static void
parse_exchange(json_t *x, const char *path, Taskwire__Control__ExchangeDeclare *out,
	       struct tw_defs_errors *e)
{
	static const char *const keys[] = { "name", "vhost", "type", "durable", "auto_delete",
					    "internal", "arguments", NULL };
	json_t *args = json_object_get(x, "arguments"), *v;
	const char *k;

	only_keys(x, path, keys, e);
	common_fields(x, path, e);
	out->name = dup(str_field(x, path, "name", true, e));
	out->type = dup(str_field(x, path, "type", true, e));
	out->alternate = dup("");
	if ((v = json_object_get(x, "internal")) != NULL) {
		if (!json_is_boolean(v))
			err(e, "%s.internal: must be true or false", path);
		out->internal = json_is_true(v);
	}
	if (args != NULL && !json_is_object(args)) {
		err(e, "%s.arguments: must be an object", path);
		return;
	}
	json_object_foreach(args, k, v) {
		if (strcmp(k, "alternate-exchange") == 0 && json_is_string(v) &&
		    strlen(json_string_value(v)) < TW_NAME_MAX) {
			free(out->alternate);
			out->alternate = dup(json_string_value(v));
		} else if (strcmp(k, "alternate-exchange") == 0) {
			err(e, "%s.arguments.alternate-exchange: must be an exchange name", path);
		} else if (strcmp(k, "x-allowed-sources") == 0) {
			allowed_sources(v, path, out, e);
		} else {
			err(e, "%s.arguments.%s: not supported", path, k);
		}
	}
}

static void
parse_binding(json_t *b, const char *path, Taskwire__Control__Bind *out, struct tw_defs_errors *e)
{
	static const char *const keys[] = { "source", "vhost", "destination", "destination_type",
					    "routing_key", "arguments", NULL };
	json_t *args = json_object_get(b, "arguments"), *v;
	const char *k, *dt = str_field(b, path, "destination_type", false, e);
	size_t n = 0;

	only_keys(b, path, keys, e);
	common_fields(b, path, e);
	out->source = dup(str_field(b, path, "source", true, e));
	out->destination = dup(str_field(b, path, "destination", true, e));
	out->routing_key = dup(str_field(b, path, "routing_key", false, e));
	/* "queue" is the default and goes as nothing: 7 bytes less per binding
	 * within the control socket's message limit */
	out->destination_type = dup(dt != NULL && strcmp(dt, "queue") != 0 ? dt : "");
	if (dt != NULL && strcmp(dt, "queue") != 0 && strcmp(dt, "exchange") != 0)
		err(e, "%s.destination_type: queue or exchange", path);
	if (args != NULL && !json_is_object(args)) {
		err(e, "%s.arguments: must be an object", path);
		return;
	}
	out->arguments = calloc(json_object_size(args) + 1, sizeof(*out->arguments));
	json_object_foreach(args, k, v) {
		Taskwire__Control__Argument *a;

		if (!json_is_string(v) || strlen(k) >= TW_NAME_MAX ||
		    strlen(json_string_value(v)) >= TW_NAME_MAX) {
			err(e, "%s.arguments.%s: only string values (under %d bytes) are supported",
			    path, k, TW_NAME_MAX);
			continue;
		}
		a = calloc(1, sizeof(*a));
		taskwire__control__argument__init(a);
		a->key = dup(k);
		a->value = dup(json_string_value(v));
		out->arguments[n++] = a;
	}
	out->n_arguments = n;
}

/* Top-level sections: the three we apply, and those that carry nothing for routing. */
static const char *const top_keys[] = {
	"exchanges", "queues", "bindings", "rabbit_version", "rabbitmq_version", "product_name",
	"product_version", "users", "vhosts", "permissions", "topic_permissions", "global_parameters",
	"parameters", "policies", NULL,
};

static json_t *
section(json_t *doc, const char *name, struct tw_defs_errors *e)
{
	json_t *s = json_object_get(doc, name);

	if (s != NULL && !json_is_array(s)) {
		err(e, "%s: must be an array", name);
		return NULL;
	}
	return s;
}

int
tw_definitions_from_json(json_t *doc, Taskwire__Control__Definitions **out,
			 struct tw_defs_errors *e)
{
	Taskwire__Control__Definitions *d;
	json_t *xs, *qs, *bs, *item;
	size_t i;
	char path[64];

	memset(e, 0, sizeof(*e));
	*out = NULL;
	if (!json_is_object(doc)) {
		err(e, "the document must be a JSON object");
		return -EINVAL;
	}
	only_keys(doc, "definitions", top_keys, e);
	for (const char *const *p = (const char *const[]){ "policies", "parameters", NULL }; *p; p++)
		if (json_array_size(json_object_get(doc, *p)) != 0)
			err(e, "%s: not supported (use queue arguments)", *p);
	xs = section(doc, "exchanges", e);
	qs = section(doc, "queues", e);
	bs = section(doc, "bindings", e);

	d = calloc(1, sizeof(*d));
	taskwire__control__definitions__init(d);
	d->exchanges = calloc(json_array_size(xs) + 1, sizeof(*d->exchanges));
	d->queues = calloc(json_array_size(qs) + 1, sizeof(*d->queues));
	d->bindings = calloc(json_array_size(bs) + 1, sizeof(*d->bindings));
	json_array_foreach(xs, i, item) {
		Taskwire__Control__ExchangeDeclare *x = calloc(1, sizeof(*x));

		taskwire__control__exchange_declare__init(x);
		d->exchanges[d->n_exchanges++] = x;
		snprintf(path, sizeof(path), "exchanges[%zu]", i);
		if (json_is_object(item))
			parse_exchange(item, path, x, e);
		else
			err(e, "%s: must be an object", path);
	}
	json_array_foreach(qs, i, item) {
		Taskwire__Control__QueueDeclare *q = calloc(1, sizeof(*q));

		taskwire__control__queue_declare__init(q);
		d->queues[d->n_queues++] = q;
		snprintf(path, sizeof(path), "queues[%zu]", i);
		if (json_is_object(item))
			parse_queue(item, path, q, e);
		else
			err(e, "%s: must be an object", path);
	}
	json_array_foreach(bs, i, item) {
		Taskwire__Control__Bind *b = calloc(1, sizeof(*b));

		taskwire__control__bind__init(b);
		d->bindings[d->n_bindings++] = b;
		snprintf(path, sizeof(path), "bindings[%zu]", i);
		if (json_is_object(item))
			parse_binding(item, path, b, e);
		else
			err(e, "%s: must be an object", path);
	}
	if (e->n != 0) {
		tw_definitions_free(d);
		return -EINVAL;
	}
	*out = d;
	return 0;
}

void
tw_definitions_free(Taskwire__Control__Definitions *d)
{
	if (d == NULL)
		return;
	/* every pointer below was allocated by tw_definitions_from_json with malloc */
	taskwire__control__definitions__free_unpacked(d, NULL);
}

json_t *
tw_definitions_to_json(const Taskwire__Control__Response *xr, const Taskwire__Control__Response *qr,
		       const Taskwire__Control__Response *br)
{
	json_t *doc = json_object(), *xs = json_array(), *qs = json_array(), *bs = json_array();

	json_object_set_new(doc, "rabbit_version", json_string("3.12.0"));
	json_object_set_new(doc, "product_name", json_string("taskwire"));
	for (size_t i = 0; i < xr->n_exchanges; i++) {
		const Taskwire__Control__ExchangeInfo *x = xr->exchanges[i];
		json_t *args;

		if (x->name[0] == '\0')
			continue; /* the default exchange is implicit */
		args = json_object(); /* (LeakSanitizer: it was made before the skip) */
		if (x->alternate != NULL && x->alternate[0] != '\0')
			json_object_set_new(args, "alternate-exchange", json_string(x->alternate));
		if (x->n_allow != 0) {
			json_t *allow = json_array();

			for (size_t k = 0; k < x->n_allow; k++)
				json_array_append_new(allow, json_string(x->allow[k]));
			json_object_set_new(args, "x-allowed-sources", allow);
		}
		json_array_append_new(xs, json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:o}", "name",
						    x->name, "vhost", "/", "type", x->type, "durable",
						    1, "auto_delete", 0, "internal", x->internal,
						    "arguments", args));
	}
	for (size_t i = 0; i < qr->n_queues; i++) {
		const Taskwire__Control__QueueInfo *q = qr->queues[i];
		json_t *args = json_object();

		if (q->max_length != DEFAULT_QUEUE_LEN)
			json_object_set_new(args, "x-max-length", json_integer(q->max_length));
		if (q->overflow != NULL && strcmp(q->overflow, "reject-publish") != 0)
			json_object_set_new(args, "x-overflow", json_string(q->overflow));
		if (q->message_ttl != 0)
			json_object_set_new(args, "x-message-ttl", json_integer(q->message_ttl));
		if (q->dead_letter_exchange != NULL && q->dead_letter_exchange[0] != '\0')
			json_object_set_new(args, "x-dead-letter-exchange",
					    json_string(q->dead_letter_exchange));
		if (q->max_length_bytes != 0)
			json_object_set_new(args, "x-max-length-bytes",
					    json_integer((json_int_t)q->max_length_bytes));
		if (q->max_priority != 0)
			json_object_set_new(args, "x-max-priority", json_integer(q->max_priority));
		if (q->delivery_limit != 0 && q->delivery_limit != TW_QUEUE_DEFAULT_DELIVERY_LIMIT)
			json_object_set_new(args, "x-delivery-limit", json_integer(q->delivery_limit));
		if (q->consumers != NULL && q->consumers[0] != '\0' && strcmp(q->consumers, "auto") != 0)
			json_object_set_new(args, "x-consumers", json_string(q->consumers));
		if (q->has_dead_letter_routing_key)
			json_object_set_new(args, "x-dead-letter-routing-key",
					    json_string(q->dead_letter_routing_key));
		json_array_append_new(qs, json_pack("{s:s, s:s, s:b, s:b, s:o}", "name", q->name,
						    "vhost", "/", "durable", (int)q->durable, "auto_delete", 0,
						    "arguments", args));
	}
	for (size_t i = 0; i < br->n_bindings; i++) {
		const Taskwire__Control__BindingInfo *b = br->bindings[i];
		json_t *args = json_object();

		for (size_t a = 0; a < b->n_arguments; a++)
			json_object_set_new(args, b->arguments[a]->key, json_string(b->arguments[a]->value));
		json_array_append_new(bs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "source",
						    b->source, "vhost", "/", "destination",
						    b->destination, "destination_type",
						    b->destination_type, "routing_key", b->routing_key,
						    "arguments", args));
	}
	json_object_set_new(doc, "exchanges", xs);
	json_object_set_new(doc, "queues", qs);
	json_object_set_new(doc, "bindings", bs);
	return doc;
}
