"""test_http.py: the http capsule (port 80): GET / names the capsule's IP and counts requests; keep-alive works."""
import http.client

from caplib import Capsule, Tap, check, check_eq, connect, recv_all, run_tool


def body(ip, n):
    return "Hello from capsule %s: %d requests served so far\n" % (ip, n)


def curl_counts_requests(cap):
    for n in (1, 2, 3):
        code, out, err = run_tool(["curl", "-sS", "--max-time", "10", "http://%s/" % cap.addr])
        check_eq((code, out), (0, body(cap.addr, n)), "curl #%d (stderr %r)" % (n, err))
    code, out, err = run_tool(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                               "--max-time", "10", "http://%s/missing" % cap.addr])
    check_eq(out, "404", "status of GET /missing")


def keep_alive(cap):
    conn = http.client.HTTPConnection(cap.addr, 80, timeout=10)
    try:
        for n in (1, 2, 3):
            conn.request("GET", "/")
            if n == 1:
                first_sock = conn.sock
            r = conn.getresponse()
            text = r.read().decode()
            check_eq((r.status, text), (200, body(cap.addr, n)), "response %d" % n)
            check_eq(r.getheader("Connection"), "keep-alive", "Connection header")
            check(conn.sock is first_sock, "request %d needed a new connection" % n)
        conn.request("HEAD", "/")
        r = conn.getresponse()
        check_eq((r.status, r.read()), (200, b""), "HEAD / (status, body)")
        check_eq(int(r.getheader("Content-Length")), len(body(cap.addr, 4)), "HEAD length")
    finally:
        conn.close()


def curl_reuses_connection(cap):
    url = "http://%s/" % cap.addr
    code, out, err = run_tool(["curl", "-sS", "-v", "--max-time", "10", url, url])
    check_eq(out, body(cap.addr, 1) + body(cap.addr, 2), "two GETs in one curl (exit %d)" % code)
    check("Re-using existing connection" in err or "Reusing existing connection" in err,
          "curl opened a second connection: %r" % err[-300:])


def pipelined_and_close(cap):
    with connect(cap.addr, 80) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = recv_all(s).decode()   # the server must close after the second reply
    b1, b2 = body(cap.addr, 1), body(cap.addr, 2)
    want = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            "Connection: keep-alive\r\n\r\n%s"
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n%s") % (len(b1), b1, len(b2), b2)
    check_eq(data, want, "two pipelined requests, the second with Connection: close")


def many_connections(cap):
    conns = [connect(cap.addr, 80) for _ in range(50)]
    try:
        for s in conns:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        counts = set()
        for s in conns:
            text = recv_all(s).decode()
            check(text.startswith("HTTP/1.1 200 OK\r\n"), "reply: %r" % text[:80])
            counts.add(int(text.rsplit(": ", 1)[1].split()[0]))
        check_eq(sorted(counts), list(range(1, 51)), "request numbers over 50 connections")
    finally:
        for s in conns:
            s.close()


def main():
    tap = Tap()
    for name, fn in (("http: curl GET / counts 1, 2, 3; 404 elsewhere", curl_counts_requests),
                     ("http: keep-alive with http.client, HEAD", keep_alive),
                     ("http: curl reuses the connection", curl_reuses_connection),
                     ("http: pipelining and Connection: close", pipelined_and_close),
                     ("http: 50 concurrent connections", many_connections)):
        tap.run(name, lambda fn=fn: fn(Capsule("http").start()))
    tap.done()


main()
