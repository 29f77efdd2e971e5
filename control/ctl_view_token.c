/*
 * View tokens (see ctl_view_token.h): HMAC-SHA256 from nettle.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/hmac.h>

#include "ctl_view_token.h"

#define MAC_HEX (2 * SHA256_DIGEST_SIZE)

static void
mac_hex(const char *key_hex, uint64_t task_id, uint64_t expiry_s, char out[MAC_HEX + 1])
{
	struct hmac_sha256_ctx h;
	uint8_t digest[SHA256_DIGEST_SIZE];
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "taskwire-view %016" PRIx64 " %" PRIu64, task_id,
			 expiry_s);

	hmac_sha256_set_key(&h, strlen(key_hex), (const uint8_t *)key_hex);
	hmac_sha256_update(&h, (size_t)n, (const uint8_t *)msg);
	hmac_sha256_digest(&h, sizeof(digest), digest);
	for (unsigned i = 0; i < sizeof(digest); i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

enum ctl_view_verdict
ctl_view_token_check(const char *key_hex, uint64_t task_id, const char *view, uint64_t now_s)
{
	char want[MAC_HEX + 1];
	const char *dot;
	unsigned char diff = 0;
	uint64_t expiry;
	char *end;

	if (view == NULL || task_id == 0 || view[0] < '0' || view[0] > '9')
		return CTL_VIEW_MALFORMED;
	expiry = strtoull(view, &end, 10);
	dot = end;
	if (*dot != '.' || dot - view > 20 || strlen(dot + 1) != MAC_HEX)
		return CTL_VIEW_MALFORMED;
	if (expiry < now_s)
		return CTL_VIEW_EXPIRED;
	if (expiry - now_s > CTL_VIEW_TOKEN_MAX_S)
		return CTL_VIEW_TOO_LONG;
	mac_hex(key_hex, task_id, expiry, want);
	/* lowercase hex only: one spelling per token */
	for (unsigned i = 0; i < MAC_HEX; i++)
		diff |= (unsigned char)(dot[1 + i] ^ want[i]);
	return diff == 0 ? CTL_VIEW_OK : CTL_VIEW_BAD_MAC;
}
