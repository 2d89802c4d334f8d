"""test_migrate_svg.py: `capctl migrate --svg FILE` draws the migration's timeline: a capsule with three counting clients (two ordinary, one through a capsule peer) moves A -> B, back, and A -> B again (with --json); each picture is well-formed SVG naming both hosts, every phase with the figures capctl printed, the messages, the downtime and one bar per TCP connection with the gap the hosts measured, which agrees with what the clients saw; a --svg that cannot be written is a usage error before anything moves.

Topology (topolib.Topology): hosts A B G (ids 1-3), G the gateway for the
ordinary clients; X = images/counter on A; R = images/relayer on B, each of
its clients relayed on its own connection to X:9000.  Three clients ask for
the next number of X's one count in a loop through the whole test: two
straight to X (through G), one through R.  X's TCP connections are exactly
those three: its gaps are measured on G (the two ordinary clients, into
capgw) and on B (R's, onto R's uplink).
"""
import json
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET

from miglib import (MIG_PHASES, CountClient, Tap, Topology, check, check_eq, migrate_run,
                    wait_listed_only_on)

SVG = "{http://www.w3.org/2000/svg}"


def diag(text):
    print("# " + text, flush=True)


def svg_texts(root):
    """Every text element's whole text (tspans included), in document order."""
    return ["".join(t.itertext()) for t in root.iter(SVG + "text")]


# How much longer the host may measure a silence than a client sees it between two answers:
# the two ends of it pass the host and reach the client a hop apart.
GAP_SLACK_MS = 15


def check_gaps(j, clients, relay_ip, gw_id, relay_host_id):
    """The --json connections are exactly the test's three, each with a silence the host saw
    ended (resumed), not shorter than the downtime (it spans the freeze .. the start) and not
    longer than its client's longest wait between answers."""
    g = j["gaps"]
    check(g["measured"] is True, "gaps not measured: %r" % (g,))
    check_eq((g["hosts_answered"], g["more"]), (g["hosts_asked"], 0),
             "hosts that answered, connections left out")
    conns = j["connections"]
    direct = {"%s:%d" % c.sock.getsockname(): c for c in clients[:2]}
    seen = sorted(c["peer"] for c in conns)
    relayed = [c for c in conns if c["peer"].split(":")[0] == relay_ip]
    check_eq(len(conns), 3, "connections listed: %r" % (conns,))
    check_eq(sorted(c["peer"] for c in conns if c["peer"] in direct), sorted(direct),
             "the ordinary clients among %r" % seen)
    check_eq(len(relayed), 1, "R's connection among %r" % seen)
    for c in conns:
        client = direct.get(c["peer"], clients[2])
        host = relay_host_id if c in relayed else gw_id
        waited = client.longest_between * 1000
        diag("connection %s -> :%d: gap %d ms measured on host %d (from %d ms after its "
             "SYNC), client's longest wait between answers %.1f ms" % (
                 c["peer"], c["capsule_port"], c["gap_ms"], c["host"], c["start_ms"], waited))
        check_eq((c["capsule_port"], c["host"], c["resumed"]), (9000, host, True),
                 "port, measuring host, resumed of %r" % (c,))
        check(c["gap_ms"] > 0, "gap of %r is not above 0" % (c,))
        check(c["gap_ms"] >= j["downtime_ms"] - GAP_SLACK_MS,
              "the hosts measured a %d ms gap on %s, shorter than the %d ms downtime" % (
                  c["gap_ms"], c["peer"], j["downtime_ms"]))
        check(waited >= c["gap_ms"] - GAP_SLACK_MS,
              "the hosts measured a %d ms gap on %s, its client waited at most %.1f ms between "
              "answers" % (c["gap_ms"], c["peer"], waited))
    return conns


