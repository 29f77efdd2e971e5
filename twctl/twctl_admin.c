/*
 * twctl's administrative verbs: queue, exchange, bind, unbind, list.
 * Each builds one control Request, makes one round trip and prints the
 * outcome as a table or, with --json, as one JSON document.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tw_cidr.h"
#include "tw_limits.h"
#include "twctl.h"
#include "twctl_table.h"

#define TW_BIND_MAX_ARGS 16 /* the engine's limit; x-match comes on top */

int
twctl_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(j);
	if (s == NULL)
		return TWCTL_FAILED;
	printf("%s\n", s);
	free(s);
	return TWCTL_OK;
}

int
twctl_roundtrip(const struct twctl_opts *o, const Taskwire__Control__Request *req,
		Taskwire__Control__Response **resp)
{
	if (twctl_call(o->socket, req, resp) != 0)
		return TWCTL_FAILED;
	if (!(*resp)->ok) {
		fprintf(stderr, "twctl: %s\n", (*resp)->error);
		if (o->json)
			twctl_print_json(json_pack("{s:b, s:s}", "ok", 0, "error", (*resp)->error));
		taskwire__control__response__free_unpacked(*resp, NULL);
		*resp = NULL;
		return TWCTL_FAILED;
	}
	return TWCTL_OK;
}

/* Report a successful change. */
static int
done(const struct twctl_opts *o, Taskwire__Control__Response *resp, const char *what)
{
	if (o->json)
		twctl_print_json(json_pack("{s:b, s:I}", "ok", 1, "affected", (json_int_t)resp->affected));
	else
		printf("%s\n", what);
	taskwire__control__response__free_unpacked(resp, NULL);
	return TWCTL_OK;
}

static int
usage_error(const char *msg)
{
	fprintf(stderr, "twctl: %s\n", msg);
	return TWCTL_USAGE;
}

