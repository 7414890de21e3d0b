package handlers

import (
	"bytes"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cloakroom/cloakroom/fanout"
)

// streamSendBuffer is the send buffer asked of the kernel for each taken-over
// stream connection (SO_SNDBUF; Linux doubles it, socket(7)). It bounds what
// the kernel holds for a reader that has stopped reading, so that where the
// send queue cannot be asked (not Linux) such a reader still blocks a write,
// and is cut off, within seconds. 32 KiB is about 100 messages of 300 B.
const streamSendBuffer = 32 << 10

// streamConn is the fanout.Conn of one reader of an event stream. Over
// HTTP/1.x it takes the connection over from net/http once the request is
// read (http.Hijacker): frames are then written straight to the socket,
// several in one writev, with no copy into net/http's buffers and no
// chunked encoding; the body ends when the connection closes. Where the
// connection cannot be taken over (HTTP/2), it writes through the
// http.ResponseWriter.
//
// Over HTTP/2 a stream costs one goroutine, the handler's (it writes, and
// net/http's HTTP/2 server ends its request context when the client resets
// the stream); the connection's reading and writing goroutines are shared
// by its streams. A write blocks once the client's flow-control window for
// the stream is full, not before: net/http queues a stream's DATA frames
// until the window allows them, and writes other streams' meanwhile, so a
// stream that is not read holds up no other. The lag the fan-out measures
// is therefore up to the moment net/http has written a frame to the
// connection (Unacked cannot tell per stream what the peer has read): what
// sits in the client's stream window (16 KiB to several MiB, the client's
// choice) or in the shared TCP send queue is not counted, and a reader
// whose window is full is cut MaxLag after its write blocked. Abort sets a
// write deadline in the past: net/http then resets the stream
// (RST_STREAM) and the blocked write returns, even when the connection
// itself is stuck and the reset cannot go out.
type streamConn struct {
	mu      sync.Mutex // guards conn, tcp, rc and aborted for Abort and Unacked
	conn    net.Conn   // the taken-over connection, or nil
	tcp     *net.TCPConn
	res     *echo.Response
	rc      *http.ResponseController
	aborted bool

	head []byte // the response head, not yet written, on a taken-over connection
}

// open starts the response: 200 with the event-stream headers. gone is
// called when a taken-over connection's client closes it (net/http no longer
// watches for that).
func (s *streamConn) open(c echo.Context, gone func()) {
	res := c.Response()
	h := res.Header()
	setStreamHeaders(h)
	s.res = res

	if c.Request().ProtoMajor == 1 {
		if conn, brw, err := res.Hijack(); err == nil {
			_ = brw // nothing buffered matters: see takeOver
			s.takeOver(res, conn, gone)
			return
		}
	}
	s.mu.Lock()
	s.rc = http.NewResponseController(res.Writer)
	aborted := s.aborted
	s.mu.Unlock()
	if aborted {
		s.Abort()
	}
	res.WriteHeader(http.StatusOK)
}

// setStreamHeaders sets the headers of an event stream's response.
func setStreamHeaders(h http.Header) {
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx would hold events back otherwise
}

// takeOver keeps a hijacked connection and writes the response head into
// s.head, to go out with the first bytes of the stream.
func (s *streamConn) takeOver(res *echo.Response, conn net.Conn, gone func()) {
	tcp, _ := conn.(*net.TCPConn)
	if tcp != nil {
		_ = tcp.SetWriteBuffer(streamSendBuffer)
	}
	s.mu.Lock()
	s.conn, s.tcp = conn, tcp
	aborted := s.aborted
	s.mu.Unlock()
	if aborted {
		s.Abort()
	}

	// Echo's access log and error handler read these; the response is ours
	// to write from here.
	res.Status, res.Committed = http.StatusOK, true
	h := res.Header()
	h.Set("Connection", "close") // the body is delimited by the close
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.Write(&head)
	head.WriteString("\r\n")
	s.head = head.Bytes()

	// A client sends nothing after its request: anything read (or left in
	// net/http's buffer) is a pipelined request, never answered since the
	// stream ends the connection. What counts is the end of the connection,
	// which this goroutine, the stream's second, is there to see.
	go func() {
		var b [64]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				gone()
				return
			}
		}
	}()
}

// WriteBuffers writes bufs, after the response head if it has not gone
// out yet.
func (s *streamConn) WriteBuffers(bufs [][]byte) (int64, error) {
	if s.conn != nil {
		if s.head != nil {
			bufs = append([][]byte{s.head}, bufs...)
			s.head = nil
		}
		// Not s.res: once the handler has returned, Echo may hand its
		// response to another request.
		nb := net.Buffers(bufs)
		return nb.WriteTo(s.conn)
	}
	var n int64
	for _, b := range bufs {
		m, err := s.res.Write(b)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, s.rc.Flush()
}

// Abort ends the connection at once: a taken-over one is reset (RST, so
// the kernel drops what it still holds for the reader), and a blocked write
// through the ResponseWriter is given a deadline in the past.
func (s *streamConn) Abort() {
	s.mu.Lock()
	s.aborted = true
	conn, tcp, rc := s.conn, s.tcp, s.rc
	s.mu.Unlock()
	switch {
	case tcp != nil:
		_ = tcp.SetLinger(0)
		_ = tcp.Close()
	case conn != nil:
		_ = conn.Close()
	case rc != nil:
		_ = rc.SetWriteDeadline(time.Now())
	}
}

// Unacked asks the kernel what it still holds of a taken-over TCP
// connection's bytes (see unsentBytes).
func (s *streamConn) Unacked() (int64, bool) {
	s.mu.Lock()
	tcp := s.tcp
	s.mu.Unlock()
	if tcp == nil {
		return 0, false
	}
	return unsentBytes(tcp)
}

// close ends a taken-over connection after the stream (net/http closes its
// own).
func (s *streamConn) close() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

var _ fanout.Conn = (*streamConn)(nil)
