// Hugging Face GPT-2 folders (what transformers' GPT2LMHeadModel
// save_pretrained writes, and scripts/export_hf.py): config.json
// (n_positions, vocab_size, n_layer, n_head, n_embd) and model.safetensors.
//
// safetensors: uint64 little-endian N, N bytes of JSON
//   {"name": {"dtype": "F32"|"BF16"|"F16", "shape": [...], "data_offsets": [begin, end]}, ...}
// then the data (offsets relative to the end of the JSON).
// Tensor names as GPT2Model's (wte.weight, h.0.attn.c_attn.weight, ...),
// with or without GPT2LMHeadModel's "transformer." prefix; lm_head.weight,
// when present, must equal wte.weight (tied). Conv1D weights are stored
// (in, out): they are transposed into our (out, in). The vocabulary is
// padded to a multiple of 128 with zero rows.
#ifndef MODEL_HF_MODEL_H
#define MODEL_HF_MODEL_H

#include "model/gpt2.h"

// 1 if dir is a directory holding model.safetensors.
int hf_is_folder(const char *dir);
// Shape from config.json (padded vocabulary: the next multiple of 128).
// Fails with one line naming the file and field on any problem.
void hf_read_config(const char *dir, GPT2Config *out);
// Loads the weights into m (built with hf_read_config's shape).
void hf_load(GPT2 *m, const char *dir);

#endif
