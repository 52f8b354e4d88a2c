/**
 * `pibake build` of a customised recipe on the trixie arm64 demo image (build-trixie-checks.ts).
 * The same on trixie armhf is in the wide tier (build-trixie-armhf.test.ts): the suite builds
 * customised armhf roots on bookworm (build.test.ts) and trixie roots on arm64, and the trixie armhf
 * image costs CI 10–19 min of a core to build from scratch for that one combination.
 */
import { test } from 'uvu'
import { testTrixieBuilds } from './build-trixie-checks.ts'

testTrixieBuilds(['arm64'])

test.run()
