// The run configuration. One table (KEYS) lists every key with its type,
// default, range and meaning; defaults, JSON parsing, --set overrides,
// validation, --help and the written config.json all read it.
#include "common/config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/atomic_file.h"
#include "common/error.h"

typedef enum { K_INT, K_INT64, K_UINT64, K_DOUBLE, K_BOOL, K_STRING } KeyType;

typedef struct {
    const char *path;     // "section.key"
    KeyType type;
    size_t offset, size;  // field in Config (size: capacity of strings)
    const char *def;      // default, written as on the command line
    double min, max;      // inclusive range of numbers
    int max_open;         // 1: the upper bound is excluded
    const char *allowed;  // strings: allowed values "a|b|c" (NULL = any)
    const char *alias;    // numbers: a keyword meaning 0, e.g. "epoch" or "auto"
    const char *doc;
} KeyDef;

#define F(field) offsetof(Config, field), sizeof(((Config *)0)->field)
#define BIG 1e18

static const KeyDef KEYS[] = {
    {"model.preset", K_STRING, F(model.preset), "", 0, 0, 0, "|d2|d4|d6|d12|d24|d36|d48", NULL,
     "shape preset: d12/d24/d36/d48 are GPT-2 124M/350M/774M/1558M, d2/d4/d6 small CPU models; fills depth, channels and heads not given explicitly"},
    {"model.depth", K_INT, F(model.depth), "12", 1, 4096, 0, NULL, NULL, "number of transformer blocks"},
    {"model.channels", K_INT, F(model.channels), "768", 1, 65536, 0, NULL, NULL, "model width C"},
    {"model.heads", K_INT, F(model.heads), "12", 1, 4096, 0, NULL, NULL, "attention heads (must divide channels)"},
    {"model.context", K_INT, F(model.context), "1024", 1, 1048576, 0, NULL, NULL, "maximum sequence length (position embeddings)"},
    {"model.vocab", K_INT, F(model.vocab), "50257", 1, 16777216, 0, NULL, NULL, "vocabulary size; the loss is over these tokens"},
    {"model.padded_vocab", K_INT, F(model.padded_vocab), "0", 0, 16777216, 0, NULL, NULL, "vocabulary rows in the tensors; 0 = vocab rounded up to a multiple of 128"},
    {"model.init_from", K_STRING, F(model.init_from), "", 0, 0, 0, NULL, NULL, "llm.c model file (fp32 version 3 or bf16 version 5) or Hugging Face GPT-2 folder (config.json + model.safetensors) to start from (sets the shape); empty = random init"},
    {"model.seed", K_UINT64, F(model.seed), "1337", 0, 0, 0, NULL, NULL, "seed of the random initialisation (and of samples)"},
    {"data.train", K_STRING, F(data.train), "data/brown/brown_train_*.bin", 0, 0, 0, NULL, NULL, "glob of training shards (llm.c format)"},
    {"data.val", K_STRING, F(data.val), "data/brown/brown_val_*.bin", 0, 0, 0, NULL, NULL, "glob of validation shards; empty = no validation"},
    {"data.tokenizer", K_STRING, F(data.tokenizer), "data/brown/gpt2_tokenizer.bin", 0, 0, 0, NULL, NULL, "llm.c tokenizer file used to decode samples"},
    {"data.hellaswag", K_STRING, F(data.hellaswag), "", 0, 0, 0, NULL, NULL, "HellaSwag evaluation file in llm.c's format (hellaswag_val.bin, see scripts/prepare_hellaswag.py); needed by train.hellaswag_every"},
    {"data.shuffle", K_BOOL, F(data.shuffle), "true", 0, 0, 0, NULL, NULL, "random reshuffling of windows and shards every epoch; false = llm.c's sequential order"},
    {"data.seed", K_UINT64, F(data.seed), "1337", 0, 0, 0, NULL, NULL, "seed of the data order"},
    {"train.batch_size", K_INT, F(train.batch_size), "4", 1, 65536, 0, NULL, NULL, "micro-batch size B (sequences)"},
    {"train.seq_len", K_INT, F(train.seq_len), "64", 1, 1048576, 0, NULL, NULL, "sequence length T (at most model.context)"},
    {"train.total_batch_tokens", K_INT64, F(train.total_batch_tokens), "0", 0, BIG, 0, NULL, NULL, "tokens per optimizer step, a multiple of B*T (gradient accumulation); 0 = B*T"},
    {"train.steps", K_INT, F(train.steps), "1000", 0, INT_MAX - 1, 0, NULL, NULL, "optimizer steps"},
    {"train.val_every", K_INT, F(train.val_every), "100", 0, INT_MAX, 0, NULL, NULL, "validation every N steps and at the end; 0 = never"},
    {"train.val_steps", K_INT, F(train.val_steps), "20", 1, INT_MAX, 0, NULL, NULL, "micro-batches per validation (capped at the split's size)"},
    {"train.sample_every", K_INT, F(train.sample_every), "0", 0, INT_MAX, 0, NULL, NULL, "print a text sample every N steps and at the end; 0 = never"},
    {"train.sample_tokens", K_INT, F(train.sample_tokens), "64", 1, 65536, 0, NULL, NULL, "tokens per sample"},
    {"train.hellaswag_every", K_INT, F(train.hellaswag_every), "0", 0, INT_MAX, 0, NULL, NULL, "HellaSwag accuracy on data.hellaswag every N steps and at the end; 0 = never"},
    {"train.on_nonfinite", K_STRING, F(train.on_nonfinite), "skip", 0, 0, 0, "skip|stop", NULL, "a NaN or infinite loss or gradient norm: skip that update (stopping after 20 in a row), or stop with a checkpoint of the last good state"},
    {"train.spike_zscore", K_DOUBLE, F(train.spike_zscore), "5", 0, BIG, 0, NULL, NULL, "a loss this many standard deviations above the mean of the last 128 steps is logged as a spike; 0 = off"},
    {"train.skip_spikes", K_BOOL, F(train.skip_spikes), "false", 0, 0, 0, NULL, NULL, "also skip the update of a spike step"},
    {"train.recompute", K_INT, F(train.recompute), "0", 0, 2, 0, NULL, NULL, "GPU trainer: recompute activations in the backward pass instead of keeping them, 0 none, 1 the GELU outputs (4C values per token per layer), 2 also the LayerNorm outputs (2C more); the CPU trainer keeps all"},
    {"train.plan_only", K_BOOL, F(train.plan_only), "false", 0, 0, 0, NULL, NULL, "print what the run would hold in memory (the GPU trainer: its device memory plan), check that it fits, and exit without training"},
    {"optimizer.lr", K_DOUBLE, F(optimizer.lr), "6e-4", 0, 10, 0, NULL, NULL, "peak learning rate"},
    {"optimizer.min_lr", K_DOUBLE, F(optimizer.min_lr), "6e-5", 0, 10, 0, NULL, NULL, "final learning rate of the cosine and linear schedules (at most lr)"},
    {"optimizer.warmup_steps", K_INT, F(optimizer.warmup_steps), "0", 0, INT_MAX, 0, NULL, NULL, "linear learning-rate warmup steps (at most train.steps)"},
    {"optimizer.schedule", K_STRING, F(optimizer.schedule), "cosine", 0, 0, 0, "cosine|linear|constant", NULL, "learning-rate decay after warmup"},
    {"optimizer.beta1", K_DOUBLE, F(optimizer.beta1), "0.9", 0, 1, 1, NULL, NULL, "AdamW beta1"},
    {"optimizer.beta2", K_DOUBLE, F(optimizer.beta2), "0.95", 0, 1, 1, NULL, NULL, "AdamW beta2"},
    {"optimizer.eps", K_DOUBLE, F(optimizer.eps), "1e-8", 1e-30, 1, 0, NULL, NULL, "AdamW epsilon (above 0: at 0 the update of a parameter without gradient is 0/0)"},
    {"optimizer.weight_decay", K_DOUBLE, F(optimizer.weight_decay), "0.1", 0, 10, 0, NULL, NULL, "decoupled weight decay, on matmul weights and embeddings only"},
    {"optimizer.grad_clip", K_DOUBLE, F(optimizer.grad_clip), "1.0", 0, BIG, 0, NULL, NULL, "global-norm gradient clipping threshold; 0 = off"},
    {"output.dir", K_STRING, F(output.dir), "runs/default", 0, 0, 0, NULL, NULL, "run directory: log.jsonl, config.json, checkpoints"},
    {"output.checkpoint_every", K_INT, F(output.checkpoint_every), "0", 0, INT_MAX, 0, NULL, NULL, "checkpoint every N steps (step 0 = initial weights) and at the end; 0 = only at the end"},
    {"output.keep_last", K_INT, F(output.keep_last), "0", 0, INT_MAX, 0, NULL, NULL, "keep only the newest N checkpoints; 0 = keep all"},
    {"output.branch", K_BOOL, F(output.branch), "false", 0, 0, 0, NULL, NULL, "resume from a checkpoint older than the newest in output.dir: the newer checkpoints and their log move to output.dir/history_after_SSSSSSSS/; false = refuse"},
    {"output.resume", K_STRING, F(output.resume), "", 0, 0, 0, NULL, NULL, "\"\" = fresh run, \"latest\" = newest checkpoint in output.dir, or a model_SSSSSSSS.bin path"},
    {"omgd.mode", K_STRING, F(omgd.mode), "none", 0, 0, 0, "none|lisa|omgd|omgd_tensor", NULL, "masking: none (plain AdamW), lisa (baseline), omgd (traversal), omgd_tensor (Algorithm 1 over tensors)"},
    {"omgd.active_layers", K_INT, F(omgd.active_layers), "3", 1, 65536, 0, NULL, NULL, "gamma: blocks active per period (omgd_tensor: number of groups M)"},
    {"omgd.switch_interval", K_INT, F(omgd.switch_interval), "100", 0, INT_MAX, 0, NULL, "epoch", "K: steps per mask period; 0 or \"epoch\" = one period per data epoch"},
    {"omgd.warmup_steps", K_INT, F(omgd.warmup_steps), "0", 0, INT_MAX, 0, NULL, NULL, "full-parameter steps before masking starts"},
    {"omgd.pool_reset", K_STRING, F(omgd.pool_reset), "empty", 0, 0, 0, "empty|below_gamma", NULL, "new cycle when no block is left (empty, the authors' code) or fewer than gamma (below_gamma, the paper)"},
    {"omgd.grad_scale", K_DOUBLE, F(omgd.grad_scale), "auto", 0, BIG, 0, NULL, "auto", "pool gradient factor after clipping; 0 or \"auto\" = N_L/gamma (omgd), M (omgd_tensor), 1 (lisa)"},
    {"omgd.state", K_STRING, F(omgd.state), "keep", 0, 0, 0, "keep|reset", NULL, "frozen blocks' AdamW moments and step counts: keep (parked) or reset (dropped)"},
    {"omgd.seed", K_UINT64, F(omgd.seed), "1337", 0, 0, 0, NULL, NULL, "seed of the mask draws"},
    {"omgd.replay", K_STRING, F(omgd.replay), "", 0, 0, 0, NULL, NULL, "file with one line of active block indices per period, replayed instead of drawing"},
    {"comm.init", K_STRING, F(comm.init), "auto", 0, 0, 0, "auto|mpi|fs|tcp", NULL, "how the ranks of a data-parallel job start their communication: mpi (under mpirun/srun with MPI), fs (the GPU trainer without MPI: a rendezvous in comm.dir), tcp (the GPU trainer without MPI: rank 0 listens on comm.host:comm.port); auto = mpi under an MPI launcher, else one process. Rank, world size and local rank come from Open MPI's or Slurm's environment"},
    {"comm.dir", K_STRING, F(comm.dir), "", 0, 0, 0, NULL, NULL, "comm.init fs: a directory on a file system all nodes share (one per job; created if missing)"},
    {"comm.host", K_STRING, F(comm.host), "", 0, 0, 0, NULL, NULL, "comm.init tcp: rank 0's host name or address, reachable from every node"},
    {"comm.port", K_INT, F(comm.port), "29500", 1, 65535, 0, NULL, NULL, "comm.init tcp: the port rank 0 listens on"},
    {"comm.timeout_s", K_DOUBLE, F(comm.timeout_s), "300", 0.001, 86400, 0, NULL, NULL, "the longest a rank waits for the others at the start (fs, tcp) before it stops with a message naming the missing ranks"},
};
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

