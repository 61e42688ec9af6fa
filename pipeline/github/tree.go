package github

import (
	"context"
	"fmt"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/source"
)

// CommitTree lists the files of commit sha (recursively, git blob ids and modes), so the source
// directory can be compared with it. Submodules are left out. A commit GitHub does not have is an
// error saying to push it.
func (c *Client) CommitTree(ctx context.Context, r Repo, sha string) (source.Tree, error) {
	cm, _, err := c.gh.Git.GetCommit(ctx, r.Owner, r.Name, sha)
	if err != nil {
		err = c.wrap(err, fmt.Sprintf("read commit %s of %s", short(sha), r), r, "contents: read")
		if IsNotFound(err) || StatusOf(err) == 422 {
			return nil, fault.Refusedf("commit %s is not in %s on GitHub: push it (publish commits on top of it there): %w", short(sha), r, err)
		}
		return nil, err
	}
	t, _, err := c.gh.Git.GetTree(ctx, r.Owner, r.Name, cm.GetTree().GetSHA(), true)
	if err != nil {
		return nil, c.wrap(err, fmt.Sprintf("read the tree of %s in %s", short(sha), r), r, "contents: read")
	}
	if t.GetTruncated() {
		return nil, fault.Unreadablef("the tree of %s in %s is too large for GitHub's tree API (truncated): shipgate cannot compare it with the source directory", short(sha), r)
	}
	out := source.Tree{}
	for _, e := range t.Entries {
		if e.GetType() == "blob" {
			out[e.GetPath()] = source.Entry{Mode: e.GetMode(), SHA: e.GetSHA()}
		}
	}
	return out, nil
}
