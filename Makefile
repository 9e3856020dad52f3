# gg - one GNU Makefile.
#
#   make               build bin/gg and lib/libggshim.so under build/
#   make test          install missing dependencies, build, run every suite (unit + e2e)
#   make check         the same with AddressSanitizer + UBSan (the shim: UBSan only)
#   make demo          record GNU hello under the shim and show what was recorded
#   make install       PREFIX=/usr/local DESTDIR= : bin/gg, lib/libggshim.so
#   make bench         the benchmarks under tests/bench/ (numbers, not tests)
#   make check-layers  fail on an #include that points up or sideways (scripts/check-layers)
#   V=1                show the commands
#
# Everything generated lands in $(BUILD) (build/, or build-check/ for make check).

PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
SAN ?=

CC ?= cc
PKGS := libseccomp libxxhash msgpack libcurl cmocka libcrypto

ifeq ($(V),1)
Q :=
else
Q := @
endif

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -MMD -MP -I.
ifneq ($(SAN),)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SHIM_SAN_FLAGS := -fsanitize=undefined -fsanitize-undefined-trap-on-error
else
SAN_FLAGS :=
SHIM_SAN_FLAGS :=
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs libseccomp libxxhash msgpack libcurl libcrypto 2>/dev/null)
# bin/gg loads libcurl and libcrypto when it first uses them (runtime/engine/netlibs.c):
# it links the rest only, and learns the sonames to open here.
GG_LIBS = $(shell pkg-config --libs libseccomp libxxhash msgpack 2>/dev/null) -ldl
soname = $(shell objdump -p $(shell pkg-config --variable=libdir $(1) 2>/dev/null)/$(2).so 2>/dev/null | awk '/SONAME/ { print $$2 }')
NETLIBS_CFLAGS = -DGG_LIBCURL_SONAME='"$(or $(call soname,libcurl,libcurl),libcurl.so.4)"' \
	-DGG_LIBCRYPTO_SONAME='"$(or $(call soname,libcrypto,libcrypto),libcrypto.so.3)"'
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

