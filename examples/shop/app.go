package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/middleware"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/session"
	"github.com/valetauth/valet/store/sqlite"
)

// config is what the shop is started with.
type config struct {
	// DataDir holds shop.db: the shop's carts and valet's users and
	// sessions, in one SQLite file.
	DataDir string
	// AdminEmail is the account that gets the admin role, when it exists
	// at start and when it signs up.
	AdminEmail string
	// InsecureCookies drops the Secure attribute of the session cookie, for
	// a plain-HTTP host other than localhost.
	InsecureCookies bool
	// Hasher hashes passwords; default valet's defaults.
	Hasher *password.Hasher
	Logger *slog.Logger
}

// app is the shop: valet embedded as a library, pages for browsers, a JSON
// API for the mobile app.
type app struct {
	cfg    config
	db     *sql.DB
	store  *sqlite.DB
	svc    *auth.Service
	carts  *carts
	pages  *middleware.Middleware
	mobile *middleware.Middleware
	log    *slog.Logger
	cancel context.CancelFunc
}

// newApp opens (or creates) the shop in cfg.DataDir.
func newApp(cfg config) (*app, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	// The shop's own pool: its tables and valet's live in the same file.
	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(cfg.DataDir, "shop.db")))
	if err != nil {
		return nil, err
	}
	// The context lives as long as the app: valet's revocation set follows
	// it in the background.
	ctx, cancel := context.WithCancel(context.Background())
	a := &app{cfg: cfg, db: db, carts: &carts{db: db}, log: cfg.Logger, cancel: cancel}
	if err := a.open(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) open(ctx context.Context) error {
	var err error
	if a.store, err = sqlite.New(ctx, a.db); err != nil {
		return err
	}
	if err := a.carts.migrate(ctx); err != nil {
		return err
	}
	a.svc, err = auth.New(ctx, auth.Config{
		Stores: a.store.Stores(),
		Hasher: a.cfg.Hasher,
		Mode:   valet.ModeSession,
		Logger: a.log,
	})
	if err != nil {
		return err
	}
	// Pages read the session cookie only; the mobile API reads only Bearer
	// tokens, so a browser's cookie can never be used against it.
	a.pages = middleware.New(a.svc, middleware.Config{
		Credentials: middleware.FromCookie,
		LoginURL:    "/login",
		Logger:      a.log,
	})
	a.mobile = middleware.New(a.svc, middleware.Config{Credentials: middleware.FromBearer, Logger: a.log})
	return a.grantAdmin(ctx)
}

// Close stops the shop and closes its database.
func (a *app) Close() {
	a.cancel()
	if a.store != nil {
		_ = a.store.Close()
	}
	_ = a.db.Close()
}

// Handler returns every route of the shop.
func (a *app) Handler() http.Handler {
	// valet's JSON API, under /auth: the mobile app logs in at
	// /auth/v1/login with mode "token".
	api := httpapi.New(a.svc, httpapi.Config{Cookie: session.Cookie{Insecure: a.cfg.InsecureCookies}, LoginURL: "/login", Logger: a.log})

	pages := http.NewServeMux()
	pages.HandleFunc("GET /{$}", a.home)
	pages.HandleFunc("GET /products/{id}", a.productPage)
	pages.Handle("GET /cart", a.pages.Require(http.HandlerFunc(a.cartPage)))
	pages.Handle("POST /cart/items", a.pages.Require(http.HandlerFunc(a.addToCart)))
	pages.Handle("POST /cart/items/{id}/delete", a.pages.Require(http.HandlerFunc(a.removeFromCart)))
	pages.Handle("GET /admin", a.pages.RequireRole("admin")(http.HandlerFunc(a.adminPage)))
	pages.HandleFunc("GET /login", a.loginPage)
	pages.HandleFunc("POST /login", a.login)
	pages.HandleFunc("GET /signup", a.signupPage)
	pages.HandleFunc("POST /signup", a.signup)
	pages.HandleFunc("POST /logout", a.logout)

	mobile := http.NewServeMux()
	mobile.HandleFunc("GET /api/products", a.apiProducts)
	mobile.Handle("GET /api/cart", a.mobile.Require(http.HandlerFunc(a.apiCart)))
	mobile.Handle("POST /api/cart/items", a.mobile.Require(http.HandlerFunc(a.apiAdd)))
	mobile.Handle("DELETE /api/cart/items/{id}", a.mobile.Require(http.HandlerFunc(a.apiRemove)))

	root := http.NewServeMux()
	root.Handle("/auth/", http.StripPrefix("/auth", api))
	root.Handle("/api/", a.mobile.Authenticate(mobile))
	// Forms post with the session cookie: refuse them from other origins.
	root.Handle("/", http.NewCrossOriginProtection().Handler(a.pages.Authenticate(pages)))
	return root
}

// grantAdmin gives the admin role to cfg.AdminEmail's account, if it
// exists and lacks it.
func (a *app) grantAdmin(ctx context.Context) error {
	if a.cfg.AdminEmail == "" {
		return nil
	}
	email, err := auth.NormalizeEmail(a.cfg.AdminEmail)
	if err != nil {
		return fmt.Errorf("-admin: %w", err)
	}
	u, err := a.svc.UserByEmail(ctx, email)
	if errors.Is(err, valet.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if u.HasRole("admin") {
		return nil
	}
	roles := append(slices.Clone(u.Roles), "admin")
	_, _, err = a.svc.UpdateUser(ctx, u.ID, auth.UserPatch{Roles: &roles}, auth.Client{})
	return err
}

// isAdminEmail reports whether email is cfg.AdminEmail.
func (a *app) isAdminEmail(email string) bool {
	if a.cfg.AdminEmail == "" {
		return false
	}
	e, err := auth.NormalizeEmail(email)
	return err == nil && strings.EqualFold(e, strings.TrimSpace(a.cfg.AdminEmail))
}
