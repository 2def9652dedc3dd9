// What the HTML reports share.

/** Text as HTML: markup characters escaped, so names and reasons from a target cannot inject anything. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
