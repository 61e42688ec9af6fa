package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

// tokenLanes are ghcr.io-like registries: a token service in front, with the referrers API or
// without it (ghcr.io has none).
var tokenLanes = []struct {
	name string
	o    testkit.RegistryOptions
}{
	{"token+referrers", testkit.RegistryOptions{Token: true, Username: botUser, Password: botToken, Referrers: true}},
	{"token+tag-fallback", testkit.RegistryOptions{Token: true, Username: botUser, Password: botToken}},
}

// tokenEnv starts a token registry and an env (authenticated as the bot) in front of it.
func tokenEnv(tb testing.TB, o testkit.RegistryOptions, opts ...Option) (*env, *testkit.RegistryServer) {
	tb.Helper()
	srv := testkit.StartRegistry(tb, o)
	return newEnv(tb, srv.Host, append([]Option{WithAuth(botUser, botToken)}, opts...)...), srv
}

// publishPhase is publish's registry work as one phase (one client, one session): the release,
// then, as the signature store does it through RemoteOptions, a signature and two attestations
// of the index and a signature of each platform manifest, each listed back.
func publishPhase(tb testing.TB, c *Client, repo, v string) Published {
	tb.Helper()
	p, err := c.Publish(context.Background(), specFor(repo, v, newRelease(tb, 512).sources()))
	if err != nil {
		tb.Fatalf("publish %s: %v", v, err)
	}
	index := digestIn(tb, repo, p.Index)
	attachVia(tb, c, index, bundleType, "signature of "+v)
	attachVia(tb, c, index, bundleType, "sbom of "+v)
	attachVia(tb, c, index, bundleType, "provenance of "+v)
	for _, d := range p.Platforms {
		attachVia(tb, c, digestIn(tb, repo, d), bundleType, "signature of "+d.String())
	}
	return p
}

