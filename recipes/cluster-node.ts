/**
 * The built-in demo: a small cluster of Raspberry Pis booting one shared image from the network.
 * Build the demo image first (`pibake demo-image`, or scripts/demo.sh does both).
 */
import { defineRecipe } from 'pibake'

export default defineRecipe({
  name: 'cluster-node',
  image: {
    path: '../out/demo/raspios-demo-arm64.img.xz',
    // A sha256sum-style file beside the image; 64 hex digits work too.
    sha256: '../out/demo/raspios-demo-arm64.img.xz.sha256',
    arch: 'arm64',
  },
  overlays: ['../overlays/cluster-node'],
  netboot: {
    // The server running dnsmasq (DHCP + TFTP); here it is the DHCP server of the cluster network.
    server: '10.42.0.1',
    dhcp: { mode: 'range', start: '10.42.0.100', end: '10.42.0.199', netmask: '255.255.255.0', router: '10.42.0.1' },
    // The NFS server that serves the root filesystem (by default the path is where publish puts it).
    nfs: { server: '10.42.0.1' },
  },
  nodes: [
    { hostname: 'node1', mac: 'dc:a6:32:00:00:01', ip: '10.42.0.11', model: '4B', serial: '1000000012345601' },
    { hostname: 'node2', mac: 'dc:a6:32:00:00:02', ip: '10.42.0.12', model: '4B' },
    // The demo image's Debian kernel has no Pi 5 device tree; with Raspberry Pi OS, model: '5' works too.
    { hostname: 'node3', mac: 'd8:3a:dd:00:00:03', ip: '10.42.0.13', model: '400', serial: 'a1b2c3d4' },
    { hostname: 'node4', mac: 'b8:27:eb:00:00:04', ip: '10.42.0.14', model: '3B+' },
  ],
  // Default: local directories under out/publish/ (nfs/, tftp/, and the server configuration).
})
