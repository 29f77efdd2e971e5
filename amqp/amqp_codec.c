/*
 * AMQP 0-9-1 wire codec: see amqp_codec.h.
 */
#include <stdlib.h>
#include <string.h>

#include "amqp_codec.h"

/* Nested tables and arrays deeper than this are refused: a peer cannot
 * make the validator recurse without bound. */
#define MAX_DEPTH 16

static bool
need(struct amqp_rd *r, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return false;
	}
	return true;
}

uint8_t
amqp_rd_u8(struct amqp_rd *r)
{
	return need(r, 1) ? r->p[r->off++] : 0;
}

uint16_t
amqp_rd_u16(struct amqp_rd *r)
{
	uint16_t v;

	if (!need(r, 2))
		return 0;
	v = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
	r->off += 2;
	return v;
}

uint32_t
amqp_rd_u32(struct amqp_rd *r)
{
	uint32_t v;

	if (!need(r, 4))
		return 0;
	v = (uint32_t)r->p[r->off] << 24 | (uint32_t)r->p[r->off + 1] << 16 |
	    (uint32_t)r->p[r->off + 2] << 8 | r->p[r->off + 3];
	r->off += 4;
	return v;
}

uint64_t
amqp_rd_u64(struct amqp_rd *r)
{
	uint64_t hi = amqp_rd_u32(r);

	return hi << 32 | amqp_rd_u32(r);
}

void
amqp_rd_shortstr(struct amqp_rd *r, char out[256])
{
	uint8_t n = amqp_rd_u8(r);

	out[0] = '\0';
	if (!need(r, n))
		return;
	memcpy(out, r->p + r->off, n);
	out[n] = '\0';
	/* a NUL inside a name would make it another name on the engine side */
	if (memchr(out, '\0', n) != NULL)
		r->bad = true;
	r->off += n;
}

void
amqp_rd_longstr(struct amqp_rd *r, const uint8_t **p, uint32_t *len)
{
	uint32_t n = amqp_rd_u32(r);

	*p = NULL;
	*len = 0;
	if (!need(r, n))
		return;
	*p = r->p + r->off;
	*len = n;
	r->off += n;
}

static bool skip_table(struct amqp_rd *r, uint32_t len, int depth);

/* Read (and validate) one value of type t. */
static void
read_value(struct amqp_rd *r, char t, struct amqp_value *v, int depth)
{
	uint32_t n;

	memset(v, 0, sizeof(*v));
	v->type = t;
	switch (t) {
	case 't': v->is_int = true; v->i = amqp_rd_u8(r) != 0; break;
	case 'b': v->is_int = true; v->i = (int8_t)amqp_rd_u8(r); break;
	case 'B': v->is_int = true; v->i = amqp_rd_u8(r); break;
	case 's': v->is_int = true; v->i = (int16_t)amqp_rd_u16(r); break;
	case 'u': v->is_int = true; v->i = amqp_rd_u16(r); break;
	case 'I': v->is_int = true; v->i = (int32_t)amqp_rd_u32(r); break;
	case 'i': v->is_int = true; v->i = amqp_rd_u32(r); break;
	case 'l': case 'L': v->is_int = true; v->i = (int64_t)amqp_rd_u64(r); break;
	case 'T': v->is_int = true; v->i = (int64_t)amqp_rd_u64(r); break;
	case 'f': amqp_rd_u32(r); break;
	case 'd': amqp_rd_u64(r); break;
	case 'D': amqp_rd_u8(r); amqp_rd_u32(r); break;
	case 'V': break;
	case 'S': case 'x':
		v->is_str = true;
		amqp_rd_longstr(r, &v->s, &v->slen);
		break;
	case 'F':
		n = amqp_rd_u32(r);
		if (need(r, n) && skip_table(r, n, depth + 1)) {
			v->is_table = true;
			v->s = r->p + r->off;
			v->slen = n;
			r->off += n;
		}
		break;
	case 'A':
		n = amqp_rd_u32(r);
		if (need(r, n)) {
			struct amqp_rd a = { .p = r->p + r->off, .len = n };
			struct amqp_value e;

			if (depth + 1 > MAX_DEPTH) {
				r->bad = true;
				break;
			}
			while (!a.bad && a.off < a.len)
				read_value(&a, (char)amqp_rd_u8(&a), &e, depth + 1);
			if (a.bad)
				r->bad = true;
			else
				r->off += n;
		}
		break;
	default:
		r->bad = true;
	}
}

