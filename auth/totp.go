package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP as every authenticator app reads it: SHA-1, six digits, 30-second
// steps (RFC 6238's defaults), with a code of the step before or after the
// current one accepted for clocks that drift.
const (
	totpPeriod = 30
	totpSkew   = 1
)

var totpOpts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// newTOTPKey makes a new 160-bit secret (RFC 4226's recommended length) for
// account at issuer and returns it in base32 with its otpauth:// URL.
func newTOTPKey(issuer, account string) (secret, url string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: totpPeriod, SecretSize: 20,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand.Reader,
	})
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

// totpQR returns the otpauth:// URL as a QR code, a PNG of size pixels.
func totpQR(url string, size int) ([]byte, error) {
	k, err := otp.NewKeyFromURL(url)
	if err != nil {
		return nil, err
	}
	img, err := k.Image(size, size)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// totpStep is the RFC 6238 time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// totpMatch returns the step, within totpSkew of now's, whose code is code.
// Every step in the window is computed and compared in constant time, so
// the time taken does not say which step, if any, matched. A code that is
// not six digits matches nothing.
func totpMatch(secret, code string, now time.Time) (step int64, ok bool) {
	code = cleanDigits(code)
	if len(code) != 6 {
		return 0, false
	}
	cur := totpStep(now)
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		want, err := hotp.GenerateCodeCustom(secret, uint64(cur+d), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = cur+d, true
		}
	}
	return step, ok
}

// cleanDigits drops the spaces and dashes people type into codes.
func cleanDigits(s string) string {
	if len(s) > 64 {
		return ""
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// The recovery codes of an account: ten, each 12 characters of base32 (60
// bits), shown as xxxx-xxxx-xxxx, stored as hashes.
const (
	recoveryCodeCount = 10
	recoveryCodeLen   = 12
)

var recoveryAlphabet = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRecoveryCodes returns n new recovery codes as shown to the user.
func newRecoveryCodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic("auth: crypto/rand failed: " + err.Error())
		}
		c := recoveryAlphabet.EncodeToString(b[:])[:recoveryCodeLen]
		out[i] = c[:4] + "-" + c[4:8] + "-" + c[8:]
	}
	return out
}

// normalRecoveryCode returns a recovery code as typed, lower-cased and
// without spaces and dashes, or "" when it cannot be one.
func normalRecoveryCode(s string) string {
	c := strings.ToLower(cleanDigits(s))
	if len(c) != recoveryCodeLen {
		return ""
	}
	for i := 0; i < len(c); i++ {
		if !(c[i] >= 'a' && c[i] <= 'z' || c[i] >= '2' && c[i] <= '7') {
			return ""
		}
	}
	return c
}
