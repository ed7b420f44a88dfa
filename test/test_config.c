// The config contract: defaults, file then --set in order, presets,
// config.json round trip, docs in step with the key table, and one clear
// line (naming the file or --set, and the key) for every kind of mistake.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/config.h"
#include "common/error.h"
#include "test/check.h"

static char dir[64];

static const char *write_cfg(const char *name, const char *text) {
    static char path[16][256];
    static int next = 0;
    char *p = path[next++ % 16];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = xfopen(p, "w");
    fputs(text, f);
    xfclose(f, p);
    return p;
}

// "a: b" in a rotating buffer, for the expected start of a message.
static const char *at(const char *where, const char *key) {
    static char buf[8][512];
    static int next = 0;
    char *p = buf[next++ % 8];
    if (strcmp(where, "--set") == 0) snprintf(p, 512, "error: --set %s: ", key);
    else snprintf(p, 512, "error: %s: %s: ", where, key);
    return p;
}

static const char *child_path;
static const char *child_sets[8];
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

// config_load(path, sets...) must exit 1 with one line that starts with
// `start` (NULL: just "error: ") and holds `needle` (NULL: anything).
static void expect_error_n(const char *label, const char *path, int nsets, const char *const *sets, const char *start,
                           const char *needle) {
    char err[2048];
    child_path = path;
    child_nsets = nsets;
    for (int i = 0; i < nsets; i++) child_sets[i] = sets[i];
    int rc = run_in_child(load_child, NULL, err, sizeof err);
    int ok = rc == 1 && is_one_line_error(err, needle) && (!start || strncmp(err, start, strlen(start)) == 0);
    CHECK(ok, label, "exit %d, expected start '%s' and '%s': %s", rc, start ? start : "", needle ? needle : "", err);
}
static void expect_error(const char *label, const char *path, const char *set, const char *start,
                         const char *needle) {
    expect_error_n(label, path, set ? 1 : 0, &set, start, needle);
}

// The exact message, for the formats the brief pins down.
static void expect_exact(const char *label, const char *path, const char *set, const char *line) {
    char err[2048], want[1024];
    child_path = path;
    child_sets[0] = set;
    child_nsets = set ? 1 : 0;
    int rc = run_in_child(load_child, NULL, err, sizeof err);
    snprintf(want, sizeof want, "%s\n", line);
    CHECK(rc == 1 && strcmp(err, want) == 0, label, "exit %d: got '%s', want '%s'", rc, err, line);
}

// config_from_args(argv) in a child; returns its exit status, stderr in err
// and stdout in out.
static int run_args(char **argv, int argc, char *err, size_t errcap, char *out, size_t outcap) {
    char path[128];
    snprintf(path, sizeof path, "%s/stdout.txt", dir);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (saved < 0 || fd < 0) fail("cannot redirect stdout");
    child_argv = argv;
    child_argc = argc;
    // like run_in_child, but the child's stdout goes to a file
    dup2(fd, 1);
    close(fd);
    int rc = -1;
    {
        int fds[2];
        if (pipe(fds) != 0) fail("pipe failed");
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            dup2(fds[1], 2);
            args_child(NULL);
            fflush(stdout);
            _exit(0);
        }
        close(fds[1]);
        size_t len = 0;
        ssize_t r;
        while (len + 1 < errcap && (r = read(fds[0], err + len, errcap - 1 - len)) > 0) len += (size_t)r;
        err[len] = '\0';
        close(fds[0]);
        int status;
        waitpid(pid, &status, 0);
        rc = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    }
    dup2(saved, 1);
    close(saved);
    FILE *f = xfopen(path, "r");
    size_t n = fread(out, 1, outcap - 1, f);
    out[n] = '\0';
    fclose(f);
    return rc;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    long long n = xfilesize(f, path);
    char *s = xmalloc((size_t)n + 1, path);
    xfread(s, 1, (size_t)n, f, path);
    fclose(f);
    s[n] = '\0';
    return s;
}

static int same_values(Config a, Config b) {
    memset(a.source, 0, sizeof a.source);
    memset(b.source, 0, sizeof b.source);
    memset(a.is_set, 0, sizeof a.is_set);
    memset(b.is_set, 0, sizeof b.is_set);
    return memcmp(&a, &b, sizeof a) == 0;
}

