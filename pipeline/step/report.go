package step

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Record is what happened to one step.
type Record struct {
	Name     string        `json:"name"`
	Kind     Kind          `json:"kind"`
	Status   Status        `json:"status"`
	Detail   string        `json:"detail,omitempty"`
	Observes string        `json:"observes,omitempty"`
	Changes  string        `json:"changes,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Output is one named result of a phase (a digest, a URL, a commit).
type Output struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Report is the one value a phase returns: what each step did, the outputs, timings and the error.
// Its methods may be called from several goroutines (a renderer while the run still records
// steps): they read and write the fields under the report's lock. Set fields directly only
// before the report is shared; afterwards use SetError and SetVerdict.
type Report struct {
	Phase    string        `json:"phase"`
	Version  string        `json:"version,omitempty"`
	DryRun   bool          `json:"dry_run"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Records  []Record      `json:"steps"`
	Outputs  []Output      `json:"outputs"`
	Notes    []string      `json:"notes,omitempty"`
	Err      string        `json:"error,omitempty"`
	// Verdict, when set, replaces the one-word verdict derived from the run (status uses it).
	Verdict string `json:"verdict,omitempty"`

	mu sync.Mutex
}

// NewReport starts an empty report for a phase.
func NewReport(phase, version string) *Report {
	return &Report{Phase: phase, Version: version, Records: []Record{}, Outputs: []Output{}}
}

// begin records the start of a run.
func (r *Report) begin(dryRun bool, started time.Time) {
	r.mu.Lock()
	r.DryRun, r.Started = dryRun, started
	r.mu.Unlock()
}

// finish records how long the run took.
func (r *Report) finish(d time.Duration) {
	r.mu.Lock()
	r.Duration = d
	r.mu.Unlock()
}

// SetError records err as the phase's error; nil clears it (status, which reports a refusal as
// its verdict instead).
func (r *Report) SetError(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	r.mu.Lock()
	r.Err = msg
	r.mu.Unlock()
}

// SetVerdict replaces the one-word verdict derived from the run (see Verdict).
func (r *Report) SetVerdict(v string) {
	r.mu.Lock()
	r.Verdict = v
	r.mu.Unlock()
}

// snapshot is a copy of the report taken under its lock, for rendering without holding it.
func (r *Report) snapshot() *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &Report{
		Phase: r.Phase, Version: r.Version, DryRun: r.DryRun, Started: r.Started, Duration: r.Duration,
		Records: slices.Clone(r.Records), Outputs: slices.Clone(r.Outputs), Notes: slices.Clone(r.Notes),
		Err: r.Err, Verdict: r.Verdict,
	}
}

func (r *Report) add(rec Record) {
	r.mu.Lock()
	r.Records = append(r.Records, rec)
	r.mu.Unlock()
}

// Set records an output; setting a key again replaces its value in place.
func (r *Report) Set(key, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.Outputs {
		if r.Outputs[i].Key == key {
			r.Outputs[i].Value = value
			return
		}
	}
	r.Outputs = append(r.Outputs, Output{Key: key, Value: value})
}

// Get returns an output's value.
func (r *Report) Get(key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return first(r.Outputs, func(o Output) (string, bool) { return o.Value, o.Key == key })
}

// Note adds a line the operator should read (a skipped latest move, a hotfix, a warning).
func (r *Report) Note(format string, args ...any) {
	r.mu.Lock()
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// Status returns the status recorded for a step name, or "" if it has none.
func (r *Report) Status(name string) Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return first(r.Records, func(rec Record) (Status, bool) { return rec.Status, rec.Name == name })
}

// first is what pick returns for the first item it matches, or the zero V when it matches none.
func first[T, V any](items []T, pick func(T) (V, bool)) V {
	for _, it := range items {
		if v, ok := pick(it); ok {
			return v
		}
	}
	var zero V
	return zero
}

// Count returns how many steps ended with status s.
func (r *Report) Count(s Status) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count(s)
}

// count is Count for a report nobody else holds (a snapshot), or with the lock held.
func (r *Report) count(s Status) int {
	n := 0
	for _, rec := range r.Records {
		if rec.Status == s {
			n++
		}
	}
	return n
}

// Formats are the output formats every function accepts.
var Formats = []string{"text", "markdown", "json"}

// ValidFormat checks a --format value.
func ValidFormat(f string) error {
	if slices.Contains(Formats, f) {
		return nil
	}
	return fmt.Errorf("report format %q is unknown: use one of %s", f, strings.Join(Formats, ", "))
}

