package password

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/valetauth/valet"
)

// FuzzDecode checks that Decode never panics, that every error wraps
// ErrMalformedHash, and that whatever it accepts is canonical: encoding the
// result gives back the input exactly. The seed corpus is in
// testdata/fuzz/FuzzDecode, besides the vectors and the malformed table.
func FuzzDecode(f *testing.F) {
	for _, v := range referenceVectors {
		f.Add(v.encoded)
	}
	for _, m := range malformed {
		f.Add(m.encoded)
	}
	f.Fuzz(func(t *testing.T, encoded string) {
		p, salt, key, err := Decode(encoded)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Decode(%q) error %v does not wrap ErrMalformedHash", encoded, err)
			}
			return
		}
		if got := encode(p, salt, key); got != encoded {
			t.Fatalf("Decode(%q) accepted a non-canonical string; it encodes as %q", encoded, got)
		}
		if int(p.SaltLen) != len(salt) || int(p.KeyLen) != len(key) {
			t.Fatalf("Decode(%q) = %+v with a %d-byte salt and %d-byte key", encoded, p, len(salt), len(key))
		}
		if err := p.validate(); err != nil {
			t.Fatalf("Decode(%q) accepted invalid params %+v: %v", encoded, p, err)
		}
	})
}

// FuzzVerifyImported checks that ValidateImport and Verify never panic on
// any hash and password; that every refusal is of kind
// valet.ErrInvalidRequest, wraps ErrMalformedHash and says one sentence;
// and that a hash ValidateImport accepts verifies without an error. It
// verifies only hashes cheap enough for a fuzzer. The seed corpus is in
// testdata/fuzz/FuzzVerifyImported, besides the vectors and the attack
// table.
func FuzzVerifyImported(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.encoded, v.password)
	}
	for _, a := range attacks {
		f.Add(a.encoded, "password")
	}
	h := newTestHasher(f, 1, 0)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, encoded, password string) {
		err := ValidateImport(encoded)
		if err != nil {
			if !errors.Is(err, valet.ErrInvalidRequest) || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("ValidateImport(%q) = %v: not of kind valet.ErrInvalidRequest wrapping ErrMalformedHash", encoded, err)
			}
			msg := valet.Message(err)
			if msg == "" || !strings.HasSuffix(msg, ".") || strings.Count(msg, ". ") > 0 {
				t.Fatalf("ValidateImport(%q) message %q is not one sentence", encoded, msg)
			}
			if ok, err := h.Verify(ctx, password, encoded); ok || (err == nil && !strings.HasPrefix(encoded, "$argon2id$")) {
				// Only argon2id has wider bounds in Verify than in
				// ValidateImport, for valet's own hashes.
				t.Fatalf("Verify(%q) = %v, %v for a refused hash", encoded, ok, err)
			}
			return
		}
		s, err := parseHash(encoded, true)
		if err != nil {
			t.Fatalf("ValidateImport accepted %q that parseHash refuses: %v", encoded, err)
		}
		if !cheapToVerify(s) {
			return
		}
		if _, err := h.Verify(ctx, password, encoded); err != nil {
			t.Fatalf("Verify(%q) = %v for an accepted hash", encoded, err)
		}
		if !NeedsRehash(encoded, Params{Memory: MaxImportArgon2Memory, Iterations: MaxImportArgon2Iterations}) {
			t.Fatalf("NeedsRehash(%q) = false against the strongest parameters", encoded)
		}
	})
}

// cheapToVerify reports whether verifying s takes at most a few milliseconds.
func cheapToVerify(s *stored) bool {
	switch s.scheme {
	case schemeArgon2id, schemeArgon2i:
		return uint64(s.argon.Memory)*uint64(s.argon.Iterations) <= 1<<12
	case schemeBcrypt:
		return string(s.bcrypt[4:6]) <= "06"
	case schemeScrypt, schemeFirebase:
		return (1<<s.logN)*s.r*s.p <= 1<<14
	case schemePBKDF2SHA256, schemePBKDF2SHA1:
		return s.iter <= 20000
	}
	return false
}
