package hub

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Bounds of worker labels and of the labels a robot requires.
const (
	MaxLabels     = 32
	MaxLabelBytes = 64
)

// ErrOtherWorker is returned (wrapped) by a claim that this worker may not
// take — it lacks a label the run's robot requires, or it is paused — while
// another online worker that may take it has a free slot: the caller acks
// the ready signal and sends it again so that worker gets it.
var ErrOtherWorker = errors.New("the run needs another worker")

// ErrWorkerPaused is returned (wrapped) by a claim of a paused worker: it
// claims nothing until an operator resumes it, so it stops taking ready
// signals instead of cycling them. When another worker may take the run
// the error also wraps ErrOtherWorker.
var ErrWorkerPaused = errors.New("the worker is paused")

// Prefixes of the waiting reasons of runs that no worker may take now.
const (
	// NoWorkerPrefix starts the reason of a run that no online worker may
	// take ("no online worker with labels [sap]").
	NoWorkerPrefix = "no online worker"
	// BusyWorkersPrefix starts the reason of a run whose possible workers
	// are all busy ("waiting for a free worker with labels [sap]").
	BusyWorkersPrefix = "waiting for a free worker"
)

// NormalizeLabels checks a list of labels (a worker's, or those a robot
// requires) and returns it trimmed, de-duplicated and sorted, never nil. A
// label is a bare name ("desktop") or key=value ("os=windows"): at most
// MaxLabelBytes of letters, digits and . _ - = : /, at most MaxLabels of
// them. what names the list in the EUnprocessable error.
func NormalizeLabels(what string, labels []string) ([]string, error) {
	out := make([]string, 0, len(labels))
	for _, l := range labels {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
			return nil, Errorf(EUnprocessable, "%s: a label is empty.", what)
		case len(l) > MaxLabelBytes:
			return nil, Errorf(EUnprocessable, "%s: label %.20q… is longer than %d characters.", what, l, MaxLabelBytes)
		case strings.IndexFunc(l, func(r rune) bool { return !labelRune(r) }) >= 0:
			return nil, Errorf(EUnprocessable, "%s: label %q may hold only letters, digits and . _ - = : /.", what, l)
		case strings.HasPrefix(l, "=") || strings.Count(l, "=") > 1:
			return nil, Errorf(EUnprocessable, "%s: label %q must be a name or key=value.", what, l)
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	if len(out) > MaxLabels {
		return nil, Errorf(EUnprocessable, "%s: at most %d labels.", what, MaxLabels)
	}
	slices.Sort(out)
	return out, nil
}

func labelRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-=:/", r)
}

// ParseLabels reads a comma-separated label list ("os=windows,desktop"),
// as HUB_WORKER_LABELS and --labels give it.
func ParseLabels(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return []string{}, nil
	}
	return NormalizeLabels("worker labels", strings.Split(s, ","))
}

// HasLabels reports whether have includes every label in need.
func HasLabels(have, need []string) bool {
	for _, l := range need {
		if !slices.Contains(have, l) {
			return false
		}
	}
	return true
}

// NoWorkerReason is the waiting reason of a run that no online worker may
// take; busy says such workers exist but none has a free slot.
func NoWorkerReason(need []string, busy bool) string {
	prefix := NoWorkerPrefix
	if busy {
		prefix = BusyWorkersPrefix
	}
	if len(need) == 0 {
		return prefix + " that is not paused"
	}
	return fmt.Sprintf("%s with labels [%s]", prefix, strings.Join(need, " "))
}
