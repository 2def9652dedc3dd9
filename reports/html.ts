// What the HTML reports share.

/** Text as HTML: markup characters escaped, so names and reasons from a target cannot inject anything. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/** The tables' look, a status's colour the same in every report. */
export const TABLE_STYLE = `body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1f2430; }
table { border-collapse: collapse; }
th, td { border: 1px solid #c9ced8; padding: 3px 8px; }
th { background: #eef1f6; font-weight: 600; }
td.name { font-family: ui-monospace, monospace; font-size: 12px; }
tr.differ td.name { font-weight: 700; }
.s-pass { background: #dcfce7; } .s-fail { background: #fecaca; } .s-error { background: #f87171; color: #fff; }
.s-skip { background: #fef3c7; } .s-xfail { background: #e0e7ff; } .s-absent { background: #f3f4f6; color: #9ca3af; }
`;
