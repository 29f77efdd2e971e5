/*
 * Fragment datagrams (see tw_fragment.h): the decoder every receiver runs
 * on each datagram before anything else, and the encoder of one fragment.
 */
#include "tw_fragment.h"
#include "tw_wire_priv.h"


/* The Fragment message's fields, with their declared wire types checked as protobuf-c would. */
static bool
decode_fragment(struct tw_str span, struct tw_frag_view *fv)
{
	struct cursor c = { span.p, span.p + span.len };
	uint32_t field;
	unsigned wt;
	uint64_t v;

	/* bounded by the span: every field consumes at least one byte */
	while (c.p < c.end) {
		if (!get_tag(&c, &field, &wt))
			return false;
		switch (field) {
		case F_FRAG_MSG_ID:
			if (wt != WT_FIXED64 || !get_fixed64(&c, &fv->msg_id))
				return false;
			break;
		case F_FRAG_INDEX:
		case F_FRAG_COUNT:
		case F_FRAG_TOTAL:
			if (wt != WT_VARINT || !get_varint(&c, &v))
				return false;
			/* uint32 fields: protobuf-c keeps the low 32 bits */
			if (field == F_FRAG_INDEX)
				fv->index = (uint32_t)v;
			else if (field == F_FRAG_COUNT)
				fv->count = (uint32_t)v;
			else
				fv->total = (uint32_t)v;
			break;
		case F_FRAG_DATA:
			if (wt != WT_LEN || !get_len(&c, &fv->data))
				return false;
			break;
		default:
			if (!skip_field(&c, wt))
				return false;
		}
	}
	return true;
}

/* The slicing rule: the chunk every fragment of the message has, from this one. */
static const char *
derive_chunk(struct tw_frag_view *fv)
{
	uint64_t len = fv->data.len, total = fv->total, count = fv->count;

	if (fv->msg_id == 0)
		return "fragment message id 0";
	if (count == 0 || fv->index >= count)
		return "fragment index out of range";
	if (total == 0 || len == 0 || count > total)
		return "fragment lengths inconsistent";
	if (count == 1) {
		if (len != total)
			return "fragment lengths inconsistent";
		fv->chunk = fv->total;
		return NULL;
	}
	if (fv->index + 1 < count) {
		/* the last fragment must hold 1 .. chunk bytes */
		if (len * (count - 1) >= total || len * count < total)
			return "fragment lengths inconsistent";
		fv->chunk = (uint32_t)len;
	} else {
		uint64_t rest = total - len;

		if (len > total || rest % (count - 1) != 0 || len > rest / (count - 1))
			return "fragment lengths inconsistent";
		fv->chunk = (uint32_t)(rest / (count - 1));
	}
	if (fv->chunk < TW_FRAG_MIN_CHUNK)
		return "fragments smaller than 512 bytes";
	return NULL;
}

enum tw_frag_status
tw_frag_decode(const uint8_t *buf, uint32_t len, struct tw_frag_view *fv, const char **why)
{
	struct cursor c = { buf, buf + len };
	uint32_t field;
	unsigned wt;
	uint64_t v;
	bool seen = false;

	*fv = (struct tw_frag_view){ 0 };
	*why = NULL;
	if (!tw_wire_has_magic(buf, len))
		return TW_FRAG_NONE;
	c.p += TW_WIRE_MAGIC_LEN;
	/* Every frame opens with version then frame_id; a fragment follows at
	 * once. Anything else is an ordinary frame, for the full decoder (which
	 * refuses what is wrong with it, with the frame's own reasons). */
	if (!get_tag(&c, &field, &wt) || field != F_FRAME_VERSION || wt != WT_VARINT ||
	    !get_varint(&c, &v) || v != TW_FRAME_VERSION)
		return TW_FRAG_NONE;
	if (c.p < c.end) {
		const uint8_t *at = c.p;

		if (!get_tag(&c, &field, &wt))
			return TW_FRAG_NONE;
		if (field == F_FRAME_ID && wt == WT_FIXED64) {
			if (!get_fixed64(&c, &fv->frame_id))
				return TW_FRAG_NONE;
		} else {
			c.p = at;
		}
	}
	/* bounded by the datagram: every field consumes at least one byte */
	while (c.p < c.end) {
		struct tw_str span;

		if (!get_tag(&c, &field, &wt))
			return seen ? TW_FRAG_BAD : TW_FRAG_NONE;
		if (field != F_FRAME_FRAGMENT) {
			if (!seen)
				return TW_FRAG_NONE;
			/* after the fragment: the source cookie (checked by the
			 * receiver before it keeps the piece) or padding, of their
			 * declared wire type as protobuf-c wants; fields the sender
			 * may add later, skipped */
			if (field == F_FRAME_COOKIE || field == F_FRAME_PADDING) {
				if (wt != WT_LEN || !get_len(&c, &span)) {
					*why = "fragment datagram with a bad cookie or padding field";
					return TW_FRAG_BAD;
				}
				if (field == F_FRAME_COOKIE)
					fv->cookie = span; /* the last one, as protobuf-c */
				continue;
			}
			if (field <= F_FRAME_FRAGMENT || !skip_field(&c, wt)) {
				*why = "fragment datagram with other frame fields";
				return TW_FRAG_BAD;
			}
			continue;
		}
		if (seen || wt != WT_LEN || !get_len(&c, &span) || !decode_fragment(span, fv)) {
			*why = "fragment does not decode";
			return TW_FRAG_BAD;
		}
		seen = true;
	}
	if (!seen)
		return TW_FRAG_NONE;
	*why = derive_chunk(fv);
	return *why == NULL ? TW_FRAG_OK : TW_FRAG_BAD;
}

bool
tw_frag_put_body(struct tw_wbuf *w, uint64_t msg_id, const uint8_t *whole, uint32_t total,
		 uint32_t chunk, uint32_t index)
{
	uint32_t count = tw_frag_count(total, chunk);
	uint32_t off = index * chunk;
	uint32_t n = index + 1 < count ? chunk : total - off;
	uint32_t body = 9 + 1 + varint_size(index) + 1 + varint_size(count) + 1 +
			varint_size(total) + 1 + varint_size(n) + n;

	if (index == 0)
		body -= 1 + varint_size(0); /* proto3: a zero index is left off */
	put_tag(w, F_FRAME_FRAGMENT, WT_LEN);
	put_varint(w, body);
	put_fixed64(w, F_FRAG_MSG_ID, msg_id);
	if (index != 0) {
		put_tag(w, F_FRAG_INDEX, WT_VARINT);
		put_varint(w, index);
	}
	put_tag(w, F_FRAG_COUNT, WT_VARINT);
	put_varint(w, count);
	put_tag(w, F_FRAG_TOTAL, WT_VARINT);
	put_varint(w, total);
	put_bytes(w, F_FRAG_DATA, whole + off, n);
	return !w->overflow;
}

bool
tw_frag_put(struct tw_wbuf *w, uint64_t frame_id, uint64_t msg_id, const uint8_t *whole,
	    uint32_t total, uint32_t chunk, uint32_t index)
{
	tw_wire_put_header(w, frame_id);
	return tw_frag_put_body(w, msg_id, whole, total, chunk, index);
}
