/**
 * What people write in a recipe (`RecipeInput`, documented field by field for editors) and what
 * pibake works with after loading and validation (`Recipe`: defaults applied, paths absolute,
 * everything readonly).
 */
import type { CustomizeStep, CustomizeStepInput } from './steps.ts'
import type { RootMode } from '../roots/modes.ts'

export type * from './steps.ts'

/** Raspberry Pi models. Zero 2 W and 3A+ are listed only so that a recipe naming them gets a clear refusal. */
export type PiModel = '3B' | '3B+' | '4B' | '400' | 'CM4' | '5' | '500' | 'CM5' | 'Zero 2 W' | '3A+'

/** Models that can boot from the network. */
export const NETBOOT_MODELS = ['3B', '3B+', '4B', '400', 'CM4', '5', '500', 'CM5'] as const
export type NetbootModel = (typeof NETBOOT_MODELS)[number]

export type Arch = 'arm64' | 'armhf'

/** SSH host key types a node can be given (`ssh-keygen -t`): ed25519, ECDSA (P-256), RSA (3072 bits). */
export const HOST_KEY_TYPES = ['ed25519', 'ecdsa', 'rsa'] as const
export type HostKeyType = (typeof HOST_KEY_TYPES)[number]

/** Every node's host keys unless the recipe says otherwise: instant to make, and what current SSH clients prefer. */
export const DEFAULT_HOST_KEYS: readonly HostKeyType[] = ['ed25519', 'ecdsa']

/**
 * Where a tree is published: a local directory (a string, relative to the recipe file; `~/` is the
 * home folder), or a directory on a host reached over SSH (an object). An scp-style `host:/path`
 * string is refused rather than taken for a local folder: use the object form.
 */
export type DestinationInput =
  | string
  | {
      /** `user@host` or `host` of the SSH server (the user defaults to root). */
      host: string
      /** Absolute directory on that host (`/srv/nfs`). */
      path: string
      /** SSH port, 1 to 65535 (default 22). */
      port?: number
      /** Private key file for the connection, relative to the recipe file; it must exist (default: the SSH agent and ~/.ssh). */
      identity?: string
      /**
       * The known_hosts file that vouches for the host's key, relative to the recipe file (default
       * `~/.ssh/known_hosts`). An unknown or changed host key is refused.
       */
      knownHosts?: string
    }

export interface PublishTargetInput {
  /**
   * Where root filesystems go; the NFS server exports this directory. Each build lands in
   * `<nfs>/<recipe>/builds/<id>/`. Relative paths are relative to the recipe file.
   */
  nfs: DestinationInput | DestinationInput[]
  /** Root of the TFTP tree served by dnsmasq (one directory per node, named by MAC). */
  tftp: DestinationInput
  /**
   * Where the site's server configuration (`dnsmasq.conf`, `exports`, `ganesha.conf`, `hosts`) and
   * its records (`pibake/<recipe>.json`) are written (default: on the `tftp` destination's host, the
   * folder beside the TFTP root named after it with `-site`: `/srv/tftp` → `/srv/tftp-site`; never
   * inside the TFTP root, which any host on the LAN can read). Every recipe published to the same
   * place shares that configuration.
   */
  config?: DestinationInput
  /**
   * Which builds stay on the target: the newest `builds` (default 3), and every build that was live
   * within the last `days` (default 7), since a node keeps running the build it booted until it
   * reboots. `pibake gc` removes the rest; publishing applies it too.
   */
  keep?: { builds?: number; days?: number }
  /**
   * Commands run after a successful publish, each only when the file it names changed: on the
   * `config` destination's host for `dnsmasq` and `hosts`, on the `nfs` destination's host for
   * `exports` and `ganesha` (e.g. `{ dnsmasq: 'systemctl reload dnsmasq', exports: 'exportfs -ra' }`).
   * One shell command line each; a failing one fails the publish with the host's message.
   */
  reload?: { dnsmasq?: string; exports?: string; ganesha?: string; hosts?: string }
  /**
   * Sign each build's record (`<id>.json`) with this SSH key (`ssh-keygen -Y sign`, namespace
   * `pibake-build`), written beside it as `<id>.json.sig`; `pibake verify --allowed-signers FILE`
   * checks it. A private key file without a passphrase, or the `.pub` of a key loaded in ssh-agent;
   * relative to the recipe file.
   */
  sign?: { key: string }
}

