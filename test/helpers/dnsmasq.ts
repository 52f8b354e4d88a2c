/** A real dnsmasq in a test namespace, as `pibake try` runs the site's (src/try/dnsmasq.ts). */
export { startDnsmasq, type Dnsmasq } from '../../src/try/dnsmasq.ts'
