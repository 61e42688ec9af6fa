package imagescan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// refusal asserts err is a fault.Refused *StaleError that names p, the platform and layer d.
func refusal(t *testing.T, err error, p string, d string) *StaleError {
	t.Helper()
	if !errors.Is(err, fault.ErrRefused) {
		t.Fatalf("want a refusal, got %v (class %v)", err, fault.Of(err))
	}
	var se *StaleError
	if !errors.As(err, &se) {
		t.Fatalf("want a *StaleError, got %T: %v", err, err)
	}
	for _, want := range []string{p, "linux/arm64", d, "rebuild the image from the finalize commit abc1234", "stale CHANGELOG"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	return se
}

// passedFrom asserts that img scans without error and that its /app/CHANGELOG.md passed, read
// from layer l.
func passedFrom(t *testing.T, img v1.Image, l v1.Layer) {
	t.Helper()
	res, err := scan(t, img)
	if err != nil {
		t.Fatal(err)
	}
	if f := fileAt(t, res, "/app/CHANGELOG.md"); f.Verdict != Passed || f.Layer != digestOf(t, l) {
		t.Errorf("%+v", f)
	}
}

func TestTBDInNestedPath(t *testing.T) {
	base := layerOf(t, true, dir("usr/"), file("usr/bin/app", "\x7fELF"))
	bad := layerOf(t, true, dir("usr/share/doc/app/notes/"), file("usr/share/doc/app/notes/CHANGELOG.md", withTBD))
	res, err := scan(t, imageOf(t, base, bad))
	se := refusal(t, err, "/usr/share/doc/app/notes/CHANGELOG.md", digestOf(t, bad).String())
	if len(se.Files) != 1 || !strings.Contains(se.Files[0].Reason, "TBD") {
		t.Errorf("refused files %+v", se.Files)
	}
	t.Log(err)
	if f := fileAt(t, res, "/usr/share/doc/app/notes/CHANGELOG.md"); f.Verdict != Refused || f.Layer != digestOf(t, bad) {
		t.Errorf("verdict %+v", f)
	}
	if res.Layers != 2 || res.Bytes == 0 {
		t.Errorf("layers %d bytes %d", res.Layers, res.Bytes)
	}
}

func TestLowerCaseAndOtherNames(t *testing.T) {
	l := layerOf(t, true, file("app/changelog.txt", withTBD), file("app/History.MD", withTBD), file("app/CHANGES", finalized))
	res, err := scan(t, imageOf(t, l))
	se := refusal(t, err, "/app/changelog.txt", digestOf(t, l).String())
	if len(se.Files) != 2 || fileAt(t, res, "/app/History.MD").Verdict != Refused || fileAt(t, res, "/app/CHANGES").Verdict != Passed {
		t.Errorf("files %+v", res.Files)
	}
}

func TestIsChangelogName(t *testing.T) {
	for name, want := range map[string]bool{
		"CHANGELOG": true, "CHANGELOG.md": true, "/a/b/changelog.txt": true, "CHANGES.md": true,
		"HISTORY.md": true, "News": true, "RELEASE_NOTES.rst": true, "ChangeLog.markdown": true,
		"CHANGELOG.md.gz": false, "changelog.Debian": false, "CHANGELOG-1.x.md": false,
		"changelog.go": false, "README.md": false, "CHANGELOG/": true,
	} {
		if got := IsChangelogName(name); got != want {
			t.Errorf("IsChangelogName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestWhiteoutHidesBadFile(t *testing.T) {
	for _, gz := range []bool{true, false} {
		bad := layerOf(t, gz, file("app/CHANGELOG.md", withTBD), file("srv/docs/nested/HISTORY.md", withTBD))
		fix := layerOf(t, gz, whiteout("app", "CHANGELOG.md"), whiteout("srv", "docs"))
		res, err := scan(t, imageOf(t, bad, fix))
		if err != nil || len(res.Files) != 0 {
			t.Fatalf("gzip %v: whiteouts should hide both files: %v %+v", gz, err, res.Files)
		}
	}
}

func TestWhiteoutInSameLayerDoesNotHideItsOwnFile(t *testing.T) {
	bad := layerOf(t, true, file("app/CHANGELOG.md", withTBD))
	// The file comes before the whiteout of its own path in the same layer: the whiteout only hides
	// the lower layer's file, so the new, good file stays.
	fix := layerOf(t, true, file("app/CHANGELOG.md", finalized), whiteout("app", "CHANGELOG.md"))
	res, err := scan(t, imageOf(t, bad, fix))
	if err != nil || fileAt(t, res, "/app/CHANGELOG.md").Layer != digestOf(t, fix) {
		t.Fatalf("%v %+v", err, res.Files)
	}
}

func TestOpaqueDir(t *testing.T) {
	bad := layerOf(t, false, file("app/docs/CHANGELOG.md", withTBD), file("app/docs/old/HISTORY.md", withTBD), file("app/CHANGES.md", withTBD))
	// The opaque marker comes after the layer's own file: it hides only lower layers.
	fix := layerOf(t, true, dir("app/docs/"), file("app/docs/CHANGELOG.md", finalized), opaque("app/docs"))
	res, err := scan(t, imageOf(t, bad, fix))
	refusal(t, err, "/app/CHANGES.md", digestOf(t, bad).String())
	if len(res.Files) != 2 || fileAt(t, res, "/app/docs/CHANGELOG.md").Verdict != Passed {
		t.Errorf("opaque dir should leave only the new docs/CHANGELOG.md and CHANGES.md: %+v", res.Files)
	}
}

func TestLaterLayerOverwritesBadWithGood(t *testing.T) {
	bad := layerOf(t, true, file("app/CHANGELOG.md", withTBD))
	good := layerOf(t, false, file("app/CHANGELOG.md", finalized))
	passedFrom(t, imageOf(t, bad, good), good)
}

func TestLaterLayerOverwritesGoodWithBad(t *testing.T) {
	good := layerOf(t, true, file("app/CHANGELOG.md", finalized))
	bad := layerOf(t, true, file("app/CHANGELOG.md", withTBD))
	_, err := scan(t, imageOf(t, good, bad))
	refusal(t, err, "/app/CHANGELOG.md", digestOf(t, bad).String())
}

func TestStaleCopyAtDeclaredPath(t *testing.T) {
	// Dated and free of TBD, but not the finalized file: its notes are an older draft.
	draft := strings.Replace(finalized, "- Multi-arch images.", "- Multi-arch images (draft).", 1)
	l := layerOf(t, true, file("srv/app/docs/release-copy.md", draft), file("srv/app/CHANGELOG.md", finalized))
	res, err := scan(t, imageOf(t, l), "docs/release-copy.md")
	se := refusal(t, err, "/srv/app/docs/release-copy.md", digestOf(t, l).String())
	if f := se.Files[0]; !f.Declared || !strings.Contains(f.Reason, "--changelog-copy (docs/release-copy.md)") {
		t.Errorf("%+v", f)
	}
	if len(res.Absent) != 0 {
		t.Errorf("absent %v", res.Absent)
	}
}

func TestDeclaredCopyEqualPassesAndAbsentIsListed(t *testing.T) {
	l := layerOf(t, true, file("app/docs/notes.md", finalized))
	res, err := scan(t, imageOf(t, l), "docs/notes.md", "/usr/share/doc/app/CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	if f := fileAt(t, res, "/app/docs/notes.md"); f.Verdict != Passed || !f.Declared {
		t.Errorf("%+v", f)
	}
	if len(res.Absent) != 1 || res.Absent[0] != "/usr/share/doc/app/CHANGELOG.md" {
		t.Errorf("absent %v", res.Absent)
	}
}

func TestDeclaredCopyNamedLikeChangelogButDiffers(t *testing.T) {
	// The X.Y.Z section is the finalized one, so as a CHANGELOG it passes; as a declared copy it
	// must be the finalized file byte for byte, and it lacks the Unreleased heading.
	trimmed := strings.Replace(finalized, "## [Unreleased]\n\n", "", 1)
	l := layerOf(t, true, file("app/CHANGELOG.md", trimmed))
	if _, err := scan(t, imageOf(t, l)); err != nil {
		t.Fatalf("undeclared, it carries the finalized section: %v", err)
	}
	_, err := scan(t, imageOf(t, l), "CHANGELOG.md")
	refusal(t, err, "/app/CHANGELOG.md", digestOf(t, l).String())
}

func TestVendoredChangelogSkipped(t *testing.T) {
	l := layerOf(t, true,
		file("app/node_modules/left-pad/CHANGELOG.md", vendored),
		file("app/node_modules/pad/HISTORY.md", vendoredSameVersion),
		file("usr/share/doc/tool/NEWS", "tool 3.2\n\n* something changed\n"),
		file("app/CHANGELOG.md", finalized))
	res, err := scan(t, imageOf(t, l))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/app/node_modules/left-pad/CHANGELOG.md", "/app/node_modules/pad/HISTORY.md", "/usr/share/doc/tool/NEWS"} {
		if f := fileAt(t, res, p); f.Verdict != Skipped || f.Reason == "" {
			t.Errorf("%s: %+v", p, f)
		}
	}
	if res.Count(Passed) != 1 || res.Count(Skipped) != 3 {
		t.Errorf("%+v", res.Files)
	}
}

func TestOlderCopyWithoutSectionRefused(t *testing.T) {
	// Built from a tree before prepare: no [1.4.0] heading, but its [1.3.0] is ours.
	l := layerOf(t, true, file("opt/app/CHANGELOG", beforePrepare))
	_, err := scan(t, imageOf(t, l))
	se := refusal(t, err, "/opt/app/CHANGELOG", digestOf(t, l).String())
	if !strings.Contains(se.Files[0].Reason, "older copy") {
		t.Errorf("%+v", se.Files[0])
	}
}

func TestOlderDateRefused(t *testing.T) {
	other := strings.Replace(finalized, "[1.4.0] - 2026-11-29", "[1.4.0] - 2026-11-20", 1)
	l := layerOf(t, true, file("app/CHANGELOG.md", other))
	_, err := scan(t, imageOf(t, l))
	refusal(t, err, "/app/CHANGELOG.md", digestOf(t, l).String())
}

func TestGzipZstdAndUncompressedLayers(t *testing.T) {
	for c, name := range map[compression]string{gzipped: "gzip", zstded: "zstd", plain: "uncompressed", plainAsGz: "plain tar under a gzip media type"} {
		t.Run(name, func(t *testing.T) {
			bad := layerAs(t, c, file("app/CHANGELOG.md", withTBD))
			_, err := scan(t, imageOf(t, bad))
			refusal(t, err, "/app/CHANGELOG.md", digestOf(t, bad).String())
			good := layerAs(t, c, file("app/CHANGELOG.md", finalized))
			res, err := scan(t, imageOf(t, bad, good))
			if err != nil || fileAt(t, res, "/app/CHANGELOG.md").Layer != digestOf(t, good) {
				t.Errorf("%v %+v", err, res.Files)
			}
		})
	}
}

func TestMixedLayers(t *testing.T) {
	img := imageOf(t,
		layerAs(t, zstded, file("a/CHANGELOG.md", withTBD)),
		layerAs(t, plain, whiteout("a", "CHANGELOG.md")),
		layerAs(t, gzipped, file("b/HISTORY.md", finalized)),
		layerAs(t, plainAsGz, file("c/NEWS.md", vendored)))
	res, err := scan(t, img)
	if err != nil || res.Layers != 4 || res.Count(Passed) != 1 || res.Count(Skipped) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
}

func TestSymlinksResolveInsideTheImage(t *testing.T) {
	l := layerOf(t, true,
		file("usr/share/doc/app/notes.md", withTBD),   // not named like a CHANGELOG: never read
		file("usr/share/doc/app/HISTORY.md", withTBD), // read
		symlink("app/CHANGELOG.md", "../usr/share/doc/app/HISTORY.md"),
		symlink("app/CHANGES.md", "/usr/share/doc/app/notes.md"),
		symlink("app/NEWS", "../../../../../usr/share/doc/app/HISTORY.md"), // climbs past /: stays in the image
		symlink("app/loop/CHANGELOG", "CHANGELOG"),
		symlink("etc/HISTORY", "/nonexistent/HISTORY"))
	res, err := scan(t, imageOf(t, l))
	refusal(t, err, "/app/CHANGELOG.md -> /usr/share/doc/app/HISTORY.md", digestOf(t, l).String())
	if f := fileAt(t, res, "/app/NEWS"); f.Verdict != Refused || f.Target != "/usr/share/doc/app/HISTORY.md" {
		t.Errorf("%+v", f)
	}
	for _, p := range []string{"/app/CHANGES.md", "/app/loop/CHANGELOG", "/etc/HISTORY"} {
		if f := fileAt(t, res, p); f.Verdict != Skipped {
			t.Errorf("%s: %+v", p, f)
		}
	}
}

func TestSymlinkedDirectoryAndLinkInLowerLayer(t *testing.T) {
	lower := layerOf(t, true, file("opt/app-1.4/HISTORY.md", finalized), symlink("opt/current", "app-1.4"))
	upper := layerOf(t, true, symlink("app/CHANGELOG.md", "/opt/current/HISTORY.md"))
	passedFrom(t, imageOf(t, lower, upper), lower)
}

func TestHardLinks(t *testing.T) {
	l := layerOf(t, true,
		file("usr/share/doc/app/CHANGELOG.md", withTBD),
		hardlink("app/HISTORY.md", "usr/share/doc/app/CHANGELOG.md"),
		file("app/VERSION-NOTES", finalized),
		hardlink("app/docs/copy.md", "app/VERSION-NOTES"))
	res, err := scan(t, imageOf(t, l), "docs/copy.md")
	se := refusal(t, err, "/app/HISTORY.md", digestOf(t, l).String())
	if len(se.Files) != 3 {
		t.Errorf("want the file, its hard link and the unread declared copy refused: %+v", se.Files)
	}
	if f := fileAt(t, res, "/app/docs/copy.md"); f.Verdict != Refused || !strings.Contains(f.Reason, "not read") {
		t.Errorf("%+v", f)
	}
}

func TestUnreadableChangelogs(t *testing.T) {
	odd := "Release history\n===============\n\n1.4.0 (TBD)\n-----------\n\n* multi-arch\n\n```\nnever closed\n"
	l := layerOf(t, true, file("app/HISTORY.rst", odd), file("app/bin/CHANGES", "\x00\x01binary"),
		file("lib/x/CHANGELOG.md", "## 1.4.0 / 2019-01-01\n\n```\nopen fence\n"))
	res, err := scan(t, imageOf(t, l))
	refusal(t, err, "/app/HISTORY.rst", digestOf(t, l).String())
	if fileAt(t, res, "/app/bin/CHANGES").Verdict != Skipped || fileAt(t, res, "/lib/x/CHANGELOG.md").Verdict != Skipped {
		t.Errorf("%+v", res.Files)
	}
}

func TestOversizedFile(t *testing.T) {
	l := layerOf(t, true, file("app/CHANGELOG.md", finalized+strings.Repeat("x", 100)), file("app/docs/copy.md", strings.Repeat("y", 400)))
	res, err := Scan(t.Context(), Input{Image: imageOf(t, l), Platform: platform, Version: release, Changelog: []byte(finalized), Copies: []string{"docs/copy.md"}, MaxFileSize: 300})
	if !errors.Is(err, fault.ErrRefused) || fileAt(t, res, "/app/docs/copy.md").Verdict != Refused {
		t.Fatalf("an oversized declared copy is refused: %v", err)
	}
	if f := fileAt(t, res, "/app/CHANGELOG.md"); f.Verdict != Passed {
		t.Errorf("%+v", f)
	}
}

func TestBadInput(t *testing.T) {
	img := imageOf(t, layerOf(t, true, file("app/CHANGELOG.md", finalized)))
	for name, in := range map[string]Input{
		"TBD changelog": {Image: img, Version: release, Changelog: []byte(withTBD)},
		"no image":      {Version: release, Changelog: []byte(finalized)},
		"no version":    {Image: img, Changelog: []byte(finalized)},
		"bad copy":      {Image: img, Version: release, Changelog: []byte(finalized), Copies: []string{"../outside.md"}},
	} {
		if _, err := Scan(t.Context(), in); !errors.Is(err, fault.ErrBadInput) {
			t.Errorf("%s: want bad input, got %v", name, err)
		}
	}
}

func TestCorruptLayerIsUnreadable(t *testing.T) {
	good := layerOf(t, false, file("app/CHANGELOG.md", finalized))
	broken := tarOf(t, file("app/CHANGELOG.md", finalized))[:600]
	l, err := tarballLayer(broken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = scan(t, imageOf(t, good, l))
	if !errors.Is(err, fault.ErrUnreadable) || !strings.Contains(err.Error(), "layer 2") {
		t.Fatalf("want unreadable naming layer 2, got %v", err)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	img := imageOf(t, layerOf(t, true, file("app/CHANGELOG.md", finalized)))
	if _, err := Scan(ctx, Input{Image: img, Version: release, Changelog: []byte(finalized)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("want cancelled, got %v", err)
	}
}

func TestLaterLayerReplacesDirectoryOrLink(t *testing.T) {
	lower := layerOf(t, true,
		file("app/docs/CHANGELOG.md", withTBD), // hidden: /app/docs becomes a symlink
		file("opt/CHANGELOG.md", withTBD),      // reached through /srv/CHANGELOG.md until it is replaced
		symlink("srv/CHANGELOG.md", "/opt/CHANGELOG.md"),
		file("var/lib/app/CHANGELOG.md", withTBD)) // hidden: /var/lib becomes a file
	upper := layerOf(t, false,
		symlink("app/docs", "/usr/share/doc/app"),
		file("srv/CHANGELOG.md", finalized),
		file("var/lib", "not a directory any more"),
		whiteout("opt", "CHANGELOG.md"))
	res, err := scan(t, imageOf(t, lower, upper))
	if err != nil {
		t.Fatalf("%v\n%+v", err, res.Files)
	}
	if len(res.Files) != 1 || fileAt(t, res, "/srv/CHANGELOG.md").Verdict != Passed {
		t.Errorf("%+v", res.Files)
	}
}

func TestHardLinkToLowerLayer(t *testing.T) {
	lower := layerOf(t, true, file("usr/share/doc/app/CHANGELOG.md", withTBD))
	upper := layerOf(t, true, hardlink("app/HISTORY.md", "usr/share/doc/app/CHANGELOG.md"))
	res, err := scan(t, imageOf(t, lower, upper))
	refusal(t, err, "/app/HISTORY.md", digestOf(t, lower).String())
	if f := fileAt(t, res, "/app/HISTORY.md"); f.Target != "/usr/share/doc/app/CHANGELOG.md" {
		t.Errorf("%+v", f)
	}
}

func TestManyLayersApplyInOrder(t *testing.T) {
	// More layers than CPUs, read concurrently: the last word on each path must still be the top
	// layer's, whichever layer finishes first.
	var layers []v1.Layer
	for i := range 9 {
		body := withTBD
		if i%2 == 0 {
			body = finalized
		}
		layers = append(layers, layerAs(t, compression(i%3), file("app/CHANGELOG.md", body), file(fmt.Sprintf("x/%d/pad", i), strings.Repeat("p", 1<<(10+i)))))
		if i == 5 {
			layers = append(layers, layerAs(t, plain, whiteout("app", "CHANGELOG.md")))
		}
	}
	res, err := scan(t, imageOf(t, layers...))
	if err != nil || fileAt(t, res, "/app/CHANGELOG.md").Layer != digestOf(t, layers[len(layers)-1]) || res.Layers != 10 {
		t.Fatalf("%v %+v", err, res)
	}
	_, err = scan(t, imageOf(t, layers[:len(layers)-1]...))
	refusal(t, err, "/app/CHANGELOG.md", digestOf(t, layers[len(layers)-2]).String())
}

func TestResultString(t *testing.T) {
	l := layerOf(t, true, file("app/CHANGELOG.md", finalized), file("app/node_modules/x/CHANGELOG.md", vendored))
	res, err := scan(t, imageOf(t, l), "docs/CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	want := "linux/arm64: 1 CHANGELOG file(s) passed, 1 skipped, 0 refused (1 layers, 0 MB read); not in the image: docs/CHANGELOG.md"
	if got := res.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