export interface ImageInput {
  /**
   * The Raspberry Pi OS image, `.img` or `.img.xz`, relative to the recipe file; it must exist. Or
   * a root filesystem tarball (`.tar`, `.tar.xz`, `.tar.zst`, as `pibake export` writes), with the
   * boot partition's files under `boot/firmware/` inside it, or in `boot`.
   */
  path: string
  /**
   * The image file's SHA-256: 64 hex digits, or the path of a `sha256sum`-style checksum file
   * (relative to the recipe file), as Raspberry Pi publishes beside its images. When that file
   * lists several images, the line naming this image's file is used.
   */
  sha256: string
  /** The image's architecture; checked against the image when given. */
  arch?: Arch
  /** With a root tarball: a second tarball holding the boot partition's files (at its top), and its SHA-256 as for `sha256`. */
  boot?: { path: string; sha256: string }
}

export type DhcpInput =
  | {
      /** Proxy DHCP: an existing DHCP server hands out addresses, dnsmasq only adds the boot answer. */
      mode: 'proxy'
      /** The network that proxy DHCP answers on, e.g. `192.168.1.0`. */
      network: string
    }
  | {
      /**
       * dnsmasq is the DHCP server and gives each node its fixed address. The range and every
       * node's address must be in the server's subnet (`netboot.server` with `netmask`).
       */
      mode: 'range'
      /** First address of the pool, e.g. `192.168.1.100`. */
      start: string
      /** Last address of the pool (not before `start`). */
      end: string
      /** Netmask, contiguous bits (default `255.255.255.0`). */
      netmask?: string
      /** Default gateway given to clients. */
      router?: string
      /** DNS servers given to clients. */
      dns?: string[]
    }

export interface NfsServerInput {
  /** IPv4 address (or host name) of the NFS server. */
  server: string
  /**
   * The directory the NFS server exports, as seen on that server (absolute). Default: the path of
   * the first publish target's `nfs` destination (of its destination for this server, with several).
   */
  path?: string
}

