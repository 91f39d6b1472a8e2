#!/usr/bin/env python3
"""Hand-built SCEP (RFC 8894) pkiMessages for test_scep.sh.

Real clients (scepclient) cover the valid flows; this builds the messages
they never send: a chosen messageType, digest, cipher, recipient, content,
or a broken signature.  The envelope is made by `openssl cms -encrypt`;
the SignedData around it is encoded here by hand, because neither
`openssl cms -sign` nor python's `cryptography` can add the SCEP signed
attributes (messageType, transactionID, senderNonce).

  scep_msg.py build --type N --cert C --key K --recip RA --content F
      [--cipher aes256|des|des3] [--md sha256|sha1|md5] [--tamper]
      [--tid ID] --out OUT
  scep_msg.py ias CERT [SERIAL_HEX]   IssuerAndSerialNumber DER on stdout
  scep_msg.py ais CERT                IssuerAndSubject DER on stdout
  scep_msg.py status REPLY.der        "pkiStatus failInfo" of a CertRep

Exit status 0 on success, 1 on any error (message on stderr).
"""

import hashlib
import os
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding


def length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, body):
    return bytes([tag]) + length(len(body)) + body


def seq(*items):
    return tlv(0x30, b"".join(items))


def der_set(*items):
    # DER SET OF: members sorted by their encodings.
    return tlv(0x31, b"".join(sorted(items)))


def oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    out = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.insert(0, 0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(chunk)
    return tlv(0x06, out)


def integer(n):
    b = n.to_bytes((n.bit_length() + 8) // 8 or 1, "big", signed=True)
    return tlv(0x02, b)


NULL = b"\x05\x00"
OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED = "1.2.840.113549.1.7.2"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_MSG_TYPE = "2.16.840.1.113733.1.9.2"
OID_PKI_STATUS = "2.16.840.1.113733.1.9.3"
OID_FAIL_INFO = "2.16.840.1.113733.1.9.4"
OID_SENDER_NONCE = "2.16.840.1.113733.1.9.5"
OID_TRANS_ID = "2.16.840.1.113733.1.9.7"
DIGESTS = {
    "sha256": ("2.16.840.1.101.3.4.2.1", hashes.SHA256(), "sha256"),
    "sha1": ("1.3.14.3.2.26", hashes.SHA1(), "sha1"),
    "md5": ("1.2.840.113549.2.5", hashes.MD5(), "md5"),
}


def attr(type_oid, value):
    return seq(oid(type_oid), der_set(value))


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def envelope(content_path, recip, cipher):
    args = ["openssl", "cms", "-encrypt", "-binary", "-outform", "DER",
            "-in", content_path, "-" + cipher, recip]
    if cipher == "des":
        args[2:2] = ["-provider", "legacy", "-provider", "default"]
    return subprocess.run(args, check=True, capture_output=True).stdout


def build(opts):
    cert = load_cert(opts["--cert"])
    with open(opts["--key"], "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    md_oid, md_hash, md_name = DIGESTS[opts.get("--md", "sha256")]
    env = envelope(opts["--content"], opts["--recip"],
                   opts.get("--cipher", "aes256"))
    digest = hashlib.new(md_name, env).digest()
    tid = opts.get("--tid", hashlib.sha256(os.urandom(8)).hexdigest())
    attrs = [
        attr(OID_CONTENT_TYPE, oid(OID_DATA)),
        attr(OID_MESSAGE_DIGEST, tlv(0x04, digest)),
        attr(OID_MSG_TYPE, tlv(0x13, opts["--type"].encode())),
        attr(OID_TRANS_ID, tlv(0x13, tid.encode())),
        attr(OID_SENDER_NONCE, tlv(0x04, os.urandom(16))),
    ]
    if "--signing-time" in opts:  # UTCTime YYMMDDHHMMSSZ
        attrs.append(attr("1.2.840.113549.1.9.5",
                          tlv(0x17, opts["--signing-time"].encode())))
    signed = der_set(*attrs)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(signed, ec.ECDSA(md_hash))
        sig_alg = seq(oid("1.2.840.10045.2.1"))
    else:
        sig = key.sign(signed, padding.PKCS1v15(), md_hash)
        sig_alg = seq(oid("1.2.840.113549.1.1.1"), NULL)
    if "--tamper" in opts:
        sig = sig[:-3] + bytes([sig[-3] ^ 0x5A]) + sig[-2:]
    md_alg = seq(oid(md_oid), NULL)
    ias = seq(cert.issuer.public_bytes(), integer(cert.serial_number))
    signer_info = seq(integer(1), ias, md_alg,
                      b"\xa0" + signed[1:],  # [0] IMPLICIT SET OF
                      sig_alg, tlv(0x04, sig))
    encap = seq(oid(OID_DATA), tlv(0xA0, tlv(0x04, env)))
    sd = seq(integer(1), der_set(md_alg), encap,
             tlv(0xA0, cert.public_bytes(serialization.Encoding.DER)),
             der_set(signer_info))
    with open(opts["--out"], "wb") as f:
        f.write(seq(oid(OID_SIGNED), tlv(0xA0, sd)))


def ias_cmd(args):
    cert = load_cert(args[0])
    serial = int(args[1], 16) if len(args) > 1 else cert.serial_number
    sys.stdout.buffer.write(
        seq(cert.issuer.public_bytes(), integer(serial)))


def ais_cmd(args):
    cert = load_cert(args[0])
    sys.stdout.buffer.write(
        seq(cert.issuer.public_bytes(), cert.subject.public_bytes()))


def status_cmd(args):
    # `openssl cms -cmsout -print` names unknown attributes by their OID
    # and prints the value on the following "value.set" lines.
    out = subprocess.run(
        ["openssl", "cms", "-cmsout", "-print", "-inform", "DER",
         "-in", args[0]], check=True, capture_output=True, text=True).stdout
    found = {}
    want = None
    for line in out.splitlines():
        s = line.strip()
        for o in (OID_PKI_STATUS, OID_FAIL_INFO):
            if s.startswith("object:") and "(" + o + ")" in s:
                want = o
        if want and s.startswith("PRINTABLESTRING:"):
            found[want] = s.split(":", 1)[1]
            want = None
    print(found.get(OID_PKI_STATUS, "-"), found.get(OID_FAIL_INFO, "-"))


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 1
    cmd, rest = sys.argv[1], sys.argv[2:]
    try:
        if cmd == "build":
            opts = {}
            i = 0
            while i < len(rest):
                if rest[i] == "--tamper":
                    opts["--tamper"] = True
                    i += 1
                else:
                    opts[rest[i]] = rest[i + 1]
                    i += 2
            build(opts)
        elif cmd == "ias":
            ias_cmd(rest)
        elif cmd == "ais":
            ais_cmd(rest)
        elif cmd == "status":
            status_cmd(rest)
        else:
            raise ValueError("unknown command " + cmd)
    except Exception as e:  # one line for the shell test, not a trace
        print("scep_msg.py: %s: %s" % (cmd, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
