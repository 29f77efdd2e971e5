/*
 * Publisher keys and frame MACs (tw_keys.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tw_keys.h"

static int
hex_nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One "ID HEX" line into k. @return NULL or what is wrong with it. */
static const char *
parse_line(char *line, struct tw_key *k)
{
	char *end, *hex;
	unsigned long long id;
	size_t n;

	errno = 0;
	id = strtoull(line, &end, 10);
	if (end == line || errno != 0 || id == 0 || id > UINT32_MAX || (*end != ' ' && *end != '\t'))
		return "the id must be a number 1..4294967295 followed by a space";
	hex = end + strspn(end, " \t");
	n = strcspn(hex, " \t\r\n");
	if (hex[n + strspn(hex + n, " \t\r\n")] != '\0')
		return "one id and one key per line";
	if (n % 2 != 0 || n < 32 || n > 2 * TW_KEY_MAX)
		return "the key must be 32 to 128 hex digits";
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return "the key must be hex digits";
		k->bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	k->id = (uint32_t)id;
	k->len = (uint32_t)(n / 2);
	hmac_sha256_set_key(&k->keyed, k->len, k->bytes);
	return NULL;
}

int
tw_keys_load(struct tw_keys *keys, const char *path, char *err, size_t errlen)
{
	char line[512];
	struct stat st;
	unsigned lineno = 0;
	FILE *f;
	int fd;

	memset(keys, 0, sizeof(*keys));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "keys file %s: %s", path, strerror(errno));
		return -errno;
	}
	/* checked on the open file: no race with a rename */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "keys file %s: not a regular file", path);
		close(fd);
		return -EPERM;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 0077) != 0) {
		snprintf(err, errlen,
			 "keys file %s: mode %03o owner %u: it must belong to root or to us and "
			 "be readable by no one else (chmod 600)", path, st.st_mode & 0777,
			 (unsigned)st.st_uid);
		close(fd);
		return -EPERM;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return -errno;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line + strspn(line, " \t");
		const char *bad;

		lineno++;
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		if (keys->n == TW_KEYS_MAX)
			bad = "more than 256 keys";
		else if ((bad = parse_line(p, &keys->k[keys->n])) == NULL &&
			 tw_keys_find(keys, keys->k[keys->n].id) != NULL)
			bad = "a second key with this id";
		if (bad != NULL) {
			snprintf(err, errlen, "keys file %s, line %u: %s", path, lineno, bad);
			fclose(f);
			memset(keys, 0, sizeof(*keys));
			return -EINVAL;
		}
		keys->n++;
	}
	fclose(f);
	memset(line, 0, sizeof(line));
	return 0;
}

const struct tw_key *
tw_keys_find(const struct tw_keys *keys, uint32_t id)
{
	for (uint32_t i = 0; i < keys->n; i++)
		if (keys->k[i].id == id)
			return &keys->k[i];
	return NULL;
}

void
tw_mac(const struct tw_key *key, const uint8_t *msg, size_t len, uint8_t mac[TW_MAC_LEN])
{
	struct hmac_sha256_ctx ctx = key->keyed;

	hmac_sha256_update(&ctx, len, msg);
	hmac_sha256_digest(&ctx, TW_MAC_LEN, mac);
}

bool
tw_mac_ok(const struct tw_key *key, const uint8_t *msg, size_t len, const uint8_t *mac,
	  size_t mac_len)
{
	uint8_t want[TW_MAC_LEN];
	uint8_t diff = 0;

	if (mac_len != TW_MAC_LEN)
		return false;
	tw_mac(key, msg, len, want);
	for (size_t i = 0; i < TW_MAC_LEN; i++)
		diff |= want[i] ^ mac[i];
	return diff == 0;
}
