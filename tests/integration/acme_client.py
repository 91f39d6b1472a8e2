#!/usr/bin/env python3
"""A minimal ACME (RFC 8555) client for the integration tests.

Standard library plus `cryptography`.  Two layers:

  * raw(): one POST whose every part a test may choose (protected header,
    payload, signature, Content-Type, even the whole body); it returns a
    Resp (status, content type, JSON body or None, headers) and never
    raises on an HTTP error, so a test can assert a problem document.
  * Account: the good path -- nonce, JWS (ES256 as raw r||s, RS256,
    EdDSA), newAccount, newOrder, authorizations, http-01 answered from a
    small http.server thread, polling, finalize with a CSR, download.

Used as a module by acme_bad_cases.py; run directly it issues one
certificate:  acme_client.py CAFILE DIRECTORY_URL HTTP01_PORT NAME...
"""

import base64
import hashlib
import http.client
import http.server
import json
import ssl
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature
from cryptography.x509.oid import NameOID

JOSE = "application/jose+json"


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(n, size=None):
    size = size or max(1, (n.bit_length() + 7) // 8)
    return n.to_bytes(size, "big")


# ----------------------------------------------------------------- keys

def new_key(kind="p256"):
    """p256, ed25519, rsa2048, rsa1024, ..."""
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind.startswith("rsa"):
        return rsa.generate_private_key(65537, int(kind[3:]))
    raise ValueError(kind)


def default_alg(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    return "RS256"


def jwk(key):
    """The public JWK of a private key, members in thumbprint order."""
    pub = key.public_key()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        n = pub.public_numbers()
        return {"crv": "P-256", "kty": "EC", "x": b64u(int_bytes(n.x, 32)),
                "y": b64u(int_bytes(n.y, 32))}
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = pub.public_bytes(serialization.Encoding.Raw,
                               serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64u(raw)}
    n = pub.public_numbers()
    return {"e": b64u(int_bytes(n.e)), "kty": "RSA", "n": b64u(int_bytes(n.n))}


def thumbprint(key):
    """RFC 7638 thumbprint, base64url."""
    text = json.dumps(jwk(key), sort_keys=True, separators=(",", ":"))
    return b64u(hashlib.sha256(text.encode()).digest())


def sign(key, alg, data):
    """The JWS signature of data with key under alg (RFC 7518)."""
    if alg == "ES256":
        der = key.sign(data, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return int_bytes(r, 32) + int_bytes(s, 32)
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "EdDSA":
        return key.sign(data)
    raise ValueError("cannot sign with " + alg)


def jws(key, protected, payload, alg=None, signature=None):
    """A flattened JWS object.  payload None means POST-as-GET (""),
    bytes are taken as they are, anything else is JSON-encoded."""
    if payload is None:
        p64 = ""
    elif isinstance(payload, bytes):
        p64 = b64u(payload)
    else:
        p64 = b64u(json.dumps(payload))
    h64 = b64u(json.dumps(protected))
    if signature is None:
        signature = sign(key, alg or protected["alg"],
                         (h64 + "." + p64).encode())
    return {"protected": h64, "payload": p64, "signature": b64u(signature)}


def csr_der(key, names):
    """A DER CSR for DNS names (CN = the first, SAN = all)."""
    san = [x509.DNSName(n) for n in names]
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
    b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    algo = None if isinstance(key, ed25519.Ed25519PrivateKey) \
        else hashes.SHA256()
    return b.sign(key, algo).public_bytes(serialization.Encoding.DER)


def cert_id(pem):
    """RFC 9773 §4.1 certID of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(pem.encode() if
                                          isinstance(pem, str) else pem)
    aki = cert.extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier).value.key_identifier
    serial = cert.serial_number
    sb = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
    return b64u(aki) + "." + b64u(sb)


# ----------------------------------------------------------------- HTTP

class Resp:
    def __init__(self, status, ctype, body, headers, raw):
        self.status, self.ctype, self.body = status, ctype, body
        self.headers, self.raw = headers, raw

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def type(self):
        if isinstance(self.body, dict):
            t = self.body.get("type") or ""
            return t.replace("urn:ietf:params:acme:error:", "")
        return None

    def __repr__(self):
        text = self.raw[:300].decode("utf-8", "replace").replace("\n", " ")
        return "%s %s %s" % (self.status, self.ctype, text)


class Server:
    """The ACME server behind one directory URL."""

    def __init__(self, directory_url, cafile):
        self.directory_url = directory_url
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.ctx.check_hostname = False
        self.dir = self.request("GET", directory_url).body

    def request(self, method, url, body=None, ctype=None, headers=None):
        """One HTTPS request on a fresh connection; never raises on an
        HTTP error status."""
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPSConnection(u.hostname, u.port,
                                           context=self.ctx, timeout=30)
        hdrs = dict(headers or {})
        if ctype is not None:
            hdrs["Content-Type"] = ctype
        try:
            conn.request(method, u.path + ("?" + u.query if u.query else ""),
                         body=body, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            rh = {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()
        ct = (rh.get("content-type") or "").split(";")[0].strip()
        doc = None
        if ct.endswith("json") and raw:
            try:
                doc = json.loads(raw)
            except ValueError:
                pass
        return Resp(r.status, ct, doc, rh, raw)

    def nonce(self):
        r = self.request("HEAD", self.dir["newNonce"])
        return r.header("Replay-Nonce")

    def raw(self, url, key=None, payload=None, protected=None, kid=None,
            alg=None, nonce=None, signature=None, ctype=JOSE, body=None,
            extra=None, drop=()):
        """POST to url.  The protected header is {alg, nonce, url} plus
        kid (when given) or the jwk of key; `protected` replaces it
        whole, `extra` adds members, `drop` removes some.  `alg`
        overrides the header alg (signing still uses the key's natural
        algorithm unless a signature is given); `body` replaces the
        whole request body (bytes)."""
        if body is None:
            if protected is None:
                protected = {"alg": alg or default_alg(key),
                             "nonce": nonce if nonce is not None
                             else self.nonce(),
                             "url": url}
                if kid is not None:
                    protected["kid"] = kid
                else:
                    protected["jwk"] = jwk(key)
                protected.update(extra or {})
                for k in drop:
                    protected.pop(k, None)
            body = json.dumps(jws(key, protected, payload,
                                  alg=default_alg(key) if key else None,
                                  signature=signature)).encode()
        return self.request("POST", url, body=body, ctype=ctype)


# -------------------------------------------------------------- http-01

class Http01:
    """Serves /.well-known/acme-challenge/TOKEN on 127.0.0.1:port."""

    def __init__(self, port):
        tokens = self.tokens = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                tok = self.path.rsplit("/", 1)[-1]
                val = tokens.get(tok)
                self.send_response(200 if val else 404)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write((val or "").encode())

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                                     Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever,
                         daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# -------------------------------------------------------------- account

class AcmeError(Exception):
    def __init__(self, what, resp):
        super().__init__("%s: %r" % (what, resp))
        self.resp = resp


class Account:
    """One account key on one server; kid once created."""

    def __init__(self, server, key=None, kind="p256"):
        self.srv = server
        self.key = key or new_key(kind)
        self.kid = None
        self.next_nonce = None

    def post(self, url, payload=None, use_jwk=False, **kw):
        """A signed POST (payload None = POST-as-GET); it reuses the
        Replay-Nonce of the previous answer, as real clients do."""
        nonce, self.next_nonce = self.next_nonce, None
        r = self.srv.raw(url, key=self.key, payload=payload,
                         kid=None if use_jwk else self.kid,
                         nonce=nonce or self.srv.nonce(), **kw)
        self.next_nonce = r.header("Replay-Nonce")
        return r

    def new_account(self, payload=None, **kw):
        p = {"termsOfServiceAgreed": True} if payload is None else payload
        r = self.post(self.srv.dir["newAccount"], p, use_jwk=True, **kw)
        if r.status in (200, 201):
            self.kid = r.header("Location")
        return r

    def new_order(self, names, types="dns", url=None, extra=None):
        """newOrder for names; extra adds payload members (profile,
        replaces)."""
        p = {"identifiers": [{"type": types, "value": n} for n in names]}
        p.update(extra or {})
        return self.post(url or self.srv.dir["newOrder"], p)

    def key_authz(self, token):
        return token + "." + thumbprint(self.key)

    def poll(self, url, done=("valid", "invalid"), timeout=30):
        """POST-as-GET url until its status is one of done."""
        end = time.monotonic() + timeout
        while True:
            r = self.post(url)
            if r.status != 200 or r.body.get("status") in done or \
                    time.monotonic() > end:
                return r
            time.sleep(0.3)

    def answer_http01(self, authz_url, responder, value=None):
        """Publish the key authorization (or `value`) for the authz's
        http-01 challenge, ask for validation and poll the authz."""
        a = self.post(authz_url)
        if a.status != 200:
            raise AcmeError("authz", a)
        if a.body["status"] == "valid":
            return a
        ch = [c for c in a.body["challenges"] if c["type"] == "http-01"][0]
        responder.tokens[ch["token"]] = value or self.key_authz(ch["token"])
        r = self.post(ch["url"], {})
        if r.status != 200:
            raise AcmeError("challenge", r)
        return self.poll(authz_url)

    def issue(self, names, responder, cert_key=None, order_url=None):
        """The whole good path.  Returns (order Resp, cert PEM, key)."""
        o = self.new_order(names, url=order_url)
        if o.status != 201:
            raise AcmeError("newOrder", o)
        order_url = o.header("Location")
        for a in o.body["authorizations"]:
            r = self.answer_http01(a, responder)
            if r.body.get("status") != "valid":
                raise AcmeError("authz not valid", r)
        cert_key = cert_key or new_key("p256")
        f = self.post(o.body["finalize"],
                      {"csr": b64u(csr_der(cert_key, names))})
        if f.status != 200:
            raise AcmeError("finalize", f)
        o = self.poll(order_url)
        if o.body.get("status") != "valid":
            raise AcmeError("order not valid", o)
        c = self.post(o.body["certificate"])
        if c.status != 200:
            raise AcmeError("download", c)
        o.location = order_url
        return o, c.raw.decode(), cert_key


def main(argv):
    if len(argv) < 5:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    srv = Server(argv[2], argv[1])
    resp = Http01(int(argv[3]))
    try:
        acct = Account(srv)
        r = acct.new_account()
        if r.status != 201:
            raise AcmeError("newAccount", r)
        _, pem, _ = acct.issue(argv[4:], resp)
        sys.stdout.write(pem)
    finally:
        resp.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