/* Validate the n table bytes at r's position (not consumed). */
static bool
skip_table(struct amqp_rd *r, uint32_t len, int depth)
{
	struct amqp_rd t = { .p = r->p + r->off, .len = len };
	struct amqp_value v;
	char key[256];

	if (depth > MAX_DEPTH) {
		r->bad = true;
		return false;
	}
	while (!t.bad && t.off < t.len) {
		amqp_rd_shortstr(&t, key);
		read_value(&t, (char)amqp_rd_u8(&t), &v, depth);
	}
	if (t.bad)
		r->bad = true;
	return !t.bad;
}

void
amqp_rd_table(struct amqp_rd *r, const uint8_t **p, uint32_t *len)
{
	uint32_t n = amqp_rd_u32(r);

	*p = NULL;
	*len = 0;
	if (!need(r, n) || !skip_table(r, n, 0))
		return;
	*p = r->p + r->off;
	*len = n;
	r->off += n;
}

bool
amqp_table_next(const uint8_t *t, uint32_t len, uint32_t *off, char key[256], struct amqp_value *v)
{
	struct amqp_rd r = { .p = t, .len = len, .off = *off };

	if (t == NULL || *off >= len)
		return false;
	amqp_rd_shortstr(&r, key);
	read_value(&r, (char)amqp_rd_u8(&r), v, 0);
	if (r.bad)
		return false;
	*off = (uint32_t)r.off;
	return true;
}

bool
amqp_table_get(const uint8_t *t, uint32_t len, const char *key, struct amqp_value *v)
{
	uint32_t off = 0;
	char k[256];

	while (amqp_table_next(t, len, &off, k, v))
		if (strcmp(k, key) == 0)
			return true;
	return false;
}

bool
amqp_props_parse(const uint8_t *p, uint32_t len, struct amqp_props_view *v)
{
	struct amqp_rd r = { .p = p, .len = len };
	uint16_t flags = amqp_rd_u16(&r);
	char s[256];

	memset(v, 0, sizeof(*v));
	/* bit 0 set: more flag words follow (none defined for basic) */
	if (flags & 1)
		return false;
	if (flags & 0x8000) /* content-type */
		amqp_rd_shortstr(&r, s);
	if (flags & 0x4000) /* content-encoding */
		amqp_rd_shortstr(&r, s);
	if (flags & 0x2000) /* headers */
		amqp_rd_table(&r, &v->headers, &v->headers_len);
	if (flags & 0x1000) /* delivery-mode */
		amqp_rd_u8(&r);
	if (flags & 0x0800) { /* priority */
		v->has_priority = true;
		v->priority = amqp_rd_u8(&r);
	}
	if (flags & 0x0400) /* correlation-id */
		amqp_rd_shortstr(&r, s);
	if (flags & 0x0200) /* reply-to */
		amqp_rd_shortstr(&r, s);
	if (flags & 0x0100) { /* expiration */
		uint64_t ms = 0;
		size_t n;

		amqp_rd_shortstr(&r, s);
		n = strlen(s);
		v->has_expiration = true;
		/* RabbitMQ's rule: digits only, no sign, within 32 bits */
		v->expiration_bad = n == 0 || n > 10;
		for (size_t i = 0; i < n && !v->expiration_bad; i++) {
			if (s[i] < '0' || s[i] > '9')
				v->expiration_bad = true;
			else
				ms = ms * 10 + (uint64_t)(s[i] - '0');
		}
		if (ms > UINT32_MAX)
			v->expiration_bad = true;
		v->expiration_ms = v->expiration_bad ? 0 : (uint32_t)ms;
	}
	return !r.bad;
}

