package password

import (
	"context"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/argon2"
)

// BenchmarkHash measures Hasher.Hash with the default parameters, one
// caller at a time and from GOMAXPROCS callers at once (bounded by
// NumCPU slots), for comparison with BenchmarkArgon2Raw.
func BenchmarkHash(b *testing.B) {
	h := NewHasher(Params{}, 0, 0)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkArgon2Raw calls argon2.IDKey directly with the same parameters
// and salt length as BenchmarkHash.
func BenchmarkArgon2Raw(b *testing.B) {
	p := Params{}.withDefaults()
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	pw := []byte("correct horse battery staple")
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			argon2.IDKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				argon2.IDKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
			}
		})
	})
}

// BenchmarkVerify measures Hasher.Verify of a right password for each
// algorithm, at the parameters its usual library makes by default. Run it
// briefly: go test -run X -bench Verify -benchtime 3x ./password/
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	h := NewHasher(Params{}, 0, 0)
	own, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	byName := map[string]vector{}
	for _, v := range loadVectors(b) {
		byName[v.name] = v
	}
	cases := []struct{ name, vector string }{
		{"argon2id m=19456,t=2,p=1 (valet)", ""},
		{"argon2i m=65536,t=2,p=4", "argon2i m=65536 t=2 p=4"},
		{"bcrypt cost 10", "htpasswd bcrypt cost 10"},
		{"bcrypt cost 12", "htpasswd bcrypt cost 12"},
		{"scrypt ln=16,r=8,p=1 (passlib)", "passlib scrypt ln=16"},
		{"pbkdf2_sha256 600000 (Django 4.2)", "django pbkdf2_sha256 600000"},
		{"pbkdf2_sha256 1000000 (Django 5.2)", "django pbkdf2_sha256 1000000"},
		{"pbkdf2_sha1 600000", "django pbkdf2_sha1 600000"},
		{"fbscrypt n=14,r=8 (Firebase)", "firebase readme"},
	}
	for _, c := range cases {
		v := vector{password: "correct horse battery staple", encoded: own}
		if c.vector != "" {
			var ok bool
			if v, ok = byName[c.vector]; !ok {
				b.Fatalf("no vector %q", c.vector)
			}
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if ok, err := h.Verify(ctx, v.password, v.encoded); !ok || err != nil {
					b.Fatalf("Verify = %v, %v", ok, err)
				}
			}
		})
	}
}
