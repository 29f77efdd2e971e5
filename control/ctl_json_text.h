/*
 * JSON strings from text that may not be valid UTF-8 (task names, errors
 * and results come from publishers and handlers): jansson refuses such a
 * string, and an object built with it would be lost whole, so invalid
 * bytes become U+FFFD first (tw_utf8_sanitize). Threads: any.
 */
#ifndef CTL_JSON_TEXT_H
#define CTL_JSON_TEXT_H

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tw_names.h"

/** @return a new JSON string (never NULL unless out of memory); s may be NULL (""). */
static inline json_t *
ctl_json_text(const char *s, size_t len)
{
	char *buf;
	json_t *j;
	size_t n;

	if (s == NULL)
		return json_string("");
	buf = malloc(3 * len + 1);
	if (buf == NULL)
		return NULL;
	n = tw_utf8_sanitize(s, len, buf);
	j = json_stringn(buf, n);
	free(buf);
	return j;
}

static inline json_t *
ctl_json_str(const char *s)
{
	return ctl_json_text(s, s != NULL ? strlen(s) : 0);
}

#endif
