package token

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small strict JSON reader for JWS headers and JWT claims.
// It exists for two reasons. encoding/json accepts duplicated members (the
// last one wins), which lets a token mean one thing to us and another to a
// different parser; and its reflection costs more than the HMAC of a token.
// The reader refuses duplicated members at every depth, invalid UTF-8, lone
// surrogates, control characters in strings and nesting deeper than
// maxJSONDepth; what it accepts, encoding/json accepts too and decodes to
// the same values (the fuzz tests hold it to that).

// maxJSONDepth bounds the nesting of arrays and objects, so that a token of
// brackets cannot exhaust the stack.
const maxJSONDepth = 32

// maxNumericDate is 9999-12-31T23:59:59Z. Time claims outside [0, it] are
// refused, which keeps every later time computation clear of overflow.
const maxNumericDate = 253402300799

// jsonReader reads one JSON text from b. Its methods return false on any
// syntax error and set dup when the error is a duplicated member.
type jsonReader struct {
	b     []byte
	i     int
	depth int
	dup   bool
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, or 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// eat consumes c, after whitespace, and reports whether it was there.
func (r *jsonReader) eat(c byte) bool {
	if r.peek() == c {
		r.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (r *jsonReader) end() bool {
	r.ws()
	return r.i == len(r.b)
}

// strPlain marks the bytes that a string may hold as they are: printable
// ASCII other than the quote and the backslash. str skips runs of them in a
// tight loop, which is most of the work of reading a token.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string and returns the bounds of its raw content (between the
// quotes) and whether that content holds escapes.
func (r *jsonReader) str() (start, end int, esc, ok bool) {
	if r.peek() != '"' {
		return 0, 0, false, false
	}
	b := r.b
	i := r.i + 1
	start = i
	nonASCII := false
	for {
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return 0, 0, false, false
		}
		switch c := b[i]; {
		case c == '"':
			r.i = i + 1
			if nonASCII && !utf8.Valid(b[start:i]) {
				return 0, 0, false, false
			}
			return start, i, esc, true
		case c == '\\':
			esc = true
			r.i = i
			if !r.escape() {
				return 0, 0, false, false
			}
			i = r.i
		case c < 0x20:
			return 0, 0, false, false
		default:
			nonASCII = true
			i++
		}
	}
}

// escape checks the escape sequence at r.i and steps over it. A \u escape
// of a surrogate must be half of a pair.
func (r *jsonReader) escape() bool {
	if r.i+1 >= len(r.b) {
		return false
	}
	switch r.b[r.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		r.i += 2
		return true
	case 'u':
		c, ok := hex4(r.b, r.i+2)
		if !ok {
			return false
		}
		r.i += 6
		switch {
		case c >= 0xDC00 && c <= 0xDFFF:
			return false
		case c >= 0xD800 && c <= 0xDBFF:
			if r.i+1 >= len(r.b) || r.b[r.i] != '\\' || r.b[r.i+1] != 'u' {
				return false
			}
			lo, ok := hex4(r.b, r.i+2)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			r.i += 6
		}
		return true
	}
	return false
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var v rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | rune(c)
	}
	return v, true
}

// unescape returns the value of raw string content that str has validated.
func unescape(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(raw, i+2)
			if utf16.IsSurrogate(r) {
				lo, _ := hex4(raw, i+8)
				r = utf16.DecodeRune(r, lo)
				i += 6
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return out
}

// number reads a number and reports whether it is an integer (no fraction
// and no exponent).
func (r *jsonReader) number() (start, end int, isInt, ok bool) {
	r.ws()
	start = r.i
	b := r.b
	i := r.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, 0, false, false
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		isInt = false
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, 0, false, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, 0, false, false
		}
	}
	r.i = i
	return start, i, isInt, true
}

