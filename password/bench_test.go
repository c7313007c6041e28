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
