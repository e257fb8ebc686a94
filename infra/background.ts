import type { FunctionSpec } from '#shared/routes.ts';

/**
 * Functions no route reaches: EventBridge invokes them (infra/events.ts). Their specs have the
 * same shape as the route table's FUNCTIONS and are bound the same way (least privilege from the
 * spec).
 */
export const BACKGROUND_FUNCTIONS = {
  'audit-consumer': {
    description: 'Writes domain events from the bus as audit records',
    memoryMb: 256,
    timeoutSeconds: 30,
    table: 'readWrite',
    secrets: {},
    events: false,
    mail: false,
    directory: false,
  },
  'saml-metadata-refresh': {
    description:
      'Refreshes SAML IdP metadata, reports certificate expiry, makes SP keys for older connections',
    memoryMb: 512,
    timeoutSeconds: 300,
    table: 'readWrite',
    // creates the SP key pair of a connection saved before SP keys existed
    secrets: { connections: 'manage' },
    events: false,
    mail: false,
    directory: false,
  },
  // Out of the VPC: it calls applications' back-channel logout URIs on the internet.
  'oauth-logout': {
    description: 'Back-channel logout and refresh-token revocation when a session ends',
    memoryMb: 512,
    timeoutSeconds: 60,
    table: 'readWrite',
    // oauthKeys: logout tokens are signed with the OpenID Provider's keys (read: it never makes one).
    secrets: { oauthKeys: 'read', applications: 'read' },
    events: false,
    mail: false,
    directory: false,
  },
} as const satisfies Record<string, FunctionSpec>;

export type BackgroundFunctionName = keyof typeof BACKGROUND_FUNCTIONS;
