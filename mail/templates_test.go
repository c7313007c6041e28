package mail_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

func loadBuiltin(tb testing.TB) *mail.Templates {
	tb.Helper()
	ts, err := mail.LoadTemplates("")
	if err != nil {
		tb.Fatalf("LoadTemplates: %v", err)
	}
	return ts
}

// TestNoticeWithoutLink: a notice that carries no link says where to sign
// in instead.
func TestNoticeWithoutLink(t *testing.T) {
	m, err := loadBuiltin(t).Render(mail.KindNotice, mail.Data{URL: "https://auth.example.com", Notice: "Your password was set anew."})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Your password was set anew.", "sign in at https://auth.example.com and set a new password"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the text body lacks %q:\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.HTML, `href="https://auth.example.com"`) || strings.Contains(m.Text+m.HTML, "open this link") {
		t.Errorf("the HTML body does not point to the sign-in page alone:\n%s", m.HTML)
	}
}

func TestBuiltinTemplates(t *testing.T) {
	ts := loadBuiltin(t)
	data := mail.Data{
		Site: "Example Shop", URL: "https://auth.example.com", Email: "ada@example.com",
		Link: "https://auth.example.com/verify?token=tok&x=1", Code: "482913", ValidFor: 24 * time.Hour,
		Notice: "Your email address was changed to new@example.com.",
	}
	tests := []struct {
		kind        mail.Kind
		subject     string
		text, html  []string // what each body holds
		notInBodies []string
	}{
		{mail.KindVerify, "Confirm your email address for Example Shop",
			[]string{"ada@example.com", "https://auth.example.com/verify?token=tok&x=1", "482913", "1 day"},
			[]string{`href="https://auth.example.com/verify?token=tok&amp;x=1"`, "482913", "1 day"}, nil},
		{mail.KindRecovery, "Set a new password for Example Shop",
			[]string{"ada@example.com", "https://auth.example.com/verify?token=tok&x=1", "482913", "only once", "leaves a second factor in place"},
			[]string{`href="https://auth.example.com/verify?token=tok&amp;x=1"`, "482913", "leaves a second factor in place"}, nil},
		{mail.KindNotice, "A change to your Example Shop account",
			[]string{"changed to new@example.com", "If it was not you, open this link", "https://auth.example.com/verify?token=tok&x=1", "for 1 day"},
			[]string{"changed to new@example.com", `href="https://auth.example.com/verify?token=tok&amp;x=1"`}, []string{"482913"}},
		{mail.KindTest, "Test message from Example Shop",
			[]string{"valet mail test"}, []string{"valet mail test"}, []string{"482913"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			m, err := ts.Render(tc.kind, data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if m.Kind != tc.kind || m.Subject != tc.subject {
				t.Errorf("Render = kind %q, subject %q; want %q, %q", m.Kind, m.Subject, tc.kind, tc.subject)
			}
			for _, want := range tc.text {
				if !strings.Contains(m.Text, want) {
					t.Errorf("the text body lacks %q:\n%s", want, m.Text)
				}
			}
			for _, want := range tc.html {
				if !strings.Contains(m.HTML, want) {
					t.Errorf("the HTML body lacks %q:\n%s", want, m.HTML)
				}
			}
			for _, no := range tc.notInBodies {
				if strings.Contains(m.Text+m.HTML, no) {
					t.Errorf("the bodies hold %q, which this kind does not show", no)
				}
			}
			if strings.HasPrefix(m.Text, "\n") || !strings.HasSuffix(m.Text, ".\n") {
				t.Errorf("the text body is not trimmed to its lines: %q", m.Text)
			}
			m.To = "ada@example.com"
			if err := m.Validate(); err != nil {
				t.Errorf("the rendered message does not validate: %v", err)
			}
		})
	}
	if _, err := ts.Render("welcome", data); !errors.Is(err, valet.ErrInvalidRequest) {
		t.Errorf("Render of an unknown kind = %v, want ErrInvalidRequest", err)
	}
}

// TestTemplateEscaping: what a user controls (the address) cannot become
// markup, and a link that is not http(s) does not become an href.
func TestTemplateEscaping(t *testing.T) {
	ts := loadBuiltin(t)
	m, err := ts.Render(mail.KindVerify, mail.Data{
		Email: `<script>alert(1)</script>@example.com`, Link: "javascript:alert(1)", Code: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, `href="javascript:`) {
		t.Errorf("the HTML body holds markup from the data:\n%s", m.HTML)
	}
	if !strings.Contains(m.Subject, "valet") {
		t.Errorf("subject %q: want the default site name valet", m.Subject)
	}
}

func writeFiles(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func TestTemplateOverrides(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"verify.txt": `{{define "subject"}}
			Welcome to {{.Site}},
			please confirm
		{{end}}Hi {{.Email}}: {{.Code}}`,
		"README.md":       "not a template",
		".verify.txt.swp": "an editor's file",
	})
	ts, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatalf("LoadTemplates: %v", err)
	}
	m, err := ts.Render(mail.KindVerify, mail.Data{Site: "Shop", Email: "ada@example.com", Code: "42"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Welcome to Shop, please confirm" {
		t.Errorf("subject = %q: want the override's, on one line", m.Subject)
	}
	if m.Text != "Hi ada@example.com: 42\n" {
		t.Errorf("text = %q, want the override's", m.Text)
	}
	if !strings.Contains(m.HTML, "please confirm that <strong>ada@example.com</strong>") {
		t.Errorf("HTML = %q: want the built-in one, which the directory does not replace", m.HTML)
	}
}

func TestTemplateOverrideErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dir   func(t *testing.T) string
		wants []string // what the error says
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			[]string{"mail template directory", "nope", "does not exist"}},
		{"not a directory", func(*testing.T) string { return file }, []string{file, "is not a directory"}},
		{"unknown template", func(t *testing.T) string { return writeFiles(t, map[string]string{"verfy.txt": "x"}) },
			[]string{"verfy.txt", "replaces none of valet's templates", "verify.txt"}},
		{"does not parse", func(t *testing.T) string {
			return writeFiles(t, map[string]string{"recovery.txt": "{{define \"subject\"}}x{{end}}\n{{if .Link}}open"})
		}, []string{"recovery.txt", "does not parse", "recovery.txt:2"}},
		{"HTML does not parse", func(t *testing.T) string {
			return writeFiles(t, map[string]string{"notice.html": "<p>{{.Notice</p>"})
		}, []string{"notice.html", "does not parse"}},
		{"unknown field", func(t *testing.T) string {
			return writeFiles(t, map[string]string{"verify.html": "<p>{{.Token}}</p>"})
		}, []string{"verify.html", "fails on sample data", "Token"}},
		{"unknown function", func(t *testing.T) string {
			return writeFiles(t, map[string]string{"verify.txt": `{{define "subject"}}x{{end}}{{shout .Email}}`})
		}, []string{"verify.txt", "shout"}},
		{"no subject", func(t *testing.T) string { return writeFiles(t, map[string]string{"test.txt": "Hello."}) },
			[]string{"test.txt", "has no subject", `{{define "subject"}}`}},
		{"empty subject", func(t *testing.T) string {
			return writeFiles(t, map[string]string{"test.txt": `{{define "subject"}} {{end}}Hello.`})
		}, []string{"test.txt", "no subject"}},
		{"empty text", func(t *testing.T) string {
			return writeFiles(t, map[string]string{"test.txt": `{{define "subject"}}Hi{{end}}`})
		}, []string{"test.txt", "text body is empty"}},
	}
	if os.Geteuid() != 0 {
		// Root reads any file; the case holds for everyone else.
		tests = append(tests, struct {
			name  string
			dir   func(t *testing.T) string
			wants []string
		}{"unreadable file", func(t *testing.T) string {
			dir := writeFiles(t, map[string]string{"verify.txt": "x"})
			if err := os.Chmod(filepath.Join(dir, "verify.txt"), 0); err != nil {
				t.Fatal(err)
			}
			return dir
		}, []string{"cannot read mail template", "verify.txt", "permission denied"}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mail.LoadTemplates(tc.dir(t))
			if err == nil {
				t.Fatal("LoadTemplates succeeded, want an error")
			}
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	ts := loadBuiltin(t)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{time.Hour, "1 hour"}, {2 * time.Hour, "2 hours"}, {48 * time.Hour, "2 days"}, {15 * time.Minute, "15 minutes"},
		{90 * time.Minute, "90 minutes"}, {30 * time.Second, "30 seconds"}, {61 * time.Second, "2 minutes"},
	} {
		m, err := ts.Render(mail.KindVerify, mail.Data{Email: "a@example.com", Code: "1", ValidFor: tc.d})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Text, "valid for "+tc.want+".") {
			t.Errorf("ValidFor %v: the text does not say %q:\n%s", tc.d, tc.want, m.Text)
		}
	}
}
