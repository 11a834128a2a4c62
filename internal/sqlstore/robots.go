package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"automationhub/internal/hub"
)

const robotColumns = `id, name, description, created_by, created_at, updated_at`

// robotReadColumns are robotColumns and the robot's run settings.
const robotReadColumns = robotColumns + `, max_concurrent_runs, retry_count, retry_backoff_seconds, required_labels`

func scanRobot(row interface{ Scan(...any) error }) (*hub.Robot, error) {
	var (
		r             hub.Robot
		desc, creator sql.NullString
		maxRuns       sql.NullInt64
		labels        string
	)
	if err := row.Scan(&r.ID, &r.Name, &desc, &creator, &r.CreatedAt, &r.UpdatedAt,
		&maxRuns, &r.Settings.RetryCount, &r.Settings.RetryBackoffSeconds, &labels); err != nil {
		return nil, err
	}
	r.Settings.RequiredLabels = decodeLabels(labels)
	if maxRuns.Valid {
		n := int(maxRuns.Int64)
		r.Settings.MaxConcurrentRuns = &n
	}
	r.Settings.Pools = []string{}
	r.Description, r.CreatedBy = nullStr(desc), nullStr(creator)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	r.Tags = []string{}
	return &r, nil
}

const versionColumns = `id, robot_id, version, channel, entrypoint_type, entrypoint_path, arguments, env_vars,
	working_directory, artifact_type, artifact_path, artifact_sha256, artifact_size_bytes, checksum, changelog,
	commit_sha, branch, build_url, created_source, required_env_keys_json, created_by, created_at, is_active,
	runtime_env_keys_json`

func scanVersion(row interface{ Scan(...any) error }) (*hub.Version, error) {
	var (
		v                                          hub.Version
		args, env, reqKeys, rtKeys                 string
		wd, path, sha, sum, log, commit, br, build sql.NullString
		creator                                    sql.NullString
		size                                       sql.NullInt64
	)
	err := row.Scan(&v.ID, &v.RobotID, &v.Version, &v.Channel, &v.EntrypointType, &v.EntrypointPath, &args, &env,
		&wd, &v.ArtifactType, &path, &sha, &size, &sum, &log, &commit, &br, &build, &v.CreatedSource, &reqKeys,
		&creator, &v.CreatedAt, &v.IsActive, &rtKeys)
	if err != nil {
		return nil, err
	}
	v.WorkingDirectory, v.ArtifactPath, v.ArtifactSHA256, v.Checksum = nullStr(wd), nullStr(path), nullStr(sha), nullStr(sum)
	v.Changelog, v.CommitSHA, v.Branch, v.BuildURL, v.CreatedBy = nullStr(log), nullStr(commit), nullStr(br), nullStr(build), nullStr(creator)
	if size.Valid {
		n := size.Int64
		v.ArtifactSize = &n
	}
	v.CreatedAt = v.CreatedAt.UTC()
	if err := json.Unmarshal([]byte(args), &v.Arguments); err != nil {
		return nil, fmt.Errorf("version %s arguments: %w", v.ID, err)
	}
	if err := json.Unmarshal([]byte(env), &v.EnvVars); err != nil {
		return nil, fmt.Errorf("version %s env_vars: %w", v.ID, err)
	}
	if err := json.Unmarshal([]byte(reqKeys), &v.RequiredEnvKeys); err != nil {
		return nil, fmt.Errorf("version %s required_env_keys_json: %w", v.ID, err)
	}
	if err := json.Unmarshal([]byte(rtKeys), &v.RuntimeEnvKeys); err != nil {
		return nil, fmt.Errorf("version %s runtime_env_keys_json: %w", v.ID, err)
	}
	if v.Arguments == nil {
		v.Arguments = []string{}
	}
	if v.RuntimeEnvKeys == nil {
		v.RuntimeEnvKeys = []string{}
	}
	if v.EnvVars == nil {
		v.EnvVars = map[string]string{}
	}
	if v.RequiredEnvKeys == nil {
		v.RequiredEnvKeys = []string{}
	}
	return &v, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only slices and maps of strings are stored
	}
	return string(b)
}

func insertVersionRow(ctx context.Context, tx *Tx, v *hub.Version) error {
	_, err := tx.Exec(ctx, `INSERT INTO robot_versions (`+versionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, v.RobotID, v.Version, v.Channel, v.EntrypointType, v.EntrypointPath, mustJSON(v.Arguments), mustJSON(v.EnvVars),
		v.WorkingDirectory, v.ArtifactType, v.ArtifactPath, v.ArtifactSHA256, v.ArtifactSize, v.Checksum, v.Changelog,
		v.CommitSHA, v.Branch, v.BuildURL, v.CreatedSource, mustJSON(v.RequiredEnvKeys), v.CreatedBy, v.CreatedAt, v.IsActive,
		mustJSON(v.RuntimeEnvKeys))
	if IsUniqueViolation(err) {
		return hub.Errorf(hub.EInvalid, "Version already exists for this robot.")
	}
	if IsForeignKeyViolation(err) {
		return hub.Errorf(hub.ENotFound, "Robot not found.")
	}
	return err
}

func setReleaseTag(ctx context.Context, tx *Tx, robotID, tag, versionID string) error {
	_, err := tx.Exec(ctx, `INSERT INTO robot_release_tags (robot_id, tag, version_id) VALUES (?, ?, ?)
		ON CONFLICT (robot_id, tag) DO UPDATE SET version_id = excluded.version_id`, robotID, tag, versionID)
	return err
}

func replaceTags(ctx context.Context, tx *Tx, robotID string, tags []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM robot_tags WHERE robot_id = ?`, robotID); err != nil {
		return err
	}
	for _, t := range tags {
		if _, err := tx.Exec(ctx, `INSERT INTO robot_tags (robot_id, tag) VALUES (?, ?)`, robotID, t); err != nil {
			return err
		}
	}
	return nil
}

// CreateRobot stores a robot, its tags, its initial (active) version with the
// latest and stable release tags, and the audit event, in one transaction.
// A duplicate name is EConflict "Robot name already exists.".
func (db *DB) CreateRobot(ctx context.Context, r *hub.Robot, v *hub.Version, ev *hub.AuditEvent) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO robots (`+robotColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			r.ID, r.Name, r.Description, r.CreatedBy, r.CreatedAt, r.UpdatedAt)
		if IsUniqueViolation(err) {
			return hub.Errorf(hub.EConflict, "Robot name already exists.")
		}
		if err != nil {
			return err
		}
		if err := replaceTags(ctx, tx, r.ID, r.Tags); err != nil {
			return err
		}
		if err := insertVersionRow(ctx, tx, v); err != nil {
			return err
		}
		for _, tag := range []string{"latest", "stable"} {
			if err := setReleaseTag(ctx, tx, r.ID, tag, v.ID); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("sqlstore.CreateRobot(%q): %w", r.Name, err)
	}
	return nil
}

// RobotByID returns the robot with its tags; ENotFound "Robot not found.".
func (db *DB) RobotByID(ctx context.Context, id string) (*hub.Robot, error) {
	r, err := robotByID(ctx, db.Read(), id, "")
	if err != nil {
		return nil, fmt.Errorf("sqlstore.RobotByID(%q): %w", id, err)
	}
	return r, nil
}

func robotByID(ctx context.Context, q *Tx, id, lock string) (*hub.Robot, error) {
	r, err := scanRobot(q.QueryRow(ctx, `SELECT `+robotReadColumns+` FROM robots WHERE id = ?`+lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hub.Errorf(hub.ENotFound, "Robot not found.")
	}
	if err != nil {
		return nil, err
	}
	tags, err := tagsOf(ctx, q, []string{id})
	if err != nil {
		return nil, err
	}
	if t := tags[id]; t != nil {
		r.Tags = t
	}
	pools, err := poolsOf(ctx, q, []string{id})
	if err != nil {
		return nil, err
	}
	if p := pools[id]; p != nil {
		r.Settings.Pools = p
	}
	return r, nil
}

// inClause returns "(?, ?, …)" for n values.
func inClause(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func tagsOf(ctx context.Context, q *Tx, ids []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT robot_id, tag FROM robot_tags WHERE robot_id IN `+inClause(len(ids))+` ORDER BY tag`, anySlice(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, tag string
		if err := rows.Scan(&id, &tag); err != nil {
			return nil, err
		}
		out[id] = append(out[id], tag)
	}
	return out, rows.Err()
}

// scopeCondition renders a RobotScope as a condition on robots.id; ok is
// false when the scope admits nothing.
func scopeCondition(s hub.RobotScope, idCol string) (cond string, args []any, ok bool) {
	if s.All {
		return "", nil, true
	}
	if s.Empty() {
		return "", nil, false
	}
	var parts []string
	if len(s.IDs) > 0 {
		parts = append(parts, idCol+" IN "+inClause(len(s.IDs)))
		args = append(args, anySlice(s.IDs)...)
	}
	if len(s.Tags) > 0 {
		parts = append(parts, "EXISTS (SELECT 1 FROM robot_tags st WHERE st.robot_id = "+idCol+" AND st.tag IN "+inClause(len(s.Tags))+")")
		args = append(args, anySlice(s.Tags)...)
	}
	return "(" + strings.Join(parts, " OR ") + ")", args, true
}

// likePattern escapes % and _ for a LIKE … ESCAPE '\' substring match.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// ListRobots returns robots newest first with their tags, and the number of
// robots matching the filter.
func (db *DB) ListRobots(ctx context.Context, f hub.RobotFilter) ([]hub.Robot, int, error) {
	cond, args, ok := scopeCondition(f.Scope, "robots.id")
	if !ok {
		return []hub.Robot{}, 0, nil
	}
	var where []string
	if cond != "" {
		where = append(where, cond)
	}
	if f.Query != "" {
		where = append(where, `(lower(name) LIKE ? ESCAPE '\' OR lower(COALESCE(description, '')) LIKE ? ESCAPE '\')`)
		p := likePattern(f.Query)
		args = append(args, p, p)
	}
	if f.Tag != "" {
		where = append(where, `EXISTS (SELECT 1 FROM robot_tags ft WHERE ft.robot_id = robots.id AND ft.tag = ?)`)
		args = append(args, f.Tag)
	}
	clause := ""
	if len(where) > 0 {
		clause = " WHERE " + strings.Join(where, " AND ")
	}
	q := db.Read()
	var total int
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM robots`+clause, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlstore.ListRobots: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT `+robotReadColumns+` FROM robots`+clause+` ORDER BY created_at DESC, id`+limitSQL(f.Limit)+` OFFSET ?`,
		append(args, f.Skip)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlstore.ListRobots: %w", err)
	}
	defer rows.Close()
	out := []hub.Robot{}
	var ids []string
	for rows.Next() {
		r, err := scanRobot(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlstore.ListRobots: %w", err)
		}
		out = append(out, *r)
		ids = append(ids, r.ID)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlstore.ListRobots: %w", err)
	}
	tags, err := tagsOf(ctx, q, ids)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlstore.ListRobots: %w", err)
	}
	pools, err := poolsOf(ctx, q, ids)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlstore.ListRobots: %w", err)
	}
	for i := range out {
		if p := pools[out[i].ID]; p != nil {
			out[i].Settings.Pools = p
		}
		if t := tags[out[i].ID]; t != nil {
			out[i].Tags = t
		}
	}
	return out, total, nil
}

// UpdateRobot changes the description (when desc is not nil) and/or the tag
// set (when tags is not nil) with its audit event.
func (db *DB) UpdateRobot(ctx context.Context, id string, desc **string, tags *[]string, now time.Time, ev *hub.AuditEvent) (*hub.Robot, error) {
	var out *hub.Robot
	err := db.InTx(ctx, func(tx *Tx) error {
		r, err := robotByID(ctx, tx, id, db.dialect.forUpdate())
		if err != nil {
			return err
		}
		if desc != nil {
			r.Description = *desc
		}
		if tags != nil {
			if err := replaceTags(ctx, tx, id, *tags); err != nil {
				return err
			}
			r.Tags = *tags
		}
		r.UpdatedAt = now
		if _, err := tx.Exec(ctx, `UPDATE robots SET description = ?, updated_at = ? WHERE id = ?`, r.Description, now, id); err != nil {
			return err
		}
		out = r
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore.UpdateRobot(%q): %w", id, err)
	}
	return out, nil
}

// VersionsOf returns the versions of the robots, newest first, by robot id.
func (db *DB) VersionsOf(ctx context.Context, robotIDs []string) (map[string][]hub.Version, error) {
	out := map[string][]hub.Version{}
	if len(robotIDs) == 0 {
		return out, nil
	}
	rows, err := db.Read().Query(ctx, `SELECT `+versionColumns+` FROM robot_versions WHERE robot_id IN `+inClause(len(robotIDs))+`
		ORDER BY created_at DESC, id DESC`, anySlice(robotIDs)...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.VersionsOf: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore.VersionsOf: %w", err)
		}
		out[v.RobotID] = append(out[v.RobotID], *v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore.VersionsOf: %w", err)
	}
	return out, nil
}

// VersionByID returns one version of a robot; ENotFound "Version not found.".
func (db *DB) VersionByID(ctx context.Context, robotID, versionID string) (*hub.Version, error) {
	v, err := scanVersion(db.Read().QueryRow(ctx, `SELECT `+versionColumns+` FROM robot_versions WHERE id = ? AND robot_id = ?`, versionID, robotID))
	return found(v, err, "Version not found.", "VersionByID(%q)", versionID)
}

// VersionExists reports whether the robot already has the version number.
func (db *DB) VersionExists(ctx context.Context, robotID, version string) (bool, error) {
	var n int
	if err := db.Read().QueryRow(ctx, `SELECT COUNT(*) FROM robot_versions WHERE robot_id = ? AND version = ?`, robotID, version).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlstore.VersionExists: %w", err)
	}
	return n > 0, nil
}

// activate makes versionID the robot's only active version and points the
// release tags at it; the caller holds the robot row lock.
func activate(ctx context.Context, tx *Tx, robotID, versionID, channel string) error {
	if _, err := tx.Exec(ctx, `UPDATE robot_versions SET is_active = ? WHERE robot_id = ? AND is_active = ? AND id <> ?`, false, robotID, true, versionID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE robot_versions SET is_active = ? WHERE id = ?`, true, versionID); err != nil {
		return err
	}
	if err := setReleaseTag(ctx, tx, robotID, "latest", versionID); err != nil {
		return err
	}
	if channel == "stable" {
		return setReleaseTag(ctx, tx, robotID, "stable", versionID)
	}
	return nil
}

// PublishVersion records a new version in one transaction: the robot row is
// locked, the version inserted (a duplicate number is EInvalid "Version
// already exists for this robot."), activated when v.IsActive, and the audit
// event written; place runs last inside the transaction (it moves the
// uploaded file into place) so that a failure anywhere leaves no row, and a
// failed commit is undone by unplace.
func (db *DB) PublishVersion(ctx context.Context, v *hub.Version, ev *hub.AuditEvent, place func() error, unplace func()) error {
	placed := false
	err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := robotByID(ctx, tx, v.RobotID, db.dialect.forUpdate()); err != nil {
			return err
		}
		activeWanted := v.IsActive
		v.IsActive = false
		if err := insertVersionRow(ctx, tx, v); err != nil {
			return err
		}
		if activeWanted {
			if err := activate(ctx, tx, v.RobotID, v.ID, v.Channel); err != nil {
				return err
			}
			v.IsActive = true
		}
		if _, err := tx.Exec(ctx, `UPDATE robots SET updated_at = ? WHERE id = ?`, v.CreatedAt, v.RobotID); err != nil {
			return err
		}
		if err := insertAudit(ctx, tx, ev); err != nil {
			return err
		}
		if place != nil {
			if err := place(); err != nil {
				return err
			}
			placed = true
		}
		return nil
	})
	if err != nil {
		if placed && unplace != nil {
			unplace()
		}
		return fmt.Errorf("sqlstore.PublishVersion(%q): %w", v.Version, err)
	}
	return nil
}

// ActivateVersion makes a version the robot's active one (rollback when it
// is older) with its audit event. Concurrent activations of one robot are
// serialised on the robot row, so exactly one version ends up active.
func (db *DB) ActivateVersion(ctx context.Context, robotID, versionID string, ev *hub.AuditEvent) (*hub.Version, error) {
	var out *hub.Version
	err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := robotByID(ctx, tx, robotID, db.dialect.forUpdate()); err != nil {
			return err
		}
		v, err := scanVersion(tx.QueryRow(ctx, `SELECT `+versionColumns+` FROM robot_versions WHERE id = ? AND robot_id = ?`, versionID, robotID))
		if errors.Is(err, sql.ErrNoRows) {
			return hub.Errorf(hub.ENotFound, "Version not found.")
		}
		if err != nil {
			return err
		}
		if v.ArtifactPath == nil {
			return hub.Errorf(hub.EConflict, "Version %s has no package; publish one before activating it.", v.Version)
		}
		if err := activate(ctx, tx, robotID, versionID, v.Channel); err != nil {
			return err
		}
		v.IsActive = true
		out = v
		if ev != nil {
			ev.Metadata["version"] = v.Version
		}
		return insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore.ActivateVersion(%q): %w", versionID, err)
	}
	return out, nil
}

// ReleaseTags returns the robot's release tags (tag → version id).
func (db *DB) ReleaseTags(ctx context.Context, robotID string) (map[string]string, error) {
	rows, err := db.Read().Query(ctx, `SELECT tag, version_id FROM robot_release_tags WHERE robot_id = ?`, robotID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore.ReleaseTags: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var tag, id string
		if err := rows.Scan(&tag, &id); err != nil {
			return nil, err
		}
		out[tag] = id
	}
	return out, rows.Err()
}