static void test_defaults(void) {
    Config c;
    config_load(&c, NULL, 0, NULL);
    const ModelConfig *m = &c.model;
    CHECK(strcmp(m->preset, "") == 0 && m->depth == 12 && m->channels == 768 && m->heads == 12 && m->context == 1024 &&
              m->vocab == 50257 && m->padded_vocab == 0 && strcmp(m->init_from, "") == 0 && m->seed == 1337,
          "model defaults", "depth %d channels %d", m->depth, m->channels);
    CHECK(strcmp(c.data.train, "data/brown/brown_train_*.bin") == 0 &&
              strcmp(c.data.val, "data/brown/brown_val_*.bin") == 0 && c.data.shuffle == 1 && c.data.seed == 1337,
          "data defaults", "%s %s", c.data.train, c.data.val);
    const TrainConfig *t = &c.train;
    CHECK(t->batch_size == 4 && t->seq_len == 64 && t->total_batch_tokens == 0 && t->steps == 1000 &&
              t->val_every == 100 && t->val_steps == 20 && t->sample_every == 0 && t->sample_tokens == 64,
          "train defaults", "B %d T %d", t->batch_size, t->seq_len);
    const OptimizerConfig *o = &c.optimizer;
    CHECK(o->lr == 6e-4 && o->min_lr == 6e-5 && o->warmup_steps == 0 && strcmp(o->schedule, "cosine") == 0 &&
              o->beta1 == 0.9 && o->beta2 == 0.95 && o->eps == 1e-8 && o->weight_decay == 0.1 && o->grad_clip == 1.0,
          "optimizer defaults", "lr %g", o->lr);
    CHECK(strcmp(c.output.dir, "runs/default") == 0 && c.output.checkpoint_every == 0 && c.output.keep_last == 0 &&
              strcmp(c.output.resume, "") == 0,
          "output defaults", "%s", c.output.dir);
    CHECK(strcmp(c.omgd.mode, "none") == 0 && c.omgd.grad_scale == 0, "omgd defaults", "%s", c.omgd.mode);
    int n = config_key_count(), unset = 1, unique = 1;
    for (int i = 0; i < n; i++) {
        unset &= !config_is_set(&c, config_key_path(i));
        for (int j = 0; j < i; j++) unique &= strcmp(config_key_path(i), config_key_path(j)) != 0;
    }
    CHECK(n > 40 && n <= CONFIG_MAX_KEYS && config_key_path(n) == NULL && config_key_path(-1) == NULL,
          "key table is listed", "%d keys", n);
    CHECK(unset && unique, "defaults are not marked as given; key paths are unique", "unset %d unique %d", unset, unique);
    // each section's keys are together (config.json and the docs group them)
    int grouped = 1;
    for (int i = 2; i < n; i++) {
        const char *k = config_key_path(i);
        size_t sl = (size_t)(strchr(k, '.') - k) + 1;
        if (strncmp(config_key_path(i - 1), k, sl) == 0) continue;
        for (int j = 0; j < i - 1; j++) grouped &= strncmp(config_key_path(j), k, sl) != 0;
    }
    CHECK(grouped, "every section's keys are contiguous in the table", "a section is split");
}

