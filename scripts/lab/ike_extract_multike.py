#!/usr/bin/env python3
"""Extract a strongSwan 6 capture with multiple key exchanges (RFC 9370) into
known-answer data: IKE_SA_INIT + IKE_INTERMEDIATE key updates, CREATE_CHILD_SA +
IKE_FOLLOWUP_KE for CHILD and IKE SA rekeys.

Input:  the pcap of `scripts/strongswan-lab capture mlkem` and the charon file
        logs of both nodes (ike=4 chd=4). strongSwan 6.1 logs, per key
        derivation, `key exchange secret`, `additional key exchange secret`,
        `nonces`, `SKEYSEED`, `Sk_d/ei/er/pi/pr secret` (IKE) and
        `key exchange secret`, `additional key exchange secret`, `seed`,
        `encryption initiator/responder key` (CHILD).
Output (into --out): the .bin messages, decrypted/*.inner.bin, MANIFEST.tsv
        (with a `keys` column: which key set protects each message),
        keymat.json (per IKE SA: every key exchange with its shared secret and
        every key set, round by round; per CHILD SA: its key exchanges, seed
        and keys), esp_sa, and the README.md of the parent directory.

Everything is checked, or the script fails:
  - both charons logged the same secrets and keys;
  - round 0: SKEYSEED = prf(Ni | Nr, SK(0)) and the 7 keys = prf+(SKEYSEED,
    Ni | Nr | SPIi | SPIr);
  - each IKE_INTERMEDIATE round n (RFC 9370 2.2.2): SKEYSEED(n) =
    prf(SK_d(n-1), SK(n) | Ni | Nr) with the IKE_SA_INIT nonces, keys as above;
  - IKE rekey (2.2.4): SKEYSEED = prf(SK_d(old), SK(0) | Ni | Nr | SK(1) | ...)
    with the CREATE_CHILD_SA nonces and the new SPIs;
  - CHILD keys: prf+(SK_d, [SK(0) |] Ni | Nr [| SK(1) ...]);
  - every encrypted IKE message (every SKF fragment) authenticates (AEAD ICV)
    with the key set in force for it and NOT with the other key sets of its IKE
    SA (IKE_INTERMEDIATE round n: keys before that round's update; IKE_AUTH
    and later: the final keys); the ESP keys decrypt the captured ESP packets.

Needs python3 + `cryptography`; shares the pcap/payload/SK helpers of
ike_extract.py.
"""
import argparse
import json
import os
import re
import struct
import sys
from collections import OrderedDict, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ike_extract import (  # noqa: E402
    NOTIFY, PRF_HASH, PRF_NAME, SUITES, esp_verify, parse_header, prf, prf_plus,
    read_pcap, sk_decrypt, summarize, walk)
from cryptography.exceptions import InvalidTag  # noqa: E402

EXCHANGES = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA",
             37: "INFORMATIONAL", 43: "IKE_INTERMEDIATE", 44: "IKE_FOLLOWUP_KE"}
LABEL_EX = {34: "ike_sa_init", 35: "ike_auth", 36: "create_child_sa",
            37: "informational", 43: "ike_intermediate", 44: "ike_followup_ke"}
N_ADDKE = 16441
METHOD_NAME = {31: "CURVE_25519", 35: "ML_KEM_512", 36: "ML_KEM_768", 37: "ML_KEM_1024",
               14: "MODP_2048", 19: "ECP_256", 20: "ECP_384"}
KEYS7 = ("d", "ai", "ar", "ei", "er", "pi", "pr")

LINE = re.compile(r"^(\S+) (\d+)\[(\w+)\] (?:<([^>]*)> )?(.*)$")
DUMP_HDR = re.compile(r"^(.*?) => (\d+) bytes @ (?:0x[0-9a-f]+|\(nil\))$")
DUMP_ROW = re.compile(r"^\s*(\d+): ((?:[0-9A-F]{2} )+)")
ESTABLISHED = re.compile(r"CHILD_SA (\S+)\{(\d+)\} established with SPIs ([0-9a-f]{8})_i ([0-9a-f]{8})_o")


def die(msg):
    raise SystemExit("ike_extract_multike: " + msg)


