package web

import "strings"

// Device is what a User-Agent header says about the browser and system that
// sent it. Fields the header does not reveal are empty.
type Device struct {
	// Browser is a product name such as "Chrome", "Firefox", "Safari" or
	// "Edge"; empty when the header names no browser this parser knows.
	Browser string
	// Version is the browser's major version, such as "126".
	Version string
	// OS is "Windows", "macOS", "iOS", "Android", "ChromeOS" or "Linux".
	OS string
	// Mobile reports a phone or tablet.
	Mobile bool
}

// String describes d for a person, such as "Chrome 126 on macOS". It
// returns "Unknown device" when the header said nothing this parser knows.
func (d Device) String() string {
	b := d.Browser
	if b != "" && d.Version != "" {
		b += " " + d.Version
	}
	switch {
	case b != "" && d.OS != "":
		return b + " on " + d.OS
	case b != "":
		return b
	case d.OS != "":
		return "A browser on " + d.OS
	}
	return "Unknown device"
}

// browserTokens are checked in order: most browsers also claim to be the
// ones they are built on (Edge says Chrome and Safari, Chrome says Safari),
// so the more specific token must win.
var browserTokens = []struct{ token, name string }{
	{"Edg/", "Edge"},
	{"EdgA/", "Edge"},
	{"EdgiOS/", "Edge"},
	{"Edge/", "Edge"},
	{"OPR/", "Opera"},
	{"OPiOS/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"YaBrowser/", "Yandex"},
	{"Vivaldi/", "Vivaldi"},
	{"FxiOS/", "Firefox"},
	{"Firefox/", "Firefox"},
	{"CriOS/", "Chrome"},
	{"HeadlessChrome/", "Headless Chrome"},
	{"Chrome/", "Chrome"},
	{"Chromium/", "Chromium"},
	// Safari's own version is in Version/; its Safari/ token is a WebKit build.
	{"Version/", "Safari"},
	{"curl/", "curl"},
	{"Wget/", "Wget"},
	{"Go-http-client/", "Go HTTP client"},
	{"python-requests/", "Python requests"},
}

// ParseUserAgent reads the browser and operating system from a User-Agent
// header. It knows the common browsers (Chrome, Firefox, Safari, Edge, and a
// few that build on them) and systems (Windows, macOS, iOS, Android,
// ChromeOS, Linux). It never fails: an unknown or empty header gives an
// empty Device. Headers lie, so the result is for display only.
func ParseUserAgent(ua string) Device {
	if len(ua) > 512 {
		ua = ua[:512]
	}
	var d Device
	for _, t := range browserTokens {
		i := strings.Index(ua, t.token)
		if i < 0 {
			continue
		}
		if t.name == "Safari" && !strings.Contains(ua, "Safari/") {
			continue
		}
		d.Browser, d.Version = t.name, majorVersion(ua[i+len(t.token):])
		break
	}
	d.OS, d.Mobile = parseOS(ua)
	if !d.Mobile && strings.Contains(ua, "Mobile") {
		d.Mobile = true
	}
	return d
}

// majorVersion returns the leading digits of s: "126.0.6478.61" gives "126".
func majorVersion(s string) string {
	n := 0
	for n < len(s) && n < 6 && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return s[:n]
}

func parseOS(ua string) (name string, mobile bool) {
	switch {
	case strings.Contains(ua, "Windows"):
		return "Windows", strings.Contains(ua, "Windows Phone")
	// iPadOS and iOS before Macintosh: every Apple mobile header says "like Mac OS X".
	case strings.Contains(ua, "iPhone"), strings.Contains(ua, "iPad"), strings.Contains(ua, "iPod"):
		return "iOS", true
	case strings.Contains(ua, "Macintosh"), strings.Contains(ua, "Mac OS X"):
		return "macOS", false
	// Android before Linux: Android headers say "Linux; Android".
	case strings.Contains(ua, "Android"):
		return "Android", true
	case strings.Contains(ua, "CrOS"):
		return "ChromeOS", false
	case strings.Contains(ua, "Linux"), strings.Contains(ua, "X11"):
		return "Linux", false
	}
	return "", false
}
