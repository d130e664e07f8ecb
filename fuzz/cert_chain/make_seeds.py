#!/usr/bin/env python3
"""Makes the fixed test PKI of the `cert_chain` fuzz target and its seeds.

Run once (python3 with the `cryptography` package, 48.0 was used):

    python3 fuzz/cert_chain/make_seeds.py

It writes, next to this file, the DER certificates and CRLs of a small PKI valid
from 2026-01-01 to 2036-01-01 (the target verifies at 2026-12-07, the NOW of
ikev2/tests/crypto/pki.rs):

    root.der         CN=ikev2d fuzz Root CA (RSA 2048, self-signed); the target's
                     trust anchor (include_bytes! in fuzz_targets/cert_chain.rs)
    im.der           CN=ikev2d fuzz Intermediate CA (P-384, issued by the root)
    ee-p256.der      CN=gw.example.org (P-256, by the intermediate): subjectAltName
                     DNS, IPv4, IPv6, e-mail and a directoryName; a CRL distribution
                     point (for revocation = ifuri)
    ee-p384.der      CN=revoked.example.org (P-384, by the intermediate), revoked
    ee-ed25519.der   CN=ed.example.org (Ed25519, by the intermediate)
    ee-rsa.der       CN=rsa.example.org (RSA 2048, by the root directly)
    ee-enc.der       CN=enc.example.org (P-256, by the intermediate), keyUsage
                     keyEncipherment only: not allowed to sign
    root.crl.der     the root's CRL (nothing revoked)
    im.crl.der       the intermediate's CRL (ee-p384 revoked)

and the seeds, in the target's input format, in fuzz/seeds/cert_chain/: each chain
with an IDi and a genuine AUTH signature (RFC 7427 and classic methods), under every
revocation policy, with CRLs, the anchor given in the input (DER and PEM), raw
public keys, an expired and a not-yet-valid time. The private keys are not kept:
running this again makes a new PKI (and new seeds to match).
"""

import base64
import datetime
import ipaddress
import os
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "..", "seeds", "cert_chain")

# Must equal OCTETS in fuzz_targets/cert_chain.rs: what the AUTH signatures sign.
OCTETS = b"ikev2d cert_chain fuzz target: the octets an AUTH payload signs"

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
END = datetime.datetime(2036, 1, 1, tzinfo=datetime.timezone.utc)
CRL_THIS = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)

# The input format (fuzz_targets/cert_chain.rs): control octet, 8-octet time, then
# records of a tag (0 IDi, 1 CERT, 2 CERTREQ, 3 AUTH), a 2-octet length and the body.
REV_RELAXED, REV_IFURI, REV_STRICT = 0, 1, 2
TIME_NOW, TIME_BEFORE, TIME_AFTER, TIME_GIVEN = 0 << 2, 1 << 2, 2 << 2, 3 << 2
ALLOW_SHA1 = 1 << 4
NO_FIXED_ANCHOR = 1 << 5
IDI, CERT, CERTREQ, AUTH = 0, 1, 2, 3
ENC_X509, ENC_CRL, ENC_RAW_KEY, ENC_ANCHOR = 4, 7, 15, 0xF0
ID_FQDN, ID_RFC822, ID_IPV4, ID_DN = 2, 3, 1, 9
AUTH_RSA_SIG, AUTH_ECDSA_P256, AUTH_DIGITAL_SIGNATURE = 1, 9, 14

# RFC 7427 AlgorithmIdentifiers (the first of each scheme in crypto/signature.rs).
ALG_ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")
ALG_ECDSA_SHA384 = bytes.fromhex("300a06082a8648ce3d040303")
ALG_ED25519 = bytes.fromhex("300506032b6570")
ALG_RSA_SHA384 = bytes.fromhex("300d06092a864886f70d01010c0500")
ALG_PSS_SHA256 = bytes.fromhex(
    "304106092a864886f70d01010a3034a00f300d06096086480165030402010500"
    "a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120"
)


def name(cn, org=True):
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ikev2d fuzz"))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def sig_hash(key):
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


def issue(subject, key, issuer_name, issuer_key, serial, ca, sans=None, crl_uri=None,
          key_usage="sign"):
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        ku = dict(digital_signature=False, key_cert_sign=True, crl_sign=True, key_encipherment=False)
    elif key_usage == "sign":
        ku = dict(digital_signature=True, key_cert_sign=False, crl_sign=False, key_encipherment=False)
    else:
        ku = dict(digital_signature=False, key_cert_sign=False, crl_sign=False, key_encipherment=True)
    b = b.add_extension(
        x509.KeyUsage(content_commitment=False, data_encipherment=False, key_agreement=False,
                      encipher_only=False, decipher_only=False, **ku),
        critical=True,
    )
    if issuer_key is not key:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if crl_uri:
        b = b.add_extension(
            x509.CRLDistributionPoints([
                x509.DistributionPoint([x509.UniformResourceIdentifier(crl_uri)], None, None, None)
            ]),
            critical=False,
        )
    return b.sign(issuer_key, sig_hash(issuer_key))


