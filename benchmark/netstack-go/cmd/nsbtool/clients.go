package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"
)

func printJSON(v any) error { return json.NewEncoder(os.Stdout).Encode(v) }

// socksConnect dials the SOCKS5 server and asks for CONNECT (cmd 1) or UDP ASSOCIATE (cmd 3)
// to target; returns the control connection and the bound address of the reply.
func socksHandshake(server, target string, cmd byte) (net.Conn, netip.AddrPort, error) {
	c, err := net.DialTimeout("tcp", server, 10*time.Second)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fail := func(err error) (net.Conn, netip.AddrPort, error) { c.Close(); return nil, netip.AddrPort{}, err }
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return fail(err)
	}
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil || m[1] != 0 {
		return fail(fmt.Errorf("SOCKS5 method negotiation failed (%v)", err))
	}
	host, portS, err := net.SplitHostPort(target)
	if err != nil {
		return fail(err)
	}
	var port int
	fmt.Sscan(portS, &port)
	req := []byte{5, cmd, 0}
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		req = append(append(req, 1), a.AsSlice()...)
	} else if err == nil {
		req = append(append(req, 4), a.AsSlice()...)
	} else {
		req = append(append(req, 3, byte(len(host))), host...)
	}
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := c.Write(req); err != nil {
		return fail(err)
	}
	var rep [4]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		return fail(err)
	}
	if rep[1] != 0 {
		return fail(fmt.Errorf("SOCKS5 reply %d", rep[1]))
	}
	var raw []byte
	switch rep[3] {
	case 1:
		raw = make([]byte, 4)
	case 4:
		raw = make([]byte, 16)
	default:
		return fail(errors.New("SOCKS5 reply with an unexpected address type"))
	}
	var p [2]byte
	if _, err := io.ReadFull(c, raw); err != nil {
		return fail(err)
	}
	if _, err := io.ReadFull(c, p[:]); err != nil {
		return fail(err)
	}
	a, _ := netip.AddrFromSlice(raw)
	c.SetDeadline(time.Time{})
	return c, netip.AddrPortFrom(a, binary.BigEndian.Uint16(p[:])), nil
}

func dialStream(connect, socks, target string) (net.Conn, error) {
	if socks != "" {
		c, _, err := socksHandshake(socks, target, 1)
		return c, err
	}
	return net.DialTimeout("tcp", connect, 10*time.Second)
}

