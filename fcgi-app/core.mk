# core.mk -- CORE's part of fcgi-app: pure modules, unit tests, fuzzers
#
# Paths are relative to fcgi-app/.  fcgi-app/Makefile includes this file
# and uses CORE_SRCS / CORE_LDLIBS for the program, and the core-unit,
# core-fuzz, core-check and core-clean targets.  Standalone, from
# fcgi-app/:  make -f core.mk unit fuzz check clean
# Every variable and target here starts with CORE_/core- so nothing
# collides with the including Makefile.  Warnings, hardening, sanitizers
# and header dependencies come from the shared ../build.mk (BUILD_*); the
# caller's CFLAGS/LDFLAGS are appended to them.  The shared C library
# (../lib/lib.mk: LIB_INC, LIB_A, LIB_SRCS) is linked after CORE_LIB.

CC ?= cc
CLANG ?= clang

include $(dir $(lastword $(MAKEFILE_LIST)))../build.mk
include ../lib/lib.mk

CORE_SRCS := src/buf.c src/pct.c src/utf8.c src/jsonw.c src/sign.c \
             src/civil.c src/cookie.c src/session.c src/sessflat.c \
             src/router.c \
             src/jsonmem.c
CORE_HDRS := $(CORE_SRCS:.c=.h)
# Every library through pkg-config (Debian ships libcrypto.pc and
# jansson.pc); libm is part of libc's toolchain and has no .pc.
CORE_PKGS := libcrypto jansson
CORE_LDLIBS := $(shell pkg-config --libs $(CORE_PKGS)) -lm

# Production objects see only src/ and lib/; the unit tests add
# tests/unit (unit.h) on their own command line.
CORE_CFLAGS = -Isrc $(LIB_INC) $(shell pkg-config --cflags $(CORE_PKGS)) \
              $(BUILD_CFLAGS)
CORE_LDFLAGS = $(BUILD_LDFLAGS)

CORE_BUILD := build/core
CORE_OBJS := $(patsubst src/%.c,$(CORE_BUILD)/%.o,$(CORE_SRCS))
CORE_LIB := $(CORE_BUILD)/libcore.a

CORE_UNIT_DIR := ../tests/unit/fcgi-app
CORE_UNIT_NAMES := buf pct utf8 jsonw sign civil cookie session router \
                   jsonmem vectors
CORE_UNIT_BINS := $(addprefix build/unit/test_,$(CORE_UNIT_NAMES))

CORE_FUZZ_DIR := ../tests/fuzz/fcgi-app
CORE_FUZZ_NAMES := fuzz_cookie fuzz_pct fuzz_router fuzz_session
CORE_FUZZ_BINS := $(addprefix build/fuzz/,$(CORE_FUZZ_NAMES))
CORE_FUZZ_CFLAGS := -Isrc $(LIB_INC) $(BUILD_FUZZ_CFLAGS)

.PHONY: core-unit core-fuzz core-check core-clean

core-unit: $(CORE_UNIT_BINS)

core-fuzz: $(CORE_FUZZ_BINS)

# Build and run every CORE unit test once (tests/run is the real runner).
core-check: core-unit
	@rc=0; for t in $(CORE_UNIT_BINS); do \
	    case $$t in */test_vectors) \
	        sh $(CORE_UNIT_DIR)/test_vectors.sh || rc=1; continue;; esac; \
	    ./$$t || rc=1; done; exit $$rc

core-clean:
	rm -rf $(CORE_BUILD) $(LIB_BUILD) $(CORE_UNIT_BINS) $(CORE_FUZZ_BINS) \
	    $(addsuffix .d,$(CORE_UNIT_BINS))

# Each object depends on the headers its source includes
# ($(CORE_BUILD)/x.d, written by BUILD_DEPFLAGS).
$(CORE_BUILD)/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) $(BUILD_DEPFLAGS) -c -o $@ $<

$(CORE_LIB): $(CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

build/unit/test_%: $(CORE_UNIT_DIR)/test_%.c $(CORE_LIB) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -I../tests/unit $(BUILD_DEPFLAGS) -MF $@.d \
	    $(CORE_LDFLAGS) -o $@ $< $(CORE_LIB) $(LIB_A) $(CORE_LDLIBS)

# libFuzzer needs clang and its own instrumentation of every source.  One
# compiler run for several sources cannot write one .d file, so these
# depend on every CORE and lib header.
build/fuzz/fuzz_%: $(CORE_FUZZ_DIR)/fuzz_%.c $(CORE_SRCS) $(CORE_HDRS) \
                   $(LIB_SRCS) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CLANG) $(CORE_FUZZ_CFLAGS) -o $@ $< $(CORE_SRCS) $(LIB_SRCS) \
	    $(CORE_LDLIBS)

# The headers each object and unit test was built from.
-include $(wildcard $(CORE_BUILD)/*.d \
                    $(addsuffix .d,$(CORE_UNIT_BINS)))

# Standalone use (make -f core.mk ...): plain target names.
ifeq ($(notdir $(firstword $(MAKEFILE_LIST))),core.mk)
.PHONY: all unit fuzz check clean
all: $(CORE_LIB) $(LIB_A)
unit: core-unit
fuzz: core-fuzz
check: core-check
clean: core-clean
endif
