package fuse

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

func randomKeys(n int, seed uint64) []uint64 {
	r := rand.New(rand.NewPCG(seed, 1))
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = r.Uint64()
	}
	return keys
}

func TestBuildContainsEveryKey(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 100, 1000, 50_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			keys := randomKeys(n, uint64(n))
			f, err := Build(keys)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := f.Len(), n; got != want {
				t.Errorf("Len = %d, want %d", got, want)
			}
			for _, k := range keys {
				if !f.Contains(k) {
					t.Fatalf("Contains(%#x) = false for a key of the set", k)
				}
			}
		})
	}
}

func TestDuplicatesAndOrder(t *testing.T) {
	keys := randomKeys(5000, 7)
	a, err := Build(keys)
	if err != nil {
		t.Fatal(err)
	}
	shuffled := append(append([]uint64(nil), keys...), keys[:100]...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b, err := Build(shuffled)
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := a.MarshalBinary()
	bb, _ := b.MarshalBinary()
	if !bytes.Equal(ab, bb) {
		t.Error("the filter depends on the order of the keys or on duplicates")
	}
	if got, want := b.Len(), 5000; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
}

func TestFalsePositiveRate(t *testing.T) {
	keys := randomKeys(200_000, 3)
	f, err := Build(keys)
	if err != nil {
		t.Fatal(err)
	}
	const probes = 1_000_000
	r := rand.New(rand.NewPCG(99, 99))
	fp := 0
	for range probes {
		if f.Contains(r.Uint64()) {
			fp++
		}
	}
	rate := float64(fp) / probes
	t.Logf("false positives: %d of %d (%.5f%%; 2^-16 is 0.00153%%); %.2f bits a key", fp, probes, 100*rate, float64(8*f.Size())/float64(len(keys)))
	if rate > 5.0/65536 {
		t.Errorf("false-positive rate %.6f, want about 1/65536", rate)
	}
}

func TestParse(t *testing.T) {
	keys := randomKeys(1000, 5)
	f, err := Build(keys)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(b), f.Size(); got != want {
		t.Errorf("len(MarshalBinary()) = %d, want Size() = %d", got, want)
	}
	g, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, k := range keys {
		if !g.Contains(k) {
			t.Fatalf("parsed filter lacks %#x", k)
		}
	}
	if got, want := g.Len(), 1000; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}

	corrupt := map[string][]byte{
		"empty":       nil,
		"short":       b[:10],
		"bad magic":   append([]byte("XFU1"), b[4:]...),
		"truncated":   b[:len(b)-2],
		"extra":       append(append([]byte(nil), b...), 0, 0),
		"zero length": func() []byte { c := bytes.Clone(b); c[12], c[13], c[14], c[15] = 0, 0, 0, 0; return c }(),
		"odd length":  func() []byte { c := bytes.Clone(b); c[12]++; return c }(),
		"huge count":  func() []byte { c := bytes.Clone(b); c[16], c[17], c[18], c[19] = 0xff, 0xff, 0xff, 0xff; return c }(),
	}
	for name, c := range corrupt {
		if _, err := Parse(c); err == nil {
			t.Errorf("Parse(%s) = nil error", name)
		}
	}
}

func TestString(t *testing.T) {
	// FNV-1a 64 of "" and of "a", from the FNV reference.
	if got, want := String(""), uint64(0xcbf29ce484222325); got != want {
		t.Errorf(`String("") = %#x, want %#x`, got, want)
	}
	if got, want := String("a"), uint64(0xaf63dc4c8601ec8c); got != want {
		t.Errorf(`String("a") = %#x, want %#x`, got, want)
	}
}
