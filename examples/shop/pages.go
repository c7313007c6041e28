package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
)

//go:embed templates/*.html
var templateFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"money": func(cents int) string { return fmt.Sprintf("€%d.%02d", cents/100, cents%100) },
}).ParseFS(templateFiles, "templates/*.html"))

// page is what every page shows in its header.
type page struct {
	Title     string
	User      *valet.User
	CartCount int
	IsAdmin   bool
}

// newPage fills the header for the caller of r.
func (a *app) newPage(r *http.Request, title string) (page, error) {
	p := page{Title: title}
	if u, ok := valet.UserFrom(r.Context()); ok {
		p.User, p.IsAdmin = &u, u.HasRole("admin")
		c, err := a.carts.get(r.Context(), u.ID)
		if err != nil {
			return p, err
		}
		p.CartCount = c.Count()
	}
	return p, nil
}

func (a *app) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := templates.ExecuteTemplate(w, name, data); err != nil {
		a.log.ErrorContext(r.Context(), "rendering a page failed", "page", name, "err", err)
	}
}

func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	status := http.StatusInternalServerError
	if errors.Is(err, valet.ErrUnavailable) {
		status = http.StatusServiceUnavailable
	}
	http.Error(w, "Something went wrong on our side; try again shortly.", status)
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	p, err := a.newPage(r, "Shop")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "home.html", struct {
		page
		Products []product
	}{p, catalogue})
}

func (a *app) productPage(w http.ResponseWriter, r *http.Request) {
	prod, ok := productByID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	p, err := a.newPage(r, prod.Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "product.html", struct {
		page
		Product product
	}{p, prod})
}

func (a *app) cartPage(w http.ResponseWriter, r *http.Request) {
	u, _ := valet.UserFrom(r.Context())
	c, err := a.carts.get(r.Context(), u.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.newPage(r, "Your cart")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "cart.html", struct {
		page
		Cart cart
	}{p, c})
}

