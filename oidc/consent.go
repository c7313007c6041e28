package oidc

import (
	"net/http"
	"slices"
	"sort"

	"github.com/valetauth/valet"
)

// scopeText says what each scope gives, for the consent page.
var scopeText = map[string]string{
	ScopeOpenID:        "who you are on valet (your account id)",
	ScopeEmail:         "your email address and whether it is verified",
	ScopeProfile:       "your profile",
	ScopeOfflineAccess: "access while you are away",
	ScopeRoles:         "your roles",
}

// ConsentHandler returns the handler of the consent step, served at
// Config.ConsentURL (Handler serves it there too). The authorize endpoint
// sends the browser to it with the authorization request's parameters.
//
// GET checks the request again, as the authorize endpoint does, and shows
// the client's name and the scopes it asks for with Allow and Deny. POST
// (the form of that page) checks the request once more: Allow stores the
// user's consent to the scopes (added to those given before) and sends the
// browser back to the client with a code; Deny sends it back with
// access_denied. POST is refused from another origin
// (http.CrossOriginProtection), and the page may not be framed.
func (p *Provider) ConsentHandler() http.Handler {
	cop := http.NewCrossOriginProtection()
	return cop.Handler(http.HandlerFunc(p.consent))
}

func (p *Provider) consent(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		errorPage(w, http.StatusMethodNotAllowed, "This address takes GET and POST.")
		return
	}
	if !readForm(w, r) {
		errorPage(w, http.StatusBadRequest, "The request is malformed or too large.")
		return
	}
	form := r.Form
	if r.Method == http.MethodPost {
		form = r.PostForm
	}
	a, aerr, err := p.parseAuthorize(r.Context(), form)
	if err != nil {
		p.serverError(w, r, "consent", err)
		return
	}
	if aerr != nil {
		p.refuse(w, r, a, aerr)
		return
	}
	id := p.identify(r)
	if p.requireLogin(w, r, a, id) {
		return
	}
	if r.Method == http.MethodGet {
		p.consentPage(w, a, id)
		return
	}
	switch form.Get("decision") {
	case "allow":
	case "deny":
		p.refuse(w, r, a, &authError{oauthError: oerr(errAccessDenied, "The user did not allow the application."), redirect: true})
		return
	default:
		errorPage(w, http.StatusBadRequest, "Choose Allow or Deny.")
		return
	}
	ctx := r.Context()
	scopes := slices.Clone(a.scopes)
	old, found, err := p.cfg.Clients.Consent(ctx, id.User.ID, a.client.ID)
	if err != nil {
		p.serverError(w, r, "consent", err)
		return
	}
	if found {
		for _, s := range old.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	sort.Strings(scopes)
	c := valet.Consent{UserID: id.User.ID, ClientID: a.client.ID, Scopes: scopes, CreatedAt: p.now()}
	if err := p.cfg.Clients.SetConsent(ctx, c); err != nil {
		p.serverError(w, r, "consent", err)
		return
	}
	p.issueCode(w, r, a, id)
}

func (p *Provider) consentPage(w http.ResponseWriter, a *authRequest, id *valet.Identity) {
	var scopes []string
	for _, s := range a.scopes {
		scopes = append(scopes, scopeText[s])
	}
	var fields []field
	for _, name := range authorizeParams {
		if v, ok := a.params[name]; ok {
			fields = append(fields, field{Name: name, Value: v[0]})
		}
	}
	name := a.client.Name
	if name == "" {
		name = a.client.ID
	}
	render(w, http.StatusOK, "consent", page{
		Title: "Allow " + name + "?", Client: name, Email: id.User.Email, Scopes: scopes,
		Action: p.cfg.ConsentURL, Fields: fields,
	})
}
