package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/api"
	"github.com/valetauth/valet/api/internal/apidoc"
)

// load returns the document as kin-openapi reads it.
func load(tb testing.TB) *openapi3.T {
	tb.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.JSON())
	if err != nil {
		tb.Fatalf("load: %v", err)
	}
	return doc
}

func TestDocumentIsOpenAPI31(t *testing.T) {
	doc := load(t)
	if got, want := doc.OpenAPI, "3.1.0"; got != want {
		t.Errorf("openapi = %q, want %q", got, want)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Error("kin-openapi does not read the document as OpenAPI 3.1")
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestJSONIsTheYAML(t *testing.T) {
	src, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var fromYAML any
	if err := yaml.Unmarshal(src, &fromYAML); err != nil {
		t.Fatal(err)
	}
	// Through JSON, so that both sides have JSON's types.
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(api.JSON(), &got); err != nil {
		t.Fatalf("JSON() is not JSON: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("JSON() does not hold the same document as openapi.yaml")
	}
	if !bytes.HasPrefix(api.JSON(), []byte(`{"openapi":"3.1.0","info":`)) {
		t.Errorf("JSON() does not keep the order of openapi.yaml: it starts %.40s", api.JSON())
	}
	j := api.JSON()
	j[0] = 'x'
	if api.JSON()[0] != '{' {
		t.Error("JSON() hands out its own buffer")
	}
}

func TestOperations(t *testing.T) {
	doc := load(t)
	ops := api.Operations()
	var fromKin []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			fromKin = append(fromKin, method+" "+path)
		}
	}
	var listed []string
	for _, o := range ops {
		listed = append(listed, o.Pattern())
	}
	slices.Sort(fromKin)
	if got, want := slices.Sorted(slices.Values(listed)), fromKin; !slices.Equal(got, want) {
		t.Errorf("Operations() = %v, want %v", got, want)
	}

	mux := http.NewServeMux()
	ids := map[string]string{}
	for _, o := range ops {
		t.Run(o.Pattern(), func(t *testing.T) {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("not a ServeMux pattern, or a duplicate: %v", r)
					}
				}()
				mux.Handle(o.Pattern(), http.NotFoundHandler())
			}()
			op := doc.Paths.Value(o.Path).GetOperation(o.Method)
			if op.OperationID == "" {
				t.Error("no operationId")
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("operationId %q is also %s's", op.OperationID, other)
			}
			ids[op.OperationID] = o.Pattern()
			if op.Summary == "" {
				t.Error("no summary")
			}
			if len(op.Tags) == 0 {
				t.Error("no tag")
			}
			var errs int
			for status := range op.Responses.Map() {
				if code, _ := strconv.Atoi(status); code >= 400 || status == "default" {
					errs++
				}
			}
			if errs == 0 {
				t.Error("no error response is documented")
			}
			if op.RequestBody != nil {
				for mt, c := range op.RequestBody.Value.Content {
					if s := c.Schema.Value; s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
						t.Errorf("request body %s does not refuse unknown fields (additionalProperties: false)", mt)
					}
				}
			}
		})
	}
}

// TestServedRoutes checks the document against the routes httpapi
// registers, read from its source so that this test does not depend on it
// compiling.
func TestServedRoutes(t *testing.T) {
	served := servedRoutes(t, filepath.Join("..", "httpapi"))
	documented := map[string]bool{}
	for _, o := range api.Operations() {
		documented[o.Pattern()] = true
	}
	for _, p := range served {
		if !strings.Contains(p, " ") {
			continue // the catch-all that answers not_found
		}
		if !documented[p] {
			t.Errorf("httpapi serves %s, which openapi.yaml does not document", p)
		}
	}
	for p := range documented {
		if !slices.Contains(served, p) {
			t.Errorf("openapi.yaml documents %s, which httpapi does not serve", p)
		}
	}
}

func servedRoutes(tb testing.TB, dir string) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no Go files in %s: %v", dir, err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			tb.Fatalf("parse %s: %v", name, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc" {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if p, err := strconv.Unquote(lit.Value); err == nil {
					out = append(out, p)
				}
			}
			return true
		})
	}
	if len(out) == 0 {
		tb.Fatalf("found no routes in %s", dir)
	}
	return out
}

