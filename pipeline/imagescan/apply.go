package imagescan

import (
	"path"
	"strings"
)

// apply lays delta d over the layers merged so far, as an overlay filesystem does: whiteouts and
// opaque directories hide lower files, any entry replaces the lower file at its path, a
// non-directory also hides what lay below a lower directory of that path, and then the layer's
// own judged files and links take their places. Entries of d never hide one another.
func (s *fsState) apply(d *delta) {
	for _, p := range d.gone {
		s.removeUnder(p)
		delete(s.nodes, p)
	}
	for _, dir := range d.opaque {
		s.removeUnder(dir)
	}
	for p := range s.nodes {
		if s.replacedBy(d, p) {
			delete(s.nodes, p)
		}
	}
	for p, t := range d.links {
		if n, ok := s.nodes[t]; ok && !n.symlink {
			d.upper[p] = linkTo(n, t)
		} else {
			d.upper[p] = unreadLink(t, d.digest)
		}
	}
	for p, n := range d.upper {
		s.nodes[p] = n
	}
}

// replacedBy reports whether d writes lower node p's path, or a non-directory at a directory
// above it.
func (s *fsState) replacedBy(d *delta, p string) bool {
	h := s.hash(p)
	if _, ok := d.replaced[h]; ok {
		return true
	}
	if _, ok := d.dirs[h]; ok {
		return true
	}
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		if _, ok := d.replaced[s.hash(dir)]; ok {
			return true
		}
	}
	return false
}

// removeUnder deletes everything below directory dir.
func (s *fsState) removeUnder(dir string) {
	if dir == "/" {
		clear(s.nodes)
		return
	}
	prefix := dir + "/"
	for k := range s.nodes {
		if strings.HasPrefix(k, prefix) {
			delete(s.nodes, k)
		}
	}
}
