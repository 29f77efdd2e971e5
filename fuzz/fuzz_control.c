/*
 * libFuzzer harness for the control socket: what a client writes is read
 * as tw-control reads it (tw_ctl_recv framing: length prefix, the 4 MiB
 * limit, truncation), decoded as a control.proto Request and handled by
 * the real handlers (ctl_handle: declare, bind, import, list, result,
 * schedule, rate limit ...) against a broker attached to an in-memory
 * engine (EAL without hugepages or devices, an empty lcore plan, a result
 * store in a temporary folder). Every answer must encode. The broker's
 * state carries over from one input to the next, as it does for a
 * long-lived tw-control. Checks: memory safety (ASan/UBSan), no crash, no
 * hang (libFuzzer's timeout).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "control.pb-c.h"
#include "ctl_handlers.h"
#include "ctl_store.h"
#include "tw_ctl_socket.h"
#include "tw_shared.h"

static struct ctl_ctx ctx;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* its runtime folder (/var/run/dpdk/tw-fuzzctl) is removed by run-fuzz.sh */
	char *eal[] = { "fuzz_control", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
			"--file-prefix", "tw-fuzzctl", "--log-level", "*:error", "-l", "0" };
	char dir[] = "/tmp/tw-fuzzctl-XXXXXX", err[256];
	struct tw_shared *sh;
	size_t qsz = rte_rcu_qsbr_get_memsize(1);

	(void)argc;
	(void)argv;
	if (rte_eal_init(RTE_DIM(eal), eal) < 0 || mkdtemp(dir) == NULL)
		abort();
	sh = rte_zmalloc("fuzz_shared", sizeof(*sh), RTE_CACHE_LINE_SIZE);
	if (sh == NULL)
		abort();
	sh->magic = TW_SHARED_MAGIC;
	sh->layout_version = TW_SHARED_LAYOUT_VERSION;
	sh->primary_pid = getpid();
	sh->tsc_hz = rte_get_tsc_hz();
	/* no lcore reports to RCU: every grace period ends at once */
	sh->qsbr = rte_zmalloc("fuzz_qsbr", qsz, RTE_CACHE_LINE_SIZE);
	sh->pktmbuf_pool = rte_pktmbuf_pool_create("fuzz_mbufs", 255, 0, 0,
						   RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	sh->task_pool = rte_mempool_create("fuzz_tasks", 255, 256, 0, 0, NULL, NULL, NULL, NULL,
					   0, 0);
	if (sh->qsbr == NULL || rte_rcu_qsbr_init(sh->qsbr, 1) != 0 || sh->pktmbuf_pool == NULL ||
	    sh->task_pool == NULL || tw_broker_attach(&ctx.broker, sh, err) != 0)
		abort();
	pthread_mutex_init(&ctx.lock, NULL);
	ctx.broker.grace_timeout_ms = 10;
	ctx.store = tw_store_open(dir, 64ull << 20, 0, err, sizeof(err));
	if (ctx.store == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	uint8_t *in;
	size_t len;

	/* the input is one client's byte stream; it fits the socket buffer */
	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 0;
	if (size != 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	close(sv[1]);
	while (tw_ctl_recv(sv[0], &in, &len) == 0) {
		Taskwire__Control__Request *req = taskwire__control__request__unpack(NULL, len, in);
		struct ctl_reply r;

		free(in);
		if (req == NULL)
			continue; /* answered "does not decode" by the server */
		ctl_reply_init(&r);
		ctl_handle(&ctx, req, &r);
		{
			size_t n = taskwire__control__response__get_packed_size(&r.resp);
			uint8_t *out = malloc(n ? n : 1);

			if (out == NULL)
				abort();
			if (taskwire__control__response__pack(&r.resp, out) != n)
				abort();
			free(out);
		}
		ctl_reply_free(&r);
		taskwire__control__request__free_unpacked(req, NULL);
	}
	close(sv[0]);
	return 0;
}
