#ifndef GATEHOUSE_SANDBOX_H
#define GATEHOUSE_SANDBOX_H

/// Installs a seccomp filter on every thread of the calling process that makes
/// socket(2) fail with EPERM for the IPv4, IPv6 and packet families, and refuses
/// io_uring (which could open sockets without socket(2)). Unix sockets and already
/// open descriptors (the listener, accepted connections) keep working.
/// Returns 0 on success, or -errno.
int gatehouse_sandbox_deny_network_sockets(void);

/// Refused attempts are trapped (SIGSYS) rather than silently failed, so that they can
/// be counted: the calling thread still sees -1/EPERM. Code that replaces the SIGSYS
/// handler can hide its attempts from the count, but the system call still never runs
/// (and with the default SIGSYS action the kernel kills the process instead).
enum {
    GATEHOUSE_BLOCKED_INET = 0,
    GATEHOUSE_BLOCKED_INET6 = 1,
    GATEHOUSE_BLOCKED_PACKET = 2,
    GATEHOUSE_BLOCKED_IO_URING = 3,
    GATEHOUSE_BLOCKED_OTHER = 4,
    GATEHOUSE_BLOCKED_KINDS = 5,
};

/// How many attempts the filter has refused since it was installed, by kind.
void gatehouse_sandbox_blocked_counts(unsigned long counts[GATEHOUSE_BLOCKED_KINDS]);

/// Whether the kernel and architecture support the filter (0 = no).
int gatehouse_sandbox_supported(void);

/// pipe2(fds, O_CLOEXEC): both ends close on exec (so only the child a parent means
/// to give one end to holds it). Returns 0 or -errno.
int gatehouse_pipe_cloexec(int fds[2]);

/// malloc_trim(0): gives the free pages of every glibc malloc arena back to the kernel.
/// Returns 1 if memory was released. (A no-op returning 0 where glibc is absent.)
int gatehouse_heap_trim(void);

/// sched_setattr(2) on the calling thread, if it is an ordinary one (SCHED_OTHER or
/// SCHED_BATCH; its policy, nice value and reset-on-fork flag are kept): asks for a
/// scheduler slice of `nanoseconds` (EEVDF's custom slice, Linux 6.12 and later; the
/// kernel clamps it to 0.1–100 ms, and earlier kernels ignore it; 0 restores the
/// default). A shorter slice gives the thread an earlier deadline when it wakes, so it
/// preempts a CPU-bound neighbour sooner; its share of the CPU is unchanged. Needs no
/// privilege. Returns 0, 1 when the thread has another policy (left alone), or -errno.
int gatehouse_request_scheduler_slice(unsigned long long nanoseconds);

/// The outcome of the filesystem sandbox the front installs on itself before `main`
/// (while it is still single-threaded), when started as `gatehouse serve
/// --egress-socket …`: 1 = installed, 0 = not a front process, negative = -errno.
/// Once installed, the front can read only system directories, its configuration file
/// and the state directory's `trust/` and `run/`: not `master.key`, not `keys/`.
int gatehouse_landlock_status(void);

#endif
