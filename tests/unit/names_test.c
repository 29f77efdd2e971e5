/*
 * Unit tests for the name rule (common/tw_names.c): valid names of every
 * UTF-8 length, each kind of invalid UTF-8 (stray continuation, truncated
 * sequence, overlong, surrogate, above U+10FFFF), C0/DEL/C1 control
 * characters, the length limit at its edge, empty names, and messages
 * that name the problem and where it is.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tw_limits.h"
#include "tw_names.h"

static int
check(const char *s, size_t len, char *err)
{
	return tw_name_check("queue name", s, len, false, err, 160);
}

static void
test_names_valid(void **state)
{
	static const char *ok[] = {
		"celery", "a.b.c", "reply-to.7f3a#*", "caf\xc3\xa9",          /* 2-byte */
		"\xe6\x97\xa5\xe6\x9c\xac",                                   /* 3-byte */
		"\xf0\x9f\x90\x87", "\xf4\x8f\xbf\xbf",                       /* 4-byte, U+10FFFF */
		"\xc2\xa0", "\xee\x80\x80",                                   /* U+00A0, U+E000 */
	};
	char err[160];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(check(ok[i], strlen(ok[i]), err), 0);
}

static void
test_names_invalid_utf8(void **state)
{
	static const struct {
		const char *s;
		const char *msg;
	} bad[] = {
		{ "ab\xff", "queue name is not valid UTF-8 (byte 0xff at offset 2)" },
		{ "\x80", "queue name is not valid UTF-8 (byte 0x80 at offset 0)" },
		{ "x\xc3", "queue name is not valid UTF-8 (byte 0xc3 at offset 1)" },      /* cut */
		{ "\xc0\xaf", "queue name is not valid UTF-8 (byte 0xc0 at offset 0)" },   /* overlong / */
		{ "\xe0\x80\xaf", "queue name is not valid UTF-8 (byte 0xe0 at offset 0)" },
		{ "\xed\xa0\x80", "queue name is not valid UTF-8 (byte 0xed at offset 0)" }, /* surrogate */
		{ "\xf4\x90\x80\x80", "queue name is not valid UTF-8 (byte 0xf4 at offset 0)" },
		{ "\xe6\x97", "queue name is not valid UTF-8 (byte 0xe6 at offset 0)" },
		{ "\xc3\x28", "queue name is not valid UTF-8 (byte 0xc3 at offset 0)" },
	};
	char err[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(check(bad[i].s, strlen(bad[i].s), err), -EINVAL);
		assert_string_equal(err, bad[i].msg);
	}
}

static void
test_names_control_characters(void **state)
{
	char err[160];

	(void)state;
	assert_int_equal(check("a\nb", 3, err), -EINVAL);
	assert_string_equal(err, "queue name contains the control character U+000A at offset 1");
	assert_int_equal(check("a\x7f", 2, err), -EINVAL);
	assert_string_equal(err, "queue name contains the control character U+007F at offset 1");
	assert_int_equal(check("ok\xc2\x85", 4, err), -EINVAL); /* NEL, C1 */
	assert_string_equal(err, "queue name contains the control character U+0085 at offset 2");
	assert_int_equal(check("a\0b", 3, err), -EINVAL);       /* an embedded NUL */
	assert_string_equal(err, "queue name contains the control character U+0000 at offset 1");
}

static void
test_names_length_and_empty(void **state)
{
	char name[TW_NAME_MAX + 1], err[160];

	(void)state;
	memset(name, 'q', sizeof(name));
	assert_int_equal(check(name, TW_NAME_MAX - 1, err), 0);
	assert_int_equal(check(name, TW_NAME_MAX, err), -EINVAL);
	assert_string_equal(err, "queue name is 128 bytes, longer than the limit of 127");
	assert_int_equal(check("", 0, err), -EINVAL);
	assert_string_equal(err, "queue name is empty");
	assert_int_equal(tw_name_check("routing key", "", 0, true, err, sizeof(err)), 0);
	/* the string form measures the whole string for its message */
	name[TW_NAME_MAX] = '\0';
	assert_int_equal(tw_name_check_str("queue name", name, false, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "queue name is 128 bytes, longer than the limit of 127");
	/* no message buffer, and a short one */
	assert_int_equal(tw_name_check("x", "\xff", 1, false, NULL, 0), -EINVAL);
	assert_int_equal(tw_name_check("x", "\xff", 1, false, err, 4), -EINVAL);
	assert_string_equal(err, "x i");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_valid),
		cmocka_unit_test(test_names_invalid_utf8),
		cmocka_unit_test(test_names_control_characters),
		cmocka_unit_test(test_names_length_and_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
