// Package passkeytest provides a WebAuthn authenticator in software, with
// the browser in front of it, for tests of code that takes passkeys.
//
// A Key answers the options of a ceremony (the JSON of
// PublicKeyCredentialCreationOptions or PublicKeyCredentialRequestOptions,
// under "publicKey") with the JSON that a browser would send back, signed
// with an ECDSA P-256 key and "none" attestation. Edits change an answer
// before it is signed, to play an attacker or a broken authenticator:
//
//	k := passkeytest.New(t, "https://auth.example.com", passkeytest.UV, true)
//	opts, _, state, _ := rp.BeginRegistration(user, true)
//	cred, err := rp.FinishRegistration(user, state, k.Create(t, opts))
//	...
//	opts, _, state, _ = rp.BeginLogin(&user)
//	_, err = rp.FinishLogin(&user, state, k.Get(t, opts, passkeytest.Origin("https://evil.example.com")), nil)
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// Flags are the flags of authenticator data (WebAuthn §6.1).
type Flags byte

// The flags of authenticator data. A Key sets UP in every answer and AT
// in a registration's; the others are the Key's own (New).
const (
	// UP says that the user was present.
	UP Flags = 0x01
	// UV says that the authenticator verified its user (a PIN, a
	// biometric).
	UV Flags = 0x04
	// BE says that the credential is backup eligible: it may be synced to
	// the user's other devices.
	BE Flags = 0x08
	// BS says that the credential is backed up.
	BS Flags = 0x10
	// AT says that attested credential data follows.
	AT Flags = 0x40
)

var b64 = base64.RawURLEncoding

// Key is an authenticator with one credential, and the browser in front of
// it. It is not safe for concurrent use: take its answers first, then
// check them in goroutines.
type Key struct {
	key    *ecdsa.PrivateKey
	id     []byte
	origin string // what its browser writes as the origin
	flags  Flags  // sent in every answer besides UP
	counts bool   // whether its signature counter goes up on each use
	count  uint32
	handle []byte // the user handle, kept for a discoverable credential
}

// New returns a key with a new credential (a random 32-byte id and a new
// P-256 key) whose browser is at origin. Its answers carry flags besides
// UP: UV for a key that verifies its user, BE and BS for a synced passkey.
// With counts, its signature counter goes up by one on each sign-in;
// without, it stays at zero, as synced passkeys do. New fails tb when the
// system's random source does.
func New(tb testing.TB, origin string, flags Flags, counts bool) *Key {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		tb.Fatal(err)
	}
	return &Key{key: key, id: id, origin: origin, flags: flags, counts: counts}
}

// ID returns the id of k's credential, base64url without padding, as the
// answers and passkey.Credential name it.
func (k *Key) ID() string { return b64.EncodeToString(k.id) }

// Count returns the signature counter of k's last answer.
func (k *Key) Count() uint32 { return k.count }

// SetCount sets k's signature counter: the next sign-in sends n+1 when k
// counts, else n. Set back, it makes k look like a clone.
func (k *Key) SetCount(n uint32) { k.count = n }

// Handle returns the user handle that k keeps: the user id of the options
// of its last registration of a discoverable credential, or nil.
func (k *Key) Handle() []byte { return slices.Clone(k.handle) }

// SetHandle sets the user handle that k sends when it signs in, as if it
// had registered a discoverable credential for that user.
func (k *Key) SetHandle(h []byte) { k.handle = slices.Clone(h) }

// Clone returns a copy of k: the same credential, key, counter and user
// handle, with a counter of its own from now on, as a copy of an
// authenticator's secrets would have.
func (k *Key) Clone() *Key {
	c := *k
	c.id, c.handle = slices.Clone(k.id), slices.Clone(k.handle)
	return &c
}

// Answer is what an authenticator and its browser put in an answer, for
// an Edit to change before it is signed.
type Answer struct {
	// Type, Challenge, Origin and CrossOrigin are the client data's.
	Type, Challenge, Origin string
	CrossOrigin             bool
	// RPID is the relying party id whose hash goes in the authenticator
	// data.
	RPID string
	// Flags and Count are the authenticator data's.
	Flags Flags
	Count uint32
	// ID is the credential id the answer names; in a registration, also
	// the one the attested credential data holds.
	ID []byte
	// UserHandle is sent in a sign-in when not nil.
	UserHandle []byte
	// Extensions is the JSON of clientExtensionResults.
	Extensions string
	// TamperSignature flips a bit of a sign-in's signature.
	TamperSignature bool
}

// Edit changes an answer before it is signed.
type Edit func(*Answer)

// Origin makes the browser write v as the origin.
func Origin(v string) Edit { return func(a *Answer) { a.Origin = v } }

// Type makes the client data's type v.
func Type(v string) Edit { return func(a *Answer) { a.Type = v } }

// Challenge makes the client data's challenge v.
func Challenge(v string) Edit { return func(a *Answer) { a.Challenge = v } }

// RPID makes the authenticator sign for relying party id v.
func RPID(v string) Edit { return func(a *Answer) { a.RPID = v } }

