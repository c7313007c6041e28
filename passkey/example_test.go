package passkey_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/valetauth/valet/passkey"
)

func ExampleRP_BeginLogin() {
	rp, err := passkey.New(passkey.Config{RPID: "example.com", Origins: []string{"https://auth.example.com"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A sign-in with a passkey alone: no user, so no allowCredentials.
	options, challenge, state, err := rp.BeginLogin(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The caller keeps state under challenge, and sends options to the
	// browser for navigator.credentials.get.
	_, _ = challenge, state
	var o struct {
		PublicKey map[string]any `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(o.PublicKey["rpId"], o.PublicKey["userVerification"], o.PublicKey["timeout"], o.PublicKey["allowCredentials"])
	// Output: example.com preferred 300000 <nil>
}

func ExampleChallenge() {
	clientData := `{"type":"webauthn.get","challenge":"AAECAwQFBgcICQoLDA0ODw","origin":"https://auth.example.com"}`
	response := `{"id":"AQ","rawId":"AQ","type":"public-key","response":{"clientDataJSON":"` +
		base64.RawURLEncoding.EncodeToString([]byte(clientData)) + `"}}`
	challenge, err := passkey.Challenge([]byte(response))
	fmt.Println(challenge, err)
	// Output: AAECAwQFBgcICQoLDA0ODw <nil>
}

func ExampleNew() {
	_, err := passkey.New(passkey.Config{RPID: "example.com", Origins: []string{"https://example.com.evil.com"}})
	fmt.Println(err)
	// Output: passkey: origin "https://example.com.evil.com" is not on the relying party id "example.com" or under it
}
