/*
 * Name validation: see tw_names.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tw_limits.h"
#include "tw_names.h"

/*
 * Decode one UTF-8 sequence at p (n bytes left). @return its length (1..4)
 * with *cp set, or 0 if it is not valid UTF-8 (RFC 3629: shortest form,
 * no surrogates, at most U+10FFFF).
 */
static size_t
utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
	uint32_t c = p[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0; /* a continuation byte first, 0xc0/0xc1 (overlong) or 0xf5.. */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int
tw_name_check(const char *what, const char *name, size_t len, bool allow_empty, char *err,
	      size_t err_len)
{
	const unsigned char *p = (const unsigned char *)name;
	char ignored[8];

	if (err == NULL) {
		err = ignored;
		err_len = sizeof(ignored);
	}
	if (len == 0 && !allow_empty) {
		snprintf(err, err_len, "%s is empty", what);
		return -EINVAL;
	}
	if (len >= TW_NAME_MAX) {
		snprintf(err, err_len, "%s is %zu bytes, longer than the limit of %d", what, len,
			 TW_NAME_MAX - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_next(p + i, len - i, &cp);

		if (n == 0) {
			snprintf(err, err_len, "%s is not valid UTF-8 (byte 0x%02x at offset %zu)",
				 what, p[i], i);
			return -EINVAL;
		}
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
			snprintf(err, err_len,
				 "%s contains the control character U+%04X at offset %zu", what,
				 (unsigned)cp, i);
			return -EINVAL;
		}
		i += n;
	}
	return 0;
}

int
tw_name_check_str(const char *what, const char *name, bool allow_empty, char *err,
		  size_t err_len)
{
	return tw_name_check(what, name, strlen(name), allow_empty, err, err_len);
}

size_t
tw_utf8_sanitize(const char *in, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_next(p + i, len - i, &cp);

		if (n == 0 || cp == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3); /* U+FFFD */
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return o;
}
