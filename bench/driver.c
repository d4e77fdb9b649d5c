/* NSS lookup benchmark driver.
 *
 *   driver KEY=VALUE...
 *
 * Times glibc's public lookup calls against whatever NSS module the
 * surrounding nsswitch.conf names, and prints one tab-separated line per
 * operation:
 *
 *   op  ns_per_call  calls_timed  status  detail  wall_ns_per_call
 *
 * ns_per_call is CPU time of the calling thread (see cpu_now); the last
 * column is the same measurement in wall-clock time.
 * status is "ok" or "invalid" (the call did not return what the data set
 * says it must, e.g. a hit that was not found, so the number is meaningless).
 * For the enumeration ops the unit is ns per returned entry.
 *
 * Method: every op is first called once and its result checked (this also
 * makes glibc load the module), then warmed up for WARMUP_S, then timed in
 * ROUNDS rounds of at least MIN_S CPU seconds each (the iteration count is sized
 * from the warm-up); the reported figure is the median round. A single call
 * slower than a round (a full scan of a 1M-line file) is simply timed once
 * per round.
 *
 * Keys (all required unless noted): user, uid, group, gid, big_group (may be
 * empty), miss_user, miss_uid, miss_group, miss_gid, primary_gid,
 * gl_expect (gid count getgrouplist must return), n_users, n_groups,
 * min_s (default 0.2), rounds (default 5), first (default 0: with 1, time
 * only the process's first getpwnam hit and exit).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PW_BUF (64 * 1024)
#define GR_BUF (4 * 1024 * 1024) /* a 3,000-member group needs ~30 KiB */
#define MAX_GROUPS 65536

static char *pwbuf, *grbuf;
static gid_t glist[MAX_GROUPS];

/* Parameters. */
static const char *p_user, *p_group, *p_big_group, *p_miss_user, *p_miss_group;
static uid_t p_uid, p_miss_uid;
static gid_t p_gid, p_miss_gid, p_primary_gid;
static long p_gl_expect, p_n_users, p_n_groups;
static double p_min_s = 0.2, p_warmup_s = 0.05;
static int p_rounds = 5;

/* An op performs one call (or one whole enumeration) and returns the number
 * of units it covered (1 for a lookup, entries for an enumeration), or -1
 * when the result is wrong; *detail may be set to explain. */
typedef long (*op_fn)(const char **detail);

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The figure reported is the calling thread's CPU time (user + system): the
 * calls never block (all data is in the page cache), so on an idle machine
 * it equals wall time, and on a busy one it leaves out the time the driver
 * spends descheduled. Wall time is printed alongside as a contention check. */
static double cpu_now(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }
static double wall_now(void) { return clock_s(CLOCK_MONOTONIC); }

static long pw_check(int rc, struct passwd *res, const char *name, uid_t uid,
                     const char **detail) {
    if (name == NULL) { /* expected miss */
        if (res != NULL) { *detail = "miss returned an entry"; return -1; }
        if (rc != 0 && rc != ENOENT) { *detail = "miss returned an error"; return -1; }
        return 1;
    }
    if (res == NULL) { *detail = rc ? "hit: error" : "hit: not found"; return -1; }
    if (strcmp(res->pw_name, name) != 0 || res->pw_uid != uid) {
        *detail = "hit: wrong entry";
        return -1;
    }
    return 1;
}

static long gr_check(int rc, struct group *res, const char *name, gid_t gid,
                     const char **detail) {
    if (name == NULL) {
        if (res != NULL) { *detail = "miss returned an entry"; return -1; }
        if (rc != 0 && rc != ENOENT) { *detail = "miss returned an error"; return -1; }
        return 1;
    }
    if (res == NULL) { *detail = rc ? "hit: error" : "hit: not found"; return -1; }
    if (strcmp(res->gr_name, name) != 0 || res->gr_gid != gid) {
        *detail = "hit: wrong entry";
        return -1;
    }
    return 1;
}

