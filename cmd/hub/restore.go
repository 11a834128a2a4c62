package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"automationhub/internal/archive"
	"automationhub/internal/config"
	"automationhub/internal/sqlstore"
)

const restoreUsage = `Usage: hub restore FILE [--force]

Restores a backup made by hub backup into the configured data folder: the
SQLite database file (HUB_DATA_DIR/hub.db or DATABASE_URL) and the artifact
folder (ARTIFACTS_ROOT). Both must be empty (a fresh folder), unless --force,
which replaces what is there; stop the hub first. Every file is checked against
the manifest's SHA-256 before anything is put in place, so a damaged or altered
archive changes nothing. Rows whose file is not in the backup are listed.
On PostgreSQL only the artifact folder is restored: restore the database with
pg_restore.
`

// maxManifestBytes bounds the manifest read into memory (about 200 bytes a
// file: a million files fit).
const maxManifestBytes = 256 << 20

// runRestore is `hub restore`.
func runRestore(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub restore", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	force := fs.Bool("force", false, "")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, restoreUsage)
		return exitOK
	}
	if err != nil || len(pos) != 1 {
		fmt.Fprint(stderr, "hub restore: give the archive to restore\n\n"+restoreUsage)
		return exitUsage
	}
	env, ok := loadCommandEnv("hub restore", environ, stderr)
	if !ok {
		return exitUsage
	}
	start := time.Now()
	res, err := restore(ctx, env, pos[0], *force)
	if err != nil {
		return env.failf("%v", err)
	}
	m := res.manifest
	fmt.Fprintf(stdout, "restored %s: %d files verified (hub %s, %s, schema version %d, taken %s)\n",
		pos[0], len(m.Files), m.HubVersion, m.Dialect, m.SchemaVersion, m.CreatedAt.Format(time.RFC3339))
	if m.DatabaseIncluded {
		fmt.Fprintf(stdout, "database:  %s\n", env.cfg.Database().DSN)
	}
	fmt.Fprintf(stdout, "artifacts: %s\n", res.artifacts)
	if !m.DatabaseIncluded {
		fmt.Fprintf(stdout, "The database is PostgreSQL and is not in this archive: restore it with pg_restore, e.g.\n"+
			"  pg_restore --no-owner --dbname \"$DATABASE_URL\" hub-db.dump\n")
	}
	switch {
	case res.checked && len(res.missing) > 0:
		fmt.Fprintf(stdout, "warning: %d rows name files that are not in the backup; their downloads answer 404 (\"Artifact file not found on disk.\"):\n", len(res.missing))
		printMissing(stdout, res.missing)
	case res.checked:
		fmt.Fprintln(stdout, "every file the database names is present")
	default:
		fmt.Fprintln(stdout, "the database could not be read yet, so files were not matched with its rows: run `hub doctor` once it is restored")
	}
	if env.cfg.SecretKey == "" {
		fmt.Fprintln(stdout, "The archive holds no SECRET_KEY: the restored hub signs everyone out once (a new key is generated), unless you set the old one.")
	}
	fmt.Fprintf(stdout, "done in %s\n", time.Since(start).Round(time.Millisecond))
	return exitOK
}

// restoreResult is what a restore did.
type restoreResult struct {
	manifest  *backupManifest
	artifacts string
	// checked is true when the restored files were matched with the rows
	// of the database; missing lists the rows without their file.
	checked bool
	missing []missingFile
}

