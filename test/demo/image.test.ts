/**
 * The demo images the suite's tests build from, each built (or reused) into out/demo and checked
 * (test/demo/image-checks.ts): bookworm for both arches, trixie for arm64. The trixie armhf image,
 * which no other test uses, is checked in the wide tier (image-more.test.ts): from scratch it is
 * 19 min of CI's two cores for an image nothing in the suite boots or builds from.
 */
import { test } from 'uvu'
import { testImages } from './image-checks.ts'

testImages([['bookworm', 'arm64'], ['bookworm', 'armhf'], ['trixie', 'arm64']])

test.run()
