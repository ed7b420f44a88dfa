// The config contract: defaults, file then --set in order, presets,
// config.json round trip, and one clear line for every kind of mistake.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/error.h"
#include "test/check.h"

static char dir[64];

static const char *write_cfg(const char *name, const char *text) {
    static char path[8][256];
    static int next = 0;
    char *p = path[next++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = xfopen(p, "w");
    fputs(text, f);
    xfclose(f, p);
    return p;
}

static const char *ok_file_early(void) { return write_cfg("empty.json", "{}"); }

static const char *child_path;
static const char *child_sets[4];
static int child_nsets;
static void load_child(void *arg) {
    Config c;
    config_load(&c, child_path, child_nsets, child_sets);
}
static char **child_argv;
static int child_argc;
static void args_child(void *arg) {
    Config c;
    config_from_args(&c, child_argc, child_argv);
}

// Expects config_load(path, set) to fail with one line holding each needle.
static void expect_error(const char *label, const char *path, const char *set, const char *n1,
                         const char *n2) {
    char err[2048];
    child_path = path;
    child_sets[0] = set;
    child_nsets = set ? 1 : 0;
    int rc = run_in_child(load_child, NULL, err, sizeof err);
    CHECK(rc == 1 && is_one_line_error(err, n1) && (!n2 || strstr(err, n2)), label, "exit %d: %s", rc, err);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_config_XXXXXX");
    if (!mkdtemp(dir)) fail("mkdtemp failed");
    Config c;

    // defaults
    config_load(&c, NULL, 0, NULL);
    CHECK(c.model.depth == 12 && c.model.channels == 768 && c.train.batch_size == 4 &&
              c.optimizer.lr == 6e-4 && c.data.shuffle == 1 && strcmp(c.optimizer.schedule, "cosine") == 0 &&
              strcmp(c.omgd.mode, "none") == 0 && c.omgd.grad_scale == 0 && c.model.seed == 1337,
          "defaults", "depth %d lr %g", c.model.depth, c.optimizer.lr);
    CHECK(!config_is_set(&c, "model.depth"), "defaults are not explicitly set", "depth marked set");

    // file, then --set in order (the last one wins)
    const char *f1 = write_cfg("a.json",
                               "{\"model\": {\"preset\": \"d2\", \"heads\": 2},"
                               " \"train\": {\"batch_size\": 8, \"total_batch_tokens\": 1024},"
                               " \"optimizer\": {\"lr\": 3e-3, \"schedule\": \"linear\"},"
                               " \"omgd\": {\"mode\": \"omgd\", \"switch_interval\": \"epoch\", \"grad_scale\": \"auto\", \"active_layers\": 1}}");
    const char *sets[] = {"train.batch_size=2", "train.batch_size=16", "data.shuffle=false", "model.seed=9007199254740992"};
    config_load(&c, f1, 4, sets);
    CHECK(c.train.batch_size == 16 && c.data.shuffle == 0 && c.optimizer.lr == 3e-3 &&
              c.train.total_batch_tokens == 1024 && strcmp(c.optimizer.schedule, "linear") == 0 &&
              c.model.seed == 9007199254740992ull,
          "file then --set overrides, in order", "batch %d shuffle %d", c.train.batch_size, c.data.shuffle);
    CHECK(c.model.depth == 2 && c.model.channels == 128 && c.model.heads == 2,
          "preset fills depth and channels, explicit heads win", "%d %d %d", c.model.depth, c.model.channels,
          c.model.heads);
    CHECK(c.omgd.switch_interval == 0 && c.omgd.grad_scale == 0 && c.omgd.active_layers == 1,
          "keywords: switch_interval \"epoch\", grad_scale \"auto\"", "%d %g", c.omgd.switch_interval, c.omgd.grad_scale);
    CHECK(config_is_set(&c, "model.heads") && config_is_set(&c, "data.shuffle") && !config_is_set(&c, "model.depth"),
          "explicitly given keys are marked", "marks wrong");

    // config.json round trip
    char out[256];
    snprintf(out, sizeof out, "%s/written.json", dir);
    config_write_json(&c, out);
    Config back;
    config_load(&back, out, 0, NULL);
    // the preset re-applies nothing: depth etc. are explicit in the written file
    memcpy(back.source, c.source, sizeof back.source);
    memcpy(back.is_set, c.is_set, sizeof back.is_set);
    CHECK(memcmp(&c, &back, sizeof c) == 0, "config.json reads back to the same configuration", "configs differ");

    // errors, each one line naming the file (or --set) and the key
    expect_error("missing file", "/nonexistent/cfg.json", NULL, "/nonexistent/cfg.json", "cannot open");
    const char *bad_json = write_cfg("bad.json", "{\n\"train\": {\n \"steps\": 10,\n}\n}\n");
    expect_error("malformed JSON names the line", bad_json, NULL, "invalid JSON near line", bad_json);
    expect_error("top level not an object", write_cfg("arr.json", "[1, 2]"), NULL, "expected a JSON object", NULL);
    expect_error("unknown section", write_cfg("sec.json", "{\"modle\": {}}"), NULL, "modle", "unknown section");
    expect_error("unknown key lists the known ones", write_cfg("key.json", "{\"model\": {\"depht\": 3}}"), NULL,
                 "model.depht: unknown key", "depth");
    expect_error("string for an integer", write_cfg("t1.json", "{\"train\": {\"batch_size\": \"abc\"}}"), NULL,
                 "train.batch_size: expected an integer", "\"abc\"");
    expect_error("fraction for an integer", write_cfg("t2.json", "{\"train\": {\"steps\": 2.5}}"), NULL,
                 "train.steps: expected an integer", "2.5");
    expect_error("number for a bool", write_cfg("t3.json", "{\"data\": {\"shuffle\": 1}}"), NULL,
                 "data.shuffle: expected true or false", NULL);
    expect_error("negative seed", write_cfg("t4.json", "{\"model\": {\"seed\": -1}}"), NULL, "model.seed", "-1");
    expect_error("seed beyond 2^53", ok_file_early(), "data.seed=18446744073709551615", "--set: data.seed", "2^53");
    expect_error("out of range", write_cfg("r1.json", "{\"optimizer\": {\"beta1\": 1.5}}"), NULL,
                 "optimizer.beta1: expected a number in [0, 1)", "1.5");
    expect_error("zero batch size", write_cfg("r2.json", "{\"train\": {\"batch_size\": 0}}"), NULL,
                 "train.batch_size", "got 0");
    expect_error("bad enum lists the allowed values", write_cfg("e1.json", "{\"optimizer\": {\"schedule\": \"exp\"}}"),
                 NULL, "optimizer.schedule: expected one of cosine,linear,constant", "\"exp\"");
    expect_error("bad preset", write_cfg("e2.json", "{\"model\": {\"preset\": \"d13\"}}"), NULL, "model.preset", "d13");
    expect_error("duplicate key", write_cfg("d1.json", "{\"train\": {\"steps\": 1, \"steps\": 2}}"), NULL,
                 "train.steps: key appears twice", NULL);
    expect_error("section not an object", write_cfg("s1.json", "{\"train\": 3}"), NULL, "train: expected an object", NULL);
    const char *ok_file = write_cfg("ok.json", "{}");
    expect_error("--set without =", ok_file, "train.steps", "--set train.steps", "key.path=value");
    expect_error("--set unknown key", ok_file, "train.stepz=3", "--set train.stepz: unknown key", "steps");
    expect_error("--set bad value", ok_file, "train.steps=ten", "--set: train.steps", "\"ten\"");
    expect_error("--set bad bool", ok_file, "data.shuffle=yes", "--set: data.shuffle", "true or false");
    // cross-key checks
    expect_error("heads must divide channels", ok_file, "model.heads=7", "model.heads", "divide");
    expect_error("seq_len within the context", ok_file, "train.seq_len=2048", "train.seq_len", "model.context");
    expect_error("total batch a multiple of B*T", ok_file, "train.total_batch_tokens=1000", "train.total_batch_tokens",
                 "multiple");
    expect_error("min_lr at most lr", ok_file, "optimizer.min_lr=1", "optimizer.min_lr", "exceeds");
    expect_error("padded vocab at least vocab", ok_file, "model.padded_vocab=100", "model.padded_vocab", "50257");
    expect_error("empty training glob", ok_file, "data.train=", "data.train", NULL);
    expect_error("warmup at most steps", ok_file, "optimizer.warmup_steps=5000", "optimizer.warmup_steps", "train.steps");
    expect_error("active_layers at most depth", write_cfg("o1.json", "{\"omgd\": {\"mode\": \"omgd\"}}"),
                 "omgd.active_layers=13", "omgd.active_layers", "model.depth");

    // command line
    {
        char err[1024];
        char *argv1[] = {"train_gpt2", "--config", (char *)ok_file, "--config", (char *)ok_file, NULL};
        child_argv = argv1;
        child_argc = 5;
        int rc = run_in_child(args_child, NULL, err, sizeof err);
        CHECK(rc == 1 && is_one_line_error(err, "--config given twice"), "--config twice refused", "exit %d: %s", rc, err);
        char *argv2[] = {"train_gpt2", "--bogus", NULL};
        child_argv = argv2;
        child_argc = 2;
        rc = run_in_child(args_child, NULL, err, sizeof err);
        CHECK(rc == 1 && is_one_line_error(err, "unknown argument \"--bogus\""), "unknown argument refused",
              "exit %d: %s", rc, err);
        char *argv3[] = {"train_gpt2", "--config", NULL};
        child_argv = argv3;
        child_argc = 2;
        rc = run_in_child(args_child, NULL, err, sizeof err);
        CHECK(rc == 1 && is_one_line_error(err, "--config: expected a file name"), "--config without a file refused",
              "exit %d: %s", rc, err);
        char *argv4[] = {"train_gpt2", "--help", NULL};
        child_argv = argv4;
        child_argc = 2;
        rc = run_in_child(args_child, NULL, err, sizeof err);
        CHECK(rc == 0 && err[0] == '\0', "--help exits 0", "exit %d: %s", rc, err);
    }

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", dir);
    CHECK_EXIT();
}
