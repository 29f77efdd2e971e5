/*
 * `twctl status`: engine identity, port, lcore plan with per-lcore
 * activity, counters summed over lcores, drops by reason, pool use.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "twctl.h"
#include "twctl_table.h"

static json_t *
counters_json(Taskwire__Control__Counter **c, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, c[i]->name, json_integer((json_int_t)c[i]->value));
	return o;
}

uint64_t
twctl_counter(Taskwire__Control__Counter **c, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i]->name, name) == 0)
			return c[i]->value;
	return 0;
}

static int
print_json(const Taskwire__Control__Status *s)
{
	json_t *root = json_object(), *ports = json_array(), *lcores = json_array();

	json_object_set_new(root, "primary_pid", json_integer(s->primary_pid));
	json_object_set_new(root, "uptime_ms", json_integer((json_int_t)s->uptime_ms));
	json_object_set_new(root, "plan_mode", json_string(s->plan_mode));
	json_object_set_new(root, "routes_version", json_integer((json_int_t)s->routes_version));
	for (size_t i = 0; i < s->n_ports; i++) {
		const Taskwire__Control__PortInfo *p = s->ports[i];

		json_array_append_new(ports,
				      json_pack("{s:i, s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I}",
						"port_id", p->port_id, "name", p->name, "mac", p->mac,
						"ip", p->ip, "udp_port", p->udp_port, "numa_node",
						p->numa_node, "rx_packets", (json_int_t)p->rx_packets,
						"tx_packets", (json_int_t)p->tx_packets, "rx_missed",
						(json_int_t)p->rx_missed, "rx_nombuf",
						(json_int_t)p->rx_nombuf, "rx_errors",
						(json_int_t)p->rx_errors));
	}
	json_object_set_new(root, "ports", ports);
	for (size_t i = 0; i < s->n_lcores; i++) {
		const Taskwire__Control__LcoreInfo *l = s->lcores[i];
		json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:s}", "lcore_id", l->lcore_id, "cpu",
				      l->cpu, "core", l->core, "numa_node", l->numa_node, "role",
				      l->role);

		json_object_set_new(o, "counters", counters_json(l->counters, l->n_counters));
		if (l->running_task != 0) {
			char id[32];

			snprintf(id, sizeof(id), "%016" PRIx64, l->running_task);
			json_object_set_new(o, "running_task", json_string(id));
			json_object_set_new(o, "running_name", json_string(l->running_name));
			json_object_set_new(o, "running_ms", json_integer((json_int_t)l->running_ms));
		}
		json_object_set_new(o, "hung", json_boolean(l->hung));
		json_array_append_new(lcores, o);
	}
	json_object_set_new(root, "lcores", lcores);
	json_object_set_new(root, "counters", counters_json(s->counters, s->n_counters));
	json_object_set_new(root, "drops", counters_json(s->drops, s->n_drops));
	json_object_set_new(root, "control", counters_json(s->control, s->n_control));
	{
		json_t *rq = json_array();

		for (size_t i = 0; i < s->n_remote_queues; i++) {
			const Taskwire__Control__QueueInfo *q = s->remote_queues[i];

			json_array_append_new(rq, json_pack("{s:s, s:I, s:I, s:i, s:I, s:i, s:s}",
							    "name", q->name, "ready",
							    (json_int_t)q->ready, "in_flight",
							    (json_int_t)q->in_flight,
							    "remote_consumers",
							    (int)q->remote_consumers, "redelivered",
							    (json_int_t)q->redelivered,
							    "delivery_limit", (int)q->delivery_limit,
							    "consumers", q->consumers));
		}
		json_object_set_new(root, "remote",
				    json_pack("{s:i, s:I, s:o}", "consumers", (int)s->remote_consumers,
					      "unacked", (json_int_t)s->remote_unacked, "queues", rq));
	}
	json_object_set_new(root, "mbufs", json_pack("{s:i, s:i}", "free", s->mbufs_free, "total",
						     s->mbufs_total));
	json_object_set_new(root, "tasks", json_pack("{s:i, s:i}", "free", s->tasks_free, "total",
						     s->tasks_total));
	return twctl_print_json(root);
}

/* Name/value pairs in two aligned columns, under a title. */
static void
print_pairs(const char *title, Taskwire__Control__Counter **c, size_t n)
{
	struct twctl_table t;

	printf("\n%s\n", title);
	twctl_table_init(&t, 4);
	for (size_t i = 0; i < n; i += 2) {
		char v2[32] = "";

		if (i + 1 < n)
			snprintf(v2, sizeof(v2), "%" PRIu64, c[i + 1]->value);
		twctl_table_row(&t, "  %s\t%" PRIu64 "\t%s\t%s", c[i]->name, c[i]->value,
				i + 1 < n ? c[i + 1]->name : "", v2);
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);
}

