package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/oidc"
)

const clientUsage = `Usage:
  valet client create --name N --redirect-uri URI ... [--public] [--skip-consent]
                      [--backchannel-logout-uri URI] [--post-logout-redirect-uri URI ...] [--scope S ...]
                      [--id-token-alg EdDSA|RS256]
                      create an OpenID Connect client; prints {"client_id","client_secret"} as JSON
                      (the secret is shown this once; a --public client has none)
  valet client list                               list the clients
  valet client delete --id ID                     delete a client, its codes, consents and grants

Each takes the database flags of valet serve (--db, --data-dir, --config, ...);
valet client SUBCOMMAND -h lists them. docs/oidc.md tells how to set up an application.
`

// repeatFlag is a repeatable flag whose values are kept whole: a URL may
// hold a comma.
type repeatFlag []string

func (l *repeatFlag) String() string { return strings.Join(*l, " ") }
func (l *repeatFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func clientCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"valet client: want create, list or delete"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("valet client "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		sf       storeFlags
		spec     oidc.ClientSpec
		redirect repeatFlag
		logout   repeatFlag
		scopes   listFlag
		id       string
	)
	sf.register(fs)
	switch sub {
	case "create":
		fs.StringVar(&spec.Name, "name", "", "the application's name, shown on the consent page")
		fs.Var(&redirect, "redirect-uri", "a redirect URI, compared exactly (repeat for more)")
		fs.BoolVar(&spec.Public, "public", false, "a client without a secret (single-page or mobile app), which must use PKCE")
		fs.BoolVar(&spec.SkipConsent, "skip-consent", false, "a first-party app: no consent page")
		fs.StringVar(&spec.BackchannelLogoutURI, "backchannel-logout-uri", "", "where valet POSTs a logout token when a session the client got tokens from ends")
		fs.Var(&logout, "post-logout-redirect-uri", "an address RP-initiated logout may return to (repeat for more)")
		fs.Var(&scopes, "scope", "a scope the client may ask for: openid, email, profile, offline_access, roles (repeat, or comma-separate; default openid,email,profile,roles)")
		fs.StringVar(&spec.IDTokenAlg, "id-token-alg", "", "sign the client's ID tokens with "+strings.Join(oidc.IDTokenAlgs, " or ")+" (many applications check only RS256; default valet's signing key)")
	case "list":
	case "delete":
		fs.StringVar(&id, "id", "", "the client_id")
	default:
		return usageError{fmt.Sprintf("valet client: unknown subcommand %q", sub)}
	}
	if err := parseFlags(fs, args[1:], &sf.config); err != nil {
		return err
	}
	if sub == "delete" && id == "" {
		return usageError{"valet client delete: --id is required"}
	}
	if sub == "create" && (spec.Name == "" || len(redirect) == 0) {
		return usageError{"valet client create: --name and --redirect-uri are required"}
	}
	b, err := sf.open(ctx, true)
	if err != nil {
		return err
	}
	defer b.Close()
	store := b.stores.Clients
	if store == nil {
		return errors.New("this database keeps no OpenID Connect clients")
	}
	switch sub {
	case "create":
		spec.RedirectURIs, spec.PostLogoutRedirectURIs, spec.Scopes = redirect, logout, scopes
		c, secret, err := oidc.NewClient(ctx, store, spec, time.Now())
		if errors.Is(err, valet.ErrInvalidRequest) {
			return usageError{"valet client create: " + valet.Message(err)}
		}
		if err != nil {
			return fmt.Errorf("cannot create the client: %s", valet.Message(err))
		}
		out := struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret,omitempty"`
		}{c.ID, secret}
		enc := json.NewEncoder(stdout)
		return enc.Encode(out)
	case "list":
		clients, err := store.Clients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tCONSENT\tSCOPES\tREDIRECT_URIS\tBACKCHANNEL_LOGOUT\tCREATED")
		for _, c := range clients {
			kind, consent := "confidential", "asked"
			if c.Public() {
				kind = "public"
			}
			if c.SkipConsent {
				consent = "skipped"
			}
			bl := c.BackchannelLogoutURI
			if bl == "" {
				bl = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, consent, strings.Join(c.Scopes, ","),
				strings.Join(c.RedirectURIs, " "), bl, c.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"))
		}
		return tw.Flush()
	case "delete":
		if err := store.DeleteClient(ctx, id); err != nil {
			if errors.Is(err, valet.ErrNotFound) {
				return fmt.Errorf("no client with id %s", id)
			}
			return err
		}
		fmt.Fprintf(stdout, "deleted client %s with its codes, consents and grants; valet's userinfo refuses its access tokens at once; a service that checks them by signature alone takes them until they expire\n", id)
	}
	return nil
}
