import { pathParam } from '../http/request.ts';
import type { Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import { spMetadata, startLogin } from './sp.ts';

export const metadata: Operation = async (request) => ({
  statusCode: 200,
  headers: {
    'content-type': 'application/samlmetadata+xml; charset=utf-8',
    'cache-control': 'public, max-age=300',
    'content-disposition': 'inline; filename="metadata.xml"',
  },
  body: await spMetadata(runtime(), pathParam(request, 'connectionId')),
});

/**
 * GET /saml/{c}/login: `prompt=login` (exactly; any other value is ignored) asks the IdP to
 * authenticate the person again (ForceAuthn), as the OpenID Provider's interaction does for an
 * application's `prompt=login` or `max_age`.
 */
export const login: Operation = async (request) => {
  const location = await startLogin(runtime(), pathParam(request, 'connectionId'), request.query.redirect, {
    forceAuthn: request.query.prompt === 'login',
  });
  return { statusCode: 302, headers: { location }, body: '' };
};
