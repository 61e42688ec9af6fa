package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"v1.2.3"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "git tag v1.2.3") {
		t.Fatalf("v1.2.3: exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, args := range [][]string{{"1.2.3; touch x #"}, {strings.Repeat("1", 1<<20)}} {
		out.Reset()
		errb.Reset()
		if code := run(args, &out, &errb); code != 1 || out.Len() != 0 {
			t.Errorf("%.20q: exit %d, stdout %q", args[0], code, out.String())
		}
		if errb.Len() > 300 {
			t.Errorf("%.20q: error of %d bytes", args[0], errb.Len())
		}
	}
	if code := run([]string{"1.2.3", "extra"}, &out, &errb); code != 2 {
		t.Errorf("two arguments: exit %d, want 2", code)
	}
}
