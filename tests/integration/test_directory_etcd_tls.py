"""test_directory_etcd_tls.py: capdird over an etcd member that serves clients over TLS only and requires client certificates (made here with openssl): the directory works through it (requests, the watch's NOTIFY); a wrong CA, a missing client certificate, plain http and bad flags are refused with one line."""
import os
import shutil
import subprocess
import tempfile

from caplib import Tap, check, check_eq
import etcdlib
from test_directory import CAPDIR, CAPDIRD, capdir_ok, capdir_run

LISTEN = ("127.0.0.1", 7470)


def openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, timeout=60)
    check(p.returncode == 0, "openssl %s: %s" % (" ".join(args[:2]), p.stderr.decode()[-300:]))


def make_certs(d):
    """ca.pem (+ key), server.pem for IP 127.0.0.1, client.pem signed by ca; other-ca.pem,
    a CA that signed nothing here.  EC P-256 keys, valid two days."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2",
                "-subj", "/CN=captest " + ca, cwd=d)
    # the server's certificate also for client use: etcd's JSON gateway dials the member's own
    # gRPC port with it (and --client-cert-auth checks it there)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\n"
                                 "extendedKeyUsage=serverAuth,clientAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj",
                "/CN=captest " + name, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext",
                cwd=d)
    return {k: os.path.join(d, v) for k, v in (
        ("ca", "ca.pem"), ("other_ca", "other-ca.pem"), ("cert", "server.pem"),
        ("key", "server.key"), ("client_cert", "client.pem"), ("client_key", "client.key"))}


class TlsDirectory:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="capdird-tls.")
        self.certs = make_certs(self.tmp)
        self.keys = os.path.join(self.tmp, "keys")
        with open(self.keys, "w") as f:
            for h in (1, 2, 3):
                f.write("%d %s\n" % (h, os.urandom(32).hex()))
        self.etcd = etcdlib.Cluster(["127.0.0.1"], tls=self.certs).start()
        self.proc = None

    def argv(self, *tls, endpoint=None):
        return [CAPDIRD, "--listen", "%s:%d" % LISTEN, "--etcd", endpoint or self.etcd.endpoints(),
                "--keys", self.keys] + list(tls)

    def good_tls(self):
        c = self.certs
        return ["--etcd-cacert", c["ca"], "--etcd-cert", c["client_cert"], "--etcd-key",
                c["client_key"]]

    def start(self):
        self.proc = subprocess.Popen(self.argv(*self.good_tls()), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        line = self.proc.stdout.readline().decode()        # readiness: the "listening" line
        check("capdird listening on" in line, "capdird over TLS did not start: %r" % line)

    def refused(self, *tls, endpoint=None):
        """capdird that must not start: (exit code, its output)."""
        p = subprocess.run(self.argv(*tls, endpoint=endpoint), capture_output=True, timeout=30)
        return p.returncode, (p.stdout + p.stderr).decode()

    def cli(self, host, *args):
        return capdir_run("%s:%d" % LISTEN, self.keys, host, *args)

    def ok(self, host, *args):
        return capdir_ok("%s:%d" % LISTEN, self.keys, host, *args)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc:
            self.proc.stdout.close()
        self.etcd.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def with_tls(fn):
    def run():
        t = TlsDirectory()
        try:
            fn(t)
        finally:
            t.stop()
    return run


def directory_over_tls(t):
    t.start()
    t.ok(1, "hello", "198.19.0.1", "7471")
    t.ok(3, "hello", "198.19.0.3", "7471")
    check_eq(t.ok(1, "create", "sec"), "created sec 198.18.0.2 epoch 1\n", "create over TLS")
    w = subprocess.Popen([CAPDIR, "--dir", "%s:%d" % LISTEN, "--host-id", "2", "--keys", t.keys,
                          "watch", "198.18.0.2", "1", "20"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        check_eq(w.stdout.readline().decode(),
                 "entry 198.18.0.2 sec host 1 at 198.19.0.1:7471 epoch 1\n", "watch: the entry")
        check_eq(t.ok(1, "move", "198.18.0.2", "3", "1"), "moved 198.18.0.2 to host 3 epoch 2\n",
                 "move over TLS")
        check_eq(w.stdout.readline().decode(),
                 "notify 198.18.0.2 sec host 3 at 198.19.0.3:7471 epoch 2\n",
                 "the NOTIFY, from the etcd watch over TLS")
        check_eq(w.wait(10), 0, "watch exit")
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
        w.stdout.close()
        w.stderr.close()
    check_eq(t.ok(2, "lookup", "198.18.0.2"), "198.18.0.2 sec host 3 at 198.19.0.3:7471 epoch 2\n",
             "lookup over TLS")


def refusals(t):
    c = t.certs
    code, out = t.refused("--etcd-cacert", c["other_ca"], "--etcd-cert", c["client_cert"],
                          "--etcd-key", c["client_key"])
    print("# another CA: %s" % out.strip(), flush=True)
    check_eq((code, out.count("\n")), (1, 1), "another CA: exit 1, one line: %r" % out)
    check("capdird: etcd https://127.0.0.1:2379" in out and "certificate" in out.lower(),
          "another CA: the line names etcd and the certificate: %r" % out)
    code, out = t.refused("--etcd-cacert", c["ca"])
    print("# no client certificate: %s" % out.strip(), flush=True)
    check_eq((code, out.count("\n")), (1, 1), "no client certificate: exit 1, one line: %r" % out)
    check(out.startswith("capdird: etcd https://127.0.0.1:2379"), "no client certificate: %r" % out)
    code, out = t.refused(endpoint="http://127.0.0.1:2379")
    print("# plain http: %s" % out.strip(), flush=True)
    check_eq((code, out.count("\n")), (1, 1), "plain http to a TLS member: exit 1: %r" % out)
    code, out = t.refused("--etcd-cert", c["client_cert"])
    check_eq((code, out), (2, "capdird: --etcd-cert and --etcd-key: a client certificate "
                              "needs both\n"), "a certificate without its key")
    code, out = t.refused("--etcd-cacert", "/nonexistent/ca.pem")
    check_eq((code, out), (2, "capdird: --etcd-cacert /nonexistent/ca.pem: No such file or "
                              "directory\n"), "a missing CA file")
    p = subprocess.run([CAPDIRD, "--listen", "%s:%d" % LISTEN, "--db", os.path.join(t.tmp, "d.db"),
                        "--keys", t.keys, "--etcd-cacert", c["ca"]], capture_output=True,
                       timeout=30)
    check_eq((p.returncode, p.stderr.decode()),
             (2, "capdird: --etcd-cacert, --etcd-cert and --etcd-key go with --etcd\n"),
             "TLS files without --etcd")


def main():
    tap = Tap()
    if not etcdlib.available() or not shutil.which("openssl"):
        tap.skip("directory over etcd with TLS", "no etcd or openssl binary (mk/deps.sh)")
        tap.done()
    tap.run("etcd over TLS: capdird with a CA and a client certificate: requests and the "
            "watch's NOTIFY work", with_tls(directory_over_tls))
    tap.run("etcd over TLS: another CA, no client certificate, plain http, half a certificate, "
            "a missing file: refused with one line", with_tls(refusals))
    tap.done()


main()
