/**
 * A browser for the console's HTTP tests: a cookie jar, form posts and raw bodies over fetch, and
 * the page fields the tests read (CSRF token, error code).
 */
export interface Answer {
  status: number;
  text: string;
  location: string | null;
  headers: Headers;
}

export class ConsoleBrowser {
  readonly cookies = new Map<string, string>();

  constructor(
    private readonly baseUrl: () => string,
    session?: string,
  ) {
    if (session) this.cookies.set('sso_session', session);
  }

  async send(
    method: string,
    path: string,
    options: { form?: Record<string, string>; body?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(this.baseUrl() + path, {
      method,
      redirect: 'manual',
      headers: {
        accept: 'text/html',
        ...(cookie ? { cookie } : {}),
        ...(options.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...options.headers,
      },
      ...(options.form ? { body: new URLSearchParams(options.form).toString() } : {}),
      ...(options.body !== undefined ? { body: options.body } : {}),
    });
    for (const set of res.headers.getSetCookie()) {
      const pair = set.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return {
      status: res.status,
      text: await res.text(),
      location: res.headers.get('location'),
      headers: res.headers,
    };
  }

  get(path: string, headers: Record<string, string> = {}) {
    return this.send('GET', path, { headers });
  }
}

export const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
export const codeOf = (html: string) => /id="error-code">([^<]+)</.exec(html)?.[1];
