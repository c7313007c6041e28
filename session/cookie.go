// Package session keeps server-side sessions: the cookie codec that signs a
// session secret as <secret>.<hmac>, and a Manager that creates, loads,
// touches and destroys sessions in a valet.SessionStore.
package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"sync"

	"github.com/valetauth/valet"
)

// ErrBadCookie is returned (wrapping valet.ErrUnauthenticated) for a cookie
// value that is malformed or whose HMAC does not match.
var ErrBadCookie = valet.Errorf(valet.ErrUnauthenticated, "Bad session cookie.")

const (
	secretLen = 43 // base64url of 32 bytes, no padding
	macLen    = 43 // base64url of a SHA-256 HMAC, no padding
	// CookieLen is the exact length of an encoded cookie value.
	CookieLen = secretLen + 1 + macLen
)

var b64 = base64.RawURLEncoding.Strict()

// Codec signs session secrets with HMAC-SHA256 under the server's key.
// It is safe for concurrent use.
type Codec struct {
	macs sync.Pool
}

// NewCodec returns a Codec keyed with key. It panics if key is shorter than
// 32 bytes, which is a programmer error.
func NewCodec(key []byte) *Codec {
	if len(key) < 32 {
		panic("session: cookie key must be at least 32 bytes")
	}
	k := append([]byte(nil), key...)
	return &Codec{macs: sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
}

// Encode returns the cookie value for secret: <secret>.<base64url hmac>.
func (c *Codec) Encode(secret string) string {
	var sum [sha256.Size]byte
	c.mac(secret, &sum)
	buf := make([]byte, 0, len(secret)+1+macLen)
	buf = append(buf, secret...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sum[:])
	return string(buf)
}

// Decode checks value and returns the secret it carries. A value of the
// wrong shape or with a wrong HMAC gives ErrBadCookie; no store is consulted
// before this check passes.
func (c *Codec) Decode(value string) (string, error) {
	if len(value) != CookieLen || value[secretLen] != '.' {
		return "", ErrBadCookie
	}
	secret, mac := value[:secretLen], value[secretLen+1:]
	var raw [33]byte // a 43-char value decodes to 32 bytes; one spare catches junk
	n, err := b64.Decode(raw[:], []byte(mac))
	if err != nil || n != sha256.Size {
		return "", ErrBadCookie
	}
	if !validSecret(secret) {
		return "", ErrBadCookie
	}
	var want [sha256.Size]byte
	c.mac(secret, &want)
	if !hmac.Equal(want[:], raw[:n]) {
		return "", ErrBadCookie
	}
	return secret, nil
}

func (c *Codec) mac(secret string, out *[sha256.Size]byte) {
	h := c.macs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(secret))
	h.Sum(out[:0])
	c.macs.Put(h)
}

// validSecret reports whether s is the canonical base64url form of 32 bytes.
// It rejects a secret that an attacker padded or bent, so one session has
// exactly one cookie value.
func validSecret(s string) bool {
	var raw [33]byte
	n, err := b64.Decode(raw[:], []byte(s))
	return err == nil && n == 32
}
