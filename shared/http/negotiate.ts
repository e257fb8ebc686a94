/**
 * Whether the client prefers an HTML page to JSON, from its Accept header (RFC 9110 12.5.1).
 * Browsers list text/html first; fetch, curl and SDKs send JSON or *\/*, which gets JSON.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = -1;
  let json = -1;
  let htmlIndex = Number.POSITIVE_INFINITY;
  let jsonIndex = Number.POSITIVE_INFINITY;
  accept.split(',').forEach((part, index) => {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number.parseFloat(qParam.slice(2)) : 1;
    const quality = Number.isFinite(q) ? q : 0;
    if (type === 'text/html' || type === 'application/xhtml+xml') {
      if (quality > html) [html, htmlIndex] = [quality, index];
    } else if (type === 'application/json') {
      if (quality > json) [json, jsonIndex] = [quality, index];
    }
  });
  if (html <= 0) return false;
  return html > json || (html === json && htmlIndex < jsonIndex);
}
