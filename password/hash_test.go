package password

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// cheap are parameters that keep the tests fast; they are valid, not safe.
var cheap = Params{Memory: 64, Iterations: 1, Parallelism: 1}

func newTestHasher(tb testing.TB, maxConcurrent int, wait time.Duration) *Hasher {
	tb.Helper()
	return NewHasher(cheap, maxConcurrent, wait)
}

// fakeTimer replaces a Hasher's timer: the deadline fires when the test
// closes fired, and the durations asked for are recorded.
type fakeTimer struct {
	mu    sync.Mutex
	asked []time.Duration
	fired chan time.Time
}

func installFakeTimer(tb testing.TB, h *Hasher) *fakeTimer {
	tb.Helper()
	ft := &fakeTimer{fired: make(chan time.Time)}
	h.after = func(d time.Duration) (<-chan time.Time, func() bool) {
		ft.mu.Lock()
		defer ft.mu.Unlock()
		ft.asked = append(ft.asked, d)
		return ft.fired, func() bool { return true }
	}
	return ft
}

func (ft *fakeTimer) fire() { close(ft.fired) }

func (ft *fakeTimer) durations() []time.Duration {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return append([]time.Duration(nil), ft.asked...)
}

// holdSlot makes the next computation of h block while holding its slot.
// It returns once the slot is held, and the returned function releases it.
func holdSlot(tb testing.TB, h *Hasher) (release func()) {
	tb.Helper()
	entered := make(chan struct{})
	gate := make(chan struct{})
	real := h.derive
	var first atomic.Bool
	h.derive = func(password, salt []byte, p Params) []byte {
		// Only the holder blocks; any other computation that gets a slot
		// (as it would if the bound were broken) runs through.
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-gate
		}
		return real(password, salt, p)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "holder password")
		done <- err
	}()
	<-entered
	var released sync.Once
	release = func() {
		released.Do(func() {
			close(gate)
			if err := <-done; err != nil {
				tb.Errorf("holder Hash: %v", err)
			}
		})
	}
	tb.Cleanup(release)
	return release
}

func TestNewHasherDefaults(t *testing.T) {
	h := NewHasher(Params{}, 0, 0)
	got, want := h.Params(), Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	if got != want {
		t.Errorf("Params() = %+v, want %+v", got, want)
	}
	if got, want := cap(h.slots), runtime.NumCPU(); got != want {
		t.Errorf("slots = %d, want runtime.NumCPU() = %d", got, want)
	}
	if got, want := h.wait, time.Second; got != want {
		t.Errorf("wait = %v, want %v", got, want)
	}

	h = NewHasher(Params{Memory: 65536, Parallelism: 4}, 3, 5*time.Second)
	got, want = h.Params(), Params{Memory: 65536, Iterations: 2, Parallelism: 4, SaltLen: 16, KeyLen: 32}
	if got != want {
		t.Errorf("Params() = %+v, want %+v", got, want)
	}
	if got, want := cap(h.slots), 3; got != want {
		t.Errorf("slots = %d, want %d", got, want)
	}
	if got, want := h.wait, 5*time.Second; got != want {
		t.Errorf("wait = %v, want %v", got, want)
	}
}

func TestNewHasherPanicsOnInvalidParams(t *testing.T) {
	tests := []struct {
		name string
		p    Params
	}{
		{"memory below 8 KiB per lane", Params{Memory: 31, Parallelism: 4}},
		{"memory above MaxMemory", Params{Memory: MaxMemory + 1}},
		{"iterations above MaxIterations", Params{Iterations: MaxIterations + 1}},
		{"salt too short", Params{SaltLen: MinSaltLen - 1}},
		{"salt too long", Params{SaltLen: MaxSaltLen + 1}},
		{"key too short", Params{KeyLen: MinKeyLen - 1}},
		{"key too long", Params{KeyLen: MaxKeyLen + 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.HasPrefix(msg, "password: ") {
					t.Errorf("recover() = %v, want a panic prefixed with the package name", r)
				}
			}()
			NewHasher(tc.p, 1, 0)
		})
	}
}

