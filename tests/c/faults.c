/* Faults a host process may put the NSS module through, one per mode:
 *
 *   faults nofile | as | dup2 | exit | dlopen | hugename
 *
 * Each mode prints what the lookups answered, one line per step, and exits 0; a crash,
 * an abort or a hang is the failure the test looks for. The snapshot holds alice (uid
 * 10001) and devs (gid 10010); root is local. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void show(const char *step, const char *name) {
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (pw)
        printf("%s: %s %u\n", step, pw->pw_name, (unsigned)pw->pw_uid);
    else
        printf("%s: not found\n", step);
    fflush(stdout);
}

/* Every descriptor in use: the module cannot open the snapshot. Lookups fail (the local
 * files cannot be opened either), and work again once descriptors are free. */
static int nofile(void) {
    struct rlimit saved, low;
    getrlimit(RLIMIT_NOFILE, &saved);
    int fd;
    while ((fd = open("/dev/null", O_RDONLY)) >= 0 && fd < 1000)
        ;
    low = saved;
    low.rlim_cur = fd < 0 ? 0 : (rlim_t)fd;
    setrlimit(RLIMIT_NOFILE, &low);
    show("exhausted", "alice");
    setrlimit(RLIMIT_NOFILE, &saved);
    for (int i = 3; i < 1000; i++)
        close(i);
    show("restored", "alice");
    return 0;
}

/* Address space capped at what the process uses, with the module loaded but no snapshot
 * mapped yet: mapping it fails (ENOMEM). The module must answer, not abort the process,
 * and map it once the cap is lifted. */
static void lookup_r(const char *step, const char *name) {
    char buf[1024];
    struct passwd pw, *res = NULL;
    getpwnam_r(name, &pw, buf, sizeof buf, &res);
    printf("%s: %s\n", step, res ? res->pw_name : "not found");
    fflush(stdout);
}
static int as(void) {
    show("local", "root"); /* NSS set up, the files module loaded */
    if (!dlopen("libnss_roster.so.2", RTLD_NOW))
        return 2;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || fscanf(f, "%lu", &pages) != 1)
        return 2;
    fclose(f);
    struct rlimit saved, low;
    getrlimit(RLIMIT_AS, &saved);
    low = saved;
    low.rlim_cur = pages * (unsigned long)sysconf(_SC_PAGESIZE);
    setrlimit(RLIMIT_AS, &low);
    lookup_r("capped", "alice");
    setrlimit(RLIMIT_AS, &saved);
    lookup_r("restored", "alice");
    return 0;
}

/* The host closes or dup2()s over every descriptor after a first lookup. */
static int dup2_over(void) {
    show("before", "alice");
    int null = open("/dev/null", O_RDWR);
    for (int i = 3; i < 256; i++)
        if (i != null)
            dup2(null, i);
    show("dup2", "alice");
    for (int i = 3; i < 256; i++)
        close(i);
    show("closed", "alice");
    return 0;
}

/* Lookups from a thread-local destructor and an atexit handler, after main returns. */
static pthread_key_t key;
static void from_tls(void *arg) {
    (void)arg;
    show("tls destructor", "alice");
}
static void *thread(void *arg) {
    (void)arg;
    pthread_setspecific(key, (void *)1);
    show("thread", "alice");
    return NULL;
}
static void from_atexit(void) { show("atexit", "alice"); }
static int at_exit(void) {
    pthread_key_create(&key, from_tls);
    pthread_t t;
    pthread_create(&t, NULL, thread, NULL);
    pthread_join(t, NULL);
    atexit(from_atexit);
    show("main", "alice");
    return 0;
}

/* dlopen, call and dlclose the module directly, many times: no crash, no leak of
 * mappings. */
static int count_maps(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}
typedef enum nss_status (*getpwnam_r_fn)(const char *, struct passwd *, char *, size_t, int *);
static int cycle(void) {
    char buf[1024];
    struct passwd pw;
    int err, found = 0;
    void *h = dlopen("libnss_roster.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("dlopen: %s\n", dlerror());
        return -1;
    }
    getpwnam_r_fn f = (getpwnam_r_fn)dlsym(h, "_nss_roster_getpwnam_r");
    if (f && f("alice", &pw, buf, sizeof buf, &err) == NSS_STATUS_SUCCESS && pw.pw_uid == 10001)
        found = 1;
    dlclose(h);
    return found;
}
static int dlopen_cycles(void) {
    for (int i = 0; i < 20; i++)
        if (cycle() != 1)
            return 3;
    int before = count_maps();
    for (int i = 0; i < 300; i++)
        if (cycle() != 1)
            return 3;
    int after = count_maps();
    printf("dlopen cycles: %s\n", after <= before + 2 ? "maps stable" : "maps grew");
    if (after > before + 2)
        printf("maps: %d -> %d\n", before, after);
    show("after", "alice");
    return 0;
}

/* A 1 MiB name, names with bytes that are not UTF-8, through every lookup by name. */
static int hugename(void) {
    size_t len = 1 << 20;
    char *name = malloc(len + 1);
    memset(name, 'a', len);
    name[len] = 0;
    const char *odd[] = {name, "\xff\xfe", "alice\xff", "al\xc3", ""};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        gid_t groups[8];
        int n = 8;
        if (getpwnam(odd[i]) || getgrnam(odd[i]))
            printf("odd name %zu: found\n", i);
        getgrouplist(odd[i], 10001, groups, &n);
    }
    show("after", "alice");
    free(name);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    const char *mode = argv[1];
    if (!strcmp(mode, "nofile"))
        return nofile();
    if (!strcmp(mode, "as"))
        return as();
    if (!strcmp(mode, "dup2"))
        return dup2_over();
    if (!strcmp(mode, "exit"))
        return at_exit();
    if (!strcmp(mode, "dlopen"))
        return dlopen_cycles();
    if (!strcmp(mode, "hugename"))
        return hugename();
    return 2;
}
