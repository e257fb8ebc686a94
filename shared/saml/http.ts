import { pathParam } from '../http/request.ts';
import type { Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import { consumeResponse, spMetadata, startLogin } from './service.ts';

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
 * The ACS takes the IdP's cross-site POST: it needs no cookie (SameSite never matters here) and
 * trusts nothing but the signed response and the connection named by the route.
 */
export const acs: Operation = (request) =>
  consumeResponse(runtime(), request, pathParam(request, 'connectionId'));

export const login: Operation = async (request) => {
  const location = await startLogin(runtime(), pathParam(request, 'connectionId'), request.query.redirect);
  return { statusCode: 302, headers: { location }, body: '' };
};
