package auth

import (
	"encoding/base32"
	"slices"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// TestTOTPVectors checks the code generation against the SHA-1 test
// vectors of RFC 6238, appendix B (eight digits, the 20-byte ASCII secret
// "12345678901234567890").
func TestTOTPVectors(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	opts := hotp.ValidateOpts{Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1}
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	} {
		got, err := hotp.GenerateCodeCustom(secret, uint64(totpStep(time.Unix(v.unix, 0))), opts)
		if err != nil || got != v.code {
			t.Errorf("T=%d: code %q, %v; want %q", v.unix, got, err, v.code)
		}
		// The six-digit code valet uses is the last six digits.
		six, _ := hotp.GenerateCodeCustom(secret, uint64(totpStep(time.Unix(v.unix, 0))), totpOpts)
		if six != v.code[2:] {
			t.Errorf("T=%d: six-digit code %q, want %q", v.unix, six, v.code[2:])
		}
	}
}

func TestTOTPSkewAndInput(t *testing.T) {
	secret, url, err := newTOTPKey("valet", "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 32 {
		t.Fatalf("secret %q: want 160 bits in base32", secret)
	}
	now := time.Unix(1_800_000_015, 0)
	code := func(step int64) string {
		c, err := hotp.GenerateCodeCustom(secret, uint64(step), totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cur := totpStep(now)
	for _, tc := range []struct {
		name   string
		code   string
		step   int64
		wantOK bool
	}{
		{"current", code(cur), cur, true},
		{"one step behind", code(cur - 1), cur - 1, true},
		{"one step ahead", code(cur + 1), cur + 1, true},
		{"two steps behind", code(cur - 2), 0, false},
		{"two steps ahead", code(cur + 2), 0, false},
		{"spaces", code(cur)[:3] + " " + code(cur)[3:], cur, true},
		{"dash", code(cur)[:3] + "-" + code(cur)[3:], cur, true},
		{"empty", "", 0, false},
		{"five digits", code(cur)[:5], 0, false},
		{"seven digits", code(cur) + "0", 0, false},
		{"letters", "abcdef", 0, false},
		{"unicode digits", "١٢٣٤٥٦", 0, false},
		{"NUL", code(cur)[:5] + "\x00", 0, false},
		{"huge", string(make([]byte, 1<<16)), 0, false},
	} {
		step, ok := totpMatch(secret, tc.code, now)
		if ok != tc.wantOK || ok && step != tc.step {
			t.Errorf("%s: totpMatch = %d, %v; want %d, %v", tc.name, step, ok, tc.step, tc.wantOK)
		}
	}
	if _, ok := totpMatch("not base32!", code(cur), now); ok {
		t.Error("a broken secret matched")
	}
	png, err := totpQR(url, 200)
	if err != nil || len(png) < 100 || string(png[1:4]) != "PNG" {
		t.Fatalf("totpQR = %d bytes, %v", len(png), err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes := newRecoveryCodes(recoveryCodeCount)
	if len(codes) != 10 {
		t.Fatalf("%d codes", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		n := normalRecoveryCode(c)
		if n == "" || len(c) != 14 || seen[n] {
			t.Fatalf("code %q (normal %q) malformed or repeated", c, n)
		}
		seen[n] = true
		if normalRecoveryCode(" "+slices.Concat([]string{c})[0]+" ") != n {
			t.Errorf("code %q with spaces does not normalize", c)
		}
	}
	for _, bad := range []string{"", "abcd-efgh-ijk", "abcd-efgh-ijkl1", "abcd-efgh-ijk1", "abcd-efgh-ij0l", "ábcd-efgh-ijkl", "abcd\x00efgh-ijkl"} {
		if normalRecoveryCode(bad) != "" {
			t.Errorf("normalRecoveryCode(%q) accepted", bad)
		}
	}
	if normalRecoveryCode("ABCD EFGH IJKL") != "abcdefghijkl" {
		t.Error("upper case with spaces refused")
	}
}
