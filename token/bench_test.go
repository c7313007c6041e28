package token

import "testing"

// benchClaims are the claims every benchmark signs, as valet issues them.
func benchClaims(clock *testClock) Claims { return validClaims(clock) }

func BenchmarkVerify(b *testing.B) {
	for _, alg := range testAlgs {
		b.Run(alg, func(b *testing.B) {
			clock := newTestClock()
			set := NewKeySet(testKey(b, alg))
			c := benchClaims(clock)
			tok := mustSign(b, set, &c)
			v := NewVerifier(set, WithClock(clock.Now), WithIssuer(c.Issuer), WithAudience("valet"))
			b.ReportAllocs()
			b.SetBytes(int64(len(tok)))
			for b.Loop() {
				var got Claims
				if err := v.Verify(tok, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, alg := range testAlgs {
		b.Run(alg, func(b *testing.B) {
			clock := newTestClock()
			set := NewKeySet(testKey(b, alg))
			c := benchClaims(clock)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := set.Sign(&c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRefused measures the cost of refusing forged tokens, which
// an attacker controls the rate of.
func BenchmarkVerifyRefused(b *testing.B) {
	clock := newTestClock()
	k := testKey(b, EdDSA)
	set := NewKeySet(k)
	c := benchClaims(clock)
	good := mustSign(b, set, &c)
	h, p, _ := splitParts(good)
	for _, tc := range []struct{ name, tok string }{
		{"BadSignature", h + "." + p + "." + b64.EncodeToString(make([]byte, 64))},
		{"UnknownKid", rawToken(b, k, `{"alg":"EdDSA","kid":"nope"}`, `{"exp":1}`)},
		{"Garbage", "not a token at all"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v := NewVerifier(set, WithClock(clock.Now))
			b.ReportAllocs()
			for b.Loop() {
				var got Claims
				if err := v.Verify(tc.tok, &got); err == nil {
					b.Fatal("verified a forged token")
				}
			}
		})
	}
}