// Render writes the report as text (terminal), markdown ($GITHUB_STEP_SUMMARY) or json. It renders
// a snapshot taken under the report's lock, so it may run while the phase still records steps.
func (r *Report) Render(format string) (string, error) {
	switch format {
	case "", "text":
		return r.snapshot().text(), nil
	case "markdown":
		return r.snapshot().markdown(), nil
	case "json":
		b, err := json.MarshalIndent(r.snapshot().verdictJSON(), "", "  ")
		if err != nil {
			return "", err
		}
		return string(b) + "\n", nil
	}
	return "", ValidFormat(format)
}

// jsonReport is the JSON form: the report plus its verdict as fields a CI script reads without
// parsing text — ok, and every refusal and failure with its step.
type jsonReport struct {
	OK      bool     `json:"ok"`
	Verdict string   `json:"verdict"`
	Refused []string `json:"refused"`
	Failed  []string `json:"failed"`
	*reportFields
}

type reportFields Report

// verdictJSON, title, verdict, text and markdown read the report's fields without its lock: call
// them on a snapshot.
func (r *Report) verdictJSON() jsonReport {
	out := jsonReport{OK: r.Err == "", Verdict: r.verdict(), Refused: []string{}, Failed: []string{}, reportFields: (*reportFields)(r)}
	for _, rec := range r.Records {
		switch rec.Status {
		case Refused:
			out.Refused = append(out.Refused, rec.Name+": "+rec.Detail)
		case Failed:
			out.Failed = append(out.Failed, rec.Name+": "+rec.Detail)
		}
	}
	if len(out.Failed) == 0 && r.Err != "" && len(out.Refused) == 0 {
		out.Failed = append(out.Failed, r.Err)
	}
	return out
}

// OK reports whether the phase succeeded (for status: whether it could look at everything).
func (r *Report) OK() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Err == ""
}

func (r *Report) title() string {
	t := "shipgate " + r.Phase
	if r.Version != "" {
		t += " " + r.Version
	}
	if r.DryRun && r.Verdict == "" {
		t += " (dry run: nothing changed)"
	}
	return t
}

func (r *Report) verdict() string {
	switch {
	case r.Verdict != "":
		return r.Verdict
	case r.Err != "":
		return "FAILED"
	case r.DryRun:
		return "PLANNED"
	default:
		return "OK"
	}
}

func (r *Report) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", r.title(), r.verdict())
	for _, rec := range r.Records {
		fmt.Fprintf(&b, "  %-8s %s", rec.Status, rec.Name)
		if rec.Detail != "" {
			fmt.Fprintf(&b, ": %s", oneLine(rec.Detail))
		}
		if rec.Status != NotRun {
			fmt.Fprintf(&b, " (%s)", rec.Duration.Round(time.Millisecond))
		}
		b.WriteString("\n")
	}
	if len(r.Outputs) > 0 {
		b.WriteString("\n")
		w := 0
		for _, o := range r.Outputs {
			if len(o.Key) > w {
				w = len(o.Key)
			}
		}
		for _, o := range r.Outputs {
			fmt.Fprintf(&b, "  %-*s  %s\n", w, o.Key, o.Value)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nnote: %s\n", n)
	}
	if r.Err != "" {
		fmt.Fprintf(&b, "\nerror: %s\n", r.Err)
	}
	fmt.Fprintf(&b, "\n%d acted, %d already done, %d skipped, %d planned, %d passed, %d refused, %d failed, %d not run in %s\n",
		r.count(Acted), r.count(Done), r.count(Skipped), r.count(Planned), r.count(Passed), r.count(Refused), r.count(Failed), r.count(NotRun), r.Duration.Round(time.Millisecond))
	return b.String()
}

func (r *Report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s: %s\n\n", mdEscape(r.title()), r.verdict())
	b.WriteString("| step | status | detail | time |\n|---|---|---|---|\n")
	for _, rec := range r.Records {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdEscape(rec.Name), rec.Status, mdEscape(oneLine(rec.Detail)), rec.Duration.Round(time.Millisecond))
	}
	if len(r.Outputs) > 0 {
		b.WriteString("\n| output | value |\n|---|---|\n")
		for _, o := range r.Outputs {
			fmt.Fprintf(&b, "| %s | `%s` |\n", mdEscape(o.Key), strings.ReplaceAll(o.Value, "`", "'"))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n> **note:** %s\n", mdEscape(n))
	}
	if r.Err != "" {
		fmt.Fprintf(&b, "\n**error:**\n\n```\n%s\n```\n", strings.ReplaceAll(r.Err, "```", "'''"))
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}
