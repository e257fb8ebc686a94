import { httpFunction } from '#shared/http/handler.ts';
import { getInteraction, libraryRoute, postInteraction, postLogout } from '#shared/oauth/http.ts';

export const handler = httpFunction({
  'GET /.well-known/openid-configuration': libraryRoute,
  'GET /oauth/authorize': libraryRoute,
  'GET /oauth/authorize/{uid}': libraryRoute,
  'GET /oauth/interaction/{uid}': getInteraction,
  'POST /oauth/interaction/{uid}': postInteraction,
  'POST /oauth/token': libraryRoute,
  'GET /oauth/userinfo': libraryRoute,
  'POST /oauth/userinfo': libraryRoute,
  'POST /oauth/revoke': libraryRoute,
  'POST /oauth/introspect': libraryRoute,
  'GET /oauth/logout': libraryRoute,
  'POST /oauth/logout': postLogout,
  'POST /oauth/logout/confirm': libraryRoute,
  'GET /oauth/logout/success': libraryRoute,
  'POST /oauth/device': libraryRoute,
  'GET /device': libraryRoute,
  'POST /device': libraryRoute,
  'GET /device/{uid}': libraryRoute,
  'OPTIONS /.well-known/openid-configuration': libraryRoute,
  'OPTIONS /oauth/token': libraryRoute,
  'OPTIONS /oauth/userinfo': libraryRoute,
  'OPTIONS /oauth/revoke': libraryRoute,
  'OPTIONS /oauth/introspect': libraryRoute,
  'OPTIONS /oauth/device': libraryRoute,
});
