package handlers

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/cloakroom/cloakroom/chat"
)

// protocols are the two ways a stream is served: over HTTP/1.1 the
// connection is taken over (streamconn.go), over HTTP/2 (TLS) the stream
// writes through net/http's ResponseWriter, beside the connection's other
// streams.
var protocols = []struct {
	name string
	h2   bool
}{{"http1", false}, {"h2", true}}

// startServer starts a test server (see newTestServer).
type startServer func(ccfg chat.Config, hcfg Config, configure ...func(*http.Server)) *testServer

// eachProtocol runs f as a subtest per protocol, with start making servers
// that speak it.
func eachProtocol(t *testing.T, f func(t *testing.T, start startServer)) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			f(t, func(ccfg chat.Config, hcfg Config, configure ...func(*http.Server)) *testServer {
				t.Helper()
				return startTestServer(t, p.h2, ccfg, hcfg, configure...)
			})
		})
	}
}

// h2Transport is a client transport for srv (HTTP/2 over TLS) whose
// streams each get a receive window of window bytes (so one whose body is
// not read stops the server's writes once that much is in flight), and
// that counts the TCP connections it opens.
func h2Transport(t testing.TB, srv *testServer, window int, dials *atomic.Int64) *http.Transport {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: window}
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// h2Conn is a bare HTTP/2 client connection: the test's one goroutine
// reads its frames (read), so that it costs no goroutine per stream,
// unlike net/http's client. It opens connection-level flow control wide
// and keeps it so, and grants each stream's window back as it reads.
type h2Conn struct {
	conn   *tls.Conn
	fr     *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	next   uint32 // the next stream id

	mu     sync.Mutex
	data   map[uint32]*bytes.Buffer
	resets map[uint32]http2.ErrCode
	err    error // why reading stopped
}

// dialH2 opens a bare HTTP/2 connection to srv. A stuck one never reads
// from the connection at all, has a 4 KiB receive buffer (SO_RCVBUF) and
// grants each stream a 1 GiB window, so that flow control never stops the
// server: its writes to the connection block once the kernels' buffers are
// full, as for a client whose network is stuck.
func dialH2(t testing.TB, srv *testServer, stuck bool) *h2Conn {
	t.Helper()
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"h2"}
	var d net.Dialer
	if stuck {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var err error
			if cerr := c.Control(func(fd uintptr) {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			}); cerr != nil {
				return cerr
			}
			return err
		}
	}
	conn, err := tls.DialWithDialer(&d, "tcp", srv.Listener.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	c := &h2Conn{conn: conn, fr: http2.NewFramer(conn, conn), next: 1,
		data: map[uint32]*bytes.Buffer{}, resets: map[uint32]http2.ErrCode{}}
	c.enc = hpack.NewEncoder(&c.encBuf)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	var settings []http2.Setting
	if stuck {
		settings = append(settings, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	}
	if err := c.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteWindowUpdate(0, 1<<30); err != nil {
		t.Fatal(err)
	}
	if !stuck {
		go c.read()
	}
	return c
}

// open sends a GET for path on a new stream and returns its id. Only the
// test's goroutine writes, apart from read's acks, hence the lock.
func (c *h2Conn) open(t testing.TB, path string) uint32 {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.encBuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "test"}, {":path", path}} {
		_ = c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	id := c.next
	c.next += 2
	c.data[id] = &bytes.Buffer{}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.encBuf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	return id
}

// read reads frames until the connection ends, keeping each stream's data.
func (c *h2Conn) read() {
	for {
		f, err := c.fr.ReadFrame()
		c.mu.Lock()
		if err != nil {
			c.err = err
			c.mu.Unlock()
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = c.fr.WritePing(true, f.Data)
			}
		case *http2.DataFrame:
			if b := c.data[f.StreamID]; b != nil {
				b.Write(f.Data())
			}
			if n := uint32(len(f.Data())); n > 0 {
				_ = c.fr.WriteWindowUpdate(0, n)
				_ = c.fr.WriteWindowUpdate(f.StreamID, n)
			}
		case *http2.RSTStreamFrame:
			c.resets[f.StreamID] = f.ErrCode
		}
		c.mu.Unlock()
	}
}

// received reports whether stream id's body so far contains s.
func (c *h2Conn) received(id uint32, s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Contains(c.data[id].String(), s)
}

// close cancels stream id (RST_STREAM CANCEL), as a client going away.
func (c *h2Conn) close(t testing.TB, id uint32) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
		t.Fatal(err)
	}
}
