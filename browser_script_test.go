package main

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// The page's parsers, run in the browser on tables of cases: the event
// stream's wire format (static/stream.js) and mentions (static/attention.js).

// evalModule evaluates body, an async function's body that can use the
// module's exports as m, in the tab, and decodes what it returns.
func evalModule[T any](tb *tab, module, body string) T {
	tb.b.t.Helper()
	expr := fmt.Sprintf(`(async () => { const m = await import(%s); %s })()`, jsString("/static/"+module), body)
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.fatalf("%s: evaluate in %s: %v", tb.name, module, err)
	}
	return v
}

type sseEvent struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	Data  string `json:"data"`
}

func TestBrowserScriptParsers(t *testing.T) {
	b := newBrowser(t)
	tb := b.newTab(b.ctx, "parsers", chromedp.WithNewBrowserContext())
	tb.do("open the front page", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.ID("username")))

	t.Run("event stream", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			chunks []string
			want   []sseEvent
		}{
			{"one event", []string{"id: 1\ndata: a\n\n"}, []sseEvent{{"1", "", "a"}}},
			{"CRLF split between chunks", []string{"data: a\r", "\ndata: b\r\n\r", "\n"}, []sseEvent{{"", "", "a\nb"}}},
			{"CR line ends", []string{"data: c\r\rdata: d\r\r"}, []sseEvent{{"", "", "c"}, {"", "", "d"}}},
			{"data lines joined with LF", []string{"data: x\ndata:y\ndata\n\n"}, []sseEvent{{"", "", "x\ny\n"}}},
			{"one leading space dropped", []string{"data:  two\n\n"}, []sseEvent{{"", "", " two"}}},
			{"a field split between chunks", []string{"da", "ta: he", "llo\n", "\n"}, []sseEvent{{"", "", "hello"}}},
			{"comments dispatch nothing", []string{": keepalive\n\n", "data: z\n\n"}, []sseEvent{{"", "", "z"}}},
			{"the id carries over", []string{"id: 7\ndata: a\n\ndata: b\n\n"}, []sseEvent{{"7", "", "a"}, {"7", "", "b"}}},
			{"an empty id clears it", []string{"id: 5\ndata: a\n\nid\ndata: b\n\n"}, []sseEvent{{"5", "", "a"}, {"", "", "b"}}},
			{"an id with NUL is ignored", []string{"id: 3\ndata: a\n\nid: 4\x00\ndata: b\n\n"}, []sseEvent{{"3", "", "a"}, {"3", "", "b"}}},
			{"named event", []string{"id: 9\nevent: members\ndata: <ul>\n\n"}, []sseEvent{{"9", "members", "<ul>"}}},
			{"the name message is unnamed", []string{"event: message\ndata: m\n\n"}, []sseEvent{{"", "", "m"}}},
			{"a name without data dispatches nothing", []string{"event: reset\n\ndata: n\n\n"}, []sseEvent{{"", "", "n"}}},
			{"unknown fields and retry are ignored", []string{"retry: 10\nfoo: bar\ndata: r\n\n"}, []sseEvent{{"", "", "r"}}},
			{"an unfinished event is not dispatched", []string{"data: a\n\ndata: b\n"}, []sseEvent{{"", "", "a"}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := evalModule[[]sseEvent](tb, "stream.js", fmt.Sprintf(`
					const got = [];
					const p = new m.EventParser((ev) => got.push(ev));
					for (const c of %s) p.push(c);
					return got;`, jsValue(tc.chunks)))
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("mentions", func(t *testing.T) {
		for _, tc := range []struct {
			name, me, text string
			want           string // the mention found, "" for none
		}{
			{"at the start", "alice", "@alice hi", "@alice"},
			{"any case", "alice", "hi @ALICE!", "@ALICE"},
			{"full-width letters", "alice", "ｈｉ @ａｌｉｃｅ", "@ａｌｉｃｅ"},
			{"a name with capitals", "Alice", "ok @alice.", "@alice"},
			{"decomposed accents", "zoë", "@zoe\u0308 look", "@zoe\u0308"},
			{"a name with a space", "Mary Ann", "thanks @mary ann", "@mary ann"},
			{"an apostrophe ends the name", "alice", "@alice's idea", "@alice"},
			{"a double @", "alice", "@@alice", "@alice"},
			{"the second of two", "alice", "@alicia and @alice", "@alice"},
			{"a longer name", "alice", "@alicea", ""},
			{"a connector continues the name", "alice", "@alice_b", ""},
			{"a combining mark continues the name", "alice", "@alice\u0301", ""},
			{"an e-mail address", "alice", "mail bob@alice.org", ""},
			{"without @", "alice", "alice, hi", ""},
			{"part of the name", "alice", "@ali", ""},
			{"another script", "алиса", "@алиса привет", "@алиса"},
			{"a capital sigma at a name's end", "ΣΑΣ", "γεια @σασ", "@σασ"},
			{"final sigma is another letter, as on the server", "ΣΑΣ", "@Σας!", ""},
			{"a dotted capital I", "İsa", "@i̇sa hi", "@i̇sa"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := evalModule[string](tb, "attention.js", fmt.Sprintf(`
					const text = %s;
					const at = m.findMention(text, m.nicknameKey(%s));
					return at ? text.slice(at[0], at[1]) : '';`, jsString(tc.text), jsString(tc.me)))
				if got != tc.want {
					t.Errorf("in %q, the mention of %q is %q, want %q", tc.text, tc.me, got, tc.want)
				}
			})
		}
	})

	// Two tabs showing the same member both see a mention; only one may
	// ring. Web Locks are per origin, so two alerts from one page stand for
	// two tabs here.
	t.Run("one alert per message", func(t *testing.T) {
		type rings struct{ Same, Other int }
		got := evalModule[rings](tb, "attention.js", `
			const ringer = () => {
				const a = Object.create(m.Attention.prototype);
				a.options = {room: 'lobby'};
				a.notify = false;
				a.sound = true;
				a.rang = 0;
				a.chime = () => { a.rang++; };
				return a;
			};
			const one = ringer(), two = ringer();
			one.alert({id: 'e41'});
			two.alert({id: 'e41'});
			const other = ringer();
			other.alert({id: 'e42'});
			await navigator.locks.request('cloakroom:test:settle', async () => {});
			await new Promise((done) => setTimeout(done, 50));
			return {Same: one.rang + two.rang, Other: other.rang};`)
		if want := (rings{Same: 1, Other: 1}); got != want {
			t.Errorf("alerts rung: %+v, want %+v (one per message)", got, want)
		}
	})
}
