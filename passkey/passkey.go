// Package passkey is valet's WebAuthn relying party, on go-webauthn: the
// registration of passkeys and security keys, and sign-in with one, as a
// second factor or alone (a discoverable credential, which the browser also
// offers in the autofill of a username field).
//
// It speaks JSON in and out and keeps nothing: the caller stores the
// credentials it returns, and the state between the two steps of a
// ceremony, which it finds again with the challenge of the answer
// (Challenge).
package passkey

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// DefaultTimeout is how long a ceremony waits for the authenticator when
// Config.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

const (
	// maxResponse bounds a browser's answer. An answer with an attestation
	// certificate chain is a few kilobytes.
	maxResponse = 64 << 10
	// maxState bounds the state of a ceremony, which lists the user's
	// credentials.
	maxState = 1 << 20
	// maxUserHandle is the bound WebAuthn sets on a user handle.
	maxUserHandle = 64
)

// Errors. Every refusal of input wraps ErrInvalid with a short reason, which
// is for logs, not for people.
var (
	// ErrInvalid is an answer that is malformed or fails a check: the
	// ceremony's state, its challenge, the origin, the relying party, the
	// signature, the user's presence, or a credential that is unknown or
	// not the user's.
	ErrInvalid = errors.New("passkey: invalid")
	// ErrCloned is a sign-in whose signature counter is not past the
	// stored one while either is non-zero: a copy of the credential's key
	// may be in use somewhere else.
	ErrCloned = errors.New("passkey: signature counter did not advance; the authenticator may be cloned")
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Config configures a relying party.
type Config struct {
	// RPID is the relying party id: the host of the public URL, or the
	// cookie domain when there is one (a registrable suffix of the public
	// host, so that a passkey serves every host under it). Required.
	RPID string
	// RPName is the name that authenticators show. Default "valet".
	RPName string
	// Origins are the exact origins (scheme://host[:port]) that answers may
	// come from; each host is RPID or under it, and uses https unless it
	// is localhost. At least one.
	Origins []string
	// Timeout is how long a ceremony waits for its answer. Default
	// DefaultTimeout.
	Timeout time.Duration
	// Now is the clock that ceremonies expire by. Default time.Now.
	Now func() time.Time
}

// RP is a WebAuthn relying party. It is safe for concurrent use.
type RP struct {
	w       *webauthn.WebAuthn
	id      string
	idHash  [32]byte
	origins []string
	timeout time.Duration
	now     func() time.Time
}

// New checks cfg and returns its relying party, or an error that names
// the setting at fault.
func New(cfg Config) (*RP, error) {
	// A cookie domain may be written with a leading dot; the id has none.
	id := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(cfg.RPID)), ".")
	if id == "" {
		return nil, errors.New("passkey: no relying party id")
	}
	if net.ParseIP(strings.Trim(id, "[]")) != nil {
		return nil, fmt.Errorf("passkey: relying party id %q is an IP address; browsers take only a host name", cfg.RPID)
	}
	if err := protocol.ValidateRPID(id); err != nil {
		return nil, fmt.Errorf("passkey: relying party id %q: %w", cfg.RPID, err)
	}
	if len(cfg.Origins) == 0 {
		return nil, errors.New("passkey: no origin")
	}
	origins := make([]string, 0, len(cfg.Origins))
	for _, o := range cfg.Origins {
		c, err := canonicalOrigin(o, id)
		if err != nil {
			return nil, err
		}
		origins = append(origins, c)
	}
	if cfg.RPName == "" {
		cfg.RPName = "valet"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	timeout := webauthn.TimeoutConfig{Timeout: cfg.Timeout, TimeoutUVD: cfg.Timeout}
	w, err := webauthn.New(&webauthn.Config{
		RPID:                  id,
		RPDisplayName:         cfg.RPName,
		RPOrigins:             origins,
		AttestationPreference: protocol.PreferNoAttestation,
		// The library would expire a ceremony by the wall clock; the
		// state carries its own expiry, read with cfg.Now.
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &RP{
		w: w, id: id, idHash: sha256.Sum256([]byte(id)), origins: origins,
		timeout: cfg.Timeout, now: cfg.Now,
	}, nil
}

// canonicalOrigin returns origin o as a browser writes it in clientDataJSON
// (lower case, no default port), checking that its host is rpID or under it.
func canonicalOrigin(o, rpID string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("passkey: origin %q %s", o, why)
	}
	u, err := url.Parse(o)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return "", bad("is not scheme://host[:port]")
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", bad("has more than scheme://host[:port]")
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if scheme != "https" && scheme != "http" {
		return "", bad("is neither https nor http")
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "", bad(fmt.Sprintf("is not on the relying party id %q or under it", rpID))
	}
	// Browsers offer WebAuthn to secure contexts only: https, or
	// http on localhost.
	if scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
		return "", bad("must use https (browsers allow http on localhost only)")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", bad("has a bad port")
		}
		if scheme == "https" && n == 443 || scheme == "http" && n == 80 {
			port = ""
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", bad("has an empty port")
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// User is the account a ceremony is for.
type User struct {
	// ID is the user handle that authenticators keep with a credential:
	// the account's id, 1 to 64 bytes.
	ID string
	// Name is the account's name as people know it (its email).
	Name string
	// DisplayName is shown beside Name. Default Name.
	DisplayName string
	// Credentials are the user's stored credentials (Credential.Data).
	Credentials [][]byte
}

// webUser adapts a User with its decoded credentials to go-webauthn.
type webUser struct {
	u     User
	creds []webauthn.Credential
}

func (w *webUser) WebAuthnID() []byte   { return []byte(w.u.ID) }
func (w *webUser) WebAuthnName() string { return w.u.Name }
func (w *webUser) WebAuthnDisplayName() string {
	if w.u.DisplayName == "" {
		return w.u.Name
	}
	return w.u.DisplayName
}
func (w *webUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// adapt decodes the credentials of u. A stored credential that does not
// decode is the store's failure, not the browser's: it is no ErrInvalid.
func adapt(u User) (*webUser, error) {
	if u.ID == "" || len(u.ID) > maxUserHandle {
		return nil, fmt.Errorf("passkey: a user handle of %d bytes (1 to %d)", len(u.ID), maxUserHandle)
	}
	w := &webUser{u: u, creds: make([]webauthn.Credential, 0, len(u.Credentials))}
	for _, b := range u.Credentials {
		c, err := decode(b)
		if err != nil {
			return nil, err
		}
		w.creds = append(w.creds, c)
	}
	return w, nil
}

// Credential is a registered credential.
type Credential struct {
	// ID is the credential id, base64url without padding.
	ID string
	// Data is what to store: the whole credential record, for Decode and
	// for User.Credentials. Its content is not part of the API.
	Data []byte
	// BackupEligible reports a credential that may be synced to other
	// devices; BackupState, one that is.
	BackupEligible, BackupState bool
	// UserVerified reports that the authenticator has verified its user
	// (PIN, biometric) for this credential.
	UserVerified bool
	// SignCount is the authenticator's signature counter, zero for one
	// that does not count.
	SignCount uint32
	// AAGUID names the authenticator's model, in UUID form; all zeros when
	// it does not say.
	AAGUID string
	// Transports are the authenticator's transports as the browser named
	// them ("internal", "hybrid", "usb", ...).
	Transports []string
}

// Synced reports whether the credential may live on more than one device
// (a software key, "swk" in the amr claim) rather than being bound to its
// authenticator (a hardware key, "hwk").
func (c Credential) Synced() bool { return c.BackupEligible }

func decode(data []byte) (webauthn.Credential, error) {
	var c webauthn.Credential
	if err := json.Unmarshal(data, &c); err != nil {
		return webauthn.Credential{}, fmt.Errorf("passkey: stored credential: %w", err)
	}
	if len(c.ID) == 0 || len(c.PublicKey) == 0 {
		return webauthn.Credential{}, errors.New("passkey: stored credential without id or key")
	}
	return c, nil
}

// Decode reads a stored credential (Credential.Data). It returns an error
// for data that is not one.
func Decode(data []byte) (Credential, error) {
	c, err := decode(data)
	if err != nil {
		return Credential{}, err
	}
	return fromWeb(&c)
}

func fromWeb(c *webauthn.Credential) (Credential, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return Credential{}, fmt.Errorf("passkey: %w", err)
	}
	out := Credential{
		ID:             base64.RawURLEncoding.EncodeToString(c.ID),
		Data:           data,
		BackupEligible: c.Flags.BackupEligible,
		BackupState:    c.Flags.BackupState,
		UserVerified:   c.Flags.UserVerified,
		SignCount:      c.Authenticator.SignCount,
		AAGUID:         formatAAGUID(c.Authenticator.AAGUID),
	}
	for _, t := range c.Transport {
		out.Transports = append(out.Transports, string(t))
	}
	return out, nil
}

func formatAAGUID(b []byte) string {
	if len(b) != 16 {
		b = make([]byte, 16)
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ceremonyState is what a ceremony keeps between its two steps.
type ceremonyState struct {
	Ceremony protocol.CeremonyType `json:"ceremony"`
	Expires  time.Time             `json:"expires"`
	Session  webauthn.SessionData  `json:"session"`
}

func (rp *RP) begun(ceremony protocol.CeremonyType, options any, sd *webauthn.SessionData) ([]byte, string, []byte, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, "", nil, fmt.Errorf("passkey: %w", err)
	}
	st, err := json.Marshal(ceremonyState{Ceremony: ceremony, Expires: rp.now().Add(rp.timeout), Session: *sd})
	if err != nil {
		return nil, "", nil, fmt.Errorf("passkey: %w", err)
	}
	return opts, sd.Challenge, st, nil
}

// readState reads the state of a ceremony of the given kind and checks
// that it is still open.
func (rp *RP) readState(b []byte, ceremony protocol.CeremonyType) (webauthn.SessionData, error) {
	var st ceremonyState
	if len(b) == 0 || len(b) > maxState || json.Unmarshal(b, &st) != nil || st.Session.Challenge == "" {
		return webauthn.SessionData{}, invalid("ceremony state unreadable")
	}
	if st.Ceremony != ceremony {
		return webauthn.SessionData{}, invalid("state of a %q ceremony, not %q", st.Ceremony, ceremony)
	}
	if st.Session.RelyingPartyID != rp.id || st.Session.Origin != "" {
		return webauthn.SessionData{}, invalid("state of another relying party")
	}
	if !rp.now().Before(st.Expires) {
		return webauthn.SessionData{}, invalid("ceremony expired")
	}
	return st.Session, nil
}

// BeginRegistration starts the registration of a credential for u. It
// returns the options for navigator.credentials.create ({"publicKey":
// {...}}, binary values in base64url), the ceremony's challenge
// (base64url), and the state that FinishRegistration needs.
//
// The user's credentials are excluded, no attestation is asked for, user
// verification is preferred, and so is a discoverable credential when
// discoverable is true (discouraged otherwise). It fails on a user handle
// that is empty or longer than 64 bytes, or a stored credential that does
// not decode.
func (rp *RP) BeginRegistration(u User, discoverable bool) (options []byte, challenge string, state []byte, err error) {
	wu, err := adapt(u)
	if err != nil {
		return nil, "", nil, err
	}
	rk := protocol.ResidentKeyRequirementDiscouraged
	if discoverable {
		rk = protocol.ResidentKeyRequirementPreferred
	}
	creation, sd, err := rp.w.BeginRegistration(wu,
		webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:        rk,
			RequireResidentKey: protocol.ResidentKeyNotRequired(),
			UserVerification:   protocol.VerificationPreferred,
		}),
		// Asked for so that a browser that reports it anyway is not
		// refused for an output nobody requested.
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return nil, "", nil, fmt.Errorf("passkey: %w", err)
	}
	return rp.begun(protocol.CreateCeremony, creation, sd)
}

// FinishRegistration checks the browser's answer to BeginRegistration for
// u (its PublicKeyCredential in the WebAuthn JSON form) against state, and
// returns the new credential. The checks are the client data's type,
// challenge and origin (exactly one of Config.Origins), the relying party
// id's hash, the user's presence, the backup flags, and the attestation
// statement when there is one. A refusal wraps ErrInvalid; other errors
// are the caller's (a bad user or stored credential).
func (rp *RP) FinishRegistration(u User, state, response []byte) (Credential, error) {
	if err := sized(response); err != nil {
		return Credential{}, err
	}
	wu, err := adapt(u)
	if err != nil {
		return Credential{}, err
	}
	sd, err := rp.readState(state, protocol.CreateCeremony)
	if err != nil {
		return Credential{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Credential{}, invalid("registration: %s", reason(err))
	}
	ad := parsed.Response.AttestationObject.AuthData
	if err := rp.check(sd, protocol.CreateCeremony, parsed.Response.CollectedClientData, ad); err != nil {
		return Credential{}, err
	}
	c, err := rp.w.CreateCredential(wu, sd, parsed)
	if err != nil {
		return Credential{}, invalid("registration: %s", reason(err))
	}
	return fromWeb(c)
}

// check does the checks of an answer that carry the most weight, with
// reasons of its own; go-webauthn does them again, with the rest.
func (rp *RP) check(sd webauthn.SessionData, ceremony protocol.CeremonyType, cd protocol.CollectedClientData, ad protocol.AuthenticatorData) error {
	if cd.Type != ceremony {
		return invalid("client data of type %q, not %q", cd.Type, ceremony)
	}
	if subtle.ConstantTimeCompare([]byte(cd.Challenge), []byte(sd.Challenge)) != 1 {
		return invalid("challenge of another ceremony")
	}
	// The library compares origins loosely (any path, any case); a
	// browser writes the origin exactly, so nothing else is taken.
	if !slices.Contains(rp.origins, cd.Origin) {
		return invalid("origin %q not allowed", cd.Origin)
	}
	if cd.CrossOrigin || cd.TopOrigin != "" {
		return invalid("answer from a frame of another site")
	}
	if subtle.ConstantTimeCompare(ad.RPIDHash, rp.idHash[:]) != 1 {
		return invalid("credential of another relying party")
	}
	if !ad.Flags.HasUserPresent() {
		return invalid("user presence not asserted")
	}
	return nil
}

// BeginLogin starts a sign-in. With u, the credential must be one of u's
// (a second factor; allowCredentials lists them); with u nil, any
// discoverable credential for the relying party may answer (a sign-in with
// a passkey alone, also in the browser's autofill). User verification is
// preferred. It returns the options for navigator.credentials.get
// ({"publicKey": {...}}), the challenge (base64url) and the state that
// FinishLogin needs; it fails for a u without credentials.
func (rp *RP) BeginLogin(u *User) (options []byte, challenge string, state []byte, err error) {
	uv := webauthn.WithUserVerification(protocol.VerificationPreferred)
	if u == nil {
		assertion, sd, err := rp.w.BeginDiscoverableLogin(uv)
		if err != nil {
			return nil, "", nil, fmt.Errorf("passkey: %w", err)
		}
		return rp.begun(protocol.AssertCeremony, assertion, sd)
	}
	wu, err := adapt(*u)
	if err != nil {
		return nil, "", nil, err
	}
	if len(wu.creds) == 0 {
		return nil, "", nil, errors.New("passkey: the user has no credential")
	}
	assertion, sd, err := rp.w.BeginLogin(wu, uv)
	if err != nil {
		return nil, "", nil, fmt.Errorf("passkey: %w", err)
	}
	return rp.begun(protocol.AssertCeremony, assertion, sd)
}

// LoginResult is a sign-in that FinishLogin accepted.
type LoginResult struct {
	// UserID is the user handle of the credential's account.
	UserID string
	// Credential is the credential with its new signature counter and
	// flags, to store back in place of the old one.
	Credential Credential
	// UserVerified reports that the authenticator verified its user (PIN,
	// biometric) in this sign-in.
	UserVerified bool
}

// FinishLogin checks the browser's answer to BeginLogin against state.
//
// For a second factor, u is the user the ceremony began with and the
// credential must be one of theirs. For a discoverable sign-in, u is nil
// and lookup finds the account from the user handle of the answer (the
// account's id) and the credential id (base64url): it returns the user
// with their credentials, or an error that wraps ErrInvalid when there is
// no such credential or it is not that user's. Any other error of lookup
// is returned as it is.
//
// The checks are the signature, the client data's type, challenge and
// origin (exactly one of Config.Origins), the relying party id's hash, the
// user's presence, the backup flags (eligibility may not change) and the
// signature counter: one that does not go up, while the stored or new
// value is not zero, is ErrCloned. Any other refusal wraps ErrInvalid.
func (rp *RP) FinishLogin(u *User, state, response []byte, lookup func(userHandle, credentialID string) (User, error)) (LoginResult, error) {
	if err := sized(response); err != nil {
		return LoginResult{}, err
	}
	sd, err := rp.readState(state, protocol.AssertCeremony)
	if err != nil {
		return LoginResult{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return LoginResult{}, invalid("sign-in: %s", reason(err))
	}
	if err := rp.check(sd, protocol.AssertCeremony, parsed.Response.CollectedClientData, parsed.Response.AuthenticatorData); err != nil {
		return LoginResult{}, err
	}
	var (
		c      *webauthn.Credential
		handle string
	)
	if u != nil {
		if len(sd.UserID) == 0 || !bytes.Equal(sd.UserID, []byte(u.ID)) {
			return LoginResult{}, invalid("ceremony of another user")
		}
		wu, err := adapt(*u)
		if err != nil {
			return LoginResult{}, err
		}
		if c, err = rp.w.ValidateLogin(wu, sd, parsed); err != nil {
			return LoginResult{}, invalid("sign-in: %s", reason(err))
		}
		handle = u.ID
	} else {
		if len(sd.UserID) != 0 {
			return LoginResult{}, invalid("not a discoverable ceremony")
		}
		if lookup == nil {
			return LoginResult{}, errors.New("passkey: a discoverable sign-in needs a lookup")
		}
		// failed keeps an error that is not the answer's fault, which the
		// library would otherwise fold into its own.
		var failed error
		user, cred, err := rp.w.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			found, err := lookup(string(userHandle), base64.RawURLEncoding.EncodeToString(rawID))
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					failed = err
				}
				return nil, err
			}
			if found.ID != string(userHandle) {
				return nil, invalid("credential of another user")
			}
			wu, err := adapt(found)
			if err != nil {
				failed = err
				return nil, err
			}
			return wu, nil
		}, sd, parsed)
		if failed != nil {
			return LoginResult{}, failed
		}
		if err != nil {
			return LoginResult{}, invalid("sign-in: %s", reason(err))
		}
		c, handle = cred, string(user.WebAuthnID())
	}
	if c.Authenticator.CloneWarning {
		return LoginResult{}, fmt.Errorf("%w (stored %d, answer %d)", ErrCloned, c.Authenticator.SignCount, parsed.Response.AuthenticatorData.Counter)
	}
	out, err := fromWeb(c)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{
		UserID:       handle,
		Credential:   out,
		UserVerified: parsed.Response.AuthenticatorData.Flags.HasUserVerified(),
	}, nil
}

