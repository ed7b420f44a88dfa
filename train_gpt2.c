// GPT-2 pre-training on the CPU (fp32, OpenMP + BLAS).
//
//   ./train_gpt2 --config configs/default.json [--set key.path=value ...]
//
// This is also the reference the GPU trainer is checked against. main()
// reads top to bottom: configuration, run directory, data, model,
// optimizer state, then the training loop (validation, samples,
// checkpoints, one optimizer step).
//
// Under `mpirun -np N` it trains data-parallel: each rank runs 1/N of every
// step's micro-batches on its own windows of the data, the active slice's
// gradients are reduce-scattered, each rank updates its chunk of the slice
// (holding 1/N of the optimizer state) and the updated parameters are
// all-gathered. Rank 0 prints, writes the log, the model file and its
// state; every rank writes its shard of the optimizer state.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "comm/comm.h"
#include "common/checkpoint.h"
#include "common/config.h"
#include "common/crc32.h"
#include "common/error.h"
#include "common/loss_guard.h"
#include "common/lr_schedule.h"
#include "common/rng.h"
#include "common/run_dir.h"
#include "common/run_log.h"
#include "common/signals.h"
#include "data/dataloader.h"
#include "data/hellaswag.h"
#include "data/tokenizer.h"
#include "model/engine.h"
#include "model/gpt2.h"
#include "model/mfu.h"
#include "model/model_file.h"
#include "model/sampler.h"
#include "omgd/adamw.h"
#include "omgd/omgd.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void make_dirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) fail("%s: cannot create directory (%s)", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) fail("%s: cannot create directory (%s)", buf, strerror(errno));
}

// The model's shape: from init_from's header when given (explicit config
// keys must agree with it), else from the config.
static GPT2Config model_shape(const Config *cfg) {
    const ModelConfig *mc = &cfg->model;
    GPT2Config c = {.max_seq_len = mc->context, .vocab_size = mc->vocab,
                    .num_layers = mc->depth, .num_heads = mc->heads, .channels = mc->channels,
                    .padded_vocab_size = mc->padded_vocab ? mc->padded_vocab
                                                          : (mc->vocab + 127) / 128 * 128};
    if (mc->init_from[0] == '\0') return c;
    GPT2Config f;
    model_file_read_config(mc->init_from, &f);
    struct { const char *key; int cfg_value, file_value; } dims[] = {
        {"model.depth", c.num_layers, f.num_layers}, {"model.channels", c.channels, f.channels},
        {"model.heads", c.num_heads, f.num_heads},   {"model.context", c.max_seq_len, f.max_seq_len},
        {"model.vocab", c.vocab_size, f.vocab_size},
        {"model.padded_vocab", c.padded_vocab_size, f.padded_vocab_size}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        if (config_is_set(cfg, dims[i].key) && dims[i].cfg_value != dims[i].file_value)
            config_fail_key(cfg, dims[i].key, "%d, but model.init_from %s has %d", dims[i].cfg_value, mc->init_from,
                            dims[i].file_value);
    }
    if (mc->preset[0] != '\0')
        config_fail_key(cfg, "model.preset", "given with model.init_from; the model file sets the shape");
    return f;
}

static double mib(size_t bytes) { return bytes / (1024.0 * 1024.0); }

// Mean loss over the first `steps` windows of the validation data; rank r
// of N evaluates windows r, r + N, ... (its loader's share). A stop signal
// ends it early (*interrupted = 1 on every rank; the caller logs nothing).
static float validation_loss(Engine *engine, DataLoader *val, int steps, int *inputs, int *targets,
                             int B, int T, Comm *comm, int *interrupted) {
    dataloader_reset(val);
    double sum[2] = {0.0, 0.0};  // loss sum, ranks interrupted
    for (int i = comm->rank; i < steps; i += comm->size) {
        if (signals_stop_requested()) {
            sum[1] = 1.0;
            break;
        }
        dataloader_next_batch(val, inputs, targets);
        sum[0] += engine_forward(engine, inputs, targets, B, T);
    }
    comm_allreduce_sum_host(comm, sum, 2);
    *interrupted = sum[1] > 0.0;
    return (float)(sum[0] / steps);
}

static void row_losses(void *engine, const int *inputs, const int *targets, int T, float *losses) {
    engine_forward(engine, inputs, targets, 1, T);
    memcpy(losses, engine_position_losses(engine), (size_t)T * sizeof(float));
}

// HellaSwag accuracy (data/hellaswag.h); rank r of N scores examples r,
// r + N, ... Collective. -1 when a stop request ended it early on any rank.
static double hellaswag_accuracy(Engine *engine, const HellaSwag *h, int window, Comm *comm) {
    long long correct = 0, scored = 0;
    int stopped = hellaswag_score(h, comm->rank, comm->size, window, row_losses, engine, &correct, &scored);
    if (comm->size > 1) stopped = comm_allreduce_max_int_host(comm, stopped);  // all ranks agree
    if (stopped) return -1.0;
    double sums[2] = {(double)correct, (double)scored};
    comm_allreduce_sum_host(comm, sums, 2);
    return sums[0] / sums[1];
}

static void sample_probs(void *engine, const int *tokens, int len, float *probs) {
    engine_next_token_probs(engine, tokens, len, probs);
}

