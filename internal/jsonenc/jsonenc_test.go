package jsonenc

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// awkward are strings that each rule of JSON's escaping applies to.
var awkward = []string{
	"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "\x00\x01\x1f\x7f",
	"\b\f\n\r\t", "\u2028\u2029", "é ü 日本 🙂", "\xff\xfe bad \xc3 utf-8 \xe2\x80", "\xed\xa0\x80 surrogate",
	"<&>", "\xff\xc3",
}

// TestAppendStringIsEncodingJSON holds AppendString to json.Marshal on
// random strings, from a fixed seed, of the bytes where the rules differ.
func TestAppendStringIsEncodingJSON(t *testing.T) {
	alphabet := []string{"a", "Z", "0", " ", "\"", "\\", "<", ">", "&", "\x00", "\x1f", "\x7f", "\n", "\t",
		"é", "日", "🙂", "\u2028", "\u2029", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\uFFFD"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		var s string
		for range rng.IntN(12) {
			s += alphabet[rng.IntN(len(alphabet))]
		}
		checkString(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range awkward {
		f.Add(s)
	}
	f.Fuzz(checkString)
}

func checkString(t *testing.T, s string) {
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendString(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
	}
}