def crl(issuer, issuer_key, revoked):
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(CRL_THIS)
        .next_update(END)
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    for serial in revoked:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(datetime.datetime(2026, 12, 2, tzinfo=datetime.timezone.utc))
            .build()
        )
    return b.sign(issuer_key, sig_hash(issuer_key)).public_bytes(serialization.Encoding.DER)


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def spki(key):
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pem(label, der_):
    b64 = base64.encodebytes(der_).decode().replace("\n", "")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)).encode()


def spki_sha1(cert):
    h = hashes.Hash(hashes.SHA1())
    h.update(cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    return h.finalize()


def record(tag, body):
    return struct.pack(">BH", tag, len(body)) + body


def idi(id_type, data):
    return record(IDI, bytes([id_type, 0, 0, 0]) + data)


def cert(encoding, data):
    return record(CERT, bytes([encoding]) + data)


def certreq(hashes_):
    return record(CERTREQ, bytes([ENC_X509]) + b"".join(hashes_))


def auth(method, data):
    return record(AUTH, bytes([method, 0, 0, 0]) + data)


def method14(alg, signature):
    return auth(AUTH_DIGITAL_SIGNATURE, bytes([len(alg)]) + alg + signature)


def seed(name_, control, records, time=0):
    with open(os.path.join(SEEDS, name_), "wb") as f:
        f.write(bytes([control]) + struct.pack(">Q", time) + b"".join(records))


def main():
    os.makedirs(SEEDS, exist_ok=True)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = issue(name("ikev2d fuzz Root CA"), root_key, name("ikev2d fuzz Root CA"), root_key,
                 1, ca=True)
    im_key = ec.generate_private_key(ec.SECP384R1())
    im = issue(name("ikev2d fuzz Intermediate CA"), im_key, root.subject, root_key, 2, ca=True)

    p256_key = ec.generate_private_key(ec.SECP256R1())
    p256 = issue(
        name("gw.example.org", org=False), p256_key, im.subject, im_key, 0x1001, ca=False,
        sans=[
            x509.DNSName("gw.example.org"),
            x509.IPAddress(ipaddress.IPv4Address("192.0.2.1")),
            x509.IPAddress(ipaddress.IPv6Address("2001:db8::1")),
            x509.RFC822Name("gw@example.org"),
            x509.DirectoryName(name("gw directory name")),
        ],
        crl_uri="http://crl.example.org/im.crl",
    )
    p384_key = ec.generate_private_key(ec.SECP384R1())
    p384 = issue(name("revoked.example.org", org=False), p384_key, im.subject, im_key, 0x1004,
                 ca=False, sans=[x509.DNSName("revoked.example.org")])
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed = issue(name("ed.example.org", org=False), ed_key, im.subject, im_key, 0x1002, ca=False,
               sans=[x509.DNSName("ed.example.org")])
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_ee = issue(name("rsa.example.org", org=False), rsa_key, root.subject, root_key, 0x1003,
                   ca=False, sans=[x509.DNSName("rsa.example.org")])
    enc_key = ec.generate_private_key(ec.SECP256R1())
    enc = issue(name("enc.example.org", org=False), enc_key, im.subject, im_key, 0x1005,
                ca=False, sans=[x509.DNSName("enc.example.org")], key_usage="encipher")
    root_crl = crl(root, root_key, [])
    im_crl = crl(im, im_key, [0x1004])

    files = {
        "root.der": der(root), "im.der": der(im), "ee-p256.der": der(p256),
        "ee-p384.der": der(p384), "ee-ed25519.der": der(ed), "ee-rsa.der": der(rsa_ee),
        "ee-enc.der": der(enc), "root.crl.der": root_crl, "im.crl.der": im_crl,
    }
    for n, d in files.items():
        with open(os.path.join(HERE, n), "wb") as f:
            f.write(d)

    ecdsa256 = p256_key.sign(OCTETS, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(p256_key.sign(OCTETS, ec.ECDSA(hashes.SHA256())))
    classic = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    ecdsa384 = p384_key.sign(OCTETS, ec.ECDSA(hashes.SHA384()))
    eddsa = ed_key.sign(OCTETS)
    pss = rsa_key.sign(
        OCTETS, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    pkcs1 = rsa_key.sign(OCTETS, padding.PKCS1v15(), hashes.SHA384())
    pkcs1_sha1 = rsa_key.sign(OCTETS, padding.PKCS1v15(), hashes.SHA1())

    ee_p256 = [cert(ENC_X509, der(p256)), cert(ENC_X509, der(im))]
    req = certreq([spki_sha1(root), spki_sha1(im)])
    crls = [cert(ENC_CRL, im_crl), cert(ENC_CRL, root_crl)]
    gw = idi(ID_FQDN, b"gw.example.org")

    seed("p256-relaxed", REV_RELAXED, [gw, *ee_p256, req, method14(ALG_ECDSA_SHA256, ecdsa256)])
    seed("p256-classic-ipv4", REV_RELAXED,
         [idi(ID_IPV4, bytes([192, 0, 2, 1])), *ee_p256, auth(AUTH_ECDSA_P256, classic)])
    seed("p256-strict-crls", REV_STRICT,
         [idi(ID_RFC822, b"gw@example.org"), *ee_p256, *crls,
          method14(ALG_ECDSA_SHA256, ecdsa256)])
    seed("p256-ifuri-no-crl", REV_IFURI, [gw, *ee_p256, method14(ALG_ECDSA_SHA256, ecdsa256)])
    seed("p256-ifuri-crl", REV_IFURI,
         [gw, *ee_p256, crls[0], method14(ALG_ECDSA_SHA256, ecdsa256)])
    seed("p256-expired", TIME_AFTER, [gw, *ee_p256, method14(ALG_ECDSA_SHA256, ecdsa256)])
    seed("p256-given-time", TIME_GIVEN | REV_STRICT, [gw, *ee_p256, *crls],
         time=1_800_000_000)
    seed("p256-dirname", REV_RELAXED,
         [idi(ID_DN, name("gw directory name").public_bytes()), *ee_p256])
    seed("p384-revoked", REV_RELAXED,
         [idi(ID_FQDN, b"revoked.example.org"), cert(ENC_X509, der(p384)), cert(ENC_X509, der(im)),
          *crls, method14(ALG_ECDSA_SHA384, ecdsa384)])
    seed("ed25519", REV_RELAXED,
         [idi(ID_FQDN, b"ed.example.org"), cert(ENC_X509, der(ed)), cert(ENC_X509, der(im)),
          method14(ALG_ED25519, eddsa)])
    seed("rsa-pss-dn", REV_RELAXED,
         [idi(ID_DN, rsa_ee.subject.public_bytes()), cert(ENC_X509, der(rsa_ee)),
          method14(ALG_PSS_SHA256, pss)])
    seed("rsa-pkcs1", REV_STRICT,
         [idi(ID_FQDN, b"rsa.example.org"), cert(ENC_X509, der(rsa_ee)), crls[1],
          method14(ALG_RSA_SHA384, pkcs1)])
    seed("rsa-sha1-classic", REV_RELAXED | ALLOW_SHA1,
         [idi(ID_FQDN, b"rsa.example.org"), cert(ENC_X509, der(rsa_ee)),
          auth(AUTH_RSA_SIG, pkcs1_sha1)])
    seed("own-anchor", NO_FIXED_ANCHOR,
         [gw, cert(ENC_ANCHOR, der(root)), *ee_p256, req, method14(ALG_ECDSA_SHA256, ecdsa256)])
    seed("intermediate-anchor", NO_FIXED_ANCHOR,
         [gw, cert(ENC_ANCHOR, der(im)), cert(ENC_X509, der(p256)),
          method14(ALG_ECDSA_SHA256, ecdsa256)])
    seed("own-anchor-pem-crl-pem", NO_FIXED_ANCHOR | REV_STRICT,
         [gw, cert(ENC_ANCHOR, pem("CERTIFICATE", der(root)) + pem("CERTIFICATE", der(im))),
          cert(ENC_X509, der(p256)), cert(ENC_CRL, pem("X509 CRL", im_crl)),
          method14(ALG_ECDSA_SHA256, ecdsa256)])
    seed("raw-key-ed25519", REV_RELAXED,
         [idi(ID_FQDN, b"ed.example.org"), cert(ENC_RAW_KEY, spki(ed_key)),
          method14(ALG_ED25519, eddsa)])
    seed("raw-key-p256-pem", REV_RELAXED,
         [gw, cert(ENC_RAW_KEY, pem("PUBLIC KEY", spki(p256_key))), cert(ENC_X509, der(p256)),
          auth(AUTH_ECDSA_P256, classic)])
    seed("text-dn-ids", REV_RELAXED,
         [idi(ID_FQDN, b"CN=gw.example.org"), idi(ID_DN, b"O=ikev2d fuzz, CN=*"),
          idi(ID_RFC822, b"asn1dn:#" + name("gw directory name").public_bytes().hex().encode()),
          *ee_p256])
    seed("key-usage-encipher", REV_RELAXED,
         [idi(ID_FQDN, b"enc.example.org"), cert(ENC_X509, der(enc)), cert(ENC_X509, der(im))])
    seed("missing-intermediate", TIME_BEFORE, [gw, cert(ENC_X509, der(p256))])


if __name__ == "__main__":
    main()
