/* libnss_floor.so.2: a do-nothing NSS module, the benchmark's floor.
 *
 * It answers from constants, so its timings are glibc's own NSS dispatch
 * cost plus one strcmp/compare and a tiny copy: no module can be faster.
 *
 *   - getpw{nam,uid}_r / getgr{nam,gid}_r: a fixed tiny entry for the names
 *     and ids the driver looks up as hits, NOTFOUND for everything else;
 *   - get{pw,gr}ent_r: the same tiny entry FLOOR_NUSERS / FLOOR_NGROUPS
 *     times, so enumeration returns as many entries as the real modules;
 *   - initgroups_dyn: NOTFOUND (getgrouplist then returns the primary gid
 *     only: glibc's cost of asking one module).
 *
 * The hit keys come from the environment, read once when glibc dlopen()s
 * the module: FLOOR_USER, FLOOR_UID, FLOOR_GROUPS ("name:gid,name:gid"),
 * FLOOR_NUSERS, FLOOR_NGROUPS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define MAX_GROUPS 4

static char user[64] = "";
static uid_t uid = (uid_t)-1;
static struct {
    char name[64];
    gid_t gid;
} groups[MAX_GROUPS];
static int ngroups;
static long n_users, n_groups;
static long pw_pos, gr_pos; /* enumeration cursors (glibc serialises *ent) */

__attribute__((constructor)) static void floor_init(void) {
    const char *s;
    if ((s = getenv("FLOOR_USER"))) strncpy(user, s, sizeof user - 1);
    if ((s = getenv("FLOOR_UID"))) uid = (uid_t)strtoul(s, NULL, 10);
    if ((s = getenv("FLOOR_NUSERS"))) n_users = strtol(s, NULL, 10);
    if ((s = getenv("FLOOR_NGROUPS"))) n_groups = strtol(s, NULL, 10);
    if ((s = getenv("FLOOR_GROUPS"))) {
        /* name:gid[,name:gid...] */
        while (*s && ngroups < MAX_GROUPS) {
            const char *colon = strchr(s, ':');
            if (!colon) break;
            size_t len = (size_t)(colon - s);
            if (len >= sizeof groups[0].name) len = sizeof groups[0].name - 1;
            memcpy(groups[ngroups].name, s, len);
            groups[ngroups].name[len] = '\0';
            char *end;
            groups[ngroups].gid = (gid_t)strtoul(colon + 1, &end, 10);
            ngroups++;
            s = *end == ',' ? end + 1 : end;
        }
    }
}

/* Copy a string into the caller's buffer; NULL when it does not fit. */
static char *put(const char *src, char **buf, size_t *left) {
    size_t n = strlen(src) + 1;
    if (n > *left) return NULL;
    char *dst = memcpy(*buf, src, n);
    *buf += n;
    *left -= n;
    return dst;
}

static enum nss_status fill_pw(struct passwd *pw, char *buf, size_t len, int *errnop) {
    if (!(pw->pw_name = put(user, &buf, &len)) || !(pw->pw_passwd = put("x", &buf, &len)) ||
        !(pw->pw_gecos = put("", &buf, &len)) || !(pw->pw_dir = put("/", &buf, &len)) ||
        !(pw->pw_shell = put("/bin/sh", &buf, &len))) {
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }
    pw->pw_uid = uid;
    pw->pw_gid = uid;
    return NSS_STATUS_SUCCESS;
}

static enum nss_status fill_gr(int i, struct group *gr, char *buf, size_t len, int *errnop) {
    /* Empty member list: one aligned NULL pointer at the start of buf. */
    uintptr_t pad = (sizeof(char *) - (uintptr_t)buf % sizeof(char *)) % sizeof(char *);
    if (len < pad + sizeof(char *)) goto erange;
    char **mem = (char **)(void *)(buf + pad);
    mem[0] = NULL;
    buf += pad + sizeof(char *);
    len -= pad + sizeof(char *);
    if (!(gr->gr_name = put(groups[i].name, &buf, &len)) ||
        !(gr->gr_passwd = put("x", &buf, &len)))
        goto erange;
    gr->gr_gid = groups[i].gid;
    gr->gr_mem = mem;
    return NSS_STATUS_SUCCESS;
erange:
    *errnop = ERANGE;
    return NSS_STATUS_TRYAGAIN;
}

enum nss_status _nss_floor_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                                      size_t len, int *errnop) {
    if (strcmp(name, user) != 0) return NSS_STATUS_NOTFOUND;
    return fill_pw(pw, buf, len, errnop);
}

enum nss_status _nss_floor_getpwuid_r(uid_t id, struct passwd *pw, char *buf, size_t len,
                                      int *errnop) {
    if (id != uid) return NSS_STATUS_NOTFOUND;
    return fill_pw(pw, buf, len, errnop);
}

enum nss_status _nss_floor_getgrnam_r(const char *name, struct group *gr, char *buf,
                                      size_t len, int *errnop) {
    for (int i = 0; i < ngroups; i++)
        if (strcmp(name, groups[i].name) == 0) return fill_gr(i, gr, buf, len, errnop);
    return NSS_STATUS_NOTFOUND;
}

enum nss_status _nss_floor_getgrgid_r(gid_t id, struct group *gr, char *buf, size_t len,
                                      int *errnop) {
    for (int i = 0; i < ngroups; i++)
        if (id == groups[i].gid) return fill_gr(i, gr, buf, len, errnop);
    return NSS_STATUS_NOTFOUND;
}

enum nss_status _nss_floor_setpwent(int stayopen) {
    (void)stayopen;
    pw_pos = 0;
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_floor_endpwent(void) { return NSS_STATUS_SUCCESS; }

enum nss_status _nss_floor_getpwent_r(struct passwd *pw, char *buf, size_t len, int *errnop) {
    if (pw_pos >= n_users) return NSS_STATUS_NOTFOUND;
    enum nss_status st = fill_pw(pw, buf, len, errnop);
    if (st == NSS_STATUS_SUCCESS) pw_pos++;
    return st;
}

enum nss_status _nss_floor_setgrent(int stayopen) {
    (void)stayopen;
    gr_pos = 0;
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_floor_endgrent(void) { return NSS_STATUS_SUCCESS; }

enum nss_status _nss_floor_getgrent_r(struct group *gr, char *buf, size_t len, int *errnop) {
    if (gr_pos >= n_groups || ngroups == 0) return NSS_STATUS_NOTFOUND;
    enum nss_status st = fill_gr(0, gr, buf, len, errnop);
    if (st == NSS_STATUS_SUCCESS) gr_pos++;
    return st;
}

enum nss_status _nss_floor_initgroups_dyn(const char *name, gid_t skip, long *start,
                                          long *size, gid_t **groupsp, long limit,
                                          int *errnop) {
    (void)name, (void)skip, (void)start, (void)size, (void)groupsp, (void)limit, (void)errnop;
    return NSS_STATUS_NOTFOUND;
}
