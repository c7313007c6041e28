package revoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valetauth/valet"
)

// ErrRevoked is returned by Node.Check for a session that is revoked or, in
// fail-safe mode, gone. It wraps valet.ErrRevoked.
var ErrRevoked = fmt.Errorf("%w: session revoked", valet.ErrRevoked)

// errNoSession is returned by Node.Check for an empty session id.
var errNoSession = fmt.Errorf("%w: token names no session", valet.ErrTokenInvalid)

// Config holds a Node's settings. Store and Sessions are required.
type Config struct {
	// Store is where revocations are recorded, so that a starting or
	// reconnecting node can load them. Required.
	Store valet.RevocationStore
	// Transport carries revocations between nodes (default NewLocal(),
	// which suits a single node).
	Transport Transport
	// Sessions is consulted in fail-safe mode: while the channel has been
	// down longer than MaxStale, Check asks it whether the session still
	// exists. Required.
	Sessions valet.SessionStore
	// MaxStale is how long Check goes on trusting the set alone after the
	// channel was lost (default 2s).
	MaxStale time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives channel state changes and failures (default
	// slog.Default()).
	Logger *slog.Logger
}

const (
	// loadTimeout bounds one load of the revocation set from the store.
	loadTimeout = 10 * time.Second
	// sweepEvery is how often a started node drops expired entries.
	sweepEvery = time.Minute
	// republishQueue bounds the revocations waiting for another publish.
	republishQueue = 1024
)

// Node keeps a Set current across nodes: it records revocations in the
// store, adds them to its Set and publishes them, and it adds what other
// nodes publish. It is safe for concurrent use.
type Node struct {
	cfg Config
	set *Set
	log *slog.Logger

	// healthy is true while the channel is up and the set has been
	// reloaded since it came up. Check reads it on every call.
	healthy atomic.Bool
	// completeAt is when the set was last known to hold every revocation
	// (unix ns of cfg.Now): the moment the channel was lost, or the end of
	// the first load. Zero means never.
	completeAt atomic.Int64

	// mu guards connected and gen, which the transport's up callback
	// changes and the resync loop reads.
	mu        sync.Mutex
	connected bool
	gen       uint64

	// The numbers of Stats. lastEvent is when the last message arrived or
	// the channel last came up, whichever is later (unix ns of cfg.Now).
	published, publishFailures, received atomic.Uint64
	lastEvent                            atomic.Int64

	// users is told of changed users (see WatchUsers); nil until set.
	users atomic.Pointer[func(userID string)]
	// sessions is told of revoked sessions (see WatchSessions); nil
	// until set.
	sessions atomic.Pointer[func(string)]

	resync    chan struct{}
	republish chan valet.Revocation
	started   atomic.Bool
	done      chan struct{}
	// stop ends the goroutines Start began; nil until Start.
	stopMu sync.Mutex
	stop   context.CancelFunc
}

// NewNode returns a Node with an empty Set. Call Start to load the set and
// join the channel. NewNode panics if cfg.Store or cfg.Sessions is nil.
func NewNode(cfg Config) *Node {
	if cfg.Store == nil {
		panic("revoke: Config.Store is nil")
	}
	if cfg.Sessions == nil {
		panic("revoke: Config.Sessions is nil")
	}
	if cfg.Transport == nil {
		cfg.Transport = NewLocal()
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Node{
		cfg:       cfg,
		set:       NewSet(cfg.Now),
		log:       cfg.Logger,
		resync:    make(chan struct{}, 1),
		republish: make(chan valet.Revocation, republishQueue),
		done:      make(chan struct{}),
	}
}

// Start loads the current set from the store, then subscribes to the
// transport in the background until Close is called or ctx ends; each time the subscription is
// (re)established it loads the set again, to pick up what was published
// while it was down. It returns an error wrapping the store's error (such as
// valet.ErrUnavailable) when the first load fails, in which case nothing was
// started, and an error if the node was started already.
func (n *Node) Start(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("revoke: node already started")
	}
	if err := n.load(ctx); err != nil {
		n.started.Store(false)
		return err
	}
	n.completeAt.CompareAndSwap(0, n.cfg.Now().UnixNano())
	runCtx, stop := context.WithCancel(ctx)
	n.stopMu.Lock()
	n.stop = stop
	n.stopMu.Unlock()
	go n.run(runCtx)
	return nil
}

// Close stops the goroutines that Start began and waits for them to end.
// The set keeps what it holds, but hears no more of other nodes. Close on
// a node never started, or twice, returns nil.
func (n *Node) Close() error {
	n.stopMu.Lock()
	stop := n.stop
	n.stop = nil
	n.stopMu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	<-n.done
	return nil
}

// userPrefix marks a message that is no revocation but the news that a
// user changed (roles, disabled, deleted): every node drops its cached copy
// of the user. It never names a session, whose ids are base64url.
const userPrefix = "user:"

// AllUsers is the id for UserChanged of a change to many users at once.
const AllUsers = "*"

// userNewsTTL is how long the news of a changed user is kept in the store,
// for the nodes that read it there (NewPoll) rather than hear it.
const userNewsTTL = time.Minute

// UserChanged records and publishes that user id changed, so that every
// node that caches users drops its copy (see WatchUsers), as Revoke does
// for a session; its errors are Revoke's. The id AllUsers says that any
// user may have changed (a bulk import).
func (n *Node) UserChanged(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("%w: revoke: a changed user needs an id", valet.ErrInvalidRequest)
	}
	return n.Revoke(ctx, valet.Revocation{SessionID: userPrefix + id, Until: n.cfg.Now().Add(userNewsTTL)})
}

