package web_test

import (
	"fmt"

	"github.com/valetauth/valet/web"
)

func ExampleParseUserAgent() {
	d := web.ParseUserAgent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 " +
		"(KHTML, like Gecko) Version/17.5 Safari/605.1.15")
	fmt.Println(d)
	fmt.Println(d.Browser, d.Version, d.OS, d.Mobile)
	// Output:
	// Safari 17 on macOS
	// Safari 17 macOS false
}
