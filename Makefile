# taskwire: the one entry point.
#   make          build everything into build/
#   make run      install what is missing, start an engine on a TAP device in
#                 a private network namespace, drive a demo workload, report, stop
#   make test     install what is missing, build, run unit and integration tests
#   make up/down  a local engine in the background (writes build/dev.env)

SANITIZE ?=
# a sanitized build (make test SANITIZE=address,undefined) lives apart
BUILD ?= $(if $(SANITIZE),build-sanitize,build)
OBJ := $(BUILD)/obj
GEN := $(BUILD)/gen

# ---- compiler and linker flags: every one of them is set here ----
PKGS := libdpdk libprotobuf-c hwloc jansson libmicrohttpd lmdb nettle
# tw-dataplane links only what it uses (no result store, no HTTP server)
DP_PKGS := libdpdk libprotobuf-c hwloc jansson nettle
# pkg-config, asked on first use (so `make deps` runs before anything is
# installed) and loud when a package is missing: an empty answer would
# otherwise surface later as a confusing compile or link error.
pkg_config = $(if $(shell pkg-config --exists $(2) 2>/dev/null && echo ok),$(shell pkg-config $(1) $(2)),\
	$(error pkg-config $(1) $(2): $(shell pkg-config --print-errors --exists $(2) 2>&1 || true) (make deps installs them)))
# each is computed once, then kept (the := inside replaces the definition)
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkg_config,--cflags,$(PKGS)))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $(call pkg_config,--libs,$(PKGS)))$(PKG_LIBS)
DP_PKG_LIBS = $(eval DP_PKG_LIBS := $(call pkg_config,--libs,$(DP_PKGS)))$(DP_PKG_LIBS)

CC ?= cc
# CFLAGS stays the user's (make CFLAGS=-O0 keeps the warnings below)
CFLAGS ?= -O3 -g
WARN_FLAGS := -Wall -Wextra -Werror
STD_FLAGS := -std=gnu11 -D_GNU_SOURCE
DPDK_FLAGS := -DALLOW_EXPERIMENTAL_API
TW_CFLAGS := $(WARN_FLAGS) -Wno-address-of-packed-member $(STD_FLAGS) $(DPDK_FLAGS)
# task plugins (examples/): only the public task API, position independent
PLUGIN_CFLAGS := -O2 -g $(WARN_FLAGS) -fPIC -shared -Iinclude
# libFuzzer harnesses (clang)
FUZZ_CC ?= clang
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	$(STD_FLAGS) -I$(GEN) -Icommon -Iinclude
# tw-dataplane exports the task API and nothing else to the plugins it
# loads (--tasks FILE): the symbols of include/taskwire/task.h
DP_EXPORTS := dataplane/tw_plugin_abi.dynlist
DP_LDFLAGS = -Wl,--dynamic-list=$(DP_EXPORTS)
ifneq ($(SANITIZE),)
# every report is fatal: a test that trips a sanitizer fails
TW_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
# DPDK's libraries keep a few start-up allocations until exit
export LSAN_OPTIONS := suppressions=$(abspath tests/lsan.supp):print_suppressions=0
# Hugepage memory at an address ASan leaves free: tw-control (a secondary
# process) must map it at the same address, and DPDK's default (4 GiB)
# falls in ASan's shadow gap, so a restarted tw-control could not attach.
export TW_EAL_EXTRA := --base-virtaddr=0x200000000000
endif
# the test scripts find the binaries here (build/, or build-sanitize/)
export TW_BUILD := $(abspath $(BUILD))
# Each folder sees only the headers of what it may depend on, so a layering
# mistake (the data plane reaching into tw-control, say) fails to compile:
#   common <- broker <- dataplane, control;  common <- libtaskwire <- twctl, worker
COMMON_INC := -I$(GEN) -Icommon -Iinclude
BROKER_INC := $(COMMON_INC) -Ibroker
DP_INC := $(BROKER_INC) -Idataplane
CTL_INC := $(BROKER_INC) -Icontrol
CLIENT_INC := $(COMMON_INC) -Ilibtaskwire
TWCTL_INC := $(COMMON_INC) -Itwctl
# -Idataplane for tw_tasks_portable.h only (the built-in tasks both run, no DPDK)
WORKER_INC := $(CLIENT_INC) -Iworker -Idataplane
AMQP_INC := $(COMMON_INC) -Iamqp
# perf tools and tests drive every layer
ALL_INC := $(BROKER_INC) -Idataplane -Icontrol -Ilibtaskwire -Iperf
$(OBJ)/common/%.o: DIR_INC = $(COMMON_INC)
$(OBJ)/broker/%.o: DIR_INC = $(BROKER_INC)
$(OBJ)/dataplane/%.o: DIR_INC = $(DP_INC)
$(OBJ)/control/%.o: DIR_INC = $(CTL_INC)
$(OBJ)/libtaskwire/%.o: DIR_INC = $(CLIENT_INC)
$(OBJ)/twctl/%.o: DIR_INC = $(TWCTL_INC)
$(OBJ)/worker/%.o: DIR_INC = $(WORKER_INC)
$(OBJ)/amqp/%.o: DIR_INC = $(AMQP_INC)
DIR_INC ?= $(ALL_INC)
ALL_CFLAGS = $(DIR_INC) $(CPPFLAGS) $(PKG_CFLAGS) $(TW_CFLAGS) $(CFLAGS) -MMD -MP

