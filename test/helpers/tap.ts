/** A QEMU guest on a test LAN through a tap device, as `pibake try` boots one (src/try/tap.ts). */
export * from '../../src/try/tap.ts'
