#ifndef SLUICE_CSPAWN_H
#define SLUICE_CSPAWN_H
#include <sys/types.h>

/* Starts argv[0] (searched in PATH) in a new session with stdout and stderr
 * redirected to the given descriptors, in `cwd` when not NULL, as uid/gid when
 * set_ids is non-zero. Returns the child's pid, or -1 with *error set to the
 * errno of the step that failed (fork, chdir, setgid, setuid or exec). */
pid_t sluice_spawn(const char *const argv[], const char *const envp[], const char *cwd,
                   int stdout_fd, int stderr_fd, int set_ids, uid_t uid, gid_t gid, int *error);
#endif