// restore unpacks the archive into staging folders beside the targets,
// verifies every file against the manifest, and only then puts the files
// in place.
func restore(ctx context.Context, env commandEnv, archivePath string, force bool) (*restoreResult, error) {
	dbc := env.cfg.Database()
	artifacts, err := filepath.Abs(env.cfg.ArtifactsRoot)
	if err != nil {
		return nil, err
	}
	var dbPath string
	if dbc.Dialect == config.SQLite {
		if dbPath, err = filepath.Abs(dbc.DSN); err != nil {
			return nil, err
		}
	}
	if err := checkRestoreTargets(ctx, env, dbPath, artifacts, force); err != nil {
		return nil, err
	}
	f, err := os.Open(archivePath)
	if err != nil {
		return nil, fmt.Errorf("open the archive: %w", err)
	}
	defer f.Close()

	// Staging: the database beside its target, the artifacts in the
	// store's temporary folder (the same file system as their target, so
	// that putting them in place is a rename).
	stageRoot := filepath.Join(artifacts, ".tmp")
	if err := os.MkdirAll(stageRoot, 0o750); err != nil {
		return nil, fmt.Errorf("create %s: %w", stageRoot, err)
	}
	stage, err := os.MkdirTemp(stageRoot, "restore-")
	if err != nil {
		return nil, fmt.Errorf("create a staging folder: %w", err)
	}
	defer os.RemoveAll(stage)
	var dbStage string
	if dbPath != "" {
		if err := os.MkdirAll(filepath.Dir(dbPath), 0o750); err != nil {
			return nil, fmt.Errorf("create the database folder: %w", err)
		}
		d, err := os.MkdirTemp(filepath.Dir(dbPath), ".hub-restore-")
		if err != nil {
			return nil, fmt.Errorf("create a staging folder: %w", err)
		}
		defer os.RemoveAll(d)
		dbStage = filepath.Join(d, "hub.db")
	}

	m, staged, err := unpackBackup(ctx, f, stage, dbStage)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; nothing was restored", archivePath, err)
	}
	if err := verifyBackup(m, staged, dbc.Dialect); err != nil {
		return nil, fmt.Errorf("%s: %w; nothing was restored", archivePath, err)
	}
	res := &restoreResult{manifest: m, artifacts: artifacts}
	present := func(key string) bool { return staged[backupArtifactsDir+key] }
	if m.DatabaseIncluded {
		snap, err := sqlstore.OpenSQLiteFile(ctx, dbStage)
		if err != nil {
			return nil, fmt.Errorf("%s: the database in it does not open: %w; nothing was restored", archivePath, err)
		}
		missing, err := checkRestoredDatabase(ctx, snap, m, present)
		snap.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w; nothing was restored", archivePath, err)
		}
		res.missing, res.checked = missing, true
	}

	// Everything is verified: put it in place.
	if force {
		if err := clearRestoreTargets(dbPath, artifacts); err != nil {
			return nil, err
		}
	}
	if dbPath != "" {
		if err := os.Rename(dbStage, dbPath); err != nil {
			return nil, fmt.Errorf("put the database in place: %w", err)
		}
	}
	ents, err := os.ReadDir(filepath.Join(stage, "artifacts"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		if err := os.Rename(filepath.Join(stage, "artifacts", e.Name()), filepath.Join(artifacts, e.Name())); err != nil {
			return nil, fmt.Errorf("put the artifact folder in place: %w", err)
		}
	}
	if !m.DatabaseIncluded {
		// PostgreSQL: match the files with the rows if the database is
		// restored already.
		if db, err := env.openDatabase(ctx); err == nil {
			missing, err := checkRestoredDatabase(ctx, db, m, func(key string) bool {
				_, err := os.Stat(filepath.Join(artifacts, filepath.FromSlash(key)))
				return err == nil
			})
			db.Close()
			if err == nil {
				res.missing, res.checked = missing, true
			}
		}
	}
	return res, nil
}