_Static_assert(sizeof KEYS / sizeof KEYS[0] <= CONFIG_MAX_KEYS, "raise CONFIG_MAX_KEYS");

static const char *PRESETS[][4] = {
    {"d2", "2", "128", "4"},    {"d4", "4", "256", "4"},     {"d6", "6", "384", "6"},
    {"d12", "12", "768", "12"}, {"d24", "24", "1024", "16"}, {"d36", "36", "1280", "20"},
    {"d48", "48", "1600", "25"},
};

static int find_key(const char *path) {
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].path, path) == 0) return i;
    return -1;
}

// The source named in messages about --set overrides (compared by address,
// so a config file that happens to be called "--set" is still a file).
static const char SET_SOURCE[] = "--set";

// A user-supplied string for a message: quoted, control characters and
// quotes escaped (the message stays one line), long ones cut short.
static const char *quoted(const char *s, char *buf, size_t cap) {
    size_t n = 0, limit = cap > 8 ? cap - 8 : 0;
    buf[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (n >= limit) {
            n += (size_t)snprintf(buf + n, cap - n, "...");
            break;
        }
        if (*p == '"' || *p == '\\') n += (size_t)snprintf(buf + n, cap - n, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f) n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", *p);
        else buf[n++] = (char)*p;
    }
    snprintf(buf + n, cap - n, "\"");
    return buf;
}