static int
parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || s[0] == '\0' || s[0] == '-' || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int
twctl_queue(const struct twctl_opts *o, int argc, char **argv)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__QueueDeclare qd = TASKWIRE__CONTROL__QUEUE_DECLARE__INIT;
	Taskwire__Control__QueueDelete qx = TASKWIRE__CONTROL__QUEUE_DELETE__INIT;
	Taskwire__Control__QueuePurge qp = TASKWIRE__CONTROL__QUEUE_PURGE__INIT;
	Taskwire__Control__QueueRef qr = TASKWIRE__CONTROL__QUEUE_REF__INIT;
	Taskwire__Control__Response *resp;
	char msg[300];

	if (argc < 3)
		return usage_error("usage: queue declare NAME [--max-length N] [--overflow reject-publish|reject-publish-dlx|drop-head] [--message-ttl MS] [--dead-letter-exchange EX] [--dead-letter-routing-key K] [--max-priority N] [--max-length-bytes N] [--delivery-limit N] [--consumers auto|engine|remote|both] [--durable] | queue delete|purge|release NAME");
	if (strcmp(argv[1], "declare") == 0) {
		qd.name = argv[2];
		for (int i = 3; i < argc; i++) {
			if (strcmp(argv[i], "--max-length") == 0 && i + 1 < argc) {
				if (parse_u32(argv[++i], &qd.max_length) != 0 || qd.max_length == 0)
					return usage_error("--max-length: a positive integer");
			} else if (strcmp(argv[i], "--overflow") == 0 && i + 1 < argc) {
				qd.overflow = argv[++i];
			} else if (strcmp(argv[i], "--durable") == 0) {
				qd.durable = true;
			} else if (strcmp(argv[i], "--max-length-bytes") == 0 && i + 1 < argc) {
				char *end;

				errno = 0;
				qd.max_length_bytes = strtoull(argv[++i], &end, 10);
				if (errno != 0 || *end != '\0' || qd.max_length_bytes == 0 || argv[i][0] == '-')
					return usage_error("--max-length-bytes: a positive integer");
			} else if (strcmp(argv[i], "--max-priority") == 0 && i + 1 < argc) {
				if (parse_u32(argv[++i], &qd.max_priority) != 0 || qd.max_priority == 0)
					return usage_error("--max-priority: 1..10");
			} else if (strcmp(argv[i], "--delivery-limit") == 0 && i + 1 < argc) {
				if (parse_u32(argv[++i], &qd.delivery_limit) != 0 || qd.delivery_limit == 0)
					return usage_error("--delivery-limit: 1..254");
			} else if (strcmp(argv[i], "--consumers") == 0 && i + 1 < argc) {
				qd.consumers = argv[++i];
			} else if (strcmp(argv[i], "--dead-letter-exchange") == 0 && i + 1 < argc) {
				qd.dead_letter_exchange = argv[++i];
			} else if (strcmp(argv[i], "--dead-letter-routing-key") == 0 && i + 1 < argc) {
				qd.dead_letter_routing_key = argv[++i];
				qd.has_dead_letter_routing_key = true;
			} else if (strcmp(argv[i], "--message-ttl") == 0 && i + 1 < argc) {
				if (parse_u32(argv[++i], &qd.message_ttl) != 0 || qd.message_ttl == 0)
					return usage_error("--message-ttl: milliseconds, a positive integer");
			} else {
				snprintf(msg, sizeof(msg), "queue declare: unexpected '%s'", argv[i]);
				return usage_error(msg);
			}
		}
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DECLARE;
		req.queue_declare = &qd;
		snprintf(msg, sizeof(msg), "queue '%s' declared", argv[2]);
	} else if (strcmp(argv[1], "delete") == 0 && argc == 3) {
		qx.name = argv[2];
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DELETE;
		req.queue_delete = &qx;
	} else if (strcmp(argv[1], "purge") == 0 && argc == 3) {
		qp.name = argv[2];
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_PURGE;
		req.queue_purge = &qp;
	} else if (strcmp(argv[1], "release") == 0 && argc == 3) {
		qr.name = argv[2];
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_RELEASE;
		req.queue_release = &qr;
	} else {
		return usage_error("usage: queue declare NAME [--max-length N] [--overflow reject-publish|reject-publish-dlx|drop-head] [--message-ttl MS] [--dead-letter-exchange EX] [--dead-letter-routing-key K] [--max-priority N] [--max-length-bytes N] [--delivery-limit N] [--consumers auto|engine|remote|both] [--durable] | queue delete|purge|release NAME");
	}
	if (twctl_roundtrip(o, &req, &resp) != TWCTL_OK)
		return TWCTL_FAILED;
	if (req.body_case == TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_RELEASE)
		snprintf(msg, sizeof(msg), "queue '%s' %s", argv[2],
			 resp->affected != 0 ? "released: the engine's lcores serve it when no "
					       "remote consumer is subscribed"
					     : "was not held");
	else if (req.body_case != TASKWIRE__CONTROL__REQUEST__BODY_QUEUE_DECLARE)
		snprintf(msg, sizeof(msg), "queue '%s' %s, %" PRIu64 " tasks discarded", argv[2],
			 strcmp(argv[1], "delete") == 0 ? "deleted" : "purged", resp->affected);
	return done(o, resp, msg);
}

int
twctl_exchange(const struct twctl_opts *o, int argc, char **argv)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__ExchangeDeclare ed = TASKWIRE__CONTROL__EXCHANGE_DECLARE__INIT;
	Taskwire__Control__ExchangeDelete ex = TASKWIRE__CONTROL__EXCHANGE_DELETE__INIT;
	Taskwire__Control__Response *resp;
	char *allow[TW_MAX_ALLOW]; /* the request points here until it is sent */
	char msg[300];

	if (argc >= 4 && strcmp(argv[1], "declare") == 0) {
		ed.name = argv[2];
		ed.type = argv[3];
		ed.allow = allow;
		for (int i = 4; i < argc; i++) {
			if (strcmp(argv[i], "--alternate") == 0 && i + 1 < argc)
				ed.alternate = argv[++i];
			else if (strcmp(argv[i], "--internal") == 0)
				ed.internal = true;
			else if (strcmp(argv[i], "--allow") == 0 && i + 1 < argc &&
				 ed.n_allow < TW_MAX_ALLOW)
				allow[ed.n_allow++] = argv[++i];
			else
				return usage_error("usage: exchange declare NAME TYPE [--alternate EX] "
						   "[--internal] [--allow A.B.C.D/N ...(8 at most)]");
		}
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_EXCHANGE_DECLARE;
		req.exchange_declare = &ed;
		snprintf(msg, sizeof(msg), "exchange '%s' (%s) declared", argv[2], argv[3]);
	} else if (argc == 3 && strcmp(argv[1], "delete") == 0) {
		ex.name = argv[2];
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_EXCHANGE_DELETE;
		req.exchange_delete = &ex;
		snprintf(msg, sizeof(msg), "exchange '%s' deleted", argv[2]);
	} else {
		return usage_error("usage: exchange declare NAME TYPE [--alternate EX] [--internal] "
				   "[--allow A.B.C.D/N ...] | exchange delete NAME");
	}
	if (twctl_roundtrip(o, &req, &resp) != TWCTL_OK)
		return TWCTL_FAILED;
	return done(o, resp, msg);
}

