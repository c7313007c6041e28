// Package password hashes passwords with argon2id, verifies the hashes of
// other systems that accounts are imported from, and applies the password
// rules (see Policy).
//
// A Hasher bounds how many hash computations run at once, because each one
// holds Params.Memory of RAM, or what an imported hash asks for: a flood of
// logins then waits briefly and is turned away with valet.ErrUnavailable
// instead of exhausting memory. Hashes are PHC strings, such as
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with the salt and key in standard base64 without padding, the format of the
// reference implementation. Verify also accepts argon2i, bcrypt, scrypt,
// Django PBKDF2 and Firebase scrypt hashes (see ValidateImport), which
// NeedsRehash always reports for replacement.
//
// Passwords are normalized to Unicode NFKC before they are hashed or checked
// (see Normalize), so that one password typed on two keyboards is one
// password.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/valetauth/valet"
)

// The default argon2id parameters, at least OWASP's recommendation for
// argon2id (19 MiB, 2 iterations, 1 lane).
const (
	DefaultMemory      = 19456 // KiB (19 MiB)
	DefaultIterations  = 2     // passes over the memory
	DefaultParallelism = 1     // lanes
	DefaultSaltLen     = 16    // bytes
	DefaultKeyLen      = 32    // bytes
)

// The bounds that Decode and NewHasher accept. They keep a tampered or
// mistyped stored hash from asking for an unbounded amount of memory or time.
const (
	// MaxMemory is 2 GiB in KiB, the larger of RFC 9106's recommendations.
	MaxMemory     = 1 << 21
	MaxIterations = 256
	// MinSaltLen is the reference implementation's minimum, in bytes.
	MinSaltLen = 8
	MaxSaltLen = 64
	// MinKeyLen is 16 bytes: a shorter key would let a wrong password
	// match by chance too often.
	MinKeyLen = 16
	MaxKeyLen = 128
)

// DefaultWait is how long a caller waits for a free hashing slot when
// NewHasher is given a zero wait.
const DefaultWait = time.Second

// ErrMalformedHash is wrapped by the errors of Decode, Verify and
// ValidateImport when an encoded hash is malformed or outside the bounds. A
// stored hash that is malformed is a fault of the server, not of the caller.
var ErrMalformedHash = errors.New("password: malformed hash")

// Params are argon2id parameters. Zero fields take the defaults, which are at
// least OWASP's recommendation: Memory 19456 KiB (19 MiB), Iterations 2,
// Parallelism 1, SaltLen 16, KeyLen 32 (bytes).
type Params struct {
	// Memory is the memory cost in KiB; default DefaultMemory. It must be at
	// least 8 KiB per lane and at most MaxMemory.
	Memory uint32
	// Iterations is the time cost; default DefaultIterations, at most
	// MaxIterations.
	Iterations uint32
	// Parallelism is the number of lanes; default DefaultParallelism.
	Parallelism uint8
	// SaltLen is the length of a new salt in bytes; default DefaultSaltLen,
	// between MinSaltLen and MaxSaltLen.
	SaltLen uint32
	// KeyLen is the length of the derived key in bytes; default
	// DefaultKeyLen, between MinKeyLen and MaxKeyLen.
	KeyLen uint32
}

// withDefaults returns p with its zero fields set to the defaults.
func (p Params) withDefaults() Params {
	if p.Memory == 0 {
		p.Memory = DefaultMemory
	}
	if p.Iterations == 0 {
		p.Iterations = DefaultIterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = DefaultParallelism
	}
	if p.SaltLen == 0 {
		p.SaltLen = DefaultSaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = DefaultKeyLen
	}
	return p
}

// validate reports the first parameter outside the accepted bounds.
func (p Params) validate() error {
	switch {
	case p.Parallelism < 1:
		return errors.New("parallelism must be at least 1")
	case p.Memory < 8*uint32(p.Parallelism):
		// The reference implementation refuses this; x/crypto would silently
		// raise it, so a hash would not mean what its parameters say.
		return errors.New("memory must be at least 8 KiB per lane")
	case p.Memory > MaxMemory:
		return fmt.Errorf("memory must be at most %d KiB", MaxMemory)
	case p.Iterations < 1 || p.Iterations > MaxIterations:
		return fmt.Errorf("iterations must be between 1 and %d", MaxIterations)
	case p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen:
		return fmt.Errorf("salt must be between %d and %d bytes", MinSaltLen, MaxSaltLen)
	case p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen:
		return fmt.Errorf("key must be between %d and %d bytes", MinKeyLen, MaxKeyLen)
	}
	return nil
}

