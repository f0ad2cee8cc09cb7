#define _GNU_SOURCE
#include "gatehouse_sandbox.h"

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <ucontext.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define GATEHOUSE_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#define GATEHOUSE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

#define DENY (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
/* Refused like DENY, but through SIGSYS so the attempt is counted (see on_sigsys). */
#define TRAP SECCOMP_RET_TRAP

int gatehouse_sandbox_supported(void) { return 1; }

/* Attempts refused so far, by kind (see GATEHOUSE_BLOCKED_* in the header). */
static atomic_ulong blocked[GATEHOUSE_BLOCKED_KINDS];

/* Runs on the thread whose system call the filter trapped: counts the attempt and makes
 * the call return -EPERM, exactly what SECCOMP_RET_ERRNO would have returned. Only
 * async-signal-safe work: atomics and the saved registers. */
static void on_sigsys(int signal, siginfo_t *info, void *context) {
    (void)signal;
    ucontext_t *saved = context;
#if defined(__x86_64__)
    long family = (long)saved->uc_mcontext.gregs[REG_RDI];
#else
    long family = (long)saved->uc_mcontext.regs[0];
#endif
    int kind = GATEHOUSE_BLOCKED_OTHER;
    if (info->si_syscall == __NR_io_uring_setup) kind = GATEHOUSE_BLOCKED_IO_URING;
    else if (info->si_syscall == __NR_socket) {
        switch ((int)family) {
        case AF_INET: kind = GATEHOUSE_BLOCKED_INET; break;
        case AF_INET6: kind = GATEHOUSE_BLOCKED_INET6; break;
        case AF_PACKET: kind = GATEHOUSE_BLOCKED_PACKET; break;
        default: break;
        }
    }
    atomic_fetch_add_explicit(&blocked[kind], 1, memory_order_relaxed);
#if defined(__x86_64__)
    saved->uc_mcontext.gregs[REG_RAX] = -EPERM;
#else
    saved->uc_mcontext.regs[0] = (unsigned long long)(-EPERM);
#endif
}

void gatehouse_sandbox_blocked_counts(unsigned long counts[GATEHOUSE_BLOCKED_KINDS]) {
    for (int kind = 0; kind < GATEHOUSE_BLOCKED_KINDS; kind++)
        counts[kind] = atomic_load_explicit(&blocked[kind], memory_order_relaxed);
}

int gatehouse_sandbox_deny_network_sockets(void) {
    struct sock_filter filter[] = {
        /* Only judge native-architecture system calls; anything else is refused. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, GATEHOUSE_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, DENY),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, TRAP),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* socket(domain, …): the low 32 bits of the first argument. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_PACKET, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, TRAP),
    };
    struct sock_fprog program = {
        .len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
        .filter = filter,
    };
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigsys;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSYS, &action, NULL) != 0) return -errno;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    long result = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program);
    if (result > 0) return -ESRCH; /* a thread could not be synchronised */
    if (result != 0) return -errno;
    return 0;
}

#else
int gatehouse_sandbox_supported(void) { return 0; }
int gatehouse_sandbox_deny_network_sockets(void) { return -38; /* ENOSYS */ }
void gatehouse_sandbox_blocked_counts(unsigned long counts[GATEHOUSE_BLOCKED_KINDS]) {
    for (int kind = 0; kind < GATEHOUSE_BLOCKED_KINDS; kind++) counts[kind] = 0;
}
#endif

#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
int gatehouse_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno; }

/* After the libc headers above, so that __GLIBC__ is known here. */
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int gatehouse_heap_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

#include <string.h>

#if defined(__linux__)
#include <stdint.h>
#include <sys/syscall.h>

/* The kernel's struct sched_attr (include/uapi/linux/sched/types.h), version 1 (56 bytes);
 * glibc has no wrapper for sched_setattr. */
struct gatehouse_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min;
    uint32_t sched_util_max;
};
#endif

int gatehouse_request_scheduler_slice(unsigned long long nanoseconds) {
#if defined(__linux__) && defined(SYS_sched_setattr) && defined(SYS_sched_getattr)
    struct gatehouse_sched_attr attr;
    memset(&attr, 0, sizeof attr);
    if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return -errno;
    /* Only an ordinary thread (SCHED_OTHER or SCHED_BATCH): a real-time, deadline or idle policy
     * the operator chose is left as it is. */
    if (attr.sched_policy != 0 && attr.sched_policy != 3) return 1;
    attr.size = sizeof attr;
    attr.sched_flags &= 0x01; /* keeps SCHED_FLAG_RESET_ON_FORK (clearing it needs privilege); clamps untouched */
    attr.sched_runtime = nanoseconds; /* the policy and nice value read above are kept */
    attr.sched_deadline = 0;
    attr.sched_period = 0;
    if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return -errno;
    return 0;
#else
    (void)nanoseconds;
    return -38; /* ENOSYS */
#endif
}
