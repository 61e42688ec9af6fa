package registry

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

// faultLanes are the registries the fault tests run against (the referrers lane adds nothing here).
func faultLanes() []lane { return lanes()[1:] }

func TestPublishSurvivesFaults(t *testing.T) {
	eachLane(t, faultLanes(), func(t *testing.T, e *env) {
		rules := map[string]*testkit.Rule{
			"503 on blob data":        e.proxy.Inject(testkit.Fault{Method: "PATCH", Path: regexp.MustCompile(`/blobs/uploads/`), Times: 2, Status: 503}),
			"429 on a manifest HEAD":  e.proxy.Inject(testkit.Fault{Method: "HEAD", Path: regexp.MustCompile(`/manifests/`), Times: 1, Status: 429, RetryAfter: "7"}),
			"dropped manifest PUT":    e.proxy.Inject(testkit.Fault{Method: "PUT", Path: regexp.MustCompile(`/manifests/sha256:`), Times: 1, Drop: true}),
			"dropped blob HEAD":       e.proxy.Inject(testkit.Fault{Method: "HEAD", Path: regexp.MustCompile(`/blobs/sha256:`), Times: 1, Drop: true}),
			"answer lost after write": e.proxy.Inject(testkit.Fault{Method: "PUT", Path: regexp.MustCompile(`/manifests/1\.2\.3$`), Times: 1, DropResponse: true}),
			"500 on a commit":         e.proxy.Inject(testkit.Fault{Method: "PUT", Path: regexp.MustCompile(`/blobs/uploads/.*digest=`), Times: 1, Status: 500}),
		}
		r := newRelease(t, 8192)
		p, err := e.c.Publish(context.Background(), specFor(e.repo, "1.2.3", r.sources()))
		if err != nil {
			t.Fatalf("publish through faults: %v\nlogs:\n%s", err, e.logs)
		}
		for what, rule := range rules {
			if rule.Injected() == 0 {
				t.Errorf("fault %q never happened", what)
			}
		}
		if chk, err := e.c.CheckIndex(context.Background(), e.repo, version.MustParse("1.2.3"), both); err != nil || !chk.OK() || chk.Digest != p.Index {
			t.Fatalf("check: %v %v", err, chk.Err())
		}
		if !slices.Contains(e.clock.Sleeps(), 7*time.Second) {
			t.Fatalf("Retry-After: 7 not waited out: %v", e.clock.Sleeps())
		}
		if !strings.Contains(e.logs.String(), "retrying") {
			t.Fatalf("retries not logged:\n%s", e.logs)
		}
	})
}

func TestPublishFailsCleanlyThenReRunFinishes(t *testing.T) {
	eachLane(t, faultLanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		r := newRelease(t, 8192)
		spec := specFor(e.repo, "1.2.3", r.sources())
		rule := e.proxy.Inject(testkit.Fault{Method: "PUT", Path: regexp.MustCompile(`/manifests/1\.2\.3$`), Status: 500})
		_, err := e.c.Publish(ctx, spec)
		var rerr *Error
		if !errors.As(err, &rerr) || rerr.Status != 500 || !strings.Contains(err.Error(), "500 from "+e.host+" tagging "+e.repo+":1.2.3: the registry kept failing (tried 4 times)") {
			t.Fatalf("persistent 500: %v", err)
		}
		t.Logf("publish error: %v", err)
		if rule.Injected() != 4 {
			t.Fatalf("the index PUT was tried %d times, want 4 (1 + 3 retries)", rule.Injected())
		}
		if got := e.resolve("acme/app", "1.2.3"); got != (v1.Hash{}) {
			t.Fatalf("1.2.3 exists after a failed publish: %s", got)
		}
		e.proxy.Clear()
		mark := e.mark()
		p, err := e.c.Publish(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if n := e.count("PATCH", ``, mark) + e.count("POST", ``, mark); n != 0 {
			t.Fatalf("re-run uploaded blobs again (%d requests)", n)
		}
		if len(p.Wrote) != 1 || !strings.Contains(p.Wrote[0], "tag 1.2.3 → index") {
			t.Fatalf("re-run wrote %v, want only the index tag", p.Wrote)
		}
	})
}