static int
bind_or_unbind(const struct twctl_opts *o, int argc, char **argv, bool bind)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__Bind b = TASKWIRE__CONTROL__BIND__INIT;
	Taskwire__Control__Argument args[TW_BIND_MAX_ARGS + 1], *argp[TW_BIND_MAX_ARGS + 1];
	Taskwire__Control__Response *resp;
	const char *usage = bind ? "usage: bind SOURCE DEST [ROUTING_KEY] [--dest-type queue|exchange] "
				   "[--arg K=V ...] [--match all|any|all-with-x|any-with-x]"
				 : "usage: unbind SOURCE DEST [ROUTING_KEY] [--dest-type queue|exchange] "
				   "[--arg K=V ...] [--match MODE]";
	char msg[512];
	int pos = 0;

	b.routing_key = (char *)"";
	b.arguments = argp;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dest-type") == 0 && i + 1 < argc) {
			b.destination_type = argv[++i];
		} else if ((strcmp(argv[i], "--arg") == 0 || strcmp(argv[i], "--match") == 0) &&
			   i + 1 < argc) {
			bool match = argv[i][2] == 'm';
			char *kv = argv[++i], *eq = strchr(kv, '=');

			if (b.n_arguments == TW_BIND_MAX_ARGS + 1 || (!match && (eq == NULL || eq == kv)))
				return usage_error(usage);
			taskwire__control__argument__init(&args[b.n_arguments]);
			if (match) {
				args[b.n_arguments].key = (char *)"x-match";
				args[b.n_arguments].value = kv;
			} else {
				*eq = '\0';
				args[b.n_arguments].key = kv;
				args[b.n_arguments].value = eq + 1;
			}
			argp[b.n_arguments] = &args[b.n_arguments];
			b.n_arguments++;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			return usage_error(usage);
		} else if (pos == 0) {
			b.source = argv[i], pos++;
		} else if (pos == 1) {
			b.destination = argv[i], pos++;
		} else if (pos == 2) {
			b.routing_key = argv[i], pos++;
		} else {
			return usage_error(usage);
		}
	}
	if (pos < 2)
		return usage_error(usage);
	req.body_case = bind ? TASKWIRE__CONTROL__REQUEST__BODY_BIND
			     : TASKWIRE__CONTROL__REQUEST__BODY_UNBIND;
	if (bind)
		req.bind = &b;
	else
		req.unbind = &b;
	if (twctl_roundtrip(o, &req, &resp) != TWCTL_OK)
		return TWCTL_FAILED;
	snprintf(msg, sizeof(msg), "%s %s -> %s key '%s'", bind ? "bound" : "unbound", b.source,
		 b.destination, b.routing_key);
	return done(o, resp, msg);
}

int
twctl_bind(const struct twctl_opts *o, int argc, char **argv)
{
	return bind_or_unbind(o, argc, argv, true);
}

int
twctl_unbind(const struct twctl_opts *o, int argc, char **argv)
{
	return bind_or_unbind(o, argc, argv, false);
}

