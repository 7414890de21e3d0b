package handlers

import (
	"net"

	"golang.org/x/sys/unix"
)

// unsentBytes returns the bytes in conn's send queue: written, and not yet
// acknowledged by the peer (SIOCOUTQ, tcp(7)).
func unsentBytes(conn *net.TCPConn) (int64, bool) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int
	var ioErr error
	if err := raw.Control(func(fd uintptr) {
		n, ioErr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil || ioErr != nil {
		return 0, false
	}
	return int64(n), true
}
