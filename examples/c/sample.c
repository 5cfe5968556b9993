/* mynah from C on a host: what `mynah sample` prints, through the C ABI (include/mynah.h,
 * libmynah_capi.a). Every byte of memory the library uses is ours: the model file (read
 * into a 64-byte aligned buffer), the model handle and the stream.
 *
 *   sample MODEL [--prime P] [--temperature T] [--seed S] [--max-len N] [--count C] [--top-k K]
 *
 * The options and their defaults are `mynah sample`'s; so is the output, byte for byte. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mynah.h"

static _Alignas(MYNAH_ALIGN) unsigned char model_mem[MYNAH_MODEL_BYTES];

static void die(const char *what, const char *why) {
    fprintf(stderr, "sample: %s: %s\n", what, why);
    exit(1);
}

/* The whole file, in a 64-byte aligned buffer (tensors are read in place). */
static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) die(path, "cannot open the file");
    long n = ftell(f);
    rewind(f);
    unsigned char *buf = aligned_alloc(64, ((size_t)n + 63) / 64 * 64 + 64);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) die(path, "cannot read the file");
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* `mynah sample --temperature`: a decimal number, rounded to thousandths (half away from
 * zero, as Rust's f64::round), 0 to 1000. */
static uint32_t temperature_milli(const char *s) {
    char *end;
    double t = strtod(s, &end);
    if (end == s || *end != '\0' || !(t >= 0.0 && t <= 1000.0))
        die("--temperature", "must be a number from 0 (greedy) to 1000");
    return (uint32_t)llround(t * 1000.0);
}

int main(int argc, char **argv) {
    const char *path = NULL, *prime = "";
    uint32_t milli = MYNAH_DEFAULT_TEMPERATURE_MILLI, top_k = 0;
    unsigned long long seed = 1, max_len = 500, count = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') { path = a; continue; }
        if (!v) die(a, "needs a value");
        if (!strcmp(a, "--prime")) prime = v;
        else if (!strcmp(a, "--temperature")) milli = temperature_milli(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--max-len")) max_len = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--count")) count = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--top-k")) top_k = (uint32_t)strtoul(v, NULL, 10);
        else die(a, "unknown option");
        i++;
    }
    if (!path) die("usage", "sample MODEL [--prime P] [--temperature T] [--seed S] [--max-len N] [--count C] [--top-k K]");

    size_t file_len;
    unsigned char *file = read_file(path, &file_len);
    char msg[512];
    mynah_model *model;
    mynah_status st = mynah_model_load(model_mem, sizeof model_mem, file, file_len, &model);
    if (st != MYNAH_OK) {
        mynah_model_message(model, msg, sizeof msg);
        die(path, msg);
    }
    mynah_info info;
    mynah_model_info(model, &info);
    if (info.bos == MYNAH_NO_TOKEN && prime[0] == '\0')
        die(path, "has no <BOS> token, so it starts from text: give --prime with at least one character");

    size_t stream_len;
    mynah_stream_bytes(model, &stream_len);
    void *stream_mem = aligned_alloc(MYNAH_ALIGN, (stream_len + 7) / 8 * 8);
    mynah_stream *s;
    if (!stream_mem || mynah_stream_init(stream_mem, stream_len, model, &s) != MYNAH_OK) die(path, "no stream");
    if ((st = mynah_stream_seed(s, seed)) != MYNAH_OK ||
        (st = mynah_stream_sampling(s, milli, top_k)) != MYNAH_OK)
        die("--temperature", mynah_status_message(st));

    char out[4096];
    for (unsigned long long i = 0; i < count; i++) {
        if (i > 0 && !info.records) fputs("----\n", stdout);
        mynah_stream_reset(s);
        if (mynah_stream_prime(s, prime, strlen(prime)) != MYNAH_OK) {
            mynah_stream_message(s, msg, sizeof msg);
            die("--prime", msg);
        }
        fputs(prime, stdout);
        char last = prime[0] ? prime[strlen(prime) - 1] : '\0';
        for (unsigned long long left = max_len; left > 0;) {
            size_t written;
            uint32_t chars;
            uint32_t ask = left > 100000 ? 100000 : (uint32_t)left;
            st = mynah_stream_generate(s, ask, out, sizeof out, &written, &chars);
            if (st < 0) {
                mynah_stream_message(s, msg, sizeof msg);
                die(path, msg);
            }
            fwrite(out, 1, written, stdout);
            fflush(stdout);
            if (written) last = out[written - 1];
            left -= chars;
            if (st == MYNAH_EOS) break;
        }
        if (last != '\n') fputc('\n', stdout);
    }
    free(stream_mem);
    free(file);
    return 0;
}