static void
print_queues(const struct twctl_opts *o, const Taskwire__Control__Response *r)
{
	struct twctl_table t;
	json_t *arr;

	if (o->json) {
		arr = json_array();
		for (size_t i = 0; i < r->n_queues; i++) {
			const Taskwire__Control__QueueInfo *q = r->queues[i];

			json_t *o = json_pack("{s:I, s:I, s:i, s:s, s:i, s:I, s:I, s:s}",
					      "max_length_bytes", (json_int_t)q->max_length_bytes,
					      "ready_bytes", (json_int_t)q->ready_bytes, "max_priority",
					      (int)q->max_priority, "overflow", q->overflow,
					      "message_ttl", (int)q->message_ttl, "dropped",
					      (json_int_t)q->dropped, "expired", (json_int_t)q->expired,
					      "dead_letter_exchange", q->dead_letter_exchange);

			json_object_set_new(o, "durable", json_boolean(q->durable));
			json_object_set_new(o, "delivery_limit", json_integer(q->delivery_limit));
			json_object_set_new(o, "consumers", json_string(q->consumers));
			json_object_set_new(o, "remote_consumers",
					    json_integer(q->remote_consumers));
			json_object_set_new(o, "redelivered", json_integer((json_int_t)q->redelivered));

			if (q->has_dead_letter_routing_key)
				json_object_set_new(o, "dead_letter_routing_key",
						    json_string(q->dead_letter_routing_key));
			json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:i, s:I, s:I, s:I, s:f, s:f}", "name",
					       q->name, "max_length", (json_int_t)q->max_length, "ready",
					       (json_int_t)q->ready, "in_flight", (json_int_t)q->in_flight,
					       "workers", (int)q->workers, "published",
					       (json_int_t)q->published, "delivered",
					       (json_int_t)q->delivered, "rejected", (json_int_t)q->rejected,
					       "publish_rate", q->publish_rate, "deliver_rate",
					       q->deliver_rate);

			json_object_update(j, o);
			json_decref(o);
			json_array_append_new(arr, j);
		}
		twctl_print_json(arr);
		return;
	}
	twctl_table_init(&t, 10);
	twctl_table_row(&t, "name\tmax_length\tready\tin_flight\tworkers\tpublished\tdelivered\t"
			    "rejected\tpublish/s\tdeliver/s");
	for (size_t i = 0; i < r->n_queues; i++) {
		const Taskwire__Control__QueueInfo *q = r->queues[i];

		twctl_table_row(&t, "%s\t%u\t%" PRIu64 "\t%" PRIu64 "\t%u\t%" PRIu64 "\t%" PRIu64
				    "\t%" PRIu64 "\t%.0f\t%.0f",
				q->name, q->max_length, q->ready, q->in_flight, q->workers, q->published,
				q->delivered, q->rejected, q->publish_rate, q->deliver_rate);
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);
	/* policies and what they removed, for queues that have any */
	twctl_table_init(&t, 11);
	twctl_table_row(&t, "name\toverflow\tmessage_ttl_ms\tdead_letter_exchange\tdead_letter_key\t"
			    "max_priority\tdropped\texpired\tdurable\tconsumers\tdelivery_limit");
	for (size_t i = 0; i < r->n_queues; i++) {
		const Taskwire__Control__QueueInfo *q = r->queues[i];

		if (strcmp(q->overflow, "reject-publish") == 0 && q->message_ttl == 0 &&
		    q->dead_letter_exchange[0] == '\0' && q->max_priority == 0 &&
		    q->max_length_bytes == 0 && !q->durable && strcmp(q->consumers, "auto") == 0 &&
		    q->delivery_limit == TW_QUEUE_DEFAULT_DELIVERY_LIMIT)
			continue;
		twctl_table_row(&t, "%s\t%s\t%u\t%s\t%s\t%u\t%" PRIu64 "\t%" PRIu64 "\t%s\t%s\t%u",
				q->name, q->overflow, q->message_ttl, q->dead_letter_exchange,
				q->has_dead_letter_routing_key ? q->dead_letter_routing_key : "(task's)",
				q->max_priority, q->dropped, q->expired, q->durable ? "yes" : "no",
				q->consumers, q->delivery_limit);
	}
	if (t.n_rows > 1) {
		printf("\n");
		twctl_table_print(&t, stdout);
	}
	twctl_table_free(&t);
	/* remote consumers and their redeliveries, for queues that have had any */
	twctl_table_init(&t, 3);
	twctl_table_row(&t, "name\tremote_consumers\tredelivered");
	for (size_t i = 0; i < r->n_queues; i++) {
		const Taskwire__Control__QueueInfo *q = r->queues[i];

		if (q->remote_consumers != 0 || q->redelivered != 0)
			twctl_table_row(&t, "%s\t%u\t%" PRIu64, q->name, q->remote_consumers,
					q->redelivered);
	}
	if (t.n_rows > 1) {
		printf("\n");
		twctl_table_print(&t, stdout);
	}
	twctl_table_free(&t);
}

