#include <stdint.h>

#include "semihost.h"

enum { SYS_OPEN = 0x01, SYS_WRITE = 0x05, SYS_EXIT = 0x18 };
enum { ADP_APPLICATION_EXIT = 0x20026, ADP_RUNTIME_ERROR = 0x20023 };

static int call(int op, const void *arg) {
    register int r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static int out = -1;

void sh_write(const char *s, size_t n) {
    if (out < 0) {
        const uintptr_t open[3] = {(uintptr_t)":tt", 4 /* "w" */, 3};
        out = call(SYS_OPEN, open);
    }
    const uintptr_t args[3] = {(uintptr_t)out, (uintptr_t)s, n};
    call(SYS_WRITE, args);
}

void sh_puts(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    sh_write(s, n);
}

void sh_exit(int status) {
    call(SYS_EXIT, (const void *)(uintptr_t)(status == 0 ? ADP_APPLICATION_EXIT : ADP_RUNTIME_ERROR));
    for (;;) {
    }
}