static void test_file_and_sets(void) {
    Config c;
    const char *f1 = write_cfg("a.json",
                               "{\"model\": {\"preset\": \"d2\", \"heads\": 2},"
                               " \"train\": {\"batch_size\": 8, \"total_batch_tokens\": 1024, \"steps\": 50},"
                               " \"optimizer\": {\"lr\": 3e-3, \"schedule\": \"linear\"},"
                               " \"omgd\": {\"mode\": \"omgd\", \"switch_interval\": \"epoch\", \"grad_scale\": \"auto\","
                               " \"active_layers\": 1}}");
    const char *sets[] = {"train.batch_size=2", "train.batch_size=16", "data.shuffle=false", "model.seed=9007199254740992"};
    config_load(&c, f1, 4, sets);
    CHECK(c.train.batch_size == 16 && c.data.shuffle == 0 && c.optimizer.lr == 3e-3 && c.train.steps == 50 &&
              c.train.total_batch_tokens == 1024 && strcmp(c.optimizer.schedule, "linear") == 0 &&
              c.model.seed == 9007199254740992ull,
          "file then --set overrides, in order (the last one wins)", "batch %d shuffle %d", c.train.batch_size,
          c.data.shuffle);
    CHECK(c.model.depth == 2 && c.model.channels == 128 && c.model.heads == 2,
          "preset fills depth and channels, the file's heads win", "%d %d %d", c.model.depth, c.model.channels,
          c.model.heads);
    CHECK(c.omgd.switch_interval == 0 && c.omgd.grad_scale == 0 && c.omgd.active_layers == 1,
          "keywords: switch_interval \"epoch\", grad_scale \"auto\"", "%d %g", c.omgd.switch_interval, c.omgd.grad_scale);
    CHECK(config_is_set(&c, "model.heads") == CONFIG_FROM_FILE && config_is_set(&c, "train.batch_size") == CONFIG_FROM_SET &&
              config_is_set(&c, "data.shuffle") == CONFIG_FROM_SET && !config_is_set(&c, "model.depth") &&
              !config_is_set(&c, "model.channels") && !config_is_set(&c, "data.val"),
          "explicitly given keys are marked with their source", "marks wrong");
    CHECK(strcmp(c.source, f1) == 0, "source names the file", "%s", c.source);

    // no file: defaults + --set; strings verbatim (with '=' and blanks); bools 1/0
    const char *s2[] = {"data.train=a b=c/*.bin", "data.shuffle=0", "train.skip_spikes=1", "optimizer.lr=1e-3"};
    config_load(&c, NULL, 4, s2);
    CHECK(strcmp(c.data.train, "a b=c/*.bin") == 0 && c.data.shuffle == 0 && c.train.skip_spikes == 1 &&
              c.optimizer.lr == 1e-3 && strcmp(c.source, "--set") == 0,
          "--set without a file; strings verbatim, bools as 1/0", "train '%s'", c.data.train);
    const char *s3[] = {"data.shuffle=true", "data.val="};
    config_load(&c, NULL, 2, s3);
    CHECK(c.data.shuffle == 1 && c.data.val[0] == '\0' && config_is_set(&c, "data.val"), "--set of an empty string",
          "val '%s'", c.data.val);
    // JSON integers may be written as 2.0 / 1e3
    config_load(&c, write_cfg("int.json", "{\"train\": {\"steps\": 1e3, \"batch_size\": 2.0}}"), 0, NULL);
    CHECK(c.train.steps == 1000 && c.train.batch_size == 2, "integral JSON numbers accepted for integer keys", "%d %d",
          c.train.steps, c.train.batch_size);
    // with init_from the shape comes from the model file: seq_len is checked by the trainer
    const char *s4[] = {"model.init_from=x.bin", "train.seq_len=2048"};
    config_load(&c, NULL, 2, s4);
    CHECK(c.train.seq_len == 2048, "init_from defers the context check to the model file", "%d", c.train.seq_len);
}

static void test_presets(void) {
    struct { const char *name; int depth, channels, heads; } want[] = {
        {"d2", 2, 128, 4}, {"d4", 4, 256, 4}, {"d6", 6, 384, 6}, {"d12", 12, 768, 12},
        {"d24", 24, 1024, 16}, {"d36", 36, 1280, 20}, {"d48", 48, 1600, 25},
    };
    int ok = 1;
    char set[64];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        Config c;
        const char *sets[] = {set};
        snprintf(set, sizeof set, "model.preset=%s", want[i].name);
        config_load(&c, NULL, 1, sets);
        if (c.model.depth != want[i].depth || c.model.channels != want[i].channels || c.model.heads != want[i].heads) {
            ok = 0;
            printf("# %s gave %d/%d/%d\n", want[i].name, c.model.depth, c.model.channels, c.model.heads);
        }
        ok &= !config_is_set(&c, "model.depth");
    }
    CHECK(ok, "every preset's shape (depth, channels, heads)", "see above");
    // explicit keys win whatever the order: the preset is applied after all inputs
    Config c;
    const char *f = write_cfg("p.json", "{\"model\": {\"depth\": 3}}");
    const char *sets[] = {"model.channels=256", "model.preset=d24"};
    config_load(&c, f, 2, sets);
    CHECK(c.model.depth == 3 && c.model.channels == 256 && c.model.heads == 16,
          "explicit depth (file) and channels (--set) win over a later preset", "%d %d %d", c.model.depth,
          c.model.channels, c.model.heads);
    const char *f2 = write_cfg("p2.json", "{\"model\": {\"preset\": \"d4\"}}");
    const char *s2[] = {"model.depth=1"};
    config_load(&c, f2, 1, s2);
    CHECK(c.model.depth == 1 && c.model.channels == 256 && c.model.heads == 4, "preset from the file, depth from --set",
          "%d %d %d", c.model.depth, c.model.channels, c.model.heads);
}

