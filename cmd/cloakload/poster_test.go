package main

import (
	"bufio"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadReply(t *testing.T) {
	for _, tt := range []struct {
		name     string
		in       string
		want     reply
		wantKeep bool
		wantErr  bool
	}{
		{"Cloakroom's 201", "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"id\":1234}\n", reply{201, []byte("{\"id\":1234}\n")}, true, false},
		{"Centrifugo's 200", "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"result\":{}}", reply{200, []byte(`{"result":{}}`)}, true, false},
		{"chunked, with a trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n", reply{200, []byte("hello!")}, true, false},
		{"the server closes", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", reply{503, []byte{}}, false, false},
		{"no length", "HTTP/1.1 200 OK\r\n\r\nbody", reply{}, false, true},
		{"cut short", "HTTP/1.1 201 Created\r\nContent-Length: 50\r\n\r\n{\"id\"", reply{}, false, true},
		{"not HTTP", "hello\r\n\r\n", reply{}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, keep, err := readReply(bufio.NewReader(strings.NewReader(tt.in)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want one: %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(reply{})); diff != "" || keep != tt.wantKeep {
				t.Errorf("keep %v (want %v), reply (-want +got):\n%s", keep, tt.wantKeep, diff)
			}
		})
	}
}

// Each target's post is a request its server reads: the form or JSON
// carries the text whole, whatever it holds.
func TestPosts(t *testing.T) {
	text, err := messageText(5, 0, 16000)
	if err != nil {
		t.Fatal(err)
	}
	cr := &cloakroom{rooms: []string{"load-0"}, tokens: []string{"feed"}}
	head, body := cr.post(0, 5, text)
	wantHead := "POST /rooms/load-0/messages HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\nAuthorization: Bearer feed\r\n"
	if head != wantHead {
		t.Errorf("Cloakroom head = %q, want %q", head, wantHead)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("text") != text {
		t.Errorf("Cloakroom body does not carry the text: %v", err)
	}

	cf := &centrifugo{apiKey: "k", rooms: []string{"load-0"}}
	head, body = cf.post(0, 5, text)
	if want := "POST /api/publish HTTP/1.1\r\nContent-Type: application/json\r\nX-API-Key: k\r\n"; head != want {
		t.Errorf("Centrifugo head = %q, want %q", head, want)
	}
	line := `data: {"channel":"load-0","pub":{"data":` + strings.TrimSuffix(strings.TrimPrefix(string(body), `{"channel":"load-0","data":`), "}") + "}}\n"
	if seq, _, ok := messageOf([]byte(line)); !ok || seq != 5 {
		t.Errorf("Centrifugo body, as a reader gets it, reads as %d, %v; want 5, true", seq, ok)
	}

	for _, tt := range []struct {
		name    string
		t       target
		r       reply
		wantErr bool
	}{
		{"Cloakroom 201", cr, reply{201, []byte(`{"id":9}`)}, false},
		{"Cloakroom 403", cr, reply{403, []byte("not a member")}, true},
		{"Centrifugo result", cf, reply{200, []byte(`{"result":{}}`)}, false},
		{"Centrifugo error in a 200", cf, reply{200, []byte(`{"error":{"code":102,"message":"unknown channel"}}`)}, true},
		{"Centrifugo 401", cf, reply{401, nil}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.t.accepted(tt.r); (err != nil) != tt.wantErr {
				t.Errorf("accepted = %v, want an error: %v", err, tt.wantErr)
			}
		})
	}
}