def check_svg(path, name, src, dst, phases_ms, downtime_ms, nconns):
    """The file is one well-formed SVG document drawing this migration."""
    check(os.path.isfile(path), "capctl migrate --svg wrote no %s" % path)
    leftovers = [f for f in os.listdir(os.path.dirname(path)) if ".tmp" in f]
    check_eq(leftovers, [], "temp files left beside %s" % path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise AssertionError("%s is not well-formed XML: %s" % (path, e))
    check_eq(root.tag, SVG + "svg", "root element of %s" % path)
    title = root.find(SVG + "title")
    check(title is not None and title.text == "live migration of capsule %s from host %d to "
          "host %d" % (name, src, dst), "title of %s: %r" % (
              path, None if title is None else title.text))
    texts = svg_texts(root)
    for lane in ("source host %d" % src, "target host %d" % dst, "peer hosts", "directory"):
        check(lane in texts, "no lane %r in %s: %r" % (lane, path, texts[:20]))
    ids = {e.get("id") for e in root.iter() if e.get("id")}
    for p in MIG_PHASES:
        check("phase-%s-0" % p in ids, "no bar for phase %s in %s (ids %r)" % (p, path, ids))
        legend = [t.split(":")[0] for t in texts if re.match(r"%s -?\d+: " % p, t)]
        check_eq(legend, ["%s %d" % (p, phases_ms[p])], "legend of phase %s in %s" % (p, path))
    check("downtime" in ids, "no downtime bracket in %s" % path)
    check("downtime %d ms" % downtime_ms in texts, "downtime %d ms not in %s: %r" % (
        downtime_ms, path, [t for t in texts if "downtime" in t]))
    for m in ("SYNC (wire type 3): stop sending, queue", "CONFIRM: restored, not running",
              "COMMIT: take it", "STARTED: it runs on the target"):
        check(m in texts, "message %r not in %s" % (m, path))
    check("client gaps" in texts, "no client-gap row in %s" % path)
    bars = [e.get("id") for e in root.iter(SVG + "rect") if (e.get("id") or "").startswith("conn-")]
    check_eq(sorted(bars), sorted("conn-%d" % i for i in range(nconns)),
             "one bar per connection in %s" % path)
    diag("%s: %d bytes, %d text elements, phases %s, downtime %d ms" % (
        os.path.basename(path), os.path.getsize(path), len(texts),
        " ".join("%s %d" % (p, phases_ms[p]) for p in MIG_PHASES), downtime_ms))


def timeline_ms(out):
    """The human timeline's figures: {phase: ms}, downtime."""
    ms = {}
    for p in MIG_PHASES:
        m = re.search(r"^\s+%s\s+(-?\d+) ms" % p, out, re.M)
        check(m is not None, "no %s line in capctl's timeline: %r" % (p, out))
        ms[p] = int(m.group(1))
    d = re.search(r"^\s+downtime\s+(-?\d+) ms", out, re.M)
    check(d is not None, "no downtime line in %r" % out)
    return ms, int(d.group(1))


def timeline_conns(out):
    """The human timeline's connection rows: {peer: gap ms}."""
    rows = re.findall(r"^  (\d+\.\d+\.\d+\.\d+:\d+)\s+(?:>=)?\s*(\d+) ms \|", out, re.M)
    return {p: int(ms) for p, ms in rows}


def there_and_back():
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b, g = topo["A"], topo["B"], topo["G"]
    out_dir = tempfile.mkdtemp(prefix="capsule-svg.")
    clients = []
    try:
        x = a.capsule("counter", name="x").start()
        r = b.capsule("relayer", name="r", args=["9100", x.addr, "9000"]).start()
        clients = [CountClient(topo.client.connect(x.addr, 9000), shared=True),
                   CountClient(topo.client.connect(x.addr, 9000), shared=True),
                   CountClient(topo.client.connect(r.addr, 9100), shared=True)]
        client = clients[0]
        for c in clients:
            c.more(50, 20)

        # A --svg whose directory does not exist: refused before anything moves.
        bad = os.path.join(out_dir, "nosuch", "m.svg")
        code, out, err = a.capctl(["migrate", "x", "--to", str(b.host_id), "--svg", bad])
        check_eq(code, 2, "capctl migrate --svg %s exit status (stderr %r)" % (bad, err))
        check_eq(len(err.strip().splitlines()), 1, "lines on stderr for a bad --svg: %r" % err)
        check("--svg" in err and bad in err, "bad --svg error names neither flag nor file: %r"
              % err)
        client.more(20, 20)
        check_eq(topo.lookup(x.addr), ("x", 1, 1), "directory entry of X after the refused --svg")

        # A -> B, the human timeline and the picture.
        there = os.path.join(out_dir, "there.svg")
        code, out, err = a.capctl(["migrate", "x", "--to", str(b.host_id), "--svg", there],
                                  timeout=90)
        check_eq(code, 0, "capctl migrate x --to 2 --svg: stdout %r stderr %r" % (out, err))
        diag("capctl migrate's timeline:\n# " + out.rstrip().replace("\n", "\n# "))
        ms, downtime = timeline_ms(out)
        rows = timeline_conns(out)
        check_eq(len(rows), 3, "connection rows in the timeline %r" % out)
        check("3 of 3 hosts answered" in out, "hosts answering in %r" % out)
        check_svg(there, "x", a.host_id, b.host_id, ms, downtime, 3)
        if os.environ.get("CAPTEST_SVG_KEEP"):
            # docs/figures/migration-run.svg is this picture (MIGRATION-WALKTHROUGH.md section 4).
            shutil.copyfile(there, os.environ["CAPTEST_SVG_KEEP"])
        for c in clients:
            c.more(50, 20)
        wait_listed_only_on(topo, "x", b)

        # B -> A without a picture, then A -> B with --json and --svg together: the
        # picture holds the JSON's figures; the connections' gaps agree with the clients'.
        for c in clients:
            c.reset_window()
        m = migrate_run(topo, "x", b, a, json=True)
        check_eq(m.code, 0, "capctl migrate x --to 1 --json: %r" % m)
        wait_listed_only_on(topo, "x", a)
        for c in clients:
            c.more(50, 20)
        check_gaps(m.json, clients, r.addr, g.host_id, b.host_id)
        for c in clients:
            c.reset_window()
        again = os.path.join(out_dir, "again.svg")
        code, out, err = a.capctl(["migrate", "x", "--to", str(b.host_id), "--json", "--svg",
                                   again], timeout=90)
        check_eq(code, 0, "capctl migrate x --to 2 --json --svg: stdout %r stderr %r" % (out, err))
        j = json.loads(out)
        diag("capctl migrate --json: " + out.strip())
        for c in clients:
            c.more(50, 20)
        conns = check_gaps(j, clients, r.addr, g.host_id, b.host_id)
        check_svg(again, "x", a.host_id, b.host_id,
                  {p: j["phases"][p + "_ms"] for p in MIG_PHASES}, j["downtime_ms"], len(conns))
        for c in clients:
            diag("client %s: %d answers, longest wait %.1f ms" % (
                "%s:%d" % c.sock.getsockname(), c.replies, c.longest * 1000))
            c.stop()
        check_eq(topo.lookup(x.addr), ("x", 2, 4), "directory entry of X after three moves")
    finally:
        for f in os.listdir(out_dir):
            os.unlink(os.path.join(out_dir, f))
        os.rmdir(out_dir)


def main():
    tap = Tap()
    tap.run("migrate --svg: a bad --svg is refused first; A -> B, back, and A -> B with --json: "
            "two moves draw a well-formed SVG with both hosts, every phase's figure, the downtime "
            "and one bar per connection; the gaps the hosts measured agree with the clients'",
            there_and_back)
    tap.done()


main()
