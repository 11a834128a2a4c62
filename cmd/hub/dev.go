package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"automationhub/internal/blob"
	"automationhub/internal/seed"
	"automationhub/internal/sqlstore"
)

const devUsage = `Usage: hub dev seed [options]

Fills the configured database and artifact folder with demo data for
benchmarks and demos: robots with a runnable package, a portal domain with
services, and finished runs with log lines, output files and audit events
spread over past days. Migrations are applied first. Refused when
ENVIRONMENT=prod.

Options:
`

// runDev runs `hub dev …`: tools for development and benchmarks.
func runDev(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "seed" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, devUsage)
			return exitOK
		}
		fmt.Fprintln(stderr, "hub dev: the only command is seed (see hub dev seed --help)")
		return exitUsage
	}
	fs := flag.NewFlagSet("hub dev seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o seed.Options
	fs.IntVar(&o.Runs, "runs", 10000, "finished runs to add")
	fs.IntVar(&o.Robots, "robots", 100, "robots the runs spread over")
	fs.IntVar(&o.Services, "services", 10, "portal services (each bound to one robot)")
	fs.IntVar(&o.LogLines, "log-lines", 3, "log lines per run")
	fs.IntVar(&o.ArtifactEvery, "artifact-every", 50, "give every n-th successful run an output file (-1: none)")
	fs.IntVar(&o.Days, "days", 365, "how many days back the runs go")
	fs.Uint64Var(&o.Seed, "seed", 0, "random seed, for repeatable data (0: random)")
	fs.Usage = func() { fmt.Fprint(stderr, devUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hub dev seed: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if o.Runs < 0 || o.Robots < 1 {
		fmt.Fprintln(stderr, "hub dev seed: --runs must be 0 or more and --robots 1 or more")
		return exitUsage
	}
	cfg, _, err := loadConfig(environ, ".env")
	if err != nil {
		fmt.Fprintf(stderr, "hub: %v\n", err)
		return exitUsage
	}
	if cfg.Environment == "prod" {
		fmt.Fprintln(stderr, "hub dev seed: refused: ENVIRONMENT is prod (demo data does not belong in production)")
		return exitUsage
	}
	db, err := sqlstore.Open(ctx, cfg.Database(), sqlstore.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "hub dev seed: %v\n", err)
		return exitFailed
	}
	defer db.Close()
	if _, err := db.Migrate(ctx, nil); err != nil {
		fmt.Fprintf(stderr, "hub dev seed: %v\n", err)
		return exitFailed
	}
	blobs, err := blob.NewLocal(cfg.ArtifactsRoot)
	if err != nil {
		fmt.Fprintf(stderr, "hub dev seed: artifact store: %v\n", err)
		return exitFailed
	}
	started := time.Now()
	last := started
	o.Progress = func(done int) {
		if time.Since(last) >= 5*time.Second || done == o.Runs {
			last = time.Now()
			fmt.Fprintf(stdout, "  %d / %d runs (%.0f runs/s)\n", done, o.Runs, float64(done)/time.Since(started).Seconds())
		}
	}
	res, err := seed.Run(ctx, db, blobs, o)
	if err != nil {
		fmt.Fprintf(stderr, "hub dev seed: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "seeded %d robots, %d services, %d runs, %d log lines, %d artifacts, %d audit events in %s (%.0f runs/s)\n",
		res.Robots, res.Services, res.Runs, res.LogLines, res.Artifacts, res.AuditEvents, res.Elapsed.Round(time.Millisecond),
		float64(res.Runs)/res.Elapsed.Seconds())
	return exitOK
}