// A key name as written by the user: as is when it is plain, else quoted.
static const char *key_shown(const char *s, char *buf, size_t cap) {
    int plain = strlen(s) < 100;
    for (const char *p = s; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                *p == '.' || *p == '-';
    if (plain && *s) {
        snprintf(buf, cap, "%s", s);
        return buf;
    }
    return quoted(s, buf, cap);
}

// "FILE: key.path: msg" or, for an override, "--set key.path: msg".
static void key_fail(const char *where, const char *key, const char *fmt, ...) PRINTF_LIKE(3, 4) NORETURN;
static void key_fail(const char *where, const char *key, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (where == SET_SOURCE) fail("--set %s: %s", key, msg);
    fail("%s: %s: %s", where, key, msg);
}

// "where" names the source in messages: the file name or SET_SOURCE.
static void key_error(const char *where, const KeyDef *k, const char *fmt, ...) PRINTF_LIKE(3, 4) NORETURN;
static void key_error(const char *where, const KeyDef *k, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    key_fail(where, k->path, "%s", msg);
}

// The sections of the table, in order, as "model, data, ...".
static void section_list(char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < NKEYS; i++) {
        size_t sl = (size_t)(strchr(KEYS[i].path, '.') - KEYS[i].path);
        if (i > 0 && strncmp(KEYS[i - 1].path, KEYS[i].path, sl + 1) == 0) continue;
        if (len + sl + 3 >= cap) break;
        len += (size_t)snprintf(buf + len, cap - len, "%s%.*s", len ? ", " : "", (int)sl, KEYS[i].path);
    }
}

static int in_list(const char *allowed, const char *v) {
    size_t n = strlen(v);
    for (const char *p = allowed;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return 1;
        if (!bar) return 0;
        p = bar + 1;
    }
}

static void describe_expected(const KeyDef *k, char *buf, size_t cap) {
    const char *alias = k->alias ? k->alias : NULL;
    switch (k->type) {
        case K_INT:
        case K_INT64:
            snprintf(buf, cap, "an integer in [%.0f, %.0f]%s%s%s", k->min, k->max,
                     alias ? " or \"" : "", alias ? alias : "", alias ? "\"" : "");
            break;
        case K_UINT64: snprintf(buf, cap, "an integer in [0, 2^53]"); break;
        case K_DOUBLE:
            if (k->max >= BIG)
                snprintf(buf, cap, "a number >= %g%s%s%s", k->min, alias ? " or \"" : "",
                         alias ? alias : "", alias ? "\"" : "");
            else
                snprintf(buf, cap, "a number in [%g, %g%s", k->min, k->max, k->max_open ? ")" : "]");
            break;
        case K_BOOL: snprintf(buf, cap, "true or false"); break;
        case K_STRING:
            if (k->allowed) {
                char list[200];
                snprintf(list, sizeof list, "%s", k->allowed[0] == '|' ? k->allowed + 1 : k->allowed);
                for (char *p = list; *p; p++)
                    if (*p == '|') *p = ',';
                snprintf(buf, cap, "one of %s%s", k->allowed[0] == '|' ? "\"\"," : "", list);
            } else {
                snprintf(buf, cap, "a string");
            }
            break;
    }
}

static void check_range(const char *where, const KeyDef *k, double v, const char *shown) {
    char exp[256];
    int bad = v < k->min || v > k->max || (k->max_open && v >= k->max);
    if (bad) {
        describe_expected(k, exp, sizeof exp);
        key_error(where, k, "expected %s, got %s", exp, shown);
    }
}

// Stores a number into the key's field (range already checked).
static void store_number(Config *cfg, const KeyDef *k, double d, long long i, unsigned long long u) {
    char *field = (char *)cfg + k->offset;
    switch (k->type) {
        case K_INT: *(int *)field = (int)i; break;
        case K_INT64: *(long long *)field = i; break;
        case K_UINT64: *(uint64_t *)field = u; break;
        case K_DOUBLE: *(double *)field = d; break;
        case K_BOOL: *(int *)field = (int)i; break;
        default: break;
    }
}

