// Package apitest checks HTTP exchanges against valet's OpenAPI document
// (package api), for tests: one exchange at a time with Check, or every
// exchange of an http.Client by wrapping its transport with Transport.
//
// It is kept apart from package api so that the server, which serves the
// document, does not link the validator.
package apitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/valetauth/valet/api"
)

// ErrNotInSpec is wrapped by Check's error for a request that no operation of
// the document serves and that is outside the API (a web page, an asset).
// Transport does not report it.
var ErrNotInSpec = errors.New("apitest: no operation of the document serves this request")

// Validator checks requests and responses against the document. It is safe
// for concurrent use.
type Validator struct {
	doc    *openapi3.T
	mux    *http.ServeMux
	routes map[string]*routers.Route // by ServeMux pattern
	paths  [][]string                // the path templates, split into segments
}

// NewValidator loads and validates the document of package api. It returns
// an error when the document does not load or is not valid OpenAPI 3.1.
func NewValidator() (*Validator, error) {
	registerJSONLines()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(api.JSON())
	if err != nil {
		return nil, fmt.Errorf("apitest: load the document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("apitest: the document is not valid: %w", err)
	}
	v := &Validator{doc: doc, mux: http.NewServeMux(), routes: map[string]*routers.Route{}}
	seen := map[string]bool{}
	for _, op := range api.Operations() {
		item := doc.Paths.Value(op.Path)
		if item == nil || item.GetOperation(op.Method) == nil {
			return nil, fmt.Errorf("apitest: %s is listed but not loaded", op.Pattern())
		}
		v.routes[op.Pattern()] = &routers.Route{
			Spec: doc, Path: op.Path, PathItem: item, Method: op.Method, Operation: item.GetOperation(op.Method),
		}
		// Routing the way the server does, with the patterns it registers,
		// means the validator and the server agree on which operation a
		// request reaches.
		v.mux.Handle(op.Pattern(), http.NotFoundHandler())
		if !seen[op.Path] {
			seen[op.Path] = true
			v.paths = append(v.paths, strings.Split(op.Path, "/"))
		}
	}
	return v, nil
}

func (v *Validator) options() *openapi3filter.Options {
	o := &openapi3filter.Options{
		// Tests send missing and bad credentials on purpose: whether a
		// credential is good is the server's to say, not the document's.
		AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
		RejectWhenRequestBodyNotSpecified: true,
		IncludeResponseStatus:             true,
		SkipSettingDefaults:               true,
	}
	// The reason alone: the default message adds the whole schema and value,
	// which buries it.
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		if err.Origin != nil {
			return ""
		}
		return err.Reason
	})
	return o
}

// route returns the operation that serves req and its path parameters, or
// nil when none does.
func (v *Validator) route(req *http.Request) (*routers.Route, map[string]string) {
	_, pattern := v.mux.Handler(req)
	r := v.routes[pattern]
	if r == nil {
		return nil, nil
	}
	params := map[string]string{}
	want, have := strings.Split(r.Path, "/"), strings.Split(req.URL.EscapedPath(), "/")
	for i, seg := range want {
		if name, ok := strings.CutPrefix(seg, "{"); ok && i < len(have) {
			val, err := url.PathUnescape(have[i])
			if err != nil {
				val = have[i]
			}
			params[strings.TrimSuffix(name, "}")] = val
		}
	}
	return r, params
}

// knownPath reports whether some operation has path's template, whatever
// its method.
func (v *Validator) knownPath(path string) bool {
	have := strings.Split(path, "/")
next:
	for _, want := range v.paths {
		if len(want) != len(have) {
			continue
		}
		for i, seg := range want {
			if !strings.HasPrefix(seg, "{") && seg != have[i] {
				continue next
			}
		}
		return true
	}
	return false
}

// CheckRequest checks req, whose body is body, against the operation that
// serves it. It returns nil when the request is one the document allows,
// and an error wrapping ErrNotInSpec when no operation serves it.
// Credentials are not checked, only where they go.
func (v *Validator) CheckRequest(req *http.Request, body []byte) error {
	r, params := v.route(req)
	if r == nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ErrNotInSpec)
	}
	if err := v.validateRequest(req, body, r, params); err != nil {
		return fmt.Errorf("apitest: %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func (v *Validator) requestInput(req *http.Request, body []byte, r *routers.Route, params map[string]string) *openapi3filter.RequestValidationInput {
	// A copy, so that reading the body leaves the caller's request alone.
	rc := req.Clone(req.Context())
	rc.Body, rc.GetBody, rc.ContentLength = http.NoBody, nil, int64(len(body))
	if len(body) > 0 {
		rc.Body = io.NopCloser(bytes.NewReader(body))
	}
	return &openapi3filter.RequestValidationInput{Request: rc, PathParams: params, Route: r, Options: v.options()}
}

func (v *Validator) validateRequest(req *http.Request, body []byte, r *routers.Route, params map[string]string) error {
	return openapi3filter.ValidateRequest(context.Background(), v.requestInput(req, body, r, params))
}

// Check checks one exchange: req, whose body was reqBody, and the resp it
// got, whose body is respBody (resp.Body is not read). It returns nil when
// the exchange is one the document allows:
//   - the response has a status, headers and a body that the operation
//     documents, a 401 to a Bearer request carries WWW-Authenticate, and a
//     response documented without a body has none;
//   - the request is valid, or else the server refused it with a documented
//     4xx error (a test that sends a bad request on purpose is not flagged,
//     a server that accepts one is).
//
// A request under /v1/ that no operation serves, or with a method its path
// does not have, must get the error shape with 404 not_found or 405
// method_not_allowed. Any other request that no operation serves gets an
// error wrapping ErrNotInSpec.
func (v *Validator) Check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) error {
	where := fmt.Sprintf("apitest: %s %s → %d", req.Method, req.URL.RequestURI(), resp.StatusCode)
	r, params := v.route(req)
	if r == nil {
		path := req.URL.Path
		if !strings.HasPrefix(path, "/v1/") && !v.knownPath(path) {
			return fmt.Errorf("%s: %w", where, ErrNotInSpec)
		}
		if err := checkNoRoute(resp, respBody); err != nil {
			return fmt.Errorf("%s: no operation serves this request, and %w", where, err)
		}
		return nil
	}

	reqErr := v.validateRequest(req, reqBody, r, params)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: v.requestInput(req, reqBody, r, params),
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                v.options(),
	}
	in.SetBodyBytes(respBody)
	respErr := openapi3filter.ValidateResponse(context.Background(), in)
	if respErr == nil {
		respErr = v.checkExtra(req, r, resp, respBody)
	}
	switch {
	case respErr != nil && reqErr != nil:
		return fmt.Errorf("%s: the response does not match the document: %w (and the request does not either: %v)", where, respErr, reqErr)
	case respErr != nil:
		return fmt.Errorf("%s: the response does not match the document: %w", where, respErr)
	case reqErr != nil && (resp.StatusCode < 400 || resp.StatusCode > 499):
		return fmt.Errorf("%s: the server did not refuse a request that the document does not allow: %w", where, reqErr)
	}
	return nil
}

