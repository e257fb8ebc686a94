import type { Principal } from '../auth/principal.ts';
import { Errors } from '../errors.ts';
import type { Connection } from './model.ts';

/**
 * What a setup link may not do to a connection (it configures single sign-on, it does not hand out
 * power in the tenant): make the accounts a connection creates anything but members, or take their
 * role from an IdP attribute, unless the connection already did so. Otherwise the link's holder
 * could make themselves a lasting admin by signing in through the connection they configured.
 */
export function limitSetupProvisioning(
  principal: Principal,
  next: Pick<Connection, 'provisioning'>,
  current?: Pick<Connection, 'provisioning'>,
): void {
  if (principal.kind !== 'setup') return;
  const { defaultRole, attributeMap } = next.provisioning;
  const roleRaised = defaultRole !== 'member' && defaultRole !== current?.provisioning.defaultRole;
  const roleMapped =
    attributeMap.role !== undefined && attributeMap.role !== current?.provisioning.attributeMap.role;
  if (roleRaised || roleMapped) {
    throw Errors.forbidden(
      'A setup link cannot make the accounts a connection creates anything but members, nor map their role from the identity provider; ask an owner or admin.',
    );
  }
}