// UserHandle makes a sign-in send user handle v, or none when v is nil.
func UserHandle(v []byte) Edit { return func(a *Answer) { a.UserHandle = v } }

// Extensions makes v the JSON of clientExtensionResults.
func Extensions(v string) Edit { return func(a *Answer) { a.Extensions = v } }

// ClearFlags clears flags f of the authenticator data.
func ClearFlags(f Flags) Edit { return func(a *Answer) { a.Flags &^= f } }

// AddFlags sets flags f of the authenticator data.
func AddFlags(f Flags) Edit { return func(a *Answer) { a.Flags |= f } }

// TamperSignature is an Edit that spoils a sign-in's signature.
func TamperSignature(a *Answer) { a.TamperSignature = true }

// CrossOrigin is an Edit that makes the answer come from a frame of
// another site.
func CrossOrigin(a *Answer) { a.CrossOrigin = true }

// options is the part of the options of either ceremony that an
// authenticator reads.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AuthenticatorSelection struct {
			ResidentKey string `json:"residentKey"`
		} `json:"authenticatorSelection"`
	} `json:"publicKey"`
}

func readOptions(tb testing.TB, b []byte) options {
	tb.Helper()
	var o options
	if err := json.Unmarshal(b, &o); err != nil {
		tb.Fatalf("passkeytest: options %s: %v", b, err)
	}
	return o
}

func (a Answer) clientData() []byte {
	b, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{a.Type, a.Challenge, a.Origin, a.CrossOrigin})
	return b
}

func (a Answer) authData(attested []byte) []byte {
	h := sha256.Sum256([]byte(a.RPID))
	d := append(h[:], byte(a.Flags))
	d = binary.BigEndian.AppendUint32(d, a.Count)
	return append(d, attested...)
}

// Create answers the options of a registration (navigator.credentials.create)
// with the JSON of the browser's PublicKeyCredential, edited by edits. A
// registration whose residentKey is not "discouraged" makes k keep the
// user's id as its user handle. Create fails tb when options are not JSON.
func (k *Key) Create(tb testing.TB, options []byte, edits ...Edit) []byte {
	tb.Helper()
	o := readOptions(tb, options).PublicKey
	if o.AuthenticatorSelection.ResidentKey != "discouraged" {
		user, err := b64.DecodeString(o.User.ID)
		if err != nil {
			tb.Fatalf("passkeytest: user.id %q: %v", o.User.ID, err)
		}
		k.handle = user
	}
	a := Answer{
		Type: "webauthn.create", Challenge: o.Challenge, Origin: k.origin, RPID: o.RP.ID,
		Flags: UP | AT | k.flags, Count: k.count, ID: k.id, Extensions: "{}",
	}
	for _, e := range edits {
		e(&a)
	}
	pub, err := k.key.PublicKey.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	if err != nil {
		tb.Fatal(err)
	}
	attested := make([]byte, 16) // a zero AAGUID, as "none" attestation sends
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.ID)))
	attested = append(append(attested, a.ID...), cose...)
	obj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(attested)})
	if err != nil {
		tb.Fatal(err)
	}
	return Marshal(tb, map[string]any{
		"id": b64.EncodeToString(a.ID), "rawId": b64.EncodeToString(a.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData()),
			"attestationObject": b64.EncodeToString(obj),
			"transports":        []string{"hybrid", "internal"},
		},
		"clientExtensionResults":  json.RawMessage(a.Extensions),
		"authenticatorAttachment": "platform",
	})
}

// Get answers the options of a sign-in (navigator.credentials.get) with
// the JSON of the browser's PublicKeyCredential, edited by edits. It
// answers with k's credential whatever the options allow, and sends k's
// user handle when it keeps one. Get fails tb when options are not JSON.
func (k *Key) Get(tb testing.TB, options []byte, edits ...Edit) []byte {
	tb.Helper()
	o := readOptions(tb, options).PublicKey
	if k.counts {
		k.count++
	}
	a := Answer{
		Type: "webauthn.get", Challenge: o.Challenge, Origin: k.origin, RPID: o.RPID,
		Flags: UP | k.flags, Count: k.count, ID: k.id, UserHandle: k.handle, Extensions: "{}",
	}
	for _, e := range edits {
		e(&a)
	}
	cd, ad := a.clientData(), a.authData(nil)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(ad), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	if a.TamperSignature {
		sig[len(sig)-1] ^= 0x01
	}
	resp := map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(ad),
		"signature":         b64.EncodeToString(sig),
	}
	if a.UserHandle != nil {
		resp["userHandle"] = b64.EncodeToString(a.UserHandle)
	}
	return Marshal(tb, map[string]any{
		"id": b64.EncodeToString(a.ID), "rawId": b64.EncodeToString(a.ID), "type": "public-key",
		"response":                resp,
		"clientExtensionResults":  json.RawMessage(a.Extensions),
		"authenticatorAttachment": "platform",
	})
}

// Marshal returns v as JSON, failing tb when it cannot: the bodies the
// tests build around a key's answers.
func Marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
