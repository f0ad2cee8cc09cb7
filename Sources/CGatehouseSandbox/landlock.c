#define _GNU_SOURCE
#include "gatehouse_sandbox.h"

#if defined(__linux__)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int landlock_status = 0;

int gatehouse_landlock_status(void) { return landlock_status; }

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

#define READ_ONLY (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FILE_READ (LANDLOCK_ACCESS_FS_READ_FILE)

/* Adds a rule granting `access` (masked to what the ruleset handles) beneath `path`. Missing paths are skipped. */
static int allow(int ruleset, const char *path, uint64_t access, uint64_t handled) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return 0;
    struct landlock_path_beneath_attr rule = {.allowed_access = access & handled, .parent_fd = fd};
    /* A file (not a directory) may only carry file rights. */
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) {
        rule.allowed_access &= (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                                LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV);
    }
    int result = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int saved = errno;
    close(fd);
    return result == 0 ? 0 : -saved;
}

/* Reads /proc/self/cmdline into argv-style pointers inside `buffer`. */
static int read_arguments(char *buffer, size_t size, char **argv, int max) {
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t length = read(fd, buffer, size - 1);
    close(fd);
    if (length <= 0) return 0;
    buffer[length] = 0;
    int count = 0;
    for (ssize_t i = 0; i < length && count < max; i += (ssize_t)strlen(buffer + i) + 1) argv[count++] = buffer + i;
    return count;
}

static const char *option(int argc, char **argv, const char *name) {
    size_t length = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0 && i + 1 < argc) return argv[i + 1];
        if (strncmp(argv[i], name, length) == 0 && argv[i][length] == '=') return argv[i] + length + 1;
    }
    return NULL;
}

__attribute__((constructor)) static void gatehouse_front_landlock(void) {
    static char buffer[16384];
    char *argv[256];
    int argc = read_arguments(buffer, sizeof buffer, argv, 256);
    if (argc < 2 || strcmp(argv[1], "serve") != 0 || option(argc, argv, "--egress-socket") == NULL) return;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--unsandboxed") == 0) return;
    }

    char state[PATH_MAX];
    const char *state_option = option(argc, argv, "--state");
    if (state_option) {
        snprintf(state, sizeof state, "%s", state_option);
    } else if (getenv("GATEHOUSE_STATE") && *getenv("GATEHOUSE_STATE")) {
        snprintf(state, sizeof state, "%s", getenv("GATEHOUSE_STATE"));
    } else if (getenv("XDG_STATE_HOME") && *getenv("XDG_STATE_HOME")) {
        snprintf(state, sizeof state, "%s/gatehouse", getenv("XDG_STATE_HOME"));
    } else {
        snprintf(state, sizeof state, "%s/.local/state/gatehouse", getenv("HOME") ? getenv("HOME") : "");
    }

    int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) {
        landlock_status = -(errno ? errno : ENOSYS);
        return;
    }
    uint64_t handled = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0…12 */
    if (abi >= 2) handled |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5) handled |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    struct landlock_ruleset_attr attributes = {.handled_access_fs = handled};
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attributes, sizeof attributes, 0);
    if (ruleset < 0) {
        landlock_status = -errno;
        return;
    }
    /* All of /proc is readable: libdispatch reads /proc/<pid>/task/<tid>/stat, and Landlock rules on per-process
       procfs directories do not survive their inodes being recycled. Other processes' memory stays out of reach
       (Landlock forbids ptrace-class access outside the domain), and the supervisor and keyholder wipe secret
       variables from their environment blocks before the front starts. */
    const char *system_paths[] = {"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/opt", "/sys", "/proc", NULL};
    int failed = 0;
    for (int i = 0; system_paths[i]; i++) failed = failed ? failed : allow(ruleset, system_paths[i], READ_ONLY, handled);
    failed = failed ? failed : allow(ruleset, "/dev", READ_ONLY | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_IOCTL_DEV, handled);

    /* The executable (Swift may read it for backtraces) and the configuration file. */
    char path[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    if (length > 0) {
        path[length] = 0;
        failed = failed ? failed : allow(ruleset, path, READ_ONLY, handled);
    }
    const char *config = option(argc, argv, "--config");
    if (config) failed = failed ? failed : allow(ruleset, config, FILE_READ, handled);
    const char *secret_file = option(argc, argv, "--egress-secret-file");
    if (secret_file) failed = failed ? failed : allow(ruleset, secret_file, FILE_READ, handled);
    const char *listen_unix = option(argc, argv, "--listen-unix");
    if (listen_unix) {
        /* The front binds its own Unix listener: it may create (and replace) a socket in that directory only. */
        snprintf(path, sizeof path, "%s", listen_unix);
        char *slash = strrchr(path, '/');
        if (slash == path) slash[1] = 0; else if (slash) *slash = 0; else snprintf(path, sizeof path, ".");
        failed = failed ? failed : allow(ruleset, path, LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_READ_DIR, handled);
    }
    snprintf(path, sizeof path, "%s/trust", state);
    failed = failed ? failed : allow(ruleset, path, FILE_READ | LANDLOCK_ACCESS_FS_READ_DIR, handled);
    snprintf(path, sizeof path, "%s/run", state);
    failed = failed ? failed : allow(ruleset, path, FILE_READ | LANDLOCK_ACCESS_FS_READ_DIR, handled);
    /* A directory, not the file: the list is replaced by rename, and a rule on a file follows only its old inode. */
    snprintf(path, sizeof path, "%s/revocations", state);
    failed = failed ? failed : allow(ruleset, path, FILE_READ | LANDLOCK_ACCESS_FS_READ_DIR, handled);

    if (failed) {
        landlock_status = failed;
        close(ruleset);
        return;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
        landlock_status = -errno;
        close(ruleset);
        return;
    }
    close(ruleset);
    landlock_status = 1;
}

#else
int gatehouse_landlock_status(void) { return 0; }
#endif
