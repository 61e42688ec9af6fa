package release_test

// The release PR as a gate: publish pushes nothing until the PR is ready for review, approved as
// the base branch requires and the source commit's required checks passed; promote moves latest
// only when the PR can merge now (--auto-merge waits for running checks, never for reviews or
// failed checks).

import (
	"testing"

	"github.com/shipgate/shipgate/pipeline/release"
	"github.com/shipgate/shipgate/pipeline/sandbox"
	"github.com/shipgate/shipgate/pipeline/step"
)

func TestPublishWaitsForAReviewedPR(t *testing.T) {
	eachLane(t, func(t *testing.T, w *world) {
		if rep, err := release.Prepare(w.ctx, w.env, "1.0.0"); err != nil {
			t.Fatalf("prepare: %v\n%s", err, render(rep))
		}
		rec := w.recordWrites()
		publish := func() (*step.Report, error) { return release.Publish(w.ctx, w.env, w.publishInput("1.0.0")) }

		rep, err := publish()
		refused(t, err, rep, "pull request", "is a draft: mark it ready for review")
		pr := 0
		for _, p := range w.sb.GitHub.Pulls(sandbox.Repo) {
			pr = p.Number
		}
		w.sb.GitHub.MarkReady(sandbox.Repo, pr)
		rep, err = publish()
		refused(t, err, rep, "pull request", "approv")

		w.sb.GitHub.Approve(sandbox.Repo, pr, sandbox.Maintainer)
		source, _ := w.sb.GitHub.Ref(sandbox.Repo, "refs/heads/release/1.0.0")
		w.sb.GitHub.SetCheckState(sandbox.Repo, source, "failure")
		rep, err = publish()
		refused(t, err, rep, "pull request", "ci")
		w.sb.GitHub.SetCheckState(sandbox.Repo, source, "pending")
		before := w.state("1.0.0")
		rep, err = publish()
		refused(t, err, rep, "pull request", "still running")

		if got := rec.list(); len(got) != 0 || w.state("1.0.0") != before {
			t.Fatalf("refused publishes changed the world: writes %q\n%s", got, diff(w.state("1.0.0"), before))
		}
		w.sb.GitHub.SetCheckState(sandbox.Repo, source, "success")
		if rep, err := publish(); err != nil {
			t.Fatalf("publish of a reviewed PR with green checks: %v\n%s", err, render(rep))
		}
	})
}

func TestPromoteOnlyWhenThePRCanMergeNow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sandbox.Options{})
	idx := w.ship("1.0.0")
	head, _ := w.sb.GitHub.Ref(sandbox.Repo, "refs/heads/release/1.0.0")

	w.sb.GitHub.SetCheckState(sandbox.Repo, head, "failure")
	rep, err := release.Promote(w.ctx, w.env, release.PromoteInput{Version: "1.0.0", AutoMerge: true})
	refused(t, err, rep, "pull request", "cannot merge")
	if w.tag("latest") != "" {
		t.Fatal("latest moved while a required check failed")
	}

	w.sb.GitHub.SetCheckState(sandbox.Repo, head, "pending")
	rep, err = w.promote("1.0.0")
	refused(t, err, rep, "pull request", "--auto-merge")
	if w.tag("latest") != "" {
		t.Fatal("latest moved while the merge would wait, without --auto-merge")
	}
	rep, err = release.Promote(w.ctx, w.env, release.PromoteInput{Version: "1.0.0", AutoMerge: true})
	if err != nil || w.tag("latest") != idx {
		t.Fatalf("promote --auto-merge with running checks: %v, latest %s\n%s", err, w.tag("latest"), render(rep))
	}
	for _, p := range w.sb.GitHub.Pulls(sandbox.Repo) {
		if !p.AutoMerge && !p.Merged {
			t.Fatalf("PR #%d neither merged nor set to auto-merge", p.Number)
		}
	}
}
