package password_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/password"
)

func ExampleCheck() {
	for _, pw := range []string{"hunter2", "Qwertyuiop", "correct horse battery staple"} {
		err := password.Check(pw)
		fmt.Printf("%v %v\n", errors.Is(err, valet.ErrWeakPassword), err)
	}
	// Output:
	// true password must be at least 8 characters
	// true this password is too common; choose another
	// false <nil>
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
