/**
 * `pibake build` of a customised recipe on the trixie armhf demo image (build-trixie-checks.ts),
 * under qemu-arm. Wide tier (test/run.ts WIDE): the suite proves the same on trixie arm64
 * (build-trixie.test.ts) and customised armhf roots on bookworm.
 */
import { test } from 'uvu'
import { testTrixieBuilds } from './build-trixie-checks.ts'

testTrixieBuilds(['armhf'])

test.run()