// Hasher hashes and verifies passwords with at most a fixed number of hash
// computations at once, of any algorithm. It is safe for concurrent use.
type Hasher struct {
	params Params
	slots  chan struct{}
	wait   time.Duration

	// waiting and refused are for Waiting and Refused.
	waiting atomic.Int64
	refused atomic.Uint64

	// dummySalt and dummyKey give VerifyDummy real inputs of the configured
	// sizes, so that it costs what a verify costs.
	dummySalt []byte
	dummyKey  []byte

	// derive and after are argon2.IDKey and a timer; tests replace them to
	// observe concurrency and to fire the wait deadline without sleeping.
	derive func(password, salt []byte, p Params) []byte
	after  func(d time.Duration) (c <-chan time.Time, stop func() bool)
}

// NewHasher returns a Hasher that uses p, whose zero fields take the
// defaults, and runs at most maxConcurrent hash computations at once
// (default runtime.NumCPU() when maxConcurrent <= 0). A caller waits at most
// wait for a free slot (default DefaultWait when wait is 0; a negative wait
// does not wait at all) and then gets an error wrapping valet.ErrUnavailable.
// Peak memory is about maxConcurrent × p.Memory KiB, or more while stored
// hashes that ask for more memory are verified (at most 1 GiB each for
// imported ones; see MaxImportArgon2Memory). NewHasher panics if p is outside
// the bounds that Decode accepts.
func NewHasher(p Params, maxConcurrent int, wait time.Duration) *Hasher {
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		panic("password: NewHasher: " + err.Error())
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	if wait == 0 {
		wait = DefaultWait
	}
	h := &Hasher{
		params:    p,
		slots:     make(chan struct{}, maxConcurrent),
		wait:      wait,
		dummySalt: make([]byte, p.SaltLen),
		dummyKey:  make([]byte, p.KeyLen),
		derive:    idKey,
		after:     realAfter,
	}
	rand.Read(h.dummySalt)
	rand.Read(h.dummyKey)
	return h
}

func idKey(password, salt []byte, p Params) []byte {
	return argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
}

func realAfter(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Params returns the parameters that Hash uses, with the defaults filled in.
func (h *Hasher) Params() Params { return h.params }

// acquire takes a hashing slot, waiting at most h.wait, and returns the
// function that gives it back. It fails with an error wrapping
// valet.ErrUnavailable (and ctx's error when ctx ended first).
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	release = func() { <-h.slots }
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: password hashing: %w", valet.ErrUnavailable, err)
	}
	select {
	case h.slots <- struct{}{}:
		return release, nil
	default:
	}
	if h.wait < 0 {
		h.refused.Add(1)
		return nil, fmt.Errorf("%w: password hashing is busy", valet.ErrUnavailable)
	}
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	timeout, stop := h.after(h.wait)
	defer stop()
	select {
	case h.slots <- struct{}{}:
		return release, nil
	case <-timeout:
		h.refused.Add(1)
		return nil, fmt.Errorf("%w: password hashing is busy", valet.ErrUnavailable)
	case <-ctx.Done():
		h.refused.Add(1)
		return nil, fmt.Errorf("%w: password hashing: %w", valet.ErrUnavailable, ctx.Err())
	}
}

// Waiting returns how many hash computations wait for a slot now.
func (h *Hasher) Waiting() int { return int(h.waiting.Load()) }

// Refused returns how many hash computations found no slot within the wait
// (or had their context end first) since the Hasher was made.
func (h *Hasher) Refused() uint64 { return h.refused.Load() }

// run calls work in a hashing slot: every computation of a hash, of any
// algorithm, goes through here, so the bound holds for all of them.
func (h *Hasher) run(ctx context.Context, work func()) error {
	release, err := h.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	work()
	return nil
}

// Hash returns the PHC string of password, normalized (see Normalize), under
// a new random salt and the Hasher's parameters. It returns an error
// wrapping valet.ErrUnavailable when no slot frees up within the wait or ctx
// ends first.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	// crypto/rand.Read never fails: the runtime aborts the program instead.
	rand.Read(salt)
	pw := []byte(Normalize(password))
	var key []byte
	if err := h.run(ctx, func() { key = h.derive(pw, salt, h.params) }); err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, comparing in constant
// time. encoded is valet's argon2id PHC string or an imported hash of any
// format that ValidateImport accepts; Verify uses the parameters stored in
// it, not the Hasher's. The password is tried normalized (see Normalize)
// and then, only when that differs and does not match, as given, since
// hashes made elsewhere (or by valet before it normalized) are of the raw
// form; both tries run in the one hashing slot. A wrong password is
// (false, nil). It returns an error wrapping ErrMalformedHash when encoded
// is malformed or outside the bounds, and one wrapping valet.ErrUnavailable
// when no slot frees up in time.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	ok, _, err := h.verify(ctx, password, encoded)
	return ok, err
}

