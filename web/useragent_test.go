package web

import (
	"strings"
	"testing"
	"unicode"
)

func TestParseUserAgent(t *testing.T) {
	tests := []struct {
		name string
		ua   string
		want Device
		str  string
	}{
		{
			name: "chrome on windows",
			ua:   "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			want: Device{Browser: "Chrome", Version: "126", OS: "Windows"},
			str:  "Chrome 126 on Windows",
		},
		{
			name: "chrome on macos",
			ua:   "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.142 Safari/537.36",
			want: Device{Browser: "Chrome", Version: "125", OS: "macOS"},
			str:  "Chrome 125 on macOS",
		},
		{
			name: "chrome on android",
			ua:   "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
			want: Device{Browser: "Chrome", Version: "126", OS: "Android", Mobile: true},
			str:  "Chrome 126 on Android",
		},
		{
			name: "chrome on ios",
			ua:   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
			want: Device{Browser: "Chrome", Version: "126", OS: "iOS", Mobile: true},
			str:  "Chrome 126 on iOS",
		},
		{
			name: "chrome on chromeos",
			ua:   "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			want: Device{Browser: "Chrome", Version: "126", OS: "ChromeOS"},
			str:  "Chrome 126 on ChromeOS",
		},
		{
			name: "headless chrome on linux",
			ua:   "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36",
			want: Device{Browser: "Headless Chrome", Version: "131", OS: "Linux"},
			str:  "Headless Chrome 131 on Linux",
		},
		{
			name: "firefox on linux",
			ua:   "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
			want: Device{Browser: "Firefox", Version: "127", OS: "Linux"},
			str:  "Firefox 127 on Linux",
		},
		{
			name: "firefox on windows",
			ua:   "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
			want: Device{Browser: "Firefox", Version: "128", OS: "Windows"},
			str:  "Firefox 128 on Windows",
		},
		{
			name: "firefox on ios",
			ua:   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15",
			want: Device{Browser: "Firefox", Version: "127", OS: "iOS", Mobile: true},
			str:  "Firefox 127 on iOS",
		},
		{
			name: "firefox on android",
			ua:   "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0",
			want: Device{Browser: "Firefox", Version: "127", OS: "Android", Mobile: true},
			str:  "Firefox 127 on Android",
		},
		{
			name: "safari on macos",
			ua:   "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
			want: Device{Browser: "Safari", Version: "17", OS: "macOS"},
			str:  "Safari 17 on macOS",
		},
		{
			name: "safari on iphone",
			ua:   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			want: Device{Browser: "Safari", Version: "17", OS: "iOS", Mobile: true},
			str:  "Safari 17 on iOS",
		},
		{
			name: "safari on ipad",
			ua:   "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
			want: Device{Browser: "Safari", Version: "16", OS: "iOS", Mobile: true},
			str:  "Safari 16 on iOS",
		},
		{
			name: "edge on windows",
			ua:   "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68",
			want: Device{Browser: "Edge", Version: "126", OS: "Windows"},
			str:  "Edge 126 on Windows",
		},
		{
			name: "edge on android",
			ua:   "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 EdgA/126.0.2592.80",
			want: Device{Browser: "Edge", Version: "126", OS: "Android", Mobile: true},
			str:  "Edge 126 on Android",
		},
		{
			name: "edge on ios",
			ua:   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/126.2592.86 Mobile/15E148 Safari/605.1.15",
			want: Device{Browser: "Edge", Version: "126", OS: "iOS", Mobile: true},
			str:  "Edge 126 on iOS",
		},
		{
			name: "opera on windows",
			ua:   "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 OPR/111.0.0.0",
			want: Device{Browser: "Opera", Version: "111", OS: "Windows"},
			str:  "Opera 111 on Windows",
		},
		{
			name: "samsung internet",
			ua:   "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
			want: Device{Browser: "Samsung Internet", Version: "25", OS: "Android", Mobile: true},
			str:  "Samsung Internet 25 on Android",
		},
		{
			name: "android webview is not safari",
			ua:   "Mozilla/5.0 (Linux; Android 13; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.71 Mobile Safari/537.36",
			want: Device{Browser: "Chrome", Version: "126", OS: "Android", Mobile: true},
			str:  "Chrome 126 on Android",
		},
		{
			name: "curl",
			ua:   "curl/8.5.0",
			want: Device{Browser: "curl", Version: "8"},
			str:  "curl 8",
		},
		{
			name: "go client",
			ua:   "Go-http-client/1.1",
			want: Device{Browser: "Go HTTP client", Version: "1"},
			str:  "Go HTTP client 1",
		},
		{
			name: "unknown browser on linux",
			ua:   "Mozilla/5.0 (X11; Linux x86_64) SomethingNew",
			want: Device{OS: "Linux"},
			str:  "A browser on Linux",
		},
		{
			name: "version without safari token is not safari",
			ua:   "Tool Version/2.0",
			want: Device{},
			str:  "Unknown device",
		},
		{
			name: "empty",
			ua:   "",
			want: Device{},
			str:  "Unknown device",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseUserAgent(tc.ua)
			if got != tc.want {
				t.Errorf("ParseUserAgent = %+v, want %+v", got, tc.want)
			}
			if s := got.String(); s != tc.str {
				t.Errorf("String() = %q, want %q", s, tc.str)
			}
		})
	}
}

func FuzzParseUserAgent(f *testing.F) {
	f.Add("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68")
	f.Add("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Mobile/15E148 Safari/604.1")
	f.Add("Chrome/")
	f.Add("Firefox/99999999999999999999")
	f.Fuzz(func(t *testing.T, ua string) {
		d := ParseUserAgent(ua)
		if len(d.Version) > 6 || strings.ContainsFunc(d.Version, func(r rune) bool { return !unicode.IsDigit(r) }) {
			t.Fatalf("Version %q is not a short number", d.Version)
		}
		if d.Version != "" && d.Browser == "" {
			t.Fatalf("a version %q without a browser", d.Version)
		}
		if d.String() == "" {
			t.Fatal("String() is empty")
		}
	})
}
