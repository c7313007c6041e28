package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
	"github.com/valetauth/valet/mail/smtp"
)

const mailUsage = `Usage:
  valet mail test --to ADDR [--smtp-url URL] [--mail-from ADDR]   send a test message now and show how it went

The message goes straight to the SMTP server, not through the outbox, and the
command prints each step of the conversation: the server's greeting, the TLS
it spoke, the login, and its answer to the message, or where it failed, with
the server's code and words and a hint. It reads --smtp-url, --mail-from and
--mail-templates as valet serve does (flag, environment, --config file);
valet mail test -h lists them.
`

// mailFlags are the mail settings of valet serve and valet mail test.
type mailFlags struct {
	smtpURL   smtpURLFlag
	mailFrom  addressFlag
	templates string
}

func (o *mailFlags) register(fs *flag.FlagSet) {
	fs.Var(&o.smtpURL, "smtp-url", "`URL` of the SMTP server for valet's mail: smtp://user:password@host:587 (STARTTLS required) or smtps://user:password@host:465 (implicit TLS); ?insecure, for test servers only, lets plain text and unverified certificates through (default: none, and mail is written to the log)")
	fs.Var(&o.mailFrom, "mail-from", "sender of valet's mail, an `ADDRESS` such as \"Example <no-reply@example.com>\" (required with --smtp-url)")
	fs.StringVar(&o.templates, "mail-templates", "", "`DIR` of mail templates that replace the built-in ones of the same name (verify.txt, verify.html, recovery.txt, ...)")
}

// validate checks the settings together: --smtp-url needs --mail-from.
func (o *mailFlags) validate() error {
	if o.smtpURL.u != nil && o.mailFrom.s == "" {
		return usageError{"--smtp-url needs --mail-from, the address valet's mail comes from, e.g. --mail-from \"Example <no-reply@example.com>\""}
	}
	return nil
}

// smtpSender returns the sender of --smtp-url, bounding each delivery by
// timeout; nil and no error when --smtp-url is not set, where serve
// uses a mail.LogSender instead.
func (o *mailFlags) smtpSender(timeout time.Duration) (*smtp.Sender, error) {
	if err := o.validate(); err != nil || o.smtpURL.u == nil {
		return nil, err
	}
	s, err := smtp.New(smtp.Config{URL: o.smtpURL.u, From: o.mailFrom.s, Timeout: timeout})
	if err != nil {
		return nil, usageError{"--mail-from: " + valet.Message(err)}
	}
	return s, nil
}

// loadTemplates loads the built-in templates with --mail-templates over
// them; an error names the file.
func (o *mailFlags) loadTemplates() (*mail.Templates, error) {
	ts, err := mail.LoadTemplates(o.templates)
	if err != nil {
		return nil, fmt.Errorf("--mail-templates: %v", err)
	}
	return ts, nil
}

// smtpURLFlag is --smtp-url, parsed as it is set so that a mistake is
// reported with where it was made; it prints without the password.
type smtpURLFlag struct{ u *smtp.URL }

func (f *smtpURLFlag) String() string {
	if f == nil || f.u == nil {
		return ""
	}
	return f.u.String()
}

func (f *smtpURLFlag) Set(s string) error {
	if s == "" {
		f.u = nil
		return nil
	}
	u, err := smtp.ParseURL(s)
	if err != nil {
		return errors.New(valet.Message(err))
	}
	f.u = u
	return nil
}

// addressFlag is an email address, checked as it is set.
type addressFlag struct{ s string }

func (f *addressFlag) String() string {
	if f == nil {
		return ""
	}
	return f.s
}

func (f *addressFlag) Set(s string) error {
	if s == "" {
		f.s = ""
		return nil
	}
	if _, err := mail.ParseAddress(s); err != nil {
		return errors.New(valet.Message(err))
	}
	f.s = s
	return nil
}

func mailCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelpArg(args[0]) {
		return helpRequest{mailUsage}
	}
	if len(args) == 0 || args[0] != "test" {
		if len(args) > 0 {
			if s := suggest(args[0], []string{"test"}); s != "" {
				return usageError{fmt.Sprintf("valet mail: unknown subcommand %q (did you mean %q?); valet mail -h tells more", args[0], s)}
			}
		}
		return usageError{"valet mail: want test; valet mail -h tells more"}
	}
	return mailTestCmd(ctx, args[1:], stdout, stderr)
}

func mailTestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("valet mail test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		config  string
		mf      mailFlags
		to      addressFlag
		timeout time.Duration
	)
	fs.StringVar(&config, "config", "", "read settings from this YAML `FILE`, whose keys are the flag names (see docs/config.md)")
	mf.register(fs)
	fs.Var(&to, "to", "the `ADDRESS` to send the test message to")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "bound on the whole conversation with the server")
	if err := parseFlags(fs, args, &config); err != nil {
		return err
	}
	switch {
	case to.s == "":
		return usageError{"valet mail test: --to is required: the address to send the test message to"}
	case mf.smtpURL.u == nil:
		return usageError{"valet mail test: no SMTP server to test; set --smtp-url (or VALET_SMTP_URL, or smtp-url in the --config file). Without one, valet serve writes mail to its log"}
	case timeout <= 0:
		return usageError{"valet mail test: --timeout must be more than 0"}
	}
	s, err := mf.smtpSender(timeout)
	if err != nil {
		return err
	}
	ts, err := mf.loadTemplates()
	if err != nil {
		return err
	}
	m, err := ts.Render(mail.KindTest, mail.Data{})
	if err != nil {
		return fmt.Errorf("--mail-templates: %v", err)
	}
	m.ID, m.To = valet.NewID(), to.s

	u := mf.smtpURL.u
	fmt.Fprintf(stdout, "sending a test message to %s through %s\n", to.s, u)
	r, err := s.Deliver(ctx, m)
	// What went well is worth saying even when a later step failed.
	if r.Greeting != "" {
		fmt.Fprintf(stdout, "connected to %s, which answered EHLO with: %s\n", r.Addr, r.Greeting)
		fmt.Fprintf(stdout, "encryption: %s\n", tlsLine(r.TLS))
	}
	if r.Auth != "" && (err == nil || stageOf(err) != "auth") {
		fmt.Fprintf(stdout, "signed in: %s\n", r.Auth)
	}
	if err != nil {
		msg := "the test message was not sent: " + oneLine(err)
		if h := mailHint(err, u); h != "" {
			msg += "; " + h
		}
		return errors.New(msg)
	}
	fmt.Fprintf(stdout, "the server took the message: %s\n", r.Answer)
	_, domain, _ := strings.Cut(mustAddress(mf.mailFrom.s), "@")
	fmt.Fprintf(stdout, "sent to %s from %s, Message-ID <%s@%s>; check that it arrived\n", to.s, mf.mailFrom.s, m.ID, domain)
	return nil
}

func tlsLine(tls string) string {
	if tls == "none" {
		return "none (?insecure let the server skip STARTTLS): the message and the password crossed the network in clear"
	}
	return tls
}

func mustAddress(s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return s
	}
	return a.Address
}

func stageOf(err error) string {
	var se *mail.SendError
	if errors.As(err, &se) {
		return se.Stage
	}
	return ""
}

// mailHint says what to try after a failed delivery, in terms of valet's
// flags.
func mailHint(err error, u *smtp.URL) string {
	var se *mail.SendError
	if !errors.As(err, &se) {
		return ""
	}
	port := fmt.Sprint(u.Port)
	switch se.Stage {
	case "connect":
		switch {
		case strings.Contains(se.Text, "refused"):
			return "nothing listens on " + u.Addr() + "; check the host and port of --smtp-url (587 for smtp://, 465 for smtps://) and that the server runs"
		case strings.Contains(se.Text, "no such host"):
			return "the host " + u.Host + " is not known; check the host of --smtp-url"
		case strings.Contains(se.Text, "did not answer"):
			return "the server did not answer; a firewall may drop the connection, or the host or port of --smtp-url is wrong"
		}
		return "check the host and port of --smtp-url and that this machine can reach them"
	case "tls":
		switch {
		case strings.Contains(se.Text, "does not speak TLS"):
			return "port " + port + " starts in plain text; use smtp:// for it, which requires STARTTLS"
		case strings.Contains(se.Text, "certificate"):
			return "the server's certificate is not valid for " + u.Host + ", or no authority this machine trusts signed it; use the host name the certificate names, or, for a test server only, add ?insecure"
		}
		return "the server and valet agree on no TLS version or cipher; valet needs TLS 1.2 or later"
	case "greeting":
		if strings.Contains(se.Text, "did not answer") && !u.ImplicitTLS {
			return "if port " + port + " expects TLS from the first byte (as 465 does), use smtps://"
		}
		return "the server refused the connection; it may limit who may connect, or be busy"
	case "starttls":
		if se.Code == 0 && strings.Contains(se.Text, "does not offer STARTTLS") {
			return "use smtps:// if the server speaks TLS from the start (usually on port 465), or, for a test server only, add ?insecure"
		}
		return "the server offers STARTTLS but did not start it"
	case "auth":
		switch {
		case strings.Contains(se.Text, "offers no AUTH"):
			return "remove user:password@ from --smtp-url if the server needs no login, or use its submission port (587), which offers AUTH after STARTTLS"
		case se.Code == 535 || se.Code == 534 || se.Code == 530 || se.Code == 454:
			return "the server refused the user name or password of --smtp-url; check them, and percent-encode @ : / ? # in the password"
		}
		return "the login failed; check the user name and password of --smtp-url"
	case "mail from":
		if se.Code == 530 || (se.Code == 502 && strings.Contains(strings.ToLower(se.Text), "auth")) {
			return "the server requires a login; put user:password@ in --smtp-url"
		}
		if se.Code >= 500 {
			return "the server refuses the sender --mail-from; use an address that this account may send as"
		}
		return "the server asks to try again later"
	case "rcpt to":
		if se.Code >= 500 {
			return "the server refuses the recipient --to; check the address, or whether the server relays to its domain for this account"
		}
		return "the server asks to try again later, as greylisting servers do at first; valet serve retries by itself"
	case "data":
		if se.Code >= 500 {
			return "the server refused the message itself (spam filter, size or content rules)"
		}
		return "the server asks to try again later"
	}
	return ""
}
