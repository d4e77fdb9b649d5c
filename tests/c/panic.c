/* With the module built with the `test-panic` feature, looking up "roster-test-panic" panics
 * inside the module. The exported function must catch it: the lookup finds nothing, this
 * process keeps running, and later lookups still work. Prints "ok" and exits 0 if so. */
#define _GNU_SOURCE
#include <pwd.h>
#include <stdio.h>
#include <string.h>

static int check_alice(void) {
    struct passwd *pw = getpwnam("alice");
    if (!pw || pw->pw_uid != 10001 || strcmp(pw->pw_gecos, "Alice Liddell") != 0) {
        fprintf(stderr, "getpwnam(alice) failed after the panic\n");
        return 0;
    }
    return 1;
}

int main(void) {
    if (!check_alice())
        return 1;
    for (int i = 0; i < 3; i++) {
        if (getpwnam("roster-test-panic")) {
            fprintf(stderr, "getpwnam(roster-test-panic) returned an entry\n");
            return 1;
        }
        char buf[1024];
        struct passwd pw, *res = &pw;
        getpwnam_r("roster-test-panic", &pw, buf, sizeof buf, &res);
        if (res) {
            fprintf(stderr, "getpwnam_r(roster-test-panic) returned an entry\n");
            return 1;
        }
        if (!check_alice())
            return 1;
    }
    puts("ok");
    return 0;
}
