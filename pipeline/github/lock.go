package github

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
)

// LockRef is the ref that serializes promotes of a repository. It lives outside refs/heads and
// refs/tags, so it is neither a branch nor a tag: it triggers no workflow and shows in no list.
const LockRef = "refs/shipgate/promote-lock"

// LockInfo says who holds the promote lock.
type LockInfo struct {
	Holder   string    `json:"holder"`
	Acquired time.Time `json:"acquired"`
	// SHA is the lock commit the ref points at.
	SHA string `json:"-"`
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
	s := fmt.Sprintf("promote of %s is locked by %q since %s (ref %s)", e.Repo, e.Info.Holder, e.Info.Acquired.UTC().Format(time.RFC3339), LockRef)
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

// AcquireLock takes the promote lock of r for holder (name the run, not its attempt, e.g.
// "promote 1.2.3 (run 4242)", so a re-run attempt of a crashed run takes its lock back). GitHub arbitrates: creating a ref that exists fails with 422, so of two promotes
// exactly one creates LockRef. The lock is a commit whose message holds {holder, acquired}.
//
// The same holder re-acquires its own lock (a re-run of a crashed attempt with the same name).
// A lock held by another holder fails with *LockedError. The stale-lock override: when
// breakStale is set and the lock is older than staleAfter, it is taken over by moving the ref,
// without force, to a new lock commit whose parent is the stale one — a compare-and-swap, so of
// two breakers only one wins.
func (c *Client) AcquireLock(ctx context.Context, r Repo, holder string, staleAfter time.Duration, breakStale bool) (*Lock, error) {
	if strings.TrimSpace(holder) == "" {
		return nil, fmt.Errorf("promote lock of %s: the holder name is empty: name the run", r)
	}
	info := LockInfo{Holder: holder, Acquired: c.clk.Now().UTC().Truncate(time.Second)}
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
		err = wrap(err, op, r, "contents: write")
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
		if cur.SHA == sha || cur.Holder == holder {
			c.logf("promote lock of %s: already held by %q, taking it over as the same holder", r, holder)
			return &Lock{c: c, r: r, Info: cur}, nil
		}
		stale := staleAfter > 0 && c.clk.Now().Sub(cur.Acquired) > staleAfter
		if !stale || !breakStale {
			return nil, &LockedError{Repo: r, Info: cur, Stale: stale, StaleAfter: staleAfter}
		}
		next, err := c.lockCommit(ctx, r, info, cur.SHA)
		if err != nil {
			return nil, err
		}
		_, _, err = c.gh.Git.UpdateRef(ctx, r.Owner, r.Name, &gh.Reference{Ref: gh.String(LockRef), Object: &gh.GitObject{SHA: gh.String(next)}}, false)
		if err == nil {
			c.logf("promote lock of %s: broke the stale lock of %q (since %s)", r, cur.Holder, cur.Acquired.Format(time.RFC3339))
			info.SHA = next
			return &Lock{c: c, r: r, Info: info}, nil
		}
		err = wrap(err, op+" (breaking a stale lock)", r, "contents: write")
		if now, held, lerr := c.LockState(ctx, r); lerr == nil && held && now.SHA == next {
			info.SHA = next
			return &Lock{c: c, r: r, Info: info}, nil
		} else if lerr == nil && held {
			return nil, &LockedError{Repo: r, Info: now, StaleAfter: staleAfter}
		}
		if StatusOf(err) != 422 && !transient(err) {
			return nil, err
		}
	}
	return nil, err
}

// lockCommit writes the lock commit (blob lock.json, a tree holding it, a commit with the same
// JSON as its message) and returns its SHA.
func (c *Client) lockCommit(ctx context.Context, r Repo, info LockInfo, parent string) (string, error) {
	b, _ := json.Marshal(info)
	op := fmt.Sprintf("write the promote lock of %s", r)
	ictx := idempotent(ctx)
	tree, _, err := c.gh.Git.CreateTree(ictx, r.Owner, r.Name, "", []*gh.TreeEntry{{Path: gh.String("lock.json"), Mode: gh.String("100644"), Type: gh.String("blob"), Content: gh.String(string(b) + "\n")}})
	if err != nil {
		return "", wrap(err, op, r, "contents: write")
	}
	when := gh.Timestamp{Time: info.Acquired}
	sig := &gh.CommitAuthor{Name: gh.String("shipgate"), Email: gh.String("shipgate@users.noreply.github.com"), Date: &when}
	commit := &gh.Commit{Message: gh.String("shipgate promote lock\n\n" + string(b)), Tree: &gh.Tree{SHA: tree.SHA}, Author: sig, Committer: sig}
	if parent != "" {
		commit.Parents = []*gh.Commit{{SHA: gh.String(parent)}}
	}
	cm, _, err := c.gh.Git.CreateCommit(ictx, r.Owner, r.Name, commit, nil)
	if err != nil {
		return "", wrap(err, op, r, "contents: write")
	}
	return cm.GetSHA(), nil
}

// LockState reads the promote lock of r: who holds it and since when (held false when free).
func (c *Client) LockState(ctx context.Context, r Repo) (LockInfo, bool, error) {
	op := fmt.Sprintf("read the promote lock of %s", r)
	ref, _, err := c.gh.Git.GetRef(ctx, r.Owner, r.Name, strings.TrimPrefix(LockRef, "refs/"))
	if err != nil {
		err = wrap(err, op, r, "contents: read")
		if IsNotFound(err) {
			return LockInfo{}, false, nil
		}
		return LockInfo{}, false, err
	}
	sha := ref.GetObject().GetSHA()
	cm, _, err := c.gh.Git.GetCommit(ctx, r.Owner, r.Name, sha)
	if err != nil {
		return LockInfo{}, false, wrap(err, op, r, "contents: read")
	}
	var info LockInfo
	_, js, _ := strings.Cut(cm.GetMessage(), "\n\n")
	if json.Unmarshal([]byte(strings.TrimSpace(js)), &info) != nil || info.Holder == "" {
		info = LockInfo{Holder: "(unreadable lock commit)", Acquired: cm.GetCommitter().GetDate().Time}
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
		return fmt.Errorf("promote lock of %s is now held by %q (taken over since %s): not releasing it", l.r, cur.Holder, cur.Acquired.Format(time.RFC3339))
	}
	_, err = l.c.gh.Git.DeleteRef(ctx, l.r.Owner, l.r.Name, strings.TrimPrefix(LockRef, "refs/"))
	if err != nil {
		err = wrap(err, fmt.Sprintf("release the promote lock of %s", l.r), l.r, "contents: write")
		if StatusOf(err) == 422 { // "Reference does not exist": already gone (a retried DELETE)
			return nil
		}
	}
	return err
}
