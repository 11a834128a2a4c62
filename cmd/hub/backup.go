package main

import (
	"archive/tar"
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
	"path/filepath"
	"strings"
	"time"

	"automationhub/internal/config"
	"automationhub/internal/sqlstore"
)

const backupUsage = `Usage: hub backup --out FILE [--force]

Copies the hub's data into one archive (tar.gz) while the hub runs: the SQLite
database (a consistent snapshot, taken first) and then every file of the
artifact folder (ARTIFACTS_ROOT: robot packages and run output files), with a
manifest (hub version, schema version, time, SHA-256 of every file). On
PostgreSQL only the artifact folder is archived: back the database up with
pg_dump first. --force replaces an existing FILE. Restore with hub restore FILE.
`

// Archive layout of a backup.
const (
	backupManifestName = "manifest.json"
	backupDatabaseName = "database/hub.db"
	backupArtifactsDir = "artifacts/"
	// backupFormat is the manifest's format number; restore refuses others.
	backupFormat = 1
)

// backupManifest is the last entry of a backup archive.
type backupManifest struct {
	Format     int       `json:"format"`
	HubVersion string    `json:"hub_version"`
	CreatedAt  time.Time `json:"created_at"`
	// Dialect is the database the hub ran on; DatabaseIncluded is false
	// for PostgreSQL (pg_dump backs it up).
	Dialect          string `json:"dialect"`
	DatabaseIncluded bool   `json:"database_included"`
	// SchemaVersion is the database's migration level at the snapshot.
	SchemaVersion int64         `json:"schema_version"`
	Files         []backupFile  `json:"files"`
	MissingFiles  []missingFile `json:"missing_files,omitempty"`
}

// backupFile is one file of the archive with its checksum.
type backupFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// missingFile is a row that names a file the artifact folder did not have.
type missingFile struct {
	Kind  string `json:"kind"` // "package" or "artifact"
	ID    string `json:"id"`
	Owner string `json:"owner"` // robot id of a package, run id of an artifact
	Path  string `json:"path"`
}

func (m missingFile) String() string {
	if m.Kind == "package" {
		return fmt.Sprintf("package of robot %s (version %s): %s", m.Owner, m.ID, m.Path)
	}
	return fmt.Sprintf("output file of run %s (artifact %s): %s", m.Owner, m.ID, m.Path)
}

// runBackup is `hub backup`.
func runBackup(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hub backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "", "")
	force := fs.Bool("force", false, "")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, backupUsage)
		return exitOK
	}
	if err != nil || len(pos) > 0 || *out == "" {
		fmt.Fprint(stderr, "hub backup: give the archive to write with --out FILE\n\n"+backupUsage)
		return exitUsage
	}
	env, ok := loadCommandEnv("hub backup", environ, stderr)
	if !ok {
		return exitUsage
	}
	outPath, err := filepath.Abs(*out)
	if err != nil {
		return env.failf("%v", err)
	}
	artifacts, err := filepath.Abs(env.cfg.ArtifactsRoot)
	if err != nil {
		return env.failf("%v", err)
	}
	if within(outPath, artifacts) {
		return env.failf("%s is inside the artifact folder %s, which it would copy into itself: write it elsewhere", outPath, artifacts)
	}
	if _, err := os.Lstat(outPath); err == nil && !*force {
		return env.failf("%s exists: choose another name or add --force to replace it", outPath)
	}
	start := time.Now()
	db, err := env.openDatabase(ctx)
	if err != nil {
		return env.failf("%v", err)
	}
	defer db.Close()

	m, size, err := writeBackup(ctx, db, env.cfg, outPath, artifacts)
	if err != nil {
		return env.failf("%v", err)
	}
	var bytes int64
	for _, f := range m.Files {
		bytes += f.Size
	}
	fmt.Fprintf(stdout, "backup written: %s (%d bytes, %d files holding %d bytes, in %s)\n",
		outPath, size, len(m.Files), bytes, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "hub %s, %s database at schema version %d\n", m.HubVersion, m.Dialect, m.SchemaVersion)
	if !m.DatabaseIncluded {
		fmt.Fprintf(stdout, "The database is PostgreSQL and is NOT in this archive: back it up with pg_dump, before this command\n"+
			"so that every file its rows name is in the archive, e.g.\n"+
			"  pg_dump --format=custom --file hub-db.dump \"$DATABASE_URL\"\n")
	}
	if len(m.MissingFiles) > 0 {
		fmt.Fprintf(stdout, "warning: %d rows name files that were not in the artifact folder (removed meanwhile, e.g. by retention):\n", len(m.MissingFiles))
		printMissing(stdout, m.MissingFiles)
	}
	return exitOK
}

// printMissing lists missing files, at most 20.
func printMissing(w io.Writer, missing []missingFile) {
	for i, mf := range missing {
		if i == 20 {
			fmt.Fprintf(w, "  … and %d more\n", len(missing)-i)
			break
		}
		fmt.Fprintf(w, "  %s\n", mf)
	}
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}

