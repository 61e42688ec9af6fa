package registry

import (
	"bytes"
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/pipeline/testkit"
	"github.com/shipgate/shipgate/pipeline/version"
)

func TestCheckIndexReportsWhatIsMissing(t *testing.T) {
	eachLane(t, lanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		v := version.MustParse("1.2.3")

		chk, err := e.c.CheckIndex(ctx, e.repo, v, both)
		if err != nil || chk.OK() || len(chk.Problems) != 1 || !strings.Contains(chk.Problems[0], "tag 1.2.3 does not exist") {
			t.Fatalf("absent: %v %+v", err, chk.Problems)
		}

		// An index missing arm64.
		r := newRelease(t, 256)
		p, err := e.c.Publish(ctx, specFor(e.repo, "1.2.3", r.sources()[:1]))
		if err != nil {
			t.Fatal(err)
		}
		chk, err = e.c.CheckIndex(ctx, e.repo, v, both)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"platform linux/arm64 is missing from index " + p.Index.String() + " (it holds linux/amd64)",
			"tag 1.2.3-arm64 does not exist",
		}
		if strings.Join(chk.Problems, "|") != strings.Join(want, "|") {
			t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(chk.Problems, "\n"), strings.Join(want, "\n"))
		}
		if chk.Digest != p.Index || chk.Entries[0].Digest != testkit.Digest(t, r.amd) || chk.Entries[1].Digest != (v1.Hash{}) {
			t.Fatalf("entries %+v", chk.Entries)
		}
		if err := chk.Err(); err == nil || !strings.Contains(err.Error(), "re-run publish") {
			t.Fatalf("Err: %v", err)
		}
		// The same index is complete for amd64 alone.
		if chk, _ := e.c.CheckIndex(ctx, e.repo, v, []version.Platform{amd64}); !chk.OK() {
			t.Fatal(chk.Err())
		}
	})
}

func TestCheckIndexVersionAnnotation(t *testing.T) {
	e := localEnv(t)
	p := e.publish("1.2.3")
	// Someone copies 1.2.3's index to 1.2.4.
	e.retag("acme/app@"+p.Index.String(), "acme/app:1.2.4")
	e.retag("acme/app:1.2.3-amd64", "acme/app:1.2.4-amd64")
	e.retag("acme/app:1.2.3-arm64", "acme/app:1.2.4-arm64")
	chk, err := e.c.CheckIndex(context.Background(), e.repo, version.MustParse("1.2.4"), both)
	if err != nil || chk.OK() || !strings.Contains(chk.Problems[0], `annotated as version "1.2.3", not 1.2.4`) {
		t.Fatalf("%v %v", err, chk.Problems)
	}
}

func TestPromoteRetagsExactBytes(t *testing.T) {
	eachLane(t, lanes(), func(t *testing.T, e *env) {
		p := e.publish("1.2.3")
		plan := e.promote("1.2.3", p, TagOptions{})
		if len(plan.Moves) != 1 || plan.Moves[0].Tag != "latest" || plan.Moves[0].From != (v1.Hash{}) {
			t.Fatalf("first promote plan:\n%s", plan)
		}
		if got := e.resolve("acme/app", "latest"); got != p.Index {
			t.Fatalf("latest → %s, want %s", got, p.Index)
		}
		if !bytes.Equal(e.manifestBytes("acme/app:latest"), e.manifestBytes("acme/app:1.2.3")) {
			t.Fatalf("latest's bytes differ from 1.2.3's")
		}

		// Again: already there, no PUT at all.
		mark := e.mark()
		plan = e.promote("1.2.3", p, TagOptions{})
		if !plan.Done() || len(plan.Already) != 1 {
			t.Fatalf("second promote plan:\n%s", plan)
		}
		if n := e.count("PUT", ``, mark); n != 0 {
			t.Fatalf("second promote sent %d PUTs", n)
		}

		// A plan made earlier applied after latest already moved there: no PUT either.
		plan2 := e.planTags("1.3.0", e.publish("1.3.0"), TagOptions{})
		e.applyTags(plan2)
		mark = e.mark()
		e.applyTags(plan2)
		if n := e.count("PUT", ``, mark); n != 0 {
			t.Fatalf("re-applying sent %d PUTs", n)
		}
	})
}

