package config

import (
	"strings"
	"testing"
)

// FuzzParseRepo: whatever ParseRepo accepts has a plain owner and name (never "." or "..", never a
// '/' or ".git" left over), parses again to itself, and every error is short.
func FuzzParseRepo(f *testing.F) {
	for _, s := range []string{"acme/app", "acme/app.git", "acme/..git", "acme/...git", "../x", "a/b/c", "acme/.github", "-a/b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRepo(s)
		if err != nil {
			if len(err.Error()) > 400 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		for _, p := range []string{r.Owner, r.Name} {
			if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "/\\ \t\n%?#") {
				t.Fatalf("ParseRepo(%q) accepted part %q", s, p)
			}
		}
		again, err := ParseRepo(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRepo(%q) = %v does not parse to itself: %v %v", s, r, again, err)
		}
	})
}

// FuzzParseImage: a password written into an image reference never appears in the error, and
// errors stay short.
func FuzzParseImage(f *testing.F) {
	for _, s := range [][3]string{{"bot", "pw", "ghcr.io/acme/app"}, {"", "tok", "ghcr.io"}, {"u", "p", "reg:5000/a/b:tag"}, {"https:", "p", "x/y"}, {"u", "p", "x://y"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, user, pass, rest string) {
		if strings.ContainsAny(user+pass, "/?#@") {
			return // the credentials would not sit in the host part
		}
		secret := "Zq" + pass + "Xw"
		in := user + ":" + secret + "@" + rest
		_, err := ParseImage(in)
		if err == nil {
			t.Fatalf("ParseImage(%q) accepted credentials", in)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("ParseImage(%q) repeats the password: %v", in, err)
		}
		if len(err.Error()) > 400 {
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
	})
}

// FuzzValidate: no setting makes Validate echo more than a short message, and a password written
// into the GitHub API URL never appears in it.
func FuzzValidate(f *testing.F) {
	f.Add("ghcr.io/acme/app", "acme/app", "https://u:pw@api.example.com/", "keyless", "merge")
	f.Add("u:pw@ghcr.io/a", "acme/..git", "http://x", "gpg", "octopus")
	f.Fuzz(func(t *testing.T, image, repo, api, sign, method string) {
		s := Settings{Image: image, Repo: repo, GitHubAPI: api, Sign: SignMode(sign), HasGitHubToken: true}
		s.Defaults()
		err := s.Validate()
		if _, merr := ParseMergeMethod(method); merr != nil && len(merr.Error()) > 300 {
			t.Fatalf("merge method error of %d bytes", len(merr.Error()))
		}
		if err == nil {
			if _, perr := ParseRepo(repo); perr != nil {
				t.Fatalf("Validate accepted repo %q that ParseRepo refuses: %v", repo, perr)
			}
			return
		}
		if len(err.Error()) > 2000 {
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
	})
}
