package passkey_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/passkey"
	"github.com/valetauth/valet/passkey/passkeytest"
)

const (
	rpID   = "example.com"
	origin = "https://auth.example.com"
)

var b64 = base64.RawURLEncoding

// clock is a settable time for Config.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newRP(tb testing.TB, c *clock) *passkey.RP {
	tb.Helper()
	rp, err := passkey.New(passkey.Config{RPID: rpID, Origins: []string{origin}, Now: c.now})
	if err != nil {
		tb.Fatal(err)
	}
	return rp
}

// directory finds the owner of a credential, as a lookup of FinishLogin.
type directory map[string]*passkey.User

func (d directory) lookup(handle, credentialID string) (passkey.User, error) {
	u, ok := d[credentialID]
	if !ok || u.ID != handle {
		return passkey.User{}, fmt.Errorf("no credential %s of %q: %w", credentialID, handle, passkey.ErrInvalid)
	}
	return *u, nil
}

// register registers key k for u and keeps the credential in u and d.
func register(tb testing.TB, rp *passkey.RP, k *passkeytest.Key, u *passkey.User, discoverable bool, d directory) passkey.Credential {
	tb.Helper()
	opts, _, state, err := rp.BeginRegistration(*u, discoverable)
	if err != nil {
		tb.Fatal(err)
	}
	cred, err := rp.FinishRegistration(*u, state, k.Create(tb, opts))
	if err != nil {
		tb.Fatal(err)
	}
	u.Credentials = append(u.Credentials, cred.Data)
	if d != nil {
		d[cred.ID] = u
	}
	return cred
}

// store replaces the credential of a sign-in in u, as the caller does.
func store(tb testing.TB, u *passkey.User, c passkey.Credential) {
	tb.Helper()
	for i, b := range u.Credentials {
		old, err := passkey.Decode(b)
		if err != nil {
			tb.Fatal(err)
		}
		if old.ID == c.ID {
			u.Credentials[i] = c.Data
			return
		}
	}
	tb.Fatalf("no credential %s to store back", c.ID)
}

// second signs u in with key k as a second factor.
func second(tb testing.TB, rp *passkey.RP, k *passkeytest.Key, u *passkey.User, edits ...passkeytest.Edit) (passkey.LoginResult, error) {
	tb.Helper()
	opts, _, state, err := rp.BeginLogin(u)
	if err != nil {
		tb.Fatal(err)
	}
	return rp.FinishLogin(u, state, k.Get(tb, opts, edits...), nil)
}

