package github

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Asset is a file attached to a release.
type Asset struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	// Digest is "sha256:hex" where GitHub reports it (go-github v62 does not read it).
	Digest string `json:"digest"`
	URL    string `json:"browser_download_url"`
}

// checkAssetName refuses names GitHub would rename (it renames special characters and leading
// periods), since a renamed asset could never be found again by its name.
func checkAssetName(name string) error {
	ok := name != "" && !strings.HasPrefix(name, ".") && strings.IndexFunc(name, func(r rune) bool {
		return !(r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+", r)))
	}) < 0
	if !ok {
		return fault.BadInputf("release asset name %q: use letters, digits and . _ - + only, not starting with a period (GitHub renames other names)", name)
	}
	return nil
}

// Assets lists the assets of release id in r.
func (c *Client) Assets(ctx context.Context, r Repo, id int64) ([]Asset, error) {
	op := fmt.Sprintf("list the assets of release %d in %s", id, r)
	all, err := listAll(func(o gh.ListOptions) ([]Asset, *gh.Response, error) {
		u := fmt.Sprintf("repos/%s/%s/releases/%d/assets?per_page=%d&page=%d", r.Owner, r.Name, id, o.PerPage, o.Page)
		req, err := c.gh.NewRequest("GET", u, nil)
		if err != nil {
			return nil, nil, fault.BadInputf("%w", err)
		}
		var page []Asset
		resp, err := c.gh.Do(ctx, req, &page)
		return page, resp, c.wrap(err, op, r, "contents: read")
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return all, nil
}

// UploadAsset attaches data to rel as name, once: an asset of that name with the same size and
// content leaves everything as it is; on a draft, one with other content is deleted and uploaded
// again; on a published release it is refused (GitHub keeps assets of immutable releases as they
// are, and shipgate does not change what users may have downloaded). Attach every asset to the
// draft, then publish: GitHub refuses uploads to a published immutable release (422).
func (c *Client) UploadAsset(ctx context.Context, r Repo, rel *Release, name, contentType string, data []byte) error {
	if err := checkAssetName(name); err != nil {
		return err
	}
	if rel == nil || rel.ID == 0 || contentType == "" {
		return fault.BadInputf("upload asset %s to %s: needs a release and a content type", name, r)
	}
	sum := sha256.Sum256(data)
	want := "sha256:" + hex.EncodeToString(sum[:])
	observe := func() (*Asset, bool, error) {
		a, err := c.findAsset(ctx, r, rel.ID, name)
		if err != nil || a == nil {
			return nil, false, err
		}
		same, err := c.sameAsset(ctx, r, a, want, data)
		return a, same, err
	}
	a, same, err := observe()
	switch {
	case err != nil:
		return err
	case same:
		return nil
	case a != nil && !rel.Draft:
		return fault.Refusedf("release %s in %s is published and its asset %s differs from this build's (%d bytes, %s): shipgate does not replace assets of a published release; attach assets to the draft before publishing", rel.Tag, r, name, len(data), want)
	case a != nil:
		if err := c.deleteAsset(ctx, r, a); err != nil {
			return err
		}
	}
	_, err = retryWrite(ctx, c, func() (*Asset, error) { return c.upload(ctx, r, rel, name, contentType, data) }, observe)
	return err
}

func (c *Client) findAsset(ctx context.Context, r Repo, id int64, name string) (*Asset, error) {
	all, err := c.Assets(ctx, r, id)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].Name == name {
			return &all[i], nil
		}
	}
	return nil, nil
}

// sameAsset compares a stored asset with data: by size, then by the digest GitHub reports, or
// (where it reports none) by downloading it.
func (c *Client) sameAsset(ctx context.Context, r Repo, a *Asset, want string, data []byte) (bool, error) {
	if a.Size != len(data) {
		return false, nil
	}
	if a.Digest != "" {
		return a.Digest == want, nil
	}
	op := fmt.Sprintf("download asset %s of %s", a.Name, r)
	rc, _, err := c.gh.Repositories.DownloadReleaseAsset(ctx, r.Owner, r.Name, a.ID, &http.Client{Transport: c.plain})
	if err != nil {
		return false, c.wrap(err, op, r, "contents: read")
	}
	defer rc.Close()
	got, err := io.ReadAll(io.LimitReader(rc, int64(len(data))+1))
	if err != nil {
		return false, classifyOther(err, op)
	}
	return bytes.Equal(got, data), nil
}

func (c *Client) deleteAsset(ctx context.Context, r Repo, a *Asset) error {
	_, err := c.gh.Repositories.DeleteReleaseAsset(ctx, r.Owner, r.Name, a.ID)
	if IsNotFound(c.wrap(err, "", r, "")) {
		return nil // gone already
	}
	return c.wrap(err, fmt.Sprintf("delete asset %s (to upload it again) in %s", a.Name, r), r, "contents: write")
}

func (c *Client) upload(ctx context.Context, r Repo, rel *Release, name, contentType string, data []byte) (*Asset, error) {
	op := fmt.Sprintf("upload asset %s to release %s in %s", name, rel.Tag, r)
	u := fmt.Sprintf("repos/%s/%s/releases/%d/assets?name=%s", r.Owner, r.Name, rel.ID, url.QueryEscape(name))
	req, err := c.gh.NewUploadRequest(u, bytes.NewReader(data), int64(len(data)), contentType)
	if err != nil {
		return nil, fault.BadInputf("%s: %w", op, err)
	}
	var a Asset
	if _, err := c.gh.Do(ctx, req, &a); err != nil {
		err = c.wrap(err, op, r, "contents: write")
		if StatusOf(err) == http.StatusUnprocessableEntity && strings.Contains(err.Error(), "immutable") {
			return nil, fmt.Errorf("%w: attach every asset to the draft, then publish", err)
		}
		return nil, err
	}
	return &a, nil
}