// Samples n tokens after an end-of-text token (model/sampler.h, temperature
// 1); the RNG is seeded from the step so that samples do not disturb (or
// depend on) the training state. A stop request ends it early, unlogged.
static void generate_sample(Engine *engine, int V, const Tokenizer *tok, const Config *cfg, int step,
                            RunLog *log) {
    int n = cfg->train.sample_tokens;
    int *tokens = xmalloc((size_t)(n + 1) * sizeof(int), "sample tokens");
    Rng rng;
    rng_seed(&rng, rng_derive(cfg->model.seed, 0x5A3D1E00ull + (uint64_t)step));
    Sampler sampler;
    sampler_init(&sampler, &(SamplerSettings){1.0f, 0, 1.0f}, V);
    tokens[0] = tok->eot_token;
    int made = sampler_generate(&sampler, &rng, sample_probs, engine, tokens, 1, n, cfg->train.seq_len, NULL, NULL);
    sampler_free(&sampler);
    if (made < n) {  // a stop signal cut the sample short: nothing to show
        free(tokens);
        return;
    }
    size_t cap = (size_t)n * 64 + 1, len = 0;
    char *text = xcalloc(cap, 1, "sample text");
    for (int i = 1; i <= n; i++) {
        const char *piece = tokenizer_decode(tok, (uint32_t)tokens[i]);
        size_t pl = strlen(piece);
        if (len + pl < cap) { memcpy(text + len, piece, pl); len += pl; }
    }
    text[len] = '\0';
    printf("sample at step %d:\n---\n%s\n---\n", step, text);
    char *escaped = xmalloc(cap * 6 + 3, "sample text");
    json_escape(escaped, cap * 6 + 3, text);
    run_log_write(log, "\"type\":\"sample\",\"step\":%d,\"text\":%s", step, escaped);
    free(escaped);
    free(text);
    free(tokens);
}

// Collective. Whether the weights and every rank's optimizer state are
// finite; if not, what (on rank 0: the first bad value it holds, or which
// rank holds one) goes to what, and no file is written.
static int state_is_finite(const GPT2 *model, const Omgd *omgd, Comm *comm, char *what, size_t cap) {
    int ok = (comm->rank > 0 || gpt2_weights_finite(model, what, cap)) && state_store_finite(&omgd->store, what, cap);
    int bad_rank = comm_allreduce_max_int_host(comm, ok ? 0 : comm->rank + 1);
    if (bad_rank > 1 && comm->rank == 0) snprintf(what, cap, "the optimizer state of rank %d", bad_rank - 1);
    return bad_rank == 0;
}

// Collective. Ranks > 0 write their optimizer-state shards first; rank 0
// then writes the model file and, last, its state file, which records the
// digests of the model file and of every shard: only then is the
// checkpoint complete. Nothing is written when a weight or moment is not
// finite (returns 0, the reason in why): every checkpoint is a good state.
static int save_checkpoint(Engine *engine, const GPT2 *model, const Omgd *omgd, const DataLoader *loader,
                           const Config *cfg, int step, RunLog *log, Comm *comm, char *why, size_t why_cap) {
    engine_sync_host(engine);
    if (!state_is_finite(model, omgd, comm, why, why_cap)) return 0;
    char path[4096], state_path[4096];
    checkpoint_state_path(state_path, sizeof state_path, cfg->output.dir, step);
    FileDigest mine = {0, 0, 0}, *shards = xcalloc((size_t)comm->size, sizeof(FileDigest), "shard digests");
    if (comm->rank > 0) {
        char shard[4200];
        checkpoint_shard_path(shard, sizeof shard, state_path, comm->rank);
        StateWriter w;
        state_writer_open(&w, shard);
        omgd_save(omgd, &w);
        state_writer_commit(&w);
        long long size;
        mine.crc = crc32_file(shard, 0, &size);
        mine.size = size;
    }
    comm_allgather_host(comm, &mine, shards, sizeof mine);
    if (comm->rank > 0) {
        free(shards);
        return 1;
    }
    checkpoint_model_path(path, sizeof path, cfg->output.dir, step);
    FileDigest digest = model_file_save(model, path);
    DataLoaderState ls;
    dataloader_get_state(loader, &ls);
    int64_t st = step;
    StateWriter w;
    state_writer_open(&w, state_path);
    state_write_section(&w, "step", &st, sizeof st);
    state_write_section(&w, "model_file", &digest, sizeof digest);
    if (comm->size > 1) state_write_section(&w, "shards", shards + 1, (uint64_t)(comm->size - 1) * sizeof(FileDigest));
    state_write_section(&w, "dataloader", &ls, sizeof ls);
    char *settings = config_training_text(cfg);  // what a resume compares its settings with
    state_write_section(&w, "config", settings, strlen(settings));
    free(settings);
    omgd_save(omgd, &w);
    state_writer_commit(&w);
    free(shards);
    checkpoint_prune(cfg->output.dir, cfg->output.keep_last);
    run_log_write(log, "\"type\":\"event\",\"event\":\"checkpoint\",\"step\":%d", step);
    printf("checkpoint: %s/model_%08d.bin + state_%08d.bin\n", cfg->output.dir, step, step);
    return 1;
}

