package httpapi

import (
	"errors"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/revoke"
)

// The series that the API registers on Config.Registerer. Labels are
// bounded: route is the pattern that served the request (r.Pattern, never
// the raw path), code an HTTP status, mode one of the three modes, result
// "ok" or an error code of the API.
//
//	valet_http_request_duration_seconds{route,code}  histogram; its _count is the requests
//	valet_logins_total{mode,result}                  password logins
//	valet_signups_total{result}
//	valet_token_refreshes_total{result}              result "reused" for a reuse detected
//	valet_throttled_requests_total{action}           429s of login, signup, refresh, password, mail, code, email
//
// RegisterRevocations and RegisterHasher add those of a revocation node and
// of the password hasher.
const (
	metricRequests  = "valet_http_request_duration_seconds"
	metricLogins    = "valet_logins_total"
	metricSignups   = "valet_signups_total"
	metricRefreshes = "valet_token_refreshes_total"
	metricThrottled = "valet_throttled_requests_total"
)

// latencyBuckets reach down to 100µs, where /v1/me and the token checks
// answer, and up to 10s, past the store timeout.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// unmatchedRoute labels requests that no pattern served: with the API's
// catch-all, only those the router answers before matching (OPTIONS *).
const unmatchedRoute = "unmatched"

// metrics holds the API's series. A nil *metrics records nothing, so that
// handlers call it without asking whether metrics are on.
type metrics struct {
	requests  *prometheus.HistogramVec
	logins    *prometheus.CounterVec
	signups   *prometheus.CounterVec
	refreshes *prometheus.CounterVec
	throttled *prometheus.CounterVec
	// defaultMode labels a login that names no mode.
	defaultMode string

	// observers caches the histogram of each route and status, which
	// WithLabelValues would find by hashing both labels on every request.
	// The map is never changed once published: a pair seen for the first
	// time publishes a copy with it (there are a few hundred at most), so
	// a request reads it with neither a lock, whose count every request
	// on every core would write, nor a sync.Map, whose key would be
	// boxed, an allocation per request.
	mu        sync.Mutex // held to publish
	observers atomic.Pointer[map[routeCode]prometheus.Observer]
}

type routeCode struct {
	route string
	code  int
}

// newMetrics registers the API's series on reg. Series already registered
// there, by another API on the same registry, are shared. It panics when reg
// refuses a series for another reason: a programmer error.
func newMetrics(reg prometheus.Registerer, defaultMode valet.Mode) *metrics {
	m := &metrics{
		requests: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricRequests,
			Help:    "Time to answer an HTTP request, by the route pattern that served it and the status code.",
			Buckets: latencyBuckets,
		}, []string{"route", "code"})),
		logins: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricLogins,
			Help: "Password logins by mode and result (ok, or the error code of the answer).",
		}, []string{"mode", "result"})),
		signups: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricSignups,
			Help: "Signups by result (ok, or the error code of the answer).",
		}, []string{"result"})),
		refreshes: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricRefreshes,
			Help: "Refresh-token rotations by result (ok, reused when a reuse revoked the family, or the error code).",
		}, []string{"result"})),
		throttled: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricThrottled,
			Help: "Requests refused with 429 by the throttle, by action (login, signup, refresh, password).",
		}, []string{"action"})),
		defaultMode: string(defaultMode),
	}
	m.observers.Store(&map[routeCode]prometheus.Observer{})
	if m.defaultMode == "" {
		m.defaultMode = "default"
	}
	return m
}

// register registers c on reg, or returns the collector registered there
// already under the same description.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("httpapi: registering metrics: " + err.Error())
	}
	return c
}

// observe records one request served by route with status code.
func (m *metrics) observe(route string, code int, d time.Duration) {
	if route == "" {
		route = unmatchedRoute
	}
	k := routeCode{route, code}
	o, ok := (*m.observers.Load())[k]
	if !ok {
		o = m.publish(k)
	}
	o.Observe(d.Seconds())
}

// publish returns the histogram of k, publishing a copy of the observers
// with it if no other request has.
func (m *metrics) publish(k routeCode) prometheus.Observer {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.observers.Load()
	if o, ok := old[k]; ok {
		return o
	}
	o := m.requests.WithLabelValues(k.route, strconv.Itoa(k.code))
	next := maps.Clone(old)
	next[k] = o
	m.observers.Store(&next)
	return o
}

// result is the label of an outcome: "ok" or the error's code.
func result(err error) string {
	if err == nil {
		return "ok"
	}
	return valet.Describe(err).Code
}

// modeLabel bounds the mode a client asked for to the modes there are.
func (m *metrics) modeLabel(asked string) string {
	switch asked {
	case "":
		return m.defaultMode
	case string(valet.ModeSession), string(valet.ModeToken), string(valet.ModeHybrid):
		return asked
	}
	return "invalid"
}

func (m *metrics) login(asked string, g *auth.Grant, err error) {
	if m == nil {
		return
	}
	mode := m.modeLabel(asked)
	if g != nil {
		mode = string(g.Mode)
	}
	m.logins.WithLabelValues(mode, result(err)).Inc()
	m.throttle("login", err)
}

