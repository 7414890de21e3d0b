package main

import (
	"bytes"
	"time"
)

// Both servers send a message as one SSE data line holding the same JSON
// object, Cloakroom's JSON event:
//
//	{"id":…,"type":"message","room":"r","member":{"id":1,"name":"load"},"text":"cl 7 1500 xx…","time":"…"}
//
// Centrifugo wraps it as {"channel":"r","pub":{"data":{…}}}. Other events
// (Cloakroom's presence and joins, Centrifugo's connect push and {} pings)
// carry no "type":"message".
var (
	typeMessage = []byte(`"type":"message"`)
	textKey     = []byte(`"text":"`)
	dataField   = []byte("data:")
)

// messageOf finds the sequence number and scheduled time of the message in
// one SSE line, if the line is a data line holding a message of ours.
//
// It looks for keys in the raw bytes instead of decoding the JSON: a 16 KB
// text would otherwise be scanned and copied for every delivery, which is
// generator CPU the comparison cannot spare. The search is sound for valid
// JSON, because a quote inside a string is always escaped: the bytes
// "type":"message" can only be a key and its value, never part of a name or
// a text, and the first "text":" is the text's key. Only the object's
// fields matter, not their order or nesting, so one function reads both
// servers' events and costs the same on each.
func messageOf(line []byte) (seq uint64, sched time.Duration, ok bool) {
	data, found := bytes.CutPrefix(line, dataField)
	if !found {
		return 0, 0, false
	}
	if !bytes.Contains(data, typeMessage) {
		return 0, 0, false
	}
	i := bytes.Index(data, textKey)
	if i < 0 {
		return 0, 0, false
	}
	return parseHeader(data[i+len(textKey):])
}
