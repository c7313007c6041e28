package password_test

import (
	"context"
	"fmt"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/password"
)

func ExampleCheck() {
	for _, pw := range []string{"hunter2", "letmein123", "abcdefgh", "correct horse battery staple"} {
		if err := password.Check(pw); err != nil {
			fmt.Println(valet.Message(err))
		} else {
			fmt.Println("accepted")
		}
	}
	// Output:
	// Use at least 8 characters.
	// This password is too common; choose another.
	// Avoid sequences of characters, such as abcd, 1234 or qwerty.
	// accepted
}

func ExamplePolicy_Check() {
	p := password.Policy{MinLength: 10}
	c := password.Context{Email: "ada@example.com", SiteName: "Acme Books", Current: "my old passphrase"}
	for _, pw := range []string{"ada@example.com", "acmebooks!", "my old passphrase", "ⅯⅯⅩⅩⅣ tea at four"} {
		if err := p.Check(pw, c); err != nil {
			fmt.Println(valet.Message(err))
		} else {
			fmt.Println("accepted")
		}
	}
	// Output:
	// Choose a password that is not based on your email address.
	// Choose a password that is not based on the name of this site.
	// Choose a password different from your current one.
	// accepted
}

func ExampleHasher() {
	ctx := context.Background()
	// The default parameters, at most 4 hashes at once, each caller waiting
	// at most 2 seconds for its turn.
	h := password.NewHasher(password.Params{}, 4, 2*time.Second)

	encoded, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		fmt.Println(err)
		return
	}
	ok, err := h.Verify(ctx, "correct horse battery staple", encoded)
	fmt.Println(ok, err)
	ok, err = h.Verify(ctx, "Correct horse battery staple", encoded)
	fmt.Println(ok, err)
	fmt.Println(encoded[:31])
	fmt.Println(password.NeedsRehash(encoded, password.Params{Memory: 47104, Iterations: 1}))
	// Output:
	// true <nil>
	// false <nil>
	// $argon2id$v=19$m=19456,t=2,p=1$
	// true
}

func ExampleValidateImport() {
	for _, hash := range []string{
		"$2y$10$4VC9CWEwt/K0yXo0tc7hFucgKJROaKIF/JyDpIb9DsJqS1gsF986u",
		"$2y$16$4VC9CWEwt/K0yXo0tc7hFucgKJROaKIF/JyDpIb9DsJqS1gsF986u",
		"pbkdf2_sha256$870000$seasalt$not-base64",
	} {
		if err := password.ValidateImport(hash); err != nil {
			fmt.Println(valet.Message(err))
		} else {
			fmt.Println("accepted")
		}
	}
	// Output:
	// accepted
	// The bcrypt cost is 16; 4 to 14 is accepted.
	// The PBKDF2 hash is not padded standard base64.
}

func ExampleHasher_Verify_imported() {
	ctx := context.Background()
	h := password.NewHasher(password.Params{}, 0, 0)
	// A user exported from Django, and one from Firebase by way of Supabase.
	django := "pbkdf2_sha1$4096$salt$SwB5AbdlSJq+rUnZJvch0GWkKcE="
	firebase := "$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==,sk=jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
	ok, rehash, err := h.VerifyUpgrade(ctx, "password", django)
	fmt.Println(ok, rehash, err)
	ok, rehash, err = h.VerifyUpgrade(ctx, "user1password", firebase)
	fmt.Println(ok, rehash, err)
	// Output:
	// true true <nil>
	// true true <nil>
}
