package imagescan

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// watchedLayer calls opened before its content is handed out (an error fails the read) and closed
// when the scan closes it.
type watchedLayer struct {
	v1.Layer
	opened func() error
	closed func()
}

func (w watchedLayer) Compressed() (io.ReadCloser, error)   { return w.watch(w.Layer.Compressed()) }
func (w watchedLayer) Uncompressed() (io.ReadCloser, error) { return w.watch(w.Layer.Uncompressed()) }

func (w watchedLayer) watch(rc io.ReadCloser, err error) (io.ReadCloser, error) {
	if err != nil {
		return nil, err
	}
	if err := w.opened(); err != nil {
		rc.Close()
		return nil, err
	}
	return closeHook{ReadCloser: rc, hook: w.closed}, nil
}

type closeHook struct {
	io.ReadCloser
	hook func()
}

func (c closeHook) Close() error { c.hook(); return c.ReadCloser.Close() }

// A layer slow to read (a big base layer) does not idle the other CPUs: with two, every layer
// above it is read while it still is, and the result is still the one of applying them in order.
func TestSlowLayerDoesNotHoldBackTheOthers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	const above = 6 // more than the CPUs, within aheadPerCPU of them
	var left atomic.Int32
	left.Store(above)
	allRead := make(chan struct{})
	var slowOpened atomic.Bool
	noop := func() error { return nil }
	slow := watchedLayer{Layer: layerOf(t, true, file("app/CHANGELOG.md", withTBD)), closed: func() {},
		opened: func() error {
			slowOpened.Store(true)
			select {
			case <-allRead:
				return nil
			case <-time.After(20 * time.Second): // only when the scan is wrong; it never waits this long otherwise
				return errors.New("the layers above were not read while this one was")
			}
		}}
	layers := []v1.Layer{slow}
	for i := range above {
		body := withTBD
		if i == above-2 {
			body = finalized
		}
		pad := file(fmt.Sprintf("pad/%d", i), "") // no two layers alike: the image finds layers by digest
		l := layerAs(t, compression(i%3), file("app/CHANGELOG.md", body), pad)
		if i == above-1 {
			l = layerAs(t, plain, pad)
		}
		layers = append(layers, watchedLayer{Layer: l, opened: noop, closed: func() {
			if left.Add(-1) == 0 {
				close(allRead)
			}
		}})
	}
	res, err := scan(t, imageOf(t, layers...))
	if !slowOpened.Load() || left.Load() != 0 {
		t.Fatalf("the scan did not read the layers given: slow layer opened %v, %d others not closed", slowOpened.Load(), left.Load())
	}
	if err != nil || res.Layers != above+1 || fileAt(t, res, "/app/CHANGELOG.md").Layer != digestOf(t, layers[above-1]) {
		t.Fatalf("%v %+v", err, res)
	}
}
