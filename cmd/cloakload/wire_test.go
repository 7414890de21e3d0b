package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseHead(t *testing.T) {
	for _, tt := range []struct {
		name    string
		head    string
		want    responseHead
		wantErr bool
	}{
		{"Cloakroom's stream", "HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked", responseHead{200, true}, false},
		{"any case, a list", "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked", responseHead{200, true}, false},
		{"not chunked", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream", responseHead{200, false}, false},
		{"refused", "HTTP/1.1 404 Not Found\r\nContent-Length: 10", responseHead{404, false}, false},
		{"HTTP/1.0", "HTTP/1.0 503 Service Unavailable", responseHead{503, false}, false},
		{"not HTTP", "SSH-2.0-OpenSSH_9.6", responseHead{}, true},
		{"no status", "HTTP/1.1", responseHead{}, true},
		{"a word for a status", "HTTP/1.1 OK", responseHead{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseHead([]byte(tt.head))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want one: %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("parseHead = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got, want := string(streamRequest("127.0.0.1:5000", "/rooms/load-0/events?format=json")),
		"GET /rooms/load-0/events?format=json HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nAccept: text/event-stream\r\nUser-Agent: cloakload\r\n\r\n"; got != want {
		t.Errorf("streamRequest = %q, want %q", got, want)
	}
}

// decodeLines runs a body through the chunk decoder and the line splitter,
// fed in pieces of at most step bytes.
func decodeLines(body string, step int) ([]string, error) {
	var d chunkDecoder
	var l lineSplitter
	var lines []string
	var err error
	for len(body) > 0 {
		n := min(step, len(body))
		ferr := d.feed([]byte(body[:n]), func(p []byte) {
			if err == nil {
				err = l.feed(p, func(line []byte) { lines = append(lines, string(line)) })
			}
		})
		if err != nil {
			return lines, err
		}
		if ferr != nil {
			return lines, ferr
		}
		body = body[n:]
	}
	return lines, nil
}

// However the bytes arrive, the same lines come out.
func TestChunkedLines(t *testing.T) {
	long := strings.Repeat("x", 5000)
	for _, tt := range []struct {
		name    string
		body    string
		want    []string
		wantErr error // nil, errBodyEnded, or any error (errMalformed)
	}{
		{"one event in one chunk", "20\r\nid: 1\ndata: {\"type\":\"message\"}\n\n\r\n", []string{"id: 1\n", "data: {\"type\":\"message\"}\n", "\n"}, nil},
		{"a line across chunks", "3\r\nda\n\r\n6\r\nta: x\n\r\n", []string{"da\n", "ta: x\n"}, nil},
		{"upper-case size, an extension", "A;name=v\r\n0123456789\r\n2\r\nz\n\r\n", []string{"0123456789z\n"}, nil},
		{"a long line", "1389\r\ndata: " + long[:4994] + "\n\r\n", []string{"data: " + long[:4994] + "\n"}, nil},
		{"the last chunk", "2\r\na\n\r\n0\r\n\r\n", []string{"a\n"}, errBodyEnded},
		{"a bad size", "zz\r\n", nil, errMalformed},
		{"data without CRLF", "2\r\na\nXX", []string{"a\n"}, errMalformed},
		{"a size line without LF", "2\rX", nil, errMalformed},
		{"an empty size", "\r\n", nil, errMalformed},
		{"a size too long", "1000000000000000\r\n", nil, errMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{1, 2, 3, 7, 4096} {
				got, err := decodeLines(tt.body, step)
				switch {
				case tt.wantErr == errMalformed && (err == nil || errors.Is(err, errBodyEnded)):
					t.Errorf("step %d: error %v, want a malformed-input error", step, err)
				case tt.wantErr != errMalformed && !errors.Is(err, tt.wantErr):
					t.Errorf("step %d: error %v, want %v", step, err, tt.wantErr)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("step %d: lines (-want +got):\n%s", step, diff)
				}
			}
		})
	}
}

// errMalformed stands, in the table, for any error but errBodyEnded.
var errMalformed = errors.New("malformed")

func TestLineSplitterBound(t *testing.T) {
	var l lineSplitter
	big := make([]byte, maxLine)
	if err := l.feed(big, func([]byte) {}); err != nil {
		t.Fatalf("a line of exactly 4 MiB so far: %v", err)
	}
	if err := l.feed([]byte("x"), func([]byte) {}); err == nil {
		t.Error("a line over 4 MiB was kept")
	}
}