# The shim links nothing but libc: msgpack's packer and xxHash are used header-only.
SHIM_SRC := $(sort $(wildcard shim/*.c))
SHIM_OBJ := $(SHIM_SRC:%.c=$(BUILD)/%.pic.o)
SHIM_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -MMD -MP -I. -fPIC -fvisibility=hidden \
	-O2 -g -fno-stack-protector -ftls-model=initial-exec $(SHIM_SAN_FLAGS) \
	-fno-delete-null-pointer-checks -Wno-nonnull-compare
SHIM_LDFLAGS := -shared -Wl,-z,nodelete -Wl,-z,now $(SHIM_SAN_FLAGS) \
	-Wl,-z,noseparate-code -Wl,-z,norelro -Wl,-T,shim/shim.ld

# Library code shared by the gg command and the unit tests.
# shim modules without interposition (encoder, path resolution) are also unit-tested.
SHIM_PURE := shim/trace_enc.c shim/path.c shim/vpath.c shim/vexec.c
NETLIBS_SRC := runtime/engine/netlibs.c
LIB_SRC := $(sort $(filter-out runtime/cli/% $(NETLIBS_SRC),$(wildcard runtime/*/*.c inferer/*.c inferer/*/*.c sandbox/*.c)) $(SHIM_PURE))
NETLIBS_OBJ := $(NETLIBS_SRC:%.c=$(BUILD)/%.o)
# Main-level code (prints, exits): the gg command's verbs.
CMD_SRC := $(sort $(wildcard runtime/cli/*.c))
CMD_OBJ := $(CMD_SRC:%.c=$(BUILD)/%.o)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A := $(BUILD)/libgg.a

GG := $(BUILD)/bin/gg
SHIM := $(BUILD)/lib/libggshim.so
# gg linked for the worker package (runtime/engine/package.h): its loader and
# libraries from /var/task/lib (DT_RPATH: searched before LD_LIBRARY_PATH).
BOOTSTRAP := $(BUILD)/lambda/bootstrap

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
# Test programs driven by the e2e scripts (one per intercepted entry point, ...).
PROG_SRC := $(sort $(wildcard tests/progs/*.c))
PROG_BIN := $(PROG_SRC:tests/progs/%.c=$(BUILD)/tests/progs/%)
# Tools for tests and benchmarks that use the library (trace forging, ...).
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)

ALL_CFLAGS = $(BASE_CFLAGS) $(PKG_CFLAGS) $(SAN_FLAGS) $(CFLAGS)

.PHONY: all test check demo install bench deps clean unit e2e fuzz check-layers
all: $(GG) $(SHIM) $(BOOTSTRAP)

# Dependencies are installed when something is missing (scripts/install-deps is
# idempotent and quiet); plain `make` only says what is missing.
deps:
	$(Q)scripts/install-deps

$(BUILD)/%.pic.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(SHIM_CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(SHIM): $(SHIM_OBJ) shim/shim.ld
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SHIM_LDFLAGS) -o $@ $(SHIM_OBJ) -ldl

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(NETLIBS_OBJ): ALL_CFLAGS += $(NETLIBS_CFLAGS)

$(GG): $(CMD_OBJ) $(NETLIBS_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(GG_LIBS) -lpthread

$(BOOTSTRAP): $(CMD_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS) -lpthread \
		-Wl,--dynamic-linker=/var/task/lib/ld-linux-x86-64.so.2 \
		-Wl,-rpath,/var/task/lib -Wl,--disable-new-dtags

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(CMOCKA_LIBS) $(PKG_LIBS) -lpthread

$(BUILD)/tests/tools/%: tests/tools/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(PKG_LIBS) -lpthread

$(BUILD)/tests/progs/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -O1 -g -Wall -o $@ $< -lpthread

unit: $(UNIT_BIN)

# Includes point down the layers only (table in scripts/check-layers); tests/e2e/layers.sh
# runs it in make test.
check-layers:
	$(Q)scripts/check-layers

test: deps
	$(Q)$(MAKE) --no-print-directory all unit $(PROG_BIN) $(TOOL_BIN)
	$(Q)BUILD=$(BUILD) tests/run.sh

check: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-check SAN=1 all unit $(PROG_BIN:$(BUILD)/%=build-check/%) $(TOOL_BIN:$(BUILD)/%=build-check/%)
	$(Q)BUILD=build-check GG_CHECK=1 tests/run.sh
	$(Q)$(MAKE) --no-print-directory fuzz

# A short libFuzzer run of every decoder of untrusted bytes (clang's libFuzzer,
# with ASan + UBSan); FUZZ_SECONDS per target.  New inputs go to build-check/fuzz/.
FUZZ_SECONDS ?= 20
FUZZ_CC ?= clang
FUZZ_DIR := build-check/fuzz
FUZZ_TARGETS := trace_read thunk_decode cache_log thunk_pack statcache
FUZZ_trace_read_SRC := runtime/trace/trace_read.c runtime/lib/mpcheck.c runtime/lib/htab.c runtime/lib/util.c
FUZZ_thunk_decode_SRC := runtime/ir/thunk.c runtime/ir/hash.c runtime/store/store.c runtime/store/blobpack.c \
	runtime/lib/htab.c runtime/lib/util.c
FUZZ_cache_log_SRC := runtime/store/cache.c runtime/ir/hash.c runtime/lib/htab.c runtime/lib/mpread.c \
	runtime/lib/util.c
FUZZ_thunk_pack_SRC := runtime/store/blobpack.c runtime/store/store.c runtime/ir/thunk.c \
	runtime/ir/hash.c runtime/lib/htab.c runtime/lib/util.c
FUZZ_statcache_SRC := runtime/store/statcache.c runtime/store/blobpack.c runtime/store/store.c \
	runtime/ir/thunk.c runtime/ir/hash.c runtime/lib/htab.c runtime/lib/util.c

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard runtime/*/*.c runtime/*/*.h shim/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)$(FUZZ_CC) -std=gnu11 -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-o $@ $< $(FUZZ_$*_SRC) $(PKG_LIBS)

fuzz: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
	$(Q)for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus-$$t; \
		echo "  FUZZ    $$t ($(FUZZ_SECONDS) s)"; \
		$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
			$(FUZZ_DIR)/corpus-$$t tests/fuzz/corpus/$$(case $$t in trace_read) echo trace;; cache_log) echo cache;; thunk_pack) echo pack;; statcache) echo statcache;; *) echo thunk;; esac) \
			>$(FUZZ_DIR)/$$t.log 2>&1 || { tail -n 40 $(FUZZ_DIR)/$$t.log; exit 1; }; \
		grep -E '^#[0-9]+.*DONE|Done [0-9]+ runs' $(FUZZ_DIR)/$$t.log | tail -n 1; \
	done

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) scripts/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(PROG_BIN) $(TOOL_BIN)
	$(Q)for b in tests/bench/*.sh; do BUILD=$(BUILD) $$b || exit 1; done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib
	install -m 755 $(GG) $(DESTDIR)$(PREFIX)/bin/gg
	install -m 755 $(SHIM) $(DESTDIR)$(PREFIX)/lib/libggshim.so
	install -d $(DESTDIR)$(PREFIX)/lib/gg
	install -m 755 $(BOOTSTRAP) $(DESTDIR)$(PREFIX)/lib/gg/bootstrap
	@if [ -z "$(DESTDIR)" ] && command -v ldconfig >/dev/null; then ldconfig; fi

clean:
	rm -rf build build-check

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
