package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

type wgConfig struct {
	addresses []netip.Addr
	dns       []netip.Addr
	mtu       int
	uapi      string // wireguard-go's IpcSet text
}

func keyHex(b64 string) (string, error) {
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(k) != 32 {
		return "", fmt.Errorf("bad key %q", b64)
	}
	return hex.EncodeToString(k), nil
}

// parseWgQuick reads the wg-quick keys the harness needs.
func parseWgQuick(text string) (*wgConfig, error) {
	cfg := &wgConfig{mtu: 1420}
	var uapi strings.Builder
	section := ""
	for n, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.ToLower(strings.Trim(line, "[]"))
			if section != "interface" && section != "peer" {
				return nil, fmt.Errorf("line %d: unknown section %s", n+1, line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: expected KEY = VALUE", n+1)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		list := func() []string {
			var out []string
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			return out
		}
		switch section + "." + k {
		case "interface.privatekey":
			h, err := keyHex(v)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&uapi, "private_key=%s\n", h)
		case "interface.listenport":
			fmt.Fprintf(&uapi, "listen_port=%s\n", v)
		case "interface.address":
			for _, s := range list() {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					a, err2 := netip.ParseAddr(s)
					if err2 != nil {
						return nil, fmt.Errorf("line %d: %v", n+1, err)
					}
					p = netip.PrefixFrom(a, a.BitLen())
				}
				cfg.addresses = append(cfg.addresses, p.Addr())
			}
		case "interface.dns":
			for _, s := range list() {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return nil, fmt.Errorf("line %d: %v", n+1, err)
				}
				cfg.dns = append(cfg.dns, a)
			}
		case "interface.mtu":
			m, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n+1, err)
			}
			cfg.mtu = m
		case "peer.publickey":
			h, err := keyHex(v)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&uapi, "public_key=%s\n", h)
		case "peer.presharedkey":
			h, err := keyHex(v)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&uapi, "preshared_key=%s\n", h)
		case "peer.endpoint":
			fmt.Fprintf(&uapi, "endpoint=%s\n", v)
		case "peer.persistentkeepalive":
			fmt.Fprintf(&uapi, "persistent_keepalive_interval=%s\n", v)
		case "peer.allowedips":
			for _, s := range list() {
				fmt.Fprintf(&uapi, "allowed_ip=%s\n", s)
			}
		default:
			return nil, fmt.Errorf("line %d: unsupported key %s in [%s]", n+1, k, section)
		}
	}
	if len(cfg.addresses) == 0 {
		return nil, fmt.Errorf("no Address")
	}
	cfg.uapi = uapi.String()
	return cfg, nil
}
