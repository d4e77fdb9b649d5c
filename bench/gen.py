#!/usr/bin/env python3
"""Generate one benchmark data set, identically for every NSS module.

    gen.py USERS OUTDIR

writes into OUTDIR:

  roster.json           roster source snapshot ("roster-snapshot/1")
  passwd, group         the same accounts in /etc/passwd and /etc/group format
                        (glibc `files`; bind-mounted over /etc/passwd, /etc/group)
  etc-cache/            libnss-cache's files, to be laid over a copy of /etc:
                        passwd.cache, group.cache and the sorted indexes
                        passwd.cache.ixname, passwd.cache.ixuid,
                        group.cache.ixname, group.cache.ixgid
  params.env            shell-sourceable names/ids the driver looks up

Shape of the data (deterministic, no randomness):

  users   u0000001..uNNNNNNN, uid 100000+i, primary gid = uid (a per-user
          group that is not listed, as with LDAP user-private groups)
  groups  10 users: 6 small groups; otherwise 10,000 groups g00001..g10000,
          gid 2000000+j; every 100th group (j % 100 == 50) has 3,000 members,
          the others 10.
  the "probe" user (middle of the table) is a member of exactly 5 groups at
  every size (2 of the 3,000-member groups when they exist), so getgrouplist
  returns 6 gids everywhere; the probe group (middle of the group table) is a
  small group containing the probe user.

libnss-cache index format (nsscache's FilesCache.WriteIndex, read by
libnss-cache's _nss_cache_bsearch2): one line per key, sorted by byte value
of the key *as text* (so uids sort as strings), each line
`KEY \\0 OFFSET \\0 padding-NULs \\n` padded so every line has the same
length; OFFSET is the decimal byte offset of the entry's line in the .cache
file. libnss-cache refuses an index older than its .cache file, so the
indexes are written last.
"""

import os
import sys
import time

UID_BASE = 100000
GID_BASE = 2000000
BIG_MEMBERS = 3000
SMALL_MEMBERS = 10
PROBE_GROUPS = 5  # supplementary groups of the probe user


def user_name(i):
    return "u%07d" % i


def group_name(j):
    return "g%05d" % j


def build_groups(n_users, probe):
    """Return a list of (j, [member indexes]) and the probe's group numbers."""
    if n_users < 10000:
        # Tiny table: a handful of groups of 4 members; the probe is in 5 of 6.
        n_groups = 6
        groups = []
        for j in range(1, n_groups + 1):
            members = sorted({(j * 3 + k) % n_users + 1 for k in range(4)} - {probe})
            groups.append((j, members))
        probe_groups = list(range(2, n_groups + 1))
        hit_group = n_groups // 2
        big_group = None
    else:
        n_groups = 10000
        groups = []
        for j in range(1, n_groups + 1):
            start = (j * 7919) % n_users
            if j % 100 == 50:
                members = [(start + k) % n_users + 1 for k in range(BIG_MEMBERS)]
            else:
                step = n_users // SMALL_MEMBERS
                members = [(start + k * step) % n_users + 1 for k in range(SMALL_MEMBERS)]
            groups.append((j, [m for m in members if m != probe]))
        hit_group = n_groups // 2  # g05000, small
        big_group = 5050           # 3,000 members
        probe_groups = [4950, 4999, hit_group, 5001, big_group]
    assert len(probe_groups) == PROBE_GROUPS and hit_group in probe_groups
    for j in probe_groups:
        groups[j - 1][1].append(probe)
    return groups, hit_group, big_group


def write_index(path, keys_offsets):
    """Write one libnss-cache index (see module docstring)."""
    keys_offsets = sorted(keys_offsets)  # byte order of the key text == strcmp
    width = max(len(k) for k, _ in keys_offsets) + max(len(o) for _, o in keys_offsets)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.writelines(
            "%s\0%s\0%s\n" % (k, o, "\0" * (width - len(k) - len(o))) for k, o in keys_offsets
        )


