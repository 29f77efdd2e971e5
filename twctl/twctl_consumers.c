/*
 * `twctl list consumers`: remote consumers subscribed to queues (tw-worker
 * processes, libtaskwire workers), like `rabbitmqctl list_consumers`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "twctl.h"
#include "twctl_table.h"

/* The queue names joined by commas into buf. */
static const char *
queue_list(const Taskwire__Control__ConsumerInfo *x, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t q = 0; q < x->n_queues && used < len; q++) {
		int n = snprintf(buf + used, len - used, "%s%s", q ? "," : "", x->queues[q]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	return buf;
}

void
twctl_print_consumers(const struct twctl_opts *o, const Taskwire__Control__Response *r)
{
	struct twctl_table t;

	if (o->json) {
		json_t *a = json_array();

		for (size_t i = 0; i < r->n_consumers; i++) {
			const Taskwire__Control__ConsumerInfo *x = r->consumers[i];
			json_t *qs = json_array();
			char id[32];

			for (size_t q = 0; q < x->n_queues; q++)
				json_array_append_new(qs, json_string(x->queues[q]));
			snprintf(id, sizeof(id), "%016" PRIx64, x->id);
			json_array_append_new(
				a, json_pack("{s:s, s:s, s:s, s:s, s:o, s:i, s:i, s:I, s:I, s:I, s:I, "
					     "s:I, s:I, s:i, s:i}",
					     "id", id, "name", x->name, "host", x->host, "address",
					     x->address, "queues", qs, "prefetch", (int)x->prefetch,
					     "unacked", (int)x->unacked, "delivered",
					     (json_int_t)x->delivered, "acked", (json_int_t)x->acked,
					     "nacked", (json_int_t)x->nacked,
					     "redelivered", (json_int_t)x->redelivered, "refused",
					     (json_int_t)x->refused, "last_seen_ms",
					     (json_int_t)x->last_seen_ms, "lease_ms", (int)x->lease_ms,
					     "heartbeat_ms", (int)x->heartbeat_ms));
			if (x->key_id != 0)
				json_object_set_new(json_array_get(a, json_array_size(a) - 1),
						    "key_id", json_integer(x->key_id));
		}
		twctl_print_json(a);
		return;
	}
	twctl_table_init(&t, 12);
	twctl_table_row(&t, "id\tname\taddress\tqueues\tcredit\tunacked\tdelivered\tacked\t"
			    "nacked\tredelivered\trefused\tlast_seen");
	for (size_t i = 0; i < r->n_consumers; i++) {
		const Taskwire__Control__ConsumerInfo *x = r->consumers[i];
		char qs[256];

		twctl_table_row(&t, "%016" PRIx64 "\t%s\t%s\t%s\t%u\t%u\t%" PRIu64 "\t%" PRIu64
				"\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 " ms",
				x->id, x->name, x->address, queue_list(x, qs, sizeof(qs)), x->prefetch,
				x->unacked, x->delivered, x->acked, x->nacked, x->redelivered,
				x->refused, x->last_seen_ms);
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);
}
