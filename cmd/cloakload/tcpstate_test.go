package main

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestDiagRequest(t *testing.T) {
	server := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	client := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
	b, err := diagRequest(server, client, 7)
	if err != nil {
		t.Fatal(err)
	}
	ne := binary.NativeEndian
	id := b[nlmsgHeaderLen+8:]
	got := []any{
		len(b), ne.Uint32(b[0:]), ne.Uint16(b[4:]), ne.Uint16(b[6:]), ne.Uint32(b[8:]),
		b[16], b[17], ne.Uint32(b[20:]),
		binary.BigEndian.Uint16(id[0:]), binary.BigEndian.Uint16(id[2:]),
		net.IP(id[4:8]).String(), net.IP(id[20:24]).String(), ne.Uint32(id[40:]), ne.Uint32(id[44:]),
	}
	want := []any{
		72, uint32(72), uint16(unix.SOCK_DIAG_BY_FAMILY), uint16(unix.NLM_F_REQUEST), uint32(7),
		uint8(unix.AF_INET), uint8(unix.IPPROTO_TCP), uint32(0xffffffff),
		uint16(8080), uint16(50000),
		"127.0.0.1", "127.0.0.1", uint32(0xffffffff), uint32(0xffffffff),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request fields (-want +got):\n%s", diff)
	}
	b6, err := diagRequest(&net.TCPAddr{IP: net.IPv6loopback, Port: 1}, &net.TCPAddr{IP: net.IPv6loopback, Port: 2}, 1)
	if err != nil || b6[16] != unix.AF_INET6 || !net.IP(b6[nlmsgHeaderLen+8+4:][:16]).Equal(net.IPv6loopback) {
		t.Errorf("IPv6 request: family %d, error %v", b6[16], err)
	}
}

// message builds a netlink message of type typ around body.
func message(typ uint16, body []byte) []byte {
	b := make([]byte, nlmsgHeaderLen+len(body))
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	copy(b[nlmsgHeaderLen:], body)
	return b
}

func TestParseDiagReply(t *testing.T) {
	errno := func(e unix.Errno) []byte {
		b := make([]byte, 4+nlmsgHeaderLen)
		binary.NativeEndian.PutUint32(b, uint32(-int32(e)))
		return b
	}
	found := make([]byte, inetDiagMsgLen)
	found[0], found[1] = unix.AF_INET, 4 // FIN_WAIT1
	for _, tt := range []struct {
		name      string
		reply     []byte
		wantState uint8
		wantFound bool
		wantErr   bool
	}{
		{"a socket in FIN_WAIT1", message(unix.SOCK_DIAG_BY_FAMILY, found), 4, true, false},
		{"no such socket", message(nlmsgError, errno(unix.ENOENT)), 0, false, false},
		{"refused", message(nlmsgError, errno(unix.EPERM)), 0, false, true},
		{"short message", message(unix.SOCK_DIAG_BY_FAMILY, found[:10]), 0, false, true},
		{"unexpected type", message(3, nil), 0, false, true},
		{"cut short", []byte{1, 2, 3}, 0, false, true},
		{"length past the end", message(unix.SOCK_DIAG_BY_FAMILY, found)[:20], 0, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			state, ok, err := parseDiagReply(tt.reply)
			if state != tt.wantState || ok != tt.wantFound || (err != nil) != tt.wantErr {
				t.Errorf("parseDiagReply = %d, %v, %v; want %d, %v, error %v", state, ok, err, tt.wantState, tt.wantFound, tt.wantErr)
			}
		})
	}
	if stateName(4) != "FIN_WAIT1" || stateName(99) != "state 99" {
		t.Errorf("stateName(4), (99) = %q, %q", stateName(4), stateName(99))
	}
}

// Both ends' watchers see a real loopback connection change when the
// "server" end closes: ours goes to CLOSE_WAIT, theirs leaves ESTABLISHED.
func TestWatchersOnLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	srvAddr, cliAddr := server.LocalAddr().(*net.TCPAddr), server.RemoteAddr().(*net.TCPAddr)
	s, found, err := serverState(srvAddr, cliAddr)
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		t.Skipf("no sock_diag here: %v", err)
	}
	if err != nil || !found || s != tcpEstablished {
		t.Fatalf("server end: %s, found %v, %v; want ESTABLISHED", stateName(s), found, err)
	}
	if c, err := clientState(client.(*net.TCPConn)); err != nil || c != tcpEstablished {
		t.Fatalf("client end: %s, %v; want ESTABLISHED", stateName(c), err)
	}
	server.Close()
	deadline := time.Now().Add(5 * time.Second)
	var c uint8
	for time.Now().Before(deadline) {
		c, _ = clientState(client.(*net.TCPConn))
		s, found, _ = serverState(srvAddr, cliAddr)
		if c != tcpEstablished && (!found || s != tcpEstablished) {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, as the watcher does
	}
	if c != 8 {
		t.Errorf("client end after the server's close: %s, want CLOSE_WAIT", stateName(c))
	}
	if found && s == tcpEstablished {
		t.Error("server end still ESTABLISHED after its close")
	}
}