// alone signs in with key k without naming a user.
func alone(tb testing.TB, rp *passkey.RP, k *passkeytest.Key, d directory, edits ...passkeytest.Edit) (passkey.LoginResult, error) {
	tb.Helper()
	opts, _, state, err := rp.BeginLogin(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return rp.FinishLogin(nil, state, k.Get(tb, opts, edits...), d.lookup)
}

func TestSecondFactor(t *testing.T) {
	rp := newRP(t, &clock{time.Now()})
	alice := &passkey.User{ID: "u_alice", Name: "alice@example.com"}
	k := passkeytest.New(t, origin, passkeytest.UV, true)
	cred := register(t, rp, k, alice, false, nil)
	if cred.Synced() || cred.BackupState || !cred.UserVerified || cred.SignCount != 0 {
		t.Errorf("registered %+v, want a hardware key with UV and count 0", cred)
	}
	for want := uint32(1); want <= 3; want++ {
		res, err := second(t, rp, k, alice)
		if err != nil {
			t.Fatalf("sign-in %d: %v", want, err)
		}
		if res.UserID != alice.ID || res.Credential.ID != cred.ID || !res.UserVerified {
			t.Errorf("sign-in %d = %+v, want %s with UV", want, res, alice.ID)
		}
		if got := res.Credential.SignCount; got != want {
			t.Errorf("sign-in %d: SignCount = %d, want %d", want, got, want)
		}
		if got, err := passkey.Decode(res.Credential.Data); err != nil || got.SignCount != want {
			t.Errorf("sign-in %d: stored SignCount = %d, %v; want %d", want, got.SignCount, err, want)
		}
		store(t, alice, res.Credential)
	}
}

func TestDiscoverable(t *testing.T) {
	rp := newRP(t, &clock{time.Now()})
	d := directory{}
	alice := &passkey.User{ID: "u_alice", Name: "alice@example.com"}
	bob := &passkey.User{ID: "u_bob", Name: "bob@example.com"}
	// A synced passkey: backed up, no counter.
	ka := passkeytest.New(t, origin, passkeytest.UV|passkeytest.BE|passkeytest.BS, false)
	kb := passkeytest.New(t, origin, 0, true)
	cred := register(t, rp, ka, alice, true, d)
	register(t, rp, kb, bob, true, d)
	if !cred.Synced() || !cred.BackupState {
		t.Errorf("registered %+v, want a synced credential", cred)
	}
	for i := range 2 {
		res, err := alone(t, rp, ka, d)
		if err != nil {
			t.Fatalf("sign-in %d: %v", i, err)
		}
		if res.UserID != alice.ID || res.Credential.ID != cred.ID || !res.UserVerified || res.Credential.SignCount != 0 {
			t.Errorf("sign-in %d = %+v, want %s, UV, count 0", i, res, alice.ID)
		}
		store(t, alice, res.Credential)
	}
	res, err := alone(t, rp, kb, d)
	if err != nil {
		t.Fatal(err)
	}
	if res.UserID != bob.ID || res.UserVerified || res.Credential.SignCount != 1 {
		t.Errorf("bob's sign-in = %+v, want %s without UV, count 1", res, bob.ID)
	}
}

func TestRegistrationOptions(t *testing.T) {
	rp := newRP(t, &clock{time.Now()})
	alice := &passkey.User{ID: "u_alice", Name: "alice@example.com"}
	old := register(t, rp, passkeytest.New(t, origin, 0, false), alice, false, nil)
	for _, tc := range []struct {
		discoverable bool
		residentKey  string
	}{{true, "preferred"}, {false, "discouraged"}} {
		t.Run(tc.residentKey, func(t *testing.T) {
			opts, challenge, state, err := rp.BeginRegistration(*alice, tc.discoverable)
			if err != nil {
				t.Fatal(err)
			}
			if len(state) == 0 {
				t.Error("no state")
			}
			var o struct {
				PublicKey struct {
					RP                 struct{ ID, Name string }
					User               struct{ ID, Name, DisplayName string }
					Challenge          string
					Timeout            int
					Attestation        string
					ExcludeCredentials []struct{ ID, Type string }
					Selection          struct {
						ResidentKey        string
						RequireResidentKey bool
						UserVerification   string
					} `json:"authenticatorSelection"`
					Extensions map[string]any
				}
			}
			if err := json.Unmarshal(opts, &o); err != nil {
				t.Fatalf("%s: %v", opts, err)
			}
			p := o.PublicKey
			for _, c := range []struct{ name, got, want string }{
				{"rp.id", p.RP.ID, rpID},
				{"rp.name", p.RP.Name, "valet"},
				{"user.id", p.User.ID, b64.EncodeToString([]byte(alice.ID))},
				{"user.name", p.User.Name, alice.Name},
				{"user.displayName", p.User.DisplayName, alice.Name},
				{"challenge", p.Challenge, challenge},
				{"attestation", p.Attestation, "none"},
				{"residentKey", p.Selection.ResidentKey, tc.residentKey},
				{"userVerification", p.Selection.UserVerification, "preferred"},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
				}
			}
			if p.Timeout != 300000 {
				t.Errorf("timeout = %d, want 300000", p.Timeout)
			}
			if p.Selection.RequireResidentKey {
				t.Error("requireResidentKey = true")
			}
			if len(p.ExcludeCredentials) != 1 || p.ExcludeCredentials[0].ID != old.ID || p.ExcludeCredentials[0].Type != "public-key" {
				t.Errorf("excludeCredentials = %+v, want %s", p.ExcludeCredentials, old.ID)
			}
			if p.Extensions["credProps"] != true {
				t.Errorf("extensions = %v, want credProps", p.Extensions)
			}
		})
	}
}

// TestCredProps checks that the extension output asked for at
// registration is taken, and kept with the credential.
func TestCredProps(t *testing.T) {
	rp := newRP(t, &clock{time.Now()})
	alice := passkey.User{ID: "u_alice", Name: "alice@example.com"}
	opts, _, state, err := rp.BeginRegistration(alice, true)
	if err != nil {
		t.Fatal(err)
	}
	response := passkeytest.New(t, origin, 0, false).Create(t, opts, passkeytest.Extensions(`{"credProps":{"rk":true}}`))
	cred, err := rp.FinishRegistration(alice, state, response)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(cred.Data, []byte(`"rk":true`)) {
		t.Errorf("stored credential %s does not keep rk", cred.Data)
	}
}

func TestLoginOptions(t *testing.T) {
	rp := newRP(t, &clock{time.Now()})
	alice := &passkey.User{ID: "u_alice", Name: "alice@example.com"}
	c1 := register(t, rp, passkeytest.New(t, origin, 0, false), alice, false, nil)
	c2 := register(t, rp, passkeytest.New(t, origin, 0, false), alice, true, nil)
	for _, tc := range []struct {
		name  string
		user  *passkey.User
		allow []string
	}{
		{"discoverable", nil, nil},
		{"second factor", alice, []string{c1.ID, c2.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, challenge, _, err := rp.BeginLogin(tc.user)
			if err != nil {
				t.Fatal(err)
			}
			var o struct {
				PublicKey struct {
					Challenge, RPID, UserVerification string
					Timeout                           int
					AllowCredentials                  []struct{ ID string }
				}
			}
			if err := json.Unmarshal(opts, &o); err != nil {
				t.Fatalf("%s: %v", opts, err)
			}
			p := o.PublicKey
			if p.Challenge != challenge || p.RPID != rpID || p.UserVerification != "preferred" || p.Timeout != 300000 {
				t.Errorf("options %s: want challenge %s, rpId %s, userVerification preferred, timeout 300000", opts, challenge, rpID)
			}
			var got []string
			for _, c := range p.AllowCredentials {
				got = append(got, c.ID)
			}
			if !reflect.DeepEqual(got, tc.allow) {
				t.Errorf("allowCredentials = %v, want %v", got, tc.allow)
			}
		})
	}
}

