/* Process creation with the steps posix_spawn cannot take: a guard process
 * that outlives nothing it is responsible for, user switches for --run-as,
 * and parent-death signals. Between fork and exec a child calls only
 * async-signal-safe functions; failures travel back through a close-on-exec
 * pipe as (kind, value) pairs. */
#define _GNU_SOURCE
#include "spawn.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MSG_TASK_PID = 1, MSG_ERRNO = 2 };

static void send_msg(int fd, int kind, int value) {
    int msg[2] = { kind, value };
    (void)!write(fd, msg, sizeof msg);
}

static void default_signals(void) {
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* stdin from /dev/null, stdout and stderr to the given descriptors, the
 * report pipe on descriptor 3 (close-on-exec), and every other descriptor the
 * parent had closed: a child that never execs (the guard) must not hold the
 * worker's sockets or its data-dir lock. */
static int arrange_fds(int stdout_fd, int stderr_fd, int report_fd) {
    /* Move the three out of the way of 0..3 first, so no dup2 clobbers another. */
    int out = fcntl(stdout_fd, F_DUPFD, 10), err = fcntl(stderr_fd, F_DUPFD, 10), rep = fcntl(report_fd, F_DUPFD, 10);
    if (out < 0 || err < 0 || rep < 0) return -1;
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, 0) < 0) return -1;
    if (dup2(out, 1) < 0 || dup2(err, 2) < 0 || dup2(rep, 3) < 0) return -1;
    if (fcntl(3, F_SETFD, FD_CLOEXEC) != 0) return -1;
    if (close_range(4, ~0U, 0) != 0) {
        for (int fd = 4; fd < 65536; fd++) close(fd);
    }
    return 3;
}

/* The task, in the guard's child (descriptors already arranged): own
 * group, default signals, user switch, exec. */
static void run_task(const char *const argv[], const char *const envp[], const char *cwd,
                     int set_ids, uid_t uid, gid_t gid, pid_t guard, int report_fd) {
    setpgid(0, 0);
    default_signals();
    if (cwd && cwd[0] && chdir(cwd) != 0) goto fail;
    if (set_ids) {
        if (setgroups(0, NULL) != 0 && errno != EPERM) goto fail;
        if (setgid(gid) != 0) goto fail;
        if (setuid(uid) != 0) goto fail;
    }
    /* After the user switch, which clears it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != guard) _exit(137);
    execvpe(argv[0], (char *const *)argv, (char *const *)envp);
fail:
    send_msg(report_fd, MSG_ERRNO, errno);
    _exit(127);
}

/* The guard: waits for the task or for the worker's death. */
static void guard_main(const char *const argv[], const char *const envp[], const char *cwd, int stdout_fd, int stderr_fd,
                       int set_ids, uid_t uid, gid_t gid, pid_t worker, int report_fd) {
    sigset_t all;
    sigfillset(&all);
    /* Everything blocked: a SIGTERM meant for the task's group never moves the guard. */
    sigprocmask(SIG_SETMASK, &all, NULL);
    int report = arrange_fds(stdout_fd, stderr_fd, report_fd);
    if (report < 0 || setsid() < 0 || prctl(PR_SET_PDEATHSIG, SIGUSR1) != 0) {
        send_msg(report < 0 ? report_fd : report, MSG_ERRNO, errno);
        _exit(127);
    }
    if (getppid() != worker) _exit(137);
    pid_t self = getpid();
    pid_t task = fork();
    if (task < 0) {
        send_msg(report, MSG_ERRNO, errno);
        _exit(127);
    }
    if (task == 0) run_task(argv, envp, cwd, set_ids, uid, gid, self, report);
    setpgid(task, task);
    send_msg(report, MSG_TASK_PID, task);
    close(report);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) { dup2(devnull, 1); dup2(devnull, 2); close(devnull); }

    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, SIGCHLD);
    sigaddset(&wake, SIGUSR1);
    for (;;) {
        struct timespec second = { 1, 0 };
        siginfo_t info;
        int sig = sigtimedwait(&wake, &info, &second);
        if (sig == SIGUSR1 || getppid() != worker) {
            kill(-task, SIGKILL);
            waitpid(task, NULL, 0);
            _exit(137);
        }
        siginfo_t ended;
        ended.si_pid = 0;
        /* Look without reaping: the task's pid keeps its group id taken while we kill the rest. */
        if (waitid(P_PID, (id_t)task, &ended, WEXITED | WNOHANG | WNOWAIT) != 0 || ended.si_pid != task) continue;
        kill(-task, SIGKILL);
        int status = 0;
        while (waitpid(task, &status, 0) < 0 && errno == EINTR) {}
        if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
        int s = WTERMSIG(status);
        signal(s, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, s);
        sigprocmask(SIG_UNBLOCK, &one, NULL);
        kill(self, s);
        _exit(128 + s);
    }
}

pid_t sluice_spawn_task(const char *const argv[], const char *const envp[], const char *cwd,
                        int stdout_fd, int stderr_fd, int set_ids, uid_t uid, gid_t gid,
                        pid_t *task_group, int *error) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) { *error = errno; return -1; }
    pid_t worker = getpid();
    pid_t guard = fork();
    if (guard < 0) { *error = errno; close(pipefd[0]); close(pipefd[1]); return -1; }
    if (guard == 0) guard_main(argv, envp, cwd, stdout_fd, stderr_fd, set_ids, uid, gid, worker, pipefd[1]);
    close(pipefd[1]);
    pid_t task = 0;
    int failure = 0;
    for (;;) {
        int msg[2];
        ssize_t n;
        do { n = read(pipefd[0], msg, sizeof msg); } while (n < 0 && errno == EINTR);
        if (n != sizeof msg) break;
        if (msg[0] == MSG_TASK_PID) task = msg[1];
        if (msg[0] == MSG_ERRNO) failure = msg[1];
    }
    close(pipefd[0]);
    if (failure != 0 || task <= 0) {
        *error = failure != 0 ? failure : ECHILD;
        return -guard - 2;
    }
    *task_group = task;
    return guard;
}

pid_t sluice_spawn_child(const char *const argv[], const char *const envp[], int stdout_fd, int stderr_fd,
                         int death_signal, int new_group, int *error) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) { *error = errno; return -1; }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) { *error = errno; close(pipefd[0]); close(pipefd[1]); return -1; }
    if (pid == 0) {
        default_signals();
        if (new_group) setpgid(0, 0);
        int report = arrange_fds(stdout_fd, stderr_fd, pipefd[1]);
        if (report < 0 || prctl(PR_SET_PDEATHSIG, death_signal) != 0) {
            send_msg(report < 0 ? pipefd[1] : report, MSG_ERRNO, errno);
            _exit(127);
        }
        if (getppid() != parent) _exit(137);
        execve(argv[0], (char *const *)argv, (char *const *)envp);
        send_msg(report, MSG_ERRNO, errno);
        _exit(127);
    }
    if (new_group) setpgid(pid, pid);
    close(pipefd[1]);
    int msg[2];
    ssize_t n;
    do { n = read(pipefd[0], msg, sizeof msg); } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == sizeof msg && msg[0] == MSG_ERRNO) {
        int status;
        waitpid(pid, &status, 0);
        *error = msg[1];
        return -1;
    }
    return pid;
}
