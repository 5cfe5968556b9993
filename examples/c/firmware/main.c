/* mynah from C on a Cortex-M4F (QEMU mps2-an386): samples from the model in flash with the
 * settings given at build time and prints exactly what
 *   mynah sample MODEL --prime PRIME --temperature T --seed SEED --max-len MAX_LEN
 *                      --count COUNT --top-k TOP_K
 * prints, through semihosting. All memory is static: the model handle and one stream. */
#include <stddef.h>
#include <stdint.h>

#include "mynah.h"
#include "semihost.h"

#ifndef PRIME
#define PRIME "ROMEO:"
#endif
#ifndef SEED
#define SEED 1
#endif
#ifndef TEMPERATURE_MILLI
#define TEMPERATURE_MILLI 500
#endif
#ifndef MAX_LEN
#define MAX_LEN 300
#endif
#ifndef COUNT
#define COUNT 1
#endif
#ifndef TOP_K
#define TOP_K 0
#endif
#define STREAM_BYTES 16384

extern const uint8_t model_file[], model_file_end[];

static _Alignas(MYNAH_ALIGN) uint8_t model_mem[MYNAH_MODEL_BYTES];
static _Alignas(MYNAH_ALIGN) uint8_t stream_mem[STREAM_BYTES];

/* Text goes out a line at a time (one semihosting call per line). */
static char line[128];
static size_t used;

static void flush(void) {
    sh_write(line, used);
    used = 0;
}

static void emit(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (used == sizeof line) flush();
        line[used++] = s[i];
        if (s[i] == '\n') flush();
    }
}

static int fail(const char *what, const char *why) {
    flush();
    sh_puts(what);
    sh_puts(": ");
    sh_puts(why);
    sh_puts("\n");
    return 1;
}

int main(void) {
    static char msg[256];
    mynah_model *model;
    mynah_status st = mynah_model_load(model_mem, sizeof model_mem, model_file,
                                       (size_t)(model_file_end - model_file), &model);
    if (st != MYNAH_OK) {
        mynah_model_message(model, msg, sizeof msg);
        return fail("model", msg);
    }
    mynah_info info;
    mynah_model_info(model, &info);
    size_t need;
    mynah_stream_bytes(model, &need);
    if (need > sizeof stream_mem) return fail("stream", "STREAM_BYTES is too small for this model");
    mynah_stream *s;
    mynah_stream_init(stream_mem, sizeof stream_mem, model, &s);
    mynah_stream_seed(s, SEED);
    if ((st = mynah_stream_sampling(s, TEMPERATURE_MILLI, TOP_K)) != MYNAH_OK)
        return fail("temperature", mynah_status_message(st));

    static const char prime[] = PRIME;
    const size_t prime_len = sizeof prime - 1;
    char out[64];
    for (uint32_t i = 0; i < COUNT; i++) {
        if (i > 0 && !info.records) emit("----\n", 5);
        mynah_stream_reset(s);
        if (mynah_stream_prime(s, prime, prime_len) != MYNAH_OK) {
            mynah_stream_message(s, msg, sizeof msg);
            return fail("prime", msg);
        }
        emit(prime, prime_len);
        char last = prime_len ? prime[prime_len - 1] : '\0';
        for (uint32_t left = MAX_LEN; left > 0;) {
            size_t written;
            uint32_t chars;
            st = mynah_stream_generate(s, left, out, sizeof out, &written, &chars);
            if (st < 0) {
                mynah_stream_message(s, msg, sizeof msg);
                return fail("generate", msg);
            }
            emit(out, written);
            if (written) last = out[written - 1];
            left -= chars;
            if (st == MYNAH_EOS) break;
        }
        if (last != '\n') emit("\n", 1);
    }
    flush();
    return 0;
}