/* --- writing --- */

static bool
grow(struct amqp_wr *w, size_t n)
{
	size_t cap = w->cap != 0 ? w->cap : 512;
	uint8_t *b;

	if (w->oom)
		return false;
	if (w->len + n <= w->cap)
		return true;
	while (cap < w->len + n)
		cap *= 2;
	b = realloc(w->buf, cap);
	if (b == NULL) {
		w->oom = true;
		return false;
	}
	w->buf = b;
	w->cap = cap;
	return true;
}

void
amqp_wr_bytes(struct amqp_wr *w, const void *p, size_t n)
{
	if (n != 0 && grow(w, n)) {
		memcpy(w->buf + w->len, p, n);
		w->len += n;
	}
}

void
amqp_wr_u8(struct amqp_wr *w, uint8_t v)
{
	amqp_wr_bytes(w, &v, 1);
}

void
amqp_wr_u16(struct amqp_wr *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	amqp_wr_bytes(w, b, 2);
}

void
amqp_wr_u32(struct amqp_wr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	amqp_wr_bytes(w, b, 4);
}

void
amqp_wr_u64(struct amqp_wr *w, uint64_t v)
{
	amqp_wr_u32(w, (uint32_t)(v >> 32));
	amqp_wr_u32(w, (uint32_t)v);
}

void
amqp_wr_shortstr(struct amqp_wr *w, const char *s)
{
	size_t n = strlen(s);

	if (n > 255)
		n = 255;
	amqp_wr_u8(w, (uint8_t)n);
	amqp_wr_bytes(w, s, n);
}

void
amqp_wr_longstr(struct amqp_wr *w, const void *p, uint32_t n)
{
	amqp_wr_u32(w, n);
	amqp_wr_bytes(w, p, n);
}

void
amqp_wr_patch_u32(struct amqp_wr *w, size_t off, uint32_t v)
{
	if (w->oom || off + 4 > w->len)
		return;
	w->buf[off] = (uint8_t)(v >> 24);
	w->buf[off + 1] = (uint8_t)(v >> 16);
	w->buf[off + 2] = (uint8_t)(v >> 8);
	w->buf[off + 3] = (uint8_t)v;
}

void
amqp_wr_field_bool(struct amqp_wr *w, const char *key, bool v)
{
	amqp_wr_shortstr(w, key);
	amqp_wr_u8(w, 't');
	amqp_wr_u8(w, v);
}

void
amqp_wr_field_str(struct amqp_wr *w, const char *key, const char *v)
{
	amqp_wr_shortstr(w, key);
	amqp_wr_u8(w, 'S');
	amqp_wr_longstr(w, v, (uint32_t)strlen(v));
}

size_t
amqp_wr_frame_begin(struct amqp_wr *w, uint8_t type, uint16_t ch)
{
	size_t start = w->len;

	amqp_wr_u8(w, type);
	amqp_wr_u16(w, ch);
	amqp_wr_u32(w, 0); /* size, patched by amqp_wr_frame_end */
	return start;
}

void
amqp_wr_frame_end(struct amqp_wr *w, size_t start)
{
	amqp_wr_patch_u32(w, start + 3, (uint32_t)(w->len - start - 7));
	amqp_wr_u8(w, AMQP_FRAME_END);
}

size_t
amqp_wr_method_begin(struct amqp_wr *w, uint16_t ch, uint32_t method)
{
	size_t start = amqp_wr_frame_begin(w, AMQP_FRAME_METHOD, ch);

	amqp_wr_u16(w, (uint16_t)(method >> 16));
	amqp_wr_u16(w, (uint16_t)method);
	return start;
}

void
amqp_wr_free(struct amqp_wr *w)
{
	free(w->buf);
	*w = (struct amqp_wr){ 0 };
}
