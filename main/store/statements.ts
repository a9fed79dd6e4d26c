// Prepared statements, compiled once per database handle and SQL text. Every value reaches SQLite as a
// named parameter (@name); SQL text is built only from fixed fragments chosen by allowlists.
import type Database from 'better-sqlite3';

const caches = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/** The prepared statement for `sql` on `db`, compiled on first use. */
export function prepared<Row = unknown>(db: Database.Database, sql: string): Database.Statement<unknown[], Row> {
  let cache = caches.get(db);
  if (!cache) {
    cache = new Map();
    caches.set(db, cache);
  }
  let statement = cache.get(sql);
  if (!statement) {
    statement = db.prepare(sql);
    cache.set(sql, statement);
  }
  return statement as Database.Statement<unknown[], Row>;
}
