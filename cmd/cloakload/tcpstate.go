package main

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Linux TCP states, as TCP_INFO and /proc/net/tcp number them.
var tcpStates = [...]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
	6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
}

const tcpEstablished = 1

// stateName names a TCP state number.
func stateName(s uint8) string {
	if int(s) < len(tcpStates) && tcpStates[s] != "" {
		return tcpStates[s]
	}
	return "state " + strconv.Itoa(int(s))
}

// clientState is the kernel's state of our end of a connection
// (TCP_INFO): CLOSE_WAIT once the server's FIN arrived, CLOSE after a RST.
func clientState(c syscall.Conn) (uint8, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var info *unix.TCPInfo
	var serr error
	err = raw.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return info.State, nil
}

// serverState finds the server's end of our connection in /proc/net/tcp and
// tcp6 (the server runs on this machine): found is false once the socket is
// gone. Its state shows a close the client cannot see: a server that closes
// a socket whose reader stopped reading queues its FIN behind data the
// reader's zero window will never take, so our end stays ESTABLISHED while
// theirs is FIN_WAIT1.
func serverState(server, client *net.TCPAddr) (state uint8, found bool, err error) {
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		table, rerr := os.ReadFile(name)
		if rerr != nil {
			err = rerr
			continue
		}
		if s, ok := findSocket(table, server.Port, client.Port); ok {
			return s, true, nil
		}
	}
	return 0, false, err
}

// findSocket finds the socket whose local port is local and remote port is
// remote in a /proc/net/tcp table:
//
//	sl  local_address rem_address   st …
//	 0: 0100007F:1F90 0100007F:C350 01 …
//
// Ports alone identify a loopback connection to one server well enough.
func findSocket(table []byte, local, remote int) (uint8, bool) {
	for line := range bytes.SplitSeq(table, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) < 4 {
			continue
		}
		if hexPort(f[1]) != local || hexPort(f[2]) != remote {
			continue
		}
		s, err := strconv.ParseUint(string(f[3]), 16, 8)
		if err != nil {
			continue
		}
		return uint8(s), true
	}
	return 0, false
}

// hexPort reads the port of an "ADDR:PORT" field in hex; -1 if malformed.
func hexPort(field []byte) int {
	i := bytes.LastIndexByte(field, ':')
	if i < 0 {
		return -1
	}
	p, err := strconv.ParseUint(string(field[i+1:]), 16, 16)
	if err != nil {
		return -1
	}
	return int(p)
}
