package github

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"

	"github.com/shipgate/shipgate/pipeline/source"
	"github.com/shipgate/shipgate/pipeline/version"
)

// BranchMovedError says a branch is not where a commit was expected to go on top of: someone
// pushed to it (or force-pushed) after the source tree was taken.
type BranchMovedError struct {
	Repo     Repo
	Branch   string
	Head     string // where the branch is now
	Expected string // the commit the new commit was to have as parent
}

// Error says what happened and what to do.
func (e *BranchMovedError) Error() string {
	return fmt.Sprintf("branch %s of %s moved: it is at %s, not at %s (the commit the build's source tree was taken from) nor at a commit on top of it with the same content; someone pushed to it — take the source again from the branch head and re-run",
		e.Branch, e.Repo, short(e.Head), short(e.Expected))
}

// ReleaseBranch looks up release/X.Y.Z and returns its head commit.
func (c *Client) ReleaseBranch(ctx context.Context, r Repo, v version.Version) (sha string, found bool, err error) {
	return c.branchHead(ctx, r, v.Branch())
}

func (c *Client) branchHead(ctx context.Context, r Repo, branch string) (string, bool, error) {
	ref, _, err := c.gh.Git.GetRef(ctx, r.Owner, r.Name, "heads/"+branch)
	if err != nil {
		err = c.wrap(err, fmt.Sprintf("read branch %s of %s", branch, r), r, "contents: read")
		if IsNotFound(err) {
			return "", false, nil
		}
		return "", false, err
	}
	sha, err := objectSHA(ref, "read branch "+branch+" of "+r.String())
	return sha, err == nil, err
}

// CreateReleaseBranch creates release/X.Y.Z at the head of the base branch (--base-branch), or
// returns the head of the release branch when it already exists (it is reused as it is).
func (c *Client) CreateReleaseBranch(ctx context.Context, r Repo, v version.Version, base string) (string, error) {
	return c.CreateReleaseBranchFrom(ctx, r, v, base, "--base-branch")
}

// CreateReleaseBranchFrom creates release/X.Y.Z at the head of branch src — the base branch, or a
// development branch (--prepare-from) when releases are cut from one and their pull request goes
// to the base branch — or returns the head of the release branch when it already exists (it is
// reused as it is, whatever it was cut from). setting names where src came from ("--base-branch",
// "--prepare-from"), for the error when src does not exist.
func (c *Client) CreateReleaseBranchFrom(ctx context.Context, r Repo, v version.Version, src, setting string) (string, error) {
	branch := v.Branch()
	if sha, ok, err := c.ReleaseBranch(ctx, r, v); err != nil || ok {
		return sha, err
	}
	from, ok, err := c.branchHead(ctx, r, src)
	if err != nil {
		return "", err
	}
	if !ok {
		kind := "branch"
		if setting == "--base-branch" {
			kind = "base branch"
		}
		return "", fault.BadInputf("%s %s not found in %s: give the branch releases are cut from (%s)", kind, src, r, setting)
	}
	op := fmt.Sprintf("create branch %s of %s at %s", branch, r, short(from))
	return retryWrite(ctx, c, func() (string, error) {
		ref, _, err := c.gh.Git.CreateRef(ctx, r.Owner, r.Name, &gh.Reference{Ref: gh.String("refs/heads/" + branch), Object: &gh.GitObject{SHA: gh.String(from)}})
		if err != nil {
			err = c.wrap(err, op, r, "contents: write")
			if StatusOf(err) == 422 { // created meanwhile (by a lost response or another run): reuse
				if sha, ok, oerr := c.ReleaseBranch(ctx, r, v); oerr == nil && ok {
					return sha, nil
				}
			}
			return "", err
		}
		return objectSHA(ref, op)
	}, func() (string, bool, error) { return c.ReleaseBranch(ctx, r, v) })
}

