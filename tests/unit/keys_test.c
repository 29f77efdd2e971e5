/*
 * Publisher keys and frame MACs (common/tw_keys.c): the MAC is
 * HMAC-SHA256 (RFC 4231 test case 2 and 1, truncated); a keys file must be
 * private and well formed; a signed frame decodes (key_id, the MAC's span
 * and what it covers) the same way in tw_wire and protobuf-c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "taskwire.pb-c.h"
#include "tw_keys.h"
#include "tw_wire.h"

static char path[] = "/tmp/tw-keys-test-XXXXXX";

static void
write_file(const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_mac_is_hmac_sha256(void **state)
{
	/* RFC 4231 test case 1: key 0x0b x 20, data "Hi There" */
	static const uint8_t want[TW_MAC_LEN] = { 0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53,
						  0x5c, 0xa8, 0xaf, 0xce, 0xaf, 0x0b, 0xf1, 0x2b };
	struct tw_keys keys;
	uint8_t mac[TW_MAC_LEN];
	char err[256];

	(void)state;
	write_file("9 0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\n", 0600);
	assert_int_equal(tw_keys_load(&keys, path, err, sizeof(err)), 0);
	assert_int_equal(keys.n, 1);
	tw_mac(tw_keys_find(&keys, 9), (const uint8_t *)"Hi There", 8, mac);
	assert_memory_equal(mac, want, TW_MAC_LEN);
	assert_true(tw_mac_ok(&keys.k[0], (const uint8_t *)"Hi There", 8, want, TW_MAC_LEN));
	mac[15] ^= 1;
	assert_false(tw_mac_ok(&keys.k[0], (const uint8_t *)"Hi There", 8, mac, TW_MAC_LEN));
	assert_false(tw_mac_ok(&keys.k[0], (const uint8_t *)"Hi There", 8, want, 8));
	assert_null(tw_keys_find(&keys, 10));
}

static void
test_keys_file_checks(void **state)
{
	static const struct {
		const char *text;
		mode_t mode;
		int ret;
		const char *msg;
	} cases[] = {
		{ "1 00112233445566778899aabbccddeeff\n", 0644, -EPERM, "chmod 600" },
		{ "1 00112233445566778899aabbccddeeff\n", 0640, -EPERM, "chmod 600" },
		{ "0 00112233445566778899aabbccddeeff\n", 0600, -EINVAL, "line 1: the id" },
		{ "# c\n\n1 0011\n", 0600, -EINVAL, "line 3: the key must be 32 to 128" },
		{ "1 00112233445566778899aabbccddeeZZ\n", 0600, -EINVAL, "hex digits" },
		{ "1 00112233445566778899aabbccddeeff extra\n", 0600, -EINVAL, "one id and one key" },
		{ "1 00112233445566778899aabbccddeeff\n1 00112233445566778899aabbccddeeff\n", 0600,
		  -EINVAL, "line 2: a second key with this id" },
		{ "# ok\n1 00112233445566778899aabbccddeeff\n  2\t00112233445566778899aabbccddeeff00\n",
		  0600, 0, NULL },
	};
	struct tw_keys keys;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(cases[i].text, cases[i].mode);
		err[0] = '\0';
		assert_int_equal(tw_keys_load(&keys, path, err, sizeof(err)), cases[i].ret);
		if (cases[i].msg != NULL)
			assert_non_null(strstr(err, cases[i].msg));
	}
	assert_int_equal(keys.n, 2);
	assert_int_equal(tw_keys_find(&keys, 2)->len, 17);
	unlink(path);
	assert_int_equal(tw_keys_load(&keys, path, err, sizeof(err)), -ENOENT);
}

static void
test_signed_frame_decodes_like_protobuf_c(void **state)
{
	Taskwire__Frame f = TASKWIRE__FRAME__INIT, *ref;
	Taskwire__Task t = TASKWIRE__TASK__INIT, *tp[1] = { &t };
	static struct tw_task_view views[4];
	struct tw_frame_view fv;
	struct tw_keys keys;
	uint8_t buf[512];
	char err[256];
	size_t len;

	(void)state;
	write_file("7 00112233445566778899aabbccddeeff\n", 0600);
	assert_int_equal(tw_keys_load(&keys, path, err, sizeof(err)), 0);
	t.id = 1;
	t.name = "add";
	f.magic = TW_FRAME_MAGIC;
	f.version = TW_FRAME_VERSION;
	f.frame_id = 3;
	f.n_tasks = 1;
	f.tasks = tp;
	f.key_id = 7;
	len = taskwire__frame__pack(&f, buf);
	/* as libtaskwire signs: the mac field appended last */
	buf[len] = (9 << 3) | 2;
	buf[len + 1] = TW_MAC_LEN;
	tw_mac(&keys.k[0], buf, len, buf + len + 2);
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len + 18, &fv, views, 4), TW_WIRE_OK);
	assert_int_equal(fv.key_id, 7);
	assert_int_equal(fv.mac_off, len);
	assert_int_equal(fv.mac.len, TW_MAC_LEN);
	assert_true(tw_mac_ok(&keys.k[0], buf, fv.mac_off, fv.mac.p, fv.mac.len));
	ref = taskwire__frame__unpack(NULL, len + 18, buf);
	assert_non_null(ref);
	assert_int_equal(ref->key_id, 7);
	assert_memory_equal(ref->mac.data, fv.mac.p, TW_MAC_LEN);
	taskwire__frame__free_unpacked(ref, NULL);
	/* a field after the mac: the MAC would not cover it, refused */
	buf[len + 18] = (7 << 3);
	buf[len + 19] = 1;
	assert_int_equal(tw_wire_decode_frame(buf, (uint32_t)len + 20, &fv, views, 4),
			 TW_WIRE_MALFORMED);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_is_hmac_sha256),
		cmocka_unit_test(test_keys_file_checks),
		cmocka_unit_test(test_signed_frame_decodes_like_protobuf_c),
	};
	int fd = mkstemp(path);

	if (fd < 0)
		return 1;
	close(fd);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
