/**
 * Resolved `Recipe` objects for netboot tests, built directly (no loading or validation): a small
 * fleet with sensible defaults that each test overrides where it matters.
 */
import type { Dhcp, Node, Recipe } from '../../src/recipe/types.ts'

export function node(fields: Partial<Node> & Pick<Node, 'hostname' | 'mac' | 'ip'>): Node {
  return { model: '4B', cmdline: [], config: [], ...fields }
}

export function recipe(fields: { name?: string; dhcp: Dhcp; nodes: readonly Node[]; server?: string; interface?: string }): Recipe {
  const name = fields.name ?? 'cluster'
  return {
    file: `/srv/recipes/${name}.ts`,
    name,
    image: { path: '/srv/images/raspios.img.xz', sha256: 'a'.repeat(64), arch: 'arm64' },
    overlays: [],
    customize: [],
    netboot: {
      server: fields.server ?? '10.77.0.1',
      dhcp: fields.dhcp,
      nfs: { server: '10.77.0.2', path: '/srv/nfs' },
      ...(fields.interface ? { interface: fields.interface } : {}),
      hostKeys: ['ed25519', 'ecdsa'],
    },
    nodes: fields.nodes,
    publish: [],
  }
}

export const rangeDhcp: Dhcp = { mode: 'range', start: '10.77.0.100', end: '10.77.0.150', netmask: '255.255.255.0', router: '10.77.0.1', dns: ['10.77.0.1'] }
export const proxyDhcp: Dhcp = { mode: 'proxy', network: '10.77.0.0' }
