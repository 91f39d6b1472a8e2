#!/usr/bin/env python3
"""Broken and edge-case ACME requests against a running enrolld.

usage: acme_bad_cases.py CAFILE DIRECTORY_URL HTTP01_PORT DATABASE

Names under example.com are allowed; example.org is not (the instance is
made with --allow-domain example.com and wildcards allowed).  Each row of
CASES is (name, HTTP status, problem type or None, function[, check]):
the function does whatever setup it needs and returns the answer to
judge; check(ctx, resp) may return a complaint.  For every row the
answer must have exactly that status; a problem must be
application/problem+json with that type and a Replay-Nonce; and the
next good request, signed with that nonce, must work.  Prints one
"ok   - " or "FAIL - " line per row (test_acme_bad.sh counts them).
"""

import datetime
import hashlib
import hmac
import json
import sqlite3
import sys
import threading
import traceback

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from acme_client import (JOSE, Account, Http01, Server, b64u, cert_id,
                         csr_der, jwk, jws, new_key)

# The per-account limits test_acme_bad.sh writes into the config
# (.acme.failed_validations_per_hour, .acme.orders_per_hour).  Only the
# rate-limit rows' own accounts may reach them.
FAILED_VALIDATIONS_PER_HOUR = 3
ORDERS_PER_HOUR = 40


class Ctx:
    """What the rows share: the server, the http-01 responder, account A
    (ES256) with one issued certificate, and account B."""

    def __init__(self, cafile, directory, port, database):
        self.database = database  # read only, for what HTTP cannot show
        self.srv = Server(directory, cafile)
        self.base = directory.rsplit("/", 1)[0]
        self.http = Http01(port)
        self.a = Account(self.srv)
        self.b = Account(self.srv)
        for acct in (self.a, self.b):
            r = acct.new_account()
            if r.status != 201:
                raise RuntimeError("setup newAccount: %r" % r)
        self.order, self.pem, self.cert_key = self.a.issue(
            ["issued.example.com"], self.http)
        self.cert = x509.load_pem_x509_certificate(self.pem.encode())
        self.n = 0

    def name(self, tag):
        """A fresh DNS name, so no authorization is shared by accident."""
        self.n += 1
        return "%s%d.example.com" % (tag, self.n)

    def ready_order(self, acct, names):
        """A ready order of acct for names (http-01 answered)."""
        o = acct.new_order(names)
        if o.status != 201:
            raise RuntimeError("newOrder: %r" % o)
        for a in o.body["authorizations"]:
            acct.answer_http01(a, self.http)
        o2 = acct.poll(o.header("Location"), done=("ready", "invalid"))
        if o2.body.get("status") != "ready":
            raise RuntimeError("order not ready: %r" % o2)
        return o

    def cert_b64(self):
        return b64u(self.cert.public_bytes(serialization.Encoding.DER))

    def b_cert(self):
        """A certificate of account B (issued on first use), for the rows
        that revoke with the certificate's key and name it in replaces:
        (PEM, certificate key, base64url DER)."""
        if not hasattr(self, "pem_b"):
            _, self.pem_b, self.key_b = self.b.issue([self.name("bc")],
                                                     self.http)
        cert = x509.load_pem_x509_certificate(self.pem_b.encode())
        return (self.pem_b, self.key_b,
                b64u(cert.public_bytes(serialization.Encoding.DER)))


# ------------------------------------------------------------- the rows

def replayed_nonce(c):
    n = c.srv.nonce()
    first = c.srv.raw(c.a.kid, key=c.a.key, kid=c.a.kid, nonce=n)
    if first.status != 200:
        raise RuntimeError("first use of the nonce: %r" % first)
    return c.srv.raw(c.a.kid, key=c.a.key, kid=c.a.kid, nonce=n)


def unknown_nonce(c):
    return c.srv.raw(c.a.kid, key=c.a.key, kid=c.a.kid,
                     nonce=b64u(b"no such nonce 123"))


def wrong_url(c):
    return c.srv.raw(c.srv.dir["newOrder"], key=c.a.key, kid=c.a.kid,
                     payload={"identifiers": [
                         {"type": "dns", "value": c.name("u")}]},
                     extra={"url": c.a.kid})


