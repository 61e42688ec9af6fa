package registry

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Every error of the client carries the class of what happened, and names what the user can
// change, not a Go API.
func TestErrorsAreClassified(t *testing.T) {
	ctx := context.Background()
	v := version.MustParse("1.0.0")
	check := func(e *env) error {
		_, err := e.c.CheckIndex(ctx, e.repo, v, both)
		return err
	}
	closed := strings.TrimPrefix(testkit.GoneURL(), "http://")
	for _, tc := range []struct {
		name  string
		fault *testkit.Fault
		run   func(e *env) error
		class fault.Class
		says  string
	}{
		{"5xx after retries", &testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/`), Status: 503}, check, fault.Unreachable, "the registry kept failing (tried 4 times)"},
		{"429 after retries", &testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/`), Status: 429, RetryAfter: "3"}, check, fault.Unreachable, "rate-limiting"},
		{"dropped connections", &testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/`), Drop: true}, check, fault.Unreachable, "--image"},
		{"403", &testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/`), Status: 403}, check, fault.Unreadable, "--registry-username"},
		{"unparsable manifest", &testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/1\.0\.0$`), Status: 200, Body: `{"schemaVersion": 2, "manifests": [`,
			Header: http.Header{"Content-Type": {"application/vnd.oci.image.index.v1+json"}}}, check, fault.Unreadable, "could not be read"},
		{"bad repository", nil, func(e *env) error {
			_, err := e.c.CheckIndex(ctx, e.host+"/Acme/App", v, both)
			return err
		}, fault.BadInput, "upper-case"},
		{"bad tag", nil, func(e *env) error {
			_, err := e.c.Image(ctx, e.repo, "-x")
			return err
		}, fault.BadInput, "starts with"},
		{"registry down", nil, func(e *env) error {
			_, err := e.c.CheckIndex(ctx, closed+"/acme/app", v, both)
			return err
		}, fault.Unreachable, "could not talk to"},
		{"plain HTTP not allowed", nil, func(e *env) error {
			_, err := New(WithRetries(0)).CheckIndex(ctx, e.repo, v, both)
			return err
		}, fault.BadInput, "--plain-http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := localEnv(t, WithInsecureHosts(closed))
			var rule *testkit.Rule
			if tc.fault != nil {
				rule = e.proxy.Inject(*tc.fault)
			}
			err := tc.run(e)
			if rule != nil && rule.Injected() == 0 {
				t.Fatalf("the fault never fired")
			}
			if err == nil || fault.Of(err) != tc.class || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got class %v, error %v; want %v saying %q", fault.Of(err), err, tc.class, tc.says)
			}
			for _, api := range []string{"WithInsecureHosts", "WithAuth", "remote."} {
				if strings.Contains(err.Error(), api) {
					t.Fatalf("the error names the Go API %s: %v", api, err)
				}
			}
			if tc.class == fault.Unreachable && tc.fault != nil && len(e.clock.Sleeps()) == 0 {
				t.Fatalf("retries did not wait on the injected clock")
			}
		})
	}
}
