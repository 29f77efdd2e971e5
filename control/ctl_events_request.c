/*
 * `twctl events`: the event stream over the control socket, polled (one
 * request at a time is all the socket serves, so a request waits at most
 * 500 ms for new events and returns). Threads: main.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl_events.h"
#include "ctl_handlers.h"

#define MAX_WAIT_MS 500
#define DEFAULT_MAX 256

int
ctl_events_request(struct ctl_ctx *ctx, const Taskwire__Control__EventsRequest *m,
		   struct ctl_reply *r)
{
	static struct ctl_event ev[DEFAULT_MAX * 4]; /* main thread only */
	uint32_t max = m->max == 0 ? DEFAULT_MAX : m->max, n, kept = 0;
	uint64_t next;
	char **out;

	if (ctx->events == NULL) {
		snprintf(r->err, sizeof(r->err), "no event stream");
		return -ENOTSUP;
	}
	if (max > DEFAULT_MAX * 4)
		max = DEFAULT_MAX * 4;
	/* the control lock is held: waiting here delays other requests by at most this */
	n = ctl_events_read(ctx->events, m->after_seq, ev, max,
			    m->wait_ms > MAX_WAIT_MS ? MAX_WAIT_MS : (int)m->wait_ms, &next);
	out = ctl_reply_alloc(r, sizeof(*out) * (n ? n : 1));
	if (out == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		char buf[1024];

		if (!ctl_event_matches(&ev[i], m->task_id, m->queue))
			continue;
		ctl_event_json(&ev[i], buf, sizeof(buf));
		out[kept++] = ctl_reply_strdup(r, buf);
	}
	r->resp.events = out;
	r->resp.n_events = kept;
	r->resp.next_seq = next;
	return 0;
}
