/*
 * IPv4 address ranges (tw_cidr.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tw_cidr.h"

int
tw_cidr_parse(const char *s, struct tw_cidr *out)
{
	char addr[16];
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned long bits = 32;
	struct in_addr a;
	uint32_t mask;

	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1)
		return -EINVAL;
	if (slash != NULL) {
		char *end;

		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		bits = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || bits > 32)
			return -EINVAL;
	}
	mask = bits == 0 ? 0 : htonl(~0u << (32 - bits));
	if ((a.s_addr & ~mask) != 0)
		return -EINVAL; /* host bits set: probably not what was meant */
	out->net = a.s_addr;
	out->mask = mask;
	return 0;
}

void
tw_cidr_format(const struct tw_cidr *c, char *buf, size_t len)
{
	struct in_addr a = { .s_addr = c->net };
	char ip[16];
	unsigned bits = (unsigned)__builtin_popcount(c->mask);

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, bits);
}
