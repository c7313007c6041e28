package revoke

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func TestEncode(t *testing.T) {
	base := time.UnixMilli(1893456000123)
	tests := []struct {
		name string
		r    valet.Revocation
		want string
	}{
		{"whole millisecond", valet.Revocation{SessionID: "s1", Until: base}, `{"sid":"s1","until":1893456000123}`},
		{"rounds up a partial millisecond", valet.Revocation{SessionID: "s1", Until: base.Add(time.Nanosecond)}, `{"sid":"s1","until":1893456000124}`},
		{"escapes the sid", valet.Revocation{SessionID: `a"b`, Until: base}, `{"sid":"a\"b","until":1893456000123}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.r)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("encode = %s, want %s", got, tc.want)
			}
			back, err := Decode(got)
			if err != nil {
				t.Fatalf("Decode(encode) = %v", err)
			}
			if back.SessionID != tc.r.SessionID || back.Until.Before(tc.r.Until) {
				t.Errorf("Decode(Encode(r)) = %+v, want sid %q and Until not before %v", back, tc.r.SessionID, tc.r.Until)
			}
		})
	}
	if _, err := Encode(valet.Revocation{Until: base}); !errors.Is(err, valet.ErrInvalidRequest) {
		t.Errorf("encode without sid: err = %v, want ErrInvalidRequest", err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name    string
		payload string
	}{
		{"empty", ""},
		{"not json", "revoke abc"},
		{"array", `["abc",1]`},
		{"missing sid", `{"until":1893456000123}`},
		{"empty sid", `{"sid":"","until":1893456000123}`},
		{"missing until", `{"sid":"abc"}`},
		{"zero until", `{"sid":"abc","until":0}`},
		{"negative until", `{"sid":"abc","until":-5}`},
		{"until as string", `{"sid":"abc","until":"1893456000123"}`},
		{"fractional until", `{"sid":"abc","until":1.5}`},
		{"sid as number", `{"sid":42,"until":1893456000123}`},
		{"oversized", `{"sid":"` + strings.Repeat("a", maxMessage) + `","until":1893456000123}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Decode([]byte(tc.payload))
			if !errors.Is(err, errMalformed) {
				t.Errorf("Decode(%.40q) = %+v, %v; want errMalformed", tc.payload, r, err)
			}
		})
	}
}

func TestDecodeIgnoresUnknownFields(t *testing.T) {
	r, err := Decode([]byte(`{"sid":"abc","until":1893456000123,"reason":"logout"}`))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got, want := r, (valet.Revocation{SessionID: "abc", Until: time.UnixMilli(1893456000123)}); got != want {
		t.Errorf("decode = %+v, want %+v", got, want)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"sid":"abc","until":1893456000123}`))
	f.Add([]byte(`{"sid":"","until":1}`))
	f.Add([]byte(`{"until":1e3}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("decode error %v does not wrap errMalformed", err)
			}
			return
		}
		if r.SessionID == "" || r.Until.UnixMilli() <= 0 {
			t.Fatalf("decode accepted %+v", r)
		}
		again, err := Encode(r)
		if err != nil {
			t.Fatalf("Encode(Decode(b)): %v", err)
		}
		r2, err := Decode(again)
		if err != nil || r2 != r {
			t.Fatalf("round trip: %+v, %v; want %+v", r2, err, r)
		}
	})
}
