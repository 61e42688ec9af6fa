package version

import "testing"

func TestCandidates(t *testing.T) {
	for _, c := range []struct {
		in, branch, final string
		n                 int
		ok                bool
	}{
		{"1.2.3-rc.4", "release/1.2.3", "1.2.3", 4, true},
		{"1.2.3-rc4", "release/1.2.3", "1.2.3", 4, true},
		{"1.2.3-rc.19", "release/1.2.3", "1.2.3", 19, true},
		{"1.2.3", "release/1.2.3", "1.2.3", 0, false},
		{"1.2.3-beta.1", "release/1.2.3-beta.1", "1.2.3", 0, false},
		{"1.2.3-rc.1.2", "release/1.2.3-rc.1.2", "1.2.3", 0, false},
		{"1.2.3-rc", "release/1.2.3-rc", "1.2.3", 0, false},
		{"1.2.3-rcx", "release/1.2.3-rcx", "1.2.3", 0, false},
	} {
		v := MustParse(c.in)
		n, ok := v.CandidateNumber()
		if n != c.n || ok != c.ok || v.Branch() != c.branch || v.Final().String() != c.final {
			t.Errorf("%s: candidate %d %v, branch %s, final %s; want %d %v %s %s", c.in, n, ok, v.Branch(), v.Final(), c.n, c.ok, c.branch, c.final)
		}
	}
}

func TestCandidateSpelling(t *testing.T) {
	v := MustParse("1.2.3")
	for _, c := range []struct {
		form        CandidateForm
		prefix      string
		image, gitT string
	}{
		{CandidateDotted, "v", "1.2.3-rc.4", "v1.2.3-rc.4"},
		{CandidateCompact, "", "1.2.3-rc4", "1.2.3-rc4"},
		{CandidateCompact, "release-", "1.2.3-rc4", "release-1.2.3-rc4"},
	} {
		c4, err := v.WithTagPrefix(c.prefix).Candidate(4, c.form)
		if err != nil {
			t.Fatal(err)
		}
		if c4.ImageTag() != c.image || c4.GitTag() != c.gitT || c4.Final().GitTag() != c.prefix+"1.2.3" {
			t.Errorf("%s/%q: image %s git %s final %s", c.form, c.prefix, c4.ImageTag(), c4.GitTag(), c4.Final().GitTag())
		}
	}
	if _, err := v.Candidate(0, CandidateDotted); err == nil {
		t.Error("candidate 0 accepted")
	}
	for _, s := range []string{"", "rc.N", "rcN"} {
		if _, err := ParseCandidateForm(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParseCandidateForm("-rc.N"); err == nil {
		t.Error("-rc.N accepted")
	}
}

func TestParseGitTag(t *testing.T) {
	for tag, want := range map[string]string{"v1.2.3": "1.2.3", "1.2.3-rc4": "1.2.3-rc4", "app-v1.2.3-rc.2": "1.2.3-rc.2", "V1.0.0": "1.0.0"} {
		v, err := ParseGitTag(tag)
		if err != nil || v.String() != want || v.GitTag() != tag {
			t.Errorf("%s: %v %v (git tag %s)", tag, v, err, v.GitTag())
		}
	}
	for _, tag := range []string{"latest", "v1.2", "x1.2.3.4", ""} {
		if _, err := ParseGitTag(tag); err == nil {
			t.Errorf("%s parsed", tag)
		}
	}
}

func FuzzParseGitTag(f *testing.F) {
	for _, s := range []string{"v1.2.3", "1.2.3-rc4", "app-v1.2.3-rc.2", "release-2.0.0", "v01.2.3", "vv1.2.3", "\x001.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		v, err := ParseGitTag(tag)
		if err != nil {
			return
		}
		if v.GitTag() != tag {
			t.Fatalf("%q reads as %q", tag, v.GitTag())
		}
		if n, ok := v.CandidateNumber(); ok {
			c, err := v.Candidate(n, CandidateDotted)
			if n > 0 && (err != nil || !c.Final().Equal(v.Final())) {
				t.Fatalf("candidate %d of %q: %v %v", n, tag, c, err)
			}
		}
	})
}