export interface NetbootInput {
  /** IPv4 address of the server that runs dnsmasq (DHCP and TFTP); no node may have it. */
  server: string
  /** How DHCP is answered. */
  dhcp: DhcpInput
  /**
   * The NFS server that serves the root filesystem, or several (`[{ server: '10.42.0.2' }, { server:
   * '10.42.0.3' }]`): every build is then published to each (each publish target's `nfs` lists one
   * destination per server, in the same order), and each node is assigned to one of them, balanced
   * by count and kept across rebuilds (`nodes[].nfs` pins one). `pibake drain <server>` moves a
   * server's nodes to the others. The shared folder (`shared`) lives on the first server.
   */
  nfs: NfsServerInput | NfsServerInput[]
  /**
   * A folder on the NFS server that every node mounts read-write (home folders, results). It is
   * exported read-write to the netboot subnet and mounted after the root.
   */
  shared?: {
    /** The folder on the NFS server (absolute), e.g. `/srv/pibake/shared`. */
    path: string
    /** Where the nodes mount it (default `/shared`). */
    mount?: string
    /**
     * Serve `/etc/passwd`, `group` and `shadow` from `<path>/etc/` (seeded from the image when
     * missing), so that one edit on the server serves every node (default false).
     */
    accounts?: boolean
    /**
     * Map root on the nodes to the server's anonymous user on this folder (NFS `root_squash`), so
     * that a node's root cannot write files as root there. Default true; false when `accounts` is
     * true, since the nodes then seed and edit the account files as root (`accounts` with
     * `rootSquash: true` is refused).
     */
    rootSquash?: boolean
  }
  /** Network interface dnsmasq listens on (default: all). */
  interface?: string
  /**
   * The SSH host key types every node gets (default `['ed25519', 'ecdsa']`), each listed once. pibake
   * makes each node's keys once and keeps them across rebuilds; sshd on a node offers exactly these.
   * Add `'rsa'` only for SSH clients older than OpenSSH 6.5 (2014): an RSA-3072 key takes about a
   * second of CPU to make, which is the whole first build's time for a fleet of hundreds of nodes.
   */
  hostKeys?: HostKeyType[]
  /**
   * A file on the boot server for dnsmasq's log (absolute): `dnsmasq.conf` gets `log-facility=<log>`,
   * and `pibake serve` reads it (when the site's configuration is on its machine) for when each
   * node last booted, the boot file it fetched, and the Pis that ask to boot but are in no recipe.
   * Default: dnsmasq logs to syslog. One setting for the whole site, like `interface`.
   */
  log?: string
  /**
   * Folders each node keeps across reboots and rebuilds, read-write, e.g. `['/var/lib/rancher',
   * '/etc/rancher']`: each node's own copy lives on the NFS server under `<nfs>/_persist/<mac>/`
   * (seeded from the image the first time a node is published, never overwritten), exported to
   * that node's address alone, and mounted over the root early at boot, in any root mode. A node
   * moved to another recipe keeps them; `unpublish` and `gc` never remove them without
   * `--purge-node-data`. Every node needs a fixed `ip`. Absolute paths, none inside another, not
   * `/` nor on `/proc`, `/sys`, `/dev`, `/run`, `/boot`.
   */
  persist?: string[]
  /**
   * What the nodes' root is (default `'nfs'`):
   * - `'nfs'`: the build's tree over NFS, read-only, with a tmpfs on the folders a system writes to.
   * - `'overlay'`: the same tree under a tmpfs that takes every write: all of `/` is writable, and
   *   every write is gone at the next boot (`df /` shows the RAM it takes).
   * - `'squashfs'`: the build as one compressed image on the NFS server, mounted through a loop
   *   device, under the same tmpfs: one file read over NFS instead of thousands of lookups.
   * - `'ram'`: as `'squashfs'`, but the image is copied into the node's RAM at boot and NFS let go:
   *   the node runs on when the server stops. Nodes that state their `memory` are checked against
   *   the image's size.
   */
  root?: RootMode
  /**
   * Fewer bytes for every node to pull over TFTP at each boot, the same system booting (default
   * false: the boot files are published as the image has them). Each 64-bit kernel (`kernel8.img`,
   * `kernel_2712.img`) is published gzip-compressed, which the firmware unpacks, and each gzip
   * initramfs recompressed with xz, which the kernel unpacks: the demo's 31.4 MiB kernel becomes
   * 11.0 MiB, its 7.0 MiB initramfs 5.0 MiB, and a Pi 4 pulls 18.2 MiB per boot instead of
   * 40.6 MiB. A 32-bit kernel (a zImage, which unpacks itself) is left as it is. The build refuses
   * it when the kernel that goes with an initramfs was built without xz support (`CONFIG_RD_XZ=y`
   * in the image's `/boot/config-<version>`). `pibake plan` shows the bytes before and after.
   */
  shrinkBoot?: boolean
  /**
   * The boot server's link to the nodes, in Mbit/s (default 1000: 1 GbE). It sizes `tftp-max` in
   * the published dnsmasq.conf for a fleet powered on at once: the transfers the link carries at
   * once, each within the firmware's 30 s per file (see "The site sized for its fleet" in the
   * README). Recipes of one site share the boot server: the smallest link any of them names is used.
   */
  bootLinkMbps?: number
  /**
   * A second IPv4 address of the boot server (same machine, same interface and subnet as `server`,
   * outside the DHCP range), for a second dnsmasq that answers the Pi 3B/3B+ nodes alone, DHCP and
   * TFTP, with TFTP transfers of their own (`dnsmasq-pi3.conf`, published beside `dnsmasq.conf`). A
   * Pi 3's boot ROM gets one attempt: in a fleet large enough that `tftp-max` is capped, the Pi 4/5
   * nodes, which try again, would hold every transfer. Used only when the fleet has Pi 3s, other
   * nodes, and a capped `tftp-max`; otherwise dnsmasq.conf answers every node as without it.
   */
  pi3Server?: string
}

