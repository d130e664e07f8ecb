#!/usr/bin/env python3
"""Write ikev2/tests/data/strongswan/README.md from the scenario directories
(MANIFEST.tsv, config.txt, keymat.json, charon logs). Run by
`scripts/strongswan-lab capture`; safe to re-run by hand."""
import csv
import json
import os
import re
import sys

DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "ikev2", "tests", "data", "strongswan")

SCENARIOS = [
    ("modp2048", "Default proposals: IKE aes256-sha256-modp2048 (group 14), ESP aes256gcm16 "
     "(no PFS). dpd_delay=3s with 4 s idle, so one DPD (empty INFORMATIONAL) is in the capture."),
    ("curve25519", "IKE aes256-sha256-curve25519 (group 31), ESP aes256gcm16."),
    ("aead-pfs", "IKE with an AEAD: aes256gcm16-prfsha256-curve25519 (SK payload is "
     "AES-GCM-16, RFC 5282); ESP aes256gcm16-curve25519, so the CHILD_SA rekey carries KE (PFS)."),
    ("invalid-ke", "Initiator proposes aes256-sha256-modp2048-ecp256 (sends KE group 14), "
     "responder only accepts ecp256: IKE_SA_INIT answered with INVALID_KE_PAYLOAD (group 19), "
     "initiator retries with KE group 19 (same SPIi, msgid 0)."),
    ("fragmentation", "RFC 7383 IKE fragmentation: fragmentation=yes, charon.fragment_size=200 "
     "(max IP datagram size), and a long ESP proposal list to make IKE_AUTH bigger. IKE_AUTH "
     "request/response, the CHILD_SA rekey and the IKE rekey are sent as SKF fragments."),
    ("responder-rekey", "Same as modp2048 but ESP with PFS (aes256gcm16-modp2048) and the "
     "rekeys/deletes are started by node b, the original responder: requests without the "
     "I flag, SK_er-protected requests, and an IKE rekey that makes b the initiator of the new IKE SA."),
]

HEADER = """# strongSwan IKEv2 captures (test vectors for ikev2d)

Real IKEv2 exchanges between two strongSwan {version} charons (Debian 12
packages, kernel-libipsec userspace IPsec), recorded on the veth between two
network namespaces by `scripts/strongswan-lab capture` (see
docs/strongswan-lab.md). Everything here is generated; re-running the capture
replaces it (SPIs, nonces and keys change every run).

## Setup common to all scenarios

- node a = 192.0.2.1 (initiator of the first IKE SA), node b = 192.0.2.2
- PSK auth, both IDs are the IPv4 addresses (ID_IPV4_ADDR), PSK
  `ikev2d-strongswan-lab-psk`
- CHILD_SA `net`: tunnel mode, TS 10.1.0.0/24 <-> 10.2.0.0/24
- kernel-libipsec only does UDP-encapsulated ESP, so charon fakes NAT-D
  (the NAT_DETECTION hashes in IKE_SA_INIT deliberately do not match) and
  everything after IKE_SA_INIT runs on UDP 4500, MOBIKE enabled (default).
- Sequence in every scenario: initiate (IKE_SA_INIT + IKE_AUTH with the
  CHILD_SA), ping through the tunnel, `swanctl --rekey --child net`, ping,
  `swanctl --rekey --ike lab`, ping, `swanctl --terminate --child net`,
  `swanctl --terminate --ike lab`. charon also sends MOBIKE address-list
  INFORMATIONALs (`N(NO_ADDITIONAL_ADDRESSES)`) on its own when the TUN
  device/routes change; how many and when varies between runs.

## Files in each scenario directory

| file | content |
| --- | --- |
| `NN-<label>-<req\\|resp>-<port>[-fragKofN].bin` | one IKE message exactly as sent (the UDP payload). **For port 4500 the 4-octet zero non-ESP marker is stripped**, so every .bin starts with the IKE header. NN = order on the wire. `<port>` is the UDP port pair (500 or 4500). `fragKofN` = an SKF (RFC 7383) fragment. |
| `decrypted/NN-<label>-<req\\|resp>.inner.bin` | the decrypted content of the SK (or reassembled SKF) payload: the inner payload chain, padding and pad length removed. Its first payload type is column `inner_first_payload` of MANIFEST.tsv (the SK/first SKF header's next-payload). For fragmented messages it carries the NN of the last fragment. |
| `MANIFEST.tsv` | one row per .bin: time, src/dst ip:port, exchange, msgid, flags (I = from original initiator, R = response), SPIs, length, which IKE SA (1 = first, 2 = after IKE rekey), outer payloads, decrypted inner payloads. |
| `keymat.json` | per IKE SA: Ni, Nr, g^ir, SKEYSEED, SK_d/ai/ar/ei/er/pi/pr, which messages created it; per CHILD_SA: seed (= [g^ir] Ni Nr), encr/integ keys, SPIs. All re-derived and checked by scripts/lab/ike_extract.py (known-answer data for prf/prf+/SKEYSEED/KEYMAT). AES-GCM keys include the 4-octet salt. |
| `ikev2_decryption_table` | the same IKE keys in Wireshark's UAT format (what strongSwan's save-keys plugin writes): `SPIi,SPIr,SK_ei,SK_er,"enc",SK_ai,SK_ar,"integ"`. Copy to `~/.config/wireshark/` to decrypt capture.pcap. |
| `esp_sa` | Wireshark ESP SA UAT lines for the CHILD_SAs (checked against the captured ESP packets). |
| `capture.pcap` | the full capture (tcpdump on node a's veth, UDP 500/4500, incl. ESP-in-UDP of the pings). |
| `charon-a-initiator.log`, `charon-b-responder.log` | charon file logs (`ike=4 chd=4 net=2 cfg=2 knl=2`, the level-4 lines contain the keys). |
| `config.txt` | the exact swanctl.conf / strongswan.conf used. |

The labels come from the decrypted content: `ike_sa_init_invalid_ke` (answered
by INVALID_KE_PAYLOAD), `create_child_sa_rekey_child` (N(REKEY_SA)),
`create_child_sa_rekey_ike` (SA+KE, no TS), `informational_delete_child` /
`_delete_ike` (D payload), `informational_dpd` (empty request),
`informational_mobike_addresses` (N(NO_ADDITIONAL_ADDRESSES)); responses carry
the label of their request.

Keys were **not** taken from strongSwan's save-keys plugin (Debian does not
build it) but parsed from the level-4 (`ike=4`, `chd=4`) charon log lines
`Sk_ei secret => ...` etc.; ike_extract.py proves them by checking every
encrypted message's ICV/HMAC, re-deriving them from g^ir and the nonces, and
decrypting the captured ESP.
"""


