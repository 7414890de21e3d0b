package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Every message the tool posts starts with a header its readers parse back:
//
//	cl SEQ SCHED xxxx…
//
// SEQ is the message's sequence number in its room (from 1) and SCHED the
// moment it was scheduled to be sent, in microseconds since the run began.
// Latency is measured from SCHED rather than from when the post left, so a
// publisher that falls behind cannot hide the server's delay (coordinated
// omission). The header is plain ASCII, which JSON leaves as it is, so a
// reader finds it in the raw bytes of an event.
const headerPrefix = "cl "

const (
	// maxTextBytes is Cloakroom's limit on a message's size in UTF-8.
	maxTextBytes = 16 << 10
	// graphemeBudget keeps every text under Cloakroom's limit of 4000
	// characters (extended grapheme clusters), with a margin.
	graphemeBudget = 3900
	// flagEmoji is one grapheme cluster of 8 bytes (two regional indicators,
	// the EU flag): filling with it reaches 16 KB in about 2000 characters.
	flagEmoji = "\U0001F1EA\U0001F1FA"
)

// messageText is the text of message seq, scheduled at sched, about size
// bytes long (never shorter than its header). It is ASCII up to the
// character budget and flags beyond it, so that both of Cloakroom's limits
// hold. A size over 16 KiB is an error.
func messageText(seq uint64, sched time.Duration, size int) (string, error) {
	if size > maxTextBytes {
		return "", fmt.Errorf("message size %d is over the server's limit of %d bytes", size, maxTextBytes)
	}
	header := headerPrefix + strconv.FormatUint(seq, 10) + " " + strconv.FormatInt(sched.Microseconds(), 10)
	rest := size - len(header) - 1 // a space ends the header
	if rest <= 0 {
		return header, nil
	}
	ascii, flags := rest, 0
	if over := len(header) + 1 + rest - graphemeBudget; over > 0 {
		// Each flag swaps 8 ASCII characters for one.
		flags = (over + len(flagEmoji) - 2) / (len(flagEmoji) - 1)
		ascii = rest - flags*len(flagEmoji)
	}
	if ascii < 0 {
		return "", errors.New("message size cannot be reached within the character limit")
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(header)
	b.WriteByte(' ')
	b.WriteString(strings.Repeat("x", ascii))
	b.WriteString(strings.Repeat(flagEmoji, flags))
	return b.String(), nil
}

// parseHeader reads SEQ and SCHED from the start of a text (or of the
// bytes that follow a text's opening quote in JSON). ok is false when the
// text does not start with a whole header.
func parseHeader(b []byte) (seq uint64, sched time.Duration, ok bool) {
	if len(b) < len(headerPrefix) || string(b[:len(headerPrefix)]) != headerPrefix {
		return 0, 0, false
	}
	b = b[len(headerPrefix):]
	seq, b, ok = leadingNumber(b)
	if !ok || len(b) == 0 || b[0] != ' ' {
		return 0, 0, false
	}
	us, _, ok := leadingNumber(b[1:])
	if !ok || us > uint64(time.Duration(1<<62).Microseconds()) {
		return 0, 0, false
	}
	return seq, time.Duration(us) * time.Microsecond, true
}

// leadingNumber reads the decimal digits at the start of b (at most 19, so
// the value fits) and returns what follows them.
func leadingNumber(b []byte) (n uint64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + uint64(b[i]-'0')
	}
	if i == 0 || (i < len(b) && b[i] >= '0' && b[i] <= '9') {
		return 0, b, false
	}
	return n, b[i:], true
}