# ------------------------------------------------------------------ logs
def parse_log(path):
    """Events in log order: ('dump', thread, subsys, label, bytes),
    ('child', thread, name, uid, spi_in, spi_out)."""
    events, pending = [], {}
    with open(path, errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            thread, subsys, text = m.group(2), m.group(3), m.group(5)
            if thread in pending:
                r = DUMP_ROW.match(text)
                if r:
                    p = pending[thread]
                    p[3].extend(bytes.fromhex(r.group(2).replace(" ", "")))
                    if len(p[3]) >= p[2]:
                        events.append(("dump", thread, p[0], p[1], bytes(p[3][:p[2]])))
                        del pending[thread]
                    continue
                die("%s: hex dump of %r cut short" % (path, pending[thread][1]))
            h = DUMP_HDR.match(text)
            if h:
                n = int(h.group(2))
                if n == 0:
                    events.append(("dump", thread, subsys, h.group(1), b""))
                else:
                    pending[thread] = [subsys, h.group(1), n, bytearray()]
                continue
            e = ESTABLISHED.search(text)
            if e:
                events.append(("child", thread, e.group(1), int(e.group(2)),
                               int(e.group(3), 16), int(e.group(4), 16)))
    return events


IKE_NAMES = {"key exchange secret": "ke", "additional key exchange secret": "addke",
             "nonces": "nonces", "SKEYSEED": "skeyseed", "Sk_d secret": "d",
             "Sk_ai secret": "ai", "Sk_ar secret": "ar", "Sk_ei secret": "ei",
             "Sk_er secret": "er", "Sk_pi secret": "pi", "Sk_pr secret": "pr"}
CHD_NAMES = {"key exchange secret": "ke", "additional key exchange secret": "addke",
             "DH secret": "ke", "seed": "seed",
             "encryption initiator key": "ei", "encryption responder key": "er",
             "integrity initiator key": "ai", "integrity responder key": "ar"}


def ike_derivations(events):
    """One dict per IKE key derivation: ke, addke, nonces, skeyseed, d..pr."""
    out, cur = [], {}
    for ev in events:
        if ev[0] != "dump" or ev[2] != "IKE" or ev[3] not in IKE_NAMES:
            continue
        thread, k = ev[1], IKE_NAMES[ev[3]]
        if k == "ke":
            cur[thread] = {}
        c = cur.get(thread)
        if c is None:
            continue
        c[k] = ev[4]
        if k == "pr":
            if "skeyseed" in c and "ei" in c:
                out.append(c)
            del cur[thread]
    return out


def child_derivations(events):
    """One dict per CHILD SA key derivation (ke, addke, seed, ei, er, ai, ar),
    completed by the `established with SPIs` line of the same thread."""
    out, cur = [], {}
    for ev in events:
        if ev[0] == "dump" and ev[2] == "CHD" and ev[3] in CHD_NAMES:
            k = CHD_NAMES[ev[3]]
            c = cur.setdefault(ev[1], {})
            if k == "ke" or (k == "seed" and "ke" not in c):
                c.clear()
            c[k] = ev[4]
        elif ev[0] == "child":
            c = cur.pop(ev[1], None)
            if c and "ei" in c:
                c.update(name=ev[2], uid=ev[3], spi_in=ev[4], spi_out=ev[5])
                out.append(c)
    return out


# ------------------------------------------------------------------ payloads
def bodies(first, data):
    return [(t, b) for t, _c, b, _o in walk(first, data)] if first else []


def first_body(lst, t):
    for tt, b in lst:
        if tt == t:
            return b
    return None


def ke_method(lst):
    b = first_body(lst, 34)
    return struct.unpack("!H", b[0:2])[0] if b is not None else None


def notify_data(lst, ntype):
    for t, b in lst:
        if t == 41 and struct.unpack("!H", b[2:4])[0] == ntype:
            return b[4 + b[1]:]
    return None


def sa_spi(sa_body):
    return sa_body[8:8 + sa_body[6]] if sa_body and len(sa_body) >= 8 else b""


def sa_transforms(sa_body):
    """[(type, id)] of the first proposal of an SA payload."""
    out = []
    spisz, ntr = sa_body[6], sa_body[7]
    off = 8 + spisz
    for _ in range(ntr):
        tlen = struct.unpack("!H", sa_body[off + 2:off + 4])[0]
        out.append((sa_body[off + 4], struct.unpack("!H", sa_body[off + 6:off + 8])[0]))
        off += tlen
    return out


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--log", action="append", default=[], help="node a's log first")
    ap.add_argument("--out", required=True)
    ap.add_argument("--scenario", default="")
    ap.add_argument("--strongswan", default="")
    ap.add_argument("--env", default="", help="lab environment (for the README)")
    a = ap.parse_args()
    if len(a.log) != 2:
        die("need --log of node a and of node b")

    # ---- logs: both nodes must have logged the same derivations
    per_node = [parse_log(p) for p in a.log]
    ike_d = [ike_derivations(ev) for ev in per_node]
    chd_d = [child_derivations(ev) for ev in per_node]
    fp = lambda d: tuple(sorted((k, v) for k, v in d.items() if isinstance(v, bytes)))
    if sorted(map(fp, ike_d[0])) != sorted(map(fp, ike_d[1])):
        die("the two charons logged different IKE key derivations")
    if sorted(map(fp, chd_d[0])) != sorted(map(fp, chd_d[1])):
        die("the two charons logged different CHILD SA keys")
    ike_d, chd_d = ike_d[0], chd_d[0]
    print("logged: %d IKE key derivations, %d CHILD SA key derivations (identical on both nodes)"
          % (len(ike_d), len(chd_d)))

    # ---- pcap
    ikes, esps, t0 = [], defaultdict(list), None
    for ts, src, sport, dst, dport, pl in read_pcap(a.pcap):
        t0 = ts if t0 is None else t0
        if 4500 in (sport, dport):
            if len(pl) == 1 and pl[0] == 0xFF:
                continue
            if pl[:4] != b"\0\0\0\0":
                esps[struct.unpack("!I", pl[:4])[0]].append((src, dst, pl))
                continue
            raw = pl[4:]
        elif 500 in (sport, dport):
            raw = pl
        else:
            continue
        m = parse_header(raw)
        m.ts, m.src, m.sport, m.dst, m.dport = ts - t0, src, sport, dst, dport
        m.port = 4500 if 4500 in (sport, dport) else 500
        m.outer = summarize(m.np, m.raw[28:m.length])
        m.inner, m.inner_np, m.plain, m.frag, m.keys = "", 0, None, None, ""
        ikes.append(m)

    # ---- the first IKE SA from IKE_SA_INIT
    init = [m for m in ikes if m.exch == 34]
    acc = [m for m in init if m.response and first_body(bodies(m.np, m.raw[28:m.length]), 33)]
    if len(acc) != 1:
        die("expected one accepted IKE_SA_INIT response, found %d" % len(acc))
    resp = acc[0]
    req = [m for m in init if not m.response and m.spi_i == resp.spi_i][-1]
    qb, rb = bodies(req.np, req.raw[28:req.length]), bodies(resp.np, resp.raw[28:resp.length])
    ni, nr = first_body(qb, 40), first_body(rb, 40)
    trs = sa_transforms(first_body(rb, 33))
    suite_ids = dict(trs)
    # PRF transform IDs: 2 HMAC-SHA1, 5/6/7 HMAC-SHA2-256/384/512
    h = {2: PRF_HASH[20], 5: PRF_HASH[32], 6: PRF_HASH[48], 7: PRF_HASH[64]}.get(suite_ids.get(2))
    if h is None:
        die("unsupported PRF %r" % suite_ids.get(2))
    prf_len = h().digest_size
    methods = [tid for tt, tid in trs if tt == 4] + [tid for tt, tid in sorted(trs) if 6 <= tt <= 12]
    if ke_method(qb) != ke_method(rb) or ke_method(qb) != methods[0]:
        die("IKE_SA_INIT KE methods %r/%r vs proposal %r" % (ke_method(qb), ke_method(rb), methods))

    used = set()

    def take(pred, what):
        found = [i for i, d in enumerate(ike_d) if i not in used and pred(d)]
        if len(found) != 1:
            die("%s: %d matching logged derivations" % (what, len(found)))
        used.add(found[0])
        return ike_d[found[0]]

    def check_keys(d, seed_in, spi_i, spi_r, what):
        allk = b"".join(d.get(k, b"") for k in KEYS7)
        if prf_plus(h, d["skeyseed"], seed_in + spi_i + spi_r, len(allk)) != allk:
            die("%s: logged SK_* do not re-derive from SKEYSEED" % what)

    sa1 = Sa(1, resp.spi_i, resp.spi_r, ni, nr, [req, resp], None)
    sa1.kes.append(OrderedDict(method=ke_method(qb), exchange="IKE_SA_INIT", msgs=[req, resp]))
    d0 = take(lambda d: d.get("nonces") == ni + nr and not d.get("addke")
              and prf(h, ni + nr, d["ke"]) == d["skeyseed"], "round 0")
    check_keys(d0, ni + nr, sa1.spi_i, sa1.spi_r, "round 0")
    sa1.rounds.append(d0)
    sa1.kes[0]["secret"] = d0["ke"]
    suite = None
    for s in SUITES:
        if (len(d0["ei"]), len(d0.get("ai", b""))) == (s[2], s[3]) and \
                (s[1] == "gcm") == (suite_ids.get(1) in (18, 19, 20)):
            suite = s
            break
    if suite is None:
        die("no SK suite for encryption transform %r" % suite_ids.get(1))

    sas = {(sa1.spi_i, sa1.spi_r): sa1}
    ike_sas = [sa1]
    frags = defaultdict(dict)
    order = []                  # decrypted logical messages (the last datagram of each)
    done = set()                # ids of decrypted datagrams

    def decrypt_pass():
        """Decrypt, in wire order, the datagrams of the IKE SAs known so far. The key
        set in force is the SA's current one; an IKE_INTERMEDIATE response with KE
        makes the next round's keys current."""
        for m in ikes:
            if m.exch == 34 or id(m) in done or (m.spi_i, m.spi_r) not in sas:
                continue
            sa = sas[(m.spi_i, m.spi_r)]
            ok = []
            for i, ks in enumerate(sa.rounds):
                try:
                    ok.append((i, sk_decrypt(m, ks, suite)))
                except (ValueError, InvalidTag, KeyError):
                    continue
            if [i for i, _ in ok] != [sa.cur]:
                die("%s %s msgid %d: authenticates with key sets %r of IKE SA %d, expected "
                    "only %d" % (EXCHANGES.get(m.exch), "resp" if m.response else "req",
                                 m.msgid, [i for i, _ in ok], sa.index, sa.cur))
            done.add(id(m))
            m.sa, m.keys = sa, "sa%d.k%d" % (sa.index, sa.cur)
            np_, pt, fno, ftot = ok[0][1]
            if fno:
                m.frag = (fno, ftot)
                key = (m.spi_i, m.spi_r, m.msgid, m.response, m.from_initiator)
                frags[key][fno] = (np_, pt)
                if len(frags[key]) < ftot:
                    continue
                got = frags.pop(key)
                parts = [got[n] for n in range(1, ftot + 1)]
                m.inner_np, m.plain = parts[0][0], b"".join(p[1] for p in parts)
            else:
                m.inner_np, m.plain = np_, pt
            m.inner = summarize(m.inner_np, m.plain) if m.inner_np else "(empty)"
            m.bodies = bodies(m.inner_np, m.plain)
            order.append(m)
            if m.exch == 43 and m.response and ke_method(m.bodies) is not None:
                intermediate_round(sa, m)

    def intermediate_round(sa, m):
        rq = [x for x in order if x.exch == 43 and not x.response and x.msgid == m.msgid
              and x.sa is sa][-1]
        meth = ke_method(m.bodies)
        if ke_method(rq.bodies) != meth:
            die("IKE_INTERMEDIATE %d: KE methods differ" % m.msgid)
        prev, n = sa.rounds[-1], len(sa.rounds)
        dn = take(lambda d: d.get("nonces") == sa.ni + sa.nr and not d.get("addke")
                  and prf(h, prev["d"], d["ke"] + sa.ni + sa.nr) == d["skeyseed"],
                  "IKE_INTERMEDIATE round %d" % n)
        check_keys(dn, sa.ni + sa.nr, sa.spi_i, sa.spi_r, "round %d" % n)
        sa.rounds.append(dn)
        sa.kes.append(OrderedDict(method=meth, exchange="IKE_INTERMEDIATE",
                                  msgs=frag_group(ikes, rq) + frag_group(ikes, m),
                                  secret=dn["ke"]))
        sa.cur = len(sa.rounds) - 1

    def pair_up(final):
        """[[request, response]] and the CREATE_CHILD_SA chains
        [[kind, [(req, resp), ...]]] (IKE_FOLLOWUP_KE linked by the
        ADDITIONAL_KEY_EXCHANGE notify data)."""
        pairs = []
        for m in order:
            if not m.response:
                pairs.append([m, None])
                continue
            for p in reversed(pairs):
                q = p[0]
                if (p[1] is None and q.sa is m.sa and q.msgid == m.msgid
                        and q.exch == m.exch and q.from_initiator != m.from_initiator):
                    p[1] = m
                    break
            else:
                die("response %s msgid %d without request" % (EXCHANGES.get(m.exch), m.msgid))
        pairs = [p for p in pairs if p[1] is not None or final]
        chains, by_link = [], {}
        for q, r in pairs:
            if r is None:
                die("request %s msgid %d without response" % (EXCHANGES.get(q.exch), q.msgid))
            if q.exch == 36:
                if notify_data(q.bodies, 16393) is not None:
                    kind = "rekey_child"
                elif first_body(q.bodies, 44) is None and first_body(q.bodies, 33):
                    kind = "rekey_ike"
                else:
                    kind = "new_child"
                ch = [kind, [(q, r)]]
                chains.append(ch)
                link = notify_data(r.bodies, N_ADDKE)
                if link is not None:
                    by_link[link] = ch
            elif q.exch == 44:
                link = notify_data(q.bodies, N_ADDKE)
                if link not in by_link:
                    die("IKE_FOLLOWUP_KE msgid %d: ADDITIONAL_KEY_EXCHANGE data matches no "
                        "exchange" % q.msgid)
                ch = by_link.pop(link)
                ch[1].append((q, r))
                nxt = notify_data(r.bodies, N_ADDKE)
                if nxt is not None:
                    by_link[nxt] = ch
        if final and by_link:
            die("CREATE_CHILD_SA announced more key exchanges than took place")
        return pairs, chains

    def chain_kes(steps, what):
        kes = []
        for i, (q, r) in enumerate(steps):
            mq, mr = ke_method(q.bodies), ke_method(r.bodies)
            if mq != mr or mq is None:
                die("%s step %d: KE methods %r/%r" % (what, i, mq, mr))
            kes.append(OrderedDict(method=mq, exchange=EXCHANGES[q.exch],
                                   msgs=frag_group(ikes, q) + frag_group(ikes, r)))
        return kes

    def learn_rekeyed(chains):
        new = 0
        for kind, steps in chains:
            q0, r0 = steps[0]
            if kind != "rekey_ike":
                continue
            spi_i, spi_r = sa_spi(first_body(q0.bodies, 33)), sa_spi(first_body(r0.bodies, 33))
            if (spi_i, spi_r) in sas:
                continue
            ni_, nr_ = first_body(q0.bodies, 40), first_body(r0.bodies, 40)
            kes = chain_kes(steps, kind)
            old = q0.sa.rounds[-1]
            d = take(lambda d: d.get("nonces") == ni_ + nr_ and d.get("ke") is not None and
                     prf(h, old["d"], d["ke"] + ni_ + nr_ + d.get("addke", b"")) == d["skeyseed"],
                     "IKE rekey")
            check_keys(d, ni_ + nr_, spi_i, spi_r, "rekeyed IKE SA")
            # strongSwan logs SK(0) as `key exchange secret` and SK(1)|...|SK(n)
            # as `additional key exchange secret` (concatenated)
            secrets = [d["ke"]] + split_secrets(d.get("addke", b""), kes[1:])
            if len(secrets) != len(kes):
                die("IKE rekey: %d key exchanges on the wire, %d secrets logged" % (len(kes), len(secrets)))
            for k, s in zip(kes, secrets):
                k["secret"] = s
            created = [x for k in kes for x in k["msgs"]]
            n = Sa(len(ike_sas) + 1, spi_i, spi_r, ni_, nr_, created, q0.sa)
            n.rounds, n.kes = [d], kes
            ike_sas.append(n)
            sas[(spi_i, spi_r)] = n
            new += 1
        return new

    while True:
        decrypt_pass()
        _, chains = pair_up(False)
        if not learn_rekeyed(chains):
            break
    left = [m for m in ikes if m.exch != 34 and id(m) not in done]
    if left:
        die("%d encrypted datagrams of unknown IKE SAs" % len(left))
    if frags:
        die("incomplete fragmented messages: %r" % list(frags))
    pairs, chains = pair_up(True)
    for q, r in pairs:
        q.label = r.label = label_of(q, chains)

    # ---- CHILD SAs
    child_out, used_c = [], set()

    def find_child(spi_a, spi_b):
        for i, c in enumerate(chd_d):
            if i not in used_c and {c["spi_in"], c["spi_out"]} == {spi_a, spi_b}:
                used_c.add(i)
                return c
        die("no logged CHILD SA keys for SPIs %08x/%08x" % (spi_a, spi_b))

    def child_entry(c, created, sa, kes, ni_, nr_):
        round_i = len(sa.rounds) - 1
        ks = sa.rounds[round_i]
        seed = (kes[0]["secret"] if kes else b"") + ni_ + nr_ + b"".join(k["secret"] for k in kes[1:])
        if c.get("seed") != seed:
            die("CHILD_SA %s{%d}: logged seed is not [SK(0)|]Ni|Nr[|SK(1)...]" % (c["name"], c["uid"]))
        want = b"".join(c.get(k, b"") for k in ("ei", "ai", "er", "ar"))
        if prf_plus(h, ks["d"], seed, len(want)) != want:
            die("CHILD_SA %s{%d}: keys do not re-derive from SK_d" % (c["name"], c["uid"]))
        e = OrderedDict(name=c["name"], uid=c["uid"], spi_in="%08x" % c["spi_in"],
                        spi_out="%08x" % c["spi_out"])
        e["created_by"] = [fname(x) for x in created]
        e["ike_sa"] = sa.index
        e["sk_d_of"] = "sa%d.k%d" % (sa.index, round_i)
        e["key_exchanges"] = [ke_json(k) for k in kes]
        e["ni"], e["nr"], e["seed"] = ni_.hex(), nr_.hex(), seed.hex()
        for k, n in (("ei", "encr_i"), ("ai", "integ_i"), ("er", "encr_r"), ("ar", "integ_r")):
            e[n] = c.get(k, b"").hex()
        e["spi_of_encr_i"] = e["spi_of_encr_r"] = None
        for spi in (c["spi_in"], c["spi_out"]):
            pk = esps.get(spi)
            if pk and esp_verify(pk[0][2], c["ei"]) is not None:
                e["spi_of_encr_i"] = "%08x" % spi
            if pk and esp_verify(pk[0][2], c["er"]) is not None:
                e["spi_of_encr_r"] = "%08x" % spi
        if not e["spi_of_encr_i"] or not e["spi_of_encr_r"]:
            die("CHILD_SA %s{%d}: keys do not decrypt captured ESP" % (c["name"], c["uid"]))
        return e

    def esp_spis(q, r):
        return (struct.unpack("!I", sa_spi(first_body(q.bodies, 33)))[0],
                struct.unpack("!I", sa_spi(first_body(r.bodies, 33)))[0])

    # names are needed for created_by: assign them now
    assign_names(ikes, pairs)
    for q, r in pairs:
        if q.exch == 35 and first_body(r.bodies, 33):
            c = find_child(*esp_spis(q, r))
            if "ke" in c:
                die("IKE_AUTH CHILD SA with a key exchange secret")
            child_out.append(child_entry(c, frag_group(ikes, q) + frag_group(ikes, r), q.sa,
                                         [], q.sa.ni, q.sa.nr))
    for kind, steps in chains:
        if kind == "rekey_ike":
            continue
        q0, r0 = steps[0]
        kes = chain_kes(steps, kind)
        c = find_child(*esp_spis(q0, r0))
        secrets = ([c["ke"]] + split_secrets(c.get("addke", b""), kes[1:])) if "ke" in c else []
        if len(secrets) != len(kes):
            die("%s: %d key exchanges on the wire, %d secrets logged" % (kind, len(kes), len(secrets)))
        for k, s in zip(kes, secrets):
            k["secret"] = s
        created = [x for k in kes for x in k["msgs"]]
        child_out.append(child_entry(c, created, q0.sa, kes, first_body(q0.bodies, 40),
                                     first_body(r0.bodies, 40)))
    if used != set(range(len(ike_d))):
        die("logged IKE key derivations not matched: %r" % sorted(set(range(len(ike_d))) - used))
    if used_c != set(range(len(chd_d))):
        die("logged CHILD SA keys not matched")
    for ex in (43, 44):
        if not any(x.exch == ex for x in order):
            die("no %s exchange in the capture" % EXCHANGES[ex])

    write_out(a, ikes, ike_sas, child_out, methods, suite_ids, suite, prf_len, esps)


class Sa:
    def __init__(self, index, spi_i, spi_r, ni, nr, created_by, parent):
        self.index, self.spi_i, self.spi_r, self.ni, self.nr = index, spi_i, spi_r, ni, nr
        self.created_by, self.parent = created_by, parent
        self.rounds, self.kes, self.cur = [], [], 0


def ke_json(k):
    return OrderedDict(method=k["method"], method_name=METHOD_NAME.get(k["method"], "?"),
                       exchange=k["exchange"], files=[fname(x) for x in k["msgs"]],
                       shared_secret=k["secret"].hex())


def frag_group(ikes, m):
    """All datagrams of the logical message m (its SKF fragments, or just m)."""
    if not m.frag:
        return [m]
    return [x for x in ikes if x.frag and x.exch == m.exch and x.msgid == m.msgid and
            x.response == m.response and x.from_initiator == m.from_initiator and
            x.spi_i == m.spi_i and x.spi_r == m.spi_r]


def label_of(q, chains):
    ex = LABEL_EX.get(q.exch, "exch%d" % q.exch)
    r = q.inner
    if q.exch in (36, 44):
        for kind, steps in chains:
            if any(x is q for x, _ in steps):
                return ex + "_" + kind
        return ex
    if q.exch == 37:
        if "D(IKE)" in r:
            return ex + "_delete_ike"
        if "D(ESP" in r or "D(AH" in r:
            return ex + "_delete_child"
        if r == "(empty)":
            return ex + "_dpd"
        if "ADDITIONAL_ADDRESSES" in r or "ADDITIONAL_IP" in r:
            return ex + "_mobike_addresses"
    return ex


_names = {}


def fname(m):
    return _names[id(m)]


def assign_names(ikes, pairs):
    """NN-<label>-<req|resp>-<port>[-fragKofN].bin for every datagram."""
    labels = {}
    for q, r in pairs:
        for x in frag_group(ikes, q):
            labels[id(x)] = q.label
        for x in frag_group(ikes, r):
            labels[id(x)] = r.label
    for n, m in enumerate(ikes, 1):
        lab = "ike_sa_init" if m.exch == 34 else labels.get(id(m))
        if lab is None:
            die("message %d has no label" % n)
        fn = "%02d-%s-%s-%d" % (n, lab, "resp" if m.response else "req", m.port)
        if m.frag:
            fn += "-frag%dof%d" % m.frag
        _names[id(m)] = fn + ".bin"


def split_secrets(add, kes):
    """strongSwan logs the secrets of the additional key exchanges concatenated;
    split them by the methods' shared secret sizes."""
    if len(kes) <= 1:
        return [add] if kes else []
    size = {31: 32, 32: 56, 35: 32, 36: 32, 37: 32, 19: 32, 20: 48, 21: 66, 14: 256, 15: 384}
    out, off = [], 0
    for k in kes:
        n = size.get(k["method"])
        if n is None:
            die("unknown shared secret size of method %d" % k["method"])
        out.append(add[off:off + n])
        off += n
    if off != len(add):
        die("additional key exchange secret of %d octets, expected %d" % (len(add), off))
    return out


def write_out(a, ikes, ike_sas, child_out, methods, suite_ids, suite, prf_len, esps):
    os.makedirs(os.path.join(a.out, "decrypted"), exist_ok=True)
    for f in os.listdir(a.out):
        if f.endswith(".bin"):
            os.remove(os.path.join(a.out, f))
    for f in os.listdir(os.path.join(a.out, "decrypted")):
        os.remove(os.path.join(a.out, "decrypted", f))
    rows = []
    for n, m in enumerate(ikes, 1):
        fn = fname(m)
        with open(os.path.join(a.out, fn), "wb") as f:
            f.write(m.raw[:m.length])
        plainfile = ""
        if m.plain is not None and m.exch != 34:
            plainfile = "decrypted/%s.inner.bin" % fn[:-len(".bin")].rsplit("-", 2 if m.frag else 1)[0]
            with open(os.path.join(a.out, plainfile), "wb") as f:
                f.write(m.plain)
        rows.append([
            "%02d" % n, fn, "%.3f" % m.ts, "%s:%d" % (m.src, m.sport), "%s:%d" % (m.dst, m.dport),
            EXCHANGES.get(m.exch, str(m.exch)), str(m.msgid),
            (("I" if m.from_initiator else "") + ("R" if m.response else "")) or "-",
            m.spi_i.hex(), m.spi_r.hex(), str(m.length),
            str(m.sa.index) if m.exch != 34 else "-", m.keys or "-",
            m.outer, str(m.inner_np) if m.plain is not None and m.exch != 34 else "",
            m.inner, plainfile])
    with open(os.path.join(a.out, "MANIFEST.tsv"), "w") as f:
        f.write("# scenario=%s strongswan=%s; .bin = IKE message as on the wire "
                "(UDP payload, port-4500 non-ESP marker stripped); keys = key set "
                "(keymat.json ike_sas[sa-1].keys[k]) that protects it\n" % (a.scenario, a.strongswan))
        f.write("\t".join(["nn", "file", "t_s", "src", "dst", "exchange", "msgid", "flags",
                           "spi_i", "spi_r", "len", "ike_sa", "keys", "outer_payloads",
                           "inner_first_payload", "inner_payloads", "plaintext_file"]) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")

    # keymat.json
    suite_name = {20: "AES_GCM_16_256"}.get(suite_ids.get(1), suite[0])
    ike_out = []
    for sa in ike_sas:
        e = OrderedDict(index=sa.index, spi_i=sa.spi_i.hex(), spi_r=sa.spi_r.hex(),
                        suite=suite_name, prf=PRF_NAME.get(prf_len, "?"),
                        ke_methods=methods)
        e["created_by"] = [fname(x) for x in sa.created_by]
        e["rekeyed_from"] = [sa.parent.spi_i.hex(), sa.parent.spi_r.hex()] if sa.parent else None
        e["ni"], e["nr"] = sa.ni.hex(), sa.nr.hex()
        e["key_exchanges"] = [ke_json(k) for k in sa.kes]
        e["keys"] = []
        for i, ks in enumerate(sa.rounds):
            ke = OrderedDict(name="sa%d.k%d" % (sa.index, i))
            ke["after_key_exchanges"] = (i + 1) if sa.parent is None else len(sa.kes)
            ke["skeyseed"] = ks["skeyseed"].hex()
            for k in KEYS7:
                ke["sk_" + k] = ks.get(k, b"").hex()
            ke["protects"] = [r[1] for r in rows if r[12] == ke["name"]]
            e["keys"].append(ke)
        ike_out.append(e)
    esp_rows = []
    for c in child_out:
        for spi, key in ((c["spi_of_encr_i"], c["encr_i"]), (c["spi_of_encr_r"], c["encr_r"])):
            pk = esps[int(spi, 16)][0]
            esp_rows.append('"IPv4","%s","%s","0x%s","AES-GCM [RFC4106]","0x%s",'
                            '"ANY 128 bit authentication [no checking]","0x"' % (pk[0], pk[1], spi, key))
    with open(os.path.join(a.out, "esp_sa"), "w") as f:
        f.write("".join(r + "\n" for r in esp_rows))
    with open(os.path.join(a.out, "keymat.json"), "w") as f:
        json.dump(OrderedDict(
            scenario=a.scenario, strongswan=a.strongswan, format="multike-1",
            note=("All values logged by the charons (ike=4, chd=4), identical on both "
                  "nodes, and re-derived by scripts/lab/ike_extract_multike.py. Per IKE SA: "
                  "key_exchanges in order (SK(0), SK(1), ...; shared_secret = the X25519 "
                  "g^ir or the ML-KEM shared secret); keys[k] = the k-th key set: "
                  "k0 of the first SA: SKEYSEED = prf(Ni|Nr, SK(0)); k(n): SKEYSEED = "
                  "prf(SK_d(n-1), SK(n)|Ni|Nr) after IKE_INTERMEDIATE n (RFC 9370 2.2.2); "
                  "a rekeyed SA: SKEYSEED = prf(SK_d(old, last key set), SK(0)|Ni|Nr|SK(1)) "
                  "with the CREATE_CHILD_SA nonces (2.2.4); SK_* = prf+(SKEYSEED, "
                  "Ni|Nr|SPIi|SPIr). `protects` = the datagrams whose ICV that key set "
                  "checks (and no other set of the SA does). CHILD SAs: seed = "
                  "[SK(0)|]Ni|Nr[|SK(1)], KEYMAT = prf+(SK_d of key set sk_d_of, seed) = "
                  "encr_i|encr_r (AES-GCM keys include the 4-octet salt); encr_i protects "
                  "traffic from the creating exchange's initiator and is carried by SPI "
                  "spi_of_encr_i (checked on captured ESP). spi_in/spi_out: node a's view."),
            ike_sas=ike_out, child_sas=child_out), f, indent=1)
        f.write("\n")
    write_readme(a, rows, ike_out, child_out)
    print("%s: %d IKE messages (%d decrypted with the key set in force and no other), "
          "%d IKE SAs with %s key sets, %d CHILD SAs, all re-derived"
          % (a.out, len(ikes), sum(1 for r in rows if r[12] != "-"), len(ike_out),
             "+".join(str(len(e["keys"])) for e in ike_out), len(child_out)))
    for r in rows:
        print("  %s %-58s %-7s %s" % (r[0], r[1], r[12], r[15] or r[13]))


README_HEAD = """# strongSwan 6 IKEv2 captures (RFC 9370 multiple key exchanges)

Real IKEv2 exchanges between two strongSwan {version} charons (Debian sid
packages in a chroot built by `scripts/strongswan6-chroot`, kernel-libipsec
userspace IPsec), recorded on the veth between two network namespaces by
`scripts/strongswan-lab capture --strongswan6` (see docs/strongswan-lab.md).
Everything here is generated by `scripts/lab/ike_extract_multike.py`;
re-running the capture replaces it (SPIs, nonces and keys change every run).
Checked by `ikev2/tests/strongswan/multike.rs`.

Setup as in `../strongswan/README.md` (node a = 192.0.2.1 initiates, PSK
`ikev2d-strongswan-lab-psk`, IDs = addresses, CHILD_SA `net` 10.1.0.0/24 <->
10.2.0.0/24, NAT-T on port 4500 forced by kernel-libipsec, MOBIKE on), same
sequence: initiate, ping, `swanctl --rekey --child net`, ping,
`swanctl --rekey --ike lab`, ping, terminate child, terminate IKE SA.

## What strongSwan 6.1 logs (ike=4, chd=4), and how it was used

Per IKE key derivation (IKE_SA_INIT, each IKE_INTERMEDIATE round, IKE rekey):
`key exchange secret` (the first key exchange of that derivation: X25519 g^ir
in IKE_SA_INIT and the rekey, the ML-KEM-768 shared secret in the
IKE_INTERMEDIATE round), `additional key exchange secret` (the secrets of the
further key exchanges, concatenated: empty except for the rekey, where it is
the ML-KEM secret from IKE_FOLLOWUP_KE), `nonces` (Ni | Nr), `SKEYSEED`,
`Sk_d/ei/er/pi/pr secret` (no Sk_a* with AES-GCM). Per CHILD SA: `key exchange
secret`, `additional key exchange secret` (rekey only), `seed`, `encryption
initiator/responder key`. It also logs the RFC 9242 IntAuth computation
(`IntAuth_A|P`, `IntAuth_N = prf(Sk_px, data)`) and the AUTH octets; those are
left in the logs, not extracted. Nothing needed was missing: every shared
secret is logged. The private values (X25519 scalars, ML-KEM decapsulation
keys) are not, so the shared secrets cannot be recomputed from the KE
payloads; they are proven by the keys derived from them, which authenticate
the captured messages and ESP packets.

## Files

| file | content |
| --- | --- |
| `NN-<label>-<req\\|resp>-<port>[-fragKofN].bin` | one IKE message (UDP payload, port-4500 non-ESP marker stripped), NN = wire order; `fragKofN` = SKF fragment (the ML-KEM messages are fragmented at 1280 octets) |
| `decrypted/<NN-label-req\\|resp>.inner.bin` | the decrypted inner payload chain (fragments reassembled, named after the last fragment) |
| `MANIFEST.tsv` | one row per .bin; as in ../strongswan plus column `keys`: the key set (`saS.kK` = keymat.json `ike_sas[S-1].keys[K]`) whose ICV check the message passes (and no other key set of that SA does) |
| `keymat.json` | per IKE SA: `key_exchanges` (method, exchange, files, `shared_secret`) in RFC 9370 order SK(0), SK(1); `keys`: every key set (SKEYSEED, SK_d..SK_pr) in order, with `after_key_exchanges` and the datagrams it `protects`. Per CHILD SA: `key_exchanges`, Ni, Nr, `seed` = [SK(0)\\|]Ni\\|Nr[\\|SK(1)], `encr_i/encr_r` (AES-GCM key + 4-octet salt), `sk_d_of` (key set whose SK_d made it), SPIs (`spi_of_encr_i` checked on captured ESP) |
| `esp_sa` | Wireshark ESP SA lines, checked on the captured ESP |
| `charon-a-initiator.log`, `charon-b-responder.log` | the charon logs the keys come from |
| `config.txt` | swanctl.conf / strongswan.conf used |
| `capture.pcap` | the capture (local only: `*.pcap` is git-ignored; the lab deletes it if over 200 KB) |

Labels: `ike_intermediate` (KE of ML-KEM-768 in IKE_SA setup),
`create_child_sa_rekey_child` / `ike_followup_ke_rekey_child` (CHILD SA rekey:
KE X25519 in CREATE_CHILD_SA, then KE ML-KEM-768 in IKE_FOLLOWUP_KE, linked by
N(ADDITIONAL_KEY_EXCHANGE)), `create_child_sa_rekey_ike` /
`ike_followup_ke_rekey_ike` (IKE SA rekey, the same two steps), others as in
../strongswan.
"""


def write_readme(a, rows, ike_out, child_out):
    parent = os.path.dirname(os.path.abspath(a.out))
    name = os.path.basename(os.path.abspath(a.out))
    sel = []
    with open(os.path.join(a.out, "charon-a-initiator.log"), errors="replace") as f:
        for line in f:
            mm = re.search(r"selected proposal: (\S+)", line)
            if mm and mm.group(1) not in sel:
                sel.append(mm.group(1))
    out = [README_HEAD.format(version=a.strongswan)]
    out.append("\n## `%s/`\n" % name)
    out.append("IKE proposal `aes256gcm16-prfsha384-x25519-ke1_mlkem768`, ESP "
               "`aes256gcm16-x25519-ke1_mlkem768` on both nodes (strongSwan %s): X25519 in "
               "IKE_SA_INIT plus ML-KEM-768 (transform type 6 ADDKE1, id 36) in one "
               "IKE_INTERMEDIATE exchange; the CHILD SA rekey and the IKE SA rekey each run "
               "CREATE_CHILD_SA (X25519) + IKE_FOLLOWUP_KE (ML-KEM-768). The CHILD SA made in "
               "IKE_AUTH has no key exchange of its own: KEYMAT = prf+(SK_d, Ni | Nr) with the "
               "SK_d of the last key set (after the IKE_INTERMEDIATE update).\n" % a.strongswan)
    out.append("- lab environment: `%s`" % a.env)
    out.append("- negotiated: %s" % ", ".join("`%s`" % s for s in sel))
    out.append("- %d IKE messages, %d IKE SAs (key sets: %s), %d CHILD_SAs (keys in keymat.json)\n"
               % (len(rows), len(ike_out), ", ".join(
                   "SA %d: %d" % (e["index"], len(e["keys"])) for e in ike_out), len(child_out)))
    out.append("| file | exchange | msgid | flags | from -> to | bytes | keys | payloads (decrypted for SK) |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        pl = r[15] or r[13]
        if r[13].startswith("SKF") and not r[15]:
            pl = r[13] + " (not last fragment)"
        out.append("| `%s` | %s | %s | %s | %s -> %s | %s | %s | %s |"
                   % (r[1], r[5], r[6], r[7], r[3], r[4], r[10], r[12], pl))
    with open(os.path.join(parent, "README.md"), "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
