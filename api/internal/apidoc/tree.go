package apidoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// node is a JSON value that keeps the order of object members, so that the
// reference lists fields in the order the document writes them.
type node struct {
	keys  []string
	vals  map[string]*node // nil unless an object
	arr   []*node          // nil unless an array (or empty array)
	isArr bool
	val   any // string, json.Number, bool or nil for scalars
}

func parse(b []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the document")
	}
	return n, nil
}

func parseValue(dec *json.Decoder) (*node, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		n := &node{vals: map[string]*node{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			if _, dup := n.vals[k]; !dup {
				n.keys = append(n.keys, k)
			}
			n.vals[k] = v
		}
		_, err := dec.Token()
		return n, err
	case json.Delim('['):
		n := &node{isArr: true}
		for dec.More() {
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			n.arr = append(n.arr, v)
		}
		_, err := dec.Token()
		return n, err
	}
	return &node{val: t}, nil
}

// get returns member k of an object, or nil.
func (n *node) get(k string) *node {
	if n == nil || n.vals == nil {
		return nil
	}
	return n.vals[k]
}

// str returns member k as a string, or "".
func (n *node) str(k string) string {
	v := n.get(k)
	if v == nil {
		return ""
	}
	s, _ := v.val.(string)
	return s
}

func (n *node) boolean(k string) bool {
	v := n.get(k)
	return v != nil && v.val == true
}

// strs returns an array of strings (or a lone string) as a slice.
func (n *node) strs() []string {
	if n == nil {
		return nil
	}
	if !n.isArr {
		if s := n.scalar(); s != "" {
			return []string{s}
		}
		return nil
	}
	out := make([]string, 0, len(n.arr))
	for _, e := range n.arr {
		out = append(out, e.scalar())
	}
	return out
}

// scalar writes a scalar as the document would: strings bare, others as JSON.
func (n *node) scalar() string {
	switch v := n.val.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		if n.vals != nil || n.isArr {
			return ""
		}
		return "null"
	}
	return fmt.Sprint(n.val)
}

// literal writes a scalar as a JSON literal: strings quoted.
func (n *node) literal() string {
	if s, ok := n.val.(string); ok {
		return strconv.Quote(s)
	}
	return n.scalar()
}

// lookup follows a local JSON pointer ("#/components/schemas/User").
func (root *node) lookup(ref string) (*node, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	n := root
	for _, seg := range strings.Split(p, "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		if n = n.get(seg); n == nil {
			return nil, fmt.Errorf("$ref %q points nowhere", ref)
		}
	}
	return n, nil
}

// refName returns the last segment of n's $ref, or "".
func (n *node) refName() string {
	r := n.str("$ref")
	if i := strings.LastIndexByte(r, '/'); i >= 0 {
		return r[i+1:]
	}
	return ""
}
