#ifndef GATEHOUSE_SANDBOX_H
#define GATEHOUSE_SANDBOX_H

/// Installs a seccomp filter on every thread of the calling process that makes
/// socket(2) fail with EPERM for the IPv4, IPv6 and packet families, and refuses
/// io_uring (which could open sockets without socket(2)). Unix sockets and already
/// open descriptors (the listener, accepted connections) keep working.
/// Returns 0 on success, or -errno.
int gatehouse_sandbox_deny_network_sockets(void);

/// Whether the kernel and architecture support the filter (0 = no).
int gatehouse_sandbox_supported(void);

/// pipe2(fds, O_CLOEXEC): both ends close on exec (so only the child a parent means
/// to give one end to holds it). Returns 0 or -errno.
int gatehouse_pipe_cloexec(int fds[2]);

/// The outcome of the filesystem sandbox the front installs on itself before `main`
/// (while it is still single-threaded), when started as `gatehouse serve
/// --egress-socket …`: 1 = installed, 0 = not a front process, negative = -errno.
/// Once installed, the front can read only system directories, its configuration file
/// and the state directory's `trust/` and `run/`: not `master.key`, not `keys/`.
int gatehouse_landlock_status(void);

#endif