def main():
    version = "?"
    out = [None]
    for name, desc in SCENARIOS:
        d = os.path.join(DATA, name)
        man = os.path.join(d, "MANIFEST.tsv")
        if not os.path.exists(man):
            continue
        with open(man) as f:
            first = f.readline()
            m = re.search(r"strongswan=(\S+?);", first)
            if m:
                version = m.group(1)
            rows = list(csv.DictReader(f, delimiter="\t"))
        sel = []
        for lg in ("charon-a-initiator.log",):
            with open(os.path.join(d, lg), errors="replace") as f:
                for line in f:
                    mm = re.search(r"selected proposal: (\S+)", line)
                    if mm and mm.group(1) not in sel:
                        sel.append(mm.group(1))
        env = ""
        with open(os.path.join(d, "config.txt")) as f:
            for line in f:
                if line.startswith("# env:"):
                    env = line[len("# env:"):].strip()
        km = json.load(open(os.path.join(d, "keymat.json")))
        out.append("\n## `%s/`\n\n%s\n\n- lab environment: `%s`\n- negotiated: %s\n- %d IKE messages, %d IKE SAs, %d CHILD_SAs (keys in keymat.json)\n"
                   % (name, desc, env, ", ".join("`%s`" % s for s in sel), len(rows),
                      len(km["ike_sas"]), len(km["child_sas"])))
        out.append("| file | exchange | msgid | flags | from -> to | bytes | payloads (decrypted for SK) |")
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            pl = r["inner_payloads"] or r["outer_payloads"]
            if r["outer_payloads"].startswith("SKF") and not r["inner_payloads"]:
                pl = r["outer_payloads"] + " (not last fragment)"
            out.append("| `%s` | %s | %s | %s | %s -> %s | %s | %s |" % (
                r["file"], r["exchange"], r["msgid"], r["flags"], r["src"], r["dst"], r["len"], pl))
    out[0] = HEADER.format(version=version)
    with open(os.path.join(DATA, "README.md"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", os.path.join(DATA, "README.md"))


if __name__ == "__main__":
    main()
