package githubserver

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// uploadsPrefix is where uploads go: GitHub takes them on a separate host (uploads.github.com);
// GitHub Enterprise Server, whose layout go-github's WithEnterpriseURLs uses, at /api/uploads/.
const uploadsPrefix = "/api/uploads/"

// maxAssetSize is GitHub's limit per asset (2 GiB); the server holds assets in memory, so it
// refuses far earlier, at 64 MiB.
const maxAssetSize = 64 << 20

type asset struct {
	id          int64
	name, label string
	contentType string
	data        []byte
	uploader    string
	created     time.Time
	release     *release
}

// Asset is a release asset as the server stores it.
type Asset struct {
	ID                int64
	ReleaseID         int64
	Name, ContentType string
	Data              []byte
}

// UploadURL is the root uploads go to (go-github's UploadURL for this server).
func (s *Server) UploadURL() string { return s.url + uploadsPrefix }

// Assets returns the assets of release id, oldest first.
func (s *Server) Assets(full string, id int64) []Asset {
	return each(s, full, func(rp *repo) []*asset {
		if rel := rp.releaseByID(strconv.FormatInt(id, 10)); rel != nil {
			return rel.assets
		}
		return nil
	}, func(_ *repo, a *asset) Asset {
		return Asset{ID: a.id, ReleaseID: a.release.id, Name: a.name, ContentType: a.contentType, Data: slices.Clone(a.data)}
	})
}

// assetName is the name GitHub stores: characters other than letters, digits and . _ - + become
// a period, as GitHub renames names with special characters.
func assetName(n string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+", r)) {
			return r
		}
		return '.'
	}, n)
}

func assetJSON(r *http.Request, rp *repo, a *asset) map[string]any {
	sum := sha256.Sum256(a.data)
	api := apiBase(r) + "repos/" + rp.owner + "/" + rp.name + "/releases/assets/" + strconv.FormatInt(a.id, 10)
	tag := a.release.tag
	if a.release.draft {
		tag = a.release.untagged
	}
	return map[string]any{
		"id": a.id, "node_id": nodeID("RA", a.id), "name": a.name, "label": a.label, "content_type": a.contentType,
		"state": "uploaded", "size": len(a.data), "digest": "sha256:" + hex.EncodeToString(sum[:]), "download_count": 0,
		"created_at": a.created.UTC().Format(time.RFC3339), "updated_at": a.created.UTC().Format(time.RFC3339),
		"url": api, "browser_download_url": "https://github.example/" + rp.owner + "/" + rp.name + "/releases/download/" + tag + "/" + a.name,
		"uploader": map[string]any{"login": a.uploader},
	}
}

// locked reports whether rel is a published release of a repository with immutable releases:
// its assets can be neither added, changed nor deleted.
func (rp *repo) locked(rel *release) bool { return rp.immutableReleases && !rel.draft }

// uploadAsset answers POST {uploads}/repos/{o}/{r}/releases/{id}/assets?name=&label=: the raw
// body becomes the asset (201); a name already used answers 422 already_exists (delete first),
// a published immutable release 422.
func (s *Server) uploadAsset(w http.ResponseWriter, r *http.Request, rp *repo, c caller, rel *release) {
	name := assetName(r.URL.Query().Get("name"))
	ct := r.Header.Get("Content-Type")
	switch {
	case name == "":
		validation(w, "ReleaseAsset", "name", "missing_field", "")
		return
	case ct == "":
		validation(w, "ReleaseAsset", "content_type", "missing_field", "")
		return
	case rp.locked(rel):
		unprocessable(w, "Cannot upload assets to an immutable release.")
		return
	}
	for _, a := range rel.assets {
		if a.name == name {
			validation(w, "ReleaseAsset", "name", "already_exists", "")
			return
		}
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxAssetSize+1))
	if err != nil || len(data) > maxAssetSize {
		unprocessable(w, "Problems reading the asset (at most 64 MiB here)")
		return
	}
	a := &asset{id: s.id(), name: name, label: r.URL.Query().Get("label"), contentType: ct, data: data, uploader: c.login(), created: s.clk.Now(), release: rel}
	rel.assets = append(rel.assets, a)
	writeJSON(w, http.StatusCreated, assetJSON(r, rp, a))
}

// listAssets answers GET /releases/{id}/assets, oldest first, paginated.
func (s *Server) listAssets(w http.ResponseWriter, r *http.Request, rp *repo, _ caller, rel *release) {
	if r.PathValue("sub") != "assets" {
		notFound(w)
		return
	}
	page(s, w, r, rel.assets, func(a *asset) map[string]any { return assetJSON(r, rp, a) })
}

// onAsset is on for endpoints about asset {asset}: 404 when there is none, or when its release
// is a draft the caller cannot see.
func (s *Server) onAsset(need Perm, fine string, h func(w http.ResponseWriter, r *http.Request, rp *repo, a *asset)) http.HandlerFunc {
	return s.on(need, fine, func(w http.ResponseWriter, r *http.Request, rp *repo, c caller) {
		for _, rel := range rp.releases {
			for _, a := range rel.assets {
				if strconv.FormatInt(a.id, 10) == r.PathValue("asset") && (!rel.draft || c.perm(rp) >= PermPush) {
					h(w, r, rp, a)
					return
				}
			}
		}
		notFound(w)
	})
}

// getAsset answers the asset's JSON, or its bytes when asked with Accept: application/octet-stream
// (GitHub redirects to a storage host; the server answers them itself).
func (s *Server) getAsset(w http.ResponseWriter, r *http.Request, rp *repo, a *asset) {
	if strings.Contains(r.Header.Get("Accept"), "application/octet-stream") {
		w.Header().Set("Content-Type", a.contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(a.data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(a.data)
		return
	}
	writeJSON(w, http.StatusOK, assetJSON(r, rp, a))
}

// deleteAsset answers 204, or 422 for an asset of a published immutable release.
func (s *Server) deleteAsset(w http.ResponseWriter, r *http.Request, rp *repo, a *asset) {
	if rp.locked(a.release) {
		unprocessable(w, "Cannot delete assets of an immutable release.")
		return
	}
	a.release.assets = slices.DeleteFunc(a.release.assets, func(x *asset) bool { return x == a })
	w.WriteHeader(http.StatusNoContent)
}
