package password

import (
	"errors"
	"testing"
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
