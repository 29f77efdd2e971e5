/*
 * AMQP 0-9-1 wire codec: the primitive types of the protocol (big-endian
 * integers, short and long strings, field tables) read from a received
 * frame and written into a growable output buffer.
 *
 * Reading never trusts a length: every read is bounded by the frame, and a
 * read past its end sets `bad` and yields zeros, so a method handler reads
 * all its arguments and checks `bad` once (a SYNTAX_ERROR).
 *
 * Field tables are kept as the raw bytes the peer sent (validated once):
 * what tw-amqp forwards (message properties, arguments) stays byte for byte
 * as written, and only the few keys it acts on are looked up.
 */
#ifndef AMQP_CODEC_H
#define AMQP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AMQP_FRAME_METHOD 1
#define AMQP_FRAME_HEADER 2
#define AMQP_FRAME_BODY 3
#define AMQP_FRAME_HEARTBEAT 8
#define AMQP_FRAME_END 0xCE

/* Reply codes (the spec's constants). */
enum {
	AMQP_REPLY_SUCCESS = 200,
	AMQP_CONNECTION_FORCED = 320,
	AMQP_CONTENT_TOO_LARGE = 311,
	AMQP_NO_ROUTE = 312,
	AMQP_NO_CONSUMERS = 313,
	AMQP_ACCESS_REFUSED = 403,
	AMQP_NOT_FOUND = 404,
	AMQP_RESOURCE_LOCKED = 405,
	AMQP_PRECONDITION_FAILED = 406,
	AMQP_FRAME_ERROR = 501,
	AMQP_SYNTAX_ERROR = 502,
	AMQP_COMMAND_INVALID = 503,
	AMQP_CHANNEL_ERROR = 504,
	AMQP_UNEXPECTED_FRAME = 505,
	AMQP_RESOURCE_ERROR = 506,
	AMQP_NOT_ALLOWED = 530,
	AMQP_NOT_IMPLEMENTED = 540,
	AMQP_INTERNAL_ERROR = 541,
};

/* class << 16 | method */
#define AMQP_M(c, m) (((uint32_t)(c) << 16) | (uint32_t)(m))
enum {
	AMQP_CONNECTION_START = AMQP_M(10, 10), AMQP_CONNECTION_START_OK = AMQP_M(10, 11),
	AMQP_CONNECTION_SECURE = AMQP_M(10, 20), AMQP_CONNECTION_SECURE_OK = AMQP_M(10, 21),
	AMQP_CONNECTION_TUNE = AMQP_M(10, 30), AMQP_CONNECTION_TUNE_OK = AMQP_M(10, 31),
	AMQP_CONNECTION_OPEN = AMQP_M(10, 40), AMQP_CONNECTION_OPEN_OK = AMQP_M(10, 41),
	AMQP_CONNECTION_CLOSE = AMQP_M(10, 50), AMQP_CONNECTION_CLOSE_OK = AMQP_M(10, 51),
	AMQP_CONNECTION_BLOCKED = AMQP_M(10, 60), AMQP_CONNECTION_UNBLOCKED = AMQP_M(10, 61),
	AMQP_CHANNEL_OPEN = AMQP_M(20, 10), AMQP_CHANNEL_OPEN_OK = AMQP_M(20, 11),
	AMQP_CHANNEL_FLOW = AMQP_M(20, 20), AMQP_CHANNEL_FLOW_OK = AMQP_M(20, 21),
	AMQP_CHANNEL_CLOSE = AMQP_M(20, 40), AMQP_CHANNEL_CLOSE_OK = AMQP_M(20, 41),
	AMQP_EXCHANGE_DECLARE = AMQP_M(40, 10), AMQP_EXCHANGE_DECLARE_OK = AMQP_M(40, 11),
	AMQP_EXCHANGE_DELETE = AMQP_M(40, 20), AMQP_EXCHANGE_DELETE_OK = AMQP_M(40, 21),
	AMQP_EXCHANGE_BIND = AMQP_M(40, 30), AMQP_EXCHANGE_BIND_OK = AMQP_M(40, 31),
	AMQP_EXCHANGE_UNBIND = AMQP_M(40, 40), AMQP_EXCHANGE_UNBIND_OK = AMQP_M(40, 51),
	AMQP_QUEUE_DECLARE = AMQP_M(50, 10), AMQP_QUEUE_DECLARE_OK = AMQP_M(50, 11),
	AMQP_QUEUE_BIND = AMQP_M(50, 20), AMQP_QUEUE_BIND_OK = AMQP_M(50, 21),
	AMQP_QUEUE_PURGE = AMQP_M(50, 30), AMQP_QUEUE_PURGE_OK = AMQP_M(50, 31),
	AMQP_QUEUE_DELETE = AMQP_M(50, 40), AMQP_QUEUE_DELETE_OK = AMQP_M(50, 41),
	AMQP_QUEUE_UNBIND = AMQP_M(50, 50), AMQP_QUEUE_UNBIND_OK = AMQP_M(50, 51),
	AMQP_BASIC_QOS = AMQP_M(60, 10), AMQP_BASIC_QOS_OK = AMQP_M(60, 11),
	AMQP_BASIC_CONSUME = AMQP_M(60, 20), AMQP_BASIC_CONSUME_OK = AMQP_M(60, 21),
	AMQP_BASIC_CANCEL = AMQP_M(60, 30), AMQP_BASIC_CANCEL_OK = AMQP_M(60, 31),
	AMQP_BASIC_PUBLISH = AMQP_M(60, 40), AMQP_BASIC_RETURN = AMQP_M(60, 50),
	AMQP_BASIC_DELIVER = AMQP_M(60, 60),
	AMQP_BASIC_GET = AMQP_M(60, 70), AMQP_BASIC_GET_OK = AMQP_M(60, 71),
	AMQP_BASIC_GET_EMPTY = AMQP_M(60, 72),
	AMQP_BASIC_ACK = AMQP_M(60, 80), AMQP_BASIC_REJECT = AMQP_M(60, 90),
	AMQP_BASIC_RECOVER_ASYNC = AMQP_M(60, 100), AMQP_BASIC_RECOVER = AMQP_M(60, 110),
	AMQP_BASIC_RECOVER_OK = AMQP_M(60, 111), AMQP_BASIC_NACK = AMQP_M(60, 120),
	AMQP_CONFIRM_SELECT = AMQP_M(85, 10), AMQP_CONFIRM_SELECT_OK = AMQP_M(85, 11),
	AMQP_TX_SELECT = AMQP_M(90, 10),
};

