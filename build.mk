# build.mk -- the C flags every component builds with: warnings, hardening,
# sanitizers, header dependencies.
#
# Included by lib/Makefile, fcgi-app/Makefile, fcgi-app/core.mk and
# collector/Makefile, so lib/'s tests, fcgi-app/fcgi-app and
# collector/collector are built the same way.  It
# defines variables only (all BUILD_*), no targets.  A Dockerfile that runs
# `make -C <component>` must COPY this file next to the component.
#
# How to compile and link:
#
#   $(CC) $(BUILD_CFLAGS) $(BUILD_DEPFLAGS) -c -o $@ $<
#   $(CC) $(BUILD_LDFLAGS) -o $@ $(objects) $(libs)
#
# The caller's CPPFLAGS, CFLAGS and LDFLAGS (a packager's, or
# `make CFLAGS=-O0`) are APPENDED to ours, never put in their place: the
# warning set, -Werror and the hardening below are always there, and a later
# flag of the caller's still wins where GCC lets the last one win (-O0,
# -Wno-error=..., -fno-stack-protector): a visible choice on the command
# line, not a silent loss.  Our own variables never assign CFLAGS, because a
# command-line CFLAGS=... would silently override that assignment.
#
# Hardening (checked on the built programs by tests/unit/test_hardening.py):
#   -fstack-protector-strong     canaries in every function with an array or
#                                an address-taken local (__stack_chk_fail)
#   -D_FORTIFY_SOURCE=2          glibc's checked memcpy/snprintf/read/...
#                                (__*_chk) wherever the object size is known;
#                                needs optimisation, hence -O2 (at -O0 glibc
#                                quietly leaves it off)
#   -fPIE / -pie                 a position-independent executable (ASLR)
#   -Wl,-z,relro,-z,now          every relocation done at start, then the GOT
#                                made read-only (full RELRO, BIND_NOW)
#
# SANITIZER=address,undefined (or any -fsanitize= list) adds the sanitizers
# to compiling and linking.  _FORTIFY_SOURCE is then left out (-U) when the
# list holds address, hwaddress, memory or thread: those runtimes intercept
# memcpy, strlen, read, ... to check every access, but not glibc's __*_chk
# variants that FORTIFY substitutes, so with both the sanitizer misses
# overflows inside those calls (or, for memory, reports false positives);
# see github.com/google/sanitizers/issues/247 and the AddressSanitizer FAQ.
# The sanitizer's checks are strictly finer than FORTIFY's there.  UBSan
# alone keeps FORTIFY.  Canaries, PIE and RELRO stay in every build.
#
# The libFuzzer harnesses (BUILD_FUZZ_CFLAGS, clang) are test tools that are
# never shipped: the warning set at -O1, libFuzzer + ASan + UBSan, no
# FORTIFY for the reason above, and no CFLAGS of the caller's (those are
# for $(CC), which need not be clang).

ifndef BUILD_MK_INCLUDED
BUILD_MK_INCLUDED := 1

BUILD_COMMA := ,

BUILD_WARN := -std=c11 -Wall -Wextra -Wpedantic -Wshadow \
              -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla \
              -Wcast-qual -Werror
BUILD_DEFS := -D_GNU_SOURCE
BUILD_OPT  := -O2 -g

# Sanitizers whose runtimes do not understand glibc's __*_chk functions.
BUILD_SAN_LIST := $(subst $(BUILD_COMMA), ,$(SANITIZER))
BUILD_NO_FORTIFY := $(filter address hwaddress memory thread, \
                      $(BUILD_SAN_LIST))

# -U first: a compiler that defines _FORTIFY_SOURCE itself (Ubuntu's gcc
# does) would otherwise warn about the redefinition, an error under
# -Werror.  A caller that sets _FORTIFY_SOURCE in CPPFLAGS or CFLAGS (as
# dpkg-buildflags does) gets that value instead of ours, for the same
# reason.
BUILD_FORTIFY := $(strip \
    $(if $(BUILD_NO_FORTIFY),-U_FORTIFY_SOURCE, \
      $(if $(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),, \
        -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)))

BUILD_HARDEN_CFLAGS = -fstack-protector-strong -fPIE $(BUILD_FORTIFY)
BUILD_HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now

BUILD_SAN_CFLAGS = $(if $(SANITIZER),-fsanitize=$(SANITIZER) \
                     -fno-omit-frame-pointer -fno-sanitize-recover=all)
BUILD_SAN_LDFLAGS = $(if $(SANITIZER),-fsanitize=$(SANITIZER))

# What every object and program of ours is compiled and linked with.
BUILD_CFLAGS = $(strip $(BUILD_WARN) $(BUILD_DEFS) $(BUILD_OPT) \
               $(BUILD_HARDEN_CFLAGS) $(BUILD_SAN_CFLAGS) $(CPPFLAGS) \
               $(CFLAGS))
BUILD_LDFLAGS = $(strip $(BUILD_HARDEN_LDFLAGS) $(BUILD_SAN_LDFLAGS) \
                $(LDFLAGS))

# Header dependencies: compiling x.c to x.o also writes x.d, the headers
# x.c includes (-MMD; system headers left out), each with an empty rule
# (-MP) so a deleted header does not stop the build.  Makefiles
# `-include` the .d files; before the first build there are none and
# every object is built anyway.  For a rule that compiles and links in one
# step, add -MF $@.d so the file lands next to the program.
BUILD_DEPFLAGS := -MMD -MP

BUILD_FUZZ_CFLAGS := $(BUILD_WARN) $(BUILD_DEFS) -O1 -g -U_FORTIFY_SOURCE \
                     -fsanitize=fuzzer,address,undefined \
                     -fno-omit-frame-pointer -fno-sanitize-recover=all

endif
