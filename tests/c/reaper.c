/* The init of the sshd test namespaces (tests/common/sshd.rs): PID 1 of a PID namespace.
 *
 *   reaper
 *
 * Every orphan of the namespace (a session's detached process, a daemon's grandchild) is
 * reparented to PID 1, and only PID 1 can reap it. `sleep infinity` as PID 1 never did, so
 * every process that ended in the namespace stayed a zombie, and a test asking "does PID N
 * still exist?" after an offboarding saw the corpse of the process roster had killed.
 *
 * SIGCHLD is blocked and collected with sigwaitinfo(): a blocked signal stays pending even
 * where its default action is to ignore it (and PID 1 of a namespace drops every signal
 * with the default action that comes from inside). Signals coalesce, so each wake-up reaps
 * until none is left. The namespace ends when the test kills this process with SIGKILL
 * from outside (the only way to kill a namespace init without a handler). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

int main(void) {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0) {
        perror("reaper: sigprocmask");
        return 1;
    }
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        if (sigwaitinfo(&chld, NULL) < 0 && errno != EINTR) {
            perror("reaper: sigwaitinfo");
            return 1;
        }
    }
}