static void test_round_trip(void) {
    Config c, back;
    const char *f = write_cfg("rt.json",
                              "{\"model\": {\"preset\": \"d4\", \"init_from\": \"we\\\"ird \\\\ path\\t\\u00e9.bin\"},"
                              " \"data\": {\"val\": \"\", \"seed\": 9007199254740992},"
                              " \"train\": {\"total_batch_tokens\": 4096, \"spike_zscore\": 0.30000000000000004},"
                              " \"optimizer\": {\"lr\": 0.0001234567890123456, \"min_lr\": 1e-300, \"eps\": 3.0000000000000001e-29},"
                              " \"omgd\": {\"mode\": \"lisa\", \"grad_scale\": 2.5, \"switch_interval\": \"epoch\"}}");
    config_load(&c, f, 0, NULL);
    char out[256], out2[256];
    snprintf(out, sizeof out, "%s/written.json", dir);
    snprintf(out2, sizeof out2, "%s/written2.json", dir);
    config_write_json(&c, out);
    config_load(&back, out, 0, NULL);
    CHECK(same_values(c, back), "config.json reads back to the same configuration", "configs differ");
    int all_set = 1;
    for (int i = 0; i < config_key_count(); i++) all_set &= config_is_set(&back, config_key_path(i)) == CONFIG_FROM_FILE;
    CHECK(all_set && back.model.depth == 4 && back.model.channels == 256, "config.json holds every key explicitly",
          "not every key is in the file");
    config_write_json(&back, out2);
    char *a = read_all(out), *b = read_all(out2);
    CHECK(a && b && strcmp(a, b) == 0, "writing the read-back config gives the same bytes", "files differ");
    char lr[64];
    snprintf(lr, sizeof lr, "\"lr\":\t%.17g,", c.optimizer.lr);
    CHECK(a && strstr(a, "\n\t\"optimizer\":\t{\n") && strstr(a, lr),
          "config.json is pretty JSON of sections with %.17g doubles", "no '%s' in %s", lr, a ? a : "(missing)");
    free(a);
    free(b);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    struct stat st;
    CHECK(stat(tmp, &st) != 0, "no temporary file is left behind", "%s exists", tmp);
    // defaults round trip too
    config_load(&c, NULL, 0, NULL);
    config_write_json(&c, out);
    config_load(&back, out, 0, NULL);
    CHECK(same_values(c, back), "defaults read back the same", "configs differ");
}

static void write_child(void *arg) {
    Config c;
    config_load(&c, NULL, 0, NULL);
    config_write_json(&c, (const char *)arg);
}

