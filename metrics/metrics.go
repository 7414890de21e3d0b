// Package metrics exposes what Cloakroom is doing in the Prometheus text
// format, through a registry of its own (no global state), with the Go
// runtime's and the process's collectors beside Cloakroom's own.
//
// It is the only package that imports Prometheus. The domain packages keep
// cheap atomic counts and hand out snapshots (chat.Hub.Stats,
// fanout.Hub.Stats, limits.Limits.Stats, crypto.Box.Stats), read here once
// per scrape; the two histograms, which need every observation, are fed
// through plain function hooks (ObservePost, ObserveStreamWrite) that the
// owners call when set. No metric has a label that names a room, a member,
// an address or anything a user wrote: every label value is one of a few
// fixed words.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cloakroom/cloakroom/chat"
	"github.com/cloakroom/cloakroom/crypto"
	"github.com/cloakroom/cloakroom/fanout"
	"github.com/cloakroom/cloakroom/limits"
	"github.com/cloakroom/cloakroom/natslog"
	"github.com/cloakroom/cloakroom/natsstate"
)

// Metrics is a registry of Cloakroom's metrics. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg         *prometheus.Registry
	post        prometheus.Histogram
	streamWrite prometheus.Histogram
}

// PostBuckets are the upper bounds, in seconds, of the post latency
// histogram: a post is sealed and appended in well under a millisecond on
// an idle server, so the buckets start at 100 µs and reach 2.5 s.
var PostBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// StreamWriteBuckets are the upper bounds, in frames, of the histogram of
// frames per live write to a reader: 1 to 4096 (fanout's default ring)
// in powers of two.
var StreamWriteBuckets = prometheus.ExponentialBuckets(1, 2, 13)

// New returns Metrics with the Go and process collectors and the two
// histograms registered; Register adds the counts read from the server.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		post: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cloakroom_post_duration_seconds",
			Help:    "Time from a post's request (its handler's start) to its message appended to the room's history and handed to the streams, in seconds; successful posts only.",
			Buckets: PostBuckets,
		}),
		streamWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cloakroom_stream_write_frames",
			Help:    "Live events in each write to one reader: 1 when it keeps up, more when it catches up on a backlog or a burst was coalesced into one write.",
			Buckets: StreamWriteBuckets,
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.post,
		m.streamWrite,
	)
	return m
}

// ObservePost records a successful post that took d.
func (m *Metrics) ObservePost(d time.Duration) { m.post.Observe(d.Seconds()) }

// ObserveStreamWrite records a live write of frames events to one reader
// (fanout.Config.OnWrite). It takes no lock and allocates nothing.
func (m *Metrics) ObserveStreamWrite(frames int) { m.streamWrite.Observe(float64(frames)) }

// Sources are the snapshots read at each scrape. A nil one is left out,
// with its metrics.
type Sources struct {
	Chat    func() chat.Stats
	Streams func() fanout.Stats
	Limits  func() limits.Stats
	Crypto  func() crypto.Stats
	// With --nats: the node's view of the shared stream and bucket, and
	// whether it has a NATS connection now. Nil for a lone node.
	Log       func() natslog.Stats
	State     func() natsstate.Stats
	Connected func() bool
}

// Register adds the metrics read from src. Call it once.
func (m *Metrics) Register(src Sources) error {
	return m.reg.Register(newCollector(src))
}

// Handler serves the metrics in the Prometheus text format (or whatever
// else the scraper asks for that promhttp offers).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
