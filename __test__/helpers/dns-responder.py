"""A small authoritative DNS responder for tests (UDP and TCP), written apart from wgkit's
codec so each checks the other. Usage: dns-responder.py ZONE_JSON ADDR... [--port N] [--no-tcp]
[--udp-limit N]. The zone maps names to {"A": [...], "AAAA": [...], "CNAME": "name", "TXT":
[...], "MX": [[pref, "name"]]}; other names get NXDOMAIN. Answers name the question through a
compression pointer. A UDP reply longer than --udp-limit (default 512) is cut to its header and
question with the TC bit set. Prints "ready" once listening, then "query PROTO NAME TYPE" per
query."""
import json, socket, struct, sys, threading

args = sys.argv[1:]
zone = {k.lower(): v for k, v in json.loads(args.pop(0)).items()}
port, tcp, limit, addrs = 53, True, 512, []
while args:
    a = args.pop(0)
    if a == '--port': port = int(args.pop(0))
    elif a == '--no-tcp': tcp = False
    elif a == '--udp-limit': limit = int(args.pop(0))
    else: addrs.append(a)
TYPES = {1: 'A', 28: 'AAAA', 5: 'CNAME', 16: 'TXT', 15: 'MX'}
lock = threading.Lock()

def log(*parts):
    with lock:
        print(*parts, flush=True)

def encode_name(name):
    out = b''
    for label in name.rstrip('.').split('.'):
        out += bytes([len(label)]) + label.encode()
    return out + b'\0'

def rdata(kind, value):
    if kind == 'A': return socket.inet_pton(socket.AF_INET, value)
    if kind == 'AAAA': return socket.inet_pton(socket.AF_INET6, value)
    if kind == 'CNAME': return encode_name(value)
    if kind == 'TXT': return bytes([len(value.encode())]) + value.encode()
    if kind == 'MX': return struct.pack('!H', value[0]) + encode_name(value[1])

def answer(query):
    qid, flags, qd = struct.unpack('!HHH', query[:6])
    at, labels = 12, []
    while query[at]:
        labels.append(query[at + 1:at + 1 + query[at]].decode()); at += 1 + query[at]
    qtype, qclass = struct.unpack('!HH', query[at + 1:at + 5])
    question = query[12:at + 5]
    name = '.'.join(labels).lower()
    kind = TYPES.get(qtype, str(qtype))
    records, current, seen = [], name, 0
    rcode = 0 if name in zone else 3
    while current in zone and seen < 20:
        entry, seen = zone[current], seen + 1
        owner = b'\xc0\x0c' if current == name else encode_name(current)
        if kind in entry and kind != 'CNAME' or kind == 'CNAME' and 'CNAME' in entry:
            values = entry[kind] if isinstance(entry[kind], list) else [entry[kind]]
            for v in values:
                d = rdata(kind, v)
                records.append(owner + struct.pack('!HHIH', qtype, 1, 300, len(d)) + d)
            break
        if 'CNAME' in entry:
            d = rdata('CNAME', entry['CNAME'])
            records.append(owner + struct.pack('!HHIH', 5, 1, 300, len(d)) + d)
            current = entry['CNAME'].lower()
        else:
            break
    header = struct.pack('!HHHHHH', qid, 0x8400 | (flags & 0x0100) | rcode, 1, len(records), 0, 0)
    return name, kind, header + question + b''.join(records), header, question

def serve_udp(addr):
    s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    ready.append(1)
    while True:
        q, peer = s.recvfrom(4096)
        name, kind, reply, header, question = answer(q)
        log('query', 'udp', name, kind)
        if len(reply) > limit:
            h = bytearray(header); h[2] |= 0x02; h[6:8] = b'\0\0'
            reply = bytes(h) + question
        s.sendto(reply, peer)

def serve_tcp(addr):
    s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(16)
    ready.append(1)
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_client, args=(c,), daemon=True).start()

def tcp_client(c):
    buf = b''
    while True:
        d = c.recv(65536)
        if not d: break
        buf += d
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack('!H', buf[:2])[0]:
            n = struct.unpack('!H', buf[:2])[0]
            name, kind, reply, _, _ = answer(buf[2:2 + n]); buf = buf[2 + n:]
            log('query', 'tcp', name, kind)
            c.sendall(struct.pack('!H', len(reply)) + reply)
    c.close()

ready = []
servers = [(serve_udp, a) for a in addrs] + ([(serve_tcp, a) for a in addrs] if tcp else [])
for fn, a in servers:
    threading.Thread(target=fn, args=(a,), daemon=True).start()
while len(ready) < len(servers): threading.Event().wait(0.01)
log('ready')
threading.Event().wait()