func TestBeginErrors(t *testing.T) {
	rp := newRP(t, &clock{time.Now()})
	for _, tc := range []struct {
		name string
		user passkey.User
	}{
		{"empty handle", passkey.User{Name: "a@example.com"}},
		{"handle of 65 bytes", passkey.User{ID: strings.Repeat("a", 65), Name: "a@example.com"}},
		{"stored credential not one", passkey.User{ID: "u", Name: "a@example.com", Credentials: [][]byte{[]byte("{")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := rp.BeginRegistration(tc.user, true); err == nil {
				t.Error("BeginRegistration: no error")
			}
			if _, _, _, err := rp.BeginLogin(&tc.user); err == nil {
				t.Error("BeginLogin: no error")
			}
		})
	}
	if _, _, _, err := rp.BeginLogin(&passkey.User{ID: "u", Name: "a@example.com"}); err == nil {
		t.Error("BeginLogin of a user without credentials: no error")
	}
}

func TestDecode(t *testing.T) {
	rp := newRP(t, &clock{time.Now()})
	alice := &passkey.User{ID: "u_alice", Name: "alice@example.com"}
	cred := register(t, rp, passkeytest.New(t, origin, passkeytest.BE, false), alice, true, nil)
	got, err := passkey.Decode(cred.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cred) {
		t.Errorf("Decode = %+v, want %+v", got, cred)
	}
	want := passkey.Credential{
		ID: cred.ID, Data: cred.Data, BackupEligible: true,
		AAGUID: "00000000-0000-0000-0000-000000000000", Transports: []string{"hybrid", "internal"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "{", "null", "{}", `{"id":"AAAA"}`, `[]`} {
		if _, err := passkey.Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q): no error", bad)
		}
	}
}

// fixture is a relying party with two users, each with a passkey.
type fixture struct {
	rp         *passkey.RP
	clock      *clock
	dir        directory
	alice, bob *passkey.User
	ka, kb     *passkeytest.Key
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := &fixture{clock: &clock{time.Now()}, dir: directory{}}
	f.rp = newRP(tb, f.clock)
	f.alice = &passkey.User{ID: "u_alice", Name: "alice@example.com"}
	f.bob = &passkey.User{ID: "u_bob", Name: "bob@example.com"}
	f.ka = passkeytest.New(tb, origin, passkeytest.UV, true)
	f.kb = passkeytest.New(tb, origin, passkeytest.UV, true)
	register(tb, f.rp, f.ka, f.alice, true, f.dir)
	register(tb, f.rp, f.kb, f.bob, true, f.dir)
	return f
}

// registerNew registers a new key for alice, its answer edited.
func (f *fixture) registerNew(tb testing.TB, edits ...passkeytest.Edit) error {
	tb.Helper()
	opts, _, state, err := f.rp.BeginRegistration(*f.alice, true)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = f.rp.FinishRegistration(*f.alice, state, passkeytest.New(tb, origin, 0, false).Create(tb, opts, edits...))
	return err
}

