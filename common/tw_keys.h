/*
 * Publisher keys: frames authenticated with a keyed MAC (proto Frame
 * fields key_id and mac). A keys file holds one key per line,
 *
 *   # comment
 *   ID HEX          ID: 1..4294967295, HEX: 32..128 hex digits (16..64 bytes)
 *
 * at most TW_KEYS_MAX of them. Keys are secrets: the file must be a
 * regular file owned by root or the reading user, readable by no one
 * else (mode & 0077 == 0), or it is refused. Keys never come from the
 * command line.
 *
 * The MAC is HMAC-SHA256 (nettle), its first TW_MAC_LEN bytes, over every
 * byte of the frame before the mac field, which comes last.
 *
 * Threads: load once; lookups and MACs from any thread (read-only).
 */
#ifndef TW_KEYS_H
#define TW_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nettle/hmac.h>

#define TW_KEYS_MAX 256
#define TW_KEY_MAX 64
#define TW_MAC_LEN 16

struct tw_key {
	uint32_t id;
	uint32_t len;
	uint8_t bytes[TW_KEY_MAX];
	/* keyed once at load: a frame's MAC copies it instead of keying again */
	struct hmac_sha256_ctx keyed;
};

struct tw_keys {
	uint32_t n;
	struct tw_key k[TW_KEYS_MAX];
};

/**
 * Load path into keys (zeroed first). err gets a message naming the file
 * and line on failure. @return 0, or -EPERM (ownership or mode), -EINVAL
 * (a bad line, a duplicate id, too many keys), -errno (open, read).
 */
int tw_keys_load(struct tw_keys *keys, const char *path, char *err, size_t errlen);

/** @return the key with this id, or NULL. */
const struct tw_key *tw_keys_find(const struct tw_keys *keys, uint32_t id);

/** HMAC-SHA256 of msg under key, truncated to TW_MAC_LEN bytes into mac. */
void tw_mac(const struct tw_key *key, const uint8_t *msg, size_t len, uint8_t mac[TW_MAC_LEN]);

/** Constant-time check of a frame's mac (len bytes) against msg. */
bool tw_mac_ok(const struct tw_key *key, const uint8_t *msg, size_t len, const uint8_t *mac,
	       size_t mac_len);

#endif
