package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

const (
	botUser  = "release-bot"
	botToken = "ghp_Sh1pG4teT0kenValue0042"
)

func TestAuth(t *testing.T) {
	eachAuthLane(t, func(t *testing.T, upstream string, ok *env) {
		ctx := context.Background()
		p := ok.publish("1.2.3")
		ok.promote("1.2.3", p, TagOptions{})

		wrong := "ghp_WrongT0kenValue9999"
		for _, tc := range []struct {
			name string
			opts []Option
			leak string
		}{
			{"wrong token", []Option{WithAuth(botUser, wrong)}, wrong},
			{"anonymous", nil, botToken},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, upstream, tc.opts...)
				// Same registry, through its own proxy: same repository path.
				e.repo = e.host + "/acme/app"
				_, err := e.c.Publish(ctx, specFor(e.repo, "1.2.4", newRelease(t, 256).sources()))
				var rerr *Error
				if !errors.As(err, &rerr) || rerr.Status != 401 || !strings.HasPrefix(err.Error(), "401 from "+e.host+" ") || !strings.Contains(err.Error(), "check --registry-username and --registry-password") || fault.Of(err) != fault.Unreadable {
					t.Fatalf("publish with %s: %v", tc.name, err)
				}
				t.Logf("publish error: %v", err)
				_, err2 := e.c.PlanTags(ctx, e.repo, version.MustParse("1.2.3"), p.Index, TagOptions{})
				if !errors.As(err2, &rerr) || rerr.Status != 401 {
					t.Fatalf("plan tags with %s: %v", tc.name, err2)
				}
				// 401 is not retried: each operation asked once for what it needed first.
				if n := e.count("", `/manifests/`, 0); n != 2 {
					t.Fatalf("%d manifest requests, want 2 (one per operation, no retries):\n%v", n, e.proxy.Requests())
				}
				if len(e.writes()) != 0 {
					t.Fatalf("wrote with %s", tc.name)
				}
				testkit.AssertNoSecret(t, tc.leak, err, err2, e.logs)
				testkit.AssertNoSecret(t, botToken, err, err2, e.logs)
			})
		}
		// Nothing changed.
		if chk, err := ok.c.CheckIndex(ctx, ok.repo, version.MustParse("1.2.4"), both); err != nil || chk.Digest != (v1.Hash{}) {
			t.Fatalf("1.2.4 exists: %v %+v", err, chk)
		}
	})
}

func TestSecretsAreScrubbed(t *testing.T) {
	var logs testkit.Logs
	c := New(WithAuth(botUser, botToken), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	cause := fmt.Errorf("GET https://r.example/token?password=%s: denied", botToken)
	err := c.fail("reading", "r.example/acme/app:1.2.3", "r.example", cause)
	testkit.AssertNoSecret(t, botToken, err)
	var rerr *Error
	if !errors.As(err, &rerr) || rerr.Unwrap() != nil {
		t.Fatalf("an error whose cause held the secret still unwraps to it")
	}
	if !strings.Contains(err.Error(), "password=***") {
		t.Fatalf("scrubbed error: %v", err)
	}
	clean := errors.New("connection refused")
	if err := c.fail("reading", "r.example/acme/app:1.2.3", "r.example", clean); !errors.Is(err, clean) {
		t.Fatalf("a clean cause must stay reachable: %v", err)
	}
	// A retried request whose error echoes the credentials is logged scrubbed.
	echo := fmt.Errorf("wrapped: %w: %w", errors.New("Basic cmVsZWFzZS1ib3Q6Z2hwX1NoMXBHNGF0ZVQwa2VuVmFsdWUwMDQy"), io.ErrUnexpectedEOF)
	g := &guard{base: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, echo }),
		clock: clock.NewFake(created), log: c.o.logger, attempts: 2, backoff: time.Millisecond, scrub: c.scrub}
	req, _ := http.NewRequest(http.MethodGet, "https://r.example/v2/", nil)
	if _, err := g.RoundTrip(req); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("guard: %v", err)
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Fatalf("the retry was not logged:\n%s", &logs)
	}
	testkit.AssertNoSecret(t, botToken, &logs)
	if got := c.scrub("x " + botToken); got != "x ***" {
		t.Fatalf("scrub: %q", got)
	}
}

func TestRetryable(t *testing.T) {
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	for _, tc := range []struct {
		resp *http.Response
		err  error
		want bool
	}{
		{resp(200), nil, false},
		{nil, context.Canceled, false},
		{nil, &plainHTTPError{host: "x"}, false},
		{nil, fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{resp(401), nil, false},
		{resp(404), nil, false},
		{resp(503), nil, true},
		{resp(429), nil, true},
		{nil, errors.New("some other failure"), false},
	} {
		if _, got := retryable(tc.resp, tc.err); got != tc.want {
			t.Errorf("retryable(%v, %v) = %v, want %v", tc.resp, tc.err, got, tc.want)
		}
	}
}

// Printing a client in any form shows who it logs in as, never the password.
func TestPrintedClientShowsNoPassword(t *testing.T) {
	const pass = "registry-pass-that-must-not-print"
	c := New(WithAuth("ci", pass), WithInsecureHosts("127.0.0.1:5000"))
	for _, f := range []string{"%s", "%v", "%+v", "%#v"} {
		if got := fmt.Sprintf(f, c); strings.Contains(got, pass) || !strings.Contains(got, "ci") {
			t.Errorf("Sprintf(%q, client) = %q", f, got)
		}
	}
	if got := fmt.Sprintf("%v", struct{ C *Client }{c}); strings.Contains(got, pass) {
		t.Errorf("a struct holding the client prints %q", got)
	}
}
