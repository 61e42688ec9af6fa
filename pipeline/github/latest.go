package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// LatestRelease returns the release GitHub marks "Latest" in r (GET /releases/latest), nil when
// none is.
func (c *Client) LatestRelease(ctx context.Context, r Repo) (*Release, error) {
	rel, _, err := c.gh.Repositories.GetLatestRelease(ctx, r.Owner, r.Name)
	if err != nil {
		err = c.wrap(err, "read the latest release of "+r.String(), r, "contents: read")
		if IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return fromGH(rel)
}

// MarkLatest gives a published release GitHub's "Latest" label (make_latest=true), as rollback
// does when latest moves back to it. A release already marked Latest is left alone.
func (c *Client) MarkLatest(ctx context.Context, r Repo, rel *Release) error {
	if rel == nil || rel.Draft {
		return fault.Refusedf("mark Latest in %s: only a published release can be Latest", r)
	}
	if cur, err := c.LatestRelease(ctx, r); err != nil {
		return err
	} else if cur != nil && cur.ID == rel.ID {
		return nil
	}
	// Setting make_latest is idempotent: repeating it after a lost answer is harmless.
	_, _, err := c.gh.Repositories.EditRelease(ctx, r.Owner, r.Name, rel.ID, &gh.RepositoryRelease{MakeLatest: gh.String("true")})
	return c.wrap(err, fmt.Sprintf("mark release %s of %s Latest", rel.Tag, r), r, "contents: write")
}