// writeBackup writes the archive to a temporary file beside outPath and
// renames it into place once complete: the database snapshot first, then the
// artifact files, then the manifest. It returns the manifest and the
// archive's size.
func writeBackup(ctx context.Context, db *sqlstore.DB, cfg config.Config, outPath, artifacts string) (*backupManifest, int64, error) {
	dir := filepath.Dir(outPath)
	work, err := os.MkdirTemp(dir, ".hub-backup-")
	if err != nil {
		return nil, 0, fmt.Errorf("create a temporary folder beside the archive: %w", err)
	}
	defer os.RemoveAll(work)

	m := &backupManifest{Format: backupFormat, HubVersion: version, CreatedAt: time.Now().UTC(), Dialect: db.Dialect()}
	// refs is the database whose rows name the files: the snapshot on
	// SQLite, the live database on PostgreSQL (dumped before, by pg_dump).
	refs := db
	var snapPath string
	if db.Dialect() == config.SQLite {
		snapPath = filepath.Join(work, "hub.db")
		snap, err := db.Snapshot(ctx, snapPath)
		if err != nil {
			return nil, 0, err
		}
		defer snap.Close()
		refs = snap
		m.DatabaseIncluded = true
	}
	st, err := refs.MigrationStatus(ctx)
	if err != nil {
		return nil, 0, err
	}
	m.SchemaVersion = st.Current
	var wanted []sqlstore.FileRef
	if err := refs.EachFileRef(ctx, func(r sqlstore.FileRef) error { wanted = append(wanted, r); return nil }); err != nil {
		return nil, 0, err
	}
	if m.DatabaseIncluded {
		// The snapshot is complete: close it so that its file is final.
		if err := refs.Close(); err != nil {
			return nil, 0, fmt.Errorf("close the database snapshot: %w", err)
		}
	}

	tmp, err := os.CreateTemp(dir, ".hub-backup-*.tar.gz")
	if err != nil {
		return nil, 0, fmt.Errorf("create the archive: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return nil, 0, fmt.Errorf("create the archive: %w", err)
	}
	// Fast compression: packages and many outputs are compressed already.
	gz, err := gzip.NewWriterLevel(tmp, gzip.BestSpeed)
	if err != nil {
		return nil, 0, fmt.Errorf("create the archive: %w", err)
	}
	tw := tar.NewWriter(gz)
	if m.DatabaseIncluded {
		f, err := addFile(tw, backupDatabaseName, snapPath)
		if err != nil {
			return nil, 0, err
		}
		m.Files = append(m.Files, *f)
	}
	copied := map[string]bool{}
	err = filepath.WalkDir(artifacts, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != artifacts {
				return nil // removed while we walked
			}
			if errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll // no artifact folder yet: nothing to copy
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(artifacts, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == ".tmp" { // uploads in progress
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // the store holds regular files only
		}
		f, err := addFile(tw, backupArtifactsDir+key, path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since the walk saw it
		}
		if err != nil {
			return err
		}
		m.Files = append(m.Files, *f)
		copied[key] = true
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("copy the artifact folder %s: %w", artifacts, err)
	}
	for _, r := range wanted {
		if !copied[r.Path] {
			m.MissingFiles = append(m.MissingFiles, missingFile{Kind: r.Kind, ID: r.ID, Owner: r.Owner, Path: r.Path})
		}
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, 0, fmt.Errorf("manifest: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: backupManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(body)), ModTime: m.CreatedAt}); err != nil {
		return nil, 0, fmt.Errorf("write the archive: %w", err)
	}
	if _, err := tw.Write(body); err != nil {
		return nil, 0, fmt.Errorf("write the archive: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, 0, fmt.Errorf("write the archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, 0, fmt.Errorf("write the archive: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, 0, fmt.Errorf("write the archive: %w", err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("write the archive: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, 0, fmt.Errorf("write the archive: %w", err)
	}
	if err := os.Rename(tmp.Name(), outPath); err != nil {
		return nil, 0, fmt.Errorf("put the archive in place: %w", err)
	}
	return m, fi.Size(), nil
}

// addFile copies the file at path into the archive as name and returns its
// size and SHA-256. Files of the store never change once written (new
// content gets a new key), so the size read first is the size copied.
func addFile(tw *tar.Writer, name, path string) (*backupFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, Size: fi.Size(), ModTime: fi.ModTime()}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("write the archive: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(tw, io.TeeReader(io.LimitReader(f, fi.Size()), h))
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", path, err)
	}
	if n != fi.Size() {
		return nil, fmt.Errorf("copy %s: it shrank from %d to %d bytes while being copied", path, fi.Size(), n)
	}
	return &backupFile{Path: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// hasPrefixDir reports whether name is inside the archive folder dir
// ("artifacts/").
func hasPrefixDir(name, dir string) bool { return strings.HasPrefix(name, dir) && len(name) > len(dir) }
