/* ARM semihosting (what QEMU's -semihosting-config enable=on gives a guest): stdout and exit. */
#ifndef SEMIHOST_H
#define SEMIHOST_H
#include <stddef.h>

void sh_write(const char *s, size_t n);
void sh_puts(const char *s);
__attribute__((noreturn)) void sh_exit(int status);

#endif
