#!/usr/bin/python3
"""Check a sandbox run's artifacts with a DKIM verifier that is not the sandbox's.

Reads only the run's output directory (no project code):
  zones/<origin>.<serial>.zone  every version of every zone the servers served,
                                as RFC 1035 master files (parsed with dnspython);
  mail/<seq>-<domain>-<region>-<verdict>.eml
                                every message as SES sent it, with the verdict
                                the sandbox reached (mailauth) in its name;
  report.json                   the counts the sandbox reported.

Each message is verified with dkimpy (Debian's python3-dkim), an independent
DKIM implementation, against the zones as they were when it left: the mail
domain's zone at the serial the message records (X-Sandbox-Zone-Serial), CNAMEs
followed across the snapshots into the zone that holds their target (Easy
DKIM's keys live in SES's zone, e.g. dkim.amazonses.com). A zone without a
serial in the message (SES's key zones) must be append-only across its
snapshots (a name never changes value), so its newest version serves every
message; otherwise the verifier says it cannot choose and fails.

Verdicts as the sandbox defines them: pass (a signature of the From domain
verifies), unsigned (no signature of that domain), fail (one present, none
passing). Any disagreement with a file name or with report.json's counts is
printed and the exit status is 1.

Usage: /usr/bin/python3 scripts/verify-artifacts.py <sandbox-out-dir> [--json]
Needs: apt-get install python3-dkim python3-dnspython
"""

import json
import os
import re
import sys
import time as real_time
from email.utils import parsedate_to_datetime

import dkim
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone


class SimulatedClock:
    """dkimpy checks t= against time.time(): verify as of the message's sending."""

    def __init__(self):
        self.now = real_time.time()

    def time(self):
        return self.now


CLOCK = SimulatedClock()
dkim.time = CLOCK  # dkimpy reads time.time() through its module global

ZONE_FILE = re.compile(r"^(?P<origin>.+)\.(?P<serial>\d+)\.zone$")
MAIL_FILE = re.compile(r"^(?P<seq>\d+)-(?P<domain>.+)-(?P<region>[a-z]{2}(-[a-z]+)+-\d+)-(?P<verdict>pass|unsigned|fail)\.eml$")


def load_zones(directory):
    """origin -> {serial: dns.zone.Zone}, each file parsed as a master file with absolute names."""
    zones = {}
    for entry in sorted(os.listdir(directory)):
        m = ZONE_FILE.match(entry)
        if not m:
            raise SystemExit(f"verify-artifacts: zones/{entry}: not <origin>.<serial>.zone")
        origin = dns.name.from_text(m["origin"])
        zone = dns.zone.from_file(
            os.path.join(directory, entry), origin=origin, relativize=False, check_origin=True
        )
        zones.setdefault(origin, {})[int(m["serial"])] = zone
    return zones


def append_only(versions):
    """True when no name holds different TXT/CNAME data in two versions of the zone."""
    seen = {}
    for serial in sorted(versions):
        for name, node in versions[serial].nodes.items():
            for rdataset in node.rdatasets:
                if rdataset.rdtype not in (dns.rdatatype.TXT, dns.rdatatype.CNAME):
                    continue
                key = (name, rdataset.rdtype)
                data = sorted(r.to_text() for r in rdataset)
                if key in seen and seen[key] != data:
                    return False
                seen[key] = data
    return True


