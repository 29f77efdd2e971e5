/*
 * A client's copy of the engine's source cookie: see tw_cookie_jar.h.
 */
#include <string.h>

#include "tw_cookie.h"
#include "tw_cookie_jar.h"

/* Frame.cookie (20) and Frame.padding (21), length-delimited: two-byte tags */
#define TAG_COOKIE_0 ((20 << 3 | 2) | 0x80)
#define TAG_PADDING_0 ((21 << 3 | 2) | 0x80)
#define TAG_1 0x01

void
tw_cookie_jar_init(struct tw_cookie_jar *j)
{
	pthread_mutex_init(&j->mu, NULL);
	j->len = 0;
}

void
tw_cookie_jar_destroy(struct tw_cookie_jar *j)
{
	pthread_mutex_destroy(&j->mu);
}

void
tw_cookie_jar_take(struct tw_cookie_jar *j, const Taskwire__Frame *reply)
{
	if (reply->cookie.len == 0 || reply->cookie.len > TW_COOKIE_JAR_MAX)
		return;
	pthread_mutex_lock(&j->mu);
	memcpy(j->bytes, reply->cookie.data, reply->cookie.len);
	j->len = (uint8_t)reply->cookie.len;
	pthread_mutex_unlock(&j->mu);
}

size_t
tw_cookie_jar_append(struct tw_cookie_jar *j, uint8_t *buf, size_t len)
{
	size_t pad;

	pthread_mutex_lock(&j->mu);
	if (j->len != 0) {
		buf[len++] = TAG_COOKIE_0;
		buf[len++] = TAG_1;
		buf[len++] = j->len;
		memcpy(buf + len, j->bytes, j->len);
		len += j->len;
		pthread_mutex_unlock(&j->mu);
		return len;
	}
	pthread_mutex_unlock(&j->mu);
	/* tag (2) and length (1) count toward the size too */
	pad = len + 3 < TW_COOKIE_PAD_TO ? TW_COOKIE_PAD_TO - len - 3 : 0;
	buf[len++] = TAG_PADDING_0;
	buf[len++] = TAG_1;
	buf[len++] = (uint8_t)pad;
	memset(buf + len, 0, pad);
	return len + pad;
}

bool
tw_cookie_jar_asked(const Taskwire__Frame *reply)
{
	for (size_t i = 0; i < reply->n_confirms; i++) {
		const Taskwire__Confirm *c = reply->confirms[i];

		if (c->task_id == 0 && !c->ack &&
		    c->reason == TASKWIRE__NACK_REASON__NACK_RETRY_WITH_COOKIE)
			return true;
	}
	return false;
}
