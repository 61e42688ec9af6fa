package github

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// LockRef is the ref that serializes promotes of a repository. It lives outside refs/heads and
// refs/tags, so it is neither a branch nor a tag: it triggers no workflow and shows in no list.
const LockRef = "refs/shipgate/promote-lock"

// LockHolder names a run that wants the promote lock.
type LockHolder struct {
	// Name says what the run does, for whoever waits ("promote 1.2.3").
	Name string
	// RunID and Attempt identify the workflow run (GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT); both empty
	// outside GitHub Actions.
	RunID, Attempt string
}

// LockPolicy says when a held lock may be taken over.
type LockPolicy struct {
	// StaleAfter is the age after which a held lock counts as stale (0: never).
	StaleAfter time.Duration
	// BreakStale takes over a stale lock (--break-stale-lock).
	BreakStale bool
}

// LockInfo says who holds the promote lock.
type LockInfo struct {
	Holder  string `json:"holder"`
	RunID   string `json:"run_id,omitempty"`
	Attempt string `json:"attempt,omitempty"`
	// Nonce is random per acquisition: two runs with the same name are two holders.
	Nonce    string    `json:"nonce,omitempty"`
	Acquired time.Time `json:"acquired"`
	// SHA is the lock commit the ref points at.
	SHA string `json:"-"`
}

// String names the holder and its run: "promote 1.2.3" (run 42, attempt 1).
func (i LockInfo) String() string {
	s := fmt.Sprintf("%q", i.Holder)
	if i.RunID != "" {
		s += fmt.Sprintf(" (run %s, attempt %s)", i.RunID, i.Attempt)
	}
	return s
}

// crashedAttemptOf reports whether the lock cur was left by another attempt of h's own workflow
// run. GitHub starts attempt n+1 of a run only after attempt n ended, so that attempt is dead.
func (h LockHolder) crashedAttemptOf(cur LockInfo) bool {
	return h.RunID != "" && cur.RunID == h.RunID && cur.Attempt != h.Attempt
}

// LockedError says another promote holds the lock.
type LockedError struct {
	Repo Repo
	Info LockInfo
	// Stale is true when the lock is older than the stale bound (it may be a dead run's).
	Stale      bool
	StaleAfter time.Duration
}

// Error says what happened and what to do.
func (e *LockedError) Error() string {
	s := fmt.Sprintf("promote of %s is locked by %s since %s (ref %s)", e.Repo, e.Info, e.Info.Acquired.UTC().Format(time.RFC3339), LockRef)
	if e.Stale {
		return s + fmt.Sprintf(": the lock is older than %s; if that run is dead, re-run promote with the stale-lock override (--break-stale-lock)", e.StaleAfter)
	}
	return s + fmt.Sprintf(": wait for that promote to finish; if it died, re-run with the stale-lock override once the lock is older than %s, or delete the ref: gh api -X DELETE repos/%s/git/%s", e.StaleAfter, e.Repo, LockRef)
}

// Lock is a held promote lock.
type Lock struct {
	c    *Client
	r    Repo
	Info LockInfo
}

// AcquirePromoteLock takes the promote lock of r for h. GitHub arbitrates: creating a ref that
// exists fails with 422, so of two promotes exactly one creates LockRef. The lock is a commit
// whose message holds h, the time and a random nonce, so two runs with the same name (two laptops
// promoting the same version) are two holders, and the second waits (*LockedError, Refused).
//
// A held lock is taken over only when it is h's own crashed attempt (same RunID, another
// Attempt), or when it is older than p.StaleAfter and p.BreakStale is set. Taking over moves the
// ref, without force, to a new lock commit whose parent is the old one — a compare-and-swap, so of
// two runs taking over only one wins.
func (c *Client) AcquirePromoteLock(ctx context.Context, r Repo, h LockHolder, p LockPolicy) (*Lock, error) {
	if strings.TrimSpace(h.Name) == "" {
		return nil, fault.BadInputf("promote lock of %s: the holder name is empty: name the run", r)
	}
	info := LockInfo{Holder: h.Name, RunID: h.RunID, Attempt: h.Attempt, Nonce: rand.Text(), Acquired: c.clk.Now().UTC().Truncate(time.Second)}
	return c.acquire(ctx, r, info, p, lockRule{takeOver: h.crashedAttemptOf})
}