// promotePhase is promote's registry work as one phase: check the index, list the referrers of
// the index and of each platform (the signature gate), plan the tags, re-check under the lock
// (X.Y.Z again, the plan again), move latest.
func promotePhase(tb testing.TB, c *Client, repo, v string, p Published) {
	tb.Helper()
	ctx := context.Background()
	ver := version.MustParse(v)
	chk, err := c.CheckIndex(ctx, repo, ver, both)
	if err != nil || !chk.OK() || chk.Digest != p.Index {
		tb.Fatalf("check %s: %v %v", v, err, chk.Err())
	}
	for _, d := range append([]v1.Hash{p.Index}, chk.Entries[0].Digest, chk.Entries[1].Digest) {
		if got, err := c.Referrers(ctx, digestIn(tb, repo, d), bundleType); err != nil || len(got) == 0 {
			tb.Fatalf("referrers of %s: %v %v", d, got, err)
		}
	}
	if _, err := c.PlanTags(ctx, repo, ver, p.Index, TagOptions{}); err != nil {
		tb.Fatal(err)
	}
	if now, _, err := c.Resolve(ctx, repo, v); err != nil || now != p.Index {
		tb.Fatalf("re-check: %v %v", now, err)
	}
	plan, err := c.PlanTags(ctx, repo, ver, p.Index, TagOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.ApplyTags(ctx, plan); err != nil {
		tb.Fatal(err)
	}
}

func digestIn(tb testing.TB, repo string, d v1.Hash) name.Digest {
	tb.Helper()
	ref, err := name.NewDigest(repo+"@"+d.String(), name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	return ref
}

// phaseCost is what one phase asked of the registry and its token service.
type phaseCost struct {
	requests, pings, tokens int
	byScope                 map[string]int
}

// measure runs a phase and counts its requests, pings and token requests.
func measure(e *env, srv *testkit.RegistryServer, phase func()) phaseCost {
	srv.Tokens.Reset()
	e.counter.Reset()
	mark := e.mark()
	phase()
	return phaseCost{requests: e.counter.Total().Requests, pings: e.count(http.MethodGet, `^/v2/$`, mark),
		tokens: srv.Tokens.Requests(), byScope: srv.Tokens.ByScope()}
}

// One phase, one session: one ping, and one token per repository scope, reused by images, tags,
// signatures and attestations (#15).
func TestOneTokenPerScopePerPhase(t *testing.T) {
	for _, l := range tokenLanes {
		t.Run(l.name, func(t *testing.T) {
			e, srv := tokenEnv(t, l.o)
			var p Published
			for _, ph := range []struct {
				name string
				run  func(c *Client)
			}{
				{"publish", func(c *Client) { p = publishPhase(t, c, e.repo, "1.2.3") }},
				{"promote", func(c *Client) { promotePhase(t, c, e.repo, "1.2.3", p) }},
				{"cleanup", func(c *Client) { cleanupPhase(t, c, e.repo) }},
			} {
				c := e.fresh()
				cost := measure(e, srv, func() { ph.run(c) })
				t.Logf("%s: %d requests, %d ping(s), %s", ph.name, cost.requests, cost.pings, srv.Tokens)
				if cost.pings != 1 {
					t.Errorf("%s pinged the registry %d times, want once", ph.name, cost.pings)
				}
				for scope, n := range cost.byScope {
					if n > 1 {
						t.Errorf("%s asked %d times for a token of %s, want once", ph.name, n, scope)
					}
				}
				if cost.tokens == 0 || srv.Tokens.Refused() != 0 {
					t.Errorf("%s: %d token requests, %d refused", ph.name, cost.tokens, srv.Tokens.Refused())
				}
			}
		})
	}
}

// cleanupPhase lists candidates, plans and applies their deletion (its DELETEs make
// go-containerregistry start a handshake each).
func cleanupPhase(tb testing.TB, c *Client, repo string) {
	tb.Helper()
	ctx := context.Background()
	if _, err := c.Publish(ctx, specFor(repo, "1.3.0-rc.1", newRelease(tb, 256).sources())); err != nil {
		tb.Fatal(err)
	}
	cands, err := c.CandidateTags(ctx, repo, version.MustParse("1.3.0"))
	if err != nil || len(cands) != 3 {
		tb.Fatalf("candidates: %v %v", cands, err)
	}
	plan, err := c.PlanDelete(ctx, repo, candidateNames(cands), []string{"1.2.3", LatestTag})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.ApplyDelete(ctx, plan); err != nil {
		tb.Fatal(err)
	}
}

// A token that stops working (expired, revoked) is asked for again, not served from the session;
// one past half its life is not handed to a new handshake.
func TestExpiredTokenIsAskedForAgain(t *testing.T) {
	e, srv := tokenEnv(t, tokenLanes[1].o)
	p := e.publish("1.2.3")
	ctx := context.Background()
	before := srv.Tokens.Requests()
	srv.RevokeTokens()
	if d, found, err := e.c.Resolve(ctx, e.repo, "1.2.3"); err != nil || !found || d != p.Index {
		t.Fatalf("after the token was revoked: %v %v %v", d, found, err)
	}
	if srv.Tokens.Requests() != before+1 {
		t.Fatalf("%d token requests after revoking, want 1", srv.Tokens.Requests()-before)
	}
	// A new handshake (the tag listing makes one) within the token's life reuses it; past half
	// of it (the token service says 300s), asks again.
	before = srv.Tokens.Requests()
	if _, err := e.c.CandidateTags(ctx, e.repo, version.MustParse("1.2.3")); err != nil || srv.Tokens.Requests() != before {
		t.Fatalf("listing within the token's life: %v, %d token requests", err, srv.Tokens.Requests()-before)
	}
	e.clock.Advance(151 * time.Second)
	if _, err := e.c.CandidateTags(ctx, e.repo, version.MustParse("1.2.3")); err != nil || srv.Tokens.Requests() != before+1 {
		t.Fatalf("listing past half the token's life: %v, %d token requests", err, srv.Tokens.Requests()-before)
	}
}

// No token the token service hands out, and no password, reaches an error or a log line: not on
// a refused push, not on a wrong password, not when the token answer is one go-containerregistry
// cannot read (it quotes the answer in its error).
func TestTokensNeverReachErrors(t *testing.T) {
	ctx := context.Background()
	e, srv := tokenEnv(t, tokenLanes[1].o)
	e.publish("1.2.3")
	anon := newEnv(t, srv.Host)
	_, pushErr := anon.c.Publish(ctx, specFor(anon.repo, "1.2.4", newRelease(t, 256).sources()))
	var rerr *Error
	if !errors.As(pushErr, &rerr) || rerr.Status != http.StatusUnauthorized || fault.Of(pushErr) != fault.Unreadable || !strings.Contains(pushErr.Error(), "--registry-password") {
		t.Fatalf("anonymous push: %v", pushErr)
	}
	wrong := newEnv(t, srv.Host, WithAuth(botUser, "ghp_WrongT0kenValue9999"))
	_, _, wrongErr := wrong.c.Resolve(ctx, wrong.repo, "1.2.3")
	if !errors.As(wrongErr, &rerr) || rerr.Status != http.StatusUnauthorized || !strings.Contains(wrongErr.Error(), "--registry-username") {
		t.Fatalf("wrong password: %v", wrongErr)
	}
	odd := newEnv(t, srv.Host, WithAuth(botUser, botToken))
	leaked := "tk_0ddF0rmatT0kenValue4242"
	odd.proxy.Inject(testkit.Fault{Method: http.MethodGet, Path: regexp.MustCompile(`^/token\?`), Status: http.StatusOK, Body: fmt.Sprintf(`{"jwt":%q}`, leaked)})
	_, _, oddErr := odd.c.Resolve(ctx, odd.repo, "1.2.3")
	if oddErr == nil || !strings.Contains(oddErr.Error(), "bearer response") {
		t.Fatalf("unreadable token answer: %v", oddErr)
	}
	t.Logf("errors:\n%v\n%v\n%v", pushErr, wrongErr, oddErr)
	if len(srv.Tokens.Issued()) == 0 {
		t.Fatal("no token was issued")
	}
	for _, tok := range append(srv.Tokens.Issued(), leaked) {
		testkit.AssertNoSecret(t, tok, pushErr, wrongErr, oddErr, e.logs, anon.logs, wrong.logs, odd.logs)
	}
	testkit.AssertNoSecret(t, botToken, pushErr, wrongErr, oddErr, wrong.logs, odd.logs)
	testkit.AssertNoSecret(t, "ghp_WrongT0kenValue9999", wrongErr, wrong.logs)
	if got := e.c.scrub(`Authorization: Bearer tk_abc.DEF-123 {"access_token": "tk_xyz"}`); got != `Authorization: Bearer *** {"access_token": "***"}` {
		t.Fatalf("scrub: %q", got)
	}
}

// BenchmarkTokenPhases runs publish's and promote's registry work, each as one phase (a new
// client), against a ghcr.io-like token registry, and reports requests and token requests per
// phase.
func BenchmarkTokenPhases(b *testing.B) {
	for _, l := range tokenLanes {
		b.Run(l.name, func(b *testing.B) {
			e, srv := tokenEnv(b, l.o)
			var pub, pro phaseCost
			for i := 0; i < b.N; i++ {
				v := fmt.Sprintf("1.%d.0", i)
				var p Published
				c := measure(e, srv, func() { p = publishPhase(b, e.fresh(), e.repo, v) })
				pub.requests, pub.tokens, pub.pings = pub.requests+c.requests, pub.tokens+c.tokens, pub.pings+c.pings
				c = measure(e, srv, func() { promotePhase(b, e.fresh(), e.repo, v, p) })
				pro.requests, pro.tokens, pro.pings = pro.requests+c.requests, pro.tokens+c.tokens, pro.pings+c.pings
			}
			n := float64(b.N)
			b.ReportMetric(float64(pub.requests)/n, "publish-requests/op")
			b.ReportMetric(float64(pub.tokens)/n, "publish-tokens/op")
			b.ReportMetric(float64(pro.requests)/n, "promote-requests/op")
			b.ReportMetric(float64(pro.tokens)/n, "promote-tokens/op")
			b.ReportMetric(float64(pub.pings+pro.pings)/n, "pings/op")
		})
	}
}
