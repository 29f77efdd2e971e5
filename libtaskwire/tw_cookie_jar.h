/*
 * The engine's source cookie, as a client keeps it (libtaskwire's
 * publisher and its remote-consumer worker). See the engine's side in
 * tw_cookie.h: a frame without a valid cookie is refused whole with a
 * frame-level NACK retry-with-cookie carrying one; the client keeps it,
 * sends the refused frame again at once, and puts it in every frame after
 * (the field is appended to the packed frame, before a MAC). A frame sent
 * without a cookie is padded so the engine's reply fits in its size.
 *
 * Threads: any; the jar has its own lock (the worker's heartbeat thread
 * sends while its poller receives).
 */
#ifndef TW_COOKIE_JAR_H
#define TW_COOKIE_JAR_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "taskwire.pb-c.h"

#define TW_COOKIE_JAR_MAX 32u
/* bytes tw_cookie_jar_append may add: a tag, a length and a cookie, or the padding */
#define TW_COOKIE_JAR_EXTRA 72u

struct tw_cookie_jar {
	pthread_mutex_t mu;
	uint8_t len;             /* 0: none yet */
	uint8_t bytes[TW_COOKIE_JAR_MAX];
};

void tw_cookie_jar_init(struct tw_cookie_jar *j);
void tw_cookie_jar_destroy(struct tw_cookie_jar *j);

/** Keep the cookie a reply frame carries (if any). */
void tw_cookie_jar_take(struct tw_cookie_jar *j, const Taskwire__Frame *reply);

/**
 * Append the cookie (Frame.cookie) to the packed frame buf[0..len), or,
 * with none yet, padding (Frame.padding) up to the size the engine needs
 * to answer with one. buf has room for TW_COOKIE_JAR_EXTRA more bytes.
 * @return the new length.
 */
size_t tw_cookie_jar_append(struct tw_cookie_jar *j, uint8_t *buf, size_t len);

/** Does the reply refuse its whole frame with retry-with-cookie? */
bool tw_cookie_jar_asked(const Taskwire__Frame *reply);

#endif