// AcquireLock takes the promote lock of r for holder; a lock held under the same name is taken
// back as it is.
//
// Deprecated: two runs with the same holder name both hold the lock. Use AcquirePromoteLock with
// the run id and attempt.
func (c *Client) AcquireLock(ctx context.Context, r Repo, holder string, staleAfter time.Duration, breakStale bool) (*Lock, error) {
	if strings.TrimSpace(holder) == "" {
		return nil, fault.BadInputf("promote lock of %s: the holder name is empty: name the run", r)
	}
	info := LockInfo{Holder: holder, Acquired: c.clk.Now().UTC().Truncate(time.Second)}
	return c.acquire(ctx, r, info, LockPolicy{StaleAfter: staleAfter, BreakStale: breakStale},
		lockRule{adopt: func(cur LockInfo) bool { return cur.Holder == holder }})
}

// lockRule says which held locks a run may have: adopt as they are, or take over.
type lockRule struct {
	adopt, takeOver func(LockInfo) bool
}

func (l lockRule) check(f func(LockInfo) bool, cur LockInfo) bool { return f != nil && f(cur) }

// acquire creates LockRef at a new lock commit for info, or takes a held lock over as the rule
// and the policy allow, trying three times while the lock changes hands under it.
func (c *Client) acquire(ctx context.Context, r Repo, info LockInfo, p LockPolicy, rule lockRule) (*Lock, error) {
	sha, err := c.lockCommit(ctx, r, info, "")
	if err != nil {
		return nil, err
	}
	info.SHA = sha
	op := fmt.Sprintf("take the promote lock of %s", r)
	for attempt := 0; attempt < 3; attempt++ {
		_, _, err = c.gh.Git.CreateRef(ctx, r.Owner, r.Name, &gh.Reference{Ref: gh.String(LockRef), Object: &gh.GitObject{SHA: gh.String(sha)}})
		if err == nil {
			return &Lock{c: c, r: r, Info: info}, nil
		}
		err = c.wrap(err, op, r, "contents: write")
		if StatusOf(err) != 422 && !transient(err) {
			return nil, err
		}
		cur, held, lerr := c.LockState(ctx, r)
		if lerr != nil {
			return nil, lerr
		}
		if !held {
			continue // released meanwhile, or our create never arrived: try again
		}
		if cur.SHA == sha || rule.check(rule.adopt, cur) {
			c.logf("promote lock of %s: already held by %s, taking it as the same holder", r, cur)
			return &Lock{c: c, r: r, Info: cur}, nil
		}
		stale := p.StaleAfter > 0 && c.clk.Now().Sub(cur.Acquired) > p.StaleAfter
		if !rule.check(rule.takeOver, cur) && !(stale && p.BreakStale) {
			return nil, fault.AsRefused(&LockedError{Repo: r, Info: cur, Stale: stale, StaleAfter: p.StaleAfter})
		}
		l, again, err := c.takeOver(ctx, r, info, cur, p)
		if !again {
			return l, err
		}
	}
	return nil, err
}

// takeOver moves LockRef from cur to a new lock commit for info (a compare-and-swap); again says
// the lock changed hands meanwhile and acquiring may start over.
func (c *Client) takeOver(ctx context.Context, r Repo, info LockInfo, cur LockInfo, p LockPolicy) (*Lock, bool, error) {
	next, err := c.lockCommit(ctx, r, info, cur.SHA)
	if err != nil {
		return nil, false, err
	}
	info.SHA = next
	_, _, err = c.gh.Git.UpdateRef(ctx, r.Owner, r.Name, &gh.Reference{Ref: gh.String(LockRef), Object: &gh.GitObject{SHA: gh.String(next)}}, false)
	if err == nil {
		c.logf("promote lock of %s: took over the lock of %s (since %s)", r, cur, cur.Acquired.Format(time.RFC3339))
		return &Lock{c: c, r: r, Info: info}, false, nil
	}
	err = c.wrap(err, fmt.Sprintf("take over the promote lock of %s", r), r, "contents: write")
	if now, held, lerr := c.LockState(ctx, r); lerr == nil && held && now.SHA == next {
		return &Lock{c: c, r: r, Info: info}, false, nil
	} else if lerr == nil && held {
		return nil, false, fault.AsRefused(&LockedError{Repo: r, Info: now, StaleAfter: p.StaleAfter})
	}
	return nil, StatusOf(err) == 422 || transient(err), err
}

