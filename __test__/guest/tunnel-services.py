#!/usr/bin/env python3
"""Small network services and clients for the tunnel tests (standard library only).

__test__/netstack-kernel.spec.ts runs the servers inside the kernel guest, behind its WireGuard
interface, and the clients there or in the host's network namespace. Python's startup is slow
under TCG, so one `serve` process holds every server.

  serve READY_FILE ADDR...   on each ADDR (v4 or v6): TCP 7001 hash (reads to EOF, answers the
                             SHA-256 in hex), TCP 7004 source (reads "N\\n", answers 64 hex digits
                             of SHA-256 then N random bytes), UDP 7003 echo (upper-cased),
                             UDP 53 DNS (NAME_V4/NAME_V6 below), TCP 8080 HTTP (one answer per
                             connection naming the Host header). Writes READY_FILE once bound.
  hash-server HOST PORT      the TCP 7001 service alone on HOST:PORT; prints "ready" once bound.
  tcp-send HOST PORT         sends stdin (or N random bytes with --random N) to a hash service,
                             prints JSON {"sent": sha256, "reply": what came back}.
  udp-echo-client HOST PORT WORD...
                             sends each word, prints JSON {"replies": [...]} (5 s per reply).
"""
import hashlib
import json
import os
import socket
import struct
import sys
import threading

# The names the DNS service knows, and their answers.
DNS_NAMES = {'kernel.wgkit.test': {1: ['10.97.0.2'], 28: ['fd97::2']}}


def family(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def listener(host, port, kind):
    s = socket.socket(family(host), kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    return s


def read_to_end(c):
    h = hashlib.sha256()
    while True:
        d = c.recv(1 << 20)
        if not d:
            return h
        h.update(d)


def serve_hash(c):
    c.sendall(read_to_end(c).hexdigest().encode())


def serve_source(c):
    line = b''
    while not line.endswith(b'\n'):
        d = c.recv(1)
        if not d:
            return
        line += d
    data = os.urandom(int(line))
    c.sendall(hashlib.sha256(data).hexdigest().encode() + data)


def serve_http(c):
    req = b''
    while b'\r\n\r\n' not in req:
        d = c.recv(4096)
        if not d:
            return
        req += d
    head = req.split(b'\r\n\r\n', 1)[0].decode('latin-1').split('\r\n')
    host = next((h.split(':', 1)[1].strip() for h in head[1:] if h.lower().startswith('host:')), '')
    body = f'hello from the kernel guest: {head[0]} Host={host}\n'.encode()
    c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n'
              + f'Content-Length: {len(body)}\r\n\r\n'.encode() + body)


def accept_loop(s, handler):
    while True:
        c, _ = s.accept()

        def run(c=c):
            try:
                handler(c)
            except OSError:
                pass
            finally:
                c.close()
        threading.Thread(target=run, daemon=True).start()


def udp_echo(s):
    while True:
        d, a = s.recvfrom(65535)
        s.sendto(d.upper(), a)


def dns_answer(query):
    """The answer to one DNS query (None for what is not a query)."""
    if len(query) < 12:
        return None
    qid, flags, qd = struct.unpack('!HHH', query[:6])
    if flags & 0x8000 or qd != 1:
        return None
    i, labels = 12, []
    while i < len(query) and query[i] != 0:
        n = query[i]
        labels.append(query[i + 1:i + 1 + n].decode('ascii', 'replace'))
        i += 1 + n
    if i + 5 > len(query):
        return None
    qtype, qclass = struct.unpack('!HH', query[i + 1:i + 5])
    question = query[12:i + 5]
    name = '.'.join(labels).lower()
    rrs = []
    if name in DNS_NAMES and qclass == 1:
        for addr in DNS_NAMES[name].get(qtype, []):
            rdata = socket.inet_pton(family(addr), addr)
            rrs.append(struct.pack('!HHHIH', 0xc00c, qtype, 1, 60, len(rdata)) + rdata)
    rcode = 0 if name in DNS_NAMES else 3
    head = struct.pack('!HHHHHH', qid, 0x8400 | (flags & 0x0100) | 0x0080 | rcode, 1, len(rrs), 0, 0)
    return head + question + b''.join(rrs)


def dns_server(s):
    while True:
        d, a = s.recvfrom(65535)
        answer = dns_answer(d)
        if answer is not None:
            s.sendto(answer, a)


def serve(ready, addrs):
    threads = []
    for host in addrs:
        for port, handler in ((7001, serve_hash), (7004, serve_source), (8080, serve_http)):
            threads.append((accept_loop, (listener(host, port, socket.SOCK_STREAM), handler)))
        threads.append((udp_echo, (listener(host, 7003, socket.SOCK_DGRAM),)))
        threads.append((dns_server, (listener(host, 53, socket.SOCK_DGRAM),)))
    for target, args in threads:
        threading.Thread(target=target, args=args, daemon=True).start()
    with open(ready + '.tmp', 'w') as f:
        f.write(f'{os.getpid()}\n')
    os.rename(ready + '.tmp', ready)
    threading.Event().wait()


def tcp_send(host, port, data):
    c = socket.create_connection((host, port), timeout=60)
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    reply = b''
    while True:
        d = c.recv(65536)
        if not d:
            break
        reply += d
    print(json.dumps({'sent': hashlib.sha256(data).hexdigest(), 'reply': reply.decode('latin-1')}))


def udp_echo_client(host, port, words):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.settimeout(5)
    replies = []
    for w in words:
        s.sendto(w.encode(), (host, port))
        replies.append(s.recv(65535).decode())
    print(json.dumps({'replies': replies}))


def main(argv):
    cmd = argv[0] if argv else ''
    if cmd == 'serve' and len(argv) >= 3:
        serve(argv[1], argv[2:])
    elif cmd == 'hash-server' and len(argv) == 3:
        s = listener(argv[1], int(argv[2]), socket.SOCK_STREAM)
        print('ready', flush=True)
        accept_loop(s, serve_hash)
    elif cmd == 'tcp-send' and len(argv) == 3:
        tcp_send(argv[1], int(argv[2]), sys.stdin.buffer.read())
    elif cmd == 'tcp-send' and len(argv) == 5 and argv[3] == '--random':
        tcp_send(argv[1], int(argv[2]), os.urandom(int(argv[4])))
    elif cmd == 'udp-echo-client' and len(argv) >= 4:
        udp_echo_client(argv[1], int(argv[2]), argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
