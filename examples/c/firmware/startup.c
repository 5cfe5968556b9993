/* A minimal Cortex-M start: the vector table, .data copied from flash, .bss zeroed, the FPU
 * enabled (the Rust library is built for the hard-float ABI), then main; its return value
 * becomes QEMU's exit status through semihosting. No C library. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
int main(void);

void reset_handler(void) {
    uint32_t *src = &__data_load;
    for (uint32_t *p = &__data_start; p < &__data_end;) *p++ = *src++;
    for (uint32_t *p = &__bss_start; p < &__bss_end;) *p++ = 0;
    /* CPACR: full access to the coprocessors 10 and 11 (the FPU). */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm volatile("dsb\n isb");
    sh_exit(main());
}

static void fault(void) {
    sh_puts("fault\n");
    sh_exit(1);
}

__attribute__((section(".vectors"), used)) static const void *const vectors[16] = {
    &__stack_top, reset_handler, fault, fault, fault, fault, fault,
    0, 0, 0, 0, fault, fault, 0, fault, fault,
};
