// Where a webhook may be delivered. Link-local and cloud-metadata addresses are always refused (a
// caller must not make this server fetch 169.254.169.254); with --webhook-deny-private, loopback and
// private ranges are too. A URL is checked when the call is made (its literal address, or what its
// name resolves to then: a 400), and again at every connection, on the address actually dialled, so
// a name that later resolves elsewhere (DNS rebinding) still cannot reach a refused one.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { lookup as lookupAll } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { CerebriumLocalError } from '../errors.ts';

/** Never a webhook target: link-local (cloud metadata lives at 169.254.169.254) and AWS's IPv6 metadata address. */
const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6');
LINK_LOCAL.addAddress('fd00:ec2::254', 'ipv6');

/** Refused as well with --webhook-deny-private: this machine, private networks, shared (CGNAT) space. */
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv4');
}
PRIVATE.addAddress('::', 'ipv6');
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');

/** Why `address` is refused, or undefined when it may be dialled. IPv4-mapped IPv6 counts as its IPv4. */
export function refusedBecause(address: string, denyPrivate: boolean): string | undefined {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  if (LINK_LOCAL.check(address, family)) return 'a link-local or cloud-metadata address';
  if (denyPrivate && PRIVATE.check(address, family)) return 'a loopback or private address (--webhook-deny-private)';
  return undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

export class WebhookAddressPolicy {
  constructor(readonly denyPrivate: boolean) {}

  /** The call-time check: a 400 when the URL's host is, or now resolves to, a refused address. */
  async check(url: URL): Promise<void> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // A name that does not resolve now is let through: its delivery fails and is recorded, as before.
    const addresses = isIP(host)
      ? [host]
      : ((await lookupAll(host, { all: true }).catch(() => [])) as LookupAddress[]).map((a) => a.address);
    for (const address of addresses) {
      const reason = refusedBecause(address, this.denyPrivate);
      if (reason) {
        throw new CerebriumLocalError(
          'invalid_webhook_endpoint',
          `webhookEndpoint's host ${host === address ? 'is' : `resolves to`} ${reason}`,
        );
      }
    }
  }

  /**
   * For undici's `connect.lookup` (net.connect's): resolves as dns.lookup does but leaves out refused
   * addresses, and fails when none is left, so a connection only ever goes to an allowed address.
   */
  readonly lookup = (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true } as { all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const allowed = addresses.filter((a) => refusedBecause(a.address, this.denyPrivate) === undefined);
      if (allowed.length === 0) {
        const refused = Object.assign(new Error(`${hostname} resolves only to refused addresses (link-local or private)`), {
          code: 'EWEBHOOKREFUSED',
        });
        return callback(refused, []);
      }
      if (options.all) return callback(null, allowed);
      callback(null, allowed[0].address, allowed[0].family);
    });
  };
}
