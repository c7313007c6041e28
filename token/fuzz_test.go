package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzParse from the fixed fuzz keys")

// fuzzNow is the fixed time at which the fuzz corpus's tokens are valid.
var fuzzNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fuzzSeed derives the fixed material of the fuzz keys. The keys are not
// secret: they exist so that the committed corpus holds tokens that verify.
func fuzzSeed(alg string) [32]byte { return sha256.Sum256([]byte("valet token fuzz key " + alg)) }

// fuzzKeys returns one key per algorithm, the same on every run, with kids
// "fuzz-<alg>".
var fuzzKeys = sync.OnceValue(func() map[string]*Key {
	keys := make(map[string]*Key, len(testAlgs))
	must := func(k *Key, err error) *Key {
		if err != nil {
			panic(err)
		}
		return k
	}
	seed := fuzzSeed(EdDSA)
	ed := ed25519.NewKeyFromSeed(seed[:])
	keys[EdDSA] = must(newKey("fuzz-EdDSA", EdDSA, &Key{edPriv: ed, edPub: ed.Public().(ed25519.PublicKey)}))
	seed = fuzzSeed(ES256)
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed[:])
	if err != nil {
		panic(err)
	}
	keys[ES256] = must(newKey("fuzz-ES256", ES256, &Key{ecPriv: ec, ecPub: &ec.PublicKey}))
	rs := deterministicRSAKey(fuzzSeed(RS256))
	keys[RS256] = must(newKey("fuzz-RS256", RS256, &Key{rsaPriv: rs, rsaPub: &rs.PublicKey}))
	seed = fuzzSeed(HS256)
	keys[HS256] = must(NewHMACKey("fuzz-HS256", seed[:]))
	return keys
})

// deterministicRSAKey returns a 2048-bit RSA key whose primes come from a
// ChaCha8 stream with the given seed. crypto/rsa ignores the random source
// it is handed, so the primes are searched for here.
func deterministicRSAKey(seed [32]byte) *rsa.PrivateKey {
	rng := mrand.NewChaCha8(seed)
	prime := func() *big.Int {
		b := make([]byte, 128)
		for {
			_, _ = rng.Read(b)
			// The top two bits make the product a full 2048 bits.
			b[0] |= 0xC0
			b[len(b)-1] |= 1
			if p := new(big.Int).SetBytes(b); p.ProbablyPrime(20) {
				return p
			}
		}
	}
	e := big.NewInt(65537)
	one := big.NewInt(1)
	for {
		p, q := prime(), prime()
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(e, phi)
		if d == nil || p.Cmp(q) == 0 {
			continue
		}
		k := &rsa.PrivateKey{
			PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537},
			D:         d,
			Primes:    []*big.Int{p, q},
		}
		k.Precompute()
		if err := k.Validate(); err != nil {
			panic(err)
		}
		return k
	}
}

// fuzzSet is the key set of the fuzz keys.
func fuzzSet() *KeySet {
	k := fuzzKeys()
	return NewKeySet(k[EdDSA], k[ES256], k[RS256], k[HS256])
}

