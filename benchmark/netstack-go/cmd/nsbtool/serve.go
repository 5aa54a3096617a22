package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

var outMu sync.Mutex

func say(format string, a ...any) {
	outMu.Lock()
	fmt.Fprintf(os.Stdout, format+"\n", a...)
	outMu.Unlock()
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1", "address to listen on")
	streamPort := fs.Int("stream", 0, "stream sink/source/hold port")
	httpPort := fs.Int("http", 0, "HTTP port")
	udpPort := fs.Int("udpecho", 0, "UDP echo port")
	dnsPort := fs.Int("dns", 0, "DNS port")
	dnsAnswer := fs.String("dns-answer", "127.0.0.1", "A record every name resolves to")
	fs.Parse(args)
	errc := make(chan error, 4)
	if *streamPort != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(*addr, fmt.Sprint(*streamPort)))
		if err != nil {
			return err
		}
		go func() { errc <- serveStream(ln) }()
	}
	if *httpPort != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(*addr, fmt.Sprint(*httpPort)))
		if err != nil {
			return err
		}
		body := []byte(strings.Repeat("x", 128))
		go func() {
			errc <- http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.Write(body)
			}))
		}()
	}
	if *udpPort != 0 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(*addr, fmt.Sprint(*udpPort)))
		if err != nil {
			return err
		}
		go func() {
			b := make([]byte, 65535)
			for {
				n, from, err := pc.ReadFrom(b)
				if err != nil {
					errc <- err
					return
				}
				pc.WriteTo(b[:n], from)
			}
		}()
	}
	if *dnsPort != 0 {
		ans, err := netip.ParseAddr(*dnsAnswer)
		if err != nil || !ans.Is4() {
			return fmt.Errorf("-dns-answer: %q is not an IPv4 address", *dnsAnswer)
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort(*addr, fmt.Sprint(*dnsPort)))
		if err != nil {
			return err
		}
		go func() { errc <- serveDNS(pc, ans) }()
	}
	say("ready")
	return <-errc
}

func serveStream(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func(c net.Conn) {
			defer c.Close()
			var cmd [1]byte
			if _, err := io.ReadFull(c, cmd[:]); err != nil {
				return
			}
			switch cmd[0] {
			case 'U':
				// Framed: 4-byte length, then that many bytes; length 0 ends the upload (no
				// reliance on half-close, which not every forward passes on).
				buf := make([]byte, 256<<10)
				var total int64
				var first time.Time
				var hdr [4]byte
				for {
					if _, err := io.ReadFull(c, hdr[:]); err != nil {
						return
					}
					if total == 0 {
						first = time.Now()
					}
					left := int(binary.BigEndian.Uint32(hdr[:]))
					if left == 0 {
						break
					}
					for left > 0 {
						n, err := c.Read(buf[:min(left, len(buf))])
						left -= n
						total += int64(n)
						if err != nil {
							return
						}
					}
				}
				var out [16]byte
				binary.BigEndian.PutUint64(out[:8], uint64(total))
				binary.BigEndian.PutUint64(out[8:], uint64(time.Since(first).Nanoseconds()))
				c.Write(out[:])
			case 'D':
				var secs [4]byte
				if _, err := io.ReadFull(c, secs[:]); err != nil {
					return
				}
				buf := make([]byte, 256<<10)
				end := time.Now().Add(time.Duration(binary.BigEndian.Uint32(secs[:])) * time.Second)
				for time.Now().Before(end) {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			case 'H':
				c.Write([]byte{'h'})
				io.Copy(io.Discard, c)
			}
		}(c)
	}
}

// serveDNS answers every A query with ans (TTL 0) and AAAA and others with no records.
func serveDNS(pc net.PacketConn, ans netip.Addr) error {
	b := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(b)
		if err != nil {
			return err
		}
		if n < 12+5 {
			continue
		}
		// Question: labels from offset 12.
		i, name := 12, []string{}
		for i < n && b[i] != 0 {
			l := int(b[i])
			if i+1+l > n {
				break
			}
			name = append(name, string(b[i+1:i+1+l]))
			i += 1 + l
		}
		if i+5 > n {
			continue
		}
		qtype := binary.BigEndian.Uint16(b[i+1:])
		qend := i + 5
		say("dns-query %s type %d", strings.Join(name, "."), qtype)
		resp := append([]byte{}, b[:qend]...)
		resp[2] = 0x84 | (b[2] & 0x01) // QR, AA, RD copied
		resp[3] = 0x80                 // RA, NOERROR
		binary.BigEndian.PutUint16(resp[4:], 1)
		binary.BigEndian.PutUint16(resp[8:], 0)
		binary.BigEndian.PutUint16(resp[10:], 0)
		if qtype == 1 {
			binary.BigEndian.PutUint16(resp[6:], 1)
			resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4)
			resp = append(resp, ans.AsSlice()...)
		} else {
			binary.BigEndian.PutUint16(resp[6:], 0)
		}
		pc.WriteTo(resp, from)
	}
}
