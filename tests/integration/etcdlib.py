"""etcdlib.py: real etcd members for tests: one on loopback, or a cluster, each member started, waited for (its /health) and killed by PID; optionally serving clients over TLS only, with client certificates required."""
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def available():
    return os.access(ETCD, os.X_OK)


class Member:
    def __init__(self, name, addr, client_port, peer_port, datadir, cluster, prefix=None,
                 tls=None):
        self.name, self.addr = name, addr
        # tls: {"ca", "cert", "key", "client_cert", "client_key"} (PEM paths): clients only
        # over https, with a client certificate the CA signed (--client-cert-auth)
        self.tls = tls
        self.client_url = "%s://%s:%d" % ("https" if tls else "http", addr, client_port)
        self.peer_url = "http://%s:%d" % (addr, peer_port)
        self.endpoint = "%s:%d" % (addr, client_port)
        self.datadir, self.cluster, self.prefix = datadir, cluster, list(prefix or [])
        self.proc = None
        self.log = None

    def start(self, state="new"):
        argv = [ETCD, "--name", self.name, "--data-dir", self.datadir,
                "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", self.cluster, "--initial-cluster-state", state,
                "--initial-cluster-token", "captest", "--heartbeat-interval", "100",
                "--election-timeout", "1000"]
        if self.tls:
            argv += ["--cert-file", self.tls["cert"], "--key-file", self.tls["key"],
                     "--trusted-ca-file", self.tls["ca"], "--client-cert-auth"]
        argv = self.prefix + argv          # e.g. nsenter into the member's own namespace
        self.log = open(self.datadir + ".log", "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def _open(self, req):
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls["ca"])
            ctx.load_cert_chain(self.tls["client_cert"], self.tls["client_key"])
        return urllib.request.urlopen(req, timeout=1, context=ctx)

    def status(self):
        """The member's own view ({"leader": id, "header": {"member_id": id}}), or None."""
        try:
            req = urllib.request.Request(self.client_url + "/v3/maintenance/status", data=b"{}",
                                         method="POST")
            with self._open(req) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def healthy(self):
        try:
            with self._open(self.client_url + "/health") as r:
                return json.loads(r.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None


class Cluster:
    """n members; members[i] listens on addrs[i] (all on one address: distinct ports), run
    with prefixes[i] before its argv (nsenter into a namespace of its own)."""

    def __init__(self, addrs, prefixes=None, base_port=2379, tls=None):
        self.tmp = tempfile.mkdtemp(prefix="etcd.")
        self.members = []
        peers = []
        for i, a in enumerate(addrs):
            same = addrs.count(a) > 1
            cport = base_port + (10 * i if same else 0)
            pport = cport + 1
            peers.append(("m%d" % i, a, cport, pport))
        cluster = ",".join("%s=http://%s:%d" % (n, a, p) for n, a, _, p in peers)
        for i, (n, a, c, p) in enumerate(peers):
            self.members.append(Member(n, a, c, p, os.path.join(self.tmp, n), cluster,
                                       prefixes[i] if prefixes else None, tls))

    def start(self, timeout=30):
        for m in self.members:
            m.start()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout=30, members=None):
        deadline = time.monotonic() + timeout
        for m in members or [m for m in self.members if m.proc]:
            while not m.healthy():
                if time.monotonic() > deadline:
                    raise AssertionError("etcd member %s not healthy after %ds" % (m.name, timeout))
                if m.proc and m.proc.poll() is not None:
                    raise AssertionError("etcd member %s exited %d" % (m.name, m.proc.returncode))
                time.sleep(0.05)

    def endpoints(self):
        """HOST:PORT,... (with https:// for TLS members)."""
        return ",".join(("https://" if m.tls else "") + m.endpoint for m in self.members)

    def leader(self):
        """The member that is leader now (asks each live one), or None."""
        for m in self.members:
            if not m.proc:
                continue
            st = m.status()
            if st and st.get("leader") and st["leader"] == st.get("header", {}).get("member_id"):
                return m
        return None

    def stop(self):
        for m in self.members:
            m.kill()
        if not os.environ.get("ETCD_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
