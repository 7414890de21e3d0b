package views

import (
	"strconv"
	"strings"
	"time"

	"github.com/cloakroom/cloakroom/chat"
)

// A segment is a run of message text, or a link found in it.
type segment struct {
	text string
	link bool
}

// segments splits text so that http and https URLs can be shown as links.
// Only those two schemes are recognised, so a link can never be javascript:
// or data:; templ escapes both the text and the href.
func segments(text string) []segment {
	var out []segment
	for text != "" {
		i := indexURL(text)
		if i < 0 {
			out = append(out, segment{text: text})
			break
		}
		if i > 0 {
			out = append(out, segment{text: text[:i]})
		}
		n := urlLength(text[i:])
		out = append(out, segment{text: text[i : i+n], link: true})
		text = text[i+n:]
	}
	return out
}

func indexURL(s string) int {
	best := -1
	for _, scheme := range []string{"https://", "http://"} {
		from := 0
		for {
			j := strings.Index(s[from:], scheme)
			if j < 0 {
				break
			}
			j += from
			// A scheme glued to a word ("xhttp://") is not a link, and a bare
			// scheme with nothing after it is not one either.
			if (j == 0 || !isWordByte(s[j-1])) && urlLength(s[j:]) > len(scheme) {
				if best < 0 || j < best {
					best = j
				}
				break
			}
			from = j + len(scheme)
		}
	}
	return best
}

// urlLength is the length of the URL at the start of s: up to white space or
// a character that cannot be in a URL, less trailing punctuation that
// usually ends a sentence.
func urlLength(s string) int {
	n := strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || r == '<' || r == '>' || r == '"' || r == '`' || r == '\u007f' || r > '~'
	})
	if n < 0 {
		n = len(s)
	}
	for n > 0 && strings.ContainsRune(".,;:!?'", rune(s[n-1])) {
		n--
	}
	if n > 0 && s[n-1] == ')' && strings.Count(s[:n], "(") < strings.Count(s[:n], ")") {
		n--
	}
	return n
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
}

func eventID(id uint64) string { return "e" + strconv.FormatUint(id, 10) }

func idString(id uint64) string { return strconv.FormatUint(id, 10) }

// isoTime is the machine-readable time a script turns into the reader's local
// time; clockTime is what is shown without script.
func isoTime(t time.Time) string   { return t.UTC().Format(time.RFC3339) }
func clockTime(t time.Time) string { return t.UTC().Format("15:04") + " UTC" }

func roomPath(room string) string { return "/rooms/" + room }

func memberState(m chat.Member) string { return m.State.String() }
