#!/usr/bin/env python3
"""Benchmark roster's SCIM service: initial import, change-to-snapshot latency, memory.

    python3 bench/scim.py --url http://127.0.0.1:8443/scim/v2 --token "$TOKEN" \
        --users 10000 --groups 500 --publish-dir /var/lib/roster-scim/publish \
        --project demo --pid "$(pgrep -nx roster-scim)"

Phase 1, import: N users by POST /Users ("user00042@example.com": its login,
user00042, is valid under the service's userName rule), then G groups by POST
/Groups and PATCH add of their members in batches of --batch, every user in
--per-user groups (2 by default). Requests are spread over --concurrency
threads, each with its own keep-alive connection. Reported as users/s, groups/s
(the groups' POSTs and membership PATCHes together) and membership adds/s.

Phase 2, change to snapshot: after the import has been published (the serial
of DIR/NAME/snapshot.json unchanged for --settle seconds), --patches PATCHes one
at a time, each toggling one user's active. Each is timed from the arrival of
its response until snapshot.json holds a serial greater than the one before
the PATCH (the file polled every 5 ms; it is re-read only when its mtime, size
or inode changed). Reported as p50, p90, p99 and max.

Phase 3, memory: VmRSS and VmHWM from /proc/PID/status, when --pid is given.

Prints a markdown section for BENCHMARKS.md. Python standard library only.
Sends requests only to a loopback address, and every loop is bounded in count
and in time.
"""

import argparse
import http.client
import ipaddress
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Failure(Exception):
    pass


class Client:
    """One keep-alive connection per thread, re-opened once if the server closed it."""

    def __init__(self, url, token, timeout):
        parts = urllib.parse.urlsplit(url)
        self.scheme, self.netloc = parts.scheme, parts.netloc
        self.prefix = parts.path.rstrip("/")
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json",
            "Accept": "application/scim+json",
        }
        self.timeout = timeout
        self.local = threading.local()

    def _conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            conn = cls(self.netloc, timeout=self.timeout)
            self.local.conn = conn
        return conn

    def call(self, method, path, body=None, want=(200, 201, 204)):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, self.prefix + path, body=data, headers=self.headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        if response.status not in want:
            raise Failure(f"{method} {path}: {response.status} {raw[:300]!r}")
        return json.loads(raw) if raw.strip() else None


