// Package throttle limits how often a client may try something: failed
// logins, mail asked for and one-time codes tried, per account and per
// client address; signups and refreshes per client address. A Guard applies a Policy of limits on top of a Store of
// counters: Memory (golang.org/x/time/rate, for one node) or Redis
// (github.com/go-redis/redis_rate, shared by every node).
//
// Both stores run the same algorithm, GCRA, which is a token bucket: a limit
// of "5 per 15 minutes" lets 5 attempts through at once and then one more
// every 3 minutes, and the bucket is full again 15 minutes after the last
// attempt. A policy may stack several limits on one key ("5/15m,20/24h"),
// so that an attacker who keeps going meets longer and longer waits.
package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/valetauth/valet"
)

// Limit lets Burst attempts through at once and refills the bucket evenly
// over Period: one attempt every Period/Burst.
type Limit struct {
	Burst  int
	Period time.Duration
}

// interval is the time it takes to earn back one attempt.
func (l Limit) interval() time.Duration { return l.Period / time.Duration(l.Burst) }

// Interval is the time one attempt takes to drain from the bucket:
// Period / Burst.
func (l Limit) Interval() time.Duration { return l.interval() }

func (l Limit) valid() bool {
	return l.Burst > 0 && l.Period >= time.Millisecond*time.Duration(l.Burst)
}

// String formats l as ParseLimits reads it, e.g. "5/15m0s".
func (l Limit) String() string { return strconv.Itoa(l.Burst) + "/" + l.Period.String() }

// ParseLimits reads a comma-separated list of limits, each "N/DURATION"
// ("5/15m,20/24h"). "off", "0" and "" give no limit (nil). It returns an
// error wrapping valet.ErrInvalidRequest for anything else.
func ParseLimits(s string) ([]Limit, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" || s == "0" {
		return nil, nil
	}
	var out []Limit
	for _, part := range strings.Split(s, ",") {
		n, d, ok := strings.Cut(strings.TrimSpace(part), "/")
		if !ok {
			return nil, valet.Errorf(valet.ErrInvalidRequest, "Limit %q: want N/DURATION, e.g. 5/15m.", part)
		}
		burst, err := strconv.Atoi(n)
		if err != nil {
			return nil, valet.Errorf(valet.ErrInvalidRequest, "Limit %q: %q is not a count.", part, n)
		}
		period, err := time.ParseDuration(d)
		if err != nil {
			return nil, valet.Errorf(valet.ErrInvalidRequest, "Limit %q: %q is not a duration.", part, d)
		}
		l := Limit{Burst: burst, Period: period}
		if !l.valid() {
			return nil, valet.Errorf(valet.ErrInvalidRequest, "Limit %q: want a positive count and a period of at least a millisecond per attempt.", part)
		}
		out = append(out, l)
	}
	return out, nil
}

// FormatLimits is the inverse of ParseLimits: "off" for none.
func FormatLimits(ls []Limit) string {
	if len(ls) == 0 {
		return "off"
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.String()
	}
	return strings.Join(parts, ",")
}

// Result is what a Store says about one key.
type Result struct {
	// Allowed reports whether the attempts asked for may go ahead (for a
	// peek, whether one attempt could).
	Allowed bool
	// Remaining is how many attempts could go ahead now, after this one.
	Remaining int
	// RetryAfter is how long until one attempt may go ahead; zero when
	// Allowed.
	RetryAfter time.Duration
}

// Store keeps the counters behind a Guard.
//
// AllowN takes n attempts from key's bucket under limit l when there are
// that many, and reports whether it did; it takes nothing when there are
// not. n = 0 is a peek: nothing is taken, and Allowed reports whether one
// attempt could go ahead. Reset forgets key. Both return an error wrapping
// valet.ErrUnavailable when the counters cannot be reached, and honour ctx.
type Store interface {
	AllowN(ctx context.Context, key string, l Limit, n int) (Result, error)
	Reset(ctx context.Context, key string) error
}

