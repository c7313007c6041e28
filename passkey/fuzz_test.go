package passkey_test

import (
	"errors"
	"testing"

	"github.com/valetauth/valet/passkey"
	"github.com/valetauth/valet/passkey/passkeytest"
)

// The seed corpus is in testdata/fuzz, with the answers of a real ceremony
// added here.

func FuzzChallenge(f *testing.F) {
	fx := newFixture(f)
	opts, _, _, _ := fx.rp.BeginLogin(nil)
	f.Add(fx.ka.Get(f, opts))
	opts, _, _, _ = fx.rp.BeginRegistration(*fx.alice, true)
	f.Add(passkeytest.New(f, origin, 0, false).Create(f, opts))
	f.Fuzz(func(t *testing.T, response []byte) {
		c, err := passkey.Challenge(response)
		if err != nil {
			if !errors.Is(err, passkey.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			return
		}
		if c == "" {
			t.Fatal("no challenge and no error")
		}
	})
}

func FuzzFinishLogin(f *testing.F) {
	fx := newFixture(f)
	opts, _, state, _ := fx.rp.BeginLogin(nil)
	f.Add(fx.ka.Get(f, opts))
	f.Fuzz(func(t *testing.T, response []byte) {
		_, err := fx.rp.FinishLogin(nil, state, response, fx.dir.lookup)
		if err != nil && !errors.Is(err, passkey.ErrInvalid) && !errors.Is(err, passkey.ErrCloned) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}

func FuzzFinishRegistration(f *testing.F) {
	fx := newFixture(f)
	opts, _, state, _ := fx.rp.BeginRegistration(*fx.alice, true)
	f.Add(passkeytest.New(f, origin, 0, false).Create(f, opts))
	f.Fuzz(func(t *testing.T, response []byte) {
		_, err := fx.rp.FinishRegistration(*fx.alice, state, response)
		if err != nil && !errors.Is(err, passkey.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}
