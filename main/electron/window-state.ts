// The main window's size and position, kept in a small JSON file in userData. Plain Node (no electron
// import) so it is tested without the Electron binary; the shell passes in the displays' work areas.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Rectangle {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WindowState {
  width: number;
  height: number;
  /** Absent when the saved position is on no current display: the window manager places the window. */
  x?: number;
  y?: number;
  maximized: boolean;
}

export const DEFAULT_WINDOW_SIZE = { width: 1400, height: 900 };
const MIN_SIZE = { width: 640, height: 480 };

/**
 * Reads the saved state, or undefined when there is none or it is unusable. A saved position that lies on
 * no current display (a monitor was unplugged) is dropped so the window opens where it can be seen.
 * Example: readWindowState(file, [{x: 0, y: 0, width: 1920, height: 1080}]) →
 *   {x: 100, y: 80, width: 1400, height: 900, maximized: false}.
 */
export function readWindowState(file: string, workAreas: readonly Rectangle[]): WindowState | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const record = parsed as Partial<Record<keyof WindowState, unknown>>;
  const valid = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
  if (!valid(record.width) || !valid(record.height)) return undefined;
  const width = Math.max(MIN_SIZE.width, Math.round(record.width));
  const height = Math.max(MIN_SIZE.height, Math.round(record.height));
  const state: WindowState = { width, height, maximized: record.maximized === true };
  if (valid(record.x) && valid(record.y)) {
    const placed = { x: Math.round(record.x), y: Math.round(record.y), width, height };
    if (workAreas.some((area) => overlapsEnough(placed, area))) return { ...state, x: placed.x, y: placed.y };
  }
  return state;
}

/** Writes the state atomically (a crash mid-write leaves the old file). */
export function writeWindowState(file: string, state: WindowState): void {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(state) + '\n');
  renameSync(temporary, file);
}

/** At least a 100×50 px piece of the window's top must be on the display, so its title bar can be grabbed. */
function overlapsEnough(window: Rectangle, area: Rectangle): boolean {
  const left = Math.max(window.x, area.x);
  const right = Math.min(window.x + window.width, area.x + area.width);
  const top = Math.max(window.y, area.y);
  const bottom = Math.min(window.y + 50, area.y + area.height);
  return right - left >= 100 && bottom - top >= 50;
}
