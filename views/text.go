package views

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"mvdan.cc/xurls/v2"

	"github.com/cloakroom/cloakroom/chat"
)

// A segment is a run of message text, or a link found in it.
type segment struct {
	text string
	link bool
}

// linkPattern finds http and https URLs, the scheme in any case, by
// mvdan.cc/xurls' rules: any Unicode letter in the host and path, balanced
// brackets kept, and punctuation that usually ends a sentence (. , : ; ! ? '
// and their Unicode kin) left out at the end. Only these two schemes, so a
// link is never javascript:, data: or ftp:. A bare www.example.com is not
// linked: the href would need a scheme the writer did not give (and https or
// http is a guess), and a link's href is always exactly the text shown, so
// the reader sees where it goes. Nor are file names that look like domains
// (README.md) linked.
var linkPattern = mustLinkPattern()

func mustLinkPattern() *regexp.Regexp {
	re, err := xurls.StrictMatchingScheme(`https?://`)
	if err != nil {
		panic(err) // a constant pattern
	}
	return re
}

// segments splits text so that http and https URLs can be shown as links.
// Adjacent segments are never both text. templ escapes both the text and the
// href, and keeps the href as it is (upper-case scheme and non-ASCII
// included), which a browser opens as the same resource.
func segments(text string) []segment {
	var out []segment
	plain := 0 // where the text not yet in out begins
	for _, m := range linkPattern.FindAllStringIndex(text, -1) {
		start := m[0]
		// A scheme glued to a word ("xhttp://") is not one.
		if r, _ := utf8.DecodeLastRuneInString(text[:start]); r == '_' || unicode.In(r, unicode.L, unicode.M, unicode.N) {
			continue
		}
		n := linkLength(text[start:m[1]])
		if n == 0 {
			continue
		}
		if start > plain {
			out = append(out, segment{text: text[plain:start]})
		}
		out = append(out, segment{text: text[start : start+n], link: true})
		plain = start + n
	}
	if plain < len(text) {
		out = append(out, segment{text: text[plain:]})
	}
	return out
}

// linkLength is how much of a match of linkPattern makes a link: 0 if none.
// A link ends before an invisible formatting character (zero-width space,
// soft hyphen, a direction mark or override), which the reader cannot see
// and which can make a link read otherwise than where it goes; zero-width
// joiners and non-joiners, which are part of emoji and words, stay. Closing
// brackets other than ) ] } (which xurls keeps only when balanced) and
// quotation marks are left out at the end: « », “ ” and 「 」 around a URL are
// the writer's, not the URL's. What is left must still be a URL by xurls'
// rules and name a host.
func linkLength(s string) int {
	end := len(s)
	if i := strings.IndexFunc(s, invisible); i >= 0 {
		end = i
	}
	for {
		end = trimEnd(s[:end])
		if end == len(s) {
			break
		}
		// Cut short, s may end inside a pair of brackets: xurls decides
		// again. trimEnd leaves out at least what xurls would, so this
		// repeats only after such a cut, not once per character.
		m := linkPattern.FindStringIndex(s[:end])
		if m == nil || m[0] != 0 {
			return 0
		}
		s = s[:m[1]]
		end = len(s)
	}
	authority := s[strings.Index(s, "://")+3:]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if authority == "" {
		return 0
	}
	return len(s)
}

// trimEnd is the length of s without the punctuation a link does not end
// in: the ASCII that xurls takes only inside a URL, and other punctuation
// but dashes, connectors and opening brackets (xurls leaves out only the
// "other" kind: 。 … ·).
func trimEnd(s string) int {
	n := len(s)
	for n > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:n])
		if r < utf8.RuneSelf && !strings.ContainsRune(`.,:;!?'*@\`, r) ||
			r >= utf8.RuneSelf && !unicode.In(r, unicode.Po, unicode.Pe, unicode.Pi, unicode.Pf) {
			break
		}
		n -= size
	}
	return n
}

func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) && r != '\u200c' && r != '\u200d'
}

func eventID(id uint64) string { return "e" + strconv.FormatUint(id, 10) }

func idString(id uint64) string { return strconv.FormatUint(id, 10) }

// isoTime is the machine-readable time a script turns into the reader's local
// time; clockTime is what is shown without script.
func isoTime(t time.Time) string   { return t.UTC().Format(time.RFC3339) }
func clockTime(t time.Time) string { return t.UTC().Format("15:04") + " UTC" }

func roomPath(room string) string { return "/rooms/" + room }

func eventsURL(room string, since uint64, me uint64) string {
	return roomPath(room) + "/events?since=" + idString(since) + "&m=" + idString(me)
}

func memberState(m chat.Member) string { return m.State.String() }
