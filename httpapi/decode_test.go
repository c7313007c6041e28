package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/valetauth/valet"
)

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name, body, ctype string
		want              string // error code, "" for success
	}{
		{"ok", `{"email":"a@b.co","password":"x"}`, "application/json", ""},
		{"ok with charset", `{"email":"a"}`, "application/json; charset=utf-8", ""},
		{"no content type", `{"email":"a"}`, "", ""},
		{"unknown fields are ignored", `{"email":"a","extra":[1,2]}`, "application/json", ""},
		{"empty", ``, "application/json", "invalid_request"},
		{"truncated", `{"email":`, "application/json", "invalid_request"},
		{"wrong type", `{"email":5}`, "application/json", "invalid_request"},
		{"array", `[]`, "application/json", "invalid_request"},
		{"trailing object", `{} {}`, "application/json", "invalid_request"},
		{"trailing junk", `{}x`, "application/json", "invalid_request"},
		{"form", `email=a`, "application/x-www-form-urlencoded", "invalid_request"},
		{"deeply nested", `{"x":` + strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000) + `}`, "application/json", "invalid_request"},
		{"too large", `{"email":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, "application/json", "payload_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			var v credentials
			err := decodeJSON(httptest.NewRecorder(), r, &v)
			got := ""
			if err != nil {
				d := valet.Describe(err)
				if !d.Known {
					t.Fatalf("error %v is not an API error", err)
				}
				got = d.Code
			}
			if got != tc.want {
				t.Fatalf("code = %q, want %q (err %v)", got, tc.want, err)
			}
		})
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"email":"a@b.co","password":"pw","mode":"token"}`)
	f.Add(`{"email":"\u0000","password":"' OR 1=1 --"}`)
	f.Add(`{"email":[],"password":{}}`)
	f.Add(`{}{}`)
	f.Fuzz(func(t *testing.T, body string) {
		var v credentials
		err := decodeReader(strings.NewReader(body), &v)
		if err == nil {
			return
		}
		if code := valet.Describe(err).Code; code != "invalid_request" && code != "payload_too_large" {
			t.Fatalf("decode error %v is not invalid_request or payload_too_large", err)
		}
	})
}
