package github

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// DraftRecordPrefix is where shipgate records the drafts it makes, so that a later run finds a
// draft in a constant number of requests however many releases the repository has (GitHub's
// by-tag endpoint hides drafts, and listing releases grows with history). For tag vX.Y.Z:
//
//	refs/shipgate/drafts/vX.Y.Z/pending   written before the draft is created
//	refs/shipgate/drafts/vX.Y.Z/id-<id>   written once the draft exists
//
// Both point at the draft's target commit. Like the promote lock they are neither branches nor
// tags: they trigger no workflow. No record means shipgate made no draft for the tag; a pending
// record without a readable draft (a crash between the writes, a draft deleted by hand) makes
// FindRelease list the releases once.
const DraftRecordPrefix = "refs/shipgate/drafts/"

// draftRecord is what the records of one tag say.
type draftRecord struct {
	ids     []int64
	pending bool
}

func (d draftRecord) empty() bool { return len(d.ids) == 0 && !d.pending }

// readDraftRecord reads the records of tag (one matching-refs request).
func (c *Client) readDraftRecord(ctx context.Context, r Repo, tag string) (draftRecord, error) {
	var rec draftRecord
	prefix := DraftRecordPrefix + tag + "/"
	refs, err := listAll(func(o gh.ListOptions) ([]*gh.Reference, *gh.Response, error) {
		// No trailing slash: GitHub matches ref prefixes; v1.2.30's records are skipped below.
		return c.gh.Git.ListMatchingRefs(ctx, r.Owner, r.Name, &gh.ReferenceListOptions{Ref: strings.TrimPrefix(DraftRecordPrefix+tag, "refs/"), ListOptions: o})
	})
	if err != nil {
		return rec, c.wrap(err, fmt.Sprintf("read shipgate's draft records of %s in %s", tag, r), r, "contents: read")
	}
	for _, ref := range refs {
		name, ok := strings.CutPrefix(ref.GetRef(), prefix)
		switch {
		case !ok:
		case name == "pending":
			rec.pending = true
		case strings.HasPrefix(name, "id-"):
			if id, err := strconv.ParseInt(strings.TrimPrefix(name, "id-"), 10, 64); err == nil && !slices.Contains(rec.ids, id) {
				rec.ids = append(rec.ids, id)
			}
		}
	}
	slices.Sort(rec.ids)
	return rec, nil
}

// recordDraft writes one record of tag ("pending" or "id-<id>") at commit; a record that exists
// already is fine.
func (c *Client) recordDraft(ctx context.Context, r Repo, tag, name, commit string) error {
	ref := DraftRecordPrefix + tag + "/" + name
	// Repeating the create is harmless (a second one answers 422, which is success here), so the
	// transport may retry it after a lost answer or a 5xx.
	_, _, err := c.gh.Git.CreateRef(idempotent(ctx), r.Owner, r.Name, &gh.Reference{Ref: gh.String(ref), Object: &gh.GitObject{SHA: gh.String(commit)}})
	err = c.wrap(err, fmt.Sprintf("record draft release %s in %s (%s)", tag, r, ref), r, "contents: write")
	if StatusOf(err) == 422 && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// recordedDrafts reads the releases the records name; those deleted meanwhile are skipped.
func (c *Client) recordedDrafts(ctx context.Context, r Repo, tag string, ids []int64) ([]*gh.RepositoryRelease, error) {
	var out []*gh.RepositoryRelease
	for _, id := range ids {
		rel, _, err := c.gh.Repositories.GetRelease(ctx, r.Owner, r.Name, id)
		if err != nil {
			if err = c.wrap(err, fmt.Sprintf("read release %d (%s) of %s", id, tag, r), r, "contents: read"); IsNotFound(err) {
				continue
			}
			return nil, err
		}
		if rel.GetTagName() == tag {
			out = append(out, rel)
		}
	}
	return out, nil
}

// publishedRelease reads the published release of tag (GET /releases/tags/{tag}: one request;
// drafts are hidden from it), nil when there is none.
func (c *Client) publishedRelease(ctx context.Context, r Repo, tag string) (*gh.RepositoryRelease, error) {
	rel, _, err := c.gh.Repositories.GetReleaseByTag(ctx, r.Owner, r.Name, tag)
	if err != nil {
		if err = c.wrap(err, fmt.Sprintf("read release %s of %s", tag, r), r, "contents: read"); IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if rel.GetID() == 0 || rel.GetTagName() != tag {
		return nil, fault.Unreadablef("read release %s of %s: GitHub answered with a release that is not it (id %d, tag %q)", tag, r, rel.GetID(), rel.GetTagName())
	}
	return rel, nil
}

// repoPermissions reads (once per client and repository) what GitHub says the token may do in
// r; nil when GitHub reports nothing (installation tokens). A repository the token cannot see is
// GitHub's 404.
func (c *Client) repoPermissions(ctx context.Context, r Repo) (map[string]bool, error) {
	key := strings.ToLower(r.String())
	if p, ok := c.perms.Load(key); ok {
		return p.(map[string]bool), nil
	}
	repo, _, err := c.gh.Repositories.Get(ctx, r.Owner, r.Name)
	if err != nil {
		return nil, c.wrap(err, "read repository "+r.String(), r, "metadata: read")
	}
	p := repo.GetPermissions()
	c.perms.Store(key, p)
	return p, nil
}
