#!/usr/bin/env python3
"""Run every scim2-tester check against a SCIM 2.0 server and say pass or fail.

Run it with the Python of the venv that scripts/install-deps.sh makes:

    /opt/roster-scim-tester/bin/python scripts/scim-conformance.py \
        --url http://127.0.0.1:8443/scim/v2 --token "$TOKEN"

scim2-tester has no command of its own, only `scim2_tester.check_server()`;
this script is that call plus a report. Each check prints one line,
`STATUS  resource  title: reason`. The exit status is 1 if any check ended in
ERROR or CRITICAL (the statuses scim2-tester gives a MUST violation), 2 if the
server could not be reached or described at all, 0 otherwise. SKIPPED checks
(a feature the ServiceProviderConfig says is unsupported, a tag filter, or a
POST /.search answered 501) and DEVIATION checks (a SHOULD not followed) are
listed apart and do not fail the run. `--json FILE` writes every result, for
a CI step that wants to keep them.
"""

import argparse
import json
import sys
import uuid

try:
    import httpx2
    from scim2_client.engines.httpx2 import SyncSCIMClient
    import scim2_tester.checkers.patch_add
    import scim2_tester.checkers.patch_replace
    import scim2_tester.filling
    from scim2_tester import Status, check_server
except ImportError as exc:  # the wrong python, or the venv is not installed
    sys.exit(
        f"scim-conformance: {exc}; run it with the venv's python "
        "(scripts/install-deps.sh makes /opt/roster-scim-tester)"
    )

FAILED = {Status.ERROR, Status.CRITICAL}


def use_posix_usernames():
    """Make scim2-tester send userNames that roster can turn into a login name.

    scim2-tester 0.5.2 fills every string attribute without canonical values,
    userName included, with str(uuid.uuid4()) (scim2_tester/filling.py,
    generate_random_value): 36 characters, and the first is a digit 10 times
    in 16. roster derives the POSIX login from userName (lower-cased local
    part, at most 32 characters, starting with a letter or '_') and refuses
    the rest with 400 invalidValue, so with the stock values every User check
    fails on the create. Here a userName becomes "t" + 24 hex digits +
    "@example.com" (a 25-character login), everywhere the tester makes one:
    POST, PUT (fill_with_random_values calls the module's function) and
    PATCH replace (patch_replace imported the function by name). The other
    attributes keep the tester's values.
    """
    stock = scim2_tester.filling.generate_random_value

    def generate(context, path, *args, **kwargs):
        value = stock(context, path, *args, **kwargs)
        if isinstance(value, str) and str(path).split(":")[-1] == "userName":
            return f"t{uuid.uuid4().hex[:24]}@example.com"
        return value

    scim2_tester.filling.generate_random_value = generate
    scim2_tester.checkers.patch_add.generate_random_value = generate
    scim2_tester.checkers.patch_replace.generate_random_value = generate


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="the SCIM base URL, e.g. http://127.0.0.1:8443/scim/v2")
    p.add_argument("--token", required=True, help="bearer token sent as 'Authorization: Bearer TOKEN'")
    p.add_argument("--resource-type", action="append", dest="resource_types",
                   help="test only this resource type (User, Group); repeatable")
    p.add_argument("--include-tag", action="append", dest="include_tags",
                   help="run only checks with this tag (discovery, crud, crud:create, patch:add, misc, ...)")
    p.add_argument("--exclude-tag", action="append", dest="exclude_tags",
                   help="skip checks with this tag. In scim2-tester 0.5.2 any exclusion also "
                        "skips the discovery fetches (tagged '*', which every filter matches), "
                        "so no resource check runs: use --include-tag instead")
    p.add_argument("--json", metavar="FILE", help="also write every result to FILE as JSON")
    p.add_argument("--insecure", action="store_true", help="do not verify the server's TLS certificate")
    p.add_argument("--stock-usernames", action="store_true",
                   help="send scim2-tester's own userNames (UUIDs, which roster refuses) "
                        "instead of login-shaped ones")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    return p.parse_args(argv)


def one_line(text, limit=400):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(argv):
    args = parse_args(argv)
    base = args.url.rstrip("/")
    if not args.stock_usernames:
        use_posix_usernames()
    http = httpx2.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {args.token}"},
        verify=not args.insecure,
        timeout=args.timeout,
    )
    client = SyncSCIMClient(http)
    try:
        results = check_server(
            client,
            include_tags=set(args.include_tags) if args.include_tags else None,
            exclude_tags=set(args.exclude_tags) if args.exclude_tags else None,
            resource_types=args.resource_types,
        )
    finally:
        http.close()

    failed, skipped, deviations, passed = [], [], [], []
    for r in results:
        bucket = (
            failed if r.status in FAILED
            else skipped if r.status == Status.SKIPPED
            else deviations if r.status == Status.DEVIATION
            else passed
        )
        bucket.append(r)
        where = r.resource_type or "-"
        line = f"{r.status.name:<10} {where:<6} {r.title}"
        # Titles repeat (one PATCH check per attribute): the reason tells them apart.
        if r.reason:
            line += f": {one_line(r.reason)}"
        print(line)

    if skipped:
        print("\nskipped:")
        for r in skipped:
            print(f"  {r.resource_type or '-'} {r.title}: {one_line(r.reason or '')}")
    if deviations:
        print("\ndeviations (SHOULD not followed; not a failure):")
        for r in deviations:
            print(f"  {r.resource_type or '-'} {r.title}: {one_line(r.reason or '')}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                [
                    {
                        "title": r.title,
                        "status": r.status.name,
                        "resource_type": r.resource_type,
                        "tags": sorted(r.tags),
                        "reason": r.reason,
                    }
                    for r in results
                ],
                f,
                indent=1,
            )

    # check_server stops after discovery when the server cannot be described;
    # then no resource check ran, which is a failure even if no check said ERROR.
    ran_resources = any(r.resource_type for r in results)
    wanted_resources = not args.include_tags or not set(args.include_tags) <= {
        "discovery", "service-provider-config", "resource-types", "schemas", "misc"
    }
    # The closing line has the plain "N passed, N failed, N skipped" form.
    print(f"\nscim-conformance: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
    if deviations:
        print(f"scim-conformance: {len(deviations)} deviations")
    if failed:
        return 1
    if wanted_resources and not ran_resources:
        print("scim-conformance: no resource check ran: the server's "
              "/ServiceProviderConfig, /ResourceTypes or /Schemas could not be used"
              + (" (or --exclude-tag skipped fetching them)" if args.exclude_tags else ""), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