func TestAttacks(t *testing.T) {
	otherChallenge := b64.EncodeToString(bytes.Repeat([]byte{7}, 32))
	for _, tc := range []struct {
		name string
		run  func(tb testing.TB, f *fixture) error
	}{
		// The origin, which only one string matches.
		{"registration from another scheme", func(tb testing.TB, f *fixture) error {
			return f.registerNew(tb, passkeytest.Origin("http://auth.example.com"))
		}},
		{"registration from another port", func(tb testing.TB, f *fixture) error {
			return f.registerNew(tb, passkeytest.Origin("https://auth.example.com:8443"))
		}},
		{"registration from a suffix trick", func(tb testing.TB, f *fixture) error {
			return f.registerNew(tb, passkeytest.Origin("https://auth.example.com.evil.com"))
		}},
		{"sign-in from another scheme", func(tb testing.TB, f *fixture) error {
			_, err := second(tb, f.rp, f.ka, f.alice, passkeytest.Origin("http://auth.example.com"))
			return err
		}},
		{"sign-in from another port", func(tb testing.TB, f *fixture) error {
			_, err := second(tb, f.rp, f.ka, f.alice, passkeytest.Origin("https://auth.example.com:8443"))
			return err
		}},
		{"sign-in from a subdomain not listed", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.Origin("https://evil.example.com"))
			return err
		}},
		{"sign-in from the relying party id not listed", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.Origin("https://example.com"))
			return err
		}},
		{"sign-in from a suffix trick", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.Origin("https://auth.example.com.evil.com"))
			return err
		}},
		{"sign-in from an origin with a path", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.Origin(origin+"/login"))
			return err
		}},
		{"sign-in from an origin in upper case", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.Origin("https://AUTH.example.com"))
			return err
		}},
		{"sign-in from an opaque origin", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.Origin("android:apk-key-hash:abc"))
			return err
		}},
		{"sign-in from a frame of another site", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.CrossOrigin)
			return err
		}},
		// The relying party the authenticator signed for.
		{"registration for rpId evil.com", func(tb testing.TB, f *fixture) error {
			return f.registerNew(tb, passkeytest.RPID("evil.com"))
		}},
		{"sign-in for rpId evil.com", func(tb testing.TB, f *fixture) error {
			_, err := second(tb, f.rp, f.ka, f.alice, passkeytest.RPID("evil.com"))
			return err
		}},
		{"sign-in for rpId auth.example.com", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.RPID("auth.example.com"))
			return err
		}},
		// The challenge and the ceremony's state.
		{"registration with a wrong challenge", func(tb testing.TB, f *fixture) error {
			return f.registerNew(tb, passkeytest.Challenge(otherChallenge))
		}},
		{"sign-in with a wrong challenge", func(tb testing.TB, f *fixture) error {
			_, err := second(tb, f.rp, f.ka, f.alice, passkeytest.Challenge(otherChallenge))
			return err
		}},
		{"registration state replayed with another challenge", func(tb testing.TB, f *fixture) error {
			_, _, stateA, _ := f.rp.BeginRegistration(*f.alice, true)
			optsB, _, _, _ := f.rp.BeginRegistration(*f.alice, true)
			_, err := f.rp.FinishRegistration(*f.alice, stateA, passkeytest.New(tb, origin, 0, false).Create(tb, optsB))
			return err
		}},
		{"sign-in state replayed with another challenge", func(tb testing.TB, f *fixture) error {
			_, _, stateA, _ := f.rp.BeginLogin(nil)
			optsB, _, _, _ := f.rp.BeginLogin(nil)
			_, err := f.rp.FinishLogin(nil, stateA, f.ka.Get(tb, optsB), f.dir.lookup)
			return err
		}},
		{"registration state in a sign-in", func(tb testing.TB, f *fixture) error {
			opts, _, state, _ := f.rp.BeginRegistration(*f.alice, true)
			_, err := f.rp.FinishLogin(f.alice, state, f.ka.Get(tb, opts), nil)
			return err
		}},
		{"sign-in state in a registration", func(tb testing.TB, f *fixture) error {
			opts, _, state, _ := f.rp.BeginLogin(f.alice)
			_, err := f.rp.FinishRegistration(*f.alice, state, passkeytest.New(tb, origin, 0, false).Create(tb, opts))
			return err
		}},
		{"second-factor state in a discoverable sign-in", func(tb testing.TB, f *fixture) error {
			opts, _, state, _ := f.rp.BeginLogin(f.alice)
			_, err := f.rp.FinishLogin(nil, state, f.ka.Get(tb, opts), f.dir.lookup)
			return err
		}},
		{"discoverable state in a second factor", func(tb testing.TB, f *fixture) error {
			opts, _, state, _ := f.rp.BeginLogin(nil)
			_, err := f.rp.FinishLogin(f.alice, state, f.ka.Get(tb, opts), nil)
			return err
		}},
		{"second-factor state of another user", func(tb testing.TB, f *fixture) error {
			opts, _, state, _ := f.rp.BeginLogin(f.bob)
			_, err := f.rp.FinishLogin(f.alice, state, f.ka.Get(tb, opts), nil)
			return err
		}},
		{"registration state of another user", func(tb testing.TB, f *fixture) error {
			opts, _, state, _ := f.rp.BeginRegistration(*f.bob, true)
			_, err := f.rp.FinishRegistration(*f.alice, state, passkeytest.New(tb, origin, 0, false).Create(tb, opts))
			return err
		}},
		{"expired state", func(tb testing.TB, f *fixture) error {
			opts, _, state, _ := f.rp.BeginLogin(nil)
			f.clock.t = f.clock.t.Add(passkey.DefaultTimeout)
			_, err := f.rp.FinishLogin(nil, state, f.ka.Get(tb, opts), f.dir.lookup)
			return err
		}},
		{"state that is not one", func(tb testing.TB, f *fixture) error {
			opts, _, _, _ := f.rp.BeginLogin(nil)
			_, err := f.rp.FinishLogin(nil, []byte(`{"ceremony":"webauthn.get"}`), f.ka.Get(tb, opts), f.dir.lookup)
			return err
		}},
		{"state of another relying party", func(tb testing.TB, f *fixture) error {
			other, err := passkey.New(passkey.Config{RPID: "auth.example.com", Origins: []string{origin}})
			if err != nil {
				tb.Fatal(err)
			}
			opts, _, state, _ := other.BeginLogin(nil)
			_, err = f.rp.FinishLogin(nil, state, f.ka.Get(tb, opts, passkeytest.RPID(rpID)), f.dir.lookup)
			return err
		}},
		// The type of the client data.
		{"webauthn.get in a registration", func(tb testing.TB, f *fixture) error {
			return f.registerNew(tb, passkeytest.Type("webauthn.get"))
		}},
		{"webauthn.create in a sign-in", func(tb testing.TB, f *fixture) error {
			_, err := second(tb, f.rp, f.ka, f.alice, passkeytest.Type("webauthn.create"))
			return err
		}},
		{"payment.get in a sign-in", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.Type("payment.get"))
			return err
		}},
		// The signature and the credential.
		{"tampered signature, second factor", func(tb testing.TB, f *fixture) error {
			_, err := second(tb, f.rp, f.ka, f.alice, passkeytest.TamperSignature)
			return err
		}},
		{"tampered signature, discoverable", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.TamperSignature)
			return err
		}},
		{"credential of another user as a second factor", func(tb testing.TB, f *fixture) error {
			_, err := second(tb, f.rp, f.kb, f.alice)
			return err
		}},
		{"credential of another user with this user's handle", func(tb testing.TB, f *fixture) error {
			_, err := second(tb, f.rp, f.kb, f.alice, passkeytest.UserHandle([]byte(f.alice.ID)))
			return err
		}},
		{"second factor with another user's handle", func(tb testing.TB, f *fixture) error {
			_, err := second(tb, f.rp, f.ka, f.alice, passkeytest.UserHandle([]byte(f.bob.ID)))
			return err
		}},
		{"unknown credential, discoverable", func(tb testing.TB, f *fixture) error {
			k := passkeytest.New(tb, origin, 0, true)
			k.SetHandle([]byte(f.alice.ID))
			_, err := alone(tb, f.rp, k, f.dir)
			return err
		}},
		{"credential of another user with this user's handle, discoverable", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.kb, f.dir, passkeytest.UserHandle([]byte(f.alice.ID)))
			return err
		}},
		{"lookup that returns another user", func(tb testing.TB, f *fixture) error {
			opts, _, state, _ := f.rp.BeginLogin(nil)
			_, err := f.rp.FinishLogin(nil, state, f.ka.Get(tb, opts), func(string, string) (passkey.User, error) {
				return *f.bob, nil
			})
			return err
		}},
		{"discoverable without a user handle", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.UserHandle(nil))
			return err
		}},
		// The flags.
		{"registration without user presence", func(tb testing.TB, f *fixture) error {
			return f.registerNew(tb, passkeytest.ClearFlags(passkeytest.UP))
		}},
		{"sign-in without user presence", func(tb testing.TB, f *fixture) error {
			_, err := second(tb, f.rp, f.ka, f.alice, passkeytest.ClearFlags(passkeytest.UP))
			return err
		}},
		{"registration backed up but not eligible", func(tb testing.TB, f *fixture) error {
			return f.registerNew(tb, passkeytest.AddFlags(passkeytest.BS))
		}},
		{"sign-in that became backup eligible", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.AddFlags(passkeytest.BE))
			return err
		}},
		{"extension output not asked for", func(tb testing.TB, f *fixture) error {
			_, err := alone(tb, f.rp, f.ka, f.dir, passkeytest.Extensions(`{"largeBlob":{"blob":"AAAA"}}`))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			err := tc.run(t, f)
			if !errors.Is(err, passkey.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			t.Log(err)
			// Nothing of it spoils the next honest ceremony.
			if _, err := second(t, f.rp, f.ka, f.alice); err != nil {
				t.Errorf("honest sign-in after: %v", err)
			}
		})
	}
}

