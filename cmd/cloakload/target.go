package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// A target is one of the servers under test, as the tool talks to it: how
// a reader opens a room's stream and how the publisher posts into a room.
type target interface {
	// setup readies the rooms before any reader connects.
	setup(ctx context.Context, c *http.Client, rooms []string) error
	// streamURL is the address of a room's event stream on the server (or
	// node) at base.
	streamURL(base, room string) string
	// post is the request that publishes message seq's text into room i
	// of the rooms given to setup: its head (request line and headers,
	// without Host and Content-Length) and body.
	post(room int, seq uint64, text string) (head string, body []byte)
	// accepted tells from the reply whether the server took the message.
	accepted(r reply) error
}

// setupClient is the client for what comes before the load (joins).
func setupClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second}
}

// roomName names room i. Both servers accept it: Cloakroom as a room,
// Centrifugo as a channel without a namespace.
func roomName(i int) string { return fmt.Sprintf("load-%d", i) }

// cloakroom talks to Cloakroom's JSON stream and bot API.
type cloakroom struct {
	base   string
	rooms  []string
	tokens []string // one bot member per room posts into it
}

// setup joins a bot member into every room, which also creates the room:
// a stream to a room that does not exist is a 404.
func (t *cloakroom) setup(ctx context.Context, c *http.Client, rooms []string) error {
	t.rooms, t.tokens = rooms, make([]string, len(rooms))
	// A name of its own per run: an earlier run's bot may still hold "load".
	name := fmt.Sprintf("load-%04x", rand.IntN(1<<16))
	for i, room := range rooms {
		form := url.Values{"room": {room}, "username": {name}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/join", strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		var joined struct {
			Token string `json:"token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&joined)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || err != nil || joined.Token == "" {
			return fmt.Errorf("join %s: %s", room, resp.Status)
		}
		t.tokens[i] = joined.Token
	}
	return nil
}

func (t *cloakroom) streamURL(base, room string) string {
	return base + "/rooms/" + room + "/events?format=json"
}

// post posts as the room's bot.
func (t *cloakroom) post(room int, _ uint64, text string) (string, []byte) {
	head := "POST /rooms/" + t.rooms[room] + "/messages HTTP/1.1\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n" +
		"Authorization: Bearer " + t.tokens[room] + "\r\n"
	return head, []byte("text=" + url.QueryEscape(text))
}

// accepted wants 201 {"id": N}.
func (t *cloakroom) accepted(r reply) error {
	if r.status != http.StatusCreated {
		return statusError(r.status)
	}
	return nil
}

// centrifugo talks to Centrifugo's unidirectional SSE transport and its
// HTTP server API.
type centrifugo struct {
	base   string
	apiKey string
	rooms  []string
}

// setup has nothing to create: a channel exists while someone subscribes.
func (t *centrifugo) setup(_ context.Context, _ *http.Client, rooms []string) error {
	t.rooms = rooms
	return nil
}

// streamURL subscribes an anonymous connection to the room's channel in its
// connect request (cf_connect), as a Cloakroom reader needs no account.
func (t *centrifugo) streamURL(base, room string) string {
	connect, _ := json.Marshal(map[string]any{"subs": map[string]any{room: struct{}{}}}) // cannot fail
	return base + "/connection/uni_sse?cf_connect=" + url.QueryEscape(string(connect))
}

// publication is the message as Cloakroom's JSON stream shows it, so that
// readers of both servers parse the same object.
type publication struct {
	ID     uint64    `json:"id"`
	Type   string    `json:"type"`
	Room   string    `json:"room"`
	Member member    `json:"member"`
	Text   string    `json:"text"`
	Time   time.Time `json:"time"`
}

type member struct {
	ID   uint64 `json:"id"`
	Name string `json:"name"`
}

// post calls /api/publish with the message as Cloakroom's JSON stream
// would show it.
func (t *centrifugo) post(room int, seq uint64, text string) (string, []byte) {
	body, _ := json.Marshal(struct { // strings, numbers and a time cannot fail
		Channel string      `json:"channel"`
		Data    publication `json:"data"`
	}{t.rooms[room], publication{
		ID: seq, Type: "message", Room: t.rooms[room], Member: member{1, "load"}, Text: text, Time: time.Now().UTC(),
	}})
	head := "POST /api/publish HTTP/1.1\r\nContent-Type: application/json\r\nX-API-Key: " + t.apiKey + "\r\n"
	return head, body
}

// accepted wants 200 without an error: Centrifugo answers an API error
// with 200 and {"error": …}.
func (t *centrifugo) accepted(r reply) error {
	if r.status != http.StatusOK {
		return statusError(r.status)
	}
	if bytes.Contains(r.body, []byte(`"error"`)) {
		return errors.New("api error")
	}
	return nil
}

// statusError is an unexpected HTTP status, kept as a number so that the
// run can count refusals by status.
type statusError int

func (e statusError) Error() string { return fmt.Sprintf("status %d", int(e)) }