/* Reading one frame's payload. */
struct amqp_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;          /* a read went past the end, or a value was malformed */
};

uint8_t amqp_rd_u8(struct amqp_rd *r);
uint16_t amqp_rd_u16(struct amqp_rd *r);
uint32_t amqp_rd_u32(struct amqp_rd *r);
uint64_t amqp_rd_u64(struct amqp_rd *r);
/** A shortstr into out (NUL-terminated; 256 bytes hold any). */
void amqp_rd_shortstr(struct amqp_rd *r, char out[256]);
/** A longstr: points into the frame. */
void amqp_rd_longstr(struct amqp_rd *r, const uint8_t **p, uint32_t *len);
/** A field table: its bytes (without the length), validated. */
void amqp_rd_table(struct amqp_rd *r, const uint8_t **p, uint32_t *len);

/* One value of a table, as far as tw-amqp needs to understand it. */
struct amqp_value {
	char type;         /* the field type octet */
	bool is_int;       /* any integer type (and bool): in i */
	int64_t i;
	bool is_str;       /* 'S' longstr (or 'x' bytes): s, slen */
	bool is_table;     /* 'F' a nested table (validated): its bytes in s, slen */
	const uint8_t *s;
	uint32_t slen;
};

/** Look key up in a validated table. @return true when found. */
bool amqp_table_get(const uint8_t *t, uint32_t len, const char *key, struct amqp_value *v);

/**
 * Walk a validated table: each call yields the next key (NUL-terminated in
 * key) and value. *off starts at 0. @return false at the end.
 */
bool amqp_table_next(const uint8_t *t, uint32_t len, uint32_t *off, char key[256],
		     struct amqp_value *v);

/* The property list of a content header (flags then values), as far as
 * tw-amqp reads it: the priority, the headers table and the expiration. */
struct amqp_props_view {
	bool has_priority;
	uint8_t priority;
	const uint8_t *headers;   /* NULL: none */
	uint32_t headers_len;
	/* expiration: a per-message TTL in milliseconds, as a decimal string */
	bool has_expiration;
	bool expiration_bad;      /* present but not a number of milliseconds */
	uint32_t expiration_ms;
};
/** @return false when the property bytes are malformed. */
bool amqp_props_parse(const uint8_t *p, uint32_t len, struct amqp_props_view *v);

/* A growable output buffer. */
struct amqp_wr {
	uint8_t *buf;
	size_t len;
	size_t cap;
	bool oom;          /* an allocation failed: the connection is closed */
};

void amqp_wr_bytes(struct amqp_wr *w, const void *p, size_t n);
void amqp_wr_u8(struct amqp_wr *w, uint8_t v);
void amqp_wr_u16(struct amqp_wr *w, uint16_t v);
void amqp_wr_u32(struct amqp_wr *w, uint32_t v);
void amqp_wr_u64(struct amqp_wr *w, uint64_t v);
void amqp_wr_shortstr(struct amqp_wr *w, const char *s);
void amqp_wr_longstr(struct amqp_wr *w, const void *p, uint32_t n);
/** Overwrite 4 bytes at off (a length written after its content). */
void amqp_wr_patch_u32(struct amqp_wr *w, size_t off, uint32_t v);
/* Table entries, written between a u32 placeholder and amqp_wr_patch_u32. */
void amqp_wr_field_bool(struct amqp_wr *w, const char *key, bool v);
void amqp_wr_field_str(struct amqp_wr *w, const char *key, const char *v);

/** Begin a method frame on channel ch (closed by amqp_wr_frame_end). @return its start offset. */
size_t amqp_wr_frame_begin(struct amqp_wr *w, uint8_t type, uint16_t ch);
void amqp_wr_frame_end(struct amqp_wr *w, size_t start);
size_t amqp_wr_method_begin(struct amqp_wr *w, uint16_t ch, uint32_t method);

void amqp_wr_free(struct amqp_wr *w);

#endif