// numericDate reads a time claim: a whole number of seconds in
// [0, maxNumericDate]. ok is false for a syntax error, inRange false for a
// number that is not such a time.
func (r *jsonReader) numericDate() (v int64, inRange, ok bool) {
	if c := r.peek(); c != '-' && (c < '0' || c > '9') {
		return 0, false, r.skip()
	}
	start, end, isInt, ok := r.number()
	if !ok {
		return 0, false, false
	}
	if !isInt || r.b[start] == '-' || end-start > 12 {
		return 0, false, true
	}
	for _, c := range r.b[start:end] {
		v = v*10 + int64(c-'0')
	}
	return v, v <= maxNumericDate, true
}

// lit reads the literal word.
func (r *jsonReader) lit(word string) bool {
	if len(r.b)-r.i < len(word) || string(r.b[r.i:r.i+len(word)]) != word {
		return false
	}
	r.i += len(word)
	return true
}

// skip reads and discards one value of any type.
func (r *jsonReader) skip() bool {
	switch c := r.peek(); {
	case c == '"':
		_, _, _, ok := r.str()
		return ok
	case c == '{':
		return r.skipObject()
	case c == '[':
		return r.skipArray()
	case c == 't':
		return r.lit("true")
	case c == 'f':
		return r.lit("false")
	case c == 'n':
		return r.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		_, _, _, ok := r.number()
		return ok
	}
	return false
}

func (r *jsonReader) skipArray() bool {
	if r.depth++; r.depth > maxJSONDepth {
		return false
	}
	r.i++ // '['
	if r.eat(']') {
		r.depth--
		return true
	}
	for {
		if !r.skip() {
			return false
		}
		if r.eat(',') {
			continue
		}
		if !r.eat(']') {
			return false
		}
		r.depth--
		return true
	}
}

func (r *jsonReader) skipObject() bool {
	if r.depth++; r.depth > maxJSONDepth {
		return false
	}
	r.i++ // '{'
	if r.eat('}') {
		r.depth--
		return true
	}
	var seen memberSet
	for {
		key, ok := r.key()
		if !ok {
			return false
		}
		if seen.add(key) {
			r.dup = true
			return false
		}
		if !r.skip() {
			return false
		}
		if r.eat(',') {
			continue
		}
		if !r.eat('}') {
			return false
		}
		r.depth--
		return true
	}
}

// key reads a member name and the colon after it. The name is returned
// unescaped: "\u0061lg" is alg.
func (r *jsonReader) key() ([]byte, bool) {
	start, end, esc, ok := r.str()
	if !ok || !r.eat(':') {
		return nil, false
	}
	if esc {
		return unescape(r.b[start:end]), true
	}
	return r.b[start:end], true
}

// stringValue reads a string and returns it unescaped as a string. Content
// without escapes is a substring of src, a string holding r.b, so that the
// claims of one token share a single allocation.
func (r *jsonReader) stringValue(src *string) (string, bool) {
	start, end, esc, ok := r.str()
	if !ok {
		return "", false
	}
	if esc {
		return string(unescape(r.b[start:end])), true
	}
	if *src == "" {
		*src = string(r.b)
	}
	return (*src)[start:end], true
}

// memberSet records the member names of one object to find duplicates. The
// first few live in an array; a map takes over for objects with many
// members, so that a crafted token cannot make the check quadratic.
type memberSet struct {
	small [8][]byte
	n     int
	big   map[string]struct{}
}

// add records name and reports whether it was there already.
func (s *memberSet) add(name []byte) bool {
	if s.big != nil {
		if _, ok := s.big[string(name)]; ok {
			return true
		}
		s.big[string(name)] = struct{}{}
		return false
	}
	for _, m := range s.small[:s.n] {
		if bytes.Equal(m, name) {
			return true
		}
	}
	if s.n < len(s.small) {
		s.small[s.n] = name
		s.n++
		return false
	}
	s.big = make(map[string]struct{}, 2*len(s.small))
	for _, m := range s.small {
		s.big[string(m)] = struct{}{}
	}
	s.big[string(name)] = struct{}{}
	return false
}

// validJSONObject reports whether b is exactly one strict JSON object, and
// whether a refusal was for a duplicated member.
func validJSONObject(b []byte) (ok, dup bool) {
	r := jsonReader{b: b}
	if r.peek() != '{' {
		return false, false
	}
	ok = r.skipObject() && r.end()
	return ok, r.dup
}
