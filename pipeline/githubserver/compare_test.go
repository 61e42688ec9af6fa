package githubserver

import (
	"fmt"
	"testing"
)

func TestCompareBranches(t *testing.T) {
	s, _ := newServer(t, Options{EagerMergeability: true})
	api := s.APIURL() + "repos/acme/app/compare/"
	type cmp struct {
		Status                       string
		AheadBy, BehindBy, Total     int
		Commits                      []string
		MergeBase, Base, BaseMessage string
	}
	get := func(basehead string) cmp {
		t.Helper()
		a := call(t, "GET", api+basehead, pushTok, nil)
		want(t, a, 200, "compare "+basehead)
		m := a.obj()
		c := cmp{Status: m["status"].(string), AheadBy: int(m["ahead_by"].(float64)), BehindBy: int(m["behind_by"].(float64)), Total: int(m["total_commits"].(float64))}
		for _, x := range m["commits"].([]any) {
			c.Commits = append(c.Commits, x.(map[string]any)["sha"].(string))
		}
		c.MergeBase = m["merge_base_commit"].(map[string]any)["sha"].(string)
		c.Base = m["base_commit"].(map[string]any)["sha"].(string)
		c.BaseMessage = m["base_commit"].(map[string]any)["commit"].(map[string]any)["message"].(string)
		return c
	}
	root, _ := s.Ref("acme/app", "refs/heads/main")
	if c := get("main...main"); c.Status != "identical" || c.AheadBy != 0 || c.BehindBy != 0 || len(c.Commits) != 0 {
		t.Fatalf("identical: %+v", c)
	}
	d1 := s.CommitFiles("acme/app", "dev", map[string]string{"a": "1"}, "dev 1")
	d2 := s.CommitFiles("acme/app", "dev", map[string]string{"b": "2"}, "dev 2")
	if c := get("main...dev"); c.Status != "ahead" || c.AheadBy != 2 || c.BehindBy != 0 || c.Total != 2 || fmt.Sprint(c.Commits) != fmt.Sprint([]string{d1, d2}) || c.MergeBase != root || c.BaseMessage != "Initial commit" {
		t.Fatalf("dev ahead of main: %+v", c)
	}
	if c := get("dev...main"); c.Status != "behind" || c.AheadBy != 0 || c.BehindBy != 2 || len(c.Commits) != 0 || c.Base != d2 {
		t.Fatalf("main behind dev: %+v", c)
	}
	m1 := s.CommitFiles("acme/app", "release/1.0.0", map[string]string{"CHANGELOG.md": "## [1.0.0]\n"}, "release")
	// Branch names with a slash, escaped as go-github sends them, and owner:branch.
	if c := get("dev...release%2F1.0.0"); c.Status != "diverged" || c.AheadBy != 1 || c.BehindBy != 2 || fmt.Sprint(c.Commits) != fmt.Sprint([]string{m1}) || c.MergeBase != root {
		t.Fatalf("diverged: %+v", c)
	}
	if c := get("acme:dev..." + d1); c.Status != "behind" || c.BehindBy != 1 {
		t.Fatalf("dev against a commit: %+v", c)
	}
	want(t, call(t, "GET", api+"main...nope", pushTok, nil), 404, "unknown head")
	want(t, call(t, "GET", api+"main..dev", pushTok, nil), 404, "two dots")
	want(t, call(t, "GET", api+"other:main...dev", pushTok, nil), 404, "another owner's branch")
	want(t, call(t, "GET", api+"main...dev", noneTok, nil), 404, "a private repository the token cannot see")
	want(t, call(t, "GET", api+"main...dev", readTok, nil), 200, "contents: read is enough")
}

func TestMergeKeepsTheBaseChangesAndBranchConflicts(t *testing.T) {
	s, _ := newServer(t, Options{EagerMergeability: true})
	api := s.APIURL() + "repos/acme/app/"
	s.CommitFiles("acme/app", "dev", map[string]string{"dev.txt": "work in progress\n", "src/main.go": "package main // dev\n"}, "dev work")
	s.CommitFiles("acme/app", "main", map[string]string{"CHANGELOG.md": "# Changelog\n\n## [1.0.0]\n", "src/main.go": "package main // released\n"}, "release 1.0.0")
	n := s.OpenPullRequest("acme/app", "main", "dev", "Sync main into dev", false)
	a := call(t, "PUT", fmt.Sprintf("%spulls/%d/merge", api, n), pushTok, map[string]any{"merge_method": "merge"})
	want(t, a, 200, "merge main into dev")
	for path, content := range map[string]string{"dev.txt": "work in progress\n", "CHANGELOG.md": "# Changelog\n\n## [1.0.0]\n", "src/main.go": "package main // released\n"} {
		if got, _ := s.File("acme/app", "dev", path); got != content {
			t.Fatalf("dev %s after the merge: %q, want %q", path, got, content)
		}
	}
	if c := call(t, "GET", api+"compare/dev...main", pushTok, nil).obj(); c["status"] != "behind" {
		t.Fatalf("after the merge dev does not contain main: %v", c["status"])
	}

	// A conflict between two branches holds for pull requests opened later.
	s.CommitFiles("acme/app", "main", map[string]string{"x": "main"}, "main again")
	s.SetBranchConflict("acme/app", "main", "dev", true)
	a = call(t, "POST", api+"pulls", pushTok, map[string]any{"title": "Sync", "head": "main", "base": "dev"})
	want(t, a, 201, "open the second sync")
	pr := call(t, "GET", fmt.Sprintf("%spulls/%v", api, a.obj()["number"]), pushTok, nil).obj()
	if pr["mergeable"] != false || pr["mergeable_state"] != "dirty" {
		t.Fatalf("conflicting pull request: mergeable %v, state %v", pr["mergeable"], pr["mergeable_state"])
	}
	want(t, call(t, "PUT", fmt.Sprintf("%spulls/%v/merge", api, a.obj()["number"]), pushTok, nil), 405, "merge a conflict")
	s.SetBranchConflict("acme/app", "main", "dev", false)
	if pr := call(t, "GET", fmt.Sprintf("%spulls/%v", api, a.obj()["number"]), pushTok, nil).obj(); pr["mergeable_state"] != "clean" {
		t.Fatalf("conflict resolved: %v", pr["mergeable_state"])
	}
}