static long op_pwnam_hit(const char **d) {
    struct passwd pw, *res = NULL;
    int rc = getpwnam_r(p_user, &pw, pwbuf, PW_BUF, &res);
    return pw_check(rc, res, p_user, p_uid, d);
}
static long op_pwnam_miss(const char **d) {
    struct passwd pw, *res = NULL;
    int rc = getpwnam_r(p_miss_user, &pw, pwbuf, PW_BUF, &res);
    return pw_check(rc, res, NULL, 0, d);
}
static long op_pwuid_hit(const char **d) {
    struct passwd pw, *res = NULL;
    int rc = getpwuid_r(p_uid, &pw, pwbuf, PW_BUF, &res);
    return pw_check(rc, res, p_user, p_uid, d);
}
static long op_pwuid_miss(const char **d) {
    struct passwd pw, *res = NULL;
    int rc = getpwuid_r(p_miss_uid, &pw, pwbuf, PW_BUF, &res);
    return pw_check(rc, res, NULL, 0, d);
}
static long op_grnam_hit(const char **d) {
    struct group gr, *res = NULL;
    int rc = getgrnam_r(p_group, &gr, grbuf, GR_BUF, &res);
    return gr_check(rc, res, p_group, p_gid, d);
}
static long op_grnam_miss(const char **d) {
    struct group gr, *res = NULL;
    int rc = getgrnam_r(p_miss_group, &gr, grbuf, GR_BUF, &res);
    return gr_check(rc, res, NULL, 0, d);
}
static long op_grgid_hit(const char **d) {
    struct group gr, *res = NULL;
    int rc = getgrgid_r(p_gid, &gr, grbuf, GR_BUF, &res);
    return gr_check(rc, res, p_group, p_gid, d);
}
static long op_grgid_miss(const char **d) {
    struct group gr, *res = NULL;
    int rc = getgrgid_r(p_miss_gid, &gr, grbuf, GR_BUF, &res);
    return gr_check(rc, res, NULL, 0, d);
}
static long op_grnam_big(const char **d) {
    struct group gr, *res = NULL;
    int rc = getgrnam_r(p_big_group, &gr, grbuf, GR_BUF, &res);
    if (res == NULL) { *d = rc ? "hit: error" : "hit: not found"; return -1; }
    if (strcmp(res->gr_name, p_big_group) != 0) { *d = "hit: wrong entry"; return -1; }
    return 1;
}
static long op_getgrouplist(const char **d) {
    int n = MAX_GROUPS;
    if (getgrouplist(p_user, p_primary_gid, glist, &n) < 0) {
        *d = "getgrouplist failed";
        return -1;
    }
    if (n != p_gl_expect) {
        static char msg[64];
        snprintf(msg, sizeof msg, "returned %d gids, expected %ld", n, p_gl_expect);
        *d = msg;
        return -1;
    }
    return 1;
}
static long op_getpwent(const char **d) {
    struct passwd pw, *res;
    long n = 0;
    setpwent();
    while (getpwent_r(&pw, pwbuf, PW_BUF, &res) == 0 && res != NULL) n++;
    endpwent();
    if (n != p_n_users) {
        static char msg[64];
        snprintf(msg, sizeof msg, "enumerated %ld entries, expected %ld", n, p_n_users);
        *d = msg;
        return -1;
    }
    return n;
}
static long op_getgrent(const char **d) {
    struct group gr, *res;
    long n = 0;
    setgrent();
    while (getgrent_r(&gr, grbuf, GR_BUF, &res) == 0 && res != NULL) n++;
    endgrent();
    if (n != p_n_groups) {
        static char msg[64];
        snprintf(msg, sizeof msg, "enumerated %ld entries, expected %ld", n, p_n_groups);
        *d = msg;
        return -1;
    }
    return n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench(const char *name, op_fn fn) {
    const char *detail = "";
    /* First call: validates the result and loads the module. */
    long units = fn(&detail);
    if (units < 0) {
        printf("%s\t-\t0\tinvalid\t%s\n", name, detail);
        fflush(stdout);
        return;
    }
    /* Warm-up; also estimates the cost of one call. */
    long calls = 0, uw = 0;
    double t0 = cpu_now(), t;
    do {
        uw += fn(&detail);
        calls++;
        t = cpu_now() - t0;
    } while (t < p_warmup_s);
    double per_call = t / (double)calls;
    long iters = (long)(p_min_s / per_call) + 1;

    double *res = calloc((size_t)p_rounds, sizeof(double));
    double *wall = calloc((size_t)p_rounds, sizeof(double));
    long total = 0;
    for (int r = 0; r < p_rounds; r++) {
        long u = 0;
        double elapsed;
        long it = 0;
        double w0 = wall_now();
        t0 = cpu_now();
        /* Run the sized batch, and keep going if the machine was faster
         * than the estimate: a round is never shorter than min_s. */
        do {
            for (long i = 0; i < iters; i++) {
                long k = fn(&detail);
                if (k < 0) {
                    printf("%s\t-\t0\tinvalid\t%s (during timing)\n", name, detail);
                    fflush(stdout);
                    free(res);
                    free(wall);
                    return;
                }
                u += k;
            }
            it += iters;
            elapsed = cpu_now() - t0;
        } while (elapsed < p_min_s);
        res[r] = elapsed * 1e9 / (double)u;
        wall[r] = (wall_now() - w0) * 1e9 / (double)u;
        total += it;
    }
    qsort(res, (size_t)p_rounds, sizeof(double), cmp_double);
    qsort(wall, (size_t)p_rounds, sizeof(double), cmp_double);
    printf("%s\t%.1f\t%ld\tok\t%s\t%.1f\n", name, res[p_rounds / 2], total, detail,
           wall[p_rounds / 2]);
    fflush(stdout);
    free(res);
    free(wall);
}

static const char *arg(int argc, char **argv, const char *key, const char *dflt) {
    size_t kl = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, kl) == 0 && argv[i][kl] == '=') return argv[i] + kl + 1;
    if (dflt == NULL) {
        fprintf(stderr, "driver: missing %s=\n", key);
        exit(2);
    }
    return dflt;
}

