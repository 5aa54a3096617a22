package main

import (
	"log"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/tun/netstack"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
)

const udpIdle = 60 * time.Second

// serveUDPForward: one tunnel UDP socket per client address, closed after udpIdle of silence.
func serveUDPForward(pc *net.UDPConn, tnet *netstack.Net, target netip.AddrPort) {
	var mu sync.Mutex
	sessions := map[netip.AddrPort]*gonet.UDPConn{}
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			log.Printf("-U read: %v", err)
			return
		}
		mu.Lock()
		s := sessions[from]
		if s == nil {
			s, err = tnet.DialUDPAddrPort(netip.AddrPort{}, target)
			if err != nil {
				mu.Unlock()
				continue
			}
			sessions[from] = s
			go func(s *gonet.UDPConn, from netip.AddrPort) {
				b := make([]byte, 65535)
				for {
					s.SetReadDeadline(time.Now().Add(udpIdle))
					m, err := s.Read(b)
					if err != nil {
						break
					}
					pc.WriteToUDPAddrPort(b[:m], from)
				}
				mu.Lock()
				delete(sessions, from)
				mu.Unlock()
				s.Close()
			}(s, from)
		}
		mu.Unlock()
		s.Write(buf[:n])
	}
}