// Error is a refusal: too many attempts. It wraps valet.ErrRateLimited.
type Error struct {
	// Scope names the limit that refused: "account" or "ip".
	Scope string
	// Action is what was refused: "login", "signup", "refresh", "mail" or
	// "code".
	Action string
	// Wait is how long until an attempt may go ahead.
	Wait time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("throttle: too many %s attempts for this %s: %v", e.Action, e.Scope, valet.ErrRateLimited)
}

// Unwrap returns valet.ErrRateLimited.
func (e *Error) Unwrap() error { return valet.ErrRateLimited }

// RetryAfter returns how long the client should wait, rounded up to a whole
// second and at least one: the value of a Retry-After header.
func (e *Error) RetryAfter() time.Duration {
	return max(time.Second, (e.Wait+time.Second-1)/time.Second*time.Second)
}

// Policy is the set of limits a Guard applies. A nil list is no limit.
type Policy struct {
	// LoginAccount limits failed logins per account (the normalized email,
	// whether or not the account exists). A successful login resets it.
	LoginAccount []Limit
	// LoginIP limits failed logins per client address.
	LoginIP []Limit
	// Signup limits signups per client address.
	Signup []Limit
	// Refresh limits refresh-token rotations per client address.
	Refresh []Limit
	// MailAccount limits the mail that requests ask valet to send to one
	// account (verification, recovery, email change), known or not;
	// MailIP the mail asked for from one client address.
	MailAccount []Limit
	MailIP      []Limit
	// CodeAccount limits the one-time codes tried for one address, and
	// CodeIP the codes and link tokens tried from one client address. A
	// ticket dies after five wrong codes besides.
	CodeAccount []Limit
	CodeIP      []Limit
	// FactorAccount limits the second factors tried for one account
	// (TOTP codes, recovery codes, passkeys), and FactorIP those tried from
	// one client address, passkey sign-ins included. They are kept apart
	// from the password's limits: a wrong code spends no password try, and
	// a locked password does not lock out a passkey.
	FactorAccount []Limit
	FactorIP      []Limit
}

// DefaultPolicy returns the limits valet serves with unless told otherwise:
// 5 failed logins per account per 15 minutes and 20 per day (so the wait
// grows from nothing to 3 minutes to 72 minutes), 50 failed logins per
// address per 15 minutes, 20 signups per address per hour, 300 refreshes
// per address per minute, 3 mails per account per 15 minutes and 10 per
// day, 20 mails per address per hour, 10 codes per account per 15 minutes
// and 30 per day, 50 codes or link tokens per address per 15 minutes, 10
// second factors per account per 15 minutes and 30 per day, and 100 second
// factors or passkey sign-ins per address per 15 minutes.
func DefaultPolicy() Policy {
	return Policy{
		LoginAccount:  []Limit{{5, 15 * time.Minute}, {20, 24 * time.Hour}},
		LoginIP:       []Limit{{50, 15 * time.Minute}},
		Signup:        []Limit{{20, time.Hour}},
		Refresh:       []Limit{{300, time.Minute}},
		MailAccount:   []Limit{{3, 15 * time.Minute}, {10, 24 * time.Hour}},
		MailIP:        []Limit{{20, time.Hour}},
		CodeAccount:   []Limit{{10, 15 * time.Minute}, {30, 24 * time.Hour}},
		CodeIP:        []Limit{{50, 15 * time.Minute}},
		FactorAccount: []Limit{{10, 15 * time.Minute}, {30, 24 * time.Hour}},
		FactorIP:      []Limit{{100, 15 * time.Minute}},
	}
}

// Guard applies a Policy. It is safe for concurrent use.
type Guard struct {
	store Store
	p     Policy
}