export interface NodeInput {
  /**
   * Host name the node gets from DHCP: one lower-case RFC 1123 label (`[a-z0-9-]`, not starting or
   * ending with `-`, at most 63 characters). Unique among the nodes.
   */
  hostname: string
  /**
   * Ethernet MAC address, `dc:a6:32:01:02:03`; `DC-A6-32-01-02-03` is accepted too (stored lower
   * case with colons). Unique among the nodes.
   */
  mac: string
  /**
   * Board serial number: 8 or 16 hex digits, from `/proc/cpuinfo` or `vcgencmd otp_dump`. The boot
   * ROM asks TFTP for its low 8 digits, which must differ between nodes.
   */
  serial?: string
  /**
   * Fixed IPv4 address, unique among the nodes. Required in `range` mode (inside the server's
   * subnet); optional in `proxy` mode, where the existing DHCP server may hand out any address (the
   * node is then known by its MAC alone, see the README on proxy mode).
   */
  ip?: string
  /** Board model; decides the TFTP layout. A Zero 2 W or 3A+ cannot boot from the network and is refused. */
  model: PiModel
  /** Extra kernel command line arguments for this node only, one argument per entry (no spaces). */
  cmdline?: string[]
  /** Extra `config.txt` lines for this node only, one line per entry. */
  config?: string[]
  /**
   * The board's memory, `'1GB'`, `'8GB'`, `'512MB'` (binary units): with `netboot.root: 'ram'`, a
   * node that cannot hold the root image plus a working margin is refused.
   */
  memory?: string
  /**
   * The NFS server this node boots from (one `server` of `netboot.nfs`), when it lists several;
   * left out, pibake chooses one (the least loaded) and keeps it.
   */
  nfs?: string
}

export interface RecipeInput {
  /** Name of this image; names the published directories (`[a-z0-9][a-z0-9-]*`, at most 63 characters). */
  name: string
  /** The image to start from. */
  image: ImageInput
  /**
   * Overlay folders applied in order, relative to the recipe file. Each may hold `rootfs/` (copied
   * onto `/`) and `bootfs/` (copied onto the boot partition); modes are kept, owners become root.
   */
  overlays?: string[]
  /**
   * Changes made inside the image, in order, after the overlays: packages to install or remove,
   * shell lines and scripts to run, files to copy or write, systemd units to enable, disable or
   * mask, users and groups. They run under qemu-user emulation as root in the image's root; nothing
   * they need to get there (mounts, DNS, a policy that keeps services from starting) stays in it.
   */
  customize?: CustomizeStepInput[]
  /** Network boot settings. */
  netboot: NetbootInput
  /** The machines that boot this image (at least one). */
  nodes: NodeInput[]
  /**
   * Where to publish, one or more targets (default: one local target, `nfs` in `out/publish/nfs`,
   * `tftp` in `out/publish/tftp`, the configuration in `out/publish`; `out` is the build's outDir).
   */
  publish?: PublishTargetInput[]
  /**
   * The build's SOURCE_DATE_EPOCH: the modification time every file the build adds or changes gets
   * (none newer), so that the same recipe built twice gives the same tree, times included. Seconds
   * since 1970 (`1732017600`) or a UTC date (`'2024-11-19'`, `'2024-11-19T12:00:00Z'`). Default: the
   * `SOURCE_DATE_EPOCH` environment variable when set, else the image's own date (the newest
   * modification time of its `/`, the folders in it and `/var/lib/dpkg/status`).
   */
  sourceDateEpoch?: number | string
}

/* ---- Resolved, validated form ---- */

export type Destination =
  | { readonly kind: 'local'; readonly path: string }
  | {
      readonly kind: 'ssh'
      readonly user: string
      readonly host: string
      readonly port: number
      readonly path: string
      readonly identity?: string
      /** Absolute path of the known_hosts file to check the host key against. */
      readonly knownHosts: string
    }

