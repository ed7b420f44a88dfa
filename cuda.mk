# CUDA builds (included by the Makefile). This machine type has nvcc but no
# GPU: CI compiles everything here; scripts/gpu_check.sh runs it on a GPU.
#   make gpu_checks        the kernel checks, bf16 and fp32 builds
# GPU_ARCH picks the targets (the GPU check builds sm_90 only).
NVCC ?= $(CUDA_HOME)/bin/nvcc
GPU_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
NVCC_FLAGS = -std=c++17 -O3 -I. $(GPU_ARCH) -Xcompiler -Wall
ifneq ($(wildcard $(OPENBLAS_OPENMP)/libopenblas.so),)
NVCC_BLAS = -L$(OPENBLAS_OPENMP) -Xlinker -rpath,$(OPENBLAS_OPENMP) -lopenblas
else
NVCC_BLAS = -lopenblas
endif
# the CPU reference the checks compare with
GPU_CHECK_DEPS = $(BUILD)/model/cpu_layers.o $(BUILD)/common/error.o
GPU_CHECK_LIBS = $(GPU_CHECK_DEPS) -Xcompiler -fopenmp $(NVCC_BLAS) -lm
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
