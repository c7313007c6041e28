package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// meJSON is the answer of GET /v1/me as encoding/json made it, before
// appendMe: the reference that appendMe must match byte for byte.
type meJSON struct {
	Auth struct {
		AMR          []string `json:"amr"`
		AuthTime     *string  `json:"auth_time,omitempty"`
		ExpiresAt    string   `json:"expires_at"`
		Mode         string   `json:"mode"`
		MFAEnrolment bool     `json:"mfa_enrollment_required,omitempty"`
		SessionID    string   `json:"session_id,omitempty"`
	} `json:"auth"`
	User struct {
		userJSON
		MFA []valet.FactorKind `json:"mfa"`
	} `json:"user"`
}

func encodeMe(tb testing.TB, id *valet.Identity, kinds []valet.FactorKind) []byte {
	tb.Helper()
	var out meJSON
	out.Auth.ExpiresAt, out.Auth.Mode, out.Auth.SessionID = rfc3339(id.ExpiresAt), string(id.Mode), id.SessionID
	out.Auth.AMR, out.Auth.MFAEnrolment = nonNil(id.AMR), id.MustEnrol
	if !id.AuthTime.IsZero() {
		t := rfc3339(id.AuthTime)
		out.Auth.AuthTime = &t
	}
	out.User.userJSON, out.User.MFA = toUserJSON(id.User), kinds
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(&out); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// awkward are strings that each rule of JSON's escaping applies to.
var awkward = []string{
	"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "\x00\x01\x1f\x7f",
	"\b\f\n\r\t", "\u2028\u2029", "é ü 日本 🙂", "\xff\xfe bad \xc3 utf-8 \xe2\x80", "\xed\xa0\x80 surrogate",
}

func TestMeIsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 2, 11, 9, 50, 123456789, time.FixedZone("x", 3600))
	base := valet.Identity{
		User: valet.User{ID: "77AopBXEVN2jz16aMrmDoQ", Email: "bench@example.com"},
		Mode: valet.ModeToken, SessionID: "6qf8vPBt4g3JUSwH4x7ZqWjgnpG8TpInn6Xhd4OP9FE",
		ExpiresAt: at.Add(15 * time.Minute), AMR: []string{"pwd"}, AuthTime: at,
	}
	tests := []struct {
		name  string
		edit  func(id *valet.Identity)
		kinds []valet.FactorKind
	}{
		{name: "as a token client sees it", kinds: []valet.FactorKind{}},
		{name: "every field set", kinds: []valet.FactorKind{valet.FactorTOTP, valet.FactorWebAuthn}, edit: func(id *valet.Identity) {
			id.MustEnrol, id.User.Disabled, id.User.EmailVerified = true, true, true
			id.User.Roles, id.User.CreatedAt, id.AMR = []string{"admin", "bench"}, at.Add(-time.Hour), []string{"pwd", "otp"}
		}},
		{name: "nothing optional", edit: func(id *valet.Identity) {
			id.AMR, id.AuthTime, id.SessionID, id.Mode = nil, time.Time{}, "", ""
		}},
		{name: "empty not nil", kinds: []valet.FactorKind{}, edit: func(id *valet.Identity) { id.AMR, id.User.Roles = []string{}, []string{} }},
	}
	for _, s := range awkward {
		tests = append(tests, struct {
			name  string
			edit  func(id *valet.Identity)
			kinds []valet.FactorKind
		}{name: "awkward " + s, kinds: []valet.FactorKind{valet.FactorKind(s)}, edit: func(id *valet.Identity) {
			id.User.Email, id.User.ID, id.SessionID, id.Mode = s, s, s, valet.Mode(s)
			id.AMR, id.User.Roles = []string{s, s}, []string{s}
		}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := base
			if tc.edit != nil {
				tc.edit(&id)
			}
			got, want := appendMe(nil, &id, tc.kinds), encodeMe(t, &id, tc.kinds)
			if !bytes.Equal(got, want) {
				t.Fatalf("appendMe:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// BenchmarkMeBody compares the answer of GET /v1/me written by appendMe
// with encoding/json's of the struct it replaced.
func BenchmarkMeBody(b *testing.B) {
	at := time.Now()
	id := &valet.Identity{
		User: valet.User{ID: "77AopBXEVN2jz16aMrmDoQ", Email: "bench@example.com", Roles: []string{"bench"}},
		Mode: valet.ModeToken, SessionID: "6qf8vPBt4g3JUSwH4x7ZqWjgnpG8TpInn6Xhd4OP9FE",
		ExpiresAt: at.Add(15 * time.Minute), AMR: []string{"pwd"}, AuthTime: at,
	}
	kinds := []valet.FactorKind{}
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encodeMe(b, id, kinds)
		}
	})
	b.Run("appendMe", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendMe(buf[:0], id, kinds)
		}
	})
}