class Snapshots:
    def __init__(self, zones):
        self.zones = zones
        self.append_only = {origin: append_only(v) for origin, v in zones.items()}

    def zone_for(self, name, serials):
        """The closest enclosing zone of name, at the serial the message gave for it."""
        candidates = [o for o in self.zones if name.is_subdomain(o)]
        if not candidates:
            return None, f"no snapshot of a zone holding {name}"
        origin = max(candidates, key=lambda o: len(o))
        versions = self.zones[origin]
        serial = serials.get(origin)
        if serial is not None:
            if serial not in versions:
                return None, f"zones/{origin.to_text(True)}.{serial}.zone is missing"
            return versions[serial], None
        if not self.append_only[origin]:
            return None, f"{origin} has no serial in the message and changed values between snapshots"
        return versions[max(versions)], None

    def txt(self, name, serials, depth=0):
        """The DKIM key record at name (CNAMEs followed), or None; and a note."""
        zone, why = self.zone_for(name, serials)
        if zone is None:
            return None, why
        node = zone.get_node(name)
        if node is None:
            return None, f"{name} does not exist (NXDOMAIN)"
        cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
        if cname is not None:
            if depth > 8:
                return None, f"CNAME loop at {name}"
            return self.txt(cname[0].target, serials, depth + 1)
        txt = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.TXT)
        if txt is None:
            return None, f"{name} has no TXT record"
        values = [b"".join(r.strings) for r in txt]
        keys = [v for v in values if v.startswith(b"v=DKIM1")] or values
        return keys[0], None


def header(raw, field):
    m = re.search(rb"^" + field + rb":[ \t]*(.*?)\r?$", raw.split(b"\r\n\r\n", 1)[0], re.I | re.M)
    return m.group(1).decode("latin1").strip() if m else None


def signature_domains(raw):
    head = re.sub(rb"\r\n[ \t]+", b" ", raw.split(b"\r\n\r\n", 1)[0])
    out = []
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"dkim-signature:"):
            d = re.search(rb"[;\s:]d=([^;\s]+)", line)
            out.append(d.group(1).decode("latin1").lower() if d else None)
    return out


def verdict_of(raw, domain, snapshots, notes):
    serials = {}
    serial = header(raw, rb"X-Sandbox-Zone-Serial")
    if serial is not None:
        serials[dns.name.from_text(domain)] = int(serial)
    date = header(raw, rb"Date")
    if date:
        CLOCK.now = parsedate_to_datetime(date).timestamp()
    ours = [i for i, d in enumerate(signature_domains(raw)) if d == domain.lower()]
    if not ours:
        return "unsigned"

    def lookup(name, timeout=5):
        value, why = snapshots.txt(dns.name.from_text(name.decode("ascii")), serials)
        if value is None:
            notes.append(why)
        return value

    for idx in ours:
        try:
            if dkim.DKIM(raw).verify(idx=idx, dnsfunc=lookup):
                return "pass"
        except dkim.DKIMException as err:
            notes.append(str(err))
    return "fail"


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    out = args[0]
    report = json.load(open(os.path.join(out, "report.json")))
    snapshots = Snapshots(load_zones(os.path.join(out, "zones")))
    counts = {"messages": 0, "verified": 0, "unsigned": 0, "failed": 0}
    disagreements = []
    mail_dir = os.path.join(out, "mail")
    for entry in sorted(os.listdir(mail_dir)):
        m = MAIL_FILE.match(entry)
        if not m:
            disagreements.append(f"mail/{entry}: not <seq>-<domain>-<region>-<verdict>.eml")
            continue
        raw = open(os.path.join(mail_dir, entry), "rb").read()
        notes = []
        verdict = verdict_of(raw, m["domain"], snapshots, notes)
        counts["messages"] += 1
        counts[{"pass": "verified", "unsigned": "unsigned", "fail": "failed"}[verdict]] += 1
        if verdict != m["verdict"]:
            why = f" ({'; '.join(notes)})" if notes else ""
            disagreements.append(f"mail/{entry}: dkimpy says {verdict}{why}")
    for key in counts:
        if report.get(key) != counts[key]:
            disagreements.append(f"report.json {key} = {report.get(key)}, dkimpy counts {counts[key]}")
    result = {"dkimpy": counts, "report": {k: report.get(k) for k in counts}, "disagreements": disagreements}
    if "--json" in argv:
        print(json.dumps(result, indent=2))
    else:
        for line in disagreements:
            print(line)
        print(
            f"messages {counts['messages']}  verified by dkimpy {counts['verified']}  "
            f"by report.json {report.get('verified')}  unsigned {counts['unsigned']}  "
            f"failed {counts['failed']}  disagreements {len(disagreements)}"
        )
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