static void store_string(Config *cfg, const KeyDef *k, const char *where, const char *v) {
    char exp[256], shown[128];
    if (strlen(v) >= k->size) key_error(where, k, "value longer than %zu characters", k->size - 1);
    if (k->allowed && !in_list(k->allowed, v)) {
        describe_expected(k, exp, sizeof exp);
        key_error(where, k, "expected %s, got %s", exp, quoted(v, shown, sizeof shown));
    }
    memcpy((char *)cfg + k->offset, v, strlen(v) + 1);
}

// Parses a value written as text (a default or a --set value).
static void set_from_text(Config *cfg, const KeyDef *k, const char *where, const char *v) {
    char exp[256], shown[128];
    describe_expected(k, exp, sizeof exp);
    quoted(v, shown, sizeof shown);
    if (k->type == K_STRING) {
        store_string(cfg, k, where, v);
        return;
    }
    if (k->alias && strcmp(v, k->alias) == 0) {
        store_number(cfg, k, 0.0, 0, 0);
        return;
    }
    // numbers: the whole text, no surrounding blanks (strto* skip leading ones)
    if (*v == '\0' || isspace((unsigned char)*v)) key_error(where, k, "expected %s, got %s", exp, shown);
    char *end;
    errno = 0;
    switch (k->type) {
        case K_INT:
        case K_INT64: {
            long long i = strtoll(v, &end, 10);
            if (*v == '\0' || *end != '\0' || errno) key_error(where, k, "expected %s, got %s", exp, shown);
            check_range(where, k, (double)i, shown);
            store_number(cfg, k, 0, i, 0);
            break;
        }
        case K_UINT64: {
            unsigned long long u = strtoull(v, &end, 10);
            // JSON numbers are doubles: keep integers exactly representable so that
            // config.json reads back to the same value
            if (*v == '\0' || *end != '\0' || errno || v[0] == '-' || u > (1ull << 53))
                key_error(where, k, "expected %s, got %s", exp, shown);
            store_number(cfg, k, 0, 0, u);
            break;
        }
        case K_DOUBLE: {
            double d = strtod(v, &end);  // an underflow (ERANGE) gives 0 or a subnormal: fine
            if (*end != '\0' || !isfinite(d))
                key_error(where, k, "expected %s, got %s", exp, shown);
            check_range(where, k, d, shown);
            store_number(cfg, k, d, 0, 0);
            break;
        }
        case K_BOOL:
            if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) store_number(cfg, k, 0, 1, 0);
            else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) store_number(cfg, k, 0, 0, 0);
            else key_error(where, k, "expected %s, got %s", exp, shown);
            break;
        default: break;
    }
}

// A JSON value, shown in messages as it was written.
static void json_shown(const cJSON *item, char *buf, size_t cap) {
    if (cJSON_IsNumber(item) && !isfinite(item->valuedouble)) {  // cJSON would print null
        snprintf(buf, cap, "a number beyond the range of a double");
        return;
    }
    char *printed = cJSON_PrintUnformatted(item);
    snprintf(buf, cap, "%s", printed ? printed : "?");
    if (strlen(buf) > 60) strcpy(buf + 57, "...");
    free(printed);
}

static void set_from_json(Config *cfg, const KeyDef *k, const char *where, const cJSON *item) {
    char exp[256], shown[128];
    describe_expected(k, exp, sizeof exp);
    json_shown(item, shown, sizeof shown);
    if (k->type == K_STRING) {
        if (!cJSON_IsString(item)) key_error(where, k, "expected %s, got %s", exp, shown);
        store_string(cfg, k, where, item->valuestring);
        return;
    }
    if (k->type == K_BOOL) {
        if (!cJSON_IsBool(item)) key_error(where, k, "expected %s, got %s", exp, shown);
        store_number(cfg, k, 0, cJSON_IsTrue(item), 0);
        return;
    }
    if (cJSON_IsString(item) && k->alias && strcmp(item->valuestring, k->alias) == 0) {
        store_number(cfg, k, 0, 0, 0);
        return;
    }
    if (!cJSON_IsNumber(item)) key_error(where, k, "expected %s, got %s", exp, shown);
    double d = item->valuedouble;
    if (k->type == K_DOUBLE) {
        check_range(where, k, d, shown);
        store_number(cfg, k, d, 0, 0);
        return;
    }
    // integers: JSON numbers are doubles; accept only exact integers
    if (d != floor(d) || fabs(d) > 9007199254740992.0) key_error(where, k, "expected %s, got %s", exp, shown);
    if (k->type == K_UINT64) {
        if (d < 0 || d > 9007199254740992.0) key_error(where, k, "expected %s, got %s", exp, shown);
        store_number(cfg, k, 0, 0, (unsigned long long)d);
        return;
    }
    check_range(where, k, d, shown);
    store_number(cfg, k, 0, (long long)d, 0);
}

static void known_keys_of(const char *section, char *buf, size_t cap) {
    size_t len = 0, sl = strlen(section);
    buf[0] = '\0';
    for (int i = 0; i < NKEYS && len + 2 < cap; i++) {
        if (strncmp(KEYS[i].path, section, sl) != 0 || KEYS[i].path[sl] != '.') continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", KEYS[i].path + sl + 1);
    }
}

static int has_section(const char *section) {
    char buf[8];
    known_keys_of(section, buf, sizeof buf);
    return buf[0] != '\0';
}

static char *read_text_file(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) fail("%s: cannot open (%s)", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) fail("%s: is a directory, expected a JSON config file", path);
    if (!S_ISREG(st.st_mode)) fail("%s: not a regular file (a FIFO, socket or device), expected a JSON config file", path);
    FILE *f = xfopen(path, "rb");
    long long n = xfilesize(f, path);
    if (n > (64 << 20)) {
        fclose(f);
        fail("%s: config file too large (%lld bytes)", path, n);
    }
    char *text = xmalloc((size_t)n + 1, "config file");
    size_t got = fread(text, 1, (size_t)n, f);
    int read_error = ferror(f);
    fclose(f);
    if (got != (size_t)n) {
        free(text);
        if (read_error) fail("%s: read error", path);
        fail("%s: file changed while being read", path);
    }
    text[n] = '\0';
    if (strlen(text) != (size_t)n) {
        free(text);
        fail("%s: config file contains a NUL byte", path);
    }
    return text;
}

