// Samples text from a trained model: a model file (llm.c fp32 or bf16), a
// Hugging Face GPT-2 folder, or a run directory (its newest checkpoint that
// verifies).
//
//   ./sample_gpt2 MODEL [--prompt-ids 464,3290] [--tokens 64] [--temperature 1]
//                 [--top-k 0] [--top-p 1] [--num-samples 1] [--seed 1337]
//                 [--tokenizer data/brown/gpt2_tokenizer.bin] [--print-ids]
//
// The prompt is given as token ids (scripts/sample.py encodes a text prompt
// with the project's GPT-2 encoder and calls this); without one, each
// sample starts from <|endoftext|>. Samples are printed as they are
// generated. Built against the engine interface: `make sample_gpt2` is the
// CPU engine, `make sample_gpt2cu` the GPU engine (cuda.mk).
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/checkpoint.h"
#include "common/config.h"
#include "common/error.h"
#include "common/rng.h"
#include "common/signals.h"
#include "data/tokenizer.h"
#include "model/engine.h"
#include "model/gpt2.h"
#include "model/model_file.h"
#include "model/sampler.h"
#include "omgd/omgd.h"

#define MAX_PROMPT 65536

static void usage(const char *prog) {
    printf("usage: %s MODEL [options]\n"
           "  MODEL              a model file (llm.c fp32 version 3 or bf16 version 5), a Hugging Face\n"
           "                     GPT-2 folder (config.json + model.safetensors), or a run directory\n"
           "                     (its newest checkpoint that verifies)\n"
           "  --prompt-ids LIST  comma-separated token ids to start from (default: <|endoftext|>);\n"
           "                     scripts/sample.py --prompt TEXT encodes a text prompt\n"
           "  --tokens N         tokens to generate per sample (default 64)\n"
           "  --temperature T    0 = greedy, 1 = the model's distribution (default 1)\n"
           "  --top-k K          keep the K most probable tokens; 0 = all (default 0)\n"
           "  --top-p P          keep the most probable tokens holding mass P; 1 = all (default 1)\n"
           "  --num-samples N    samples to draw (default 1)\n"
           "  --seed S           random seed (default 1337); the same seed gives the same samples\n"
           "  --tokenizer FILE   llm.c tokenizer file for decoding (default data/brown/gpt2_tokenizer.bin)\n"
           "  --print-ids        after each sample, print its generated token ids on a line 'ids: ...'\n",
           prog);
}

static long long parse_ll(const char *s, const char *what, long long min, long long max) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < min || v > max)
        fail("%s '%s': expected an integer in [%lld, %lld]", what, s, min, max);
    return v;
}

static float parse_f(const char *s, const char *what) {
    char *end;
    float v = strtof(s, &end);
    if (*s == '\0' || *end != '\0') fail("%s '%s': expected a number", what, s);
    return v;
}

static int parse_ids(const char *s, int *out, int cap) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT_MAX)
            fail("--prompt-ids '%s': expected comma-separated token ids", s);
        if (n == cap) fail("--prompt-ids: more than %d tokens", cap);
        out[n++] = (int)v;
        p = end;
        if (*p == ',') p++;
        else if (*p) fail("--prompt-ids '%s': expected comma-separated token ids", s);
    }
    return n;
}

// A model file, a Hugging Face folder (model_file.c reads both), or a run
// directory, whose newest checkpoint that verifies is used.
static void resolve_model(const char *arg, char *path, size_t cap) {
    struct stat st;
    if (stat(arg, &st) != 0) fail("%s: no such model file or directory", arg);
    snprintf(path, cap, "%s", arg);
    if (!S_ISDIR(st.st_mode) || model_file_is_hf_folder(arg)) return;
    long step = checkpoint_find_latest_valid(arg);
    if (step < 0)
        fail("%s: a directory with neither a checkpoint that verifies (model_*.bin + state_*.bin) nor a Hugging "
             "Face model (model.safetensors)", arg);
    checkpoint_model_path(path, cap, arg, step);
    fprintf(stderr, "model: %s (newest checkpoint, step %ld)\n", path, step);
}

typedef struct {
    const Tokenizer *tok;
} Printer;

static void print_token(void *ctx, int token, int index) {
    (void)index;
    const Printer *p = ctx;
    const char *piece = tokenizer_decode(p->tok, (uint32_t)token);
    fwrite(piece, 1, p->tok->lengths[token], stdout);
    fflush(stdout);
}

