package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/tun/netstack"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
)

// tunnelV4 is the tunnel's first IPv4 address (UDP ASSOCIATE sockets bind to it).
var tunnelV4 = netip.IPv4Unspecified()

// serveSocks5: RFC 1928 without authentication; CONNECT and UDP ASSOCIATE.
func serveSocks5(ln net.Listener, tnet *netstack.Net) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Printf("socks5 accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			if err := socksSession(c.(*net.TCPConn), tnet); err != nil {
				c.Close()
			}
		}()
	}
}

func reply(c net.Conn, code byte, bound netip.AddrPort) error {
	b := []byte{5, code, 0}
	if bound.Addr().Is6() {
		b = append(b, 4)
	} else {
		b = append(b, 1)
	}
	if !bound.IsValid() {
		bound = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	b = append(b, bound.Addr().Unmap().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, bound.Port())
	_, err := c.Write(b)
	return err
}

// readAddr reads ATYP, address and port; names are returned unresolved.
func readAddr(r io.Reader) (host string, port uint16, err error) {
	var atyp [1]byte
	if _, err = io.ReadFull(r, atyp[:]); err != nil {
		return
	}
	var raw []byte
	switch atyp[0] {
	case 1:
		raw = make([]byte, 4)
	case 4:
		raw = make([]byte, 16)
	case 3:
		var l [1]byte
		if _, err = io.ReadFull(r, l[:]); err != nil {
			return
		}
		raw = make([]byte, l[0])
	default:
		return "", 0, errors.New("bad address type")
	}
	if _, err = io.ReadFull(r, raw); err != nil {
		return
	}
	var p [2]byte
	if _, err = io.ReadFull(r, p[:]); err != nil {
		return
	}
	port = binary.BigEndian.Uint16(p[:])
	if atyp[0] == 3 {
		return string(raw), port, nil
	}
	a, _ := netip.AddrFromSlice(raw)
	return a.String(), port, nil
}

// resolve: an address as is, a name through the tunnel's DNS servers.
func resolve(ctx context.Context, tnet *netstack.Net, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, nil
	}
	addrs, err := tnet.LookupContextHost(ctx, host)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, s := range addrs {
		if a, err := netip.ParseAddr(s); err == nil {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("no address")
}

func socksSession(c *net.TCPConn, tnet *netstack.Net) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 {
		return errors.New("not SOCKS5")
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return err
	}
	if _, err := c.Write([]byte{5, 0}); err != nil {
		return err
	}
	var req [3]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[0] != 5 {
		return errors.New("bad request")
	}
	host, port, err := readAddr(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch req[1] {
	case 1: // CONNECT
		addr, err := resolve(ctx, tnet, host)
		if err != nil {
			reply(c, 4, netip.AddrPort{})
			return err
		}
		r, err := tnet.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(addr, port))
		if err != nil {
			reply(c, 5, netip.AddrPort{})
			return err
		}
		if err := reply(c, 0, netip.MustParseAddrPort(r.LocalAddr().String())); err != nil {
			r.Close()
			return err
		}
		c.SetDeadline(time.Time{})
		go relay(c, r)
		return nil
	case 3: // UDP ASSOCIATE
		local := c.LocalAddr().(*net.TCPAddr)
		pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: local.IP})
		if err != nil {
			reply(c, 1, netip.AddrPort{})
			return err
		}
		// Bound to the tunnel's IPv4 address: gVisor finds no route from 0.0.0.0 on the NIC.
		tc, err := tnet.ListenUDPAddrPort(netip.AddrPortFrom(tunnelV4, 0))
		if err != nil {
			pc.Close()
			reply(c, 1, netip.AddrPort{})
			return err
		}
		if err := reply(c, 0, pc.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			pc.Close()
			tc.Close()
			return err
		}
		c.SetDeadline(time.Time{})
		go udpAssociate(c, pc, tc, tnet)
		return nil
	default:
		reply(c, 7, netip.AddrPort{})
		return errors.New("command not supported")
	}
}

// udpAssociate relays datagrams until the control connection closes.
func udpAssociate(ctrl *net.TCPConn, pc *net.UDPConn, tc *gonet.UDPConn, tnet *netstack.Net) {
	var client netip.AddrPort
	clientKnown := make(chan struct{})
	go func() {
		buf := make([]byte, 65535)
		first := true
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if first {
				client = from
				first = false
				close(clientKnown)
			} else if from != client {
				continue
			}
			if n < 4 || buf[2] != 0 { // fragments are not supported
				continue
			}
			r := &byteReader{b: buf[3:n]}
			host, port, err := readAddr(r)
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			addr, err := resolve(ctx, tnet, host)
			cancel()
			if err != nil {
				continue
			}
			tc.WriteTo(r.b, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, port)))
		}
	}()
	go func() {
		buf := make([]byte, 65535)
		<-clientKnown
		for {
			n, from, err := tc.ReadFrom(buf[22:])
			if err != nil {
				return
			}
			ap := from.(*net.UDPAddr).AddrPort()
			hdr := []byte{0, 0, 0, 1}
			ip := ap.Addr().Unmap()
			if ip.Is6() {
				hdr[3] = 4
			}
			hdr = append(hdr, ip.AsSlice()...)
			hdr = binary.BigEndian.AppendUint16(hdr, ap.Port())
			start := 22 - len(hdr)
			copy(buf[start:], hdr)
			pc.WriteToUDPAddrPort(buf[start:22+n], client)
		}
	}()
	io.Copy(io.Discard, ctrl)
	ctrl.Close()
	pc.Close()
	tc.Close()
}

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
