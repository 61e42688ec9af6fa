package githubserver

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Container packages (ghcr.io images) and their versions, as GitHub's packages REST API shows
// them:
//
//	GET    /orgs/{org}/packages/container/{name}/versions          (also /users/{user}/...)
//	GET    /orgs/{org}/packages/container/{name}/versions/{id}
//	DELETE /orgs/{org}/packages/container/{name}/versions/{id}     → 204
//	GET    /users/{login}                                           → {"login", "type"}
//
// A nested package name is one path segment, its '/' sent as %2F. Versions are listed newest
// first, paginated like every list; each has id, name (the manifest digest), created_at,
// updated_at and metadata.container.tags (empty when untagged). Access is per token and package
// (GrantPackage): listing needs read (read:packages), deleting needs admin on the package; a
// token without it gets 404 {"message":"Package not found."} on DELETE, as on GitHub, even
// though it can list. Unknown packages, and packages a token cannot read, are 404 too.

type pkg struct {
	owner    string
	org      bool
	name     string
	versions []*pkgVersion // oldest first
}

type pkgVersion struct {
	id       int64
	digest   string
	tags     []string
	created  time.Time
	updated  time.Time
	deleted  bool
	download int
}

func pkgKey(owner, name string) string { return strings.ToLower(owner + "/" + name) }

// AddPackage creates the container package name (nested names contain '/') of owner, an
// organization when org is set, else a user.
func (s *Server) AddPackage(owner string, org bool, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pkgsInit()
	if s.pkgs[pkgKey(owner, name)] == nil {
		s.pkgs[pkgKey(owner, name)] = &pkg{owner: owner, org: org, name: name}
	}
	s.owners[strings.ToLower(owner)] = org
}

// AddPackageVersion adds a version (a manifest digest and its tags) to a package made with
// AddPackage, created at the server clock's now, and returns its id. Tags already held by
// another version move to this one, as a push of a tag does on ghcr.io.
func (s *Server) AddPackageVersion(owner, name, digest string, tags ...string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pkgs[pkgKey(owner, name)]
	if p == nil {
		panic("githubserver.AddPackageVersion: no package " + owner + "/" + name)
	}
	now := s.clk.Now()
	for _, v := range p.versions {
		if !v.deleted {
			v.tags = slices.DeleteFunc(v.tags, func(t string) bool { return slices.Contains(tags, t) })
		}
	}
	for _, v := range p.versions {
		if v.digest == digest && !v.deleted {
			v.tags = append(v.tags, tags...)
			v.updated = now
			return v.id
		}
	}
	v := &pkgVersion{id: s.id(), digest: digest, tags: append([]string(nil), tags...), created: now, updated: now}
	p.versions = append(p.versions, v)
	return v.id
}

// PackageVersionTags returns the live versions of a package: digest → tags.
func (s *Server) PackageVersionTags(owner, name string) map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	if p := s.pkgs[pkgKey(owner, name)]; p != nil {
		for _, v := range p.versions {
			if !v.deleted {
				out[v.digest] = append([]string{}, v.tags...)
			}
		}
	}
	return out
}

// SetPackageDownloads sets a version's download count: a public version with more than 5,000
// downloads cannot be deleted (400), as on GitHub.
func (s *Server) SetPackageDownloads(owner, name string, id int64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pkgs[pkgKey(owner, name)]; p != nil {
		for _, v := range p.versions {
			if v.id == id {
				v.download = n
			}
		}
	}
}

// GrantPackage gives a token access to a package: PermPull lists (read:packages), PermAdmin
// also deletes (admin on the package plus delete:packages).
func (s *Server) GrantPackage(secret, owner, name string, p Perm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pkgsInit()
	if s.pkgPerms[secret] == nil {
		s.pkgPerms[secret] = map[string]Perm{}
	}
	s.pkgPerms[secret][pkgKey(owner, name)] = p
}

func (s *Server) pkgsInit() {
	if s.pkgs == nil {
		s.pkgs, s.pkgPerms, s.owners = map[string]*pkg{}, map[string]map[string]Perm{}, map[string]bool{}
	}
}

// packageRoutes registers the packages endpoints.
func (s *Server) packageRoutes(m *http.ServeMux) {
	for _, org := range []bool{true, false} {
		kind := "/users/"
		if org {
			kind = "/orgs/"
		}
		m.HandleFunc("GET "+kind+"{owner}/packages/{type}/{rest...}", s.onPackage(org, PermPull, s.listPackageVersions, s.getPackageVersion))
		m.HandleFunc("DELETE "+kind+"{owner}/packages/{type}/{rest...}", s.onPackage(org, PermAdmin, nil, s.deletePackageVersion))
	}
	m.HandleFunc("GET /users/{login}", s.locked(s.getUser))
}

func packageNotFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]any{"message": "Package not found.", "documentation_url": docs("rest/packages/packages"), "status": "404"})
}