// WatchUsers has fn told of every changed user that any node announces
// with UserChanged, this one included, and told "" (forget every user)
// whenever the channel is lost or has come back and the set is reloaded:
// news may have been missed meanwhile. A cache of users that fn keeps
// exact is to be used only while Healthy. Calls to fn do not overlap with
// each other for news, but "" may come from another goroutine.
func (n *Node) WatchUsers(fn func(userID string)) { n.users.Store(&fn) }

// WatchSessions has fn told of each session revocation that reaches this
// node as a message (from any node, and from this one where the transport
// echoes its own), but not of those loaded from the store when the node
// starts or reconnects. fn runs on the transport's goroutine, so it must
// not block: hand the work on.
func (n *Node) WatchSessions(fn func(sid string)) { n.sessions.Store(&fn) }

func (n *Node) tellUsers(id string) {
	if fn := n.users.Load(); fn != nil {
		(*fn)(id)
	}
}

// Revoke records r in the store, adds it to the local set and publishes it
// to the other nodes. It returns an error wrapping valet.ErrInvalidRequest
// when r has no SessionID or no Until, and the store's error (wrapping
// valet.ErrUnavailable) when recording fails, in which case r is not
// applied anywhere. A failed publish is not an error: the store holds r, a
// started node tries publishing again in the background until r expires,
// and a node that misses the message loads r when it reconnects (and is in
// fail-safe mode until then). A revocation whose Until has passed is a no-op.
func (n *Node) Revoke(ctx context.Context, r valet.Revocation) error {
	if r.SessionID == "" || r.Until.IsZero() {
		return fmt.Errorf("%w: revoke: revocation needs a session id and an end", valet.ErrInvalidRequest)
	}
	if !r.Until.After(n.cfg.Now()) {
		return nil
	}
	if err := n.cfg.Store.AddRevocation(ctx, r); err != nil {
		return fmt.Errorf("revoke: recording revocation: %w", err)
	}
	n.apply(r)
	if err := n.cfg.Transport.Publish(ctx, r); err != nil {
		n.publishFailures.Add(1)
		n.log.Warn("revoke: publishing revocation failed; will retry", "sid", r.SessionID, "err", err)
		select {
		case n.republish <- r:
		default:
			n.log.Error("revoke: republish queue full; other nodes will load the revocation when they reconnect", "sid", r.SessionID)
		}
		return nil
	}
	n.published.Add(1)
	return nil
}

