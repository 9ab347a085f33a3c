package main

import "testing"

func TestCheckTarget(t *testing.T) {
	for _, target := range []string{"http://127.0.0.1:8080", "http://127.1.2.3:9", "http://localhost:8080/",
		"https://LOCALHOST", "http://[::1]:8080"} {
		if err := checkTarget(target); err != nil {
			t.Errorf("checkTarget(%q) = %s, want nil", target, err)
		}
	}
	f := func(target, want string) {
		t.Helper()
		err := checkTarget(target)
		if err == nil || err.Error() != want {
			t.Errorf("checkTarget(%q) = %v\nwant %s", target, err, want)
		}
	}
	const tail = ` is not loopback (127.0.0.0/8, ::1 or localhost)`
	f("http://10.0.0.1:8080", `refusing -target "http://10.0.0.1:8080": host "10.0.0.1"`+tail)
	f("https://api.openai.com", `refusing -target "https://api.openai.com": host "api.openai.com"`+tail)
	f("http://localhost.evil.com", `refusing -target "http://localhost.evil.com": host "localhost.evil.com"`+tail)
	f("http://[::ffff:8.8.8.8]:80", `refusing -target "http://[::ffff:8.8.8.8]:80": host "::ffff:8.8.8.8"`+tail)
	f("ftp://127.0.0.1", `invalid -target "ftp://127.0.0.1": want an http:// or https:// URL`)
	f("127.0.0.1:8080", `cannot parse -target "127.0.0.1:8080": parse "127.0.0.1:8080": first path segment in URL cannot contain colon`)
}