// FuzzParse feeds arbitrary strings to Verify. Verify must never panic;
// every error must be an invalid- or expired-token error; and a token that
// verifies must verify again to the same claims, be canonical base64url in
// every part, and carry a signature that is exactly the key's over exactly
// its first two parts.
func FuzzParse(f *testing.F) {
	set := fuzzSet()
	v := NewVerifier(set, WithClock(func() time.Time { return fuzzNow }))
	f.Add("")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		_, _, _ = ParseUnverified(tok)
		var c Claims
		err := v.Verify(tok, &c)
		if err != nil {
			if !errors.Is(err, valet.ErrTokenInvalid) && !errors.Is(err, valet.ErrTokenExpired) {
				t.Fatalf("Verify error %v is neither invalid nor expired", err)
			}
			if !reflect.DeepEqual(c, Claims{}) {
				t.Fatalf("Verify failed with %v but set claims %+v", err, c)
			}
			return
		}
		var again Claims
		if err := v.Verify(tok, &again); err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("second Verify = %v, %+v; first gave %+v", err, again, c)
		}
		p := strings.Split(tok, ".")
		if len(p) != 3 {
			t.Fatalf("verified a token of %d parts", len(p))
		}
		raw := make([][]byte, 3)
		for i, part := range p {
			if raw[i], err = b64.DecodeString(part); err != nil || b64.EncodeToString(raw[i]) != part {
				t.Fatalf("verified a token whose part %d is not canonical base64url", i)
			}
		}
		header, claims, err := ParseUnverified(tok)
		if err != nil {
			t.Fatalf("ParseUnverified refuses a verified token: %v", err)
		}
		if sub, _ := claims["sub"].(string); sub != c.Subject {
			t.Fatalf("ParseUnverified sub %q, Verify sub %q", sub, c.Subject)
		}
		kid, _ := header["kid"].(string)
		alg, _ := header["alg"].(string)
		k, ok := set.Key(kid)
		if !ok || k.alg != alg {
			t.Fatalf("verified under kid %q alg %q, which is no key of the set", kid, alg)
		}
		input := []byte(p[0] + "." + p[1])
		if !k.verify(input, raw[2], make([]byte, 72)) {
			t.Fatal("the signature does not verify on its own")
		}
		if alg != ES256 {
			sig, err := k.sign(input)
			if err != nil || !bytes.Equal(sig, raw[2]) {
				t.Fatal("the signature is not the key's signature of the input")
			}
		}
		flipped := bytes.Clone(raw[2])
		flipped[len(flipped)-1] ^= 1
		if err := v.Verify(p[0]+"."+p[1]+"."+b64.EncodeToString(flipped), &again); !errors.Is(err, ErrSignatureInvalid) {
			t.Fatalf("Verify with a flipped signature bit = %v, want ErrSignatureInvalid", err)
		}
	})
}

// corpusEntry is one token of the committed seed corpus; valid is whether
// it verifies at fuzzNow.
type corpusEntry struct {
	name  string
	tok   string
	valid bool
}

