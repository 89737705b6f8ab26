# sdc build. Targets:
#   make            release build: build/release/sdc and libsdc.a
#   make test       sanitizer build (ASan + UBSan), then every test (tests/run.sh)
#   make bench      release build of bench/, then the op benchmark table
#   make fuzz       libFuzzer targets (clang), see fuzz/README.md
#   make asan       sanitizer build only
#   make bin        CLI + test binary in $(BUILD) (e.g. make MODE=asan BUILD=build/mine bin)
# Variables: MODE=release|asan|debug, WERROR=0 to allow warnings, CC=clang.
#
# Sources are found by folder: every src/**/*.c goes into libsdc.a; files
# named *_avx2.c / *_avx512.c are compiled with those ISA flags only (the
# dispatcher picks them at run time, so one binary runs on any x86-64);
# tests/unit/*.c and tests/ref/*.c form the test binary; tools/cli/*.c the CLI.

MODE ?= release
CC ?= cc
WERROR ?= 1
BUILD ?= build/$(MODE)
TEST_BUILD ?= build/asan
Q ?= @

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
CSTD := -std=c11 -D_GNU_SOURCE
INCLUDES := -Isrc -Iinclude -Itests
OPT_release := -O2 -g -fno-omit-frame-pointer
OPT_debug := -O0 -g
OPT_asan := -O2 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDOPT_asan := -fsanitize=address,undefined
CFLAGS_ALL := $(CSTD) $(WARN) $(INCLUDES) $(OPT_$(MODE)) -MMD -MP $(CFLAGS)
LDLIBS := -lcivetweb -ljansson -lpng -ljpeg -lwebp -lyaml -lcrypto -lz -lutf8proc -lm -lpthread
LDFLAGS_ALL := $(LDOPT_$(MODE)) $(LDFLAGS)

ISA_avx2 := -mavx2 -mfma -mf16c
ISA_avx512 := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mfma -mf16c

LIB_SRC := $(shell find src -name '*.c' | sort)
CLI_SRC := $(shell find tools/cli -name '*.c' | sort)
TEST_SRC := tests/harness.c $(shell find tests/unit tests/ref -name '*.c' 2>/dev/null | sort)
BENCH_SRC := $(shell find bench -name '*.c' 2>/dev/null | sort)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ := $(call obj,$(LIB_SRC))
CLI_OBJ := $(call obj,$(CLI_SRC))
TEST_OBJ := $(call obj,$(TEST_SRC))
BENCH_OBJ := $(call obj,$(BENCH_SRC))

LIB := $(BUILD)/libsdc.a
CLI := $(BUILD)/sdc
TESTS := $(BUILD)/sdc_tests
BENCH := $(BUILD)/sdc_bench

.PHONY: all bin test asan bench bench-e2e fuzz clean demo
all: $(LIB) $(CLI)

$(BUILD)/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	$(Q)$(CC) $(CFLAGS_ALL) $(ISA_avx2) -c $< -o $@

$(BUILD)/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	$(Q)$(CC) $(CFLAGS_ALL) $(ISA_avx512) -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@echo "AR $@"
	$(Q)ar rcs $@ $^

$(CLI): $(CLI_OBJ) $(LIB)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(TESTS): $(TEST_OBJ) $(LIB)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(TEST_OBJ) $(LIB) $(LDLIBS)

$(BENCH): $(BENCH_OBJ) $(LIB)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(BENCH_OBJ) $(LIB) $(LDLIBS)

# CLI + test binary in $(BUILD) (helpers building in parallel use BUILD=build/NAME)
bin: $(CLI) $(TESTS)

asan:
	$(MAKE) MODE=asan bin

test:
	$(MAKE) MODE=asan BUILD=$(TEST_BUILD) bin
	SDC_BIN=$(TEST_BUILD)/sdc SDC_TESTS=$(TEST_BUILD)/sdc_tests tests/run.sh

bench:
	$(MAKE) MODE=release build/release/sdc build/release/sdc_bench
	build/release/sdc_bench ops

# Whole-model stages on a full-size random SD 1.5 (BENCHMARKS.md)
bench-e2e:
	$(MAKE) MODE=release build/release/sdc build/release/sdc_bench
	scripts/bench_e2e.sh

# libFuzzer targets (clang): $(FUZZ_BUILD)/fuzz_NAME for every fuzz/fuzz_NAME.c, linked
# against the parser layers built with coverage + ASan/UBSan. fuzz/run.sh runs them.
FUZZ_BUILD ?= build/fuzz
FUZZ_CC ?= clang
FUZZ_SRC := $(shell find src/base src/tensor src/formats src/image -name '*.c' 2>/dev/null | sort)
FUZZ_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_SRC))
FUZZ_FLAGS := $(CSTD) -Isrc -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS := $(patsubst fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard fuzz/fuzz_*.c))

fuzz: $(FUZZ_TARGETS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC (fuzz) $<"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libfuzzdeps.a: $(FUZZ_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

# fuzz_workflow reaches the whole library (the node table links the pipeline)
FUZZ_REST_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out $(FUZZ_SRC),$(LIB_SRC)))

$(FUZZ_BUILD)/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	@echo "CC (fuzz) $<"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(ISA_avx2) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	@echo "CC (fuzz) $<"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(ISA_avx512) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libfuzzall.a: $(FUZZ_OBJ) $(FUZZ_REST_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_workflow: fuzz/fuzz_workflow.c $(FUZZ_BUILD)/libfuzzall.a
	@echo "LD $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $< $(FUZZ_BUILD)/libfuzzall.a $(LDLIBS) -o $@

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_BUILD)/libfuzzdeps.a
	@echo "LD $@"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $< $(FUZZ_BUILD)/libfuzzdeps.a $(LDLIBS) -o $@

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

# The README's first command: build, make a random tiny model, generate an image.
demo: all
	scripts/demo.sh