int main(int argc, char **argv) {
    p_user = arg(argc, argv, "user", NULL);
    p_uid = (uid_t)strtoul(arg(argc, argv, "uid", NULL), NULL, 10);
    p_group = arg(argc, argv, "group", NULL);
    p_gid = (gid_t)strtoul(arg(argc, argv, "gid", NULL), NULL, 10);
    p_big_group = arg(argc, argv, "big_group", "");
    p_miss_user = arg(argc, argv, "miss_user", NULL);
    p_miss_uid = (uid_t)strtoul(arg(argc, argv, "miss_uid", NULL), NULL, 10);
    p_miss_group = arg(argc, argv, "miss_group", NULL);
    p_miss_gid = (gid_t)strtoul(arg(argc, argv, "miss_gid", NULL), NULL, 10);
    p_primary_gid = (gid_t)strtoul(arg(argc, argv, "primary_gid", NULL), NULL, 10);
    p_gl_expect = strtol(arg(argc, argv, "gl_expect", NULL), NULL, 10);
    p_n_users = strtol(arg(argc, argv, "n_users", NULL), NULL, 10);
    p_n_groups = strtol(arg(argc, argv, "n_groups", NULL), NULL, 10);
    p_min_s = strtod(arg(argc, argv, "min_s", "0.2"), NULL);
    p_rounds = (int)strtol(arg(argc, argv, "rounds", "5"), NULL, 10);
    if (p_rounds < 1) p_rounds = 1;

    pwbuf = malloc(PW_BUF);
    grbuf = malloc(GR_BUF);
    if (!pwbuf || !grbuf) return 1;

    /* first=1: time only this process's first lookup, which makes glibc
     * read nsswitch.conf and dlopen() the module, and the module open its
     * data: what every short-lived process (ls -l, id, sudo...) pays once. */
    if (strcmp(arg(argc, argv, "first", "0"), "1") == 0) {
        const char *detail = "";
        double w0 = wall_now(), t0 = cpu_now();
        long ok = op_pwnam_hit(&detail);
        double t = cpu_now() - t0, w = wall_now() - w0;
        if (ok < 0)
            printf("first_getpwnam\t-\t0\tinvalid\t%s\n", detail);
        else
            printf("first_getpwnam\t%.1f\t1\tok\t\t%.1f\n", t * 1e9, w * 1e9);
        return 0;
    }

    bench("getpwnam_hit", op_pwnam_hit);
    bench("getpwnam_miss", op_pwnam_miss);
    bench("getpwuid_hit", op_pwuid_hit);
    bench("getpwuid_miss", op_pwuid_miss);
    bench("getgrnam_hit", op_grnam_hit);
    bench("getgrnam_miss", op_grnam_miss);
    bench("getgrgid_hit", op_grgid_hit);
    bench("getgrgid_miss", op_grgid_miss);
    if (*p_big_group) bench("getgrnam_hit_big", op_grnam_big);
    bench("getgrouplist", op_getgrouplist);
    bench("getpwent", op_getpwent);
    bench("getgrent", op_getgrent);
    return 0;
}