// checkRestoreTargets refuses to restore over existing data unless force,
// and to replace a database a running hub uses.
func checkRestoreTargets(ctx context.Context, env commandEnv, dbPath, artifacts string, force bool) error {
	var busy []string
	if dbPath != "" {
		for _, p := range []string{dbPath, dbPath + "-wal"} {
			if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
				busy = append(busy, "the database "+dbPath)
				break
			}
		}
	}
	if ents, err := os.ReadDir(artifacts); err == nil {
		for _, e := range ents {
			if e.Name() == ".tmp" {
				continue
			}
			busy = append(busy, "the artifact folder "+artifacts)
			break
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read the artifact folder: %w", err)
	}
	if len(busy) == 0 {
		return nil
	}
	if !force {
		verb := "is"
		if len(busy) > 1 {
			verb = "are"
		}
		return fmt.Errorf("%s %s not empty: restore into a fresh data folder, or add --force to replace what is there (stop the hub first)", strings.Join(busy, " and "), verb)
	}
	if dbPath != "" {
		if _, err := os.Stat(dbPath); err == nil {
			db, err := sqlstore.OpenSQLiteFile(ctx, dbPath)
			if err == nil {
				n, err := db.LiveWorkers(ctx, env.cfg.WorkerStaleSeconds)
				db.Close()
				if err == nil && n > 0 {
					return fmt.Errorf("a hub is running on %s (%d workers sent a heartbeat in the last %d s): stop it before restoring over its data", dbPath, n, env.cfg.WorkerStaleSeconds)
				}
			}
		}
	}
	return nil
}

// clearRestoreTargets removes the database file (with its journal files)
// and the artifact folder's content, for --force.
func clearRestoreTargets(dbPath, artifacts string) error {
	if dbPath != "" {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove the old database: %w", err)
			}
		}
	}
	ents, err := os.ReadDir(artifacts)
	if err != nil {
		return fmt.Errorf("read the artifact folder: %w", err)
	}
	for _, e := range ents {
		if e.Name() == ".tmp" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(artifacts, e.Name())); err != nil {
			return fmt.Errorf("remove the old artifact folder's content: %w", err)
		}
	}
	return nil
}

// unpackBackup reads the archive: every entry must be a regular file with a
// clean relative name under database/ or artifacts/, or the manifest. Files
// go into stage (the database to dbStage) through an os.Root, so no name can
// leave it. It returns the manifest and the staged files, each checked
// against its SHA-256 in verifyBackup.
func unpackBackup(ctx context.Context, r io.Reader, stage, dbStage string) (*backupManifest, map[string]bool, error) {
	gz, err := gzip.NewReader(bufio.NewReader(r))
	if err != nil {
		return nil, nil, fmt.Errorf("not a backup archive (gzip: %w)", err)
	}
	defer gz.Close()
	root, err := os.OpenRoot(stage)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	tr := tar.NewReader(gz)
	var m *backupManifest
	staged := map[string]bool{}
	sums := map[string]backupFile{}
	for {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("damaged archive: %w", err)
		}
		raw := hdr.Name
		if hdr.Typeflag == tar.TypeDir {
			raw = strings.TrimSuffix(raw, "/")
		}
		name, err := archive.CleanRelPath(raw)
		if err != nil || name != raw {
			return nil, nil, fmt.Errorf("refusing entry %q: not a clean relative path", hdr.Name)
		}
		if hdr.Typeflag == tar.TypeDir {
			continue // folders are made for the files in them
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, nil, fmt.Errorf("refusing entry %q: only regular files belong in a backup (links, devices are refused)", hdr.Name)
		}
		if staged[name] || name == backupManifestName && m != nil {
			return nil, nil, fmt.Errorf("refusing entry %q: it appears twice", hdr.Name)
		}
		switch {
		case name == backupManifestName:
			if hdr.Size > maxManifestBytes {
				return nil, nil, fmt.Errorf("the manifest is larger than %d bytes", maxManifestBytes)
			}
			m = &backupManifest{}
			if err := json.NewDecoder(io.LimitReader(tr, maxManifestBytes)).Decode(m); err != nil {
				return nil, nil, fmt.Errorf("unreadable manifest: %w", err)
			}
			continue
		case name == backupDatabaseName:
			if dbStage == "" {
				return nil, nil, errors.New("it holds a SQLite database, but DATABASE_URL selects PostgreSQL: restore it with the settings it was taken with")
			}
			fb, err := stageFile(tr, func() (io.WriteCloser, error) {
				return os.OpenFile(dbStage, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			})
			if err != nil {
				return nil, nil, fmt.Errorf("unpack %s: %w", name, err)
			}
			sums[name] = *fb
		case hasPrefixDir(name, backupArtifactsDir):
			if strings.HasPrefix(name, backupArtifactsDir+".tmp/") {
				return nil, nil, fmt.Errorf("refusing entry %q: the store's temporary folder is never backed up", hdr.Name)
			}
			local := filepath.FromSlash(name)
			if err := root.MkdirAll(filepath.Dir(local), 0o750); err != nil {
				return nil, nil, fmt.Errorf("unpack %s: %w", name, err)
			}
			fb, err := stageFile(tr, func() (io.WriteCloser, error) {
				return root.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
			})
			if err != nil {
				return nil, nil, fmt.Errorf("unpack %s: %w", name, err)
			}
			sums[name] = *fb
		default:
			return nil, nil, fmt.Errorf("refusing entry %q: a backup holds only %s, %s and %s…", hdr.Name, backupManifestName, backupDatabaseName, backupArtifactsDir)
		}
		staged[name] = true
	}
	if m == nil {
		return nil, nil, errors.New("no manifest: not a complete hub backup (was it cut short?)")
	}
	// Compare what was read with what the manifest promises.
	want := map[string]backupFile{}
	for _, f := range m.Files {
		want[f.Path] = f
	}
	for name, got := range sums {
		w, ok := want[name]
		switch {
		case !ok:
			return nil, nil, fmt.Errorf("%s is not listed in the manifest", name)
		case w.Size != got.Size || !strings.EqualFold(w.SHA256, got.SHA256):
			return nil, nil, fmt.Errorf("%s does not match its checksum (the archive is damaged or was altered)", name)
		}
	}
	for name := range want {
		if !staged[name] {
			return nil, nil, fmt.Errorf("%s is listed in the manifest but missing from the archive", name)
		}
	}
	return m, staged, nil
}