static void test_file_errors(void) {
    char err[2048];
    int rc = run_in_child(write_child, "/nonexistent_dir/config.json", err, sizeof err);
    CHECK(rc == 1 && is_one_line_error(err, "/nonexistent_dir/config.json"), "config_write_json: unwritable path",
          "exit %d: %s", rc, err);

    expect_exact("missing file", "/nonexistent/cfg.json", NULL,
                 "error: /nonexistent/cfg.json: cannot open (No such file or directory)");
    const char *bad = write_cfg("bad.json", "{\n\"train\": {\n \"steps\": 10,\n}\n}\n");
    char want[512];
    snprintf(want, sizeof want, "error: %s: invalid JSON near line 4", bad);
    expect_exact("malformed JSON names the line", bad, NULL, want);
    const char *eof = write_cfg("eof.json", "{\n\"train\": {\n \"steps\": 10\n}\n\n");
    snprintf(want, sizeof want, "error: %s: invalid JSON near line 4 (unexpected end of file)", eof);
    expect_exact("truncated JSON names the last line", eof, NULL, want);
    const char *garbage = write_cfg("garbage.json", "{\"train\": {}}\nx\n");
    expect_error("trailing garbage", garbage, NULL, NULL, "garbage.json: invalid JSON near line 2");
    const char *empty = write_cfg("empty.json", " \n");
    expect_error("empty file", empty, NULL, NULL, "empty.json: empty file");
    const char *arr = write_cfg("arr.json", "[1, 2]");
    expect_error("top level not an object", arr, NULL, NULL, "arr.json: expected a JSON object");
    const char *nul = write_cfg("nul.json", "{}");
    FILE *fn = xfopen(nul, "ab");
    fputc(0, fn);
    xfclose(fn, nul);
    expect_error("NUL byte", nul, NULL, NULL, "nul.json: config file contains a NUL byte");

    const char *f;
    f = write_cfg("sec.json", "{\"modle\": {}}");
    expect_error("unknown section lists the sections", f, NULL, at(f, "modle"),
                 "unknown section (known sections: model, data, train, optimizer, output");
    f = write_cfg("s1.json", "{\"train\": 3}");
    expect_error("section not an object", f, NULL, at(f, "train"), "expected an object of keys");
    f = write_cfg("s2.json", "{\"train\": {}, \"train\": {}}");
    expect_error("duplicate section", f, NULL, at(f, "train"), "section appears twice");
    f = write_cfg("key.json", "{\"model\": {\"depht\": 3}}");
    snprintf(want, sizeof want,
             "error: %s: model.depht: unknown key (known keys in model: preset, depth, channels, heads, context, "
             "vocab, padded_vocab, init_from, seed)",
             f);
    expect_exact("unknown key lists the known ones", f, NULL, want);
    f = write_cfg("d1.json", "{\"train\": {\"steps\": 1, \"steps\": 2}}");
    expect_error("duplicate key", f, NULL, at(f, "train.steps"), "key appears twice");
    f = write_cfg("nl.json", "{\"model\": {\"de\\npth\": 3}}");
    expect_error("a key with a newline stays on one line", f, NULL, at(f, "\"model.de\\x0apth\""), "unknown key");

    // wrong JSON types and values
    f = write_cfg("t1.json", "{\"train\": {\"batch_size\": \"abc\"}}");
    snprintf(want, sizeof want, "error: %s: train.batch_size: expected an integer in [1, 65536], got \"abc\"", f);
    expect_exact("string for an integer", f, NULL, want);
    f = write_cfg("t2.json", "{\"train\": {\"steps\": 2.5}}");
    expect_error("fraction for an integer", f, NULL, at(f, "train.steps"), "expected an integer in [0, 2147483646], got 2.5");
    f = write_cfg("t3.json", "{\"data\": {\"shuffle\": 1}}");
    expect_error("number for a bool", f, NULL, at(f, "data.shuffle"), "expected true or false, got 1");
    f = write_cfg("t3b.json", "{\"data\": {\"shuffle\": \"true\"}}");
    expect_error("string for a bool", f, NULL, at(f, "data.shuffle"), "expected true or false, got \"true\"");
    f = write_cfg("t4.json", "{\"model\": {\"seed\": -1}}");
    expect_error("negative unsigned", f, NULL, at(f, "model.seed"), "expected an integer in [0, 2^53], got -1");
    f = write_cfg("t5.json", "{\"model\": {\"seed\": 9007199254740994}}");
    expect_error("seed beyond 2^53", f, NULL, at(f, "model.seed"), "2^53");
    f = write_cfg("t6.json", "{\"train\": {\"steps\": 3000000000}}");
    expect_error("integer beyond int", f, NULL, at(f, "train.steps"), "got 3000000000");
    // an epsilon of 0 (or a denormal) makes the update 0/0 for a parameter without gradient
    f = write_cfg("eps0.json", "{\"optimizer\": {\"eps\": 5e-324}}");
    expect_error("optimizer.eps below 1e-30", f, NULL, at(f, "optimizer.eps"), "expected a number in [1e-30, 1]");
    f = write_cfg("t7.json", "{\"optimizer\": {\"lr\": 1e400}}");
    expect_error("number beyond a double", f, NULL, at(f, "optimizer.lr"), "beyond the range of a double");
    f = write_cfg("t8.json", "{\"optimizer\": {\"lr\": null}}");
    expect_error("null for a number", f, NULL, at(f, "optimizer.lr"), "got null");
    f = write_cfg("t9.json", "{\"output\": {\"dir\": [\"runs\"]}}");
    expect_error("array for a string", f, NULL, at(f, "output.dir"), "expected a string, got [\"runs\"]");
    f = write_cfg("t10.json", "{\"omgd\": {\"switch_interval\": \"epochs\"}}");
    expect_error("keyword misspelt", f, NULL, at(f, "omgd.switch_interval"), "or \"epoch\", got \"epochs\"");
    f = write_cfg("r1.json", "{\"optimizer\": {\"beta1\": 1.5}}");
    snprintf(want, sizeof want, "error: %s: optimizer.beta1: expected a number in [0, 1), got 1.5", f);
    expect_exact("out of range", f, NULL, want);
    f = write_cfg("r1b.json", "{\"optimizer\": {\"beta2\": 1}}");
    expect_error("open upper bound", f, NULL, at(f, "optimizer.beta2"), "expected a number in [0, 1), got 1");
    f = write_cfg("r2.json", "{\"train\": {\"batch_size\": 0}}");
    expect_error("zero batch size", f, NULL, at(f, "train.batch_size"), "got 0");
    f = write_cfg("e1.json", "{\"optimizer\": {\"schedule\": \"exp\"}}");
    snprintf(want, sizeof want, "error: %s: optimizer.schedule: expected one of cosine,linear,constant, got \"exp\"", f);
    expect_exact("bad enum lists the allowed values", f, NULL, want);
    f = write_cfg("e2.json", "{\"model\": {\"preset\": \"d13\"}}");
    expect_error("bad preset", f, NULL, at(f, "model.preset"), "one of \"\",d2,d4,d6,d12,d24,d36,d48, got \"d13\"");
    f = write_cfg("e3.json", "{\"output\": {\"resume\": \"a\\nb\"}, \"optimizer\": {\"schedule\": \"a\\nb\"}}");
    expect_error("a value with a newline stays on one line", f, NULL, at(f, "optimizer.schedule"), "got \"a\\x0ab\"");
    char longv[700] = "{\"data\": {\"train\": \"";
    memset(longv + strlen(longv), 'x', 600);
    strcpy(longv + strlen("{\"data\": {\"train\": \"") + 600, "\"}}");
    f = write_cfg("long.json", longv);
    expect_error("string too long", f, NULL, at(f, "data.train"), "longer than 511");

    // every key of the table: a wrong type and a duplicate are refused, naming it
    int all_typed = 1, all_dup = 1;
    for (int i = 0; i < config_key_count(); i++) {
        const char *key = config_key_path(i), *dot = strchr(key, '.');
        char text[256], name[64];
        snprintf(text, sizeof text, "{\"%.*s\": {\"%s\": [1]}}", (int)(dot - key), key, dot + 1);
        snprintf(name, sizeof name, "k%d.json", i);
        f = write_cfg(name, text);
        child_path = f;
        child_nsets = 0;
        int r = run_in_child(load_child, NULL, err, sizeof err);
        if (!(r == 1 && is_one_line_error(err, "got [1]") && strncmp(err, at(f, key), strlen(at(f, key))) == 0)) {
            all_typed = 0;
            printf("# %s: %s", key, err);
        }
        snprintf(text, sizeof text, "{\"%.*s\": {\"%s\": [1], \"%s\": 1}}", (int)(dot - key), key, dot + 1, dot + 1);
        write_cfg(name, text);
        r = run_in_child(load_child, NULL, err, sizeof err);
        if (!(r == 1 && is_one_line_error(err, key))) {
            all_dup = 0;
            printf("# %s: %s", key, err);
        }
    }
    CHECK(all_typed, "every key refuses an array, naming the file and key", "see above");
    CHECK(all_dup, "every key refuses a duplicate or a wrong type, naming it", "see above");
}

