// HellaSwag in llm.c's evaluation file format (hellaswag_val.bin, written by
// llm.c's dev/data/hellaswag.py and by scripts/prepare_hellaswag.py), and
// its score as llm.c computes it.
//
// File layout (little-endian):
//   header: 256 int32: [0] magic 20240522, [1] version 1, [2] number of
//           examples, [3] the longest example's size in bytes
//   then each example as uint16 values:
//     65535 (start of example), its size in bytes (these fields included),
//     its index (0, 1, ...), the label (index of the right ending), the
//     number of endings (4 for HellaSwag), the number of context tokens,
//     the context tokens, then for each ending: its number of tokens, its
//     tokens (llm.c encodes each ending with a leading space).
//
// Score: for each ending, the row context + ending is run through the
// model; the ending's loss is the mean cross-entropy of its tokens (each
// predicted from everything before it); the ending with the lowest loss is
// the model's answer. Accuracy = examples answered right / examples. A row
// longer than the window (seq_len + 1 tokens) loses context tokens from the
// left (never the ending's; an ending longer than the window is cut too).
#ifndef DATA_HELLASWAG_H
#define DATA_HELLASWAG_H

#include <stddef.h>
#include <stdint.h>

#define HELLASWAG_MAGIC 20240522
#define HELLASWAG_VERSION 1
#define HELLASWAG_MAX_ENDINGS 16

typedef struct {
    int label, num_endings, ctx_len;
    const uint16_t *ctx;
    int end_len[HELLASWAG_MAX_ENDINGS];
    const uint16_t *end[HELLASWAG_MAX_ENDINGS];
} HellaExample;

typedef struct {
    int num_examples;
    uint16_t *data;     // the examples' uint16 values
    size_t *start;      // num_examples: where each example starts in data
} HellaSwag;

// Reads and validates the whole file (magic, version, every example's
// fields, token ids below vocab_size, the sizes adding up to the file's);
// fails with one line naming the file and the example on any problem.
void hellaswag_open(HellaSwag *h, const char *path, int vocab_size);
void hellaswag_example(const HellaSwag *h, int i, HellaExample *ex);
void hellaswag_free(HellaSwag *h);

// Per-position losses of one row: inputs and targets of length T, losses
// gets T floats (the cross-entropy of targets[t] given inputs[0..t]).
typedef void (*RowLossFn)(void *ctx, const int *inputs, const int *targets, int T, float *losses);

// Scores examples first, first + stride, ... (a rank's share under
// data parallelism), each row at most window tokens of input. Adds the
// number answered right to *correct and the number scored to *scored.
// Checks the stop flag of common/signals.h before each example: returns 1
// if it stopped early, else 0.
int hellaswag_score(const HellaSwag *h, int first, int stride, int window, RowLossFn loss, void *ctx,
                    long long *correct, long long *scored);

#endif
