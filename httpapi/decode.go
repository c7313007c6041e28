package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/valetauth/valet"
)

// MaxBodyBytes is the largest request body accepted (64 KiB).
const MaxBodyBytes = 64 << 10

var (
	errTooLarge = valet.Errorf(valet.ErrTooLarge, "The request body is larger than 64 KiB.")
	errBadJSON  = valet.Errorf(valet.ErrInvalidRequest, "The request body is not valid JSON for this endpoint.")
	errNoJSON   = valet.Errorf(valet.ErrInvalidRequest, "Send the request body as application/json.")
)

// decodeJSON reads one JSON object from r's body into v: at most
// MaxBodyBytes, no trailing data, fields of the right types.
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
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	return decodeReader(body, v)
}

func decodeReader(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return errBadJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return errBadJSON
	}
	return nil
}
