/* Shared by concurrency.c and fork.c: the two snapshot generations the tests swap, and
 * checks that an answer belongs wholly to one of them.
 *
 * Generation A: user gen uid/gid 20001 gecos "A"; group gengrp gid 20011 members alice,gen.
 * Generation B: user gen uid 20002 gid 20001 gecos "B"; group gengrp gid 20012 members gen.
 * Both also hold the basic fixture's users and groups (alice 10001, devs 10010, ...). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAPSHOT "/var/lib/roster/snapshot"
#define SNAPSHOT_TMP "/var/lib/roster/.snapshot.tmp"
#define BUF_LEN 16384

/* Returns 'A' or 'B' for a consistent answer, 0 (after printing why) otherwise. */
static inline char gen_of_user(const struct passwd *pw) {
    if (pw->pw_uid == 20001 && pw->pw_gid == 20001 && strcmp(pw->pw_gecos, "A") == 0)
        return 'A';
    if (pw->pw_uid == 20002 && pw->pw_gid == 20001 && strcmp(pw->pw_gecos, "B") == 0)
        return 'B';
    fprintf(stderr, "inconsistent user gen: uid %u gid %u gecos \"%s\"\n", (unsigned)pw->pw_uid,
            (unsigned)pw->pw_gid, pw->pw_gecos);
    return 0;
}

static inline char gen_of_group(const struct group *gr) {
    char members[256] = "";
    for (char **m = gr->gr_mem; *m; m++)
        snprintf(members + strlen(members), sizeof members - strlen(members), "%s%s",
                 m == gr->gr_mem ? "" : ",", *m);
    if (gr->gr_gid == 20011 && strcmp(members, "alice,gen") == 0)
        return 'A';
    if (gr->gr_gid == 20012 && strcmp(members, "gen") == 0)
        return 'B';
    fprintf(stderr, "inconsistent group gengrp: gid %u members \"%s\"\n", (unsigned)gr->gr_gid,
            members);
    return 0;
}

/* Looks up user gen by name; returns its generation, or 0 after printing why. */
static inline char lookup_gen(void) {
    static __thread char buf[BUF_LEN];
    struct passwd pw, *res = NULL;
    int rc = getpwnam_r("gen", &pw, buf, sizeof buf, &res);
    if (!res) {
        fprintf(stderr, "getpwnam_r(gen) found nothing: %s\n", rc ? strerror(rc) : "not found");
        return 0;
    }
    return gen_of_user(res);
}

static inline void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    void *data = malloc(*len);
    if (fread(data, 1, *len, f) != *len) {
        perror(path);
        exit(1);
    }
    fclose(f);
    return data;
}

/* Replaces the snapshot the way the agent does: write a temporary file in the same folder,
 * then rename(2) it over the live one. */
static inline void install(const void *data, size_t len) {
    int fd = open(SNAPSHOT_TMP, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || fchmod(fd, 0644) || close(fd)) {
        perror("write " SNAPSHOT_TMP);
        exit(1);
    }
    if (rename(SNAPSHOT_TMP, SNAPSHOT)) {
        perror("rename");
        exit(1);
    }
}
