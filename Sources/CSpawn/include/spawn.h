#ifndef SLUICE_CSPAWN_H
#define SLUICE_CSPAWN_H
#include <sys/types.h>

/* Starts a task under a guard process, so that the task's whole process
 * group dies with the worker, even when the worker dies by SIGKILL.
 *
 * The guard is a new session (its pid is the session id) and stays behind
 * the task as its parent; the task runs argv[0] (searched in PATH) in a
 * process group of its own (its pid is the group id), with stdin from
 * /dev/null, stdout and stderr on the given descriptors, in `cwd` when not
 * NULL, and as uid/gid when set_ids is non-zero. The guard waits for two
 * things: the task ending, when it kills what the task left in its group and
 * exits with the task's status (dying by the same signal if the task did);
 * and the worker dying (a parent-death signal, and a check every second),
 * when it kills the whole group. The task itself also gets SIGKILL if the
 * guard dies, set after the user switch, which would clear it.
 *
 * Returns the guard's pid (wait for it to learn the task's status) and sets
 * *task_group. On failure returns -1 with *error set to an errno, or, when a
 * guard exists and must be reaped, -(guard pid) - 2. */
pid_t sluice_spawn_task(const char *const argv[], const char *const envp[], const char *cwd,
                        int stdout_fd, int stderr_fd, int set_ids, uid_t uid, gid_t gid,
                        pid_t *task_group, int *error);

/* Starts a child process (argv[0] is a path) that receives `death_signal`
 * when the calling thread's process dies: for daemons supervised by another
 * process (`sluice local`). The calling thread must outlive the child, since
 * Linux sends the signal when the thread that forked it exits. stdout and
 * stderr go to the given descriptors, stdin to /dev/null. With new_group the
 * child leads a process group of its own, so a terminal's Ctrl-C reaches
 * only the supervisor, which stops its children in order. Returns the pid,
 * or -1 with *error set. */
pid_t sluice_spawn_child(const char *const argv[], const char *const envp[], int stdout_fd, int stderr_fd,
                         int death_signal, int new_group, int *error);
#endif
