package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/valetauth/valet"
)

// MaxBodyBytes is the largest request body accepted (64 KiB).
const MaxBodyBytes = 64 << 10

// maxDepth bounds how deeply the values of a body may nest. No request of
// the API nests more than twice; the bound only keeps hostile bodies cheap.
const maxDepth = 32

var (
	errTooLarge = valet.Errorf(valet.ErrTooLarge, "The request body is larger than 64 KiB.")
	errBadJSON  = valet.Errorf(valet.ErrInvalidRequest, "The request body is not valid JSON for this endpoint.")
	errNoJSON   = valet.Errorf(valet.ErrInvalidRequest, "Send the request body as application/json.")
	errNoObject = valet.Errorf(valet.ErrInvalidRequest, "The request body must be one JSON object.")
)

// decodeJSON reads one JSON object from r's body into v, a pointer to a
// struct: at most MaxBodyBytes, no trailing data, fields of the right types,
// each named exactly as its json tag names it and at most once, and every
// field tagged valet:"required" present and not empty (see decodeReader).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errNoJSON
		}
	}
	if r.ContentLength > MaxBodyBytes {
		return errTooLarge
	}
	// The server's own writer, so that a body over the bound also closes
	// the connection (MaxBytesReader looks for it).
	if rw, ok := w.(*responseWriter); ok {
		w = rw.ResponseWriter
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	return decodeReader(body, v)
}

// decodeOptionalJSON is decodeJSON for a body that may be left out: an
// empty body leaves v as it is.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decodeJSON(w, r, v)
}

// decodeReader reads one JSON object from body into v, a pointer to a
// struct. It fails closed where encoding/json is lenient, since a member that
// one parser reads and another skips is how requests get smuggled past
// checks:
//   - a member the struct does not name is refused, and so is one that
//     differs from a name only in case ("EMAIL"), which encoding/json would
//     otherwise take;
//   - a member given twice is refused (encoding/json keeps the last);
//   - members of nested objects are held to the same rules.
//
// Each refusal is an error wrapping valet.ErrInvalidRequest whose sentence
// names the member. A body over MaxBodyBytes gives valet.ErrTooLarge.
func decodeReader(body io.Reader, v any) error {
	data, err := io.ReadAll(body)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return errTooLarge
		}
		return errBadJSON
	}
	spec := specOf(reflect.TypeOf(v))
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a number is skipped as text, so 1e999999 cannot overflow here
	t, err := dec.Token()
	if err != nil {
		return errBadJSON
	}
	if t != json.Delim('{') {
		return errNoObject
	}
	if err := scanObject(dec, spec, "", 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errBadJSON
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			// te.Field is a path of names the scan has matched to the struct:
			// ours, not the client's.
			return valet.Errorf(valet.ErrInvalidRequest, "The %s field must be %s.", te.Field, jsonKind(te.Type))
		}
		return errBadJSON
	}
	return spec.checkRequired(reflect.ValueOf(v).Elem())
}

// scanObject checks the members of an object whose '{' dec has just read,
// against spec, up to and including its '}'. path is the dotted name of the
// object ("" at the top).
func scanObject(dec *json.Decoder, spec *structSpec, path string, depth int) error {
	if depth > maxDepth {
		return errBadJSON
	}
	var seen uint64 // one bit per field; specOf keeps structs within 64
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return errBadJSON
		}
		key, _ := t.(string)
		f, ok := spec.byName[key]
		if !ok {
			return valet.Errorf(valet.ErrInvalidRequest, "Unknown field %s.", quoteName(path+key))
		}
		if seen&(1<<f.bit) != 0 {
			return valet.Errorf(valet.ErrInvalidRequest, "The field %s appears more than once.", quoteName(path+key))
		}
		seen |= 1 << f.bit
		if err := scanValue(dec, f.obj, f.items, path+key+".", depth+1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return errBadJSON
	}
	return nil
}

// scanValue reads one value. When obj is set and the value is an object, its
// members are checked against obj; when items is set and the value is an
// array, each object in it is checked against items. Any other value is only
// read: its type is encoding/json's to check.
func scanValue(dec *json.Decoder, obj, items *structSpec, path string, depth int) error {
	if depth > maxDepth {
		return errBadJSON
	}
	t, err := dec.Token()
	if err != nil {
		return errBadJSON
	}
	switch t {
	case json.Delim('{'):
		if obj != nil {
			return scanObject(dec, obj, path, depth)
		}
		for dec.More() {
			if _, err := dec.Token(); err != nil { // the member's name
				return errBadJSON
			}
			if err := scanValue(dec, nil, nil, path, depth+1); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for dec.More() {
			if err := scanValue(dec, items, nil, path, depth+1); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	if _, err := dec.Token(); err != nil {
		return errBadJSON
	}
	return nil
}

// structSpec is what the decoder knows of a struct type: its members by
// their exact JSON names.
type structSpec struct {
	byName map[string]*fieldSpec
	fields []*fieldSpec // in declaration order
}

type fieldSpec struct {
	name     string
	index    int
	bit      uint
	required bool
	// obj is the spec of the field's struct type (through pointers), items
	// that of the elements of a slice of structs.
	obj, items *structSpec
}

var specs sync.Map // reflect.Type of a struct → *structSpec

// specOf returns the spec of the struct that t is, or points to. It panics
// for any other type and for a struct of more than 64 JSON fields:
// programmer errors.
func specOf(t reflect.Type) *structSpec {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := specs.Load(t); ok {
		return s.(*structSpec)
	}
	if t.Kind() != reflect.Struct {
		panic("httpapi: decoding into " + t.String() + ", not a struct")
	}
	s := &structSpec{byName: map[string]*fieldSpec{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			if sf.Anonymous {
				panic("httpapi: " + t.String() + " embeds " + sf.Name + "; name the field instead")
			}
			name = sf.Name
		}
		f := &fieldSpec{name: name, index: i, bit: uint(len(s.fields)), required: sf.Tag.Get("valet") == "required"}
		ft := sf.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			f.obj = specOf(ft)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			f.items = specOf(ft.Elem())
		}
		s.byName[name] = f
		s.fields = append(s.fields, f)
	}
	if len(s.fields) > 64 {
		panic("httpapi: " + t.String() + " has more than 64 JSON fields")
	}
	actual, _ := specs.LoadOrStore(t, s)
	return actual.(*structSpec)
}

// checkRequired returns an error naming the first field tagged
// valet:"required" that is zero in v: absent, null or empty.
func (s *structSpec) checkRequired(v reflect.Value) error {
	for _, f := range s.fields {
		if f.required && v.Field(f.index).IsZero() {
			return valet.Errorf(valet.ErrInvalidRequest, "The %s field is required.", f.name)
		}
	}
	return nil
}

// quoteName quotes a member's name for a sentence, cut to 64 bytes: the
// name comes from the client, and the answer need not echo a long one.
func quoteName(s string) string {
	const limit = 64
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strconv.Quote(s)
}

// jsonKind names the JSON type that a Go type is read from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number within range"
	case reflect.Float32, reflect.Float64:
		return "a number within range"
	case reflect.Slice, reflect.Array:
		return "a list"
	default:
		return "an object"
	}
}
