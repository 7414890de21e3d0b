package chat

// A record is one sealed event. Only the numbers needed to find and verify it
// are kept in the clear.
type record struct {
	id     uint64
	member uint64
	sealed []byte
}

// history is a ring of the most recent records of a room, oldest first.
type history struct {
	buf   []record
	start int // index of the oldest record
	n     int
}

func newHistory(capacity int) *history {
	return &history{buf: make([]record, capacity)}
}

func (h *history) add(r record) {
	if h.n < len(h.buf) {
		h.buf[(h.start+h.n)%len(h.buf)] = r
		h.n++
		return
	}
	h.buf[h.start] = r
	h.start = (h.start + 1) % len(h.buf)
}

// after returns a copy of the records with ids greater than id, oldest first.
// Records are immutable once added, so the copy can be read without the
// room's lock.
func (h *history) after(id uint64) []record {
	if h.n == 0 {
		return nil
	}
	first := h.buf[h.start].id
	skip := 0
	if id >= first {
		skip = int(id - first + 1)
	}
	if skip >= h.n {
		return nil
	}
	out := make([]record, 0, h.n-skip)
	for i := skip; i < h.n; i++ {
		out = append(out, h.buf[(h.start+i)%len(h.buf)])
	}
	return out
}

// oldest returns the id of the oldest retained record, and false when the
// history is empty.
func (h *history) oldest() (uint64, bool) {
	if h.n == 0 {
		return 0, false
	}
	return h.buf[h.start].id, true
}

// before returns a copy of at most limit records with ids less than id,
// oldest first, and whether they begin at the oldest retained record (or
// there is nothing retained before id at all).
func (h *history) before(id uint64, limit int) (recs []record, start bool) {
	if h.n == 0 || limit <= 0 {
		return nil, true
	}
	first := h.buf[h.start].id
	if id <= first {
		return nil, true
	}
	end := min(int(id-first), h.n) // records [0, end) are older than id
	from := max(end-limit, 0)
	recs = make([]record, 0, end-from)
	for i := from; i < end; i++ {
		recs = append(recs, h.buf[(h.start+i)%len(h.buf)])
	}
	return recs, from == 0
}
