/** A Raspberry Pi stand-in under QEMU, as `pibake try` boots one (src/try/qemu.ts). */
export * from '../../src/try/qemu.ts'