// TestMalformed sends broken answers to every function that reads one.
func TestMalformed(t *testing.T) {
	f := newFixture(t)
	regOpts, _, regState, _ := f.rp.BeginRegistration(*f.alice, true)
	secondOpts, _, secondState, _ := f.rp.BeginLogin(f.alice)
	aloneOpts, _, aloneState, _ := f.rp.BeginLogin(nil)
	valid := map[string][]byte{
		"registration":  passkeytest.New(t, origin, 0, false).Create(t, regOpts),
		"second factor": f.ka.Get(t, secondOpts),
		"discoverable":  f.ka.Get(t, aloneOpts),
	}
	readers := []struct {
		name, answer string
		read         func([]byte) error
	}{
		{"FinishRegistration", "registration", func(b []byte) error {
			_, err := f.rp.FinishRegistration(*f.alice, regState, b)
			return err
		}},
		{"FinishLogin second factor", "second factor", func(b []byte) error {
			_, err := f.rp.FinishLogin(f.alice, secondState, b, nil)
			return err
		}},
		{"FinishLogin discoverable", "discoverable", func(b []byte) error {
			_, err := f.rp.FinishLogin(nil, aloneState, b, f.dir.lookup)
			return err
		}},
		{"Challenge", "discoverable", func(b []byte) error {
			_, err := passkey.Challenge(b)
			return err
		}},
	}
	// change edits a valid answer's JSON.
	change := func(fn func(m map[string]any)) func([]byte) []byte {
		return func(b []byte) []byte {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			fn(m)
			return passkeytest.Marshal(t, m)
		}
	}
	response := func(m map[string]any) map[string]any { return m["response"].(map[string]any) }
	for _, tc := range []struct {
		name string
		make func(valid []byte) []byte
	}{
		{"empty body", func([]byte) []byte { return nil }},
		{"malformed JSON", func(b []byte) []byte { return b[:len(b)/2] }},
		{"JSON null", func([]byte) []byte { return []byte("null") }},
		{"JSON array", func([]byte) []byte { return []byte("[]") }},
		{"JSON string", func([]byte) []byte { return []byte(`"x"`) }},
		{"trailing data", func(b []byte) []byte { return append(bytes.Clone(b), "{}"...) }},
		{"huge input", func(b []byte) []byte {
			return append(append([]byte(`{"pad":"`), bytes.Repeat([]byte("A"), 1<<20)...), append([]byte(`",`), b[1:]...)...)
		}},
		{"bad base64 clientDataJSON", change(func(m map[string]any) { response(m)["clientDataJSON"] = "***" })},
		{"clientDataJSON that is not JSON", change(func(m map[string]any) { response(m)["clientDataJSON"] = b64.EncodeToString([]byte("{")) })},
		{"clientDataJSON missing", change(func(m map[string]any) { delete(response(m), "clientDataJSON") })},
		{"clientDataJSON a number", change(func(m map[string]any) { response(m)["clientDataJSON"] = 42 })},
		{"response missing", change(func(m map[string]any) { delete(m, "response") })},
		{"empty clientDataJSON", change(func(m map[string]any) { response(m)["clientDataJSON"] = "" })},
	} {
		for _, r := range readers {
			t.Run(tc.name+"/"+r.name, func(t *testing.T) {
				err := r.read(tc.make(valid[r.answer]))
				if !errors.Is(err, passkey.ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
			})
		}
	}
	// Broken parts that only the Finish functions read, each the part of
	// a registration (reg), a sign-in (login) or both.
	for _, tc := range []struct {
		name, of string
		make     func(valid []byte) []byte
	}{
		{"bad base64 rawId", "both", change(func(m map[string]any) { m["rawId"] = "***" })},
		{"id that is not rawId", "both", change(func(m map[string]any) { m["id"] = b64.EncodeToString([]byte("other")) })},
		{"type not public-key", "both", change(func(m map[string]any) { m["type"] = "password" })},
		{"clientExtensionResults a string", "both", change(func(m map[string]any) { m["clientExtensionResults"] = "x" })},
		{"bad base64 authenticatorData", "both", change(func(m map[string]any) { response(m)["authenticatorData"] = "***" })},
		{"short authenticatorData", "login", change(func(m map[string]any) { response(m)["authenticatorData"] = "AAAA" })},
		{"bad base64 signature", "login", change(func(m map[string]any) { response(m)["signature"] = "***" })},
		{"signature that is not DER", "login", change(func(m map[string]any) { response(m)["signature"] = "AAAA" })},
		{"no signature", "login", change(func(m map[string]any) { delete(response(m), "signature") })},
		{"bad base64 userHandle", "login", change(func(m map[string]any) { response(m)["userHandle"] = "***" })},
		{"bad base64 attestationObject", "reg", change(func(m map[string]any) { response(m)["attestationObject"] = "***" })},
		{"attestationObject that is not CBOR", "reg", change(func(m map[string]any) { response(m)["attestationObject"] = "_w" })},
		{"no attestationObject", "reg", change(func(m map[string]any) { delete(response(m), "attestationObject") })},
	} {
		for i, r := range readers[:3] {
			if tc.of == "reg" && i != 0 || tc.of == "login" && i == 0 {
				continue
			}
			t.Run(tc.name+"/"+r.name, func(t *testing.T) {
				err := r.read(tc.make(valid[r.answer]))
				if !errors.Is(err, passkey.ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
			})
		}
	}
	// The valid answers still pass, so the cases above failed for their
	// own reason.
	for _, r := range readers {
		if err := r.read(valid[r.answer]); err != nil {
			t.Errorf("%s of a valid answer: %v", r.name, err)
		}
	}
}

func TestCloned(t *testing.T) {
	for _, tc := range []struct {
		name  string
		count uint32 // the counter before the last sign-in, stored at 2
	}{
		{"counter going back", 0},
		{"counter standing still", 1},
		{"counter back to zero", ^uint32(0)}, // wraps to 0 on use
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for range 2 {
				res, err := second(t, f.rp, f.ka, f.alice)
				if err != nil {
					t.Fatal(err)
				}
				store(t, f.alice, res.Credential)
			}
			f.ka.SetCount(tc.count)
			_, err := second(t, f.rp, f.ka, f.alice)
			if !errors.Is(err, passkey.ErrCloned) {
				t.Errorf("second factor: err = %v, want ErrCloned", err)
			}
			f.ka.SetCount(tc.count)
			if _, err := alone(t, f.rp, f.ka, f.dir); !errors.Is(err, passkey.ErrCloned) {
				t.Errorf("discoverable: err = %v, want ErrCloned", err)
			}
		})
	}
	t.Run("authenticator without a counter", func(t *testing.T) {
		f := newFixture(t)
		k := passkeytest.New(t, origin, passkeytest.BE|passkeytest.BS, false)
		register(t, f.rp, k, f.alice, true, f.dir)
		for range 3 {
			res, err := alone(t, f.rp, k, f.dir)
			if err != nil {
				t.Fatal(err)
			}
			store(t, f.alice, res.Credential)
		}
	})
}