static void test_set_errors(void) {
    const char *ok_file = write_cfg("ok.json", "{}");
    expect_exact("--set without =", ok_file, "train.steps", "error: --set train.steps: expected key.path=value");
    expect_error("--set unknown key lists the section's keys", ok_file, "train.stepz=3", at("--set", "train.stepz"),
                 "unknown key (known keys in train: batch_size, seq_len");
    expect_error("--set unknown section lists the sections", ok_file, "trian.steps=3", at("--set", "trian.steps"),
                 "unknown key (known sections: model, data, train");
    expect_error("--set empty key", ok_file, "=3", at("--set", "\"\""), "unknown key");
    expect_exact("--set bad integer", ok_file, "train.batch_size=abc",
                 "error: --set train.batch_size: expected an integer in [1, 65536], got \"abc\"");
    expect_error("--set fraction for an integer", ok_file, "train.steps=2.5", at("--set", "train.steps"), "\"2.5\"");
    expect_error("--set blank before a number", ok_file, "train.steps= 5", at("--set", "train.steps"), "\" 5\"");
    expect_error("--set blank after a number", ok_file, "train.steps=5 ", at("--set", "train.steps"), "\"5 \"");
    expect_error("--set empty number", ok_file, "optimizer.lr=", at("--set", "optimizer.lr"), "got \"\"");
    expect_error("--set integer beyond int", ok_file, "train.val_every=2147483648", at("--set", "train.val_every"),
                 "2147483648");
    expect_error("--set integer beyond long long", ok_file, "train.total_batch_tokens=99999999999999999999",
                 at("--set", "train.total_batch_tokens"), "99999999999999999999");
    expect_error("--set bad bool", ok_file, "data.shuffle=yes", at("--set", "data.shuffle"),
                 "expected true or false, got \"yes\"");
    expect_error("--set nan", ok_file, "optimizer.lr=nan", at("--set", "optimizer.lr"), "\"nan\"");
    expect_error("--set inf", ok_file, "train.spike_zscore=inf", at("--set", "train.spike_zscore"), "\"inf\"");
    expect_error("--set out of range", ok_file, "optimizer.beta1=1.5", at("--set", "optimizer.beta1"),
                 "expected a number in [0, 1), got \"1.5\"");
    expect_error("--set negative unsigned", ok_file, "data.seed=-1", at("--set", "data.seed"), "2^53");
    expect_error("--set seed beyond 2^53", ok_file, "data.seed=18446744073709551615", at("--set", "data.seed"), "2^53");
    expect_error("--set bad enum", ok_file, "omgd.mode=full", at("--set", "omgd.mode"),
                 "one of none,lisa,omgd,omgd_tensor, got \"full\"");
    expect_error("--set value with a newline", ok_file, "omgd.state=a\nb", at("--set", "omgd.state"), "\"a\\x0ab\"");
}

