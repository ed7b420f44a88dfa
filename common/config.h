// The run configuration: JSON file (cJSON) + command-line overrides.
//
//   ./train_gpt2 --config FILE [--set key.path=value ...]
//
// Every key has a default (see config.c's key table, the single source of
// truth, and the README's config reference). Unknown keys, wrong types and
// out-of-range values are rejected before any work starts with one line:
//   error: FILE: key.path: expected ..., got ...
//   error: --set key.path: expected ..., got ...     (an override)
// docs/config-reference.md lists every key (./train_gpt2 --dump-keys-markdown).
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#define CONFIG_STR 512

typedef struct {
    char preset[CONFIG_STR];     // "" | d12 | d24 | d36 | d48 | small CPU presets; fills depth/channels/heads not set explicitly
    int depth;                   // number of transformer blocks
    int channels;                // model width C
    int heads;                   // attention heads (must divide channels)
    int context;                 // maximum sequence length (position embeddings)
    int vocab;                   // real vocabulary size (50257 for GPT-2)
    int padded_vocab;            // 0 = vocab rounded up to a multiple of 128
    char init_from[CONFIG_STR];  // "" = random init, else an llm.c model file (fp32 or bf16) or a Hugging Face folder
    uint64_t seed;               // initialisation seed
} ModelConfig;

typedef struct {
    char train[CONFIG_STR];  // glob of training shards
    char val[CONFIG_STR];    // glob of validation shards ("" = no validation)
    char tokenizer[CONFIG_STR];  // llm.c tokenizer file, for decoding samples
    char hellaswag[CONFIG_STR];  // llm.c's hellaswag_val.bin ("" = none)
    int shuffle;             // bool: random reshuffling of windows each epoch
    uint64_t seed;           // data order seed
} DataConfig;

typedef struct {
    int batch_size;               // micro-batch size B
    int seq_len;                  // sequence length T (<= model.context)
    long long total_batch_tokens; // tokens per optimizer step; 0 = B*T (no accumulation); multiple of B*T
    int steps;                    // optimizer steps to run
    int val_every;                // 0 = never (validation also runs at the last step when > 0)
    int val_steps;                // micro-batches per validation
    int sample_every;             // 0 = never
    int sample_tokens;            // tokens generated per sample
    int hellaswag_every;          // 0 = never (also runs at the last step when > 0)
    char on_nonfinite[8];         // skip | stop
    double spike_zscore;          // 0 = off
    int skip_spikes;              // bool
    int plan_only;                // bool: print the memory plan, check it fits, exit
    int recompute;                // GPU trainer: 0 store all activations, 1 recompute GELU, 2 GELU + LayerNorm
} TrainConfig;

typedef struct {
    double lr;
    double min_lr;
    int warmup_steps;
    char schedule[16];  // cosine | linear | constant
    double beta1, beta2, eps;
    double weight_decay;
    double grad_clip;   // 0 = no clipping
} OptimizerConfig;

typedef struct {
    char dir[CONFIG_STR];   // run directory: log.jsonl, config.json, checkpoints
    int checkpoint_every;   // 0 = only at the end
    int keep_last;          // 0 = keep all checkpoints
    int branch;             // bool: resuming an older checkpoint moves the newer ones aside
    char resume[CONFIG_STR];// "" = fresh run | "latest" | path of a model_*.bin checkpoint
} OutputConfig;

typedef struct {
    char mode[16];          // none | lisa | omgd | omgd_tensor
    int active_layers;      // gamma (omgd_tensor: number of groups M)
    int switch_interval;    // K steps per period; 0 = one data epoch per period ("epoch")
    int warmup_steps;       // full-parameter steps before masking
    char pool_reset[16];    // empty | below_gamma
    double grad_scale;      // 0 = auto ("auto")
    char state[16];         // keep | reset
    uint64_t seed;
    char replay[CONFIG_STR];  // "" or a schedule replay file
} OmgdConfig;

typedef struct {
    char init[8];            // auto | mpi | fs | tcp: how the ranks of a job find each other
    char dir[CONFIG_STR];    // fs: a directory on a file system every node shares
    char host[256];          // tcp: rank 0's host name or address
    int port;                // tcp: the port rank 0 listens on
    double timeout_s;        // the longest a rank waits for the others to start
} CommConfig;

#define CONFIG_MAX_KEYS 128

// Values of Config.is_set (and of config_is_set): where a key was given.
#define CONFIG_DEFAULT 0   // not given: the default, or filled by model.preset
#define CONFIG_FROM_FILE 1 // in the --config file
#define CONFIG_FROM_SET 2  // by --set (which wins over the file)

typedef struct {
    ModelConfig model;
    DataConfig data;
    TrainConfig train;
    OptimizerConfig optimizer;
    OutputConfig output;
    OmgdConfig omgd;
    CommConfig comm;
    char source[CONFIG_STR];  // the config file name (for messages)
    unsigned char is_set[CONFIG_MAX_KEYS];  // per key of the table: CONFIG_DEFAULT / _FROM_FILE / _FROM_SET
} Config;

// Fills cfg with defaults, reads --config FILE (optional) and applies every
// --set key=value in order, then model.preset (it fills depth, channels and
// heads not given explicitly). Validates everything; on error prints one
// line and exits with status 1. argv[0] is the program name. --help (or -h)
// prints the usage and every key, --help-markdown the README's table and
// --dump-keys-markdown docs/config-reference.md's tables; each exits 0.
void config_from_args(Config *cfg, int argc, char **argv);
// Same, but from an already-split file name (NULL = none) and override list
// ("key.path=value" each).
void config_load(Config *cfg, const char *path, int nsets, const char *const *sets);
// Writes the effective configuration (every key, after the preset) as pretty
// JSON in the same section/key shape, atomically (temporary file + rename).
// config_load of that file gives the same values (is_set and source aside).
void config_write_json(const Config *cfg, const char *path);
// The same JSON text (malloc'd; the caller frees it).
char *config_to_json(const Config *cfg);
// Whether the user gave this key explicitly: CONFIG_FROM_FILE or
// CONFIG_FROM_SET (both non-zero), else CONFIG_DEFAULT (0). An unknown key
// is a programming error (fails).
int config_is_set(const Config *cfg, const char *key_path);
// Fails in one line about a key, naming where its value came from:
// "--set key: msg", or "FILE: key: msg" (the config file, also for a default).
void config_fail_key(const Config *cfg, const char *key_path, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
// The keys that decide how the run trains (model, data order, batch,
// optimizer, OMGD; not output, validation, samples or train.steps), one
// "key=value" line each (malloc'd): stored in checkpoints so that a resume
// can say which of them changed.
char *config_training_text(const Config *cfg);
// Compares two such texts: for each key whose value differs, calls
// changed(key, old value, new value, ctx); returns how many differed.
int config_training_diff(const char *old_text, const char *new_text,
                         void (*changed)(const char *key, const char *was, const char *now, void *ctx), void *ctx);
// The value of key in such a text into buf (0 if absent).
int config_training_value(const char *text, const char *key, char *buf, size_t cap);
// The key table: number of keys and the i-th "section.key" (NULL outside).
int config_key_count(void);
const char *config_key_path(int i);
// The Markdown tables of docs/config-reference.md (keys, then presets).
void config_write_markdown(FILE *f);

#endif
