/*
 * insn-count: a QEMU TCG plugin that counts every guest instruction executed, exactly.
 *
 * Each instruction gets an inline "add 1 to a 64-bit counter" op in front of it when
 * QEMU translates it, so the count is of instructions *executed*, including those of a
 * translation block left early (an exception), and costs no callback per instruction.
 * At exit the total is written to the file given as `outfile=PATH` (else stderr) as
 * `insns=N`.
 *
 * Usage: qemu-system-arm ... -plugin path/libinsn-count.so,outfile=count.txt
 *
 * Written against the QEMU plugin API version 1 (QEMU 4.2 to 8.0; Debian 12 ships 7.2),
 * whose few declarations are repeated below: Debian packages no qemu-plugin.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One vCPU (the MPS2 boards have one): a plain counter is exact. */
static uint64_t insns;
static char outfile[4096];
static int reported;

static void report(void)
{
    FILE *f;
    if (reported) {
        return;
    }
    reported = 1;
    f = outfile[0] ? fopen(outfile, "w") : stderr;
    if (!f) {
        perror(outfile);
        return;
    }
    fprintf(f, "insns=%llu\n", (unsigned long long)insns);
    if (f != stderr) {
        fclose(f);
    }
}

static void on_exit_cb(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    report();
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (size_t i = 0; i < n; i++) {
        qemu_plugin_register_vcpu_insn_exec_inline(qemu_plugin_tb_get_insn(tb, i),
                                                   QEMU_PLUGIN_INLINE_ADD_U64, &insns, 1);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "outfile=", 8) == 0) {
            snprintf(outfile, sizeof outfile, "%s", argv[i] + 8);
        } else {
            fprintf(stderr, "insn-count: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    /* Semihosting's SYS_EXIT ends QEMU with exit(3); make sure the count is written. */
    atexit(report);
    return 0;
}
