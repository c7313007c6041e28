package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/token"
)

// ReservedClientID is the audience of valet's own access tokens. No client
// may have it as its id: an access token the provider issued to such a
// client would carry aud "valet", and a verifier of valet's own tokens that
// trusted the provider's issuer could take it for one of those. Provider
// refuses a stored client with this id as if it did not exist.
const ReservedClientID = "valet"

// ClientSpec is what an administrator chooses of a new client; the id and
// the secret are made by NewClient.
type ClientSpec struct {
	Name string `json:"name"`
	// RedirectURIs are absolute https URLs, or http ones on localhost or
	// a loopback address, without a fragment. At least one is required.
	RedirectURIs []string `json:"redirect_uris"`
	// Public makes a client without a secret, which must use PKCE.
	Public bool `json:"public"`
	// SkipConsent is for first-party apps: no consent page.
	SkipConsent bool `json:"skip_consent"`
	// BackchannelLogoutURI follows the rules of RedirectURIs; empty for
	// none.
	BackchannelLogoutURI string `json:"backchannel_logout_uri"`
	// PostLogoutRedirectURIs follow the rules of RedirectURIs.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	// Scopes are those the client may ask for; openid is always among
	// them. The default is openid, email, profile and roles.
	Scopes []string `json:"scopes"`
	// IDTokenAlg is the algorithm of the client's ID and logout tokens:
	// IDTokenAlgs names those a client may ask for. Empty for valet's
	// signing key (EdDSA by default).
	IDTokenAlg string `json:"id_token_signed_response_alg"`
}

// IDTokenAlgs are the algorithms a client may want its ID tokens signed
// with (ClientSpec.IDTokenAlg): many applications check only RS256. A
// server keeps a key of each (auth.Config.IDTokenAlgs).
var IDTokenAlgs = []string{token.EdDSA, token.RS256}

// NewClient checks spec and stores a client made of it, with a random id
// and, unless spec.Public, a random secret (32 bytes, base64url), which is
// returned and kept only as its valet.HashSecret. A spec that breaks a rule
// is refused with an error wrapping valet.ErrInvalidRequest whose message
// names the field; a store failure is returned as it is.
func NewClient(ctx context.Context, store valet.ClientStore, spec ClientSpec, now time.Time) (c valet.Client, secret string, err error) {
	c, err = checkSpec(spec)
	if err != nil {
		return valet.Client{}, "", err
	}
	c.ID = valet.NewID()
	if c.ID == ReservedClientID {
		// Not possible with 32 random bytes; kept so that a change of the
		// id's form cannot make it so.
		return valet.Client{}, "", valet.Errorf(valet.ErrInvalidRequest, "The client id %q is reserved.", ReservedClientID)
	}
	if !spec.Public {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		secret = base64.RawURLEncoding.EncodeToString(b)
		c.SecretHash = valet.HashSecret(secret)
	}
	c.CreatedAt = now.UTC()
	if err := store.CreateClient(ctx, c); err != nil {
		return valet.Client{}, "", err
	}
	return c, secret, nil
}

// Limits on a client's settings.
const (
	maxClientName = 200
	maxClientURIs = 20
)

func checkSpec(spec ClientSpec) (valet.Client, error) {
	name := strings.TrimSpace(spec.Name)
	if name == "" || len(name) > maxClientName || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return valet.Client{}, valet.Errorf(valet.ErrInvalidRequest, "name: give the client a name of 1 to %d characters, on one line.", maxClientName)
	}
	if len(spec.RedirectURIs) == 0 {
		return valet.Client{}, valet.Errorf(valet.ErrInvalidRequest, "redirect_uris: give at least one redirect URI.")
	}
	if len(spec.RedirectURIs) > maxClientURIs || len(spec.PostLogoutRedirectURIs) > maxClientURIs {
		return valet.Client{}, valet.Errorf(valet.ErrInvalidRequest, "redirect_uris: at most %d of each kind.", maxClientURIs)
	}
	for _, u := range spec.RedirectURIs {
		if err := CheckRedirectURI(u); err != nil {
			return valet.Client{}, valet.Errorf(valet.ErrInvalidRequest, "redirect_uris: %s", valet.Message(err))
		}
	}
	for _, u := range spec.PostLogoutRedirectURIs {
		if err := CheckRedirectURI(u); err != nil {
			return valet.Client{}, valet.Errorf(valet.ErrInvalidRequest, "post_logout_redirect_uris: %s", valet.Message(err))
		}
	}
	if spec.BackchannelLogoutURI != "" {
		if err := CheckRedirectURI(spec.BackchannelLogoutURI); err != nil {
			return valet.Client{}, valet.Errorf(valet.ErrInvalidRequest, "backchannel_logout_uri: %s", valet.Message(err))
		}
	}
	if spec.IDTokenAlg != "" && !slices.Contains(IDTokenAlgs, spec.IDTokenAlg) {
		return valet.Client{}, valet.Errorf(valet.ErrInvalidRequest, "id_token_signed_response_alg: %q is not one of %s.", spec.IDTokenAlg, strings.Join(IDTokenAlgs, ", "))
	}
	scopes := []string{ScopeOpenID}
	ask := spec.Scopes
	if len(ask) == 0 {
		ask = []string{ScopeEmail, ScopeProfile, ScopeRoles}
	}
	for _, s := range ask {
		if !slices.Contains(knownScopes, s) {
			return valet.Client{}, valet.Errorf(valet.ErrInvalidRequest, "scopes: %q is not one of %s.", s, strings.Join(knownScopes, ", "))
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return valet.Client{
		Name:                   name,
		RedirectURIs:           slices.Clone(spec.RedirectURIs),
		PostLogoutRedirectURIs: slices.Clone(spec.PostLogoutRedirectURIs),
		BackchannelLogoutURI:   spec.BackchannelLogoutURI,
		Scopes:                 scopes,
		SkipConsent:            spec.SkipConsent,
		IDTokenAlg:             spec.IDTokenAlg,
	}, nil
}

// CheckRedirectURI reports whether s may be a client's redirect URI: an
// absolute https URL, or an http one to localhost or a loopback address,
// with no fragment and no user info. The error wraps
// valet.ErrInvalidRequest.
func CheckRedirectURI(s string) error {
	if s == "" || len(s) > maxParamLen || strings.ContainsFunc(s, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return valet.Errorf(valet.ErrInvalidRequest, "%q is empty, too long or has spaces or control characters.", s)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return valet.Errorf(valet.ErrInvalidRequest, "%q is not an absolute URL.", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return valet.Errorf(valet.ErrInvalidRequest, "%q has a fragment.", s)
	}
	if u.User != nil {
		return valet.Errorf(valet.ErrInvalidRequest, "%q has user info.", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if h == "localhost" {
			return nil
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return nil
		}
		return valet.Errorf(valet.ErrInvalidRequest, "%q: http is only for localhost and 127.0.0.1; use https.", s)
	}
	return valet.Errorf(valet.ErrInvalidRequest, "%q: want https (or http on localhost).", s)
}
