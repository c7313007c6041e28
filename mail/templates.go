package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/valetauth/valet"
)

//go:embed templates/*.txt templates/*.html
var builtin embed.FS

// Data is what the templates read. The built-in templates use every field;
// an operator's templates may use any of them, and no other.
type Data struct {
	// Site is the name of the service as the recipient knows it; Render
	// uses "valet" when it is empty.
	Site string
	// URL is the service's public address (valet's --public-url), for
	// "sign in at ..."; may be empty.
	URL string
	// Email is the address the message is about.
	Email string
	// Link is the link to open (to verify, to recover); may be empty.
	Link string
	// Code is the code to enter instead of opening the link; may be empty.
	Code string
	// ValidFor is how long Link and Code stay valid; zero says nothing.
	ValidFor time.Duration
	// Notice is the sentence of a notice, such as "Your email address was
	// changed to new@example.com."
	Notice string
}

// sample is what templates are tried with when they are loaded, so that a
// template that names a field Data does not have fails at start.
var sample = Data{
	Site: "Example", URL: "https://auth.example.com", Email: "ada@example.com",
	Link: "https://auth.example.com/verify?token=sample", Code: "123456",
	ValidFor: time.Hour, Notice: "Your email address was changed.",
}

// Templates renders messages from a text and an HTML template per Kind.
// The text template defines the subject as {{define "subject"}}...{{end}}.
// A Templates is safe for concurrent use.
type Templates struct {
	text map[Kind]*texttemplate.Template
	html map[Kind]*htmltemplate.Template
}

// funcs are the functions templates may call besides the built-in ones.
var funcs = map[string]any{
	// duration writes a time.Duration as people say it: "1 hour",
	// "15 minutes", "2 days".
	"duration": humanDuration,
}

// LoadTemplates returns the built-in templates, or with dir not empty,
// those with each file of dir named like one of them (verify.txt,
// recovery.html, ...) in its place. Every template is parsed and tried on
// sample data now, so that a broken one stops the server at start rather
// than a mail later. The error names the file: a dir that is missing,
// unreadable or not a directory; a *.txt or *.html file that is not one
// of the templates' names; a file that cannot be read, does not parse,
// fails on the sample data, has no subject, or renders a subject with a
// line break.
func LoadTemplates(dir string) (*Templates, error) {
	files := map[string][]byte{}
	for _, k := range Kinds() {
		for _, ext := range []string{".txt", ".html"} {
			name := string(k) + ext
			b, err := builtin.ReadFile(path.Join("templates", name))
			if err != nil {
				panic("mail: built-in template " + name + " is missing")
			}
			files[name] = b
		}
	}
	where := func(name string) string { return "built-in mail template " + name }
	if dir != "" {
		if err := readOverrides(dir, files); err != nil {
			return nil, err
		}
		where = func(name string) string {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				return "mail template " + p
			}
			return "built-in mail template " + name
		}
	}
	t := &Templates{text: map[Kind]*texttemplate.Template{}, html: map[Kind]*htmltemplate.Template{}}
	for _, k := range Kinds() {
		txt, html := string(k)+".txt", string(k)+".html"
		tt, err := texttemplate.New(txt).Funcs(funcs).Option("missingkey=error").Parse(string(files[txt]))
		if err != nil {
			return nil, fmt.Errorf("%s does not parse: %v", where(txt), err)
		}
		if tt.Lookup("subject") == nil {
			return nil, fmt.Errorf(`%s has no subject: it must define one, as {{define "subject"}}Your subject{{end}}`, where(txt))
		}
		ht, err := htmltemplate.New(html).Funcs(funcs).Option("missingkey=error").Parse(string(files[html]))
		if err != nil {
			return nil, fmt.Errorf("%s does not parse: %v", where(html), err)
		}
		t.text[k], t.html[k] = tt, ht
		if _, err := t.render(k, sample); err != nil {
			var re *renderError
			if errors.As(err, &re) {
				return nil, fmt.Errorf("%s fails on sample data: %v", where(re.file), re.err)
			}
			return nil, err
		}
	}
	return t, nil
}

// readOverrides reads the templates in dir into files, refusing any *.txt
// or *.html file that replaces none. Other files (a README, an editor's
// backup) are left alone.
func readOverrides(dir string, files map[string][]byte) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("mail template directory %s does not exist", dir)
	case err != nil:
		return fmt.Errorf("cannot read the mail template directory %s: %v", dir, unwrapPath(err))
	case !fi.IsDir():
		return fmt.Errorf("the mail template directory %s is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cannot read the mail template directory %s: %v", dir, unwrapPath(err))
	}
	var known []string
	for name := range files {
		known = append(known, name)
	}
	slices.Sort(known)
	for _, e := range entries {
		name := e.Name()
		if ext := path.Ext(name); ext != ".txt" && ext != ".html" || strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		if _, ok := files[name]; !ok {
			return fmt.Errorf("mail template %s replaces none of valet's templates; their names are %s", p, strings.Join(known, ", "))
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("cannot read mail template %s: %v", p, unwrapPath(err))
		}
		files[name] = b
	}
	return nil
}

// unwrapPath drops the operation and path of a *fs.PathError, which the
// message names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// renderError is a template that failed, with the file it came from.
type renderError struct {
	file string
	err  error
}

func (e *renderError) Error() string { return fmt.Sprintf("mail template %s: %v", e.file, e.err) }

// Render renders the templates of kind with data into a Message whose Kind,
// Subject, Text and HTML are set; the caller sets To, and ID if it wants
// its own. The subject is one line: runs of white space, line breaks
// included, become one space. It returns an error wrapping
// valet.ErrInvalidRequest for a kind with no templates, and the
// template's error (naming the file) when it fails on data.
func (t *Templates) Render(kind Kind, data Data) (Message, error) {
	if _, ok := t.text[kind]; !ok {
		return Message{}, fmt.Errorf("mail: no templates for messages of kind %q: %w", kind, valet.ErrInvalidRequest)
	}
	return t.render(kind, data)
}

func (t *Templates) render(kind Kind, data Data) (Message, error) {
	if data.Site == "" {
		data.Site = "valet"
	}
	tt, ht := t.text[kind], t.html[kind]
	var subj, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subj, "subject", data); err != nil {
		return Message{}, &renderError{tt.Name(), err}
	}
	if err := tt.Execute(&text, data); err != nil {
		return Message{}, &renderError{tt.Name(), err}
	}
	if err := ht.Execute(&html, data); err != nil {
		return Message{}, &renderError{ht.Name(), err}
	}
	m := Message{
		Kind:    kind,
		Subject: strings.Join(strings.Fields(subj.String()), " "),
		Text:    strings.TrimRight(strings.TrimLeft(text.String(), "\r\n"), " \t\r\n") + "\n",
		HTML:    strings.TrimSpace(html.String()),
	}
	if err := checkSubject(m.Subject); err != nil {
		return Message{}, &renderError{tt.Name(), err}
	}
	if strings.TrimSpace(m.Text) == "" {
		return Message{}, &renderError{tt.Name(), errors.New("the text body is empty")}
	}
	return m, nil
}

// humanDuration writes d in the largest unit that divides it, or else in
// minutes rounded up: "1 hour", "90 minutes", "2 days".
func humanDuration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d <= 0:
		return unit(0, "minute")
	case d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	case d < time.Minute:
		return unit(int64((d+time.Second-1)/time.Second), "second")
	}
	return unit(int64((d+time.Minute-1)/time.Minute), "minute")
}
