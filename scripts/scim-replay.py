#!/usr/bin/env python3
"""Replay an identity provider's recorded SCIM conversation against a server.

    python3 scripts/scim-replay.py --url http://127.0.0.1:8443/scim/v2 \
        --token "$TOKEN" tests/fixtures/scim/okta.json [more.json ...]

The replay format is described in tests/fixtures/scim/README.md. Standard
library only. Each step prints `ok`, or `FAIL` with what differed; the exit
status is 1 if any step failed. A replay expects a server holding none of the
users and groups it creates (a fresh state directory): its creates would
otherwise answer 409.
"""

import argparse
import http.client
import json
import re
import sys
import urllib.parse

PLACEHOLDER = re.compile(r"\{\{([A-Za-z0-9_.-]+)\}\}")


def lookup(captures, dotted):
    name, *rest = dotted.split(".")
    if name not in captures:
        raise KeyError(f"{{{{{dotted}}}}}: nothing captured as {name!r} yet")
    value = captures[name]
    for part in rest:
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(f"{{{{{dotted}}}}}: {part!r} is not in the captured {name!r}")
    return value


def substitute(value, captures):
    """Replace {{name.path}} everywhere; a string that is only a placeholder takes the value's type."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole:
            return lookup(captures, whole.group(1))
        return PLACEHOLDER.sub(lambda m: str(lookup(captures, m.group(1))), value)
    if isinstance(value, list):
        return [substitute(v, captures) for v in value]
    if isinstance(value, dict):
        return {substitute(k, captures): substitute(v, captures) for k, v in value.items()}
    return value


def matches(expected, actual):
    """Whether `actual` holds `expected`: objects by their keys (names compared without
    case, as RFC 7643 §2.1 says attribute names are), arrays when each expected element
    matches some actual element, anything else by equality."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        folded = {k.lower(): v for k, v in actual.items()}
        return all(k.lower() in folded and matches(v, folded[k.lower()]) for k, v in expected.items())
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        return all(any(matches(e, a) for a in actual) for e in expected)
    return expected == actual


def has_key(body, name):
    """Whether the response has the top-level attribute `name` (compared without case)
    with a value; null, [] and {} count as absent. A name with a dot is taken
    literally: Entra's dotted PATCH keys must not become attributes of that name."""
    folded = {k.lower(): v for k, v in body.items()}
    return folded.get(name.lower()) not in (None, [], {})


class Connection:
    def __init__(self, url, token, timeout):
        parts = urllib.parse.urlsplit(url)
        self.prefix = parts.path.rstrip("/")
        self.token = token
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self.conn = cls(parts.netloc, timeout=timeout)

    def send(self, method, path, body, headers):
        # The fixtures write queries readably (filter=userName eq "x"); the wire
        # carries them percent-encoded, as Okta's and Entra's requests do.
        target = self.prefix + urllib.parse.quote(path, safe="/?&=")
        all_headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/scim+json",
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/scim+json"
        all_headers.update(headers or {})
        self.conn.request(method, target, body=data, headers=all_headers)
        response = self.conn.getresponse()
        raw = response.read()
        parsed = None
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
        return response.status, parsed


def run_step(conn, step, captures):
    path = substitute(step["path"], captures)
    body = substitute(step.get("body"), captures)
    status, got = conn.send(step["method"], path, body, step.get("headers"))
    problems = []
    wanted = step["status"] if isinstance(step["status"], list) else [step["status"]]
    if status not in wanted:
        problems.append(f"status {status}, wanted {' or '.join(map(str, wanted))}")
    if "expect" in step and status != 204:
        expected = substitute(step["expect"], captures)
        if not matches(expected, got):
            problems.append(f"body does not hold {json.dumps(expected)}")
    if "expect_not" in step and isinstance(got, dict):
        refused = substitute(step["expect_not"], captures)
        if matches(refused, got):
            problems.append(f"body holds {json.dumps(refused)}, which it must not")
    for key in step.get("expect_absent", []):
        if isinstance(got, dict) and has_key(got, key):
            problems.append(f"body has {key!r}, which it must not")
    # Captured on the right status even if the body check failed, so that one
    # wrong attribute does not turn every later step into a failure.
    if "capture" in step and status in wanted and isinstance(got, dict):
        captures[step["capture"]] = got
    return f"{step['method']} {path}", status, got, problems


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="SCIM base URL; step paths are appended to it")
    p.add_argument("--token", required=True, help="bearer token")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--verbose", action="store_true", help="print every response body")
    p.add_argument("replays", nargs="+", metavar="REPLAY.json")
    args = p.parse_args(argv)

    passed = failed = 0
    for file in args.replays:
        with open(file) as f:
            steps = json.load(f)
        conn = Connection(args.url, args.token, args.timeout)
        captures = {}
        print(f"# {file}")
        for number, step in enumerate(steps, 1):
            try:
                request, status, got, problems = run_step(conn, step, captures)
            except (KeyError, OSError, http.client.HTTPException) as exc:
                request, status, got, problems = f"{step['method']} {step['path']}", None, None, [str(exc)]
                conn = Connection(args.url, args.token, args.timeout)
            if problems:
                failed += 1
                print(f"FAIL {number:>2} {request} -> {status}: {step.get('comment', '')}")
                for problem in problems:
                    print(f"        {problem}")
                print(f"        response: {json.dumps(got)[:600]}")
            else:
                passed += 1
                print(f"ok   {number:>2} {request} -> {status}")
                if args.verbose:
                    print(f"        response: {json.dumps(got)[:600]}")
    print(f"scim-replay: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