func sized(response []byte) error {
	if len(response) == 0 || len(response) > maxResponse {
		return invalid("answer of %d bytes (1 to %d)", len(response), maxResponse)
	}
	return nil
}

// reason is a library error's own words, short, for logs.
func reason(err error) string {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return err.Error()
	}
	r := pe.Details
	if info, _, _ := strings.Cut(pe.DevInfo, "\n"); info != "" {
		r += " (" + info + ")"
	}
	if len(r) > 200 {
		r = r[:200] + "..."
	}
	return r
}

// Challenge returns the challenge (base64url, as BeginRegistration and
// BeginLogin returned it) of a browser's answer, read from its
// clientDataJSON, so that the caller can find the ceremony's state. It
// checks the answer's size and form only, and returns an error that wraps
// ErrInvalid for one that is too big, not JSON, or without a challenge.
func Challenge(response []byte) (string, error) {
	if err := sized(response); err != nil {
		return "", err
	}
	var r struct {
		Response struct {
			ClientDataJSON string `json:"clientDataJSON"`
		} `json:"response"`
	}
	if err := json.Unmarshal(response, &r); err != nil {
		return "", invalid("answer is not a credential's JSON")
	}
	// Browsers write base64url without padding; go-webauthn takes padding
	// too, and so does this, so that both read the same bytes.
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(r.Response.ClientDataJSON, "="))
	if err != nil || len(raw) == 0 {
		return "", invalid("clientDataJSON is not base64url")
	}
	var cd struct {
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(raw, &cd); err != nil {
		return "", invalid("clientDataJSON is not JSON")
	}
	// The challenge is compared as written, so only the form the browser
	// must use (base64url, no padding) can match a ceremony.
	b, err := base64.RawURLEncoding.Strict().DecodeString(cd.Challenge)
	if err != nil || len(b) < protocol.MinimumChallengeLength || len(b) > 64 || base64.RawURLEncoding.EncodeToString(b) != cd.Challenge {
		return "", invalid("challenge malformed")
	}
	return cd.Challenge, nil
}
