package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"

	"github.com/shipgate/shipgate/pipeline/version"
)

// TagConflictError says the release tag exists at another commit than the finalize commit.
type TagConflictError struct {
	Repo   Repo
	Tag    string
	At     string // the commit the tag points at
	Wanted string // the finalize commit
}

// Error says what happened and what to do.
func (e *TagConflictError) Error() string {
	return fmt.Sprintf("tag %s in %s points at %s, not at the finalize commit %s: if the tag is wrong and nothing was published from it, delete it (git push --delete origin %s) and re-run publish; otherwise release a new version",
		e.Tag, e.Repo, short(e.At), short(e.Wanted), e.Tag)
}

// Tag returns the commit the git tag vX.Y.Z points at (annotated tags are peeled), and whether it
// exists.
func (c *Client) Tag(ctx context.Context, r Repo, v version.Version) (sha string, found bool, err error) {
	op := fmt.Sprintf("read tag %s of %s", v.GitTag(), r)
	ref, _, err := c.gh.Git.GetRef(ctx, r.Owner, r.Name, "tags/"+v.GitTag())
	if err != nil {
		err = c.wrap(err, op, r, "contents: read")
		if IsNotFound(err) {
			return "", false, nil
		}
		return "", false, err
	}
	if _, err := objectSHA(ref, op); err != nil {
		return "", false, err
	}
	sha, err = c.peel(ctx, r, ref.GetObject(), op)
	return sha, err == nil, err
}

// peel follows an annotated tag object to the commit it tags (a commit is itself).
func (c *Client) peel(ctx context.Context, r Repo, obj *gh.GitObject, op string) (string, error) {
	for i := 0; obj.GetType() == "tag" && i < 5; i++ {
		t, _, err := c.gh.Git.GetTag(ctx, r.Owner, r.Name, obj.GetSHA())
		if err != nil {
			return "", c.wrap(err, op, r, "contents: read")
		}
		obj = t.GetObject()
	}
	return obj.GetSHA(), nil
}

// CreateTag tags the finalize commit as vX.Y.Z.
//
// The tag is lightweight (a ref straight to the commit), as GitHub itself makes tags when it
// publishes a release: an annotated tag made through the API would be an unsigned tag object
// carrying no information the release does not already hold, and comparing "is the tag at the
// finalize commit" needs no peeling. An existing annotated tag is accepted when it peels to the
// finalize commit.
//
// A tag already at commit is success; a tag elsewhere is a *TagConflictError.
func (c *Client) CreateTag(ctx context.Context, r Repo, v version.Version, commit string) error {
	check := func() (bool, error) {
		at, found, err := c.Tag(ctx, r, v)
		if err != nil || !found {
			return false, err
		}
		if at != commit {
			return false, fault.AsRefused(&TagConflictError{Repo: r, Tag: v.GitTag(), At: at, Wanted: commit})
		}
		return true, nil
	}
	if done, err := check(); err != nil || done {
		return err
	}
	op := fmt.Sprintf("create tag %s at %s in %s", v.GitTag(), short(commit), r)
	_, err := retryWrite(ctx, c, func() (bool, error) {
		_, _, err := c.gh.Git.CreateRef(ctx, r.Owner, r.Name, &gh.Reference{Ref: gh.String("refs/tags/" + v.GitTag()), Object: &gh.GitObject{SHA: gh.String(commit)}})
		if err != nil {
			err = c.wrap(err, op, r, "contents: write")
			if StatusOf(err) == 422 { // "Reference already exists": made meanwhile; is it ours?
				if done, cerr := check(); cerr != nil || done {
					return done, cerr
				}
			}
			return false, err
		}
		return true, nil
	}, func() (bool, bool, error) {
		done, err := check()
		return done, done, err
	})
	return err
}
