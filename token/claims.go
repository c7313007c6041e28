package token

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/jsonenc"
)

// Claims are the registered claims of RFC 7519 that valet uses, plus its
// own. Times are seconds since the Unix epoch. The JSON form is the one
// encoding/json gives for the struct tags; Sign writes it without reflection.
type Claims struct {
	Issuer    string   `json:"iss,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  Audience `json:"aud,omitempty"`
	ExpiresAt int64    `json:"exp"`
	NotBefore int64    `json:"nbf,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	ID        string   `json:"jti,omitempty"`
	// SessionID binds a hybrid-mode token to its server session.
	SessionID string `json:"sid,omitempty"`
	// DeviceID names the device session of a token-mode login. Unlike sid
	// it is never checked per request: it tells the device's own session
	// apart in lists and is what the token's logout ends.
	DeviceID string   `json:"did,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	Email    string   `json:"email,omitempty"`
	// EmailVerified says that the user proved to own Email.
	EmailVerified bool `json:"email_verified,omitempty"`
	// AMR names the methods the user signed in with (RFC 8176), and
	// AuthTime is when they last did (OpenID Connect Core).
	AMR      []string `json:"amr,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	// Nonce is the nonce of the authentication request an ID token
	// answers; AuthorizedParty (azp) is the client the token was issued
	// to; Scope is the space-separated list of scopes an access token
	// grants (RFC 9068). All three are OpenID Connect's.
	Nonce           string `json:"nonce,omitempty"`
	AuthorizedParty string `json:"azp,omitempty"`
	Scope           string `json:"scope,omitempty"`
	// Events is the events claim of a security event token, such as a
	// back-channel logout token (RFC 8417).
	Events Events `json:"events,omitempty"`
}

// Events is the events claim: a JSON object whose members name event types,
// each with an object as its value. Only the names are kept, in order; the
// value of each is written as {} and its contents are ignored on parsing.
type Events []string

// MarshalJSON returns e as {"name":{},...}. It never fails.
func (e Events) MarshalJSON() ([]byte, error) {
	return appendEvents(nil, e), nil
}

// UnmarshalJSON sets e to the member names of a JSON object whose members
// are all objects; null leaves e unchanged. It returns an error for any
// other JSON value.
func (e *Events) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return because(ErrMalformed, "events is not an object")
	}
	names := Events{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return because(ErrMalformed, "events is not an object")
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil || len(v) == 0 || v[0] != '{' {
			return because(ErrMalformed, "an event is not an object")
		}
		names = append(names, t.(string))
	}
	*e = names
	return nil
}

func appendEvents(dst []byte, e Events) []byte {
	dst = append(dst, '{')
	for i, name := range e {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonenc.AppendString(dst, name)
		dst = append(dst, ':', '{', '}')
	}
	return append(dst, '}')
}

// Audience is the aud claim. It marshals as a string when it has one element
// and as an array otherwise (RFC 7519 allows both); parsing accepts both.
type Audience []string

// MarshalJSON returns a as a JSON string when it has one element and as an
// array otherwise. It never fails.
func (a Audience) MarshalJSON() ([]byte, error) {
	return appendAudience(nil, a), nil
}

// UnmarshalJSON sets a from a JSON string or array of strings; null leaves a
// unchanged. It returns an error for any other JSON value.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return because(ErrMalformed, "aud is neither a string nor an array of strings")
	}
	if list == nil {
		list = []string{}
	}
	*a = list
	return nil
}

func appendAudience(dst []byte, a Audience) []byte {
	if len(a) == 1 {
		return jsonenc.AppendString(dst, a[0])
	}
	return appendJSONStrings(dst, a)
}

// appendClaims appends the JSON of c, byte for byte what json.Marshal gives.
func appendClaims(dst []byte, c *Claims) []byte {
	dst = append(dst, '{')
	first := true
	field := func(name string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
	}
	if c.Issuer != "" {
		field("iss")
		dst = jsonenc.AppendString(dst, c.Issuer)
	}
	if c.Subject != "" {
		field("sub")
		dst = jsonenc.AppendString(dst, c.Subject)
	}
	if len(c.Audience) > 0 {
		field("aud")
		dst = appendAudience(dst, c.Audience)
	}
	field("exp")
	dst = strconv.AppendInt(dst, c.ExpiresAt, 10)
	if c.NotBefore != 0 {
		field("nbf")
		dst = strconv.AppendInt(dst, c.NotBefore, 10)
	}
	if c.IssuedAt != 0 {
		field("iat")
		dst = strconv.AppendInt(dst, c.IssuedAt, 10)
	}
	if c.ID != "" {
		field("jti")
		dst = jsonenc.AppendString(dst, c.ID)
	}
	if c.SessionID != "" {
		field("sid")
		dst = jsonenc.AppendString(dst, c.SessionID)
	}
	if c.DeviceID != "" {
		field("did")
		dst = jsonenc.AppendString(dst, c.DeviceID)
	}
	if len(c.Roles) > 0 {
		field("roles")
		dst = appendJSONStrings(dst, c.Roles)
	}
	if c.Email != "" {
		field("email")
		dst = jsonenc.AppendString(dst, c.Email)
	}
	if c.EmailVerified {
		field("email_verified")
		dst = append(dst, "true"...)
	}
	if len(c.AMR) > 0 {
		field("amr")
		dst = appendJSONStrings(dst, c.AMR)
	}
	if c.AuthTime != 0 {
		field("auth_time")
		dst = strconv.AppendInt(dst, c.AuthTime, 10)
	}
	if c.Nonce != "" {
		field("nonce")
		dst = jsonenc.AppendString(dst, c.Nonce)
	}
	if c.AuthorizedParty != "" {
		field("azp")
		dst = jsonenc.AppendString(dst, c.AuthorizedParty)
	}
	if c.Scope != "" {
		field("scope")
		dst = jsonenc.AppendString(dst, c.Scope)
	}
	if len(c.Events) > 0 {
		field("events")
		dst = appendEvents(dst, c.Events)
	}
	return append(dst, '}')
}