// stageFile copies one entry into the file open returns, with its SHA-256.
func stageFile(r io.Reader, open func() (io.WriteCloser, error)) (*backupFile, error) {
	w, err := open()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return &backupFile{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// verifyBackup checks the manifest against this binary and the settings.
func verifyBackup(m *backupManifest, staged map[string]bool, dialect string) error {
	if m.Format != backupFormat {
		return fmt.Errorf("backup format %d is not one this hub reads (%d)", m.Format, backupFormat)
	}
	if m.DatabaseIncluded != staged[backupDatabaseName] {
		return errors.New("the manifest and the archive disagree about the database")
	}
	if m.DatabaseIncluded && dialect != config.SQLite {
		return errors.New("it holds a SQLite database, but DATABASE_URL selects PostgreSQL: restore it with the settings it was taken with")
	}
	if !m.DatabaseIncluded && dialect == config.SQLite {
		return fmt.Errorf("it was taken from a %s hub and holds no database, but the settings select SQLite: set DATABASE_URL as on that hub", m.Dialect)
	}
	migrations, err := sqlstore.Migrations(dialect)
	if err != nil {
		return err
	}
	if latest := migrations[len(migrations)-1].Version; m.SchemaVersion > latest {
		return fmt.Errorf("it was taken by hub %s at schema version %d; this binary knows migrations only up to %d: restore it with that hub or a newer one", m.HubVersion, m.SchemaVersion, latest)
	}
	return nil
}

// checkRestoredDatabase checks a restored database (quick_check, schema
// version as the manifest says) and lists the rows whose file is not
// present.
func checkRestoredDatabase(ctx context.Context, db *sqlstore.DB, m *backupManifest, present func(key string) bool) ([]missingFile, error) {
	if err := db.QuickCheck(ctx); err != nil {
		return nil, err
	}
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return nil, err
	}
	if m.DatabaseIncluded && st.Current != m.SchemaVersion {
		return nil, fmt.Errorf("the database is at schema version %d, the manifest says %d", st.Current, m.SchemaVersion)
	}
	var missing []missingFile
	err = db.EachFileRef(ctx, func(r sqlstore.FileRef) error {
		if _, err := archive.CleanRelPath(r.Path); err != nil || !present(path.Clean(r.Path)) {
			missing = append(missing, missingFile{Kind: r.Kind, ID: r.ID, Owner: r.Owner, Path: r.Path})
		}
		return nil
	})
	return missing, err
}