// The OMGD settings of the config's omgd section.
static OmgdSettings omgd_settings(const Config *cfg) {
    const OmgdConfig *c = &cfg->omgd;
    OmgdSettings s;
    memset(&s, 0, sizeof s);
    s.mask.mode = strcmp(c->mode, "lisa") == 0          ? MASK_LISA
                  : strcmp(c->mode, "omgd") == 0        ? MASK_OMGD
                  : strcmp(c->mode, "omgd_tensor") == 0 ? MASK_OMGD_TENSOR
                                                        : MASK_NONE;
    s.mask.gamma = c->active_layers;
    s.mask.switch_interval = c->switch_interval;
    s.mask.warmup_steps = c->warmup_steps;
    s.mask.pool_reset = strcmp(c->pool_reset, "below_gamma") == 0 ? POOL_RESET_BELOW_GAMMA : POOL_RESET_EMPTY;
    s.mask.grad_scale = c->grad_scale;
    s.mask.seed = c->seed;
    s.state = strcmp(c->state, "reset") == 0 ? STATE_RESET : STATE_KEEP;
    snprintf(s.replay, sizeof s.replay, "%s", c->replay);
    return s;
}

// One line: what parameters, gradients and optimizer state take now.
static void print_memory(const Omgd *o, const Engine *engine, const char *when) {
    OmgdMemory mem = engine_memory(engine);
    char active[4096];
    omgd_active_json(o, active, sizeof active);
    printf("memory %s: params %.1f MiB | grads %.1f MiB | optimizer state %.1f MiB working + %.1f MiB parked | active %s\n",
           when, mib(mem.params), mib(mem.grads), mib(mem.state_working), mib(mem.state_parked), active);
}

// Which checkpoint to resume from: -1 for a fresh run.
static long resume_step(const Config *cfg) {
    const char *r = cfg->output.resume;
    if (r[0] == '\0') {
        long existing = checkpoint_find_latest(cfg->output.dir);
        if (existing >= 0)
            fail("%s: output.dir %s already holds checkpoints (latest step %ld); set "
                 "output.resume=latest to continue that run, or choose another output.dir",
                 cfg->source, cfg->output.dir, existing);
        return -1;
    }
    if (strcmp(r, "latest") == 0) {
        long s = checkpoint_find_latest_valid(cfg->output.dir);
        if (s < 0 && checkpoint_find_latest(cfg->output.dir) >= 0)
            fail("%s: no checkpoint in it verifies (see the warnings above); refusing to start over it",
                 cfg->output.dir);
        if (s < 0) printf("resume: no checkpoint in %s yet, starting a fresh run\n", cfg->output.dir);
        return s;
    }
    return checkpoint_step_from_path(r);
}

// The model and state files of the checkpoint at `step` being resumed:
// output.resume names the model file, or "latest" means output.dir's newest.
static void resume_paths(const Config *cfg, long step, char *model_path, char *state_path, size_t cap) {
    const char *r = cfg->output.resume;
    if (strcmp(r, "latest") == 0) {
        checkpoint_model_path(model_path, cap, cfg->output.dir, step);
        checkpoint_state_path(state_path, cap, cfg->output.dir, step);
        return;
    }
    snprintf(model_path, cap, "%s", r);
    const char *slash = strrchr(r, '/');
    char dir[4096];
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - r), r);
    else snprintf(dir, sizeof dir, ".");
    checkpoint_state_path(state_path, cap, dir, step);
}

// Rank 0, before any file is written: what resuming step `start` means.
// Refuses train.steps below the checkpoint's step, and a branch (newer
// checkpoints in output.dir) that output.branch does not allow. Returns 1
// if newer checkpoints are to be moved aside (a branch, or with
// resume=latest newer ones that do not verify).
static int check_resume(const Config *cfg, long start) {
    if (cfg->train.steps < start)
        config_fail_key(cfg, "train.steps", "%d is below step %ld of the checkpoint being resumed: nothing to train "
                        "(set train.steps above %ld to train further)", cfg->train.steps, start, start);
    long newest;
    int newer = run_dir_newer_checkpoints(cfg->output.dir, start, &newest);
    if (newer == 0 || strcmp(cfg->output.resume, "latest") == 0) return newer > 0;
    if (!cfg->output.branch) {
        // a damaged checkpoint is the first thing to say, before the branch
        char model_path[4096], state_path[4096], why[1024];
        resume_paths(cfg, start, model_path, state_path, sizeof model_path);
        if (!checkpoint_verify(model_path, state_path, why, sizeof why)) fail("%s", why);
        config_fail_key(cfg, "output.resume",
                        "step %ld, but output.dir %s holds %d newer checkpoint%s (up to step %ld): resuming it starts a "
                        "branch; set output.branch=true to move them and their log to %s/history_after_%08ld/ and "
                        "go on from step %ld, or resume the newest",
                        start, cfg->output.dir, newer, newer == 1 ? "" : "s", newest, cfg->output.dir, start, start);
    }
    return 1;
}

// The training settings a checkpoint was written with (its "config"
// section, malloc'd), or NULL for checkpoints older than that section.
static char *checkpoint_settings(StateReader *r) {
    for (uint64_t i = 0; i < r->count; i++) {
        if (strcmp(r->names[i], "config") != 0 || r->sizes[i] > (1u << 20)) continue;
        char *text = xcalloc(r->sizes[i] + 1, 1, "checkpoint settings");
        state_read_section(r, "config", text, r->sizes[i]);
        return text;
    }
    return NULL;
}

