#!/usr/bin/env python3
"""Extract IKEv2 messages from a strongswan-lab capture into test vectors.

Input:  a classic pcap (tcpdump -w, Ethernet), the charon logs of both nodes
        (filelog with ike=4/chd=4, which print SK_* and ESP keys).
Output (into --out):
  NN-<label>-<req|resp>-<port>[-fragKofN].bin   raw IKE message (UDP payload;
        for port 4500 the 4-octet zero non-ESP marker is stripped)
  decrypted/NN-<label>-<req|resp>.inner.bin     plaintext payload chain of the
        SK/SKF payload (fragments reassembled), i.e. what follows the SK header
        after decryption, padding/pad-length removed
  ikev2_decryption_table   Wireshark UAT / strongSwan save-keys format
  esp_sa                   Wireshark ESP SA UAT / strongSwan save-keys format
  MANIFEST.tsv             one row per .bin file
Every key is verified (ICV/HMAC checked) against the captured packets; the
script fails if any encrypted IKE message cannot be decrypted.

Only needs python3 + the `cryptography` package.
"""
import argparse
import json
import hashlib
import hmac
import os
import re
import struct
import sys
from collections import OrderedDict, defaultdict

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.exceptions import InvalidTag

EXCHANGES = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA",
             37: "INFORMATIONAL", 43: "IKE_INTERMEDIATE"}
PAYLOADS = {33: "SA", 34: "KE", 35: "IDi", 36: "IDr", 37: "CERT", 38: "CERTREQ",
            39: "AUTH", 40: "No", 41: "N", 42: "D", 43: "V", 44: "TSi", 45: "TSr",
            46: "SK", 47: "CP", 48: "EAP", 53: "SKF"}
NOTIFY = {
    1: "UNSUPPORTED_CRITICAL_PAYLOAD", 4: "INVALID_IKE_SPI", 5: "INVALID_MAJOR_VERSION",
    7: "INVALID_SYNTAX", 9: "INVALID_MESSAGE_ID", 11: "INVALID_SPI",
    14: "NO_PROPOSAL_CHOSEN", 17: "INVALID_KE_PAYLOAD", 24: "AUTHENTICATION_FAILED",
    34: "SINGLE_PAIR_REQUIRED", 35: "NO_ADDITIONAL_SAS", 36: "INTERNAL_ADDRESS_FAILURE",
    37: "FAILED_CP_REQUIRED", 38: "TS_UNACCEPTABLE", 39: "INVALID_SELECTORS",
    43: "TEMPORARY_FAILURE", 44: "CHILD_SA_NOT_FOUND",
    16384: "INITIAL_CONTACT", 16385: "SET_WINDOW_SIZE", 16386: "ADDITIONAL_TS_POSSIBLE",
    16387: "IPCOMP_SUPPORTED", 16388: "NAT_DETECTION_SOURCE_IP",
    16389: "NAT_DETECTION_DESTINATION_IP", 16390: "COOKIE", 16391: "USE_TRANSPORT_MODE",
    16392: "HTTP_CERT_LOOKUP_SUPPORTED", 16393: "REKEY_SA",
    16394: "ESP_TFC_PADDING_NOT_SUPPORTED", 16395: "NON_FIRST_FRAGMENTS_ALSO",
    16396: "MOBIKE_SUPPORTED", 16397: "ADDITIONAL_IP4_ADDRESS",
    16398: "ADDITIONAL_IP6_ADDRESS", 16399: "NO_ADDITIONAL_ADDRESSES",
    16400: "UPDATE_SA_ADDRESSES", 16401: "COOKIE2", 16402: "NO_NATS_ALLOWED",
    16403: "AUTH_LIFETIME", 16404: "MULTIPLE_AUTH_SUPPORTED",
    16405: "ANOTHER_AUTH_FOLLOWS", 16406: "REDIRECT_SUPPORTED", 16407: "REDIRECT",
    16408: "REDIRECTED_FROM", 16417: "EAP_ONLY_AUTHENTICATION",
    16418: "CHILDLESS_IKEV2_SUPPORTED", 16419: "QUICK_CRASH_DETECTION",
    16420: "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
    16421: "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED", 16422: "IKEV2_MESSAGE_ID_SYNC",
    16430: "IKEV2_FRAGMENTATION_SUPPORTED", 16431: "SIGNATURE_HASH_ALGORITHMS",
    16435: "USE_PPK", 16438: "INTERMEDIATE_EXCHANGE_SUPPORTED",
    16441: "ADDITIONAL_KEY_EXCHANGE", 16442: "USE_AGGFRAG",
}
PROTO = {1: "IKE", 2: "AH", 3: "ESP"}