// lockCommit writes the lock commit (see markerCommit) and returns its SHA.
func (c *Client) lockCommit(ctx context.Context, r Repo, info LockInfo, parent string) (string, error) {
	return c.markerCommit(ctx, r, "lock.json", "shipgate promote lock", info, info.Acquired, parent, fmt.Sprintf("write the promote lock of %s", r))
}

// markerCommit writes a commit that records v as JSON — a tree holding file, and the same JSON in
// the commit message after title — for a ref outside branches and tags to point at.
func (c *Client) markerCommit(ctx context.Context, r Repo, file, title string, v any, when time.Time, parent, op string) (string, error) {
	b, _ := json.Marshal(v)
	ictx := idempotent(ctx)
	tree, _, err := c.gh.Git.CreateTree(ictx, r.Owner, r.Name, "", []*gh.TreeEntry{{Path: gh.String(file), Mode: gh.String("100644"), Type: gh.String("blob"), Content: gh.String(string(b) + "\n")}})
	if err != nil {
		return "", c.wrap(err, op, r, "contents: write")
	}
	ts := gh.Timestamp{Time: when}
	sig := &gh.CommitAuthor{Name: gh.String("shipgate"), Email: gh.String("shipgate@users.noreply.github.com"), Date: &ts}
	commit := &gh.Commit{Message: gh.String(title + "\n\n" + string(b)), Tree: &gh.Tree{SHA: tree.SHA}, Author: sig, Committer: sig}
	if parent != "" {
		commit.Parents = []*gh.Commit{{SHA: gh.String(parent)}}
	}
	cm, _, err := c.gh.Git.CreateCommit(ictx, r.Owner, r.Name, commit, nil)
	if err != nil {
		return "", c.wrap(err, op, r, "contents: write")
	}
	return cm.GetSHA(), nil
}

// readMarker reads the marker commit ref points at into v; found is false when ref does not exist.
func (c *Client) readMarker(ctx context.Context, r Repo, ref string, v any, op string) (sha string, found bool, err error) {
	got, _, err := c.gh.Git.GetRef(ctx, r.Owner, r.Name, strings.TrimPrefix(ref, "refs/"))
	if err != nil {
		err = c.wrap(err, op, r, "contents: read")
		if IsNotFound(err) {
			return "", false, nil
		}
		return "", false, err
	}
	if sha, err = objectSHA(got, op); err != nil {
		return "", false, err
	}
	cm, _, err := c.gh.Git.GetCommit(ctx, r.Owner, r.Name, sha)
	if err != nil {
		return "", false, c.wrap(err, op, r, "contents: read")
	}
	_, js, _ := strings.Cut(cm.GetMessage(), "\n\n")
	if json.Unmarshal([]byte(strings.TrimSpace(js)), v) != nil {
		return sha, true, fault.Unreadablef("%s: the commit %s that %s points at holds no shipgate record: delete the ref if it is not shipgate's (gh api -X DELETE repos/%s/git/%s)", op, short(sha), ref, r, strings.TrimPrefix(ref, "refs/"))
	}
	return sha, true, nil
}

// LockState reads the promote lock of r: who holds it and since when (held false when free).
func (c *Client) LockState(ctx context.Context, r Repo) (LockInfo, bool, error) {
	var info LockInfo
	sha, held, err := c.readMarker(ctx, r, LockRef, &info, fmt.Sprintf("read the promote lock of %s", r))
	if !held {
		return LockInfo{}, false, err
	}
	if err != nil || info.Holder == "" {
		info = LockInfo{Holder: "(unreadable lock commit)"}
	}
	info.SHA = sha
	return info, true, nil
}

// Release frees the lock if it is still this holder's; a lock taken over meanwhile is left alone
// and reported.
func (l *Lock) Release(ctx context.Context) error {
	cur, held, err := l.c.LockState(ctx, l.r)
	if err != nil {
		return err
	}
	if !held {
		return nil
	}
	if cur.SHA != l.Info.SHA {
		return fault.Refusedf("promote lock of %s is now held by %s (taken over since %s): not releasing it", l.r, cur, cur.Acquired.Format(time.RFC3339))
	}
	_, err = l.c.gh.Git.DeleteRef(ctx, l.r.Owner, l.r.Name, strings.TrimPrefix(LockRef, "refs/"))
	if err != nil {
		err = l.c.wrap(err, fmt.Sprintf("release the promote lock of %s", l.r), l.r, "contents: write")
		if StatusOf(err) == 422 { // "Reference does not exist": already gone (a retried DELETE)
			return nil
		}
	}
	return err
}
