/*
 * tw-amqp: the AMQP 0-9-1 front door of a taskwire engine, so that
 * unchanged Celery, kombu and pika applications use the engine as their
 * broker (amqp_server.h says how AMQP maps onto it).
 *
 *   tw-amqp --engine IP:PORT [--socket PATH] [--listen ADDR:PORT]
 *           [--users FILE] [--heartbeat S] [--max-connections N]
 *           [--confirm-timeout-ms MS] [--pending-high N] [--netns NAME]
 *           [--control-timeout-ms MS]
 *
 * --pending-high: unconfirmed publishes tw-amqp holds before it tells
 * publishers connection.blocked (the engine's own shortage blocks too).
 *
 * --control-timeout-ms: how long a request to tw-control may go unanswered
 * (tw-control slow, stopped or restarting) before the AMQP method waiting
 * for it fails with 541 INTERNAL_ERROR (default 5000). Requests never
 * block the loop: other channels and connections go on meanwhile.
 *
 * --netns: listen where tw-amqp was started (e.g. the host, for AMQP
 * clients there) and reach the engine inside network namespace NAME (the
 * engine's TAP lives there): the listening socket is made first, then the
 * process enters NAME, where every UDP socket to the engine is made.
 *
 * Users: a file of "name:password" lines ('#' comments); without one, the
 * only user is guest/guest. guest logs in from loopback addresses only,
 * as RabbitMQ's default loopback_users.
 *
 * main() reads as: options, users, engine (publisher, standard
 * exchanges), listen, loop until SIGINT/SIGTERM, close every connection
 * (the engine takes back what they had unacked), print the counters.
 * Exit: 0 after a signal, 1 when it could not start, 2 usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "amqp_server.h"
#include "tw_ctl_socket.h"

#define MAX_EVENTS 256
#define MAX_USERS 1024
#define TIMER_MS 1000u        /* heartbeats, handshake and confirm timeouts */
#define RETRANSMIT_CHECK_MS 50u /* a pass while publishes wait for confirms */

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: tw-amqp --engine IP:PORT [--socket PATH] [--listen ADDR:PORT]\n"
		   "               [--users FILE] [--heartbeat S] [--max-connections N]\n"
		   "               [--confirm-timeout-ms MS] [--pending-high N] [--netns NAME]\n"
		   "               [--control-timeout-ms MS]\n");
}

static int
parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

void
amqp_bury(struct amqp_server *s, void *p)
{
	if (s->n_grave == s->cap_grave) {
		size_t cap = s->cap_grave != 0 ? s->cap_grave * 2 : 64;
		void **g = realloc(s->grave, cap * sizeof(*g));

		if (g == NULL) {
			/* leaking is better than freeing what epoll may still name */
			return;
		}
		s->grave = g;
		s->cap_grave = cap;
	}
	s->grave[s->n_grave++] = p;
}

static void
empty_grave(struct amqp_server *s)
{
	for (size_t i = 0; i < s->n_grave; i++)
		free(s->grave[i]);
	s->n_grave = 0;
}

static int
load_users(struct amqp_server *s, const char *path)
{
	char line[512];
	FILE *f;

	s->users = calloc(MAX_USERS, sizeof(*s->users));
	if (s->users == NULL)
		return -1;
	if (path == NULL) {
		snprintf(s->users[0].name, sizeof(s->users[0].name), "guest");
		snprintf(s->users[0].password, sizeof(s->users[0].password), "guest");
		s->n_users = 1;
		return 0;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "tw-amqp: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (unsigned ln = 1; fgets(line, sizeof(line), f) != NULL; ln++) {
		char *colon, *nl = strchr(line, '\n');

		if (nl != NULL)
			*nl = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		colon = strchr(line, ':');
		if (colon == NULL || colon == line || strlen(line) >= 127 ||
		    strlen(colon + 1) >= 127 || s->n_users == MAX_USERS) {
			fprintf(stderr, "tw-amqp: %s:%u: expected name:password\n", path, ln);
			fclose(f);
			return -1;
		}
		*colon = '\0';
		snprintf(s->users[s->n_users].name, sizeof(s->users[0].name), "%s", line);
		snprintf(s->users[s->n_users].password, sizeof(s->users[0].password), "%s",
			 colon + 1);
		s->n_users++;
	}
	fclose(f);
	return 0;
}

static int
listen_on(const char *addr)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	unsigned long port;
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd, one = 1;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host) ||
	    parse_uint(colon + 1, 0, 65535, &port) != 0)
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (inet_pton(AF_INET, host[0] != '\0' ? host : "0.0.0.0", &a.sin_addr) != 1)
		return -EINVAL;
	a.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4096) != 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* Enter network namespace name (ip netns): sockets made from now on live there. */