def main():
    n_users = int(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(os.path.join(out, "etc-cache"), exist_ok=True)
    probe = (n_users + 1) // 2
    groups, hit_group, big_group = build_groups(n_users, probe)

    # passwd (also passwd.cache) and the byte offset of each line.
    pw_lines = []
    pw_name_ix, pw_uid_ix = [], []
    off = 0
    for i in range(1, n_users + 1):
        name, uid = user_name(i), UID_BASE + i
        line = "%s:x:%d:%d:User %d:/home/%s:/bin/bash\n" % (name, uid, uid, i, name)
        pw_lines.append(line)
        pw_name_ix.append((name, str(off)))
        pw_uid_ix.append((str(uid), str(off)))
        off += len(line)
    gr_lines = []
    gr_name_ix, gr_gid_ix = [], []
    off = 0
    for j, members in groups:
        name, gid = group_name(j), GID_BASE + j
        line = "%s:x:%d:%s\n" % (name, gid, ",".join(user_name(m) for m in members))
        gr_lines.append(line)
        gr_name_ix.append((name, str(off)))
        gr_gid_ix.append((str(gid), str(off)))
        off += len(line)

    for path in ("passwd", "etc-cache/passwd.cache"):
        with open(os.path.join(out, path), "w", encoding="ascii") as f:
            f.writelines(pw_lines)
    for path in ("group", "etc-cache/group.cache"):
        with open(os.path.join(out, path), "w", encoding="ascii") as f:
            f.writelines(gr_lines)
    # Indexes after the .cache files: libnss-cache compares their mtimes.
    write_index(os.path.join(out, "etc-cache/passwd.cache.ixname"), pw_name_ix)
    write_index(os.path.join(out, "etc-cache/passwd.cache.ixuid"), pw_uid_ix)
    write_index(os.path.join(out, "etc-cache/group.cache.ixname"), gr_name_ix)
    write_index(os.path.join(out, "etc-cache/group.cache.ixgid"), gr_gid_ix)

    # roster source snapshot. Names are plain ASCII from the patterns above,
    # so the JSON is formatted directly (json.dumps per entry is ~5x slower).
    # Issued now: hosts count freshness from the signed issue time, and the
    # sshd gate (bench/principals.sh) refuses a snapshot older than max_age.
    issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(os.path.join(out, "roster.json"), "w", encoding="ascii") as f:
        f.write(
            '{"format":"roster-snapshot/1","serial":1,'
            '"issued_at":"%s","valid_until":"2099-01-01T00:00:00Z",'
            '"users":[\n' % issued
        )
        f.write(
            ",\n".join(
                '{"name":"%s","uid":%d,"gid":%d,"gecos":"User %d","home":"/home/%s",'
                '"shell":"/bin/bash","state":"active","role":"user","kind":"person"}'
                % (user_name(i), UID_BASE + i, UID_BASE + i, i, user_name(i))
                for i in range(1, n_users + 1)
            )
        )
        f.write('\n],"groups":[\n')
        f.write(
            ",\n".join(
                '{"name":"%s","gid":%d,"members":[%s]}'
                % (group_name(j), GID_BASE + j, ",".join('"%s"' % user_name(m) for m in members))
                for j, members in groups
            )
        )
        f.write("\n]}\n")

    big = big_group if big_group is not None else hit_group
    params = {
        "N_USERS": n_users,
        "N_GROUPS": len(groups),
        "HIT_USER": user_name(probe),
        "HIT_UID": UID_BASE + probe,
        "HIT_GID_PRIMARY": UID_BASE + probe,
        "HIT_GROUP": group_name(hit_group),
        "HIT_GID": GID_BASE + hit_group,
        "BIG_GROUP": group_name(big) if big_group is not None else "",
        "BIG_GID": GID_BASE + big if big_group is not None else 0,
        "BIG_MEMBERS": len(groups[big - 1][1]) if big_group is not None else 0,
        "HIT_MEMBERS": len(groups[hit_group - 1][1]),
        "TOTAL_MEMBERS": sum(len(m) for _, m in groups),
        "MISS_USER": "nosuchuser",
        "MISS_UID": 99999999,
        "MISS_GROUP": "nosuchgroup",
        "MISS_GID": 99999999,
        "PROBE_NGROUPS": PROBE_GROUPS + 1,  # plus the primary gid
    }
    with open(os.path.join(out, "params.env"), "w", encoding="ascii") as f:
        for k, v in params.items():
            f.write("%s=%s\n" % (k, v))


if __name__ == "__main__":
    main()
