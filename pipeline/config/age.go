package config

import (
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// MaxAge is the longest --older-than accepted (ten years).
const MaxAge = 10 * 365 * 24 * time.Hour

// ParseAge reads --older-than: a whole number of days ("7d"), or a Go duration ("36h", "90m",
// "1h30m"). It must be positive and at most MaxAge.
func ParseAge(s string) (time.Duration, error) {
	bad := func(why string) (time.Duration, error) {
		return 0, fault.BadInputf("--older-than %s %s: give an age such as 7d, 36h or 90m", show(s), why)
	}
	if s == "" {
		return bad("is empty")
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil {
			return bad("is not a whole number of days")
		}
		if n > uint64(MaxAge/(24*time.Hour)) {
			return bad("is more than ten years")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return bad("is not an age")
		}
	}
	switch {
	case d <= 0:
		return bad("is not positive")
	case d > MaxAge:
		return bad("is more than ten years")
	}
	return d, nil
}