// Line of the parse error (cJSON reports a position; at the end of the input
// it is the last line with any content).
static void json_syntax_error(const char *path, const char *text, const char *err_at) {
    size_t len = strlen(text);
    const char *stop = err_at && err_at >= text && err_at <= text + len ? err_at : text;
    const char *q = stop;
    while (*q && isspace((unsigned char)*q)) q++;
    int at_end = *q == '\0';
    if (at_end)
        while (stop > text && isspace((unsigned char)stop[-1])) stop--;
    int line = 1;
    for (const char *p = text; p < stop; p++) line += *p == '\n';
    fail("%s: invalid JSON near line %d%s", path, line, at_end ? " (unexpected end of file)" : "");
}

// A refused file leaves its text and parse tree here (fail() does not
// return); the next load frees them, so that a process loading many files
// (the fuzz harness) does not accumulate them.
static char *loading_text;
static cJSON *loading_root;
static void release_loading(void) {
    cJSON_Delete(loading_root);
    free(loading_text);
    loading_root = NULL;
    loading_text = NULL;
}

static void load_file(Config *cfg, const char *path) {
    release_loading();
    char *text = loading_text = read_text_file(path);
    const char *start = text;
    while (isspace((unsigned char)*start)) start++;
    if (!*start) fail("%s: empty file (expected a JSON object of sections)", path);
    const char *err_at = NULL;
    cJSON *root = loading_root = cJSON_ParseWithOpts(text, &err_at, 1);
    if (!root) json_syntax_error(path, text, err_at ? err_at : cJSON_GetErrorPtr());
    if (!cJSON_IsObject(root)) fail("%s: expected a JSON object of sections at the top level", path);
    char name[160], sections[256];
    for (const cJSON *sec = root->child; sec; sec = sec->next) {
        key_shown(sec->string, name, sizeof name);
        for (const cJSON *other = root->child; other != sec; other = other->next)
            if (strcmp(other->string, sec->string) == 0) fail("%s: %s: section appears twice", path, name);
        if (!has_section(sec->string)) {
            section_list(sections, sizeof sections);
            fail("%s: %s: unknown section (known sections: %s)", path, name, sections);
        }
        if (!cJSON_IsObject(sec)) fail("%s: %s: expected an object of keys", path, name);
        for (const cJSON *item = sec->child; item; item = item->next) {
            char full[256];
            int n = snprintf(full, sizeof full, "%s.%s", sec->string, item->string);
            int i = n > 0 && (size_t)n < sizeof full ? find_key(full) : -1;
            key_shown(full, name, sizeof name);
            for (const cJSON *other = sec->child; other != item; other = other->next)
                if (strcmp(other->string, item->string) == 0) fail("%s: %s: key appears twice", path, name);
            if (i < 0) {
                char known[1024];
                known_keys_of(sec->string, known, sizeof known);
                fail("%s: %s: unknown key (known keys in %s: %s)", path, name, sec->string, known);
            }
            set_from_json(cfg, &KEYS[i], path, item);
            cfg->is_set[i] = CONFIG_FROM_FILE;
        }
    }
    release_loading();
}

static void apply_set(Config *cfg, const char *arg) {
    char shown[160];
    const char *eq = strchr(arg, '=');
    if (!eq) fail("--set %s: expected key.path=value", key_shown(arg, shown, sizeof shown));
    char path[256];
    size_t klen = (size_t)(eq - arg);
    snprintf(path, sizeof path, "%.*s", (int)(klen < sizeof path ? klen : sizeof path - 1), arg);
    int i = klen < sizeof path ? find_key(path) : -1;
    if (i < 0) {
        char section[128], known[1024];
        const char *dot = strchr(path, '.');
        snprintf(section, sizeof section, "%.*s", dot ? (int)(dot - path) : (int)strlen(path), path);
        known_keys_of(section, known, sizeof known);
        key_shown(path, shown, sizeof shown);
        if (known[0]) fail("--set %s: unknown key (known keys in %s: %s)", shown, section, known);
        section_list(known, sizeof known);
        fail("--set %s: unknown key (known sections: %s)", shown, known);
    }
    set_from_text(cfg, &KEYS[i], SET_SOURCE, eq + 1);
    cfg->is_set[i] = CONFIG_FROM_SET;
}

static const char *preset_shape(const char *name, int j) {
    for (size_t p = 0; p < sizeof PRESETS / sizeof PRESETS[0]; p++)
        if (strcmp(PRESETS[p][0], name) == 0) return PRESETS[p][j + 1];
    return NULL;
}

// The preset fills depth, channels and heads that were not given explicitly.
static void apply_preset(Config *cfg) {
    if (!cfg->model.preset[0]) return;
    const char *keys[3] = {"model.depth", "model.channels", "model.heads"};
    for (int j = 0; j < 3; j++) {
        int i = find_key(keys[j]);
        const char *v = preset_shape(cfg->model.preset, j);
        if (!v) fail("internal: preset %s has no shape", cfg->model.preset);
        if (!cfg->is_set[i]) set_from_text(cfg, &KEYS[i], "model.preset", v);
    }
}

// Where a key's value came from: SET_SOURCE, the file, or NULL (its default).
static const char *source_of(const Config *c, const char *file, const char *key) {
    int how = config_is_set(c, key);
    return how == CONFIG_FROM_SET ? SET_SOURCE : how == CONFIG_FROM_FILE ? file : NULL;
}

