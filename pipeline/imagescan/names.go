package imagescan

import (
	"path"
	"strings"
)

// stems are the base names, lower-cased and without extension, of the files the scan reads as
// CHANGELOGs: CHANGELOG, CHANGES, HISTORY, NEWS and RELEASE-NOTES (also RELEASE_NOTES,
// RELEASENOTES). Case does not matter, and neither does the directory.
var stems = map[string]bool{
	"changelog": true, "changes": true, "history": true, "news": true,
	"release-notes": true, "release_notes": true, "releasenotes": true,
}

// extensions are the text extensions a CHANGELOG name may carry (lower-cased; "" is none).
// Compressed files (changelog.gz, as Debian ships them under /usr/share/doc) are not read.
var extensions = map[string]bool{
	"": true, ".md": true, ".markdown": true, ".mdown": true, ".txt": true, ".text": true,
	".rst": true, ".adoc": true, ".asciidoc": true,
}

// IsChangelogName reports whether a file name (its base name is used) is one the scan reads: one
// of the stems CHANGELOG, CHANGES, HISTORY, NEWS, RELEASE-NOTES, RELEASE_NOTES or RELEASENOTES,
// in any case, with no extension or one of .md, .markdown, .mdown, .txt, .text, .rst, .adoc,
// .asciidoc. CHANGELOG.md, changelog, Changes.txt and HISTORY.md match; CHANGELOG.md.gz,
// changelog.Debian and CHANGELOG-1.x.md do not.
func IsChangelogName(name string) bool {
	base := strings.ToLower(path.Base(name))
	ext := path.Ext(base)
	if !extensions[ext] {
		return false
	}
	return stems[strings.TrimSuffix(base, ext)]
}

// copyPattern is a --changelog-copy path as the scan matches it against image paths.
type copyPattern struct {
	given string // as the caller wrote it
	abs   bool   // an absolute path names one image path exactly
	clean string // cleaned; absolute ones keep their leading "/"
}

// newCopyPatterns cleans the declared copy paths. A relative path (a path in the source tree,
// docs/CHANGELOG.md) matches every image path that ends with it at a directory boundary
// (/app/docs/CHANGELOG.md, /docs/CHANGELOG.md), because the Dockerfile may copy the tree anywhere;
// an absolute path matches only itself.
func newCopyPatterns(paths []string) ([]copyPattern, error) {
	var out []copyPattern
	for _, p := range paths {
		c := path.Clean(strings.ReplaceAll(strings.TrimSpace(p), "\\", "/"))
		if p == "" || c == "." || c == "/" || strings.HasPrefix(c, "../") || c == ".." {
			return nil, badInputf("--changelog-copy %q is not a file path: give the path of the copy in the source tree, for example docs/CHANGELOG.md", p)
		}
		out = append(out, copyPattern{given: p, abs: path.IsAbs(c), clean: strings.TrimPrefix(c, "./")})
	}
	return out, nil
}

// matches reports whether image path p (absolute, clean) is this declared copy.
func (c copyPattern) matches(p string) bool {
	if c.abs {
		return p == c.clean
	}
	return p == "/"+c.clean || strings.HasSuffix(p, "/"+c.clean)
}

// normalize turns a tar entry name (./app/x, app/x/, /app/x) into a clean absolute path.
func normalize(name string) string {
	return path.Clean("/" + name)
}
