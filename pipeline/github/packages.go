package github

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// GHCRHost is the registry whose images are GitHub container packages.
const GHCRHost = "ghcr.io"

// PackageOwner owns a container package: a user, or an organization (the API paths differ).
type PackageOwner struct {
	// Login is the user or organization name.
	Login string
	// Org is set for an organization.
	Org bool
}

func (o PackageOwner) path() string {
	if o.Org {
		return "orgs/" + url.PathEscape(o.Login)
	}
	return "users/" + url.PathEscape(o.Login)
}

// PackageVersion is one version of a container package: one manifest in the image repository.
type PackageVersion struct {
	// ID is what DeletePackageVersion takes.
	ID int64
	// Digest is the version's name: the manifest digest sha256:<hex>.
	Digest string
	// Tags are the image tags on it (metadata.container.tags); empty when untagged.
	Tags []string
	// CreatedAt and UpdatedAt are GitHub's times.
	CreatedAt, UpdatedAt time.Time
}

type packageVersionJSON struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Metadata  struct {
		Container struct {
			Tags []string `json:"tags"`
		} `json:"container"`
	} `json:"metadata"`
}

func (v packageVersionJSON) version() PackageVersion {
	return PackageVersion{ID: v.ID, Digest: v.Name, Tags: v.Metadata.Container.Tags, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
}

// GHCRPackage splits an image repository on ghcr.io ("ghcr.io/acme/app", "ghcr.io/acme/tools/app")
// into the owner's login and the package name ("app", "tools/app"); ok is false for other
// registries.
func GHCRPackage(repository string) (login, pkg string, ok bool) {
	rest, found := strings.CutPrefix(strings.ToLower(repository), GHCRHost+"/")
	if !found {
		return "", "", false
	}
	login, pkg, found = strings.Cut(rest, "/")
	if !found || login == "" || pkg == "" {
		return "", "", false
	}
	return login, pkg, true
}

// PackageOwnerOf reads whether login is a user or an organization (GET /users/{login}).
func (c *Client) PackageOwnerOf(ctx context.Context, login string) (PackageOwner, error) {
	if login == "" {
		return PackageOwner{}, fault.BadInputf("package owner is empty: give the user or organization that owns the ghcr.io package")
	}
	u, _, err := c.gh.Users.Get(ctx, login)
	if err != nil {
		return PackageOwner{}, c.wrap(err, "read the owner "+login, Repo{Owner: login}, "")
	}
	return PackageOwner{Login: login, Org: u.GetType() == "Organization"}, nil
}

// PackageVersions lists every version of the container package pkg of o (nested names allowed:
// "tools/app"), newest first, following GitHub's pagination; a listing longer than 100 pages of
// 100 fails naming it (Unreadable) instead of returning part of it. The token needs
// read:packages and read access to the package.
func (c *Client) PackageVersions(ctx context.Context, o PackageOwner, pkg string) ([]PackageVersion, error) {
	if err := checkPackage(o, pkg); err != nil {
		return nil, err
	}
	path := fmt.Sprintf("%s/packages/container/%s/versions", o.path(), url.PathEscape(pkg))
	op := fmt.Sprintf("list the versions of container package %s of %s", pkg, o.Login)
	all, err := listAll(func(lo gh.ListOptions) ([]packageVersionJSON, *gh.Response, error) {
		req, err := c.gh.NewRequest(http.MethodGet, fmt.Sprintf("%s?per_page=%d&page=%d", path, lo.PerPage, lo.Page), nil)
		if err != nil {
			return nil, nil, err
		}
		var page []packageVersionJSON
		resp, err := c.gh.Do(ctx, req, &page)
		return page, resp, err
	})
	if err != nil {
		if fault.Of(err) == fault.Unreadable && StatusOf(err) == 0 {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		err = c.wrap(err, op, Repo{Owner: o.Login, Name: pkg}, "read:packages")
		if IsNotFound(err) {
			return nil, fault.Refusedf("%s: GitHub answered 404 Package not found: check the package name and owner, and that the token has read:packages and can see the package: %w", op, err)
		}
		return nil, err
	}
	out := make([]PackageVersion, 0, len(all))
	for _, v := range all {
		out = append(out, v.version())
	}
	return out, nil
}

// packageVersion reads one version; found is false when it does not exist (or cannot be seen).
func (c *Client) packageVersion(ctx context.Context, o PackageOwner, pkg string, id int64) (PackageVersion, bool, error) {
	req, err := c.gh.NewRequest(http.MethodGet, fmt.Sprintf("%s/packages/container/%s/versions/%d", o.path(), url.PathEscape(pkg), id), nil)
	if err != nil {
		return PackageVersion{}, false, fault.BadInputf("package %s: %w", pkg, err)
	}
	var v packageVersionJSON
	if _, err := c.gh.Do(ctx, req, &v); err != nil {
		err = c.wrap(err, fmt.Sprintf("read version %d of container package %s of %s", id, pkg, o.Login), Repo{Owner: o.Login, Name: pkg}, "read:packages")
		if IsNotFound(err) {
			return PackageVersion{}, false, nil
		}
		return PackageVersion{}, false, err
	}
	return v.version(), true, nil
}

// DeletePackageVersion deletes version id of the container package pkg of o (ghcr.io: deleting
// a version deletes the manifest and every tag on it). A version already gone is success, so a
// re-run converges. GitHub answers 404 "Package not found." both for a version that does not exist
// and for a token that lacks admin on the package; the version is then read back to tell which,
// and the second is a Refused error saying what the token needs.
func (c *Client) DeletePackageVersion(ctx context.Context, o PackageOwner, pkg string, id int64) error {
	if err := checkPackage(o, pkg); err != nil {
		return err
	}
	if id <= 0 {
		return fault.BadInputf("delete a version of package %s: no version id given", pkg)
	}
	op := fmt.Sprintf("delete version %d of container package %s of %s", id, pkg, o.Login)
	req, err := c.gh.NewRequest(http.MethodDelete, fmt.Sprintf("%s/packages/container/%s/versions/%d", o.path(), url.PathEscape(pkg), id), nil)
	if err != nil {
		return fault.BadInputf("%s: %w", op, err)
	}
	_, err = c.gh.Do(ctx, req, nil)
	if err == nil {
		c.logf("deleted version %d of package %s of %s", id, pkg, o.Login)
		return nil
	}
	err = c.wrap(err, op, Repo{Owner: o.Login, Name: pkg}, "delete:packages")
	switch StatusOf(err) {
	case http.StatusNotFound:
		v, found, gerr := c.packageVersion(ctx, o, pkg, id)
		if gerr != nil {
			return fmt.Errorf("%w (and reading the version back failed: %v)", err, gerr)
		}
		if !found {
			return nil // already deleted
		}
		who := "admin on the package (package settings → Manage access; for a workflow's GITHUB_TOKEN: Manage Actions access, role Admin)"
		if o.Org {
			who += "; for an organization's package also an organization admin, or a token of one"
		}
		return fault.Refusedf("%s (%s, tags %v): GitHub answered 404 Package not found, though the token can read the version: GitHub answers 404, not 403, when the token lacks the right to delete; the token needs read:packages and delete:packages (classic PAT) and %s", op, v.Digest, v.Tags, who)
	case http.StatusBadRequest:
		return fault.Refusedf("%s: %w: GitHub refuses to delete public versions with more than 5,000 downloads; ask GitHub support, or leave it", op, err)
	}
	return err
}

// PackageDeletion is what DeletePackageDigests did.
type PackageDeletion struct {
	// Deleted are the digests whose versions were deleted.
	Deleted []string
	// Missing are digests with no version (deleted already).
	Missing []string
}

// DeletePackageDigests deletes the versions of the container package whose names are digests
// (the manifests a registry.DeletePlan deletes, on ghcr.io where the registry itself refuses
// DELETE): one listing, then one DELETE per version. Digests with no version are already gone.
// It stops at the first failure; a re-run finishes.
func (c *Client) DeletePackageDigests(ctx context.Context, o PackageOwner, pkg string, digests []string) (PackageDeletion, error) {
	var res PackageDeletion
	if len(digests) == 0 {
		return res, nil
	}
	versions, err := c.PackageVersions(ctx, o, pkg)
	if err != nil {
		return res, err
	}
	byDigest := map[string]PackageVersion{}
	for _, v := range versions {
		byDigest[v.Digest] = v
	}
	for _, d := range digests {
		v, ok := byDigest[d]
		if !ok {
			res.Missing = append(res.Missing, d)
			continue
		}
		if err := c.DeletePackageVersion(ctx, o, pkg, v.ID); err != nil {
			return res, err
		}
		res.Deleted = append(res.Deleted, d)
	}
	return res, nil
}

func checkPackage(o PackageOwner, pkg string) error {
	switch {
	case o.Login == "":
		return fault.BadInputf("package %s: no owner given: give the user or organization that owns it", pkg)
	case pkg == "" || strings.HasPrefix(pkg, "/") || strings.HasSuffix(pkg, "/") || strings.Contains(pkg, ".."):
		return fault.BadInputf("package name %q of %s is not valid: give the image path after ghcr.io/%s/", pkg, o.Login, o.Login)
	}
	return nil
}

// UntaggedVersions picks the orphans among a package's versions (cleanup --orphans on ghcr.io):
// versions with no tag, not kept, and last updated at least olderThan before now. keep reports
// the digests that must stay although untagged: on ghcr.io the platform manifests of a
// multi-platform image and the signatures listed in sha256-<hex> tags are untagged versions too,
// so pass the digests reachable from the tagged versions (registry.Client.Reachable given every
// tag PackageVersions lists).
func UntaggedVersions(vs []PackageVersion, keep func(digest string) bool, olderThan time.Duration, now time.Time) []PackageVersion {
	var out []PackageVersion
	for _, v := range vs {
		if len(v.Tags) > 0 || (keep != nil && keep(v.Digest)) {
			continue
		}
		at := v.UpdatedAt
		if at.IsZero() {
			at = v.CreatedAt
		}
		if at.IsZero() || now.Sub(at) < olderThan {
			continue
		}
		out = append(out, v)
	}
	return out
}