func TestPromoteRules(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	floating := TagOptions{Floating: true}
	v := func(s string) version.Version { return version.MustParse(s) }
	expect := func(tag string, p Published) {
		t.Helper()
		if got := e.resolve("acme/app", tag); got != p.Index {
			t.Fatalf("%s → %s, want %s", tag, got, p.Index)
		}
	}

	p123 := e.publish("1.2.3")
	plan := e.promote("1.2.3", p123, floating)
	if len(plan.Moves) != 3 {
		t.Fatalf("first release moves latest, 1.2, 1:\n%s", plan)
	}
	expect("latest", p123)
	expect("1.2", p123)
	expect("1", p123)

	p130 := e.publish("1.3.0")
	e.promote("1.3.0", p130, floating)
	expect("latest", p130)
	expect("1.3", p130)
	expect("1", p130)
	expect("1.2", p123)

	// A hotfix of the older line: latest and 1 stay, 1.2 moves; skips are not errors.
	p124 := e.publish("1.2.4")
	plan = e.promote("1.2.4", p124, floating)
	if len(plan.Moves) != 1 || plan.Moves[0].Tag != "1.2" || len(plan.Skips) != 2 || len(plan.Blocked()) != 0 {
		t.Fatalf("hotfix plan:\n%s", plan)
	}
	if !strings.Contains(plan.Skips[0].Reason, "holds 1.3.0") || !strings.Contains(plan.Skips[0].Reason, "hotfix") {
		t.Fatalf("hotfix skip reason: %s", plan.Skips[0].Reason)
	}
	expect("latest", p130)
	expect("1", p130)
	expect("1.2", p124)

	// An older patch after a newer one in the same line: 1.2 stays too.
	p122 := e.publish("1.2.2")
	plan = e.promote("1.2.2", p122, floating)
	if !plan.Done() || len(plan.Skips) != 3 {
		t.Fatalf("older patch plan:\n%s", plan)
	}
	expect("1.2", p124)

	// Without floating, only latest is considered.
	p131 := e.publish("1.3.1")
	plan = e.promote("1.3.1", p131, TagOptions{})
	if len(plan.Moves) != 1 || plan.Moves[0].Tag != "latest" || plan.Moves[0].FromVersion != "1.3.0" {
		t.Fatalf("no floating:\n%s", plan)
	}
	expect("1.3", p130)

	// Pre-releases never move anything.
	prc := e.publish("2.0.0-rc.1")
	plan = e.promote("2.0.0-rc.1", prc, floating)
	if !plan.Done() || !strings.Contains(plan.String(), "pre-release") {
		t.Fatalf("pre-release plan:\n%s", plan)
	}
	expect("latest", p131)

	// The digest passed in must be the index of that version, and an index at all.
	if _, err := e.c.PlanTags(ctx, e.repo, v("1.3.1"), p130.Index, floating); err == nil || !strings.Contains(err.Error(), `annotated as version "1.3.0", not 1.3.1`) {
		t.Fatalf("wrong digest: %v", err)
	}
	amd := p131.Platforms["linux/amd64"]
	if _, err := e.c.PlanTags(ctx, e.repo, v("1.3.1"), amd, floating); err == nil || !strings.Contains(err.Error(), "not a release index") {
		t.Fatalf("single manifest digest: %v", err)
	}
	mark := e.mark()
	missing := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	if _, err := e.c.PlanTags(ctx, e.repo, v("1.3.1"), missing, floating); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("unknown digest: %v", err)
	}
	if n := e.count("GET", missing.Hex, mark); n != 1 {
		t.Fatalf("a 404 was asked %d times; it must not be retried", n)
	}
	expect("latest", p131)
}

