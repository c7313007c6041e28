package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/valetauth/valet/password"
)

// pageNames are the templates in templates/, each rendered inside layout.html.
var pageNames = []string{"signin", "signout", "account", "admin", "error", "recovery", "verify", "signup", "mfa", "totp", "codes"}

func parseTemplates() map[string]*template.Template {
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t := template.New("").Funcs(funcs)
		out[name] = template.Must(t.ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}

var funcs = template.FuncMap{
	"asset": assetURL,
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2 Jan 2006, 15:04 UTC")
	},
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join":     strings.Join,
	"field":    newField,
	"optional": optionalField,
	"dur":      humanDuration,
	"add":      func(a, b int) int { return a + b },
}

// asset is one embedded file, served under a name that changes with its
// content so that browsers may cache it for good.
type asset struct {
	body        []byte
	contentType string
	version     string
}

var assets = func() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(assetFS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assetFS, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[p] = asset{body: b, contentType: ct, version: hex.EncodeToString(sum[:6])}
		return nil
	})
	if err != nil {
		panic("web: reading embedded assets: " + err.Error())
	}
	return out
}()

// assetURL returns the versioned address of an embedded asset. It panics
// for a name that is not embedded, so a typo fails the first render in tests.
func assetURL(name string) string {
	a, ok := assets[name]
	if !ok {
		panic("web: no asset " + name)
	}
	return "/assets/" + name + "?v=" + a.version
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", `"`+a.version+`"`)
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// fieldData is one labelled input of a form, with its hint and error.
type fieldData struct {
	ID, Name, Label, Type, Autocomplete string
	// Value is what was typed before; never set for a password.
	Value, Error, Hint string
	MinLength          int
	// Focus puts the cursor here when the page loads, as after a wrong
	// password.
	Focus bool
	// Optional leaves the field out of the browser's required check.
	Optional bool
}

// newField describes the input name of form f. A password field never gets
// its value back, and a new password states the minimum length so that
// the browser can say so before the post.
func newField(f formState, id, name, label, typ, autocomplete, hint string) fieldData {
	d := fieldData{ID: id, Name: name, Label: label, Type: typ, Autocomplete: autocomplete, Hint: hint,
		Error: f.FieldError(name), Focus: f.Focus == name}
	if typ == "email" {
		d.Value = f.Email
	}
	if autocomplete == "new-password" {
		d.MinLength = password.MinLength
	}
	return d
}

// optionalField is newField for a field that may be left empty.
func optionalField(f formState, id, name, label, typ, autocomplete, hint string) fieldData {
	d := newField(f, id, name, label, typ, autocomplete, hint)
	d.Optional = true
	return d
}

// humanDuration says d in words: "15 minutes", "1 hour", "90 seconds".
func humanDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return plural(int(d.Round(time.Second)/time.Second), "second")
}