// errorCodes returns the codes that the "error" member of s may take, or
// nil when s does not constrain it.
func errorCodes(s *openapi3.SchemaRef) []string {
	if s == nil || s.Value == nil {
		return nil
	}
	var out []string
	narrow := func(c []string) {
		switch {
		case c == nil:
		case out == nil:
			out = c
		default:
			out = slices.DeleteFunc(out, func(x string) bool { return !slices.Contains(c, x) })
		}
	}
	if e := s.Value.Properties["error"]; e != nil && e.Value != nil && e.Value.Enum != nil {
		var c []string
		for _, v := range e.Value.Enum {
			c = append(c, v.(string))
		}
		narrow(c)
	}
	for _, part := range s.Value.AllOf {
		narrow(errorCodes(part))
	}
	// One of several shapes carries the codes of any of them.
	var union []string
	for _, part := range s.Value.OneOf {
		for _, c := range errorCodes(part) {
			if !slices.Contains(union, c) {
				union = append(union, c)
			}
		}
	}
	narrow(union)
	return out
}

func TestErrorCodes(t *testing.T) {
	doc := load(t)
	code := doc.Components.Schemas["ErrorCode"].Value
	var enum []string
	for _, v := range code.Enum {
		enum = append(enum, v.(string))
	}
	want := valet.Codes()
	if got := slices.Sorted(slices.Values(enum)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Errorf("ErrorCode enum = %v, want valet.Codes() %v", got, slices.Sorted(maps.Keys(want)))
	}
	meta, _ := code.Extensions["x-valet-codes"].(map[string]any)
	got := map[string]int{}
	for c, m := range meta {
		entry, _ := m.(map[string]any)
		status, _ := entry["status"].(float64)
		got[c] = int(status)
		if s, _ := entry["summary"].(string); s == "" {
			t.Errorf("x-valet-codes: %s has no summary", c)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("x-valet-codes statuses = %v, want valet.Codes() %v", got, want)
	}
	if e := doc.Components.Schemas["Error"].Value; !slices.Equal(e.Required, []string{"error", "message"}) ||
		e.AdditionalProperties.Has == nil || *e.AdditionalProperties.Has {
		t.Error(`Error is not exactly {"error", "message"}`)
	}
}

// TestErrorResponses checks every error response of every operation: its
// codes have its status, 429 and 503 promise Retry-After, and 401 documents
// WWW-Authenticate.
func TestErrorResponses(t *testing.T) {
	doc := load(t)
	statuses := valet.Codes()
	for _, o := range api.Operations() {
		op := doc.Paths.Value(o.Path).GetOperation(o.Method)
		for status, ref := range op.Responses.Map() {
			code, _ := strconv.Atoi(status)
			if code < 400 {
				continue
			}
			r := ref.Value
			c := r.Content.Get("application/json")
			if c == nil {
				if o.Pattern() != "GET /metrics" {
					t.Errorf("%s %s: not the JSON error shape", o.Pattern(), status)
				}
				continue
			}
			codes := errorCodes(c.Schema)
			if len(codes) == 0 || len(codes) == len(statuses) {
				t.Errorf("%s %s: the response does not say which error codes it carries", o.Pattern(), status)
			}
			for _, ec := range codes {
				if statuses[ec] != code {
					t.Errorf("%s %s: code %s has status %d", o.Pattern(), status, ec, statuses[ec])
				}
			}
			if code == 429 || code == 503 {
				if h := r.Headers["Retry-After"]; h == nil || !h.Value.Required {
					t.Errorf("%s %s: Retry-After is not a required header", o.Pattern(), status)
				}
			}
			if code == 401 && r.Headers["WWW-Authenticate"] == nil {
				t.Errorf("%s %s: WWW-Authenticate is not documented", o.Pattern(), status)
			}
		}
	}
}

func TestSecuritySchemes(t *testing.T) {
	doc := load(t)
	tests := []struct {
		name, typ, in, key, scheme string
	}{
		{"sessionCookie", "apiKey", "cookie", "__Host-valet_session", ""},
		{"legacySessionCookie", "apiKey", "cookie", "valet_session", ""},
		{"bearerToken", "http", "", "", "bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := doc.Components.SecuritySchemes[tc.name]
			if ref == nil {
				t.Fatal("missing")
			}
			s := ref.Value
			if got, want := [4]string{s.Type, s.In, s.Name, s.Scheme}, [4]string{tc.typ, tc.in, tc.key, tc.scheme}; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// TestDocsUpToDate fails when docs/API.md is not what the generator makes of
// openapi.yaml. Run go generate ./api to fix it.
func TestDocsUpToDate(t *testing.T) {
	want, err := apidoc.Markdown()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "docs", "API.md"))
	if err != nil {
		t.Fatalf("%v; run go generate ./api", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		i := 0
		for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
			i++
		}
		line := func(l []string) string {
			if i < len(l) {
				return l[i]
			}
			return "(end of file)"
		}
		t.Errorf("docs/API.md is not generated from the current openapi.yaml; run go generate ./api\nline %d:\n have %q\n want %q", i+1, line(gl), line(wl))
	}
}
