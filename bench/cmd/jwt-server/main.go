// Command jwt-server is the smallest server a user of golang-jwt v5 would
// write to answer GET /v1/me with EdDSA access tokens: an Ed25519 key
// generated at start, and ParseWithClaims with the method pinned and iss,
// aud and exp checked. It is a baseline for `valet bench --processes
// --compare`, which starts it, logs in and drives it beside valet.
//
//	jwt-server --addr 127.0.0.1:0 --body me.json
//
// POST /login answers {"access_token": "..."}: a token for a new user id
// with iss, sub, aud, exp and iat, living --ttl; it checks no password,
// since only GET /v1/me is measured. GET /v1/me answers 401 without a valid
// "Authorization: Bearer" token, else 200 with the bytes of --body as JSON.
// Once listening it prints one line, "jwt-server: listening on
// http://ADDR", on standard output.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	issuer   = "jwt-server"
	audience = "bench"
	// leeway is the clock skew allowed on exp and iat, valet's default.
	leeway = 30 * time.Second
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen on this address")
	bodyFile := flag.String("body", "", "answer GET /v1/me with the bytes of this JSON `FILE` (required)")
	ttl := flag.Duration("ttl", 15*time.Minute, "lifetime of the tokens POST /login issues (valet's default); a negative one issues tokens already expired, for tests")
	flag.Parse()
	if err := run(*addr, *bodyFile, *ttl); err != nil {
		log.Fatalf("jwt-server: %v", err)
	}
}

func run(addr, bodyFile string, ttl time.Duration) error {
	if bodyFile == "" {
		return errors.New("--body is required")
	}
	if ttl == 0 {
		return errors.New("--ttl must not be 0")
	}
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	// One parser for every request: its options are fixed at start, and
	// the method is pinned so that a token cannot choose its own algorithm.
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
	)
	keyFunc := func(*jwt.Token) (any, error) { return pub, nil }

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   rand.Text(),
			Audience:  jwt.ClaimStrings{audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			IssuedAt:  jwt.NewNumericDate(now),
		}).SignedString(priv)
		if err != nil {
			http.Error(w, "cannot sign a token", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "token_type": "Bearer"})
	})
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "no bearer token", http.StatusUnauthorized)
			return
		}
		var claims jwt.RegisteredClaims
		if _, err := parser.ParseWithClaims(raw, &claims, keyFunc); err != nil {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("jwt-server: listening on http://%s\n", ln.Addr())
	return http.Serve(ln, mux)
}
