package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
	"github.com/valetauth/valet/client"
	"github.com/valetauth/valet/httpapi"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

// exampleValet stands for a valet server: `valet serve`, or an application
// that embeds it. It returns its URL and a function that stops it.
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
	if _, err := svc.CreateUser(ctx, "orders@svc.example.com", "correct horse battery", []string{"service"}); err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(svc, httpapi.Config{Logger: quiet}))
	return srv.URL, func() { srv.Close(); cancel() }
}

func Example() {
	url, stop := exampleValet()
	defer stop()
	ctx := context.Background()

	c, err := client.New(url)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Signup(ctx, "ann@example.com", "correct horse battery"); err != nil {
		log.Fatal(err)
	}
	g, err := c.Login(ctx, "ann@example.com", "correct horse battery", valet.ModeHybrid)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in:", g.Mode, g.User.Email)

	me, err := c.Me(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("me:", me.User.Email, me.Mode, me.SessionID == g.SessionID)

	sessions, err := c.Sessions(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sessions:", len(sessions), sessions[0].Current)

	if err := c.Logout(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = c.Me(ctx)
	fmt.Println("after logout:", err)
	// Output:
	// logged in: hybrid ann@example.com
	// me: ann@example.com hybrid true
	// sessions: 1 true
	// after logout: valet: unauthenticated: You are not signed in.
}

// Errors carry the API's code, and match valet's sentinel errors.
func ExampleError() {
	url, stop := exampleValet()
	defer stop()
	c, err := client.New(url)
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Login(context.Background(), "ann@example.com", "not the password", "")
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code)
	}
	fmt.Println(errors.Is(err, valet.ErrInvalidCredentials))
	// Output:
	// 401 invalid_credentials
	// true
}

// A service logs in as a user of role service and introspects the tokens
// it is shown.
func ExampleClient_Introspect() {
	url, stop := exampleValet()
	defer stop()
	ctx := context.Background()

	user, _ := client.New(url)
	if _, err := user.Signup(ctx, "ann@example.com", "correct horse battery"); err != nil {
		log.Fatal(err)
	}
	g, err := user.Login(ctx, "ann@example.com", "correct horse battery", valet.ModeToken)
	if err != nil {
		log.Fatal(err)
	}

	service, _ := client.New(url)
	if _, err := service.Login(ctx, "orders@svc.example.com", "correct horse battery", valet.ModeToken); err != nil {
		log.Fatal(err)
	}
	in, err := service.Introspect(ctx, g.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(in.Active, in.Email)
	in, err = service.Introspect(ctx, "not-a-token")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(in.Active)
	// Output:
	// true ann@example.com
	// false
}

// A mobile app saves the tokens when it stops and restores them when it
// starts again.
func ExampleClient_SetTokens() {
	url, stop := exampleValet()
	defer stop()
	ctx := context.Background()

	first, _ := client.New(url)
	if _, err := first.Signup(ctx, "ann@example.com", "correct horse battery"); err != nil {
		log.Fatal(err)
	}
	if _, err := first.Login(ctx, "ann@example.com", "correct horse battery", valet.ModeToken); err != nil {
		log.Fatal(err)
	}
	saved := first.Tokens()

	next, _ := client.New(url)
	next.SetTokens(saved)
	me, err := next.Me(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.User.Email, me.Mode)
	// Output:
	// ann@example.com token
}