// New returns a Guard that keeps its counters in store. It panics when store
// is nil or a limit is not positive, which are programmer errors.
func New(store Store, p Policy) *Guard {
	if store == nil {
		panic("throttle: New needs a Store")
	}
	for _, ls := range [][]Limit{p.LoginAccount, p.LoginIP, p.Signup, p.Refresh, p.MailAccount, p.MailIP, p.CodeAccount, p.CodeIP, p.FactorAccount, p.FactorIP} {
		for _, l := range ls {
			if !l.valid() {
				panic("throttle: invalid limit " + l.String())
			}
		}
	}
	return &Guard{store: store, p: p}
}

// Policy returns the guard's limits, as given to New.
func (g *Guard) Policy() Policy { return g.p }

// Login is called before a password is checked. It refuses when the
// account or the client address has used up its failed logins, and
// otherwise counts the attempt against the account at once, so that
// parallel guesses cannot slip past the limit; LoginSucceeded gives it back.
// account is the normalized email; it is hashed before it becomes a key. It
// returns nil, an *Error, or an error wrapping valet.ErrUnavailable.
func (g *Guard) Login(ctx context.Context, account, ip string) error {
	// The address first: a refusal on its account must not cost the
	// account an attempt.
	if err := g.peek(ctx, ipKey("login", ip), g.p.LoginIP, "ip", "login"); err != nil {
		return err
	}
	return g.take(ctx, accountKey(account), g.p.LoginAccount, "account", "login")
}

// LoginFailed counts a failed password check against the client address
// (Login has counted it against the account already). An address with no
// attempt left stays so. It returns an error wrapping valet.ErrUnavailable
// when the counters cannot be reached.
func (g *Guard) LoginFailed(ctx context.Context, account, ip string) error {
	key := ipKey("login", ip)
	for i, l := range g.p.LoginIP {
		if _, err := g.store.AllowN(ctx, tierKey(key, i), l, 1); err != nil {
			return err
		}
	}
	return nil
}

// LoginSucceeded forgets the account's failed logins. The client address
// keeps its count: one good password does not buy another address's
// guesses back. It returns an error wrapping valet.ErrUnavailable when the
// counters cannot be reached.
func (g *Guard) LoginSucceeded(ctx context.Context, account, ip string) error {
	ak := accountKey(account)
	for i := range g.p.LoginAccount {
		if err := g.store.Reset(ctx, tierKey(ak, i)); err != nil {
			return err
		}
	}
	return nil
}

// Signup counts a signup from ip, or refuses it with an *Error. It returns
// an error wrapping valet.ErrUnavailable when the counters cannot be reached.
func (g *Guard) Signup(ctx context.Context, ip string) error {
	return g.take(ctx, ipKey("signup", ip), g.p.Signup, "ip", "signup")
}

// Refresh counts a refresh-token rotation from ip, or refuses it with an
// *Error. It returns an error wrapping valet.ErrUnavailable when the counters
// cannot be reached.
func (g *Guard) Refresh(ctx context.Context, ip string) error {
	return g.take(ctx, ipKey("refresh", ip), g.p.Refresh, "ip", "refresh")
}

// Mail counts a mail that a request asks to be sent to account (the
// normalized email, whether or not an account has it) from ip, or refuses
// it with an *Error. It returns an error wrapping valet.ErrUnavailable when
// the counters cannot be reached.
func (g *Guard) Mail(ctx context.Context, account, ip string) error {
	return g.both(ctx, "mail", account, ip, g.p.MailAccount, g.p.MailIP)
}

// Code counts a one-time code tried for account, or a link token (account
// empty: a token names no address until it is looked up), from ip, or
// refuses it with an *Error. It returns an error wrapping
// valet.ErrUnavailable when the counters cannot be reached.
func (g *Guard) Code(ctx context.Context, account, ip string) error {
	return g.both(ctx, "code", account, ip, g.p.CodeAccount, g.p.CodeIP)
}

