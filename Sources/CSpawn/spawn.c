/* fork+exec with the few steps posix_spawn cannot take (setuid for
 * --run-as). Between fork and exec the child calls only async-signal-safe
 * functions; failures travel back through a close-on-exec pipe. */
#define _GNU_SOURCE
#include "spawn.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <unistd.h>

pid_t sluice_spawn(const char *const argv[], const char *const envp[], const char *cwd,
                   int stdout_fd, int stderr_fd, int set_ids, uid_t uid, gid_t gid, int *error) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) { *error = errno; return -1; }
    pid_t pid = fork();
    if (pid < 0) { *error = errno; close(pipefd[0]); close(pipefd[1]); return -1; }
    if (pid == 0) {
        int err;
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        setsid();
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) { dup2(devnull, 0); }
        if (dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) goto fail;
        if (cwd && cwd[0] && chdir(cwd) != 0) goto fail;
        if (set_ids) {
            if (setgroups(0, NULL) != 0 && errno != EPERM) goto fail;
            if (setgid(gid) != 0) goto fail;
            if (setuid(uid) != 0) goto fail;
        }
        execvpe(argv[0], (char *const *)argv, (char *const *)envp);
    fail:
        err = errno;
        (void)!write(pipefd[1], &err, sizeof err);
        _exit(127);
    }
    close(pipefd[1]);
    int child_err = 0;
    ssize_t n;
    do { n = read(pipefd[0], &child_err, sizeof child_err); } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == sizeof child_err) {
        *error = child_err;
        return -pid - 2; /* the child exists and must be reaped: encode its pid */
    }
    return pid;
}