// A checkpoint's optimizer state is laid out by mask unit: blocks (modes
// none, lisa, omgd) or tensors (omgd_tensor). Another layout is refused
// here, naming the setting, before loading would trip over a section size.
static void check_state_layout(const Config *cfg, const Omgd *omgd, const StateReader *r, const char *old_settings,
                               long start) {
    int units = 0, want = omgd->store.num_units;
    for (uint64_t i = 0; i < r->count; i++) units += strncmp(r->names[i], "opt.unit", 8) == 0;
    if (units == want) return;
    char was[64] = "";
    if (!old_settings || !config_training_value(old_settings, "omgd.mode", was, sizeof was))
        snprintf(was, sizeof was, "%s", units == omgd->table->num_tensors ? "\"omgd_tensor\"" : "\"none\", \"lisa\" or \"omgd\"");
    config_fail_key(cfg, "omgd.mode", "\"%s\" cannot resume step %ld, written with omgd.mode %s: its optimizer state is "
                    "kept per %s, this mode keeps it per %s; resume with omgd.mode %s, or start a new run from its "
                    "weights with model.init_from",
                    cfg->omgd.mode, start, was, units == omgd->table->num_tensors ? "tensor" : "block",
                    omgd->tensor_units ? "tensor" : "block", was);
}

static void warn_changed(const char *key, const char *was, const char *now, void *ctx) {
    fprintf(stderr, "warning: resume: %s was %s at step %ld, now %s\n", key, was, *(const long *)ctx, now);
}

// What the training loop carries between steps for checkpoints and stops.
typedef struct {
    Engine *engine;
    GPT2 *model;
    Omgd *omgd;
    DataLoader *loader;
    const Config *cfg;
    RunLog *log;
    Comm *comm;
    long last_saved;       // step of the newest checkpoint this run wrote or resumed from (-1: none)
    char last_good[4096];  // its model file ("" when none)
} RunState;

// Collective. The checkpoint of `step` unless this run already has it. A
// weight or moment that is not finite ends the run here, with no file
// written, naming the newest good checkpoint.
static void checkpoint_step(RunState *rs, int step) {
    if (step == rs->last_saved) return;
    char why[512] = "";
    if (save_checkpoint(rs->engine, rs->model, rs->omgd, rs->loader, rs->cfg, step, rs->log, rs->comm, why, sizeof why)) {
        rs->last_saved = step;
        checkpoint_model_path(rs->last_good, sizeof rs->last_good, rs->cfg->output.dir, step);
        return;
    }
    run_log_write(rs->log, "\"type\":\"event\",\"event\":\"nonfinite_state\",\"step\":%d", step);
    run_log_close(rs->log);
    if (rs->comm->rank > 0) comm_barrier(rs->comm);  // rank 0 reports and ends the job
    if (rs->last_good[0])
        fail("step %d: non-finite %s: no checkpoint written (it would not be a good state); the last good "
             "checkpoint is %s", step, why, rs->last_good);
    fail("step %d: non-finite %s: no checkpoint written, and this run has no earlier one", step, why);
}

// Collective: whether any rank was asked to stop (all ranks then stop at the same point).
static int stop_requested(Comm *comm) {
    int sig = signals_stop_requested();
    return comm->size > 1 ? comm_allreduce_max_int_host(comm, sig) : sig;
}

// Collective. Stops the run on a signal with a checkpoint of `step`.
static void stop_run(RunState *rs, int step, int sig, const char *prog) {
    checkpoint_step(rs, step);
    run_log_write(rs->log, "\"type\":\"event\",\"event\":\"stopped\",\"step\":%d,\"signal\":\"%s\"", step,
                  signals_name(sig));
    run_log_close(rs->log);
    printf("stopped by %s at step %d with a checkpoint; continue with: %s ... --set output.resume=latest\n",
           signals_name(sig), step, prog);
    comm_finalize(rs->comm);
}