static void
print_human(const Taskwire__Control__Status *s)
{
	struct twctl_table t;

	printf("engine   tw-dataplane pid %u, up %.1f s, plan %s, routes version %" PRIu64 "\n",
	       s->primary_pid, (double)s->uptime_ms / 1000.0, s->plan_mode, s->routes_version);
	for (size_t i = 0; i < s->n_ports; i++) {
		const Taskwire__Control__PortInfo *p = s->ports[i];

		printf("port %u   %s  mac %s  ip %s  udp %u  numa %d\n"
		       "         rx %" PRIu64 "  tx %" PRIu64 "  missed %" PRIu64 "  no-mbuf %" PRIu64
		       "  errors %" PRIu64 "\n",
		       p->port_id, p->name, p->mac, p->ip, p->udp_port, p->numa_node, p->rx_packets,
		       p->tx_packets, p->rx_missed, p->rx_nombuf, p->rx_errors);
	}
	printf("pools    mbufs %u/%u free, task descriptors %u/%u free\n\n", s->mbufs_free,
	       s->mbufs_total, s->tasks_free, s->tasks_total);

	twctl_table_init(&t, 9);
	twctl_table_row(&t, "lcore\tcpu\tcore\tnuma\trole\tbusy%%\trx_frames\ttasks_routed\ttasks_executed");
	for (size_t i = 0; i < s->n_lcores; i++) {
		const Taskwire__Control__LcoreInfo *l = s->lcores[i];
		uint64_t loop = twctl_counter(l->counters, l->n_counters, "loop_cycles");
		uint64_t busy = twctl_counter(l->counters, l->n_counters, "busy_cycles");

		if (l->n_counters == 0) {
			twctl_table_row(&t, "%u\t%u\t%u\t%d\t%s\t-\t-\t-\t-", l->lcore_id, l->cpu,
					l->core, l->numa_node, l->role);
			continue;
		}
		twctl_table_row(&t, "%u\t%u\t%u\t%d\t%s\t%.1f\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64,
				l->lcore_id, l->cpu, l->core, l->numa_node, l->role,
				loop ? 100.0 * (double)busy / (double)loop : 0.0,
				twctl_counter(l->counters, l->n_counters, "rx_frames"),
				twctl_counter(l->counters, l->n_counters, "tasks_routed"),
				twctl_counter(l->counters, l->n_counters, "tasks_executed"));
	}
	twctl_table_print(&t, stdout);
	twctl_table_free(&t);
	/* a solo task holding its lcore: that lcore polls nothing meanwhile */
	for (size_t i = 0; i < s->n_lcores; i++)
		if (s->lcores[i]->hung)
			printf("HUNG     lcore %u has run task %016" PRIx64 " (%s) for %" PRIu64
			       " ms; its queues and port wait, the other lcores go on\n",
			       s->lcores[i]->lcore_id, s->lcores[i]->running_task,
			       s->lcores[i]->running_name, s->lcores[i]->running_ms);

	/* remote consumers, and the queues they take or that had deliveries put back */
	if (s->remote_consumers != 0 || s->n_remote_queues != 0) {
		printf("\nremote   %u consumers subscribed, %" PRIu64 " deliveries unacked\n",
		       s->remote_consumers, s->remote_unacked);
		twctl_table_init(&t, 6);
		twctl_table_row(&t, "  queue\tremote_consumers\tready\tin_flight\tredelivered\t"
				    "delivery_limit");
		for (size_t i = 0; i < s->n_remote_queues; i++) {
			const Taskwire__Control__QueueInfo *q = s->remote_queues[i];

			twctl_table_row(&t, "  %s\t%u\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%u",
					q->name[0] != '\0' ? q->name : "(default)",
					q->remote_consumers, q->ready, q->in_flight, q->redelivered,
					q->delivery_limit);
		}
		if (t.n_rows > 1)
			twctl_table_print(&t, stdout);
		twctl_table_free(&t);
	}
	print_pairs("counters (all lcores)", s->counters, s->n_counters);
	print_pairs("drops by reason", s->drops, s->n_drops);
	print_pairs("tw-control (scheduler, result store, schedules)", s->control, s->n_control);
}

int
twctl_status(const struct twctl_opts *o, int argc, char **argv)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__StatusRequest sr = TASKWIRE__CONTROL__STATUS_REQUEST__INIT;
	Taskwire__Control__Response *resp;
	int ret;

	if (argc == 2 && strcmp(argv[1], "--reset-max-stall") == 0) {
		sr.reset_max_stall = true;
	} else if (argc != 1) {
		fprintf(stderr, "twctl: usage: status [--reset-max-stall]\n");
		return TWCTL_USAGE;
	}
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_STATUS;
	req.status = &sr;
	if (twctl_roundtrip(o, &req, &resp) != TWCTL_OK)
		return TWCTL_FAILED;
	if (resp->status == NULL) {
		fprintf(stderr, "twctl: tw-control sent no status\n");
		ret = TWCTL_FAILED;
	} else if (o->json) {
		ret = print_json(resp->status);
	} else {
		print_human(resp->status);
		ret = TWCTL_OK;
	}
	taskwire__control__response__free_unpacked(resp, NULL);
	return ret;
}
