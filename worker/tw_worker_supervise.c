/*
 * tw-worker's supervisor for hard time limits (--time-limit; see
 * tw_worker_priv.h). The parent only watches: every WATCH_MS it reads
 * the child's running tasks from the shared page. A task past the limit
 * is first reported to the engine by the child itself (its watcher acks
 * it FAILURE from the consumer's own socket and cancels the consumer, so
 * the engine records the failure and no other tw-worker runs the task
 * again, and the consumer's other unacked deliveries go back at once);
 * then the whole child is killed (SIGKILL: a C task cannot be stopped
 * safely from outside, and a thread cannot be killed alone) and the id
 * remembered here too, for an engine that never answered; then a new
 * child subscribes. Unanswered, the killed child's deliveries come back
 * when the engine notices its heartbeats stopped, as after any lost
 * worker, and this process answers the task's redelivery FAILURE.
 *
 * Owns: the child process. Threads: the main thread of the parent only.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tw_worker_priv.h"

#define WATCH_MS 50
#define RESTART_PAUSE_MS 200          /* after a crash, before the next child */

static volatile sig_atomic_t stop_signal;

static void
on_stop(int sig)
{
	stop_signal = sig;
}

static void
nap_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

bool
tw_wk_timed_out(const struct tw_wk_limits *lim, uint64_t id)
{
	/* acquire: pairs with the release in remember() */
	uint32_t n = __atomic_load_n(&lim->n_timed_out, __ATOMIC_ACQUIRE);

	for (uint32_t i = 0; i < TW_WK_TIMED_OUT && i < n; i++)
		if (__atomic_load_n(&lim->timed_out[i], __ATOMIC_RELAXED) == id)
			return true;
	return false;
}

static void
remember(struct tw_wk_limits *lim, uint64_t id)
{
	uint32_t n = lim->n_timed_out;

	__atomic_store_n(&lim->timed_out[n % TW_WK_TIMED_OUT], id, __ATOMIC_RELAXED);
	__atomic_store_n(&lim->n_timed_out, n + 1, __ATOMIC_RELEASE);
}

static pid_t
start(struct tw_wk_limits *lim, int (*child_main)(void *), void *arg)
{
	pid_t pid;

	memset(lim->run, 0, sizeof(lim->run)); /* nothing runs in a new child yet */
	pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		/* dies with its supervisor: a kill -9 of the parent leaves no consumer behind */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(child_main(arg));
	}
	return pid;
}

/*
 * The slot whose task must end with the child now, if any, else -1: a
 * task whose FAILURE the engine took (settled: the child's consumer is
 * cancelled, so it goes whether or not the task has returned since), or
 * one still running TW_WK_SETTLE_GRACE_MS past the limit without that.
 */
static int
overdue(const struct tw_wk_limits *lim, uint64_t now)
{
	for (int i = 0; i < TW_WK_MAX_THREADS; i++) {
		/* acquire: pairs with the releases of the child's run_one() and watcher */
		uint64_t settled = __atomic_load_n(&lim->run[i].settled, __ATOMIC_ACQUIRE);
		uint64_t id = __atomic_load_n(&lim->run[i].task_id, __ATOMIC_ACQUIRE);
		uint64_t since = __atomic_load_n(&lim->run[i].since_ms, __ATOMIC_RELAXED);

		if (settled != 0 ||
		    (id != 0 && now > since && now - since > lim->limit_ms + TW_WK_SETTLE_GRACE_MS))
			return i;
	}
	return -1;
}

int
tw_wk_supervise(struct tw_wk_limits *lim, int (*child_main)(void *), void *arg)
{
	struct sigaction sa = { .sa_handler = on_stop };
	uint64_t killed = 0, crashed = 0, reported = 0;
	int status = 0, ret = 1;
	bool forwarded = false;
	pid_t child;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	child = start(lim, child_main, arg);
	if (child < 0) {
		fprintf(stderr, "tw-worker: fork: %s\n", strerror(errno));
		return 1;
	}
	/* bounded by the stop signal; each turn waits WATCH_MS */
	for (;;) {
		pid_t got = waitpid(child, &status, WNOHANG);
		int slot;

		if (got == child) {
			if (stop_signal != 0 || !WIFSIGNALED(status)) {
				/* stopped, or could not start (its message said why) */
				ret = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
				break;
			}
			crashed++;
			fprintf(stderr, "tw-worker: child %d died of signal %d (%" PRIu64 " so far); "
				"starting another\n", (int)child, WTERMSIG(status), crashed);
			nap_ms(RESTART_PAUSE_MS);
			child = start(lim, child_main, arg);
			if (child < 0)
				break;
			continue;
		}
		if (stop_signal != 0) {
			/* passed on once; the child stops within a poll and its acks */
			if (!forwarded)
				kill(child, SIGTERM);
			forwarded = true;
			nap_ms(WATCH_MS);
			continue;
		}
		slot = overdue(lim, tw_wk_now_ms());
		if (slot >= 0) {
			uint64_t id = lim->run[slot].task_id;
			bool settled = lim->run[slot].settled != 0;

			kill(child, SIGKILL);
			waitpid(child, &status, 0);
			/* id 0: the task returned after its FAILURE was taken; the
			 * engine answers a late ack of it as stale */
			if (id != 0)
				remember(lim, id);
			killed++;
			reported += settled;
			fprintf(stderr, "tw-worker: task %016" PRIx64 " ran past --time-limit (%u ms): "
				"%s; child %d killed (%" PRIu64 " so far); starting another\n", id,
				lim->limit_ms,
				settled ? "its FAILURE taken by the engine"
					: "no answer from the engine to its FAILURE, remembered here",
				(int)child, killed);
			child = start(lim, child_main, arg);
			if (child < 0)
				break;
			continue;
		}
		nap_ms(WATCH_MS);
	}
	if (child < 0)
		fprintf(stderr, "tw-worker: fork: %s\n", strerror(errno));
	fprintf(stderr, "tw-worker: supervisor stopped: %" PRIu64 " children killed past "
		"--time-limit (%" PRIu64 " of their tasks' FAILURE taken by the engine), %" PRIu64
		" crashed\n", killed, reported, crashed);
	return ret;
}
