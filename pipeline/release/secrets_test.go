package release_test

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// TestSecretsNeverShow runs every phase — with GitHub retrying through injected 5xx and rate
// limits, with refusals, and with wrong credentials of each kind — and checks that no registry
// password, GitHub token or signing key appears in any progress line, error, or report in any
// format.
func TestSecretsNeverShow(t *testing.T) {
	t.Parallel()
	w, _ := newFakeWorld(t, sandbox.Options{})
	logs := &testkit.Logs{}
	w.env.Progress = logs
	var texts []any
	keep := func(rep *step.Report, err error) {
		t.Helper()
		texts = append(texts, err)
		if rep == nil {
			return
		}
		for _, f := range step.Formats {
			out, rerr := rep.Render(f)
			if rerr != nil {
				t.Fatal(rerr)
			}
			texts = append(texts, out)
		}
	}
	ok := func(rep *step.Report, err error) {
		t.Helper()
		keep(rep, err)
		if err != nil {
			t.Fatalf("%v\n%s", err, render(rep))
		}
	}
	failed := func(rep *step.Report, err error) {
		t.Helper()
		keep(rep, err)
		if err == nil {
			t.Fatalf("want an error\n%s", render(rep))
		}
	}

	w.sb.GitHub.Inject5xx("", "", 502, 3)
	w.sb.GitHub.InjectSecondaryRateLimit(429, 5, 2)
	ok(release.Prepare(w.ctx, w.env, "1.0.0"))
	w.sb.ReviewRelease("1.0.0")
	dry := *w.env
	dry.DryRun = true
	ok(release.Publish(w.ctx, &dry, w.publishInput("1.0.0")))
	w.sb.GitHub.Inject5xx("PATCH", "", 503, 2)
	rep, err := release.Publish(w.ctx, w.env, w.publishInput("1.0.0"))
	ok(rep, err)
	idx := digestOf(rep, "index")
	failed(w.promote("1.0.0")) // refused: no smoke test yet
	ok(release.Status(w.ctx, w.env, "1.0.0"))
	w.sb.PassSmokeTest("1.0.0", idx)
	ok(release.Promote(w.ctx, &dry, release.PromoteInput{Version: "1.0.0"}))
	ok(w.promote("1.0.0"))
	w.ship("1.1.0")
	ok(w.promote("1.1.0"))
	ok(release.Rollback(w.ctx, w.env, release.RollbackInput{Version: "1.0.0"}))

	// Wrong credentials of each kind fail, and their error does not echo them either.
	wrongRegistry, wrongToken, wrongKey := "wrong-registry-pass-9911", "ghs_wrongToken9922", "-----BEGIN PRIVATE KEY-----\nd3Jvbmcta2V5LW1hdGVyaWFsLTk5MzM=\n-----END PRIVATE KEY-----\n"
	bad := *w.env
	bad.Secrets.RegistryPassword = wrongRegistry
	failed(release.Promote(w.ctx, &bad, release.PromoteInput{Version: "1.1.0"}))
	bad = *w.env
	bad.Secrets.GitHubToken = wrongToken
	rep, err = release.Status(w.ctx, &bad, "1.0.0") // a 401 shows as refused gates, not an error
	keep(rep, err)
	if !strings.Contains(render(rep), "401 Bad credentials") {
		t.Fatalf("status with a bad token:\n%s", render(rep))
	}
	failed(release.Prepare(w.ctx, &bad, "1.2.0"))
	bad = *w.env
	bad.Secrets.SigningKey = []byte(wrongKey)
	bad.Secrets.SigningPassword = []byte("signing-password-9944")
	w.prepare("1.2.0")
	w.notes("1.2.0", "More.")
	failed(release.Publish(w.ctx, &bad, w.publishInput("1.2.0")))

	texts = append(texts, logs)
	if !strings.Contains(logs.String(), "acted") {
		t.Fatalf("progress log is empty:\n%s", logs)
	}
	secrets := []string{sandbox.RegistryPass, sandbox.Token, sandbox.DownstreamToken, wrongRegistry, wrongToken, "d3Jvbmcta2V5LW1hdGVyaWFsLTk5MzM", "signing-password-9944"}
	for _, line := range strings.Split(string(w.sb.KeyPEM), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	for _, s := range secrets {
		testkit.AssertNoSecret(t, s, texts...)
	}
	t.Logf("%d texts and %d progress lines checked for %d secrets", len(texts), len(logs.Lines()), len(secrets))
}
