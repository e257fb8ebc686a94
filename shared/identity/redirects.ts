/**
 * Where a browser may be sent after login: the tenant's appUrl, or a URL on its
 * allowedRedirectUrls. A candidate must match an allowed entry's scheme, host and port exactly and
 * lie under its path (segment by segment). Anything odd is refused outright rather than repaired:
 * backslashes, control characters or spaces, credentials, encoded slashes or dots, or anything the
 * URL parser would change (so `//evil`, `https:evil`, `/\\evil` and friends never pass).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const FORBIDDEN = /[\\\u0000-\u0020\u007f]|%(2f|5c|2e|00)/i;

function parse(candidate: string): URL | undefined {
  if (candidate.length > 2048 || FORBIDDEN.test(candidate)) return undefined;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username || url.password || !url.hostname) return undefined;
  // The text must already be in the form the parser produces: no host or path tricks to normalise.
  const prefix = `${url.protocol}//${url.host}`;
  if (!candidate.toLowerCase().startsWith(prefix.toLowerCase())) return undefined;
  if (
    candidate
      .slice(prefix.length)
      .split(/[?#]/)[0]
      ?.split('/')
      .some((s) => s === '.' || s === '..')
  ) {
    return undefined;
  }
  return url;
}

function under(path: string, base: string): boolean {
  if (base === '' || base === '/') return true;
  const root = base.endsWith('/') ? base : `${base}/`;
  return path === base || path === root.slice(0, -1) || path.startsWith(root);
}

/** The allowed, normalised URL for a candidate, or undefined. */
export function allowedRedirect(
  candidate: string | undefined,
  allowed: readonly string[],
): string | undefined {
  if (!candidate) return undefined;
  const url = parse(candidate);
  if (!url) return undefined;
  for (const entry of allowed) {
    let base: URL;
    try {
      base = new URL(entry);
    } catch {
      continue;
    }
    if (base.protocol === url.protocol && base.host === url.host && under(url.pathname, base.pathname)) {
      return url.href;
    }
  }
  return undefined;
}

/** An OAuth interaction id as the OpenID Provider makes them. */
const INTERACTION_UID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The candidate when it is exactly an OAuth interaction URL of this service,
 * `{baseUrl}/oauth/interaction/{uid}` (no query, no fragment, nothing to normalise), else
 * undefined. The OpenID Provider sends people to sign in with it as their return address, so it is
 * always a valid landing, whatever the tenant's allowedRedirectUrls.
 */
export function interactionUrl(candidate: string | undefined, baseUrl: string): string | undefined {
  const prefix = `${baseUrl}/oauth/interaction/`;
  if (!candidate?.startsWith(prefix)) return undefined;
  return INTERACTION_UID.test(candidate.slice(prefix.length)) ? candidate : undefined;
}

/** A console path segment (a section, an item id): no dots-only segment, nothing encoded. */
const CONSOLE_SEGMENT = /^(?!\.+$)[A-Za-z0-9._~-]{1,100}$/;

/**
 * The candidate when it is exactly a console page of this service for this tenant,
 * `{baseUrl}/console/{tenantId}` with at most two more segments (a section, an item), no query,
 * no fragment, nothing encoded or to normalise, else undefined. The console sends people to sign
 * in with it as their return address, so, like the interaction URL, it is always a valid landing
 * for the tenant it names, whatever the tenant's allowedRedirectUrls; another tenant's console
 * is not.
 */
export function consoleUrl(
  candidate: string | undefined,
  baseUrl: string,
  tenantId: string,
): string | undefined {
  const prefix = `${baseUrl}/console/`;
  if (!candidate?.startsWith(prefix) || candidate.length > 2048) return undefined;
  const [tenant, ...rest] = candidate.slice(prefix.length).split('/');
  if (tenant !== tenantId || rest.length > 2) return undefined;
  return rest.every((s) => CONSOLE_SEGMENT.test(s)) ? candidate : undefined;
}