// getUser answers the owners the server knows (packages and repositories): login and type.
// Call with the lock held (it is registered through locked).
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	s.pkgsInit()
	login := r.PathValue("login")
	org, ok := s.owners[strings.ToLower(login)]
	if !ok {
		for _, rp := range s.repos {
			if strings.EqualFold(rp.owner, login) {
				ok = true
				break
			}
		}
	}
	if !ok {
		notFound(w)
		return
	}
	typ := "User"
	if org {
		typ = "Organization"
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": login, "type": typ, "id": 1})
}

// onPackage is on for the versions endpoints of one container package of a user, or of an
// organization when org is set; the path's rest is "<name>/versions" or "<name>/versions/<id>"
// (a nested name arrives with its %2F decoded). The preamble: the lock, the package (404
// "Package not found." for another type, an unknown package or one the caller cannot read, 401
// to anonymous callers), then for the versions list, list (404 when nil); for one version, need
// on the package (404 "Package not found." without it, GitHub's answer to a DELETE by a token
// without admin) and the version (404 when there is none), then one.
func (s *Server) onPackage(org bool, need Perm, list func(w http.ResponseWriter, r *http.Request, p *pkg), one func(w http.ResponseWriter, r *http.Request, p *pkg, v *pkgVersion)) http.HandlerFunc {
	return s.locked(func(w http.ResponseWriter, r *http.Request) {
		s.pkgsInit()
		if r.PathValue("type") != "container" {
			packageNotFound(w)
			return
		}
		rest := r.PathValue("rest")
		var name, idStr string
		switch {
		case strings.HasSuffix(rest, "/versions"):
			name = strings.TrimSuffix(rest, "/versions")
		case strings.Contains(rest, "/versions/"):
			i := strings.LastIndex(rest, "/versions/")
			name, idStr = rest[:i], rest[i+len("/versions/"):]
		default:
			notFound(w)
			return
		}
		p := s.pkgs[pkgKey(r.PathValue("owner"), name)]
		tok := s.callerOf(r).tok
		perm := PermNone
		if tok != nil && p != nil {
			perm = s.pkgPerms[tok.secret][pkgKey(p.owner, p.name)]
		}
		if p == nil || p.org != org || perm < PermPull {
			if tok == nil {
				writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Requires authentication", "documentation_url": docs("rest"), "status": "401"})
				return
			}
			packageNotFound(w)
			return
		}
		if idStr == "" {
			if list == nil {
				notFound(w)
				return
			}
			list(w, r, p)
			return
		}
		if perm < need {
			packageNotFound(w)
			return
		}
		id, err := strconv.ParseInt(idStr, 10, 64)
		if err == nil {
			for _, v := range p.versions {
				if v.id == id && !v.deleted {
					one(w, r, p, v)
					return
				}
			}
		}
		packageNotFound(w)
	})
}

// listPackageVersions answers a package's live versions, newest first, a page at a time.
func (s *Server) listPackageVersions(w http.ResponseWriter, r *http.Request, p *pkg) {
	var live []*pkgVersion
	for i := len(p.versions) - 1; i >= 0; i-- {
		if !p.versions[i].deleted {
			live = append(live, p.versions[i])
		}
	}
	page(s, w, r, live, func(v *pkgVersion) map[string]any { return s.pkgVersionJSON(r, p, v) })
}

// getPackageVersion answers one version.
func (s *Server) getPackageVersion(w http.ResponseWriter, r *http.Request, p *pkg, v *pkgVersion) {
	writeJSON(w, http.StatusOK, s.pkgVersionJSON(r, p, v))
}

// deletePackageVersion deletes a version (204), unless it is public with more than 5,000
// downloads (400, as on GitHub).
func (s *Server) deletePackageVersion(w http.ResponseWriter, _ *http.Request, _ *pkg, v *pkgVersion) {
	if v.download > 5000 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Publicly visible package versions with more than 5000 downloads cannot be deleted. Contact GitHub support for further assistance.", "documentation_url": docs("rest/packages/packages"), "status": "400"})
		return
	}
	v.deleted = true
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pkgVersionJSON(r *http.Request, p *pkg, v *pkgVersion) map[string]any {
	kind := "users"
	if p.org {
		kind = "orgs"
	}
	return map[string]any{
		"id":               v.id,
		"name":             v.digest,
		"url":              apiBase(r) + kind + "/" + p.owner + "/packages/container/" + strings.ReplaceAll(p.name, "/", "%2F") + "/versions/" + strconv.FormatInt(v.id, 10),
		"package_html_url": "https://github.com/" + p.owner + "/packages/container/package/" + p.name,
		"created_at":       v.created.UTC().Format(time.RFC3339),
		"updated_at":       v.updated.UTC().Format(time.RFC3339),
		"metadata": map[string]any{
			"package_type": "container",
			"container":    map[string]any{"tags": append([]string{}, v.tags...)},
		},
	}
}
