"""test_docs.py: every link in README.md and docs/*.md resolves, every repository path they name in backquotes exists, and none points at the seed design notes (DESIGN.md), which are not in the repository."""
import glob
import os
import re

from caplib import ROOT, Tap, check_eq

PATH_RE = re.compile(r"`((?:hosts|tests|docs|capsule-abi|runtime|lwip-port|images|mk|man|dist)/"
                     r"[A-Za-z0-9_./\[\]*-]+)")


def problems():
    bad = []
    for f in [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        text, rel = open(f).read(), os.path.relpath(f, ROOT)
        for m in re.finditer(r"\]\(([^)\s]+)\)", text):
            t = m.group(1)
            if re.match(r"[a-z]+:", t) or t.startswith("#"):
                continue
            if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(f), t.split("#")[0]))):
                bad.append("%s: link %s" % (rel, t))
        for m in PATH_RE.finditer(text):
            t = m.group(1).rstrip(".")
            if not glob.glob(os.path.join(ROOT, t)):   # "dirproto.[ch]" and "*.scd" are globs
                bad.append("%s: path %s" % (rel, t))
        if "DESIGN.md" in text:
            bad.append("%s: names DESIGN.md" % rel)
    return bad


def main():
    tap = Tap()
    tap.run("docs: links resolve, named paths exist, no DESIGN.md",
            lambda: check_eq(problems(), [], "broken references"))
    tap.done()


main()