# ------------------------------------------------------------------ pcap
def read_pcap(path):
    """Yield (ts, src, sport, dst, dport, udp_payload) for IPv4/UDP packets."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        end, nano = "<", False
    elif magic == b"\xa1\xb2\xc3\xd4":
        end, nano = ">", False
    elif magic == b"\x4d\x3c\xb2\xa1":
        end, nano = "<", True
    elif magic == b"\xa1\xb2\x3c\x4d":
        end, nano = ">", True
    else:
        raise SystemExit("%s: not a classic pcap file" % path)
    linktype = struct.unpack(end + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(end + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ts = sec + frac / (1e9 if nano else 1e6)
        if linktype == 1:          # Ethernet
            etype = struct.unpack("!H", pkt[12:14])[0]
            ip = pkt[14:]
            if etype != 0x0800:
                continue
        elif linktype == 113:      # Linux cooked (tcpdump -i any)
            if struct.unpack("!H", pkt[14:16])[0] != 0x0800:
                continue
            ip = pkt[16:]
        elif linktype in (101, 228):   # raw IPv4
            ip = pkt
        else:
            raise SystemExit("unsupported linktype %d" % linktype)
        if ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack("!H", ip[2:4])[0]
        src = ".".join(str(b) for b in ip[12:16])
        dst = ".".join(str(b) for b in ip[16:20])
        udp = ip[ihl:tot]
        sport, dport, ulen = struct.unpack("!HHH", udp[:6])
        yield ts, src, sport, dst, dport, udp[8:ulen]


# ------------------------------------------------------------------ logs
LINE = re.compile(r"^(\S+) (\d+)\[(\w+)\] (?:<[^>]*> )?(.*)$")
DUMP_HDR = re.compile(r"^(.*?) => (\d+) bytes @ 0x[0-9a-f]+$")
DUMP_ROW = re.compile(r"^\s*(\d+): ((?:[0-9A-F]{2} )+)")
ESTABLISHED = re.compile(r"CHILD_SA (\S+)\{(\d+)\} established with SPIs ([0-9a-f]{8})_i ([0-9a-f]{8})_o")


def parse_log(path):
    """Return a list of events: ('dump', thread, label, bytes) and
    ('child', thread, name, uid, spi_in, spi_out)."""
    events = []
    pending = {}   # thread -> [label, expected_len, bytearray]
    with open(path, errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            thread, text = m.group(2), m.group(4)
            if thread in pending:
                r = DUMP_ROW.match(text)
                if r:
                    p = pending[thread]
                    p[2].extend(bytes.fromhex(r.group(2).replace(" ", "")))
                    if len(p[2]) >= p[1]:
                        events.append(("dump", thread, p[0], bytes(p[2][:p[1]])))
                        del pending[thread]
                    continue
                else:   # dump cut short (should not happen)
                    del pending[thread]
            h = DUMP_HDR.match(text)
            if h:
                n = int(h.group(2))
                if n == 0:
                    events.append(("dump", thread, h.group(1), b""))
                else:
                    pending[thread] = [h.group(1), n, bytearray()]
                continue
            e = ESTABLISHED.search(text)
            if e:
                events.append(("child", thread, e.group(1), int(e.group(2)),
                               int(e.group(3), 16), int(e.group(4), 16)))
    return events


def ike_keysets(events):
    """Group Sk_* dumps (per thread, in order) into key sets; the g^ir and
    SKEYSEED dumps that precede them on the same thread are kept too."""
    sets, cur = [], {}
    names = {"shared Diffie Hellman secret": "gir", "SKEYSEED": "skeyseed",
             "Sk_d secret": "d", "Sk_ai secret": "ai", "Sk_ar secret": "ar",
             "Sk_ei secret": "ei", "Sk_er secret": "er", "Sk_pi secret": "pi",
             "Sk_pr secret": "pr"}
    for ev in events:
        if ev[0] != "dump" or ev[2] not in names:
            continue
        thread, k = ev[1], names[ev[2]]
        c = cur.setdefault(thread, {})
        if k == "gir" or (k == "d" and "d" in c):
            c.clear()
        c[k] = ev[3]
        if k == "pr" and "ei" in c:
            sets.append(dict(c))
            c.clear()
    return sets


def child_keysets(events):
    """ESP key material followed (same thread) by the 'established' line."""
    out, cur = [], {}
    names = {"DH secret": "gir", "seed": "seed",
             "encryption initiator key": "ei", "encryption responder key": "er",
             "integrity initiator key": "ai", "integrity responder key": "ar"}
    for ev in events:
        if ev[0] == "dump" and ev[2] in names:
            k = names[ev[2]]
            c = cur.setdefault(ev[1], {})
            if k == "gir" or (k == "seed" and "gir" not in c):
                c.clear()
            c[k] = ev[3]
        elif ev[0] == "child":
            c = cur.pop(ev[1], None)
            if c and "ei" in c:
                c.update(name=ev[2], uid=ev[3], spi_in=ev[4], spi_out=ev[5])
                out.append(c)
    return out


PRF_HASH = {20: hashlib.sha1, 32: hashlib.sha256, 48: hashlib.sha384, 64: hashlib.sha512}
PRF_NAME = {20: "PRF_HMAC_SHA1", 32: "PRF_HMAC_SHA2_256", 48: "PRF_HMAC_SHA2_384",
            64: "PRF_HMAC_SHA2_512"}


def prf(h, key, data):
    return hmac.new(key, data, h).digest()


def prf_plus(h, key, seed, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = prf(h, key, t + seed + bytes([i]))
        out += t
        i += 1
    return out[:n]


# ------------------------------------------------------------------ IKE
class Msg:
    pass


def parse_header(b):
    m = Msg()
    m.raw = b
    m.spi_i, m.spi_r = b[0:8], b[8:16]
    m.np, m.ver, m.exch, m.flags = b[16], b[17], b[18], b[19]
    m.msgid, m.length = struct.unpack("!II", b[20:28])
    m.response = bool(m.flags & 0x20)
    m.from_initiator = bool(m.flags & 0x08)
    return m


def walk(first, data):
    """Yield (type, critical, body, offset_of_generic_header)."""
    t, off = first, 0
    while t != 0:
        if off + 4 > len(data):
            raise ValueError("truncated payload chain")
        nxt, crit = data[off], data[off + 1] & 0x80
        plen = struct.unpack("!H", data[off + 2:off + 4])[0]
        if plen < 4 or off + plen > len(data):
            raise ValueError("bad payload length")
        yield t, crit, data[off + 4:off + plen], off
        if t in (46, 53):   # SK/SKF are last; np is the first inner payload
            return
        t, off = nxt, off + plen


def summarize(first, data):
    parts = []
    for t, _c, body, _o in walk(first, data):
        name = PAYLOADS.get(t, "P%d" % t)
        if t == 41:
            ntype = struct.unpack("!H", body[2:4])[0]
            name = "N(%s)" % NOTIFY.get(ntype, ntype)
            if ntype == 17 and len(body) >= 4 + body[1] + 2:
                name = "N(INVALID_KE_PAYLOAD:%d)" % struct.unpack("!H", body[4 + body[1]:6 + body[1]])[0]
        elif t == 42:
            proto, _spis, nspi = body[0], body[1], struct.unpack("!H", body[2:4])[0]
            name = "D(%s%s)" % (PROTO.get(proto, proto), "" if proto == 1 else ",%d" % nspi)
        elif t == 34:
            name = "KE(%d)" % struct.unpack("!H", body[0:2])[0]
        elif t == 53:
            fn, tot = struct.unpack("!HH", body[0:4])
            name = "SKF(%d/%d)" % (fn, tot)
        parts.append(name)
    return " ".join(parts)


SUITES = [  # name, kind, enc key len (incl salt), integ key len, icv, wireshark enc, wireshark integ
    ("AES_CBC_128/HMAC_SHA1_96", "cbc", 16, 20, 12, "AES-CBC-128 [RFC3602]", "HMAC_SHA1_96 [RFC2404]"),
    ("AES_CBC_256/HMAC_SHA1_96", "cbc", 32, 20, 12, "AES-CBC-256 [RFC3602]", "HMAC_SHA1_96 [RFC2404]"),
    ("AES_CBC_128/HMAC_SHA2_256_128", "cbc", 16, 32, 16, "AES-CBC-128 [RFC3602]", "HMAC_SHA2_256_128 [RFC4868]"),
    ("AES_CBC_192/HMAC_SHA2_256_128", "cbc", 24, 32, 16, "AES-CBC-192 [RFC3602]", "HMAC_SHA2_256_128 [RFC4868]"),
    ("AES_CBC_256/HMAC_SHA2_256_128", "cbc", 32, 32, 16, "AES-CBC-256 [RFC3602]", "HMAC_SHA2_256_128 [RFC4868]"),
    ("AES_CBC_256/HMAC_SHA2_384_192", "cbc", 32, 48, 24, "AES-CBC-256 [RFC3602]", "HMAC_SHA2_384_192 [RFC4868]"),
    ("AES_CBC_256/HMAC_SHA2_512_256", "cbc", 32, 64, 32, "AES-CBC-256 [RFC3602]", "HMAC_SHA2_512_256 [RFC4868]"),
    ("AES_GCM_16_128", "gcm", 20, 0, 16, "AES-GCM-128 with 16 octet ICV [RFC5282]", "NONE [RFC4306]"),
    ("AES_GCM_16_192", "gcm", 28, 0, 16, "AES-GCM-192 with 16 octet ICV [RFC5282]", "NONE [RFC4306]"),
    ("AES_GCM_16_256", "gcm", 36, 0, 16, "AES-GCM-256 with 16 octet ICV [RFC5282]", "NONE [RFC4306]"),
    ("CHACHA20_POLY1305", "chacha", 36, 0, 16, "CHACHA20-POLY1305 [RFC7634]", "NONE [RFC4306]"),
]
HMAC_HASH = {20: hashlib.sha1, 32: hashlib.sha256, 48: hashlib.sha384, 64: hashlib.sha512}


def sk_decrypt(m, ks, suite):
    """Decrypt the SK/SKF payload of message m. Returns (first_inner, plaintext,
    frag_no, frag_total) or raises ValueError/InvalidTag."""
    _name, kind, elen, alen, icv, _we, _wi = suite
    b = m.raw[:m.length]
    body = b[28:]
    sk = None
    for t, _c, pbody, poff in walk(m.np, body):
        if t in (46, 53):
            sk = (t, 28 + poff, body[poff])
    if sk is None:
        raise ValueError("no SK payload")
    t, off, inner_np = sk
    plen = struct.unpack("!H", b[off + 2:off + 4])[0]
    hdr = 8 if t == 53 else 4
    frag_no = frag_tot = 0
    if t == 53:
        frag_no, frag_tot = struct.unpack("!HH", b[off + 4:off + 8])
    ek = ks["ei"] if m.from_initiator else ks["er"]
    ak = ks.get("ai" if m.from_initiator else "ar", b"")
    if len(ek) != elen or len(ak) != alen:
        raise ValueError("key length mismatch")
    payload = b[off + hdr:off + plen]
    if kind == "cbc":
        mac = hmac.new(ak, b[:len(b) - icv], HMAC_HASH[alen]).digest()[:icv]
        if not hmac.compare_digest(mac, b[len(b) - icv:]):
            raise InvalidTag()
        iv, ct = payload[:16], payload[16:len(payload) - icv]
        d = Cipher(algorithms.AES(ek), modes.CBC(iv)).decryptor()
        pt = d.update(ct) + d.finalize()
        pad = pt[-1]
        pt = pt[:len(pt) - 1 - pad]
    else:
        key, salt = ek[:-4], ek[-4:]
        iv, ct = payload[:8], payload[8:]
        aad = b[:off + hdr]
        aead = AESGCM(key) if kind == "gcm" else ChaCha20Poly1305(key)
        pt = aead.decrypt(salt + iv, ct, aad)
        pad = pt[-1]
        pt = pt[:len(pt) - 1 - pad]
    return inner_np, pt, frag_no, frag_tot


def esp_verify(pkt, key):
    """AES-GCM-16 (RFC 4106) or ChaCha20-Poly1305 (RFC 7634) ESP check."""
    if len(key) not in (20, 28, 36) or len(pkt) < 8 + 8 + 16:
        return None
    aad, iv, ct = pkt[:8], pkt[8:16], pkt[16:]
    for cls in (AESGCM, ChaCha20Poly1305):
        try:
            pt = cls(key[:-4]).decrypt(key[-4:] + iv, ct, aad)
            return pt
        except (InvalidTag, ValueError):
            continue
    return None


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--log", action="append", default=[])
    ap.add_argument("--out", required=True)
    ap.add_argument("--scenario", default="")
    ap.add_argument("--strongswan", default="")
    a = ap.parse_args()

    events = []
    for lg in a.log:
        events.extend(parse_log(lg))
    keysets, seen = [], set()
    for ks in ike_keysets(events):
        if ks["ei"] not in seen:
            seen.add(ks["ei"])
            keysets.append(ks)
    children = child_keysets(events)

    ikes, esps = [], defaultdict(list)
    t0 = None
    for ts, src, sport, dst, dport, pl in read_pcap(a.pcap):
        t0 = ts if t0 is None else t0
        if 4500 in (sport, dport):
            if len(pl) == 1 and pl[0] == 0xFF:
                continue                      # NAT-T keepalive
            if pl[:4] != b"\0\0\0\0":
                esps[struct.unpack("!I", pl[:4])[0]].append((src, dst, pl))
                continue
            ike = pl[4:]
        elif 500 in (sport, dport):
            ike = pl
        else:
            continue
        m = parse_header(ike)
        m.ts, m.src, m.sport, m.dst, m.dport = ts - t0, src, sport, dst, dport
        m.port = 4500 if 4500 in (sport, dport) else 500
        ikes.append(m)

    # ---- match key sets to IKE SAs (by trying them)
    sa_keys = {}   # (spi_i, spi_r) -> (keyset index, suite)
    for m in ikes:
        sa = (m.spi_i, m.spi_r)
        if m.exch == 34 or sa in sa_keys:
            continue
        for i, ks in enumerate(keysets):
            for suite in SUITES:
                try:
                    sk_decrypt(m, ks, suite)
                except (ValueError, InvalidTag, KeyError):
                    continue
                sa_keys[sa] = (i, suite)
                break
            if sa in sa_keys:
                break
        if sa not in sa_keys:
            raise SystemExit("no key set from the logs decrypts IKE SA %s_i %s_r (msg %d)"
                             % (m.spi_i.hex(), m.spi_r.hex(), m.msgid))

    # ---- decrypt + reassemble + summarize
    frags = defaultdict(dict)
    for m in ikes:
        m.outer = summarize(m.np, m.raw[28:m.length])
        m.inner = ""
        m.inner_np, m.plain, m.frag = 0, None, None
        if m.exch == 34:
            continue
        i, suite = sa_keys[(m.spi_i, m.spi_r)]
        m.ike_sa = i
        np_, pt, fno, ftot = sk_decrypt(m, keysets[i], suite)
        if fno:
            m.frag = (fno, ftot)
            key = (m.spi_i, m.spi_r, m.msgid, m.response, m.from_initiator)
            frags[key][fno] = (np_, pt)
            if len(frags[key]) == ftot:
                parts = [frags[key][n] for n in range(1, ftot + 1)]
                m.inner_np, m.plain = parts[0][0], b"".join(p[1] for p in parts)
        else:
            m.inner_np, m.plain = np_, pt
        if m.plain is not None:
            m.inner = summarize(m.inner_np, m.plain) if m.inner_np else "(empty)"

    # ---- label request/response pairs
    def label_of(req, resp):
        ex = {34: "ike_sa_init", 35: "ike_auth", 36: "create_child_sa",
              37: "informational", 43: "ike_intermediate"}.get(req.exch, "exch%d" % req.exch)
        r = req.inner if req.exch != 34 else req.outer
        s = (resp.outer if resp else "")
        if req.exch == 34 and "INVALID_KE_PAYLOAD" in s:
            return ex + "_invalid_ke"
        if req.exch == 34 and "N(COOKIE)" in s:
            return ex + "_cookie"
        if req.exch == 36:
            if "N(REKEY_SA)" in r:
                return ex + "_rekey_child"
            if "TSi" not in r and "SA" in r.split():
                return ex + "_rekey_ike"
            return ex + "_new_child"
        if req.exch == 37:
            if "D(IKE)" in r:
                return ex + "_delete_ike"
            if "D(ESP" in r or "D(AH" in r:
                return ex + "_delete_child"
            if r == "(empty)":
                return ex + "_dpd"
            if "UPDATE_SA_ADDRESSES" in r:
                return ex + "_mobike_update"
            if "ADDITIONAL_ADDRESSES" in r or "ADDITIONAL_IP" in r:
                return ex + "_mobike_addresses"
        return ex

    # pair requests and responses in capture order: a response answers the
    # requests (original + retransmissions) with the same (SPIi, msgid,
    # exchange) seen since the last such response. (An IKE_SA_INIT retried
    # after INVALID_KE_PAYLOAD or COOKIE reuses SPIi and msgid 0.)
    pending, pairs, pair_of = {}, [], {}
    for m in ikes:
        k = (m.spi_i, m.msgid, m.exch)
        if not m.response:
            if k not in pending:
                pending[k] = len(pairs)
                pairs.append([[], []])
            pairs[pending[k]][0].append(m)
            pair_of[id(m)] = pending[k]
        else:
            if k in pending:
                p = pending.pop(k)
            elif pairs and any(x.spi_i == m.spi_i and x.msgid == m.msgid and x.exch == m.exch
                               for x in pairs[-1][0]):
                p = len(pairs) - 1       # retransmitted response
            else:
                p = len(pairs)
                pairs.append([[], []])
            pairs[p][1].append(m)
            pair_of[id(m)] = p

    # for fragmented messages, the reassembled summary sits on the last fragment
    def full(ms):
        for x in ms:
            if x.plain is not None or x.exch == 34:
                return x
        return ms[0] if ms else None

    os.makedirs(a.out, exist_ok=True)
    os.makedirs(os.path.join(a.out, "decrypted"), exist_ok=True)
    rows = []
    labels = {}
    for i, (rq, rs) in enumerate(pairs):
        labels[i] = label_of(full(rq), full(rs)) if rq else "unmatched"
    written_plain = set()
    for n, m in enumerate(ikes, 1):
        lab = labels[pair_of[id(m)]]
        rr = "resp" if m.response else "req"
        fn = "%02d-%s-%s-%d" % (n, lab, rr, m.port)
        if m.frag:
            fn += "-frag%dof%d" % m.frag
        with open(os.path.join(a.out, fn + ".bin"), "wb") as f:
            f.write(m.raw[:m.length])
        plainfile = ""
        if m.plain is not None and m.exch != 34:
            pk = (m.spi_i, m.spi_r, m.msgid, m.response, m.from_initiator, m.plain)
            if pk not in written_plain:   # retransmissions: write once
                written_plain.add(pk)
                plainfile = "decrypted/%02d-%s-%s.inner.bin" % (n, lab, rr)
                with open(os.path.join(a.out, plainfile), "wb") as f:
                    f.write(m.plain)
        rows.append([
            "%02d" % n, fn + ".bin", "%.3f" % m.ts,
            "%s:%d" % (m.src, m.sport), "%s:%d" % (m.dst, m.dport),
            EXCHANGES.get(m.exch, str(m.exch)), str(m.msgid),
            (("I" if m.from_initiator else "") + ("R" if m.response else "")) or "-",
            m.spi_i.hex(), m.spi_r.hex(), str(m.length),
            str(m.ike_sa + 1) if m.exch != 34 else "-",
            m.outer, str(m.inner_np) if m.plain is not None and m.exch != 34 else "",
            m.inner, plainfile])
    with open(os.path.join(a.out, "MANIFEST.tsv"), "w") as f:
        f.write("# scenario=%s strongswan=%s; .bin = IKE message as on the wire "
                "(UDP payload, port-4500 non-ESP marker stripped)\n" % (a.scenario, a.strongswan))
        f.write("\t".join(["nn", "file", "t_s", "src", "dst", "exchange", "msgid", "flags",
                           "spi_i", "spi_r", "len", "ike_sa", "outer_payloads",
                           "inner_first_payload", "inner_payloads", "plaintext_file"]) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")

    # ---- key tables
    with open(os.path.join(a.out, "ikev2_decryption_table"), "w") as f:
        done = set()
        for m in ikes:
            sa = (m.spi_i, m.spi_r)
            if sa not in sa_keys or sa in done:
                continue
            done.add(sa)
            i, s = sa_keys[sa]
            ks = keysets[i]
            f.write('%s,%s,%s,%s,"%s",%s,%s,"%s"\n' % (
                m.spi_i.hex(), m.spi_r.hex(), ks["ei"].hex(), ks["er"].hex(), s[5],
                ks.get("ai", b"").hex(), ks.get("ar", b"").hex(), s[6]))
    esp_rows, esp_ok = [], 0
    for c in children:
        # try both directions: key for initiator->responder belongs to one SPI
        for spi, key in ((c["spi_in"], c["ei"]), (c["spi_in"], c["er"]),
                         (c["spi_out"], c["ei"]), (c["spi_out"], c["er"])):
            pk = esps.get(spi)
            if pk and esp_verify(pk[0][2], key) is not None:
                src, dst = pk[0][0], pk[0][1]
                row = '"IPv4","%s","%s","0x%08x","AES-GCM [RFC4106]","0x%s","ANY 128 bit authentication [no checking]","0x"' % (
                    src, dst, spi, key.hex())
                if row not in esp_rows:
                    esp_rows.append(row)
                    esp_ok += 1
    with open(os.path.join(a.out, "esp_sa"), "w") as f:
        for r in esp_rows:
            f.write(r + "\n")
    # ---- key derivation check + keymat.json (known-answer data for ikev2d)
    def bodies(first, data):
        return [(t, b) for t, _c, b, _o in walk(first, data)] if first else []

    def first_body(lst, t):
        for tt, b in lst:
            if tt == t:
                return b
        return None

    def sa_spi(sa_body):
        return sa_body[8:8 + sa_body[6]] if sa_body and len(sa_body) >= 8 else b""

    names = {}
    for n, m in enumerate(ikes, 1):
        names.setdefault(id(m), rows[n - 1][1])
    ike_out, ks_by_sa = [], {}
    for (spi_i, spi_r), (i, suite) in sa_keys.items():
        ks = keysets[i]
        ks_by_sa[(spi_i, spi_r)] = ks
        ent = OrderedDict(spi_i=spi_i.hex(), spi_r=spi_r.hex(), suite=suite[0])
        h = PRF_HASH.get(len(ks.get("skeyseed", b"")))
        ni = nr = old = None
        for rq, rs in pairs:
            q, r = full(rq), full(rs)
            if not q or not r:
                continue
            if q.exch == 34 and q.spi_i == spi_i and r.spi_r == spi_r:
                ni = first_body(bodies(q.np, q.raw[28:q.length]), 40)
                nr = first_body(bodies(r.np, r.raw[28:r.length]), 40)
                ent["created_by"] = [names[id(x)] for x in rq + rs]
            elif q.exch == 36 and q.plain is not None and r.plain is not None:
                qb, rb = bodies(q.inner_np, q.plain), bodies(r.inner_np, r.plain)
                if sa_spi(first_body(qb, 33)) == spi_i and sa_spi(first_body(rb, 33)) == spi_r:
                    ni, nr = first_body(qb, 40), first_body(rb, 40)
                    old = ks_by_sa.get((q.spi_i, q.spi_r)) or keysets[sa_keys[(q.spi_i, q.spi_r)][0]]
                    ent["created_by"] = [names[id(x)] for x in rq + rs]
                    ent["rekeyed_from"] = [q.spi_i.hex(), q.spi_r.hex()]
        ent["prf"] = PRF_NAME.get(len(ks.get("skeyseed", b"")), "?")
        ent["ni"] = ni.hex() if ni else None
        ent["nr"] = nr.hex() if nr else None
        ent["g_ir"] = ks.get("gir", b"").hex()
        for k in ("skeyseed", "d", "ai", "ar", "ei", "er", "pi", "pr"):
            ent["sk_" + k if k != "skeyseed" else k] = ks.get(k, b"").hex()
        ok = False
        if h and ni and nr and "gir" in ks:
            if old is None:
                seed_ok = prf(h, ni + nr, ks["gir"]) == ks["skeyseed"]
            else:
                seed_ok = prf(h, old["d"], ks["gir"] + ni + nr) == ks["skeyseed"]
            allk = b"".join(ks.get(k, b"") for k in ("d", "ai", "ar", "ei", "er", "pi", "pr"))
            ok = seed_ok and prf_plus(h, ks["skeyseed"], ni + nr + spi_i + spi_r, len(allk)) == allk
        ent["derivation_verified"] = ok
        if not ok:
            raise SystemExit("IKE SA %s_i %s_r: logged keys do not re-derive" % (spi_i.hex(), spi_r.hex()))
        ike_out.append(ent)
    child_out = []
    for c in children:
        ent = OrderedDict(name=c["name"], uid=c["uid"], spi_in=c["spi_in"], spi_out=c["spi_out"])
        ent["spi_in"], ent["spi_out"] = "%08x" % c["spi_in"], "%08x" % c["spi_out"]
        ent["pfs_g_ir"] = c.get("gir", b"").hex()
        ent["seed"] = c.get("seed", b"").hex()
        for k in ("ei", "ai", "er", "ar"):
            ent["encr_" + k[1] if k[0] == "e" else "integ_" + k[1]] = c.get(k, b"").hex()
        ent["keymat_from_ike_sa"] = None
        want = b"".join(c.get(k, b"") for k in ("ei", "ai", "er", "ar"))
        for sa, ks in ks_by_sa.items():
            h = PRF_HASH.get(len(ks["d"]))
            if h and "seed" in c and prf_plus(h, ks["d"], c["seed"], len(want)) == want:
                ent["keymat_from_ike_sa"] = [sa[0].hex(), sa[1].hex()]
        if ent["keymat_from_ike_sa"] is None:
            raise SystemExit("CHILD_SA %s{%d}: keys do not re-derive from any SK_d" % (c["name"], c["uid"]))
        # which SPI carries initiator->responder traffic (checked on captured ESP)
        ent["spi_of_encr_i"] = ent["spi_of_encr_r"] = None
        for spi in (c["spi_in"], c["spi_out"]):
            pk = esps.get(spi)
            if pk and esp_verify(pk[0][2], c["ei"]) is not None:
                ent["spi_of_encr_i"] = "%08x" % spi
            if pk and esp_verify(pk[0][2], c["er"]) is not None:
                ent["spi_of_encr_r"] = "%08x" % spi
        if not any({x["spi_in"], x["spi_out"]} == {ent["spi_in"], ent["spi_out"]} for x in child_out):
            child_out.append(ent)
    with open(os.path.join(a.out, "keymat.json"), "w") as f:
        json.dump(OrderedDict(
            scenario=a.scenario, strongswan=a.strongswan,
            note=("IKE SA keys re-derived and checked: SKEYSEED = prf(Ni|Nr, g^ir) "
                  "(rekey: prf(SK_d_old, g^ir|Ni|Nr)), {SK_d..SK_pr} = prf+(SKEYSEED, "
                  "Ni|Nr|SPIi|SPIr). CHILD keys: KEYMAT = prf+(SK_d, seed) = encr_i|integ_i|"
                  "encr_r|integ_r with seed = [g^ir|]Ni|Nr of the exchange that created "
                  "the CHILD_SA; encr_i protects traffic from that exchange's initiator "
                  "(spi_of_encr_i: the SPI that traffic carries, checked against captured "
                  "ESP). spi_in/spi_out are node a's view. AES-GCM keys include the "
                  "4-octet salt."),
            ike_sas=ike_out, child_sas=child_out), f, indent=1)
        f.write("\n")

    print("%s: %d IKE messages, %d IKE SAs decrypted + key derivation re-checked, "
          "%d CHILD_SA keymats re-derived, %d ESP SAs verified on captured ESP"
          % (a.out, len(ikes), len(sa_keys), len(child_out), esp_ok))
    for r in rows:
        print("  %s %-55s %s" % (r[0], r[1], r[14] or r[12]))


if __name__ == "__main__":
    main()