def require_loopback(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        sys.exit(f"bench/scim.py: cannot resolve {host}: {exc}")
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        sys.exit(f"bench/scim.py: {host} is not a loopback address; this benchmark only loads a local service")


def timed_map(pool, fn, items):
    start = time.perf_counter()
    results = list(pool.map(fn, items))
    return results, time.perf_counter() - start


def import_phase(client, args, pool):
    width = max(5, len(str(args.users - 1)))

    def create_user(i):
        login = f"user{i:0{width}d}"
        body = {
            "schemas": [CORE_USER],
            "userName": f"{login}@example.com",
            "externalId": f"bench-{i}",
            "name": {"givenName": "User", "familyName": f"{i:0{width}d}"},
            "displayName": f"User {i}",
            "emails": [{"value": f"{login}@example.com", "type": "work", "primary": True}],
            "active": True,
        }
        return client.call("POST", "/Users", body, want=(201,))["id"]

    user_ids, users_s = timed_map(pool, create_user, range(args.users))

    def create_group(j):
        body = {"schemas": [CORE_GROUP], "displayName": f"group{j:04d}", "members": []}
        return client.call("POST", "/Groups", body, want=(201,))["id"]

    group_ids, groups_post_s = timed_map(pool, create_group, range(args.groups))

    # User i is in groups i, i+G/k, i+2G/k … (mod G) for k = --per-user: spread
    # evenly, so every group gets about N*k/G members.
    members = [[] for _ in range(args.groups)]
    per_user = min(args.per_user, args.groups)
    for i, uid in enumerate(user_ids):
        for k in range(per_user):
            members[(i + k * args.groups // per_user) % args.groups].append(uid)
    batches = [
        (group_ids[j], members[j][b : b + args.batch])
        for j in range(args.groups)
        for b in range(0, len(members[j]), args.batch)
    ]

    def add_members(batch):
        gid, uids = batch
        body = {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": u} for u in uids]}],
        }
        client.call("PATCH", f"/Groups/{gid}", body, want=(200, 204))

    _, membership_s = timed_map(pool, add_members, batches)
    adds = sum(len(m) for m in members)
    return {
        "user_ids": user_ids,
        "users_s": users_s,
        "groups_post_s": groups_post_s,
        "membership_s": membership_s,
        "membership_adds": adds,
        "membership_patches": len(batches),
    }


class Snapshot:
    """Reads the serial of a published snapshot.json, re-parsing only when the file changed."""

    def __init__(self, path):
        self.path = path
        self.key = None
        self.serial = None

    def read(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self.serial
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self.key:
            try:
                with open(self.path, "rb") as f:
                    serial = json.load(f).get("serial")
            except (ValueError, OSError):
                return self.serial  # caught mid-write: try again at the next poll
            self.key = key
            if isinstance(serial, int):
                self.serial = serial
        return self.serial

    def wait_above(self, floor, deadline):
        while time.perf_counter() < deadline:
            serial = self.read()
            if serial is not None and (floor is None or serial > floor):
                return serial
            time.sleep(0.005)
        return None

    def settle(self, quiet, limit):
        """Wait until the serial has not changed for `quiet` seconds (at most `limit`)."""
        end = time.perf_counter() + limit
        last, since = self.read(), time.perf_counter()
        while time.perf_counter() < end:
            time.sleep(0.05)
            now = self.read()
            if now != last:
                last, since = now, time.perf_counter()
            elif now is not None and time.perf_counter() - since >= quiet:
                return now
        return last


def latency_phase(client, args, user_ids, snapshot):
    baseline = snapshot.settle(args.settle, args.settle_limit)
    if baseline is None:
        raise Failure(f"{snapshot.path}: no snapshot with a serial appeared within {args.settle_limit} s")
    latencies, requests, timeouts = [], [], 0
    active = {}
    for k in range(args.patches):
        uid = user_ids[k % len(user_ids)]
        active[uid] = not active.get(uid, True)
        before = snapshot.read()
        body = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": active[uid]}}]}
        sent = time.perf_counter()
        client.call("PATCH", f"/Users/{uid}", body, want=(200, 204))
        arrived = time.perf_counter()
        requests.append(arrived - sent)
        if snapshot.wait_above(before, arrived + args.publish_timeout) is None:
            timeouts += 1
        else:
            latencies.append(time.perf_counter() - arrived)
    return {"baseline": baseline, "latencies": latencies, "requests": requests, "timeouts": timeouts}


def memory(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "Name"):
                fields[name] = value.strip()
    return fields


def quantile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ms(seconds):
    return f"{seconds * 1000:.1f}"


def report(args, imp, lat, mem):
    out = []
    out.append(f"## SCIM service: {args.users} users, {args.groups} groups\n")
    out.append(
        f"`bench/scim.py --users {args.users} --groups {args.groups} --per-user {args.per_user} "
        f"--batch {args.batch} --concurrency {args.concurrency} --patches {args.patches}`, "
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {platform.node()}, "
        f"{os.cpu_count()} cores.\n"
    )
    groups_s = imp["groups_post_s"] + imp["membership_s"]
    out.append("| import | count | seconds | per second |")
    out.append("|---|---:|---:|---:|")
    out.append(f"| users (POST /Users) | {args.users} | {imp['users_s']:.2f} | {args.users / imp['users_s']:.0f} |")
    out.append(
        f"| groups (POST /Groups + membership PATCHes) | {args.groups} | {groups_s:.2f} | {args.groups / groups_s:.1f} |"
    )
    out.append(
        f"| membership adds ({imp['membership_patches']} PATCHes of ≤ {args.batch}) | {imp['membership_adds']} "
        f"| {imp['membership_s']:.2f} | {imp['membership_adds'] / imp['membership_s']:.0f} |"
    )
    out.append("")
    if lat is not None:
        l, r = lat["latencies"], lat["requests"]
        out.append(
            f"Change to snapshot: {args.patches} PATCHes toggling `active`, one at a time; from the PATCH's "
            f"response to a higher serial in `{args.project}/snapshot.json` (polled every 5 ms; "
            f"serial {lat['baseline']} at the start)."
        )
        out.append("")
        out.append("| | p50 ms | p90 ms | p99 ms | max ms | n |")
        out.append("|---|---:|---:|---:|---:|---:|")
        out.append(
            f"| response → snapshot | {ms(quantile(l, .5))} | {ms(quantile(l, .9))} | {ms(quantile(l, .99))} "
            f"| {ms(max(l)) if l else 'nan'} | {len(l)} |"
        )
        out.append(
            f"| PATCH request itself | {ms(quantile(r, .5))} | {ms(quantile(r, .9))} | {ms(quantile(r, .99))} "
            f"| {ms(max(r))} | {len(r)} |"
        )
        if lat["timeouts"]:
            out.append(f"\n{lat['timeouts']} PATCHes saw no new serial within {args.publish_timeout} s (not in the percentiles).")
        out.append("")
    if mem:
        out.append(f"Memory of pid {args.pid} ({mem.get('Name', '?')}) after the run: VmRSS {mem.get('VmRSS')}, peak VmHWM {mem.get('VmHWM')}.")
        out.append("")
    return "\n".join(out)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="SCIM base URL on a loopback address")
    p.add_argument("--token", required=True)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--groups", type=int, default=50)
    p.add_argument("--per-user", type=int, default=2, help="groups each user joins (default 2)")
    p.add_argument("--batch", type=int, default=100, help="members per membership PATCH (default 100)")
    p.add_argument("--concurrency", type=int, default=8, help="threads for the import (default 8)")
    p.add_argument("--publish-dir", help="the service's publish directory; phase 2 needs it")
    p.add_argument("--project", help="the project's name: the snapshot is PUBLISH-DIR/PROJECT/snapshot.json")
    p.add_argument("--patches", type=int, default=200, help="phase 2 PATCHes (default 200)")
    p.add_argument("--publish-timeout", type=float, default=10.0, help="seconds to wait for each new serial")
    p.add_argument("--settle", type=float, default=2.0, help="quiet seconds that mean the import is published")
    p.add_argument("--settle-limit", type=float, default=120.0, help="at most this long to wait for that")
    p.add_argument("--pid", type=int, help="the service's pid, for phase 3")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request")
    args = p.parse_args(argv)
    if args.users < 1 or args.groups < 1 or args.patches < 0:
        p.error("--users and --groups must be at least 1")
    if (args.publish_dir is None) != (args.project is None):
        p.error("--publish-dir and --project go together")
    require_loopback(args.url)

    client = Client(args.url, args.token, args.timeout)
    try:
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            imp = import_phase(client, args, pool)
        lat = None
        if args.publish_dir and args.patches:
            snapshot = Snapshot(os.path.join(args.publish_dir, args.project, "snapshot.json"))
            lat = latency_phase(client, args, imp["user_ids"], snapshot)
        mem = memory(args.pid) if args.pid else None
    except (Failure, OSError, http.client.HTTPException) as exc:
        sys.exit(f"bench/scim.py: {exc}")
    print(report(args, imp, lat, mem))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
