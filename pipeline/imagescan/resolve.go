package imagescan

import (
	"fmt"
	"path"
	"strings"
)

// maxHops bounds symbolic link resolution, as Linux does (ELOOP after 40).
const maxHops = 40

// files is the verdict on every judged file of the final filesystem. A symbolic link named like
// a CHANGELOG (or declared) is judged by what it resolves to inside the image.
func (s *fsState) files() []File {
	var out []File
	for p, n := range s.nodes {
		if !s.j.candidate(p) {
			continue
		}
		f := File{Path: p, Target: n.target, Layer: n.layer, Size: n.size}
		c := n.c
		if n.symlink {
			c = s.follow(p, &f)
		}
		f.Verdict, f.Reason, f.Declared = s.j.at(p, c)
		out = append(out, f)
	}
	return out
}

// follow judges symbolic link p by the file it resolves to, filling f's target, layer and size.
func (s *fsState) follow(p string, f *File) verdict {
	t, err := s.resolve(p)
	if err != nil {
		return verdict{v: Skipped, reason: fmt.Sprintf("symbolic link that does not resolve: %v", err)}
	}
	f.Target = t
	n, ok := s.nodes[t]
	if !ok || n.symlink {
		return verdict{v: Skipped, reason: fmt.Sprintf("symbolic link to %s, which is not named like a CHANGELOG or does not exist, so no content was read", t)}
	}
	f.Layer, f.Size = n.layer, n.size
	return n.c
}

// resolve follows symbolic links in p, component by component, inside the image: an absolute
// target starts again at the image's root, and ".." never climbs above it.
func (s *fsState) resolve(p string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur, hops := "/", 0
	for i := 0; i < len(parts); i++ {
		switch parts[i] {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, parts[i])
		n, ok := s.nodes[next]
		if !ok || !n.symlink {
			cur = next
			continue
		}
		if hops++; hops > maxHops {
			return "", fmt.Errorf("more than %d links from %s (a loop?)", maxHops, p)
		}
		if path.IsAbs(n.target) {
			cur = "/"
		}
		parts = append(strings.Split(n.target, "/"), parts[i+1:]...)
		i = -1
	}
	return cur, nil
}

// absent lists the declared copies that no file of the final filesystem is.
func (s *fsState) absent() []string {
	var out []string
	for _, c := range s.j.copies {
		found := false
		for p := range s.nodes {
			if c.matches(p) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, c.given)
		}
	}
	return out
}
