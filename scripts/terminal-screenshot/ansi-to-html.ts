// ANSI (SGR) text → HTML spans, to render the CLI's real terminal output as an image for the README. Handles
// what the CLI writes: reset, bold, dim, underline, 24-bit and 256-colour foreground/background, default colours.
// Every other character is HTML-escaped, so token text cannot become markup.

/** The xterm palette entry `index` (0–255) as `rgb(…)`; 0–15 use xterm's default system colours. */
export function paletteColor(index: number): string {
  const system = [
    [0, 0, 0], [205, 0, 0], [0, 205, 0], [205, 205, 0], [0, 0, 238], [205, 0, 205], [0, 205, 205], [229, 229, 229],
    [127, 127, 127], [255, 0, 0], [0, 255, 0], [255, 255, 0], [92, 92, 255], [255, 0, 255], [0, 255, 255], [255, 255, 255],
  ];
  let rgb: number[];
  if (index < 16) rgb = system[index];
  else if (index < 232) {
    const levels = [0, 95, 135, 175, 215, 255];
    const cube = index - 16;
    rgb = [levels[Math.floor(cube / 36)], levels[Math.floor(cube / 6) % 6], levels[cube % 6]];
  } else {
    const grey = 8 + 10 * (index - 232);
    rgb = [grey, grey, grey];
  }
  return `rgb(${rgb.join(',')})`;
}

interface Style {
  bold?: boolean;
  dim?: boolean;
  underline?: boolean;
  color?: string;
  background?: string;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Applies one SGR parameter list to a style. */
function applySgr(style: Style, parameters: number[]): Style {
  const next = { ...style };
  for (let i = 0; i < parameters.length; i++) {
    const code = parameters[i];
    if (code === 0) for (const key of Object.keys(next) as (keyof Style)[]) delete next[key];
    else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 4) next.underline = true;
    else if (code === 22) next.bold = next.dim = false;
    else if (code === 24) next.underline = false;
    else if (code === 39) delete next.color;
    else if (code === 49) delete next.background;
    else if (code === 38 || code === 48) {
      const key = code === 38 ? 'color' : 'background';
      if (parameters[i + 1] === 2) {
        next[key] = `rgb(${parameters.slice(i + 2, i + 5).join(',')})`;
        i += 4;
      } else if (parameters[i + 1] === 5) {
        next[key] = paletteColor(parameters[i + 2]);
        i += 2;
      }
    }
  }
  return next;
}

function css(style: Style): string {
  const rules: string[] = [];
  if (style.bold) rules.push('font-weight:700');
  if (style.dim) rules.push('opacity:0.55');
  if (style.underline) rules.push('text-decoration:underline');
  if (style.color) rules.push(`color:${style.color}`);
  if (style.background) rules.push(`background:${style.background}`);
  return rules.join(';');
}

/**
 * HTML for ANSI text: styled runs become `<span style="…">`, the rest is escaped.
 * @example ansiToHtml('a\x1b[1mb\x1b[0m<') // 'a<span style="font-weight:700">b</span>&lt;'
 */
export function ansiToHtml(text: string): string {
  let html = '';
  let style: Style = {};
  // eslint-disable-next-line no-control-regex
  for (const part of text.split(/(\x1b\[[0-9;]*m)/)) {
    // eslint-disable-next-line no-control-regex
    const sgr = /^\x1b\[([0-9;]*)m$/.exec(part);
    if (sgr) {
      style = applySgr(style, sgr[1] === '' ? [0] : sgr[1].split(';').map(Number));
      continue;
    }
    if (part === '') continue;
    const rules = css(style);
    html += rules ? `<span style="${rules}">${escapeHtml(part)}</span>` : escapeHtml(part);
  }
  return html;
}