PROTOS := $(wildcard proto/*.proto)
PROTO_C := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)

COMMON_SRCS := $(wildcard common/*.c)
BROKER_SRCS := $(wildcard broker/*.c)
DP_SRCS := $(filter-out dataplane/tw_dataplane_main.c,$(wildcard dataplane/*.c))
CTL_SRCS := $(filter-out control/tw_control_main.c,$(wildcard control/*.c))
TWCTL_SRCS := $(wildcard twctl/*.c)
CLIENT_SRCS := $(wildcard libtaskwire/*.c)

objs = $(patsubst %.c,$(OBJ)/%.o,$(1))
PROTO_OBJS := $(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$(PROTO_C))

LIB_COMMON := $(BUILD)/libtw_common.a
LIB_BROKER := $(BUILD)/libtw_broker.a
LIB_DP := $(BUILD)/libtw_dataplane.a
LIB_CTL := $(BUILD)/libtw_control.a
LIB_CLIENT := $(BUILD)/libtaskwire.a
LIB_PERF := $(BUILD)/libtw_perf.a

BINS := $(BUILD)/tw-dataplane $(BUILD)/tw-control $(BUILD)/twctl $(BUILD)/tw-publish-bench \
	$(BUILD)/tw-route-bench $(BUILD)/tw-store-bench $(BUILD)/tw-wheel-bench $(BUILD)/tw-loadgen \
	$(BUILD)/nats-bench $(BUILD)/tw-workflow-bench $(BUILD)/tw-pause-probe $(BUILD)/tw-worker \
	$(BUILD)/tw-amqp

UNIT_SRCS := $(wildcard tests/unit/*_test.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
DP_TEST_SRCS := $(wildcard tests/dp/*_test.c)
DP_TEST_BINS := $(patsubst tests/dp/%.c,$(BUILD)/tests/dp/%,$(DP_TEST_SRCS))
IT_SRCS := $(wildcard tests/integration/*_test.c)
IT_BINS := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(IT_SRCS))

.PHONY: all deps run test unit-test integration-test up down clean perf perf-cost perf-peers perf-livechange perf-routing perf-scale perf-workers \
	perf-store perf-wheel perf-tasks perf-scrape perf-smoke fuzz fuzz-build python-client \
	perf-python perf-workflows perf-channels perf-durable perf-async
.SECONDARY:

EXAMPLES := $(BUILD)/examples/libtw_example_tasks.so $(BUILD)/examples/libtw_broken_tasks.so \
	$(BUILD)/examples/libtw_pipeline_tasks.so

all: $(BINS) $(UNIT_BINS) $(DP_TEST_BINS) $(IT_BINS) $(EXAMPLES) $(BUILD)/python/taskwire_pb2.py

# Python client: protobuf modules from proto/ into build/python (never committed)
python-client: $(BUILD)/python/taskwire_pb2.py
$(BUILD)/python/taskwire_pb2.py: $(PROTOS) clients/python/build.sh
	@bash clients/python/build.sh $(BUILD)/python

# Task plugins: shared objects that resolve the task API in tw-dataplane.
$(BUILD)/examples/libtw_example_tasks.so: examples/plugin/tasks.c include/taskwire/task.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -o $@ $<
$(BUILD)/examples/libtw_pipeline_tasks.so: examples/workflow/pipeline.c include/taskwire/task.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -o $@ $<
$(BUILD)/examples/libtw_broken_tasks.so: examples/plugin/broken.c include/taskwire/task.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -o $@ $<

deps:
	@bash deploy/install-deps.sh
	@bash deploy/setup-hugepages.sh

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)
	protoc-c --proto_path=proto --c_out=$(GEN) $<

$(OBJ)/gen/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(OBJ)/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_COMMON): $(call objs,$(COMMON_SRCS)) $(PROTO_OBJS)
	@rm -f $@; ar rcs $@ $^
$(LIB_BROKER): $(call objs,$(BROKER_SRCS))
	@rm -f $@; ar rcs $@ $^
$(LIB_DP): $(call objs,$(DP_SRCS))
	@rm -f $@; ar rcs $@ $^
# the dashboard page, linked in as bytes (ld -b binary: no build step, no generator)
DASHBOARD_OBJ := $(OBJ)/control/dashboard.o
$(DASHBOARD_OBJ): control/dashboard/index.html
	@mkdir -p $(dir $@)
	ld -r -b binary -z noexecstack -o $@ $<
$(LIB_CTL): $(call objs,$(CTL_SRCS)) $(DASHBOARD_OBJ)
	@rm -f $@; ar rcs $@ $^
$(LIB_PERF): $(call objs,$(wildcard perf/lg_*.c))
	@rm -f $@; ar rcs $@ $^
# tw_ctl_socket: tw_result_fetch() reads the result store over the control socket
$(LIB_CLIENT): $(call objs,$(CLIENT_SRCS)) $(OBJ)/common/tw_ctl_socket.o $(OBJ)/common/tw_keys.o \
	$(OBJ)/common/tw_fragment.o $(OBJ)/common/tw_wire.o $(OBJ)/common/tw_wire_consumer.o \
	$(OBJ)/common/tw_idmap.o $(PROTO_OBJS)
	@rm -f $@; ar rcs $@ $^

# Every function include/taskwire/task.h declares must be in the export
# list: one missing would only show when a plugin calling it fails to load.
$(BUILD)/tw-dataplane: $(OBJ)/dataplane/tw_dataplane_main.o $(LIB_DP) $(LIB_BROKER) $(LIB_COMMON) $(DP_EXPORTS) \
	include/taskwire/task.h
	@for f in $$(sed -n 's/^[a-z][a-z_ 0-9*]*[ *]\(tw_task_[a-z_]*\)(.*/\1/p' include/taskwire/task.h); do \
		grep -q "^[[:space:]]*$$f;" $(DP_EXPORTS) || { echo "$(DP_EXPORTS): $$f (include/taskwire/task.h) is not exported"; exit 1; }; \
	done
	$(CC) $(LDFLAGS) $(DP_LDFLAGS) -o $@ -Wl,--whole-archive $(LIB_DP) -Wl,--no-whole-archive \
		$(OBJ)/dataplane/tw_dataplane_main.o $(LIB_BROKER) $(LIB_COMMON) $(DP_PKG_LIBS) -ldl -lm
$(BUILD)/tw-control: $(OBJ)/control/tw_control_main.o $(LIB_CTL) $(LIB_BROKER) $(LIB_COMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
$(BUILD)/twctl: $(call objs,$(TWCTL_SRCS)) $(LIB_CLIENT) $(LIB_COMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
# tw-worker: task plugins outside the engine; it exports the same plugin ABI as
# tw-dataplane (plugins call its task API). No DPDK: libtaskwire and what it needs only.
WORKER_SRCS := $(wildcard worker/*.c)
# tw_tasks_portable: the engine's built-in tasks (task.h alone), run here too
$(BUILD)/tw-worker: $(call objs,$(WORKER_SRCS)) $(OBJ)/dataplane/tw_tasks_portable.o $(LIB_CLIENT) \
	$(DP_EXPORTS)
	$(CC) $(LDFLAGS) $(DP_LDFLAGS) -o $@ $(filter-out $(DP_EXPORTS),$^) \
		$(shell pkg-config --libs libprotobuf-c nettle) -ldl -lpthread
# tw-amqp: the AMQP 0-9-1 front door; no DPDK, libtaskwire and what it needs only.
AMQP_SRCS := $(wildcard amqp/*.c)
$(BUILD)/tw-amqp: $(call objs,$(AMQP_SRCS)) $(LIB_CLIENT)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libprotobuf-c nettle) -lpthread
$(BUILD)/tw-publish-bench: $(OBJ)/perf/tw_publish_bench.o $(LIB_CLIENT)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
$(BUILD)/tw-workflow-bench: $(OBJ)/perf/tw_workflow_bench.o $(LIB_CLIENT)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
$(BUILD)/tw-loadgen: $(OBJ)/perf/tw_loadgen.o $(LIB_PERF) $(LIB_DP) $(LIB_COMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
$(BUILD)/nats-bench: $(OBJ)/perf/peers/nats_bench.o
	$(CC) $(LDFLAGS) -o $@ $^
$(BUILD)/tw-pause-probe: $(OBJ)/perf/tw_pause_probe.o
	$(CC) $(LDFLAGS) -o $@ $^ -lpthread
$(BUILD)/tw-route-bench: $(OBJ)/perf/tw_route_bench.o $(LIB_COMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
$(BUILD)/tw-store-bench: $(OBJ)/perf/tw_store_bench.o $(LIB_CTL) $(LIB_BROKER) $(LIB_COMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm
$(BUILD)/tw-wheel-bench: $(OBJ)/perf/tw_wheel_bench.o $(LIB_COMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/tests/unit/%: $(OBJ)/tests/unit/%.o $(LIB_PERF) $(LIB_DP) $(LIB_CTL) $(LIB_BROKER) $(LIB_CLIENT) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -lm
# the stage tests' shared fixture (tests/dp/dp_fixture.c)
DP_TEST_HELPER_OBJS := $(call objs,$(filter-out %_test.c,$(wildcard tests/dp/*.c)))
$(BUILD)/tests/dp/%: $(OBJ)/tests/dp/%.o $(DP_TEST_HELPER_OBJS) $(LIB_DP) $(LIB_BROKER) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -lm
IT_HELPER_OBJS := $(call objs,$(filter-out %_test.c,$(wildcard tests/integration/*.c)))
$(BUILD)/tests/integration/%: $(OBJ)/tests/integration/%.o $(IT_HELPER_OBJS) $(LIB_CLIENT) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -lm

# libFuzzer harnesses: every decoder that reads bytes from outside.
# headers too: a change in an inline decoder must rebuild the harnesses
FUZZ_HDRS := $(wildcard common/*.h include/taskwire/*.h tests/*.h)
FUZZ_BINS := $(BUILD)/fuzz/fuzz_wire $(BUILD)/fuzz/fuzz_topic $(BUILD)/fuzz/fuzz_topic_tiny \
	$(BUILD)/fuzz/fuzz_definitions $(BUILD)/fuzz/fuzz_cron $(BUILD)/fuzz/fuzz_parse \
	$(BUILD)/fuzz/fuzz_control
# The control socket through the real handlers, against an in-memory engine.
$(BUILD)/fuzz/fuzz_control: fuzz/fuzz_control.c $(CTL_SRCS) $(BROKER_SRCS) $(COMMON_SRCS) $(PROTO_C) \
	$(FUZZ_HDRS) $(wildcard control/*.h broker/*.h) $(DASHBOARD_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Icontrol -Ibroker $(PKG_CFLAGS) $(DPDK_FLAGS) \
		-Wno-deprecated-declarations -o $@ $(filter %.c,$^) $(DASHBOARD_OBJ) $(PKG_LIBS) -lm
# The parse stage on real mbufs: DPDK's headers and libraries, EAL in memory.
$(BUILD)/fuzz/fuzz_parse: fuzz/fuzz_parse.c dataplane/tw_parse.c dataplane/tw_reply.c common/tw_wire.c \
	common/tw_wire_consumer.c dataplane/tw_frag_tx.c dataplane/tw_reasm.c common/tw_fragment.c \
	dataplane/tw_unverified.c common/tw_cookie.c common/tw_siphash.c \
	$(FUZZ_HDRS) $(wildcard dataplane/*.h) $(PROTO_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Idataplane $(PKG_CFLAGS) $(DPDK_FLAGS) -o $@ \
		$(filter %.c,$^) $(PKG_LIBS)
$(BUILD)/fuzz/fuzz_wire: fuzz/fuzz_wire.c common/tw_wire.c common/tw_wire_consumer.c \
	common/tw_wire_publisher.c common/tw_fragment.c $(GEN)/taskwire.pb-c.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^) -lprotobuf-c
TOPIC_FUZZ_SRCS := fuzz/fuzz_topic.c common/tw_routes.c common/tw_routes_build.c common/tw_topic.c common/tw_topic_build.c \
	common/tw_wire.c common/tw_wire_consumer.c
$(BUILD)/fuzz/fuzz_topic: $(TOPIC_FUZZ_SRCS) $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^)
# The same harness with the trie's size thresholds at their minimum, so that
# a few short patterns reach big nodes, hashed word edges and the frontier
# overflow fallback.
$(BUILD)/fuzz/fuzz_topic_tiny: $(TOPIC_FUZZ_SRCS) $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -DTW_TOPIC_INLINE_LITS=1 -DTW_TOPIC_WORD_SCAN=1 \
		-DTW_TOPIC_FRONTIER_MAX=2 -o $@ $(filter %.c,$^)
$(BUILD)/fuzz/fuzz_definitions: fuzz/fuzz_definitions.c common/tw_definitions.c common/tw_cidr.c \
	$(GEN)/control.pb-c.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^) -ljansson -lprotobuf-c
$(BUILD)/fuzz/fuzz_cron: fuzz/fuzz_cron.c common/tw_cron.c common/tw_units.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(filter %.c,$^)
fuzz-build: $(FUZZ_BINS)

# make fuzz: each harness for FUZZ_SECONDS (default 60); make test runs them 10 s each.
fuzz: deps fuzz-build
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-60} bash tests/run-fuzz.sh

run: deps all
	@bash deploy/run-demo.sh

# make test T=NAME: one test of any kind (tests/select.sh). The fuzz
# harnesses carry ASan and UBSan in every build, so a sanitized run
# (SANITIZE=...) would only build and run the same binaries again: it
# leaves them to the plain run.
# It builds with one job per CPU unless make was given -j (CI runs a bare
# `make test`; a one-job build took minutes of its budget), after deps:
# the compiles need what deps installs.
TEST_JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))
test: deps
	@$(MAKE) --no-print-directory $(TEST_JOBS) all $(if $(SANITIZE),,fuzz-build)
	@TW_SANITIZED=$(SANITIZE) bash tests/run-all.sh

unit-test: all
	@bash tests/run-unit.sh

integration-test: all
	@bash tests/integration/run.sh

up: deps all
	@bash deploy/dev-up.sh $(ARGS)

down:
	@bash deploy/dev-down.sh

# The perf suite: testpmd's packet rate on a memif link, then taskwire on the same link.
perf: deps all
	@bash perf/run-suite.sh

# Live routing changes under load on memif, next to the same load without changes.
perf-livechange: deps all
	@bash perf/livechange-memif.sh

# Where a task's cycles go on the polling lcore (perf record by stage), 1 and 32 tasks per frame.
perf-cost: deps all
	@bash perf/cost-table.sh

# Tasks/s against worker lcores (pipeline plan); says so when the machine has too few CPUs.
perf-scale: deps all
	@bash perf/scale.sh

# The same noop tasks run by the engine's lcore, one tw-worker and Python workers, one run.
perf-workers: deps all
	@bash perf/workers-bench.sh

# Celery with Redis and with RabbitMQ, next to taskwire, in one run.
perf-peers: deps all
	@bash perf/run-peers.sh

# pika (and Celery) through tw-amqp next to a private RabbitMQ, same run.
perf-amqp: deps all
	@bash perf/amqp-bench.sh

# Durable publishing with confirms: taskwire's journal next to RabbitMQ's durable queue.
perf-durable: deps all
	@bash perf/durable-bench.sh

# Routing cost: topic vs direct exchanges at 10, 1,000 and 100,000 bindings.
perf-routing: all
	@mkdir -p perf/results
	$(BUILD)/tw-route-bench --markdown | tee perf/results/routing.md

# Result store (LMDB): write rates by batch size, gets, expiry sweep, fsync cost.
perf-store: $(BUILD)/tw-store-bench
	@mkdir -p perf/results
	$(BUILD)/tw-store-bench --markdown | tee perf/results/store.md

# What scraping /metrics every 100 ms costs under full load (alternating runs).
perf-scrape: deps all
	@bash perf/scrape-overhead.sh

# tw-loadgen over memif against a real engine, asserted (lost 0, results = sent).
perf-smoke: deps all
	@bash perf/loadgen-smoke.sh

# The task machinery end to end: scheduler lateness, result-store write rate.
perf-tasks: deps all
	@bash perf/tasks-bench.sh

# The scheduler's timing wheel: insert/expire cost and lateness at 1M and 10M pending timers.
perf-wheel: $(BUILD)/tw-wheel-bench
	@mkdir -p perf/results
	$(BUILD)/tw-wheel-bench --repeat 3 --markdown | tee perf/results/wheel.md

# Python workers and publishers: taskwire's next to Celery's with Redis and RabbitMQ, same tasks, same run.
perf-python: deps all
	@bash perf/python-vs-celery.sh

# The Django Channels layer on taskwire next to channels_redis on a private Redis, one run.
perf-channels: deps all
	@bash perf/channels-bench.sh

# 1,000 concurrent 10 ms tasks: one taskwire asyncio worker process next to Celery's pools, one run.
perf-async: deps all
	@bash perf/async-bench.sh

# What a workflow step costs next to a plain task, in the same run.
perf-workflows: deps all
	@bash perf/workflow-bench.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
