# nara — one non-recursive makefile. Output goes to build/, binaries to build/bin/.
# `make check` runs every test CI runs; `make WERROR=1` turns warnings into errors.

# Debian packages needed to build and test; the only list of them.
DEB_PACKAGES := gcc make pkg-config protobuf-c-compiler libprotobuf-c-dev \
	libzmq3-dev libevent-dev libssl-dev libsqlite3-dev libinih-dev \
	libjansson-dev libsystemd-dev libcriterion-dev openssl sqlite3 \
	systemd procps chromium groff-base stunnel4 strace prometheus curl tzdata \
	libpq-dev postgresql-15 postgresql-client-15 libnss3-tools

PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR    = $(PREFIX)/bin
SBINDIR   = $(PREFIX)/sbin
MANDIR    = $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR   ?= /lib/systemd/system

B      := build
BIN    := $(B)/bin
CC     ?= gcc
PKGS   := libzmq libprotobuf-c libevent libevent_openssl openssl sqlite3 libpq inih jansson libsystemd
# Asked of pkg-config when first used, i.e. after deps-check has installed it.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)

WARN   := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wcast-qual -Wformat=2 \
	-Wno-unused-parameter
ifeq ($(WERROR),1)
WARN   += -Werror
endif
OPT    ?= -O2 -g
CFLAGS_ALL = -std=c17 -D_GNU_SOURCE $(OPT) $(WARN) $(SAN) -MMD -MP \
	-Ibroker/lib $(EXTRA_INC) -isystem $(B)/proto $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(SAN) $(PKG_LIBS) -lpthread -lm $(LDFLAGS)

# ---------------------------------------------------------------- sources
# Each binary's objects are listed here, so this file shows who uses what.
# libnara holds only what two or more binaries share. Every binary with
# more than one file also gets an internal archive of its objects minus
# main.o: the unit tests link those to reach a binary's own modules.
PROTO_C := $(B)/proto/nara.pb-c.c
PROTO_H := $(B)/proto/nara.pb-c.h
LIB_SRC := $(addprefix broker/lib/,audit.c audit_sign.c audit_verify.c \
	config.c config_check.c config_lookup.c conftab.c conftab_parse.c \
	daemon.c errors.c evzmq.c log.c opscheck.c pbjson.c pnr.c relay.c \
	rfc3339.c store.c store_common.c \
	store_pg.c store_pg_audit.c store_pg_ckpt.c store_pg_msg.c store_pg_ops.c \
	store_pg_import.c store_pg_lease.c store_pg_pipe.c store_pg_report.c \
	store_pg_schema.c store_pg_lanes.c store_pg_batch.c store_pg_cache.c \
	store_pg_fast.c store_pg_known.c \
	store_sqlite.c store_sqlite_apart.c store_sqlite_audit.c store_sqlite_ckpt.c \
	store_sqlite_check.c store_sqlite_export.c store_sqlite_guard.c \
	store_sqlite_msg.c store_sqlite_ops.c store_sqlite_rcache.c \
	store_sqlite_report.c store_sqlite_schema.c store_sqlite_stats.c \
	store_sqlite_wal.c store_sqlite_walbuf.c \
	tls.c tls_bev.c utf8.c uuid.c validate.c validate_envelope.c wire.c zmtp.c)
LIB_OBJ := $(B)/proto/nara.pb-c.o $(LIB_SRC:%.c=$(B)/%.o)
LIBNARA := $(B)/libnara.a

NARAD_MODS := $(addprefix broker/narad/,broker.c broker_view.c console.c control.c \
	control_cmd.c counts.c dashboard.c deliver.c front.c front_conn.c front_report.c \
	front_tls.c front_zmtp.c ha.c http.c http_conn.c http_message.c lifecycle.c metrics.c outq.c queue_floor.c session.c status.c status_ha.c status_store.c submit.c \
	zap.c)
ADAPTER_MODS := $(addprefix adapters/,adapter_config.c core.c handoff.c \
	http.c http_front.c link.c outbox.c spool.c status.c tunnel.c \
	tunnel_addr.c webhook.c)