func TestRetagSurvivesFaults(t *testing.T) {
	eachLane(t, faultLanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		p1 := e.publish("1.2.3")
		plan := e.planTags("1.2.3", p1, TagOptions{})
		lost := e.proxy.Inject(testkit.Fault{Method: "PUT", Path: regexp.MustCompile(`/manifests/latest$`), Times: 1, DropResponse: true})
		flaky := e.proxy.Inject(testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/latest$`), Times: 1, Status: 503})
		if err := e.c.ApplyTags(ctx, plan); err != nil {
			t.Fatalf("retag through faults: %v", err)
		}
		if lost.Injected() != 1 || flaky.Injected() != 1 || e.resolve("acme/app", "latest") != p1.Index {
			t.Fatalf("faults %d %d, latest %s", lost.Injected(), flaky.Injected(), e.resolve("acme/app", "latest"))
		}

		p2 := e.publish("1.3.0")
		plan = e.planTags("1.3.0", p2, TagOptions{})
		down := e.proxy.Inject(testkit.Fault{Method: "PUT", Path: regexp.MustCompile(`/manifests/latest$`), Status: 503})
		err := e.c.ApplyTags(ctx, plan)
		var rerr *Error
		if !errors.As(err, &rerr) || rerr.Status != 503 || rerr.Op != "tagging" || fault.Of(err) != fault.Unreachable {
			t.Fatalf("persistent 503 on retag: %v", err)
		}
		if down.Injected() != 4 {
			t.Fatalf("the 503 answered %d PUTs, want 4 (1 + 3 retries)", down.Injected())
		}
		if e.resolve("acme/app", "latest") != p1.Index {
			t.Fatalf("latest changed by a failed retag")
		}
		e.proxy.Clear()
		dropped := e.proxy.Inject(testkit.Fault{Method: "PUT", Path: regexp.MustCompile(`/manifests/latest$`), Drop: true})
		err = e.c.ApplyTags(ctx, plan)
		if err == nil || !strings.Contains(err.Error(), "could not talk to "+e.host+" (tried 4 times)") || fault.Of(err) != fault.Unreachable {
			t.Fatalf("dropped retag: %v", err)
		}
		if dropped.Injected() != 4 {
			t.Fatalf("%d PUTs dropped, want 4 (1 + 3 retries)", dropped.Injected())
		}
		e.proxy.Clear()
		// The same plan finishes on a re-run.
		e.applyTags(plan)
		if e.resolve("acme/app", "latest") != p2.Index {
			t.Fatal("re-run did not move latest")
		}
	})
}

func TestForbiddenIsNotRetried(t *testing.T) {
	e := localEnv(t)
	rule := e.proxy.Inject(testkit.Fault{Method: "PUT", Path: regexp.MustCompile(`/manifests/`), Status: 403, Body: `{"errors":[{"code":"DENIED","message":"permission_denied: write_package"}]}`})
	_, err := e.c.Publish(context.Background(), specFor(e.repo, "1.2.3", newRelease(t, 256).sources()))
	var rerr *Error
	if !errors.As(err, &rerr) || rerr.Status != 403 || !strings.Contains(err.Error(), "write:packages") || !strings.Contains(err.Error(), "permission_denied") {
		t.Fatalf("403: %v", err)
	}
	t.Logf("publish error: %v", err)
	if rule.Injected() != 1 {
		t.Fatalf("403 was tried %d times", rule.Injected())
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7", 7 * time.Second, true},
		{" 0 ", 0, true},
		{"Tue, 03 Nov 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Tue, 03 Nov 2026 09:00:00 GMT", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	} {
		d, ok := retryAfter(tc.in, now)
		if d != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v %v, want %v %v", tc.in, d, ok, tc.want, tc.ok)
		}
	}
}

func TestRetryAfterIsCapped(t *testing.T) {
	e := localEnv(t)
	limited := e.proxy.Inject(testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/`), Times: 1, Status: 429, RetryAfter: "86400"})
	if _, err := e.c.CheckIndex(context.Background(), e.repo, version.MustParse("1.0.0"), both); err != nil {
		t.Fatal(err)
	}
	if limited.Injected() != 1 {
		t.Fatal("the 429 never happened")
	}
	if !slices.Contains(e.clock.Sleeps(), maxRetryAfter) {
		t.Fatalf("sleeps %v, want one capped at %v", e.clock.Sleeps(), maxRetryAfter)
	}
}