static void test_cross_key(void) {
    const char *ok_file = write_cfg("ok.json", "{}");
    // --set named when an override is involved
    expect_error("heads must divide channels (--set)", ok_file, "model.heads=7", at("--set", "model.heads"),
                 "7 heads do not divide model.channels 768");
    const char *f = write_cfg("x1.json", "{\"model\": {\"heads\": 7}}");
    expect_error("heads must divide channels (file)", f, NULL, at(f, "model.heads"), "do not divide");
    f = write_cfg("x2.json", "{\"model\": {\"preset\": \"d2\"}}");
    expect_error("preset channels and a --set heads", f, "model.heads=3", at("--set", "model.heads"),
                 "3 heads do not divide model.channels 128");
    expect_error("seq_len within the context", ok_file, "train.seq_len=2048", at("--set", "train.seq_len"),
                 "2048 exceeds model.context 1024");
    f = write_cfg("x3.json", "{\"model\": {\"context\": 32}}");
    expect_error("seq_len within the context (file)", f, NULL, at(f, "train.seq_len"), "64 exceeds model.context 32");
    expect_error("padded vocab 0 or at least vocab", ok_file, "model.padded_vocab=100", at("--set", "model.padded_vocab"),
                 "at least model.vocab 50257, got 100");
    expect_error("total batch a multiple of B*T", ok_file, "train.total_batch_tokens=1000",
                 at("--set", "train.total_batch_tokens"), "1000 is not a multiple of train.batch_size * train.seq_len = 256");
    const char *mb[] = {"train.batch_size=1", "train.seq_len=1", "train.total_batch_tokens=3000000000"};
    expect_error_n("micro-batches per step fit an int", ok_file, 3, mb, at("--set", "train.total_batch_tokens"),
                   "micro-batches exceeds 2147483647");
    const char *bt[] = {"model.context=1048576", "train.batch_size=65536", "train.seq_len=65536", "model.channels=4",
                        "model.heads=1"};
    expect_error_n("B*T fits an int", ok_file, 5, bt, at("--set", "train.batch_size"), "4294967296 tokens per micro-batch");
    const char *act[] = {"train.batch_size=4096", "train.seq_len=1024"};
    expect_error_n("B*T*4*C fits an int", ok_file, 2, act, at("--set", "train.batch_size"), "* 4 * model.channels");
    f = write_cfg("x4.json", "{\"model\": {\"channels\": 64, \"heads\": 4}, \"train\": {\"batch_size\": 1024,"
                             " \"seq_len\": 1024, \"total_batch_tokens\": 1125899906842624}}");
    expect_error("steps * tokens per step fit 64 bits", f, "train.steps=10000000", at("--set", "train.steps"),
                 "overflow a 64-bit token count");
    expect_error("min_lr at most lr", ok_file, "optimizer.min_lr=1", at("--set", "optimizer.min_lr"),
                 "1 exceeds optimizer.lr 0.00059999999999999995");
    expect_error("warmup at most steps", ok_file, "optimizer.warmup_steps=5000", at("--set", "optimizer.warmup_steps"),
                 "5000 exceeds train.steps 1000");
    expect_error("empty training glob", ok_file, "data.train=", at("--set", "data.train"), "expected a glob");
    f = write_cfg("x5.json", "{\"data\": {\"train\": \"\"}}");
    expect_error("empty training glob (file)", f, NULL, at(f, "data.train"), "expected a glob");
    expect_error("empty output dir", ok_file, "output.dir=", at("--set", "output.dir"), "expected a directory");
    f = write_cfg("x6.json", "{\"omgd\": {\"mode\": \"omgd\"}}");
    expect_error("active_layers at most depth", f, "omgd.active_layers=13", at("--set", "omgd.active_layers"),
                 "13 exceeds model.depth 12");
    // no file: the source is --set
    const char *nofile[] = {"train.seq_len=4096"};
    expect_error_n("cross-key error without a file", NULL, 1, nofile, at("--set", "train.seq_len"), "model.context");
}

