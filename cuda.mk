# CUDA builds (included by the Makefile). This machine type has nvcc but no
# GPU: CI compiles everything here; scripts/gpu_check.sh runs it on a GPU.
#   make train_gpt2cu      the GPU trainer, bf16 (fp32 master weights)
#   make train_gpt2fp32cu  the same in fp32, for exact comparison with the CPU
#   make gpu_checks        the kernel checks, bf16 and fp32 builds
#   make sample_gpt2cu     ./sample_gpt2 on the GPU engine (sample_gpt2fp32cu: fp32)
#   make gpu               all of them
# GPU_ARCH picks the targets (the GPU check builds sm_90 only).
NVCC ?= $(CUDA_HOME)/bin/nvcc
GPU_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
NVCC_FLAGS = -std=c++17 -O3 -I. $(GPU_ARCH) -Xcompiler -Wall
# CUBLAS_ROOT: cuBLAS from elsewhere than the toolkit (the nvidia-cublas
# Python package: include/ and lib/; CUBLAS_LINKDIR holds a libcublasLt.so
# link to its versioned library), for machines whose toolkit lacks it.
ifneq ($(CUBLAS_ROOT),)
NVCC_FLAGS += -I$(CUBLAS_ROOT)/include
CUBLAS_LINK = -L$(CUBLAS_LINKDIR) -Xlinker -rpath,$(CUBLAS_ROOT)/lib
endif
ifneq ($(wildcard $(OPENBLAS_OPENMP)/libopenblas.so),)
NVCC_BLAS = -L$(OPENBLAS_OPENMP) -Xlinker -rpath,$(OPENBLAS_OPENMP) -lopenblas
else
NVCC_BLAS = -lopenblas
endif
# the CPU reference the checks compare with
GPU_CHECK_DEPS = $(BUILD)/model/cpu_layers.o $(BUILD)/common/error.o
GPU_CHECK_LIBS = $(GPU_CHECK_DEPS) -Xcompiler -fopenmp $(NVCC_BLAS) $(CUBLAS_LINK) -lcublasLt -lm
KERNEL_HEADERS = $(wildcard kernels/*.cuh) $(wildcard omgd/*.cuh) $(HEADERS)

GPU_CHECK_SRC = $(wildcard test/gpu/check_*.cu)
GPU_CHECKS = $(patsubst test/gpu/%.cu,$(BUILD)/gpu/%,$(GPU_CHECK_SRC)) \
             $(patsubst test/gpu/%.cu,$(BUILD)/gpu/%_fp32,$(GPU_CHECK_SRC))

.PHONY: gpu_checks
gpu_checks: $(GPU_CHECKS)

$(BUILD)/gpu/%_fp32: test/gpu/%.cu $(KERNEL_HEADERS) $(GPU_CHECK_DEPS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -DENABLE_FP32 -o $@ $< $(GPU_CHECK_LIBS)

$(BUILD)/gpu/%: test/gpu/%.cu $(KERNEL_HEADERS) $(GPU_CHECK_DEPS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -o $@ $< $(GPU_CHECK_LIBS)

# The GPU trainer: train_gpt2.c's main() and the host code (config, data,
# checkpoints, OMGD schedule and state store) built with the plain C
# compiler (one GPU: no MPI; no -march=native, so a binary built here runs
# on the GPU machine), linked with the CUDA engine train_gpt2.cu.
HOST_CC ?= gcc
HOST_CFLAGS = -O3 -std=c11 -Wall -Wextra -Wno-unused-parameter -fopenmp -D_GNU_SOURCE -I. $(DEPS_CFLAGS)
GPU_HOST_SRC = train_gpt2.c $(filter-out model/engine_cpu.c,$(CORE_SRC)) comm/comm_local.c
GPU_HOST_OBJ = $(patsubst %.c,$(BUILD)/gpu_host/%.o,$(GPU_HOST_SRC))
ifneq ($(DEPS_LIB),)
NVCC_DEPS = -L$(DEPS_LIB) -Xlinker -rpath,$(DEPS_LIB)
endif
# Several GPUs (comm/comm_nccl.c): NCCL from the toolkit, or from NCCL_ROOT
# (include/, lib/: e.g. the nvidia-nccl Python package); started through MPI
# too where Open MPI's mpicc is present (comm.init mpi), else through the fs
# or tcp rendezvous only. Without nccl.h the trainer is built for one GPU
# (comm/comm_local.c) and says so when started as several ranks.
NCCL_ROOT ?= $(CUDA_HOME)
NCCL_LIBDIR ?= $(firstword $(wildcard $(NCCL_ROOT)/lib64/libnccl.so*) $(wildcard $(NCCL_ROOT)/lib/libnccl.so*))
HAVE_NCCL := $(wildcard $(NCCL_ROOT)/include/nccl.h)
MPI_COMPILE = $(shell mpicc --showme:compile 2>/dev/null)
MPI_LINK = $(shell mpicc --showme:link 2>/dev/null)
ifneq ($(HAVE_NCCL),)
NCCL_DIR = $(dir $(NCCL_LIBDIR))
ifneq ($(MPICC),)
NCCL_CFLAGS = -I$(NCCL_ROOT)/include $(MPI_COMPILE) -DUSE_MPI
NCCL_MPI_LINK = $(MPI_LINK)
else
NCCL_CFLAGS = -I$(NCCL_ROOT)/include
endif
GPU_TRAINER_COMM = $(BUILD)/gpu_host/comm/comm_nccl.o
GPU_TRAINER_NCCL = -L$(NCCL_DIR) -Xlinker -rpath,$(NCCL_DIR) -lnccl $(NCCL_MPI_LINK)
else
GPU_TRAINER_COMM = $(BUILD)/gpu_host/comm/comm_local.o
endif
GPU_TRAINER_OBJ = $(filter-out $(BUILD)/gpu_host/comm/comm_local.o,$(GPU_HOST_OBJ)) $(GPU_TRAINER_COMM)
$(BUILD)/gpu_host/comm/comm_nccl.o: comm/comm_nccl.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) $(NCCL_CFLAGS) -c -o $@ $<
GPU_TRAINER_LIBS = $(GPU_TRAINER_OBJ) $(CUBLAS_LINK) -lcublasLt $(NVCC_DEPS) -lcjson -Xcompiler -fopenmp $(NVCC_BLAS) $(GPU_TRAINER_NCCL) -lm

.PHONY: gpu
gpu: train_gpt2cu train_gpt2fp32cu sample_gpt2cu sample_gpt2fp32cu gpu_checks gpu_host_tests

$(BUILD)/gpu_host/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) -c -o $@ $<

$(BUILD)/gpu/train_gpt2.o: train_gpt2.cu $(KERNEL_HEADERS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -c -o $@ $<
$(BUILD)/gpu/train_gpt2_fp32.o: train_gpt2.cu $(KERNEL_HEADERS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -DENABLE_FP32 -c -o $@ $<

# sample_gpt2.c on the GPU engine, bf16 and fp32 (test/gpu/check_hf_transformers.py
# compares their greedy tokens with the CPU's)
SAMPLE_GPU_OBJ = $(BUILD)/gpu_host/sample_gpt2.o $(filter-out $(BUILD)/gpu_host/train_gpt2.o,$(GPU_HOST_OBJ))
SAMPLE_GPU_LIBS = $(CUBLAS_LINK) -lcublasLt $(NVCC_DEPS) -lcjson -Xcompiler -fopenmp $(NVCC_BLAS) -lm
sample_gpt2cu: $(BUILD)/gpu/train_gpt2.o $(SAMPLE_GPU_OBJ)
	$(NVCC) $(NVCC_FLAGS) -o $@ $^ $(SAMPLE_GPU_LIBS)
sample_gpt2fp32cu: $(BUILD)/gpu/train_gpt2_fp32.o $(SAMPLE_GPU_OBJ)
	$(NVCC) $(NVCC_FLAGS) -o $@ $^ $(SAMPLE_GPU_LIBS)
train_gpt2cu: $(BUILD)/gpu/train_gpt2.o $(GPU_TRAINER_OBJ)
	$(NVCC) $(NVCC_FLAGS) -o $@ $< $(GPU_TRAINER_LIBS)
train_gpt2fp32cu: $(BUILD)/gpu/train_gpt2_fp32.o $(GPU_TRAINER_OBJ)
	$(NVCC) $(NVCC_FLAGS) -o $@ $< $(GPU_TRAINER_LIBS)

# GPU code run on the CPU (test/host/test_*.cu: the device slice's
# bookkeeping, the attention kernels' tiles), no GPU needed; bf16 and fp32
# layouts. Run by test/test_gpu_code_on_cpu.sh.
HOST_TEST_OBJ = $(filter-out $(BUILD)/gpu_host/train_gpt2.o,$(GPU_HOST_OBJ))
HOST_TEST_LIBS = $(HOST_TEST_OBJ) $(NVCC_DEPS) -lcjson -Xcompiler -fopenmp $(NVCC_BLAS) -lm
HOST_TEST_SRC = $(wildcard test/host/test_*.cu)
HOST_TESTS = $(patsubst test/host/%.cu,$(BUILD)/gpu/%,$(HOST_TEST_SRC)) \
             $(patsubst test/host/%.cu,$(BUILD)/gpu/%_fp32,$(HOST_TEST_SRC))
.PHONY: gpu_host_tests
gpu_host_tests: $(HOST_TESTS)
$(BUILD)/gpu/test_%_fp32: test/host/test_%.cu $(KERNEL_HEADERS) $(HOST_TEST_OBJ)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -DENABLE_FP32 -o $@ $< $(HOST_TEST_LIBS)
$(BUILD)/gpu/test_%: test/host/test_%.cu $(KERNEL_HEADERS) $(HOST_TEST_OBJ)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -o $@ $< $(HOST_TEST_LIBS)

# The GPU engine built to run on the CPU (a test build: kernel launchers and
# CUDA calls replaced by CPU code, test/host/engine_on_cpu.cuh), run by
# test/test_gpu_engine_on_cpu.sh against the CPU trainer.
ENGINE_ON_CPU_LIBS = $(GPU_HOST_OBJ) $(NVCC_DEPS) -lcjson -Xcompiler -fopenmp $(NVCC_BLAS) -lm
ENGINE_ON_CPU_DEPS = train_gpt2.cu test/host/engine_on_cpu.cuh test/host/cuda_on_host.cuh $(KERNEL_HEADERS) $(GPU_HOST_OBJ)
$(BUILD)/gpu/train_gpt2_engine_on_cpu: $(ENGINE_ON_CPU_DEPS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -DENABLE_FP32 -DENGINE_ON_CPU -o $@ $< $(ENGINE_ON_CPU_LIBS)

# The same CPU build of the engine under mpirun (test/test_gpu_engine_mpi_on_cpu.sh):
# the MPI back end of comm.h (host buffers: the CPU build's "device" memory)
# stands in for NCCL. Needs Open MPI (mpicc).
MPI_COMPILE = $(shell mpicc --showme:compile 2>/dev/null)
MPI_LINK = $(shell mpicc --showme:link 2>/dev/null)
GPU_HOST_MPI_OBJ = $(filter-out $(BUILD)/gpu_host/comm/comm_local.o,$(GPU_HOST_OBJ)) \
                   $(BUILD)/gpu_host_mpi/comm/comm_mpi.o $(BUILD)/gpu_host_mpi/comm/mpi_host.o
$(BUILD)/gpu_host_mpi/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) $(MPI_COMPILE) -DUSE_MPI -c -o $@ $<
$(BUILD)/gpu/train_gpt2_engine_on_cpu_mpi: $(ENGINE_ON_CPU_DEPS) $(GPU_HOST_MPI_OBJ)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -DENABLE_FP32 -DENGINE_ON_CPU -o $@ $< $(GPU_HOST_MPI_OBJ) $(NVCC_DEPS) -lcjson \
	    -Xcompiler -fopenmp $(NVCC_BLAS) $(MPI_LINK) -lm

# Ordering mutants (test/test_gpu_ordering_on_cpu.sh, scripts/gpu_check.sh):
# the engine without one of its two waits between the compute and the copy
# stream; their runs must differ from the CPU trainer's.
#   _no_update_wait: the update does not wait for the period switch's copies
#   _no_copy_wait:   the copies do not wait for the previous update
ORDERING_MUTANTS = no_update_wait no_copy_wait
mutant_flag = -DOMGD_TEST_$(shell echo $(1) | tr a-z A-Z)
$(BUILD)/gpu/train_gpt2_engine_on_cpu_%: $(ENGINE_ON_CPU_DEPS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -DENABLE_FP32 -DENGINE_ON_CPU $(call mutant_flag,$*) -o $@ $< $(ENGINE_ON_CPU_LIBS)
.PHONY: ordering_on_cpu
ordering_on_cpu: $(BUILD)/gpu/train_gpt2_engine_on_cpu $(patsubst %,$(BUILD)/gpu/train_gpt2_engine_on_cpu_%,$(ORDERING_MUTANTS))

# The GPU ordering tests' builds (fp32, scripts/gpu_check.sh): a kernel
# spins SPIN_MS on the copy stream at each period switch and on the compute
# stream before each update; the run must equal the plain fp32 build's, and
# each mutant's must differ.
SPIN_MS ?= 50
$(BUILD)/gpu/train_gpt2_fp32_spin.o: train_gpt2.cu $(KERNEL_HEADERS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -DENABLE_FP32 -DOMGD_TEST_SPIN_MS=$(SPIN_MS) -c -o $@ $<
$(BUILD)/gpu/train_gpt2_fp32_spin_%.o: train_gpt2.cu $(KERNEL_HEADERS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -DENABLE_FP32 -DOMGD_TEST_SPIN_MS=$(SPIN_MS) $(call mutant_flag,$*) -c -o $@ $<
$(BUILD)/gpu/train_gpt2fp32cu_spin: $(BUILD)/gpu/train_gpt2_fp32_spin.o $(GPU_TRAINER_OBJ)
	$(NVCC) $(NVCC_FLAGS) -o $@ $< $(GPU_TRAINER_LIBS)
$(BUILD)/gpu/train_gpt2fp32cu_spin_%: $(BUILD)/gpu/train_gpt2_fp32_spin_%.o $(GPU_TRAINER_OBJ)
	$(NVCC) $(NVCC_FLAGS) -o $@ $< $(GPU_TRAINER_LIBS)
.PHONY: gpu_ordering
gpu_ordering: $(BUILD)/gpu/train_gpt2fp32cu_spin $(patsubst %,$(BUILD)/gpu/train_gpt2fp32cu_spin_%,$(ORDERING_MUTANTS))
