/* Forks a process whose threads are in the middle of lookups, many times over.
 *
 *   fork GEN_A GEN_B FORKS
 *
 * GEN_A must be installed when it starts. Four threads look up, enumerate and reload
 * (the main thread renames the other generation over the snapshot every 10 forks) while the
 * main thread forks. Each child makes lookups of its own under a 5 s alarm: a lock that a
 * parent thread held at fork time would hang it, and the alarm turns that into SIGALRM.
 * Exits 1 if any child hangs, dies or gets a wrong answer. */
#include "generations.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define THREADS 4

static atomic_int stop;

static void *worker(void *arg) {
    long id = (long)arg;
    char buf[BUF_LEN];
    while (!atomic_load(&stop)) {
        struct passwd pw, *res;
        struct group gr, *gres;
        gid_t groups[64];
        int n = 64;
        getpwnam_r("alice", &pw, buf, sizeof buf, &res);
        getgrnam_r("devs", &gr, buf, sizeof buf, &gres);
        getgrouplist("alice", 10001, groups, &n);
        lookup_gen();
        if (id == 0) { /* getpwent has one stream per process: one thread only. */
            setpwent();
            while (getpwent())
                ;
            endpwent();
        }
    }
    return NULL;
}

/* The child's own lookups; returns the exit status. */
static int child(void) {
    alarm(5);
    struct passwd *pw = getpwnam("alice");
    if (!pw || pw->pw_uid != 10001)
        return 10;
    struct group *gr = getgrnam("devs");
    if (!gr || gr->gr_gid != 10010)
        return 11;
    gid_t groups[64];
    int n = 64;
    if (getgrouplist("alice", 10001, groups, &n) < 2)
        return 12;
    if (!lookup_gen())
        return 13;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: fork GEN_A GEN_B FORKS\n");
        return 2;
    }
    size_t len[2];
    void *data[2] = {read_file(argv[1], &len[0]), read_file(argv[2], &len[1])};
    int forks = atoi(argv[3]), bad = 0;

    pthread_t threads[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, worker, (void *)i);

    for (int i = 1; i <= forks; i++) {
        if (i % 10 == 0)
            install(data[(i / 10) % 2], len[(i / 10) % 2]);
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0)
            _exit(child());
        int status;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
            fprintf(stderr, "fork %d: child hung in lookups (killed by its 5 s alarm)\n", i);
            bad = 1;
        } else if (WIFSIGNALED(status)) {
            fprintf(stderr, "fork %d: child killed by signal %d\n", i, WTERMSIG(status));
            bad = 1;
        } else if (WEXITSTATUS(status) != 0) {
            fprintf(stderr, "fork %d: child lookup failed (exit %d)\n", i, WEXITSTATUS(status));
            bad = 1;
        }
        /* Let the threads get back into the module before the next fork. */
        usleep(1000);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    printf("%d forks done\n", forks);
    free(data[0]);
    free(data[1]);
    return bad;
}
