package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"

	"automationhub/internal/keyring"
	"automationhub/internal/robotenv"
)

// robotConfig opens the keyring of robot configuration (ENCRYPTION_KEY, or
// the data folder's generated key on SQLite) and checks that it reads every
// stored value: a wrong or missing key stops the role at start with the
// setting to fix, not later at a run.
func (m *Main) robotConfig(ctx context.Context) (*robotenv.Service, error) {
	ring, generated, err := ensureEncryptionKey(m.Config)
	if err != nil {
		return nil, err
	}
	if generated {
		m.Logger.Info("generated an ENCRYPTION_KEY for robot configuration and stored it in the data folder (keep a copy with your secrets)",
			"file", encryptionKeyFile, "folder", m.Config.DataDir)
	}
	svc := robotenv.New(m.db, ring, nil)
	if st, err := m.db.MigrationStatus(ctx); err != nil {
		return nil, err
	} else if len(st.Pending) > 0 {
		// A role that does not migrate, on a schema `hub migrate` has not
		// brought up yet (checkSchema warned): nothing stored to check.
		return svc, nil
	}
	if err := svc.CheckKeys(ctx); err != nil {
		if generated {
			return nil, fmt.Errorf("%w (the key in %s was just generated: put the key of this database there, or set ENCRYPTION_KEY)", err, encryptionKeyFile)
		}
		return nil, err
	}
	m.Logger.Debug("robot configuration keyring", "key_id", ring.CurrentID(), "keys", len(ring.IDs()))
	return svc, nil
}

// runSecrets is `hub secrets keygen|status|rotate`.
func runSecrets(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	usage := func(w io.Writer) {
		fmt.Fprintln(w, "Usage: hub secrets keygen | status | rotate\n\n"+
			"  keygen  print a new ENCRYPTION_KEY (32 random bytes, URL-safe base64: the Fernet key format)\n"+
			"  status  the keys in use: how many robot configuration values each key encrypted, and whether this hub holds it\n"+
			"  rotate  re-encrypt every value under ENCRYPTION_KEY; the keys that encrypted them must be in ENCRYPTION_KEYS_OLD\n"+
			"          (or the data folder's generated key). All values or none. Then the old keys can go.\n\n"+
			"Rotating: set ENCRYPTION_KEY to a new key and ENCRYPTION_KEYS_OLD to the old one on every server and worker,\n"+
			"restart them, run `hub secrets rotate` once, then remove ENCRYPTION_KEYS_OLD.")
	}
	fs := flag.NewFlagSet("hub secrets", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	sub := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hub secrets %s: unexpected argument %q\n", sub, fs.Arg(0))
		return exitUsage
	}
	switch sub {
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	case "keygen":
		fmt.Fprintln(stdout, keyring.GenerateKey())
		return exitOK
	case "status", "rotate":
	default:
		fmt.Fprintf(stderr, "hub secrets: unknown command %q (keygen, status or rotate)\n", sub)
		return exitUsage
	}
	env, ok := loadCommandEnv("hub secrets "+sub, environ, stderr)
	if !ok {
		return exitUsage
	}
	ring, generated, err := ensureEncryptionKey(env.cfg)
	if err != nil {
		return env.failf("%v", err)
	}
	if generated {
		fmt.Fprintf(stdout, "generated an ENCRYPTION_KEY in %s\n", env.cfg.DataDir)
	}
	db, err := env.openDatabase(ctx)
	if err != nil {
		return env.failf("%v", err)
	}
	defer db.Close()
	if sub == "status" {
		ids, err := db.EnvKeyIDs(ctx)
		if err != nil {
			return env.failf("%v", err)
		}
		fmt.Fprintf(stdout, "current key: %s (ENCRYPTION_KEY%s)\n", ring.CurrentID(), map[bool]string{true: "", false: " or the data folder's key"}[env.cfg.EncryptionKey != ""])
		keys := slices.Sorted(maps.Keys(ids))
		if len(keys) == 0 {
			fmt.Fprintln(stdout, "no robot configuration values stored")
		}
		for _, id := range keys {
			label, state := id, "readable (ENCRYPTION_KEYS_OLD)"
			switch {
			case id == ring.CurrentID():
				state = "current"
			case id == keyring.LegacyKeyID:
				label, state = "previous backend (Fernet)", "opened with whichever key wrote it"
			case !ring.Has(id):
				state = "MISSING: add this key to ENCRYPTION_KEYS_OLD"
			}
			fmt.Fprintf(stdout, "  %-26s %6d values  %s\n", label, ids[id], state)
		}
		if err := robotenv.New(db, ring, nil).CheckKeys(ctx); err != nil {
			return env.failf("%v", err)
		}
		return exitOK
	}
	changed, total, err := robotenv.New(db, ring, nil).Rotate(ctx)
	if err != nil {
		return env.failf("nothing changed: %v", err)
	}
	fmt.Fprintf(stdout, "re-encrypted %d of %d robot configuration values under key %s\n", changed, total, ring.CurrentID())
	return exitOK
}