func TestLookupFailure(t *testing.T) {
	f := newFixture(t)
	down := errors.New("store down")
	opts, _, state, _ := f.rp.BeginLogin(nil)
	_, err := f.rp.FinishLogin(nil, state, f.ka.Get(t, opts), func(string, string) (passkey.User, error) {
		return passkey.User{}, down
	})
	if !errors.Is(err, down) || errors.Is(err, passkey.ErrInvalid) {
		t.Errorf("err = %v, want the lookup's error and no ErrInvalid", err)
	}
	opts, _, state, _ = f.rp.BeginLogin(nil)
	_, err = f.rp.FinishLogin(nil, state, f.ka.Get(t, opts), func(string, string) (passkey.User, error) {
		return passkey.User{ID: f.alice.ID, Credentials: [][]byte{[]byte("{")}}, nil
	})
	if err == nil || errors.Is(err, passkey.ErrInvalid) {
		t.Errorf("a stored credential that is not one: err = %v, want an error that is no ErrInvalid", err)
	}
	opts, _, state, _ = f.rp.BeginLogin(nil)
	if _, err := f.rp.FinishLogin(nil, state, f.ka.Get(t, opts), nil); err == nil || errors.Is(err, passkey.ErrInvalid) {
		t.Errorf("no lookup: err = %v, want an error that is no ErrInvalid", err)
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t)
	opts, _, state, _ := f.rp.BeginLogin(f.alice)
	f.clock.t = f.clock.t.Add(passkey.DefaultTimeout - time.Second)
	if _, err := f.rp.FinishLogin(f.alice, state, f.ka.Get(t, opts), nil); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	rp, err := passkey.New(passkey.Config{RPID: rpID, Origins: []string{origin}, Timeout: time.Minute, Now: f.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	opts, _, state, _ = rp.BeginLogin(f.alice)
	f.clock.t = f.clock.t.Add(time.Minute)
	if _, err := rp.FinishLogin(f.alice, state, f.ka.Get(t, opts), nil); !errors.Is(err, passkey.ErrInvalid) {
		t.Errorf("at expiry: err = %v, want ErrInvalid", err)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rpID    string
		origins []string
		ok      bool
	}{
		{"host itself", "example.com", []string{"https://example.com"}, true},
		{"subdomain", "example.com", []string{"https://auth.example.com"}, true},
		{"several", "example.com", []string{"https://auth.example.com", "https://example.com:8443"}, true},
		{"cookie domain with a dot", ".example.com", []string{"https://auth.example.com"}, true},
		{"upper case", "Example.COM", []string{"HTTPS://Auth.Example.com"}, true},
		{"localhost over http", "localhost", []string{"http://localhost:8080"}, true},
		{"subdomain of localhost over http", "app.localhost", []string{"http://app.localhost:8080"}, true},
		{"empty RPID", "", []string{"https://example.com"}, false},
		{"blank RPID", "  ", []string{"https://example.com"}, false},
		{"RPID an IP", "127.0.0.1", []string{"https://127.0.0.1"}, false},
		{"RPID with a port", "example.com:443", []string{"https://example.com"}, false},
		{"RPID a URL", "https://example.com", []string{"https://example.com"}, false},
		{"RPID one label", "com", []string{"https://example.com"}, false},
		{"no origin", "example.com", nil, false},
		{"origin on another host", "example.com", []string{"https://example.org"}, false},
		{"origin on a parent", "auth.example.com", []string{"https://example.com"}, false},
		{"origin on a host that ends alike", "example.com", []string{"https://notexample.com"}, false},
		{"origin with a suffix trick", "example.com", []string{"https://auth.example.com.evil.com"}, false},
		{"one bad origin of two", "example.com", []string{"https://example.com", "https://example.org"}, false},
		{"origin with a path", "example.com", []string{"https://example.com/login"}, false},
		{"origin with a slash", "example.com", []string{"https://example.com/"}, false},
		{"origin with a query", "example.com", []string{"https://example.com?a=b"}, false},
		{"origin with an empty query", "example.com", []string{"https://example.com?"}, false},
		{"origin with a fragment", "example.com", []string{"https://example.com#a"}, false},
		{"origin with a user", "example.com", []string{"https://u@example.com"}, false},
		{"origin without a scheme", "example.com", []string{"example.com"}, false},
		{"origin opaque", "example.com", []string{"https:example.com"}, false},
		{"origin over ftp", "example.com", []string{"ftp://example.com"}, false},
		{"origin over http", "example.com", []string{"http://example.com"}, false},
		{"origin with port 0", "example.com", []string{"https://example.com:0"}, false},
		{"origin with a port too big", "example.com", []string{"https://example.com:65536"}, false},
		{"origin with an empty port", "example.com", []string{"https://example.com:"}, false},
		{"origin with a port of zeros", "example.com", []string{"https://example.com:0443"}, false},
		{"empty origin", "example.com", []string{""}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp, err := passkey.New(passkey.Config{RPID: tc.rpID, Origins: tc.origins})
			if got := err == nil; got != tc.ok {
				t.Fatalf("New(%q, %q) = %v, want ok %v", tc.rpID, tc.origins, err, tc.ok)
			}
			if err == nil && rp == nil {
				t.Fatal("nil RP without an error")
			}
		})
	}
}

// TestOriginForms checks that an origin given in another case or with
// its default port still matches the browser's form, and only it.
func TestOriginForms(t *testing.T) {
	for _, tc := range []struct{ configured, browser string }{
		{"https://Auth.Example.com:443", "https://auth.example.com"},
		{"http://localhost:80", "http://localhost"},
		{"https://auth.example.com:8443", "https://auth.example.com:8443"},
	} {
		t.Run(tc.configured, func(t *testing.T) {
			id := rpID
			if strings.Contains(tc.browser, "localhost") {
				id = "localhost"
			}
			rp, err := passkey.New(passkey.Config{RPID: id, Origins: []string{tc.configured}})
			if err != nil {
				t.Fatal(err)
			}
			u := &passkey.User{ID: "u", Name: "u@example.com"}
			k := passkeytest.New(t, tc.browser, 0, true)
			register(t, rp, k, u, false, nil)
			if _, err := second(t, rp, k, u); err != nil {
				t.Errorf("from %s: %v", tc.browser, err)
			}
			if _, err := second(t, rp, k, u, passkeytest.Origin(tc.configured)); tc.configured != tc.browser && !errors.Is(err, passkey.ErrInvalid) {
				t.Errorf("from %s: err = %v, want ErrInvalid", tc.configured, err)
			}
		})
	}
}

func TestChallenge(t *testing.T) {
	good := b64.EncodeToString(bytes.Repeat([]byte{1}, 32))
	withData := func(cd string) []byte {
		return []byte(`{"id":"AA","response":{"clientDataJSON":"` + cd + `"}}`)
	}
	withChallenge := func(c any) []byte {
		return withData(b64.EncodeToString(passkeytest.Marshal(t, map[string]any{"type": "webauthn.get", "challenge": c, "origin": origin})))
	}
	for _, tc := range []struct {
		name     string
		response []byte
		want     string // "" for an error
	}{
		{"challenge", withChallenge(good), good},
		{"clientDataJSON padded", withData(b64.EncodeToString([]byte(`{"challenge":"`+good+`"}`)) + "=="), good},
		{"16 bytes", withChallenge(b64.EncodeToString(make([]byte, 16))), b64.EncodeToString(make([]byte, 16))},
		{"64 bytes", withChallenge(b64.EncodeToString(make([]byte, 64))), b64.EncodeToString(make([]byte, 64))},
		{"empty", nil, ""},
		{"huge", withChallenge(strings.Repeat("A", 1<<20)), ""},
		{"not JSON", []byte("challenge=" + good), ""},
		{"JSON array", []byte(`[]`), ""},
		{"no response", []byte(`{"id":"AA"}`), ""},
		{"response a string", []byte(`{"response":"x"}`), ""},
		{"no clientDataJSON", []byte(`{"response":{}}`), ""},
		{"clientDataJSON not base64url", withData("e30+/w"), ""},
		{"clientDataJSON not JSON", withData(b64.EncodeToString([]byte("challenge"))), ""},
		{"clientDataJSON an array", withData(b64.EncodeToString([]byte("[]"))), ""},
		{"no challenge", withData(b64.EncodeToString([]byte(`{"type":"webauthn.get"}`))), ""},
		{"challenge a number", withChallenge(42), ""},
		{"challenge not base64url", withChallenge(strings.Repeat("+/", 22)), ""},
		{"challenge padded", withChallenge(b64.EncodeToString(make([]byte, 32)) + "="), ""},
		{"challenge in standard base64", withChallenge("+" + good[1:]), ""},
		{"challenge with a newline", withChallenge(good[:10] + "\n" + good[10:]), ""},
		{"challenge with stray bits", withChallenge(good[:len(good)-1] + "B"), ""},
		{"challenge of 15 bytes", withChallenge(b64.EncodeToString(make([]byte, 15))), ""},
		{"challenge of 65 bytes", withChallenge(b64.EncodeToString(make([]byte, 65))), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := passkey.Challenge(tc.response)
			if tc.want == "" {
				if !errors.Is(err, passkey.ErrInvalid) {
					t.Errorf("Challenge = %q, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Challenge = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// The challenge of a real answer is the one its ceremony began with.
	f := newFixture(t)
	regOpts, regChallenge, _, _ := f.rp.BeginRegistration(*f.alice, true)
	loginOpts, loginChallenge, _, _ := f.rp.BeginLogin(nil)
	for _, c := range []struct {
		name      string
		response  []byte
		challenge string
	}{
		{"registration", passkeytest.New(t, origin, 0, false).Create(t, regOpts), regChallenge},
		{"sign-in", f.ka.Get(t, loginOpts), loginChallenge},
	} {
		if got, err := passkey.Challenge(c.response); err != nil || got != c.challenge {
			t.Errorf("Challenge of a %s = %q, %v; want %q", c.name, got, err, c.challenge)
		}
	}
}

func TestConcurrent(t *testing.T) {
	f := newFixture(t)
	errs := make(chan error, 8)
	for i := range cap(errs) {
		k := f.ka
		if i%2 == 1 {
			k = f.kb
		}
		opts, _, state, err := f.rp.BeginLogin(nil)
		if err != nil {
			t.Fatal(err)
		}
		// A Key is not safe for concurrent use: answer first.
		response := k.Get(t, opts)
		go func() {
			_, err := f.rp.FinishLogin(nil, state, response, f.dir.lookup)
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