static void
print_exchanges(const struct twctl_opts *o, const Taskwire__Control__Response *r)
{
	struct twctl_table t;
	json_t *arr;

	if (o->json) {
		arr = json_array();
		for (size_t i = 0; i < r->n_exchanges; i++)
			json_array_append_new(
				arr, json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I}", "name",
					       r->exchanges[i]->name, "type", r->exchanges[i]->type,
					       "alternate", r->exchanges[i]->alternate, "internal",
					       r->exchanges[i]->internal, "published",
					       (json_int_t)r->exchanges[i]->published, "routed",
					       (json_int_t)r->exchanges[i]->routed, "unroutable",
					       (json_int_t)r->exchanges[i]->unroutable));
		for (size_t i = 0; i < r->n_exchanges; i++) {
			json_t *allow = json_array();

			for (size_t k = 0; k < r->exchanges[i]->n_allow; k++)
				json_array_append_new(allow, json_string(r->exchanges[i]->allow[k]));
			json_object_set_new(json_array_get(arr, i), "allow", allow);
		}
		twctl_print_json(arr);
		return;
	}
	twctl_table_init(&t, 8);
	twctl_table_row(&t, "name\ttype\tinternal\talternate\tpublished\trouted\tunroutable\tsources");
	for (size_t i = 0; i < r->n_exchanges; i++) {
		char sources[TW_MAX_ALLOW * TW_CIDR_STRLEN + 4] = "any";
		size_t off = 0;

		for (size_t k = 0; k < r->exchanges[i]->n_allow && off < sizeof(sources); k++)
			off += (size_t)snprintf(sources + off, sizeof(sources) - off, "%s%s",
						k ? "," : "", r->exchanges[i]->allow[k]);
		twctl_table_row(&t, "%s\t%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%s",
				r->exchanges[i]->name[0] ? r->exchanges[i]->name : "(default)",
				r->exchanges[i]->type, r->exchanges[i]->internal ? "yes" : "no",
				r->exchanges[i]->alternate, r->exchanges[i]->published,
				r->exchanges[i]->routed, r->exchanges[i]->unroutable, sources);
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);
}

static void
print_bindings(const struct twctl_opts *o, const Taskwire__Control__Response *r)
{
	struct twctl_table t;
	json_t *arr;

	if (o->json) {
		arr = json_array();
		for (size_t i = 0; i < r->n_bindings; i++) {
			const Taskwire__Control__BindingInfo *b = r->bindings[i];
			json_t *args = json_object();

			for (size_t a = 0; a < b->n_arguments; a++)
				json_object_set_new(args, b->arguments[a]->key,
						    json_string(b->arguments[a]->value));
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:o}", "source",
							     b->source, "destination", b->destination,
							     "destination_type", b->destination_type,
							     "routing_key", b->routing_key, "arguments",
							     args));
		}
		twctl_print_json(arr);
		return;
	}
	twctl_table_init(&t, 5);
	twctl_table_row(&t, "source\tdestination\tdestination_type\trouting_key\targuments");
	for (size_t i = 0; i < r->n_bindings; i++) {
		const Taskwire__Control__BindingInfo *b = r->bindings[i];
		char args[1024] = "";
		size_t off = 0;

		for (size_t a = 0; a < b->n_arguments && off < sizeof(args); a++) {
			int w = snprintf(args + off, sizeof(args) - off, "%s%s=%s", a ? " " : "",
					 b->arguments[a]->key, b->arguments[a]->value);

			if (w < 0)
				break;
			off += (size_t)w;
		}
		twctl_table_row(&t, "%s\t%s\t%s\t%s\t%s", b->source, b->destination,
				b->destination_type, b->routing_key, args);
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);
}

/*
 * Queues per page: a QueueInfo with the longest names takes about 700
 * bytes, so a page stays well within the 4 MiB control message.
 */
#define LIST_PAGE 2048

/*
 * A list of queues or exchanges, page by page (ListRequest.start/limit),
 * printed as one: 65,536 of either do not fit one reply. @return TWCTL_*.
 */
