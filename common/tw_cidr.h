/*
 * IPv4 address ranges ("10.0.0.0/8", "192.0.2.7" = /32): which sources may
 * publish to an exchange. Kept in network byte order so that the data
 * plane compares a packet's source address without converting it.
 * Threads: pure.
 */
#ifndef TW_CIDR_H
#define TW_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_MAX_ALLOW 8           /* source ranges per exchange */
#define TW_CIDR_STRLEN 19        /* "255.255.255.255/32" and a NUL */

struct tw_cidr {
	uint32_t net;                /* network order, already masked */
	uint32_t mask;               /* network order */
};

/** Parse "A.B.C.D[/N]". Host bits must be zero. @return 0 or -EINVAL. */
int tw_cidr_parse(const char *s, struct tw_cidr *out);

/** "A.B.C.D/N" into buf (TW_CIDR_STRLEN bytes). */
void tw_cidr_format(const struct tw_cidr *c, char *buf, size_t len);

static inline bool
tw_cidr_has(const struct tw_cidr *c, uint32_t ip_be)
{
	return (ip_be & c->mask) == c->net;
}

#endif
