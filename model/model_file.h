// llm.c model files (fp32, version 3): the checkpoint format for weights.
//   header: 256 int32: [0]=20240326 (magic) [1]=3 (fp32) [2]=maxT [3]=V [4]=L
//           [5]=NH [6]=C [7]=Vp; the rest zero
//   then the 16 tensor kinds in llm.c's order (wte, wpe, ln1w[L], ln1b[L],
//   qkvw[L], qkvb[L], attprojw[L], attprojb[L], ln2w[L], ln2b[L], fcw[L],
//   fcb[L], fcprojw[L], fcprojb[L], lnfw, lnfb), each kind for all layers
//   together, fp32. Our buffer is block-major; this file converts.
#ifndef MODEL_MODEL_FILE_H
#define MODEL_MODEL_FILE_H

#include "common/atomic_file.h"
#include "model/gpt2.h"

#define MODEL_FILE_MAGIC 20240326
#define MODEL_FILE_VERSION_FP32 3
#define MODEL_FILE_VERSION_BF16 5  // llm.c's bf16 weights: read only (widened to fp32)

// Reading also accepts llm.c's bf16 version-5 files (same header and order,
// bf16 values) and Hugging Face GPT-2 folders (model/hf_model.h); saving
// always writes fp32 version 3.

// 1 if path is a Hugging Face folder (a directory with model.safetensors).
int model_file_is_hf_folder(const char *path);
// Reads and validates the header (magic, version, positive dimensions,
// heads dividing channels, Vp >= V, file size matching the dimensions), or
// a Hugging Face folder's config.json.
// Fails with one line naming the file on any problem.
void model_file_read_config(const char *path, GPT2Config *out);
// Loads weights into m (built with the same config; fails naming the
// mismatched dimension otherwise).
void model_file_load(GPT2 *m, const char *path);
// Writes m's weights atomically (temporary file, fsync, rename); returns
// the file's size and CRC-32 (recorded in the checkpoint's state file).
FileDigest model_file_save(const GPT2 *m, const char *path);

#endif