static void engine_probs(void *e, const int *tokens, int len, float *probs) {
    engine_next_token_probs(e, tokens, len, probs);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argv[0]);
        return argc < 2 ? 1 : 0;
    }
    const char *model_arg = argv[1], *tok_path = "data/brown/gpt2_tokenizer.bin", *ids_arg = NULL;
    int n_tokens = 64, num_samples = 1, print_ids = 0;
    uint64_t seed = 1337;
    SamplerSettings ss = {1.0f, 0, 1.0f};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--print-ids") == 0) { print_ids = 1; continue; }
        if (i + 1 >= argc) fail("%s: expected a value after it (see --help)", a);
        const char *v = argv[++i];
        if (strcmp(a, "--prompt-ids") == 0) ids_arg = v;
        else if (strcmp(a, "--tokens") == 0) n_tokens = (int)parse_ll(v, "--tokens", 1, 1 << 20);
        else if (strcmp(a, "--temperature") == 0) ss.temperature = parse_f(v, "--temperature");
        else if (strcmp(a, "--top-k") == 0) ss.top_k = (int)parse_ll(v, "--top-k", 0, INT_MAX);
        else if (strcmp(a, "--top-p") == 0) ss.top_p = parse_f(v, "--top-p");
        else if (strcmp(a, "--num-samples") == 0) num_samples = (int)parse_ll(v, "--num-samples", 1, 1 << 20);
        else if (strcmp(a, "--seed") == 0) seed = (uint64_t)parse_ll(v, "--seed", 0, LLONG_MAX);
        else if (strcmp(a, "--tokenizer") == 0) tok_path = v;
        else fail("unknown option %s (see --help)", a);
    }
    sampler_check(&ss);
    char path[4096];
    resolve_model(model_arg, path, sizeof path);
    GPT2Config shape;
    model_file_read_config(path, &shape);
    Tokenizer tok;
    tokenizer_init(&tok, tok_path);
    if (tok.vocab_size < shape.vocab_size)
        fail("%s: %d tokens, fewer than the model's vocabulary of %d", tok_path, tok.vocab_size, shape.vocab_size);
    int *prompt = xmalloc(MAX_PROMPT * sizeof(int), "prompt");
    int prompt_len = ids_arg ? parse_ids(ids_arg, prompt, MAX_PROMPT) : 0;
    if (prompt_len == 0) prompt[prompt_len++] = tok.eot_token;
    for (int i = 0; i < prompt_len; i++)
        if (prompt[i] >= shape.vocab_size)
            fail("--prompt-ids: token %d is outside the model's vocabulary [0, %d)", prompt[i], shape.vocab_size);
    Sampler sm;
    sampler_init(&sm, &ss, shape.vocab_size);

    GPT2 model;
    gpt2_build(&model, &shape);
    model_file_load(&model, path);
    // The engine needs a config and an optimizer; sampling uses neither's
    // state (omgd.mode none: no mask; the CPU engine allocates nothing more).
    Config cfg;
    const char *sets[] = {"omgd.mode=none", "model.preset="};
    config_load(&cfg, NULL, 2, sets);
    Omgd omgd;
    OmgdSettings os;
    memset(&os, 0, sizeof os);
    os.mask.mode = MASK_NONE;
    omgd_init(&omgd, &os, &model.table);
    int T = shape.max_seq_len;
    Engine *engine = engine_create(&model, &omgd, 1, T, &cfg);
    fprintf(stderr, "engine: %s\n", engine_describe(engine));
    signals_install();  // Ctrl-C ends the current sample after its token

    int *tokens = xmalloc((size_t)(prompt_len + n_tokens) * sizeof(int), "sample tokens");
    Rng rng;
    rng_seed(&rng, seed);
    Printer pr = {&tok};
    for (int s = 0; s < num_samples && !signals_stop_requested(); s++) {
        memcpy(tokens, prompt, (size_t)prompt_len * sizeof(int));
        printf("--- sample %d/%d\n", s + 1, num_samples);
        for (int i = 0; i < prompt_len; i++)
            if (!(i == 0 && prompt[0] == tok.eot_token)) print_token(&pr, prompt[i], -1);
        int made = sampler_generate(&sm, &rng, engine_probs, engine, tokens, prompt_len, n_tokens, T, print_token, &pr);
        printf("\n");
        if (print_ids) {
            printf("ids:");
            for (int i = 0; i < made; i++) printf(" %d", tokens[prompt_len + i]);
            printf("\n");
        }
    }
    fflush(stdout);
    free(tokens);
    free(prompt);
    engine_free(engine);
    omgd_free(&omgd);
    gpt2_free(&model);
    sampler_free(&sm);
    tokenizer_free(&tok);
    return signals_stop_requested() ? 130 : 0;
}
