// Package drillrun runs one drill of practice/drills against a running
// lab: it injects the fault, puts an annotation on the drill's Grafana
// dashboard, watches Prometheus for the expected alert, and ends the drill
// whatever happens (the alert fired, the time ran out, a request failed or
// the user interrupted), then says in one line whether the alert fired in
// time and how long it took.
//
// It reaches the lab the way verify does: everything goes through the
// Kubernetes API server, Prometheus and Grafana through its service proxy,
// with the kubeconfig and Grafana's admin password from the stack outputs.
package drillrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/your-org/sre-lab/practice/drills"
	"github.com/your-org/sre-lab/verify"
)

// Clock is the time a run sees, so that tests need not wait for it.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx is done and returns its error.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits for d or ctx.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Runner runs drills against one lab.
type Runner struct {
	// Kube reaches the Kubernetes API, and Prometheus and Grafana behind it.
	Kube *verify.KubeClient
	// GrafanaPassword is the admin password the annotations are posted
	// with.
	GrafanaPassword verify.Secret
	// Out receives a line for every step, so a person sees what the drill
	// changed and what it left behind if ending it fails.
	Out io.Writer
	// Clock is the run's time.
	Clock Clock
	// Poll is how often Prometheus is asked for the alert.
	Poll time.Duration
	// RequestTimeout bounds each request to the lab.
	RequestTimeout time.Duration
	// CleanupTimeout bounds ending the drill, which runs on its own
	// context so that an interrupt cannot stop it.
	CleanupTimeout time.Duration
}

// Outcome is how a drill ended.
type Outcome int

// The outcomes of a drill.
const (
	// Passed: the alert fired within the drill's limit.
	Passed Outcome = iota + 1
	// Failed: the limit passed without the alert.
	Failed
	// Interrupted: the user stopped the drill first.
	Interrupted
)

// Result is a drill's verdict.
type Result struct {
	Drill   drills.Drill
	Outcome Outcome
	// Elapsed is the time from the fault's start to the verdict; for a
	// pass, that is the time to detect.
	Elapsed time.Duration
	// LastError is the last failed look at Prometheus, if any, which may
	// be why the alert was not seen.
	LastError error
}

// Line is the verdict as one line.
func (r Result) Line() string {
	d, took := r.Drill, r.Elapsed.Round(time.Second)
	var line string
	switch r.Outcome {
	case Passed:
		line = fmt.Sprintf("PASS %s: %s fired %s after the fault started (limit %s)", d.Name, d.Expectation(), took, d.Within)
	case Interrupted:
		line = fmt.Sprintf("FAIL %s: interrupted after %s, before %s fired", d.Name, took, d.Expectation())
	default:
		line = fmt.Sprintf("FAIL %s: %s did not fire within %s", d.Name, d.Expectation(), d.Within)
	}
	if r.Outcome != Passed && r.LastError != nil {
		line += "; last look at Prometheus failed: " + r.LastError.Error()
	}
	return line
}

// Run runs d and ends it. The error reports what kept the drill from a
// verdict (the lab not ready for it, a fault that could not be injected)
// and anything that could not be undone, which Out names with the command
// to undo it by hand.
func (r *Runner) Run(ctx context.Context, d drills.Drill) (res Result, err error) {
	res = Result{Drill: d}
	// A drill needs its target, and an alert that is not firing yet:
	// otherwise it would time an alert the fault did not cause.
	if err := r.demoRuns(ctx); err != nil {
		return res, err
	}
	firing, err := r.firing(ctx, d)
	if err != nil {
		return res, fmt.Errorf("before the drill: %w", err)
	}
	if firing {
		return res, fmt.Errorf("%s is firing already, so the drill could not tell its own effect; wait until it resolves", d.Expectation())
	}

	g := grafana{verify.NewGrafana(r.Kube, r.GrafanaPassword)}
	var undo undoList
	var annotation int64
	start := r.Clock.Now()
	defer func() {
		// Ending the drill must outlive an interrupt, and a request the
		// interrupt cut short.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.CleanupTimeout)
		defer cancel()
		if uerr := undo.run(cctx, r.Out); uerr != nil {
			err = errors.Join(err, fmt.Errorf("ending drill %s: %w", d.Name, uerr))
		}
		if annotation != 0 {
			r.step(cctx, "close the Grafana annotation", func(ctx context.Context) error {
				return g.end(ctx, annotation, r.Clock.Now(), res.Line())
			})
		}
	}()

	if err := r.inject(ctx, d, &undo); err != nil {
		return res, fmt.Errorf("starting drill %s: %w", d.Name, err)
	}
	r.step(ctx, "annotate Grafana", func(ctx context.Context) (err error) {
		annotation, err = g.annotate(ctx, d, start)
		return err
	})
	r.printf("drill %s: watching for %s for up to %s; dashboard %s, runbook %s", d.Name, d.Expectation(), d.Within, d.Dashboard, d.Runbook)
	res = r.watch(ctx, d, start)
	return res, nil
}

// watch polls Prometheus until the alert fires, the limit passes or ctx
// ends. The last look is at the limit itself.
func (r *Runner) watch(ctx context.Context, d drills.Drill, start time.Time) Result {
	res := Result{Drill: d}
	for {
		firing, err := r.firing(ctx, d)
		res.Elapsed = r.Clock.Now().Sub(start)
		switch {
		case err == nil && firing:
			res.Outcome = Passed
			return res
		case ctx.Err() != nil:
			res.Outcome = Interrupted
			return res
		case err != nil:
			res.LastError = err
		}
		left := d.Within - res.Elapsed
		if left <= 0 {
			res.Outcome = Failed
			return res
		}
		if r.Clock.Sleep(ctx, min(r.Poll, left)) != nil {
			res.Elapsed = r.Clock.Now().Sub(start)
			res.Outcome = Interrupted
			return res
		}
	}
}

// step runs a request that the drill can do without, and says so when it
// fails.
func (r *Runner) step(ctx context.Context, what string, do func(context.Context) error) {
	rctx, cancel := context.WithTimeout(ctx, r.RequestTimeout)
	defer cancel()
	if err := do(rctx); err != nil {
		r.printf("warning: could not %s: %v", what, err)
	}
}

// printf writes one line to Out. A line that cannot be written is lost
// with nowhere to report it, and the drill carries on.
func (r *Runner) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(r.Out, format+"\n", args...)
}

// undoList holds what a drill changed, to reverse in reverse order.
type undoList struct {
	steps []undoStep
}

type undoStep struct {
	// what the step undoes, and the command that undoes it by hand
	what, manual string
	do           func(context.Context) error
}

func (u *undoList) add(what, manual string, do func(context.Context) error) {
	u.steps = append(u.steps, undoStep{what, manual, do})
}

// run undoes every step, even after one fails, and names the command for
// each that failed.
func (u *undoList) run(ctx context.Context, out io.Writer) error {
	var errs []error
	for i := len(u.steps) - 1; i >= 0; i-- {
		s := u.steps[i]
		if err := s.do(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.what, err))
			_, _ = fmt.Fprintf(out, "could not %s; undo it with: %s\n", s.what, s.manual)
			continue
		}
		_, _ = fmt.Fprintf(out, "ended: %s\n", s.what)
	}
	return errors.Join(errs...)
}