func (a *app) addToCart(w http.ResponseWriter, r *http.Request) {
	u, _ := valet.UserFrom(r.Context())
	n := 1
	if q := r.PostFormValue("quantity"); q != "" {
		var err error
		if n, err = strconv.Atoi(q); err != nil {
			http.Error(w, "The quantity must be a number.", http.StatusBadRequest)
			return
		}
	}
	if err := a.carts.add(r.Context(), u.ID, r.PostFormValue("product"), n); err != nil {
		http.Error(w, "Cannot add that to the cart: "+err.Error()+".", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

func (a *app) removeFromCart(w http.ResponseWriter, r *http.Request) {
	u, _ := valet.UserFrom(r.Context())
	if err := a.carts.remove(r.Context(), u.ID, r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/cart", http.StatusSeeOther)
}

func (a *app) adminPage(w http.ResponseWriter, r *http.Request) {
	users, total, err := a.svc.ListUsers(r.Context(), valet.UserQuery{Limit: 100})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	counts, err := a.carts.counts(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.newPage(r, "Admin")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "admin.html", struct {
		page
		Users  []valet.User
		Total  int
		Counts map[string]int
	}{p, users, total, counts})
}

// authForm is the sign-in or sign-up form, shown again after a failure.
type authForm struct {
	page
	Email    string
	ReturnTo string
	Error    string
}

func (a *app) loginPage(w http.ResponseWriter, r *http.Request) {
	p, err := a.newPage(r, "Sign in")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "login.html", authForm{page: p, ReturnTo: safeReturn(r.URL.Query().Get("return_to"))})
}

func (a *app) signupPage(w http.ResponseWriter, r *http.Request) {
	p, err := a.newPage(r, "Create an account")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "signup.html", authForm{page: p, ReturnTo: safeReturn(r.URL.Query().Get("return_to"))})
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	email, pw := r.PostFormValue("email"), r.PostFormValue("password")
	returnTo := safeReturn(r.PostFormValue("return_to"))
	if err := a.startSession(w, r, email, pw); err != nil {
		p, perr := a.newPage(r, "Sign in")
		if perr != nil {
			a.fail(w, r, perr)
			return
		}
		status, msg := formError(err)
		if status == 0 {
			a.fail(w, r, err)
			return
		}
		a.render(w, r, status, "login.html", authForm{page: p, Email: email, ReturnTo: returnTo, Error: msg})
		return
	}
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
}

func (a *app) signup(w http.ResponseWriter, r *http.Request) {
	email, pw := r.PostFormValue("email"), r.PostFormValue("password")
	returnTo := safeReturn(r.PostFormValue("return_to"))
	err := a.createAccount(r.Context(), email, pw, a.client(r))
	if err == nil {
		err = a.startSession(w, r, email, pw)
	}
	if err != nil {
		p, perr := a.newPage(r, "Create an account")
		if perr != nil {
			a.fail(w, r, perr)
			return
		}
		status, msg := formError(err)
		if status == 0 {
			a.fail(w, r, err)
			return
		}
		a.render(w, r, status, "signup.html", authForm{page: p, Email: email, ReturnTo: returnTo, Error: msg})
		return
	}
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
}

// createAccount signs a user up, with the admin role for cfg.AdminEmail.
func (a *app) createAccount(ctx context.Context, email, pw string, c auth.Client) error {
	u, err := a.svc.Signup(ctx, email, pw, c)
	if err != nil {
		return err
	}
	if a.isAdminEmail(u.Email) {
		roles := []string{"admin"}
		_, _, err = a.svc.UpdateUser(ctx, u.ID, auth.UserPatch{Roles: &roles}, c)
	}
	return err
}

// startSession logs the user in, in session mode, and hands the browser
// its cookie. The session this browser had before, if any, ends: one login,
// one session.
func (a *app) startSession(w http.ResponseWriter, r *http.Request, email, pw string) error {
	g, err := a.svc.Login(r.Context(), email, pw, valet.ModeSession, a.client(r))
	if err != nil {
		return err
	}
	if old := valet.IdentityFrom(r.Context()); old != nil {
		_ = a.svc.Logout(r.Context(), old, a.client(r))
	}
	http.SetCookie(w, &http.Cookie{
		Name: "valet_session", Value: g.Cookie, Path: "/",
		Expires: g.Session.ExpiresAt, MaxAge: int(time.Until(g.Session.ExpiresAt).Seconds()),
		HttpOnly: true, Secure: !a.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	if id := valet.IdentityFrom(r.Context()); id != nil {
		if err := a.svc.Logout(r.Context(), id, a.client(r)); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: "valet_session", Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: !a.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) client(r *http.Request) auth.Client {
	ip := r.RemoteAddr
	if i := strings.LastIndexByte(ip, ':'); i >= 0 {
		ip = ip[:i]
	}
	return auth.Client{UserAgent: r.UserAgent(), IP: ip}
}

// formError returns the status and sentence to show for a failed sign-in or
// sign-up, or status 0 for a failure that is not the user's.
func formError(err error) (int, string) {
	switch {
	case errors.Is(err, valet.ErrInvalidCredentials):
		return http.StatusUnauthorized, "Wrong email or password."
	case errors.Is(err, valet.ErrUserDisabled):
		return http.StatusForbidden, "This account is disabled."
	case errors.Is(err, valet.ErrConflict):
		return http.StatusConflict, "An account with this email already exists; sign in instead."
	case errors.Is(err, valet.ErrInvalidEmail):
		return http.StatusBadRequest, "Enter an email address like name@example.com."
	case errors.Is(err, valet.ErrWeakPassword):
		return http.StatusBadRequest, sentence(err)
	case errors.Is(err, valet.ErrRateLimited):
		return http.StatusTooManyRequests, "Too many attempts; try again in a minute."
	}
	return 0, ""
}

// sentence returns the last clause of err, capitalized, as a sentence.
func sentence(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// safeReturn keeps a return_to that is a path on this site, and sends
// anything else (another site, "//evil.example") home.
func safeReturn(s string) string {
	u, err := url.Parse(s)
	if err != nil || s == "" || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return s
}