def unknown_kid(c):
    return c.srv.raw(c.srv.dir["newOrder"], key=c.a.key,
                     kid=c.base + "/acct/AAAAAAAAAAAAAAAAAAAAAA",
                     payload={"identifiers": [
                         {"type": "dns", "value": c.name("k")}]})


def jwk_and_kid(c):
    return c.srv.raw(c.a.kid, key=c.a.key, kid=c.a.kid,
                     extra={"jwk": jwk(c.a.key)})


def neither_jwk_nor_kid(c):
    return c.srv.raw(c.srv.dir["newAccount"], key=c.a.key,
                     payload={"termsOfServiceAgreed": True}, drop=("jwk",))


def alg_none(c):
    return c.srv.raw(c.srv.dir["newAccount"], key=new_key(), alg="none",
                     payload={"termsOfServiceAgreed": True}, signature=b"")


def alg_hs256(c):
    # What a MAC "signature" would be; RFC 8555 §6.2 forbids MACs.
    mac = hmac.new(b"k" * 32, b"data", hashlib.sha256).digest()
    return c.srv.raw(c.srv.dir["newAccount"], key=new_key(), alg="HS256",
                     payload={"termsOfServiceAgreed": True}, signature=mac)


def rs256_with_ec(c):
    return c.srv.raw(c.srv.dir["newAccount"], key=new_key(), alg="RS256",
                     payload={"termsOfServiceAgreed": True})


def tampered_payload(c):
    key = new_key()
    prot = {"alg": "ES256", "nonce": c.srv.nonce(),
            "url": c.srv.dir["newAccount"], "jwk": jwk(key)}
    obj = jws(key, prot, {"termsOfServiceAgreed": True})
    obj["payload"] = b64u(json.dumps({"termsOfServiceAgreed": False}))
    return c.srv.request("POST", c.srv.dir["newAccount"],
                         body=json.dumps(obj).encode(), ctype=JOSE)


def detail_has(text):
    def check(c, r):
        d = (r.body or {}).get("detail", "")
        return None if text in d else "detail %r lacks %r" % (d, text)
    return check


def wrong_content_type(c):
    return c.srv.raw(c.a.kid, key=c.a.key, kid=c.a.kid,
                     ctype="application/json")


def oversized(c):
    # max_body_bytes is 1 MiB in the generated config.
    return c.srv.request("POST", c.srv.dir["newOrder"],
                         body=b"{" + b" " * (1100 * 1024) + b"}", ctype=JOSE)


def only_return_existing(c):
    return Account(c.srv).new_account({"onlyReturnExisting": True})


def new_account_with_kid(c):
    return c.srv.raw(c.srv.dir["newAccount"], key=c.a.key, kid=c.a.kid,
                     payload={"termsOfServiceAgreed": True})


def new_order_with_jwk(c):
    return c.srv.raw(c.srv.dir["newOrder"], key=c.a.key,
                     payload={"identifiers": [
                         {"type": "dns", "value": c.name("j")}]})


def csr_extra_domain(c):
    n = c.name("x")
    o = c.ready_order(c.a, [n])
    return c.a.post(o.body["finalize"], {
        "csr": b64u(csr_der(new_key(), [n, c.name("extra")]))})


def finalize_not_ready(c):
    n = c.name("nr")
    o = c.a.new_order([n])
    return c.a.post(o.body["finalize"],
                    {"csr": b64u(csr_der(new_key(), [n]))})


def account_key_as_cert_key(c):
    n = c.name("ak")
    o = c.ready_order(c.a, [n])
    return c.a.post(o.body["finalize"],
                    {"csr": b64u(csr_der(c.a.key, [n]))})


def outside_allowed(c):
    return c.a.new_order(["evil.example.org"])


def subproblem_names(value):
    def check(c, r):
        subs = (r.body or {}).get("subproblems")
        if not isinstance(subs, list) or not subs:
            return "no subproblems array"
        for s in subs:
            if (s.get("identifier") or {}).get("value") == value:
                return None
        return "no subproblem names %s: %s" % (value, subs)
    return check


def email_identifier(c):
    return c.a.new_order(["someone@example.com"], types="email")


