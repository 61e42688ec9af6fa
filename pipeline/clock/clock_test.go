package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFakeAdvancesWithoutSleeping(t *testing.T) {
	start := time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC)
	f := NewFake(start)
	wall := time.Now()
	for i := 0; i < 3; i++ {
		if err := f.Sleep(context.Background(), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(wall); took > time.Second {
		t.Fatalf("fake sleep took %v of wall time", took)
	}
	if got := f.Now().Sub(start); got != 3*time.Hour {
		t.Fatalf("fake time advanced %v, want 3h", got)
	}
	if f.Slept() != 3*time.Hour || len(f.Sleeps()) != 3 {
		t.Fatalf("recorded sleeps %v", f.Sleeps())
	}
	f.Advance(time.Minute)
	if f.Now().Sub(start) != 3*time.Hour+time.Minute {
		t.Fatalf("Advance did not move the clock")
	}
}

func TestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewFake(time.Now()).Sleep(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("fake: %v", err)
	}
	if err := (Real{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("real: %v", err)
	}
	if err := (Real{}).Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("real short sleep: %v", err)
	}
	if _, ok := Or(nil).(Real); !ok {
		t.Fatalf("Or(nil) must be the real clock")
	}
}
