// Package api holds valet's HTTP contract: the OpenAPI 3.1 document of the
// JSON API (openapi.yaml, embedded), served as JSON at GET /openapi.json.
// docs/API.md is generated from it; package apitest checks requests and
// responses against it.
package api

//go:generate go run ./internal/gendoc -o ../docs/API.md

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v4"
)

//go:embed openapi.yaml
var source []byte

// Operation is one operation of the document: an HTTP method and a path
// template written as a Go 1.22 ServeMux pattern writes it ("/v1/sessions/{id}").
type Operation struct {
	Method string
	Path   string
}

// Pattern returns o as a ServeMux pattern, "DELETE /v1/sessions/{id}".
func (o Operation) Pattern() string { return o.Method + " " + o.Path }

// methods are the operation keys of a Path Item, in the order they are listed.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

type compiled struct {
	json []byte
	ops  []Operation
}

var load = sync.OnceValues(func() (compiled, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(source, &root); err != nil {
		return compiled{}, fmt.Errorf("api: openapi.yaml: %v", err)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &root); err != nil {
		return compiled{}, fmt.Errorf("api: openapi.yaml: %v", err)
	}
	ops, err := operations(&root)
	if err != nil {
		return compiled{}, fmt.Errorf("api: openapi.yaml: %v", err)
	}
	return compiled{json: buf.Bytes(), ops: ops}, nil
})

func mustLoad() compiled {
	c, err := load()
	if err != nil {
		// The document is embedded: a broken one is a build error that the
		// package's tests catch.
		panic(err)
	}
	return c
}

// JSON returns the document as JSON, keys in the order openapi.yaml writes
// them. It is converted once; the caller gets its own copy. It panics if the
// embedded document is not valid YAML, which the package's tests rule out.
func JSON() []byte { return bytes.Clone(mustLoad().json) }

// Operations returns every operation of the document, in the order
// openapi.yaml lists them, with methods upper-case ("GET").
func Operations() []Operation { return slices.Clone(mustLoad().ops) }

// operations reads the path templates and their methods from the document.
func operations(root *yaml.Node) ([]Operation, error) {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	paths := lookup(doc, "paths")
	if paths == nil || paths.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("no paths")
	}
	var ops []Operation
	for i := 0; i+1 < len(paths.Content); i += 2 {
		path, item := paths.Content[i].Value, paths.Content[i+1]
		if item.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("path %s is not a mapping", path)
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			if m := item.Content[j].Value; slices.Contains(methods, m) {
				ops = append(ops, Operation{Method: strings.ToUpper(m), Path: path})
			}
		}
	}
	return ops, nil
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// writeJSON writes n as JSON, keeping the order of mapping keys.
func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("want one document, have %d", len(n.Content))
		}
		return writeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a key that is not a scalar", k.Line)
			}
			if k.Value == "<<" && k.Tag == "!!merge" {
				return fmt.Errorf("line %d: merge keys are not supported", k.Line)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			key, _ := json.Marshal(k.Value)
			buf.Write(key)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %v", n.Line, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %v", n.Line, err)
		}
		buf.Write(b)
		return nil
	}
	return fmt.Errorf("line %d: unexpected YAML node", n.Line)
}
