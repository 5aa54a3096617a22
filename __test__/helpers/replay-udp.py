#!/usr/bin/env python3
"""Sends a UDP payload from a given source address and port through a raw socket, so a test can
replay a captured WireGuard datagram "from the peer" while the peer's daemon still owns that port.

Usage: replay-udp.py SRC_ADDR SRC_PORT DST_ADDR DST_PORT PAYLOAD_HEX COUNT
Prints the number of datagrams sent.
"""
import socket
import struct
import sys


def main() -> None:
    src, sport, dst, dport, payload_hex, count = sys.argv[1:7]
    payload = bytes.fromhex(payload_hex)
    header = struct.pack('!HHHH', int(sport), int(dport), 8 + len(payload), 0)
    if ':' in dst:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_UDP)
        # The kernel computes the (mandatory) UDP checksum at offset 6 of what we send.
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, 6)
        sock.bind((src, 0))
        target = (dst, 0)
    else:
        # IPv4 UDP allows checksum 0 (none); the kernel builds the IP header from the bind address.
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        sock.bind((src, 0))
        target = (dst, 0)
    sent = 0
    for _ in range(int(count)):
        sock.sendto(header + payload, target)
        sent += 1
    print(sent)


if __name__ == '__main__':
    main()
