// wggo-netstack: wireguard-go's userspace stack (tun/netstack, gVisor) as a proxy, the way
// wireproxy and similar tools use it, for benchmark/lib/netstack-bench.sh.
//
//	wggo-netstack -config FILE [-L BIND:PORT:HOST:HOSTPORT]... [-U BIND:PORT:HOST:HOSTPORT]... [-socks5 HOST:PORT]
//
// FILE is a wg-quick file (PrivateKey, Address, DNS, MTU; one or more [Peer] with PublicKey,
// AllowedIPs, Endpoint, PersistentKeepalive). -L forwards TCP, -U forwards UDP, -socks5 serves
// SOCKS5 CONNECT and UDP ASSOCIATE with names resolved by the tunnel's DNS (Net.LookupContextHost).
// One "listening ..." line per listener once all are bound; SIGINT/SIGTERM stop it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	log.SetFlags(0)
	log.SetPrefix("wggo-netstack: ")
	config := flag.String("config", "", "wg-quick file")
	socks := flag.String("socks5", "", "SOCKS5 listener HOST:PORT")
	var tcpFwd, udpFwd listFlag
	flag.Var(&tcpFwd, "L", "TCP forward BIND:PORT:HOST:HOSTPORT (repeatable)")
	flag.Var(&udpFwd, "U", "UDP forward BIND:PORT:HOST:HOSTPORT (repeatable)")
	flag.Parse()
	if *config == "" || (len(tcpFwd) == 0 && len(udpFwd) == 0 && *socks == "") {
		flag.Usage()
		os.Exit(2)
	}
	text, err := os.ReadFile(*config)
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := parseWgQuick(string(text))
	if err != nil {
		log.Fatalf("%s: %v", *config, err)
	}
	tunDev, tnet, err := netstack.CreateNetTUN(cfg.addresses, cfg.dns, cfg.mtu)
	if err != nil {
		log.Fatalf("CreateNetTUN: %v", err)
	}
	dev := device.NewDevice(tunDev, conn.NewDefaultBind(), device.NewLogger(device.LogLevelError, "wggo-netstack: "))
	if err := dev.IpcSet(cfg.uapi); err != nil {
		log.Fatalf("IpcSet: %v", err)
	}
	if err := dev.Up(); err != nil {
		log.Fatalf("Up: %v", err)
	}
	var ready []string
	for _, spec := range tcpFwd {
		bind, target, err := parseForward(spec)
		if err != nil {
			log.Fatalf("-L %s: %v", spec, err)
		}
		ln, err := net.Listen("tcp", bind)
		if err != nil {
			log.Fatalf("-L %s: %v", spec, err)
		}
		go serveTCPForward(ln, tnet, target)
		ready = append(ready, fmt.Sprintf("listening -L tcp %s -> %s", ln.Addr(), target))
	}
	for _, spec := range udpFwd {
		bind, target, err := parseForward(spec)
		if err != nil {
			log.Fatalf("-U %s: %v", spec, err)
		}
		pc, err := net.ListenPacket("udp", bind)
		if err != nil {
			log.Fatalf("-U %s: %v", spec, err)
		}
		go serveUDPForward(pc.(*net.UDPConn), tnet, target)
		ready = append(ready, fmt.Sprintf("listening -U udp %s -> %s", pc.LocalAddr(), target))
	}
	for _, a := range cfg.addresses {
		if a.Is4() {
			tunnelV4 = a
			break
		}
	}
	if *socks != "" {
		ln, err := net.Listen("tcp", *socks)
		if err != nil {
			log.Fatalf("-socks5 %s: %v", *socks, err)
		}
		go serveSocks5(ln, tnet)
		ready = append(ready, fmt.Sprintf("listening socks5 %s", ln.Addr()))
	}
	for _, line := range ready {
		fmt.Println(line)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	dev.Close()
}

// parseForward reads [BIND:]PORT:HOST:HOSTPORT (BIND defaults to 127.0.0.1).
func parseForward(spec string) (string, netip.AddrPort, error) {
	parts := strings.Split(spec, ":")
	if len(parts) == 3 {
		parts = append([]string{"127.0.0.1"}, parts...)
	}
	if len(parts) != 4 {
		return "", netip.AddrPort{}, fmt.Errorf("expected [BIND:]PORT:HOST:HOSTPORT")
	}
	target, err := netip.ParseAddrPort(parts[2] + ":" + parts[3])
	if err != nil {
		return "", netip.AddrPort{}, err
	}
	return net.JoinHostPort(parts[0], parts[1]), target, nil
}

type halfCloser interface {
	net.Conn
	CloseWrite() error
}

// relay copies both ways with half-close, then closes both.
func relay(a, b halfCloser) {
	done := make(chan struct{}, 2)
	pipe := func(dst, src halfCloser) {
		io.Copy(dst, src)
		dst.CloseWrite()
		done <- struct{}{}
	}
	go pipe(a, b)
	go pipe(b, a)
	<-done
	<-done
	a.Close()
	b.Close()
}

func serveTCPForward(ln net.Listener, tnet *netstack.Net, target netip.AddrPort) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Printf("accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := tnet.DialContextTCPAddrPort(ctx, target)
			if err != nil {
				c.Close()
				return
			}
			relay(c.(*net.TCPConn), r)
		}()
	}
}
