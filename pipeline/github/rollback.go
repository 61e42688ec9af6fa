package github

import (
	"context"
	"fmt"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
)

// RollbackPrefix is where shipgate records that a release was rolled back:
// refs/shipgate/rolled-back/vX.Y.Z points at a commit holding a RollbackRecord. Promote of that
// version refuses while the record exists (a promote would silently undo the rollback), status
// names it, and promote --reinstate deletes it once latest is back.
const RollbackPrefix = "refs/shipgate/rolled-back/"

// RollbackRecord says who rolled a release back, when, and to what.
type RollbackRecord struct {
	// Tag is the release that was rolled back (vX.Y.Z); To the version latest went back to.
	Tag string    `json:"tag"`
	To  string    `json:"to"`
	At  time.Time `json:"at"`
	// RunID and Actor name the rollback's workflow run and who started it (empty on a laptop).
	RunID string `json:"run_id,omitempty"`
	Actor string `json:"actor,omitempty"`
}

// String reads "rolled back to 1.0.0 on 2026-11-29 by run 42 (octocat)".
func (rr RollbackRecord) String() string {
	s := fmt.Sprintf("rolled back to %s on %s", rr.To, rr.At.UTC().Format("2006-01-02 15:04 MST"))
	switch {
	case rr.RunID != "" && rr.Actor != "":
		s += fmt.Sprintf(" by run %s (%s)", rr.RunID, rr.Actor)
	case rr.RunID != "":
		s += " by run " + rr.RunID
	case rr.Actor != "":
		s += " by " + rr.Actor
	}
	return s
}

// RecordRollback records that rec.Tag was rolled back. A record that exists already stays (the
// first rollback is the one that counts); writing it again is safe.
func (c *Client) RecordRollback(ctx context.Context, r Repo, rec RollbackRecord) error {
	op := fmt.Sprintf("record the rollback of %s in %s", rec.Tag, r)
	sha, err := c.markerCommit(ctx, r, "rollback.json", "shipgate rollback of "+rec.Tag, rec, rec.At, "", op)
	if err != nil {
		return err
	}
	_, _, err = c.gh.Git.CreateRef(idempotent(ctx), r.Owner, r.Name, &gh.Reference{Ref: gh.String(RollbackPrefix + rec.Tag), Object: &gh.GitObject{SHA: gh.String(sha)}})
	err = c.wrap(err, op, r, "contents: write")
	if StatusOf(err) == 422 && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// RollbackOf reads the rollback record of tag; found is false when tag was never rolled back (or
// was reinstated).
func (c *Client) RollbackOf(ctx context.Context, r Repo, tag string) (RollbackRecord, bool, error) {
	var rec RollbackRecord
	_, found, err := c.readMarker(ctx, r, RollbackPrefix+tag, &rec, fmt.Sprintf("read the rollback record of %s in %s", tag, r))
	return rec, found, err
}

// ClearRollback deletes the rollback record of tag (promote --reinstate); a record already gone is
// fine.
func (c *Client) ClearRollback(ctx context.Context, r Repo, tag string) error {
	_, err := c.gh.Git.DeleteRef(idempotent(ctx), r.Owner, r.Name, strings.TrimPrefix(RollbackPrefix+tag, "refs/"))
	err = c.wrap(err, fmt.Sprintf("clear the rollback record of %s in %s", tag, r), r, "contents: write")
	if s := StatusOf(err); s == 422 || s == 404 {
		return nil
	}
	return err
}
