// The runs list query: filters, text search, sort and paging, as SQL built from fixed fragments.
// Values are always bound as named parameters; the sort column and direction come from allowlists.
import type Database from 'better-sqlite3';
import { MAX_PAGE_SIZE, RUN_SORT_COLUMNS, type RunListQuery, type RunSortColumn } from '../../shared/api';
import { StoreError } from './errors';
import { prepared } from './statements';

/** Rows per page when the query does not say (shared/api RunListQuery.limit). */
export const DEFAULT_PAGE_SIZE = 100;

/** Sortable columns of the API and the column each one sorts by. */
const SORT_SQL: Record<RunSortColumn, string> = {
  createdAt: 'created_at',
  modelName: 'model_name',
  task: 'task',
  status: 'status',
  experiment: 'experiment',
};

/** The columns a list row needs (the large JSON texts stay on disk). */
export const SUMMARY_COLUMNS =
  'id, created_at, status, model_name, model_path, architecture, task, prompt_excerpt, answer_excerpt, methods, experiment';

/** SQL and parameters of one list query. */
export interface ListSql {
  where: string;
  orderBy: string;
  parameters: Record<string, unknown>;
}

/**
 * Builds the WHERE and ORDER BY of a list query. Search splits the text at white space; a run matches when
 * it contains every part as a case-insensitive substring of its prompt, answer, model name, experiment, tags
 * or notes. Parts of three or more characters use the trigram index; shorter parts scan the index's text.
 */
export function listSql(query: RunListQuery): ListSql {
  const conditions: string[] = [];
  const parameters: Record<string, unknown> = {};
  const equal = (key: 'experiment' | 'task' | 'status', column: string): void => {
    const value = query[key];
    if (value === undefined) return;
    if (typeof value !== 'string') throw new StoreError('invalid_argument', `${key} must be a string`);
    conditions.push(`runs.${column} = @${key}`);
    parameters[key] = value;
  };
  equal('experiment', 'experiment');
  equal('task', 'task');
  equal('status', 'status');
  if (query.model !== undefined) {
    conditions.push('(runs.model_name = @model OR runs.model_path = @model)');
    parameters.model = stringArgument('model', query.model);
  }
  if (query.method !== undefined) {
    conditions.push('EXISTS (SELECT 1 FROM json_each(runs.methods) WHERE json_each.value = @method)');
    parameters.method = stringArgument('method', query.method);
  }
  if (query.tag !== undefined) {
    conditions.push('EXISTS (SELECT 1 FROM run_tags WHERE run_tags.run_id = runs.id AND run_tags.tag = @tag)');
    parameters.tag = stringArgument('tag', query.tag);
  }
  if (query.search !== undefined) {
    // U+0000 separates parts like white space: SQLite reads FTS5 query text and LIKE patterns as C strings, so a
    // NUL inside a quoted part would cut it short ("unterminated string").
    const terms = stringArgument('search', query.search).split(/[\s\u0000]+/).filter(Boolean);
    const indexed = terms.filter((term) => [...term].length >= 3);
    if (indexed.length > 0) {
      conditions.push('runs.seq IN (SELECT rowid FROM runs_search WHERE runs_search MATCH @match)');
      // Each part is one quoted FTS5 string (quotes doubled): a substring, never query syntax.
      parameters.match = indexed.map((term) => `"${term.replaceAll('"', '""')}"`).join(' AND ');
    }
    terms
      .filter((term) => [...term].length < 3)
      .forEach((term, i) => {
        conditions.push(`runs.seq IN (SELECT rowid FROM runs_search WHERE body LIKE @short${i} ESCAPE '\\')`);
        parameters[`short${i}`] = `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      });
  }
  const sort = query.sort ?? { column: 'createdAt', direction: 'desc' };
  if (!(RUN_SORT_COLUMNS as readonly string[]).includes(sort.column)) {
    throw new StoreError('invalid_argument', `cannot sort by ${String(sort.column)}; use one of ${RUN_SORT_COLUMNS.join(', ')}`);
  }
  if (sort.direction !== 'asc' && sort.direction !== 'desc') {
    throw new StoreError('invalid_argument', `sort direction must be asc or desc, not ${String(sort.direction)}`);
  }
  const direction = sort.direction === 'asc' ? 'ASC' : 'DESC';
  return {
    where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '',
    // Ties broken by creation time, then id, in the same direction: a total order, so pages never overlap
    // or skip rows, and the (column, created_at, id) indexes deliver it without sorting.
    orderBy: sort.column === 'createdAt'
      ? `ORDER BY runs.created_at ${direction}, runs.id ${direction}`
      : `ORDER BY runs.${SORT_SQL[sort.column]} ${direction}, runs.created_at ${direction}, runs.id ${direction}`,
    parameters,
  };
}

/** Offset and limit of a query, checked. */
export function pageOf(query: RunListQuery): { offset: number; limit: number } {
  const offset = query.offset ?? 0;
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new StoreError('invalid_argument', `offset must be a non-negative integer, not ${offset}`);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new StoreError('invalid_argument', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}, not ${limit}`);
  }
  return { offset, limit };
}

/** Tags of the given runs, by run id (one query for a whole page). */
export function tagsOf(db: Database.Database, runIds: readonly string[]): Map<string, string[]> {
  const tags = new Map<string, string[]>(runIds.map((id) => [id, []]));
  if (runIds.length === 0) return tags;
  const rows = prepared<{ run_id: string; tag: string }>(db,
    'SELECT run_id, tag FROM run_tags WHERE run_id IN (SELECT value FROM json_each(@ids)) ORDER BY run_id, tag')
    .all({ ids: JSON.stringify(runIds) });
  for (const row of rows) tags.get(row.run_id)?.push(row.tag);
  return tags;
}

function stringArgument(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new StoreError('invalid_argument', `${name} must be a string`);
  return value;
}