// Check reports whether a token naming session sid may be accepted. It
// returns ErrRevoked when sid is in the set; while the channel is healthy,
// or was lost no longer than MaxStale ago, that is all it does (no I/O, no
// allocation). While the channel has been down longer, or before Start has
// loaded the set, it also asks Sessions: it returns ErrRevoked when the
// session is gone and an error wrapping valet.ErrUnavailable when the store
// cannot answer, so a missed message never lets a revoked session through.
// An empty sid yields an error wrapping valet.ErrTokenInvalid.
func (n *Node) Check(ctx context.Context, sid string) error {
	if sid == "" {
		return errNoSession
	}
	if n.set.Revoked(sid) {
		return ErrRevoked
	}
	if n.healthy.Load() {
		return nil
	}
	at := n.completeAt.Load()
	if at != 0 && n.cfg.Now().UnixNano()-at <= int64(n.cfg.MaxStale) {
		return nil
	}
	_, found, err := n.cfg.Sessions.Session(ctx, sid)
	if err != nil {
		// The store's error may come from its driver; only its text goes on.
		return fmt.Errorf("%w: revoke: revocation channel down and session lookup failed: %v", valet.ErrUnavailable, err)
	}
	if !found {
		return ErrRevoked
	}
	return nil
}

// Healthy reports whether the channel is up and the set has been reloaded
// since it came up, so that Check needs no I/O. It is false before Start and
// after the context given to Start has ended.
func (n *Node) Healthy() bool { return n.healthy.Load() }

// Set returns the node's revocation set.
func (n *Node) Set() *Set { return n.set }

// Stats are a node's numbers, for metrics.
type Stats struct {
	// Published counts the revocations this node published, at the first
	// try or a later one; PublishFailures the tries that failed.
	Published, PublishFailures uint64
	// Received counts the revocations heard on the channel, this node's own
	// included.
	Received uint64
	// Entries is the size of the set (see Set.Len).
	Entries int
	// Up is whether the channel is up; Healthy whether it is and the set has
	// been reloaded since (see Healthy).
	Up, Healthy bool
	// Lag is the time since the last message, or since the channel came
	// up if that is later; zero while the channel is down.
	Lag time.Duration
}

// Stats returns the node's numbers now. It takes no lock that Check takes,
// and costs one pass over the set.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	up := n.connected
	n.mu.Unlock()
	s := Stats{
		Published: n.published.Load(), PublishFailures: n.publishFailures.Load(), Received: n.received.Load(),
		Entries: n.set.Len(), Up: up, Healthy: n.healthy.Load(),
	}
	if at := n.lastEvent.Load(); up && at != 0 {
		s.Lag = max(0, time.Duration(n.cfg.Now().UnixNano()-at))
	}
	return s
}

// receive is the transport's message callback.
func (n *Node) receive(r valet.Revocation) {
	n.received.Add(1)
	n.lastEvent.Store(n.cfg.Now().UnixNano())
	n.apply(r)
	if fn := n.sessions.Load(); fn != nil && !strings.HasPrefix(r.SessionID, userPrefix) {
		(*fn)(r.SessionID)
	}
}

// apply adds a revocation to the set, or passes on the news of a user.
func (n *Node) apply(r valet.Revocation) {
	if id, ok := strings.CutPrefix(r.SessionID, userPrefix); ok {
		switch id {
		case "":
		case AllUsers:
			n.tellUsers("")
		default:
			n.tellUsers(id)
		}
		return
	}
	n.set.Add(r)
}

// load adds the store's current revocations to the set. Entries are only
// ever added: one that arrived by message is kept even if the store's answer
// predates it.
func (n *Node) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	rs, err := n.cfg.Store.Revocations(ctx, n.cfg.Now())
	if err != nil {
		return fmt.Errorf("revoke: loading revocations: %w", err)
	}
	// The news of users is for those who heard it; a load follows a gap,
	// after which a cache of users starts again from nothing.
	rs = slices.DeleteFunc(rs, func(r valet.Revocation) bool { return strings.HasPrefix(r.SessionID, userPrefix) })
	n.set.addAll(rs)
	return nil
}