// A problem between keys (NULL-terminated list, the key named first): the
// message starts with where the first key came from (its default: the
// first other key given); the other keys given elsewhere are named with
// their source, e.g. " (train.steps from --set)".
static void cross_key_fail(const Config *c, const char *file, const char *msg, ...) NORETURN;
static void cross_key_fail(const Config *c, const char *file, const char *msg, ...) {
    va_list ap;
    const char *keys[8];
    int n = 0;
    va_start(ap, msg);
    for (const char *k; n < 8 && (k = va_arg(ap, const char *)) != NULL;) keys[n++] = k;
    va_end(ap);
    const char *where = source_of(c, file, keys[0]);
    for (int i = 1; i < n && !where; i++) where = source_of(c, file, keys[i]);
    if (!where) where = file;
    char note[512] = "";
    size_t len = 0;
    for (int i = 1; i < n; i++) {
        const char *src = source_of(c, file, keys[i]);
        if (!src || src == where || len >= sizeof note) continue;
        len += (size_t)snprintf(note + len, sizeof note - len, "%s%s from %s", len ? ", " : " (", keys[i], src);
    }
    if (len && len < sizeof note) snprintf(note + len, sizeof note - len, ")");
    key_fail(where, keys[0], "%s%s", msg, note);
}

// Checks that involve several keys; `file` is the config file, or SET_SOURCE
// when there is none. Each names the first key and the others involved.
static void validate(const Config *c, const char *file) {
    const ModelConfig *m = &c->model;
    const TrainConfig *t = &c->train;
    char msg[512];
#define CROSS(...) cross_key_fail(c, file, msg, __VA_ARGS__, NULL)
    if (m->channels % m->heads != 0) {
        snprintf(msg, sizeof msg, "%d heads do not divide model.channels %d", m->heads, m->channels);
        CROSS("model.heads", "model.channels", "model.preset");
    }
    if (m->padded_vocab != 0 && m->padded_vocab < m->vocab) {
        snprintf(msg, sizeof msg, "expected 0 or at least model.vocab %d, got %d", m->vocab, m->padded_vocab);
        CROSS("model.padded_vocab", "model.vocab");
    }
    // with init_from the file's shape is used (the trainer checks it)
    if (t->seq_len > m->context && !m->init_from[0]) {
        snprintf(msg, sizeof msg, "%d exceeds model.context %d", t->seq_len, m->context);
        CROSS("train.seq_len", "model.context");
    }
    long long bt = (long long)t->batch_size * t->seq_len;
    if (bt > INT_MAX) {
        snprintf(msg, sizeof msg, "batch_size * train.seq_len = %lld tokens per micro-batch exceeds %d", bt, INT_MAX);
        CROSS("train.batch_size", "train.seq_len");
    }
    // activations are indexed with 32-bit ints (B*T*4*C elements in the MLP)
    if (!m->init_from[0] && bt * 4 * m->channels > INT_MAX) {
        snprintf(msg, sizeof msg, "batch_size * train.seq_len * 4 * model.channels = %lld exceeds %d",
                 bt * 4 * m->channels, INT_MAX);
        CROSS("train.batch_size", "train.seq_len", "model.channels", "model.preset");
    }
    long long tb = t->total_batch_tokens;
    if (tb != 0 && tb % bt != 0) {
        snprintf(msg, sizeof msg, "%lld is not a multiple of train.batch_size * train.seq_len = %lld", tb, bt);
        CROSS("train.total_batch_tokens", "train.batch_size", "train.seq_len");
    }
    if (tb / bt > INT_MAX) {
        snprintf(msg, sizeof msg, "%lld / (batch_size * seq_len) = %lld micro-batches exceeds %d", tb, tb / bt, INT_MAX);
        CROSS("train.total_batch_tokens", "train.batch_size", "train.seq_len");
    }
    long long per_step = tb ? tb : bt;
    if ((double)per_step * t->steps > 9e18) {
        snprintf(msg, sizeof msg, "%d steps of %lld tokens overflow a 64-bit token count", t->steps, per_step);
        CROSS("train.steps", "train.total_batch_tokens", "train.batch_size", "train.seq_len");
    }
    if (c->optimizer.min_lr > c->optimizer.lr) {
        snprintf(msg, sizeof msg, "%.17g exceeds optimizer.lr %.17g", c->optimizer.min_lr, c->optimizer.lr);
        CROSS("optimizer.min_lr", "optimizer.lr");
    }
    if (c->optimizer.warmup_steps > t->steps) {
        snprintf(msg, sizeof msg, "%d exceeds train.steps %d", c->optimizer.warmup_steps, t->steps);
        CROSS("optimizer.warmup_steps", "train.steps");
    }
    if (!c->data.train[0]) {
        snprintf(msg, sizeof msg, "expected a glob of training shards, got \"\"");
        CROSS("data.train");
    }
    if (t->hellaswag_every > 0 && !c->data.hellaswag[0]) {
        snprintf(msg, sizeof msg, "%d needs data.hellaswag (a hellaswag_val.bin file), which is empty", t->hellaswag_every);
        CROSS("train.hellaswag_every", "data.hellaswag");
    }
    if (!c->output.dir[0]) {
        snprintf(msg, sizeof msg, "expected a directory, got \"\"");
        CROSS("output.dir");
    }
    int masked = strcmp(c->omgd.mode, "none") != 0;
    if (masked && strcmp(c->omgd.mode, "omgd_tensor") != 0 && !m->init_from[0] && c->omgd.active_layers > m->depth) {
        snprintf(msg, sizeof msg, "%d exceeds model.depth %d", c->omgd.active_layers, m->depth);
        CROSS("omgd.active_layers", "model.depth", "model.preset", "omgd.mode");
    }
    // masking starts after omgd.warmup_steps full-parameter steps: at or past
    // the last step it never would
    if (masked && c->omgd.warmup_steps > 0 && c->omgd.warmup_steps >= t->steps) {
        snprintf(msg, sizeof msg, "%d is not below train.steps %d, so omgd.mode %s would never mask; lower it, or use omgd.mode none",
                 c->omgd.warmup_steps, t->steps, c->omgd.mode);
        CROSS("omgd.warmup_steps", "train.steps", "omgd.mode");
    }
#undef CROSS
}