func TestHashFormat(t *testing.T) {
	ctx := context.Background()
	t.Run("defaults", func(t *testing.T) {
		h := NewHasher(Params{}, 1, 0)
		enc, err := h.Hash(ctx, "correct horse battery staple")
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
		if !re.MatchString(enc) {
			t.Errorf("Hash = %q, want it to match %s", enc, re)
		}
	})
	t.Run("round trip", func(t *testing.T) {
		h := NewHasher(Params{Memory: 128, Iterations: 3, Parallelism: 2, SaltLen: 24, KeyLen: 48}, 1, 0)
		enc, err := h.Hash(ctx, "pässwörd ✓")
		if err != nil {
			t.Fatal(err)
		}
		if want := "$argon2id$v=19$m=128,t=3,p=2$"; !strings.HasPrefix(enc, want) {
			t.Errorf("Hash = %q, want prefix %q", enc, want)
		}
		p, salt, key, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%q): %v", enc, err)
		}
		if got, want := p, h.Params(); got != want {
			t.Errorf("Decode params = %+v, want %+v", got, want)
		}
		if got, want := encode(p, salt, key), enc; got != want {
			t.Errorf("encode(Decode(h)) = %q, want %q", got, want)
		}
		if got, want := key, idKey([]byte("pässwörd ✓"), salt, p); !bytes.Equal(got, want) {
			t.Errorf("key = %x, want argon2id of the password = %x", got, want)
		}
	})
	t.Run("fresh salt each time", func(t *testing.T) {
		h := newTestHasher(t, 1, 0)
		a, err := h.Hash(ctx, "same password")
		if err != nil {
			t.Fatal(err)
		}
		b, err := h.Hash(ctx, "same password")
		if err != nil {
			t.Fatal(err)
		}
		if a == b {
			t.Errorf("two hashes of one password are equal: %q", a)
		}
	})
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, 2, 0)
	const pw = "Tr0ub4dor&3 horse"
	enc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	// A Hasher with other parameters verifies with those of the hash.
	other := NewHasher(Params{Memory: 256, Iterations: 2}, 1, 0)

	tests := []struct {
		name     string
		h        *Hasher
		password string
		want     bool
	}{
		{"right password", h, pw, true},
		{"right password, other hasher", other, pw, true},
		{"wrong password", h, "Tr0ub4dor&3 horsf", false},
		{"other case", h, strings.ToUpper(pw), false},
		{"prefix", h, pw[:len(pw)-1], false},
		{"trailing space", h, pw + " ", false},
		{"empty", h, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.h.Verify(ctx, tc.password, enc)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tc.want {
				t.Errorf("Verify(%q) = %v, want %v", tc.password, got, tc.want)
			}
		})
	}
}

// Vectors made by the reference implementation (the argon2 command of
// phc-winner-argon2), e.g.
//
//	echo -n password | argon2 somesaltsomesalt -id -t 2 -k 1024 -p 1 -l 32 -e
var referenceVectors = []struct {
	name     string
	password string
	encoded  string
	params   Params
	salt     string
}{
	{
		"m=1024 t=2 p=1",
		"password",
		"$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA",
		Params{Memory: 1024, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32},
		"somesaltsomesalt",
	},
	{
		"m=2048 t=3 p=2",
		"correct horse battery staple",
		"$argon2id$v=19$m=2048,t=3,p=2$TmFDbC1zYWx0LTE2Ynl0ZQ$D0TS7690tTQj6vlSQ+Io2wnrQF5sPP9z0kuKJuXfrmc",
		Params{Memory: 2048, Iterations: 3, Parallelism: 2, SaltLen: 16, KeyLen: 32},
		"NaCl-salt-16byte",
	},
	{
		"OWASP parameters, 8-byte salt",
		"password",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
		Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 8, KeyLen: 32},
		"somesalt",
	},
	{
		// Memory not a multiple of 4 lanes, so both sides must round it alike.
		"m=2050 p=4 48-byte key, unicode",
		"pässwörd ✓",
		"$argon2id$v=19$m=2050,t=1,p=4$c2FsdHlzYWx0eXNhbHR5IQ$qQWlt5RGKjZPZehe0m2jKiwrhHtyzecpe+2nBPU8I8ZP8gqdlkjIdlpGL4kYJD02",
		Params{Memory: 2050, Iterations: 1, Parallelism: 4, SaltLen: 16, KeyLen: 48},
		"saltysaltysalty!",
	},
}

