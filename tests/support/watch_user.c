/* One long-running process that keeps asking glibc for a user while a command (roster
 * sync) replaces the snapshot: how long until this process sees the new answer?
 *
 * usage: watch_user NAME TIMEOUT_MS COMMAND [ARG...]
 *
 * Looks NAME up (so the module has mapped the current snapshot), notes the snapshot's
 * inode, starts COMMAND, then every millisecond lstat()s the snapshot and calls
 * getpwnam(NAME) until the answer's gecos changes or TIMEOUT_MS passes. Prints, one
 * `key=value` per line (milliseconds since COMMAND started):
 *
 *   before=<gecos>  after=<gecos or empty>  command_status=<exit status>
 *   command_ms=<when COMMAND exited>  renamed_ms=<when the new inode appeared>
 *   seen_ms=<when the new answer appeared>  latency_ms=<seen_ms - renamed_ms>
 *   lookups=<getpwnam calls>  missing=<calls that found nothing>
 *
 * Exits 0 when the answer changed, 1 when it did not, 2 on a usage or setup error. */
#define _GNU_SOURCE
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SNAPSHOT "/var/lib/roster/snapshot"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: watch_user NAME TIMEOUT_MS COMMAND [ARG...]\n");
        return 2;
    }
    const char *name = argv[1];
    double timeout = atof(argv[2]);
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        fprintf(stderr, "watch_user: %s does not resolve before the command\n", name);
        return 2;
    }
    char before[1024], after[1024] = "";
    snprintf(before, sizeof before, "%s", pw->pw_gecos);
    struct stat st0, st;
    if (lstat(SNAPSHOT, &st0) != 0) {
        perror(SNAPSHOT);
        return 2;
    }

    double t0 = now_ms();
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 2;
    }
    if (child == 0) {
        execvp(argv[3], argv + 3);
        perror(argv[3]);
        _exit(127);
    }

    double renamed = -1, seen = -1, exited = -1;
    int status = -1;
    long lookups = 0, missing = 0;
    while (now_ms() - t0 < timeout) {
        if (renamed < 0 && lstat(SNAPSHOT, &st) == 0 &&
            (st.st_ino != st0.st_ino || st.st_dev != st0.st_dev))
            renamed = now_ms() - t0;
        pw = getpwnam(name);
        lookups++;
        if (!pw) {
            missing++;
        } else if (strcmp(pw->pw_gecos, before) != 0) {
            seen = now_ms() - t0;
            snprintf(after, sizeof after, "%s", pw->pw_gecos);
            if (renamed < 0) /* Both in the same millisecond. */
                renamed = seen;
            break;
        }
        int ws;
        if (exited < 0 && waitpid(child, &ws, WNOHANG) == child) {
            exited = now_ms() - t0;
            status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        }
        usleep(1000);
    }
    if (exited < 0) {
        int ws;
        if (waitpid(child, &ws, 0) == child) {
            exited = now_ms() - t0;
            status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        }
    }
    printf("before=%s\nafter=%s\ncommand_status=%d\ncommand_ms=%.1f\nrenamed_ms=%.1f\n"
           "seen_ms=%.1f\nlatency_ms=%.1f\nlookups=%ld\nmissing=%ld\n",
           before, after, status, exited, renamed, seen, seen < 0 ? -1 : seen - renamed,
           lookups, missing);
    return seen < 0;
}