// Factor counts a second factor tried for account (a user id; empty for a
// passkey sign-in, which names its account only once it has been checked)
// from ip, or refuses it with an *Error. It returns an error wrapping
// valet.ErrUnavailable when the counters cannot be reached.
func (g *Guard) Factor(ctx context.Context, account, ip string) error {
	return g.both(ctx, "factor", account, ip, g.p.FactorAccount, g.p.FactorIP)
}

// FactorSucceeded forgets the second factors tried for account (a user id)
// once one was right, as LoginSucceeded does for the password: the limit
// is on wrong factors, and a person who signs in often never meets it.
// The client address keeps its count. It returns an error wrapping
// valet.ErrUnavailable when the counters cannot be reached.
func (g *Guard) FactorSucceeded(ctx context.Context, account string) error {
	key := actionAccountKey("factor", account)
	for i := range g.p.FactorAccount {
		if err := g.store.Reset(ctx, tierKey(key, i)); err != nil {
			return err
		}
	}
	return nil
}

// both counts an attempt of action against the client address and, when
// account is not empty, the account: the address is looked at first, so
// that a refusal there costs the account nothing.
func (g *Guard) both(ctx context.Context, action, account, ip string, acct, addr []Limit) error {
	ik := ipKey(action, ip)
	if err := g.peek(ctx, ik, addr, "ip", action); err != nil {
		return err
	}
	if account != "" {
		if err := g.take(ctx, actionAccountKey(action, account), acct, "account", action); err != nil {
			return err
		}
	}
	return g.take(ctx, ik, addr, "ip", action)
}

// peek refuses when any tier of key has no attempt left, with the longest
// wait among them.
func (g *Guard) peek(ctx context.Context, key string, tiers []Limit, scope, action string) error {
	var wait time.Duration
	for i, l := range tiers {
		res, err := g.store.AllowN(ctx, tierKey(key, i), l, 0)
		if err != nil {
			return err
		}
		if !res.Allowed {
			wait = max(wait, res.RetryAfter, time.Millisecond)
		}
	}
	if wait > 0 {
		return &Error{Scope: scope, Action: action, Wait: wait}
	}
	return nil
}

// take counts one attempt in every tier of key. A tier that refuses
// (another request took the last attempt since the peek) refuses the whole.
func (g *Guard) take(ctx context.Context, key string, tiers []Limit, scope, action string) error {
	if err := g.peek(ctx, key, tiers, scope, action); err != nil {
		return err
	}
	for i, l := range tiers {
		res, err := g.store.AllowN(ctx, tierKey(key, i), l, 1)
		if err != nil {
			return err
		}
		if !res.Allowed {
			return &Error{Scope: scope, Action: action, Wait: max(res.RetryAfter, time.Millisecond)}
		}
	}
	return nil
}

func tierKey(key string, tier int) string { return key + ":" + strconv.Itoa(tier) }

// accountKey keys an account by a hash of its email, so that the counters
// (in Redis, perhaps) never hold an address in clear.
func accountKey(account string) string {
	sum := sha256.Sum256([]byte(account))
	return "login:acct:" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// actionAccountKey keys an account's counter of action as accountKey does
// its logins.
func actionAccountKey(action, account string) string {
	sum := sha256.Sum256([]byte(account))
	return action + ":acct:" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// ipKey keys a client address. An IPv6 client is keyed by its /64, the
// block one subscriber is given: otherwise each of its 2^64 addresses would
// get limits of its own.
func ipKey(action, ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return action + ":ip:" + ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return action + ":ip:" + p.String()
	}
	return action + ":ip:" + a.String()
}

// unavailable wraps a counter store's failure for callers, without its type.
// Unavailable wraps a failure of a Store's backend (op names it, "redis")
// so that it matches valet.ErrUnavailable, and context errors too.
func Unavailable(op string, err error) error { return unavailable(op, err) }

func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("throttle: %s: %w: %w", op, valet.ErrUnavailable, err)
	}
	return fmt.Errorf("throttle: %s: %v: %w", op, err, valet.ErrUnavailable)
}
