# Makefile -- top level: builds the C components and runs every test tier.
#
#   make                 build fcgi-app/fcgi-app and collector/collector
#                        (and lib/, the shared C library, on its own)
#   make test            install missing packages (tests/packages), build,
#                        then run every test tier (tests/run)
#   make check           static analysis: cppcheck, clang-tidy, shellcheck
#   make bench           benchmarks side by side with their peers
#   make run             the whole stack natively on loopback, foreground
#                        (lib/tools/stack.py)
#   make base-image      build debian:bookworm-slim locally when no registry
#                        (lib/tools/base-image.sh)
#   make swarm-secrets   create compose.swarm.yaml's Swarm secrets, once, on
#                        a swarm manager (redis/swarm-secrets.sh; PREFIX=...)
#   make clean
#
#   SANITIZER=address,undefined (or address, or undefined) builds every
#   component with those sanitizers; `make test SANITIZER=...` runs the
#   suite that way and fails on any sanitizer report.
#   TIERS="unit pool" limits the tiers tests/run runs.
#   CFLAGS=... / CPPFLAGS=... / LDFLAGS=... are appended to the flags in
#   build.mk (warnings, -Werror, hardening), which every component uses.

# lib first: its own unit tests and fuzzers (each program also builds
# lib/*.c into its own tree, through lib/lib.mk).
COMPONENTS := lib fcgi-app collector
SANITIZER  ?=
TIERS      ?=
FUZZ_SECONDS ?= 20

export SANITIZER TIERS FUZZ_SECONDS

.DEFAULT_GOAL := all

# Components whose Makefile exists (lets a partial checkout still build).
BUILT := $(foreach c,$(COMPONENTS),$(if $(wildcard $(c)/Makefile),$(c)))

.PHONY: all unit fuzz test check bench run clean base-image swarm-secrets \
        sanitizer-stamp

# Objects built with other sanitizer flags are thrown away first, so
# `make test` after `make test SANITIZER=...` never mixes the two.
STAMP := .build-sanitizer
sanitizer-stamp:
	@if [ "$$(cat $(STAMP) 2>/dev/null)" != "$(SANITIZER)" ]; then \
	    for c in $(BUILT); do $(MAKE) -s -C $$c clean; done; \
	    echo "$(SANITIZER)" > $(STAMP); fi

all: sanitizer-stamp
	@set -e; for c in $(BUILT); do $(MAKE) -C $$c all; done

unit: sanitizer-stamp
	@set -e; for c in $(BUILT); do $(MAKE) -C $$c unit; done

fuzz:
	@set -e; for c in $(BUILT); do $(MAKE) -C $$c fuzz; done

# The fuzzers are built with clang's libFuzzer and their own sanitizers, so
# they are built once whatever SANITIZER says.  tests/packages first
# installs what .ci/packages lists and is missing (as root on Debian 12),
# or stops with the command to run; the build needs it too, so the rest
# runs in a second make.
test:
	tests/packages
	@$(MAKE) --no-print-directory all unit fuzz
	tests/run

check:
	tests/check

bench: all
	@set -e; for b in tests/bench/*/run; do \
	    if [ -x "$$b" ]; then echo "== $$b"; "$$b"; fi; done

run: all
	python3 lib/tools/stack.py

base-image:
	lib/tools/base-image.sh

PREFIX ?= webstack
swarm-secrets:
	redis/swarm-secrets.sh $(PREFIX)

clean:
	@set -e; for c in $(BUILT); do $(MAKE) -C $$c clean; done
	rm -rf tests/.out $(STAMP)
