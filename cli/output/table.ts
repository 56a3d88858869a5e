// Aligned plain-text tables, kubectl style: upper-case headers, columns padded to the widest
// cell and separated by three spaces, no trailing blanks.

export const COLUMN_GAP = '   ';
/** Shown where a cell has no value, so columns never collapse. */
export const NONE = '<none>';

export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, col) => Math.max(...all.map((r) => width(r[col] ?? ''))));
  return all
    .map((r) =>
      headers
        .map((_, col) => {
          const cell = (r[col] ?? '').replace(/\s*\n\s*/g, ' ');
          return col === headers.length - 1 ? cell : cell + ' '.repeat((widths[col] ?? 0) - width(cell));
        })
        .join(COLUMN_GAP)
        .trimEnd(),
    )
    .join('\n');
}

function width(s: string): number {
  return s.replace(/\s*\n\s*/g, ' ').length;
}
