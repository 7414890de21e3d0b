package metrics

import "github.com/prometheus/client_golang/prometheus"

// collector reads each of its Sources once per scrape (one snapshot, so a
// source's values agree with each other), and turns them into constant
// metrics: the hot paths never touch Prometheus.
type collector struct {
	src Sources

	rooms, members, streams    *prometheus.Desc
	joins, posts               *prometheus.Desc
	deliveries, backlog, bytes *prometheus.Desc
	cutOff, resets             *prometheus.Desc
	refused                    *prometheus.Desc
	sealFailures, openFailures *prometheus.Desc

	natsConnected, appendConflicts, stateConflicts *prometheus.Desc
	followPending, followResets, watchOverflows    *prometheus.Desc
}

// The label values of cloakroom_requests_refused_total: each limit's flag.
const (
	limitClientStreams = "client-streams"
	limitClientJoins   = "client-joins"
	limitMemberPosts   = "member-post-rate"
	limitClientPosts   = "client-post-rate"
	limitMaxStreams    = "max-streams"
	limitMaxRooms      = "max-rooms"
	limitMaxMembers    = "max-members"
	limitMaxOwnNames   = "max-own-names"
)

func newCollector(src Sources) *collector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		src:     src,
		rooms:   desc("cloakroom_rooms", "Rooms that exist now."),
		members: desc("cloakroom_members", "Members in rooms now, over all rooms."),
		streams: desc("cloakroom_streams_open", "Event streams open now, over all rooms."),
		joins:   desc("cloakroom_joins_total", "Members that joined a room."),
		posts:   desc("cloakroom_posts_total", "Messages appended to a room's history (a post sent again under its client id counts once)."),
		deliveries: desc("cloakroom_deliveries_total",
			"Live events written to readers, each event counted once per reader it was written to."),
		backlog: desc("cloakroom_backlog_events_total",
			"Events read from a room's history for readers catching up as they connect (Last-Event-ID or since)."),
		bytes: desc("cloakroom_stream_bytes_total",
			"Bytes of event streams written to their connections: live events, backlogs and heartbeats (and, over HTTP/1.1, the response head)."),
		cutOff: desc("cloakroom_readers_cut_off_total",
			"Readers cut off for falling behind, by cause: lag (their oldest unsent event grew older than the limit) or overrun (the ring dropped an event they had not taken).",
			"cause"),
		resets: desc("cloakroom_resets_total",
			"Reset events sent: to readers resuming from a point the room no longer keeps, and live to readers of a room that begins a new life."),
		refused: desc("cloakroom_requests_refused_total",
			"Requests refused by a limit, by the limit's flag: client-streams, client-joins, member-post-rate, client-post-rate (429); max-streams, max-rooms (503); max-members, max-own-names (409).",
			"limit"),
		sealFailures: desc("cloakroom_seal_failures_total", "Events that could not be sealed (encrypted) for storing."),
		openFailures: desc("cloakroom_open_failures_total", "Stored records that failed to open (authenticate and decrypt)."),

		natsConnected: desc("cloakroom_nats_connected", "1 while the node has a connection to NATS (--nats), else 0; /readyz is 503 at 0."),
		appendConflicts: desc("cloakroom_nats_append_conflicts_total",
			"Appends to a room's stream subject refused because another node appended first (compare-and-set on the subject's last sequence); each is retried under the next id, up to 8 times, then the post is answered 503."),
		stateConflicts: desc("cloakroom_nats_state_conflicts_total",
			"Updates of a room's state in the key-value bucket refused because another node changed it first (compare-and-set on the key's revision); each is decided again on the newer state."),
		followPending: desc("cloakroom_nats_follow_pending",
			"Messages of the rooms' stream this node's follower had still to receive when it got its last one: how far behind the stream this node's readers are."),
		followResets: desc("cloakroom_nats_follow_resets_total",
			"Fresh starts of a follower (of the stream, or of the bucket): a reconnection, a missed message, or the stream or bucket found made again after a NATS restart.",
			"of"),
		watchOverflows: desc("cloakroom_nats_watch_overflows_total",
			"Rooms whose records came faster than this node published them: the room's queue was dropped and read again from the stream."),
	}
}

// Describe sends every metric's description, whichever sources are set:
// the registry checks them once, at Register.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.rooms, c.members, c.streams, c.joins, c.posts,
		c.deliveries, c.backlog, c.bytes, c.cutOff, c.resets,
		c.refused, c.sealFailures, c.openFailures,
		c.natsConnected, c.appendConflicts, c.stateConflicts,
		c.followPending, c.followResets, c.watchOverflows,
	} {
		ch <- d
	}
}

// Collect reads the sources and sends their values.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	// Resets go out at connect (chat's backlog) and live (fanout's Placed
	// frames, which are only ever resets): one counter, both sources.
	var resets uint64
	haveResets := false
	if c.src.Chat != nil {
		s := c.src.Chat()
		gauge(c.rooms, s.Rooms)
		gauge(c.members, s.Members)
		gauge(c.streams, s.Streams)
		counter(c.joins, s.Joins)
		counter(c.posts, s.Posts)
		counter(c.backlog, s.BacklogEvents)
		counter(c.refused, s.RefusedStreams, limitMaxStreams)
		counter(c.refused, s.RefusedRooms, limitMaxRooms)
		counter(c.refused, s.RefusedMembers, limitMaxMembers)
		counter(c.refused, s.RefusedOwnNames, limitMaxOwnNames)
		resets, haveResets = resets+s.BacklogResets, true
	}
	if c.src.Streams != nil {
		s := c.src.Streams()
		counter(c.deliveries, s.Delivered)
		counter(c.bytes, s.Bytes)
		counter(c.cutOff, s.CutLag, "lag")
		counter(c.cutOff, s.CutRing, "overrun")
		resets, haveResets = resets+s.Placed, true
	}
	if haveResets {
		counter(c.resets, resets)
	}
	if c.src.Limits != nil {
		s := c.src.Limits()
		counter(c.refused, s.Streams, limitClientStreams)
		counter(c.refused, s.Joins, limitClientJoins)
		counter(c.refused, s.MemberPosts, limitMemberPosts)
		counter(c.refused, s.ClientPosts, limitClientPosts)
	}
	if c.src.Crypto != nil {
		s := c.src.Crypto()
		counter(c.sealFailures, s.SealFailures)
		counter(c.openFailures, s.OpenFailures)
	}
	if c.src.Connected != nil {
		connected := 0
		if c.src.Connected() {
			connected = 1
		}
		gauge(c.natsConnected, connected)
	}
	if c.src.Log != nil {
		s := c.src.Log()
		counter(c.appendConflicts, s.AppendConflicts)
		gauge(c.followPending, int(min(s.FollowPending, 1<<53)))
		counter(c.followResets, s.FollowResets, "stream")
		counter(c.watchOverflows, s.WatchOverflows)
	}
	if c.src.State != nil {
		s := c.src.State()
		counter(c.stateConflicts, s.UpdateConflicts)
		counter(c.followResets, s.FollowResets, "bucket")
	}
}