// checkExtra checks what the document says in words rather than schemas.
func (v *Validator) checkExtra(req *http.Request, r *routers.Route, resp *http.Response, body []byte) error {
	if resp.StatusCode == http.StatusUnauthorized && hasBearer(req) {
		if c := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(c, "Bearer ") {
			return fmt.Errorf("a 401 to a Bearer request has WWW-Authenticate %q, want a Bearer challenge", c)
		}
	}
	if req.Method == http.MethodHead {
		return nil
	}
	if ref := r.Operation.Responses.Status(resp.StatusCode); ref != nil && ref.Value != nil && len(ref.Value.Content) == 0 && len(body) > 0 {
		return fmt.Errorf("the status is documented without a body, and the response has %d bytes", len(body))
	}
	return nil
}

// checkNoRoute checks the answer to a request that no operation serves.
func checkNoRoute(resp *http.Response, body []byte) error {
	var code string
	switch resp.StatusCode {
	case http.StatusNotFound:
		code = "not_found"
	case http.StatusMethodNotAllowed:
		code = "method_not_allowed"
		if resp.Header.Get("Allow") == "" {
			return errors.New("its 405 has no Allow header")
		}
	default:
		return fmt.Errorf("the status is %d, want 404 or 405", resp.StatusCode)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" {
		if resp.StatusCode == http.StatusMethodNotAllowed {
			// The router's own 405, outside /v1/.
			return nil
		}
		return fmt.Errorf("its Content-Type is %q, want application/json", mt)
	}
	return checkError(body, code)
}

// checkError checks that body is the error shape with code.
func checkError(body []byte, code string) error {
	var e struct {
		Error   *string `json:"error"`
		Message *string `json:"message"`
	}
	dec := jsonDecoder(body)
	if err := dec.Decode(&e); err != nil {
		return fmt.Errorf("its body is not the error shape: %v", err)
	}
	if e.Error == nil || e.Message == nil {
		return errors.New(`its body lacks "error" or "message"`)
	}
	if *e.Error != code {
		return fmt.Errorf("its error is %q, want %q", *e.Error, code)
	}
	return nil
}

func hasBearer(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	return len(h) >= 7 && strings.EqualFold(h[:7], "bearer ")
}

// Transport returns a RoundTripper that sends each request with next
// (http.DefaultTransport when nil), checks the exchange with Check, and calls
// report with every mismatch; requests outside the API (ErrNotInSpec) are
// not reported. It buffers both bodies, and hands the caller a response
// whose body reads as it came. It panics when report is nil.
func (v *Validator) Transport(next http.RoundTripper, report func(error)) http.RoundTripper {
	if report == nil {
		panic("apitest: Transport with a nil report")
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{v: v, next: next, report: report}
}

type transport struct {
	v      *Validator
	next   http.RoundTripper
	report func(error)
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		// A RoundTripper must not change the caller's request.
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err := t.v.Check(req, body, resp, respBody); err != nil && !errors.Is(err, ErrNotInSpec) {
		t.report(err)
	}
	return resp, nil
}

func jsonDecoder(b []byte) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec
}

// registerJSONLines teaches the validator the JSON Lines bodies of the
// document (POST /v1/admin/users/import): each line must match the body's
// schema. kin-openapi keeps decoders in a global table, so this runs once.
var registerJSONLines = sync.OnceFunc(func() {
	dec := func(body io.Reader, _ http.Header, schema *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		var first any
		sc := bufio.NewScanner(body)
		sc.Buffer(nil, 16<<20)
		for n := 1; sc.Scan(); n++ {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var v any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			if err := schema.Value.VisitJSON(v); err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			if first == nil {
				first = v
			}
		}
		return first, sc.Err()
	}
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", dec)
	openapi3filter.RegisterBodyDecoder("application/jsonl", dec)
})
