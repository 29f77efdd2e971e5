/*
 * twctl: the CLI over tw-control's socket. twctl_main.c parses the global
 * options and dispatches to one function per verb; each verb lives in its
 * own file group. Exit codes, a stable interface that scripts test:
 * TWCTL_OK 0, TWCTL_FAILED 1 (message on stderr), TWCTL_USAGE 2.
 */
#ifndef TWCTL_H
#define TWCTL_H

#include <stdbool.h>

#include "control.pb-c.h"

enum { TWCTL_OK = 0, TWCTL_FAILED = 1, TWCTL_USAGE = 2 };

struct twctl_opts {
	const char *socket;  /* --socket, else $TW_SOCKET, else TW_CTL_DEFAULT_SOCKET */
	const char *engine;  /* --engine IP:PORT, else $TW_ENGINE, else asked from tw-control */
	bool json;           /* --json: one JSON document on stdout */
	const char *key_file; /* --key-file, else $TW_KEY_FILE: sign published frames */
	uint32_t key_id;     /* --key-id, else $TW_KEY_ID */
};

/** Client options from the global ones (the publisher key). */
struct tw_client_opts;
void twctl_client_opts(const struct twctl_opts *o, struct tw_client_opts *co);


/* A verb gets the arguments after its name (argv[0] is the verb). */
typedef int (*twctl_verb_fn)(const struct twctl_opts *o, int argc, char **argv);

int twctl_status(const struct twctl_opts *o, int argc, char **argv);
int twctl_queue(const struct twctl_opts *o, int argc, char **argv);
int twctl_exchange(const struct twctl_opts *o, int argc, char **argv);
int twctl_bind(const struct twctl_opts *o, int argc, char **argv);
int twctl_unbind(const struct twctl_opts *o, int argc, char **argv);
int twctl_list(const struct twctl_opts *o, int argc, char **argv);
int twctl_publish(const struct twctl_opts *o, int argc, char **argv);
/* publish --workflow FILE (twctl_workflow.c) */
int twctl_publish_workflow(const struct twctl_opts *o, int argc, char **argv);

struct tw_client;
struct tw_outcome;
/** The engine's address: --engine / TW_ENGINE, else tw-control's status. @return 0 or -errno. */
int twctl_engine_address(const struct twctl_opts *o, char *buf, size_t len);
/** Flush and wait for task id's confirm only. @return 0, -ETIMEDOUT or -errno. */
int twctl_wait_confirm(struct tw_client *c, uint64_t id, int timeout_ms, struct tw_outcome *out);
/** Print a publish outcome (confirm, and result when waited) as text or JSON. */
void twctl_publish_report(const struct twctl_opts *o, uint64_t id, const struct tw_outcome *out,
			  bool waited);
int twctl_definitions(const struct twctl_opts *o, int argc, char **argv);
int twctl_stats(const struct twctl_opts *o, int argc, char **argv);
int twctl_result(const struct twctl_opts *o, int argc, char **argv);
int twctl_revoke(const struct twctl_opts *o, int argc, char **argv);
int twctl_forget(const struct twctl_opts *o, int argc, char **argv);
int twctl_schedule(const struct twctl_opts *o, int argc, char **argv);
int twctl_rate_limit(const struct twctl_opts *o, int argc, char **argv);
int twctl_events(const struct twctl_opts *o, int argc, char **argv);
/** `list workers` output (twctl_workers.c). */
void twctl_print_workers(const struct twctl_opts *o, const Taskwire__Control__Response *r);
void twctl_print_consumers(const struct twctl_opts *o, const Taskwire__Control__Response *r);
/** `list schedules` output (twctl_schedule.c). */
void twctl_print_schedules(const struct twctl_opts *o, const Taskwire__Control__Response *r);
/** `list tasks` output (twctl_tasks.c). */
void twctl_print_tasks(const struct twctl_opts *o, const Taskwire__Control__Response *r);

/**
 * One request/response round trip to tw-control.
 * @return 0 and *resp set (free with taskwire__control__response__free_unpacked),
 *   or -errno with a message already printed to stderr.
 */
int twctl_call(const char *socket_path, const Taskwire__Control__Request *req,
	       Taskwire__Control__Response **resp);
/** twctl_call with its own timeout; *stage says how far it got (tw_ctl_call()). */
int twctl_call_ms(const char *socket_path, const Taskwire__Control__Request *req,
		  Taskwire__Control__Response **resp, int timeout_ms, const char **stage);

/**
 * twctl_call, then turn a refused request into its message on stderr
 * (and a JSON error document with --json).
 * @return TWCTL_OK with *resp set (caller frees), or TWCTL_FAILED.
 */
struct json_t;
int twctl_roundtrip(const struct twctl_opts *o, const Taskwire__Control__Request *req,
		    Taskwire__Control__Response **resp);

/** Print msg (a usage line) on stderr. @return TWCTL_USAGE. */
int twctl_usage_error(const char *msg);

/** A counter's value by name in a status reply (0 if absent). */
uint64_t twctl_counter(Taskwire__Control__Counter **c, size_t n, const char *name);

/** Print a JSON document (takes the reference). @return TWCTL_OK or TWCTL_FAILED. */
int twctl_print_json(struct json_t *j);

#endif