// VerifyUpgrade is Verify that also reports whether the caller, now that it
// holds the right password, should store Hash(password) in place of
// encoded: when NeedsRehash(encoded, h.Params()) says so, or the password
// matched only in its raw, unnormalized form. rehash is false when ok is
// false.
func (h *Hasher) VerifyUpgrade(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	ok, raw, err := h.verify(ctx, password, encoded)
	if !ok || err != nil {
		return false, false, err
	}
	return true, raw || NeedsRehash(encoded, h.params), nil
}

// verify is Verify; raw reports a match of the unnormalized password only.
func (h *Hasher) verify(ctx context.Context, password, encoded string) (ok, raw bool, err error) {
	s, err := parseHash(encoded, false)
	if err != nil {
		return false, false, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	normal := Normalize(password)
	err = h.run(ctx, func() {
		ok = h.matches(s, []byte(normal))
		if !ok && normal != password {
			ok = h.matches(s, []byte(password))
			raw = ok
		}
	})
	if err != nil {
		return false, false, err
	}
	return ok, raw, nil
}

// VerifyDummy does the work of a Verify against a hash made with the
// Hasher's parameters, and throws the result away. Login calls it when the
// email is unknown, so that the response time does not reveal whether an
// account exists. It returns an error wrapping valet.ErrUnavailable when no
// slot frees up in time, like Verify.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	normal := Normalize(password)
	return h.run(ctx, func() {
		// Compare as Verify does, and try the raw form when Verify would, so
		// that the two paths do the same work.
		subtle.ConstantTimeCompare(h.derive([]byte(normal), h.dummySalt, h.params), h.dummyKey)
		if normal != password {
			subtle.ConstantTimeCompare(h.derive([]byte(password), h.dummySalt, h.params), h.dummyKey)
		}
	})
}

// NeedsRehash reports whether the caller should hash the password again
// after a successful login and store the result in place of encoded: for
// every hash that is not valet's argon2id (imported ones), for a malformed
// one, and for an argon2id hash weaker than p (whose zero fields take the
// defaults): less memory, fewer iterations, or a shorter salt or key. A
// hash at least as strong as p in each is kept; the number of lanes does not
// count, since it spreads the work without changing it.
func NeedsRehash(encoded string, p Params) bool {
	got, _, _, err := Decode(encoded)
	if err != nil {
		return true
	}
	want := p.withDefaults()
	return got.Memory < want.Memory || got.Iterations < want.Iterations ||
		got.SaltLen < want.SaltLen || got.KeyLen < want.KeyLen
}

const prefix = "$argon2id$v=19$"

// encode returns the PHC string of key derived under p and salt.
func encode(p Params, salt, key []byte) string {
	b := make([]byte, 0, len(prefix)+32+base64.RawStdEncoding.EncodedLen(len(salt))+base64.RawStdEncoding.EncodedLen(len(key)))
	b = append(b, prefix...)
	b = append(b, "m="...)
	b = strconv.AppendUint(b, uint64(p.Memory), 10)
	b = append(b, ",t="...)
	b = strconv.AppendUint(b, uint64(p.Iterations), 10)
	b = append(b, ",p="...)
	b = strconv.AppendUint(b, uint64(p.Parallelism), 10)
	b = append(b, '$')
	b = base64.RawStdEncoding.AppendEncode(b, salt)
	b = append(b, '$')
	b = base64.RawStdEncoding.AppendEncode(b, key)
	return string(b)
}

var b64 = base64.RawStdEncoding.Strict()

// Decode parses an argon2id PHC string strictly: the algorithm argon2id,
// version 19, the parameters m, t and p in that order as decimal numbers
// without leading zeros, and the salt and key in standard base64 without
// padding, with nothing else. It returns the parameters (SaltLen and KeyLen
// are the lengths of salt and key), or an error wrapping ErrMalformedHash
// when encoded is malformed or its parameters are outside the accepted
// bounds (see MaxMemory and the other limits).
func Decode(encoded string) (p Params, salt, key []byte, err error) {
	p, salt, key, err = parseArgon2(encoded, "argon2id", ownArgon2)
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

// parseDecimal parses a canonical unsigned decimal: digits only, no sign, no
// leading zero, at most 10 digits so the result cannot overflow.
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 10 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}
