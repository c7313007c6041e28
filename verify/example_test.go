package verify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/client"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/middleware"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
	"github.com/valetauth/valet/verify"
)

// exampleValet stands for a valet server with a customer and a service
// account. It returns its URL and a function that stops it.
func exampleValet() (string, func()) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := auth.New(ctx, auth.Config{
		Stores: memory.New().Stores(),
		Hasher: password.NewHasher(password.Params{Memory: 8 * 1024, Iterations: 1}, 0, 0),
		Logger: quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	for email, roles := range map[string][]string{"clerk@example.com": {"clerk"}, "orders@svc.example.com": {"service"}} {
		if _, err := svc.CreateUser(ctx, email, "correct horse battery", roles); err != nil {
			log.Fatal(err)
		}
	}
	srv := httptest.NewServer(httpapi.New(svc, httpapi.Config{Logger: quiet}))
	return srv.URL, func() { srv.Close(); cancel() }
}

// exampleLogin logs in at valet and returns the access token.
func exampleLogin(valetURL, email string, mode valet.Mode) (*client.Client, string) {
	c, err := client.New(valetURL)
	if err != nil {
		log.Fatal(err)
	}
	g, err := c.Login(context.Background(), email, "correct horse battery", mode)
	if err != nil {
		log.Fatal(err)
	}
	return c, g.AccessToken
}

// An orders service trusts valet's tokens through a Verifier behind the
// middleware, and never calls valet for a token-mode token.
func Example() {
	valetURL, stop := exampleValet()
	defer stop()

	v, err := verify.New(context.Background(), valetURL)
	if err != nil {
		log.Fatal(err)
	}
	mw := middleware.New(v, middleware.Config{Permissions: middleware.Permissions{"clerk": {"orders:write"}}})
	orders := mw.RequirePermission("orders:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := valet.UserFrom(r.Context())
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "order placed by %s", u.Email)
	}))

	_, tok := exampleLogin(valetURL, "clerk@example.com", valet.ModeToken)
	req := httptest.NewRequest("POST", "/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	orders.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Body)
	// Output:
	// 201 order placed by clerk@example.com
}

// Hybrid tokens are checked with valet's introspection endpoint, each
// session's answer kept for a short time.
func ExampleWithIntrospection() {
	valetURL, stop := exampleValet()
	defer stop()
	ctx := context.Background()

	service, _ := exampleLogin(valetURL, "orders@svc.example.com", valet.ModeToken)
	v, err := verify.New(ctx, valetURL, verify.WithIntrospection(service.AccessToken, 100*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}

	_, phone := exampleLogin(valetURL, "clerk@example.com", valet.ModeHybrid)
	laptop, old := exampleLogin(valetURL, "clerk@example.com", valet.ModeHybrid)
	if err := laptop.Logout(ctx); err != nil {
		log.Fatal(err)
	}

	id, err := v.IdentifyBearer(ctx, phone)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.User.Email, id.Mode)
	_, err = v.Verify(ctx, old)
	fmt.Println(errors.Is(err, valet.ErrRevoked))
	// Output:
	// clerk@example.com hybrid
	// true
}