void config_load(Config *cfg, const char *path, int nsets, const char *const *sets) {
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < NKEYS; i++) set_from_text(cfg, &KEYS[i], "default", KEYS[i].def);
    snprintf(cfg->source, sizeof cfg->source, "%s", path ? path : "--set");
    if (path) load_file(cfg, path);
    for (int i = 0; i < nsets; i++) apply_set(cfg, sets[i]);
    apply_preset(cfg);
    validate(cfg, path ? path : SET_SOURCE);
}

static void usage(const char *prog) {
    printf("usage: %s [--config FILE] [--set key.path=value ...]\n\n"
           "The file is a JSON object of sections, each an object of keys; every key is\n"
           "optional. --set overrides a key after the file (the last one wins).\n\nkeys (default):\n",
           prog);
    for (int i = 0; i < NKEYS; i++)
        printf("  %-26s %-32s %s\n", KEYS[i].path, KEYS[i].def[0] ? KEYS[i].def : "\"\"", KEYS[i].doc);
    printf("\nmodel.preset shapes (depth, channels, heads):");
    for (size_t p = 0; p < sizeof PRESETS / sizeof PRESETS[0]; p++)
        printf("%s %s = %s/%s/%s", p ? "," : "", PRESETS[p][0], PRESETS[p][1], PRESETS[p][2], PRESETS[p][3]);
    printf("\n");
}

// The README's config reference table, printed from KEYS (--help-markdown).
static void usage_markdown(void) {
    printf("| key | default | meaning |\n|---|---|---|\n");
    for (int i = 0; i < NKEYS; i++) {
        char exp[256];
        describe_expected(&KEYS[i], exp, sizeof exp);
        printf("| `%s` | `%s` | %s (%s) |\n", KEYS[i].path, KEYS[i].type == K_STRING && !KEYS[i].def[0] ? "\"\"" : KEYS[i].def,
               KEYS[i].doc, exp);
    }
}

static const char *type_name(const KeyDef *k) {
    switch (k->type) {
        case K_INT: return "int";
        case K_INT64: return "int64";
        case K_UINT64: return "uint64";
        case K_DOUBLE: return "number";
        case K_BOOL: return "bool";
        case K_STRING: return k->allowed ? "enum" : "string";
    }
    return "?";
}

// docs/config-reference.md's tables (--dump-keys-markdown); test_config checks the file.
void config_write_markdown(FILE *f) {
    fprintf(f, "| key | type | default | accepted values | meaning |\n|---|---|---|---|---|\n");
    for (int i = 0; i < NKEYS; i++) {
        const KeyDef *k = &KEYS[i];
        char acc[256];
        switch (k->type) {
            case K_INT:
            case K_INT64: snprintf(acc, sizeof acc, "%.0f ... %.0f", k->min, k->max); break;
            case K_UINT64: snprintf(acc, sizeof acc, "0 ... 2^53"); break;
            case K_DOUBLE:
                if (k->max >= BIG) snprintf(acc, sizeof acc, ">= %g", k->min);
                else snprintf(acc, sizeof acc, "[%g, %g%s", k->min, k->max, k->max_open ? ")" : "]");
                break;
            case K_BOOL: snprintf(acc, sizeof acc, "`true`, `false`"); break;
            case K_STRING:
                if (k->allowed) {
                    size_t n = 0;
                    for (const char *p = k->allowed;;) {
                        const char *bar = strchr(p, '|');
                        int len = bar ? (int)(bar - p) : (int)strlen(p);
                        n += (size_t)snprintf(acc + n, sizeof acc - n, "%s`%s%.*s%s`", n ? ", " : "", len ? "" : "\"",
                                              len, p, len ? "" : "\"");
                        if (!bar || n >= sizeof acc) break;
                        p = bar + 1;
                    }
                } else {
                    snprintf(acc, sizeof acc, "text, up to %zu bytes", k->size - 1);
                }
                break;
        }
        if (k->alias) snprintf(acc + strlen(acc), sizeof acc - strlen(acc), ", or `\"%s\"` (= 0)", k->alias);
        fprintf(f, "| `%s` | %s | `%s` | %s | %s |\n", k->path, type_name(k), k->def[0] ? k->def : "\"\"", acc, k->doc);
    }
    fprintf(f, "\n| `model.preset` | `model.depth` | `model.channels` | `model.heads` |\n|---|---|---|---|\n");
    for (size_t p = 0; p < sizeof PRESETS / sizeof PRESETS[0]; p++)
        fprintf(f, "| `%s` | %s | %s | %s |\n", PRESETS[p][0], PRESETS[p][1], PRESETS[p][2], PRESETS[p][3]);
}

int config_key_count(void) { return NKEYS; }

const char *config_key_path(int i) { return i >= 0 && i < NKEYS ? KEYS[i].path : NULL; }

void config_from_args(Config *cfg, int argc, char **argv) {
    const char *path = NULL, *prog = argc > 0 ? argv[0] : "train_gpt2";
    const char **sets = xcalloc((size_t)(argc > 0 ? argc : 1), sizeof(char *), "arguments");
    int nsets = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(prog);
            free(sets);
            exit(0);
        } else if (strcmp(argv[i], "--help-markdown") == 0) {
            usage_markdown();
            free(sets);
            exit(0);
        } else if (strcmp(argv[i], "--dump-keys-markdown") == 0) {
            config_write_markdown(stdout);
            free(sets);
            exit(0);
        } else if (strcmp(argv[i], "--config") == 0) {
            if (path) fail("--config given twice (%s, then %s)", path, i + 1 < argc ? argv[i + 1] : "no file");
            if (i + 1 >= argc) fail("--config: expected a file name");
            path = argv[++i];
        } else if (strcmp(argv[i], "--set") == 0) {
            if (i + 1 >= argc) fail("--set: expected key.path=value");
            sets[nsets++] = argv[++i];
        } else {
            char shown[160];
            fail("unknown argument %s (usage: %s [--config FILE] [--set key.path=value ...]; --help lists the keys)",
                 quoted(argv[i], shown, sizeof shown), prog);
        }
    }
    config_load(cfg, path, nsets, sets);
    free(sets);
}

