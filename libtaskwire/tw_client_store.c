/*
 * libtaskwire: a task's result from tw-control's result store, for a
 * publisher whose reply never came or that did not wait (another process,
 * a restart). It speaks the control protocol over tw-control's Unix
 * socket, so it works on the engine's machine (or wherever the socket is
 * reachable) and polls every 50 ms until the state is final or time is up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.pb-c.h"
#include "taskwire/client.h"
#include "tw_client_priv.h"
#include "tw_ctl_socket.h"

#define POLL_MS 50

int
tw_result_fetch(const char *control_socket, uint64_t task_id, int timeout_ms,
		struct tw_outcome *out)
{
	Taskwire__Control__Request req = TASKWIRE__CONTROL__REQUEST__INIT;
	Taskwire__Control__TaskRef ref = TASKWIRE__CONTROL__TASK_REF__INIT;
	uint64_t deadline = tw_client_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	memset(out, 0, sizeof(*out));
	if (control_socket == NULL || task_id == 0)
		return -EINVAL;
	ref.task_id = task_id;
	req.body_case = TASKWIRE__CONTROL__REQUEST__BODY_RESULT;
	req.result = &ref;
	for (;;) {
		Taskwire__Control__Response *resp;
		const Taskwire__Control__TaskResult *r;
		const char *stage;
		int ret = tw_ctl_call(control_socket, &req, &resp, 5000, &stage);

		if (ret != 0)
			return ret;
		r = resp->result;
		if (!resp->ok || r == NULL) {
			taskwire__control__response__free_unpacked(resp, NULL);
			return -EPROTO;
		}
		if (r->state >= TW_STATE_SUCCESS) {
			out->confirmed = true;
			out->ack = true;
			out->has_result = true;
			out->state = (enum tw_state)r->state;
			out->value = (uint8_t *)tw_client_dup_bytes(r->value.data, r->value.len);
			out->value_len = r->value.len;
			out->error = tw_client_dup_bytes(r->error, strlen(r->error));
			out->runtime_ns = r->runtime_ns;
			taskwire__control__response__free_unpacked(resp, NULL);
			return 0;
		}
		taskwire__control__response__free_unpacked(resp, NULL);
		if (tw_client_now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(POLL_MS * 1000);
	}
}