/** Builds kept on a target unless its `keep` says otherwise. */
export const DEFAULT_KEEP = { builds: 3, days: 7 } as const

export interface PublishTarget {
  /** The (first) NFS server's destination. */
  readonly nfs: Destination
  /** With several NFS servers (`netboot.nfs` a list): one destination per server, in its order; `nfs` is the first. */
  readonly nfsTier?: readonly Destination[]
  readonly tftp: Destination
  readonly config: Destination
  /**
   * Where a site kept its configuration before `config` defaulted to a folder outside the TFTP
   * root: the `tftp` destination, when `config` is left out. Publishing refuses to start a second
   * site beside one found there (see `src/site/former-config.ts`).
   */
  readonly formerConfig?: Destination
  readonly keep: { readonly builds: number; readonly days: number }
  readonly reload: { readonly dnsmasq?: string; readonly exports?: string; readonly ganesha?: string; readonly hosts?: string }
  /** The SSH key that signs each build's record (absolute path), when the target signs. */
  readonly sign?: { readonly key: string }
}

export interface Node {
  readonly hostname: string
  /** Lower case, colon separated. */
  readonly mac: string
  /** Lower case hex, when given. */
  readonly serial?: string
  /** The node's fixed address; absent only in proxy mode. */
  readonly ip?: string
  readonly model: NetbootModel
  readonly cmdline: readonly string[]
  readonly config: readonly string[]
  /** The board's memory in bytes, when the recipe states it. */
  readonly memory?: number
  /** The NFS server the node is pinned to (`nodes[].nfs`), when `netboot.nfs` lists several. */
  readonly nfs?: string
}

export type Dhcp =
  | { readonly mode: 'proxy'; readonly network: string }
  | {
      readonly mode: 'range'
      readonly start: string
      readonly end: string
      readonly netmask: string
      readonly router?: string
      readonly dns: readonly string[]
    }

export interface Recipe {
  /** Absolute path of the recipe file. */
  readonly file: string
  readonly name: string
  readonly image: { readonly path: string; readonly sha256: string; readonly arch?: Arch; readonly boot?: { readonly path: string; readonly sha256: string } }
  /** Absolute overlay folders, in order. */
  readonly overlays: readonly string[]
  /** The customisation steps, in order, each knowing where in the recipe it was written. */
  readonly customize: readonly CustomizeStep[]
  readonly netboot: {
    readonly server: string
    readonly dhcp: Dhcp
    /** The NFS server; with several, the first. */
    readonly nfs: { readonly server: string; readonly path: string }
    /** Every NFS server when `netboot.nfs` lists several (two or more, `nfs` first); absent with one. */
    readonly nfsTier?: readonly { readonly server: string; readonly path: string }[]
    readonly shared?: { readonly path: string; readonly mount: string; readonly accounts: boolean; readonly rootSquash: boolean }
    readonly interface?: string
    /** The SSH host key types of every node, in the order given. */
    readonly hostKeys: readonly HostKeyType[]
    /** dnsmasq's log file on the boot server. */
    readonly log?: string
    /** Folders each node keeps on the NFS server (`netboot.persist`); absent when none. */
    readonly persist?: readonly string[]
    /** The root mode, when it is not the default `'nfs'` (a recipe without it resolves as before). */
    readonly root?: Exclude<RootMode, 'nfs'>
    /** The boot files are published shrunk (`netboot.shrinkBoot`); absent when not (a recipe without it resolves as before). */
    readonly shrinkBoot?: true
    /** The boot server's link in Mbit/s (`netboot.bootLinkMbps`); absent when not set (1 GbE assumed). */
    readonly bootLinkMbps?: number
    /** The boot server's second address, for the Pi 3s' own dnsmasq (`netboot.pi3Server`); absent when not set. */
    readonly pi3Server?: string
  }
  readonly nodes: readonly Node[]
  readonly publish: readonly PublishTarget[]
  /** SOURCE_DATE_EPOCH in seconds, when the recipe sets it. */
  readonly sourceDateEpoch?: number
}