def wildcard_http01(c):
    o = c.a.new_order(["*." + c.name("w")])
    if o.status != 201:
        raise RuntimeError("wildcard newOrder: %r" % o)
    authz = o.body["authorizations"][0]
    a = c.a.post(authz)
    types = sorted(ch["type"] for ch in a.body["challenges"])
    if types != ["dns-01"]:
        raise RuntimeError("wildcard authz offers %s" % types)
    return c.a.post(authz.replace("/authz/", "/chall/") + "/http-01", {})


def contact(value):
    return lambda c: Account(c.srv).new_account(
        {"termsOfServiceAgreed": True, "contact": [value]})


def revoke(acct_name, reason=None):
    def run(c):
        p = {"certificate": c.cert_b64()}
        if reason is not None:
            p["reason"] = reason
        return getattr(c, acct_name).post(c.srv.dir["revokeCert"], p)
    return run


def rsa1024_jwk(c):
    return Account(c.srv, kind="rsa1024").new_account()


def wrong_key_authorization(c):
    o = c.a.new_order([c.name("wk")])
    return c.a.answer_http01(o.body["authorizations"][0], c.http,
                             value="wrong.key-authorization")


def authz_invalid_unauthorized(c, r):
    if r.body.get("status") != "invalid":
        return "authz status %s" % r.body.get("status")
    ch = [x for x in r.body["challenges"] if x["type"] == "http-01"][0]
    err = (ch.get("error") or {}).get("type", "")
    if ch.get("status") != "invalid" or \
            err != "urn:ietf:params:acme:error:unauthorized":
        return "challenge %s error %r" % (ch.get("status"), err)
    return None


def deactivated_account(c):
    d = Account(c.srv)
    d.new_account()
    r = d.post(d.kid, {"status": "deactivated"})
    if r.status != 200 or r.body.get("status") != "deactivated":
        raise RuntimeError("deactivate: %r" % r)
    return d.new_order([c.name("d")])


def key_change_holder(c):
    if not hasattr(c, "kc"):
        c.kc = Account(c.srv)
        c.kc.new_account()
        c.kc_old = c.kc.key
    return c.kc


def key_change(c):
    acct = key_change_holder(c)
    # Same algorithm as the old key, so the old key's signature fails
    # verification rather than the algorithm check.
    new = new_key("p256")
    url = c.srv.dir["keyChange"]
    inner = jws(new, {"alg": "ES256", "jwk": jwk(new), "url": url},
                {"account": acct.kid, "oldKey": jwk(acct.key)})
    r = acct.post(url, inner)
    if r.status == 200:
        acct.key = new
    return r


def key_change_old_key(c):
    acct = key_change_holder(c)
    return c.srv.raw(acct.kid, key=c.kc_old, kid=acct.kid)


def key_change_new_key(c):
    acct = key_change_holder(c)
    return acct.post(acct.kid)


def renewal_info(c):
    return c.srv.request("GET", c.srv.dir["renewalInfo"] + "/" +
                         cert_id(c.pem))


def window_ok(c, r):
    w = (r.body or {}).get("suggestedWindow") or {}
    if not w.get("start") or not w.get("end") or not w["start"] < w["end"]:
        return "suggestedWindow %r" % w
    return None


def renewal_info_garbage(c):
    return c.srv.request("GET", c.srv.dir["renewalInfo"] + "/garbage!")


def orders_list(c):
    acct = c.a.post(c.a.kid)
    return c.a.post(acct.body["orders"])


def lists_order(c, r):
    want = c.order.location
    got = (r.body or {}).get("orders") or []
    return None if want in got else "%s not in %s" % (want, got)


def account_with(kind):
    return lambda c: Account(c.srv, kind=kind).new_account()


def eddsa_order(c):
    acct = Account(c.srv, kind="ed25519")
    acct.new_account()
    return acct.new_order([c.name("ed")])


def revoke_with_key(which):
    """revokeCert of B's certificate signed with a jwk (no account):
    the certificate's own key, or an unrelated one."""
    def run(c):
        _, key, der = c.b_cert()
        if which != "cert":
            key = new_key()
        return c.srv.raw(c.srv.dir["revokeCert"], key=key,
                         payload={"certificate": der})
    return run


def replaces(acct_name, what):
    """newOrder with "replaces": B's certificate or garbage."""
    def run(c):
        rid = cert_id(c.b_cert()[0]) if what == "b" else "garbage!.x"
        c.replaces_id = rid
        return getattr(c, acct_name).new_order([c.name("rp")],
                                               extra={"replaces": rid})
    return run


