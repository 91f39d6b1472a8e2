#!/usr/bin/env python3
"""Nonces across two enrolld nodes on one database (test_acme_nonces.sh).

  acme_nonce_scope.py nodes CAFILE DIRECTORY_URL PORT_B SCOPE
      Node B is reached on PORT_B with the Host of node A, as through a
      load balancer.  SCOPE "node": a nonce of A is refused by B with
      badNonce and a nonce of B's own, and stays good on A.  "shared": B
      takes a nonce of A, and A then refuses it as used.  Prints a fresh
      nonce of A for the restart check.
  acme_nonce_scope.py restart CAFILE DIRECTORY_URL NONCE SCOPE
      After A restarted: the nonce from before is refused ("node") or
      still good ("shared").

One "ok   - " or "FAIL - " line per check; exit status 1 when one failed.
"""

import sys
import urllib.parse

from acme_client import Account, Server

FAILED = []


def check(name, cond, resp):
    if cond:
        print("ok   - %s" % name)
    else:
        print("FAIL - %s: %r" % (name, resp))
        FAILED.append(name)


class Via(Server):
    """The server of directory_url, reached on another local port with
    directory_url's Host header."""

    def __init__(self, directory_url, cafile, port):
        self.port = port
        super().__init__(directory_url, cafile)

    def request(self, method, url, body=None, ctype=None, headers=None):
        u = urllib.parse.urlsplit(url)
        hdrs = dict(headers or {})
        hdrs["Host"] = u.netloc
        there = u._replace(netloc="127.0.0.1:%d" % self.port)
        return super().request(method, urllib.parse.urlunsplit(there),
                               body, ctype, hdrs)


def bad_nonce(r):
    return r.status == 400 and r.type == "badNonce" and \
        bool(r.header("Replay-Nonce"))


def nodes(cafile, url, port_b, scope):
    a = Server(url, cafile)
    b = Via(url, cafile, port_b)
    acct = Account(a)
    r = acct.new_account()
    check("%s: newAccount on node A" % scope, r.status == 201, r)
    r = acct.post(acct.kid)
    check("%s: POST-as-GET on A with A's nonce" % scope, r.status == 200, r)

    n = a.nonce()
    on_b = b.raw(acct.kid, key=acct.key, kid=acct.kid, nonce=n)
    if scope == "node":
        check("node: A's nonce on B -> badNonce with a nonce of B",
              bad_nonce(on_b), on_b)
        r = b.raw(acct.kid, key=acct.key, kid=acct.kid,
                  nonce=on_b.header("Replay-Nonce"))
        check("node: the retry on B with B's nonce -> 200", r.status == 200,
              r)
        r = a.raw(acct.kid, key=acct.key, kid=acct.kid, nonce=n)
        check("node: B's refusal did not use A's nonce: 200 on A",
              r.status == 200, r)
    else:
        check("shared: A's nonce on B -> 200", on_b.status == 200, on_b)
        r = a.raw(acct.kid, key=acct.key, kid=acct.kid, nonce=n)
        check("shared: the nonce B took, replayed on A -> badNonce",
              bad_nonce(r), r)
    r = a.raw(acct.kid, key=acct.key, kid=acct.kid, nonce=n)
    check("%s: replayed on A -> badNonce" % scope, bad_nonce(r), r)
    print("nonce: %s" % a.nonce())


def restart(cafile, url, nonce, scope):
    a = Server(url, cafile)
    acct = Account(a)
    acct.next_nonce = nonce
    r = acct.new_account()
    if scope == "node":
        check("node: a nonce from before the restart -> badNonce",
              bad_nonce(r), r)
    else:
        check("shared: a nonce from before the restart -> 201",
              r.status == 201, r)


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "nodes":
        nodes(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) == 6 and sys.argv[1] == "restart":
        restart(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        sys.exit(__doc__)
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
