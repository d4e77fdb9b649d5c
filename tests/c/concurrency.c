/* Lookups from many threads while the snapshot is replaced under them.
 *
 *   concurrency GEN_A GEN_B SWAPS
 *
 * GEN_A must be installed when it starts. Eight threads look up user gen, uids 20001/20002,
 * group gengrp, gen's group list and alice in a loop, and one thread enumerates users and
 * groups, while the main thread renames SWAPS new copies of the two generations over the
 * snapshot, alternating, 10 ms apart. Every answer must belong wholly to one generation
 * (see generations.h) and both must be seen. Afterwards one more replacement must become
 * visible within 1.5 s. Exits 1 on any violation. */
#include "generations.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define READERS 8

static atomic_int stop, failed;
static atomic_long lookups, seen[2];

static void violation(const char *what) {
    fprintf(stderr, "violation: %s\n", what);
    atomic_store(&failed, 1);
}

static void count(char gen) {
    if (gen)
        atomic_fetch_add(&seen[gen - 'A'], 1);
    else
        violation("user gen answer from neither generation");
}

static void *reader(void *arg) {
    (void)arg;
    char buf[BUF_LEN];
    while (!atomic_load(&stop)) {
        count(lookup_gen());

        for (uid_t uid = 20001; uid <= 20002; uid++) {
            struct passwd pw, *res = NULL;
            getpwuid_r(uid, &pw, buf, sizeof buf, &res);
            /* Missing is fine: only one generation has each uid. */
            if (res && (strcmp(res->pw_name, "gen") || gen_of_user(res) != 'A' + (uid - 20001)))
                violation("uid lookup answered from the wrong generation");
        }

        struct group gr, *gres = NULL;
        getgrnam_r("gengrp", &gr, buf, sizeof buf, &gres);
        if (!gres || !gen_of_group(gres))
            violation("group gengrp missing or inconsistent");

        gid_t groups[64];
        int n = 64;
        if (getgrouplist("gen", 20001, groups, &n) != 2 ||
            (groups[1] != 20011 && groups[1] != 20012))
            violation("group list of gen is not [20001, 20011] or [20001, 20012]");

        struct passwd pw, *res = NULL;
        getpwnam_r("alice", &pw, buf, sizeof buf, &res);
        if (!res || res->pw_uid != 10001 || strcmp(res->pw_gecos, "Alice Liddell"))
            violation("alice missing or wrong");
        atomic_fetch_add(&lookups, 1);
    }
    return NULL;
}

/* One thread, since getpwent/getgrent share one stream per process. */
static void *enumerator(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        int gens = 0, alices = 0;
        setpwent();
        for (struct passwd *pw; (pw = getpwent());) {
            if (strcmp(pw->pw_name, "gen") == 0) {
                gens++;
                if (!gen_of_user(pw))
                    violation("enumerated user gen is inconsistent");
            }
            alices += strcmp(pw->pw_name, "alice") == 0;
        }
        endpwent();
        if (gens != 1 || alices != 1)
            violation("a user enumeration did not list gen and alice exactly once");

        int gengrps = 0;
        setgrent();
        for (struct group *gr; (gr = getgrent());)
            if (strcmp(gr->gr_name, "gengrp") == 0) {
                gengrps++;
                if (!gen_of_group(gr))
                    violation("enumerated group gengrp is inconsistent");
            }
        endgrent();
        if (gengrps != 1)
            violation("a group enumeration did not list gengrp exactly once");
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Installs generation `gen` and returns the seconds until a lookup here sees it (or -1
 * after 5 s). */
static double install_and_wait(void *data, size_t len, char gen) {
    install(data, len);
    double start = now();
    while (now() - start < 5) {
        if (lookup_gen() == gen)
            return now() - start;
        usleep(1000);
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: concurrency GEN_A GEN_B SWAPS\n");
        return 2;
    }
    size_t len[2];
    void *data[2] = {read_file(argv[1], &len[0]), read_file(argv[2], &len[1])};
    int swaps = atoi(argv[3]);

    pthread_t threads[READERS + 1];
    for (int i = 0; i < READERS; i++)
        pthread_create(&threads[i], NULL, reader, NULL);
    pthread_create(&threads[READERS], NULL, enumerator, NULL);

    /* Swap 1 installs B, swap 2 installs A, ... */
    for (int i = 1; i <= swaps; i++) {
        install(data[i % 2], len[i % 2]);
        usleep(10000);
    }
    char last = swaps % 2 ? 'B' : 'A', next = last == 'A' ? 'B' : 'A';
    /* Give the readers time to settle on the last generation, then time one change. */
    sleep(2);
    if (lookup_gen() != last)
        violation("the last installed generation is not served 2 s later");
    double latency = install_and_wait(data[next - 'A'], len[next - 'A'], next);

    atomic_store(&stop, 1);
    for (int i = 0; i <= READERS; i++)
        pthread_join(threads[i], NULL);

    printf("lookup rounds %ld, user gen seen from A %ld times, from B %ld times; "
           "new generation visible after %.3f s\n",
           atomic_load(&lookups), atomic_load(&seen[0]), atomic_load(&seen[1]), latency);
    if (!atomic_load(&seen[0]) || !atomic_load(&seen[1]))
        violation("the readers never saw one of the generations");
    if (latency < 0 || latency > 1.5)
        violation("a new generation took longer than 1.5 s to become visible");
    free(data[0]);
    free(data[1]);
    return atomic_load(&failed);
}