static int
list_paged(const struct twctl_opts *o, Taskwire__Control__ListRequest__What what,
	   void (*print)(const struct twctl_opts *, const Taskwire__Control__Response *))
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__ListRequest l = TASKWIRE__CONTROL__LIST_REQUEST__INIT;
	Taskwire__Control__Response all = TASKWIRE__CONTROL__RESPONSE__INIT, **pages = NULL;
	size_t n_pages = 0, n = 0;
	int ret = TWCTL_OK;
	bool queues = what == TASKWIRE__CONTROL__LIST_REQUEST__WHAT__QUEUES;

	l.what = what;
	l.limit = LIST_PAGE;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_LIST;
	req.list = &l;
	/* bounded: each page moves start forward (a server that does not page says no more) */
	for (;;) {
		Taskwire__Control__Response *resp, **p = realloc(pages, sizeof(*pages) * (n_pages + 1));

		if (p == NULL) {
			ret = TWCTL_FAILED;
			break;
		}
		pages = p;
		if (twctl_roundtrip(o, &req, &resp) != TWCTL_OK) {
			ret = TWCTL_FAILED;
			break;
		}
		pages[n_pages++] = resp;
		n += queues ? resp->n_queues : resp->n_exchanges;
		if (!resp->list_more || resp->list_next <= l.start)
			break;
		l.start = resp->list_next;
	}
	if (ret == TWCTL_OK) {
		void **items = calloc(n ? n : 1, sizeof(void *));
		size_t k = 0;

		if (items == NULL) {
			ret = TWCTL_FAILED;
		} else {
			for (size_t i = 0; i < n_pages; i++) {
				size_t m = queues ? pages[i]->n_queues : pages[i]->n_exchanges;

				memcpy(items + k, queues ? (void **)pages[i]->queues : (void **)pages[i]->exchanges,
				       m * sizeof(void *));
				k += m;
			}
			all.ok = true;
			if (queues) {
				all.n_queues = n;
				all.queues = (Taskwire__Control__QueueInfo **)items;
			} else {
				all.n_exchanges = n;
				all.exchanges = (Taskwire__Control__ExchangeInfo **)items;
			}
			print(o, &all);
			free(items);
		}
	}
	for (size_t i = 0; i < n_pages; i++)
		taskwire__control__response__free_unpacked(pages[i], NULL);
	free(pages);
	return ret;
}

int
twctl_list(const struct twctl_opts *o, int argc, char **argv)
{
	static const struct {
		const char *name;
		Taskwire__Control__ListRequest__What what;
		void (*print)(const struct twctl_opts *, const Taskwire__Control__Response *);
	} kinds[] = {
		{ "queues", TASKWIRE__CONTROL__LIST_REQUEST__WHAT__QUEUES, print_queues },
		{ "exchanges", TASKWIRE__CONTROL__LIST_REQUEST__WHAT__EXCHANGES, print_exchanges },
		{ "bindings", TASKWIRE__CONTROL__LIST_REQUEST__WHAT__BINDINGS, print_bindings },
		{ "tasks", TASKWIRE__CONTROL__LIST_REQUEST__WHAT__TASKS, twctl_print_tasks },
		{ "schedules", TASKWIRE__CONTROL__LIST_REQUEST__WHAT__SCHEDULES, twctl_print_schedules },
		{ "workers", TASKWIRE__CONTROL__LIST_REQUEST__WHAT__WORKERS, twctl_print_workers },
		{ "consumers", TASKWIRE__CONTROL__LIST_REQUEST__WHAT__CONSUMERS, twctl_print_consumers },
	};
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__ListRequest l = TASKWIRE__CONTROL__LIST_REQUEST__INIT;
	Taskwire__Control__Response *resp;

	if (argc != 2)
		return usage_error("usage: list queues|exchanges|bindings|workers|consumers|tasks|schedules");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(argv[1], kinds[i].name) != 0)
			continue;
		if (kinds[i].what == TASKWIRE__CONTROL__LIST_REQUEST__WHAT__QUEUES ||
		    kinds[i].what == TASKWIRE__CONTROL__LIST_REQUEST__WHAT__EXCHANGES)
			return list_paged(o, kinds[i].what, kinds[i].print);
		l.what = kinds[i].what;
		req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_LIST;
		req.list = &l;
		if (twctl_roundtrip(o, &req, &resp) != TWCTL_OK)
			return TWCTL_FAILED;
		kinds[i].print(o, resp);
		taskwire__control__response__free_unpacked(resp, NULL);
		return TWCTL_OK;
	}
	return usage_error("usage: list queues|exchanges|bindings|workers|consumers|tasks|schedules");
}