func TestReferenceVectors(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, 1, 0)
	for _, tc := range referenceVectors {
		t.Run(tc.name, func(t *testing.T) {
			p, salt, key, err := Decode(tc.encoded)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got, want := p, tc.params; got != want {
				t.Errorf("params = %+v, want %+v", got, want)
			}
			if got, want := string(salt), tc.salt; got != want {
				t.Errorf("salt = %q, want %q", got, want)
			}
			if got, want := idKey([]byte(tc.password), salt, p), key; !bytes.Equal(got, want) {
				t.Errorf("argon2id = %x, want %x", got, want)
			}
			if got, want := encode(p, salt, key), tc.encoded; got != want {
				t.Errorf("encode = %q, want %q", got, want)
			}
			ok, err := h.Verify(ctx, tc.password, tc.encoded)
			if err != nil || !ok {
				t.Errorf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			ok, err = h.Verify(ctx, tc.password+"x", tc.encoded)
			if err != nil || ok {
				t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

const (
	goodSalt = "c29tZXNhbHRzb21lc2FsdA"
	goodKey  = "CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA"
)

var malformed = []struct {
	name, encoded string
}{
	{"empty", ""},
	{"not PHC", "password"},
	{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
	{"argon2i", "$argon2i$v=19$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"argon2d", "$argon2d$v=19$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"upper case algorithm", "$ARGON2ID$v=19$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"no version", "$argon2id$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"version 16", "$argon2id$v=16$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"leading text", "x$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"trailing field", "$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey + "$"},
	{"no key", "$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt},
	{"empty key", "$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt + "$"},
	{"empty salt", "$argon2id$v=19$m=1024,t=2,p=1$$" + goodKey},
	{"parameters out of order", "$argon2id$v=19$t=2,m=1024,p=1$" + goodSalt + "$" + goodKey},
	{"missing parameter", "$argon2id$v=19$m=1024,t=2$" + goodSalt + "$" + goodKey},
	{"extra parameter", "$argon2id$v=19$m=1024,t=2,p=1,keyid=x$" + goodSalt + "$" + goodKey},
	{"space in parameters", "$argon2id$v=19$m=1024, t=2,p=1$" + goodSalt + "$" + goodKey},
	{"empty value", "$argon2id$v=19$m=,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"leading zero", "$argon2id$v=19$m=01024,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"plus sign", "$argon2id$v=19$m=+1024,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"negative", "$argon2id$v=19$m=1024,t=-2,p=1$" + goodSalt + "$" + goodKey},
	{"hex", "$argon2id$v=19$m=0x400,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"memory overflows uint32", "$argon2id$v=19$m=4294967296,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"memory over MaxMemory", "$argon2id$v=19$m=2097153,t=2,p=1$" + goodSalt + "$" + goodKey},
	{"memory below 8 KiB per lane", "$argon2id$v=19$m=31,t=2,p=4$" + goodSalt + "$" + goodKey},
	{"zero iterations", "$argon2id$v=19$m=1024,t=0,p=1$" + goodSalt + "$" + goodKey},
	{"iterations over MaxIterations", "$argon2id$v=19$m=1024,t=257,p=1$" + goodSalt + "$" + goodKey},
	{"zero lanes", "$argon2id$v=19$m=1024,t=2,p=0$" + goodSalt + "$" + goodKey},
	{"lanes over 255", "$argon2id$v=19$m=4096,t=2,p=256$" + goodSalt + "$" + goodKey},
	{"padded salt", "$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt + "==$" + goodKey},
	{"padded key", "$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey + "="},
	{"url-safe base64", "$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt + "$" + strings.ReplaceAll(goodKey, "/", "_")},
	{"non-zero trailing bits", "$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey[:len(goodKey)-1] + "B"},
	{"newline in key", "$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey[:10] + "\n" + goodKey[10:]},
	{"salt under 8 bytes", "$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNh$" + goodKey},
	{"key under 16 bytes", "$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt + "$CKGe5/bX9YnCq2rxjW5y"},
}

func TestDecodeMalformed(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, 1, 0)
	// The table's strings differ from this valid one in one respect each.
	valid := "$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey
	if _, _, _, err := Decode(valid); err != nil {
		t.Fatalf("Decode(%q): %v", valid, err)
	}
	// These are not argon2id, but well-formed hashes of schemes that
	// Verify accepts too.
	otherScheme := map[string]bool{"bcrypt": true, "argon2i": true}
	for _, tc := range malformed {
		t.Run(tc.name, func(t *testing.T) {
			p, salt, key, err := Decode(tc.encoded)
			if !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Decode(%q) = %+v, %x, %x, %v; want an error wrapping ErrMalformedHash", tc.encoded, p, salt, key, err)
			}
			ok, err := h.Verify(ctx, "password", tc.encoded)
			if otherScheme[tc.name] {
				if ok || err != nil {
					t.Errorf("Verify = %v, %v; want false, nil", ok, err)
				}
			} else if ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify = %v, %v; want false and an error wrapping ErrMalformedHash", ok, err)
			}
			if !NeedsRehash(tc.encoded, Params{}) {
				t.Error("NeedsRehash = false, want true for a malformed hash")
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	def := "$argon2id$v=19$m=19456,t=2,p=1$" + goodSalt + "$" + goodKey
	tests := []struct {
		name    string
		encoded string
		p       Params
		want    bool
	}{
		{"same as defaults", def, Params{}, false},
		{"same, spelt out", def, Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}, false},
		{"more memory wanted", def, Params{Memory: 47104}, true},
		{"less memory wanted", def, Params{Memory: 12288, Iterations: 3}, true},
		{"more iterations wanted", def, Params{Iterations: 3}, true},
		// Lanes spread the work without changing how much there is.
		{"more lanes wanted", def, Params{Parallelism: 2}, false},
		{"longer salt wanted", def, Params{SaltLen: 32}, true},
		{"longer key wanted", def, Params{KeyLen: 64}, true},
		{"shorter salt and key wanted", def, Params{SaltLen: 8, KeyLen: 16}, false},
		{"older, weaker hash", "$argon2id$v=19$m=1024,t=2,p=1$" + goodSalt + "$" + goodKey, Params{}, true},
		{"stronger hash", "$argon2id$v=19$m=65536,t=3,p=4$" + goodSalt + "$" + goodKey, Params{}, false},
		{"stronger in memory, weaker in time", "$argon2id$v=19$m=65536,t=1,p=1$" + goodSalt + "$" + goodKey, Params{}, true},
		{"malformed", "$argon2id$v=19$m=19456,t=2,p=1$", Params{}, true},
		{"empty", "", Params{}, true},
		{"argon2i", "$argon2i$v=19$m=65536,t=3,p=1$" + goodSalt + "$" + goodKey, Params{}, true},
		{"bcrypt", "$2b$12$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", Params{}, true},
		{"scrypt", "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E", Params{}, true},
		{"django", "pbkdf2_sha256$1000000$seasalt$r1uLUxoxpP2Ued/qxvmje7UH9PUJBkRrvf9gGPL7Cps=", Params{}, true},
		{"fbscrypt", firebaseVector, Params{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsRehash(tc.encoded, tc.p); got != tc.want {
				t.Errorf("NeedsRehash(%q, %+v) = %v, want %v", tc.encoded, tc.p, got, tc.want)
			}
		})
	}

	t.Run("fresh hash", func(t *testing.T) {
		h := newTestHasher(t, 1, 0)
		enc, err := h.Hash(context.Background(), "a fresh password")
		if err != nil {
			t.Fatal(err)
		}
		if NeedsRehash(enc, cheap) {
			t.Errorf("NeedsRehash(fresh hash, its own params) = true, want false")
		}
		if !NeedsRehash(enc, Params{}) {
			t.Errorf("NeedsRehash(cheap hash, defaults) = false, want true")
		}
	})
}

func TestVerifyDummy(t *testing.T) {
	h := NewHasher(Params{Memory: 96, Iterations: 3, SaltLen: 20, KeyLen: 40}, 1, 0)
	var calls []Params
	var salts [][]byte
	real := h.derive
	h.derive = func(password, salt []byte, p Params) []byte {
		calls = append(calls, p)
		salts = append(salts, salt)
		return real(password, salt, p)
	}
	if err := h.VerifyDummy(context.Background(), "guess"); err != nil {
		t.Fatalf("VerifyDummy: %v", err)
	}
	if err := h.VerifyDummy(context.Background(), "another guess"); err != nil {
		t.Fatalf("VerifyDummy: %v", err)
	}
	// It must cost what a verify of a current hash costs: one argon2id with
	// the Hasher's parameters and a salt of the configured length.
	if got, want := len(calls), 2; got != want {
		t.Fatalf("argon2id ran %d times, want %d", got, want)
	}
	for i, p := range calls {
		if got, want := p, h.Params(); got != want {
			t.Errorf("call %d params = %+v, want %+v", i, got, want)
		}
		if got, want := len(salts[i]), int(h.Params().SaltLen); got != want {
			t.Errorf("call %d salt length = %d, want %d", i, got, want)
		}
	}
}

func TestBusy(t *testing.T) {
	ctx := context.Background()
	enc := referenceVectors[0].encoded
	calls := []struct {
		name string
		call func(h *Hasher) error
	}{
		{"Hash", func(h *Hasher) error { _, err := h.Hash(ctx, "password"); return err }},
		{"Verify", func(h *Hasher) error { _, err := h.Verify(ctx, "password", enc); return err }},
		{"VerifyDummy", func(h *Hasher) error { return h.VerifyDummy(ctx, "password") }},
	}
	// Every algorithm waits for a slot, not only argon2id.
	for _, v := range cheapImported {
		calls = append(calls, struct {
			name string
			call func(h *Hasher) error
		}{"Verify " + v.name, func(h *Hasher) error { _, err := h.Verify(ctx, v.password, v.encoded); return err }})
	}
	for _, c := range calls {
		t.Run(c.name+" waits for the deadline", func(t *testing.T) {
			h := newTestHasher(t, 1, 0)
			ft := installFakeTimer(t, h)
			release := holdSlot(t, h)
			ft.fire()
			err := c.call(h)
			if !errors.Is(err, valet.ErrUnavailable) {
				t.Fatalf("%s while the only slot is held = %v, want an error wrapping valet.ErrUnavailable", c.name, err)
			}
			if got, want := ft.durations(), []time.Duration{time.Second}; !equalDurations(got, want) {
				t.Errorf("waited for %v, want %v (the default wait)", got, want)
			}
			release()
			if err := c.call(h); err != nil {
				t.Errorf("%s once the slot is free = %v, want nil", c.name, err)
			}
		})
	}

	t.Run("real timer", func(t *testing.T) {
		h := newTestHasher(t, 1, 5*time.Millisecond)
		holdSlot(t, h)
		if _, err := h.Hash(ctx, "password"); !errors.Is(err, valet.ErrUnavailable) {
			t.Errorf("Hash = %v, want an error wrapping valet.ErrUnavailable", err)
		}
	})

	t.Run("negative wait fails at once", func(t *testing.T) {
		h := newTestHasher(t, 1, -1)
		ft := installFakeTimer(t, h)
		holdSlot(t, h)
		if _, err := h.Hash(ctx, "password"); !errors.Is(err, valet.ErrUnavailable) {
			t.Errorf("Hash = %v, want an error wrapping valet.ErrUnavailable", err)
		}
		if got := ft.durations(); len(got) != 0 {
			t.Errorf("started timers for %v, want none", got)
		}
	})

	t.Run("context ends while waiting", func(t *testing.T) {
		h := newTestHasher(t, 1, 0)
		installFakeTimer(t, h) // never fires
		holdSlot(t, h)
		ctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := h.Hash(ctx, "password")
			errc <- err
		}()
		cancel()
		err := <-errc
		if !errors.Is(err, valet.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("Hash = %v, want an error wrapping valet.ErrUnavailable and context.Canceled", err)
		}
	})

	t.Run("context already ended", func(t *testing.T) {
		h := newTestHasher(t, 1, 0)
		ran := false
		h.derive = func(password, salt []byte, p Params) []byte { ran = true; return nil }
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := h.Hash(ctx, "password"); !errors.Is(err, context.Canceled) {
			t.Errorf("Hash = %v, want an error wrapping context.Canceled", err)
		}
		if ran {
			t.Error("argon2id ran for an ended context")
		}
	})

	t.Run("waiter gets the slot when it frees", func(t *testing.T) {
		h := newTestHasher(t, 1, 0)
		ft := installFakeTimer(t, h) // never fires
		release := holdSlot(t, h)
		errc := make(chan error, 1)
		go func() {
			_, err := h.Hash(ctx, "password")
			errc <- err
		}()
		// Release only once the waiter is waiting, so it must take the
		// slow path and get the slot by waiting.
		for len(ft.durations()) == 0 {
			select {
			case err := <-errc:
				t.Fatalf("Hash = %v while the only slot was held, want it to wait", err)
			default:
				runtime.Gosched()
			}
		}
		release()
		if err := <-errc; err != nil {
			t.Errorf("waiting Hash = %v, want nil", err)
		}
	})
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConcurrencyBound(t *testing.T) {
	const limit, callers = 3, 50
	h := newTestHasher(t, limit, 0)
	ft := installFakeTimer(t, h) // never fires: every caller waits for a slot

	var running, peak, total atomic.Int32
	entered := make(chan struct{}, callers)
	gate := make(chan struct{})
	real := h.derive
	h.derive = func(password, salt []byte, p Params) []byte {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		total.Add(1)
		entered <- struct{}{}
		<-gate
		return real(password, salt, p)
	}

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = h.Hash(context.Background(), "password")
			} else {
				err = h.VerifyDummy(context.Background(), "password")
			}
			errs <- err
		})
	}
	// With the gate shut, every caller either computes (and blocks there)
	// or, finding no free slot, starts waiting. Once all have done one or
	// the other, exactly limit of them must be computing.
	for range limit {
		<-entered
	}
	for int(total.Load())+len(ft.durations()) < callers {
		runtime.Gosched()
	}
	if got, want := total.Load(), int32(limit); got != want {
		t.Errorf("computations started with the gate shut = %d, want %d", got, want)
	}
	if got, want := len(ft.durations()), callers-limit; got != want {
		t.Errorf("callers waiting with the gate shut = %d, want %d", got, want)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("caller: %v", err)
		}
	}
	if got, want := total.Load(), int32(callers); got != want {
		t.Errorf("computations = %d, want %d", got, want)
	}
	if got, want := peak.Load(), int32(limit); got != want {
		t.Errorf("peak concurrent computations = %d, want %d", got, want)
	}
}
