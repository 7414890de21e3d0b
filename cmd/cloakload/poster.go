package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// A poster sends the publisher's POSTs over keep-alive HTTP/1.1
// connections of its own. net/http's client cost the generator about as
// much CPU per post as the server spent handling it (two goroutines per
// connection, a hand-off per request), so a run with many posts measured
// the tool; this writes each request in one write and reads the reply with
// one buffered reader.
type poster struct {
	addr    string
	host    string
	timeout time.Duration
	idle    chan *postConn // kept-alive connections, at most cap(idle)
}

type postConn struct {
	c  net.Conn
	br *bufio.Reader
}

func newPoster(host string, keep int) *poster {
	return &poster{addr: host, host: host, timeout: 30 * time.Second, idle: make(chan *postConn, keep)}
}

// reply is a response's status and body.
type reply struct {
	status int
	body   []byte
}

// do sends one request (head without Host, then body) and reads the reply,
// on an idle connection or a new one. ctx ending cuts the request short.
func (p *poster) do(ctx context.Context, head string, body []byte) (reply, error) {
	var c *postConn
	select {
	case c = <-p.idle:
	default:
		conn, err := (&net.Dialer{Timeout: p.timeout}).DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return reply{}, err
		}
		c = &postConn{c: conn, br: bufio.NewReaderSize(conn, 4096)}
	}
	stop := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	r, keep, err := c.roundTrip(p.host, head, body, p.timeout)
	if !stop() {
		keep = false // the deadline may have been cut: the connection is spoilt
		if err != nil {
			err = errors.Join(context.Cause(ctx), err)
		}
	}
	if err != nil || !keep {
		c.c.Close()
		return r, err
	}
	select {
	case p.idle <- c:
	default:
		c.c.Close()
	}
	return r, nil
}

// roundTrip writes the request and reads the reply; keep tells whether
// the connection may carry another.
func (c *postConn) roundTrip(host, head string, body []byte, timeout time.Duration) (reply, bool, error) {
	if err := c.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return reply{}, false, err
	}
	req := make([]byte, 0, len(head)+len(host)+64+len(body))
	req = append(req, head...)
	req = append(req, "Host: "...)
	req = append(req, host...)
	req = append(req, "\r\nContent-Length: "...)
	req = strconv.AppendInt(req, int64(len(body)), 10)
	req = append(req, "\r\n\r\n"...)
	req = append(req, body...)
	if _, err := c.c.Write(req); err != nil {
		return reply{}, false, err
	}
	return readReply(c.br)
}

// readReply reads one HTTP/1.1 response: its status, and its body by
// Content-Length or chunked coding (either may come from a Go server).
func readReply(br *bufio.Reader) (reply, bool, error) {
	var head []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return reply{}, false, fmt.Errorf("read the reply: %w", err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		if len(head)+len(line) > maxHead {
			return reply{}, false, errors.New("reply head over 64 KiB")
		}
		head = append(head, line...)
	}
	h, err := parseHead(bytes.TrimRight(head, "\r\n"))
	if err != nil {
		return reply{}, false, err
	}
	keep := !headerHas(head, "Connection", "close")
	r := reply{status: h.status}
	switch {
	case h.chunked:
		var d chunkDecoder
		for {
			line, err := br.ReadSlice('\n') // the decoder takes any cut; lines keep reads small
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return r, false, fmt.Errorf("read the reply: %w", err)
			}
			derr := d.feed(line, func(p []byte) { r.body = append(r.body, p...) })
			if errors.Is(derr, errBodyEnded) {
				// The trailer section: lines up to a blank one.
				for {
					t, err := br.ReadSlice('\n')
					if err != nil {
						return r, false, err
					}
					if len(bytes.TrimSpace(t)) == 0 {
						return r, keep, nil
					}
				}
			}
			if derr != nil {
				return r, false, derr
			}
			if len(r.body) > 1<<20 {
				return r, false, errors.New("reply body over 1 MiB")
			}
		}
	default:
		n, ok := contentLength(head)
		if !ok {
			return r, false, errors.New("reply without a length")
		}
		if n > 1<<20 {
			return r, false, errors.New("reply body over 1 MiB")
		}
		r.body = make([]byte, n)
		if _, err := io.ReadFull(br, r.body); err != nil {
			return r, false, fmt.Errorf("read the reply: %w", err)
		}
	}
	return r, keep, nil
}

// contentLength reads a head's Content-Length.
func contentLength(head []byte) (int, bool) {
	for line := range bytes.SplitSeq(head, []byte("\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			return n, err == nil && n >= 0
		}
	}
	return 0, false
}

// headerHas tells whether a head has header name with a value holding
// token (in any case).
func headerHas(head []byte, name, token string) bool {
	for line := range bytes.SplitSeq(head, []byte("\n")) {
		n, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(n), []byte(name)) &&
			bytes.Contains(bytes.ToLower(value), bytes.ToLower([]byte(token))) {
			return true
		}
	}
	return false
}
