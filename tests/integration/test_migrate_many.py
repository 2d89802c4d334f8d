"""test_migrate_many.py: one capsule migrates around a ring of hosts (A -> B -> C -> A ...) MIGRATIONS times (default 50) while a capsule peer and ordinary clients stream through it: every line comes back exactly once, in order, the relaying capsule's own byte counts match the client's, and each move is reported correctly; downtime median/max as diagnostics.

Topology: hosts A B C G (ids 1-4, G the gateway) + the ordinary client.
Y = echo on B; X = relayer on A (each client connection makes X open its own
connection to Y:7), so each stream crosses client<->X and X<->Y.  While X
sits on B the X<->Y connection is same-host, elsewhere host-to-host.
MIGRATIONS=N overrides the count (`make soak` runs 1000).  The ring itself is
miglib.migrate_ring (test_migrate_lossy runs it with injected faults).
"""
import os

from miglib import Tap, migrate_ring

COUNT = int(os.environ.get("MIGRATIONS", "50"))


def diag(text):
    print("# " + text, flush=True)


def main():
    tap = Tap()
    tap.run("migrate: %d migrations A -> B -> C -> A ... with 3 streams through a capsule peer "
            "and the gateway: every line exactly once, no RST" % COUNT,
            lambda: migrate_ring(COUNT, diag=diag))
    tap.done()


main()