// FileAt returns the content of path at ref (branch, tag or commit SHA); found is false when the
// file does not exist there.
func (c *Client) FileAt(ctx context.Context, r Repo, ref, path string) ([]byte, bool, error) {
	op := fmt.Sprintf("read %s at %s in %s", path, ref, r)
	f, dir, _, err := c.gh.Repositories.GetContents(ctx, r.Owner, r.Name, path, &gh.RepositoryContentGetOptions{Ref: ref})
	if err != nil {
		err = c.wrap(err, op, r, "contents: read")
		if IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if f == nil || dir != nil {
		return nil, false, fault.Refusedf("%s: %s is a directory, not a file", op, path)
	}
	if f.GetEncoding() == "base64" && f.Content != nil {
		b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(*f.Content, "\n", ""))
		if err != nil {
			return nil, false, fault.Unreadablef("%s: GitHub sent invalid base64: %w", op, err)
		}
		return b, true, nil
	}
	// Files over 1 MB come without content: read the blob.
	blob, _, err := c.gh.Git.GetBlobRaw(ctx, r.Owner, r.Name, f.GetSHA())
	if err != nil {
		return nil, false, c.wrap(err, op, r, "contents: read")
	}
	return blob, true, nil
}

// CommitState is what ObserveCommitFile saw.
type CommitState struct {
	// Branch and Head: the branch and where it points now.
	Branch, Head string
	// Done is true when the branch already holds the content: Commit is that commit (the parent
	// itself when the file there already has the content, or a commit on top of the parent that
	// changes only this file to this content).
	Done   bool
	Commit string
}

// ObserveCommitFile looks, without writing, whether branch already carries content at path on top
// of parent. It fails with *BranchMovedError when the branch moved elsewhere.
func (c *Client) ObserveCommitFile(ctx context.Context, r Repo, branch, parent, path string, content []byte) (CommitState, error) {
	return c.ObserveCommitFiles(ctx, r, branch, parent, map[string][]byte{path: content})
}

// ObserveCommitFiles is ObserveCommitFile for several files committed together (a CHANGELOG and
// its copies).
func (c *Client) ObserveCommitFiles(ctx context.Context, r Repo, branch, parent string, files map[string][]byte) (CommitState, error) {
	st := CommitState{Branch: branch}
	head, ok, err := c.branchHead(ctx, r, branch)
	if err != nil {
		return st, err
	}
	if !ok {
		return st, fault.Refusedf("branch %s not found in %s: run prepare first", branch, r)
	}
	st.Head = head
	if head == parent {
		for path, content := range files {
			have, found, err := c.FileAt(ctx, r, parent, path)
			if err != nil || !found || !bytes.Equal(have, content) {
				return st, err
			}
		}
		st.Done, st.Commit = true, parent
		return st, nil
	}
	want := map[string]string{}
	for path, content := range files {
		want[path] = source.BlobSHA(content)
	}
	same, err := c.isFilesCommit(ctx, r, head, parent, want)
	if err != nil {
		return st, err
	}
	if !same {
		return st, fault.AsRefused(&BranchMovedError{Repo: r, Branch: branch, Head: head, Expected: parent})
	}
	st.Done, st.Commit = true, head
	return st, nil
}

// isFilesCommit reports whether commit has exactly one parent, parent, and differs from it only in
// the paths of want, each holding its blob.
func (c *Client) isFilesCommit(ctx context.Context, r Repo, commit, parent string, want map[string]string) (bool, error) {
	cm, _, err := c.gh.Git.GetCommit(ctx, r.Owner, r.Name, commit)
	if err != nil {
		return false, c.wrap(err, fmt.Sprintf("read commit %s of %s", short(commit), r), r, "contents: read")
	}
	if len(cm.Parents) != 1 || cm.Parents[0].GetSHA() != parent {
		return false, nil
	}
	pc, _, err := c.gh.Git.GetCommit(ctx, r.Owner, r.Name, parent)
	if err != nil {
		return false, c.wrap(err, fmt.Sprintf("read commit %s of %s", short(parent), r), r, "contents: read")
	}
	return c.onlyPathsDiffer(ctx, r, pc.GetTree().GetSHA(), cm.GetTree().GetSHA(), want)
}

func (c *Client) treeEntries(ctx context.Context, r Repo, sha string) (map[string]*gh.TreeEntry, error) {
	out := map[string]*gh.TreeEntry{}
	if sha == "" {
		return out, nil
	}
	t, _, err := c.gh.Git.GetTree(ctx, r.Owner, r.Name, sha, false)
	if err != nil {
		return nil, c.wrap(err, fmt.Sprintf("read tree %s of %s", short(sha), r), r, "contents: read")
	}
	for _, e := range t.Entries {
		out[e.GetPath()] = e
	}
	return out, nil
}

