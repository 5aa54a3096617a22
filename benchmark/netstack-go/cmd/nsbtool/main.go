// nsbtool: the servers and clients of benchmark/lib/netstack-bench.sh (Go standard library only).
//
//	nsbtool serve -addr IP [-stream PORT] [-http PORT] [-udpecho PORT] [-dns PORT -dns-answer IP]
//	nsbtool stream -connect HOST:PORT [-socks5 HOST:PORT -target HOST:PORT] -dir up|down -seconds N
//	nsbtool httpload -url URL -requests N -concurrency C
//	nsbtool idle -connect HOST:PORT -n N          (holds N connections until stdin closes)
//	nsbtool udprt -connect HOST:PORT | -socks5 HOST:PORT -target HOST:PORT  -n N
//
// The stream server speaks a one-byte protocol: 'U' = the client sends frames (4-byte length, data)
// until an empty one, and the server answers the byte count and the nanoseconds from first byte to end (the receiver's
// view); 'D' + 4-byte seconds = the server sends for that long and closes; 'H' = answers 'h'
// and holds the connection open. The DNS server answers every A query with -dns-answer and
// prints one "dns-query NAME" line per query. Clients print one JSON object.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: nsbtool serve|stream|httpload|idle|udprt ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "stream":
		err = stream(os.Args[2:])
	case "httpload":
		err = httpload(os.Args[2:])
	case "idle":
		err = idle(os.Args[2:])
	case "udprt":
		err = udprt(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nsbtool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
