package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// The readers that run in an event loop (evloop.go) speak HTTP/1.1 by
// hand: a GET, the response head, a chunked body, SSE lines. These are the
// pure parts of that.

// streamRequest is the GET that opens a stream at path on host.
func streamRequest(host, path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nAccept: text/event-stream\r\nUser-Agent: cloakload\r\n\r\n")
}

// maxHead bounds a response head.
const maxHead = 64 << 10

// responseHead is what a stream reader needs of a response's head.
type responseHead struct {
	status  int
	chunked bool
}

// parseHead reads a response head, from its status line up to and not
// including the blank line that ends it.
func parseHead(head []byte) (responseHead, error) {
	var h responseHead
	lines := bytes.Split(head, []byte("\r\n"))
	status := bytes.Fields(lines[0])
	if len(status) < 2 || !bytes.HasPrefix(status[0], []byte("HTTP/1.")) {
		return h, fmt.Errorf("malformed status line %q", lines[0])
	}
	code, err := strconv.Atoi(string(status[1]))
	if err != nil || code < 100 || code > 999 {
		return h, fmt.Errorf("malformed status %q", status[1])
	}
	h.status = code
	for _, line := range lines[1:] {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Transfer-Encoding")) {
			h.chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		}
	}
	return h, nil
}

// Chunked decoding states.
const (
	chunkSize   = iota // hex digits of a chunk's size
	chunkExt           // a chunk extension, skipped up to CR
	chunkSizeLF        // the LF after the size line's CR
	chunkData          // the chunk's bytes
	chunkDataCR        // the CR after them
	chunkDataLF        // and its LF
	chunkEnd           // the last (empty) chunk was seen
)

// errBodyEnded is what the decoder answers once the last chunk has come.
var errBodyEnded = errors.New("the response body ended")

// chunkDecoder undoes HTTP/1.1's chunked transfer coding incrementally:
// a chunk's size line, its data, CRLF, … up to a chunk of size 0.
type chunkDecoder struct {
	state  int
	size   uint64 // of the chunk being read
	digits int
}

// feed decodes p, passing each run of body bytes to out (a slice of p,
// valid only during the call). It answers errBodyEnded after the last
// chunk and an error for malformed input.
func (d *chunkDecoder) feed(p []byte, out func([]byte)) error {
	for len(p) > 0 {
		switch d.state {
		case chunkSize:
			c := p[0]
			switch {
			case c == '\r' && d.digits > 0:
				d.state = chunkSizeLF
			case c == ';' && d.digits > 0:
				d.state = chunkExt
			case d.digits >= 15:
				return errors.New("chunk size too long")
			case '0' <= c && c <= '9':
				d.size, d.digits = d.size<<4|uint64(c-'0'), d.digits+1
			case 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
				d.size, d.digits = d.size<<4|uint64(c|0x20-'a'+10), d.digits+1
			default:
				return fmt.Errorf("malformed chunk size byte %q", c)
			}
			p = p[1:]
		case chunkExt:
			i := bytes.IndexByte(p, '\r')
			if i < 0 {
				return nil
			}
			d.state, p = chunkSizeLF, p[i+1:]
		case chunkSizeLF:
			if p[0] != '\n' {
				return errors.New("chunk size line without LF")
			}
			p = p[1:]
			if d.size == 0 {
				d.state = chunkEnd
				return errBodyEnded
			}
			d.state = chunkData
		case chunkData:
			n := uint64(len(p))
			if n > d.size {
				n = d.size
			}
			out(p[:n])
			d.size -= n
			p = p[n:]
			if d.size == 0 {
				d.state = chunkDataCR
			}
		case chunkDataCR:
			if p[0] != '\r' {
				return errors.New("chunk data without CRLF")
			}
			d.state, p = chunkDataLF, p[1:]
		case chunkDataLF:
			if p[0] != '\n' {
				return errors.New("chunk data without CRLF")
			}
			d.state, d.size, d.digits, p = chunkSize, 0, 0, p[1:]
		case chunkEnd:
			return errBodyEnded
		}
	}
	return nil
}

// maxLine bounds one SSE line; a longer one ends the stream.
const maxLine = 4 << 20

// lineSplitter cuts a byte stream into lines, each with its '\n'.
type lineSplitter struct {
	partial []byte // the start of a line whose end has not come
}

// feed passes each complete line in p, joined to what came before, to out
// (valid only during the call).
func (l *lineSplitter) feed(p []byte, out func(line []byte)) error {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(l.partial)+len(p) > maxLine {
				return errors.New("an SSE line over 4 MiB")
			}
			l.partial = append(l.partial, p...)
			return nil
		}
		if len(l.partial) > 0 {
			l.partial = append(l.partial, p[:i+1]...)
			out(l.partial)
			l.partial = l.partial[:0]
		} else {
			out(p[:i+1])
		}
		p = p[i+1:]
	}
	return nil
}
