package token

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// DefaultLeeway is the clock skew allowed for exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultMaxSize is the longest token, in bytes, a Verifier accepts.
	DefaultMaxSize = 8192
)

// Verifier checks tokens against a KeySource and the options it was made
// with. It is immutable and safe for concurrent use.
type Verifier struct {
	keys     KeySource
	fast     byteKeySource
	leeway   time.Duration
	issuer   string
	audience string
	now      func() time.Time
	maxSize  int
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithLeeway sets the clock skew allowed when checking exp, nbf and iat;
// the default is DefaultLeeway (30 s). It panics if d is negative.
func WithLeeway(d time.Duration) Option {
	if d < 0 {
		panic("token: WithLeeway: negative leeway")
	}
	return func(v *Verifier) { v.leeway = d }
}

// WithIssuer makes Verify require the iss claim to be s. By default iss is
// not checked.
func WithIssuer(s string) Option { return func(v *Verifier) { v.issuer = s } }

// WithAudience makes Verify require the aud claim to name s. By default aud
// is not checked.
func WithAudience(s string) Option { return func(v *Verifier) { v.audience = s } }

// WithClock sets the source of the current time; the default is time.Now.
// It panics if now is nil.
func WithClock(now func() time.Time) Option {
	if now == nil {
		panic("token: WithClock: nil clock")
	}
	return func(v *Verifier) { v.now = now }
}

// WithMaxSize sets the longest token Verify accepts, in bytes; the default
// is DefaultMaxSize (8192). It panics if n is not positive.
func WithMaxSize(n int) Option {
	if n <= 0 {
		panic("token: WithMaxSize: size must be positive")
	}
	return func(v *Verifier) { v.maxSize = n }
}

// NewVerifier returns a Verifier that looks keys up in keys. It panics if
// keys is nil.
func NewVerifier(keys KeySource, opts ...Option) *Verifier {
	if keys == nil {
		panic("token: NewVerifier: nil KeySource")
	}
	v := &Verifier{keys: keys, leeway: DefaultLeeway, now: time.Now, maxSize: DefaultMaxSize}
	v.fast, _ = keys.(byteKeySource)
	for _, o := range opts {
		o(v)
	}
	return v
}

// Verify checks tok and, only when every check passes, sets *c to its
// claims. In order: the size; three parts of canonical unpadded base64url;
// a header that is a strict JSON object with a supported alg, no jku, jwk,
// x5u, x5c or crit, a typ (if any) of JWT or at+jwt, and a kid naming a key
// whose algorithm is alg; the signature; then a payload that is a strict
// JSON object with exp, nbf and iat within the leeway and iss and aud as
// configured.
//
// On failure *c is left as it was and the error is one of the package's
// sentinels, or wraps one: every error satisfies errors.Is(err,
// valet.ErrTokenInvalid), except for an expired token, whose error satisfies
// errors.Is(err, valet.ErrTokenExpired) instead.
func (v *Verifier) Verify(tok string, c *Claims) error {
	if len(tok) > v.maxSize {
		return ErrTooLarge
	}
	dot1, dot2, err := splitCompact(tok)
	if err != nil {
		return err
	}
	// The buffer holds a copy of the token, so that the signing input is a
	// []byte without an allocation, then the decoded parts, and room for
	// the DER form of an ECDSA signature (72 bytes at most) after them.
	bp := getBuffer(len(tok) + b64.DecodedLen(len(tok)) + 72)
	defer putBuffer(bp)
	in := (*bp)[:copy(*bp, tok)]
	free := (*bp)[len(in):]

	var key *Key
	if v.fast != nil {
		key, _ = v.fast.keyForHeader(in[:dot1])
	}
	if key == nil {
		header, rest, err := decodePart(free, in[:dot1])
		if err != nil {
			return err
		}
		free = rest
		if key, err = v.lookup(header); err != nil {
			return err
		}
	}
	sig, free, err := decodePart(free, in[dot2+1:])
	if err != nil {
		return err
	}
	if !key.verify(in[:dot2], sig, free) {
		return ErrSignatureInvalid
	}

	// Only now that the signature holds is the payload decoded.
	payload, _, err := decodePart(free, in[dot1+1:dot2])
	if err != nil {
		return err
	}
	var got Claims
	hasExp, err := parseClaims(payload, &got)
	if err != nil {
		return err
	}
	if err := v.check(&got, hasExp); err != nil {
		return err
	}
	*c = got
	return nil
}

// lookup parses a decoded protected header and returns the key it names,
// which must have the header's alg.
func (v *Verifier) lookup(header []byte) (*Key, error) {
	alg, kid, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	var key *Key
	var ok bool
	if v.fast != nil {
		key, ok = v.fast.keyBytes(kid)
	} else {
		key, ok = v.keys.Key(string(kid))
	}
	if !ok || key == nil {
		return nil, ErrUnknownKey
	}
	if string(alg) != key.alg {
		return nil, errAlgMismatch
	}
	return key, nil
}

// check applies the claim rules to a payload whose signature has verified.
// Expiry is checked last, so that ErrTokenExpired (which tells a client to
// refresh) is only for a token that would otherwise be accepted.
func (v *Verifier) check(c *Claims, hasExp bool) error {
	if !hasExp {
		return errNoExp
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return ErrIssuer
	}
	if v.audience != "" && !slices.Contains(c.Audience, v.audience) {
		return ErrAudience
	}
	now := v.now()
	late := now.Add(v.leeway)
	if c.NotBefore != 0 && late.Before(time.Unix(c.NotBefore, 0)) {
		return errNbfFuture
	}
	if c.IssuedAt != 0 && late.Before(time.Unix(c.IssuedAt, 0)) {
		return errIatFuture
	}
	if !now.Before(time.Unix(c.ExpiresAt, 0).Add(v.leeway)) {
		return ErrTokenExpired
	}
	return nil
}

// splitCompact returns the positions of the two dots of a compact JWS and
// checks that there are no others and that the header is not empty. The
// parts themselves are checked when they are decoded: every byte outside
// the base64url alphabet fails decoding, except \r and \n, which
// encoding/base64 skips even in strict mode, so they are refused here.
// Otherwise a token with a line break in its signature would verify.
func splitCompact(tok string) (dot1, dot2 int, err error) {
	if strings.IndexByte(tok, '\n') >= 0 || strings.IndexByte(tok, '\r') >= 0 {
		return 0, 0, errAlphabet
	}
	dot1 = strings.IndexByte(tok, '.')
	if dot1 <= 0 {
		return 0, 0, errParts
	}
	d := strings.IndexByte(tok[dot1+1:], '.')
	if d < 0 {
		return 0, 0, errParts
	}
	dot2 = dot1 + 1 + d
	// An empty signature is let through to be refused later with the
	// error that fits: ErrAlgorithm for alg none, ErrSignatureInvalid
	// otherwise.
	if strings.IndexByte(tok[dot2+1:], '.') >= 0 {
		return 0, 0, errParts
	}
	return dot1, dot2, nil
}

// decodePart decodes the base64url part src into the front of free and
// returns the decoded bytes and the rest of free.
func decodePart(free, src []byte) (part, rest []byte, err error) {
	n, err := b64.Decode(free, src)
	if err != nil {
		return nil, nil, errBase64
	}
	return free[:n], free[n:], nil
}

// bufferSize is the size of the pooled buffers: enough for a token of
// DefaultMaxSize and its decoded parts.
const bufferSize = 2 * DefaultMaxSize

var buffers = sync.Pool{New: func() any {
	b := make([]byte, bufferSize)
	return &b
}}

func getBuffer(n int) *[]byte {
	if n > bufferSize {
		b := make([]byte, n)
		return &b
	}
	return buffers.Get().(*[]byte)
}

func putBuffer(b *[]byte) {
	if len(*b) == bufferSize {
		buffers.Put(b)
	}
}

// The header members parseHeader knows, as bits of a set of those seen.
const (
	headerAlg = 1 << iota
	headerKid
	headerTyp
)

// headerNames are the header members parseHeader acts on.
var headerNames = [][]byte{
	[]byte("alg"), []byte("kid"), []byte("typ"), []byte("jku"), []byte("jwk"),
	[]byte("x5u"), []byte("x5c"), []byte("crit"),
}

// parseHeader reads a protected header and returns its alg and kid. It
// refuses a header that is not a strict JSON object, that has jku, jwk, x5u,
// x5c or crit, whose typ is not JWT or at+jwt, or whose alg is missing or
// not one of the four algorithms, and one without a kid.
func parseHeader(b []byte) (alg, kid []byte, err error) {
	r := jsonReader{b: b, depth: 1}
	if !r.eat('{') {
		return nil, nil, errHeaderJSON
	}
	var (
		seen    int
		unknown memberSet
	)
	if !r.eat('}') {
		for {
			name, ok := r.key()
			if !ok {
				return nil, nil, errHeaderJSON
			}
			var bit int
			switch string(name) {
			case "alg":
				bit = headerAlg
			case "kid":
				bit = headerKid
			case "typ":
				bit = headerTyp
			case "jku", "jwk", "x5u", "x5c":
				return nil, nil, errJKU
			case "crit":
				return nil, nil, errCrit
			}
			if bit == 0 {
				if foldsTo(name, headerNames) {
					return nil, nil, errCaseVariant
				}
				if unknown.add(name) {
					return nil, nil, errDuplicate
				}
				if !r.skip() {
					if r.dup {
						return nil, nil, errDuplicate
					}
					return nil, nil, errHeaderJSON
				}
			} else {
				if seen&bit != 0 {
					return nil, nil, errDuplicate
				}
				seen |= bit
				if r.peek() != '"' {
					if !r.skip() {
						return nil, nil, errHeaderJSON
					}
					switch bit {
					case headerAlg:
						return nil, nil, errAlgUnknown
					case headerTyp:
						return nil, nil, errTyp
					}
					return nil, nil, errHeaderType
				}
				start, end, esc, ok := r.str()
				if !ok {
					return nil, nil, errHeaderJSON
				}
				s := b[start:end]
				if esc {
					s = unescape(s)
				}
				switch bit {
				case headerAlg:
					alg = s
				case headerKid:
					kid = s
				default:
					if !bytes.EqualFold(s, []byte("JWT")) && !bytes.EqualFold(s, []byte("at+jwt")) {
						return nil, nil, errTyp
					}
				}
			}
			if r.eat(',') {
				continue
			}
			if !r.eat('}') {
				return nil, nil, errHeaderJSON
			}
			break
		}
	}
	if !r.end() {
		return nil, nil, errHeaderJSON
	}
	switch {
	case seen&headerAlg == 0:
		return nil, nil, errNoAlg
	case strings.EqualFold(string(alg), "none"):
		return nil, nil, errAlgNone
	case string(alg) != EdDSA && string(alg) != ES256 && string(alg) != RS256 && string(alg) != HS256:
		return nil, nil, errAlgUnknown
	case len(kid) == 0:
		return nil, nil, errNoKid
	}
	return alg, kid, nil
}

// ParseUnverified decodes tok's header and claims WITHOUT verifying its
// signature or any claim. It is for tooling and for showing a user the token
// their browser holds; never use what it returns to authorize anything.
// Numbers are json.Number. It returns an error wrapping ErrTooLarge or
// ErrMalformed when tok is over DefaultMaxSize, is not three canonical
// base64url parts, or its header or payload is not a strict JSON object.
func ParseUnverified(tok string) (header map[string]any, claims map[string]any, err error) {
	if len(tok) > DefaultMaxSize {
		return nil, nil, ErrTooLarge
	}
	dot1, dot2, err := splitCompact(tok)
	if err != nil {
		return nil, nil, err
	}
	if _, err := b64.DecodeString(tok[dot2+1:]); err != nil {
		return nil, nil, errBase64
	}
	header, err = decodeObject(tok[:dot1], errHeaderJSON)
	if err != nil {
		return nil, nil, err
	}
	claims, err = decodeObject(tok[dot1+1:dot2], errPayloadJSON)
	if err != nil {
		return nil, nil, err
	}
	return header, claims, nil
}

// decodeObject decodes one base64url part holding a strict JSON object.
func decodeObject(part string, notObject error) (map[string]any, error) {
	b, err := b64.DecodeString(part)
	if err != nil {
		return nil, errBase64
	}
	if ok, dup := validJSONObject(b); !ok {
		if dup {
			return nil, errDuplicate
		}
		return nil, notObject
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, notObject
	}
	return m, nil
}
