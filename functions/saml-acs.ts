import { httpFunction } from '#shared/http/handler.ts';
import { acs } from '#shared/saml/http.ts';

export const handler = httpFunction({
  'POST /saml/{connectionId}/acs': acs,
});
