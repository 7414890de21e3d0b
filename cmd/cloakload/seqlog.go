package main

// seqLog accounts for the messages one reader received in its room, by
// sequence number (from 1). It is owned by the reader's goroutine.
type seqLog struct {
	seen     []uint64 // bit s set once sequence s arrived
	max      uint64   // highest sequence seen
	received uint64   // message events, duplicates included
	distinct uint64   // sequences seen at least once
	dups     uint64   // arrivals of a sequence already seen
	late     uint64   // first arrivals below the highest sequence seen
}

// add records an arrival of seq and tells whether it was the first, and,
// if it came after a higher sequence, the highest (0 if none).
func (l *seqLog) add(seq uint64) (first bool, overtaken uint64) {
	l.received++
	if l.has(seq) {
		l.dups++
		return false, 0
	}
	w := int(seq / 64)
	if w >= len(l.seen) {
		l.seen = append(l.seen, make([]uint64, w+1-len(l.seen))...)
	}
	l.seen[w] |= 1 << (seq % 64)
	l.distinct++
	if seq < l.max {
		l.late++
		return true, l.max
	}
	l.max = seq
	return true, 0
}

// has tells whether seq has arrived.
func (l *seqLog) has(seq uint64) bool {
	w := int(seq / 64)
	return w < len(l.seen) && l.seen[w]&(1<<(seq%64)) != 0
}

// gaps counts the sequences from first to the highest seen that never
// arrived: what a reader was sent must be a gap-free run, even one that the
// server cut off.
func (l *seqLog) gaps(first uint64) uint64 {
	if l.max < first {
		return 0
	}
	var n uint64
	for s := first; s <= l.max; s++ {
		if !l.has(s) {
			n++
		}
	}
	return n
}