// run subscribes until ctx ends, restarting the subscription should the
// transport give up, and runs the resync loop beside it.
func (n *Node) run(ctx context.Context) {
	defer close(n.done)
	var wg sync.WaitGroup
	wg.Go(func() { n.resyncLoop(ctx) })
	wg.Go(func() { n.republishLoop(ctx) })

	bo := NewBackoff()
	for {
		err := n.cfg.Transport.Subscribe(ctx, n.receive, n.link)
		if ctx.Err() != nil {
			break
		}
		// A transport that returns has lost its channel even if it did not
		// say so.
		n.link(false)
		n.log.Warn("revoke: subscription ended; subscribing again", "err", err)
		if !Sleep(ctx, bo.Next()) {
			break
		}
	}
	n.link(false)
	wg.Wait()
}

// link is the transport's up callback.
func (n *Node) link(up bool) {
	n.mu.Lock()
	n.gen++
	n.connected = up
	if up {
		n.lastEvent.Store(n.cfg.Now().UnixNano())
	}
	if !up && n.healthy.Load() {
		// completeAt goes first, so that a Check that sees healthy false
		// also sees when the set stopped being complete.
		n.completeAt.Store(n.cfg.Now().UnixNano())
		n.healthy.Store(false)
		n.log.Warn("revoke: revocation channel lost; checks fall back to the session store after MaxStale", "max_stale", n.cfg.MaxStale)
	}
	n.mu.Unlock()
	if !up {
		n.tellUsers("")
	}
	if up {
		select {
		case n.resync <- struct{}{}:
		default:
		}
	}
}

// resyncLoop reloads the set from the store each time the channel comes up,
// retrying while the store fails, and marks the node healthy once a load
// that began after the channel came up has succeeded. It also sweeps the
// set now and then.
func (n *Node) resyncLoop(ctx context.Context) {
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			n.set.Sweep()
			continue
		case <-n.resync:
		}
		bo := NewBackoff()
		for {
			n.mu.Lock()
			gen, connected := n.gen, n.connected
			n.mu.Unlock()
			if !connected {
				break
			}
			err := n.load(ctx)
			if err == nil {
				n.mu.Lock()
				// Only a load that began after the latest change of the
				// channel proves the set complete; otherwise the next
				// resync signal, already queued, settles it.
				nowHealthy := false
				if n.gen == gen && n.connected && !n.healthy.Load() {
					n.healthy.Store(true)
					nowHealthy = true
					n.log.Info("revoke: revocation channel up and set loaded", "entries", n.set.Len())
				}
				n.mu.Unlock()
				if nowHealthy {
					n.tellUsers("")
				}
				break
			}
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("revoke: reloading revocations failed; retrying", "err", err)
			if !Sleep(ctx, bo.Next()) {
				return
			}
		}
	}
}

// republishLoop publishes again the revocations whose first publish failed,
// until each has gone out or expired. Without it, nodes whose channel stayed
// up while this node's publish failed would never hear of them.
func (n *Node) republishLoop(ctx context.Context) {
	var (
		pending []valet.Revocation
		timer   *time.Timer
		retry   <-chan time.Time
	)
	bo := NewBackoff()
	arm := func() {
		timer = time.NewTimer(bo.Next())
		retry = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case r := <-n.republish:
			if len(pending) >= republishQueue {
				n.log.Error("revoke: too many revocations waiting to be published again; dropping one, other nodes will load it when they reconnect", "sid", r.SessionID)
				continue
			}
			pending = append(pending, r)
			if timer == nil {
				arm()
			}
		case <-retry:
			timer, retry = nil, nil
			now := n.cfg.Now()
			kept := pending[:0]
			for _, r := range pending {
				if !r.Until.After(now) {
					continue
				}
				pctx, cancel := context.WithTimeout(ctx, loadTimeout)
				err := n.cfg.Transport.Publish(pctx, r)
				cancel()
				if err != nil {
					n.publishFailures.Add(1)
					kept = append(kept, r)
					continue
				}
				n.published.Add(1)
			}
			clear(pending[len(kept):])
			pending = kept
			if len(pending) > 0 {
				arm()
			} else {
				bo.Reset()
			}
		}
	}
}
