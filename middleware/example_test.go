package middleware_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/client"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/middleware"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

// An application embeds valet: its JSON API under /auth, and its own pages
// behind the middleware.
func Example() {
	ctx := context.Background()
	svc, err := auth.New(ctx, auth.Config{
		Stores: memory.New().Stores(), // sqlite.New(db).Stores() in production
		Hasher: password.NewHasher(password.Params{Memory: 8 * 1024, Iterations: 1}, 0, 0),
		Logger: quietLogger(),
	})
	if err != nil {
		log.Fatal(err)
	}
	mw := middleware.New(svc, middleware.Config{LoginURL: "/login"})

	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", httpapi.New(svc, httpapi.Config{Logger: quietLogger()})))
	mux.Handle("GET /account", mw.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := valet.UserFrom(r.Context())
		fmt.Fprintf(w, "hello %s", u.Email)
	})))
	mux.Handle("GET /admin", mw.RequireRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "the admin page")
	})))
	srv := httptest.NewServer(mw.Authenticate(mux))
	defer srv.Close()

	c, err := client.New(srv.URL + "/auth")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Signup(ctx, "ann@example.com", "correct horse battery"); err != nil {
		log.Fatal(err)
	}
	g, err := c.Login(ctx, "ann@example.com", "correct horse battery", valet.ModeToken)
	if err != nil {
		log.Fatal(err)
	}

	// A browser's session login: the API's default cookie is the one the
	// middleware's default configuration reads.
	resp, err := http.Post(srv.URL+"/auth/v1/login", "application/json",
		strings.NewReader(`{"email":"ann@example.com","password":"correct horse battery"}`))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	cookie := resp.Cookies()[0]
	fmt.Println("session cookie:", cookie.Name)

	get := func(path, bearer string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if bearer == "cookie" {
			req.Header.Del("Authorization")
			req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	get("/account", "")
	get("/account", g.AccessToken)
	get("/account", "cookie")
	get("/admin", g.AccessToken)
	// Output:
	// session cookie: __Host-valet_session
	// /account 401 {"error":"unauthenticated","message":"You are not signed in."}
	// /account 200 hello ann@example.com
	// /account 200 hello ann@example.com
	// /admin 403 {"error":"forbidden","message":"You are not allowed to do this."}
}

// RequirePermission checks a permission that the caller's roles grant under
// Config.Permissions.
func ExampleMiddleware_RequirePermission() {
	ctx := context.Background()
	svc, err := auth.New(ctx, auth.Config{
		Stores: memory.New().Stores(),
		Hasher: password.NewHasher(password.Params{Memory: 8 * 1024, Iterations: 1}, 0, 0),
		Logger: quietLogger(),
	})
	if err != nil {
		log.Fatal(err)
	}
	mw := middleware.New(svc, middleware.Config{Permissions: middleware.Permissions{
		"admin": {"*"},
		"clerk": {"orders:read", "orders:write"},
	}})
	createOrder := mw.RequirePermission("orders:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))

	for _, role := range []string{"clerk", "viewer"} {
		email := role + "@example.com"
		if _, err := svc.CreateUser(ctx, email, "correct horse battery", []string{role}); err != nil {
			log.Fatal(err)
		}
		g, err := svc.Login(ctx, email, "correct horse battery", valet.ModeToken, auth.Client{})
		if err != nil {
			log.Fatal(err)
		}
		req := httptest.NewRequest("POST", "/orders", nil)
		req.Header.Set("Authorization", "Bearer "+g.AccessToken)
		w := httptest.NewRecorder()
		createOrder.ServeHTTP(w, req)
		fmt.Println(role, w.Code)
	}
	// Output:
	// clerk 201
	// viewer 403
}

// A browser that must sign in is sent to the login page, with the page it
// asked for to come back to.
func ExampleMiddleware_Require() {
	svc, err := auth.New(context.Background(), auth.Config{Stores: memory.New().Stores(), Logger: quietLogger()})
	if err != nil {
		log.Fatal(err)
	}
	mw := middleware.New(svc, middleware.Config{LoginURL: "/login"})
	account := mw.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))

	req := httptest.NewRequest("GET", "/account?tab=orders", nil)
	req.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	account.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Header().Get("Location"))
	// Output:
	// 303 /login?return_to=%2Faccount%3Ftab%3Dorders
}

func ExamplePermissions_Allows() {
	p := middleware.Permissions{
		"admin":   {"*"},
		"clerk":   {"orders:read", "orders:write"},
		"auditor": {"reports:*"},
	}
	fmt.Println(p.Allows([]string{"clerk"}, "orders:write"))
	fmt.Println(p.Allows([]string{"clerk"}, "orders:delete"))
	fmt.Println(p.Allows([]string{"auditor"}, "reports:monthly"))
	fmt.Println(p.Allows([]string{"admin"}, "anything"))
	fmt.Println(p.Of([]string{"clerk", "auditor"}))
	// Output:
	// true
	// false
	// true
	// true
	// [orders:read orders:write reports:*]
}

func ExampleParsePermissions() {
	p, err := middleware.ParsePermissions(strings.NewReader(`{"clerk": ["orders:read", "orders:write"]}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Allows([]string{"clerk"}, "orders:read"))
	_, err = middleware.ParsePermissions(strings.NewReader(`{"clerk": ["orders:*:read"]}`))
	fmt.Println(err != nil)
	// Output:
	// true
	// true
}
