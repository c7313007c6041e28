package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/valetauth/valet"
)

func TestAppendClaimsMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		c    Claims
	}{
		{"zero", Claims{}},
		{"exp only", Claims{ExpiresAt: 1700000000}},
		{"all", Claims{
			Issuer: "https://valet.test", Subject: "u1", Audience: Audience{"a", "b"}, ExpiresAt: 3, NotBefore: 1,
			IssuedAt: 2, ID: "j", SessionID: "s", Roles: []string{"admin", "user"}, Email: "a@example.com",
			EmailVerified: true, AMR: []string{"pwd", "otp", "mfa"}, AuthTime: 2, Nonce: "n", AuthorizedParty: "c",
			Scope: "openid email", Events: Events{"http://schemas.openid.net/event/backchannel-logout", "e2"},
		}},
		{"empty events", Claims{ExpiresAt: 1, Events: Events{}}},
		{"unverified", Claims{ExpiresAt: 1, Email: "a@example.com"}},
		{"device", Claims{Subject: "u1", ExpiresAt: 3, DeviceID: "d"}},
		{"one audience", Claims{Audience: Audience{"valet"}, ExpiresAt: 1}},
		{"empty audience and roles", Claims{Audience: Audience{}, Roles: []string{}, ExpiresAt: 1}},
		{"empty strings in lists", Claims{Audience: Audience{""}, Roles: []string{"", ""}, ExpiresAt: 1}},
		{"negative times", Claims{ExpiresAt: -1, NotBefore: -2, IssuedAt: -9223372036854775808}},
		{"escapes", Claims{
			Subject: "\"quoted\" \\ / \b\f\n\r\t \x00\x01\x1f \x7f",
			Email:   "<script>&amp;</script>",
			ID:      "\u2028\u2029 é 😀",
			Issuer:  "bad utf-8: \xff\xfe \xc3",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(&tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendClaims(nil, &tc.c); !bytes.Equal(got, want) {
				t.Errorf("appendClaims =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestAudienceJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Audience
		wantErr bool
		// out is how want marshals, when in is not already that.
		out string
	}{
		{name: "string", in: `"a"`, want: Audience{"a"}},
		{name: "array of two", in: `["a","b"]`, want: Audience{"a", "b"}},
		{name: "array of one", in: `["a"]`, want: Audience{"a"}, out: `"a"`},
		{name: "empty array", in: `[]`, want: Audience{}},
		{name: "null", in: `null`, want: nil, out: `[]`},
		{name: "number", in: `1`, wantErr: true},
		{name: "array of numbers", in: `[1]`, wantErr: true},
		{name: "object", in: `{"a":1}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Audience
			err := json.Unmarshal([]byte(tc.in), &got)
			if tc.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Unmarshal(%s) = %v, want ErrMalformed", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Unmarshal(%s) = %#v, want %#v", tc.in, got, tc.want)
			}
			b, err := got.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			want := tc.out
			if want == "" {
				want = tc.in
			}
			if string(b) != want {
				t.Errorf("MarshalJSON = %s, want %s", b, want)
			}
		})
	}
}

// sameClaims compares claims, taking a nil and an empty list as equal.
func sameClaims(a, b Claims) bool {
	if !slices.Equal(a.Audience, b.Audience) || !slices.Equal(a.Roles, b.Roles) ||
		!slices.Equal(a.AMR, b.AMR) || !slices.Equal(a.Events, b.Events) {
		return false
	}
	a.Audience, b.Audience, a.Roles, b.Roles = nil, nil, nil, nil
	a.AMR, b.AMR, a.Events, b.Events = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

// FuzzClaimsJSON holds parseClaims to encoding/json: whatever the strict
// reader accepts, encoding/json accepts too and decodes to the same claims;
// and appendClaims writes what json.Marshal writes, which reads back the
// same.
func FuzzClaimsJSON(f *testing.F) {
	for _, seed := range []string{
		`{"exp":1}`,
		`{"iss":"i","sub":"s","aud":"a","exp":1,"nbf":2,"iat":3,"jti":"j","sid":"x","roles":["r"],"email":"e"}`,
		`{"email":"e","email_verified":true,"exp":1}`,
		`{"email_verified":false,"exp":1}`,
		`{"email_verified" : true ,"exp":1}`,
		`{"email_verified":"true","exp":1}`,
		`{"email_verified":1,"exp":1}`,
		`{"email_verified":null,"exp":1}`,
		`{"email_verified":true,"email_verified":false,"exp":1}`,
		`{"Email_Verified":true,"exp":1}`,
		`{"email_verified":tru,"exp":1}`,
		`{"aud":["a","b"],"roles":[],"exp":253402300799}`,
		`{"aud":"a","roles":["r"],"amr":["pwd","otp","mfa"],"auth_time":5,"exp":9}`,
		`{"amr":"pwd","exp":1}`,
		`{"amr":[],"auth_time":1.5,"exp":1}`,
		`{"nonce":"n","azp":"c","scope":"openid email","exp":1}`,
		`{"nonce":1,"exp":1}`,
		`{"Nonce":"n","AZP":"c","exp":1}`,
		`{"events":{"http://schemas.openid.net/event/backchannel-logout":{}},"sid":"s","exp":1}`,
		`{"events":{"a":{"x":[1,{"y":null}]},"b":{}},"exp":1}`,
		`{"events":{},"exp":1}`,
		`{"events":{"a":{},"a":{}},"exp":1}`,
		`{"events":{"a":{"x":1,"x":2}},"exp":1}`,
		`{"events":{"a":1},"exp":1}`,
		`{"events":["a"],"exp":1}`,
		`{"events":null,"exp":1}`,
		`{"events":{"\u0061":{}},"exp":1}`,
		`{"sub":"s","exp":1,"did":"d"}`,
		`{"did":"a","DID":"b","exp":1}`,
		` {"sub" : "\u00e9\ud83d\ude00\n\"\\\/" , "x":[{"y":null},1.5e-3,-0,true,false], "exp":0 } `,
		`{"sub":"a","sub":"b"}`,
		`{"sub":"a","SUB":"b"}`,
		`{"x":{"a":1,"a":2},"exp":1}`,
		`{"exp":1.0}`,
		`{"exp":-1}`,
		`{"exp":1e3}`,
		`{"aud":null,"exp":1}`,
		`{"roles":"admin","exp":1}`,
		`{"sub":"\ud800","exp":1}`,
		"{\"sub\":\"\xff\",\"exp\":1}",
		`[{"exp":1}]`,
		`{"exp":1}{}`,
		`{"exp":1,}`,
		`{"ſub":"x","exp":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got Claims
		hasExp, err := parseClaims(b, &got)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parseClaims error %v is not ErrMalformed", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("parseClaims accepted invalid JSON %q", b)
		}
		var want Claims
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("parseClaims accepted %q, which encoding/json refuses: %v", b, err)
		}
		if !sameClaims(got, want) {
			t.Fatalf("parseClaims(%q) = %+v, encoding/json gives %+v", b, got, want)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m["exp"]; ok != hasExp {
			t.Fatalf("parseClaims(%q) reports exp present = %v", b, hasExp)
		}

		out := appendClaims(nil, &got)
		ref, err := json.Marshal(&got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, ref) {
			t.Fatalf("appendClaims = %s, json.Marshal = %s", out, ref)
		}
		var again Claims
		if _, err := parseClaims(out, &again); err != nil {
			t.Fatalf("parseClaims of appendClaims output %s: %v", out, err)
		}
		if !sameClaims(again, got) {
			t.Fatalf("claims changed through appendClaims: %+v, then %+v", got, again)
		}
	})
}

func TestValidJSONObject(t *testing.T) {
	tests := []struct {
		in      string
		ok, dup bool
	}{
		{`{}`, true, false},
		{` {"a":[1,{"b":{}}]} `, true, false},
		{`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10}`, true, false},
		{`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"a":10}`, false, true},
		{`{"a":1,"\u0061":2}`, false, true},
		{`{"a":[{"x":1,"x":1}]}`, false, true},
		{`[]`, false, false},
		{`{"a":1}x`, false, false},
		{`{"a":01}`, false, false},
		{`{"a":1.}`, false, false},
		{`{"a":.5}`, false, false},
		{`{"a":tru}`, false, false},
		{`{"a":"\x"}`, false, false},
		{`{"a":"\u12"}`, false, false},
		{`{"a":"\udc00"}`, false, false},
		{`{"a":"\ud800\u0041"}`, false, false},
		{`{"a" 1}`, false, false},
		{`{"a":1,}`, false, false},
		{`{,}`, false, false},
		{`{"a":[1,]}`, false, false},
		{`{"a":` + string(bytes.Repeat([]byte("["), maxJSONDepth)) + string(bytes.Repeat([]byte("]"), maxJSONDepth)) + `}`, false, false},
		{`{"a":` + string(bytes.Repeat([]byte("["), maxJSONDepth-1)) + string(bytes.Repeat([]byte("]"), maxJSONDepth-1)) + `}`, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			ok, dup := validJSONObject([]byte(tc.in))
			if ok != tc.ok || dup != tc.dup {
				t.Errorf("validJSONObject = %v, %v, want %v, %v", ok, dup, tc.ok, tc.dup)
			}
			if ok && !json.Valid([]byte(tc.in)) {
				t.Errorf("accepted what encoding/json refuses")
			}
		})
	}
}

func TestClaimsIdentity(t *testing.T) {
	tests := []struct {
		name      string
		c         Claims
		mode      valet.Mode
		sessionID string
	}{
		{"token without a device", Claims{Subject: "u"}, valet.ModeToken, ""},
		{"token with its device", Claims{Subject: "u", DeviceID: "d"}, valet.ModeToken, "d"},
		{"hybrid", Claims{Subject: "u", SessionID: "s"}, valet.ModeHybrid, "s"},
		// A sid is what makes a token hybrid: the revocation check follows it.
		{"sid wins over did", Claims{Subject: "u", SessionID: "s", DeviceID: "d"}, valet.ModeHybrid, "s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.c.Identity()
			if id.Mode != tc.mode || id.SessionID != tc.sessionID || id.User.ID != "u" || id.User.Roles == nil {
				t.Fatalf("Identity() = mode %q session %q user %+v, want mode %q session %q", id.Mode, id.SessionID, id.User, tc.mode, tc.sessionID)
			}
		})
	}
}