func TestPromoteUnknownLatest(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	p := e.publish("1.2.3")
	v := version.MustParse("1.2.3")

	// latest was pushed by hand: a single image, no version.
	r := newRelease(t, 128)
	if err := remote.Write(e.ref("acme/app:latest"), r.amd); err != nil {
		t.Fatal(err)
	}
	handPushed := e.resolve("acme/app", "latest")
	plan, err := e.c.PlanTags(ctx, e.repo, v, p.Index, TagOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Done() || len(plan.Blocked()) != 1 || !strings.Contains(plan.Blocked()[0].Reason, "--allow-unknown-latest") {
		t.Fatalf("unknown latest plan:\n%s", plan)
	}
	mark := e.mark()
	e.applyTags(plan)
	if e.count("PUT", ``, mark) != 0 || e.resolve("acme/app", "latest") != handPushed {
		t.Fatalf("blocked latest was changed")
	}

	// An index without a version annotation is unknown too.
	idx := mustIndex(t)
	if err := remote.WriteIndex(e.ref("acme/app:latest"), idx); err != nil {
		t.Fatal(err)
	}
	plan, err = e.c.PlanTags(ctx, e.repo, v, p.Index, TagOptions{})
	if err != nil || len(plan.Blocked()) != 1 || !strings.Contains(plan.Blocked()[0].Reason, "no version annotation") {
		t.Fatalf("unannotated index: %v\n%s", err, plan)
	}
	// An annotation that is not a version.
	odd := mutate.Annotations(idx, map[string]string{AnnotationVersion: "nightly"}).(v1.ImageIndex)
	if err := remote.WriteIndex(e.ref("acme/app:latest"), odd); err != nil {
		t.Fatal(err)
	}
	plan, _ = e.c.PlanTags(ctx, e.repo, v, p.Index, TagOptions{})
	if len(plan.Blocked()) != 1 || !strings.Contains(plan.Blocked()[0].Reason, `"nightly"`) {
		t.Fatalf("odd annotation:\n%s", plan)
	}

	// A floating tag holding a version of another line is unknown as well.
	p130 := e.publish("1.3.0")
	e.retag("acme/app@"+p130.Index.String(), "acme/app:1.2")
	plan, _ = e.c.PlanTags(ctx, e.repo, v, p.Index, TagOptions{Floating: true})
	if b := plan.Blocked(); len(b) != 2 || b[1].Tag != "1.2" || !strings.Contains(b[1].Reason, "annotated as 1.3.0, which is not of the 1.2 line") {
		t.Fatalf("floating tag of another line:\n%s", plan)
	}

	plan, err = e.c.PlanTags(ctx, e.repo, v, p.Index, TagOptions{AllowUnknownLatest: true})
	if err != nil || len(plan.Moves) != 1 {
		t.Fatalf("allowed: %v\n%s", err, plan)
	}
	e.applyTags(plan)
	if e.resolve("acme/app", "latest") != p.Index {
		t.Fatalf("allowed overwrite did not happen")
	}
}

func TestApplyTagsRefusesATagMovedSinceThePlan(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	_, p2, plan := e.planAfter("1.2.3", "1.2.4", TagOptions{})
	// A concurrent promote of 1.3.0 lands between plan and apply.
	p3 := e.publishPromoted("1.3.0", TagOptions{})
	err := e.c.ApplyTags(ctx, plan)
	if err == nil || !strings.Contains(err.Error(), "moved since the plan") {
		t.Fatalf("apply over a moved tag: %v", err)
	}
	if e.resolve("acme/app", "latest") != p3.Index {
		t.Fatalf("latest was overwritten")
	}
	// Re-planning now skips, as the hotfix rule says.
	plan, _ = e.c.PlanTags(ctx, e.repo, version.MustParse("1.2.4"), p2.Index, TagOptions{})
	if !plan.Done() {
		t.Fatalf("re-plan:\n%s", plan)
	}
	// A plan not made by PlanTags is refused.
	if err := e.c.ApplyTags(ctx, TagPlan{Repository: e.repo, Digest: p2.Index, Moves: []TagMove{{Tag: "latest"}}}); err == nil || !strings.Contains(err.Error(), "holds no index manifest, so no tag was moved") || !strings.Contains(err.Error(), "bug in shipgate") {
		t.Fatalf("hand-made plan: %v", err)
	}
	// A tampered plan is refused.
	plan, _ = e.c.PlanTags(ctx, e.repo, version.MustParse("1.3.0"), p3.Index, TagOptions{AllowUnknownLatest: true})
	plan.Digest = p2.Index
	plan.Moves = []TagMove{{Tag: "latest", From: p3.Index}}
	if err := e.c.ApplyTags(ctx, plan); err == nil || !strings.Contains(err.Error(), "does not hash to "+p2.Index.String()) || !strings.Contains(err.Error(), "bug in shipgate") {
		t.Fatalf("tampered plan: %v", err)
	}
}

func TestRollback(t *testing.T) {
	eachLane(t, lanes(), func(t *testing.T, e *env) {
		ctx := context.Background()
		floating := TagOptions{Floating: true}
		p123 := e.publishPromoted("1.2.3", floating)
		p130 := e.publishPromoted("1.3.0", floating)

		plan, err := e.c.PlanRollback(ctx, e.repo, version.MustParse("1.2.3"), both, floating)
		if err != nil {
			t.Fatal(err)
		}
		if !plan.Rollback || len(plan.Moves) != 2 || plan.Moves[0].Tag != "latest" || plan.Moves[1].Tag != "1" || len(plan.Already) != 1 || plan.Already[0] != "1.2" {
			t.Fatalf("rollback plan:\n%s", plan)
		}
		if !strings.Contains(plan.Moves[0].Reason, "rollback from 1.3.0 to 1.2.3") {
			t.Fatalf("reason %q", plan.Moves[0].Reason)
		}
		e.applyTags(plan)
		for _, tag := range []string{"latest", "1", "1.2"} {
			if got := e.resolve("acme/app", tag); got != p123.Index {
				t.Fatalf("%s → %s after rollback", tag, got)
			}
		}
		if got := e.resolve("acme/app", "1.3"); got != p130.Index {
			t.Fatalf("1.3 moved: %s", got)
		}
		// Promote of 1.3.0 again moves latest forward.
		e.promote("1.3.0", p130, floating)
		if e.resolve("acme/app", "latest") != p130.Index {
			t.Fatal("re-promote after rollback")
		}

		// Refusals: incomplete, absent, pre-release. Nothing changes.
		r := newRelease(t, 128)
		if _, err := e.c.Publish(ctx, specFor(e.repo, "1.1.0", r.sources()[:1])); err != nil {
			t.Fatal(err)
		}
		mark := countWrites(e.proxy.Requests())
		for _, tc := range []struct{ to, want string }{
			{"1.1.0", "platform linux/arm64 is missing"},
			{"1.0.0", "tag 1.0.0 does not exist"},
			{"1.2.3-rc.1", "pre-release"},
		} {
			if _, err := e.c.PlanRollback(ctx, e.repo, version.MustParse(tc.to), both, floating); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("rollback to %s: %v", tc.to, err)
			}
		}
		if n := countWrites(e.proxy.Requests()) - mark; n != 0 {
			t.Fatalf("refused rollbacks wrote %d requests", n)
		}
	})
}

func TestRollbackUnknownLatestNeedsAllowance(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	p := e.publish("1.2.3")
	if err := remote.Write(e.ref("acme/app:latest"), newRelease(t, 64).amd); err != nil {
		t.Fatal(err)
	}
	plan, err := e.c.PlanRollback(ctx, e.repo, version.MustParse("1.2.3"), both, TagOptions{})
	if err != nil || len(plan.Blocked()) != 1 {
		t.Fatalf("%v\n%s", err, plan)
	}
	plan, err = e.c.PlanRollback(ctx, e.repo, version.MustParse("1.2.3"), both, TagOptions{AllowUnknownLatest: true})
	if err != nil || len(plan.Moves) != 1 {
		t.Fatalf("%v\n%s", err, plan)
	}
	if err := e.c.ApplyTags(ctx, plan); err != nil || e.resolve("acme/app", "latest") != p.Index {
		t.Fatalf("apply: %v", err)
	}
}