// onlyPathsDiffer compares two trees level by level: every entry outside the paths of want must
// be equal, and each path must hold its blob in b.
func (c *Client) onlyPathsDiffer(ctx context.Context, r Repo, a, b string, want map[string]string) (bool, error) {
	ea, err := c.treeEntries(ctx, r, a)
	if err != nil {
		return false, err
	}
	eb, err := c.treeEntries(ctx, r, b)
	if err != nil {
		return false, err
	}
	// Group want by its first path component: a blob here, or paths under a subtree.
	blobs, subs := map[string]string{}, map[string]map[string]string{}
	for path, sha := range want {
		first, rest, deeper := strings.Cut(path, "/")
		if !deeper {
			blobs[first] = sha
			continue
		}
		if subs[first] == nil {
			subs[first] = map[string]string{}
		}
		subs[first][rest] = sha
	}
	touched := func(name string) bool { _, x := blobs[name]; _, y := subs[name]; return x || y }
	for name, x := range ea {
		if y := eb[name]; !touched(name) && (y == nil || y.GetSHA() != x.GetSHA() || y.GetMode() != x.GetMode()) {
			return false, nil
		}
	}
	for name := range eb {
		if !touched(name) && ea[name] == nil {
			return false, nil
		}
	}
	for name, sha := range blobs {
		if y := eb[name]; y == nil || y.GetType() != "blob" || y.GetSHA() != sha {
			return false, nil
		}
	}
	for name, w := range subs {
		y := eb[name]
		if y == nil || y.GetType() != "tree" {
			return false, nil
		}
		sub := ""
		if x := ea[name]; x != nil && x.GetType() == "tree" {
			sub = x.GetSHA()
		}
		if ok, err := c.onlyPathsDiffer(ctx, r, sub, y.GetSHA(), w); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// CommitFile puts content at path in a new commit whose only parent is exactly parent, with the
// Git Data API (blob, tree on the parent's tree, commit), and fast-forwards branch to it without
// force. The build's source tree and the commit therefore cannot race: if the branch moved, the
// fast-forward is refused and CommitFile fails with *BranchMovedError. When the branch already
// carries the content (an earlier run, or a run whose answer was lost) it returns that commit.
func (c *Client) CommitFile(ctx context.Context, r Repo, branch, parent, path string, content []byte, msg string) (string, error) {
	return c.CommitFiles(ctx, r, branch, parent, map[string][]byte{path: content}, msg)
}

// CommitFiles is CommitFile for several files in one commit (a CHANGELOG and its copies).
func (c *Client) CommitFiles(ctx context.Context, r Repo, branch, parent string, files map[string][]byte, msg string) (string, error) {
	st, err := c.ObserveCommitFiles(ctx, r, branch, parent, files)
	if err != nil {
		return "", err
	}
	if st.Done {
		return st.Commit, nil
	}
	op := fmt.Sprintf("commit %s on %s of %s", strings.Join(slices.Sorted(maps.Keys(files)), ", "), branch, r)
	tree, err := c.filesTree(ctx, r, parent, files, op)
	if err != nil {
		return "", err
	}
	ictx := idempotent(ctx) // git objects are content-addressed: repeating a POST is harmless
	cm, _, err := c.gh.Git.CreateCommit(ictx, r.Owner, r.Name, &gh.Commit{Message: gh.String(msg), Tree: &gh.Tree{SHA: gh.String(tree)}, Parents: []*gh.Commit{{SHA: gh.String(parent)}}}, nil)
	if err != nil {
		return "", c.wrap(err, op+": create commit", r, "contents: write")
	}
	_, _, err = c.gh.Git.UpdateRef(ctx, r.Owner, r.Name, &gh.Reference{Ref: gh.String("refs/heads/" + branch), Object: &gh.GitObject{SHA: cm.SHA}}, false)
	if err == nil {
		return cm.GetSHA(), nil
	}
	err = c.wrap(err, op+": fast-forward", r, "contents: write")
	if StatusOf(err) != 422 && !transient(err) {
		return "", err
	}
	// Refused as not a fast-forward, or the answer was lost: look again.
	st, oerr := c.ObserveCommitFiles(ctx, r, branch, parent, files)
	if oerr != nil {
		return "", oerr
	}
	if st.Done {
		return st.Commit, nil
	}
	return "", err
}

// filesTree writes the blobs of files and a tree on parent's tree holding them (each keeps the
// mode it has in parent), and returns the tree.
func (c *Client) filesTree(ctx context.Context, r Repo, parent string, files map[string][]byte, op string) (string, error) {
	ictx := idempotent(ctx)
	pc, _, err := c.gh.Git.GetCommit(ctx, r.Owner, r.Name, parent)
	if err != nil {
		return "", c.wrap(err, op+": read parent", r, "contents: read")
	}
	var entries []*gh.TreeEntry
	for _, path := range slices.Sorted(maps.Keys(files)) {
		blob, _, err := c.gh.Git.CreateBlob(ictx, r.Owner, r.Name, &gh.Blob{Content: gh.String(base64.StdEncoding.EncodeToString(files[path])), Encoding: gh.String("base64")})
		if err != nil {
			return "", c.wrap(err, op+": create blob", r, "contents: write")
		}
		mode := "100644"
		if e, err := c.entryAt(ctx, r, pc.GetTree().GetSHA(), strings.Split(path, "/")); err != nil {
			return "", err
		} else if e != nil && e.GetType() == "blob" {
			mode = e.GetMode()
		}
		entries = append(entries, &gh.TreeEntry{Path: gh.String(path), Mode: gh.String(mode), Type: gh.String("blob"), SHA: blob.SHA})
	}
	tree, _, err := c.gh.Git.CreateTree(ictx, r.Owner, r.Name, pc.GetTree().GetSHA(), entries)
	if err != nil {
		return "", c.wrap(err, op+": create tree", r, "contents: write")
	}
	return tree.GetSHA(), nil
}

func (c *Client) entryAt(ctx context.Context, r Repo, tree string, parts []string) (*gh.TreeEntry, error) {
	es, err := c.treeEntries(ctx, r, tree)
	if err != nil {
		return nil, err
	}
	e := es[parts[0]]
	if e == nil || len(parts) == 1 {
		return e, nil
	}
	if e.GetType() != "tree" {
		return nil, nil
	}
	return c.entryAt(ctx, r, e.GetSHA(), parts[1:])
}

// FinalizeMessage is the message of the finalize commit.
func FinalizeMessage(v version.Version) string {
	return fmt.Sprintf("chore(release): finalize CHANGELOG for %s", v)
}

// ObserveFinalize looks, without writing, whether release/X.Y.Z already carries the finalized
// CHANGELOG (content at path) on top of the source commit.
func (c *Client) ObserveFinalize(ctx context.Context, r Repo, v version.Version, source, path string, content []byte) (CommitState, error) {
	return c.ObserveCommitFile(ctx, r, v.Branch(), source, path, content)
}

// ObserveFinalizeFiles is ObserveFinalize for the CHANGELOG and its copies (--changelog-copy).
func (c *Client) ObserveFinalizeFiles(ctx context.Context, r Repo, v version.Version, source string, files map[string][]byte) (CommitState, error) {
	return c.ObserveCommitFiles(ctx, r, v.Branch(), source, files)
}

// FinalizeFiles is Finalize for the CHANGELOG and its copies, in one finalize commit.
func (c *Client) FinalizeFiles(ctx context.Context, r Repo, v version.Version, source string, files map[string][]byte) (string, error) {
	return c.CommitFiles(ctx, r, v.Branch(), source, files, FinalizeMessage(v))
}

// Finalize records the finalized CHANGELOG on release/X.Y.Z as a commit whose parent is exactly
// source (see CommitFile) and returns the finalize commit.
func (c *Client) Finalize(ctx context.Context, r Repo, v version.Version, source, path string, content []byte) (string, error) {
	return c.CommitFile(ctx, r, v.Branch(), source, path, content, FinalizeMessage(v))
}

// CommitTime is the committer date of a commit.
func (c *Client) CommitTime(ctx context.Context, r Repo, sha string) (time.Time, error) {
	cm, _, err := c.gh.Git.GetCommit(ctx, r.Owner, r.Name, sha)
	if err != nil {
		return time.Time{}, c.wrap(err, fmt.Sprintf("read commit %s of %s", short(sha), r), r, "contents: read")
	}
	return cm.GetCommitter().GetDate().Time, nil
}
