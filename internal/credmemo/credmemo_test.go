package credmemo

import (
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGet(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	const cred = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
	m := New[string](8)
	m.Put(cred, "claims", now.Add(time.Minute), now)
	m.Put("forever", "id", time.Time{}, now)
	tests := []struct {
		name, cred string
		at         time.Time
		want       string
		ok         bool
	}{
		{"the same credential", cred, now, "claims", true},
		{"a copy of its bytes", strings.Clone(cred), now.Add(59 * time.Second), "claims", true},
		{"at the moment it runs out", cred, now.Add(time.Minute), "", false},
		{"later", cred, now.Add(time.Hour), "", false},
		{"one byte changed", cred[:len(cred)-1] + "Z", now, "", false},
		{"one byte short", cred[:len(cred)-1], now, "", false},
		{"one byte more", cred + "A", now, "", false},
		{"upper case", strings.ToUpper(cred), now, "", false},
		{"with a space", " " + cred, now, "", false},
		{"empty", "", now, "", false},
		{"a NUL", "\x00", now, "", false},
		{"never put", "other", now, "", false},
		{"no end", "forever", now.Add(100 * 365 * 24 * time.Hour), "id", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := m.Get(tc.cred, tc.at)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Get(%q) = %q, %v; want %q, %v", tc.cred, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestCollision: a credential whose hash is that of a remembered one is not
// taken for it.
func TestCollision(t *testing.T) {
	now := time.Now()
	m := New[string](8)
	m.Put("victim's token", "victim", time.Time{}, now)
	// The hashes are 64 bits and seeded at random: a collision is made
	// here by filing the entry under the attacker's hash.
	e, _ := m.entries.Load(maphash.String(m.seed, "victim's token"))
	m.entries.Store(maphash.String(m.seed, "attacker's token"), e)
	if v, ok := m.Get("attacker's token", now); ok {
		t.Fatalf("a colliding credential got %q", v)
	}
	if v, ok := m.Get("victim's token", now); !ok || v != "victim" {
		t.Fatalf("the credential itself: %q, %v", v, ok)
	}
}

func TestPutReplaces(t *testing.T) {
	now := time.Now()
	m := New[int](8)
	m.Put("c", 1, now.Add(time.Minute), now)
	m.Put("c", 2, time.Time{}, now)
	if v, ok := m.Get("c", now.Add(time.Hour)); !ok || v != 2 {
		t.Fatalf("Get = %d, %v; want 2, true", v, ok)
	}
	if n := m.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
}

// TestPutKeepsNoReference: what is remembered is a copy of the credential,
// so the buffer it came in may be reused.
func TestPutKeepsNoReference(t *testing.T) {
	now := time.Now()
	m := New[int](8)
	b := []byte("Cookie: __Host-valet_session=secret")
	header := string(b)
	m.Put(header[len("Cookie: __Host-valet_session="):], 1, time.Time{}, now)
	m.entries.Range(func(_, v any) bool {
		if e := v.(*entry[int]); len(e.cred) != len("secret") || strings.Contains(e.cred, "Cookie") {
			t.Fatalf("entry holds %q", e.cred)
		}
		return true
	})
}

func TestBounded(t *testing.T) {
	const max = 64
	now := time.Now()
	m := New[int](max)
	for i := range 10 * max {
		// Every other entry has run out, so a full Memo drops those first.
		until := time.Time{}
		if i%2 == 0 {
			until = now.Add(-time.Second)
		}
		m.Put("cred-"+strconv.Itoa(i), i, until, now)
		if n := m.Len(); n > max {
			t.Fatalf("after %d puts the Memo holds %d entries, want at most %d", i+1, n, max)
		}
	}
	m.Put("last", 1, time.Time{}, now)
	if _, ok := m.Get("last", now); !ok {
		t.Fatal("the entry just put is not found")
	}
	if n := m.Len(); n < max/2 {
		t.Fatalf("the Memo holds %d entries, fewer than half of %d", n, max)
	}
	one := New[int](1)
	one.Put("a", 1, time.Time{}, now)
	one.Put("b", 2, time.Time{}, now)
	if _, ok := one.Get("b", now); !ok || one.Len() != 1 {
		t.Fatalf("a Memo of one holds %d entries", one.Len())
	}
}

func TestNewPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(r.(string), "credmemo: ") {
			t.Fatalf("New(0) panicked with %v", r)
		}
	}()
	New[int](0)
}

// TestConcurrent is for the race detector, and checks that no entry is
// found under another credential.
func TestConcurrent(t *testing.T) {
	now := time.Now()
	m := New[int](32)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				// Each credential is only ever put with its own number,
				// so whatever is found under it must be that number.
				k := (g*500 + i) % 100
				c := "cred-" + strconv.Itoa(k)
				m.Put(c, k, time.Time{}, now)
				if v, ok := m.Get(c, now); ok && v != k {
					t.Errorf("Get(%q) = %d, want %d", c, v, k)
				}
			}
		})
	}
	wg.Wait()
}

// TestEqual: every length up to past two blocks of 32, with the strings
// equal and with one byte different at every place, agrees with ==.
func TestEqual(t *testing.T) {
	for n := range 100 {
		a := make([]byte, n)
		for i := range a {
			a[i] = byte('a' + i%26)
		}
		if !equal(string(a), string(a)) {
			t.Fatalf("length %d: a string is not equal to its copy", n)
		}
		if n > 0 && equal(string(a), string(a[:n-1])) {
			t.Fatalf("length %d: equal to itself one byte short", n)
		}
		for i := range n {
			for _, bit := range []byte{0x01, 0x80} {
				b := slices.Clone(a)
				b[i] ^= bit
				if equal(string(a), string(b)) {
					t.Fatalf("length %d: equal with byte %d changed by %#x", n, i, bit)
				}
			}
		}
	}
}

func BenchmarkEqual(b *testing.B) {
	tok := strings.Repeat("t", 484)
	presented := strings.Clone(tok)
	b.ReportAllocs()
	for b.Loop() {
		if !equal(tok, presented) {
			b.Fatal("not equal")
		}
	}
}

func BenchmarkGet(b *testing.B) {
	now := time.Now()
	tok := strings.Repeat("t", 484)
	m := New[int](16384)
	m.Put(tok, 1, time.Time{}, now)
	presented := strings.Clone(tok)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := m.Get(presented, now); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkGetParallel is Get from every P at once, with a value the size
// of an access token's claims: one credential, as a load test sends, and
// many, as many clients do.
func BenchmarkGetParallel(b *testing.B) {
	type claims struct {
		s     [10]string
		l     [3][]string
		n     [5]int64
		flags bool
	}
	now := time.Now()
	for _, creds := range []int{1, 1024} {
		b.Run(strconv.Itoa(creds), func(b *testing.B) {
			m := New[claims](16384)
			toks := make([]string, creds)
			for i := range toks {
				toks[i] = strings.Repeat("t", 480) + strconv.Itoa(1000+i)
				m.Put(toks[i], claims{s: [10]string{"sub"}, l: [3][]string{{"a"}}, n: [5]int64{int64(i)}, flags: true}, time.Time{}, now)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if c, ok := m.Get(toks[i%creds], now); !ok || !c.flags {
						b.Error("miss")
						return
					}
					i++
				}
			})
		})
	}
}