func (m *metrics) signup(err error) {
	if m == nil {
		return
	}
	m.signups.WithLabelValues(result(err)).Inc()
	m.throttle("signup", err)
}

func (m *metrics) refresh(err error) {
	if m == nil {
		return
	}
	res := result(err)
	if errors.Is(err, valet.ErrRefreshReused) {
		res = "reused"
	}
	m.refreshes.WithLabelValues(res).Inc()
	m.throttle("refresh", err)
}

// throttle counts err when it is the throttle's refusal of action.
func (m *metrics) throttle(action string, err error) {
	if m == nil || !errors.Is(err, valet.ErrRateLimited) {
		return
	}
	m.throttled.WithLabelValues(action).Inc()
}

// Instrument returns next with its requests counted in the API's
// valet_http_request_duration_seconds, by the pattern of the ServeMux inside
// next that served them: for pages served beside the API. Without a
// Config.Registerer it returns next.
func (a *API) Instrument(next http.Handler) http.Handler {
	m := a.metrics
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := newResponseWriter(w, false)
		next.ServeHTTP(rw, r)
		// A ServeMux sets r.Pattern on the request it was given, so the
		// innermost router's pattern is here once it has returned.
		m.observe(r.Pattern, rw.code(), time.Since(start))
		rw.release()
	})
}

// RevocationStats is a source of a revocation node's numbers.
// *revoke.Node implements it.
type RevocationStats interface {
	Stats() revoke.Stats
}

// RegisterRevocations registers on reg the series of n, read when reg is
// gathered:
//
//	valet_revocations_published_total        revocations this node published
//	valet_revocation_publish_failures_total  publishes that failed (each is retried)
//	valet_revocations_received_total         revocations heard on the channel (this node's own included)
//	valet_revocation_set_entries             entries in the in-memory set
//	valet_revocation_channel_up              1 while the channel is up, else 0
//	valet_revocation_channel_healthy         1 while up and the set reloaded since, so checks need no store
//	valet_revocation_channel_lag_seconds     time since the last message, or since the channel came up if later
//
// It returns reg's error when the series are registered already.
func RegisterRevocations(reg prometheus.Registerer, n RevocationStats) error {
	return reg.Register(revocationCollector{n})
}

var (
	descPublished      = prometheus.NewDesc("valet_revocations_published_total", "Revocations this node published to the other nodes.", nil, nil)
	descPublishFailed  = prometheus.NewDesc("valet_revocation_publish_failures_total", "Publishes of a revocation that failed; each is tried again.", nil, nil)
	descReceived       = prometheus.NewDesc("valet_revocations_received_total", "Revocations heard on the channel, this node's own included.", nil, nil)
	descEntries        = prometheus.NewDesc("valet_revocation_set_entries", "Entries in the in-memory revocation set.", nil, nil)
	descChannelUp      = prometheus.NewDesc("valet_revocation_channel_up", "1 while the revocation channel is up, else 0.", nil, nil)
	descChannelHealthy = prometheus.NewDesc("valet_revocation_channel_healthy", "1 while the channel is up and the set has been reloaded since, so hybrid checks need no store; else 0.", nil, nil)
	descChannelLag     = prometheus.NewDesc("valet_revocation_channel_lag_seconds", "Time since the last message on the revocation channel, or since it came up if that is later.", nil, nil)
)

type revocationCollector struct{ n RevocationStats }

func (c revocationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPublished, descPublishFailed, descReceived, descEntries, descChannelUp, descChannelHealthy, descChannelLag} {
		ch <- d
	}
}

func (c revocationCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.n.Stats()
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(s.Published))
	ch <- prometheus.MustNewConstMetric(descPublishFailed, prometheus.CounterValue, float64(s.PublishFailures))
	ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(s.Received))
	ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(s.Entries))
	ch <- prometheus.MustNewConstMetric(descChannelUp, prometheus.GaugeValue, boolValue(s.Up))
	ch <- prometheus.MustNewConstMetric(descChannelHealthy, prometheus.GaugeValue, boolValue(s.Healthy))
	if s.Up {
		// Lag means nothing while the channel is down: up says so.
		ch <- prometheus.MustNewConstMetric(descChannelLag, prometheus.GaugeValue, s.Lag.Seconds())
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// HashStats is a source of the password hasher's numbers.
type HashStats interface {
	// Waiting returns how many hash computations wait for a slot now.
	Waiting() int
	// Refused returns how many gave up waiting (answered 503) since start.
	Refused() uint64
}

// RegisterHasher registers on reg, read when reg is gathered,
// valet_password_hashes_waiting (gauge) and
// valet_password_hashes_refused_total (counter) of h. It returns reg's error
// when they are registered already.
func RegisterHasher(reg prometheus.Registerer, h HashStats) error {
	waiting := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "valet_password_hashes_waiting",
		Help: "Password hash computations waiting for a free slot.",
	}, func() float64 { return float64(h.Waiting()) })
	refused := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "valet_password_hashes_refused_total",
		Help: "Password hash computations that found no free slot in time and were answered 503.",
	}, func() float64 { return float64(h.Refused()) })
	if err := reg.Register(waiting); err != nil {
		return err
	}
	return reg.Register(refused)
}
