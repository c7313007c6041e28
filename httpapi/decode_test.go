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
		message           string // the sentence, when it matters
	}{
		{"ok", `{"email":"a@b.co","password":"x"}`, "application/json", "", ""},
		{"ok with charset", `{"email":"a","password":"x"}`, "application/json; charset=utf-8", "", ""},
		{"no content type", `{"email":"a","password":"x"}`, "", "", ""},
		{"optional field absent", `{"email":"a","password":"x"}`, "application/json", "", ""},
		{"unknown field", `{"emial":"a","password":"x"}`, "application/json", "invalid_request", `Unknown field "emial".`},
		{"unknown fields are refused", `{"email":"a","password":"x","extra":[1,2]}`, "application/json", "invalid_request", `Unknown field "extra".`},
		{"missing field", `{"password":"x"}`, "application/json", "invalid_request", "The email field is required."},
		{"empty field", `{"email":"","password":"x"}`, "application/json", "invalid_request", "The email field is required."},
		{"null field", `{"email":null,"password":"x"}`, "application/json", "invalid_request", "The email field is required."},
		{"empty", ``, "application/json", "invalid_request", ""},
		{"truncated", `{"email":`, "application/json", "invalid_request", ""},
		{"wrong type", `{"email":5,"password":"x"}`, "application/json", "invalid_request", "The email field must be a string."},
		{"array", `[]`, "application/json", "invalid_request", "The request body must be one JSON object."},
		{"null", `null`, "application/json", "invalid_request", "The request body must be one JSON object."},
		{"trailing object", `{"email":"a","password":"x"} {}`, "application/json", "invalid_request", ""},
		{"trailing junk", `{"email":"a","password":"x"}x`, "application/json", "invalid_request", ""},
		{"form", `email=a`, "application/x-www-form-urlencoded", "invalid_request", ""},
		{"deeply nested", `{"email":` + strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000) + `}`, "application/json", "invalid_request", ""},
		{"too large", `{"email":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, "application/json", "payload_too_large", ""},
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
				if tc.message != "" && d.Message != tc.message {
					t.Errorf("message = %q, want %q", d.Message, tc.message)
				}
			}
			if got != tc.want {
				t.Fatalf("code = %q, want %q (err %v)", got, tc.want, err)
			}
		})
	}
}

// nested is a body with the shapes that no handler reads yet, so that the
// rules are proven for them before one does.
type nested struct {
	Name    string         `json:"name" valet:"required"`
	Profile *nestedProfile `json:"profile"`
	Items   []nestedItem   `json:"items"`
	Roles   []string       `json:"roles"`
	Count   int            `json:"count"`
	Active  *bool          `json:"active"`
	Extra   map[string]any `json:"extra"`
}

type nestedProfile struct {
	Email string `json:"email"`
}

type nestedItem struct {
	ID string `json:"id"`
}

// TestDecodeJSONAttacks: bodies that try to get a value past the checks by
// the leniency of encoding/json are refused, and the sentence names the
// member.
func TestDecodeJSONAttacks(t *testing.T) {
	tests := []struct {
		name, body string
		want       string // the sentence, "" for success
	}{
		{"all shapes", `{"name":"n","profile":{"email":"a"},"items":[{"id":"1"}],"roles":["r"],"count":2,"active":true,"extra":{"any":{"thing":1}}}`, ""},
		{"duplicate key", `{"name":"a","name":"b"}`, `The field "name" appears more than once.`},
		{"duplicate key, other value types", `{"name":"a","count":1,"count":2}`, `The field "count" appears more than once.`},
		{"duplicate nested key", `{"name":"a","profile":{"email":"a","email":"b"}}`, `The field "profile.email" appears more than once.`},
		{"unknown nested field", `{"name":"a","profile":{"emial":"a"}}`, `Unknown field "profile.emial".`},
		{"unknown field in a list of objects", `{"name":"a","items":[{"id":"1"},{"ID2":"2"}]}`, `Unknown field "items.ID2".`},
		{"upper case", `{"NAME":"a"}`, `Unknown field "NAME".`},
		{"title case", `{"name":"a","Profile":{}}`, `Unknown field "Profile".`},
		{"nested case variant", `{"name":"a","profile":{"Email":"a"}}`, `Unknown field "profile.Email".`},
		{"case variant beside the exact one", `{"name":"a","Name":"b"}`, `Unknown field "Name".`},
		{"Kelvin sign folds to k in encoding/json", "{\"name\":\"a\",\"\u212aount\":1}", "Unknown field \"\u212aount\"."},
		{"huge number for a string", `{"name":1e999999}`, "The name field must be a string."},
		{"huge number for an int", `{"name":"a","count":1e999999}`, "The count field must be a whole number within range."},
		{"fraction for an int", `{"name":"a","count":1.5}`, "The count field must be a whole number within range."},
		{"number past int64", `{"name":"a","count":99999999999999999999}`, "The count field must be a whole number within range."},
		{"array for a string", `{"name":["a"]}`, "The name field must be a string."},
		{"object for a string", `{"name":{"a":1}}`, "The name field must be a string."},
		{"string for an array", `{"name":"a","roles":"admin"}`, "The roles field must be a list."},
		{"number in an array of strings", `{"name":"a","roles":["a",1]}`, "The roles field must be a string."},
		{"string for a bool", `{"name":"a","active":"true"}`, "The active field must be true or false."},
		{"array for an object", `{"name":"a","profile":[]}`, "The profile field must be an object."},
		{"escaped key is the same key", `{"name":"a","n\u0061me":"b"}`, `The field "name" appears more than once.`},
		{"long unknown key is cut", `{"` + strings.Repeat("k", 200) + `":1}`, `Unknown field "` + strings.Repeat("k", 64) + `…".`},
		{"control characters in a key are escaped", `{"a\u0000b":1}`, `Unknown field "a\x00b".`},
		{"deep nesting inside a free-form map", `{"name":"a","extra":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`, "The request body is not valid JSON for this endpoint."},
		{"required after the others", `{"roles":[]}`, "The name field is required."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v nested
			err := decodeReader(strings.NewReader(tc.body), &v)
			got := ""
			if err != nil {
				d := valet.Describe(err)
				if d.Code != "invalid_request" {
					t.Fatalf("code %q, want invalid_request (err %v)", d.Code, err)
				}
				got = d.Message
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDecodeJSONRequired: each handler's body names the field it lacks.
func TestDecodeJSONRequired(t *testing.T) {
	tests := []struct {
		name, body string
		into       any
		want       string
	}{
		{"password change without new_password", `{"current_password":"x"}`, &struct {
			Current string `json:"current_password" valet:"required"`
			New     string `json:"new_password" valet:"required"`
		}{}, "The new_password field is required."},
		{"login without password", `{"email":"a@b.co"}`, &credentials{}, "The password field is required."},
		{"login without email", `{"password":"x","mode":"token"}`, &credentials{}, "The email field is required."},
		{"refresh without a token", `{}`, &refreshIn{}, "The refresh_token field is required."},
		{"logout needs nothing", `{}`, &logoutIn{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := decodeReader(strings.NewReader(tc.body), tc.into); err != nil {
				got = valet.Describe(err).Message
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"email":"a@b.co","password":"pw","mode":"token"}`)
	f.Add(`{"email":"\u0000","password":"' OR 1=1 --"}`)
	f.Add(`{"email":[],"password":{}}`)
	f.Add(`{}{}`)
	f.Add(`{"email":"a","email":"b","EMAIL":"c"}`)
	f.Add(`{"email":1e999999,"password":["x"]}`)
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
