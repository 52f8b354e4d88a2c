/** The tests' private Ethernet segments: the LAN `pibake try` makes (src/try/lan.ts). */
export { Lan as TestLan, withLan, type HostSpec, type Server } from '../../src/try/lan.ts'