static int
enter_netns(const char *name)
{
	char path[256];
	int fd;

	if (strchr(name, '/') != NULL || snprintf(path, sizeof(path), "/run/netns/%s", name) >=
						 (int)sizeof(path)) {
		fprintf(stderr, "tw-amqp: bad namespace name %s\n", name);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
		fprintf(stderr, "tw-amqp: network namespace %s: %s\n", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void
print_counters(const struct amqp_server *s)
{
#define X(n, d) fprintf(stderr, "  %-22s %12" PRIu64 "  %s\n", #n, s->cnt.n, d);
	AMQP_COUNTERS(X)
#undef X
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "engine", required_argument, NULL, 'e' },
		{ "socket", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "users", required_argument, NULL, 'u' },
		{ "heartbeat", required_argument, NULL, 'H' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "confirm-timeout-ms", required_argument, NULL, 'c' },
		{ "netns", required_argument, NULL, 'n' },
		{ "pending-high", required_argument, NULL, 'P' },
		{ "control-timeout-ms", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct amqp_server s = { .listen_kind = EV_LISTEN, .pub_kind = EV_PUBLISHER,
				 .consumers_kind = EV_CONSUMERS };
	char err[256];
	const char *listen_addr = "127.0.0.1:5672", *users = NULL, *netns = NULL;
	/* libtaskwire resends a publish whose confirm has not come (the engine
	 * takes a copy only once): a datagram lost on the way to the engine
	 * would otherwise lose the message of a channel without confirms */
	struct tw_client_opts co = { .retransmit_ms = 0 };
	struct epoll_event evs[MAX_EVENTS], e;
	unsigned long v;
	struct rlimit rl;
	int opt;

	s.engine = getenv("TW_ENGINE");
	s.control_socket = getenv("TW_SOCKET") != NULL ? getenv("TW_SOCKET") : TW_CTL_DEFAULT_SOCKET;
	s.heartbeat_s = 60;
	s.max_connections = 65536;
	s.confirm_timeout_ms = 10000;
	s.pending_high = 65536;
	s.ctl_timeout_ms = 5000;
	s.next_expiry_ms = UINT64_MAX;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'e': s.engine = optarg; break;
		case 's': s.control_socket = optarg; break;
		case 'l': listen_addr = optarg; break;
		case 'u': users = optarg; break;
		case 'n': netns = optarg; break;
		case 'H':
			if (parse_uint(optarg, 0, 65535, &v) != 0)
				goto bad;
			s.heartbeat_s = (uint16_t)v;
			break;
		case 'm':
			if (parse_uint(optarg, 1, 1000000, &v) != 0)
				goto bad;
			s.max_connections = (uint32_t)v;
			break;
		case 'c':
			if (parse_uint(optarg, 100, 3600000, &v) != 0)
				goto bad;
			s.confirm_timeout_ms = (uint32_t)v;
			break;
		case 'C':
			if (parse_uint(optarg, 100, 600000, &v) != 0)
				goto bad;
			s.ctl_timeout_ms = (uint32_t)v;
			break;
		case 'P':
			if (parse_uint(optarg, 2, 16777216, &v) != 0)
				goto bad;
			s.pending_high = (uint32_t)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (s.engine == NULL || optind != argc)
		goto bad;
	if (load_users(&s, users) != 0)
		return 1;
	/* every connection and consumer is a descriptor: take what the system allows */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (tw_idmap_init(&s.conn_by_id, 1024) != 0 || tw_idmap_init(&s.pending, 4096) != 0)
		return 1;
	/* first: the listener belongs to the namespace tw-amqp started in */
	s.lfd = listen_on(listen_addr);
	if (s.lfd < 0) {
		fprintf(stderr, "tw-amqp: listen on %s: %s\n", listen_addr, strerror(-s.lfd));
		return 1;
	}
	if (netns != NULL && enter_netns(netns) != 0)
		return 1;
	s.pub = tw_client_open(s.engine, &co);
	if (s.pub == NULL) {
		fprintf(stderr, "tw-amqp: engine %s: %s\n", s.engine, strerror(errno));
		return 1;
	}
	/* every consumer's subscription, on one socket (in the engine's namespace) */
	s.consumers = tw_worker_set_new(s.engine, err, sizeof(err));
	if (s.consumers == NULL) {
		fprintf(stderr, "tw-amqp: engine %s: %s\n", s.engine, err);
		return 1;
	}
	amqp_model_setup(&s);
	s.epfd = epoll_create1(EPOLL_CLOEXEC);
	amqp_ctl_init(&s);
	e.events = EPOLLIN;
	e.data.ptr = &s.listen_kind;
	if (s.epfd < 0 || epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.lfd, &e) != 0)
		return 1;
	e.data.ptr = &s.pub_kind;
	if (epoll_ctl(s.epfd, EPOLL_CTL_ADD, tw_client_fd(s.pub), &e) != 0)
		return 1;
	e.data.ptr = &s.consumers_kind;
	if (epoll_ctl(s.epfd, EPOLL_CTL_ADD, tw_worker_set_fd(s.consumers), &e) != 0)
		return 1;
	printf("tw-amqp listening on %s, engine %s, control %s\n", listen_addr, s.engine,
	       s.control_socket);
	fflush(stdout);

	s.now_ms = amqp_now_ms();
	s.next_sweep_ms = s.now_ms + TIMER_MS;
	while (!stopping) {
		/* the next timer tick, or an x-expires due sooner */
		uint64_t wait_ms = TIMER_MS;
		int n;

		if (s.next_expiry_ms != UINT64_MAX)
			wait_ms = s.next_expiry_ms <= s.now_ms ? 0
				  : s.next_expiry_ms - s.now_ms < TIMER_MS ? s.next_expiry_ms - s.now_ms
									   : TIMER_MS;
		/* tw-control's next deadline or connection attempt */
		if (amqp_ctl_next_ms(&s) != UINT64_MAX) {
			uint64_t at = amqp_ctl_next_ms(&s);

			if (at <= s.now_ms)
				wait_ms = 0;
			else if (at - s.now_ms < wait_ms)
				wait_ms = at - s.now_ms;
		}
		/* a subscribe to resend or give up on, a basic.get's wait ending,
		 * the consumers' heartbeats, resends and closes */
		if (amqp_consume_next_ms(&s) != UINT64_MAX ||
		    amqp_consume_poll_next_ms(&s) != UINT64_MAX) {
			uint64_t at = amqp_consume_next_ms(&s);

			if (amqp_consume_poll_next_ms(&s) < at)
				at = amqp_consume_poll_next_ms(&s);

			if (at <= s.now_ms)
				wait_ms = 0;
			else if (at - s.now_ms < wait_ms)
				wait_ms = at - s.now_ms;
		}
		/* publishes waiting for their confirm: often enough to resend in time */
		if (s.pending.n != 0 && wait_ms > RETRANSMIT_CHECK_MS)
			wait_ms = RETRANSMIT_CHECK_MS;
		n = epoll_wait(s.epfd, evs, MAX_EVENTS, (int)wait_ms);

		s.now_ms = amqp_now_ms();
		for (int i = 0; i < n; i++) {
			enum amqp_ev_kind *kind = evs[i].data.ptr;

			switch (*kind) {
			case EV_LISTEN:
				amqp_conn_accept(&s);
				break;
			case EV_CONN:
				amqp_conn_on_event((struct amqp_conn *)kind, evs[i].events);
				break;
			case EV_PUBLISHER:
				amqp_publish_poll(&s);
				break;
			case EV_CONSUMERS:
				amqp_consume_poll(&s);
				break;
			case EV_CONTROL:
				amqp_ctl_on_event(&s, evs[i].events);
				break;
			}
		}
		/* one datagram for the messages of this pass, then the replies they caused */
		amqp_publish_flush(&s);
		if (s.pending.n != 0)
			amqp_publish_poll(&s); /* confirms, and resends of what has none yet */
		amqp_publish_unbar(&s);
		amqp_publish_flush(&s); /* what resumed channels published */
		amqp_ctl_timers(&s);
		if (amqp_consume_poll_next_ms(&s) <= s.now_ms)
			amqp_consume_poll(&s);
		amqp_consume_timers(&s);
		amqp_conn_flush_marked(&s);
		if (s.now_ms >= s.next_expiry_ms)
			amqp_model_expire(&s);
		if (s.now_ms >= s.next_sweep_ms) {
			amqp_conn_timers(&s);
			amqp_publish_sweep(&s);
			amqp_publish_unbar(&s);
			amqp_blocked_check(&s);
			amqp_conn_flush_marked(&s);
			s.next_sweep_ms = s.now_ms + TIMER_MS;
		}
		/* the acks of this pass, one datagram per consumer */
		amqp_consume_flush_acks(&s);
		empty_grave(&s);
	}

	/* closing subscriptions gives their unacked deliveries back to the engine */
	while (s.conns != NULL) {
		struct amqp_conn *c = s.conns;

		amqp_conn_error(c, AMQP_CONNECTION_FORCED, 0, "broker shutdown");
		amqp_conn_flush(c);
		c->state = CS_DEAD;
		c->out_off = c->out.len;
		amqp_conn_on_event(c, 0);
		if (s.conns == c) /* not freed (cannot happen): do not loop */
			break;
	}
	amqp_consume_flush_acks(&s);
	empty_grave(&s);
	/* the cancels under way: answered, or given up (bounded as each close is) */
	for (uint64_t until = amqp_now_ms() + 1500; amqp_now_ms() < until;) {
		struct tw_worker_set_stats st;
		struct pollfd pfd = { .fd = tw_worker_set_fd(s.consumers), .events = POLLIN };

		tw_worker_set_get_stats(s.consumers, &st);
		if (st.closing == 0)
			break;
		poll(&pfd, 1, 10);
		tw_worker_set_poll(s.consumers, NULL, 0);
	}
	amqp_consume_cancels_done(&s);
	amqp_consume_counters(&s);
	tw_worker_set_free(s.consumers, 0);
	amqp_ctl_close(&s);
	amqp_publish_flush(&s);
	tw_client_close(s.pub);
	fprintf(stderr, "tw-amqp: stopped; counters:\n");
	print_counters(&s);
	amqp_publish_drop_all(&s);
	amqp_model_free(&s);
	tw_idmap_free(&s.conn_by_id);
	free(s.grave);
	free(s.unbarred);
	free(s.users);
	close(s.epfd);
	close(s.lfd);
	return 0;

bad:
	usage(stderr);
	return 2;
}