NARA_AUDIT_MODS := $(addprefix broker/tools/nara-audit/,doc.c extract.c \
	fold.c html.c migrate.c open.c output.c report.c review.c)
NARACTL_MODS := $(addprefix broker/tools/naractl/,check.c ops.c transport.c)
NARA_PKI_MODS := $(addprefix broker/tools/nara-pki/,cert.c files.c)
LIBNARAD := $(B)/libnarad.a
LIBADAPTER := $(B)/libadapter.a
LIBNARA_AUDIT := $(B)/libnara-audit.a
LIBNARACTL := $(B)/libnaractl.a
LIBNARA_PKI := $(B)/libnara-pki.a
# The internal archives, in link order for the tests.
INTERNAL_LIBS := $(LIBNARAD) $(LIBADAPTER) $(LIBNARA_AUDIT) $(LIBNARACTL) \
	$(LIBNARA_PKI)

TOOLS := nara-msg
BINS := $(TOOLS:%=$(BIN)/%) $(BIN)/nara-audit $(BIN)/naractl $(BIN)/nara-pki \
	$(BIN)/narad $(BIN)/nara-adapter

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
ITEST_SRC := $(wildcard tests/integration/*.c)
ITEST_HELPERS := $(wildcard tests/integration/*.h)

# Tests, benchmarks and fuzz harnesses see every binary's own headers and
# the integration helpers; production code sees broker/lib/ only.
$(B)/tests/%.o: EXTRA_INC := -Ibroker/narad -Iadapters \
	-Ibroker/tools/nara-audit -Ibroker/tools/naractl -Ibroker/tools/nara-pki \
	-Itests/integration

.PHONY: all check unit integration sanitize clean install deps config bench fuzz demo demo-ha
all: $(BINS)

# ---------------------------------------------------------------- packages
# deps-check: stop with the apt-get command when a Debian package is
# missing. It installs them (as root) only for the goals that may install:
# deps, check, demo and the test and bench runs; never for a plain `make`.
INSTALL_GOALS := deps check demo demo-ha unit integration sanitize soak bench fuzz-replay
ifneq ($(filter $(INSTALL_GOALS),$(MAKECMDGOALS)),)
DEPS_INSTALL := 1
endif
deps: deps-check
deps-check:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$(DEPS_INSTALL)" = 1 ] && [ "$$(id -u)" = 0 ]; then \
	    echo "installing missing Debian packages:" $$missing; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing || exit 1; \
	  else \
	    echo "nara needs these Debian packages:" $$missing; \
	    echo "run: sudo apt-get install -y" $$missing " (or, as root: make deps)"; exit 1; \
	  fi; \
	fi
.PHONY: deps deps-check

# ---------------------------------------------------------------- build rules
$(PROTO_C) $(PROTO_H): proto/nara.proto | deps-check
	@mkdir -p $(B)/proto
	protoc-c --proto_path=proto --c_out=$(B)/proto proto/nara.proto

$(B)/proto/nara.pb-c.o: $(PROTO_C)
	$(CC) -std=c17 $(OPT) $(SAN) -I$(B)/proto $(PKG_CFLAGS) -c $< -o $@

$(B)/%.o: %.c $(PROTO_H) | deps-check
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIBNARA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBNARAD): $(NARAD_MODS:%.c=$(B)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(LIBADAPTER): $(ADAPTER_MODS:%.c=$(B)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(LIBNARA_AUDIT): $(NARA_AUDIT_MODS:%.c=$(B)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(LIBNARACTL): $(NARACTL_MODS:%.c=$(B)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(LIBNARA_PKI): $(NARA_PKI_MODS:%.c=$(B)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/narad: $(B)/broker/narad/main.o $(LIBNARAD) $(LIBNARA)
	@mkdir -p $(BIN)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BIN)/nara-adapter: $(B)/adapters/main.o $(LIBADAPTER) $(LIBNARA)
	@mkdir -p $(BIN)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BIN)/nara-audit: $(B)/broker/tools/nara-audit/main.o $(LIBNARA_AUDIT) $(LIBNARA)
	@mkdir -p $(BIN)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BIN)/naractl: $(B)/broker/tools/naractl/main.o $(LIBNARACTL) $(LIBNARA)
	@mkdir -p $(BIN)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BIN)/nara-pki: $(B)/broker/tools/nara-pki/main.o $(LIBNARA_PKI) $(LIBNARA)
	@mkdir -p $(BIN)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# The one-file tools: broker/tools/<name>.c.
$(TOOLS:%=$(BIN)/%): $(BIN)/%: $(B)/broker/tools/%.o $(LIBNARA)
	@mkdir -p $(BIN)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# ---------------------------------------------------------------- tests
# Unit tests: one Criterion binary per tests/unit/test_<module>.c.
# Integration tests: tests/integration/test_*.c, linked with their helpers.
ITEST_OBJ := $(filter-out $(B)/tests/integration/itest_%.o,$(ITEST_SRC:%.c=$(B)/%.o))

$(B)/tests/test_%: $(B)/tests/unit/test_%.o $(B)/tests/integration/fixture.o \
	    $(B)/tests/integration/pgserver.o $(B)/tests/integration/harness.o \
	    $(INTERNAL_LIBS) $(LIBNARA)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ -lcriterion $(LDLIBS_ALL)

$(B)/tests/itest_%: $(B)/tests/integration/itest_%.o $(ITEST_OBJ) $(INTERNAL_LIBS) $(LIBNARA)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ -lcriterion $(LDLIBS_ALL)

ITEST_ALL := $(patsubst tests/integration/%.c,$(B)/tests/%,$(wildcard tests/integration/itest_*.c))
# itest_soak_ha runs only in make soak (random failovers take minutes).
ITEST_BINS := $(filter-out $(B)/tests/itest_soak_ha,$(ITEST_ALL))

unit: all $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; NARA_TOP=$(CURDIR) $$t --jobs=2 $(CRITERION_ARGS); done

integration: all $(ITEST_BINS)
	@set -e; for t in $(ITEST_BINS); do echo "== $$t"; NARA_TOP=$(CURDIR) NARA_BIN=$(abspath $(BIN)) $$t --jobs=1 $(CRITERION_ARGS); done
	@set -e; for t in $(wildcard tests/integration/*.sh); do echo "== $$t"; NARA_TOP=$(CURDIR) NARA_BIN=$(abspath $(BIN)) sh $$t; done

# Benchmarks: standalone programs, never part of check.
BENCH_FIXTURE := $(B)/tests/integration/fixture.o $(B)/tests/bench/bench_common.o
$(B)/bench/bench_%: $(B)/tests/bench/bench_%.o $(BENCH_FIXTURE) $(LIBADAPTER) $(LIBNARA)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(filter-out $(LIBADAPTER) $(LIBNARA),$^) $(LIBADAPTER) $(LIBNARA) $(LDLIBS_ALL)

$(B)/bench/bench_e2e: $(B)/tests/bench/bench_e2e_nodes.o

# bench_e2e (end to end, all parts), bench_broker (the broker alone),
# bench_restart (kill -9 with 1,000,000 queued), then bench_idle (memory per
# idle connection with 1,000 nodes); each takes its own arguments:
# BENCH_E2E_ARGS, BENCH_ARGS, BENCH_RESTART_ARGS, BENCH_IDLE_ARGS.
# bench_netdelay (a TCP relay that delays, to put a network between narad
# and PostgreSQL), bench_walpages (the pages of a store's WAL by table,
# for tests/bench/walpages.sh) and bench_store (the store's cost per
# message without network or broker) are built too, not run.
BENCHES := e2e broker restart idle walpages store
bench: all $(BENCHES:%=$(B)/bench/bench_%) $(B)/bench/bench_netdelay
	$(B)/bench/bench_e2e -b $(BIN)/narad $(BENCH_E2E_ARGS)
	$(B)/bench/bench_broker -b $(BIN)/narad $(BENCH_ARGS)
	$(B)/bench/bench_restart -b $(BIN)/narad $(BENCH_RESTART_ARGS)
	$(B)/bench/bench_idle -b $(BIN)/narad $(BENCH_IDLE_ARGS)

# bench_e2e with this tree's narad and BASE's side by side, alternately
# (tests/bench/compare.sh): make bench-compare BASE=<commit> [ROUNDS=5]
# [BENCH_COMPARE_ARGS="-t throughput -n 20000"]. BASE is built into
# build/base-<commit>/. Quote the ratios it prints.
ROUNDS ?= 5
bench-compare: all $(B)/bench/bench_e2e
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=<commit> [ROUNDS=5]"; exit 2; }
	NARA_TOP=$(CURDIR) sh tests/bench/compare.sh "$(BASE)" "$(ROUNDS)"
.PHONY: bench-compare

# bench_store (the store alone) of this tree against BASE's store
# (tests/bench/compare_store.sh): instructions per message under valgrind's
# cachegrind, the same run after run, and with ROUNDS CPU per message too:
# make bench-store-compare BASE=<commit> [MESSAGES=3200] [ROUNDS=5]
MESSAGES ?= 3200
bench-store-compare: all
	@test -n "$(BASE)" || { echo "usage: make bench-store-compare BASE=<commit> [MESSAGES=3200] [ROUNDS=5]"; exit 2; }
	NARA_TOP=$(CURDIR) sh tests/bench/compare_store.sh "$(BASE)" "$(MESSAGES)" "$(ROUNDS)"
.PHONY: bench-store-compare

# The whole region on one machine: narad and one nara-adapter per node on
# loopback over mutual TLS, traffic with answers and refusals, a summary
# that is checked (tests/demo/demo.sh --help). Tunable from the command
# line: DEMO_PORT, DEMO_HTTP_PORT, DEMO_MESSAGES, DEMO_LATE, DEMO_KEEP=1.
demo: all
	NARA_TOP=$(CURDIR) NARA_BIN=$(abspath $(BIN)) \
	    $(if $(DEMO_STORE),DEMO_STORE=$(DEMO_STORE)) bash tests/demo/demo.sh

# The same region with two narads ([ha]) on a local PostgreSQL pair; the
# active one is killed halfway through (tests/demo/demo.sh --help).
demo-ha: all
	NARA_TOP=$(CURDIR) NARA_BIN=$(abspath $(BIN)) DEMO_HA=1 \
	    bash tests/demo/demo.sh

# Fuzzers: libFuzzer targets built with clang (not needed by `make check`).
# Debian bookworm: FUZZ_PACKAGES below give clang -fsanitize=fuzzer.
# `make fuzz` builds every target and runs each for FUZZ_SECONDS, starting
# from the committed seeds in tests/fuzz/corpus/<target>/; new inputs go to
# $(B)/fuzz/corpus-<target>/, crash inputs to $(B)/fuzz/artifacts/.
# Run one by hand: build/fuzz/fuzz_zmtp tests/fuzz/corpus/zmtp
FUZZ_PACKAGES := clang libclang-rt-14-dev
FUZZ_TARGETS := zmtp frame config pbjson front
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang
FUZZ_SAN ?= -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=c17 -D_GNU_SOURCE -g -O1 $(FUZZ_SAN) -Ibroker/lib \
	-isystem $(B)/proto $(PKG_CFLAGS)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)
FUZZ_LIB := $(B)/fuzz/libnara.a

$(B)/fuzz/obj/proto/nara.pb-c.o: $(PROTO_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(B)/fuzz/obj/%.o: %.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(B)/fuzz/obj/proto/nara.pb-c.o $(LIB_SRC:%.c=$(B)/fuzz/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

$(B)/fuzz/fuzz_%: $(B)/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lpthread -lm

fuzz-deps-check:
	@for p in $(FUZZ_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	  grep -q 'install ok installed' || { echo "make fuzz needs: apt-get install" \
	  $(FUZZ_PACKAGES); exit 1; }; done

fuzz: fuzz-deps-check $(FUZZ_BINS)
	@set -e; mkdir -p $(B)/fuzz/artifacts; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; mkdir -p $(B)/fuzz/corpus-$$t; \
	  $(B)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(B)/fuzz/artifacts/$$t- \
	    $(B)/fuzz/corpus-$$t tests/fuzz/corpus/$$t; done

# The same harnesses built with gcc and a replay main(): `make check` feeds
# them every seed and every recorded crash input, no clang needed.
FUZZ_REPLAY_BINS := $(FUZZ_TARGETS:%=$(B)/tests/replay_%)
$(B)/tests/replay_%: $(B)/tests/fuzz/fuzz_%.o $(B)/tests/fuzz/replay.o $(INTERNAL_LIBS) $(LIBNARA)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

fuzz-replay: all $(FUZZ_REPLAY_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do echo "== replay_$$t"; \
	  $(B)/tests/replay_$$t tests/fuzz/corpus/$$t \
	    $$(test -d tests/fuzz/regressions/$$t && echo tests/fuzz/regressions/$$t); done
.PHONY: fuzz-deps-check fuzz-replay

config: config/nara.conf
config/nara.conf: config/gen-config.sh config/municipalities.tsv
	sh config/gen-config.sh config/municipalities.tsv > $@.tmp && mv $@.tmp $@

check: unit integration fuzz-replay
	@echo "make check: all tests passed"

# The long fault runs: the fault, crash and adapter soak tests with
# NARA_SOAK=1 (more kill -9 cycles of narad and of adapters, more link cuts,
# longer fsync failures). Not part of check.
SOAK_BINS := $(filter $(B)/tests/itest_fault $(B)/tests/itest_crash \
	$(B)/tests/itest_soak_adapters $(B)/tests/itest_hostile \
	$(B)/tests/itest_soak_ha,$(ITEST_ALL))
soak: all $(SOAK_BINS)
	@set -e; for t in $(SOAK_BINS); do echo "== $$t (soak)"; NARA_SOAK=1 \
	  NARA_TOP=$(CURDIR) NARA_BIN=$(abspath $(BIN)) $$t --jobs=1 $(CRITERION_ARGS); done
.PHONY: soak

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer, in its own tree.
sanitize:
	$(MAKE) B=build/san OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" check

clean:
	rm -rf build

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/nara
	for b in $(BINS); do case $$(basename $$b) in \
	  narad|nara-adapter) install -m 0755 $$b $(DESTDIR)$(SBINDIR)/ ;; \
	  *) install -m 0755 $$b $(DESTDIR)$(BINDIR)/ ;; esac; done
	install -m 0644 config/nara.conf $(DESTDIR)$(SYSCONFDIR)/nara/nara.conf.example
	install -m 0644 config/adapter.conf.example $(DESTDIR)$(SYSCONFDIR)/nara/adapter.conf.example
	if [ -d systemd ] && ls systemd/*.service >/dev/null 2>&1; then \
	  install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)/usr/lib/sysusers.d $(DESTDIR)/usr/lib/tmpfiles.d; \
	  install -m 0644 systemd/*.service $(DESTDIR)$(UNITDIR)/; \
	  for f in systemd/*.sysusers; do [ -f $$f ] && install -m 0644 $$f $(DESTDIR)/usr/lib/sysusers.d/$$(basename $$f .sysusers).conf; done; \
	  for f in systemd/*.tmpfiles; do [ -f $$f ] && install -m 0644 $$f $(DESTDIR)/usr/lib/tmpfiles.d/$$(basename $$f .tmpfiles).conf; done; \
	fi
	if ls docs/man/*.[0-9] >/dev/null 2>&1; then for m in docs/man/*.[0-9]; do \
	  s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done; fi

-include $(shell find $(B) -name '*.d' 2>/dev/null)
.SECONDARY:
