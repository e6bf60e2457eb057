import { MeshidError } from '../../core/errors.js';

/**
 * One schema version number for both backends: version N is the same tables in SQLite and in PostgreSQL, so
 * `schema_version` reads the same whichever a CA runs on. A backend that arrived later starts its list at the
 * version it first shipped with, created whole by that one migration.
 */
export interface Migration {
  /** Consecutive from the backend's first version; never renumber or edit a released migration, add a new one. */
  version: number;
  name: string;
  sql: string;
}

/**
 * The migrations a database at schema version `current` (0: empty) still needs, in order. Refuses a
 * database written by a newer meshid: an older one must not guess at tables it does not know.
 */
export function pendingMigrations(migrations: readonly Migration[], firstVersion: number, current: number): Migration[] {
  migrations.forEach((m, i) => {
    if (m.version !== firstVersion + i) throw new Error(`migration "${m.name}" has version ${m.version}, expected ${firstVersion + i}`);
  });
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new MeshidError(
      'FAILED_PRECONDITION',
      `datastore schema version ${current} is newer than this meshid supports (${latest}); upgrade meshid or restore a backup`,
      'datastore_schema',
    );
  }
  return migrations.filter((m) => m.version > current);
}
