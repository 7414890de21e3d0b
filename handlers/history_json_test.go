package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

var jsonAccept = http.Header{"Accept": {"application/json"}}

// jsonPage is the JSON history answer, decoded strictly.
type jsonPage struct {
	Room   string `json:"room"`
	Events []struct {
		ID     uint64 `json:"id"`
		Type   string `json:"type"`
		Room   string `json:"room"`
		Member struct {
			ID   uint64 `json:"id"`
			Name string `json:"name"`
		} `json:"member"`
		Text string `json:"text"`
		Time string `json:"time"`
	} `json:"events"`
	Start  bool   `json:"start"`
	Newest uint64 `json:"newest"`
}

func getJSONPage(t *testing.T, b *browser, path string) jsonPage {
	t.Helper()
	status, _, body := b.get(path, jsonAccept)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	var p jsonPage
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return p
}

// A JSON client walks the kept history forward with after= and back with
// before=, and meets every kept event once, in order, as JSON.
func TestHistoryJSON(t *testing.T) {
	hr := newHistoryRoom(t, 30, 40)
	b := hr.srv.browser(t)

	var got []uint64
	after := uint64(1) // older than anything kept
	for page := 0; ; page++ {
		p := getJSONPage(t, b, fmt.Sprintf("/rooms/lobby/messages?after=%d&limit=7", after))
		if p.Room != "lobby" || p.Newest != hr.last || p.Start != (page == 0) {
			t.Fatalf("page %d: room %q newest %d start %v; want lobby, %d, %v", page, p.Room, p.Newest, p.Start, hr.last, page == 0)
		}
		if len(p.Events) == 0 {
			break
		}
		for _, ev := range p.Events {
			if ev.Type != "message" || ev.Room != "lobby" || ev.Member.Name != "alice" || ev.Text != fmt.Sprintf("message %d.", 10+len(got)) || ev.Time == "" {
				t.Fatalf("event %+v is not message %d by alice", ev, 10+len(got))
			}
			got = append(got, ev.ID)
		}
		after = got[len(got)-1]
	}
	if want := idRange(hr.first, hr.last); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("walked forward %v, want %v", got, want)
	}

	// before= alone pages back, as the HTML pages do; with after= it bounds
	// the run from above.
	p := getJSONPage(t, b, fmt.Sprintf("/rooms/lobby/messages?before=%d&limit=3", hr.last))
	if len(p.Events) != 3 || p.Events[2].ID != hr.last-1 || p.Start {
		t.Fatalf("before %d: %+v", hr.last, p.Events)
	}
	p = getJSONPage(t, b, fmt.Sprintf("/rooms/lobby/messages?after=%d&before=%d&limit=50", hr.first, hr.first+3))
	if len(p.Events) != 2 || p.Events[0].ID != hr.first+1 || p.Events[1].ID != hr.first+2 {
		t.Fatalf("after %d before %d: %+v", hr.first, hr.first+3, p.Events)
	}

	for _, tt := range []struct {
		path   string
		header http.Header
		status int
		body   string
	}{
		{"/rooms/lobby/messages?after=x", jsonAccept, http.StatusBadRequest, `{"error":"After must be an event id (a decimal number)."}`},
		{"/rooms/lobby/messages?after=1&limit=0", jsonAccept, http.StatusBadRequest, `{"error":"Limit must be a number from 1 to 200.","field":"limit"}`},
		{"/rooms/nobody/messages?after=1", jsonAccept, http.StatusNotFound, `{"error":"No such room."}`},
		{"/rooms/lobby/messages?after=1", nil, http.StatusBadRequest, "After= is for JSON clients (Accept: application/json); pages of the room use before=.\n"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			status, _, body := b.get(tt.path, tt.header)
			if status != tt.status || string(bytes.TrimSpace([]byte(body))) != string(bytes.TrimSpace([]byte(tt.body))) {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, status, body, tt.status, tt.body)
			}
		})
	}
}
