package passkey_test

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

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP byte = 0x01
	flagUV byte = 0x04
	flagBE byte = 0x08
	flagBS byte = 0x10
	flagAT byte = 0x40
)

var b64 = base64.RawURLEncoding

// softKey is an authenticator in software, together with the browser in
// front of it: it answers the options of a ceremony with the JSON that the
// browser would send, signed with an ECDSA P-256 key and "none"
// attestation.
type softKey struct {
	key    *ecdsa.PrivateKey
	id     []byte
	origin string // what its browser writes as the origin
	flags  byte   // UV, BE, BS: sent in every answer besides UP
	counts bool   // whether its signature counter goes up on each use
	count  uint32
	handle []byte // the user handle, kept for a discoverable credential
}

func newSoftKey(tb testing.TB, origin string, flags byte, counts bool) *softKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		tb.Fatal(err)
	}
	return &softKey{key: key, id: id, origin: origin, flags: flags, counts: counts}
}

// answer is what an authenticator and its browser put in an answer, for
// a test to change before it is signed.
type answer struct {
	Type, Challenge, Origin string
	CrossOrigin             bool
	RPID                    string // whose hash goes in authenticatorData
	Flags                   byte
	Count                   uint32
	ID                      []byte // the credential id the answer names
	UserHandle              []byte
	Extensions              string // clientExtensionResults
	TamperSignature         bool
}

// edit changes an answer before it is signed.
type edit func(*answer)

// keyOptions is the part of the options of either ceremony that an
// authenticator reads.
type keyOptions struct {
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

func readKeyOptions(tb testing.TB, b []byte) keyOptions {
	tb.Helper()
	var o keyOptions
	if err := json.Unmarshal(b, &o); err != nil {
		tb.Fatalf("options %s: %v", b, err)
	}
	return o
}

func (a answer) clientData() []byte {
	b, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{a.Type, a.Challenge, a.Origin, a.CrossOrigin})
	return b
}

func (a answer) authData(attested []byte) []byte {
	h := sha256.Sum256([]byte(a.RPID))
	d := append(h[:], a.Flags)
	d = binary.BigEndian.AppendUint32(d, a.Count)
	return append(d, attested...)
}

// create answers the options of a registration.
func (k *softKey) create(tb testing.TB, opts []byte, edits ...edit) []byte {
	tb.Helper()
	o := readKeyOptions(tb, opts).PublicKey
	if o.AuthenticatorSelection.ResidentKey != "discouraged" {
		user, err := b64.DecodeString(o.User.ID)
		if err != nil {
			tb.Fatal(err)
		}
		k.handle = user
	}
	a := answer{
		Type: "webauthn.create", Challenge: o.Challenge, Origin: k.origin, RPID: o.RP.ID,
		Flags: flagUP | flagAT | k.flags, Count: k.count, ID: k.id, Extensions: "{}",
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
	return marshal(tb, map[string]any{
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

// get answers the options of a sign-in.
func (k *softKey) get(tb testing.TB, opts []byte, edits ...edit) []byte {
	tb.Helper()
	o := readKeyOptions(tb, opts).PublicKey
	if k.counts {
		k.count++
	}
	a := answer{
		Type: "webauthn.get", Challenge: o.Challenge, Origin: k.origin, RPID: o.RPID,
		Flags: flagUP | k.flags, Count: k.count, ID: k.id, UserHandle: k.handle, Extensions: "{}",
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
	return marshal(tb, map[string]any{
		"id": b64.EncodeToString(a.ID), "rawId": b64.EncodeToString(a.ID), "type": "public-key",
		"response":                resp,
		"clientExtensionResults":  json.RawMessage(a.Extensions),
		"authenticatorAttachment": "platform",
	})
}

func marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
