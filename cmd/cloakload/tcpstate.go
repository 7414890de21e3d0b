package main

import (
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