// Plain HTTP only for hosts the caller allows, loopback included.
func TestPlainHTTPOnlyWhenAllowed(t *testing.T) {
	host := testkit.Registry(t, testkit.RegistryOptions{})
	var mu sync.Mutex
	var schemes []string
	rec := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		schemes = append(schemes, r.URL.Scheme)
		mu.Unlock()
		return http.DefaultTransport.RoundTrip(r)
	})
	c := New(WithTransport(rec), WithRetries(0))
	_, err := c.CheckIndex(context.Background(), host+"/acme/app", version.MustParse("1.0.0"), both)
	if err == nil || !strings.Contains(err.Error(), "--plain-http") {
		t.Fatalf("plain HTTP without allowance: %v", err)
	}
	for _, s := range schemes {
		if s != "https" {
			t.Fatalf("a %s request left the client: %v", s, schemes)
		}
	}
	// Allowing another host does not allow this one.
	c = New(WithTransport(rec), WithInsecureHosts("127.0.0.1:1"), WithRetries(0))
	if _, err := c.CheckIndex(context.Background(), host+"/acme/app", version.MustParse("1.0.0"), both); err == nil {
		t.Fatal("plain HTTP to a host not listed")
	}
	c = New(WithTransport(rec), WithInsecureHosts(host))
	if chk, err := c.CheckIndex(context.Background(), host+"/acme/app", version.MustParse("1.0.0"), both); err != nil || chk.OK() {
		t.Fatalf("allowed host: %v %v", err, chk)
	}
}

// A blob upload whose PATCH reached the registry but whose answer was lost is started again from
// scratch (a new upload session), not by sending the data again into the same session, where it
// would be appended twice.
func TestLostUploadAnswerRestartsTheUpload(t *testing.T) {
	eachLane(t, faultLanes(), func(t *testing.T, e *env) {
		lost := e.proxy.Inject(testkit.Fault{Method: "PATCH", Path: regexp.MustCompile(`/blobs/uploads/`), Times: 1, DropResponse: true})
		r := newRelease(t, 8192)
		p, err := e.c.Publish(context.Background(), specFor(e.repo, "1.2.3", r.sources()))
		if err != nil {
			t.Fatalf("publish after a lost PATCH answer: %v", err)
		}
		if lost.Injected() != 1 {
			t.Fatalf("the lost answer happened %d times", lost.Injected())
		}
		if chk, err := e.c.CheckIndex(context.Background(), e.repo, version.MustParse("1.2.3"), both); err != nil || !chk.OK() || chk.Digest != p.Index {
			t.Fatalf("check: %v %v", err, chk.Err())
		}
	})
}

// TestAnswerThatIsNotAManifest: a registry (or a proxy in front of it) that answers a manifest
// GET with 200 and a page that is no manifest has not said what the tag holds: every reader
// fails "could not read", naming --image and the proxy, instead of taking the page for the tag's
// content (an index to repair with --rebuild, a latest to overwrite). A manifest labelled
// application/json is read by its own mediaType.
func TestAnswerThatIsNotAManifest(t *testing.T) {
	ctx := context.Background()
	v := version.MustParse("1.2.3")
	e := localEnv(t)
	pub := e.publish("1.2.3")
	page := e.proxy.Inject(testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/(1\.2\.3|latest)$`), Status: 200, Header: http.Header{"Content-Type": {"text/html"}}, Body: "<html>sign in</html>"})
	reads := map[string]func() error{
		"Resolve":    func() error { _, _, err := e.fresh().Resolve(ctx, e.repo, "latest"); return err },
		"CheckIndex": func() error { _, err := e.fresh().CheckIndex(ctx, e.repo, v, both); return err },
		"PlanTags":   func() error { _, err := e.fresh().PlanTags(ctx, e.repo, v, pub.Index, TagOptions{}); return err },
	}
	for what, read := range reads {
		err := read()
		if fault.Of(err) != fault.Unreadable || !strings.Contains(err.Error(), `"text/html"`) || !strings.Contains(err.Error(), "--image") || strings.Contains(err.Error(), "--rebuild") || strings.Contains(err.Error(), "--allow-unknown-latest") {
			t.Errorf("%s of a login page: class %v, %v", what, fault.Of(err), err)
		}
	}
	if page.Injected() < len(reads) {
		t.Fatalf("the page was served %d times for %d reads", page.Injected(), len(reads))
	}

	// The index itself, served with a generic JSON label, is still read by its mediaType.
	j := localEnv(t)
	pub = j.publish("1.2.3")
	raw := j.manifestBytes("acme/app:1.2.3")
	labelled := j.proxy.Inject(testkit.Fault{Method: "GET", Path: regexp.MustCompile(`/manifests/1\.2\.3$`), Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: string(raw)})
	check, err := j.fresh().CheckIndex(ctx, j.repo, v, both)
	if err != nil || len(check.Problems) != 0 || check.Digest != pub.Index || labelled.Injected() == 0 {
		t.Fatalf("an index labelled application/json: %+v, %v (served %d)", check, err, labelled.Injected())
	}
}