void config_fail_key(const Config *cfg, const char *key_path, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int from_set = config_is_set(cfg, key_path) == CONFIG_FROM_SET || strcmp(cfg->source, SET_SOURCE) == 0;
    const char *where = from_set ? SET_SOURCE : cfg->source;
    key_fail(where, key_path, "%s", msg);
}

int config_is_set(const Config *cfg, const char *key_path) {
    int i = find_key(key_path);
    if (i < 0) fail("internal: config_is_set: unknown key %s", key_path);
    return cfg->is_set[i];
}

char *config_to_json(const Config *cfg) {
    const char *path = "the effective config";  // for the out-of-memory messages
    cJSON *root = cJSON_CreateObject();
    if (!root) fail("out of memory writing %s", path);
    for (int i = 0; i < NKEYS; i++) {
        const KeyDef *k = &KEYS[i];
        char section[64];
        const char *dot = strchr(k->path, '.');
        snprintf(section, sizeof section, "%.*s", (int)(dot - k->path), k->path);
        cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, section);
        if (!sec) sec = cJSON_AddObjectToObject(root, section);
        const char *field = (const char *)cfg + k->offset;
        cJSON *item = NULL;
        char num[64];
        switch (k->type) {
            case K_INT: item = cJSON_CreateNumber(*(const int *)field); break;
            case K_INT64: item = cJSON_CreateNumber((double)*(const long long *)field); break;
            case K_UINT64:
                // 64-bit seeds do not fit a JSON double exactly: written as a raw integer literal
                snprintf(num, sizeof num, "%llu", (unsigned long long)*(const uint64_t *)field);
                item = cJSON_CreateRaw(num);
                break;
            case K_DOUBLE:
                snprintf(num, sizeof num, "%.17g", *(const double *)field);
                item = cJSON_CreateRaw(num);
                break;
            case K_BOOL: item = cJSON_CreateBool(*(const int *)field); break;
            case K_STRING: item = cJSON_CreateString(field); break;
        }
        if (!sec || !item || !cJSON_AddItemToObject(sec, dot + 1, item)) fail("out of memory writing %s", path);
    }
    char *text = cJSON_Print(root);
    if (!text) fail("out of memory writing %s", path);
    cJSON_Delete(root);
    return text;
}

void config_write_json(const Config *cfg, const char *path) {
    char *text = config_to_json(cfg);
    AtomicFile a;
    atomic_open(&a, path);
    atomic_write(&a, text, 1, strlen(text));
    atomic_write(&a, "\n", 1, 1);
    atomic_commit(&a);
    free(text);
}

// A key's value as one line of text (numbers as config.json writes them).
static void value_text(const Config *cfg, const KeyDef *k, char *buf, size_t cap) {
    const char *field = (const char *)cfg + k->offset;
    switch (k->type) {
        case K_INT: snprintf(buf, cap, "%d", *(const int *)field); break;
        case K_INT64: snprintf(buf, cap, "%lld", *(const long long *)field); break;
        case K_UINT64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)field); break;
        case K_DOUBLE: snprintf(buf, cap, "%.17g", *(const double *)field); break;
        case K_BOOL: snprintf(buf, cap, "%s", *(const int *)field ? "true" : "false"); break;
        case K_STRING: {
            char q[CONFIG_STR * 4 + 16];
            snprintf(buf, cap, "%s", quoted(field, q, sizeof q));
            break;
        }
    }
}

// Keys that do not change how the run trains: where it writes, what it
// evaluates or prints, how long it runs, and memory trade-offs.
static int training_key(const char *path) {
    static const char *skip[] = {"output.", "train.steps", "train.val_", "train.sample_", "train.plan_only",
                                 "train.recompute", "data.val", "data.tokenizer", "model.init_from", "comm."};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strncmp(path, skip[i], strlen(skip[i])) == 0) return 0;
    return 1;
}

char *config_training_text(const Config *cfg) {
    size_t cap = 256, len = 0;
    for (int i = 0; i < NKEYS; i++) cap += strlen(KEYS[i].path) + CONFIG_STR * 4 + 24;
    char *text = xmalloc(cap, "config text");
    text[0] = '\0';
    for (int i = 0; i < NKEYS; i++) {
        if (!training_key(KEYS[i].path)) continue;
        char v[CONFIG_STR * 4 + 16];
        value_text(cfg, &KEYS[i], v, sizeof v);
        len += (size_t)snprintf(text + len, cap - len, "%s=%s\n", KEYS[i].path, v);
    }
    return text;
}

// The line "key=..." of text: its value's start and length, or NULL.
static const char *find_line(const char *text, const char *key, size_t *len) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            *len = n - kl - 1;
            return p + kl + 1;
        }
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

int config_training_value(const char *text, const char *key, char *buf, size_t cap) {
    size_t n;
    const char *v = find_line(text, key, &n);
    if (!v) return 0;
    snprintf(buf, cap, "%.*s", (int)n, v);
    return 1;
}

int config_training_diff(const char *old_text, const char *new_text,
                         void (*changed)(const char *key, const char *was, const char *now, void *ctx), void *ctx) {
    int count = 0;
    for (int i = 0; i < NKEYS; i++) {
        if (!training_key(KEYS[i].path)) continue;
        char was[CONFIG_STR * 4 + 16], now[CONFIG_STR * 4 + 16];
        if (!config_training_value(old_text, KEYS[i].path, was, sizeof was)) continue;  // a key newer than the checkpoint
        if (!config_training_value(new_text, KEYS[i].path, now, sizeof now) || strcmp(was, now) == 0) continue;
        changed(KEYS[i].path, was, now, ctx);
        count++;
    }
    return count;
}