def echoes_replaces(c, r):
    got = (r.body or {}).get("replaces")
    return None if got == c.replaces_id else \
        "replaces %r, want %r" % (got, c.replaces_id)


def renewal_info_revoked(c):
    return c.srv.request("GET", c.srv.dir["renewalInfo"] + "/" +
                         cert_id(c.b_cert()[0]))


def renew_now(c, r):
    """RFC 9773 §4.2: a revoked certificate's window ends about now."""
    why = window_ok(c, r)
    if why:
        return why
    end = datetime.datetime.strptime(
        r.body["suggestedWindow"]["end"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    if end > now + datetime.timedelta(seconds=5):
        return "suggestedWindow.end %s is after now (%s)" % (end, now)
    return None


def deactivate_authz(c):
    o = c.a.new_order([c.name("da")])
    if o.status != 201:
        raise RuntimeError("newOrder: %r" % o)
    c.deact_order = o.header("Location")
    return c.a.post(o.body["authorizations"][0], {"status": "deactivated"})


def order_of_deactivated_authz(c):
    return c.a.post(c.deact_order)


def status_is(want):
    def check(c, r):
        got = (r.body or {}).get("status")
        return None if got == want else "status %r, want %r" % (got, want)
    return check


def profile_order(name):
    return lambda c: c.a.new_order([c.name("pf")],
                                   extra={"profile": name})


def profile_is(want):
    def check(c, r):
        got = (r.body or {}).get("profile")
        return None if got == want else "profile %r, want %r" % (got, want)
    return check


def retry_after(c, r):
    v = r.header("Retry-After") or ""
    return None if v.isdigit() and int(v) > 0 else \
        "Retry-After %r" % v


def failed_validations_over_limit(c):
    # Its own account: account A has failed validations of its own.
    acct = Account(c.srv)
    acct.new_account()
    for i in range(FAILED_VALIDATIONS_PER_HOUR):
        o = acct.new_order([c.name("fv")])
        if o.status != 201:
            raise RuntimeError("newOrder %d: %r" % (i, o))
        a = acct.answer_http01(o.body["authorizations"][0], c.http,
                               value="wrong.key-authorization")
        if a.body.get("status") != "invalid":
            raise RuntimeError("validation %d did not fail: %r" % (i, a))
    o = acct.new_order([c.name("fv")])
    if o.status != 201:
        raise RuntimeError("last newOrder: %r" % o)
    a = acct.post(o.body["authorizations"][0])
    ch = [x for x in a.body["challenges"] if x["type"] == "http-01"][0]
    return acct.post(ch["url"], {})


def orders_over_limit(c):
    # The busiest shared account must stay well under the limit, or the
    # rows that order with it would meet the 429 instead.
    n = len(c.a.post(c.a.post(c.a.kid).body["orders"]).body["orders"])
    if n >= ORDERS_PER_HOUR // 2:
        raise RuntimeError("account A has %d orders; raise "
                           "ORDERS_PER_HOUR and the config" % n)
    acct = Account(c.srv)
    acct.new_account()
    for i in range(ORDERS_PER_HOUR):
        o = acct.new_order([c.name("op")])
        if o.status != 201:
            raise RuntimeError("order %d of %d: %r"
                               % (i + 1, ORDERS_PER_HOUR, o))
    return acct.new_order([c.name("op")])


def others_order(c):
    return c.b.post(c.order.location)


def unknown_cert(c):
    return c.a.post(c.base + "/cert/0123456789ABCDEF")


def finalize_race(c):
    """Two finalizes of one ready order, signed first, sent at once.  One
    wins; the other finds the order no longer ready, or (both having read
    it ready) loses the commit, and then its certificate is not stored:
    the order and the certificate are written together."""
    n = c.name("race")
    o = c.ready_order(c.a, [n])
    url = o.body["finalize"]
    bodies = []
    for _ in range(2):
        p = {"alg": "ES256", "nonce": c.srv.nonce(), "url": url,
             "kid": c.a.kid}
        bodies.append(json.dumps(jws(c.a.key, p, {
            "csr": b64u(csr_der(new_key(), [n]))})).encode())
    out = [None, None]

    def send(i):
        out[i] = c.srv.request("POST", url, body=bodies[i], ctype=JOSE)
    threads = [threading.Thread(target=send, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in out if r.status == 200]
    lost = [r for r in out if r.status != 200]
    if len(won) != 1:
        raise RuntimeError("want one 200, got %r" % out)
    c.race = (n, lost[0])
    return won[0]


def race_one_certificate(c, r):
    n, lost = c.race
    if (lost.status, lost.type) not in ((403, "orderNotReady"),
                                        (400, "badNonce")):
        return "the losing finalize got %r" % lost
    if r.body.get("status") != "valid":
        return "the winner's order is %r" % r.body
    db = sqlite3.connect("file:%s?mode=ro" % c.database, uri=True)
    try:
        stored = db.execute("SELECT COUNT(*) FROM certificates WHERE "
                            "sans = ?", ("DNS:" + n,)).fetchone()[0]
    finally:
        db.close()
    if stored != 1:
        return "%d certificates stored for %s, want 1" % (stored, n)
    return None


def get_new_order(c):
    return c.srv.request("GET", c.srv.dir["newOrder"])


def no_tos_agreed(c):
    return Account(c.srv).new_account({})


CASES = [
    # Refused before any work, not only when the commit conflicts.
    ("replayed nonce", 400, "badNonce", replayed_nonce,
     detail_has("already used nonce")),
    ("unknown nonce", 400, "badNonce", unknown_nonce),
    ("JWS url is not the request URL", 401, "unauthorized", wrong_url),
    ("unknown kid", 400, "accountDoesNotExist", unknown_kid),
    ("both jwk and kid", 400, "malformed", jwk_and_kid),
    ("neither jwk nor kid", 400, "malformed", neither_jwk_nor_kid),
    ("alg none", 400, "badSignatureAlgorithm", alg_none),
    ("HS256 outer JWS", 400, "badSignatureAlgorithm", alg_hs256),
    ("alg RS256 with an EC key", 400, "badSignatureAlgorithm",
     rs256_with_ec),
    ("tampered payload", 400, "malformed", tampered_payload,
     detail_has("JWS verification error")),
    ("Content-Type application/json", 415, "malformed",
     wrong_content_type),
    ("body over max_body_bytes", 413, None, oversized),
    ("onlyReturnExisting for a new key", 400, "accountDoesNotExist",
     only_return_existing),
    ("newAccount signed with a kid", 400, "malformed",
     new_account_with_kid),
    ("newOrder signed with a jwk", 400, "malformed", new_order_with_jwk),
    ("CSR names an extra domain", 400, "badCSR", csr_extra_domain),
    ("finalize before the order is ready", 403, "orderNotReady",
     finalize_not_ready),
    ("two finalizes at once store one certificate", 200, None,
     finalize_race, race_one_certificate),
    ("account key as certificate key", 400, "badCSR",
     account_key_as_cert_key),
    ("name outside allow_suffixes", 400, "rejectedIdentifier",
     outside_allowed, subproblem_names("evil.example.org")),
    ("identifier type email", 400, "unsupportedIdentifier",
     email_identifier),
    ("wildcard answered by http-01", 404, "malformed", wildcard_http01),
    ("contact tel:123", 400, "unsupportedContact", contact("tel:123")),
    ("contact mailto: (empty)", 400, "invalidContact", contact("mailto:")),
    ("revoke with reason 7", 400, "badRevocationReason",
     revoke("a", reason=7)),
    ("revoke by another account", 403, "unauthorized", revoke("b")),
    ("revoke by the issuing account", 200, None, revoke("a", reason=4)),
    ("revoke twice", 400, "alreadyRevoked", revoke("a")),
    ("RSA-1024 JWK", 400, "badPublicKey", rsa1024_jwk),
    ("http-01 with the wrong key authorization", 200, None,
     wrong_key_authorization, authz_invalid_unauthorized),
    ("deactivated account signs newOrder", 401, "unauthorized",
     deactivated_account),
    ("key-change to a new key", 200, None, key_change),
    ("key-change: the old key is refused", 400, "malformed",
     key_change_old_key),
    ("key-change: the new key works", 200, None, key_change_new_key),
    ("renewalInfo of an issued certificate", 200, None, renewal_info,
     window_ok),
    ("renewalInfo of garbage", 400, "malformed", renewal_info_garbage),
    ("orders list holds the account's order", 200, None, orders_list,
     lists_order),
    ("newAccount with an RS256 key", 201, None, account_with("rsa2048")),
    ("newAccount + newOrder with an EdDSA key", 201, None, eddsa_order),
    ("revokeCert signed with an unrelated jwk", 403, "unauthorized",
     revoke_with_key("other")),
    ("newOrder replaces a certificate of the account", 201, None,
     replaces("b", "b"), echoes_replaces),
    ("newOrder replaces another account's certificate", 400, "malformed",
     replaces("a", "b")),
    ("newOrder replaces garbage", 400, "malformed", replaces("a", "junk")),
    ("revokeCert signed with the certificate's key", 200, None,
     revoke_with_key("cert")),
    ("revoke twice with the certificate's key", 400, "alreadyRevoked",
     revoke_with_key("cert")),
    ("renewalInfo of a revoked certificate", 200, None,
     renewal_info_revoked, renew_now),
    ("authorization deactivated by the client", 200, None,
     deactivate_authz, status_is("deactivated")),
    ("order with a deactivated authorization", 200, None,
     order_of_deactivated_authz, status_is("invalid")),
    ("newOrder with an unknown profile", 400, "malformed",
     profile_order("nope")),
    ("newOrder with profile default", 201, None, profile_order("default"),
     profile_is("default")),
    ("challenge after too many failed validations", 429, "rateLimited",
     failed_validations_over_limit, retry_after),
    ("newOrder over orders_per_hour", 429, "rateLimited",
     orders_over_limit, retry_after),
    ("POST-as-GET of another account's order", 404, "malformed",
     others_order),
    ("certificate URL with an unknown serial", 404, "malformed",
     unknown_cert),
    ("GET on newOrder", 405, "malformed", get_new_order),
    ("newAccount without termsOfServiceAgreed, no terms configured", 201,
     None, no_tos_agreed),
]

# Plain GETs (no JWS): a 2xx answer need not carry a Replay-Nonce.
PLAIN_GETS = (renewal_info, renewal_info_garbage, renewal_info_revoked,
              get_new_order)


def judge(c, row):
    """One row: None when it passes, else the complaint."""
    name, status, ptype, func = row[:4]
    check = row[4] if len(row) > 4 else None
    try:
        r = func(c)
    except Exception as e:
        return "setup failed: %s" % e, None
    # RFC 8555 §6.5: a nonce on every answer to a POST and on every
    # problem; renewalInfo is a plain GET.
    is_get = func in PLAIN_GETS
    if r.status != status:
        return "want %d, got %r" % (status, r), r
    if ptype is not None:
        if r.ctype != "application/problem+json":
            return "content type %r, not problem+json" % r.ctype, r
        if r.type != ptype:
            return "want type %s, got %r" % (ptype, r), r
    if status != 413 and (ptype is not None or not is_get) and \
            not r.header("Replay-Nonce"):
        return "no Replay-Nonce in %r" % r, r
    if check is not None:
        why = check(c, r)
        if why:
            return why, r
    # The next good request, with the nonce the answer gave when there
    # is one, must work.
    after = c.srv.raw(c.a.kid, key=c.a.key, kid=c.a.kid,
                      nonce=r.header("Replay-Nonce") or c.srv.nonce())
    for acct in (c.b, getattr(c, "kc", None)):
        if acct is not None:
            acct.next_nonce = None
    c.a.next_nonce = after.header("Replay-Nonce")
    if after.status != 200:
        return "next good request got %r" % after, r
    return None, r


def main(argv):
    if len(argv) != 5:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        c = Ctx(argv[1], argv[2], int(argv[3]), argv[4])
    except Exception:
        print("FAIL - setup (accounts, first certificate):")
        traceback.print_exc(file=sys.stdout)
        return 1
    failed = 0
    try:
        for row in CASES:
            why, r = judge(c, row)
            want = "%d %s" % (row[1], row[2] or "")
            if why is None:
                print("ok   - %s -> %s" % (row[0], want.strip()))
            else:
                failed += 1
                print("FAIL - %s: %s" % (row[0], why))
    finally:
        c.http.close()
    print("%d rows, %d failed" % (len(CASES), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
