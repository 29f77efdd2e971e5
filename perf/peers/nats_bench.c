/*
 * nats-bench: the NATS side of `make perf-peers`, the noop workload as
 * request-reply: a responder answers every request on subject "bench"
 * with an empty reply (the "task" and its "result"); a requester keeps a
 * window of requests outstanding and measures round trips per second.
 * Speaks the NATS text protocol over TCP (CONNECT, SUB, PUB, MSG,
 * PING/PONG); Debian has nats-server but no C or Python client.
 *
 *   nats-bench respond PORT
 *   nats-bench request PORT N WINDOW      prints one JSON line
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (1 << 20)

struct conn {
	int fd;
	char in[BUF];
	size_t in_len;
	char out[BUF];
	size_t out_len;
};

static int
conn_open(struct conn *c, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->in_len = c->out_len = 0;
	return 0;
}

static int
flush_out(struct conn *c)
{
	size_t off = 0;

	while (off < c->out_len) {
		ssize_t w = write(c->fd, c->out + off, c->out_len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)w;
	}
	c->out_len = 0;
	return 0;
}

static void
put(struct conn *c, const char *s, size_t n)
{
	if (c->out_len + n > BUF)
		flush_out(c);
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
}

/* Read more input. @return bytes read, 0 at end, -1 on error. */
static ssize_t
fill(struct conn *c)
{
	ssize_t r;

	if (c->in_len == BUF)
		return -1;
	r = read(c->fd, c->in + c->in_len, BUF - c->in_len);
	if (r > 0)
		c->in_len += (size_t)r;
	return r;
}

typedef void (*msg_fn)(struct conn *c, const char *subject, const char *reply, void *arg);

/*
 * Handle the complete protocol lines in the input: MSG (with payload),
 * PING (answered), +OK/PONG/INFO (ignored), -ERR (fatal).
 * @return 0, or -1 on a protocol error.
 */
static int
process(struct conn *c, msg_fn fn, void *arg)
{
	size_t pos = 0;

	for (;;) {
		char *eol = memmem(c->in + pos, c->in_len - pos, "\r\n", 2);
		char line[512];
		size_t len;

		if (eol == NULL)
			break;
		len = (size_t)(eol - (c->in + pos));
		if (len >= sizeof(line))
			return -1;
		memcpy(line, c->in + pos, len);
		line[len] = '\0';
		if (strncmp(line, "MSG ", 4) == 0) {
			char subj[256], sid[32], reply[256] = "";
			size_t plen;
			int n = sscanf(line + 4, "%255s %31s %255s %zu", subj, sid, reply, &plen);

			if (n == 3) { /* no reply subject: MSG subj sid len */
				plen = strtoul(reply, NULL, 10);
				reply[0] = '\0';
			} else if (n != 4) {
				return -1;
			}
			if (pos + len + 2 + plen + 2 > c->in_len)
				break; /* payload not complete yet */
			fn(c, subj, reply, arg);
			pos += len + 2 + plen + 2;
			continue;
		}
		if (strcmp(line, "PING") == 0)
			put(c, "PONG\r\n", 6);
		else if (strncmp(line, "-ERR", 4) == 0) {
			fprintf(stderr, "nats-bench: server: %s\n", line);
			return -1;
		}
		pos += len + 2;
	}
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	return 0;
}

static void
answer(struct conn *c, const char *subject, const char *reply, void *arg)
{
	char line[300];
	int n;

	(void)subject;
	(void)arg;
	if (reply[0] == '\0')
		return;
	n = snprintf(line, sizeof(line), "PUB %s 0\r\n\r\n", reply);
	put(c, line, (size_t)n);
}

static void
count(struct conn *c, const char *subject, const char *reply, void *arg)
{
	(void)c;
	(void)subject;
	(void)reply;
	(*(unsigned long *)arg)++;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct conn conn;

int
main(int argc, char **argv)
{
	static const char hello[] = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
	struct conn *c = &conn;

	if (argc < 3 || conn_open(c, atoi(argv[2])) != 0) {
		fprintf(stderr, "usage: nats-bench respond PORT | request PORT N WINDOW (server running?)\n");
		return 2;
	}
	put(c, hello, sizeof(hello) - 1);
	if (strcmp(argv[1], "respond") == 0) {
		put(c, "SUB bench 1\r\n", 13);
		flush_out(c);
		while (fill(c) > 0) {
			if (process(c, answer, NULL) != 0)
				return 1;
			flush_out(c);
		}
		return 0;
	}
	if (strcmp(argv[1], "request") == 0 && argc == 5) {
		unsigned long n = strtoul(argv[3], NULL, 10), window = strtoul(argv[4], NULL, 10);
		unsigned long sent = 0, got = 0;
		double t0;

		put(c, "SUB _INBOX.tw.* 1\r\n", 19);
		/* round trip before timing: PING is answered after the SUB is in place */
		put(c, "PING\r\n", 6);
		flush_out(c);
		while (fill(c) > 0 && memmem(c->in, c->in_len, "PONG", 4) == NULL)
			;
		c->in_len = 0;
		t0 = now_s();
		while (got < n) {
			char line[64];

			while (sent < n && sent - got < window) {
				int k = snprintf(line, sizeof(line), "PUB bench _INBOX.tw.%lu 0\r\n\r\n", sent);

				put(c, line, (size_t)k);
				sent++;
			}
			if (flush_out(c) != 0 || fill(c) <= 0 || process(c, count, &got) != 0) {
				fprintf(stderr, "nats-bench: connection lost after %lu replies\n", got);
				return 1;
			}
		}
		{
			double secs = now_s() - t0;

			printf("{\"tasks\": %lu, \"seconds\": %.3f, \"tasks_per_sec\": %.1f}\n", n, secs,
			       (double)n / secs);
		}
		return 0;
	}
	fprintf(stderr, "usage: nats-bench respond PORT | request PORT N WINDOW\n");
	return 2;
}
