package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// The server's end of a frozen reader's connection is looked up with one
// sock_diag request (netlink, NETLINK_SOCK_DIAG) by its exact addresses and
// ports: the kernel finds that one socket. Reading /proc/net/tcp every 20 ms
// instead had the kernel print every socket on the machine each time,
// thousands of TIME_WAIT ones after an idle run, and that alone took 70–86%
// of the generator's core.

// Sizes of the kernel's structures (linux/netlink.h, linux/inet_diag.h).
const (
	nlmsgHeaderLen   = 16 // struct nlmsghdr
	inetDiagSockID   = 48 // struct inet_diag_sockid
	inetDiagReqV2Len = 8 + inetDiagSockID
	inetDiagMsgLen   = 4 + inetDiagSockID + 20
	nlmsgError       = 2 // NLMSG_ERROR
)

// diagRequest is the netlink message asking for the TCP socket whose local
// end is local and remote end remote, in any state.
func diagRequest(local, remote *net.TCPAddr, seq uint32) ([]byte, error) {
	family, lip, rip := uint8(unix.AF_INET), local.IP.To4(), remote.IP.To4()
	if lip == nil || rip == nil {
		family, lip, rip = unix.AF_INET6, local.IP.To16(), remote.IP.To16()
	}
	if lip == nil || rip == nil {
		return nil, errors.New("sock_diag: not an IP address")
	}
	b := make([]byte, nlmsgHeaderLen+inetDiagReqV2Len)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(b[8:], seq)
	r := b[nlmsgHeaderLen:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 0xffffffff) // every state
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], uint16(local.Port))
	binary.BigEndian.PutUint16(id[2:], uint16(remote.Port))
	copy(id[4:20], lip)
	copy(id[20:36], rip)
	ne.PutUint32(id[40:], 0xffffffff) // no cookie: find it by address
	ne.PutUint32(id[44:], 0xffffffff)
	return b, nil
}

// parseDiagReply reads the kernel's answer: the socket's state, or found
// false when there is no such socket.
func parseDiagReply(b []byte) (state uint8, found bool, err error) {
	if len(b) < nlmsgHeaderLen {
		return 0, false, errors.New("sock_diag: short reply")
	}
	ne := binary.NativeEndian
	n, typ := ne.Uint32(b[0:]), ne.Uint16(b[4:])
	if int(n) > len(b) || n < nlmsgHeaderLen {
		return 0, false, errors.New("sock_diag: malformed reply")
	}
	body := b[nlmsgHeaderLen:n]
	switch typ {
	case nlmsgError:
		if len(body) < 4 {
			return 0, false, errors.New("sock_diag: short error")
		}
		code := -int32(ne.Uint32(body))
		if code == int32(unix.ENOENT) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("sock_diag: %w", unix.Errno(code))
	case unix.SOCK_DIAG_BY_FAMILY:
		if len(body) < inetDiagMsgLen {
			return 0, false, errors.New("sock_diag: short message")
		}
		return body[1], true, nil
	}
	return 0, false, fmt.Errorf("sock_diag: unexpected message type %d", typ)
}

// serverState finds the server's end of our connection (the server runs
// on this machine): found is false once its socket is gone. Its state shows
// a close the client cannot see: a server that closes a socket whose reader
// stopped reading queues its FIN behind data the reader's zero window will
// never take, so our end stays ESTABLISHED while theirs is FIN_WAIT1.
func serverState(server, client *net.TCPAddr) (state uint8, found bool, err error) {
	req, err := diagRequest(server, client, 1)
	if err != nil {
		return 0, false, err
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, false, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, false, fmt.Errorf("sock_diag: %w", err)
	}
	buf := make([]byte, 1024)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, false, fmt.Errorf("sock_diag: %w", err)
	}
	return parseDiagReply(buf[:n])
}