func stream(args []string) error {
	fs := flag.NewFlagSet("stream", flag.ExitOnError)
	connect := fs.String("connect", "", "forward HOST:PORT")
	socks := fs.String("socks5", "", "SOCKS5 server HOST:PORT")
	target := fs.String("target", "", "stream server behind the SOCKS5 server")
	dir := fs.String("dir", "up", "up (client sends) or down (client receives)")
	seconds := fs.Int("seconds", 10, "duration")
	fs.Parse(args)
	c, err := dialStream(*connect, *socks, *target)
	if err != nil {
		return err
	}
	defer c.Close()
	var bytes int64
	var elapsed time.Duration
	switch *dir {
	case "up":
		if _, err := c.Write([]byte{'U'}); err != nil {
			return err
		}
		buf := make([]byte, 4+256<<10)
		binary.BigEndian.PutUint32(buf, 256<<10)
		end := time.Now().Add(time.Duration(*seconds) * time.Second)
		for time.Now().Before(end) {
			if _, err := c.Write(buf); err != nil {
				return err
			}
		}
		if _, err := c.Write([]byte{0, 0, 0, 0}); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(120 * time.Second)) // a forward may buffer more than it moves
		var res [16]byte
		if _, err := io.ReadFull(c, res[:]); err != nil {
			return fmt.Errorf("the end of the upload did not reach the stream server within 120 s (%v)", err)
		}
		bytes = int64(binary.BigEndian.Uint64(res[:8]))
		elapsed = time.Duration(binary.BigEndian.Uint64(res[8:]))
	case "down":
		req := []byte{'D', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(req[1:], uint32(*seconds))
		if _, err := c.Write(req); err != nil {
			return err
		}
		buf := make([]byte, 256<<10)
		var first time.Time
		c.SetReadDeadline(time.Now().Add(time.Duration(*seconds+60) * time.Second))
		for {
			n, err := c.Read(buf)
			if n > 0 && bytes == 0 {
				first = time.Now()
			}
			bytes += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		elapsed = time.Since(first)
	default:
		return fmt.Errorf("-dir: %q is not up or down", *dir)
	}
	if bytes == 0 || elapsed <= 0 {
		return errors.New("no data moved")
	}
	return printJSON(map[string]any{"bytes": bytes, "seconds": elapsed.Seconds(), "bits_per_second": float64(bytes*8) / elapsed.Seconds()})
}

func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(float64(len(xs))*p/100+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(xs) {
		i = len(xs) - 1
	}
	return xs[i]
}

// httpload: N GET requests, C at a time, each on its own connection.
func httpload(args []string) error {
	fs := flag.NewFlagSet("httpload", flag.ExitOnError)
	url := fs.String("url", "", "URL")
	n := fs.Int("requests", 1000, "requests")
	conc := fs.Int("concurrency", 1000, "requests in flight")
	fs.Parse(args)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, MaxIdleConnsPerHost: -1}}
	var mu sync.Mutex
	lat := make([]float64, 0, *n)
	failures := 0
	errs := map[string]int{}
	sem := make(chan struct{}, *conc)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			resp, err := client.Get(*url)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			d := time.Since(t0).Seconds() * 1000
			mu.Lock()
			if err != nil {
				failures++
				msg := err.Error()
				if len(msg) > 80 {
					msg = msg[len(msg)-80:]
				}
				errs[msg]++
			} else {
				lat = append(lat, d)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	wall := time.Since(start).Seconds()
	sort.Float64s(lat)
	var firstErr string
	for k := range errs {
		firstErr = k
		break
	}
	return printJSON(map[string]any{"requests": *n, "concurrency": *conc, "ok": len(lat), "failures": failures,
		"seconds": wall, "requests_per_second": float64(len(lat)) / wall, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": pct(lat, 100), "error_example": firstErr})
}

// idle opens N connections through the forward (each confirmed end to end by the 'H' reply)
// and holds them until stdin closes.
func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	connect := fs.String("connect", "", "forward HOST:PORT")
	n := fs.Int("n", 1000, "connections")
	fs.Parse(args)
	conns := make([]net.Conn, 0, *n)
	failed, inARow := 0, 0
	var firstErr error
	for i := 0; i < *n; i++ {
		c, err := net.DialTimeout("tcp", *connect, 10*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			var b [1]byte
			if _, err = c.Write([]byte{'H'}); err == nil {
				_, err = io.ReadFull(c, b[:])
			}
			c.SetDeadline(time.Time{})
		}
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			if c != nil {
				c.Close()
			}
			if inARow++; inARow == 10 {
				break // 10 failures in a row: the forward is down
			}
			continue
		}
		inARow = 0
		conns = append(conns, c)
	}
	msg := ""
	if firstErr != nil {
		msg = firstErr.Error()
	}
	printJSON(map[string]any{"open": len(conns), "failed": failed, "error_example": msg})
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// udprt: N sequential echo round trips (1 s timeout each) through a UDP forward or SOCKS5 UDP ASSOCIATE.
func udprt(args []string) error {
	fs := flag.NewFlagSet("udprt", flag.ExitOnError)
	connect := fs.String("connect", "", "UDP forward HOST:PORT")
	socks := fs.String("socks5", "", "SOCKS5 server HOST:PORT")
	target := fs.String("target", "", "UDP echo server behind the SOCKS5 server (IP:PORT)")
	n := fs.Int("n", 1000, "round trips")
	size := fs.Int("size", 64, "payload bytes")
	fs.Parse(args)
	var uc *net.UDPConn
	var header []byte
	if *socks != "" {
		ctrl, relay, err := socksHandshake(*socks, "0.0.0.0:0", 3)
		if err != nil {
			return fmt.Errorf("UDP ASSOCIATE: %v", err)
		}
		defer ctrl.Close()
		if relay.Addr().IsUnspecified() {
			h, _, _ := net.SplitHostPort(*socks)
			relay = netip.AddrPortFrom(netip.MustParseAddr(h), relay.Port())
		}
		uc, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(relay))
		if err != nil {
			return err
		}
		t, err := netip.ParseAddrPort(*target)
		if err != nil || !t.Addr().Is4() {
			return fmt.Errorf("-target: %q is not IPv4:PORT", *target)
		}
		header = append([]byte{0, 0, 0, 1}, t.Addr().AsSlice()...)
		header = binary.BigEndian.AppendUint16(header, t.Port())
	} else {
		a, err := net.ResolveUDPAddr("udp", *connect)
		if err != nil {
			return err
		}
		uc, err = net.DialUDP("udp", nil, a)
		if err != nil {
			return err
		}
	}
	defer uc.Close()
	payload := make([]byte, len(header)+*size)
	copy(payload, header)
	buf := make([]byte, 65535)
	lat := make([]float64, 0, *n)
	lost, inARow, stopped := 0, 0, false
	start := time.Now()
	for i := 0; i < *n; i++ {
		binary.BigEndian.PutUint32(payload[len(header):], uint32(i))
		t0 := time.Now()
		if _, err := uc.Write(payload); err != nil {
			return err
		}
		uc.SetReadDeadline(t0.Add(time.Second))
		got := false
		for {
			m, err := uc.Read(buf)
			if err != nil {
				break
			}
			// A SOCKS5 reply has its own header of the same length for an IPv4 source.
			if m == len(payload) && binary.BigEndian.Uint32(buf[len(header):]) == uint32(i) {
				got = true
				break
			}
		}
		if got {
			lat = append(lat, time.Since(t0).Seconds()*1000)
			inARow = 0
		} else {
			lost++
			if inARow++; inARow == 10 {
				stopped = true // 10 lost in a row: the path is down, not lossy
				break
			}
		}
	}
	wall := time.Since(start).Seconds()
	sort.Float64s(lat)
	return printJSON(map[string]any{"round_trips": len(lat), "lost": lost, "stopped_after_10_lost_in_a_row": stopped, "seconds": wall,
		"round_trips_per_second": float64(len(lat)) / wall, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)})
}
