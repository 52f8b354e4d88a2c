/**
 * The trixie armhf demo image, built (or reused) into out/demo and checked as the suite checks the
 * others (test/demo/image-checks.ts). Wide tier (test/run.ts WIDE): no test of the suite builds or
 * boots from it, and building it from scratch costs CI 19 min of its two cores.
 */
import { test } from 'uvu'
import { testImages } from './image-checks.ts'

testImages([['trixie', 'armhf']])

test.run()
