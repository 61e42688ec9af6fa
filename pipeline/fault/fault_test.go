package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestClassSurvivesWrapping(t *testing.T) {
	base := errors.New("connection refused")
	err := fmt.Errorf("verify signatures: %w", fmt.Errorf("list referrers: %w", AsUnreachable(base)))
	if got := Of(err); got != Unreachable {
		t.Fatalf("Of = %v, want could not reach", got)
	}
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrRefused) {
		t.Fatalf("errors.Is does not match the class: %v", err)
	}
	if !errors.Is(err, base) {
		t.Fatal("the cause is lost")
	}
	if err.Error() != "verify signatures: list referrers: connection refused" {
		t.Fatalf("text changed: %q", err)
	}
}

func TestInnermostClassWins(t *testing.T) {
	err := AsRefused(fmt.Errorf("gate: %w", Unreadablef("bad JSON")))
	if Of(err) != Unreadable {
		t.Fatalf("outer wrap overrode the class made at the source: %v", Of(err))
	}
	if Of(errors.New("x")) != Unknown || Of(nil) != Unknown {
		t.Fatal("unclassified errors must be Unknown")
	}
	if Wrap(Refused, nil) != nil {
		t.Fatal("nil must stay nil")
	}
}

func TestCouldNotLook(t *testing.T) {
	for c, want := range map[Class]bool{Unknown: false, Unreachable: true, Unreadable: true, Refused: false, BadInput: false} {
		if c.CouldNotLook() != want {
			t.Errorf("%v.CouldNotLook() = %v", c, !want)
		}
	}
}