func appendJSONStrings(dst []byte, list []string) []byte {
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonenc.AppendString(dst, s)
	}
	return append(dst, ']')
}

// The claims parseClaims knows, as bits of a set of those seen.
const (
	claimIss = 1 << iota
	claimSub
	claimAud
	claimExp
	claimNbf
	claimIat
	claimJti
	claimSid
	claimDid
	claimRoles
	claimEmail
	claimEmailVerified
	claimAMR
	claimAuthTime
	claimNonce
	claimAzp
	claimScope
	claimEvents
)

// claimNames are the names claimBit knows.
var claimNames = [][]byte{
	[]byte("iss"), []byte("sub"), []byte("aud"), []byte("exp"), []byte("nbf"),
	[]byte("iat"), []byte("jti"), []byte("sid"), []byte("did"), []byte("roles"), []byte("email"),
	[]byte("email_verified"), []byte("amr"), []byte("auth_time"), []byte("nonce"), []byte("azp"),
	[]byte("scope"), []byte("events"),
}

// foldsTo reports whether name equals one of names under Unicode case
// folding. encoding/json matches member names to struct fields that way (so
// "EXP" and "ſub" are exp and sub to it), and a token must not mean
// one thing to this package and another to a consumer built on it.
func foldsTo(name []byte, names [][]byte) bool {
	for _, n := range names {
		if bytes.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// claimBit returns the bit of a known claim name, or 0.
func claimBit(name []byte) int {
	switch string(name) {
	case "iss":
		return claimIss
	case "sub":
		return claimSub
	case "aud":
		return claimAud
	case "exp":
		return claimExp
	case "nbf":
		return claimNbf
	case "iat":
		return claimIat
	case "jti":
		return claimJti
	case "sid":
		return claimSid
	case "did":
		return claimDid
	case "roles":
		return claimRoles
	case "email":
		return claimEmail
	case "email_verified":
		return claimEmailVerified
	case "amr":
		return claimAMR
	case "auth_time":
		return claimAuthTime
	case "nonce":
		return claimNonce
	case "azp":
		return claimAzp
	case "scope":
		return claimScope
	case "events":
		return claimEvents
	}
	return 0
}

// parseClaims decodes the JSON payload b into c, which must be zero. It
// returns whether exp was present. Unknown claims are checked for syntax
// and skipped. A claim of the wrong type, a time claim that is not a whole
// number of seconds, a duplicated member anywhere, or anything after the
// object is refused.
func parseClaims(b []byte, c *Claims) (hasExp bool, err error) {
	r := jsonReader{b: b, depth: 1}
	if !r.eat('{') {
		return false, errPayloadJSON
	}
	var (
		src     string // b as a string, made on first use
		seen    int
		unknown memberSet
		// aud and roles are collected on the stack and copied out with
		// one allocation.
		audBuf, rolesBuf, amrBuf [8]string
		aud, roles, amr          = audBuf[:0], rolesBuf[:0], amrBuf[:0]
	)
	if !r.eat('}') {
		for {
			name, ok := r.key()
			if !ok {
				return false, errPayloadJSON
			}
			bit := claimBit(name)
			if bit == 0 {
				if foldsTo(name, claimNames) {
					return false, errCaseVariant
				}
				if unknown.add(name) {
					return false, errDuplicate
				}
				if !r.skip() {
					if r.dup {
						return false, errDuplicate
					}
					return false, errPayloadJSON
				}
			} else {
				if seen&bit != 0 {
					return false, errDuplicate
				}
				seen |= bit
				switch bit {
				case claimEmailVerified:
					switch r.peek(); {
					case r.lit("true"):
						c.EmailVerified = true
					case r.lit("false"):
					case r.skip():
						return false, errClaimType
					default:
						return false, errPayloadJSON
					}
				case claimExp, claimNbf, claimIat, claimAuthTime:
					v, inRange, ok := r.numericDate()
					if !ok {
						return false, errPayloadJSON
					}
					if !inRange {
						return false, errNumericDate
					}
					switch bit {
					case claimExp:
						c.ExpiresAt = v
					case claimNbf:
						c.NotBefore = v
					case claimAuthTime:
						c.AuthTime = v
					default:
						c.IssuedAt = v
					}
				case claimEvents:
					events, err := r.events()
					if err != nil {
						return false, err
					}
					c.Events = events
				case claimAud, claimRoles, claimAMR:
					list := roles
					switch bit {
					case claimAud:
						list = aud
					case claimAMR:
						list = amr
					}
					list, err := r.stringList(&src, list, bit == claimAud)
					if err != nil {
						return false, err
					}
					switch bit {
					case claimAud:
						aud = list
					case claimAMR:
						amr = list
					default:
						roles = list
					}
				default:
					if r.peek() != '"' {
						if !r.skip() {
							return false, errPayloadJSON
						}
						return false, errClaimType
					}
					s, ok := r.stringValue(&src)
					if !ok {
						return false, errPayloadJSON
					}
					switch bit {
					case claimIss:
						c.Issuer = s
					case claimSub:
						c.Subject = s
					case claimJti:
						c.ID = s
					case claimSid:
						c.SessionID = s
					case claimDid:
						c.DeviceID = s
					case claimNonce:
						c.Nonce = s
					case claimAzp:
						c.AuthorizedParty = s
					case claimScope:
						c.Scope = s
					default:
						c.Email = s
					}
				}
			}
			if r.eat(',') {
				continue
			}
			if !r.eat('}') {
				return false, errPayloadJSON
			}
			break
		}
	}
	if !r.end() {
		return false, errPayloadJSON
	}
	if seen&(claimAud|claimRoles|claimAMR) != 0 {
		all := make([]string, len(aud)+len(roles)+len(amr))
		n := copy(all, aud)
		m := n + copy(all[n:], roles)
		copy(all[m:], amr)
		if seen&claimAud != 0 {
			c.Audience = Audience(all[:n:n])
		}
		if seen&claimRoles != 0 {
			c.Roles = all[n:m:m]
		}
		if seen&claimAMR != 0 {
			c.AMR = all[m:]
		}
	}
	return seen&claimExp != 0, nil
}

// events reads the events claim: an object whose members are objects, of
// which only the names are kept.
func (r *jsonReader) events() (Events, error) {
	if r.peek() != '{' {
		if !r.skip() {
			return nil, errPayloadJSON
		}
		return nil, errClaimType
	}
	r.i++
	r.depth++
	names := Events{}
	var seen memberSet
	if r.eat('}') {
		r.depth--
		return names, nil
	}
	for {
		name, ok := r.key()
		if !ok {
			return nil, errPayloadJSON
		}
		if seen.add(name) {
			return nil, errDuplicate
		}
		if r.peek() != '{' {
			if !r.skip() {
				return nil, errPayloadJSON
			}
			return nil, errClaimType
		}
		if !r.skipObject() {
			if r.dup {
				return nil, errDuplicate
			}
			return nil, errPayloadJSON
		}
		names = append(names, string(name))
		if r.eat(',') {
			continue
		}
		if !r.eat('}') {
			return nil, errPayloadJSON
		}
		r.depth--
		return names, nil
	}
}

// stringList reads an array of strings, or a lone string when one is
// allowed, and appends its elements to list.
func (r *jsonReader) stringList(src *string, list []string, oneAllowed bool) ([]string, error) {
	if oneAllowed && r.peek() == '"' {
		s, ok := r.stringValue(src)
		if !ok {
			return nil, errPayloadJSON
		}
		return append(list, s), nil
	}
	if !r.eat('[') {
		if !r.skip() {
			return nil, errPayloadJSON
		}
		return nil, errClaimType
	}
	if r.eat(']') {
		return list, nil
	}
	for {
		if r.peek() != '"' {
			if !r.skip() {
				return nil, errPayloadJSON
			}
			return nil, errClaimType
		}
		s, ok := r.stringValue(src)
		if !ok {
			return nil, errPayloadJSON
		}
		list = append(list, s)
		if r.eat(',') {
			continue
		}
		if !r.eat(']') {
			return nil, errPayloadJSON
		}
		return list, nil
	}
}

// Identity returns the caller that verified claims stand for: the user's id,
// email and roles, and for a token with a sid the hybrid session it is bound
// to (for a token-mode token with a did, its device session). It does not
// check the sid against a revocation set; callers do.
func (c *Claims) Identity() *valet.Identity {
	id := &valet.Identity{
		User:      valet.User{ID: c.Subject, Email: c.Email, EmailVerified: c.EmailVerified, Roles: c.Roles},
		Mode:      valet.ModeToken,
		ExpiresAt: time.Unix(c.ExpiresAt, 0).UTC(),
		TokenID:   c.ID,
		AMR:       c.AMR,
	}
	if c.AuthTime != 0 {
		id.AuthTime = time.Unix(c.AuthTime, 0).UTC()
	}
	if id.User.Roles == nil {
		id.User.Roles = []string{}
	}
	switch {
	case c.SessionID != "":
		id.Mode, id.SessionID = valet.ModeHybrid, c.SessionID
	case c.DeviceID != "":
		id.SessionID = c.DeviceID
	}
	return id
}