// fuzzCorpus returns the seed corpus: valid tokens of each algorithm and
// malformed ones.
func fuzzCorpus(tb testing.TB) []corpusEntry {
	tb.Helper()
	keys := fuzzKeys()
	exp := fuzzNow.Add(365 * 24 * time.Hour).Unix()
	now := fuzzNow.Unix()
	full := Claims{
		Issuer: "https://valet.test", Subject: "user-1", Audience: Audience{"valet", "api"}, ExpiresAt: exp,
		NotBefore: now, IssuedAt: now, ID: "jti-1", SessionID: "sid-1", Roles: []string{"admin"}, Email: "a@example.com",
		EmailVerified: true, AMR: []string{"pwd", "hwk", "mfa"}, AuthTime: now, Nonce: "n-1", AuthorizedParty: "client-1",
		Scope: "openid email", Events: Events{"http://schemas.openid.net/event/backchannel-logout"},
	}
	var out []corpusEntry
	for _, alg := range testAlgs {
		k := keys[alg]
		s := NewKeySet(k)
		out = append(out,
			corpusEntry{"valid-" + alg, mustSign(tb, s, &full), true},
			corpusEntry{"valid-minimal-" + alg, mustSign(tb, s, &Claims{ExpiresAt: exp}), true},
			corpusEntry{"valid-at-jwt-" + alg, rawToken(tb, k, fmt.Sprintf(`{"typ":"at+jwt","kid":%q,"alg":%q}`, k.id, alg),
				fmt.Sprintf(` {"exp":%d, "sub":"\u00e9\ud83d\ude00", "x":[1,{"y":null}]} `, exp)), true},
		)
	}
	ed := keys[EdDSA]
	good := out[0].tok
	h, p, sig := splitParts(good)
	payload := fmt.Sprintf(`{"exp":%d}`, exp)
	out = append(out,
		corpusEntry{"alg-none", b64.EncodeToString([]byte(`{"alg":"none","kid":"fuzz-EdDSA"}`)) + "." + b64.EncodeToString([]byte(payload)) + ".", false},
		corpusEntry{"alg-confusion", rawToken(tb, hmacWith(tb, keys[RS256].id, keys[RS256].jwk), `{"alg":"HS256","kid":"fuzz-RS256"}`, payload), false},
		corpusEntry{"unknown-kid", rawToken(tb, ed, `{"alg":"EdDSA","kid":"nope"}`, payload), false},
		corpusEntry{"jku", rawToken(tb, ed, `{"alg":"EdDSA","kid":"fuzz-EdDSA","jku":"https://evil.example/"}`, payload), false},
		corpusEntry{"crit", rawToken(tb, ed, `{"alg":"EdDSA","kid":"fuzz-EdDSA","crit":["exp"]}`, payload), false},
		corpusEntry{"duplicate-claim", rawToken(tb, ed, `{"alg":"EdDSA","kid":"fuzz-EdDSA"}`, fmt.Sprintf(`{"exp":%d,"exp":%d}`, exp, exp)), false},
		corpusEntry{"case-variant-claim", rawToken(tb, ed, `{"alg":"EdDSA","kid":"fuzz-EdDSA"}`, fmt.Sprintf(`{"exp":%d,"SUB":"x"}`, exp)), false},
		corpusEntry{"bool-claim-as-string", rawToken(tb, ed, `{"alg":"EdDSA","kid":"fuzz-EdDSA"}`, fmt.Sprintf(`{"exp":%d,"email_verified":"true"}`, exp)), false},
		corpusEntry{"missing-exp", rawToken(tb, ed, `{"alg":"EdDSA","kid":"fuzz-EdDSA"}`, `{"sub":"x"}`), false},
		corpusEntry{"expired", rawToken(tb, ed, `{"alg":"EdDSA","kid":"fuzz-EdDSA"}`, fmt.Sprintf(`{"exp":%d}`, now-60)), false},
		corpusEntry{"array-payload", rawToken(tb, ed, `{"alg":"EdDSA","kid":"fuzz-EdDSA"}`, `[1]`), false},
		corpusEntry{"trailing-data", rawToken(tb, ed, `{"alg":"EdDSA","kid":"fuzz-EdDSA"}`, payload+`{}`), false},
		corpusEntry{"payload-changed", h + "." + b64.EncodeToString([]byte(payload)) + "." + sig, false},
		corpusEntry{"padded", good + "==", false},
		corpusEntry{"truncated", good[:len(good)-5], false},
		corpusEntry{"four-parts", good + ".e30", false},
		corpusEntry{"line-break", h + "." + p + "\n." + sig, false},
	)
	return out
}

// TestFuzzParseCorpus checks the committed seed corpus against the fixed
// fuzz keys: valid entries verify, the others do not. With -update-corpus
// it rewrites the corpus first.
func TestFuzzParseCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	if *updateCorpus {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range fuzzCorpus(t) {
			body := "go test fuzz v1\nstring(" + strconv.Quote(e.tok) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, e.name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("seed corpus: %v (regenerate with go test -run TestFuzzParseCorpus -update-corpus)", err)
	}
	v := NewVerifier(fuzzSet(), WithClock(func() time.Time { return fuzzNow }))
	valid := 0
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitN(string(b), "\n", 3)
			if len(lines) < 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "string(") {
				t.Fatalf("not a fuzz corpus file: %q", b)
			}
			tok, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
			if err != nil {
				t.Fatal(err)
			}
			var c Claims
			err = v.Verify(tok, &c)
			if wantValid := strings.HasPrefix(e.Name(), "valid-"); (err == nil) != wantValid {
				t.Errorf("Verify = %v, want valid %v", err, wantValid)
			}
			if err == nil {
				valid++
			}
		})
	}
	if want := 3 * len(testAlgs); valid != want {
		t.Errorf("%d valid tokens in the corpus, want %d", valid, want)
	}
}