static void test_command_line(void) {
    char err[2048], out[16384];
    const char *ok_file = write_cfg("ok.json", "{\"train\": {\"steps\": 7}}");
    char *a1[] = {"train_gpt2", "--config", (char *)ok_file, "--config", (char *)ok_file, NULL};
    int rc = run_args(a1, 5, err, sizeof err, out, sizeof out);
    CHECK(rc == 1 && is_one_line_error(err, "--config given twice"), "--config twice refused", "exit %d: %s", rc, err);
    char *a2[] = {"train_gpt2", "--bogus", NULL};
    rc = run_args(a2, 2, err, sizeof err, out, sizeof out);
    CHECK(rc == 1 && is_one_line_error(err, "unknown argument \"--bogus\""), "unknown argument refused", "exit %d: %s",
          rc, err);
    char *a3[] = {"train_gpt2", "--config", NULL};
    rc = run_args(a3, 2, err, sizeof err, out, sizeof out);
    CHECK(rc == 1 && is_one_line_error(err, "--config: expected a file name"), "--config without a file refused",
          "exit %d: %s", rc, err);
    char *a4[] = {"train_gpt2", "--set", NULL};
    rc = run_args(a4, 2, err, sizeof err, out, sizeof out);
    CHECK(rc == 1 && is_one_line_error(err, "--set: expected key.path=value"), "--set without a value refused",
          "exit %d: %s", rc, err);
    char *a5[] = {"train_gpt2", "--config", (char *)ok_file, "--set", "train.steps", NULL};
    rc = run_args(a5, 5, err, sizeof err, out, sizeof out);
    CHECK(rc == 1 && is_one_line_error(err, "--set train.steps: expected key.path=value"),
          "--set without = on the command line", "exit %d: %s", rc, err);
    char *a6[] = {"train_gpt2", "--help", NULL};
    rc = run_args(a6, 2, err, sizeof err, out, sizeof out);
    int lists_all = strstr(out, "usage: train_gpt2") != NULL;
    for (int i = 0; i < config_key_count(); i++) lists_all &= strstr(out, config_key_path(i)) != NULL;
    CHECK(rc == 0 && err[0] == '\0' && lists_all, "--help prints the usage and every key, exits 0", "exit %d: %s",
          rc, err);
    char *a7[] = {"train_gpt2", "--dump-keys-markdown", NULL};
    rc = run_args(a7, 2, err, sizeof err, out, sizeof out);
    CHECK(rc == 0 && strncmp(out, "| key | type |", 14) == 0, "--dump-keys-markdown prints the table", "exit %d: %.80s",
          rc, out);
    char *a8[] = {"train_gpt2", "--help-markdown", NULL};
    rc = run_args(a8, 2, err, sizeof err, out, sizeof out);
    CHECK(rc == 0 && strncmp(out, "| key | default |", 17) == 0, "--help-markdown prints the README table",
          "exit %d: %.80s", rc, out);
    // a good command line, read in this process
    Config c;
    char *a9[] = {"train_gpt2", "--set", "train.batch_size=2", "--config", (char *)ok_file, "--set", "train.steps=9", NULL};
    config_from_args(&c, 7, a9);
    CHECK(c.train.steps == 9 && c.train.batch_size == 2 && config_is_set(&c, "train.steps") == CONFIG_FROM_SET,
          "--config and --set in any order; --set wins", "steps %d", c.train.steps);
    char *a10[] = {"train_gpt2", NULL};
    config_from_args(&c, 1, a10);
    CHECK(c.train.steps == 1000, "no arguments: defaults", "steps %d", c.train.steps);
}

// docs/config-reference.md holds exactly the tables generated from the key table.
static void test_docs(void) {
    char *doc = read_all("docs/config-reference.md");
    char *gen = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&gen, &len);
    if (!f) fail("open_memstream failed");
    config_write_markdown(f);
    fclose(f);
    const char *begin = "<!-- generated: ./train_gpt2 --dump-keys-markdown -->\n", *end = "<!-- end generated -->";
    char *b = doc ? strstr(doc, begin) : NULL, *e = b ? strstr(b, end) : NULL;
    int same = b && e && (size_t)(e - b - strlen(begin)) == len && memcmp(b + strlen(begin), gen, len) == 0;
    CHECK(same, "docs/config-reference.md matches the key table",
          "%s; regenerate the part between the markers with ./train_gpt2 --dump-keys-markdown",
          doc ? "the tables differ" : "cannot read docs/config-reference.md (run from the repository root)");
    free(doc);
    free(gen);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_config_XXXXXX");
    if (!mkdtemp(dir)) fail("mkdtemp failed");
    test_defaults();
    test_file_and_sets();
    test_presets();
    test_round_trip();
    test_file_errors();
    test_set_errors();
    test_cross_key();
    test_command_line();
    test_docs();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", dir);
    CHECK_EXIT();
}
