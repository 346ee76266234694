# lib/lib.mk -- how a component builds the shared C library (lib/*.c)
#
# Included by fcgi-app/Makefile, fcgi-app/core.mk, collector/Makefile and
# lib/Makefile, after ../build.mk.  The includer may set LIB_BUILD first
# (a directory of its own build tree; default build/lib relative to the
# including Makefile's directory), so each component compiles lib/ with its
# own flags and SANITIZER into its own tree and `make clean` there removes
# them.  It gives:
#
#   LIB_INC        -I for lib's headers: add it to every compile
#   LIB_A          $(LIB_BUILD)/libws.a, built with $(CC) $(BUILD_CFLAGS):
#                  link it after the component's own objects
#   LIB_FUZZ_OBJS  the same sources built with $(CLANG) $(BUILD_FUZZ_CFLAGS)
#                  for libFuzzer harnesses that link objects
#   LIB_SRCS, LIB_HDRS
#                  for harnesses that compile sources in one clang run
#
# A Dockerfile that runs `make -C <component>` must COPY lib/ next to the
# component, as it does build.mk.

ifndef LIB_MK_INCLUDED
LIB_MK_INCLUDED := 1

LIB_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
LIB_BUILD ?= build/lib

LIB_MODULES := wsaddr wsclock wsjson wsnum wsrlimit wssig wsutf8
LIB_SRCS := $(LIB_MODULES:%=$(LIB_DIR)/%.c)
LIB_HDRS := $(LIB_MODULES:%=$(LIB_DIR)/%.h)
LIB_INC := -I$(LIB_DIR)

LIB_OBJS := $(LIB_MODULES:%=$(LIB_BUILD)/obj/%.o)
LIB_A := $(LIB_BUILD)/libws.a
LIB_FUZZ_OBJS := $(LIB_MODULES:%=$(LIB_BUILD)/fuzz-obj/%.o)

# Each object depends on the headers its source includes (x.d).
$(LIB_BUILD)/obj/%.o: $(LIB_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) $(BUILD_CFLAGS) $(LIB_INC) $(BUILD_DEPFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(LIB_BUILD)/fuzz-obj/%.o: $(LIB_DIR)/%.c
	@mkdir -p $(@D)
	$(CLANG) $(BUILD_FUZZ_CFLAGS) $(LIB_INC) $(BUILD_DEPFLAGS) -c -o $@ $<

-include $(wildcard $(LIB_BUILD)/obj/*.d $(LIB_BUILD)/fuzz-obj/*.d)

endif
