# GPT-2 + OMGD trainer.  `make` builds the CPU trainer, `make test` runs every test.
CC ?= gcc
CFLAGS ?= -O3 -march=native
CFLAGS += -std=c11 -Wall -Wextra -Wno-unused-parameter -fopenmp -D_GNU_SOURCE -I.
# DEPS_ROOT: a folder of unpacked Debian packages (cJSON, OpenBLAS) for a
# machine that lacks them (scripts/gpu_check.sh on the GPU machine).
ifneq ($(DEPS_ROOT),)
DEPS_LIB = $(DEPS_ROOT)/usr/lib/x86_64-linux-gnu
DEPS_CFLAGS = -I$(DEPS_ROOT)/usr/include -I$(DEPS_ROOT)/usr/include/x86_64-linux-gnu/openblas-openmp
DEPS_LDFLAGS = -L$(DEPS_LIB) -Wl,-rpath,$(DEPS_LIB)
OPENBLAS_OPENMP = $(DEPS_LIB)/openblas-openmp
CFLAGS += $(DEPS_CFLAGS)
endif
# OpenBLAS built on OpenMP (Debian's libopenblas0-openmp) shares the
# trainer's OpenMP threads; the default pthread build would start its own
# threads that compete with OpenMP's spinning ones (2x slower on 2 cores).
OPENBLAS_OPENMP ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
ifneq ($(wildcard $(OPENBLAS_OPENMP)/libopenblas.so),)
BLAS_LIBS = -L$(OPENBLAS_OPENMP) -Wl,-rpath,$(OPENBLAS_OPENMP) -lopenblas
else
BLAS_LIBS = -lopenblas
endif
LDLIBS = $(DEPS_LDFLAGS) -lcjson $(BLAS_LIBS) -lm -fopenmp

# With Open MPI installed the CPU trainer is built with mpicc and runs under
# mpirun -np N (data parallel); without it, as a single process.
MPICC := $(shell command -v mpicc 2>/dev/null)
ifneq ($(MPICC),)
CC = mpicc
CFLAGS += -DUSE_MPI
COMM_SRC = comm/comm_mpi.c comm/mpi_host.c
else
COMM_SRC = comm/comm_local.c
endif
CUDA_HOME ?= /usr/local/cuda

BUILD = build
# the fs and tcp rendezvous need no MPI: every build has them
CORE_SRC = $(wildcard common/*.c) $(wildcard model/*.c) $(wildcard data/*.c) $(wildcard omgd/*.c) \
           comm/rendezvous.c comm/rendezvous_fs.c comm/rendezvous_tcp.c
LIB_SRC = $(CORE_SRC) $(COMM_SRC)
LIB_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
TEST_SRC = $(wildcard test/test_*.c) $(wildcard test/tool_*.c)
TEST_BIN = $(patsubst test/%.c,$(BUILD)/tests/%,$(TEST_SRC))
HEADERS = $(wildcard common/*.h) $(wildcard model/*.h) $(wildcard data/*.h) $(wildcard omgd/*.h) $(wildcard comm/*.h)

FUZZ_SRC = $(wildcard test/fuzz/fuzz_*.c)
FUZZ_BIN = $(patsubst test/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_CFLAGS = -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE -I.

.PHONY: all tests test fuzz clean comm_nccl
all: train_gpt2 sample_gpt2

train_gpt2: train_gpt2.c $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# Sampling from a trained model (CPU engine); sample_gpt2cu in cuda.mk
sample_gpt2: sample_gpt2.c $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: test/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

tests: train_gpt2 sample_gpt2 $(TEST_BIN)

# GPT-2's BPE encoder in C (data/bpe/): a shared library that
# data/tokenize_files.py loads with ctypes. Needs PCRE2 (Debian's libpcre2-dev).
BPE_LIB = $(BUILD)/libgpt2bpe.so
BPE_CC ?= gcc
.PHONY: bpe
bpe: $(BPE_LIB)
$(BPE_LIB): data/bpe/bpe_encoder.c data/bpe/bpe_encoder.h
	@mkdir -p $(dir $@)
	$(BPE_CC) $(CFLAGS) -fPIC -shared -o $@ data/bpe/bpe_encoder.c $(DEPS_LDFLAGS) -lpcre2-8 -lcjson
tests: $(BPE_LIB)

# libFuzzer harnesses for every file reader (clang; see test/test_fuzz.sh)
fuzz: $(FUZZ_BIN)

$(BUILD)/fuzz/%: test/fuzz/%.c test/fuzz/fuzz_common.h $(CORE_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(filter-out model/engine_cpu.c,$(CORE_SRC)) comm/comm_local.c -lcjson $(BLAS_LIBS) -lm

# The NCCL back end of the communication layer on its own (the GPU trainer
# links it: cuda.mk), compiled against CUDA, NCCL and MPI headers.
comm_nccl: $(BUILD)/comm/comm_nccl.o
$(BUILD)/comm/comm_nccl.o: comm/comm_nccl.c $(HEADERS)
	@mkdir -p $(dir $@)
	mpicc $(CFLAGS) -I$(CUDA_HOME)/include -c -o $@ $<

# comm/comm_nccl.c built on the stand-ins of test/host/nccl_on_files/ (no
# GPU, no NCCL, no MPI): test/test_comm_nccl_on_files.sh runs it as N processes.
COMM_NCCL_FAKE_OBJ = $(filter-out $(BUILD)/comm/comm_mpi.o $(BUILD)/comm/mpi_host.o $(BUILD)/comm/comm_local.o,$(LIB_OBJ))
$(BUILD)/tests/comm_nccl_on_files: test/host/nccl_on_files/tool.c test/host/nccl_on_files/fake.c comm/comm_nccl.c \
                                   test/host/nccl_on_files/nccl.h test/host/nccl_on_files/cuda_runtime.h $(COMM_NCCL_FAKE_OBJ)
	@mkdir -p $(dir $@)
	gcc -O1 -std=c11 -Wall -Wextra -Wno-unused-parameter -fopenmp -D_GNU_SOURCE -I. -Itest/host/nccl_on_files $(DEPS_CFLAGS) \
	    -o $@ test/host/nccl_on_files/tool.c test/host/nccl_on_files/fake.c comm/comm_nccl.c $(COMM_NCCL_FAKE_OBJ) $(LDLIBS)

test: tests
	test/run_tests.sh

clean:
	rm -rf $(BUILD) train_gpt2 train_gpt2cu train_gpt2fp32cu sample_gpt2 sample_gpt2cu sample_gpt2fp32cu

# The GPU trainer (nvcc): train_gpt2cu (bf16) and train_gpt2fp32cu
-include cuda.mk
