/* Calls the reentrant lookup named by argv[1] with every buffer size from 0 up to one
 * byte more than the entry needs, at several misalignments of the buffer start.
 *
 *   buffer_sweep getpwnam|getpwuid|getgrnam|getgrgid KEY
 *
 * Each size below the need must fail with ERANGE and a NULL result (the glibc contract
 * that lets callers grow their buffer); from the need on, the call succeeds, every string
 * and the member array lie inside the buffer, and the answer is the same at every size and
 * alignment. Guard bytes before and after the buffer must stay untouched. On success prints
 * the entry as getent would on stdout and the sizes needed on stderr; exits 1 on the first
 * violation. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 64
#define GUARD_BYTE 0xa5
#define FILL_BYTE 0x5a
#define MAX_LEN (1 << 20)
#define LINE_MAX_LEN (1 << 20)

static void fail(const char *what, size_t len, size_t misalign) {
    fprintf(stderr, "buffer_sweep: buffer length %zu, misalignment %zu: %s\n", len, misalign, what);
    exit(1);
}

/* Whether s is a NUL-terminated string lying wholly inside [buf, buf + len). */
static int inside(const char *s, const char *buf, size_t len) {
    if (s < buf || s >= buf + len)
        return 0;
    return strnlen(s, (size_t)(buf + len - s)) < (size_t)(buf + len - s);
}

/* Runs one lookup into buf; on success formats the entry into line and checks that it lies
 * in the buffer. Returns the lookup's return value; *found says whether result was set. */
static int lookup(const char *fn, const char *key, char *buf, size_t len, char *line, int *found,
                  const char **bad) {
    *bad = NULL;
    if (strncmp(fn, "getpw", 5) == 0) {
        struct passwd pw, *res = NULL;
        int rc = strcmp(fn, "getpwnam") == 0
                     ? getpwnam_r(key, &pw, buf, len, &res)
                     : getpwuid_r((uid_t)strtoul(key, NULL, 10), &pw, buf, len, &res);
        *found = res != NULL;
        if (res == NULL)
            return rc;
        if (res != &pw)
            *bad = "result does not point to the caller's struct";
        else if (!inside(pw.pw_name, buf, len) || !inside(pw.pw_passwd, buf, len) ||
                 !inside(pw.pw_gecos, buf, len) || !inside(pw.pw_dir, buf, len) ||
                 !inside(pw.pw_shell, buf, len))
            *bad = "a passwd string lies outside the buffer";
        else
            snprintf(line, LINE_MAX_LEN, "%s:%s:%u:%u:%s:%s:%s", pw.pw_name, pw.pw_passwd,
                     (unsigned)pw.pw_uid, (unsigned)pw.pw_gid, pw.pw_gecos, pw.pw_dir, pw.pw_shell);
        return rc;
    }
    struct group gr, *res = NULL;
    int rc = strcmp(fn, "getgrnam") == 0
                 ? getgrnam_r(key, &gr, buf, len, &res)
                 : getgrgid_r((gid_t)strtoul(key, NULL, 10), &gr, buf, len, &res);
    *found = res != NULL;
    if (res == NULL)
        return rc;
    char *const *mem = gr.gr_mem;
    if (res != &gr) {
        *bad = "result does not point to the caller's struct";
    } else if (!inside(gr.gr_name, buf, len) || !inside(gr.gr_passwd, buf, len)) {
        *bad = "a group string lies outside the buffer";
    } else if ((uintptr_t)mem % sizeof(char *) != 0) {
        *bad = "gr_mem is not aligned for char *";
    } else {
        int n = snprintf(line, LINE_MAX_LEN, "%s:%s:%u:", gr.gr_name, gr.gr_passwd,
                         (unsigned)gr.gr_gid);
        for (size_t i = 0;; i++) {
            /* Check each slot is in the buffer before reading it. */
            if ((const char *)&mem[i] < buf || (const char *)(&mem[i] + 1) > buf + len) {
                *bad = "gr_mem array lies outside the buffer";
                break;
            }
            if (mem[i] == NULL)
                break;
            if (!inside(mem[i], buf, len)) {
                *bad = "a member name lies outside the buffer";
                break;
            }
            n += snprintf(line + n, LINE_MAX_LEN - n, "%s%s", i ? "," : "", mem[i]);
        }
    }
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: buffer_sweep getpwnam|getpwuid|getgrnam|getgrgid KEY\n");
        return 2;
    }
    const char *fn = argv[1], *key = argv[2];
    char *line = malloc(LINE_MAX_LEN), *first = malloc(LINE_MAX_LEN);
    first[0] = 0;
    for (size_t misalign = 0; misalign < 8; misalign++) {
        long needed = -1; /* Smallest length that succeeded. */
        for (size_t len = 0; len <= MAX_LEN; len++) {
            /* [guard | misalign | buffer | guard], block from malloc so 16-byte aligned. */
            unsigned char *block = malloc(GUARD + misalign + len + GUARD);
            unsigned char *buf = block + GUARD + misalign;
            memset(block, GUARD_BYTE, GUARD + misalign);
            memset(buf, FILL_BYTE, len);
            memset(buf + len, GUARD_BYTE, GUARD);
            int found;
            const char *bad;
            errno = 0;
            int rc = lookup(fn, key, (char *)buf, len, line, &found, &bad);
            for (size_t i = 0; i < GUARD + misalign; i++)
                if (block[i] != GUARD_BYTE)
                    fail("wrote before the buffer", len, misalign);
            for (size_t i = 0; i < GUARD; i++)
                if (buf[len + i] != GUARD_BYTE)
                    fail("wrote past the end of the buffer", len, misalign);
            free(block);
            if (bad)
                fail(bad, len, misalign);
            if (!found && rc == ERANGE) {
                if (needed >= 0)
                    fail("ERANGE after a smaller buffer succeeded", len, misalign);
                continue;
            }
            if (!found) {
                char msg[128];
                snprintf(msg, sizeof msg, "not found (return value %d: %s)", rc, strerror(rc));
                fail(msg, len, misalign);
            }
            if (rc != 0)
                fail("result set but return value is not 0", len, misalign);
            if (!first[0])
                strcpy(first, line);
            else if (strcmp(first, line) != 0)
                fail("answer differs from the first successful one", len, misalign);
            if (needed >= 0) /* Checked needed + 1 too. */
                break;
            needed = (long)len;
        }
        if (needed < 0)
            fail("never succeeded", MAX_LEN, misalign);
        fprintf(stderr, "misalignment %zu: needs %ld bytes\n", misalign, needed);
    }
    puts(first);
    free(line);
    free(first);
    return 0;
}