// FNV-1a of a string: the ranks compare their effective configs by it.
static uint64_t text_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int main(int argc, char **argv) {
    signals_ignore_file_size_limit();  // a write past `ulimit -f` then fails with one line, not a silent kill
    // ---- ranks (one process unless started by mpirun / srun)
    Comm comm;
    comm_init(&comm, &argc, &argv);
    const int root = comm.rank == 0;
    if (!root && !freopen("/dev/null", "w", stdout)) fail("cannot silence the output of rank %d", comm.rank);

    // ---- configuration and run directory
    Config cfg;
    config_from_args(&cfg, argc, argv);
    comm_connect(&comm, &cfg.comm);  // the GPU trainer's NCCL starts here (comm.init)
    if (comm.size > 1) {
        char *json = config_to_json(&cfg);
        comm_check_agree(&comm, text_hash(json), "the effective config",
                         "start every rank with the same --config file and --set options");
        free(json);
    }
    GPT2Config shape = model_shape(&cfg);
    int B = cfg.train.batch_size, T = cfg.train.seq_len;
    if (T > shape.max_seq_len)
        config_fail_key(&cfg, "train.seq_len", "%d exceeds the model's context %d (model.init_from %s)", T,
                        shape.max_seq_len, cfg.model.init_from);
    long long tokens_per_step = cfg.train.total_batch_tokens ? cfg.train.total_batch_tokens : (long long)B * T;
    int accum = (int)(tokens_per_step / ((long long)B * T));
    if (accum % comm.size != 0)
        config_fail_key(&cfg, "train.total_batch_tokens",
                        "%lld is %d micro-batches of train.batch_size x train.seq_len = %d tokens, which %d ranks "
                        "cannot share evenly: use a multiple of %lld tokens",
                        tokens_per_step, accum, B * T, comm.size, (long long)B * T * comm.size);
    const int accum_local = accum / comm.size;  // micro-batches this rank runs per step
    // The run directory: locked first (a second process refuses before it
    // touches a file), then only decisions until the model is ready; files
    // are moved and written from the log's opening on.
    long start = -1;
    char path[4096];
    RunDirLeftovers leftovers;
    memset(&leftovers, 0, sizeof leftovers);
    int set_aside = 0;  // resuming: newer checkpoints to move out of the way
    char resumed_model[4096] = "";
    if (root) {
        make_dirs(cfg.output.dir);
        run_dir_lock(cfg.output.dir);
        checkpoint_remove_temporaries(cfg.output.dir);
        start = resume_step(&cfg);
        if (start < 0) run_dir_check_fresh(cfg.output.dir, &leftovers);
        else set_aside = check_resume(&cfg, start);
    }
    comm_broadcast_host(&comm, &start, sizeof start, 0);
    if (start >= 0 && start == cfg.train.steps) {
        printf("resume: the checkpoint is at step %ld = train.steps already: nothing to train (set train.steps "
               "higher to train further)\n", start);
        comm_finalize(&comm);
        return 0;
    }

    // ---- data: rank r of N reads global windows r, r + N, ... of the same order
    DataLoader train_loader, val_loader;
    dataloader_init(&train_loader, cfg.data.train, B, T, cfg.data.shuffle, cfg.data.seed, comm.rank, comm.size,
                    shape.vocab_size);
    int val_steps = 0;
    if (cfg.data.val[0] && cfg.train.val_every > 0) {
        dataloader_init(&val_loader, cfg.data.val, B, T, 0, cfg.data.seed, comm.rank, comm.size, shape.vocab_size);
        long long avail = (long long)dataloader_total_windows(&val_loader);
        val_steps = cfg.train.val_steps < avail ? cfg.train.val_steps : (int)avail;
    }
    HellaSwag hellaswag;
    int have_hellaswag = cfg.train.hellaswag_every > 0;
    if (have_hellaswag) hellaswag_open(&hellaswag, cfg.data.hellaswag, shape.vocab_size);
    Tokenizer tokenizer;
    int have_tokenizer = 0;
    if (cfg.train.sample_every > 0 && root) {
        tokenizer_init(&tokenizer, cfg.data.tokenizer);
        have_tokenizer = 1;
    }

    // ---- model and optimizer state
    GPT2 model;
    gpt2_build(&model, &shape);
    size_t n = model.table.num_params;
    OmgdSettings os = omgd_settings(&cfg);
    if (os.mask.mode == MASK_OMGD || os.mask.mode == MASK_LISA) {
        if (cfg.omgd.active_layers > shape.num_layers)
            config_fail_key(&cfg, "omgd.active_layers", "%d exceeds the depth %d of model.init_from %s", cfg.omgd.active_layers,
                            shape.num_layers, cfg.model.init_from);
    }
    Omgd omgd;
    omgd_init_parallel(&omgd, &os, &model.table, &comm);
    // a replay file must hold every period the run will reach (known now for a fixed interval)
    const MaskSchedule *ms = &omgd.schedule;
    if (ms->replay_periods > 0 && cfg.omgd.switch_interval > 0 && cfg.train.steps > cfg.omgd.warmup_steps) {
        long long need = (long long)(cfg.train.steps - 1 - cfg.omgd.warmup_steps) / cfg.omgd.switch_interval + 1;
        if (need > ms->replay_periods)
            fail("%s: holds %d period%s, but the run needs %lld (train.steps %d, omgd.warmup_steps %d, "
                 "omgd.switch_interval %d); add lines or shorten the run",
                 ms->replay_path, ms->replay_periods, ms->replay_periods == 1 ? "" : "s", need, cfg.train.steps,
                 cfg.omgd.warmup_steps, cfg.omgd.switch_interval);
    }
    // ---- what the run is and holds in memory; it stops here if that cannot fit
    printf("model: depth %d, channels %d, heads %d, context %d, vocab %d (padded %d): %zu parameters\n",
           shape.num_layers, shape.channels, shape.num_heads, shape.max_seq_len, shape.vocab_size,
           shape.padded_vocab_size, n);
    printf("batch: %d x %d tokens, %d micro-batches per step = %lld tokens per step\n",
           B, T, accum, tokens_per_step);
    if (comm.size > 1)
        printf("data parallel: %d ranks (%s), %d micro-batches each per step; each rank holds 1/%d of the optimizer state\n",
               comm.size, comm_backend(), accum_local, comm.size);
    printf("train data: %lld tokens in %d shards, %lld windows per epoch (%s)\n",
           (long long)dataloader_total_tokens(&train_loader), dataloader_num_shards(&train_loader),
           (long long)dataloader_windows_per_epoch(&train_loader), cfg.data.shuffle ? "shuffled" : "sequential");
    printf("optimizer: AdamW, omgd.mode %s", cfg.omgd.mode);
    if (os.mask.mode != MASK_NONE) {
        char interval[32], scale[48];
        if (cfg.omgd.switch_interval > 0) snprintf(interval, sizeof interval, "%d steps", cfg.omgd.switch_interval);
        else snprintf(interval, sizeof interval, "one epoch");
        int nu = omgd.settings.mask.num_units, g = cfg.omgd.active_layers;
        double auto_scale = os.mask.mode == MASK_OMGD ? (double)nu / g : os.mask.mode == MASK_OMGD_TENSOR ? g : 1.0;
        if (cfg.omgd.grad_scale > 0) snprintf(scale, sizeof scale, "%g", cfg.omgd.grad_scale);
        else snprintf(scale, sizeof scale, "%g (auto)", auto_scale);
        printf(" (active_layers %d of %d, switch_interval %s, warmup %d steps, pool_reset %s, state %s, grad scale %s)",
               g, nu, interval, cfg.omgd.warmup_steps, cfg.omgd.pool_reset, cfg.omgd.state, scale);
    }
    printf("\n");
    engine_plan(&model, &omgd, B, T, &cfg);
    if (cfg.train.plan_only) {
        printf("train.plan_only: the run fits; exiting without training\n");
        comm_finalize(&comm);
        return 0;
    }

    if (start >= 0) {
        char spath[4096], why[1024];
        resume_paths(&cfg, start, path, spath, sizeof path);
        snprintf(resumed_model, sizeof resumed_model, "%s", path);
        if (root && !checkpoint_verify(path, spath, why, sizeof why)) fail("cannot resume: %s", why);
        comm_barrier(&comm);  // rank 0 has checked every file of the checkpoint
        model_file_load(&model, path);
        DataLoaderState ls;
        int64_t st;
        StateReader r;
        state_reader_open(&r, spath);
        state_read_section(&r, "step", &st, sizeof st);
        if (st != start) fail("%s: holds step %lld, its name says %ld", spath, (long long)st, start);
        if (root) {  // the settings it was written with, against this run's
            char *was = checkpoint_settings(&r);
            check_state_layout(&cfg, &omgd, &r, was, start);
            if (was) {
                char *now = config_training_text(&cfg);
                config_training_diff(was, now, warn_changed, &start);
                free(now);
                free(was);
            }
        }
        int64_t file_ranks = 1;
        if (state_has_section(&r, "shards")) {
            for (uint64_t i = 0; i < r.count; i++)
                if (strcmp(r.names[i], "shards") == 0) file_ranks = 1 + (int64_t)(r.sizes[i] / sizeof(FileDigest));
        }
        state_read_section(&r, "dataloader", &ls, sizeof ls);
        if (file_ranks == comm.size) {
            if (root) omgd_load(&omgd, &model, &r);
            state_reader_close(&r);
            if (!root) {  // this rank's optimizer state is in its own shard
                char shard[4200];
                checkpoint_shard_path(shard, sizeof shard, spath, comm.rank);
                state_reader_open(&r, shard);
                omgd_load(&omgd, &model, &r);
                state_reader_close(&r);
            }
        } else {  // another number of ranks: every rank takes its chunks from the old shards
            state_reader_close(&r);
            StateReader *old = xcalloc((size_t)file_ranks, sizeof(StateReader), "state readers");
            for (int q = 0; q < file_ranks; q++) {
                char shard[4200];
                if (q == 0) snprintf(shard, sizeof shard, "%s", spath);
                else checkpoint_shard_path(shard, sizeof shard, spath, q);
                state_reader_open(&old[q], shard);
            }
            omgd_load_resharded(&omgd, &model, old, (int)file_ranks);
            for (int q = 0; q < file_ranks; q++) state_reader_close(&old[q]);
            free(old);
            printf("optimizer state of %lld rank%s resharded onto %d\n", (long long)file_ranks,
                   file_ranks == 1 ? "" : "s", comm.size);
        }
        dataloader_set_state(&train_loader, &ls);
        printf("resumed from %s (step %ld)\n", path, start);
    } else if (cfg.model.init_from[0]) {
        model_file_load(&model, cfg.model.init_from);
    } else {
        gpt2_init_random(&model, cfg.model.seed);
    }
    int first_step = start >= 0 ? (int)start : 0;

    // ---- the engine: the hardware that trains, with its working copies of the weights and state
    Engine *engine = engine_create(&model, &omgd, B, T, &cfg);
    printf("engine: %s\n", engine_describe(engine));

    // ---- the run directory's files: from here on this run writes them
    RunLog log;
    memset(&log, 0, sizeof log);
    const char *history = NULL;
    if (root) {
        run_dir_move_leftovers(cfg.output.dir, &leftovers);
        if (set_aside) {
            history = run_dir_set_aside_after(cfg.output.dir, start);
            printf("branch: the checkpoints after step %ld and the log that describes them moved to %s/%s/\n", start,
                   cfg.output.dir, history);
        }
        snprintf(path, sizeof path, "%s/config.json", cfg.output.dir);
        config_write_json(&cfg, path);
        run_log_open(&log, cfg.output.dir, start >= 0 ? (int)start : -1, history != NULL);
    }
    // MFU (GPU engine): the device's dense bf16 peak, named in the start event
    char peak_what[320], peak_json[480] = "", peak_s[32];
    double peak_flops = engine_peak_flops(engine, peak_what, sizeof peak_what);
    if (peak_what[0]) {
        char what_json[360];
        json_escape(what_json, sizeof what_json, peak_what);
        json_number(peak_s, sizeof peak_s, peak_flops > 0 ? peak_flops : NAN);
        snprintf(peak_json, sizeof peak_json, ",\"peak_flops\":%s,\"peak\":%s", peak_s, what_json);
        printf("MFU: over the peak of %s\n", peak_what);
    }
    run_log_write(&log, "\"type\":\"event\",\"event\":\"%s\",\"step\":%d,\"num_params\":%zu,\"tokens_per_step\":%lld,"
                  "\"world_size\":%d,\"comm\":\"%s\"%s",
                  start >= 0 ? "resume" : "start", first_step, n, tokens_per_step, comm.size, comm_backend(), peak_json);
    if (history)
        run_log_write(&log, "\"type\":\"event\",\"event\":\"branch\",\"step\":%d,\"moved_to\":\"%s\"", first_step,
                      history);

    // ---- training loop: step S evaluates, samples and checkpoints the
    // weights after S updates, then (unless it is the last) runs update S.
    int *inputs = xmalloc((size_t)B * T * sizeof(int), "input batch");
    int *targets = xmalloc((size_t)B * T * sizeof(int), "target batch");
    const int steps = cfg.train.steps;
    double total_ms = 0.0;
    int timed_steps = 0;
    RunState rs = {engine, &model, &omgd, &train_loader, &cfg, &log, &comm, start, ""};
    if (start >= 0) snprintf(rs.last_good, sizeof rs.last_good, "%s", resumed_model);
    LossGuard guard;
    loss_guard_init(&guard);
    // test hook (fault injection): make the gradient norm of this step NaN
    const char *fault = getenv("OMGD_FAULT_NAN_STEP");
    int fault_nan_step = fault ? atoi(fault) : -1;
    // test hook (a rank dying): rank OMGD_FAULT_EXIT_RANK exits at step OMGD_FAULT_EXIT_STEP
    const char *fault_rank = getenv("OMGD_FAULT_EXIT_RANK"), *fault_step = getenv("OMGD_FAULT_EXIT_STEP");
    int fault_exit_step = fault_rank && fault_step && atoi(fault_rank) == comm.rank ? atoi(fault_step) : -1;
    // test hook (CPU trainer): a weight made NaN by update OMGD_FAULT_NAN_WEIGHT_STEP
    const char *fault_w = getenv("OMGD_FAULT_NAN_WEIGHT_STEP");
    int fault_nan_weight_step = fault_w ? atoi(fault_w) : -1;
    signals_install();
    for (int step = first_step; step <= steps; step++) {
        int last = step == steps;
        int sig = stop_requested(&comm);
        if (sig && !last) {
            stop_run(&rs, step, sig, argv[0]);
            return 0;
        }
        if (step == fault_exit_step) {
            fprintf(stderr, "fault injection: rank %d exits at step %d\n", comm.rank, step);
            _Exit(3);
        }
        // validation and samples can take long: a stop signal cuts them short
        int evaluated = 0;
        if (val_steps > 0 && (last || step % cfg.train.val_every == 0)) {
            int interrupted;
            float vl = validation_loss(engine, &val_loader, val_steps, inputs, targets, B, T, &comm, &interrupted);
            if (!interrupted) {
                char vl_s[32];
                json_number(vl_s, sizeof vl_s, vl);
                printf("step %d | val loss %.4f\n", step, vl);
                run_log_write(&log, "\"type\":\"val\",\"step\":%d,\"val_loss\":%s", step, vl_s);
            }
            evaluated = 1;
        }
        if (have_hellaswag && (last || step % cfg.train.hellaswag_every == 0)) {
            double acc = hellaswag_accuracy(engine, &hellaswag, T, &comm);
            if (acc >= 0) {
                printf("step %d | hellaswag %.4f (%d examples)\n", step, acc, hellaswag.num_examples);
                run_log_write(&log, "\"type\":\"eval\",\"step\":%d,\"hellaswag\":%.6f", step, acc);
            }
            evaluated = 1;
        }
        if (cfg.train.sample_every > 0 && (last || step % cfg.train.sample_every == 0)) {
            if (have_tokenizer) generate_sample(engine, shape.vocab_size, &tokenizer, &cfg, step, &log);
            evaluated = 1;
        }
        if (evaluated && !last && (sig = stop_requested(&comm)) != 0) {
            stop_run(&rs, step, sig, argv[0]);
            return 0;
        }
        int ckpt_due = last || (cfg.output.checkpoint_every > 0 && step % cfg.output.checkpoint_every == 0);
        if (ckpt_due) checkpoint_step(&rs, step);
        if (last) break;

        double t0 = now_ms();
        uint64_t sent0 = comm.bytes_sent, coll0 = comm.bytes_collective;  // the step's collectives: the active slice
        int new_period = engine_begin_step(engine, step, dataloader_epoch(&train_loader));
        if (new_period || step == first_step) {
            char when[64];
            snprintf(when, sizeof when, "at step %d%s", step, new_period ? " (new period)" : "");
            print_memory(&omgd, engine, when);
        }
        engine_zero_grad(engine);
        DataLoaderState at_step;  // a step cut short by a stop signal is run again on resume from here
        dataloader_get_state(&train_loader, &at_step);
        double loss_sum = 0.0;
        for (int micro = 0; micro < accum_local; micro++) {
            if (micro > 0 && signals_stop_requested()) break;  // a step of many micro-batches can take minutes
            dataloader_next_batch(&train_loader, inputs, targets);
            engine_train_micro_batch(engine, inputs, targets, B, T, 1.0f / (float)accum);
        }
        loss_sum = engine_loss_sum(engine);  // the host waits here, once per step
        if (accum_local > 1 && (sig = stop_requested(&comm)) != 0) {
            // the step's gradients are dropped: the checkpoint holds the weights after `step` updates
            dataloader_set_state(&train_loader, &at_step);
            printf("stop requested during step %d: its micro-batches are dropped\n", step);
            stop_run(&rs, step, sig, argv[0]);
            return 0;
        }
        comm_allreduce_sum_host(&comm, &loss_sum, 1);
        float loss = (float)(loss_sum / accum);
        double lr = lr_at_step(cfg.optimizer.schedule, cfg.optimizer.lr, cfg.optimizer.min_lr,
                               cfg.optimizer.warmup_steps, steps, step);
        AdamWHyper hp = {(float)lr, (float)cfg.optimizer.beta1, (float)cfg.optimizer.beta2,
                         (float)cfg.optimizer.eps, (float)cfg.optimizer.weight_decay};
        float norm = engine_reduce_gradients(engine);  // sums the active slice over the ranks
        if (step == fault_nan_step) norm = NAN;
        GuardVerdict verdict = loss_guard_check(&guard, &cfg.train, loss, norm);
        if (verdict.action == GUARD_APPLY) engine_apply_update(engine, &hp, (float)cfg.optimizer.grad_clip, norm, step);
        if (step == fault_nan_weight_step) model.params[0] = NAN;
        double ms = now_ms() - t0;
        if (step > first_step) { total_ms += ms; timed_steps++; }  // the first step warms caches
        double avg = timed_steps ? total_ms / timed_steps : ms;
        double tps = tokens_per_step / (ms / 1e3);
        int eta_s = (int)(avg * (steps - step - 1) / 1e3);
        // MFU of one device: its share of the tokens, the FLOPs the step needed
        // (frozen blocks' weight gradients excluded), over its peak
        char mfu_line[32] = "", mfu_json[48] = "";
        if (peak_what[0]) {
            double fpt = gpt2_train_flops_per_token(&model.table, T, omgd.trainable);
            double mfu = peak_flops > 0 ? tps / comm.size * fpt / peak_flops : NAN;
            char mfu_s[32];
            json_number(mfu_s, sizeof mfu_s, mfu);
            snprintf(mfu_json, sizeof mfu_json, ",\"mfu\":%s", mfu_s);
            if (isfinite(mfu)) snprintf(mfu_line, sizeof mfu_line, " | mfu %.1f%%", 100.0 * mfu);
            else snprintf(mfu_line, sizeof mfu_line, " | mfu n/a");
        }
        printf("step %5d/%d | loss %.4f | lr %.2e | norm %.3f | %.1f ms | %.0f tok/s%s | eta %dm%02ds\n",
               step, steps, loss, lr, norm, ms, tps, mfu_line, eta_s / 60, eta_s % 60);
        fflush(stdout);
        char active[4096];
        omgd_active_json(&omgd, active, sizeof active);
        OmgdMemory mem = engine_memory(engine);
        char loss_s[32], norm_s[32];
        json_number(loss_s, sizeof loss_s, loss);
        json_number(norm_s, sizeof norm_s, norm);
        uint64_t sent = comm.bytes_sent - sent0, coll = comm.bytes_collective - coll0;
        char peak[64] = "";  // the device's peak memory (GPU engine only)
        size_t peak_bytes = engine_peak_device_bytes(engine);
        if (peak_bytes) snprintf(peak, sizeof peak, ",\"bytes_device_peak\":%zu", peak_bytes);
        run_log_write(&log, "\"type\":\"train\",\"step\":%d,\"loss\":%s,\"lr\":%.9g,\"grad_norm\":%s,\"ms\":%.3f,\"tokens_per_s\":%.1f,"
                      "\"active_layers\":%s,\"bytes_params\":%zu,\"bytes_grads\":%zu,\"bytes_state_working\":%zu,\"bytes_state_parked\":%zu,"
                      "\"bytes_sent\":%llu,\"bytes_collective\":%llu%s%s%s",
                      step, loss_s, lr, norm_s, ms, tps, active, mem.params, mem.grads, mem.state_working, mem.state_parked,
                      (unsigned long long)sent, (unsigned long long)coll, peak, mfu_json,
                      verdict.action == GUARD_APPLY ? "" : ",\"skipped\":true");
        if (verdict.nonfinite || verdict.spike) {
            const char *what = verdict.nonfinite ? "nonfinite" : "loss_spike";
            const char *action = verdict.action == GUARD_APPLY ? "applied" : verdict.action == GUARD_SKIP ? "skipped" : "stopped";
            printf("warning: step %d: %s (loss %s, grad norm %s, z-score %.1f): update %s\n", step,
                   verdict.nonfinite ? "non-finite loss or gradient norm" : "loss spike", loss_s, norm_s, verdict.zscore, action);
            run_log_write(&log, "\"type\":\"event\",\"event\":\"%s\",\"step\":%d,\"loss\":%s,\"grad_norm\":%s,\"zscore\":%.3f,\"action\":\"%s\"",
                          what, step, loss_s, norm_s, verdict.zscore, action);
        }
        if (verdict.action == GUARD_STOP) {
            // the update was not applied: the weights are the last good state, if they are finite
            checkpoint_step(&rs, step);
            run_log_close(&log);
            if (!root) comm_barrier(&comm);  // rank 0 reports and ends the job
            fail("step %d: non-finite loss or gradient norm (%s%d in a row); stopped with the last good state in checkpoint %s",
                 step, strcmp(cfg.train.on_nonfinite, "stop") == 0 ? "train.on_nonfinite is stop; " : "",
                 guard.nonfinite_in_a_row, rs.last_good);
        }
    }
    run_log_write(&log, "\"type\":\"event\",\"event\":\"done\",\"step\":%d", steps);
    run_log_close(&log);
    printf("done: %d steps, average %.1f ms per step; log in %s/log.jsonl\n", steps,
           timed_steps ? total_ms / timed_steps : 0.0, cfg.output.dir);

    free(inputs);
    free(targets);
    engine_free(engine);
    omgd_free(&omgd);
    gpt2_free(&model);
    dataloader_free(&train_loader);
    if (val_steps > 0) dataloader_free(&val_loader);
    if (have_tokenizer) tokenizer_free(&tokenizer);
    if (have_hellaswag) hellaswag_free(&hellaswag);
    comm_finalize(&comm);
    return 0;
}
