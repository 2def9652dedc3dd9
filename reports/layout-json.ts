// The layout report as JSON, in the model's layoutReportJson shape; an array
// only when several layouts are shown, so the common case stays one object.

import { layoutReportJson } from '../model/arm64/layout-states.ts';
import type { LayoutView } from './layout-groups.ts';

export function layoutsJson(views: readonly LayoutView[]): string {
  const docs = views.map((v) => layoutReportJson(v.report));
  return `${JSON.stringify(docs.length === 1 ? docs[0] : docs, null, 2)}\n`;
}
