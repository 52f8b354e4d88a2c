/** A client that asks like a Raspberry Pi's boot ROM, as `pibake try` does (src/try/firmware.ts). */
export { firmwareDhcp as piDhcp, tftpGet } from '../../src/try/firmware.ts'
